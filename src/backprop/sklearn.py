"""scikit-learn estimators over backprop's core: :class:`MLPClassifier` and :class:`MLPRegressor`.

Swapping ``from sklearn.neural_network import MLPClassifier`` for
``from backprop.sklearn import MLPClassifier`` keeps the code working: the
parameters scikit-learn's estimators have are here under the same names with
the same meaning, and so are the fitted attributes (``coefs_``,
``intercepts_``, ``loss_curve_``, ``n_iter_``, ...). Training is one
:meth:`backprop.Network.fit` call (one epoch per ``partial_fit``), with
scikit-learn's stopping rules as a callback.

How scikit-learn's definitions map onto the core (DESIGN.md §1):

* The losses are the same functions: scikit-learn's ``log_loss`` is
  ``crossentropy`` (softmax output) or ``binary_crossentropy`` (logistic
  outputs: two classes and multi-label), and its ``squared_error`` gives the
  same gradient as backprop's ``mse``, ``½ Σ_k (ŷ_k − y_k)²`` per sample. The
  reported loss differs for several outputs only: scikit-learn divides it by
  ``n_outputs`` as well; ``loss_curve_`` here is backprop's ``mse``.
* ``alpha`` is scikit-learn's L2 penalty ``(alpha / 2) ‖W‖² / m`` per batch of
  ``m`` samples (of total sample weight ``m`` with weights), on the weights,
  not the biases: the core's ``fit(l2=...)`` adds ``(l2 / 2) ‖W‖²`` to the
  mean loss of every batch, so ``l2 = alpha / (batch_size · mean weight)``.
  Equal for every full batch; a smaller last batch is penalised as a full one.
* ``solver="sgd"`` is :class:`backprop.SGD` (the torch form of momentum,
  which takes the same steps as scikit-learn's at a constant learning rate),
  ``"adam"`` :class:`backprop.Adam` (``epsilon`` is added to the
  bias-corrected ``√v``, as in torch; scikit-learn adds it to ``√v``).

Importing this module needs scikit-learn >= 1.6 (``pip install
'backprop[sklearn]'``); the core never imports scikit-learn.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple, cast

import numpy as np
from numpy.typing import NDArray

from .errors import MissingDependencyError

try:
    import sklearn  # type: ignore[import-untyped]
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin  # type: ignore[import-untyped]
    from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]
    from sklearn.metrics import accuracy_score, r2_score  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
    from sklearn.utils import check_random_state, column_or_1d  # type: ignore[import-untyped]
    from sklearn.utils.class_weight import compute_sample_weight  # type: ignore[import-untyped]
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels  # type: ignore[import-untyped]
    from sklearn.utils.validation import check_is_fitted, validate_data  # type: ignore[import-untyped]
except ImportError as exc:  # scikit-learn missing, or older than 1.6 (no validate_data)
    raise MissingDependencyError(
        f"backprop.sklearn needs scikit-learn >= 1.6 ({exc}); install it with: pip install 'backprop[sklearn]'"
    ) from exc

from . import io as _io
from ._validation import (
    FloatArray,
    as_float_dtype,
    check_bool,
    check_interval,
    check_positive,
    check_positive_int,
    check_sample_weight,
    is_number,
    mean_weight,
    scaled_weights,
    shown,
)
from .activations import ACTIVATIONS
from .errors import BackpropTypeError, DataError, ModelFileError, ParameterError, ShapeError
from .layers import Dense, Dropout, Layer
from .network import Network
from .optimizers import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from .schedules import SCHEDULES, Schedule, get_schedule
from .training import Callback

#: The solvers: scikit-learn's stochastic ones and backprop's own optimizers.
SOLVERS = ("adam", "sgd", "adamw", "rmsprop", "adagrad")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
#: scikit-learn's name for the sigmoid, accepted wherever an activation is named.
_ALIASES = {"logistic": "sigmoid"}
HIDDEN_ACTIVATIONS = tuple(sorted({*ACTIVATIONS, *_ALIASES} - {"softmax"}))
#: scikit-learn's names of the output activations (``out_activation_``).
_OUT_NAMES = {"sigmoid": "logistic", "softmax": "softmax", "identity": "identity"}
#: The loss of each output activation: its fused pair (DESIGN.md §1), as in scikit-learn.
_LOSSES = {"sigmoid": "binary_crossentropy", "softmax": "crossentropy", "identity": "mse"}
#: The metadata key of a saved estimator in a model file, and its layout's version.
METADATA_KEY = "sklearn"
METADATA_VERSION = 1


# --------------------------------------------------------------------- helpers


class _LearningRate(Schedule):
    """The learning rate of each epoch: scikit-learn's ``learning_rate`` rule or a backprop schedule.

    ``"invscaling"`` is ``η / (t + 1)^power_t`` with ``t`` the samples seen
    before the epoch; ``"adaptive"`` keeps ``η`` until the stopping rule fires,
    then divides it by 5 (see ``_BaseMLP._epoch_rule``). A backprop schedule
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


class _Targets(NamedTuple):
    """What an estimator makes of ``y`` for the core."""

    y: NDArray[Any]  # y itself, a column flattened
    targets: NDArray[Any]  # what Network.fit trains on
    n_outputs: int
    out_activation: str  # backprop's name
    fitted: dict[str, Any]  # attributes a first fit sets (classes_)


class _EpochEnd(Callback):
    """Hands every finished epoch to the estimator, which applies scikit-learn's stopping rules."""

    def __init__(self, after_epoch: Callable[[float], bool]) -> None:
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        return self.after_epoch(float(logs["loss"]))


def _jsonable_float(value: float | None) -> float | str | None:
    """A float for JSON metadata: NaN and infinities as the strings ``"nan"``, ``"inf"``, ``"-inf"``."""
    if value is None:
        return None
    return float(value) if math.isfinite(value) else str(float(value))


def _fresh_optimizer(template: Optimizer) -> Optimizer:
    """A new optimizer with ``template``'s hyper-parameters and no state (the template is never stepped)."""
    return type(template)(**{key: getattr(template, key) for key in template.hyper_parameters})


def _fresh_schedule(template: Schedule | str) -> Schedule:
    if isinstance(template, str):
        return get_schedule(template)
    state = template.state_dict()
    return type(template)(**{key: state[key] for key in template.hyper_parameters})


def _product(weights: FloatArray, per_class: FloatArray) -> FloatArray:
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


def _validated(estimator: Any, X: Any, y: Any = "no_validation", **kwargs: Any) -> Any:
    """scikit-learn's ``validate_data``, without its two ways of breaking the error contract.

    Its finiteness check sums the array first, which warns "invalid value
    encountered in reduce" for data holding both inf and -inf (before it
    raises its own clear ValueError); and an object array holding an int
    beyond float64 (``10**400``) makes its conversion raise a bare
    OverflowError, here a ValueError that names the array.
    """
    try:
        with np.errstate(invalid="ignore"):
            return validate_data(estimator, X, y, **kwargs)
    except OverflowError:
        for name, values in (("X", X), ("y", y)):
            try:
                np.asarray(values, dtype=np.float64)
            except OverflowError:
                raise DataError(f"{name} holds a number beyond the range of float64") from None
            except (TypeError, ValueError):
                pass
        raise DataError("X or y holds a number beyond the range of float64") from None


