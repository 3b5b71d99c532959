"""Resuming training: a checkpoint's training state, checked field by field, and restored.

:func:`read_checkpoint` reads a checkpoint written by
:class:`backprop.callbacks.ModelCheckpoint` (or takes the pair
:func:`backprop.io.load_checkpoint` returned) and checks every field that does
not depend on the call that resumes it; :func:`restore` checks the rest
against that call's optimizer, schedule, callbacks and data before it changes
anything, then puts the run where the checkpoint left it. Every error is a
:class:`~backprop.errors.ModelFileError` naming the file and the field.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np

from ._threads import MAX_THREADS
from ._validation import FloatArray, is_count, is_finite_number, is_integer, shown, shown_briefly
from .callbacks import Callback, History, TrainingState
from .errors import BackpropError, BackpropTypeError, ModelFileError, ParameterError
from .io import load_checkpoint
from .network import Network
from .optimizers import OPTIMIZERS


@dataclass
class Checkpoint:
    """A checkpoint's training state (``TrainingState.checkpoint()``), each field checked."""

    where: str
    epoch: int
    seed: int
    base_lr: float
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    rngs: dict[str, Any]
    history: dict[str, Any]
    callbacks: list[dict[str, Any]]
    partial: dict[str, Any] | None
    parameters: FloatArray
    threads: int | None = None  # the threads the run had (absent from older checkpoints)


#: The fields every training state has; ``callbacks`` and ``partial`` may be absent.
_STATE_FIELDS = ("epoch", "epochs", "seed", "base_lr", "optimizer", "schedule", "rngs", "history")


def read_checkpoint(net: Network, source: str | PathLike[str] | tuple[Network, dict[str, Any]]) -> Checkpoint:
    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], Network):
        (saved, state), where = source, "the checkpoint given as resume_from"
        label = where
    elif isinstance(source, str | PathLike):
        saved, state = load_checkpoint(source)
        where = str(os.fspath(source))
        label = f"checkpoint {where!r}"
    else:
        raise BackpropTypeError(
            f"resume_from must be a path (str or os.PathLike) or the (network, state) pair of load_checkpoint, "
            f"got {shown_briefly(source)}"
        )
    if saved.config() != net.config():
        raise ParameterError(f"{label} holds a different network: {saved!r}; this network is {net!r}")
    return _check_training_state(state, saved, where)


def _field_error(where: str, name: str, rule: str, value: Any) -> ModelFileError:
    return ModelFileError(f"{where}: state field {name!r} must be {rule}, got {shown_briefly(value)}")


def _unusable(where: str, name: str, error: BackpropError) -> ModelFileError:
    return ModelFileError(f"{where}: state field {name!r} is unusable: {error}")


