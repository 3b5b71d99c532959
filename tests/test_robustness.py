"""Precision, side effects, threads and odd-but-valid input: regressions found in review."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import backprop as bp


def test_log_losses_keep_precision_for_confident_right_answers():
    # ℓ = log(1 + e^−15) = 3.0590e-7 for z = 15, y = 1: cancellation would give 0 in float32.
    sig = bp.Network.from_weights([np.eye(1, dtype=np.float32)], activations="sigmoid")
    assert sig.loss([[15.0]], [1.0], "binary_crossentropy") == pytest.approx(np.log1p(np.exp(-15.0)), rel=1e-6)
    # Softmax (z = (30, 0)), class 0: ℓ = log(1 + e^−30) = 9.3576e-14.
    soft = bp.Network.from_weights([np.eye(2)], activations="softmax")
    assert soft.loss([[30.0, 0.0]], [0], "crossentropy") == pytest.approx(np.log1p(np.exp(-30.0)), rel=1e-12)


@pytest.mark.parametrize(
    ("output", "loss", "y"), [("sigmoid", "binary_crossentropy", [1.0]), ("softmax", "crossentropy", [0])]
)
def test_gradcheck_passes_on_a_saturated_correct_output(output, loss, y):
    width = 2 if output == "softmax" else 1
    net = bp.Network.from_weights(
        [np.full((1, width), 20.0) * [1, -1][:width]], activations=output, biases=[np.zeros(width)]
    )
    assert bp.gradcheck(net, [[1.0]], y, loss=loss).passed


def test_sample_weight_counts_in_every_mini_batch():
    # Online learning (batch_size=1) with weights must differ from unweighted training...
    X = np.random.default_rng(0).normal(size=(8, 2))
    y = (X[:, 0] > 0).astype(float)
    runs = {}
    for name, weights in (("none", None), ("weighted", np.where(np.arange(8) % 2, 1e-3, 1e3))):
        net = bp.Network([bp.Dense(1, "sigmoid")], inputs=2, seed=0)
        net.fit(X, y, optimizer=bp.SGD(0.1), batch_size=1, epochs=2, seed=0, sample_weight=weights)
        runs[name] = net.parameters.copy()
    assert not np.allclose(runs["none"], runs["weighted"])


def test_full_batch_weight_two_equals_a_repeated_sample():
    X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([1.0, 0.0, 1.0])
    weighted = bp.Network([bp.Dense(3, "tanh"), bp.Dense(1, "sigmoid")], inputs=2, seed=0, dtype=np.float64)
    repeated = weighted.copy()
    weighted.fit(X, y, optimizer=bp.SGD(0.5), batch_size=None, epochs=5, shuffle=False, sample_weight=[2.0, 1.0, 1.0])
    repeated.fit(
        np.vstack([X, X[:1]]), np.append(y, y[0]), optimizer=bp.SGD(0.5), batch_size=None, epochs=5, shuffle=False
    )
    np.testing.assert_allclose(weighted.parameters, repeated.parameters, rtol=1e-12)


def test_predict_is_thread_safe_and_leaves_no_buffers():
    net = bp.Network([bp.Dense(64, "sigmoid"), bp.Dense(10, "softmax")], inputs=32, seed=0)
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(int(rng.integers(1, 300)), 32)) for _ in range(48)]
    expected = [net.predict(batch) for batch in batches]
    assert net._workspaces == {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(net.predict, batches))
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_crossentropy_rows_are_normalized():
    # A row summing to 1 + 5e-5 (rounded data) is accepted and used as if it summed to 1.
    net = bp.Network([bp.Dense(3, "softmax")], inputs=2, seed=0, dtype=np.float64)
    X = np.array([[0.5, -1.0]])
    rounded = np.array([[0.2, 0.3, 0.50005]])
    exact = rounded / rounded.sum()
    for (wa, ba), (wb, bb) in zip(
        net.gradients(X, rounded, "crossentropy"), net.gradients(X, exact, "crossentropy"), strict=True
    ):
        np.testing.assert_allclose(wa, wb, rtol=1e-12)
        np.testing.assert_allclose(ba, bb, rtol=1e-12)


def test_from_weights_takes_a_tuple_of_activation_names():
    net = bp.Network.from_weights((np.ones((2, 2)), np.ones((2, 1))), activations=("tanh", "sigmoid"))
    assert [layer.activation.name for layer in net.layers] == ["tanh", "sigmoid"]


def test_a_single_callback_need_not_be_in_a_list():
    class Count(bp.Callback):
        epochs = 0

        def on_epoch_end(self, epoch, logs):
            Count.epochs += 1

    bp.Network([bp.Dense(1)], inputs=1).fit([[1.0]], [1.0], epochs=3, callbacks=Count())
    assert Count.epochs == 3


def test_activation_call_accepts_lists_and_1d_rows():
    np.testing.assert_allclose(bp.activations.Sigmoid()([0.0, 0.0]), [0.5, 0.5])
    np.testing.assert_allclose(bp.activations.Softmax()([0.0, 0.0]), [0.5, 0.5])
    with pytest.raises(bp.BackpropTypeError, match="z must be numeric"):
        bp.activations.Sigmoid()("a")


@pytest.mark.parametrize("alpha", ["x", None, float("nan"), 1e308])
def test_activation_parameters_are_checked(alpha):
    with pytest.raises(bp.ParameterError, match="alpha must be a number"):
        bp.activations.ELU(alpha)
    if alpha != 1e308:
        with pytest.raises(bp.ParameterError, match="alpha must be a number"):
            bp.activations.LeakyReLU(alpha)


def test_object_arrays_holding_strings_are_not_parsed():
    net = bp.Network([bp.Dense(1)], inputs=3)
    with pytest.raises(bp.BackpropTypeError, match=r"X must be an array of numbers, got the str '2\.5'"):
        net.predict(np.array([[1, "2.5", 3]], dtype=object))
    np.testing.assert_array_equal(net.predict(np.array([[1, 2.5, 3]], dtype=object)), net.predict([[1, 2.5, 3]]))


def test_initializer_output_is_checked():
    with pytest.raises(bp.BackpropTypeError, match="the initial weights of layer 1 must be numeric"):
        bp.Network([bp.Dense(2, init=lambda rng, i, o: np.full((i, o), "w"))], inputs=2)
    with pytest.raises(bp.DataError, match="the initial weights of layer 1 has values beyond the range of float32"):
        bp.Network([bp.Dense(2, init=lambda rng, i, o: np.full((i, o), 1e39))], inputs=2)


def test_overflow_in_a_layer_is_an_error_naming_it():
    net = bp.Network.from_weights([np.ones((3, 2), np.float32), np.ones((2, 1), np.float32)], activations="identity")
    with pytest.raises(bp.DataError, match=r"layer 1 overflowed: its input z is not finite in float32"):
        net.predict(np.full((1, 3), 3e38, np.float32))


def test_huge_float32_sample_weights_do_not_overflow():
    net = bp.Network([bp.Dense(1)], inputs=3, seed=0)
    X = np.ones((5, 3), np.float32)
    assert np.isfinite(net.loss(X, np.zeros(5), sample_weight=np.full(5, 1e38, np.float32)))
    net.fit(X, np.zeros(5), sample_weight=np.full(5, 1e38, np.float32), batch_size=2)


def test_the_trace_owns_its_arrays():
    net = bp.Network([bp.Dense(2, "tanh"), bp.Dense(1)], inputs=2, seed=0, dtype=np.float64)
    X = np.array([[1.0, 2.0]])
    trace = bp.explain(net, X, [0.5])
    X[0, 0] = 99.0
    assert trace.x[0, 0] == 1.0 and trace.layers[0].input[0, 0] == 1.0


def test_importing_backprop_loads_only_numpy():
    # The core imports numpy alone; rich is loaded only when a trace is printed.
    code = (
        "import sys, backprop; print(sorted(m for m in ('click', 'rich', 'matplotlib', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
