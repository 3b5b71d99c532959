"""Learning-rate schedules: each curve against hand-listed values, reduce-on-plateau's
patience, cooldown, floor and modes, state round trips and bad input."""

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backprop as bp
from backprop.schedules import (
    SCHEDULES,
    Constant,
    CosineDecay,
    ExponentialDecay,
    ReduceOnPlateau,
    Schedule,
    StepDecay,
    get_schedule,
)


def curve(schedule, base_lr, epochs=10):
    return [schedule(epoch, base_lr) for epoch in range(epochs)]


def plateau_run(schedule, values, base_lr=1.0, monitor="val_loss"):
    """The learning rate of each epoch when the monitored metric takes ``values``."""
    rates = []
    for epoch, value in enumerate(values):
        rates.append(schedule(epoch, base_lr))
        schedule.update(epoch, {"loss": 0.0, monitor: value})
    return rates


# -- curves ---------------------------------------------------------------------


def test_constant():
    assert curve(Constant(), 0.1) == [0.1] * 10


def test_step_decay():
    # η_e = 0.8 · 0.5^⌊e/3⌋
    expected = [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.1]
    assert curve(StepDecay(3, gamma=0.5), 0.8) == pytest.approx(expected, rel=1e-15)
    # The default γ = 0.1, every 4 epochs.
    assert curve(StepDecay(4), 1.0) == pytest.approx([1.0] * 4 + [0.1] * 4 + [0.01] * 2, rel=1e-15)


def test_exponential_decay():
    # η_e = 1 · 0.5^e
    expected = [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625, 0.001953125]
    assert curve(ExponentialDecay(0.5), 1.0) == expected


def test_cosine_decay():
    # η_e = (1 + cos(π e / 10)) / 2, then 0 from epoch 10 on:
    #   cos(π/10) = 0.9510565 → 0.9755283, cos(π/5) = 0.8090170 → 0.9045085, ...
    expected = [
        1.0,
        0.9755283,
        0.9045085,
        0.7938926,
        0.6545085,
        0.5,
        0.3454915,
        0.2061074,
        0.0954915,
        0.0244717,
        0.0,
        0.0,
    ]
    assert curve(CosineDecay(10), 1.0, epochs=12) == pytest.approx(expected, abs=1e-7)


def test_cosine_decay_with_warmup_and_floor():
    # W = 4: η_e = (e + 1)/5 for e < 4; then 0.1 + 0.9 (1 + cos(π (e − 4)/6)) / 2:
    #   e = 5: cos 30° = 0.8660254 → 0.1 + 0.9 · 0.9330127 = 0.9397114
    #   e = 6: cos 60° = 0.5 → 0.775;  e = 7: cos 90° = 0 → 0.55;  e = 8: cos 120° → 0.325
    #   e = 9: cos 150° = −0.8660254 → 0.1 + 0.9 · 0.0669873 = 0.1602886;  e >= 10: 0.1
    expected = [0.2, 0.4, 0.6, 0.8, 1.0, 0.9397114, 0.775, 0.55, 0.325, 0.1602886, 0.1, 0.1]
    assert curve(CosineDecay(10, min_lr=0.1, warmup=4), 1.0, epochs=12) == pytest.approx(expected, abs=1e-7)


@settings(max_examples=60, deadline=None)
@given(
    epochs=st.integers(1, 60),
    warmup_fraction=st.floats(0.0, 0.99),
    floor=st.floats(0.0, 1.0),
    base_lr=st.floats(1e-6, 10.0),
)
def test_cosine_decay_rises_then_falls_within_its_bounds(epochs, warmup_fraction, floor, base_lr):
    warmup = int(warmup_fraction * epochs)
    schedule = CosineDecay(epochs, min_lr=floor * base_lr, warmup=warmup)
    rates = curve(schedule, base_lr, epochs=epochs + 3)
    assert all(0 < rate <= base_lr * (1 + 1e-12) for rate in rates if rate)
    assert rates[warmup] == pytest.approx(base_lr)
    assert all(a < b for a, b in itertools.pairwise(rates[: warmup + 1]))
    assert all(a >= b for a, b in itertools.pairwise(rates[warmup:]))
    # The last planned epoch still learns faster than the floor, which holds from then on.
    assert rates[epochs - 1] > schedule.min_lr or schedule.min_lr == pytest.approx(base_lr, rel=1e-9)
    assert rates[epochs:] == [schedule.min_lr] * 3


