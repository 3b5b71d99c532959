"""The compiled kernels (optimizer steps, layer passes, the loss) give bit-for-bit the numpy path's parameters."""

from __future__ import annotations

import importlib.abc
import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop import _kernels

pytest.importorskip("numba")


@pytest.fixture(autouse=True)
def _loaded() -> None:
    # The layer kernels are used once loaded (fit loads them): load them for the direct calls here.
    assert _kernels.enabled()


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


NETWORKS: dict[str, Callable[[], list[bp.Layer]]] = {
    "relu": lambda: [bp.Dense(32, "relu"), bp.Dense(10, "softmax")],
    "tanh-deep": lambda: [bp.Dense(16, "tanh"), bp.Dense(16, "tanh"), bp.Dense(16, "tanh"), bp.Dense(10, "softmax")],
    "sigmoid-no-bias": lambda: [bp.Dense(24, "sigmoid", bias=False), bp.Dense(10, "softmax")],
    "dropout": lambda: [bp.Dense(32, "relu"), bp.Dropout(0.2), bp.Dense(16, "tanh"), bp.Dense(10, "softmax")],
    # One unit: numpy adds its 50 rows of ∂L/∂z pairwise, not row by row (the bias sum is numpy's there).
    "one-unit": lambda: [bp.Dense(16, "relu"), bp.Dense(1, "tanh"), bp.Dense(10, "softmax")],
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_layer_kernels_train_bit_identically(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every hidden activation with a kernel, with and without bias, behind Dropout; SGD with
    # momentum, sample weights and a validation set: the same parameters to the last bit.
    data = bp.datasets.load("digits", seed=0, standardize=True)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, len(data.y_train))

    def train(compiled: bool) -> tuple[bytes, bp.History]:
        with monkeypatch.context() as patch:
            if not compiled:
                patch.setattr(_kernels, "_kernels", {})
            net = bp.Network(NETWORKS[name](), inputs=64, seed=0)
            history = net.fit(
                data.X_train,
                data.y_train,
                loss="crossentropy",
                optimizer=bp.SGD(0.1, momentum=0.9),
                epochs=3,
                batch_size=50,
                sample_weight=weights if name == "relu" else None,
                validation=(data.X_test, data.y_test),
                seed=0,
            )
            return net.parameters.tobytes(), history

    compiled, numpy_path = train(True), train(False)
    assert compiled[0] == numpy_path[0]
    # The kernel's loss uses libm's exp and log1p, numpy its vectorized ones: the last digits may differ.
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(compiled[1][key], numpy_path[1][key], rtol=1e-13)
    for key in ("accuracy", "val_accuracy"):
        assert compiled[1][key] == numpy_path[1][key]
    # Unclipped, the gradient's norms are summed by a kernel in its own order: they report the same.
    for key in compiled[1].history:
        if key.startswith("grad_norm_"):
            np.testing.assert_allclose(compiled[1][key], numpy_path[1][key], rtol=1e-5)


@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("loss", ["mse", "binary_crossentropy", "mse-tanh"])
def test_output_kernels_train_bit_identically_for_every_loss(
    loss: str, outputs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The output error (ŷ − y) · scale and its bias sum in one pass for the fused pairs
    # (identity + mse, sigmoid + binary crossentropy); tanh + mse keeps the numpy path. One
    # output (a regression, a yes/no): numpy sums its bias pairwise, and so it does here.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 5))
    shape = (90, outputs)
    y = rng.uniform(0, 1, shape) if loss != "binary_crossentropy" else (rng.uniform(size=shape) > 0.5) * 1.0
    output = {"mse": "identity", "binary_crossentropy": "sigmoid", "mse-tanh": "tanh"}[loss]
    weights = rng.uniform(0.1, 3.0, 90)

    def train(compiled: bool) -> bytes:
        with monkeypatch.context() as patch:
            if not compiled:
                patch.setattr(_kernels, "_kernels", {})
            net = bp.Network([bp.Dense(7, "relu"), bp.Dense(outputs, output)], inputs=5, seed=0)
            net.fit(X, y, loss=loss.removesuffix("-tanh"), optimizer="adam", epochs=3, batch_size=32, seed=0)
            net.fit(X, y, loss=loss.removesuffix("-tanh"), epochs=1, batch_size=32, sample_weight=weights, seed=1)
            return net.parameters.tobytes()

    assert train(True) == train(False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_backward_kernels_match_numpy_bit_for_bit(activation: str, dtype: type) -> None:
    # grad *= f'(z) and db = Σ_samples grad, with zeros of both signs, NaN and inf in the way.
    rng = np.random.default_rng(0)
    f = bp.activations.get_activation(activation)
    z = (rng.standard_normal((37, 19)) * 3).astype(dtype)
    z[0, :4] = [0.0, -0.0, np.inf, -np.inf]
    with np.errstate(invalid="ignore"):
        a = f.forward(z, np.empty_like(z), np.empty_like(z))
    grad = rng.standard_normal((37, 19)).astype(dtype)
    grad[1, :3] = [np.inf, np.nan, -0.0]
    expected = grad.copy()
    with np.errstate(invalid="ignore"):  # inf · 0
        f.backward(expected, z, a, np.empty_like(a))
        expected_db = np.add.reduce(expected, axis=0)
    got, db = grad.copy(), np.empty(19, dtype)
    assert f.backward_summed(got, z, a, np.empty_like(a), db)
    assert got.tobytes() == expected.tobytes() and db.tobytes() == expected_db.tobytes()
    got = grad.copy()
    assert not f.backward_summed(got, z, a, np.empty_like(a), None)  # no bias: nothing summed
    assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bias_relu_kernel_matches_numpy_bit_for_bit(dtype: type) -> None:
    # np.maximum(z, 0) turns −0 into +0 and keeps NaN with its sign; the kernel does the same.
    rng = np.random.default_rng(0)
    z = rng.standard_normal((9, 8)).astype(dtype)
    z[0] = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-45, -1e-45]
    b = np.zeros(8, dtype)
    b[1] = -0.0
    expected_z = z + b
    expected_a = np.maximum(expected_z, 0.0)
    got_z, got_a = z.copy(), np.empty_like(z)
    bp.activations.ReLU().forward_biased(got_z, b, got_a, np.empty_like(z))
    assert got_z.tobytes() == expected_z.tobytes() and got_a.tobytes() == expected_a.tobytes()


def test_the_losss_exponential_is_within_one_ulp_of_numpys() -> None:
    # The crossentropy kernel's own e^d for d <= 0 (vectorizable, no libm call): across
    # the range, at the edges of float64 (subnormal results, underflow to 0 below
    # −745.13), and for −inf and NaN.
    rng = np.random.default_rng(0)
    edges = [0.0, -0.0, -5e-324, -1e-300, -1.0, -700.0, -708.4, -709.0, -745.0, -745.13, -745.2, -800.0, -1e5]
    d = np.concatenate([-np.abs(rng.standard_normal(200_000) * 30), -rng.uniform(0, 800, 50_000), edges, [-np.inf]])
    out = np.empty_like(d)
    _kernels.get("exp_nonpositive")(d, out, np.empty(d.shape, np.int64))
    expected = np.exp(d)
    np.testing.assert_array_less(np.abs(out - expected), np.spacing(expected) * 1.01 + 1e-323)
    at = d.size - len(edges) - 1  # e^0, e^−0 and e^(−5e-324) are 1; e^(−1e5) and e^−inf are 0
    assert out[at] == out[at + 1] == out[at + 2] == 1.0 and out[-2] == out[-1] == 0.0
    nan = np.array([np.nan, -1.0])
    _kernels.get("exp_nonpositive")(nan, out[:2], np.empty(2, np.int64))
    assert np.isnan(out[0]) and out[1] == np.exp(-1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_norms_kernel_sums_each_segment_and_keeps_nan_and_inf(dtype: type) -> None:
    # Segments [0, 3), [3, 1003), [1003, end): Σ g² of each, summed in any order (vectorized);
    # segments 0 and 2 are weights: their norms are added to the epoch's sums while finite.
    rng = np.random.default_rng(0)
    gradient = rng.standard_normal(1500).astype(dtype)
    gradient[:3] = [3.0, 4.0, 12.0]  # 9 + 16 + 144 = 169, a norm of 13
    starts, sums = np.array([0, 3, 1003], dtype=np.intp), np.zeros(3)
    weights, norm_sums = np.array([0, 2], dtype=np.intp), np.array([1.0, 0.0])
    kernel = _kernels.get("squared_norms")
    total = kernel(gradient, starts, dtype(0), sums, weights, norm_sums)
    g64 = gradient.astype(np.float64)
    expected = [169.0, g64[3:1003] @ g64[3:1003], g64[1003:] @ g64[1003:]]
    rtol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(sums, expected, rtol=rtol)
    assert sums[0] == 169.0 and total == sums.sum()
    np.testing.assert_allclose(norm_sums, [1.0 + 13.0, np.sqrt(expected[2])], rtol=rtol)
    # Reassociation only: a NaN or an infinity anywhere still reaches its segment's sum,
    # and a total that is not finite adds nothing to the epoch's norms.
    gradient[500], gradient[1400] = np.nan, np.inf
    assert np.isnan(kernel(gradient, starts, dtype(0), sums, weights, norm_sums))
    assert sums[0] == 169.0 and np.isnan(sums[1]) and sums[2] == np.inf
    np.testing.assert_allclose(norm_sums, [1.0 + 13.0, np.sqrt(expected[2])], rtol=rtol)


@pytest.mark.parametrize(("n", "d"), [(1, 1), (7, 3), (8, 784), (13, 5), (128, 40)])
def test_the_gather_copies_the_rows_take_does(n: int, d: int) -> None:
    # Eight rows at a time and the rest one by one: the same rows, repeats included.
    rng = np.random.default_rng(0)
    source = rng.standard_normal((50, d)).astype(np.float32)
    rows = rng.integers(0, 50, n).astype(np.intp)
    out = np.full((n, d), np.nan, np.float32)
    _kernels.get("gather_rows")(source, rows, out)
    np.testing.assert_array_equal(out, source.take(rows, axis=0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_crossentropy_kernel_agrees_with_the_numpy_loss(dtype: type, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    loss = bp.losses.get_loss("crossentropy")
    z = (rng.standard_normal((50, 10)) * 5).astype(dtype)
    z[0] = 0.0  # a tie for the top class
    z[1, 3] = 80.0  # a confident right answer: a tiny loss, not rounded to 0
    y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 50)]
    y[1] = np.eye(10, dtype=dtype)[3]
    y[2] = 0.1  # a probability row
    weights = rng.uniform(0, 2, 50)
    weights[4] = 0.0
    z[4, 0] = np.finfo(dtype).max  # an overflowing row of weight 0 does not count
    z[4, 1] = -np.finfo(dtype).max
    kernel = (loss.total(z, z, y, weights), loss.total(z[5:], z[5:], y[5:]))
    with monkeypatch.context() as patch:
        patch.setattr(_kernels, "_kernels", {})
        numpy_path = (loss.total(z, z, y, weights), loss.total(z[5:], z[5:], y[5:]))
    np.testing.assert_allclose(kernel, numpy_path, rtol=1e-13)
    assert all(np.isfinite(kernel))
    # e^(−80) survives: the loss of row 1 alone is log(1 + Σ e^(z_j − 80)), about 1e-34.
    single = loss.total(z[1:2], z[1:2], y[1:2])
    assert 0 < single < 1e-30


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("classes", [1, 7, 10, 129, 1000])
def test_softmax_kernels_match_numpy_bit_for_bit(classes: int, dtype: type, monkeypatch: pytest.MonkeyPatch) -> None:
    # The row sums must be numpy's pairwise sums (eight running sums per block of 128,
    # halves above that): any other order changes the last bit of ŷ.
    rng = np.random.default_rng(classes)
    z = (rng.standard_normal((40, classes)) * 4).astype(dtype)
    z[0] = 0.0  # every class tied
    z[1, 0] = np.nan
    z[2, -1] = np.inf
    b = rng.standard_normal(classes).astype(dtype)
    softmax = bp.activations.Softmax()

    def forward(bias: bool) -> bytes:
        zb, out = z.copy(), np.empty_like(z)
        with np.errstate(invalid="ignore"):
            if bias:
                softmax.forward_biased(zb, b, out, np.empty_like(z))
            else:
                softmax.forward(zb, out, np.empty_like(z))
        return zb.tobytes() + out.tobytes()

    compiled = forward(True), forward(False)
    with monkeypatch.context() as patch:
        patch.setattr(_kernels, "_kernels", {})
        assert compiled == (forward(True), forward(False))


def test_argmax_hits_kernel_counts_like_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    from backprop._fast import count_correct as _correct

    rng = np.random.default_rng(0)
    output = rng.integers(0, 3, (200, 4)).astype(np.float32)  # many ties: the first maximum wins
    output[:5, 2] = np.nan  # the first NaN wins, as in numpy's argmax
    targets = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 200)]
    targets[5:8] = 0.25
    hits = _correct(output, targets, False)
    with monkeypatch.context() as patch:
        patch.setattr(_kernels, "_kernels", {})
        assert hits == _correct(output, targets, False)
    assert 0 < hits < 200


def test_a_subclass_that_changes_the_step_is_not_bypassed_by_the_kernel() -> None:
    # fit saves θ and steps in one compiled pass only for Adam's own update rule.
    class Frozen(bp.Adam):
        def _update(self, parameters, gradient):  # type: ignore[no-untyped-def]
            pass

    data = bp.datasets.load("digits", seed=0, standardize=True)
    net = bp.Network([bp.Dense(8, "relu"), bp.Dense(10, "softmax")], inputs=64, seed=0)
    before = net.parameters.copy()
    net.fit(data.X_train, data.y_train, loss="crossentropy", optimizer=Frozen(1e-2), epochs=1, seed=0)
    assert net.parameters.tobytes() == before.tobytes()


def test_predict_and_a_short_fit_in_a_fresh_process_do_not_load_numba() -> None:
    # Both give the same numbers either way: they need not pay ~0.7 s for importing numba.
    import subprocess
    import sys

    code = (
        "import sys, backprop as bp\n"
        "net = bp.Network([bp.Dense(4, 'relu'), bp.Dense(3, 'softmax')], inputs=2, seed=0)\n"
        "net.predict([[1.0, 2.0]])\n"
        "print('numba' in sys.modules)\n"
        "net.fit([[1.0, 2.0], [0.0, 1.0]], [0, 2], loss='crossentropy', epochs=1, seed=0)\n"
        "print('numba' in sys.modules, net.parameters.tobytes().hex())\n"
    )
    environ = {key: value for key, value in os.environ.items() if key != "BACKPROP_NUMBA"}
    short = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environ)
    forced = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**environ, "BACKPROP_NUMBA": "1"}
    )
    assert short.stdout.split()[:2] == ["False", "False"]
    assert forced.stdout.split()[:2] == ["False", "True"]  # BACKPROP_NUMBA=1: every fit loads the kernels
    assert short.stdout.split()[2] == forced.stdout.split()[2]  # the same parameters, bit for bit


