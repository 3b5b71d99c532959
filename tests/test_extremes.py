"""Numerical extremes: every activation and loss at |z| up to 1e4, in float32 and float64.

DESIGN.md §1: sigmoid, softmax, log-loss and their derivatives are computed
in numerically stable forms, with no overflow warning and no NaN for |z| up
to 1e4 in float32 and float64. Here every activation (forward, ``derivative``
and the in-place ``backward``) and every loss (``per_sample``, ``total``,
``output_gradient``) is evaluated at z in {0, ±1e-45, ±1e-30, ±1, ±30, ±88,
±89, ±710, ±1e4} (1e-45 is a float32 denormal; e^±88 and e^±89 straddle the
float32 range, e^±710 the float64 range), with targets exactly 0 and 1: the
results are finite, warning-free (pytest turns warnings into errors) and take
the right limits. Then whole networks at the edges of their shapes: one
sample, one feature, ten thousand classes, a layer of width 1, twenty hidden
layers; and gradcheck wherever finite differences are meaningful.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import backprop as bp
from backprop.activations import ACTIVATIONS, Softmax
from backprop.losses import LOSSES

DTYPES = [np.float32, np.float64]
MAGNITUDES = [0.0, 1e-45, 1e-30, 1.0, 30.0, 88.0, 89.0, 710.0, 1e4]
Z = sorted({sign * m for m in MAGNITUDES for sign in (1.0, -1.0)})
ELEMENTWISE = [name for name in ACTIVATIONS if name != "softmax"]


def ids(dtype) -> str:
    return np.dtype(dtype).name


def z_row(dtype) -> np.ndarray:
    return np.array([Z], dtype=dtype)


def evaluate(activation, z):
    """Forward, derivative and in-place backward (with an upstream gradient of 2) at ``z``."""
    a = activation.forward(z, np.empty_like(z), np.empty_like(z))
    derivative = activation.derivative(z, a.copy())
    grad = np.full_like(a, 2.0)
    result = activation.backward(grad, z, a, np.empty_like(a))
    assert result is grad  # in place
    return a, derivative, grad


# ------------------------------------------------------------ activations


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_activation_is_finite_everywhere(name, dtype):
    z = z_row(dtype)
    a, derivative, grad = evaluate(ACTIVATIONS[name](), z)
    for values in (a, derivative, grad):
        assert values.dtype == dtype
        assert values.shape == z.shape
        assert np.isfinite(values).all(), (name, values)
    # The in-place backward multiplies the upstream gradient by f'(z).
    np.testing.assert_array_equal(grad, 2 * derivative)


# f(z) and f'(z) at z = ±1e4 (exact in both dtypes), and at z = 0.
LIMITS = {
    "sigmoid": {1e4: (1.0, 0.0), -1e4: (0.0, 0.0), 0.0: (0.5, 0.25)},
    "tanh": {1e4: (1.0, 0.0), -1e4: (-1.0, 0.0), 0.0: (0.0, 1.0)},
    "relu": {1e4: (1e4, 1.0), -1e4: (0.0, 0.0), 0.0: (0.0, 0.0)},
    "leaky_relu": {1e4: (1e4, 1.0), -1e4: (-100.0, 0.01)},
    "elu": {1e4: (1e4, 1.0), -1e4: (-1.0, 0.0)},
    "softplus": {1e4: (1e4, 1.0), -1e4: (0.0, 0.0), 0.0: (math.log(2.0), 0.5)},
    "identity": {1e4: (1e4, 1.0), -1e4: (-1e4, 1.0), 0.0: (0.0, 1.0)},
}


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("name", sorted(LIMITS))
def test_activation_limits(name, dtype):
    z = z_row(dtype)
    a, derivative, _ = evaluate(ACTIVATIONS[name](), z)
    for point, (value, slope) in LIMITS[name].items():
        column = Z.index(point)
        assert a[0, column] == pytest.approx(value, rel=1e-6, abs=1e-7), (name, point)
        assert derivative[0, column] == pytest.approx(slope, rel=1e-6, abs=1e-7), (name, point)


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_sigmoid_tails_keep_relative_precision(dtype):
    # σ(−z) = e^−z / (1 + e^−z): the far tail is a tiny positive number, not 0, while it is representable.
    z = np.array([[-30.0, -88.0]], dtype)
    a, _, _ = evaluate(ACTIVATIONS["sigmoid"](), z)
    expected = np.exp(z.astype(np.float64)) / (1 + np.exp(z.astype(np.float64)))
    np.testing.assert_allclose(a, expected, rtol=1e-6)
    assert (a > 0).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_tiny_inputs_are_not_flushed(dtype):
    # z = ±1e-30 (±1e-45 in float32 is the smallest denormal): identity, relu, leaky_relu, elu pass it on.
    z = np.array([[1e-30, -1e-30, 1e-45, -1e-45]], dtype)
    for name, expected in (("identity", z), ("relu", np.maximum(z, 0)), ("elu", z)):
        a, _, _ = evaluate(ACTIVATIONS[name](), z)
        np.testing.assert_allclose(a, expected, rtol=1e-6, atol=0, err_msg=name)
    a, _, _ = evaluate(ACTIVATIONS["tanh"](), z)
    np.testing.assert_allclose(a, z, rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("other", [0.0, -1e4, 1e4])
def test_softmax_is_finite_everywhere(dtype, other):
    # One row per z: (z, other, −z). Rows sum to 1; the Jacobian and the backward are finite.
    z = np.array([[v, other, -v] for v in Z], dtype)
    softmax = Softmax()
    a, jacobian, grad = evaluate(softmax, z)
    assert a.dtype == jacobian.dtype == grad.dtype == dtype
    assert np.isfinite(a).all() and np.isfinite(jacobian).all() and np.isfinite(grad).all()
    assert (a >= 0).all()
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-6)
    assert jacobian.shape == (len(Z), 3, 3)
    # An upstream gradient that is the same for every class changes nothing: ∂L/∂z = a (g − Σ g a) = 0.
    np.testing.assert_allclose(grad, 0.0, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_softmax_limits(dtype):
    z = np.array([[1e4, 0.0], [-1e4, 0.0], [0.0, 0.0], [1e4, 1e4]], dtype)
    a = Softmax()(z)
    np.testing.assert_array_equal(a, np.array([[1, 0], [0, 1], [0.5, 0.5], [0.5, 0.5]], dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_calling_an_activation_on_extremes(name, dtype):
    # The public __call__ on the whole grid, any shape, keeps the dtype.
    values = np.array([Z, Z[::-1]], dtype)
    result = ACTIVATIONS[name]()(values)
    assert result.dtype == dtype and result.shape == values.shape
    assert np.isfinite(result).all()


# ------------------------------------------------------------ losses


def loss_inputs(loss: str, dtype, target: float):
    """``z`` (one sample per grid point), the fused output activation's ``a``, targets of 0 or 1."""
    if loss == "crossentropy":
        # Row (z, 0): the target is class 0 (target 1) or class 1 (target 0).
        z = np.array([[v, 0.0] for v in Z], dtype)
        y = np.tile(np.array([[target, 1.0 - target]], dtype), (len(Z), 1))
        activation = ACTIVATIONS["softmax"]()
    else:
        z = np.array(Z, dtype)[:, None]
        y = np.full_like(z, target)
        activation = ACTIVATIONS["sigmoid" if loss == "binary_crossentropy" else "identity"]()
    a = activation.forward(z, np.empty_like(z), np.empty_like(z))
    return z, a, y, activation


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("target", [0.0, 1.0])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_loss_is_finite_everywhere(loss, target, dtype):
    fn = LOSSES[loss]()
    z, a, y, activation = loss_inputs(loss, dtype, target)
    per_sample = fn.per_sample(z, a, y)
    assert per_sample.dtype == np.float64 and per_sample.shape == (len(Z),)
    assert np.isfinite(per_sample).all()
    assert (per_sample >= 0).all()
    assert not np.signbit(per_sample).any()  # +0.0, never −0.0
    total = fn.total(z, a, y)
    assert math.isfinite(total) and total == pytest.approx(per_sample.sum())
    weights = np.linspace(0, 2, len(Z)).astype(dtype)
    assert fn.total(z, a, y, weights) == pytest.approx(np.dot(per_sample, weights.astype(np.float64)))
    assert math.isfinite(fn.value(z, a, y, weights))
    out = np.empty_like(z)
    gradient = fn.output_gradient(z, a, y, activation, out, np.empty_like(z))
    assert gradient is out and gradient.dtype == dtype
    assert np.isfinite(gradient).all()
    # Fused pairs: ∂ℓ/∂z = ŷ − y exactly.
    np.testing.assert_array_equal(gradient, a - y)


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("loss", ["binary_crossentropy", "crossentropy"])
def test_log_loss_limits(loss, dtype):
    fn = LOSSES[loss]()
    right_z, right = [], []
    for target in (0.0, 1.0):
        z, a, y, _ = loss_inputs(loss, dtype, target)
        per_sample = fn.per_sample(z, a, y)
        margin = z[:, 0].astype(np.float64) * (1 if target == 1.0 else -1)  # > 0: the output says the right class
        for m, value in zip(margin, per_sample, strict=True):
            exact = math.log1p(math.exp(-abs(m)))
            if m >= 30:
                # Confident and right: ℓ = log(1 + e^−|z|) ≈ e^−|z|, small and positive while e^−|z|
                # is a float64 (|z| <= 710), correctly 0 beyond.
                assert value == pytest.approx(exact, rel=1e-9, abs=0)
                assert value > 0 or exact == 0
                right_z.append(m)
                right.append(value)
            elif m <= -30:
                # Confident and wrong: ℓ = |z| + log(1 + e^−|z|) ≈ |z|.
                assert value == pytest.approx(abs(m), rel=1e-12)
            elif m == 0:
                assert value == pytest.approx(math.log(2.0), rel=1e-12)
    assert right and all(r >= 0 for r in right)
    assert max(right) < 1e-12


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("target", [0.0, 1.0])
def test_mse_on_a_saturated_sigmoid_has_a_zero_not_a_nan_gradient(target, dtype):
    # mse is not fused with sigmoid: ∂ℓ/∂z = (a − y) a (1 − a), 0 at a saturated output.
    fn = LOSSES["mse"]()
    z = np.array(Z, dtype)[:, None]
    sigmoid = ACTIVATIONS["sigmoid"]()
    a = sigmoid.forward(z, np.empty_like(z), np.empty_like(z))
    y = np.full_like(z, target)
    gradient = fn.output_gradient(z, a, y, sigmoid, np.empty_like(z), np.empty_like(z))
    assert np.isfinite(gradient).all()
    assert gradient[Z.index(1e4), 0] == 0 and gradient[Z.index(-1e4), 0] == 0


