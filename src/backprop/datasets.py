"""Small datasets for examples, tests and benchmarks, all made or read offline.

>>> from backprop import datasets
>>> data = datasets.load("xor", seed=0)
>>> data.X_train.shape, data.X_test.shape, data.n_classes
((300, 2), (100, 2), 2)

=================  ==============  =========  ========  =======  ==========================================
name               task            samples    features  classes  source
=================  ==============  =========  ========  =======  ==========================================
``xor``            classification  400        2         2        numpy: four noisy blobs
``moons``          classification  1000       2         2        numpy: ``sklearn.datasets.make_moons``
``circles``        classification  1000       2         2        numpy: ``sklearn.datasets.make_circles``
``spirals``        classification  900        2         3        numpy: three spiral arms
``iris``           classification  150        4         3        ``sklearn.datasets.load_iris``
``wine``           classification  178        13        3        ``sklearn.datasets.load_wine``
``breast_cancer``  classification  569        30        2        ``sklearn.datasets.load_breast_cancer``
``digits``         classification  1797       64        10       ``sklearn.datasets.load_digits`` (8×8)
``diabetes``       regression      442        10        --       ``sklearn.datasets.load_diabetes``
``mnist1d``        classification  4000+1000  40        10       ``mnist1d.data.make_dataset``
=================  ==============  =========  ========  =======  ==========================================

Every loader returns a :class:`Dataset` with ``X`` in float32 (the network's
default dtype) and ``y`` as int64 class indices for classification, float32
values for regression. scikit-learn's datasets are files shipped inside its
package, read here as its loaders read them, without importing it (1.5 s of
imports; :mod:`backprop._bundled_data`, its loader where the files differ);
``mnist1d``'s data are generated, never downloaded. Both packages are optional
(``pip install 'backprop[datasets]'``) and imported only when a dataset needs
them. The synthetic sets need numpy alone.

Splits: classification datasets are split with
:func:`backprop.preprocessing.stratified_split`, regression with
:func:`backprop.preprocessing.split`, both from ``seed`` and ``test_size``
(a fraction takes ``ceil(test_size * n)`` test samples); rows come out in a
random order drawn from the seed. ``"mnist1d"`` keeps the package's own
split, 4000 training and 1000 test samples, whatever the seed (the data are
the canonical MNIST-1D set, made from the package's fixed seed 42); a
``test_size`` other than the default 0.25 or the split's own 0.2 or 1000 is
an error rather than silently ignored.

The synthetic sets (``"xor"``, ``"moons"``, ``"circles"``, ``"spirals"``)
are generated from ``seed`` as well: the same seed gives the same points and
the same split (``"moons"`` and ``"circles"`` are exactly scikit-learn's
``make_moons`` / ``make_circles`` with ``random_state=seed``, made by their
steps in numpy, so seeds below 2³² as a ``RandomState`` takes). No loader
reads or changes numpy's or Python's global random state (``mnist1d`` seeds
both; they are saved and restored around it).
"""

from __future__ import annotations

import difflib
import functools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from . import _bundled_data
from ._validation import check_seed, shown
from .errors import BackpropTypeError, DataError, MissingDependencyError, ParameterError, optional_module
from .preprocessing import Standardizer, split, stratified_split

INSTALL_HINT = "pip install 'backprop[datasets]'"


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset split into training and test parts.

    Attributes
    ----------
    name : str
        The name given to :func:`load`.
    X_train : ndarray of shape (n_train, n_features), float32
    y_train : ndarray of shape (n_train,)
        int64 class indices in ``[0, n_classes)`` for classification,
        float32 values for regression.
    X_test : ndarray of shape (n_test, n_features), float32
    y_test : ndarray of shape (n_test,)
    task : {"classification", "regression"}
    n_classes : int or None
        None for regression.
    feature_names : list of str
        One name per column of ``X``.
    target_names : list of str or None
        The name of each class index (None for regression).
    description : str
        One line: what the data are and where they come from.
    scaler : Standardizer or None
        With ``load(..., standardize=True)``, the scaler fitted on
        ``X_train`` and applied to both parts; use it on new data too.
    """

    name: str
    X_train: NDArray[np.float32]
    y_train: NDArray[Any]
    X_test: NDArray[np.float32]
    y_test: NDArray[Any]
    task: Literal["classification", "regression"]
    n_classes: int | None
    feature_names: list[str]
    target_names: list[str] | None
    description: str
    scaler: Standardizer | None = field(default=None)

    @property
    def n_features(self) -> int:
        """Number of columns of ``X``."""
        return int(self.X_train.shape[1])

    def __repr__(self) -> str:
        kind = f"{self.n_classes} classes" if self.task == "classification" else "regression"
        scaled = ", standardized" if self.scaler is not None else ""
        return (
            f"Dataset({self.name!r}, {kind}{scaled}, "
            f"X_train {self.X_train.shape} {self.X_train.dtype}, y_train {self.y_train.shape} {self.y_train.dtype}, "
            f"X_test {self.X_test.shape}, y_test {self.y_test.shape})"
        )


# --------------------------------------------------------------------------- raw data
#
# Each source returns the whole dataset before splitting: a _Raw with X float32
# and y (int64 class indices or float32 targets). Generators take a numpy
# Generator; file-backed sets ignore it.


@dataclass(frozen=True, eq=False)
class _Raw:
    X: NDArray[np.float32]
    y: NDArray[Any]
    feature_names: list[str]
    target_names: list[str] | None
    description: str


def _require(module: str, dataset: str, package: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` with the install hint."""
    return optional_module(module, f"dataset {dataset!r}", INSTALL_HINT, package)


