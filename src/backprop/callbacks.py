"""Callbacks for :func:`backprop.training.fit`: the protocol, the history, early stopping, checkpoints, CSV logs.

The protocol is :class:`Callback`: ``on_train_begin(state)``,
``on_batch_end(batch, logs)``, ``on_epoch_end(epoch, logs) -> stop?`` and
``on_train_end(state)``. None of these print; a progress bar is a callback of
the command-line tool.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import (
    FLOAT_DTYPES,
    check_count,
    check_finite,
    check_interval,
    check_seed,
    fits_float,
    is_count,
    shown,
    shown_briefly,
)
from .errors import BackpropTypeError, ParameterError, ShapeError

if TYPE_CHECKING:
    from .network import Network
    from .optimizers import Optimizer
    from .schedules import Schedule


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

    def check_state_dict(self, state: Any, net: Network) -> None:
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
    threads : int or None
        The threads the last ``fit`` ran its matrix products on (see ``fit``'s ``threads``).
    """

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}
        self.seed: int | None = None
        self.threads: int | None = None

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
        if not isinstance(epochs, list) or not all(is_count(epoch) for epoch in epochs):
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

    def _repr_html_(self) -> str:
        """Jupyter's view: a summary and the curves, self-contained (see ``_html.history_html``)."""
        from ._html import history_html

        return history_html(self.history)


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
            "threads": self.history.threads,  # the threads: part of the bits on the BLAS's, kept for resume_from
        }


