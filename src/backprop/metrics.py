"""Metrics: how good the predictions are, shared by training, the CLI and the report.

Training's per-epoch metrics (accuracy, R², mean absolute error) are summed
batch by batch with :func:`correct`, :func:`mean_abs_share` and the squared
error, then turned into a figure with :func:`r2`. Evaluation on a whole table
streams :class:`Confusion` (classification) and :class:`RegressionSums`
(regression) over chunks of rows and summarizes them the way ``backprop
evaluate``, ``train --json`` and the HTML report show them.

Imports only numpy and the library's memory check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._memory import check_allocation

FloatArray = NDArray[np.floating[Any]]

#: The JSON confusion matrix is dense over at most this many classes, else a list of its nonzero cells.
DENSE_CLASSES = 1000


@dataclass
class Confusion:
    """Counts of (true class, predicted class) pairs, kept sparse.

    Memory grows with the distinct pairs seen (at most the rows), not with the
    square of the classes: one row scored by a 100,000-class model keeps one
    pair, not a 75 GiB matrix.
    """

    k: int
    true: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    predicted: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    counts: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def add(self, y_true: NDArray[Any], y_pred: NDArray[Any]) -> None:
        """Count the rows of class ``y_true`` predicted as ``y_pred`` (class indices, shape ``(n,)``)."""
        k = self.k
        codes = np.concatenate(
            [self.true * k + self.predicted, np.asarray(y_true, np.int64) * k + np.asarray(y_pred, np.int64)]
        )
        weights = np.concatenate([self.counts, np.ones(len(codes) - len(self.counts), dtype=np.int64)])
        unique, inverse = np.unique(codes, return_inverse=True)
        # float64 weights hold counts exactly up to 2**53 rows.
        self.counts = np.bincount(inverse.ravel(), weights=weights, minlength=len(unique)).astype(np.int64)
        self.true, self.predicted = unique // k, unique % k

    def totals(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """Rows per true class, rows per predicted class and rows predicted right, each of shape ``(k,)``."""
        right = self.true == self.predicted

        def per_class(index: NDArray[np.int64], weights: NDArray[np.int64]) -> NDArray[np.int64]:
            return np.bincount(index, weights=weights, minlength=self.k).astype(np.int64)

        return (
            per_class(self.true, self.counts),
            per_class(self.predicted, self.counts),
            per_class(self.true[right], self.counts[right]),
        )

    def dense(self, classes: NDArray[np.int64]) -> NDArray[np.int64]:
        """The matrix over ``classes`` (sorted class indices that hold every pair counted)."""
        check_allocation(len(classes) ** 2 * 8, f"a confusion matrix of {len(classes):,} classes")
        matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
        matrix[np.searchsorted(classes, self.true), np.searchsorted(classes, self.predicted)] = self.counts
        return matrix


def confusion_matrix(y_true: NDArray[Any], y_pred: NDArray[Any], k: int) -> NDArray[np.int64]:
    """``matrix[i, j]``: rows of true class ``i`` predicted as class ``j``, shape ``(k, k)``.

    Raises
    ------
    MemoryLimitError
        When ``k × k`` counts do not fit the memory available (use :class:`Confusion`).
    """
    confusion = Confusion(k)
    confusion.add(y_true, y_pred)
    return confusion.dense(np.arange(k, dtype=np.int64))


def per_class_rows(
    support: NDArray[np.int64], predicted: NDArray[np.int64], right: NDArray[np.int64], labels: Sequence[Any]
) -> list[dict[str, Any]]:
    tp = right.astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(tp), where=both > 0)
    return [
        {"class": label, "precision": p, "recall": r, "f1": f, "support": s}
        for label, p, r, f, s in zip(
            labels, precision.tolist(), recall.tolist(), f1.tolist(), support.tolist(), strict=True
        )
    ]


def per_class(matrix: NDArray[np.int64], labels: Sequence[Any]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support per class from a confusion matrix (0 where undefined)."""
    counts = np.asarray(matrix, dtype=np.int64)
    return per_class_rows(counts.sum(axis=1), counts.sum(axis=0), np.diagonal(counts).copy(), labels)


def classification_summary(confusion: Confusion, loss: float, labels: Sequence[Any]) -> dict[str, Any]:
    support, predicted, right = confusion.totals()
    n = int(support.sum())
    classes = per_class_rows(support, predicted, right, labels)
    present = [c for c in classes if c["support"]] or classes
    return {
        "rows": n,
        "loss": loss,
        "accuracy": float(right.sum()) / n if n else 0.0,
        "macro_precision": float(np.mean([c["precision"] for c in present])),
        "macro_recall": float(np.mean([c["recall"] for c in present])),
        "macro_f1": float(np.mean([c["f1"] for c in present])),
        "per_class": classes,
        "confusion_matrix": confusion_json(confusion, labels),
    }


