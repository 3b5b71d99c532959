"""End to end: generate CSVs, `backprop train`, `predict`, `evaluate`; errors, exits, Ctrl-C and --resume."""

import csv
import functools
import io
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import backprop as bp
import backprop.tabular
from backprop.cli import _signals as cli_signals
from backprop.cli import main
from backprop.cli import predict as cli_predict
from backprop.cli import train as cli_train
from backprop.cli._signals import TrainMonitor

FAST = ["--epochs", "25", "--hidden", "16", "--lr", "0.01", "--validation", "0.1"]


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def failed(result, code, *fragments):
    """Exit ``code``; for status 1 exactly one line ``error: ...`` on stderr, no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    if code == 1:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        text = lines[0]
    else:
        text = result.output
    for fragment in fragments:
        assert fragment in text, text
    return text


def classification_csv(path, n=300, seed=0, newline="\n", delimiter=",", encoding="utf-8", header=None, missing=()):
    """Two numeric features and a colour; label 'yes' when x1 + x2 (+1 for red) > 0.3."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    label = np.where(x1 + x2 + (colour == "red") > 0.3, "yes", "no")
    names = header or ["x1", "x2", "colour", "label"]
    lines = [delimiter.join(names)]
    for i in range(n):
        first = "" if i in missing else f"{x1[i]:.4f}"
        lines.append(delimiter.join([first, f"{x2[i]:.4f}", colour[i], label[i]]))
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return str(path), label


