"""backprop.sklearn: scikit-learn's own estimator checks, step-for-step agreement
with scikit-learn's MLPs, the ecosystem (pipelines, searches, pandas), bad
input, and saving fitted estimators."""

from __future__ import annotations

import importlib
import io
import json
import pickle
import struct
import sys
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sklearn")

import sklearn.neural_network as sknn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import backprop as bp
from backprop.errors import ModelFileError
from backprop.sklearn import MLPClassifier, MLPRegressor, load

# Small networks, few epochs, a learning rate that gets there in time: the whole
# suite of checks fits in a couple of seconds.
CHECKED = [
    MLPClassifier(hidden_layer_sizes=(8,), max_iter=100, learning_rate_init=0.01, random_state=0),
    MLPRegressor(hidden_layer_sizes=(8,), max_iter=100, learning_rate_init=0.01, random_state=0),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(CHECKED, expected_failed_checks=lambda estimator: {})
def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


def classification(n: int = 120, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(
        n_samples=n, n_features=6, n_informative=4, n_redundant=0, n_classes=classes, random_state=seed
    )
    return StandardScaler().fit_transform(X), y


def regression(n: int = 120, outputs: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_regression(n_samples=n, n_features=5, n_targets=outputs, noise=0.1, random_state=seed)
    return StandardScaler().fit_transform(X), y / y.std(axis=0)


def small(cls: type, **params: Any) -> Any:
    settings: dict[str, Any] = {
        "hidden_layer_sizes": (8,),
        "max_iter": 60,
        "learning_rate_init": 0.02,
        "random_state": 0,
    }
    settings.update(params)
    return cls(**settings)


quiet = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ------------------------------------------------------ one step, as scikit-learn takes it


def one_sgd_step(ours: Any, theirs: Any, X: np.ndarray, y: np.ndarray, **fit: Any) -> None:
    """Give both estimators the same weights, then one full-batch SGD step each."""
    first = {"classes": fit["classes"]} if "classes" in fit else {}
    weights = {k: v for k, v in fit.items() if k != "classes"}
    ours.partial_fit(X, y, **first, **weights)
    theirs.partial_fit(X, y, **first, **weights)
    rng = np.random.default_rng(1)
    for coef in theirs.coefs_:
        coef[...] = rng.normal(scale=0.7, size=coef.shape)
    for intercept in theirs.intercepts_:
        intercept[...] = rng.normal(scale=0.3, size=intercept.shape)
    ours.coefs_ = theirs.coefs_
    ours.intercepts_ = theirs.intercepts_
    before = [w.copy() for w in theirs.coefs_ + theirs.intercepts_]
    ours.partial_fit(X, y, **weights)
    theirs.partial_fit(X, y, **weights)
    for mine, other, start in zip(
        ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, before, strict=True
    ):
        assert mine.dtype == np.float64
        assert np.abs(other - start).max() > 1e-3  # a real step, not a no-op
        assert_allclose(mine - start, other - start, rtol=1e-10, atol=1e-14)


SGD = {"solver": "sgd", "momentum": 0.0, "learning_rate_init": 0.5, "shuffle": False, "alpha": 0.0}


@pytest.mark.parametrize("n_classes", [2, 3])
def test_one_sgd_step_equals_sklearn_classifier(n_classes: int) -> None:
    X, y = classification(40, n_classes)
    params = {**SGD, "hidden_layer_sizes": (5, 4), "activation": "tanh", "batch_size": 40}
    ours, theirs = MLPClassifier(**params), sknn.MLPClassifier(**params)
    one_sgd_step(ours, theirs, X, y, classes=np.unique(y))
    # The loss before the step: scikit-learn's log_loss is backprop's crossentropy.
    assert_allclose(ours.loss_, theirs.loss_, rtol=1e-12)


def test_one_sgd_step_equals_sklearn_multilabel_and_penalty() -> None:
    X, Y = make_multilabel_classification(n_samples=30, n_features=4, n_classes=3, random_state=0)
    params = {**SGD, "alpha": 0.3, "hidden_layer_sizes": (6,), "activation": "logistic", "batch_size": 30}
    ours, theirs = MLPClassifier(**params), sknn.MLPClassifier(**params)
    one_sgd_step(ours, theirs, X.astype(float), Y, classes=np.arange(3))
    assert_allclose(ours.loss_, theirs.loss_, rtol=1e-12)


@pytest.mark.parametrize("outputs", [1, 3])
def test_one_sgd_step_equals_sklearn_regressor(outputs: int) -> None:
    X, y = regression(30, outputs)
    params = {**SGD, "learning_rate_init": 0.1, "hidden_layer_sizes": (7,), "activation": "relu", "batch_size": 30}
    ours, theirs = MLPRegressor(**params), sknn.MLPRegressor(**params)
    one_sgd_step(ours, theirs, X, y)
    # scikit-learn reports ½·mean over samples *and* outputs; backprop's mse is ½ Σ_k, mean over samples.
    assert_allclose(ours.loss_, theirs.loss_ * outputs, rtol=1e-12)


def test_one_sgd_step_equals_sklearn_with_sample_weight_and_alpha() -> None:
    # scikit-learn's penalty is (alpha/2)‖W‖²/Σw per batch: alpha maps to l2 = alpha/(batch · mean weight).
    X, y = classification(30, 2)
    weights = np.random.default_rng(0).uniform(0.0, 3.0, size=30)
    params = {**SGD, "alpha": 0.5, "hidden_layer_sizes": (4,), "batch_size": 30}
    ours, theirs = MLPClassifier(**params), sknn.MLPClassifier(**params)
    one_sgd_step(ours, theirs, X, y, classes=[0, 1], sample_weight=weights)


def test_sgd_with_nesterov_momentum_and_the_stopping_rule_follow_sklearn() -> None:
    # torch-style momentum (backprop) and scikit-learn's velocity form take the same steps at a constant
    # rate, so the loss curves agree and the tol / n_iter_no_change rule stops both after the same epoch.
    X, y = regression(24)
    params = {"solver": "sgd", "momentum": 0.9, "learning_rate_init": 0.05, "shuffle": False, "batch_size": 24}
    ours, theirs = MLPRegressor(hidden_layer_sizes=(5,), **params), sknn.MLPRegressor(hidden_layer_sizes=(5,), **params)
    ours.partial_fit(X, y)
    theirs.partial_fit(X, y)
    ours.coefs_, ours.intercepts_ = theirs.coefs_, theirs.intercepts_
    ours.best_loss_ = theirs.best_loss_  # the stopping rule's memory of the first epoch
    # A warm-started fit keeps the weights and starts a new optimizer (no velocity yet) in both.
    ours.set_params(warm_start=True, max_iter=300, tol=1e-3, n_iter_no_change=3).fit(X, y)
    theirs.set_params(warm_start=True, max_iter=300, tol=1e-3, n_iter_no_change=3).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ < 300
    assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-10)  # [0]: before the weights were set
    for mine, other in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True):
        assert_allclose(mine, other, rtol=1e-10, atol=1e-13)


def test_one_step_by_hand() -> None:
    # 2 inputs, 2 tanh hidden units, 1 logistic output, 2 samples, η = 1:
    #   h = tanh(X W1 + b1), ŷ = σ(h W2 + b2)
    #   output error term   δᵒ = y − ŷ                          (logistic + log-loss: fused)
    #   hidden error term   δʰ = (δᵒ W2ᵀ) ⊙ (1 − h²)
    #   weight updates      ΔW2 = η hᵀ δᵒ / n, ΔW1 = η Xᵀ δʰ / n, Δb = η Σ δ / n
    X = np.array([[0.5, -1.0], [1.5, 0.25]])
    y = np.array([1, 0])
    W1, b1 = np.array([[0.1, -0.2], [0.3, 0.4]]), np.array([0.05, -0.05])
    W2, b2 = np.array([[0.6], [-0.7]]), np.array([0.1])
    h = np.tanh(X @ W1 + b1)
    y_hat = 1 / (1 + np.exp(-(h @ W2 + b2)))
    output_error = y[:, None] - y_hat
    hidden_error = (output_error @ W2.T) * (1 - h**2)
    expected = [W1 + X.T @ hidden_error / 2, W2 + h.T @ output_error / 2]
    expected_b = [b1 + hidden_error.sum(0) / 2, b2 + output_error.sum(0) / 2]

    clf = MLPClassifier((2,), "tanh", solver="sgd", momentum=0.0, learning_rate_init=1.0, alpha=0.0, shuffle=False)
    clf.partial_fit(X, y, classes=[0, 1])
    clf.coefs_, clf.intercepts_ = [W1, W2], [b1, b2]
    clf.partial_fit(X, y)
    for got, want in zip(clf.coefs_ + clf.intercepts_, expected + expected_b, strict=True):
        assert_allclose(got, want, rtol=1e-12)


# --------------------------------------------------------------------- behaviour


@quiet
def test_partial_fit_keeps_the_optimizer_state() -> None:
    # Full batches, no shuffling: two partial_fit epochs are the first two epochs of fit (Adam's moments carry over).
    X, y = classification(50)
    params = {
        "hidden_layer_sizes": (6,),
        "batch_size": 50,
        "shuffle": False,
        "random_state": 3,
        "learning_rate_init": 0.05,
    }
    incremental = MLPClassifier(**params)
    incremental.partial_fit(X, y, classes=[0, 1, 2])
    optimizer = incremental._optimizer
    incremental.partial_fit(X, y)
    assert incremental._optimizer is optimizer and optimizer.steps == 2
    whole = MLPClassifier(**params, max_iter=2).fit(X, y)
    for a, b in zip(incremental.coefs_ + incremental.intercepts_, whole.coefs_ + whole.intercepts_, strict=True):
        assert_allclose(a, b, rtol=1e-12)
    assert incremental.n_iter_ == 1 and incremental.t_ == 100 and len(incremental.loss_curve_) == 2


def test_fit_stops_like_sklearn_and_warns_at_max_iter() -> None:
    X, y = classification(80)
    clf = small(MLPClassifier, max_iter=500, tol=1e-3, n_iter_no_change=3)
    clf.fit(X, y)
    assert clf.n_iter_ < 500 and clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        small(MLPClassifier, max_iter=3).fit(X, y)


def test_early_stopping_scores_validation_and_restores_the_best_weights() -> None:
    X, y = regression(150)
    reg = small(MLPRegressor, max_iter=300, early_stopping=True, n_iter_no_change=5)
    reg.fit(X, y)
    assert reg.best_loss_ is None
    assert len(reg.validation_scores_) == reg.n_iter_ < 300
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    # The kept weights are the best epoch's: scoring the same held-out rows gives the best score.
    # (The estimator draws two seeds from random_state, for the weights and partial_fit, then splits.)
    rng = np.random.RandomState(0)
    rng.randint(0, 2**31 - 1, size=2)
    _, held = train_test_split(np.arange(150), random_state=rng, test_size=0.1)
    assert reg.score(X[held], y[held]) == pytest.approx(reg.best_validation_score_, rel=1e-12)


@quiet
def test_learning_rate_rules_for_sgd() -> None:
    X, y = regression(60)
    adaptive = small(MLPRegressor, solver="sgd", learning_rate="adaptive", n_iter_no_change=1, tol=10.0, max_iter=100)
    adaptive.fit(X, y)
    # Each time the loss fails to improve by tol the rate is divided by 5, until below 1e-6.
    assert adaptive._lr_schedule.adaptive_lr <= 1e-6 < adaptive._lr_schedule.adaptive_lr * 5
    scaling = small(MLPRegressor, solver="sgd", learning_rate="invscaling", power_t=0.5, max_iter=3)
    scaling.fit(X, y)
    assert scaling._optimizer.lr == pytest.approx(0.02 / (2 * 60 + 1) ** 0.5)


@quiet
def test_backprop_extras() -> None:
    X, y = classification(60)
    clf = small(
        MLPClassifier,
        hidden_layer_sizes=(8, 6),
        activation=["tanh", "elu"],
        dropout=[0.1, 0.0],
        optimizer=bp.AdamW(0.01, weight_decay=0.01),
        schedule=bp.CosineDecay(epochs=20),
        class_weight="balanced",
        max_iter=20,
    )
    clf.fit(X, y)
    assert repr(clf.network_) == (
        "Network([Dense(8, activation='tanh'), Dropout(0.1), Dense(6, activation='elu'), "
        "Dense(3, activation='softmax')], inputs=6, dtype=float64)"
    )
    assert clf.optimizer.steps == 0  # the parameter is a template; a copy was stepped
    assert isinstance(clf._optimizer, bp.AdamW) and clf._optimizer.steps == 20
    for solver in ["sgd", "adam", "adamw", "rmsprop", "adagrad"]:
        small(MLPClassifier, solver=solver, max_iter=2).fit(X, y)
    assert small(MLPRegressor, hidden_layer_sizes=(), max_iter=5).fit(X, y).n_layers_ == 2


@quiet
def test_dtype_float32_is_kept_and_float64_follows_the_input() -> None:
    X, y = regression(40)
    reg = small(MLPRegressor, max_iter=5).fit(X.astype(np.float32), y)
    assert reg.network_.dtype == np.float32 and reg.predict(X).dtype == np.float32
    assert reg.coefs_[0].dtype == np.float32
    assert small(MLPRegressor, max_iter=5).fit(X, y).predict(X).dtype == np.float64
    assert small(MLPRegressor, max_iter=5, dtype="float32").fit(X, y).predict(X).dtype == np.float32
    assert small(MLPRegressor, max_iter=5, dtype=np.float64).fit(X.astype(np.float32), y).network_.dtype == np.float64


@quiet
def test_multilabel_and_multioutput() -> None:
    X, Y = make_multilabel_classification(n_samples=80, n_features=5, n_classes=4, random_state=0)
    clf = small(MLPClassifier, max_iter=200).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 4
    assert_array_equal(clf.classes_, np.arange(4))
    assert clf.predict(X).shape == (80, 4) and set(np.unique(clf.predict(X))) <= {0, 1}
    assert clf.predict_proba(X).shape == (80, 4) and clf.score(X, Y) > 0.3
    X, Y = regression(80, outputs=3)
    reg = small(MLPRegressor, max_iter=200).fit(X, Y)
    assert reg.predict(X).shape == (80, 3) and reg.n_outputs_ == 3 and reg.score(X, Y) > 0.8


@quiet
def test_string_and_categorical_labels() -> None:
    pd = pytest.importorskip("pandas")
    X, y = classification(90)
    names = np.array(["cat", "dog", "emu"])[y]
    clf = small(MLPClassifier).fit(X, names)
    assert_array_equal(clf.classes_, ["cat", "dog", "emu"])
    assert set(clf.predict(X)) <= {"cat", "dog", "emu"} and clf.score(X, names) > 0.8
    categorical = pd.Series(pd.Categorical(names))
    clf2 = small(MLPClassifier).fit(X, categorical)
    assert_array_equal(clf2.predict(X), clf.predict(X))
    binary = small(MLPClassifier).fit(X, np.where(y == 0, "yes", "no"))
    assert binary.n_outputs_ == 1 and binary.out_activation_ == "logistic"
    proba = binary.predict_proba(X)
    assert proba.shape == (90, 2)
    assert_array_equal(binary.predict(X), binary.classes_[proba.argmax(axis=1)])
    with np.errstate(divide="ignore"):
        assert_allclose(binary.predict_log_proba(X), np.log(proba))


# --------------------------------------------------------------------- ecosystem


@quiet
def test_pipeline_grid_search_cross_val_and_clone() -> None:
    X, y = classification(120)
    X = X * 50 + 10  # needs the scaler
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", small(MLPClassifier))])
    assert pipe.fit(X, y).score(X, y) > 0.8
    search = GridSearchCV(pipe, {"mlp__hidden_layer_sizes": [(4,), (8,)], "mlp__alpha": [1e-4, 1e-2]}, cv=3, n_jobs=2)
    search.fit(X, y)
    assert search.best_score_ > 0.6 and set(search.best_params_) == {"mlp__hidden_layer_sizes", "mlp__alpha"}
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.5
    fitted = pipe.named_steps["mlp"]
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params() and not hasattr(copy, "network_")


@quiet
def test_pandas_feature_names() -> None:
    pd = pytest.importorskip("pandas")
    X, y = regression(50)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d", "e"])
    reg = small(MLPRegressor, max_iter=5).fit(frame, pd.Series(y))
    assert_array_equal(reg.feature_names_in_, ["a", "b", "c", "d", "e"])
    assert_allclose(reg.predict(frame), reg.network_.predict(X)[:, 0])
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        reg.predict(X)
    with pytest.raises(ValueError, match="The feature names should match those that were passed during fit"):
        reg.predict(frame.rename(columns={"a": "z"}))


@quiet
def test_pickle_then_partial_fit_trains_the_network_predict_reads() -> None:
    # Pickling copies W and b apart from the flat buffer; the estimator binds them again.
    X, y = regression(40)
    reg = small(MLPRegressor, max_iter=5).fit(X, y)
    copy = pickle.loads(pickle.dumps(reg))
    assert_array_equal(copy.predict(X), reg.predict(X))
    before = copy.predict(X)
    copy.partial_fit(X, y)
    assert not np.array_equal(copy.predict(X), before)
    assert np.shares_memory(copy.coefs_[0], copy.network_.parameters)


def test_verbose_prints_like_sklearn() -> None:
    X, y = classification(40)
    out = io.StringIO()
    with redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        small(MLPClassifier, max_iter=2, verbose=True).fit(X, y)
    assert out.getvalue().startswith("Iteration 1, loss = ")
    out = io.StringIO()
    with redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        small(MLPClassifier, max_iter=2).fit(X, y)
    assert out.getvalue() == ""


# --------------------------------------------------------------------- bad input


def test_predict_before_fit(tmp_path: Path) -> None:
    for estimator in (MLPClassifier(), MLPRegressor()):
        with pytest.raises(NotFittedError, match="is not fitted yet"):
            estimator.predict([[1.0, 2.0]])
    with pytest.raises(NotFittedError):
        MLPClassifier().predict_proba([[1.0]])
    with pytest.raises(NotFittedError):
        bp.save(MLPClassifier(), tmp_path / "never-written.safetensors")
    assert not list(tmp_path.iterdir())


@quiet
def test_wrong_feature_count_names_both_counts() -> None:
    X, y = classification(40)
    clf = small(MLPClassifier, max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features, but MLPClassifier is expecting 6 features as input"):
        clf.predict(X[:, :5])
    with pytest.raises(ValueError, match="X has 7 features, but MLPClassifier is expecting 6 features as input"):
        clf.partial_fit(np.hstack([X, X[:, :1]]), y)
    reg = small(MLPRegressor, max_iter=2).partial_fit(X, y.astype(float))
    with pytest.raises(ValueError, match="X has 4 features, but MLPRegressor is expecting 6 features as input"):
        reg.partial_fit(X[:, :4], y.astype(float))


def test_partial_fit_needs_classes_first() -> None:
    X, y = classification(30)
    with pytest.raises(ValueError, match=r"classes must be passed on the first call to MLPClassifier\.partial_fit"):
        MLPClassifier().partial_fit(X, y)
    clf = small(MLPClassifier).partial_fit(X[:5], y[:5], classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"classes=\[0, 1\] is not the same as on the first call"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"y contains labels \[7\] that are not among the classes \[0, 1, 2\]"):
        clf.partial_fit(X[:2], [0, 7])
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        small(MLPRegressor, early_stopping=True).partial_fit(X, y.astype(float))


def test_single_class_nan_and_zero_weights() -> None:
    X, y = classification(30)
    with pytest.raises(ValueError, match="MLPClassifier needs samples of at least 2 classes, got 1 class: 'a'"):
        MLPClassifier().fit(X, ["a"] * 30)
    with pytest.raises(ValueError, match=r"sample_weight leaves samples of only 1 class with a positive weight \(1\)"):
        MLPClassifier().fit(X, y, sample_weight=(y == 1).astype(float))
    with pytest.raises(ValueError, match="sample_weight must have a positive sum, got all zeros"):
        MLPRegressor().fit(X, y.astype(float), sample_weight=np.zeros(30))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(30,\)"):
        MLPRegressor().fit(X, y.astype(float), sample_weight=np.ones(29))
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        MLPClassifier().fit(bad, y)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        MLPClassifier().fit(X, X[:, 0])
    assert not hasattr(MLPClassifier(), "network_")


def test_bad_parameters_name_the_parameter() -> None:
    X, y = classification(20)
    cases = [
        ({"solver": "lbfgs"}, "solver must be one of .* got solver='lbfgs'; backprop has no L-BFGS solver"),
        ({"alpha": -1.0}, "alpha must be a non-negative number, got alpha=-1.0"),
        ({"hidden_layer_sizes": (4, 0)}, "hidden_layer_sizes entries must be a positive integer"),
        ({"activation": "softmax"}, "activation must be one of"),
        (
            {"activation": ["relu", "tanh"]},
            r"activation must be one value or a list with one entry per hidden layer \(1\)",
        ),
        ({"batch_size": 0}, "batch_size must be a positive integer, got batch_size=0"),
        ({"momentum": 1.0}, r"momentum must be a number in \[0, 1\)"),
        ({"learning_rate": "optimal"}, "learning_rate must be one of"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\)"),
        ({"dtype": "int32"}, "dtype must be float32 or float64"),
        ({"optimizer": "adam"}, "optimizer must be None or a backprop Optimizer"),
        ({"learning_rate": "adaptive", "schedule": "plateau", "early_stopping": True}, "both set the learning rate"),
        ({"schedule": "plateau"}, "monitors 'val_loss', which only early_stopping=True measures"),
        ({"early_stopping": True, "validation_fraction": 0.0}, r"validation_fraction must be a number in \(0, 1\)"),
    ]
    for params, message in cases:
        with pytest.raises((ValueError, TypeError), match=message):
            MLPClassifier(**params).fit(X, y)
    with pytest.raises(ValueError, match="class_weight must be None, 'balanced' or a dict"):
        MLPClassifier(class_weight="even").fit(X, y)


@quiet
def test_warm_start_keeps_weights_and_checks_the_architecture() -> None:
    X, y = classification(40)
    clf = small(MLPClassifier, warm_start=True, max_iter=3).fit(X, y)
    network = clf.network_
    clf.fit(X, y)
    assert clf.network_ is network and len(clf.loss_curve_) == 6
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same classes"):
        clf.fit(X, np.minimum(y, 1))
    clf.set_params(hidden_layer_sizes=(3,))
    with pytest.raises(ValueError, match=r"hidden_layer_sizes=\(3,\) differs from the fitted network's \(8,\)"):
        clf.fit(X, y)


# --------------------------------------------------------------------- model files


@quiet
def test_save_and_load_classifier_with_string_labels(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    X, y = classification(60)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    labels = np.array(["low", "mid", "high"])[y]
    clf = small(MLPClassifier, optimizer=bp.Adam(0.02), schedule=bp.StepDecay(5), class_weight={"low": 2.0}).fit(
        frame, labels
    )
    path = tmp_path / "clf.safetensors"
    bp.save(clf, path, metadata={"note": "mine"})
    loaded = load(path)
    assert type(loaded) is MLPClassifier
    assert_array_equal(loaded.predict(frame), clf.predict(frame))
    assert_array_equal(loaded.predict_proba(frame), clf.predict_proba(frame))
    assert_array_equal(loaded.classes_, clf.classes_) and loaded.classes_.dtype == clf.classes_.dtype
    assert_array_equal(loaded.feature_names_in_, clf.feature_names_in_)
    assert loaded.loss_curve_ == clf.loss_curve_ and loaded.n_iter_ == clf.n_iter_ and loaded.t_ == clf.t_
    assert repr(loaded.get_params()) == repr(clf.get_params())
    # bp.load gives the network; the user's metadata is kept beside the estimator's.
    net, metadata = bp.load_with_metadata(path)
    assert isinstance(bp.load(path), bp.Network) and metadata["note"] == "mine"
    assert_array_equal(net.predict(X), clf.network_.predict(X))
    loaded.partial_fit(frame, labels)  # training continues from the loaded weights


@quiet
def test_save_and_load_multilabel_and_regressor(tmp_path: Path) -> None:
    X, Y = make_multilabel_classification(n_samples=40, n_features=4, n_classes=3, random_state=1)
    multilabel = small(MLPClassifier, max_iter=10, early_stopping=True).fit(X, Y)
    bp.save(multilabel, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert_array_equal(loaded.predict(X), multilabel.predict(X))
    assert loaded.validation_scores_ == multilabel.validation_scores_
    X, Y = regression(40, outputs=2)
    reg = small(MLPRegressor, max_iter=10, dtype="float32", activation=["tanh"], dropout=0.2).fit(X, Y)
    bp.save(reg, tmp_path / "r.safetensors")
    back = load(tmp_path / "r.safetensors")
    assert type(back) is MLPRegressor and back.network_.dtype == np.float32
    assert_array_equal(back.predict(X), reg.predict(X))


def _rewrite_metadata(path: Path, change: Any) -> None:
    """Edit the estimator's JSON document inside a saved file (same tensor bytes)."""
    data = path.read_bytes()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size])
    document = json.loads(header["__metadata__"]["backprop"])
    change(document["extra"]["sklearn"])
    header["__metadata__"]["backprop"] = json.dumps(document)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + size :])


