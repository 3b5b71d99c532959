"""Reading Parquet files with pyarrow, imported only when a Parquet file is read.

Imports ``frame`` and ``columns``; :mod:`~backprop.tabular.readers` calls :func:`read_parquet`
and :func:`iter_parquet`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError, MissingDependencyError
from .columns import quiet_nans
from .frame import Frame, header_names, one_line

PARQUET_HINT = "pip install 'backprop[parquet]'"


def _pyarrow() -> Any:
    try:
        import pyarrow.parquet  # type: ignore[import-untyped]
    except ImportError as exc:
        raise MissingDependencyError(
            f"reading Parquet files needs the pyarrow package: {PARQUET_HINT}", name="pyarrow"
        ) from exc
    return pyarrow.parquet


def _arrow_frame(table: Any, where: str, offset: int) -> Frame:
    import pyarrow as pa

    names = [str(name) for name in table.column_names]
    notes: list[str] = []
    if len(set(names)) != len(names):  # Parquet allows repeated names; a Frame does not
        names = header_names(names, notes, where)
    columns: list[NDArray[Any]] = []
    unsupported: dict[str, str] = {}
    for name, column in zip(names, table.columns, strict=True):
        kind = column.type
        if pa.types.is_dictionary(kind):
            column = column.cast(kind.value_type)
            kind = column.type
        numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
        if numeric or pa.types.is_boolean(kind):
            # safe=False: an int64 beyond 2**53 becomes the nearest float, as a CSV number does.
            as_float = column.cast(pa.float64(), safe=False)
            values = quiet_nans(np.asarray(as_float.to_numpy(zero_copy_only=False), dtype=np.float64))
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            values = np.empty(len(column), dtype=object)
            values[:] = column.to_pylist()
        else:
            unsupported[name] = str(kind)
            values = np.full(len(column), None, dtype=object)
        columns.append(values)
    return Frame(source=where, names=names, columns=columns, offset=offset, notes=notes, unsupported=unsupported)


def read_parquet(source: str) -> Frame:
    """The whole Parquet file as one Frame."""
    parquet = _pyarrow()
    try:
        # Decoding happens in both: a corrupt page fails in read, text that is not UTF-8 in _arrow_frame.
        # ParquetFile, not parquet.read_table: the latter refuses repeated column names ("Multiple matches").
        with parquet.ParquetFile(source) as file:
            return _arrow_frame(file.read(), source, 0)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid, OSError, ..., and UnicodeDecodeError
        raise DataError(f"{source} is not a readable Parquet file: {one_line(exc)}") from None


def iter_parquet(source: str, chunk_rows: int) -> Iterator[Frame]:
    """The Parquet file in Frames of at most ``chunk_rows`` rows, each decoded only when reached."""
    parquet = _pyarrow()
    import pyarrow as pa

    try:
        file = parquet.ParquetFile(source)
        batches = file.iter_batches(batch_size=chunk_rows)
    except Exception as exc:
        raise DataError(f"{source} is not a readable Parquet file: {one_line(exc)}") from None
    offset, empty = 0, True
    while True:
        try:  # each batch is decoded only now: a corrupt page fails here, in the middle of the file
            batch = next(batches, None)
            if batch is None:
                frame = _arrow_frame(file.schema_arrow.empty_table(), source, 0) if empty else None
            else:
                frame = _arrow_frame(pa.Table.from_batches([batch]), source, offset)
        except Exception as exc:
            raise DataError(f"{source} is not a readable Parquet file: {one_line(exc)}") from None
        if frame is not None:
            yield frame
        if batch is None:
            return
        empty = False
        offset += batch.num_rows
