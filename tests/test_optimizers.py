"""Optimizers: hand-worked steps, a plain numpy reference of each torch.optim rule,
torch.optim itself (when installed), dtypes, state round trips, allocation and bad input.

The hand-worked steps all start from θ = [1, −2] and take the gradients
g₁ = [1, 2], g₂ = [−1, 1], g₃ = [0.5, −0.5].
"""

import json
import tracemalloc

import numpy as np
import pytest

import backprop as bp
from backprop.optimizers import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, get_optimizer

THETA = [1.0, -2.0]
GRADIENTS = [[1.0, 2.0], [-1.0, 1.0], [0.5, -0.5]]
TOL = 1e-8


def trajectory(optimizer, n_steps=3, theta=THETA, gradients=GRADIENTS, dtype=np.float64):
    """θ after each of the first ``n_steps`` steps."""
    parameters = np.array(theta, dtype)
    after = []
    for gradient in gradients[:n_steps]:
        optimizer.step(parameters, np.array(gradient, dtype))
        after.append(parameters.copy())
    return after


# -- hand-worked steps --------------------------------------------------------


def test_sgd_is_the_seeds_weight_update():
    # Δθ = −η g with η = 0.1:
    #   θ₁ = [1 − 0.1·1, −2 − 0.1·2]       = [0.9, −2.2]
    #   θ₂ = [0.9 + 0.1·1, −2.2 − 0.1·1]   = [1.0, −2.3]
    #   θ₃ = [1.0 − 0.05, −2.3 + 0.05]     = [0.95, −2.25]
    np.testing.assert_allclose(trajectory(SGD(0.1)), [[0.9, -2.2], [1.0, -2.3], [0.95, -2.25]], atol=1e-15)


def test_sgd_with_momentum():
    # b ← 0.9 b + g, Δθ = −0.1 b:
    #   b₁ = g₁ = [1, 2]                                   θ₁ = [0.9, −2.2]
    #   b₂ = 0.9·[1, 2] + [−1, 1] = [−0.1, 2.8]            θ₂ = [0.9 + 0.01, −2.2 − 0.28] = [0.91, −2.48]
    #   b₃ = 0.9·[−0.1, 2.8] + [0.5, −0.5] = [0.41, 2.02]  θ₃ = [0.91 − 0.041, −2.48 − 0.202] = [0.869, −2.682]
    np.testing.assert_allclose(
        trajectory(SGD(0.1, momentum=0.9)), [[0.9, -2.2], [0.91, -2.48], [0.869, -2.682]], atol=1e-14
    )


def test_sgd_with_nesterov_momentum():
    # b ← 0.9 b + g, d = g + 0.9 b, Δθ = −0.1 d:
    #   b₁ = [1, 2],       d₁ = [1, 2] + [0.9, 1.8] = [1.9, 3.8]            θ₁ = [0.81, −2.38]
    #   b₂ = [−0.1, 2.8],  d₂ = [−1, 1] + [−0.09, 2.52] = [−1.09, 3.52]     θ₂ = [0.919, −2.732]
    #   b₃ = [0.41, 2.02], d₃ = [0.5, −0.5] + [0.369, 1.818] = [0.869, 1.318]  θ₃ = [0.8321, −2.8638]
    np.testing.assert_allclose(
        trajectory(SGD(0.1, momentum=0.9, nesterov=True)),
        [[0.81, -2.38], [0.919, -2.732], [0.8321, -2.8638]],
        atol=1e-14,
    )


def test_sgd_with_weight_decay_adds_lambda_theta_to_the_gradient():
    # g ← g + 0.5 θ, Δθ = −0.1 g:
    #   g₁ = [1, 2] + [0.5, −1] = [1.5, 1]                θ₁ = [0.85, −2.1]
    #   g₂ = [−1, 1] + [0.425, −1.05] = [−0.575, −0.05]   θ₂ = [0.9075, −2.095]
    np.testing.assert_allclose(
        trajectory(SGD(0.1, weight_decay=0.5), n_steps=2), [[0.85, -2.1], [0.9075, -2.095]], atol=1e-14
    )


