"""The playground's data: four planar sets drawn from one seed with a noise level, or a user's table.

Each built-in set has 500 points in two classes (labels 0 and 1) around the
unit square, as TensorFlow Playground's: ``xor``, ``moons``, ``circles`` and
``spirals``. ``noise`` is the standard deviation of Gaussian jitter added to
every coordinate. A table (CSV, Parquet, ...) read by
:func:`backprop.tabular.read_table` works too: its numeric columns are the
inputs (standardized on the training rows), a column of 2 to :data:`MAX_CLASSES`
values is the target, and two chosen inputs span the plane while the others are
held at their mean.

Imports numpy and, for tables, :mod:`backprop.tabular`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError, ParameterError

N_POINTS = 500
"""Points of a built-in set, before the train/test split."""

MAX_ROWS = 20_000
"""The most rows of a table the playground trains on (it redraws the plane after every step)."""

MAX_CLASSES = 8
"""The most classes of a table's target: the page colours each from a palette of eight."""

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]


def _xor(rng: np.random.Generator, n: int) -> tuple[FloatArray, IntArray]:
    # Uniform in the square, kept a little off the axes; class 1 where x0 and x1 have the same sign.
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    X += np.where(X >= 0, 0.05, -0.05)
    return X, (X[:, 0] * X[:, 1] > 0).astype(np.int64)


def _moons(rng: np.random.Generator, n: int) -> tuple[FloatArray, IntArray]:
    # scikit-learn's make_moons, centred on the origin: an upper arc (class 0) and a lower one (class 1).
    t = rng.uniform(0.0, np.pi, size=n)
    y = (np.arange(n) % 2).astype(np.int64)
    X = np.where(
        y[:, None] == 0,
        np.column_stack([np.cos(t), np.sin(t)]),
        np.column_stack([1.0 - np.cos(t), 0.5 - np.sin(t)]),
    )
    return X - np.array([0.5, 0.25]), y


def _circles(rng: np.random.Generator, n: int) -> tuple[FloatArray, IntArray]:
    # A disc of radius 0.5 (class 1) inside a ring from 0.7 to 1 (class 0).
    y = (np.arange(n) % 2).astype(np.int64)
    radius = np.where(y == 1, rng.uniform(0.0, 0.5, size=n), rng.uniform(0.7, 1.0, size=n))
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    return np.column_stack([radius * np.sin(angle), radius * np.cos(angle)]), y


