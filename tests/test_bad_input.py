"""Bad input gets a clear backprop error; extreme but finite input gets no warning.

Every error must be a ``bp.BackpropError`` and also a ``ValueError`` (or a
``TypeError`` for ``bp.BackpropTypeError``), and its message must name the
parameter or layer, the rule and the value received (DESIGN.md §2).
The last section keeps the defects these tests found in src/, as regression tests.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import numpy as np
import pytest

import backprop as bp

ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "identity", "softmax"]
INITIALIZERS = ["uniform", "normal_scaled", "glorot_uniform", "he_normal"]
LOSSES = ["mse", "binary_crossentropy", "crossentropy"]


@contextmanager
def raises(kind, match):
    """``pytest.raises`` that also checks the error's place in the hierarchy."""
    with pytest.raises(kind, match=match) as info:
        yield info
    assert isinstance(info.value, bp.BackpropError)
    if issubclass(kind, bp.BackpropTypeError):
        assert isinstance(info.value, TypeError)
    else:
        assert isinstance(info.value, ValueError)
        assert not isinstance(info.value, TypeError)


def names_all(prefix, names):
    """A pattern for ``prefix`` followed (anywhere) by every one of ``names``."""
    return prefix + "".join(f"(?=.*'{re.escape(name)}')" for name in names)


def sigmoid_net(inputs=3):
    """3-2-1, tanh hidden, sigmoid output, float64 (so messages show exact values)."""
    return bp.Network([bp.Dense(2, "tanh"), bp.Dense(1, "sigmoid")], inputs=inputs, seed=0, dtype=np.float64)


def softmax_net():
    """3-2-3, tanh hidden, softmax output, float64."""
    return bp.Network([bp.Dense(2, "tanh"), bp.Dense(3, "softmax")], inputs=3, seed=0, dtype=np.float64)


X2 = np.ones((2, 3))
Y2 = np.array([0.0, 1.0])

# Every public entry point that takes data; predict ignores y and the keywords.
ENTRIES = {
    "predict": lambda net, X, y, **kw: net.predict(X),
    "gradients": lambda net, X, y, **kw: net.gradients(X, y, **kw),
    "fit": lambda net, X, y, **kw: net.fit(X, y, **kw),
    "explain": lambda net, X, y, **kw: bp.explain(net, X, y, **kw),
    "gradcheck": lambda net, X, y, **kw: bp.gradcheck(net, X, y, **kw),
}
WITH_Y = [name for name in ENTRIES if name != "predict"]


# ----------------------------------------------------------------- X


class _Thing:
    pass


BAD_X = {
    "features": (
        np.ones((2, 4)),
        bp.ShapeError,
        r"Dense layer 1 expects inputs with 3 features, got array of shape \(2, 4\)",
    ),
    "features-1d": (
        np.ones(4),
        bp.ShapeError,
        r"Dense layer 1 expects inputs with 3 features, got array of shape \(4,\)",
    ),
    "nan": ([[1.0, np.nan, 0.0], [0.0, 0.0, 0.0]], bp.DataError, r"X contains NaN .*row 0, column 1"),
    "inf": ([[1.0, 0.0, 0.0], [0.0, 0.0, -np.inf]], bp.DataError, r"X contains infinity .*row 1, column 2"),
    "empty": (np.ones((0, 3)), bp.DataError, r"X is empty.* shape \(0, 3\)"),
    "complex": (np.ones((2, 3), complex), bp.BackpropTypeError, r"X must be real numbers, got complex array"),
    "string": ([["a", "b", "c"], ["d", "e", "f"]], bp.BackpropTypeError, r"X must be numeric, got array of dtype <U1"),
    "object": (
        np.array([[_Thing(), 1, 2], [0, 1, 2]], dtype=object),
        bp.BackpropTypeError,
        r"X must be an array of numbers, got objects of type \['_Thing', 'int'\]",
    ),
    "ragged": ([[1, 2, 3], [1, 2]], bp.ShapeError, r"X must be a rectangular array, got ragged input"),
    "3d": (
        np.ones((2, 3, 1)),
        bp.ShapeError,
        r"X must be 2-D \(n_samples, n_features\), got array of shape \(2, 3, 1\)",
    ),
}


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("case", BAD_X)
def test_bad_x(entry, case):
    X, kind, match = BAD_X[case]
    y = np.zeros(len(X)) if case != "features-1d" else 0.0
    with raises(kind, match):
        ENTRIES[entry](sigmoid_net(), X, y)


