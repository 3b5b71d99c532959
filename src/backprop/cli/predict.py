"""``backprop predict``: every row of DATA through a model file, as CSV or JSON lines.

DATA is read in chunks (:func:`backprop.tabular.iter_tables`) and predicted
by :func:`backprop.heads.predict_frame`; the output goes to standard output
or, atomically, to ``-o``, a chunk at a time: memory stays bounded by the
chunk, whatever the size of DATA. A thread of its own reads the next chunk
while this one is predicted and written (:func:`_read_ahead`). Nothing is
written, and no output file or folder made, until the first chunk has been
read, transformed and predicted (:class:`_Predictions`): a DATA that does not
fit the model fails with standard output empty.

The CSV text is that of Python's :mod:`csv` writer on the Python values
(quoting as it quotes on this Python, ``repr`` of a float, ``.6g`` for a
probability), written without a Python call per cell (``cli/_csv_text.py``:
numbers spelled out in numpy, the cells joined into lines as words of four
bytes, or by pyarrow).

Imports click, numpy and the CLI's shared modules; pyarrow when it writes CSV.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sys
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import click
import numpy as np
from numpy.typing import NDArray

from .. import _terminal
from .._threads import hold
from ..heads import Model, load_model, predict_frame
from ..tabular import Frame, iter_tables
from ._common import (
    check_data_argument,
    merge_notes,
    note,
    option_header,
    option_quiet,
    option_threads,
    parse_names,
    reports_errors,
    results_stdout,
)
from ._csv_text import Labels, csv_chunk, csv_line, plain_cell
from ._files import atomic_text, distinct_files, ensure_folder
from ._signals import Stop, stop_signals, tell


@click.command(name="predict")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("data")
@click.option("--output", "-o", "output_path", default=None, help="Write here instead of stdout (atomically).")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None, help="[default: csv, or by the -o suffix]"
)
@click.option("--keep", default=None, callback=parse_names, help="Input columns to copy to the output (an id, say).")
@click.option("--probabilities/--no-probabilities", default=True, show_default=True, help="Per-class probabilities.")
@option_header
@option_quiet
@click.option("--json", "as_json", is_flag=True, help="Same as --format jsonl.")
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Predict on a Dask cluster (tcp://HOST:PORT, or local:N worker processes started here): -o names a new "
    "folder of Parquet parts, one per input partition (a Parquet file; else a chunk read here), written by the "
    "workers; the folder appears when every part is written.",
)
@option_threads("1, while a second thread reads the next chunk")
@reports_errors
def predict(
    model: str,
    data: str,
    output_path: str | None,
    fmt: str | None,
    keep: list[str] | None,
    probabilities: bool,
    header: bool | None,
    quiet: bool,
    as_json: bool,
    scheduler: str | None,
) -> None:
    """Predict every row of DATA (a file, or - for stdin) with MODEL.

    CSV columns: the kept columns, prediction, then p_<class> per class.
    JSON lines: {"prediction": ..., "probabilities": {class: p}}. DATA is
    read in chunks, so any number of rows fits in memory.
    """
    check_data_argument(data, model)
    if as_json:
        fmt = "jsonl"
    if fmt is None:
        fmt = "jsonl" if output_path is not None and output_path.endswith((".jsonl", ".json")) else "csv"
    distinct_files({"MODEL": model, "DATA": data}, {"--output": output_path})
    if scheduler is not None:
        _predict_on_cluster(scheduler, model, data, output_path, fmt, keep, probabilities, header, quiet)
        return
    loaded = load_model(model)
    notes: list[str] = []
    rows = 0
    stdin = sys.stdin.buffer if data == "-" else None
    chunks = _chunks(loaded, iter_tables(data, header=header, stdin=stdin))
    written = False
    try:
        # SIGTERM and SIGHUP unwind as Ctrl-C does: the temporary file goes, the previous output stays.
        # Closed on the way out, whatever the way: the reading thread stops and closes DATA before the command ends.
        with stop_signals(), _one_blas_thread(), contextlib.closing(chunks):
            # Validated before anything is written: the first chunk read, its --keep columns found, its rows
            # transformed and predicted. A wrong DATA leaves standard output empty and creates no file or folder.
            predictions = _Predictions(loaded, chunks, keep, probabilities, notes)
            if output_path is not None:
                ensure_folder(output_path)
                with atomic_text(output_path) as handle:
                    rows = _write_predictions(loaded, predictions, handle, fmt)
                written = True
            else:
                stdout = results_stdout("the predictions")
                rows = _write_predictions(loaded, predictions, stdout, fmt)
                stdout.flush()  # a full disk shows here at the latest, not at exit
    except KeyboardInterrupt:
        where = ""
        if output_path is not None:
            outcome = "was written, whole" if written else "was not written"
            where = f"; {_terminal.shown(output_path)} {outcome}"
        tell(f"interrupted{where}")
        raise SystemExit(Stop.exit_status()) from None
    if not quiet:
        for message in merge_notes(notes):
            note(message)
        if output_path is not None:
            click.echo(f"wrote {rows} predictions to {output_path}", err=True)


def _predict_on_cluster(
    scheduler: str,
    model: str,
    data: str,
    output_path: str | None,
    fmt: str,
    keep: list[str] | None,
    probabilities: bool,
    header: bool | None,
    quiet: bool,
) -> None:
    """``--scheduler``: the predictions as Parquet parts in the new folder ``-o``, written by the workers."""
    if output_path is None or data == "-" or fmt != "csv" or keep:
        raise click.UsageError(
            "--scheduler writes Parquet parts into a new folder: give -o DIR (no --keep, no JSON, no stdin)"
        )
    from ..distributed._tabular import check_new_folder, connect, predict_parquet

    check_new_folder(output_path)  # before a cluster starts
    notes: list[str] = []  # the preprocessing's notes, from the workers
    try:
        with stop_signals(), connect(scheduler) as client:
            rows = predict_parquet(
                model, data, output_path, client=client, header=header, probabilities=probabilities, notes=notes
            )
    except KeyboardInterrupt:
        tell(f"interrupted; {_terminal.shown(output_path)} was not written")
        raise SystemExit(Stop.exit_status()) from None
    if not quiet:
        for message in merge_notes(notes):
            note(message)
        click.echo(f"wrote {rows} predictions to {output_path} (Parquet parts)", err=True)


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """One BLAS thread while predicting, where threadpoolctl is installed.

    The reading thread (:func:`_read_ahead`) parses the next chunk while the network runs on this
    one: a second BLAS thread spinning beside it makes the forward pass and the reading several
    times slower on few cores (on 2 cores, 1M rows: 1.5 s of forward pass instead of 0.25 s). The predictions written
    were byte-identical with one thread and with two in our checks. ``--threads N`` holds N instead.
    """
    with hold(1):  # or the count --threads holds already: the process has one
        yield


class _TextSink(Protocol):
    """Where predictions are written: a file under :func:`atomic_text`, or standard output."""

    def write(self, text: str, /) -> int: ...


#: How often the reading thread looks whether the caller has left, and how long the caller waits for it then.
_POLL_SECONDS = 0.05
_JOIN_SECONDS = 1.0


def _chunks(model: Model, frames: Iterator[Frame]) -> Generator[Frame, None, None]:
    """The chunks of rows (cut to the preprocessing's chunk size), read a chunk ahead in a thread of its own
    (:func:`_read_ahead`); they are transformed and predicted in this one."""
    return _read_ahead(model.pre.chunked(frames))


@dataclass(frozen=True)
class _Ended:
    """What the reading thread sends last: the end of the items, or the error that ended them."""

    error: BaseException | None = None


def _read_ahead(items: Iterator[Any]) -> Generator[Any, None, None]:
    """``items``, each made in a thread of its own while the caller works on the one before.

    Reading a chunk (pyarrow parses without the GIL) overlaps transforming, predicting and writing the
    one before (numpy, mostly without the GIL too): on two cores the command takes about the longer
    of the two, not their sum. One item waits at most: three chunks are held (the one made, the one
    waiting, the one used). An error of ``items`` is raised here, in its place after the items before
    it. Leaving early (an error here, Ctrl-C: signals reach the main thread only) stops the thread
    once the item it is making is made; it closes ``items`` itself, and is waited for a moment (it
    may be blocked on a read).
    """
    waiting: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                waiting.put(item, timeout=_POLL_SECONDS)
                return True
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_Ended())
        except BaseException as exc:  # raised again in the caller's thread
            put(_Ended(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    done = _Worker.run(work)
    try:
        while True:
            item = waiting.get()
            if isinstance(item, _Ended):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        done.wait(timeout=_JOIN_SECONDS)


class _Worker:
    """A daemon thread kept for the process, that runs :func:`_read_ahead`'s work, one at a time.

    Kept rather than started for each run: in tests/test_limits.py (a million rows predicted under an
    address-space limit, then a control read that must not fit), a thread started and ended for each
    run left its malloc arena to the threads after it, so that the control read sometimes fit, or the
    process ended in glibc's "tcache_thread_shutdown(): unaligned tcache chunk detected"; a thread kept
    did neither in our runs. Work that comes while the thread is busy (two predictions at once, or one
    left blocked on a read) gets a thread of its own; a forked child starts its own kept thread.
    """

    _lock = threading.Lock()
    _thread: threading.Thread | None = None
    _jobs: queue.Queue[tuple[Any, threading.Event]] = queue.Queue()
    _busy = False

    @classmethod
    def run(cls, job: Any) -> threading.Event:
        """Start ``job()``; the event is set when it has returned."""
        done = threading.Event()
        with cls._lock:
            if cls._busy:
                thread = threading.Thread(target=cls._one, args=(job, done), name=_THREAD_NAME, daemon=True)
                thread.start()
                return done
            if cls._thread is None or not cls._thread.is_alive():
                cls._jobs = queue.Queue()
                cls._thread = threading.Thread(target=cls._loop, args=(cls._jobs,), name=_THREAD_NAME, daemon=True)
                cls._thread.start()
            cls._busy = True
            cls._jobs.put((job, done))
        return done

    @classmethod
    def _loop(cls, jobs: queue.Queue[tuple[Any, threading.Event]]) -> None:
        while True:
            job, done = jobs.get()
            try:
                job()
            finally:
                del job  # nothing of the work (its items, a chunk left waiting) kept until the next
                with cls._lock:
                    cls._busy = False  # free before the caller hears: its next job comes to this thread
                done.set()
                del done

    @staticmethod
    def _one(job: Any, done: threading.Event) -> None:
        try:
            job()
        finally:
            done.set()

    @classmethod
    def forget(cls) -> None:
        """In a forked child: the parent's thread is not there, its lock may be held."""
        cls._lock, cls._thread, cls._busy = threading.Lock(), None, False


_THREAD_NAME = "backprop-predict-reader"
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_Worker.forget)


