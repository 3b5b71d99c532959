"""The scikit-learn classifier over backprop's core: :class:`MLPClassifier`.

Binary, multi-class and multi-label targets, class weights, and the
probabilities of ``predict_proba``. Imports :class:`~backprop.sklearn._base.BaseMLP`
and scikit-learn; never ONNX (the skl2onnx converter is
:mod:`backprop.onnx.skl2onnx`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import ClassifierMixin  # type: ignore[import-untyped]
from sklearn.metrics import accuracy_score  # type: ignore[import-untyped]
from sklearn.utils import column_or_1d  # type: ignore[import-untyped]
from sklearn.utils.class_weight import compute_sample_weight  # type: ignore[import-untyped]
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels  # type: ignore[import-untyped]

from .._validation import FloatArray, check_sample_weight, shown, shown_briefly
from ..errors import BackpropTypeError, ParameterError, ShapeError
from ..optimizers import Optimizer
from ..schedules import Schedule
from ._base import BaseMLP
from ._shared import Targets, weight_product


class MLPClassifier(ClassifierMixin, BaseMLP):  # type: ignore[misc]
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

    def _targets(self, y: Any, first: bool, incremental: bool, classes: Any) -> Targets:
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
            return Targets(y, y, y.shape[1], "sigmoid", fitted_state)
        try:
            indices = np.minimum(np.searchsorted(labels, y), labels.shape[0] - 1)
            unknown = labels[indices] != y
        except TypeError:
            raise BackpropTypeError(
                f"y holds labels of another type than the classes {labels.tolist()}: {shown_briefly(y[:5].tolist())}"
            ) from None
        if unknown.any():
            raise ParameterError(
                f"y contains labels {unique_labels(y[unknown]).tolist()} that are not among the classes "
                f"{labels.tolist()}; pass every class in classes= on the first call to partial_fit"
            )
        if labels.shape[0] == 2:  # one logistic unit: the probability of classes_[1]
            return Targets(y, indices[:, None], 1, "sigmoid", fitted_state)
        return Targets(y, indices, labels.shape[0], "softmax", fitted_state)

    def _sample_weight(self, sample_weight: Any, y: Any, n: int, incremental: bool) -> FloatArray | None:
        weights = super()._sample_weight(sample_weight, y, n, incremental)
        if self.class_weight is not None:
            per_class = compute_sample_weight(self.class_weight, y)
            weights = check_sample_weight(
                per_class if weights is None else weight_product(weights, per_class), n, np.dtype(np.float64)
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
