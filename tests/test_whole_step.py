"""fit's step in one compiled call (``_fast.WholeStep``): the hooks' kernels in their order, so their bits.

Each test trains twice from the same seed, once with the whole step and once
hook by hook (``WholeStep.of`` made to decline), and compares the parameters,
the optimizer's state and the history, bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop import _fast, _passes

pytest.importorskip("numba")


@pytest.fixture(autouse=True)
def _compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKPROP_NUMBA", "1")  # the kernels however short the fit
    if _passes.compiled() is None:
        pytest.skip("the passes' BLAS symbols are not found here (another BLAS than numpy's OpenBLAS)")


def _data(dtype: type = np.float32, rows: int = 203) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, 12)).astype(dtype)
    y = (X[:, 0] > 0) + (X[:, 1] > 0.5)  # three classes
    return X, y


def _fit(
    monkeypatch: pytest.MonkeyPatch, whole: bool, optimizer: bp.Optimizer, dtype: type = np.float32, **options: Any
) -> tuple[bp.Network, dict[str, list[float]], dict[str, int], bp.Optimizer]:
    """Train 12-16-16-3 (ReLU, softmax) on 203 rows in batches of 32 (the last of 11) for 3 epochs."""
    calls = {"whole": 0, "stepped": 0}
    step_in_one_call = _fast.WholeStep.__call__

    def counted(*args: Any) -> Any:
        done = step_in_one_call(*args)
        calls["whole"] += done is not None
        calls["stepped"] += done == _passes.STEPPED
        return done

    with monkeypatch.context() as patch:
        patch.setattr(_fast.WholeStep, "__call__", counted)
        if not whole:
            patch.setattr(_fast.WholeStep, "of", classmethod(lambda *args: None))
        net = bp.Network([bp.Dense(16, "relu"), bp.Dense(16, "relu"), bp.Dense(3, "softmax")], 12, seed=1, dtype=dtype)
        X, y = options.pop("data", _data(dtype))
        fit = dict(loss="crossentropy", epochs=3, batch_size=32, seed=4, threads=1)
        history = net.fit(X, y, optimizer=optimizer, **{**fit, **options})
    return net, {k: v for k, v in history.history.items() if k != "seconds"}, calls, optimizer


def _state(optimizer: bp.Optimizer) -> dict[str, Any]:
    """The optimizer's state dict, its buffers as bytes."""
    return {k: v.tobytes() if isinstance(v, np.ndarray) else v for k, v in optimizer.state_dict().items()}


