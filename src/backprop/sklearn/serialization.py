"""The estimators' model files: :func:`load` reads what :func:`backprop.save` wrote.

A saved estimator is an ordinary model file whose JSON metadata holds, under
:data:`~backprop.sklearn._shared.METADATA_KEY`, the constructor parameters,
class labels, feature names and training record (written by
``BaseMLP._backprop_metadata``); every field is checked here before the
estimator is rebuilt around the file's network. Imports :mod:`backprop.io`
and the estimators.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from sklearn.utils.multiclass import unique_labels  # type: ignore[import-untyped]

from .._validation import shown_briefly
from ..errors import ModelFileError
from ..io import load_with_metadata
from ..network import Network
from ..optimizers import OPTIMIZERS
from ..schedules import SCHEDULES
from ._base import BaseMLP
from ._shared import METADATA_KEY, METADATA_VERSION, OUT_NAMES
from .classifier import MLPClassifier
from .regressor import MLPRegressor

_ESTIMATORS: dict[str, type[BaseMLP]] = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}
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
            raise self.fail(f"{key!r} must be {rule}, got {shown_briefly(value)}")
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


def _decode_params(raw: Any, cls: type[BaseMLP], reader: _Reader) -> dict[str, Any]:
    """The constructor parameters from their JSON form (see ``BaseMLP._params_json``)."""
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
                raise reader.fail(f"{key} must name one of {sorted(table)}, got {shown_briefly(value)}")
            try:
                params[key] = kind(**{k: v for k, v in value.items() if k != "name"})
            except (TypeError, ValueError) as exc:
                raise reader.fail(f"{key} {shown_briefly(value)} is invalid: {exc}") from None
        elif value is not None and not (key == "schedule" and isinstance(value, str)):
            raise reader.fail(f"{key} must be null or an object, got {shown_briefly(value)}")
    if "class_weight" in params and isinstance(params["class_weight"], list):
        pairs = params["class_weight"]
        if not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], str | int | float) and _is_float(p[1])
            for p in pairs
        ):
            raise reader.fail(f"class_weight must be a list of [label, weight] pairs, got {shown_briefly(pairs)}")
        params["class_weight"] = {label: weight for label, weight in pairs}
    return params


def _restore(net: Network, document: Any, where: str) -> BaseMLP:
    """Rebuild the fitted estimator from the network and its metadata, checking every field."""
    if not isinstance(document, dict):
        raise ModelFileError(
            f"{where}: the saved estimator's metadata must be a JSON object, got {shown_briefly(document)}"
        )
    reader = _Reader(document, where)
    version = document.get("version")
    if not (isinstance(version, int) and not isinstance(version, bool) and version >= 1):
        raise reader.fail(f"'version' must be a positive integer, got {shown_briefly(version)}")
    if version > METADATA_VERSION:
        raise ModelFileError(
            f"{where}: the estimator was saved by a newer backprop (estimator metadata version {version}); "
            f"this version reads version {METADATA_VERSION}: upgrade backprop"
        )
    name = document.get("estimator")
    cls = _ESTIMATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise reader.fail(f"'estimator' must be one of {sorted(_ESTIMATORS)}, got {shown_briefly(name)}")
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
        "out_activation", lambda v: v in OUT_NAMES.values(), f"one of {sorted(OUT_NAMES.values())}"
    )
    activation = next(key for key, value in OUT_NAMES.items() if value == out_activation)
    try:
        layers = [layer.config() for layer in estimator._layers(n_outputs, activation)]
    except (TypeError, ValueError) as exc:
        raise reader.fail(f"parameters do not describe a network: {exc}") from None
    if layers != net.config()["layers"]:
        raise reader.fail(
            f"parameters describe the layers {shown_briefly(layers, 200)}, but the file's network has "
            f"{shown_briefly(net.config()['layers'], 200)}"
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
        raise reader.fail(f"classes {shown_briefly(values)} do not fit the dtype {dtype_name!r}")
    multilabel = reader.get("multilabel", lambda v: isinstance(v, bool), "true or false")
    if multilabel:
        expected_outputs, expected_activation = len(values), "logistic"
        if values != list(range(len(values))):
            raise reader.fail(f"multi-label classes must be 0 .. n_labels - 1, got {shown_briefly(values)}")
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
        raise reader.fail(f"classes {shown_briefly(values)} are not valid labels: {exc}") from None
    if unique.shape != classes.shape or not np.array_equal(unique, classes):
        raise reader.fail(f"classes must be distinct and sorted, got {shown_briefly(values)}")
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
    net, metadata = load_with_metadata(path)
    if METADATA_KEY not in metadata:
        raise ModelFileError(
            f"{where}: the file holds a backprop network but no scikit-learn estimator; load it with backprop.load"
        )
    return cast(MLPClassifier | MLPRegressor, _restore(net, metadata[METADATA_KEY], where))
