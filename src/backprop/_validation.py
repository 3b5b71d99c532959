"""Checks of user input shared by every public function.

Each check raises a :class:`~backprop.errors.BackpropError` subclass whose
message names the parameter, the rule and the value received.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import BackpropTypeError, DataError, ParameterError, ShapeError

FloatArray = NDArray[np.floating[Any]]
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_dtype(dtype: Any, name: str = "dtype") -> np.dtype[Any]:
    """Return ``float32`` or ``float64`` for ``dtype``, or raise."""
    resolved: np.dtype[Any] | None
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved not in FLOAT_DTYPES:
        raise ParameterError(f"{name} must be float32 or float64, got {dtype!r}")
    return resolved


def as_array(values: Any, name: str) -> NDArray[Any]:
    """``np.asarray`` with a clear error for ragged input."""
    try:
        return np.asarray(values)
    except ValueError as exc:
        raise ShapeError(f"{name} must be a rectangular array, got ragged input ({exc})") from None


def as_float_array(values: Any, name: str, dtype: np.dtype[Any]) -> FloatArray:
    """Convert numeric ``values`` to a finite ``dtype`` array (no copy when possible).

    Booleans, integers and floats are accepted; complex numbers, strings and
    objects that are not numbers raise :class:`BackpropTypeError`.
    """
    array = as_array(values, name)
    kind = array.dtype.kind
    if kind == "c":
        raise BackpropTypeError(f"{name} must be real numbers, got complex array of dtype {array.dtype}")
    if kind == "O":
        try:
            array = array.astype(dtype)
        except (TypeError, ValueError):
            raise BackpropTypeError(
                f"{name} must be numeric, got object array holding "
                f"{type(array.flat[0]).__name__ if array.size else 'nothing'}"
            ) from None
    elif kind not in "biuf":
        raise BackpropTypeError(f"{name} must be numeric, got array of dtype {array.dtype}")
    array = np.asarray(array, dtype=dtype)
    check_finite(array, name)
    return array


def check_finite(array: NDArray[Any], name: str) -> None:
    """Raise :class:`DataError` naming the first NaN or infinity in ``array``."""
    if array.size == 0:
        return
    # min and max propagate NaN and reach ±inf without a full boolean mask.
    if np.isfinite(array.min()) and np.isfinite(array.max()):
        return
    bad = np.argwhere(~np.isfinite(array))
    where = tuple(int(i) for i in bad[0])
    value = array[where]
    what = "NaN" if np.isnan(value) else "infinity"
    position = f"index {where[0]}" if len(where) == 1 else f"row {where[0]}, column {where[1]}"
    if len(where) > 2:
        position = f"index {where}"
    raise DataError(f"{name} contains {what} ({len(bad)} non-finite values, first at {position})")


def as_samples(values: Any, name: str, dtype: np.dtype[Any]) -> FloatArray:
    """Return ``values`` as a non-empty 2-D ``(n_samples, n_features)`` float array."""
    array = as_float_array(values, name, dtype)
    if array.ndim != 2:
        raise ShapeError(f"{name} must be 2-D (n_samples, n_features), got array of shape {array.shape}")
    if array.shape[0] == 0:
        raise DataError(f"{name} is empty: got array of shape {array.shape}, need at least one sample")
    return array


def check_sample_weight(sample_weight: Any, n_samples: int, dtype: np.dtype[Any]) -> FloatArray | None:
    """Return ``sample_weight`` as a 1-D array of ``n_samples`` non-negative weights."""
    if sample_weight is None:
        return None
    weights = as_float_array(sample_weight, "sample_weight", dtype)
    if weights.shape != (n_samples,):
        raise ShapeError(
            f"sample_weight must have shape ({n_samples},), one weight per sample, got array of shape {weights.shape}"
        )
    if weights.min() < 0:
        raise DataError(f"sample_weight must be >= 0, got minimum {weights.min()!r}")
    if not weights.sum() > 0:
        raise DataError("sample_weight must have a positive sum, got all zeros")
    return weights


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` if it is a positive integer, else raise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ParameterError(f"{name} must be a positive integer, got {name}={value!r}")
    return int(value)


def check_positive(value: Any, name: str) -> float:
    """Return ``value`` as a float if it is a positive finite number, else raise."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ParameterError(f"{name} must be a positive number, got {name}={value!r}")
    if not (np.isfinite(value) and value > 0):
        raise ParameterError(f"{name} must be a positive number, got {name}={value!r}")
    return float(value)
