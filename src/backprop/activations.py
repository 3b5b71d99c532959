"""Activation functions ``a = f(z)`` and their backward rule.

Every activation works in place on preallocated buffers: ``forward`` writes
``f(z)`` into ``out``, and ``backward`` turns the gradient with respect to the
layer output into the gradient with respect to ``z`` by multiplying it, in
place, by ``f'(z)``. That product is the seed's *hidden error term*
``δʰ = W δᵒ f'(h)`` up to the sign convention (the code carries ``∂L/∂z``,
which is ``−δ``).

Derivatives are taken from the cached output ``a`` wherever that is exact
(``σ' = a(1 − a)``, ``tanh' = 1 − a²``, ``relu' = [a > 0]``, ...), never by
evaluating the activation a second time. All forms are numerically stable:
no overflow warning and no NaN for ``|z| <= 1e4`` in float32 and float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import as_array, as_float_array, is_number, shown
from .errors import BackpropTypeError, ParameterError, ShapeError

Array = NDArray[np.floating[Any]]


class Activation:
    """Base class: an elementwise (or, for softmax, row-wise) activation.

    Subclasses implement :meth:`forward` and :meth:`backward`. Both may use
    ``tmp``, a scratch buffer shaped like ``a``, so that neither allocates.

    Attributes
    ----------
    name : str
        The name used in error messages, explain traces and model files.
    formula, derivative_formula : str
        The right-hand sides of ``f(z) = ...`` and ``f'(z) = ...``, in ``z``
        and the cached output ``a``, as shown by :func:`backprop.explain`.
    output_only : bool
        True for activations that only make sense on the output layer.
    kinked : bool
        True when ``f`` is not twice differentiable at ``z = 0`` (gradcheck
        skips finite differences that straddle the kink).
    """

    name = "activation"
    formula = "f(z)"
    derivative_formula = "f'(z)"
    output_only = False
    kinked = False

    def forward(self, z: Array, out: Array, tmp: Array) -> Array:
        """Write ``f(z)`` into ``out`` (shape ``(n_samples, units)``) and return it.

        ``out`` and ``tmp`` are distinct from ``z`` and from each other.
        """
        raise NotImplementedError

    def backward(self, grad: Array, z: Array, a: Array, tmp: Array) -> Array:
        """Multiply ``grad`` (``∂L/∂a``) in place by ``f'(z)``, giving ``∂L/∂z``."""
        raise NotImplementedError

    def forward_biased(self, z: Array, b: Array, out: Array, tmp: Array) -> Array:
        """``z += b``, then :meth:`forward`: a dense layer's ``a = f(x W + b)`` from ``x W``.

        ``b`` has shape ``(units,)``.
        """
        z += b
        return self.forward(z, out, tmp)

    def activate(self, z: Array, b: Array | None, out: Array, tmp: Array) -> Array:
        """:meth:`forward_biased`, or :meth:`forward` when ``b`` is None (a layer without bias)."""
        if b is None:
            return self.forward(z, out, tmp)
        return self.forward_biased(z, b, out, tmp)

    def backward_summed(self, grad: Array, z: Array, a: Array, tmp: Array, db: Array | None) -> bool:
        """:meth:`backward`, then the bias gradient ``db = Σ_samples ∂L/∂z`` (shape ``(units,)``) when ``db`` is given.

        Returns True when ``db`` was filled. (The compiled step of
        :mod:`backprop._fast` does both in one pass, with the same bits.)
        """
        self.backward(grad, z, a, tmp)
        if db is None:
            return False
        np.add.reduce(grad, axis=0, out=db)
        return True

    def derivative(self, z: Array, a: Array) -> Array:
        """``f'(z)`` as a new array shaped like ``z`` (for explain and tests)."""
        grad = np.ones_like(a)
        return self.backward(grad, z, a, np.empty_like(a))

    def __call__(self, z: Any) -> Array:
        """``f(z)`` for an array of any shape (rows are samples for softmax)."""
        values = as_array(z, "z")
        dtype = np.dtype(np.float32) if values.dtype == np.float32 else np.dtype(np.float64)
        values = as_float_array(values, "z", dtype)
        rows = np.atleast_2d(values)
        if rows.ndim > 2:
            rows = rows.reshape(-1, rows.shape[-1])
        out = self.forward(rows, np.empty_like(rows), np.empty_like(rows))
        return out.reshape(values.shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def config(self) -> dict[str, Any]:
        """``{"name": ..., **parameters}``, from which :func:`activation_from_config` rebuilds it."""
        return {
            "name": self.name,
            **{k: v for k, v in vars(self).items() if k not in ("formula", "derivative_formula")},
        }

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars(self).items()))))


