"""Model files and training checkpoints: safetensors tensors plus a JSON document.

A **model file** is a `safetensors <https://huggingface.co/docs/safetensors>`_
file holding one tensor and one metadata entry:

* ``"parameters"``: the network's flat parameter buffer, 1-D, in the network's
  dtype (``F32`` or ``F64``), laid out exactly as :attr:`Network.parameters`
  (``W[1]``, ``b[1]``, ``W[2]``, ...; DESIGN.md §3);
* metadata ``"backprop"``: a JSON document ::

      {"format": "backprop-model", "format_version": 1,
       "library_version": "0.1.0",
       "network": {"inputs": ..., "dtype": ..., "layers": [...]},
       "extra": {...}}

  where ``network`` is :meth:`Network.config` and ``extra`` is the user's own
  JSON-able metadata (class labels, feature names, preprocessing statistics,
  a training summary, ...).

One flat tensor rather than one per ``W``/``b``: it is the network's own
memory layout, so saving is one contiguous write and loading one copy, and
validation reduces to a single rule (the tensor's length equals the parameter
count the architecture implies). Per-layer shapes live in the JSON document,
which describes the architecture in any case.

A **checkpoint** (``"format": "backprop-checkpoint"``) is the same plus the
training state: a nested dict of JSON values and numpy arrays. Each array is
stored as its own tensor, named after its place in the state
(``"state.optimizer.m"``), and the JSON document's ``"state"`` holds the
marker ``{"__tensor__": "state.optimizer.m"}`` where the array goes. Numpy
scalars become ``{"__numpy__": "float32", "value": ...}``. Loading rebuilds
the same nested dict: arrays with the same dtype, shape and bits, numpy
scalars of the same type, Python ints of any size exactly (a PCG64 state's
128-bit integers included). Tuples come back as lists.

Reading trusts nothing in the file. The 8-byte header length is checked
against the file size and a cap, the header JSON is parsed and every tensor's
dtype, shape and byte range is checked, then the document's format, version
and network description (sizes, counts, with Python integers, so nothing
overflows) -- all before any tensor data is read or any parameter buffer is
allocated. Whatever is wrong raises :class:`ModelFileError` naming the file
and the problem. No pickle, no ``eval``: loading a file never runs code.

Every write goes through :func:`atomic_write`: a crash, a kill or a full disk
mid-save leaves the previous file intact.

``safetensors`` is imported only when tensors are written or read, so
:func:`inspect` works without it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import secrets
import stat
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from ._validation import check_finite
from .errors import BackpropError, BackpropTypeError, DataError, ModelFileError, SaveError
from .layers import layer_from_config
from .network import Network

#: The version of the file layout this library writes and the newest it reads.
FORMAT_VERSION = 1
MODEL_FORMAT = "backprop-model"
CHECKPOINT_FORMAT = "backprop-checkpoint"
#: The metadata key of the JSON document.
METADATA_KEY = "backprop"

#: The largest safetensors header read (safetensors' own limit).
MAX_HEADER_BYTES = 100_000_000
#: Sanity limits on a network description read from a file.
MAX_LAYERS = 10_000
MAX_WIDTH = 2**31 - 1
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
_PARAMETER_CODES = {"float32": "F32", "float64": "F64"}


# ---------------------------------------------------------------- writing


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never a mix.

    The bytes go to a temporary file in the same folder, which is flushed,
    ``fsync``-ed and then renamed onto ``path`` with :func:`os.replace` (atomic
    on POSIX and Windows); the folder is then ``fsync``-ed where the platform
    allows, so the rename itself survives a power cut. If anything fails, the
    temporary file is removed and ``path`` is left as it was. See
    :func:`atomic_output` for the rules (modes, symbolic links, devices).

    Parameters
    ----------
    path : str or path-like
        The file to create or replace. Its folder must exist.
    data : bytes
        The complete new content.

    Raises
    ------
    SaveError
        (also an ``OSError``) if the file cannot be written: disk full,
        permission denied, missing folder, ``path`` is a folder, ... The
        message names ``path`` and the reason, and says that the previous
        file is unchanged (or that nothing was written, if there was none).
    """
    with atomic_output(path) as file:
        file.write(data)