def test_the_numpy_paths_estimated_seconds_decide_whether_a_fit_loads_the_kernels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from backprop._fast import CompiledStep, numpy_seconds, step_for
    from backprop.step import Step

    # 4-64-32-2, 240 rows in batches of 32 for 50 epochs: 50 · 8 = 400 steps, each 3 layers · 30 µs
    # and 3 · 32 · (4·64 + 64·32 + 32·2) = 227,328 multiply-adds at 5e9 a second: 400 · 135.47 µs.
    assert numpy_seconds([4, 64, 32, 2], 240, 32, 50) == pytest.approx(400 * (90e-6 + 227_328 / 5e9))
    net = bp.Network([bp.Dense(8, "relu"), bp.Dense(3, "softmax")], inputs=3, seed=0)
    loss = bp.losses.get_loss("crossentropy")
    monkeypatch.delenv("BACKPROP_NUMBA", raising=False)
    monkeypatch.setattr(_kernels, "_ready", set())  # as in a fresh process: nothing loaded yet
    assert type(step_for(net.layers, loss, bp.Adam(), seconds=0.99)) is Step  # short: not worth loading them
    assert type(step_for(net.layers, loss, bp.Adam(), seconds=1.0)) is CompiledStep  # loads them
    assert type(step_for(net.layers, loss, bp.Adam(), seconds=0.01)) is CompiledStep  # loaded: every fit uses them
    monkeypatch.setattr(_kernels, "_ready", set())
    monkeypatch.setenv("BACKPROP_NUMBA", "1")
    assert type(step_for(net.layers, loss, bp.Adam(), seconds=0.01)) is CompiledStep


