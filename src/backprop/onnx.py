"""Export networks and fitted estimators to `ONNX <https://onnx.ai>`_.

The graph is the forward pass of DESIGN.md §1, one Dense layer after the
other::

    X ─► MatMul(W[1]) ─► Add(b[1]) ─► f_1 ─► … ─► MatMul(W[L]) ─► Add(b[L]) ─► f_L ─► Y

``X`` has shape ``(N, n_inputs)`` with a dynamic batch dimension ``N`` and the
network's dtype (float32 or float64). Layers without bias have no ``Add``;
Dropout layers pass their input through at inference and add no node.

Activations map to ONNX operators where the operator computes exactly what
backprop computes (``Sigmoid``, ``Tanh``, ``Relu``, ``Softmax`` on axis 1).
The others are built from elementary operators, with their constants in the
network's dtype (ONNX attributes are float32 only, and onnxruntime has no
float64 kernels for ``Elu`` and ``Softplus``), in the same stable forms as
:mod:`backprop.activations`:

* ``leaky_relu``: ``max(z, α z)``;
* ``elu``: ``α (e^min(z, 0) − 1) + max(z, 0)``, no exponent ever positive;
* ``softplus``: ``max(z, 0) + log(1 + e^−|z|)``, which does not overflow for
  large ``z`` as ``log(1 + e^z)`` does.

Outputs (names as skl2onnx gives them):

* a :class:`~backprop.Network`: ``Y``, shape ``(N, n_outputs)``, equal to
  :meth:`~backprop.Network.predict`;
* a fitted classifier: ``label``, shape ``(N,)`` (int64 for integer, boolean
  or integer-valued float classes, string for string classes), and
  ``probabilities``, shape ``(N, n_classes)``, equal to ``predict`` and
  ``predict_proba``. A binary classifier with one sigmoid output gets the
  two columns ``[1 − p, p]``; a multi-label classifier (sigmoid outputs, one
  per label) gets ``label`` of shape ``(N, n_labels)``, ``p > 0.5`` as int64;
* a fitted regressor: ``variable``, shape ``(N, n_outputs)``.

Estimators are recognised by duck typing: a fitted estimator has
``network_`` (a :class:`~backprop.Network`); classifiers also have
``classes_``, and a multi-label classifier sets ``_multilabel`` (or, without
that attribute, has a sigmoid output layer with more than one unit).

A model of ``backprop train`` (a network and its
:class:`~backprop.tabular.Preprocessor`) is exported with its preprocessing
by :func:`tabular_to_onnx`: either one matrix input ``X`` (the
standardisation folded into the first layer only where a sample shows that
the network's dtype keeps ``predict``'s results, an explicit float64
``(x − mean) / scale`` otherwise), or one input per column with imputation,
one-hot encoding and standardisation in the graph (``LabelEncoder`` of
``ai.onnx.ml`` for the categories).

``onnx`` (and, for :func:`register_skl2onnx`, ``skl2onnx``) is imported only
when a function of this module is called: ``pip install 'backprop[onnx]'``.

Examples
--------
>>> import backprop as bp
>>> net = bp.Network([bp.Dense(4, "tanh"), bp.Dense(1, "sigmoid")], inputs=3, seed=0)
>>> bp.export_onnx(net, "model.onnx")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import numpy as np
from numpy.typing import NDArray

from . import __version__
from .activations import ELU, Activation, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .errors import BackpropTypeError, DataError, MissingDependencyError, ParameterError
from .io import atomic_write
from .layers import Dense
from .network import Network

if TYPE_CHECKING:
    import onnx

    from .tabular import Preprocessor

#: The opset written when ``opset`` is not given: every operator used here has
#: had its present meaning since opset 13 (Softmax on one axis); 17 is read by
#: onnxruntime >= 1.12 and by most other runtimes.
DEFAULT_OPSET = 17
#: The oldest opset accepted: Softmax normalised a flattened 2-D view before 13.
MIN_OPSET = 13
INSTALL_HINT = "pip install 'backprop[onnx]'"

#: Activations with an exact ONNX translation (Identity adds no node).
SUPPORTED_ACTIVATIONS = ("elu", "identity", "leaky_relu", "relu", "sigmoid", "softmax", "softplus", "tanh")


def _require(module: str) -> Any:
    """Import ``module`` or raise :class:`MissingDependencyError` with the install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"ONNX export needs the {module} package, which could not be imported ({exc}); "
            f"install it with: {INSTALL_HINT}"
        ) from exc


# --------------------------------------------------------------------- models