# -- reduce on plateau ---------------------------------------------------------


def test_plateau_cuts_after_patience_epochs_without_improvement():
    schedule = ReduceOnPlateau(factor=0.5, patience=2, min_delta=0.0)
    values = [1.0, 0.9, 0.9, 0.95, 0.8, 0.85, 0.85, 0.7]
    # e0 best 1.0; e1 best 0.9; e2, e3 no better → wait 2 = patience → cut to 0.5 for e4;
    # e4 best 0.8; e5, e6 no better → cut to 0.25 for e7.
    assert plateau_run(schedule, values) == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]
    assert schedule.best_ == 0.7 and schedule.wait_ == 0


def test_plateau_needs_more_than_min_delta_to_count_an_improvement():
    schedule = ReduceOnPlateau(factor=0.1, patience=1, min_delta=0.1)
    # e1: 0.95 is not below 1.0 − 0.1 → cut; e2: 0.85 < 0.9 → improvement; e3: 0.8 is not below 0.75 → cut.
    assert plateau_run(schedule, [1.0, 0.95, 0.85, 0.8, 0.8]) == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])


def test_plateau_cooldown_ignores_that_many_epochs_after_a_cut():
    schedule = ReduceOnPlateau(factor=0.5, patience=1, cooldown=2)
    # A flat metric: cut at e1, e2 and e3 are cooldown, cut at e4, e5 and e6 cooldown, cut at e7.
    rates = plateau_run(schedule, [1.0] * 9)
    assert rates == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]


def test_plateau_never_goes_below_min_lr():
    schedule = ReduceOnPlateau(factor=0.1, patience=1, min_lr=0.05)
    # 1 → 0.1 → max(0.01, 0.05) = 0.05, then held.
    assert plateau_run(schedule, [1.0] * 6) == pytest.approx([1.0, 1.0, 0.1, 0.05, 0.05, 0.05])


def test_plateau_in_mode_max_and_auto():
    values = [0.5, 0.6, 0.6, 0.6, 0.55]
    for schedule in [
        ReduceOnPlateau("val_accuracy", factor=0.5, patience=2, min_delta=0.0),
        ReduceOnPlateau("score", factor=0.5, patience=2, min_delta=0.0, mode="max"),
    ]:
        # e1 improves on 0.5; e2, e3 do not → cut for e4.
        assert plateau_run(schedule, values, monitor=schedule.monitor) == [1.0, 1.0, 1.0, 1.0, 0.5]
        assert schedule.maximize and schedule.best_ == 0.6
    # Minimizing an accuracy, the rise from 0.5 counts as no improvement.
    schedule = ReduceOnPlateau("val_accuracy", factor=0.5, patience=2, min_delta=0.0, mode="min")
    assert plateau_run(schedule, values, monitor="val_accuracy") == [1.0, 1.0, 1.0, 0.5, 0.5]
    assert not ReduceOnPlateau("val_loss").maximize and ReduceOnPlateau("r2").maximize


def test_plateau_counts_a_nan_as_no_improvement():
    schedule = ReduceOnPlateau(factor=0.5, patience=1)
    assert plateau_run(schedule, [float("nan"), 1.0, float("nan"), 2.0]) == [1.0, 0.5, 0.5, 0.25]


