"""``backprop export``: a model file as an ONNX graph (:mod:`backprop.onnx`, imported when it runs).

Imports click and the CLI's shared modules.
"""

from __future__ import annotations

from typing import Any, cast

import click

from ..heads import load_any_model
from ._common import option_json, print_json, print_line, print_text, reports_errors
from ._files import check_inputs, distinct_files, ensure_folder


@click.command(name="export")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--onnx", "onnx_path", required=True, help="The ONNX file to write.")
@click.option(
    "--inputs",
    "layout",
    type=click.Choice(["matrix", "columns"]),
    default="matrix",
    show_default=True,
    help="matrix: one input X (numbers, one-hot columns encoded by you); "
    "columns: one input per column (float64 or string), with imputation and one-hot in the graph.",
)
@click.option(
    "--fold/--no-fold",
    default=True,
    show_default=True,
    help="Fold the standardisation into the weights, so the graph takes raw numbers.",
)
@option_json
@reports_errors
def export(model: str, onnx_path: str, layout: str, fold: bool, as_json: bool) -> None:
    """Write MODEL as an ONNX graph (needs the onnx extra: pip install 'backprop[onnx]').

    With --inputs matrix the graph's input X holds one column per network
    input, in the order `backprop inspect` lists them: numeric columns as
    they are (with --fold; NaN where missing if the model imputes), then 0/1
    for each category of a one-hot column. X is float64 when folding the
    standardisation into float32 weights would change the predictions.
    With --inputs columns the graph has one input per column, as skl2onnx
    gives a ColumnTransformer. Classifiers output label and probabilities;
    regressors variable, in the target's units.
    """
    check_inputs(model, usage="backprop export MODEL --onnx FILE")
    from ..onnx import export_onnx, export_tabular

    distinct_files({"MODEL": model}, {"--onnx": onnx_path})
    loaded, net, _metadata = load_any_model(model)
    ensure_folder(onnx_path)
    if loaded is None:
        export_onnx(net, onnx_path)
        inputs, types, outputs = [f"x{j}" for j in range(net.n_inputs)], {"X": net.dtype.name}, ["Y"]
        folded, parity_error = False, None
    else:
        info = export_tabular(loaded.net, loaded.pre, onnx_path, layout=cast(Any, layout), fold=fold)
        inputs, types, outputs = info.inputs, info.input_types, info.outputs
        folded, parity_error = info.folded, info.parity_error
    if as_json:
        document = {"onnx": onnx_path, "layout": layout, "inputs": inputs, "input_types": types, "outputs": outputs}
        print_json({**document, "folded": folded})
        return
    if layout == "columns" and loaded is not None:
        shown = ", ".join(f"{name} ({types[name]})" for name in inputs[:20])
        print_text(f"wrote {onnx_path}: one input per column, outputs {', '.join(outputs)}")
        print_text(f"inputs: {shown}{', ...' if len(inputs) > 20 else ''}")
        return
    print_text(f"wrote {onnx_path}: input X ({types['X']}) with {len(inputs)} columns, outputs {', '.join(outputs)}")
    print_line(f"columns of X: {', '.join(inputs[:20])}{', ...' if len(inputs) > 20 else ''}")
    if loaded is not None and not fold:
        print_text("the inputs are standardized as `backprop inspect` shows (--no-fold)")
    if loaded is not None and parity_error is not None:
        print_text(
            f"the standardisation is computed in the graph in float64: folded into {loaded.net.dtype.name} weights "
            f"it changed the outputs by up to {parity_error:.3g} on a sample"
        )
