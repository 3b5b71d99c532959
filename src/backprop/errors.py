"""Exceptions raised by backprop.

Every error derives from :class:`BackpropError`, and also from the built-in
exception a Python user would catch for the same mistake (``ValueError`` for a
bad value or shape, ``TypeError`` for a bad type), so ``except ValueError``
keeps working in code written for numpy or scikit-learn.
"""

from __future__ import annotations

import importlib
from types import ModuleType


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


class ModelFileError(BackpropError, ValueError):
    """A model or checkpoint file is unreadable, truncated, hostile or inconsistent."""


class SaveError(BackpropError, OSError):
    """Writing a file failed (disk full, permission denied, ...); any previous file is intact."""


class DivergenceError(BackpropError, ArithmeticError):
    """Training stopped because the loss or the gradient is no longer finite.

    Attributes
    ----------
    epoch, batch : int
        Where it happened (both numbered from 0).
    layer : int
        The first layer (numbered from 1) whose values went non-finite.
    """

    def __init__(self, message: str, epoch: int, batch: int, layer: int) -> None:
        super().__init__(message)
        self.epoch, self.batch, self.layer = epoch, batch, layer


class MemoryLimitError(BackpropError, MemoryError):
    """An allocation was refused before it was made: it needs more memory than is available.

    Attributes
    ----------
    needed, available : int
        Bytes the allocation would take and bytes available when it was checked.
    """

    def __init__(self, message: str, needed: int, available: int) -> None:
        super().__init__(message)
        self.needed, self.available = needed, available


class MissingDependencyError(BackpropError, ImportError):
    """An optional package (an extra such as scikit-learn, onnx, numba) is not installed."""


def optional_module(name: str, needed_by: str, install: str, package: str | None = None) -> ModuleType:
    """The module ``name``, imported now, or a :class:`MissingDependencyError` naming who needs it and how to
    install it (``package``: the package's name where it is not the module's, e.g. scikit-learn)."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise MissingDependencyError(
            f"{needed_by} needs the {package or name} package, which could not be imported ({error}); "
            f"install it with: {install}"
        ) from error


__all__ = [
    "BackpropError",
    "BackpropTypeError",
    "DataError",
    "DivergenceError",
    "MemoryLimitError",
    "MissingDependencyError",
    "ModelFileError",
    "ParameterError",
    "SaveError",
    "ShapeError",
]
