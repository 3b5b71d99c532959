"""Tables in memory as :class:`backprop.tabular.Frame`: pandas DataFrames, pyarrow Tables, dicts of columns.

:func:`frame_of` is what lets :class:`backprop.TabularModel` take any of
them (or a path, read by :func:`backprop.tabular.read_table`): numbers become
numeric columns (float64, NaN where missing), anything else text (str, None
where missing), as the file readers give them. pandas and pyarrow are never
imported here: their objects are recognised by their methods.

Imports numpy and :mod:`backprop.tabular`'s public names.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import BackpropTypeError, ShapeError
from .tabular import Frame, read_table


def frame_of(table: Any, *, header: bool | None = None) -> Frame:
    """A table as a :class:`~backprop.tabular.Frame`.

    Parameters
    ----------
    table : str, path-like, Frame, pandas DataFrame, pyarrow Table, dict or list of dicts
        A CSV, Parquet, ``.npz``/``.npy`` file or a built-in dataset name
        (read by :func:`backprop.tabular.read_table`); a DataFrame or Arrow
        table; a dict of column name → sequence of values (or → one value,
        for a single row); a list of rows as dicts. Numbers become numeric
        columns, anything else text (None and NaN are missing).
    header : bool or None
        For a CSV file: whether its first row names the columns (None detects it).

    Raises
    ------
    BackpropTypeError
        For anything else, or a column of dates or other objects.
    ShapeError
        For columns of different lengths or not one-dimensional.
    """
    if isinstance(table, Frame):
        return table
    if isinstance(table, str | os.PathLike):
        return read_table(os.fspath(table), header=header)
    names: list[str]
    columns: list[Any]
    if hasattr(table, "column_names") and hasattr(table, "column"):  # pyarrow.Table or RecordBatch
        source = "<pyarrow table>"
        names = [str(name) for name in table.column_names]
        columns = [table.column(j).to_numpy(zero_copy_only=False) for j in range(len(names))]
    elif hasattr(table, "iloc") and hasattr(table, "columns"):  # pandas.DataFrame, imported by its owner
        source = "<DataFrame>"
        names = [str(name) for name in table.columns]
        columns = [_pandas_values(table.iloc[:, j]) for j in range(len(names))]
    elif isinstance(table, Mapping):
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
            "table must be a file path or dataset name, a pandas DataFrame, a pyarrow Table, a dict of columns "
            f"or a list of rows as dicts, got {type(table).__name__}"
        )
    if len(set(names)) != len(names):
        raise ShapeError(f"{source}: the column names must be unique, got {names}")
    arrays = [_column(values, source, name) for name, values in zip(names, columns, strict=True)]
    lengths = {len(array) for array in arrays}
    if len(lengths) > 1:
        sizes = ", ".join(f"{name!r}: {len(array)}" for name, array in zip(names, arrays, strict=True))
        raise ShapeError(f"{source}: every column must have the same number of rows, got {sizes}")
    return Frame(source=source, names=names, columns=arrays)


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


__all__ = ["frame_of"]
