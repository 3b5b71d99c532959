"""Tables in Python (pandas, polars, pyarrow) into frame_of, TabularModel, Network.fit and the estimators."""

import datetime
import warnings
from pathlib import Path

import numpy as np
import pytest

import backprop as bp
from backprop.dataframes import frame_of
from backprop.errors import BackpropTypeError, DataError, ShapeError

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")


def cells(frame, name):
    return frame.column(name).tolist()


# ------------------------------------------------------------------ frame_of


def test_pandas_nullable_categorical_and_datetime_columns():
    table = pd.DataFrame(
        {
            "f": [1.5, np.nan, 3.0],
            "i": pd.array([1, None, 3], dtype="Int64"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "s": pd.array(["a", None, "c"], dtype="string"),
            "c": pd.Categorical(["x", "y", None]),
            "t": pd.to_datetime(["2020-01-01", None, "2020-01-03"]),
            "tz": pd.to_datetime(["2020-01-01 01:00", None, "2020-01-03 00:00"]).tz_localize("Europe/Paris"),
        }
    )
    frame = frame_of(table)
    assert frame.source == "<DataFrame>" and frame.names == ["f", "i", "b", "s", "c", "t", "tz"]
    assert np.isnan(cells(frame, "f")[1]) and cells(frame, "f")[::2] == [1.5, 3.0]
    assert np.isnan(cells(frame, "i")[1]) and cells(frame, "i")[::2] == [1.0, 3.0]
    assert np.isnan(cells(frame, "b")[1]) and cells(frame, "b")[::2] == [1.0, 0.0]
    assert cells(frame, "s") == ["a", None, "c"]
    assert cells(frame, "c") == ["x", "y", None]
    dates = frame.column("t")
    assert dates.dtype.kind == "M" and np.isnat(dates[1])
    assert dates[[0, 2]].astype("datetime64[D]").tolist() == [datetime.date(2020, 1, 1), datetime.date(2020, 1, 3)]
    # A zoned timestamp in UTC: 01:00 in Paris in winter is midnight UTC.
    zoned = frame.column("tz")
    assert zoned.dtype.kind == "M" and zoned[0] == np.datetime64("2020-01-01T00:00") and np.isnat(zoned[1])
    assert frame.unsupported == {}


def test_columns_in_several_chunks_are_joined_with_their_gaps():
    # Each chunk copied from its own buffer: an offset slice, an empty chunk, nulls, other dictionaries.
    numbers = pa.chunked_array([pa.array([0, 1, 2, 3], pa.int32()).slice(1), [], [None, 5]], pa.int32())
    floats = pa.chunked_array([[1.5, None], pa.array([9.0, 2.5, 4.0, 7.0]).slice(1)])
    words = pa.chunked_array(
        [pa.array(["b", None, "a"]).dictionary_encode(), pa.array(["c", "b", "c"]).dictionary_encode().slice(1)]
    )
    frame = frame_of(pa.table({"n": numbers, "f": floats, "w": words}))
    assert cells(frame, "n")[:3] == [1.0, 2.0, 3.0] and np.isnan(cells(frame, "n")[3]) and cells(frame, "n")[4] == 5.0
    assert cells(frame, "f")[0] == 1.5 and np.isnan(cells(frame, "f")[1]) and cells(frame, "f")[2:] == [2.5, 4.0, 7.0]
    assert cells(frame, "w") == ["b", None, "a", "b", "c"]


def test_nulls_are_read_from_the_validity_bitmap_at_any_offset():
    # Arrow's buffers read directly (pyarrow's to_numpy would import pandas): a slice starting inside a
    # byte of the bitmap, nulls on both sides of a byte's edge, a bit-packed boolean column.
    values = [None, 1, 2, None, 4, 5, 6, 7, None, 9, 10, None]
    for start in range(0, 6):
        ints = pa.array(values, pa.int64()).slice(start)
        floats = pa.array([None if v is None else v + 0.5 for v in values]).slice(start)
        flags = pa.array([None if v is None else v % 2 == 0 for v in values]).slice(start)
        frame = frame_of(pa.table({"i": ints, "f": floats, "b": flags}))
        expected = values[start:]
        for name, shift in (("i", 0.0), ("f", 0.5)):
            got = cells(frame, name)
            assert [None if np.isnan(g) else g for g in got] == [None if v is None else v + shift for v in expected]
        assert [None if np.isnan(g) else g for g in cells(frame, "b")] == [
            None if v is None else float(v % 2 == 0) for v in expected
        ]
        # Dates and times in their own units (date32: days; date64: ms; a timestamp's), NaT where null.
        day = [None if v is None else datetime.date(2024, 1, v) for v in values]
        moment = [None if d is None else datetime.datetime(d.year, d.month, d.day) for d in day]
        for kind, unit, cells_of in (
            (pa.date32(), "D", day),
            (pa.date64(), "ms", day),
            (pa.timestamp("us"), "us", moment),
        ):
            column = frame_of(pa.table({"d": pa.array(cells_of, kind).slice(start)})).columns[0]
            assert column.dtype == np.dtype(f"datetime64[{unit}]")
            assert [None if np.isnat(d) else d.astype("datetime64[D]").item() for d in column] == day[start:]


def test_numeric_columns_are_not_copied_row_by_row():
    # Arrow hands numpy the DataFrame's own buffer: no copy at all for a float64 column without gaps.
    x = np.arange(1000.0)
    table = pd.DataFrame({"x": x, "s": ["a"] * 1000})
    assert np.shares_memory(frame_of(table).columns[0], table["x"].to_numpy())
    polars_table = pl.DataFrame({"x": x})
    assert np.shares_memory(frame_of(polars_table).columns[0], polars_table["x"].to_numpy())
    arrow_table = pa.table({"x": x})
    assert np.shares_memory(frame_of(arrow_table).columns[0], arrow_table.column(0).to_numpy())


def test_a_pandas_object_column_of_mixed_types_is_read_cell_by_cell():
    table = pd.DataFrame({"mixed": ["a", 1, None], "numbers": [1, None, 2.5], "x": [1.0, 2.0, 3.0]})
    frame = frame_of(table)
    assert cells(frame, "mixed") == ["a", "1", None]  # text, as before
    assert cells(frame, "numbers")[::2] == [1.0, 2.5] and np.isnan(cells(frame, "numbers")[1])
    assert cells(frame, "x") == [1.0, 2.0, 3.0]


def test_polars_frames_lazy_frames_and_arrow_tables_read_as_pandas_does():
    data = {"x": [1.5, None, 3.0], "n": [1, 2, None], "s": ["a", None, "c"], "ok": [True, False, None]}
    expected = frame_of(pd.DataFrame(data).astype({"n": "Int64", "s": "string", "ok": "boolean"}))
    arrow_table = pa.table(data)
    for table, source in [
        (pl.DataFrame(data), "<polars DataFrame>"),
        (pl.DataFrame(data).lazy(), "<polars DataFrame>"),
        (arrow_table, "<pyarrow table>"),
        (arrow_table.to_batches()[0], "<pyarrow table>"),
    ]:
        frame = frame_of(table)
        assert frame.source == source and frame.names == expected.names
        for got, want in zip(frame.columns, expected.columns, strict=True):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_any_object_with_an_arrow_stream_is_read():
    class Stream:  # as duckdb's or ibis' results offer themselves
        def __init__(self, table):
            self.table = table

        def __arrow_c_stream__(self, requested_schema=None):
            return self.table.__arrow_c_stream__(requested_schema)

    frame = frame_of(Stream(pa.table({"x": [1, 2], "s": ["a", "b"]})))
    assert frame.source == "<Arrow table>" and cells(frame, "x") == [1.0, 2.0] and cells(frame, "s") == ["a", "b"]


def test_dicts_and_rows_read_as_before_and_repeated_names_are_refused():
    assert cells(frame_of({"a": [1, 2], "b": ["x", None]}), "b") == ["x", None]
    assert cells(frame_of([{"a": 1}, {"a": 2, "b": "z"}]), "b") == [None, "z"]
    repeated = pd.DataFrame([[1.0, 2.0]], columns=["x", "x"])
    with pytest.raises(ShapeError, match=r"<DataFrame>: the column names must be unique, got \['x', 'x'\]"):
        frame_of(repeated)
    with pytest.raises(BackpropTypeError, match=r"a pandas or polars DataFrame, a pyarrow Table.*got int"):
        frame_of(3)


# ------------------------------------------------------------------ TabularModel

FAST = {"hidden": [8], "epochs": 6, "lr": 0.01, "seed": 0}


def penguins(n: int = 90) -> dict[str, list]:
    rng = np.random.default_rng(0)
    island = rng.choice(["Torgersen", "Biscoe", "Dream"], n)
    bill = np.round(rng.normal(42.0, 4.0, n) + (island == "Biscoe") * 6.0, 1)
    mass = rng.integers(3000, 5000, n)
    species = np.where(bill > 45, "Gentoo", np.where(island == "Dream", "Chinstrap", "Adelie"))
    return {"island": island.tolist(), "bill": bill.tolist(), "mass": mass.tolist(), "species": species.tolist()}


def test_tabular_model_fits_every_kind_of_table_to_the_same_bits(tmp_path: Path):
    table = penguins()
    csv = tmp_path / "penguins.csv"
    lines = ["island,bill,mass,species"]
    lines += [f"{i},{b!r},{m},{s}" for i, b, m, s in zip(*table.values(), strict=True)]
    csv.write_text("\n".join(lines) + "\n")
    parquet = tmp_path / "penguins.parquet"
    import pyarrow.parquet as pq

    pq.write_table(pa.table(table), parquet)
    folder = tmp_path / "folder"  # the same rows in two files of a dataset
    folder.mkdir()
    pq.write_table(pa.table(table).slice(0, 50), folder / "part-0.parquet")
    pq.write_table(pa.table(table).slice(50), folder / "part-1.parquet")
    from_csv = bp.TabularModel(**FAST).fit(str(csv), target="species")
    for given in [
        pd.DataFrame(table),
        pd.DataFrame(table).astype({"island": "category", "mass": "Int64", "species": "string"}),
        pl.DataFrame(table),
        pl.DataFrame(table).lazy(),
        pa.table(table),
        str(parquet),
        str(folder),
    ]:
        model = bp.TabularModel(**FAST).fit(given, target="species")
        np.testing.assert_array_equal(model.network_.parameters, from_csv.network_.parameters)
        assert model.feature_names_in_ == ["island", "bill", "mass"]
    assert model.predict(pl.DataFrame(table)).tolist() == from_csv.predict(pd.DataFrame(table)).tolist()


# ------------------------------------------------------------------ Network


def small_network():
    return bp.Network([bp.Dense(4, activation="tanh"), bp.Dense(1)], inputs=3, seed=0)


def regression(n: int = 30):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 3))
    return X, X @ np.array([1.0, -2.0, 0.5])


