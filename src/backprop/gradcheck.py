"""``gradcheck``: the analytic gradient against central finite differences.

Every parameter ``θ_i`` is moved by ``±h`` and ``±2h`` (float64, on a copy of
the network) and the loss re-evaluated; the fourth-order central difference

    ∂L/∂θ_i ≈ [8 (L(θ+h) − L(θ−h)) − (L(θ+2h) − L(θ−2h))] / (12 h)

has truncation error O(h⁴), so a comparatively large ``h`` keeps round-off
small and the comparison sharp. Where a move crosses the kink of a relu-like
activation the difference quotient is meaningless; such entries are counted
as skipped, not compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import FloatArray, check_positive, shown
from .activations import Softmax
from .errors import DataError, ParameterError
from .layers import Dense
from .losses import Loss
from .network import Network, as_network
from .step import Step, Workspace, checked_forward, mean_scale

#: Round-off of L(θ ± h), in units of eps·|L|, allowed for (stencil and summation).
NOISE_FACTOR = 100.0


@dataclass(frozen=True)
class ArrayCheck:
    """The comparison for one parameter array (``W`` or ``b`` of one layer).

    Attributes
    ----------
    layer : int
        The layer, numbered from 1.
    name : {"W", "b"}
    shape : tuple of int
    max_abs_error : float
        Largest ``|a − n|`` (analytic minus numeric).
    max_rel_error : float
        Largest ``|a − n| / max(|a|, |n|)``.
    max_scaled_error : float
        Largest ``|a − n| / max(|a|, |n|, floor)``, the figure held against the
        tolerance: entries below the round-off of either side are compared
        with that round-off rather than with themselves.
    worst_index : tuple of int
        Where ``max_scaled_error`` occurs; ``analytic`` and ``numeric`` are the
        two values there.
    skipped : int
        Entries not compared because a move of ``±2h`` crossed a relu-like kink.
    """

    layer: int
    name: str
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    max_scaled_error: float
    worst_index: tuple[int, ...]
    analytic: float
    numeric: float
    skipped: int

    @property
    def label(self) -> str:
        return f"{self.name}[{self.layer}]"


@dataclass(frozen=True)
class GradcheckReport:
    """All array checks; ``passed`` when every scaled error is within ``tolerance``.

    ``floor`` is the round-off level of the difference quotients, divided by
    the tolerance (see :func:`gradcheck`); entries may have a higher floor
    from the round-off of the analytic gradient.
    """

    checks: list[ArrayCheck]
    loss: str
    step: float
    tolerance: float
    floor: float

    @property
    def worst(self) -> ArrayCheck:
        """The array check with the largest scaled error."""
        return max(self.checks, key=lambda c: c.max_scaled_error)

    @property
    def max_scaled_error(self) -> float:
        return self.worst.max_scaled_error

    @property
    def max_rel_error(self) -> float:
        """The largest plain relative error ``|a − n| / max(|a|, |n|)`` of any entry."""
        return max(c.max_rel_error for c in self.checks)

    @property
    def max_abs_error(self) -> float:
        return max(c.max_abs_error for c in self.checks)

    @property
    def passed(self) -> bool:
        return self.max_scaled_error <= self.tolerance

    def __str__(self) -> str:
        header = (
            f"{'array':<8} {'shape':<10} {'abs error':>10} {'rel error':>10} {'scaled':>10}  "
            "worst at  analytic / numeric"
        )
        lines = [
            f"gradcheck ({self.loss}, step h={self.step:g}, tolerance {self.tolerance:g}; scaled error = "
            f"|a − n| / max(|a|, |n|, {self.floor:.1e}))",
            header,
        ]
        for c in self.checks:
            skipped = f"  ({c.skipped} skipped at a kink)" if c.skipped else ""
            lines.append(
                f"{c.label:<8} {c.shape!s:<10} {c.max_abs_error:>10.2e} {c.max_rel_error:>10.2e} "
                f"{c.max_scaled_error:>10.2e}  {c.worst_index!s:<9} {c.analytic:.10g} / {c.numeric:.10g}{skipped}"
            )
        w = self.worst
        verdict = "passed" if self.passed else "FAILED"
        lines.append(
            f"{verdict}: worst scaled error {w.max_scaled_error:.3e} in {w.label} at {w.worst_index} "
            f"(largest relative error {self.max_rel_error:.3e})"
        )
        return "\n".join(lines)


def gradcheck(
    net: Network,
    X: Any,
    y: Any,
    loss: str | Loss = "mse",
    sample_weight: Any = None,
    step: float = 1e-4,
    tolerance: float = 1e-6,
) -> GradcheckReport:
    """Compare ``net.gradients`` with central finite differences, array by array.

    Parameters
    ----------
    net : Network
        Left unchanged; the check runs in float64 on a copy.
    X : array_like of shape (n_samples, n_inputs)
    y : array_like
        Targets, as for :meth:`Network.gradients`.
    loss : {"mse", "binary_crossentropy", "crossentropy"} or Loss
    sample_weight : array_like of shape (n_samples,), optional
    step : float, default 1e-4
        ``h``, relative to ``max(1, |θ_i|)``.
    tolerance : float, default 1e-6
        Largest scaled error ``|a − n| / max(|a|, |n|, floor)`` that passes.
        The floor is 100 × the round-off of either side, divided by the
        tolerance: ``eps·|L|/h`` for the difference quotient, and for the
        analytic gradient the rounding of ``ŷ − y`` (``eps·(|ŷ| + |y|)``)
        carried back through ``|W|`` and ``|f'|`` like an error term. It keeps
        entries below what float64 can resolve from being judged on noise;
        any discrepancy larger than the round-off still fails. A NaN or
        infinite gradient always fails.

    Returns
    -------
    GradcheckReport
        Per array the worst relative and absolute error and where it occurs.
    """
    step = check_positive(step, "step")
    tolerance = check_positive(tolerance, "tolerance")
    eps = float(np.finfo(np.float64).eps)
    if not eps <= step <= 1.0:
        # Below eps, θ ± h rounds back to θ; above 1 the stencil is no longer local (and θ ± 2h may overflow).
        raise ParameterError(
            f"step must be a number in [{eps:.3g}, 1], relative to max(1, |θ|), got step={shown(step)}"
        )
    if tolerance < eps:
        raise ParameterError(
            f"tolerance must be a number >= {eps:.3g} (float64 resolves no finer), got tolerance={shown(tolerance)}"
        )
    net64 = as_network(net).copy(dtype=np.float64)
    inputs, targets, loss_fn, weights = net64.check_data(X, y, loss, sample_weight)
    engine = Step(net64.layers, loss_fn)
    ws = Workspace(net64.layers, inputs.shape[0], net64.dtype, net64.gradient)
    checked_forward(engine, inputs, ws, net64.dtype, net64.check_parameters)
    with np.errstate(over="ignore", invalid="ignore"):
        # Unchecked: a NaN or infinite analytic gradient is reported as a failed check, not raised.
        engine.backward(ws, inputs, targets, mean_scale(inputs.shape[0], weights, net64.dtype))
    analytic = net64.gradient.copy()
    # Round-off in L(θ ± h) limits what the difference quotient can resolve: about
    # eps·|L|/h (every per-sample loss is >= 0, so |L| bounds the terms summed).
    # Entries smaller than noise/tolerance are compared against that floor.
    loss_value = loss_fn.value(ws.h[-1], ws.a[-1], targets, weights)
    if not np.isfinite(loss_value):
        raise DataError(f"the loss is not finite ({loss_value}) for these inputs and targets: nothing to check")
    with np.errstate(over="ignore", invalid="ignore"):
        floor = NOISE_FACTOR * eps * abs(loss_value) / step / tolerance
        analytic_floor = NOISE_FACTOR * _analytic_roundoff(net64, ws, inputs, targets, loss_fn, weights) / tolerance
    if np.isinf(floor) or np.isinf(analytic_floor).any():  # NaN (a broken derivative) fails below instead
        raise DataError(
            f"the values are too large for a finite-difference check in float64 (loss {loss_value:.3g}): "
            "their round-off alone overflows; scale the inputs and targets"
        )

    kinked = [l for l, layer in enumerate(net64.layers) if layer.activation.kinked]

    def signs() -> list[np.ndarray[Any, Any]]:
        return [ws.h[l] > 0 for l in kinked]

    base_signs = signs()
    theta = net64.parameters
    numeric = np.empty_like(theta)
    crossed = np.zeros(theta.shape, dtype=bool)
    for i in range(theta.size):
        original = theta[i]
        h = step * max(1.0, abs(original))
        values = []
        for offset in (h, -h, 2 * h, -2 * h):
            theta[i] = original + offset
            checked_forward(engine, inputs, ws, net64.dtype, net64.check_parameters)
            values.append(loss_fn.value(ws.h[-1], ws.a[-1], targets, weights))
            if kinked and any((s != b).any() for s, b in zip(signs(), base_signs, strict=True)):
                crossed[i] = True
        theta[i] = original
        plus, minus, plus2, minus2 = values
        numeric[i] = (8.0 * (plus - minus) - (plus2 - minus2)) / (12.0 * h)

    checks = []
    offset = 0
    for layer in net64.dense_layers:
        for name, view in (("W", layer.W), ("b", layer.b)):
            if view is None:
                continue
            size = view.size
            part = slice(offset, offset + size)
            offset += size
            a, n, skip = analytic[part], numeric[part], crossed[part]
            entry_floor = np.maximum(analytic_floor[part], floor)
            with np.errstate(invalid="ignore", over="ignore"):
                abs_err = np.where(skip, 0.0, np.abs(a - n))
                size_of = np.maximum(np.abs(a), np.abs(n))
                rel_err = np.divide(abs_err, size_of, out=np.zeros_like(abs_err), where=size_of > 0)
                # Both sides exactly 0 with a zero floor (a zero loss): a match, not 0/0 = NaN.
                denominator = np.maximum(size_of, entry_floor)
                scaled = np.divide(abs_err, denominator, out=np.zeros_like(abs_err), where=denominator > 0)
            # A NaN or infinite gradient on either side is a failure, never a pass.
            broken = ~(np.isfinite(a) & np.isfinite(n)) & ~skip
            for errors in (abs_err, rel_err, scaled):
                errors[broken] = np.inf
            worst = int(np.argmax(scaled))
            checks.append(
                ArrayCheck(
                    layer=layer.index,
                    name=name,
                    shape=tuple(view.shape),
                    max_abs_error=float(abs_err.max()),
                    max_rel_error=float(rel_err.max()),
                    max_scaled_error=float(scaled[worst]),
                    worst_index=tuple(int(i) for i in np.unravel_index(worst, view.shape)),
                    analytic=float(a[worst]),
                    numeric=float(n[worst]),
                    skipped=int(skip.sum()),
                )
            )
    return GradcheckReport(checks=checks, loss=loss_fn.name, step=step, tolerance=tolerance, floor=floor)


def _analytic_roundoff(
    net: Network, ws: Any, inputs: FloatArray, targets: FloatArray, loss: Loss, weights: FloatArray | None
) -> FloatArray:
    """An estimate of the analytic gradient's round-off, laid out like ``net.gradient``.

    The output error term starts as ``ŷ − y``, a difference of numbers of size
    ``|ŷ| + |y|``, so it carries an absolute error of about ``eps·(|ŷ| + |y|)``
    (a saturated ``ŷ = 1`` loses everything below 1e-16). That error travels
    back exactly as the error term does, through ``|W|`` and ``|f'|``.
    """
    eps = np.finfo(np.float64).eps
    last = len(net.layers) - 1
    output = net.layers[last].activation
    bound = eps * (np.abs(ws.a[last]) + np.abs(targets))
    if isinstance(output, Softmax) and not loss.is_fused(output):
        # Σ_k |∂a_k/∂z_j| bound_k without the (n, k, k) Jacobian: |J_jj| = a_j (1 − a_j),
        # |J_kj| = a_k a_j, so the sum is a_j (bound_j (1 − 2 a_j) + Σ_k a_k bound_k).
        a = ws.a[last]
        bound = a * (bound * (1.0 - 2.0 * a) + (a * bound).sum(axis=1, keepdims=True))
    elif not loss.is_fused(output):
        bound = bound * np.abs(output.derivative(ws.h[last], ws.a[last]))
    bound = bound * np.abs(mean_scale(inputs.shape[0], weights, net.dtype))
    parts: list[FloatArray] = []
    for l in range(last, -1, -1):
        layer = net.layers[l]
        if isinstance(layer, Dense):
            below = ws.a[l - 1] if l else inputs
            layer_parts = [(np.abs(below).T @ bound).ravel()]
            if layer.b is not None:
                layer_parts.append(bound.sum(axis=0))
            parts[:0] = layer_parts
            bound = bound @ np.abs(layer.W).T
        if l:  # a Dropout layer, inactive outside training, passes the bound through
            bound = bound * np.abs(net.layers[l - 1].activation.derivative(ws.h[l - 1], ws.a[l - 1]))
    return np.concatenate(parts)


__all__ = ["ArrayCheck", "GradcheckReport", "gradcheck"]
