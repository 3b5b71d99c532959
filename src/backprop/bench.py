"""``backprop bench``: backprop against PyTorch, scikit-learn and the GEMM limit.

Run it as ``backprop bench`` or ``python -m backprop.bench``. The workloads are
DESIGN.md §4's:

==  ===========  ===================  =======================  ================  =====  ======
id  name         data                 network                  optimizer         batch  epochs
==  ===========  ===================  =======================  ================  =====  ======
W1  mnist-shape  synthetic 20000×784  784-256-256-10 relu      Adam(1e-3)        128    2
W2  mnist1d      MNIST-1D, 4000       40-100-100-10 relu       Adam(1e-2)        100    10
W3  deep-narrow  synthetic 4096×64    64-(32×8)-10 tanh        SGD(0.05, m 0.9)  32     5
W4  wide         synthetic 8192×1024  1024-2048-2048-10 relu   Adam(1e-3)        512    1
==  ===========  ===================  =======================  ================  =====  ======

All losses are the crossentropy on a softmax output; everything is float32.
Synthetic data: ``X`` standard normal (seed 0), labels the argmax of
``X @ T`` for a standard-normal teacher ``T``; a held-out test set of the same
kind has 20% extra rows. W2 uses ``backprop.datasets.load("mnist1d")`` (4000
training, 1000 test rows) and is reported as missing without ``mnist1d``.

Contenders, all in this one process:

* ``backprop``: ``Network.fit`` (default float32), timed as a whole call.
* ``torch``: PyTorch eager on the CPU, the same layers (PyTorch's default
  initialization), the same optimizer and hyper-parameters: a plain loop of
  ``randperm`` shuffled mini-batches gathered by indexing, ``zero_grad``,
  forward, ``CrossEntropyLoss``, ``backward``, ``step``. Optional: ``pip
  install torch==2.13.0``; without it the contender is reported as missing.
* ``sklearn``: ``MLPClassifier`` with the same hidden layers, activation,
  solver (``adam``, or ``sgd`` with ``momentum`` and ``nesterovs_momentum=False``),
  learning rate, batch size, ``max_iter=epochs``, ``alpha=0``, ``tol=0``, on
  float32 input; seconds per epoch are the fit time over the epochs.
* ``gemm``: the GEMM limit, the matrix multiplications of the same steps alone
  at their exact shapes, float32, into preallocated buffers (``out=``): per
  step and layer the forward ``x @ W`` and the backward ``xᵀ @ g`` (``dW``)
  and ``g @ Wᵀ`` (``dX``, not for the first layer).

Protocol: per workload, one warm-up of every contender on a few batches, then
``--repeats`` rounds (default 3), each round running every contender once on
the full workload, the order rotated from round to round. Every run starts from
a freshly initialized model. The same thread count (``--threads``, default the
CPUs this process may use) holds for all: threadpoolctl's
``threadpool_limits`` for the BLAS and OpenMP pools numpy, scikit-learn and
torch load, and ``torch.set_num_threads``. Without threadpoolctl the thread
control is reported as unavailable and the pools keep their defaults.

Figures: seconds per epoch (median, min and max over the rounds), the ratios
backprop ÷ contender (below 1: backprop is faster) and contender ÷ backprop
(``x faster``), the peak memory and the final train and test accuracy (after
the measured epochs; the mean over the rounds, each round training from its
own seed, so that one lucky initialization does not decide the comparison). The predict section times
``Network.predict`` on 100 000 rows of W1's shape against the same torch model
under ``torch.inference_mode()`` (one call on all rows) and the forward GEMMs
alone (in chunks of ``backprop.network.PREDICT_CHUNK`` rows), in rows per
second; it runs when W1 does.

Memory: ``peak_memory_mb`` is the growth of the process's peak resident set
size (RSS) while the contender builds its model and trains, above the RSS just
before: on Linux the peak is reset before each run by writing ``5`` to
``/proc/self/clear_refs`` and read from ``VmHWM`` in ``/proc/self/status``,
after a ``gc.collect()`` and glibc's ``malloc_trim(0)``. It counts every
allocation, numpy's, torch's and the BLAS's alike, but not the training data,
which are in memory before. Resolution is a page, and memory that an earlier
run freed but the allocator kept resident can make a figure low. Where the peak
cannot be reset (not Linux) the fallback is the growth of
``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which is 0 unless the run raises
the process's all-time peak: a lower bound. ``machine.memory_method`` says
which was used.

OpenBLAS: on some processors this machine sets ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE``, which slow a current numpy. The library leaves them alone;
the JSON records them under ``machine.environment``. To measure without them,
unset both for that one command::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE backprop bench

and check ``machine.blas`` (from threadpoolctl) for the kernel then used.

``--quick`` runs 1/10 of the rows (the test sets too), one epoch, one round and
a one-batch warm-up, for smoke tests; its figures mean nothing.

JSON schema (``--json PATH``; every key is always present, numbers are null
where they do not apply, e.g. accuracy for ``gemm`` or anything of a missing
contender)::

    {
      "version": "0.1.0",                       # backprop's version
      "schema": 1,
      "quick": false, "repeats": 3, "threads": 2, "seconds": 123.4,
      "machine": {
        "platform", "python", "numpy", "torch", "sklearn",  # versions, null if missing
        "kernels": "numba 0.68.1" | "numpy",   # backprop's optimizer step (the `fast` extra)
        "cpu_count", "available_cpus", "threads",
        "thread_control": "threadpoolctl" | "unavailable",
        "blas": [{"user_api", "internal_api", "version", "architecture",
                  "threading_layer", "num_threads", "filepath"}, ...],
        "environment": {"OPENBLAS_CORETYPE": str | null, "OPENBLAS_L2_SIZE": ...,
                        "OMP_NUM_THREADS": ..., "OPENBLAS_NUM_THREADS": ...,
                        "MKL_NUM_THREADS": ...},
        "memory_method": "VmHWM reset via /proc/self/clear_refs" | "ru_maxrss growth (lower bound)"
      },
      "workloads": {
        "W1": {
          "name": "mnist-shape",
          "status": "ok" | "missing",           # missing: W2 without mnist1d
          "reason": str | null,
          "config": {"data", "n_train", "n_test", "n_features", "n_classes",
                     "layers": [784, 256, 256, 10], "activation", "loss",
                     "optimizer": {"name", "lr", "momentum"}, "batch_size",
                     "epochs", "steps_per_epoch", "warmup_rows", "dtype"},
          "contenders": {
            "backprop" | "torch" | "sklearn" | "gemm": {
              "status": "ok" | "missing" | "error",
              "reason": str | null,             # why missing, or the error
              "seconds_per_epoch": {"median", "min", "max", "runs": [...]} | null,
              "peak_memory_mb": float | null,
              "train_accuracy": float | null,
              "test_accuracy": float | null
            }, ...
          },
          "ratios": {
            "torch" | "sklearn" | "gemm": {
              "backprop_over_contender": float | null,   # < 1: backprop faster
              "contender_over_backprop": float | null,   # "x faster"
              "test_accuracy_difference": float | null   # backprop − contender
            }
          }
        }, "W2": ..., "W3": ..., "W4": ...
      },
      "predict": null | {                       # null when W1 did not run
        "workload": "W1", "rows": 100000,
        "contenders": {
          "backprop" | "torch" | "gemm": {
            "status", "reason",
            "rows_per_second": {"median", "min", "max", "runs": [...]} | null,
            "peak_memory_mb": float | null
          }
        },
        "ratios": {"torch" | "gemm": {"backprop_over_contender", "contender_over_backprop"}}
      }
    }

Ratios in ``predict`` compare throughputs: backprop ÷ contender above 1 means
backprop is faster. The command exits with status 1 when a contender ended in
an error (after printing and writing everything), else 0.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import importlib
import itertools
import json
import math
import os
import platform
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table

from . import __version__

SCHEMA = 1
CONTENDERS = ("backprop", "torch", "sklearn", "gemm")
PREDICT_CONTENDERS = ("backprop", "torch", "gemm")
PREDICT_ROWS = 100_000
TORCH_HINT = "pip install torch==2.13.0"
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
        from .datasets import MissingDependencyError, load

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


# --------------------------------------------------------------------------- memory


def _load_malloc_trim() -> Any:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _load_malloc_trim()


def _trim() -> None:
    """Give freed heap memory back to the OS, so that a later run's pages count as new."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _status_kb(field_name: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def _maxrss_kb() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


