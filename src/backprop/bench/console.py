"""The ``backprop bench`` click command, its tables (rich) and the JSON file; ``--data``, ``--distributed`` and
``--tabular`` too.

:data:`command` is what ``backprop`` registers; :func:`main` is ``python -m backprop.bench``.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from .data_runners import DATA_WORKLOADS, data_has_errors, run_data
from .data_workloads import QUICK_SIZES, DataSizes
from .distributed_runners import QUICK_DISTRIBUTED, DistributedSizes, distributed_has_errors, run_distributed
from .runners import has_errors, run
from .tabular_runners import CONTENDERS as TABULAR_CONTENDERS
from .tabular_runners import REFERENCE, TABLES, run_tabular, tabular_has_errors, train_overrides
from .where import PARTS
from .workloads import WORKLOADS


def _seconds(value: float) -> str:
    return f"{value:.3g}" if value < 1 else f"{value:.2f}"


def _spread(summary: dict[str, Any] | None) -> tuple[str, str]:
    if summary is None:
        return "", ""
    return _seconds(summary["median"]), f"{_seconds(summary['min'])}–{_seconds(summary['max'])}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def _mb(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _status_cell(entry: dict[str, Any]) -> str | None:
    if entry["status"] == "ok":
        return None
    style = "yellow" if entry["status"] == "missing" else "red"
    return f"[{style}]{entry['status']}[/{style}]"


def _jax(machine: dict[str, Any]) -> str:
    if machine["jax"] is None:
        return "missing"
    threads = machine["jax_threads"]
    return f"{machine['jax']} ({'pool size unknown' if threads is None else f'{threads} threads'})"


def _render_where(workloads: dict[str, Any], console: Console) -> None:
    """Where backprop's step time goes, per workload: ms per step by part, beside the GEMM limit's step."""
    shown = {key: w for key, w in workloads.items() if w["status"] == "ok" and w.get("where", {}).get("status") == "ok"}
    if not shown:
        return
    table = Table(title="where backprop's step time goes (ms per step, best epoch, hooks timed)", title_justify="left")
    table.add_column("part")
    for key, workload in shown.items():
        table.add_column(f"{key} ({workload['where']['threads']} thr)", justify="right")
    for part in PARTS:
        table.add_row(part, *(f"{w['where']['parts_ms'][part]:.4f}" for w in shown.values()))
    table.add_section()
    table.add_row("step", *(f"{w['where']['step_ms']:.4f}" for w in shown.values()))
    limits = []
    for w in shown.values():
        gemm = w["contenders"].get("gemm", {})
        seconds = (gemm.get("seconds_per_epoch") or {}).get("median") if gemm.get("status") == "ok" else None
        limits.append("—" if seconds is None else f"{seconds * 1e3 / w['config']['steps_per_epoch']:.4f}")
    table.add_row("GEMM limit's step", *limits)
    fit_steps = [w["where"].get("fit_step_ms") for w in shown.values()]
    if any(ms is not None for ms in fit_steps):
        calls = ["one call" if w["where"].get("in_one_call") else "hooks" for w in shown.values()]
        table.add_row(
            "fit's step (in one call, or hook by hook)",
            *("—" if ms is None else f"{ms:.4f} ({how})" for ms, how in zip(fit_steps, calls, strict=True)),
        )
    console.print(table)


def render(results: dict[str, Any], console: Console) -> None:
    """Print the results as rich tables."""
    machine = results["machine"]
    blas = ", ".join(
        f"{b['internal_api']} {b['version']} ({b['architecture']}, {b['num_threads']} threads)"
        for b in machine["blas"]
        if b.get("user_api") == "blas"
    )
    console.print(
        f"[bold]backprop bench[/bold] {results['version']}: {results['threads']} threads "
        f"(thread control: {machine['thread_control']}), {results['repeats']} rounds"
        f"{' [yellow](--quick: the figures mean nothing)[/yellow]' if results['quick'] else ''}; "
        f"numpy {machine['numpy']}, jax {_jax(machine)}, torch {machine['torch'] or 'missing'}, "
        f"scikit-learn {machine['sklearn'] or 'missing'}; BLAS: {blas or 'unknown'}; "
        f"backprop's optimizer step: {machine['kernels']}"
    )
    busy = results["busy"]
    if busy is not None:
        share = (
            ""
            if busy["cpu_seconds"] is None or busy["seconds"] <= 0
            else f" ({busy['cpu_seconds'] / busy['seconds']:.2f} of a CPU)"
        )
        console.print(
            f"[yellow]--busy[/yellow]: one CPU-bound process ran beside the contenders for "
            f"{busy['seconds']:.1f} s{share}",
            soft_wrap=True,
        )
    set_env = {k: v for k, v in machine["environment"].items() if v is not None}
    if set_env:
        console.print(f"environment: {set_env}")
    table = Table(title="seconds per epoch (median over rounds), ratios from the medians", title_justify="left")
    for column, justify in (
        ("workload", "left"),
        ("contender", "left"),
        ("s/epoch", "right"),
        ("min–max", "right"),
        ("backprop ÷ it", "right"),
        ("it ÷ backprop", "right"),
        ("peak MB", "right"),
        ("train acc", "right"),
        ("test acc", "right"),
    ):
        table.add_column(column, justify="left" if justify == "left" else "right")
    for key, workload in results["workloads"].items():
        first = True
        for name, entry in workload["contenders"].items():
            label = f"{key} {workload['name']}" if first else ""
            first = False
            status = _status_cell(entry)
            if status is not None:
                table.add_row(label, name, status, entry["reason"] or "", "", "", "", "", "")
                continue
            median, spread = _spread(entry["seconds_per_epoch"])
            ratio = workload["ratios"].get(name)
            ours = theirs = "—"
            if ratio is not None:
                if ratio["backprop_over_contender"] is not None:
                    ours = f"{ratio['backprop_over_contender']:.2f}"
                if ratio["contender_over_backprop"] is not None:
                    theirs = f"{ratio['contender_over_backprop']:.2f}× "
                    theirs += "(bp faster)" if ratio["contender_over_backprop"] > 1 else "(bp slower)"
            table.add_row(
                label,
                name,
                median,
                spread,
                ours,
                theirs,
                _mb(entry["peak_memory_mb"]),
                _pct(entry["train_accuracy"]),
                _pct(entry["test_accuracy"]),
            )
        table.add_section()
    console.print(table)
    _render_where(results["workloads"], console)
    predict = results.get("predict")
    if predict:
        ptable = Table(title=f"predict, {predict['rows']} rows of W1's shape (rows per second)", title_justify="left")
        for column in ("contender", "rows/s", "min–max", "backprop ÷ it", "peak MB"):
            ptable.add_column(column, justify="left" if column == "contender" else "right")
        for name, entry in predict["contenders"].items():
            status = _status_cell(entry)
            if status is not None:
                ptable.add_row(name, status, entry["reason"] or "", "", "")
                continue
            summary = entry["rows_per_second"]
            ratio = predict["ratios"].get(name)
            value = ratio["backprop_over_contender"] if ratio else None
            ptable.add_row(
                name,
                f"{summary['median']:,.0f}",
                f"{summary['min']:,.0f}–{summary['max']:,.0f}",
                "—" if value is None else f"{value:.2f}",
                _mb(entry["peak_memory_mb"]),
            )
        console.print(ptable)
    console.print(f"{results['seconds']:.1f} s in all; memory: {machine['memory_method']}")


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def render_data(results: dict[str, Any], console: Console) -> None:
    """Print the results of ``backprop bench --data`` as rich tables: the measurements, then the targets."""
    machine, sizes = results["machine"], results["sizes"]
    console.print(
        f"[bold]backprop bench --data[/bold] {results['version']}: {results['repeats']} rounds, each step in a new "
        f"process; python {machine['python']}, numpy {machine['numpy']}, pyarrow {machine['pyarrow'] or 'missing'}, "
        f"pandas {machine['pandas'] or 'missing'}; {machine['available_cpus']} CPUs; sizes {sizes}"
    )
    table = Table(
        title="seconds of the step (median over rounds), peak MB (growth over the step)", title_justify="left"
    )
    for column in ("workload", "contender", "s", "min–max", "with start-up", "peak MB", "rows/s"):
        table.add_column(column, justify="left" if column in ("workload", "contender") else "right")
    for key, workload in results["workloads"].items():
        first = True
        for name, entry in workload["contenders"].items():
            label = key if first else ""
            first = False
            status = _status_cell(entry)
            if status is not None:
                table.add_row(label, name, status, entry["reason"] or "", "", "", "")
                continue
            median, spread = _spread(entry["seconds"])
            process = entry["process_seconds"]
            rate = entry["rows_per_second"]
            table.add_row(
                label,
                name,
                median,
                spread,
                "" if process is None else _seconds(process["median"]),
                _mb(entry["peak_mb"]),
                "" if rate is None else _rate(rate["median"]),
            )
        table.add_section()
    console.print(table)
    training = results["workloads"].get("out-of-core")
    if training is not None and training.get("dataset") is not None:
        network = training["network"]
        console.print(
            f"out-of-core: {training['dataset']['rows']:,} rows × {training['features']} float32 features + y "
            f"({training['dataset']['mb']:,.0f} MB on disk) under start-up + {training['limit_mb']:,} MB of "
            f"address space; in memory: {training['in_memory_dataset']['rows']:,} rows (its first files); "
            f"every run: hidden {network['hidden']}, batch {network['batch_size']}, seed 0, "
            f"{training['epochs']} epochs (rows/s: median of epochs 2..), environment {training['environment']}",
            soft_wrap=True,
        )
    marks = Table(title="issue 15's figures (ratios of the medians above)", title_justify="left")
    for column in ("workload", "figure", "value", "goal", ""):
        marks.add_column(column, justify="right" if column in ("value", "goal") else "left")
    for target in results["targets"]:
        style = {"PASS": "green", "FAIL": "red"}.get(target["status"], "yellow")
        value = "" if target["value"] is None else f"{target['value']:.3g}"
        mark = f"[{style}]{target['status']}[/{style}]"
        if target["reason"]:
            mark += f" ({target['reason']})"
        marks.add_row(target["workload"], target["what"], value, f"{target['op']} {target['goal']:g}", mark)
    console.print(marks)
    console.print(f"{results['seconds']:.1f} s in all; memory: {machine['memory_method']}")


def _ms(summary: dict[str, Any] | None) -> tuple[str, str]:
    if summary is None:
        return "", ""
    return f"{summary['median']:.2f}", f"{summary['min']:.2f}–{summary['max']:.2f}"


def render_distributed(results: dict[str, Any], console: Console) -> None:
    """Print the results of ``backprop bench --distributed``: the runs, the anchors, issue 16's figures."""
    machine, cluster = results["machine"], results["cluster"]
    console.print(
        f"[bold]backprop bench --distributed[/bold] {results['version']}: {results['repeats']} rounds; "
        f"LocalCluster of {cluster['workers']} processes × {cluster['threads_per_worker']} thread, "
        f"direct_to_workers; dask {machine['dask'] or 'missing'}, distributed {machine['distributed'] or 'missing'}, "
        f"numpy {machine['numpy']}; {machine['available_cpus']} CPUs; sizes {results['sizes']}",
        soft_wrap=True,
    )
    if results["status"] != "ok":
        console.print(f"[yellow]{results['status']}[/yellow]: {results['reason']}", soft_wrap=True)
    variants = results["variants"] or {}
    if variants:
        network = results["network"]
        table = Table(
            title=f"network {network['layers']} ({network['parameters']:,} parameters, 4|θ| = "
            f"{network['theta_bytes']:,} B); ms per local step (median over steps), overhead = "
            "(t_cluster − t_in_process / P) / k",
            title_justify="left",
        )
        for column in ("run", "cluster ms", "in-process ms", "overhead ms", "min–max", "bytes/step", "÷ minimum",
                       "test acc", "same bits"):  # fmt: skip
            table.add_column(column, justify="left" if column == "run" else "right")
        for name, entry in variants.items():
            overhead, spread = _ms(entry["overhead_ms"])
            table.add_row(
                f"{name} (sync_every={entry['sync_every']})",
                _ms(entry["step_ms"]["cluster"])[0],
                _ms(entry["step_ms"]["in_process"])[0],
                overhead,
                spread,
                f"{entry['bytes_per_step']:,.0f}",
                f"{entry['bytes_ratio']:.3f}",
                _pct(entry["test_accuracy"]["mean"]),
                "yes" if entry["same_bits"] else "[red]no[/red]",
            )
        console.print(table)
        compute = results["compute"]
        console.print(
            f"in-process step: {compute['step_ms'][0]:.2f} ms at B={compute['batch_sizes'][0]}, "
            f"{compute['step_ms'][1]:.2f} ms at B={compute['batch_sizes'][1]}: t_comp(B) ≈ "
            f"{compute['fixed_ms']:.2f} ms + {compute['per_row_us']:.2f} µs·B; "
            f"{cluster['workers']} workers pay off from B ≈ {compute['payoff_batch']}",
            soft_wrap=True,
        )
    anchors = results["anchors"]
    if anchors:
        atable = Table(title="MNIST-1D: fit wall time and test accuracy", title_justify="left")
        for column in ("contender", "fit s", "start s", "test acc", "what"):
            atable.add_column(column, justify="left" if column in ("contender", "what") else "right")
        for name, entry in anchors.items():
            status = _status_cell(entry)
            if status is not None:
                atable.add_row(name, status, "", "", entry["reason"] or "")
                continue
            start = entry["start_seconds"]
            about = ", ".join(f"{key} {value}" for key, value in entry["extra"].items())
            atable.add_row(
                name, _seconds(entry["seconds"]), "" if start is None else _seconds(start),
                _pct(entry["test_accuracy"]), about,
            )  # fmt: skip
        console.print(atable)
    marks = Table(title="issue 16's figures", title_justify="left")
    for column in ("figure", "value", "goal", ""):
        marks.add_column(column, justify="right" if column in ("value", "goal") else "left")
    for target in results["targets"]:
        style = {"PASS": "green", "FAIL": "red"}.get(target["status"], "yellow")
        value = "" if target["value"] is None else f"{target['value']:.3g}"
        mark = f"[{style}]{target['status']}[/{style}]"
        if target["reason"]:
            mark += f" ({target['reason']})"
        marks.add_row(target["what"], value, f"{target['op']} {target['goal']:g}", mark)
    console.print(marks)
    start = cluster["start_seconds"]
    console.print(f"{results['seconds']:.1f} s in all" + ("" if start is None else f"; cluster start {start:.1f} s"))


