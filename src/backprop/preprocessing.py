"""Preparing data for a network: scaling, label encoding, one-hot targets, splits.

numpy only (the training loop imports this module).

- :class:`Standardizer` centres every column and scales it to unit variance,
  keeping the statistics so that new data (and a saved model) are scaled the
  same way; :meth:`Standardizer.to_dict` / :meth:`Standardizer.from_dict`
  carry them as plain JSON values. :func:`standard_statistics` and
  :func:`standardize_in_place` are its computation, shared with the
  preprocessing of ``backprop train`` (:mod:`backprop.tabular`).
- :func:`encode_labels` / :func:`decode_labels` map any class labels (ints,
  floats, strings, bools) to indices ``0 .. n_classes - 1`` and back, and
  :func:`one_hot` turns indices into the targets of a softmax output layer.
- :func:`split`, :func:`stratified_split` and :func:`train_test_split` divide
  samples into a training and a test part, reproducibly for a seed.

The split rule, once
--------------------
``test_size`` is a fraction in (0, 1) or a count in [1, n_samples - 1]. A
fraction asks for ``ceil(test_size * n_samples)`` test samples (as in
scikit-learn); the training part keeps the rest and must not be empty.

A stratified split gives each class its quota of that count by the
*largest-remainder rule*: class ``c`` with ``n_c`` of the ``n`` samples first
gets ``floor(n_test * n_c / n)`` test samples, and the seats left over go one
each to the classes with the largest remainders ``n_test * n_c mod n`` (ties:
the larger class first, then the class that sorts first). A class never sends
all its samples to the test part: at most ``n_c - 1`` (so a class seen once
stays in training), and a seat it cannot take passes to the next class in the
same order. Which samples of a class go to the test part is random, from the
seed.

Both splits return index arrays in a random order drawn from the seed (like
scikit-learn's ``train_test_split``, the rows come out shuffled); apply
``np.sort`` to keep the original order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from ._memory import check_allocation
from ._validation import (
    as_array,
    as_float_array,
    check_finite,
    check_positive_int,
    check_seed,
    is_number,
    shown,
    shown_briefly,
)
from .errors import BackpropError, BackpropTypeError, DataError, ParameterError, ShapeError

IndexArray = NDArray[np.int64]


class NotFittedError(BackpropError, ValueError, AttributeError):
    """A transformer was used before ``fit`` (also an ``AttributeError``, as in scikit-learn)."""


# --------------------------------------------------------------------------- scaling


def standard_statistics(
    data: NDArray[np.floating[Any]], *, rtol: float | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The mean and scale of each column of ``data``: what :func:`standardize_in_place` applies.

    The one computation of standardisation statistics: :class:`Standardizer` and the
    preprocessing of ``backprop train`` (:func:`backprop.tabular.prepare_training`) both use it.

    Parameters
    ----------
    data : ndarray of shape (n_samples, n_features) or (n_samples,), float64
        Finite numbers, at least one sample.
    rtol : float, optional
        Which columns count as constant (scale 1, so that they map to 0). None: a variance
        within the error bound of the two-pass variance (the bound scikit-learn's
        ``StandardScaler`` uses; :class:`Standardizer`'s rule). A float: a standard deviation
        of at most ``rtol * max(1, |mean|)`` (the tabular preprocessing's rule).

    Returns
    -------
    mean : ndarray of shape (n_features,), float64
        0-d for 1-D ``data``.
    scale : ndarray of shape (n_features,), float64
        The population standard deviation (``ddof=0``), 1 for a constant column.
    """
    mean = data.mean(axis=0)
    var = data.var(axis=0)
    if rtol is None:
        # A constant column's variance comes out as round-off, not 0.
        eps = np.finfo(np.float64).eps
        n = data.shape[0]
        constant = var <= n * eps * var + (n * mean * eps) ** 2
        return mean, np.where(constant, 1.0, np.sqrt(var))
    std = np.sqrt(var)
    return mean, np.where(std > rtol * np.maximum(1.0, np.abs(mean)), std, 1.0)