# ----------------------------------------------------------------- y


BAD_Y = {
    "columns": (np.ones((2, 2)), bp.ShapeError, r"y must have shape \(2,\) or \(2, 1\) .*got array of shape \(2, 2\)"),
    # (3, 1) and (3,) both accepted here; test_y_shape_reported_as_given pins (3,).
    "length": (np.ones(3), bp.ShapeError, r"y must have shape \(2,\) or \(2, 1\) .*got array of shape \(3,"),
    "3d": (np.ones((2, 1, 1)), bp.ShapeError, r"y must have shape .*got array of shape \(2, 1, 1\)"),
    "nan": ([0.0, np.nan], bp.DataError, r"y contains NaN .*index 1"),
    "inf": ([np.inf, 0.0], bp.DataError, r"y contains infinity .*index 0"),
    "complex": ([1j, 0], bp.BackpropTypeError, r"y must be real numbers, got complex array"),
    "string": (["a", "b"], bp.BackpropTypeError, r"y must be numeric, got array of dtype <U1"),
    "ragged": ([[1.0], [1.0, 2.0]], bp.ShapeError, r"y must be a rectangular array, got ragged input"),
}


@pytest.mark.parametrize("entry", WITH_Y)
@pytest.mark.parametrize("case", BAD_Y)
def test_bad_y(entry, case):
    y, kind, match = BAD_Y[case]
    with raises(kind, match):
        ENTRIES[entry](sigmoid_net(), X2, y)


# ------------------------------------------------------ targets and losses


BAD_TARGETS = {
    "ce-negative-index": ("crossentropy", [0, -1], bp.DataError, r"crossentropy targets .*class indices 0\.\.2.*-1"),
    "ce-index-too-big": (
        "crossentropy",
        [0, 3],
        bp.DataError,
        r"crossentropy targets .*class indices 0\.\.2, got .*\b3\b",
    ),
    "ce-non-integer": ("crossentropy", [0, 1.5], bp.DataError, r"crossentropy targets .*class indices 0\.\.2.*1\.5"),
    "ce-wrong-length": ("crossentropy", [0, 1, 2], bp.ShapeError, r"y must have 2 class indices, got .*shape \(3,\)"),
    "ce-not-summing-to-1": (
        "crossentropy",
        [[1, 0, 0], [0.5, 0.4, 0]],
        bp.DataError,
        r"crossentropy targets .*one-hot rows .*summing to 1.*row 1 is \[0\.5, 0\.4, 0\.0\]",
    ),
    "ce-negative-probability": (
        "crossentropy",
        [[1, 0, 0], [1.5, -0.5, 0]],
        bp.DataError,
        r"crossentropy targets .*one-hot rows .*row 1 is \[1\.5, -0\.5, 0\.0\]",
    ),
    "ce-wrong-columns": ("crossentropy", [[1, 0], [0, 1]], bp.ShapeError, r"y must have shape \(2, 3\).*\(2, 2\)"),
    "bce-above-1": (
        "binary_crossentropy",
        [0, 2],
        bp.DataError,
        r"binary_crossentropy targets must lie in \[0, 1\].*2",
    ),
    "bce-below-0": ("binary_crossentropy", [-0.5, 1], bp.DataError, r"binary_crossentropy targets must lie in .*-0\.5"),
}


@pytest.mark.parametrize("entry", WITH_Y)
@pytest.mark.parametrize("case", BAD_TARGETS)
def test_bad_targets(entry, case):
    loss, y, kind, match = BAD_TARGETS[case]
    net = softmax_net() if loss == "crossentropy" else sigmoid_net()
    with raises(kind, match):
        ENTRIES[entry](net, X2, y, loss=loss)


