"""Good defaults for real tables (issue 19): early stopping on with a validation split, class weights by label,
and a note when a class is never predicted."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import backprop as bp
from backprop.callbacks import ModelCheckpoint
from backprop.cli import main
from backprop.cli._tables import never_predicted, never_predicted_notes
from backprop.dataframes import frame_of
from backprop.io import load_checkpoint
from backprop.pipeline_fit import class_weight_indices, default_patience


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def noisy_table(n=150, width=12, seed=0):
    """Twelve features, the label a noisy sign of the first: a 64-64 network at lr 0.01 overfits in a few epochs."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, width))
    y = np.where(X[:, 0] + rng.normal(scale=1.5, size=n) > 0, "a", "b")
    return {**{f"x{j}": X[:, j].round(4).tolist() for j in range(width)}, "y": y.tolist()}


def weather_table(n=400, seed=0):
    """Sun and rain half and half, snow 8% of the rows and close to rain: unweighted, snow is never predicted."""
    rng = np.random.default_rng(seed)
    label = np.where(rng.random(n) < 0.08, "snow", np.where(rng.random(n) < 0.5, "sun", "rain"))
    x1 = rng.normal(size=n) + np.where(label == "snow", 1.0, 0.0) + np.where(label == "sun", -1.5, 0.0)
    x2 = rng.normal(size=n) + np.where(label == "snow", 1.0, 0.0)
    return {"x1": x1.round(4).tolist(), "x2": x2.round(4).tolist(), "weather": label.tolist()}