def test_adam():
    # η = 0.1, β = (0.9, 0.999), ε = 1e-8.
    # Step 1: m = 0.1·g₁ = [0.1, 0.2], v = 0.001·g₁² = [0.001, 0.004]
    #   m / (1 − 0.9) = [1, 2], √v / √(1 − 0.999) = [1, 2]
    #   Δθ = −0.1·[1/(1 + 1e-8), 2/(2 + 1e-8)] = [−0.099999999, −0.0999999995]
    #   θ₁ = [0.900000001, −2.0999999995]
    # Step 2: m = 0.9·[0.1, 0.2] + 0.1·[−1, 1] = [−0.01, 0.28]
    #   v = 0.999·[0.001, 0.004] + 0.001·[1, 1] = [0.001999, 0.004996]
    #   1 − 0.9² = 0.19, 1 − 0.999² = 0.001999
    #   √v / √0.001999 = [1, √(0.004996/0.001999)] = [1, 1.58090...]
    #   Δθ = −0.1/0.19 · [−0.01/1, 0.28/1.58090...] = [0.0052631579, −0.0932179633]
    #   θ₂ = [0.9052631589, −2.1932179628]
    np.testing.assert_allclose(
        trajectory(Adam(0.1), n_steps=2), [[0.900000001, -2.0999999995], [0.9052631589, -2.1932179628]], atol=TOL
    )


def test_adamw_decays_the_weights_outside_the_moments():
    # θ ← θ (1 − η λ) = θ · 0.95, then Adam's step (the moments see g alone, so Δθ is Adam's):
    #   θ₁ = [0.95 − 0.099999999, −1.9 − 0.0999999995] = [0.850000001, −1.9999999995]
    #   θ₂ = [0.850000001·0.95 + 0.0052631579, −1.9999999995·0.95 − 0.0932179633]
    #      = [0.8127631589, −1.9932179628]
    np.testing.assert_allclose(
        trajectory(AdamW(0.1, weight_decay=0.5), n_steps=2),
        [[0.850000001, -1.9999999995], [0.8127631589, -1.9932179628]],
        atol=TOL,
    )


def test_rmsprop():
    # η = 0.1, α = 0.99, ε = 1e-8.
    # Step 1: s = 0.01·g₁² = [0.01, 0.04], √s = [0.1, 0.2]
    #   Δθ = −0.1·[1/0.1, 2/0.2] = [−1, −1] (to 1e-7, the ε)     θ₁ = [0, −3]
    # Step 2: s = 0.99·[0.01, 0.04] + 0.01·[1, 1] = [0.0199, 0.0496]
    #   Δθ = −0.1·[−1/√0.0199, 1/√0.0496] = [0.7088812, −0.4490133]  θ₂ = [0.7088812, −3.4490133]
    np.testing.assert_allclose(trajectory(RMSprop(0.1), n_steps=2), [[0.0, -3.0], [0.7088812, -3.4490132]], atol=2e-7)


def test_rmsprop_centered_with_momentum():
    # η = 0.1, α = 0.99, μ = 0.5, step 1:
    #   s = [0.01, 0.04], ḡ = 0.01·g₁ = [0.01, 0.02]
    #   r = √(s − ḡ²) + ε = [√0.0099, √0.0396] + 1e-8 = [0.0994987537, 0.1989975075]
    #   b = g / r = [10.0503771, 10.0503771], Δθ = −0.1 b       θ₁ = [−0.00503771, −3.00503771]
    np.testing.assert_allclose(
        trajectory(RMSprop(0.1, momentum=0.5, centered=True), n_steps=1), [[-0.00503771, -3.00503771]], atol=TOL
    )


def test_adagrad_with_lr_decay_and_initial_accumulator():
    # η = 0.5, κ = 0.5, S₀ = 1.
    # Step 1: η₁ = 0.5, S = 1 + g₁² = [2, 5]
    #   Δθ = −0.5·[1/√2, 2/√5] = [−0.3535534, −0.4472136]        θ₁ = [0.6464466, −2.4472136]
    # Step 2: η₂ = 0.5 / (1 + 0.5) = 1/3, S = [3, 6]
    #   Δθ = −(1/3)·[−1/√3, 1/√6] = [0.1924501, −0.1360828]      θ₂ = [0.8388967, −2.5832964]
    np.testing.assert_allclose(
        trajectory(Adagrad(0.5, lr_decay=0.5, initial_accumulator_value=1.0), n_steps=2),
        [[0.6464466, -2.4472136], [0.8388967, -2.5832964]],
        atol=1e-7,
    )


