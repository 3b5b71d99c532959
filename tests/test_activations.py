"""Activations: values, derivatives from the cached output, stability at |z| = 1e4."""

import numpy as np
import pytest

import backprop as bp
from backprop.activations import ACTIVATIONS, get_activation

ELEMENTWISE = sorted(set(ACTIVATIONS) - {"softmax"})

# Reference values written out by hand, at z = (−2, 0, 3).
Z = np.array([[-2.0, 0.0, 3.0]])
EXPECTED = {
    # σ(−2) = 1/(1 + e²) = 0.11920292, σ(0) = ½, σ(3) = 1/(1 + e⁻³) = 0.95257413
    "sigmoid": [0.11920292202211755, 0.5, 0.9525741268224334],
    "tanh": [np.tanh(-2.0), 0.0, np.tanh(3.0)],
    "relu": [0.0, 0.0, 3.0],
    # 0.01 · (−2) = −0.02
    "leaky_relu": [-0.02, 0.0, 3.0],
    # e⁻² − 1 = −0.86466472
    "elu": [np.expm1(-2.0), 0.0, 3.0],
    # log(1 + e⁻²) = 0.12692801, log 2 = 0.69314718, log(1 + e³) = 3.04858735
    "softplus": [0.12692801104297263, np.log(2.0), 3.048587351573742],
    "identity": [-2.0, 0.0, 3.0],
}


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_values(name):
    np.testing.assert_allclose(get_activation(name)(Z), [EXPECTED[name]], rtol=1e-12)


def test_softmax_rows_sum_to_one():
    # softmax(1, 2, 3) = (e¹, e², e³) / (e¹ + e² + e³) = (0.09003057, 0.24472847, 0.66524096)
    a = get_activation("softmax")(np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(a[0], [0.09003057317038046, 0.24472847105479764, 0.6652409557748219], rtol=1e-12)
    np.testing.assert_allclose(a[1], [0.5, 0.5, 0.0], atol=1e-300)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_from_the_cached_output_matches_finite_differences(name):
    act = get_activation(name)
    z = np.linspace(-4, 4, 41)[None, :] + 0.013  # off the kinks at 0
    h = 1e-6
    numeric = (act(z + h) - act(z - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(z, act(z)), numeric, rtol=1e-7, atol=1e-9)


def test_softmax_jacobian_matches_finite_differences():
    act = get_activation("softmax")
    z = np.array([[0.3, -1.2, 2.0, 0.1]])
    jacobian = act.derivative(z, act(z))[0]  # ∂a_k/∂z_j
    h = 1e-6
    for j in range(4):
        dz = np.zeros_like(z)
        dz[0, j] = h
        np.testing.assert_allclose(jacobian[:, j], ((act(z + dz) - act(z - dz)) / (2 * h))[0], atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_stable_at_extreme_inputs(name, dtype):
    # pytest turns every numpy warning into an error: overflow would fail here.
    act = get_activation(name)
    z = np.array([[-1e4, -745.0, -90.0, -1e-30, 0.0, 1e-30, 90.0, 745.0, 1e4]], dtype=dtype)
    a = act(z)
    assert a.dtype == dtype
    assert np.isfinite(a).all()
    assert np.isfinite(act.derivative(z, a)).all()


def test_sigmoid_saturates_exactly():
    a = get_activation("sigmoid")(np.array([[-1e4, 1e4]]))
    np.testing.assert_array_equal(a, [[0.0, 1.0]])


def test_sigmoid_is_accurate_in_the_tail():
    # σ(−30) = e⁻³⁰ / (1 + e⁻³⁰), relative accuracy kept where 1 − σ(30) would cancel.
    a = get_activation("sigmoid")(np.array([[-30.0]]))
    np.testing.assert_allclose(a, np.exp(-30.0) / (1 + np.exp(-30.0)), rtol=1e-14)


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_elu_alpha(alpha):
    act = bp.activations.ELU(alpha=alpha)
    z = np.array([[-1.0, 2.0]])
    np.testing.assert_allclose(act(z), [[alpha * np.expm1(-1.0), 2.0]])
    # f'(−1) = α e⁻¹ = a + α
    np.testing.assert_allclose(act.derivative(z, act(z)), [[alpha * np.exp(-1.0), 1.0]])


def test_custom_pair_is_used_with_its_derivative_of_z():
    act = get_activation((np.sin, np.cos))
    z = np.array([[0.0, np.pi / 2]])
    np.testing.assert_allclose(act(z), [[0.0, 1.0]])
    np.testing.assert_allclose(act.derivative(z, act(z)), [[1.0, 0.0]], atol=1e-15)
    net = bp.Network([bp.Dense(3, (np.sin, np.cos)), bp.Dense(1)], inputs=2, seed=0, dtype=np.float64)
    assert bp.gradcheck(net, [[0.1, 0.2], [0.3, -0.4]], [[1.0], [0.0]]).passed


def test_activation_instances_and_names_are_equivalent():
    assert get_activation("leaky_relu") == bp.activations.LeakyReLU(0.01)
    assert get_activation("leaky_relu") != bp.activations.LeakyReLU(0.2)
    assert repr(bp.activations.ELU(0.5)) == "ELU(alpha=0.5)"