@dataclass(frozen=True)
class _Predicted:
    """One chunk of rows and its predictions (class indices or numbers) and probabilities."""

    frame: Frame
    predicted: NDArray[Any]
    proba: NDArray[np.float64] | None


class _Predictions:
    """The predictions of every chunk, in order; the first chunk is read and predicted when this is made.

    So a DATA that does not fit the model (a missing column, a value the preprocessing refuses, an
    unknown ``--keep`` column) fails before the caller writes anything. Chunks of no rows are skipped.
    """

    def __init__(
        self, model: Model, chunks: Iterator[Frame], keep: list[str] | None, probabilities: bool, notes: list[str]
    ) -> None:
        self._model, self._chunks, self._notes = model, chunks, notes
        #: Whether the probabilities are kept (``--probabilities``).
        self.probabilities = probabilities
        first = next(chunks, None)
        #: Whether DATA gave a chunk at all (a header-only CSV gives one of no rows).
        self.any = first is not None
        #: The --keep columns as DATA spells them.
        self.kept = [] if first is None else [first.names[first.position(name)] for name in keep or []]
        while first is not None and first.n_rows == 0:
            first = next(chunks, None)
        self._first = None if first is None else self._predict(first)

    def __iter__(self) -> Iterator[_Predicted]:
        if self._first is not None:
            first, self._first = self._first, None
            yield first
            del first  # not held while the next chunks are predicted
        for frame in self._chunks:
            if frame.n_rows:
                yield self._predict(frame)

    def _predict(self, frame: Frame) -> _Predicted:
        model = self._model
        predicted, proba = predict_frame(model.net, model.pre, model.head, frame, self._notes)
        return _Predicted(frame, predicted, proba if self.probabilities else None)


