"""Reading tables for the command-line tool, and the preprocessing stored in model files."""

import codecs
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from backprop.errors import DataError, MissingDependencyError, ModelFileError
from backprop.tabular import Preprocessor, iter_tables, prepare_training, read_table


def write(path, text, encoding="utf-8", bom=b""):
    path.write_bytes(bom + text.encode(encoding))
    return str(path)


# ------------------------------------------------------------------ CSV dialects


def test_comma_csv_with_header(tmp_path):
    frame = read_table(write(tmp_path / "a.csv", "x,y,label\n1,2,a\n3,4,b\n"))
    assert frame.names == ["x", "y", "label"]
    assert frame.n_rows == 2
    assert frame.columns[2].tolist() == ["a", "b"]
    assert frame.lines.tolist() == [2, 3]


def test_semicolons_bom_crlf_decimal_commas_and_unicode_headers(tmp_path):
    text = "größe;höhe;Farbe\r\n1,5;2;rot\r\n2,5;3;blau\r\n"
    frame = read_table(write(tmp_path / "b.csv", text, bom=codecs.BOM_UTF8))
    assert frame.names == ["größe", "höhe", "Farbe"]  # no BOM in the first name
    assert frame.decimal_comma
    pre = prepare_training(frame, test_size=0, standardize=False).preprocessor
    X = pre.transform(frame)
    assert X[:, 0].tolist() == [1.5, 2.5]  # decimal commas read as numbers


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_the_delimiter_is_sniffed(tmp_path, delimiter):
    rows = [["a", "b", "c"], *[[str(i), str(i * 2), "k"] for i in range(5)]]
    text = "\n".join(delimiter.join(r) for r in rows) + "\n"
    frame = read_table(write(tmp_path / "d.csv", text))
    assert frame.names == ["a", "b", "c"]
    assert frame.n_rows == 5


def test_latin1_falls_back_with_a_note(tmp_path):
    frame = read_table(write(tmp_path / "l.csv", "nom,val\ncafé,1\nthé,2\n", encoding="latin-1"))
    assert frame.columns[0].tolist() == ["café", "thé"]
    assert any("Latin-1" in note for note in frame.notes)


def test_utf16_with_bom(tmp_path):
    frame = read_table(write(tmp_path / "u.csv", "\ufeffa,b\n1,2\n", encoding="utf-16-le"))
    assert frame.names == ["a", "b"]


def test_a_file_of_numbers_has_no_header(tmp_path):
    frame = read_table(write(tmp_path / "n.csv", "1,2,3\n4,5,6\n"))
    assert frame.names == ["x0", "x1", "x2"]
    assert frame.n_rows == 2


def test_a_text_first_row_over_text_values_that_recur_is_data(tmp_path):
    frame = read_table(write(tmp_path / "t.csv", "1.0,a\n2.0,b\n3.0,a\n"))
    assert frame.names == ["x0", "x1"]
    assert frame.n_rows == 3


def test_header_can_be_forced(tmp_path):
    path = write(tmp_path / "h.csv", "1,2\n3,4\n")
    assert read_table(path, header=True).names == ["1", "2"]
    assert read_table(path, header=False).n_rows == 2


def test_duplicate_and_empty_header_names_are_renamed(tmp_path):
    frame = read_table(write(tmp_path / "dup.csv", "a,a,\n1,2,3\n"))
    assert frame.names == ["a", "a.1", "column 2"]
    assert any("repeats the name" in note for note in frame.notes)


def test_header_only_file_has_zero_rows(tmp_path):
    frame = read_table(write(tmp_path / "h.csv", "a,b,c\n"))
    assert frame.names == ["a", "b", "c"]
    assert frame.n_rows == 0
    with pytest.raises(
        DataError,
        match=re.escape(
            "h.csv has a header ('a', 'b', 'c') but no data rows; add rows below it, "
            "or pass --no-header if that line is data"
        ),
    ):
        prepare_training(frame)


