"""The engine (backprop.step) computes the textbook's numbers (backprop.textbook), step for step.

The textbook is the seed's algorithm written plainly: new arrays, ``δ`` with
the seed's sign. The engine keeps ``error = ∂L/∂h = −δ`` in reused buffers.
Negating is exact, so per sample the two agree to the last bit:

    h      engine ws.h[l]            = textbook h[l]
    a      engine ws.a[l]            = textbook a[l]
    δ      engine −ws.grad_h[l]       = textbook δ[l]     (scale 1: per sample)
    ΔW     engine −η · ws.dW[l]      ≈ textbook ΔW[l]    (the mean: scaled before, not after, the hidden terms)
"""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp
from backprop import textbook
from backprop._fast import step_for
from backprop.explain import seed_example
from backprop.step import Step, Workspace, mean_scale

NETWORKS = {
    "seed-sigmoid-mse": (lambda: [bp.Dense(2, "sigmoid", bias=False), bp.Dense(1, "sigmoid", bias=False)], "mse"),
    "relu-softmax-crossentropy": (
        lambda: [bp.Dense(6, "relu"), bp.Dense(5, "relu"), bp.Dense(3, "softmax")],
        "crossentropy",
    ),
    "tanh-deep-identity-mse": (
        lambda: [bp.Dense(4, "tanh"), bp.Dense(4, "tanh"), bp.Dense(4, "tanh"), bp.Dense(2)],
        "mse",
    ),
    "elu-softplus-sigmoid-bce": (
        lambda: [bp.Dense(5, "elu"), bp.Dense(5, "softplus", bias=False), bp.Dense(3, "sigmoid")],
        "binary_crossentropy",
    ),
    "leaky-softmax-mse": (lambda: [bp.Dense(6, "leaky_relu"), bp.Dense(3, "softmax")], "mse"),
}


