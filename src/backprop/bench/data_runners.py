"""``backprop bench --data``: reading, predicting and training from files, against pyarrow and pandas.

The figures of issue 15, each a ratio measured in one run (the data are described in
:mod:`~backprop.bench.data_workloads`):

==============  =====================================================  ==============================
workload        contenders (each step in a fresh process)               targets
==============  =====================================================  ==============================
``read``        backprop ``read_table`` + ``prepare_training``;         backprop ÷ pyarrow <= 2;
                ``pyarrow.csv.read_csv``; ``pandas.read_csv``           backprop ÷ pandas < 1;
                                                                         peak MB backprop ÷ pandas <= 1.5
``predict``     ``backprop predict MODEL DATA -o OUT`` on the file      backprop ÷ pyarrow <= 3;
                and on a quarter of it; ``pyarrow.csv.read_csv``        peak MB file ÷ quarter <= 1.5
``out-of-core`` ``backprop train DATASET --out-of-core`` under          completes under the limit;
                ``RLIMIT_AS`` (start-up + limit), the cache warm;       rows/s out of core ÷ in memory
                ``--in-memory`` on the limit's worth of its files;      >= 0.8 (the whole dataset,
                ``--out-of-core`` on those files too                    and the same files)
``columns``     ``read_table`` of 5 rows × C columns and × C/10         (s/column at C) ÷ (s/column at
                (and ``pyarrow.csv.read_csv`` of both, for reference)   C/10) <= 1.5: linear
==============  =====================================================  ==============================

Protocol: the files are generated first (not timed); ``predict``'s model is trained by
``backprop train`` on 20 000 rows of the table (fewer for fewer rows to predict; not timed);
``out-of-core`` first trains one epoch out of core to fill its cache (``cold``: the run that
must complete under the limit, with the cache's two passes; reported, not alternated), and fills
the cache of the in-memory run's files the same way (untimed). Then
``--repeats`` rounds (default 3), each running every contender of the workload once, in a new
process, the order rotated from round to round. A child imports what it needs before its
clock starts: seconds are the step alone (``process_seconds`` add the interpreter's start-up);
``peak_mb`` is the growth of the child's peak RSS over the step
(:class:`~backprop.bench.memory.PeakMemory`, the maximum over the rounds) and ``maxrss_mb``
its whole peak. Ratios compare medians.

``out-of-core`` in detail. The dataset has wide rows (``--data-features``, default 200 float32
columns): out of core the memory is a fixed part plus ~40-50 bytes per row (targets, split, row
numbers, shuffles), so only wide rows make 4 GB fit in 1 GB (see
:mod:`~backprop.bench.data_workloads`). Every contender trains the same network (:data:`NETWORK`:
hidden 256, 128, batch 256, Adam, mse on ``y``; seed 0; no validation; a tenth held out for the test)
in the same environment (:data:`TRAIN_ENV`: one BLAS thread, for all of them alike). Training speed
is rows per second of an epoch after the first (median of epochs 2..E), from the epoch seconds the
model file records (the training loop's own timing: not the reading, preparing or writing). The
limited children first train one epoch, out of core, on two small Parquet files of the same columns
(their start-up: numba compiles or loads its kernels there, LLVM needs a few hundred MB of address
space, and Arrow's dataset reader starts its threads), then limit their address space. ``--in-memory``
on the whole dataset would need several times its size (Arrow's table, the float64 frame, the
float32 matrix), so it runs on the dataset's first files, the limit's worth of rows; and
``out-of-core-same-files`` trains from the cache of those very files, the like-for-like ratio.

A contender whose package is missing is reported ``missing`` with the reason, its targets
``n/a``; so is ``out-of-core`` where ``backprop train`` has no ``--out-of-core``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .data_workloads import (
    DataSizes,
    describe,
    link_subset,
    parquet_rows,
    write_parquet_dataset,
    write_table_csv,
    write_warm_up,
    write_wide_csv,
)
from .memory import memory_method
from .runners import default_threads, module_version

DATA_SCHEMA = 1
DATA_WORKLOADS = ("read", "predict", "out-of-core", "columns")
#: Rows of the table ``predict``'s model is trained on.
MODEL_ROWS = 20_000
#: The network of the ``out-of-core`` runs (every contender): wide enough that an epoch is not only the
#: gather of the rows (with ``--hidden 32`` the reads would be all an epoch measures).
HIDDEN = (256, 128)
BATCH_SIZE = 256
NETWORK: dict[str, Any] = {"hidden": list(HIDDEN), "batch_size": BATCH_SIZE}
#: Training options of the ``out-of-core`` runs (every contender): a regression on ``y``, no validation.
TRAIN_OPTIONS = (
    "--target",
    "y",
    "--hidden",
    ",".join(map(str, HIDDEN)),
    "--batch-size",
    str(BATCH_SIZE),
    "--validation",
    "0",
    "--test-size",
    "0.1",
    "--seed",
    "0",
    "-q",
)
#: The environment of every ``out-of-core`` run, limited or not (the same for a fair speed): one BLAS
#: thread (no thread buffers to map under the limit), Arrow on malloc (not its own pool's reserve),
#: one malloc arena (glibc's per-thread arenas reserve 64 MB of address space each, no memory used).
TRAIN_ENV = {"OPENBLAS_NUM_THREADS": "1", "ARROW_DEFAULT_MEMORY_POOL": "system", "MALLOC_ARENA_MAX": "1"}
OUT_OF_CORE_CONTENDERS = ("out-of-core-cold", "out-of-core", "in-memory", "out-of-core-same-files")
#: A child may run this long (seconds) before it counts as failed.
CHILD_TIMEOUT = 6 * 3600
PANDAS_HINT = "pip install pandas"
NOT_BUILT = "backprop train has no --out-of-core option in this version"

Progress = Callable[[str], None]


def _summary(values: Sequence[float]) -> dict[str, Any] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": list(values)}


@dataclass
class Runs:
    """What one contender of a data workload measured over the rounds."""

    status: str = "ok"
    reason: str | None = None
    seconds: list[float] = field(default_factory=list)
    process_seconds: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    maxrss_mb: list[float] = field(default_factory=list)
    rows_per_second: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, result: dict[str, Any], process_seconds: float) -> None:
        if result["status"] != "ok":
            self.status, self.reason = "error", result["reason"]
            return
        self.seconds.append(float(result["seconds"]))
        self.process_seconds.append(process_seconds)
        for name in ("peak_mb", "maxrss_mb"):
            if result.get(name) is not None:
                getattr(self, name).append(float(result[name]))
        figures = result.get("extra") or {}
        epochs = [float(s) for s in figures.get("epoch_seconds") or []]
        if epochs and figures.get("train_rows"):
            warm = epochs[1:] or epochs  # the first epoch reads the files into the page cache
            self.rows_per_second.append(float(figures["train_rows"]) / statistics.median(warm))
            self.extra = {"train_rows": figures["train_rows"], "epochs": len(epochs)}
        for name in ("startup_mb", "address_space_mb"):
            if result.get(name) is not None:
                self.extra[name] = result[name]

    def to_json(self) -> dict[str, Any]:
        ok = self.status == "ok"
        return {
            "status": self.status,
            "reason": self.reason,
            "seconds": _summary(self.seconds) if ok else None,
            "process_seconds": _summary(self.process_seconds) if ok else None,
            "peak_mb": max(self.peak_mb) if ok and self.peak_mb else None,
            "maxrss_mb": max(self.maxrss_mb) if ok and self.maxrss_mb else None,
            "rows_per_second": _summary(self.rows_per_second) if ok else None,
            "extra": self.extra,
        }


@dataclass(frozen=True)
class Step:
    """A contender of a data workload: the child's spec, and the module it cannot do without."""

    name: str
    spec: dict[str, Any]
    needs: str | None = None
    hint: str = ""