@dataclass(frozen=True)
class _Target:
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


def _label_values(classes: Any, owner: str) -> NDArray[Any]:
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


def _check_exportable(net: Network) -> None:
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


def _describe(model: Any) -> _Target:
    """Check ``model`` and say what its graph computes."""
    if isinstance(model, Network):
        _check_exportable(model)
        return _Target(model, "network")
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
    _check_exportable(net)
    if not hasattr(model, "classes_"):
        return _Target(net, "regressor")
    output = net.layers[-1].activation
    flag = getattr(model, "_multilabel", None)
    multilabel = bool(flag) if flag is not None else isinstance(output, Sigmoid) and net.n_outputs > 1
    if multilabel:
        return _Target(net, "classifier", None, True)
    classes = _label_values(model.classes_, owner)
    expected = 1 if len(classes) == 2 and isinstance(output, Sigmoid) else len(classes)
    if net.n_outputs != expected:
        raise ParameterError(
            f"{owner} has {len(classes)} classes but its network has {net.n_outputs} outputs; "
            f"expected {expected} ({'one sigmoid unit' if expected == 1 else 'one unit per class'})"
        )
    return _Target(net, "classifier", classes)


# ---------------------------------------------------------------- the graph


class _Graph(Protocol):
    """Where nodes and constants go: an ONNX graph under construction, or a skl2onnx container."""

    def unique(self, hint: str) -> str:
        """A value name not used before, based on ``hint``."""

    def constant(self, hint: str, value: NDArray[Any]) -> str:
        """Add ``value`` as an initializer; return its name."""

    def node(self, op_type: str, inputs: Sequence[str], output: str, **attributes: Any) -> str:
        """Add a one-output node of the default domain writing ``output``; return ``output``."""


class _ProtoGraph:
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


def _tensor_type(dtype: np.dtype[Any]) -> int:
    from onnx import helper

    return int(helper.np_dtype_to_tensor_dtype(dtype))


def _scalar(g: _Graph, hint: str, value: float, dtype: np.dtype[Any]) -> str:
    return g.constant(hint, np.asarray(value, dtype=dtype))


def _sigmoid(g: _Graph, z: str, out: str, f: Activation, dtype: np.dtype[Any]) -> None:
    g.node("Sigmoid", [z], out)


def _tanh(g: _Graph, z: str, out: str, f: Activation, dtype: np.dtype[Any]) -> None:
    g.node("Tanh", [z], out)


def _relu(g: _Graph, z: str, out: str, f: Activation, dtype: np.dtype[Any]) -> None:
    g.node("Relu", [z], out)


def _softmax(g: _Graph, z: str, out: str, f: Activation, dtype: np.dtype[Any]) -> None:
    g.node("Softmax", [z], out, axis=1)


def _leaky_relu(g: _Graph, z: str, out: str, f: Activation, dtype: np.dtype[Any]) -> None:
    # max(z, α z) as backprop computes it; LeakyRelu's float32 attribute would round α in float64.
    alpha = _scalar(g, "leaky_relu_alpha", cast(LeakyReLU, f).alpha, dtype)
    g.node("Max", [z, g.node("Mul", [z, alpha], g.unique(f"{z}_scaled"))], out)


def _elu(g: _Graph, z: str, out: str, f: Activation, dtype: np.dtype[Any]) -> None:
    # α (e^min(z, 0) − 1) + max(z, 0): the exponent is never positive, so nothing overflows.
    zero, one = _scalar(g, "zero", 0.0, dtype), _scalar(g, "one", 1.0, dtype)
    alpha = _scalar(g, "elu_alpha", cast(ELU, f).alpha, dtype)
    negative = g.node("Min", [z, zero], g.unique(f"{z}_negative"))
    exp = g.node("Exp", [negative], g.unique(f"{z}_exp"))
    expm1 = g.node("Sub", [exp, one], g.unique(f"{z}_expm1"))
    scaled = g.node("Mul", [expm1, alpha], g.unique(f"{z}_elu_negative"))
    positive = g.node("Relu", [z], g.unique(f"{z}_positive"))
    g.node("Add", [scaled, positive], out)


def _softplus(g: _Graph, z: str, out: str, f: Activation, dtype: np.dtype[Any]) -> None:
    # max(z, 0) + log(1 + e^−|z|): ONNX Softplus, log(1 + e^z), overflows to inf for large z.
    one = _scalar(g, "one", 1.0, dtype)
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


def _emit_network(g: _Graph, net: Network, x: str, out: str) -> None:
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


