"""Tables for the command-line tool: reading data files and turning columns into network inputs.

Sources (:func:`read_table` reads one whole, :func:`iter_tables` in chunks of
bounded size):

* **CSV** (any other file, or ``-`` for standard input): the encoding is
  UTF-8, UTF-8 with a byte-order mark, UTF-16 with a byte-order mark, or, when
  the bytes are not UTF-8, Latin-1 (with a note saying so); the delimiter is
  sniffed among ``, ; TAB |``; CRLF and LF line ends both work; blank lines
  (empty, or only spaces and tabs) are skipped; the first row is a header
  unless it looks like data (every field a number, or its text values recur
  in their columns), and the only row of a one-row file is a header only if
  none of its fields is a number. A semicolon-delimited file may use decimal
  commas (``1,5``).
* **Parquet** (``.parquet``, ``.pq`` or the ``PAR1`` magic): read with
  pyarrow, imported only then (``pip install 'backprop[parquet]'``).
* **NumPy**: ``.npz`` with arrays ``X`` (2-D) and optionally ``y`` (1-D) and
  ``feature_names``; ``.npy`` holding one 2-D array. Read with
  ``allow_pickle=False``: a file of Python objects is refused, never unpickled.
  Columns are named ``x0``, ``x1``, ... and the target of an ``.npz`` ``y``.
* a **built-in dataset** name (:data:`backprop.datasets.DATASETS`): its
  training and test parts together, the target column named ``target``.

Cells are missing when empty or one of ``NA``, ``N/A``, ``NaN``, ``null``,
``None``, ``?`` (any case).

A :class:`Preprocessor` is fitted on the training rows and remembers what
turns a table into the network's inputs: the feature columns and their kind
(numeric, or categorical and one-hot encoded), the categories, the values
that fill missing cells (``impute="mean"`` or ``"median"``; the most frequent
category for categorical columns), the standardisation statistics, and the
target (class labels, or a numeric target's scaling). It serialises to plain
JSON (:meth:`Preprocessor.to_dict`) and is stored in the model file, so
``predict``, ``evaluate`` and ``explain`` prepare new data exactly as
training did.

Nothing here prints: notes for the user (an encoding fallback, renamed
columns, rows dropped) are returned in :attr:`Frame.notes` and
:attr:`Prepared.notes`.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import zipfile
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal

import numpy as np
from numpy.typing import NDArray

from ._memory import CHUNK_BYTES, available_bytes, check_allocation, rows_within
from .errors import DataError, MissingDependencyError, ModelFileError, ParameterError

#: Rows per chunk when a table is read piece by piece (``predict``, ``evaluate``).
CHUNK_ROWS = 65536
#: Delimiters the CSV sniffer chooses from.
DELIMITERS = ",;\t|"
#: Cell values that mean "missing" (compared stripped and lower-cased).
MISSING = frozenset({"", "na", "n/a", "nan", "-nan", "null", "none", "?", "<na>", "#n/a"})
#: How ``impute`` fills a missing cell; ``drop`` removes its row instead.
IMPUTE = ("mean", "median", "drop")
TASKS = ("classification", "regression")
PARQUET_HINT = "pip install 'backprop[parquet]'"

#: A numeric target with integer values and at most this many of them is taken as class labels.
MAX_AUTO_CLASSES = 20
#: A text column with more distinct values than this (and than half its rows) looks like an identifier.
MAX_CATEGORIES = 100
PREPROCESSING_FORMAT = "backprop-preprocessing"
PREPROCESSING_VERSION = 1

_SAMPLE_BYTES = 1 << 16
#: What a CSV cell costs while a chunk is read: a short str, its place in the row's list and in its column.
_CELL_BYTES = 72
_HEADER_ROWS = 100
#: The largest magnitude of a numeric feature or target: the network's inputs and targets are float32.
_LARGEST = float(np.finfo(np.float32).max)

Label = str | int | float


# --------------------------------------------------------------------------- frames


@dataclass
class Frame:
    """Columns of a table, as read: text (object arrays of str or None) or numbers (float64, NaN missing).

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
    lines : ndarray of int64 or None
        For CSV, the file line on which each row ends (header = line 1).
    notes : list of str
        What the reader decided that the user should know.
    unsupported : dict of str to str
        Columns of a type backprop cannot use (a Parquet timestamp, ...), by name.
    decimal_comma : bool
        Numbers may be written with a decimal comma (a semicolon-delimited CSV).
    """

    source: str
    names: list[str]
    columns: list[NDArray[Any]]
    offset: int = 0
    lines: NDArray[np.int64] | None = None
    notes: list[str] = field(default_factory=list)
    unsupported: dict[str, str] = field(default_factory=dict)
    decimal_comma: bool = False
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
        raise DataError(f"{self.source}: no column {name_or_index!r}; the columns are {_listed(self.names)}")

    def column(self, name: str) -> NDArray[Any]:
        """The column called ``name``; DataError naming the source's columns if there is none."""
        if name in self.unsupported:
            raise DataError(
                f"{self.source}: column {name!r} has type {self.unsupported[name]}, which backprop cannot use; "
                "leave it out (--ignore) or convert it to numbers or text"
            )
        found = self._find(name)
        if found is None:
            raise DataError(f"{self.source}: no column {name!r}; the columns are {_listed(self.names)}")
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

    def where(self, row: int) -> str:
        """``row 17 (line 19)``: a row of this chunk, numbered from 0 over the whole source."""
        text = f"row {self.offset + row}"
        if self.lines is not None and 0 <= row < len(self.lines):
            text += f" (line {int(self.lines[row])})"
        return text

    def take(self, rows: NDArray[np.int64]) -> Frame:
        """A frame of the given rows (absolute positions are kept only for contiguous slices)."""
        return Frame(
            source=self.source,
            names=list(self.names),
            columns=[c[rows] for c in self.columns],
            offset=self.offset,
            lines=None if self.lines is None else self.lines[rows],
            notes=list(self.notes),
            unsupported=dict(self.unsupported),
            decimal_comma=self.decimal_comma,
        )


