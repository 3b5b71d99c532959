"""``backprop plot``: a picture of a model file or a JSON history (:mod:`backprop.plotting`, needs matplotlib).

Imports click, numpy and the CLI's shared modules.
"""

from __future__ import annotations

import json
import os
from typing import cast

import click
import numpy as np
from numpy.typing import NDArray

from ..errors import DataError
from ..heads import Model, evaluate_model, load_any_model
from ..metrics import DENSE_CLASSES
from ..network import Network
from ..tabular import iter_tables, parse_numbers
from ._common import (
    check_data_argument,
    one_line,
    option_header,
    option_json,
    option_threads,
    plotting_module,
    print_json,
    print_text,
    reports_errors,
)
from ._files import check_inputs, distinct_files, ensure_folder
from ._report import diagram_names

PLOT_KINDS = ("loss", "metric", "grad-norms", "network", "confusion", "boundary")


def _history_source(path: str) -> tuple[Model | None, Network | None, dict[str, list[float]]]:
    """A model file (with its history) or a JSON history file."""
    if path.endswith(".json"):
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path} is not a readable JSON history: {one_line(exc)}") from None
        history = document.get("history", document) if isinstance(document, dict) else None
        if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
            raise DataError(f'{path}: expected a JSON object of lists such as {{"loss": [...], "val_loss": [...]}}')
        return None, None, {str(k): [float(x) for x in v if isinstance(x, int | float)] for k, v in history.items()}
    model, net, metadata = load_any_model(path)
    if model is None:
        history = metadata.get("history") if isinstance(metadata.get("history"), dict) else {}
        return None, net, {str(k): [float(x) for x in v if x is not None] for k, v in (history or {}).items()}
    raw = model.metadata.get("history")
    history = {str(k): [float(x) for x in v if x is not None] for k, v in raw.items()} if isinstance(raw, dict) else {}
    return model, model.net, history


@click.command(name="plot")
@click.argument("source", type=click.Path(exists=True, dir_okay=False), metavar="MODEL|HISTORY")
@click.option("--kind", type=click.Choice(PLOT_KINDS), required=True, help="Which picture.")
@click.option("--data", default=None, help="Data for --kind confusion and boundary.")
@click.option("--output", "-o", "output_path", default=None, help="The image file [default: MODEL-KIND.png].")
@option_header
@option_json
@option_threads("the BLAS's own setting")
@reports_errors
def plot(source: str, kind: str, data: str | None, output_path: str | None, header: bool | None, as_json: bool) -> None:
    """Draw a picture of MODEL (a model file) or HISTORY (a JSON file of per-epoch lists).

    \b
    loss, metric   training and validation curves
    grad-norms     each layer's gradient norm per epoch (vanishing gradients)
    network        the network, edges coloured by sign, width by magnitude
    confusion      the confusion matrix on --data
    boundary       the decision boundary over --data (two numeric features)
    """
    if kind in ("confusion", "boundary") and data is None:
        raise click.UsageError(f"--kind {kind} needs --data DATA")
    usage = "backprop plot MODEL|HISTORY --kind KIND [--data DATA]"
    if data is not None:
        check_data_argument(data, source, model_role="MODEL|HISTORY", data_role="--data", history=True, usage=usage)
    else:
        check_inputs(source, model_role="MODEL|HISTORY", history=True, usage=usage)
    plotting = plotting_module()
    model, net, history = _history_source(source)
    if output_path is None:
        output_path = f"{os.path.splitext(source)[0]}-{kind}.png"
    distinct_files({"MODEL|HISTORY": source, "--data": data}, {"--output": output_path})
    if kind in ("loss", "metric", "grad-norms"):
        if not history:
            raise DataError(f"{source} holds no training history")
        if kind == "loss":
            part = {k: v for k, v in history.items() if k in ("loss", "val_loss")}
            figure = plotting.plot_history(part)
        elif kind == "metric":
            figures = plotting.history_figures(history)
            if len(figures) < 2:
                raise DataError(f"{source} has no accuracy or R² history")
            figure = figures[1]
        else:
            part = {k: v for k, v in history.items() if k.startswith("grad_norm_")}
            if not part:
                raise DataError(f"{source} has no gradient norms in its history")
            figure = plotting.plot_gradient_norms(part)
    elif kind == "network":
        if net is None:
            raise click.UsageError("--kind network needs a model file, not a history")
        names = {} if model is None else diagram_names(model.pre, net.n_outputs)
        figure = plotting.plot_network(net, names.get("input_names"), names.get("output_names"))
    else:
        if model is None:
            raise click.UsageError(f"--kind {kind} needs a model file written by `backprop train`")
        if model.head.task != "classification":
            raise DataError(f"--kind {kind} is for classifiers; {source} predicts numbers")
        data = cast(str, data)  # checked above: these kinds need DATA
        labels = [str(c) for c in model.pre.classes]
        if kind == "confusion":
            metrics, _ = evaluate_model(model, data, header=header)
            confusion = metrics["confusion_matrix"]
            if "matrix" not in confusion:
                raise DataError(
                    f"{data} holds {len(confusion['labels']):,} classes of {source}, too many to draw "
                    f"(at most {DENSE_CLASSES:,}); `backprop evaluate --json` lists the confusions"
                )
            matrix = np.array(confusion["matrix"], dtype=np.int64)
            figure = plotting.plot_confusion_matrix(matrix, [str(c) for c in confusion["labels"]])
        else:
            features = model.pre.features
            if len(features) != 2 or any(f.kind != "numeric" for f in features):
                raise DataError(
                    f"--kind boundary needs a model of two numeric features; {source} has {len(features)} "
                    f"({', '.join(f.name for f in features[:6])})"
                )
            points, classes = _raw_points(model, data, header)
            figure = plotting.plot_decision_boundary(
                model.net,
                points,
                classes,
                transform=model.pre.numeric_transform,
                labels=labels,
                axes=[feature.name for feature in features],
            )
    ensure_folder(output_path)
    plotting.save_figure(figure, output_path)
    if as_json:
        print_json({"output": output_path, "kind": kind})
    else:
        print_text(f"wrote {output_path}")


def _raw_points(model: Model, data: str, header: bool | None) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    points: list[NDArray[np.float64]] = []
    classes: list[NDArray[np.int64]] = []
    for frame in iter_tables(data, header=header):
        if frame.n_rows == 0:
            continue
        y, missing = model.pre.targets(frame)
        columns = [parse_numbers(frame.column(f.name), frame.decimal_comma) for f in model.pre.features]
        ok = ~missing
        for parsed in columns:
            ok &= ~parsed.missing
        points.append(np.column_stack([p.values for p in columns])[ok])
        classes.append(y[ok].astype(np.int64))
    if not points or not sum(len(p) for p in points):
        raise DataError(f"{data} has no complete rows to draw")
    return np.concatenate(points), np.concatenate(classes)