def test_plateau_starts_from_the_first_base_lr_it_sees():
    schedule = ReduceOnPlateau(factor=0.5, patience=0)
    assert schedule(0, 0.3) == 0.3
    schedule.update(0, {"val_loss": 1.0})
    schedule.update(1, {"val_loss": 1.0})
    assert schedule(2, 0.3) == 0.15
    assert schedule(3, 99.0) == 0.15


def test_plateau_names_the_logs_it_was_given_when_the_monitor_is_missing():
    schedule = ReduceOnPlateau()
    schedule(0, 0.1)
    with pytest.raises(
        bp.ParameterError,
        match=r"ReduceOnPlateau monitors 'val_loss', which the epoch logs do not have; they have \['accuracy', 'loss'\]",
    ):
        schedule.update(0, {"loss": 0.5, "accuracy": 0.9})


def test_plateau_update_before_any_epoch_is_refused():
    with pytest.raises(bp.BackpropError, match=r"update was called before the schedule gave a learning rate"):
        ReduceOnPlateau().update(0, {"val_loss": 1.0})


# -- state --------------------------------------------------------------------


def test_plateau_state_round_trip_continues_identically():
    values = [1.0, 0.9, 0.95, 0.97, 0.99, 0.85, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95]
    straight = plateau_run(ReduceOnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.2), values)

    first = ReduceOnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.2)
    rates = plateau_run(first, values[:4])
    state = json.loads(json.dumps(first.state_dict()))
    assert state == {
        "name": "plateau", "monitor": "val_loss", "factor": 0.5, "patience": 2, "min_delta": 0.0001,
        "mode": "auto", "cooldown": 1, "min_lr": 0.2, "lr": 0.5, "best": 0.9, "wait": 0, "cooldown_counter": 1,
    }  # fmt: skip
    second = ReduceOnPlateau()
    second.load_state_dict(state)
    for epoch, value in enumerate(values[4:], start=4):
        rates.append(second(epoch, 1.0))
        second.update(epoch, {"val_loss": value})
    assert rates == straight
    assert repr(second) == repr(first)


@pytest.mark.parametrize(
    ("schedule", "blank"),
    [
        (Constant(), Constant()),
        (StepDecay(3, gamma=0.5), StepDecay(1)),
        (ExponentialDecay(0.9), ExponentialDecay(0.5)),
        (CosineDecay(20, min_lr=0.01, warmup=3), CosineDecay(5)),
    ],
)
def test_state_round_trip(schedule, blank):
    state = json.loads(json.dumps(schedule.state_dict()))
    blank.load_state_dict(state)
    assert curve(blank, 0.1, epochs=25) == curve(schedule, 0.1, epochs=25)
    assert repr(blank) == repr(schedule)


def test_repr():
    assert repr(Constant()) == "Constant()"
    assert repr(StepDecay(10)) == "StepDecay(step_size=10, gamma=0.1)"
    assert repr(ExponentialDecay(0.95)) == "ExponentialDecay(gamma=0.95)"
    assert repr(CosineDecay(50, warmup=5)) == "CosineDecay(epochs=50, min_lr=0.0, warmup=5)"
    assert repr(ReduceOnPlateau()) == (
        "ReduceOnPlateau(monitor='val_loss', factor=0.1, patience=10, min_delta=0.0001, mode='auto', cooldown=0, min_lr=0.0)"
    )


def test_a_user_schedule_needs_only_call():
    class Halving(Schedule):
        def __call__(self, epoch, base_lr):
            return base_lr / 2**epoch

    schedule = Halving()
    assert curve(schedule, 1.0, epochs=3) == [1.0, 0.5, 0.25]
    schedule.update(0, {})
    assert schedule.state_dict() == {"name": "halving"}
    schedule.load_state_dict({"name": "halving"})
    assert get_schedule(schedule) is schedule


# -- names --------------------------------------------------------------------