MEMORY_METHODS = ("VmHWM reset via /proc/self/clear_refs", "ru_maxrss growth (lower bound)")


@functools.cache
def memory_method() -> str:
    """How :class:`PeakMemory` measures here (tried once, on first use)."""
    return MEMORY_METHODS[0] if _reset_peak() else MEMORY_METHODS[1]


class PeakMemory:
    """The growth of the peak RSS over the RSS at entry, in MB (see the module docstring)."""

    def __init__(self) -> None:
        self.mb: float | None = None
        self.method = memory_method()
        self._base = 0

    def __enter__(self) -> PeakMemory:
        gc.collect()
        _trim()
        if self.method == MEMORY_METHODS[0] and _reset_peak():
            self._base = _status_kb("VmRSS") or 0
        else:
            self._base = _maxrss_kb()
        return self

    def __exit__(self, *exc: object) -> None:
        peak = _status_kb("VmHWM") if self.method == MEMORY_METHODS[0] else _maxrss_kb()
        if peak is not None:
            self.mb = max(0, peak - self._base) / 1024


# --------------------------------------------------------------------------- contenders


def _accuracy(predicted: Any, y: I64) -> float:
    return float(np.mean(np.asarray(predicted) == y))


class Contender:
    """Builds a fresh model, trains it (timed), measures its accuracy."""

    name = ""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload

    def build(self, seed: int) -> Any:
        raise NotImplementedError

    def train(self, model: Any, data: Data, epochs: int, seed: int) -> Any:
        """Train ``model``; return the trained model, or None when it was trained in place."""
        raise NotImplementedError

    def accuracy(self, model: Any, X: F32, y: I64) -> float | None:
        raise NotImplementedError


