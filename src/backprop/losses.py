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

import math
from typing import Any

import numpy as np

from ._memory import check_large
from ._validation import FloatArray, as_array, as_float_array, scaled_weights
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
        return isinstance(activation, self.fused_activation)

    def prepare_targets(self, y: Any, n_samples: int, n_outputs: int, dtype: np.dtype[Any]) -> FloatArray:
        """Check ``y`` and return it as ``(n_samples, n_outputs)`` targets."""
        targets = as_float_array(y, "y", dtype)
        return _as_columns(targets, n_samples, n_outputs)

    def per_sample(self, z: FloatArray, a: FloatArray, y: FloatArray) -> FloatArray:
        """``ℓ`` of every sample in float64, shape ``(n_samples,)``.

        float64 whatever the network's dtype: the loss of a float32 network
        must not overflow or round to 0 where the gradient does not.
        """
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

    def output_gradient_summed(
        self,
        z: FloatArray,
        a: FloatArray,
        y: FloatArray,
        activation: Activation,
        out: FloatArray,
        tmp: FloatArray,
        scale: Any,
        db: FloatArray | None,
    ) -> bool:
        """:meth:`output_gradient` times ``scale`` (a number, or an ``(n_samples, 1)`` array).

        Returns False: ``db`` is left to the weight gradient (the compiled step
        of :mod:`backprop._fast` sums it in the same pass and says True there).
        """
        self.output_gradient(z, a, y, activation, out, tmp)
        if not (isinstance(scale, float | int) and scale == 1):
            out *= scale
        return False

    def total(self, z: FloatArray, a: FloatArray, y: FloatArray, sample_weight: FloatArray | None = None) -> float:
        """``Σ wᵢ ℓᵢ`` (``Σ ℓᵢ`` without weights), in float64; inf where it overflows."""
        with np.errstate(over="ignore", invalid="ignore"):
            losses = self.per_sample(z, a, y)
            if sample_weight is None:
                return float(losses.sum())
            total = float(np.dot(losses, sample_weight))
            if math.isnan(total):
                # An infinite loss of a sample of weight 0 gave 0 · inf: that sample does not count.
                total = float(np.dot(np.where(sample_weight > 0, losses, 0.0), sample_weight))
            return total

    def value(self, z: FloatArray, a: FloatArray, y: FloatArray, sample_weight: FloatArray | None = None) -> float:
        """The loss ``L``: the (weighted) mean of :meth:`per_sample`."""
        if sample_weight is None:
            return self.total(z, a, y) / float(z.shape[0])
        # Scaled by a power of two (exact): neither Σw nor Σ wℓ overflows for weights near 1e308.
        scaled = scaled_weights(sample_weight)
        return self.total(z, a, y, scaled) / float(scaled.sum())

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MSE(Loss):
    """``ℓ = ½ Σ_k (ŷ_k − y_k)²``; the ½ makes ``y − ŷ`` the exact negative gradient."""

    name = "mse"
    formula = "ℓ = ½ Σ (ŷ − y)²"
    fused_activation = Identity

    def per_sample(self, z: FloatArray, a: FloatArray, y: FloatArray) -> FloatArray:
        diff = np.subtract(a, y, dtype=np.float64)
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
        # −[y log σ(z) + (1 − y) log(1 − σ(z))] = softplus(z) − y z
        #   = max(z, 0) − y z + log(1 + e^−|z|): the first two terms cancel exactly
        #   for a confident right answer, leaving the small loss at full precision.
        z64 = z.astype(np.float64)
        losses: FloatArray = (np.maximum(z64, 0.0) - y * z64 + np.log1p(np.exp(-np.abs(z64)))).sum(axis=1)
        return losses


#: How far from 1 a row of crossentropy targets may sum (rounding in the user's data).
SUM_TOLERANCE = 1e-4


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
        sums = targets.sum(axis=1, dtype=np.float64)
        bad = (targets < 0).any(axis=1) | (np.abs(sums - 1) > SUM_TOLERANCE)
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(
                "crossentropy targets must be class indices of shape (n_samples,) or one-hot rows "
                f"of shape (n_samples, {n_outputs}) summing to 1; row {row} is {targets[row].tolist()}"
            )
        # Rows summing to exactly 1 make the fused output error term y − ŷ exact.
        normalized: FloatArray = (targets / sums[:, None]).astype(dtype, copy=False)
        return normalized

    def per_sample(self, z: FloatArray, a: FloatArray, y: FloatArray) -> FloatArray:
        # −Σ y log ŷ. A class of target 0 whose log ŷ is −inf (z − top overflowed, for z of
        # ±1e308) would give 0 · −inf = NaN: it does not count (recomputed only then).
        log_p = _log_softmax(z)
        losses: FloatArray = np.multiply(y, log_p, out=log_p).sum(axis=1)
        if np.isnan(losses).any():
            log_p = _log_softmax(z)
            losses = np.where(y > 0, y * log_p, 0.0).sum(axis=1)
        # 0 − x rather than −x: a loss that rounds to 0 is +0.0, never −0.0 (shown as "-0").
        return np.subtract(0.0, losses, out=losses)


def _log_softmax(z: FloatArray) -> FloatArray:
    """``log ŷ`` of every row in float64: ``z − top − log(1 + Σ_{j≠top} e^(z_j − top))``.

    log1p keeps the loss of a confident right answer from rounding to 0. Each
    row's top is addressed by its flat index: a handful of C calls, no
    Python-level indexing helpers (this runs once per training step).
    """
    z64 = z.astype(np.float64)
    n, k = z64.shape
    top_index = z64.argmax(axis=1)
    top_index += np.arange(0, n * k, k)
    z64 -= z64.reshape(-1)[top_index][:, None]  # z − top, all <= 0
    rest = np.exp(z64)
    rest.reshape(-1)[top_index] = 0.0
    z64 -= np.log1p(rest.sum(axis=1))[:, None]  # log ŷ = z − top − log_sum
    return z64


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
    nbytes = n_samples * n_classes * labels.dtype.itemsize
    check_large(nbytes, f"one-hot crossentropy targets for {n_samples:,} samples of {n_classes:,} classes")
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