# -- a plain numpy reference of each torch.optim update rule ------------------
# One step of each rule as written in the torch.optim documentation, with new
# arrays at every line: nothing in place, nothing shared with the library.


class ReferenceSGD:
    def __init__(self, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        self.lr, self.momentum, self.nesterov, self.weight_decay = lr, momentum, nesterov, weight_decay
        self.b = None

    def step(self, theta, g):
        g = g + self.weight_decay * theta
        if self.momentum:
            self.b = g.copy() if self.b is None else self.momentum * self.b + g
            g = g + self.momentum * self.b if self.nesterov else self.b
        return theta - self.lr * g


class ReferenceAdam:
    decoupled = False

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.m = self.v = 0.0
        self.t = 0

    def step(self, theta, g):
        (beta1, beta2), self.t = self.betas, self.t + 1
        if self.decoupled:
            theta = theta * (1 - self.lr * self.weight_decay)
        else:
            g = g + self.weight_decay * theta
        self.m = beta1 * self.m + (1 - beta1) * g
        self.v = beta2 * self.v + (1 - beta2) * g**2
        m_hat = self.m / (1 - beta1**self.t)
        return theta - self.lr * m_hat / (np.sqrt(self.v) / np.sqrt(1 - beta2**self.t) + self.eps)


class ReferenceAdamW(ReferenceAdam):
    decoupled = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(lr, betas, eps, weight_decay)


class ReferenceRMSprop:
    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, centered=False, weight_decay=0.0):
        self.lr, self.alpha, self.eps, self.momentum = lr, alpha, eps, momentum
        self.centered, self.weight_decay = centered, weight_decay
        self.s = self.g_avg = self.b = 0.0

    def step(self, theta, g):
        g = g + self.weight_decay * theta
        self.s = self.alpha * self.s + (1 - self.alpha) * g**2
        if self.centered:
            self.g_avg = self.alpha * self.g_avg + (1 - self.alpha) * g
            r = np.sqrt(self.s - self.g_avg**2) + self.eps
        else:
            r = np.sqrt(self.s) + self.eps
        if self.momentum:
            self.b = self.momentum * self.b + g / r
            return theta - self.lr * self.b
        return theta - self.lr * g / r


