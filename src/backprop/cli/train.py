"""``backprop train``: parse the options, drive :func:`backprop.pipeline.run_training`, print the summary.

Also ``--resume`` (options not given again come from the checkpoint) and
the stop signals (a checkpoint, and the command that resumes it).

Imports click and the CLI's shared modules; the training itself is
:class:`backprop.TabularModel`'s.
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
from typing import Any

import click

from .. import _kernels, _terminal
from ..activations import ACTIVATIONS
from ..callbacks import Callback, TrainingState
from ..errors import BackpropError, ModelFileError
from ..heads import OptionsError
from ..losses import LOSSES
from ..network import Network
from ..optimizers import OPTIMIZERS
from ..pipeline import (
    CHANGEABLE,
    CLI_STATE_VERSION,
    RESUMABLE,
    TrainOptions,
    TrainResult,
    default_checkpoint,
    plain_json,
    run_training,
)
from ..schedules import SCHEDULES
from ..tabular import IMPUTE, TASKS
from ..tabular.cache import CachedData
from ._common import (
    check_data_argument,
    ignore_note,
    note,
    option_header,
    option_json,
    option_quiet,
    option_threads,
    parse_hidden,
    parse_names,
    print_json,
    print_line,
    print_text,
    progress_wanted,
    report_module,
    reports_errors,
)
from ._files import check_writable, distinct_files
from ._report import data_summary, write_outputs
from ._signals import Stop, TrainMonitor, progress_bar, stop_signals, tell
from ._tables import never_predicted, never_predicted_notes, print_metrics


def parse_class_weight(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> str | dict[str, float] | None:
    """``--class-weight balanced`` or ``--class-weight sun=3,snow=5`` (labels as the data spells them; a label
    may hold ``=``: the weight follows the last one). The labels are checked once the classes are known."""
    if value is None or value.strip() == "balanced":
        return None if value is None else "balanced"
    weights: dict[str, float] = {}
    for part in value.split(","):
        label, equals, text = part.rpartition("=")
        label = label.strip()
        try:
            weight = float(text) if equals and label else math.nan
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight) or weight < 0:
            raise click.BadParameter(
                f"expected balanced, or LABEL=WEIGHT pairs with weights >= 0 such as sun=3,snow=5; got {part!r} "
                f"in {value!r}"
            )
        if label in weights:
            raise click.BadParameter(f"the class {label!r} is given twice in {value!r}")
        weights[label] = weight
    return weights


@click.command(name="train")
@click.argument("data")
@click.option("--target", default=None, help="The target column, by name or 0-based index [default: the last].")
@click.option(
    "--features", default=None, callback=parse_names, help="Feature columns, comma-separated [default: all others]."
)
@click.option(
    "--ignore", default=None, callback=parse_names, help="Columns to leave out (ids, free text), comma-separated."
)
@click.option("--task", type=click.Choice(TASKS), default=None, help="[default: text or few integers → classes]")
@click.option(
    "--hidden",
    default="auto",
    show_default=True,
    callback=parse_hidden,
    help="Hidden layer widths (or none); auto: 64,32, or twice the inputs (at most 256) and half that when there "
    "are more than 32 inputs (after one-hot encoding).",
)
@click.option(
    "--activation",
    type=click.Choice(sorted(set(ACTIVATIONS) - {"softmax"})),
    default="relu",
    show_default=True,
    help="Activation of the hidden layers.",
)
@click.option(
    "--output", type=click.Choice(sorted(ACTIVATIONS)), default=None, help="Output activation [default: by target]."
)
@click.option(
    "--loss",
    type=click.Choice(sorted(LOSSES)),
    default=None,
    help="[default: 2 classes → binary_crossentropy, more → crossentropy, numbers → mse]",
)
@click.option("--optimizer", type=click.Choice(sorted(OPTIMIZERS)), default="adam", show_default=True)
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Learning rate [default: the optimizer's]."
)
@click.option("--schedule", type=click.Choice(sorted(SCHEDULES)), default="constant", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option(
    "--validation",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.1,
    show_default=True,
    help="Share of the training rows held out for validation curves (0: none).",
)
@click.option(
    "--early-stopping",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Stop after N epochs without improvement of the validation loss (of the training loss with "
    "--validation 0) and keep the best epoch [default: with a validation split, N = max(10, EPOCHS // 10)].",
)
@click.option(
    "--no-early-stopping",
    is_flag=True,
    default=False,
    help="Train every epoch and keep the last, even when the validation loss stopped improving.",
)
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True)
@click.option("--l2", type=click.FloatRange(min=0), default=0.0, show_default=True, help="L2 penalty on the weights.")
@click.option(
    "--class-weight",
    default=None,
    callback=parse_class_weight,
    metavar="balanced|LABEL=W,...",
    help="Weigh the classes in the training loss: balanced (each class as much as the others, for rare classes), "
    "or weights by label, e.g. sun=3,snow=5 (others 1). Early stopping still picks its epoch by the unweighted "
    "validation loss.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--standardize/--no-standardize", default=True, show_default=True, help="Scale numeric columns.")
@click.option(
    "--impute",
    type=click.Choice(IMPUTE),
    default=None,
    help="Fill missing values (mean/median; the most frequent category) or drop their rows [default: error].",
)
@click.option(
    "--missing-category",
    is_flag=True,
    default=False,
    help="A missing cell of a text column is a category of its own, (missing).",
)
@click.option(
    "--test-size",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of the rows held out for the final test (stratified; 0: none).",
)
@option_header
@click.option("--out", "-o", default="model.safetensors", show_default=True, help="The model file to write.")
@click.option("--report", default=None, help="Also write this HTML report.")
@click.option(
    "--resume",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Continue from a checkpoint (Ctrl-C writes one after the current batch): from the next batch, bit for bit.",
)
@click.option(
    "--checkpoint", default=None, help="Where Ctrl-C saves the checkpoint, after the batch [default: OUT with .ckpt]."
)
@click.option(
    "--out-of-core/--in-memory",
    "out_of_core",
    default=None,
    help="Prepare DATA into the on-disk cache in two streaming passes and train from there, in bounded memory "
    "(the same model bit for bit) [default: when DATA is large for the memory available].",
)
@click.option(
    "--cache-dir",
    default=None,
    metavar="DIR",
    help="The prepared-data cache [default: $BACKPROP_CACHE_DIR, $XDG_CACHE_HOME/backprop, ~/.cache/backprop].",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Train on a Dask cluster: tcp://HOST:PORT of its scheduler, or local:N to start N worker processes here "
    "(one thread each) for the run; out of core, the workers read DATA (or the cache) at the same paths. The model's "
    "bits depend on --shards, --batch-size, --sync-every and --seed, not on the number of workers, and differ from "
    "training without --scheduler in the last bits. No --l2, no --schedule but constant.",
)
@click.option(
    "--shards",
    type=click.IntRange(min=1),
    default=None,
    help="With --scheduler: row ranges each step's batch is cut into, one task each; part of the result, unlike "
    "the number of workers [default: 8, or the training rows when fewer].",
)
@click.option(
    "--sync-every",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --scheduler: 1 synchronizes every step; K takes K local steps per shard between averagings "
    "(local SGD: fewer round trips for small batches, another result).",
)
@option_quiet
@option_json
@option_threads("from the shapes: one per 2M multiply-adds of a step's largest product, up to the CPUs and CPU quota")
@reports_errors
def train(
    data: str,
    target: str | None,
    features: list[str] | None,
    ignore: list[str] | None,
    task: str | None,
    hidden: list[int] | str,
    activation: str,
    output: str | None,
    loss: str | None,
    optimizer: str,
    lr: float | None,
    schedule: str,
    epochs: int,
    batch_size: int,
    validation: float,
    early_stopping: int | None,
    no_early_stopping: bool,
    dropout: float,
    l2: float,
    class_weight: str | dict[str, float] | None,
    seed: int,
    standardize: bool,
    impute: str | None,
    missing_category: bool,
    test_size: float,
    header: bool | None,
    out: str,
    report: str | None,
    resume: str | None,
    checkpoint: str | None,
    out_of_core: bool | None,
    cache_dir: str | None,
    scheduler: str | None,
    shards: int | None,
    sync_every: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Train a network on DATA and save it: a CSV, Parquet, .npz/.npy file, a folder of Parquet files,
    or a built-in dataset name.

    The target is the last column unless --target says otherwise; text
    columns are one-hot encoded; numeric columns are standardized. The test
    part's metrics are printed at the end. Ctrl-C (or SIGTERM, SIGHUP) stops
    after the current batch, not at the end of the epoch, and saves a
    checkpoint that --resume continues from the next batch; a second Ctrl-C
    stops at once, without a checkpoint. An output that is the same file as
    an input or another output is refused, and the outputs are checked
    writable, before training.

    DATA larger than memory is prepared into an on-disk cache (reused by the
    next run on the same files and options; see `backprop cache`).

    With --scheduler the preprocessing is fitted here as always, and the
    prepared rows reach the workers as Dask tasks (recomputed if a worker is
    lost); this process holds the network and applies each step's summed
    gradient (backprop.distributed.fit).
    """
    ctx = click.get_current_context()
    check_data_argument(data)
    if no_early_stopping and early_stopping is not None:
        raise click.UsageError("--early-stopping N and --no-early-stopping contradict each other: give one")
    options = TrainOptions(
        data=data,
        target=target,
        features=features,
        ignore=ignore or [],
        task=task,
        hidden=hidden,
        activation=activation,
        output=output,
        loss=loss,
        optimizer=optimizer,
        lr=lr,
        schedule=schedule,
        epochs=epochs,
        batch_size=batch_size,
        validation=validation,
        early_stopping=None if no_early_stopping else ("auto" if early_stopping is None else early_stopping),
        dropout=dropout,
        l2=l2,
        class_weight=class_weight,
        seed=seed,
        standardize=standardize,
        impute=impute,
        missing_category=missing_category,
        test_size=test_size,
        header=header,
        out=out,
        report=report,
        out_of_core=out_of_core,
        cache_dir=cache_dir,
    )
    checkpoint = checkpoint or resume or default_checkpoint(out)
    # Checked before any work: an hour of training must not end in a destroyed input or an unwritable output.
    # The checkpoint resumed from is the one an interrupted run updates: that is no clash.
    distinct_files(
        {"DATA": data if os.path.exists(data) else None, "--resume": resume},
        {"--out": out, "--report": report, "--checkpoint": None if checkpoint == resume else checkpoint},
    )
    for role, path in (("--out", out), ("--report", report), ("--checkpoint", checkpoint)):
        if path is not None:
            check_writable(role, path)
    resume_state, resume_checkpoint = _merge_resume(ctx, options, resume) if resume is not None else (None, None)
    if options.report is not None:
        report_module()  # fail before training, not after, when matplotlib is missing
    cli_state: dict[str, Any] = {}
    on_cluster = _cluster_options(ctx, options, scheduler, shards, sync_every, resume_state)
    if on_cluster is not None:
        cli_state["distributed"] = on_cluster
    monitor = TrainMonitor(progress_bar(progress_wanted(quiet)), checkpoint, cli_state)
    passes = PassBars() if progress_wanted(quiet) else None
    try:
        with contextlib.ExitStack() as stack:
            fit: Any = None
            callbacks: list[Callback] = [monitor]
            if scheduler is not None and on_cluster is not None:  # a bad address fails now, before any reading
                from ..distributed._tabular import ClusterFit, connect  # Dask's modules only when asked for

                client = stack.enter_context(connect(scheduler))
                fit = ClusterFit(client, **on_cluster, source=data, header=options.header)
                callbacks.append(LostWorkers(checkpoint, cli_state))
            with stop_signals(), passes or contextlib.nullcontext():
                result = run_training(
                    options,
                    resume=resume,
                    resume_state=resume_state,
                    resume_checkpoint=resume_checkpoint,
                    callbacks=callbacks,
                    cli_state=cli_state,
                    while_fitting=monitor.stopping(),
                    notes=ignore_note if quiet else note,
                    progress=passes,
                    fit=fit,
                )
    except KeyboardInterrupt:
        tell("interrupted: stopped without a checkpoint")
        raise SystemExit(Stop.exit_status()) from None
    except OptionsError as exc:  # --loss and --output that cannot fit the target
        raise click.UsageError(str(exc)) from exc
    except BackpropError as exc:
        if on_cluster is None:
            raise
        from ..distributed import WorkersLostError

        if not isinstance(exc, WorkersLostError):
            raise
        lost = "workers were lost more often than distributed.scheduler.allowed-failures allows"
        if exc.checkpoint is None:  # before the first step, or after the last: no position to resume from
            tell(f"error: Dask gave up: {lost}; nothing was saved: run the command again")
            raise SystemExit(1) from None
        saved = exc.checkpoint  # LostWorkers saved the position reached, as Ctrl-C does
        tell(
            f"error: Dask gave up in epoch {exc.epoch + 1}, batch {exc.step + 1}: {lost}; checkpoint saved to "
            f"{_terminal.shown(saved)}\nresume with: {_terminal.shown(_resume_command(data, saved, ctx))}"
        )
        raise SystemExit(1) from None
    if fit is not None:
        result.model.training_["distributed"] = fit.used  # in the model file: how the steps were cut
    if result.interrupted and monitor.saved is not None:
        checkpoint = monitor.saved
        command = _resume_command(data, checkpoint, ctx)
        if as_json:
            document = {"interrupted": True, "checkpoint": checkpoint, "epochs_run": len(result.history)}
            with contextlib.suppress(OSError):  # a hung-up terminal: the checkpoint is saved all the same
                print_json({**document, "resume": command})
        tell(
            f"interrupted in epoch {len(result.history) + 1} of {options.epochs}; checkpoint saved to "
            f"{_terminal.shown(checkpoint)}\nresume with: {_terminal.shown(command)}"
        )
        raise SystemExit(Stop.exit_status())
    try:
        with stop_signals():
            write_outputs(result, options.out, options.report)
    except KeyboardInterrupt:
        written = " and ".join(_terminal.shown(p) for p in (options.out, options.report) if p is not None)
        tell(f"interrupted while saving {written}: each is whole, the new version or the one before")
        raise SystemExit(Stop.exit_status()) from None
    if as_json:
        print_json(_train_json(result))
        return
    _print_train_summary(result)


