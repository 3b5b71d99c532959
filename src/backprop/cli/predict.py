"""``backprop predict``: every row of DATA through a model file, as CSV or JSON lines.

DATA is read in chunks (:func:`backprop.tabular.iter_tables`) and predicted
by :func:`backprop.heads.predict_frame`; the output goes to standard output
or, atomically, to ``-o``.

Imports click and the CLI's shared modules.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Iterator
from typing import Any, Protocol

import click

from .. import _terminal
from ..heads import Model, load_model, predict_frame
from ..tabular import Frame, iter_tables
from ._common import (
    check_data_argument,
    merge_notes,
    note,
    option_header,
    option_quiet,
    parse_names,
    reports_errors,
    results_stdout,
)
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
) -> None:
    """Predict every row of DATA (a file, or - for stdin) with MODEL.

    CSV columns: the kept columns, prediction, then p_<class> per class.
    JSON lines: {"prediction": ..., "probabilities": {class: p}}. DATA is
    read in chunks, so any number of rows fits in memory.
    """
    check_data_argument(data)
    if as_json:
        fmt = "jsonl"
    if fmt is None:
        fmt = "jsonl" if output_path is not None and output_path.endswith((".jsonl", ".json")) else "csv"
    distinct_files({"MODEL": model, "DATA": data}, {"--output": output_path})
    loaded = load_model(model)
    notes: list[str] = []
    rows = 0
    stdin = sys.stdin.buffer if data == "-" else None
    chunks = loaded.pre.chunked(iter_tables(data, header=header, stdin=stdin))
    written = False
    try:
        # SIGTERM and SIGHUP unwind as Ctrl-C does: the temporary file goes, the previous output stays.
        with stop_signals():
            if output_path is not None:
                ensure_folder(output_path)
                with atomic_text(output_path) as handle:
                    rows = _write_predictions(loaded, chunks, handle, fmt, keep, probabilities, notes)
                written = True
            else:
                stdout = results_stdout("the predictions")
                rows = _write_predictions(loaded, chunks, stdout, fmt, keep, probabilities, notes)
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


class _TextSink(Protocol):
    """Where predictions are written: a file under :func:`atomic_text`, or standard output."""

    def write(self, text: str, /) -> int: ...


def _write_predictions(
    model: Model,
    chunks: Iterator[Frame],
    handle: _TextSink,
    fmt: str,
    keep: list[str] | None,
    probabilities: bool,
    notes: list[str],
) -> int:
    pre, head = model.pre, model.head
    classes = pre.classes
    writer = csv.writer(handle, lineterminator="\n") if fmt == "csv" else None
    kept: list[str] = []
    rows = 0
    for index, frame in enumerate(chunks):
        if index == 0:
            kept = [frame.names[frame.position(name)] for name in keep or []]
            if writer is not None:
                names = [*kept, "prediction"]
                if probabilities and head.task == "classification":
                    names += [f"p_{c}" for c in classes]
                writer.writerow(names)
        if frame.n_rows == 0:
            continue
        predictions, proba = predict_frame(model.net, pre, head, frame, notes)
        if head.task != "classification":
            predictions = [float(f"{v:.8g}") for v in predictions]
        kept_values = [frame.column(name).tolist() for name in kept]
        kept_cells = [[_cell(v) for v in values] for values in kept_values]
        if writer is not None:
            columns: list[list[Any]] = [*kept_cells, [str(p) for p in predictions]]
            if probabilities and proba is not None:
                columns += [[f"{p:.6g}" for p in column] for column in proba.T.tolist()]
            writer.writerows(zip(*columns, strict=True))
        else:
            for i in range(frame.n_rows):
                record: dict[str, Any] = {name: cells[i] for name, cells in zip(kept, kept_cells, strict=True)}
                record["prediction"] = predictions[i]
                if probabilities and proba is not None:
                    record["probabilities"] = {
                        str(c): round(float(p), 8) for c, p in zip(classes, proba[i].tolist(), strict=True)
                    }
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        rows += frame.n_rows
    return rows


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else (int(value) if value.is_integer() else value)
    return value