def test_a_fit_readies_the_kernels_of_its_own_precision_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import numba

    monkeypatch.setattr(_kernels, "_kernels", None)  # defined again: nothing compiled or loaded yet
    monkeypatch.setenv("BACKPROP_NUMBA", "1")  # loaded though the fit is short
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 3, 40)
    net = bp.Network([bp.Dense(8, "relu"), bp.Dense(3, "softmax")], inputs=3, seed=0, dtype=np.float64)
    net.fit(X, y, loss="crossentropy", optimizer=bp.Adam(1e-2), epochs=1, seed=0)
    for name in ("adam", "bias_relu", "softmax_shift", "crossentropy_total", "argmax_hits"):
        kernel: Any = _kernels.loaded(name, np.float64)
        assert kernel is not None and _kernels.loaded(name, np.float32) is None  # float32: the numpy path
        assert {signature[0].dtype for signature in kernel.signatures} == {numba.float64}, name


def test_startup_says_what_readying_the_kernels_cost() -> None:
    ready = _kernels.startup()
    assert ready is not None and ready.seconds > 0
    assert ready.cache is not None and Path(ready.cache).is_dir()
    # Switched off: nothing readied, nothing to say.
    code = (
        "import backprop as bp\n"
        "from backprop import _kernels\n"
        "bp.Network([bp.Dense(2, 'softmax')], inputs=2, seed=0).fit([[1.0, 2.0], [0.0, 1.0]], [0, 1], loss='crossentropy', epochs=1)\n"
        "print(_kernels.startup())\n"
    )
    env = {**os.environ, "BACKPROP_NUMBA": "0"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert result.stdout.split() == ["None"]


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


# ------------------------------------------- a numba that cannot be imported or compile


class _FailingImport(importlib.abc.MetaPathFinder):
    """Makes ``import numba`` raise ``error``, as a broken or starved install does."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "numba" or name.startswith("numba."):
            raise self.error


def _fake_numba(njit: Callable[..., object]) -> types.ModuleType:
    module = types.ModuleType("numba")
    module.njit = njit  # type: ignore[attr-defined]
    module.NumbaWarning = Warning  # type: ignore[attr-defined]
    return module


def _refusing_njit(**options: object) -> object:
    raise OSError(12, "Cannot allocate memory")  # LLVM's code pages under a memory limit


def _failing_compiler(**options: object) -> Callable[[Callable[..., object]], Callable[..., object]]:
    def decorate(function: Callable[..., object]) -> Callable[..., object]:
        def compiled(*args: object) -> object:
            raise MemoryError("LLVM ERROR: out of memory")

        return compiled

    return decorate


BREAKAGES: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "not installed": lambda patch: patch.setitem(sys.modules, "numba", None),
    "OSError at import": lambda patch: patch.setattr(
        sys, "meta_path", [_FailingImport(OSError(12, "Cannot allocate memory")), *sys.meta_path]
    ),
    "AttributeError at import": lambda patch: patch.setattr(
        sys, "meta_path", [_FailingImport(AttributeError("module 'numpy' has no attribute 'long'")), *sys.meta_path]
    ),
    "njit raises OSError": lambda patch: patch.setitem(sys.modules, "numba", _fake_numba(_refusing_njit)),
    "compile raises MemoryError": lambda patch: patch.setitem(sys.modules, "numba", _fake_numba(_failing_compiler)),
}


def _trained_parameters() -> bytes:
    """A network trained on 200 rows (with dropout); the subprocess test below runs the same lines."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)).astype(np.float32)
    y = np.argmax(X[:, :3], axis=1)
    net = bp.Network([bp.Dense(16, "relu"), bp.Dropout(0.2), bp.Dense(3, "softmax")], inputs=6, seed=0)
    net.fit(X, y, loss="crossentropy", optimizer=bp.Adam(1e-2), epochs=3, batch_size=32, seed=0)
    return net.parameters.tobytes()


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_training_falls_back_to_the_numpy_path_whatever_breaks_numba(
    breakage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(_kernels, "_kernels", {})  # the numpy path, as with BACKPROP_NUMBA=0
        expected = _trained_parameters()
    monkeypatch.setattr(_kernels, "_kernels", None)  # loaded again at the next fit
    monkeypatch.delitem(sys.modules, "numba")
    BREAKAGES[breakage](monkeypatch)
    assert _trained_parameters() == expected
    assert not _kernels.enabled()
    assert _kernels.get("adam") is None


def test_a_numba_that_raises_at_import_in_a_fresh_process_leaves_training_working(tmp_path: Path) -> None:
    # A numba package that fails as one does under `ulimit -v`, found first on the path.
    (tmp_path / "numba").mkdir()
    (tmp_path / "numba" / "__init__.py").write_text("raise OSError(12, 'Cannot allocate memory')\n")
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "import numpy as np, backprop as bp\n"
        "from backprop import _kernels\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(200, 6)).astype(np.float32)\n"
        "y = np.argmax(X[:, :3], axis=1)\n"
        "net = bp.Network([bp.Dense(16, 'relu'), bp.Dropout(0.2), bp.Dense(3, 'softmax')], inputs=6, seed=0)\n"
        "net.fit(X, y, loss='crossentropy', optimizer=bp.Adam(1e-2), epochs=3, batch_size=32, seed=0)\n"
        "sys.stdout.write(net.parameters.tobytes().hex() + ' ' + str(_kernels.enabled()))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_kernels, "_kernels", {})
        expected = _trained_parameters()
    assert result.stdout.split() == [expected.hex(), "False"]
