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

Layout: :mod:`~backprop.plotting.figures` (matplotlib on demand, a new
figure, colours, :func:`save_figure`, :func:`render_figure`),
:mod:`~backprop.plotting.curves` (:func:`plot_history`,
:func:`plot_gradient_norms`), :mod:`~backprop.plotting.diagram`
(:func:`plot_network`) and :mod:`~backprop.plotting.classes`
(:func:`plot_decision_boundary`, :func:`plot_confusion_matrix`); all
re-exported here.
"""

from __future__ import annotations

from .classes import plot_confusion_matrix, plot_decision_boundary
from .curves import HistoryLike, best_epoch, history_figures, plot_gradient_norms, plot_history
from .diagram import MAX_EDGES_DRAWN, MAX_UNITS_DRAWN, plot_network
from .figures import INSTALL_HINT, NEGATIVE, POSITIVE, render_figure, require_matplotlib, save_figure

__all__ = [
    "INSTALL_HINT",
    "MAX_EDGES_DRAWN",
    "MAX_UNITS_DRAWN",
    "NEGATIVE",
    "POSITIVE",
    "HistoryLike",
    "best_epoch",
    "history_figures",
    "plot_confusion_matrix",
    "plot_decision_boundary",
    "plot_gradient_norms",
    "plot_history",
    "plot_network",
    "render_figure",
    "require_matplotlib",
    "save_figure",
]
