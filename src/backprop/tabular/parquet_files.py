"""Reading Parquet files and datasets (a folder or a glob of Parquet files) with ``pyarrow.dataset``.

A source is

* one Parquet file;
* a folder: every ``.parquet`` (or ``.pq``) file under it, at any depth; names that start with
  ``.`` or ``_`` (``_SUCCESS``, ``.crc`` files, ``_temporary/``) are skipped, as Arrow does;
* a glob (``data/*.parquet``, ``data/**/*.parquet``): the files it matches, less those a
  folder skips; each must be a Parquet file.

The files of a folder or glob are read in sorted path order (by path components), the rows of
each file in file order: row numbers, and so a train/test split, are the same on every run.
Folders named ``key=value`` between the folder (or the glob's fixed part) and a file give the
file's rows a column ``key`` (hive partitioning; ``__HIVE_DEFAULT_PARTITION__`` is missing).
The files' schemas are unified as Arrow can (an int32 and an int64 column become int64, an
integer and a float column float64, dictionary-encoded text plain text); two types that do
not unify are refused, naming both files and the column.

:func:`read_parquet` reads a source whole, :func:`iter_parquet` in chunks decoded only when
reached (at most a few batches of one file in memory at once): a corrupt page fails there,
mid-file, as a :class:`~backprop.errors.DataError` naming the file. A chunk never spans two
files; a chunk of a folder or glob has ``source`` ``"data (year=2024/part-0.parquet)"``, its
rows numbered over the whole dataset. :func:`parquet_files` lists the files a source reads
and :func:`parquet_rows` counts its rows from the files' metadata.

A single file is read with ``pyarrow.parquet`` alone, its dictionary-encoded columns decoded as
a dataset's scan decodes them (the same Frame): ``pyarrow.dataset`` takes 0.3 s to import (it
imports pandas where that is installed), a third of a small ``backprop train``. Folders and globs
are scanned with ``pyarrow.dataset``.

Imports ``frame`` and ``arrow_tables``; pyarrow is imported when a Parquet source is read.
:mod:`~backprop.tabular.readers` calls this module.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .._memory import available_bytes, check_large, format_bytes, rows_within
from ..errors import BackpropError, DataError, MemoryLimitError, MissingDependencyError
from .arrow_tables import frame_of_arrow
from .frame import Frame, listed, one_line

PARQUET_HINT = "pip install 'backprop[parquet]'"
#: File name endings read as Parquet in a folder.
SUFFIXES = (".parquet", ".pq")
#: Names skipped in a folder, as ``pyarrow.dataset`` skips them (``_SUCCESS``, ``.part-0.crc``).
IGNORED_PREFIXES = (".", "_")
#: Batches decoded ahead of the one being converted, per file: bounded memory, the disk kept busy.
READAHEAD = 2
#: What a streamed chunk's Arrow batch and its numpy columns hold per cell, at most (text aside).
_CELL_BYTES = 16


def _arrow() -> tuple[Any, Any]:
    """``pyarrow`` and ``pyarrow.parquet``, or MissingDependencyError (a broken install)."""
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError as exc:
        raise _missing() from exc
    return pa, pq


def _datasets() -> Any:
    """``pyarrow.dataset``, for folders and globs (see the module's docstring), or MissingDependencyError."""
    try:
        import pyarrow.dataset as ds  # type: ignore[import-untyped]
    except ImportError as exc:
        raise _missing() from exc
    return ds


def _missing() -> MissingDependencyError:
    return MissingDependencyError(
        f"reading Parquet files needs the pyarrow package, which this installation lacks: {PARQUET_HINT}",
        name="pyarrow",
    )


def is_glob(source: str) -> bool:
    """Whether ``source`` is a glob pattern (``*``, ``?`` or ``[``) rather than an existing file or folder."""
    return glob.has_magic(source) and not os.path.exists(source)


def _path_key(path: str) -> list[str]:
    """Sorted path order: by components, so that ``a/z.parquet`` and ``a/b/c.parquet`` sort as folders do."""
    return os.path.normpath(path).split(os.sep)


def _ignored(name: str) -> bool:
    return name.startswith(IGNORED_PREFIXES)


def parquet_files(source: str) -> tuple[list[str], str | None]:
    """The files ``source`` reads, in reading order, and the folder hive partitions start from.

    Parameters
    ----------
    source : str
        A Parquet file, a folder or a glob.

    Returns
    -------
    files : list of str
        Paths as found (relative if ``source`` is), sorted by path components.
    root : str or None
        The folder whose ``key=value`` subfolders are partitions; None for a single file.

    Raises
    ------
    DataError
        A folder without Parquet files (saying what it holds), a glob matching nothing, or a
        glob matching a file that is not Parquet.
    """
    if is_glob(source):
        parts = _path_key(source)
        fixed = parts[: next(i for i, part in enumerate(parts) if glob.has_magic(part))]
        root = os.sep.join(fixed) or (os.sep if source.startswith(os.sep) else ".")
        found = [
            path
            for path in glob.glob(source, recursive=True)
            if os.path.isfile(path) and not any(_ignored(part) for part in _path_key(os.path.relpath(path, root)))
        ]
        if not found:
            raise DataError(f"no file matches {source}")
        for path in found:
            if not path.lower().endswith(SUFFIXES) and not _has_parquet_magic(path):
                raise DataError(f"{source} matches {path}, which is not a Parquet file; a glob reads Parquet files")
        return sorted(found, key=_path_key), root
    if not os.path.isdir(source):
        return [source], None
    files: list[str] = []
    others: list[str] = []
    for folder, subfolders, names in os.walk(source):
        subfolders[:] = [name for name in subfolders if not _ignored(name)]
        for name in names:
            if _ignored(name):
                continue
            (files if name.lower().endswith(SUFFIXES) else others).append(os.path.join(folder, name))
    if not files:
        held = f"it holds {len(others)} other file{'s' if len(others) != 1 else ''}: " if others else "it is empty"
        shown = listed(sorted(os.path.relpath(p, source) for p in others), 5) if others else ""
        raise DataError(
            f"folder {source} holds no .parquet files ({held}{shown}); a folder is read as a Parquet dataset, "
            "give a CSV file by its own name"
        )
    return sorted(files, key=_path_key), source


def _folders(path: str, root: str) -> list[str]:
    """The folders between ``root`` and the file ``path``."""
    return _path_key(os.path.relpath(os.path.dirname(path), root))


def _has_parquet_magic(path: str) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read(4) == b"PAR1"
    except OSError:
        return False


#: What Arrow's messages say when memory ran out (an ArrowMemoryError, or a C++ bad_alloc under ``ulimit -v``).
_OUT_OF_MEMORY = ("malloc of size", "bad_alloc", "out of memory", "cannot allocate memory")


def _unreadable(path: str, exc: BaseException) -> DataError | MemoryLimitError:
    text = one_line(exc)
    if isinstance(exc, MemoryError) or any(sign in text.lower() for sign in _OUT_OF_MEMORY):
        available = available_bytes() or 0
        return MemoryLimitError(
            f"{path}: reading it ran out of memory ({text}; {format_bytes(available)} available); "
            "free memory, raise the limit (ulimit -v), or read it with smaller row groups",
            0,
            available,
        )
    return DataError(f"{path} is not a readable Parquet file: {text}")


@dataclass
class _Source:
    """A source opened: its files, their row counts as their metadata say, and how to scan them."""

    source: str
    files: list[str]
    root: str | None
    rows: list[int]
    schema: Any  # pyarrow.Schema: the files' unified schema, then the partition columns
    dataset: Any  # pyarrow.dataset.Dataset over ``files``, or None for a single file (read by pyarrow.parquet)
    fragments: list[Any]  # the dataset's fragments, one per file, in the files' order
    decode: bool = False  # a single file's dictionary-encoded columns are cast to ``schema``'s plain types

    def label(self, index: int) -> str:
        """What a chunk of file ``index`` is called in messages."""
        if self.root is None:
            return self.source
        return f"{self.source} ({os.path.relpath(self.files[index], self.root)})"


def _footers(files: list[str]) -> tuple[list[Any], list[int]]:
    """Each file's Arrow schema and row count, from its footer (a file that has none is named)."""
    _, pq = _arrow()
    schemas, rows = [], []
    for path in files:
        try:
            with pq.ParquetFile(path) as file:
                schemas.append(file.schema_arrow)
                rows.append(int(file.metadata.num_rows))
        except Exception as exc:  # pyarrow's ArrowInvalid, OSError, ...
            raise _unreadable(path, exc) from None
    return schemas, rows


def _plain(schema: Any) -> Any:
    """``schema`` with dictionary-encoded columns as their values' type: files may encode a column or not."""
    pa, _ = _arrow()
    fields = [
        field.with_type(field.type.value_type) if pa.types.is_dictionary(field.type) else field for field in schema
    ]
    return pa.schema(fields)


def _unified(files: list[str], schemas: list[Any]) -> Any:
    """One schema for every file, or DataError naming the two files and the column that disagree."""
    pa, _ = _arrow()
    unified = _plain(schemas[0])
    first_of: dict[str, str] = dict.fromkeys(unified.names, files[0])
    for path, schema in zip(files[1:], schemas[1:], strict=True):
        schema = _plain(schema)
        try:
            unified = pa.unify_schemas([unified, schema], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            for field in schema:
                if field.name not in first_of:
                    continue
                known = unified.field(field.name)
                try:
                    pa.unify_schemas([pa.schema([known]), pa.schema([field])], promote_options="permissive")
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                    raise DataError(
                        f"{path}: column {field.name!r} is {field.type}, but {known.type} in {first_of[field.name]}; "
                        "the files of a dataset must agree on each column's type (convert one of them)"
                    ) from None
            raise DataError(f"{path}: its columns do not unify with those of {files[0]}") from None
        for name in schema.names:
            first_of.setdefault(name, path)
    return unified


def _open(source: str) -> _Source:
    """The files of ``source``, their unified schema and the dataset that scans them."""
    pa, _ = _arrow()
    files, root = parquet_files(source)
    schemas, rows = _footers(files)
    for path, schema in zip(files, schemas, strict=True):
        names = schema.names
        if len(set(names)) != len(names):
            if root is None:  # pyarrow.dataset refuses repeated names; the file reader takes them
                return _Source(source, files, None, rows, schema, None, [])
            repeated = sorted({name for name in names if names.count(name) > 1})
            raise DataError(
                f"{path} repeats the column name{'s' if len(repeated) > 1 else ''} {listed(repeated)}; "
                "the files of a dataset need distinct column names"
            )
    schema = _unified(files, schemas)
    if root is None:  # one file: its own reader, decoding dictionaries as the dataset's scan did
        return _Source(source, files, None, rows, schema, None, [], decode=not schema.equals(schemas[0]))
    ds = _datasets()
    keys = {part.split("=", 1)[0] for path in files for part in _folders(path, root) if "=" in part}
    clash = sorted(keys & set(schema.names))
    if clash:
        raise DataError(
            f"{source}: folders named {clash[0]}=... give a column {clash[0]!r} that the files also hold; "
            "rename the folders or the column"
        )
    partitioning = None
    if keys:  # key=value folders: pyarrow finds the partition columns' types from the folder names
        try:
            partitioning = ds.dataset(
                files, format="parquet", partitioning=ds.HivePartitioning.discover(), partition_base_dir=root
            ).partitioning
        except Exception as exc:
            raise DataError(f"{source}: its key=value folders are not readable partitions: {one_line(exc)}") from None
        schema = pa.schema([*schema, *partitioning.schema])
    try:  # each file's columns are cast to the unified schema as they are read
        dataset = ds.dataset(
            files, schema=schema, format="parquet", partitioning=partitioning, partition_base_dir=root if keys else None
        )
    except Exception as exc:
        raise DataError(f"{source} is not a readable Parquet dataset: {one_line(exc)}") from None
    fragments = list(dataset.get_fragments())
    by_path = {os.path.normpath(fragment.path): fragment for fragment in fragments}
    if len(by_path) == len(files) == len(fragments):  # (pyarrow keeps the order given; found by path all the same)
        fragments = [
            by_path.get(os.path.normpath(path), fragment) for path, fragment in zip(files, fragments, strict=True)
        ]
    return _Source(source, files, root, rows, schema, dataset, fragments)


def parquet_rows(source: str) -> int:
    """The rows of a Parquet file, folder or glob, as the files' metadata say (no data is read)."""
    files, _ = parquet_files(source)
    return sum(_footers(files)[1])


def read_parquet(source: str) -> Frame:
    """A Parquet file, folder or glob, whole, as one Frame.

    Parameters
    ----------
    source : str
        A Parquet file, a folder of them or a glob (see the module's docstring).

    Returns
    -------
    Frame
        Of ``sum(rows of each file)`` rows, the files' unified columns then the partition columns.

    Raises
    ------
    DataError
        A file that is not Parquet or is corrupt, files whose columns' types disagree (naming
        the files and the column), a folder without Parquet files.
    MemoryLimitError
        The table, as the files' metadata size it, does not fit in the memory available.
    """
    _, pq = _arrow()
    opened = _open(source)
    n_rows = sum(opened.rows)
    width = len(opened.schema)
    check_large(n_rows * width * _CELL_BYTES, f"reading {source} whole ({n_rows:,} rows × {width:,} columns)")
    try:
        if opened.dataset is None:
            # Decoding happens in both: a corrupt page fails in read, text that is not UTF-8 in the conversion.
            with pq.ParquetFile(opened.files[0]) as file:
                table = file.read()
            return frame_of_arrow(table.cast(opened.schema) if opened.decode else table, source, 0)
        return frame_of_arrow(opened.dataset.to_table(), source, 0)
    except BackpropError:
        raise
    except Exception as exc:  # pyarrow's ArrowInvalid, OSError, ..., and UnicodeDecodeError
        if len(opened.files) == 1:
            raise _unreadable(opened.files[0], exc) from None
        failure = exc
    # The whole dataset failed: name the first file that fails alone.
    for index in range(len(opened.files)):
        for _ in _file_chunks(opened, index, 1 << 20, 0):
            pass
    raise DataError(f"{source} is not a readable Parquet dataset: {one_line(failure)}")


def iter_parquet(source: str, chunk_rows: int) -> Iterator[Frame]:
    """A Parquet file, folder or glob in Frames of at most ``chunk_rows`` rows, each decoded only when reached.

    Parameters
    ----------
    source : str
        As for :func:`read_parquet`.
    chunk_rows : int
        Rows per chunk at most; fewer for a wide table (a chunk's cells fit
        :data:`backprop._memory.CHUNK_BYTES`) and at the end of each file.

    Yields
    ------
    Frame
        Every chunk with the same columns; :attr:`Frame.offset` counts the rows of the
        dataset before it. A source of no rows gives one chunk of zero rows.
    """
    opened = _open(source)
    chunk_rows = min(chunk_rows, rows_within(max(1, len(opened.schema)) * _CELL_BYTES))
    offset = 0
    for index in range(len(opened.files)):
        for frame in _file_chunks(opened, index, chunk_rows, offset):
            if offset > 0:
                frame.notes = []  # a repeated name is noted once, in the first chunk, as for a CSV
            offset += frame.n_rows
            yield frame
    if offset == 0:
        yield frame_of_arrow(opened.schema.empty_table(), source, 0)


def _batches(opened: _Source, index: int, chunk_rows: int) -> Iterator[Any]:
    """The record batches of file ``index``, decoded as they are reached (a few ahead)."""
    _, pq = _arrow()
    if opened.dataset is None:
        with pq.ParquetFile(opened.files[index]) as file:
            yield from file.iter_batches(batch_size=chunk_rows, use_threads=False)
        return
    ds = _datasets()
    # One row group at a time, no read-ahead buffers: streaming memory stays near one chunk's
    # (pre-buffering and threads held 90-170 MB more on a 145 MB folder).
    scanner = ds.Scanner.from_fragment(
        opened.fragments[index],
        schema=opened.schema,
        batch_size=chunk_rows,
        batch_readahead=READAHEAD,
        use_threads=False,
        fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False),
    )
    yield from scanner.to_batches()


def _file_chunks(opened: _Source, index: int, chunk_rows: int, offset: int) -> Iterator[Frame]:
    """File ``index`` in Frames of ``chunk_rows`` rows (the last fewer); a failure names the file."""
    pa, _ = _arrow()
    where = opened.label(index)
    batches = _batches(opened, index, chunk_rows)
    pending: list[Any] = []
    held = 0
    while True:
        ready: list[Frame] = []
        try:  # each batch is decoded only now: a corrupt page fails here, in the middle of the file
            batch = next(batches, None)
            if batch is not None and batch.num_rows:
                pending.append(batch)
                held += batch.num_rows
            # Row groups cut batches short: whole chunks are cut from what is held.
            while held >= chunk_rows or (batch is None and held):
                table = pa.Table.from_batches(pending)
                table = table.cast(opened.schema) if opened.decode else table
                take = min(chunk_rows, held)
                ready.append(frame_of_arrow(table.slice(0, take), where, offset))
                pending, held = table.slice(take).to_batches(), held - take
                offset += take
        except BackpropError:
            raise
        except Exception as exc:  # pyarrow's errors, OSError, UnicodeDecodeError
            raise _unreadable(opened.files[index], exc) from None
        yield from ready
        if batch is None:
            return
