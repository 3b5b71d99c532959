"""Columns as numbers or text, and the specs that say how a column becomes network inputs.

:func:`parse_numbers` and :func:`as_text` read a :class:`~backprop.tabular.frame.Frame` column;
:class:`FeatureSpec` and :class:`TargetSpec` hold what was fitted for one column;
:func:`class_indices` maps a target column to class indices. Imports ``frame``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError
from .frame import Frame, listed

#: Cell values that mean "missing" (compared stripped and lower-cased).
MISSING = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none", "?", "<na>", "#n/a"})
#: The largest magnitude of a numeric feature or target: the network's inputs and targets are float32.
LARGEST = float(np.finfo(np.float32).max)
#: Text columns of at most this many cells are encoded in Python (see ``_strings``), larger ones by pyarrow.
SMALL_COLUMN = 100_000

#: A class label of a target column.
Label = str | int | float


def is_missing(text: str | None) -> bool:
    """Whether a cell is missing: None, or one of :data:`MISSING` once stripped and lower-cased."""
    return text is None or text.strip().lower() in MISSING


def quiet_nans(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """``values`` with every NaN quiet: a signalling NaN from a binary file makes arithmetic on it warn."""
    nan = np.isnan(values)
    return np.where(nan, np.nan, values) if nan.any() else values


@dataclass
class Parsed:
    """A column as numbers: values (NaN where missing), the missing mask, and the first cell that is not a number."""

    values: NDArray[np.float64]
    missing: NDArray[np.bool_]
    bad: int | None = None


class Coded(np.ndarray):  # type: ignore[type-arg, unused-ignore]
    """A text column (object array of str or None) that also holds its dictionary encoding.

    What the Arrow readers give for text: ``codes[i]`` is row i's position in ``values``
    (−1 where missing), so that the work on cells — stripping, spotting missing spellings,
    parsing numbers, looking categories up — is done once per distinct value, not per row.
    A slice or copy of the column is a plain array again (its ``codes`` are None).
    """

    codes: NDArray[np.int64] | None
    values: NDArray[Any]
    encoded: Encoded | None  # what :func:`encode` made of it, kept: a column is encoded by several steps

    def __array_finalize__(self, obj: Any) -> None:
        self.codes = None  # a view or slice: the encoding no longer matches its rows
        self.encoded = None

    @classmethod
    def of(cls, codes: NDArray[np.int64], values: NDArray[Any]) -> Coded:
        """The column of rows ``values[codes]`` (None where a code is −1)."""
        table = np.empty(len(values) + 1, dtype=object)
        table[:-1] = values
        column = table[codes].view(cls)
        column.codes, column.values = codes, values
        return column


@dataclass
class Encoded:
    """A text column as codes into its distinct stripped values: ``values[codes[i]]`` is row i (−1: missing)."""

    codes: NDArray[np.int64]
    values: list[str]

    @property
    def missing(self) -> NDArray[np.bool_]:
        return self.codes < 0

    def text(self) -> NDArray[Any]:
        """The column as stripped text, None where missing (equal cells share one str)."""
        table = np.empty(len(self.values) + 1, dtype=object)
        table[:-1] = self.values
        return table[self.codes]


def encode(column: NDArray[Any]) -> Encoded:
    """A text column's distinct stripped values and each row's code, the missing spellings as −1.

    Cheap for a :class:`Coded` column; otherwise pyarrow encodes the cells (a column holding
    something other than str or None goes cell by cell).
    """
    codes = getattr(column, "codes", None)
    if codes is not None and len(codes) == len(column):
        if column.encoded is not None:  # type: ignore[attr-defined]
            return column.encoded  # type: ignore[attr-defined,no-any-return]
        raw_codes, raw_values = codes, column.values.tolist()  # type: ignore[attr-defined]
    else:
        raw_codes, raw_values = _dictionary(column)
    # A dictionary may hold values no row uses (a pandas categorical's unused categories): not values.
    nulls = raw_codes.size > 0 and int(raw_codes.min()) < 0
    used = np.bincount(raw_codes[raw_codes >= 0] if nulls else raw_codes, minlength=len(raw_values)) > 0
    # Distinct raw values may strip to the same text: " red" and "red" are one category.
    mapping = np.empty(len(raw_values) + 1, dtype=np.int64)
    mapping[-1] = -1
    index: dict[str, int] = {}
    for k, (value, in_use) in enumerate(zip(raw_values, used.tolist(), strict=True)):
        mapping[k] = -1 if not in_use or is_missing(value) else index.setdefault(value.strip(), len(index))
    # The codes as they are where the mapping changes none of them (every value used, distinct once stripped).
    same = np.array_equal(mapping[:-1], np.arange(len(raw_values))) and raw_codes.dtype == np.int64
    encoded = Encoded(raw_codes if same else mapping[raw_codes], list(index))
    if codes is not None and len(codes) == len(column):
        column.encoded = encoded  # type: ignore[attr-defined]
    return encoded


def _dictionary(column: NDArray[Any]) -> tuple[NDArray[np.int64], list[Any]]:
    if column.dtype.kind in "fM":
        text, _ = as_text(column)
        column = text
    small = _strings(column) if column.size <= SMALL_COLUMN else None
    if small is not None:
        return small
    try:
        import pyarrow as pa  # type: ignore[import-untyped]

        encoded = pa.array(column, type=pa.string(), from_pandas=True).dictionary_encode()
        codes = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        return codes, encoded.dictionary.to_pylist()
    except (ImportError, TypeError, ValueError, OverflowError, ArithmeticError):
        pass  # not all str: cell by cell
    return _first_seen(column.tolist())


def _strings(column: NDArray[Any]) -> tuple[NDArray[np.int64], list[Any]] | None:
    """pyarrow's dictionary of a column of str and None cells (each value in the order of its first row), else None.

    Without pyarrow: converting cells to Arrow imports pandas where it is installed (0.27 s, a
    third of a small ``backprop train``); this takes ~0.2 µs a cell.
    """
    cells = column.tolist()
    if any(cell is not None and type(cell) is not str for cell in cells):
        return None  # NaN, pandas' NA, numbers: pyarrow's rules
    return _first_seen(cells)


def _first_seen(cells: list[Any]) -> tuple[NDArray[np.int64], list[Any]]:
    """Each cell's code, the index of its value in the order of first rows (None: −1), and those values."""
    index: dict[Any, int] = {}
    found = [-1 if cell is None else index.setdefault(cell, len(index)) for cell in cells]
    return np.array(found, dtype=np.int64), list(index)