class ReferenceAdagrad:
    def __init__(self, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        self.lr, self.lr_decay, self.weight_decay, self.eps = lr, lr_decay, weight_decay, eps
        self.S = initial_accumulator_value
        self.t = 0

    def step(self, theta, g):
        self.t += 1
        g = g + self.weight_decay * theta
        lr = self.lr / (1 + (self.t - 1) * self.lr_decay)
        self.S = self.S + g**2
        return theta - lr * g / (np.sqrt(self.S) + self.eps)


REFERENCES = {
    SGD: ReferenceSGD,
    Adam: ReferenceAdam,
    AdamW: ReferenceAdamW,
    RMSprop: ReferenceRMSprop,
    Adagrad: ReferenceAdagrad,
}

COMBOS = [
    (SGD, {"lr": 0.1}),
    (SGD, {"lr": 0.05, "momentum": 0.9}),
    (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    (SGD, {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.1}),
    (SGD, {"lr": 0.1, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    (Adam, {}),
    (Adam, {"lr": 0.01, "betas": (0.5, 0.9), "eps": 1e-6, "weight_decay": 0.1}),
    (AdamW, {}),
    (AdamW, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-4, "weight_decay": 0.3}),
    (RMSprop, {}),
    (RMSprop, {"lr": 0.001, "alpha": 0.9, "momentum": 0.9}),
    (RMSprop, {"lr": 0.01, "centered": True, "weight_decay": 0.05}),
    (RMSprop, {"lr": 0.01, "alpha": 0.5, "eps": 1e-3, "momentum": 0.5, "centered": True, "weight_decay": 0.1}),
    (Adagrad, {}),
    (Adagrad, {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-6}),
]
COMBO_IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(COMBOS)]


def random_run(n_steps=20, size=17, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=size).astype(dtype)
    gradients = [rng.normal(scale=rng.uniform(0.1, 3.0), size=size).astype(dtype) for _ in range(n_steps)]
    return theta, gradients


@pytest.mark.parametrize(("cls", "kwargs"), COMBOS, ids=COMBO_IDS)
def test_every_step_agrees_with_the_plain_reference(cls, kwargs):
    theta, gradients = random_run()
    optimizer, reference = cls(**kwargs), REFERENCES[cls](**kwargs)
    parameters, expected = theta.copy(), theta.copy()
    for t, gradient in enumerate(gradients, start=1):
        optimizer.step(parameters, gradient.copy())
        expected = reference.step(expected, gradient)
        np.testing.assert_allclose(parameters, expected, rtol=1e-12, atol=1e-13, err_msg=f"step {t}")
    assert optimizer.steps == len(gradients)


@pytest.mark.parametrize(("cls", "kwargs"), COMBOS, ids=COMBO_IDS)
def test_every_step_agrees_with_torch_optim(cls, kwargs):
    torch = pytest.importorskip("torch")
    theirs = {SGD: torch.optim.SGD, Adam: torch.optim.Adam, AdamW: torch.optim.AdamW}
    theirs |= {RMSprop: torch.optim.RMSprop, Adagrad: torch.optim.Adagrad}
    theta, gradients = random_run(seed=1)
    parameters = theta.copy()
    tensor = torch.tensor(theta.copy(), dtype=torch.float64, requires_grad=True)
    optimizer, reference = cls(**kwargs), theirs[cls]([tensor], foreach=False, **kwargs)
    for t, gradient in enumerate(gradients, start=1):
        optimizer.step(parameters, gradient.copy())
        tensor.grad = torch.tensor(gradient.copy(), dtype=torch.float64)
        reference.step()
        np.testing.assert_allclose(parameters, tensor.detach().numpy(), rtol=0, atol=1e-12, err_msg=f"step {t}")


@pytest.mark.parametrize(("cls", "kwargs"), COMBOS, ids=COMBO_IDS)
def test_float32_stays_float32_and_tracks_float64(cls, kwargs):
    theta, gradients = random_run(n_steps=10)
    wide, narrow = theta.copy(), theta.astype(np.float32)
    wide_opt, narrow_opt = cls(**kwargs), cls(**kwargs)
    for gradient in gradients:
        wide_opt.step(wide, gradient.copy())
        narrow_opt.step(narrow, gradient.astype(np.float32))
    assert narrow.dtype == np.float32
    assert all(value.dtype == np.float32 for value in narrow_opt.state_dict().values() if isinstance(value, np.ndarray))
    np.testing.assert_allclose(narrow, wide, rtol=1e-4, atol=1e-4)


# -- state: buffers, allocation, round trips -------------------------------


def arrays_of(state):
    return {key: value for key, value in state.items() if isinstance(value, np.ndarray)}


@pytest.mark.parametrize(("cls", "kwargs"), COMBOS, ids=COMBO_IDS)
def test_state_round_trip_continues_bit_for_bit(cls, kwargs):
    theta, gradients = random_run(n_steps=12, seed=2)
    straight = theta.copy()
    optimizer = cls(**kwargs)
    for gradient in gradients:
        optimizer.step(straight, gradient.copy())

    resumed = theta.copy()
    first = cls(**kwargs)
    for gradient in gradients[:5]:
        first.step(resumed, gradient.copy())
    state = first.state_dict()
    # Everything but the buffers is plain JSON; the buffers are flat arrays the size of θ.
    scalars = {key: value for key, value in state.items() if not isinstance(value, np.ndarray)}
    scalars = json.loads(json.dumps(scalars))
    assert scalars["name"] == cls.name and scalars["step"] == 5
    assert all(value.shape == theta.shape for value in arrays_of(state).values())
    # A fresh optimizer with other hyper-parameters takes all of them from the state.
    second = cls(lr=0.5) if cls is SGD else cls()
    second.load_state_dict({**scalars, **arrays_of(state)})
    assert second.state_dict().keys() == state.keys()
    for gradient in gradients[5:]:
        second.step(resumed, gradient.copy())
    assert np.array_equal(resumed, straight)
    assert repr(second) == repr(optimizer)


def test_state_dict_holds_copies():
    optimizer, parameters = Adam(0.1), np.array(THETA)
    optimizer.step(parameters, np.array(GRADIENTS[0]))
    state = optimizer.state_dict()
    state["exp_avg"][:] = 99.0
    assert not np.array_equal(optimizer.state_dict()["exp_avg"], state["exp_avg"])
    loaded = Adam()
    loaded.load_state_dict(optimizer.state_dict())
    saved = optimizer.state_dict()
    saved["exp_avg"][:] = 99.0
    assert not np.array_equal(loaded.state_dict()["exp_avg"], saved["exp_avg"])


def test_state_dict_names_the_buffers_torch_names():
    assert set(arrays_of(SGD(0.1).state_dict())) == set()
    expected = {
        SGD(0.1, momentum=0.9): {"momentum_buffer"},
        Adam(): {"exp_avg", "exp_avg_sq"},
        AdamW(): {"exp_avg", "exp_avg_sq"},
        RMSprop(): {"square_avg"},
        RMSprop(momentum=0.9, centered=True): {"square_avg", "grad_avg", "momentum_buffer"},
        Adagrad(): {"sum"},
    }
    for optimizer, names in expected.items():
        assert arrays_of(optimizer.state_dict()) == {}  # nothing before the first step
        optimizer.step(np.zeros(3), np.ones(3))
        assert set(arrays_of(optimizer.state_dict())) == names, optimizer
        assert optimizer.state_dict()["step"] == 1


def test_adagrad_starts_its_sums_at_the_initial_accumulator_value():
    optimizer = Adagrad(initial_accumulator_value=0.25)
    optimizer.step(np.zeros(2), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(optimizer.state_dict()["sum"], [1.25, 4.25])


@pytest.mark.parametrize(("cls", "kwargs"), COMBOS, ids=COMBO_IDS)
def test_state_buffers_are_allocated_once(cls, kwargs):
    optimizer, parameters = cls(**kwargs), np.zeros(5)
    optimizer.step(parameters, np.ones(5))
    buffers, scratch = dict(optimizer._buffers), optimizer._scratch
    for _ in range(3):
        optimizer.step(parameters, np.ones(5))
    assert all(optimizer._buffers[key] is buffer for key, buffer in buffers.items())
    assert optimizer._buffers.keys() == buffers.keys()
    assert optimizer._scratch is scratch


@pytest.mark.parametrize(("cls", "kwargs"), COMBOS, ids=COMBO_IDS)
def test_a_step_after_the_first_allocates_no_array(cls, kwargs):
    # A temporary the size of θ would show in the peak traced memory (numpy reports to tracemalloc).
    size = 50_000
    rng = np.random.default_rng(3)
    parameters, gradient = rng.normal(size=size), rng.normal(size=size)
    optimizer = cls(**kwargs)
    optimizer.step(parameters, gradient.copy())
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for _ in range(3):
            optimizer.step(parameters, gradient)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < parameters.nbytes // 10


def test_lr_is_a_plain_attribute_a_schedule_can_set():
    optimizer, parameters = SGD(0.1), np.array(THETA)
    optimizer.lr = 0.5
    optimizer.step(parameters, np.array([1.0, 1.0]))
    np.testing.assert_allclose(parameters, [0.5, -2.5])
    # A schedule may take lr to 0; the state still saves and loads.
    optimizer.lr = 0.0
    other = SGD(1.0)
    other.load_state_dict(optimizer.state_dict())
    assert other.lr == 0.0


def test_a_state_of_the_other_precision_is_cast_once():
    wide = Adam(0.1)
    wide.step(np.zeros(3), np.ones(3))
    narrow = Adam()
    narrow.load_state_dict(wide.state_dict())
    parameters = np.zeros(3, np.float32)
    narrow.step(parameters, np.ones(3, np.float32))
    assert parameters.dtype == np.float32
    assert all(value.dtype == np.float32 for value in arrays_of(narrow.state_dict()).values())


def test_the_optimizers_learn_xor_through_fit():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    for optimizer in [SGD(0.5, momentum=0.9), Adam(0.05), AdamW(0.05), RMSprop(0.02), Adagrad(0.3)]:
        net = bp.Network([bp.Dense(8, "tanh"), bp.Dense(1, "sigmoid")], inputs=2, seed=0)
        net.fit(X, y, loss="binary_crossentropy", optimizer=optimizer, epochs=300, batch_size=4, seed=0)
        np.testing.assert_array_equal(net.predict(X).ravel() > 0.5, y > 0.5, err_msg=repr(optimizer))


# -- names and repr -----------------------------------------------------------


def test_get_optimizer():
    assert isinstance(get_optimizer("adam"), Adam) and get_optimizer("adam").lr == 1e-3
    assert get_optimizer("rmsprop", lr=0.5).lr == 0.5
    assert get_optimizer("sgd").lr == 0.01
    assert {name: type(get_optimizer(name)) for name in OPTIMIZERS} == OPTIMIZERS
    optimizer = AdamW()
    assert get_optimizer(optimizer) is optimizer


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: get_optimizer("adma"),
            bp.ParameterError,
            r"Unknown optimizer 'adma'; expected one of \['adagrad', 'adam', 'adamw', 'rmsprop', 'sgd'\]",
        ),
        (lambda: get_optimizer("Adam"), bp.ParameterError, r"Unknown optimizer 'Adam'"),
        (lambda: get_optimizer(Adam(), lr=0.1), bp.ParameterError, r"lr=0\.1 applies to an optimizer name"),
        (lambda: get_optimizer("adam", lr=-1), bp.ParameterError, r"lr must be a positive number, got lr=-1"),
        (lambda: get_optimizer(None), bp.BackpropTypeError, r"optimizer must be a name such as 'adam' .*got None"),
    ],
)
def test_get_optimizer_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_repr():
    assert repr(SGD(0.1)) == "SGD(lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0)"
    assert repr(Adam()) == "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0)"
    assert repr(AdamW()) == "AdamW(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.01)"
    assert repr(RMSprop()) == "RMSprop(lr=0.01, alpha=0.99, eps=1e-08, momentum=0.0, centered=False, weight_decay=0.0)"
    assert repr(Adagrad()) == (
        "Adagrad(lr=0.01, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10)"
    )