class BackpropContender(Contender):
    name = "backprop"

    def build(self, seed: int) -> Any:
        from .layers import Dense
        from .network import Network

        w = self.workload
        layers = [Dense(units, w.activation) for units in w.hidden] + [Dense(w.n_classes, "softmax")]
        return Network(layers, inputs=w.n_features, seed=seed, dtype=np.float32)

    def _optimizer(self) -> Any:
        from .optimizers import SGD, Adam

        w = self.workload
        return Adam(w.lr) if w.optimizer == "adam" else SGD(w.lr, momentum=w.momentum)

    def train(self, model: Any, data: Data, epochs: int, seed: int) -> None:
        w = self.workload
        model.fit(
            data.X_train,
            data.y_train,
            loss="crossentropy",
            optimizer=self._optimizer(),
            epochs=epochs,
            batch_size=w.batch_size,
            shuffle=True,
            seed=seed,
        )

    def accuracy(self, model: Any, X: F32, y: I64) -> float | None:
        return _accuracy(model.predict(X).argmax(axis=1), y)


class TorchContender(Contender):
    name = "torch"

    def __init__(self, workload: Workload, torch: Any) -> None:
        super().__init__(workload)
        self.torch = torch

    def build(self, seed: int) -> Any:
        torch, w = self.torch, self.workload
        nn = torch.nn
        act = {"relu": nn.ReLU, "tanh": nn.Tanh}[w.activation]
        modules: list[Any] = []
        sizes = w.layers
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for i in range(len(sizes) - 1):
                modules.append(nn.Linear(sizes[i], sizes[i + 1]))
                if i < len(sizes) - 2:
                    modules.append(act())
            return nn.Sequential(*modules)

    def train(self, model: Any, data: Data, epochs: int, seed: int) -> None:
        torch, w = self.torch, self.workload
        if w.optimizer == "adam":
            opt = torch.optim.Adam(model.parameters(), lr=w.lr)
        else:
            opt = torch.optim.SGD(model.parameters(), lr=w.lr, momentum=w.momentum)
        criterion = torch.nn.CrossEntropyLoss()
        X = torch.from_numpy(data.X_train)
        y = torch.from_numpy(data.y_train)
        n, batch = X.shape[0], w.batch_size
        generator = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, batch):
                rows = order[start : start + batch]
                opt.zero_grad()
                loss = criterion(model(X[rows]), y[rows])
                loss.backward()
                opt.step()

    def accuracy(self, model: Any, X: F32, y: I64) -> float | None:
        model.eval()
        with self.torch.inference_mode():
            predicted = model(self.torch.from_numpy(X)).argmax(dim=1).numpy()
        return _accuracy(predicted, y)


class SklearnContender(Contender):
    name = "sklearn"

    def __init__(self, workload: Workload, sklearn_nn: Any, convergence_warning: type[Warning]) -> None:
        super().__init__(workload)
        self.nn = sklearn_nn
        self.convergence_warning = convergence_warning

    def build(self, seed: int) -> Any:
        return seed

    def train(self, model: Any, data: Data, epochs: int, seed: int) -> Any:
        w = self.workload
        solver: dict[str, Any] = (
            {"solver": "adam"}
            if w.optimizer == "adam"
            else {"solver": "sgd", "momentum": w.momentum, "nesterovs_momentum": False, "learning_rate": "constant"}
        )
        clf = self.nn.MLPClassifier(
            hidden_layer_sizes=w.hidden,
            activation=w.activation,
            learning_rate_init=w.lr,
            batch_size=w.batch_size,
            max_iter=epochs,
            shuffle=True,
            tol=0.0,
            n_iter_no_change=10**9,
            alpha=0.0,
            random_state=seed,
            **solver,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self.convergence_warning)
            clf.fit(data.X_train, data.y_train)
        return clf

    def accuracy(self, model: Any, X: F32, y: I64) -> float | None:
        return _accuracy(model.predict(X), y)


