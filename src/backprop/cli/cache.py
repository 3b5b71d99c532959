"""``backprop cache``: the prepared-data cache of ``train --out-of-core`` (:mod:`backprop.tabular.cache`).

``backprop cache list`` shows its entries (source, rows, inputs, size, last use);
``backprop cache clean`` removes the stale temporaries of killed runs, damaged
entries, and entries unused for ``--older-than`` (or ``--all``).

Imports click, rich and the CLI's shared modules.
"""

from __future__ import annotations

import re
import time

import click
from rich.table import Table

from .. import _terminal
from .._memory import format_bytes
from ..tabular.cache import cache_folder, clean, list_entries
from ._common import console, option_json, print_json, print_line, reports_errors

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

option_cache_dir = click.option(
    "--cache-dir",
    default=None,
    metavar="DIR",
    help="The cache [default: $BACKPROP_CACHE_DIR, $XDG_CACHE_HOME/backprop, ~/.cache/backprop].",
)


def parse_age(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    """``7d``, ``12h``, ``30m``, ``45s``, ``2w`` → seconds."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", value)
    if match is None:
        raise click.BadParameter(f"expected a number and a unit (s, m, h, d, w) such as 7d or 12h, got {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def age(seconds: float) -> str:
    """``3 d``, ``5 h``, ``12 min``, ``40 s``: how long ago, for a table."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(0.0, seconds):.0f} s"


@click.group(name="cache")
def cache_command() -> None:
    """The prepared-data cache of `train --out-of-core`: list it, clean it.

    An entry holds a source's prepared float32 matrices, keyed by its files
    (path, size, modification time) and the preprocessing options; the next
    `train` on the same files and options reuses it without reading them.
    """


@cache_command.command(name="list")
@option_cache_dir
@option_json
@reports_errors
def list_command(cache_dir: str | None, as_json: bool) -> None:
    """The entries, most recently used first: source, rows, inputs, size, last use."""
    entries = list_entries(cache_dir)
    now = time.time()
    if as_json:
        print_json({"cache": cache_folder(cache_dir), "entries": [vars(entry) for entry in entries]})
        return
    total = sum(entry.size for entry in entries)
    print_line(
        f"{cache_folder(cache_dir)}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, {format_bytes(total)}"
    )
    if not entries:
        return
    table = Table(box=None, pad_edge=False)
    for column in ("key", "rows", "inputs", "size", "used", "source"):
        table.add_column(column, justify="left" if column in ("key", "source") else "right", overflow="fold")
    for entry in entries:
        if entry.damaged is not None:
            source = _terminal.text(f"damaged: {entry.damaged} (removed by backprop cache clean)")
            table.add_row(entry.key[:12], "-", "-", format_bytes(entry.size), "-", source)
            continue
        table.add_row(
            entry.key[:12],
            f"{entry.n_rows:,}",
            f"{entry.n_inputs:,}",
            format_bytes(entry.size),
            f"{age(now - entry.used)} ago",
            _terminal.text(entry.source),
        )
    console.print(table)


@cache_command.command(name="clean")
@click.option(
    "--older-than",
    callback=parse_age,
    default=None,
    metavar="AGE",
    help="Also remove entries not used for AGE (7d, 12h, 30m).",
)
@click.option("--all", "everything", is_flag=True, help="Remove every entry.")
@option_cache_dir
@option_json
@reports_errors
def clean_command(older_than: float | None, everything: bool, cache_dir: str | None, as_json: bool) -> None:
    """Remove the temporaries of killed runs and damaged entries, and entries unused for --older-than (or --all)."""
    cleaned = clean(older_than=older_than, all=everything, cache_dir=cache_dir)
    if as_json:
        print_json({"cache": cache_folder(cache_dir), "removed": cleaned.removed, "freed": cleaned.freed})
        return
    print_line(f"removed {len(cleaned.removed)} folders from {cache_folder(cache_dir)}, {format_bytes(cleaned.freed)}")
