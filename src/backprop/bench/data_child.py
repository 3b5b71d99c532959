"""One measured step of ``backprop bench --data`` in a process of its own, for an honest peak memory.

``python -m backprop.bench.data_child SPEC``, SPEC a JSON object: ``task`` and its arguments.
The child imports what its task needs (and, given ``warm``, runs ``backprop WARM`` first: on
a few rows, it compiles the kernels numba caches, whose LLVM alone needs a few hundred MB of
address space), then, under ``limit_mb``, limits its address space (``RLIMIT_AS``) to what it
has after that start-up plus ``limit_mb``; then it times the step alone
(``time.perf_counter``) inside :class:`~backprop.bench.memory.PeakMemory`. It prints one JSON
line: ``status`` (``ok``, ``error``), ``reason``, ``seconds``, ``peak_mb`` (growth of the peak RSS
over the step), ``maxrss_mb`` (the process's whole peak), ``startup_mb`` (RSS after the imports),
``address_space_mb`` (VmSize after the imports) and ``extra`` (what the task adds). A SPEC's
``env`` is the parent's: the variables it sets for the child (malloc's and Arrow's take effect at
start-up).

Tasks:

* ``backprop-read``: ``backprop.tabular.read_table(path)``;
* ``backprop-prepare``: ``read_table`` then ``prepare_training`` (defaults: last column the target);
* ``pyarrow-read``: ``pyarrow.csv.read_csv(path)``;
* ``pandas-read``: ``pandas.read_csv(path)``;
* ``cli``: ``backprop ARGS`` in this process (``backprop.cli.main``, not standalone); for ``train``
  the model file's epoch seconds and training rows come back in ``extra``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import sys
import time
import traceback
from typing import Any

from .memory import PeakMemory, max_rss_mb, status_mb

TASKS = ("backprop-read", "backprop-prepare", "pyarrow-read", "pandas-read", "cli")


#: What backprop imports lazily, on first use: imported before the clock, as pyarrow's and pandas' own modules are.
LAZY = ("pyarrow", "pyarrow.csv", "pyarrow.compute", "pyarrow.parquet", "pyarrow.dataset")
COMMANDS = ("backprop.cli.predict", "backprop.cli.train", "backprop.pipeline", "backprop.heads", "backprop.io")


def _warm(modules: tuple[str, ...]) -> None:
    for module in modules:
        with contextlib.suppress(ImportError):  # the step says what is missing, if it needs it
            importlib.import_module(module)


def _prepare(spec: dict[str, Any]) -> Any:
    """Import what the task needs (before the limit and the clock) and return the step to time."""
    task = spec["task"]
    if task.startswith("backprop") or task == "cli":
        _warm(LAZY + COMMANDS)
    if task in ("backprop-read", "backprop-prepare"):
        from ..tabular import prepare_training, read_table

        if task == "backprop-read":
            return lambda: read_table(spec["path"])
        return lambda: prepare_training(read_table(spec["path"]))
    if task == "pyarrow-read":
        pacsv = importlib.import_module("pyarrow.csv")
        return lambda: pacsv.read_csv(spec["path"])
    if task == "pandas-read":
        pandas = importlib.import_module("pandas")
        return lambda: pandas.read_csv(spec["path"])
    if task == "cli":
        from ..cli import main

        def command() -> None:
            # The command's report is not the child's: standard output carries the JSON line alone.
            try:
                with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
                    main.main(args=list(spec["args"]), prog_name="backprop", standalone_mode=False)
            except SystemExit as exc:
                if exc.code not in (None, 0):
                    raise RuntimeError(f"backprop {spec['args'][0]} exited with status {exc.code}") from None

        return command
    raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")


def _train_figures(model: str) -> dict[str, Any]:
    """Epoch seconds and training rows from the model file ``backprop train`` wrote."""
    from ..io import load_with_metadata

    _, metadata = load_with_metadata(model)
    history = metadata.get("history") or {}
    training = metadata.get("training") or {}
    return {"epoch_seconds": list(history.get("seconds") or []), "train_rows": training.get("train_rows")}


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``spec``'s step and measure it (see the module docstring)."""
    result: dict[str, Any] = {
        "status": "ok",
        "reason": None,
        "seconds": None,
        "peak_mb": None,
        "maxrss_mb": None,
        "startup_mb": None,
        "address_space_mb": None,
        "extra": {},
    }
    try:
        step = _prepare(spec)
        if spec.get("warm"):  # a first run on a few rows: numba's kernels compiled, lazy imports done
            _prepare({"task": "cli", "args": spec["warm"]})()
        result["startup_mb"] = status_mb("VmRSS")
        result["address_space_mb"] = space = status_mb("VmSize")
        limit = spec.get("limit_mb")
        if limit is not None:
            if space is None:
                raise RuntimeError("cannot limit the address space here: no /proc/self/status")
            cap = int((space + limit) * 2**20)
            resource.setrlimit(resource.RLIMIT_AS, (cap, resource.getrlimit(resource.RLIMIT_AS)[1]))
        with PeakMemory() as memory:
            began = time.perf_counter()
            value = step()
            result["seconds"] = time.perf_counter() - began
        del value
        result["peak_mb"] = memory.mb
        if spec["task"] == "cli" and spec["args"][0] == "train":
            result["extra"] = _train_figures(spec["args"][spec["args"].index("--out") + 1])
    except MemoryError:
        result.update(status="error", reason="MemoryError: the address-space limit was reached")
    except Exception as exc:  # reported, not raised: the parent records it and goes on
        result.update(status="error", reason=f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        result["extra"] = {"traceback": traceback.format_exc(limit=-3)}
    result["maxrss_mb"] = max_rss_mb()
    return result


def main(argv: list[str] | None = None) -> None:
    spec = json.loads((argv if argv is not None else sys.argv[1:])[0])
    sys.stdout.write(json.dumps(measure(spec)) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