def targets_for(loss: str, rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    if loss == "crossentropy":
        return rng.integers(0, k, n)
    if loss == "binary_crossentropy":
        return (rng.uniform(size=(n, k)) > 0.5) * 1.0
    return rng.normal(size=(n, k))


def textbook_step(net: bp.Network, loss: bp.Loss, X, Y, learning_rate: float, share) -> textbook.Backpropagation:
    dense = net.dense_layers
    return textbook.backpropagate(
        [d.W for d in dense], [d.b for d in dense], [d.activation for d in dense], loss, X, Y, learning_rate, share
    )


@pytest.mark.parametrize("name", sorted(NETWORKS))
@pytest.mark.parametrize("compiled", [False, True])
def test_the_engine_computes_the_textbooks_forward_pass_and_error_terms_to_the_bit(name: str, compiled: bool) -> None:
    layers, loss_name = NETWORKS[name]
    rng = np.random.default_rng(3)
    net = bp.Network(layers(), inputs=4, seed=1, dtype=np.float64)
    X = rng.normal(size=(9, 4))
    X, Y, loss, _ = net.check_data(X, targets_for(loss_name, rng, 9, net.n_outputs), loss_name)
    engine = step_for(net.layers, loss, bp.SGD(0.1)) if compiled else Step(net.layers, loss)
    ws = Workspace(net.layers, 9, net.dtype, np.empty_like(net.parameters))
    output = engine.forward(X, ws)
    engine.backward(ws, X, Y, 1.0)  # scale 1: the error terms of each sample
    book = textbook_step(net, loss, X, Y, 0.5, 1.0)

    assert output.tobytes() == book.layer_outputs[-1].tobytes()
    for l in range(len(net.layers)):
        assert ws.h[l].tobytes() == book.layer_inputs[l].tobytes()  # h = x · W + b
        assert ws.a[l].tobytes() == book.layer_outputs[l].tobytes()  # a = f(h)
        if name == "leaky-softmax-mse" and l == 1:
            # Softmax under mse: the textbook multiplies by the Jacobian its own way.
            np.testing.assert_allclose(-ws.grad_h[l], book.error_terms[l], rtol=1e-13, atol=1e-300)
        else:
            # δ = −∂L/∂h: the output error term, then each hidden error term δʰ = (δ · Wᵀ) ⊙ f'(h).
            assert (-ws.grad_h[l]).tobytes() == book.error_terms[l].tobytes()


@pytest.mark.parametrize("name", sorted(NETWORKS))
@pytest.mark.parametrize("weighted", [False, True])
def test_the_engines_gradient_is_the_textbooks_weight_update_over_minus_eta(name: str, weighted: bool) -> None:
    layers, loss_name = NETWORKS[name]
    rng = np.random.default_rng(4)
    net = bp.Network(layers(), inputs=4, seed=2, dtype=np.float64)
    w = rng.uniform(0.1, 2.0, 12) if weighted else None
    X, Y, loss, weights = net.check_data(
        rng.normal(size=(12, 4)), targets_for(loss_name, rng, 12, net.n_outputs), loss_name, w
    )
    learning_rate = 0.3
    share = mean_scale(12, weights, net.dtype)
    book = textbook_step(net, loss, X, Y, learning_rate, share)
    gradients = net.gradients(X, Y, loss_name, sample_weight=w)
    for (dW, db), delta_W, delta_b in zip(gradients, book.weight_updates, book.bias_updates, strict=True):
        # ΔW = −η ∂L/∂W: the seed's Δw = η δ x is one step down the gradient of the mean loss.
        np.testing.assert_allclose(-learning_rate * dW, delta_W, rtol=1e-12, atol=1e-15)
        if db is None:
            assert delta_b is None
        else:
            np.testing.assert_allclose(-learning_rate * db, delta_b, rtol=1e-12, atol=1e-15)


def test_one_sgd_step_of_fit_is_the_textbooks_update() -> None:
    # fit with SGD(η) on the whole batch: W ← W + ΔW, the seed's update, in every layer.
    rng = np.random.default_rng(5)
    net = bp.Network(
        [bp.Dense(5, "tanh"), bp.Dense(4, "relu"), bp.Dense(3, "softmax")], inputs=4, seed=0, dtype=np.float64
    )
    X, labels = rng.normal(size=(20, 4)), rng.integers(0, 3, 20)
    _, Y, loss, _ = net.check_data(X, labels, "crossentropy")
    book = textbook_step(net, loss, X, Y, 0.2, 1 / 20)
    expected = [
        (d.W + dW, None if d.b is None else d.b + db)
        for d, dW, db in zip(net.dense_layers, book.weight_updates, book.bias_updates, strict=True)
    ]
    net.fit(X, labels, loss="crossentropy", optimizer=bp.SGD(0.2), epochs=1, batch_size=None, shuffle=False, seed=0)
    for layer, (W, b) in zip(net.dense_layers, expected, strict=True):
        np.testing.assert_allclose(layer.W, W, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer.b, b, rtol=1e-12, atol=1e-15)


def test_the_textbook_reproduces_the_seeds_worked_example() -> None:
    net, x, target, learning_rate = seed_example()
    W_ih, W_ho = net.weights
    sigmoid = bp.get_activation("sigmoid")
    step = textbook.backpropagate(
        [W_ih, W_ho],
        [None, None],
        [sigmoid, sigmoid],
        bp.get_loss("mse"),
        x[None, :],
        np.array([[target]]),
        learning_rate,
        1.0,
    )
    # hidden_layer_input = x · W_ih = [0.52996675, 0.02616692]; output = σ(0.47394345) = 0.61631669
    np.testing.assert_allclose(step.layer_inputs[0][0], [0.52996675, 0.02616692], atol=1e-8)
    np.testing.assert_allclose(step.layer_outputs[1][0], [0.61631669], atol=1e-8)
    # output_error_term = (y − ŷ) ŷ (1 − ŷ) = 0.23591638 · 0.23647043 = 0.05578725
    np.testing.assert_allclose(step.error_terms[1], [[0.05578725]], atol=1e-8)
    # hidden_error_term = W_hoᵀ δᵒ h (1 − h) = [0.00957881, 0.00029014]
    np.testing.assert_allclose(step.error_terms[0], [[0.00957881, 0.00029014]], atol=1e-8)
    # The seed's own lines, computed as it computes them: Δw = η δ x.
    output = 1 / (1 + np.exp(-(1 / (1 + np.exp(-(x @ W_ih))) @ W_ho)))
    delta_o = (target - output) * output * (1 - output)
    hidden = 1 / (1 + np.exp(-(x @ W_ih)))
    delta_h = W_ho.T * delta_o * hidden * (1 - hidden)
    np.testing.assert_allclose(step.weight_updates[1][:, 0], learning_rate * delta_o * hidden, rtol=1e-12)
    np.testing.assert_allclose(step.weight_updates[0], learning_rate * delta_h * x[:, None], rtol=1e-12)
    # explain shows exactly these numbers.
    trace = bp.explain(net, x, target, learning_rate=learning_rate, loss="mse")
    for layer, delta, update in zip(trace.layers, step.error_terms, step.weight_updates, strict=True):
        assert layer.error_term.tobytes() == delta.tobytes() and layer.weight_delta.tobytes() == update.tobytes()


class Doubled(bp.Dense):
    """A layer of one's own: twice the dense layer's output."""

    def forward(self, x, z, a, tmp, rng=None):  # type: ignore[no-untyped-def]
        out = super().forward(x, z, a, tmp, rng)
        out *= 2.0
        return out


class Frozen(bp.Dense):
    """A layer of one's own that never learns: its weight gradient is 0."""

    def backward(self, x, grad_z, grad_x, tmp, bias_summed=False, dW=None, db=None, training=False):  # type: ignore[no-untyped-def]
        super().backward(x, grad_z, grad_x, tmp, bias_summed, dW, db, training)
        target_dW, target_db = (self.dW, self.db) if dW is None else (dW, db)
        target_dW[...] = 0.0
        if target_db is not None:
            target_db[...] = 0.0


def test_a_subclass_of_dense_runs_its_own_forward_and_backward() -> None:
    # The engine writes Dense's arithmetic itself; a subclass keeps its own methods.
    X = np.random.default_rng(0).normal(size=(6, 3))
    plain = bp.Network([bp.Dense(4, "tanh"), bp.Dense(2)], inputs=3, seed=0, dtype=np.float64)
    doubled = bp.Network([bp.Dense(4, "tanh"), Doubled(2)], inputs=3, seed=0, dtype=np.float64)
    assert doubled.predict(X).tobytes() == (2.0 * plain.predict(X)).tobytes()
    frozen = bp.Network([Frozen(4, "tanh"), bp.Dense(2)], inputs=3, seed=0, dtype=np.float64)
    (dW1, db1), (dW2, _) = frozen.gradients(X, np.zeros((6, 2)))
    assert not dW1.any() and not db1.any() and dW2.any()
    before = frozen.weights[0].copy()
    frozen.fit(X, np.ones((6, 2)), optimizer=bp.SGD(0.5), epochs=2, seed=0)
    assert frozen.weights[0].tobytes() == before.tobytes()  # its rule, in fit too (compiled or not)


class ClippedMSE(bp.losses.MSE):
    """A loss of one's own: mse whose output error is clipped to ±0.1."""

    def output_gradient(self, z, a, y, activation, out, tmp):  # type: ignore[no-untyped-def]
        np.clip(np.subtract(a, y, out=out), -0.1, 0.1, out=out)
        return out


def test_explain_shows_the_error_term_of_a_loss_of_ones_own() -> None:
    net = bp.Network([bp.Dense(3, "relu"), bp.Dense(1)], inputs=2, seed=0, dtype=np.float64)
    x, y = np.array([[1.0, 2.0]]), np.array([[5.0]])  # ŷ − y far below −0.1: clipped
    trace = bp.explain(net, x, y, learning_rate=1.0, loss=ClippedMSE())
    np.testing.assert_array_equal(trace.layers[-1].error_term, [[0.1]])
    (dW, _), _ = net.gradients(x, y, loss=ClippedMSE())
    np.testing.assert_allclose(trace.layers[0].weight_delta, -dW, rtol=1e-12)
