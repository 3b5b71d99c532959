"""What every picture shares: matplotlib on demand, a figure on its own canvas, colours, saving.

:func:`require_matplotlib` imports matplotlib or raises
:class:`~backprop.errors.MissingDependencyError` with the install hint;
:func:`new_figure` makes a figure on an Agg canvas (no ``pyplot`` state);
:func:`save_figure` renders one in memory and writes it with
:func:`backprop.files.atomic_write`. The other modules of
:mod:`backprop.plotting` import these; this one imports no network code.
"""

from __future__ import annotations

import importlib
import io as _io
import os
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .._validation import check_positive_int
from ..errors import BackpropTypeError, MissingDependencyError, ParameterError
from ..files import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

INSTALL_HINT = "pip install 'backprop[plot]'"

POSITIVE = "#1f77b4"  # TensorFlow Playground's blue
NEGATIVE = "#f28e2b"  # and its orange
#: One colour per class, for up to ten classes (more get evenly spaced hues).
CLASS_COLOURS = (
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
_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def require_matplotlib() -> None:
    """Import matplotlib, or raise :class:`MissingDependencyError` with the install hint."""
    try:
        for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
            importlib.import_module(module)
    except ImportError as error:
        raise MissingDependencyError(
            f"plotting needs matplotlib, which is not installed; install it with {INSTALL_HINT}"
        ) from error


def new_figure(width: float, height: float) -> Figure:
    """A new figure on its own Agg canvas (no pyplot, no display)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plain(text: object) -> str:
    """``text`` for a matplotlib label: ``$`` would start mathtext, so it is escaped."""
    return str(text).replace("$", r"\$")


def rgba(colour: str) -> NDArray[np.float64]:
    """``colour`` (a name or ``#rrggbb``) as an RGBA array of shape (4,), values in [0, 1]."""
    from matplotlib.colors import to_rgba

    return np.array(to_rgba(colour), dtype=np.float64)


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> None:
    """Render ``fig`` and write it to ``path`` atomically.

    The format comes from the suffix: ``.png``, ``.svg`` or ``.pdf``. The
    figure is rendered to memory first, then written with
    :func:`backprop.files.atomic_write`: if rendering or writing fails, no
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
    require_matplotlib()
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
    require_matplotlib()
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
    "CLASS_COLOURS",
    "INSTALL_HINT",
    "NEGATIVE",
    "POSITIVE",
    "new_figure",
    "plain",
    "render_figure",
    "require_matplotlib",
    "rgba",
    "save_figure",
]