def _emit(g: _Graph, target: _Target, x: str, outputs: Sequence[str], io_dtype: np.dtype[Any]) -> None:
    """The whole graph from the input ``x`` (of ``io_dtype``) to ``outputs``.

    ``outputs`` is ``[Y]`` for networks and regressors, ``[label,
    probabilities]`` for classifiers. The network runs in its own dtype; the
    input is cast to it and the float outputs back to ``io_dtype`` when they
    differ (skl2onnx pipelines carry float32 or float64 whatever the network's).
    """
    dtype = target.net.dtype
    converts = io_dtype != dtype
    if converts:
        x = g.node("Cast", [x], g.unique("X_cast"), to=_tensor_type(dtype))

    def result(name: str) -> str:
        """The name of a float output computed in the network's dtype."""
        return g.unique(f"{name}_{dtype.name}") if converts else name

    def finish(value: str, name: str) -> None:
        if converts:
            g.node("Cast", [value], name, to=_tensor_type(io_dtype))

    if target.kind != "classifier":
        (y,) = outputs
        value = result(y)
        _emit_network(g, target.net, x, value)
        finish(value, y)
        return
    label, proba = outputs
    if target.binary:
        p = g.unique("positive_probability")
        _emit_network(g, target.net, x, p)
        complement = g.node("Sub", [_scalar(g, "one", 1.0, dtype), p], g.unique("negative_probability"))
        probabilities = g.node("Concat", [complement, p], result(proba), axis=1)
    else:
        probabilities = result(proba)
        _emit_network(g, target.net, x, probabilities)
    finish(probabilities, proba)
    if target.multilabel:
        # predict's rule for each label: p > 0.5, as 0/1.
        above = g.node("Greater", [probabilities, _scalar(g, "half", 0.5, dtype)], g.unique("label_bool"))
        g.node("Cast", [above], label, to=_tensor_type(np.dtype(np.int64)))
        return
    # The first largest column, like numpy.argmax; for [1 − p, p] that is p > 0.5.
    index = g.node("ArgMax", [probabilities], g.unique("label_index"), axis=1, keepdims=0)
    g.node("Gather", [g.constant("classes", cast(np.ndarray, target.classes)), index], label, axis=0)


# ------------------------------------------------------------------- public


def _check_opset(opset: Any, latest: int) -> int:
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
    target = _describe(model)
    if name is not None and (not isinstance(name, str) or not name):
        raise ParameterError(f"name must be a non-empty string, got name={name!r}")
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependencyError(
            f"ONNX export needs the onnx package, which could not be imported ({exc}); install it with: {INSTALL_HINT}"
        ) from exc
    from onnx import TensorProto, helper

    opset = _check_opset(opset, onnx.defs.onnx_opset_version())
    net = target.net
    float_type = _tensor_type(net.dtype)
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
    g = _ProtoGraph(reserved=["X", *names])
    _emit(g, target, "X", names, net.dtype)
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


def export_onnx(model: Any, path: str | os.PathLike[str], *, opset: int | None = None, name: str | None = None) -> None:
    """Write a network or a fitted estimator to an ONNX file.

    The model is built by :func:`to_onnx` and serialised in memory before
    anything is written; the file is then written atomically (a temporary
    file in the same folder, renamed onto ``path``), so an error or a crash
    leaves any previous file at ``path`` intact and no partial file behind.

    Parameters
    ----------
    model : Network or fitted estimator
        See :func:`to_onnx`.
    path : str or path-like
        The file to create or replace (conventionally ``*.onnx``); its folder
        must exist.
    opset : int, optional
        The ONNX operator set; default :data:`DEFAULT_OPSET` (17).
    name : str, optional
        The graph's name; default ``"backprop_<class name>"``.

    Raises
    ------
    SaveError
        The file cannot be written (also an ``OSError``).
    ParameterError, DataError, BackpropTypeError, MissingDependencyError
        As for :func:`to_onnx`.

    Notes
    -----
    An ONNX file is one protobuf message, which cannot exceed 2 GiB: about
    500 million float32 parameters.

    Examples
    --------
    >>> import backprop as bp
    >>> net = bp.Network([bp.Dense(8, "relu"), bp.Dense(3, "softmax")], inputs=4, seed=0)
    >>> bp.export_onnx(net, "net.onnx")  # doctest: +SKIP
    >>> import onnxruntime  # doctest: +SKIP
    >>> session = onnxruntime.InferenceSession("net.onnx")  # doctest: +SKIP
    >>> (y,) = session.run(None, {"X": X.astype("float32")})  # doctest: +SKIP
    """
    data = to_onnx(model, opset=opset, name=name).SerializeToString()
    atomic_write(path, data)


