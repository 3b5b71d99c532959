"""Where a training step's time goes: backprop's step with its hooks timed, one epoch of a workload.

The bench's table says how far backprop is from the GEMM limit; this says
why. A :class:`backprop.training.Trainer` (the object ``fit`` loops over) is
built for the workload and its step's hooks are wrapped in timers: the
gather of the batch, the activations ``a = f(h)``, the loss, the output
error term, the derivatives ``⊙ f'(h)``, the gradient norms, the optimizer's
weight update and the count of right answers. What is left of the forward
pass is its matrix products ``h = x · W`` (and the bias where no kernel
fuses it); of the backward pass, ``∂L/∂W = xᵀ · grad_h`` and ``δ · Wᵀ`` (and
the bias sums); of the epoch, the Python of the loop itself. Milliseconds
per step, the best of ``rounds`` epochs; the timers cost ~0.1 µs a call.
Beside them, the step as ``fit`` runs it, untimed inside: in one compiled
call where it can be (``Trainer.whole_step``), which the hooks' timers
would split.

Imports numpy and backprop's core.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _kernels
from ..training import Trainer
from .contenders import BackpropContender
from .workloads import Data, Workload

#: The parts of a step, in the order a step runs them (the table's rows).
PARTS = (
    "gather",
    "forward products",
    "activations",
    "loss",
    "output error",
    "backward products",
    "derivatives",
    "norms",
    "update",
    "count",
    "loop",
)


def _timed(spent: defaultdict[str, float], part: str, hook: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return hook(*args, **kwargs)
        finally:
            spent[part] += time.perf_counter() - began

    return timed


def _trainer(workload: Workload, data: Data, threads: int | None) -> Trainer:
    """The :class:`Trainer` ``fit`` would build for one epoch of the workload, from seed 0."""
    contender = BackpropContender(workload)
    return Trainer(
        contender.build(0), data.X_train, data.y_train, "crossentropy", contender._optimizer(), 1,
        workload.batch_size, True, None, None, None, 0.0, None, None, None, 0, None, threads,
    )  # fmt: skip


def _epoch(workload: Workload, data: Data, threads: int | None) -> tuple[float, dict[str, float], int, int]:
    """One epoch of ``fit``'s loop with the hooks timed: its seconds, seconds by part, steps, BLAS threads."""
    run = _trainer(workload, data, threads)
    spent: defaultdict[str, float] = defaultdict(float)
    step = run.step
    step.forward = _timed(spent, "forward", step.forward)  # type: ignore[method-assign]
    step.backward = _timed(spent, "backward", step.backward)  # type: ignore[method-assign]
    step.batch_loss = _timed(spent, "loss", step.batch_loss)  # type: ignore[method-assign]
    step.output_error = _timed(spent, "output error", step.output_error)  # type: ignore[method-assign]
    step.weight_update = _timed(spent, "update", step.weight_update)  # type: ignore[method-assign]
    step.count_correct = _timed(spent, "count", step.count_correct)  # type: ignore[method-assign]
    step.activate = [_timed(spent, "activations", hook) for hook in step.activate]
    step.times_derivative = [_timed(spent, "derivatives", hook) for hook in step.times_derivative]
    if run.gather is not None:
        run.gather = _timed(spent, "gather", run.gather)
    run.squared_norms = _timed(spent, "norms", run.squared_norms)  # type: ignore[assignment]
    steps = 0
    try:
        began = time.perf_counter()
        sums = run.begin_epoch(0)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for index, rows in run.batches(sums):
                batch = run.compute_gradient(rows, 0, index)
                run.apply_gradient(sums, 0, index)
                run.add(sums, batch)
                steps += 1
        seconds = time.perf_counter() - began
    finally:
        run.close()
    return seconds, dict(spent), steps, int(run.state.history.threads or 1)


def _fit_epoch(workload: Workload, data: Data, threads: int | None) -> tuple[float, int, bool]:
    """One epoch of ``fit``'s own loop, nothing timed inside: its seconds, steps, and whether each step after
    the first (which allocates the optimizer's state) ran in one compiled call."""
    run = _trainer(workload, data, threads)
    steps = whole = 0
    try:
        began = time.perf_counter()
        sums = run.begin_epoch(0)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for index, rows in run.batches(sums):
                batch = run.whole_step(rows, sums, 0, index)
                whole += batch is not None
                if batch is None:
                    batch = run.compute_gradient(rows, 0, index)
                    run.apply_gradient(sums, 0, index)
                    run.add(sums, batch)
                steps += 1
        return time.perf_counter() - began, steps, whole == steps - 1 > 0
    finally:
        run.close()


def step_parts(workload: Workload, data: Data, threads: int | None = None, rounds: int = 3) -> dict[str, Any]:
    """Milliseconds per step by part (:data:`PARTS`) of the best of ``rounds`` epochs, after one unmeasured.

    Returns
    -------
    dict
        ``step_ms`` (the whole step), ``parts_ms`` (by part), ``steps`` (of the epoch), ``threads``
        (the BLAS threads the rule, or ``threads``, gave); ``fit_step_ms``, the step as ``fit`` runs it,
        and ``in_one_call``, whether that is one compiled call from the second step (``Trainer.whole_step``).
    """
    _kernels.enabled(np.float32)  # as the bench's warm-up does: the step the timed runs take
    _epoch(workload, data, threads)  # the workspaces, the kernels, the BLAS's threads: outside the clock
    seconds, spent, steps, used = min((_epoch(workload, data, threads) for _ in range(rounds)), key=lambda r: r[0])
    inner = {"activations", "derivatives", "output error"}
    parts = {
        "gather": spent.get("gather", 0.0),
        "forward products": spent["forward"] - spent.get("activations", 0.0),
        "activations": spent.get("activations", 0.0),
        "loss": spent["loss"],
        "output error": spent.get("output error", 0.0),
        "backward products": spent["backward"] - spent.get("derivatives", 0.0) - spent.get("output error", 0.0),
        "derivatives": spent.get("derivatives", 0.0),
        "norms": spent["norms"],
        "update": spent["update"],
        "count": spent["count"],
    }
    parts["loop"] = seconds - sum(value for key, value in spent.items() if key not in inner)
    per_step = 1e3 / max(1, steps)
    # fit's step as fit runs it: in one compiled call where it can be (_fast.WholeStep), else these hooks.
    fit_seconds, fit_steps, in_one_call = min(_fit_epoch(workload, data, threads) for _ in range(rounds))
    return {
        "fit_step_ms": fit_seconds * 1e3 / max(1, fit_steps),
        "in_one_call": in_one_call,
        "step_ms": seconds * per_step,
        "parts_ms": {part: max(0.0, parts[part]) * per_step for part in PARTS},
        "steps": steps,
        "threads": used,
    }
