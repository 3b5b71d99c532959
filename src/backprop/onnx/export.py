"""The network → ONNX graph: :func:`to_onnx` and the graph builder it shares.

What a graph computes (:class:`Target`: a network's ``Y``, a classifier's
``label`` and ``probabilities``, a regressor's ``variable``), the checks that
a network can be exported, the :class:`Graph` protocol that nodes are added
to (an ONNX graph under construction, :class:`ProtoGraph`, or a skl2onnx
container), the activations' ONNX forms and the forward pass
(:func:`emit_network`, :func:`emit`). :mod:`backprop.onnx.tabular` and
:mod:`backprop.onnx.skl2onnx` build on these. Imports the core only (never
:mod:`backprop.sklearn`: estimators are recognised by duck typing); ``onnx``
is imported when a graph is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import numpy as np
from numpy.typing import NDArray

from .. import __version__
from ..activations import ELU, Activation, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh
from ..errors import BackpropTypeError, DataError, MissingDependencyError, ParameterError, optional_module
from ..layers import Dense
from ..network import Network

if TYPE_CHECKING:
    import onnx

#: The opset written when ``opset`` is not given: every operator used here has
#: had its present meaning since opset 13 (Softmax on one axis); 17 is read by
#: onnxruntime >= 1.12 and by most other runtimes.
DEFAULT_OPSET = 17
#: The oldest opset accepted: Softmax normalised a flattened 2-D view before 13.
MIN_OPSET = 13
INSTALL_HINT = "pip install 'backprop[onnx]'"

#: Activations with an exact ONNX translation (Identity adds no node).
SUPPORTED_ACTIVATIONS = ("elu", "identity", "leaky_relu", "relu", "sigmoid", "softmax", "softplus", "tanh")


def require(module: str) -> Any:
    """Import ``module`` or raise :class:`MissingDependencyError` with the install hint."""
    return optional_module(module, "ONNX export", INSTALL_HINT)


# --------------------------------------------------------------------- models


@dataclass(frozen=True)
class Target:
    """What the graph computes: a network's ``Y``, a classifier's or a regressor's outputs.

    ``classes`` holds the label values as the graph stores them (int64, or an
    object array of str); it is None for networks, regressors and
    multi-label classifiers, whose labels are 0/1 indicators.
    """

    net: Network
    kind: Literal["network", "classifier", "regressor"]
    classes: NDArray[Any] | None = None
    multilabel: bool = False

    @property
    def binary(self) -> bool:
        """A binary classifier whose one output unit is ``p`` of the second class."""
        return self.kind == "classifier" and not self.multilabel and self.net.n_outputs == 1

    @property
    def n_columns(self) -> int:
        """Width of ``probabilities`` (classifiers) or of ``Y``/``variable``."""
        return 2 if self.binary else self.net.n_outputs


def label_values(classes: Any, owner: str) -> NDArray[Any]:
    """``classes_`` as the graph stores them: int64, or an object array of str."""
    values = np.asarray(classes)
    if values.ndim != 1 or values.size == 0:
        raise ParameterError(f"{owner}.classes_ must be a non-empty 1-D array of labels, got shape {values.shape}")
    if values.dtype.kind in "biu":
        if values.dtype.kind == "u" and values.max() > np.iinfo(np.int64).max:
            raise ParameterError(f"{owner}.classes_ holds labels too large for int64, up to {values.max()}")
        return values.astype(np.int64)
    if values.dtype.kind == "f":
        # As skl2onnx does: float labels are exported as int64 when they are whole numbers.
        if not (np.isfinite(values).all() and (values == np.round(values)).all()):
            raise ParameterError(
                f"{owner}.classes_ must be integers or strings to be exported to ONNX, "
                f"got float labels {values.tolist()}"
            )
        return values.astype(np.int64)
    if values.dtype.kind == "U" or (values.dtype.kind == "O" and all(isinstance(c, str) for c in values)):
        return np.array([str(c) for c in values], dtype=object)
    raise ParameterError(
        f"{owner}.classes_ must be integers or strings to be exported to ONNX, got array of dtype {values.dtype}"
    )


def _not_fitted(model: Any) -> Exception:
    message = (
        f"This {type(model).__name__} instance is not fitted yet (it has no network_); "
        "call 'fit' before exporting it to ONNX"
    )
    try:
        not_fitted: type[Exception] = importlib.import_module("sklearn.exceptions").NotFittedError
    except ImportError:  # pragma: no cover - an estimator without scikit-learn
        not_fitted = BackpropTypeError
    return not_fitted(message)


def check_exportable(net: Network) -> None:
    """Raise naming the first layer that ONNX cannot express or whose parameters are not finite."""
    for layer in net.layers:
        if not isinstance(layer, Dense):
            continue
        activation = layer.activation
        if type(activation) not in _ACTIVATIONS:
            raise ParameterError(
                f"Dense layer {layer.index} uses the custom activation {activation.name!r}, which is Python code "
                f"and cannot be exported to ONNX; use one of the built-in activations {list(SUPPORTED_ACTIVATIONS)}"
            )
        for name, values in (("W", layer.W), ("b", layer.b)):
            if values is not None and not np.isfinite(values).all():
                raise DataError(
                    f"{name}[{layer.index}] of Dense layer {layer.index} holds NaN or infinity; "
                    "a network with non-finite parameters cannot be exported to ONNX"
                )


def describe(model: Any) -> Target:
    """Check ``model`` and say what its graph computes."""
    if isinstance(model, Network):
        check_exportable(model)
        return Target(model, "network")
    if not hasattr(model, "network_"):
        if hasattr(model, "fit"):
            raise _not_fitted(model)
        raise BackpropTypeError(
            f"model must be a backprop.Network or a fitted backprop.sklearn estimator, got {type(model).__name__}"
        )
    net = model.network_
    owner = type(model).__name__
    if not isinstance(net, Network):
        raise BackpropTypeError(f"{owner}.network_ must be a backprop.Network, got {type(net).__name__}")
    check_exportable(net)
    if not hasattr(model, "classes_"):
        return Target(net, "regressor")
    output = net.layers[-1].activation
    flag = getattr(model, "_multilabel", None)
    multilabel = bool(flag) if flag is not None else isinstance(output, Sigmoid) and net.n_outputs > 1
    if multilabel:
        return Target(net, "classifier", None, True)
    classes = label_values(model.classes_, owner)
    expected = 1 if len(classes) == 2 and isinstance(output, Sigmoid) else len(classes)
    if net.n_outputs != expected:
        raise ParameterError(
            f"{owner} has {len(classes)} classes but its network has {net.n_outputs} outputs; "
            f"expected {expected} ({'one sigmoid unit' if expected == 1 else 'one unit per class'})"
        )
    return Target(net, "classifier", classes)


# ---------------------------------------------------------------- the graph


class Graph(Protocol):
    """Where nodes and constants go: an ONNX graph under construction, or a skl2onnx container."""

    def unique(self, hint: str) -> str:
        """A value name not used before, based on ``hint``."""

    def constant(self, hint: str, value: NDArray[Any]) -> str:
        """Add ``value`` as an initializer; return its name."""

    def node(self, op_type: str, inputs: Sequence[str], output: str, **attributes: Any) -> str:
        """Add a one-output node of the default domain writing ``output``; return ``output``."""


class ProtoGraph:
    """Collects ``NodeProto`` and ``TensorProto`` for :func:`onnx.helper.make_graph`."""

    def __init__(self, reserved: Sequence[str]) -> None:
        import onnx

        self._onnx = onnx
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names = set(reserved)

    def unique(self, hint: str) -> str:
        name, k = hint, 1
        while name in self._names:
            k += 1
            name = f"{hint}_{k}"
        self._names.add(name)
        return name

    def constant(self, hint: str, value: NDArray[Any]) -> str:
        name = self.unique(hint)
        self.initializers.append(self._onnx.numpy_helper.from_array(value, name))
        return name

    def node(self, op_type: str, inputs: Sequence[str], output: str, **attributes: Any) -> str:
        # One output per node and unique value names, so the output names the node too.
        self.nodes.append(self._onnx.helper.make_node(op_type, list(inputs), [output], name=output, **attributes))
        return output


def tensor_type(dtype: np.dtype[Any]) -> int:
    from onnx import helper

    return int(helper.np_dtype_to_tensor_dtype(dtype))


def scalar(g: Graph, hint: str, value: float, dtype: np.dtype[Any]) -> str:
    return g.constant(hint, np.asarray(value, dtype=dtype))


def _sigmoid(g: Graph, z: str, out: str, f: Activation, dtype: np.dtype[Any]) -> None:
    g.node("Sigmoid", [z], out)


def _tanh(g: Graph, z: str, out: str, f: Activation, dtype: np.dtype[Any]) -> None:
    g.node("Tanh", [z], out)


def _relu(g: Graph, z: str, out: str, f: Activation, dtype: np.dtype[Any]) -> None:
    g.node("Relu", [z], out)


def _softmax(g: Graph, z: str, out: str, f: Activation, dtype: np.dtype[Any]) -> None:
    g.node("Softmax", [z], out, axis=1)


def _leaky_relu(g: Graph, z: str, out: str, f: Activation, dtype: np.dtype[Any]) -> None:
    # max(z, α z) as backprop computes it; LeakyRelu's float32 attribute would round α in float64.
    alpha = scalar(g, "leaky_relu_alpha", cast(LeakyReLU, f).alpha, dtype)
    g.node("Max", [z, g.node("Mul", [z, alpha], g.unique(f"{z}_scaled"))], out)


def _elu(g: Graph, z: str, out: str, f: Activation, dtype: np.dtype[Any]) -> None:
    # α (e^min(z, 0) − 1) + max(z, 0): the exponent is never positive, so nothing overflows.
    zero, one = scalar(g, "zero", 0.0, dtype), scalar(g, "one", 1.0, dtype)
    alpha = scalar(g, "elu_alpha", cast(ELU, f).alpha, dtype)
    negative = g.node("Min", [z, zero], g.unique(f"{z}_negative"))
    exp = g.node("Exp", [negative], g.unique(f"{z}_exp"))
    expm1 = g.node("Sub", [exp, one], g.unique(f"{z}_expm1"))
    scaled = g.node("Mul", [expm1, alpha], g.unique(f"{z}_elu_negative"))
    positive = g.node("Relu", [z], g.unique(f"{z}_positive"))
    g.node("Add", [scaled, positive], out)


def _softplus(g: Graph, z: str, out: str, f: Activation, dtype: np.dtype[Any]) -> None:
    # max(z, 0) + log(1 + e^−|z|): ONNX Softplus, log(1 + e^z), overflows to inf for large z.
    one = scalar(g, "one", 1.0, dtype)
    magnitude = g.node("Abs", [z], g.unique(f"{z}_abs"))
    negated = g.node("Neg", [magnitude], g.unique(f"{z}_neg_abs"))
    exp = g.node("Exp", [negated], g.unique(f"{z}_exp_neg_abs"))
    shifted = g.node("Add", [exp, one], g.unique(f"{z}_one_plus_exp"))
    log = g.node("Log", [shifted], g.unique(f"{z}_log1p_exp"))
    positive = g.node("Relu", [z], g.unique(f"{z}_positive"))
    g.node("Add", [positive, log], out)


_ACTIVATIONS = {
    Sigmoid: _sigmoid,
    Tanh: _tanh,
    ReLU: _relu,
    LeakyReLU: _leaky_relu,
    ELU: _elu,
    Softplus: _softplus,
    Identity: None,
    Softmax: _softmax,
}


def emit_network(g: Graph, net: Network, x: str, out: str) -> None:
    """The forward pass from the value ``x`` to the value ``out`` (the network's dtype)."""
    dense = net.dense_layers
    a = x
    for layer in dense:
        i = layer.index
        last = layer is dense[-1]
        emit = _ACTIVATIONS[type(layer.activation)]
        a_name = out if last else g.unique(f"layer{i}_a")
        z_name = a_name if emit is None else g.unique(f"layer{i}_z")
        W = g.constant(f"W{i}", np.ascontiguousarray(layer.W))
        if layer.b is None:
            g.node("MatMul", [a, W], z_name)
        else:
            b = g.constant(f"b{i}", np.ascontiguousarray(layer.b))
            g.node("Add", [g.node("MatMul", [a, W], g.unique(f"layer{i}_xW")), b], z_name)
        if emit is not None:
            emit(g, z_name, a_name, layer.activation, net.dtype)
        a = a_name


def emit(g: Graph, target: Target, x: str, outputs: Sequence[str], io_dtype: np.dtype[Any]) -> None:
    """The whole graph from the input ``x`` (of ``io_dtype``) to ``outputs``.

    ``outputs`` is ``[Y]`` for networks and regressors, ``[label,
    probabilities]`` for classifiers. The network runs in its own dtype; the
    input is cast to it and the float outputs back to ``io_dtype`` when they
    differ (skl2onnx pipelines carry float32 or float64 whatever the network's).
    """
    dtype = target.net.dtype
    converts = io_dtype != dtype
    if converts:
        x = g.node("Cast", [x], g.unique("X_cast"), to=tensor_type(dtype))

    def result(name: str) -> str:
        """The name of a float output computed in the network's dtype."""
        return g.unique(f"{name}_{dtype.name}") if converts else name

    def finish(value: str, name: str) -> None:
        if converts:
            g.node("Cast", [value], name, to=tensor_type(io_dtype))

    if target.kind != "classifier":
        (y,) = outputs
        value = result(y)
        emit_network(g, target.net, x, value)
        finish(value, y)
        return
    label, proba = outputs
    if target.binary:
        p = g.unique("positive_probability")
        emit_network(g, target.net, x, p)
        complement = g.node("Sub", [scalar(g, "one", 1.0, dtype), p], g.unique("negative_probability"))
        probabilities = g.node("Concat", [complement, p], result(proba), axis=1)
    else:
        probabilities = result(proba)
        emit_network(g, target.net, x, probabilities)
    finish(probabilities, proba)
    if target.multilabel:
        # predict's rule for each label: p > 0.5, as 0/1.
        above = g.node("Greater", [probabilities, scalar(g, "half", 0.5, dtype)], g.unique("label_bool"))
        g.node("Cast", [above], label, to=tensor_type(np.dtype(np.int64)))
        return
    # The first largest column, like numpy.argmax; for [1 − p, p] that is p > 0.5.
    index = g.node("ArgMax", [probabilities], g.unique("label_index"), axis=1, keepdims=0)
    g.node("Gather", [g.constant("classes", cast(np.ndarray, target.classes)), index], label, axis=0)


# ------------------------------------------------------------------- public


def check_opset(opset: Any, latest: int) -> int:
    if opset is None:
        return min(DEFAULT_OPSET, latest)
    if isinstance(opset, bool) or not isinstance(opset, int | np.integer) or not MIN_OPSET <= opset <= latest:
        raise ParameterError(
            f"opset must be an integer from {MIN_OPSET} to {latest} (the newest the installed onnx knows), "
            f"got opset={opset!r}"
        )
    return int(opset)


def to_onnx(model: Any, *, opset: int | None = None, name: str | None = None) -> onnx.ModelProto:
    """Build the ONNX model of a network or a fitted estimator, in memory.

    Parameters
    ----------
    model : Network or fitted estimator
        A :class:`~backprop.Network`, or a fitted ``MLPClassifier`` or
        ``MLPRegressor`` from :mod:`backprop.sklearn` (any object with
        ``network_``; ``classes_`` marks a classifier).
    opset : int, optional
        The ONNX operator set, from 13 to the newest the installed ``onnx``
        knows; default :data:`DEFAULT_OPSET` (17).
    name : str, optional
        The graph's name; default ``"backprop_<class name>"``.

    Returns
    -------
    onnx.ModelProto
        Input ``X`` of shape ``(N, n_inputs)`` in the network's dtype.
        Outputs: ``Y`` of shape ``(N, n_outputs)`` for a network;
        ``label`` of shape ``(N,)`` and ``probabilities`` of shape
        ``(N, n_classes)`` for a classifier (``label`` of shape
        ``(N, n_labels)``, 0/1 as int64, for a multi-label one);
        ``variable`` of shape ``(N, n_outputs)`` for a regressor.

    Raises
    ------
    ParameterError
        A layer has a custom ``(function, derivative)`` activation (the
        message names the layer), or ``opset`` or ``name`` is invalid.
    DataError
        A weight or bias is NaN or infinite.
    BackpropTypeError
        ``model`` is neither a network nor an estimator.
    sklearn.exceptions.NotFittedError
        ``model`` is an estimator that has not been fitted.
    MissingDependencyError
        ``onnx`` is not installed (``pip install 'backprop[onnx]'``).

    See Also
    --------
    export_onnx : write the model to a file.
    """
    target = describe(model)
    if name is not None and (not isinstance(name, str) or not name):
        raise ParameterError(f"name must be a non-empty string, got name={name!r}")
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependencyError(
            f"ONNX export needs the onnx package, which could not be imported ({exc}); install it with: {INSTALL_HINT}"
        ) from exc
    from onnx import TensorProto, helper

    opset = check_opset(opset, onnx.defs.onnx_opset_version())
    net = target.net
    float_type = tensor_type(net.dtype)
    outputs: list[onnx.ValueInfoProto]
    if target.kind == "classifier":
        if target.multilabel:
            label = helper.make_tensor_value_info("label", TensorProto.INT64, ["N", net.n_outputs])
        else:
            classes = cast(np.ndarray, target.classes)  # a classifier target always has them
            label_type = TensorProto.STRING if classes.dtype == object else TensorProto.INT64
            label = helper.make_tensor_value_info("label", label_type, ["N"])
        outputs = [label, helper.make_tensor_value_info("probabilities", float_type, ["N", target.n_columns])]
    else:
        y = "Y" if target.kind == "network" else "variable"
        outputs = [helper.make_tensor_value_info(y, float_type, ["N", net.n_outputs])]
    names = [info.name for info in outputs]
    g = ProtoGraph(reserved=["X", *names])
    emit(g, target, "X", names, net.dtype)
    graph = helper.make_graph(
        g.nodes,
        name or f"backprop_{type(model).__name__}",
        [helper.make_tensor_value_info("X", float_type, ["N", net.n_inputs])],
        outputs,
        initializer=g.initializers,
        doc_string=repr(net),
    )
    opsets = [helper.make_opsetid("", opset)]
    return helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="backprop",
        producer_version=__version__,
    )
