"""Reading CSV with ``pyarrow.csv``: what the file is, decided in Python on a sample; the rows, parsed by pyarrow.

The rules are those of :mod:`backprop.tabular` (its docstring). How this module keeps them:

* **The sample** (the first MiB, more until it holds a wide file's first rows) gives the
  encoding, the delimiter, the header and the column names; pyarrow is told them
  (``ReadOptions``: encoding, ``column_names``, ``skip_rows`` = the lines up to the header;
  ``ParseOptions``: the delimiter, quoted newlines unless a whole file holds no quote).
* **Column types** come from the sample's cells, all matched at once: a column of numbers
  (:data:`_NUMBER`, what pyarrow's float parser reads: a subset of Python's ``float``, with the
  same values) or missing cells is float64 (never int64, whose parser takes ``0x10``); one of
  ISO-8601 dates is pyarrow's date or timestamp (``datetime64`` in the Frame); anything else is
  text, never booleans. The spellings of :data:`~backprop.tabular.columns.MISSING` are null. A
  later cell that does not convert makes its column text (:func:`read_csv` reads again,
  :func:`iter_csv` goes on after the rows it gave; past :data:`_RETRIES` such columns, all are
  read as text and cast where they can be). Text is parsed by
  :func:`~backprop.tabular.columns.parse_numbers` as ever: ``" 1.5"``, ``1,5``, ``1_000`` keep
  their meaning.
* **Blank lines**: pyarrow skips empty ones; a line of spaces and tabs is a row of one field,
  which ``invalid_row_handler`` skips; a one-column file is read as text, its blank rows dropped.
* **Lines**: pyarrow does not count them. :attr:`Frame.find_lines` reads the file again with
  Python's :mod:`csv` when a message names a line, and a row pyarrow refuses (ragged, a quote
  never closed) is found and described the same way (:func:`_diagnose`).

Imports ``frame``, ``columns`` and ``arrow_tables``; :mod:`~backprop.tabular.readers` calls
:func:`read_csv` and :func:`iter_csv`.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

import numpy as np
from numpy.typing import NDArray

from .._memory import CHUNK_BYTES, format_bytes, rows_within
from ..errors import DataError
from ..files import has_byte
from .arrow_tables import buffer_values, coded_text, frame_of_arrow, null_mask, pyarrow, release_memory
from .columns import MISSING, is_missing
from .frame import Frame, header_names, one_line

#: Delimiters the CSV sniffer chooses from.
DELIMITERS = ",;\t|"

#: Text the delimiter is sniffed on.
_SNIFF_CHARS = 1 << 16
#: Bytes read before pyarrow starts: the header rows and the column types come from them.
_SAMPLE_BYTES = 1 << 20
#: A sample grows (doubling, up to CHUNK_BYTES) until it holds this many line ends: a wide file's first rows.
_SAMPLE_LINES = 3
_HEADER_ROWS = 100
#: What a chunk's cell costs at its peak: text (a str, its place in an object array, pyarrow's copy), or a
#: number or date (pyarrow's parsed text and offsets, its array, the batches held, numpy's copy).
_CELL_BYTES = 72
_NUMBER_BYTES = 40
#: Columns turned to text by reading again, before every column is read as text.
_RETRIES = 2
#: pyarrow's block (bytes parsed at once): a whole read's, a stream's least and most, and the largest tried.
#: A stream's reader reads up to 32 blocks ahead in a thread of its own: ~16 MiB of 512 KiB blocks, which parse
#: as fast as larger ones (of 5 MiB blocks, a 60 MB file was held whole; the most, 16 MiB, held 512 MiB). It
#: parses them one after the other, with or without ``use_threads``; without, it decodes none ahead in
#: pyarrow's pool (memory), and ``backprop predict``, which streams in a thread of its own, was not seen to end
#: in glibc's "tcache_thread_shutdown(): unaligned tcache chunk detected" under an address-space limit (with,
#: every other run of tests/test_limits.py's million rows).
_BLOCK_BYTES = 1 << 20
_STREAM_BLOCK = (1 << 16, 1 << 19)
_LARGEST_BLOCK = 1 << 30
#: A number as pyarrow's float parser reads it (a subset of Python's float: no ``_``, no other digits).
_NUMBER = r"^[ \t]*[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[+-]?[0-9]+)?|inf|infinity|nan)[ \t]*$"
#: What may be an ISO-8601 date or timestamp (pyarrow's inference says which, if any).
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}.*)?$"
#: From this many columns pyarrow reads in one thread: its threads' work grows with the columns (~3x for 100,000).
_THREADED_WIDTH = 10_000
#: Whitespace cells pyarrow makes null (other whitespace-only cells stay text, missing to parse_numbers).
_BLANKS = (" ", "  ", "   ", "    ", "\t", "\t\t")


class NotUtf8Error(Exception):
    """The text is not UTF-8 after all (found past the sniffed sample)."""


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


def _is_blank(row: list[str]) -> bool:
    """A row from an empty line, or from a line of only spaces and tabs (one field of whitespace)."""
    return not row or (len(row) == 1 and not row[0].strip())


@functools.cache
def _null_values() -> list[str]:
    """The cells pyarrow makes null: the spellings of :data:`MISSING` in lower, upper and title case, and
    short whitespace. (Each spelling costs pyarrow time in every column; a rarer one, ``nUlL``, makes
    its column text, which :func:`~backprop.tabular.columns.parse_numbers` reads as missing all the same.)
    """
    spellings = {case for word in MISSING for case in (word, word.upper(), word.title())}
    return sorted({*_BLANKS, *spellings, "NaN", "-NaN"})


# ------------------------------------------------------------------ where the bytes come from


class _Source:
    """A CSV's bytes: a file (read again as often as needed), standard input read whole, or a stream read once."""

    def __init__(
        self, where: str, path: str | None = None, data: bytes | None = None, stream: BinaryIO | None = None
    ) -> None:
        self.where, self.path, self.data, self.stream = where, path, data, stream
        self.rereadable = stream is None
        self.start = 0  # bytes before the text (a UTF-8 byte-order mark)
        self._sample = b""
        self._whole = False  # a stream all in its sample: its lines can be found

    @property
    def kept(self) -> bytes | None:
        """The bytes of a source not read from a file, when this has them all."""
        return self.data if self.data is not None else (self._sample if self._whole else None)

    def sample(self) -> tuple[bytes, bool]:
        """The first MiB (more, until a few line ends are in it), and whether it is the whole source."""
        raw: BinaryIO
        if self.path is not None:
            raw = open(self.path, "rb")  # noqa: SIM115
        else:
            raw = self.stream if self.stream is not None else io.BytesIO(self.data or b"")
        try:
            sample = raw.read(_SAMPLE_BYTES)
            complete = len(sample) < _SAMPLE_BYTES
            while not complete and sample.count(b"\n") + sample.count(b"\r") < _SAMPLE_LINES:
                if len(sample) >= CHUNK_BYTES:
                    break
                more = raw.read(len(sample))
                complete = len(more) < len(sample)
                sample += more
        finally:
            if self.path is not None:
                raw.close()
        if self.stream is not None:  # replayed in front of the rest of the stream
            self._sample, self._whole = sample, complete
        return sample, complete

    def open(self) -> Any:
        """The bytes from :attr:`start`, for pyarrow (a stream: only once)."""
        pa = pyarrow()
        if self.path is not None:
            file = pa.OSFile(self.path, "r")
            file.seek(self.start)
            return file
        if self.data is not None:
            return pa.BufferReader(pa.py_buffer(self.data)[self.start :])
        if self.stream is None:
            raise DataError(f"{self.where} can be read only once")
        stream, self.stream = self.stream, None
        return io.BufferedReader(_Replay(self._sample[self.start :], stream), buffer_size=_BLOCK_BYTES)

    def text(self, encoding: str) -> TextIO | None:
        """The text again, for Python's csv module (None for a stream)."""
        if self.path is not None:
            raw: BinaryIO = open(self.path, "rb")  # noqa: SIM115
        elif self.kept is not None:
            raw = io.BytesIO(self.kept)
        else:
            return None
        raw.seek(self.start)
        return io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")

    def size(self) -> int | None:
        """Its size in bytes (None for a stream)."""
        if self.path is None:
            return None if self.kept is None else len(self.kept)
        return os.path.getsize(self.path)

    def tail(self) -> bytes | None:
        """The last bytes (None for a stream)."""
        if self.path is None:
            return None if self.kept is None else self.kept[-16:]
        with open(self.path, "rb") as file:
            file.seek(max(os.fstat(file.fileno()).st_size - 16, 0))
            return file.read()


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


