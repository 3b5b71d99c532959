"""Resuming from a checkpoint whose training state is damaged.

``fit(resume_from=path)`` checks the whole training state before it changes
anything: a field that is missing, of the wrong type, out of range or of the
wrong size is a ModelFileError naming the file and the field, and the
network, the optimizer, the schedule and the callbacks are left as they were.
Most cases below once crashed with a KeyError, TypeError, ValueError,
AttributeError or OverflowError, some in the middle of training, after the
network had been overwritten; others were taken silently.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop import io

pytest.importorskip("safetensors")

X = np.linspace(-1.0, 1.0, 40).reshape(10, 4)
Y = np.arange(10) % 3
N_PARAMETERS = (4 * 6 + 6) + (6 * 3 + 3)  # 51


def network(seed: int = 0) -> bp.Network:
    return bp.Network([bp.Dense(6, "tanh"), bp.Dropout(0.2), bp.Dense(3, "softmax")], inputs=4, seed=seed)


class StopAfterBatch(bp.Callback):
    """Stop in the second epoch after its first batch: the checkpoint holds a mid-epoch position."""

    def __init__(self) -> None:
        self.batches = 0

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> bool:
        self.batches += 1
        return self.batches == 4


def callbacks(path: Path, stop: bool = True) -> list[bp.Callback]:
    """The callbacks of the checkpoint's run; a resumed run has a plain Callback in the place of the stop."""
    return [
        bp.EarlyStopping(monitor="loss", patience=5),
        StopAfterBatch() if stop else bp.Callback(),
        bp.ModelCheckpoint(path),
    ]


OPTIONS: dict[str, Any] = {"loss": "crossentropy", "epochs": 3, "batch_size": 4}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint with every field: Adam's buffers, a cosine schedule, callback states, a mid-epoch position."""
    path = tmp_path_factory.mktemp("resume") / "run.ckpt"
    schedule = bp.CosineDecay(epochs=3)
    network().fit(X, Y, optimizer=bp.Adam(0.01), seed=1, schedule=schedule, callbacks=callbacks(path), **OPTIONS)
    _, state = io.load_checkpoint(path)
    assert state["partial"] is not None and "best_parameters" in state["callbacks"][0]["state"]
    return path


def damaged(checkpoint: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], Any]) -> Path:
    """A copy of ``checkpoint`` whose training state went through ``edit`` (a valid file otherwise)."""
    net, state = io.load_checkpoint(checkpoint)
    edit(state)
    path = tmp_path / "model.ckpt"
    io.save_checkpoint(net, path, state)
    return path


def resume(path: Path, optimizer: Any = None, net: bp.Network | None = None, **options: Any) -> bp.History:
    net = network(seed=7) if net is None else net
    options = {"schedule": bp.CosineDecay(epochs=3), "callbacks": callbacks(path.with_suffix(".out"), False), **options}
    return net.fit(X, Y, optimizer=optimizer, resume_from=path, **OPTIONS, **options)


def test_the_undamaged_checkpoint_resumes(checkpoint: Path) -> None:
    history = resume(checkpoint)
    assert history.epoch == [0, 1, 2]


