"""The prepared-data cache: a table larger than memory, prepared once into float32 matrices on disk.

:func:`prepared_data` reads a source (a CSV or Parquet file, a directory or a
glob of Parquet files) in two streaming passes: :func:`~backprop.tabular.prepare.plan_training`
fits the preprocessing and chooses the rows of each part, then every chunk is
transformed and appended to ``X_train.npy``, ``X_test.npy``, ``y_train.npy``
and ``y_test.npy``. Training reads the matrices with exact random access
(:class:`backprop.rowfiles.RowFile`): the same numbers, so the same bits, as
:func:`~backprop.tabular.prepare.prepare_training` on the whole table in memory.

An entry is a folder of the cache (``$BACKPROP_CACHE_DIR``, else
``$XDG_CACHE_HOME/backprop``, else ``~/.cache/backprop``) named by a key: the
SHA-256 of the format version, the source's files (path, size, mtime, inode,
device), the reader's options and every preprocessing option. A changed file
or option is a new key; the same ones reuse the entry without reading the
source. An entry is written into a temporary folder and renamed into place
when whole: a killed run leaves a temporary that no run uses and
:func:`clean` removes; of two runs building one entry, the second to finish
discards its own. Memory stays bounded by the chunk size: no pass holds the
table, and the matrices are written row block by row block, never mapped.

Imports numpy, the readers, ``prepare`` and ``preprocess``; pyarrow only to
count a Parquet file's rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from .._memory import CHUNK_BYTES, available_bytes, check_allocation, format_bytes, rows_within
from ..errors import DataError, ModelFileError, ParameterError
from ..files import fsync_folder
from ..rowfiles import RowFile
from .columns import LARGEST
from .frame import CHUNK_ROWS, Frame, rows_text
from .prepare import Plan, plan_training
from .preprocess import Preprocessor
from .readers import is_dataset_name, iter_tables, source_identity

#: The ``format`` and ``version`` of an entry's ``entry.json``; a new version is a new key.
CACHE_FORMAT = "backprop-prepared-data"
CACHE_VERSION = 1
#: Temporary folders (entries being written or removed) start with this.
TEMPORARY_PREFIX = ".tmp-backprop-"
#: Marks the cache's folder (the Cache Directory Tagging convention): no folder without it is cleaned.
TAG = "CACHEDIR.TAG"
_TAG_TEXT = "Signature: 8a477f597d28d172789f06886806bc55\n# A cache of prepared data, made by backprop.\n"
#: A source file changed this close to the start of its preparation may have changed unseen (a
#: file system's clock is coarse): its entry is prepared again rather than reused.
RACY_SECONDS = 2.0
#: A temporary folder this old is stale even if a process of its id is alive (ids are reused).
STALE_SECONDS = 24 * 3600
ENTRY = "entry.json"
MATRICES = ("X_train", "X_test", "y_train", "y_test", "rows_train", "rows_test")

#: ``progress(stage, rows_done, rows_total)``: ``stage`` is ``"statistics"`` (then
#: ``"statistics, pass 2"``, ...) or ``"writing"``; ``rows_total`` None when unknown yet.
Progress = Callable[[str, int, int | None], None]


def cache_folder(folder: str | os.PathLike[str] | None = None) -> str:
    """``folder``, else ``$BACKPROP_CACHE_DIR``, ``$XDG_CACHE_HOME/backprop``, ``~/.cache/backprop``."""
    if folder is not None:
        return os.path.abspath(os.fspath(folder))
    if os.environ.get("BACKPROP_CACHE_DIR"):
        return os.path.abspath(os.environ["BACKPROP_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.abspath(os.path.join(base, "backprop"))


# --------------------------------------------------------------------------- the source


def source_files(source: str) -> list[dict[str, Any]] | None:
    """What identifies ``source`` (:func:`~backprop.tabular.readers.source_identity`): per file its
    absolute path, size, mtime_ns, inode and device; None for standard input and dataset names."""
    files: list[dict[str, Any]] | None = _plain(source_identity(source))
    return files


def _plain(value: Any) -> Any:
    """Tuples, dataclasses and numpy numbers as JSON values (for the key and ``entry.json``)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _parquet_shape(files: Sequence[Any]) -> tuple[int, int] | None:
    """Rows and columns of Parquet files from their footers (cheap), or None for other files."""
    paths = [str(f["path"]) for f in files]
    try:
        for path in paths:
            with open(path, "rb") as file:
                if file.read(4) != b"PAR1":
                    return None
        import importlib

        from .arrow_tables import pyarrow

        pyarrow()  # the message that says how to install it
        pq = importlib.import_module("pyarrow.parquet")
        shapes = [(int(m.num_rows), int(m.num_columns)) for m in map(pq.read_metadata, paths)]
    except Exception:  # an unreadable footer: the reader's own message comes in the pass
        return None
    return sum(r for r, _ in shapes), max((c for _, c in shapes), default=0)


