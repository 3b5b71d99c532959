"""HTML for notebooks: a network's diagram and layer table, a history's curves, drawn in inline SVG.

Jupyter shows an object through its ``_repr_html_``; :class:`~backprop.network.Network`
and :class:`~backprop.callbacks.History` delegate theirs to :func:`network_html`
and :func:`history_html`. Like ``report.html``, a fragment needs nothing but
itself: no script, no stylesheet or font from elsewhere, no image file. It
is written from the standard library and numpy alone, so that the core can
show itself without matplotlib.

The diagram is the report's (``plotting.plot_network``): one column of nodes
per layer, edges blue for positive and orange for negative weights, wider
and more opaque as ``|w|`` grows; a layer wider than :data:`MAX_UNITS_DRAWN`
shows its strongest units and how many more there are. Hovering a node or an
edge shows its value (an SVG ``<title>``).

Every name (input columns, class labels, activation names) comes from a
user's file: it is HTML-escaped, and characters that XML cannot hold or that
reorder text are written as visible escapes. The same object gives the same
bytes: nothing random, no ids, numbers formatted to fixed precision.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ._validation import shown_briefly
from .errors import BackpropTypeError, ParameterError

if TYPE_CHECKING:
    from .network import Network

#: Units drawn per column of the diagram; wider layers show their strongest units.
MAX_UNITS_DRAWN = 16
#: Edges drawn between two columns; busier layers show each unit's strongest incoming edges.
MAX_EDGES_DRAWN = 64
#: Characters of an input's or an output's name shown beside its node; longer names end in "…".
NAME_CHARACTERS = 24
#: Columns up to which the inputs' and outputs' names are written beside their nodes.
NAMED_COLUMNS = 12

POSITIVE = "#1f77b4"  # TensorFlow Playground's blue (plotting.figures.POSITIVE)
NEGATIVE = "#f28e2b"  # and its orange
BROKEN = "#999999"  # a NaN or infinite weight

# C0 and C1 controls, DEL, bidi marks, embeddings, overrides and isolates, line and paragraph
# separators, lone surrogates (undecodable bytes of a file name) and the two non-characters XML refuses.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def text(value: object) -> str:
    """``value`` as HTML and XML text: escaped, its control and reordering characters written as escapes.

    Parameters
    ----------
    value : object
        Anything; ``str(value)`` is shown.

    Returns
    -------
    str
        Safe in element content and in quoted attribute values of HTML and SVG.
    """
    return html.escape(_UNSAFE.sub(_visible, str(value)), quote=True)


def _number(value: float) -> str:
    """A value as people read it in a table or a tooltip: 4 significant digits, ``nan`` as such."""
    return f"{value:.4g}"


def _px(value: float) -> str:
    """An SVG coordinate or length, one decimal (never ``-0.0``)."""
    return f"{round(value, 1) + 0.0:.1f}"


def _mix(a: str, b: str, t: float) -> str:
    """The colour ``t`` of the way from ``a`` to ``b`` (``#rrggbb``, linear in RGB, as matplotlib mixes)."""
    channels = [round(int(a[i : i + 2], 16) + (int(b[i : i + 2], 16) - int(a[i : i + 2], 16)) * t) for i in (1, 3, 5)]
    return "#" + "".join(f"{c:02x}" for c in channels)


def _bias_colour(value: float, limit: float) -> str:
    """Orange for negative, white for zero, blue for positive biases, relative to the layer's largest."""
    if not math.isfinite(value):
        return BROKEN
    t = min(1.0, abs(value) / limit)
    return _mix("#ffffff", POSITIVE if value >= 0 else NEGATIVE, t)


def architecture_text(sizes: Sequence[int]) -> str:
    """``64 → 32 → 10``, runs of equal hidden widths folded: ``3 → 8 ×19 → 1``."""
    parts: list[str] = []
    run = 1
    for i, size in enumerate(sizes):
        if 0 < i < len(sizes) - 2 and sizes[i + 1] == size:
            run += 1
            continue
        parts.append(f"{size:,}" + (f" ×{run}" if run > 1 else ""))
        run = 1
    return " → ".join(parts)


def unit_labels(names: Sequence[object] | None, size: int, what: str, clean: Callable[[str], str]) -> list[str] | None:
    """``names`` as labels for ``size`` units (None: none given), each ``clean``-ed and shortened to
    :data:`NAME_CHARACTERS`; ParameterError when they do not fit. The plots' diagram uses it too."""
    if names is None:
        return None
    if not isinstance(names, str):
        names = list(names)  # any iterable, a generator too
    if isinstance(names, str) or len(names) != size:
        count = "a string" if isinstance(names, str) else f"{len(names)} names"
        raise ParameterError(f"{what} must name each of the network's {size} {what}, got {count}")
    labels = [clean(str(name)) for name in names]
    return [label if len(label) <= NAME_CHARACTERS else label[: NAME_CHARACTERS - 1] + "…" for label in labels]


def _visible_text(name: str) -> str:
    """A name with control, bidi and lone-surrogate characters written as visible escapes."""
    return _UNSAFE.sub(_visible, name)


def _largest(values: NDArray[Any]) -> float:
    """The largest finite ``|value|``, 1.0 when there is none or it is zero (a scale to divide by)."""
    # max and min need no temporary the size of a large layer; only a broken one takes the masks.
    largest = max(float(values.max()), -float(values.min()))
    if not math.isfinite(largest):
        finite = np.abs(values[np.isfinite(values)])
        largest = float(finite.max()) if finite.size else 0.0
    return largest if largest > 0 else 1.0


def _norms(w: NDArray[Any], axis: int) -> NDArray[np.float64]:
    """``‖w‖`` along ``axis`` in float64, without a float64 copy or a square of the whole matrix."""
    squares: NDArray[np.float64] = np.einsum("ij,ij->j" if axis == 0 else "ij,ij->i", w, w, dtype=np.float64)
    return np.sqrt(squares)


def _shown_units(strength: NDArray[np.float64], limit: int) -> NDArray[np.intp]:
    """Indices of the ``limit`` strongest units, in their original order (plotting.diagram's rule)."""
    if len(strength) <= limit:
        return np.arange(len(strength))
    # A unit with a NaN or infinite weight is among the strongest: it is what the reader must see.
    strength = np.where(np.isfinite(strength), strength, np.inf)
    return np.sort(np.argsort(-strength, kind="stable")[:limit])


def network_svg(net: Network, inputs: Sequence[object] | None = None, outputs: Sequence[object] | None = None) -> str:
    """The network as an inline ``<svg>``: one column of nodes per layer, weighted edges.

    Parameters
    ----------
    net : Network
    inputs : sequence of n_inputs names, optional
        The input columns' names, written beside the input nodes instead of
        ``x1``, ``x2``, … (the diagram has at most :data:`NAMED_COLUMNS` columns).
    outputs : sequence of n_outputs names, optional
        The outputs' names (e.g. the class labels), instead of ``ŷ1``, ``ŷ2``, ….

    Returns
    -------
    str
        An SVG element. Column ``c`` (0: the inputs, ``c``: the ``c``-th Dense
        layer) is a ``<g class="bp-nodes" data-column="c">`` of ``<circle>``
        nodes, filled by the bias; the edges into it a ``<g class="bp-edges"
        data-column="c">`` of ``<line>`` elements, the strongest drawn last.
        Nodes and edges carry a ``<title>`` with their value.

    Raises
    ------
    ParameterError
        ``inputs`` or ``outputs`` does not name every input or output.
    """
    # The live views, not float64 copies: a notebook shows large networks too; only shown parts are converted.
    weights = net.weights
    biases = [None if b is None else np.asarray(b, dtype=np.float64) for b in net.biases]
    sizes = net.sizes
    n_columns = len(sizes)
    input_names = unit_labels(inputs, sizes[0], "inputs", _visible_text)
    output_names = unit_labels(outputs, sizes[-1], "outputs", _visible_text)

    strengths = []
    for column, size in enumerate(sizes):
        strength = np.zeros(size)
        if column > 0:
            strength += _norms(weights[column - 1], axis=0)
        if column < n_columns - 1:
            strength += _norms(weights[column], axis=1)
        strengths.append(strength)
    shown = [_shown_units(s, MAX_UNITS_DRAWN) for s in strengths]
    rows = max(len(units) for units in shown)
    elided = any(len(units) < size for units, size in zip(shown, sizes, strict=True))

    # Input labels: the names, or x1, x2, …; outputs: the names, or ŷ (one output), ŷ1, ŷ2, ….
    labelled = n_columns <= NAMED_COLUMNS
    in_labels = [input_names[u] if input_names else f"x{u + 1}" for u in range(sizes[0])] if labelled else []
    out_default = ["ŷ"] if sizes[-1] == 1 else [f"ŷ{u + 1}" for u in range(sizes[-1])]
    out_labels = (output_names or out_default) if labelled else []

    def label_width(labels: Sequence[str], units: NDArray[np.intp]) -> float:
        return 7.0 * max((len(labels[u]) for u in units), default=0)

    step = 26.0 if rows <= 8 else 20.0
    radius = 9.0 if rows <= 8 else 7.0
    gap = 120.0 if n_columns <= 8 else 84.0
    left = 46.0 + (label_width(in_labels, shown[0]) if in_labels else 0.0)
    right = 46.0 + (label_width(out_labels, shown[-1]) if out_labels else 0.0)
    top = 40.0
    centre = top + radius + (rows - 1) * step / 2
    bottom_node = top + 2 * radius + (rows - 1) * step
    details = _column_details(net, shown)
    # Dense layers are numbered as in net.layers (a Dropout takes a number too), the last is the output.
    titles = ["input", *(f"layer {layer.index}" for layer in net.dense_layers[:-1]), "output"]
    width = left + gap * (n_columns - 1) + right
    height = bottom_node + (20.0 if elided else 6.0) + 14.0 * max(len(d) for d in details) + 10.0

    def xy(column: int) -> tuple[float, NDArray[np.float64]]:
        count = len(shown[column])
        return left + gap * column, centre + (np.arange(count, dtype=np.float64) - (count - 1) / 2) * step

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_px(width)}" height="{_px(height)}" '
        f'viewBox="0 0 {_px(width)} {_px(height)}" role="img" '
        f'aria-label="network diagram {text(architecture_text(sizes))}" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif" font-size="11">'
    ]
    for layer, w in enumerate(weights, start=1):
        parts.append(_edges(layer, w, shown[layer - 1], shown[layer], xy(layer - 1), xy(layer), titles, in_labels))
    for column in range(n_columns):
        x, ys = xy(column)
        units = shown[column]
        bias = biases[column - 1] if column > 0 else None
        limit = _largest(bias) if bias is not None else 1.0
        nodes = []
        for unit, y in zip(units, ys, strict=True):
            if column == 0:
                fill, title = "#ffffff", in_labels[unit] if in_labels else f"x{unit + 1}"
            else:
                b = None if bias is None else float(bias[unit])
                fill = "#ffffff" if b is None else _bias_colour(b, limit)
                title = f"{titles[column]}, unit {unit + 1}: " + ("no bias" if b is None else f"b = {_number(b)}")
            nodes.append(
                f'<circle cx="{_px(x)}" cy="{_px(y)}" r="{_px(radius)}" fill="{fill}" stroke="#333333" '
                f'stroke-width="1"><title>{text(title)}</title></circle>'
            )
        parts.append(f'<g class="bp-nodes" data-column="{column}">{"".join(nodes)}</g>')
        parts.append(
            f'<text x="{_px(x)}" y="{_px(top - 14)}" text-anchor="middle" font-weight="bold" '
            f'font-size="12">{text(titles[column])}</text>'
        )
        hidden = sizes[column] - len(units)
        if hidden:
            parts.append(
                f'<text x="{_px(x)}" y="{_px(bottom_node + 14)}" text-anchor="middle" '
                f'fill="#444444">+{hidden:,} more</text>'
            )
        first_line = bottom_node + (34.0 if elided else 20.0)
        for i, line in enumerate(details[column]):
            parts.append(
                f'<text x="{_px(x)}" y="{_px(first_line + 14 * i)}" text-anchor="middle" '
                f'fill="#333333">{text(line)}</text>'
            )
        labels = in_labels if column == 0 else out_labels if column == n_columns - 1 else []
        if labels:
            dx, anchor = (-radius - 5, "end") if column == 0 else (radius + 5, "start")
            for unit, y in zip(units, ys, strict=True):
                parts.append(
                    f'<text x="{_px(x + dx)}" y="{_px(y + 4)}" text-anchor="{anchor}" '
                    f'fill="#555555">{text(labels[unit])}</text>'
                )
    parts.append("</svg>")
    return "".join(parts)


