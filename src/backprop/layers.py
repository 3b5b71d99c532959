"""Layers. ``Dense`` is the seed's fully connected layer: ``a = f(x W + b)``;
``Dropout`` zeroes a random share of its inputs while training.

The arithmetic of a dense layer is written in :mod:`backprop.step`, beside
the rest of the training step; ``Dense.forward`` and ``Dense.backward`` call it.

A layer is a description until a :class:`~backprop.Network` binds it: the
network gives it its position, its input width and views of the network's one
flat parameter buffer and one flat gradient buffer. ``forward`` and
``backward`` then work on buffers that the network allocates once per batch
size, so a training step allocates nothing.

The layer protocol: ``forward(x, z, a, tmp, rng)`` writes ``z`` and ``a`` (and
may keep in ``tmp`` what ``backward`` needs); ``rng`` is the generator of a
training step, None for inference. ``backward(x, grad_z, grad_x, tmp,
bias_summed, dW, db, training)`` takes ``∂L/∂z`` of the layer and writes
``∂L/∂x`` for the layer below, filling the parameter gradients ``dW`` and ``db``
on the way (the network's gradient buffer by default, or the buffer of one call).

A layer holds no state of a pass: the buffers, the generator and where the
gradient goes are the caller's, so a ``predict``, a ``loss`` or a ``gradients``
in another thread never sees a training step's dropout masks or buffers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import check_interval, check_positive_int
from .activations import Activation, ActivationSpec, Identity, activation_from_config, get_activation
from .errors import BackpropTypeError, ParameterError
from .initializers import Initializer, get_initializer
from .step import dense_forward, error_below, weight_gradient

Array = NDArray[np.floating[Any]]


class Layer:
    """Base class of layers; see the module docstring for the protocol.

    Attributes set when a network binds the layer: ``index`` (position from
    1), ``n_in`` (input width) and ``units`` (output width).
    """

    units: int
    activation: Activation
    has_parameters = False
    #: The bias gradient, a view of the network's gradient buffer (dense layers with a bias).
    db: Array | None = None

    def __init__(self) -> None:
        self.index = 0
        self.n_in = 0

    @property
    def n_parameters(self) -> int:
        return 0

    def bind(self, index: int, n_in: int) -> None:
        """Take position ``index`` (from 1) after a layer of width ``n_in``."""
        self.index, self.n_in = index, n_in

    def forward(self, x: Array, z: Array, a: Array, tmp: Array, rng: np.random.Generator | None = None) -> Array:
        raise NotImplementedError

    def backward(
        self,
        x: Array,
        grad_z: Array,
        grad_x: Array | None,
        tmp: Array,
        bias_summed: bool = False,
        dW: Array | None = None,
        db: Array | None = None,
        training: bool = False,
    ) -> None:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """A JSON-able description from which :func:`layer_from_config` rebuilds the layer."""
        raise NotImplementedError


class Dense(Layer):
    """A fully connected layer ``z = x W + b``, ``a = f(z)``.

    Parameters
    ----------
    units : int
        Number of neurons (the width of the layer's output), > 0.
    activation : str, Activation or (function, derivative), default "identity"
        ``f``; see :mod:`backprop.activations` for the names.
    bias : bool, default True
        Whether the layer adds a bias ``b`` of shape ``(units,)``.
    init : str or callable, optional
        Weight initializer name (``"uniform"``, ``"normal_scaled"``,
        ``"uniform_scaled"``, ``"glorot_uniform"``, ``"he_normal"``) or
        ``(rng, n_in, n_out) -> W``; by default chosen by the activation.

    Attributes
    ----------
    W : ndarray of shape (n_in, units)
        The weights, a view of the network's parameter buffer (once bound).
    b : ndarray of shape (units,) or None
        The bias, a view of the same buffer.
    dW, db : ndarray
        ``∂L/∂W`` and ``∂L/∂b``, views of the network's gradient buffer.
    """

    def __init__(
        self,
        units: int,
        activation: ActivationSpec = "identity",
        bias: bool = True,
        init: str | Initializer | None = None,
    ) -> None:
        super().__init__()
        self.units = check_positive_int(units, "units")
        self.activation: Activation = get_activation(activation)
        if not isinstance(bias, bool | np.bool_):
            raise BackpropTypeError(f"bias must be True or False, got bias={bias!r}")
        self.bias = bool(bias)
        if init is not None:
            get_initializer(init)  # fail early on an unknown name
        self.init = init
        # Views of the network's buffers and where W starts in them, set by Network._bind.
        self.offset = 0
        self.W: Array = np.empty((0, 0))
        self.b: Array | None = None
        self.dW: Array = np.empty((0, 0))
        self.db: Array | None = None

    has_parameters = True

    @property
    def n_parameters(self) -> int:
        """Number of parameters once the input width is known."""
        return self.n_in * self.units + (self.units if self.bias else 0)

    def config(self) -> dict[str, Any]:
        return {"type": "Dense", "units": self.units, "activation": self.activation.config(), "bias": self.bias}

    def forward(self, x: Array, z: Array, a: Array, tmp: Array, rng: np.random.Generator | None = None) -> Array:
        """``z = x W + b`` into ``z``, ``a = f(z)`` into ``a``; returns ``a``.

        ``x`` is ``(n_samples, n_in)``; ``z``, ``a`` and the scratch ``tmp`` are
        ``(n_samples, units)`` (``a`` is ``z`` itself when ``f`` is the identity).
        ``rng`` is unused: a dense layer is the same in training and inference.
        """
        return dense_forward(x, self.W, self.b, z, a, tmp, self.activation.activate)

    def backward(
        self,
        x: Array,
        grad_z: Array,
        grad_x: Array | None,
        tmp: Array,
        bias_summed: bool = False,
        dW: Array | None = None,
        db: Array | None = None,
        training: bool = False,
    ) -> None:
        """From ``∂L/∂z`` (``(n_samples, units)``) fill ``dW``, ``db`` and ``∂L/∂x``.

        ``∂L/∂W = xᵀ ∂L/∂z``, ``∂L/∂b = Σ_samples ∂L/∂z`` and
        ``∂L/∂x = ∂L/∂z Wᵀ``: the seed's ``W δᵒ`` before ``f'(h)`` is applied.
        ``grad_x`` is None for the first layer, whose input needs no gradient.
        ``bias_summed``: ``db`` was already filled (by the activation's backward pass).
        ``dW`` and ``db`` (both or neither) receive the gradient instead of the
        layer's views of the network's gradient buffer.
        """
        if dW is None:
            dW, db = self.dW, self.db
        weight_gradient(x, grad_z, dW, db, bias_summed)
        if grad_x is not None:
            error_below(grad_z, self.W, grad_x)

    def __repr__(self) -> str:
        parts = [str(self.units), f"activation={self.activation.name!r}"]
        if not self.bias:
            parts.append("bias=False")
        if self.init is not None:
            parts.append(f"init={self.init!r}")
        return f"Dense({', '.join(parts)})"


class Dropout(Layer):
    """Inverted dropout: while training, each input is kept with probability
    ``1 − rate`` and scaled by ``1 / (1 − rate)``; outside training (predict,
    explain, gradients) the layer passes its input through unchanged.

    The masks are drawn from the generator that the training step passes to
    ``forward``; the layer keeps none, so inference in another thread during
    ``fit`` neither applies masks nor draws from the training generator.

    Parameters
    ----------
    rate : float
        The share of inputs set to zero while training, in ``[0, 1)``.
    """

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = check_interval(rate, "Dropout rate", 0.0, 1.0)
        self.activation = Identity()
        self.units = 0

    def bind(self, index: int, n_in: int) -> None:
        super().bind(index, n_in)
        self.units = n_in

    def forward(self, x: Array, z: Array, a: Array, tmp: Array, rng: np.random.Generator | None = None) -> Array:
        """``z = x ⊙ mask`` with a mask drawn from ``rng`` (training), ``z = x`` without (inference)."""
        if rng is None or self.rate == 0.0:
            np.copyto(z, x)
            return z
        # The mask, kept in tmp for backward: 1/(1 − rate) where kept, 0 where dropped.
        rng.random(out=tmp, dtype=tmp.dtype)
        np.greater_equal(tmp, self.rate, out=tmp)
        tmp *= 1.0 / (1.0 - self.rate)
        return np.multiply(x, tmp, out=z)

    def backward(
        self,
        x: Array,
        grad_z: Array,
        grad_x: Array | None,
        tmp: Array,
        bias_summed: bool = False,
        dW: Array | None = None,
        db: Array | None = None,
        training: bool = False,
    ) -> None:
        """``∂L/∂x = ∂L/∂z ⊙ mask`` after a training ``forward`` (``training=True``), else ``∂L/∂z``."""
        if grad_x is None:
            return
        if not training or self.rate == 0.0:
            np.copyto(grad_x, grad_z)
        else:
            np.multiply(grad_z, tmp, out=grad_x)

    def config(self) -> dict[str, Any]:
        return {"type": "Dropout", "rate": self.rate}

    def __repr__(self) -> str:
        return f"Dropout({self.rate!r})"


def layer_from_config(config: dict[str, Any]) -> Layer:
    """Rebuild a layer from :meth:`Layer.config`; raises ParameterError on a bad description."""
    if not isinstance(config, dict):
        raise ParameterError(f"a layer description must be a dict, got {type(config).__name__}")
    kind = config.get("type")
    if kind == "Dense":
        unknown = set(config) - {"type", "units", "activation", "bias"}
        if unknown:
            raise ParameterError(f"unknown fields {sorted(unknown)} in a Dense layer description")
        units, bias = config.get("units"), config.get("bias")
        return Dense(units, activation_from_config(config.get("activation")), bias=bias)  # type: ignore[arg-type]
    if kind == "Dropout":
        if set(config) != {"type", "rate"}:
            raise ParameterError(
                f"a Dropout layer description has exactly the fields type and rate, got {sorted(config)}"
            )
        return Dropout(config["rate"])
    raise ParameterError(f"Unknown layer type {kind!r}; expected one of ['Dense', 'Dropout']")


__all__ = ["Dense", "Dropout", "Layer", "layer_from_config"]