def test_network_fits_and_predicts_tables_of_numbers_as_arrays():
    X, y = regression()
    reference = small_network()
    reference.fit(X, y, epochs=3, batch_size=8, seed=2)
    names = ["a", "b", "c"]
    arrow = pa.table({name: X[:, j] for j, name in enumerate(names)})
    for table, target in [
        (pd.DataFrame(X, columns=names), pd.Series(y)),
        (pl.DataFrame(X, schema=names), pl.Series(y)),
        (pl.DataFrame(X, schema=names).lazy(), pa.array(y)),
        (arrow, pa.chunked_array([y[:10], y[10:]])),
    ]:
        net = small_network()
        net.fit(table, target, epochs=3, batch_size=8, seed=2)
        np.testing.assert_array_equal(net.parameters, reference.parameters)
    np.testing.assert_array_equal(net.predict(arrow), reference.predict(X))
    np.testing.assert_array_equal(net.predict(pd.DataFrame(X)), reference.predict(X))
    np.testing.assert_array_equal(net.predict(pl.DataFrame(X, schema=names)), reference.predict(X))


def test_network_refuses_text_and_dates_pointing_to_the_tabular_model():
    X, y = regression(4)
    with_text = {"a": X[:, 0], "b": ["x", "y", "x", "y"], "c": X[:, 2]}
    hint = r"for a table with text .*backprop\.TabularModel\(\)\.fit\(table, target=\.\.\.\)"
    for table in (pd.DataFrame(with_text), pa.table(with_text)):
        with pytest.raises(BackpropTypeError, match=rf"got the str 'x'; {hint}"):
            small_network().fit(table, y, epochs=1)
    with pytest.raises(BackpropTypeError, match=rf"X's column 'b' does not hold numbers; {hint}"):
        small_network().fit(pl.DataFrame(with_text), y, epochs=1)
    # polars would turn dates into day counts: refused by the column's type.
    dates = pl.DataFrame({"a": X[:, 0], "d": [datetime.date(2020, 1, i + 1) for i in range(4)], "c": X[:, 2]})
    with pytest.raises(BackpropTypeError, match=rf"X's column 'd' does not hold numbers; {hint}"):
        small_network().fit(dates.lazy(), y, epochs=1)