_FloatsT = TypeVar("_FloatsT", bound=NDArray[np.floating[Any]])


def standardize_in_place(values: _FloatsT, mean: Any, scale: Any) -> _FloatsT:
    """``values = (values - mean) / scale``, in place and in ``values``' dtype; returns ``values``.

    Parameters
    ----------
    values : ndarray of shape (n_samples, n_features) or (n_samples,), float32 or float64
        Overwritten: pass a copy of data that must be kept.
    mean, scale : float or ndarray of shape (n_features,)
        From :func:`standard_statistics`; cast to ``values``' dtype first.
    """
    np.subtract(values, np.asarray(mean).astype(values.dtype), out=values)
    np.divide(values, np.asarray(scale).astype(values.dtype), out=values)
    return values


def unstandardize_in_place(values: _FloatsT, mean: Any, scale: Any) -> _FloatsT:
    """``values = values * scale + mean``, in place: undoes :func:`standardize_in_place`."""
    np.multiply(values, np.asarray(scale).astype(values.dtype), out=values)
    np.add(values, np.asarray(mean).astype(values.dtype), out=values)
    return values


class Standardizer:
    """Scale every column to zero mean and unit variance: ``(X - mean_) / scale_``.

    Statistics are computed in float64 from the data given to :meth:`fit` and
    kept, so that test data and later predictions are scaled with the
    training statistics. A column with zero variance gets ``scale_ = 1``, so
    it maps to 0 (as in scikit-learn's ``StandardScaler``).

    :meth:`transform` and :meth:`inverse_transform` return float32 for float32
    input and float64 for any other numeric input.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,), float64
        Column means of the fitted data.
    scale_ : ndarray of shape (n_features,), float64
        Column standard deviations (population, ``ddof=0``), 1 where a column
        is constant.
    n_features_in_ : int
        Number of columns seen by :meth:`fit`.

    Examples
    --------
    >>> scaler = Standardizer().fit([[1.0, 5.0], [3.0, 5.0]])
    >>> scaler.mean_, scaler.scale_
    (array([2., 5.]), array([1., 1.]))
    >>> scaler.transform([[2.0, 7.0]])
    array([[0., 2.]])
    """

    def __init__(self) -> None:
        self._mean: NDArray[np.float64] | None = None
        self._scale: NDArray[np.float64] | None = None

    # ----------------------------------------------------------- learned state
    @property
    def mean_(self) -> NDArray[np.float64]:
        return self._fitted()[0]

    @property
    def scale_(self) -> NDArray[np.float64]:
        return self._fitted()[1]

    @property
    def n_features_in_(self) -> int:
        return len(self._fitted()[0])

    def _fitted(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if self._mean is None or self._scale is None:
            raise NotFittedError("This Standardizer is not fitted yet; call fit(X) with the training data first")
        return self._mean, self._scale

    # ----------------------------------------------------------------- methods
    def fit(self, X: Any) -> Standardizer:
        """Compute the column means and standard deviations of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite numbers, at least one row and one column.

        Returns
        -------
        self
        """
        data = _as_matrix(X, "X", np.dtype(np.float64))
        if data.shape[0] == 0 or data.shape[1] == 0:
            raise DataError(
                f"X must have at least one sample and one feature to fit a Standardizer, got shape {data.shape}"
            )
        self._mean, self._scale = standard_statistics(data)
        return self

    def transform(self, X: Any) -> NDArray[np.floating[Any]]:
        """Return ``(X - mean_) / scale_`` (a new array).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        ndarray of shape (n_samples, n_features_in_), float32 for float32 input, else float64
        """
        mean, scale = self._fitted()
        return standardize_in_place(self._prepare(X, "X"), mean, scale)

    def fit_transform(self, X: Any) -> NDArray[np.floating[Any]]:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X: Any) -> NDArray[np.floating[Any]]:
        """Undo :meth:`transform`: return ``X * scale_ + mean_`` (a new array)."""
        mean, scale = self._fitted()
        return unstandardize_in_place(self._prepare(X, "X"), mean, scale)

    def _prepare(self, X: Any, name: str) -> NDArray[np.floating[Any]]:
        """A fresh float copy of ``X`` with the fitted number of columns."""
        n_features = self.n_features_in_
        raw = as_array(X, name)
        dtype = np.dtype(np.float32) if raw.dtype == np.float32 else np.dtype(np.float64)
        data = _as_matrix(raw, name, dtype)
        if data.shape[1] != n_features:
            raise ShapeError(
                f"Standardizer was fitted on {n_features} features, "
                f"but {name} has {data.shape[1]} features (array of shape {data.shape})"
            )
        return data.copy() if np.may_share_memory(data, raw) else data

    # ------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, list[float]]:
        """The statistics as plain JSON values: ``{"mean": [...], "scale": [...]}``.

        Python floats keep every bit of the float64 statistics through JSON, so
        ``Standardizer.from_dict(json.loads(json.dumps(s.to_dict())))`` scales
        exactly as ``s`` does.
        """
        mean, scale = self._fitted()
        return {"mean": [float(v) for v in mean], "scale": [float(v) for v in scale]}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Standardizer:
        """Rebuild a fitted Standardizer from :meth:`to_dict`'s output, checking it.

        Raises
        ------
        BackpropTypeError
            ``state`` is not a mapping, or its values are not lists of numbers.
        DataError
            Keys missing or unknown, lengths that differ or are zero,
            non-finite values, or a scale that is not positive.
        """
        if not isinstance(state, Mapping):
            raise BackpropTypeError(
                f"Standardizer state must be a dict with keys 'mean' and 'scale', got {type(state).__name__}"
            )
        keys = set(state)
        if keys != {"mean", "scale"}:
            missing = sorted({"mean", "scale"} - keys)
            unknown = sorted(str(k) for k in keys - {"mean", "scale"})
            raise DataError(
                "Standardizer state must have exactly the keys ['mean', 'scale'], "
                f"got missing {missing}, unknown {unknown}"
            )
        mean = _state_vector(state["mean"], "mean")
        scale = _state_vector(state["scale"], "scale")
        if len(mean) != len(scale):
            raise DataError(
                f"Standardizer state must have as many 'scale' values as 'mean' values, "
                f"got {len(mean)} means and {len(scale)} scales"
            )
        if scale.min() <= 0:
            first = int(np.argmax(scale <= 0))
            raise DataError(
                f"Standardizer state 'scale' values must be > 0, got scale[{first}] = {shown(scale[first])}"
            )
        scaler = cls()
        scaler._mean, scaler._scale = mean, scale
        return scaler

    def __repr__(self) -> str:
        if self._mean is None:
            return "Standardizer()"
        return f"Standardizer(n_features_in_={self.n_features_in_})"


