"""How many threads the matrix products of ``fit`` use: a rule on the shapes, never a timing.

``fit(threads=None)`` takes the count from :func:`for_shapes`, a rule on the
network's widths and the batch size, capped by :func:`ceiling` (the CPUs this
process may use: its affinity and its control groups' CPU quota, as a
container's ``--cpus`` sets it; and the BLAS's own setting, e.g.
``OMP_NUM_THREADS``). What runs on those threads depends on the step:

- **The compiled step** (numba, numpy's OpenBLAS): the BLAS stays on one
  thread and :mod:`backprop._pool` cuts each product into blocks that the
  threads share, each block one single-threaded BLAS call, a shape cut only
  where its blocks give the whole product's bits. The parameters are those of
  ``threads=1``, to the bit, whatever the count; on a machine busy with other
  programs the pool falls back to the caller alone while sharing does not pay.
- **The BLAS's threads**, for the numpy step (no numba, ``BACKPROP_NUMBA=0``,
  an activation, loss or optimizer of one's own) and wherever the pool cannot
  run (a BLAS other than numpy's OpenBLAS; another ``fit`` of this process
  holds the BLAS at another count): the count is the BLAS's own threads. OpenBLAS cuts a large product among them
  and, for some shapes, the cut changes the order of the additions: with 2
  threads instead of 1, 5 of 20 products we tried gave other last bits
  (512×784·784×2048 among them). There the count is part of what a run is,
  like the batch size: the same network and batch on the same machine always
  get the same count, hence the same bits; a machine with fewer CPUs may get
  fewer threads, and other bits, as another BLAS kernel would give.

The rule gives one thread per :data:`PER_THREAD` (2²¹) multiply-adds of a
step's largest product (``batch × n_in × units``), at least one: a second
thread from about 4M. Measured on 2 cores (seconds of an epoch with 2
OpenBLAS threads ÷ with 1; quiet, then with one CPU-bound process beside it):

=============================  =============  =====  =====  =======
shape (widths, batch)          multiply-adds  quiet  busy   threads
=============================  =============  =====  =====  =======
40-100-100-10, 100 (MNIST-1D)  1.0M           1.02   0.86   1
64-32×8-10, 32 (deep, narrow)  0.07M          1.00   1.00   1
256-256-256-10, 32             2.1M           0.91   1.33   1
256-256-256-10, 64             4.2M           0.79   1.12   2
128-128-128-10, 512            8.4M           0.72   1.13   2
784-256-256-10, 128            25.7M          0.67   1.26   2
1024-2048-2048-10, 512         2147M          0.54   1.16   2
=============================  =============  =====  =====  =======

Below 4M a second thread gains little on a quiet machine and loses on a
busy one (another program holding a core, OpenBLAS's second thread waits to
be scheduled while the first waits for it: up to 7.7× slower in an earlier,
busier run); above it the quiet gain is 20–46%, the busy loss 12–26%.

The table's busy column comes from an earlier run, its neighbour in the same
session; busy figures swing from run to run. Linux's autogroup (on by
default) shares the CPUs between sessions first: next to a CPU-bound program
in another session (another terminal; ``backprop bench --busy``), this
process gets about one CPU's time, and each product cut between two OpenBLAS
threads waits for the thread that is not running. W1's epoch (784-256-256-10,
batches of 128) by ``fit(threads=1)``, then ``threads=2`` on OpenBLAS's
threads, with ``python -c "while True: pass"`` started beside it, in one run
on 2026-12-05: quiet 0.30 and 0.19 s (2 threads ÷ 1: 0.63); the neighbour in
the same session 0.30 and 0.64–0.71 s (2.1–2.4); in a session of its own 0.29
and 2.1–4.1 s (7–14). The rule cannot see a neighbour; the pool of the
compiled step does (it measures whether sharing pays), so there the rule's
count is safe on a busy machine too: W1 at 0.30 s an epoch beside that
neighbour, 0.18 s quiet (see :mod:`backprop._pool`).

The BLAS's thread count belongs to the process: while one ``fit`` holds a
count, another ``fit`` started in another thread of the process runs with
that count (:func:`hold` counts its users and restores the setting after
the last); only a CLI command's ``--threads`` gives way, to a ``fit`` inside
it, until that fit ends. A checkpoint keeps the count, not whose threads ran
it: a run on the BLAS's threads (beside another fit that held them) resumed
where the pool runs goes on with the bits of one thread. threadpoolctl sets it; without threadpoolctl the BLAS keeps its
own setting and ``threads`` is not applied.

Imports only the standard library at import time (threadpoolctl when a
``fit`` first asks): the core stays on numpy alone.
"""

from __future__ import annotations

import itertools
import math
import os
import pathlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .errors import ParameterError

#: The most threads ``fit`` takes (beyond any machine's cores; and a C int for the BLAS).
MAX_THREADS = 1024