# ------------------------------------------------------------------ what the sample says


@dataclass
class _Plan:
    """What the sample decided, for pyarrow: the dialect, the names and types, the lines before the data."""

    where: str
    encoding: str
    delimiter: str
    has_header: bool
    names: list[str]
    skip_lines: int
    longest_line: int
    line_bytes: float
    notes: list[str]
    types: list[Any] = field(default_factory=list)
    decimal_point: str = "."
    quoted: bool = True  # a quote may hold a newline (pyarrow then cuts the file into blocks more slowly)

    @property
    def decimal_comma(self) -> bool:
        return self.delimiter != ","

    @property
    def width(self) -> int:
        return len(self.names)

    @property
    def arrow_encoding(self) -> str:
        return "utf8" if self.encoding == "utf-8" else self.encoding


def _plan(source: _Source, header: bool | None, encoding: str | None) -> _Plan:
    """What the source's sample says (the source learns how many bytes its byte-order mark takes)."""
    where = source.where
    sample, complete = source.sample()
    if not sample.strip():
        raise DataError(f"{where} is empty: no header and no rows")
    notes: list[str] = []
    if encoding is None:
        encoding, bom = _encoding_of(sample, complete)
        if encoding == "latin-1":
            notes.append(f"{where} is not valid UTF-8; read it as Latin-1")
    else:
        bom = 3 if sample.startswith(codecs.BOM_UTF8) else 0
    source.start = bom
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(sample[bom:], final=complete)
    except UnicodeDecodeError as exc:
        raise NotUtf8Error(f"at byte {exc.start}") from None
    if not complete:
        end = max(text.rfind("\n"), text.rfind("\r"))
        text = text[: end + 1] if end > 0 else text
    head = text[:_SNIFF_CHARS]
    lines = [line for line in head.splitlines()[: _HEADER_ROWS + 1] if line.strip()]
    if (not complete or len(head) < len(text)) and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    delimiter = _sniff_delimiter(lines)
    rows, ends = _first_rows(where, text, delimiter, complete)
    if not rows:
        raise DataError(f"{where} is empty: no header and no rows")
    has_header = _detect_header(rows, delimiter != ",") if header is None else header
    if has_header:
        names, skip_lines = header_names(rows[0], notes, where), ends[0]
    else:
        names, skip_lines = [f"x{j}" for j in range(len(rows[0]))], 0
    all_lines = text.splitlines() or [""]
    plan = _Plan(
        where=where,
        encoding=encoding,
        delimiter=delimiter,
        has_header=has_header,
        names=names,
        skip_lines=skip_lines,
        longest_line=max(len(line) for line in all_lines),
        line_bytes=len(text) / len(all_lines),
        notes=notes,
    )
    _column_types(plan, text.encode("utf-8"))
    return plan


