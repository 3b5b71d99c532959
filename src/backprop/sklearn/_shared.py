"""The estimators' shared constants and small helpers.

What :mod:`backprop.sklearn`'s modules share: the names scikit-learn gives
solvers, activations and output layers, the loss of each output activation,
the layout version of a saved estimator, and the helpers of one training run
(the learning-rate rule, the epoch callback, fresh optimizer and schedule
copies, scikit-learn's input validation). Imports the core (activations,
optimizers, schedules, callbacks) and scikit-learn; nothing from the
estimators' own modules.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, NoReturn

import numpy as np
from numpy.typing import NDArray
from sklearn.utils.validation import validate_data  # type: ignore[import-untyped]

from .._validation import FloatArray
from ..activations import ACTIVATIONS
from ..callbacks import Callback
from ..dataframes import collected, non_numeric_column
from ..errors import BackpropError, DataError
from ..optimizers import Optimizer
from ..schedules import Schedule, get_schedule

#: The solvers: scikit-learn's stochastic ones and backprop's own optimizers.
SOLVERS = ("adam", "sgd", "adamw", "rmsprop", "adagrad")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
#: scikit-learn's name for the sigmoid, accepted wherever an activation is named.
ALIASES = {"logistic": "sigmoid"}
HIDDEN_ACTIVATIONS = tuple(sorted({*ACTIVATIONS, *ALIASES} - {"softmax"}))
#: scikit-learn's names of the output activations (``out_activation_``).
OUT_NAMES = {"sigmoid": "logistic", "softmax": "softmax", "identity": "identity"}
#: The loss of each output activation: its fused pair (DESIGN.md §1), as in scikit-learn.
LOSSES = {"sigmoid": "binary_crossentropy", "softmax": "crossentropy", "identity": "mse"}
#: The metadata key of a saved estimator in a model file, and its layout's version.
METADATA_KEY = "sklearn"
METADATA_VERSION = 1


# --------------------------------------------------------------------- helpers


class LearningRate(Schedule):
    """The learning rate of each epoch: scikit-learn's ``learning_rate`` rule or a backprop schedule.

    ``"invscaling"`` is ``η / (t + 1)^power_t`` with ``t`` the samples seen
    before the epoch; ``"adaptive"`` keeps ``η`` until the stopping rule fires,
    then divides it by 5 (see ``BaseMLP._epoch_rule``). A backprop schedule
    sees the epochs counted across ``partial_fit`` calls, so it continues
    instead of restarting at epoch 0 on every call.
    """

    name = "sklearn"

    def __init__(self, rule: str, power_t: float, inner: Schedule | None) -> None:
        self.rule = rule
        self.power_t = power_t
        self.inner = inner
        self.epochs_before = 0  # epochs run by earlier fit calls with this optimizer
        self.samples_seen = 0
        self.adaptive_lr: float | None = None

    def __call__(self, epoch: int, base_lr: float) -> float:
        if self.inner is not None:
            return self.inner(epoch + self.epochs_before, base_lr)
        if self.rule == "invscaling":
            try:
                return float(base_lr / (self.samples_seen + 1) ** self.power_t)
            except OverflowError:  # (t + 1)^power_t beyond float64 (power_t=1e308): the rate has decayed to 0
                return 0.0
        if self.rule == "adaptive":
            if self.adaptive_lr is None:
                self.adaptive_lr = float(base_lr)
            return self.adaptive_lr
        return float(base_lr)

    def update(self, epoch: int, logs: Mapping[str, float]) -> None:
        if self.inner is not None:
            self.inner.update(epoch + self.epochs_before, logs)


class Targets(NamedTuple):
    """What an estimator makes of ``y`` for the core."""

    y: NDArray[Any]  # y itself, a column flattened
    targets: NDArray[Any]  # what Network.fit trains on
    n_outputs: int
    out_activation: str  # backprop's name
    fitted: dict[str, Any]  # attributes a first fit sets (classes_)


class EpochEnd(Callback):
    """Hands every finished epoch to the estimator, which applies scikit-learn's stopping rules."""

    def __init__(self, after_epoch: Callable[[float], bool]) -> None:
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        return self.after_epoch(float(logs["loss"]))


def jsonable_float(value: float | None) -> float | str | None:
    """A float for JSON metadata: NaN and infinities as the strings ``"nan"``, ``"inf"``, ``"-inf"``."""
    if value is None:
        return None
    return float(value) if math.isfinite(value) else str(float(value))


def fresh_optimizer(template: Optimizer) -> Optimizer:
    """A new optimizer with ``template``'s hyper-parameters and no state (the template is never stepped)."""
    return type(template)(**{key: getattr(template, key) for key in template.hyper_parameters})


def fresh_schedule(template: Schedule | str) -> Schedule:
    if isinstance(template, str):
        return get_schedule(template)
    state = template.state_dict()
    return type(template)(**{key: state[key] for key in template.hyper_parameters})


def weight_product(weights: FloatArray, per_class: FloatArray) -> FloatArray:
    """``sample_weight × class_weight`` per sample, or a DataError where it overflows float64."""
    with np.errstate(over="raise"):
        try:
            product: FloatArray = weights * per_class
        except FloatingPointError:
            raise DataError(
                f"sample_weight × class_weight overflows float64 (largest sample weight {weights.max():.3g}, "
                f"largest class weight {per_class.max():.3g}); scale them down"
            ) from None
    return product


def validated(estimator: Any, X: Any, y: Any = "no_validation", **kwargs: Any) -> Any:
    """scikit-learn's ``validate_data``, without its ways of breaking the error contract, for any table.

    Its finiteness check sums the array first, which warns "invalid value
    encountered in reduce" for data holding both inf and -inf (before it
    raises its own clear ValueError); and an object array holding an int
    beyond float64 (``10**400``) makes its conversion raise a bare
    OverflowError, here a ValueError that names the array.

    ``X`` may be a pandas or polars DataFrame (a LazyFrame is collected) or a
    pyarrow Table: scikit-learn converts them and records their column names
    in ``feature_names_in_``. A date column (which polars and pyarrow would
    turn into day counts) and a text column are refused naming the column.
    """
    X = collected(X)
    found = non_numeric_column(X, dates_only=True)
    if found is None:
        try:
            with np.errstate(invalid="ignore"):
                return validate_data(estimator, X, y, **kwargs)
        except OverflowError:
            _overflow(X, y)
        except (ValueError, TypeError) as exc:
            if isinstance(exc, BackpropError):
                raise
            found = non_numeric_column(X)
            if found is None:
                raise
    raise DataError(
        f"X is a table whose column {found[0]!r} holds {found[1]}; the estimators take numbers only: encode or "
        "convert it first (a ColumnTransformer in a Pipeline), or use backprop.TabularModel().fit(table, target=...), "
        "which encodes text and dates itself"
    ) from None


def _overflow(X: Any, y: Any) -> NoReturn:
    """The DataError for an OverflowError of ``validate_data``, naming the array."""
    for name, values in (("X", X), ("y", y)):
        try:
            np.asarray(values, dtype=np.float64)
        except OverflowError:
            raise DataError(f"{name} holds a number beyond the range of float64") from None
        except (TypeError, ValueError):
            pass
    raise DataError("X or y holds a number beyond the range of float64") from None