def test_get_schedule():
    assert isinstance(get_schedule(None), Constant)
    assert isinstance(get_schedule("constant"), Constant)
    assert isinstance(get_schedule("plateau"), ReduceOnPlateau)
    schedule = CosineDecay(10)
    assert get_schedule(schedule) is schedule
    assert set(SCHEDULES) == {"constant", "step", "exponential", "cosine", "plateau"}
    assert all(cls.name == name for name, cls in SCHEDULES.items())


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        (
            "step",
            bp.ParameterError,
            r"schedule 'step' needs step_size; pass an instance such as StepDecay\(step_size=\.\.\.\)",
        ),
        (
            "exponential",
            bp.ParameterError,
            r"schedule 'exponential' needs gamma; pass an instance such as ExponentialDecay\(gamma=\.\.\.\)",
        ),
        (
            "cosine",
            bp.ParameterError,
            r"schedule 'cosine' needs epochs; pass an instance such as CosineDecay\(epochs=\.\.\.\)",
        ),
        (
            "warmup",
            bp.ParameterError,
            r"Unknown schedule 'warmup'; expected one of \['constant', 'cosine', 'exponential', 'plateau', 'step'\]",
        ),
        (0.1, bp.BackpropTypeError, r"schedule must be a name such as 'plateau' or a Schedule .*got 0\.1"),
    ],
)
def test_get_schedule_bad_input(spec, error, match):
    with pytest.raises(error, match=match):
        get_schedule(spec)


# -- bad input ------------------------------------------------------------------

BAD_HYPER_PARAMETERS = [
    (lambda: StepDecay(0), r"step_size must be a positive integer, got step_size=0"),
    (lambda: StepDecay(2.5), r"step_size must be a positive integer, got step_size=2\.5"),
    (lambda: StepDecay(3, gamma=0), r"gamma must be a number in \(0, 1\], got gamma=0"),
    (lambda: StepDecay(3, gamma=1.5), r"gamma must be a number in \(0, 1\], got gamma=1\.5"),
    (lambda: ExponentialDecay(-0.5), r"gamma must be a number in \(0, 1\], got gamma=-0\.5"),
    (lambda: ExponentialDecay(float("nan")), r"gamma must be a number in \(0, 1\], got gamma=nan"),
    (lambda: CosineDecay(0), r"epochs must be a positive integer, got epochs=0"),
    (lambda: CosineDecay(10, min_lr=-0.1), r"min_lr must be a non-negative number, got min_lr=-0\.1"),
    (lambda: CosineDecay(10, warmup=-1), r"warmup must be a non-negative integer, got warmup=-1"),
    (lambda: CosineDecay(10, warmup=10), r"warmup must be smaller than epochs, got warmup=10 with epochs=10"),
    (lambda: CosineDecay(10, min_lr=0.5)(0, 0.1), r"min_lr=0\.5 exceeds the optimizer's learning rate 0\.1"),
    (lambda: ReduceOnPlateau(monitor=""), r"monitor must be the name of a metric such as 'val_loss', got monitor=''"),
    (
        lambda: ReduceOnPlateau(monitor=None),
        r"monitor must be the name of a metric such as 'val_loss', got monitor=None",
    ),
    (lambda: ReduceOnPlateau(factor=1.0), r"factor must be a number in \(0, 1\), got factor=1\.0"),
    (lambda: ReduceOnPlateau(factor=0), r"factor must be a number in \(0, 1\), got factor=0"),
    (lambda: ReduceOnPlateau(patience=-1), r"patience must be a non-negative integer, got patience=-1"),
    (lambda: ReduceOnPlateau(patience=2.0), r"patience must be a non-negative integer, got patience=2\.0"),
    (lambda: ReduceOnPlateau(min_delta=-1e-4), r"min_delta must be a non-negative number, got min_delta=-0\.0001"),
    (lambda: ReduceOnPlateau(mode="best"), r"mode must be one of \['auto', 'max', 'min'\], got mode='best'"),
    (lambda: ReduceOnPlateau(cooldown=-2), r"cooldown must be a non-negative integer, got cooldown=-2"),
    (lambda: ReduceOnPlateau(min_lr=float("inf")), r"min_lr must be a non-negative number, got min_lr=inf"),
    (lambda: Constant()(-1, 0.1), r"epoch must be a non-negative integer, got epoch=-1"),
    (lambda: StepDecay(2)(1.5, 0.1), r"epoch must be a non-negative integer, got epoch=1\.5"),
    (lambda: ExponentialDecay(0.5)(0, 0), r"base_lr must be a positive number, got base_lr=0"),
    (lambda: ReduceOnPlateau()(0, np.float64(-0.1)), r"base_lr must be a positive number, got base_lr=-0\.1"),
]


