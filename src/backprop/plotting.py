"""Pictures of a network and its training: curves, gradient norms, diagram, decision boundary.

Every function returns a :class:`matplotlib.figure.Figure` drawn on the Agg
canvas: no window, no display, no ``pyplot`` state, so nothing needs closing
and nothing leaks between calls. Save one with :func:`save_figure` (an atomic
write) or embed it yourself.

matplotlib is imported on the first call, never by ``import backprop``;
without it every function raises :class:`~backprop.errors.MissingDependencyError`
with the install command (``pip install 'backprop[plot]'``).

Colours follow TensorFlow Playground: blue for positive weights, orange for
negative ones.
"""

from __future__ import annotations

import importlib
import io as _io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ._validation import check_positive_int, shown
from .errors import BackpropTypeError, DataError, MissingDependencyError, ParameterError, ShapeError
from .io import atomic_write
from .layers import Dropout
from .network import Network, as_network
from .training import History

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INSTALL_HINT = "pip install 'backprop[plot]'"

#: Units drawn per layer in :func:`plot_network`; wider layers show their strongest units.
MAX_UNITS_DRAWN = 16
#: Edges drawn between two columns of :func:`plot_network`; busier layers show each unit's strongest inputs.
MAX_EDGES_DRAWN = 64

POSITIVE = "#1f77b4"  # TensorFlow Playground's blue
NEGATIVE = "#f28e2b"  # and its orange
_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
_CLASS_COLOURS = (
    "#1f77b4",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)

HistoryLike = Mapping[str, Sequence[float]] | History


# --------------------------------------------------------------------------- helpers


def _require_matplotlib() -> None:
    """Import matplotlib, or raise :class:`MissingDependencyError` with the install hint."""
    try:
        for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
            importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(
            f"plotting needs matplotlib, which is not installed; install it with {INSTALL_HINT}"
        ) from error


def _figure(width: float, height: float) -> Figure:
    """A new figure on its own Agg canvas (no pyplot, no display)."""
    _require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _plain(text: object) -> str:
    """``text`` for a matplotlib label: ``$`` would start mathtext, so it is escaped."""
    return str(text).replace("$", r"\$")


def _series(history: HistoryLike) -> dict[str, NDArray[np.float64]]:
    """The history's per-epoch lists as float arrays (None and non-numbers become NaN)."""
    if isinstance(history, History):
        history = history.history
    if not isinstance(history, Mapping):
        raise BackpropTypeError(
            f"history must be a History or a mapping of metric name to per-epoch values, got {type(history).__name__}"
        )
    series: dict[str, NDArray[np.float64]] = {}
    for key, values in history.items():
        if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
            raise BackpropTypeError(f"history[{key!r}] must be a list of per-epoch numbers, got {shown(values)}")
        series[str(key)] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return series


def _epochs(values: NDArray[np.float64]) -> NDArray[np.int64]:
    """Epoch numbers as people count them: 1, 2, ..."""
    return np.arange(1, len(values) + 1)


def _marker(n: int) -> dict[str, Any]:
    """Point markers for short runs, where a bare line would hide single epochs."""
    return {"marker": "o", "markersize": 3.5} if n <= 25 else {}


def best_epoch(history: HistoryLike) -> tuple[str, int, float] | None:
    """The monitored loss and the epoch (numbered from 1) where it is lowest.

    Parameters
    ----------
    history : History or mapping of str to sequence of float

    Returns
    -------
    (str, int, float) or None
        ``("val_loss" or "loss", epoch, value)``; None when the history has
        no finite loss value.
    """
    return _best(_series(history))


def _best(series: Mapping[str, NDArray[np.float64]]) -> tuple[str, int, float] | None:
    for key in ("val_loss", "loss"):
        values = series.get(key)
        if values is not None and np.isfinite(values).any():
            index = int(np.nanargmin(np.where(np.isfinite(values), values, np.nan)))
            return key, index + 1, float(values[index])
    return None


# --------------------------------------------------------------------------- history