def test_a_user_optimizer_needs_only_step():
    class SignDescent(Optimizer):
        def step(self, parameters, gradient):
            parameters -= self.lr * np.sign(gradient)

    optimizer, parameters = SignDescent(0.25), np.array(THETA)
    optimizer.step(parameters, np.array([3.0, -0.1]))
    np.testing.assert_array_equal(parameters, [0.75, -1.75])
    assert optimizer.state_dict() == {"name": "signdescent", "lr": 0.25, "step": 0}
    assert repr(optimizer) == "SignDescent(lr=0.25)"


# -- bad input ------------------------------------------------------------------

BAD_HYPER_PARAMETERS = [
    (lambda: SGD(0), r"lr must be a positive number, got lr=0"),
    (lambda: SGD(0.1, momentum=-0.5), r"momentum must be a number in \[0, 1\), got momentum=-0\.5"),
    (lambda: SGD(0.1, momentum=1.0), r"momentum must be a number in \[0, 1\), got momentum=1\.0"),
    (lambda: SGD(0.1, momentum="0.9"), r"momentum must be a number in \[0, 1\), got momentum='0\.9'"),
    (lambda: SGD(0.1, nesterov=True), r"nesterov=True needs momentum > 0, got momentum=0\.0"),
    (lambda: SGD(0.1, momentum=0.9, nesterov="yes"), r"nesterov must be True or False, got nesterov='yes'"),
    (lambda: SGD(0.1, weight_decay=-1), r"weight_decay must be a non-negative number, got weight_decay=-1"),
    (lambda: SGD(0.1, weight_decay=float("nan")), r"weight_decay must be a non-negative number, got weight_decay=nan"),
    (lambda: Adam(lr=-1e-3), r"lr must be a positive number, got lr=-0\.001"),
    (lambda: Adam(betas=(0.9, 1.0)), r"betas\[1\] must be a number in \[0, 1\), got betas\[1\]=1\.0"),
    (lambda: Adam(betas=(-0.1, 0.999)), r"betas\[0\] must be a number in \[0, 1\), got betas\[0\]=-0\.1"),
    (lambda: Adam(betas=0.9), r"betas must be a pair \(beta1, beta2\), got betas=0\.9"),
    (lambda: Adam(betas=(0.9,)), r"betas must be a pair \(beta1, beta2\), got betas=\(0\.9,\)"),
    (lambda: Adam(eps=0), r"eps must be a positive number, got eps=0"),
    (lambda: Adam(eps=-1e-8), r"eps must be a positive number, got eps=-1e-08"),
    (lambda: Adam(weight_decay=-0.1), r"weight_decay must be a non-negative number, got weight_decay=-0\.1"),
    (lambda: AdamW(weight_decay=float("inf")), r"weight_decay must be a non-negative number, got weight_decay=inf"),
    (lambda: AdamW(betas=(0.9, np.float64(1.5))), r"betas\[1\] must be a number in \[0, 1\), got betas\[1\]=1\.5"),
    (lambda: RMSprop(alpha=1.0), r"alpha must be a number in \[0, 1\), got alpha=1\.0"),
    (lambda: RMSprop(alpha=-0.1), r"alpha must be a number in \[0, 1\), got alpha=-0\.1"),
    (lambda: RMSprop(eps=0.0), r"eps must be a positive number, got eps=0\.0"),
    (lambda: RMSprop(momentum=-0.1), r"momentum must be a number in \[0, 1\), got momentum=-0\.1"),
    (lambda: RMSprop(centered=1), r"centered must be True or False, got centered=1"),
    (lambda: RMSprop(weight_decay=-1e-4), r"weight_decay must be a non-negative number, got weight_decay=-0\.0001"),
    (lambda: Adagrad(lr=float("inf")), r"lr must be a positive number, got lr=inf"),
    (lambda: Adagrad(lr_decay=-1), r"lr_decay must be a non-negative number, got lr_decay=-1"),
    (
        lambda: Adagrad(initial_accumulator_value=-0.1),
        r"initial_accumulator_value must be a non-negative number, got initial_accumulator_value=-0\.1",
    ),
    (lambda: Adagrad(eps=0), r"eps must be a positive number, got eps=0"),
    (lambda: Adagrad(weight_decay=True), r"weight_decay must be a non-negative number, got weight_decay=True"),
]


