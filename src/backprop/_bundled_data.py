"""scikit-learn's bundled datasets, read from its data files without importing scikit-learn.

``import sklearn`` costs ~1.5 s (scipy, joblib, pandas: measured on the
2-vCPU AMD EPYC, 2026-12-06), most of a ``backprop train iris``: its wall
time was 2.4 s for 0.08 s of training. The files are small text files in
``sklearn/datasets/data``; this module finds that folder without running
scikit-learn's ``__init__`` (:func:`importlib.util.find_spec`) and reads
each file as scikit-learn's loader does (the same numpy conversions, so the
same float64 values; the diabetes features scaled by ``sklearn.preprocessing.scale``'s
steps), with the loaders' feature names. :func:`read` returns None when the
folder or a file is missing or not laid out as expected: the caller then
imports scikit-learn and calls its loader. ``tests/test_datasets.py`` checks
every dataset against scikit-learn's loader, bit for bit.

Imports the standard library and numpy.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

# breast_cancer's ten measurements of the cell nuclei (each as a mean, an error and a worst value).
_NUCLEUS = (
    "radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity", "concave points",
    "symmetry", "fractal dimension",
)  # fmt: skip

#: The loaders' feature names (``load_iris().feature_names`` and so on).
FEATURES: dict[str, list[str]] = {
    "iris": ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"],
    "wine": [
        "alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols", "flavanoids",
        "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue", "od280/od315_of_diluted_wines",
        "proline",
    ],
    "breast_cancer": [
        f"{before}{cell}{after}"
        for before, after in (("mean ", ""), ("", " error"), ("worst ", ""))
        for cell in _NUCLEUS
    ],
    "digits": [f"pixel_{row}_{column}" for row in range(8) for column in range(8)],
    "diabetes": ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"],
}  # fmt: skip

#: The file each dataset is read from (diabetes: features, then targets).
FILES = {
    "iris": ("iris.csv",),
    "wine": ("wine_data.csv",),
    "breast_cancer": ("breast_cancer.csv",),
    "digits": ("digits.csv.gz",),
    "diabetes": ("diabetes_data_raw.csv.gz", "diabetes_target.csv.gz"),
}

Read = tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], list[str], list[str] | None]


def folder() -> Path | None:
    """scikit-learn's data folder, found without importing it; None where scikit-learn is not installed."""
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        return None
    data = Path(locations[0]) / "datasets" / "data"
    return data if data.is_dir() else None


def read(name: str, where: Path | None = None) -> Read | None:
    """``(X float64, y, feature names, target names or None)`` as scikit-learn's ``load_<name>()`` gives them.

    None where the files are missing or not as scikit-learn's loader reads them (another version's layout).
    """
    where = folder() if where is None else where
    if where is None or name not in FILES:
        return None
    try:
        if name == "digits":
            with gzip.open(where / FILES[name][0], "rt") as file:
                table = np.loadtxt(file, delimiter=",")
            if table.ndim != 2 or table.shape[1] != 65:
                return None
            return table[:, :-1], table[:, -1].astype(np.int64), list(FEATURES[name]), [str(i) for i in range(10)]
        if name == "diabetes":
            with gzip.open(where / FILES[name][0], "rt") as file:
                X = np.loadtxt(file)
            with gzip.open(where / FILES[name][1], "rt") as file:
                y = np.loadtxt(file)
            if X.ndim != 2 or X.shape[1] != len(FEATURES[name]) or y.shape != (X.shape[0],):
                return None
            return _scaled(X), y, list(FEATURES[name]), None
        return _counted_csv(where / FILES[name][0], name)
    except (OSError, ValueError, IndexError, EOFError):
        return None


def _counted_csv(path: Path, name: str) -> Read | None:
    # sklearn.datasets._base.load_csv_data's format: a first row "n_samples,n_features,class names...",
    # then each sample's features and its class index.
    with path.open("r", encoding="utf-8", newline="") as file:
        rows = csv.reader(file)
        head = next(rows)
        n, k = int(head[0]), int(head[1])
        names = FEATURES[name]
        if k != len(names):
            return None
        X = np.empty((n, k))
        y = np.empty(n, np.int64)
        count = 0
        for row in rows:
            if count == n or len(row) != k + 1:
                return None
            X[count] = np.asarray(row[:-1], dtype=np.float64)
            y[count] = int(row[-1])
            count += 1
    if count != n:
        return None
    return X, y, list(names), list(head[2:])


def _scaled(X: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    # load_diabetes(scaled=True): sklearn.preprocessing.scale(X) (centre, divide by the standard
    # deviation, each followed by its correction when the new means are not close to 0), then / √n.
    X = X.copy()
    mean, std = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
    X -= mean
    again = np.nanmean(X, axis=0)
    if not np.allclose(again, 0):
        X -= again
    std[std < 10 * np.finfo(std.dtype).eps] = 1.0  # _handle_zeros_in_scale
    X /= std
    again = np.nanmean(X, axis=0)
    if not np.allclose(again, 0):
        X -= again
    X /= X.shape[0] ** 0.5
    return X
