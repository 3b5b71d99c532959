"""A progress bar for :func:`backprop.training.fit`, drawn with rich.

This sits on top of the core (which never prints): the command-line tool
passes :class:`RichProgress` as a callback, and so can any script::

    net.fit(X, y, epochs=20, callbacks=[RichProgress()])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .training import Callback, TrainingState

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


class RichProgress(Callback):
    """One bar over the epochs and one over the current epoch's batches.

    After each epoch the line shows its metrics (``loss``, ``accuracy``,
    ``val_loss``, ...); with ``keep=True`` one finished line per epoch stays
    on screen.

    Parameters
    ----------
    console : rich.console.Console, optional
        Where to draw; by default standard error.
    keep : bool, default False
        Print a summary line per epoch that stays after the bar is gone.
    """

    def __init__(self, console: Console | None = None, keep: bool = False) -> None:
        self.console = console
        self.keep = keep
        self._progress: Progress | None = None
        self._epochs: TaskID | None = None
        self._batches: TaskID | None = None
        self._steps_per_epoch = 0

    def on_train_begin(self, state: TrainingState) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = self.console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=console,
            transient=True,
        )
        self._progress.start()
        self._epochs = self._progress.add_task("epochs", total=state.epochs, completed=state.epoch + 1, metrics="")
        self._batches = self._progress.add_task("batches", total=None, metrics="")

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        if self._progress is not None and self._batches is not None:
            self._steps_per_epoch = max(self._steps_per_epoch, batch + 1)
            total = self._steps_per_epoch if self._steps_per_epoch > batch + 1 else None
            self._progress.update(self._batches, completed=batch + 1, total=total, metrics=f"loss {logs['loss']:.4f}")

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        summary = _summary(logs)
        if self._progress is not None and self._epochs is not None and self._batches is not None:
            self._progress.update(self._epochs, completed=epoch + 1, metrics=summary)
            self._progress.reset(self._batches, total=self._steps_per_epoch or None, metrics="")
            if self.keep:
                self._progress.console.print(f"epoch {epoch + 1}: {summary}")
        return False

    def on_train_end(self, state: TrainingState) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def on_train_error(self, state: TrainingState, error: BaseException) -> None:
        self.on_train_end(state)


def _summary(logs: dict[str, Any]) -> str:
    shown = ("loss", "accuracy", "r2", "mae", "val_loss", "val_accuracy", "val_r2", "val_mae")
    return "  ".join(f"{key} {logs[key]:.4f}" for key in shown if key in logs)


__all__ = ["RichProgress"]
