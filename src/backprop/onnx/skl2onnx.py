"""The skl2onnx converter of backprop's estimators, so that ``skl2onnx.to_onnx`` converts pipelines.

The shape calculators (:func:`classifier_shapes`, :func:`regressor_shapes`)
and the converter (:func:`convert`) put the graph of
:func:`backprop.onnx.to_onnx` inside a skl2onnx pipeline's graph. Importing
:mod:`backprop.sklearn` registers the estimators with skl2onnx when it is
installed, with lazy stand-ins that import this module on the first
conversion (:mod:`backprop.sklearn._skl2onnx`), so that the estimators never
import ONNX; :func:`register_skl2onnx` registers other classes. Imports the
graph builder of :mod:`backprop.onnx.export`; ``skl2onnx`` and
:mod:`backprop.sklearn` are imported when a function here is called.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import MissingDependencyError, ParameterError
from .export import MIN_OPSET, Target, describe, emit, label_values, require, tensor_type


class _Skl2OnnxGraph:
    """Adds nodes and constants to a skl2onnx ``ModelComponentContainer`` within a ``Scope``."""

    def __init__(self, scope: Any, container: Any) -> None:
        self._scope, self._container = scope, container

    def unique(self, hint: str) -> str:
        return str(self._scope.get_unique_variable_name(hint))

    def constant(self, hint: str, value: NDArray[Any]) -> str:
        from onnx import TensorProto, helper, numpy_helper

        name = self.unique(hint)
        if value.dtype == object:
            content: Any = [str(v).encode("utf-8") for v in value.ravel()]
            onnx_type = TensorProto.STRING
        else:
            # A TensorProto is copied as raw bytes: fast for large weight matrices.
            content, onnx_type = numpy_helper.from_array(value, name), helper.np_dtype_to_tensor_dtype(value.dtype)
        self._container.add_initializer(name, onnx_type, list(value.shape), content)
        return name

    def node(self, op_type: str, inputs: Sequence[str], output: str, **attributes: Any) -> str:
        name = self._scope.get_unique_operator_name(op_type)
        self._container.add_node(op_type, list(inputs), output, name=name, **attributes)
        return output


def _io_dtype(variable_type: Any) -> np.dtype[Any]:
    """float64 for a skl2onnx double tensor, float32 for anything else (as skl2onnx's converters do)."""
    from onnx import TensorProto

    data_types = importlib.import_module("skl2onnx.common.data_types")
    double = data_types.guess_proto_type(variable_type) == TensorProto.DOUBLE
    return np.dtype(np.float64 if double else np.float32)


def _check_operator(operator: Any, n_outputs: int) -> Target:
    utils = importlib.import_module("skl2onnx.common.utils")
    utils.check_input_and_output_numbers(operator, input_count_range=1, output_count_range=n_outputs)
    target = describe(operator.raw_operator)
    shape = operator.inputs[0].type.shape
    if shape is not None and len(shape) == 2 and isinstance(shape[1], int) and shape[1] != target.net.n_inputs:
        raise ParameterError(
            f"Dense layer 1 expects inputs with {target.net.n_inputs} features, "
            f"got ONNX input {operator.inputs[0].onnx_name!r} of shape {list(shape)}"
        )
    return target


def _float_tensor_type(dtype: np.dtype[Any], shape: list[Any]) -> Any:
    data_types = importlib.import_module("skl2onnx.common.data_types")
    return (data_types.DoubleTensorType if dtype == np.float64 else data_types.FloatTensorType)(shape)


def _with_skl2onnx_classes(target: Target, scope: Any, estimator: Any) -> Target:
    """The target with the labels skl2onnx asks for: ``classes_``, or ``0 … n − 1`` with option ``nocl``."""
    if target.kind != "classifier" or target.multilabel:
        return target
    classifier_utils = importlib.import_module("skl2onnx.common.utils_classifier")
    labels = classifier_utils.get_label_classes(scope, estimator)
    return dataclasses.replace(target, classes=label_values(labels, type(estimator).__name__))


def classifier_shapes(operator: Any) -> None:
    """skl2onnx shape calculator: ``label`` ``(N,)`` and ``probabilities`` ``(N, n_classes)``."""
    target = _with_skl2onnx_classes(_check_operator(operator, 2), operator.scope_inst, operator.raw_operator)
    data_types = importlib.import_module("skl2onnx.common.data_types")
    n = operator.inputs[0].get_first_dimension()
    if target.multilabel:
        label = data_types.Int64TensorType([n, target.net.n_outputs])
    elif target.classes is not None and target.classes.dtype == object:
        label = data_types.StringTensorType([n])
    else:
        label = data_types.Int64TensorType([n])
    operator.outputs[0].set_type(label)
    operator.outputs[1].set_type(_float_tensor_type(_io_dtype(operator.inputs[0].type), [n, target.n_columns]))


def regressor_shapes(operator: Any) -> None:
    """skl2onnx shape calculator: ``variable`` ``(N, n_outputs)``."""
    target = _check_operator(operator, 1)
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].set_type(_float_tensor_type(_io_dtype(operator.inputs[0].type), [n, target.net.n_outputs]))


