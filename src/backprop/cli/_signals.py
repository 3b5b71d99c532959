"""Stop signals and the progress of training: Ctrl-C, SIGTERM and SIGHUP end a command cleanly.

:func:`stop_signals` routes the three signals to a handler for a block (by
default they unwind as KeyboardInterrupt); :class:`TrainMonitor` is the
callback of ``train`` and ``demo``: it draws the progress bar and, on the
first stop signal, stops after the batch and writes a checkpoint that
resumes bit for bit. :class:`Stop` remembers the signal for the exit status
(128 + its number).

Imports click, rich and the library's public names.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import click
from rich.console import Console

from ..files import STOP_SIGNALS
from ..training import Callback, TrainingState


def tell(message: str) -> None:
    """A message on standard error that may find the terminal gone (after SIGHUP): then it is not said."""
    with contextlib.suppress(OSError):
        click.echo(message, err=True)


def _signal_names() -> dict[int, str]:
    return {int(getattr(signal, name)): name for name in STOP_SIGNALS if hasattr(signal, name)}


class Interrupted(KeyboardInterrupt):
    """What a stop signal raises: a KeyboardInterrupt (every ``except KeyboardInterrupt`` takes it), not that class.

    CPython (3.11 here; 3.12's source does the same) marks the process as ended by Ctrl-C when exactly
    KeyboardInterrupt (not a subclass) leaves code that ``exec`` or ``eval`` runs from a string, as
    ``collections.namedtuple`` and ``dataclasses`` do while a module is imported, even when a caller
    catches it; ``python -m backprop`` then ended by SIGINT instead of exiting with 130 (a Ctrl-C
    that landed in pandas' import, 1 run in 40 next to a busy program). A subclass is not marked.
    """


class Stop:
    """The stop signal received last (its number gives the exit status, 128 + it, as shells report).

    ``received``: whether one came since :func:`stop_signals` began. Python calls a handler between
    two bytecodes wherever the main thread is, and an exception raised in a weakref callback or a
    ``__del__`` is printed and dropped: :meth:`check` raises it again where a command can take it.
    """

    signum: int = signal.SIGINT
    received: bool = False

    @classmethod
    def exit_status(cls) -> int:
        return 128 + int(cls.signum)

    @classmethod
    def check(cls) -> None:
        """Raise :class:`Interrupted` if a stop signal came (its own exception may have been dropped)."""
        if cls.received:
            raise Interrupted

    @classmethod
    def name(cls) -> str:
        return "Ctrl-C" if cls.signum == signal.SIGINT else _signal_names().get(int(cls.signum), "a signal")


@contextlib.contextmanager
def stop_signals(handler: Callable[[int], None] | None = None) -> Iterator[None]:
    """Route SIGINT, SIGTERM and SIGHUP to ``handler(signum)`` (default: raise :class:`Interrupted`) for a block.

    SIGTERM and SIGHUP would otherwise end the process at once, with no
    checkpoint and no temporary file removed; as KeyboardInterrupt they
    unwind like Ctrl-C. Main thread only (Python delivers signals there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int) -> None:
        Stop.received = True
        raise Interrupted

    act = handler or interrupt

    def receive(signum: int, _frame: Any) -> None:
        Stop.signum = signum
        act(signum)

    Stop.signum, Stop.received = signal.SIGINT, False
    # A signal the caller ignores stays ignored: `nohup backprop train` must survive the hangup.
    wanted = [signum for signum in _signal_names() if signal.getsignal(signum) is not signal.SIG_IGN]
    previous = {signum: signal.signal(signum, receive) for signum in wanted}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def progress_bar(wanted: bool) -> Callback | None:
    """The progress bar on standard error, or None when not ``wanted``."""
    if not wanted:
        return None
    from ..progress import RichProgress

    return RichProgress(console=Console(stderr=True))


class TrainMonitor(Callback):
    """The tool's one callback: the progress bar, and Ctrl-C (or SIGTERM, SIGHUP).

    The first stop signal (:meth:`interrupt`) asks training to stop: after the
    current batch training stops and a checkpoint is written that resumes with
    the next batch, bit for bit. A second Ctrl-C raises KeyboardInterrupt at
    once, without a checkpoint; a repeated SIGTERM or SIGHUP changes nothing
    (a closed terminal may send SIGHUP twice), so the checkpoint is written.
    The checkpoint is written before anything is said on the terminal, and a
    terminal that has gone away (EIO) stops the progress bar, not the training.

    ``cli_state`` is stored in the checkpoint as its ``"cli"`` entry;
    :func:`backprop.pipeline.run_training` fills it before training starts.
    """

    def __init__(self, progress: Callback | None, checkpoint: str, cli_state: dict[str, Any]) -> None:
        self.progress = progress
        self.checkpoint_path = checkpoint
        self.cli_state = cli_state
        self.stop_requested = False
        self.saved: str | None = None
        self._state: TrainingState | None = None

    def interrupt(self, signum: int = signal.SIGINT) -> None:
        """Called from the handler of SIGINT, SIGTERM and SIGHUP."""
        if self.stop_requested and signum == signal.SIGINT:
            raise Interrupted
        self.stop_requested = True

    def _show(self, event: str, *args: Any) -> None:
        """Pass ``event`` to the progress bar; a terminal gone away (hung up: EIO) ends the bar, not training."""
        if self.progress is None:
            return
        try:
            getattr(self.progress, event)(*args)
        except OSError:
            self.progress = None

    def on_train_begin(self, state: TrainingState) -> None:
        self._state = state
        self._show("on_train_begin", state)

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> bool:
        self._show("on_batch_end", batch, logs)
        return self.stop_requested

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        self._show("on_epoch_end", epoch, logs)
        return False

    def on_train_end(self, state: TrainingState) -> None:
        if self.stop_requested and state.partial is not None:
            from ..io import save_checkpoint

            # Saved first: after SIGHUP the terminal may be gone, and every write to it fails.
            checkpoint = state.checkpoint()
            checkpoint["cli"] = self.cli_state
            save_checkpoint(state.net, self.checkpoint_path, checkpoint)
            self.saved = self.checkpoint_path
        self._show("on_train_end", state)
        if self.saved is not None and state.partial is not None:
            where = f"batch {state.partial['step']} of epoch {state.partial['epoch'] + 1}"
            tell(f"\n{Stop.name()}: stopped after {where}")

    def on_train_error(self, state: TrainingState, error: BaseException) -> None:
        self._show("on_train_error", state, error)

    def stopping(self) -> contextlib.AbstractContextManager[None]:
        """While training, a stop signal asks this monitor to stop after the batch (a second one stops at once)."""
        return stop_signals(self.interrupt)
