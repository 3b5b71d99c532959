"""Backpropagation against finite differences: every activation × loss × depth 1–4."""

import itertools

import numpy as np
import pytest

import backprop as bp


def swish(z):
    return z / (1 + np.exp(-z))


def swish_derivative(z):
    s = 1 / (1 + np.exp(-z))
    return s * (1 + z * (1 - s))


HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "identity", (swish, swish_derivative)]
# (output activation, loss): the three fused pairs, and mse through a non-trivial f'.
HEADS = [
    ("identity", "mse"),
    ("sigmoid", "mse"),
    ("softmax", "mse"),
    ("sigmoid", "binary_crossentropy"),
    ("softmax", "crossentropy"),
]
N_SAMPLES, N_INPUTS, WIDTH, N_OUTPUTS = 5, 3, 4, 3


def problem(hidden, output, loss, depth, bias, seed=0):
    layers = [bp.Dense(WIDTH, hidden, bias=bias) for _ in range(depth - 1)]
    layers.append(bp.Dense(N_OUTPUTS, output, bias=bias))
    net = bp.Network(layers, inputs=N_INPUTS, seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 100)
    X = rng.normal(size=(N_SAMPLES, N_INPUTS))
    if loss == "crossentropy":
        y = rng.integers(0, N_OUTPUTS, size=N_SAMPLES)
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, size=(N_SAMPLES, N_OUTPUTS)).astype(float)
    else:
        y = rng.random((N_SAMPLES, N_OUTPUTS))
    return net, X, y


def name(spec):
    return spec if isinstance(spec, str) else "custom-swish"


CASES = [
    pytest.param(
        hidden,
        output,
        loss,
        depth,
        bias,
        weighted,
        id=f"{name(hidden)}-{output}-{loss}-d{depth}-b{bias:d}-w{weighted:d}",
    )
    for (output, loss), depth, bias, weighted in itertools.product(HEADS, [1, 2, 3, 4], [True, False], [False, True])
    for hidden in (HIDDEN if depth > 1 else ["identity"])  # depth 1 has no hidden layer
]


@pytest.mark.parametrize(("hidden", "output", "loss", "depth", "bias", "weighted"), CASES)
def test_gradients_match_finite_differences(hidden, output, loss, depth, bias, weighted):
    net, X, y = problem(hidden, output, loss, depth, bias)
    sample_weight = np.array([0.5, 2.0, 0.0, 1.0, 3.0]) if weighted else None
    report = bp.gradcheck(net, X, y, loss=loss, sample_weight=sample_weight)
    assert report.passed and report.max_scaled_error < 1e-6, str(report)
    assert len(report.checks) == depth * (2 if bias else 1)
    compared = sum(int(np.prod(c.shape)) - c.skipped for c in report.checks)
    assert compared > net.parameters.size // 2  # kinks skip a few entries, never most


@pytest.mark.parametrize("output", ["tanh", "relu", "leaky_relu", "elu", "softplus", (swish, swish_derivative)])
def test_every_output_activation_with_mse(output):
    net, X, y = problem("tanh", output, "mse", depth=2, bias=True)
    report = bp.gradcheck(net, X, y, loss="mse")
    assert report.passed and report.max_scaled_error < 1e-6, str(report)


def test_gradcheck_agrees_with_plain_central_differences():
    """An independent two-point difference quotient, written out here."""
    net, X, y = problem("tanh", "softmax", "crossentropy", depth=3, bias=True)
    analytic = np.concatenate([np.concatenate([dw.ravel(), db]) for dw, db in net.gradients(X, y, "crossentropy")])
    numeric = np.empty_like(analytic)
    h = 1e-6
    for i in range(net.parameters.size):
        keep = net.parameters[i]
        net.parameters[i] = keep + h
        up = net.loss(X, y, "crossentropy")
        net.parameters[i] = keep - h
        down = net.loss(X, y, "crossentropy")
        net.parameters[i] = keep
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)


