"""Why this prediction? Each input's contribution to one output of a trained network.

Two attributions of the output ``f`` (one unit of the output layer, see
:func:`attribute`) to the inputs ``x``, both against a baseline ``b``::

    gradient × input       ∂f/∂xᵢ(x) · (xᵢ − bᵢ)
    integrated gradients   (xᵢ − bᵢ) · ∫₀¹ ∂f/∂xᵢ(b + α (x − b)) dα      (Sundararajan et al., 2017)

Integrated gradients are *complete*: ``Σᵢ IGᵢ = f(x) − f(b)`` (the
fundamental theorem of calculus along the straight path), up to the
quadrature's error, which :attr:`Attribution.gap` reports. Gradient × input is
complete only for a linear ``f``; it is the cheaper, local view.

The gradients ``∂f/∂x`` are the network's own backward pass
(:class:`backprop.step.Step`, :class:`backprop.step.Workspace`), seeded with
``∂f/∂a = 1`` at the chosen unit instead of a loss's error term, and carried
one layer further down than training needs: ``∂f/∂x = grad_h[1] · W[1]ᵀ``.
Everything runs in float64 (a copy of a float32 network), so that the
completeness check measures the quadrature, not rounding.

For the models of ``backprop train`` (a :class:`~backprop.tabular.Preprocessor`
in front of the network), :func:`explain_table_rows` sums the attributions of a
column's one-hot inputs back into the column and gives each column's raw value.

Imports numpy and the library's core; the tabular types only for type checking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from ._memory import CHUNK_BYTES, check_large
from ._validation import as_float_array, check_positive_int
from .errors import DataError, ParameterError, ShapeError
from .losses import get_loss
from .network import Network, as_network
from .step import Step, Workspace, checked_forward, error_below, widths, workspace_bytes

if TYPE_CHECKING:
    from .heads import Head
    from .layers import Dense
    from .tabular import Frame, Preprocessor

Floats = NDArray[np.float64]

#: Quadrature points of the integrated gradients' path integral, by default.
DEFAULT_STEPS = 64
#: The completeness gap beyond which a row's points are doubled, and the most points.
DEFAULT_TOLERANCE = 1e-3
MAX_STEPS = 1024


@dataclass(frozen=True)
class Attribution:
    """The attributions of one output unit to the inputs, row by row.

    Attributes
    ----------
    output : ndarray of int64, shape (n_samples,)
        The output unit explained for each row.
    value : ndarray of shape (n_samples,)
        ``f(x)``: that unit's value for the row (float64).
    baseline_value : ndarray of shape (n_samples,)
        ``f(b)``: its value at the row's baseline.
    gradient : ndarray of shape (n_samples, n_inputs)
        ``∂f/∂x`` at ``x``.
    gradient_x_input : ndarray of shape (n_samples, n_inputs)
        ``∂f/∂x(x) ⊙ (x − b)``: gradient × input (the classic ``∂f/∂x ⊙ x`` for a zero baseline).
    integrated_gradients : ndarray of shape (n_samples, n_inputs)
        ``(x − b) ⊙ ∫₀¹ ∂f/∂x(b + α (x − b)) dα``, by Gauss–Legendre quadrature on ``steps`` points.
    gap : ndarray of shape (n_samples,)
        The completeness check: ``Σᵢ IGᵢ − (f(x) − f(b))``; zero but for the quadrature's error:
        tiny for smooth activations (tanh, sigmoid), but where the path crosses a ReLU's kink the
        gradient jumps, and the error falls only as ``1/steps`` (about 1e-3 at 1024 points is usual).
    steps : ndarray of int64, shape (n_samples,)
        Points of each row's quadrature: ``steps``, doubled while the gap exceeded the tolerance.
    """

    output: NDArray[np.int64]
    value: Floats
    baseline_value: Floats
    gradient: Floats
    gradient_x_input: Floats
    integrated_gradients: Floats
    gap: Floats
    steps: NDArray[np.int64]


def attribute(
    net: Network,
    X: Any,
    *,
    baseline: Any = None,
    output: Any = None,
    logit: bool = False,
    steps: int = DEFAULT_STEPS,
    tolerance: float | None = DEFAULT_TOLERANCE,
    max_steps: int = MAX_STEPS,
) -> Attribution:
    """Gradient × input and integrated gradients of one output unit, for every row of ``X``.

    Parameters
    ----------
    net : Network
        Not changed; a float32 network is explained through a float64 copy.
    X : array_like of shape (n_samples, n_inputs) or (n_inputs,)
        The rows, as the network takes them (for a table: after its preprocessing).
    baseline : array_like of shape (n_inputs,) or (n_samples, n_inputs), optional
        The reference input ``b``. Default: zeros, which for standardized inputs is the
        training mean (:func:`training_baseline` gives a table model's).
    output : int or array_like of int of shape (n_samples,), optional
        The output unit to explain, for all rows or per row. Default: each row's largest
        output (the predicted class of a softmax network; the unit itself for one output).
    logit : bool, default False
        Explain the output layer's ``z`` (before its activation: the logit of a sigmoid or
        softmax) instead of its output ``a`` (the probability).
    steps : int, default 64
        Quadrature points of the integrated gradients.
    tolerance : float or None, default 1e-3
        The largest completeness gap ``|Σᵢ IGᵢ − (f(x) − f(b))|`` accepted (in ``f``'s units):
        a row beyond it is computed again on twice the points, up to ``max_steps``. None: ``steps`` only.
    max_steps : int, default 1024

    Returns
    -------
    Attribution

    Raises
    ------
    ShapeError
        ``X`` or ``baseline`` of the wrong width.
    DataError
        Inputs that are not finite, or for which a layer overflows.
    ParameterError
        An ``output`` out of range, ``steps`` or ``max_steps`` not a positive integer, or a
        negative ``tolerance``.
    """
    net = as_network(net)
    steps = check_positive_int(steps, "steps")
    max_steps = check_positive_int(max_steps, "max_steps")
    if tolerance is not None and (
        isinstance(tolerance, bool) or not isinstance(tolerance, int | float | np.number) or not tolerance >= 0
    ):
        raise ParameterError(f"tolerance must be a number >= 0 or None, got tolerance={tolerance!r}")
    inputs = _rows(net, X, "X")
    n, width = inputs.shape
    base = _rows(net, np.zeros(width) if baseline is None else baseline, "baseline")
    if base.shape[0] not in (1, n):
        raise ShapeError(f"baseline must have 1 or {n} rows (one per row of X), got {base.shape[0]}")
    base = np.broadcast_to(base, inputs.shape)
    net64 = net if net.dtype == np.float64 else net.copy(np.float64)
    engine = _Gradients(net64, min(n * steps, _rows_per_chunk(net64)))
    units = net64.predict(inputs).argmax(axis=1) if output is None else _units(output, n, net64.n_outputs)
    value, gradient = engine.run(inputs, units, logit)
    baseline_value, _ = engine.run(np.ascontiguousarray(base), units, logit)
    difference = inputs - base
    change = value - baseline_value
    integrated = _integrated(engine, inputs, base, units, logit, steps) * difference
    gap = integrated.sum(axis=1) - change
    used = np.full(n, steps, dtype=np.int64)
    # The rows whose quadrature missed: again on twice the points (Gauss–Legendre's are not nested).
    todo = np.flatnonzero(np.abs(gap) > tolerance) if tolerance is not None else np.zeros(0, np.int64)
    while todo.size and 2 * used[todo[0]] <= max_steps:
        points = 2 * int(used[todo[0]])
        redone = _integrated(engine, inputs[todo], base[todo], units[todo], logit, points) * difference[todo]
        integrated[todo], used[todo] = redone, points
        gap[todo] = redone.sum(axis=1) - change[todo]
        todo = todo[np.abs(gap[todo]) > cast(float, tolerance)]
    return Attribution(
        output=units,
        value=value,
        baseline_value=baseline_value,
        gradient=gradient,
        gradient_x_input=gradient * difference,
        integrated_gradients=integrated,
        gap=gap,
        steps=used,
    )


def input_gradient(net: Network, X: Any, output: Any = 0, *, logit: bool = False) -> tuple[Floats, Floats]:
    """``f(x)`` and ``∂f/∂x`` of output unit ``output`` for every row, by the network's backward pass.

    Parameters
    ----------
    net : Network
    X : array_like of shape (n_samples, n_inputs) or (n_inputs,)
    output : int or array_like of int of shape (n_samples,), default 0
    logit : bool, default False
        The output layer's ``z`` instead of its ``a``.

    Returns
    -------
    value : ndarray of shape (n_samples,)
    gradient : ndarray of shape (n_samples, n_inputs)
        Both float64.
    """
    net = as_network(net)
    inputs = _rows(net, X, "X")
    net64 = net if net.dtype == np.float64 else net.copy(np.float64)
    engine = _Gradients(net64, min(inputs.shape[0], _rows_per_chunk(net64)))
    return engine.run(inputs, _units(output, inputs.shape[0], net64.n_outputs), logit)


# --------------------------------------------------------------------------- the backward pass to the inputs


class _Gradients:
    """The forward pass and a backward pass seeded at one output unit, in chunks of ``rows`` rows."""

    def __init__(self, net: Network, rows: int) -> None:
        self.net = net
        self.rows = max(1, rows)
        # The loss is never used: the backward pass starts from ∂f/∂a, not from an error term.
        self.step = Step(net.layers, get_loss("mse"))
        # A gradient buffer of this call (the Workspace's dW views; Dense layers do not write it here).
        self.ws = Workspace(
            net.layers,
            self.rows,
            net.dtype,
            np.empty_like(net.parameters),
            f"the input gradients of {self.rows:,} rows through a network of widths {widths(net.n_inputs, net.layers)}",
        )
        self.grad_x = np.empty((self.rows, net.n_inputs))

    def run(self, X: Floats, units: NDArray[np.int64], logit: bool) -> tuple[Floats, Floats]:
        """``f`` and ``∂f/∂x`` of ``units[i]`` for every row ``X[i]``."""
        n = X.shape[0]
        check_large(n * X.shape[1] * 8, f"the input gradients of {n:,} rows")
        values, gradient = np.empty(n), np.empty_like(X)
        for start in range(0, n, self.rows):
            stop = min(n, start + self.rows)
            values[start:stop] = self.chunk(X[start:stop], units[start:stop], logit)
            gradient[start:stop] = self.grad_x[: stop - start]
        if not np.isfinite(gradient).all():
            raise DataError("the gradient of the output with respect to the inputs is not finite; scale the inputs")
        return values, gradient

    def chunk(self, X: Floats, units: NDArray[np.int64], logit: bool) -> Floats:
        """One chunk: the forward pass into the workspace, then ``∂f/∂x`` into ``grad_x``; returns ``f``."""
        m, step, layers = X.shape[0], self.step, self.net.layers
        ws = self.ws.first(m)
        checked_forward(step, X, ws, self.net.dtype, self.net.check_parameters)
        last, picked = len(layers) - 1, np.arange(m)
        top = ws.h[last] if logit else ws.a[last]
        values = cast("Floats", top[picked, units].copy())
        seed = ws.grad_h[last]  # ∂f/∂a of the output layer: 1 at the explained unit
        seed.fill(0.0)
        seed[picked, units] = 1.0
        with np.errstate(over="ignore", invalid="ignore"):
            if not logit:  # ∂f/∂z = ∂f/∂a ⊙ f'(z) (softmax: its Jacobian-vector product)
                step.times_derivative[last](seed, ws.h[last], ws.a[last], ws.scratch[last], None)
            for l in range(last, -1, -1):
                below = ws.grad_h[l - 1] if l else self.grad_x[:m]
                if step.dense[l]:
                    error_below(ws.grad_h[l], cast("Dense", layers[l]).W, below)  # δ · Wᵀ; for l = 0, ∂f/∂x
                else:  # Dropout passes it through (inference); a layer of one's own by its rule
                    x = ws.a[l - 1] if l else X
                    layers[l].backward(x, ws.grad_h[l], below, ws.scratch[l], False, ws.dW[l], ws.db[l], False)
                if l:
                    step.times_derivative[l - 1](below, ws.h[l - 1], ws.a[l - 1], ws.scratch[l - 1], None)
        return values


def _integrated(
    engine: _Gradients, X: Floats, base: Floats, units: NDArray[np.int64], logit: bool, steps: int
) -> Floats:
    """``∫₀¹ ∂f/∂x(b + α (x − b)) dα`` of every row (Gauss–Legendre on ``steps`` points), shape of ``X``."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas, weights = (nodes + 1.0) / 2.0, weights / 2.0  # from [−1, 1] to [0, 1]
    n, width = X.shape
    total = np.zeros((n, width))
    difference = X - base
    # Points in blocks of whole rows where they fit, else in blocks of one row's points.
    per_block = max(1, engine.rows // steps)
    for start in range(0, n, per_block):
        stop = min(n, start + per_block)
        rows = np.repeat(np.arange(start, stop), steps)
        a = np.tile(alphas, stop - start)[:, None]
        points = base[rows] + a * difference[rows]
        _, gradient = engine.run(points, units[rows], logit)
        gradient *= np.tile(weights, stop - start)[:, None]
        total[start:stop] = gradient.reshape(stop - start, steps, width).sum(axis=1)
    return total


def _rows_per_chunk(net: Network) -> int:
    """Rows whose workspace, points and input gradients fit :data:`CHUNK_BYTES`."""
    per_row = workspace_bytes(net.layers, 1, net.dtype) + 3 * net.n_inputs * 8
    return max(1, CHUNK_BYTES // per_row)


def _rows(net: Network, values: Any, name: str) -> Floats:
    array = as_float_array(values, name, np.dtype(np.float64))
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != net.n_inputs:
        raise ShapeError(
            f"{name} must have {net.n_inputs} columns (the network's inputs), got array of shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise DataError(f"{name} is empty: need at least one row")
    return np.ascontiguousarray(array)


def _units(output: Any, n: int, n_outputs: int) -> NDArray[np.int64]:
    units = np.asarray(output)
    if units.dtype.kind not in "iu" or units.ndim > 1 or (units.ndim == 1 and units.shape[0] != n):
        raise ParameterError(f"output must be an integer or {n} integers (one per row), got {output!r}")
    if units.size and not (units.min() >= 0 and units.max() < n_outputs):
        raise ParameterError(f"output must be in 0..{n_outputs - 1} (the network's outputs), got {output!r}")
    return np.ascontiguousarray(np.broadcast_to(units, (n,)), dtype=np.int64)


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class ColumnContribution:
    """One column's share of a prediction: its raw value and its summed one-hot attributions."""

    column: str
    value: str | float | None
    integrated_gradients: float
    gradient_x_input: float


@dataclass(frozen=True)
class RowExplanation:
    """Why a table model predicted what it did for one row.

    Attributes
    ----------
    row : int
        The row's position in the frame (its ``offset`` counted in).
    prediction : str or float
        The class label, or the number in the target's units.
    probabilities : list of (label, float) or None
        Every class's probability (None for regression).
    explained : str
        What the contributions add up to: ``p(label)`` of the predicted class, or the target's name.
    value, baseline_value : float
        That quantity for the row and at the baseline (in the target's units for regression).
    gap : float
        ``Σ integrated gradients − (value − baseline_value)``: the completeness check.
    steps : int
        Quadrature points of the integrated gradients.
    columns : list of ColumnContribution
        Every feature column, largest ``|integrated gradients|`` first.
    """

    row: int
    prediction: Any
    probabilities: list[tuple[Any, float]] | None
    explained: str
    value: float
    baseline_value: float
    gap: float
    steps: int
    columns: list[ColumnContribution]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (``--json`` of ``backprop explain``)."""
        return {
            "row": self.row,
            "prediction": self.prediction,
            "probabilities": None
            if self.probabilities is None
            else [{"class": label, "probability": p} for label, p in self.probabilities],
            "explained": self.explained,
            "value": self.value,
            "baseline_value": self.baseline_value,
            "completeness_gap": self.gap,
            "steps": self.steps,
            "contributions": [
                {
                    "column": c.column,
                    "value": c.value,
                    "integrated_gradients": c.integrated_gradients,
                    "gradient_x_input": c.gradient_x_input,
                }
                for c in self.columns
            ],
        }


def training_baseline(pre: Preprocessor) -> Floats:
    """The network input of an average training row, shape ``(n_inputs,)``: the default baseline.

    A standardized number column's training mean is 0; without standardizing,
    the mean imputation's fill where there is one, else 0. A one-hot group gets
    ``1/k`` per category: the model file keeps the categories but not their
    frequencies, and ``1/k`` is their mean when all are equally frequent.
    """
    parts: list[Floats] = []
    for spec in pre.features:
        if spec.kind == "numeric":
            mean = spec.fill if pre.impute == "mean" and isinstance(spec.fill, float) else spec.mean
            parts.append(np.array([(mean - spec.mean) / spec.scale]))
        else:
            parts.append(np.full(spec.width, 1.0 / spec.width))
    return np.concatenate(parts)


def explain_table_rows(
    net: Network,
    pre: Preprocessor,
    head: Head,
    frame: Frame,
    rows: Sequence[int] | NDArray[np.int64] | None = None,
    *,
    baseline: Any = None,
    steps: int = DEFAULT_STEPS,
    tolerance: float | None = DEFAULT_TOLERANCE,
) -> list[RowExplanation]:
    """Each column's contribution to a table model's prediction, for raw rows of ``frame``.

    Classification explains the predicted class's probability (``1 − p`` of the
    single sigmoid unit when the first of two classes is predicted); regression
    the predicted number, in the target's units. A column's contribution is the
    sum over its inputs (one per category of a one-hot column).

    Parameters
    ----------
    net, pre, head
        The model's network, preprocessing and head (``heads.Model`` or ``TabularModel``'s
        ``network_``, ``preprocessor_``, ``head_``).
    frame : Frame
        Raw rows, as ``backprop.tabular.iter_tables`` reads them.
    rows : sequence of int, optional
        Positions in ``frame`` (default: all).
    baseline : array_like of shape (n_inputs,), optional
        In the network's inputs; default :func:`training_baseline`.
    steps : int, default 64
    tolerance : float or None, default 1e-3
        As :func:`attribute`'s, on the network's output (before a regression's units).

    Returns
    -------
    list of RowExplanation
        One per row, in order.
    """
    positions = np.arange(frame.n_rows) if rows is None else np.asarray(rows, dtype=np.int64)
    inputs = pre.transform(frame, rows=positions)
    output = net.predict(inputs)
    if head.task == "classification":
        predicted = head.classes(output)
        probabilities: NDArray[np.float64] | None = head.probabilities(output)
        units = np.zeros_like(predicted) if head.units == 1 else predicted
    else:
        predicted, probabilities, units = np.zeros(len(positions), np.int64), None, np.zeros(len(positions), np.int64)
    found = attribute(
        net,
        inputs,
        baseline=training_baseline(pre) if baseline is None else baseline,
        output=units,
        steps=steps,
        tolerance=tolerance,
    )
    # f of the predicted class: 1 − p for the first of two classes behind one sigmoid unit (every term negated);
    # regression: the target's units, value · scale + mean.
    sign = np.where((head.task == "classification") & (head.units == 1) & (predicted == 0), -1.0, 1.0)
    scale, shift = (pre.target.scale, pre.target.mean) if head.task == "regression" else (1.0, 0.0)
    offset = np.where(sign < 0, 1.0, shift)
    starts = np.cumsum([0] + [spec.width for spec in pre.features])
    explanations = []
    for i, position in enumerate(positions.tolist()):
        factor = sign[i] * scale
        integrated = np.add.reduceat(found.integrated_gradients[i] * factor, starts[:-1])
        local = np.add.reduceat(found.gradient_x_input[i] * factor, starts[:-1])
        columns = [
            ColumnContribution(spec.name, _raw(frame, spec.name, position), float(ig), float(gx))
            for spec, ig, gx in zip(pre.features, integrated.tolist(), local.tolist(), strict=True)
        ]
        columns.sort(key=lambda c: -abs(c.integrated_gradients))  # stable: ties keep the columns' order
        if probabilities is not None:
            label = pre.classes[int(predicted[i])]
            unit_name = "p" if head.units == 1 or head.output == "softmax" else "output"
            explanations.append(
                RowExplanation(
                    row=frame.offset + position,
                    prediction=label,
                    probabilities=list(zip(pre.classes, probabilities[i].tolist(), strict=True)),
                    explained=f"{unit_name}({label})",
                    value=float(offset[i] + factor * found.value[i]),
                    baseline_value=float(offset[i] + factor * found.baseline_value[i]),
                    gap=float(factor * found.gap[i]),
                    steps=int(found.steps[i]),
                    columns=columns,
                )
            )
        else:
            explanations.append(
                RowExplanation(
                    row=frame.offset + position,
                    prediction=float(pre.target_values(output[i : i + 1, 0])[0]),
                    probabilities=None,
                    explained=pre.target.name,
                    value=float(shift + scale * found.value[i]),
                    baseline_value=float(shift + scale * found.baseline_value[i]),
                    gap=float(scale * found.gap[i]),
                    steps=int(found.steps[i]),
                    columns=columns,
                )
            )
    return explanations


def _raw(frame: Frame, name: str, row: int) -> str | float | None:
    """The cell as the file held it: a number, text or an ISO date; None where missing."""
    cell = frame.column(name)[row]
    if isinstance(cell, np.datetime64):
        return None if np.isnat(cell) else str(np.datetime_as_string(cell))
    if isinstance(cell, float | np.floating):
        return None if np.isnan(cell) else float(cell)
    return None if cell is None else str(cell)


__all__ = [
    "DEFAULT_STEPS",
    "DEFAULT_TOLERANCE",
    "MAX_STEPS",
    "Attribution",
    "ColumnContribution",
    "RowExplanation",
    "attribute",
    "explain_table_rows",
    "input_gradient",
    "training_baseline",
]
