"""Checks of user input shared by every public function.

Each check raises a :class:`~backprop.errors.BackpropError` subclass whose
message names the parameter, the rule and the value received.
"""

from __future__ import annotations

import math
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
    """``np.asarray`` with a clear error for ragged input and for masked values.

    ``np.asarray`` drops a masked array's mask and would hand over whatever
    the masked entries hold, so masked entries are an error.
    """
    if isinstance(values, np.ma.MaskedArray):
        masked = int(np.count_nonzero(np.ma.getmaskarray(values)))
        if masked:
            raise DataError(
                f"{name} is a masked array with {masked} masked value{'s' if masked != 1 else ''}; "
                f"fill them ({name}.filled(value)) or drop them"
            )
    try:
        return np.asarray(values)
    except ValueError as exc:
        raise ShapeError(f"{name} must be a rectangular array, got ragged input ({exc})") from None


def _position(index: tuple[int, ...]) -> str:
    """Where an entry is, for messages: ``index 3``, ``row 1, column 2`` or ``index (0, 1, 2)``."""
    if len(index) == 1:
        return f"index {index[0]}"
    if len(index) == 2:
        return f"row {index[0]}, column {index[1]}"
    return f"index {index}"


def _is_missing(item: Any) -> bool:
    """None or pandas' NA (recognised by its type's name: the core does not import pandas)."""
    return item is None or type(item).__name__ == "NAType"


def _table_hint(name: str) -> str:
    """Where text in the inputs X belongs: the tabular model encodes it."""
    if name != "X":
        return ""
    return (
        "; for a table with text columns use backprop.TabularModel().fit(table, target=...), "
        "which encodes them and keeps the encoding with the network"
    )


def as_float_array(values: Any, name: str, dtype: np.dtype[Any]) -> FloatArray:
    """Convert numeric ``values`` to a finite ``dtype`` array (no copy when possible).

    Booleans, integers and floats are accepted; complex numbers, strings and
    objects that are not numbers raise :class:`BackpropTypeError`.
    """
    if values is None:
        raise BackpropTypeError(f"{name} must be an array of numbers, got None")
    array = as_array(values, name)
    kind = array.dtype.kind
    if kind == "c":
        raise BackpropTypeError(f"{name} must be real numbers, got complex array of dtype {array.dtype}")
    if kind == "O":
        # Numbers only: a str or bytes item would otherwise be parsed ("2.5" → 2.5),
        # and None would become NaN, reported as if the data held a NaN.
        for flat_index, item in enumerate(array.flat):
            if isinstance(item, str | bytes):
                raise BackpropTypeError(
                    f"{name} must be an array of numbers, got the {type(item).__name__} {item!r}{_table_hint(name)}"
                )
            if _is_missing(item):
                where = tuple(int(i) for i in np.unravel_index(flat_index, array.shape))
                at = f" at {_position(where)}" if where else ""
                raise DataError(f"{name} has a missing value ({item!r}){at}; fill or drop it")
        try:
            with np.errstate(over="raise", invalid="raise"):
                array = array.astype(np.float64)
        except (OverflowError, FloatingPointError):
            raise DataError(f"{name} has integers beyond the range of float64") from None
        except (TypeError, ValueError):
            kinds = sorted({type(item).__name__ for item in array.flat})
            raise BackpropTypeError(f"{name} must be an array of numbers, got objects of type {kinds}") from None
    elif kind not in "biuf":
        hint = _table_hint(name) if kind in "USO" else ""
        raise BackpropTypeError(f"{name} must be numeric, got array of dtype {array.dtype}{hint}")
    check_finite(array, name)
    try:
        with np.errstate(over="raise"):
            return np.asarray(array, dtype=dtype)
    except FloatingPointError:
        raise DataError(
            f"{name} has values beyond the range of {dtype} (largest magnitude {np.abs(array).max():.3g}); "
            "scale the data or use dtype=float64"
        ) from None


def check_finite(array: NDArray[Any], name: str) -> None:
    """Raise :class:`DataError` naming the first NaN or infinity in ``array``."""
    if array.size == 0:
        return
    # min and max propagate NaN and reach ±inf without a full boolean mask.
    if np.isfinite(array.min()) and np.isfinite(array.max()):
        return
    bad = np.argwhere(~np.isfinite(array))
    where = tuple(int(i) for i in bad[0])
    what = "NaN" if np.isnan(array[where]) else "infinity"
    if array.ndim == 0:
        raise DataError(f"{name} is {what}")
    position = _position(where)
    count = f"{len(bad)} non-finite value{'s' if len(bad) != 1 else ''}"
    raise DataError(f"{name} contains {what} ({count}, first at {position})")


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
        first = int(np.argmax(weights < 0))
        raise DataError(f"sample_weight must be >= 0, got sample_weight[{first}] = {weights[first]:g}")
    if not weights.max() > 0:  # not the sum: 1e308 twice overflows it
        raise DataError("sample_weight must have a positive sum, got all zeros")
    return weights