# ----------------------------------------------------------- tabular models


#: How many rows :func:`tabular_to_onnx` draws to check that folding keeps ``predict``'s results.
PARITY_ROWS = 512
#: The ONNX domain of the traditional-ML operators (LabelEncoder) and the version used.
_ML_DOMAIN, _ML_OPSET = "ai.onnx.ml", 2


@dataclass(frozen=True)
class TabularExport:
    """What :func:`tabular_to_onnx` built.

    Attributes
    ----------
    layout : {"matrix", "columns"}
        ``matrix``: one input ``X``, one column per network input (numeric
        columns as they are, then 0/1 per category of a one-hot column).
        ``columns``: one input per table column, shape ``(N, 1)``.
    inputs : list of str
        ``matrix``: the columns of ``X``; ``columns``: the graph's inputs,
        named after the table's columns.
    input_types : dict of str to str
        Each graph input's element type: ``"float"``, ``"double"`` or ``"string"``.
    outputs : list of str
        ``["label", "probabilities"]`` or ``["variable"]``.
    folded : bool
        Whether the standardisation is folded into the first layer's weights.
    standardized : bool
        Whether ``X`` takes standardised values (``fold=False``, matrix layout).
    parity_error : float or None
        When folding was refused: the largest difference from ``predict`` that
        folding into the network's dtype gave on the check's sample.
    """

    layout: Literal["matrix", "columns"]
    inputs: list[str]
    input_types: dict[str, str]
    outputs: list[str]
    folded: bool
    standardized: bool
    parity_error: float | None = None


