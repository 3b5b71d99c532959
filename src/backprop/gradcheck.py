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

from ._validation import check_positive
from .losses import Loss
from .network import Network, _as_network

#: Round-off of L(θ ± h), in units of eps·|L|, allowed for (stencil and summation).
NOISE_FACTOR = 100.0


@dataclass(frozen=True)
class ArrayCheck:
    """The comparison for one parameter array (``W`` or ``b`` of one layer).

    ``worst_index`` is where the relative error is largest; ``analytic`` and
    ``numeric`` are the two values there.
    """

    layer: int
    name: str
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic: float
    numeric: float
    skipped: int

    @property
    def label(self) -> str:
        return f"{self.name}[{self.layer}]"


@dataclass(frozen=True)
class GradcheckReport:
    """All array checks; ``passed`` when the worst relative error is within ``tolerance``."""

    checks: list[ArrayCheck]
    loss: str
    step: float
    tolerance: float
    floor: float

    @property
    def worst(self) -> ArrayCheck:
        """The array check with the largest relative error."""
        return max(self.checks, key=lambda c: c.max_rel_error)

    @property
    def max_rel_error(self) -> float:
        return self.worst.max_rel_error

    @property
    def max_abs_error(self) -> float:
        return max(c.max_abs_error for c in self.checks)

    @property
    def passed(self) -> bool:
        return self.max_rel_error <= self.tolerance

    def __str__(self) -> str:
        header = f"{'array':<8} {'shape':<12} {'max abs error':>14} {'max rel error':>14}  worst at  analytic / numeric"
        lines = [
            f"gradcheck ({self.loss}, step h={self.step:g}, tolerance {self.tolerance:g}, "
            f"relative to at least {self.floor:.1e})",
            header,
        ]
        for c in self.checks:
            skipped = f"  ({c.skipped} skipped at a kink)" if c.skipped else ""
            lines.append(
                f"{c.label:<8} {c.shape!s:<12} {c.max_abs_error:>14.3e} {c.max_rel_error:>14.3e}  "
                f"{c.worst_index!s:<9} {c.analytic:.10g} / {c.numeric:.10g}{skipped}"
            )
        w = self.worst
        verdict = "passed" if self.passed else "FAILED"
        lines.append(f"{verdict}: worst relative error {w.max_rel_error:.3e} in {w.label} at {w.worst_index}")
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
        Largest relative error ``|a − n| / max(|a|, |n|, floor)`` that passes,
        where ``floor = 100 · eps · |L| / (step · tolerance)`` keeps entries
        below the difference quotient's round-off from being judged on noise
        alone (a discrepancy larger than that round-off still fails).

    Returns
    -------
    GradcheckReport
        Per array the worst relative and absolute error and where it occurs.
    """
    step = check_positive(step, "step")
    tolerance = check_positive(tolerance, "tolerance")
    net64 = _as_network(net).copy(dtype=np.float64)
    inputs, targets, loss_fn, weights = net64._prepare(X, y, loss, sample_weight)
    ws = net64._forward(inputs)
    net64._backward(ws, inputs, targets, loss_fn, net64._scale(inputs.shape[0], weights))
    analytic = net64.gradient.copy()
    # Round-off in L(θ ± h) limits what the difference quotient can resolve: about
    # eps·|L|/h (every per-sample loss is >= 0, so |L| bounds the terms summed).
    # Entries smaller than noise/tolerance are compared against that floor.
    loss_value = loss_fn.value(ws.z[-1], ws.a[-1], targets, weights)
    floor = NOISE_FACTOR * np.finfo(np.float64).eps * abs(loss_value) / step / tolerance

    kinked = [l for l, layer in enumerate(net64.layers) if layer.activation.kinked]

    def signs() -> list[np.ndarray[Any, Any]]:
        return [ws.z[l] > 0 for l in kinked]

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
            values.append(net64._loss_value(inputs, targets, loss_fn, weights))
            if kinked and any((s != b).any() for s, b in zip(signs(), base_signs, strict=True)):
                crossed[i] = True
        theta[i] = original
        plus, minus, plus2, minus2 = values
        numeric[i] = (8.0 * (plus - minus) - (plus2 - minus2)) / (12.0 * h)

    checks = []
    offset = 0
    for layer in net64.layers:
        for name, view in (("W", layer.W), ("b", layer.b)):
            if view is None:
                continue
            size = view.size
            part = slice(offset, offset + size)
            offset += size
            a, n, skip = analytic[part], numeric[part], crossed[part]
            abs_err = np.where(skip, 0.0, np.abs(a - n))
            scale = np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)
            rel_err = np.divide(abs_err, scale, out=np.zeros_like(abs_err), where=scale > 0)
            worst = int(np.argmax(rel_err))
            checks.append(
                ArrayCheck(
                    layer=layer.index,
                    name=name,
                    shape=tuple(view.shape),
                    max_abs_error=float(abs_err.max()),
                    max_rel_error=float(rel_err[worst]),
                    worst_index=tuple(int(i) for i in np.unravel_index(worst, view.shape)),
                    analytic=float(a[worst]),
                    numeric=float(n[worst]),
                    skipped=int(skip.sum()),
                )
            )
    return GradcheckReport(checks=checks, loss=loss_fn.name, step=step, tolerance=tolerance, floor=floor)


__all__ = ["ArrayCheck", "GradcheckReport", "gradcheck"]