def _mode(mode: str, monitor: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ParameterError(f"mode must be 'auto', 'min' or 'max', got mode={mode!r}")
    if mode == "auto":
        return "max" if monitor.endswith(("accuracy", "r2")) else "min"
    return mode


def _checked_fields(state: Any, owner: str, fields: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    """``state`` must be a dict of ``fields`` (and perhaps ``optional`` ones), nothing else."""
    if not isinstance(state, Mapping):
        raise BackpropTypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
    missing = sorted(set(fields) - set(state))
    if missing:
        raise ParameterError(f"{owner} state is missing {missing}")
    unexpected = sorted(set(state) - set(fields) - set(optional))
    if unexpected:
        raise ParameterError(f"{owner} state has unexpected entries {unexpected}")


def _checked_best(value: Any) -> float:
    """A monitor's best value so far: a number, ±inf before the first epoch, never NaN."""
    if not fits_float(value) or math.isnan(value):
        raise ParameterError(f"best must be a number (±inf before any epoch), got best={shown_briefly(value)}")
    return float(value)


def _checked_epoch(value: Any, name: str) -> int | None:
    return None if value is None else check_count(value, name)


class _Monitor:
    """Tracks the best value of one logged metric."""

    def __init__(self, monitor: str, min_delta: float, mode: str) -> None:
        if not isinstance(monitor, str):
            raise ParameterError(f"monitor must be a metric name such as 'val_loss', got {monitor!r}")
        self.monitor = monitor
        self.min_delta = check_interval(min_delta, "min_delta", 0.0, None)
        self.mode = _mode(mode, monitor)
        self.reset()

    def reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf

    def check_name(self, names: tuple[str, ...]) -> None:
        """Raise before training if the run will not log the monitored metric."""
        valid = [name for name in names if name not in ("lr", "seconds")]
        if self.monitor not in valid:
            raise ParameterError(f"Unknown monitor {self.monitor!r}; expected one of {valid}")

    def improved(self, value: float) -> bool:
        better = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if better:
            self.best = value
        return better


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A logged metric: ``loss``, ``accuracy``, ``r2``, ``mae``, their
        ``val_`` twins.
    patience : int, default 10
        Epochs without improvement to wait (>= 0).
    min_delta : float, default 0
        The smallest change that counts as an improvement.
    mode : {"auto", "min", "max"}, default "auto"
        ``auto``: ``max`` for accuracy and r2, ``min`` otherwise.
    restore_best : bool, default True
        At the end, put back the parameters of the best epoch.

    Attributes
    ----------
    best_epoch : int or None
    stopped_epoch : int or None
        The epoch after which training stopped, None when it ran to the end.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 10,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best: bool = True,
    ) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int | np.integer) or patience < 0:
            raise ParameterError(f"patience must be an integer >= 0, got patience={shown(patience)}")
        self._tracker = _Monitor(monitor, min_delta, mode)
        self.patience = int(patience)
        self.restore_best = bool(restore_best)
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self._wait = 0
        self._best_parameters: np.ndarray[Any, Any] | None = None
        self._state: TrainingState | None = None

    def on_train_begin(self, state: TrainingState) -> None:
        self._tracker.check_name(state.metrics)
        self._state = state
        if state.epoch < 0 or self._best_parameters is None:  # a new run, not a resumed one
            self._tracker.reset()
            self.best_epoch, self.stopped_epoch, self._wait = None, None, 0
            self._best_parameters = state.net.parameters.copy() if self.restore_best else None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        value = logs[self._tracker.monitor]
        if self._tracker.improved(value):
            self.best_epoch, self._wait = epoch, 0
            if self._best_parameters is not None and self._state is not None:
                np.copyto(self._best_parameters, self._state.net.parameters)
            return False
        self._wait += 1
        if self._wait > self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, state: TrainingState) -> None:
        if state.partial is not None:
            return  # stopped mid-epoch to be resumed: the weights must stay where training is
        if self._best_parameters is not None and self.best_epoch is not None and self.best_epoch != state.epoch:
            np.copyto(state.net.parameters, self._best_parameters)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "best": self._tracker.best,
            "wait": self._wait,
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
        }
        if self._best_parameters is not None:
            state["best_parameters"] = self._best_parameters.copy()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`, checked whole before anything changes."""
        best, wait, best_epoch, stopped_epoch, parameters = self._checked_state(state, None)
        self._tracker.best = best
        self._wait = wait
        self.best_epoch = best_epoch
        self.stopped_epoch = stopped_epoch
        if parameters is not None:
            self._best_parameters = parameters.copy()

    def check_state_dict(self, state: Any, net: Network) -> None:
        self._checked_state(state, net.parameters)

    @staticmethod
    def _checked_state(
        state: Any, like: np.ndarray[Any, Any] | None
    ) -> tuple[float, int, int | None, int | None, np.ndarray[Any, Any] | None]:
        """``(best, wait, best_epoch, stopped_epoch, best_parameters or None)``; the parameters
        must be finite, and of the shape and dtype of ``like`` when given."""
        _checked_fields(state, "EarlyStopping", ("best", "wait", "best_epoch", "stopped_epoch"), ("best_parameters",))
        best = _checked_best(state["best"])
        wait = check_count(state["wait"], "wait")
        best_epoch = _checked_epoch(state["best_epoch"], "best_epoch")
        stopped_epoch = _checked_epoch(state["stopped_epoch"], "stopped_epoch")
        parameters = state.get("best_parameters")
        if parameters is not None:
            if not isinstance(parameters, np.ndarray) or parameters.ndim != 1 or parameters.dtype not in FLOAT_DTYPES:
                raise ShapeError(
                    f"best_parameters must be a 1-D float32 or float64 array, got {shown_briefly(parameters)}"
                )
            if like is not None and (parameters.shape != like.shape or parameters.dtype != like.dtype):
                raise ShapeError(
                    f"best_parameters holds {parameters.shape[0]:,} {parameters.dtype} values, "
                    f"the network has {like.shape[0]:,} {like.dtype} parameters"
                )
            check_finite(parameters, "best_parameters")
        return best, wait, best_epoch, stopped_epoch, parameters

    def __repr__(self) -> str:
        t = self._tracker
        return (
            f"EarlyStopping(monitor={t.monitor!r}, patience={self.patience}, min_delta={t.min_delta}, mode={t.mode!r})"
        )


class ModelCheckpoint(Callback):
    """Write a training checkpoint after each epoch (or each better one).

    When a callback stops training after a batch (``on_batch_end`` returning
    True), the checkpoint is also written then, holding the position in the
    epoch, so that resuming continues with the next batch.

    The file holds the network and everything a resumed run needs (optimizer
    state, schedule position, random state, epoch, history): pass it to
    ``fit(..., resume_from=path)``; :func:`backprop.io.load_checkpoint` reads
    it too. Every write is atomic, so a crash leaves the previous file intact.

    Parameters
    ----------
    path : str or path-like
    monitor : str, default "val_loss"
        Used with ``save_best_only``.
    save_best_only : bool, default False
        Write only when ``monitor`` improved.
    mode : {"auto", "min", "max"}, default "auto"
    """

    def __init__(
        self,
        path: str | PathLike[str],
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: str = "auto",
    ) -> None:
        self.path = os.fspath(path)
        self.save_best_only = bool(save_best_only)
        self._tracker = _Monitor(monitor, 0.0, mode)
        self._state: TrainingState | None = None

    def on_train_begin(self, state: TrainingState) -> None:
        if self.save_best_only:
            self._tracker.check_name(state.metrics)
        if state.epoch < 0:
            self._tracker.reset()
        self._state = state

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        if self.save_best_only and not self._tracker.improved(logs[self._tracker.monitor]):
            return False
        from .io import save_checkpoint

        if self._state is not None:
            save_checkpoint(self._state.net, self.path, self._state.checkpoint())
        return False

    def on_train_end(self, state: TrainingState) -> None:
        # A callback stopped training after a batch: keep where it stopped.
        if state.partial is not None and not self.save_best_only:
            from .io import save_checkpoint

            save_checkpoint(state.net, self.path, state.checkpoint())

    def state_dict(self) -> dict[str, Any]:
        return {"best": self._tracker.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (the best monitored value so far)."""
        self._tracker.best = self._checked_state(state)

    def check_state_dict(self, state: Any, net: Network) -> None:
        self._checked_state(state)

    @staticmethod
    def _checked_state(state: Any) -> float:
        _checked_fields(state, "ModelCheckpoint", ("best",))
        return _checked_best(state["best"])

    def __repr__(self) -> str:
        return f"ModelCheckpoint({self.path!r}, save_best_only={self.save_best_only})"


class CSVLogger(Callback):
    """Append one row of metrics per epoch to a CSV file (header first).

    Parameters
    ----------
    path : str or path-like
    append : bool, default False
        Keep the rows already in the file (as when resuming) instead of
        starting a new file.
    """

    def __init__(self, path: str | PathLike[str], append: bool = False) -> None:
        self.path = os.fspath(path)
        self.append = bool(append)
        self._columns: list[str] | None = None
        self._truncate = False

    def on_train_begin(self, state: TrainingState) -> None:
        self._columns = None
        # A resumed run continues its file; a new one replaces it, at its first row.
        self._truncate = not self.append and state.epoch < 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        mode = "w" if self._truncate else "a"
        self._truncate = False
        write_header = self._columns is None and (
            mode == "w" or not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        )
        if self._columns is None:
            self._columns = ["epoch", *logs]
        with open(self.path, mode, newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            if write_header:
                writer.writerow(self._columns)
            writer.writerow([epoch, *(repr(float(logs.get(name, math.nan))) for name in self._columns[1:])])
        return False

    def __repr__(self) -> str:
        return f"CSVLogger({self.path!r})"


__all__ = ["CSVLogger", "EarlyStopping", "ModelCheckpoint"]
