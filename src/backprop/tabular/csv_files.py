"""Reading CSV text: the encoding, the delimiter and the header are detected, rows come in chunks.

The rules are those of :mod:`backprop.tabular` (its docstring). Imports ``frame`` and ``columns``;
:mod:`~backprop.tabular.readers` calls :func:`iter_csv`.
"""

from __future__ import annotations

import codecs
import csv
import io
from array import array
from collections.abc import Iterator
from typing import Any, BinaryIO

import numpy as np

from .._memory import rows_within
from ..errors import DataError
from .columns import is_missing
from .frame import Frame, header_names

#: Delimiters the CSV sniffer chooses from.
DELIMITERS = ",;\t|"

_SAMPLE_BYTES = 1 << 16
#: What a CSV cell costs while a chunk is read: a short str, its place in the row's list and in its column.
_CELL_BYTES = 72
_HEADER_ROWS = 100


class NotUtf8Error(Exception):
    """The text is not UTF-8 after all (found past the sniffed sample)."""


class _Replay(io.RawIOBase):
    """A binary stream that first replays ``prefix`` (the sniffed sample) and then reads on."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        if self._prefix:
            n = min(len(target), len(self._prefix))
            target[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(target))
        target[: len(data)] = data
        return len(data)


def _encoding_of(sample: bytes, complete: bool) -> tuple[str, int]:
    """The encoding of a byte sample, and the length of its byte-order mark."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8", len(codecs.BOM_UTF8)
    if sample.startswith(codecs.BOM_UTF16_LE) or sample.startswith(codecs.BOM_UTF16_BE):
        return "utf-16", 0  # the utf-16 codec reads the mark itself
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
    except UnicodeDecodeError:
        return "latin-1", 0
    return "utf-8", 0


def _sniff_delimiter(lines: list[str]) -> str:
    """The delimiter among :data:`DELIMITERS` that splits the sample's lines into equal, > 1 field counts."""

    def counts(delimiter: str) -> list[int]:
        return [len(row) for row in csv.reader(lines, delimiter=delimiter) if row]

    def consistent(delimiter: str) -> bool:
        found = counts(delimiter)
        return bool(found) and len(set(found)) == 1 and found[0] > 1

    try:
        sniffed: str | None = csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed is not None and sniffed in DELIMITERS and consistent(sniffed):
        return sniffed
    good = [(counts(d)[0], -DELIMITERS.index(d), d) for d in DELIMITERS if consistent(d)]
    if good:
        return max(good)[2]
    # No delimiter splits every line alike (a ragged file): the one that splits the first line most.
    first = [(len(next(csv.reader(lines[:1], delimiter=d), [])), -DELIMITERS.index(d), d) for d in DELIMITERS]
    widest = max(first)
    return widest[2] if widest[0] > 1 else ","


def _is_number(text: str, decimal_comma: bool = False) -> bool:
    try:
        float(text)
    except ValueError:
        if decimal_comma and text.count(",") == 1 and "." not in text:
            try:
                float(text.replace(",", "."))
            except ValueError:
                return False
            return True
        return False
    return True


def _detect_header(rows: list[list[str]], decimal_comma: bool) -> bool:
    """Whether the first row names the columns (see the module docstring)."""
    first, rest = rows[0], rows[1:]
    cells = [c.strip() for c in first]
    if all(_is_number(c, decimal_comma) for c in cells if c) and any(cells):
        return False
    if not rest:
        # One row: column names that look like numbers are rare, a data row without a number less so.
        return not any(_is_number(c, decimal_comma) for c in cells if c)
    for j, name in enumerate(cells):
        values = [r[j].strip() for r in rest if j < len(r) and not is_missing(r[j])]
        if not values:
            continue
        if not _is_number(name, decimal_comma) and all(_is_number(v, decimal_comma) for v in values):
            return True  # text above numbers
    for j, name in enumerate(cells):
        seen = {r[j].strip() for r in rest if j < len(r)}
        if name and name in seen:
            return False  # a "name" that recurs among its column's values is a value
    return True


def read_csv(source: str, header: bool | None, stdin: BinaryIO | None) -> Frame:
    """The whole CSV table as one Frame (``source`` ``-``: ``stdin``, default standard input)."""
    try:
        frames = list(_iter_csv(source, None, header, stdin, encoding=None))
    except NotUtf8Error as exc:
        if source == "-":
            raise DataError(f"<stdin> is not valid UTF-8 ({exc}); convert it to UTF-8") from None
        frames = list(_iter_csv(source, None, header, stdin, encoding="latin-1"))
        frames[0].notes.append(f"{source} is not valid UTF-8 ({exc}); read it as Latin-1")
    return frames[0]


def iter_csv(source: str, chunk_rows: int, header: bool | None, stdin: BinaryIO | None) -> Iterator[Frame]:
    """The CSV table in Frames of at most ``chunk_rows`` rows."""
    try:
        yield from _iter_csv(source, chunk_rows, header, stdin, encoding=None)
    except NotUtf8Error as exc:
        where = "<stdin>" if source == "-" else source
        raise DataError(f"{where} is not valid UTF-8 ({exc}); convert it to UTF-8") from None