#: Multiply-adds of a step's largest matrix product per thread (2²¹: a second thread from about 4M).
PER_THREAD = 1 << 21

#: The product (rows, k, columns) that has the BLAS touch its work buffer's pages (:func:`ready_buffers`).
READY_SHAPE = (128, 256, 1024)

_ready = threading.local()  # done: this thread's buffers are in
_lock = threading.Lock()
_users = 0
_held: int | None = None  # the count the process's BLAS runs with while _users > 0
_pinned = 0  # users other than commands (fits, tasks, predict)
_outer: int | None = None  # a command's count, while a fit holds its own over it
_limits: Any = None
_controller: Any = None
_missing = False


def check_threads(threads: Any) -> int | None:
    """``threads`` as ``fit`` takes it: None (the rule) or an integer ≥ 1."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise ParameterError(
            f"threads must be None (chosen from the shapes) or an integer from 1 to {MAX_THREADS}, got {threads!r}"
        )
    return int(threads)


def for_shapes(widths: Sequence[int], batch: int, ceiling: int) -> int:
    """The threads for a network of ``widths`` (inputs first) trained on batches of ``batch`` rows.

    One per :data:`PER_THREAD` multiply-adds of the largest ``batch × n_in ×
    units``, at least 1, at most ``ceiling``.
    """
    largest = batch * max(n_in * units for n_in, units in itertools.pairwise(widths))
    return max(1, min(ceiling, largest // PER_THREAD))


def blas_control() -> Any:
    """The process's threadpoolctl controller (finding the libraries takes milliseconds: once), or None."""
    global _controller, _missing
    if _controller is None and not _missing:
        try:
            from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            _missing = True
            return None
        _controller = ThreadpoolController()
    return _controller


def available_cpus() -> int:
    """The CPUs this process may use, at least 1: its affinity, and its control groups' CPU quota, rounded up.

    A container started with ``--cpus=1`` on a 16-core machine sees 16 CPUs
    in its affinity but gets one CPU's time: 16 BLAS threads would wait on
    each other there as on a busy machine. The quota is configuration, not a
    measurement: the same setting gives the same count.
    """
    try:
        cpus = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity here (not Linux)
        cpus = max(1, os.cpu_count() or 1)
    quota = cgroup_cpus()
    return cpus if quota is None else max(1, min(cpus, math.ceil(quota)))


