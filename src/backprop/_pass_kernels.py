"""The compiled passes of :mod:`backprop._passes`: a step's layers in one call, without numpy's per-call costs.

Imported by :func:`backprop._pool._compile` once the BLAS's symbols are
registered. Each layer's arithmetic is the numpy path's, call for call:
the products are the calls ``np.matmul`` makes (``cblas_sgemm`` or
``dgemm`` with numpy's transposes and leading dimensions, or the pool's
blocks of it: :mod:`backprop._pool`), the layer kernels are those of
:mod:`backprop._kernels`. So the bits are those of the numpy path.

A layer is a row of :data:`backprop._passes.FIELDS` words of the plan
(addresses and sizes): one signature per precision serves every depth.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.core.extending import intrinsic
from numba.np.numpy_support import carray as _carray

from . import _kernels
from ._passes import (
    ADAM_COUPLED,
    ADAM_DECOUPLED,
    BIAS,
    DB,
    DERIVATIVE,
    DW,
    EXP_LOOP,
    FIELDS,
    FIRST_LAYER,
    FORWARD,
    GRAD,
    LAYERS,
    LOOP_ARGS,
    LOSS_NOT_FINITE,
    N_IN,
    NESTEROV,
    NORM_NOT_FINITE,
    RELU_BIAS,
    ROWS,
    SCRATCH,
    SHIFT,
    SIGMOID,
    SOFTMAX,
    STEPPED,
    TANH,
    TANH_LOOP,
    UNITS,
    A,
    B,
    H,
    W,
)
from ._pool import (
    AFTER,
    BIAS_RELU,
    DERIVATIVE_OF,
    GEMM32,
    GEMM64,
    MIN_PRODUCT,
    OTHER,
    PAIR32,
    PAIR64,
    ROW,
    SHAPES,
    TASK,
    TASKS,
    TIMES_DERIVATIVE,
    UNCHECKED,
    VECTOR,
    VERDICT,
    WORKERS,
)
from ._pool_kernels import (
    blocks,
    blocks_at,
    cuttable,
    gemm,
    operand,
    run_job,
    shape_row,
    source_fingerprint,
    split,
    void_at,
)

_bias_relu: Any = _kernels.defined("bias_relu")
_softmax_shift: Any = _kernels.defined("softmax_shift")
_softmax_normalize: Any = _kernels.defined("softmax_normalize")
_activation_backward: Any = _kernels.defined("activation_backward")
_output_error: Any = _kernels.defined("output_error")
_gather_rows: Any = _kernels.defined("gather_rows")
_crossentropy_total: Any = _kernels.defined("crossentropy_total")
_squared_norms: Any = _kernels.defined("squared_norms")
_adam: Any = _kernels.defined("adam")
_momentum: Any = _kernels.defined("momentum")
_argmax_hits: Any = _kernels.defined("argmax_hits")

_jit: Any = numba.njit(nogil=True)


def _entry(*signatures: Any) -> Any:
    return numba.njit(list(signatures), cache=True, nogil=True)


_STATE = types.int64[::1]
_PLAN = types.int64[::1]


@_jit  # type: ignore[untyped-decorator]
def _matrix(address: int, rows: int, columns: int, like: Any) -> Any:
    """The C-ordered ``(rows, columns)`` matrix at ``address``, of ``like``'s dtype."""
    return _carray(void_at(address), (rows, columns), like.dtype)


@_jit  # type: ignore[untyped-decorator]
def _vector(address: int, size: int, like: Any) -> Any:
    return _carray(void_at(address), size, like.dtype)


def _call_loop_typing(
    typingctx: Any, function: Any, context: Any, data: Any, dimensions: Any, strides: Any, auxdata: Any
) -> Any:
    def codegen(context_: Any, builder: Any, signature: Any, args: Any) -> Any:
        pointer = ir.IntType(8).as_pointer()
        loop = ir.FunctionType(ir.IntType(32), [pointer] * 5)
        function = builder.inttoptr(args[0], loop.as_pointer())
        return builder.call(function, [builder.inttoptr(address, pointer) for address in args[1:]])

    return types.int32(*(types.int64,) * 6), codegen


# numpy's strided loop at an address: loop(context, data, dimensions, strides, auxdata), all addresses.
_call_loop: Any = intrinsic(_call_loop_typing)


