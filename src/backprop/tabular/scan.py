"""Columns summarised chunk by chunk: what :func:`~backprop.tabular.prepare.plan_training` learns of a
table read in pieces, in memory that does not grow with the table (beyond a few bytes a row).

Two passes over the source:

1. :class:`FeatureScan` — a feature column's kind (numbers, dates or categories), its missing,
   infinite and too-large cells (counted, the first rows kept for the message), and whether it
   counts the rows (distinct integers in order: a row number, not a feature);
2. :class:`Moments` and :class:`Categories` — over the training rows only, the statistics the
   preprocessing stores: mean and variance (and the median when it fills missing cells), or the
   categories and their counts.

The statistics do not depend on how the source is cut: values are taken in row order in blocks
of a fixed size (:func:`block_size`: :data:`BLOCK`, less for a table of more than 8 numeric
columns, so that the blocks being filled stay within :data:`BLOCKS_BYTES`), each block's mean
and variance computed by numpy, and the blocks combined in order (Chan et al.'s pairwise
update). A column of at most one block of training values gives exactly ``values.mean()`` and
``values.var()``, the figures of a whole-table computation.

Imports ``columns`` and ``threads``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .columns import LARGEST, Encoded, as_text, missing_cells, parse_numbers
from .threads import Buffers

#: Values per block of the statistics: a column with fewer training values is one block.
BLOCK = 1 << 16
#: What the blocks being filled may hold, all columns together: a wide table gets shorter blocks.
BLOCKS_BYTES = 1 << 22
#: Rows a message names before "... (9 in all)".
FIRST_ROWS = 3
#: Seconds in a day: dates become days since 1970-01-01 (fractions for times of day).
DAY = 86400.0


class RowSample:
    """Rows with some property, counted, the first :data:`FIRST_ROWS` kept (numbered over the whole source)."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[int] = []

    def add(self, mask: NDArray[np.bool_], offset: int) -> None:
        """Count the rows where ``mask`` holds; ``offset`` is the chunk's first row."""
        if not mask.any():  # the usual case, and cheaper than flatnonzero (100,000 columns add up)
            return
        hits = np.flatnonzero(mask)
        if hits.size:
            self.count += int(hits.size)
            room = FIRST_ROWS - len(self.first)
            self.first.extend(offset + int(r) for r in hits[:room])

    def __bool__(self) -> bool:
        return self.count > 0

    def text(self) -> str:
        """``rows 4, 17, 20, ... (9 in all)``, as :func:`~backprop.tabular.frame.rows_text` writes it."""
        more = f", ... ({self.count} in all)" if self.count > FIRST_ROWS else ""
        return f"row{'s' if self.count > 1 else ''} {', '.join(map(str, self.first))}{more}"


def within(values: NDArray[np.float64], bound: float = LARGEST) -> bool:
    """Whether every value lies in [−bound, bound] (False for NaN or infinity), by two reductions: no new
    array, where a mask of millions of rows would be one."""
    return values.size == 0 or bool(values.min() >= -bound and values.max() <= bound)


