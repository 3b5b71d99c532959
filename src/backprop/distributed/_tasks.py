"""What the tasks of :mod:`backprop.distributed` run: stateless functions of their arguments.

Every function here is a pure function of what it is given — the run's
:class:`Spec`, the parameters ``θ`` of the step, one prepared :class:`Shard`
and the rows to use — so that Dask may run it on any worker, run it again
after a worker is lost, or run it in the client process (``client=None``),
and get the same bits. What a worker keeps between tasks (a replica of the
network and its step, per thread) is a cache whose contents every task
overwrites first.

A task's answer is a :data:`Part`: arrays (a gradient, or a replica's
parameters and optimizer buffers) and a float64 vector of sums (loss,
correct rows or absolute error, rows). Parts add in a fixed binary tree over
the shard index (:func:`tree_sum`), on the client or on the workers: the same
additions in the same order wherever they run.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._fast import step_for
from .._threads import hold
from .._validation import FloatArray
from ..losses import Loss
from ..metrics import correct
from ..network import Inference, Network, predict_rows
from ..optimizers import Optimizer
from ..step import Step

#: Positions in a part's sums: Σ loss, correct rows (classification) or Σ |ŷ − y| (regression), rows.
LOSS, SCORE, ROWS = 0, 1, 2
#: Arrays and sums; no arrays for a shard that had no row in the batch (it adds nothing).
Part = tuple[tuple[FloatArray, ...], np.ndarray[Any, Any]]


@dataclass(frozen=True)
class Spec:
    """What every task of one ``fit`` call shares: sent once, cached per worker thread by ``token``."""

    token: str
    net: Network  # the architecture; each task writes its own θ into a replica
    loss: Loss
    optimizer: Optimizer  # its type and hyper-parameters choose the compiled update; local rounds copy it
    classification: bool
    multilabel: bool
    dropout_entropy: int | None  # None: no Dropout layer, no masks to draw


@dataclass(frozen=True)
class Shard:
    """One shard's rows, checked and cast by the network (``Network.check_data``)."""

    inputs: FloatArray  # (n_rows, n_inputs), the network's dtype
    targets: FloatArray  # (n_rows, n_outputs), one-hot for crossentropy


def empty_part() -> Part:
    return (), np.zeros(3)


def add(left: Part, right: Part) -> Part:
    """``left + right``: arrays elementwise (a part without arrays adds nothing), sums in float64."""
    if not left[0]:
        arrays = right[0]
    elif not right[0]:
        arrays = left[0]
    else:
        arrays = tuple(a + b for a, b in zip(left[0], right[0], strict=True))
    return arrays, left[1] + right[1]