def _as_matrix(X: Any, name: str, dtype: np.dtype[Any]) -> NDArray[np.floating[Any]]:
    data = as_float_array(X, name, dtype)
    if data.ndim != 2:
        raise ShapeError(f"{name} must be 2-D, (n_samples, n_features), got array of shape {data.shape}")
    return data


def _state_vector(values: Any, key: str) -> NDArray[np.float64]:
    ok = isinstance(values, list | tuple) and all(is_number(v) for v in values)
    if not ok:
        raise BackpropTypeError(
            f"Standardizer state {key!r} must be a list of numbers, "
            f"got {type(values).__name__} {shown_briefly(values, 60)}"
        )
    vector = np.asarray(values, dtype=np.float64)
    if vector.size == 0:
        raise DataError(f"Standardizer state {key!r} must have at least one value, got an empty list")
    check_finite(vector, f"Standardizer state {key!r}")
    return vector


# --------------------------------------------------------------------------- labels


def _as_labels(values: Any, name: str) -> NDArray[Any]:
    """``values`` as a 1-D array (a column ``(n, 1)`` is flattened)."""
    if values is None:
        raise BackpropTypeError(f"{name} must be an array of labels, got None")
    array = as_array(values, name)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ShapeError(f"{name} must be 1-D, one label per sample, got array of shape {array.shape}")
    if array.dtype.kind == "f":
        check_finite(array, name)
    elif array.dtype.kind == "c":
        raise BackpropTypeError(f"{name} must be real labels, got complex array of dtype {array.dtype}")
    return array