@pytest.mark.parametrize(("call", "match"), BAD_HYPER_PARAMETERS)
def test_bad_hyper_parameters(call, match):
    with pytest.raises(bp.ParameterError, match=match):
        call()


def plateau_state(**changes):
    schedule = ReduceOnPlateau()
    plateau_run(schedule, [1.0, 2.0])
    return {**schedule.state_dict(), **changes}


BAD_STATES = [
    (
        lambda: StepDecay(2).load_state_dict(Constant().state_dict()),
        bp.ParameterError,
        r"state is for schedule 'constant', not 'step'",
    ),
    (
        lambda: Constant().load_state_dict("constant"),
        bp.BackpropTypeError,
        r"state must be a dict from state_dict\(\), got str",
    ),
    (
        lambda: StepDecay(2).load_state_dict({"name": "step", "step_size": 2}),
        bp.ParameterError,
        r"step schedule state is missing \['gamma'\]",
    ),
    (
        lambda: CosineDecay(5).load_state_dict({**CosineDecay(5).state_dict(), "cycles": 2}),
        bp.ParameterError,
        r"cosine schedule state has unexpected entries \['cycles'\]",
    ),
    (
        lambda: CosineDecay(5).load_state_dict({**CosineDecay(5).state_dict(), "warmup": 7}),
        bp.ParameterError,
        r"warmup must be smaller than epochs, got warmup=7 with epochs=5",
    ),
    (
        lambda: ReduceOnPlateau().load_state_dict(plateau_state(wait=-1)),
        bp.ParameterError,
        r"wait must be a non-negative integer, got wait=-1",
    ),
    (
        lambda: ReduceOnPlateau().load_state_dict(plateau_state(best="low")),
        bp.ParameterError,
        r"best must be None or a finite number, got best='low'",
    ),
    (
        lambda: ReduceOnPlateau().load_state_dict(plateau_state(best=math.inf)),
        bp.ParameterError,
        r"best must be None or a finite number, got best=inf",
    ),
    (
        lambda: ReduceOnPlateau().load_state_dict(plateau_state(lr=-0.5)),
        bp.ParameterError,
        r"lr must be a non-negative number, got lr=-0\.5",
    ),
    (
        lambda: ReduceOnPlateau().load_state_dict(plateau_state(factor=2.0)),
        bp.ParameterError,
        r"factor must be a number in \(0, 1\), got factor=2\.0",
    ),
    (
        lambda: ReduceOnPlateau().load_state_dict(
            {k: v for k, v in plateau_state().items() if k != "cooldown_counter"}
        ),
        bp.ParameterError,
        r"plateau schedule state is missing \['cooldown_counter'\]",
    ),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD_STATES)
def test_bad_states_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_refused_state_changes_nothing():
    schedule = ReduceOnPlateau(patience=3)
    plateau_run(schedule, [1.0, 2.0])
    before = schedule.state_dict()
    with pytest.raises(bp.ParameterError):
        schedule.load_state_dict({**before, "patience": 5, "cooldown_counter": -1})
    assert schedule.state_dict() == before