def child(spec: dict[str, Any], timeout: float = CHILD_TIMEOUT) -> tuple[dict[str, Any], float]:
    """Run ``spec`` in a new process (:mod:`~backprop.bench.data_child`): its result and its wall seconds."""
    env = {**os.environ, **(spec.get("env") or {})}
    began = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "backprop.bench.data_child", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"no result within {timeout:.0f} s"}, time.perf_counter() - began
    seconds = time.perf_counter() - began
    lines = done.stdout.strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = " ".join(done.stderr.strip().splitlines()[-3:]) or f"exit status {done.returncode}"
        killed = " (killed: out of memory?)" if done.returncode < 0 else ""
        return {"status": "error", "reason": f"the child gave no result{killed}: {tail}"}, seconds
    said = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    if result["status"] != "ok" and said:
        result["reason"] = f"{result['reason']} ({said[-1]})"
    return result, seconds


def _missing(module: str | None, hint: str) -> str | None:
    """Why ``module`` cannot be used (not installed), or None."""
    if module is None:
        return None
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    return None if found is not None else f"{module} is not installed; {hint}"


def rounds(steps: Sequence[Step], repeats: int, label: str, progress: Progress) -> dict[str, Runs]:
    """``repeats`` rounds over the steps, each in a new process, the order rotated from round to round."""
    runs = {step.name: Runs() for step in steps}
    for step in steps:
        reason = _missing(step.needs, step.hint)
        if reason is not None:
            runs[step.name] = Runs(status="missing", reason=reason)
    active = [step for step in steps if runs[step.name].status == "ok"]
    for round_ in range(repeats):
        shift = round_ % len(active) if active else 0
        for step in active[shift:] + active[:shift]:
            if runs[step.name].status != "ok":
                continue
            progress(f"{label} round {round_ + 1}/{repeats}: {step.name}")
            result, seconds = child(step.spec)
            runs[step.name].add(result, seconds)
    return runs


