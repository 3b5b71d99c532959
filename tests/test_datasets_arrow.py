"""Parquet datasets: a folder or a glob of Parquet files, hive partitions, schemas, streaming, identity."""

import os
from pathlib import Path

import numpy as np
import pytest

from backprop.errors import DataError
from backprop.tabular import iter_tables, prepare_training, read_table
from backprop.tabular.readers import count_rows, source_identity

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def put(path: Path, **columns) -> str:
    """A Parquet file of ``columns`` at ``path`` (folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return str(path)


def column(frame, name):
    return frame.column(name).tolist()


# ------------------------------------------------------------------ folders and globs


def test_a_folder_is_read_in_sorted_path_order_whatever_the_order_of_writing(tmp_path):
    # Written last to first: the order of the rows is that of the paths, by folder components.
    put(tmp_path / "c.parquet", x=[5.0, 6.0])
    put(tmp_path / "b.parquet", x=[3.0, 4.0])
    put(tmp_path / "a" / "z.parquet", x=[1.0, 2.0])
    frame = read_table(str(tmp_path))
    assert frame.names == ["x"]
    assert column(frame, "x") == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert frame.source == str(tmp_path)
    assert count_rows(str(tmp_path)) == 6


def test_hive_partition_folders_give_columns(tmp_path):
    put(tmp_path / "year=2024" / "month=1" / "part-0.parquet", v=[1.0, 2.0], city=["Oslo", "Rome"])
    put(tmp_path / "year=2024" / "month=2" / "part-0.parquet", v=[3.0], city=["Oslo"])
    put(tmp_path / "year=2023" / "month=12" / "part-0.parquet", v=[0.5], city=["Lima"])
    put(tmp_path / "year=__HIVE_DEFAULT_PARTITION__" / "month=1" / "part-0.parquet", v=[9.0], city=["Kyiv"])
    frame = read_table(str(tmp_path))
    assert frame.names == ["v", "city", "year", "month"]
    # year=2023 sorts first; the missing year (pyarrow's spelling) is NaN.
    assert column(frame, "v") == [0.5, 1.0, 2.0, 3.0, 9.0]
    assert column(frame, "city") == ["Lima", "Oslo", "Rome", "Oslo", "Kyiv"]
    assert column(frame, "year")[:4] == [2023.0, 2024.0, 2024.0, 2024.0]
    assert np.isnan(column(frame, "year")[4])
    assert column(frame, "month") == [12.0, 1.0, 1.0, 2.0, 1.0]
    # The partition columns are features like any other.
    prepared = prepare_training(frame, target="v", test_size=0, standardize=False, impute="mean")
    assert [spec.name for spec in prepared.preprocessor.features] == ["city", "year", "month"]


def test_a_glob_reads_the_files_it_matches(tmp_path):
    put(tmp_path / "data" / "a.parquet", x=[1.0])
    put(tmp_path / "data" / "b.parquet", x=[2.0])
    put(tmp_path / "data" / "year=2024" / "c.parquet", x=[3.0])
    (tmp_path / "data" / "notes.txt").write_text("not data")
    flat = read_table(str(tmp_path / "data" / "*.parquet"))
    assert flat.names == ["x"] and column(flat, "x") == [1.0, 2.0]
    deep = read_table(str(tmp_path / "data" / "**" / "*.parquet"))
    # The folder before the glob's first pattern is where partitions start.
    assert deep.names == ["x", "year"]
    assert column(deep, "x") == [1.0, 2.0, 3.0]
    assert column(deep, "year")[2] == 2024.0 and np.isnan(column(deep, "year")[0])
    assert count_rows(str(tmp_path / "data" / "**" / "*.parquet")) == 3
    (tmp_path / "data" / "notes.txt").unlink()
    (tmp_path / "data" / "_SUCCESS").write_bytes(b"")  # skipped, as in a folder
    assert column(read_table(str(tmp_path / "data" / "*")), "x") == [1.0, 2.0]


def test_a_glob_that_matches_nothing_or_not_parquet_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"no file matches .*\*\.parquet"):
        read_table(str(tmp_path / "*.parquet"))
    (tmp_path / "a.csv").write_text("x\n1\n")
    with pytest.raises(DataError, match=r"matches .*a\.csv, which is not a Parquet file; a glob reads Parquet files"):
        read_table(str(tmp_path / "*"))


def test_a_folder_without_parquet_files_says_what_it_holds(tmp_path):
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(
        DataError, match=r"folder .* holds no \.parquet files \(it holds 2 other files: 'a\.csv', 'notes\.txt'\)"
    ):
        read_table(str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"folder .*empty holds no \.parquet files \(it is empty\)"):
        list(iter_tables(str(empty)))


def test_hidden_and_underscore_names_are_skipped_as_arrow_skips_them(tmp_path):
    put(tmp_path / "part-0.parquet", x=[1.0])
    put(tmp_path / ".part-1.parquet", x=[2.0])
    put(tmp_path / "_temporary" / "part-2.parquet", x=[3.0])
    (tmp_path / "_SUCCESS").write_bytes(b"")
    assert column(read_table(str(tmp_path)), "x") == [1.0]
    assert [entry["path"] for entry in source_identity(str(tmp_path))] == [str(tmp_path / "part-0.parquet")]


# ------------------------------------------------------------------ schemas


def test_schemas_are_unified_where_arrow_can(tmp_path):
    put(tmp_path / "a.parquet", n=pa.array([1, 2], pa.int32()), c=pa.array(["x", "y"]).dictionary_encode())
    put(tmp_path / "b.parquet", n=pa.array([3], pa.int64()), c=pa.array(["z"]))
    put(tmp_path / "c.parquet", n=pa.array([4.5]), extra=pa.array([7.0]))  # float64 n; a column of its own
    frame = read_table(str(tmp_path))
    assert frame.names == ["n", "c", "extra"]
    assert column(frame, "n") == [1.0, 2.0, 3.0, 4.5]
    assert column(frame, "c") == ["x", "y", "z", None]  # missing where a file lacks the column
    assert np.isnan(column(frame, "extra")[:3]).all() and column(frame, "extra")[3] == 7.0
    chunks = list(iter_tables(str(tmp_path), chunk_rows=10))
    assert [chunk.names for chunk in chunks] == [frame.names] * 3


def test_files_whose_types_disagree_are_refused_naming_both_and_the_column(tmp_path):
    put(tmp_path / "a.parquet", x=[1.0], n=[1])
    put(tmp_path / "b.parquet", x=[2.0], n=[2])
    put(tmp_path / "c.parquet", x=[3.0], n=["three"])
    message = r"c\.parquet: column 'n' is string, but int64 in .*a\.parquet; the files of a dataset must agree"
    with pytest.raises(DataError, match=message):
        read_table(str(tmp_path))
    with pytest.raises(DataError, match=message):
        next(iter_tables(str(tmp_path)))


def test_repeated_names_in_a_file_of_a_dataset_are_refused(tmp_path):
    # One file with repeated names is read (renamed, noted); in a dataset they cannot be lined up.
    put(tmp_path / "a.parquet", x=[1.0])
    path = tmp_path / "b.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array([1.0]), pa.array([2.0])], ["x", "x"]), path)
    assert read_table(str(path)).names == ["x", "x.1"]
    with pytest.raises(DataError, match=r"b\.parquet repeats the column name 'x'; the files of a dataset need"):
        read_table(str(tmp_path))


def test_a_partition_named_as_a_column_is_refused(tmp_path):
    put(tmp_path / "year=2024" / "a.parquet", year=[2023.0], x=[1.0])
    with pytest.raises(DataError, match=r"folders named year=\.\.\. give a column 'year' that the files also hold"):
        read_table(str(tmp_path))


# ------------------------------------------------------------------ streaming


def make_dataset(folder: Path) -> str:
    put(folder / "p=1" / "a.parquet", x=[0.0, 1.0, 2.0, 3.0, 4.0], s=list("abcde"))
    put(folder / "p=1" / "b.parquet", x=[5.0, 6.0], s=list("fg"))
    put(folder / "p=2" / "a.parquet", x=[7.0, 8.0, 9.0, 10.0], s=list("hijk"))
    return str(folder)


def test_streaming_cuts_each_file_in_chunks_numbered_over_the_dataset(tmp_path):
    source = make_dataset(tmp_path / "data")
    chunks = list(iter_tables(source, chunk_rows=3))
    # A chunk never spans two files: 5 = 3 + 2, then 2, then 4 = 3 + 1.
    assert [chunk.n_rows for chunk in chunks] == [3, 2, 2, 3, 1]
    assert [chunk.offset for chunk in chunks] == [0, 3, 5, 7, 10]
    assert [chunk.source for chunk in chunks] == [
        f"{source} (p=1{os.sep}a.parquet)",
        f"{source} (p=1{os.sep}a.parquet)",
        f"{source} (p=1{os.sep}b.parquet)",
        f"{source} (p=2{os.sep}a.parquet)",
        f"{source} (p=2{os.sep}a.parquet)",
    ]
    whole = read_table(source)
    for j, name in enumerate(whole.names):
        assert np.concatenate([chunk.columns[j] for chunk in chunks]).tolist() == whole.columns[j].tolist(), name
    assert column(whole, "x") == [float(i) for i in range(11)]
    assert column(whole, "p") == [1.0] * 7 + [2.0] * 4
    # The same rows in the same order on every run: the split is the same.
    again = list(iter_tables(source, chunk_rows=3))
    assert [chunk.columns[0].tolist() for chunk in again] == [chunk.columns[0].tolist() for chunk in chunks]
    first = prepare_training(read_table(source), target="x", test_size=0.3, seed=1)
    second = prepare_training(read_table(source), target="x", test_size=0.3, seed=1)
    assert first.rows_test.tolist() == second.rows_test.tolist()


def test_chunks_join_the_row_groups_of_a_file(tmp_path):
    path = tmp_path / "groups.parquet"
    pq.write_table(pa.table({"x": np.arange(10.0)}), path, row_group_size=3)
    chunks = list(iter_tables(str(path), chunk_rows=4))
    assert [chunk.n_rows for chunk in chunks] == [4, 4, 2]
    assert [chunk.offset for chunk in chunks] == [0, 4, 8]
    assert chunks[1].columns[0].tolist() == [4.0, 5.0, 6.0, 7.0]
    assert {chunk.source for chunk in chunks} == {str(path)}


def test_a_dataset_of_no_rows_gives_one_empty_chunk_with_its_columns(tmp_path):
    put(tmp_path / "a.parquet", x=pa.array([], pa.float64()), s=pa.array([], pa.string()))
    put(tmp_path / "b.parquet", x=pa.array([], pa.float64()), s=pa.array([], pa.string()))
    chunks = list(iter_tables(str(tmp_path)))
    assert len(chunks) == 1 and chunks[0].n_rows == 0 and chunks[0].names == ["x", "s"]
    assert read_table(str(tmp_path)).n_rows == 0


def test_a_corrupt_file_of_a_dataset_is_named(tmp_path):
    source = make_dataset(tmp_path / "data")
    bad = tmp_path / "data" / "p=1" / "b.parquet"
    data = bytearray(bad.read_bytes())
    data[4:40] = b"\xff" * 36  # the first column chunk's pages, garbage; the footer intact
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"b\.parquet is not a readable Parquet file"):
        read_table(source)
    chunks = iter_tables(source, chunk_rows=3)
    assert [next(chunks).n_rows, next(chunks).n_rows] == [3, 2]  # the first file, read before the bad one
    with pytest.raises(DataError, match=r"b\.parquet is not a readable Parquet file"):
        next(chunks)


def test_a_file_without_a_footer_in_a_dataset_is_named(tmp_path):
    source = make_dataset(tmp_path / "data")
    (tmp_path / "data" / "p=2" / "a.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(DataError, match=r"p=2.a\.parquet is not a readable Parquet file"):
        read_table(source)
    with pytest.raises(DataError, match=r"p=2.a\.parquet is not a readable Parquet file"):
        count_rows(source)


# ------------------------------------------------------------------ identity and row counts


def test_source_identity_lists_every_file_read_in_order(tmp_path):
    source = make_dataset(tmp_path / "data")
    identity = source_identity(source)
    paths = [tmp_path / "data" / "p=1" / "a.parquet", tmp_path / "data" / "p=1" / "b.parquet"]
    paths.append(tmp_path / "data" / "p=2" / "a.parquet")
    assert [entry["path"] for entry in identity] == [str(p) for p in paths]
    for entry, path in zip(identity, paths, strict=True):
        status = os.stat(path)
        assert entry == {
            "path": str(path),
            "size": status.st_size,
            "mtime_ns": status.st_mtime_ns,
            "inode": status.st_ino,
            "device": status.st_dev,
        }
    # Rewriting a file changes its entry: a cache keyed by it is not reused.
    put(tmp_path / "data" / "p=1" / "b.parquet", x=[5.0, 6.0, 6.5], s=list("fgh"))
    changed = source_identity(source)
    assert changed[0] == identity[0] and changed[1] != identity[1]


def test_source_identity_of_other_sources(tmp_path, monkeypatch):
    csv = tmp_path / "t.csv"
    csv.write_text("x\n1\n")
    monkeypatch.chdir(tmp_path)
    (entry,) = source_identity("t.csv")
    assert entry["path"] == str(csv) and entry["size"] == 4  # absolute, though given relative
    assert source_identity("-") is None
    assert source_identity("iris") is None  # a built-in dataset: no file to key a cache by
    with pytest.raises(DataError, match=r"no such file: missing\.csv"):
        source_identity("missing.csv")


def test_count_rows_reads_parquet_metadata_only(tmp_path):
    path = put(tmp_path / "a.parquet", x=np.arange(7.0))
    assert count_rows(path) == 7
    csv = tmp_path / "t.csv"
    csv.write_text("x\n1\n2\n")
    assert count_rows(str(csv)) is None
    assert count_rows("-") is None and count_rows("iris") is None


def test_running_out_of_memory_while_reading_is_a_memory_error_not_a_broken_file(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from backprop.errors import MemoryLimitError
    from backprop.tabular import iter_tables

    path = tmp_path / "one.parquet"
    pq.write_table(pa.table({"x": [1.0, 2.0], "y": [0.0, 1.0]}), path)

    def starved(*args, **kwargs):  # what Arrow raises under `ulimit -v`
        raise pa.ArrowMemoryError("malloc of size 65536 failed")
        yield

    from backprop.tabular import parquet_files

    monkeypatch.setattr(parquet_files, "_batches", starved)
    with pytest.raises(MemoryLimitError, match=r"one.parquet: reading it ran out of memory \(malloc of size 65536"):
        list(iter_tables(str(path)))
