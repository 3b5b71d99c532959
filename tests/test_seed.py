"""The seed's worked example (shared/seed/backpropagation.txt), reproduced exactly.

A 3-2-1 sigmoid network without biases, one sample, mse, one step:

    numpy.random.seed(18)
    x      = randn(3)          = [ 0.07942844  2.19020236 -0.13489215]
    y      = random()          =   0.85223307
    η      = random()          =   0.75013629
    W_ih   = random((3, 2))    = [[0.66610167 0.98789545]
                                  [0.25696842 0.02830593]
                                  [0.63571912 0.84731239]]
    W_ho   = random((2, 1))    = [[0.73617463]
                                  [0.02080711]]
"""

import numpy as np
import pytest
from click.testing import CliRunner

import backprop as bp
from backprop.cli import main
from backprop.explain import seed_example

TOL = 1e-8


@pytest.fixture(scope="module")
def seed():
    net, x, target, learning_rate = seed_example()
    trace = bp.explain(net, x, target, learning_rate=learning_rate, loss="mse")
    return net, x, target, learning_rate, trace


def test_initial_values_are_the_seeds_draws(seed):
    net, x, target, learning_rate, _ = seed
    np.testing.assert_allclose(x, [0.07942844, 2.19020236, -0.13489215], atol=TOL)
    assert target == pytest.approx(0.85223307, abs=TOL)
    assert learning_rate == pytest.approx(0.75013629, abs=TOL)
    np.testing.assert_allclose(
        net.weights[0], [[0.66610167, 0.98789545], [0.25696842, 0.02830593], [0.63571912, 0.84731239]], atol=TOL
    )
    np.testing.assert_allclose(net.weights[1], [[0.73617463], [0.02080711]], atol=TOL)
    assert net.biases == [None, None]
    assert net.dtype == np.float64


def test_forward_pass(seed):
    _, _, _, _, trace = seed
    hidden, output = trace.layers
    # hidden_layer_input = x · W_ih
    #   = [0.0794·0.6661 + 2.1902·0.2570 − 0.1349·0.6357, 0.0794·0.9879 + 2.1902·0.0283 − 0.1349·0.8473]
    #   = [0.52996675, 0.02616692]
    np.testing.assert_allclose(hidden.z[0], [0.52996675, 0.02616692], atol=TOL)
    # hidden_layer_output = σ(h) = 1 / (1 + e^−h) = [0.62947536, 0.50654136]
    np.testing.assert_allclose(hidden.output[0], [0.62947536, 0.50654136], atol=TOL)
    # output_layer_in = 0.62947536·0.73617463 + 0.50654136·0.02080711 = 0.47394345
    np.testing.assert_allclose(output.z[0], [0.47394345], atol=TOL)
    # output = σ(0.47394345) = 0.61631669
    np.testing.assert_allclose(output.output[0], [0.61631669], atol=TOL)
    np.testing.assert_allclose(trace.prediction, [[0.61631669]], atol=TOL)


def test_backward_pass(seed):
    _, _, _, _, trace = seed
    hidden, output = trace.layers
    # error = y − ŷ = 0.85223307 − 0.61631669 = 0.23591638
    np.testing.assert_allclose(trace.error, [[0.23591638]], atol=TOL)
    # σ'(z) = ŷ (1 − ŷ) = 0.61631669 · 0.38368331 = 0.23647043
    np.testing.assert_allclose(output.derivative, [[0.23647043]], atol=TOL)
    # output_error_term = error · ŷ (1 − ŷ) = 0.23591638 · 0.23647043 = 0.05578725
    np.testing.assert_allclose(output.error_term, [[0.05578725]], atol=TOL)
    # hidden_error_term = W_hoᵀ · δᵒ · h (1 − h)
    #   = [0.73617463 · 0.05578725 · 0.23323613, 0.02080711 · 0.05578725 · 0.24995721]
    #   = [0.00957881, 0.00029014]
    np.testing.assert_allclose(hidden.derivative, [[0.23323613, 0.24995721]], atol=TOL)
    np.testing.assert_allclose(hidden.error_term, [[0.00957881, 0.00029014]], atol=TOL)


