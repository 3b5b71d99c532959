"""Losses: the per-sample loss ``ℓ`` and the output error term it starts.

The network's loss is the (sample-weighted) mean of ``ℓ`` over the batch.
``output_gradient`` writes ``∂ℓ/∂z`` of the output layer for every sample,
which is minus the seed's *output error term* ``δᵒ = (y − ŷ) f'(z)``.

Fused output rule (the three pairs below): when the output activation is the
canonical link of the loss, ``f'`` cancels against ``∂ℓ/∂ŷ`` and the output
error term is exactly ``y − ŷ``:

- ``identity`` + ``mse`` (``ℓ = ½ Σ (ŷ − y)²``),
- ``sigmoid`` + ``binary_crossentropy``,
- ``softmax`` + ``crossentropy`` (targets in each row summing to 1).

The log-losses are evaluated from ``z`` (log-sum-exp and softplus), so they
stay finite for saturated outputs where ``log ŷ`` would be ``log 0``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import FloatArray, as_array, as_float_array
from .activations import Activation, Identity, Sigmoid, Softmax
from .errors import DataError, ParameterError, ShapeError


class Loss:
    """Base class of the losses.

    Attributes
    ----------
    name : str
    formula : str
        The per-sample loss, as shown by :func:`backprop.explain`.
    fused_activation : type of Activation
        The output activation with which the output error term is ``y − ŷ``.
    requires_fused : bool
        True when the loss is only defined on its fused activation's output.
    """

    name = "loss"
    formula = "ℓ(ŷ, y)"
    fused_activation: type[Activation] = Identity
    requires_fused = False

    def check_output(self, activation: Activation, layer: int) -> None:
        """Raise if the output layer's activation cannot feed this loss."""
        if self.requires_fused and not self.is_fused(activation):
            raise ParameterError(
                f"loss {self.name!r} needs a {self.fused_activation.name} output layer; "
                f"layer {layer} has activation {activation.name!r}"
            )

    def is_fused(self, activation: Activation) -> bool:
        """True when ``δᵒ = y − ŷ`` exactly for this output activation."""
        return type(activation) is self.fused_activation

    def prepare_targets(self, y: Any, n_samples: int, n_outputs: int, dtype: np.dtype[Any]) -> FloatArray:
        """Check ``y`` and return it as ``(n_samples, n_outputs)`` targets."""
        targets = as_float_array(y, "y", dtype)
        return _as_columns(targets, n_samples, n_outputs)

    def per_sample(self, z: FloatArray, a: FloatArray, y: FloatArray) -> FloatArray:
        """``ℓ`` of every sample, shape ``(n_samples,)``."""
        raise NotImplementedError

    def output_gradient(
        self, z: FloatArray, a: FloatArray, y: FloatArray, activation: Activation, out: FloatArray, tmp: FloatArray
    ) -> FloatArray:
        """Write ``∂ℓ/∂z`` of every sample into ``out`` (shape ``(n_samples, n_outputs)``)."""
        # ∂ℓ/∂ŷ = ŷ − y for mse; for the fused log-losses ŷ − y is already ∂ℓ/∂z.
        np.subtract(a, y, out=out)
        if not self.requires_fused:
            activation.backward(out, z, a, tmp)
        return out

    def value(self, z: FloatArray, a: FloatArray, y: FloatArray, sample_weight: FloatArray | None = None) -> float:
        """The loss ``L``: the (weighted) mean of :meth:`per_sample`."""
        losses = self.per_sample(z, a, y)
        if sample_weight is None:
            return float(losses.mean())
        return float(np.dot(losses, sample_weight) / sample_weight.sum())

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MSE(Loss):
    """``ℓ = ½ Σ_k (ŷ_k − y_k)²``; the ½ makes ``y − ŷ`` the exact negative gradient."""

    name = "mse"
    formula = "ℓ = ½ Σ (ŷ − y)²"
    fused_activation = Identity

    def per_sample(self, z: FloatArray, a: FloatArray, y: FloatArray) -> FloatArray:
        diff = a - y
        losses: FloatArray = 0.5 * np.einsum("ij,ij->i", diff, diff)
        return losses