# --------------------------------------------------------------------------- the workloads


def _cli(*args: str, limit_mb: int | None = None) -> dict[str, Any]:
    return {"task": "cli", "args": list(args), "limit_mb": limit_mb}


def _entry(runs: dict[str, Runs], **about: Any) -> dict[str, Any]:
    return {**about, "contenders": {name: record.to_json() for name, record in runs.items()}}


def run_read(sizes: DataSizes, folder: Path, repeats: int, progress: Progress) -> dict[str, Any]:
    """Read and prepare the table: backprop against pyarrow's and pandas' reads alone."""
    progress(f"read: writing {sizes.rows:,} rows of CSV")
    path = write_table_csv(folder / "table.csv", sizes.rows, seed=1)
    steps = [
        Step("backprop", {"task": "backprop-prepare", "path": str(path)}),
        Step("pyarrow", {"task": "pyarrow-read", "path": str(path)}, "pyarrow", "pip install pyarrow"),
        Step("pandas", {"task": "pandas-read", "path": str(path)}, "pandas", PANDAS_HINT),
    ]
    return _entry(rounds(steps, repeats, "read", progress), file=describe(path, sizes.rows, 10))


def _train_model(folder: Path, rows: int, progress: Progress) -> tuple[Path | None, str | None]:
    """The model ``predict`` uses, trained on ``rows`` rows of the table (not timed)."""
    progress(f"predict: training the model on {rows:,} rows")
    data = write_table_csv(folder / "model-rows.csv", rows, seed=4)
    model = folder / "model.safetensors"
    result, _ = child(_cli("train", str(data), "--epochs", "2", "--out", str(model), "-q"))
    return (model, None) if result["status"] == "ok" else (None, f"training the model failed: {result['reason']}")