def write_csv(path, table):
    names = list(table)
    lines = [",".join(names)] + [",".join(str(v) for v in row) for row in zip(*table.values(), strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


OVERFIT = ["--hidden", "64,64", "--lr", "0.01", "--epochs", "60", "--quiet"]


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """``train`` without -o writes model.safetensors where it runs: there, not in the checkout."""
    monkeypatch.chdir(tmp_path)


# --------------------------------------------------------------------------- early stopping


def test_default_patience_is_ten_or_a_tenth_of_the_epochs() -> None:
    assert [default_patience(e) for e in (1, 50, 100, 200, 1000)] == [10, 10, 10, 20, 100]


def test_early_stopping_is_on_by_default_and_keeps_the_best_epoch(tmp_path) -> None:
    best = tmp_path / "best.ckpt"
    model = bp.TabularModel(hidden=[64, 64], lr=0.01, epochs=60, seed=0)
    model.fit(noisy_table(), target="y", callbacks=[ModelCheckpoint(best, save_best_only=True)])
    record = model.training_["early_stopping"]
    val_loss = model.history_.history["val_loss"]
    assert model.stopped_early_ and len(model.history_) < 60
    # The kept epoch is the lowest validation loss; training went on for patience + 1 epochs after it.
    assert record["kept_epoch"] == int(np.argmin(val_loss)) + 1 and record["best"] == min(val_loss)
    assert record["stopped_epoch"] == len(val_loss) == record["kept_epoch"] + 11
    assert record | {"kept_epoch": 0, "best": 0, "stopped_epoch": 0, "epochs_run": 0} == {
        "monitor": "val_loss",
        "patience": 10,
        "default": True,
        "kept_epoch": 0,
        "best": 0,
        "epochs_run": 0,
        "epochs": 60,
        "stopped_epoch": 0,
        "restored": True,
    }
    # The model holds the best epoch's parameters, bit for bit: those the best-only checkpoint saved.
    saved, _state = load_checkpoint(best)
    assert np.array_equal(model.network_.parameters, saved.parameters)
    path = tmp_path / "m.safetensors"
    model.save(path)
    again = bp.TabularModel.load(path)
    assert again.training_["early_stopping"] == record and again.early_stopping == "auto"
    inputs = again.preprocessor_.transform(frame_of(noisy_table(n=40, seed=1)))
    assert np.array_equal(again.network_.parameters, saved.parameters)
    assert np.array_equal(again.network_.predict(inputs), saved.predict(inputs))


def test_without_validation_or_with_it_off_every_epoch_is_run() -> None:
    for options in ({"validation": 0.0}, {"early_stopping": None}):
        model = bp.TabularModel(hidden=[64, 64], lr=0.01, epochs=30, seed=0, **options).fit(noisy_table(), target="y")
        assert len(model.history_) == 30 and not model.stopped_early_
        assert model.training_["early_stopping"] is None


def test_early_stopping_that_keeps_the_last_epoch_changes_no_bit() -> None:
    """On a table that does not overfit in 30 epochs the default keeps the last epoch: the bits of no early stopping."""
    table = weather_table()
    off = bp.TabularModel(hidden=[16], epochs=30, seed=0, early_stopping=None).fit(table, target="weather")
    auto = bp.TabularModel(hidden=[16], epochs=30, seed=0).fit(table, target="weather")
    record = auto.training_["early_stopping"]
    assert (record["kept_epoch"], record["stopped_epoch"], record["restored"]) == (30, None, False)
    assert np.array_equal(off.network_.parameters, auto.network_.parameters)
    assert off.history_.history["val_loss"] == auto.history_.history["val_loss"]


def test_train_says_which_epoch_was_kept(tmp_path) -> None:
    data = write_csv(tmp_path / "noisy.csv", noisy_table())
    out = tmp_path / "m.safetensors"
    result = ok(run("train", data, *OVERFIT[:-1], "-o", out))
    record = bp.TabularModel.load(out).training_["early_stopping"]
    waited = record["stopped_epoch"] - record["kept_epoch"]
    assert waited == 11
    expected = (
        f"kept epoch {record['kept_epoch']} of 60: best val_loss {record['best']:.4f}; "
        "stopped after 11 epochs without improvement (patience 10)"
    )
    assert expected in result.output
    document = json.loads(ok(run("train", data, *OVERFIT, "--json", "-o", out)).output)
    assert document["early_stopping"] == record and document["stopped_early"] is True
    assert document["epochs_run"] == record["stopped_epoch"]


def test_no_early_stopping_runs_every_epoch(tmp_path) -> None:
    data = write_csv(tmp_path / "noisy.csv", noisy_table())
    document = json.loads(ok(run("train", data, *OVERFIT, "--no-early-stopping", "--json")).output)
    assert document["epochs_run"] == 60 and document["early_stopping"] is None and not document["stopped_early"]
    document = json.loads(ok(run("train", data, *OVERFIT, "--validation", "0", "--json")).output)
    assert document["epochs_run"] == 60 and document["early_stopping"] is None
    assert "kept epoch" not in ok(run("train", data, *OVERFIT[:-1], "--no-early-stopping")).output


def test_early_stopping_n_sets_the_patience(tmp_path) -> None:
    data = write_csv(tmp_path / "noisy.csv", noisy_table())
    record = json.loads(ok(run("train", data, *OVERFIT, "--early-stopping", "3", "--json")).output)["early_stopping"]
    assert record["patience"] == 3 and record["default"] is False
    assert record["stopped_epoch"] == record["kept_epoch"] + 4


def test_early_stopping_n_and_no_early_stopping_contradict(tmp_path) -> None:
    data = write_csv(tmp_path / "noisy.csv", noisy_table())
    result = run("train", data, "--early-stopping", "3", "--no-early-stopping")
    assert result.exit_code == 2 and "contradict" in result.output


def test_tabular_model_refuses_a_bad_early_stopping() -> None:
    with pytest.raises(bp.BackpropError, match=r"early_stopping must be 'auto', None or a patience >= 0"):
        bp.TabularModel(early_stopping="always").fit(noisy_table(), target="y")
    with pytest.raises(bp.BackpropError, match=r"early_stopping must be a non-negative integer, got early_stopping=-1"):
        bp.TabularModel(early_stopping=-1).fit(noisy_table(), target="y")


# --------------------------------------------------------------------------- class weights


def test_class_weights_by_label_become_class_indices() -> None:
    classes = ["rain", "snow", "sun"]
    assert class_weight_indices({"snow": 5, "sun": 2}, "classification", classes) == {1: 5.0, 2: 2.0}
    assert class_weight_indices("balanced", "classification", classes) == "balanced"
    assert class_weight_indices({"1": 3.0}, "classification", [0, 1]) == {1: 3.0}  # integer labels as typed
    # Numbers and truths as a CSV spells them: 1.0 or 1 for the class 1, 2.50 for 2.5, true for True.
    assert class_weight_indices({"1.0": 2, "2.50": 3}, "classification", [1, 2.5]) == {0: 2.0, 1: 3.0}
    assert class_weight_indices({1.0: 2}, "classification", [0, 1]) == {1: 2.0}
    assert class_weight_indices({"true": 4, "False": 1}, "classification", [False, True]) == {1: 4.0, 0: 1.0}
    with pytest.raises(bp.BackpropError, match=r"class '1' is given twice"):
        class_weight_indices({"1": 2, "1.0": 3}, "classification", [0, 1])
    with pytest.raises(bp.BackpropError, match=r"no class 'hail'; the classes are 'rain', 'snow', 'sun'"):
        class_weight_indices({"hail": 2}, "classification", classes)
    with pytest.raises(bp.BackpropError, match=r"class_weight\['snow'\] must be a non-negative number, got .*=-1"):
        class_weight_indices({"snow": -1}, "classification", classes)
    with pytest.raises(bp.BackpropError, match=r"class_weight must be None, 'balanced' or a dict"):
        bp.TabularModel(class_weight="heavy").fit(weather_table(n=40), target="weather")
    with pytest.raises(bp.BackpropError, match=r"class_weight is for classes"):
        class_weight_indices("balanced", "regression", None)


def test_balanced_class_weight_predicts_the_rare_class(tmp_path) -> None:
    data = write_csv(tmp_path / "weather.csv", weather_table())
    common = ["--hidden", "16", "--epochs", "30", "--json", "--quiet"]
    plain = json.loads(ok(run("train", data, *common, "-o", tmp_path / "a.safetensors")).output)
    out = tmp_path / "b.safetensors"
    balanced = json.loads(ok(run("train", data, *common, "--class-weight", "balanced", "-o", out)).output)
    recall = {
        name: {row["class"]: row["recall"] for row in d["test"]["per_class"]}
        for name, d in [("plain", plain), ("balanced", balanced)]
    }
    assert recall["plain"]["snow"] == 0.0 and plain["never_predicted"] == ["snow"]
    assert recall["balanced"]["snow"] > 0.5 and balanced["never_predicted"] == []
    assert plain["test"]["confusion_matrix"] != balanced["test"]["confusion_matrix"]
    assert bp.TabularModel.load(out).training_["class_weight"] == "balanced"


def test_class_weight_by_label_is_stored(tmp_path) -> None:
    data = write_csv(tmp_path / "weather.csv", weather_table())
    out = tmp_path / "m.safetensors"
    ok(run("train", data, "--hidden", "16", "--epochs", "5", "--class-weight", "snow=4, sun=0.5", "-q", "-o", out))
    model = bp.TabularModel.load(out)
    assert model.training_["class_weight"] == {"snow": 4.0, "sun": 0.5}
    assert model.class_weight == {"snow": 4.0, "sun": 0.5}


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("snow", "expected balanced, or LABEL=WEIGHT pairs"),
        ("snow=-1", "got 'snow=-1'"),
        ("snow=lots", "got 'snow=lots'"),
        ("=2", "got '=2'"),
        ("snow=inf", "got 'snow=inf'"),
        ("snow=2,snow=3", "the class 'snow' is given twice"),
    ],
)
def test_a_malformed_class_weight_is_a_usage_error(tmp_path, spec, fragment) -> None:
    data = write_csv(tmp_path / "weather.csv", weather_table(n=40))
    result = run("train", data, "--class-weight", spec)
    assert result.exit_code == 2 and fragment in result.output and "--class-weight" in result.output