def _first_rows(where: str, text: str, delimiter: str, complete: bool) -> tuple[list[list[str]], list[int]]:
    """The first non-blank rows of the sample (up to :data:`_HEADER_ROWS` + 1), and the line each ends on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[list[str]] = []
    ends: list[int] = []
    try:
        for row in reader:
            if not _is_blank(row):
                rows.append(row)
                ends.append(reader.line_num)
                if len(rows) > _HEADER_ROWS:
                    return rows, ends
    except csv.Error as exc:  # a field longer than csv's limit: in practice a quote that is never closed
        raise DataError(f"{where}: line {reader.line_num} is not valid CSV ({exc}); check the quoting") from None
    if not complete and len(rows) > 1:
        rows, ends = rows[:-1], ends[:-1]  # the sample may end inside the last row
    return rows, ends


def _column_types(plan: _Plan, data: bytes) -> None:
    """The type of each column and the decimal point, from the sample ``data`` (its text as UTF-8).

    The sample is read as text and every cell matched at once (one array of all the cells, so
    that 100,000 columns cost what 100,000 cells do): a column whose cells are all numbers
    (:data:`_NUMBER`) or missing is float64; one whose cells all look like ISO dates is typed by
    pyarrow's inference (a date, a timestamp, or text); any other is text. A semicolon-delimited
    file's decimal point is the one that makes more columns numbers (the other stays text, for
    :func:`~backprop.tabular.columns.parse_numbers`).
    """
    pa = pyarrow()
    import pyarrow.compute as pc  # type: ignore[import-untyped]
    import pyarrow.csv as pcsv  # type: ignore[import-untyped]

    def read(types: list[Any] | None, columns: list[str] | None = None) -> Any:
        options = _options(plan, types, max(len(data) + 1, _BLOCK_BYTES), ".", probe=True)
        read_options, parse_options, convert_options = options
        read_options.encoding, read_options.use_threads = "utf8", False
        if columns is not None:
            convert_options.include_columns = columns
        return pcsv.read_csv(pa.BufferReader(data), read_options, parse_options, convert_options)

    def matching(pattern: str) -> NDArray[np.bool_]:
        """Columns whose every cell matches ``pattern`` or is missing."""
        if rows == 0:
            return np.ones(plan.width, dtype=bool)
        found = pc.cast(pc.match_substring_regex(cells, pattern, ignore_case=True), pa.uint8())
        # A missing cell matches. Read from Arrow's buffers (see arrow_tables.null_mask): not fill_null(True).
        grid = (buffer_values(found, np.dtype(np.uint8)) != 0) | null_mask(found)
        grid = grid.reshape(plan.width, rows)
        return np.asarray(grid.all(axis=1), dtype=bool)

    text = pa.string()
    plan.types = [text] * plan.width
    try:
        table = read(plan.types)
    except (pa.ArrowException, ValueError) as exc:  # a sample pyarrow cannot read: the whole read will say why
        if isinstance(exc, pa.ArrowCancelled):
            raise
        return
    rows = table.num_rows
    cells = pa.concat_arrays([column.combine_chunks() for column in table.columns]) if rows else None
    points = (".", ",") if plan.decimal_comma else (".",)
    numbers = {point: matching(_NUMBER.replace(r"\.", re.escape(point))) for point in points}
    plan.decimal_point = max(points, key=lambda point: (int(numbers[point].sum()), point == "."))
    dates = ~numbers[plan.decimal_point] & matching(_DATE) if rows else np.zeros(plan.width, dtype=bool)
    for number in np.flatnonzero(numbers[plan.decimal_point]).tolist():
        plan.types[number] = pa.float64()
    if dates.any():
        positions = np.flatnonzero(dates).tolist()
        try:
            inferred = read(None, [plan.names[j] for j in positions])
        except (pa.ArrowException, ValueError) as exc:
            if isinstance(exc, pa.ArrowCancelled):
                raise
            return
        for j, column in zip(positions, inferred.columns, strict=True):
            plan.types[j] = _narrowed(pa, column.type)


def _narrowed(pa: Any, kind: Any) -> Any:
    """The type a column is read as, from the one pyarrow inferred: float64, a date or timestamp, or text."""
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind):
        return pa.float64()  # a column empty in the sample too: if text comes later, it becomes text then
    if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
        return kind
    return pa.string()  # text, and times of day (pyarrow's time32), which backprop reads as text


def _options(plan: _Plan, types: list[Any] | None, block: int, point: str, probe: bool = False) -> tuple[Any, ...]:
    """pyarrow's read, parse and convert options for ``plan`` (``types`` None: pyarrow infers them). ``probe``:
    for the sample, where any row pyarrow refuses is skipped and a one-column file's blank rows may be null."""
    import pyarrow.csv as pcsv

    handler = (lambda row: "skip") if probe else _blank_rows_skipped(plan.delimiter)
    read = pcsv.ReadOptions(
        skip_rows=plan.skip_lines,
        column_names=plan.names,
        block_size=block,
        encoding=plan.arrow_encoding,
        use_threads=plan.width < _THREADED_WIDTH,
    )
    parse = pcsv.ParseOptions(
        delimiter=plan.delimiter, newlines_in_values=plan.quoted, ignore_empty_lines=True, invalid_row_handler=handler
    )
    one_column = plan.width == 1 and not probe  # blank rows are values there: kept as text, to be dropped
    convert = pcsv.ConvertOptions(
        column_types=None if types is None else dict(zip(plan.names, types, strict=True)),
        null_values=[] if one_column else _null_values(),
        strings_can_be_null=not one_column,
        quoted_strings_can_be_null=not one_column,
        true_values=[],
        false_values=[],
        decimal_point=point,
        check_utf8=True,
    )
    return read, parse, convert


