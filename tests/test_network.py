"""Network construction, the flat parameter buffer, dtypes, initializers, predict and fit."""

import copy
import itertools
import pickle
import tracemalloc

import numpy as np
import pytest

import backprop as bp
from backprop.network import PREDICT_CHUNK, predict_rows
from backprop.step import Step, Workspace

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


def xor_net(seed):
    return bp.Network([bp.Dense(4, "sigmoid"), bp.Dense(1, "sigmoid")], inputs=2, seed=seed)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_xor_is_learned_by_a_2_4_1_sigmoid_network_with_sgd(seed):
    net = xor_net(seed)
    history = net.fit(XOR_X, XOR_Y, loss="mse", optimizer=bp.SGD(2.0), epochs=3000, batch_size=4, seed=seed)
    prediction = net.predict(XOR_X).ravel()
    # All four outputs on the right side of ½.
    np.testing.assert_array_equal(prediction > 0.5, XOR_Y > 0.5)
    assert history.loss[-1] < 0.01 < history.loss[0]
    assert len(history) == 3000


def test_xor_is_learned_online_with_binary_crossentropy():
    net = xor_net(0)
    net.fit(XOR_X, XOR_Y, loss="binary_crossentropy", optimizer=bp.SGD(0.5), epochs=2000, batch_size=1, seed=0)
    np.testing.assert_array_equal(net.predict(XOR_X).ravel() > 0.5, XOR_Y > 0.5)


def test_one_sgd_step_is_the_seeds_weight_update():
    # fit with one full batch and SGD(η) moves W by exactly ΔW = −η ∂L/∂W, the explain trace's weight update.
    net = bp.Network([bp.Dense(3, "tanh"), bp.Dense(2, "softmax")], inputs=4, seed=3, dtype=np.float64)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 4)), rng.integers(0, 2, size=6)
    trace = bp.explain(net, X, y, learning_rate=0.3, loss="crossentropy")
    before = [w.copy() for w in net.weights]
    net.fit(X, y, loss="crossentropy", optimizer=bp.SGD(0.3), epochs=1, batch_size=None, shuffle=False)
    for w0, w1, delta in zip(before, net.weights, trace.weight_deltas, strict=True):
        np.testing.assert_allclose(w1 - w0, delta, rtol=1e-10, atol=1e-15)


def test_same_seed_gives_bit_identical_training():
    runs = []
    for _ in range(2):
        net = xor_net(7)
        history = net.fit(XOR_X, XOR_Y, optimizer=bp.SGD(1.0), epochs=50, batch_size=2, seed=11)
        runs.append((net.parameters.copy(), history.loss))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    other = xor_net(7)
    other.fit(XOR_X, XOR_Y, optimizer=bp.SGD(1.0), epochs=50, batch_size=2, seed=12)
    assert not np.array_equal(other.parameters, runs[0][0])


def test_weights_and_biases_are_views_of_one_flat_buffer():
    net = bp.Network([bp.Dense(5, "relu"), bp.Dense(3, "relu", bias=False), bp.Dense(2)], inputs=4, seed=0)
    assert net.parameters.size == 4 * 5 + 5 + 5 * 3 + 3 * 2 + 2
    assert net.parameters.flags.c_contiguous
    for w, b in zip(net.weights, net.biases, strict=True):
        assert np.shares_memory(w, net.parameters)
        assert b is None or np.shares_memory(b, net.parameters)
    # Writing through a view changes the network.
    net.weights[2][...] = 0
    net.biases[2][...] = [1.5, -2.0]
    np.testing.assert_array_equal(net.predict(np.ones((3, 4))), [[1.5, -2.0]] * 3)
    # The gradient buffer is laid out the same way.
    net.gradients(np.ones((3, 4)), np.zeros((3, 2)))
    assert np.shares_memory(net.layers[0].dW, net.gradient)


def test_default_dtype_is_float32_and_from_weights_keeps_the_arrays_dtype():
    assert bp.Network([bp.Dense(2)], inputs=2).dtype == np.float32
    assert bp.Network([bp.Dense(2)], inputs=2, dtype="float64").dtype == np.float64
    w32 = bp.Network.from_weights([np.ones((2, 3), np.float32)], activations="relu")
    assert w32.dtype == np.float32 and w32.predict([[1, 2]]).dtype == np.float32
    assert bp.Network.from_weights([np.ones((2, 3))]).dtype == np.float64
    assert bp.Network.from_weights([[[1, 2]]]).dtype == np.float64  # integers become float64