class AtomicFile:
    """The binary file :func:`atomic_output` yields: its own write errors are :class:`SaveError` naming the output."""

    def __init__(self, file: Any, path: str, in_place: bool) -> None:
        self._file, self.path, self.in_place = file, path, in_place

    def write(self, data: bytes | bytearray | memoryview) -> int:
        try:
            written: int | None = self._file.write(data)
        except BrokenPipeError:
            raise  # the reader of -o /dev/stdout went away: stop quietly, as for standard output
        except OSError as exc:
            raise _save_error(self.path, exc, self.in_place) from None
        return len(data) if written is None else written

    def flush(self) -> None:
        try:
            self._file.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _save_error(self.path, exc, self.in_place) from None

    def fileno(self) -> int:
        fileno: int = self._file.fileno()
        return fileno


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[AtomicFile]:
    """A binary file that appears at ``path`` whole, once the ``with`` block has written it.

    The block writes to a temporary file in the target's folder, created
    readable by its owner alone; at the end of the block the file is
    flushed, ``fsync``-ed, given its mode and renamed onto ``path`` with
    :func:`os.replace`, so that every reader sees the previous file or the
    new one, whole. If the block raises (Ctrl-C included) or a write fails,
    the temporary file is removed and ``path`` is left as it was.

    * The new file keeps the mode of the file it replaces, and its owner and
      group where the writer may set them; a new file gets ``0o666`` less
      the umask, as :func:`open` would give it.
    * A symbolic link is followed: its target is replaced, the link stays.
    * A device or a pipe (``/dev/null``, ``/dev/stdout``, a FIFO) is written
      in place instead: renaming onto it would put a regular file where the
      device was (``/dev/null`` itself, when run as root).
    * The writer holds an exclusive ``flock`` on its temporary file until
      the rename. A later write of the same target removes temporary files
      that nobody holds (their writer was killed), and never a live
      writer's, whatever process namespace that writer runs in.

    Parameters
    ----------
    path : str or path-like
        The file to create or replace. Its folder must exist.

    Yields
    ------
    AtomicFile
        ``write(bytes)``, ``flush()``; its write errors are :class:`SaveError`.
        Errors of the block's own (reading an input, say) pass through as they are.

    Raises
    ------
    SaveError
        If the file cannot be created, written or renamed; the message names
        ``path`` and says that the previous file is unchanged (or that
        nothing was written).
    """
    target = os.fspath(path)
    if _writes_in_place(target):
        try:
            stream = open(target, "wb", buffering=0)  # noqa: SIM115 - closed below, after the block
        except OSError as exc:
            raise _save_error(target, exc, in_place=True) from exc
        with stream:
            yield AtomicFile(stream, target, in_place=True)
            try:
                stream.flush()
            except BrokenPipeError:
                raise
            except OSError as exc:
                raise _save_error(target, exc, in_place=True) from exc
        return
    # A symbolic link's target is what gets replaced; the link itself stays.
    real = os.path.realpath(target)
    folder = os.path.dirname(real)
    temporary, lock_fd = _create_temporary(real, target)
    in_flight = temporary
    try:
        try:
            file = os.fdopen(os.dup(lock_fd), "wb")
        except OSError as exc:
            raise _save_error(target, exc) from exc
        complete = False
        try:
            yield AtomicFile(file, target, in_place=False)
            try:
                file.flush()  # a short write (disk full mid-way) raises here, not later
                _give_mode(lock_fd, real)  # before the fsync, so that the mode is as durable as the content
                os.fsync(file.fileno())
            except OSError as exc:
                raise _save_error(target, exc) from exc
            complete = True
        finally:
            # Closed before the rename: a network file system reports a failed write here.
            try:
                file.close()
            except OSError as exc:
                if complete:  # otherwise the block's own error is the one to report
                    raise _save_error(target, exc) from exc
        try:
            # The lock (held through lock_fd) lasts through the rename: no cleaner takes the file.
            os.replace(temporary, real)
        except OSError as exc:
            raise _save_error(target, exc) from exc
        temporary = ""
    finally:
        try:
            if temporary:
                with contextlib.suppress(OSError):
                    os.remove(temporary)
        finally:  # a second Ctrl-C during the removal must not keep the lock (and the descriptor)
            _LIVE.discard(in_flight)
            os.close(lock_fd)
    _fsync_folder(folder)
    _remove_orphans(folder, os.path.basename(real))


#: This process's temporary files in flight. On NFS, flock is emulated by fcntl locks, which
#: belong to the process: another thread's lock would not keep this process's cleanup away.
_LIVE: set[str] = set()