def _blank_rows_skipped(delimiter: str) -> Any:
    """pyarrow's ``invalid_row_handler``: skip a blank line (one field of whitespace), refuse any other row."""

    def handler(row: Any) -> str:
        try:
            cells = next(csv.reader([row.text], delimiter=delimiter), [])
        except csv.Error:
            return "error"
        return "skip" if _is_blank(cells) else "error"

    return handler


# ------------------------------------------------------------------ reading


def read_csv(source: str, header: bool | None, stdin: BinaryIO | None) -> Frame:
    """The whole CSV table as one Frame (``source`` ``-``: ``stdin``, default standard input)."""
    if source == "-":
        data = (stdin if stdin is not None else sys.stdin.buffer).read()
        where = _Source("<stdin>", data=data)
    else:
        where = _Source(source, path=source)
    try:
        return _read_whole(where, header, None)
    except NotUtf8Error as exc:
        if source == "-":
            raise DataError(f"<stdin> is not valid UTF-8 ({exc}); convert it to UTF-8") from None
        frame = _read_whole(where, header, "latin-1")
        frame.notes.append(f"{source} is not valid UTF-8 ({exc}); read it as Latin-1")
        return frame


def iter_csv(source: str, chunk_rows: int, header: bool | None, stdin: BinaryIO | None) -> Iterator[Frame]:
    """The CSV table in Frames of at most ``chunk_rows`` rows (fewer for a wide file: see the module docstring)."""
    if source == "-":
        where = _Source("<stdin>", stream=stdin if stdin is not None else sys.stdin.buffer)
    else:
        where = _Source(source, path=source)
    try:
        plan = _plan(where, header, None)
        yield from _stream(plan, where, chunk_rows)
    except NotUtf8Error as exc:
        raise DataError(f"{where.where} is not valid UTF-8 ({exc}); convert it to UTF-8") from None


