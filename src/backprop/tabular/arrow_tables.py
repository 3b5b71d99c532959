"""Arrow tables as :class:`~backprop.tabular.frame.Frame`: the one conversion every reader ends with.

CSV (``pyarrow.csv``), Parquet files and datasets (``pyarrow.dataset``) and tables in
memory (pyarrow, pandas, polars) all arrive as Arrow tables or record batches;
:func:`frame_of_arrow` turns one into a Frame, column by column, without a row-by-row copy
for numbers:

* integers, floats, decimals and booleans → float64 (NaN where null);
* dates and timestamps → ``datetime64`` (NaT where null; a zoned timestamp in UTC);
* text (and dictionary-encoded text) → object arrays of str (None where null);
* anything else (binary, lists, durations, times of day, ...) → :attr:`Frame.unsupported`.

Imports ``frame``, ``columns`` and ``threads``; pyarrow is imported by the caller's reader, never at import.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import MissingDependencyError
from .columns import Coded, quiet_nans
from .frame import Frame, header_names
from .threads import each_column

#: How to install pyarrow when it is missing (it is a dependency: only a broken install lacks it).
ARROW_HINT = "pip install pyarrow"


def pyarrow() -> Any:
    """The ``pyarrow`` module, or MissingDependencyError saying how to install it."""
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
    except ImportError as exc:
        raise MissingDependencyError(f"reading tables needs the pyarrow package: {ARROW_HINT}", name="pyarrow") from exc
    return pa


def coded_text() -> Any:
    """The Arrow type a reader asks text columns to be parsed as: dictionary-encoded strings (the codes
    of a Frame's :class:`~backprop.tabular.columns.Coded` column, found on pyarrow's threads)."""
    pa = pyarrow()
    return pa.dictionary(pa.int32(), pa.string())


def release_memory() -> None:
    """Give the OS back the memory Arrow's pool holds but no array uses: after a whole table is read
    and converted, its parsing buffers and the Arrow table itself (hundreds of MB for a large CSV)
    would otherwise stay in the process beside the Frame, which lives in numpy's memory."""
    pyarrow().default_memory_pool().release_unused()


def column_of_arrow(column: Any) -> NDArray[Any] | str:
    """One Arrow array or chunked array as a Frame column, or the name of its type if backprop cannot use it."""
    pa = pyarrow()
    kind = column.type
    if pa.types.is_dictionary(kind) and _is_text(pa, kind.value_type):
        return _coded(pa, column)
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if (
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_boolean(kind)
    ):
        return quiet_nans(_numbers(pa, column))
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            column = column.cast(pa.timestamp(kind.unit))  # the same instants, in UTC
        return _dates(pa, column)
    if _is_text(pa, kind):
        return _coded(pa, column.dictionary_encode())
    if pa.types.is_null(kind):
        return np.full(len(column), None, dtype=object)
    return str(kind)


def _chunks(pa: Any, column: Any) -> list[Any]:
    return list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]


def _numbers(pa: Any, column: Any) -> NDArray[np.float64]:
    """A numeric Arrow column as float64 (NaN where null): Arrow's own buffer where it is one, else
    copied into one numpy array (numpy's memory rather than a concatenation in Arrow's: fewer page faults)."""
    chunks = _chunks(pa, column)
    if len(chunks) == 1 and chunks[0].type == pa.float64() and not chunks[0].null_count:
        return buffer_values(chunks[0], np.dtype(np.float64))  # one buffer: numpy reads Arrow's own
    # safe=False: an int64 beyond 2**53 becomes the nearest float, as a CSV number does.
    as_float = [c if c.type == pa.float64() else c.cast(pa.float64(), safe=False) for c in chunks]
    return _joined(as_float, len(column), np.dtype(np.float64), float("nan"))


def _joined(
    chunks: list[Any], n: int, kind: np.dtype[Any], null: Any, stored: np.dtype[Any] | None = None
) -> NDArray[Any]:
    """Arrow arrays of fixed-width values one after the other in one numpy array of ``kind`` (``null``
    where null), each copied from its buffer (and widened) without a concatenation in Arrow's memory.

    ``stored``: the numpy type of the buffers' values (by default, the Arrow type's own)."""
    out = np.empty(n, dtype=kind)
    start = 0
    for chunk in chunks:
        size = len(chunk)
        if size:
            part = out[start : start + size]
            part[...] = buffer_values(chunk, np.dtype(chunk.type.to_pandas_dtype()) if stored is None else stored)
            if chunk.null_count:
                part[null_mask(chunk)] = null
        start += size
    return out


