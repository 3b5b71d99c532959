"""The training loop: epochs of mini-batches, each one forward pass, one
backward pass and one optimizer step on the flat parameter buffer.

Inputs and targets are checked and cast once per ``fit``; batches are
gathered into buffers allocated once, so a step allocates nothing that grows
with the data. All randomness (the validation split, the order of the
samples, the dropout masks) flows from one seed, so the same seed gives
bit-identical weights and history, and a run resumed from a checkpoint ends
bit for bit where the uninterrupted run ends.

Callbacks see a small protocol (:class:`Callback`): ``on_train_begin(state)``,
``on_batch_end(batch, logs) -> stop?``, ``on_epoch_end(epoch, logs) -> stop?`` and
``on_train_end(state)``. The core prints nothing; progress bars, logs and
checkpoints are callbacks.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _buffers, _kernels
from ._validation import (
    FloatArray,
    check_interval,
    check_positive,
    check_positive_int,
    check_seed,
    fits_float,
    is_finite_number,
    scaled_weights,
    shown,
    shown_briefly,
)
from .errors import BackpropError, BackpropTypeError, DataError, DivergenceError, ModelFileError, ParameterError
from .layers import Dropout
from .losses import Loss
from .metrics import correct, mean_abs_share, r2, total_variance
from .optimizers import OPTIMIZERS, Optimizer, get_optimizer
from .preprocessing import fraction_count, split, stratified_split
from .schedules import Schedule, get_schedule

if TYPE_CHECKING:
    from .network import Network, _Workspace


class Callback:
    """Hooks called by :func:`fit`; subclass and override what you need.

    ``on_epoch_end`` returns True to stop training after this epoch. ``logs``
    holds the epoch's metrics (``loss``, ``accuracy`` or ``r2``/``mae``,
    their ``val_`` twins with validation data, ``lr``, ``seconds``,
    ``grad_norm_<layer>``).
    """

    def on_train_begin(self, state: TrainingState) -> None:
        """Called once before the first epoch (of this call, when resuming)."""

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> bool | None:
        """Called after every optimizer step with ``{"loss": batch loss, "size": rows}``; True stops.

        A stop here ends training mid-epoch: the epoch is not logged, and
        ``state.partial`` holds where it stopped, so that a checkpoint written
        now (``state.checkpoint()``, or :class:`ModelCheckpoint` at train end)
        resumes with the next batch, bit for bit.
        """
        return None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        """Called after every epoch (numbered from 0) with its metrics; True stops."""
        return None

    def on_train_end(self, state: TrainingState) -> None:
        """Called once after the last epoch, also after a stop."""

    def on_train_error(self, state: TrainingState, error: BaseException) -> None:
        """Called instead of ``on_train_end`` when training ends with an exception."""

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to continue this callback (saved in checkpoints)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`; called before ``on_train_begin`` when resuming."""

    def _check_state_dict(self, state: Any, net: Network) -> None:
        """Raise a BackpropError if ``load_state_dict(state)`` would refuse ``state``, or leave
        this callback unfit to train ``net``.

        A resume calls it for every callback before it changes anything, so that a
        damaged checkpoint leaves the network, the optimizer and the callbacks as
        they were. The built-in callbacks check their fields here.
        """


