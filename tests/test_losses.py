"""Losses: values worked by hand, fused output error terms, weighted means, extremes."""

import numpy as np
import pytest

import backprop as bp


def identity_net(n_outputs, activation, dtype=np.float64):
    """A network whose output layer input z equals x (W = I, no bias), to test losses directly."""
    return bp.Network.from_weights([np.eye(n_outputs, dtype=dtype)], activations=[activation])


def test_mse_is_half_the_squared_error():
    # ℓ₁ = ½ ((1 − 0)² + (2 − 4)²) = ½ (1 + 4) = 2.5,  ℓ₂ = ½ (0² + 1²) = 0.5,  L = mean = 1.5
    net = identity_net(2, "identity")
    assert net.loss([[1.0, 2.0], [3.0, 3.0]], [[0.0, 4.0], [3.0, 2.0]], "mse") == pytest.approx(1.5)


def test_binary_crossentropy_by_hand():
    # z = 0 → ŷ = ½: ℓ = −log ½ = 0.69314718 whatever y is;  z = log 3 → ŷ = ¾, y = 1: ℓ = −log ¾ = 0.28768207
    net = identity_net(1, "sigmoid")
    assert net.loss([[0.0]], [1.0], "binary_crossentropy") == pytest.approx(np.log(2))
    assert net.loss([[np.log(3.0)]], [1.0], "binary_crossentropy") == pytest.approx(-np.log(0.75))


def test_crossentropy_by_hand():
    # z = (0, log 3) → ŷ = (¼, ¾); class 1: ℓ = −log ¾ = 0.28768207; class 0: ℓ = −log ¼ = 1.38629436
    net = identity_net(2, "softmax")
    X = [[0.0, np.log(3.0)], [0.0, np.log(3.0)]]
    assert net.loss(X, [1, 0], "crossentropy") == pytest.approx((-np.log(0.75) - np.log(0.25)) / 2)


@pytest.mark.parametrize(
    ("activation", "loss", "y"),
    [
        ("identity", "mse", [0.3, -1.0]),
        ("sigmoid", "binary_crossentropy", [1.0, 0.0]),
        ("softmax", "crossentropy", [0.0, 1.0]),
    ],
)
def test_fused_output_error_term_is_y_minus_y_hat(activation, loss, y):
    # For the three fused pairs δᵒ = y − ŷ exactly: f'(z) cancels against ∂ℓ/∂ŷ.
    net = identity_net(2, activation)
    x = np.array([0.4, -0.2])
    trace = bp.explain(net, x, y, learning_rate=1.0, loss=loss)
    np.testing.assert_allclose(trace.layers[-1].error_term, np.asarray(y)[None, :] - trace.prediction, rtol=1e-14)


@pytest.mark.parametrize("loss", ["mse", "binary_crossentropy", "crossentropy"])
def test_sample_weight_gives_the_weighted_mean(loss):
    # L = Σ wᵢ ℓᵢ / Σ wᵢ: with w = (1, 0, 3), L = (ℓ₁ + 3 ℓ₃) / 4.
    net = identity_net(3, "softmax" if loss == "crossentropy" else "sigmoid")
    X = np.array([[0.1, 0.2, 0.3], [2.0, -1.0, 0.0], [-0.5, 0.5, 1.5]])
    y = np.eye(3)[[0, 1, 2]]
    each = [net.loss(X[i : i + 1], y[i : i + 1], loss) for i in range(3)]
    assert net.loss(X, y, loss, sample_weight=[1.0, 0.0, 3.0]) == pytest.approx((each[0] + 3 * each[2]) / 4)
    assert net.loss(X, y, loss) == pytest.approx(np.mean(each))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_losses_are_finite_for_saturated_outputs(dtype):
    # ŷ = σ(±1e4) is exactly 0 or 1, yet the loss is computed from z: ℓ = softplus(z) − y z = 1e4 when wrong.
    sig = identity_net(1, "sigmoid", dtype)
    assert sig.loss([[1e4]], [0.0], "binary_crossentropy") == pytest.approx(1e4)
    assert sig.loss([[1e4]], [1.0], "binary_crossentropy") == pytest.approx(0.0, abs=1e-6)
    soft = identity_net(2, "softmax", dtype)
    assert soft.loss([[1e4, -1e4]], [1], "crossentropy") == pytest.approx(2e4)
    for dw, _ in soft.gradients([[1e4, -1e4]], [1], "crossentropy"):
        assert np.isfinite(dw).all()


def test_soft_targets_are_accepted_by_crossentropy():
    net = identity_net(2, "softmax")
    # y = (½, ½) with z = (0, 0): ℓ = −½ log ½ − ½ log ½ = log 2
    assert net.loss([[0.0, 0.0]], [[0.5, 0.5]], "crossentropy") == pytest.approx(np.log(2))


def test_loss_instances_are_accepted():
    net = identity_net(1, "identity")
    assert net.loss([[2.0]], [0.0], bp.losses.MSE()) == pytest.approx(2.0)
    assert repr(bp.get_loss("crossentropy")) == "Crossentropy()"
