"""The compiled passes (``backprop._passes``): a step's layers in a call each way, with the numpy path's bits."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop import _fast, _kernels, _passes, _pool
from backprop.step import Step

pytest.importorskip("numba")


@pytest.fixture(autouse=True)
def _compiled() -> None:
    if _passes.compiled() is None:
        pytest.skip("the pool's BLAS symbols are not found here (another BLAS than numpy's OpenBLAS)")


NETWORKS: dict[str, tuple[Callable[[], list[bp.Layer]], str, str]] = {
    # name: (layers, loss, which passes run: "whole" (fit's whole step in one call, _fast.WholeStep),
    # "both", "forward" or "none")
    "relu-softmax": (
        lambda: [bp.Dense(48, "relu"), bp.Dense(40, "relu"), bp.Dense(5, "softmax")],
        "crossentropy",
        "whole",
    ),
    "tanh-deep": (lambda: [bp.Dense(16, "tanh") for _ in range(4)] + [bp.Dense(5, "softmax")], "crossentropy", "whole"),
    # numpy's ReLU without a bias ends the forward pass's first call: both passes, not the whole step.
    "sigmoid-no-bias": (
        lambda: [bp.Dense(24, "sigmoid", bias=False), bp.Dense(12, "relu", bias=False), bp.Dense(5, "softmax")],
        "crossentropy",
        "both",
    ),
    "sigmoid": (
        lambda: [bp.Dense(24, "sigmoid"), bp.Dense(12, "sigmoid"), bp.Dense(5, "softmax")],
        "crossentropy",
        "whole",
    ),
    "identity-output": (lambda: [bp.Dense(20, "tanh"), bp.Dense(3, "identity")], "mse", "both"),
    "tanh-output": (lambda: [bp.Dense(20, "relu"), bp.Dense(3, "tanh")], "mse", "both"),
    # No compiled f' for a hidden LeakyReLU: the forward pass runs compiled, the backward pass hook by hook.
    "leaky-hidden": (lambda: [bp.Dense(20, "leaky_relu"), bp.Dense(5, "softmax")], "crossentropy", "forward"),
    # One unit: numpy calls gemv or its own loop there, not gemm: hook by hook.
    "one-unit": (lambda: [bp.Dense(20, "relu"), bp.Dense(1, "sigmoid")], "binary_crossentropy", "none"),
    "dropout": (lambda: [bp.Dense(20, "relu"), bp.Dropout(0.2), bp.Dense(5, "softmax")], "crossentropy", "none"),
}


def _data(loss: str, outputs: int, dtype: type) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((161, 96)).astype(dtype)  # 161 = 2 · 64 + 33 and 5 · 32 + 1: a last batch of one row
    if loss == "crossentropy":
        return X, rng.integers(0, outputs, 161)
    if loss == "binary_crossentropy":
        return X, (rng.uniform(size=(161, outputs)) > 0.5) * 1.0
    return X, rng.standard_normal((161, outputs))


def _train(
    name: str, dtype: type, threads: int, batch: int, monkeypatch: pytest.MonkeyPatch, compiled: bool
) -> tuple[bytes, dict[str, int]]:
    make, loss, _ = NETWORKS[name]
    calls = {"forward": 0, "backward": 0, "whole": 0}
    with monkeypatch.context() as patch:
        if compiled:
            whole_step = _fast.WholeStep.__call__

            def counted_whole(*args: Any) -> Any:
                done = whole_step(*args)
                calls["whole"] += done is not None
                return done

            patch.setattr(_fast.WholeStep, "__call__", counted_whole)
            # The backward pass from the output error term (backward_from, a fused loss) or below it.
            for method, which in (("forward", "forward"), ("backward", "backward"), ("backward_from", "backward")):
                original = getattr(_passes.Passes, method)

                def counted(*args: Any, _which: str = which, _original: Any = original) -> Any:
                    calls[_which] += 1
                    return _original(*args)

                patch.setattr(_passes.Passes, method, counted)
        else:
            patch.setattr(_kernels, "_kernels", {})  # the numpy path, as with BACKPROP_NUMBA=0
        layers = make()
        net = bp.Network(layers, inputs=96, seed=0, dtype=dtype)
        X, y = _data(loss, layers[-1].units, dtype)
        optimizer = bp.Adam(1e-2) if name != "tanh-deep" else bp.SGD(0.05, momentum=0.9)
        net.fit(X, y, loss=loss, optimizer=optimizer, epochs=2, batch_size=batch, seed=0, threads=threads)
        return net.parameters.tobytes(), calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_the_passes_train_to_the_numpy_paths_bits(name: str, dtype: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKPROP_NUMBA", "1")
    reference, _ = _train(name, dtype, 1, 32, monkeypatch, compiled=False)
    parameters, calls = _train(name, dtype, 1, 32, monkeypatch, compiled=True)
    assert parameters == reference
    which = NETWORKS[name][2]
    # 161 rows in batches of 32: 5 steps of 32 an epoch run compiled, the last of one row hook by hook; the
    # whole step from the fit's second step (the first allocates the optimizer's state, hook by hook).
    assert calls["whole"] == (2 * 5 - 1 if which == "whole" else 0)
    assert calls["forward"] == (2 * 5 if which in ("both", "forward") else 1 if which == "whole" else 0)
    assert calls["backward"] == (2 * 5 if which == "both" else 1 if which == "whole" else 0)


# Only for the pool's test below: wide enough for its blocks of columns.
NETWORKS["wide-relu"] = (
    lambda: [bp.Dense(160, "relu"), bp.Dense(160, "relu"), bp.Dense(5, "softmax")],
    "crossentropy",
    "both",
)
NETWORKS["wide-tanh"] = (
    lambda: [bp.Dense(128, "tanh"), bp.Dense(128, "sigmoid"), bp.Dense(5, "softmax")],
    "crossentropy",
    "both",
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("name", "batch"), [("relu-softmax", 64), ("sigmoid-no-bias", 64), ("wide-relu", 32), ("wide-tanh", 32)]
)
def test_the_passes_share_their_products_on_the_pool_with_the_bits_of_one_thread(
    name: str, batch: int, dtype: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 96-48-40-5 in batches of 64: x · W is 64 · 96 · 48 = 294,912 multiply-adds, cut in two blocks of 32
    # rows (each block's bias and ReLU after it), δ · Wᵀ too (its f' and db by the caller: rows cannot sum db).
    # The same without biases: the blocks of rows do f' (there is no db). 96-160-160-5 and 96-128-128-5 in
    # batches of 32: C has more columns than rows, cut in blocks of columns (96 and 64, or 64 and 64), each
    # block followed by its bias and ReLU, or its f' and its columns' db.
    monkeypatch.setenv("BACKPROP_NUMBA", "1")
    reference, _ = _train(name, dtype, 1, batch, monkeypatch, compiled=False)
    assert _pool.runs_here()
    jobs = _pool._pool.state[_pool.JOBS] if _pool._pool is not None else 0
    parameters, calls = _train(name, dtype, 2, batch, monkeypatch, compiled=True)
    assert parameters == reference
    compiled = [start for start in range(0, 161, batch) if 161 - start > 1]  # every batch of more than one row
    assert calls["backward"] == 2 * len(compiled)
    assert _pool._pool is not None and _pool._pool.state[_pool.JOBS] > jobs


def _step_and_workspace(net: bp.Network, rows: int) -> tuple[_fast.CompiledStep, Any]:
    step = _fast.step_for(net.layers, bp.losses.Crossentropy(), bp.Adam())
    assert isinstance(step, _fast.CompiledStep) and step._passes is not None
    return step, net.workspace(rows)


def test_a_plan_runs_the_forward_pass_in_one_call_with_numpys_own_tanh_and_exp(monkeypatch: pytest.MonkeyPatch) -> None:
    # relu (compiled), sigmoid (numpy's exp loop, called from the pass), tanh (numpy's loop), relu, softmax (numpy's
    # exp loop): one call.
    net = bp.Network(
        [bp.Dense(8, "relu"), bp.Dense(8, "sigmoid"), bp.Dense(8, "tanh"), bp.Dense(8, "relu"), bp.Dense(3, "softmax")],
        inputs=4,
        seed=0,
        dtype=np.float32,
    )
    X = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)

    def plan_of(network: bp.Network) -> tuple[_passes.Plan, np.ndarray[Any, Any]]:
        step, ws = _step_and_workspace(network, 5)
        plan = step._passes.plan(ws, X)  # type: ignore[union-attr]
        assert plan is not None and plan.backward
        return plan, step.forward(X, ws).copy()

    plan, output = plan_of(net)
    assert [(first, stop) for first, stop, _ in plan.segments] == [(0, 5)]
    kinds = [plan.table[_passes.FIRST_LAYER + _passes.FIELDS * l + _passes.FORWARD] for l in range(5)]
    assert kinds == [_passes.RELU_BIAS, _passes.SIGMOID, _passes.TANH, _passes.RELU_BIAS, _passes.SOFTMAX]
    expected = Step(net.layers, bp.losses.Crossentropy()).forward(X, net.workspace(5))
    assert output.tobytes() == expected.tobytes()
    # Where numpy gives no loop, the pass stops after the sigmoid and tanh layers and at the softmax, and numpy
    # finishes them.
    monkeypatch.setattr(_passes, "numpy_loop", lambda ufunc, dtype: None)
    plan, output = plan_of(net)
    assert [(first, stop) for first, stop, _ in plan.segments] == [(0, 2), (2, 3), (3, 5)]
    kinds = [plan.table[_passes.FIRST_LAYER + _passes.FIELDS * l + _passes.FORWARD] for l in range(5)]
    assert kinds == [_passes.RELU_BIAS, _passes.PRODUCT, _passes.BIAS, _passes.RELU_BIAS, _passes.SHIFT]
    assert output.tobytes() == expected.tobytes()
    # Not a batch it reads as numpy would: another row count, another dtype, a column-major array.
    step, ws = _step_and_workspace(net, 5)
    assert step._passes.plan(ws, np.ones((5, 4), np.float64)) is None  # type: ignore[union-attr]
    assert step._passes.plan(ws, np.asfortranarray(np.ones((5, 4), np.float32))) is None  # type: ignore[union-attr]
    assert step._passes.plan(net.workspace(1), np.ones((1, 4), np.float32)) is None  # type: ignore[union-attr]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ufunc", [np.tanh, np.exp])
def test_numpy_loop_is_the_loop_numpys_ufunc_runs(ufunc: np.ufunc, dtype: type) -> None:
    loop = _passes.numpy_loop(ufunc, np.dtype(dtype))
    assert loop is not None and loop[0] > 0
    assert _passes.numpy_loop(ufunc, np.dtype(dtype)) == loop  # one per ufunc and dtype, kept for the process
    # Called as the compiled pass calls it (through ctypes here), on sizes about the SIMD widths and a larger one.
    function = _passes._LOOP(loop[0])
    rng = np.random.default_rng(1)
    for size in (1, 7, 8, 9, 31, 1027):
        x = (rng.standard_normal(size) * 20).astype(dtype)
        y = np.full_like(x, np.nan)
        arguments = (ctypes.c_void_p * 2)(x.ctypes.data, y.ctypes.data)
        strides = (ctypes.c_ssize_t * 2)(x.itemsize, x.itemsize)
        with np.errstate(over="ignore"):
            assert function(loop[1], arguments, (ctypes.c_ssize_t * 1)(size), strides, loop[2]) == 0
            assert y.tobytes() == ufunc(x).tobytes()


def test_numpy_loop_is_none_where_numpy_gives_no_loop() -> None:
    class Old:  # a ufunc of a numpy before 1.24: no _get_strided_loop
        __name__ = "old_tanh"

    assert _passes.numpy_loop(Old(), np.dtype(np.float32)) is None  # type: ignore[arg-type]


def test_a_plan_is_made_anew_when_a_layer_holds_another_array() -> None:
    # The plan points into the layers' weights: a layer given a new W must not be read at the old address.
    net = bp.Network([bp.Dense(6, "relu"), bp.Dense(3, "softmax")], inputs=4, seed=0, dtype=np.float32)
    step, ws = _step_and_workspace(net, 5)
    X = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    step.forward(X, ws)
    first = step._forward_plan
    assert first is not None
    dense = net.layers[0]
    dense.W = dense.W * 2  # type: ignore[attr-defined]
    output = step.forward(X, ws).copy()
    second = step._forward_plan
    assert second is not None and second is not first and second.weights[0][0] is dense.W  # type: ignore[attr-defined]
    expected = Step(net.layers, bp.losses.Crossentropy()).forward(X, net.workspace(5))
    np.testing.assert_array_equal(output, expected)


@pytest.mark.parametrize("weights", ["fortran", "float64", "shape", "list"])
def test_a_weight_the_passes_cannot_read_as_numpy_does_leaves_the_step_hook_by_hook(
    weights: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # W is public: a layer may hold an array of another order, dtype or shape, or no array at all. The plan
    # would read its address as a C-ordered float32 matrix of the layer's shape: there is none, and numpy's
    # path takes the array as it takes it (or raises what it raises).
    monkeypatch.setenv("BACKPROP_NUMBA", "1")
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 4)).astype(np.float32), rng.integers(0, 3, 64)

    def train(compiled: bool) -> tuple[bytes, int] | str:
        with monkeypatch.context() as patch:
            if not compiled:
                patch.setattr(_kernels, "_kernels", {})
            net = bp.Network([bp.Dense(6, "relu"), bp.Dense(3, "softmax")], inputs=4, seed=0, dtype=np.float32)
            dense = net.layers[1]
            W = dense.W  # type: ignore[attr-defined]
            dense.W = {  # type: ignore[attr-defined]
                "fortran": np.asfortranarray(W),
                "float64": W.astype(np.float64),
                "shape": np.ones((2, 2), np.float32),
                "list": W.tolist(),
            }[weights]
            step = _fast.step_for(net.layers, bp.losses.Crossentropy(), bp.Adam())
            planned = 0 if not isinstance(step, _fast.CompiledStep) or step._passes is None else 1
            if planned:
                assert step._passes.plan(net.workspace(16), X[:16]) is None  # type: ignore[union-attr]
            try:
                net.fit(X, y, loss="crossentropy", optimizer=bp.Adam(1e-2), epochs=1, batch_size=16, seed=0)
            except Exception as error:
                return type(error).__name__
            return net.parameters.tobytes(), planned

    numpy_path, compiled = train(False), train(True)
    if isinstance(numpy_path, str):
        assert compiled == numpy_path
    else:
        assert isinstance(compiled, tuple) and compiled[0] == numpy_path[0]


def test_a_pooled_product_does_the_pass_after_it_in_its_blocks_where_they_hold_whole_columns() -> None:
    # 32 × 128 · 128 × 160: C is cut into blocks of columns (96 and 64), each followed by its part of
    # h += b, a = max(h, 0), or of grad ⊙ f'(a) with its columns' db. 160 × 128 · 128 × 32 is cut into
    # blocks of rows (96 and 64): the pass without db is done in them, the one with db is left to the caller.
    # The cuts are set here (verdict 1: the longer side at 32s), whether or not this CPU's check would choose
    # them: what is tested is the pass after each block, against the same blocks' product.
    from backprop import _pass_kernels

    assert _pool.runs_here()
    pool = _pool.acquire(2)
    assert pool is not None
    longer_at_32 = 1

    def cut_as(a: Any, b: Any, c: Any, verdict: int = longer_at_32) -> Any:
        pool._k["record"](pool.state, a, b, c, verdict)
        product = np.empty_like(c)
        assert pool._k["alone"](pool.state, a, b, product, verdict)
        return product

    try:
        rng = np.random.default_rng(0)
        for dtype in (np.float32, np.float64):
            x, W_ = rng.standard_normal((32, 128)).astype(dtype), rng.standard_normal((128, 160)).astype(dtype)
            b = rng.standard_normal(160).astype(dtype)
            h, a = np.empty((32, 160), dtype), np.empty((32, 160), dtype)
            blocks = cut_as(x, W_, h)
            asleep, done = _pass_kernels._product(
                pool.state, True, x, W_, h, _pool.BIAS_RELU, a.ctypes.data, b.ctypes.data, 0
            )
            assert done
            expected_h = blocks + b
            np.testing.assert_array_equal(h, expected_h)
            np.testing.assert_array_equal(a, np.maximum(expected_h, 0))
            # f' of tanh from a, and db: blocks of columns hold every row of theirs.
            g, activation = rng.standard_normal((32, 128)).astype(dtype), np.tanh(blocks)
            Wt = rng.standard_normal((160, 128)).astype(dtype).T
            out, db = np.empty((32, 160), dtype), np.empty(160, dtype)
            grad = cut_as(g, Wt, out)
            _, done = _pass_kernels._product(
                pool.state, True, g, Wt, out, _pool.TIMES_DERIVATIVE, activation.ctypes.data, db.ctypes.data, 1
            )
            assert done
            expected = grad * (1 - activation * activation)
            np.testing.assert_array_equal(out, expected)
            np.testing.assert_array_equal(db, np.add.reduce(expected, axis=0))
            # Blocks of rows: no db in them.
            tall = rng.standard_normal((160, 128)).astype(dtype)
            W2 = rng.standard_normal((128, 32)).astype(dtype)
            out, db = np.empty((160, 32), dtype), np.empty(32, dtype)
            grad = cut_as(tall, W2, out)
            _, done = _pass_kernels._product(
                pool.state, True, tall, W2, out, _pool.TIMES_DERIVATIVE, grad.ctypes.data, db.ctypes.data, 0
            )
            assert not done  # the caller sums db
            _, done = _pass_kernels._product(
                pool.state, True, tall, W2, out, _pool.TIMES_DERIVATIVE, grad.ctypes.data, 0, 0
            )
            assert done  # without db the rows are enough: [a > 0] from a = grad itself
            np.testing.assert_array_equal(out, grad * (grad > 0))
            # The same tall C cut on its shorter side (verdict 2: columns 0–31 and 32–63): db in the blocks.
            W3 = rng.standard_normal((128, 64)).astype(dtype)
            out, db = np.empty((160, 64), dtype), np.empty(64, dtype)
            grad = cut_as(tall, W3, out, 2)
            _, done = _pass_kernels._product(
                pool.state, True, tall, W3, out, _pool.TIMES_DERIVATIVE, grad.ctypes.data, db.ctypes.data, 0
            )
            assert done
            np.testing.assert_array_equal(out, grad * (grad > 0))
            np.testing.assert_array_equal(db, np.add.reduce(grad * (grad > 0), axis=0))
            assert asleep >= 0
    finally:
        pool.state[_pool.SHAPES_USED] = 0  # forget the cuts set here: the next fit checks its shapes anew
        pool.release()


def test_a_layers_two_backward_products_run_side_by_side_as_one_job_with_numpys_bits() -> None:
    # A layer of 128 inputs and 160 units, batches of 32: ∂L/∂W = xᵀ · grad_h (128 × 160) and δ · Wᵀ
    # (32 × 128), 655,360 multiply-adds each, read the same grad_h and write buffers of their own. On two
    # threads the job is those two products, each whole (np.matmul's call: its bits on every CPU, no check),
    # the second followed by the layer below's ⊙ f'(h) for tanh, f' = 1 − a², and its db.
    from backprop import _pass_kernels

    kernels = _pool._load()
    assert kernels is not None
    pool = _pool.Pool(1, kernels, nap_until_us=10**8, sleep_timeout=30.0)  # it naps, never sleeps
    s = pool.state
    s[_pool.ADAPT], s[_pool.CALLER_TAKES] = 0, 0  # always shared, and both blocks the worker's: its path
    try:
        rng = np.random.default_rng(0)
        for dtype in (np.float32, np.float64):
            x, grad = rng.standard_normal((32, 128)).astype(dtype), rng.standard_normal((32, 160)).astype(dtype)
            W_ = rng.standard_normal((128, 160)).astype(dtype)
            a_below = np.tanh(rng.standard_normal((32, 128))).astype(dtype)
            dW, grad_below, db = np.empty((128, 160), dtype), np.empty((32, 128), dtype), np.empty(128, dtype)
            jobs, shared = s[_pool.JOBS], s[_pool.SHARED]
            assert _pass_kernels._pair(
                s, x, grad, dW, W_, grad_below, a_below.ctypes.data, db.ctypes.data, _kernels.TANH
            ) == (0, True)
            np.testing.assert_array_equal(dW, np.matmul(x.T, grad))
            expected = np.matmul(grad, W_.T) * (1 - a_below * a_below)
            np.testing.assert_array_equal(grad_below, expected)
            np.testing.assert_array_equal(db, np.add.reduce(expected, axis=0))
            assert s[_pool.JOBS] - jobs == 1 and s[_pool.SHARED] - shared == 2  # one job, two blocks
            kinds = s[_pool.SHAPES : _pool.SHAPES + _pool.ROW * s[_pool.SHAPES_USED]].reshape(-1, _pool.ROW)[:, 0]
            assert (_pool.PAIR32 if dtype == np.float32 else _pool.PAIR64) in kinds
        # Products below MIN_PRODUCT are not worth a job: the pass does them one after the other.
        small = [np.ones((8, 8), np.float32) for _ in range(5)]
        assert _pass_kernels._pair(s, *small, 0, 0, _kernels.RELU) == (0, False)
        # Nor on three threads: there each product is cut as its check found exact, one after the other.
        s[_pool.WORKERS] = 2
        assert _pass_kernels._pair(s, x, grad, dW, W_, grad_below, 0, 0, _kernels.RELU) == (0, False)
        s[_pool.WORKERS] = 1
    finally:
        pool.close()


def test_on_two_threads_a_fit_checks_no_shape_of_a_layers_backward_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    # 96-160-160-5 in batches of 32: layer 2's pair, 32 · 160 · 160 multiply-adds each, runs whole on two
    # threads: neither of its products is checked (a check costs up to six products of the shape). Layer 1's
    # weight gradient (96 × 160, no error below) and every x · W are cut as before, after their checks.
    monkeypatch.setenv("BACKPROP_NUMBA", "1")
    reference, _ = _train("wide-relu", np.float32, 1, 32, monkeypatch, compiled=False)
    if _pool._pool is not None:
        _pool._pool.state[_pool.SHAPES_USED] = 0  # this test's shapes only
    parameters, _ = _train("wide-relu", np.float32, 2, 32, monkeypatch, compiled=True)
    assert parameters == reference
    pool = _pool._pool
    assert pool is not None and pool.threads == 2
    rows = pool.state[_pool.SHAPES : _pool.SHAPES + _pool.ROW * pool.state[_pool.SHAPES_USED]].reshape(-1, _pool.ROW)
    shapes = {tuple(int(r[i]) for i in (_pool.KIND, _pool.TA, _pool.TB, _pool.M, _pool.N, _pool.K)) for r in rows}
    no, yes, pair = _pool.NO_TRANS, _pool.TRANS, _pool.PAIR32
    assert (pair, 0, 0, 32, 160, 160) in shapes  # the pair: rows, its inputs, its units
    assert (_pool.GEMM32, no, no, 32, 160, 160) in shapes  # layer 2's x · W
    assert (_pool.GEMM32, yes, no, 160, 160, 32) not in shapes  # nor xᵀ · grad_h
    assert (_pool.GEMM32, no, yes, 32, 160, 160) not in shapes  # nor grad_h · Wᵀ
    assert (_pool.GEMM32, yes, no, 96, 160, 32) in shapes  # layer 1's weight gradient, alone, cut


def test_the_compiled_passes_are_compiled_anew_when_a_file_they_hold_changes() -> None:
    from backprop import _pass_kernels

    assert _pass_kernels._fingerprint() == _pass_kernels._FINGERPRINT
    files = ("_pool.py", "_kernels.py", "_pool_kernels.py", "_passes.py", "_pass_kernels.py")
    assert _pass_kernels.source_fingerprint(*files) == _pass_kernels._FINGERPRINT
