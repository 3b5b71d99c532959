"""The compiled half of :mod:`backprop._pool`: claims, blocks and the workers' loop, without the GIL.

Imported by :func:`backprop._pool._compile` only, once numba is known to
work and the BLAS's symbols are registered (``backprop_pool_sgemm``,
``backprop_pool_dgemm``). Every function is compiled for its signatures
when this module is imported, or loaded from numba's on-disk cache.

Memory order: every access to a word two threads share (the claim word,
the count done, a worker's sleep flag, the stop word) is an atomic with
sequential consistency. A job's blocks are written before the claim word
that publishes them; a thread that claims block ``i`` of ``n`` (``i < n``)
read that store, and the caller rewrites the blocks only once all ``n`` are
done, so a claim never reads half a job. A claim made late, on a job
already done, finds ``i ≥ n`` and takes nothing.
"""

from __future__ import annotations

import hashlib
import pathlib
import platform
from typing import Any

import numba
import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.core.extending import intrinsic
from numba.np.numpy_support import carray as _carray  # a view of memory at an address, in compiled code

from . import _kernels
from ._pool import (
    ADAM32,
    ADAM64,
    ADAPT,
    AFTER,
    ALIGN,
    ALONE_JOBS,
    ALONE_NS,
    ALONE_SLICE_NS,
    BIAS_RELU,
    CALLER_CLOCK,
    CALLER_TAKES,
    CLOCK,
    DERIVATIVE_OF,
    DONE,
    FIRST_SLICE_NS,
    GAP_NS,
    GEMM32,
    GEMM64,
    JOBS,
    KIND,
    LAST_ALONE,
    LAST_BEGAN,
    LAST_ENDED,
    LAST_LOOK,
    LAST_ROW,
    LAST_WARM,
    LOOK_NS,
    LOOK_SHARE,
    LOOK_SUM,
    LOOKING,
    MAX_SHAPES,
    MIN_PRODUCT,
    MIN_UPDATE,
    MODE_ALONE,
    NAP,
    NAP_LONGEST_NS,
    NAP_SHARE,
    NAP_UNTIL_NS,
    NAPS_UNTIL,
    NO_TRANS,
    OTHER,
    ROW,
    ROW_MAJOR,
    SHAPES,
    SHAPES_USED,
    SHARED,
    SHARED_NS,
    SHARED_SLICE_NS,
    SHARING_GAIN,
    SLEEP,
    SLICE_LEFT,
    SPIN_NS,
    STOP,
    TA,
    TASK,
    TASKS,
    TB,
    THREADS,
    TICKET,
    TRANS,
    UNCHECKED,
    UNITS,
    VECTOR,
    VERDICT,
    WAIT_SPIN_NS,
    WARMING,
    WHOLE,
    WINNER_SUM,
    WINS,
    WORKER_CLOCK,
    WORKERS,
    K,
    M,
    N,
)

_MASK = (1 << 32) - 1

# -- the atomics, and a pause while spinning ----------------------------------------------


def _element(context: Any, builder: Any, array_type: Any, array: Any, index: Any) -> Any:
    return builder.gep(context.make_array(array_type)(context, builder, array).data, [index])