@pytest.mark.parametrize("line", ["1,2,yes", "0.5,,b", "yes,-3,no"])
def test_a_single_line_with_a_number_is_a_data_row(tmp_path, line):
    # Column names that look like numbers are rare: the one line of a file is data as soon as a field is a number.
    frame = read_table(write(tmp_path / "one.csv", line + "\n"))
    assert frame.names == ["x0", "x1", "x2"]
    assert frame.n_rows == 1
    assert frame.lines.tolist() == [1]
    assert read_table(write(tmp_path / "one.csv", line + "\n"), header=True).n_rows == 0  # unless told otherwise


def test_a_single_line_of_text_is_a_header(tmp_path):
    path = write(tmp_path / "names.csv", "a,b,label\n")
    assert read_table(path).names == ["a", "b", "label"]
    assert read_table(path, header=False).columns[2].tolist() == ["label"]


def test_zero_row_numpy_files_have_no_rows_not_no_header(tmp_path):
    np.save(tmp_path / "zero.npy", np.zeros((0, 3)))
    np.savez(tmp_path / "zero.npz", X=np.zeros((0, 2)), y=np.zeros(0))
    for name in ("zero.npy", "zero.npz"):
        frame = read_table(str(tmp_path / name))
        assert frame.n_rows == 0
        with pytest.raises(DataError, match=re.escape(f"{name} has no rows; training needs at least 2")):
            prepare_training(frame)


@pytest.mark.parametrize(
    ("text", "usable"),
    [
        ("a,b,c\n1,2,x\n", "1 usable row;"),
        ("a,b,c\n1,2,x\n1,?,y\n", "1 usable row;"),
        ("a,b,c\n1,?,x\n1,2,?\n", "0 usable rows;"),
    ],
)
def test_too_few_usable_rows_counts_them_in_good_english(tmp_path, text, usable):
    frame = read_table(write(tmp_path / "few.csv", text))
    with pytest.raises(DataError, match=re.escape(f"few.csv: {usable} training needs at least 2")):
        prepare_training(frame, task="regression", target="a", impute="drop")


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"e\.csv is empty"):
        read_table(write(tmp_path / "e.csv", ""))
    with pytest.raises(DataError, match="is empty"):
        read_table(write(tmp_path / "blank.csv", "\n\n  \n"))


@pytest.mark.parametrize("blank", ["  ", "\t", " \t ", ""])
def test_lines_of_only_spaces_and_tabs_are_skipped_like_empty_lines(tmp_path, blank):
    # As pandas' skip_blank_lines: a trailing line of two spaces was a one-field row, "row 2 (line 4) has 1 field".
    text = f"a,b,c\n1,2,x\n{blank}\n3,4,y\n{blank}\n"
    path = write(tmp_path / "w.csv", text)
    frame = read_table(path)
    assert frame.n_rows == 2
    assert frame.columns[2].tolist() == ["x", "y"]
    assert frame.lines.tolist() == [2, 4]  # file lines, the skipped ones counted
    chunks = list(iter_tables(path, chunk_rows=1))
    assert [c.columns[0].tolist() for c in chunks] == [[1.0], [3.0]]  # numbers come as float64
    assert [c.lines.tolist() for c in chunks] == [[2], [4]]


def test_a_line_of_spaces_and_delimiters_is_still_a_row(tmp_path):
    # Only a line without a delimiter is blank; " , , " is a row of three empty cells, as in pandas.
    frame = read_table(write(tmp_path / "e.csv", "a,b,c\n1,2,x\n , , \n"))
    assert frame.n_rows == 2
    with pytest.raises(DataError, match=r"row 1 \(line 3\) has 1 field, the header has 3"):
        read_table(write(tmp_path / "r.csv", "a,b,c\n1,2,x\n  z \n"))


def test_a_ragged_row_names_row_and_line(tmp_path):
    with pytest.raises(DataError, match=r"row 1 \(line 3\) has 1 field, the header has 2"):
        read_table(write(tmp_path / "r.csv", "a,b\n1,2\n3\n4,5\n"))


def test_quoted_fields_with_newlines_keep_line_numbers(tmp_path):
    frame = read_table(write(tmp_path / "q.csv", 'a,b\n1,"two\nlines"\n3,x\n'))
    assert frame.columns[1].tolist() == ["two\nlines", "x"]
    assert frame.lines.tolist() == [3, 4]