@quiet
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(classes=["a", 1.5]), "classes .* do not fit the dtype"),
        (lambda d: d.update(classes="abc"), "'classes' must be a list of at least 2 labels"),
        (lambda d: d.update(classes=["z", "a", "m"]), "classes must be distinct and sorted"),
        (
            lambda d: d.update(classes=["a", "b"]),
            "2 classes need 1 logistic outputs, but the network has 3 softmax outputs",
        ),
        (lambda d: d.update(n_features_in="6"), "'n_features_in' must be an integer >= 1, got '6'"),
        (lambda d: d.update(n_features_in=7), "n_features_in is 7, but the network has 6 inputs"),
        (lambda d: d.update(feature_names_in=["a"]), "feature_names_in has 1 names for 6 features"),
        (lambda d: d.update(loss_curve=[1.0, None]), "'loss_curve' must be a list of numbers"),
        (lambda d: d.update(version=99), "saved by a newer backprop"),
        (lambda d: d.update(estimator="SVC"), "'estimator' must be one of"),
        (lambda d: d.pop("t"), r"missing fields \['t'\]"),
        (lambda d: d["params"].update(alpha=-2), "parameters are invalid: alpha must be a non-negative number"),
        (lambda d: d["params"].update(hidden_layer_sizes=[9]), "parameters describe the layers"),
        (lambda d: d["params"].update(solver=None), "parameters are invalid: solver must be one of"),
        (lambda d: d["params"].update(optimizer={"name": "nadam"}), "optimizer must name one of"),
        (lambda d: d["params"].update(optimizer={"name": "sgd", "lr": -1}), "optimizer .* is invalid: lr must be"),
        (lambda d: d["params"].update(class_weight=[[["a"], 2.0]]), "class_weight must be a list of"),
        (lambda d: d.update(classes_dtype="<i8"), "classes .* do not fit the dtype '<i8'"),
        (lambda d: d["params"].pop("tol"), "'params' must be an object with exactly the parameters"),
        (lambda d: d.update(classes_dtype="<M8[s]"), "'classes_dtype' must be a numpy dtype of labels"),
        (lambda d: d.update(out_activation="relu"), "'out_activation' must be one of"),
    ],
)
def test_broken_estimator_metadata_is_a_model_file_error(tmp_path: Path, change: Any, message: str) -> None:
    X, y = classification(30)
    path = tmp_path / "clf.safetensors"
    bp.save(small(MLPClassifier, max_iter=2).fit(X, np.array(["a", "b", "c"])[y]), path)
    _rewrite_metadata(path, change)
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_import_without_scikit_learn_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn` now raises ImportError
    monkeypatch.delitem(sys.modules, "backprop.sklearn")
    with pytest.raises(bp.MissingDependencyError, match=r"pip install 'backprop\[sklearn\]'"):
        importlib.import_module("backprop.sklearn")


def test_load_of_a_plain_network_file(tmp_path: Path) -> None:
    net = bp.Network([bp.Dense(2, "sigmoid")], inputs=3, seed=0)
    bp.save(net, tmp_path / "net.safetensors")
    with pytest.raises(ModelFileError, match="holds a backprop network but no scikit-learn estimator"):
        load(tmp_path / "net.safetensors")


@quiet
def test_save_refuses_what_a_file_cannot_hold(tmp_path: Path) -> None:
    X, y = classification(30)
    clf = small(MLPClassifier, max_iter=2).fit(X, y)
    with pytest.raises(TypeError, match=r"metadata keys \['sklearn'\] are reserved"):
        bp.save(clf, tmp_path / "x.safetensors", metadata={"sklearn": 1})
    odd = small(MLPClassifier, max_iter=2).fit(X, y)
    odd.classes_ = np.array([object(), object(), object()], dtype=object)
    with pytest.raises(TypeError, match="cannot save class label"):
        bp.save(odd, tmp_path / "y.safetensors")
    assert not (tmp_path / "y.safetensors").exists()


def test_estimators_pickled_before_the_package_split_find_their_classes() -> None:
    # joblib files of fitted estimators name the former module's private classes.
    import backprop.sklearn as estimators
    from backprop.sklearn._base import BaseMLP
    from backprop.sklearn._shared import EpochEnd, LearningRate, Targets

    assert estimators._LearningRate is LearningRate and estimators._Targets is Targets
    assert estimators._EpochEnd is EpochEnd and estimators._BaseMLP is BaseMLP
    with pytest.raises(AttributeError, match="_Missing"):
        estimators._Missing  # noqa: B018
