"""One step of backpropagation, in the seed's words: the engine ``fit`` runs.

The seed trains a 3-2-1 sigmoid network with four formulas; this module is
those four formulas for any number of layers, on whole batches::

    forward pass          h = x · W + b,   a = f(h)           layer by layer, a of one is x of the next
    output error term     δᵒ = (y − ŷ) ⊙ f'(h)                (y − ŷ when f is the loss's own output)
    hidden error term     δʰ = (δ · Wᵀ) ⊙ f'(h)               the seed's δʰ = W δᵒ f'(h)
    weight update         ΔW = η · xᵀ · δ                     the seed's Δw = η δ x

One sign differs from the seed, and only in name: the buffers hold
``grad_h = ∂L/∂h = −δ``, the gradient of the loss, so that the weight
gradient is ``∂L/∂W = xᵀ · grad_h`` and every optimizer moves against it
(``W ← W − η ∂L/∂W``, which for plain SGD is the seed's ``W ← W + η δ x``).
Negating is exact in floating point: the numbers are the seed's to the bit.
(``h`` is the seed's name for a layer's input; the activations, the losses
and the messages call it ``z``.)

Where things live:

- :class:`Workspace` — the per-layer buffers ``h``, ``a``, ``error`` of one
  batch size, and the views ``dW``, ``db`` of a flat gradient buffer;
- :func:`dense_forward`, :func:`weight_gradient`, :func:`error_below` — the
  dense layer's arithmetic (:class:`backprop.layers.Dense` calls them too);
- :class:`Step` — the step itself: :meth:`Step.forward`,
  :meth:`Step.output_error_term`, :meth:`Step.hidden_error_term`,
  :meth:`Step.backward`, :meth:`Step.weight_update`. It runs numpy and is the
  reference: the compiled step of :mod:`backprop._fast` replaces a few of its
  hooks (``activate``, ``times_derivative``, ``output_error``, ``batch_loss``,
  ``weight_update``, ``count_correct``, ``gather``, ``squared_norms``) with
  fused kernels that give the same bits, and for plain dense layers runs
  ``forward`` and ``backward`` as compiled passes (:mod:`backprop._passes`):
  these functions' arithmetic, call for call, without numpy's cost per call.

:mod:`backprop.textbook` is the same algorithm as a learner would write it
(new arrays everywhere, float64); ``tests/test_textbook.py`` ties the two
together step for step. Imports numpy and the library's core only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from . import _buffers, _memory
from ._validation import FloatArray, scaled_weights
from .activations import Identity
from .errors import DataError
from .metrics import correct

if TYPE_CHECKING:  # layers imports this module: Dense's arithmetic is written here
    from .layers import Dense, Layer
    from .losses import Loss
    from .optimizers import Optimizer

#: ``activate(h, b, a, scratch)``: ``a = f(h + b)`` in place (``b`` may be None); returns ``a``.
Activate = Callable[[FloatArray, FloatArray | None, FloatArray, FloatArray], FloatArray]
#: ``times_derivative(grad_h, h, a, scratch, db)``: ``grad_h *= f'(h)``; True when it also summed ``db``.
TimesDerivative = Callable[[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray | None], bool]
#: ``matmul(a, b, out=c)``: the matrix product ``c = a · b``, numpy's or one with the same bits.
Product = Callable[..., Any]


def widths(n_inputs: int, layers: Sequence[Layer]) -> str:
    """``"10-100000-100000-2"``: the input and the dense layers' widths, for messages."""
    return "-".join(str(width) for width in [n_inputs, *(layer.units for layer in layers if layer.has_parameters)])


def workspace_bytes(layers: Sequence[Layer], n_samples: int, dtype: np.dtype[Any], backward: bool = True) -> int:
    """What a :class:`Workspace` of ``n_samples`` rows allocates, in bytes."""
    per_row = sum(
        layer.units * ((3 if isinstance(layer.activation, Identity) else 4) - (0 if backward else 1))
        for layer in layers
    )
    return n_samples * per_row * dtype.itemsize