def _as_indices(values: Any, name: str) -> NDArray[np.int64]:
    """Integer-valued labels (ints, bools or whole floats) as int64."""
    array = _as_labels(values, name)
    kind = array.dtype.kind
    if kind == "O":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            kinds = sorted({type(item).__name__ for item in array.flat})
            raise BackpropTypeError(
                f"{name} must be integer class indices, got objects of type {kinds}; "
                "map labels to indices with encode_labels first"
            ) from None
        check_finite(array, name)
        kind = "f"
    if kind not in "biuf":
        raise BackpropTypeError(
            f"{name} must be integer class indices, got array of dtype {array.dtype}; "
            "map labels to indices with encode_labels first"
        )
    if kind == "f":
        fractional = array != np.round(array)
        if fractional.any():
            first = int(np.argmax(fractional))
            raise DataError(f"{name} must be integer class indices, got {name}[{first}] = {shown(array[first])}")
        if array.size and np.abs(array).max() > 2.0**62:
            raise DataError(f"{name} has values beyond the range of class indices (largest {np.abs(array).max():g})")
    elif kind == "u" and array.size and array.max() > np.iinfo(np.int64).max:
        raise DataError(f"{name} has values beyond the range of class indices (largest {shown(array.max())})")
    return array.astype(np.int64)


def _check_index_range(indices: NDArray[np.int64], name: str, n_classes: int, rule: str) -> None:
    if indices.size == 0:
        return
    outside = (indices < 0) | (indices >= n_classes)
    if outside.any():
        first = int(np.argmax(outside))
        raise DataError(f"{name} must be in [0, {n_classes}) ({rule}), got {name}[{first}] = {indices[first]}")


def one_hot(labels: Any, n_classes: int | None = None, dtype: Any = np.float32) -> NDArray[Any]:
    """One row per label with a 1 in the label's column.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Integer class indices (ints, bools or whole-number floats) in
        ``[0, n_classes)``. Map other labels with :func:`encode_labels` first.
    n_classes : int, optional
        Number of columns; by default ``max(labels) + 1``.
    dtype : numeric dtype, default float32

    Returns
    -------
    ndarray of shape (n_samples, n_classes)

    Raises
    ------
    MemoryLimitError
        ``n_samples × n_classes`` values would not fit the memory available
        (a label of 10**9 asks for 10**9 columns per row).

    Examples
    --------
    >>> one_hot([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    """
    try:
        out_dtype = np.dtype(dtype)
    except TypeError:
        out_dtype = None
    if out_dtype is None or out_dtype.kind not in "biuf":
        raise ParameterError(f"dtype must be a numeric dtype (bool, integer or float), got dtype={dtype!r}")
    indices = _as_indices(labels, "labels")
    if n_classes is None:
        if indices.size == 0:
            raise DataError("labels is empty and n_classes is not given; pass n_classes to one-hot encode no labels")
        if indices.min() < 0:
            first = int(np.argmax(indices < 0))
            raise DataError(f"labels must be >= 0 (class indices), got labels[{first}] = {indices[first]}")
        classes = int(indices.max()) + 1
    else:
        classes = check_positive_int(n_classes, "n_classes")
        _check_index_range(indices, "labels", classes, f"n_classes={classes}")
    # Python ints: n × classes can be far beyond what numpy's shape arithmetic holds.
    check_allocation(
        len(indices) * classes * out_dtype.itemsize,
        f"one_hot of {len(indices):,} labels into {classes:,} classes ({out_dtype})",
    )
    out = np.zeros((len(indices), classes), dtype=out_dtype)
    out[np.arange(len(indices)), indices] = 1
    return out


