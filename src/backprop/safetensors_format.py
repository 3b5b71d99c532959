"""The safetensors container of model files and checkpoints: writing, and reading that trusts nothing.

The file layout (one flat ``"parameters"`` tensor, the JSON document under
the metadata key ``"backprop"``, a checkpoint's arrays as tensors named by
their place in the state) is described in :mod:`backprop.io`, which builds
networks on top of this module. Here:

* :func:`serialize`: tensors plus a JSON document to the bytes of a file;
  :class:`Encoder` turns metadata or a checkpoint state into JSON data
  (arrays to tensors and markers, numpy scalars to markers);
* :func:`open_checked`: one version of a file, its header parsed and
  checked (header length, JSON, every tensor's dtype, shape and byte range,
  the tiling of the data section, the document's format and version, the
  nesting depth) and handed to the caller's own check before any tensor
  data is read; :func:`read_tensors` decodes the data with safetensors;
* :func:`state_references` and :func:`decode_state`: a checkpoint state's
  markers, checked and turned back into arrays and numpy scalars.

Imports numpy, :mod:`backprop.errors` and :mod:`backprop._validation` only:
storage does not know about networks or layers. ``safetensors`` is imported
only when tensors are written or read.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from ._validation import is_count, is_integer, shown_briefly
from .errors import BackpropTypeError, ModelFileError

#: The version of the file layout this library writes and the newest it reads.
FORMAT_VERSION = 1
MODEL_FORMAT = "backprop-model"
CHECKPOINT_FORMAT = "backprop-checkpoint"
#: The metadata key of the JSON document.
METADATA_KEY = "backprop"
#: Values read from a file are cut to this many characters in messages: a hostile file may hold huge ones.
SHOWN_LIMIT = 200

#: The largest safetensors header read (safetensors' own limit).
MAX_HEADER_BYTES = 100_000_000
#: The most dimensions a checkpoint array may have.
MAX_NDIM = 32
#: The deepest nesting of lists and dicts in metadata or a checkpoint state, written or read:
#: deeper would exhaust Python's stack in any JSON consumer that recurses.
MAX_NESTING = 100

_TENSOR = "__tensor__"
_NUMPY = "__numpy__"

# safetensors dtype codes this library reads and writes, with numpy's names.
_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "U16": np.dtype(np.uint16),
    "I16": np.dtype(np.int16),
    "U32": np.dtype(np.uint32),
    "I32": np.dtype(np.int32),
    "U64": np.dtype(np.uint64),
    "I64": np.dtype(np.int64),
    "F16": np.dtype(np.float16),
    "F32": np.dtype(np.float32),
    "F64": np.dtype(np.float64),
}
_CODES = {dtype: code for code, dtype in _DTYPES.items()}
_SCALAR_DTYPES = {dtype.name: dtype for dtype in _DTYPES.values()}


# ---------------------------------------------------------------- writing


def serialize(tensors: dict[str, NDArray[Any]], document: dict[str, Any], allow_nan: bool) -> bytes:
    """The bytes of a safetensors file holding ``tensors`` and ``document`` (JSON, under :data:`METADATA_KEY`)."""
    try:
        text = json.dumps(document, allow_nan=allow_nan)
    except ValueError as exc:  # an int of more than 4300 digits (Python's int-to-str limit)
        raise BackpropTypeError(f"the file's JSON document cannot be written: {exc}") from None
    save_bytes = _safetensors().save
    # safetensors reads each tensor's memory as one block: make it contiguous first
    # (np.asarray, not np.ascontiguousarray, which turns a 0-d array into a 1-d one).
    contiguous = {name: np.asarray(array, order="C") for name, array in tensors.items()}
    data: bytes = save_bytes(contiguous, metadata={METADATA_KEY: text})
    return data


class Encoder:
    """Turn a nested value into JSON data, naming the offending entry when it cannot.

    With ``arrays`` (checkpoints), arrays go there under dotted names and
    leave a ``{"__tensor__": name}`` marker; numpy scalars become
    ``{"__numpy__": dtype, "value": v}``; floats may be NaN or infinite.
    Without (model metadata), arrays become lists, numpy scalars Python
    numbers, and floats must be finite, so that any JSON reader can read it.
    """

    def __init__(self, arrays: dict[str, NDArray[Any]] | None) -> None:
        self.arrays = arrays
        self._open: set[int] = set()

    def encode(self, value: Any, where: str, name: tuple[str, ...]) -> Any:
        if isinstance(value, np.ndarray):
            return self._array(value, where, name)
        if isinstance(value, np.generic):
            return self._scalar(value, where)
        if value is None or isinstance(value, bool | str):
            return str(value) if isinstance(value, str) else value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            if self.arrays is None and not math.isfinite(value):
                raise BackpropTypeError(
                    f"{where} is {value}: model metadata is plain JSON, which has no NaN or infinity; "
                    "store None or a string instead"
                )
            return float(value)
        if isinstance(value, dict | list | tuple):
            if id(value) in self._open:
                raise BackpropTypeError(f"{where} contains itself")
            if len(self._open) >= MAX_NESTING:
                raise BackpropTypeError(
                    f"{where} is nested too deeply: files hold lists and dicts at most {MAX_NESTING} levels deep"
                )
            self._open.add(id(value))
            try:
                if isinstance(value, dict):
                    return self._dict(value, where, name)
                return [self.encode(item, f"{where}[{i}]", (*name, str(i))) for i, item in enumerate(value)]
            finally:
                self._open.discard(id(value))
        raise BackpropTypeError(
            f"{where} is a {type(value).__name__}, which backprop cannot store in a file; use dicts with string keys, "
            "lists, strings, numbers, booleans, None or numpy arrays"
        )

    def _dict(self, value: dict[Any, Any], where: str, name: tuple[str, ...]) -> dict[str, Any]:
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise BackpropTypeError(f"{where} has the key {key!r}; keys must be strings")
            if self.arrays is not None and key in (_TENSOR, _NUMPY):
                raise BackpropTypeError(f"{where} uses the key {key!r}, which checkpoints reserve")
            result[key] = self.encode(item, f"{where}[{key!r}]", (*name, key))
        return result

    def _array(self, value: NDArray[Any], where: str, name: tuple[str, ...]) -> Any:
        if self.arrays is None:
            return self.encode(value.tolist(), where, name)
        code = _CODES.get(value.dtype.newbyteorder("="))
        if code is None:
            raise BackpropTypeError(
                f"{where} is an array of dtype {value.dtype}; checkpoints store arrays of "
                f"{sorted(str(d) for d in _CODES)}"
            )
        tensor = ".".join(name)
        suffix = 1
        while tensor in self.arrays:  # a key with a dot in it may repeat another path
            suffix += 1
            tensor = f"{'.'.join(name)}~{suffix}"
        self.arrays[tensor] = np.asarray(value, dtype=value.dtype.newbyteorder("="), order="C")
        return {_TENSOR: tensor}

    def _scalar(self, value: np.generic, where: str) -> Any:
        if isinstance(value, np.str_):
            return str(value)
        item = value.item()
        if self.arrays is None:
            return self.encode(item, where, ())
        if _CODES.get(value.dtype.newbyteorder("=")) is None:
            raise BackpropTypeError(
                f"{where} is a numpy {value.dtype} scalar; checkpoints store numpy scalars of "
                f"{sorted(str(d) for d in _CODES)}"
            )
        return {_NUMPY: value.dtype.name, "value": item}


# ---------------------------------------------------------------- what a file is


#: How many bytes of a file's start :func:`file_kind` looks at.
SNIFF_BYTES = 4096

#: The kinds :func:`file_kind` tells apart, in a message's words.
FILE_KINDS = {
    "safetensors": "a safetensors file",
    "csv": "a CSV table",
    "parquet": "a Parquet file",
    "npy": "a NumPy .npy array",
    "npz": "a NumPy .npz archive",
    "zip": "a zip archive",
    "json": "a JSON document",
    "text": "a text file",
}

# Bytes that never occur in text: the C0 controls other than tab, line feed, form feed and carriage return.
_NOT_TEXT = bytes(set(range(32)) - {9, 10, 12, 13}) + b"\x7f"


def file_kind(path: str | os.PathLike[str]) -> str | None:
    """What a file holds, by its content: a key of :data:`FILE_KINDS`, or None when it is none of them.

    Only the first :data:`SNIFF_BYTES` bytes and the last 4 are read. Used to
    name the mistake when a table is given where a model is expected, or the
    reverse.

    Parameters
    ----------
    path : str or path-like
        A regular file.

    Returns
    -------
    str or None
        ``"safetensors"`` (8 little-endian bytes giving a header length that
        fits the file, then ``{``), ``"parquet"`` (``PAR1`` at the start or the
        end), ``"npy"`` (``\\x93NUMPY``), ``"npz"`` (a zip whose first member is an
        ``.npy``), ``"zip"``, ``"json"``, ``"csv"`` (text with a delimiter or
        several lines), ``"text"``; None for other bytes, an empty file or one
        that cannot be read.
    """
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            head = file.read(SNIFF_BYTES)
            tail = b""
            if size >= 8:
                file.seek(size - 4)
                tail = file.read(4)
    except OSError:
        return None
    return kind_of_bytes(head, tail, size)


def kind_of_bytes(head: bytes, tail: bytes, size: int) -> str | None:
    """:func:`file_kind` of a file of ``size`` bytes whose first bytes are ``head`` and last 4 are ``tail``."""
    if len(head) >= 9:
        (length,) = struct.unpack("<Q", head[:8])
        if 2 <= length <= size - 8 and head[8:9] == b"{":
            return "safetensors"
    if head.startswith(b"PAR1") or (size >= 8 and tail == b"PAR1"):
        return "parquet"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04"):
        # A zip's first local header names its first member at byte 30; np.savez writes NAME.npy members.
        if len(head) >= 30:
            (name_length,) = struct.unpack("<H", head[26:28])
            if head[30 : 30 + name_length].endswith(b".npy"):
                return "npz"
        return "zip"
    text = head.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
    if not text.strip() or len(text.translate(None, _NOT_TEXT)) != len(text):
        return None
    if text.lstrip()[:1] in (b"{", b"["):
        return "json"
    first, _, rest = text.partition(b"\n")
    if any(delimiter in first for delimiter in (b",", b";", b"\t", b"|")) or rest.strip():
        return "csv"
    return "text"


def _foreign(file: BinaryIO, size: int, where: str) -> ModelFileError | None:
    """The error for a file that is plainly something else (a table, an array), or None."""
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    tail = b""
    if size >= 8:
        file.seek(size - 4)
        tail = file.read(4)
    kind = kind_of_bytes(head, tail, size)
    if kind is None or kind == "safetensors":
        return None
    return ModelFileError(
        f"{where}: this is {FILE_KINDS[kind]}, not a model file or checkpoint "
        "(not a safetensors file: backprop writes those with `backprop train` or backprop.save)"
    )


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Tensor:
    """One tensor as the header declares it; ``begin``/``end`` are offsets into the data section."""

    code: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def dtype(self) -> np.dtype[Any]:
        return _DTYPES[self.code]


@dataclass(frozen=True)
class Header:
    """A file's checked header: the backprop document, the tensors it declares, the file's size in bytes."""

    document: dict[str, Any]
    tensors: dict[str, Tensor]
    size: int  # of the whole file


class _InvalidJSONError(ValueError):
    """A problem found while parsing JSON (a duplicate key, NaN in the header)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _InvalidJSONError(f"the key {shown_briefly(key, SHOWN_LIMIT)} appears twice")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise _InvalidJSONError(f"{name} is not valid JSON")


def _parse_json(text: str, what: str, where: str, strict: bool) -> Any:
    try:
        return json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_no_constants if strict else None,
        )
    except _InvalidJSONError as exc:
        raise ModelFileError(f"{where}: the {what} is not valid: {exc}") from None
    except RecursionError:
        raise ModelFileError(f"{where}: the {what} is nested too deeply (more than {MAX_NESTING} levels)") from None
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, huge int literal
        raise ModelFileError(f"{where}: the {what} is not valid JSON ({exc})") from None