def parse_numbers(column: NDArray[Any], decimal_comma: bool) -> Parsed:
    """A column as float64 numbers, stopping at the first cell that is not one.

    Parameters
    ----------
    column : ndarray of shape (n_rows,)
        Text (object array of str or None) or float64 numbers (NaN missing), as in a :class:`Frame`.
    decimal_comma : bool
        Also accept ``1,5`` for 1.5.

    Returns
    -------
    Parsed
        ``bad`` is the row of the first cell that is neither missing nor a number (None if every
        cell is one); the values past it are not filled in.
    """
    if column.dtype.kind == "f":
        values = np.asarray(column, dtype=np.float64)
        return Parsed(values, np.isnan(values))
    if column.dtype.kind == "M":  # dates are not numbers: the first one that is there is "bad"
        present = np.flatnonzero(~np.isnat(column))
        if present.size:
            return Parsed(np.full(len(column), np.nan), np.isnat(column), bad=int(present[0]))
        return Parsed(np.full(len(column), np.nan), np.ones(len(column), dtype=bool))
    codes: NDArray[np.int64] | None = getattr(column, "codes", None)
    dictionary: Any = getattr(column, "values", None)
    if codes is not None and len(codes) == len(column) and 2 * len(dictionary) <= len(column):
        # Few distinct cells (a Coded column): parse each once, those that rows use.
        cells: NDArray[Any] = np.array(dictionary, dtype=object)
        cells[np.bincount(codes[codes >= 0], minlength=len(cells)) == 0] = None
        distinct = parse_numbers(cells, decimal_comma)
        if distinct.bad is not None:  # text: the rows before the first bad one filled in, as below
            bad = int(np.argmax(codes == distinct.bad))
            values, missing = np.empty(len(codes)), np.zeros(len(codes), dtype=bool)
            values[:bad] = np.append(distinct.values, np.nan)[codes[:bad]]
            missing[:bad] = np.append(distinct.missing, True)[codes[:bad]]
            return Parsed(values, missing, bad=bad)
        values = np.append(distinct.values, np.nan)[codes]
        missing = np.append(distinct.missing, True)[codes]
        return Parsed(values, missing)
    try:  # the fast path: every cell a number (one beyond float64's range is inf, as float() makes it)
        with np.errstate(over="ignore"):
            values = np.asarray(column.astype(str), dtype=np.float64)
        if not np.isnan(values).any():
            return Parsed(values, np.zeros(len(values), dtype=bool))
    except (ValueError, TypeError):
        pass
    n = len(column)
    values = np.empty(n, dtype=np.float64)
    missing = np.zeros(n, dtype=bool)
    for i, cell in enumerate(column.tolist()):
        if is_missing(cell):
            missing[i] = True
            values[i] = np.nan
            continue
        text = cell.strip()
        try:
            values[i] = float(text)
        except ValueError:
            if decimal_comma and text.count(",") == 1 and "." not in text:
                try:
                    values[i] = float(text.replace(",", "."))
                    continue
                except ValueError:
                    pass
            return Parsed(values, missing, bad=i)
        if math.isnan(values[i]):
            missing[i] = True
    return Parsed(values, missing)


def missing_cells(column: NDArray[Any]) -> NDArray[np.bool_]:
    """A column's missing mask (NaN, NaT, None or a missing spelling), without its text."""
    missing: NDArray[np.bool_]
    if column.dtype.kind == "f":
        missing = np.isnan(column)
    elif column.dtype.kind == "M":
        missing = np.isnat(column)
    else:
        missing = encode(column).missing
    return missing