def _score(value: float | None, std: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" + ("" if not std else f" ±{std:.3f}")


def render_tabular(results: dict[str, Any], console: Console) -> None:
    """Print the results of ``backprop bench --tabular``: score, fit time and rank per table; mean ranks and gaps."""
    machine, seeds = results["machine"], results["seeds"]
    console.print(
        f"[bold]backprop bench --tabular[/bold] {results['version']}: {len(seeds)} seed{'s' * (len(seeds) != 1)} × "
        f"{1 - results['test_size']:.0%}/{results['test_size']:.0%} splits (stratified for classes)"
        f"{' [yellow](--quick: the figures mean nothing)[/yellow]' if results['quick'] else ''}; "
        f"numpy {machine['numpy']}, scikit-learn {machine['sklearn'] or 'missing'}, pandas "
        f"{machine['pandas'] or 'missing'}; {machine['available_cpus']} CPUs",
        soft_wrap=True,
    )
    if results.get("train_options"):
        console.print(f"backprop: {results['contenders']['backprop']}", soft_wrap=True, markup=False)
    table = Table(
        title="test score (accuracy for classes, R² for numbers; mean ± std over the seeds), fit seconds "
        "(reading the CSV to the fitted model, mean), epochs or iterations run (mean), rank per table",
        title_justify="left",
    )
    for column in ("table", "rows × cols", "contender", "score", "fit s", "epochs", "rank", "note"):
        table.add_column(column, justify="left" if column in ("table", "contender", "note") else "right")
    for name, entry in results["tables"].items():
        if entry["status"] != "ok":
            style = "yellow" if entry["status"] == "missing" else "red"
            table.add_row(name, "", "", f"[{style}]{entry['status']}[/{style}]", "", "", "", entry["reason"] or "")
            table.add_section()
            continue
        shape = f"{entry['rows']} × {entry['features']}"
        about = entry["metric"] + (f", {entry['classes']} classes" if entry["classes"] else "")
        extras = [about]
        if entry["text_columns"]:
            extras.append(f"text: {', '.join(entry['text_columns'])}")
        if entry["missing_cells"]:
            extras.append(f"{entry['missing_cells']} missing cells")
        first = True
        for contender, result in entry["contenders"].items():
            label, size, note = (name, shape, "; ".join(extras)) if first else ("", "", "")
            first = False
            status = _status_cell(result)
            if status is not None:
                table.add_row(label, size, contender, status, "", "", "", result["reason"] or "")
                continue
            rank = "" if result["rank"] is None else f"{result['rank']:g}"
            if result["options"]:
                note = f"{note}; {result['options']}" if note else result["options"]
            table.add_row(
                label, size, contender, _score(result["score"], result["score_std"]),
                "" if result["seconds"] is None else _seconds(result["seconds"]),
                f"{sum(result['iterations']) / len(result['iterations']):.0f}" if result["iterations"] else "",
                rank, note,
            )  # fmt: skip
        table.add_section()
    console.print(table)
    summary = results["summary"]
    marks = Table(title=f"over the {len(summary['tables_ranked'])} tables every contender scored", title_justify="left")
    for column in ("contender", "mean rank", "first on", f"mean gap to {REFERENCE}"):
        marks.add_column(column, justify="left" if column == "contender" else "right")
    for contender in TABULAR_CONTENDERS:
        rank, gap = summary["mean_rank"][contender], summary["mean_gap"][contender]
        marks.add_row(
            contender,
            "" if rank is None else f"{rank:.2f}",
            str(summary["wins"][contender]),
            "" if gap is None else f"{gap:+.4f}",
        )
    console.print(marks)
    console.print(f"{results['seconds']:.1f} s in all")


def write_json(results: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``results`` as JSON (NaN and infinity become null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    Path(path).write_text(json.dumps(clean(results), indent=2, allow_nan=False) + "\n", encoding="utf-8")


@click.command(name="bench", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workload",
    "-w",
    "workloads",
    multiple=True,
    type=click.Choice(list(WORKLOADS), case_sensitive=False),
    help="Run this workload (repeatable) [default: all].",
)
@click.option("--repeats", type=click.IntRange(min=1), default=None, help="Measured rounds [default: 3, --quick 1].")
@click.option(
    "--threads", type=click.IntRange(min=1), default=None, help="Threads for every contender [default: CPUs]."
)
@click.option("--quick", is_flag=True, help="1/10 of the rows, 1 epoch, 1 round: a smoke test.")
@click.option(
    "--busy",
    is_flag=True,
    help="Run one CPU-bound Python process beside the contenders (a busy machine), killed at the end.",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Write the results here.")
@click.option("--data", "data_mode", is_flag=True, help="Time reading, predicting and training from files instead.")
@click.option(
    "--distributed",
    "distributed_mode",
    is_flag=True,
    help="Time backprop.distributed on a LocalCluster of 2 workers instead (issue 16's figures).",
)
@click.option(
    "--tabular",
    "tabular_mode",
    is_flag=True,
    help="Score backprop's default tabular training against scikit-learn's MLP and HistGradientBoosting on real "
    "tables instead (issue 19's suite).",
)
@click.option(
    "--tabular-table",
    "tabular_tables",
    multiple=True,
    type=click.Choice(list(TABLES)),
    help="With --tabular: run this table (repeatable) [default: all; --quick: iris, diabetes].",
)
@click.option(
    "--tabular-seeds", type=click.IntRange(min=1), default=None, help="With --tabular: splits [5, --quick 1]."
)
@click.option(
    "--tabular-train",
    "tabular_train",
    multiple=True,
    metavar="KEY=VALUE",
    help="With --tabular: change one of backprop's training options (repeatable), e.g. hidden=256,128, "
    "epochs=100, early_stopping=off, l2=1e-4, lr=3e-3, schedule=cosine, batch_size=64, validation=0.2.",
)
@click.option("--spark", is_flag=True, help="With --distributed: also Spark MLlib's MLPC and Network.fit.")
@click.option(
    "--data-workload",
    "data_workloads",
    multiple=True,
    type=click.Choice(list(DATA_WORKLOADS)),
    help="With --data: run this one (repeatable) [default: all].",
)
@click.option("--data-rows", type=click.IntRange(min=10), default=None, help="Rows of the table to read [2800000].")
@click.option("--data-predict-rows", type=click.IntRange(min=4), default=None, help="Rows to predict [1000000].")
@click.option("--data-columns", type=click.IntRange(min=10), default=None, help="Columns of the wide CSV [100000].")
@click.option(
    "--data-parquet-mb", type=click.IntRange(min=1), default=None, help="Parquet dataset, MB in memory [4096]."
)
@click.option("--data-limit-mb", type=click.IntRange(min=1), default=None, help="Address space beyond start-up [1024].")
@click.option("--data-epochs", type=click.IntRange(min=2), default=None, help="Epochs of the training runs [3].")
@click.option(
    "--data-features",
    type=click.IntRange(min=1),
    default=None,
    help="Float32 columns of the Parquet dataset's rows [200]: wide, as out of core memory grows by the row.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Generate the files here and keep them [default: a temporary folder].",
)
def command(
    workloads: tuple[str, ...],
    repeats: int | None,
    threads: int | None,
    quick: bool,
    busy: bool,
    json_path: str | None,
    data_mode: bool,
    distributed_mode: bool,
    tabular_mode: bool,
    tabular_tables: tuple[str, ...],
    tabular_seeds: int | None,
    tabular_train: tuple[str, ...],
    spark: bool,
    data_workloads: tuple[str, ...],
    data_rows: int | None,
    data_predict_rows: int | None,
    data_columns: int | None,
    data_parquet_mb: int | None,
    data_limit_mb: int | None,
    data_epochs: int | None,
    data_features: int | None,
    data_dir: str | None,
) -> None:
    """Time backprop against JAX, PyTorch, scikit-learn and the GEMM limit (DESIGN.md §4), or with --data
    its reading, predicting and out-of-core training against pyarrow and pandas (issue 15's figures),
    or with --distributed its data-parallel training on a LocalCluster (issue 16's figures),
    or with --tabular its default tabular training against scikit-learn on real tables (issue 19's suite).

    Unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for this command to measure a
    current numpy at full speed:

    \b
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE backprop bench
    """
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)

    def progress(message: str) -> None:
        click.echo(f"… {message}", err=True)

    if busy and (data_mode or distributed_mode):
        raise click.UsageError("--busy runs beside the training workloads W1-W4: not with --data or --distributed")
    if spark and not distributed_mode:
        raise click.UsageError("--spark measures Spark against backprop.distributed: give --distributed too")
    if tabular_mode and (data_mode or distributed_mode or busy or spark):
        raise click.UsageError("--tabular is a mode of its own: not with --data, --distributed, --busy or --spark")
    if (tabular_tables or tabular_seeds is not None or tabular_train) and not tabular_mode:
        raise click.UsageError(
            "--tabular-table, --tabular-seeds and --tabular-train choose the tabular suite: give --tabular too"
        )
    if tabular_mode:
        try:
            train_overrides(tabular_train)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--tabular-train") from None
        results = run_tabular(
            tabular_tables or None, seeds=tabular_seeds, quick=quick, progress=progress, train=tabular_train
        )
        render_tabular(results, console)
        failed = tabular_has_errors(results)
    elif distributed_mode:
        results = run_distributed(
            QUICK_DISTRIBUTED if quick else DistributedSizes(),
            repeats=repeats or (1 if quick else 3),
            spark=spark,
            progress=progress,
        )
        render_distributed(results, console)
        failed = distributed_has_errors(results)
    elif data_mode:
        base = QUICK_SIZES if quick else DataSizes()
        given = {
            "rows": data_rows,
            "predict_rows": data_predict_rows,
            "columns": data_columns,
            "parquet_mb": data_parquet_mb,
            "limit_mb": data_limit_mb,
            "epochs": data_epochs,
            "features": data_features,
        }
        sizes = DataSizes(**{name: getattr(base, name) if value is None else value for name, value in given.items()})
        results = run_data(
            sizes,
            data_workloads or DATA_WORKLOADS,
            repeats=repeats or (1 if quick else 3),
            folder=data_dir,
            progress=progress,
        )
        render_data(results, console)
        failed = data_has_errors(results)
    else:
        results = run(
            workloads or tuple(WORKLOADS), repeats=repeats, threads=threads, quick=quick, progress=progress, busy=busy
        )
        render(results, console)
        failed = has_errors(results)
    if json_path is not None:
        write_json(results, json_path)
        console.print(f"wrote {json_path}", soft_wrap=True)
    if failed:
        raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m backprop.bench [OPTIONS]``."""
    command.main(args=list(argv) if argv is not None else None, prog_name="python -m backprop.bench")