@dataclass
class _Attempt:
    """How pyarrow reads the file this time: the types, all as text or not, the block; changed by each error."""

    types: list[Any]
    as_text: bool
    block: int
    retries: int = 0
    empty: bool = False  # the header runs to the end of the file: no rows

    def read_types(self, width: int) -> list[Any]:
        pa = pyarrow()
        if self.as_text:
            return [pa.string()] * width
        # Text dictionary-encoded as pyarrow parses it, on its threads: a Frame's text column is its codes.
        return [coded_text() if kind == pa.string() else kind for kind in self.types]


def _recover(exc: BaseException, plan: _Plan, source: _Source, attempt: _Attempt) -> None:
    """Change ``attempt`` after pyarrow's error ``exc``, or raise the DataError that ``exc`` stands for."""
    pa = pyarrow()
    if isinstance(exc, pa.ArrowCancelled):  # Ctrl-C while pyarrow read
        raise exc
    column = _failed_column(exc, attempt.read_types(plan.width))
    if column is not None:
        if attempt.retries < _RETRIES:
            attempt.types[column], attempt.retries = pa.string(), attempt.retries + 1
        else:
            attempt.as_text = True
        return
    message, size = str(exc), source.size()
    if "Could not skip" in message and (size is None or attempt.block > size):
        attempt.empty = True  # pyarrow found fewer lines than the header has: there is nothing after it
    elif ("straddl" in message or "Could not skip" in message) and attempt.block < _LARGEST_BLOCK:
        attempt.block = min(4 * attempt.block, _LARGEST_BLOCK)  # a row (or the header) longer than a block
    else:
        raise _diagnose(plan, source, exc) or DataError(f"{plan.where} is not valid CSV ({one_line(exc)})")


def _read_whole(source: _Source, header: bool | None, encoding: str | None) -> Frame:
    pa = pyarrow()
    import pyarrow.csv as pcsv

    plan = _plan(source, header, encoding)
    attempt = _Attempt(list(plan.types), plan.width == 1, min(max(_BLOCK_BYTES, 4 * plan.longest_line), _LARGEST_BLOCK))
    plan.quoted = source.path is None or has_byte(source.path, b'"')  # no quote: every newline ends a row
    while not attempt.empty:
        file = source.open()
        try:
            options = _options(plan, attempt.read_types(plan.width), attempt.block, plan.decimal_point)
            table = pcsv.read_csv(file, *options)
            release_memory()  # the parse's buffers, freed: the frame's arrays reuse their pages
            break
        except (pa.ArrowException, UnicodeDecodeError) as exc:
            _recover(exc, plan, source, attempt)
        finally:
            file.close()
    if attempt.empty:
        table = pa.schema(list(zip(plan.names, attempt.types, strict=True))).empty_table()
    elif attempt.as_text:
        table = _typed(table, plan, attempt.types)
    _check_end(plan, table, source)
    return _frame(plan, table, 0, source)