def _read_modify_write(operation: str) -> Any:
    """An intrinsic ``(array, index, value)``: ``array[index]`` changed by ``operation`` ("add": ``+= value``;
    "xchg": ``= value``) as one atomic instruction, returning the value before."""

    def typing(typingctx: Any, array: Any, index: Any, value: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            where = _element(context, builder, signature.args[0], args[0], args[1])
            return builder.atomic_rmw(operation, where, args[2], "seq_cst")

        return types.int64(array, index, value), codegen

    typing.__name__ = f"_atomic_{operation}"
    return intrinsic(typing)


_atomic_add: Any = _read_modify_write("add")
_atomic_swap: Any = _read_modify_write("xchg")


def _atomic_load_typing(typingctx: Any, array: Any, index: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        where = _element(context, builder, signature.args[0], args[0], args[1])
        return builder.load_atomic(where, "seq_cst", 8)

    return types.int64(array, index), codegen


_atomic_load: Any = intrinsic(_atomic_load_typing)


_PAUSE = {"x86_64": "pause", "AMD64": "pause", "aarch64": "yield", "arm64": "yield"}.get(platform.machine(), "")


def _pause_typing(typingctx: Any) -> Any:
    """The CPU's spin-wait hint (``pause``, ``yield``): the other hyperthread runs, less power is drawn."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        if _PAUSE:
            builder.asm(ir.FunctionType(ir.VoidType(), []), _PAUSE, "", [], True)
        return context.get_dummy_value()

    return types.void(), codegen


_pause: Any = intrinsic(_pause_typing)


def _void_at_typing(typingctx: Any, address: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], context.get_value_type(types.voidptr))

    return types.voidptr(types.int64), codegen


void_at: Any = intrinsic(_void_at_typing)  # the memory at an address, for _carray with a dtype


# -- C functions: the BLAS (registered by _pool._build), libc's nap and clock ---------------------

_I, _L = types.int32, types.int64
sgemm: Any = types.ExternalFunction(
    "backprop_pool_sgemm",
    types.void(_I, _I, _I, _L, _L, _L, types.float32, _L, _L, _L, _L, types.float32, _L, _L),
)
dgemm: Any = types.ExternalFunction(
    "backprop_pool_dgemm",
    types.void(_I, _I, _I, _L, _L, _L, types.float64, _L, _L, _L, _L, types.float64, _L, _L),
)
_usleep: Any = types.ExternalFunction("usleep", types.int32(types.uint32))
_clock_gettime: Any = types.ExternalFunction("clock_gettime", types.int32(types.int32, types.int64))

_adam: Any = _kernels.defined("adam")  # the optimizer's compiled update, called on a block of θ
_bias_relu: Any = _kernels.defined("bias_relu")  # a product block's pass after it (see _after)
_activation_backward: Any = _kernels.defined("activation_backward")

# Helpers: compiled for the types the entry points pass, into the entry points' machine code (not cached
# on their own: a helper loaded from an old cache would go into an entry point compiled anew).
_jit: Any = numba.njit(nogil=True)


def _entry(*signatures: Any) -> Any:
    """An entry point, compiled now for ``signatures`` (one per precision), or loaded from the cache."""
    return numba.njit(list(signatures), cache=True, nogil=True)


_STATE = types.int64[::1]
_M32, _M64 = types.float32[:, :], types.float64[:, :]
_V32, _V64 = types.float32[::1], types.float64[::1]


@_jit  # type: ignore[untyped-decorator]
def gemm(
    size: int, ta: Any, tb: Any, m: int, n: int, k: int, a: int, lda: int, b: int, ldb: int, c: int, ldc: int
) -> None:
    """``C = A · B`` at these addresses, row-major, as ``np.matmul`` calls the BLAS: ``sgemm`` for
    ``size`` 4, ``dgemm`` for 8, α = 1, β = 0."""
    if size == 4:
        sgemm(ROW_MAJOR, ta, tb, m, n, k, np.float32(1), a, lda, b, ldb, np.float32(0), c, ldc)
    else:
        dgemm(ROW_MAJOR, ta, tb, m, n, k, np.float64(1), a, lda, b, ldb, np.float64(0), c, ldc)


@_jit  # type: ignore[untyped-decorator]
def _now(state: Any, slot: int) -> int:
    """Monotonic nanoseconds, through the thread's own two words of ``state`` at ``slot``."""
    _clock_gettime(np.int32(state[CLOCK]), np.int64(state.ctypes.data) + 8 * slot)
    return int(state[slot] * 1_000_000_000 + state[slot + 1])


# -- a block, and claiming them ----------------------------------------------------------------


@_jit  # type: ignore[untyped-decorator]
def _do(state: Any, i: int) -> None:
    t = TASKS + TASK * i
    kind = state[t]
    if kind in (GEMM32, GEMM64):
        ta, tb = np.int32(state[t + 1]), np.int32(state[t + 2])
        m, n, k = state[t + 3], state[t + 4], state[t + 5]
        a, lda, b, ldb, c, ldc = state[t + 6], state[t + 7], state[t + 8], state[t + 9], state[t + 10], state[t + 11]
        gemm(4 if kind == GEMM32 else 8, ta, tb, m, n, k, a, lda, b, ldb, c, ldc)
        if state[t + AFTER]:
            if kind == GEMM32:
                _after(state, t, np.float32, 4)
            else:
                _after(state, t, np.float64, 8)
    elif kind == ADAM32:
        _adam_block(state, t, 4 * state[t + 7], np.float32)
    else:
        _adam_block(state, t, 8 * state[t + 7], np.float64)


@_jit  # type: ignore[untyped-decorator]
def _row_of(address: int, i: int, columns: int, row_length: int, dtype: Any, size: int) -> Any:
    """Row ``i`` of a block (``columns`` wide, from ``address`` on) of a C-ordered matrix of ``row_length``
    columns, as a C-ordered ``(1, columns)`` matrix: contiguous, so the kernels' loops stay vectorized."""
    return _carray(void_at(address + i * row_length * size), (1, columns), dtype)


@_jit  # type: ignore[untyped-decorator]
def _after(state: Any, t: int, dtype: Any, size: int) -> None:
    """A product block's elementwise pass on the block just computed, while it is in this thread's cache.

    BIAS_RELU: ``h += b; a = max(h, 0)`` (the forward pass's ReLU). TIMES_DERIVATIVE:
    ``grad *= f'(a)``, and ``db = Σ_samples grad`` for its columns (a block of
    columns holds every row of them, added in the rows' order, as the kernel
    adds them). Each element's arithmetic is the whole pass's: the same bits.
    """
    m, n, ldc = state[t + 3], state[t + 4], state[t + 11]
    c, other = state[t + 10], state[t + OTHER]
    vector = _carray(void_at(state[t + VECTOR]), n if state[t + VECTOR] else 0, dtype)
    if state[t + AFTER] == BIAS_RELU:
        for i in range(m):
            _bias_relu(_row_of(c, i, n, ldc, dtype, size), vector, _row_of(other, i, n, ldc, dtype, size))
        return
    no_sum = vector[:0]
    for i in range(m):
        grad = _row_of(c, i, n, ldc, dtype, size)
        _activation_backward(grad, _row_of(other, i, n, ldc, dtype, size), no_sum, dtype(1), state[t + DERIVATIVE_OF])
        if vector.shape[0]:
            for j in range(n):
                vector[j] = grad[0, j] if i == 0 else vector[j] + grad[0, j]


@_jit  # type: ignore[untyped-decorator]
def _adam_block(state: Any, t: int, at: int, dtype: Any) -> None:
    """Adam on θ[first:last] and its moments (the task at ``t``, ``at`` bytes in); no backup when its address is 0."""
    size = state[t + 8] - state[t + 7]
    saved = size if state[t + 5] else 0
    _adam(
        _carray(void_at(state[t + 1] + at), size, dtype),
        _carray(void_at(state[t + 2] + at), size, dtype),
        _carray(void_at(state[t + 3] + at), size, dtype),
        _carray(void_at(state[t + 4] + at), size, dtype),
        _carray(void_at(state[t + 5] + at), saved, dtype),
        _carray(void_at(state[t + 6]), 8, dtype),
        (state[t + 9] & 1) != 0,
        (state[t + 9] & 2) != 0,
    )


@_jit  # type: ignore[untyped-decorator]
def _claim_all(state: Any) -> int:
    """Claim and do blocks of the current job until none is left; returns how many this thread did."""
    got = 0
    while True:
        ticket = _atomic_add(state, TICKET, 1)
        if (ticket & _MASK) >= (ticket >> 32):
            return got
        _do(state, ticket & _MASK)
        _atomic_add(state, DONE, 1)
        got += 1


@_jit  # type: ignore[untyped-decorator]
def run_job(state: Any, row: int, blocks: int) -> int:
    """Do a job of ``blocks`` blocks (written at TASKS) of the kind at ``row``; the mask of the workers found asleep.

    Shared with the workers, or done by the caller alone while that was
    faster at the last look (:func:`_decide`): the same blocks, the same bits.
    """
    began = _now(state, CALLER_CLOCK)
    if state[ADAPT]:
        _time_last_job(state, began)
        if state[SLICE_LEFT] <= 0:
            _decide(state)
    alone = state[ADAPT] != 0 and (state[MODE_ALONE] != 0) != (state[LOOKING] != 0)
    state[JOBS] += 1
    asleep = 0
    warm = 0
    if alone:
        for i in range(blocks):
            _do(state, i)
        state[ALONE_JOBS] += 1
    else:
        asleep, mine = _share(state, blocks)
        warm = state[WARMING]
        if mine < blocks:
            state[WARMING] = 0  # a worker took part: the look's jobs are timed from the next one on
    ended = _now(state, CALLER_CLOCK)
    # Timed when the next job starts: with the caller's work in between, which a worker spinning beside it
    # slows where two CPUs are one core's time (a virtual machine's host); untimed when a worker slept.
    state[LAST_ROW] = -1 if asleep else row
    state[LAST_ALONE], state[LAST_LOOK], state[LAST_WARM] = alone, state[LOOKING], warm
    state[LAST_BEGAN], state[LAST_ENDED] = began, ended
    return asleep


@_jit  # type: ignore[untyped-decorator]
def _time_last_job(state: Any, now: int) -> None:
    """Add the last job, from its start to ``now`` (the next job's start), to its kind's time in its mode.

    Not when the caller did other work than a step's in between (more than
    GAP_NS: the end of an epoch, a validation pass, another fit).
    """
    row = state[LAST_ROW]
    state[LAST_ROW] = -1
    if row < 0 or now - state[LAST_ENDED] > GAP_NS:
        return
    took = now - state[LAST_BEGAN]
    state[SLICE_LEFT] -= took
    if state[LAST_WARM]:  # sharing while the workers woke: not what sharing costs (see _decide)
        return
    r = SHAPES + ROW * row
    here, other = (r + ALONE_NS, r + SHARED_NS) if state[LAST_ALONE] else (r + SHARED_NS, r + ALONE_NS)
    if state[LAST_LOOK] and state[other]:  # the look, against the same kind of job in the winning mode
        state[LOOK_SUM] += took
        state[WINNER_SUM] += state[other]
    state[here] = took if state[here] == 0 else (3 * state[here] + took) // 4


@_jit  # type: ignore[untyped-decorator]
def _decide(state: Any) -> None:
    """End a slice of jobs: after a look at the other mode, keep the faster one; after the winner's slice, look.

    A machine busy with other programs can leave this process one CPU's time
    (Linux shares the CPUs between sessions first): then a worker only delays
    the caller, who waits for the block it holds while it is not running, and
    even a spinning worker takes the caller's time. So the mode is the
    process's, for whole slices (the workers sleep through the caller's), and
    measured: a look of LOOK_NS at the mode that lost, each job (with the
    caller's work up to the next job) against the same kind of job's recent
    time in the winning mode (fair with any mix of shapes), then a slice of
    the winner. Sharing must win by SHARING_GAIN
    percent; a mode that keeps winning gets longer slices (a wrong choice
    costs one short slice, a right one few looks), and a slice is at least
    LOOK_SHARE looks long (a look is one job at least: W4's take 30 ms). A look at sharing
    after the caller's slice is timed from the job after the first a worker takes part in: the
    workers slept through that slice, and until one is back the caller does every block, which
    shows sharing's costs without its gain. Where no worker comes (a busy machine), the look
    decides nothing and the caller goes on alone. Only who computes a block changes, never the
    blocks: the same bits.
    """
    if state[LOOKING]:
        if state[WINNER_SUM] > 0:
            looked_alone = state[MODE_ALONE] == 0
            alone_ns = state[LOOK_SUM] if looked_alone else state[WINNER_SUM]
            shared_ns = state[WINNER_SUM] if looked_alone else state[LOOK_SUM]
            alone = 0 if shared_ns * (100 + SHARING_GAIN) <= alone_ns * 100 else 1
            state[WINS] = min(state[WINS] + 1, 16) if alone == state[MODE_ALONE] else 0
            state[MODE_ALONE] = alone
        looked = LOOK_NS - state[SLICE_LEFT]  # at least one job: longer than LOOK_NS where jobs are long
        state[LOOKING], state[WARMING] = 0, 0
        longest = ALONE_SLICE_NS if state[MODE_ALONE] else SHARED_SLICE_NS
        state[SLICE_LEFT] = max(min(longest, FIRST_SLICE_NS << state[WINS]), LOOK_SHARE * looked)
    else:
        state[LOOKING], state[SLICE_LEFT] = 1, LOOK_NS
        state[LOOK_SUM], state[WINNER_SUM] = 0, 0
        state[WARMING] = state[MODE_ALONE]  # a look at sharing: timed once a worker takes part


@_jit  # type: ignore[untyped-decorator]
def _share(state: Any, blocks: int) -> tuple[int, int]:
    """Publish the job, take part, wait for the workers' blocks; (the mask of the workers found asleep,
    the blocks the caller did)."""
    _atomic_swap(state, DONE, 0)
    _atomic_swap(state, TICKET, blocks << 32)  # the job is out
    asleep = 0
    for i in range(state[WORKERS]):  # read after the publishing store: a worker not seen asleep sees the job
        if _atomic_load(state, SLEEP + i) and _atomic_swap(state, SLEEP + i, 0) == 1:
            asleep |= 1 << i
    mine = _claim_all(state) if state[CALLER_TAKES] else 0
    if _atomic_load(state, DONE) != blocks:
        began = _now(state, CALLER_CLOCK)
        spins = 0
        while _atomic_load(state, DONE) != blocks:
            spins += 1
            if spins & 63:
                _pause()
            elif _now(state, CALLER_CLOCK) - began > state[WAIT_SPIN_NS]:
                _usleep(np.uint32(20))  # a worker holding a block may need this CPU
    return asleep, mine


@_entry(types.int64(_STATE, types.int64))  # type: ignore[untyped-decorator]
def _serve(state: Any, i: int) -> int:
    """Worker ``i``'s loop: claim blocks while there are jobs; 1 when it should sleep, 0 to stop."""
    clock = WORKER_CLOCK + 2 * i
    last = _now(state, clock)
    nap_until = state[NAP_UNTIL_NS]
    spins = 0
    while _atomic_load(state, STOP) == 0:
        ticket = _atomic_load(state, TICKET)
        if (ticket & _MASK) < (ticket >> 32):
            began = _now(state, clock)
            got = _claim_all(state)
            last = _now(state, clock)
            if got:
                _atomic_add(state, SHARED, got)
                # the caller's block of this job may end later by a share of this one's time: awake for the next
                nap_until = max(state[NAP_UNTIL_NS], min((last - began) // NAP_SHARE, state[NAP_LONGEST_NS]))
                _atomic_swap(state, NAPS_UNTIL, nap_until)
            spins = 0
            continue
        spins += 1
        if spins & 63:
            _pause()
            continue
        idle = _now(state, clock) - last
        if idle < state[SPIN_NS]:
            continue
        if idle < nap_until:
            _usleep(np.uint32(state[NAP]))
            continue
        _atomic_swap(state, SLEEP + i, 1)  # then look once more: a job published before this store is seen
        ticket = _atomic_load(state, TICKET)
        if (ticket & _MASK) < (ticket >> 32):
            _atomic_swap(state, SLEEP + i, 0)
            continue
        return 1
    return 0


@_entry(types.int64(_STATE, types.int64, types.int64))  # type: ignore[untyped-decorator]
def _swap(state: Any, index: int, value: int) -> int:
    return int(_atomic_swap(state, index, value))


# -- products: the rule, the checked shapes, the blocks ------------------------------------------


@_jit  # type: ignore[untyped-decorator]
def operand(x: Any, rows: int, columns: int) -> tuple[int, int]:
    """(CBLAS transpose, leading dimension) of a compact matrix, or (0, 0) for one the pool does not take."""
    size = x.itemsize
    if x.strides[1] == size and x.strides[0] == columns * size:
        return NO_TRANS, columns
    if x.strides[0] == size and x.strides[1] == rows * size:
        return TRANS, rows
    return 0, 0


@_jit  # type: ignore[untyped-decorator]
def cuttable(state: Any, m: int, n: int) -> bool:
    """Whether some cut (see UNITS) gives an m × n C two blocks or more, for two threads or more."""
    return bool(state[WORKERS] >= 1 and max(m, n) >= 2 * UNITS[len(UNITS) - 1])


@_jit  # type: ignore[untyped-decorator]
def split(state: Any, m: int, n: int, verdict: int) -> tuple[int, int, int]:
    """(axis, unit, blocks) of the cut ``verdict`` (≥ 1) of an m × n C: rows (0) or columns (1), as many
    blocks as threads (fewer than two: the cut does not apply), each starting at a multiple of ``unit``."""
    cut = verdict - 1
    unit = UNITS[cut // 2]
    longer = 0 if m >= n else 1
    axis = longer if cut % 2 == 0 else 1 - longer
    extent = m if axis == 0 else n
    return axis, unit, min(state[WORKERS] + 1, extent // unit)


@_jit  # type: ignore[untyped-decorator]
def edge(extent: int, blocks: int, unit: int, i: int) -> int:
    """Where block ``i`` of ``blocks`` starts: at ``i / blocks`` of ``extent``, rounded to a multiple of ``unit``
    (half up); ``extent`` for ``i = blocks``. With ``extent ≥ blocks · unit`` no block is empty."""
    if i >= blocks:
        return extent
    return (2 * i * extent + blocks * unit) // (2 * blocks * unit) * unit


@_jit  # type: ignore[untyped-decorator]
def shape_row(state: Any, kind: int, ta: int, tb: int, m: int, n: int, k: int, add: bool) -> int:
    """The row of this kind of job in the table, -1 when it has none (a new row if ``add`` and there is room)."""
    threads = state[WORKERS] + 1
    for row in range(state[SHAPES_USED]):
        r = SHAPES + ROW * row
        if (
            state[r + KIND] == kind
            and state[r + TA] == ta
            and state[r + TB] == tb
            and state[r + M] == m
            and state[r + N] == n
            and state[r + K] == k
            and state[r + THREADS] == threads
        ):
            return row
    row = state[SHAPES_USED]
    if not add or row >= MAX_SHAPES:
        return -1
    state[SHAPES_USED] = row + 1
    r = SHAPES + ROW * row
    state[r : r + ROW] = 0
    state[r + KIND], state[r + TA], state[r + TB], state[r + M], state[r + N], state[r + K] = kind, ta, tb, m, n, k
    state[r + THREADS], state[r + VERDICT] = threads, -1  # -1: not checked yet
    return int(row)


@_jit  # type: ignore[untyped-decorator]
def _shape(state: Any, a: Any, b: Any, c: Any, add: bool) -> tuple[int, int, int, int, int]:
    """(row of the shapes' table or -1, ta, lda, tb, ldb); ta = 0: not a product the pool takes."""
    m, k = a.shape
    n = b.shape[1]
    ta, lda = operand(a, m, k)
    tb, ldb = operand(b, k, n)
    if ta == 0 or tb == 0 or c.strides[1] != c.itemsize or c.strides[0] != n * c.itemsize:
        return -1, 0, 0, 0, 0
    kind = GEMM32 if a.itemsize == 4 else GEMM64
    return shape_row(state, kind, ta, tb, m, n, k, add), ta, lda, tb, ldb


@_jit  # type: ignore[untyped-decorator]
def blocks(state: Any, a: Any, b: Any, c: Any, ta: int, lda: int, tb: int, ldb: int, verdict: int) -> int:
    """Write the blocks of ``c = a · b``, cut as ``verdict`` says (see :func:`split`), at TASKS; returns how many."""
    return int(blocks_at(state, 0, a, b, c, ta, lda, tb, ldb, verdict))


@_jit  # type: ignore[untyped-decorator]
def blocks_at(
    state: Any, first_task: int, a: Any, b: Any, c: Any, ta: int, lda: int, tb: int, ldb: int, verdict: int
) -> int:
    """:func:`blocks` from task ``first_task`` on; verdict 0: one block, the whole product (every column)."""
    m, k = a.shape
    n = b.shape[1]
    size = a.itemsize
    axis, unit, blocks = split(state, m, n, verdict) if verdict > 0 else (1, 1, 1)
    extent = m if axis == 0 else n
    for i in range(blocks):
        t = TASKS + TASK * (first_task + i)
        state[t] = GEMM32 if size == 4 else GEMM64
        state[t + 1], state[t + 2], state[t + 5] = ta, tb, k
        state[t + 7], state[t + 9], state[t + 11] = lda, ldb, n
        state[t + AFTER] = 0  # no pass after the block unless the caller sets one (see _after)
        first, last = edge(extent, blocks, unit, i), edge(extent, blocks, unit, i + 1)
        if axis == 0:  # rows first:last of C, from the same rows of A
            state[t + 3], state[t + 4] = last - first, n
            state[t + 6] = np.int64(a.ctypes.data) + size * (first * lda if ta == NO_TRANS else first)
            state[t + 8] = np.int64(b.ctypes.data)
            state[t + 10] = np.int64(c.ctypes.data) + size * first * n
        else:  # columns first:last of C, from the same columns of B
            state[t + 3], state[t + 4] = m, last - first
            state[t + 6] = np.int64(a.ctypes.data)
            state[t + 8] = np.int64(b.ctypes.data) + size * (first if tb == NO_TRANS else first * ldb)
            state[t + 10] = np.int64(c.ctypes.data) + size * first
    return int(blocks)


@_entry(types.int64(_STATE, _M32, _M32, _M32), types.int64(_STATE, _M64, _M64, _M64))  # type: ignore[untyped-decorator]
def _product(state: Any, a: Any, b: Any, c: Any) -> int:
    """``c = a · b`` in blocks when its shape's check found a cut exact: the workers asleep; WHOLE; or UNCHECKED."""
    m, k = a.shape
    n = b.shape[1]
    if m * n * k < MIN_PRODUCT or not cuttable(state, m, n):
        return WHOLE
    row, ta, lda, tb, ldb = _shape(state, a, b, c, True)
    if ta == 0 or row < 0:  # not a compact matrix, or the table is full
        return WHOLE
    verdict = state[SHAPES + ROW * row + VERDICT]
    if verdict < 0:
        return UNCHECKED
    if verdict == 0:
        return WHOLE
    return int(run_job(state, row, blocks(state, a, b, c, ta, lda, tb, ldb, verdict)))


@_entry(  # type: ignore[untyped-decorator]
    types.boolean(_STATE, _M32, _M32, _M32, types.int64), types.boolean(_STATE, _M64, _M64, _M64, types.int64)
)
def _alone(state: Any, a: Any, b: Any, c: Any, verdict: int) -> bool:
    """``c = a · b`` block by block in this thread, cut as ``verdict`` says (the check of a shape); False,
    ``c`` untouched, when that cut gives fewer than two blocks."""
    m, n = a.shape[0], b.shape[1]
    if split(state, m, n, verdict)[2] < 2:
        return False
    _, ta, lda, tb, ldb = _shape(state, a, b, c, False)
    for i in range(blocks(state, a, b, c, ta, lda, tb, ldb, verdict)):
        _do(state, i)
    return True


@_entry(  # type: ignore[untyped-decorator]
    types.void(_STATE, _M32, _M32, _M32, types.int64), types.void(_STATE, _M64, _M64, _M64, types.int64)
)
def _record(state: Any, a: Any, b: Any, c: Any, verdict: int) -> None:
    """Set the verdict of ``a · b``'s shape in the table (i + 1: cut i gives the whole's bits; 0: none)."""
    row = _shape(state, a, b, c, True)[0]
    if row >= 0:
        state[SHAPES + ROW * row + VERDICT] = verdict


# -- the optimizer's update ----------------------------------------------------------------------


@_entry(  # type: ignore[untyped-decorator]
    types.int64(_STATE, _V32, _V32, _V32, _V32, _V32, _V32, types.boolean, types.boolean),
    types.int64(_STATE, _V64, _V64, _V64, _V64, _V64, _V64, types.boolean, types.boolean),
)
def _update(state: Any, p: Any, g: Any, m: Any, v: Any, backup: Any, hyper: Any, decoupled: bool, coupled: bool) -> int:
    """Adam's step on θ in blocks (elementwise: any cut gives the same bits): the workers asleep, or WHOLE."""
    n = p.shape[0]
    threads = state[WORKERS] + 1
    if n < MIN_UPDATE:
        return WHOLE
    step = -(-n // threads)
    step = -(-step // ALIGN) * ALIGN
    blocks = -(-n // step)
    kind = ADAM32 if p.itemsize == 4 else ADAM64
    flags = (1 if decoupled else 0) | (2 if coupled else 0)
    row = shape_row(state, kind, 0, 0, n, 0, 0, True)
    if row < 0:
        return WHOLE
    state[SHAPES + ROW * row + VERDICT] = 1  # elementwise: exact however it is cut
    for i in range(blocks):
        t = TASKS + TASK * i
        state[t], state[t + 1], state[t + 2], state[t + 3], state[t + 4] = (
            kind,
            np.int64(p.ctypes.data),
            np.int64(g.ctypes.data),
            np.int64(m.ctypes.data),
            np.int64(v.ctypes.data),
        )
        state[t + 5] = np.int64(backup.ctypes.data) if backup.shape[0] else 0
        state[t + 6], state[t + 7], state[t + 8], state[t + 9] = (
            np.int64(hyper.ctypes.data),
            i * step,
            min(n, (i + 1) * step),
            flags,
        )
    return int(run_job(state, row, blocks))


def source_fingerprint(*names: str) -> int:
    """A hash of the files (of this package) whose constants and kernels a module's machine code holds."""
    here = pathlib.Path(__file__).parent
    digest = hashlib.sha256()
    for name in names:
        digest.update((here / name).read_bytes())
    return int.from_bytes(digest.digest()[:7], "little")


_FINGERPRINT = source_fingerprint("_pool.py", "_kernels.py", "_pool_kernels.py")


@_entry(types.int64())  # type: ignore[untyped-decorator]
def _fingerprint() -> int:
    return _FINGERPRINT


#: What :class:`backprop._pool.Pool` calls.
KERNELS = {
    "product": _product,
    "alone": _alone,
    "record": _record,
    "update": _update,
    "serve": _serve,
    "swap": _swap,
    "split": split,
}

# numba keys its cache on this file alone, and bakes in the constants of _pool.py and the Adam kernel of
# _kernels.py: machine code cached before either changed (an editable install) would index the state at
# old offsets. The fingerprint it holds tells; then every entry point is compiled anew, and cached again.
if _fingerprint() != _FINGERPRINT:
    for _function in (_fingerprint, *KERNELS.values()):
        _function.recompile()
