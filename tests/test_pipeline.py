"""backprop.TabularModel: what `backprop train` does, as a Python object; the CLI and it share one file format."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import backprop as bp
from backprop.cli import main

FAST = {"hidden": [16], "epochs": 15, "lr": 0.01, "seed": 0}
FAST_CLI = ["--hidden", "16", "--epochs", "15", "--lr", "0.01", "--seed", "0"]


def penguins(n: int = 150, seed: int = 0) -> dict[str, list]:
    """A small penguins-like table: a text column, a number with a gap-free range, string labels."""
    rng = np.random.default_rng(seed)
    island = rng.choice(["Torgersen", "Biscoe", "Dream"], n)
    bill = rng.normal(42.0, 4.0, n) + (island == "Biscoe") * 6.0
    flipper = rng.normal(200.0, 10.0, n)
    species = np.where(island == "Biscoe", "Gentoo", np.where(bill > 42.0, "Chinstrap", "Adelie"))
    return {
        "island": island.tolist(),
        "bill_length_mm": np.round(bill, 1).tolist(),
        "flipper_length_mm": np.round(flipper, 0).tolist(),
        "species": species.tolist(),
    }


def write_csv(path: Path, table: dict[str, list]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(table)
        writer.writerows(zip(*table.values(), strict=True))
    return path


def cli(*args: object) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def fitted() -> bp.TabularModel:
    return bp.TabularModel(**FAST).fit(penguins(), target="species")


def test_fit_on_a_dict_with_text_and_string_labels_predicts_the_labels(fitted: bp.TabularModel) -> None:
    assert fitted.classes_.tolist() == ["Adelie", "Chinstrap", "Gentoo"]
    assert fitted.feature_names_in_ == ["island", "bill_length_mm", "flipper_length_mm"]
    assert fitted.n_features_in_ == 3
    assert fitted.head_.loss == "crossentropy" and fitted.network_.sizes == [5, 16, 3]
    assert len(fitted.history_) == 15 and fitted.test_metrics_ is not None
    assert fitted.preprocessor_.input_names[:3] == ["island=Biscoe", "island=Dream", "island=Torgersen"]
    rows = {"island": ["Biscoe", "Torgersen"], "bill_length_mm": [49.0, 36.0], "flipper_length_mm": [210, 190]}
    predicted = fitted.predict(rows)
    assert predicted.tolist() == ["Gentoo", "Adelie"]
    proba = fitted.predict_proba(rows)
    assert proba.shape == (2, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert fitted.classes_[proba.argmax(axis=1)].tolist() == predicted.tolist()
    # One row as {column: value}; a list of rows as dicts.
    assert fitted.predict({"island": "Biscoe", "bill_length_mm": 49.0, "flipper_length_mm": 210}).tolist() == ["Gentoo"]
    records = [dict(zip(rows, values, strict=True)) for values in zip(*rows.values(), strict=True)]
    assert fitted.predict(records).tolist() == predicted.tolist()


def test_evaluate_gives_the_metrics_of_backprop_evaluate(fitted: bp.TabularModel, tmp_path: Path) -> None:
    table = penguins(60, seed=1)
    metrics = fitted.evaluate(table)
    assert metrics["rows"] == 60 and 0.0 <= metrics["accuracy"] <= 1.0
    assert [row["class"] for row in metrics["per_class"]] == ["Adelie", "Chinstrap", "Gentoo"]
    model = tmp_path / "m.safetensors"
    fitted.save(model)
    data = write_csv(tmp_path / "test.csv", table)
    document = json.loads(cli("evaluate", model, data, "--json"))
    assert {k: v for k, v in document.items() if k not in ("model", "data")} == metrics


def test_save_and_load_give_identical_predictions(fitted: bp.TabularModel, tmp_path: Path) -> None:
    table = penguins(80, seed=2)
    path = tmp_path / "penguins.safetensors"
    fitted.save(path)
    loaded = bp.TabularModel.load(path)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.predict(table).tolist() == fitted.predict(table).tolist()
    np.testing.assert_array_equal(loaded.predict_proba(table), fitted.predict_proba(table))  # bit for bit
    np.testing.assert_array_equal(loaded.network_.parameters, fitted.network_.parameters)
    assert loaded.history_.history["loss"] == fitted.history_.history["loss"]
    # Saved again, the file says the same.
    again = tmp_path / "again.safetensors"
    loaded.save(again)
    assert bp.load_with_metadata(again)[1] == bp.load_with_metadata(path)[1]


def test_bp_save_writes_a_file_backprop_predict_reads(fitted: bp.TabularModel, tmp_path: Path) -> None:
    table = penguins(40, seed=3)
    path = tmp_path / "bp-save.safetensors"
    bp.save(fitted, path)
    data = write_csv(tmp_path / "new.csv", {k: v for k, v in table.items() if k != "species"})
    lines = cli("predict", path, data).splitlines()
    assert lines[0] == "prediction,p_Adelie,p_Chinstrap,p_Gentoo"
    rows = [line.split(",") for line in lines[1:]]
    assert [row[0] for row in rows] == fitted.predict(table).tolist()
    assert [row[1:] for row in rows] == [[f"{p:.6g}" for p in ps] for ps in fitted.predict_proba(table).tolist()]


def test_the_model_file_of_backprop_train_loads_as_a_tabular_model(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "penguins.csv", penguins())
    model = tmp_path / "trained.safetensors"
    cli("train", data, "--target", "species", *FAST_CLI, "-o", model, "--quiet")
    loaded = bp.TabularModel.load(model)
    assert loaded.hidden == [16] and loaded.epochs == 15 and loaded.training_["data"] == str(data)
    new = penguins(50, seed=4)
    new_csv = write_csv(tmp_path / "new.csv", new)
    lines = cli("predict", model, new_csv).splitlines()[1:]
    assert [line.split(",")[0] for line in lines] == loaded.predict(new).tolist()
    assert [line.split(",")[1:] for line in lines] == [
        [f"{p:.6g}" for p in ps] for ps in loaded.predict_proba(new_csv).tolist()
    ]
    # The same options in Python train the same network, bit for bit: the CLI drives this object.
    fitted = bp.TabularModel(**FAST).fit(data, target="species")
    np.testing.assert_array_equal(fitted.network_.parameters, loaded.network_.parameters)
    assert fitted.test_metrics_ is not None and loaded.test_metrics_ is not None
    assert fitted.test_metrics_["accuracy"] == loaded.test_metrics_["accuracy"]


def test_regression_predicts_numbers_in_the_targets_units(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 10, 200)
    table = {"colour": rng.choice(["red", "blue"], 200).tolist(), "x": x.tolist(), "y": (1000 + 3 * x).tolist()}
    model = bp.TabularModel(hidden=[8], epochs=40, lr=0.01, seed=0).fit(table, target="y")
    assert model.head_.task == "regression"
    predicted = model.predict(table)
    assert predicted.dtype == np.float64 and abs(predicted.mean() - 1015) < 5
    assert model.evaluate(table)["r2"] > 0.8
    with pytest.raises(AttributeError, match="predicts numbers"):
        _ = model.classes_
    with pytest.raises(bp.ParameterError, match="predict_proba is for classifiers"):
        model.predict_proba(table)


def test_pandas_and_arrow_tables_fit_as_the_dict_does(fitted: bp.TabularModel) -> None:
    pd = pytest.importorskip("pandas")
    table = penguins()
    from_pandas = bp.TabularModel(**FAST).fit(pd.DataFrame(table), target="species")
    np.testing.assert_array_equal(from_pandas.network_.parameters, fitted.network_.parameters)
    pa = pytest.importorskip("pyarrow")
    from_arrow = bp.TabularModel(**FAST).fit(pa.table(table), target="species")
    np.testing.assert_array_equal(from_arrow.network_.parameters, fitted.network_.parameters)


def test_errors_name_the_problem(fitted: bp.TabularModel, tmp_path: Path) -> None:
    with pytest.raises(bp.BackpropError, match=r"not fitted yet; call fit\(table, target=...\) first"):
        bp.TabularModel().predict(penguins(5))
    with pytest.raises(bp.BackpropError, match="not fitted yet"):
        bp.save(bp.TabularModel(), tmp_path / "x.safetensors")
    with pytest.raises(bp.ParameterError, match=r"epochs must be a positive integer, got epochs=0"):
        bp.TabularModel(epochs=0).fit(penguins(), target="species")
    with pytest.raises(bp.ParameterError, match=r"optimizer must be one of .*, got optimizer='adamm'"):
        bp.TabularModel(optimizer="adamm").fit(penguins(), target="species")
    with pytest.raises(bp.ParameterError, match="binary_crossentropy is for two classes"):
        bp.TabularModel(loss="binary_crossentropy", **FAST).fit(penguins(), target="species")
    with pytest.raises(bp.BackpropTypeError, match=r"table must be a file path .*, got int"):
        bp.TabularModel().fit(3)
    with pytest.raises(bp.ShapeError, match="same number of rows"):
        bp.TabularModel().fit({"a": [1, 2, 3], "b": [1, 2]})
    with pytest.raises(bp.DataError, match="has no target column 'species'; evaluate needs it"):
        fitted.evaluate({k: v for k, v in penguins(10).items() if k != "species"})
    bare = tmp_path / "bare.safetensors"
    bp.save(bp.Network([bp.Dense(1)], inputs=2, seed=0), bare)
    with pytest.raises(bp.ModelFileError, match="has no 'preprocessing' metadata"):
        bp.TabularModel.load(bare)


def test_a_network_given_a_table_with_text_points_to_the_tabular_model() -> None:
    # Network.fit takes numbers; a table's text columns are TabularModel's to encode.
    net = bp.Network([bp.Dense(1)], inputs=2)
    rows = np.array([["Torgersen", 39.1], ["Biscoe", 46.5]], dtype=object)
    with pytest.raises(bp.BackpropTypeError, match=r"got the str 'Torgersen'; for a table .* backprop\.TabularModel"):
        net.fit(rows, [1.0, 0.0])
    with pytest.raises(
        bp.BackpropTypeError, match=r"dtype <U9; for a table with text columns use backprop\.TabularModel"
    ):
        net.predict([["Torgersen", "Biscoe"]])


def test_auto_hidden_is_twice_the_inputs_within_64_and_256_then_half() -> None:
    from backprop.heads import auto_hidden

    assert auto_hidden(4) == [64, 32]  # 2 · 4 = 8, raised to 64
    assert auto_hidden(32) == [64, 32]  # 2 · 32 = 64
    assert auto_hidden(33) == [66, 33]  # 2 · 33 = 66
    assert auto_hidden(64) == [128, 64]  # digits' 64 pixels
    assert auto_hidden(300) == [256, 128]  # 600, lowered to 256


def test_the_default_width_follows_the_inputs_and_a_given_one_is_kept() -> None:
    rng = np.random.default_rng(0)
    wide = {f"x{j}": rng.normal(size=60).tolist() for j in range(40)}
    wide["y"] = ["a", "b"] * 30
    assert bp.TabularModel(epochs=1).fit(wide, target="y").network_.sizes == [
        40,
        80,
        40,
        1,
    ]  # two classes: one sigmoid output
    assert bp.TabularModel(hidden=[8], epochs=1).fit(wide, target="y").network_.sizes == [40, 8, 1]
    narrow = penguins()  # 4 numbers, a text column of 3 values: 7 inputs
    assert bp.TabularModel(epochs=1).fit(narrow, target="species").network_.sizes[1:3] == [64, 32]
    with pytest.raises(
        bp.ParameterError, match=r"hidden must be a sequence of layer widths or 'auto', got hidden='wide'"
    ):
        bp.TabularModel(hidden="wide").fit(narrow, target="species")


def test_hidden_auto_on_the_command_line(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "p.csv", penguins())
    out = tmp_path / "m.safetensors"
    cli("train", str(data), "--target", "species", "--epochs", "1", "--hidden", "auto", "-o", str(out))
    assert bp.load(out).sizes[1:3] == [64, 32]
    result = CliRunner().invoke(main, ["train", str(data), "--hidden", "wide"])
    assert result.exit_code == 2
    assert "expected comma-separated widths such as 64,32 (or none, or auto), got 'wide'" in result.output


def test_hidden_widths_as_an_array_get_the_librarys_message() -> None:
    # Not compared with "auto" element by element (numpy's "truth value is ambiguous"): refused as before.
    with pytest.raises(bp.ParameterError, match=r"hidden must be a sequence of layer widths or 'auto', got hidden=arr"):
        bp.TabularModel(hidden=np.array([8, 4])).fit(penguins(), target="species")
