"""The table as read: :class:`Frame`, and the helpers that cut it and name its parts in messages.

Imports numpy only. Every reader (``readers``, ``csv_files``, ``parquet_files``,
``numpy_files``) builds Frames; ``columns``, ``preprocess`` and ``prepare`` read them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError

#: Rows per chunk when a table is read piece by piece (``predict``, ``evaluate``).
CHUNK_ROWS = 65536

#: Where rows of a source end: rows numbered over the whole source → their file lines (None: unknown).
LineFinder = Callable[[NDArray[np.int64]], "NDArray[np.int64] | None"]


@dataclass
class Frame:
    """Columns of a table, as read: text (object arrays of str or None), numbers (float64, NaN missing) or
    dates and timestamps (``datetime64``, NaT missing).

    Attributes
    ----------
    source : str
        The file name (``<stdin>`` for standard input, or the dataset name).
    names : list of str
        Column names, unique. Replace the list rather than rename a column in place: lookups
        by name go through an index of it.
    columns : list of ndarray of shape (n_rows,)
    offset : int
        Rows of the source before this chunk (0 for a whole table).
    notes : list of str
        What the reader decided that the user should know.
    unsupported : dict of str to str
        Columns of a type backprop cannot use (a Parquet timestamp, ...), by name.
    decimal_comma : bool
        Numbers may be written with a decimal comma (a semicolon-delimited CSV).
    find_lines : callable or None
        For CSV, where rows end in the file: rows numbered over the whole source → their
        lines (see :attr:`lines`). The reader does not count lines while it reads (pyarrow
        parses the file); this finds them only when a message or :attr:`lines` asks, by
        reading the file again up to the last row asked for.
    """

    source: str
    names: list[str]
    columns: list[NDArray[Any]]
    offset: int = 0
    notes: list[str] = field(default_factory=list)
    unsupported: dict[str, str] = field(default_factory=dict)
    decimal_comma: bool = False
    find_lines: LineFinder | None = field(default=None, repr=False, compare=False)
    # The rows of the source this frame's rows are, when taken out of order (None: offset, offset + 1, ...).
    _rows: NDArray[np.int64] | None = field(default=None, init=False, repr=False, compare=False)
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)
    _indexed: list[str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return int(self.columns[0].shape[0]) if self.columns else 0

    def position(self, name_or_index: str) -> int:
        """The 0-based position of a column given by name or by 0-based index.

        Raises
        ------
        DataError
            No such column; the message lists the columns.
        """
        found = self._find(name_or_index)
        if found is not None:
            return found
        text = name_or_index.strip()
        if text.lstrip("-").isdigit():
            index = int(text)
            if -len(self.names) <= index < len(self.names):
                return index % len(self.names)
        raise DataError(f"{self.source}: no column {name_or_index!r}; the columns are {listed(self.names)}")

    def column(self, name: str) -> NDArray[Any]:
        """The column called ``name``; DataError naming the source's columns if there is none."""
        if name in self.unsupported:
            raise DataError(
                f"{self.source}: column {name!r} has type {self.unsupported[name]}, which backprop cannot use; "
                "leave it out (--ignore) or convert it to numbers or text"
            )
        found = self._find(name)
        if found is None:
            raise DataError(f"{self.source}: no column {name!r}; the columns are {listed(self.names)}")
        return self.columns[found]

    def has(self, name: str) -> bool:
        """Whether a column is called ``name`` (in constant time)."""
        return self._find(name) is not None

    def _find(self, name: str) -> int | None:
        """The position of the column called ``name``, from a name → position index built once.

        Looking a name up in the list was linear, and every feature column looks its own up:
        quadratic in the number of columns (40,000 columns took a minute). The index is rebuilt
        when ``names`` is replaced or changes length.
        """
        names = self.names
        if self._indexed is not names or len(self._index) != len(names):
            self._index = {}
            for j, column in enumerate(names):
                self._index.setdefault(column, j)
            self._indexed = names  # holding the list itself: a new list can never pass for it
        position = self._index.get(name)
        if position is not None and names[position] != name:  # a name edited in place
            self._indexed = None
            return self._find(name)
        return position

    @property
    def lines(self) -> NDArray[np.int64] | None:
        """For CSV, the file line on which each row ends (header = line 1); None for other sources.

        Found by reading the file again (see :attr:`find_lines`): for messages and checks, not
        for a loop. None too where the lines cannot be found (standard input that was not kept).
        """
        if self.find_lines is None:
            return None
        if self.n_rows == 0:
            return np.zeros(0, dtype=np.int64)
        return self.find_lines(self._source_rows(np.arange(self.n_rows, dtype=np.int64)))

    def _source_rows(self, rows: NDArray[np.int64]) -> NDArray[np.int64]:
        """Rows of this frame as rows of the whole source."""
        return self._rows[rows] if self._rows is not None else self.offset + rows

    def where(self, row: int) -> str:
        """``row 17 (line 19)``: a row of this chunk, numbered from 0 over the whole source."""
        text = f"row {self.offset + row}"
        if self.find_lines is not None and 0 <= row < self.n_rows:
            lines = self.find_lines(self._source_rows(np.array([row], dtype=np.int64)))
            if lines is not None:
                text += f" (line {int(lines[0])})"
        return text

    def take(self, rows: NDArray[np.int64]) -> Frame:
        """A frame of the given rows (absolute positions are kept only for contiguous slices; lines for all)."""
        part = Frame(
            source=self.source,
            names=list(self.names),
            columns=[c[rows] for c in self.columns],
            offset=self.offset,
            notes=list(self.notes),
            unsupported=dict(self.unsupported),
            decimal_comma=self.decimal_comma,
            find_lines=self.find_lines,
        )
        if self.find_lines is not None:
            part._rows = self._source_rows(np.arange(self.n_rows, dtype=np.int64)[rows])
        return part