OPTIMIZERS = {
    "adam": lambda: bp.Adam(1e-2),
    "adam-l2": lambda: bp.Adam(1e-2, weight_decay=0.1),  # λθ added to g in the kernel
    "adamw": lambda: bp.AdamW(1e-2, weight_decay=0.1),  # θ (1 − ηλ) in the kernel
    "momentum": lambda: bp.SGD(0.05, momentum=0.9),
    "nesterov": lambda: bp.SGD(0.05, momentum=0.9, nesterov=True),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_the_whole_step_gives_the_hooks_bits(name: str, dtype: type, monkeypatch: pytest.MonkeyPatch) -> None:
    net, history, calls, optimizer = _fit(monkeypatch, True, OPTIMIZERS[name](), dtype)
    reference, reference_history, none, reference_optimizer = _fit(monkeypatch, False, OPTIMIZERS[name](), dtype)
    # 203 rows in batches of 32: six of 32 and one of 11 an epoch, each in one call but the fit's first
    # (it allocates the optimizer's state, hook by hook).
    assert calls == {"whole": 3 * 7 - 1, "stepped": 3 * 7 - 1} and none == {"whole": 0, "stepped": 0}
    assert net.parameters.tobytes() == reference.parameters.tobytes()
    assert history == reference_history  # the loss, accuracy and gradient norms too: the same kernels
    assert optimizer.steps == 21 and _state(optimizer) == _state(reference_optimizer)


@pytest.mark.parametrize(
    ("options", "optimizer"),
    [
        ({"threads": 2}, "adam"),  # the pool's threads share the products: its passes, hook by hook
        ({"l2": 1e-3}, "adam"),
        ({"clip_norm": 1.0}, "adam"),
        ({"sample_weight": np.linspace(0.5, 2.0, 203)}, "adam"),
        ({}, "sgd-decay"),  # SGD's weight decay is added to g after the norms
        ({}, "plain-sgd"),  # no compiled update
        ({}, "rmsprop"),
    ],
    ids=["pool", "l2", "clip", "weights", "sgd-decay", "plain-sgd", "rmsprop"],
)
def test_steps_that_need_python_run_hook_by_hook_with_the_same_bits(
    options: dict[str, Any], optimizer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make = {
        "adam": lambda: bp.Adam(1e-2),
        "sgd-decay": lambda: bp.SGD(0.05, momentum=0.9, weight_decay=0.01),
        "plain-sgd": lambda: bp.SGD(0.05),
        "rmsprop": lambda: bp.RMSprop(1e-3),
    }[optimizer]
    net, history, calls, _ = _fit(monkeypatch, True, make(), **options)
    reference, reference_history, _, _ = _fit(monkeypatch, False, make(), **options)
    assert calls["stepped"] == 0
    assert net.parameters.tobytes() == reference.parameters.tobytes()
    assert history == reference_history


def test_a_loss_that_stops_being_finite_ends_the_fit_as_hook_by_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    # Inputs of 1e30 and a huge step: the logits overflow float32 within a few steps.
    X, y = _data()
    errors = []
    for whole in (True, False):
        with pytest.raises(bp.DivergenceError, match=r"training diverged in epoch 0, batch \d+: the loss") as info:
            _fit(monkeypatch, whole, bp.SGD(1e6, momentum=0.5), data=(X * 1e30, y))
        errors.append(info.value)
    assert str(errors[0]) == str(errors[1])


def test_after_a_diverged_step_the_network_and_optimizer_are_as_hook_by_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _data()
    results = []
    for whole in (True, False):
        net = bp.Network([bp.Dense(16, "relu"), bp.Dense(3, "softmax")], 12, seed=1, dtype=np.float32)
        optimizer = bp.SGD(1e6, momentum=0.5)
        with monkeypatch.context() as patch:
            if not whole:
                patch.setattr(_fast.WholeStep, "of", classmethod(lambda *args: None))
            with pytest.raises(bp.DivergenceError):
                net.fit(X * 1e30, y, loss="crossentropy", optimizer=optimizer, batch_size=32, seed=4, threads=1)
        results.append((net.parameters.tobytes(), _state(optimizer)))
    assert results[0] == results[1]  # the diverged step not counted, its state as before it


def test_a_gradient_whose_float32_squares_overflow_is_normed_in_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    # Inputs of 1e20: ∂L/∂W ~ 1e19, whose squares overflow float32 (3.4e38) but not float64. The call stops
    # before the update (NORM_NOT_FINITE); apply_gradient norms in float64 and Adam steps, as hook by hook.
    X, y = _data()
    codes: list[Any] = []
    step_in_one_call = _fast.WholeStep.__call__
    monkeypatch.setattr(_fast.WholeStep, "__call__", lambda *args: codes.append(step_in_one_call(*args)) or codes[-1])
    net, history, _, optimizer = _fit(monkeypatch, True, bp.Adam(1e-2), data=(X * 1e20, y), epochs=1)
    reference, reference_history, _, _ = _fit(monkeypatch, False, bp.Adam(1e-2), data=(X * 1e20, y), epochs=1)
    assert _passes.NORM_NOT_FINITE in codes and optimizer.steps == 7
    assert np.isfinite(history["grad_norm_1"][0])
    assert net.parameters.tobytes() == reference.parameters.tobytes()
    assert history == reference_history


def test_a_callback_stopping_after_a_batch_stops_the_whole_step_there(monkeypatch: pytest.MonkeyPatch) -> None:
    class StopAt(bp.Callback):
        def on_batch_end(self, batch: int, logs: dict[str, float]) -> bool:
            return batch == 3

    net, _, calls, optimizer = _fit(monkeypatch, True, bp.Adam(1e-2), epochs=1, callbacks=StopAt())
    reference, _, _, reference_optimizer = _fit(monkeypatch, False, bp.Adam(1e-2), epochs=1, callbacks=StopAt())
    assert calls["stepped"] == 3 and optimizer.steps == 4  # batches 1 to 3 in one call each, then it stopped
    assert net.parameters.tobytes() == reference.parameters.tobytes()
    assert _state(optimizer) == _state(reference_optimizer)


def test_a_first_step_that_diverges_leaves_the_optimizer_without_state(monkeypatch: pytest.MonkeyPatch) -> None:
    # The first forward pass overflows float32: fit raises before any step, and the optimizer is as new
    # (its state can be loaded into another), whole step or not.
    X, y = _data()
    states = []
    for whole in (True, False):
        net = bp.Network([bp.Dense(16, "relu"), bp.Dense(3, "softmax")], 12, seed=1, dtype=np.float32)
        net.layers[0].W[...] *= np.float32(1e37)
        net.layers[1].W[...] *= np.float32(1e10)
        optimizer = bp.Adam(1e-2)
        with monkeypatch.context() as patch:
            if not whole:
                patch.setattr(_fast.WholeStep, "of", classmethod(lambda *args: None))
            with pytest.raises(bp.DataError, match="the loss is not finite in epoch 0, batch 0, before any"):
                net.fit(X, y, loss="crossentropy", optimizer=optimizer, batch_size=32, seed=4, threads=1)
        states.append(_state(optimizer))
        bp.Adam(1e-2).load_state_dict(optimizer.state_dict())
    assert states[0] == states[1] and states[0]["step"] == 0 and "exp_avg" not in states[0]