def _edges(
    layer: int,
    w: NDArray[Any],
    src: NDArray[np.intp],
    dst: NDArray[np.intp],
    src_xy: tuple[float, NDArray[np.float64]],
    dst_xy: tuple[float, NDArray[np.float64]],
    titles: Sequence[str],
    in_labels: Sequence[str],
) -> str:
    """The ``<g>`` of edges from column ``layer - 1`` to ``layer`` (the ``layer``-th Dense layer), in SVG.

    The rules of plotting.diagram: colour by sign, width and opacity by ``|w|``
    relative to the layer's largest; a busy layer keeps each unit's strongest inputs.
    """
    block = np.asarray(w[np.ix_(src, dst)], dtype=np.float64)
    scale = _largest(w)
    keep = np.ones(block.shape, dtype=bool)
    if block.size > MAX_EDGES_DRAWN:
        # A busy layer: each unit keeps its strongest incoming edges only.
        per_unit = max(1, MAX_EDGES_DRAWN // len(dst))
        strength = np.where(np.isfinite(block), np.abs(block), np.inf)
        weakest = np.argsort(-strength, axis=0, kind="stable")[per_unit:]
        np.put_along_axis(keep, weakest, False, axis=0)
    sources, targets = np.nonzero(keep)
    values = block[sources, targets]
    magnitude = np.where(np.isfinite(values), np.minimum(np.abs(values) / scale, 1.0), 1.0)
    lines = []
    for k in np.argsort(magnitude, kind="stable"):  # the strongest edges on top
        i, j, value, m = int(sources[k]), int(targets[k]), float(values[k]), float(magnitude[k])
        colour = BROKEN if not math.isfinite(value) else POSITIVE if value >= 0 else NEGATIVE
        unit = int(src[i])
        origin = (in_labels[unit] if in_labels else f"x{unit + 1}") if layer == 1 else f"unit {unit + 1}"
        title = f"w = {_number(value)}: {origin} → {titles[layer]}, unit {int(dst[j]) + 1}"
        lines.append(
            f'<line x1="{_px(src_xy[0])}" y1="{_px(src_xy[1][i])}" x2="{_px(dst_xy[0])}" y2="{_px(dst_xy[1][j])}" '
            f'stroke="{colour}" stroke-width="{0.4 + 3.2 * m:.2f}" stroke-opacity="{0.12 + 0.83 * m:.2f}" '
            f'stroke-linecap="round"><title>{text(title)}</title></line>'
        )
    return f'<g class="bp-edges" data-column="{layer}">{"".join(lines)}</g>'


def _column_details(net: Network, shown: Sequence[NDArray[np.intp]]) -> list[list[str]]:
    """The lines under each column: its width and activation, a dropout after it, how many are shown."""
    sizes = net.sizes
    details = [[f"{sizes[0]:,} features"]]
    for layer in net.dense_layers:
        details.append([f"{layer.units:,} {layer.activation.name}"])
    for rate_after, rate in _dropout_rates(net).items():
        details[rate_after].append(f"dropout {rate:g}")
    for column, units in enumerate(shown):
        if len(units) < sizes[column]:
            details[column].append(f"{len(units)} strongest shown")
    return details


def _dropout_rates(net: Network) -> dict[int, float]:
    """Diagram column (Dense layer number) → the rate of the Dropout layer right after it."""
    rates: dict[int, float] = {}
    dense = {id(layer) for layer in net.dense_layers}
    column = 0
    for layer in net.layers:
        rate = getattr(layer, "rate", None)
        if id(layer) in dense:
            column += 1
        elif isinstance(rate, float):
            rates[column] = rate
    return rates


def layer_table(net: Network) -> str:
    """The layers as an HTML table: layer, kind, units, activation, parameters, and their total.

    Parameters
    ----------
    net : Network

    Returns
    -------
    str
        A ``<table class="bp-layers">``; its body has one row for the inputs and
        one per layer (Dense or Dropout), its foot the total of parameters.
    """
    rows = [("input", "", net.n_inputs, "—", 0)]
    dense = {id(layer) for layer in net.dense_layers}
    for layer in net.layers:
        if id(layer) in dense:
            kind = "output" if layer is net.layers[-1] else "dense"
            kind += "" if getattr(layer, "bias", True) else " (no bias)"
            rows.append((str(layer.index), kind, layer.units, layer.activation.name, layer.n_parameters))
        else:
            rate = getattr(layer, "rate", None)
            kind = type(layer).__name__.lower() + (f", rate {rate:g}" if isinstance(rate, float) else "")
            rows.append((str(layer.index), kind, layer.units, "—", layer.n_parameters))
    head = "".join(f"<th>{name}</th>" for name in ("layer", "kind", "units", "activation", "parameters"))
    body = "".join(
        f'<tr><td>{text(index)}</td><td>{text(kind)}</td><td class="bp-num">{units:,}</td>'
        f'<td>{text(activation)}</td><td class="bp-num">{parameters:,}</td></tr>'
        for index, kind, units, activation, parameters in rows
    )
    total = (
        "<tfoot><tr><td></td><td>total</td><td></td><td></td>"
        f'<td class="bp-num">{net.parameters.size:,}</td></tr></tfoot>'
    )
    return f'<table class="bp-layers"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>{total}</table>'


_STYLE = (
    "<style>"
    ".bp-html{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;line-height:1.4}"
    ".bp-html .bp-scroll{overflow-x:auto;max-width:100%}"
    ".bp-html table{border-collapse:collapse;font-size:0.9em;font-variant-numeric:tabular-nums}"
    ".bp-html th,.bp-html td{border-bottom:1px solid #ddd;padding:0.2em 0.9em 0.2em 0;text-align:left}"
    ".bp-html .bp-num{text-align:right}"
    ".bp-html tfoot td{font-weight:600;border-bottom:none}"
    ".bp-html .bp-note{color:#5a6475;font-size:0.88em}"
    ".bp-html .bp-row{display:flex;flex-wrap:wrap;gap:0 16px}"
    "</style>"
)


def network_html(net: Network, inputs: Sequence[object] | None = None, outputs: Sequence[object] | None = None) -> str:
    """A network as a self-contained HTML fragment: a headline, the diagram and the layer table.

    Parameters
    ----------
    net : Network
    inputs, outputs : sequence of names, optional
        As for :func:`network_svg`.

    Returns
    -------
    str
        A ``<div class="bp-html bp-network">`` with a ``<style>`` scoped to it,
        the inline SVG of :func:`network_svg` and the table of :func:`layer_table`.

    Raises
    ------
    ParameterError
        ``inputs`` or ``outputs`` does not name every input or output.
    """
    layers = len(net.dense_layers)
    headline = (
        f"Network {architecture_text(net.sizes)}: {layers:,} dense layer{'' if layers == 1 else 's'}, "
        f"{net.parameters.size:,} parameters, {net.dtype.name}"
    )
    wide = any(size > MAX_UNITS_DRAWN for size in net.sizes)
    busy = any(
        min(size, MAX_UNITS_DRAWN) * min(after, MAX_UNITS_DRAWN) > MAX_EDGES_DRAWN
        for size, after in zip(net.sizes, net.sizes[1:], strict=False)
    )
    caption = (
        f'Edges: <span style="color:{POSITIVE}">■</span> positive, <span style="color:{NEGATIVE}">■</span> '
        "negative weights; width grows with |w| within each layer. Node colour: the bias. Hover for values."
    )
    if wide:
        caption += f" Layers wider than {MAX_UNITS_DRAWN} units show their strongest units and how many more there are."
    if busy:
        caption += " Busy layers show only each unit's strongest incoming weights."
    return (
        f'<div class="bp-html bp-network">{_STYLE}<p><strong>{text(headline)}</strong></p>'
        f'<div class="bp-scroll">{network_svg(net, inputs, outputs)}</div>'
        f'<p class="bp-note">{caption}</p><div class="bp-scroll">{layer_table(net)}</div></div>'
    )


# --------------------------------------------------------------------------- history


def history_series(history: Mapping[str, Sequence[Any]]) -> dict[str, NDArray[np.float64]]:
    """A history's per-epoch lists as float arrays (None becomes NaN).

    Raises
    ------
    BackpropTypeError
        ``history`` is not a mapping.
    ParameterError
        A value is not a list of numbers.
    """
    if not isinstance(history, Mapping):
        raise BackpropTypeError(
            f"history must be a mapping of metric name to per-epoch values, got {type(history).__name__}"
        )
    series: dict[str, NDArray[np.float64]] = {}
    for key, values in history.items():
        try:
            series[str(key)] = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ParameterError(
                f"history[{shown_briefly(key)}] must be a list of numbers, one per epoch, got {shown_briefly(values)}"
            ) from error
    return series


def lowest_loss(series: Mapping[str, NDArray[np.float64]]) -> tuple[str, int, float] | None:
    """``(monitor, epoch from 1, value)``: the lowest finite ``val_loss``, else ``loss`` (the plots' best epoch)."""
    for key in ("val_loss", "loss"):
        values = series.get(key)
        if values is not None and np.isfinite(values).any():
            index = int(np.nanargmin(np.where(np.isfinite(values), values, np.nan)))
            return key, index + 1, float(values[index])
    return None


def _ticks(low: float, high: float, log: bool) -> list[float]:
    """Round values for an axis from ``low`` to ``high`` (powers of ten on a log axis)."""
    if log:
        return [10.0**e for e in range(math.ceil(math.log10(low)), math.floor(math.log10(high)) + 1)]
    raw = (high - low) / 4
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9)
    return [round(k * step, 12) + 0.0 for k in range(first, math.floor(high / step + 1e-9) + 1)]