def test_the_seeds_printed_results(seed):
    _, _, _, _, trace = seed
    # delta_w_h_o = η · δᵒ · h = 0.75013629 · 0.05578725 · [0.62947536, 0.50654136]
    #             = [0.02634231 0.02119776]
    delta_w_h_o = trace.weight_deltas[1]
    assert delta_w_h_o.shape == (2, 1)
    np.testing.assert_allclose(delta_w_h_o.ravel(), [0.02634231, 0.02119776], atol=TOL)
    assert str(delta_w_h_o.ravel()) == "[0.02634231 0.02119776]"
    # delta_w_i_h = η · δʰ · x[:, None], e.g. 0.75013629 · 0.00957881 · 0.07942844 = 5.70726224e-04
    delta_w_i_h = trace.weight_deltas[0]
    np.testing.assert_allclose(
        delta_w_i_h,
        [
            [5.70726224e-04, 1.72873580e-05],
            [1.57375099e-02, 4.76690849e-04],
            [-9.69255871e-04, -2.93588634e-05],
        ],
        rtol=1e-8,
    )
    assert str(delta_w_i_h) == (
        "[[ 5.70726224e-04  1.72873580e-05]\n [ 1.57375099e-02  4.76690849e-04]\n [-9.69255871e-04 -2.93588634e-05]]"
    )


def test_the_seeds_own_code_agrees(seed):
    """The seed's numpy lines, run on the same draws, give the trace's numbers."""
    net, x, target, learning_rate, trace = seed
    w_ih, w_ho = (w.copy() for w in net.weights)

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    hidden_layer_output = sigmoid(x.dot(w_ih))
    output = sigmoid(hidden_layer_output.dot(w_ho))
    output_error_term = (target - output) * output * (1 - output)
    hidden_error_term = w_ho.T * output_error_term * hidden_layer_output * (1 - hidden_layer_output)
    np.testing.assert_allclose(trace.weight_deltas[1].ravel(), learning_rate * output_error_term * hidden_layer_output)
    np.testing.assert_allclose(trace.weight_deltas[0], learning_rate * hidden_error_term * x[:, None])


def test_explain_leaves_the_network_unchanged(seed):
    net, x, target, learning_rate, _ = seed
    before = net.parameters.copy()
    bp.explain(net, x, target, learning_rate=learning_rate)
    np.testing.assert_array_equal(net.parameters, before)


def test_weight_update_is_minus_eta_times_the_gradient(seed):
    net, x, target, learning_rate, trace = seed
    grads = net.gradients(x, target, loss="mse")
    for delta, (d_w, d_b) in zip(trace.weight_deltas, grads, strict=True):
        np.testing.assert_allclose(delta, -learning_rate * d_w, rtol=1e-12)
        assert d_b is None


def test_trace_prints_the_seeds_words(seed):
    text = str(seed[4])
    for words in (
        "hidden layer input",
        "hidden layer output",
        "output error term",
        "hidden error term",
        "weight update",
    ):
        assert words in text
    assert "[0.05578725]" in text  # the output error term
    assert "[0.00957881 0.00029014]" in text  # the hidden error term


@pytest.mark.parametrize("command", [["explain", "--example", "seed"], ["demo"]])
def test_cli_prints_the_seeds_results(command):
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    assert (
        "Change in weights for hidden layer to output layer:\n[0.02634231 0.02119776]\n"
        "Change in weights for input layer to hidden layer:\n"
        "[[ 5.70726224e-04  1.72873580e-05]\n [ 1.57375099e-02  4.76690849e-04]\n [-9.69255871e-04 -2.93588634e-05]]"
    ) in result.output