def plot_history(history: HistoryLike) -> Figure:
    """Training and validation loss, and the metric, epoch by epoch.

    Parameters
    ----------
    history : History or mapping of str to sequence of float
        ``History.history`` of :meth:`Network.fit`: per-epoch lists keyed
        ``loss``, ``val_loss``, ``accuracy``/``val_accuracy`` (classification)
        or ``r2``/``val_r2`` (regression); other keys are ignored.

    Returns
    -------
    Figure
        One panel for the loss, and a second for accuracy or R² when the
        history has it. The best epoch (lowest ``val_loss``, else ``loss``) is
        marked by a dotted vertical line on every panel. Lines are labelled
        ``training`` and ``validation``; a loss spanning more than two decades
        is drawn on a log scale.

    Raises
    ------
    ParameterError
        The history has no ``loss`` or ``val_loss`` values.
    """
    series, panels = _history_panels(history)
    fig = _figure(5.2 * len(panels), 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (key, title) in zip(axes, panels, strict=True):
        _draw_history_panel(ax, series, key, title)
    return fig


def history_figures(history: HistoryLike) -> list[Figure]:
    """The panels of :func:`plot_history` as separate figures (loss, then the metric if any).

    For layouts that place them side by side on a wide screen and one under
    the other on a narrow one.
    """
    series, panels = _history_panels(history)
    figures = []
    for key, title in panels:
        fig = _figure(4.8, 3.4)
        _draw_history_panel(fig.subplots(), series, key, title)
        figures.append(fig)
    return figures


def _history_panels(history: HistoryLike) -> tuple[dict[str, NDArray[np.float64]], list[tuple[str, str]]]:
    _require_matplotlib()
    series = _series(history)
    if not any(len(series.get(key, ())) for key in ("loss", "val_loss")):
        raise ParameterError(
            f"history must hold per-epoch 'loss' values to plot, got keys {sorted(series)} (is it empty?)"
        )
    metric = next((m for m in ("accuracy", "r2") if len(series.get(m, ())) or len(series.get(f"val_{m}", ()))), None)
    panels = [("loss", "Loss")]
    if metric is not None:
        panels.append((metric, "Accuracy" if metric == "accuracy" else "R²"))
    return series, panels


def _draw_history_panel(ax: Axes, series: Mapping[str, NDArray[np.float64]], key: str, title: str) -> None:
    """Training and validation curves of ``key`` on ``ax``, the best epoch marked."""
    from matplotlib.ticker import MaxNLocator

    finite: list[NDArray[np.float64]] = []
    for name, label, colour in ((key, "training", POSITIVE), (f"val_{key}", "validation", NEGATIVE)):
        values = series.get(name)
        if values is None or not len(values):
            continue
        ax.plot(_epochs(values), values, label=label, color=colour, linewidth=1.8, **_marker(len(values)))
        finite.append(values[np.isfinite(values)])
    if key == "r2" and finite:
        values = np.concatenate(finite)
        if len(values) and values.min() < -1.0:
            # Early epochs' R² can be hugely negative and flatten the rest of the curve.
            ax.set_ylim(-1.0, max(1.0, float(values.max())) + 0.05)
            title += " (clipped at −1)"
    if key == "loss" and finite:
        values = np.concatenate(finite)
        if len(values) and values.min() > 0 and values.max() / values.min() > 100:
            ax.set_yscale("log")
            title += " (log scale)"
    best = _best(series)
    if best is not None:
        _, epoch, value = best
        ax.axvline(epoch, color="#555555", linestyle=":", linewidth=1.2, label=f"best epoch {epoch}")
        if key == "loss":
            ax.plot([epoch], [value], marker="*", markersize=11, color="#333333", linestyle="none")
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="small")