def cgroup_cpus(proc: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> float | None:
    """The CPUs' worth of time this process's control groups allow a second, or None when none limits it.

    The smallest quota on the path from the process's group up to the root:
    cgroup v2's ``cpu.max`` (``"150000 100000"``: 1.5 CPUs; ``"max 100000"``:
    no limit), or cgroup v1's ``cpu.cfs_quota_us`` ÷ ``cpu.cfs_period_us``
    (a quota of -1: no limit). ``proc`` and ``root`` are where Linux keeps
    them; another system has neither, and gets None.
    """
    try:
        with open(proc, encoding="utf-8", errors="surrogateescape") as lines:  # a group's name is bytes
            groups = [line.rstrip("\n").split(":", 2) for line in lines]
    except OSError:
        return None
    quotas: list[float] = []
    for group in groups:
        if len(group) != 3:
            continue
        _, controllers, path = group
        if controllers == "":  # v2: one hierarchy, with cpu.max where the cpu controller is on
            quotas += _quotas(pathlib.Path(root), path, ("cpu.max",))
        elif "cpu" in controllers.split(","):  # v1: the cpu controller's own hierarchy
            for mount in dict.fromkeys(("cpu", controllers)):
                quotas += _quotas(pathlib.Path(root, mount), path, ("cpu.cfs_quota_us", "cpu.cfs_period_us"))
    return min(quotas, default=None)


def _quotas(mount: pathlib.Path, path: str, names: tuple[str, ...]) -> list[float]:
    """The CPU quotas (in CPUs) set in the groups from ``path`` up to the root of the hierarchy at ``mount``.

    ``names``: the file that holds "quota period" (v2), or the two files that hold one each (v1).
    """
    found: list[float] = []
    group = pathlib.PurePosixPath("/", path)
    for folder in (group, *group.parents):
        if ".." in folder.parts:  # a group outside this namespace's root: not under the mount
            continue
        where = mount / folder.relative_to("/")
        try:
            quota, period = " ".join((where / name).read_text(encoding="ascii") for name in names).split()
            quota_us, period_us = int(quota), int(period)
        except (OSError, ValueError):  # no such group or file here, or "max": no limit at this level
            continue
        if quota_us > 0 and period_us > 0:  # v1's -1: no limit
            found.append(quota_us / period_us)
    return found


def ceiling() -> int:
    """The most threads the rule may give: the CPUs this process may use, and no more than the BLAS is set to."""
    cpus = available_cpus()
    controller = blas_control()
    if controller is None:
        return cpus
    with _lock:  # while a fit holds a count, the BLAS reports that count, not its own setting
        if _users:
            return cpus
        blas = [int(library.num_threads) for library in controller.select(user_api="blas").lib_controllers]
    return max(1, min([cpus, *blas]))


def held() -> int | None:
    """The count the process's BLAS is held at (a command's ``--threads``, a running ``fit``), or None."""
    with _lock:
        return _held if _users else None


@contextmanager
def hold(threads: int, *, command: bool = False, fit: bool = False) -> Iterator[int]:
    """The process's BLAS on ``threads`` threads inside; yields the count it runs with.

    That is ``threads``, or the count of whoever holds it already (the
    setting is the process's); restored after the last user. Two
    exceptions to "the first one in decides":

    - ``command``: a CLI command's ``--threads``, held for the whole command;
    - ``fit``: a ``fit`` sets its count (one, under the pool of
      :mod:`backprop._pool`) over a command's while no other user but
      commands holds it, and gives the command's count back after.
    """
    global _users, _held, _limits, _pinned, _outer
    with _lock:
        if _users == 0:
            controller = blas_control()
            if controller is not None:
                _take_control()
                _limits = controller.limit(limits=threads, user_api="blas")
            _held = threads
        elif fit and _pinned == 0 and _held != threads:
            _outer = _held
            _apply(threads)
            _held = threads
        _users += 1
        _pinned += 0 if command else 1
        held = _held
    try:
        if held == 1:
            ready_buffers()
        yield held if held is not None else threads
    finally:
        with _lock:
            _users -= 1
            _pinned -= 0 if command else 1
            if _users == 0:
                try:
                    if _limits is not None:
                        _take_control()
                        _limits.restore_original_limits()
                finally:
                    _take_control(release=True)
                    _limits = _held = _outer = None
            elif _pinned == 0 and _outer is not None:  # the fit that set its count is done: the command's again
                _apply(_outer)
                _held, _outer = _outer, None


def ready_buffers(again: bool = False) -> None:
    """Have the pages of the BLAS's work buffer in memory: two products, once a thread (``again``: once more).

    OpenBLAS packs the panels of a product into a work buffer of its own,
    mapped once and touched only where a product writes. A product of
    at most a few hundred columns on one thread packs each panel of ``x``
    over the last one, in the same few KiB, but its kernel (the Haswell
    kernels, which Zen runs too) prefetches the next panel's place all the
    same: pages never touched. Under a hypervisor (KVM) such a prefetch
    costs a walk of the page tables every time, and the product runs at a
    third of its speed: W1's ``128×784 · 784×256`` at 12 GFLOP/s on one
    thread of an AMD EPYC, against 35 once those pages are in (2026-12-06;
    the hot spot in ``perf annotate`` is the ``prefetcht1`` into a page
    ``/proc/self/pagemap`` shows absent). A product of 1024 columns has
    OpenBLAS lay its panels side by side, which touches those pages for
    good; it changes no later product's bits. Each thread that calls the
    BLAS at the same time as another has a buffer of its own, so
    :mod:`backprop._pool` readies its threads together. Called by
    :func:`hold` for one thread (≈ 5 ms, once a thread); elsewhere it costs
    those milliseconds and nothing else.
    """
    if getattr(_ready, "done", False) and not again:
        return
    import numpy as np

    rows, k, columns = READY_SHAPE
    for dtype in (np.float32, np.float64):
        np.matmul(np.ones((rows, k), dtype), np.ones((k, columns), dtype))
    _ready.done = True


def _new_lock_after_fork() -> None:
    global _lock
    _lock = threading.Lock()  # perhaps held by a thread of the parent's that the child does not have
    _ready.done = False  # a forked child's products ran at a third of the speed until it readied its own


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_after_fork)


def _take_control(release: bool = False) -> None:
    """Let this thread set OpenBLAS's count, or (``release``) let any thread set it next (holding ``_lock``).

    threadpoolctl 3.8 lets only the thread that first set OpenBLAS's count
    (its own thread pool, not OpenMP's) set it again: the calls of other
    threads silently do nothing. A fit in a worker thread (Dask's,
    scikit-learn's) after one in the main thread then ran on the BLAS's own
    count, with another count's bits. The count is the process's, and this
    module holds it for all of its users: it takes control for each change,
    and leaves it to no thread after giving the count back (a caller's own
    ``threadpool_limits`` around a fit then takes it again when it restores).
    """
    try:
        from threadpoolctl import OpenBLASController  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return
    clear = getattr(OpenBLASController, "clear_controlling_thread", None)  # threadpoolctl ≥ 3.8
    if clear is not None:
        clear(force=not release)


def _apply(threads: int) -> None:
    """Set the BLAS to ``threads`` (called holding ``_lock``; the first user's limits restore the original)."""
    controller = blas_control()
    if controller is not None:
        _take_control()
        controller.limit(limits=threads, user_api="blas")