def test_from_weights_copies_values_and_biases():
    W1, b1 = np.array([[1.0, -1.0]]), np.array([0.5, 0.25])
    net = bp.Network.from_weights([W1, np.array([[2.0], [3.0]])], activations=["relu", "identity"], biases=[b1, None])
    # x = 2: z₁ = (2·1 + 0.5, 2·(−1) + 0.25) = (2.5, −1.75), a₁ = relu(z₁) = (2.5, 0);  ŷ = 2.5·2 + 0·3 = 5
    np.testing.assert_allclose(net.predict([2.0]), [5.0])
    W1[0, 0] = 100.0
    np.testing.assert_allclose(net.predict([2.0]), [5.0])  # a copy, not the caller's array
    assert net.biases[1] is None


def test_predict_handles_one_sample_and_many_chunks():
    net = bp.Network([bp.Dense(3, "tanh"), bp.Dense(2, "softmax")], inputs=2, seed=0, dtype=np.float64)
    x = np.array([0.5, -0.5])
    np.testing.assert_array_equal(net.predict(x), net.predict(x[None, :])[0])
    X = np.random.default_rng(0).normal(size=(PREDICT_CHUNK * 2 + 5, 2))
    out = net.predict(X)
    assert out.shape == (X.shape[0], 2)
    np.testing.assert_allclose(out[-5:], net.predict(X[-5:]), rtol=1e-15)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


def test_predict_does_not_alias_internal_buffers():
    net = bp.Network([bp.Dense(2)], inputs=2, seed=0)
    first = net.predict([[1.0, 2.0]])
    kept = first.copy()
    net.predict([[5.0, 6.0]])
    np.testing.assert_array_equal(first, kept)


def test_copy_is_independent():
    net = xor_net(0)
    clone = net.copy(dtype=np.float64)
    assert clone.dtype == np.float64
    np.testing.assert_allclose(clone.parameters, net.parameters)
    clone.weights[0][...] = 0
    assert net.weights[0].any()


@pytest.mark.parametrize("duplicate", [copy.copy, copy.deepcopy, lambda net: pickle.loads(pickle.dumps(net))])
def test_deepcopy_and_pickle_keep_weights_as_views_of_the_parameters(duplicate):
    # The views must be rebuilt: otherwise fit updates a buffer predict never reads.
    net = bp.Network([bp.Dense(3, "tanh"), bp.Dropout(0.1), bp.Dense(1, "sigmoid")], inputs=2, seed=0)
    net.predict(XOR_X)  # a cached workspace travels too
    clone = duplicate(net)
    np.testing.assert_array_equal(clone.parameters, net.parameters)
    assert all(np.shares_memory(W, clone.parameters) for W in clone.weights)
    assert all(np.shares_memory(dW.dW, clone.gradient) for dW in clone.dense_layers)
    before = clone.predict(XOR_X)
    clone.fit(XOR_X, XOR_Y, loss="mse", optimizer=bp.SGD(1.0), epochs=5, seed=0)
    assert not np.array_equal(clone.predict(XOR_X), before)
    np.testing.assert_array_equal(net.predict(XOR_X), before)  # the original is untouched


@pytest.mark.parametrize(
    ("init", "activation", "check"),
    [
        ("uniform", "sigmoid", lambda w: w.min() >= 0 and w.max() < 1 and abs(w.mean() - 0.5) < 0.02),
        ("normal_scaled", "sigmoid", lambda w: abs(w.std() - 400**-0.5) < 0.002),
        (
            "glorot_uniform",
            "tanh",
            lambda w: abs(w).max() <= np.sqrt(6 / 700) and abs(w.std() - np.sqrt(2 / 700)) < 0.002,
        ),
        ("he_normal", "relu", lambda w: abs(w.std() - np.sqrt(2 / 400)) < 0.003),
    ],
)
def test_initializers(init, activation, check):
    net = bp.Network([bp.Dense(300, activation, init=init)], inputs=400, seed=0, dtype=np.float64)
    assert check(net.weights[0])
    assert not net.biases[0].any()


def test_default_initializer_follows_the_activation():
    relu = bp.Network([bp.Dense(300, "relu")], inputs=400, seed=0, dtype=np.float64).weights[0]
    tanh = bp.Network([bp.Dense(300, "tanh")], inputs=400, seed=0, dtype=np.float64).weights[0]
    # uniform_scaled, PyTorch's nn.Linear default: U(±1/√400) = U(±0.05), std 0.05/√3
    assert abs(relu).max() <= 0.05 and abs(relu.std() - 0.05 / np.sqrt(3)) < 0.001
    assert abs(tanh).max() <= np.sqrt(6 / 700)  # glorot_uniform


def test_custom_initializer():
    net = bp.Network([bp.Dense(2, init=lambda rng, n_in, n_out: np.full((n_in, n_out), 0.5))], inputs=3, seed=0)
    np.testing.assert_array_equal(net.weights[0], 0.5)


