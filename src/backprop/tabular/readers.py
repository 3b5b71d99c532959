"""Reading a table from any source: :func:`read_table` (whole) and :func:`iter_tables` (in chunks).

This module picks the reader by the file's kind (CSV, Parquet, NumPy, a built-in
dataset name; a folder or a glob is a Parquet dataset); the readers themselves are
``csv_files``, ``parquet_files`` and ``numpy_files``. The rules of each source are in the
:mod:`backprop.tabular` docstring. :func:`source_identity` and :func:`count_rows` describe a
source without reading its data: a cache key, a row count.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from .._buffers import small_pages
from ..errors import DataError, ParameterError
from .arrow_tables import release_memory
from .csv_files import iter_csv, read_csv
from .frame import CHUNK_ROWS, Frame, cut, header_names
from .numpy_files import iter_npy, read_numpy
from .parquet_files import is_glob, iter_parquet, parquet_files, parquet_rows, read_parquet


def is_dataset_name(source: str) -> bool:
    """True if ``source`` names a built-in dataset and no file of that name exists."""
    from ..datasets import DATASETS

    return source in DATASETS and not os.path.exists(source)


def read_table(source: str, *, header: bool | None = None, stdin: BinaryIO | None = None) -> Frame:
    """Read a whole table: a CSV, Parquet, ``.npz``/``.npy`` file, a Parquet dataset, ``-`` or a dataset name.

    Parameters
    ----------
    source : str
        A path, a folder or a glob of Parquet files (``data/**/*.parquet``), ``-`` (standard
        input) or a built-in dataset name.
    header : bool or None, default None
        For CSV: whether the first row names the columns; None detects it.
    stdin : binary file, optional
        What ``-`` reads (default ``sys.stdin.buffer``).

    Returns
    -------
    Frame

    Raises
    ------
    DataError
        An empty file, ragged rows, a pickled ``.npz``, a folder without Parquet files, ...
        (the message names the file).
    MissingDependencyError
        pyarrow missing (a broken installation: it is a dependency).
    """
    if source != "-" and is_dataset_name(source):
        return _read_dataset(source)
    kind = _kind(source)
    if kind in ("npz", "npy"):
        return read_numpy(source, kind)
    with small_pages():  # the frame's arrays reuse the pages Arrow's parsing freed
        frame = read_parquet(source) if kind == "parquet" else read_csv(source, header, stdin)
    release_memory()  # the Arrow table is converted: its memory is not needed beside the frame's
    return frame


def iter_tables(
    source: str, chunk_rows: int = CHUNK_ROWS, *, header: bool | None = None, stdin: BinaryIO | None = None
) -> Iterator[Frame]:
    """Read a table in chunks of at most ``chunk_rows`` rows, so memory stays bounded for any size.

    CSV and Parquet files and datasets are streamed (their chunks also hold no
    more cells than fit :data:`backprop._memory.CHUNK_BYTES`, so a file of many
    columns comes in fewer rows at a time; a chunk of a Parquet dataset holds
    the rows of one file); ``.npy`` files are memory-mapped;
    ``.npz`` files and datasets are read whole and then cut. Every chunk
    has the same columns; :attr:`Frame.offset` says where it starts. A
    header-only file gives one chunk of zero rows.

    Parameters
    ----------
    source, header, stdin
        As for :func:`read_table`.
    chunk_rows : int, default :data:`CHUNK_ROWS`

    Yields
    ------
    Frame
    """
    if chunk_rows < 1:
        raise ParameterError(f"chunk_rows must be a positive integer, got chunk_rows={chunk_rows!r}")
    if source != "-" and is_dataset_name(source):
        yield from cut(_read_dataset(source), chunk_rows)
        return
    kind = _kind(source)
    if kind == "parquet":
        yield from iter_parquet(source, chunk_rows)
    elif kind == "npy":
        yield from iter_npy(source, chunk_rows)
    elif kind == "npz":
        yield from cut(read_numpy(source, kind), chunk_rows)
    else:
        yield from iter_csv(source, chunk_rows, header, stdin)


def _kind(source: str) -> str:
    """``csv``, ``parquet``, ``npz`` or ``npy``: by the source's form, the file's first bytes and its suffix."""
    if source == "-":
        return "csv"
    if os.path.isdir(source) or is_glob(source):  # a Parquet dataset
        return "parquet"
    if not os.path.exists(source):
        raise DataError(f"no such file: {source}")
    with open(source, "rb") as file:
        magic = file.read(6)
    suffix = os.path.splitext(source)[1].lower()
    if magic.startswith(b"PAR1") or suffix in (".parquet", ".pq"):
        return "parquet"
    if magic.startswith(b"\x93NUMPY"):
        return "npy"
    if magic.startswith(b"PK\x03\x04") or suffix == ".npz":
        return "npz"
    if suffix == ".npy":
        return "npy"
    return "csv"


def _files_of(source: str) -> list[str] | None:
    """The files ``source`` reads, in reading order; None for standard input and built-in datasets."""
    if source == "-" or is_dataset_name(source):
        return None
    if _kind(source) == "parquet":
        return parquet_files(source)[0]
    return [source]


def source_identity(source: str) -> list[dict[str, Any]] | None:
    """What identifies the data ``source`` reads, for a cache key: every file's path, size, time and inode.

    Parameters
    ----------
    source : str
        As for :func:`read_table`.

    Returns
    -------
    list of dict or None
        One dict per file read, in reading order (a CSV, NumPy or Parquet file: one; a
        Parquet folder or glob: each of its files), with ``path`` (absolute), ``size``,
        ``mtime_ns``, ``inode`` and ``device``. None for ``-`` and built-in datasets: they
        cannot be cached by their files.

    Raises
    ------
    DataError
        No such file, a folder without Parquet files, a glob matching nothing.
    """
    files = _files_of(source)
    if files is None:
        return None
    identity: list[dict[str, Any]] = []
    for path in files:
        try:
            status = os.stat(path)
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
        identity.append(
            {
                "path": os.path.abspath(path),
                "size": int(status.st_size),
                "mtime_ns": int(status.st_mtime_ns),
                "inode": int(status.st_ino),
                "device": int(status.st_dev),
            }
        )
    return identity


def count_rows(source: str) -> int | None:
    """The rows of a Parquet file, folder or glob, from its files' metadata (no data is read).

    Returns
    -------
    int or None
        None for any other source (a CSV or NumPy file, ``-``, a built-in dataset): counting
        its rows would mean reading it.
    """
    if source == "-" or is_dataset_name(source) or _kind(source) != "parquet":
        return None
    return parquet_rows(source)


def _read_dataset(name: str) -> Frame:
    """A built-in dataset's training and test parts together, the target column named ``target``."""
    from .. import datasets

    data = datasets.load(name, seed=0)
    X = np.concatenate([data.X_train, data.X_test]).astype(np.float64)
    y = np.concatenate([data.y_train, data.y_test])
    columns = [X[:, j].copy() for j in range(X.shape[1])]
    target: NDArray[Any]
    if data.target_names is not None:
        target = np.empty(len(y), dtype=object)
        target[:] = [data.target_names[int(i)] for i in y]
    else:
        target = y.astype(np.float64)
    names = header_names([*data.feature_names, "target"], [], name)
    return Frame(source=name, names=names, columns=[*columns, target])
