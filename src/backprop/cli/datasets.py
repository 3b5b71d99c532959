"""``backprop datasets``: the built-in datasets (:mod:`backprop.datasets`), as a table or JSON.

Imports click, rich and the CLI's shared modules.
"""

from __future__ import annotations

import re
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from ..datasets import DATASETS, describe
from ._common import console, option_json, print_json


def _dataset_rows() -> list[dict[str, Any]]:
    rows = []
    for name in DATASETS:
        summary = describe(name).split(": ", 1)[1]
        task = summary.split(",", 1)[0]
        size = re.search(r"(\d+) x (\d+)", summary)
        classes = re.search(r"(\d+) classes", summary)
        rows.append(
            {
                "name": name,
                "task": task,
                "samples": int(size.group(1)) if size else None,
                "features": int(size.group(2)) if size else None,
                "classes": int(classes.group(1)) if classes else None,
                "description": summary.split(": ", 1)[1] if ": " in summary else summary,
            }
        )
    return rows


@click.command(name="datasets")
@option_json
def datasets_command(as_json: bool) -> None:
    """List the built-in datasets (usable as DATA: backprop train iris)."""
    rows = _dataset_rows()
    if as_json:
        print_json(rows)
        return
    table = Table(title="built-in datasets (offline; scikit-learn's need the datasets extra)", title_justify="left")
    for column in ("name", "task", "samples", "features", "classes", "description"):
        table.add_column(column, justify="right" if column in ("samples", "features", "classes") else "left")
    for row in rows:
        table.add_row(
            row["name"],
            row["task"],
            str(row["samples"]),
            str(row["features"]),
            str(row["classes"] or "-"),
            Text(row["description"]),
        )
    console.print(table)
