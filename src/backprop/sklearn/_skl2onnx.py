"""Registration of the estimators with skl2onnx, so that ``skl2onnx.to_onnx`` converts pipelines holding them.

Importing :mod:`backprop.sklearn` calls :func:`register_if_installed`. What
is registered are stand-ins that import the converter,
:mod:`backprop.onnx.skl2onnx`, on the first conversion: the estimators never
import ONNX, and :mod:`backprop.onnx` is loaded only when something is
converted. :func:`backprop.onnx.register_skl2onnx` registers through
:func:`register` too. Imports nothing of backprop at module level.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

#: skl2onnx's usual options of a classifier, with the values the converter handles.
CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [False, True], "output_class_labels": [False, True]}


# Stand-ins for the functions of backprop.onnx.skl2onnx, which they import when skl2onnx first calls them.


def _classifier_shapes(operator: Any) -> None:
    from ..onnx.skl2onnx import classifier_shapes

    classifier_shapes(operator)


def _regressor_shapes(operator: Any) -> None:
    from ..onnx.skl2onnx import regressor_shapes

    regressor_shapes(operator)


def _convert(scope: Any, operator: Any, container: Any) -> None:
    from ..onnx.skl2onnx import convert

    convert(scope, operator, container)


def register(classifier: type[Any], regressor: type[Any]) -> None:
    """Register ``classifier`` and ``regressor`` with skl2onnx (which must be importable)."""
    skl2onnx = importlib.import_module("skl2onnx")
    skl2onnx.update_registered_converter(
        classifier, "BackpropMLPClassifier", _classifier_shapes, _convert, options=CLASSIFIER_OPTIONS
    )
    skl2onnx.update_registered_converter(regressor, "BackpropMLPRegressor", _regressor_shapes, _convert)


def register_if_installed(classifier: type[Any], regressor: type[Any]) -> None:
    """:func:`register`, when skl2onnx is installed and imports; nothing otherwise."""
    if importlib.util.find_spec("skl2onnx") is None:
        return
    try:
        register(classifier, regressor)
    except ImportError:  # a broken install: backprop.onnx.register_skl2onnx() says what is missing
        return