_PANEL_WIDTH, _PANEL_HEIGHT = 360.0, 230.0
_PLOT = (54.0, 30.0, 346.0, 192.0)  # left, top, right, bottom of the plotting area


def _panel(series: Mapping[str, NDArray[np.float64]], key: str, title: str, best: int | None) -> str:
    """One ``<svg>`` of ``key`` and ``val_<key>`` per epoch; a dotted line at the best epoch."""
    curves = [
        (name, label, colour)
        for name, label, colour in ((key, "training", POSITIVE), (f"val_{key}", "validation", NEGATIVE))
        if len(series.get(name, ()))
    ]
    finite = np.concatenate([series[name][np.isfinite(series[name])] for name, _, _ in curves])
    epochs = max(len(series[name]) for name, _, _ in curves)
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    log = key == "loss" and low > 0 and high / low > 100
    if key == "r2" and low < -1.0:
        # Early epochs' R² can be hugely negative and flatten the rest of the curve.
        low, title = -1.0, title + " (clipped at −1)"
    if log:
        low, high, title = math.log10(low), math.log10(high), title + " (log scale)"
    pad = (high - low) * 0.06 or max(abs(high) * 0.1, 0.5)
    low, high = low - pad, high + pad
    x0, y0, x1, y1 = _PLOT

    def x_of(epoch: float) -> float:
        return (x0 + x1) / 2 if epochs == 1 else x0 + (epoch - 1) / (epochs - 1) * (x1 - x0)

    def y_of(value: float) -> float:
        value = math.log10(value) if log else value
        return y1 - (min(max(value, low), high) - low) / (high - low) * (y1 - y0)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_px(_PANEL_WIDTH)}" height="{_px(_PANEL_HEIGHT)}" '
        f'viewBox="0 0 {_px(_PANEL_WIDTH)} {_px(_PANEL_HEIGHT)}" role="img" aria-label="{text(title)} per epoch" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif" font-size="10">',
        f'<text x="{_px(x0)}" y="18" font-weight="bold" font-size="12">{text(title)}</text>',
        f'<rect x="{_px(x0)}" y="{_px(y0)}" width="{_px(x1 - x0)}" height="{_px(y1 - y0)}" fill="none" '
        'stroke="#bbbbbb"/>',
    ]
    for tick in _ticks(10**low if log else low, 10**high if log else high, log):
        y = y_of(tick)
        parts.append(f'<path d="M{_px(x0)} {_px(y)}H{_px(x1)}" stroke="#eeeeee"/>')
        parts.append(f'<text x="{_px(x0 - 4)}" y="{_px(y + 3)}" text-anchor="end" fill="#555555">{tick:.3g}</text>')
    for tick in _ticks(1, epochs, False) if epochs > 1 else [1.0]:
        if float(tick).is_integer():
            parts.append(
                f'<text x="{_px(x_of(tick))}" y="{_px(y1 + 13)}" text-anchor="middle" fill="#555555">{int(tick)}</text>'
            )
    parts.append(f'<text x="{_px((x0 + x1) / 2)}" y="{_px(y1 + 30)}" text-anchor="middle" fill="#333333">epoch</text>')
    if best is not None:
        parts.append(
            f'<path class="bp-best" d="M{_px(x_of(best))} {_px(y0)}V{_px(y1)}" stroke="#555555" '
            f'stroke-dasharray="2 3"><title>best epoch {best}</title></path>'
        )
    for name, label, colour in curves:
        values = series[name]
        points = [(x_of(e + 1), y_of(float(v))) for e, v in enumerate(values) if math.isfinite(v)]
        # A NaN or infinite value breaks the curve: one polyline per finite run.
        run: list[str] = []
        for e, v in enumerate([*values, math.nan]):
            if math.isfinite(v):
                run.append(f"{_px(x_of(e + 1))},{_px(y_of(float(v)))}")
            elif run:
                parts.append(
                    f'<polyline class="bp-curve" data-series="{text(name)}" points="{" ".join(run)}" '
                    f'fill="none" stroke="{colour}" stroke-width="1.8"><title>{label}</title></polyline>'
                )
                run = []
        if len(values) <= 25:  # markers show single epochs that a bare line would hide
            parts.extend(f'<circle cx="{_px(x)}" cy="{_px(y)}" r="2.2" fill="{colour}"/>' for x, y in points)
    # The legend, in the title's row: it never hides a curve.
    for i, (_, label, colour) in enumerate(curves):
        x = x1 - 140 + 76 * i
        parts.append(f'<rect x="{_px(x)}" y="13" width="10" height="3" fill="{colour}"/>')
        parts.append(f'<text x="{_px(x + 14)}" y="18" fill="#333333">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def history_html(history: Mapping[str, Sequence[Any]]) -> str:
    """A history as a self-contained HTML fragment: a summary line and its curves.

    Parameters
    ----------
    history : mapping of str to sequence of float
        ``History.history``: per-epoch lists keyed ``loss``, ``val_loss``,
        ``accuracy``/``val_accuracy`` or ``r2``/``val_r2``, ``lr``, ``seconds``;
        other keys are ignored.

    Returns
    -------
    str
        A ``<div class="bp-html bp-history">``: the number of epochs, the best
        epoch (lowest ``val_loss``, else ``loss``, numbered from 1), the final
        learning rate and the training time when recorded; then one inline
        SVG panel for the loss and one for accuracy or R², each curve a
        ``<polyline class="bp-curve">`` with one point per epoch.

    Raises
    ------
    BackpropTypeError
        ``history`` is not a mapping.
    ParameterError
        One of its values is not a list of numbers.
    """
    series = history_series(history)
    epochs = max((len(series.get(key, ())) for key in ("loss", "val_loss")), default=0)
    if not epochs:
        return f'<div class="bp-html bp-history">{_STYLE}<p>History: no epochs recorded yet.</p></div>'
    facts = [f"History: {epochs:,} epoch{'' if epochs == 1 else 's'}"]
    best = lowest_loss(series)
    if best is not None:
        monitor, epoch, value = best
        facts.append(f"best epoch {epoch} ({'validation' if monitor == 'val_loss' else 'training'} loss {value:.4g})")
    lr = [v for v in series.get("lr", ()) if math.isfinite(v)]
    if lr:
        facts.append(f"final learning rate {lr[-1]:.3g}")
    seconds = [v for v in series.get("seconds", ()) if math.isfinite(v)]
    if seconds:
        facts.append(f"{sum(seconds):.3g} s of training")
    metric = next((m for m in ("accuracy", "r2") if len(series.get(m, ())) or len(series.get(f"val_{m}", ()))), None)
    panels = [("loss", "Loss")] + ([(metric, "Accuracy" if metric == "accuracy" else "R²")] if metric else [])
    best_epoch = None if best is None else best[1]
    figures = "".join(_panel(series, key, title, best_epoch) for key, title in panels)
    note = (
        ""
        if "val_loss" in series
        else ('<p class="bp-note">No validation data: the curves show the training data only.</p>')
    )
    return (
        f'<div class="bp-html bp-history">{_STYLE}<p><strong>{text(" · ".join(facts))}</strong></p>'
        f'<div class="bp-row">{figures}</div>{note}'
        '<p class="bp-note">Per epoch; the dotted line marks the best epoch.</p></div>'
    )


__all__ = [
    "MAX_EDGES_DRAWN",
    "MAX_UNITS_DRAWN",
    "NAME_CHARACTERS",
    "architecture_text",
    "history_html",
    "history_series",
    "layer_table",
    "lowest_loss",
    "network_html",
    "network_svg",
    "text",
    "unit_labels",
]