def _standardization(pre: Preprocessor, n_inputs: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and scale of every network input (0 and 1 for one-hot inputs), float64."""
    mean, scale = np.zeros(n_inputs), np.ones(n_inputs)
    start = 0
    for spec in pre.features:
        if spec.kind == "numeric":
            mean[start], scale[start] = spec.mean, spec.scale
        start += spec.width
    return mean, scale


def _fold(net: Network, mean: NDArray[np.float64], scale: NDArray[np.float64]) -> Network | None:
    """A copy of ``net`` taking raw values, ``z = x (W / s) + (b − (m / s) W)``; None without a bias to hold it."""
    folded = net.copy()
    first = folded.dense_layers[0]
    W = net.dense_layers[0].W.astype(np.float64) / scale[:, None]
    offset = mean @ W
    if first.b is None and np.any(offset != 0):
        return None
    first.W[...] = W
    if first.b is not None:
        first.b[...] = first.b.astype(np.float64) - offset
    return folded


def _parity_sample(pre: Preprocessor, n_inputs: int) -> NDArray[np.float64]:
    """Raw rows like the training rows, shape ``(PARITY_ROWS, n_inputs)``: numbers within ``mean ± 3 scale``."""
    rng = np.random.default_rng(0)
    rows = np.zeros((PARITY_ROWS, n_inputs))
    start = 0
    for spec in pre.features:
        if spec.kind == "numeric":
            rows[:, start] = spec.mean + spec.scale * rng.uniform(-3.0, 3.0, PARITY_ROWS)
        else:
            # One category per row, or none (an unseen category) for one row in k + 1.
            pick = rng.integers(0, spec.width + 1, PARITY_ROWS)
            seen = pick < spec.width
            rows[np.flatnonzero(seen), start + pick[seen]] = 1.0
        start += spec.width
    return rows


def _folding_error(
    net: Network, folded: Network, mean: NDArray[np.float64], scale: NDArray[np.float64], sample: NDArray[np.float64]
) -> tuple[float, float]:
    """How far the folded network and ``predict``'s path are from exact arithmetic on ``sample``.

    ``predict`` standardises in float64 and rounds once to the network's
    dtype; the folded network gets the raw values in its dtype. Both are
    compared with the network evaluated in float64 on the exact standardised
    values, so float32's own rounding sets the tolerance.
    """
    standardized = (sample - mean) / scale
    exact = net.copy(np.float64).predict(standardized)
    reference = net.predict(standardized.astype(net.dtype))
    try:
        candidate = folded.predict(sample.astype(net.dtype))
    except DataError:  # an overflow in the network's dtype: folding does not hold
        return math.inf, float(np.abs(reference - exact).max())
    return float(np.abs(candidate - exact).max()), float(np.abs(reference - exact).max())


def _emit_tabular_head(
    g: _ProtoGraph, net: Network, pre: Preprocessor, x: str, outputs: Sequence[str], classes: NDArray[Any] | None
) -> None:
    """The network from ``x`` (its dtype) and what ``backprop predict`` makes of its outputs."""
    dtype = net.dtype
    if classes is None:
        (variable,) = outputs
        target = pre.target
        if target.scale == 1.0 and target.mean == 0.0:
            _emit_network(g, net, x, variable)
            return
        # The target in its own units, as predict prints it: ŷ s + m.
        y = g.unique("scaled_variable")
        _emit_network(g, net, x, y)
        scaled = g.node("Mul", [y, _scalar(g, "target_scale", target.scale, dtype)], g.unique("variable_times_scale"))
        g.node("Add", [scaled, _scalar(g, "target_mean", target.mean, dtype)], variable)
        return
    label, proba = outputs
    output = g.unique("network_output")
    _emit_network(g, net, x, output)
    int64 = _tensor_type(np.dtype(np.int64))
    classes_name = g.constant("classes", classes)
    if net.n_outputs == 1:
        # p of the second class; predict's rule p >= 0.5, ties included.
        complement = g.node("Sub", [_scalar(g, "one", 1.0, dtype), output], g.unique("negative_probability"))
        g.node("Concat", [complement, output], proba, axis=1)
        above = g.node("GreaterOrEqual", [output, _scalar(g, "half", 0.5, dtype)], g.unique("positive"))
        index = g.node("Cast", [above], g.unique("label_index_2d"), to=int64)
        flat = g.node("Reshape", [index, g.constant("flat", np.array([-1], dtype=np.int64))], g.unique("label_index"))
        g.node("Gather", [classes_name, flat], label, axis=0)
        return
    index = g.node("ArgMax", [output], g.unique("label_index"), axis=1, keepdims=0)
    g.node("Gather", [classes_name, index], label, axis=0)
    if isinstance(net.dense_layers[-1].activation, Softmax):
        g.node("Identity", [output], proba)
        return
    # Other outputs are clipped at 0 and normalised; a row of zeros gets 1/k each, as predict does.
    clipped = g.node("Relu", [output], g.unique("clipped"))
    axes = g.constant("axis_1", np.array([1], dtype=np.int64))
    total = g.node("ReduceSum", [clipped, axes], g.unique("total"), keepdims=1)
    ratio = g.node("Div", [clipped, total], g.unique("ratio"))
    positive = g.node("Greater", [total, _scalar(g, "zero", 0.0, dtype)], g.unique("total_positive"))
    uniform = _scalar(g, "uniform", 1.0 / net.n_outputs, dtype)
    g.node("Where", [positive, ratio, uniform], proba)


def _missing_tokens() -> list[str]:
    """The cells ``backprop predict`` reads as missing, in their usual spellings (it ignores case)."""
    from .tabular import MISSING

    tokens: set[str] = set()
    for token in MISSING:
        tokens.update({token, token.upper(), token.capitalize(), token.title()})
    tokens.update({"NaN", "-NaN", "N/a"})
    return sorted(tokens)


def _emit_columns(g: _ProtoGraph, net: Network, pre: Preprocessor) -> tuple[list[Any], str]:
    """One input per column, the whole preprocessing of ``predict``; returns the inputs and the network's input."""
    from onnx import TensorProto, helper

    dtype = net.dtype
    to_net = _tensor_type(dtype)
    inputs: list[Any] = []
    blocks: list[str] = []
    tokens = _missing_tokens()
    for spec in pre.features:
        name = spec.name
        if spec.kind == "numeric":
            inputs.append(helper.make_tensor_value_info(name, TensorProto.DOUBLE, ["N", 1]))
            value = name
            if spec.fill is not None:
                # A missing number is NaN; imputation fills it as predict does.
                nan = g.node("IsNaN", [value], g.unique(f"{name}_missing"))
                fill = g.constant(f"{name}_fill", np.array(float(spec.fill)))
                value = g.node("Where", [nan, fill, value], g.unique(f"{name}_filled"))
            # In float64, then rounded once to the network's dtype, exactly as predict does.
            shifted = g.node("Sub", [value, g.constant(f"{name}_mean", np.array(spec.mean))], g.unique(f"{name}_sub"))
            scaled = g.node("Div", [shifted, g.constant(f"{name}_scale", np.array(spec.scale))], g.unique(f"{name}_z"))
            blocks.append(g.node("Cast", [scaled], g.unique(f"{name}_input"), to=to_net))
            continue
        inputs.append(helper.make_tensor_value_info(name, TensorProto.STRING, ["N", 1]))
        # Category → its index; a missing cell → the fill's index (or −1 without imputation); unseen → −1.
        keys = list(spec.categories)
        values = list(range(len(keys)))
        fill_code = spec.categories.index(str(spec.fill)) if spec.fill is not None else -1
        for token in tokens:
            if token not in spec.categories:
                keys.append(token)
                values.append(fill_code)
        codes = g.node(
            "LabelEncoder",
            [name],
            g.unique(f"{name}_code"),
            domain=_ML_DOMAIN,
            keys_strings=keys,
            values_int64s=values,
            default_int64=-1,
        )
        indices = g.constant(f"{name}_categories", np.arange(spec.width, dtype=np.int64))
        hot = g.node("Equal", [codes, indices], g.unique(f"{name}_is"))
        blocks.append(g.node("Cast", [hot], g.unique(f"{name}_onehot"), to=to_net))
    x = g.node("Concat", blocks, g.unique("network_input"), axis=1) if len(blocks) > 1 else blocks[0]
    return inputs, x


def tabular_to_onnx(
    net: Network,
    pre: Preprocessor,
    *,
    layout: Literal["matrix", "columns"] = "matrix",
    fold: bool = True,
    opset: int | None = None,
    name: str | None = None,
) -> tuple[onnx.ModelProto, TabularExport]:
    """The ONNX model of a model trained by ``backprop train``: its preprocessing, network and head.

    The graph computes what ``backprop predict`` computes: labels and
    probabilities (classifiers) or the target in its own units (regressors).

    Parameters
    ----------
    net : Network
        The trained network, taking ``pre.n_inputs`` inputs.
    pre : Preprocessor
        The preprocessing stored with it (``metadata["preprocessing"]``).
    layout : {"matrix", "columns"}
        ``"matrix"``: one input ``X`` of shape ``(N, n_inputs)``, numeric
        columns raw and one-hot columns encoded by the caller. Numeric
        imputation (NaN → the fill) is in the graph; a categorical column with
        a fill is not expressible and raises. ``X`` is in the network's dtype
        when the standardisation folds into the first layer without changing
        ``predict``'s results on a sample of :data:`PARITY_ROWS` rows, and
        float64 with an explicit ``(x − mean) / scale`` otherwise (a column
        with a large offset, e.g. Unix timestamps).
        ``"columns"``: one input per table column, shape ``(N, 1)``, as
        skl2onnx gives a ColumnTransformer: float64 for numeric columns (NaN
        for missing), string for categorical ones (``""``, ``NA``, ``NaN``
        … for missing; values without surrounding spaces). Imputation,
        one-hot encoding (an unseen category gives zeros) and standardisation
        are all in the graph.
    fold : bool
        ``False`` (matrix layout only): ``X`` takes standardised values, as
        ``backprop inspect`` shows them, and the network is unchanged.
    opset : int, optional
        The ONNX operator set; default :data:`DEFAULT_OPSET`.
    name : str, optional
        The graph's name; default ``"backprop_model"``.

    Returns
    -------
    model : onnx.ModelProto
        Outputs ``label`` ``(N,)`` and ``probabilities`` ``(N, n_classes)``,
        or ``variable`` ``(N, 1)``, in the network's dtype.
    info : TabularExport
        The inputs, their types and whether the standardisation was folded.

    Raises
    ------
    ParameterError
        The preprocessing does not match the network, the layout cannot
        express it (the message says what), or an argument is invalid.
    DataError, MissingDependencyError
        As for :func:`to_onnx`.
    """
    if layout not in ("matrix", "columns"):
        raise ParameterError(f"layout must be 'matrix' or 'columns', got layout={layout!r}")
    if layout == "columns" and not fold:
        raise ParameterError(
            "fold=False gives a matrix X of standardised values; the 'columns' layout takes raw values and "
            "standardises them in float64 in the graph, so it has nothing to fold"
        )
    if name is not None and (not isinstance(name, str) or not name):
        raise ParameterError(f"name must be a non-empty string, got name={name!r}")
    if pre.n_inputs != net.n_inputs:
        raise ParameterError(f"the preprocessing gives {pre.n_inputs} inputs but the network takes {net.n_inputs}")
    _check_exportable(net)
    onnx_module = _require("onnx")
    from onnx import TensorProto, helper

    opset = _check_opset(opset, onnx_module.defs.onnx_opset_version())
    dtype = net.dtype
    float_type = _tensor_type(dtype)
    classes = _label_values(pre.classes, "the model") if pre.task == "classification" else None
    if classes is not None and net.n_outputs != len(classes) and not (net.n_outputs == 1 and len(classes) == 2):
        raise ParameterError(f"the model has {len(classes)} classes but its network has {net.n_outputs} outputs")
    output_names = ["label", "probabilities"] if classes is not None else ["variable"]
    type_names = {TensorProto.FLOAT: "float", TensorProto.DOUBLE: "double", TensorProto.STRING: "string"}
    uses_ml = False
    network, folded, standardized, parity_error = net, False, False, None
    if layout == "columns":
        clash = sorted(set(output_names) & {spec.name for spec in pre.features})
        if clash:
            raise ParameterError(
                f"column {clash[0]!r} has the name of an output of the graph {output_names}; rename the column and "
                "retrain, or export with the matrix layout"
            )
        g = _ProtoGraph(reserved=[*output_names, *(spec.name for spec in pre.features)])
        inputs, x = _emit_columns(g, net, pre)
        uses_ml = any(spec.kind == "categorical" for spec in pre.features)
        names = [spec.name for spec in pre.features]
    else:
        for spec in pre.features:
            if spec.kind == "categorical" and spec.fill is not None:
                raise ParameterError(
                    f"column {spec.name!r} is filled with {spec.fill!r} when missing, which the one-hot columns of "
                    "a matrix input cannot express; export with one input per column (layout 'columns', "
                    "`backprop export --inputs columns`), which includes the imputation"
                )
        mean, scale = _standardization(pre, net.n_inputs)
        x_dtype = dtype
        trivial = not np.any(mean != 0) and not np.any(scale != 1)
        if fold and not trivial:
            candidate = _fold(net, mean, scale)
            if candidate is not None:
                error, baseline = _folding_error(net, candidate, mean, scale, _parity_sample(pre, net.n_inputs))
                # Folding holds where it adds no more than the rounding predict's own path has.
                scale_of_outputs = max(1.0, float(np.abs(net.predict(np.zeros((1, net.n_inputs), dtype))).max()))
                if error <= max(4.0 * baseline, 1e-6 * scale_of_outputs):
                    network, folded = candidate, True
                else:
                    parity_error = error
            if not folded:
                x_dtype = np.dtype(np.float64)  # the raw values need float64 to be standardised as predict does
        standardized = not fold
        g = _ProtoGraph(reserved=["X", *output_names])
        inputs = [helper.make_tensor_value_info("X", _tensor_type(x_dtype), ["N", net.n_inputs])]
        x = "X"
        fills = np.array(
            [spec.fill is not None and spec.kind == "numeric" for spec in pre.features for _ in range(spec.width)]
        )
        if fills.any():
            fill = np.zeros(net.n_inputs)
            start = 0
            for spec in pre.features:
                if spec.kind == "numeric" and spec.fill is not None:
                    fill[start] = float(spec.fill) if fold else (float(spec.fill) - spec.mean) / spec.scale
                start += spec.width
            nan = g.node("IsNaN", [x], g.unique("X_nan"))
            missing = g.node("And", [nan, g.constant("imputed", fills)], g.unique("X_missing"))
            x = g.node("Where", [missing, g.constant("fill", fill.astype(x_dtype)), x], g.unique("X_filled"))
        if fold and not folded and not trivial:
            shifted = g.node("Sub", [x, g.constant("mean", mean)], g.unique("X_sub"))
            x = g.node("Div", [shifted, g.constant("scale", scale)], g.unique("X_standardized"))
        if x_dtype != dtype:
            x = g.node("Cast", [x], g.unique("X_cast"), to=float_type)
        names = list(pre.input_names)
    outputs: list[onnx.ValueInfoProto]
    if classes is not None:
        label_type = TensorProto.STRING if classes.dtype == object else TensorProto.INT64
        outputs = [
            helper.make_tensor_value_info("label", label_type, ["N"]),
            helper.make_tensor_value_info("probabilities", float_type, ["N", max(2, net.n_outputs)]),
        ]
    else:
        outputs = [helper.make_tensor_value_info("variable", float_type, ["N", net.n_outputs])]
    _emit_tabular_head(g, network, pre, x, output_names, classes)
    graph = helper.make_graph(
        g.nodes, name or "backprop_model", inputs, outputs, initializer=g.initializers, doc_string=repr(net)
    )
    opsets = [helper.make_opsetid("", opset)]
    if uses_ml:
        opsets.append(helper.make_opsetid(_ML_DOMAIN, _ML_OPSET))
    model = helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="backprop",
        producer_version=__version__,
    )
    input_types = {i.name: type_names[i.type.tensor_type.elem_type] for i in inputs}
    info = TabularExport(layout, names, input_types, output_names, folded, standardized, parity_error)
    return model, info


