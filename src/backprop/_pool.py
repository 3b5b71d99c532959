"""Two or more threads for one training step, with the bits of one: a pool that shares the step's products.

Why not the BLAS's own threads: OpenBLAS cuts a product among its threads
in a way that, for some shapes, adds in another order (other last bits: see
:mod:`backprop._threads`), and each product waits for its slowest thread: on
a machine busy with another program, the second thread is often not running
and a step takes many times longer than on one thread (W1's epoch 2–4 s
against 0.29 s; 0.19 s quiet). This pool keeps OpenBLAS on one thread and
shares the work itself:

- **Blocks.** A product ``C = A · B`` of the step (the forward pass
  ``x · W``, the weight gradient ``xᵀ · grad_h``, the error below
  ``grad_h · Wᵀ``) is cut into blocks of rows of ``C`` or of columns (as
  its shape's check chose, below), each one call of numpy's own OpenBLAS
  on one thread. A block of ``C`` is a product in its own right, and
  OpenBLAS adds along ``k`` in the same order for it as for the whole; but
  not always: on some CPUs it sends products of at most 10⁶ multiply-adds to
  other kernels, and on others (an AMD EPYC, Zen, with OpenBLAS 0.3.31's
  Haswell kernels) a float32 ``C`` gives the whole's bits only in blocks of
  rows that start at multiples of 12, and in no blocks of columns. So each
  shape is *checked* once per process before it is cut: the cuts of
  :data:`UNITS` in turn (the last one found exact in that precision
  first), each one's blocks against ``np.matmul``'s whole
  product on fixed random numbers, and the first equal to the bit is the
  shape's; with none, it is done whole (after up to six products of its
  shape in the check, once per process). The optimizer's update (Adam's,
  element by element) is cut anywhere. So a
  step's parameters are those of one thread, whatever the thread count and
  whichever thread computes which block: ``fit(threads=2)`` gives the bits of
  ``fit(threads=1)``.
- **Pairs.** A layer's two products of the backward pass, the weight
  gradient ``xᵀ · grad_h`` and the error below ``grad_h · Wᵀ``, read the
  same ``grad_h``, write buffers of their own, and take the same
  ``rows × n_in × units`` multiply-adds: on two threads the compiled
  backward pass hands them out as one job of two blocks, each the whole
  product: ``np.matmul``'s call, its bits on every CPU, nothing to check,
  and no panel packed twice (the blocks of a cut each pack the panels of
  the operand they share). W1's backward pass took 1.34–1.40 ms a step
  against 1.44–1.60 ms cut product by product (AMD EPYC, 2026-12-06). On
  more threads they are cut one after the other (a pair cut into fewer
  blocks each would need checks of its own).
- **After a block.** The compiled passes (:mod:`backprop._passes`) may
  have each block of a product followed by the elementwise pass that comes
  next, on that block alone, while it is in its thread's cache: ``+ b``
  and ReLU after ``x · W``, ``⊙ f'(h)`` and the bias gradient after
  ``δ · Wᵀ``. Each element's arithmetic is the whole pass's, and a bias
  gradient sums a column in its rows' order, so only blocks of columns
  (which hold every row of theirs) take that one.
- **Claims.** The fit's thread (the caller) publishes a job, a table of
  blocks, by storing one 64-bit word (``blocks << 32``); it and the workers
  claim blocks by adding one to that word (an atomic fetch-add) until none is
  left, and the caller waits until every block is done. A worker that is not
  running (the machine is busy) claims nothing and delays nobody: the caller
  does the blocks it does not take.
- **Idle.** A worker spins :data:`SPIN_US` after its last block (a step's
  products follow each other within microseconds), then naps (``usleep``)
  until :data:`NAP_UNTIL_US`, then sleeps on a :class:`threading.Event`,
  which the next job's caller sets (that job's blocks are the caller's,
  and so are the rest of that pass's jobs: the compiled pass wakes the
  workers when it returns). So a compiled pass, and the optimizer's step,
  wake sleeping workers as they begin (:meth:`Pool.rouse`), while the pool
  shares. After long blocks a worker naps longer, a quarter
  of the time they took (up to :data:`NAP_LONGEST_US`): the caller's
  block of the same job can end milliseconds later (W4's ``x · W`` in
  blocks of 264 and 248 rows, 28 ms each), and a worker asleep by then
  left the next product, 57 ms shared, to the caller alone (114 ms):
  W4's epoch took 4.8–5.5 s against 4.45–4.8 with the worker awake
  (AMD EPYC, 2026-12-06).
- **Whether sharing pays.** Next to a busy program in another session,
  Linux can leave this process one CPU's time; then a worker only delays
  the caller (and its spinning takes the caller's time). So the pool times
  its jobs in both modes and works on the caller's thread alone while that
  is faster (``_pool_kernels._decide``): W1's epoch 0.30 s there, as one
  thread's, against 0.45 s always shared. Who computes a block changes, the
  blocks never do.

The workers run compiled loops without the GIL (numba, ``nogil``), with
LLVM's atomic instructions; the BLAS is called through its C symbol, which
:func:`_build` finds in numpy's OpenBLAS (``scipy_cblas_sgemm64_``, the
64-bit-integer interface numpy's wheels ship). Where any of that is missing
— no numba, another BLAS (MKL, Accelerate, an OpenBLAS without those
symbols), not a POSIX system, ``BACKPROP_NUMBA=0`` — :func:`acquire`
returns None and ``fit`` gives the BLAS its threads as before.

One fit at a time uses the pool (:func:`acquire` / :meth:`Pool.release`);
a second fit in another thread of the process does its products whole, on
the one BLAS thread the first holds: the same bits. A child made by
``fork`` starts a pool of its own (threads do not survive a fork).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import platform
import threading
import time
import warnings
from typing import Any

import numpy as np

from . import _kernels
from ._threads import blas_control, ready_buffers

#: A worker spins this long after its last block before it naps.
SPIN_US = 150
#: Naps of this long, until the worker has been idle :data:`NAP_UNTIL_US`, or 1/:data:`NAP_SHARE` of the time
#: its last blocks took (at most :data:`NAP_LONGEST_US`) where that is longer; then it sleeps.
NAP_US = 30
NAP_UNTIL_US = 1000
NAP_SHARE = 4
NAP_LONGEST_US = 20_000
#: A pass that begins wakes sleeping workers only when a job ended this recently: the fit's passes have jobs
#: (a fit whose products are all too small to cut leaves its workers asleep).
ROUSE_WITHIN_US = 100_000
#: A sleeping worker looks for work this often even when nobody wakes it (a safety net).
SLEEP_TIMEOUT_S = 0.5
#: Seconds the pool's threads wait for each other to ready the BLAS's buffers together.
READY_TIMEOUT_S = 1.0
#: A caller whose blocks are done spins this long for the workers' before it naps between looks
#: (a worker that holds a block and is not running needs the caller's CPU).
WAIT_SPIN_US = 50
#: Products of fewer multiply-adds, and optimizer updates of fewer parameters, are not cut:
#: handing out a block costs a few microseconds.
MIN_PRODUCT = 100_000
MIN_UPDATE = 1 << 15
#: The optimizer's blocks are whole multiples of this many parameters (128-byte lines of float32).
ALIGN = 32
#: A product's blocks start at multiples of one of these many rows or columns of C (the BLAS's kernels
#: work on panels of 4 to 32; 12 on AMD's Zen for float32). Its check tries the cuts in turn: the longer
#: side at UNITS[0], the shorter at UNITS[0], the longer at UNITS[1], … (verdict i + 1 for cut i).
UNITS = (32, 24, 12)
CUTS = 2 * len(UNITS)
#: At most this many workers (the caller is one more thread).
MAX_WORKERS = 31
#: Whether sharing pays is measured (see ``_pool_kernels._decide``): a look of this many nanoseconds of
#: jobs in the mode that lost, against the same jobs' times in the mode that won; then a slice of the
#: winner, at least LOOK_SHARE looks long, and FIRST_SLICE_NS doubled for each look in a row it won, up to
#: its longest. The first slice (FIRST_SLICE_NS) shares.
LOOK_NS = 5_000_000
GAP_NS = 1_000_000  # a job is timed up to the next one's start, unless the caller did other work in between
LOOK_SHARE = 32  # a slice is at least this many times as long as the look before it
FIRST_SLICE_NS = 25_000_000
SHARED_SLICE_NS = 800_000_000
ALONE_SLICE_NS = 1_600_000_000
#: Sharing must be this much faster (percent) than the caller alone to be chosen.
SHARING_GAIN = 5

# The shared state, one int64 array: the control words, the checked shapes, the job's blocks.
# The two words every thread writes (the claim word and the count done) have cache lines of their own,
# and so do the caller's words (its clock, the mode) and the workers' clocks.
TICKET = 0  # (blocks << 32) | next block to claim
DONE = 8  # blocks of the current job done
STOP = 16  # 1: the workers return
WORKERS = 17
CALLER_TAKES = 18  # 0: the caller leaves every block to the workers (tests)
SHARED = 19  # blocks the workers computed, a running count (tests, diagnostics)
CLOCK = 20  # the monotonic clock's id for clock_gettime
SPIN_NS, NAP, NAP_UNTIL_NS, WAIT_SPIN_NS = 21, 22, 23, 24
SHAPES_USED = 25
ADAPT = 26  # 0: always share (tests); 1: share only while sharing is faster (see _pool_kernels._decide)
WARMING = 27  # 1: a look at sharing whose workers have not yet taken a block (its jobs are not timed)
LAST_WARM = 28  # 1: the last job ran while WARMING (it counts toward the slice, not toward the times)
NAP_LONGEST_NS = 29  # a worker naps at most this long after its blocks (NAP_LONGEST_US; tests set it)
NAPS_UNTIL = 30  # how long the last worker to do blocks naps when idle, before it sleeps (tests, diagnostics)
ROUSE_WITHIN_NS = 31  # Pool.rouse wakes workers only within this long of the last job's end (ROUSE_WITHIN_US)
CALLER_CLOCK = 32  # two words: the caller's timespec
ALONE_JOBS = 34  # jobs the caller did alone because sharing did not pay, a running count (tests, diagnostics)
MODE_ALONE = 35  # 1: the caller does the jobs alone (sharing did not pay at the last look), 0: shared
LOOKING = 36  # 1: this slice looks at the other mode
SLICE_LEFT = 37  # nanoseconds of jobs left in this slice
LOOK_SUM, WINNER_SUM = 38, 39  # the look's jobs: their nanoseconds, and the same jobs' in the winning mode
WINS = 40  # looks in a row that the mode won
LAST_ROW, LAST_ALONE, LAST_LOOK, LAST_BEGAN, LAST_ENDED = 41, 42, 43, 44, 45  # the last job, timed at the next
JOBS = 46  # jobs cut into blocks, a running count (tests, diagnostics)
SLEEP = 48  # SLEEP + i: 1 while worker i sleeps or is about to
WORKER_CLOCK = SLEEP + 32  # two words a worker: its timespec
# The kinds of job: rows of ROW words, a product's shape (with the verdict of its check: the cut whose
# blocks give the whole's bits) or an update's size (always exact), and how long it took lately in each mode.
SHAPES = WORKER_CLOCK + 64
ROW = 16
KIND, TA, TB, M, N, K, THREADS, VERDICT = range(8)  # KIND: GEMM32, GEMM64, ADAM32 or ADAM64; N = K = 0 for Adam
# (or PAIR32, PAIR64: a layer's two backward products, M the rows, N its inputs, K its units; TA = TB = 0)
# VERDICT of a product: -1 not checked yet; 0 done whole (no cut gives the whole's bits); i + 1: cut i (see
# UNITS). Of an update: 1, exact however it is cut (its blocks are ALIGN multiples). Of a pair: 1 (whole products).
ALONE_NS, SHARED_NS = 8, 9  # nanoseconds this kind of job took lately, alone and shared (a running mean)
MAX_SHAPES = 256
ROOM_FOR_A_FIT = 96  # rows a fit may need (three products, a pair a layer; two batch sizes): else emptied at its start
TASKS = SHAPES + ROW * MAX_SHAPES  # rows of 16: one per block
TASK = 16
# A product block's words 0-11 are its gemm call's; then an elementwise pass after it on the same block
# (_pool_kernels._after): its kind (0: none), the block of the other matrix it writes or reads (a), the
# block's part of a vector (b, or db; 0: none), and the derivative's kind (_kernels.RELU, TANH, SIGMOID).
AFTER, OTHER, VECTOR, DERIVATIVE_OF = 12, 13, 14, 15
BIAS_RELU, TIMES_DERIVATIVE = 1, 2
STATE_SIZE = TASKS + TASK * (MAX_WORKERS + 1)
# What a compiled call returns besides the sleeping workers' mask (≥ 0: done).
WHOLE = -1  # not cut: the caller computes it in one call
UNCHECKED = -2  # a shape not yet checked: check it, then ask again

# The kinds of block, and CBLAS's constants.
GEMM32, GEMM64, ADAM32, ADAM64 = 1, 2, 3, 4
# The kind of a job of two products (its blocks are GEMM32 or GEMM64): see _pass_kernels._pair.
PAIR32, PAIR64 = 5, 6
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112

_lock = threading.Lock()
_pool: Pool | None = None
_built: dict[str, Any] | None = None
_failed = False


class Pool:
    """The process's workers and their shared state (made by :func:`acquire`, one per thread count).

    ``matmul(a, b, out)`` is ``np.matmul(a, b, out=out)``; ``adam(...)`` is
    the compiled Adam kernel's call: both give the bits of one thread.
    """

    def __init__(
        self,
        workers: int,
        kernels: dict[str, Any],
        nap_until_us: int = NAP_UNTIL_US,
        sleep_timeout: float = SLEEP_TIMEOUT_S,
    ) -> None:
        self.workers = workers
        self.threads = workers + 1
        self._k = kernels
        self._product = kernels["product"]
        self.state = np.zeros(STATE_SIZE, np.int64)
        s = self.state
        s[WORKERS], s[CALLER_TAKES], s[CLOCK], s[ADAPT] = workers, 1, time.CLOCK_MONOTONIC, 1
        s[SPIN_NS], s[NAP], s[NAP_UNTIL_NS], s[WAIT_SPIN_NS] = (
            SPIN_US * 1000,
            NAP_US,
            nap_until_us * 1000,
            WAIT_SPIN_US * 1000,
        )
        s[NAP_LONGEST_NS], s[ROUSE_WITHIN_NS] = NAP_LONGEST_US * 1000, ROUSE_WITHIN_US * 1000
        s[SLICE_LEFT], s[LAST_ROW] = FIRST_SLICE_NS, -1  # a first slice shared, then a look at the caller alone
        self.sleep_timeout = sleep_timeout
        self._last_cut: dict[Any, tuple[int, int]] = {}  # a precision's last exact cut: (rows 0 or columns 1, unit)
        self._owner = threading.Lock()
        self._events = [threading.Event() for _ in range(workers)]
        self._together = threading.Barrier(self.threads, timeout=READY_TIMEOUT_S)
        self._threads = [
            threading.Thread(target=self._work, args=(i,), name=f"backprop-pool-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()
        try:
            self._ready_buffers()
        except BaseException:  # interrupted while waiting for the workers: none is left serving
            self.close()
            raise

    # -- what the step calls ---------------------------------------------------

    def matmul(self, a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], out: np.ndarray[Any, Any]) -> None:
        """``out = a · b`` (2-D arrays of one dtype), cut into blocks where that gives the same bits.

        The compiled call returns the mask of the workers it found asleep
        (≥ 0: done), or WHOLE or UNCHECKED (< 0: not done, numpy does it).
        """
        try:
            done = self._product(self.state, a, b, out)
            if done == UNCHECKED:
                self._check(a, b, out)
                done = self._product(self.state, a, b, out)
        except TypeError:  # not arrays the compiled code takes (dtypes that differ, read-only): numpy's
            done = WHOLE
        if done < 0:
            np.matmul(a, b, out=out)
        elif done:
            self._wake(done)

    def adam(self, kernel: Any, *arguments: Any) -> None:
        """The compiled Adam step ``kernel(θ, g, m, v, backup, hyper, decoupled, coupled)``, cut into blocks."""
        self.rouse()
        done = self._k["update"](self.state, *arguments)
        if done < 0:
            kernel(*arguments)
        elif done:
            self._wake(done)

    def rouse(self) -> None:
        """Wake the workers that sleep, while the pool shares: called as a pass begins (µs before its first job).

        A job that finds a worker asleep is the caller's alone, and so is
        every later job of the same compiled pass (the workers are woken when
        it returns): W4's forward pass after the optimizer's step, 86 ms
        shared, took 171 alone in 2 to 9 steps of 16 (AMD EPYC, 2026-12-06).
        Woken first, a worker is back within tens of microseconds, while the
        caller takes the first job's first block. Not while the caller works
        alone (:func:`_pool_kernels._decide`): the workers sleep through its
        slice; nor when no job ended within :data:`ROUSE_WITHIN_US` (a fit
        whose products are too small to cut, or the first pass after a
        pause): a woken worker would spin and nap for nothing.
        """
        s = self.state
        sleeping = s[SLEEP : SLEEP + self.workers].tolist()  # mostly none: one read, the pass's only cost
        if not any(sleeping) or (s[ADAPT] and (s[MODE_ALONE] != 0) != (s[LOOKING] != 0)):
            return
        if time.clock_gettime_ns(int(s[CLOCK])) - s[LAST_ENDED] > s[ROUSE_WITHIN_NS]:  # the kernels' clock
            return
        for i, asleep in enumerate(sleeping):
            if asleep and self._k["swap"](s, SLEEP + i, 0) == 1:
                self._events[i].set()

    # -- ownership -------------------------------------------------------------

    def forget_shapes_if_full(self) -> None:
        """Empty the table of shapes when a fit starts and it is nearly full (a long-lived process).

        A shape the table has no room for is done whole; emptied, shapes are
        checked and timed anew. Called by the fit that now owns the pool.
        """
        if self.state[SHAPES_USED] > MAX_SHAPES - ROOM_FOR_A_FIT:
            self.state[SHAPES_USED] = 0

    def release(self) -> None:
        """Let another fit use the pool."""
        self._owner.release()

    def close(self) -> None:
        """Stop the workers (at exit, or to make a pool of another size)."""
        self.state[STOP] = 1
        for event in self._events:
            event.set()
        for thread in self._threads:
            thread.join(timeout=1.0)

    # -- inside ---------------------------------------------------------------

    def _work(self, i: int) -> None:
        _less_slack()
        with contextlib.suppress(Exception):  # only a speed-up: a worker that cannot ready still serves
            self._ready_buffers()
        serve, swap = self._k["serve"], self._k["swap"]
        event = self._events[i]
        while serve(self.state, i):  # returns 1 to sleep, 0 to stop
            event.wait(self.sleep_timeout)
            event.clear()
            swap(self.state, SLEEP + i, 0)

    def _ready_buffers(self) -> None:
        """Every thread of the pool readies the BLAS's work buffer at the same time (at the pool's start).

        OpenBLAS gives each of the calls that run at once a buffer of its
        own, and the pages of a buffer no product has laid out slow its
        kernel threefold (:func:`backprop._threads.ready_buffers`): readied
        by the caller alone, the blocks a worker computed beside the
        caller's ran at a third of the speed, and sharing gained W1's epoch
        8% (AMD EPYC, 2026-12-06); readied together, its ``x · W`` takes
        1.0 ms shared against 1.6 ms alone, and the epoch 0.56 s against
        0.87 s. If a thread does not come within :data:`READY_TIMEOUT_S` (a
        busy machine), the others wait that long (the caller holding the
        module's lock, once per pool) and then each readies on its own.
        """
        with contextlib.suppress(threading.BrokenBarrierError):
            self._together.wait()
        ready_buffers(again=True)

    def _wake(self, sleeping: int) -> None:
        for i, event in enumerate(self._events):
            if sleeping >> i & 1:
                event.set()

    def _check(self, a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], out: np.ndarray[Any, Any]) -> None:
        """Record a cut of ``a · b``'s shape whose blocks give ``np.matmul``'s bits (0: none does).

        On fixed random numbers. The random operands have ``a``'s and ``b``'s
        strides (a transposed view stays one: the BLAS reads it as such), and
        the verdict goes to the row of ``a``, ``b`` and ``out`` themselves.
        """
        rng = np.random.default_rng(20261205)
        left, right = _like(a, rng), _like(b, rng)
        whole = np.matmul(left, right)
        cut = np.empty_like(whole)
        m, n = a.shape[0], b.shape[1]

        def rows_or_columns_and_unit(candidate: int) -> tuple[int, int]:
            axis, unit, _ = self._k["split"](self.state, m, n, candidate)
            return int(axis), int(unit)

        # The precision's last exact cut first (a CPU's kernels keep the same panels: W4's checks took
        # 2.6 s trying the cuts in order on an AMD EPYC), then the others in order. Any exact cut gives
        # the whole's bits: which one is found first changes who computes what, never the bits.
        last = self._last_cut.get(a.dtype)
        verdict = 0
        for candidate in sorted(range(1, CUTS + 1), key=lambda c: rows_or_columns_and_unit(c) != last):
            cut.fill(np.nan)  # a block left unwritten is never equal
            # False: this cut gives fewer than two blocks of this C
            if self._k["alone"](self.state, left, right, cut, candidate) and np.array_equal(whole, cut):
                verdict = candidate
                self._last_cut[a.dtype] = rows_or_columns_and_unit(candidate)
                break
        self._k["record"](self.state, a, b, out, verdict)


def _like(x: np.ndarray[Any, Any], rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """Random normal numbers in an array of ``x``'s shape, dtype and strides (row-major, or a transposed one)."""
    rows, columns = x.shape
    if x.strides == (columns * x.itemsize, x.itemsize):
        return rng.standard_normal((rows, columns), dtype=x.dtype)
    return rng.standard_normal((columns, rows), dtype=x.dtype).T


def runs_here(dtype: Any = None) -> bool:
    """Whether the pool can run in this process (numba, numpy's OpenBLAS symbols, POSIX); loads it the first time.

    ``dtype``: the precision whose compiled kernels to ready first (None: both), as ``fit`` readies its own.
    """
    return _load(dtype) is not None


def acquire(threads: int) -> Pool | None:
    """The process's pool for ``threads`` threads (the caller and ``threads − 1`` workers), now this fit's.

    None where the pool cannot run (see the module's docstring), for one
    thread, or while another fit in this process uses it.
    """
    global _pool
    workers = min(threads, MAX_WORKERS + 1) - 1
    if workers < 1:
        return None
    kernels = _load()
    if kernels is None:
        return None
    with _lock:
        pool = _pool
        if pool is not None and pool.workers != workers:
            if not pool._owner.acquire(blocking=False):
                return None  # another fit runs on it: this one does its products whole
            pool.close()
            pool = _pool = None
        if pool is None:
            pool = _pool = Pool(workers, kernels)
        if not pool._owner.acquire(blocking=False):
            return None
        pool.forget_shapes_if_full()
        return pool


def _load(dtype: Any = None) -> dict[str, Any] | None:
    """The compiled functions (built once per process; from numba's cache after the first run), or None."""
    global _built, _failed
    if _built is not None or _failed:
        return _built
    with _lock:
        if _built is None and not _failed:
            _built = _kernels.timed(_build) if _usable(dtype) else None
            _failed = _built is None
    return _built


def _usable(dtype: Any) -> bool:
    """POSIX (libc's usleep and clock_gettime), and numba, which the compiled kernels load with."""
    return os.name == "posix" and _kernels.enabled(dtype)


def _blas() -> tuple[int, int] | None:
    """The addresses of ``sgemm`` and ``dgemm`` (CBLAS, 64-bit integers) in the OpenBLAS numpy calls, or None."""
    control = blas_control()  # numpy's BLAS is loaded with numpy
    if control is None:
        return None
    for library in control.select(internal_api="openblas").lib_controllers:
        try:
            blas = ctypes.CDLL(library.filepath)
        except OSError:
            continue
        for prefix in ("scipy_", ""):
            names = (f"{prefix}cblas_sgemm64_", f"{prefix}cblas_dgemm64_")
            if all(hasattr(blas, name) for name in names):
                s, d = (ctypes.cast(getattr(blas, name), ctypes.c_void_p).value for name in names)
                if s and d:
                    return s, d
    return None


def _build() -> dict[str, Any] | None:
    """Define and compile the pool's functions (from numba's cache after the first run); None where they cannot run."""
    try:
        import llvmlite.binding  # type: ignore[import-untyped]
        import numba  # noqa: F401  (present: _usable readied the kernels with it)
    except ImportError:
        return None
    found = _blas()
    if found is None:
        return None
    # The symbols the compiled code calls, named for this process: the cached machine code links to them by name.
    llvmlite.binding.add_symbol("backprop_pool_sgemm", found[0])
    llvmlite.binding.add_symbol("backprop_pool_dgemm", found[1])
    llvmlite.binding.initialize_native_asmparser()  # the spin loop's pause instruction is inline assembly
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _compile()
    except Exception:  # numba cannot compile here: the BLAS's threads, as before
        return None


def _less_slack() -> None:
    """Naps of ~30 µs, not 30 µs plus Linux's default 50 µs of timer slack (Linux only; elsewhere nothing)."""
    if platform.system() == "Linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(29, 1000, 0, 0, 0)  # PR_SET_TIMERSLACK, in nanoseconds


def _forget_after_fork() -> None:
    global _pool, _lock
    _pool = None  # its workers did not survive the fork; the child makes its own
    _lock = threading.Lock()  # perhaps held by a thread of the parent's that the child does not have


def _close_at_exit() -> None:
    pool = _pool
    if pool is not None:
        pool.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
atexit.register(_close_at_exit)


def _compile() -> dict[str, Any]:
    from . import _pool_kernels  # compiles its functions, or loads them from numba's cache

    return dict(_pool_kernels.KERNELS)


__all__ = ["Pool", "acquire", "runs_here"]