class GemmContender(Contender):
    """The matrix multiplications of the workload's steps alone (see the module docstring)."""

    name = "gemm"

    def build(self, seed: int) -> Any:
        w = self.workload
        rng = np.random.default_rng(seed)
        sizes, batch = w.layers, w.batch_size
        weights = [
            (rng.standard_normal((a, b), dtype=np.float32) / np.float32(math.sqrt(a)))
            for a, b in itertools.pairwise(sizes)
        ]
        grads_w = [np.empty_like(W) for W in weights]
        outputs = [np.empty((batch, b), np.float32) for b in sizes[1:]]
        grads_z = [rng.standard_normal((batch, b), dtype=np.float32) * np.float32(1e-3) for b in sizes[1:]]
        grads_x = [np.empty((batch, a), np.float32) for a in sizes[:-1]]
        return weights, grads_w, outputs, grads_z, grads_x

    def train(self, model: Any, data: Data, epochs: int, seed: int) -> None:
        weights, grads_w, outputs, grads_z, grads_x = model
        X, batch = data.X_train, self.workload.batch_size
        n, last = X.shape[0], len(weights) - 1
        for _ in range(epochs):
            for start in range(0, n, batch):
                x = X[start : start + batch]
                m = x.shape[0]
                a = x
                for W, out in zip(weights, outputs, strict=True):
                    a = np.matmul(a, W, out=out[:m])
                for l in range(last, -1, -1):
                    below = x if l == 0 else outputs[l - 1][:m]
                    g = grads_z[l][:m]
                    np.matmul(below.T, g, out=grads_w[l])
                    if l:
                        np.matmul(g, weights[l].T, out=grads_x[l][:m])

    def accuracy(self, model: Any, X: F32, y: I64) -> float | None:
        return None


# --------------------------------------------------------------------------- results


def _summary(values: Sequence[float]) -> dict[str, Any] | None:
    if not values:
        return None
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": list(values),
    }


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else None


