"""SIGKILL during training never leaves a torn file, and resuming finishes bit for bit.

The full run kills 50 times: ``python scripts/kill_training.py --kills 50``.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "kill_training.py"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_training_resumes_to_the_same_weights(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--kills", "6", "--seed", "1", "--json", str(summary_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    assert summary["kills"] == 6
    assert summary["runs_completed"] >= 1  # each compared with the uninterrupted run
    assert summary["failures"] == []
    assert summary["stray_temporary_files"] == 0
