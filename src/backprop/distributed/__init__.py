"""Data-parallel training and prediction on Dask: the same bits on any number of workers.

The algorithm
-------------
The rows are cut into ``shards`` contiguous ranges, each built on the
cluster by a task of the data's own Dask graph (never scattered), so that a
lost worker's shards are recomputed from their lineage. The client process
holds everything that lives across steps: the network, the optimizer, the
history, the callbacks and the checkpoints. The workers hold nothing: every
task is a function of its arguments.

Each epoch the client draws the order of the training rows as
:func:`backprop.training.fit` does (the same seed, the same permutation) and
cuts it into batches of ``batch_size`` rows. A synchronous step
(``sync_every=1``) then is:

1. the client sends ``θ`` to each worker that holds shards, one copy a worker;
2. for each shard, a task computes ``Σ ∂ℓᵢ/∂θ / m`` over the batch's rows that
   the shard holds (``m`` the batch's size), with the loss and metric sums;
3. the shards' answers are added in a fixed binary tree over the shard index
   (0+1, 2+3, …, then the sums pairwise): on the client up to 8 shards,
   beyond on the workers, so that the client receives one gradient;
4. the client applies it with the optimizer (the step of
   :mod:`backprop.step`, compiled as in ``fit``) and calls the callbacks.

Local SGD (``sync_every=k > 1``): each shard's task takes ``k`` steps on its own
rows of the next ``k`` batches (each its mean over those rows), from the
synchronized ``θ`` and optimizer state; the client then averages the
replicas' parameters *and* their optimizer buffers (Adam's moments, a
momentum), in the same tree. The replicas' states are averaged, not kept per
shard: a replica restarts from the averaged ``θ`` every round, so its own
moments would describe a trajectory that no longer exists; one averaged state
keeps the client's memory and the checkpoint at one optimizer's size, and is
checkpointed as any ``fit``'s. Rounds end at each epoch's end.

The contract
------------
The result (parameters, optimizer state, history but ``seconds``) depends on
the seed, the number of shards, the batch size, ``sync_every``, the library
versions and the BLAS kernel, and on nothing else: not on the number of
workers, where tasks run, retries or lost workers. ``client=None`` runs the
same tasks in this process, one after the other: the reference. Tasks run
BLAS on one thread (threadpoolctl), in the client too for ``client=None``.

With ``shards=1`` and no Dropout layer the run is ``net.fit``'s, to the bit.
With more shards it differs from ``net.fit`` in the last bits (about 1e-8
relative after a few Adam steps): the batch's matrix products ``xᵀ · grad_h``
are summed per shard and the shards then added, another order of the same
sum in floating point. Dropout masks are drawn per ``(epoch, step, shard)``.

A worker lost mid-training is absorbed: Dask reruns its tasks elsewhere and
recomputes its shards from their lineage; the copy of ``θ`` it held, which has
no lineage, the client sends again and the step's tasks are submitted again.
The same arguments give the same answers. When Dask gives up (a task's workers died more than
``distributed.scheduler.allowed-failures`` times), :class:`WorkersLostError`
names the epoch and step, after writing the position reached to the path of
every :class:`~backprop.callbacks.ModelCheckpoint` among the callbacks (not
``save_best_only``), from which ``resume_from`` continues bit for bit.

Time of a step
--------------
``t ≈ t_comp(B)/P + overhead + 2·P·4|θ| bytes / bandwidth`` with ``P``
workers: ``overhead`` is the round trips (about 20 ms a synchronous step with
Dask on two cores: θ sent, the tasks submitted, their answers gathered), and
``2·P`` copies of ``θ`` travel (out to each worker, back as gradients).
``sync_every=k`` amortizes the overhead and the bytes over ``k`` local steps.
"""

from __future__ import annotations

import copy
import math
import time
import uuid
from collections.abc import Callable, Sequence
from os import PathLike
from typing import Any, NoReturn

import numpy as np

