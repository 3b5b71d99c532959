"""backprop: multi-layer neural networks trained by backpropagation, on numpy.

>>> import backprop as bp
>>> net = bp.Network([bp.Dense(4, "sigmoid"), bp.Dense(1, "sigmoid")], inputs=2, seed=0)
>>> trace = bp.explain(net, [0.0, 1.0], [1.0], learning_rate=0.5)
>>> [dw.shape for dw in trace.weight_deltas]
[(2, 4), (4, 1)]
"""

from os import PathLike
from typing import TYPE_CHECKING, Any

from . import activations, callbacks, datasets, initializers, io, losses, preprocessing, schedules
from .activations import Activation, get_activation
from .callbacks import CSVLogger, EarlyStopping, ModelCheckpoint
from .errors import (
    BackpropError,
    BackpropTypeError,
    DataError,
    DivergenceError,
    MemoryLimitError,
    MissingDependencyError,
    ModelFileError,
    ParameterError,
    SaveError,
    ShapeError,
)
from .explain import Trace, explain
from .gradcheck import GradcheckReport, gradcheck
from .io import inspect, load, load_checkpoint, load_with_metadata, save, save_checkpoint
from .layers import Dense, Dropout, Layer
from .losses import Loss, get_loss
from .network import Network
from .optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, get_optimizer
from .preprocessing import Standardizer
from .schedules import Constant, CosineDecay, ExponentialDecay, ReduceOnPlateau, Schedule, StepDecay, get_schedule
from .training import Callback, History, TrainingState

__version__ = "0.1.0"


if TYPE_CHECKING:
    from .pipeline import TabularModel


def __getattr__(name: str) -> Any:
    # TabularModel brings the table readers and the heads: loaded on first use, not by `import backprop`.
    if name == "TabularModel":
        from .pipeline import TabularModel

        return TabularModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "TabularModel"})


def export_onnx(model: Any, path: str | PathLike[str], *, opset: int | None = None, name: str | None = None) -> None:
    """Write a network or a fitted estimator to an ONNX file: :func:`backprop.onnx.export_onnx`.

    ``onnx`` is imported on the first call, not by ``import backprop``.
    """
    from .onnx import export_onnx as _export_onnx

    _export_onnx(model, path, opset=opset, name=name)


__all__ = [
    "SGD",
    "Activation",
    "Adagrad",
    "Adam",
    "AdamW",
    "BackpropError",
    "BackpropTypeError",
    "CSVLogger",
    "Callback",
    "Constant",
    "CosineDecay",
    "DataError",
    "Dense",
    "DivergenceError",
    "Dropout",
    "EarlyStopping",
    "ExponentialDecay",
    "GradcheckReport",
    "History",
    "Layer",
    "Loss",
    "MemoryLimitError",
    "MissingDependencyError",
    "ModelCheckpoint",
    "ModelFileError",
    "Network",
    "Optimizer",
    "ParameterError",
    "RMSprop",
    "ReduceOnPlateau",
    "SaveError",
    "Schedule",
    "ShapeError",
    "Standardizer",
    "StepDecay",
    "TabularModel",
    "Trace",
    "TrainingState",
    "__version__",
    "activations",
    "callbacks",
    "datasets",
    "explain",
    "export_onnx",
    "get_activation",
    "get_loss",
    "get_optimizer",
    "get_schedule",
    "gradcheck",
    "initializers",
    "inspect",
    "io",
    "load",
    "load_checkpoint",
    "load_with_metadata",
    "losses",
    "preprocessing",
    "save",
    "save_checkpoint",
    "schedules",
]