@_jit  # type: ignore[untyped-decorator]
def _numpy_loop(plan: Any, at: int, source: int, target: int, size: int, itemsize: int) -> None:
    """numpy's loop in the plan's header at ``at`` (``_passes.numpy_loop``) over ``size`` contiguous numbers
    from ``source`` into ``target``: what ``np.tanh(h, out=a)`` does, with its bits."""
    plan[LOOP_ARGS], plan[LOOP_ARGS + 1], plan[LOOP_ARGS + 2] = source, target, size
    plan[LOOP_ARGS + 3] = plan[LOOP_ARGS + 4] = itemsize
    words = np.int64(plan.ctypes.data) + 8 * LOOP_ARGS
    _call_loop(plan[at], plan[at + 1], words, words + 16, words + 24, plan[at + 2])  # numpy's tanh and exp return 0


@_jit  # type: ignore[untyped-decorator]
def _product(
    state: Any, pooled: bool, a: Any, b: Any, c: Any, after: int, other: int, vector: int, derivative: int
) -> tuple[int, bool]:
    """``c = a · b`` as ``np.matmul`` computes it (every dimension above one): (the pool's workers found asleep,
    whether the blocks also did the pass ``after`` on their part of ``c``).

    On the pool, in its blocks where its check found them exact (``_passes``
    checked each shape before the first call), each block followed by the
    elementwise pass ``after`` (``_pool_kernels._after``: ``other`` and
    ``vector`` are the addresses of ``a`` and of ``b`` or ``db``); otherwise
    one call of the BLAS, and the caller does the pass.
    """
    m, k = a.shape
    n = b.shape[1]
    ta, lda = operand(a, m, k)
    tb, ldb = operand(b, k, n)
    if pooled and m * n * k >= MIN_PRODUCT and cuttable(state, m, n):
        row = shape_row(state, GEMM32 if a.itemsize == 4 else GEMM64, ta, tb, m, n, k, False)
        verdict = state[SHAPES + ROW * row + VERDICT] if row >= 0 else 0
        if verdict > 0:
            cut = blocks(state, a, b, c, ta, lda, tb, ldb, verdict)
            # A bias gradient sums whole columns: only blocks of columns hold them.
            attached = after != 0 and (after != TIMES_DERIVATIVE or vector == 0 or split(state, m, n, verdict)[0] == 1)
            if attached:
                _attach(state, 0, cut, c, after, other, vector, derivative)
            return int(run_job(state, row, cut)), attached
    gemm(a.itemsize, np.int32(ta), np.int32(tb), m, n, k, a.ctypes.data, lda, b.ctypes.data, ldb, c.ctypes.data, n)
    return 0, False