def test_an_unknown_class_names_the_known_ones(tmp_path) -> None:
    data = write_csv(tmp_path / "weather.csv", weather_table(n=60))
    result = run("train", data, "--epochs", "1", "--class-weight", "hail=2", "-o", tmp_path / "m.safetensors")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "error: class_weight: no class 'hail'; the classes are 'rain', 'snow', 'sun'" in result.stderr


def test_class_weight_on_numbers_is_an_error(tmp_path) -> None:
    rng = np.random.default_rng(0)
    data = write_csv(
        tmp_path / "n.csv", {"x": rng.normal(size=40).round(3).tolist(), "y": rng.normal(size=40).round(3).tolist()}
    )
    result = run("train", data, "--epochs", "1", "--class-weight", "balanced", "-o", tmp_path / "m.safetensors")
    assert result.exit_code == 1 and "class_weight is for classes" in result.stderr


def test_class_weight_is_refused_with_a_scheduler(tmp_path) -> None:
    data = write_csv(tmp_path / "weather.csv", weather_table(n=40))
    result = run("train", data, "--class-weight", "balanced", "--scheduler", "local:1")
    assert result.exit_code == 2 and "--class-weight is not available with --scheduler" in result.output


# --------------------------------------------------------------------------- never predicted


def test_the_summary_notes_a_class_never_predicted(tmp_path) -> None:
    data = write_csv(tmp_path / "weather.csv", weather_table())
    output = ok(run("train", data, "--hidden", "16", "--epochs", "30", "-o", tmp_path / "m.safetensors")).output
    assert "note: class 'snow' (6 test rows) was never predicted; try --class-weight balanced" in output


def test_never_predicted_reads_the_confusion_matrix() -> None:
    metrics = {
        "confusion_matrix": {
            "labels": ["a", "b", "c", "d"],
            "matrix": [[5, 0, 0, 0], [3, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]],
        }
    }
    # b (3 rows) and c (1 row) were never predicted; d has no rows: nothing to say about it.
    assert never_predicted(metrics) == [("b", 3), ("c", 1)]
    assert never_predicted_notes(metrics, "try this") == [
        "note: class 'b' (3 test rows) was never predicted",
        "note: class 'c' (1 test row) was never predicted; try this",
    ]
    assert never_predicted_notes(metrics, "try this", limit=1) == [
        "note: 2 classes were never predicted, among them 'b' (3 test rows); try this"
    ]
    cells = {"confusion_matrix": {"labels": ["a", "b"], "cells": [[0, 0, 2], [1, 0, 1]]}}
    assert never_predicted_notes(cells, None) == ["note: class 'b' (1 test row) was never predicted"]
    assert never_predicted({"r2": 0.5}) == []
