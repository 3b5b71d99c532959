"""A matrix in a ``.npy`` file, read by rows on demand: training on data larger than memory.

:class:`RowFile` opens the ``.npy`` file of a 2-D C-order float32 or float64
matrix (the prepared matrix of an on-disk cache) and hands out rows as
``ndarray.take`` and slicing would, into buffers of the caller: ``fit``
gathers each batch with :meth:`RowFile.take`, the check of the values,
``predict`` and validation read chunks of consecutive rows into one buffer, and nothing
reads the whole matrix. Rows come out as the
same bytes as from the array ``np.load`` returns, so training on a RowFile
gives the bits of training on that array, for the same seed.

Two ways to read, the same bytes:

- ``"pread"``: positioned reads from the open file, one per run of
  consecutive rows (libc ``pread`` from a compiled loop, see
  :func:`backprop._kernels.read_rows_kernel`; ``os.preadv`` in Python as the
  reference and the fallback). The address space holds only the buffers, so
  a file many times larger than ``ulimit -v`` can be trained on. A system
  call per row costs about a microsecond, which small rows feel: ``fit``
  reads through a :class:`BatchReader`, which reads the next batch in a
  thread (the compiled loop runs without the GIL) while the current one trains.
- ``"mmap"``: the file mapped whole, rows gathered from the mapping as from
  an array in memory (the page cache then serves them without a system call
  per row). Only where the address space has room for the file.

``access="auto"`` maps the file when the address space has room for it four
times over (no ``ulimit -v``, or a generous one), and reads by ``pread``
otherwise.

The file is opened once: a file replaced on disk meanwhile (atomically, as
the cache writes) is not seen, so every row comes from one version. A file
truncated in place while open is an error of :meth:`RowFile.take` with
``"pread"``, and a ``SIGBUS`` with ``"mmap"``, as for any memory map.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from . import _kernels, _memory, _terminal
from .errors import BackpropTypeError, DataError, ParameterError, ShapeError

Access = Literal["auto", "pread", "mmap"]

#: The dtypes a RowFile reads: those the network trains in.
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: A mapping is chosen by ``"auto"`` when the address space left holds the file this many times.
_MAP_ROOM = 4

#: A :class:`BatchReader` reads ahead only batches up to this size: its second buffer stays small.
PREFETCH_BYTES = 16 * 2**20
#: The stack of a reader's thread (a loop calling the compiled read): not the default 8 MB of
#: address space, which counts against ``ulimit -v`` as much as the data would.
_THREAD_STACK = 512 * 2**10
_STARTING = threading.Lock()  # threading.stack_size is the process's: set and restored under this lock


class RowFile:
    """The rows of a 2-D matrix in a ``.npy`` file, read on demand.

    Parameters
    ----------
    path : str or PathLike
        A ``.npy`` file (format 1.0, 2.0 or 3.0) holding a C-order float32 or
        float64 matrix of shape ``(n_rows, n_columns)`` in the machine's byte
        order. Nothing is unpickled.
    access : {"auto", "pread", "mmap"}, default "auto"
        How rows are read (see the module's docstring); the bytes are the same.
    finite : bool, default False
        True when whoever wrote the file checked that every value is finite:
        ``fit`` and ``predict`` then skip their own pass over the file.

    Attributes
    ----------
    shape : tuple of (int, int)
    dtype : numpy.dtype
    ndim : int
        Always 2.
    path : str
    access : {"pread", "mmap"}
        The way chosen.
    finite : bool

    Raises
    ------
    DataError
        Naming the file when it cannot be opened, is not a ``.npy`` file, is
        not a 2-D C-order float32 or float64 matrix, or is shorter than its
        header says.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "X.npy")
    >>> np.save(path, np.arange(6, dtype=np.float32).reshape(3, 2))
    >>> with RowFile(path, access="pread") as X:
    ...     X.take([2, 0], axis=0)
    array([[4., 5.],
           [0., 1.]], dtype=float32)
    """

    def __init__(self, path: str | os.PathLike[str], *, access: Access = "auto", finite: bool = False) -> None:
        if access not in ("auto", "pread", "mmap"):
            raise ParameterError(f"access must be 'auto', 'pread' or 'mmap', got access={access!r}")
        if not isinstance(finite, bool):
            raise BackpropTypeError(f"finite must be True or False, got finite={finite!r}")
        self.path = os.fspath(path)
        self.where = _terminal.shown(self.path)
        self.finite = finite
        self._fd = -1
        self._map: mmap.mmap | None = None
        self._array: NDArray[Any] | None = None
        self._lock = threading.Lock()  # only for a platform without pread: seek and read as one step
        # The readers reading ahead from the descriptor: closed (their threads joined) before it is.
        self._readers: weakref.WeakSet[BatchReader] = weakref.WeakSet()
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise DataError(f"{self.where}: cannot open the file: {exc.strerror}") from None
        self._fd = fd
        try:
            self.start, shape, self.dtype = _read_header(fd, self.where)
            self.shape: tuple[int, int] = shape
            self.row_bytes = shape[1] * self.dtype.itemsize
            self.nbytes = shape[0] * self.row_bytes
            self.access = _choose(access, self.start + self.nbytes) if self.nbytes else "pread"
            if self.access == "mmap":
                self._map_file(access == "mmap")
        except BaseException:
            self.close()
            raise

    def _map_file(self, asked: bool) -> None:
        try:
            self._map = mmap.mmap(self._fd, self.start + self.nbytes, access=mmap.ACCESS_READ)
        except (OSError, ValueError, OverflowError, MemoryError) as exc:
            if asked:
                raise DataError(f"{self.where}: cannot map the file into memory ({exc}); use access='pread'") from None
            self.access = "pread"  # "auto": a mapping that fails is no failure
            return
        array = np.frombuffer(self._map, self.dtype, self.shape[0] * self.shape[1], self.start)
        self._array = array.reshape(self.shape)

    # ----------------------------------------------------------------- the protocol

    @property
    def ndim(self) -> int:
        """2: a matrix."""
        return 2

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._fd < 0

    def take(self, indices: Any, axis: int | None = 0, out: NDArray[Any] | None = None, mode: str = "raise") -> Any:
        """The rows ``indices`` in their order: ``ndarray.take(indices, axis=0, out=out, mode=mode)`` of the matrix.

        Parameters
        ----------
        indices : int or array_like of int, of any shape
            Row numbers; negative ones count from the end (``mode="raise"``).
        axis : 0
            Rows only.
        out : ndarray of shape ``indices.shape + (n_columns,)`` and the file's dtype, optional
            Where the rows go (read straight into it when it is C-contiguous).
        mode : {"raise", "clip", "wrap"}, default "raise"
            Out-of-range row numbers are an error, clipped, or wrapped around, as numpy's.

        Returns
        -------
        ndarray of shape ``indices.shape + (n_columns,)``
            ``out`` when given.
        """
        self._check_open()
        if axis != 0:
            raise ParameterError(f"{self.where}: a RowFile is read by rows, axis=0; got axis={axis!r}")
        index = np.asarray(indices)
        if index.dtype.kind not in "iu":
            if index.size or index.dtype.kind not in "fb":
                raise BackpropTypeError(f"{self.where}: row numbers must be integers, got dtype {index.dtype}")
            index = index.astype(np.intp)
        rows = self._rows(index.reshape(-1), mode)
        shape = (*index.shape, self.shape[1])
        if out is None:
            out = np.empty(shape, self.dtype)
        elif not isinstance(out, np.ndarray):
            raise BackpropTypeError(f"out must be a numpy array, got {type(out).__name__}")
        elif out.shape != shape or out.dtype != self.dtype:
            raise ShapeError(
                f"out must have shape {shape} and dtype {self.dtype} for these rows of {self.where}, "
                f"got shape {out.shape} and dtype {out.dtype}"
            )
        elif not out.flags.writeable:
            raise ParameterError("out is read-only")
        target = out if out.flags.c_contiguous else np.empty(shape, self.dtype)
        self._gather(rows, target.reshape(rows.shape[0], self.shape[1]))
        if target is not out:
            out[...] = target
        return out

    def __getitem__(self, key: Any) -> Any:
        """Rows by an int, a slice (one contiguous read), an array of row numbers or a boolean mask; then columns.

        Always a new array, never a view of the file.
        """
        self._check_open()
        rest: tuple[Any, ...] = ()
        if isinstance(key, tuple):
            key, rest = (key[0], key[1:]) if key else (slice(None), ())
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            contiguous = step == 1
            rows = self._read_range(start, max(start, stop)) if contiguous else self.take(np.arange(start, stop, step))
        elif key is Ellipsis:
            rows = self._read_range(0, self.shape[0])
        else:
            index = np.asarray(key)
            if index.dtype == bool:
                if index.shape != (self.shape[0],):
                    raise ShapeError(
                        f"a boolean mask of {self.where}'s rows has shape {self.shape[:1]}, got {index.shape}"
                    )
                index = np.flatnonzero(index)
            rows = self.take(index)
        # The columns' part of the key applies to each row read.
        return rows[(slice(None),) * (rows.ndim - 1) + rest] if rest else rows

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> NDArray[Any]:
        """The whole matrix read into memory, when the memory available holds it (else MemoryLimitError)."""
        if copy is False:
            raise ValueError(f"{self.where}: a RowFile is read into a new array; it cannot be used without a copy")
        self._check_open()
        _memory.check_allocation(self.nbytes, f"reading the whole of {self.where} ({self.shape}) into memory")
        whole: NDArray[Any] = self[:]
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def batch_reader(self, buffer: NDArray[Any]) -> BatchReader:
        """A :class:`BatchReader` of this file's rows, reading into ``buffer`` and one more of its size.

        Parameters
        ----------
        buffer : C-contiguous ndarray of shape (batch, n_columns) and the file's dtype
            Where the batches go (every other one, when the next is read ahead).
        """
        return BatchReader(self, buffer)

    def close(self) -> None:
        """Close the file (and its mapping); a closed RowFile reads nothing. Closing twice is harmless."""
        for reader in list(self._readers):
            reader.close()  # no read in flight on a descriptor closed, or reused, under it
        self._array = None
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def __enter__(self) -> RowFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # an interpreter shutting down
            self.close()

    def __getstate__(self) -> Any:
        # An open file descriptor means nothing in another process.
        raise BackpropTypeError(f"a RowFile cannot be pickled or copied; open {self.where} again where it is needed")

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.access
        return f"RowFile({self.path!r}, shape={self.shape}, dtype={self.dtype.name}, {state})"

    # ----------------------------------------------------------------- reading

    def _check_open(self) -> None:
        if self._fd < 0:
            raise ParameterError(f"{self.where}: the RowFile is closed")

    def _rows(self, index: NDArray[Any], mode: str) -> NDArray[np.intp]:
        """Row numbers in ``[0, n_rows)`` as numpy's ``take`` makes them in ``mode``."""
        n = self.shape[0]
        if mode not in ("raise", "clip", "wrap"):
            raise ParameterError(f"mode must be 'raise', 'clip' or 'wrap', got mode={mode!r}")
        if index.size == 0:
            return np.zeros(0, np.intp)
        if n == 0:
            raise ParameterError(f"{self.where} has no rows to take")
        if index.dtype.kind == "u" and index.max() >= n:  # beyond intp, or in range: compare before converting
            index = np.minimum(index, n).astype(np.intp)
        rows = index.astype(np.intp, copy=False)
        low, high = int(rows.min()), int(rows.max())
        if low >= 0 and high < n:
            return rows
        if mode == "clip":
            return np.clip(rows, 0, n - 1)
        if mode == "wrap":
            return np.mod(rows, n)
        if low < -n or high >= n:
            bad = low if low < -n else high
            raise ParameterError(f"row {bad} is out of range for {self.where}, which has {n} rows")
        return np.where(rows < 0, rows + n, rows)

    def _gather(self, rows: NDArray[np.intp], out: NDArray[Any]) -> None:
        """``out[i] = row rows[i]``, ``out`` C-contiguous of shape ``(len(rows), n_columns)``."""
        if rows.shape[0] == 0 or self.row_bytes == 0:
            return
        if self._array is not None:
            kernel = _kernels.loaded("gather_rows", out.dtype)  # the compiled gather fit uses for arrays in memory
            if kernel is not None and self._array.dtype == out.dtype:
                kernel(self._array, rows, out)
            else:
                np.take(self._array, rows, axis=0, out=out, mode="clip")
            return
        read_rows(self._fd, self.start, self.row_bytes, rows, out, where=self.where, lock=self._lock)

    def _read_range(self, start: int, stop: int) -> NDArray[Any]:
        """Rows ``start`` to ``stop`` (excluded): one read into a new array, its size checked first."""
        count = stop - start
        _memory.check_large(
            count * self.row_bytes, f"reading rows {start} to {stop} of {self.where} ({count:,} rows) into memory"
        )
        out = np.empty((count, self.shape[1]), self.dtype)
        if count and self.row_bytes:
            if self._array is not None:
                out[...] = self._array[start:stop]
            else:
                view = out.reshape(-1).view(np.uint8).data
                _read_exactly(self._fd, view, self.start + start * self.row_bytes, self.where, self._lock)
        return out


