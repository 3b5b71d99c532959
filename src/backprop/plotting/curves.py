"""Training curves: loss and accuracy (or R²) per epoch, and the gradient norm of each layer.

Reads a :class:`~backprop.training.History` (or its ``history`` dict);
draws with the helpers of :mod:`backprop.plotting.figures`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .._html import lowest_loss
from .._validation import shown
from ..errors import BackpropTypeError, ParameterError
from ..training import History
from .figures import NEGATIVE, POSITIVE, new_figure, require_matplotlib

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

HistoryLike = Mapping[str, Sequence[float]] | History


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
    return lowest_loss(_series(history))


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
    fig = new_figure(5.2 * len(panels), 3.6)
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
        fig = new_figure(4.8, 3.4)
        _draw_history_panel(fig.subplots(), series, key, title)
        figures.append(fig)
    return figures


def _history_panels(history: HistoryLike) -> tuple[dict[str, NDArray[np.float64]], list[tuple[str, str]]]:
    require_matplotlib()
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
    best = lowest_loss(series)
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
    require_matplotlib()
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
    fig = new_figure(6.4 if len(layers) > 6 else 5.4, 3.8)
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


__all__ = ["HistoryLike", "best_epoch", "history_figures", "plot_gradient_norms", "plot_history"]