def estimated_bytes(source: str) -> int | None:
    """The prepared float32 matrix's size estimated before reading: rows × columns × 4 bytes for
    Parquet (from the footers), the file sizes for other files; None for stdin and dataset names.

    One-hot columns make the real matrix wider; the estimate only chooses between memory and the cache.
    """
    files = source_files(source)
    if files is None:
        return None
    shape = _parquet_shape(files)
    if shape is not None:
        return 4 * shape[0] * shape[1]
    return sum(int(f["size"]) for f in files)


#: What a cell of a chunk costs while it is read and scanned: Arrow's column as stored and as
#: float64, the joined batches, the Frame's column and the scans' temporaries (measured: a
#: chunk's address space came to some 5 times its float64 cells).
_CELL_BYTES = 64


def _read_rows(n_columns: int | None) -> int:
    """Rows per chunk read so that a chunk's cells, at :data:`_CELL_BYTES` each, fit an eighth of the memory."""
    available = available_bytes()
    budget = CHUNK_BYTES if available is None else min(CHUNK_BYTES, available // 8)
    if n_columns is None:
        return CHUNK_ROWS  # a CSV's chunks are bounded by cells already
    return max(1, min(CHUNK_ROWS, rows_within(_CELL_BYTES * max(1, n_columns), budget)))


#: The share of the memory available past which ``out_of_core=None`` prepares a file into the cache: the
#: in-memory path holds the table as read (float64: twice the float32 estimate) and the prepared matrix.
IN_MEMORY_SHARE = 0.25


def use_cache(source: str, out_of_core: bool | None) -> bool:
    """Whether ``source`` is prepared into the on-disk cache: as asked, else when its estimated
    prepared size passes :data:`IN_MEMORY_SHARE` of the memory available (never stdin or a dataset)."""
    if source == "-" or is_dataset_name(source):
        if out_of_core:
            raise ParameterError(f"{source}: out_of_core needs a file, a folder or a glob; this one is read in memory")
        return False
    if out_of_core is not None:
        return bool(out_of_core)
    if not os.path.exists(source) and not any(c in source for c in "*?["):
        return False  # the reader's own message says what is missing
    available = available_bytes()
    size = estimated_bytes(source)
    return available is not None and size is not None and size > IN_MEMORY_SHARE * available


def read_rows(source: str, rows: NDArray[np.int64], *, header: bool | None = None) -> Frame:
    """The given rows of ``source`` (sorted row numbers), read in one streaming pass.

    Parameters
    ----------
    source : str
    rows : ndarray of int64 of shape (n,), sorted
    header : bool or None
        For CSV: whether the first row names the columns.

    Returns
    -------
    Frame
        ``n`` rows, in order.
    """
    parts: list[Frame] = []
    for chunk in iter_tables(source, _read_rows(None), header=header):
        first, last = np.searchsorted(rows, [chunk.offset, chunk.offset + chunk.n_rows])
        if first < last or not parts:
            parts.append(chunk.take(rows[first:last] - chunk.offset))
    columns = [np.concatenate([p.columns[j] for p in parts]) for j in range(len(parts[0].names))]
    return Frame(parts[0].source, parts[0].names, columns, decimal_comma=parts[0].decimal_comma)


# --------------------------------------------------------------------------- entries


@dataclass
class CachedData:
    """A prepared source: the fitted preprocessing, the plan, and the matrices of each part.

    Attributes
    ----------
    X_train, X_test : RowFile of shape (n, n_inputs), float32
        Read from the entry's files with exact random access.
    y_train, y_test : ndarray of shape (n,)
        int64 class indices, or float32 scaled numeric targets (in memory).
    preprocessor : Preprocessor
    plan : Plan
        The rows of each part and the counts; its preprocessor is ``preprocessor``.
    reused : bool
        True when the entry was there already and the source was not read.
    folder : str
        The entry's folder.
    notes : list of str
        The plan's notes, and what the cache did (a damaged entry rebuilt).
    """

    X_train: RowFile
    X_test: RowFile
    y_train: NDArray[Any]
    y_test: NDArray[Any]
    preprocessor: Preprocessor
    plan: Plan
    reused: bool
    folder: str
    notes: list[str] = field(default_factory=list)

    @property
    def rows_train(self) -> NDArray[np.int64]:
        return self.plan.rows_train

    @property
    def rows_test(self) -> NDArray[np.int64]:
        return self.plan.rows_test

    @property
    def n_rows(self) -> int:
        return self.plan.n_rows

    @property
    def n_dropped(self) -> int:
        return self.plan.n_dropped


@dataclass
class CacheEntry:
    """One entry of :func:`list_entries`: where, what source, how big, when last used.

    ``damaged`` names what is wrong with an entry that would be rebuilt (its other fields may be empty).
    """

    folder: str
    key: str
    source: str
    n_rows: int
    n_inputs: int
    size: int
    used: float
    damaged: str | None = None


def _open_rows(path: str) -> RowFile:
    """The matrix at ``path`` for exact random access without mapping it whole."""
    return RowFile(path, finite=True)  # checked finite as written


def prepared_data(
    source: str,
    *,
    target: str | None = None,
    features: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    task: str | None = None,
    impute: str | None = None,
    standardize: bool = True,
    test_size: float = 0.2,
    seed: int | None = 0,
    missing_category: bool = False,
    header: bool | None = None,
    preprocessor: Preprocessor | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> CachedData:
    """The prepared training and test matrices of ``source``, from the cache or written into it.

    Parameters
    ----------
    source : str
        A CSV or Parquet file, a folder or a glob of Parquet files, an ``.npz``/``.npy`` file.
    target, features, ignore, task, impute, standardize, test_size, seed, missing_category
        As for :func:`~backprop.tabular.prepare.prepare_training`.
    header : bool or None
        For CSV: whether the first row names the columns.
    preprocessor : Preprocessor, optional
        Transform with this one (a checkpoint's) instead of the one fitted; the rows are the plan's.
    cache_dir : str, optional
        The cache's folder (see :func:`cache_folder`).
    progress : callable, optional
        ``progress(stage, rows_done, rows_total)`` after each chunk of each pass.

    Returns
    -------
    CachedData

    Raises
    ------
    ParameterError
        For standard input or a dataset name (nothing on disk to key the entry by).
    DataError
        As :func:`prepare_training`, or too little disk space (naming the cache folder and the sizes),
        or a source that changed while it was read.
    """
    files = source_files(source)
    if files is None:
        raise ParameterError(
            f"{source}: standard input and built-in datasets are prepared in memory, not in the cache; "
            "give a file, a folder or a glob of Parquet files"
        )
    options = {
        "target": target,
        "features": None if features is None else list(features),
        "ignore": list(ignore),
        "task": task,
        "impute": impute,
        "standardize": bool(standardize),
        "test_size": float(test_size),
        "seed": seed,
        "missing_category": bool(missing_category),
        "header": header,
        "preprocessing": None if preprocessor is None else preprocessor.to_dict(),
    }
    parts = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "files": files,
        "options": options,
        "versions": _versions(),  # another reader or preprocessing may give other bits
    }
    key = hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    root = cache_folder(cache_dir)
    folder = os.path.join(root, key)
    notes: list[str] = []
    if os.path.isdir(folder):
        try:
            if _racy(folder):
                notes.append(f"{source} changed just before {folder} was prepared; preparing it again")
                _remove(root, folder)
            else:
                return _read_entry(folder, key)
        except (DataError, ModelFileError, OSError, ValueError, KeyError, TypeError) as exc:
            notes.append(f"the cache entry {folder} is damaged ({exc}); rebuilding it")
            _remove(root, folder)
    started = time.time()
    shape = _parquet_shape(files)

    def chunks(stage: str) -> Callable[[], Iterable[Frame]]:
        passes = 0

        def start() -> Iterator[Frame]:
            nonlocal passes
            passes += 1
            name = stage if passes == 1 else f"{stage}, pass {passes}"
            rows = _read_rows(None if shape is None else shape[1])
            return _counted(
                iter_tables(source, rows, header=header), name, None if shape is None else shape[0], progress
            )

        return start

    plan = plan_training(
        chunks("statistics"),
        target=target,
        features=features,
        ignore=list(ignore),
        task=task,
        impute=impute,
        standardize=standardize,
        test_size=test_size,
        seed=seed,
        missing_category=missing_category,
    )
    pre = preprocessor or plan.preprocessor
    plan = Plan(pre, plan.rows_train, plan.rows_test, plan.n_rows, plan.n_dropped, [*plan.notes])
    if len(pre.classes) > 2:  # training holds one-hot targets of the training rows in memory
        k, n_train = len(pre.classes), len(plan.rows_train)
        what = f"the target column {pre.target.name!r} ({k:,} classes, one-hot targets for {n_train:,} training rows)"
        check_allocation(4 * n_train * k, what)
    _tagged(root)
    _check_space(root, source, pre, plan)
    temporary = _temporary(root)
    os.mkdir(temporary)
    try:
        sizes = _write_matrices(temporary, source, header, pre, plan, progress)
        if source_files(source) != files:
            raise DataError(f"{source} changed while it was being prepared; run again")
        document = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "key": key,
            "parts": parts,
            "source": os.path.abspath(source),
            "preprocessing": pre.to_dict(),
            "plan": {"n_rows": plan.n_rows, "n_dropped": plan.n_dropped, "notes": plan.notes},
            "shapes": {"train": len(plan.rows_train), "test": len(plan.rows_test), "inputs": pre.n_inputs},
            "sizes": sizes,
            "created": time.time(),
            # A file changed within RACY_SECONDS of the first pass may change again unseen at the same mtime.
            "racy": any(f["mtime_ns"] / 1e9 >= started - RACY_SECONDS for f in files),
        }
        with open(os.path.join(temporary, ENTRY), "w", encoding="utf-8") as file:
            json.dump(document, file)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.rename(temporary, folder)
        except OSError:
            if not os.path.isdir(folder):
                raise
            # Another run built the same entry first: use it, discard ours.
            shutil.rmtree(temporary, ignore_errors=True)
        fsync_folder(root)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    data = _read_entry(folder, key, touch=False)
    data.reused = False
    data.notes = [*notes, *data.notes]
    return data


