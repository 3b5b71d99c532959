"""Metrics on the terminal: the tables of ``train``, ``evaluate`` and ``demo``.

The metrics themselves come from :mod:`backprop.metrics` (as
``evaluate --json`` prints them); past :data:`TABLE_CLASSES` classes the
per-class table and the confusion matrix are summarized.

Imports numpy, rich and :mod:`backprop._terminal`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.table import Table
from rich.text import Text

from .. import _terminal
from ._common import console, print_text

#: Per-class tables and confusion matrices of more classes than this are summarized on the terminal.
TABLE_CLASSES = 20


def _metrics_table(metrics: Mapping[str, Any], loss_name: str) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("rows", str(metrics["rows"]))
    table.add_row(f"loss ({loss_name})", f"{metrics['loss']:.6g}")
    for key, label in (
        ("accuracy", "accuracy"),
        ("macro_f1", "macro F1"),
        ("r2", "R²"),
        ("mae", "MAE"),
        ("rmse", "RMSE"),
    ):
        if key in metrics:
            table.add_row(label, f"{metrics[key]:.4f}")
    return table


def _per_class_table(rows: Sequence[Mapping[str, Any]], title: str = "per class") -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("class", "precision", "recall", "F1", "support"):
        table.add_column(name, justify="left" if name == "class" else "right")
    for row in rows:
        table.add_row(
            _terminal.text(row["class"]),
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
        )
    return table


def confusion_table(matrix: NDArray[np.int64], labels: Sequence[Any]) -> Table:
    """The confusion matrix, rows true classes, columns predicted ones, the diagonal in bold."""
    table = Table(title="confusion matrix", title_justify="left")
    table.add_column("true \\ predicted")
    for label in labels:
        table.add_column(_terminal.text(label), justify="right")
    for i, label in enumerate(labels):
        cells = [Text(str(v), style="bold" if i == j and v else "") for j, v in enumerate(matrix[i].tolist())]
        table.add_row(_terminal.text(label), *cells)
    return table


def _confusion_cells(confusion: Mapping[str, Any]) -> NDArray[np.int64]:
    """``[row, column, count]`` of the nonzero cells of a confusion matrix as ``confusion_json`` gives it."""
    if "cells" in confusion:
        return np.asarray(confusion["cells"], dtype=np.int64).reshape(-1, 3)
    matrix = np.asarray(confusion["matrix"], dtype=np.int64)
    rows, columns = np.nonzero(matrix)
    return np.column_stack([rows, columns, matrix[rows, columns]])


def _confusions_table(confusion: Mapping[str, Any], limit: int = TABLE_CLASSES) -> tuple[Table, int]:
    """The most frequent confusions (true class predicted as another), and how many others were left out."""
    cells = _confusion_cells(confusion)
    labels = confusion["labels"]
    support = np.bincount(cells[:, 0], weights=cells[:, 2], minlength=len(labels))
    wrong = cells[cells[:, 0] != cells[:, 1]]
    order = np.lexsort((wrong[:, 1], wrong[:, 0], -wrong[:, 2]))  # the most rows first, then by class
    table = Table(title=f"most frequent confusions, of {len(labels):,} classes", title_justify="left")
    for name in ("true", "predicted", "rows", "% of true"):
        table.add_column(name, justify="left" if name in ("true", "predicted") else "right")
    for true, predicted, count in wrong[order[:limit]].tolist():
        share = 100.0 * count / support[true] if support[true] else 0.0
        table.add_row(_terminal.text(labels[true]), _terminal.text(labels[predicted]), str(count), f"{share:.1f}")
    return table, max(0, len(wrong) - limit)


def never_predicted(metrics: Mapping[str, Any]) -> list[tuple[Any, int]]:
    """The classes of the rows scored that the model never predicted, with their rows, the most rows first.

    Empty for regression metrics. Read from the confusion matrix (its predicted columns).
    """
    confusion = metrics.get("confusion_matrix")
    if not isinstance(confusion, Mapping):
        return []
    cells, labels = _confusion_cells(confusion), confusion["labels"]
    support = np.bincount(cells[:, 0], weights=cells[:, 2], minlength=len(labels)).astype(np.int64)
    predicted = np.bincount(cells[:, 1], weights=cells[:, 2], minlength=len(labels))
    missed = np.flatnonzero((support > 0) & (predicted == 0))
    order = missed[np.argsort(-support[missed], kind="stable")]
    return [(labels[i], int(support[i])) for i in order.tolist()]


def never_predicted_notes(metrics: Mapping[str, Any], hint: str | None, limit: int = 3) -> list[str]:
    """``note: class 'sun' (12 test rows) was never predicted; HINT``: a line per class, or past ``limit``
    classes one line naming the ``limit`` with the most rows."""
    missed = never_predicted(metrics)
    rows = [f"{str(label)!r} ({n} test row{'s' if n != 1 else ''})" for label, n in missed]
    if len(missed) > limit:
        lines = [f"note: {len(missed):,} classes were never predicted, among them {', '.join(rows[:limit])}"]
    else:
        lines = [f"note: class {row} was never predicted" for row in rows]
    if lines and hint:
        lines[-1] += f"; {hint}"
    return lines


def print_metrics(metrics: Mapping[str, Any], loss_name: str) -> None:
    """The metrics table, then per class and the confusions (summarized past :data:`TABLE_CLASSES` classes)."""
    console.print(_metrics_table(metrics, loss_name))
    if "per_class" not in metrics:
        return
    # Thousands of classes make tables no one reads, and printing them took minutes: summarized.
    rows = metrics["per_class"]
    if len(rows) <= TABLE_CLASSES:
        console.print(_per_class_table(rows))
    else:
        present = [row for row in rows if row["support"]] or list(rows)
        worst = sorted(present, key=lambda row: (row["recall"], -row["support"]))[:TABLE_CLASSES]
        console.print(_per_class_table(worst, title=f"per class: the {len(worst)} with the lowest recall"))
        print_text(f"({len(rows) - len(worst):,} of {len(rows):,} classes not shown; --json lists them all)")
    confusion = metrics["confusion_matrix"]
    if "matrix" in confusion and len(confusion["labels"]) <= TABLE_CLASSES:
        console.print(confusion_table(np.array(confusion["matrix"], dtype=np.int64), confusion["labels"]))
        return
    table, left_out = _confusions_table(confusion)
    if table.row_count:
        console.print(table)
    else:
        print_text("no confusions: every row was predicted right")
    print_text(
        (f"({left_out:,} other confusions not shown; " if left_out else "(")
        + f"the confusion matrix of {len(confusion['labels']):,} classes is in --json)"
    )