from .._fast import step_for
from .._memory import check_large
from .._validation import check_positive_int, check_seed
from ..callbacks import Callback, History, ModelCheckpoint, TrainingState
from ..checkpoints import read_checkpoint, restore
from ..errors import BackpropError, BackpropTypeError, DataError, DivergenceError, ParameterError
from ..io import save_checkpoint
from ..layers import Dropout
from ..losses import Loss, get_loss
from ..metrics import r2
from ..network import Network
from ..optimizers import Optimizer, get_optimizer
from ..preprocessing import fraction_count, split, stratified_split
from ..schedules import get_schedule
from ..training import EpochSums
from ._data import DaskGaveUpError, InProcess, OnDask, ValueLostError, collections, dask_module, is_dask, shard_bounds
from ._tasks import (
    LOSS,
    ROWS,
    SCORE,
    Part,
    Spec,
    add,
    class_labels,
    empty_part,
    local_round,
    one_blas_thread,
    optimizer_buffers,
    predict_block,
    shard_evaluation,
    shard_gradient,
    target_moments,
    tree_sum,
)

#: Up to this many shards the client receives every shard's answer and adds them; beyond, the workers add them.
CLIENT_TREE = 8


class WorkersLostError(BackpropError, RuntimeError):
    """Dask gave up on training's tasks: workers were lost beyond ``distributed.scheduler.allowed-failures``.

    Attributes
    ----------
    epoch, step : int
        The step that could not be computed (both from 0).
    checkpoint : str or None
        Where the position reached was written (pass it as ``resume_from``), if anywhere.
    """

    def __init__(self, message: str, epoch: int, step: int, checkpoint: str | None) -> None:
        super().__init__(message)
        self.epoch, self.step, self.checkpoint = epoch, step, checkpoint


def fit(
    net: Network,
    X: Any,
    y: Any,
    *,
    client: Any = None,
    loss: str | Loss,
    optimizer: Optimizer | str,
    epochs: int,
    batch_size: int | None,
    shards: int | None = None,
    sync_every: int = 1,
    validation: float | tuple[Any, Any] | None = None,
    seed: int | None = None,
    callbacks: Sequence[Callback] | Callback | None = (),
    resume_from: str | PathLike[str] | tuple[Network, dict[str, Any]] | None = None,
) -> History:
    """Train ``net`` in place on data that lives on a Dask cluster, data-parallel (see the module's docstring).

    Parameters
    ----------
    net : Network
    X : dask.array of shape (n_samples, n_inputs), dask DataFrame, or path of a Parquet dataset
        numpy arrays too (on a cluster they become a Dask array of one block).
    y : dask.array of shape (n_samples, n_outputs) or (n_samples,), dask Series, or a column name of ``X``
        For ``crossentropy`` class indices or one-hot rows.
    client : distributed.Client, optional
        Where the tasks run; None runs them in this process (the reference).
        Make it with ``direct_to_workers=True`` so that answers come from the workers directly.
    loss : {"mse", "binary_crossentropy", "crossentropy"} or Loss
    optimizer : Optimizer or name
    epochs : int
        The epoch to stop after; when resuming, the total the run should reach.
    batch_size : int or None
        Rows per step over all shards (None: every training row).
    shards : int, optional
        Row ranges that the tasks work on; default one per block of rows of ``X``.
        Part of the result's definition: not the number of workers.
    sync_every : int, default 1
        1: synchronous steps. k > 1: local SGD, k steps per shard between averagings.
    validation : float or (X_val, y_val), optional
        A fraction held out (drawn as ``fit`` does: stratified for classification), or a validation set.
    seed : int, optional
        Drawn from the OS when omitted; recorded in ``history.seed``.
    callbacks : Callback or sequence of Callback
        ``on_batch_end`` runs after each synchronization (each step, or each round of local steps).
    resume_from : path or (Network, dict), optional
        A checkpoint of this function or of ``fit``: continues bit for bit with the same
        ``shards``, ``batch_size`` and ``sync_every``.

    Returns
    -------
    History

    Raises
    ------
    WorkersLostError
        Dask gave up on a task (workers lost beyond its allowed failures); a checkpoint is written first.
    DivergenceError
        When the loss or the gradient stops being finite (the network keeps the last finite parameters).
    """
    run = _Run(net, X, y, client, loss, optimizer, epochs, batch_size, shards, sync_every, validation, seed,
               callbacks, resume_from)  # fmt: skip
    state, callbacks_ = run.state, run.callbacks
    try:
        for callback in callbacks_:
            callback.on_train_begin(state)
        for epoch in range(state.epoch + 1, run.epochs):
            sums = run.begin_epoch(epoch)
            if run.train_epoch(epoch, sums):
                break  # a callback stopped training after a step: state.partial holds where
            logs = run.end_epoch(epoch, sums)
            if any([bool(callback.on_epoch_end(epoch, logs)) for callback in callbacks_]):
                break
    except BaseException as error:
        for callback in callbacks_:
            callback.on_train_error(state, error)
        raise
    finally:
        run.close()
    for callback in callbacks_:
        callback.on_train_end(state)
    return state.history