def _exp_minus_abs(z: Array, out: Array) -> Array:
    """``e^−|z|`` into ``out``: in (0, 1] for any z, the stable core of sigmoid and softplus."""
    np.abs(z, out=out)
    np.negative(out, out=out)
    return np.exp(out, out=out)


class Sigmoid(Activation):
    """``σ(z) = 1 / (1 + e^(−z))``, computed as ``e^min(z, 0) / (1 + e^−|z|)``."""

    name = "sigmoid"
    formula = "1 / (1 + e^(−z))"
    derivative_formula = "a (1 − a)"

    def forward(self, z: Array, out: Array, tmp: Array) -> Array:
        # σ(z) = e^min(z, 0) / (1 + e^−|z|): no exponent is ever positive, so nothing
        # overflows, and the tail e^z / (1 + e^z) keeps full relative precision.
        _exp_minus_abs(z, tmp)
        tmp += 1.0
        np.minimum(z, 0.0, out=out)
        np.exp(out, out=out)
        out /= tmp
        return out

    def backward(self, grad: Array, z: Array, a: Array, tmp: Array) -> Array:
        np.subtract(1.0, a, out=tmp)
        tmp *= a
        grad *= tmp
        return grad


class Tanh(Activation):
    """``tanh(z)``."""

    name = "tanh"
    formula = "tanh(z)"
    derivative_formula = "1 − a²"

    def forward(self, z: Array, out: Array, tmp: Array) -> Array:
        return np.tanh(z, out=out)

    def backward(self, grad: Array, z: Array, a: Array, tmp: Array) -> Array:
        np.multiply(a, a, out=tmp)
        np.subtract(1.0, tmp, out=tmp)
        grad *= tmp
        return grad


class ReLU(Activation):
    """``max(z, 0)``."""

    name = "relu"
    formula = "max(z, 0)"
    derivative_formula = "[a > 0]"
    kinked = True

    def forward(self, z: Array, out: Array, tmp: Array) -> Array:
        return np.maximum(z, 0.0, out=out)

    def backward(self, grad: Array, z: Array, a: Array, tmp: Array) -> Array:
        np.greater(a, 0.0, out=tmp)
        grad *= tmp
        return grad


class LeakyReLU(Activation):
    """``z`` for ``z > 0``, ``alpha · z`` otherwise (``0 <= alpha < 1``)."""

    name = "leaky_relu"
    kinked = True

    def __init__(self, alpha: float = 0.01) -> None:
        if not is_number(alpha) or not 0.0 <= alpha < 1.0:
            raise ParameterError(f"leaky_relu alpha must be a number in [0, 1), got alpha={shown(alpha)}")
        self.alpha = float(alpha)
        self.formula = f"max(z, {self.alpha:g} z)"
        self.derivative_formula = f"1 if a > 0 else {self.alpha:g}"

    def forward(self, z: Array, out: Array, tmp: Array) -> Array:
        np.multiply(z, self.alpha, out=out)
        return np.maximum(z, out, out=out)

    def backward(self, grad: Array, z: Array, a: Array, tmp: Array) -> Array:
        # [a > 0] (1 − α) + α is 1 on the positive side and α on the other.
        np.greater(a, 0.0, out=tmp)
        tmp *= 1.0 - self.alpha
        tmp += self.alpha
        grad *= tmp
        return grad

    def __repr__(self) -> str:
        return f"LeakyReLU(alpha={self.alpha!r})"


