"""Tables in memory as :class:`backprop.tabular.Frame`: pandas and polars DataFrames, Arrow tables, dicts of columns.

:func:`frame_of` is what lets :class:`backprop.TabularModel` take any of
them (or a path, read by :func:`backprop.tabular.read_table`). DataFrames and
Arrow tables go through Arrow (:func:`backprop.tabular.arrow_tables.frame_of_arrow`),
column by column, without a row-by-row copy of numbers: numbers and booleans
become float64 (NaN where missing), dates and timestamps ``datetime64`` (a
zoned one in UTC), text and categories object arrays of str (None where
missing), as the file readers give them. A pandas column Arrow cannot convert
(an object column of mixed types) is read cell by cell: numbers if every cell
is one, else text. Dicts of columns and lists of rows are read cell by cell.

pandas, polars and pyarrow are recognised by the module of the object's type:
none of them is imported here unless such an object is given (pyarrow then).

Imports numpy and :mod:`backprop.tabular`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import BackpropTypeError, ShapeError
from .tabular import Frame, read_table
from .tabular.arrow_tables import column_of_arrow, frame_of_arrow, pyarrow
from .tabular.frame import one_line


def frame_of(table: Any, *, header: bool | None = None) -> Frame:
    """A table as a :class:`~backprop.tabular.Frame`.

    Parameters
    ----------
    table : str, path-like, Frame, DataFrame, Arrow table, dict or list of dicts
        A CSV, Parquet, ``.npz``/``.npy`` file, a folder or glob of Parquet files, or a
        built-in dataset name (read by :func:`backprop.tabular.read_table`); a pandas
        DataFrame, a polars DataFrame or LazyFrame (collected), a pyarrow Table or
        RecordBatch, or any object with ``__arrow_c_stream__``; a dict of column name →
        sequence of values (or → one value, for a single row); a list of rows as dicts.
    header : bool or None
        For a CSV file: whether its first row names the columns (None detects it).

    Returns
    -------
    Frame
        One column per column of ``table``, of ``n_rows`` rows each: float64, ``datetime64``
        or object (str or None). A column of a type backprop cannot use (binary, lists,
        durations) is in :attr:`Frame.unsupported`.

    Raises
    ------
    BackpropTypeError
        For anything else, or a column of a dict or list of rows holding objects.
    ShapeError
        For repeated column names, or columns of different lengths or not one-dimensional.
    """
    if isinstance(table, Frame):
        return table
    if isinstance(table, str | os.PathLike):
        return read_table(os.fspath(table), header=header)
    table = collected(table)
    library = _library(table)
    if library == "polars":
        _check_unique([str(name) for name in table.columns], "<polars DataFrame>")
        return frame_of_arrow(_arrow_of(table.to_arrow, "<polars DataFrame>"), "<polars DataFrame>")
    if library == "pandas" and hasattr(table, "iloc") and hasattr(table, "columns"):
        return _pandas_frame(table)
    if library == "pyarrow" and hasattr(table, "column_names"):
        _check_unique([str(name) for name in table.column_names], "<pyarrow table>")
        return frame_of_arrow(table, "<pyarrow table>")
    if hasattr(table, "__arrow_c_stream__"):  # duckdb, ibis, ... through the Arrow PyCapsule interface
        arrow = _arrow_of(lambda: pyarrow().table(table), "<Arrow table>")
        _check_unique([str(name) for name in arrow.column_names], "<Arrow table>")
        return frame_of_arrow(arrow, "<Arrow table>")
    names: list[str]
    columns: list[Any]
    if isinstance(table, Mapping):
        source = "<dict>"
        names = [str(name) for name in table]
        values = list(table.values())
        if values and not any(_is_sequence(v) for v in values):
            values = [[v] for v in values]  # one row given as {column: value}
        columns = values
    elif isinstance(table, Sequence) and table and all(isinstance(row, Mapping) for row in table):
        source = "<rows>"
        names = list(dict.fromkeys(str(name) for row in table for name in row))
        columns = [[row.get(name) for row in table] for name in names]
    else:
        raise BackpropTypeError(
            "table must be a file path or dataset name, a pandas or polars DataFrame, a pyarrow Table, "
            f"a dict of columns or a list of rows as dicts, got {type(table).__name__}"
        )
    _check_unique(names, source)
    arrays = [_column(values, source, name) for name, values in zip(names, columns, strict=True)]
    _check_lengths(names, arrays, source)
    return Frame(source=source, names=names, columns=arrays)


def _arrow_of(convert: Callable[[], Any], source: str) -> Any:
    """``convert()``: a table as Arrow, or BackpropTypeError saying why it is not one (a polars Object column)."""
    try:
        return convert()
    except Exception as exc:  # polars' and pyarrow's own errors
        raise BackpropTypeError(f"{source}: cannot be read as an Arrow table: {one_line(exc)}") from None


def collected(table: Any) -> Any:
    """A polars LazyFrame computed into its DataFrame; anything else as it is."""
    if _library(table) == "polars" and callable(getattr(table, "collect", None)):
        return table.collect()
    return table


def non_numeric_column(table: Any, *, dates_only: bool = False) -> tuple[str, str] | None:
    """The first column of a DataFrame or Arrow table that does not hold numbers, and what it holds.

    Parameters
    ----------
    table : pandas or polars DataFrame, pyarrow Table or RecordBatch
        Anything else gives None.
    dates_only : bool
        Look for date, time and duration columns only, from the types alone (no value is read).

    Returns
    -------
    (name, what) or None
        ``what`` as a message says it: ``"text ('red')"``, ``"dates (Date)"``, ...
        Booleans count as numbers; so does an object column whose cells are all numbers.
    """
    library = _library(table)
    if library == "pandas" and hasattr(table, "columns") and hasattr(table, "dtypes"):  # a DataFrame, not a Series
        for j, (name, dtype) in enumerate(table.dtypes.items()):
            kind = getattr(dtype, "kind", "O")
            if kind in "Mm":
                return str(name), f"{'dates' if kind == 'M' else 'durations'} ({dtype})"
            if dates_only or kind in "biuf":
                continue
            for cell in table.iloc[:, j].tolist():
                if not (_missing(cell) or isinstance(cell, int | float | np.number)):
                    return str(name), _what(cell)
    elif library == "polars" and callable(getattr(table, "collect_schema", None)):
        for name, dtype in table.collect_schema().items():
            if dtype.is_temporal():
                return str(name), f"dates or times ({dtype})"
            if not (dates_only or dtype.is_numeric() or str(dtype) == "Boolean"):
                first = table.get_column(name).drop_nulls().head(1).to_list()
                return str(name), _what(first[0]) if first else f"{dtype} values"
    elif library == "pyarrow" and hasattr(table, "schema"):
        pa = pyarrow()
        for field in table.schema:
            kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
            if pa.types.is_temporal(kind):
                return str(field.name), f"dates or times ({kind})"
            numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
            if not (dates_only or numeric or pa.types.is_boolean(kind) or pa.types.is_null(kind)):
                first = table.column(field.name).drop_null()
                return str(field.name), _what(first[0].as_py()) if len(first) else f"{kind} values"
    return None


def _what(cell: Any) -> str:
    """A cell as a message names it: ``text ('red')`` or ``Decimal values (Decimal('1'))``."""
    kind = "text" if isinstance(cell, str | bytes) else f"{type(cell).__name__} values"
    return f"{kind} ({cell!r})"[:120]


def _library(table: Any) -> str | None:
    """``"pandas"``, ``"polars"`` or ``"pyarrow"`` if ``table``'s type (or a base) comes from one of them."""
    for kind in type(table).__mro__:
        root = kind.__module__.split(".")[0]
        if root in ("pandas", "polars", "pyarrow"):
            return root
    return None