def test_layers_are_copied_so_one_description_builds_many_networks():
    layers = [bp.Dense(3, "tanh"), bp.Dense(1)]
    a = bp.Network(layers, inputs=2, seed=0)
    b = bp.Network(layers, inputs=5, seed=1)
    assert a.weights[0].shape == (2, 3) and b.weights[0].shape == (5, 3)
    assert a.predict([[1.0, 1.0]]).shape == (1, 1)


def test_deep_and_wide_networks():
    widths = [7, 1, 30, 2, 5, 9, 3, 4, 6, 2]
    net = bp.Network([bp.Dense(w, "tanh") for w in widths], inputs=3, seed=0)
    assert net.sizes == [3, *widths]
    grads = net.gradients(np.ones((4, 3)), np.zeros((4, 2)))
    assert [g[0].shape for g in grads] == [w.shape for w in net.weights]


def test_repr():
    net = bp.Network([bp.Dense(2, "sigmoid", bias=False), bp.Dense(1, "sigmoid", bias=False)], inputs=3)
    assert repr(net) == (
        "Network([Dense(2, activation='sigmoid', bias=False), Dense(1, activation='sigmoid', bias=False)], "
        "inputs=3, dtype=float32)"
    )


def test_history_records_every_epoch_and_callbacks_can_stop():
    class StopAfterThree(bp.Callback):
        def on_epoch_end(self, epoch, logs):
            return epoch == 2

    history = xor_net(0).fit(XOR_X, XOR_Y, optimizer=bp.SGD(0.1), epochs=10, callbacks=[StopAfterThree()])
    assert history.epoch == [0, 1, 2]
    assert len(history["loss"]) == 3


def test_fit_with_sample_weight_zero_ignores_those_samples():
    # Samples with weight 0 contribute nothing: training on (X, w) equals training on the kept rows.
    kept = xor_net(0)
    kept.fit(XOR_X[:3], XOR_Y[:3], optimizer=bp.SGD(0.5), epochs=5, batch_size=None, shuffle=False)
    weighted = xor_net(0)
    weighted.fit(
        XOR_X, XOR_Y, optimizer=bp.SGD(0.5), epochs=5, batch_size=None, shuffle=False, sample_weight=[1, 1, 1, 0]
    )
    np.testing.assert_allclose(weighted.parameters, kept.parameters, rtol=1e-6)


# ------------------------------------------------------------------ sizes


@pytest.mark.parametrize(
    ("layers", "inputs", "dtype", "named"),
    [
        # The issue's --hidden 100000,100000: 37 GiB of weights, and as much again for their gradient.
        (
            [bp.Dense(100_000), bp.Dense(100_000), bp.Dense(2)],
            10,
            np.float32,
            r"widths 10-100000-100000-2 \(10,001,400,002 parameters.* layer 2 alone has 10,000,100,000\)",
        ),
        ([bp.Dense(2)], 10**10, np.float32, r"widths 10000000000-2 .* layer 1 alone"),
        (
            [bp.Dense(40_000, "relu"), bp.Dropout(0.5), bp.Dense(10_000)],
            8,
            np.float64,
            r"widths 8-40000-10000 .*float64",
        ),
    ],
)
def test_a_network_larger_than_memory_is_refused_before_allocating(monkeypatch, layers, inputs, dtype, named):
    monkeypatch.setenv("BACKPROP_MEMORY_LIMIT", "1G")
    tracemalloc.start()
    try:
        with pytest.raises(
            bp.MemoryLimitError, match=named + r".* would need [\d.]+ GiB of memory, more than the 1 GiB"
        ):
            bp.Network(layers, inputs=inputs, dtype=dtype)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # refused before anything large was allocated
    config = {"inputs": inputs, "dtype": np.dtype(dtype).name, "layers": [layer.config() for layer in layers]}
    with pytest.raises(MemoryError):  # a MemoryLimitError is a MemoryError too, from any route
        bp.Network.from_config(config)


def test_fit_gradients_and_loss_refuse_buffers_larger_than_memory(monkeypatch):
    # 5,000 rows through a layer 4,096 wide: 327 MB of buffers for a network of 28,000 parameters.
    net = bp.Network([bp.Dense(4096, "relu"), bp.Dense(2, "softmax")], inputs=4, seed=0)
    X = np.random.default_rng(0).normal(size=(5000, 4)).astype(np.float32)
    y = np.arange(5000) % 2
    before = net.parameters.tobytes()
    monkeypatch.setenv("BACKPROP_MEMORY_LIMIT", "100M")
    with pytest.raises(bp.MemoryLimitError, match=r"training with batch_size=5000 through .* 4-4096-2 would need"):
        net.fit(X, y, loss="crossentropy", batch_size=5000, epochs=1)
    with pytest.raises(bp.MemoryLimitError, match=r"the gradients of 5,000 rows through .* 4-4096-2 would need"):
        net.gradients(X, y, loss="crossentropy")
    with pytest.raises(bp.MemoryLimitError, match=r"the loss of 5,000 rows through .* 4-4096-2 would need"):
        net.loss(X, y, loss="crossentropy")
    assert net.parameters.tobytes() == before
    net.fit(X, y, loss="crossentropy", batch_size=100, epochs=1)  # batches that fit train
    assert net.predict(X).shape == (5000, 2)  # predict works in chunks