def tree_sum(parts: Sequence[Any], combine: Callable[[Any, Any], Any]) -> Any:
    """Σ parts in a fixed binary tree: neighbours pairwise, level by level (0+1, 2+3, …; an odd last moves up).

    ``combine`` is :func:`add` for values, or a function that submits ``add``
    as a task; the additions are the same either way.
    """
    level = list(parts)
    while len(level) > 1:
        paired = [combine(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    return level[0]


# ----------------------------------------------------------- one BLAS thread


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while any task of this process runs, so that a matrix product sums in one order.

    The process's setting, counted with ``fit``'s (:func:`backprop._threads.hold`): the first in sets it,
    the last out restores it; a ``fit`` already holding another count in this process keeps its count.
    """
    with hold(1):
        yield


# ----------------------------------------------------------------- replicas

_local = threading.local()


def replica(spec: Spec) -> tuple[Network, Step]:
    """This thread's copy of the run's network and step (built once per run and thread, θ written by each task)."""
    cached = getattr(_local, "replica", None)
    if cached is None or cached[0] != spec.token:
        net = spec.net.copy()
        cached = _local.replica = (spec.token, net, step_for(net.layers, spec.loss, spec.optimizer))
    return cached[1], cached[2]


def _dropout_rng(spec: Spec, where: tuple[int, int, int]) -> np.random.Generator | None:
    """The masks of one shard's part of one step: from the seed and ``(epoch, step, shard)`` alone."""
    if spec.dropout_entropy is None:
        return None
    return np.random.default_rng([spec.dropout_entropy, *where])


# -------------------------------------------------------------------- tasks


def prepare_shard(net: Network, loss: Loss, X: Any, y: Any) -> Shard:
    """A shard's rows checked and cast as ``fit`` would (raises the same errors, from the worker)."""
    inputs, targets, _, _ = net.check_data(X, y, loss)
    return Shard(np.ascontiguousarray(inputs), np.ascontiguousarray(targets))


def class_labels(shard: Shard, loss_name: str) -> np.ndarray[Any, Any]:
    """Each row's class (for a stratified validation split): argmax, or ≥ ½ for one binary output."""
    if loss_name == "crossentropy":
        labels: np.ndarray[Any, Any] = shard.targets.argmax(axis=1)
        return labels
    return (shard.targets[:, 0] >= 0.5).astype(np.int64)


def target_moments(shard: Shard, rows: np.ndarray[Any, Any] | None) -> tuple[int, np.ndarray[Any, Any], float]:
    """``(count, mean per column, Σ (y − mean)²)`` of the targets of ``rows`` (None: all), in float64 (for R²)."""
    values = (shard.targets if rows is None else shard.targets[rows]).astype(np.float64)
    if values.shape[0] == 0:
        return 0, np.zeros(values.shape[1]), 0.0
    mean = values.mean(axis=0)
    centered = values - mean
    return values.shape[0], mean, float(np.einsum("ij,ij->", centered, centered))


def _batch_gradient(
    net: Network, step: Step, spec: Spec, shard: Shard, rows: np.ndarray[Any, Any], scale: float, rng: Any
) -> np.ndarray[Any, Any]:
    """``net.gradient`` ← Σ over ``rows`` of ∂ℓ/∂θ · ``scale``: the forward pass, the loss, the backward pass.

    :meth:`backprop.training.Trainer.compute_gradient`'s arithmetic on a
    shard's rows. Returns the sums (a loss that is not finite stops before the backward pass).
    """
    m = rows.shape[0]
    xb = shard.inputs.take(rows, axis=0)
    yb = shard.targets.take(rows, axis=0)
    ws = net.workspace(m)  # a shard's share changes size every step: views of one workspace (no new pages)
    output = step.forward(xb, ws, rng)
    loss = step.batch_loss(ws.h[-1], output, yb)
    sums = np.array([loss, 0.0, float(m)])
    if not math.isfinite(loss):
        return sums  # the client raises DivergenceError naming the epoch and step
    step.backward(ws, xb, yb, scale)
    if spec.classification:
        sums[SCORE] = step.count_correct(output, yb, spec.multilabel)
    else:
        sums[SCORE] = float(np.abs(np.subtract(output, yb, dtype=np.float64)).sum())
    return sums


def shard_gradient(
    spec: Spec,
    parameters: FloatArray,
    shard: Shard,
    rows: np.ndarray[Any, Any],
    batch_size: int,
    where: tuple[int, int, int],
) -> Part:
    """This shard's share of a batch's gradient: Σ over its ``rows`` of ∂ℓ/∂θ / ``batch_size``, at ``parameters``.

    Summed over the shards, the gradient of the batch's mean loss. ``where``
    is ``(epoch, step, shard)``, for the dropout masks.
    """
    if rows.shape[0] == 0:
        return empty_part()
    net, step = replica(spec)
    with one_blas_thread(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        np.copyto(net.parameters, parameters)
        sums = _batch_gradient(net, step, spec, shard, rows, 1.0 / batch_size, _dropout_rng(spec, where))
    return (net.gradient.copy(),), sums


def optimizer_buffers(optimizer: Optimizer) -> dict[str, FloatArray]:
    """The optimizer's state buffers (arrays as long as θ), by name."""
    return {key: value for key, value in optimizer.state_dict().items() if isinstance(value, np.ndarray)}


def local_round(
    spec: Spec,
    start: tuple[FloatArray, Optimizer],
    shard: Shard,
    batches: list[np.ndarray[Any, Any]],
    where: tuple[int, int, int],
) -> Part:
    """Local SGD: one replica's steps, each on its rows of the next batch, from ``start``: θ and the optimizer.

    Every replica takes ``len(batches)`` optimizer steps (a step without rows
    has a zero gradient), so that their step counts agree. Returns the
    replica's parameters and optimizer buffers (sorted by name) and its sums.
    ``where`` is ``(epoch, first step, shard)``.
    """
    parameters, optimizer = start
    net, step = replica(spec)
    mine = copy.deepcopy(optimizer)  # never the argument itself: in-process it is the client's
    backup = np.empty_like(net.parameters)
    total = np.zeros(3)
    epoch, first, index = where
    with one_blas_thread(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        np.copyto(net.parameters, parameters)
        for offset, rows in enumerate(batches):
            if rows.shape[0]:
                rng = _dropout_rng(spec, (epoch, first + offset, index))
                sums = _batch_gradient(net, step, spec, shard, rows, 1.0 / rows.shape[0], rng)
                total += sums
                if not math.isfinite(sums[LOSS]):
                    break  # diverged: the client sees the loss and keeps its parameters
            else:
                net.gradient[...] = 0
            step.weight_update(mine, net.parameters, net.gradient, backup)
    buffers = optimizer_buffers(mine)
    return (net.parameters.copy(), *(buffers[key] for key in sorted(buffers))), total


def shard_evaluation(spec: Spec, parameters: FloatArray, shard: Shard, rows: np.ndarray[Any, Any] | None) -> Part:
    """Validation sums over ``rows`` of the shard (all for None): inference, in predict's chunks."""
    net, _ = replica(spec)
    n = shard.inputs.shape[0] if rows is None else rows.shape[0]
    sums = np.zeros(3)
    sums[ROWS] = n
    if n == 0:
        return (), sums
    chunk = predict_rows(net.layers, n, net.dtype)
    with one_blas_thread(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        np.copyto(net.parameters, parameters)
        buffers = Inference(net.layers, chunk, net.dtype, f"validation on chunks of {chunk:,} rows")
        for start in range(0, n, chunk):
            if rows is None:
                xb, yb = shard.inputs[start : start + chunk], shard.targets[start : start + chunk]
            else:
                part = rows[start : start + chunk]
                xb, yb = shard.inputs.take(part, axis=0), shard.targets.take(part, axis=0)
            h, output = buffers.forward(net.layers, xb, net.dtype)
            sums[LOSS] += spec.loss.total(h, output, yb, None)
            if spec.classification:
                sums[SCORE] += correct(output, yb, spec.multilabel)
            else:
                sums[SCORE] += float(np.abs(np.subtract(output, yb, dtype=np.float64)).sum())
    return (), sums


def predict_block(net: Network, block: Any) -> FloatArray:
    """``net.predict`` of one block of rows, on one BLAS thread."""
    with one_blas_thread():
        return net.predict(np.asarray(block))


def identity(value: Any) -> Any:
    """A task that returns its argument: a value Dask can recompute from the task's own spec when it is lost."""
    return value