def _iter_csv(
    source: str, chunk_rows: int | None, header: bool | None, stdin: BinaryIO | None, encoding: str | None
) -> Iterator[Frame]:
    """CSV frames; ``chunk_rows=None`` gives the whole table as one frame."""
    import sys

    where = "<stdin>" if source == "-" else source
    own = source != "-"
    raw: BinaryIO = open(source, "rb") if own else (stdin if stdin is not None else sys.stdin.buffer)  # noqa: SIM115
    try:
        sample = raw.read(_SAMPLE_BYTES)
        if not sample.strip():
            raise DataError(f"{where} is empty: no header and no rows")
        complete = len(sample) < _SAMPLE_BYTES
        notes: list[str] = []
        if encoding is None:
            encoding, bom = _encoding_of(sample, complete)
            if encoding == "latin-1":
                notes.append(f"{where} is not valid UTF-8; read it as Latin-1")
        else:
            bom = 3 if sample.startswith(codecs.BOM_UTF8) else 0
        stream = io.BufferedReader(_Replay(sample[bom:], raw))
        text = io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")
        try:
            head = text.read(_SAMPLE_BYTES)
        except UnicodeDecodeError as exc:
            raise NotUtf8Error(f"at byte {exc.start}") from None
        lines = [line for line in head.splitlines()[: _HEADER_ROWS + 1] if line.strip()]
        if not complete and len(lines) > 1:
            lines = lines[:-1]  # the last one may be cut
        delimiter = _sniff_delimiter(lines)
        decimal_comma = delimiter != ","
        # Everything read so far goes back in front of the rest.
        reader = csv.reader(_chain(head, text), delimiter=delimiter)
        try:
            yield from _csv_frames(reader, where, chunk_rows, header, decimal_comma, notes)
        except csv.Error as exc:  # a field longer than csv's limit: in practice a quote that is never closed
            raise DataError(f"{where}: line {reader.line_num} is not valid CSV ({exc}); check the quoting") from None
    finally:
        if own:
            raw.close()


def _chain(head: str, text: io.TextIOWrapper) -> Iterator[str]:
    """Lines of ``head`` followed by the rest of ``text`` (keeping line ends, as csv needs)."""
    buffer = io.StringIO(head, newline="")
    pending = ""
    for line in buffer:
        if not line.endswith(("\n", "\r")):
            pending = line  # cut mid-line: join with what follows
            break
        yield line
    try:
        rest = text.readline()
        if pending:
            rest = pending + rest
        while rest:
            yield rest
            rest = text.readline()
    except UnicodeDecodeError as exc:
        raise NotUtf8Error(f"past byte {exc.start} of a later block") from None


def _is_blank(row: list[str]) -> bool:
    """A row from an empty line, or from a line of only spaces and tabs (one field of whitespace)."""
    return not row or (len(row) == 1 and not row[0].strip())


def _csv_frames(
    reader: Any, where: str, chunk_rows: int | None, header: bool | None, decimal_comma: bool, notes: list[str]
) -> Iterator[Frame]:
    rows: list[list[str]] = []
    lines = array("q")
    for row in reader:
        if not _is_blank(row):
            rows.append(row)
            lines.append(reader.line_num)
            if len(rows) > _HEADER_ROWS:
                break
    if not rows:
        raise DataError(f"{where} is empty: no header and no rows")
    has_header = _detect_header(rows, decimal_comma) if header is None else header
    if has_header:
        names = header_names(rows[0], notes, where)
        rows, lines = rows[1:], lines[1:]
    else:
        names = [f"x{j}" for j in range(len(rows[0]))]
    width = len(names)
    offset = 0
    if chunk_rows is not None:
        # A wide file's rows are large: a chunk is bounded by its cells' memory too, not only by rows.
        chunk_rows = min(chunk_rows, rows_within(width * _CELL_BYTES))

    def frame(block: list[list[str]], block_lines: array[int]) -> Frame:
        for i, row in enumerate(block):
            if len(row) != width:
                line = block_lines[i]
                raise DataError(
                    f"{where}: row {offset + i} (line {line}) has {len(row)} field{'s' if len(row) != 1 else ''}, the "
                    f"{'header' if has_header else 'first row'} has {width}; check the delimiter "
                    f"({'tab' if reader.dialect.delimiter == chr(9) else repr(reader.dialect.delimiter)}) and quoting"
                )
        columns = [np.empty(len(block), dtype=object) for _ in range(width)]
        if block:
            for j, values in enumerate(zip(*block, strict=True)):
                columns[j][:] = values
        return Frame(
            source=where,
            names=names,
            columns=columns,
            offset=offset,
            lines=np.frombuffer(block_lines, dtype=np.int64).copy() if block_lines else np.zeros(0, np.int64),
            notes=notes if offset == 0 else [],
            decimal_comma=decimal_comma,
        )

    # The rows read to detect the header may already fill several chunks.
    while chunk_rows is not None and len(rows) >= chunk_rows:
        yield frame(rows[:chunk_rows], lines[:chunk_rows])
        offset += chunk_rows
        rows, lines = rows[chunk_rows:], lines[chunk_rows:]
    for row in reader:
        if _is_blank(row):
            continue
        rows.append(row)
        lines.append(reader.line_num)
        if chunk_rows is not None and len(rows) >= chunk_rows:
            yield frame(rows, lines)
            offset += len(rows)
            rows, lines = [], array("q")
    if rows or offset == 0:
        yield frame(rows, lines)
