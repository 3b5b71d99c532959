"""A step's layers in one compiled call: the forward and the backward pass without numpy's per-call costs.

On small layers a step is made of calls, not arithmetic: a 32 × 32 × 32
product takes 1.5 µs through ``np.matmul``, of which 0.65 µs multiply;
a bias, a derivative and the Python between them add as much again. W3's
nine layers of 32 units spent 102 µs a step where their products alone
take 40. So where a network is made of plain :class:`~backprop.layers.Dense`
layers, the compiled step (:mod:`backprop._fast`) runs its passes here:

- the **backward pass** in one call: for each layer from the output down,
  ``∂L/∂W = xᵀ · grad_h``, ``δ · Wᵀ`` into the layer below, and its
  ``⊙ f'(h)`` with its ``db`` (the kernel of :mod:`backprop._kernels`); on
  the pool, a layer's two products side by side, as one job;
- the **forward pass** in one call: ``h = x · W`` with ``+ b`` and ReLU
  fused; ``tanh`` and the softmax's ``exp`` are numpy's own loops (the
  function ``np.tanh(h, out=a)`` calls, taken from numpy by
  :func:`numpy_loop`), called from the compiled pass: libm's ``tanh`` would
  round otherwise, and a call back to numpy costs ~2.5 µs a layer (W3's nine
  ``tanh`` layers: ~25 µs a step of ~270); the sigmoid is
  ``Sigmoid.forward``'s numpy calls in turn, its two ``exp`` numpy's loop.
  Where numpy gives no such loop, the pass stops after each such layer and
  numpy finishes it.

Every product is the call ``np.matmul`` makes (numpy's own OpenBLAS, with
its transposes and leading dimensions), or the pool's blocks of it where the
step shares its products (:mod:`backprop._pool`), each block then followed
by its part of the bias and ReLU, or of ``⊙ f'(h)`` and ``db``, in the
thread that computed it; every other operation is the compiled step's
kernel: the same bits. Where numpy would not call the
BLAS's ``gemm`` (a dimension of one: a batch of one row, one input, one
unit, where numpy calls ``gemv`` or its own loop), and for any other kind
of layer, the step runs as before, hook by hook.

A plan holds one workspace's layers as addresses and sizes (one compiled
signature for every depth). It keeps the parameters it points into alive
and is checked against the layers' arrays at every call; it refers to its
workspace weakly and is used only with that workspace in hand.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from . import _kernels, _pool
from .activations import Identity, ReLU, Sigmoid, Softmax, Tanh

if TYPE_CHECKING:
    from ._validation import FloatArray
    from .layers import Dense
    from .step import Activate, Step, Workspace

# The plan: a header, then a row of FIELDS words per layer. The header holds numpy's loops for tanh and exp
# (function, context, auxdata: see numpy_loop; zeros where there are none) and the five words of a loop's
# arguments (its two arrays' addresses, their size, their two strides).
ROWS, LAYERS, TANH_LOOP, EXP_LOOP, LOOP_ARGS = 0, 1, 2, 5, 8
FIRST_LAYER = 16
FIELDS = 16
N_IN, UNITS, W, B, H, A, GRAD, DW, DB, FORWARD, DERIVATIVE, SCRATCH = range(12)
#: What the forward pass does after ``h = x · W`` (numpy's activation may follow, see ``Plan``).
PRODUCT, RELU_BIAS, SHIFT, BIAS, TANH, SOFTMAX, SIGMOID = range(7)

#: What the whole step (``Passes.whole``, ``_pass_kernels.whole_step``) returns: done, or the check it stopped at.
STEPPED, LOSS_NOT_FINITE, NORM_NOT_FINITE = range(3)
#: Its update rule: Adam without weight decay, AdamW's decay, Adam's L2 term, SGD's momentum, Nesterov's.
ADAM, ADAM_DECOUPLED, ADAM_COUPLED, MOMENTUM, NESTEROV = range(5)
#: The activations whose ``f'`` the compiled kernels apply, and the kind they take.
DERIVATIVE_KIND = {ReLU: _kernels.RELU, Tanh: _kernels.TANH, Sigmoid: _kernels.SIGMOID}
NO_POOL = np.zeros(1, np.int64)  # the state the passes are given without a pool (never read)
_MAX_PLANS = 8

_lock = threading.Lock()
_built: dict[str, Any] | None = None
_failed = False


def compiled(dtype: Any = None) -> dict[str, Any] | None:
    """The compiled passes (from numba's cache after the first run), or None where the pool cannot run.

    They call the BLAS through the symbols :mod:`backprop._pool` registers,
    so they run where it does (``dtype``: the precision to ready first).
    """
    global _built, _failed
    if _built is None and not _failed and _pool.runs_here(dtype):
        with _lock:
            if _built is None and not _failed:
                _built = _kernels.timed(_compile)
                _failed = _built is None
    return _built


def _compile() -> dict[str, Any] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from . import _pass_kernels  # compiles its functions, or loads them from numba's cache
    except Exception:  # numba cannot compile them here: the step runs hook by hook, as before
        return None
    return dict(_pass_kernels.KERNELS)


class Plan:
    """One workspace's layers as the compiled passes read them, and the numpy that finishes some layers.

    Attributes
    ----------
    table : ndarray of int64
        The header and one row of :data:`FIELDS` words per layer.
    segments : list of (int, int, callable or None)
        ``(first, stop, finish)``: one forward call for layers ``first`` to
        ``stop − 1``, then ``finish()`` (numpy's part of layer ``stop − 1``).
    backward : bool
        Whether the backward pass runs compiled (every hidden activation has a compiled ``f'``).
    """

    def __init__(self, step: Step, ws: Workspace, pool: _pool.Pool | None) -> None:
        layers = cast("list[Dense]", step.layers)
        # The workspace weakly (a plan must not keep a network's old buffers alive): the plan is used only with
        # the workspace itself in hand, whose buffers its addresses point into.
        self._ws, self.rows, self.pool = weakref.ref(ws), ws.n_samples, pool
        self.weights = [(layer.W, layer.b) for layer in layers]  # alive, and compared at every call
        m = ws.n_samples
        table = np.zeros(FIRST_LAYER + FIELDS * len(layers), np.int64)
        table[ROWS], table[LAYERS] = m, len(layers)
        dtype = ws.h[0].dtype
        tanh, exp = numpy_loop(np.tanh, dtype), numpy_loop(np.exp, dtype)
        if tanh is not None and exp is not None:
            table[TANH_LOOP : TANH_LOOP + 3], table[EXP_LOOP : EXP_LOOP + 3] = tanh, exp
        self.segments: list[tuple[int, int, Callable[[Workspace], Any] | None]] = []
        first = 0
        self.backward = True
        for l, layer in enumerate(layers):
            p = FIRST_LAYER + FIELDS * l
            h, a, b = ws.h[l], ws.a[l], layer.b
            table[p + N_IN], table[p + UNITS] = layer.n_in, layer.units
            table[p + W], table[p + B] = layer.W.ctypes.data, 0 if b is None else b.ctypes.data
            table[p + H], table[p + A], table[p + SCRATCH] = h.ctypes.data, a.ctypes.data, ws.scratch[l].ctypes.data
            table[p + GRAD], table[p + DW] = ws.grad_h[l].ctypes.data, cast("FloatArray", ws.dW[l]).ctypes.data
            db = ws.db[l]
            table[p + DB] = 0 if db is None else db.ctypes.data
            kind, finish = _forward_kind(step, l, b, bool(table[TANH_LOOP]))
            table[p + FORWARD] = kind
            derivative = DERIVATIVE_KIND.get(type(layer.activation))
            table[p + DERIVATIVE] = -1 if derivative is None else derivative
            if derivative is None and l < len(layers) - 1:
                self.backward = False  # a hidden layer without a compiled f': numpy's backward pass
            if finish is not None or l == len(layers) - 1:
                self.segments.append((first, l + 1, finish))
                first = l + 1
        self.table = table

    def of(self, ws: Workspace) -> bool:
        """Whether this is ``ws``'s plan (the workspace alive, so the addresses are its buffers')."""
        return self._ws() is ws

    def reads(self, X: FloatArray) -> bool:
        """Whether ``X`` is a batch this plan reads as numpy would (its rows, inputs, dtype, C order)."""
        W_ = self.weights[0][0]
        return X.shape == (self.rows, W_.shape[0]) and X.dtype == W_.dtype and X.flags.c_contiguous

    def current(self, step: Step) -> bool:
        """Whether the layers still hold the arrays this plan points into."""
        for layer, (W_, b) in zip(cast("list[Dense]", step.layers), self.weights, strict=True):
            if layer.W is not W_ or layer.b is not b:
                return False
        return True


def _forward_kind(
    step: Step, l: int, b: FloatArray | None, loops: bool
) -> tuple[int, Callable[[Workspace], Any] | None]:
    """What the compiled forward pass does after layer ``l``'s product, and what numpy does after it
    (``loops``: whether the pass has numpy's loops for tanh and exp)."""
    kind = type(step.layers[l].activation)
    if kind is ReLU and b is not None:
        return RELU_BIAS, None
    if kind is Identity:
        return (PRODUCT if b is None else BIAS), None
    if kind is Tanh:
        return (TANH, None) if loops else ((PRODUCT if b is None else BIAS), functools.partial(_tanh, l))
    if kind is Sigmoid and loops:
        return SIGMOID, None  # Sigmoid.forward's numpy calls, numpy's exp among them, in the pass
    if kind is Softmax:
        dtype = cast("Dense", step.layers[l]).W.dtype
        normalize = _kernels.loaded("softmax_normalize", dtype) if step.layers[l].units <= 128 else None
        if loops and normalize is not None:
            return SOFTMAX, None  # the shift, numpy's exp, and the compiled a /= Σ_j a, in the pass
        return SHIFT, functools.partial(_softmax_rest, l, normalize)
    return PRODUCT, functools.partial(_activate, step.activate[l], l, b)


def _tanh(l: int, ws: Workspace) -> None:
    np.tanh(ws.h[l], out=ws.a[l])


def _activate(activate: Activate, l: int, b: FloatArray | None, ws: Workspace) -> None:
    activate(ws.h[l], b, ws.a[l], ws.scratch[l])


def _softmax_rest(l: int, normalize: Callable[..., Any] | None, ws: Workspace) -> None:
    """The softmax after its shift (``a = h − max_j h``): numpy's exp, then ``a /= Σ_j a`` as the compiled step does."""
    a = ws.a[l]
    np.exp(a, out=a)
    if normalize is not None:
        normalize(a, _kernels.NEGATIVE_ZERO[a.dtype])
    else:
        a /= a.sum(axis=1, keepdims=True)


class _CallInfo(ctypes.Structure):
    """What ``ufunc._get_strided_loop`` puts in its capsule (numpy's ``ufunc_call_info``)."""

    _fields_ = (
        ("loop", ctypes.c_void_p),
        ("context", ctypes.c_void_p),
        ("auxdata", ctypes.c_void_p),
        ("requires_pyapi", ctypes.c_ubyte),
        ("no_floatingpoint_errors", ctypes.c_ubyte),
    )


_CALL_INFO = b"numpy_1.24_ufunc_call_info"
_LOOP = ctypes.CFUNCTYPE(ctypes.c_int, *(ctypes.c_void_p,) * 5)
_loops: dict[tuple[str, str], tuple[int, int, int] | None] = {}
_capsules: list[Any] = []  # numpy frees a loop's context and auxdata with its capsule: kept for the process


def numpy_loop(ufunc: np.ufunc, dtype: np.dtype[Any]) -> tuple[int, int, int] | None:
    """numpy's own loop of the one-input ``ufunc`` over contiguous ``dtype`` arrays: the addresses of the
    function, its context and its auxdata; None where numpy gives none.

    ``ufunc._get_strided_loop`` is numpy's way (private, since numpy 1.24,
    made for numba) to hand compiled code the loop a ufunc call runs: called
    with the two arrays' addresses, their size and strides, it computes what
    ``ufunc(x, out=y)`` computes, bit for bit, for any CPU numpy dispatches
    to. A loop that needs the GIL is not used, nor one that gives other bits
    than the ufunc on a probe of every kind of float (a numpy that changed
    what the capsule holds).
    """
    key = (ufunc.__name__, np.dtype(dtype).str)
    if key not in _loops:
        with _lock:
            if key not in _loops:
                _loops[key] = _numpy_loop(ufunc, np.dtype(dtype))
    return _loops[key]


def _numpy_loop(ufunc: np.ufunc, dtype: np.dtype[Any]) -> tuple[int, int, int] | None:
    try:
        capsule = ufunc._resolve_dtypes_and_context((dtype, dtype))[1]  # type: ignore[attr-defined]
        ufunc._get_strided_loop(capsule, fixed_strides=(dtype.itemsize, dtype.itemsize))  # type: ignore[attr-defined]
        get = ctypes.pythonapi.PyCapsule_GetPointer
        get.restype, get.argtypes = ctypes.c_void_p, (ctypes.py_object, ctypes.c_char_p)
        info = _CallInfo.from_address(get(capsule, _CALL_INFO))
    except (AttributeError, TypeError, ValueError, OSError):
        return None
    if not info.loop or info.requires_pyapi:
        return None
    with np.errstate(all="ignore"):
        finfo = np.finfo(dtype)
        special = [0.0, -0.0, np.inf, -np.inf, np.nan, finfo.tiny, finfo.smallest_subnormal, finfo.max, -finfo.max]
        probe = np.concatenate([np.array(special, dtype), np.random.default_rng(0).standard_normal(4093).astype(dtype)])
        probe[len(special) :: 2] *= np.geomspace(1e-30, 1e3, (len(probe) - len(special) + 1) // 2).astype(dtype)
        expected, got = ufunc(probe), np.empty_like(probe)
        arguments = (ctypes.c_void_p * 2)(probe.ctypes.data, got.ctypes.data)
        size, strides = (ctypes.c_ssize_t * 1)(probe.size), (ctypes.c_ssize_t * 2)(dtype.itemsize, dtype.itemsize)
        failed = _LOOP(info.loop)(info.context, arguments, size, strides, info.auxdata)
    if failed or expected.tobytes() != got.tobytes():
        return None
    _capsules.append(capsule)
    return int(info.loop), int(info.context or 0), int(info.auxdata or 0)


class Passes:
    """The compiled forward and backward passes of one step (:mod:`backprop._fast`'s), for plain dense layers."""

    def __init__(self, step: Step, kernels: dict[str, Any]) -> None:
        self.step = step
        self._forward, self._backward = kernels["forward_pass"], kernels["backward_pass"]
        self._checked = kernels["shape_checked"]
        self.whole = kernels["whole_step"]  # fit's step in one call (_fast.WholeStep)
        self.pool: _pool.Pool | None = None
        self._plans: dict[int, Plan] = {}

    def share(self, pool: _pool.Pool | None) -> None:
        """Cut the products among ``pool``'s threads from now on (None: one thread)."""
        self.pool = pool
        self._plans.clear()

    def plan(self, ws: Workspace, X: FloatArray) -> Plan | None:
        """The plan of ``ws`` for the batch ``X``, or None where the step runs hook by hook."""
        plan = self._plans.get(id(ws))
        if plan is None or not plan.of(ws) or plan.pool is not self.pool or not plan.current(self.step):
            # A new workspace, or a layer given other arrays: a plan from what the layers hold now, if they take one.
            self._plans.pop(id(ws), None)
            if ws.gradient is None or not _takes(self.step, ws):
                return None
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            plan = self._plans[id(ws)] = Plan(self.step, ws, self.pool)
            if self.pool is not None and plan.reads(X):
                self._check_shapes(ws, X)
        return plan if plan.reads(X) else None

    def forward(self, X: FloatArray, ws: Workspace, plan: Plan) -> FloatArray:
        """The forward pass of ``X`` into ``ws`` (:meth:`backprop.step.Step.forward`); returns ``ŷ``."""
        state, pooled = self._state()
        asleep = 0
        for first, stop, finish in plan.segments:
            asleep |= self._forward(state, pooled, plan.table, X, first, stop)
            if finish is not None:
                finish(ws)
        self._wake(asleep)
        return ws.a[-1]

    def backward(self, X: FloatArray, ws: Workspace, plan: Plan, bias_summed: bool) -> None:
        """The backward pass below the output error term (:meth:`backprop.step.Step.backward`)."""
        db = ws.db[-1]
        if db is not None and not bias_summed:  # numpy's loss: weight_gradient's numpy sum, as the numpy step does
            np.add.reduce(ws.grad_h[-1], axis=0, out=db)
        state, pooled = self._state()
        nothing = _kernels.NOTHING[X.dtype][:, None]
        self._wake(self._backward(state, pooled, plan.table, X, _kernels.ONE[X.dtype], nothing, X.dtype.type(0)))

    def backward_from(self, X: FloatArray, ws: Workspace, plan: Plan, y: FloatArray, scale: float) -> None:
        """The whole backward pass, from the output error term ``(ŷ − y) · scale`` of a loss fused with its
        activation (the compiled step's ``output_error``, here in the same call) and its ``db``."""
        state, pooled = self._state()
        one = _kernels.ONE[X.dtype]
        self._wake(self._backward(state, pooled, plan.table, X, one, y, X.dtype.type(scale)))

    def _state(self) -> tuple[np.ndarray[Any, Any], bool]:
        pool = self.pool
        if pool is None:
            return NO_POOL, False
        pool.rouse()  # a worker found asleep would leave every job of the pass to the caller
        return pool.state, True

    def _wake(self, asleep: int) -> None:
        if asleep and self.pool is not None:
            self.pool._wake(asleep)

    def _check_shapes(self, ws: Workspace, X: FloatArray) -> None:
        """Check, before the first pass, each product the pool would cut (the pool checks within its own calls)."""
        pool = cast(_pool.Pool, self.pool)
        for l, layer in enumerate(cast("list[Dense]", self.step.layers)):
            x = X if l == 0 else ws.a[l - 1]
            products = [(x, layer.W, ws.h[l]), (x.T, ws.grad_h[l], cast("FloatArray", ws.dW[l]))]
            if l:
                products.append((ws.grad_h[l], layer.W.T, ws.grad_h[l - 1]))
            if l and pool.threads == 2 and ws.n_samples * layer.n_in * layer.units >= _pool.MIN_PRODUCT:
                del products[1:]  # the compiled backward pass does the pair whole (pool.matmul checks if not)
            for a, b, c in products:
                if self._checked(pool.state, a, b, c) == _pool.UNCHECKED:
                    pool._check(a, b, c)


def _takes(step: Step, ws: Workspace) -> bool:
    """Whether every product of the step is one ``np.matmul`` makes with ``gemm`` (no dimension of one), and
    every weight and bias an array the compiled passes read as numpy does (the network's dtype, shape, C order).

    ``W`` and ``b`` are public: a layer may hold any array there; numpy's path takes it or says why.
    """
    if ws.n_samples < 2 or not all(step.dense):
        return False
    dtype = ws.h[0].dtype
    for layer in cast("list[Dense]", step.layers):
        if layer.n_in < 2 or layer.units < 2 or not _compact(layer.W, (layer.n_in, layer.units), dtype):
            return False
        if layer.b is not None and not _compact(layer.b, (layer.units,), dtype):
            return False
    return True


def _compact(array: Any, shape: tuple[int, ...], dtype: np.dtype[Any]) -> bool:
    return (
        isinstance(array, np.ndarray)
        and array.shape == shape
        and array.dtype == dtype
        and array.flags.c_contiguous
        and array.flags.aligned
    )


def _forget_after_fork() -> None:
    global _lock
    _lock = threading.Lock()  # perhaps held by a thread of the parent's that the child does not have


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


__all__ = ["DERIVATIVE_KIND", "Passes", "Plan", "compiled", "numpy_loop"]
