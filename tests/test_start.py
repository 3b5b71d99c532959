"""Start-up: after the first run, every compiled kernel loads from numba's on-disk cache, and the cache stays as it is.

Each run is a fresh process with its own empty cache folder (``NUMBA_CACHE_DIR``):
the first compiles, the next ones compile nothing and write no file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba")
pytest.importorskip("click")  # the command line

#: Every kernel in both precisions, and the gather of rows from a file, in a fresh process.
EVERY_KERNEL = """
import json
from backprop import _kernels
assert _kernels.enabled() and _kernels.read_rows_kernel() is not None
ready = _kernels.startup()
print(json.dumps({"compiled": ready.compiled, "cache": ready.cache}))
"""


def _run(cache: Path, *args: str) -> str:
    # BACKPROP_NUMBA=1: even these short runs load the kernels (by default, too short to be worth it).
    env = {**os.environ, "BACKPROP_NUMBA": "1", "NUMBA_CACHE_DIR": str(cache)}
    result = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: its size and modification time, to see one written again."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


def test_runs_after_the_first_compile_nothing_and_write_no_file(tmp_path: Path) -> None:
    cache = tmp_path / "numba"
    train = ("-m", "backprop", "train", "xor", "--epochs", "3", "--out", str(tmp_path / "model.safetensors"))

    # The first run compiles: its summary says so apart from the training time.
    first = _run(cache, *train)
    trained = re.search(r"^trained   3 epochs in (\S+) s:", first, re.MULTILINE)
    compiled = re.search(
        r"^ +compiled the kernels in (\S+) s \(once: later runs load them from the cache\)$", first, re.MULTILINE
    )
    assert trained is not None and compiled is not None, first
    assert float(trained[1]) < float(compiled[1])  # 3 epochs of 288 rows against seconds of compiling
    # The other precision and the file kernel, compiled once too.
    assert json.loads(_run(cache, "-c", EVERY_KERNEL))["compiled"] > 0
    written = _files(cache)
    assert written and all(name.startswith("backprop_") for name in {Path(name).parts[0] for name in written})

    again = json.loads(_run(cache, "-c", EVERY_KERNEL))
    assert again["compiled"] == 0
    assert Path(again["cache"]).parent == cache
    summary = json.loads(_run(cache, *train, "--json"))
    assert summary["kernels"]["compiled"] == 0
    assert _files(cache) == written