def _counted(frames: Iterable[Frame], stage: str, total: int | None, progress: Progress | None) -> Iterator[Frame]:
    done = 0
    if progress is not None:
        progress(stage, 0, total)
    for frame in frames:
        yield frame
        done += frame.n_rows
        if progress is not None:
            progress(stage, done, total)


def _check_space(root: str, source: str, pre: Preprocessor, plan: Plan) -> None:
    n = len(plan.rows_train) + len(plan.rows_test)
    needed = n * (4 * pre.n_inputs + 8 + 8) + 2**20  # the inputs, targets and row numbers, headers
    free = shutil.disk_usage(root).free
    if needed > free:
        raise DataError(
            f"the prepared-data cache {root} needs {format_bytes(needed)} for {source} ({n:,} rows × "
            f"{pre.n_inputs:,} inputs) but its disk has {format_bytes(free)} free; free some space, set "
            "BACKPROP_CACHE_DIR (or --cache-dir) to a larger disk, or train in memory (--in-memory)"
        )


class _NpyWriter:
    """A ``.npy`` file written as its header and then rows in order: bounded memory, never mapped."""

    def __init__(self, path: str, dtype: np.dtype[Any], shape: tuple[int, ...]) -> None:
        self.path, self.dtype, self.shape = path, dtype, shape
        self.rows = 0
        self.file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close()
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(self.file, header)

    def write(self, block: NDArray[Any]) -> None:
        if block.shape[1:] != self.shape[1:] or self.rows + len(block) > self.shape[0]:
            raise DataError(f"{self.path}: rows of shape {block.shape} do not fit the matrix of shape {self.shape}")
        self.file.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())
        self.rows += len(block)

    def close(self) -> int:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        return os.path.getsize(self.path)