def encode_labels(y: Any) -> tuple[IndexArray, NDArray[Any]]:
    """Map class labels to indices, like scikit-learn's ``LabelEncoder``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels of one comparable type: ints, floats, strings or bools.

    Returns
    -------
    indices : ndarray of shape (n_samples,), int64
        ``classes[indices]`` equals ``y``.
    classes : ndarray of shape (n_classes,)
        The distinct labels, sorted.

    Examples
    --------
    >>> indices, classes = encode_labels(["cat", "dog", "cat"])
    >>> indices, classes
    (array([0, 1, 0]), array(['cat', 'dog'], dtype='<U3'))
    """
    labels = _as_labels(y, "y")
    try:
        classes, indices = np.unique(labels, return_inverse=True)
    except TypeError:
        kinds = sorted({type(item).__name__ for item in labels.flat})
        raise BackpropTypeError(f"y must hold labels of one comparable type, got a mix of {kinds}") from None
    return indices.reshape(-1).astype(np.int64), classes


def decode_labels(indices: Any, classes: Any) -> NDArray[Any]:
    """Map class indices back to labels: ``classes[indices]``.

    Parameters
    ----------
    indices : array-like of shape (n_samples,)
        Integer indices in ``[0, len(classes))``.
    classes : array-like of shape (n_classes,)
        The labels, as returned by :func:`encode_labels`.

    Returns
    -------
    ndarray of shape (n_samples,), of the dtype of ``classes``
    """
    labels = _as_labels(classes, "classes")
    if labels.size == 0:
        raise DataError("classes must hold at least one label, got an empty array")
    positions = _as_indices(indices, "indices")
    _check_index_range(positions, "indices", len(labels), f"{len(labels)} classes")
    return labels[positions]


# --------------------------------------------------------------------------- splits


def _test_count(test_size: Any, n_samples: int) -> int:
    """The number of test samples ``test_size`` asks for out of ``n_samples``."""
    if isinstance(test_size, bool) or not isinstance(test_size, int | float | np.integer | np.floating):
        raise ParameterError(
            f"test_size must be a fraction in (0, 1) or a sample count in [1, n_samples - 1], "
            f"got test_size={shown(test_size)}"
        )
    if n_samples < 2:
        raise DataError(f"a train/test split needs at least 2 samples, got n_samples={n_samples}")
    if isinstance(test_size, int | np.integer):
        if not 1 <= test_size <= n_samples - 1:
            raise ParameterError(
                f"test_size as a count must be in [1, n_samples - 1] = [1, {n_samples - 1}], "
                f"got test_size={shown(test_size)}"
            )
        return int(test_size)
    if not (np.isfinite(test_size) and 0 < test_size < 1):
        raise ParameterError(f"test_size as a fraction must be in (0, 1), got test_size={shown(test_size)}")
    count = fraction_count(float(test_size), n_samples)
    if count > n_samples - 1:
        raise ParameterError(
            f"test_size={shown(test_size)} of n_samples={n_samples} asks for {count} test samples "
            "and leaves none for training"
        )
    return count


def fraction_count(fraction: float, n_samples: int) -> int:
    """``ceil(fraction * n_samples)``, at least 1: the test samples a fraction in (0, 1) asks for.

    The ceiling forgives the round-off of a product such as ``0.7 * 10 = 7.000000000000001``.
    """
    return max(math.ceil(fraction * n_samples - 1e-9), 1)


def split(n_samples: int, test_size: float | int = 0.25, seed: int | None = None) -> tuple[IndexArray, IndexArray]:
    """A shuffled split of ``range(n_samples)`` into training and test indices.

    Parameters
    ----------
    n_samples : int
        At least 2.
    test_size : float in (0, 1) or int in [1, n_samples - 1], default 0.25
        A fraction asks for ``ceil(test_size * n_samples)`` test samples.
    seed : int, optional
        The same seed gives the same split; None draws fresh entropy.

    Returns
    -------
    train_index, test_index : ndarray of int64
        Disjoint, together ``range(n_samples)``, each in random order.
    """
    return _shuffled_split(check_positive_int(n_samples, "n_samples"), test_size, seed)


