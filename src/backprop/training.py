"""The training loop: epochs of mini-batches, each one forward pass, one
backward pass and one optimizer step on the flat parameter buffer.

:func:`fit` is the loop (as Keras's ``fit``); :class:`Trainer` holds the run
and splits each step in two calls, :meth:`Trainer.compute_gradient` (the
gradient of a batch) and :meth:`Trainer.apply_gradient` (clipping and the
optimizer's update), around the :class:`backprop.step.Step` chosen once per
run by :func:`backprop._fast.step_for`. Resuming is :mod:`backprop.checkpoints`,
the metrics :mod:`backprop.metrics`, the callbacks :mod:`backprop.callbacks`.

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

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, NoReturn

import numpy as np

from . import _buffers
from ._fast import Threads, WholeStep, numpy_seconds, step_for
from ._norms import SquaredNorms, gradient_segments
from ._passes import LOSS_NOT_FINITE, STEPPED
from ._threads import ceiling, check_threads, for_shapes, held
from ._validation import (
    FloatArray,
    check_interval,
    check_positive,
    check_positive_int,
    check_seed,
    scaled_weights,
    shown,
)
from .callbacks import Callback, History, TrainingState
from .checkpoints import read_checkpoint, restore, saved_optimizer
from .errors import BackpropTypeError, DataError, DivergenceError, ParameterError
from .layers import Dropout
from .losses import Loss
from .metrics import mean_abs_share, r2, total_variance
from .network import Inference, Network, predict_rows, read_chunk
from .optimizers import Headroom, Optimizer, get_optimizer
from .preprocessing import fraction_count, split, stratified_split
from .schedules import Schedule, get_schedule
from .step import Workspace


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
    threads: int | None = None,
) -> History:
    """Train ``net`` in place by mini-batch gradient descent.

    Parameters
    ----------
    net : Network
    X : array_like of shape (n_samples, n_inputs), or a RowFile (read batch by batch, the same bits)
    y : array_like of shape (n_samples, n_outputs) or (n_samples,)
        Targets; for ``crossentropy`` class indices or one-hot rows.
    loss : {"mse", "binary_crossentropy", "crossentropy"} or Loss, default "mse"
    optimizer : Optimizer or name ("sgd", "adam", "adamw", "rmsprop", "adagrad"), default SGD(0.01)
    epochs : int, default 1
        The epoch to stop after; when resuming, the total the run should reach.
    batch_size : int or None, default 32
        Samples per step: None for full-batch, 1 for online learning (clipped to the data).
    shuffle : bool, default True (the samples in a new random order every epoch)
    validation : float or (X_val, y_val), optional
        A fraction held out (stratified for classification losses) or a validation set; adds ``val_``-prefixed metrics.
    sample_weight : array_like of shape (n_samples,), optional
        The loss becomes the weighted mean.
    class_weight : "balanced" or dict of class index to weight, optional
        Multiplies each sample's weight by its class's (balanced: ``n / (n_classes · count)``).
    l2 : float, default 0
        Adds ``½ · l2 · Σ W²`` over the weights (not the biases) to the loss.
    clip_norm : float, optional
        Rescales the whole gradient to this norm when it is longer.
    schedule : Schedule or name, optional
        The learning rate of each epoch: "constant", "step", "exponential", "cosine", "plateau" or an instance.
    callbacks : Callback or sequence of Callback
    seed : int, optional
        Seeds the split, the shuffling and dropout: the same seed, the same bits (None: from the OS; ``history.seed``).
    resume_from : path or (Network, dict), optional
        A checkpoint of :class:`backprop.callbacks.ModelCheckpoint`: training continues after its epoch with
        its parameters, optimizer, schedule and random state, and ends bit for bit where the uninterrupted run
        would have. Or the pair :func:`backprop.io.load_checkpoint` returned (that very version).
    threads : int, optional
        Threads for the matrix products; None: from the shapes (:mod:`backprop._threads`: their bits).

    Returns
    -------
    History

    Raises
    ------
    DivergenceError
        When the loss or the gradient stops being finite (the network keeps the last finite parameters).
    """
    run = Trainer(
        net, X, y, loss, optimizer, epochs, batch_size, shuffle, validation, sample_weight, class_weight, l2, clip_norm,
        schedule, callbacks, seed, resume_from, threads,
    )  # fmt: skip
    state, callbacks = run.state, run.callbacks
    try:
        for callback in callbacks:
            callback.on_train_begin(state)
        for epoch in range(state.epoch + 1, run.epochs):
            sums = run.begin_epoch(epoch)  # the epoch's order of the samples and its running sums
            # Float warnings off in the batches (the step checks loss and gradient); callbacks run under the caller's.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                for step, rows in run.batches(sums):
                    batch = run.whole_step(rows, sums, epoch, step)  # in one compiled call, where it can be
                    if batch is None:
                        batch = run.compute_gradient(rows, epoch, step)  # the forward and backward pass: net.gradient
                        run.apply_gradient(sums, epoch, step)  # clipping, then the optimizer's weight update
                        run.add(sums, batch)
                    if callbacks and run.batch_end(epoch, step, batch, sums):
                        break  # a callback stopped training after this batch
            if state.partial is not None:
                break  # stopped after a batch: the epoch is not finished, nothing is logged
            logs = run.end_epoch(epoch, sums)
            if any([bool(callback.on_epoch_end(epoch, logs)) for callback in callbacks]):
                break
    except BaseException as error:
        for callback in callbacks:
            callback.on_train_error(state, error)
        raise
    finally:
        run.close()  # a thread reading batches ahead ends with the fit
    for callback in callbacks:
        callback.on_train_end(state)
    return state.history


@dataclass
class EpochSums:
    """What an epoch adds up batch by batch, and where it resumes: its first batch and its steps so far."""

    first: int = 0
    steps: int = 0
    loss: float = 0.0  # Σ of the batches' losses, with the L2 term
    data_loss: float = 0.0  # without it: R² compares the data's squared error
    correct: float = 0.0
    abs_error: float = 0.0
    norm_sums: np.ndarray[Any, Any] = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def resumed(cls, partial: dict[str, Any]) -> EpochSums:
        """The sums of an epoch a callback stopped after a batch (:meth:`position`), to go on from."""
        first = int(partial["step"])
        loss, data_loss, correct, abs_error = (float(value) for value in partial["sums"])
        norm_sums = np.array(partial["norm_sums"], dtype=np.float64)
        return cls(first, first, loss, data_loss, correct, abs_error, norm_sums)

    def position(self, epoch: int, order: np.ndarray[Any, Any]) -> dict[str, Any]:
        """``TrainingState.partial`` for this epoch stopped after its :attr:`steps`: its order and sums."""
        sums, norms = [self.loss, self.data_loss, self.correct, self.abs_error], self.norm_sums.copy()
        return {"epoch": epoch, "step": self.steps, "order": order.copy(), "sums": sums, "norm_sums": norms}


@dataclass
class Batch:
    """One step's batch after :meth:`Trainer.compute_gradient`: its size, loss and output."""

    size: int
    loss: float  # Σ ℓ over the batch (weighted relative to the mean weight), with the L2 term
    data_loss: float
    output: FloatArray  # ŷ, the workspace's output rows
    targets: FloatArray