def export_tabular(
    net: Network,
    pre: Preprocessor,
    path: str | os.PathLike[str],
    *,
    layout: Literal["matrix", "columns"] = "matrix",
    fold: bool = True,
    opset: int | None = None,
    name: str | None = None,
) -> TabularExport:
    """Write the ONNX model of :func:`tabular_to_onnx` to ``path``, atomically as :func:`export_onnx` does.

    Returns
    -------
    TabularExport
        The inputs, their types and whether the standardisation was folded.
    """
    model, info = tabular_to_onnx(net, pre, layout=layout, fold=fold, opset=opset, name=name)
    atomic_write(path, model.SerializeToString())
    return info


# ---------------------------------------------------------------- skl2onnx


def _io_dtype(variable_type: Any) -> np.dtype[Any]:
    """float64 for a skl2onnx double tensor, float32 for anything else (as skl2onnx's converters do)."""
    from onnx import TensorProto

    data_types = importlib.import_module("skl2onnx.common.data_types")
    double = data_types.guess_proto_type(variable_type) == TensorProto.DOUBLE
    return np.dtype(np.float64 if double else np.float32)


def _check_operator(operator: Any, n_outputs: int) -> _Target:
    utils = importlib.import_module("skl2onnx.common.utils")
    utils.check_input_and_output_numbers(operator, input_count_range=1, output_count_range=n_outputs)
    target = _describe(operator.raw_operator)
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