def listed(names: Sequence[str], limit: int = 12) -> str:
    """``'a', 'b', 'c'`` for a message, or the first ``limit`` and ``... (64 in all)``."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"{shown}, ... ({len(names)} in all)" if len(names) > limit else shown or "(none)"


def cut(frame: Frame, chunk_rows: int) -> Iterator[Frame]:
    """``frame`` in parts of at most ``chunk_rows`` rows, each with its :attr:`Frame.offset` (one part if empty)."""
    if frame.n_rows == 0:
        yield frame
        return
    for start in range(0, frame.n_rows, chunk_rows):
        part = frame.take(np.arange(start, min(start + chunk_rows, frame.n_rows)))
        part.offset = frame.offset + start
        yield part


def header_names(cells: list[str], notes: list[str], source: str) -> list[str]:
    """Unique column names from header cells: a blank one becomes ``column 3``, a repeat ``name.1`` (noted)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for position, cell in enumerate(cells):
        name = cell.strip() or f"column {position}"
        base = name
        while name in seen:
            seen[base] += 1
            name = f"{base}.{seen[base]}"
        if name != base:
            notes.append(f"{source}: column {position} repeats the name {base!r}; renamed it {name!r}")
        seen.setdefault(base, 0)
        seen[name] = 0
        names.append(name)
    return names


def rows_text(frame: Frame, rows: NDArray[np.int64], limit: int = 3) -> str:
    """``rows 4, 17, 20, ... (9 in all)``: rows of ``frame`` for a message, numbered over the whole source."""
    shown = [str(frame.offset + int(r)) for r in rows[:limit]]
    more = f", ... ({len(rows)} in all)" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {', '.join(shown)}{more}"


def one_line(exc: BaseException) -> str:
    """An exception's message on one line of at most 300 characters, for a DataError naming the file.

    The CLI's ``backprop.cli._common.one_line`` is for what it prints: it also shows an
    OSError's file name and escapes terminal control characters, and cuts nothing.
    """
    return " ".join(str(exc).split())[:300] or type(exc).__name__  # EOFError() has no message