def _stream(plan: _Plan, source: _Source, chunk_rows: int) -> Iterator[Frame]:
    """Frames of ``chunk_rows`` rows (the last fewer); a conversion error starts again after the rows given."""
    pa = pyarrow()
    import pyarrow.csv as pcsv

    row_bytes = sum(_NUMBER_BYTES if t != pa.string() else _CELL_BYTES for t in plan.types)
    chunk_rows = min(chunk_rows, rows_within(row_bytes))
    block = int(min(max(chunk_rows * plan.line_bytes * 1.25, _STREAM_BLOCK[0]), _STREAM_BLOCK[1]))
    # A stream read once cannot be read again after a conversion error: all text, converted chunk by chunk.
    as_text = plan.width == 1 or not source.rereadable
    attempt = _Attempt(list(plan.types), as_text, min(max(block, 4 * plan.longest_line), _LARGEST_BLOCK))
    given = 0
    while not attempt.empty:
        file = source.open()
        try:
            read_types = attempt.read_types(plan.width)
            read, parse, convert = _options(plan, read_types, attempt.block, plan.decimal_point)
            read.use_threads = False  # see _STREAM_BLOCK
            reader = pcsv.open_csv(file, read, parse, convert)
            skip, pending, held, last = given, [], 0, None
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                if plan.width == 1:
                    batch = _without_blank_rows(batch)
                if skip:  # rows given before a new start
                    batch, skip = batch.slice(min(skip, batch.num_rows)), max(skip - batch.num_rows, 0)
                pending.append(batch)
                held += batch.num_rows
                while held >= chunk_rows:
                    table = pa.Table.from_batches(pending, schema=reader.schema)
                    pending, held = table.slice(chunk_rows).to_batches(), held - chunk_rows
                    last = table.slice(0, chunk_rows)
                    last = _typed(last, plan, attempt.types) if attempt.as_text else last
                    yield _frame(plan, last, given, source)
                    given += chunk_rows
            if held or not given:
                last = pa.Table.from_batches(pending, schema=reader.schema)
                last = _typed(last, plan, attempt.types) if attempt.as_text else last
                _check_end(plan, last, source)
                yield _frame(plan, last, given, source)
            elif last is not None:
                _check_end(plan, last, source)
            return
        except (pa.ArrowException, UnicodeDecodeError) as exc:
            _recover(exc, plan, source, attempt)
            if not source.rereadable and not attempt.empty:
                raise DataError(
                    f"{plan.where} is not valid CSV ({one_line(exc)}); check the delimiter and quoting"
                ) from None
        finally:
            file.close()
    yield _frame(plan, pa.schema(list(zip(plan.names, attempt.types, strict=True))).empty_table(), 0, source)


def _failed_column(exc: BaseException, types: list[Any]) -> int | None:
    """The column whose cells did not convert to its type (to read as text), or None for another error;
    :class:`NotUtf8Error` if the text is not UTF-8 after all."""
    message = str(exc)
    if isinstance(exc, UnicodeDecodeError) or "invalid UTF8" in message:
        raise NotUtf8Error(f"past its first {format_bytes(_SAMPLE_BYTES)}") from None
    found = re.search(r"CSV column #(\d+): (?:Row #\d+: )?CSV conversion error", message)  # a row when one thread
    if found is None:
        return None
    column = int(found.group(1))
    pa = pyarrow()
    return column if column < len(types) and types[column] not in (pa.string(), coded_text()) else None


# ------------------------------------------------------------------ text columns converted, and frames


def _without_blank_rows(batch: Any) -> Any:
    """A one-column batch without its blank rows (blank lines are values there, not invalid rows)."""
    import pyarrow.compute as pc

    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(batch.column(0))), 0)
    return batch.filter(pc.invert(blank))


