"""A model of ``backprop train`` to ONNX: :func:`tabular_to_onnx` and :func:`export_tabular`.

The network with its :class:`~backprop.tabular.Preprocessor`: one matrix
input with the standardisation folded into the first layer where a sample
shows that this keeps ``predict``'s results, or one input per table column
with imputation, one-hot encoding and standardisation in the graph, and the
head ``backprop predict`` applies to the outputs. Imports the graph builder
of :mod:`backprop.onnx.export`, :func:`backprop.io.atomic_write` and the
public names of :mod:`backprop.tabular`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from .. import __version__
from ..activations import Softmax
from ..errors import DataError, ParameterError
from ..io import atomic_write
from ..network import Network
from .export import ProtoGraph, check_exportable, check_opset, emit_network, label_values, require, scalar, tensor_type

if TYPE_CHECKING:
    import onnx

    from ..tabular import Preprocessor

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
    g: ProtoGraph, net: Network, pre: Preprocessor, x: str, outputs: Sequence[str], classes: NDArray[Any] | None
) -> None:
    """The network from ``x`` (its dtype) and what ``backprop predict`` makes of its outputs."""
    dtype = net.dtype
    if classes is None:
        (variable,) = outputs
        target = pre.target
        if target.scale == 1.0 and target.mean == 0.0:
            emit_network(g, net, x, variable)
            return
        # The target in its own units, as predict prints it: ŷ s + m.
        y = g.unique("scaled_variable")
        emit_network(g, net, x, y)
        scaled = g.node("Mul", [y, scalar(g, "target_scale", target.scale, dtype)], g.unique("variable_times_scale"))
        g.node("Add", [scaled, scalar(g, "target_mean", target.mean, dtype)], variable)
        return
    label, proba = outputs
    output = g.unique("network_output")
    emit_network(g, net, x, output)
    int64 = tensor_type(np.dtype(np.int64))
    classes_name = g.constant("classes", classes)
    if net.n_outputs == 1:
        # p of the second class; predict's rule p >= 0.5, ties included.
        complement = g.node("Sub", [scalar(g, "one", 1.0, dtype), output], g.unique("negative_probability"))
        g.node("Concat", [complement, output], proba, axis=1)
        above = g.node("GreaterOrEqual", [output, scalar(g, "half", 0.5, dtype)], g.unique("positive"))
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
    positive = g.node("Greater", [total, scalar(g, "zero", 0.0, dtype)], g.unique("total_positive"))
    uniform = scalar(g, "uniform", 1.0 / net.n_outputs, dtype)
    g.node("Where", [positive, ratio, uniform], proba)


def _missing_tokens() -> list[str]:
    """The cells ``backprop predict`` reads as missing, in their usual spellings (it ignores case)."""
    from ..tabular import MISSING

    tokens: set[str] = set()
    for token in MISSING:
        tokens.update({token, token.upper(), token.capitalize(), token.title()})
    tokens.update({"NaN", "-NaN", "N/a"})
    return sorted(tokens)


def _emit_columns(g: ProtoGraph, net: Network, pre: Preprocessor) -> tuple[list[Any], str]:
    """One input per column, the whole preprocessing of ``predict``; returns the inputs and the network's input."""
    from onnx import TensorProto, helper

    dtype = net.dtype
    to_net = tensor_type(dtype)
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
    dates = [spec.name for spec in pre.features if spec.dates]
    if layout == "columns" and dates:
        raise ParameterError(
            f"column {dates[0]!r} holds dates, which an ONNX input of numbers or strings cannot take as they are; "
            "export with the matrix layout (`--inputs matrix`), whose input is the days since 1970-01-01"
        )
    check_exportable(net)
    onnx_module = require("onnx")
    from onnx import TensorProto, helper

    opset = check_opset(opset, onnx_module.defs.onnx_opset_version())
    dtype = net.dtype
    float_type = tensor_type(dtype)
    classes = label_values(pre.classes, "the model") if pre.task == "classification" else None
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
        g = ProtoGraph(reserved=[*output_names, *(spec.name for spec in pre.features)])
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
        g = ProtoGraph(reserved=["X", *output_names])
        inputs = [helper.make_tensor_value_info("X", tensor_type(x_dtype), ["N", net.n_inputs])]
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