def test_missing_file():
    with pytest.raises(DataError, match="no such file"):
        read_table("/nonexistent/file.csv")


# ------------------------------------------------------------------ other sources


def test_npz_reads_x_and_y_without_pickle(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.arange(6.0).reshape(3, 2), y=np.array(["a", "b", "a"]))
    frame = read_table(str(path))
    assert frame.names == ["x0", "x1", "y"]
    assert frame.columns[2].tolist() == ["a", "b", "a"]


def test_npz_of_python_objects_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, X=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="does not unpickle"):
        read_table(str(path))


def test_npz_without_x(tmp_path):
    path = tmp_path / "no.npz"
    np.savez(path, data=np.zeros(3))
    with pytest.raises(DataError, match="has no array 'X'"):
        read_table(str(path))


def test_npy_last_column_is_the_default_target(tmp_path):
    path = tmp_path / "d.npy"
    data = np.column_stack([np.linspace(0, 1, 20), np.linspace(1, 0, 20), np.tile([0.0, 1.0], 10)])
    np.save(path, data)
    frame = read_table(str(path))
    assert frame.names == ["x0", "x1", "x2"]
    prepared = prepare_training(frame, test_size=0)
    assert prepared.preprocessor.target.name == "x2"
    assert prepared.preprocessor.classes == [0, 1]
    chunks = list(iter_tables(str(path), chunk_rows=7))  # memory-mapped, in chunks
    assert [c.n_rows for c in chunks] == [7, 7, 6]
    assert [c.offset for c in chunks] == [0, 7, 14]


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table(
        {"x": [1.0, 2.0, None, 4.0], "n": [1, 2, 3, 4], "c": ["a", "b", None, "a"], "ok": [True, False, True, False]}
    )
    path = str(tmp_path / "d.parquet")
    pq.write_table(table, path)
    frame = read_table(path)
    assert frame.names == ["x", "n", "c", "ok"]
    assert np.isnan(frame.columns[0][2])
    assert frame.columns[2].tolist() == ["a", "b", None, "a"]
    chunks = list(iter_tables(path, chunk_rows=3))
    assert [c.n_rows for c in chunks] == [3, 1]


def test_parquet_with_repeated_names_reads_the_same_whole_or_in_chunks(tmp_path):
    # read_table refused it (pyarrow's "Multiple matches for FieldRef.Name(x)"), iter_tables renamed the column.
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = str(tmp_path / "dup.parquet")
    table = pa.Table.from_arrays([pa.array([1.0, 2.0]), pa.array([3.0, 4.0]), pa.array(["a", "b"])], ["x", "x", "y"])
    pq.write_table(table, path)
    whole, chunk = read_table(path), next(iter_tables(path))
    for frame in (whole, chunk):
        assert frame.names == ["x", "x.1", "y"]
        assert frame.notes == [f"{path}: column 1 repeats the name 'x'; renamed it 'x.1'"]
        assert frame.columns[1].tolist() == [3.0, 4.0]
    # As the CSV reader names a repeated header.
    csv_frame = read_table(write(tmp_path / "dup.csv", "x,x,y\n1,3,a\n2,4,b\n"))
    assert csv_frame.names == whole.names
    assert csv_frame.notes[0].split(": ", 1)[1] == whole.notes[0].split(": ", 1)[1]