def _listed(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"{shown}, ... ({len(names)} in all)" if len(names) > limit else shown or "(none)"


# --------------------------------------------------------------------------- reading


def is_dataset_name(source: str) -> bool:
    """True if ``source`` names a built-in dataset and no file of that name exists."""
    from .datasets import DATASETS

    return source in DATASETS and not os.path.exists(source)


def read_table(source: str, *, header: bool | None = None, stdin: BinaryIO | None = None) -> Frame:
    """Read a whole table: a CSV, Parquet, ``.npz``/``.npy`` file, ``-`` (standard input) or a dataset name.

    Parameters
    ----------
    source : str
        A path, ``-`` or a built-in dataset name.
    header : bool or None, default None
        For CSV: whether the first row names the columns; None detects it.
    stdin : binary file, optional
        What ``-`` reads (default ``sys.stdin.buffer``).

    Returns
    -------
    Frame

    Raises
    ------
    DataError
        An empty file, ragged rows, a pickled ``.npz``, ... (the message names the file).
    MissingDependencyError
        A Parquet file without pyarrow installed.
    """
    if source != "-" and is_dataset_name(source):
        return _read_dataset(source)
    kind = _kind(source)
    if kind == "parquet":
        return _read_parquet(source)
    if kind in ("npz", "npy"):
        return _read_numpy(source, kind)
    try:
        frames = list(_iter_csv(source, None, header, stdin, encoding=None))
    except _NotUtf8Error as exc:
        if source == "-":
            raise DataError(f"<stdin> is not valid UTF-8 ({exc}); convert it to UTF-8") from None
        frames = list(_iter_csv(source, None, header, stdin, encoding="latin-1"))
        frames[0].notes.append(f"{source} is not valid UTF-8 ({exc}); read it as Latin-1")
    return frames[0]


def iter_tables(
    source: str, chunk_rows: int = CHUNK_ROWS, *, header: bool | None = None, stdin: BinaryIO | None = None
) -> Iterator[Frame]:
    """Read a table in chunks of at most ``chunk_rows`` rows, so memory stays bounded for any size.

    CSV and Parquet files are streamed (a CSV's chunks also hold no more
    cells than fit :data:`backprop._memory.CHUNK_BYTES`, so a file of many
    columns comes in fewer rows at a time); ``.npy`` files are memory-mapped;
    ``.npz`` files and datasets are read whole and then cut. Every chunk
    has the same columns; :attr:`Frame.offset` says where it starts. A
    header-only file gives one chunk of zero rows.

    Parameters
    ----------
    source, header, stdin
        As for :func:`read_table`.
    chunk_rows : int, default :data:`CHUNK_ROWS`

    Yields
    ------
    Frame
    """
    if chunk_rows < 1:
        raise ParameterError(f"chunk_rows must be a positive integer, got chunk_rows={chunk_rows!r}")
    if source != "-" and is_dataset_name(source):
        yield from _cut(_read_dataset(source), chunk_rows)
        return
    kind = _kind(source)
    if kind == "parquet":
        yield from _iter_parquet(source, chunk_rows)
    elif kind == "npy":
        yield from _iter_npy(source, chunk_rows)
    elif kind == "npz":
        yield from _cut(_read_numpy(source, kind), chunk_rows)
    else:
        try:
            yield from _iter_csv(source, chunk_rows, header, stdin, encoding=None)
        except _NotUtf8Error as exc:
            where = "<stdin>" if source == "-" else source
            raise DataError(f"{where} is not valid UTF-8 ({exc}); convert it to UTF-8") from None


def _cut(frame: Frame, chunk_rows: int) -> Iterator[Frame]:
    if frame.n_rows == 0:
        yield frame
        return
    for start in range(0, frame.n_rows, chunk_rows):
        part = frame.take(np.arange(start, min(start + chunk_rows, frame.n_rows)))
        part.offset = frame.offset + start
        yield part


def _kind(source: str) -> str:
    if source == "-":
        return "csv"
    if not os.path.exists(source):
        raise DataError(f"no such file: {source}")
    if os.path.isdir(source):
        raise DataError(f"{source} is a folder; give a CSV, Parquet, .npz or .npy file")
    with open(source, "rb") as file:
        magic = file.read(6)
    suffix = os.path.splitext(source)[1].lower()
    if magic.startswith(b"PAR1") or suffix in (".parquet", ".pq"):
        return "parquet"
    if magic.startswith(b"\x93NUMPY"):
        return "npy"
    if magic.startswith(b"PK\x03\x04") or suffix == ".npz":
        return "npz"
    if suffix == ".npy":
        return "npy"
    return "csv"


# ------------------------------------------------------------------- CSV


class _NotUtf8Error(Exception):
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


def _is_missing(text: str | None) -> bool:
    return text is None or text.strip().lower() in MISSING


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
        values = [r[j].strip() for r in rest if j < len(r) and not _is_missing(r[j])]
        if not values:
            continue
        if not _is_number(name, decimal_comma) and all(_is_number(v, decimal_comma) for v in values):
            return True  # text above numbers
    for j, name in enumerate(cells):
        seen = {r[j].strip() for r in rest if j < len(r)}
        if name and name in seen:
            return False  # a "name" that recurs among its column's values is a value
    return True


def _header_names(cells: list[str], notes: list[str], source: str) -> list[str]:
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
            raise _NotUtf8Error(f"at byte {exc.start}") from None
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
        raise _NotUtf8Error(f"past byte {exc.start} of a later block") from None


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
        names = _header_names(rows[0], notes, where)
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


# ------------------------------------------------------------------- Parquet


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
        names = _header_names(names, notes, where)
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
            values = _quiet_nans(np.asarray(as_float.to_numpy(zero_copy_only=False), dtype=np.float64))
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            values = np.empty(len(column), dtype=object)
            values[:] = column.to_pylist()
        else:
            unsupported[name] = str(kind)
            values = np.full(len(column), None, dtype=object)
        columns.append(values)
    return Frame(source=where, names=names, columns=columns, offset=offset, notes=notes, unsupported=unsupported)


def _read_parquet(source: str) -> Frame:
    parquet = _pyarrow()
    try:
        # Decoding happens in both: a corrupt page fails in read, text that is not UTF-8 in _arrow_frame.
        # ParquetFile, not parquet.read_table: the latter refuses repeated column names ("Multiple matches").
        with parquet.ParquetFile(source) as file:
            return _arrow_frame(file.read(), source, 0)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid, OSError, ..., and UnicodeDecodeError
        raise DataError(f"{source} is not a readable Parquet file: {_one_line(exc)}") from None


def _iter_parquet(source: str, chunk_rows: int) -> Iterator[Frame]:
    parquet = _pyarrow()
    import pyarrow as pa

    try:
        file = parquet.ParquetFile(source)
        batches = file.iter_batches(batch_size=chunk_rows)
    except Exception as exc:
        raise DataError(f"{source} is not a readable Parquet file: {_one_line(exc)}") from None
    offset, empty = 0, True
    while True:
        try:  # each batch is decoded only now: a corrupt page fails here, in the middle of the file
            batch = next(batches, None)
            if batch is None:
                frame = _arrow_frame(file.schema_arrow.empty_table(), source, 0) if empty else None
            else:
                frame = _arrow_frame(pa.Table.from_batches([batch]), source, offset)
        except Exception as exc:
            raise DataError(f"{source} is not a readable Parquet file: {_one_line(exc)}") from None
        if frame is not None:
            yield frame
        if batch is None:
            return
        empty = False
        offset += batch.num_rows


def _quiet_nans(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """``values`` with every NaN quiet: a signalling NaN from a binary file makes arithmetic on it warn."""
    nan = np.isnan(values)
    return np.where(nan, np.nan, values) if nan.any() else values


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__  # EOFError() has no message


# ------------------------------------------------------------------- NumPy


#: An array with no values may still declare dimensions this long at most (0 x 10**9 is a hostile header).
MAX_EMPTY_DIMENSION = 10_000


def _numpy_column(values: NDArray[Any], where: str, name: str) -> NDArray[Any]:
    if values.dtype.kind in "biuf":
        # A longdouble beyond float64 becomes inf (refused later as infinite), a signalling NaN a NaN (missing).
        with np.errstate(over="ignore", invalid="ignore"):
            return _quiet_nans(np.asarray(values, dtype=np.float64))
    if values.dtype.kind == "U":
        # numpy stores UCS-4 code units as they are in the file; Python text has no surrogates or codes > 0x10FFFF.
        codes = np.ascontiguousarray(values).view(np.dtype(np.uint32).newbyteorder(values.dtype.byteorder))
        if codes.size and (codes.max() > 0x10FFFF or ((codes >= 0xD800) & (codes <= 0xDFFF)).any()):
            raise DataError(f"{where}: {name} holds text that is not valid Unicode")
    if values.dtype.kind in "US":
        column = np.empty(values.shape[0], dtype=object)
        try:
            column[:] = [v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist()]
        except UnicodeDecodeError as exc:
            raise DataError(f"{where}: {name} holds bytes that are not UTF-8 text ({exc})") from None
        return column
    raise DataError(f"{where}: {name} has dtype {values.dtype}; backprop reads numbers or strings")


def _check_npy_header(stream: BinaryIO, size: int, where: str, name: str) -> None:
    """Check a ``.npy`` header against the ``size`` bytes of the whole ``.npy`` data, before numpy allocates.

    ``stream`` is at the start of the ``.npy`` data. A file of pickled objects
    is left to ``np.load``, which refuses it.
    """
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unknown .npy format version {version}")
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read_header(stream)
    except Exception as exc:  # ValueError, SyntaxError, a tokenizer error ... of a corrupt header
        raise DataError(f"{where}: {name} is not a readable NumPy array: {_one_line(exc)}") from None
    if dtype.hasobject:
        return
    if dtype.subdtype is not None or dtype.names is not None:  # np.load and a memory map disagree on their shape
        raise DataError(
            f"{where}: {name} has the subarray or structured dtype {dtype}; backprop reads arrays of numbers or strings"
        )
    if any(n < 0 for n in shape):
        raise DataError(f"{where}: {name} declares shape {shape}, with a negative dimension: corrupt")
    declared = math.prod(shape) * dtype.itemsize  # Python integers: no overflow
    available = size - stream.tell()
    if dtype.itemsize == 0:
        raise DataError(f"{where}: {name} has dtype {dtype.str}, of 0 bytes per value")
    if declared > available:
        raise DataError(
            f"{where}: {name} declares shape {shape} of {dtype.str} ({declared} bytes), but only {available} "
            "bytes follow its header: truncated or corrupt"
        )
    if declared == 0 and max(shape, default=0) > MAX_EMPTY_DIMENSION:
        raise DataError(
            f"{where}: {name} declares shape {shape}: no values, but a dimension longer than the "
            f"{MAX_EMPTY_DIMENSION} an empty array may have"
        )


def _check_npy_file(source: str) -> None:
    with open(source, "rb") as file:
        if file.read(6) == b"\x93NUMPY":  # anything else is left to np.load, which names the problem
            file.seek(0)
            _check_npy_header(file, os.fstat(file.fileno()).st_size, source, "the array")


def _npz_array(archive: Any, name: str, source: str) -> NDArray[Any]:
    """The array ``name`` of an open ``.npz`` archive, its header checked before its data is read."""
    members = archive.zip.namelist()
    member = name if name in members else f"{name}.npy"  # as numpy's NpzFile looks it up
    info = archive.zip.getinfo(member)
    size = info.file_size
    if info.compress_type == zipfile.ZIP_DEFLATED:
        size = min(size, 1032 * info.compress_size)  # deflate expands 1032 times at most
    with archive.zip.open(info) as stream:
        if stream.read(6) != b"\x93NUMPY":
            raise DataError(f"{source}: {name} is not a NumPy array (its member {member!r} is not .npy data)")
        stream.seek(0)
        _check_npy_header(stream, size, source, name)
        stream.seek(0)
        array: NDArray[Any] = np.lib.format.read_array(stream, allow_pickle=False)
    return array


def _feature_names(values: NDArray[Any], source: str) -> list[str] | None:
    if values.ndim != 1:
        return None  # ignored, as names of the wrong number are
    if values.dtype.kind in "US":
        return [str(name) for name in _numpy_column(values, source, "feature_names")]
    return [str(name) for name in values.tolist()]


def _load_npz(source: str) -> tuple[NDArray[Any], NDArray[Any] | None, list[str] | None]:
    # Our own file object: np.load leaves a file it opened itself open when it is not a zip archive.
    with open(source, "rb") as file:
        try:
            archive = np.load(file, allow_pickle=False)
        except Exception as exc:  # a corrupt zip, a truncated file, ...
            raise DataError(f"{source} is not a readable .npz file: {_one_line(exc)}") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"{source} is not a .npz archive but a single array; name it .npy")
        try:
            with archive:
                if "X" not in archive.files:
                    raise DataError(
                        f"{source} has no array 'X'; it holds {archive.files}. Save it with np.savez(path, X=X, y=y)"
                    )
                X = _npz_array(archive, "X", source)
                y = _npz_array(archive, "y", source) if "y" in archive.files else None
                names = (
                    _feature_names(_npz_array(archive, "feature_names", source), source)
                    if "feature_names" in archive.files
                    else None
                )
        except DataError:
            raise
        except ValueError as exc:
            if "pickle" in str(exc):
                raise DataError(
                    f"{source} holds Python objects, which backprop does not unpickle; save X and y as arrays "
                    "of numbers or strings"
                ) from None
            raise DataError(f"{source}: {_one_line(exc)}") from None
        except Exception as exc:  # zipfile.BadZipFile, zlib.error, EOFError, an unsupported compression, ...
            raise DataError(f"{source} is not a readable .npz file: {_one_line(exc)}") from None
    return X, y, names


def _read_numpy(source: str, kind: str) -> Frame:
    if kind == "npz":
        X, y, names = _load_npz(source)
    else:
        _check_npy_file(source)
        try:
            X = np.load(source, allow_pickle=False)
        except ValueError as exc:
            if "pickle" in str(exc):
                raise DataError(f"{source} holds Python objects, which backprop does not unpickle") from None
            raise DataError(f"{source} is not a readable .npy file: {_one_line(exc)}") from None
        except Exception as exc:
            raise DataError(f"{source} is not a readable .npy file: {_one_line(exc)}") from None
        y, names = None, None
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise DataError(f"{source}: X must be a 2-D array (rows, columns), got shape {X.shape}")
    if X.shape[1] == 0:
        raise DataError(f"{source}: X has no columns (shape {X.shape})")
    if names is None or len(names) != X.shape[1]:
        names = [f"x{j}" for j in range(X.shape[1])]
    columns = [_numpy_column(X[:, j], source, f"column {j}") for j in range(X.shape[1])]
    if y is not None:
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise DataError(f"{source}: y must be 1-D with one value per row of X {X.shape}, got shape {y.shape}")
        names = [*names, "y" if "y" not in names else "target"]
        columns.append(_numpy_column(y, source, "y"))
    notes: list[str] = []
    names = _header_names(names, notes, source)  # the file's feature_names may repeat
    return Frame(source=source, names=names, columns=columns, notes=notes)


def _iter_npy(source: str, chunk_rows: int) -> Iterator[Frame]:
    _check_npy_file(source)
    try:
        data = np.load(source, mmap_mode="r", allow_pickle=False)
    except Exception:
        yield from _cut(_read_numpy(source, "npy"), chunk_rows)
        return
    if data.ndim != 2 or data.dtype.kind not in "biuf" or data.shape[1] == 0:
        yield from _cut(_read_numpy(source, "npy"), chunk_rows)
        return
    names = [f"x{j}" for j in range(data.shape[1])]
    if data.shape[0] == 0:
        yield Frame(source, names, [np.zeros(0) for _ in names])
    for start in range(0, data.shape[0], chunk_rows):
        with np.errstate(over="ignore", invalid="ignore"):  # as in _numpy_column
            block = _quiet_nans(np.asarray(data[start : start + chunk_rows], dtype=np.float64))
        yield Frame(source, names, [block[:, j].copy() for j in range(block.shape[1])], offset=start)


# ------------------------------------------------------------------- datasets


def _read_dataset(name: str) -> Frame:
    from . import datasets

    data = datasets.load(name, seed=0)
    X = np.concatenate([data.X_train, data.X_test]).astype(np.float64)
    y = np.concatenate([data.y_train, data.y_test])
    columns = [X[:, j].copy() for j in range(X.shape[1])]
    target: NDArray[Any]
    if data.target_names is not None:
        target = np.empty(len(y), dtype=object)
        target[:] = [data.target_names[int(i)] for i in y]
    else:
        target = y.astype(np.float64)
    names = _header_names([*data.feature_names, "target"], [], name)
    return Frame(source=name, names=names, columns=[*columns, target])


# --------------------------------------------------------------------------- columns


@dataclass
class _Parsed:
    """A column as numbers: values (NaN where missing), the missing mask, and the first cell that is not a number."""

    values: NDArray[np.float64]
    missing: NDArray[np.bool_]
    bad: int | None = None


def parse_numbers(column: NDArray[Any], decimal_comma: bool) -> _Parsed:
    if column.dtype.kind == "f":
        values = np.asarray(column, dtype=np.float64)
        return _Parsed(values, np.isnan(values))
    try:  # the fast path: every cell a number (one beyond float64's range is inf, as float() makes it)
        with np.errstate(over="ignore"):
            values = np.asarray(column.astype(str), dtype=np.float64)
        if not np.isnan(values).any():
            return _Parsed(values, np.zeros(len(values), dtype=bool))
    except (ValueError, TypeError):
        pass
    n = len(column)
    values = np.empty(n, dtype=np.float64)
    missing = np.zeros(n, dtype=bool)
    for i, cell in enumerate(column.tolist()):
        if _is_missing(cell):
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
            return _Parsed(values, missing, bad=i)
        if math.isnan(values[i]):
            missing[i] = True
    return _Parsed(values, missing)


def as_text(column: NDArray[Any]) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    """A column as stripped text (object array) and its missing mask."""
    n = len(column)
    out = np.empty(n, dtype=object)
    if column.dtype.kind == "f":
        missing = np.isnan(column)
        out[:] = [_number_text(v) for v in column.tolist()]
        return out, missing
    cells = column.tolist()
    missing = np.fromiter((_is_missing(c) for c in cells), dtype=bool, count=n)
    out[:] = [None if m else c.strip() for c, m in zip(cells, missing.tolist(), strict=True)]
    return out, missing


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _rows_text(frame: Frame, rows: NDArray[np.int64], limit: int = 3) -> str:
    shown = [str(frame.offset + int(r)) for r in rows[:limit]]
    more = f", ... ({len(rows)} in all)" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {', '.join(shown)}{more}"


def _not_a_number(frame: Frame, name: str, row: int, column: NDArray[Any], rule: str) -> DataError:
    """The error for ``column[row]``, which should have been a number."""
    return DataError(f"{frame.source}: column {name!r}, {frame.where(row)}: {column[row]!r} is not a number; {rule}")


# --------------------------------------------------------------------------- the preprocessor


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
    """

    name: str
    kind: Literal["numeric", "categorical"]
    mean: float = 0.0
    scale: float = 1.0
    categories: list[str] = field(default_factory=list)
    fill: float | str | None = None
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
            return {"name": self.name, "kind": "numeric", "mean": self.mean, "scale": self.scale, "fill": self.fill}
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


@dataclass
class Preprocessor:
    """What turns a table into network inputs and targets, fitted on the training rows.

    Build one with :func:`prepare_training`; store :meth:`to_dict` in the
    model file and rebuild it with :meth:`from_dict`.

    Attributes
    ----------
    features : list of FeatureSpec
    target : TargetSpec
    standardize : bool
    impute : {"mean", "median", "drop"} or None
    """

    features: list[FeatureSpec]
    target: TargetSpec
    standardize: bool = True
    impute: str | None = None

    # ------------------------------------------------------------ properties
    @property
    def n_inputs(self) -> int:
        """Width of the network's input layer."""
        return sum(f.width for f in self.features)

    @property
    def input_names(self) -> list[str]:
        """One name per network input: the column, or ``column=category`` for one-hot inputs."""
        names: list[str] = []
        for f in self.features:
            names.extend([f.name] if f.kind == "numeric" else [f"{f.name}={c}" for c in f.categories])
        return names

    @property
    def task(self) -> Literal["classification", "regression"]:
        """``classification`` for class labels, else ``regression``."""
        return "classification" if self.target.kind == "classes" else "regression"

    @property
    def classes(self) -> list[Label]:
        """The class labels, sorted (empty for regression)."""
        return list(self.target.classes)

    # ------------------------------------------------------------ applying
    def transform(self, frame: Frame, *, notes: list[str] | None = None) -> NDArray[np.float32]:
        """The network inputs for every row of ``frame``, shape ``(n_rows, n_inputs)``, float32.

        Missing cells get the fitted fill value, or raise DataError naming the
        column, the count and the first rows. A category not seen in training
        gives all-zero inputs for that column (counted in ``notes``).

        Raises
        ------
        MemoryLimitError
            The inputs of ``frame``'s rows would not fit the memory available
            (the message names the widest one-hot column); transform fewer
            rows at a time (:meth:`chunk_rows` says how many fit a chunk).
        """
        return self._transform(frame, None, notes)

    def _transform(self, frame: Frame, rows: NDArray[np.int64] | None, notes: list[str] | None) -> NDArray[np.float32]:
        """:meth:`transform` of ``frame``'s ``rows`` (all when None), without copying the frame first."""
        n = frame.n_rows if rows is None else len(rows)
        self.check_inputs_fit(n)
        out = np.zeros((n, self.n_inputs), dtype=np.float32)

        def at(positions: NDArray[np.int64]) -> NDArray[np.int64]:
            """Positions in the rows transformed → positions in ``frame`` (for messages)."""
            return positions if rows is None else rows[positions]

        start = 0
        for spec in self.features:
            whole = frame.column(spec.name)
            column = whole if rows is None else whole[rows]
            if spec.kind == "numeric":
                parsed = parse_numbers(column, frame.decimal_comma)
                if parsed.bad is not None:
                    bad_row = int(at(np.array([parsed.bad]))[0])
                    raise _not_a_number(frame, spec.name, bad_row, whole, "the model was trained on numbers here")
                values = parsed.values
                self._check_missing(frame, spec, parsed.missing, at)
                if parsed.missing.any() and isinstance(spec.fill, float):
                    values = np.where(parsed.missing, spec.fill, values)
                if not np.isfinite(values).all():
                    bad = at(np.flatnonzero(~np.isfinite(values)))
                    raise DataError(
                        f"{frame.source}: column {spec.name!r} holds infinite values ({_rows_text(frame, bad)}); "
                        "replace them with finite numbers"
                    )
                with np.errstate(over="ignore"):
                    scaled = (values - spec.mean) / spec.scale
                huge = ~(np.abs(scaled) <= _LARGEST)
                if huge.any():
                    raise DataError(
                        f"{frame.source}: column {spec.name!r} holds values too large for the network's float32 "
                        f"inputs ({_rows_text(frame, at(np.flatnonzero(huge)))}); rescale them"
                    )
                out[:, start] = scaled
            else:
                text, missing = as_text(column)
                self._check_missing(frame, spec, missing, at)
                if missing.any():
                    text[missing] = spec.fill
                lookup = spec.lookup()
                codes = np.fromiter((lookup.get(v, -1) for v in text.tolist()), dtype=np.int64, count=n)
                known = codes >= 0
                # One-hot by index: one write per row, whatever the number of categories.
                out[np.flatnonzero(known), start + codes[known]] = 1.0
                if notes is not None and not known.all():
                    unseen = sorted({str(v) for v in text[~known].tolist()})
                    notes.append(
                        f"{frame.source}: column {spec.name!r} has {int((~known).sum())} rows with categories not "
                        f"seen in training ({_listed(unseen, 5)}); their one-hot inputs are all 0"
                    )
            start += spec.width
        return out

    @property
    def row_bytes(self) -> int:
        """Bytes one row takes through prediction: its float32 inputs, and per output its float32
        output and target and float64 probability."""
        outputs = max(1, len(self.target.classes))
        return 4 * self.n_inputs + 16 * outputs

    def chunk_rows(self, budget: int | None = None) -> int:
        """How many rows to read, transform and predict at a time so that a chunk's arrays stay
        within ``budget`` bytes (at most :data:`CHUNK_ROWS`, at least 1).

        A column one-hot encoding a million categories makes each row's inputs 4 MB wide: 16 rows
        to a 64 MiB chunk rather than :data:`CHUNK_ROWS` (244 GiB).

        Parameters
        ----------
        budget : int, optional
            Default :data:`backprop._memory.CHUNK_BYTES`, or a quarter of the memory available if that
            is less (the network's own buffers come on top).

        Returns
        -------
        int
        """
        if budget is None:
            available = available_bytes()
            budget = CHUNK_BYTES if available is None else min(CHUNK_BYTES, available // 4)
        return min(CHUNK_ROWS, rows_within(self.row_bytes, budget))

    def chunked(self, frames: Iterable[Frame], budget: int | None = None) -> Iterator[Frame]:
        """``frames`` cut to at most :meth:`chunk_rows` rows each, for a transform and prediction within bounded memory.

        Parameters
        ----------
        frames : iterable of Frame
            Chunks of a table, as :func:`iter_tables` yields them.
        budget : int, optional
            As for :meth:`chunk_rows`.

        Yields
        ------
        Frame
            The same rows in order; a part's :attr:`Frame.offset` and lines are those of its rows.
        """
        rows = self.chunk_rows(budget)
        for frame in frames:
            if frame.n_rows <= rows:
                yield frame
            else:
                yield from _cut(frame, rows)

    def check_inputs_fit(self, n_rows: int) -> None:
        """Refuse, before allocating them, network inputs for ``n_rows`` rows that the memory cannot hold.

        Raises
        ------
        MemoryLimitError
            Naming the widest one-hot column (its categories) or the width, and the size needed.
        """
        width = self.n_inputs
        nbytes = 4 * n_rows * width
        widest = max((f for f in self.features if f.kind == "categorical"), key=lambda f: f.width, default=None)
        if widest is not None:
            what = (
                f"column {widest.name!r} ({widest.width:,} categories, one-hot) in the network inputs of "
                f"{n_rows:,} rows × {width:,} inputs"
            )
        else:
            what = f"the network inputs of {n_rows:,} rows × {width:,} columns"
        check_allocation(nbytes, what)

    def _check_missing(self, frame: Frame, spec: FeatureSpec, missing: NDArray[np.bool_], at: Any = None) -> None:
        if spec.fill is None and missing.any():
            rows = np.flatnonzero(missing) if at is None else at(np.flatnonzero(missing))
            raise DataError(
                f"{frame.source}: column {spec.name!r} has {len(rows)} missing value{'s' if len(rows) > 1 else ''} "
                f"({_rows_text(frame, rows)}); fill them in"
                + (", or retrain with --impute mean|median" if self.impute in (None, "drop") else "")
            )

    def has_target(self, frame: Frame) -> bool:
        """Whether ``frame`` has the target column."""
        return frame.has(self.target.name)

    def targets(self, frame: Frame) -> tuple[NDArray[Any], NDArray[np.bool_]]:
        """The target of every row as the network sees it, and the rows where it is missing.

        Class labels become int64 indices (−1 where missing); numeric targets
        float64 values scaled as in training (NaN where missing), shape ``(n,)``.

        Raises
        ------
        DataError
            A label the model does not know, or text where numbers are expected.
        """
        spec = self.target
        column = frame.column(spec.name)
        if spec.kind == "numeric":
            parsed = parse_numbers(column, frame.decimal_comma)
            if parsed.bad is not None:
                raise _not_a_number(frame, spec.name, parsed.bad, column, "the model predicts numbers for this column")
            with np.errstate(over="ignore", invalid="ignore"):
                scaled = (parsed.values - spec.mean) / spec.scale
            bad = np.flatnonzero(~np.isfinite(scaled) & ~parsed.missing)
            if bad.size:
                raise DataError(
                    f"{frame.source}: the target column {spec.name!r} holds infinite or too large values "
                    f"({_rows_text(frame, bad)}); replace them with finite numbers"
                )
            return scaled, parsed.missing
        return _class_indices(frame, spec, column)

    def labels(self, indices: NDArray[np.int64]) -> list[Label]:
        """Class labels of class indices."""
        classes = self.target.classes
        return [classes[int(i)] for i in indices]

    def target_values(self, scaled: NDArray[Any]) -> NDArray[np.float64]:
        """Numeric targets in their own units from the network's scaled outputs."""
        return np.asarray(scaled, dtype=np.float64) * self.target.scale + self.target.mean

    def numeric_transform(self, X: NDArray[Any]) -> NDArray[np.float32]:
        """Network inputs from raw numeric feature values (every feature numeric), shape (n, n_features)."""
        if any(f.kind != "numeric" for f in self.features):
            raise ParameterError("numeric_transform needs a model whose features are all numeric")
        mean = np.array([f.mean for f in self.features])
        scale = np.array([f.scale for f in self.features])
        inputs: NDArray[np.float32] = ((np.asarray(X, dtype=np.float64) - mean) / scale).astype(np.float32)
        return inputs

    # ------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """The preprocessing as plain JSON values (stored under ``"preprocessing"`` in the model file)."""
        return {
            "format": PREPROCESSING_FORMAT,
            "version": PREPROCESSING_VERSION,
            "standardize": self.standardize,
            "impute": self.impute,
            "features": [f.to_dict() for f in self.features],
            "target": self.target.to_dict(),
        }

    @classmethod
    def from_dict(cls, state: Any, where: str = "preprocessing") -> Preprocessor:
        """Rebuild from :meth:`to_dict`, checking every field.

        Parameters
        ----------
        state : dict
        where : str
            Names the source in messages (the model file).

        Raises
        ------
        ModelFileError
            Naming the broken field, e.g. ``preprocessing.features[2].scale``.
        """
        return _Reader(where).preprocessor(state)

    def __repr__(self) -> str:
        kinds = ", ".join(f"{f.name}:{f.kind[0]}" for f in self.features[:8])
        more = ", ..." if len(self.features) > 8 else ""
        return (
            f"Preprocessor(features=[{kinds}{more}], target={self.target.name!r} ({self.target.kind}), "
            f"n_inputs={self.n_inputs}, standardize={self.standardize}, impute={self.impute!r})"
        )


def _class_indices(frame: Frame, spec: TargetSpec, column: NDArray[Any]) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    numeric = all(isinstance(c, int | float) for c in spec.classes)
    n = len(column)
    indices = np.full(n, -1, dtype=np.int64)
    if numeric:
        parsed = parse_numbers(column, frame.decimal_comma)
        if parsed.bad is not None:
            raise DataError(
                f"{frame.source}: column {spec.name!r}, {frame.where(parsed.bad)}: {column[parsed.bad]!r} is not "
                f"one of the model's classes {_listed([str(c) for c in spec.classes], 10)}"
            )
        missing = parsed.missing
        known = np.array([float(c) for c in spec.classes])
        order = np.argsort(known)
        place = np.clip(np.searchsorted(known[order], parsed.values), 0, len(known) - 1)
        found = (known[order][place] == parsed.values) & ~missing
        indices[found] = order[place[found]]
        labels_of: Any = parsed.values
    else:
        text, missing = as_text(column)
        lookup_s = {str(c): k for k, c in enumerate(spec.classes)}
        indices[:] = [-1 if m else lookup_s.get(v, -1) for v, m in zip(text.tolist(), missing.tolist(), strict=True)]
        labels_of = text
    unknown = np.flatnonzero((indices < 0) & ~missing)
    if unknown.size:
        first = labels_of[unknown[0]]
        shown = _number_text(first) if isinstance(first, float) else str(first)
        raise DataError(
            f"{frame.source}: column {spec.name!r} has {unknown.size} row{'s' if unknown.size > 1 else ''} with "
            f"labels the model does not know, first {shown!r} at {frame.where(int(unknown[0]))}; "
            f"the model's classes are {_listed([str(c) for c in spec.classes], 10)}"
        )
    return indices, missing


# ------------------------------------------------------------------- fitting


@dataclass
class Prepared:
    """The result of :func:`prepare_training`: a fitted preprocessor and the train/test arrays.

    Attributes
    ----------
    preprocessor : Preprocessor
    X_train, X_test : ndarray of shape (n, n_inputs), float32
    y_train, y_test : ndarray of shape (n,)
        int64 class indices, or float32 scaled numeric targets.
    rows_train, rows_test : ndarray of int64
        The rows of the table in each part.
    n_rows : int
        Rows in the table; ``n_dropped`` of them were dropped (missing values).
    notes : list of str
    """

    preprocessor: Preprocessor
    X_train: NDArray[np.float32]
    y_train: NDArray[Any]
    X_test: NDArray[np.float32]
    y_test: NDArray[Any]
    rows_train: NDArray[np.int64]
    rows_test: NDArray[np.int64]
    n_rows: int
    n_dropped: int
    notes: list[str]


def _select(
    frame: Frame, target: str | None, features: Sequence[str] | None, ignore: Sequence[str]
) -> tuple[str, list[str]]:
    if not frame.names:
        raise DataError(f"{frame.source} has no columns")
    target_name = frame.names[frame.position(target)] if target is not None else frame.names[-1]
    ignored = {frame.names[frame.position(c)] for c in ignore}
    if features:
        chosen = [frame.names[frame.position(c)] for c in features]
        if target_name in chosen:
            raise DataError(f"{frame.source}: column {target_name!r} is the target; it cannot also be a feature")
        duplicates = sorted(c for c, times in Counter(chosen).items() if times > 1)
        if duplicates:
            raise DataError(f"{frame.source}: --features names {duplicates} more than once")
    else:
        chosen = [n for n in frame.names if n != target_name and n not in ignored]
    if not chosen:
        raise DataError(
            f"{frame.source}: no feature columns left besides the target {target_name!r}; "
            "a table needs at least one feature column and a target column"
        )
    return target_name, chosen


def _target_spec(
    frame: Frame, name: str, task: str | None
) -> tuple[TargetSpec, NDArray[Any], NDArray[np.bool_], str | None]:
    """The target's spec, its per-row values (indices or floats) and missing mask, and a note."""
    column = frame.column(name)
    parsed = parse_numbers(column, frame.decimal_comma)
    numeric = parsed.bad is None
    missing = parsed.missing if numeric else as_text(column)[1]
    present = ~missing
    if not present.any():
        raise DataError(f"{frame.source}: the target column {name!r} has no values")
    note = None
    if task == "regression" or (task is None and numeric):
        if parsed.bad is not None:
            raise _not_a_number(frame, name, parsed.bad, column, "--task regression needs a numeric target")
        values = parsed.values[present]
        if not np.isfinite(values).all():
            raise DataError(f"{frame.source}: the target column {name!r} holds infinite values")
        if (np.abs(values) > _LARGEST).any():
            raise DataError(
                f"{frame.source}: the target column {name!r} holds values beyond float32's range of "
                f"±{_LARGEST:.4g}; rescale it"
            )
        distinct = np.unique(values)
        integral = bool(np.all(values == np.round(values)))
        if task is None and integral and 2 <= len(distinct) <= min(MAX_AUTO_CLASSES, max(2, int(present.sum()) // 2)):
            shown = ", ".join(_number_text(v) for v in distinct[:6]) + (", ..." if len(distinct) > 6 else "")
            note = (
                f"target {name!r} has {len(distinct)} integer values ({shown}): treated as classes "
                "(pass --task regression to predict numbers)"
            )
        else:
            return TargetSpec(name, "numeric"), parsed.values, missing, None
    # Classes.
    if numeric:
        values = parsed.values[present]
        distinct_f = np.unique(values)
        classes: list[Label] = [
            int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v) for v in distinct_f.tolist()
        ]
    else:
        text, _ = as_text(column)
        classes = sorted({str(v) for v in text[present].tolist()})
    if len(classes) < 2:
        raise DataError(
            f"{frame.source}: the target column {name!r} has a single class {classes[0]!r}; "
            "classification needs at least two (or pass --task regression)"
        )
    if len(classes) > max(MAX_CATEGORIES, 1) and len(classes) > present.sum() // 2:
        raise DataError(
            f"{frame.source}: the target column {name!r} has {len(classes)} distinct labels in {int(present.sum())} "
            "rows, too many to be classes; pick another column with --target, or --task regression for numbers"
        )
    spec = TargetSpec(name, "classes", classes=classes)
    indices, missing = _class_indices(frame, spec, column)
    return spec, indices, missing, note


def check_held_out(
    source: str, fraction: float, n_rows: int, n_groups: int, *, option: str, part: str, dropped: bool = False
) -> None:
    """Refuse a fraction held out (``--test-size``, ``--validation``) that leaves a class (or, for
    regression, the whole table) no training row.

    The same rule as :func:`backprop.preprocessing.stratified_split` and :func:`~backprop.preprocessing.split`,
    said in the terms of ``backprop train``: the file, the ``option`` and rows; ``part`` names the rows
    held out ("test", "validation"). Other values (a count) are left to those functions' own messages.
    """
    from .preprocessing import fraction_count

    if not 0 < fraction < 1:
        return
    n_held = fraction_count(float(fraction), n_rows)
    most = n_rows - n_groups  # every class keeps one row for training
    if n_held <= most:
        return
    usable = "usable rows" if dropped else "rows"
    if n_groups == 1:
        why = "that leaves none for training"
    else:
        why = f"training keeps at least one row of each of the {n_groups} classes, so at most {most} can be {part} rows"
    what = f"lower {option} or use {option} 0" if most > 0 else f"use {option} 0 (too few rows to hold any out)"
    raise DataError(f"{source}: {option} {fraction:g} asks for {n_held} of {n_rows} {usable}, but {why}; {what}")


def prepare_training(
    frame: Frame,
    *,
    target: str | None = None,
    features: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    task: str | None = None,
    impute: str | None = None,
    standardize: bool = True,
    test_size: float = 0.2,
    seed: int | None = 0,
) -> Prepared:
    """Choose the columns, encode the target, split off a test part and fit the preprocessing.

    Parameters
    ----------
    frame : Frame
        The whole table.
    target : str, optional
        The target column, by name or 0-based index; default the last column.
    features : sequence of str, optional
        The feature columns (names or indices); default every other column.
    ignore : sequence of str
        Columns left out of the default features.
    task : {"classification", "regression"}, optional
        Default: text or few integer values are classes, other numbers regression.
    impute : {"mean", "median", "drop"}, optional
        Without it a missing feature value is an error naming the column.
        ``mean``/``median`` fill numeric cells with the training rows' mean
        or median and categorical cells with their most frequent category;
        ``drop`` removes the rows. Rows whose target is missing are dropped
        whenever ``impute`` is given.
    standardize : bool, default True
        Scale numeric features (and a numeric target) to zero mean and unit
        variance, with statistics from the training rows.
    test_size : float in [0, 1)
        The share of rows held out for testing (stratified by class); 0 for none.
    seed : int, optional
        Seed of the split.

    Returns
    -------
    Prepared
    """
    from .preprocessing import split, stratified_split

    if task is not None and task not in TASKS:
        raise ParameterError(f"task must be one of {list(TASKS)}, got {task!r}")
    if impute is not None and impute not in IMPUTE:
        raise ParameterError(f"impute must be one of {list(IMPUTE)}, got {impute!r}")
    if frame.n_rows == 0:
        if frame.lines is not None:  # a CSV: its only line was taken as the header
            raise DataError(
                f"{frame.source} has a header ({_listed(frame.names, 6)}) but no data rows; add rows below it, "
                "or pass --no-header if that line is data"
            )
        raise DataError(f"{frame.source} has no rows; training needs at least 2")
    notes = list(frame.notes)
    target_name, feature_names = _select(frame, target, features, ignore)
    spec, y_all, y_missing, note = _target_spec(frame, target_name, task)
    if note:
        notes.append(note)

    # Feature kinds and missing cells, over every row.
    kinds: dict[str, Literal["numeric", "categorical"]] = {}
    numbers: dict[str, NDArray[np.float64]] = {}
    texts: dict[str, NDArray[Any]] = {}
    missing_cells: dict[str, NDArray[np.bool_]] = {}
    for name in feature_names:
        column = frame.column(name)
        parsed = parse_numbers(column, frame.decimal_comma)
        if parsed.bad is None:
            kinds[name], numbers[name], missing_cells[name] = "numeric", parsed.values, parsed.missing
            finite = np.isfinite(parsed.values) | parsed.missing
            if not finite.all():
                raise DataError(
                    f"{frame.source}: column {name!r} holds infinite values "
                    f"({_rows_text(frame, np.flatnonzero(~finite))}); replace them with finite numbers"
                )
            huge = np.abs(parsed.values) > _LARGEST  # NaN (missing) compares False
            if huge.any():
                raise DataError(
                    f"{frame.source}: column {name!r} holds values beyond float32's range of ±{_LARGEST:.4g} "
                    f"({_rows_text(frame, np.flatnonzero(huge))}); rescale the column"
                )
        else:
            text, missing = as_text(column)
            kinds[name], texts[name], missing_cells[name] = "categorical", text, missing
        if missing_cells[name].all():
            raise DataError(f"{frame.source}: column {name!r} has no values; leave it out with --ignore {name}")

    # Missing values: an error, or rows dropped.
    keep = np.ones(frame.n_rows, dtype=bool)
    if y_missing.any():
        if impute is None:
            rows = np.flatnonzero(y_missing)
            raise DataError(
                f"{frame.source}: the target column {target_name!r} has {len(rows)} missing "
                f"value{'s' if len(rows) > 1 else ''} ({_rows_text(frame, rows)}); fill them in, or pass "
                "--impute drop (or mean|median) to drop those rows"
            )
        keep &= ~y_missing
        notes.append(f"dropped {int(y_missing.sum())} rows whose target {target_name!r} is missing")
    for name in feature_names:
        missing = missing_cells[name]
        if not missing.any():
            continue
        if impute is None:
            rows = np.flatnonzero(missing)
            raise DataError(
                f"{frame.source}: column {name!r} has {len(rows)} missing value{'s' if len(rows) > 1 else ''} "
                f"({_rows_text(frame, rows)}); fill them in, or pass --impute mean|median|drop"
            )
        if impute == "drop":
            keep &= ~missing
    if impute == "drop":
        dropped = int((~keep).sum() - y_missing.sum())
        if dropped:
            notes.append(f"dropped {dropped} rows with missing feature values (--impute drop)")
    rows_kept = np.flatnonzero(keep).astype(np.int64)
    if len(rows_kept) < 2:
        n_usable = len(rows_kept)
        raise DataError(
            f"{frame.source}: {n_usable} usable row{'s' if n_usable != 1 else ''}; training needs at least 2"
        )

    # The test split, stratified by class.
    y_kept = y_all[rows_kept]
    if test_size > 0:
        n_groups = len(np.unique(y_kept)) if spec.kind == "classes" else 1
        check_held_out(
            frame.source,
            test_size,
            len(rows_kept),
            n_groups,
            option="--test-size",
            part="test",
            dropped=len(rows_kept) < frame.n_rows,
        )
        if spec.kind == "classes":
            counts = np.bincount(y_kept.astype(np.int64), minlength=len(spec.classes))
            if (counts == 0).any():
                absent = [spec.classes[k] for k in np.flatnonzero(counts == 0)]
                notes.append(f"classes {absent} have no rows left after dropping missing values")
            train, test = stratified_split(y_kept, test_size, seed=seed)
        else:
            train, test = split(len(rows_kept), test_size, seed=seed)
        rows_train, rows_test = np.sort(rows_kept[train]), np.sort(rows_kept[test])
    else:
        rows_train, rows_test = rows_kept, np.zeros(0, dtype=np.int64)

    # Statistics from the training rows only.
    specs: list[FeatureSpec] = []
    for name in feature_names:
        missing = missing_cells[name][rows_train]
        if kinds[name] == "numeric":
            observed = numbers[name][rows_train][~missing]
            if observed.size == 0:
                raise DataError(f"{frame.source}: column {name!r} has no values in the training rows")
            fill: float | str | None = None
            if impute in ("mean", "median"):
                fill = float(observed.mean() if impute == "mean" else np.median(observed))
            mean, scale = 0.0, 1.0
            if standardize:
                mean = float(observed.mean())
                std = float(observed.std())
                scale = std if std > 1e-12 * max(1.0, abs(mean)) else 1.0
            specs.append(FeatureSpec(name, "numeric", mean=mean, scale=scale, fill=fill))
        else:
            observed_text = texts[name][rows_train][~missing]
            if observed_text.size == 0:
                raise DataError(f"{frame.source}: column {name!r} has no values in the training rows")
            categories, counts = np.unique(observed_text.astype(str), return_counts=True)
            if len(categories) > MAX_CATEGORIES and len(categories) > len(rows_train) // 2:
                raise DataError(
                    f"{frame.source}: column {name!r} looks like an identifier or free text ({len(categories)} "
                    f"distinct values in {len(rows_train)} rows), not a category; leave it out with --ignore {name!r}"
                )
            fill = str(categories[int(np.argmax(counts))]) if impute in ("mean", "median") else None
            specs.append(FeatureSpec(name, "categorical", categories=[str(c) for c in categories], fill=fill))
    if spec.kind == "numeric" and standardize:
        observed_y = y_all[rows_train]
        spec.mean = float(observed_y.mean())
        std = float(observed_y.std())
        spec.scale = std if std > 1e-12 * max(1.0, abs(spec.mean)) else 1.0
    if any(f.kind == "categorical" for f in specs):
        listed = ", ".join(f"{f.name!r} ({len(f.categories)})" for f in specs if f.kind == "categorical")
        notes.append(f"one-hot encoded categorical columns: {listed}")

    pre = Preprocessor(specs, spec, standardize=bool(standardize), impute=impute)
    # Sizes before allocating: the inputs of every kept row (both parts), then the target's one-hot.
    pre.check_inputs_fit(len(rows_kept))
    if spec.kind == "classes" and len(spec.classes) > 2:
        k, n_train = len(spec.classes), len(rows_train)
        check_allocation(
            4 * n_train * k,
            f"the target column {target_name!r} ({k:,} classes, one-hot targets for {n_train:,} training rows)",
        )
    # Missing cells of the kept rows are filled (mean/median) or were dropped. Each part is
    # transformed on its own: no whole-table copy to index from.
    X_train = pre._transform(frame, rows_train, None)
    X_test = pre._transform(frame, rows_test, None)
    if spec.kind == "classes":
        y_out: NDArray[Any] = y_all.astype(np.int64)
    else:
        with np.errstate(over="ignore"):
            scaled = (y_all - spec.mean) / spec.scale
        huge = np.abs(scaled) > _LARGEST  # a test row far from the training rows' spread
        if huge.any():
            raise DataError(
                f"{frame.source}: the target column {target_name!r} holds values too large for float32 once "
                f"standardised ({_rows_text(frame, np.flatnonzero(huge))}); rescale it"
            )
        y_out = scaled.astype(np.float32)
    return Prepared(
        preprocessor=pre,
        X_train=X_train,
        y_train=y_out[rows_train],
        X_test=X_test,
        y_test=y_out[rows_test],
        rows_train=rows_train,
        rows_test=rows_test,
        n_rows=frame.n_rows,
        n_dropped=frame.n_rows - len(rows_kept),
        notes=notes,
    )


# ------------------------------------------------------------------- reading back


def _is_finite_number(value: Any) -> bool:
    """An int or float (not a bool) that is a finite float64: a JSON integer may be far larger."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond float64's range
        return False


class _Reader:
    """Checks a preprocessing document field by field, raising ModelFileError naming the field."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, rule: str, value: Any) -> ModelFileError:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return ModelFileError(f"{self.where}: metadata field {path!r} {rule}, got {shown}")

    def mapping(self, value: Any, path: str, keys: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, "must be an object", value)
        missing = sorted(keys - set(value))
        if missing:
            raise self.fail(f"{path}.{missing[0]}", "is missing", None)
        return value

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self.fail(path, "must be a string", value)
        return value

    def number(self, value: Any, path: str, positive: bool = False) -> float:
        if not _is_finite_number(value):
            raise self.fail(path, "must be a finite number", value)
        if positive and value <= 0:
            raise self.fail(path, "must be a positive number", value)
        return float(value)

    def preprocessor(self, state: Any) -> Preprocessor:
        p = "preprocessing"
        doc = self.mapping(state, p, {"format", "version", "standardize", "impute", "features", "target"})
        if doc["format"] != PREPROCESSING_FORMAT:
            raise self.fail(f"{p}.format", f"must be {PREPROCESSING_FORMAT!r}", doc["format"])
        if doc["version"] != PREPROCESSING_VERSION:
            raise self.fail(
                f"{p}.version", f"must be {PREPROCESSING_VERSION} (a newer backprop wrote this file?)", doc["version"]
            )
        if not isinstance(doc["standardize"], bool):
            raise self.fail(f"{p}.standardize", "must be true or false", doc["standardize"])
        if doc["impute"] is not None and doc["impute"] not in IMPUTE:
            raise self.fail(f"{p}.impute", f"must be null or one of {list(IMPUTE)}", doc["impute"])
        features = doc["features"]
        if not isinstance(features, list) or not features:
            raise self.fail(f"{p}.features", "must be a non-empty list", features)
        specs = [self.feature(f, f"{p}.features[{i}]") for i, f in enumerate(features)]
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise self.fail(f"{p}.features", "must name each column once", names)
        target = self.target(doc["target"], f"{p}.target")
        if target.name in names:
            raise self.fail(f"{p}.target.name", "must not also be a feature", target.name)
        return Preprocessor(specs, target, standardize=doc["standardize"], impute=doc["impute"])

    def feature(self, value: Any, path: str) -> FeatureSpec:
        doc = self.mapping(value, path, {"name", "kind", "fill"})
        name = self.text(doc["name"], f"{path}.name")
        kind = doc["kind"]
        if kind == "numeric":
            doc = self.mapping(value, path, {"mean", "scale"})
            fill = doc["fill"]
            if fill is not None:
                fill = self.number(fill, f"{path}.fill")
            return FeatureSpec(
                name,
                "numeric",
                mean=self.number(doc["mean"], f"{path}.mean"),
                scale=self.number(doc["scale"], f"{path}.scale", positive=True),
                fill=fill,
            )
        if kind == "categorical":
            doc = self.mapping(value, path, {"categories"})
            categories = doc["categories"]
            if (
                not isinstance(categories, list)
                or not categories
                or not all(isinstance(c, str) for c in categories)
                or len(set(categories)) != len(categories)
            ):
                raise self.fail(f"{path}.categories", "must be a non-empty list of distinct strings", categories)
            fill = doc["fill"]
            if fill is not None and fill not in categories:
                raise self.fail(f"{path}.fill", "must be null or one of the categories", fill)
            return FeatureSpec(name, "categorical", categories=list(categories), fill=fill)
        raise self.fail(f"{path}.kind", "must be 'numeric' or 'categorical'", kind)

    def target(self, value: Any, path: str) -> TargetSpec:
        doc = self.mapping(value, path, {"name", "kind"})
        name = self.text(doc["name"], f"{path}.name")
        if doc["kind"] == "classes":
            doc = self.mapping(value, path, {"classes"})
            classes = doc["classes"]
            valid = (
                isinstance(classes, list)
                and len(classes) >= 2
                and (all(isinstance(c, str) for c in classes) or all(_is_finite_number(c) for c in classes))
                and len({str(c) for c in classes}) == len(classes)
            )
            if not valid:
                raise self.fail(f"{path}.classes", "must be a list of at least 2 distinct strings or numbers", classes)
            return TargetSpec(name, "classes", classes=list(classes))
        if doc["kind"] == "numeric":
            doc = self.mapping(value, path, {"mean", "scale"})
            return TargetSpec(
                name,
                "numeric",
                mean=self.number(doc["mean"], f"{path}.mean"),
                scale=self.number(doc["scale"], f"{path}.scale", positive=True),
            )
        raise self.fail(f"{path}.kind", "must be 'classes' or 'numeric'", doc["kind"])


__all__ = [
    "CHUNK_ROWS",
    "DELIMITERS",
    "IMPUTE",
    "MISSING",
    "FeatureSpec",
    "Frame",
    "Prepared",
    "Preprocessor",
    "TargetSpec",
    "is_dataset_name",
    "iter_tables",
    "prepare_training",
    "read_table",
]