def plot_gradient_norms(history: HistoryLike) -> Figure:
    """The norm of each layer's weight gradient, epoch by epoch, on a log scale.

    A layer whose curve sits decades below the others learns that much more
    slowly: vanishing (or exploding) gradients are visible at a glance.

    Parameters
    ----------
    history : History or mapping of str to sequence of float
        Needs the ``grad_norm_<l>`` entries ``fit`` records (layer ``l``
        numbered from 1).

    Returns
    -------
    Figure
        One axes, one line per layer labelled ``layer <l>``, coloured from
        the first layer (dark) to the last (light). Zero norms cannot be shown
        on a log scale; such a layer's label says so.

    Raises
    ------
    ParameterError
        The history has no ``grad_norm_<l>`` entries.
    """
    _require_matplotlib()
    from matplotlib import colormaps
    from matplotlib.ticker import MaxNLocator

    series = _series(history)
    prefix = "grad_norm_"
    layers = sorted(
        (int(key[len(prefix) :]), values)
        for key, values in series.items()
        if key.startswith(prefix) and key[len(prefix) :].isdigit() and len(values)
    )
    if not layers:
        raise ParameterError(
            f"history has no per-layer gradient norms (keys grad_norm_<layer>) to plot, got keys {sorted(series)}"
        )
    colours = colormaps["viridis"]
    fig = _figure(6.4 if len(layers) > 6 else 5.4, 3.8)
    ax = fig.subplots()
    for position, (layer, values) in enumerate(layers):
        shown_values = np.where(values > 0, values, np.nan)
        label = f"layer {layer}"
        if np.isnan(shown_values).any():
            label += " (zero or missing in some epochs)"
        colour = colours(0.9 * position / max(1, len(layers) - 1))
        ax.plot(_epochs(values), shown_values, label=label, color=colour, linewidth=1.6, **_marker(len(values)))
    ax.set_yscale("log")
    ax.set_title("Gradient norm per layer")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean ‖∂L/∂W‖ (log scale)")
    ax.grid(True, which="both", alpha=0.25)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    last = np.array([values[-1] for _, values in layers])
    if len(layers) > 1 and np.all(last > 0) and np.all(np.isfinite(last)):
        ax.set_xlabel(f"epoch\nlast epoch: weakest / strongest layer's norm = {last.min() / last.max():.2g}")
    if len(layers) <= 6:
        ax.legend(fontsize="small", loc="best", framealpha=0.85)
    else:
        ax.legend(fontsize="x-small", ncol=math.ceil(len(layers) / 12), loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


# --------------------------------------------------------------------------- network diagram


def _shown_units(strength: NDArray[np.float64], limit: int) -> NDArray[np.intp]:
    """Indices of the ``limit`` strongest units, in their original order."""
    if len(strength) <= limit:
        return np.arange(len(strength))
    return np.sort(np.argsort(-strength, kind="stable")[:limit])


def plot_network(net: Network) -> Figure:
    """The network as TensorFlow Playground draws it: nodes per layer, weighted edges.

    Edge colour is the weight's sign (blue positive, orange negative), its
    width and opacity grow with ``|w|`` (relative to the largest weight of
    that layer). Node colour is the bias (white without one). Layers wider
    than :data:`MAX_UNITS_DRAWN` units show their strongest units (largest
    norm of incoming and outgoing weights) and a ``+N more`` marker, so even
    a 10,000-unit layer stays readable. Dropout layers are noted under the
    layer they follow.

    Parameters
    ----------
    net : Network

    Returns
    -------
    Figure
        One axes with one column of nodes for the inputs (column 0) and one
        per Dense layer (column ``c`` for the ``c``-th). Artists carry ids for
        inspection: ``nodes-<c>`` (the column's scatter), ``edges-<c>`` (the
        line collection from column ``c - 1`` to ``c``) and ``more-<c>`` (the
        ``+N more`` text of a summarized column).
    """
    _require_matplotlib()
    from matplotlib.collections import LineCollection
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.lines import Line2D

    net = as_network(net)
    weights = [np.asarray(w, dtype=np.float64) for w in net.weights]
    biases = [None if b is None else np.asarray(b, dtype=np.float64) for b in net.biases]
    sizes = net.sizes
    n_columns = len(sizes)

    # How strongly each unit is connected: the norm of its incoming and outgoing weights.
    strengths: list[NDArray[np.float64]] = []
    for column, size in enumerate(sizes):
        strength = np.zeros(size)
        if column > 0:
            strength += np.linalg.norm(weights[column - 1], axis=0)
        if column < n_columns - 1:
            strength += np.linalg.norm(weights[column], axis=1)
        strengths.append(strength)
    shown_units = [_shown_units(s, MAX_UNITS_DRAWN) for s in strengths]
    rows = max(len(units) for units in shown_units)
    any_hidden = any(len(units) < size for units, size in zip(shown_units, sizes, strict=True))

    def y_of(count: int) -> NDArray[np.float64]:
        # Centred columns, top to bottom, one row per unit.
        return (count - 1) / 2.0 - np.arange(count, dtype=np.float64)

    positions = [y_of(len(units)) for units in shown_units]

    # Columns come closer in deep networks; beyond ~20 layers the figure grows wide (a report lets it scroll).
    width = max(5.0, 1.45 * n_columns + 1.5) if n_columns <= 8 else min(40.0, 1.05 * n_columns + 4.7)
    height = min(9.0, max(3.2, 0.36 * rows + 1.8 + (0.3 if any_hidden else 0.0)))
    fig = _figure(width, height)
    ax = fig.subplots()
    ax.set_axis_off()

    pruned = False
    for l, w in enumerate(weights, start=1):
        src, dst = shown_units[l - 1], shown_units[l]
        block = w[np.ix_(src, dst)]
        scale = float(np.abs(w).max()) or 1.0
        ys, yd = np.meshgrid(positions[l - 1], positions[l], indexing="ij")
        keep = np.ones(block.shape, dtype=bool)
        if block.size > MAX_EDGES_DRAWN:
            # A busy layer: each unit keeps its strongest incoming edges only.
            per_unit = max(1, MAX_EDGES_DRAWN // len(dst))
            pruned = True
            weakest = np.argsort(-np.abs(block), axis=0, kind="stable")[per_unit:]
            np.put_along_axis(keep, weakest, False, axis=0)
        magnitude = np.abs(block)[keep] / scale
        order = np.argsort(magnitude, kind="stable")  # the strongest edges on top
        count = int(keep.sum())
        segments = np.stack([np.full(count, l - 1.0), ys[keep], np.full(count, float(l)), yd[keep]], axis=1)
        colours = np.where(block[keep][order, None] >= 0, _rgba(POSITIVE), _rgba(NEGATIVE))
        colours[:, 3] = 0.12 + 0.83 * magnitude[order]
        edges = LineCollection(
            list(segments[order].reshape(-1, 2, 2)),
            colors=colours,
            linewidths=0.3 + 3.2 * magnitude[order],
            zorder=1,
            capstyle="round",
        )
        edges.set_gid(f"edges-{l}")
        ax.add_collection(edges)

    bias_map = LinearSegmentedColormap.from_list("bias", [NEGATIVE, "#ffffff", POSITIVE])
    dropout_after = _dropout_rates(net)
    node_size = 260 if rows <= 8 else 150
    for column, (units, ys) in enumerate(zip(shown_units, positions, strict=True)):
        bias = biases[column - 1] if column > 0 else None
        if bias is None:
            faces: Any = "#ffffff"
        else:
            limit = float(np.abs(bias).max()) or 1.0
            faces = bias_map(0.5 + 0.5 * bias[units] / limit)
        nodes = ax.scatter(
            np.full(len(units), float(column)),
            ys,
            s=node_size,
            c=faces,
            edgecolors="#333333",
            linewidths=1.0,
            zorder=3,
        )
        nodes.set_gid(f"nodes-{column}")
        hidden = sizes[column] - len(units)
        bottom = float(ys.min())
        if hidden:
            more = ax.text(
                column, bottom - 0.9, f"+{hidden:,} more", ha="center", va="top", fontsize=9, color="#444444"
            )
            more.set_gid(f"more-{column}")
        if column == 0:
            name, detail = "input", f"{sizes[0]:,} features"
        else:
            layer = net.dense_layers[column - 1]
            name = "output" if column == n_columns - 1 else f"layer {layer.index}"
            detail = f"{layer.units:,} {layer.activation.name}"
            rate = dropout_after.get(layer.index)
            if rate is not None:
                detail += f"\ndropout {rate:g}"
        if hidden:
            detail += f"\n{len(units)} strongest shown"
        ax.text(column, (rows - 1) / 2.0 + 0.9, name, ha="center", va="bottom", fontsize=10, fontweight="bold")
        ax.text(
            column,
            -(rows - 1) / 2.0 - (1.9 if any_hidden else 0.9),
            _plain(detail),
            ha="center",
            va="top",
            fontsize=9,
            color="#333333",
        )
        if len(units) <= MAX_UNITS_DRAWN and n_columns <= 12:
            if column == 0:
                for unit, y in zip(units, ys, strict=True):
                    ax.text(
                        column - 0.14, float(y), f"x{unit + 1}", ha="right", va="center", fontsize=8, color="#555555"
                    )
            elif column == n_columns - 1:
                for unit, y in zip(units, ys, strict=True):
                    label = "ŷ" if sizes[-1] == 1 else f"ŷ{unit + 1}"
                    ax.text(column + 0.14, float(y), label, ha="left", va="center", fontsize=8, color="#555555")

    ax.set_xlim(-0.6, n_columns - 0.4)
    ax.set_ylim(-(rows - 1) / 2.0 - (2.9 if any_hidden else 1.7), (rows - 1) / 2.0 + 1.5)
    ax.legend(
        handles=[
            Line2D([], [], color=POSITIVE, linewidth=2.5, label="positive weight"),
            Line2D([], [], color=NEGATIVE, linewidth=2.5, label="negative weight"),
        ],
        # Top left in wide figures, where a reader scrolling from the left finds it.
        loc="lower center" if n_columns <= 8 else "lower left",
        bbox_to_anchor=(0.5, 1.0) if n_columns <= 8 else (0.0, 1.0),
        ncol=2,
        fontsize=9,
        frameon=False,
        title="width ∝ |w| within each layer; node colour = bias"
        + ("\nbusy layers: only each unit's strongest incoming weights" if pruned else ""),
        title_fontsize=9,
    )
    return fig


def _rgba(colour: str) -> NDArray[np.float64]:
    from matplotlib.colors import to_rgba

    return np.array(to_rgba(colour), dtype=np.float64)


def _dropout_rates(net: Network) -> dict[int, float]:
    """Dense layer index → the rate of the Dropout layer right after it."""
    rates: dict[int, float] = {}
    dense_index = 0
    for layer in net.layers:
        if isinstance(layer, Dropout):
            rates[dense_index] = layer.rate
        else:
            dense_index = layer.index
    return rates


# --------------------------------------------------------------------------- decision boundary


def plot_decision_boundary(
    net: Network,
    X: Any,
    y: Any,
    transform: Callable[[NDArray[Any]], NDArray[Any]] | None = None,
    labels: Sequence[str] | None = None,
) -> Figure:
    """The regions a classifier assigns to each class, with the data on top.

    Parameters
    ----------
    net : Network
        A classifier: softmax (or any) outputs are read by argmax, one output
        unit as ``p > 0.5``. For one output unit without sigmoid (a regressor)
        the predicted value is drawn as a continuous surface instead.
    X : array_like of shape (n_samples, 2)
        The raw 2-D points, as the axes show them.
    y : array_like of shape (n_samples,)
        The true class index of each point (its value for a regressor).
    transform : callable, optional
        Maps an ``(m, 2)`` array of raw points to the network's inputs
        ``(m, n_inputs)``, e.g. ``Standardizer.transform``. Default: none.
    labels : sequence of str, optional
        The name of each class index, for the legend.

    Returns
    -------
    Figure
        One axes (two with the colour bar of a regressor): the regions as an
        image, the class borders as contour lines, the points coloured by
        true class; the title gives the share of points on their class's side.

    Raises
    ------
    ShapeError
        ``X`` is not ``(n, 2)``, ``y`` not ``(n,)``, or the transformed grid
        does not match the network's inputs.
    DataError
        ``X`` is empty or not finite, or ``y`` holds negative or fractional
        class indices.
    """
    _require_matplotlib()
    from matplotlib.colors import ListedColormap

    net = as_network(net)
    points = np.asarray(X, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ShapeError(f"X must be raw 2-D points of shape (n_samples, 2), got array of shape {points.shape}")
    if points.shape[0] == 0 or not np.isfinite(points).all():
        raise DataError(f"X must hold at least one point, all finite; got shape {points.shape}")
    targets = np.asarray(y)
    if targets.shape != (points.shape[0],):
        raise ShapeError(f"y must have shape ({points.shape[0]},) to match X, got {targets.shape}")
    if transform is not None and not callable(transform):
        raise BackpropTypeError(f"transform must be callable or None, got {shown(transform)}")

    resolution = 220
    low, high = points.min(axis=0), points.max(axis=0)
    margin = np.maximum(0.08 * (high - low), 0.5 * (high - low == 0))
    low, high = low - margin, high + margin
    gx, gy = np.meshgrid(np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    inputs = transform(grid) if transform is not None else grid
    inputs = np.asarray(inputs)
    if inputs.ndim != 2 or inputs.shape != (grid.shape[0], net.n_inputs):
        raise ShapeError(
            f"the network expects {net.n_inputs} inputs per point; the 2-D points"
            f"{' after transform' if transform is not None else ''} have shape {inputs.shape[1:]}"
            " (pass transform= to map raw points to network inputs)"
        )
    outputs = np.asarray(net.predict(inputs), dtype=np.float64)
    regression = outputs.shape[1] == 1 and net.layers[-1].activation.name != "sigmoid"
    extent = (float(low[0]), float(high[0]), float(low[1]), float(high[1]))

    fig = _figure(5.8, 4.8)
    ax = fig.subplots()
    if regression:
        surface = outputs[:, 0].reshape(gx.shape)
        image = ax.imshow(surface, extent=extent, origin="lower", aspect="auto", cmap="RdBu_r", alpha=0.85)
        fig.colorbar(image, ax=ax, label="prediction")
        ax.scatter(points[:, 0], points[:, 1], c=targets.astype(np.float64), cmap="RdBu_r", s=16, edgecolors="k")
        ax.set_title("Predicted value over the plane")
    else:
        if targets.dtype.kind not in "iub" and not (
            targets.dtype.kind == "f" and np.all(np.isfinite(targets)) and np.all(targets == np.round(targets))
        ):
            raise DataError(f"y must hold class indices 0, 1, ..., got values of dtype {targets.dtype}")
        true = targets.astype(np.int64)
        if true.min() < 0:
            raise DataError(f"y must hold class indices 0, 1, ..., got {int(true.min())}")
        predicted = (outputs[:, 0] > 0.5).astype(np.int64) if outputs.shape[1] == 1 else outputs.argmax(axis=1)
        k = max(2 if outputs.shape[1] == 1 else outputs.shape[1], int(true.max()) + 1, len(labels or ()))
        names = [str(labels[c]) if labels is not None and c < len(labels) else f"class {c}" for c in range(k)]
        palette = _palette(k)
        regions = ListedColormap([_lighten(c) for c in palette])
        classes = predicted.reshape(gx.shape)
        ax.imshow(
            classes,
            extent=extent,
            origin="lower",
            aspect="auto",
            cmap=regions,
            vmin=-0.5,
            vmax=k - 0.5,
            interpolation="nearest",
        )
        present = np.unique(classes)
        if len(present) > 1:
            ax.contour(gx, gy, classes, levels=np.arange(k - 1) + 0.5, colors="#333333", linewidths=0.9)
        for c in range(k):
            mask = true == c
            if mask.any():
                ax.scatter(
                    points[mask, 0],
                    points[mask, 1],
                    s=16,
                    color=palette[c],
                    edgecolors="white",
                    linewidths=0.5,
                    label=_plain(f"{names[c]} ({int(mask.sum())})"),
                )
        on_side = _accuracy_on_points(net, points, true, transform)
        ax.set_title(f"Decision boundary: {on_side:.1%} of points on their class's side")
        ax.legend(fontsize="small", loc="best", framealpha=0.85)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    return fig


def _accuracy_on_points(
    net: Network, points: NDArray[np.float64], true: NDArray[np.int64], transform: Callable[..., Any] | None
) -> float:
    inputs = np.asarray(transform(points) if transform is not None else points)
    outputs = np.asarray(net.predict(inputs), dtype=np.float64)
    predicted = (outputs[:, 0] > 0.5).astype(np.int64) if outputs.shape[1] == 1 else outputs.argmax(axis=1)
    return float(np.mean(predicted == true))


def _palette(k: int) -> list[str]:
    if k <= len(_CLASS_COLOURS):
        return list(_CLASS_COLOURS[:k])
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["hsv"]
    return [to_hex(cmap(i / k)) for i in range(k)]


def _lighten(colour: str, amount: float = 0.7) -> tuple[float, float, float]:
    rgba = _rgba(colour)
    r, g, b = (1.0 - amount) * rgba[:3] + amount
    return float(r), float(g), float(b)


# --------------------------------------------------------------------------- confusion matrix


def plot_confusion_matrix(matrix: Any, labels: Sequence[str]) -> Figure:
    """Counts of true class (rows) against predicted class (columns).

    Parameters
    ----------
    matrix : array_like of shape (k, k)
        Non-negative counts; ``matrix[i, j]`` samples of class ``i`` were
        predicted as class ``j``.
    labels : sequence of str, length k
        The class names, in index order.

    Returns
    -------
    Figure
        The matrix coloured by per-row percentage (the share of each true
        class), each non-empty cell annotated with its count and that
        percentage, empty cells with a grey 0 (for k ≤ 30), and a colour bar:
        two axes.

    Raises
    ------
    ShapeError
        ``matrix`` is not square or ``labels`` has not ``k`` entries.
    DataError
        Negative or non-finite counts.
    """
    _require_matplotlib()
    counts = np.asarray(matrix, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise ShapeError(f"matrix must be a square (k, k) array of counts, got shape {counts.shape}")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise DataError("matrix must hold non-negative finite counts")
    if isinstance(labels, str) or len(labels) != counts.shape[0]:
        raise ShapeError(f"labels must name the {counts.shape[0]} classes, got {shown(labels)}")
    k = counts.shape[0]
    totals = counts.sum(axis=1, keepdims=True)
    percent = np.divide(100.0 * counts, totals, out=np.zeros_like(counts), where=totals > 0)

    side = min(14.0, max(3.6, 0.48 * k + 2.3))
    fig = _figure(side + 1.1, side)
    ax = fig.subplots()
    image = ax.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, label="% of the true class", shrink=0.85)
    names = [_plain(label) for label in labels]
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right" if k > 1 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Confusion matrix")
    if k <= 30:
        fontsize = 10 if k <= 6 else 8 if k <= 12 else 6 if k <= 20 else 5
        for i in range(k):
            for j in range(k):
                count = counts[i, j]
                if count == 0:
                    # Empty cells stay quiet, so the mistakes stand out.
                    ax.text(j, i, "0", ha="center", va="center", fontsize=fontsize, color="#9aa3b0")
                    continue
                text = f"{int(count):,}" if count == int(count) else f"{count:.3g}"
                colour = "white" if percent[i, j] > 55 else "#222222"
                ax.text(
                    j, i, f"{text}\n{percent[i, j]:.0f}%", ha="center", va="center", fontsize=fontsize, color=colour
                )
    return fig


# --------------------------------------------------------------------------- saving


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> None:
    """Render ``fig`` and write it to ``path`` atomically.

    The format comes from the suffix: ``.png``, ``.svg`` or ``.pdf``. The
    figure is rendered to memory first, then written with
    :func:`backprop.io.atomic_write`: if rendering or writing fails, no
    partial file is left and any previous file at ``path`` is intact. The
    figure stays open and usable.

    Parameters
    ----------
    fig : Figure
    path : str or path-like
    dpi : int, default 120
        Resolution of PNG output (and of images inside SVG/PDF).

    Raises
    ------
    ParameterError
        Unknown suffix, or ``dpi`` not a positive integer.
    SaveError
        The file cannot be written.
    """
    _require_matplotlib()
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise BackpropTypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    dpi = check_positive_int(dpi, "dpi")
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    fmt = _FORMATS.get(suffix)
    if fmt is None:
        raise ParameterError(
            f"cannot tell the image format of {os.fspath(path)!r}: the suffix must be one of {sorted(_FORMATS)}"
        )
    atomic_write(path, render_figure(fig, fmt, dpi))


def render_figure(fig: Figure, fmt: str = "png", dpi: int = 120) -> bytes:
    """The bytes of ``fig`` rendered as ``fmt`` ("png", "svg" or "pdf"), in memory.

    No timestamps, software names or URLs are embedded in the metadata, and
    SVG ids are salted with a fixed string, so the output depends only on the
    figure (constrained layout may still move things by a fraction of a point
    when one figure is rendered twice). The figure stays open.
    """
    _require_matplotlib()
    from matplotlib import rc_context

    if fmt not in _FORMATS.values():
        raise ParameterError(f"fmt must be one of {sorted(_FORMATS.values())}, got {fmt!r}")
    metadata: dict[str, Any] = {
        "png": {"Software": None},
        "svg": {"Date": None, "Creator": None},
        "pdf": {"CreationDate": None, "Creator": None, "Producer": None},
    }[fmt]
    buffer = _io.BytesIO()
    with rc_context({"svg.hashsalt": "backprop", "svg.fonttype": "path"}):
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata, facecolor="white")
    return buffer.getvalue()


__all__ = [
    "INSTALL_HINT",
    "MAX_EDGES_DRAWN",
    "MAX_UNITS_DRAWN",
    "best_epoch",
    "history_figures",
    "plot_confusion_matrix",
    "plot_decision_boundary",
    "plot_gradient_norms",
    "plot_history",
    "plot_network",
    "render_figure",
    "save_figure",
]