def convert(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter for both estimators: the graph of :func:`to_onnx` inside the pipeline's."""
    target = _with_skl2onnx_classes(describe(operator.raw_operator), scope, operator.raw_operator)
    opset = container.target_opset
    if opset is not None and opset < MIN_OPSET:
        raise ParameterError(f"backprop's ONNX converter needs target_opset >= {MIN_OPSET}, got {opset}")
    g = _Skl2OnnxGraph(scope, container)
    variable = operator.inputs[0]
    io_dtype = _io_dtype(variable.type)
    x = variable.full_name
    if tensor_type(io_dtype) != variable.type.to_onnx_type().tensor_type.elem_type:
        x = g.node("Cast", [x], g.unique("X_float"), to=tensor_type(io_dtype))
    emit(g, target, x, [output.full_name for output in operator.outputs], io_dtype)


def register_skl2onnx(classifier: type[Any] | None = None, regressor: type[Any] | None = None) -> None:
    """Register backprop's estimators with skl2onnx, so that ``skl2onnx.to_onnx`` converts them.

    After this call, ``skl2onnx.to_onnx(estimator_or_pipeline, X[:1])``
    converts fitted backprop estimators, alone or inside a ``Pipeline``, with
    the graph of :func:`to_onnx`. Classifiers accept skl2onnx's usual
    options: ``zipmap`` (True by default: a ZipMap of the probabilities,
    False: the ``probabilities`` tensor, ``"columns"``: one output per class),
    ``nocl`` (labels ``0 … n_classes − 1`` instead of ``classes_``) and
    ``output_class_labels``. Calling it again is harmless.

    Parameters
    ----------
    classifier, regressor : type, optional
        The classes to register; by default ``backprop.sklearn.MLPClassifier``
        and ``MLPRegressor``. skl2onnx finds converters by exact type, so a
        subclass must be registered on its own.

    Raises
    ------
    MissingDependencyError
        skl2onnx (``pip install 'backprop[onnx]'``) or scikit-learn is not
        installed.

    Examples
    --------
    >>> import skl2onnx  # doctest: +SKIP
    >>> from backprop.onnx import register_skl2onnx
    >>> register_skl2onnx()  # doctest: +SKIP
    >>> onx = skl2onnx.to_onnx(pipeline, X[:1], options={"zipmap": False})  # doctest: +SKIP
    """
    require("skl2onnx")
    try:
        # Here, not at the top: the converter itself needs no estimator (it reads network_ and classes_).
        from ..sklearn import MLPClassifier, MLPRegressor
        from ..sklearn._skl2onnx import register
    except ImportError as exc:
        raise MissingDependencyError(
            f"registering backprop's estimators with skl2onnx needs backprop.sklearn, which could not be "
            f"imported ({exc}); install it with: pip install 'backprop[sklearn,onnx]'"
        ) from exc
    # The one registration, shared with the import of backprop.sklearn: stand-ins that call the functions here.
    register(classifier or MLPClassifier, regressor or MLPRegressor)
