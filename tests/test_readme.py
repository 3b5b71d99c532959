"""The README's Python examples run as written, in order, in a fresh folder."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("onnx")
    pytest.importorskip("skl2onnx")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) >= 4
    script = tmp_path / "readme_examples.py"
    script.write_text("\n".join(blocks), encoding="utf-8")
    result = subprocess.run(
        # The examples' short max_iter leaves scikit-learn's ConvergenceWarning: not an error here.
        [sys.executable, "-W", "ignore::sklearn.exceptions.ConvergenceWarning", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "digits-mlp.onnx").exists()
    assert (tmp_path / "digits-mlp.safetensors").exists()