@_jit  # type: ignore[untyped-decorator]
def _attach(state: Any, first: int, count: int, c: Any, after: int, other: int, vector: int, derivative: int) -> None:
    """Have blocks ``first`` to ``first + count − 1``, all of ``c``, each followed by the pass ``after``."""
    size, start, n = c.itemsize, np.int64(c.ctypes.data), c.shape[1]
    for i in range(first, first + count):
        t = TASKS + TASK * i
        offset = state[t + 10] - start  # the block's first element, in bytes from c's
        state[t + AFTER], state[t + OTHER], state[t + DERIVATIVE_OF] = after, other + offset, derivative
        state[t + VECTOR] = vector + size * ((offset // size) % n) if vector else 0


@_jit  # type: ignore[untyped-decorator]
def _pair(
    state: Any, x: Any, grad: Any, dW: Any, W_: Any, grad_below: Any, a_below: int, db_below: int, derivative: int
) -> tuple[int, bool]:
    """A layer's two backward products as one job of two blocks, on a pool of two threads: ``∂L/∂W = xᵀ ·
    grad_h`` and ``δ · Wᵀ`` into the layer below, followed by its ``⊙ f'(h)`` and ``db``; (the workers found
    asleep, whether it ran).

    Both read ``grad_h`` and write buffers of their own, and both take ``rows × n_in × units``
    multiply-adds: each is one block, the whole product (the call ``np.matmul`` makes: its bits on every
    CPU, no cut to check, no panel packed twice), and the pass after it has every row of its columns. On
    more threads the products are cut one after the other, as their checks found exact (a pair cut into
    fewer blocks each would need checks of its own).
    """
    m, units = grad.shape
    n_in = x.shape[1]
    if state[WORKERS] != 1 or m * n_in * units < MIN_PRODUCT:
        return 0, False
    row = shape_row(state, PAIR32 if x.itemsize == 4 else PAIR64, 0, 0, m, n_in, units, True)
    if row < 0:  # the table is full: the products one after the other
        return 0, False
    state[SHAPES + ROW * row + VERDICT] = 1  # whole products: the same bits
    xT, WT = x.T, W_.T
    tx, ldx = operand(xT, n_in, m)
    tg, ldg = operand(grad, m, units)
    tw, ldw = operand(WT, units, n_in)
    blocks_at(state, 0, xT, grad, dW, tx, ldx, tg, ldg, 0)
    blocks_at(state, 1, grad, WT, grad_below, tg, ldg, tw, ldw, 0)
    _attach(state, 1, 1, grad_below, TIMES_DERIVATIVE, a_below, db_below, derivative)
    return int(run_job(state, row, 2)), True


@_jit  # type: ignore[untyped-decorator]
def _input(plan: Any, x: Any, l: int) -> Any:
    """Layer ``l``'s input: ``x`` for the first, the layer below's output ``a`` for the others."""
    if l == 0:
        return x
    below = FIRST_LAYER + FIELDS * (l - 1)
    return _matrix(plan[below + A], plan[ROWS], plan[below + UNITS], x)


@_jit  # type: ignore[untyped-decorator]
def _forward(state: Any, pooled: bool, plan: Any, x: Any, first: int, stop: int) -> int:
    m = plan[ROWS]
    asleep = 0
    for l in range(first, stop):
        p = FIRST_LAYER + FIELDS * l
        units = plan[p + UNITS]
        W_ = _matrix(plan[p + W], plan[p + N_IN], units, x)
        h = _matrix(plan[p + H], m, units, x)
        kind = plan[p + FORWARD]
        after = BIAS_RELU if kind == RELU_BIAS else 0
        # h = x · W, and on the pool each block's h += b; a = max(h, 0)
        woken, done = _product(state, pooled, _input(plan, x, l), W_, h, after, plan[p + A], plan[p + B], 0)
        asleep |= woken
        if kind == RELU_BIAS and not done:  # h += b; a = max(h, 0): the compiled step's ReLU
            _bias_relu(h, _vector(plan[p + B], units, x), _matrix(plan[p + A], m, units, x))
        elif kind == SHIFT:  # the softmax's h += b; a = h − max_j h (numpy's exp follows)
            b = _vector(plan[p + B], units if plan[p + B] else 0, x)
            _softmax_shift(h, b, _matrix(plan[p + A], m, units, x))
        elif kind == SOFTMAX:  # the shift, then numpy's exp and the compiled step's a /= Σ_j a
            a = _matrix(plan[p + A], m, units, x)
            _softmax_shift(h, _vector(plan[p + B], units if plan[p + B] else 0, x), a)
            _numpy_loop(plan, EXP_LOOP, plan[p + A], plan[p + A], m * units, x.itemsize)
            _softmax_normalize(a, x.dtype.type(-0.0))
        elif kind == BIAS or (kind in (TANH, SIGMOID) and plan[p + B]):  # h += b, as numpy's ``h += b``: one rounding
            b = _vector(plan[p + B], units, x)
            for i in range(m):
                for j in range(units):
                    h[i, j] = h[i, j] + b[j]
        if kind == TANH:  # a = tanh(h): numpy's loop
            _numpy_loop(plan, TANH_LOOP, plan[p + H], plan[p + A], m * units, x.itemsize)
        elif kind == SIGMOID:
            _sigmoid(plan, h, _matrix(plan[p + A], m, units, x), _matrix(plan[p + SCRATCH], m, units, x))
    return asleep


@_jit  # type: ignore[untyped-decorator]
def _sigmoid(plan: Any, h: Any, a: Any, tmp: Any) -> None:
    """``a = e^min(h, 0) / (1 + e^−|h|)``: ``Sigmoid.forward``'s numpy calls one after the other, its exp numpy's."""
    m, units = h.shape
    zero, one = h.dtype.type(0), h.dtype.type(1)
    for i in range(m):
        for j in range(units):
            tmp[i, j] = -abs(h[i, j])  # np.abs, np.negative
            a[i, j] = h[i, j] if h[i, j] < 0 or h[i, j] != h[i, j] else zero  # np.minimum(h, 0.0): a NaN is kept
    _numpy_loop(plan, EXP_LOOP, tmp.ctypes.data, tmp.ctypes.data, m * units, h.itemsize)
    _numpy_loop(plan, EXP_LOOP, a.ctypes.data, a.ctypes.data, m * units, h.itemsize)
    for i in range(m):
        for j in range(units):
            tmp[i, j] = tmp[i, j] + one  # tmp += 1.0
            a[i, j] = a[i, j] / tmp[i, j]  # a /= tmp


@_jit  # type: ignore[untyped-decorator]
def _backward(state: Any, pooled: bool, plan: Any, x: Any, one: Any, y: Any, scale: Any) -> int:
    m = plan[ROWS]
    asleep = 0
    if y.shape[0]:  # the output error term (ŷ − y) · scale and its db, for a loss fused with its activation
        p = FIRST_LAYER + FIELDS * (plan[LAYERS] - 1)
        units = plan[p + UNITS]
        out = _matrix(plan[p + GRAD], m, units, x)
        db = _vector(plan[p + DB], units if plan[p + DB] else 0, x)
        _output_error(_matrix(plan[p + A], m, units, x), y, out, scale, db[:0], db)
    for l in range(plan[LAYERS] - 1, -1, -1):
        p = FIRST_LAYER + FIELDS * l
        n_in, units = plan[p + N_IN], plan[p + UNITS]
        grad = _matrix(plan[p + GRAD], m, units, x)
        below = _input(plan, x, l)
        dW = _matrix(plan[p + DW], n_in, units, x)
        if l == 0:  # the first layer's input needs no error term
            asleep |= _product(state, pooled, below.T, grad, dW, 0, 0, 0, 0)[0]  # ∂L/∂W = xᵀ · grad_h
            break
        q = p - FIELDS  # the layer below: its δ · Wᵀ, then ⊙ f'(h) and its db (in the pool's blocks, or after)
        grad_below = _matrix(plan[q + GRAD], m, n_in, x)
        W_ = _matrix(plan[p + W], n_in, units, x)
        kind = plan[q + DERIVATIVE]
        if pooled:  # both products in one job, side by side (on two threads)
            woken, ran = _pair(state, below, grad, dW, W_, grad_below, plan[q + A], plan[q + DB], kind)
            asleep |= woken
            if ran:
                continue
        asleep |= _product(state, pooled, below.T, grad, dW, 0, 0, 0, 0)[0]  # ∂L/∂W = xᵀ · grad_h
        woken, done = _product(state, pooled, grad, W_.T, grad_below, TIMES_DERIVATIVE, plan[q + A], plan[q + DB], kind)
        asleep |= woken
        if not done:
            db = _vector(plan[q + DB], n_in if plan[q + DB] else 0, x)
            _activation_backward(grad_below, _matrix(plan[q + A], m, n_in, x), db, one, kind)
    return asleep


@_jit  # type: ignore[untyped-decorator]
def _checked(state: Any, a: Any, b: Any, c: Any) -> bool:
    """False when the pool would cut ``a · b`` and its shape is not checked yet."""
    m, k = a.shape
    n = b.shape[1]
    if m * n * k < MIN_PRODUCT or not cuttable(state, m, n):
        return True
    ta, _ = operand(a, m, k)
    tb, _ = operand(b, k, n)
    row = shape_row(state, GEMM32 if a.itemsize == 4 else GEMM64, ta, tb, m, n, k, True)
    return bool(row < 0 or state[SHAPES + ROW * row + VERDICT] >= 0)


_M32, _M64 = types.float32[:, :], types.float64[:, :]


@_entry(  # type: ignore[untyped-decorator]
    types.int64(_STATE, types.boolean, _PLAN, _M32, types.int64, types.int64),
    types.int64(_STATE, types.boolean, _PLAN, _M64, types.int64, types.int64),
)
def forward(state: Any, pooled: bool, plan: Any, x: Any, first: int, stop: int) -> int:
    """The forward pass of layers ``first`` to ``stop − 1`` (``x``: the batch's inputs); the workers found asleep."""
    return int(_forward(state, pooled, plan, x, first, stop))


@_entry(  # type: ignore[untyped-decorator]
    types.int64(_STATE, types.boolean, _PLAN, _M32, types.float32, _M32, types.float32),
    types.int64(_STATE, types.boolean, _PLAN, _M64, types.float64, _M64, types.float64),
)
def backward(state: Any, pooled: bool, plan: Any, x: Any, one: Any, y: Any, scale: Any) -> int:
    """The backward pass (the workers found asleep): from the targets ``y`` and the mean's ``scale``
    (``1/n``) for a loss fused with the output activation, or, ``y`` empty, from the output layer's
    ``grad_h`` (its db summed)."""
    return int(_backward(state, pooled, plan, x, one, y, scale))


@_entry(types.int64(_STATE, _M32, _M32, _M32), types.int64(_STATE, _M64, _M64, _M64))  # type: ignore[untyped-decorator]
def checked(state: Any, a: Any, b: Any, c: Any) -> int:
    """UNCHECKED when the pool would cut ``a · b`` and has not checked its shape; else 0."""
    return 0 if _checked(state, a, b, c) else UNCHECKED


def _step_signature(dtype: Any) -> Any:
    vector, matrix, numbers, rows = dtype[::1], dtype[:, ::1], types.float64[::1], types.intp[::1]
    return types.int64(
        _STATE, _PLAN, matrix, matrix, rows, matrix, matrix, dtype, vector, rows, numbers, rows, numbers,
        vector, vector, vector, vector, vector, types.int64, numbers,
    )  # fmt: skip


@_entry(_step_signature(types.float32), _step_signature(types.float64))  # type: ignore[untyped-decorator]
def whole_step(
    state: Any,
    plan: Any,
    inputs: Any,
    targets: Any,
    rows: Any,
    xs: Any,
    ys: Any,
    scale: Any,
    gradient: Any,
    starts: Any,
    sums: Any,
    weights: Any,
    norm_sums: Any,
    theta: Any,
    first: Any,
    second: Any,
    backup: Any,
    hyper: Any,
    rule: int,
    out: Any,
) -> int:
    """A training step of ``fit`` on one thread, its kernels in the order its hooks call them, in one call.

    The batch's ``rows`` of ``inputs`` and ``targets`` gathered into ``xs`` and ``ys``; the forward
    pass; the crossentropy of the softmax's ``h`` (``out[0]``; LOSS_NOT_FINITE ends here when it is
    not finite, as the step raises before its backward pass); the backward pass from the output error
    term ``(ŷ − y) · scale``; the gradient's squared norm (``out[1]``: ``starts``, ``sums``,
    ``weights`` and ``norm_sums`` as ``squared_norms`` takes them; NORM_NOT_FINITE stops before the
    update); the update ``rule`` of ``θ`` with the optimizer's state ``first`` and ``second`` and its
    ``hyper``-parameters, saving ``θ`` into ``backup`` (Adam: ``hyper`` as ``Adam.compiled_step``
    fills it; SGD: ``(μ, η)``); the right answers (``out[2]``).
    """
    m = rows.shape[0]
    x, y = xs[:m], ys[:m]
    _gather_rows(inputs, rows, x)
    _gather_rows(targets, rows, y)
    layers = plan[LAYERS]
    _forward(state, False, plan, x, 0, layers)
    p = FIRST_LAYER + FIELDS * (layers - 1)
    units = plan[p + UNITS]
    out[0] = _crossentropy_total(_matrix(plan[p + H], m, units, x), y, out[:0])
    if not np.isfinite(out[0]):
        return LOSS_NOT_FINITE
    _backward(state, False, plan, x, x.dtype.type(1), y, scale)
    out[1] = _squared_norms(gradient, starts, gradient.dtype.type(0), sums, weights, norm_sums)
    if not np.isfinite(out[1]):
        return NORM_NOT_FINITE
    if rule <= ADAM_COUPLED:
        _adam(theta, gradient, first, second, backup, hyper, rule == ADAM_DECOUPLED, rule == ADAM_COUPLED)
    else:
        _momentum(theta, gradient, first, backup, hyper[0], hyper[1], rule == NESTEROV)
    out[2] = _argmax_hits(_matrix(plan[p + A], m, units, x), y)
    return STEPPED


_FINGERPRINT = source_fingerprint("_pool.py", "_kernels.py", "_pool_kernels.py", "_passes.py", "_pass_kernels.py")


@_entry(types.int64())  # type: ignore[untyped-decorator]
def _fingerprint() -> int:
    return _FINGERPRINT


#: What :mod:`backprop._passes` calls.
KERNELS = {"forward_pass": forward, "backward_pass": backward, "shape_checked": checked, "whole_step": whole_step}

# As in _pool_kernels: machine code cached before a file it holds changed is compiled anew.
if _fingerprint() != _FINGERPRINT:
    for _function in (_fingerprint, *KERNELS.values()):
        _function.recompile()