@pytest.mark.parametrize("entry", WITH_Y)
@pytest.mark.parametrize(
    ("net", "loss", "match"),
    [
        (
            sigmoid_net,
            "crossentropy",
            r"loss 'crossentropy' needs a softmax output layer; layer 2 has activation 'sigmoid'",
        ),
        (
            lambda: bp.Network([bp.Dense(1)], inputs=3),
            "binary_crossentropy",
            r"loss 'binary_crossentropy' needs a sigmoid output layer; layer 1 has activation 'identity'",
        ),
        (sigmoid_net, "hinge", names_all(r"(?s)Unknown loss 'hinge'; expected one of", LOSSES)),
        (sigmoid_net, None, r"Unknown loss None"),
    ],
    ids=["ce-on-sigmoid", "bce-on-identity", "unknown", "none"],
)
def test_bad_loss(entry, net, loss, match):
    with raises(bp.ParameterError, match):
        ENTRIES[entry](net(), X2, Y2, loss=loss)


# --------------------------------------------------------- sample_weight


BAD_SAMPLE_WEIGHT = {
    "negative": ([1.0, -1.0], bp.DataError, r"sample_weight must be >= 0, got sample_weight\[1\] = -1"),
    "all-zero": ([0.0, 0.0], bp.DataError, r"sample_weight must have a positive sum, got all zeros"),
    "too-long": ([1.0, 1.0, 1.0], bp.ShapeError, r"sample_weight must have shape \(2,\).*got array of shape \(3,\)"),
    "2d": ([[1.0, 1.0]], bp.ShapeError, r"sample_weight must have shape \(2,\).*got array of shape \(1, 2\)"),
    "nan": ([1.0, np.nan], bp.DataError, r"sample_weight contains NaN .*index 1"),
    "string": (["a", "b"], bp.BackpropTypeError, r"sample_weight must be numeric"),
}


@pytest.mark.parametrize("entry", WITH_Y)
@pytest.mark.parametrize("case", BAD_SAMPLE_WEIGHT)
def test_bad_sample_weight(entry, case):
    weights, kind, match = BAD_SAMPLE_WEIGHT[case]
    with raises(kind, match):
        ENTRIES[entry](sigmoid_net(), X2, Y2, sample_weight=weights)


# ------------------------------------------------- the network's parameters


def _nan_in_weights(net):
    net.weights[0][0, 0] = np.nan


def _inf_in_bias(net):
    net.biases[1][0] = np.inf


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize(
    ("spoil", "match"),
    [
        (_nan_in_weights, r"W\[1\] of layer 1 contains NaN \(1 non-finite value, first at row 0, column 0\)"),
        (_inf_in_bias, r"b\[2\] of layer 2 contains infinity \(1 non-finite value, first at index 0\)"),
    ],
    ids=["nan-weight", "inf-bias"],
)
def test_non_finite_parameters(entry, spoil, match):
    net = sigmoid_net()
    spoil(net)
    with raises(bp.DataError, match):
        ENTRIES[entry](net, X2, Y2)


def test_non_finite_parameters_name_the_layer():
    net = sigmoid_net()
    net.weights[1][1, 0] = np.nan
    with raises(bp.DataError, r"W\[2\] of layer 2 contains NaN \(1 non-finite value, first at row 1, column 0\)"):
        net.predict(X2)


# --------------------------------------------------------- custom activations


def _wrong_function(z):
    return z[:, :1]


def _wrong_derivative(z):
    return np.ones(z.shape[0])


def _custom_net(function, derivative):
    return bp.Network([bp.Dense(2, (function, derivative)), bp.Dense(1, "sigmoid")], inputs=3, dtype=np.float64)


@pytest.mark.parametrize("entry", ENTRIES)
def test_custom_activation_function_wrong_shape(entry):
    net = _custom_net(_wrong_function, np.ones_like)
    match = (
        r"custom activation '_wrong_function': function must return an array shaped like z \(2, 2\), got shape \(2, 1\)"
    )
    with raises(bp.ShapeError, match):
        ENTRIES[entry](net, X2, Y2)


@pytest.mark.parametrize("entry", WITH_Y)
def test_custom_activation_derivative_wrong_shape(entry):
    net = _custom_net(np.tanh, _wrong_derivative)
    match = r"custom activation 'tanh': derivative must return an array shaped like z \(2, 2\), got shape \(2,\)"
    with raises(bp.ShapeError, match):
        ENTRIES[entry](net, X2, Y2)


# ------------------------------------------------------ building and settings


W32 = np.ones((3, 2))
W21 = np.ones((2, 1))