def _check_unique(names: list[str], source: str) -> None:
    if len(set(names)) != len(names):
        raise ShapeError(f"{source}: the column names must be unique, got {names}")


def _check_lengths(names: list[str], arrays: list[NDArray[Any]], source: str) -> None:
    if len({len(array) for array in arrays}) > 1:
        sizes = ", ".join(f"{name!r}: {len(array)}" for name, array in zip(names, arrays, strict=True))
        raise ShapeError(f"{source}: every column must have the same number of rows, got {sizes}")


def _pandas_frame(table: Any) -> Frame:
    """A pandas DataFrame through Arrow; a column Arrow cannot convert (mixed types) cell by cell."""
    source = "<DataFrame>"
    names = [str(name) for name in table.columns]
    _check_unique(names, source)
    pa = pyarrow()
    try:
        arrow = pa.Table.from_pandas(table, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError):  # ArrowInvalid, ArrowTypeError: an object column of mixed types
        arrow = None
    if arrow is not None and arrow.num_columns == len(names):
        return frame_of_arrow(arrow.rename_columns(names), source)
    columns: list[NDArray[Any]] = []
    unsupported: dict[str, str] = {}
    for j, name in enumerate(names):
        series = table.iloc[:, j]
        try:
            values = column_of_arrow(pa.Array.from_pandas(series))
        except (pa.ArrowException, ValueError, TypeError):
            values = _column(_pandas_values(series), source, name)
        if isinstance(values, str):
            unsupported[name] = values
            values = np.full(len(series), None, dtype=object)
        columns.append(values)
    _check_lengths(names, columns, source)
    return Frame(source=source, names=names, columns=columns, unsupported=unsupported)


def _is_sequence(value: Any) -> bool:
    """A column's values (a list, an array, a pandas Series), not one cell."""
    if isinstance(value, str | bytes):
        return False
    return isinstance(value, Sequence | np.ndarray) or hasattr(value, "dtype")


def _pandas_values(series: Any) -> Any:
    """A pandas column as numpy: numbers (nullable ones too) as float64 with NaN where missing."""
    if getattr(series.dtype, "kind", "O") in "biuf":
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return series.to_numpy(dtype=object)


def _missing(cell: Any) -> bool:
    return (
        cell is None
        or (isinstance(cell, float | np.floating) and math.isnan(cell))
        or type(cell).__name__
        in (
            "NAType",
            "NaTType",
        )
    )


def _column(values: Any, source: str, name: str) -> NDArray[Any]:
    """One column as a Frame holds it: float64 numbers (NaN missing), or text (str, None missing)."""
    array = np.asarray(values, dtype=object) if not hasattr(values, "dtype") else np.asarray(values)
    if array.ndim != 1:
        raise ShapeError(f"{source}: column {name!r} must be one-dimensional, got shape {array.shape}")
    kind = array.dtype.kind
    if kind in "biuf":
        return array.astype(np.float64)
    if kind == "M":
        return array
    if kind in "US":
        array = array.astype(object)
    elif kind != "O":
        raise BackpropTypeError(f"{source}: column {name!r} holds {array.dtype} values; give numbers or text")
    cells = array.tolist()
    numbers = all(_missing(c) or (isinstance(c, int | float | np.number) and not isinstance(c, bool)) for c in cells)
    if numbers and any(not _missing(c) for c in cells):
        return np.array([math.nan if _missing(c) else float(c) for c in cells], dtype=np.float64)
    out = np.empty(len(cells), dtype=object)
    out[:] = [None if _missing(c) else c if isinstance(c, str) else str(c) for c in cells]
    return out


__all__ = ["collected", "frame_of", "non_numeric_column"]
