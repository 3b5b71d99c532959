"""The scikit-learn regressor over backprop's core: :class:`MLPRegressor`.

An identity output layer trained on the squared error. Imports
:class:`~backprop.sklearn._base.BaseMLP` and scikit-learn; never ONNX.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import RegressorMixin  # type: ignore[import-untyped]
from sklearn.metrics import r2_score  # type: ignore[import-untyped]
from sklearn.utils import column_or_1d  # type: ignore[import-untyped]

from .._validation import FloatArray, shown
from ..errors import ParameterError
from ..optimizers import Optimizer
from ..schedules import Schedule
from ._base import BaseMLP
from ._shared import Targets


class MLPRegressor(RegressorMixin, BaseMLP):  # type: ignore[misc]
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

    def _targets(self, y: Any, first: bool, incremental: bool, classes: Any) -> Targets:
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return Targets(y, y, 1 if y.ndim == 1 else y.shape[1], "identity", {})

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