def _typed(table: Any, plan: _Plan, types: list[Any]) -> Any:
    """A table read as text with each column converted to its planned type where every cell converts."""
    pa = pyarrow()
    import pyarrow.compute as pc

    if plan.width == 1:
        table = _without_blank_rows(table)
        column = table.column(0)
        missing = pc.is_in(pc.utf8_lower(pc.utf8_trim_whitespace(column)), value_set=pa.array(sorted(MISSING)))
        table = table.set_column(0, plan.names[0], pc.if_else(missing, pa.scalar(None, pa.string()), column))
    for j, kind in enumerate(types):
        if kind == pa.string():
            continue
        try:
            converted = pc.cast(pc.ascii_trim_whitespace(table.column(j)), kind)
        except pa.ArrowException:
            continue  # text, for parse_numbers to read (or to refuse, naming the cell)
        table = table.set_column(j, plan.names[j], converted)
    return table


def _frame(plan: _Plan, table: Any, offset: int, source: _Source) -> Frame:
    frame = frame_of_arrow(table, plan.where, offset)
    frame.decimal_comma = plan.decimal_comma
    frame.find_lines = _Lines(plan, source)
    if offset == 0:
        frame.notes = [*plan.notes, *frame.notes]
    return frame


def _check_end(plan: _Plan, table: Any, source: _Source) -> None:
    """Refuse a quote never closed, as the rows before pyarrow did: pyarrow ends the field at the end of the file."""
    pa = pyarrow()
    if table.num_rows == 0 or table.schema.field(plan.width - 1).type not in (pa.string(), coded_text()):
        return
    last = table.column(plan.width - 1)[table.num_rows - 1].as_py()
    if last is None or ("\n" not in last and "\r" not in last):
        return
    tail = source.tail()
    if tail is None or tail.decode(plan.encoding, errors="ignore").rstrip("\r\n\x00").endswith('"'):
        return  # the last field is closed
    problem = _diagnose(plan, source, None)
    if problem is not None:
        raise problem


# ------------------------------------------------------------------ lines and errors, found by reading again


class _ScanError(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


def _scan(plan: _Plan, source: _Source) -> Iterator[tuple[int, int, int]]:
    """Data rows as Python's csv module reads them: (row, the line it ends on, its number of fields)."""
    text = source.text(plan.encoding)
    if text is None:
        return
    with text:
        reader = csv.reader(text, delimiter=plan.delimiter)
        row = -1 if plan.has_header else 0
        try:
            for fields in reader:
                if _is_blank(fields):
                    continue
                if row >= 0:
                    yield row, reader.line_num, len(fields)
                row += 1
        except csv.Error as exc:
            raise _ScanError(reader.line_num, str(exc)) from None


class _Lines:
    """:attr:`Frame.find_lines` of a CSV: the lines rows end on, by reading the file again up to the last one asked."""

    def __init__(self, plan: _Plan, source: _Source) -> None:
        self._plan = plan
        # Standard input is kept for this only when small; a stream read once has no lines to give.
        keep = source.path is not None or (source.kept is not None and len(source.kept) <= CHUNK_BYTES)
        self._source = source if keep else None

    def __call__(self, rows: NDArray[np.int64]) -> NDArray[np.int64] | None:
        rows = np.asarray(rows, dtype=np.int64)
        if self._source is None:
            return None
        if rows.size == 0:
            return np.zeros(0, dtype=np.int64)
        last = int(rows.max())
        found = np.full(last + 1, -1, dtype=np.int64)
        try:
            for row, line, _ in _scan(self._plan, self._source):
                if row > last:
                    break
                found[row] = line
        except (_ScanError, OSError):
            return None
        lines = found[rows]
        return None if (lines < 0).any() else lines


def _diagnose(plan: _Plan, source: _Source, exc: BaseException | None) -> DataError | None:
    """What pyarrow refused, located by reading the file with Python's csv module: a ragged row, a bad quote."""
    width = plan.width
    delimiter = "tab" if plan.delimiter == "\t" else repr(plan.delimiter)
    try:
        for row, line, count in _scan(plan, source):
            if count != width:
                return DataError(
                    f"{plan.where}: row {row} (line {line}) has {count} field{'s' if count != 1 else ''}, the "
                    f"{'header' if plan.has_header else 'first row'} has {width}; check the delimiter "
                    f"({delimiter}) and quoting"
                )
    except _ScanError as error:
        return DataError(f"{plan.where}: line {error.line} is not valid CSV ({error.reason}); check the quoting")
    if exc is None:
        return None
    return DataError(f"{plan.where} is not valid CSV ({one_line(exc)}); check the delimiter ({delimiter}) and quoting")