def _write_matrices(
    folder: str, source: str, header: bool | None, pre: Preprocessor, plan: Plan, progress: Progress | None
) -> dict[str, int]:
    """The second pass: each chunk's rows of each part transformed and appended; the files' sizes."""
    y_dtype = np.dtype("<i8") if pre.task == "classification" else np.dtype("<f4")
    parts = {"train": plan.rows_train, "test": plan.rows_test}
    writers: dict[str, _NpyWriter] = {}
    try:
        for part, rows in parts.items():
            writers[f"X_{part}"] = _NpyWriter(
                os.path.join(folder, f"X_{part}.npy"), np.dtype("<f4"), (len(rows), pre.n_inputs)
            )
            writers[f"y_{part}"] = _NpyWriter(os.path.join(folder, f"y_{part}.npy"), y_dtype, (len(rows),))
            writers[f"rows_{part}"] = _NpyWriter(
                os.path.join(folder, f"rows_{part}.npy"), np.dtype("<i8"), (len(rows),)
            )
            writers[f"rows_{part}"].write(rows)
        shape = _parquet_shape(source_files(source) or [])
        chunk_rows = min(pre.chunk_rows(), _read_rows(None if shape is None else shape[1]))
        frames = iter_tables(source, chunk_rows, header=header)
        for frame in pre.chunked(_counted(frames, "writing", plan.n_rows, progress)):
            start, stop = frame.offset, frame.offset + frame.n_rows
            for part, rows in parts.items():
                first, last = np.searchsorted(rows, [start, stop])
                if first == last:
                    continue
                local = rows[first:last] - start
                X = pre.transform(frame, rows=local)
                if not np.isfinite(X).all():  # the cache guarantees finite inputs to whoever reads it
                    bad = local[np.flatnonzero(~np.isfinite(X).all(axis=1))]
                    raise DataError(f"{frame.source}: non-finite network inputs in {rows_text(frame, bad)}")
                writers[f"X_{part}"].write(X)
                writers[f"y_{part}"].write(_targets(pre, frame, local))
        sizes = {}
        for name, writer in writers.items():
            if writer.rows != writer.shape[0]:
                raise DataError(
                    f"{source} gave {writer.rows:,} of the {writer.shape[0]:,} rows planned for {name}: "
                    "it changed while it was being prepared; run again"
                )
            sizes[f"{name}.npy"] = writer.close()
        return sizes
    finally:
        for writer in writers.values():
            if not writer.file.closed:
                writer.file.close()