BUILD_ERRORS = [
    # Dense
    (lambda: bp.Dense(0), bp.ParameterError, r"units must be a positive integer, got units=0"),
    (lambda: bp.Dense(-1), bp.ParameterError, r"units must be a positive integer, got units=-1"),
    (lambda: bp.Dense(2.5), bp.ParameterError, r"units must be a positive integer, got units=2\.5"),
    (lambda: bp.Dense(True), bp.ParameterError, r"units must be a positive integer, got units=True"),
    (lambda: bp.Dense(2, "swish"), bp.ParameterError, names_all(r"(?s)Unknown activation 'swish'", ACTIVATIONS)),
    (lambda: bp.Dense(2, init="zeros"), bp.ParameterError, names_all(r"(?s)Unknown initializer 'zeros'", INITIALIZERS)),
    (lambda: bp.Dense(2, None), bp.BackpropTypeError, r"activation must be a name, .*got None"),
    (
        lambda: bp.Dense(2, (1, 2)),
        bp.BackpropTypeError,
        r"activation must be a name, an Activation or a \(function, derivative\) pair, got \(1, 2\)",
    ),
    # Network
    (
        lambda: bp.Network([bp.Dense(1)], inputs=0),
        bp.ParameterError,
        r"inputs must be a positive integer, got inputs=0",
    ),
    (
        lambda: bp.Network([bp.Dense(1)], inputs=-1),
        bp.ParameterError,
        r"inputs must be a positive integer, got inputs=-1",
    ),
    (
        lambda: bp.Network([bp.Dense(1)], inputs=2.5),
        bp.ParameterError,
        r"inputs must be a positive integer, got inputs=2\.5",
    ),
    (
        lambda: bp.Network([bp.Dense(3, "softmax"), bp.Dense(1)], inputs=2),
        bp.ParameterError,
        r"activation 'softmax' is for the output layer only; layer 1 of 2 is hidden",
    ),
    (
        lambda: bp.Network([bp.Dense(1, "softmax")], inputs=2),
        bp.ParameterError,
        r"softmax on layer 1 needs at least 2 units, got units=1",
    ),
    (
        lambda: bp.Network([bp.Dense(2), "relu"], inputs=3),
        bp.BackpropTypeError,
        r"layer 2 must be a Dense or Dropout layer, got 'relu'",
    ),
    (
        lambda: bp.Network([bp.Dense(2), bp.Dense], inputs=3),
        bp.BackpropTypeError,
        r"layer 2 must be a Dense or Dropout layer, got <class",
    ),
    (lambda: bp.Network([], inputs=3), bp.ParameterError, r"layers must be a non-empty list of Dense layers, got \[\]"),
    (
        lambda: bp.Network([bp.Dense(1)], inputs=3, dtype=np.int32),
        bp.ParameterError,
        r"dtype must be float32 or float64",
    ),
    # Network.from_weights
    (
        lambda: bp.Network.from_weights([W32, np.ones((3, 1))]),
        bp.ShapeError,
        r"weights do not chain: weights\[0\] has shape \(3, 2\) .*weights\[1\] has shape \(3, 1\)",
    ),
    (
        lambda: bp.Network.from_weights([W32, W21], biases=[np.ones(3), None]),
        bp.ShapeError,
        r"biases\[0\] must have shape \(2,\) to match weights\[0\], got \(3,\)",
    ),
    (
        lambda: bp.Network.from_weights([W32, W21], biases=[None, np.ones((1, 1))]),
        bp.ShapeError,
        r"biases\[1\] must have shape \(1,\) .*got \(1, 1\)",
    ),
    (
        lambda: bp.Network.from_weights([W32, W21], activations=["sigmoid"] * 3),
        bp.ParameterError,
        r"activations must have one entry per layer \(2\), got 3",
    ),
    (
        lambda: bp.Network.from_weights([W32, W21], activations=["sigmoid"]),
        bp.ParameterError,
        r"activations must have one entry per layer \(2\), got 1",
    ),
    (
        lambda: bp.Network.from_weights([W32, W21], biases=[np.ones(2)]),
        bp.ParameterError,
        r"biases must be None or a list of 2 arrays",
    ),
    (
        lambda: bp.Network.from_weights([np.ones(3)]),
        bp.ShapeError,
        r"weights\[0\] must be a non-empty 2-D array \(n_in, n_out\), got shape \(3,\)",
    ),
    (
        lambda: bp.Network.from_weights([W32, np.array([[1.0], [np.nan]])]),
        bp.DataError,
        r"weights\[1\] contains NaN .*row 1, column 0",
    ),
    (
        lambda: bp.Network.from_weights([W32], biases=[[0.0, np.inf]]),
        bp.DataError,
        r"biases\[0\] contains infinity .*index 1",
    ),
    (
        lambda: bp.Network.from_weights([W32], biases=[[0.0, np.nan]]),
        bp.DataError,
        r"biases\[0\] contains NaN .*index 1",
    ),
    (
        lambda: bp.Network.from_weights([np.ones((2, 2), complex)]),
        bp.BackpropTypeError,
        r"weights\[0\] must be real numbers, got complex",
    ),
    (lambda: bp.Network.from_weights([[["a"]]]), bp.BackpropTypeError, r"weights\[0\] must be numeric, got .*<U1"),
    (lambda: bp.Network.from_weights([[[1, 2], [1]]]), bp.ShapeError, r"weights\[0\] must be a rectangular array"),
    (
        lambda: bp.Network.from_weights([W32], activations="swish"),
        bp.ParameterError,
        names_all(r"(?s)Unknown activation 'swish'", ACTIVATIONS),
    ),
    (
        lambda: bp.Network.from_weights([W32, np.ones((2, 2))], activations=["softmax", "softmax"]),
        bp.ParameterError,
        r"activation 'softmax' is for the output layer only; layer 1 of 2 is hidden",
    ),
    (
        lambda: bp.Network.from_weights([W32, W21], activations=["tanh", "softmax"]),
        bp.ParameterError,
        r"softmax on layer 2 needs at least 2 units, got units=1",
    ),
    # SGD
    (lambda: bp.SGD(0), bp.ParameterError, r"lr must be a positive number, got lr=0"),
    (lambda: bp.SGD(-1), bp.ParameterError, r"lr must be a positive number, got lr=-1"),
    (lambda: bp.SGD(float("nan")), bp.ParameterError, r"lr must be a positive number, got lr=nan"),
    (lambda: bp.SGD(float("inf")), bp.ParameterError, r"lr must be a positive number, got lr=inf"),
    (lambda: bp.SGD("0.1"), bp.ParameterError, r"lr must be a positive number, got lr='0\.1'"),
    # explain, gradcheck
    (
        lambda: bp.explain(sigmoid_net(), X2, Y2, learning_rate=0),
        bp.ParameterError,
        r"learning_rate must be a positive number, got learning_rate=0",
    ),
    (
        lambda: bp.explain(sigmoid_net(), X2, Y2, learning_rate=-0.5),
        bp.ParameterError,
        r"learning_rate must be a positive number, got learning_rate=-0\.5",
    ),
    (
        lambda: bp.explain(sigmoid_net(), X2, Y2, learning_rate=float("nan")),
        bp.ParameterError,
        r"learning_rate must be a positive number, got learning_rate=nan",
    ),
    (lambda: bp.explain("net", X2, Y2), bp.BackpropTypeError, r"expected a backprop\.Network, got str"),
    (lambda: bp.explain([W32, W21], X2, Y2), bp.BackpropTypeError, r"expected a backprop\.Network, got list"),
    (lambda: bp.gradcheck(None, X2, Y2), bp.BackpropTypeError, r"expected a backprop\.Network, got NoneType"),
    (lambda: bp.gradcheck(bp.Dense(1), X2, Y2), bp.BackpropTypeError, r"expected a backprop\.Network, got Dense"),
    (
        lambda: bp.gradcheck(sigmoid_net(), X2, Y2, step=0),
        bp.ParameterError,
        r"step must be a positive number, got step=0",
    ),
    # fit
    (
        lambda: sigmoid_net().fit(X2, Y2, epochs=0),
        bp.ParameterError,
        r"epochs must be a positive integer, got epochs=0",
    ),
    (
        lambda: sigmoid_net().fit(X2, Y2, epochs=1.5),
        bp.ParameterError,
        r"epochs must be a positive integer, got epochs=1\.5",
    ),
    (
        lambda: sigmoid_net().fit(X2, Y2, batch_size=0),
        bp.ParameterError,
        r"batch_size must be a positive integer, got batch_size=0",
    ),
    (
        lambda: sigmoid_net().fit(X2, Y2, batch_size=-4),
        bp.ParameterError,
        r"batch_size must be a positive integer, got batch_size=-4",
    ),
    (
        lambda: sigmoid_net().fit(X2, Y2, optimizer="sgdd"),
        bp.ParameterError,
        r"Unknown optimizer 'sgdd'",
    ),
    (
        lambda: sigmoid_net().fit(X2, Y2, optimizer=0.1),
        bp.BackpropTypeError,
        r"optimizer must be a backprop Optimizer such as bp\.SGD\(0\.1\) or a name, got 0\.1",
    ),
]