def _spirals(rng: np.random.Generator, n: int) -> tuple[FloatArray, IntArray]:
    # Two arms of 1.75 turns each from the centre outwards, the second turned by π.
    y = (np.arange(n) % 2).astype(np.int64)
    r = np.repeat(np.arange(n // 2 + 1), 2)[:n] / (n / 2)
    angle = 1.75 * 2 * np.pi * r + np.pi * y
    return np.column_stack([r * np.sin(angle), r * np.cos(angle)]), y


GENERATORS: dict[str, Callable[[np.random.Generator, int], tuple[FloatArray, IntArray]]] = {
    "xor": _xor,
    "moons": _moons,
    "circles": _circles,
    "spirals": _spirals,
}
"""The built-in sets by name."""


@dataclass(frozen=True, eq=False)
class PlaneData:
    """Points split into training and test parts, and how the plane maps to the network's inputs.

    Attributes
    ----------
    X_train, X_test : ndarray of shape (n, n_inputs), float64
        The network's inputs.
    y_train, y_test : ndarray of shape (n,), int64 class indices 0 to k - 1
    plane : (int, int)
        The columns of the inputs drawn as the horizontal and vertical axes.
    domain : (float, float, float, float)
        ``(x_min, x_max, y_min, y_max)`` of the drawn plane.
    input_names : list of str
    class_names : tuple of k str (2 to :data:`MAX_CLASSES`)
    center : ndarray of shape (n_inputs,)
        The value of the inputs off the plane (their training mean).
    """

    X_train: FloatArray
    y_train: IntArray
    X_test: FloatArray
    y_test: IntArray
    plane: tuple[int, int]
    domain: tuple[float, float, float, float]
    input_names: list[str]
    class_names: tuple[str, ...]
    center: FloatArray

    def grid(self, size: int) -> FloatArray:
        """Inputs for a ``size × size`` grid over the plane, row by row from the top.

        Returns
        -------
        ndarray of shape (size * size, n_inputs)
            The two plane columns vary; the others are at :attr:`center`.
        """
        x0, x1, y0, y1 = self.domain
        xs = x0 + (np.arange(size) + 0.5) * (x1 - x0) / size
        ys = y1 - (np.arange(size) + 0.5) * (y1 - y0) / size
        gx, gy = np.meshgrid(xs, ys)
        points = np.tile(self.center, (size * size, 1))
        points[:, self.plane[0]] = gx.ravel()
        points[:, self.plane[1]] = gy.ravel()
        return points


def _split(
    X: FloatArray, y: IntArray, train_ratio: float, rng: np.random.Generator
) -> tuple[FloatArray, IntArray, FloatArray, IntArray]:
    order = rng.permutation(X.shape[0])
    n_train = min(max(1, round(train_ratio * X.shape[0])), X.shape[0] - 1)
    train, test = order[:n_train], order[n_train:]
    return X[train], y[train], X[test], y[test]


def _square(X: FloatArray) -> tuple[float, float, float, float]:
    # A square around the points with a margin, so that the plane is not stretched.
    lo, hi = X.min(axis=0), X.max(axis=0)
    middle, half = (lo + hi) / 2, float(np.max(hi - lo)) / 2 * 1.1 + 1e-9
    return (float(middle[0] - half), float(middle[0] + half), float(middle[1] - half), float(middle[1] + half))


def generate(name: str, noise: float, train_ratio: float, seed: int) -> PlaneData:
    """A built-in set: ``N_POINTS`` points drawn from ``seed``, jittered by ``noise``, then split.

    Parameters
    ----------
    name : {"xor", "moons", "circles", "spirals"}
    noise : float
        Standard deviation of the Gaussian jitter of each coordinate.
    train_ratio : float
        The share of the points in the training part.
    seed : int
        The points, the jitter and the split: the same seed, the same bits.
    """
    if name not in GENERATORS:
        raise ParameterError(f"unknown dataset {name!r}; expected one of {sorted(GENERATORS)} or a table")
    points_rng, noise_rng, split_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    X, y = GENERATORS[name](points_rng, N_POINTS)
    X = X + noise_rng.normal(0.0, noise, size=X.shape)
    X_train, y_train, X_test, y_test = _split(X, y, train_ratio, split_rng)
    return PlaneData(
        X_train, y_train, X_test, y_test, (0, 1), _square(X), ["x1", "x2"], ("0", "1"), np.zeros(2, np.float64)
    )


@dataclass(frozen=True, eq=False)
class Table:
    """A table's numeric inputs and its target of 2 to :data:`MAX_CLASSES` classes, read once.

    Attributes
    ----------
    source : str
    X : ndarray of shape (n_rows, n_inputs), float64 (rows with a missing cell dropped)
    y : ndarray of shape (n_rows,), int64 class indices 0 to k - 1 (the classes sorted by name)
    input_names : list of str
    class_names : tuple of k str
    target : str
    """

    source: str
    X: FloatArray
    y: IntArray
    input_names: list[str]
    class_names: tuple[str, ...]
    target: str


def read_table(source: str, target: str | None = None) -> Table:
    """Read a table for the playground: numeric inputs and a target of 2 to :data:`MAX_CLASSES` classes.

    Parameters
    ----------
    source : str
        A CSV, Parquet, ``.npz`` or ``.npy`` file (:func:`backprop.tabular.read_table`).
    target : str, optional
        The target column; by default the last column.

    Raises
    ------
    DataError
        Fewer than two numeric inputs, a target of one class or more than :data:`MAX_CLASSES`, or no
        complete row.
    """
    from ..tabular import read_table as read

    frame = read(source)
    rows = len(frame.columns[0]) if frame.columns else 0
    if rows > MAX_ROWS:  # before the copies below
        raise DataError(f"{source}: {rows:,} rows; the playground trains on at most {MAX_ROWS:,}")
    if target is None:
        target = frame.names[-1]
    if target not in frame.names:
        raise DataError(f"{source}: no column {target!r}; the columns are {frame.names}")
    labels = frame.columns[frame.names.index(target)]
    inputs = [
        (name, column)
        for name, column in zip(frame.names, frame.columns, strict=True)
        if name != target and column.dtype.kind == "f"
    ]
    if len(inputs) < 2:
        raise DataError(
            f"{source}: the playground draws two numeric inputs as the plane, "
            f"but only {len(inputs)} numeric column(s) besides the target {target!r}"
        )
    X = np.column_stack([column for _, column in inputs]).astype(np.float64)
    present = np.isfinite(X).all(axis=1) & np.array([v is not None and v == v for v in labels.tolist()])
    if not present.any():
        raise DataError(f"{source}: no row has every numeric input and the target {target!r}")
    X, kept = X[present], [str(v) if not isinstance(v, float) else f"{v:g}" for v in labels[present].tolist()]
    classes = sorted(set(kept))
    if not 2 <= len(classes) <= MAX_CLASSES:
        shown = classes[: MAX_CLASSES + 1] + (["..."] if len(classes) > MAX_CLASSES + 1 else [])
        raise DataError(
            f"{source}: the playground shows 2 to {MAX_CLASSES} classes (a colour each), "
            f"but the target {target!r} has {len(classes)}: {shown}"
        )
    index = {name: k for k, name in enumerate(classes)}
    y = np.array([index[v] for v in kept], dtype=np.int64)
    return Table(source, X, y, [name for name, _ in inputs], tuple(classes), target)


def from_table(table: Table, plane: tuple[int, int], train_ratio: float, seed: int) -> PlaneData:
    """Split ``table`` from ``seed`` and standardize its inputs on the training rows.

    ``plane`` names the two input columns drawn as the axes (indices into
    ``table.input_names``); the other inputs are held at their training mean, 0.
    """
    n_inputs = len(table.input_names)
    for index in plane:
        if not 0 <= index < n_inputs:
            raise ParameterError(f"plane columns must be in [0, {n_inputs}), got {list(plane)}")
    if plane[0] == plane[1]:
        raise ParameterError(f"the plane needs two different columns, got {list(plane)}")
    if table.X.shape[0] < 2:
        raise DataError(f"{table.source}: {table.X.shape[0]} complete row(s); a split needs at least 2")
    X_train, y_train, X_test, y_test = _split(table.X, table.y, train_ratio, np.random.default_rng(seed))
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std[std == 0] = 1.0  # a constant column stays 0
    X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
    both = np.concatenate([X_train, X_test])[:, list(plane)]
    return PlaneData(
        X_train, y_train, X_test, y_test, plane, _square(both), table.input_names, table.class_names,
        np.zeros(n_inputs, np.float64),
    )  # fmt: skip