def test_predict_memory_grows_with_the_widest_layer_not_the_depth():
    # The 10,000 narrow layers at a smaller scale: 100 layers 8 wide, 4,096 rows. The
    # buffers of every layer at once took 4,096 × 101 × 3 × 8 floats (40 MB); four of the widest, 0.5 MB.
    net = bp.Network([bp.Dense(8, "tanh") for _ in range(100)] + [bp.Dense(2)], inputs=8, seed=0)
    X = np.random.default_rng(0).normal(size=(4096, 8)).astype(np.float32)
    expected = np.concatenate([net.predict(X[:2048]), net.predict(X[2048:])])
    tracemalloc.start()
    try:
        result = net.predict(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)


def exact_network(depth: int, dtype: type) -> tuple[bp.Network, np.ndarray]:
    """Weights in {−1, 0, 1}, integer biases and inputs: every sum is exact in any order."""
    rng = np.random.default_rng(5)
    widths = [5, *([8] * (depth - 1)), 3]
    weights = [rng.integers(-1, 2, size=(n_in, n_out)).astype(dtype) for n_in, n_out in itertools.pairwise(widths)]
    biases = [rng.integers(-2, 3, size=n_out).astype(dtype) for n_out in widths[1:]]
    net = bp.Network.from_weights(weights, activations=[*(["relu"] * (depth - 1)), "identity"], biases=biases)
    X = rng.integers(-2, 3, size=(1000, 5)).astype(dtype)
    return net, X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("budget", [1, 100, 4096, 64 * 2**20])
def test_predict_in_memory_sized_chunks_gives_the_unchunked_bits(monkeypatch, budget, dtype):
    net, X = exact_network(6, dtype)
    # The textbook forward pass over all rows at once.
    a = X
    for layer in net.dense_layers:
        z = a @ layer.W + layer.b
        a = z if layer is net.dense_layers[-1] else np.maximum(z, 0)
    monkeypatch.setattr(bp._memory, "CHUNK_BYTES", budget)
    rows = predict_rows(net.layers, X.shape[0], net.dtype)
    assert rows == max(1, min(1000, budget // (4 * 8 * np.dtype(dtype).itemsize)))
    assert net.predict(X).tobytes() == a.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hidden", ["relu", "tanh", "sigmoid", "elu", "leaky_relu", "softplus", "identity"])
def test_predicts_buffers_give_the_bits_of_the_training_forward_pass(hidden, dtype):
    net = bp.Network(
        [bp.Dense(16, hidden), bp.Dropout(0.5), bp.Dense(7, hidden), bp.Dense(4, "softmax")],
        inputs=5,
        seed=2,
        dtype=dtype,
    )
    X = np.random.default_rng(1).normal(size=(300, 5)).astype(dtype)
    # Four buffers taken in turn hold the same numbers as one buffer per layer.
    forward = Step(net.layers, bp.get_loss("mse")).forward(X, Workspace(net.layers, 300, net.dtype))
    assert net.predict(X).tobytes() == forward.tobytes()


@pytest.mark.parametrize("hidden", ["relu", "identity"])
def test_a_workspaces_first_rows_give_the_bits_of_a_workspace_of_that_many_rows(hidden):
    net = bp.Network([bp.Dense(16, hidden), bp.Dense(3, "softmax")], inputs=5, seed=2)
    X = np.random.default_rng(1).normal(size=(70, 5)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(70) % 3]
    step = Step(net.layers, bp.get_loss("crossentropy"))
    grad = np.empty_like(net.parameters)
    big = Workspace(net.layers, 100, net.dtype, grad)
    view = big.first(70)
    assert view.h[0].shape == (70, 16) and np.shares_memory(view.h[0], big.h[0])
    assert (view.a[0] is view.h[0]) == (hidden == "identity")  # the identity's output is its input, in a view too
    viewed = step.forward(X, view).copy()
    step.backward(view, X, y, 1 / 70)
    viewed_gradient = grad.copy()
    fresh = Workspace(net.layers, 70, net.dtype, grad)
    assert step.forward(X, fresh).tobytes() == viewed.tobytes()
    step.backward(fresh, X, y, 1 / 70)
    assert grad.tobytes() == viewed_gradient.tobytes()
    with pytest.raises(ValueError, match="a view of 101 rows of a workspace of 100"):
        big.first(101)