@pytest.mark.parametrize(("build", "kind", "match"), BUILD_ERRORS)
def test_bad_argument(build, kind, match):
    with raises(kind, match):
        build()


def test_bad_arguments_leave_the_network_unchanged():
    net = sigmoid_net()
    before = net.parameters.copy()
    for call in (
        lambda: net.fit(X2, Y2, epochs=0),
        lambda: net.fit(X2, [0.0, np.nan]),
        lambda: net.fit(X2, Y2, sample_weight=[1.0, -1.0]),
    ):
        with pytest.raises(bp.BackpropError):
            call()
    np.testing.assert_array_equal(net.parameters, before)


# ------------------------------------------------- extreme but finite inputs


def _extreme_cases():
    for dtype in (np.float32, np.float64):
        for activation in ACTIVATIONS:
            losses = ["mse", *{"sigmoid": ["binary_crossentropy"], "softmax": ["crossentropy"]}.get(activation, [])]
            for loss in losses:
                yield pytest.param(dtype, activation, loss, id=f"{np.dtype(dtype).name}-{activation}-{loss}")


@pytest.mark.parametrize(("dtype", "activation", "loss"), list(_extreme_cases()))
def test_extreme_inputs_are_finite_and_warning_free(dtype, activation, loss):
    # filterwarnings=error turns any numpy overflow/invalid warning into a failure.
    rng = np.random.default_rng(0)
    X = rng.choice([-1e4, 1e4], size=(6, 3)).astype(dtype)
    n_out = 3 if activation == "softmax" else 2
    hidden = "tanh" if activation == "softmax" else activation
    if loss == "crossentropy":
        y = np.array([0, 1, 2, 0, 1, 2])
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, size=(6, n_out)).astype(float)
    else:
        y = rng.normal(size=(6, n_out))
    architectures = [
        [bp.Dense(n_out, activation)],
        [bp.Dense(5, hidden, init="uniform"), bp.Dense(4, hidden), bp.Dense(n_out, activation, init="uniform")],
    ]
    for layers in architectures:
        net = bp.Network(layers, inputs=3, seed=1, dtype=dtype)
        prediction = net.predict(X)
        assert prediction.dtype == dtype
        assert np.isfinite(prediction).all()
        assert np.isfinite(net.loss(X, y, loss=loss))
        for dW, db in net.gradients(X, y, loss=loss):
            assert np.isfinite(dW).all()
            assert db is None or np.isfinite(db).all()
        trace = bp.explain(net, X, y, loss=loss, learning_rate=0.5)
        assert np.isfinite(trace.loss_value)
        assert all(np.isfinite(delta).all() for delta in trace.weight_deltas)
        history = net.fit(X, y, loss=loss, optimizer=bp.SGD(1e-12), epochs=1, batch_size=4, seed=0)
        assert np.isfinite(history.loss).all()
        assert np.isfinite(net.parameters).all()
    report = bp.gradcheck(net, X[:2], y[:2], loss=loss)
    assert np.isfinite(report.max_abs_error)