def _xy_names(n: int) -> list[str]:
    return [f"x{i}" for i in range(n)]


def _xor(seed: int | None) -> _Raw:
    # Four Gaussian blobs (std 0.3) of 100 points around the corners (±1, ±1);
    # the label is the XOR of the corner's signs: 1 where x0 and x1 differ in sign.
    rng = _generator(seed)
    corners = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    which = np.repeat(np.arange(4), 100)
    X = corners[which] + rng.normal(0.0, 0.3, size=(len(which), 2))
    y = (corners[which, 0] != corners[which, 1]).astype(np.int64)
    return _Raw(
        X.astype(np.float32),
        y,
        _xy_names(2),
        ["0", "1"],
        "noisy XOR: four Gaussian blobs (std 0.3) around (±1, ±1), label 1 where the corner's signs differ",
    )


def _spirals(seed: int | None) -> _Raw:
    # Three arms of 300 points, each turning 1.5 times from the centre outwards:
    # point i of arm k sits at radius r = i / 299 and angle
    # 2πk/3 + 3πr + noise (std 0.2 rad), a little Gaussian jitter (std 0.02) on top.
    rng = _generator(seed)
    per_arm, arms = 300, 3
    r = np.tile(np.linspace(0.0, 1.0, per_arm), arms)
    arm = np.repeat(np.arange(arms), per_arm)
    angle = 2 * np.pi * arm / arms + 3 * np.pi * r + rng.normal(0.0, 0.2, size=r.shape)
    X = np.column_stack([r * np.cos(angle), r * np.sin(angle)]) + rng.normal(0.0, 0.02, size=(len(r), 2))
    return _Raw(
        X.astype(np.float32),
        arm.astype(np.int64),
        _xy_names(2),
        ["0", "1", "2"],
        "three interleaved spirals (300 points each, 1.5 turns, angular noise 0.2 rad) in the unit disc",
    )


def _moons(seed: int | None) -> _Raw:
    # scikit-learn's make_moons(n_samples=1000, noise=0.2, random_state=seed), step by step: an upper
    # arc (class 0) and a lower one shifted right and down (class 1), shuffled, then noise.
    angle = np.linspace(0, np.pi, 500)
    x = np.append(np.cos(angle), 1 - np.cos(angle))
    y = np.append(np.sin(angle), 1 - np.sin(angle) - 0.5)
    X, labels = _shuffled_with_noise(np.vstack([x, y]).T, 0.2, seed, "moons")
    return _Raw(
        X,
        labels,
        _xy_names(2),
        ["upper", "lower"],
        "two interleaving half circles, sklearn.datasets.make_moons(n_samples=1000, noise=0.2)",
    )


def _circles(seed: int | None) -> _Raw:
    # scikit-learn's make_circles(n_samples=1000, noise=0.1, factor=0.5, random_state=seed), step by
    # step: 500 points on the unit circle (class 0), 500 on the circle of radius 0.5, shuffled, then noise.
    angle = np.linspace(0, 2 * np.pi, 500, endpoint=False)
    x = np.append(np.cos(angle), np.cos(angle) * 0.5)
    y = np.append(np.sin(angle), np.sin(angle) * 0.5)
    X, labels = _shuffled_with_noise(np.vstack([x, y]).T, 0.1, seed, "circles")
    return _Raw(
        X,
        labels,
        _xy_names(2),
        ["outer", "inner"],
        "a circle inside a circle, sklearn.datasets.make_circles(n_samples=1000, noise=0.1, factor=0.5)",
    )