def _create_temporary(real: str, target: str) -> tuple[str, int]:
    """A new temporary file beside ``real``, locked by this writer: its name and a descriptor holding the lock."""
    folder = os.path.dirname(real)
    flags = (
        os.O_RDWR
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_BINARY", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_NOFOLLOW", 0)
    )
    for _ in range(100):
        candidate = os.path.join(folder, f".{os.path.basename(real)}.{secrets.token_hex(8)}.tmp")
        try:
            # Owner-only until complete: a 0600 model's content is never readable by others, even mid-write.
            fd = os.open(candidate, flags, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _save_error(target, exc) from exc
        try:
            _LIVE.add(candidate)
            _lock(fd)
        except BaseException:
            _LIVE.discard(candidate)
            os.close(fd)
            with contextlib.suppress(OSError):
                os.remove(candidate)
            raise
        return candidate, fd
    raise _save_error(target, FileExistsError(errno.EEXIST, f"no free temporary name in {folder}"))  # pragma: no cover


def _lock(fd: int, blocking: bool = True) -> bool:
    """Take an exclusive ``flock`` on ``fd``; ``False`` if another holds it (non-blocking) or locks don't exist."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cleanup of others' files there
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:
        return False  # a file system without locks: nobody's file is taken for dead
    return True


def _give_mode(fd: int, real: str) -> None:
    """The mode (and owner, where permitted) of the file at ``real`` to ``fd``; a new file's mode from the umask."""
    try:
        previous = os.stat(real)
    except OSError:
        previous = None
    if previous is None or not stat.S_ISREG(previous.st_mode):
        os.fchmod(fd, 0o666 & ~_umask())
        return
    mode = stat.S_IMODE(previous.st_mode)
    uid, gid = os.geteuid(), os.getegid()
    if hasattr(os, "fchown") and (previous.st_uid, previous.st_gid) != (uid, gid):
        try:  # only root may give a file away
            os.fchown(fd, previous.st_uid, previous.st_gid)
            uid, gid = previous.st_uid, previous.st_gid
        except OSError:
            with contextlib.suppress(OSError):  # a member of the file's group may still give it that group
                os.fchown(fd, -1, previous.st_gid)
                gid = previous.st_gid
    if gid != previous.st_gid:
        # The group's permissions were meant for the file's group, not for this writer's.
        mode &= ~(stat.S_IRWXG | stat.S_ISGID)
    if uid != previous.st_uid:
        mode &= ~stat.S_ISUID
    os.fchmod(fd, mode)  # after chown, which clears the set-id bits


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it (os.umask sets it, racing threads)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _writes_in_place(path: str) -> bool:
    """Whether ``path`` is a device, a pipe or a stream such as ``/dev/stdout``: written in place, never replaced."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False  # not there (yet): an ordinary new file
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return True
    # /dev/stdout redirected to a file resolves to a regular file; the name in /dev must still stay.
    return os.name == "posix" and stat.S_ISREG(mode) and os.path.abspath(path).startswith(("/dev/", "/proc/"))


def _save_error(target: str, exc: OSError, in_place: bool = False) -> SaveError:
    """A :class:`SaveError` naming ``target`` and the reason, and saying what became of ``target``.

    Called only before the rename: whatever is at ``target`` is what was there
    before. A device or pipe written ``in_place`` has no previous content to keep.
    """
    reason = exc.strerror or str(exc)
    if in_place:
        outcome = ""
    elif os.path.isfile(target):
        outcome = "; the previous file is unchanged"
    else:
        outcome = "; nothing was written"
    error = SaveError(f"could not write {target}: {reason}{outcome}")
    error.errno = exc.errno
    return error


#: A temporary file nobody holds is taken for dead only once it has content or is this old (seconds):
#: a writer takes its lock right after creating the file, before writing a byte.
_ORPHAN_AGE = 60.0


def _remove_orphans(folder: str, name: str) -> None:
    """Delete temporary files of ``name`` that no writer holds (their writer was killed mid-write).

    A live writer holds an exclusive ``flock`` on its temporary file until
    the rename, so liveness is the lock, not a process id (which means
    nothing across pid namespaces: containers on a shared volume). Where
    locks don't exist nothing is removed.
    """
    # Only names this version gives its temporary files: an older writer holds no lock.
    pattern = re.compile(re.escape(f".{name}.") + r"[0-9a-f]{16}\.tmp")
    try:
        entries = [entry for entry in os.listdir(folder) if pattern.fullmatch(entry)]
    except OSError:
        return
    for entry in entries:
        candidate = os.path.join(folder, entry)
        if candidate in _LIVE:
            continue  # this process's own, in flight in another thread
        try:
            fd = os.open(candidate, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue  # gone (renamed by its writer), or not ours to open
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or not _lock(fd, blocking=False):
                continue  # held: a live writer's
            if info.st_size == 0 and time.time() - info.st_mtime < _ORPHAN_AGE:
                continue  # perhaps created a moment ago, its writer about to lock it
            with contextlib.suppress(OSError):
                now = os.stat(candidate, follow_symlinks=False)
                if (now.st_dev, now.st_ino) == (info.st_dev, info.st_ino):
                    os.remove(candidate)
        finally:
            os.close(fd)


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (best effort; not possible on Windows)."""
    directory_flag = getattr(os, "O_DIRECTORY", None)
    if directory_flag is None:
        return
    try:
        fd = os.open(folder, os.O_RDONLY | directory_flag)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _library_version() -> str:
    from . import __version__  # here, not at import time: backprop/__init__ imports this module

    return __version__


def _check_network(net: Any, function: str) -> Network:
    if not isinstance(net, Network):
        raise BackpropTypeError(f"{function} expects a backprop Network, got {type(net).__name__}")
    for layer in net.dense_layers:
        check_finite(layer.W, f"cannot save: W[{layer.index}] of layer {layer.index}")
        if layer.b is not None:
            check_finite(layer.b, f"cannot save: b[{layer.index}] of layer {layer.index}")
    return net


def _serialize(tensors: dict[str, NDArray[Any]], document: dict[str, Any], allow_nan: bool) -> bytes:
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


def save(net: Network | Any, path: str | os.PathLike[str], metadata: dict[str, Any] | None = None) -> None:
    """Write ``net`` to a model file (safetensors plus a JSON document), atomically.

    Parameters
    ----------
    net : Network or fitted estimator
        The network. Built-in activations only: a custom ``(function,
        derivative)`` pair is Python code and cannot be stored. A fitted
        :mod:`backprop.sklearn` estimator is saved as its ``network_`` with
        what rebuilds the estimator in the metadata
        (``backprop.sklearn.load`` reads it back; :func:`load` gives the network).
    path : str or path-like
        The file to write, conventionally ``*.safetensors``; an existing file
        is replaced only once the new one is complete.
    metadata : dict, optional
        Anything to keep with the model: class labels, feature names,
        preprocessing statistics, a training summary. Keys must be strings;
        values dicts, lists, tuples, strings, finite numbers, booleans, None,
        numpy scalars or numpy arrays. Tuples and arrays are stored as JSON
        lists (and come back as lists), numpy scalars as Python numbers.
        :func:`load_with_metadata` returns it.

    Raises
    ------
    BackpropTypeError
        For a custom activation or metadata that JSON cannot hold (the
        message names the offending entry).
    DataError
        If a weight or bias is NaN or infinite.
    SaveError
        If the file cannot be written; any previous file is intact.
    """
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise BackpropTypeError(f"metadata must be a dict with string keys, got {type(metadata).__name__}")
    net, metadata = _unwrap_estimator(net, metadata)
    net = _check_network(net, "save")
    extra = _Encoder(arrays=None).encode(metadata, "metadata", ())
    document = {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": _library_version(),
        "network": net.config(),
        "extra": extra,
    }
    atomic_write(path, _serialize({"parameters": net.parameters}, document, allow_nan=False))


def _unwrap_estimator(obj: Any, metadata: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A fitted estimator (an object with ``network_`` and ``_backprop_metadata()``) as its network and metadata.

    Duck-typed, so that this module needs nothing from scikit-learn. The
    estimator's method raises its own not-fitted error before ``network_`` is read.
    """
    hook = getattr(obj, "_backprop_metadata", None)
    if isinstance(obj, Network) or not callable(hook):
        return obj, metadata
    own = hook()
    if not isinstance(own, dict):
        raise BackpropTypeError(f"{type(obj).__name__}._backprop_metadata() must return a dict, got {own!r:.80}")
    clash = sorted(set(own) & set(metadata))
    if clash:
        raise BackpropTypeError(f"metadata keys {clash} are reserved for the {type(obj).__name__}'s own metadata")
    return obj.network_, {**metadata, **own}


def save_checkpoint(net: Network, path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write a training checkpoint: the network plus the state a resumed run needs, atomically.

    Parameters
    ----------
    net : Network
        The network (built-in activations only).
    path : str or path-like
        The file to write; an existing file is replaced only once the new one
        is complete.
    state : dict
        String keys; values nested dicts and lists of JSON values (ints of any
        size, floats including NaN and infinity, strings, booleans, None),
        numpy arrays (stored as tensors, dtype ``bool``, ``int8``-``int64``,
        ``uint8``-``uint64`` or ``float16``-``float64``) and numpy scalars.
        For example ``{"epoch": 3, "optimizer": {"name": "adam", "m": array,
        ...}, "rngs": {"shuffle": rng.bit_generator.state}}``. The keys
        ``"__tensor__"`` and ``"__numpy__"`` are reserved.

    Raises
    ------
    BackpropTypeError
        For a custom activation or a state value that cannot be stored (the
        message names the entry).
    DataError
        If a weight or bias is NaN or infinite.
    SaveError
        If the file cannot be written; any previous file is intact.
    """
    net = _check_network(net, "save_checkpoint")
    if not isinstance(state, dict):
        raise BackpropTypeError(f"state must be a dict with string keys, got {type(state).__name__}")
    arrays: dict[str, NDArray[Any]] = {}
    encoded = _Encoder(arrays=arrays).encode(state, "state", ("state",))
    document = {
        "format": CHECKPOINT_FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": _library_version(),
        "network": net.config(),
        "state": encoded,
    }
    atomic_write(path, _serialize({"parameters": net.parameters, **arrays}, document, allow_nan=True))


class _Encoder:
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


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Tensor:
    """One tensor as the header declares it; ``begin``/``end`` are offsets into the data section."""

    code: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def dtype(self) -> np.dtype[Any]:
        return _DTYPES[self.code]


@dataclass(frozen=True)
class _Header:
    document: dict[str, Any]
    tensors: dict[str, _Tensor]
    size: int  # of the whole file


class _InvalidJSONError(ValueError):
    """A problem found while parsing JSON (a duplicate key, NaN in the header)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _InvalidJSONError(f"the key {_shown(key)} appears twice")
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


def _cut(text: str) -> str:
    """``text`` cut short for a message: a hostile file may hold huge values."""
    return text if len(text) <= 200 else f"{text[:160]}... ({len(text)} characters)"


def _shown(value: Any) -> str:
    """``repr`` of a value read from a file, cut short."""
    try:
        return _cut(repr(value))
    except ValueError:  # an integer too long to print
        return f"<an integer of {value.bit_length()} bits>"


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return _is_integer(value) and bool(value >= 0)


def _read_header(file: BinaryIO, size: int, where: str) -> _Header:
    """Parse and check the safetensors header and the backprop document; read no tensor data."""
    if size == 0:
        raise ModelFileError(f"{where}: the file is empty (0 bytes)")
    if size < 8:
        raise ModelFileError(f"{where}: the file is truncated or not a safetensors file: only {size} bytes")
    prefix = file.read(8)
    if len(prefix) != 8:
        raise ModelFileError(f"{where}: the file is truncated: it changed or ended while it was read")
    (length,) = struct.unpack("<Q", prefix)
    if length == 0 or length > MAX_HEADER_BYTES:
        raise ModelFileError(
            f"{where}: not a safetensors file: its first 8 bytes declare a header of {length} bytes "
            f"(a header has 1 to {MAX_HEADER_BYTES} bytes)"
        )
    if 8 + length > size:
        raise ModelFileError(
            f"{where}: the file is truncated or not a safetensors file: its header should have {length} bytes, "
            f"but only {size - 8} follow"
        )
    raw = file.read(length)
    if len(raw) != length:
        raise ModelFileError(f"{where}: the file is truncated: it changed or ended while its header was read")
    if not raw.startswith(b"{"):
        raise ModelFileError(f"{where}: not a safetensors file: its header does not start with '{{'")
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
    return _Header(document, tensors, size)


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


def _check_tensor(name: str, entry: Any, data_size: int, where: str) -> _Tensor:
    what = f"{where}: tensor {_shown(name)}"
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        got = _shown(sorted(entry)) if isinstance(entry, dict) else type(entry).__name__
        raise ModelFileError(f"{what} must be described by exactly dtype, shape and data_offsets, got {got}")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(code, str) or code not in _DTYPES:
        raise ModelFileError(f"{what} has dtype {_shown(code)}; this library reads {sorted(_DTYPES)}")
    if not isinstance(shape, list) or len(shape) > MAX_NDIM or not all(_is_count(n) for n in shape):
        raise ModelFileError(
            f"{what} has shape {_shown(shape)}; a shape is a list of at most {MAX_NDIM} non-negative integers"
        )
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(n) for n in offsets)):
        raise ModelFileError(
            f"{what} has data_offsets {_shown(offsets)}; expected [begin, end], two non-negative integers"
        )
    begin, end = offsets
    # Python integers: no overflow however large the declared shape.
    nbytes = math.prod(shape) * _DTYPES[code].itemsize
    if nbytes > data_size:
        raise ModelFileError(
            f"{what} declares shape {_shown(shape)} of {code}, {_shown(nbytes)} bytes, "
            f"but the file holds only {data_size} bytes of tensor data: truncated or corrupt"
        )
    if not begin <= end <= data_size:
        raise ModelFileError(
            f"{what} has data_offsets {_shown(offsets)} outside the {data_size} bytes of tensor data: "
            "truncated or corrupt"
        )
    if end - begin != nbytes:
        raise ModelFileError(
            f"{what} has shape {shape} of {code} ({nbytes} bytes) but data_offsets {offsets} span {end - begin} bytes"
        )
    return _Tensor(code, tuple(shape), begin, end)


def _check_layout(tensors: dict[str, _Tensor], data_size: int, where: str) -> None:
    """The tensors must tile the data section exactly: no gap, no overlap, nothing after."""
    position = 0
    for name, tensor in sorted(tensors.items(), key=lambda item: (item[1].begin, item[1].end)):
        if tensor.begin != position:
            kind = "overlaps the tensor before it" if tensor.begin < position else "leaves a gap before it"
            raise ModelFileError(f"{where}: tensor {_shown(name)} starts at byte {tensor.begin} and {kind}")
        position = tensor.end
    if position != data_size:
        raise ModelFileError(
            f"{where}: the tensors cover {position} bytes but the file holds {data_size} bytes of tensor data "
            "(bytes left over: corrupt or not written by backprop)"
        )


def _check_document(document: dict[str, Any], where: str) -> str:
    """Check the document's format fields; return its format."""
    fmt = document.get("format")
    if fmt not in (MODEL_FORMAT, CHECKPOINT_FORMAT):
        raise ModelFileError(
            f"{where}: the document's format is {_shown(fmt)}; expected {MODEL_FORMAT!r} or {CHECKPOINT_FORMAT!r}"
        )
    version: Any = document.get("format_version")
    if not _is_count(version) or version < 1:
        raise ModelFileError(f"{where}: format_version must be a positive integer, got {_shown(version)}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{where}: the file has format version {version}, written by a newer backprop "
            f"({_shown(document.get('library_version'))}); this library reads format version {FORMAT_VERSION}: "
            "upgrade backprop to load it"
        )
    body = "extra" if fmt == MODEL_FORMAT else "state"
    expected = {"format", "format_version", "library_version", "network", body}
    if set(document) != expected:
        missing, unknown = sorted(expected - set(document)), sorted(set(document) - expected)
        problems = ([f"missing fields {missing}"] if missing else []) + (
            [f"unknown fields {_shown(unknown)}"] if unknown else []
        )
        raise ModelFileError(f"{where}: the {fmt} document has {' and '.join(problems)}")
    if not isinstance(document["library_version"], str):
        raise ModelFileError(f"{where}: library_version must be a string, got {_shown(document['library_version'])}")
    if not isinstance(document[body], dict):
        raise ModelFileError(f"{where}: the document's {body} must be a JSON object, got {_shown(document[body])}")
    return str(fmt)


def _width(value: Any, what: str, where: str) -> int:
    if not _is_count(value) or not 1 <= value <= MAX_WIDTH:
        raise ModelFileError(f"{where}: {what} must be an integer from 1 to {MAX_WIDTH}, got {_shown(value)}")
    return int(value)


def _check_architecture(config: Any, where: str) -> int:
    """Check the network description's sizes; return the number of parameters it implies."""
    if not isinstance(config, dict) or set(config) != {"inputs", "dtype", "layers"}:
        got = _shown(sorted(config)) if isinstance(config, dict) else type(config).__name__
        raise ModelFileError(f"{where}: the network description must have exactly inputs, dtype and layers, got {got}")
    if not isinstance(config["dtype"], str) or config["dtype"] not in _PARAMETER_CODES:
        raise ModelFileError(
            f"{where}: the network's dtype must be 'float32' or 'float64', got {_shown(config['dtype'])}"
        )
    width = _width(config["inputs"], "the network's inputs", where)
    layers = config["layers"]
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        got = f"{len(layers)} layers" if isinstance(layers, list) else type(layers).__name__
        raise ModelFileError(f"{where}: the network's layers must be a list of 1 to {MAX_LAYERS} layers, got {got}")
    count = 0
    for index, layer in enumerate(layers, start=1):
        kind = layer.get("type") if isinstance(layer, dict) else None
        if kind == "Dense":
            units = _width(layer.get("units"), f"units of layer {index}", where)
            bias = layer.get("bias")
            if not isinstance(bias, bool):
                raise ModelFileError(f"{where}: bias of layer {index} must be true or false, got {_shown(bias)}")
            count += width * units + (units if bias else 0)
            width = units
        elif kind != "Dropout":
            got = f"type {_shown(kind)}" if isinstance(layer, dict) else type(layer).__name__
            raise ModelFileError(f"{where}: layer {index} must be a Dense or Dropout layer, got {got}")
        try:
            layer_from_config(layer)  # fields, activation name and parameters, dropout rate
        except (BackpropError, TypeError, ValueError) as exc:
            raise ModelFileError(
                f"{where}: layer {index} of the network description is invalid: {_cut(str(exc))}"
            ) from None
    if layers[-1]["type"] != "Dense":
        raise ModelFileError(f"{where}: the output layer (layer {len(layers)}) must be Dense, got {layers[-1]['type']}")
    return count


def _check_parameters_tensor(header: _Header, n_parameters: int, where: str) -> None:
    tensor = header.tensors.get("parameters")
    if tensor is None:
        raise ModelFileError(f"{where}: the file has no tensor 'parameters'")
    code = _PARAMETER_CODES[header.document["network"]["dtype"]]
    if tensor.code != code:
        raise ModelFileError(
            f"{where}: tensor 'parameters' has dtype {tensor.code} but the network is "
            f"{header.document['network']['dtype']} ({code})"
        )
    if tensor.shape != (n_parameters,):
        raise ModelFileError(
            f"{where}: the network description implies {n_parameters} parameters, "
            f"but tensor 'parameters' has shape {list(tensor.shape)}"
        )


def _state_references(value: Any, where: str, found: set[str]) -> None:
    """Collect the ``__tensor__`` markers of a checkpoint state, checking every marker's form."""
    if isinstance(value, list):
        for item in value:
            _state_references(item, where, found)
    elif isinstance(value, dict):
        if _TENSOR in value:
            name = value[_TENSOR]
            if set(value) != {_TENSOR} or not isinstance(name, str) or name == "parameters":
                raise ModelFileError(f"{where}: malformed tensor marker in the checkpoint state: {_shown(value)}")
            if name in found:
                raise ModelFileError(f"{where}: the checkpoint state refers to tensor {_shown(name)} twice")
            found.add(name)
        elif _NUMPY in value:
            _numpy_scalar(value, where)
        else:
            for item in value.values():
                _state_references(item, where, found)


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
        well_formed = _is_integer(item)
    if set(marker) != {_NUMPY, "value"} or dtype is None or not well_formed:
        raise ModelFileError(f"{where}: malformed numpy scalar in the checkpoint state: {_shown(marker)}")
    try:
        with np.errstate(all="raise"):
            return dtype.type(item)
    except (OverflowError, FloatingPointError) as exc:
        raise ModelFileError(f"{where}: numpy scalar {_shown(marker)} in the checkpoint state: {exc}") from None


def _decode_state(value: Any, arrays: dict[str, NDArray[Any]], where: str) -> Any:
    if isinstance(value, list):
        return [_decode_state(item, arrays, where) for item in value]
    if isinstance(value, dict):
        if _TENSOR in value:
            return arrays[value[_TENSOR]]
        if _NUMPY in value:
            return _numpy_scalar(value, where)
        return {key: _decode_state(item, arrays, where) for key, item in value.items()}
    return value


def _open_checked(path: str | os.PathLike[str], expected: str | None, tensors: bool = True) -> tuple[_Header, bytes]:
    """Check a model file or checkpoint and read it, from one open file: one whole version of it.

    The header and the tensor data come from the same open file (one inode),
    so a save racing this read (an atomic rename onto ``path``) gives this
    reader the old file or the new one, never one's document with the
    other's tensors. Everything but the tensor data is checked before the
    data are read. Without ``tensors`` only the header is read (``b""``).
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
        _check_header(header, where, expected)
        if not tensors:
            return header, b""
        file.seek(0)
        data = file.read(header.size + 1)
    if len(data) != header.size:
        raise ModelFileError(
            f"{where}: the file changed while it was being read ({len(data)} bytes, was {header.size})"
        )
    return header, data


def _check_header(header: _Header, where: str, expected: str | None) -> None:
    fmt = _check_document(header.document, where)
    if expected is not None and fmt != expected:
        if expected == MODEL_FORMAT:
            raise ModelFileError(
                f"{where}: this is a training checkpoint, not a model file; "
                "use backprop.io.load_checkpoint(path) (its first item is the network)"
            )
        raise ModelFileError(
            f"{where}: this is a model file, not a training checkpoint: it has no training state to resume from"
        )
    n_parameters = _check_architecture(header.document["network"], where)
    _check_parameters_tensor(header, n_parameters, where)
    references: set[str] = set()
    if fmt == CHECKPOINT_FORMAT:
        try:
            _state_references(header.document["state"], where, references)
        except RecursionError:
            raise ModelFileError(f"{where}: the checkpoint state is nested too deeply") from None
    expected_tensors = {"parameters", *references}
    missing = sorted(set(references) - set(header.tensors))
    if missing:
        raise ModelFileError(f"{where}: the checkpoint state refers to tensors the file lacks: {_shown(missing)}")
    unexpected = sorted(set(header.tensors) - expected_tensors)
    if unexpected:
        raise ModelFileError(
            f"{where}: unexpected tensors {_shown(unexpected)}; a {fmt} file has {_shown(sorted(expected_tensors))}"
        )


def _read_tensors(where: str, header: _Header, data: bytes) -> dict[str, NDArray[Any]]:
    """Decode the tensors of the (already checked) file's bytes with safetensors."""
    load_bytes = _safetensors().load
    try:
        arrays: dict[str, NDArray[Any]] = load_bytes(data)
    except Exception as exc:  # safetensors' own checks; ours passed, so the file is subtly corrupt
        raise ModelFileError(f"{where}: safetensors cannot read the file: {exc}") from None
    for name, tensor in header.tensors.items():
        array = arrays.get(name)
        if array is None or array.dtype != tensor.dtype or array.shape != tensor.shape:
            raise ModelFileError(f"{where}: tensor {_shown(name)} changed while the file was being read")
        if tensor.code == "BOOL" and array.size and array.view(np.uint8).max() > 1:
            raise ModelFileError(f"{where}: tensor {_shown(name)} of dtype BOOL holds bytes other than 0 and 1")
    return arrays


def _build(header: _Header, arrays: dict[str, NDArray[Any]], where: str) -> Network:
    try:
        net = Network.from_config(header.document["network"])
    except (BackpropError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{where}: the network description is invalid: {_cut(str(exc))}") from None
    net.parameters[...] = arrays["parameters"]
    try:
        for layer in net.dense_layers:
            check_finite(layer.W, f"W[{layer.index}] of layer {layer.index}")
            if layer.b is not None:
                check_finite(layer.b, f"b[{layer.index}] of layer {layer.index}")
    except DataError as exc:
        raise ModelFileError(f"{where}: {exc}") from None
    return net


def load_with_metadata(path: str | os.PathLike[str]) -> tuple[Network, dict[str, Any]]:
    """Read a model file written by :func:`save`; return the network and the user metadata.

    The file is checked whole (header, tensor layout, document, architecture,
    parameter count) before any tensor data is read or allocated.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    net : Network
        The network, in the dtype it was saved in, predicting exactly as the
        saved one did.
    metadata : dict
        The ``metadata`` given to :func:`save` (``{}`` if none), as JSON data.

    Raises
    ------
    ModelFileError
        (a ``ValueError``) if the file is empty, truncated, corrupt, not a
        backprop model (a training checkpoint included: use
        :func:`load_checkpoint`), from a newer format version, or describes a
        network that does not match its tensor.
    OSError
        If the file cannot be opened (missing, no permission).
    ImportError
        If the ``safetensors`` package is not installed.
    """
    where = os.fspath(path)
    header, data = _open_checked(path, MODEL_FORMAT)
    net = _build(header, _read_tensors(where, header, data), where)
    return net, header.document["extra"]


def load(path: str | os.PathLike[str]) -> Network:
    """Read a model file written by :func:`save`; see :func:`load_with_metadata`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Network
    """
    return load_with_metadata(path)[0]


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[Network, dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Checked like :func:`load`, and also every array marker of the state
    against the file's tensors, before any tensor data is read.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    net : Network
    state : dict
        The state as saved: arrays with the same dtype, shape and bits
        (writable copies), numpy scalars of the same type, ints exact
        whatever their size; tuples come back as lists.

    Raises
    ------
    ModelFileError
        For any problem with the file, including a model file that holds no
        training state.
    OSError
        If the file cannot be opened.
    ImportError
        If the ``safetensors`` package is not installed.
    """
    where = os.fspath(path)
    header, data = _open_checked(path, CHECKPOINT_FORMAT)
    arrays = _read_tensors(where, header, data)
    net = _build(header, arrays, where)
    state_arrays = {name: array.copy() for name, array in arrays.items() if name != "parameters"}
    try:
        state = _decode_state(header.document["state"], state_arrays, where)
    except RecursionError:  # decoding takes more stack per level than the check before it
        raise ModelFileError(f"{where}: the checkpoint state is nested too deeply") from None
    return net, state


def inspect(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON document of a model file or checkpoint, without reading its tensors.

    The header is checked as :func:`load` checks it; no tensor data is read,
    and ``safetensors`` need not be installed.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict
        ``format`` (``"backprop-model"`` or ``"backprop-checkpoint"``),
        ``format_version``, ``library_version``, ``network`` (the
        architecture, as :meth:`Network.config`), ``extra`` (a model's user
        metadata) or ``state`` (a checkpoint's state, arrays shown as
        ``{"__tensor__": name}``), and ``tensors``: ``{name: {"dtype":
        "float32", "shape": [n]}}``.

    Raises
    ------
    ModelFileError
        If the file is not a valid backprop model file or checkpoint.
    """
    header, _ = _open_checked(path, None, tensors=False)
    tensors = {
        name: {"dtype": tensor.dtype.name, "shape": list(tensor.shape)} for name, tensor in header.tensors.items()
    }
    return {**header.document, "tensors": tensors}


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
    "FORMAT_VERSION",
    "MODEL_FORMAT",
    "ModelFileError",
    "SaveError",
    "atomic_write",
    "inspect",
    "load",
    "load_checkpoint",
    "load_with_metadata",
    "save",
    "save_checkpoint",
]