# Arrow's buffers read by numpy directly: pyarrow's to_numpy and fill_null go through its pandas code, which
# imports pandas where it is installed (0.27 s, a third of a small `backprop train data.csv`; 2026-12-06).


def buffer_values(chunk: Any, kind: np.dtype[Any]) -> NDArray[Any]:
    """A fixed-width Arrow array's values as a read-only numpy view of its buffer (whatever sits under a null)."""
    if not len(chunk):  # an empty array may have no buffer at all
        return np.empty(0, kind)
    return np.frombuffer(chunk.buffers()[1], kind, len(chunk), kind.itemsize * chunk.offset)


def null_mask(chunk: Any) -> NDArray[np.bool_]:
    """True where an Arrow array's entry is null, from its validity bitmap (bit i of the bitmap: entry i is set)."""
    validity = chunk.buffers()[0]
    if validity is None:
        return np.zeros(len(chunk), dtype=bool)
    first, shift = divmod(chunk.offset, 8)  # only the bytes of this slice's bits
    count = (shift + len(chunk) + 7) // 8
    bits = np.unpackbits(np.frombuffer(validity, np.uint8, count, first), bitorder="little")
    mask: NDArray[np.bool_] = bits[shift : shift + len(chunk)] == 0
    return mask


def _dates(pa: Any, column: Any) -> NDArray[np.datetime64]:
    """A timestamp or date Arrow column as datetime64 in its unit (date32: days, date64: ms), NaT where null."""
    kind = column.type
    stored: np.dtype[Any]
    if pa.types.is_timestamp(kind):
        unit, stored = kind.unit, np.dtype(np.int64)
    else:
        unit, stored = ("D", np.dtype(np.int32)) if pa.types.is_date32(kind) else ("ms", np.dtype(np.int64))
    return _joined(_chunks(pa, column), len(column), np.dtype(f"datetime64[{unit}]"), np.datetime64("NaT"), stored)


def _is_text(pa: Any, kind: Any) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind))


def _coded(pa: Any, column: Any) -> Coded:
    """A dictionary-encoded Arrow text column as a :class:`Coded` column (one dictionary for all its chunks)."""
    if isinstance(column, pa.ChunkedArray) and column.num_chunks > 1:
        column = column.unify_dictionaries()  # one dictionary, each chunk's indices into it
    chunks = _chunks(pa, column)
    dictionary = chunks[0].dictionary if chunks else pa.array([], pa.string())
    codes = _joined([chunk.indices for chunk in chunks], len(column), np.dtype(np.int64), -1)
    values = np.empty(len(dictionary), dtype=object)
    values[:] = dictionary.to_pylist()
    return Coded.of(codes, values)


def frame_of_arrow(table: Any, where: str, offset: int = 0) -> Frame:
    """A pyarrow Table or RecordBatch as a Frame; a repeated column name is renamed ``name.1`` (noted).

    Parameters
    ----------
    table : pyarrow.Table or pyarrow.RecordBatch
    where : str
        The source, for messages (a file name, ``<DataFrame>``, ...).
    offset : int
        Rows of the source before this table (:attr:`Frame.offset`).
    """
    names = [str(name) for name in table.column_names]
    notes: list[str] = []
    if len(set(names)) != len(names):  # Parquet and CSV allow repeated names; a Frame does not
        names = header_names(names, notes, where)
    columns: list[NDArray[Any]] = []
    unsupported: dict[str, str] = {}
    converted = each_column(column_of_arrow, table.columns, table.num_rows * table.num_columns)
    for name, column, values in zip(names, table.columns, converted, strict=True):
        if isinstance(values, str):
            unsupported[name] = values
            values = np.full(len(column), None, dtype=object)
        columns.append(values)
    return Frame(source=where, names=names, columns=columns, offset=offset, notes=notes, unsupported=unsupported)