def _check_training_state(state: Any, saved: Network, where: str) -> Checkpoint:
    """Check every field of a checkpoint's training state that does not depend on the call that resumes it.

    ``saved`` is the checkpoint's network. :func:`restore` checks the rest
    (against this call's optimizer, schedule, callbacks and data) before it
    changes anything. Raises :class:`ModelFileError` naming the file and the field.
    """
    if not isinstance(state, dict):
        raise ModelFileError(f"{where}: the checkpoint state must be a dict, got {shown_briefly(state)}")
    for key in _STATE_FIELDS:
        if key not in state:
            raise ModelFileError(f"{where}: not a training checkpoint: its state has no {key!r}")
    epochs, epoch, seed, base_lr = state["epochs"], state["epoch"], state["seed"], state["base_lr"]
    if not (is_count(epochs) and epochs > 0):
        raise _field_error(where, "epochs", "a positive integer", epochs)
    if not (is_integer(epoch) and -1 <= int(epoch) < int(epochs)):
        raise _field_error(
            where, "epoch", f"an integer from -1 (none finished) to epochs - 1 = {int(epochs) - 1}", epoch
        )
    if not is_count(seed):
        raise _field_error(where, "seed", "an integer >= 0", seed)
    if not (is_finite_number(base_lr) and base_lr > 0):
        raise _field_error(where, "base_lr", "a positive number", base_lr)

    n_parameters = saved.parameters.shape[0]
    largest = float(np.finfo(saved.dtype).max)
    for key in ("optimizer", "schedule"):
        if not isinstance(state[key], dict) or not isinstance(state[key].get("name"), str):
            raise _field_error(where, key, "a dict with a 'name'", state[key])
    for key, buffer in state["optimizer"].items():
        # The buffers run along the flat parameter buffer, in its dtype (the optimizer checks the rest).
        if not isinstance(buffer, np.ndarray) or buffer.ndim != 1:
            continue
        if buffer.shape[0] != n_parameters:
            raise ModelFileError(
                f"{where}: state field 'optimizer.{key}' has {buffer.shape[0]:,} values, "
                f"the network has {n_parameters:,} parameters"
            )
        if buffer.dtype.kind == "f" and buffer.size:
            peak = float(np.abs(buffer).max())
            if math.isfinite(peak) and peak > largest:
                raise ModelFileError(
                    f"{where}: state field 'optimizer.{key}' holds {peak:.4g}, beyond {saved.dtype.name}'s range"
                )
    if not isinstance(state["rngs"], dict):
        raise _field_error(where, "rngs", "a dict of random generator states", state["rngs"])
    try:
        History().load_state_dict(state["history"])
    except BackpropError as error:
        raise _unusable(where, "history", error) from error
    threads = state.get("threads")
    if threads is not None and not (is_count(threads) and 1 <= threads <= MAX_THREADS):
        raise _field_error(where, "threads", f"None or an integer from 1 to {MAX_THREADS}", threads)
    callbacks = state.get("callbacks", [])
    if not isinstance(callbacks, list):
        raise _field_error(where, "callbacks", "a list", callbacks)
    for index, entry in enumerate(callbacks):
        if not (
            isinstance(entry, dict)
            and set(entry) == {"type", "state"}
            and isinstance(entry["type"], str)
            and isinstance(entry["state"], dict)
        ):
            raise _field_error(where, f"callbacks[{index}]", "a dict {'type': class name, 'state': dict}", entry)
    return Checkpoint(
        where=where,
        epoch=int(epoch),
        seed=int(seed),
        base_lr=float(base_lr),
        optimizer=state["optimizer"],
        schedule=state["schedule"],
        rngs=state["rngs"],
        history=state["history"],
        callbacks=callbacks,
        partial=_check_partial_fields(state.get("partial"), int(epoch), len(saved.dense_layers), where),
        parameters=saved.parameters,
        threads=None if threads is None else int(threads),
    )


def _check_partial_fields(partial: Any, epoch: int, n_dense: int, where: str) -> dict[str, Any] | None:
    """A mid-epoch position (``TrainingState.partial``), checked field by field; None if there is none."""
    if partial is None:
        return None
    keys = ["epoch", "norm_sums", "order", "step", "sums"]
    if not isinstance(partial, dict) or sorted(partial) != keys:
        raise _field_error(where, "partial", f"None or a dict of {keys}", partial)
    if not (is_integer(partial["epoch"]) and partial["epoch"] == epoch + 1):
        raise _field_error(
            where, "partial.epoch", f"{epoch + 1}, the epoch after the last finished one", partial["epoch"]
        )
    step, order, sums, norm_sums = partial["step"], partial["order"], partial["sums"], partial["norm_sums"]
    if not is_count(step):
        raise _field_error(where, "partial.step", "the number of batches done, an integer >= 0", step)
    if not (isinstance(order, np.ndarray) and order.ndim == 1 and order.dtype.kind in "iu"):
        raise _field_error(where, "partial.order", "a 1-D integer array of row numbers", order)
    if not (isinstance(sums, list) and len(sums) == 4 and all(map(is_finite_number, sums))):
        raise _field_error(where, "partial.sums", "a list of 4 finite numbers", sums)
    values = norm_sums.tolist() if isinstance(norm_sums, np.ndarray) and norm_sums.ndim == 1 else norm_sums
    if not (isinstance(values, list) and len(values) == n_dense and all(map(is_finite_number, values))):
        raise _field_error(where, "partial.norm_sums", f"{n_dense} finite numbers, one per Dense layer", norm_sums)
    return {
        "epoch": epoch + 1,
        "step": int(step),
        "order": order,
        "sums": [float(value) for value in sums],
        "norm_sums": np.array(values, dtype=np.float64),
    }


