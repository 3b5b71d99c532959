"""The fast path behind one door: the compiled training step, chosen once per ``fit``.

:func:`step_for` looks at the exact types of a network's activations, its
loss and its optimizer, and returns a :class:`backprop.step.Step` whose hooks
are the compiled kernels of :mod:`backprop._kernels` wherever a built-in type
has one, numpy elsewhere:

=====================================  =========================================
hook                                   compiled for
=====================================  =========================================
``activate[l]`` ``a = f(h + b)``       ReLU (with a bias), Softmax
``times_derivative[l]`` ``⊙ f'(h)``    ReLU, Tanh, Sigmoid (and ``db`` in the same pass)
``output_error`` ``(ŷ − y) · scale``   MSE + identity, binary crossentropy + sigmoid,
                                       crossentropy + softmax (and ``db``)
``batch_loss``                         crossentropy
``weight_update``                      SGD with momentum, Adam, AdamW (θ saved in the same pass)
``gather``, ``count_correct``,         the batch's rows, argmax hits, the gradient's
``squared_norms``                      squared norms (only when nothing clips it)
=====================================  =========================================

Where every layer is a plain :class:`~backprop.layers.Dense`, ``forward``
and ``backward`` run as compiled passes (:mod:`backprop._passes`): the
same hooks' arithmetic and numpy's own BLAS calls, a call or a few per pass.
Where, besides, nothing in ``fit``'s step needs Python (the softmax's
crossentropy, one thread, Adam, AdamW or SGD with momentum: see
:class:`WholeStep`), the whole step is one compiled call.

A subclass of a built-in type is not the built-in type: it keeps the numpy
path and its own rule. Every kernel performs the numpy path's floating-point
operations in the same order, so both give bit-identical parameters (see
:mod:`backprop._kernels` for the two reporting-only exceptions).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from . import _kernels, _passes, _pool
from ._norms import SquaredNorms
from ._threads import hold
from ._validation import FloatArray
from .activations import Identity, ReLU, Sigmoid, Softmax
from .losses import MSE, BinaryCrossentropy, Crossentropy, Loss
from .metrics import correct
from .optimizers import SGD, Adam, AdamW, Optimizer
from .step import Activate, Step, TimesDerivative, Workspace

if TYPE_CHECKING:
    from .layers import Layer

Kernel = Callable[..., Any]

#: The output activation each loss's compiled output error term is exact for.
_FUSED_OUTPUT = {MSE: Identity, BinaryCrossentropy: Sigmoid, Crossentropy: Softmax}


#: The numpy path's estimated seconds from which ``fit`` loads the kernels (when no ``fit`` has yet):
#: loading them from numba's cache takes ~0.7 s a process (numba's import and registries, then the
#: cache), and the kernels at best halve a small network's step, so a shorter run cannot win it back.
#: Measured: ``backprop train`` of a 300-row CSV, 1.55 s with the kernels against 0.68 s without;
#: of digits (1,797 × 64), 1.62 s against 1.13 s.
WORTH_LOADING_SECONDS = 1.0

#: The estimate's two costs of the numpy path, measured on small networks (2 cores): the calls of a
#: layer's step (its ufuncs and products, forward and backward), and multiply-adds per second.
_LAYER_STEP_SECONDS = 30e-6
_MULTIPLY_ADDS_PER_SECOND = 5e9


def numpy_seconds(widths: Sequence[int], rows: int, batch: int, epochs: int) -> float:
    """A rough estimate of the numpy path's seconds to train a network of ``widths`` (inputs first).

    ``epochs`` passes over ``rows`` rows in batches of ``batch``: per step
    :data:`_LAYER_STEP_SECONDS` a layer, and the forward and backward products
    (three per layer) at :data:`_MULTIPLY_ADDS_PER_SECOND`.
    """
    steps = epochs * -(-rows // max(1, batch))
    multiply_adds = 3 * batch * sum(n_in * units for n_in, units in itertools.pairwise(widths))
    return steps * ((len(widths) - 1) * _LAYER_STEP_SECONDS + multiply_adds / _MULTIPLY_ADDS_PER_SECOND)


def step_for(layers: Sequence[Layer], loss: Loss, optimizer: Optimizer, seconds: float | None = None) -> Step:
    """The step ``fit`` runs: compiled where the kernels load, the numpy :class:`Step` otherwise.

    ``seconds``: the numpy path's estimated training time (:func:`numpy_seconds`).
    Below :data:`WORTH_LOADING_SECONDS` the kernels are not loaded for this run
    (``BACKPROP_NUMBA=1`` loads them anyway); once loaded, every run uses them.
    Both steps give the same parameters, bit for bit; the history's
    crossentropy loss and gradient norms, which only report, may differ in
    their last digits (~1e-13 and ~1e-6, relative), so a short run's history
    can depend on whether an earlier ``fit`` in the process loaded the kernels.
    """
    dtype = _precision(layers)
    short = seconds is not None and seconds < WORTH_LOADING_SECONDS
    if short and not _kernels.ready(dtype) and not _kernels.always():
        return Step(layers, loss)
    # Loads (or compiles) the kernels once per process and precision: from numba's
    # on-disk cache after the first run (see _kernels.startup for the seconds it took).
    if not _kernels.enabled(dtype):
        return Step(layers, loss)
    return CompiledStep(layers, loss, optimizer)


class Threads:
    """The threads a fit's step runs on, from its start to :meth:`close`: the pool's, or the BLAS's.

    A compiled step with ``count > 1`` shares its products among the threads
    of :mod:`backprop._pool`, the BLAS held on one thread: the parameters of
    one thread. A fit that cannot have the pool (another fit in this process
    has it) does its products whole on that one BLAS thread: the same bits.
    Otherwise the BLAS runs on ``count`` threads (:func:`backprop._threads.hold`:
    the setting is the process's, so it may be another fit's count).

    Attributes
    ----------
    count : int
        The threads the step runs on (``history.threads``).
    pool : Pool or None
    """

    def __init__(self, step: Step, count: int) -> None:
        shares = count > 1 and isinstance(step, CompiledStep) and _pool.runs_here(_precision(step.layers))
        self._held = contextlib.ExitStack()
        with self._held:  # closed at once if anything below raises: the BLAS's setting given back
            held = self._held.enter_context(hold(1 if shares else count, fit=True))
            self.pool = _pool.acquire(count) if shares and held == 1 else None
            if self.pool is not None:
                self._held.callback(self.pool.release)
                cast(CompiledStep, step).share(self.pool)
            self.count = self.pool.threads if self.pool is not None else held
            self._held = self._held.pop_all()

    def close(self) -> None:
        """Give the BLAS its own thread count back, and the pool to the next fit."""
        self._held.close()
        self.pool = None

    def __repr__(self) -> str:
        return f"Threads(count={self.count}, pool={self.pool is not None})"


def activations_for(layers: Sequence[Layer]) -> list[Activate]:
    """Each layer's ``a = f(h + b)``: compiled for ReLU and Softmax once the kernels are loaded, numpy otherwise.

    Inference asks too: a ``predict`` after a ``fit`` runs the same kernels
    (the same bits, fewer passes), one in a fresh process does not import numba.
    """
    hooks: list[Activate] = [layer.activation.activate for layer in layers]
    dtype = _precision(layers)
    if dtype is None or _kernels.loaded("bias_relu", dtype) is None:
        return hooks
    for l, layer in enumerate(layers):
        kind = type(layer.activation)
        if kind is ReLU:
            hooks[l] = _bias_relu(_kernel("bias_relu", dtype), hooks[l])
        elif kind is Softmax:
            hooks[l] = _softmax(_kernel("softmax_shift", dtype), _kernel("softmax_normalize", dtype), hooks[l])
    return hooks


class CompiledStep(Step):
    """A :class:`Step` whose hooks are compiled kernels for the exact built-in types."""

    def __init__(self, layers: Sequence[Layer], loss: Loss, optimizer: Optimizer) -> None:
        super().__init__(layers, loss)
        kernel = functools.partial(_kernel, dtype=_precision(self.layers))  # step_for readied this precision
        self.activate = activations_for(self.layers)
        for l, layer in enumerate(self.layers):
            kind = type(layer.activation)
            if kind in _passes.DERIVATIVE_KIND:
                self.times_derivative[l] = _derivative(kernel("activation_backward"), _passes.DERIVATIVE_KIND[kind])
        fused = _FUSED_OUTPUT.get(type(loss))
        self._output_error = kernel("output_error") if type(self.layers[-1].activation) is fused else None
        self._loss_total = kernel("crossentropy_total") if type(loss) is Crossentropy else None
        self._update = kernel("adam") if type(optimizer) in (Adam, AdamW) else None
        self._adam = self._update is not None
        if type(optimizer) is SGD and optimizer.momentum:
            self._update = kernel("momentum")
        self.gather: Kernel | None = kernel("gather_rows")
        self._hits, self._hits_dtype = kernel("argmax_hits"), _precision(self.layers)
        self.squared_norms: Kernel | None = kernel("squared_norms")
        # Plain dense layers: each pass in one compiled call (or a few), where the BLAS's symbols are found.
        compiled = _passes.compiled(_precision(self.layers)) if all(self.dense) else None
        self._passes = _passes.Passes(self, compiled) if compiled is not None else None
        self._forward_plan: _passes.Plan | None = None

    def share(self, pool: _pool.Pool) -> None:
        """Cut this step's products, and Adam's update, into blocks that ``pool``'s threads share.

        The parameters keep the bits of one thread: see :mod:`backprop._pool`.
        """
        self.matmul = pool.matmul
        if self._passes is not None:
            self._passes.share(pool)
        if self._adam:
            self._update = functools.partial(pool.adam, self._update)

    def forward(self, X: FloatArray, ws: Workspace, rng: np.random.Generator | None = None) -> FloatArray:
        passes = self._passes
        plan = None if passes is None or X.shape[0] != ws.n_samples else passes.plan(ws, X)
        self._forward_plan = None
        if plan is None:
            return super().forward(X, ws, rng)
        ws.training = rng is not None
        self._forward_plan = plan
        return passes.forward(X, ws, plan)  # type: ignore[union-attr]

    def backward(self, ws: Workspace, X: FloatArray, y: FloatArray, scale: Any) -> None:
        passes, plan = self._passes, self._forward_plan
        if plan is None or not plan.of(ws) or not plan.reads(X):  # the forward pass's plan, usually
            plan = None if passes is None else passes.plan(ws, X)
        if plan is None or not plan.backward:
            super().backward(ws, X, y, scale)
            return
        fused = self._output_error is not None and isinstance(scale, float)
        if fused and y.dtype == X.dtype and y.shape == ws.a[-1].shape:
            passes.backward_from(X, ws, plan, y, scale)  # type: ignore[union-attr]  # the output error term too
            return
        bias_summed = self.output_error_term(ws, y, scale)
        passes.backward(X, ws, plan, bias_summed)  # type: ignore[union-attr]

    def output_error(
        self,
        h: FloatArray,
        a: FloatArray,
        y: FloatArray,
        grad_h: FloatArray,
        scratch: FloatArray,
        scale: Any,
        db: FloatArray | None,
    ) -> bool:
        kernel = self._output_error
        if kernel is not None:
            if isinstance(scale, (float, int)):  # a tuple: no union made per call
                number, rows = grad_h.dtype.type(scale), _kernels.NOTHING[grad_h.dtype]
            elif isinstance(scale, np.ndarray) and scale.dtype == grad_h.dtype and scale.shape == (grad_h.shape[0], 1):
                number, rows = _kernels.ONE[grad_h.dtype], scale[:, 0]
            else:
                return super().output_error(h, a, y, grad_h, scratch, scale, db)
            # (ŷ − y) · scale, rounded after each operation as the numpy path does; then db = Σ grad_h.
            fused = _sums_in_order(db)
            kernel(a, y, grad_h, number, rows, db if fused else _kernels.NOTHING[grad_h.dtype])
            return fused
        return super().output_error(h, a, y, grad_h, scratch, scale, db)

    def batch_loss(self, h: FloatArray, a: FloatArray, y: FloatArray, weights: FloatArray | None = None) -> float:
        if self._loss_total is None:
            return super().batch_loss(h, a, y, weights)
        # One pass per row in float64; libm's exp and log1p: within ~1e-13 of numpy's (it only reports).
        return float(self._loss_total(h, y, _UNWEIGHTED if weights is None else weights))

    def weight_update(
        self, optimizer: Optimizer, parameters: FloatArray, gradient: FloatArray, backup: FloatArray
    ) -> None:
        if self._update is None:
            super().weight_update(optimizer, parameters, gradient, backup)
            return
        # Saves θ into backup and steps in one pass over θ, g and the optimizer's state.
        optimizer.compiled_step(self._update, parameters, gradient, backup)

    def count_correct(self, output: FloatArray, targets: FloatArray, multilabel: bool) -> int:
        if multilabel or output.dtype != self._hits_dtype:
            return count_correct(output, targets, multilabel)
        return int(self._hits(output, targets))


class WholeStep:
    """``fit``'s step in one compiled call (``_pass_kernels.whole_step``): its kernels, in its hooks' order.

    On a small network a step is mostly the calls between its kernels: W3's step
    took 217 µs in ``fit`` against 162 for its six kernel calls alone, W2's 388
    against 327 (AMD EPYC, 2026-12-06). For a :class:`CompiledStep` whose
    passes are compiled, of the softmax's crossentropy, on one thread (no pool),
    trained by Adam, AdamW or SGD with momentum and no weight decay (SGD's is
    added to ``g`` after the norms), ``fit`` (:meth:`backprop.training.Trainer.whole_step`)
    hands the whole step to one call: gather, forward pass, loss, backward
    pass, norms, update and right answers. Same kernels, same order: same bits.
    Not for a network of ``optimizers.Headroom.SMALLEST`` parameters or more,
    whose steps save ``θ`` only when it could overflow (the check is Python,
    and there the step's arithmetic outweighs its calls), nor for a fit's first
    step, which allocates the optimizer's state.

    Attributes
    ----------
    out : ndarray of float64, shape (3,)
        After a call: the batch's summed loss; the gradient's squared norm, once the loss is finite; the
        right answers, once the step is taken.
    """

    def __init__(
        self, step: CompiledStep, inputs: FloatArray, targets: FloatArray, norms: SquaredNorms, backup: FloatArray
    ) -> None:
        self.step, self.inputs, self.targets, self.norms, self.backup = step, inputs, targets, norms, backup
        self.out = np.zeros(3)
        self.velocity_hyper = np.empty(2, targets.dtype)  # SGD's (μ, η)
        self._plan: _passes.Plan | None = None  # that of the last call's workspace

    @classmethod
    def of(cls, step: Step, inputs: Any, targets: Any, norms: SquaredNorms, backup: FloatArray) -> WholeStep | None:
        """The step in one call for ``step``, or None where its hooks must run (see the class)."""
        if not isinstance(step, CompiledStep) or step._passes is None or norms.kernel is None:
            return None  # numpy's passes, or norms summed in order (clipping)
        if step._loss_total is None or step._output_error is None or step._update is None:
            return None  # not the softmax's crossentropy, or no compiled update
        dtype, arrays = _precision(step.layers), (inputs, targets, backup)
        if not all(type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous for a in arrays):
            return None  # the kernel's signature: C-ordered arrays of the network's precision
        return cls(step, inputs, targets, norms, backup)

    def __call__(
        self,
        rows: np.ndarray[Any, Any],
        ws: Workspace,
        batch: tuple[FloatArray, FloatArray],
        norm_sums: np.ndarray[Any, Any],
        optimizer: Optimizer,
        parameters: FloatArray,
    ) -> int | None:
        """The step on the training ``rows``, into ``ws`` and the network's gradient, its inputs and targets
        gathered into ``batch``: ``_passes.STEPPED``, or the check it stopped at (the optimizer's step then
        not counted); None where the hooks must run it."""
        passes, (xs, ys), m = self.step._passes, batch, rows.shape[0]
        if passes is None or passes.pool is not None:
            return None
        plan = self._plan
        if plan is None or not plan.of(ws) or not plan.current(self.step):
            plan = self._plan = passes.plan(ws, xs[:m])
            if plan is None or not plan.backward or len(plan.segments) != 1 or plan.segments[0][2] is not None:
                self._plan = None  # numpy finishes a layer, or runs the backward pass: the hooks
                return None
        if (type(optimizer) is SGD and optimizer.weight_decay) or not optimizer.holds_state_for(parameters):
            return None  # SGD adds its decay to g after the norms; a first step allocates the optimizer's state
        norms = self.norms
        gradient = norms.gradient
        state = optimizer.compiled_arguments(parameters, gradient)
        if len(state) == 4:  # SGD: (b, μ, η, nesterov)
            first, second, hyper = state[0], _kernels.NOTHING[gradient.dtype], self.velocity_hyper
            hyper[0], hyper[1] = state[1], state[2]
            rule = _passes.NESTEROV if state[3] else _passes.MOMENTUM
        else:  # Adam: (m, v, hyper, decoupled, coupled)
            first, second, hyper = state[0], state[1], state[2]
            rule = _passes.ADAM_DECOUPLED if state[3] else _passes.ADAM_COUPLED if state[4] else _passes.ADAM
        arguments = (self.inputs, self.targets, rows, xs, ys, gradient.dtype.type(1.0 / m), gradient, norms.starts)
        code: int = passes.whole(
            _passes.NO_POOL, plan.table, *arguments, norms.sums, norms.weights, norm_sums,
            parameters, first, second, self.backup, hyper, rule, self.out,
        )  # fmt: skip
        if code != _passes.STEPPED:
            optimizer.steps -= 1  # not taken: the hooks' step raises, or redoes the norms in float64
        return code


def count_correct(output: FloatArray, targets: FloatArray, multilabel: bool) -> int:
    """:func:`backprop.metrics.correct`, by the compiled argmax once the kernels are loaded."""
    kernel = None if multilabel else _kernels.loaded("argmax_hits", output.dtype)
    if kernel is None:
        return correct(output, targets, multilabel)
    return int(kernel(output, targets))


def _precision(layers: Sequence[Layer]) -> np.dtype[Any] | None:
    """The parameters' dtype, that of every layer's weights (None, both precisions, when none has weights)."""
    for layer in layers:
        weights = getattr(layer, "W", None)
        if isinstance(weights, np.ndarray) and weights.size:
            dtype: np.dtype[Any] = weights.dtype
            return dtype
    return None


def _kernel(name: str, dtype: Any) -> Kernel:
    """The compiled kernel ``name``, ready for ``dtype`` (:func:`step_for` checked)."""
    kernel = _kernels.loaded(name, dtype)
    if kernel is None:  # the kernels were switched off since step_for looked
        raise RuntimeError(f"the compiled kernel {name!r} is not loaded")
    return kernel


#: Tells the crossentropy kernel that the samples are not weighted.
_UNWEIGHTED = _kernels.NOTHING[np.dtype(np.float64)]


def _bias_relu(kernel: Kernel, numpy_path: Activate) -> Activate:
    def activate(h: FloatArray, b: FloatArray | None, a: FloatArray, scratch: FloatArray) -> FloatArray:
        if b is None:
            return numpy_path(h, b, a, scratch)
        kernel(h, b, a)  # h += b; a = max(h, 0) in one pass
        return a

    return activate


def _softmax(shift: Kernel, normalize: Kernel, numpy_path: Activate) -> Activate:
    def activate(h: FloatArray, b: FloatArray | None, a: FloatArray, scratch: FloatArray) -> FloatArray:
        if not (h.flags.c_contiguous and a.flags.c_contiguous):
            return numpy_path(h, b, a, scratch)
        shift(h, _kernels.NOTHING[h.dtype] if b is None else b, a)  # h += b; a = h − max_j h
        np.exp(a, out=a)  # numpy's exp: libm's rounds differently
        if a.shape[1] <= 128:
            normalize(a, _kernels.NEGATIVE_ZERO[a.dtype])  # a /= Σ_j a, summed in numpy's order
        else:
            a /= a.sum(axis=1, keepdims=True)
        return a

    return activate


def _sums_in_order(db: FloatArray | None) -> bool:
    """Whether a kernel's row-by-row sum gives ``db`` numpy's bits (else weight_gradient's numpy sums it).

    ``np.add.reduce(grad_h, axis=0)`` adds an ``(n, k)`` array row by row, as
    the kernels do, for ``k > 1``; a single column is one contiguous run, which
    numpy adds pairwise (eight running sums, blocks of 128): other bits from
    nine rows on. A one-unit layer (a regression's or a yes/no output) leaves
    its ``db`` to numpy.
    """
    return db is not None and db.shape[0] > 1


def _derivative(kernel: Kernel, kind: int) -> TimesDerivative:
    def times_derivative(
        grad_h: FloatArray, h: FloatArray, a: FloatArray, scratch: FloatArray, db: FloatArray | None
    ) -> bool:
        # grad_h *= f'(h) from a, then db = Σ_samples grad_h; an empty db: no bias to sum (here, or
        # numpy's in weight_gradient for a single unit: see _sums_in_order).
        fused = _sums_in_order(db)
        kernel(grad_h, a, db if fused else _kernels.NOTHING[grad_h.dtype], _kernels.ONE[grad_h.dtype], kind)
        return fused

    return times_derivative


__all__ = ["CompiledStep", "Threads", "activations_for", "count_correct", "step_for"]
