"""CSV text of ``backprop predict``, vectorised.

Today's text -- Python's csv writer on Python values -- byte for byte, without a Python call per
cell: every cell of a column is a row of a byte matrix (zero bytes where its text has none), the
columns side by side with their commas make the chunk's lines, and dropping the zero bytes gives
the text. Numbers are rounded in float64 where that is exactly Python's rounding (:func:`_rounded`),
which is every cell but those within a few ulps of a tie, a subnormal, zero, infinity or NaN:
those few are formatted by Python. Kept input columns are joined by pyarrow instead (their text
has any length).

:class:`Labels`, :func:`csv_line` and :func:`csv_chunk` are what ``cli/predict.py`` writes with.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..tabular import Frame


def plain_cell(value: Any) -> Any:
    """A cell as JSON and the CSV writer take it: None for NaN, an int for a whole float, else itself."""
    if isinstance(value, float):
        return None if math.isnan(value) else (int(value) if value.is_integer() else value)
    return value


_POW10 = np.array([float(10**i) for i in range(23)])  # exact in float64 up to 10**22
_POW10_INT = 10 ** np.arange(19, dtype=np.int64)
_ZERO, _DOT, _MINUS, _PLUS, _E = (ord(c) for c in "0.-+e")
#: Above this many bytes a class label goes through pyarrow rather than a byte matrix a row.
_WIDEST_LABEL = 64
#: Up to this many unusual probabilities in a chunk are written by Python (see :func:`probability_bytes`).
_FEW = 64


def _arrow() -> Any:
    from ..tabular.arrow_tables import pyarrow

    return pyarrow()


@functools.cache
def _quoted_characters() -> str:
    """The characters that make this Python's csv writer quote a field (``\\r`` only from 3.12 on)."""
    quoted = ""
    for char in ',"\r\n':
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([f"a{char}b", "c"])
        if buffer.getvalue().startswith('"'):
            quoted += char
    return quoted


def _field(value: Any) -> str:
    """One cell as the csv writer writes it (QUOTE_MINIMAL): None empty, a float its repr."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    else:
        text = repr(value) if isinstance(value, float) else str(value)
    if any(char in text for char in _quoted_characters()):
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_line(cells: list[Any]) -> str:
    """One row as the csv writer writes it (a lone empty cell is ``""``, so that the row is not blank)."""
    if len(cells) == 1 and _field(cells[0]) == "":
        return '""\n'
    return ",".join(_field(cell) for cell in cells) + "\n"


@dataclass(frozen=True)
class Labels:
    """The class labels as CSV fields: a byte matrix (a row a class) and a pyarrow array."""

    matrix: NDArray[np.uint8] | None  # None: a label too long, or holding a zero byte
    arrow: Any

    @classmethod
    def of(cls, classes: list[Any]) -> Labels:
        fields = [_field(c) for c in classes]
        encoded = [text.encode("utf-8") for text in fields]
        widest = max((len(b) for b in encoded), default=0)
        matrix = None
        if widest <= _WIDEST_LABEL and not any(0 in b for b in encoded):
            matrix = np.zeros((len(encoded), -(-max(widest, 1) // 4) * 4), dtype=np.uint8)  # words of 4 bytes
            for i, b in enumerate(encoded):
                matrix[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
        # Not pa.array of the fields: a conversion of Python objects imports pandas where it is installed
        # (0.3 s of every `backprop predict`, and the moment a Ctrl-C most often landed).
        return cls(matrix, _string_array([len(b) for b in encoded], b"".join(encoded)))


def csv_chunk(
    frame: Frame, kept: list[str], predicted: NDArray[Any], labels: Labels, proba: NDArray[np.float64] | None
) -> str:
    """The CSV lines of a chunk's predictions, as the csv writer would write them."""
    cells: list[NDArray[np.uint8] | None] = []  # the first cell's, then the probabilities' (a free first byte)
    if predicted.dtype.kind != "i":  # regression: repr(float(f"{v:.8g}"))
        cells.append(_number_bytes(np.asarray(predicted, dtype=np.float64), 8, repr_style=True))
    elif labels.matrix is not None:
        cells.append(np.take(labels.matrix, predicted, axis=0))
    else:
        cells.append(None)
    if proba is not None:
        cells += [probability_bytes(np.ascontiguousarray(column)) for column in proba.T]
    if kept or any(cell is None for cell in cells):
        return _joined_by_arrow(frame, kept, predicted, labels, cells)
    matrices = [cell for cell in cells if cell is not None]
    if len(matrices) == 1 and not np.all(matrices[0].any(axis=1)):
        return _joined_by_arrow(frame, kept, predicted, labels, cells)  # a lone empty cell is '""'
    # The line as words of four bytes: the cells', a comma in each probability's free first byte, a
    # newline's word; the zero bytes dropped last.
    words = [_as_words(matrix) for matrix in matrices]
    line = np.empty((frame.n_rows, sum(w.shape[1] for w in words) + 1), dtype=np.uint32)
    comma, newline = np.frombuffer(b",\0\0\0\n\0\0\0", dtype=np.uint32)
    at = 0
    for i, cell in enumerate(words):
        line[:, at : at + cell.shape[1]] = cell
        if i:
            line[:, at] |= comma
        at += cell.shape[1]
    line[:, at] = newline
    return line.tobytes().translate(None, b"\0").decode("utf-8")  # faster than a boolean mask