def test_gradcheck_catches_a_wrong_derivative():
    # tanh with the derivative of sigmoid: backprop's gradient is wrong, and gradcheck must say where.
    wrong = (np.tanh, lambda z: 1 / (1 + np.exp(-z)) * (1 - 1 / (1 + np.exp(-z))))
    net, X, y = problem(wrong, "identity", "mse", depth=2, bias=True)
    report = bp.gradcheck(net, X, y, loss="mse")
    assert not report.passed
    assert report.max_rel_error > 1e-2
    assert report.worst.layer == 1  # only the hidden layer's gradient goes through the wrong f'
    assert "FAILED" in str(report)


def test_gradcheck_reports_where_the_worst_error_is():
    net, X, y = problem("sigmoid", "sigmoid", "binary_crossentropy", depth=3, bias=True)
    report = bp.gradcheck(net, X, y, loss="binary_crossentropy")
    labels = [c.label for c in report.checks]
    assert labels == ["W[1]", "b[1]", "W[2]", "b[2]", "W[3]", "b[3]"]
    worst = report.worst
    assert worst.max_scaled_error == report.max_scaled_error
    assert len(worst.worst_index) == len(worst.shape)
    assert all(0 <= i < s for i, s in zip(worst.worst_index, worst.shape, strict=True))
    assert f"in {worst.label} at {worst.worst_index}" in str(report)


def test_gradcheck_fails_on_a_nan_gradient():
    # A derivative that returns NaN makes the analytic gradient NaN: never a pass.
    broken = (np.tanh, lambda z: np.full_like(z, np.nan))
    net, X, y = problem(broken, "identity", "mse", depth=2, bias=True)
    report = bp.gradcheck(net, X, y, loss="mse")
    assert not report.passed
    assert report.checks[0].max_scaled_error == np.inf


def test_gradcheck_skips_differences_across_a_relu_kink():
    # One unit sits exactly at z = 0 for sample 0: its weights' difference quotients straddle the kink.
    net = bp.Network.from_weights([np.array([[1.0, -1.0], [1.0, 2.0]]), np.array([[1.0], [1.0]])], ["relu", "identity"])
    X = np.array([[1.0, -1.0], [0.5, 0.7]])
    report = bp.gradcheck(net, X, [[1.0], [2.0]], loss="mse")
    assert report.checks[0].skipped > 0
    assert report.passed


def test_sample_weights_give_the_weighted_mean_gradient():
    # With weights (1, 3) the gradient is (1·g₁ + 3·g₂) / 4, where gᵢ is sample i's own gradient.
    net, X, y = problem("tanh", "sigmoid", "mse", depth=2, bias=True)
    X, y = X[:2], y[:2]
    g1 = net.gradients(X[:1], y[:1])
    g2 = net.gradients(X[1:], y[1:])
    weighted = net.gradients(X, y, sample_weight=[1.0, 3.0])
    for (w1, b1), (w2, b2), (w, b) in zip(g1, g2, weighted, strict=True):
        np.testing.assert_allclose(w, (w1 + 3 * w2) / 4, rtol=1e-12)
        np.testing.assert_allclose(b, (b1 + 3 * b2) / 4, rtol=1e-12)


def test_class_indices_and_one_hot_targets_give_the_same_gradient():
    net, X, y = problem("relu", "softmax", "crossentropy", depth=2, bias=True)
    one_hot = np.eye(N_OUTPUTS)[y]
    for (wa, ba), (wb, bb) in zip(
        net.gradients(X, y, "crossentropy"), net.gradients(X, one_hot, "crossentropy"), strict=True
    ):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)


@pytest.mark.parametrize("loss", ["mse", "binary_crossentropy", "crossentropy"])
def test_float32_gradients_agree_with_float64(loss):
    output = "softmax" if loss == "crossentropy" else "sigmoid"
    net64, X, y = problem("tanh", output, loss, depth=3, bias=True)
    net32 = net64.copy(dtype=np.float32)
    for (w32, b32), (w64, b64) in zip(net32.gradients(X, y, loss), net64.gradients(X, y, loss), strict=True):
        assert w32.dtype == np.float32
        np.testing.assert_allclose(w32, w64, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(b32, b64, rtol=1e-4, atol=1e-6)