class Workspace:
    """Per-layer buffers for one batch size, reused from batch to batch.

    Attributes
    ----------
    h : list of ndarray of shape (n_samples, units)
        ``h[l] = x · W + b``, the layer's input (the seed's ``hidden_layer_input``).
    a : list of ndarray of shape (n_samples, units)
        ``a[l] = f(h[l])``, the layer's output; the same buffer as ``h[l]`` when ``f`` is the identity.
    grad_h : list of ndarray of shape (n_samples, units)
        ``∂L/∂a[l]``, then, in place, ``∂L/∂h[l] = −δ[l]``: the error term with
        the gradient's sign (only with a ``gradient``).
    scratch : list of ndarray of shape (n_samples, units)
        The activation's scratch (a Dropout layer keeps its mask there).
    dW, db : list of (ndarray or None)
        Views of ``gradient`` laid out like the parameters: ``∂L/∂W[l]`` and
        ``∂L/∂b[l]`` (None for a Dropout layer or a missing bias).
    training : bool
        Whether the last forward pass drew dropout masks (the backward pass then applies them).
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        n_samples: int,
        dtype: np.dtype[Any],
        gradient: FloatArray | None = None,
        what: str = "",
    ) -> None:
        _memory.check_large(
            workspace_bytes(layers, n_samples, dtype, gradient is not None),
            what or f"the buffers of {n_samples:,} rows through a network of widths {widths(layers[0].n_in, layers)}",
        )
        self.n_samples = n_samples
        self.training = False
        self.gradient = gradient
        self.h: list[FloatArray] = []
        self.a: list[FloatArray] = []
        self.grad_h: list[FloatArray] = []
        self.scratch: list[FloatArray] = []
        self.dW: list[FloatArray | None] = []
        self.db: list[FloatArray | None] = []
        for index, layer in enumerate(layers):
            # Each buffer at its own page offset: the layer kernels read one while writing another.
            shape, slot = (n_samples, layer.units), 4 * index
            h = _buffers.empty(shape, dtype, slot)
            self.h.append(h)
            self.a.append(h if isinstance(layer.activation, Identity) else _buffers.empty(shape, dtype, slot + 1))
            self.scratch.append(_buffers.empty(shape, dtype, slot + 2))
            if gradient is None:
                continue
            self.grad_h.append(_buffers.empty(shape, dtype, slot + 3))
            if layer.has_parameters:
                dense = cast("Dense", layer)
                start, n_w = dense.offset, dense.n_in * dense.units
                self.dW.append(gradient[start : start + n_w].reshape(dense.n_in, dense.units))
                self.db.append(gradient[start + n_w : start + n_w + dense.units] if dense.bias else None)
            else:
                self.dW.append(None)
                self.db.append(None)

    def first(self, n_samples: int) -> Workspace:
        """The first ``n_samples`` rows of every buffer: a smaller batch's workspace without new memory.

        Each view starts where its buffer starts and keeps its row length, so
        the matrix products see what a workspace made for ``n_samples`` rows
        would show them, and give the same bits.
        """
        if not 0 <= n_samples <= self.n_samples:
            raise ValueError(f"a view of {n_samples} rows of a workspace of {self.n_samples}")
        view = copy.copy(self)
        view.n_samples = n_samples
        view.h = [h[:n_samples] for h in self.h]
        view.a = [view.h[i] if a is h else a[:n_samples] for i, (a, h) in enumerate(zip(self.a, self.h, strict=True))]
        view.grad_h = [g[:n_samples] for g in self.grad_h]
        view.scratch = [s[:n_samples] for s in self.scratch]
        return view


# ------------------------------------------------------------ a dense layer


def dense_forward(
    x: FloatArray,
    W: FloatArray,
    b: FloatArray | None,
    h: FloatArray,
    a: FloatArray,
    scratch: FloatArray,
    f: Activate,
    matmul: Product = np.matmul,
) -> FloatArray:
    """The forward pass of one dense layer: ``h = x · W + b`` into ``h``, ``a = f(h)`` into ``a``; returns ``a``.

    ``x`` is ``(n_samples, n_in)``, ``W`` ``(n_in, units)``, ``b`` ``(units,)``
    or None; ``a`` is ``h`` itself when ``f`` is the identity.
    """
    matmul(x, W, out=h)  # the seed's hidden_layer_input = x.dot(weights_input_to_hidden)
    if a is h:  # the identity: h is the output
        if b is not None:
            h += b
        return a
    return f(h, b, a, scratch)  # the seed's hidden_layer_output = sigmoid(hidden_layer_input)


def weight_gradient(
    x: FloatArray,
    grad_h: FloatArray,
    dW: FloatArray,
    db: FloatArray | None,
    bias_summed: bool = False,
    matmul: Product = np.matmul,
) -> None:
    """``∂L/∂W = xᵀ · grad_h`` into ``dW`` and ``∂L/∂b = Σ_samples grad_h`` into ``db``.

    With ``grad_h = −δ`` this is the seed's weight update ``ΔW = η xᵀ δ``
    before the learning rate and the sign: the optimizer applies both.
    ``bias_summed``: ``db`` was filled already (by a fused kernel).
    """
    matmul(x.T, grad_h, out=dW)
    if db is not None and not bias_summed:
        np.add.reduce(grad_h, axis=0, out=db)


def error_below(grad_h: FloatArray, W: FloatArray, grad_below: FloatArray, matmul: Product = np.matmul) -> None:
    """``grad_below = grad_h · Wᵀ``: the layer below's hidden error term before its ``f'(h)`` (the seed's ``W δᵒ``)."""
    matmul(grad_h, W.T, out=grad_below)


# ------------------------------------------------------------------- a step


def mean_scale(n_samples: int, sample_weight: FloatArray | None, dtype: np.dtype[Any]) -> Any:
    """``1/n``, or ``w / Σw`` of shape ``(n, 1)``: turns per-sample error terms into those of the (weighted) mean."""
    if sample_weight is None:
        return 1.0 / n_samples
    scaled = scaled_weights(sample_weight)  # exact, and Σ cannot overflow
    return (scaled / scaled.sum()).astype(dtype)[:, None]


class Step:
    """One step of backpropagation through ``layers`` for ``loss``: the numpy reference.

    Parameters
    ----------
    layers : sequence of Layer
        A network's bound layers (``net.layers``).
    loss : Loss

    Notes
    -----
    ``activate[l]`` and ``times_derivative[l]`` are each layer's ``f`` and
    ``f'``, chosen once here; :func:`backprop._fast.step_for` builds a
    :class:`Step` whose hooks are compiled kernels for the built-in types.
    """

    def __init__(self, layers: Sequence[Layer], loss: Loss) -> None:
        from .layers import Dense  # here: layers imports this module for the dense arithmetic

        self.layers = list(layers)
        self.loss = loss
        # Dense layers run the arithmetic written here; a subclass of Dense (or any other layer) its own methods.
        self.dense = [type(layer) is Dense for layer in self.layers]
        self.activate: list[Activate] = [layer.activation.activate for layer in self.layers]
        self.times_derivative: list[TimesDerivative] = [layer.activation.backward_summed for layer in self.layers]
        # The training loop's helpers that a compiled step replaces: numpy's take, norms and argmax here.
        self.gather: Callable[..., Any] | None = None
        self.squared_norms: Callable[..., Any] | None = None
        # The matrix products: numpy's here; a compiled step may share them among threads (the same bits).
        self.matmul: Product = np.matmul

    # -- the forward pass ------------------------------------------------------

    def forward(self, X: FloatArray, ws: Workspace, rng: np.random.Generator | None = None) -> FloatArray:
        """The forward pass of ``X`` (``(n, n_inputs)``, ``n <= ws.n_samples``) into ``ws``; returns ``ŷ``.

        ``rng`` is the generator of a training step (Dropout layers draw their masks from it); None for inference.
        """
        n = X.shape[0]
        whole = n == ws.n_samples  # the training loop's case: whole buffers, no views to make
        ws.training = rng is not None
        x = X
        for l, layer in enumerate(self.layers):
            h, a, scratch = (
                (ws.h[l], ws.a[l], ws.scratch[l]) if whole else (ws.h[l][:n], ws.a[l][:n], ws.scratch[l][:n])
            )
            if self.dense[l]:  # h = x · W + b, a = f(h)
                dense = cast("Dense", layer)
                x = dense_forward(x, dense.W, dense.b, h, a, scratch, self.activate[l], self.matmul)
            else:
                x = layer.forward(x, h, a, scratch, rng)
        return x

    # -- the backward pass -----------------------------------------------------

    def output_error_term(self, ws: Workspace, y: FloatArray, scale: Any) -> bool:
        """``grad_h = ∂L/∂h = −δᵒ`` of the output layer, where ``δᵒ = (y − ŷ) ⊙ f'(h)`` per sample, times ``scale``.

        ``scale`` turns per-sample terms into the mean's: ``1/n``, ``w / Σw``
        of shape ``(n, 1)``, or 1 to keep them per sample. Returns True when
        the output layer's ``db`` was summed on the way.
        """
        last = len(self.layers) - 1
        return self.output_error(ws.h[last], ws.a[last], y, ws.grad_h[last], ws.scratch[last], scale, ws.db[last])

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
        """The hook of :meth:`output_error_term` (numpy): ``(ŷ − y) ⊙ f'(h) · scale``, or ``(ŷ − y) · scale`` fused."""
        return self.loss.output_gradient_summed(h, a, y, self.layers[-1].activation, grad_h, scratch, scale, db)

    def hidden_error_term(self, l: int, ws: Workspace) -> bool:
        """``grad_h[l] *= f'(h[l])``: the hidden error term ``δʰ = (δ · Wᵀ) ⊙ f'(h)`` of layer ``l``
        once :func:`error_below` has written ``δ · Wᵀ`` of the layer above. True when ``db[l]`` was summed.
        """
        return self.times_derivative[l](ws.grad_h[l], ws.h[l], ws.a[l], ws.scratch[l], ws.db[l])

    def backward(self, ws: Workspace, X: FloatArray, y: FloatArray, scale: Any) -> None:
        """Fill ``ws.dW`` and ``ws.db`` (the gradient buffer) from the forward pass in ``ws``.

        From the output layer down: the output error term, then per layer the
        weight gradient and the error term of the layer below.
        """
        bias_summed = self.output_error_term(ws, y, scale)
        for l in range(len(self.layers) - 1, -1, -1):
            layer, grad_h = self.layers[l], ws.grad_h[l]
            x = ws.a[l - 1] if l else X
            grad_below = ws.grad_h[l - 1] if l else None  # the first layer's input needs no error term
            if self.dense[l]:
                dW = cast("FloatArray", ws.dW[l])
                weight_gradient(x, grad_h, dW, ws.db[l], bias_summed, self.matmul)  # ∂L/∂W = xᵀ · grad_h
                if grad_below is not None:
                    error_below(grad_h, cast("Dense", layer).W, grad_below, self.matmul)  # δ · Wᵀ
            else:  # Dropout passes the error back through its mask; other layers by their own rule
                layer.backward(x, grad_h, grad_below, ws.scratch[l], bias_summed, ws.dW[l], ws.db[l], ws.training)
            if grad_below is not None:
                bias_summed = self.hidden_error_term(l - 1, ws)  # ⊙ f'(h) of the layer below

    def batch_loss(self, h: FloatArray, a: FloatArray, y: FloatArray, weights: FloatArray | None = None) -> float:
        """``Σ wᵢ ℓᵢ`` of the batch in float64 (the hook a compiled step replaces for crossentropy)."""
        return self.loss.total(h, a, y, weights)

    def count_correct(self, output: FloatArray, targets: FloatArray, multilabel: bool) -> int:
        """Rows whose predicted class (argmax), or every predicted label (≥ ½), is right."""
        return correct(output, targets, multilabel)

    # -- the weight update -----------------------------------------------------

    def weight_update(
        self, optimizer: Optimizer, parameters: FloatArray, gradient: FloatArray, backup: FloatArray
    ) -> None:
        """Save ``θ`` into ``backup`` (unless it is empty), then let ``optimizer`` move ``θ`` against ``∂L/∂θ``.

        For ``SGD(lr)`` that is ``θ ← θ − η ∂L/∂θ``: the seed's ``Δw = η δ x``.
        """
        if backup.size:
            np.copyto(backup, parameters)
        optimizer.step(parameters, gradient)


def checked_forward(
    step: Step, X: FloatArray, ws: Workspace, dtype: np.dtype[Any], check_parameters: Callable[[], None]
) -> FloatArray:
    """:meth:`Step.forward` (inference) that raises :class:`DataError` naming the first layer whose ``h`` overflowed.

    ``check_parameters`` (the network's) runs first then: a weight that is not finite is named instead.
    """
    n = X.shape[0]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        output = step.forward(X, ws)
    # h, not ŷ: a saturating output (σ(inf) = 1) would hide an infinite weight.
    for index, h in enumerate(ws.h, start=1):
        if not (np.isfinite(h[:n].min()) and np.isfinite(h[:n].max())):
            check_parameters()
            raise overflowed(index, X, dtype)
    return output


def overflowed(index: int, X: FloatArray, dtype: np.dtype[Any]) -> DataError:
    """The error for layer ``index`` (from 1) whose ``h`` is not finite for ``X``."""
    return DataError(
        f"layer {index} overflowed: its input z is not finite in {dtype.name} "
        f"(inputs up to {np.abs(X).max():.3g} in magnitude); scale the inputs"
        + (" or use float64" if dtype == np.float32 else "")
    )


def checked_backward(step: Step, ws: Workspace, X: FloatArray, y: FloatArray, scale: Any, dtype: np.dtype[Any]) -> None:
    """:meth:`Step.backward` that raises :class:`DataError` naming the layer where the gradient stopped being finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        step.backward(ws, X, y, scale)
    gradient = ws.gradient
    if gradient is None or (np.isfinite(gradient.min()) and np.isfinite(gradient.max())):
        return
    # The pass runs from the output down: the last layer with a non-finite gradient is where it began.
    index, dW, db = next(
        (layer.index, dW, db)
        for layer, dW, db in reversed(list(zip(step.layers, ws.dW, ws.db, strict=True)))
        if dW is not None and not (np.isfinite(dW).all() and (db is None or np.isfinite(db).all()))
    )
    nan = bool(np.isnan(dW).any() or (db is not None and np.isnan(db).any()))
    cause = "an activation's derivative returned NaN, or the backward pass overflowed" if nan else "it overflowed"
    raise DataError(
        f"the gradient of layer {index} is not finite in {dtype.name} ({cause}); "
        "scale the inputs or targets" + (", or use float64" if dtype == np.float32 else "")
    )


__all__ = [
    "Step",
    "Workspace",
    "checked_backward",
    "checked_forward",
    "dense_forward",
    "error_below",
    "mean_scale",
    "overflowed",
    "weight_gradient",
    "widths",
    "workspace_bytes",
]