class History:
    """What ``fit`` measured, epoch by epoch.

    Attributes
    ----------
    epoch : list of int
        The epochs run, numbered from 0.
    history : dict of str to list of float
        Per-epoch values keyed by name: ``loss``, ``accuracy`` (classification)
        or ``r2`` and ``mae`` (regression), ``val_``-prefixed twins with
        validation data, ``lr``, ``seconds`` and ``grad_norm_<l>``, the mean
        norm of layer ``l``'s weight gradient over the epoch's batches.
    seed : int or None
        The seed the run used (drawn from the OS when ``fit`` got none).
    """

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}
        self.seed: int | None = None

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        """Record the metrics ``logs`` of ``epoch``."""
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    @property
    def loss(self) -> list[float]:
        """The training loss of every epoch (mean over its batches)."""
        return self.history.get("loss", [])

    @property
    def monitor(self) -> str:
        """The metric that ranks epochs: ``val_loss`` with validation data, else ``loss``."""
        return "val_loss" if "val_loss" in self.history else "loss"

    @property
    def best_epoch(self) -> int | None:
        """The epoch with the lowest :attr:`monitor` value (None before any epoch)."""
        values = self.history.get(self.monitor)
        if not values:
            return None
        return self.epoch[int(np.argmin(values))]

    @property
    def grad_norms(self) -> dict[int, list[float]]:
        """Per Dense layer (numbered from 1) its gradient norm, epoch by epoch."""
        prefix = "grad_norm_"
        return {int(k[len(prefix) :]): v for k, v in self.history.items() if k.startswith(prefix)}

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()}, "seed": self.seed}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`, checked whole before anything changes.

        ``epoch`` must list epoch numbers (integers >= 0), ``history`` map
        metric names to lists of numbers, none longer than ``epoch``, and
        ``seed`` be None or an integer >= 0.
        """
        if not isinstance(state, Mapping):
            raise BackpropTypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        missing = sorted({"epoch", "history", "seed"} - set(state))
        if missing:
            raise ParameterError(f"history state is missing {missing}")
        epochs, history, seed = state["epoch"], state["history"], state["seed"]
        if not isinstance(epochs, list) or not all(_is_count(epoch) for epoch in epochs):
            raise ParameterError(f"epoch must be a list of epoch numbers (integers >= 0), got {shown_briefly(epochs)}")
        if not isinstance(history, Mapping):
            raise ParameterError(f"history must map metric names to lists of numbers, got {shown_briefly(history)}")
        for key, values in history.items():
            if not isinstance(values, list) or len(values) > len(epochs) or not all(map(fits_float, values)):
                raise ParameterError(
                    f"history[{shown_briefly(key)}] must be a list of at most {len(epochs)} numbers (one per "
                    f"epoch), got {shown_briefly(values)}"
                )
        if seed is not None:
            seed = check_seed(seed)
        self.epoch = [int(e) for e in epochs]
        self.history = {str(k): [float(x) for x in v] for k, v in history.items()}
        self.seed = seed

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v and not k.startswith("grad_norm_")}
        return f"History(epochs={len(self)}, last={last})"


@dataclass
class TrainingState:
    """The live objects of one ``fit`` call, as callbacks see them.

    ``epoch`` is the last finished epoch (−1 before the first). ``checkpoint()``
    gathers everything a resumed run needs to continue bit for bit.
    """

    net: Network
    optimizer: Optimizer
    schedule: Schedule
    history: History
    seed: int
    base_lr: float
    epochs: int
    rngs: dict[str, np.random.Generator] = field(default_factory=dict)
    epoch: int = -1
    metrics: tuple[str, ...] = ()
    callbacks: list[Callback] = field(default_factory=list)
    #: Set when a callback stopped training after a batch, mid-epoch: the
    #: epoch's batch order, the next batch and the epoch's running sums, so
    #: that a resumed run continues with the next batch, bit for bit.
    partial: dict[str, Any] | None = None

    def checkpoint(self) -> dict[str, Any]:
        """The state to write with :func:`backprop.io.save_checkpoint`."""
        return {
            "epoch": self.epoch,
            "epochs": self.epochs,
            "seed": self.seed,
            "base_lr": self.base_lr,
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "rngs": {name: rng.bit_generator.state for name, rng in self.rngs.items()},
            "history": self.history.state_dict(),
            "callbacks": [{"type": type(c).__name__, "state": c.state_dict()} for c in self.callbacks],
            "partial": self.partial,
        }


def fit(
    net: Network,
    X: Any,
    y: Any,
    loss: str | Loss = "mse",
    optimizer: Optimizer | str | None = None,
    epochs: int = 1,
    batch_size: int | None = 32,
    shuffle: bool = True,
    validation: float | tuple[Any, Any] | None = None,
    sample_weight: Any = None,
    class_weight: str | dict[Any, float] | None = None,
    l2: float = 0.0,
    clip_norm: float | None = None,
    schedule: Schedule | str | None = None,
    callbacks: Sequence[Callback] | Callback | None = (),
    seed: int | None = None,
    resume_from: str | PathLike[str] | tuple[Network, dict[str, Any]] | None = None,
) -> History:
    """Train ``net`` in place by mini-batch gradient descent.

    Parameters
    ----------
    net : Network
    X : array_like of shape (n_samples, n_inputs)
    y : array_like of shape (n_samples, n_outputs) or (n_samples,)
        Targets; for ``crossentropy`` class indices or one-hot rows.
    loss : {"mse", "binary_crossentropy", "crossentropy"} or Loss, default "mse"
    optimizer : Optimizer or name, default SGD(0.01)
        ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"`` or an instance.
    epochs : int, default 1
        The epoch to stop after; when resuming, the total the run should reach.
    batch_size : int or None, default 32
        Samples per step: None for full-batch, 1 for online learning. A value
        larger than the data is clipped to the data.
    shuffle : bool, default True
        Visit the samples in a new random order every epoch.
    validation : float or (X_val, y_val), optional
        A fraction of the data held out (stratified by class for the
        classification losses), or a separate validation set. Adds
        ``val_``-prefixed metrics to the history.
    sample_weight : array_like of shape (n_samples,), optional
        The loss becomes the weighted mean.
    class_weight : "balanced" or dict of class index to weight, optional
        Multiplies each sample's weight by its class's weight
        (``"balanced"``: ``n_samples / (n_classes · count)``).
    l2 : float, default 0
        Adds ``½ · l2 · Σ W²`` over the weights (not the biases) to the loss.
    clip_norm : float, optional
        Rescales the whole gradient to this norm when it is longer.
    schedule : Schedule or name, optional
        The learning rate of each epoch (``"constant"``, ``"step"``,
        ``"exponential"``, ``"cosine"``, ``"plateau"`` or an instance).
    callbacks : Callback or sequence of Callback
    seed : int, optional
        Seed of the split, the shuffling and dropout; the same seed gives
        bit-identical training. Drawn from the OS when omitted and recorded
        in ``history.seed``.
    resume_from : path or (Network, dict), optional
        A checkpoint written by :class:`backprop.callbacks.ModelCheckpoint`:
        training continues after its epoch with its parameters, optimizer
        state, schedule position and random state, and ends bit for bit where
        the uninterrupted run would have. Instead of a path, the pair
        :func:`backprop.io.load_checkpoint` returned: a caller that has read
        the checkpoint to look at its state resumes from that very version,
        even if the file has been replaced since.

    Returns
    -------
    History

    Raises
    ------
    DivergenceError
        When the loss or the gradient stops being finite; the network keeps
        the last finite parameters.
    """
    inputs, targets, loss_fn, weights = net._prepare(X, y, loss, sample_weight)
    _kernels.enabled()  # load (or compile) the compiled kernels, if numba is there, for every step
    net._check_parameters()
    checkpoint = None if resume_from is None else _read_checkpoint(net, resume_from)
    if optimizer is None and checkpoint is not None:
        optimizer = _saved_optimizer(checkpoint)
    optimizer = _optimizer(optimizer)
    schedule_fn = get_schedule(schedule)
    epochs = check_positive_int(epochs, "epochs")
    if not isinstance(shuffle, bool | np.bool_):
        raise BackpropTypeError(f"shuffle must be True or False, got shuffle={shuffle!r}")
    l2 = check_interval(l2, "l2", 0.0, None)
    largest = float(np.finfo(net.dtype).max)
    if l2 > largest:
        raise ParameterError(f"l2 must be at most {largest:.4g} in {net.dtype.name}, got l2={l2:g}")
    clip = None if clip_norm is None else check_positive(clip_norm, "clip_norm")
    if isinstance(callbacks, Callback):
        callbacks = [callbacks]
    elif callbacks is None or isinstance(callbacks, Sequence):
        callbacks = list(callbacks or ())
    else:
        raise BackpropTypeError(f"callbacks must be a Callback or a list of them, got {callbacks!r}")
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise BackpropTypeError(f"callbacks must be backprop Callback instances, got {callback!r}")

    if checkpoint is not None:
        if seed is not None and check_seed(seed) != checkpoint.seed:
            raise ParameterError(
                f"seed={seed!r} differs from the seed {checkpoint.seed} of the checkpoint {checkpoint.where!r}; "
                "omit seed to resume"
            )
        seed = checkpoint.seed
    seed = check_seed(seed)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
    split_seq, shuffle_seq, dropout_seq = np.random.SeedSequence(seed).spawn(3)

    classification = loss_fn.name in ("crossentropy", "binary_crossentropy")
    # Samples are addressed by row number, never copied: X may be a memmap larger than memory.
    train_rows: np.ndarray[Any, Any] = np.arange(inputs.shape[0])
    validation_set: tuple[FloatArray, FloatArray, np.ndarray[Any, Any] | None] | None = None
    if validation is not None:
        train_rows, validation_set = _validation_data(net, validation, inputs, targets, loss_fn, split_seq)
    if class_weight is not None:  # counted on the training rows: "balanced" balances what is trained on
        weights = _apply_class_weight(class_weight, targets, weights, loss_fn, train_rows)

    n = train_rows.shape[0]
    batch = n if batch_size is None else min(check_positive_int(batch_size, "batch_size"), n)
    # Every buffer of the run is sized before the first is allocated: one clear error, not a MemoryError midway.
    net._check_training_memory(batch, n, inputs.shape[1], targets.shape[1])
    shuffle_rng = np.random.default_rng(shuffle_seq)
    dropout_rng = np.random.default_rng(dropout_seq)
    history = History()
    history.seed = seed
    state = TrainingState(
        net=net,
        optimizer=optimizer,
        schedule=schedule_fn,
        history=history,
        seed=seed,
        base_lr=optimizer.lr,
        epochs=epochs,
        rngs={"shuffle": shuffle_rng, "dropout": dropout_rng},
        metrics=_metric_names(classification, validation_set is not None),
        callbacks=callbacks,
    )
    if checkpoint is not None:
        _restore(state, checkpoint, train_rows, -(-n // batch))
    start = state.epoch + 1

    # Buffers for the whole run: batch gathering, relative weights, L2 and norms.
    order = train_rows.copy()
    batch_inputs = np.empty((batch, inputs.shape[1]), net.dtype)
    # The batch's inputs by the compiled gather where it applies (an array in memory, not a memmap).
    plain = type(inputs) is np.ndarray and inputs.flags.c_contiguous and order.dtype == np.intp
    gather = _kernels.loaded("gather_rows") if plain and inputs.dtype == net.dtype else None
    batch_targets = np.empty((batch, targets.shape[1]), net.dtype)
    batch_scale = np.empty((batch, 1), net.dtype)
    # Each sample's weight relative to the mean weight (see _relative_weights).
    relative = None if weights is None else _relative_weights(weights, train_rows, net.dtype)
    scratch = _buffers.empty(net.parameters.shape, net.dtype, _buffers.SCRATCH)
    backup = _buffers.empty(net.parameters.shape, net.dtype, _buffers.BACKUP)
    l2_scale = _l2_scale(net, l2) if l2 else None
    segments, weight_segments = _gradient_segments(net)
    squared_norms = _SquaredNorms(net.gradient, segments, weight_segments, scratch, reporting=clip is None)
    variance = total_variance(targets[train_rows]) if not classification else (0.0, 0)
    multilabel = loss_fn.name == "binary_crossentropy"  # every column its own yes/no; else argmax

    # The generator the Dropout layers draw their masks from, passed to each training step's
    # forward pass only: a predict in a callback or in another thread draws nothing.
    step_rng = dropout_rng if any(isinstance(layer, Dropout) for layer in net.layers) else None
    steps_run = 0  # optimizer steps in this call: the backup is valid once there was one
    caller_errors = np.geterr()
    try:
        for callback in callbacks:
            callback.on_train_begin(state)
        for epoch in range(start, epochs):
            began = time.perf_counter()
            optimizer.lr = schedule_fn(epoch, state.base_lr)
            partial, state.partial = state.partial, None
            if partial is not None:
                # Resuming an epoch a callback stopped after a batch: its order and sums.
                order[:] = partial["order"]
                first = int(partial["step"])
                loss_sum, data_loss_sum, correct, abs_sum = (float(value) for value in partial["sums"])
                norm_sums = np.array(partial["norm_sums"], dtype=np.float64)
            else:
                if shuffle:
                    # From the same start each epoch: the order depends on the generator's
                    # state alone, so a resumed run draws the same permutations.
                    order[:] = train_rows
                    shuffle_rng.shuffle(order)
                first = 0
                loss_sum = data_loss_sum = correct = abs_sum = 0.0
                norm_sums = np.zeros(len(net.dense_layers))
            steps = first
            # numpy's floating-point warnings are off for the whole loop (the training
            # loop checks the loss and the gradient itself); callbacks run under the caller's.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                for step, start_row in enumerate(range(first * batch, n, batch), start=first):
                    rows = order[start_row : start_row + batch]
                    m = rows.shape[0]
                    if gather is not None:
                        xb = batch_inputs[:m]
                        gather(inputs, rows, xb)
                    else:
                        # mode="clip": the rows are valid, and the default "raise" gathers
                        # through a temporary buffer (measured 3x slower).
                        xb = inputs.take(rows, axis=0, out=batch_inputs[:m], mode="clip")
                    yb = targets.take(rows, axis=0, out=batch_targets[:m], mode="clip")
                    ws = net._workspace(m)
                    net._forward(xb, ws, step_rng)
                    if relative is None:
                        scale: Any = 1.0 / m
                        batch_loss = loss_fn.total(ws.z[-1], ws.a[-1], yb)
                    else:
                        scale = relative.take(rows, out=batch_scale[:m, 0], mode="clip")[:, None]
                        batch_loss = loss_fn.total(ws.z[-1], ws.a[-1], yb, scale[:, 0])
                        scale /= m
                    if not math.isfinite(batch_loss):
                        _diverged(net, backup, steps_run, epoch, step, _first_non_finite(ws, m), "the loss")
                    net._backward(ws, xb, yb, loss_fn, scale, check=False)
                    data_loss_sum += batch_loss
                    if l2_scale is not None:
                        batch_loss += 0.5 * m * _l2_penalty(net.parameters, l2_scale, scratch)
                        if not math.isfinite(batch_loss):  # weights beyond ~1e154: Σ λ θ² overflows float64
                            heaviest = max(net.dense_layers, key=lambda dense: float(np.abs(dense.W).max()))
                            _diverged(net, backup, steps_run, epoch, step, heaviest.index, "the loss's L2 term", l2)
                        net.gradient += scratch
                    # The step's weight norms go into norm_sums when their total is finite.
                    total = squared_norms(norm_sums)
                    if not math.isfinite(total):
                        squares = squared_norms.sums[weight_segments]
                        bad = net.dense_layers[int(np.argmax(~np.isfinite(squares)))].index
                        # A finite gradient beyond 1e154 has a squared norm beyond float64.
                        finite = np.isfinite(net.gradient.min()) and np.isfinite(net.gradient.max())
                        what = "the gradient's norm" if finite else "the gradient"
                        _diverged(net, backup, steps_run, epoch, step, bad, what, l2)
                    if clip is not None and total > clip * clip:
                        net.gradient *= clip / np.sqrt(total)
                    optimizer._step_saving(net.parameters, net.gradient, backup)
                    steps += 1
                    steps_run += 1
                    loss_sum += batch_loss
                    if classification:
                        correct += _correct(ws.a[-1], yb, multilabel)  # the workspace holds m rows
                    else:
                        abs_sum += mean_abs_share(ws.a[-1], yb, n * targets.shape[1])
                    if not callbacks:
                        continue
                    logs_batch = {"loss": batch_loss / m, "size": float(m)}
                    with np.errstate(**caller_errors):
                        stop = any([bool(callback.on_batch_end(step, logs_batch)) for callback in callbacks])
                    if stop:
                        state.partial = {
                            "epoch": epoch,
                            "step": step + 1,
                            "order": order.copy(),
                            "sums": [loss_sum, data_loss_sum, correct, abs_sum],
                            "norm_sums": norm_sums.copy(),
                        }
                        break
            if state.partial is not None:
                break  # stopped after a batch: the epoch is not finished, nothing is logged

            if not (np.isfinite(net.parameters.min()) and np.isfinite(net.parameters.max())):
                # The epoch's last step overflowed: no later batch will see it.
                _diverged(net, backup, steps_run, epoch, steps - 1, _first_non_finite_layer(net), "a parameter")
            logs = {"loss": loss_sum / n}
            if classification:
                logs["accuracy"] = correct / n
            else:
                logs["r2"] = r2(data_loss_sum, variance)
                logs["mae"] = abs_sum
            if validation_set is not None:
                logs.update(_evaluate(net, *validation_set, loss_fn, classification, multilabel, l2_scale, scratch))
            logs["lr"] = optimizer.lr
            logs["seconds"] = time.perf_counter() - began
            for dense, norm_sum in zip(net.dense_layers, norm_sums, strict=True):
                logs[f"grad_norm_{dense.index}"] = float(norm_sum / steps)
            history.append(epoch, logs)
            schedule_fn.update(epoch, logs)
            state.epoch = epoch
            if any([bool(callback.on_epoch_end(epoch, logs)) for callback in callbacks]):
                break
    except BaseException as error:
        for callback in callbacks:
            callback.on_train_error(state, error)
        raise
    for callback in callbacks:
        callback.on_train_end(state)
    return history


# --------------------------------------------------------------------- helpers


def _correct(output: FloatArray, targets: FloatArray, multilabel: bool) -> int:
    """:func:`backprop.metrics.correct`, by the compiled argmax where it applies."""
    kernel = _kernels.loaded("argmax_hits")
    if kernel is not None and not multilabel:
        return int(kernel(output, targets))
    return correct(output, targets, multilabel)


def _optimizer(spec: Optimizer | str | None) -> Optimizer:
    if spec is None:
        return get_optimizer("sgd", lr=0.01)
    if isinstance(spec, Optimizer | str):
        return get_optimizer(spec)
    raise BackpropTypeError(f"optimizer must be a backprop Optimizer such as bp.SGD(0.1) or a name, got {spec!r}")


def _metric_names(classification: bool, validation: bool) -> tuple[str, ...]:
    names = ["loss", "accuracy"] if classification else ["loss", "r2", "mae"]
    if validation:
        names += [f"val_{name}" for name in names]
    return (*names, "lr", "seconds")


def _class_of(targets: FloatArray, loss: Loss) -> np.ndarray[Any, Any]:
    """The class index of every target row, for stratifying and class weights."""
    if loss.name == "crossentropy":
        classes: np.ndarray[Any, Any] = targets.argmax(axis=1)
        return classes
    if targets.shape[1] == 1:
        return (targets[:, 0] >= 0.5).astype(np.int64)
    raise ParameterError(
        f"classes are only defined for one binary output or crossentropy; the targets have {targets.shape[1]} columns"
    )


def _apply_class_weight(
    class_weight: str | dict[Any, float],
    targets: FloatArray,
    weights: FloatArray | None,
    loss: Loss,
    rows: np.ndarray[Any, Any],
) -> FloatArray:
    """Each sample's weight times its class's weight (in float64, scaled: only ratios matter)."""
    if loss.name not in ("crossentropy", "binary_crossentropy"):
        raise ParameterError(f"class_weight needs a classification loss, got loss {loss.name!r}")
    classes = _class_of(targets, loss)
    n_classes = targets.shape[1] if loss.name == "crossentropy" else 2
    counts = np.bincount(classes[rows], minlength=n_classes)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ParameterError(f"class_weight must be 'balanced' or a dict, got {class_weight!r}")
        table = np.where(counts > 0, len(rows) / (n_classes * np.maximum(counts, 1)), 0.0)
    elif isinstance(class_weight, dict):
        table = np.ones(n_classes)
        for key, value in class_weight.items():
            if isinstance(key, bool) or not isinstance(key, int | np.integer) or not 0 <= key < n_classes:
                raise ParameterError(f"class_weight keys must be class indices 0..{n_classes - 1}, got {key!r}")
            table[key] = check_interval(value, f"class_weight[{key}]", 0.0, None)
    else:
        raise BackpropTypeError(f"class_weight must be 'balanced' or a dict, got {class_weight!r}")
    # Only ratios matter: both factors scaled into [0, 1) (exactly) cannot overflow their product.
    combined: FloatArray = scaled_weights(table)[classes]
    if weights is not None:
        combined *= scaled_weights(weights)
    if not combined.max() > 0:
        raise DataError("class_weight and sample_weight leave every sample with weight 0")
    return combined


def _relative_weights(weights: FloatArray, rows: np.ndarray[Any, Any], dtype: Any) -> FloatArray:
    """Each training sample's weight relative to the mean weight of the training ``rows`` (0 elsewhere).

    A mini-batch gradient ``(1/m) Σ (wᵢ/w̄) ∂ℓᵢ/∂θ`` is then an unbiased
    estimate of the weighted-mean gradient ``Σ wᵢ ∂ℓᵢ/∂θ / Σ w``, and equals
    it for a full batch. Computed on weights scaled by a power of two, so
    neither ``Σ w`` (weights of 1e308) nor ``n / Σ w`` (weights of 5e-324) overflows.
    """
    scaled = scaled_weights(weights[rows])
    total = scaled.sum()
    if not total > 0:
        raise DataError("every training sample has weight 0 (after the validation split)")
    relative = np.zeros(weights.shape[0], dtype)
    relative[rows] = scaled * (rows.shape[0] / total)
    return relative


def _validation_data(
    net: Network,
    validation: Any,
    inputs: FloatArray,
    targets: FloatArray,
    loss: Loss,
    seq: np.random.SeedSequence,
) -> tuple[np.ndarray[Any, Any], tuple[FloatArray, FloatArray, np.ndarray[Any, Any] | None]]:
    """The training rows and the validation set ``(inputs, targets, rows or None)``."""
    classification = loss.name == "crossentropy" or (loss.name == "binary_crossentropy" and targets.shape[1] == 1)
    n = inputs.shape[0]
    if isinstance(validation, tuple):
        if len(validation) != 2:
            raise ParameterError(
                f"validation must be a fraction or a pair (X_val, y_val), got a tuple of {len(validation)}"
            )
        val_inputs, val_targets, _, _ = net._prepare(validation[0], validation[1], loss)
        if classification:
            unseen = sorted(set(_class_of(val_targets, loss).tolist()) - set(_class_of(targets, loss).tolist()))
            if unseen:
                raise DataError(f"validation has classes {unseen} that the training data never has")
        return np.arange(n), (val_inputs, val_targets, None)
    if not (isinstance(validation, float | np.floating) and 0.0 < validation < 1.0):
        raise ParameterError(
            f"validation must be a fraction in (0, 1) or a pair (X_val, y_val), got validation={shown(validation)}"
        )
    if fraction_count(float(validation), n) > n - 1:  # the samples the split holds out
        raise ParameterError(f"validation={validation} of {n} samples leaves no sample to train on")
    split_seed = int(seq.generate_state(1)[0])
    if classification:
        labels = _class_of(targets, loss)
        try:
            train, held = stratified_split(labels, float(validation), seed=split_seed)
        except ParameterError:
            # The split's own message speaks of test_size, which the caller never passed.
            n_classes, n_held = len(np.unique(labels)), fraction_count(float(validation), n)
            raise ParameterError(
                f"validation={shown(validation)} asks for {n_held} of {n} samples, but a stratified "
                f"split keeps at least one sample of each of the {n_classes} classes for training, so at most "
                f"{n - n_classes} can be validation samples; lower validation or leave it out"
            ) from None
    else:
        train, held = split(n, float(validation), seed=split_seed)
    return np.sort(train), (inputs, targets, np.sort(held))


def _l2_scale(net: Network, l2: float) -> FloatArray:
    """``l2`` on every weight of the flat buffer, 0 on the biases."""
    scale = np.zeros_like(net.parameters)
    for layer in net.dense_layers:
        scale[layer.offset : layer.offset + layer.W.size] = l2
    return scale


def _l2_penalty(parameters: FloatArray, l2_scale: FloatArray, scratch: FloatArray) -> float:
    """``Σ λ θ²``, the loss's L2 term before its ½, leaving ``λ θ`` in ``scratch``.

    Summed again in float64 when the float32 sum overflows: weights of 1e35 are
    finite, and so is their penalty, but not in float32.
    """
    np.multiply(parameters, l2_scale, out=scratch)
    penalty = float(np.dot(scratch, parameters))
    if not math.isfinite(penalty) and parameters.dtype != np.float64:
        penalty = float(np.dot(scratch.astype(np.float64), parameters.astype(np.float64)))
    return penalty


def _gradient_segments(net: Network) -> tuple[list[FloatArray], np.ndarray[Any, Any]]:
    """Flat views of the gradient buffer per W and b, and which of them are the W's.

    The segments run weights, bias, weights, bias, ... in the buffer's order.
    """
    views: list[FloatArray] = []
    picks: list[int] = []
    for layer in net.dense_layers:
        picks.append(len(views))
        views.append(layer.dW.reshape(-1))
        if layer.db is not None:
            views.append(layer.db)
    return views, np.array(picks, dtype=np.intp)


class _SquaredNorms:
    """``Σ g²`` of each W and b segment of the flat gradient, as float64, once per step.

    A call returns their total and, when it is finite, adds each layer's
    ``‖∂L/∂W‖`` to the epoch's sums (``norm_sums``, one per dense layer).
    """

    # A BLAS dot per segment costs ~0.75 µs a call, one square and one reduceat over
    # the whole buffer ~1.5 µs + 0.5 ns a parameter: the dots win from segments of
    # ~1,000 parameters on average (measured: W2's six segments of 2,535 on average
    # 6.0 against 9.3 µs, W3's eighteen of 546 13.1 against 5.8 µs; W4 480 µs against 11 ms).
    MEAN_SEGMENT = 1024

    def __init__(
        self,
        gradient: FloatArray,
        segments: list[FloatArray],
        weights: np.ndarray[Any, Any],
        scratch: FloatArray,
        reporting: bool = False,
    ) -> None:
        self.gradient, self.segments, self.weights, self.scratch = gradient, segments, weights, scratch
        self.starts = np.cumsum([0] + [part.size for part in segments[:-1]], dtype=np.intp)
        self.dots = gradient.size >= self.MEAN_SEGMENT * len(segments)
        # reporting: nothing clips the gradient, so the norms change no parameter and a
        # compiled pass may sum them in its own order (one call instead of one per segment).
        self.kernel = _kernels.loaded("squared_norms") if reporting else None
        self.sums = np.zeros(len(segments))
        self.zero = gradient.dtype.type(0)

    def __call__(self, norm_sums: np.ndarray[Any, Any]) -> float:
        """The total; ``self.sums`` keeps the segments' sums (to tell which layer, when it is not finite)."""
        if self.kernel is not None:
            total = float(self.kernel(self.gradient, self.starts, self.zero, self.sums, self.weights, norm_sums))
            if math.isfinite(total):
                return total  # the kernel added the weight norms itself
        else:
            if self.dots:
                self.sums = np.array([np.dot(part, part) for part in self.segments], dtype=np.float64)
            else:
                squares = np.multiply(self.gradient, self.gradient, out=self.scratch)
                self.sums = np.add.reduceat(squares, self.starts, dtype=np.float64)
            total = float(self.sums.sum())
        if not math.isfinite(total):
            # Either the gradient is not finite, or a float32 square overflowed.
            self.sums = _squares_float64(self.segments)
            total = float(self.sums.sum())
        if math.isfinite(total):
            norm_sums += np.sqrt(self.sums[self.weights])
        return total


def _squares_float64(segments: list[FloatArray]) -> np.ndarray[Any, Any]:
    """Per-segment sums of squares in float64 (the rare path where float32 overflowed)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.array([np.dot(part.astype(np.float64), part.astype(np.float64)) for part in segments])


def _first_non_finite_layer(net: Network) -> int:
    for layer in net.dense_layers:
        if not np.isfinite(layer.W).all() or (layer.b is not None and not np.isfinite(layer.b).all()):
            return layer.index
    return net.dense_layers[-1].index


def _evaluate(
    net: Network,
    inputs: FloatArray,
    targets: FloatArray,
    rows: np.ndarray[Any, Any] | None,
    loss: Loss,
    classification: bool,
    multilabel: bool,
    l2_scale: FloatArray | None,
    scratch: FloatArray,
) -> dict[str, float]:
    """Validation metrics on ``rows`` of the data (all rows for None), dropout off, in predict's chunks."""
    from .network import _Inference, predict_rows

    n = inputs.shape[0] if rows is None else rows.shape[0]
    chunk = predict_rows(net.layers, n, net.dtype)
    buffers = _Inference(net.layers, chunk, net.dtype, f"validation on chunks of {chunk:,} rows")
    gathered = None if rows is None else np.empty((chunk, inputs.shape[1]), net.dtype)
    loss_sum = correct = abs_sum = 0.0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, n, chunk):
            if rows is None or gathered is None:
                xb, yb = inputs[start : start + chunk], targets[start : start + chunk]
            else:
                part = rows[start : start + chunk]
                xb = inputs.take(part, axis=0, out=gathered[: part.shape[0]], mode="clip")
                yb = targets[part]
            z, output = net._infer(xb, buffers, check=False)
            if not (np.isfinite(z.min()) and np.isfinite(z.max())):
                # The output layer overflowed on some validation rows: their loss is inf (not the
                # NaN of inf − inf), and they count as wrong.
                keep = np.isfinite(z).all(axis=1)
                loss_sum = abs_sum = math.inf
                z, output, yb = z[keep], output[keep], yb[keep]
            loss_sum += loss.total(z, output, yb)
            if classification:
                correct += _correct(output, yb, multilabel)
            else:
                abs_sum += mean_abs_share(output, yb, n * targets.shape[1])
        logs = {"val_loss": loss_sum / n}
        if l2_scale is not None:
            logs["val_loss"] += 0.5 * _l2_penalty(net.parameters, l2_scale, scratch)
    if classification:
        logs["val_accuracy"] = correct / n
    else:
        logs["val_r2"] = r2(loss_sum, total_variance(targets if rows is None else targets[rows]))
        logs["val_mae"] = abs_sum
    return logs


def _first_non_finite(ws: _Workspace, m: int) -> int:
    """The first layer (from 1) whose ``z`` or output is not finite."""
    for index, (z, a) in enumerate(zip(ws.z, ws.a, strict=True), start=1):
        if not (np.isfinite(z[:m]).all() and np.isfinite(a[:m]).all()):
            return index
    return len(ws.z)


def _diverged(
    net: Network, backup: FloatArray, steps: int, epoch: int, batch: int, layer: int, what: str, l2: float = 0.0
) -> None:
    """Leave the network at its last finite parameters and raise DivergenceError.

    Before the first optimizer step of the call nothing has diverged: the
    data (or ``l2``) overflow with the parameters the network came with, a
    :class:`DataError` like the one ``gradients`` raises for the same data.
    """
    if steps == 0:
        # The gradient adds l2 · W: that term alone overflowing the dtype (or, squared, the float64
        # norm) is l2's doing, anything else the data's.
        limit = min(float(np.finfo(net.dtype).max) / 2, math.sqrt(float(np.finfo(np.float64).max)))
        if l2 * float(np.abs(net.parameters).max()) > limit:
            cause, hint = f"l2={l2:g} times the weights overflows {net.dtype.name}", "lower l2"
        else:
            cause = f"the data overflow {net.dtype.name} with the network's current parameters"
            hint = "scale the inputs or targets" + (", or use float64" if net.dtype == np.float32 else "")
        raise DataError(
            f"{what} is not finite in epoch {epoch}, batch {batch}, before any optimizer step (first in layer "
            f"{layer}): {cause}; {hint}"
        )
    parameters_finite = np.isfinite(net.parameters.min()) and np.isfinite(net.parameters.max())
    if not parameters_finite:
        np.copyto(net.parameters, backup)
    raise DivergenceError(
        f"training diverged in epoch {epoch}, batch {batch}: {what} is not finite, first in layer {layer}; "
        "the network keeps its last finite parameters. Lower the learning rate, clip the gradient "
        "(clip_norm=) or scale the inputs",
        epoch=epoch,
        batch=batch,
        layer=layer,
    )


# --------------------------------------------------------------------- resuming


@dataclass
class _Checkpoint:
    """A checkpoint's training state (``TrainingState.checkpoint()``), each field checked."""

    where: str
    epoch: int
    seed: int
    base_lr: float
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    rngs: dict[str, Any]
    history: dict[str, Any]
    callbacks: list[dict[str, Any]]
    partial: dict[str, Any] | None
    parameters: FloatArray


#: The fields every training state has; ``callbacks`` and ``partial`` may be absent.
_STATE_FIELDS = ("epoch", "epochs", "seed", "base_lr", "optimizer", "schedule", "rngs", "history")


def _read_checkpoint(net: Network, source: str | PathLike[str] | tuple[Network, dict[str, Any]]) -> _Checkpoint:
    from .io import load_checkpoint
    from .network import Network  # here: network imports this module

    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], Network):
        (saved, state), where = source, "the checkpoint given as resume_from"
        label = where
    elif isinstance(source, str | PathLike):
        saved, state = load_checkpoint(source)
        where = str(os.fspath(source))
        label = f"checkpoint {where!r}"
    else:
        raise BackpropTypeError(
            f"resume_from must be a path (str or os.PathLike) or the (network, state) pair of load_checkpoint, "
            f"got {shown_briefly(source)}"
        )
    if saved.config() != net.config():
        raise ParameterError(f"{label} holds a different network: {saved!r}; this network is {net!r}")
    return _check_training_state(state, saved, where)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return _is_integer(value) and value >= 0


def _field_error(where: str, name: str, rule: str, value: Any) -> ModelFileError:
    return ModelFileError(f"{where}: state field {name!r} must be {rule}, got {shown_briefly(value)}")


def _unusable(where: str, name: str, error: BackpropError) -> ModelFileError:
    return ModelFileError(f"{where}: state field {name!r} is unusable: {error}")


def _check_training_state(state: Any, saved: Network, where: str) -> _Checkpoint:
    """Check every field of a checkpoint's training state that does not depend on the call that resumes it.

    ``saved`` is the checkpoint's network. :func:`_restore` checks the rest
    (against this call's optimizer, schedule, callbacks and data) before it
    changes anything. Raises :class:`ModelFileError` naming the file and the field.
    """
    if not isinstance(state, dict):
        raise ModelFileError(f"{where}: the checkpoint state must be a dict, got {shown_briefly(state)}")
    for key in _STATE_FIELDS:
        if key not in state:
            raise ModelFileError(f"{where}: not a training checkpoint: its state has no {key!r}")
    epochs, epoch, seed, base_lr = state["epochs"], state["epoch"], state["seed"], state["base_lr"]
    if not (_is_count(epochs) and epochs > 0):
        raise _field_error(where, "epochs", "a positive integer", epochs)
    if not (_is_integer(epoch) and -1 <= int(epoch) < int(epochs)):
        raise _field_error(
            where, "epoch", f"an integer from -1 (none finished) to epochs - 1 = {int(epochs) - 1}", epoch
        )
    if not _is_count(seed):
        raise _field_error(where, "seed", "an integer >= 0", seed)
    if not (is_finite_number(base_lr) and base_lr > 0):
        raise _field_error(where, "base_lr", "a positive number", base_lr)

    n_parameters = saved.parameters.shape[0]
    largest = float(np.finfo(saved.dtype).max)
    for key in ("optimizer", "schedule"):
        if not isinstance(state[key], dict) or not isinstance(state[key].get("name"), str):
            raise _field_error(where, key, "a dict with a 'name'", state[key])
    for key, buffer in state["optimizer"].items():
        # The buffers run along the flat parameter buffer, in its dtype (the optimizer checks the rest).
        if not isinstance(buffer, np.ndarray) or buffer.ndim != 1:
            continue
        if buffer.shape[0] != n_parameters:
            raise ModelFileError(
                f"{where}: state field 'optimizer.{key}' has {buffer.shape[0]:,} values, "
                f"the network has {n_parameters:,} parameters"
            )
        if buffer.dtype.kind == "f" and buffer.size:
            peak = float(np.abs(buffer).max())
            if math.isfinite(peak) and peak > largest:
                raise ModelFileError(
                    f"{where}: state field 'optimizer.{key}' holds {peak:.4g}, beyond {saved.dtype.name}'s range"
                )
    if not isinstance(state["rngs"], dict):
        raise _field_error(where, "rngs", "a dict of random generator states", state["rngs"])
    try:
        History().load_state_dict(state["history"])
    except BackpropError as error:
        raise _unusable(where, "history", error) from error
    callbacks = state.get("callbacks", [])
    if not isinstance(callbacks, list):
        raise _field_error(where, "callbacks", "a list", callbacks)
    for index, entry in enumerate(callbacks):
        if not (
            isinstance(entry, dict)
            and set(entry) == {"type", "state"}
            and isinstance(entry["type"], str)
            and isinstance(entry["state"], dict)
        ):
            raise _field_error(where, f"callbacks[{index}]", "a dict {'type': class name, 'state': dict}", entry)
    return _Checkpoint(
        where=where,
        epoch=int(epoch),
        seed=int(seed),
        base_lr=float(base_lr),
        optimizer=state["optimizer"],
        schedule=state["schedule"],
        rngs=state["rngs"],
        history=state["history"],
        callbacks=callbacks,
        partial=_check_partial_fields(state.get("partial"), int(epoch), len(saved.dense_layers), where),
        parameters=saved.parameters,
    )


def _check_partial_fields(partial: Any, epoch: int, n_dense: int, where: str) -> dict[str, Any] | None:
    """A mid-epoch position (``TrainingState.partial``), checked field by field; None if there is none."""
    if partial is None:
        return None
    keys = ["epoch", "norm_sums", "order", "step", "sums"]
    if not isinstance(partial, dict) or sorted(partial) != keys:
        raise _field_error(where, "partial", f"None or a dict of {keys}", partial)
    if not (_is_integer(partial["epoch"]) and partial["epoch"] == epoch + 1):
        raise _field_error(
            where, "partial.epoch", f"{epoch + 1}, the epoch after the last finished one", partial["epoch"]
        )
    step, order, sums, norm_sums = partial["step"], partial["order"], partial["sums"], partial["norm_sums"]
    if not _is_count(step):
        raise _field_error(where, "partial.step", "the number of batches done, an integer >= 0", step)
    if not (isinstance(order, np.ndarray) and order.ndim == 1 and order.dtype.kind in "iu"):
        raise _field_error(where, "partial.order", "a 1-D integer array of row numbers", order)
    if not (isinstance(sums, list) and len(sums) == 4 and all(map(is_finite_number, sums))):
        raise _field_error(where, "partial.sums", "a list of 4 finite numbers", sums)
    values = norm_sums.tolist() if isinstance(norm_sums, np.ndarray) and norm_sums.ndim == 1 else norm_sums
    if not (isinstance(values, list) and len(values) == n_dense and all(map(is_finite_number, values))):
        raise _field_error(where, "partial.norm_sums", f"{n_dense} finite numbers, one per Dense layer", norm_sums)
    return {
        "epoch": epoch + 1,
        "step": int(step),
        "order": order,
        "sums": [float(value) for value in sums],
        "norm_sums": np.array(values, dtype=np.float64),
    }


def _check_partial(partial: dict[str, Any] | None, rows: np.ndarray[Any, Any], n_steps: int, where: str) -> None:
    """A checkpoint's mid-epoch position against this run's training ``rows`` and batches per epoch."""
    if partial is None:
        return
    order = partial["order"]
    if order.shape != rows.shape:
        raise ParameterError(
            f"checkpoint {where!r} holds a batch order for other data: {rows.shape[0]} training rows now, "
            f"got {shown(order.shape)}; resume with the same data and validation split"
        )
    if partial["step"] > n_steps:
        raise ParameterError(
            f"checkpoint {where!r} stopped in epoch {partial['epoch']} after batch {partial['step']}, but an epoch "
            f"has {n_steps} batches now; resume with the same data, validation split and batch_size"
        )
    ordered = np.sort(order)
    if not np.array_equal(ordered, rows):
        if order.size and (int(ordered[0]) < 0 or bool((ordered[1:] == ordered[:-1]).any())):
            raise ModelFileError(
                f"{where}: state field 'partial.order' is not a batch order: it repeats rows or holds negative ones"
            )
        raise ParameterError(
            f"checkpoint {where!r} holds a batch order of other rows than this run's {rows.shape[0]} training "
            "rows; resume with the same data and validation split"
        )


def _check_generator_state(value: Any, kind: type[np.random.BitGenerator], name: str, where: str) -> None:
    """A bit generator's ``state`` dict, checked (numpy's setter takes wrong types and sizes silently)."""
    if not isinstance(value, dict) or value.get("bit_generator") != kind.__name__:
        raise _field_error(where, name, f"the state of a {kind.__name__} random generator", value)
    if kind is np.random.PCG64:
        inner: Any = value.get("state")
        has_uint32: Any = value.get("has_uint32")
        uinteger: Any = value.get("uinteger")
        if not (
            set(value) == {"bit_generator", "state", "has_uint32", "uinteger"}
            and isinstance(inner, dict)
            and set(inner) == {"state", "inc"}
            and all(_is_integer(number) and 0 <= number < 2**128 for number in inner.values())
            and _is_integer(has_uint32)
            and has_uint32 in (0, 1)
            and _is_integer(uinteger)
            and 0 <= uinteger < 2**32
        ):
            raise _field_error(
                where,
                name,
                "a PCG64 state: integers 'state' and 'inc' in [0, 2**128), 'has_uint32' 0 or 1, "
                "'uinteger' in [0, 2**32)",
                value,
            )
    try:
        kind(0).state = value
    except (TypeError, ValueError, KeyError, OverflowError) as error:  # numpy's own checks, for other kinds
        raise ModelFileError(f"{where}: state field {name!r} is not a {kind.__name__} state: {error}") from None


def _trial_load(component: Any, saved: Any, where: str, name: str) -> Any:
    """A copy of ``component`` (an optimizer or a schedule) that loaded ``saved``: its checks run, it is untouched."""
    trial = copy.deepcopy(component)
    try:
        trial.load_state_dict(saved)
    except BackpropError as error:
        raise _unusable(where, name, error) from error
    return trial


def _saved_optimizer(checkpoint: _Checkpoint) -> str:
    """The name of the optimizer a checkpoint was trained with, for ``fit(optimizer=None)``."""
    name = checkpoint.optimizer["name"]
    if name not in OPTIMIZERS:
        raise ModelFileError(
            f"{checkpoint.where}: state field 'optimizer.name' is {shown_briefly(name)}, not one of "
            f"{sorted(OPTIMIZERS)}; pass the optimizer it was trained with as optimizer="
        )
    return str(name)


def _matched_callbacks(
    callbacks: list[Callback], saved: list[dict[str, Any]]
) -> list[tuple[int, Callback, dict[str, Any]]]:
    """``(index, callback, saved state)`` for each callback whose class saved a state at its place.

    Only when the call has as many callbacks as the checkpoint saved; others start afresh.
    """
    if len(saved) != len(callbacks):
        return []
    pairs = enumerate(zip(callbacks, saved, strict=True))
    return [
        (index, callback, entry["state"])
        for index, (callback, entry) in pairs
        if entry["type"] == type(callback).__name__
    ]


def _restore(state: TrainingState, checkpoint: _Checkpoint, rows: np.ndarray[Any, Any], n_steps: int) -> None:
    """Put optimizer, schedule, generators, history, callbacks and epoch back where the checkpoint left them.

    All is checked first, against this call (its optimizer, schedule,
    callbacks and training ``rows``), so that a checkpoint that does not fit
    raises with the network, the optimizer and the callbacks as they were.
    """
    where = checkpoint.where
    for kind, component in (("optimizer", state.optimizer), ("schedule", state.schedule)):
        saved_name = getattr(checkpoint, kind)["name"]
        if saved_name != component.name:
            raise ParameterError(
                f"checkpoint {where!r} was trained with {kind} {shown_briefly(saved_name)}, "
                f"this call passes {component!r}"
            )
    _trial_load(state.optimizer, checkpoint.optimizer, where, "optimizer")
    schedule = _trial_load(state.schedule, checkpoint.schedule, where, "schedule")
    if checkpoint.epoch + 1 < state.epochs:
        try:  # the rate of the first epoch to run: a schedule may refuse the checkpoint's base_lr
            schedule(checkpoint.epoch + 1, checkpoint.base_lr)
        except BackpropError as error:
            raise _unusable(where, "schedule", error) from error
    if sorted(checkpoint.rngs) != sorted(state.rngs):
        raise _field_error(where, "rngs", f"the states of the generators {sorted(state.rngs)}", checkpoint.rngs)
    for name, rng in state.rngs.items():
        _check_generator_state(checkpoint.rngs[name], type(rng.bit_generator), f"rngs.{name}", where)
    matched = _matched_callbacks(state.callbacks, checkpoint.callbacks)
    for index, callback, callback_state in matched:
        try:
            callback._check_state_dict(callback_state, state.net)
        except BackpropError as error:
            raise ModelFileError(
                f"{where}: state field 'callbacks[{index}]' is unusable by {type(callback).__name__}: {error}"
            ) from error
    _check_partial(checkpoint.partial, rows, n_steps, where)

    # All checked. The callbacks first: one of the caller's own that refuses its
    # state then leaves the network, the optimizer and the schedule as they were,
    # and the callbacks loaded before it go back to the states they had.
    loaded: list[tuple[Callback, dict[str, Any]]] = []
    try:
        for _, callback, callback_state in matched:
            before = callback.state_dict()
            callback.load_state_dict(callback_state)
            loaded.append((callback, before))
    except BaseException:
        for callback, before in reversed(loaded):
            with contextlib.suppress(Exception):  # the refusal is what the caller needs to see
                callback.load_state_dict(before)
        raise
    state.optimizer.load_state_dict(checkpoint.optimizer)
    state.schedule.load_state_dict(checkpoint.schedule)
    for name, rng in state.rngs.items():
        rng.bit_generator.state = checkpoint.rngs[name]
    state.history.load_state_dict(checkpoint.history)
    state.base_lr = checkpoint.base_lr
    state.epoch = checkpoint.epoch
    state.partial = checkpoint.partial
    np.copyto(state.net.parameters, checkpoint.parameters)


__all__ = ["Callback", "History", "TrainingState", "fit"]
