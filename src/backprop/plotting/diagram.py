"""The network diagram: nodes per layer and weighted edges, as TensorFlow Playground draws them.

Reads a :class:`~backprop.network.Network`'s weights and biases; draws with
the helpers of :mod:`backprop.plotting.figures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .._html import MAX_EDGES_DRAWN, MAX_UNITS_DRAWN, unit_labels
from ..layers import Dropout
from ..network import Network, as_network
from .figures import NEGATIVE, POSITIVE, new_figure, plain, require_matplotlib, rgba

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _shown_units(strength: NDArray[np.float64], limit: int) -> NDArray[np.intp]:
    """Indices of the ``limit`` strongest units, in their original order."""
    if len(strength) <= limit:
        return np.arange(len(strength))
    return np.sort(np.argsort(-strength, kind="stable")[:limit])


def plot_network(
    net: Network, inputs: Sequence[object] | None = None, outputs: Sequence[object] | None = None
) -> Figure:
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
    inputs : sequence of n_inputs names, optional
        The input columns' names (e.g. a preprocessor's ``input_names``:
        ``column`` or ``column=category``), shown beside the input nodes
        instead of ``x1``, ``x2``, … (the strongest ones when there are more
        than :data:`MAX_UNITS_DRAWN`).
    outputs : sequence of n_outputs names, optional
        The outputs' names (e.g. the class labels), instead of ``ŷ1``, ``ŷ2``, ….

    Returns
    -------
    Figure
        One axes with one column of nodes for the inputs (column 0) and one
        per Dense layer (column ``c`` for the ``c``-th). Artists carry ids for
        inspection: ``nodes-<c>`` (the column's scatter), ``edges-<c>`` (the
        line collection from column ``c - 1`` to ``c``) and ``more-<c>`` (the
        ``+N more`` text of a summarized column).
    """
    require_matplotlib()
    from matplotlib.collections import LineCollection
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.lines import Line2D

    net = as_network(net)
    weights = [np.asarray(w, dtype=np.float64) for w in net.weights]
    biases = [None if b is None else np.asarray(b, dtype=np.float64) for b in net.biases]
    sizes = net.sizes
    n_columns = len(sizes)
    input_names = unit_labels(inputs, sizes[0], "inputs", plain)
    output_names = unit_labels(outputs, sizes[-1], "outputs", plain)

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
    fig = new_figure(width, height)
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
        colours = np.where(block[keep][order, None] >= 0, rgba(POSITIVE), rgba(NEGATIVE))
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
            plain(detail),
            ha="center",
            va="top",
            fontsize=9,
            color="#333333",
        )
        if len(units) <= MAX_UNITS_DRAWN and n_columns <= 12:
            if column == 0:
                for unit, y in zip(units, ys, strict=True):
                    name = f"x{unit + 1}" if input_names is None else input_names[unit]
                    ax.text(column - 0.14, float(y), name, ha="right", va="center", fontsize=8, color="#555555")
            elif column == n_columns - 1:
                for unit, y in zip(units, ys, strict=True):
                    label = "ŷ" if sizes[-1] == 1 else f"ŷ{unit + 1}"
                    label = label if output_names is None else output_names[unit]
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


__all__ = ["MAX_EDGES_DRAWN", "MAX_UNITS_DRAWN", "plot_network"]
