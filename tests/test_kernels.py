"""The compiled one-pass optimizer steps give bit-for-bit the numpy path's parameters."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import backprop as bp
from backprop import _kernels

pytest.importorskip("numba")

OPTIMIZERS: dict[str, Callable[[], bp.Optimizer]] = {
    "adam": lambda: bp.Adam(1e-2),
    "adam-l2": lambda: bp.Adam(1e-2, weight_decay=0.1),
    "adamw": lambda: bp.AdamW(1e-2, weight_decay=0.1),
    "sgd-momentum": lambda: bp.SGD(0.05, momentum=0.9),
    "sgd-nesterov": lambda: bp.SGD(0.05, momentum=0.9, nesterov=True),
    "sgd-momentum-l2": lambda: bp.SGD(0.05, momentum=0.5, weight_decay=0.01),
}


def run(make: Callable[[], bp.Optimizer], dtype: type, compiled: bool, monkeypatch: pytest.MonkeyPatch) -> bytes:
    with monkeypatch.context() as patch:
        if not compiled:
            patch.setattr(_kernels, "_kernels", {})  # as with BACKPROP_NUMBA=0
        assert _kernels.enabled() is compiled
        rng = np.random.default_rng(0)
        parameters = rng.standard_normal(1001).astype(dtype)
        parameters[:10] = 0.0  # zeros and negative zeros keep their sign bit the same way
        parameters[10:20] = -0.0
        optimizer = make()
        for _ in range(30):
            gradient = rng.standard_normal(1001).astype(dtype)
            gradient[::7] = 0.0
            gradient[1::11] *= 1e-20  # tiny values: √v far below ε
            optimizer.step(parameters, gradient)
        state = optimizer.state_dict()
        buffers = [state[key] for key in sorted(state) if isinstance(state[key], np.ndarray)]
        assert buffers
        return parameters.tobytes() + b"".join(buffer.tobytes() for buffer in buffers)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_compiled_step_is_bit_identical_to_numpy(name: str, dtype: type, monkeypatch: pytest.MonkeyPatch) -> None:
    make = OPTIMIZERS[name]
    assert run(make, dtype, True, monkeypatch) == run(make, dtype, False, monkeypatch)


def test_training_is_bit_identical_with_and_without_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    data = bp.datasets.load("digits", seed=0, standardize=True)

    def train(compiled: bool) -> bytes:
        with monkeypatch.context() as patch:
            if not compiled:
                patch.setattr(_kernels, "_kernels", {})
            net = bp.Network([bp.Dense(32, "relu"), bp.Dense(10, "softmax")], inputs=64, seed=0)
            net.fit(data.X_train, data.y_train, loss="crossentropy", optimizer=bp.Adam(1e-2), epochs=2, seed=0)
            return net.parameters.tobytes()

    assert train(True) == train(False)


def test_environment_switch_selects_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_kernels, "_kernels", None)
    monkeypatch.setenv("BACKPROP_NUMBA", "0")
    assert not _kernels.enabled()
    assert _kernels.get("adam") is None


def test_a_compiler_failure_leaves_the_numpy_path(monkeypatch: pytest.MonkeyPatch) -> None:
    import numba

    def broken_njit(**options: object) -> Callable[[Callable[..., None]], Callable[..., None]]:
        def decorate(function: Callable[..., None]) -> Callable[..., None]:
            def compiled(*args: object) -> None:
                raise RuntimeError("LLVM cannot compile for this CPU")

            return compiled

        return decorate

    monkeypatch.setattr(numba, "njit", broken_njit)
    monkeypatch.setattr(_kernels, "_kernels", None)
    assert not _kernels.enabled()
    parameters = np.ones(3, np.float32)
    bp.Adam(0.1).step(parameters, np.ones(3, np.float32))  # the numpy path
    np.testing.assert_allclose(parameters, 0.9, rtol=1e-6)
