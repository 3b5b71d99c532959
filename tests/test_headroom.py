"""Headroom: fit saves θ before a step only when that step could overflow it.

A step of SGD or Adam has a bound, carried from step to step; while it stays
far below the largest float, no step can make θ overflow and θ is not copied.
The bounds are worked by hand below, checked against real steps (they must
never be smaller than what a step does), and a diverging fit must end as it
did when θ was saved before every step.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backprop as bp
from backprop.optimizers import Headroom


def test_adams_bounds_worked_by_hand():
    adam = bp.Adam(lr=0.1, betas=(0.5, 0.75), eps=0.25)
    # Step 1, |g| ≤ 2, |m| ≤ 0, v ≤ 0, |θ| ≤ 1:
    #   m ≤ 0.5 · 0 + 0.5 · 2 = 1;  v ≤ max(0, 2²) = 4;  c = √(1 − 0.75) = 0.5;
    #   ε c = 0.125 (less 2⁻²³ of it, its rounding), so |m| / (ε c) ≤ 8;
    #   the step size η c / (1 − β₁) = 0.1 · 0.5 / 0.5 = 0.1;  |θ| ≤ 1 + 8 · 0.1 = 1.8.
    (m, v), theta, others = adam._bounds_after_step(2.0, (0.0, 0.0), 1.0, tiny=1e-38)
    assert (m, v) == (1.0, 4.0)
    assert theta == pytest.approx(1.8, rel=1e-6) and theta > 1.8
    # The other values the step computes: λ = 0, 1 − η λ = 1 (unused), λ θ = 0, g = 2, g² = 4, the quotient, the size.
    assert others[:5] == (0.0, 1.0, 0.0, 2.0, 4.0) and others[5] == pytest.approx(8.0) and others[6] == 0.1
    # AdamW shrinks θ first: θ (1 − η λ) = 100 · (1 − 0.1 · 5) = 50, then 50 + 0.8.
    adamw = bp.AdamW(lr=0.1, betas=(0.5, 0.75), eps=0.25, weight_decay=5.0)
    assert adamw._bounds_after_step(2.0, (0.0, 0.0), 100.0, tiny=1e-38)[1] == pytest.approx(50.8, rel=1e-6)
    # Adam's coupled decay adds λ θ = 5 · 100 = 500 to g: m ≤ 0.5 · 502 = 251, v ≤ 502².
    coupled = bp.Adam(lr=0.1, betas=(0.5, 0.75), eps=0.25, weight_decay=5.0)
    assert coupled._bounds_after_step(2.0, (0.0, 0.0), 100.0, tiny=1e-38)[0] == (251.0, 502.0**2)
    # An ε c below the smallest normal number: no bound.
    assert bp.Adam(eps=1e-40)._bounds_after_step(2.0, (0.0, 0.0), 1.0, tiny=1e-38)[1] == math.inf


def test_sgds_bounds_worked_by_hand():
    # |g| ≤ 2, |b| ≤ 1, |θ| ≤ 4, λ = 0.25: g' ≤ 2 + 0.25 · 4 = 3; b ≤ 0.5 · 1 + 3 = 3.5; |θ| ≤ 4 + 0.5 · 3.5 = 5.75.
    sgd = bp.SGD(lr=0.5, momentum=0.5, weight_decay=0.25)
    assert sgd._bounds_after_step(2.0, (1.0,), 4.0, tiny=1e-38) == ((3.5,), 5.75, (0.5, 0.25, 1.0, 3.0, 3.5, 1.75))
    # Nesterov steps by g' + μ b = 3 + 0.5 · 3.5 = 4.75: |θ| ≤ 4 + 0.5 · 4.75 = 6.375.
    nesterov = bp.SGD(lr=0.5, momentum=0.5, nesterov=True, weight_decay=0.25)
    assert nesterov._bounds_after_step(2.0, (1.0,), 4.0, tiny=1e-38)[:2] == ((3.5,), 6.375)
    # Without momentum the step is η g': 4 + 0.5 · 3 = 5.5, and there is no state.
    assert bp.SGD(lr=0.5, weight_decay=0.25)._bounds_after_step(2.0, (), 4.0, tiny=1e-38)[:2] == ((), 5.5)


N = Headroom.SMALLEST
SMALL = (np.random.default_rng(0).standard_normal(N) * 0.1).astype(np.float32)


@pytest.mark.parametrize(
    ("optimizer", "theta", "gradient"),
    [
        # Found in review: a constant that overflows once rounded to float32 (η, λ, 1 − η λ, the step size) ...
        (lambda: bp.SGD(3.5e38), SMALL, 0.0),
        (lambda: bp.SGD(3.5e38, momentum=0.9), SMALL, 1e-9),
        (lambda: bp.AdamW(1.0, weight_decay=1e40), SMALL * 1e-2, 0.0),
        (lambda: bp.SGD(1e-10, weight_decay=1e40), SMALL * 1e-2, 0.0),
        (lambda: bp.Adam(2e37, betas=(0.999, 0.999)), SMALL, 0.0),
        # ... or in float64, where 0 · ∞ is nan
        (lambda: bp.Adam(1e308, betas=(0.9999, 0.999)), SMALL.astype(np.float64), 0.0),
        # ... a gradient whose float32 squares underflow to 0 ...
        (lambda: bp.Adam(1e26, eps=1e-36), SMALL, 2.5e-23),
        # ... and values in the middle of a step: g + λ θ, (g + λ θ)², m.
        (lambda: bp.Adam(1e-3, (0.9, 0.5), 100.0, 5e8), SMALL / np.abs(SMALL).max() * 1e30, 0.0),
        (lambda: bp.SGD(0.01, weight_decay=1e10), SMALL / np.abs(SMALL).max() * 1e29, 0.0),
        (lambda: bp.Adam(1e-3, weight_decay=0.01), SMALL / np.abs(SMALL).max() * 2e21, 0.0),
    ],
)
def test_a_step_that_could_overflow_saves_theta(optimizer, theta, gradient):
    optimizer, theta = optimizer(), theta.astype(theta.dtype)  # a copy
    g = np.full(N, gradient, theta.dtype)
    headroom = Headroom(optimizer, theta)
    copy = headroom.needs_copy(float(np.dot(g, g)))  # the fit's sum of squares, in the parameters' precision
    with np.errstate(all="ignore"):
        optimizer.step(theta, g)
    finite = np.isfinite(theta).all() and all(np.isfinite(buffer).all() for buffer in optimizer._buffers.values())
    assert copy and not finite  # each of these steps overflows: it had to save θ


def test_only_the_exact_built_in_types_of_networks_large_enough_have_bounds():
    class MySGD(bp.SGD):
        pass

    big, small = np.zeros(Headroom.SMALLEST, np.float32), np.zeros(Headroom.SMALLEST - 1, np.float32)
    assert Headroom(bp.Adam(), big).optimizer is not None
    assert Headroom(bp.SGD(0.1), big).optimizer is not None
    for optimizer, parameters in [(MySGD(0.1), big), (bp.RMSprop(), big), (bp.Adam(), small)]:
        assert Headroom(optimizer, parameters).optimizer is None
        assert Headroom(optimizer, parameters).needs_copy(1.0)  # every step saves θ
    # A state that is not finite (restored from a diverged run): no bound either.
    adam = bp.Adam()
    adam.step(big.copy(), np.ones_like(big))
    adam._buffers["exp_avg"][3] = np.nan
    assert Headroom(adam, big).optimizer is None


def test_hyper_parameters_set_outside_their_ranges_or_subnormal_give_no_bound():
    theta = SMALL.copy()
    # A schedule or a callback sets optimizer.lr without the constructor's checks: a negative lr would make
    # the bound of θ negative, below the limit, while the step overflows.
    sgd = bp.SGD(0.1)
    headroom = Headroom(sgd, theta)
    sgd.lr = -1e37
    assert headroom.needs_copy(1.0)
    # A float32 hyper-parameter below the smallest normal number rounds to up to twice itself: no bound.
    for optimizer in [
        bp.SGD(1.0, momentum=7.1e-46),
        bp.Adam(1.0, betas=(7.1e-46, 0.999)),
        bp.Adam(weight_decay=7.1e-46),
    ]:
        assert Headroom(optimizer, theta).needs_copy(1.0)


def test_a_momentum_switched_on_again_is_copied_from_then_on():
    # Momentum 0 leaves the old buffer in place, unused and not followed by the bounds; switched on again,
    # the step adds it: θ is saved before every step from there.
    sgd = bp.SGD(0.1, momentum=0.9)
    theta, gradient = SMALL.copy(), np.ones_like(SMALL)
    sgd.step(theta, gradient.copy())
    sgd._buffers["momentum_buffer"][:] = 3e37
    sgd.momentum = 0.0
    headroom = Headroom(sgd, theta)
    assert not headroom.needs_copy(float(np.dot(gradient, gradient)))
    sgd.momentum = 0.9
    assert headroom.needs_copy(float(np.dot(gradient, gradient))) and headroom.needs_copy(0.0)


def _largest(x):
    return float(np.abs(x.astype(np.float64)).max())


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["adam", "adamw", "sgd", "momentum", "nesterov"]),
    dtype=st.sampled_from([np.float32, np.float32, np.float64]),
    lr=st.floats(1e-6, 1e39),
    beta1=st.floats(0.0, 0.999),
    beta2=st.floats(0.0, 0.9999),
    eps=st.floats(1e-45, 1e40),
    weight_decay=st.sampled_from([0.0, 1e-4, 0.5, 3.0, 1e10, 1e40]),
    scale=st.floats(1e-30, 1e30),
    theta_scale=st.floats(1e-40, 1e36),
    seed=st.integers(0, 2**16),
)
def test_the_bounds_are_never_below_what_the_steps_do(
    kind, dtype, lr, beta1, beta2, eps, weight_decay, scale, theta_scale, seed
):
    rng = np.random.default_rng(seed)
    optimizer = {
        "adam": lambda: bp.Adam(lr, (beta1, beta2), eps, weight_decay),
        "adamw": lambda: bp.AdamW(lr, (beta1, beta2), eps, weight_decay),
        "sgd": lambda: bp.SGD(lr, weight_decay=weight_decay),
        "momentum": lambda: bp.SGD(lr, momentum=beta1 or 0.5, weight_decay=weight_decay),
        "nesterov": lambda: bp.SGD(lr, momentum=beta1 or 0.5, nesterov=True, weight_decay=weight_decay),
    }[kind]()
    theta = (rng.standard_normal(64) * theta_scale).astype(dtype)
    if not np.isfinite(theta).all():
        return
    saved, Headroom.SMALLEST = Headroom.SMALLEST, 0  # (hypothesis runs without function-scoped fixtures)
    try:
        headroom = Headroom(optimizer, theta)
    finally:
        Headroom.SMALLEST = saved
    with np.errstate(all="ignore"):
        for _ in range(4):  # steps carry the bounds: each must hold after every step
            gradient = (rng.standard_normal(64) * scale * rng.uniform(0, 1, 64)).astype(dtype)
            squared = float(np.dot(gradient, gradient))  # in the parameters' precision, as fit sums them
            if not math.isfinite(squared):
                return
            copy = headroom.needs_copy(squared)
            optimizer.step(theta, gradient)
            if copy:
                return  # from here on θ is saved before each step: nothing to promise
            assert np.isfinite(theta).all(), "a step said safe made θ overflow"
            assert _largest(theta) <= headroom.theta
            for name, bound in zip(optimizer._buffer_names(), headroom.state, strict=True):
                assert np.isfinite(optimizer._buffers[name]).all() and _largest(optimizer._buffers[name]) <= bound


def regression(n=64, features=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features)).astype(np.float32)
    return X, (X @ rng.normal(size=features)).astype(np.float32)


def _fit(optimizer, copy_always, monkeypatch, scale=1.0, epochs=3):
    """A fit's parameters, and the error it raised (None when it did not), θ saved before every step or not."""
    if copy_always:
        monkeypatch.setattr(Headroom, "needs_copy", lambda self, squared_norm: True)
    else:
        monkeypatch.undo()
        monkeypatch.setattr(Headroom, "SMALLEST", 0)
    X, y = regression()
    net = bp.Network([bp.Dense(16, "tanh"), bp.Dense(1)], inputs=8, seed=0, dtype="float32")
    try:
        net.fit(X * scale, y * scale, optimizer=optimizer(), epochs=epochs, batch_size=16, seed=0)
    except bp.DivergenceError as error:
        return net.parameters.copy(), str(error)
    return net.parameters.copy(), None


