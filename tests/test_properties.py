"""Property tests: any small network, any batch, float32 or float64.

Architectures: 1–4 Dense layers of width 1–8 on 1–8 inputs, random activations
(softmax only on an output of width >= 2), random bias flags; batches of 1–16
rows; a loss valid for the output activation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import backprop as bp

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "identity"]
DTYPES = [np.dtype(np.float32), np.dtype(np.float64)]

bounded = settings(max_examples=40, deadline=None)


@dataclass
class Case:
    inputs: int
    widths: list[int]
    activations: list[str]
    biases: list[bool]
    dtype: np.dtype
    seed: int
    X: np.ndarray
    y: np.ndarray
    loss: str

    def build(self, seed: int | None = None) -> bp.Network:
        layers = [bp.Dense(w, a, bias=b) for w, a, b in zip(self.widths, self.activations, self.biases, strict=True)]
        return bp.Network(layers, inputs=self.inputs, seed=self.seed if seed is None else seed, dtype=self.dtype)


def _values(low, high):
    # width=32: every value is exact in float32 too, so both dtypes see the same data.
    return st.floats(low, high, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def cases(draw):
    inputs = draw(st.integers(1, 8))
    n_layers = draw(st.integers(1, 4))
    widths = draw(st.lists(st.integers(1, 8), min_size=n_layers, max_size=n_layers))
    activations = [draw(st.sampled_from(HIDDEN)) for _ in widths[:-1]]
    activations.append(draw(st.sampled_from(HIDDEN + (["softmax"] if widths[-1] >= 2 else []))))
    biases = draw(st.lists(st.booleans(), min_size=n_layers, max_size=n_layers))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 16))
    X = draw(hnp.arrays(np.float64, (n, inputs), elements=_values(-10, 10)))
    k = widths[-1]
    output = activations[-1]
    loss = draw(
        st.sampled_from(
            ["mse"]
            + (["binary_crossentropy"] if output == "sigmoid" else [])
            + (["crossentropy"] if output == "softmax" else [])
        )
    )
    if loss == "crossentropy":
        y = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1)))
    elif loss == "binary_crossentropy":
        y = draw(hnp.arrays(np.float64, (n, k), elements=_values(0, 1)))
    else:
        y = draw(hnp.arrays(np.float64, (n, k), elements=_values(-10, 10)))
    return Case(inputs, widths, activations, biases, dtype, seed, X, y, loss)


@bounded
@given(cases())
def test_gradients_match_parameters_and_are_finite(case):
    net = case.build()
    grads = net.gradients(case.X, case.y, loss=case.loss)
    assert len(grads) == len(case.widths)
    for (dW, db), W, b in zip(grads, net.weights, net.biases, strict=True):
        assert dW.shape == W.shape
        assert dW.dtype == net.dtype
        assert np.isfinite(dW).all()
        if b is None:
            assert db is None
        else:
            assert db.shape == b.shape
            assert db.dtype == net.dtype
            assert np.isfinite(db).all()


@bounded
@given(cases())
def test_predict_shape_and_dtype(case):
    net = case.build()
    assert net.dtype == case.dtype
    prediction = net.predict(case.X)
    assert prediction.shape == (case.X.shape[0], case.widths[-1])
    assert prediction.dtype == net.dtype
    assert np.isfinite(prediction).all()


@bounded
@given(cases())
def test_weights_and_biases_are_views_that_tile_the_parameters(case):
    net = case.build()
    views = [v for pair in zip(net.weights, net.biases, strict=True) for v in pair if v is not None]
    assert [W.shape for W in net.weights] == list(zip(net.sizes[:-1], net.sizes[1:], strict=True))
    assert [b is not None for b in net.biases] == case.biases
    for view in views:
        assert np.shares_memory(view, net.parameters)
    assert sum(view.size for view in views) == net.parameters.size
    # No two views overlap, so together they cover the buffer exactly once.
    for i, first in enumerate(views):
        for second in views[i + 1 :]:
            assert not np.shares_memory(first, second)
    # And they are live: writing through a view writes the parameters.
    before = net.parameters.copy()
    net.weights[-1][0, 0] += 1
    assert np.count_nonzero(net.parameters != before) == 1


@bounded
@given(cases(), st.floats(1e-3, 10))
def test_predict_gradients_explain_leave_the_network_unchanged(case, learning_rate):
    net = case.build()
    before = net.parameters.copy()
    net.predict(case.X)
    grads = net.gradients(case.X, case.y, loss=case.loss)
    bp.explain(net, case.X, case.y, learning_rate=learning_rate, loss=case.loss)
    np.testing.assert_array_equal(net.parameters, before)
    assert net.parameters.dtype == case.dtype
    # The returned gradients are new arrays, not views of the network's buffers.
    for dW, db in grads:
        for array in (dW, db):
            assert array is None or not np.shares_memory(array, net.parameters)
            assert array is None or not np.shares_memory(array, net.gradient)


@bounded
@given(cases(), st.integers(0, 2**32 - 1))
def test_seed_fixes_the_initial_parameters(case, other_seed):
    first, again = case.build(), case.build()
    assert first.parameters.dtype == again.parameters.dtype
    assert first.parameters.tobytes() == again.parameters.tobytes()
    if other_seed != case.seed:
        assert not np.array_equal(case.build(seed=other_seed).parameters, first.parameters)


@bounded
@given(cases(), st.floats(1e-3, 10))
def test_explain_weight_deltas_are_minus_eta_times_the_gradient(case, learning_rate):
    net = case.build()
    trace = bp.explain(net, case.X, case.y, learning_rate=learning_rate, loss=case.loss)
    grads = net.copy(dtype=np.float64).gradients(case.X, case.y, loss=case.loss)
    assert len(trace.weight_deltas) == len(grads)
    for delta, bias_delta, (dW, db) in zip(trace.weight_deltas, trace.bias_deltas, grads, strict=True):
        assert delta.shape == dW.shape
        np.testing.assert_allclose(delta, -learning_rate * dW, rtol=1e-10, atol=1e-10)
        if db is None:
            assert bias_delta is None
        else:
            np.testing.assert_allclose(bias_delta, -learning_rate * db, rtol=1e-10, atol=1e-10)