def regression_csv(path, n=300, seed=1):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = 200.0 + 30 * x1 - 20 * x2 + rng.normal(scale=0.5, size=n)
    lines = ["id,x1,x2,price"] + [f"{i},{x1[i]:.4f},{x2[i]:.4f},{y[i]:.3f}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return str(path), y


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A classifier trained once on a CSV with string labels and a categorical column."""
    folder = tmp_path_factory.mktemp("trained")
    data, labels = classification_csv(folder / "train.csv")
    model = str(folder / "model.safetensors")
    result = ok(run("train", data, *FAST, "--out", model, "--json"))
    return {"folder": folder, "data": data, "labels": labels, "model": model, "json": json.loads(result.stdout)}


# ------------------------------------------------------------------ train, predict, evaluate


def test_train_classification_with_string_labels(trained):
    summary = trained["json"]
    assert summary["task"] == "classification"
    assert summary["classes"] == ["no", "yes"]
    assert summary["loss"] == "binary_crossentropy" and summary["output"] == "sigmoid"
    assert summary["network"] == [5, 16, 1]  # x1, x2, colour one-hot (3)
    assert summary["test"]["rows"] == 60
    assert summary["test"]["accuracy"] > 0.85
    assert os.path.exists(trained["model"])
    _, metadata = bp.load_with_metadata(trained["model"])
    assert metadata["preprocessing"]["features"][2]["categories"] == ["blue", "green", "red"]
    assert metadata["history"]["loss"][-1] < metadata["history"]["loss"][0]
    assert metadata["training"]["options"]["hidden"] == [16]


def test_train_prints_a_summary_and_test_metrics(tmp_path):
    data, _ = classification_csv(tmp_path / "d.csv")
    result = ok(run("train", data, *FAST, "--out", tmp_path / "m.safetensors"))
    out = result.stdout
    assert "300 rows, 3 features (1 one-hot) → 5 inputs; target 'label': 2 classes" in out
    assert "test part (60 rows)" in out and "accuracy" in out and "confusion matrix" in out
    assert "saved     " in out
    assert "one-hot encoded categorical columns: 'colour' (3)" in result.stderr


def test_predict_csv_to_a_file(trained, tmp_path):
    out = tmp_path / "predictions.csv"
    result = ok(run("predict", trained["model"], trained["data"], "-o", out))
    assert result.stdout == ""
    assert "wrote 300 predictions" in result.stderr
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["prediction", "p_no", "p_yes"]
    predicted = np.array([r["prediction"] for r in rows])
    assert (predicted == trained["labels"]).mean() > 0.85
    total = np.array([float(r["p_no"]) + float(r["p_yes"]) for r in rows])
    np.testing.assert_allclose(total, 1.0, atol=1e-5)


def test_predict_jsonl_on_stdout_from_stdin_keeping_a_column(trained):
    text = Path(trained["data"]).read_text()
    text = "row," + text.replace("\n", "\n#,").rstrip("#,")  # a first column to keep
    lines = text.splitlines()
    text = "\n".join([lines[0]] + [f"r{i}," + line.split(",", 1)[1] for i, line in enumerate(lines[1:])]) + "\n"
    result = ok(run("predict", trained["model"], "-", "--format", "jsonl", "--keep", "row", input=text))
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 300
    assert records[0]["row"] == "r0"
    assert records[0]["prediction"] in ("no", "yes")
    assert set(records[0]["probabilities"]) == {"no", "yes"}
    assert ok(run("predict", trained["model"], "-", "--json", input=text)).stdout.count("\n") == 300


def test_evaluate_classification(trained):
    result = ok(run("evaluate", trained["model"], trained["data"], "--json"))
    metrics = json.loads(result.stdout)
    assert metrics["rows"] == 300
    assert metrics["accuracy"] > 0.85
    assert [c["class"] for c in metrics["per_class"]] == ["no", "yes"]
    assert sum(c["support"] for c in metrics["per_class"]) == 300
    matrix = np.array(metrics["confusion_matrix"]["matrix"])
    assert matrix.sum() == 300 and np.trace(matrix) / 300 == pytest.approx(metrics["accuracy"])
    text = ok(run("evaluate", trained["model"], trained["data"])).stdout
    for word in ("accuracy", "precision", "recall", "F1", "support", "confusion matrix"):
        assert word in text


def test_regression_end_to_end(tmp_path):
    data, y = regression_csv(tmp_path / "houses.csv")
    model = tmp_path / "r.safetensors"
    summary = json.loads(
        ok(run("train", data, "--ignore", "id", *FAST, "--epochs", "60", "--out", model, "--json")).stdout
    )
    assert summary["task"] == "regression" and summary["loss"] == "mse" and summary["output"] == "identity"
    assert summary["test"]["r2"] > 0.95
    metrics = json.loads(ok(run("evaluate", model, data, "--json")).stdout)
    assert metrics["r2"] > 0.95 and metrics["rmse"] < 8 and metrics["mae"] < 6
    out = tmp_path / "p.jsonl"
    ok(run("predict", model, data, "-o", out, "--keep", "id"))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    predicted = np.array([r["prediction"] for r in records])
    assert np.abs(predicted - y).mean() < 6  # in the target's own units, not scaled
    assert records[5]["id"] == 5  # a column of numbers, kept as a number


def test_semicolons_bom_crlf_and_unicode_headers(tmp_path):
    data, labels = classification_csv(
        tmp_path / "ü.csv",
        newline="\r\n",
        delimiter=";",
        encoding="utf-8-sig",
        header=["größe", "höhe", "Farbe", "Klasse"],
    )
    model = tmp_path / "m.safetensors"
    summary = json.loads(ok(run("train", data, *FAST, "--out", model, "--json")).stdout)
    assert summary["target"] == "Klasse"
    assert summary["test"]["accuracy"] > 0.8
    inputs = json.loads(ok(run("inspect", model, "--json")).stdout)["extra"]["input_names"]
    assert inputs == ["größe", "höhe", "Farbe=blue", "Farbe=green", "Farbe=red"]
    rows = ok(run("predict", model, data)).stdout.splitlines()
    assert (np.array([r.split(",")[0] for r in rows[1:]]) == labels).mean() > 0.8


def test_latin1_file_trains_with_a_note(tmp_path):
    data, _ = classification_csv(tmp_path / "l.csv", encoding="latin-1", header=["größe", "x2", "colour", "label"])
    result = ok(run("train", data, *FAST, "--epochs", "2", "--out", tmp_path / "m.safetensors"))
    assert "not valid UTF-8; read it as Latin-1" in result.stderr


def test_target_features_and_task_options(tmp_path):
    data, _ = classification_csv(tmp_path / "d.csv")
    summary = json.loads(
        ok(
            run("train", data, "--target", "x1", "--features", "x2,colour", *FAST, "--out", tmp_path / "m", "--json")
        ).stdout
    )
    assert summary["task"] == "regression" and summary["target"] == "x1"
    assert summary["network"][0] == 4
    summary = json.loads(
        ok(
            run("train", data, "--target", "3", "--loss", "crossentropy", *FAST, "--out", tmp_path / "m2", "--json")
        ).stdout
    )
    assert summary["output"] == "softmax" and summary["network"][-1] == 2


def test_builtin_dataset_and_npz(tmp_path):
    summary = json.loads(ok(run("train", "iris", *FAST, "--out", tmp_path / "iris.safetensors", "--json")).stdout)
    assert summary["classes"] == ["setosa", "versicolor", "virginica"]
    assert summary["test"]["accuracy"] > 0.8
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    np.savez(tmp_path / "d.npz", X=X, y=(X[:, 0] > 0).astype(np.int64))
    summary = json.loads(ok(run("train", tmp_path / "d.npz", *FAST, "--out", tmp_path / "n", "--json")).stdout)
    assert summary["classes"] == [0, 1] and summary["test"]["accuracy"] > 0.85


def test_options_reach_the_network(tmp_path):
    data, _ = classification_csv(tmp_path / "d.csv", n=120)
    model = tmp_path / "m.safetensors"
    args = ["--hidden", "8,4", "--activation", "tanh", "--dropout", "0.2", "--l2", "0.001", "--optimizer", "sgd"]
    args += ["--schedule", "cosine", "--epochs", "6", "--batch-size", "16", "--early-stopping", "2", "--seed", "3"]
    ok(run("train", data, *args, "--no-standardize", "--test-size", "0", "--validation", "0.2", "--out", model))
    net, metadata = bp.load_with_metadata(model)
    assert [type(layer).__name__ for layer in net.layers] == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert net.layers[0].activation.name == "tanh"
    assert metadata["preprocessing"]["standardize"] is False
    assert metadata["preprocessing"]["features"][0]["scale"] == 1.0
    assert metadata["training"]["test_rows"] == 0 and metadata["metrics"]["test"] is None


# ------------------------------------------------------------------ missing values


def test_missing_values_are_an_error_unless_imputed(tmp_path):
    data, _ = classification_csv(tmp_path / "m.csv", missing=(3, 17, 40))
    failed(
        run("train", data, *FAST, "--out", tmp_path / "x"),
        1,
        "m.csv: column 'x1' has 3 missing values (rows 3, 17, 40); fill them in, or pass --impute mean|median|drop",
    )
    assert not (tmp_path / "x").exists()
    ok(run("train", data, *FAST, "--impute", "mean", "--out", tmp_path / "mean.safetensors"))
    result = ok(run("train", data, *FAST, "--impute", "drop", "--out", tmp_path / "drop.safetensors", "--json"))
    assert json.loads(result.stdout)["data"]["dropped rows"] == 3
    # The mean-imputed model fills missing cells of new data; the dropping one cannot.
    ok(run("predict", tmp_path / "mean.safetensors", data))
    failed(run("predict", tmp_path / "drop.safetensors", data), 1, "column 'x1' has 3 missing values", "--impute")


# ------------------------------------------------------------------ errors and exits


def test_header_only_and_empty_files(tmp_path):
    (tmp_path / "h.csv").write_text("a,b,label\n")
    failed(run("train", tmp_path / "h.csv"), 1, "h.csv has a header ('a', 'b', 'label') but no data rows")
    (tmp_path / "e.csv").write_text("")
    failed(run("train", tmp_path / "e.csv"), 1, "e.csv is empty")


def test_usage_errors_exit_2(tmp_path):
    data, _ = classification_csv(tmp_path / "d.csv", n=60)
    failed(run("train", tmp_path / "missing.csv"), 2, "is neither a file, a folder nor a built-in dataset")
    failed(run("train", data, "--hidden", "8,x"), 2, "comma-separated widths")
    failed(run("train", data, "--activation", "sigmoidd"), 2, "Invalid value for '--activation'")
    failed(run("train", data, "--epochs", "0"), 2, "--epochs")
    failed(run("train", data, "--loss", "binary_crossentropy", "--target", "colour"), 2, "is for two classes")
    failed(run("train", data, "--loss", "crossentropy", "--output", "sigmoid"), 2, "needs --output softmax")
    failed(run("predict", tmp_path / "nope.safetensors", data), 2, "does not exist")


def test_data_errors_exit_1_naming_the_column(tmp_path):
    data, _ = classification_csv(tmp_path / "d.csv", n=60)
    failed(run("train", data, "--target", "price"), 1, "d.csv: no column 'price'; the columns are 'x1', 'x2'")
    failed(run("train", data, "--task", "regression"), 1, "column 'label'", "is not a number")
    (tmp_path / "r.csv").write_text("a,b\n1,2\n3\n")
    failed(run("train", tmp_path / "r.csv"), 1, "r.csv: row 1 (line 3) has 1 field, the header has 2")


def test_model_errors_exit_1(trained, tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(Path(trained["model"]).read_bytes()[:100])
    failed(run("predict", broken, trained["data"]), 1, "broken.safetensors")
    plain = tmp_path / "plain.safetensors"
    bp.save(bp.Network([bp.Dense(1, "sigmoid")], inputs=5, seed=0), plain)
    failed(run("evaluate", plain, trained["data"]), 1, "no 'preprocessing' metadata", "backprop train")
    net, metadata = bp.load_with_metadata(trained["model"])
    metadata["preprocessing"]["features"][0]["scale"] = 0
    tampered = tmp_path / "tampered.safetensors"
    bp.save(net, tampered, metadata=metadata)
    failed(run("predict", tampered, trained["data"]), 1, "metadata field 'preprocessing.features[0].scale'")
    other, _ = regression_csv(tmp_path / "other.csv")
    failed(run("predict", trained["model"], other), 1, "no column 'colour'")
    failed(run("evaluate", trained["model"], other), 1, "no target column 'label'")


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "e.csv").write_text("")
    result = run("train", tmp_path / "e.csv", "--debug")
    assert result.exit_code == 1
    assert isinstance(result.exception, bp.DataError)
    result = run("--debug", "train", tmp_path / "e.csv")
    assert isinstance(result.exception, bp.DataError)


def test_predict_never_leaves_a_partial_file(trained, tmp_path, monkeypatch):
    # Read in chunks of 50 rows; row 120 is bad, so the error comes after the first chunks were predicted.
    monkeypatch.setattr(cli_predict, "iter_tables", functools.partial(cli_predict.iter_tables, chunk_rows=50))
    lines = Path(trained["data"]).read_text().splitlines()
    lines[121] = "oops," + lines[121].split(",", 1)[1]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    out.write_text("previous\n")
    failed(
        run("predict", trained["model"], bad, "-o", out), 1, "column 'x1', row 120 (line 122): 'oops' is not a number"
    )
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "out.csv"]  # no temporary file left


def test_report_is_self_contained_html(tmp_path):
    pytest.importorskip("matplotlib")
    data, _ = classification_csv(tmp_path / "d.csv", n=150)
    report = tmp_path / "out" / "report.html"
    result = ok(run("train", data, *FAST, "--epochs", "5", "--out", tmp_path / "m.safetensors", "--report", report))
    assert f"report    {report}" in result.stdout
    html = report.read_text()
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert html.count("<img") >= 3 and "data:image/" in html  # pictures embedded, not linked
    assert "http://" not in html and "https://" not in html
    assert "output error term" in html and "hidden error term" in html  # the explain trace of one sample


# ------------------------------------------------------------------ Ctrl-C and --resume


def interrupt_at(monkeypatch, epoch, batch=0, hard=False):
    """Send SIGINT (or raise KeyboardInterrupt: the second Ctrl-C) after ``batch`` of ``epoch`` (from 0)."""
    original = TrainMonitor.on_batch_end

    def on_batch_end(self, b, logs):
        stop = original(self, b, logs)
        if self._state.epoch + 1 == epoch and b == batch:
            if hard:
                raise KeyboardInterrupt
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler  # ours is installed
            signal.raise_signal(signal.SIGINT)  # in this thread: the handler has run when it returns
        return stop or self.stop_requested

    monkeypatch.setattr(TrainMonitor, "on_batch_end", on_batch_end)


def test_ctrl_c_saves_a_checkpoint_and_resume_finishes_bit_for_bit(tmp_path, monkeypatch):
    data, _ = classification_csv(tmp_path / "d.csv", n=200)
    args = ["--epochs", "6", "--hidden", "8", "--early-stopping", "10", "--seed", "4"]
    ok(run("train", data, *args, "--out", tmp_path / "full.safetensors"))

    with monkeypatch.context() as patch:
        interrupt_at(patch, epoch=2, batch=1)
        result = run("train", data, *args, "--out", tmp_path / "model.safetensors")
    assert result.exit_code == 130, result.output
    checkpoint = tmp_path / "model.ckpt"
    assert checkpoint.exists() and not (tmp_path / "model.safetensors").exists()
    assert "Ctrl-C: stopped after batch 2 of epoch 3" in result.stderr
    assert "interrupted in epoch 3 of 6; checkpoint saved to" in result.stderr
    command = result.stderr.strip().splitlines()[-1]
    assert command.startswith("resume with: backprop train ") and f"--resume {checkpoint}" in command

    info = json.loads(ok(run("inspect", checkpoint, "--json")).stdout)
    assert info["format"] == "backprop-checkpoint" and info["state"]["epoch"] == 1  # the last finished epoch

    # Resume with only DATA and --resume: the options come from the checkpoint.
    result = ok(run("train", data, "--resume", checkpoint, "--json"))
    assert json.loads(result.stdout)["epochs_run"] == 6
    resumed, full = bp.load(tmp_path / "model.safetensors"), bp.load(tmp_path / "full.safetensors")
    np.testing.assert_array_equal(resumed.parameters, full.parameters)


def test_a_second_ctrl_c_aborts_without_a_checkpoint(tmp_path, monkeypatch):
    data, _ = classification_csv(tmp_path / "d.csv", n=100)
    interrupt_at(monkeypatch, epoch=1, hard=True)
    result = run("train", data, "--epochs", "3", "--hidden", "4", "--out", tmp_path / "m.safetensors")
    assert result.exit_code == 130
    assert "stopped without a checkpoint" in result.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "d.csv"]


def test_resume_rejects_other_options_and_model_files(tmp_path, monkeypatch):
    data, _ = classification_csv(tmp_path / "d.csv", n=100)
    with monkeypatch.context() as patch:
        interrupt_at(patch, epoch=1)
        assert (
            run("train", data, "--epochs", "3", "--hidden", "4", "--out", tmp_path / "m.safetensors").exit_code == 130
        )
    failed(run("train", data, "--resume", tmp_path / "m.ckpt", "--hidden", "8"), 2, "--hidden [8] differs", "[4]")
    ok(run("train", data, "--resume", tmp_path / "m.ckpt", "--epochs", "4"))  # more epochs is fine
    assert len(bp.load_with_metadata(tmp_path / "m.safetensors")[1]["history"]["loss"]) == 4
    failed(run("train", data, "--resume", tmp_path / "m.safetensors"), 2, "is a model file, not a training checkpoint")


def test_progress_bar_is_off_when_stderr_is_not_a_terminal(tmp_path):
    data, _ = classification_csv(tmp_path / "d.csv", n=100)
    result = ok(run("train", data, "--epochs", "2", "--hidden", "4", "--out", tmp_path / "m", "--quiet"))
    assert result.stderr == ""


def test_the_progress_bar_draws_on_stderr(tmp_path, monkeypatch):
    data, _ = classification_csv(tmp_path / "d.csv", n=100)
    monkeypatch.setattr(cli_train, "progress_wanted", lambda quiet: not quiet)
    buffer = io.StringIO()
    monkeypatch.setattr(
        cli_signals, "Console", functools.partial(cli_signals.Console, file=buffer, force_terminal=True, width=100)
    )
    ok(run("train", data, "--epochs", "2", "--hidden", "4", "--out", tmp_path / "m"))
    assert "epochs" in buffer.getvalue() and "loss" in buffer.getvalue()


def test_parquet_train_predict_evaluate(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    data, _ = classification_csv(tmp_path / "d.csv", n=200)
    frame = bp.tabular.read_table(data)
    columns = {name: frame.columns[i].tolist() for i, name in enumerate(frame.names)}
    columns["x1"] = [float(v) for v in columns["x1"]]
    columns["x2"] = [float(v) for v in columns["x2"]]
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table(columns), path)
    model = tmp_path / "m.safetensors"
    assert json.loads(ok(run("train", path, *FAST, "--out", model, "--json")).stdout)["test"]["accuracy"] > 0.8
    rows = ok(run("predict", model, path)).stdout.splitlines()
    assert len(rows) == 201
    assert json.loads(ok(run("evaluate", model, path, "--json")).stdout)["accuracy"] > 0.8


def test_predict_on_a_header_only_file_writes_the_header(trained, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("x1,x2,colour\n")
    assert ok(run("predict", trained["model"], empty)).stdout == "prediction,p_no,p_yes\n"
    failed(run("evaluate", trained["model"], empty), 1, "has no rows to evaluate")


def test_threads_hold_the_blas_for_the_command_and_reach_fit(tmp_path):
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas():
        return {lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"}

    before = blas()
    data, _ = classification_csv(tmp_path / "d.csv", n=120)
    args = ["train", data, *FAST, "--epochs", "1", "--json"]
    # 32 rows × 5 inputs × 16 units: far below 2M multiply-adds, the rule's one thread.
    assert json.loads(ok(run(*args, "--out", tmp_path / "a.safetensors")).stdout)["threads"] == 1
    given = json.loads(ok(run(*args, "--out", tmp_path / "b.safetensors", "--threads", "2")).stdout)
    assert given["threads"] == 2 and blas() == before  # held for the command, then given back
    failed(run(*args, "--threads", "0"), 2, "--threads")
    # predict holds one thread unless told otherwise; the same predictions either way here.
    one = ok(run("predict", tmp_path / "b.safetensors", data)).stdout
    assert ok(run("predict", tmp_path / "b.safetensors", data, "--threads", "2")).stdout == one
    assert blas() == before
