"""Exceptions raised by backprop.

Every error derives from :class:`BackpropError`, and also from the built-in
exception a Python user would catch for the same mistake (``ValueError`` for a
bad value or shape, ``TypeError`` for a bad type), so ``except ValueError``
keeps working in code written for numpy or scikit-learn.
"""

from __future__ import annotations


class BackpropError(Exception):
    """Base class of every error raised by backprop."""


class ParameterError(BackpropError, ValueError):
    """An argument has a value outside its rule (unknown name, size <= 0, ...)."""


class ShapeError(BackpropError, ValueError):
    """An array has the wrong number of dimensions, rows or columns."""


class DataError(BackpropError, ValueError):
    """Data are unusable: empty, NaN or infinite, or targets outside their domain."""


class BackpropTypeError(BackpropError, TypeError):
    """An argument has the wrong type (complex or string data, a non-callable, ...)."""


__all__ = ["BackpropError", "BackpropTypeError", "DataError", "ParameterError", "ShapeError"]