def _with_skl2onnx_classes(target: _Target, scope: Any, estimator: Any) -> _Target:
    """The target with the labels skl2onnx asks for: ``classes_``, or ``0 … n − 1`` with option ``nocl``."""
    if target.kind != "classifier" or target.multilabel:
        return target
    classifier_utils = importlib.import_module("skl2onnx.common.utils_classifier")
    labels = classifier_utils.get_label_classes(scope, estimator)
    return dataclasses.replace(target, classes=_label_values(labels, type(estimator).__name__))


def _classifier_shapes(operator: Any) -> None:
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


def _regressor_shapes(operator: Any) -> None:
    """skl2onnx shape calculator: ``variable`` ``(N, n_outputs)``."""
    target = _check_operator(operator, 1)
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].set_type(_float_tensor_type(_io_dtype(operator.inputs[0].type), [n, target.net.n_outputs]))


def _convert(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter for both estimators: the graph of :func:`to_onnx` inside the pipeline's."""
    target = _with_skl2onnx_classes(_describe(operator.raw_operator), scope, operator.raw_operator)
    opset = container.target_opset
    if opset is not None and opset < MIN_OPSET:
        raise ParameterError(f"backprop's ONNX converter needs target_opset >= {MIN_OPSET}, got {opset}")
    g = _Skl2OnnxGraph(scope, container)
    variable = operator.inputs[0]
    io_dtype = _io_dtype(variable.type)
    x = variable.full_name
    if _tensor_type(io_dtype) != variable.type.to_onnx_type().tensor_type.elem_type:
        x = g.node("Cast", [x], g.unique("X_float"), to=_tensor_type(io_dtype))
    _emit(g, target, x, [output.full_name for output in operator.outputs], io_dtype)


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
    skl2onnx = _require("skl2onnx")
    if classifier is None or regressor is None:
        try:
            estimators = importlib.import_module("backprop.sklearn")
        except ImportError as exc:
            raise MissingDependencyError(
                f"registering backprop's estimators with skl2onnx needs backprop.sklearn, which could not be "
                f"imported ({exc}); install it with: pip install 'backprop[sklearn,onnx]'"
            ) from exc
        classifier = classifier or estimators.MLPClassifier
        regressor = regressor or estimators.MLPRegressor
    skl2onnx.update_registered_converter(
        classifier,
        "BackpropMLPClassifier",
        _classifier_shapes,
        _convert,
        options={"zipmap": [True, False, "columns"], "nocl": [False, True], "output_class_labels": [False, True]},
    )
    skl2onnx.update_registered_converter(regressor, "BackpropMLPRegressor", _regressor_shapes, _convert)


__all__ = [
    "DEFAULT_OPSET",
    "MIN_OPSET",
    "PARITY_ROWS",
    "SUPPORTED_ACTIVATIONS",
    "TabularExport",
    "export_onnx",
    "export_tabular",
    "register_skl2onnx",
    "tabular_to_onnx",
    "to_onnx",
]
