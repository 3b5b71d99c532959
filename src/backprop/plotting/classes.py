"""Pictures of a classifier's answers: the decision boundary over the plane and the confusion matrix.

Draws with the helpers of :mod:`backprop.plotting.figures`;
:func:`plot_decision_boundary` calls :meth:`Network.predict` on a grid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .._validation import shown
from ..errors import BackpropTypeError, DataError, ShapeError
from ..network import Network, as_network
from .figures import CLASS_COLOURS, new_figure, plain, require_matplotlib, rgba

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_decision_boundary(
    net: Network,
    X: Any,
    y: Any,
    transform: Callable[[NDArray[Any]], NDArray[Any]] | None = None,
    labels: Sequence[str] | None = None,
    axes: Sequence[str] | None = None,
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
    axes : (str, str), optional
        The two features' names, for the axes [default: x1, x2].

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
    require_matplotlib()
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

    fig = new_figure(5.8, 4.8)
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
                    label=plain(f"{names[c]} ({int(mask.sum())})"),
                )
        on_side = _accuracy_on_points(net, points, true, transform)
        ax.set_title(f"Decision boundary: {on_side:.1%} of points on their class's side")
        ax.legend(fontsize="small", loc="best", framealpha=0.85)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    x_name, y_name = ("x1", "x2") if axes is None else (plain(axes[0]), plain(axes[1]))
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    return fig


def _accuracy_on_points(
    net: Network, points: NDArray[np.float64], true: NDArray[np.int64], transform: Callable[..., Any] | None
) -> float:
    inputs = np.asarray(transform(points) if transform is not None else points)
    outputs = np.asarray(net.predict(inputs), dtype=np.float64)
    predicted = (outputs[:, 0] > 0.5).astype(np.int64) if outputs.shape[1] == 1 else outputs.argmax(axis=1)
    return float(np.mean(predicted == true))


def _palette(k: int) -> list[str]:
    if k <= len(CLASS_COLOURS):
        return list(CLASS_COLOURS[:k])
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["hsv"]
    return [to_hex(cmap(i / k)) for i in range(k)]


def _lighten(colour: str, amount: float = 0.7) -> tuple[float, float, float]:
    r, g, b = (1.0 - amount) * rgba(colour)[:3] + amount
    return float(r), float(g), float(b)


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
    require_matplotlib()
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
    fig = new_figure(side + 1.1, side)
    ax = fig.subplots()
    image = ax.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, label="% of the true class", shrink=0.85)
    names = [plain(label) for label in labels]
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


__all__ = ["plot_confusion_matrix", "plot_decision_boundary"]
