"""Learning-rate schedules: the learning rate ``η`` of each epoch.

A schedule is an object with four methods::

    class Schedule:
        def __call__(self, epoch: int, base_lr: float) -> float: ...
        def update(self, epoch: int, logs: dict[str, float]) -> None: ...
        def state_dict(self) -> dict[str, Any]: ...
        def load_state_dict(self, state: dict[str, Any]) -> None: ...

The training loop keeps ``base_lr``, the learning rate the optimizer was built
with, and before epoch ``epoch`` (counted from 0) sets
``optimizer.lr = schedule(epoch, base_lr)``; after the epoch it calls
``schedule.update(epoch, logs)`` with that epoch's metrics (``{"loss": ...,
"val_loss": ...}``). Schedules that depend only on the epoch number ignore
``update``; :class:`ReduceOnPlateau` reads its monitored metric there.
``state_dict()`` returns the schedule's name, hyper-parameters and position as
JSON values, and ``load_state_dict`` restores them, so a resumed run continues
with the learning rates an uninterrupted run would have used.

To write your own, subclass :class:`Schedule` and define ``__call__`` (and
``update`` and the state methods if it keeps state).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from ._validation import (
    check_count,
    check_interval,
    check_positive,
    check_positive_int,
    is_finite_number,
    shown,
    shown_briefly,
)
from .errors import BackpropError, BackpropTypeError, ParameterError
from .optimizers import jsonable

#: The longest run CosineDecay plans for (float64 counts integers exactly up to here).
MAX_EPOCHS = 2**53

# Metrics where larger is better: ReduceOnPlateau(mode="auto") maximizes a
# monitor whose name contains one of these and minimizes any other.
_LARGER_IS_BETTER = ("acc", "r2", "auc", "f1", "precision", "recall")


class Schedule:
    """Base class of learning-rate schedules: the learning rate of each epoch.

    Subclasses list their constructor arguments in ``hyper_parameters`` (each
    stored under the same attribute) and define ``__call__``.
    """

    name: ClassVar[str] = "schedule"
    hyper_parameters: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__.lower()

    def __call__(self, epoch: int, base_lr: float) -> float:
        """The learning rate of epoch ``epoch`` (from 0) for a run that starts at ``base_lr``."""
        raise NotImplementedError(f"{type(self).__name__} must define __call__")

    def update(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Called after each epoch with its metrics; only stateful schedules use it."""

    def state_dict(self) -> dict[str, Any]:
        """``"name"`` and the hyper-parameters (and position, for stateful schedules) as JSON values."""
        state: dict[str, Any] = {"name": self.name}
        state.update({key: jsonable(getattr(self, key)) for key in self.hyper_parameters})
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`, checking it whole before anything changes."""
        fresh = self._checked(state, ())
        for key in self.hyper_parameters:
            setattr(self, key, getattr(fresh, key))

    def _checked(self, state: Mapping[str, Any], extra: tuple[str, ...]) -> Schedule:
        """Check ``state``'s name and keys; return a new schedule built from its hyper-parameters."""
        if not isinstance(state, Mapping):
            raise BackpropTypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        if state.get("name") != self.name:
            raise ParameterError(f"state is for schedule {state.get('name')!r}, not {self.name!r}")
        expected = {"name", *self.hyper_parameters, *extra}
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing:
            raise ParameterError(f"{self.name} schedule state is missing {missing}")
        if unexpected:
            raise ParameterError(f"{self.name} schedule state has unexpected entries {unexpected}")
        return type(self)(**{key: state[key] for key in self.hyper_parameters})

    def __repr__(self) -> str:
        arguments = ", ".join(f"{key}={getattr(self, key)!r}" for key in self.hyper_parameters)
        return f"{type(self).__name__}({arguments})"


def _check_call(epoch: Any, base_lr: Any) -> float:
    check_count(epoch, "epoch")
    return check_positive(base_lr, "base_lr")


class Constant(Schedule):
    """The same learning rate every epoch: ``η_e = η``."""

    def __call__(self, epoch: int, base_lr: float) -> float:
        return _check_call(epoch, base_lr)


class StepDecay(Schedule):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    ``η_e = η · γ^⌊e / step_size⌋`` (as ``torch.optim.lr_scheduler.StepLR``).

    Parameters
    ----------
    step_size : int
        Epochs between decays (> 0).
    gamma : float, default 0.1
        The factor ``γ`` in (0, 1].
    """

    name = "step"
    hyper_parameters = ("step_size", "gamma")

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = check_positive_int(step_size, "step_size")
        self.gamma = check_interval(gamma, "gamma", 0.0, 1.0, closed="right")

    def __call__(self, epoch: int, base_lr: float) -> float:
        return _check_call(epoch, base_lr) * self.gamma ** (epoch // self.step_size)


class ExponentialDecay(Schedule):
    """Multiply the learning rate by ``gamma`` every epoch: ``η_e = η · γ^e``.

    Parameters
    ----------
    gamma : float
        The factor ``γ`` in (0, 1].
    """

    name = "exponential"
    hyper_parameters = ("gamma",)

    def __init__(self, gamma: float) -> None:
        self.gamma = check_interval(gamma, "gamma", 0.0, 1.0, closed="right")

    def __call__(self, epoch: int, base_lr: float) -> float:
        return _check_call(epoch, base_lr) * self.gamma**epoch


class CosineDecay(Schedule):
    """Linear warm-up, then half a cosine from the base learning rate down to ``min_lr``.

    With ``W = warmup`` and ``E = epochs``::

        η_e = η (e + 1) / (W + 1)                                  for e < W
        η_e = η_min + (η − η_min) (1 + cos(π (e − W) / (E − W))) / 2   for W <= e < E
        η_e = η_min                                                for e >= E

    The warm-up climbs in ``W`` equal steps to ``η`` at epoch ``W``; the cosine
    part is ``torch.optim.lr_scheduler.CosineAnnealingLR`` with ``T_max = E − W``,
    so the last planned epoch ``E − 1`` still learns (its rate is above
    ``η_min``) and ``η_min`` is held from epoch ``E`` on.

    Parameters
    ----------
    epochs : int
        ``E``, the epochs of the whole run, warm-up included (> 0, at most 2**53).
    min_lr : float, default 0.0
        ``η_min`` (>= 0, and not above the base learning rate).
    warmup : int, default 0
        ``W``, the warm-up epochs (>= 0, < ``epochs``).
    """

    name = "cosine"
    hyper_parameters = ("epochs", "min_lr", "warmup")

    def __init__(self, epochs: int, min_lr: float = 0.0, warmup: int = 0) -> None:
        self.epochs = check_positive_int(epochs, "epochs")
        if self.epochs > MAX_EPOCHS:  # the warm-up's (e + 1) / (W + 1) needs W as a float (W < E)
            raise ParameterError(f"epochs must be at most 2**53, got epochs={shown_briefly(self.epochs)}")
        self.min_lr = check_interval(min_lr, "min_lr", 0.0, None)
        self.warmup = check_count(warmup, "warmup")
        if self.warmup >= self.epochs:
            raise ParameterError(
                f"warmup must be smaller than epochs, got warmup={self.warmup} with epochs={self.epochs}"
            )

    def __call__(self, epoch: int, base_lr: float) -> float:
        base_lr = _check_call(epoch, base_lr)
        if self.min_lr > base_lr:
            raise ParameterError(f"min_lr={self.min_lr!r} exceeds the optimizer's learning rate {base_lr!r}")
        if epoch < self.warmup:
            return base_lr * (epoch + 1) / (self.warmup + 1)
        if epoch >= self.epochs:
            return self.min_lr
        progress = (epoch - self.warmup) / (self.epochs - self.warmup)
        return self.min_lr + (base_lr - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2


class ReduceOnPlateau(Schedule):
    """Cut the learning rate by ``factor`` when a metric stops improving.

    As Keras ``ReduceLROnPlateau``: after each epoch the monitored value
    counts as an improvement when it beats the best so far by more than
    ``min_delta`` (below it in mode ``"min"``, above it in mode ``"max"``). After
    ``patience`` epochs in a row without improvement the learning rate becomes
    ``max(lr · factor, min_lr)``; then ``cooldown`` epochs pass in which bad
    epochs are not counted (as in torch; Keras counts one fewer). Once the
    rate is at ``min_lr`` it stays there.

    The rate starts at the ``base_lr`` of the first call and changes only in
    :meth:`update`; later calls return the current rate whatever ``epoch`` and
    ``base_lr`` they pass.

    Parameters
    ----------
    monitor : str, default "val_loss"
        The key of the epoch logs to watch.
    factor : float, default 0.1
        The cut, in (0, 1).
    patience : int, default 10
        Epochs without improvement before a cut (>= 0).
    min_delta : float, default 1e-4
        The least change that counts as an improvement (>= 0).
    mode : {"auto", "min", "max"}, default "auto"
        ``"auto"`` maximizes a monitor whose name contains ``acc``, ``r2``,
        ``auc``, ``f1``, ``precision`` or ``recall`` and minimizes any other.
    cooldown : int, default 0
        Epochs after a cut before bad epochs count again (>= 0).
    min_lr : float, default 0.0
        The floor of the learning rate (>= 0).

    Attributes
    ----------
    lr_ : float or None
        The current learning rate; None until the first epoch.
    best_ : float or None
        The best monitored value so far.
    wait_ : int
        Epochs since the last improvement (not counting cooldown).
    cooldown_counter_ : int
        Cooldown epochs left.
    """

    name = "plateau"
    hyper_parameters = ("monitor", "factor", "patience", "min_delta", "mode", "cooldown", "min_lr")
    _position = ("lr", "best", "wait", "cooldown_counter")

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        min_delta: float = 1e-4,
        mode: str = "auto",
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise ParameterError(f"monitor must be the name of a metric such as 'val_loss', got monitor={monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ParameterError(f"mode must be one of ['auto', 'max', 'min'], got mode={mode!r}")
        self.monitor = monitor
        self.factor = check_interval(factor, "factor", 0.0, 1.0, closed="neither")
        self.patience = check_count(patience, "patience")
        self.min_delta = check_interval(min_delta, "min_delta", 0.0, None)
        self.mode = mode
        self.cooldown = check_count(cooldown, "cooldown")
        self.min_lr = check_interval(min_lr, "min_lr", 0.0, None)
        self.lr_: float | None = None
        self.best_: float | None = None
        self.wait_ = 0
        self.cooldown_counter_ = 0

    @property
    def maximize(self) -> bool:
        """Whether larger values of the monitor are better (``mode`` resolved)."""
        if self.mode == "auto":
            return any(word in self.monitor.lower() for word in _LARGER_IS_BETTER)
        return self.mode == "max"

    def __call__(self, epoch: int, base_lr: float) -> float:
        base_lr = _check_call(epoch, base_lr)
        if self.lr_ is None:
            self.lr_ = base_lr
        return self.lr_

    def update(self, epoch: int, logs: Mapping[str, float]) -> None:
        if self.monitor not in logs:
            raise ParameterError(
                f"ReduceOnPlateau monitors {self.monitor!r}, which the epoch logs do not have; they have {sorted(logs)}"
            )
        if self.lr_ is None:
            raise BackpropError("ReduceOnPlateau.update was called before the schedule gave a learning rate")
        current = float(logs[self.monitor])
        improved = self._improved(current)
        if improved:
            self.best_ = current
            self.wait_ = 0
        if self.cooldown_counter_ > 0:
            # An epoch of the cooldown after a cut: not counted against the patience.
            self.cooldown_counter_ -= 1
            return
        if not improved:
            self.wait_ += 1
            if self.wait_ >= self.patience and self.lr_ > self.min_lr:
                self.lr_ = max(self.lr_ * self.factor, self.min_lr)
                self.cooldown_counter_ = self.cooldown
                self.wait_ = 0

    def _improved(self, current: float) -> bool:
        if self.best_ is None:
            return math.isfinite(current)
        if self.maximize:
            return current > self.best_ + self.min_delta
        return current < self.best_ - self.min_delta

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(lr=self.lr_, best=self.best_, wait=self.wait_, cooldown_counter=self.cooldown_counter_)
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        fresh = self._checked(state, self._position)
        lr, best = state["lr"], state["best"]
        if lr is not None:
            lr = check_interval(lr, "lr", 0.0, None)
        if best is not None and not is_finite_number(best):
            raise ParameterError(f"best must be None or a finite number, got best={shown(best)}")
        wait = check_count(state["wait"], "wait")
        cooldown_counter = check_count(state["cooldown_counter"], "cooldown_counter")
        for key in self.hyper_parameters:
            setattr(self, key, getattr(fresh, key))
        self.lr_ = lr
        self.best_ = None if best is None else float(best)
        self.wait_ = wait
        self.cooldown_counter_ = cooldown_counter


SCHEDULES: dict[str, type[Schedule]] = {
    "constant": Constant,
    "step": StepDecay,
    "exponential": ExponentialDecay,
    "cosine": CosineDecay,
    "plateau": ReduceOnPlateau,
}


def get_schedule(spec: str | Schedule | None) -> Schedule:
    """Return the :class:`Schedule` for a name, an instance or None.

    Parameters
    ----------
    spec : {"constant", "plateau"}, Schedule or None
        None gives :class:`Constant`; a name gives the schedule with its
        defaults; an instance is returned as it is. ``"step"``,
        ``"exponential"`` and ``"cosine"`` have a required argument, so they
        are passed as instances (``bp.CosineDecay(epochs=50)``).
    """
    if spec is None:
        return Constant()
    if isinstance(spec, Schedule):
        return spec
    if not isinstance(spec, str):
        raise BackpropTypeError(
            f"schedule must be a name such as 'plateau' or a Schedule such as CosineDecay(epochs=50), got {spec!r}"
        )
    if spec not in SCHEDULES:
        raise ParameterError(f"Unknown schedule {spec!r}; expected one of {sorted(SCHEDULES)}")
    cls = SCHEDULES[spec]
    required = [
        parameter.name
        for parameter in inspect.signature(cls).parameters.values()
        if parameter.default is inspect.Parameter.empty
    ]
    if required:
        example = ", ".join(f"{name}=..." for name in required)
        raise ParameterError(
            f"schedule {spec!r} needs {' and '.join(required)}; pass an instance such as {cls.__name__}({example})"
        )
    return cls()


__all__ = [
    "SCHEDULES",
    "Constant",
    "CosineDecay",
    "ExponentialDecay",
    "ReduceOnPlateau",
    "Schedule",
    "StepDecay",
    "get_schedule",
]