def _targets(pre: Preprocessor, frame: Frame, local: NDArray[np.int64]) -> NDArray[Any]:
    """The targets of ``local`` rows as :func:`prepare_training` gives them: int64 indices or float32 scaled."""
    values, missing = pre.targets(frame)
    y = values[local]
    if missing[local].any():
        bad = local[np.flatnonzero(missing[local])]
        raise DataError(f"{frame.source}: the target column {pre.target.name!r} is missing in {rows_text(frame, bad)}")
    if pre.task == "classification":
        return y.astype(np.int64)
    huge = ~(np.abs(y) <= LARGEST)
    if huge.any():
        raise DataError(
            f"{frame.source}: the target column {pre.target.name!r} holds values too large for float32 once "
            f"standardised ({rows_text(frame, local[np.flatnonzero(huge)])}); rescale it"
        )
    return y.astype(np.float32)


def _read_entry(folder: str, key: str, touch: bool = True) -> CachedData:
    """An entry checked whole (its document, its files' sizes and shapes), opened for reading."""
    path = os.path.join(folder, ENTRY)
    with open(path, encoding="utf-8") as file:
        document = json.load(file)
    if document.get("format") != CACHE_FORMAT or document.get("version") != CACHE_VERSION:
        raise DataError(f"{path} is not an entry of this version")
    if document.get("key") != key:
        raise DataError(f"{path} holds the entry of another key")
    sizes = document["sizes"]
    for name in MATRICES:
        actual = os.path.getsize(os.path.join(folder, f"{name}.npy"))
        if actual != sizes[f"{name}.npy"]:
            raise DataError(f"{name}.npy has {actual} bytes, not the {sizes[f'{name}.npy']} written")
    pre = Preprocessor.from_dict(document["preprocessing"], where=path)
    shapes = document["shapes"]
    n_train, n_test, n_inputs = int(shapes["train"]), int(shapes["test"]), int(shapes["inputs"])
    if n_inputs != pre.n_inputs:
        raise DataError(f"{path}: {n_inputs} inputs, but the preprocessing gives {pre.n_inputs}")

    def load(name: str, shape: tuple[int, ...]) -> NDArray[Any]:
        array: NDArray[Any] = np.load(os.path.join(folder, f"{name}.npy"), allow_pickle=False)
        if array.shape != shape:
            raise DataError(f"{name}.npy has shape {array.shape}, not {shape}")
        return array

    y_train, y_test = load("y_train", (n_train,)), load("y_test", (n_test,))
    rows_train, rows_test = load("rows_train", (n_train,)), load("rows_test", (n_test,))
    X_train, X_test = _open_rows(os.path.join(folder, "X_train.npy")), _open_rows(os.path.join(folder, "X_test.npy"))
    for name, X, n in (("X_train", X_train, n_train), ("X_test", X_test, n_test)):
        if tuple(X.shape) != (n, n_inputs):
            raise DataError(f"{name}.npy has shape {tuple(X.shape)}, not {(n, n_inputs)}")
    counts = document["plan"]
    notes = [str(n) for n in counts["notes"]]
    plan = Plan(pre, rows_train, rows_test, int(counts["n_rows"]), int(counts["n_dropped"]), notes)
    if touch:  # "last used", for clean(older_than=...)
        with contextlib.suppress(OSError):
            os.utime(path)
    return CachedData(X_train, X_test, y_train, y_test, pre, plan, reused=True, folder=folder, notes=list(notes))