# ------------------------------------------------------------ networks at the edges


def assert_finite_network_results(net, X, y, loss, fit_kwargs=None, explain=True):
    """predict, loss, gradients, explain and a short fit: finite, right shapes and dtypes."""
    prediction = net.predict(X)
    assert prediction.dtype == net.dtype
    assert prediction.shape == (len(X), net.n_outputs)
    assert np.isfinite(prediction).all()
    assert math.isfinite(net.loss(X, y, loss=loss))
    for (dW, db), W in zip(net.gradients(X, y, loss=loss), net.weights, strict=True):
        assert dW.shape == W.shape and dW.dtype == net.dtype and np.isfinite(dW).all()
        assert db is None or np.isfinite(db).all()
    if explain:
        trace = bp.explain(net, X, y, loss=loss, learning_rate=0.1)
        assert all(np.isfinite(delta).all() for delta in trace.weight_deltas)
    history = net.fit(X, y, loss=loss, seed=0, **(fit_kwargs or {"epochs": 2}))
    assert all(math.isfinite(v) for v in history.loss)
    assert np.isfinite(net.parameters).all()
    assert np.isfinite(net.predict(X)).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_a_layer_fed_the_whole_grid(name, dtype):
    # W = 1, b = 0: the output layer's z is exactly each grid value (the softmax row is (x, −x)).
    width = 2 if name == "softmax" else 1
    W = np.array([[1.0, -1.0][:width]], dtype)
    net = bp.Network.from_weights([W], activations=name, biases=[np.zeros(width, dtype)])
    X = np.array(Z, dtype)[:, None]
    losses = {"softmax": ["crossentropy"], "sigmoid": ["binary_crossentropy", "mse"]}.get(name, ["mse"])
    for loss in losses:
        for target in (0, 1):
            y = np.full(len(Z), target if loss == "crossentropy" else float(target))
            net_copy = net.copy()
            assert_finite_network_results(net_copy, X, y, loss, {"epochs": 1, "optimizer": bp.SGD(1e-6)})


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_one_sample_one_feature(dtype):
    net = bp.Network([bp.Dense(3, "tanh"), bp.Dense(1, "sigmoid")], inputs=1, seed=0, dtype=dtype)
    assert_finite_network_results(net, np.array([[0.5]]), np.array([1.0]), "binary_crossentropy")
    # A 1-D sample and a scalar target are one sample too.
    assert net.predict([0.5]).shape == (1,)
    assert len(net.gradients([0.5], 1.0, loss="binary_crossentropy")) == 2


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_one_sample_with_every_batch_setting(dtype):
    X, y = np.array([[0.1, -0.2, 0.3]]), np.array([2])
    for batch_size in (None, 1, 32):
        net = bp.Network([bp.Dense(4, "relu"), bp.Dense(3, "softmax")], inputs=3, seed=0, dtype=dtype)
        assert_finite_network_results(net, X, y, "crossentropy", {"epochs": 2, "batch_size": batch_size})


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_ten_thousand_classes(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 4))
    y = rng.integers(0, 10_000, size=16)
    net = bp.Network([bp.Dense(8, "tanh"), bp.Dense(10_000, "softmax")], inputs=4, seed=0, dtype=dtype)
    before = net.loss(X, y, loss="crossentropy")
    assert before == pytest.approx(math.log(10_000), rel=0.1)  # about uniform at the start
    assert_finite_network_results(
        net, X, y, "crossentropy", {"epochs": 2, "batch_size": 8, "optimizer": bp.Adam(1e-2)}, explain=False
    )
    probabilities = net.predict(X)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)
    assert net.loss(X, y, loss="crossentropy") < before  # a couple of steps already learn something