def _shuffled_split(n: int, test_size: Any, seed: Any) -> tuple[IndexArray, IndexArray]:
    n_test = _test_count(test_size, n)
    rng = np.random.default_rng(check_seed(seed))
    order = rng.permutation(n).astype(np.int64)
    return order[n_test:], order[:n_test]


def stratified_counts(class_sizes: Any, n_test: int) -> IndexArray:
    """How many of each class's samples a stratified split sends to the test part.

    The largest-remainder rule described in the module docstring: quotas
    ``n_test * n_c / n`` rounded down, leftover seats to the largest
    remainders (ties: larger class, then earlier class), never more than
    ``n_c - 1`` per class.

    >>> stratified_counts([50, 30, 20], 25).tolist()  # quotas 12.5, 7.5, 5
    [13, 7, 5]
    """
    sizes = np.asarray(class_sizes, dtype=np.int64)
    if sizes.ndim != 1 or sizes.size == 0 or sizes.min() < 1:
        raise ParameterError(
            f"class_sizes must be a non-empty list of positive counts, got {shown_briefly(class_sizes, 60)}"
        )
    n = int(sizes.sum())
    capacity = sizes - 1
    if isinstance(n_test, bool) or not isinstance(n_test, int | np.integer) or not 0 <= n_test <= capacity.sum():
        raise ParameterError(
            f"n_test must be an integer in [0, {int(capacity.sum())}] for classes of sizes "
            f"{shown_briefly(sizes.tolist(), 60)} "
            f"(each class keeps at least one sample for training), got n_test={shown(n_test)}"
        )
    # Integer arithmetic: floor and remainder of n_test * n_c / n, exactly.
    counts = np.minimum((sizes * n_test) // n, capacity)
    remainders = (sizes * n_test) % n
    # Rank: largest remainder, then larger class, then lower class index.
    order = np.lexsort((np.arange(len(sizes)), -sizes, -remainders))
    left = n_test - int(counts.sum())
    while left > 0:
        for c in order:
            if left == 0:
                break
            if counts[c] < capacity[c]:
                counts[c] += 1
                left -= 1
    return counts


def stratified_split(
    y: Any, test_size: float | int = 0.25, seed: int | None = None, *, shuffle: bool = True
) -> tuple[IndexArray, IndexArray]:
    """A split that keeps the class proportions of ``y`` in both parts.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Class labels of any type (ints, strings, ...). For 2-D ``y`` (one-hot
        targets, say) each distinct row is a class.
    test_size : float in (0, 1) or int in [1, n_samples - 1], default 0.25
        A fraction asks for ``ceil(test_size * n_samples)`` test samples,
        shared among the classes by the largest-remainder rule (see
        :func:`stratified_counts` and the module docstring); every class keeps
        at least one sample in the training part.
    seed : int, optional
        The same seed gives the same split; None draws fresh entropy.
    shuffle : bool, default True
        False: each part in increasing order instead, the same sets (for a caller that
        sorts them anyway, without shuffling millions of indices twice).

    Returns
    -------
    train_index, test_index : ndarray of int64
        Disjoint, together ``range(n_samples)``, each in random order (``shuffle=False``: sorted).
    """
    if y is None:
        raise BackpropTypeError("y must be an array of class labels, got None")
    labels = as_array(y, "y")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim not in (1, 2):
        raise ShapeError(f"y must be 1-D labels or 2-D targets, got array of shape {labels.shape}")
    if labels.dtype.kind in "fc":
        check_finite(labels, "y")
    n = len(labels)
    n_test = _test_count(test_size, n)
    rng = np.random.default_rng(check_seed(seed))
    try:
        inverse = _small_int_ranks(labels)
        if inverse is None:
            _, inverse = np.unique(labels, return_inverse=True, axis=0 if labels.ndim == 2 else None)
    except TypeError:
        kinds = sorted({type(item).__name__ for item in labels.flat})
        raise BackpropTypeError(f"y must hold labels of one comparable type, got a mix of {kinds}") from None
    inverse = inverse.reshape(-1)
    sizes = np.bincount(inverse)
    if n_test > n - len(sizes):
        raise ParameterError(
            f"test_size={shown(test_size)} asks for {n_test} of {n} samples, but a stratified split keeps at least "
            f"one sample of each of the {len(sizes)} classes for training, "
            f"so at most {n - len(sizes)} can be test samples"
        )
    counts = stratified_counts(sizes, n_test)
    # Each class's samples in their original order (a stable sort, or a pass a class when
    # there are few); one permutation per class then picks its test samples at random.
    if len(sizes) <= _FEW_CLASSES:
        by_class = [np.flatnonzero(inverse == c) for c in range(len(sizes))]
    else:
        order = np.argsort(inverse, kind="stable")
        by_class = np.split(order, np.cumsum(sizes)[:-1])
    test_parts, train_parts = [], []
    for members_c, n_test_c in zip(by_class, counts.tolist(), strict=True):
        members = rng.permutation(members_c)
        test_parts.append(members[:n_test_c])
        train_parts.append(members[n_test_c:])
    if not shuffle:
        in_test = np.zeros(n, dtype=bool)
        for part in test_parts:
            in_test[part] = True
        return np.flatnonzero(~in_test).astype(np.int64), np.flatnonzero(in_test).astype(np.int64)
    train_index = rng.permutation(np.concatenate(train_parts)).astype(np.int64)
    test_index = rng.permutation(np.concatenate(test_parts)).astype(np.int64)
    return train_index, test_index


#: Up to this many classes, a pass a class finds each class's samples faster than a stable sort of all.
_FEW_CLASSES = 8


def _small_int_ranks(labels: NDArray[Any]) -> NDArray[np.intp] | None:
    """``np.unique(labels, return_inverse=True)[1]`` by counting, for class indices (1-D, 0 ≤ label < 2**20):
    millions of rows without a sort. None for other labels."""
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or labels.size == 0:
        return None
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= 1 << 20:
        return None
    present = np.bincount(labels, minlength=high + 1) > 0
    if present.all():  # the labels are already their ranks: 0, 1, ..., high
        return labels.astype(np.intp, copy=False)
    rank = np.cumsum(present) - 1  # a label's place among the distinct labels, in order
    ranks: NDArray[np.intp] = rank[labels].astype(np.intp)
    return ranks


def train_test_split(
    X: Any,
    y: Any,
    test_size: float | int = 0.25,
    stratify: bool = False,
    seed: int | None = None,
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    """Split ``X`` and ``y`` into training and test parts (scikit-learn's order).

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples, ...)
    test_size : float in (0, 1) or int in [1, n_samples - 1], default 0.25
    stratify : bool, default False
        Keep the class proportions of ``y`` in both parts
        (:func:`stratified_split`); leave False for regression targets.
    seed : int, optional
        The same seed gives the same split; None draws fresh entropy.

    Returns
    -------
    X_train, X_test, y_train, y_test : ndarray
        Rows of ``X`` and ``y`` (copies), in random order.
    """
    if not isinstance(stratify, bool | np.bool_):
        raise ParameterError(f"stratify must be True or False, got stratify={shown(stratify)}")
    if X is None or y is None:
        raise BackpropTypeError(f"X and y must be arrays, got {'X' if X is None else 'y'}=None")
    data, targets = as_array(X, "X"), as_array(y, "y")
    if data.ndim == 0 or targets.ndim == 0:
        raise ShapeError(
            f"X and y must have one row per sample, got X of shape {data.shape} and y of shape {targets.shape}"
        )
    if len(data) != len(targets):
        raise ShapeError(
            f"X and y must have the same number of samples, got X of shape {data.shape} and y of shape {targets.shape}"
        )
    if stratify:
        train, test = stratified_split(targets, test_size, seed)
    else:
        train, test = _shuffled_split(len(data), test_size, seed)
    return data[train], data[test], targets[train], targets[test]


__all__ = [
    "NotFittedError",
    "Standardizer",
    "decode_labels",
    "encode_labels",
    "one_hot",
    "split",
    "stratified_counts",
    "stratified_split",
    "train_test_split",
]