# ------------------------------------------- defects found by these tests, now fixed


@pytest.mark.parametrize(
    ("call", "kind", "match"),
    [
        (lambda: sigmoid_net().predict(None), bp.BackpropTypeError, r"X must be an array of numbers, got None"),
        (lambda: sigmoid_net().predict(np.nan), bp.DataError, r"X is NaN"),
        (lambda: sigmoid_net().gradients(X2, None), bp.BackpropTypeError, r"y must be an array of numbers, got None"),
    ],
    ids=["X-None", "X-scalar-nan", "y-None"],
)
def test_zero_dimensional_input(call, kind, match):
    with raises(kind, match):
        call()


def test_finite_float64_beyond_float32_range():
    net = bp.Network([bp.Dense(1)], inputs=3, dtype=np.float32)
    with raises(bp.DataError, r"X has values beyond the range of float32 \(largest magnitude 1e\+300\)"):
        net.predict([[1e300, 0.0, 0.0]])


@pytest.mark.parametrize(
    ("big", "match"),
    [(2**200, r"X has values beyond the range of float32"), (10**400, r"X has integers beyond the range of float64")],
    ids=["2**200", "10**400"],
)
def test_huge_python_ints(big, match):
    net = bp.Network([bp.Dense(1)], inputs=3, dtype=np.float32)
    with raises(bp.DataError, match):
        net.predict([[big, 0, 0]])