def confusion_json(confusion: Confusion, labels: Sequence[Any]) -> dict[str, Any]:
    """``{"labels", "matrix"}`` over every class (at most DENSE_CLASSES), else over the classes seen.

    Past DENSE_CLASSES classes seen, ``"cells"`` lists ``[row, column, count]`` of the
    nonzero cells instead of the matrix (indices into ``"labels"``).
    """
    if confusion.k <= DENSE_CLASSES:
        classes = np.arange(confusion.k, dtype=np.int64)
    else:
        classes = np.union1d(confusion.true, confusion.predicted)
    names = [labels[i] for i in classes.tolist()]
    if len(classes) <= DENSE_CLASSES:
        return {"labels": names, "matrix": confusion.dense(classes).tolist()}
    rows, columns = np.searchsorted(classes, confusion.true), np.searchsorted(classes, confusion.predicted)
    return {"labels": names, "cells": np.column_stack([rows, columns, confusion.counts]).tolist()}


@dataclass
class RegressionSums:
    """Streaming sums for R², MAE and RMSE (Chan's merge for the target's variance)."""

    n: int = 0
    abs_sum: float = 0.0
    sq_sum: float = 0.0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, y: NDArray[np.float64], pred: NDArray[np.float64]) -> None:
        if not len(y):
            return
        error = pred - y
        self.abs_sum += float(np.abs(error).sum())
        self.sq_sum += float((error * error).sum())
        n_b = len(y)
        mean_b = float(y.mean())
        m2_b = float(((y - mean_b) ** 2).sum())
        delta = mean_b - self.mean
        total = self.n + n_b
        self.mean += delta * n_b / total
        self.m2 += m2_b + delta * delta * self.n * n_b / total
        self.n = total

    def summary(self, loss: float) -> dict[str, Any]:
        n = max(self.n, 1)
        return {
            "rows": self.n,
            "loss": loss,
            "r2": 1.0 - self.sq_sum / self.m2 if self.m2 > 0 else 0.0,
            "mae": self.abs_sum / n,
            "rmse": math.sqrt(self.sq_sum / n),
        }


# ---------------------------------------------------------- training metrics


def total_variance(targets: FloatArray) -> tuple[float, int]:
    """``Σ (y − ȳ)²`` over every target column as ``(s, e)``, the sum being ``s · 2^e``.

    Computed on the targets scaled by a power of two (exact), so targets near
    1e308, whose mean or sum of squares overflows float64, give no warning;
    where the plain sum is finite, ``s · 2^e`` is that sum bit for bit.
    """
    values = targets.astype(np.float64)
    if values.size == 0:
        return 0.0, 0
    _, exponent = np.frexp(np.abs(values).max())
    np.ldexp(values, -exponent, out=values)
    centered = values - values.mean(axis=0)
    return float(np.einsum("ij,ij->", centered, centered)), 2 * int(exponent)


def r2(loss_sum: float, variance: tuple[float, int]) -> float:
    """R² = 1 − Σ(ŷ − y)² / Σ(y − ȳ)² from the mse sum ``½ Σ(ŷ − y)²``; 0 for constant targets.

    Never NaN: an infinite loss sum (the loss overflowed) gives −inf.
    """
    scaled, exponent = variance
    if not scaled > 0:
        return 0.0
    with np.errstate(over="ignore"):
        ratio = np.ldexp(loss_sum / scaled, -exponent) * 2.0
    return 1.0 - float(ratio)


def mean_abs_share(output: FloatArray, targets: FloatArray, count: int) -> float:
    """``Σ |ŷ − y| / count`` over a batch: its share of the mean absolute error over ``count`` values.

    In float64, and divided before summing where the sum alone overflows (targets near 1e308),
    so the mean is finite wherever it is representable.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        error = np.abs(np.subtract(output, targets, dtype=np.float64))
        total = float(error.sum())
        if math.isinf(total) and np.isfinite(error).all():
            return float((error / count).sum())
    return total / count


def correct(output: FloatArray, targets: FloatArray, multilabel: bool) -> int:
    """Rows whose predicted class (argmax), or every predicted label (≥ ½), is right."""
    if multilabel:
        return int(np.count_nonzero(((output >= 0.5) == (targets >= 0.5)).all(axis=1)))
    return int(np.count_nonzero(output.argmax(axis=1) == targets.argmax(axis=1)))