# ------------------------------------------------------------------ estimators


class _BaseMLP(BaseEstimator):  # type: ignore[misc]
    """What the classifier and the regressor share; not for direct use."""

    _estimator_kind: ClassVar[str] = "regressor"

    # Set by the subclasses' __init__ (scikit-learn reads the parameters from its signature).
    hidden_layer_sizes: Any
    activation: Any
    solver: Any
    alpha: Any
    batch_size: Any
    learning_rate: Any
    learning_rate_init: Any
    power_t: Any
    max_iter: Any
    shuffle: Any
    random_state: Any
    tol: Any
    verbose: Any
    warm_start: Any
    momentum: Any
    nesterovs_momentum: Any
    early_stopping: Any
    validation_fraction: Any
    beta_1: Any
    beta_2: Any
    epsilon: Any
    n_iter_no_change: Any
    dropout: Any
    optimizer: Any
    schedule: Any
    restore_best_weights: Any
    dtype: Any

    # Fitted attributes.
    network_: Network
    n_layers_: int
    n_outputs_: int
    out_activation_: str
    n_iter_: int
    t_: int
    loss_: float | None
    loss_curve_: list[float]
    best_loss_: float | None
    validation_scores_: list[float] | None
    best_validation_score_: float | None
    n_features_in_: int

    # ---------------------------------------------------------- parameters

    def _hidden_sizes(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        if isinstance(sizes, str) or not isinstance(sizes, Sequence | np.ndarray):
            raise ParameterError(
                f"hidden_layer_sizes must be a positive integer or a sequence of them (one per hidden layer), "
                f"got hidden_layer_sizes={shown(self.hidden_layer_sizes)}"
            )
        return tuple(check_positive_int(units, "hidden_layer_sizes entries") for units in sizes)

    def _per_layer(self, name: str, n_hidden: int) -> list[Any]:
        """A parameter given once for all hidden layers or as a list with one entry per hidden layer."""
        value = getattr(self, name)
        if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray):
            return [value] * n_hidden
        if len(value) != n_hidden:
            raise ParameterError(
                f"{name} must be one value or a list with one entry per hidden layer ({n_hidden}), "
                f"got {name}={shown(value)} with {len(value)} entries"
            )
        return list(value)

    def _hidden_activations(self, n_hidden: int) -> list[str]:
        names = []
        for entry in self._per_layer("activation", n_hidden):
            if not isinstance(entry, str) or entry not in HIDDEN_ACTIVATIONS:
                raise ParameterError(
                    f"activation must be one of {list(HIDDEN_ACTIVATIONS)} or a list of them, "
                    f"one per hidden layer, got {shown(entry)}"
                )
            names.append(_ALIASES.get(entry, entry))
        return names

    def _dropout_rates(self, n_hidden: int) -> list[float]:
        return [check_interval(rate, "dropout", 0.0, 1.0) for rate in self._per_layer("dropout", n_hidden)]

    def _check_parameters(self) -> None:
        """Check every parameter (scikit-learn checks them in fit, not in __init__)."""
        n_hidden = len(self._hidden_sizes())
        self._hidden_activations(n_hidden)
        self._dropout_rates(n_hidden)
        if self.solver not in SOLVERS:
            hint = "; backprop has no L-BFGS solver, use 'adam' or 'sgd'" if self.solver == "lbfgs" else ""
            raise ParameterError(f"solver must be one of {list(SOLVERS)}, got solver={shown(self.solver)}{hint}")
        check_interval(self.alpha, "alpha", 0.0, None)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            check_positive_int(self.batch_size, "batch_size")
        if self.learning_rate not in LEARNING_RATES:
            raise ParameterError(
                f"learning_rate must be one of {list(LEARNING_RATES)}, got learning_rate={shown(self.learning_rate)}"
            )
        check_positive(self.learning_rate_init, "learning_rate_init")
        check_interval(self.power_t, "power_t", 0.0, None)
        check_positive_int(self.max_iter, "max_iter")
        for flag in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping", "restore_best_weights"):
            check_bool(getattr(self, flag), flag)
        check_random_state(self.random_state)
        check_interval(self.tol, "tol", 0.0, None)
        verbose = self.verbose
        if not isinstance(verbose, bool | np.bool_) and not (isinstance(verbose, int | np.integer) and verbose >= 0):
            raise ParameterError(f"verbose must be a boolean or a non-negative integer, got {shown(self.verbose)}")
        check_interval(self.momentum, "momentum", 0.0, 1.0)
        if self.early_stopping:
            check_interval(self.validation_fraction, "validation_fraction", 0.0, 1.0, closed="neither")
        else:
            check_interval(self.validation_fraction, "validation_fraction", 0.0, 1.0)
        check_interval(self.beta_1, "beta_1", 0.0, 1.0)
        check_interval(self.beta_2, "beta_2", 0.0, 1.0)
        check_positive(self.epsilon, "epsilon")
        if not (is_number(self.n_iter_no_change) and self.n_iter_no_change == np.inf):
            check_positive_int(self.n_iter_no_change, "n_iter_no_change")
        if self.optimizer is not None and not isinstance(self.optimizer, Optimizer):
            raise BackpropTypeError(
                f"optimizer must be None or a backprop Optimizer such as bp.Adam(1e-3), got {self.optimizer!r}"
            )
        if self.schedule is not None:
            monitor = getattr(get_schedule(self.schedule), "monitor", "")
            if isinstance(monitor, str) and monitor.startswith("val_") and not self.early_stopping:
                raise ParameterError(
                    f"schedule={self.schedule!r} monitors {monitor!r}, which only early_stopping=True measures; "
                    "set early_stopping=True or monitor 'loss'"
                )
            if self.learning_rate != "constant":
                raise ParameterError(
                    f"learning_rate={self.learning_rate!r} and schedule={self.schedule!r} both set the learning "
                    "rate; use one of them"
                )
        if self.dtype is not None:
            as_float_dtype(self.dtype)

    # ----------------------------------------------------------- fitted state

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "network_")

    @property
    def coefs_(self) -> list[FloatArray]:
        """``W[l]`` of shape ``(n_in, n_out)`` per layer: live views of ``network_``'s parameters.

        Assigning a list of arrays of the same shapes copies them into the network.
        """
        check_is_fitted(self)
        return self.network_.weights

    @coefs_.setter
    def coefs_(self, values: Sequence[Any]) -> None:
        check_is_fitted(self)
        self._assign("coefs_", self.network_.weights, values)

    @property
    def intercepts_(self) -> list[FloatArray]:
        """``b[l]`` of shape ``(n_out,)`` per layer: live views of ``network_``'s parameters."""
        check_is_fitted(self)
        return [b for b in self.network_.biases if b is not None]

    @intercepts_.setter
    def intercepts_(self, values: Sequence[Any]) -> None:
        check_is_fitted(self)
        self._assign("intercepts_", self.intercepts_, values)

    @staticmethod
    def _assign(name: str, targets: list[FloatArray], values: Sequence[Any]) -> None:
        arrays = [np.asarray(v) for v in values]
        shapes = [t.shape for t in targets]
        if len(arrays) != len(targets) or any(a.shape != s for a, s in zip(arrays, shapes, strict=False)):
            raise ShapeError(
                f"{name} must be a list of arrays of shapes {shapes}, got shapes {[a.shape for a in arrays]}"
            )
        for target, array in zip(targets, arrays, strict=True):
            target[...] = array

    # ------------------------------------------------------------- training

    def _targets(self, y: Any, first: bool, incremental: bool, classes: Any) -> _Targets:
        raise NotImplementedError

    def _score_validation(self, X: FloatArray, y: Any, sample_weight: Any) -> float:
        raise NotImplementedError

    def _sample_weight(self, sample_weight: Any, y: Any, n: int, incremental: bool) -> FloatArray | None:
        if sample_weight is None:
            return None
        return check_sample_weight(np.asarray(sample_weight), n, np.dtype(np.float64))

    def _new_optimizer(self) -> Optimizer:
        if self.optimizer is not None:
            return _fresh_optimizer(self.optimizer)
        lr, eps, betas = self.learning_rate_init, self.epsilon, (self.beta_1, self.beta_2)
        if self.solver == "sgd":
            return SGD(lr, momentum=self.momentum, nesterov=bool(self.nesterovs_momentum and self.momentum > 0))
        if self.solver == "adam":
            return Adam(lr, betas=betas, eps=eps)
        if self.solver == "adamw":
            return AdamW(lr, betas=betas, eps=eps)
        if self.solver == "rmsprop":
            return RMSprop(lr, eps=eps)
        return Adagrad(lr, eps=eps)

    def _layers(self, n_outputs: int, out_activation: str) -> list[Layer]:
        """The layers the parameters describe, from the first hidden layer to the output layer."""
        sizes = self._hidden_sizes()
        layers: list[Layer] = []
        for units, activation, rate in zip(
            sizes, self._hidden_activations(len(sizes)), self._dropout_rates(len(sizes)), strict=True
        ):
            layers.append(Dense(units, activation=activation))
            if rate > 0:
                layers.append(Dropout(rate))
        layers.append(Dense(n_outputs, activation=out_activation))
        return layers

    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool, classes: Any = None) -> _BaseMLP:
        self._check_parameters()
        name = type(self).__name__
        if incremental and self.early_stopping:
            raise ParameterError(f"{name}.partial_fit does not support early_stopping=True")
        if incremental and getattr(self, "class_weight", None) == "balanced":
            raise ParameterError(
                f"class_weight='balanced' needs the whole training set and is not supported by {name}.partial_fit; "
                "pass a dict of class weights"
            )
        first = not self.__sklearn_is_fitted__() or (not self.warm_start and not incremental)
        X, y = _validated(
            self,
            X,
            y,
            reset=first,
            dtype=[np.float64, np.float32],
            multi_output=True,
            y_numeric=self._estimator_kind == "regressor",
        )
        y, targets, n_outputs, out_activation, labels = self._targets(y, first, incremental, classes)
        weights = self._sample_weight(sample_weight, y, X.shape[0], incremental)
        random_state = check_random_state(self.random_state)

        if first:
            dtype = as_float_dtype(self.dtype) if self.dtype is not None else X.dtype
            init_seed, self._seed = (int(s) for s in random_state.randint(0, 2**31 - 1, size=2))
            # Everything checked: the new fit replaces the old state from here on.
            self.network_ = Network(
                self._layers(n_outputs, out_activation), inputs=X.shape[1], seed=init_seed, dtype=dtype
            )
            for key, value in labels.items():
                setattr(self, key, value)
            self.n_layers_ = len(self._hidden_sizes()) + 2
            self.n_outputs_ = n_outputs
            self.out_activation_ = _OUT_NAMES[out_activation]
            self.n_iter_ = self.t_ = 0
            self.loss_ = None
            self.loss_curve_ = []
            self._reset_stopping()
        else:
            self._check_architecture(n_outputs)
            if not hasattr(self, "_seed"):  # a loaded estimator
                self._seed = int(random_state.randint(0, 2**31 - 1))
            if self.early_stopping and self.validation_scores_ is None:
                self._reset_stopping()
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._new_optimizer()
            self._base_lr = self._optimizer.lr
            rule = self.learning_rate if isinstance(self._optimizer, SGD) else "constant"
            inner = None if self.schedule is None else _fresh_schedule(self.schedule)
            self._lr_schedule = _LearningRate(rule, float(self.power_t), inner)

        try:
            X, targets, weights, validation, batch_size, l2 = self._plan(X, y, targets, weights, random_state)
        except BaseException:
            if first:  # a failed first fit leaves the estimator unfitted
                del self.network_
            raise
        n_train = X.shape[0]
        if incremental:
            seed = int(np.random.SeedSequence([self._seed, self.t_]).generate_state(1)[0])
        else:
            seed = int(random_state.randint(0, 2**31 - 1))

        self._stopped = False
        self.n_iter_ = 0
        self._optimizer.lr = self._base_lr  # a schedule starts from the base rate each call
        after_epoch = self._epoch_rule(n_train, validation, incremental)
        try:
            self.network_.fit(
                X,
                targets,
                loss=_LOSSES[out_activation],
                optimizer=self._optimizer,
                epochs=1 if incremental else int(self.max_iter),
                batch_size=batch_size,
                shuffle=bool(self.shuffle),
                validation=None if validation is None else (validation[0], validation[3]),
                sample_weight=weights,
                l2=l2,
                schedule=self._lr_schedule,
                callbacks=[_EpochEnd(after_epoch)],
                seed=seed,
            )
        except BaseException:
            if first:  # a failed first fit leaves the estimator unfitted
                del self.network_
            raise
        finally:
            self._lr_schedule.epochs_before += self.n_iter_
        if self.early_stopping and self.restore_best_weights:
            self.network_.parameters[...] = self._best_parameters
        if not incremental and not self._stopped and self.n_iter_ == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                "hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _plan(
        self, X: FloatArray, y: Any, targets: NDArray[Any], weights: FloatArray | None, random_state: Any
    ) -> tuple[FloatArray, NDArray[Any], FloatArray | None, tuple[Any, ...] | None, int, float]:
        """The training samples (after the early-stopping split), the validation set, batch size and L2."""
        validation = None
        if self.early_stopping:
            X, targets, weights, validation = self._split(X, y, targets, weights, random_state)
        n_train = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_train)
        else:
            if self.batch_size > n_train:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going to be clipped", stacklevel=4
                )
            batch_size = min(int(self.batch_size), n_train)
        # scikit-learn's penalty is (alpha/2)‖W‖²/m per batch of m samples (of total weight m);
        # the core adds (l2/2)‖W‖² to every batch's mean loss.
        mean = 1.0 if weights is None else mean_weight(weights)
        l2 = float(self.alpha) / (batch_size * mean)
        dtype = self.network_.dtype
        if not l2 <= float(np.finfo(dtype).max):
            raise DataError(
                f"alpha={shown(self.alpha)} gives an L2 penalty alpha / (batch_size · mean sample weight) = "
                f"{shown(self.alpha)} / ({batch_size} · {mean:.3g}) = {l2:.3g}, beyond {dtype.name}; "
                "lower alpha" + ("" if weights is None else " or scale sample_weight up")
            )
        return X, targets, weights, validation, batch_size, l2

    def _reset_stopping(self) -> None:
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
            self._best_parameters = self.network_.parameters.copy()
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _check_architecture(self, n_outputs: int) -> None:
        """Warm start and partial_fit continue only the network the parameters describe."""
        name = type(self).__name__
        if n_outputs != self.n_outputs_:
            raise ShapeError(f"y has {n_outputs} outputs, but {name} was fitted with {self.n_outputs_} outputs")
        sizes = self._hidden_sizes()
        built = tuple(layer.units for layer in self.network_.dense_layers[:-1])
        if sizes != built:
            raise ParameterError(
                f"hidden_layer_sizes={sizes} differs from the fitted network's {built}; "
                "fit with warm_start=False to start a new network"
            )

    def _split(
        self, X: FloatArray, y: Any, targets: NDArray[Any], weights: FloatArray | None, random_state: Any
    ) -> tuple[FloatArray, NDArray[Any], FloatArray | None, tuple[Any, ...]]:
        """Hold out ``validation_fraction`` of the samples, stratified for single-label classification."""
        stratify = y if self._estimator_kind == "classifier" and np.ndim(y) == 1 else None
        rows = np.arange(X.shape[0])
        train, held = train_test_split(
            rows, random_state=random_state, test_size=self.validation_fraction, stratify=stratify
        )
        if held.shape[0] < 2:
            raise ParameterError(
                "The validation set is too small. Increase 'validation_fraction' or the size of your dataset."
            )
        # Scaled (exactly, by a power of two): the weighted accuracy and R² depend on ratios only, and
        # scikit-learn's metrics sum the weights, which overflows for weights near 1e308.
        held_weights = None if weights is None else scaled_weights(weights[held])
        validation = (X[held], y[held], held_weights, targets[held])
        return X[train], targets[train], None if weights is None else weights[train], validation

    def _epoch_rule(
        self, n_train: int, validation: tuple[Any, ...] | None, incremental: bool
    ) -> Callable[[float], bool]:
        """scikit-learn's bookkeeping and stopping rule after each epoch; True stops training."""

        def after_epoch(loss: float) -> bool:
            self.n_iter_ += 1
            self.t_ += n_train
            self._lr_schedule.samples_seen = self.t_
            self.loss_ = loss
            self.loss_curve_.append(loss)
            self._report(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
            if validation is not None:
                self._validation_epoch(*validation[:3])
            else:
                # Training loss: an improvement is a drop of more than tol below the best so far.
                best = np.inf if self.best_loss_ is None else self.best_loss_
                if loss > best - self.tol:
                    self._no_improvement_count += 1
                else:
                    self._no_improvement_count = 0
                self.best_loss_ = min(loss, best)
            if self._no_improvement_count <= self.n_iter_no_change:
                return False
            what = "Validation score" if validation is not None else "Training loss"
            message = (
                f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} consecutive epochs."
            )
            rule = self._lr_schedule
            if rule.inner is None and rule.rule == "adaptive":
                if rule.adaptive_lr is not None and rule.adaptive_lr > 1e-6:
                    rule.adaptive_lr /= 5.0
                    self._no_improvement_count = 0
                    self._report(f"{message} Setting learning rate to {rule.adaptive_lr:f}")
                    return False
                message += " Learning rate too small."
            self._report(f"{message} Stopping.")
            self._stopped = True
            return not incremental

        return after_epoch

    def _report(self, line: str) -> None:
        """Progress on stdout, only when asked for with ``verbose`` (scikit-learn's lines, word for word)."""
        if self.verbose:
            sys.stdout.write(line + "\n")

    def _validation_epoch(self, X_val: FloatArray, y_val: Any, weights: FloatArray | None) -> None:
        score = self._score_validation(X_val, y_val, weights)
        if self.validation_scores_ is None:
            self.validation_scores_ = []
        self.validation_scores_.append(score)
        self._report(f"Validation score: {score:f}")
        best = -np.inf if self.best_validation_score_ is None else self.best_validation_score_
        if score < best + self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if score > best:
            self.best_validation_score_ = score
            self._best_parameters = self.network_.parameters.copy()

    # ------------------------------------------------------------ predicting

    def _forward(self, X: Any) -> FloatArray:
        """The network's output for validated ``X``: ``(n_samples, n_outputs_)``."""
        check_is_fitted(self)
        X = _validated(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.network_.predict(X)

    # ----------------------------------------------------------------- saving

    def _params_json(self) -> dict[str, Any]:
        """The constructor parameters as JSON values."""
        params = self.get_params(deep=False)
        out: dict[str, Any] = {}
        for key, value in params.items():
            if key == "random_state":
                if isinstance(value, np.random.RandomState):
                    value = None  # its state is spent by fitting; a file keeps no generator
                out[key] = None if value is None else int(value)
            elif key == "optimizer":
                out[key] = None if value is None else self._component_json(value, OPTIMIZERS, "optimizer")
            elif key == "schedule":
                out[key] = (
                    value
                    if value is None or isinstance(value, str)
                    else self._component_json(value, SCHEDULES, "schedule")
                )
            elif key == "dtype":
                out[key] = None if value is None else as_float_dtype(value).name
            elif key == "class_weight":
                out[key] = value if value is None or isinstance(value, str) else [[k, w] for k, w in value.items()]
            elif key == "n_iter_no_change" and value == np.inf:
                out[key] = "inf"
            elif isinstance(value, np.ndarray):
                out[key] = value.tolist()
            else:
                out[key] = value
        return out

    @staticmethod
    def _component_json(value: Any, table: Mapping[str, type[Any]], what: str) -> dict[str, Any]:
        if table.get(value.name) is not type(value):
            raise BackpropTypeError(
                f"cannot save an estimator whose {what} is a {type(value).__name__}: only backprop's own "
                f"{what}s ({sorted(table)}) can be rebuilt from a file"
            )
        state = value.state_dict()
        return {"name": value.name, **{key: state[key] for key in value.hyper_parameters}}

    def _backprop_metadata(self) -> dict[str, Any]:
        """What :func:`backprop.save` stores with ``network_`` so that :func:`load` rebuilds the estimator."""
        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        document: dict[str, Any] = {
            "version": METADATA_VERSION,
            "estimator": type(self).__name__,
            "sklearn_version": sklearn.__version__,
            "params": self._params_json(),
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": None if names is None else [str(name) for name in names],
            "n_layers": int(self.n_layers_),
            "n_outputs": int(self.n_outputs_),
            "out_activation": self.out_activation_,
            "n_iter": int(self.n_iter_),
            "t": int(self.t_),
            "loss": _jsonable_float(self.loss_),
            "loss_curve": [_jsonable_float(v) for v in self.loss_curve_],
            "best_loss": _jsonable_float(self.best_loss_),
            "validation_scores": (
                None if self.validation_scores_ is None else [_jsonable_float(v) for v in self.validation_scores_]
            ),
            "best_validation_score": _jsonable_float(self.best_validation_score_),
        }
        document.update(self._labels_metadata())
        return {METADATA_KEY: document}

    def _labels_metadata(self) -> dict[str, Any]:
        return {}

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):  # type: ignore[misc]
    """Multi-layer perceptron classifier trained by backpropagation, a drop-in for scikit-learn's.

    Binary targets train one logistic output unit (``binary_crossentropy``),
    multi-class targets a softmax layer (``crossentropy``) and multi-label
    indicator matrices one logistic unit per label. Class labels may be any
    sortable values scikit-learn accepts: integers, strings, booleans, pandas
    categoricals.

    Parameters
    ----------
    hidden_layer_sizes : int or array-like of int, default (100,)
        The width of each hidden layer; ``()`` for none.
    activation : str or list of str, default "relu"
        The hidden layers' activation, one for all or one per hidden layer:
        ``"relu"``, ``"tanh"``, ``"logistic"`` (= ``"sigmoid"``),
        ``"identity"``, ``"leaky_relu"``, ``"elu"``, ``"softplus"``.
    solver : {"adam", "sgd", "adamw", "rmsprop", "adagrad"}, default "adam"
        The optimizer; ignored when ``optimizer`` is given. No ``"lbfgs"``.
    alpha : float, default 1e-4
        L2 penalty on the weights (not the biases), scaled as scikit-learn
        scales it: ``(alpha / 2) ‖W‖² / batch size``.
    batch_size : int or "auto", default "auto"
        Samples per step; ``"auto"`` is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        scikit-learn's rules for SGD: ``invscaling`` is
        ``learning_rate_init / (t + 1)^power_t`` after ``t`` samples,
        ``adaptive`` divides the rate by 5 whenever the stopping rule fires
        and stops below 1e-6. Used with SGD only.
    learning_rate_init : float, default 1e-3
        The initial learning rate (ignored when ``optimizer`` is given).
    power_t : float, default 0.5
        The exponent of ``invscaling``.
    max_iter : int, default 200
        The most epochs per ``fit``.
    shuffle : bool, default True
        Visit the samples in a new order every epoch.
    random_state : int, RandomState or None, default None
        Drives the initial weights, the validation split, the order of the
        samples and dropout.
    tol : float, default 1e-4
        An epoch improves when the training loss drops (or the validation
        score rises) by more than ``tol``.
    verbose : bool or int, default False
        Print the loss of every epoch, as scikit-learn does.
    warm_start : bool, default False
        ``fit`` continues from the fitted weights instead of starting anew.
    momentum : float, default 0.9
        SGD momentum, in [0, 1).
    nesterovs_momentum : bool, default True
        Nesterov momentum for SGD (with ``momentum > 0``).
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the data (stratified) and stop
        when the accuracy on it stops improving.
    validation_fraction : float, default 0.1
        The share held out for early stopping.
    beta_1, beta_2 : float, default 0.9, 0.999
        Adam's (and AdamW's) moment decay rates.
    epsilon : float, default 1e-8
        The ``ε`` of Adam, AdamW, RMSprop and Adagrad.
    n_iter_no_change : int or inf, default 10
        Stop after this many epochs in a row without improvement.
    dropout : float or list of float, default 0.0
        Dropout rate after each hidden layer (one for all or one per layer).
    optimizer : backprop Optimizer, optional
        An optimizer such as ``bp.AdamW(1e-3, weight_decay=0.05)`` whose
        hyper-parameters are used instead of ``solver``'s. The instance is a
        template: fitting steps a fresh copy.
    schedule : backprop Schedule or name, optional
        A learning-rate schedule (``bp.CosineDecay(epochs=50)``, ``"plateau"``);
        its epochs are counted across ``partial_fit`` calls.
    class_weight : dict, "balanced" or None, default None
        Weights per class label, multiplied into ``sample_weight``.
    restore_best_weights : bool, default True
        With early stopping, end with the weights of the epoch with the best
        validation score (scikit-learn always does); False keeps the last.
    dtype : {None, "float32", "float64"}, default None
        The network's precision. None follows the training data as
        scikit-learn does: float32 stays float32, anything else is float64.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (for multi-label targets, the label indices).
    coefs_ : list of ndarray of shape (n_in, n_out)
        The weights of each layer (live views of ``network_``).
    intercepts_ : list of ndarray of shape (n_out,)
        The biases of each layer.
    network_ : backprop.Network
        The trained network.
    n_layers_ : int
        Layers including the input and output layers.
    n_outputs_ : int
        Output units: 1 for two classes, else the number of classes or labels.
    out_activation_ : {"logistic", "softmax"}
    loss_ : float
        The training loss of the last epoch (L2 penalty included).
    loss_curve_ : list of float
        The training loss of every epoch.
    best_loss_ : float or None
        The lowest training loss (None with early stopping).
    validation_scores_ : list of float or None
        The validation accuracy of every epoch (early stopping only).
    best_validation_score_ : float or None
        The best of them.
    n_iter_ : int
        Epochs run by the last ``fit`` (1 after ``partial_fit``).
    t_ : int
        Training samples seen, over all calls.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` had string column names.

    Examples
    --------
    >>> from backprop.sklearn import MLPClassifier
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", learning_rate_init=0.05, random_state=0)
    >>> clf.fit([[0, 0], [0, 1], [1, 0], [1, 1]], ["no", "yes", "yes", "no"]).predict([[0, 1], [1, 1]])
    array(['yes', 'no'], dtype='<U3')
    """

    _estimator_kind = "classifier"

    classes_: NDArray[Any]

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str | Sequence[str] = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool | int = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int | float = 10,
        dropout: float | Sequence[float] = 0.0,
        optimizer: Optimizer | None = None,
        schedule: Schedule | str | None = None,
        class_weight: Mapping[Any, float] | str | None = None,
        restore_best_weights: bool = True,
        dtype: Any = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.optimizer = optimizer
        self.schedule = schedule
        self.class_weight = class_weight
        self.restore_best_weights = restore_best_weights
        self.dtype = dtype

    def _check_parameters(self) -> None:
        super()._check_parameters()
        weights = self.class_weight
        if not (weights is None or weights == "balanced" or isinstance(weights, Mapping)):
            raise ParameterError(
                f"class_weight must be None, 'balanced' or a dict from class label to weight, got {weights!r}"
            )

    # -------------------------------------------------------------- targets

    def _targets(self, y: Any, first: bool, incremental: bool, classes: Any) -> _Targets:
        name = type(self).__name__
        if np.ndim(y) == 2 and np.shape(y)[1] == 1:
            y = column_or_1d(y, warn=True)
        # scikit-learn casts float labels to int64 to see whether they are whole numbers: a label
        # beyond int64 (1e300) warns "invalid value encountered in cast" before being called continuous.
        with np.errstate(invalid="ignore", over="ignore"):
            check_classification_targets(y)
            kind = type_of_target(y, input_name="y")
        if kind not in ("binary", "multiclass", "multilabel-indicator"):
            raise ParameterError(
                f"{name} supports binary, multiclass and multilabel-indicator targets, got {kind} targets"
            )
        multilabel = kind == "multilabel-indicator"
        if first:
            labels = np.arange(y.shape[1]) if multilabel else unique_labels(y if classes is None else classes)
            if labels.shape[0] == 0:
                raise ParameterError(f"{name} needs at least 2 classes, got classes={shown(classes)}")
            if labels.shape[0] < 2:
                raise ParameterError(f"{name} needs samples of at least 2 classes, got 1 class: {shown(labels[0])}")
        else:
            labels = self.classes_
            if multilabel != self._multilabel:
                fitted = "multilabel-indicator" if self._multilabel else "single-label"
                raise ParameterError(f"y is {kind}, but {name} was fitted on {fitted} targets")
            if not incremental and not multilabel:
                seen = unique_labels(y)
                if seen.shape != labels.shape or not np.array_equal(seen, labels):
                    raise ParameterError(
                        "warm_start can only be used where `y` has the same classes as in the previous call to fit. "
                        f"Previously got {labels.tolist()}, `y` has {seen.tolist()}"
                    )
        fitted_state = {"classes_": labels, "_multilabel": multilabel}
        if multilabel:
            if y.shape[1] != labels.shape[0]:
                raise ShapeError(f"y has {y.shape[1]} labels, but {name} was fitted with {labels.shape[0]} labels")
            return _Targets(y, y, y.shape[1], "sigmoid", fitted_state)
        try:
            indices = np.minimum(np.searchsorted(labels, y), labels.shape[0] - 1)
            unknown = labels[indices] != y
        except TypeError:
            raise BackpropTypeError(
                f"y holds labels of another type than the classes {labels.tolist()}: {_short(y[:5].tolist())}"
            ) from None
        if unknown.any():
            raise ParameterError(
                f"y contains labels {unique_labels(y[unknown]).tolist()} that are not among the classes "
                f"{labels.tolist()}; pass every class in classes= on the first call to partial_fit"
            )
        if labels.shape[0] == 2:  # one logistic unit: the probability of classes_[1]
            return _Targets(y, indices[:, None], 1, "sigmoid", fitted_state)
        return _Targets(y, indices, labels.shape[0], "softmax", fitted_state)

    def _sample_weight(self, sample_weight: Any, y: Any, n: int, incremental: bool) -> FloatArray | None:
        weights = super()._sample_weight(sample_weight, y, n, incremental)
        if self.class_weight is not None:
            per_class = compute_sample_weight(self.class_weight, y)
            weights = check_sample_weight(
                per_class if weights is None else _product(weights, per_class), n, np.dtype(np.float64)
            )
        if weights is not None and not incremental and y.ndim == 1:
            # A batch of partial_fit may hold one class; a whole training set may not.
            kept = unique_labels(y[weights > 0])
            if kept.shape[0] < 2:
                raise ParameterError(
                    f"sample_weight leaves samples of only 1 class with a positive weight ({shown(kept[0])}); "
                    f"{type(self).__name__} needs at least 2 classes"
                )
        return weights

    # ----------------------------------------------------------------- API

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Train on ``(X, y)`` (a new network unless ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a multi-label indicator matrix of 0 and 1.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; the loss becomes the weighted mean.

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight, incremental=False)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None) -> MLPClassifier:
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        classes : array-like of shape (n_classes,), optional
            Every class label of the whole training set: required on the
            first call (a batch may not show them all), checked on later ones.
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        name = type(self).__name__
        fitted = self.__sklearn_is_fitted__()
        if not fitted and classes is None:
            raise ParameterError(f"classes must be passed on the first call to {name}.partial_fit")
        if fitted and classes is not None and not getattr(self, "_multilabel", False):
            given = unique_labels(classes)
            if given.shape != self.classes_.shape or not np.array_equal(given, self.classes_):
                raise ParameterError(
                    f"classes={given.tolist()} is not the same as on the first call to partial_fit, "
                    f"was {self.classes_.tolist()}"
                )
        self._fit(X, y, sample_weight, incremental=True, classes=classes)
        return self

    def predict(self, X: Any) -> NDArray[Any]:
        """The predicted class of every sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), or (n_samples, n_labels) of 0 and 1 for multi-label
        """
        return self._decode(self._forward(X))

    def _decode(self, output: FloatArray) -> NDArray[Any]:
        """Labels from the network's output: each label's unit above ½, the one unit above ½, or the largest."""
        if self._multilabel:
            return (output > 0.5).astype(self.classes_.dtype)
        if self.classes_.shape[0] == 2:
            return self.classes_[(output[:, 0] > 0.5).astype(np.intp)]
        labels: NDArray[Any] = self.classes_[output.argmax(axis=1)]
        return labels

    def predict_proba(self, X: Any) -> FloatArray:
        """Class probabilities, in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows summing to 1; for multi-label, each label's own probability.
            In the network's dtype.
        """
        output = self._forward(X)
        if not self._multilabel and self.classes_.shape[0] == 2:
            positive = output[:, 0]
            return np.column_stack([1.0 - positive, positive])
        return output

    def predict_log_proba(self, X: Any) -> FloatArray:
        """``log(predict_proba(X))``; ``-inf`` where a probability is 0.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        probabilities = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(probabilities)

    def _score_validation(self, X: FloatArray, y: Any, sample_weight: Any) -> float:
        predicted = self._decode(self.network_.predict(X))
        return float(accuracy_score(y, predicted, sample_weight=sample_weight))

    def _labels_metadata(self) -> dict[str, Any]:
        classes = self.classes_
        values = classes.tolist()
        for value in values:
            if not isinstance(value, str | int | float | bool) or (
                isinstance(value, float) and not math.isfinite(value)
            ):
                raise BackpropTypeError(
                    f"cannot save class label {value!r} of type {type(value).__name__}: a model file keeps "
                    "strings, integers, finite floats and booleans"
                )
        return {"classes": values, "classes_dtype": classes.dtype.str, "multilabel": bool(self._multilabel)}

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):  # type: ignore[misc]
    """Multi-layer perceptron regressor trained by backpropagation, a drop-in for scikit-learn's.

    An identity output layer with the squared error (backprop's ``mse``,
    ``½ Σ_k (ŷ_k − y_k)²`` per sample); several targets train one output
    unit each.

    Parameters
    ----------
    loss : "squared_error", default "squared_error"
        The only loss (scikit-learn's ``"poisson"`` has no counterpart here).
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, \
learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, \
warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction, \
beta_1, beta_2, epsilon, n_iter_no_change, dropout, optimizer, schedule, \
restore_best_weights, dtype
        As for :class:`MLPClassifier`; early stopping watches the R² score of
        the held-out samples (not stratified).

    Attributes
    ----------
    coefs_ : list of ndarray of shape (n_in, n_out)
    intercepts_ : list of ndarray of shape (n_out,)
    network_ : backprop.Network
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : "identity"
    loss_, loss_curve_, best_loss_, validation_scores_, best_validation_score_, n_iter_, t_
        As for :class:`MLPClassifier` (validation scores are R²).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    Examples
    --------
    >>> import numpy as np
    >>> from backprop.sklearn import MLPRegressor
    >>> X = np.linspace(-1, 1, 50)[:, None]
    >>> MLPRegressor(hidden_layer_sizes=(16,), max_iter=500, random_state=0).fit(X, X[:, 0] ** 2).predict(X).shape
    (50,)
    """

    def __init__(
        self,
        loss: str = "squared_error",
        hidden_layer_sizes: Any = (100,),
        activation: str | Sequence[str] = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool | int = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int | float = 10,
        dropout: float | Sequence[float] = 0.0,
        optimizer: Optimizer | None = None,
        schedule: Schedule | str | None = None,
        restore_best_weights: bool = True,
        dtype: Any = None,
    ) -> None:
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.optimizer = optimizer
        self.schedule = schedule
        self.restore_best_weights = restore_best_weights
        self.dtype = dtype

    def _check_parameters(self) -> None:
        super()._check_parameters()
        if self.loss != "squared_error":
            hint = "; backprop has no Poisson loss" if self.loss == "poisson" else ""
            raise ParameterError(f"loss must be 'squared_error', got loss={shown(self.loss)}{hint}")

    def _targets(self, y: Any, first: bool, incremental: bool, classes: Any) -> _Targets:
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return _Targets(y, y, 1 if y.ndim == 1 else y.shape[1], "identity", {})

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Train on ``(X, y)`` (a new network unless ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight, incremental=False)
        return self

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        self._fit(X, y, sample_weight, incremental=True)
        return self

    def predict(self, X: Any) -> FloatArray:
        """The predicted targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) for one output, else (n_samples, n_outputs)
            In the network's dtype.
        """
        output = self._forward(X)
        return output[:, 0] if output.shape[1] == 1 else output

    def _score_validation(self, X: FloatArray, y: Any, sample_weight: Any) -> float:
        output = self.network_.predict(X)
        predicted = (output[:, 0] if output.shape[1] == 1 else output).astype(np.float64)
        truth = np.asarray(y, dtype=np.float64)
        # R² is the same for y and ŷ scaled alike: scaled (exactly, by a power of two) to at most 1,
        # the squares in scikit-learn's r2_score cannot overflow for targets or outputs beyond 1e154.
        _, exponent = np.frexp(max(np.abs(truth).max(), np.abs(predicted).max()))
        scaled_truth, scaled_predicted = np.ldexp(truth, -exponent), np.ldexp(predicted, -exponent)
        return float(r2_score(scaled_truth, scaled_predicted, sample_weight=sample_weight))


# ---------------------------------------------------------------- model files

_ESTIMATORS: dict[str, type[_BaseMLP]] = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}
_DOCUMENT_FIELDS = {
    "version",
    "estimator",
    "sklearn_version",
    "params",
    "n_features_in",
    "feature_names_in",
    "n_layers",
    "n_outputs",
    "out_activation",
    "n_iter",
    "t",
    "loss",
    "loss_curve",
    "best_loss",
    "validation_scores",
    "best_validation_score",
}
_CLASSIFIER_FIELDS = {"classes", "classes_dtype", "multilabel"}


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Reader:
    """Typed access to the estimator's JSON document, raising ModelFileError that names the field."""

    def __init__(self, document: dict[str, Any], where: str) -> None:
        self.document = document
        self.where = where

    def fail(self, message: str) -> ModelFileError:
        return ModelFileError(f"{self.where}: the saved estimator's {message}")

    def get(self, key: str, check: Callable[[Any], bool], rule: str) -> Any:
        value = self.document[key]
        if not check(value):
            raise self.fail(f"{key!r} must be {rule}, got {_short(value)}")
        return value

    def count(self, key: str, low: int = 0) -> int:
        value: int = self.get(key, lambda v: _is_int(v) and v >= low, f"an integer >= {low}")
        return value

    def number(self, key: str, nullable: bool = True) -> float | None:
        value = self.get(key, lambda v: (nullable and v is None) or _is_float(v), "a number, 'nan', 'inf' or null")
        return None if value is None else float(value)

    def numbers(self, key: str, nullable: bool) -> list[float] | None:
        value = self.get(
            key,
            lambda v: (nullable and v is None) or (isinstance(v, list) and all(_is_float(x) for x in v)),
            "a list of numbers" + (" or null" if nullable else ""),
        )
        return None if value is None else [float(x) for x in value]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_float(value: Any) -> bool:
    if isinstance(value, str):
        return value in ("nan", "inf", "-inf")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        float(value)
    except OverflowError:  # a JSON integer beyond float64's range
        return False
    return True