@pytest.mark.parametrize(("call", "match"), BAD_HYPER_PARAMETERS)
def test_bad_hyper_parameters(call, match):
    with pytest.raises(bp.ParameterError, match=match):
        call()


def stepped(optimizer, n=2, size=3):
    for _ in range(n):
        optimizer.step(np.zeros(size), np.ones(size))
    return optimizer


def with_changes(state, **changes):
    return {**state, **changes}


def without(state, key):
    return {k: v for k, v in state.items() if k != key}


BAD_STATES = [
    (
        lambda: Adam().load_state_dict(SGD(0.1).state_dict()),
        bp.ParameterError,
        r"state is for optimizer 'sgd', not 'adam'",
    ),
    (
        lambda: AdamW().load_state_dict(Adam().state_dict()),
        bp.ParameterError,
        r"state is for optimizer 'adam', not 'adamw'",
    ),
    (
        lambda: Adam().load_state_dict([1, 2]),
        bp.BackpropTypeError,
        r"state must be a dict from state_dict\(\), got list",
    ),
    (
        lambda: Adam().load_state_dict(without(Adam().state_dict(), "eps")),
        bp.ParameterError,
        r"adam state is missing \['eps'\]",
    ),
    (
        lambda: Adam().load_state_dict(without(stepped(Adam()).state_dict(), "exp_avg_sq")),
        bp.ParameterError,
        r"adam state after 2 steps is missing the buffers \['exp_avg_sq'\]",
    ),
    (
        lambda: RMSprop().load_state_dict(with_changes(stepped(RMSprop(centered=True)).state_dict(), centered=False)),
        bp.ParameterError,
        r"rmsprop state has unexpected entries \['grad_avg'\]",
    ),
    (
        lambda: Adam().load_state_dict(with_changes(Adam().state_dict(), betas=[0.9, 1.0])),
        bp.ParameterError,
        r"betas\[1\] must be a number in \[0, 1\), got betas\[1\]=1\.0",
    ),
    (
        lambda: Adam().load_state_dict(with_changes(Adam().state_dict(), lr=-1.0)),
        bp.ParameterError,
        r"lr must be a non-negative number, got lr=-1\.0",
    ),
    (
        lambda: Adam().load_state_dict(with_changes(Adam().state_dict(), step=-1)),
        bp.ParameterError,
        r"step must be a non-negative integer, got step=-1",
    ),
    (
        lambda: Adam().load_state_dict(with_changes(Adam().state_dict(), step=2.0)),
        bp.ParameterError,
        r"step must be a non-negative integer, got step=2\.0",
    ),
    (
        lambda: Adam().load_state_dict(with_changes(stepped(Adam()).state_dict(), exp_avg=np.zeros(4))),
        bp.ShapeError,
        r"adam state buffers must share one shape and dtype, got \{'exp_avg': '\(4,\) float64', 'exp_avg_sq': '\(3,\) float64'\}",
    ),
    (
        lambda: Adam().load_state_dict(with_changes(stepped(Adam()).state_dict(), exp_avg=np.zeros((3, 1)))),
        bp.ShapeError,
        r"adam state 'exp_avg' must be a 1-D float32 or float64 array",
    ),
    (
        lambda: Adam().load_state_dict(with_changes(stepped(Adam()).state_dict(), exp_avg=[0.0, 0.0, 0.0])),
        bp.ShapeError,
        r"adam state 'exp_avg' must be a 1-D float32 or float64 array, got \[0\.0, 0\.0, 0\.0\]",
    ),
    (
        lambda: Adam().load_state_dict(
            with_changes(stepped(Adam()).state_dict(), exp_avg=np.array([0.0, np.nan, 0.0]))
        ),
        bp.DataError,
        r"adam state 'exp_avg' contains NaN \(1 non-finite value, first at index 1\)",
    ),
    (
        lambda: Adagrad().load_state_dict(
            with_changes(stepped(Adagrad()).state_dict(), sum=np.array([1.0, -1.0, 1.0]))
        ),
        bp.DataError,
        r"adagrad state 'sum' is a sum of squares, got a negative value -1",
    ),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD_STATES)