def test_explain_refuses_a_softmax_jacobian_too_big_for_memory():
    # explain's trace holds f'(z) of every layer, for softmax the (n, k, k) Jacobian: 16 samples of
    # 10,000 classes would need 12 GiB (the process was killed for it). Refused with a clear error.
    net = bp.Network([bp.Dense(8, "tanh"), bp.Dense(10_000, "softmax")], inputs=4, seed=0)
    X = np.random.default_rng(0).normal(size=(16, 4))
    with pytest.raises(
        bp.ShapeError, match=r"softmax Jacobian of 16 samples of 10000 classes would hold 1,600,000,000"
    ):
        bp.explain(net, X, np.arange(16), loss="crossentropy")
    # A small softmax is traced as before.
    small = bp.Network([bp.Dense(3, "softmax")], inputs=4, seed=0)
    assert bp.explain(small, X, np.arange(16) % 3, loss="crossentropy").layers[0].derivative.shape == (16, 3, 3)


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "elu", "softplus", "leaky_relu"])
def test_layers_of_width_one(activation, dtype):
    net = bp.Network([bp.Dense(1, activation), bp.Dense(1, activation), bp.Dense(1)], inputs=1, seed=3, dtype=dtype)
    X = np.linspace(-2, 2, 8)[:, None]
    assert_finite_network_results(net, X, np.sin(X[:, 0]), "mse")


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_twenty_hidden_layers(activation, dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 3))
    y = (X[:, 0] > 0).astype(float)
    layers = [bp.Dense(8, activation) for _ in range(20)] + [bp.Dense(1, "sigmoid")]
    net = bp.Network(layers, inputs=3, seed=0, dtype=dtype)
    assert len(net.weights) == 21
    assert_finite_network_results(
        net, X, y, "binary_crossentropy", {"epochs": 2, "batch_size": 8, "optimizer": bp.Adam(1e-3)}
    )


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_twenty_hidden_layers_pass_gradcheck(activation):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4, 3))
    y = np.array([0.0, 1.0, 1.0, 0.0])
    layers = [bp.Dense(4, activation) for _ in range(20)] + [bp.Dense(1, "sigmoid")]
    net = bp.Network(layers, inputs=3, seed=0, dtype=np.float64)
    report = bp.gradcheck(net, X, y, loss="binary_crossentropy")
    assert report.passed, str(report)