def cut_text(text: str) -> str:
    """``text`` cut short for a message: a hostile file may hold huge values."""
    return text if len(text) <= SHOWN_LIMIT else f"{text[:160]}... ({len(text)} characters)"


def _byte_count(nbytes: int) -> str:
    """A byte count implied by a declared shape: it may have too many digits for ``repr``."""
    try:
        return shown_briefly(nbytes, SHOWN_LIMIT)
    except ValueError:
        return f"<an integer of {nbytes.bit_length()} bits>"


def _read_header(file: BinaryIO, size: int, where: str) -> Header:
    """Parse and check the safetensors header and the backprop document; read no tensor data."""
    if size == 0:
        raise ModelFileError(f"{where}: the file is empty (0 bytes)")
    if size < 8:
        raise _foreign(file, size, where) or ModelFileError(
            f"{where}: the file is truncated or not a safetensors file: only {size} bytes"
        )
    prefix = file.read(8)
    if len(prefix) != 8:
        raise ModelFileError(f"{where}: the file is truncated: it changed or ended while it was read")
    (length,) = struct.unpack("<Q", prefix)
    if length == 0 or length > MAX_HEADER_BYTES:
        raise _foreign(file, size, where) or ModelFileError(
            f"{where}: not a safetensors file: its first 8 bytes declare a header of {length} bytes "
            f"(a header has 1 to {MAX_HEADER_BYTES} bytes)"
        )
    if 8 + length > size:
        raise _foreign(file, size, where) or ModelFileError(
            f"{where}: the file is truncated or not a safetensors file: its header should have {length} bytes, "
            f"but only {size - 8} follow"
        )
    raw = file.read(length)
    if len(raw) != length:
        raise ModelFileError(f"{where}: the file is truncated: it changed or ended while its header was read")
    if not raw.startswith(b"{"):
        raise _foreign(file, size, where) or ModelFileError(
            f"{where}: not a safetensors file: its header does not start with '{{'"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{where}: the safetensors header is not UTF-8 text ({exc})") from None
    header = _parse_json(text, "safetensors header", where, strict=True)
    if not isinstance(header, dict):
        raise ModelFileError(f"{where}: the safetensors header must be a JSON object, got {type(header).__name__}")
    data_size = size - 8 - length
    metadata = header.pop("__metadata__", None)
    tensors = {name: _check_tensor(name, entry, data_size, where) for name, entry in header.items()}
    _check_layout(tensors, data_size, where)
    if isinstance(metadata, dict) and not all(isinstance(value, str) for value in metadata.values()):
        raise ModelFileError(f"{where}: the safetensors metadata must map strings to strings")
    if not isinstance(metadata, dict) or not isinstance(metadata.get(METADATA_KEY), str):
        raise ModelFileError(
            f"{where}: no backprop document in the file's metadata (key {METADATA_KEY!r}): "
            "a safetensors file, but not one written by backprop"
        )
    document = _parse_json(metadata[METADATA_KEY], "backprop document", where, strict=False)
    if not isinstance(document, dict):
        raise ModelFileError(f"{where}: the backprop document must be a JSON object, got {type(document).__name__}")
    # Counted without recursion: the document, its "extra" or "state", then MAX_NESTING levels of the user's.
    if _nesting(document) > MAX_NESTING + 2:
        raise ModelFileError(f"{where}: the backprop document is nested too deeply (more than {MAX_NESTING} levels)")
    return Header(document, tensors, size)


def _nesting(value: Any) -> int:
    """How deeply lists and dicts nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def _check_tensor(name: str, entry: Any, data_size: int, where: str) -> Tensor:
    what = f"{where}: tensor {shown_briefly(name, SHOWN_LIMIT)}"
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        got = shown_briefly(sorted(entry), SHOWN_LIMIT) if isinstance(entry, dict) else type(entry).__name__
        raise ModelFileError(f"{what} must be described by exactly dtype, shape and data_offsets, got {got}")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(code, str) or code not in _DTYPES:
        raise ModelFileError(
            f"{what} has dtype {shown_briefly(code, SHOWN_LIMIT)}; this library reads {sorted(_DTYPES)}"
        )
    if not isinstance(shape, list) or len(shape) > MAX_NDIM or not all(is_count(n) for n in shape):
        raise ModelFileError(
            f"{what} has shape {shown_briefly(shape, SHOWN_LIMIT)}; "
            f"a shape is a list of at most {MAX_NDIM} non-negative integers"
        )
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(is_count(n) for n in offsets)):
        raise ModelFileError(
            f"{what} has data_offsets {shown_briefly(offsets, SHOWN_LIMIT)}; "
            "expected [begin, end], two non-negative integers"
        )
    begin, end = offsets
    # Python integers: no overflow however large the declared shape.
    nbytes = math.prod(shape) * _DTYPES[code].itemsize
    if nbytes > data_size:
        raise ModelFileError(
            f"{what} declares shape {shown_briefly(shape, SHOWN_LIMIT)} of {code}, {_byte_count(nbytes)} bytes, "
            f"but the file holds only {data_size} bytes of tensor data: truncated or corrupt"
        )
    if not begin <= end <= data_size:
        raise ModelFileError(
            f"{what} has data_offsets {shown_briefly(offsets, SHOWN_LIMIT)} "
            f"outside the {data_size} bytes of tensor data: "
            "truncated or corrupt"
        )
    if end - begin != nbytes:
        raise ModelFileError(
            f"{what} has shape {shape} of {code} ({nbytes} bytes) but data_offsets {offsets} span {end - begin} bytes"
        )
    return Tensor(code, tuple(shape), begin, end)


def _check_layout(tensors: dict[str, Tensor], data_size: int, where: str) -> None:
    """The tensors must tile the data section exactly: no gap, no overlap, nothing after."""
    position = 0
    for name, tensor in sorted(tensors.items(), key=lambda item: (item[1].begin, item[1].end)):
        if tensor.begin != position:
            kind = "overlaps the tensor before it" if tensor.begin < position else "leaves a gap before it"
            raise ModelFileError(
                f"{where}: tensor {shown_briefly(name, SHOWN_LIMIT)} starts at byte {tensor.begin} and {kind}"
            )
        position = tensor.end
    if position != data_size:
        raise ModelFileError(
            f"{where}: the tensors cover {position} bytes but the file holds {data_size} bytes of tensor data "
            "(bytes left over: corrupt or not written by backprop)"
        )


def check_document(document: dict[str, Any], where: str) -> str:
    """Check the document's format fields; return its format."""
    fmt = document.get("format")
    if fmt not in (MODEL_FORMAT, CHECKPOINT_FORMAT):
        raise ModelFileError(
            f"{where}: the document's format is {shown_briefly(fmt, SHOWN_LIMIT)}; "
            f"expected {MODEL_FORMAT!r} or {CHECKPOINT_FORMAT!r}"
        )
    version: Any = document.get("format_version")
    if not is_count(version) or version < 1:
        raise ModelFileError(
            f"{where}: format_version must be a positive integer, got {shown_briefly(version, SHOWN_LIMIT)}"
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{where}: the file has format version {version}, written by a newer backprop "
            f"({shown_briefly(document.get('library_version'), SHOWN_LIMIT)}); "
            f"this library reads format version {FORMAT_VERSION}: "
            "upgrade backprop to load it"
        )
    body = "extra" if fmt == MODEL_FORMAT else "state"
    expected = {"format", "format_version", "library_version", "network", body}
    if set(document) != expected:
        missing, unknown = sorted(expected - set(document)), sorted(set(document) - expected)
        problems = ([f"missing fields {missing}"] if missing else []) + (
            [f"unknown fields {shown_briefly(unknown, SHOWN_LIMIT)}"] if unknown else []
        )
        raise ModelFileError(f"{where}: the {fmt} document has {' and '.join(problems)}")
    if not isinstance(document["library_version"], str):
        raise ModelFileError(
            f"{where}: library_version must be a string, got {shown_briefly(document['library_version'], SHOWN_LIMIT)}"
        )
    if not isinstance(document[body], dict):
        raise ModelFileError(
            f"{where}: the document's {body} must be a JSON object, got {shown_briefly(document[body], SHOWN_LIMIT)}"
        )
    return str(fmt)


def state_references(value: Any, where: str, found: set[str]) -> None:
    """Collect the ``__tensor__`` markers of a checkpoint state, checking every marker's form."""
    if isinstance(value, list):
        for item in value:
            state_references(item, where, found)
    elif isinstance(value, dict):
        if _TENSOR in value:
            name = value[_TENSOR]
            if set(value) != {_TENSOR} or not isinstance(name, str) or name == "parameters":
                raise ModelFileError(
                    f"{where}: malformed tensor marker in the checkpoint state: {shown_briefly(value, SHOWN_LIMIT)}"
                )
            if name in found:
                raise ModelFileError(
                    f"{where}: the checkpoint state refers to tensor {shown_briefly(name, SHOWN_LIMIT)} twice"
                )
            found.add(name)
        elif _NUMPY in value:
            _numpy_scalar(value, where)
        else:
            for item in value.values():
                state_references(item, where, found)


def _numpy_scalar(marker: dict[str, Any], where: str) -> Any:
    """Rebuild a numpy scalar from its ``{"__numpy__": dtype, "value": v}`` marker."""
    name = marker.get(_NUMPY)
    dtype = _SCALAR_DTYPES.get(name) if isinstance(name, str) else None
    item = marker.get("value")
    if dtype is None:
        well_formed = False
    elif dtype.kind == "b":
        well_formed = isinstance(item, bool)
    elif dtype.kind == "f":
        well_formed = isinstance(item, float)
    else:
        well_formed = is_integer(item)
    if set(marker) != {_NUMPY, "value"} or dtype is None or not well_formed:
        raise ModelFileError(
            f"{where}: malformed numpy scalar in the checkpoint state: {shown_briefly(marker, SHOWN_LIMIT)}"
        )
    try:
        with np.errstate(all="raise"):
            return dtype.type(item)
    except (OverflowError, FloatingPointError) as exc:
        raise ModelFileError(
            f"{where}: numpy scalar {shown_briefly(marker, SHOWN_LIMIT)} in the checkpoint state: {exc}"
        ) from None


def decode_state(value: Any, arrays: dict[str, NDArray[Any]], where: str) -> Any:
    """A checkpoint state with its markers replaced by the ``arrays`` and numpy scalars they stand for."""
    if isinstance(value, list):
        return [decode_state(item, arrays, where) for item in value]
    if isinstance(value, dict):
        if _TENSOR in value:
            return arrays[value[_TENSOR]]
        if _NUMPY in value:
            return _numpy_scalar(value, where)
        return {key: decode_state(item, arrays, where) for key, item in value.items()}
    return value


def open_checked(
    path: str | os.PathLike[str], check: Callable[[Header, str], None], tensors: bool = True
) -> tuple[Header, bytes]:
    """Check a model file or checkpoint and read it, from one open file: one whole version of it.

    The header and the tensor data come from the same open file (one inode),
    so a save racing this read (an atomic rename onto ``path``) gives this
    reader the old file or the new one, never one's document with the
    other's tensors. ``check(header, where)`` (the document's own rules:
    format, architecture, tensors) runs on the header before the data are
    read. Without ``tensors`` only the header is read (``b""``).
    """
    where = os.fspath(path)
    # O_NONBLOCK: a FIFO named as a model must not hang the open; it is refused below.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ModelFileError(f"{where}: not a regular file")
        file = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with file:
        header = _read_header(file, os.fstat(fd).st_size, where)
        check(header, where)
        if not tensors:
            return header, b""
        file.seek(0)
        data = file.read(header.size + 1)
    if len(data) != header.size:
        raise ModelFileError(
            f"{where}: the file changed while it was being read ({len(data)} bytes, was {header.size})"
        )
    return header, data


def read_tensors(where: str, header: Header, data: bytes) -> dict[str, NDArray[Any]]:
    """Decode the tensors of the (already checked) file's bytes with safetensors."""
    load_bytes = _safetensors().load
    try:
        arrays: dict[str, NDArray[Any]] = load_bytes(data)
    except Exception as exc:  # safetensors' own checks; ours passed, so the file is subtly corrupt
        raise ModelFileError(f"{where}: safetensors cannot read the file: {exc}") from None
    for name, tensor in header.tensors.items():
        array = arrays.get(name)
        if array is None or array.dtype != tensor.dtype or array.shape != tensor.shape:
            raise ModelFileError(
                f"{where}: tensor {shown_briefly(name, SHOWN_LIMIT)} changed while the file was being read"
            )
        if tensor.code == "BOOL" and array.size and array.view(np.uint8).max() > 1:
            raise ModelFileError(
                f"{where}: tensor {shown_briefly(name, SHOWN_LIMIT)} of dtype BOOL holds bytes other than 0 and 1"
            )
    return arrays


def _safetensors() -> Any:
    """The ``safetensors.numpy`` module, or an ImportError that says how to install it."""
    try:
        import safetensors.numpy
    except ImportError as exc:
        raise ModuleNotFoundError(
            "backprop model files need the safetensors package: pip install safetensors", name="safetensors"
        ) from exc
    return safetensors.numpy


__all__ = [
    "CHECKPOINT_FORMAT",
    "FILE_KINDS",
    "FORMAT_VERSION",
    "MAX_HEADER_BYTES",
    "MAX_NDIM",
    "MAX_NESTING",
    "METADATA_KEY",
    "MODEL_FORMAT",
    "SHOWN_LIMIT",
    "SNIFF_BYTES",
    "Encoder",
    "Header",
    "Tensor",
    "check_document",
    "cut_text",
    "decode_state",
    "file_kind",
    "kind_of_bytes",
    "open_checked",
    "read_tensors",
    "serialize",
    "state_references",
]