def test_bad_states_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_refused_state_changes_nothing():
    optimizer = stepped(Adam(0.1))
    before = optimizer.state_dict()
    bad = with_changes(stepped(Adam(0.5), n=4).state_dict(), exp_avg_sq=np.array([1.0, np.inf, 1.0]))
    with pytest.raises(bp.DataError):
        optimizer.load_state_dict(bad)
    after = optimizer.state_dict()
    assert after.keys() == before.keys()
    assert all(np.array_equal(after[key], before[key]) for key in before)


def test_a_step_on_another_network_is_refused():
    optimizer = stepped(Adam(), size=3)
    with pytest.raises(
        bp.ShapeError, match=r"Adam holds state for 3 parameters but was given 4; use a new optimizer for each network"
    ):
        optimizer.step(np.zeros(4), np.ones(4))


@pytest.mark.parametrize(
    ("parameters", "gradient", "match"),
    [
        (np.zeros((2, 2)), np.zeros((2, 2)), r"parameters must be a 1-D float32 or float64 array"),
        (np.zeros(3, np.int64), np.zeros(3), r"parameters must be a 1-D float32 or float64 array"),
        (np.zeros(3), np.zeros(4), r"gradient must have the shape of parameters \(3,\), got \(4,\)"),
        (np.zeros(3), [0.0, 0.0, 0.0], r"gradient must have the shape of parameters \(3,\), got list"),
    ],
)
def test_bad_buffers_are_refused(parameters, gradient, match):
    with pytest.raises(bp.ShapeError, match=match):
        Adam().step(parameters, gradient)