def _decode_params(raw: Any, cls: type[_BaseMLP], reader: _Reader) -> dict[str, Any]:
    """The constructor parameters from their JSON form (see ``_BaseMLP._params_json``)."""
    expected = set(cls().get_params(deep=False))
    if not isinstance(raw, dict) or set(raw) != expected:
        got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise reader.fail(f"'params' must be an object with exactly the parameters {sorted(expected)}, got {got}")
    params = dict(raw)
    if isinstance(params["hidden_layer_sizes"], list):
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    if params["n_iter_no_change"] == "inf":
        params["n_iter_no_change"] = np.inf
    for key, table in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)):
        value = params[key]
        if isinstance(value, dict):
            kind_name = value.get("name")
            kind = table.get(kind_name) if isinstance(kind_name, str) else None
            if kind is None:
                raise reader.fail(f"{key} must name one of {sorted(table)}, got {_short(value)}")
            try:
                params[key] = kind(**{k: v for k, v in value.items() if k != "name"})
            except (TypeError, ValueError) as exc:
                raise reader.fail(f"{key} {_short(value)} is invalid: {exc}") from None
        elif value is not None and not (key == "schedule" and isinstance(value, str)):
            raise reader.fail(f"{key} must be null or an object, got {_short(value)}")
    if "class_weight" in params and isinstance(params["class_weight"], list):
        pairs = params["class_weight"]
        if not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str | int | float) and _is_float(p[1])
            for p in pairs
        ):
            raise reader.fail(f"class_weight must be a list of [label, weight] pairs, got {_short(pairs)}")
        params["class_weight"] = {label: weight for label, weight in pairs}
    return params


