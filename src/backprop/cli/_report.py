"""The files a finished ``train`` or ``demo`` run writes: the model file and the HTML report.

:func:`write_outputs` saves the model (and the report) atomically;
:func:`write_report` lays a run out for :func:`backprop.report.write_report`
(data summary, hyper-parameters, metrics, decision boundary, one step
explained); :func:`data_summary` also feeds ``train --json``.

Imports numpy and the library's public names (matplotlib only when a report is written).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import BackpropError, SaveError
from ..explain import Trace, explain
from ..pipeline import TrainResult, flat_metrics, model_metadata
from ..tabular import Preprocessor, parse_numbers
from ._common import report_module
from ._files import ensure_folder


def write_outputs(result: TrainResult, out: str, report: str | None, title: str | None = None) -> None:
    """Save the model file (and the report) of a finished run, atomically."""
    from ..io import save

    ensure_folder(out)
    try:
        save(result.net, out, metadata=model_metadata(result))
    except SaveError as exc:
        # Training is done but its result is lost: say so, and how to keep the next one.
        error = SaveError(f"{exc}; the newly trained model was not saved (train again with another --out)")
        error.errno = exc.errno
        raise error from exc
    if report is not None:
        ensure_folder(report)
        write_report(result, report, title=title or f"backprop: {result.options.data}")


def write_report(result: TrainResult, path: str, title: str) -> None:
    """``report.html`` of a run, through :func:`backprop.report.write_report`."""
    report = report_module()
    test = result.test or {}
    confusion = None
    if "matrix" in test.get("confusion_matrix", {}):  # not past DENSE_CLASSES classes
        confusion = (
            np.array(test["confusion_matrix"]["matrix"], dtype=np.int64),
            [str(c) for c in test["confusion_matrix"]["labels"]],
        )
    points = _boundary_points(result)
    report.write_report(
        path,
        net=result.net,
        history=result.history.history,
        metrics=_report_metrics(test),
        data_summary=data_summary(result),
        hyperparameters=_hyperparameters(result),
        confusion=confusion,
        per_class=test.get("per_class"),
        points=points,
        transform=result.pre.numeric_transform if points is not None else None,
        trace=_sample_trace(result),
        title=title,
        **diagram_names(result.pre, result.net.n_outputs),
        explanations=_explanations(result),
    )


#: Test rows whose predictions the report explains.
EXPLAINED_ROWS = 3


def _explanations(result: TrainResult) -> list[dict[str, Any]] | None:
    """Why the first few test rows were predicted as they were (tables in memory; None out of core)."""
    from ..attribution import explain_table_rows

    test_rows = result.prepared.rows_test[:EXPLAINED_ROWS]
    if result.frame is None or not len(test_rows):
        return None
    try:
        rows = explain_table_rows(result.net, result.pre, result.head, result.frame, rows=test_rows)
    except BackpropError:  # e.g. a gradient that overflows: the report goes on without this section
        return None
    return [row.to_dict() for row in rows]


def diagram_names(pre: Preprocessor, n_outputs: int) -> dict[str, list[str] | None]:
    """The network diagram's ``input_names`` and ``output_names`` in the user's words.

    The inputs are the columns (one-hot inputs ``column=category``); the
    outputs the class labels when there is an output per class (one sigmoid
    output for two classes stays ŷ).
    """
    classes = pre.classes
    outputs = [str(label) for label in classes] if classes and len(classes) == n_outputs else None
    return {"input_names": pre.input_names, "output_names": outputs}


def _hyperparameters(result: TrainResult) -> dict[str, Any]:
    o = result.options
    return {
        "network": "-".join(map(str, result.net.sizes)),
        "hidden activation": o.activation if o.hidden else "(no hidden layer)",
        "output": f"{result.head.units} × {result.head.output}",
        "loss": result.head.loss,
        "optimizer": o.optimizer,
        "learning rate": result.learning_rate,
        "schedule": o.schedule,
        "epochs": f"{len(result.history)} of {o.epochs}" + (" (early stop)" if result.stopped_early else ""),
        "batch size": o.batch_size,
        "validation": o.validation,
        "early stopping": o.early_stopping if o.early_stopping is not None else "off",
        "dropout": o.dropout,
        "l2": o.l2,
        "standardize": o.standardize,
        "impute": o.impute or "off",
        "test size": o.test_size,
        "seed": o.seed,
    }


def data_summary(result: TrainResult) -> dict[str, Any]:
    """What the run was trained on: source, rows, inputs, target, features and classes."""
    pre, prepared = result.pre, result.prepared
    summary: dict[str, Any] = {
        "source": result.options.data,
        "rows": prepared.n_rows,
        "training rows": len(prepared.rows_train),
        "test rows": len(prepared.rows_test),
        "network inputs": pre.n_inputs,
        "target": pre.target.name,
        "task": pre.task,
    }
    numeric = [f.name for f in pre.features if f.kind == "numeric"]
    categorical = [f"{f.name} ({len(f.categories)} categories)" for f in pre.features if f.kind == "categorical"]
    if numeric:
        summary["numeric features"] = _short_list(numeric)
    if categorical:
        summary["categorical features (one-hot)"] = _short_list(categorical)
    if pre.task == "classification":
        summary["classes"] = _short_list([str(c) for c in pre.classes])
    if prepared.n_dropped:
        summary["dropped rows"] = prepared.n_dropped
    return summary


def _short_list(items: Sequence[str], limit: int = 10) -> str:
    """``a, b, c`` or, for long lists, ``a, b, c, d, …, y, z (64 in all)``."""
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:4])}, …, {', '.join(items[-2:])} ({len(items)} in all)"


def _report_metrics(test: Mapping[str, Any]) -> dict[str, int | float]:
    names = {"rows": "test rows", "macro_precision": "macro precision", "macro_recall": "macro recall"}
    names["macro_f1"] = "macro F1"
    return {names.get(k, k): v for k, v in flat_metrics(test).items()}


def _boundary_points(result: TrainResult) -> tuple[NDArray[np.float64], NDArray[np.int64]] | None:
    """Raw 2-D points and classes when the model has exactly two numeric features (for the decision boundary)."""
    pre = result.pre
    if pre.task != "classification" or len(pre.features) != 2 or any(f.kind != "numeric" for f in pre.features):
        return None
    part = result.kept_rows(limit=10_000)  # out of core: a spread of rows read again from the source
    columns = []
    for spec in pre.features:
        parsed = parse_numbers(part.column(spec.name), part.decimal_comma)
        values = parsed.values
        if parsed.missing.any() and isinstance(spec.fill, float):
            values = np.where(parsed.missing, spec.fill, values)
        columns.append(values)
    y, _ = pre.targets(part)
    return np.column_stack(columns), y.astype(np.int64)


def _sample_trace(result: TrainResult) -> Trace | None:
    X = result.prepared.X_test if len(result.prepared.y_test) else result.prepared.X_train
    y = result.prepared.y_test if len(result.prepared.y_test) else result.prepared.y_train
    if not len(y):
        return None
    return explain(
        result.net, X[:1], result.head.targets(y[:1]), learning_rate=result.learning_rate, loss=result.head.loss
    )
