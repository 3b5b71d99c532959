"""The machinery the classifier and the regressor share: :class:`BaseMLP`.

Parameter validation (scikit-learn checks parameters in ``fit``, not in
``__init__``), the network the parameters describe, one training run as one
:meth:`backprop.Network.fit` call with scikit-learn's stopping rules as a
callback, the fitted attributes as views of the network, and the metadata
:func:`backprop.save` stores. Imports the core, scikit-learn and
:mod:`backprop.sklearn._shared`.
"""

from __future__ import annotations

import numbers
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import sklearn  # type: ignore[import-untyped]
from numpy.typing import NDArray
from sklearn.base import BaseEstimator  # type: ignore[import-untyped]
from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
from sklearn.utils import check_random_state  # type: ignore[import-untyped]
from sklearn.utils.validation import check_is_fitted  # type: ignore[import-untyped]

from .._validation import (
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
from ..errors import BackpropTypeError, DataError, ParameterError, ShapeError
from ..layers import Dense, Dropout, Layer
from ..network import Network
from ..optimizers import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from ..schedules import SCHEDULES, get_schedule
from ._shared import (
    ALIASES,
    HIDDEN_ACTIVATIONS,
    LEARNING_RATES,
    LOSSES,
    METADATA_KEY,
    METADATA_VERSION,
    OUT_NAMES,
    SOLVERS,
    EpochEnd,
    LearningRate,
    Targets,
    fresh_optimizer,
    fresh_schedule,
    jsonable_float,
    validated,
)


class BaseMLP(BaseEstimator):  # type: ignore[misc]
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
            names.append(ALIASES.get(entry, entry))
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

    def _targets(self, y: Any, first: bool, incremental: bool, classes: Any) -> Targets:
        raise NotImplementedError

    def _score_validation(self, X: FloatArray, y: Any, sample_weight: Any) -> float:
        raise NotImplementedError

    def _sample_weight(self, sample_weight: Any, y: Any, n: int, incremental: bool) -> FloatArray | None:
        if sample_weight is None:
            return None
        return check_sample_weight(np.asarray(sample_weight), n, np.dtype(np.float64))

    def _new_optimizer(self) -> Optimizer:
        if self.optimizer is not None:
            return fresh_optimizer(self.optimizer)
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

    def _fit(self, X: Any, y: Any, sample_weight: Any, incremental: bool, classes: Any = None) -> BaseMLP:
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
        X, y = validated(
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
            self.out_activation_ = OUT_NAMES[out_activation]
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
            inner = None if self.schedule is None else fresh_schedule(self.schedule)
            self._lr_schedule = LearningRate(rule, float(self.power_t), inner)

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
                loss=LOSSES[out_activation],
                optimizer=self._optimizer,
                epochs=1 if incremental else int(self.max_iter),
                batch_size=batch_size,
                shuffle=bool(self.shuffle),
                validation=None if validation is None else (validation[0], validation[3]),
                sample_weight=weights,
                l2=l2,
                schedule=self._lr_schedule,
                callbacks=[EpochEnd(after_epoch)],
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
        X = validated(self, X, reset=False, dtype=[np.float64, np.float32])
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

    def __backprop_save__(self) -> tuple[Network, dict[str, Any]]:
        """The network and the metadata :func:`backprop.save` stores (the not-fitted error first)."""
        metadata = self._backprop_metadata()
        return self.network_, metadata

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
            "loss": jsonable_float(self.loss_),
            "loss_curve": [jsonable_float(v) for v in self.loss_curve_],
            "best_loss": jsonable_float(self.best_loss_),
            "validation_scores": (
                None if self.validation_scores_ is None else [jsonable_float(v) for v in self.validation_scores_]
            ),
            "best_validation_score": jsonable_float(self.best_validation_score_),
        }
        document.update(self._labels_metadata())
        return {METADATA_KEY: document}

    def _labels_metadata(self) -> dict[str, Any]:
        return {}

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