# ------------------------------------------------------------------ the estimators

sklearn = pytest.importorskip("sklearn")


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        yield


def test_estimators_take_every_table_and_record_its_column_names(quiet):
    from backprop.sklearn import MLPClassifier, MLPRegressor

    X, y = regression(40)
    labels = np.where(y > 0, "up", "down")
    names = ["a", "b", "c"]
    reg = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, labels)
    for table, series in [
        (pd.DataFrame(X, columns=names), pd.Series),
        (pl.DataFrame(X, schema=names), pl.Series),
        (pl.DataFrame(X, schema=names).lazy(), pl.Series),
        (pa.table({name: X[:, j] for j, name in enumerate(names)}), pa.array),
    ]:
        fitted = MLPRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(table, series(y))
        assert fitted.feature_names_in_.tolist() == names
        np.testing.assert_array_equal(fitted.network_.parameters, reg.network_.parameters)
        np.testing.assert_array_equal(fitted.predict(table), reg.predict(X))
        classifier = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(table, series(labels))
        assert classifier.classes_.tolist() == ["down", "up"]
        np.testing.assert_array_equal(classifier.network_.parameters, clf.network_.parameters)
        np.testing.assert_array_equal(classifier.predict(table), clf.predict(X))
    renamed = pl.DataFrame(X, schema=["a", "b", "z"])
    with pytest.raises(ValueError, match="feature names"):
        fitted.predict(renamed)


def test_estimators_refuse_text_and_date_columns_by_name(quiet):
    from backprop.sklearn import MLPRegressor

    X, y = regression(4)
    days = [datetime.date(2020, 1, i + 1) for i in range(4)]
    for table, what in [
        (pd.DataFrame({"a": X[:, 0], "when": pd.to_datetime(days)}), r"dates \(datetime64"),
        (pl.DataFrame({"a": X[:, 0], "when": days}), r"dates or times \(Date\)"),
        (pa.table({"a": X[:, 0], "when": days}), r"dates or times \(date32"),
        (pd.DataFrame({"a": X[:, 0], "when": pd.Categorical(["x", "y", "x", "y"])}), r"text \('x'\)"),
        (pa.table({"a": X[:, 0], "when": ["x", "y", "x", "y"]}), r"text \('x'\)"),
    ]:
        with pytest.raises(DataError, match=rf"X is a table whose column 'when' holds {what}.*TabularModel"):
            MLPRegressor(max_iter=2).fit(table, y)