class PassBars(contextlib.AbstractContextManager["PassBars"]):
    """The progress of the prepared-data cache's passes: one bar per pass on standard error.

    Called as ``progress(stage, rows_done, rows_total)``; the bars are gone once the writing
    pass is complete (before the epochs' bar starts: rich draws one live display at a time).
    """

    def __init__(self) -> None:
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._gone = False

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if self._gone:
            return
        try:
            if self._progress is None:
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

                columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
                self._progress = Progress(*columns, console=Console(stderr=True), transient=True)
                self._progress.start()
            if stage not in self._tasks:
                self._tasks[stage] = self._progress.add_task(f"{stage} (rows)", total=total)
            self._progress.update(self._tasks[stage], completed=done, total=total)
        except OSError:  # a terminal gone away (EIO) ends the bars, not the run
            self._progress, self._gone = None, True
        if stage == "writing" and total is not None and done >= total:
            self.close()

    def close(self) -> None:
        if self._progress is not None:
            with contextlib.suppress(OSError):
                self._progress.stop()
            self._progress, self._tasks = None, {}

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resume_command(data: str, checkpoint: str, ctx: click.Context) -> str:
    parts = ["backprop", "train", data, "--resume", checkpoint]
    for name in ("epochs", "scheduler", "quiet", "json"):
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            value = ctx.params[name]
            if isinstance(value, bool):
                if value:
                    parts.append(f"--{name}")
            else:
                parts += [f"--{name.replace('_', '-')}", str(value)]
    return shlex.join(parts)