def days(column: NDArray[Any]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """A ``datetime64`` column as days since 1970-01-01 (float64, NaN where NaT), and its missing mask."""
    missing = np.isnat(column)
    seconds = column.astype("datetime64[us]").astype(np.int64).astype(np.float64) / 1e6
    values = seconds / DAY
    values[missing] = np.nan
    return values, missing


def numbers(column: NDArray[Any], decimal_comma: bool) -> tuple[NDArray[np.float64] | None, NDArray[np.bool_]]:
    """A chunk of a column as numbers (None if a cell is text that is no number) and its missing mask."""
    if column.dtype.kind == "M":
        return days(column)
    parsed = parse_numbers(column, decimal_comma)
    if parsed.bad is not None:
        return None, missing_cells(column)
    return parsed.values, parsed.missing


class FeatureScan:
    """The first pass over one feature column: its kind, its missing and out-of-range cells, and
    whether it counts the rows."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.numeric = True
        self.dates: bool | None = None  # None until a chunk with values says
        self.rows = 0
        self.missing = RowSample()
        self.infinite = RowSample()
        self.huge = RowSample()
        # A row number: integers, no missing cell, strictly in order.
        self.counting = True
        self.direction = 0.0
        self.last: float | None = None

    def add(self, column: NDArray[Any], offset: int, decimal_comma: bool) -> NDArray[np.bool_]:
        """Scan one chunk (its first row is ``offset``); returns its missing mask."""
        self.rows += len(column)
        is_dates = column.dtype.kind == "M"
        if len(column) and self.dates is not None and self.dates != is_dates:
            self.numeric = False  # dates in one chunk, something else in another: text
        if len(column):
            self.dates = is_dates if self.dates is None else self.dates
        values, missing = numbers(column, decimal_comma) if self.numeric else (None, missing_cells(column))
        if values is None:
            self.numeric = False
            self.counting = False
        else:
            if not within(values):  # NaN (missing) comes here too: only the masks tell
                outside = ~(np.abs(values) <= LARGEST) & ~missing
                if outside.any():
                    self.infinite.add(np.isinf(values), offset)
                    self.huge.add(np.isfinite(values) & outside, offset)
            if self.counting:
                self._count(values, missing)
        self.missing.add(missing, offset)
        return missing

    def _count(self, values: NDArray[np.float64], missing: NDArray[np.bool_]) -> None:
        head = values[:64]  # most columns show at once that they are no count: spare the whole pass
        # An infinite cell makes no count either (and inf − inf would warn in the steps below).
        if not np.isfinite(head).all() or not np.all(head == np.round(head)):
            self.counting = False
            return
        if head.size > 1 and not np.all(np.diff(head) != 0):
            self.counting = False
            return
        if missing.any() or not np.isfinite(values).all() or not np.all(values == np.round(values)):
            self.counting = False
            return
        if values.size == 0:
            return
        joined = values if self.last is None else np.concatenate([[self.last], values])
        steps = np.diff(joined)
        if steps.size:
            if self.direction == 0.0:
                self.direction = float(np.sign(steps[0]))
            if self.direction == 0.0 or not np.all(np.sign(steps) == self.direction):
                self.counting = False
                return
        self.last = float(values[-1])

    @property
    def kind(self) -> str:
        """``numeric``, ``dates`` or ``categorical``."""
        if not self.numeric:
            return "categorical"
        return "dates" if self.dates else "numeric"


def block_size(columns: int) -> int:
    """Values per block when ``columns`` numeric columns are summarised together (a function of the table's
    width alone: the statistics must not depend on how the rows are cut)."""
    return max(64, min(BLOCK, BLOCKS_BYTES // (8 * max(1, columns))))


class Scratch:
    """A float64 buffer (one per thread) lent to each column's statistics in turn: a new array per column
    of millions of rows costs its page faults again (on a virtual machine, as much as the arithmetic)."""

    def __init__(self) -> None:
        self.buffers = Buffers()

    def like(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.buffers.get(rows.size).reshape(rows.shape)


def _mean_and_var(rows: NDArray[np.float64], scratch: Scratch) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``rows.mean(axis=1)`` and ``rows.var(axis=1)``, the same bits, the deviations in ``scratch``.

    numpy's ``var``: the mean as sum ÷ n, the deviations squared, their sum ÷ n.
    """
    n = rows.shape[1]
    means = np.true_divide(rows.sum(axis=1), n)
    deviations = np.subtract(rows, means[:, None], out=scratch.like(rows))
    np.multiply(deviations, deviations, out=deviations)
    return means, np.true_divide(deviations.sum(axis=1), n)


class Moments:
    """Count, mean and variance of a column's training values, blockwise (see the module docstring)."""

    def __init__(self, keep: bool = False, block: int = BLOCK, scratch: Scratch | None = None) -> None:
        self.block = block
        self.scratch = scratch if scratch is not None else Scratch()
        self.pending: list[NDArray[np.float64]] = []
        self.pending_n = 0
        self.blocks: list[tuple[int, float, float]] = []
        self.keep = keep
        self.kept: list[NDArray[np.float64]] = []

    def add(self, values: NDArray[np.float64]) -> None:
        """Observed (not missing) training values of a chunk, in row order (``values`` is not kept unless
        ``keep``: the caller may reuse it)."""
        if self.keep:
            self.kept.append(values)
        self.pending.append(values)
        self.pending_n += len(values)
        block = self.block
        if self.pending_n < block:
            self.pending[-1] = values.copy()  # less than a block: kept for the next chunk
        else:
            joined = self.pending[0] if len(self.pending) == 1 else np.concatenate(self.pending)
            whole = len(joined) - len(joined) % block
            # The full blocks at once: each row of the reshaped array reduces as that block alone would.
            rows = joined[:whole].reshape(-1, block)
            means, variances = _mean_and_var(rows, self.scratch)
            self.blocks.extend(
                (block, float(m), float(v)) for m, v in zip(means.tolist(), variances.tolist(), strict=True)
            )
            rest = joined[whole:].copy()  # not a view that keeps the whole chunk alive
            self.pending, self.pending_n = [rest], len(rest)

    @property
    def count(self) -> int:
        return sum(n for n, _, _ in self.blocks) + self.pending_n

    def result(self) -> tuple[float, float]:
        """The mean and the population variance; one block: numpy's own ``mean()`` and ``var()``."""
        if self.pending_n:  # the last, shorter block
            rest = np.concatenate(self.pending)[None, :]
            means, variances = _mean_and_var(rest, self.scratch)
            self.blocks.append((rest.shape[1], float(means[0]), float(variances[0])))
            self.pending, self.pending_n = [], 0
        n, mean, var = self.blocks[0]
        if len(self.blocks) == 1:
            return mean, var
        m2 = var * n
        for n_b, mean_b, var_b in self.blocks[1:]:
            total = n + n_b
            delta = mean_b - mean
            mean += delta * n_b / total
            m2 += var_b * n_b + delta * delta * n * n_b / total
            n = total
        return mean, m2 / n

    def median(self) -> float:
        """The median of every value added (``keep=True``)."""
        return float(np.median(np.concatenate(self.kept)))


class Categories:
    """The categories of a column's training values and how often each occurs."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, encoded: Encoded, rows: NDArray[np.int64]) -> bool:
        """Count the categories of a chunk's training ``rows``; True if one of them is missing."""
        codes = encoded.codes[rows]
        counts = np.bincount(codes + 1, minlength=len(encoded.values) + 1)  # missing (−1) counted first
        for k in np.flatnonzero(counts[1:]).tolist():
            value = encoded.values[k]
            self.counts[value] = self.counts.get(value, 0) + int(counts[k + 1])
        return bool(counts[0])

    def sorted(self) -> tuple[list[str], NDArray[np.int64]]:
        """The categories in sorted order and their counts."""
        names = sorted(self.counts)
        return names, np.array([self.counts[c] for c in names], dtype=np.int64)


def joined(parts: Sequence[NDArray[Any]]) -> NDArray[Any]:
    """Chunks of one column as one array: numbers stay numbers; if any chunk is text, all become text."""
    if not parts:
        return np.zeros(0, dtype=np.float64)
    if len(parts) == 1:
        return parts[0]
    if len({p.dtype.kind for p in parts}) == 1:
        return np.concatenate(parts)
    texts = [p if p.dtype == object else _as_cells(p) for p in parts]
    return np.concatenate(texts)


def _as_cells(column: NDArray[Any]) -> NDArray[Any]:
    text, missing = as_text(column)
    text[missing] = None
    return text
