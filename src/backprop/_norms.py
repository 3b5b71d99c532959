"""The gradient's 2-norms each step: what ``fit`` reports of them, and the check that it is finite.

:class:`SquaredNorms` sums ``g²`` over each ``W`` and ``b`` of the flat
gradient once a step (:meth:`backprop.training.Trainer.apply_gradient`): the
total tells whether the gradient is finite (and, under ``clip_norm``, its
length), each layer's ``‖∂L/∂W‖`` goes into the epoch's ``grad_norm_*``.

Imports numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import FloatArray

if TYPE_CHECKING:
    from .network import Network


def gradient_segments(net: Network) -> tuple[list[FloatArray], np.ndarray[Any, Any]]:
    """Flat views of the gradient buffer per W and b, and which of them are the W's.

    The segments run weights, bias, weights, bias, ... in the buffer's order.
    """
    views: list[FloatArray] = []
    picks: list[int] = []
    for layer in net.dense_layers:
        picks.append(len(views))
        views.append(layer.dW.reshape(-1))
        if layer.db is not None:
            views.append(layer.db)
    return views, np.array(picks, dtype=np.intp)


class SquaredNorms:
    """``Σ g²`` of each W and b segment of the flat gradient, as float64, once per step.

    A call returns their total and, when it is finite, adds each layer's
    ``‖∂L/∂W‖`` to the epoch's sums (``norm_sums``, one per dense layer).
    """

    # A BLAS dot per segment costs ~0.75 µs a call, one square and one reduceat over
    # the whole buffer ~1.5 µs + 0.5 ns a parameter: the dots win from segments of
    # ~1,000 parameters on average (measured: W2's six segments of 2,535 on average
    # 6.0 against 9.3 µs, W3's eighteen of 546 13.1 against 5.8 µs; W4 480 µs against 11 ms).
    MEAN_SEGMENT = 1024

    def __init__(
        self,
        gradient: FloatArray,
        segments: list[FloatArray],
        weights: np.ndarray[Any, Any],
        scratch: FloatArray,
        kernel: Callable[..., Any] | None = None,
    ) -> None:
        self.gradient, self.segments, self.weights, self.scratch = gradient, segments, weights, scratch
        self.starts = np.cumsum([0] + [part.size for part in segments[:-1]], dtype=np.intp)
        self.dots = gradient.size >= self.MEAN_SEGMENT * len(segments)
        # A compiled pass (only when nothing clips the gradient: the norms then change no
        # parameter) may sum them in its own order, one call instead of one per segment.
        self.kernel = kernel
        self.sums = np.zeros(len(segments))
        self.zero = gradient.dtype.type(0)

    def __call__(self, norm_sums: np.ndarray[Any, Any]) -> float:
        """The total; ``self.sums`` keeps the segments' sums (to tell which layer, when it is not finite)."""
        if self.kernel is not None:
            total = float(self.kernel(self.gradient, self.starts, self.zero, self.sums, self.weights, norm_sums))
            if math.isfinite(total):
                return total  # the kernel added the weight norms itself
        else:
            if self.dots:
                self.sums = np.array([np.dot(part, part) for part in self.segments], dtype=np.float64)
            else:
                squares = np.multiply(self.gradient, self.gradient, out=self.scratch)
                self.sums = np.add.reduceat(squares, self.starts, dtype=np.float64)
            total = float(self.sums.sum())
        if not math.isfinite(total):
            # Either the gradient is not finite, or a float32 square overflowed.
            self.sums = _squares_float64(self.segments)
            total = float(self.sums.sum())
        if math.isfinite(total):
            norm_sums += np.sqrt(self.sums[self.weights])
        return total


def _squares_float64(segments: list[FloatArray]) -> np.ndarray[Any, Any]:
    """Per-segment sums of squares in float64 (the rare path where float32 overflowed)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.array([np.dot(part.astype(np.float64), part.astype(np.float64)) for part in segments])
