"""``backprop evaluate``: score a model file on DATA (:func:`backprop.heads.evaluate_model`) and print the metrics.

Imports click and the CLI's shared modules.
"""

from __future__ import annotations

import click

from ..heads import evaluate_model, load_model
from ._common import (
    check_data_argument,
    merge_notes,
    note,
    option_header,
    option_json,
    option_quiet,
    option_threads,
    print_json,
    print_line,
    reports_errors,
)
from ._tables import print_metrics


@click.command(name="evaluate")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("data")
@option_header
@option_quiet
@option_json
@option_threads("the BLAS's own setting")
@reports_errors
def evaluate(model: str, data: str, header: bool | None, quiet: bool, as_json: bool) -> None:
    """Score MODEL on DATA, which has the target column: loss and accuracy, per-class
    precision/recall/F1 and the confusion matrix; or R², MAE and RMSE.

    DATA is read in chunks, so any number of rows fits in memory. Past 20
    classes the tables are summarized (the lowest recalls, the most frequent
    confusions); --json has them whole, the confusion matrix over the classes
    seen past 1,000 classes, and as its nonzero [row, column, count] cells
    past 1,000 classes seen.
    """
    check_data_argument(data, model)
    loaded = load_model(model)
    metrics, notes = evaluate_model(loaded, data, header=header)
    if not quiet:
        for message in merge_notes(notes):
            note(message)
    if as_json:
        print_json({"model": model, "data": data, **metrics})
        return
    print_line(f"{model} on {data}:")
    print_metrics(metrics, loaded.head.loss)