def set_at(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(state: dict[str, Any]) -> None:
        for key in keys[:-1]:
            state = state[key]
        state[keys[-1]] = value

    return edit


def delete(*keys: Any) -> Callable[[dict[str, Any]], None]:
    def edit(state: dict[str, Any]) -> None:
        for key in keys[:-1]:
            state = state[key]
        del state[keys[-1]]

    return edit


def buffers(value: np.ndarray) -> Callable[[dict[str, Any]], None]:
    """Both of Adam's buffers replaced by ``value``."""

    def edit(state: dict[str, Any]) -> None:
        state["optimizer"]["exp_avg"], state["optimizer"]["exp_avg_sq"] = value, value.copy()

    return edit


# (edit, what the error must say). The comments say what the same file did before: a raw exception,
# a BackpropError that named neither the file nor the field, or nothing at all.
DAMAGE = [
    # ParameterError "is not a training checkpoint"
    (delete("rngs"), r"not a training checkpoint: its state has no 'rngs'"),
    # taken as int("1"), or a ParameterError about the mid-epoch position
    (set_at("epoch", value="1"), r"state field 'epoch' must be an integer from -1 \(none finished\) to epochs - 1"),
    (set_at("epoch", value=-5), r"state field 'epoch' must be an integer from -1"),
    (set_at("epoch", value=2**70), r"state field 'epoch' must be an integer .* got 1180591620717411303424"),
    # ParameterError "seed must be None or a non-negative integer, got seed=True"
    (set_at("seed", value=True), r"state field 'seed' must be an integer >= 0, got True"),
    # ParameterError "base_lr must be a positive number", raised by the schedule in the first epoch
    (set_at("base_lr", value=float("nan")), r"state field 'base_lr' must be a positive number, got nan"),
    # taken as float("0.01")
    (set_at("base_lr", value="0.01"), r"state field 'base_lr' must be a positive number, got '0.01'"),
    # ShapeError "Adam holds state for 10 parameters but was given 51", in the first step of training
    (
        buffers(np.zeros(10, np.float32)),
        r"model.ckpt: state field 'optimizer.exp_avg' has 10 values, the network has 51 parameters",
    ),
    # DivergenceError in the middle of training: the cast to float32 made the buffers infinite
    (buffers(np.full(N_PARAMETERS, 1e300)), r"state field 'optimizer.exp_avg' holds 1e\+300, beyond float32's range"),
    # DataError "adam state 'exp_avg_sq' contains infinity"
    (
        set_at("optimizer", "exp_avg_sq", value=np.full(N_PARAMETERS, np.inf, np.float32)),
        r"state field 'optimizer' is unusable: adam state 'exp_avg_sq' contains infinity",
    ),
    # OverflowError: int too large to convert to float (beta ** step, in the first step)
    (set_at("optimizer", "step", value=10**400), r"state field 'optimizer' is unusable: step must be at most 2\*\*53"),
    # KeyError: 'name'
    (delete("optimizer", "name"), r"state field 'optimizer' must be a dict with a 'name'"),
    # accepted; an OverflowError in CosineDecay's warm-up when W is that large too
    (
        set_at("schedule", "epochs", value=10**400),
        r"state field 'schedule' is unusable: epochs must be at most 2\*\*53",
    ),
    # ParameterError "warmup must be a non-negative integer"
    (set_at("schedule", "warmup", value="1"), r"state field 'schedule' is unusable: warmup must be a non-negative"),
    # ParameterError, raised in the first epoch, after everything was restored
    (
        set_at("schedule", "min_lr", value=1.0),
        r"state field 'schedule' is unusable: min_lr=1.0 exceeds the optimizer's learning rate 0.01",
    ),
    # ValueError: state must be for a PCG64 RNG
    (
        set_at("rngs", "shuffle", "bit_generator", value="MT19937"),
        r"state field 'rngs.shuffle' must be the state of a PCG64 random generator",
    ),
    # KeyError: 'inc'
    (delete("rngs", "dropout", "state", "inc"), r"state field 'rngs.dropout' must be a PCG64 state"),
    # OverflowError: Python int too large to convert to C long
    (set_at("rngs", "dropout", "state", "state", value=2**200), r"state field 'rngs.dropout' must be a PCG64 state"),
    # accepted by numpy: another random stream
    (set_at("rngs", "shuffle", "has_uint32", value=5), r"state field 'rngs.shuffle' must be a PCG64 state"),
    # KeyError: 'dropout'
    (delete("rngs", "dropout"), r"state field 'rngs' must be the states of the generators \['dropout', 'shuffle'\]"),
    # AttributeError: 'list' object has no attribute 'items'
    (set_at("history", "history", value=[1, 2]), r"state field 'history' is unusable: history must map metric names"),
    # OverflowError: int too large to convert to float
    (
        set_at("history", "history", "loss", value=[0.5, 10**400]),
        r"state field 'history' is unusable: history\['loss'\] must be a list of at most 1 numbers",
    ),
    # taken as int("0")
    (set_at("history", "epoch", value=["0"]), r"state field 'history' is unusable: epoch must be a list of epoch num"),
    # AttributeError: 'int' object has no attribute 'get'
    (set_at("callbacks", value=[1, 2, 3]), r"state field 'callbacks\[0\]' must be a dict \{'type': class name"),
    # KeyError: 'wait'
    (
        delete("callbacks", 0, "state", "wait"),
        r"state field 'callbacks\[0\]' is unusable by EarlyStopping: EarlyStopping state is missing \['wait'\]",
    ),
    # ValueError: invalid literal for int() with base 10: 'PCG64'
    (
        set_at("callbacks", 0, "state", "wait", value="PCG64"),
        r"'callbacks\[0\]' is unusable by EarlyStopping: wait must be a non-negative integer, got wait='PCG64'",
    ),
    # ValueError: could not broadcast input array from shape (10,) into shape (51,), at the end of an epoch
    (
        set_at("callbacks", 0, "state", "best_parameters", value=np.zeros(10, np.float32)),
        r"EarlyStopping: best_parameters holds 10 float32 values, the network has 51 float32 parameters",
    ),
    # taken as float("inf")
    (
        set_at("callbacks", 2, "state", "best", value="inf"),
        r"'callbacks\[2\]' is unusable by ModelCheckpoint: best must be a number",
    ),
    # ValueError: operands could not be broadcast together with shapes (3,) (2,) (3,), after the first batch
    (
        set_at("partial", "norm_sums", value=np.zeros(3)),
        r"state field 'partial.norm_sums' must be 2 finite numbers, one per Dense layer",
    ),
    # ParameterError "its mid-epoch sums are malformed"
    (set_at("partial", "sums", value=[0.5, 0.5, "BOOL", 0.0]), r"state field 'partial.sums' must be a list of 4"),
    # ValueError: The truth value of an array with more than one element is ambiguous
    (set_at("partial", "epoch", value=np.array([1, 1])), r"state field 'partial.epoch' must be 1, the epoch after"),
    # accepted: row 0 visited ten times, the others never
    (
        set_at("partial", "order", value=np.zeros(10, np.int64)),
        r"state field 'partial.order' is not a batch order: it repeats rows",
    ),
]


@pytest.mark.parametrize(("edit", "match"), DAMAGE, ids=[match[:50] for _, match in DAMAGE])
def test_a_damaged_training_state_is_a_model_file_error(
    checkpoint: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], Any], match: str
) -> None:
    path = damaged(checkpoint, tmp_path, edit)
    with pytest.raises(bp.ModelFileError, match=match) as error:
        resume(path)
    assert str(error.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    "edit",
    [
        set_at("rngs", "dropout", "state", "inc", value=-1),
        set_at("callbacks", 0, "state", "best_parameters", value=np.zeros(10, np.float32)),
        set_at("schedule", "min_lr", value=1.0),
        set_at("partial", "order", value=np.zeros(10, np.int64)),
    ],
)
def test_a_refused_resume_changes_nothing(checkpoint: Path, tmp_path: Path, edit: Callable[..., Any]) -> None:
    # These are checked last: the optimizer and the schedule have been loaded (into copies) by then.
    path = damaged(checkpoint, tmp_path, edit)
    net, optimizer, schedule = network(seed=7), bp.Adam(0.01), bp.CosineDecay(epochs=3)
    early, stop, saver = callbacks(tmp_path / "out.ckpt", stop=False)
    before = (net.parameters.copy(), optimizer.state_dict(), schedule.state_dict(), early.state_dict())
    with pytest.raises(bp.ModelFileError):
        resume(path, optimizer=optimizer, net=net, schedule=schedule, callbacks=[early, stop, saver])
    np.testing.assert_array_equal(net.parameters, before[0])
    assert optimizer.state_dict() == before[1] and optimizer.steps == 0
    assert schedule.state_dict() == before[2]
    assert early.state_dict() == before[3] and early.best_epoch is None
    assert not (tmp_path / "out.ckpt").exists()