def _check_partial(partial: dict[str, Any] | None, rows: np.ndarray[Any, Any], n_steps: int, where: str) -> None:
    """A checkpoint's mid-epoch position against this run's training ``rows`` and batches per epoch."""
    if partial is None:
        return
    order = partial["order"]
    if order.shape != rows.shape:
        raise ParameterError(
            f"checkpoint {where!r} holds a batch order for other data: {rows.shape[0]} training rows now, "
            f"got {shown(order.shape)}; resume with the same data and validation split"
        )
    if partial["step"] > n_steps:
        raise ParameterError(
            f"checkpoint {where!r} stopped in epoch {partial['epoch']} after batch {partial['step']}, but an epoch "
            f"has {n_steps} batches now; resume with the same data, validation split and batch_size"
        )
    ordered = np.sort(order)
    if not np.array_equal(ordered, rows):
        if order.size and (int(ordered[0]) < 0 or bool((ordered[1:] == ordered[:-1]).any())):
            raise ModelFileError(
                f"{where}: state field 'partial.order' is not a batch order: it repeats rows or holds negative ones"
            )
        raise ParameterError(
            f"checkpoint {where!r} holds a batch order of other rows than this run's {rows.shape[0]} training "
            "rows; resume with the same data and validation split"
        )


def _check_generator_state(value: Any, kind: type[np.random.BitGenerator], name: str, where: str) -> None:
    """A bit generator's ``state`` dict, checked (numpy's setter takes wrong types and sizes silently)."""
    if not isinstance(value, dict) or value.get("bit_generator") != kind.__name__:
        raise _field_error(where, name, f"the state of a {kind.__name__} random generator", value)
    if kind is np.random.PCG64:
        inner: Any = value.get("state")
        has_uint32: Any = value.get("has_uint32")
        uinteger: Any = value.get("uinteger")
        if not (
            set(value) == {"bit_generator", "state", "has_uint32", "uinteger"}
            and isinstance(inner, dict)
            and set(inner) == {"state", "inc"}
            and all(is_integer(number) and 0 <= number < 2**128 for number in inner.values())
            and is_integer(has_uint32)
            and has_uint32 in (0, 1)
            and is_integer(uinteger)
            and 0 <= uinteger < 2**32
        ):
            raise _field_error(
                where,
                name,
                "a PCG64 state: integers 'state' and 'inc' in [0, 2**128), 'has_uint32' 0 or 1, "
                "'uinteger' in [0, 2**32)",
                value,
            )
    try:
        kind(0).state = value
    except (TypeError, ValueError, KeyError, OverflowError) as error:  # numpy's own checks, for other kinds
        raise ModelFileError(f"{where}: state field {name!r} is not a {kind.__name__} state: {error}") from None


def _trial_load(component: Any, saved: Any, where: str, name: str) -> Any:
    """A copy of ``component`` (an optimizer or a schedule) that loaded ``saved``: its checks run, it is untouched."""
    trial = copy.deepcopy(component)
    try:
        trial.load_state_dict(saved)
    except BackpropError as error:
        raise _unusable(where, name, error) from error
    return trial


def saved_optimizer(checkpoint: Checkpoint) -> str:
    """The name of the optimizer a checkpoint was trained with, for ``fit(optimizer=None)``."""
    name = checkpoint.optimizer["name"]
    if name not in OPTIMIZERS:
        raise ModelFileError(
            f"{checkpoint.where}: state field 'optimizer.name' is {shown_briefly(name)}, not one of "
            f"{sorted(OPTIMIZERS)}; pass the optimizer it was trained with as optimizer="
        )
    return str(name)