class _Run:
    """One distributed ``fit``: its arguments checked, its shards built, its state; the loop's steps."""

    def __init__(
        self,
        net: Network,
        X: Any,
        y: Any,
        client: Any,
        loss: str | Loss,
        optimizer: Optimizer | str,
        epochs: int,
        batch_size: int | None,
        shards: int | None,
        sync_every: int,
        validation: float | tuple[Any, Any] | None,
        seed: int | None,
        callbacks: Sequence[Callback] | Callback | None,
        resume_from: str | PathLike[str] | tuple[Network, dict[str, Any]] | None,
    ) -> None:
        if not isinstance(net, Network):
            raise BackpropTypeError(f"net must be a backprop Network, got {net!r}")
        net.check_parameters()
        self.net = net
        self.loss = loss_fn = get_loss(loss)
        loss_fn.check_output(net.layers[-1].activation, len(net.layers))
        if not isinstance(optimizer, Optimizer | str):
            raise BackpropTypeError(f"optimizer must be a backprop Optimizer or a name, got {optimizer!r}")
        self.optimizer = get_optimizer(optimizer)
        self.epochs = check_positive_int(epochs, "epochs")
        self.sync_every = check_positive_int(sync_every, "sync_every")
        self.callbacks = _callbacks(callbacks)
        self.executor: InProcess | OnDask = InProcess() if client is None else OnDask(client)
        checkpoint = None if resume_from is None else read_checkpoint(net, resume_from)
        if checkpoint is not None:
            if seed is not None and check_seed(seed) != checkpoint.seed:
                raise ParameterError(f"seed={seed!r} differs from the checkpoint's seed {checkpoint.seed}; omit seed")
            seed = checkpoint.seed
        seed = check_seed(seed)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
        split_seq, shuffle_seq, dropout_seq = np.random.SeedSequence(seed).spawn(3)  # as training.fit spawns them

        X, y = collections(X, y, client)
        self.bounds = shard_bounds(X, shards)
        self.classification = loss_fn.name in ("crossentropy", "binary_crossentropy")
        token = uuid.uuid4().hex[:12]
        self.key = f"backprop-{token}"
        dropout = any(isinstance(layer, Dropout) for layer in net.layers)
        self.spec = Spec(
            token, net.copy(), loss_fn, copy.deepcopy(self.optimizer), self.classification,
            loss_fn.name == "binary_crossentropy", int(dropout_seq.generate_state(1)[0]) if dropout else None,
        )  # fmt: skip
        ex = self.executor
        self.spec_handle = ex.value(self.spec, f"{self.key}-spec")
        self.shards = ex.shards(X, y, self.bounds, self.spec.net, loss_fn, f"{self.key}-shard")
        n = int(self.bounds[-1])
        self.n_outputs = net.n_outputs
        self.train_rows, self.held, self.validation_shards = self._validation(validation, X, y, n, split_seq)
        self.n = n_train = self.train_rows.shape[0]
        self.batch = n_train if batch_size is None else min(check_positive_int(batch_size, "batch_size"), n_train)
        self.variance = self.val_variance = (0.0, 0)
        if not self.classification:
            self.variance = self._variance(self.shards, self._local(self.train_rows))
            if self.held is not None:
                self.val_variance = self._variance(self.shards, self._local(self.held))
            elif self.validation_shards:
                self.val_variance = self._variance(self.validation_shards, [None] * len(self.validation_shards))

        self.shuffle_rng = np.random.default_rng(shuffle_seq)
        history = History()
        history.seed = seed
        self.schedule = get_schedule(None)
        names = ["loss", "accuracy"] if self.classification else ["loss", "r2", "mae"]
        names += [f"val_{name}" for name in names] if self.held is not None or self.validation_shards else []
        self.state = TrainingState(
            net=net, optimizer=self.optimizer, schedule=self.schedule, history=history, seed=seed,
            base_lr=self.optimizer.lr, epochs=self.epochs,
            rngs={"shuffle": self.shuffle_rng, "dropout": np.random.default_rng(dropout_seq)},
            metrics=(*names, "lr", "seconds"), callbacks=self.callbacks,
        )  # fmt: skip
        self.n_steps = -(-n_train // self.batch)
        if checkpoint is not None:
            restore(self.state, checkpoint, self.train_rows, self.n_steps)
        self.step = step_for(net.layers, loss_fn, self.optimizer)
        self.order = self.train_rows.copy()
        self.backup = np.empty_like(net.parameters)
        self.steps_run = 0
        self.buffer_names = sorted(_buffer_names(self.optimizer, net))

    def _client(self) -> Any:
        """The ``distributed.Client`` tasks go to, or None in-process."""
        return self.executor.client if isinstance(self.executor, OnDask) else None

    def close(self) -> None:
        """Let the cluster forget the shards and the spec."""
        self.executor.release([*self.shards, *(self.validation_shards or []), self.spec_handle])

    # -- setting up ----------------------------------------------------------------

    def _validation(
        self, validation: Any, X: Any, y: Any, n: int, seq: np.random.SeedSequence
    ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any] | None, list[Any] | None]:
        """The training rows, the held-out rows (a fraction) or the validation set's shards (a pair)."""
        rows = np.arange(n)
        if validation is None:
            return rows, None, None
        if isinstance(validation, tuple):
            if len(validation) != 2:
                raise ParameterError(f"validation must be a fraction or a pair (X_val, y_val), got {len(validation)}")
            Xv, yv = collections(validation[0], validation[1], self._client(), "validation X")
            bounds = shard_bounds(Xv, None)
            return rows, None, self.executor.shards(Xv, yv, bounds, self.spec.net, self.loss, f"{self.key}-val")
        if not (isinstance(validation, float | np.floating) and 0.0 < validation < 1.0):
            raise ParameterError(
                f"validation must be a fraction in (0, 1) or a pair (X_val, y_val), got {validation!r}"
            )
        if fraction_count(float(validation), n) > n - 1:
            raise ParameterError(f"validation={validation} of {n} samples leaves no sample to train on")
        split_seed = int(seq.generate_state(1)[0])
        binary = self.loss.name == "binary_crossentropy" and self.n_outputs == 1
        if self.loss.name == "crossentropy" or binary:
            handles = [
                self.executor.submit(class_labels, shard, self.loss.name, key=f"{self.key}-labels-{index}")
                for index, shard in enumerate(self.shards)
            ]
            check_large(8 * n, f"the classes of {n:,} rows, for a stratified validation split")
            labels = np.concatenate(self._gather(handles, -1, 0))
            train, held = stratified_split(labels, float(validation), seed=split_seed)
        else:
            train, held = split(n, float(validation), seed=split_seed)
        return np.sort(train), np.sort(held), None

    def _local(self, rows: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
        """Global row numbers split by shard, as each shard's own row numbers (in the order given)."""
        owner = np.searchsorted(self.bounds, rows, side="right") - 1
        return [rows[owner == s] - self.bounds[s] for s in range(len(self.shards))]

    def _variance(self, shards: list[Any], local: Sequence[np.ndarray[Any, Any] | None]) -> tuple[float, int]:
        """``Σ (y − ȳ)²`` of the targets of the shards' ``local`` rows (None: all), combined in shard order (Chan)."""
        tag = uuid.uuid4().hex[:6]
        handles = [
            self.executor.submit(target_moments, shard, rows, key=f"{self.key}-moments-{tag}-{index}")
            for index, (shard, rows) in enumerate(zip(shards, local, strict=True))
        ]
        count, mean, m2 = 0, np.zeros(self.n_outputs), 0.0
        for part_count, part_mean, part_m2 in self._gather(handles, -1, 0):
            if part_count:
                total = count + part_count
                delta = part_mean - mean
                m2 += part_m2 + float(np.dot(delta, delta)) * count * part_count / total
                mean = mean + delta * (part_count / total)
                count = total
        return m2, 0

    # -- an epoch ----------------------------------------------------------------------

    def begin_epoch(self, epoch: int) -> EpochSums:
        """The epoch's learning rate and order of the rows (``fit``'s), or the position a checkpoint resumes."""
        self.began = time.perf_counter()
        self.optimizer.lr = self.schedule(epoch, self.state.base_lr)
        partial, self.state.partial = self.state.partial, None
        if partial is not None:
            self.order[:] = partial["order"]
            self.current = EpochSums.resumed(partial)
            return self.current
        self.order[:] = self.train_rows
        self.shuffle_rng.shuffle(self.order)
        self.current = EpochSums(norm_sums=np.zeros(len(self.net.dense_layers)))
        return self.current

    def train_epoch(self, epoch: int, sums: EpochSums) -> bool:
        """The epoch's steps from ``sums.first``, synchronous or in local rounds; True when a callback stopped."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for first in range(sums.first, self.n_steps, self.sync_every):
                last = min(first + self.sync_every, self.n_steps)
                if self.sync_every == 1:
                    part = self._synchronous_step(epoch, first, sums)
                else:
                    part = self._local_round(epoch, first, last)
                sums.steps = last
                loss, score = float(part[1][LOSS]), float(part[1][SCORE])
                sums.loss += loss
                sums.data_loss += loss
                sums.correct += score if self.classification else 0.0
                sums.abs_error += 0.0 if self.classification else score / (self.n * self.n_outputs)
                if self.callbacks and self._batch_end(epoch, last - 1, part, sums):
                    return True
        return False

    def _batch_rows(self, step: int) -> list[np.ndarray[Any, Any]]:
        return self._local(self.order[step * self.batch : (step + 1) * self.batch])

    def _gather(self, handles: Sequence[Any], epoch: int, step: int, again: bool = False) -> list[Any]:
        """The handles' values; Dask giving up raises WorkersLostError, a lost value too unless ``again``."""
        try:
            return self.executor.gather(handles)
        except DaskGaveUpError as error:
            self._lost(epoch, step, error)
        except ValueLostError as error:
            if again:
                raise
            self._lost(epoch, step, error)

    def _until_sent(self, epoch: int, step: int, compute: Callable[[int], Part]) -> Part:
        """``compute(attempt)``, again from values sent anew while a worker loses them (at most ``resends`` times).

        What a step sends (θ, the optimizer's state) has no lineage on the
        cluster; the client holds it, and the same values sent again give the
        same answers. Beyond Dask's own allowed failures: WorkersLostError.
        """
        for attempt in range(self.executor.resends + 1):
            try:
                return compute(attempt)
            except ValueLostError as error:
                lost: Exception = error
            try:
                self.executor.refresh()
            except (ValueLostError, OSError) as error:  # no worker left, or the scheduler gone
                self._lost(epoch, step, error)
        self._lost(epoch, step, lost)

    def _lost(self, epoch: int, step: int, error: Exception) -> NoReturn:
        """Write the position reached to every ModelCheckpoint's path (not save_best_only), then raise."""
        written = None
        if epoch >= 0:
            self.state.partial = self.current.position(epoch, self.order)
            for callback in self.callbacks:
                if isinstance(callback, ModelCheckpoint) and not callback.save_best_only:
                    save_checkpoint(self.net, callback.path, self.state.checkpoint())
                    written = callback.path
        where = f"in epoch {epoch}, step {step}" if epoch >= 0 else "before training"
        then = (
            f"the position reached is in {written!r}: pass resume_from={written!r} to continue bit for bit"
            if written
            else "add a backprop.callbacks.ModelCheckpoint to callbacks to keep the position reached"
        )
        raise WorkersLostError(
            f"Dask gave up on a task {where}: its workers were lost more often than "
            f"distributed.scheduler.allowed-failures allows ({error}); {then}",
            epoch,
            step,
            written,
        ) from error

    def _sum(self, parts: list[Any], epoch: int, step: int, kind: str) -> Part:
        """Σ of the shards' answers in the fixed tree: gathered here (≤ 8 shards) or added on the workers.

        Raises ValueLostError when a value the step sent was lost (see :meth:`_until_sent`).
        """
        if len(parts) <= CLIENT_TREE:
            self.executor.hold()
            summed: Part = tree_sum(self._gather(parts, epoch, step, again=True), add)
            return summed
        count = iter(range(len(parts)))

        def add_task(left: Any, right: Any) -> Any:
            return self.executor.submit(add, left, right, key=f"{self.key}-{kind}-sum-{epoch}-{step}-{next(count)}")

        total = tree_sum(parts, add_task)
        self.executor.hold()  # after the additions are submitted: they go with the next step's hold
        [summed] = self._gather([total], epoch, step, again=True)
        return summed

    def _synchronous_step(self, epoch: int, step: int, sums: EpochSums) -> Part:
        """One step: the shards' gradients at θ, summed in the tree, applied by the optimizer."""
        ex, net, key = self.executor, self.net, f"{self.key}-{epoch}-{step}"
        rows = self._batch_rows(step)
        m = sum(part.shape[0] for part in rows)
        theta = net.parameters.copy()  # in-process workers (processes=False) share this process's objects

        def gradient(attempt: int) -> Part:
            sent = ex.broadcast(theta, f"{key}-{attempt}-theta")
            parts = [
                ex.submit(shard_gradient, self.spec_handle, sent, shard, local, m, (epoch, step, index),
                          key=f"{key}-{attempt}-gradient-{index}") if local.shape[0] else empty_part()
                for index, (shard, local) in enumerate(zip(self.shards, rows, strict=True))
            ]  # fmt: skip
            return self._sum(parts, epoch, step, f"gradient-{attempt}")

        part = self._until_sent(epoch, step, gradient)
        self._check_loss(part, epoch, step)
        np.copyto(net.gradient, part[0][0])
        self._add_norms(sums, epoch, step)
        self.step.weight_update(self.optimizer, net.parameters, net.gradient, self.backup)
        self.steps_run += 1
        return part

    def _local_round(self, epoch: int, first: int, last: int) -> Part:
        """Local SGD: ``last − first`` steps on every shard from θ, then θ and the optimizer's buffers averaged."""
        ex, net, key = self.executor, self.net, f"{self.key}-{epoch}-{first}"
        batches = [self._batch_rows(step) for step in range(first, last)]
        start = (net.parameters.copy(), copy.deepcopy(self.optimizer))  # one value: θ and the optimizer's state

        def round_(attempt: int) -> Part:
            sent = ex.broadcast(start, f"{key}-{attempt}-start")
            parts = [
                ex.submit(local_round, self.spec_handle, sent, shard, [rows[index] for rows in batches],
                          (epoch, first, index), key=f"{key}-{attempt}-round-{index}")
                for index, shard in enumerate(self.shards)
            ]  # fmt: skip
            return self._sum(parts, epoch, first, f"round-{attempt}")

        part = self._until_sent(epoch, first, round_)
        self._check_loss(part, epoch, first)
        count = len(self.shards)
        averaged = [array / count for array in part[0]]
        if not all(np.isfinite(array).all() for array in averaged):
            self._diverged(epoch, last - 1, "a parameter")
        state = self.optimizer.state_dict()
        state.update(zip(self.buffer_names, averaged[1:], strict=True))
        state["step"] = self.optimizer.steps + (last - first)
        self.optimizer.load_state_dict(state)
        np.copyto(net.parameters, averaged[0])
        self.steps_run += last - first
        return part

    def _add_norms(self, sums: EpochSums, epoch: int, step: int) -> None:
        """Each Dense layer's ‖∂L/∂W‖ of this step into the epoch's sums (float64), or DivergenceError."""
        dense = self.net.dense_layers
        # One BLAS thread, as in the tasks: a ddot of a large layer would wake the client's BLAS threads, whose
        # spinning took the cores from the workers (12 ms a step for 40-256-256-10 on 2 cores), and the norms'
        # bits would depend on the client's core count.
        with one_blas_thread():
            squares = np.array([_squared(layer.dW) for layer in dense])
        if not (np.isfinite(squares).all() and np.isfinite(self.net.gradient).all()):
            bad = int(np.argmin(np.isfinite(squares)))
            self._diverged(epoch, step, "the gradient", dense[bad])
        sums.norm_sums += np.sqrt(squares)

    def _check_loss(self, part: Part, epoch: int, step: int) -> None:
        if not math.isfinite(part[1][LOSS]):
            self._diverged(epoch, step, "the loss")

    def _diverged(self, epoch: int, step: int, what: str, layer: Any = None) -> NoReturn:
        index = (layer or self.net.dense_layers[-1]).index
        if self.steps_run == 0:
            raise DataError(
                f"{what} is not finite in epoch {epoch}, batch {step}, before any optimizer step: the data overflow "
                f"{self.net.dtype.name} with the network's current parameters; scale the inputs or targets"
            )
        if not (np.isfinite(self.net.parameters.min()) and np.isfinite(self.net.parameters.max())):
            np.copyto(self.net.parameters, self.backup)  # the step's update overflowed: back to θ before it
        raise DivergenceError(
            f"training diverged in epoch {epoch}, batch {step}: {what} is not finite; the network keeps its last "
            "finite parameters. Lower the learning rate or scale the inputs",
            epoch=epoch, batch=step, layer=index,
        )  # fmt: skip

    def _batch_end(self, epoch: int, step: int, part: Part, sums: EpochSums) -> bool:
        logs = {"loss": float(part[1][LOSS] / max(part[1][ROWS], 1)), "size": float(part[1][ROWS])}
        if any([bool(callback.on_batch_end(step, logs)) for callback in self.callbacks]):
            self.state.partial = sums.position(epoch, self.order)
            return True
        return False

    def end_epoch(self, epoch: int, sums: EpochSums) -> dict[str, float]:
        """The epoch's logs (``fit``'s names), into the history."""
        logs = {"loss": float(sums.loss / self.n)}
        if self.classification:
            logs["accuracy"] = float(sums.correct / self.n)
        else:
            logs["r2"] = r2(sums.data_loss, self.variance)
            logs["mae"] = float(sums.abs_error)
        logs.update(self._evaluate(epoch, sums))
        logs["lr"] = self.optimizer.lr
        logs["seconds"] = time.perf_counter() - self.began
        if self.sync_every == 1:
            for dense, norm_sum in zip(self.net.dense_layers, sums.norm_sums, strict=True):
                logs[f"grad_norm_{dense.index}"] = float(norm_sum / max(sums.steps, 1))
        self.state.history.append(epoch, logs)
        self.schedule.update(epoch, logs)
        self.state.epoch = epoch
        return logs

    def _evaluate(self, epoch: int, sums: EpochSums) -> dict[str, float]:
        """Validation metrics: the held-out rows of the shards, or the validation set's shards."""
        if self.held is None and not self.validation_shards:
            return {}
        ex, key = self.executor, f"{self.key}-{epoch}-validation"
        pairs: list[tuple[Any, np.ndarray[Any, Any] | None]] = []
        if self.held is not None:
            pairs = list(zip(self.shards, self._local(self.held), strict=True))
        else:
            pairs = [(shard, None) for shard in self.validation_shards or []]
        theta = self.net.parameters.copy()

        def evaluation(attempt: int) -> Part:
            sent = ex.broadcast(theta, f"{key}-{attempt}-theta")
            parts = [
                ex.submit(shard_evaluation, self.spec_handle, sent, shard, rows, key=f"{key}-{attempt}-{index}")
                for index, (shard, rows) in enumerate(pairs)
            ]
            return self._sum(parts, epoch, self.n_steps, f"validation-{attempt}")

        total = self._until_sent(epoch, self.n_steps, evaluation)[1]
        n = max(total[ROWS], 1.0)
        logs = {"val_loss": float(total[LOSS] / n)}
        if self.classification:
            logs["val_accuracy"] = float(total[SCORE] / n)
        else:
            logs["val_r2"] = r2(float(total[LOSS]), self.val_variance)
            logs["val_mae"] = float(total[SCORE] / (n * self.n_outputs))
        return logs


def _squared(values: Any) -> float:
    """``Σ v²`` in float64 (a float32 square may overflow where the norm does not)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    return float(np.dot(flat, flat))


def _callbacks(callbacks: Sequence[Callback] | Callback | None) -> list[Callback]:
    if isinstance(callbacks, Callback):
        return [callbacks]
    if callbacks is None or isinstance(callbacks, Sequence):
        checked = list(callbacks or ())
        if all(isinstance(callback, Callback) for callback in checked):
            return checked
    raise BackpropTypeError(f"callbacks must be a Callback or a list of them, got {callbacks!r}")


def _buffer_names(optimizer: Optimizer, net: Network) -> list[str]:
    """The names of the state buffers the optimizer has once it has stepped (a copy steps once, on zeros)."""
    probe = copy.deepcopy(optimizer)
    probe.step(np.zeros_like(net.parameters), np.zeros_like(net.parameters))
    return list(optimizer_buffers(probe))


# --------------------------------------------------------------------- predict


def predict(model: Any, X: Any) -> Any:
    """Predictions for every row of a Dask collection, computed where its blocks are, lazily.

    Parameters
    ----------
    model : Network, or any object with a ``predict(rows)`` method (e.g. a TabularModel)
    X : dask.array of shape (n_samples, n_inputs), or dask DataFrame

    Returns
    -------
    dask.array of shape (n_samples, n_outputs), or dask DataFrame
        For an array, a block of predictions per block of rows
        (``map_blocks``): each block is ``model.predict`` of that block, to
        the bit. For a DataFrame, a frame per partition (``map_partitions``)
        with the columns ``prediction`` (one output) or ``prediction_0``, … and
        the partition's index. A row's bits are those of ``net.predict`` on its
        block (see :meth:`backprop.network.Network.predict` on why a row's bits
        may depend on the rows computed with it).
    """
    dask = dask_module("dask")
    if not is_dask(X):
        raise BackpropTypeError(f"X must be a Dask array or DataFrame (for numpy, call model.predict), got {X!r}")
    if not callable(getattr(model, "predict", None)):
        raise BackpropTypeError(f"model must be a Network or have a predict method, got {model!r}")
    held = dask.delayed(model.copy() if isinstance(model, Network) else model, pure=True)
    if hasattr(X, "blocks"):  # a Dask array
        if X.ndim != 2:
            raise BackpropTypeError(f"X must be a matrix (n_samples, n_inputs), got {X.ndim} dimensions")
        X = X.rechunk({1: -1})
        if not isinstance(model, Network):
            return X.map_blocks(_predict_any, held, drop_axis=1, meta=np.empty(0, np.float64))
        meta = np.empty((0, model.n_outputs), model.dtype)
        return X.map_blocks(_predict_array, held, chunks=(X.chunks[0], (model.n_outputs,)), meta=meta)
    pandas = __import__("pandas")
    if isinstance(model, Network):
        names = ["prediction"] if model.n_outputs == 1 else [f"prediction_{i}" for i in range(model.n_outputs)]
        meta = pandas.DataFrame({name: np.zeros(0, model.dtype) for name in names})
        return X.map_partitions(_predict_frame, held, names, meta=meta)
    meta = pandas.DataFrame({"prediction": np.zeros(0, np.float64)})
    return X.map_partitions(_predict_frame, held, ["prediction"], meta=meta)


def _predict_array(block: Any, net: Network) -> Any:
    return predict_block(net, block)


def _predict_any(block: Any, model: Any) -> Any:
    with one_blas_thread():
        return np.asarray(model.predict(block))


def _predict_frame(frame: Any, model: Any, names: list[str]) -> Any:
    pandas = __import__("pandas")
    with one_blas_thread():
        values = np.asarray(model.predict(frame))
    values = values.reshape(values.shape[0], -1)
    return pandas.DataFrame(values, index=frame.index, columns=names)


__all__ = ["WorkersLostError", "fit", "predict"]