def _restore(net: Network, document: Any, where: str) -> _BaseMLP:
    """Rebuild the fitted estimator from the network and its metadata, checking every field."""
    if not isinstance(document, dict):
        raise ModelFileError(f"{where}: the saved estimator's metadata must be a JSON object, got {_short(document)}")
    reader = _Reader(document, where)
    version = document.get("version")
    if not (isinstance(version, int) and not isinstance(version, bool) and version >= 1):
        raise reader.fail(f"'version' must be a positive integer, got {_short(version)}")
    if version > METADATA_VERSION:
        raise ModelFileError(
            f"{where}: the estimator was saved by a newer backprop (estimator metadata version {version}); "
            f"this version reads version {METADATA_VERSION}: upgrade backprop"
        )
    name = document.get("estimator")
    cls = _ESTIMATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise reader.fail(f"'estimator' must be one of {sorted(_ESTIMATORS)}, got {_short(name)}")
    expected = _DOCUMENT_FIELDS | (_CLASSIFIER_FIELDS if cls is MLPClassifier else set())
    if set(document) != expected:
        missing, unknown = sorted(expected - set(document)), sorted(set(document) - expected)
        raise reader.fail(f"metadata has missing fields {missing} and unknown fields {unknown}")
    reader.get("sklearn_version", lambda v: isinstance(v, str), "a string")

    estimator = cls(**_decode_params(document["params"], cls, reader))
    try:
        estimator._check_parameters()
    except (TypeError, ValueError) as exc:
        raise reader.fail(f"parameters are invalid: {exc}") from None

    n_features = reader.count("n_features_in", 1)
    if n_features != net.n_inputs:
        raise reader.fail(f"n_features_in is {n_features}, but the network has {net.n_inputs} inputs")
    names = reader.get(
        "feature_names_in",
        lambda v: v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v)),
        "null or a list of strings",
    )
    if names is not None and len(names) != n_features:
        raise reader.fail(f"feature_names_in has {len(names)} names for {n_features} features")
    n_outputs = reader.count("n_outputs", 1)
    if n_outputs != net.n_outputs:
        raise reader.fail(f"n_outputs is {n_outputs}, but the network has {net.n_outputs} outputs")
    out_activation = reader.get(
        "out_activation", lambda v: v in _OUT_NAMES.values(), f"one of {sorted(_OUT_NAMES.values())}"
    )
    activation = next(key for key, value in _OUT_NAMES.items() if value == out_activation)
    try:
        layers = [layer.config() for layer in estimator._layers(n_outputs, activation)]
    except (TypeError, ValueError) as exc:
        raise reader.fail(f"parameters do not describe a network: {exc}") from None
    if layers != net.config()["layers"]:
        raise reader.fail(
            f"parameters describe the layers {_short(layers, 200)}, but the file's network has "
            f"{_short(net.config()['layers'], 200)}"
        )
    n_layers = reader.count("n_layers", 2)
    if n_layers != len(estimator._hidden_sizes()) + 2:
        raise reader.fail(f"n_layers is {n_layers}, but the network has {len(estimator._hidden_sizes()) + 2}")

    if isinstance(estimator, MLPClassifier):
        _restore_classes(estimator, reader, n_outputs, out_activation)
    elif out_activation != "identity":
        raise reader.fail(f"out_activation must be 'identity' for a regressor, got {out_activation!r}")

    estimator.network_ = net
    estimator.n_features_in_ = n_features
    if names is not None:
        estimator.feature_names_in_ = np.asarray(names, dtype=object)
    estimator.n_layers_ = n_layers
    estimator.n_outputs_ = n_outputs
    estimator.out_activation_ = out_activation
    estimator.n_iter_ = reader.count("n_iter")
    estimator.t_ = reader.count("t")
    estimator.loss_ = reader.number("loss")
    estimator.loss_curve_ = reader.numbers("loss_curve", nullable=False) or []
    estimator.best_loss_ = reader.number("best_loss")
    estimator.validation_scores_ = reader.numbers("validation_scores", nullable=True)
    estimator.best_validation_score_ = reader.number("best_validation_score")
    estimator._no_improvement_count = 0
    if estimator.validation_scores_ is not None:
        if estimator.best_validation_score_ is None:
            raise reader.fail("best_validation_score must be a number when there are validation scores")
        estimator._best_parameters = net.parameters.copy()
    elif estimator.best_loss_ is None:
        estimator.best_loss_ = np.inf
    return estimator