# ------------------------------------------------------------ gradcheck where meaningful


MODERATE = [-3.0, -1.0, -0.25, 0.4, 1.0, 3.0]  # no kink at 0; σ and tanh far from saturation


@pytest.mark.parametrize("output", ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "identity", "softmax"])
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "identity"])
def test_gradcheck_every_activation_at_moderate_z(hidden, output):
    rng = np.random.default_rng(2)
    X = np.array(MODERATE).reshape(3, 2)
    width = 3 if output == "softmax" else 2
    net = bp.Network([bp.Dense(3, hidden), bp.Dense(width, output)], inputs=2, seed=4, dtype=np.float64)
    losses = {"softmax": ["crossentropy"], "sigmoid": ["mse", "binary_crossentropy"]}.get(output, ["mse"])
    for loss in losses:
        if loss == "crossentropy":
            y = np.array([0, 2, 1])
        elif loss == "binary_crossentropy":
            y = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
        else:
            y = rng.normal(size=(3, width))
        report = bp.gradcheck(net, X, y, loss=loss)
        assert report.passed, str(report)


@pytest.mark.parametrize(
    ("output", "loss", "z", "y"),
    [
        ("sigmoid", "binary_crossentropy", 30.0, [1.0]),  # confident and right
        ("sigmoid", "binary_crossentropy", 30.0, [0.0]),  # confident and wrong: gradient ≈ 1
        ("sigmoid", "binary_crossentropy", -30.0, [1.0]),
        ("softmax", "crossentropy", 30.0, [0]),
        ("softmax", "crossentropy", 30.0, [1]),
        ("identity", "mse", 1e4, [0.0]),
    ],
)
def test_gradcheck_at_large_but_meaningful_z(output, loss, z, y):
    width = 2 if output == "softmax" else 1
    W = np.array([[z, 0.0][:width]])
    net = bp.Network.from_weights([W], activations=output, biases=[np.zeros(width)])
    report = bp.gradcheck(net, [[1.0]], y, loss=loss)
    assert report.passed, str(report)


def test_the_l2_term_of_float32_weights_of_1e35_is_finite():
    # Found by the API fuzzer: a target of 1e38 drives the second weight to 1.2e35 in one
    # step; λ θ² = 1e-3 · 1.44e70 overflows float32, not the loss: it is summed in float64.
    net = bp.Network(
        [bp.Dense(1, "sigmoid", bias=False), bp.Dense(1, "sigmoid", bias=False)], inputs=1, seed=0, dtype=np.float32
    )
    history = net.fit(np.zeros((1, 1), np.float32), np.array([1e38]), loss="mse", epochs=2, l2=1e-3, seed=0)
    assert abs(net.parameters[1]) > 1e35 and all(math.isfinite(loss) for loss in history.loss)
    # Epoch 2's loss: ½ (ŷ − y)² with ŷ < 1, plus ½ λ Σ W² over the weights of epoch 2's step.
    assert history.loss[1] > 0.5 * 1e-3 * 1e70