class BinaryCrossentropy(Loss):
    """``ℓ = −Σ_k [y log ŷ + (1 − y) log(1 − ŷ)]`` on a sigmoid output."""

    name = "binary_crossentropy"
    formula = "ℓ = −Σ [y log ŷ + (1 − y) log(1 − ŷ)]"
    fused_activation = Sigmoid
    requires_fused = True

    def prepare_targets(self, y: Any, n_samples: int, n_outputs: int, dtype: np.dtype[Any]) -> FloatArray:
        targets = super().prepare_targets(y, n_samples, n_outputs, dtype)
        if targets.min() < 0 or targets.max() > 1:
            row, column = np.argwhere((targets < 0) | (targets > 1))[0]
            raise DataError(
                f"binary_crossentropy targets must lie in [0, 1], got y[{row}, {column}] = {targets[row, column]:g} "
                f"(values from {targets.min():g} to {targets.max():g})"
            )
        return targets

    def per_sample(self, z: FloatArray, a: FloatArray, y: FloatArray) -> FloatArray:
        # −[y log σ(z) + (1 − y) log(1 − σ(z))] = softplus(z) − y z, stable for any z.
        losses: FloatArray = (np.logaddexp(0.0, z) - y * z).sum(axis=1)
        return losses


class Crossentropy(Loss):
    """``ℓ = −Σ_k y_k log ŷ_k`` on a softmax output.

    Targets are class indices of shape ``(n_samples,)`` or one-hot (or
    probability) rows of shape ``(n_samples, n_classes)`` summing to 1.
    """

    name = "crossentropy"
    formula = "ℓ = −Σ y log ŷ"
    fused_activation = Softmax
    requires_fused = True

    def prepare_targets(self, y: Any, n_samples: int, n_outputs: int, dtype: np.dtype[Any]) -> FloatArray:
        raw = as_array(y, "y")
        if raw.ndim == 2 and raw.shape[1] == 1 and n_outputs > 1:
            raw = raw[:, 0]
        if raw.ndim == 1:
            return _one_hot(as_float_array(raw, "y", dtype), n_samples, n_outputs)
        targets = super().prepare_targets(raw, n_samples, n_outputs, dtype)
        sums = targets.sum(axis=1)
        tolerance = 1e-3 if dtype == np.float32 else 1e-6
        if targets.min() < 0 or np.abs(sums - 1).max() > tolerance:
            row = int(np.argmax((targets < 0).any(axis=1) | (np.abs(sums - 1) > tolerance)))
            raise DataError(
                "crossentropy targets must be class indices of shape (n_samples,) or one-hot rows "
                f"of shape (n_samples, {n_outputs}) summing to 1; row {row} is {targets[row].tolist()}"
            )
        return targets

    def per_sample(self, z: FloatArray, a: FloatArray, y: FloatArray) -> FloatArray:
        # −Σ y (z − logsumexp z), with logsumexp taken after subtracting the row maximum.
        top = z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z - top).sum(axis=1, keepdims=True)) + top
        losses: FloatArray = (y * (lse - z)).sum(axis=1)
        return losses


def _as_columns(targets: FloatArray, n_samples: int, n_outputs: int) -> FloatArray:
    columns = targets[:, None] if targets.ndim == 1 and n_outputs == 1 else targets
    if columns.shape != (n_samples, n_outputs):
        expected = f"({n_samples},) or ({n_samples}, 1)" if n_outputs == 1 else f"({n_samples}, {n_outputs})"
        raise ShapeError(
            f"y must have shape {expected} to match {n_samples} samples and "
            f"{n_outputs} network outputs, got array of shape {targets.shape}"
        )
    return columns


def _one_hot(labels: FloatArray, n_samples: int, n_classes: int) -> FloatArray:
    if labels.shape != (n_samples,):
        raise ShapeError(f"y must have {n_samples} class indices, got array of shape {labels.shape}")
    bad = (labels < 0) | (labels >= n_classes) | (np.floor(labels) != labels)
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(
            f"crossentropy targets of shape ({n_samples},) must be class indices 0..{n_classes - 1}, "
            f"got y[{first}] = {labels[first]:g}"
        )
    targets = np.zeros((n_samples, n_classes), dtype=labels.dtype)
    targets[np.arange(n_samples), labels.astype(np.intp)] = 1
    return targets


LOSSES: dict[str, type[Loss]] = {
    "mse": MSE,
    "binary_crossentropy": BinaryCrossentropy,
    "crossentropy": Crossentropy,
}


def get_loss(spec: str | Loss) -> Loss:
    """Return the :class:`Loss` for a name or an instance."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, str) and spec in LOSSES:
        return LOSSES[spec]()
    raise ParameterError(f"Unknown loss {spec!r}; expected one of {sorted(LOSSES)}")


__all__ = ["LOSSES", "MSE", "BinaryCrossentropy", "Crossentropy", "Loss", "get_loss"]