def test_an_unknown_optimizer_name_asks_for_the_optimizer(checkpoint: Path, tmp_path: Path) -> None:
    # KeyError: 'name' before; an unknown name gave "Unknown optimizer" without the file.
    path = damaged(checkpoint, tmp_path, set_at("optimizer", "name", value="lion"))
    with pytest.raises(
        bp.ModelFileError, match=r"state field 'optimizer.name' is 'lion', not one of \['adagrad', .*optimizer="
    ):
        resume(path)


def test_another_optimizer_or_schedule_is_a_parameter_error(checkpoint: Path) -> None:
    with pytest.raises(bp.ParameterError, match=r"was trained with optimizer 'adam', this call passes SGD\(lr=0.1"):
        resume(checkpoint, optimizer=bp.SGD(0.1))
    with pytest.raises(bp.ParameterError, match=r"was trained with schedule 'cosine', this call passes StepDecay"):
        resume(checkpoint, schedule=bp.StepDecay(2))


def test_history_load_state_dict_checks_before_changing_anything() -> None:
    history = bp.History()
    history.append(0, {"loss": 1.0})
    for bad, match in [
        ([], r"state must be a dict from state_dict\(\), got list"),
        ({"epoch": [0], "history": {}}, r"history state is missing \['seed'\]"),
        ({"epoch": [0, True], "history": {}, "seed": 1}, r"epoch must be a list of epoch numbers"),
        ({"epoch": [0], "history": {"loss": [1.0, 2.0]}, "seed": 1}, r"history\['loss'\] must be a list of at most 1"),
        ({"epoch": [0], "history": {}, "seed": -1}, r"seed must be None or a non-negative integer, got seed=-1"),
    ]:
        with pytest.raises(bp.BackpropError, match=match):
            history.load_state_dict(bad)
    assert history.epoch == [0] and history.history == {"loss": [1.0]}