def as_text(column: NDArray[Any]) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    """A column as stripped text (object array) and its missing mask."""
    n = len(column)
    out = np.empty(n, dtype=object)
    if column.dtype.kind == "M":
        missing = np.isnat(column)
        out[:] = np.datetime_as_string(column).tolist()
        return out, missing
    if column.dtype.kind == "f":
        missing = np.isnan(column)
        out[:] = [number_text(v) for v in column.tolist()]
        return out, missing
    encoded = encode(column)
    return encoded.text(), encoded.missing


def number_text(value: float) -> str:
    """A number as a label or in a message: ``3`` for 3.0, else its repr."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def not_a_number(frame: Frame, name: str, row: int, column: NDArray[Any], rule: str) -> DataError:
    """The error for ``column[row]``, which should have been a number."""
    return DataError(f"{frame.source}: column {name!r}, {frame.where(row)}: {column[row]!r} is not a number; {rule}")


@dataclass
class FeatureSpec:
    """How one feature column becomes network inputs.

    Attributes
    ----------
    name : str
    kind : {"numeric", "categorical"}
    mean, scale : float
        Numeric columns: the input is ``(value - mean) / scale`` (0 and 1
        without standardisation).
    categories : list of str
        Categorical columns: one input per category, 1 for the row's category.
    fill : float, str or None
        What fills a missing cell (None: a missing cell is an error).
    dates : bool
        Numeric columns: the cells are dates or times, their value the days since
        1970-01-01 (``mean``, ``scale`` and ``fill`` in days).
    """

    name: str
    kind: Literal["numeric", "categorical"]
    mean: float = 0.0
    scale: float = 1.0
    categories: list[str] = field(default_factory=list)
    fill: float | str | None = None
    dates: bool = False
    _lookup: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)
    _lookup_of: list[str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def width(self) -> int:
        """Number of network inputs the column gives."""
        return 1 if self.kind == "numeric" else len(self.categories)

    def lookup(self) -> dict[str, int]:
        """Category → its one-hot position, built once (a prediction in small chunks asks for it per chunk)."""
        if self._lookup_of is not self.categories or len(self._lookup) != len(self.categories):
            self._lookup = {c: k for k, c in enumerate(self.categories)}
            self._lookup_of = self.categories
        return self._lookup

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        if self.kind == "numeric":
            doc = {"name": self.name, "kind": "numeric", "mean": self.mean, "scale": self.scale, "fill": self.fill}
            return {**doc, "dates": True} if self.dates else doc
        return {"name": self.name, "kind": "categorical", "categories": list(self.categories), "fill": self.fill}


@dataclass
class TargetSpec:
    """The target column: class labels, or numbers scaled by ``(y - mean) / scale``."""

    name: str
    kind: Literal["classes", "numeric"]
    classes: list[Label] = field(default_factory=list)
    mean: float = 0.0
    scale: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values."""
        if self.kind == "classes":
            return {"name": self.name, "kind": "classes", "classes": list(self.classes)}
        return {"name": self.name, "kind": "numeric", "mean": self.mean, "scale": self.scale}


def class_indices(frame: Frame, spec: TargetSpec, column: NDArray[Any]) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    """The class index of every row of the target ``column`` (−1 where missing), and the missing mask.

    Raises
    ------
    DataError
        A label that is not one of ``spec.classes``.
    """
    numeric = all(isinstance(c, int | float) for c in spec.classes)
    if numeric:
        parsed = parse_numbers(column, frame.decimal_comma)
        if parsed.bad is not None:
            raise DataError(
                f"{frame.source}: column {spec.name!r}, {frame.where(parsed.bad)}: {column[parsed.bad]!r} is not "
                f"one of the model's classes {listed([str(c) for c in spec.classes], 10)}"
            )
        missing = parsed.missing
        known = np.array([float(c) for c in spec.classes])
        order = np.argsort(known)
        place = np.clip(np.searchsorted(known[order], parsed.values), 0, len(known) - 1)
        found = (known[order][place] == parsed.values) & ~missing
        indices = np.full(len(column), -1, dtype=np.int64)
        indices[found] = order[place[found]]
        first_of: Any = lambda row: parsed.values[row]  # noqa: E731
    else:
        encoded = encode(column)
        missing = encoded.missing
        lookup_s = {str(c): k for k, c in enumerate(spec.classes)}
        indices = np.array([lookup_s.get(v, -1) for v in encoded.values] + [-1], dtype=np.int64)[encoded.codes]
        first_of = lambda row: encoded.values[encoded.codes[row]]  # noqa: E731  (one row's text, not the column's)
    unknown = np.flatnonzero((indices < 0) & ~missing)
    if unknown.size:
        first = first_of(unknown[0])
        shown = number_text(first) if isinstance(first, float) else str(first)
        raise DataError(
            f"{frame.source}: column {spec.name!r} has {unknown.size} row{'s' if unknown.size > 1 else ''} with "
            f"labels the model does not know, first {shown!r} at {frame.where(int(unknown[0]))}; "
            f"the model's classes are {listed([str(c) for c in spec.classes], 10)}"
        )
    return indices, missing