class ELU(Activation):
    """``z`` for ``z > 0``, ``alpha (e^z − 1)`` otherwise."""

    name = "elu"
    kinked = True

    def __init__(self, alpha: float = 1.0) -> None:
        if not is_number(alpha) or not 0.0 < alpha <= 1e4:
            raise ParameterError(f"elu alpha must be a number in (0, 1e4], got alpha={shown(alpha)}")
        self.alpha = float(alpha)
        self.formula = f"z if z > 0 else {self.alpha:g} (e^z − 1)"
        self.derivative_formula = f"1 if a > 0 else a + {self.alpha:g}"

    def forward(self, z: Array, out: Array, tmp: Array) -> Array:
        # α expm1(min(z, 0)) + max(z, 0): each side vanishes where the other applies,
        # and expm1 never sees a positive argument, so nothing overflows.
        np.minimum(z, 0.0, out=out)
        np.expm1(out, out=out)
        out *= self.alpha
        np.maximum(z, 0.0, out=tmp)
        out += tmp
        return out

    def backward(self, grad: Array, z: Array, a: Array, tmp: Array) -> Array:
        # For z <= 0, a = α(e^z − 1), so f'(z) = α e^z = a + α; for z > 0, f'(z) = 1.
        np.add(a, self.alpha, out=tmp)
        if self.alpha == 1.0:
            np.minimum(tmp, 1.0, out=tmp)  # a + 1 <= 1 exactly when a <= 0
        else:
            np.copyto(tmp, 1.0, where=a > 0.0)
        grad *= tmp
        return grad

    def __repr__(self) -> str:
        return f"ELU(alpha={self.alpha!r})"


class Softplus(Activation):
    """``log(1 + e^z)``."""

    name = "softplus"
    formula = "log(1 + e^z)"
    derivative_formula = "σ(z) = 1 − e^(−a)"

    def forward(self, z: Array, out: Array, tmp: Array) -> Array:
        # max(z, 0) + log(1 + e^−|z|): no overflow, and exact in both tails.
        _exp_minus_abs(z, out)
        np.log1p(out, out=out)
        np.maximum(z, 0.0, out=tmp)
        out += tmp
        return out

    def backward(self, grad: Array, z: Array, a: Array, tmp: Array) -> Array:
        # e^a = 1 + e^z, so σ(z) = 1 − e^(−a) = −expm1(−a), exact for small a too.
        np.negative(a, out=tmp)
        np.expm1(tmp, out=tmp)
        np.negative(tmp, out=tmp)
        grad *= tmp
        return grad


class Identity(Activation):
    """``z`` unchanged (regression outputs)."""

    name = "identity"
    formula = "z"
    derivative_formula = "1"

    def forward(self, z: Array, out: Array, tmp: Array) -> Array:
        np.copyto(out, z)
        return out

    def backward(self, grad: Array, z: Array, a: Array, tmp: Array) -> Array:
        return grad


class Softmax(Activation):
    """Row-wise ``e^(z_k) / Σ_j e^(z_j)``; output layer only."""

    name = "softmax"
    formula = "e^(z_k) / Σ_j e^(z_j)"
    derivative_formula = "∂a_k/∂z_j = a_k ([k = j] − a_j)"
    output_only = True

    def forward(self, z: Array, out: Array, tmp: Array) -> Array:
        # Subtracting the row maximum keeps every exponent <= 0.
        np.subtract(z, z.max(axis=1, keepdims=True), out=out)
        np.exp(out, out=out)
        out /= out.sum(axis=1, keepdims=True)
        return out

    def backward(self, grad: Array, z: Array, a: Array, tmp: Array) -> Array:
        # Jacobian-vector product: ∂L/∂z_k = a_k (g_k − Σ_j g_j a_j).
        np.multiply(grad, a, out=tmp)
        grad -= tmp.sum(axis=1, keepdims=True)
        grad *= a
        return grad

    #: The most numbers :meth:`derivative` builds (128 MiB in float64): a Jacobian grows as
    #: n · k², so 16 samples of 10,000 classes would need 12 GiB; such a request is refused.
    MAX_JACOBIAN_ENTRIES = 1 << 24

    def derivative(self, z: Array, a: Array) -> Array:
        """The Jacobian ``∂a_k/∂z_j`` of every row, shape ``(n_samples, k, k)``.

        Raises :class:`~backprop.errors.ShapeError` beyond ``MAX_JACOBIAN_ENTRIES``
        numbers; :meth:`backward` computes Jacobian-vector products of any size.
        """
        n, k = a.shape
        if n * k * k > self.MAX_JACOBIAN_ENTRIES:
            raise ShapeError(
                f"the softmax Jacobian of {n} sample{'s' if n != 1 else ''} of {k} classes would hold "
                f"{n * k * k:,} numbers ({n * k * k * a.itemsize / 2**30:.3g} GiB), more than the limit of "
                f"{self.MAX_JACOBIAN_ENTRIES:,}; use fewer samples, or backward() for Jacobian-vector products"
            )
        eye = np.eye(k, dtype=a.dtype)
        return a[:, :, None] * (eye - a[:, None, :])