def _as_words(matrix: NDArray[np.uint8]) -> NDArray[np.uint32]:
    """The rows of a byte matrix as words of four bytes (zero bytes added at the end)."""
    if matrix.shape[1] % 4 or not matrix.flags.c_contiguous:
        padded = np.zeros((matrix.shape[0], -(-matrix.shape[1] // 4) * 4), dtype=np.uint8)
        padded[:, : matrix.shape[1]] = matrix
        matrix = padded
    return matrix.view(np.uint32)


def _joined_by_arrow(
    frame: Frame, kept: list[str], predicted: NDArray[Any], labels: Labels, cells: list[NDArray[np.uint8] | None]
) -> str:
    """The lines when a cell's text may be long (kept columns, long labels): joined by pyarrow."""
    pa = _arrow()
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    columns = [_kept_text(frame.column(name)) for name in kept]
    for cell in cells:
        columns.append(labels.arrow.take(pa.array(predicted)) if cell is None else _text_array(cell))
    if len(columns) == 1:  # a row of one empty cell is written '""'
        columns[0] = pc.if_else(pc.equal(columns[0], ""), '""', columns[0])
    lines = pc.binary_join_element_wise(*columns, ",") if len(columns) > 1 else columns[0]
    lines = pc.binary_join_element_wise(lines, "", "\n")
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    return bytes(memoryview(data)[int(bounds[0]) : int(bounds[-1])]).decode("utf-8")


def _text_array(matrix: NDArray[np.uint8]) -> Any:
    """The rows of a byte matrix as a pyarrow string array (zero bytes dropped)."""
    present = matrix != 0
    return _string_array(present.sum(axis=1), np.ascontiguousarray(matrix[present]))


def _string_array(lengths: Any, data: Any) -> Any:
    """A pyarrow string array made from its buffers: the UTF-8 ``data`` of each value, ``lengths`` bytes each."""
    pa = _arrow()
    offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.StringArray.from_buffers(len(lengths), pa.py_buffer(offsets), pa.py_buffer(data))


def _kept_text(column: NDArray[Any]) -> Any:
    """A kept input column as the csv writer writes its values (see :func:`plain_cell`), a pyarrow array."""
    pa = _arrow()
    import pyarrow.compute as pc

    if column.dtype.kind == "f":
        values = np.asarray(column, dtype=np.float64)
        whole = np.isfinite(values) & (values == np.floor(values)) & (np.abs(values) < 2.0**53)
        text = np.empty(len(values), dtype=object)
        text[whole] = values[whole].astype(np.int64).astype(str)
        rest = np.flatnonzero(~whole)
        text[rest] = [_field(plain_cell(v)) for v in values[rest].tolist()]
        return pa.array(text, type=pa.string())
    if column.dtype == object:
        try:
            strings = pa.array(column, type=pa.string(), from_pandas=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            strings = None
        if strings is not None:
            special = "".join({"\r": "\\r", "\n": "\\n"}.get(c, c) for c in _quoted_characters())
            needs = pc.match_substring_regex(strings, f"[{special}]")
            quoted = pc.binary_join_element_wise('"', pc.replace_substring(strings, '"', '""'), '"', "")
            return pc.fill_null(pc.if_else(needs, quoted, strings), "")
    return pa.array([_field(plain_cell(v)) for v in column.tolist()], type=pa.string())


def _rounded(
    values: NDArray[np.float64], digits: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
    """Each value to ``digits`` significant digits, as Python rounds it (exactly, half to even).

    Returns ``r`` (``digits`` digits), the exponent ``e`` of its first digit, and where this float
    arithmetic is sure to give Python's digits: a finite normal value whose scaled ``|v|·10**k``
    is not within a few ulps of a half (each step of the scaling rounds once, by half an ulp at
    most). Elsewhere ``r`` and ``e`` mean nothing. ``digits`` is at most 15: ``r`` is exact in float64.
    """
    a = np.abs(values)
    usable = np.isfinite(a) & (a >= np.finfo(np.float64).tiny)  # a subnormal's repr may be shorter
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.floor(np.log10(np.where(usable, a, 1.0)))
    k = np.where(usable, (digits - 1) - e, 0.0).astype(np.int64)
    steps = 1
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if len(k) and k.min() >= 0 and k.max() <= 44:  # the usual case: at most two exact powers of ten
            t = a * _POW10[np.minimum(k, 22)]
            if k.max() > 22:
                t *= _POW10[np.maximum(k - 22, 0)]
                steps = 2
        else:
            t = a.copy()
            steps = int(-(-np.abs(k).max() // 22))
            for _ in range(steps):
                move = np.clip(k, -22, 22)
                scale = _POW10[np.abs(move)]
                t = np.where(move >= 0, t * scale, t / scale)
                k -= move
        tolerance = 2 * (steps + 1) * np.spacing(float(10**digits))
        ok = usable & (t >= 10 ** (digits - 1)) & (t < 10**digits)
        ok &= np.abs(t - np.floor(t) - 0.5) > tolerance
    r = np.rint(np.where(ok, t, 10 ** (digits - 1))).astype(np.int64)
    exponent = e.astype(np.int64)
    carry = r == 10**digits  # 999999.7 → 1000000: one place up
    r[carry] = 10 ** (digits - 1)
    exponent[carry] += 1
    return r, exponent, ok


@functools.cache
def _four_digits() -> NDArray[np.uint32]:
    """``"0000"`` to ``"9999"`` as ASCII, four bytes each: the digits of a number four at a time."""
    return np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode("ascii"), dtype=np.uint32)


def _put_digits(words: NDArray[np.uint32], values: NDArray[np.int64]) -> None:
    """The decimal digits of every value (``0 <= v < 10**(4 * quads)``) as ASCII into ``words``, shape
    ``(n, quads)``, right-aligned: the bytes before them are the ASCII zeros of the first quad."""
    table = _four_digits()
    rest = values
    for q in range(words.shape[1] - 1, -1, -1):
        above = rest // 10_000
        words[:, q] = table[rest - above * 10_000]
        rest = above


def _ascii_digits(values: NDArray[np.int64], digits: int) -> NDArray[np.uint8]:
    """The ``digits`` decimal digits of every value (``0 <= v < 10**digits``) as ASCII, shape ``(n, digits)``."""
    quads = -(-digits // 4)
    words = np.empty((len(values), quads), dtype=np.uint32)
    _put_digits(words, values)
    return words.view(np.uint8)[:, 4 * quads - digits :]


def _fixed_layout(digits: int, repr_style: bool) -> tuple[int, int, int, int]:
    """Digits before and after the point of ``_fixed_text``, and its quads (four bytes) for each: the
    first quad's free bytes hold the sign, the fraction's the point."""
    whole_digits, fraction_digits = (16 if repr_style else digits), digits + 3
    return whole_digits, fraction_digits, -(-(whole_digits + 1) // 4), -(-(fraction_digits + 1) // 4)


@functools.cache
def _windows(digits: int, repr_style: bool) -> NDArray[np.uint8]:
    """Row ``first * (fraction_digits + 1) + shown`` of the bytes of ``_fixed_text``: 1 for the
    digits ``first <= j < whole_digits + shown``, 0 for the others and the free bytes."""
    whole_digits, fraction_digits, whole_quads, fraction_quads = _fixed_layout(digits, repr_style)
    width = 4 * (whole_quads + fraction_quads)
    windows = np.zeros((whole_digits + 1, fraction_digits + 1, width), dtype=np.uint8)
    start = 4 * whole_quads - whole_digits
    for first in range(whole_digits + 1):
        windows[first, :, start + first : 4 * whole_quads] = 1
    start = width - fraction_digits
    for shown in range(fraction_digits + 1):
        windows[:, shown, start : start + shown] = 1
    return windows.reshape(-1, width)


def _number_bytes(values: NDArray[np.float64], digits: int, repr_style: bool) -> NDArray[np.uint8]:
    """``f"{v:.{digits}g}"`` (``repr_style``: ``repr(float(f"{v:.{digits}g}"))``) of every value as
    the rows of a byte matrix, zero bytes where a row's text has none.

    Every row is written in one layout, ``-IIII.FFFF`` (fixed point) or ``-d.ddde-XXX``, and the
    bytes its text lacks (leading zeros, the trailing zeros that ``g`` and ``repr`` drop, a point
    with nothing after it) are zero: a few whole-matrix operations, whatever the values.
    """
    r, e, ok = _rounded(values, digits)
    ascii_r = _ascii_digits(r, digits)
    significant = digits - np.argmin(ascii_r[:, ::-1] == _ZERO, axis=1)  # r's first digit is not 0
    sign = np.where(np.signbit(values), _MINUS, 0).astype(np.uint8)
    scientific = ok & ((e < -4) | (e >= (16 if repr_style else digits)))
    fixed = ok & ~scientific
    # Every row in fixed point (right for the fixed rows), then the others written over theirs.
    top = (16 if repr_style else digits) - 1
    out = _fixed_text(r, np.clip(e, -4, top), significant, sign, digits, repr_style)
    if fixed.all():
        return out
    if scientific.any():
        text = _scientific_text(e[scientific], significant[scientific], sign[scientific], ascii_r[scientific])
        padded = np.zeros((len(text), out.shape[1]), dtype=np.uint8)
        padded[:, : text.shape[1]] = text
        out[scientific] = padded
    # Zeros, infinities and NaN, one text each, then the few cells float rounding cannot settle.
    zero = values == 0
    for kind in (np.isnan(values), np.isposinf(values), np.isneginf(values), zero & (sign == 0), zero & (sign > 0)):
        if kind.any():
            _fill(out, kind, float(values[kind][0]), digits, repr_style)
    for i in np.flatnonzero(~ok & np.isfinite(values) & ~zero).tolist():
        _fill(out, np.array([i]), float(values[i]), digits, repr_style)
    return out


def probability_bytes(values: NDArray[np.float64]) -> NDArray[np.uint8]:
    """``f"{v:.6g}"`` of every value, in fewer passes than :func:`_number_bytes` for the usual values of a
    probability: zero, and ``1e-99 <= v < 10`` once rounded.

    The rows of the matrix (shape ``(n, 12)``, or ``(n, 16)`` where some value is not a usual one) are
    three words of four bytes: a free first byte (zero: a comma may go there), then ``0.fffffffff`` or
    ``d.ddddd`` (and ``e-XX``), with zero bytes where the text has none. The other values (negative, a
    tie that float rounding cannot settle, ...) are written by :func:`_number_bytes`, moved to the front.
    """
    r, e, ok = _rounded(values, 6)
    positive = ok & (values > 0)
    fixed = positive & (e >= -4) & (e <= -1)
    mantissa = positive & ((e == 0) | ((e <= -5) & (e >= -99)))
    zero = (values == 0) & ~np.signbit(values)
    others = np.flatnonzero(~(fixed | mantissa | zero))
    quads, leads, pairs, powers, kept = _word_tables()
    high = r // 10_000  # r's first two digits, then its last four
    low = r - high * 10_000
    zeros = np.where(low == 0, 4 + (high % 10 == 0), _TRAILING_ZEROS[low])  # r's trailing zeros, < 6
    # 0.fffffffff: the nine decimals of r·10**(4+e), the first in the first word; all after the last
    # that is not a zero dropped.
    fraction = r * _POW10_INT[np.clip(e + 4, 0, 3)]
    first = fraction // 100_000_000
    fraction -= first * 100_000_000
    middle = fraction // 10_000
    shown = 4 - e - zeros  # decimals after the first
    words = np.zeros((len(values), 3 if len(others) == 0 else 4), dtype=np.uint32)
    words[:, 0] = leads[first]
    words[:, 1] = quads[middle] & kept[np.clip(shown, 0, 4)]
    words[:, 2] = quads[fraction - middle * 10_000] & kept[np.clip(shown - 4, 0, 4)]
    # d.ddddd and e-XX below 1e-4: written over the rows where it is the text.
    decimals = 5 - zeros
    where = np.flatnonzero(mantissa)
    if len(where):
        d, h = decimals[where], high[where]
        words[where, 0] = pairs[h] & kept[np.where(d == 0, 2, 4)]
        words[where, 1] = quads[low[where]] & kept[np.clip(d - 1, 0, 4)]
        words[where, 2] = powers[np.clip(-e[where], 0, 99)]
    words[zero, 0], words[zero, 1:3] = leads[0] & kept[2], 0  # "0"
    if len(others):
        packed = np.zeros((len(others), 16), dtype=np.uint8)
        if len(others) <= _FEW:  # Python's text: faster than the matrices for a few values
            for i, value in enumerate(values[others].tolist()):
                text = f"{value:.6g}".encode("ascii")
                packed[i, 1 : 1 + len(text)] = np.frombuffer(text, dtype=np.uint8)
        else:
            general = _number_bytes(values[others], 6, repr_style=False)
            present = general != 0
            rows, columns = np.nonzero(present)
            packed[rows, np.cumsum(present, axis=1)[rows, columns]] = general[rows, columns]
        words[others] = packed.view(np.uint32)
    return words.view(np.uint8)


#: Trailing zeros of a number written in four digits (four for 0).
_TRAILING_ZEROS = np.array([4] + [len(str(i)) - len(str(i).rstrip("0")) for i in range(1, 10_000)], dtype=np.int64)


@functools.cache
def _word_tables() -> tuple[NDArray[np.uint32], ...]:
    """Words of four bytes, the first free (zero) in those that start a cell: ``"0000"`` to ``"9999"``;
    ``0.d`` for each digit; ``d.d`` for each pair of digits; ``e-XX`` (none for 0); the masks that keep
    a word's first 0 to 4 bytes."""

    def words(texts: list[str]) -> NDArray[np.uint32]:
        return np.frombuffer("".join(texts).encode("ascii"), dtype=np.uint32)

    leads = words([f"\x000.{d}" for d in range(10)])
    pairs = words([f"\x00{i // 10}.{i % 10}" for i in range(100)])
    powers = words(["\x00" * 4] + [f"e-{i:02d}" for i in range(1, 100)])
    kept = np.frombuffer(b"".join(b"\xff" * k + b"\0" * (4 - k) for k in range(5)), dtype=np.uint32)
    return _four_digits(), leads, pairs, powers, kept


def _fixed_text(
    r: NDArray[np.int64],
    e: NDArray[np.int64],
    significant: NDArray[np.int64],
    sign: NDArray[np.uint8],
    digits: int,
    repr_style: bool,
) -> NDArray[np.uint8]:
    """``-IIII.FFFF`` for ``-4 <= e < digits`` (16 for repr), in the bytes of :func:`_fixed_layout`."""
    whole_digits, fraction_digits, whole_quads, fraction_quads = _fixed_layout(digits, repr_style)
    words = np.empty((len(r), whole_quads + fraction_quads), dtype=np.uint32)
    if repr_style:  # up to 27 digits: the whole part and the fraction apart, each within int64
        below = digits - 1 - e  # digits of r after the point; <= 0: none, r times 10**-below
        after = np.clip(below, 0, fraction_digits)
        whole = np.where(below > 0, r // _POW10_INT[after], r * _POW10_INT[np.clip(-below, 0, 18)])
        fraction = np.where(below > 0, (r % _POW10_INT[after]) * _POW10_INT[fraction_digits - after], 0)
    else:  # r·10**(e+4): the number in fixed point with digits+3 decimals, below 10**15
        both = r * _POW10_INT[e + 4]
        whole = both // _POW10_INT[fraction_digits]
        fraction = both - whole * _POW10_INT[fraction_digits]
    _put_digits(words[:, :whole_quads], whole)
    _put_digits(words[:, whole_quads:], fraction)
    shown = np.clip(significant - e - 1, 0, fraction_digits)  # decimals before the trailing zeros
    if repr_style:
        shown = np.maximum(shown, 1)  # 3.0
    first = whole_digits - np.maximum(e + 1, 1)  # no leading zeros, but the 0 of 0.xxx
    text = words.view(np.uint8)
    text *= np.take(_windows(digits, repr_style), first * (fraction_digits + 1) + shown, axis=0)
    text[:, 0] = sign
    text[:, text.shape[1] - fraction_digits - 1] = np.where(shown > 0, _DOT, 0)
    return text


def _scientific_text(
    e: NDArray[np.int64], significant: NDArray[np.int64], sign: NDArray[np.uint8], ascii_r: NDArray[np.uint8]
) -> NDArray[np.uint8]:
    """``-d.ddde-XX``: at least two digits of exponent, as Python writes it."""
    digits = ascii_r.shape[1]
    mantissa = ascii_r * (np.arange(digits)[None, :] < significant[:, None])
    power = np.abs(e)
    exponent = _ascii_digits(power, 3).copy()
    exponent[power < 100, 0] = 0
    text = np.empty((len(e), digits + 7), dtype=np.uint8)
    text[:, 0] = sign
    text[:, 1] = mantissa[:, 0]
    text[:, 2] = np.where(significant > 1, _DOT, 0)
    text[:, 3 : digits + 2] = mantissa[:, 1:]
    text[:, digits + 2] = _E
    text[:, digits + 3] = np.where(e < 0, _MINUS, _PLUS)
    text[:, digits + 4 :] = exponent
    return text


def _fill(out: NDArray[np.uint8], where: NDArray[Any], value: float, digits: int, repr_style: bool) -> None:
    """Python's own text of ``value`` into the rows ``where`` of ``out``."""
    text = f"{value:.{digits}g}"
    if repr_style:
        text = repr(float(text))
    row = np.zeros(out.shape[1], dtype=np.uint8)
    encoded = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    row[: len(encoded)] = encoded
    out[where] = row