def _matched_callbacks(
    callbacks: list[Callback], saved: list[dict[str, Any]]
) -> list[tuple[int, Callback, dict[str, Any]]]:
    """``(index, callback, saved state)`` for each callback whose class saved a state at its place.

    Only when the call has as many callbacks as the checkpoint saved; others start afresh.
    """
    if len(saved) != len(callbacks):
        return []
    pairs = enumerate(zip(callbacks, saved, strict=True))
    return [
        (index, callback, entry["state"])
        for index, (callback, entry) in pairs
        if entry["type"] == type(callback).__name__
    ]


def restore(state: TrainingState, checkpoint: Checkpoint, rows: np.ndarray[Any, Any], n_steps: int) -> None:
    """Put optimizer, schedule, generators, history, callbacks and epoch back where the checkpoint left them.

    All is checked first, against this call (its optimizer, schedule,
    callbacks and training ``rows``), so that a checkpoint that does not fit
    raises with the network, the optimizer and the callbacks as they were.
    """
    where = checkpoint.where
    for kind, component in (("optimizer", state.optimizer), ("schedule", state.schedule)):
        saved_name = getattr(checkpoint, kind)["name"]
        if saved_name != component.name:
            raise ParameterError(
                f"checkpoint {where!r} was trained with {kind} {shown_briefly(saved_name)}, "
                f"this call passes {component!r}"
            )
    _trial_load(state.optimizer, checkpoint.optimizer, where, "optimizer")
    schedule = _trial_load(state.schedule, checkpoint.schedule, where, "schedule")
    if checkpoint.epoch + 1 < state.epochs:
        try:  # the rate of the first epoch to run: a schedule may refuse the checkpoint's base_lr
            schedule(checkpoint.epoch + 1, checkpoint.base_lr)
        except BackpropError as error:
            raise _unusable(where, "schedule", error) from error
    if sorted(checkpoint.rngs) != sorted(state.rngs):
        raise _field_error(where, "rngs", f"the states of the generators {sorted(state.rngs)}", checkpoint.rngs)
    for name, rng in state.rngs.items():
        _check_generator_state(checkpoint.rngs[name], type(rng.bit_generator), f"rngs.{name}", where)
    matched = _matched_callbacks(state.callbacks, checkpoint.callbacks)
    for index, callback, callback_state in matched:
        try:
            callback.check_state_dict(callback_state, state.net)
        except BackpropError as error:
            raise ModelFileError(
                f"{where}: state field 'callbacks[{index}]' is unusable by {type(callback).__name__}: {error}"
            ) from error
    _check_partial(checkpoint.partial, rows, n_steps, where)

    # All checked. The callbacks first: one of the caller's own that refuses its
    # state then leaves the network, the optimizer and the schedule as they were,
    # and the callbacks loaded before it go back to the states they had.
    loaded: list[tuple[Callback, dict[str, Any]]] = []
    try:
        for _, callback, callback_state in matched:
            before = callback.state_dict()
            callback.load_state_dict(callback_state)
            loaded.append((callback, before))
    except BaseException:
        for callback, before in reversed(loaded):
            with contextlib.suppress(Exception):  # the refusal is what the caller needs to see
                callback.load_state_dict(before)
        raise
    state.optimizer.load_state_dict(checkpoint.optimizer)
    state.schedule.load_state_dict(checkpoint.schedule)
    for name, rng in state.rngs.items():
        rng.bit_generator.state = checkpoint.rngs[name]
    state.history.load_state_dict(checkpoint.history)
    state.base_lr = checkpoint.base_lr
    state.epoch = checkpoint.epoch
    state.partial = checkpoint.partial
    np.copyto(state.net.parameters, checkpoint.parameters)


__all__ = ["Checkpoint", "read_checkpoint", "restore", "saved_optimizer"]