def _cluster_options(
    ctx: click.Context,
    options: TrainOptions,
    scheduler: str | None,
    shards: int | None,
    sync_every: int,
    resume_state: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """``--shards`` and ``--sync-every`` for ClusterFit (None without --scheduler), checked against the options
    and the checkpoint resumed: those not given again are the checkpoint's, a different one is a usage error."""
    given = {
        name: ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
        for name in ("shards", "sync_every")
    }
    stored = (resume_state or {}).get("distributed")
    if scheduler is None:
        if any(given.values()):
            raise click.UsageError("--shards and --sync-every set how training is cut into tasks: give --scheduler")
        if stored is not None:
            raise click.UsageError("the checkpoint was trained on a Dask cluster: give --scheduler to resume it")
        return None
    problems = (
        ("--l2", options.l2 > 0),
        ("--schedule", options.schedule != "constant"),
        ("--class-weight", options.class_weight is not None),
    )
    for flag, problem in problems:
        if problem:
            raise click.UsageError(f"{flag} is not available with --scheduler: distributed training has none")
    chosen: dict[str, Any] = {"shards": shards, "sync_every": sync_every}
    if isinstance(stored, dict):
        for name, value in chosen.items():
            if not given[name]:
                chosen[name] = stored.get(name, value)
            elif value != stored.get(name, value):
                flag = "--" + name.replace("_", "-")
                raise click.UsageError(
                    f"{flag} {value!r} differs from the checkpoint's {stored.get(name)!r}: the steps would differ; "
                    f"leave {flag} out to resume as it was trained"
                )
    return chosen


class LostWorkers(Callback):
    """Writes ``backprop train``'s checkpoint (with its ``cli`` entry) when Dask gives up on lost workers."""

    def __init__(self, path: str, cli_state: dict[str, Any]) -> None:
        self.path, self.cli_state = path, cli_state

    def on_train_error(self, state: TrainingState, error: BaseException) -> None:
        from ..distributed import WorkersLostError

        # distributed.fit sets state.partial before it raises WorkersLostError in an epoch.
        if isinstance(error, WorkersLostError) and state.partial is not None:
            from ..io import save_checkpoint

            checkpoint = state.checkpoint()
            checkpoint["cli"] = self.cli_state
            save_checkpoint(state.net, self.path, checkpoint)
            error.checkpoint = self.path


def _merge_resume(
    ctx: click.Context, options: TrainOptions, path: str
) -> tuple[dict[str, Any], tuple[Network, dict[str, Any]]]:
    """Options not given again come from the checkpoint; options given differently are a usage error.

    Returns the checkpoint's ``cli`` state and the checkpoint itself, read once: training resumes
    from the version whose options and preprocessing were checked, whatever replaces the file since.
    """
    from ..io import load_checkpoint

    try:
        checkpoint = load_checkpoint(path)
    except ModelFileError as exc:
        if "this is a model file" not in str(exc):
            raise
        raise click.BadParameter(f"{path} is a model file, not a training checkpoint", param_hint="--resume") from None
    cli_state = checkpoint[1].get("cli")
    if not isinstance(cli_state, dict) or cli_state.get("version") != CLI_STATE_VERSION:
        raise click.BadParameter(
            f"{path} was not written by `backprop train`; resume it in Python with fit(..., resume_from=...)",
            param_hint="--resume",
        )
    stored = cli_state.get("options")
    if not isinstance(stored, dict) or "preprocessing" not in cli_state:
        raise ModelFileError(f"{path}: state field 'cli.options' is missing or broken")
    for name in RESUMABLE:
        if name in ("missing_category", "class_weight"):  # a checkpoint written before the option: it was off
            stored.setdefault(name, False if name == "missing_category" else None)
        if name not in stored:
            raise ModelFileError(f"{path}: state field 'cli.options.{name}' is missing")
        flags = (name, "no_early_stopping") if name == "early_stopping" else (name,)
        given_here = any(ctx.get_parameter_source(flag) == click.core.ParameterSource.COMMANDLINE for flag in flags)
        given = plain_json(getattr(options, name))
        if not given_here:
            value = stored[name]
            setattr(options, name, value)
        elif given != stored[name] and name not in CHANGEABLE:
            flag = "--" + name.replace("_", "-")
            raise click.UsageError(
                f"{flag} {given!r} differs from the checkpoint's {stored[name]!r}; leave {flag} out to resume "
                f"{path} as it was trained"
            )
    if cli_state.get("data") != options.data:
        note(f"resuming on {options.data}; the checkpoint was trained on {cli_state.get('data')}")
    return cli_state, checkpoint


def _train_json(result: TrainResult) -> dict[str, Any]:
    last = {k: v[-1] for k, v in result.history.history.items() if v and not k.startswith("grad_norm_")}
    return {
        "model": result.options.out,
        "report": result.options.report,
        "task": result.pre.task,
        "target": result.pre.target.name,
        "classes": result.pre.classes if result.pre.task == "classification" else None,
        "network": result.net.sizes,
        "loss": result.head.loss,
        "output": result.head.output,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "early_stopping": result.model.training_.get("early_stopping"),  # which epoch was kept, and why
        "class_weight": result.options.class_weight,
        "seconds": _training_seconds(result),
        "kernels": _kernels_json(),
        "threads": result.history.threads,  # the threads the epochs ran on (--threads, or the rule)
        "data": data_summary(result),
        "last_epoch": last,
        "test": result.test,
        "never_predicted": None if result.test is None else [label for label, _ in never_predicted(result.test)],
        "notes": result.notes,
    }


def kept_line(record: dict[str, Any] | None) -> str | None:
    """``kept epoch 23 of 50: best val_loss 0.4120; stopped after 11 epochs without improvement (patience 10)``
    from the model's ``training.early_stopping`` record; None when early stopping was off."""
    if not record:
        return None
    best = "nan" if record["best"] is None else f"{record['best']:.4f}"
    line = f"kept epoch {record['kept_epoch']} of {record['epochs']}: best {record['monitor']} {best}"
    if record["stopped_epoch"] is not None:
        waited = record["stopped_epoch"] - record["kept_epoch"]
        return line + f"; stopped after {waited} epochs without improvement (patience {record['patience']})"
    if record["restored"]:
        return line + f"; the {record['epochs_run'] - record['kept_epoch']} epochs after it did not improve on it"
    return line


#: Seconds of loading the compiled kernels worth a line of the summary (compiling them always is).
_NOTICEABLE = 1.0


def _training_seconds(result: TrainResult) -> float:
    """The epochs' time, as the history and the report count it: not the start-up before the first epoch."""
    epochs = result.history.history.get("seconds")
    return float(sum(epochs)) if epochs else result.seconds


def _kernels_json() -> dict[str, Any] | None:
    """What readying the compiled kernels cost (numba's import, its on-disk cache, a compile): None on the
    numpy path."""
    ready = _kernels.startup()
    return None if ready is None else {"seconds": ready.seconds, "compiled": ready.compiled}


def _print_train_summary(result: TrainResult) -> None:
    pre, o = result.pre, result.options
    prepared = result.prepared
    kinds = sum(1 for f in pre.features if f.kind == "categorical")
    target = (
        f"{len(pre.classes)} classes"
        if pre.task == "classification"
        else "numbers" + (" (scaled)" if o.standardize else "")
    )
    print_line(
        f"data      {o.data}: {prepared.n_rows} rows, {len(pre.features)} features"
        + (f" ({kinds} one-hot)" if kinds else "")
        + f" → {pre.n_inputs} inputs; target {pre.target.name!r}: {target}"
    )
    print_line(
        f"          {len(prepared.rows_train)} rows to train"
        + (f" ({o.validation:g} of them for validation)" if o.validation else "")
        + f", {len(prepared.rows_test)} to test"
        + (f", {prepared.n_dropped} dropped" if prepared.n_dropped else "")
    )
    if isinstance(prepared, CachedData):
        print_line(f"          prepared in {prepared.folder} ({'reused' if prepared.reused else 'written'})")
    hidden = f"{o.activation} hidden, " if o.hidden else ""
    print_line(
        f"network   {'-'.join(map(str, result.net.sizes))}, {hidden}{result.head.output} output, {result.head.loss}; "
        f"{o.optimizer} lr {result.learning_rate:g}, batch {o.batch_size}"
    )
    last = {k: v[-1] for k, v in result.history.history.items() if v}
    shown = "  ".join(
        f"{k} {last[k]:.4f}" for k in ("loss", "accuracy", "r2", "val_loss", "val_accuracy", "val_r2") if k in last
    )
    early = " (early stop)" if result.stopped_early else ""
    epochs = len(result.history)
    seconds = _training_seconds(result)
    took = f"{seconds:.3g}" if seconds < 1000 else f"{seconds:.0f}"  # 0.0226, 2.41, 312, 4521
    print_line(f"trained   {epochs} epoch{'s' if epochs != 1 else ''}{early} in {took} s: {shown}")
    kernels = _kernels.startup()  # before the first epoch, once per process: not training time
    if kernels is not None and kernels.compiled:
        print_line(
            f"          compiled the kernels in {kernels.seconds:.1f} s (once: later runs load them from the cache)"
        )
    elif kernels is not None and kernels.seconds >= _NOTICEABLE:
        print_line(f"          loaded the compiled kernels in {kernels.seconds:.1f} s")
    kept = kept_line(result.model.training_.get("early_stopping"))
    if kept is not None:
        print_line(f"          {kept}")
    if result.test is not None:
        print_text()
        print_line(f"test part ({result.test['rows']} rows):")
        print_metrics(result.test, result.head.loss)
        hint = "try --class-weight balanced" if o.class_weight is None else None
        for line in never_predicted_notes(result.test, hint):
            print_line(line)
    print_text()
    print_line(f"saved     {o.out}")
    if o.report:
        print_line(f"report    {o.report}")
    print_line(f"next      backprop predict {shlex.quote(o.out)} NEW_DATA -o predictions.csv")
