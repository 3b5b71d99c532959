"""The command-line tool: explain, gradcheck, errors as messages."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

import backprop as bp
from backprop.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_explain_a_random_network_of_any_depth():
    result = run("explain", "--sizes", "4,6,5,3", "--activation", "tanh", "--loss", "crossentropy", "--samples", "2")
    assert result.exit_code == 0, result.output
    for layer in ("δ[1]", "δ[2]", "δ[3]", "ΔW[1]", "ΔW[3]"):
        assert layer in result.output
    assert "hidden error term" in result.output
    assert "cancels" in result.output  # softmax with crossentropy: δ = y − ŷ, f' cancels
    assert "a_k ([k = j] − a_j)" in result.output  # the softmax Jacobian, not eaten as markup


@pytest.mark.parametrize("loss", ["mse", "binary_crossentropy", "crossentropy"])
def test_gradcheck_passes_on_a_random_network(loss):
    result = run("gradcheck", "--loss", loss, "--activation", "elu", "--sizes", "3,4,4,2")
    assert result.exit_code == 0, result.output
    assert "passed: worst scaled error" in result.output


def test_gradcheck_fails_with_status_1_on_a_wrong_gradient(monkeypatch):
    # Break tanh's backward rule (f' halved): the command must notice and exit 1.
    backward = bp.activations.Tanh.backward

    def halved(self, grad, z, a, tmp):
        backward(self, grad, z, a, tmp)
        grad *= 0.5
        return grad

    monkeypatch.setattr(bp.activations.Tanh, "backward", halved)
    result = run("gradcheck", "--activation", "tanh")
    assert result.exit_code == 1
    assert "FAILED: worst scaled error" in result.output


def test_a_bad_combination_is_a_one_line_error():
    result = run("gradcheck", "--loss", "crossentropy", "--output", "sigmoid")
    assert result.exit_code == 2
    assert "loss 'crossentropy' needs a softmax output layer; layer 2 has activation 'sigmoid'" in result.output
    assert "Traceback" not in result.output


def test_bad_sizes_are_rejected():
    result = run("explain", "--sizes", "3,x")
    assert result.exit_code == 2
    assert "comma-separated layer widths" in result.output


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "backprop", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("backprop, version ")