def _remove(root: str, folder: str) -> None:
    """Remove an entry: renamed out of the way first, so no run opens half of it."""
    doomed = _temporary(root)
    try:
        os.rename(folder, doomed)
    except FileNotFoundError:
        return
    shutil.rmtree(doomed, ignore_errors=True)


def _host() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname()) or "host"


def _temporary(root: str) -> str:
    """A new temporary folder's path: ``.tmp-backprop-<host>-<pid>-<8 hex digits>``."""
    return os.path.join(root, f"{TEMPORARY_PREFIX}{_host()}-{os.getpid()}-{secrets.token_hex(4)}")


def _tagged(root: str) -> None:
    """Create the cache's folder with its :data:`TAG`, or check an existing one has it."""
    os.makedirs(root, exist_ok=True)
    tag = os.path.join(root, TAG)
    if os.path.isfile(tag):
        return
    # Another run may be tagging it at this moment: its tag is no sign of a foreign folder.
    if any(not name.startswith(".") and name != TAG for name in os.listdir(root)):
        raise DataError(
            f"{root} is not empty and has no {TAG}: it is not a backprop cache; "
            "give an empty or new folder (--cache-dir, BACKPROP_CACHE_DIR)"
        )
    temporary = f"{_temporary(root)}.tag"
    with open(temporary, "w", encoding="ascii") as file:
        file.write(_TAG_TEXT)
    os.replace(temporary, tag)  # whole, or not there: two runs tagging at once write the same text


# --------------------------------------------------------------------------- listing, cleaning


