"""The workloads W1-W4 of DESIGN.md §4 and their data (synthetic or MNIST-1D), float32.

Imports numpy and, for W2 only, :mod:`backprop.datasets`.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

SCHEMA = 1
CONTENDERS = ("backprop", "jax", "torch", "sklearn", "gemm")
PREDICT_CONTENDERS = ("backprop", "torch", "gemm")
PREDICT_ROWS = 100_000
TORCH_HINT = "pip install torch==2.13.0"
JAX_HINT = "pip install jax"
ENVIRONMENT = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class Workload:
    """One row of DESIGN.md §4's table."""

    key: str
    name: str
    data: str  # "synthetic" or "mnist1d"
    n_train: int
    n_features: int
    n_classes: int
    hidden: tuple[int, ...]
    activation: str
    optimizer: str  # "adam" or "sgd"
    lr: float
    momentum: float
    batch_size: int
    epochs: int

    @property
    def layers(self) -> list[int]:
        return [self.n_features, *self.hidden, self.n_classes]


WORKLOADS: dict[str, Workload] = {
    "W1": Workload("W1", "mnist-shape", "synthetic", 20000, 784, 10, (256, 256), "relu", "adam", 1e-3, 0.0, 128, 2),
    "W2": Workload("W2", "mnist1d", "mnist1d", 4000, 40, 10, (100, 100), "relu", "adam", 1e-2, 0.0, 100, 10),
    "W3": Workload("W3", "deep-narrow", "synthetic", 4096, 64, 10, (32,) * 8, "tanh", "sgd", 0.05, 0.9, 32, 5),
    "W4": Workload("W4", "wide", "synthetic", 8192, 1024, 10, (2048, 2048), "relu", "adam", 1e-3, 0.0, 512, 1),
}


class MissingError(Exception):
    """A contender or a workload's data needs a package that is not installed."""


@dataclass
class Data:
    X_train: F32
    y_train: I64
    X_test: F32
    y_test: I64


def synthetic(n_train: int, n_features: int, n_classes: int, n_test: int, seed: int = 0) -> Data:
    """``X`` standard normal, labels the argmax of ``X @ T`` for a standard-normal teacher ``T``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_train + n_test, n_features), dtype=np.float32)
    teacher = rng.standard_normal((n_features, n_classes), dtype=np.float32)
    y = np.argmax(X @ teacher, axis=1).astype(np.int64)
    return Data(X[:n_train], y[:n_train], X[n_train:], y[n_train:])


def load_data(workload: Workload, fraction: float) -> Data:
    """The workload's data, the first ``fraction`` of the rows (at least one batch)."""
    if workload.data == "mnist1d":
        try:
            importlib.import_module("mnist1d")
        except ImportError as exc:
            raise MissingError(
                f"the mnist1d package is not installed ({exc}); pip install 'backprop[datasets]'"
            ) from exc
        from ..datasets import MissingDependencyError, load

        try:
            dataset = load("mnist1d")
        except MissingDependencyError as exc:
            raise MissingError(str(exc)) from exc
        data = Data(
            np.ascontiguousarray(dataset.X_train, np.float32),
            dataset.y_train.astype(np.int64),
            np.ascontiguousarray(dataset.X_test, np.float32),
            dataset.y_test.astype(np.int64),
        )
    else:
        data = synthetic(workload.n_train, workload.n_features, workload.n_classes, workload.n_train // 5)
    if fraction < 1:
        n = max(workload.batch_size, math.ceil(fraction * data.X_train.shape[0]))
        n_test = max(1, math.ceil(fraction * data.X_test.shape[0]))
        data = Data(data.X_train[:n], data.y_train[:n], data.X_test[:n_test], data.y_test[:n_test])
    return data