def run_predict(sizes: DataSizes, folder: Path, repeats: int, progress: Progress) -> dict[str, Any]:
    """``backprop predict`` end to end on the file and on a quarter of it, against pyarrow's read alone."""
    quarter_rows = max(1, sizes.predict_rows // 4)
    progress(f"predict: writing {sizes.predict_rows:,} and {quarter_rows:,} rows of CSV")
    path = write_table_csv(folder / "predict.csv", sizes.predict_rows, seed=2)
    quarter = write_table_csv(folder / "predict-quarter.csv", quarter_rows, seed=2)
    model, failed = _train_model(folder, min(MODEL_ROWS, sizes.predict_rows), progress)
    steps = [Step("pyarrow", {"task": "pyarrow-read", "path": str(path)}, "pyarrow", "pip install pyarrow")]
    if model is not None:
        out = str(folder / "predictions.csv")
        steps += [
            Step("backprop", _cli("predict", str(model), str(path), "-o", out, "-q")),
            Step("backprop-quarter", _cli("predict", str(model), str(quarter), "-o", out, "-q")),
        ]
    runs = rounds(steps, repeats, "predict", progress)
    if failed is not None:
        runs = {"backprop": Runs("error", failed), "backprop-quarter": Runs("error", failed), **runs}
    return _entry(runs, file=describe(path, sizes.predict_rows, 10), quarter_file=describe(quarter, quarter_rows, 10))


def has_out_of_core() -> bool:
    """Whether ``backprop train`` has ``--out-of-core`` (another change brings it)."""
    from ..cli import main

    train = main.commands.get("train")
    return train is not None and any(param.name == "out_of_core" for param in train.params)


def _subset_rows(rows: int, sizes: DataSizes) -> int:
    return max(1, math.ceil(rows * min(1.0, sizes.limit_mb / sizes.parquet_mb)))


def run_out_of_core(sizes: DataSizes, folder: Path, repeats: int, progress: Progress) -> dict[str, Any]:
    """Training from a Parquet dataset larger than an address-space limit, against training in memory."""
    about: dict[str, Any] = {
        "limit_mb": sizes.limit_mb,
        "epochs": sizes.epochs,
        "features": sizes.features,
        "network": NETWORK,
        "environment": TRAIN_ENV,
    }
    if not has_out_of_core():
        runs = {name: Runs("missing", NOT_BUILT) for name in OUT_OF_CORE_CONTENDERS}
        return _entry(runs, dataset=None, in_memory_dataset=None, **about)
    progress(f"out-of-core: writing {sizes.parquet_mb:,} MB of Parquet ({sizes.features} features)")
    files = write_parquet_dataset(folder / "dataset", sizes.parquet_mb, sizes.features)
    rows = parquet_rows(files)
    subset = link_subset(files, folder / "in-memory", _subset_rows(rows, sizes))
    options = (*TRAIN_OPTIONS, "--cache-dir", str(folder / "cache"))
    model = str(folder / "trained.safetensors")
    warm_up = [
        "train",
        str(write_warm_up(folder / "warm-up", sizes.features)),
        "--out-of-core",
        "--epochs",
        "1",
        *options,
        "--out",
        str(folder / "warm.safetensors"),
    ]

    def limited(data: Path, epochs: int) -> dict[str, Any]:
        args = ("train", str(data), "--out-of-core", "--epochs", str(epochs), *options, "--out", model)
        return {**_cli(*args, limit_mb=sizes.limit_mb), "warm": warm_up, "env": TRAIN_ENV}

    progress(f"out-of-core: filling the cache under a {sizes.limit_mb:,} MB limit")
    cold = Runs()
    cold.add(*child(limited(folder / "dataset", 1)))
    # The same files as the in-memory run, out of core: a cache entry of their own, filled untimed.
    progress("out-of-core: filling the cache of the in-memory run's files")
    filled, _ = child(limited(folder / "in-memory", 1))
    in_memory_args = ("train", str(folder / "in-memory"), "--in-memory", "--epochs", str(sizes.epochs), *options)
    steps = [
        Step("out-of-core", limited(folder / "dataset", sizes.epochs)),
        Step("in-memory", {**_cli(*in_memory_args, "--out", model), "env": TRAIN_ENV}),
    ]
    if filled["status"] == "ok":
        steps.append(Step("out-of-core-same-files", limited(folder / "in-memory", sizes.epochs)))
    runs = {"out-of-core-cold": cold, **rounds(steps, repeats, "out-of-core", progress)}
    if filled["status"] != "ok":
        runs["out-of-core-same-files"] = Runs("error", f"filling its cache failed: {filled['reason']}")
    return _entry(
        runs,
        dataset=describe(folder / "dataset", rows, sizes.features + 1),
        in_memory_dataset=describe(folder / "in-memory", parquet_rows(subset), sizes.features + 1),
        **about,
    )


def run_columns(sizes: DataSizes, folder: Path, repeats: int, progress: Progress) -> dict[str, Any]:
    """Reading 5 rows of C and of C/10 columns: time linear in the columns."""
    narrow_columns = max(1, sizes.columns // 10)
    progress(f"columns: writing {sizes.columns:,} and {narrow_columns:,} columns")
    wide = write_wide_csv(folder / "wide.csv", sizes.columns)
    narrow = write_wide_csv(folder / "narrow.csv", narrow_columns)
    steps = [
        Step("backprop-wide", {"task": "backprop-read", "path": str(wide)}),
        Step("backprop-narrow", {"task": "backprop-read", "path": str(narrow)}),
        Step("pyarrow-wide", {"task": "pyarrow-read", "path": str(wide)}, "pyarrow", "pip install pyarrow"),
        Step("pyarrow-narrow", {"task": "pyarrow-read", "path": str(narrow)}, "pyarrow", "pip install pyarrow"),
    ]
    runs = rounds(steps, repeats, "columns", progress)
    return _entry(runs, wide_file=describe(wide, 5, sizes.columns), narrow_file=describe(narrow, 5, narrow_columns))


RUNNERS: dict[str, Callable[[DataSizes, Path, int, Progress], dict[str, Any]]] = {
    "read": run_read,
    "predict": run_predict,
    "out-of-core": run_out_of_core,
    "columns": run_columns,
}


# --------------------------------------------------------------------------- targets


def _median(entry: dict[str, Any], name: str, key: str = "seconds") -> float | None:
    contender = entry["contenders"].get(name)
    if contender is None or contender["status"] != "ok" or contender[key] is None:
        return None
    return float(contender[key]["median"]) if isinstance(contender[key], dict) else float(contender[key])


def _why_not(entry: dict[str, Any], *names: str) -> str | None:
    for name in names:
        contender = entry["contenders"].get(name)
        if contender is None:
            return f"{name} did not run"
        if contender["status"] != "ok":
            return f"{name}: {contender['status']}: {contender['reason']}"
    return None


def _target(
    workload: str, what: str, entry: dict[str, Any], names: tuple[str, ...], value: float | None, op: str, goal: float
) -> dict[str, Any]:
    reason = _why_not(entry, *names)
    if reason is None and value is None:
        reason = "no figure (a zero or missing measurement)"
    status = "n/a"
    if reason is None and value is not None:
        met = {"<=": value <= goal, "<": value < goal, ">=": value >= goal}[op]
        status = "PASS" if met else "FAIL"
    return {
        "workload": workload,
        "what": what,
        "value": value,
        "op": op,
        "goal": goal,
        "status": status,
        "reason": reason,
    }


def _over(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def targets(workloads: dict[str, dict[str, Any]], sizes: DataSizes) -> list[dict[str, Any]]:
    """Issue 15's figures from the measurements: value, goal, PASS, FAIL, or n/a and why."""
    found: list[dict[str, Any]] = []
    if "read" in workloads:
        e = workloads["read"]
        ours = _median(e, "backprop")
        found.append(
            _target(
                "read",
                "seconds backprop ÷ pyarrow",
                e,
                ("backprop", "pyarrow"),
                _over(ours, _median(e, "pyarrow")),
                "<=",
                2.0,
            )
        )
        found.append(
            _target(
                "read",
                "seconds backprop ÷ pandas",
                e,
                ("backprop", "pandas"),
                _over(ours, _median(e, "pandas")),
                "<",
                1.0,
            )
        )
        peak = _over(_median(e, "backprop", "peak_mb"), _median(e, "pandas", "peak_mb"))
        found.append(_target("read", "peak MB backprop ÷ pandas", e, ("backprop", "pandas"), peak, "<=", 1.5))
    if "predict" in workloads:
        e = workloads["predict"]
        found.append(
            _target(
                "predict",
                "seconds backprop predict ÷ pyarrow read",
                e,
                ("backprop", "pyarrow"),
                _over(_median(e, "backprop"), _median(e, "pyarrow")),
                "<=",
                3.0,
            )
        )
        peak = _over(_median(e, "backprop", "peak_mb"), _median(e, "backprop-quarter", "peak_mb"))
        found.append(
            _target(
                "predict",
                "peak MB file ÷ a quarter of it (bounded)",
                e,
                ("backprop", "backprop-quarter"),
                peak,
                "<=",
                1.5,
            )
        )
    if "out-of-core" in workloads:
        e = workloads["out-of-core"]
        cold = e["contenders"]["out-of-core-cold"]
        what = f"completes under RLIMIT_AS start-up + {sizes.limit_mb} MB"
        if cold["status"] == "error":  # not completing is the failure this figure is about
            found.append({**_target("out-of-core", what, e, (), 0.0, ">=", 1.0), "reason": cold["reason"]})
        else:
            found.append(_target("out-of-core", what, e, ("out-of-core-cold",), 1.0, ">=", 1.0))
        for name, what in (
            ("out-of-core", "rows/s out of core ÷ in memory"),
            ("out-of-core-same-files", "rows/s out of core ÷ in memory, same files"),
        ):
            speed = _over(_median(e, name, "rows_per_second"), _median(e, "in-memory", "rows_per_second"))
            found.append(_target("out-of-core", what, e, (name, "in-memory"), speed, ">=", 0.8))
    if "columns" in workloads:
        e = workloads["columns"]
        columns = e["wide_file"]["columns"] / e["narrow_file"]["columns"]
        ratio = _over(_median(e, "backprop-wide"), _median(e, "backprop-narrow"))
        value = None if ratio is None else ratio / columns
        found.append(
            _target(
                "columns",
                "s/column wide ÷ narrow (linear: 1)",
                e,
                ("backprop-wide", "backprop-narrow"),
                value,
                "<=",
                1.5,
            )
        )
    return found


# --------------------------------------------------------------------------- the run


def _machine() -> dict[str, Any]:
    available = default_threads()
    total = None
    with contextlib.suppress(OSError, ValueError, AttributeError):
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": module_version("pyarrow") if _missing("pyarrow", "") is None else None,
        "pandas": module_version("pandas") if _missing("pandas", "") is None else None,
        "cpu_count": os.cpu_count(),
        "available_cpus": available,
        "memory_mb": total,
        "memory_method": memory_method(),
    }


@contextlib.contextmanager
def _folder(path: str | os.PathLike[str] | None) -> Iterator[Path]:
    if path is not None:
        Path(path).mkdir(parents=True, exist_ok=True)
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="backprop-bench-data-") as name:
        yield Path(name)


def run_data(
    sizes: DataSizes | None = None,
    workloads: Sequence[str] = DATA_WORKLOADS,
    repeats: int = 3,
    folder: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the data benchmark; the JSON-able results (see ``backprop.bench``'s docstring).

    Parameters
    ----------
    sizes : DataSizes, optional
        Default: issue 15's sizes.
    workloads : sequence of str
        Among :data:`DATA_WORKLOADS`.
    repeats : int
        Measured rounds.
    folder : path, optional
        Where the files go (kept); default a temporary folder, removed after.
    """
    began = time.perf_counter()
    sizes = sizes or DataSizes()
    chosen = list(dict.fromkeys(workloads))
    for name in chosen:
        if name not in RUNNERS:
            raise ValueError(f"unknown data workload {name!r}; expected one of {list(DATA_WORKLOADS)}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    say = progress or (lambda _message: None)
    results: dict[str, Any] = {}
    with _folder(folder) as where:
        for name in chosen:
            results[name] = RUNNERS[name](sizes, where, repeats, say)
    return {
        "version": __version__,
        "schema": DATA_SCHEMA,
        "mode": "data",
        "repeats": repeats,
        "seconds": time.perf_counter() - began,
        "sizes": sizes.to_json(),
        "machine": _machine(),
        "workloads": results,
        "targets": targets(results, sizes),
    }


def data_has_errors(results: dict[str, Any]) -> bool:
    """Whether a contender ended in an error."""
    return any(
        entry["status"] == "error"
        for workload in results["workloads"].values()
        for entry in workload["contenders"].values()
    )