def _max_or_none(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


@dataclass
class Record:
    """What one contender measured on one workload."""

    status: str = "ok"
    reason: str | None = None
    seconds: list[float] = field(default_factory=list)
    memory: list[float | None] = field(default_factory=list)
    train_accuracy: list[float | None] = field(default_factory=list)
    test_accuracy: list[float | None] = field(default_factory=list)

    def fail(self, exc: BaseException) -> None:
        self.status = "error"
        self.reason = f"{type(exc).__name__}: {exc}"

    def to_json(self) -> dict[str, Any]:
        ok = self.status == "ok"
        return {
            "status": self.status,
            "reason": self.reason,
            "seconds_per_epoch": _summary(self.seconds) if ok else None,
            "peak_memory_mb": _max_or_none(self.memory) if ok else None,
            "train_accuracy": _mean_or_none(self.train_accuracy) if ok else None,
            "test_accuracy": _mean_or_none(self.test_accuracy) if ok else None,
        }


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    if ours is None or theirs is None or theirs <= 0:
        return None
    return ours / theirs


def _median(entry: dict[str, Any], key: str) -> float | None:
    summary = entry.get(key)
    return None if summary is None else float(summary["median"])


def _ratios(contenders: dict[str, dict[str, Any]], key: str, accuracy: bool) -> dict[str, Any]:
    ours = _median(contenders["backprop"], key)
    ratios: dict[str, Any] = {}
    for name, entry in contenders.items():
        if name == "backprop":
            continue
        theirs = _median(entry, key)
        ratio: dict[str, Any] = {
            "backprop_over_contender": _ratio(ours, theirs),
            "contender_over_backprop": _ratio(theirs, ours),
        }
        if accuracy:
            a, b = contenders["backprop"]["test_accuracy"], entry["test_accuracy"]
            ratio["test_accuracy_difference"] = None if a is None or b is None else a - b
        ratios[name] = ratio
    return ratios


# --------------------------------------------------------------------------- running


def _optional(module: str, hint: str) -> tuple[Any, str | None]:
    """The module, or None and why: not installed (ImportError) or broken (any other error)."""
    try:
        return importlib.import_module(module), None
    except ImportError as exc:
        return None, f"{module.partition('.')[0]} is not installed ({exc}); {hint}"
    except Exception as exc:  # a broken install must not stop the other contenders
        return None, f"importing {module} failed: {type(exc).__name__}: {exc}"


@dataclass
class Environment:
    """The optional packages, imported once, and the thread settings."""

    threads: int
    torch: Any = None
    torch_reason: str | None = None
    sklearn_nn: Any = None
    sklearn_warning: Any = None
    sklearn_reason: str | None = None
    threadpoolctl: Any = None
    versions: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def detect(cls, threads: int) -> Environment:
        env = cls(threads)
        env.torch, env.torch_reason = _optional("torch", TORCH_HINT)
        env.versions["torch"] = None if env.torch is None else str(env.torch.__version__)
        env.sklearn_nn, env.sklearn_reason = _optional("sklearn.neural_network", "pip install scikit-learn")
        if env.sklearn_nn is not None:
            env.sklearn_warning = importlib.import_module("sklearn.exceptions").ConvergenceWarning
        env.versions["sklearn"] = (
            None if env.sklearn_nn is None else str(importlib.import_module("sklearn").__version__)
        )
        env.threadpoolctl, _ = _optional("threadpoolctl", "pip install threadpoolctl")
        return env

    @contextlib.contextmanager
    def limits(self) -> Iterator[None]:
        """The same thread count for every BLAS/OpenMP pool and for torch."""
        previous = None
        if self.torch is not None:
            previous = self.torch.get_num_threads()
            self.torch.set_num_threads(self.threads)
        try:
            if self.threadpoolctl is not None:
                with self.threadpoolctl.threadpool_limits(limits=self.threads):
                    yield
            else:
                yield
        finally:
            if self.torch is not None and previous is not None:
                self.torch.set_num_threads(previous)

    def contender(self, name: str, workload: Workload) -> Contender:
        if name == "backprop":
            return BackpropContender(workload)
        if name == "gemm":
            return GemmContender(workload)
        if name == "torch":
            if self.torch is None:
                raise MissingError(self.torch_reason)
            return TorchContender(workload, self.torch)
        if self.sklearn_nn is None:
            raise MissingError(self.sklearn_reason)
        return SklearnContender(workload, self.sklearn_nn, self.sklearn_warning)

    def machine(self) -> dict[str, Any]:
        blas: list[dict[str, Any]] = []
        if self.threadpoolctl is not None:
            keys = ("user_api", "internal_api", "version", "architecture", "threading_layer", "num_threads", "filepath")
            blas = [{k: info.get(k) for k in keys} for info in self.threadpoolctl.threadpool_info()]
        try:
            available = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            available = os.cpu_count() or 1
        return {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": self.versions.get("torch"),
            "sklearn": self.versions.get("sklearn"),
            "kernels": _kernel_path(),
            "cpu_count": os.cpu_count(),
            "available_cpus": available,
            "threads": self.threads,
            "thread_control": "threadpoolctl" if self.threadpoolctl is not None else "unavailable",
            "blas": blas,
            "environment": {name: os.environ.get(name) for name in ENVIRONMENT},
            "memory_method": memory_method(),
        }


def _kernel_path() -> str:
    """Which optimizer step backprop runs: the compiled one-pass kernels or plain numpy."""
    from . import _kernels

    if not _kernels.enabled():
        return "numpy"
    from importlib.metadata import version

    return f"numba {version('numba')}"


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


Progress = Callable[[str], None]


def _config(workload: Workload, data: Data, epochs: int, warmup_rows: int) -> dict[str, Any]:
    n = data.X_train.shape[0]
    optimizer: dict[str, Any] = {"name": workload.optimizer, "lr": workload.lr, "momentum": workload.momentum}
    return {
        "data": workload.data,
        "n_train": n,
        "n_test": int(data.X_test.shape[0]),
        "n_features": workload.n_features,
        "n_classes": workload.n_classes,
        "layers": workload.layers,
        "activation": workload.activation,
        "loss": "crossentropy",
        "optimizer": optimizer,
        "batch_size": workload.batch_size,
        "epochs": epochs,
        "steps_per_epoch": math.ceil(n / workload.batch_size),
        "warmup_rows": warmup_rows,
        "dtype": "float32",
    }


def _missing_workload(workload: Workload, reason: str) -> dict[str, Any]:
    contenders = {name: Record(status="missing", reason=reason).to_json() for name in CONTENDERS}
    return {
        "name": workload.name,
        "status": "missing",
        "reason": reason,
        "config": None,
        "contenders": contenders,
        "ratios": _ratios(contenders, "seconds_per_epoch", accuracy=True),
    }


def _slice(data: Data, rows: int) -> Data:
    return Data(data.X_train[:rows], data.y_train[:rows], data.X_test, data.y_test)


def run_workload(workload: Workload, env: Environment, repeats: int, quick: bool, progress: Progress) -> dict[str, Any]:
    """Warm up, then ``repeats`` rounds over the contenders; the JSON entry of the workload."""
    try:
        data = load_data(workload, 0.1 if quick else 1.0)
    except MissingError as exc:
        return _missing_workload(workload, str(exc))
    epochs = 1 if quick else workload.epochs
    warmup_rows = min(data.X_train.shape[0], workload.batch_size * (1 if quick else 4))
    records = {name: Record() for name in CONTENDERS}
    contenders: dict[str, Contender] = {}
    for name in CONTENDERS:
        try:
            contenders[name] = env.contender(name, workload)
        except MissingError as exc:
            records[name] = Record(status="missing", reason=str(exc))
    warm = _slice(data, warmup_rows)
    for name, contender in contenders.items():
        progress(f"{workload.key} warm-up: {name}")
        try:
            contender.train(contender.build(0), warm, 1, 0)
        except Exception as exc:
            records[name].fail(exc)
    active = [name for name in contenders if records[name].status == "ok"]
    for round_ in range(repeats):
        shift = round_ % len(active) if active else 0
        for name in active[shift:] + active[:shift]:
            record = records[name]
            if record.status != "ok":
                continue
            progress(f"{workload.key} round {round_ + 1}/{repeats}: {name}")
            contender = contenders[name]
            try:
                with PeakMemory() as memory:
                    model = contender.build(round_ + 1)
                    began = time.perf_counter()
                    trained = contender.train(model, data, epochs, round_ + 1)
                    seconds = time.perf_counter() - began
                model = model if trained is None else trained
                record.seconds.append(seconds / epochs)
                record.memory.append(memory.mb)
                record.train_accuracy.append(contender.accuracy(model, data.X_train, data.y_train))
                record.test_accuracy.append(contender.accuracy(model, data.X_test, data.y_test))
                del model, trained
            except Exception as exc:
                record.fail(exc)
    entries = {name: records[name].to_json() for name in CONTENDERS}
    return {
        "name": workload.name,
        "status": "ok",
        "reason": None,
        "config": _config(workload, data, epochs, warmup_rows),
        "contenders": entries,
        "ratios": _ratios(entries, "seconds_per_epoch", accuracy=True),
    }


def _predictors(env: Environment, workload: Workload) -> dict[str, Callable[[F32], Any] | str]:
    """Per contender a function predicting every row, or why it is missing."""
    from .network import PREDICT_CHUNK

    net = BackpropContender(workload).build(0)
    found: dict[str, Callable[[F32], Any] | str] = {"backprop": net.predict}
    if env.torch is None:
        found["torch"] = env.torch_reason or "torch is missing"
    else:
        torch = env.torch
        model = TorchContender(workload, torch).build(0).eval()

        def torch_predict(X: F32) -> Any:
            with torch.inference_mode():
                return model(torch.from_numpy(X))

        found["torch"] = torch_predict
    weights = [np.ascontiguousarray(W) for W in net.weights]
    outputs = [np.empty((PREDICT_CHUNK, W.shape[1]), np.float32) for W in weights]

    def gemm_predict(X: F32) -> Any:
        for start in range(0, X.shape[0], PREDICT_CHUNK):
            a = X[start : start + PREDICT_CHUNK]
            m = a.shape[0]
            for W, out in zip(weights, outputs, strict=True):
                a = np.matmul(a, W, out=out[:m])
        return a

    found["gemm"] = gemm_predict
    return found


def run_predict(env: Environment, repeats: int, quick: bool, progress: Progress) -> dict[str, Any]:
    """Rows per second of the forward pass on W1's network: backprop, torch, the GEMMs alone."""
    workload = WORKLOADS["W1"]
    rows = PREDICT_ROWS // 10 if quick else PREDICT_ROWS
    X = np.random.default_rng(1).standard_normal((rows, workload.n_features), dtype=np.float32)
    records = {name: Record() for name in PREDICT_CONTENDERS}
    try:
        predictors = _predictors(env, workload)
    except Exception as exc:
        for record in records.values():
            record.fail(exc)
        predictors = {}
    for name, predictor in predictors.items():
        if isinstance(predictor, str):
            records[name] = Record(status="missing", reason=predictor)
            continue
        progress(f"predict warm-up: {name}")
        try:
            predictor(X[:1000])
        except Exception as exc:
            records[name].fail(exc)
    active = [name for name in PREDICT_CONTENDERS if records[name].status == "ok" and name in predictors]
    for round_ in range(repeats):
        shift = round_ % len(active) if active else 0
        for name in active[shift:] + active[:shift]:
            record, predictor = records[name], predictors[name]
            if record.status != "ok" or isinstance(predictor, str):
                continue
            progress(f"predict round {round_ + 1}/{repeats}: {name}")
            try:
                with PeakMemory() as memory:
                    began = time.perf_counter()
                    result = predictor(X)
                    seconds = time.perf_counter() - began
                del result
                record.seconds.append(rows / seconds)
                record.memory.append(memory.mb)
            except Exception as exc:
                record.fail(exc)
    entries: dict[str, dict[str, Any]] = {}
    for name, record in records.items():
        ok = record.status == "ok"
        entries[name] = {
            "status": record.status,
            "reason": record.reason,
            "rows_per_second": _summary(record.seconds) if ok else None,
            "peak_memory_mb": _max_or_none(record.memory) if ok else None,
        }
    return {
        "workload": "W1",
        "rows": rows,
        "contenders": entries,
        "ratios": _ratios(entries, "rows_per_second", accuracy=False),
    }


def run(
    workloads: Sequence[str] = tuple(WORKLOADS),
    repeats: int | None = None,
    threads: int | None = None,
    quick: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the benchmark and return its results as the JSON-able dict the module docstring describes."""
    began = time.perf_counter()
    keys = [key.upper() for key in workloads]
    for key in keys:
        if key not in WORKLOADS:
            raise ValueError(f"unknown workload {key!r}; expected one of {sorted(WORKLOADS)}")
    keys = list(dict.fromkeys(keys))
    repeats = (1 if quick else 3) if repeats is None else repeats
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    threads = default_threads() if threads is None else threads
    say = progress or (lambda _message: None)
    env = Environment.detect(threads)
    results: dict[str, Any] = {}
    predict = None
    with env.limits():
        for key in keys:
            results[key] = run_workload(WORKLOADS[key], env, repeats, quick, say)
        if "W1" in keys:
            predict = run_predict(env, repeats, quick, say)
        machine = env.machine()
    return {
        "version": __version__,
        "schema": SCHEMA,
        "quick": quick,
        "repeats": repeats,
        "threads": threads,
        "seconds": time.perf_counter() - began,
        "machine": machine,
        "workloads": results,
        "predict": predict,
    }


def has_errors(results: dict[str, Any]) -> bool:
    """Whether any contender ended in an error."""
    sections = list(results["workloads"].values())
    if results.get("predict"):
        sections.append(results["predict"])
    return any(entry["status"] == "error" for section in sections for entry in section["contenders"].values())


# --------------------------------------------------------------------------- output


def _seconds(value: float) -> str:
    return f"{value:.3g}" if value < 1 else f"{value:.2f}"


def _spread(summary: dict[str, Any] | None) -> tuple[str, str]:
    if summary is None:
        return "", ""
    return _seconds(summary["median"]), f"{_seconds(summary['min'])}–{_seconds(summary['max'])}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def _mb(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _status_cell(entry: dict[str, Any]) -> str | None:
    if entry["status"] == "ok":
        return None
    style = "yellow" if entry["status"] == "missing" else "red"
    return f"[{style}]{entry['status']}[/{style}]"


def render(results: dict[str, Any], console: Console) -> None:
    """Print the results as rich tables."""
    machine = results["machine"]
    blas = ", ".join(
        f"{b['internal_api']} {b['version']} ({b['architecture']}, {b['num_threads']} threads)"
        for b in machine["blas"]
        if b.get("user_api") == "blas"
    )
    console.print(
        f"[bold]backprop bench[/bold] {results['version']}: {results['threads']} threads "
        f"(thread control: {machine['thread_control']}), {results['repeats']} rounds"
        f"{' [yellow](--quick: the figures mean nothing)[/yellow]' if results['quick'] else ''}; "
        f"numpy {machine['numpy']}, torch {machine['torch'] or 'missing'}, "
        f"scikit-learn {machine['sklearn'] or 'missing'}; BLAS: {blas or 'unknown'}; "
        f"backprop's optimizer step: {machine['kernels']}"
    )
    set_env = {k: v for k, v in machine["environment"].items() if v is not None}
    if set_env:
        console.print(f"environment: {set_env}")
    table = Table(title="seconds per epoch (median over rounds), ratios from the medians", title_justify="left")
    for column, justify in (
        ("workload", "left"),
        ("contender", "left"),
        ("s/epoch", "right"),
        ("min–max", "right"),
        ("backprop ÷ it", "right"),
        ("it ÷ backprop", "right"),
        ("peak MB", "right"),
        ("train acc", "right"),
        ("test acc", "right"),
    ):
        table.add_column(column, justify="left" if justify == "left" else "right")
    for key, workload in results["workloads"].items():
        first = True
        for name, entry in workload["contenders"].items():
            label = f"{key} {workload['name']}" if first else ""
            first = False
            status = _status_cell(entry)
            if status is not None:
                table.add_row(label, name, status, entry["reason"] or "", "", "", "", "", "")
                continue
            median, spread = _spread(entry["seconds_per_epoch"])
            ratio = workload["ratios"].get(name)
            ours = theirs = "—"
            if ratio is not None:
                if ratio["backprop_over_contender"] is not None:
                    ours = f"{ratio['backprop_over_contender']:.2f}"
                if ratio["contender_over_backprop"] is not None:
                    theirs = f"{ratio['contender_over_backprop']:.2f}× "
                    theirs += "(bp faster)" if ratio["contender_over_backprop"] > 1 else "(bp slower)"
            table.add_row(
                label,
                name,
                median,
                spread,
                ours,
                theirs,
                _mb(entry["peak_memory_mb"]),
                _pct(entry["train_accuracy"]),
                _pct(entry["test_accuracy"]),
            )
        table.add_section()
    console.print(table)
    predict = results.get("predict")
    if predict:
        ptable = Table(title=f"predict, {predict['rows']} rows of W1's shape (rows per second)", title_justify="left")
        for column in ("contender", "rows/s", "min–max", "backprop ÷ it", "peak MB"):
            ptable.add_column(column, justify="left" if column == "contender" else "right")
        for name, entry in predict["contenders"].items():
            status = _status_cell(entry)
            if status is not None:
                ptable.add_row(name, status, entry["reason"] or "", "", "")
                continue
            summary = entry["rows_per_second"]
            ratio = predict["ratios"].get(name)
            value = ratio["backprop_over_contender"] if ratio else None
            ptable.add_row(
                name,
                f"{summary['median']:,.0f}",
                f"{summary['min']:,.0f}–{summary['max']:,.0f}",
                "—" if value is None else f"{value:.2f}",
                _mb(entry["peak_memory_mb"]),
            )
        console.print(ptable)
    console.print(f"{results['seconds']:.1f} s in all; memory: {machine['memory_method']}")


def write_json(results: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``results`` as JSON (NaN and infinity become null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    Path(path).write_text(json.dumps(clean(results), indent=2, allow_nan=False) + "\n", encoding="utf-8")


@click.command(name="bench", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workload",
    "-w",
    "workloads",
    multiple=True,
    type=click.Choice(list(WORKLOADS), case_sensitive=False),
    help="Run this workload (repeatable) [default: all].",
)
@click.option("--repeats", type=click.IntRange(min=1), default=None, help="Measured rounds [default: 3, --quick 1].")
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="Threads for every contender [default: CPUs]."
)
@click.option("--quick", is_flag=True, help="1/10 of the rows, 1 epoch, 1 round: a smoke test.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write the results here.")
def command(
    workloads: tuple[str, ...], repeats: int | None, threads: int | None, quick: bool, json_path: str | None
) -> None:
    """Time backprop against PyTorch, scikit-learn and the GEMM limit (DESIGN.md §4).

    Unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for this command to measure a
    current numpy at full speed:

    \b
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE backprop bench
    """
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)

    def progress(message: str) -> None:
        click.echo(f"… {message}", err=True)

    results = run(workloads or tuple(WORKLOADS), repeats=repeats, threads=threads, quick=quick, progress=progress)
    render(results, console)
    if json_path is not None:
        write_json(results, json_path)
        console.print(f"wrote {json_path}", soft_wrap=True)
    if has_errors(results):
        raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m backprop.bench [OPTIONS]``."""
    command.main(args=list(argv) if argv is not None else None, prog_name="python -m backprop.bench")


__all__ = ["CONTENDERS", "WORKLOADS", "Workload", "command", "main", "run", "write_json"]


if __name__ == "__main__":
    main()
