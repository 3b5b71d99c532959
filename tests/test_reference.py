"""The optimized training step against a straightforward reference of the same step.

The reference is the textbook algorithm written plainly, in float64, with new
arrays everywhere: forward pass, output error term, hidden error terms, the
weight gradient, and the optimizer's update rule. ``fit`` (flat buffers,
in-place ufuncs, reused workspaces, fused softmax + crossentropy) must land on
the same weights to 1e-10.
"""

import numpy as np
import pytest

import backprop as bp


def reference_gradients(weights, biases, X, Y):
    """∂L/∂W, ∂L/∂b for relu hidden layers, a softmax output and mean crossentropy."""
    activations = [X]
    for W, b in zip(weights[:-1], biases[:-1], strict=True):
        activations.append(np.maximum(activations[-1] @ W + b, 0.0))
    z = activations[-1] @ weights[-1] + biases[-1]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    y_hat = e / e.sum(axis=1, keepdims=True)
    n = X.shape[0]
    delta = (Y - y_hat) / n  # the output error term, δ = y − ŷ, averaged
    grads = []
    for layer in range(len(weights) - 1, -1, -1):
        a = activations[layer]
        grads.append((-(a.T @ delta), -delta.sum(axis=0)))
        if layer:
            delta = (delta @ weights[layer].T) * (a > 0)  # the hidden error term
    return grads[::-1]


def reference_adam(params, grads, state, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    state["t"] += 1
    t = state["t"]
    out = []
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        m = state.setdefault(("m", i), np.zeros_like(p))
        v = state.setdefault(("v", i), np.zeros_like(p))
        m[...] = beta1 * m + (1 - beta1) * g
        v[...] = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        out.append(p - lr * m_hat / (np.sqrt(v_hat) + eps))
    return out


def reference_momentum(params, grads, state, lr, momentum):
    out = []
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        buffer = state.get(i)
        buffer = g.copy() if buffer is None else momentum * buffer + g
        state[i] = buffer
        out.append(p - lr * buffer)
    return out


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_fit_matches_the_reference_step_for_step(optimizer):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    labels = rng.integers(0, 3, size=40)
    Y = np.eye(3)[labels]
    net = bp.Network(
        [bp.Dense(8, "relu"), bp.Dense(5, "relu"), bp.Dense(3, "softmax")], inputs=6, seed=1, dtype=np.float64
    )
    weights = [w.copy() for w in net.weights]
    biases = [b.copy() for b in net.biases]

    state: dict = {"t": 0}
    for _ in range(10):
        grads = reference_gradients(weights, biases, X, Y)
        flat_params = [p for pair in zip(weights, biases, strict=True) for p in pair]
        flat_grads = [g for pair in grads for g in pair]
        if optimizer == "adam":
            updated = reference_adam(flat_params, flat_grads, state, lr=0.01)
        else:
            updated = reference_momentum(flat_params, flat_grads, state, lr=0.1, momentum=0.9)
        weights, biases = updated[0::2], updated[1::2]

    opt = bp.Adam(0.01) if optimizer == "adam" else bp.SGD(0.1, momentum=0.9)
    net.fit(X, labels, loss="crossentropy", optimizer=opt, epochs=10, batch_size=None, shuffle=False)
    for got, want in zip(net.weights + net.biases, weights + biases, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
