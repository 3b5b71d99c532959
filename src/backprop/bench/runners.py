"""The protocol: warm-up, rounds in rotated order, timing, memory, accuracy, ratios, and the JSON results.

:func:`run` is the whole benchmark; :class:`Environment` imports the
optional packages once and holds every contender to the same thread count;
:class:`BusyProcess` is ``--busy``'s CPU-bound neighbour.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import __version__
from .._threads import available_cpus
from .contenders import BackpropContender, Contender, GemmContender, SklearnContender, TorchContender
from .jax_contender import JaxContender, start_backend
from .memory import PeakMemory, memory_method
from .where import step_parts
from .workloads import (
    CONTENDERS,
    ENVIRONMENT,
    F32,
    JAX_HINT,
    PREDICT_CONTENDERS,
    PREDICT_ROWS,
    SCHEMA,
    TORCH_HINT,
    WORKLOADS,
    Data,
    MissingError,
    Workload,
    load_data,
)


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
    jax: Any = None
    jax_reason: str | None = None
    jax_threads: int | None = None
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
        env.jax, env.jax_reason = _optional("jax", JAX_HINT)
        if env.jax is not None:
            try:  # XLA's CPU pool is sized once, when the backend starts: now, to `threads`
                env.jax_threads = start_backend(env.jax, threads)
            except Exception as exc:  # a backend that does not start must not stop the other contenders
                env.jax, env.jax_reason = None, f"starting jax's CPU backend failed: {type(exc).__name__}: {exc}"
        env.versions["jax"] = None if env.jax is None else str(env.jax.__version__)
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
        if name == "jax":
            if self.jax is None:
                raise MissingError(self.jax_reason)
            return JaxContender(workload, self.jax)
        if self.sklearn_nn is None:
            raise MissingError(self.sklearn_reason)
        return SklearnContender(workload, self.sklearn_nn, self.sklearn_warning)

    def machine(self) -> dict[str, Any]:
        blas: list[dict[str, Any]] = []
        if self.threadpoolctl is not None:
            keys = ("user_api", "internal_api", "version", "architecture", "threading_layer", "num_threads", "filepath")
            blas = [{k: info.get(k) for k in keys} for info in self.threadpoolctl.threadpool_info()]
        available = default_threads()
        return {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": self.versions.get("torch"),
            "sklearn": self.versions.get("sklearn"),
            "jax": self.versions.get("jax"),
            "jax_threads": self.jax_threads,
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
    from .. import _kernels

    if not _kernels.enabled():
        return "numpy"
    from importlib.metadata import version

    return f"numba {version('numba')}"


def module_version(module: str) -> str | None:
    """``module.__version__`` for a machine record; None when it is missing or broken (the JSON says null)."""
    try:
        return str(importlib.import_module(module).__version__)
    except Exception:  # missing or broken: the JSON says null
        return None


def default_threads() -> int:
    """The CPUs this process may use: every contender's default thread count."""
    return available_cpus()


Progress = Callable[[str], None]

# The neighbour of --busy: pure Python arithmetic, no I/O; it also ends by itself once
# the bench is gone (its parent changes), so that even a killed bench leaves nothing.
_BUSY_CODE = """
import os
parent = os.getppid()
while os.getppid() == parent:
    for _ in range(100_000):
        pass
"""


class BusyProcess:
    """One CPU-bound Python process beside the benchmark while the context is open, killed when it closes.

    ``with BusyProcess() as busy:`` starts ``python -c <a busy loop>`` in a
    session of its own (a Ctrl-C at the terminal reaches the bench, whose
    exit kills it); closing the context, on success, an error or
    ``KeyboardInterrupt``, kills and reaps it. :meth:`record` is the JSON's
    ``busy`` entry.
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.seconds = 0.0
        self.cpu_seconds: float | None = None
        self._began = 0.0
        self._children_cpu = 0.0

    @staticmethod
    def _children_cpu_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> BusyProcess:
        self._children_cpu = self._children_cpu_seconds()
        self._began = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _BUSY_CODE],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid = self.process.pid
        return self

    def __exit__(self, *exc_info: object) -> None:
        process = self.process
        if process is None:
            return
        self.process = None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)
        process.wait()
        self.seconds = time.perf_counter() - self._began
        # The CPU time of the children reaped since __enter__: the busy process (training starts no other).
        self.cpu_seconds = self._children_cpu_seconds() - self._children_cpu

    def record(self) -> dict[str, Any]:
        """``{"processes": 1, "pid", "seconds", "cpu_seconds"}``: how long it ran and the CPU time it got."""
        return {"processes": 1, "pid": self.pid, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds}


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
        "where": None,
    }


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
    for name, contender in contenders.items():
        progress(f"{workload.key} warm-up: {name}")
        try:
            contender.warm_up(data, warmup_rows)
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
    where: dict[str, Any] = {"status": "ok", "reason": None}
    progress(f"{workload.key}: where backprop's step time goes")
    try:  # the same threads as the contenders: the bench's limits hold around this call
        where.update(step_parts(workload, data, rounds=1 if quick else repeats))
    except Exception as exc:
        where = {"status": "error", "reason": f"{type(exc).__name__}: {exc}"}
    return {
        "name": workload.name,
        "status": "ok",
        "reason": None,
        "config": _config(workload, data, epochs, warmup_rows),
        "contenders": entries,
        "ratios": _ratios(entries, "seconds_per_epoch", accuracy=True),
        "where": where,
    }


def _predictors(env: Environment, workload: Workload) -> dict[str, Callable[[F32], Any] | str]:
    """Per contender a function predicting every row, or why it is missing."""
    from ..network import PREDICT_CHUNK

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
    busy: bool = False,
) -> dict[str, Any]:
    """Run the benchmark and return its results as the JSON-able dict the module docstring describes.

    With ``busy``, one CPU-bound process (:class:`BusyProcess`) runs from the
    first warm-up to the last measured round and is killed after, also when
    the run fails or is interrupted.
    """
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
    neighbour = BusyProcess() if busy else None
    with env.limits():
        with neighbour or contextlib.nullcontext():
            if neighbour is not None:
                say(f"busy: a CPU-bound process (pid {neighbour.pid}) runs beside the bench")
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
        "busy": None if neighbour is None else neighbour.record(),
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