def _restore_classes(estimator: MLPClassifier, reader: _Reader, n_outputs: int, out_activation: str) -> None:
    values = reader.get(
        "classes",
        lambda v: isinstance(v, list) and len(v) >= 2 and all(isinstance(x, str | int | float) for x in v),
        "a list of at least 2 labels (strings, numbers or booleans)",
    )
    dtype_name = reader.get("classes_dtype", lambda v: isinstance(v, str), "a numpy dtype string")
    try:
        dtype = np.dtype(dtype_name)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biufUO":
        raise reader.fail(
            f"'classes_dtype' must be a numpy dtype of labels (bool, int, float, str), got {dtype_name!r}"
        )
    try:
        classes = np.array(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        classes = None
    if classes is None or classes.ndim != 1 or classes.tolist() != values:
        raise reader.fail(f"classes {_short(values)} do not fit the dtype {dtype_name!r}")
    multilabel = reader.get("multilabel", lambda v: isinstance(v, bool), "true or false")
    if multilabel:
        expected_outputs, expected_activation = len(values), "logistic"
        if values != list(range(len(values))):
            raise reader.fail(f"multi-label classes must be 0 .. n_labels - 1, got {_short(values)}")
    elif len(values) == 2:
        expected_outputs, expected_activation = 1, "logistic"
    else:
        expected_outputs, expected_activation = len(values), "softmax"
    if (n_outputs, out_activation) != (expected_outputs, expected_activation):
        raise reader.fail(
            f"{len(values)} {'labels' if multilabel else 'classes'} need {expected_outputs} {expected_activation} "
            f"outputs, but the network has {n_outputs} {out_activation} outputs"
        )
    try:
        unique = unique_labels(classes)
    except (TypeError, ValueError) as exc:
        raise reader.fail(f"classes {_short(values)} are not valid labels: {exc}") from None
    if unique.shape != classes.shape or not np.array_equal(unique, classes):
        raise reader.fail(f"classes must be distinct and sorted, got {_short(values)}")
    estimator.classes_ = classes
    estimator._multilabel = multilabel


def load(path: str | os.PathLike[str]) -> MLPClassifier | MLPRegressor:
    """Read a fitted estimator saved with :func:`backprop.save`.

    The file is an ordinary model file (:func:`backprop.load` reads its
    network); the estimator's parameters, class labels, feature names and
    training record live in its JSON metadata, each field checked here.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    MLPClassifier or MLPRegressor
        Fitted, predicting exactly as the saved one did. ``partial_fit`` and
        ``warm_start`` continue from its weights with a fresh optimizer state
        (a model file keeps no optimizer state).

    Raises
    ------
    ModelFileError
        If the file is not a valid model file, holds a network saved without
        an estimator, or its estimator metadata is wrong in any field.
    """
    where = os.fspath(path)
    net, metadata = _io.load_with_metadata(path)
    if METADATA_KEY not in metadata:
        raise ModelFileError(
            f"{where}: the file holds a backprop network but no scikit-learn estimator; load it with backprop.load"
        )
    return cast(MLPClassifier | MLPRegressor, _restore(net, metadata[METADATA_KEY], where))


__all__ = ["HIDDEN_ACTIVATIONS", "SOLVERS", "MLPClassifier", "MLPRegressor", "load"]


def _register_with_skl2onnx() -> None:
    """Let ``skl2onnx.to_onnx`` convert these estimators (and pipelines holding them), when installed."""
    import importlib.util

    if importlib.util.find_spec("skl2onnx") is None:
        return
    from .onnx import register_skl2onnx

    register_skl2onnx(MLPClassifier, MLPRegressor)


_register_with_skl2onnx()