def _write_predictions(model: Model, predictions: _Predictions, handle: _TextSink, fmt: str) -> int:
    """Write every chunk's predictions, a chunk at a time; the number of rows written."""
    pre, head = model.pre, model.head
    classes = pre.classes
    kept = predictions.kept
    labels = Labels.of(classes) if fmt == "csv" else None
    if labels is not None and predictions.any:
        names = [*kept, "prediction"]
        if predictions.probabilities and head.task == "classification":
            names += [f"p_{c}" for c in classes]
        handle.write(csv_line(names))
    rows = 0
    for chunk in predictions:
        frame = chunk.frame
        if labels is not None:
            handle.write(csv_chunk(frame, kept, chunk.predicted, labels, chunk.proba))
        else:
            _write_json_lines(
                frame, kept, classes if head.task == "classification" else None, chunk.predicted, chunk.proba, handle
            )
        rows += frame.n_rows
        Stop.check()  # a stop signal whose exception Python dropped stops here, before the file is complete
    return rows


def _write_json_lines(
    frame: Frame,
    kept: list[str],
    classes: list[Any] | None,
    predicted: NDArray[Any],
    proba: NDArray[np.float64] | None,
    handle: _TextSink,
) -> None:
    """One JSON object a row: the kept cells, ``prediction``, ``probabilities`` by class."""
    if classes is not None:
        predictions: list[Any] = [classes[i] for i in predicted.tolist()]
    else:
        predictions = [float(f"{v:.8g}") for v in predicted.tolist()]
    kept_cells = [[plain_cell(v) for v in frame.column(name).tolist()] for name in kept]
    lines = []
    for i in range(frame.n_rows):
        record: dict[str, Any] = {name: cells[i] for name, cells in zip(kept, kept_cells, strict=True)}
        record["prediction"] = predictions[i]
        if proba is not None and classes is not None:
            record["probabilities"] = {
                str(c): round(float(p), 8) for c, p in zip(classes, proba[i].tolist(), strict=True)
            }
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    handle.write("".join(lines))