def _printed(code):
    """What ``code`` prints in a fresh Python (what it imports is that process's alone)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return done.stdout.strip()


def _single_and_scanned(tmp_path):
    """A Parquet file with a dictionary-encoded text column, and a folder holding the same file."""
    pa = pytest.importorskip("pyarrow")
    import datetime

    import pyarrow.parquet as pq

    table = pa.table(
        {
            "x": [1.5, None, 2.5, 4.0, 5.0],
            "n": pa.array([3, 1, None, 2, 2], pa.int32()),
            # Its dictionary in another order than the rows', with a value no row uses: Parquet keeps it so,
            # and a dataset's scan decodes it (the Frame's categories in the rows' order, "zz" not one).
            "c": pa.DictionaryArray.from_arrays(pa.array([1, 0, None, 1, 2], pa.int32()), ["b", "a", "c", "zz"]),
            "day": [datetime.date(2024, 1, 2), None, datetime.date(2024, 3, 4), None, datetime.date(2023, 5, 6)],
        }
    )
    (tmp_path / "folder").mkdir()
    single, scanned = tmp_path / "d.parquet", tmp_path / "folder" / "d.parquet"
    for path in (single, scanned):
        pq.write_table(table, path, row_group_size=2)
    assert pq.ParquetFile(single).schema_arrow.field("c").type == pa.dictionary(pa.int32(), pa.string())
    return str(single), str(tmp_path / "folder")


def _cells(frame):
    """Each column's dtype and cells, and a text column's categories and codes."""
    coded = [(list(c.values), c.codes.tolist()) if hasattr(c, "codes") else None for c in frame.columns]
    return [(c.dtype.str, np.asarray(c).tolist()) for c in frame.columns], coded


def test_a_single_parquet_file_reads_as_a_dataset_scan_reads_it(tmp_path):
    # One file goes through pyarrow.parquet alone (pyarrow.dataset takes 0.3 s to import), its
    # dictionary column decoded as the scan of a folder decodes it: the same cells, dtypes and chunks.
    single, folder = _single_and_scanned(tmp_path)
    whole, scanned = read_table(single), read_table(folder)
    assert whole.names == scanned.names == ["x", "n", "c", "day"]
    assert repr(_cells(whole)) == repr(_cells(scanned))
    assert whole.column("c").tolist() == ["a", "b", None, "a", "c"]
    assert _cells(whole)[1][2] == (["a", "b", "c"], [0, 1, -1, 0, 2])
    assert str(whole.column("day").dtype) == "datetime64[D]"
    chunks, scanned_chunks = list(iter_tables(single, chunk_rows=3)), list(iter_tables(folder, chunk_rows=3))
    assert [c.n_rows for c in chunks] == [c.n_rows for c in scanned_chunks] == [3, 2]
    for chunk, scanned_chunk in zip(chunks, scanned_chunks, strict=True):
        assert repr(_cells(chunk)) == repr(_cells(scanned_chunk))


def test_reading_one_parquet_file_imports_neither_pyarrow_dataset_nor_pandas(tmp_path):
    single, _ = _single_and_scanned(tmp_path)
    code = (
        "import sys; from backprop.tabular import read_table, iter_tables; "
        f"f = read_table({single!r}); g = next(iter_tables({single!r}, chunk_rows=2)); "
        "print(f.column('c').tolist(), g.n_rows, 'pyarrow.dataset' in sys.modules, 'pandas' in sys.modules)"
    )
    assert _printed(code) == "['a', 'b', None, 'a', 'c'] 2 False False"


def test_parquet_without_pyarrow_says_how_to_install(tmp_path, monkeypatch):
    import builtins

    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1....")
    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError("No module named 'pyarrow'", name="pyarrow")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(MissingDependencyError, match=r"pip install 'backprop\[parquet\]'"):
        read_table(str(path))


def test_a_builtin_dataset_by_name():
    frame = read_table("iris")
    assert frame.n_rows == 150
    assert frame.names[-1] == "target"
    assert set(frame.columns[-1].tolist()) == {"setosa", "versicolor", "virginica"}


@pytest.mark.parametrize(
    "cells",
    [
        ["red", None, " red", "blue", "NA", "", "red ", "grün", None],  # None, missing spellings, stripping
        ["b", "a", "b", "c"],  # the order of first rows, not sorted
        [None, None],
        ["x", float("nan"), "y"],  # NaN (a pandas object column's missing cell): pyarrow's rules
    ],
)
def test_a_small_text_column_encodes_as_pyarrow_encodes_it(cells, monkeypatch):
    # Columns of at most SMALL_COLUMN cells of str and None are encoded in Python (pyarrow's
    # conversion would import pandas, 0.27 s): the same codes and values as the larger columns' path.
    from backprop.tabular import columns

    small = columns.encode(np.array(cells, dtype=object))
    monkeypatch.setattr(columns, "SMALL_COLUMN", 0)
    large = columns.encode(np.array(cells, dtype=object))
    assert small.codes.tolist() == large.codes.tolist() and small.values == large.values
    strings = columns._strings(np.array(cells, dtype=object))
    assert (strings is None) == any(cell is not None and type(cell) is not str for cell in cells)


def test_a_small_text_target_does_not_import_pandas():
    code = (
        "import sys, numpy as np; from backprop.tabular.columns import encode; "
        "e = encode(np.array(['b', None, 'a', 'b'], dtype=object)); "
        "print(e.codes.tolist(), e.values, 'pandas' in sys.modules)"
    )
    assert _printed(code) == "[0, -1, 1, 0] ['b', 'a'] False"


def test_reading_a_csv_does_not_import_pandas(tmp_path):
    # pyarrow's conversions (to_numpy, fill_null with a Python value) import pandas where it is installed,
    # 0.27 s of a small `backprop train`: the reader takes Arrow's buffers instead.
    path = write(tmp_path / "t.csv", "x,n,label,day\n1.5,1,a,2024-01-02\n,2,b,2024-01-03\n2.5,,a,\n")
    code = (
        "import sys; from backprop.tabular import read_table; "
        f"f = read_table({path!r}); "
        "print([c.tolist() for c in f.columns[:3]], 'pandas' in sys.modules)"
    )
    assert _printed(code) == "[[1.5, nan, 2.5], [1.0, 2.0, nan], ['a', 'b', 'a']] False"


def test_csv_chunks_have_bounded_size_and_the_same_columns(tmp_path):
    lines = ["a,b"] + [f"{i},{i % 3}" for i in range(1000)]
    path = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    chunks = list(iter_tables(path, chunk_rows=300))
    assert [c.n_rows for c in chunks] == [300, 300, 300, 100]
    assert all(c.names == ["a", "b"] for c in chunks)
    assert chunks[3].offset == 900
    assert chunks[3].where(0) == "row 900 (line 902)"


# ------------------------------------------------------------------ preparing


def iris_like(tmp_path, missing=None):
    rng = np.random.default_rng(0)
    rows = ["length,width,colour,species"]
    for i in range(60):
        species = ["setosa", "versicolor", "virginica"][i % 3]
        length = f"{rng.normal(i % 3):.3f}"
        if missing is not None and i in (4, 9):
            length = missing
        rows.append(f"{length},{rng.normal():.3f},{['red', 'blue'][i % 2]},{species}")
    return read_table(write(tmp_path / "iris.csv", "\n".join(rows) + "\n"))


def test_prepare_training_encodes_and_splits(tmp_path):
    prepared = prepare_training(iris_like(tmp_path), test_size=0.25, seed=0)
    pre = prepared.preprocessor
    assert pre.task == "classification"
    assert pre.classes == ["setosa", "versicolor", "virginica"]
    assert pre.input_names == ["length", "width", "colour=blue", "colour=red"]
    assert prepared.X_train.shape == (45, 4) and prepared.X_test.shape == (15, 4)
    assert np.bincount(prepared.y_test).tolist() == [5, 5, 5]  # stratified
    # Standardized on the training rows.
    assert abs(prepared.X_train[:, 0].mean()) < 1e-6
    assert abs(prepared.X_train[:, 0].std() - 1) < 1e-5
    assert set(np.unique(prepared.X_train[:, 2:])) == {0.0, 1.0}


@pytest.mark.parametrize("token", ["", "NA", "NaN", "?", "null"])
def test_missing_values_are_an_error_naming_column_and_count(tmp_path, token):
    with pytest.raises(DataError, match=r"column 'length' has 2 missing values \(rows 4, 9\).*--impute"):
        prepare_training(iris_like(tmp_path, missing=token))


@pytest.mark.parametrize("strategy", ["mean", "median"])
def test_impute_fills_from_the_training_rows(tmp_path, strategy):
    prepared = prepare_training(iris_like(tmp_path, missing="?"), impute=strategy, test_size=0)
    spec = prepared.preprocessor.features[0]
    assert isinstance(spec.fill, float)
    assert np.isfinite(prepared.X_train).all()
    assert prepared.X_train.shape[0] == 60


def test_impute_drop_drops_the_rows(tmp_path):
    prepared = prepare_training(iris_like(tmp_path, missing="?"), impute="drop", test_size=0)
    assert prepared.X_train.shape[0] == 58
    assert prepared.n_dropped == 2
    assert 4 not in prepared.rows_train.tolist()


def test_target_and_feature_selection(tmp_path):
    frame = iris_like(tmp_path)
    prepared = prepare_training(frame, target="colour", features=["length", "1"], test_size=0)
    pre = prepared.preprocessor
    assert pre.target.name == "colour"
    assert [f.name for f in pre.features] == ["length", "width"]
    with pytest.raises(DataError, match="no column 'nope'; the columns are 'length', 'width', 'colour', 'species'"):
        prepare_training(frame, target="nope")
    with pytest.raises(DataError, match="is the target; it cannot also be a feature"):
        prepare_training(frame, features=["species"])


def test_few_integer_values_are_classes_and_task_overrides(tmp_path):
    rows = ["a,y"] + [f"{i},{i % 3}" for i in range(30)]
    frame = read_table(write(tmp_path / "i.csv", "\n".join(rows) + "\n"))
    prepared = prepare_training(frame, test_size=0)
    assert prepared.preprocessor.classes == [0, 1, 2]
    assert any("treated as classes" in note for note in prepared.notes)
    assert prepare_training(frame, task="regression", test_size=0).preprocessor.task == "regression"


def test_regression_target_is_scaled_and_unscaled(tmp_path):
    rows = ["x,price"] + [f"{i},{1000 + 10 * i}" for i in range(50)]
    frame = read_table(write(tmp_path / "r.csv", "\n".join(rows) + "\n"))
    prepared = prepare_training(frame, test_size=0.2)
    pre = prepared.preprocessor
    assert pre.task == "regression"
    assert abs(prepared.y_train.mean()) < 1e-5
    assert np.allclose(pre.target_values(prepared.y_train[:3]), pre.target_values(prepared.y_train[:3]))
    y, missing = pre.targets(frame)
    assert not missing.any()
    assert np.allclose(pre.target_values(y), np.arange(1000, 1500, 10))


def test_text_regression_target_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"'setosa' is not a number; --task regression needs a numeric target"):
        prepare_training(iris_like(tmp_path), task="regression")


def test_a_single_class_is_an_error(tmp_path):
    frame = read_table(write(tmp_path / "s.csv", "x,y\n1,a\n2,a\n3,a\n"))
    with pytest.raises(DataError, match="single class 'a'"):
        prepare_training(frame)


def test_an_identifier_column_is_refused(tmp_path):
    rows = ["name,x,y"] + [f"person{i},{i * 7 % 300},{i % 2}" for i in range(300)]  # x: not in order
    frame = read_table(write(tmp_path / "ids.csv", "\n".join(rows) + "\n"))
    with pytest.raises(DataError, match=r"looks like an identifier.*--ignore 'name'"):
        prepare_training(frame)
    assert prepare_training(frame, ignore=["name"]).preprocessor.n_inputs == 1


@pytest.mark.parametrize(
    ("text", "options", "message"),
    [
        (
            "a,label\n1,yes\n2,no\n",
            {},
            "t.csv: --test-size 0.2 asks for 1 of 2 rows, but training keeps at least one row of each of the 2 "
            "classes, so at most 0 can be test rows; use --test-size 0 (too few rows to hold any out)",
        ),
        (
            "a,label\n1,yes\n2,no\n3,yes\n4,no\n",
            {"test_size": 0.6},
            "t.csv: --test-size 0.6 asks for 3 of 4 rows, but training keeps at least one row of each of the 2 "
            "classes, so at most 2 can be test rows; lower --test-size or use --test-size 0",
        ),
        (
            "a,y\n1,0.5\n2,1.5\n?,2.5\n",
            {"test_size": 0.9, "impute": "drop"},
            "t.csv: --test-size 0.9 asks for 2 of 2 usable rows, but that leaves none for training; "
            "lower --test-size or use --test-size 0",
        ),
    ],
)
def test_a_test_size_too_large_names_the_file_and_the_option(tmp_path, text, options, message):
    frame = read_table(write(tmp_path / "t.csv", text))
    with pytest.raises(DataError, match=re.escape(message)):
        prepare_training(frame, **options)


def test_unseen_categories_give_zero_inputs_and_a_note(tmp_path):
    pre = prepare_training(iris_like(tmp_path), test_size=0).preprocessor
    new = read_table(write(tmp_path / "new.csv", "length,width,colour\n1,2,green\n1,2,red\n"))
    notes = []
    X = pre.transform(new, notes=notes)
    assert X[0, 2:].tolist() == [0.0, 0.0] and X[1, 2:].tolist() == [0.0, 1.0]
    assert "1 rows with categories not seen in training ('green')" in notes[0]


def test_text_in_a_numeric_column_names_row_and_line(tmp_path):
    pre = prepare_training(iris_like(tmp_path), test_size=0).preprocessor
    new = read_table(write(tmp_path / "bad.csv", "length,width,colour\n1,2,red\n1,abc,red\n"))
    with pytest.raises(DataError, match=r"column 'width', row 1 \(line 3\): 'abc' is not a number"):
        pre.transform(new)


def test_unknown_labels_are_an_error(tmp_path):
    pre = prepare_training(iris_like(tmp_path), test_size=0).preprocessor
    new = read_table(write(tmp_path / "l.csv", "length,width,colour,species\n1,2,red,rose\n"))
    with pytest.raises(DataError, match="labels the model does not know, first 'rose' at row 0"):
        pre.targets(new)


# ------------------------------------------------------------------ JSON


def test_preprocessor_round_trips_through_json(tmp_path):
    pre = prepare_training(iris_like(tmp_path, missing="?"), impute="median", test_size=0).preprocessor
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert again == pre
    frame = iris_like(tmp_path)
    np.testing.assert_array_equal(again.transform(frame), pre.transform(frame))


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["features"][0].update(scale=-1.0), "preprocessing.features[0].scale"),
        (lambda d: d["features"][2].update(categories=[]), "preprocessing.features[2].categories"),
        (lambda d: d["features"][0].pop("mean"), "preprocessing.features[0].mean"),
        (lambda d: d["features"][1].update(kind="date"), "preprocessing.features[1].kind"),
        (lambda d: d["target"].update(classes=["a"]), "preprocessing.target.classes"),
        (lambda d: d.update(version=99), "preprocessing.version"),
        (lambda d: d.update(features="x"), "preprocessing.features"),
        (lambda d: d.update(impute="zero"), "preprocessing.impute"),
    ],
)
def test_a_broken_document_names_the_field(tmp_path, edit, field):
    document = prepare_training(iris_like(tmp_path), test_size=0).preprocessor.to_dict()
    edit(document)
    with pytest.raises(ModelFileError, match=re.escape(f"model.safetensors: metadata field '{field}'")):
        Preprocessor.from_dict(document, where="model.safetensors")


def test_column_lookups_follow_a_replaced_list_of_names(tmp_path):
    """Lookups by name go through an index of ``names``; replacing the list (or a longer one) is seen."""
    frame = read_table(write(tmp_path / "a.csv", "x,y,label\n1,2,a\n3,4,b\n"))
    assert frame.column("y").tolist() == [2.0, 4.0]
    frame.names = ["p", "q", "label"]
    assert frame.column("q").tolist() == [2.0, 4.0] and frame.position("p") == 0
    with pytest.raises(DataError, match="no column 'y'; the columns are 'p', 'q', 'label'"):
        frame.column("y")
    frame.names.append("extra")
    frame.columns.append(np.array(["5", "6"], dtype=object))
    assert frame.column("extra").tolist() == ["5", "6"] and frame.position("3") == 3
