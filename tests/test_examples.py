"""The learning-quality examples run end to end (in their quick smoke-test mode)."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("script", "needs"),
    [("train_digits.py", "sklearn"), ("train_mnist1d.py", "mnist1d")],
)
def test_example_runs_in_quick_mode(script, needs):
    pytest.importorskip(needs)
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / script),
            "--quick",
            "--no-sklearn",
            *(["--no-torch"] if "mnist1d" in script else []),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "quick mode: target not checked" in result.stdout
    assert "test accuracy" in result.stdout or "%" in result.stdout