class BatchReader:
    """The batches of a :class:`RowFile`, each one read ahead, in a thread, while the caller trains on the one before.

    ``take(rows, following)`` returns the rows ``rows`` of the file, as
    ``RowFile.take`` would, then starts reading the rows ``following`` (the
    caller's guess of its next call) into a second buffer. The next ``take``
    whose rows are exactly those takes them from there; any other rows are
    read then, in the caller's thread. The bytes are the same either way, so
    a guess only saves time: the rows a caller gets never depend on it. A read
    ahead that fails is read again by the caller, whose ``take`` then raises
    the reason (a :class:`~backprop.errors.DataError` naming the file).

    Reads ahead where they pay: a file read by ``pread`` with the compiled loop
    (which runs without the GIL, so the reads overlap the caller's arithmetic)
    and a batch of at most :data:`PREFETCH_BYTES`; otherwise every ``take``
    reads in the caller's thread. The thread starts with the first read ahead
    and ends with :meth:`close` (or the file's, or the reader's collection):
    ``fit`` closes its reader when it returns or raises.

    Parameters
    ----------
    source : RowFile
    buffer : C-contiguous ndarray of shape (batch, n_columns) and the file's dtype
        The first of the two buffers; the second, of the same size, is allocated here.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "X.npy")
    >>> np.save(path, np.arange(8, dtype=np.float32).reshape(4, 2))
    >>> with RowFile(path, access="pread") as X, BatchReader(X, np.empty((2, 2), np.float32)) as reader:
    ...     first = reader.take(np.array([3, 1]), following=np.array([0, 2])).copy()
    ...     second = reader.take(np.array([0, 2]))  # read while the caller had the first
    >>> first
    array([[6., 7.],
           [2., 3.]], dtype=float32)
    >>> second
    array([[0., 1.],
           [4., 5.]], dtype=float32)
    """

    def __init__(self, source: RowFile, buffer: NDArray[Any]) -> None:
        source._check_open()
        width = source.shape[1]
        if (
            not isinstance(buffer, np.ndarray)
            or buffer.ndim != 2
            or buffer.shape[1] != width
            or buffer.dtype != source.dtype
            or not buffer.flags.c_contiguous
            or not buffer.flags.writeable
        ):
            raise ShapeError(
                f"a batch buffer of {source.where} must be a writeable C-contiguous array of shape (batch, {width}) "
                f"and dtype {source.dtype}, got {getattr(buffer, 'shape', None)} of {getattr(buffer, 'dtype', None)}"
            )
        self.source = source
        self.capacity = buffer.shape[0]
        self.buffers = [buffer]
        self._kernel: Callable[..., Any] | None = None
        if source.access == "pread" and source.row_bytes and 0 < buffer.nbytes <= PREFETCH_BYTES:
            self._kernel = _kernels.read_rows_kernel()
        if self._kernel is not None:
            self.buffers.append(np.empty_like(buffer))
        self._addresses = [int(array.ctypes.data) for array in self.buffers]
        self._ahead = np.empty(self.capacity, np.intp)  # the rows being read ahead (a copy: the caller's may change)
        self._count = 0
        self._slot = 0  # the buffer the last take returned
        self._pending = False
        self._jobs: queue.SimpleQueue[tuple[int, NDArray[np.intp]] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        source._readers.add(self)

    @property
    def reads_ahead(self) -> bool:
        """True when :meth:`take` reads the next batch in a thread (see the class's docstring)."""
        return self._kernel is not None

    def take(self, rows: Any, following: Any = None) -> NDArray[Any]:
        """The rows ``rows`` of the file; then ``following`` read ahead, for the next call.

        Parameters
        ----------
        rows : array_like of int, shape (m,)
            Row numbers, as :meth:`RowFile.take` takes them (``mode="raise"``).
        following : array_like of int, shape (k,), optional
            The rows the next call will likely ask for; ignored when out of range or longer than the buffer.

        Returns
        -------
        ndarray of shape (m, n_columns)
            A view of one of the reader's buffers, valid until the next call
            (a new array when ``m`` exceeds the buffer's rows).
        """
        source = self.source
        source._check_open()
        index = np.asarray(rows)
        if index.ndim != 1:
            raise ShapeError(f"rows of a batch must be 1-D, got shape {index.shape}")
        ready = self._wait() if self._pending else False
        if index.shape[0] > self.capacity:
            return np.asarray(source.take(index, axis=0))
        m = index.shape[0]
        ahead = ready and m == self._count and index.dtype.kind in "iu" and np.array_equal(index, self._ahead[:m])
        self._slot = self._other()  # the buffer not handed out last: the rows read ahead are there
        if not ahead:  # other rows (or none were read ahead): read them now, into that buffer
            source.take(index, axis=0, out=self.buffers[self._slot][:m])
        if following is not None and self._kernel is not None:
            self._read_ahead(np.asarray(following))
        return self.buffers[self._slot][:m]

    def _other(self) -> int:
        return (self._slot + 1) % len(self.buffers)

    def _read_ahead(self, following: NDArray[Any]) -> None:
        """Start reading ``following`` into the buffer not handed out, when they are row numbers in range."""
        k, n = following.shape[0] if following.ndim == 1 else 0, self.source.shape[0]
        if not 0 < k <= self.capacity or following.dtype.kind not in "iu":
            return
        if following.min() < 0 or following.max() >= n:
            return
        if self._thread is None:
            args = (self._jobs, self._done, self._kernel, self.source._fd, self.source.start, self.source.row_bytes)
            thread = threading.Thread(target=_read_batches, args=args, name="backprop-rows", daemon=True)
            try:
                _start(thread)
            except RuntimeError:  # no thread to be had (an address-space limit): read when asked for
                self._kernel = None
                return
            self._thread = thread
        self._ahead[:k] = following
        self._count = k
        self._jobs.put((self._addresses[self._other()], self._ahead[:k]))
        self._pending = True

    def _wait(self) -> bool:
        """Wait for the read ahead: True when it read every row."""
        while True:
            try:
                read = self._done.get(timeout=1.0)
                break
            except queue.Empty:
                if self._thread is None or not self._thread.is_alive():  # pragma: no cover - a thread killed
                    read = False
                    break
        self._pending = False
        return read

    def close(self) -> None:
        """Wait for a read in flight and end the thread; later calls read in the caller's thread. Harmless twice."""
        self._kernel = None
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join()
        self._pending = False

    def __enter__(self) -> BatchReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # an interpreter shutting down
            self.close()


def _start(thread: threading.Thread) -> None:
    """Start ``thread`` with a stack of :data:`_THREAD_STACK` bytes where the platform allows, else the default."""
    with _STARTING:
        try:
            before: int | None = threading.stack_size(_THREAD_STACK)
        except (RuntimeError, ValueError):  # pragma: no cover - a platform that cannot size stacks
            before = None
        try:
            thread.start()
        finally:
            if before is not None:
                threading.stack_size(before)


def _read_batches(
    jobs: queue.SimpleQueue[tuple[int, NDArray[np.intp]] | None],
    done: queue.SimpleQueue[bool],
    kernel: Callable[..., Any],
    fd: int,
    start: int,
    row_bytes: int,
) -> None:
    """A :class:`BatchReader`'s thread: each job ``(address, rows)`` read by the compiled loop, until None."""
    while (job := jobs.get()) is not None:
        try:
            read = int(kernel(fd, job[0], start, row_bytes, job[1])) < 0
        except BaseException:  # the caller reads these rows again, and raises the reason
            read = False
        done.put(read)


def read_rows(
    fd: int,
    start: int,
    row_bytes: int,
    rows: NDArray[np.intp],
    out: NDArray[Any],
    *,
    where: str = "the file",
    compiled: bool = True,
    lock: threading.Lock | None = None,
) -> None:
    """Read rows of a row-major matrix in an open file into ``out``, one read per run of consecutive rows.

    Parameters
    ----------
    fd : int
        An open file descriptor (positioned reads: its offset is not moved).
    start : int
        The byte where row 0 begins.
    row_bytes : int
        Bytes per row.
    rows : ndarray of intp, shape (m,)
        Row numbers, in range (not checked here: :meth:`RowFile.take` checks them).
    out : C-contiguous ndarray of ``m · row_bytes`` bytes
        ``out``'s ``i``-th ``row_bytes`` bytes receive row ``rows[i]``.
    where : str
        The file, for messages.
    compiled : bool, default True
        Use the compiled loop where numba has it (:func:`backprop._kernels.read_rows_kernel`);
        False reads in Python (the reference). Both give the same bytes.
    lock : threading.Lock, optional
        Held around seek-and-read on a platform without ``pread``.

    Raises
    ------
    DataError
        Naming ``where`` when a read fails or the file ends early.
    """
    if not out.flags.c_contiguous or out.nbytes != rows.shape[0] * row_bytes:
        raise ShapeError(f"out must be C-contiguous with {rows.shape[0] * row_bytes} bytes, got {out.nbytes}")
    rows = np.ascontiguousarray(rows, dtype=np.intp)
    if rows.shape[0] == 0:
        return
    first = 0
    kernel = _kernels.read_rows_kernel() if compiled else None
    if kernel is not None:
        first = int(kernel(fd, out.ctypes.data, start, row_bytes, rows))
        if first < 0:
            return
        # A run the loop could not read whole: read it again here, to raise the reason (or finish the job).
    view = out.reshape(-1).view(np.uint8).data
    rows = rows[first:]
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    firsts = np.concatenate(([0], breaks)).tolist()
    ends = np.concatenate((breaks, [rows.shape[0]])).tolist()
    for i, j, row in zip(firsts, ends, rows[firsts].tolist(), strict=True):
        part = view[(first + i) * row_bytes : (first + j) * row_bytes]
        _read_exactly(fd, part, start + row * row_bytes, where, lock)


def _read_exactly(fd: int, view: memoryview, offset: int, where: str, lock: threading.Lock | None) -> None:
    """Fill ``view`` from byte ``offset`` of ``fd``, or raise DataError."""
    done, want = 0, len(view)
    while done < want:
        try:
            got = _pread_into(fd, view[done:], offset + done, lock)
        except OSError as exc:
            raise DataError(f"{where}: cannot read bytes {offset + done} to {offset + want}: {exc.strerror}") from None
        if got == 0:
            raise DataError(
                f"{where} ends at byte {os.fstat(fd).st_size}, before byte {offset + want} its header promises: "
                "truncated while it was open"
            )
        done += got


def _pread_into(fd: int, view: memoryview, offset: int, lock: threading.Lock | None) -> int:
    if hasattr(os, "preadv"):
        return os.preadv(fd, [view], offset)
    if hasattr(os, "pread"):  # pragma: no cover - macOS before 11: a copy through bytes
        data = os.pread(fd, len(view), offset)
        view[: len(data)] = data
        return len(data)
    with lock or threading.Lock():  # pragma: no cover - Windows: no positioned read
        os.lseek(fd, offset, os.SEEK_SET)
        return os.readv(fd, [view])


def npy_header(stream: Any) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """The shape, Fortran order and dtype in the header of the ``.npy`` data ``stream`` is at, read
    without unpickling anything; ``stream`` is left at the first byte of the data.

    Raises
    ------
    Exception
        Whatever numpy raises for a header that is not ``.npy`` (ValueError, SyntaxError, ...).
    """
    fmt = np.lib.format
    version = fmt.read_magic(stream)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise ValueError(f"unknown .npy format version {version}")
    read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
    shape, fortran_order, dtype = read_header(stream)
    return shape, fortran_order, dtype


def _read_header(fd: int, where: str) -> tuple[int, tuple[int, int], np.dtype[Any]]:
    """The data's first byte, the shape and the dtype of the ``.npy`` file ``fd``, every rule checked."""
    size = os.fstat(fd).st_size
    with open(fd, "rb", closefd=False) as stream:
        try:
            shape, fortran_order, dtype = npy_header(stream)
        except Exception as exc:  # ValueError, SyntaxError ... of a file that is not .npy or a corrupt header
            text = _terminal.shown(exc)
            raise DataError(f"{where} is not a .npy file that numpy can read: {text}") from None
        start = stream.tell()
    if dtype.hasobject:
        raise DataError(f"{where} holds Python objects (dtype {dtype}); a RowFile reads float32 or float64 numbers")
    if dtype not in _DTYPES:
        native = dtype.newbyteorder("=") if dtype.byteorder not in "=|" else dtype
        hint = " in the other byte order: save it with arr.astype(arr.dtype.newbyteorder('='))"
        raise DataError(
            f"{where} holds dtype {dtype.str}; a RowFile reads float32 or float64"
            + (hint if native in _DTYPES else ": convert it with astype(np.float32)")
        )
    if len(shape) != 2:
        raise DataError(f"{where} holds an array of shape {shape}; a RowFile reads a 2-D matrix (n_rows, n_columns)")
    if fortran_order and shape[0] > 1 and shape[1] > 1:
        raise DataError(
            f"{where} is in Fortran order (column after column); a RowFile reads rows of a C-order matrix: "
            "save np.ascontiguousarray(X)"
        )
    if shape[0] < 0 or shape[1] < 0:
        raise DataError(f"{where} declares shape {shape}, with a negative dimension: corrupt")
    needed = math.prod(shape) * dtype.itemsize
    if size - start < needed:
        raise DataError(
            f"{where} declares shape {shape} of {dtype.name} ({needed:,} bytes), but only {size - start:,} bytes "
            "follow its header: truncated or corrupt"
        )
    return start, (int(shape[0]), int(shape[1])), np.dtype(dtype)


def _choose(access: Access, size: int) -> Literal["pread", "mmap"]:
    """``access``, with "auto" resolved: a mapping where the address space left holds the file four times."""
    if access != "auto":
        return access
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):  # pragma: no cover - no resource module (Windows)
        return "mmap" if np.intp(0).itemsize == 8 else "pread"
    if soft == resource.RLIM_INFINITY:
        return "mmap" if np.intp(0).itemsize == 8 else "pread"
    used = _virtual_size()
    return "mmap" if used is not None and _MAP_ROOM * size <= soft - used else "pread"


def _virtual_size() -> int | None:
    """The process's address space in use (``VmSize``), what ``ulimit -v`` counts; None where /proc has none."""
    try:
        with open("/proc/self/status", encoding="ascii") as lines:
            for line in lines:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


__all__ = ["BatchReader", "RowFile", "read_rows"]