def _shuffled_with_noise(
    X: NDArray[np.float64], noise: float, seed: int | None, name: str
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    # The rest of make_moons and make_circles, as scikit-learn does it with a RandomState of the seed
    # (tests/test_datasets.py compares the two bit for bit): the first half of the points is class 0;
    # the rows shuffled (sklearn.utils.shuffle: a permutation of the indices by RandomState.shuffle),
    # then Gaussian noise of that scale on every coordinate. Without a seed, a RandomState of fresh
    # entropy rather than numpy's global one, which scikit-learn would use (and advance).
    if seed is not None and seed >= 2**32:
        raise ParameterError(
            f"dataset {name!r} takes seeds below 2**32 (a RandomState's, as scikit-learn's), got seed={seed}"
        )
    rng = np.random.RandomState(seed)
    labels = np.repeat(np.arange(2, dtype=np.int64), len(X) // 2)
    order = np.arange(len(X))
    rng.shuffle(order)
    X, labels = X[order], labels[order]
    X += rng.normal(scale=noise, size=X.shape)
    return X.astype(np.float32), labels


_BUNDLED_DESCRIPTIONS = {
    "iris": "Fisher's iris flowers: 4 measurements in cm, 3 species (sklearn.datasets.load_iris)",
    "wine": "wine recognition: 13 chemical analyses, 3 cultivars (sklearn.datasets.load_wine)",
    "breast_cancer": "Wisconsin diagnostic breast cancer: 30 cell-nucleus features, malignant or benign "
    "(sklearn.datasets.load_breast_cancer)",
    "digits": "handwritten digits as 8x8 images of grey levels 0-16, 10 classes (sklearn.datasets.load_digits)",
    "diabetes": "diabetes progression one year after baseline from 10 mean-centred, scaled features "
    "(sklearn.datasets.load_diabetes)",
}


@functools.cache
def _bundled(name: str) -> _Raw:
    # Read once per process (the files never change); load() hands out copies. scikit-learn's
    # files are read without importing it (1.5 s, see _bundled_data); its loader where they
    # are not laid out as that reader expects.
    read = _bundled_data.read(name)
    if read is None:
        sk = _require("sklearn.datasets", name, "scikit-learn")
        bunch = getattr(sk, f"load_{name}")()
        targets = None if name == "diabetes" else _names(bunch.target_names)
        read = (bunch.data, bunch.target, _names(bunch.feature_names), targets)
    data, target, features, classes = read
    y_dtype = np.float32 if classes is None else np.int64
    return _Raw(
        np.asarray(data, dtype=np.float32),
        np.asarray(target, dtype=y_dtype),
        features,
        classes,
        _BUNDLED_DESCRIPTIONS[name],
    )


_MNIST1D_LOCK = threading.Lock()


@functools.cache
def _mnist1d_raw() -> tuple[NDArray[np.float32], NDArray[np.int64], NDArray[np.float32], NDArray[np.int64]]:
    data_module = _require("mnist1d.data", "mnist1d", "mnist1d")
    # make_dataset calls np.random.seed and random.seed: save both global
    # states and put them back, so loading leaves the caller's RNGs alone.
    with _MNIST1D_LOCK:
        numpy_state, python_state = np.random.get_state(), random.getstate()  # noqa: NPY002 (the legacy global)
        try:
            raw = data_module.make_dataset(data_module.get_dataset_args())
        finally:
            np.random.set_state(numpy_state)  # noqa: NPY002
            random.setstate(python_state)
    arrays = (
        np.asarray(raw["x"], dtype=np.float32),
        np.asarray(raw["y"], dtype=np.int64),
        np.asarray(raw["x_test"], dtype=np.float32),
        np.asarray(raw["y_test"], dtype=np.int64),
    )
    expected = ((4000, 40), (4000,), (1000, 40), (1000,))
    got = tuple(a.shape for a in arrays)
    labels = np.concatenate([arrays[1], arrays[3]])
    if got != expected or labels.min() < 0 or labels.max() > 9:
        raise DataError(
            f"mnist1d.data.make_dataset returned x, y, x_test, y_test of shapes {got} with labels in "
            f"[{labels.min()}, {labels.max()}], expected shapes {expected} and labels in [0, 9]; "
            "this mnist1d version is not supported"
        )
    return arrays


def _names(values: Any) -> list[str]:
    return [str(v) for v in values]


def _generator(seed: int | None) -> np.random.Generator:
    # The data's own stream, independent of the split's (which uses the seed directly).
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))


_GENERATED: dict[str, Callable[[int | None], _Raw]] = {
    "xor": _xor,
    "moons": _moons,
    "circles": _circles,
    "spirals": _spirals,
}
_BUNDLED = ("iris", "wine", "breast_cancer", "digits", "diabetes")

DATASETS: tuple[str, ...] = (*_GENERATED, *_BUNDLED, "mnist1d")
"""The names :func:`load` accepts."""

_MNIST1D_TEST_SIZES = (0.25, 0.2, 1000)


# --------------------------------------------------------------------------- public


