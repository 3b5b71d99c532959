"""One self-contained HTML page about a trained network: data, architecture, training, metrics.

The page needs nothing but itself: figures are embedded as base64 PNG
``data:`` URIs, the CSS is inline, there are no scripts, no web fonts and no
links outside the page, so it opens offline, attaches to an e-mail and
survives being moved. It is laid out for a laptop and for a phone (a
max-width column, images that scale, tables that scroll sideways).

Every string that comes from the caller (title, column names, class labels,
hyperparameter values, ...) is HTML-escaped.

Figures need matplotlib (``pip install 'backprop[plot]'``); without it the
report is still written, with the tables and a note where the figures would be.
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._html import architecture_text
from .errors import BackpropTypeError, MissingDependencyError, ParameterError, ShapeError
from .explain import Trace
from .files import atomic_write
from .layers import Dense, Dropout
from .network import Network, as_network
from .training import History

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Resolution of the raster parts of the embedded SVG figures (the decision regions, the confusion matrix).
FIGURE_DPI = 150
#: Figures with fine detail (diagram, confusion matrix) shrink to no less than this many CSS px on a phone.
DETAIL_MIN_WIDTH = 600
#: The explain trace is shown unfolded up to this many lines of text (or units in the network, for to_html).
TRACE_LINES_OPEN = 90
TRACE_UNITS_OPEN = 40
#: Items of a list shown in a table cell before "… (+N more)".
LIST_ITEMS_SHOWN = 20

_DOCTYPE = re.compile(rb"<!DOCTYPE[^>]*>\s*")
_ACCURACY_LIKE = ("accuracy", "precision", "recall", "f1")
_HEADLINE = ("accuracy", "r2", "f1", "rmse", "mae", "loss")

_CSS = """
:root { color-scheme: light; --fg: #1c2230; --muted: #5a6475; --line: #dfe3ea; --accent: #1f77b4;
  --bg: #f4f6f9; --panel: #ffffff; --code: #f3f4f7; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.page { max-width: 1040px; margin: 0 auto; padding: 28px 20px 48px; }
header h1 { font-size: 1.8rem; line-height: 1.2; margin: 0 0 6px; overflow-wrap: anywhere; }
.summary { color: var(--muted); margin: 0 0 16px; overflow-wrap: anywhere; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin: 0 0 12px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; }
.card .value { display: block; font-size: 1.4rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .label { display: block; color: var(--muted); font-size: .85rem; }
nav { display: flex; flex-wrap: wrap; gap: 2px 16px; font-size: .92rem; line-height: 2; }
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
.page > section { background: var(--panel); border: 1px solid var(--line); border-radius: 12px;
  padding: 18px 22px; margin: 18px 0; }
.page > section > h2 { font-size: 1.3rem; margin: 0 0 12px; }
.page > section > h3 { font-size: 1rem; margin: 22px 0 8px; color: var(--muted); }
p { margin: 8px 0; }
.note { color: var(--muted); font-size: .92rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; max-width: 100%; }
table { border-collapse: collapse; font-size: .93rem; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 14px 6px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; white-space: nowrap; }
td { overflow-wrap: break-word; }
.num { text-align: right; white-space: nowrap; }
tfoot td { font-weight: 600; border-bottom: none; }
table.kv th { color: var(--muted); font-weight: 500; }
table.kv td { overflow-wrap: anywhere; }
figure { margin: 14px 0; min-width: 0; }
figure img { display: block; max-width: 100%; height: auto; }
figure.pan img { max-width: none; }
.swipe { display: none; }
.row { display: flex; flex-wrap: wrap; gap: 0 24px; }
.row > figure { flex: 1 1 380px; margin: 8px 0; }
figcaption { color: var(--muted); font-size: .88rem; margin-top: 4px; }
details { margin: 10px 0; }
summary { cursor: pointer; color: var(--accent); }
pre { background: var(--code); border-radius: 8px; padding: 12px; overflow-x: auto;
  font: .78rem/1.35 ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; }
.trace { overflow-x: auto; }
footer { color: var(--muted); font-size: .85rem; text-align: center; margin-top: 24px; }
@media (max-width: 640px) {
  .page { padding: 14px 10px 32px; }
  header h1 { font-size: 1.4rem; }
  .page > section { padding: 14px 12px; border-radius: 10px; margin: 12px 0; }
  .card .value { font-size: 1.2rem; }
  table { font-size: .88rem; }
  th, td { padding: 5px 10px 5px 0; }
  .detail .swipe, .pan .swipe { display: inline; }
}
"""


# --------------------------------------------------------------------------- formatting


def _e(value: object) -> str:
    """``value`` as escaped HTML text."""
    return html.escape(str(value), quote=True)


def _number(value: float | np.number[Any] | np.bool_) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    number = float(value)
    if math.isnan(number):
        return "—"
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return f"{number:.4g}" if abs(number) >= 1e4 or abs(number) < 1e-3 else f"{number:.4f}".rstrip("0").rstrip(".")


def _text(value: Any) -> str:
    """Any summary or hyperparameter value as short plain text (not yet escaped)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | np.number | np.bool_):
        return _number(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    if isinstance(value, Sequence | set | frozenset):
        items = list(value)
        shown = ", ".join(_text(item) for item in items[:LIST_ITEMS_SHOWN])
        if len(items) > LIST_ITEMS_SHOWN:
            shown += f", … (+{len(items) - LIST_ITEMS_SHOWN:,} more)"
        return shown
    return str(value)


def _metric(name: str, value: Any) -> str:
    """A metric as a person reads it: accuracy-like values in [0, 1] as percentages."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _text(value)
    base = name.lower().removeprefix("test_").removeprefix("val_")
    if base in _ACCURACY_LIKE and 0.0 <= number <= 1.0:
        return f"{100 * number:.2f}%"
    return _number(number)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _kv_table(rows: Mapping[str, Any]) -> str:
    body = "".join(f"<tr><th scope='row'>{_e(k)}</th><td>{_e(_text(v))}</td></tr>" for k, v in rows.items())
    return f"<div class='scroll'><table class='kv'><tbody>{body}</tbody></table></div>"


def _table(header: Sequence[str], rows: Sequence[Sequence[tuple[str, bool]]], footer: str = "") -> str:
    """A table whose cells are ``(escaped html, numeric?)``."""
    head = "".join(f"<th scope='col'>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td class='num'>{c}</td>" if num else f"<td>{c}</td>" for c, num in row) + "</tr>"
        for row in rows
    )
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>{footer}</table></div>"


def _section(anchor: str, title: str, body: str) -> str:
    return f"<section id='{anchor}'><h2>{_e(title)}</h2>{body}</section>"


# --------------------------------------------------------------------------- figures


class _Figures:
    """Renders figures to ``<figure>`` HTML, or to a note when matplotlib is missing."""

    def __init__(self) -> None:
        from . import plotting

        self.plotting = plotting
        try:
            plotting.require_matplotlib()
            self.missing: str | None = None
        except MissingDependencyError:
            self.missing = plotting.INSTALL_HINT

    def embed(self, make: Callable[[], Figure] | Figure, alt: str, caption: str = "", kind: str = "") -> str:
        """A figure (or ``make()``) as an embedded SVG image (base64 ``data:`` URI), in a ``<figure>``.

        ``kind``: "" (shrinks to the column), "detail" (kept at least DETAIL_MIN_WIDTH px
        wide on a phone, swiped sideways) or "pan" (natural size everywhere,
        for diagrams too wide to read shrunk).
        """
        if self.missing is not None:
            return f"<p class='note'>[{_e(alt)}: figures need matplotlib; install it with {_e(self.missing)}]</p>"
        fig = make() if callable(make) else make
        width_in, height_in = fig.get_size_inches()
        svg = self.plotting.render_figure(fig, "svg", FIGURE_DPI)
        # The DOCTYPE names an external DTD that nothing needs: the image refers to nothing outside itself.
        svg = _DOCTYPE.sub(b"", svg, count=1)
        data = base64.b64encode(svg).decode("ascii")
        # Shown at 96 CSS px per inch of figure, shrunk to fit the column unless `kind` says otherwise.
        width, height = round(width_in * 96), round(height_in * 96)
        hint = "<span class='swipe'> Swipe sideways to see all of it.</span>" if kind else ""
        caption_html = f"<figcaption>{caption}{hint}</figcaption>" if caption or hint else ""
        classes = f" class='{kind}'" if kind else ""
        # A detail figure shrinks no further than DETAIL_MIN_WIDTH (or its own width) and scrolls instead.
        style = f" style='min-width: {min(DETAIL_MIN_WIDTH, width)}px'" if kind == "detail" else ""
        return (
            f"<figure{classes}><div class='scroll'><img src='data:image/svg+xml;base64,{data}' "
            f"width='{width}' height='{height}'{style} alt='{_e(alt)}'></div>{caption_html}</figure>"
        )


# --------------------------------------------------------------------------- sections


def _series(history: Mapping[str, Sequence[float]] | History) -> dict[str, list[float]]:
    if isinstance(history, History):
        history = history.history
    if not isinstance(history, Mapping):
        raise BackpropTypeError(f"history must be a History or a mapping of per-epoch lists, got {type(history)}")
    return {str(k): [float("nan") if v is None else float(v) for v in values] for k, values in history.items()}


def _task(
    data_summary: Mapping[str, Any],
    metrics: Mapping[str, Any],
    series: Mapping[str, Sequence[float]],
    confusion: Any,
) -> str:
    task = data_summary.get("task")
    if isinstance(task, str) and task:
        return task
    keys = {k.removeprefix("test_") for k in [*metrics, *series]}
    if confusion is not None or "accuracy" in keys:
        return "classification"
    if keys & {"r2", "mae", "rmse"}:
        return "regression"
    return "model"


def _headline(metrics: Mapping[str, Any]) -> tuple[str, str] | None:
    """The metric the summary leads with, as ``(label, formatted value)``."""
    for base in _HEADLINE:
        for key in (base, f"test_{base}"):
            if key in metrics:
                label = key.replace("_", " ") if key.startswith("test_") else f"test {key}"
                return label.replace("r2", "R²"), _metric(key, metrics[key])
    for key, value in metrics.items():
        return str(key), _metric(str(key), value)
    return None


def _architecture(
    net: Network, figures: _Figures, inputs: Sequence[object] | None, outputs: Sequence[object] | None
) -> str:
    rows: list[list[tuple[str, bool]]] = [
        [("input", False), ("", False), (_number(net.n_inputs), True), ("—", False), ("0", True)]
    ]
    for layer in net.layers:
        if isinstance(layer, Dense):
            kind = "output" if layer is net.layers[-1] else "dense"
            bias = "" if layer.bias else " (no bias)"
            rows.append(
                [
                    (_e(layer.index), False),
                    (_e(kind + bias), False),
                    (_number(layer.units), True),
                    (_e(layer.activation.name), False),
                    (_number(layer.n_parameters), True),
                ]
            )
        elif isinstance(layer, Dropout):
            rows.append(
                [
                    (_e(layer.index), False),
                    (_e(f"dropout, rate {layer.rate:g}"), False),
                    (_number(layer.units), True),
                    ("—", False),
                    ("0", True),
                ]
            )
    total = _number(int(net.parameters.size))
    footer = f"<tfoot><tr><td></td><td>total</td><td></td><td></td><td class='num'>{total}</td></tr></tfoot>"
    table = _table(["layer", "kind", "units", "activation", "parameters"], rows, footer)
    wide = [layer.index for layer in net.dense_layers if layer.units > figures.plotting.MAX_UNITS_DRAWN]
    caption = "Edges: blue positive, orange negative weights; width grows with |w|. Node colour: the bias."
    if wide or net.n_inputs > figures.plotting.MAX_UNITS_DRAWN:
        caption += (
            f" Layers wider than {figures.plotting.MAX_UNITS_DRAWN} units show their strongest units"
            " and how many more there are."
        )
    diagram = figures.embed(
        lambda: figures.plotting.plot_network(net, inputs, outputs),
        "network diagram",
        _e(caption),
        kind="pan" if len(net.sizes) > 8 else "detail",
    )
    text = (
        f"<p>{_e(architecture_text(net.sizes))}: {_plural(len(net.dense_layers), 'dense layer')}, "
        f"{total} parameters, {_e(net.dtype.name)}.</p>"
    )
    return text + table + diagram


def _training(series: dict[str, list[float]], figures: _Figures) -> str:
    loss = series.get("loss") or series.get("val_loss") or []
    if not loss:
        return "<p class='note'>No training history was recorded.</p>"
    facts = [_plural(len(loss), "epoch")]
    best = figures.plotting.best_epoch(series)
    if best is not None:
        monitor, epoch, value = best
        facts.append(f"best epoch {epoch} ({'validation' if monitor == 'val_loss' else 'training'} loss {value:.4g})")
    lr = [v for v in series.get("lr", []) if math.isfinite(v)]
    if lr:
        facts.append(f"final learning rate {lr[-1]:.3g}")
    seconds = [v for v in series.get("seconds", []) if math.isfinite(v)]
    if seconds:
        facts.append(f"{sum(seconds):.3g} s of training")
    parts = [f"<p>{_e(' · '.join(facts))}.</p>"]
    if "val_loss" not in series:
        parts.append("<p class='note'>No validation data: the curves show the training data only.</p>")
    if figures.missing is not None:
        parts.append(figures.embed(lambda: figures.plotting.plot_history(series), "training curves"))
    else:
        # One figure per panel: side by side on a laptop, one under the other on a phone.
        panels = "".join(
            figures.embed(fig, f"{fig.axes[0].get_title()} per epoch")
            for fig in figures.plotting.history_figures(series)
        )
        parts.append(f"<div class='row'>{panels}</div>")
        parts.append("<p class='note'>Per epoch; the dotted line marks the best epoch.</p>")
    if any(key.startswith("grad_norm_") for key in series):
        parts.append("<h3>Gradient norm per layer</h3>")
        parts.append(
            figures.embed(
                lambda: figures.plotting.plot_gradient_norms(series),
                "gradient norms per layer",
                "Mean norm of each layer's weight gradient per epoch, log scale. "
                "A layer far below the others learns that much more slowly (vanishing gradients).",
            )
        )
    return "".join(parts)


def _metrics(
    metrics: Mapping[str, Any],
    confusion: tuple[Any, Sequence[str]] | None,
    per_class: Sequence[Mapping[str, Any]] | None,
    figures: _Figures,
) -> str:
    parts: list[str] = []
    if metrics:
        rows = [[(_e(k), False), (_e(_metric(str(k), v)), True)] for k, v in metrics.items()]
        parts.append(_table(["metric", "value"], rows))
    else:
        parts.append("<p class='note'>No metrics were given.</p>")
    if per_class:
        columns = list(dict.fromkeys(key for row in per_class for key in row))
        rows = []
        for row in per_class:
            cells = []
            for column in columns:
                value = row.get(column)
                if column == "class" or not isinstance(value, int | float | np.number) or isinstance(value, bool):
                    cells.append((_e(_text(value)), False))  # a class label is a name, even when it is a number
                elif isinstance(value, int | np.integer) or column == "support":
                    cells.append((_e(_number(value)), True))
                else:
                    cells.append((_e(f"{float(value):.3f}"), True))
            rows.append(cells)
        parts.append("<h3>Per class</h3>" + _table([str(c) for c in columns], rows))
    if confusion is not None:
        matrix, labels = confusion
        counts = np.asarray(matrix)
        if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or len(labels) != counts.shape[0]:
            raise ShapeError(
                f"confusion must be (matrix of shape (k, k), k labels), got shape {counts.shape} "
                f"and {len(labels)} labels"
            )
        parts.append("<h3>Confusion matrix</h3>")
        k = counts.shape[0]
        parts.append(
            figures.embed(
                lambda: figures.plotting.plot_confusion_matrix(counts, [str(label) for label in labels]),
                "confusion matrix",
                "Rows: true class; columns: predicted class. Each cell: count and % of its row.",
                kind="detail" if k > 5 else "",
            )
        )
        header = ["true \\ predicted", *(str(label) for label in labels)]
        rows = [[(_e(labels[i]), False), *((_number(counts[i, j].item()), True) for j in range(k))] for i in range(k)]
        parts.append(f"<details><summary>The counts as a table</summary>{_table(header, rows)}</details>")
    return "".join(parts)


def _boundary(
    net: Network,
    points: tuple[Any, Any],
    transform: Callable[..., Any] | None,
    labels: Sequence[str] | None,
    figures: _Figures,
    axes: Sequence[str] | None = None,
) -> tuple[str, str]:
    X, y = np.asarray(points[0]), np.asarray(points[1])
    regression = net.n_outputs == 1 and net.layers[-1].activation.name != "sigmoid"
    title = "Prediction over the input plane" if regression else "Decision boundary"
    if X.ndim != 2 or X.shape[1] != 2:
        shape = X.shape
        return title, f"<p class='note'>Drawn only for 2-D data; these points have shape {_e(shape)}.</p>"
    caption = (
        "The predicted value at every point of the plane; dots: the data."
        if regression
        else "Background: the class the network predicts at each point; dots: the data, coloured by true class."
    )
    return title, figures.embed(
        lambda: figures.plotting.plot_decision_boundary(net, X, y, transform=transform, labels=labels, axes=axes),
        title.lower(),
        caption,
    )


#: Columns shown per explained row: the strongest ones.
WHY_COLUMNS = 6


def _cell(value: Any) -> str:
    """A raw cell as the user wrote it: a float32 number without its binary tail (6.9, not 6.8999999…)."""
    return f"{value:.7g}" if isinstance(value, float) else str(value)


def _why(explanations: Sequence[Mapping[str, Any]]) -> str:
    """Each explained row: its prediction and the columns that moved it most (integrated gradients)."""
    parts = [
        "<p>Each column's contribution to the prediction of a few test rows: integrated gradients from the "
        "average training row (each number column at its mean) to this row; they add up to the difference in "
        "the predicted quantity. Gradient × input is the one-step estimate of the same.</p>"
    ]
    for entry in explanations:
        explained = str(entry.get("explained", "the output"))
        head = (
            f"Row {_e(entry.get('row'))}: predicted {_e(entry.get('prediction'))}; "
            f"{_e(explained)} = {_e(_number(float(entry.get('value', 0.0))))} here, "
            f"{_e(_number(float(entry.get('baseline_value', 0.0))))} for the average row"
        )
        contributions = list(entry.get("contributions", []))[:WHY_COLUMNS]
        rows = [
            [
                (_e(c.get("column")), False),
                (_e(_cell(c.get("value"))), False),
                (_e(f"{float(c.get('integrated_gradients', 0.0)):+.4g}"), True),
                (_e(f"{float(c.get('gradient_x_input', 0.0)):+.4g}"), True),
            ]
            for c in contributions
        ]
        parts.append(f"<h3>{head}</h3>" + _table(["column", "value", "contribution", "gradient × input"], rows))
    return "".join(parts)


def _trace(trace: Trace | Any, net: Network) -> str:
    intro = (
        "<p>One forward and backward pass for one sample, in the words of the worked example: the layer inputs "
        "and outputs, the error, the output and hidden error terms and the weight updates"
    )
    learning_rate = getattr(trace, "learning_rate", None)
    intro += f" (η = {_e(_number(learning_rate))}).</p>" if learning_rate is not None else ".</p>"
    to_html = getattr(trace, "to_html", None)
    if callable(to_html):
        # The trace's own HTML, which escapes its values itself.
        content = f"<div class='trace'>{to_html()}</div>"
        short = sum(net.sizes) <= TRACE_UNITS_OPEN
    else:
        text = str(trace)
        content = f"<pre>{_e(text)}</pre>"
        short = text.count("\n") < TRACE_LINES_OPEN
    if short:
        return intro + content
    # A wide network's trace is long: folded, one tap away.
    return f"{intro}<details><summary>Show all the quantities of the step</summary>{content}</details>"


# --------------------------------------------------------------------------- public


def render_report(
    *,
    net: Network,
    history: Mapping[str, Sequence[float]] | History,
    metrics: Mapping[str, float],
    data_summary: Mapping[str, Any],
    hyperparameters: Mapping[str, Any],
    confusion: tuple[Any, Sequence[str]] | None = None,
    per_class: Sequence[Mapping[str, Any]] | None = None,
    points: tuple[Any, Any] | None = None,
    transform: Callable[..., Any] | None = None,
    trace: Trace | None = None,
    title: str = "backprop report",
    input_names: Sequence[object] | None = None,
    output_names: Sequence[object] | None = None,
    explanations: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """The report as one self-contained HTML document.

    Parameters
    ----------
    net : Network
        The trained network: the architecture table and diagram.
    history : History or mapping of str to sequence of float
        ``History.history``: the training curves and gradient norms. May be
        empty (no training section figures), without ``val_`` entries (no
        validation curves).
    metrics : mapping of str to float
        Test metrics, e.g. ``{"loss": ..., "accuracy": ...}`` or ``{"r2", "mae",
        "rmse"}``; the summary line leads with accuracy (else R², ...).
    data_summary : mapping of str to any
        Shown as a table (lists are shortened); a ``"task"`` entry names the
        task in the summary line.
    hyperparameters : mapping of str to any
        Shown as a table.
    confusion : (ndarray of shape (k, k), sequence of k str), optional
        Counts (rows: true class) and the class labels.
    per_class : sequence of mappings, optional
        Rows ``{"class", "precision", "recall", "f1", "support"}``.
    points : (ndarray of shape (n, 2), ndarray of shape (n,)), optional
        Raw 2-D points and their classes: adds the decision boundary.
    transform : callable, optional
        Maps raw points ``(m, 2)`` to network inputs (e.g. standardization).
    trace : Trace, optional
        One explained step (:func:`backprop.explain`), shown with its
        ``to_html()`` when it has one, else as preformatted text.
    title : str, default "backprop report"
    input_names : sequence of n_inputs names, optional
        The inputs' names in the network diagram (e.g. ``column`` and ``column=category``), not ``x1``, ….
    output_names : sequence of n_outputs names, optional
        The outputs' names in the network diagram (e.g. the class labels), not ``ŷ1``, ….
    explanations : sequence of mappings, optional
        Why a few rows were predicted as they were: ``RowExplanation.to_dict()`` of
        :func:`backprop.attribution.explain_table_rows`, each shown with its strongest columns.

    Returns
    -------
    str
        The HTML text: figures as base64 PNG ``data:`` URIs, inline CSS, no
        scripts, no external references. Caller strings are escaped.
    """
    net = as_network(net)
    for name, value in (("metrics", metrics), ("data_summary", data_summary), ("hyperparameters", hyperparameters)):
        if not isinstance(value, Mapping):
            raise BackpropTypeError(f"{name} must be a mapping of names to values, got {type(value).__name__}")
    if transform is not None and not callable(transform):
        raise BackpropTypeError(f"transform must be callable or None, got {type(transform).__name__}")
    # Any iterable of names (a generator too), read once; a string is refused below.
    input_names = input_names if input_names is None or isinstance(input_names, str) else list(input_names)
    output_names = output_names if output_names is None or isinstance(output_names, str) else list(output_names)
    for what, names, size in (("input", input_names, net.n_inputs), ("output", output_names, net.n_outputs)):
        if names is not None and (isinstance(names, str) or len(names) != size):
            raise ParameterError(f"{what}_names must name each of the network's {size} {what}s, got {names!r:.80}")
    series = _series(history)
    figures = _Figures()
    task = _task(data_summary, metrics, series, confusion)
    labels = [str(label) for label in confusion[1]] if confusion is not None else None

    # The one-line summary and the key figures.
    summary = [task[:1].upper() + task[1:]]
    n_classes = len(labels) if labels is not None else len(per_class) if per_class else None
    if n_classes:
        summary[0] += f" of {n_classes} classes"
    headline = _headline(metrics)
    if headline is not None:
        summary.append(f"{headline[0]} {headline[1]}")
    n_parameters = int(net.parameters.size)
    summary.append(f"network {architecture_text(net.sizes)} ({n_parameters:,} parameters)")
    epochs = len(series.get("loss") or series.get("val_loss") or [])
    if epochs:
        summary.append(_plural(epochs, "epoch"))
    cards = []
    if headline is not None:
        cards.append((headline[1], headline[0]))
    cards.append((f"{n_parameters:,}", "parameters"))
    cards.append((f"{len(net.dense_layers)}", "dense layer" if len(net.dense_layers) == 1 else "dense layers"))
    if epochs:
        cards.append((f"{epochs:,}", "epoch" if epochs == 1 else "epochs"))
    seconds = [v for v in series.get("seconds", []) if math.isfinite(v)]
    if seconds:
        cards.append((f"{sum(seconds):.3g} s", "training time"))
    cards_html = "".join(
        f"<div class='card'><span class='value'>{_e(value)}</span><span class='label'>{_e(label)}</span></div>"
        for value, label in cards
    )

    sections = [
        ("data", "Data", _kv_table(data_summary) if data_summary else "<p class='note'>No data summary.</p>"),
        ("architecture", "Architecture", _architecture(net, figures, input_names, output_names)),
        (
            "hyperparameters",
            "Hyperparameters",
            _kv_table(hyperparameters) if hyperparameters else "<p class='note'>None given.</p>",
        ),
        ("training", "Training", _training(series, figures)),
        ("metrics", "Metrics", _metrics(metrics, confusion, per_class, figures)),
    ]
    if points is not None:
        axes = [str(name) for name in input_names] if input_names is not None and len(input_names) == 2 else None
        boundary_title, boundary = _boundary(net, points, transform, labels, figures, axes)
        sections.append(("boundary", boundary_title, boundary))
    if explanations:
        sections.append(("why", "Why these predictions", _why(explanations)))
    if trace is not None:
        sections.append(("explain", "One step explained", _trace(trace, net)))

    from . import __version__

    nav = "".join(f"<a href='#{anchor}'>{_e(name)}</a>" for anchor, name, _ in sections)
    body = "".join(_section(anchor, name, content) for anchor, name, content in sections)
    missing = ""
    if figures.missing is not None:
        missing = f"<p class='note'>Figures are left out: matplotlib is not installed ({_e(figures.missing)}).</p>"
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<meta name='generator' content='backprop {_e(__version__)}'>\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main class='page'>\n"
        f"<header><h1>{_e(title)}</h1><p class='summary'>{_e(' · '.join(summary))}</p>"
        f"<div class='cards'>{cards_html}</div>{missing}<nav aria-label='sections'>{nav}</nav></header>\n"
        f"{body}\n<footer>Made by backprop {_e(__version__)}. This page is self-contained: it loads nothing "
        "from anywhere.</footer>\n</main>\n</body>\n</html>\n"
    )


def write_report(
    path: str | os.PathLike[str],
    *,
    net: Network,
    history: Mapping[str, Sequence[float]] | History,
    metrics: Mapping[str, float],
    data_summary: Mapping[str, Any],
    hyperparameters: Mapping[str, Any],
    confusion: tuple[Any, Sequence[str]] | None = None,
    per_class: Sequence[Mapping[str, Any]] | None = None,
    points: tuple[Any, Any] | None = None,
    transform: Callable[..., Any] | None = None,
    trace: Trace | None = None,
    title: str = "backprop report",
    input_names: Sequence[object] | None = None,
    output_names: Sequence[object] | None = None,
    explanations: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Write :func:`render_report` to ``path`` (UTF-8) atomically.

    The page is rendered in full before anything is written, then written
    with :func:`backprop.files.atomic_write`: a failure leaves no partial file
    and any previous report intact. The keyword arguments are those of
    :func:`render_report`.

    Raises
    ------
    SaveError
        The file cannot be written.
    """
    text = render_report(
        net=net,
        history=history,
        metrics=metrics,
        data_summary=data_summary,
        hyperparameters=hyperparameters,
        confusion=confusion,
        per_class=per_class,
        points=points,
        transform=transform,
        trace=trace,
        title=title,
        input_names=input_names,
        output_names=output_names,
        explanations=explanations,
    )
    atomic_write(path, text.encode("utf-8"))


__all__ = ["render_report", "write_report"]
