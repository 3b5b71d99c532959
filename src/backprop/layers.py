"""Layers. ``Dense`` is the seed's fully connected layer: ``a = f(x W + b)``.

A layer is a description until a :class:`~backprop.Network` binds it: the
network gives it its position, its input width and views of the network's one
flat parameter buffer and one flat gradient buffer. ``forward`` and
``backward`` then work on buffers that the network allocates once per batch
size, so a training step allocates nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import check_positive_int
from .activations import Activation, ActivationSpec, get_activation
from .errors import BackpropTypeError
from .initializers import Initializer, get_initializer

Array = NDArray[np.floating[Any]]


class Dense:
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
        ``"glorot_uniform"``, ``"he_normal"``) or ``(rng, n_in, n_out) -> W``;
        by default chosen by the activation.

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
        self.units = check_positive_int(units, "units")
        self.activation: Activation = get_activation(activation)
        if not isinstance(bias, bool | np.bool_):
            raise BackpropTypeError(f"bias must be True or False, got bias={bias!r}")
        self.bias = bool(bias)
        if init is not None:
            get_initializer(init)  # fail early on an unknown name
        self.init = init
        # Set by Network._bind.
        self.index = 0
        self.n_in = 0
        self.W: Array = np.empty((0, 0))
        self.b: Array | None = None
        self.dW: Array = np.empty((0, 0))
        self.db: Array | None = None

    @property
    def n_parameters(self) -> int:
        """Number of parameters once the input width is known."""
        return self.n_in * self.units + (self.units if self.bias else 0)

    def forward(self, x: Array, z: Array, a: Array, tmp: Array) -> Array:
        """``z = x W + b`` into ``z``, ``a = f(z)`` into ``a``; returns ``a``.

        ``x`` is ``(n_samples, n_in)``; ``z``, ``a`` and the scratch ``tmp`` are
        ``(n_samples, units)`` (``a`` is ``z`` itself when ``f`` is the identity).
        """
        np.matmul(x, self.W, out=z)
        if self.b is not None:
            z += self.b
        if a is not z:
            self.activation.forward(z, a, tmp)
        return a

    def backward(self, x: Array, grad_z: Array, grad_x: Array | None) -> None:
        """From ``∂L/∂z`` (``(n_samples, units)``) fill ``dW``, ``db`` and ``∂L/∂x``.

        ``∂L/∂W = xᵀ ∂L/∂z``, ``∂L/∂b = Σ_samples ∂L/∂z`` and
        ``∂L/∂x = ∂L/∂z Wᵀ``: the seed's ``W δᵒ`` before ``f'(h)`` is applied.
        ``grad_x`` is None for the first layer, whose input needs no gradient.
        """
        np.matmul(x.T, grad_z, out=self.dW)
        if self.db is not None:
            np.sum(grad_z, axis=0, out=self.db)
        if grad_x is not None:
            np.matmul(grad_z, self.W.T, out=grad_x)

    def __repr__(self) -> str:
        parts = [str(self.units), f"activation={self.activation.name!r}"]
        if not self.bias:
            parts.append("bias=False")
        if self.init is not None:
            parts.append(f"init={self.init!r}")
        return f"Dense({', '.join(parts)})"


__all__ = ["Dense"]