def _is_key(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _versions() -> dict[str, str]:
    import pyarrow  # type: ignore[import-untyped]

    from .. import __version__

    return {"backprop": __version__, "numpy": np.__version__, "pyarrow": pyarrow.__version__}


def _racy(folder: str) -> bool:
    with open(os.path.join(folder, ENTRY), encoding="utf-8") as file:
        return bool(json.load(file).get("racy", False))


def _ours(folder: str) -> bool:
    """Whether a folder named like an entry holds an entry's files (a damaged one may be removed)."""
    return any(os.path.lexists(os.path.join(folder, name)) for name in (ENTRY, "X_train.npy"))


def _folder_size(folder: str) -> int:
    total = 0
    for root, _dirs, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def list_entries(cache_dir: str | os.PathLike[str] | None = None) -> list[CacheEntry]:
    """The entries of the cache, most recently used first (a damaged one says what is wrong)."""
    root = cache_folder(cache_dir)
    entries = []
    tagged = os.path.isfile(os.path.join(root, TAG))
    for name in sorted(os.listdir(root)) if tagged else []:
        folder = os.path.join(root, name)
        if not _is_key(name) or not os.path.isdir(folder) or os.path.islink(folder) or not _ours(folder):
            continue
        path = os.path.join(folder, ENTRY)
        try:
            used = os.path.getmtime(path)
            with open(path, encoding="utf-8") as file:
                document = json.load(file)
            shapes = document["shapes"]
            entry = CacheEntry(
                folder,
                name,
                str(document["source"]),
                int(document["plan"]["n_rows"]),
                int(shapes["inputs"]),
                _folder_size(folder),
                used,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            entry = CacheEntry(
                folder, name, "", 0, 0, _folder_size(folder), 0.0, damaged=str(exc) or type(exc).__name__
            )
        entries.append(entry)
    return sorted(entries, key=lambda e: -e.used)


def _stale(name: str, folder: str) -> bool:
    """A temporary folder of this machine whose writer is gone (its process id is not running), or
    one of any machine older than a day; a name not of :func:`_temporary`'s form is not ours."""
    parts = name[len(TEMPORARY_PREFIX) :].split("-")
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[2]) != 8:
        return False
    host, pid = parts[0], int(parts[1])
    try:
        if time.time() - os.path.getmtime(folder) > STALE_SECONDS:
            return True
    except OSError:
        return False
    if host != _host():  # another machine's process (a shared cache): only its age tells
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        return False
    return False


@dataclass
class Cleaned:
    """What :func:`clean` removed: the folders and the bytes they held."""

    removed: list[str]
    freed: int


def clean(
    older_than: float | None = None, all: bool = False, cache_dir: str | os.PathLike[str] | None = None
) -> Cleaned:
    """Remove entries of the cache, and always the temporaries of killed runs and damaged entries.

    Parameters
    ----------
    older_than : float, optional
        Also remove entries not used for this many seconds.
    all : bool, default False
        Remove every entry.
    cache_dir : str, optional
        The cache's folder (see :func:`cache_folder`).

    Returns
    -------
    Cleaned
    """
    if older_than is not None and not older_than >= 0:
        raise ParameterError(f"older_than must be a non-negative number of seconds, got {older_than!r}")
    root = cache_folder(cache_dir)
    removed: list[str] = []
    freed = 0
    if not os.path.isdir(root):
        return Cleaned(removed, freed)
    if not os.path.isfile(os.path.join(root, TAG)):
        raise DataError(f"{root} has no {TAG}: it is not a backprop cache, and nothing in it was removed")
    now = time.time()
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if (
            name.startswith(TEMPORARY_PREFIX)
            and os.path.isdir(folder)
            and not os.path.islink(folder)
            and _stale(name, folder)
        ):
            freed += _folder_size(folder)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    for entry in list_entries(root):
        old = older_than is not None and now - entry.used > older_than
        if all or old or entry.damaged is not None:
            freed += entry.size
            _remove(root, entry.folder)
            removed.append(entry.folder)
    return Cleaned(removed, freed)


__all__ = [
    "CACHE_FORMAT",
    "CACHE_VERSION",
    "CacheEntry",
    "CachedData",
    "Cleaned",
    "Progress",
    "cache_folder",
    "clean",
    "estimated_bytes",
    "list_entries",
    "prepared_data",
    "read_rows",
    "source_files",
    "use_cache",
]