class Trainer:
    """Everything one :func:`fit` call trains with: the data, the step, the buffers, the state.

    :func:`fit` is its loop. Each training step is two calls, so that other
    loops can split them: :meth:`compute_gradient` (the gradient of a batch,
    in ``net.gradient``) and :meth:`apply_gradient` (its norms, clipping and
    the optimizer's update). The step itself is :attr:`step`, a
    :class:`backprop.step.Step` chosen once here by :func:`backprop._fast.step_for`.

    The arguments are :func:`fit`'s; every one is checked, and every buffer of
    the run sized, before the first is allocated.
    """

    def __init__(
        self,
        net: Network,
        X: Any,
        y: Any,
        loss: str | Loss,
        optimizer: Optimizer | str | None,
        epochs: int,
        batch_size: int | None,
        shuffle: bool,
        validation: float | tuple[Any, Any] | None,
        sample_weight: Any,
        class_weight: str | dict[Any, float] | None,
        l2: float,
        clip_norm: float | None,
        schedule: Schedule | str | None,
        callbacks: Sequence[Callback] | Callback | None,
        seed: int | None,
        resume_from: str | PathLike[str] | tuple[Network, dict[str, Any]] | None,
        threads: int | None = None,
    ) -> None:
        wanted = check_threads(threads)
        inputs, targets, loss_fn, weights = net.check_data(X, y, loss, sample_weight)
        net.check_parameters()
        checkpoint = None if resume_from is None else read_checkpoint(net, resume_from)
        if optimizer is None and checkpoint is not None:
            optimizer = saved_optimizer(checkpoint)
        self.optimizer = optimizer = _optimizer(optimizer)
        self.schedule = get_schedule(schedule)
        self.epochs = check_positive_int(epochs, "epochs")
        if not isinstance(shuffle, bool | np.bool_):
            raise BackpropTypeError(f"shuffle must be True or False, got shuffle={shuffle!r}")
        self.shuffle = bool(shuffle)
        self.l2 = l2 = check_interval(l2, "l2", 0.0, None)
        largest = float(np.finfo(net.dtype).max)
        if l2 > largest:
            raise ParameterError(f"l2 must be at most {largest:.4g} in {net.dtype.name}, got l2={l2:g}")
        self.clip = None if clip_norm is None else check_positive(clip_norm, "clip_norm")
        self.callbacks = _callbacks(callbacks)
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

        self.net, self.inputs, self.targets, self.loss = net, inputs, targets, loss_fn
        self.classification = loss_fn.name in ("crossentropy", "binary_crossentropy")
        self.multilabel = loss_fn.name == "binary_crossentropy"  # every column its own yes/no; else argmax
        # Samples are addressed by row number, never copied: X may be a memmap larger than memory.
        train_rows: np.ndarray[Any, Any] = np.arange(inputs.shape[0])
        self.validation_set: tuple[FloatArray, FloatArray, np.ndarray[Any, Any] | None] | None = None
        if validation is not None:
            train_rows, self.validation_set = _validation_data(net, validation, inputs, targets, loss_fn, split_seq)
        if class_weight is not None:  # counted on the training rows: "balanced" balances what is trained on
            weights = _apply_class_weight(class_weight, targets, weights, loss_fn, train_rows)
        self.train_rows = train_rows
        self.n = n = train_rows.shape[0]
        self.batch = batch = n if batch_size is None else min(check_positive_int(batch_size, "batch_size"), n)
        # Every buffer of the run is sized before the first is allocated: one clear error, not a MemoryError midway.
        net.check_training_memory(batch, n, inputs.shape[1], targets.shape[1])
        self.shuffle_rng = np.random.default_rng(shuffle_seq)
        dropout_rng = np.random.default_rng(dropout_seq)
        history = History()
        history.seed = seed
        self.state = TrainingState(
            net=net,
            optimizer=optimizer,
            schedule=self.schedule,
            history=history,
            seed=seed,
            base_lr=optimizer.lr,
            epochs=self.epochs,
            rngs={"shuffle": self.shuffle_rng, "dropout": dropout_rng},
            metrics=_metric_names(self.classification, self.validation_set is not None),
            callbacks=self.callbacks,
        )
        if checkpoint is not None:
            restore(self.state, checkpoint, train_rows, -(-n // batch))

        # The threads: given, or those the process holds (a command's --threads, another fit's), or the
        # checkpoint's, or from the shapes (_threads.for_shapes).
        count = wanted or held() or (checkpoint and checkpoint.threads) or for_shapes(net.sizes, batch, ceiling())
        # The step, compiled where the built-in types have kernels: chosen once, for the whole run. With
        # threads to share, the compiled step however short the run: its threads keep the bits of one.
        seconds = None if count > 1 else numpy_seconds(net.sizes, n, batch, self.epochs)
        self.step = step = step_for(net.layers, loss_fn, optimizer, seconds)
        # Buffers for the whole run: batch gathering, relative weights, L2 and norms.
        self.order = train_rows.copy()
        self.batch_inputs = np.empty((batch, inputs.shape[1]), net.dtype)
        # The batch's inputs by the compiled gather where it applies (an array in memory, not a memmap).
        plain = type(inputs) is np.ndarray and inputs.flags.c_contiguous and self.order.dtype == np.intp
        self.gather = step.gather if plain and inputs.dtype == net.dtype else None
        # A matrix read from a file by rows (a RowFile): the next batch is read in a thread while this one trains.
        batch_reader = None if plain else getattr(inputs, "batch_reader", None)
        self.reader = batch_reader(self.batch_inputs) if callable(batch_reader) else None
        self.batch_targets = np.empty((batch, targets.shape[1]), net.dtype)
        self.batch_scale = np.empty((batch, 1), net.dtype)
        # Each sample's weight relative to the mean weight (see _relative_weights).
        self.relative = None if weights is None else _relative_weights(weights, train_rows, net.dtype)
        self.scratch = _buffers.empty(net.parameters.shape, net.dtype, _buffers.SCRATCH)
        self.backup = _buffers.empty(net.parameters.shape, net.dtype, _buffers.BACKUP)
        np.copyto(self.backup, net.parameters)  # θ at the start, then before each step that could overflow it
        self.headroom = Headroom(optimizer, net.parameters)
        self.l2_scale = _l2_scale(net, l2) if l2 else None
        segments, self.weight_segments = gradient_segments(net)
        kernel = step.squared_norms if self.clip is None else None  # only reporting: any order will do
        self.squared_norms = SquaredNorms(net.gradient, segments, self.weight_segments, self.scratch, kernel)
        self.variance = total_variance(targets[train_rows]) if not self.classification else (0.0, 0)
        # The generator the Dropout layers draw their masks from, passed to each training step's
        # forward pass only: a predict in a callback or in another thread draws nothing.
        self.step_rng = dropout_rng if any(isinstance(layer, Dropout) for layer in net.layers) else None
        self.steps_run = 0  # optimizer steps in this call
        # The whole step in one compiled call where no part of it needs Python (and θ is saved every step).
        plain_step = self.gather is not None and self.relative is None and self.l2_scale is None and not self.multilabel
        in_one = plain_step and self.classification and self.step_rng is None and self.headroom.optimizer is None
        self.whole = WholeStep.of(step, inputs, targets, self.squared_norms, self.backup) if in_one else None
        self.caller_errors = np.geterr()
        # Last, so that an error above leaves the BLAS alone: the pool's threads (the bits of one) or the BLAS's.
        self.threads = Threads(step, count)
        history.threads = self.threads.count

    def close(self) -> None:
        """End the thread reading batches ahead, if any, and give the BLAS its own thread count back."""
        try:
            if self.reader is not None:
                self.reader.close()
        finally:
            self.threads.close()

    # -- an epoch ----------------------------------------------------------------

    def begin_epoch(self, epoch: int) -> EpochSums:
        """Set the epoch's learning rate and order of the samples; its sums, or those it resumes."""
        self.began = time.perf_counter()
        self.optimizer.lr = self.schedule(epoch, self.state.base_lr)
        partial, self.state.partial = self.state.partial, None
        if partial is not None:
            # Resuming an epoch a callback stopped after a batch: its order and sums.
            self.order[:] = partial["order"]
            return EpochSums.resumed(partial)
        if self.shuffle:
            # From the same start each epoch: the order depends on the generator's state
            # alone, so a resumed run draws the same permutations.
            self.order[:] = self.train_rows
            self.shuffle_rng.shuffle(self.order)
        return EpochSums(norm_sums=np.zeros(len(self.net.dense_layers)))

    def batches(self, sums: EpochSums) -> Iterator[tuple[int, np.ndarray[Any, Any]]]:
        """``(step, rows)`` of each batch of the epoch from ``sums.first``: the rows are training row numbers."""
        order, batch = self.order, self.batch
        for step, start in enumerate(range(sums.first * batch, self.n, batch), start=sums.first):
            yield step, order[start : start + batch]

    # -- a step: the gradient of a batch, then the update ------------------------

    def compute_gradient(self, rows: np.ndarray[Any, Any], epoch: int, step: int) -> Batch:
        """The gradient of the loss on the batch ``rows`` into ``net.gradient``: forward pass, loss, backward pass.

        With sample weights each row counts by its weight relative to the
        mean; with ``l2`` the gradient includes ``l2 · W``. Raises
        :class:`DivergenceError` (or :class:`DataError` before the first
        update) when the loss is not finite.
        """
        net, step_fn, m = self.net, self.step, rows.shape[0]
        if self.gather is not None:
            xb = self.batch_inputs[:m]
            self.gather(self.inputs, rows, xb)
        elif self.reader is not None:
            # The rows batches() gives next, read meanwhile (a guess: other rows are read when asked for).
            following = self.order[(step + 1) * self.batch : (step + 2) * self.batch]
            xb = self.reader.take(rows, following)
        else:
            # mode="clip": the rows are valid, and the default "raise" gathers
            # through a temporary buffer (measured 3x slower).
            xb = self.inputs.take(rows, axis=0, out=self.batch_inputs[:m], mode="clip")
        yb = self.targets.take(rows, axis=0, out=self.batch_targets[:m], mode="clip")
        ws = net.workspace(m)
        output = step_fn.forward(xb, ws, self.step_rng)
        if self.relative is None:
            scale: Any = 1.0 / m
            batch_loss = step_fn.batch_loss(ws.h[-1], output, yb)
        else:
            scale = self.relative.take(rows, out=self.batch_scale[:m, 0], mode="clip")[:, None]
            batch_loss = step_fn.batch_loss(ws.h[-1], output, yb, scale[:, 0])
            scale /= m
        if not math.isfinite(batch_loss):
            self.diverged(epoch, step, _first_non_finite(ws, m), "the loss", with_l2=False)
        step_fn.backward(ws, xb, yb, scale)
        data_loss = batch_loss
        if self.l2_scale is not None:
            batch_loss += 0.5 * m * _l2_penalty(net.parameters, self.l2_scale, self.scratch)
            if not math.isfinite(batch_loss):  # weights beyond ~1e154: Σ λ θ² overflows float64
                heaviest = max(net.dense_layers, key=lambda dense: float(np.abs(dense.W).max()))
                self.diverged(epoch, step, heaviest.index, "the loss's L2 term")
            net.gradient += self.scratch
        return Batch(m, batch_loss, data_loss, output, yb)

    def whole_step(self, rows: np.ndarray[Any, Any], sums: EpochSums, epoch: int, step: int) -> Batch | None:
        """:meth:`compute_gradient`, :meth:`apply_gradient` and :meth:`add` in one compiled call, with their bits,
        where nothing in the step needs Python (:class:`backprop._fast.WholeStep`); None where it does."""
        whole, net, m = self.whole, self.net, rows.shape[0]
        if whole is None:
            return None
        ws = net.workspace(m)
        done = whole(rows, ws, (self.batch_inputs, self.batch_targets), sums.norm_sums, self.optimizer, net.parameters)
        if done is None:
            return None
        loss, _, hits = whole.out.tolist()
        if done == LOSS_NOT_FINITE:
            self.diverged(epoch, step, _first_non_finite(ws, m), "the loss", with_l2=False)
        batch = Batch(m, loss, loss, ws.a[-1], self.batch_targets[:m])
        if done == STEPPED:
            self.steps_run += 1
            self.add(sums, batch, hits)
        else:  # a square beyond float32, or g not finite: apply_gradient's float64 norms, or its error
            self.apply_gradient(sums, epoch, step)
            self.add(sums, batch)
        return batch

    def apply_gradient(self, sums: EpochSums, epoch: int, step: int) -> None:
        """The weight update from ``net.gradient``: its norms (into ``sums``), clipping, the optimizer."""
        # The step's weight norms go into the epoch's sums when their total is finite.
        total = self.squared_norms(sums.norm_sums)
        net = self.net
        if not math.isfinite(total):
            squares = self.squared_norms.sums[self.weight_segments]
            bad = net.dense_layers[int(np.argmax(~np.isfinite(squares)))].index
            # A finite gradient beyond 1e154 has a squared norm beyond float64.
            finite = np.isfinite(net.gradient.min()) and np.isfinite(net.gradient.max())
            self.diverged(epoch, step, bad, "the gradient's norm" if finite else "the gradient")
        if self.clip is not None and total > self.clip * self.clip:
            net.gradient *= self.clip / np.sqrt(total)
        backup = self.backup if self.headroom.needs_copy(total) else self.backup[:0]
        self.step.weight_update(self.optimizer, net.parameters, net.gradient, backup)
        self.steps_run += 1

    def add(self, sums: EpochSums, batch: Batch, correct: float | None = None) -> None:
        """Add a trained batch to the epoch's sums (its right answers counted here unless given)."""
        sums.steps += 1
        sums.loss += batch.loss
        sums.data_loss += batch.data_loss
        if self.classification:
            hits = self.step.count_correct(batch.output, batch.targets, self.multilabel) if correct is None else correct
            sums.correct += hits
        else:
            sums.abs_error += mean_abs_share(batch.output, batch.targets, self.n * self.targets.shape[1])

    def batch_end(self, epoch: int, step: int, batch: Batch, sums: EpochSums) -> bool:
        """Call the callbacks' ``on_batch_end``; True when one stops training (its position kept for resuming)."""
        logs = {"loss": batch.loss / batch.size, "size": float(batch.size)}
        with np.errstate(**self.caller_errors):
            stop = any([bool(callback.on_batch_end(step, logs)) for callback in self.callbacks])
        if stop:
            self.state.partial = sums.position(epoch, self.order)  # sums.steps is step + 1: the batch is added
        return stop

    def end_epoch(self, epoch: int, sums: EpochSums) -> dict[str, float]:
        """The epoch's logs (metrics, validation, learning rate, time, gradient norms), into the history."""
        net = self.net
        if not (np.isfinite(net.parameters.min()) and np.isfinite(net.parameters.max())):
            # The epoch's last step overflowed: no later batch will see it.
            self.diverged(epoch, sums.steps - 1, _first_non_finite_layer(net), "a parameter", with_l2=False)
        logs = {"loss": sums.loss / self.n}
        if self.classification:
            logs["accuracy"] = sums.correct / self.n
        else:
            logs["r2"] = r2(sums.data_loss, self.variance)
            logs["mae"] = sums.abs_error
        if self.validation_set is not None:
            logs.update(self.evaluate(*self.validation_set))
        logs["lr"] = self.optimizer.lr
        logs["seconds"] = time.perf_counter() - self.began
        for dense, norm_sum in zip(net.dense_layers, sums.norm_sums, strict=True):
            logs[f"grad_norm_{dense.index}"] = float(norm_sum / sums.steps)
        self.state.history.append(epoch, logs)
        self.schedule.update(epoch, logs)
        self.state.epoch = epoch
        return logs

    def diverged(self, epoch: int, step: int, layer: int, what: str, with_l2: bool = True) -> NoReturn:
        """Leave the network at its last finite parameters and raise (see :func:`_diverged`)."""
        _diverged(self.net, self.backup, self.steps_run, epoch, step, layer, what, self.l2 if with_l2 else 0.0)

    def evaluate(self, inputs: FloatArray, targets: FloatArray, rows: np.ndarray[Any, Any] | None) -> dict[str, float]:
        """Validation metrics on ``rows`` of the data (all rows for None), dropout off, in predict's chunks."""
        net, step = self.net, self.step
        n = inputs.shape[0] if rows is None else rows.shape[0]
        chunk = predict_rows(net.layers, n, net.dtype)
        buffers = Inference(net.layers, chunk, net.dtype, f"validation on chunks of {chunk:,} rows")
        # Rows are gathered, and a matrix read by rows (not an array) read, into one buffer.
        plain = rows is None and isinstance(inputs, np.ndarray)
        gathered = np.empty((0 if plain else chunk, inputs.shape[1]), net.dtype)
        loss_sum = correct = abs_sum = 0.0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for start in range(0, n, chunk):
                if rows is None:
                    xb = read_chunk(inputs, start, min(n, start + chunk), None if plain else gathered)
                    yb = targets[start : start + chunk]
                else:
                    part = rows[start : start + chunk]
                    xb = inputs.take(part, axis=0, out=gathered[: part.shape[0]], mode="clip")
                    yb = targets[part]
                h, output = buffers.forward(net.layers, xb, net.dtype)
                if not (np.isfinite(h.min()) and np.isfinite(h.max())):
                    # The output layer overflowed on some validation rows: their loss is inf (not the
                    # NaN of inf − inf), and they count as wrong.
                    keep = np.isfinite(h).all(axis=1)
                    loss_sum = abs_sum = math.inf
                    h, output, yb = h[keep], output[keep], yb[keep]
                loss_sum += step.batch_loss(h, output, yb)
                if self.classification:
                    correct += step.count_correct(output, yb, self.multilabel)
                else:
                    abs_sum += mean_abs_share(output, yb, n * targets.shape[1])
            logs = {"val_loss": loss_sum / n}
            if self.l2_scale is not None:
                logs["val_loss"] += 0.5 * _l2_penalty(net.parameters, self.l2_scale, self.scratch)
        if self.classification:
            logs["val_accuracy"] = correct / n
        else:
            logs["val_r2"] = r2(loss_sum, total_variance(targets if rows is None else targets[rows]))
            logs["val_mae"] = abs_sum
        return logs


def _callbacks(callbacks: Sequence[Callback] | Callback | None) -> list[Callback]:
    if isinstance(callbacks, Callback):
        return [callbacks]
    if callbacks is None or isinstance(callbacks, Sequence):
        checked = list(callbacks or ())
    else:
        raise BackpropTypeError(f"callbacks must be a Callback or a list of them, got {callbacks!r}")
    for callback in checked:
        if not isinstance(callback, Callback):
            raise BackpropTypeError(f"callbacks must be backprop Callback instances, got {callback!r}")
    return checked


# --------------------------------------------------------------------- helpers


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
        val_inputs, val_targets, _, _ = net.check_data(validation[0], validation[1], loss)
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


def _first_non_finite_layer(net: Network) -> int:
    for layer in net.dense_layers:
        if not np.isfinite(layer.W).all() or (layer.b is not None and not np.isfinite(layer.b).all()):
            return layer.index
    return net.dense_layers[-1].index


def _first_non_finite(ws: Workspace, m: int) -> int:
    """The first layer (from 1) whose ``h`` or output is not finite."""
    for index, (h, a) in enumerate(zip(ws.h, ws.a, strict=True), start=1):
        if not (np.isfinite(h[:m]).all() and np.isfinite(a[:m]).all()):
            return index
    return len(ws.h)


def _diverged(
    net: Network, backup: FloatArray, steps: int, epoch: int, batch: int, layer: int, what: str, l2: float = 0.0
) -> NoReturn:
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


__all__ = ["Callback", "History", "TrainingState", "fit"]