class Custom(Activation):
    """A user-supplied pair ``(function, derivative)``, both taking ``z``.

    Parameters
    ----------
    function : callable
        ``f(z) -> a``, elementwise, returning an array shaped like ``z``.
    derivative : callable
        ``f'(z)``, elementwise, returning an array shaped like ``z``.
    name : str, optional
        Shown in traces and messages; defaults to the function's ``__name__``.
    """

    def __init__(
        self,
        function: Callable[[Array], Any],
        derivative: Callable[[Array], Any],
        name: str | None = None,
    ) -> None:
        if not callable(function) or not callable(derivative):
            raise BackpropTypeError(
                "a custom activation must be a pair of callables (function, derivative), "
                f"got ({type(function).__name__}, {type(derivative).__name__})"
            )
        self.function = function
        self.derivative_function = derivative
        self.name = str(name or getattr(function, "__name__", "custom"))
        self.formula = f"{self.name}(z)"
        self.derivative_formula = f"{self.name}'(z)"

    def _call(self, fn: Callable[[Array], Any], z: Array, what: str) -> Array:
        result = np.asarray(fn(z))
        if result.dtype.kind not in "biuf":
            raise BackpropTypeError(
                f"custom activation {self.name!r}: {what} must return real numbers, got array of dtype {result.dtype}"
            )
        if result.shape != z.shape:
            raise ShapeError(
                f"custom activation {self.name!r}: {what} must return an array shaped like z "
                f"{z.shape}, got shape {result.shape}"
            )
        return result

    def forward(self, z: Array, out: Array, tmp: Array) -> Array:
        np.copyto(out, self._call(self.function, z, "function"), casting="unsafe")
        return out

    def backward(self, grad: Array, z: Array, a: Array, tmp: Array) -> Array:
        np.copyto(tmp, self._call(self.derivative_function, z, "derivative"), casting="unsafe")
        grad *= tmp
        return grad

    def __repr__(self) -> str:
        return f"Custom({self.name!r})"

    def config(self) -> dict[str, Any]:
        raise BackpropTypeError(
            f"custom activation {self.name!r} is Python code and cannot be written to a file; "
            "use a built-in activation to save the network"
        )


ACTIVATIONS: dict[str, type[Activation]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "softplus": Softplus,
    "identity": Identity,
    "softmax": Softmax,
}

ActivationSpec = str | Activation | tuple[Callable[[Any], Any], Callable[[Any], Any]]


def activation_from_config(config: Any) -> Activation:
    """Rebuild an activation from :meth:`Activation.config` (a dict) or a bare name."""
    if isinstance(config, str):
        return get_activation(config)
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        raise ParameterError(f"an activation description must be a name or a dict with a name, got {config!r}")
    params = {k: v for k, v in config.items() if k != "name"}
    cls = ACTIVATIONS.get(config["name"])
    if cls is None:
        raise ParameterError(f"Unknown activation {config['name']!r}; expected one of {sorted(ACTIVATIONS)}")
    try:
        return cls(**params)
    except TypeError:
        raise ParameterError(f"activation {config['name']!r} takes no parameters {sorted(params)}") from None


def is_pair(spec: Any) -> bool:
    """True for a ``(function, derivative)`` pair of callables."""
    return isinstance(spec, tuple) and len(spec) == 2 and callable(spec[0]) and callable(spec[1])


def get_activation(spec: ActivationSpec) -> Activation:
    """Return the :class:`Activation` for a name, an instance or a ``(f, f')`` pair."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        try:
            return ACTIVATIONS[spec]()
        except KeyError:
            raise ParameterError(
                f"Unknown activation {spec!r}; expected one of {sorted(ACTIVATIONS)} or a (function, derivative) pair"
            ) from None
    if is_pair(spec):
        return Custom(spec[0], spec[1])
    raise BackpropTypeError(f"activation must be a name, an Activation or a (function, derivative) pair, got {spec!r}")


__all__ = [
    "ACTIVATIONS",
    "ELU",
    "Activation",
    "Custom",
    "Identity",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Tanh",
    "get_activation",
]