def scaled_weights(weights: NDArray[Any]) -> NDArray[np.float64]:
    """Non-negative ``weights`` in float64, times the power of two that brings the largest into [0.5, 1).

    Only the ratios of sample weights matter (the loss is their weighted
    mean), and scaling by a power of two is exact: ``w / Σw`` and
    ``w · n / Σw`` come out bit for bit as from the weights themselves, but
    ``Σw`` can neither overflow (weights of 1e308) nor be so small that
    ``n / Σw`` does (weights of 5e-324). Weights more than 2^1074 times
    smaller than the largest become 0.
    """
    values = np.asarray(weights, dtype=np.float64)
    if values.size == 0:
        return values
    _, exponent = np.frexp(values.max())
    scaled: NDArray[np.float64] = np.ldexp(values, -exponent)
    return scaled


def mean_weight(weights: NDArray[Any]) -> float:
    """The mean of non-negative ``weights``, in float64, without overflowing their sum."""
    _, exponent = np.frexp(np.max(weights))
    return float(np.ldexp(scaled_weights(weights).mean(), exponent))


def shown(value: Any) -> str:
    """``repr`` for messages, with numpy scalars shown as the Python numbers they hold."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def shown_briefly(value: Any, limit: int = 80) -> str:
    """:func:`shown`, cut to ``limit`` characters; an array as its shape and dtype."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = shown(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` if it is a positive integer, else raise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ParameterError(f"{name} must be a positive integer, got {name}={shown(value)}")
    return int(value)


def check_seed(seed: Any) -> int | None:
    """Return ``seed`` if it is None or a non-negative integer, else raise."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed must be None or a non-negative integer, got seed={shown(seed)}")
    return int(seed)


def check_positive(value: Any, name: str) -> float:
    """Return ``value`` as a float if it is a positive finite number, else raise."""
    if not (is_finite_number(value) and value > 0):
        raise ParameterError(f"{name} must be a positive number, got {name}={shown(value)}")
    return float(value)


def is_number(value: Any) -> bool:
    """True for a real number (an int or a float, numpy scalars included), not a bool."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    """An int or numpy integer, not a bool."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_count(value: Any) -> bool:
    """An integer >= 0 (not a bool)."""
    return is_integer(value) and value >= 0


def is_finite_number(value: Any) -> bool:
    """True for a real number that is neither NaN nor infinite and fits a float64 (``2**70`` does, ``10**400`` not)."""
    if not is_number(value):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # a Python int beyond float64
        return False


def fits_float(value: Any) -> bool:
    """True for a real number ``float()`` converts: any float (NaN and ±inf too), or an int within float64's range."""
    return isinstance(value, float | np.floating) or is_finite_number(value)


def check_interval(value: Any, name: str, low: float, high: float | None, *, closed: str = "left") -> float:
    """Return ``value`` as a float if it is a finite number in the interval, else raise.

    ``closed`` is ``"left"`` for ``[low, high)``, ``"right"`` for ``(low, high]``,
    ``"both"`` or ``"neither"``; ``high=None`` means no upper bound.
    """
    low_in = closed in ("left", "both")
    high_in = closed in ("right", "both")
    ok = is_finite_number(value)
    if ok:
        ok = (value >= low if low_in else value > low) and (
            high is None or (value <= high if high_in else value < high)
        )
    if not ok:
        if high is None:
            rule = "a non-negative number" if low == 0 and low_in else f"a number {'>=' if low_in else '>'} {low:g}"
        else:
            rule = f"a number in {'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"
        raise ParameterError(f"{name} must be {rule}, got {name}={shown(value)}")
    return float(value)


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ParameterError(f"{name} must be True or False, got {name}={shown(value)}")
    return bool(value)


def check_count(value: Any, name: str) -> int:
    """Return ``value`` if it is a non-negative integer, else raise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ParameterError(f"{name} must be a non-negative integer, got {name}={shown(value)}")
    return int(value)