@pytest.mark.parametrize(
    "optimizer",
    [lambda: bp.Adam(0.01), lambda: bp.AdamW(0.01), lambda: bp.SGD(0.01, momentum=0.9), lambda: bp.SGD(0.01)],
)
def test_a_fit_that_copies_theta_less_gives_the_same_bits(optimizer, monkeypatch):
    before, _ = _fit(optimizer, True, monkeypatch)
    after, error = _fit(optimizer, False, monkeypatch)
    assert error is None and np.array_equal(before, after)


@pytest.mark.parametrize("optimizer", [lambda: bp.SGD(1e36), lambda: bp.Adam(1e37, eps=1e-3)])
def test_a_diverging_fit_keeps_the_same_last_finite_parameters(optimizer, monkeypatch):
    # Steps so large that θ overflows: the bounds pass the limit, θ is saved, and the step that overflowed is undone.
    before, error_before = _fit(optimizer, True, monkeypatch, scale=1e3)
    after, error_after = _fit(optimizer, False, monkeypatch, scale=1e3)
    assert error_before is not None and "keeps its last finite parameters" in error_before
    assert error_after == error_before
    assert np.isfinite(after).all() and np.array_equal(before, after)


def test_a_large_network_saves_theta_only_while_a_step_could_overflow(monkeypatch):
    calls = []
    needs_copy = Headroom.needs_copy

    def recorded(self, squared_norm):
        calls.append(needs_copy(self, squared_norm))
        return calls[-1]

    monkeypatch.setattr(Headroom, "needs_copy", recorded)
    X, y = regression(n=32, features=512)
    # 512 · 256 + 256 + 256 + 1 = 131,585 parameters ≥ 2¹⁷ = 131,072.
    net = bp.Network([bp.Dense(256, "relu"), bp.Dense(1)], inputs=512, seed=0, dtype="float32")
    net.fit(X, y, optimizer=bp.Adam(1e-3), epochs=2, batch_size=16, seed=0)
    assert calls == [False] * 4  # two steps an epoch, none of which could overflow
    calls.clear()
    with pytest.raises(bp.DivergenceError, match="keeps its last finite parameters"):
        net.fit(X * 1e18, y * 1e18, optimizer=bp.SGD(1e30), epochs=2, batch_size=16, seed=0)
    assert calls[-1] is True  # the step that overflowed had saved θ
    assert np.isfinite(net.parameters).all()
