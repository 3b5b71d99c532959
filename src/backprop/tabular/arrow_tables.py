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
        # safe=False: an int64 beyond 2**53 becomes the nearest float, as a CSV number does.
        as_float = column.cast(pa.float64(), safe=False)
        return quiet_nans(np.asarray(as_float.to_numpy(zero_copy_only=False), dtype=np.float64))
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            column = column.cast(pa.timestamp(kind.unit))  # the same instants, in UTC
        values = np.asarray(column.to_numpy(zero_copy_only=False))
        if values.dtype.kind != "M":  # date64 comes as datetime.date objects
            values = values.astype("datetime64[ms]")
        return values
    if _is_text(pa, kind):
        return _coded(pa, column.dictionary_encode())
    if pa.types.is_null(kind):
        return np.full(len(column), None, dtype=object)
    return str(kind)


def _is_text(pa: Any, kind: Any) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind))


def _coded(pa: Any, column: Any) -> Coded:
    """A dictionary-encoded Arrow text column as a :class:`Coded` column (one dictionary for all its chunks)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.unify_dictionaries().combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if isinstance(column, pa.ChunkedArray):  # combine_chunks of dictionaries may keep it chunked
            column = column.chunk(0) if column.num_chunks else pa.array([], pa.dictionary(pa.int32(), pa.string()))
    codes = np.asarray(column.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    values = np.empty(len(column.dictionary), dtype=object)
    values[:] = column.dictionary.to_pylist()
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