@pytest.mark.parametrize(
    ("function", "dtype"),
    [(lambda z: z + 1j, "complex64"), (lambda z: np.full(z.shape, "a"), "<U1")],
    ids=["complex", "string"],
)
def test_custom_activation_returning_non_real(function, dtype):
    net = bp.Network([bp.Dense(2, (function, np.ones_like))], inputs=3)
    with raises(
        bp.BackpropTypeError,
        rf"custom activation '<lambda>': function must return real numbers, got array of dtype {dtype}",
    ):
        net.predict(X2)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: softmax_net().gradients(X2, [0, 5], loss="crossentropy"), r"class indices 0\.\.2, got y\[1\] = 5$"),
        (
            lambda: sigmoid_net().gradients(X2, [0, 2], loss="binary_crossentropy"),
            r"got y\[1, 0\] = 2 \(values from 0 to 2\)",
        ),
        (lambda: sigmoid_net().gradients(X2, Y2, sample_weight=[1, -1]), r"got sample_weight\[1\] = -1$"),
    ],
    ids=["crossentropy-index", "binary_crossentropy", "sample_weight"],
)
def test_messages_show_plain_numbers(call, match):
    with pytest.raises(bp.DataError, match=match) as info:
        call()
    assert "np.float" not in str(info.value)


def test_non_integer_class_index_is_named():
    with raises(bp.DataError, r"got y\[1\] = 1\.5"):
        softmax_net().gradients(np.ones((3, 3)), [0, 1.5, 2], loss="crossentropy")


def test_y_shape_reported_as_given():
    with raises(bp.ShapeError, r"got array of shape \(3,\)"):
        sigmoid_net().gradients(X2, np.ones(3))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: bp.Network.from_weights([W32, W21], biases=[np.ones(2)]), r"biases must .*, got 1 entries"),
        (lambda: bp.Network.from_weights([]), r"weights must .*, got \[\]"),
        (lambda: bp.Network.from_weights(np.ones((3, 2))), r"weights must .*, got array of shape \(3, 2\)"),
    ],
    ids=["biases-count", "weights-empty", "weights-ndarray"],
)
def test_from_weights_messages_name_the_value(call, match):
    with raises(bp.ParameterError, match):
        call()


@pytest.mark.parametrize(
    ("call", "kind", "match"),
    [
        (
            lambda: bp.Network([bp.Dense(1)], inputs=3, seed="a"),
            bp.ParameterError,
            r"seed must be None or a non-negative integer, got seed='a'",
        ),
        (lambda: bp.Network([bp.Dense(1)], inputs=3, seed=-1), bp.ParameterError, r"got seed=-1"),
        (lambda: sigmoid_net().fit(X2, Y2, seed=1.5), bp.ParameterError, r"got seed=1\.5"),
        (
            lambda: sigmoid_net().fit(X2, Y2, callbacks=[1]),
            bp.BackpropTypeError,
            r"callbacks must be backprop Callback instances, got 1",
        ),
        (lambda: bp.Dense(2, bias="no"), bp.BackpropTypeError, r"bias must be True or False, got bias='no'"),
    ],
    ids=["seed-str", "seed-negative", "fit-seed-float", "callback-int", "bias-str"],
)
def test_unchecked_arguments(call, kind, match):
    with raises(kind, match):
        call()


def test_callbacks_none_means_no_callbacks():
    assert len(sigmoid_net().fit(X2, Y2, callbacks=None)) == 1