def test_callback_states_are_checked() -> None:
    early = bp.EarlyStopping()
    with pytest.raises(bp.ParameterError, match=r"best must be a number \(±inf before any epoch\), got best=nan"):
        early.load_state_dict({"best": float("nan"), "wait": 0, "best_epoch": None, "stopped_epoch": None})
    with pytest.raises(bp.ParameterError, match=r"EarlyStopping state has unexpected entries \['extra'\]"):
        early.load_state_dict({"best": 1.0, "wait": 0, "best_epoch": None, "stopped_epoch": None, "extra": 1})
    with pytest.raises(bp.ShapeError, match=r"best_parameters must be a 1-D float32 or float64 array"):
        early.load_state_dict({"best": 1.0, "wait": 0, "best_epoch": 2, "stopped_epoch": None, "best_parameters": [1]})
    assert early.best_epoch is None
    saver = bp.ModelCheckpoint("x.ckpt")
    with pytest.raises(bp.ParameterError, match=r"ModelCheckpoint state is missing \['best'\]"):
        saver.load_state_dict({})


def test_counts_beyond_2_53_are_refused() -> None:
    # A 400-digit warm-up overflowed CosineDecay's (e + 1) / (W + 1); a 400-digit step Adam's β^t.
    with pytest.raises(bp.ParameterError, match=r"epochs must be at most 2\*\*53, got epochs=9007199254740993"):
        bp.CosineDecay(epochs=2**53 + 1)
    state = {**bp.Adam().state_dict(), "step": 10**400}
    with pytest.raises(bp.ParameterError, match=r"step must be at most 2\*\*53, got step=1000000000.*\.\.\.$"):
        bp.Adam().load_state_dict(state)


class Counter(bp.Callback):
    """A callback of the caller's with a state: the batches it saw."""

    def __init__(self) -> None:
        self.seen = 0

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        self.seen += 1

    def state_dict(self) -> dict[str, Any]:
        return {"seen": self.seen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seen = int(state["seen"])


class Refusing(Counter):
    """Saves a state like Counter, and refuses every state it is given back."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise ValueError("this callback cannot continue a run")


def test_a_callback_refusing_its_state_leaves_the_callbacks_loaded_before_it_as_they_were(tmp_path: Path) -> None:
    # The first callback loads its saved state (seen = 9, three epochs of three batches), then
    # the second, the caller's own, refuses: the first goes back to seen = 0, nothing else moved.
    path = tmp_path / "run.ckpt"
    network().fit(X, Y, seed=1, callbacks=[Counter(), Refusing(), bp.ModelCheckpoint(path)], **OPTIONS)
    assert io.load_checkpoint(path)[1]["callbacks"][0]["state"] == {"seen": 9}
    counter, net = Counter(), network(seed=7)
    before = net.parameters.copy()
    with pytest.raises(ValueError, match="cannot continue a run"):
        net.fit(X, Y, resume_from=path, callbacks=[counter, Refusing(), bp.ModelCheckpoint(path)], **OPTIONS)
    assert counter.seen == 0
    np.testing.assert_array_equal(net.parameters, before)