def load(name: str, seed: int | None = 0, test_size: float | int = 0.25, standardize: bool = False) -> Dataset:
    """Load a dataset by name, split into training and test parts.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`.
    seed : int or None, default 0
        Drives the synthetic data and the split; the same seed gives the same
        arrays. None draws fresh entropy. Ignored by ``"mnist1d"``.
    test_size : float in (0, 1) or int, default 0.25
        The test part: a fraction (``ceil(test_size * n)`` samples) or a
        count. Classification sets are split per class (stratified).
        ``"mnist1d"`` has a fixed 4000/1000 split and accepts only 0.25 (the
        default), 0.2 or 1000.
    standardize : bool, default False
        Fit a :class:`~backprop.preprocessing.Standardizer` on ``X_train``,
        apply it to ``X_train`` and ``X_test``, and keep it as
        ``Dataset.scaler``. Targets are never scaled.

    Returns
    -------
    Dataset

    Raises
    ------
    ParameterError
        Unknown name (the message lists the valid ones), bad ``seed`` or
        ``test_size``.
    MissingDependencyError
        scikit-learn or mnist1d is needed and missing; also an ``ImportError``.
    """
    if not isinstance(name, str):
        raise BackpropTypeError(f"name must be a dataset name (str), got {type(name).__name__} {name!r}")
    if name not in DATASETS:
        close = difflib.get_close_matches(name, DATASETS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ParameterError(f"Unknown dataset {name!r}{hint}; expected one of {sorted(DATASETS)}")
    if not isinstance(standardize, bool | np.bool_):
        raise ParameterError(f"standardize must be True or False, got standardize={shown(standardize)}")
    seed = check_seed(seed)

    if name == "mnist1d":
        if isinstance(test_size, bool) or test_size not in _MNIST1D_TEST_SIZES:
            raise ParameterError(
                "dataset 'mnist1d' has a fixed split of 4000 training and 1000 test samples; "
                f"test_size must be left at 0.25 (or given as 0.2 or 1000), got test_size={shown(test_size)}"
            )
        x, y, x_test, y_test_ = _mnist1d_raw()
        X_train, y_train, X_test, y_test = x.copy(), y.copy(), x_test.copy(), y_test_.copy()
        raw = _Raw(
            X_train,
            y_train,
            _xy_names(40),
            [str(d) for d in range(10)],
            "MNIST-1D: 10 digit templates as 1-D signals of length 40, padded, sheared, translated and noised "
            "(mnist1d.data.make_dataset, package seed 42)",
        )
    else:
        raw = _GENERATED[name](seed) if name in _GENERATED else _bundled(name)
        if raw.target_names is None:
            train, test = split(len(raw.y), test_size, seed)
        else:
            train, test = stratified_split(raw.y, test_size, seed)
        # Fancy indexing copies, so the cached arrays stay untouched.
        X_train, X_test, y_train, y_test = raw.X[train], raw.X[test], raw.y[train], raw.y[test]

    scaler = None
    if standardize:
        scaler = Standardizer().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    classification = raw.target_names is not None
    return Dataset(
        name=name,
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        task="classification" if classification else "regression",
        n_classes=len(raw.target_names) if raw.target_names is not None else None,
        feature_names=list(raw.feature_names),
        target_names=list(raw.target_names) if raw.target_names is not None else None,
        description=raw.description,
        scaler=scaler,
    )


_SUMMARIES = {
    "xor": "classification, 400 x 2, 2 classes: noisy XOR of four Gaussian blobs (numpy)",
    "moons": "classification, 1000 x 2, 2 classes: two interleaving half circles (numpy, as scikit-learn's)",
    "circles": "classification, 1000 x 2, 2 classes: a circle inside a circle (numpy, as scikit-learn's)",
    "spirals": "classification, 900 x 2, 3 classes: three interleaved spirals (numpy)",
    "iris": "classification, 150 x 4, 3 classes: iris flowers (scikit-learn, bundled)",
    "wine": "classification, 178 x 13, 3 classes: wine cultivars (scikit-learn, bundled)",
    "breast_cancer": "classification, 569 x 30, 2 classes: breast tumours (scikit-learn, bundled)",
    "digits": "classification, 1797 x 64, 10 classes: 8x8 handwritten digits (scikit-learn, bundled)",
    "diabetes": "regression, 442 x 10: diabetes progression (scikit-learn, bundled)",
    "mnist1d": "classification, 5000 x 40, 10 classes: MNIST-1D, fixed 4000/1000 split (mnist1d, generated)",
}


def describe(name: str | None = None) -> str:
    """One line per dataset (or for ``name``): task, size, classes and source.

    Nothing is loaded or imported. The library does not print; print the result.
    """
    if name is None:
        width = max(map(len, DATASETS))
        return "\n".join(f"{n:<{width}}  {_SUMMARIES[n]}" for n in DATASETS)
    if name not in _SUMMARIES:
        raise ParameterError(f"Unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return f"{name}: {_SUMMARIES[name]}"


__all__ = ["DATASETS", "Dataset", "MissingDependencyError", "describe", "load"]
