"""The ``backprop`` command-line tool.

Commands: ``demo``, ``train``, ``predict``, ``evaluate``, ``explain``,
``export``, ``inspect``, ``datasets``, ``plot``, ``gradcheck``, ``bench``.

Conventions, the same for every command:

* results go to standard output, notes and the progress bar to standard
  error; the progress bar only when standard error is a terminal and
  ``--quiet`` is not given; ``--json`` prints machine-readable JSON instead
  of tables; rich's colours follow ``NO_COLOR`` and the terminal;
* a usage error (a bad option) exits with status 2 and click's message; a
  data or model error exits with status 1 and one line ``error: ...`` on
  standard error naming the file, the column or the row and what to do
  (``--debug`` shows the traceback instead); success exits with 0; Ctrl-C,
  SIGTERM or SIGHUP during ``train`` exits with 128 + the signal (130, 143,
  129) after saving a checkpoint, during ``predict -o`` with no temporary
  file left; a closed pipe (``| head``) ends a command quietly with status
  1; a full disk on standard output is one ``error:`` line naming the
  command's output; text from files is shown with control characters escaped;
* output files are written atomically by :func:`backprop.io.atomic_output`
  (a temporary file in the same folder, then ``os.replace``): an error or a
  kill never leaves a partial file, a failed save says that the previous
  file is unchanged, a replaced file keeps its mode, a symbolic link's
  target is written; a device or pipe (``-o /dev/stdout``) is written in
  place, never replaced;
* before any work, an output that is the same file (path, symbolic link or
  hard link) as an input or another output is refused with exit status 2
  (:func:`distinct_files`).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import math
import os
import shlex
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn, Protocol, cast

import click
import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import __version__, _terminal
from .activations import ACTIVATIONS
from .errors import BackpropError, DataError, MissingDependencyError, ModelFileError, SaveError
from .explain import Trace, explain, seed_example
from .gradcheck import gradcheck
from .layers import Dense, Dropout, Layer
from .losses import LOSSES
from .metrics import DENSE_CLASSES, Confusion, RegressionSums, classification_summary
from .network import Network
from .optimizers import OPTIMIZERS, get_optimizer
from .schedules import SCHEDULES, Schedule
from .tabular import IMPUTE, TASKS, Frame, Prepared, Preprocessor, is_dataset_name, iter_tables, prepare_training
from .training import Callback, History, TrainingState

# Piped output is not cut to 80 columns: the explain tables need the room.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)

SEED_CODE = (
    "numpy.random.seed(18); x = randn(3); y = random(); η = random(); W_ih = random((3, 2)); W_ho = random((2, 1))"
)
PLOT_HINT = "pip install 'backprop[plot]'"
#: Version of the ``"cli"`` entry ``train`` writes into checkpoints.
CLI_STATE_VERSION = 1

FloatArray = NDArray[np.floating[Any]]


# --------------------------------------------------------------------------- output and errors


def _note(message: str) -> None:
    """A note for the user on standard error (never on standard output, which holds results)."""
    click.echo(f"note: {_terminal.shown_lines(message)}", err=True)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, BackpropError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return _terminal.shown(f"{where}{exc.strerror}")  # file names and messages may quote file text
    return _terminal.shown(" ".join(str(exc).split())) or type(exc).__name__


def _fail(exc: BaseException) -> NoReturn:
    """One line ``error: ...`` on standard error and exit status 1."""
    if getattr(exc, "on_stdout", False):
        _quiet_stdout()  # what is still buffered would fail again when Python exits
    click.echo(f"error: {_one_line(exc)}", err=True)
    raise SystemExit(1)


def _debugging() -> bool:
    context = click.get_current_context(silent=True)
    root = context.find_root() if context is not None else None
    return bool(root is not None and root.params.get("debug")) or bool(os.environ.get("BACKPROP_DEBUG"))


def _quiet_stdout() -> None:
    """Point standard output at the null device: what is still buffered would fail again at exit."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        fd = sys.stdout.fileno()  # none under a test runner's stream
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)


def _reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command ``--debug`` and turn data and model errors into ``error: ...`` and exit status 1."""

    @click.option("--debug", is_flag=True, help="Show the traceback of an error instead of one line.")
    @functools.wraps(command)
    def wrapper(*args: Any, debug: bool = False, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except click.ClickException:
            raise
        except BrokenPipeError:
            raise  # the reader of our output went away (`| head`): the group stops quietly
        except (BackpropError, OSError) as exc:
            if debug or _debugging():
                raise
            _fail(exc)

    return wrapper


def _usage_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a BackpropError into click's usage message and exit status 2 (commands that read no data)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SaveError:
            raise  # writing the output failed: not a usage error (the group reports it)
        except BackpropError as exc:
            raise click.UsageError(str(exc)) from exc

    return wrapper


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays as Python numbers and lists, non-finite floats as None."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _print_json(value: Any) -> None:
    click.echo(_terminal.json_text(json.dumps(_jsonable(value), indent=2, ensure_ascii=False, allow_nan=False)))


def _print(text: str = "") -> None:
    """Plain text on standard output (no markup: file names and labels may hold brackets; no control characters)."""
    console.print(_terminal.shown_lines(text), markup=False, highlight=False, soft_wrap=True)


def _print_line(text: str) -> None:
    """One line of plain text on standard output: a newline in the file text it quotes is escaped too."""
    _print(_terminal.shown(text))


def _progress_wanted(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


# --------------------------------------------------------------------------- options


def _sizes(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    try:
        sizes = [int(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated layer widths such as 3,4,1, got {value!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise click.BadParameter(f"need an input width and at least one layer, all >= 1, got {value!r}")
    return sizes


def _hidden(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    if value.strip().lower() in ("", "none", "0"):
        return []
    try:
        widths = [int(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated widths such as 64,32 (or none), got {value!r}") from None
    if min(widths) < 1:
        raise click.BadParameter(f"hidden layer widths must be >= 1, got {value!r}")
    return widths


def _names(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [part.strip() for part in value.split(",") if part.strip()]
    if not names:
        raise click.BadParameter(f"expected comma-separated column names or 0-based indices, got {value!r}")
    return names


option_seed = click.option("--seed", default=0, show_default=True, help="Seed of the random network and data.")
option_sizes = click.option(
    "--sizes", default="3,4,2", show_default=True, callback=_sizes, help="Layer widths from input to output."
)
option_activation = click.option(
    "--activation",
    type=click.Choice(sorted(set(ACTIVATIONS) - {"softmax"})),
    default="sigmoid",
    show_default=True,
    help="Activation of the hidden layers.",
)
option_output = click.option(
    "--output", type=click.Choice(sorted(ACTIVATIONS)), default=None, help="Output activation [default: by loss]."
)
option_loss = click.option("--loss", type=click.Choice(sorted(LOSSES)), default="mse", show_default=True)
option_bias = click.option("--bias/--no-bias", default=True, show_default=True, help="Give every layer a bias.")
option_json = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
option_quiet = click.option("--quiet", "-q", is_flag=True, help="No progress bar and no notes on stderr.")
option_header = click.option(
    "--header/--no-header",
    default=None,
    help="Whether a CSV's first row names the columns [default: detected].",
)

DEFAULT_OUTPUT = {"mse": "sigmoid", "binary_crossentropy": "sigmoid", "crossentropy": "softmax"}


class _Commands(click.Group):
    """The ``backprop`` group: every command's standard output says what a failed write lost.

    A full disk (``> /dev/full``) is one ``error:`` line naming the command's output, not
    a traceback or a bare OS message; a closed pipe (``| head``) ends the command quietly.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # From the first argument parsed: --help and --version write too.
        stdout = sys.stdout
        sys.stdout = _StandardOutput(stdout, "the output of backprop")
        try:
            return super().main(*args, **kwargs)
        except SaveError as exc:  # writing the help failed (click lets it through)
            _fail(exc)
        finally:
            sys.stdout = stdout

    def invoke(self, ctx: click.Context) -> Any:
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # what is still buffered fails here, where it is reported, not at exit
            return result
        except BrokenPipeError:
            # The reader of our output went away (`| head`): stop quietly, as a shell tool does,
            # with status 1, as rich and click give when they see it first.
            _quiet_stdout()
            raise SystemExit(1) from None
        except SaveError as exc:  # a command without its own error report (datasets, plot, ...)
            if _debugging():
                raise
            _fail(exc)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(sys.stdout, _StandardOutput) and command is not None:
            sys.stdout.what = f"the output of backprop {command.name}"
        return name, command, rest


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="backprop")
@click.option("--debug", is_flag=True, help="Show tracebacks of errors (also: BACKPROP_DEBUG=1).")
def main(debug: bool) -> None:
    """backprop: multi-layer neural networks trained by backpropagation, on numpy.

    \b
    Start with:   backprop demo
    Your data:    backprop train data.csv --target label --report report.html
                  backprop predict model.safetensors new.csv -o predictions.csv
                  backprop evaluate model.safetensors test.csv
    """


# --------------------------------------------------------------------------- the seed's example


def _random_problem(
    sizes: list[int], activation: str, output: str, loss: str, samples: int, bias: bool, seed: int
) -> tuple[Network, np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """A random network of the given widths and a random batch with targets fit for ``loss``."""
    layers = [Dense(width, activation, bias=bias) for width in sizes[1:-1]]
    layers.append(Dense(sizes[-1], output, bias=bias))
    net = Network(layers, inputs=sizes[0], seed=seed, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    X = rng.normal(size=(samples, sizes[0]))
    y: np.ndarray[Any, Any]
    if loss == "crossentropy":
        y = rng.integers(0, sizes[-1], size=samples)
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, size=(samples, sizes[-1])).astype(float)
    else:
        y = rng.random((samples, sizes[-1]))
    return net, X, y


def seed_trace() -> Trace:
    """The trace of the seed's worked example (DESIGN.md §2)."""
    net, x, target, learning_rate = seed_example()
    return explain(net, x, target, learning_rate=learning_rate, loss="mse")


def print_seed_example() -> Trace:
    """Print the seed's worked example: initial values, the trace and the seed's two results."""
    net, x, target, learning_rate = seed_example()
    trace = explain(net, x, target, learning_rate=learning_rate, loss="mse")
    console.print("[bold]The seed's worked example[/bold]: a 3-2-1 sigmoid network, one sample, one step.")
    console.print(f"Initial values, drawn as the seed draws them: {SEED_CODE}")
    console.print(f"  y = {target!r}   η = {learning_rate!r}\n")
    console.print(trace)
    console.print()
    # The seed's own print statements, with numpy's own formatting.
    console.print("Change in weights for hidden layer to output layer:")
    console.print(str(trace.weight_deltas[1].ravel()))
    console.print("Change in weights for input layer to hidden layer:")
    console.print(str(trace.weight_deltas[0]))
    return trace


def xor_trace() -> Trace:
    """One step of a 2-2-1 sigmoid network (seed 0) on the four XOR points, η = 0.5."""
    net = Network([Dense(2, "sigmoid"), Dense(1, "sigmoid")], inputs=2, seed=0, dtype=np.float64)
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    return explain(net, X, y, learning_rate=0.5, loss="mse")


def _show_trace(trace: Trace, fmt: str) -> None:
    if fmt == "json":
        _print_json(trace.to_dict())
    elif fmt == "markdown":
        click.echo(trace.to_markdown(), nl=False)
    elif fmt == "html":
        click.echo(trace.to_html(), nl=False)
    else:
        console.print(trace)


# --------------------------------------------------------------------------- models on disk


@dataclass(frozen=True)
class Head:
    """How the network's outputs relate to the target: loss, output activation, units.

    Classification: ``units`` is 1 (two classes, ``p`` of the second) or the
    number of classes. Regression: one identity (or other) unit per target.
    """

    task: str
    loss: str
    output: str
    units: int
    n_classes: int = 0

    def targets(self, y: NDArray[Any]) -> NDArray[Any]:
        """``y`` (class indices or scaled numbers, shape ``(n,)``) as ``fit`` and ``loss`` take it."""
        if self.task == "regression":
            return np.asarray(y, dtype=np.float32).reshape(-1, 1)
        if self.loss == "crossentropy":
            return np.asarray(y, dtype=np.int64)
        if self.units == 1:
            return np.asarray(y, dtype=np.float32).reshape(-1, 1)
        onehot = np.zeros((len(y), self.units), dtype=np.float32)
        onehot[np.arange(len(y)), np.asarray(y, dtype=np.int64)] = 1.0
        return onehot

    def probabilities(self, output: FloatArray) -> NDArray[np.float64]:
        """Class probabilities, shape ``(n, n_classes)``."""
        out: NDArray[np.float64] = np.asarray(output, dtype=np.float64)
        if self.units == 1:
            out = np.column_stack([1.0 - out[:, 0], out[:, 0]])
        elif self.output != "softmax":
            clipped = np.clip(out, 0.0, None)
            total = clipped.sum(axis=1, keepdims=True)
            out = np.divide(clipped, total, out=np.full_like(clipped, 1.0 / self.units), where=total > 0)
        return out

    def classes(self, output: FloatArray) -> NDArray[np.int64]:
        """The predicted class index of every row."""
        indices: NDArray[np.int64]
        if self.units == 1:
            indices = (np.asarray(output)[:, 0] >= 0.5).astype(np.int64)
        else:
            indices = np.asarray(output).argmax(axis=1).astype(np.int64)
        return indices


def choose_head(pre: Preprocessor, loss: str | None, output: str | None) -> Head:
    """The loss and output layer for the target, from ``--loss``/``--output`` or the defaults.

    Defaults: two classes → one sigmoid unit + binary_crossentropy; more →
    softmax + crossentropy; numbers → identity + mse.

    Raises
    ------
    click.UsageError
        For a combination that cannot fit this target.
    """
    target = pre.target.name
    if pre.task == "regression":
        if loss not in (None, "mse"):
            raise click.UsageError(
                f"--loss {loss} is for classes, but the target {target!r} holds numbers; "
                "use --loss mse, or --task classification"
            )
        if output == "softmax":
            raise click.UsageError("--output softmax is for classes; the target holds numbers (use identity)")
        return Head("regression", "mse", output or "identity", 1)
    k = len(pre.classes)
    if loss is None:
        if output in (None, "sigmoid") and k == 2:
            loss = "binary_crossentropy"
        elif output in (None, "softmax"):
            loss = "crossentropy"
        elif output == "sigmoid":
            raise click.UsageError(
                f"--output sigmoid with {k} classes needs --loss mse; or use --output softmax (crossentropy)"
            )
        else:
            raise click.UsageError(
                f"--output {output} gives no class probabilities; use softmax or sigmoid for the classes of {target!r}"
            )
    if loss == "crossentropy":
        if output not in (None, "softmax"):
            raise click.UsageError(f"--loss crossentropy needs --output softmax, got --output {output}")
        return Head("classification", loss, "softmax", k, k)
    if loss == "binary_crossentropy":
        if k != 2:
            raise click.UsageError(
                f"--loss binary_crossentropy is for two classes; the target {target!r} has {k}: use crossentropy"
            )
        if output not in (None, "sigmoid"):
            raise click.UsageError(f"--loss binary_crossentropy needs --output sigmoid, got --output {output}")
        return Head("classification", loss, "sigmoid", 1, k)
    units = 1 if k == 2 else k
    return Head("classification", "mse", output or ("sigmoid" if k == 2 else "softmax"), units, k)


@dataclass
class Model:
    """A model file as the tool uses it: network, metadata, preprocessing and head."""

    path: str
    net: Network
    metadata: dict[str, Any]
    pre: Preprocessor
    head: Head


def load_model(path: str) -> Model:
    """Read a model file written by ``backprop train`` and check its metadata against the network.

    Raises
    ------
    ModelFileError
        Naming the file and the broken field.
    """
    model, _net, _metadata = load_any_model(path)
    if model is None:
        raise ModelFileError(
            f"{path} has no 'preprocessing' metadata: it was not written by `backprop train`. "
            "Load it in Python with backprop.load, or train it with `backprop train`"
        )
    return model


def load_any_model(path: str) -> tuple[Model | None, Network, dict[str, Any]]:
    """Read any model file once: its :class:`Model` (None unless ``backprop train`` wrote it), network and metadata.

    One read: what is checked and what is used come from one version of the file.
    """
    from .io import load_with_metadata

    try:
        net, metadata = load_with_metadata(path)
    except ModelFileError as exc:
        if "training checkpoint" not in str(exc):
            raise
        raise ModelFileError(
            f"{path} is a training checkpoint, not a model file; finish the training with "
            f"`backprop train DATA --resume {path}`"
        ) from None
    if "preprocessing" not in metadata:
        return None, net, metadata
    return _model_of(path, net, metadata), net, metadata


def _model_of(path: str, net: Network, metadata: dict[str, Any]) -> Model:
    """The model of a file ``backprop train`` wrote, its metadata checked against its network."""
    pre = Preprocessor.from_dict(metadata["preprocessing"], where=path)
    if pre.n_inputs != net.n_inputs:
        raise ModelFileError(
            f"{path}: metadata field 'preprocessing' gives {pre.n_inputs} inputs but the network takes {net.n_inputs}"
        )
    loss = metadata.get("loss")
    if loss not in LOSSES:
        raise ModelFileError(f"{path}: metadata field 'loss' must be one of {sorted(LOSSES)}, got {loss!r}")
    output = net.layers[-1].activation.name
    units = net.n_outputs
    if pre.task == "classification":
        k = len(pre.classes)
        if units != k and not (units == 1 and k == 2):
            raise ModelFileError(
                f"{path}: metadata field 'preprocessing.target.classes' has {k} classes but the network has "
                f"{units} outputs"
            )
        head = Head("classification", str(loss), output, units, k)
    else:
        if units != 1:
            raise ModelFileError(f"{path}: a regression model must have 1 output, the network has {units}")
        head = Head("regression", str(loss), output, 1)
    return Model(path, net, metadata, pre, head)


# --------------------------------------------------------------------------- metrics


#: Per-class tables and confusion matrices of more classes than this are summarized on the terminal.
TABLE_CLASSES = 20

def _metrics_table(metrics: Mapping[str, Any], loss_name: str) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("rows", str(metrics["rows"]))
    table.add_row(f"loss ({loss_name})", f"{metrics['loss']:.6g}")
    for key, label in (
        ("accuracy", "accuracy"),
        ("macro_f1", "macro F1"),
        ("r2", "R²"),
        ("mae", "MAE"),
        ("rmse", "RMSE"),
    ):
        if key in metrics:
            table.add_row(label, f"{metrics[key]:.4f}")
    return table


def _per_class_table(rows: Sequence[Mapping[str, Any]], title: str = "per class") -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("class", "precision", "recall", "F1", "support"):
        table.add_column(name, justify="left" if name == "class" else "right")
    for row in rows:
        table.add_row(
            _terminal.text(row["class"]),
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
        )
    return table


def _confusion_table(matrix: NDArray[np.int64], labels: Sequence[Any]) -> Table:
    table = Table(title="confusion matrix", title_justify="left")
    table.add_column("true \\ predicted")
    for label in labels:
        table.add_column(_terminal.text(label), justify="right")
    for i, label in enumerate(labels):
        cells = [Text(str(v), style="bold" if i == j and v else "") for j, v in enumerate(matrix[i].tolist())]
        table.add_row(_terminal.text(label), *cells)
    return table


def _confusion_cells(confusion: Mapping[str, Any]) -> NDArray[np.int64]:
    """``[row, column, count]`` of the nonzero cells of a confusion matrix as ``confusion_json`` gives it."""
    if "cells" in confusion:
        return np.asarray(confusion["cells"], dtype=np.int64).reshape(-1, 3)
    matrix = np.asarray(confusion["matrix"], dtype=np.int64)
    rows, columns = np.nonzero(matrix)
    return np.column_stack([rows, columns, matrix[rows, columns]])


def _confusions_table(confusion: Mapping[str, Any], limit: int = TABLE_CLASSES) -> tuple[Table, int]:
    """The most frequent confusions (true class predicted as another), and how many others were left out."""
    cells = _confusion_cells(confusion)
    labels = confusion["labels"]
    support = np.bincount(cells[:, 0], weights=cells[:, 2], minlength=len(labels))
    wrong = cells[cells[:, 0] != cells[:, 1]]
    order = np.lexsort((wrong[:, 1], wrong[:, 0], -wrong[:, 2]))  # the most rows first, then by class
    table = Table(title=f"most frequent confusions, of {len(labels):,} classes", title_justify="left")
    for name in ("true", "predicted", "rows", "% of true"):
        table.add_column(name, justify="left" if name in ("true", "predicted") else "right")
    for true, predicted, count in wrong[order[:limit]].tolist():
        share = 100.0 * count / support[true] if support[true] else 0.0
        table.add_row(_terminal.text(labels[true]), _terminal.text(labels[predicted]), str(count), f"{share:.1f}")
    return table, max(0, len(wrong) - limit)


def _print_metrics(metrics: Mapping[str, Any], loss_name: str) -> None:
    console.print(_metrics_table(metrics, loss_name))
    if "per_class" not in metrics:
        return
    # Thousands of classes make tables no one reads, and printing them took minutes: summarized.
    rows = metrics["per_class"]
    if len(rows) <= TABLE_CLASSES:
        console.print(_per_class_table(rows))
    else:
        present = [row for row in rows if row["support"]] or list(rows)
        worst = sorted(present, key=lambda row: (row["recall"], -row["support"]))[:TABLE_CLASSES]
        console.print(_per_class_table(worst, title=f"per class: the {len(worst)} with the lowest recall"))
        _print(f"({len(rows) - len(worst):,} of {len(rows):,} classes not shown; --json lists them all)")
    confusion = metrics["confusion_matrix"]
    if "matrix" in confusion and len(confusion["labels"]) <= TABLE_CLASSES:
        console.print(_confusion_table(np.array(confusion["matrix"], dtype=np.int64), confusion["labels"]))
        return
    table, left_out = _confusions_table(confusion)
    if table.row_count:
        console.print(table)
    else:
        _print("no confusions: every row was predicted right")
    _print(
        (f"({left_out:,} other confusions not shown; " if left_out else "(")
        + f"the confusion matrix of {len(confusion['labels']):,} classes is in --json)"
    )


# --------------------------------------------------------------------------- atomic outputs


@contextlib.contextmanager
def atomic_text(path: str) -> Iterator[_AtomicText]:
    """A UTF-8 text file that appears at ``path`` only once complete, through :func:`backprop.io.atomic_output`.

    A failed write raises :class:`SaveError` naming ``path``; the body's own
    errors (reading the input, say) pass through as they are. A device or
    pipe (``/dev/stdout``, ``/dev/null``) is written in place, never replaced;
    a replaced file keeps its mode; a symbolic link's target is written.
    """
    from .io import atomic_output

    with atomic_output(path) as binary:
        text = _AtomicText(binary)
        yield text
        text.flush()


class _AtomicText:
    """Text over an :class:`~backprop.io.AtomicFile`: UTF-8, ``\n`` line ends as written, 64 KiB at a time."""

    def __init__(self, binary: Any) -> None:
        self._binary = binary
        self._pending: list[str] = []
        self._size = 0

    def write(self, text: str, /) -> int:
        self._pending.append(text)
        self._size += len(text)
        if self._size >= 1 << 16:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._pending:
            data = "".join(self._pending).encode("utf-8")
            self._pending, self._size = [], 0
            self._binary.write(data)


# --------------------------------------------------------------------------- files a command reads and writes


def _file_identity(path: str) -> tuple[str, tuple[int, int] | None, bool]:
    """The resolved path, the (device, inode) of what is there, and whether it is written in place (device, pipe)."""
    real = os.path.realpath(path)
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return real, None, False
    in_place = stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)
    return real, (info.st_dev, info.st_ino), in_place


def distinct_files(inputs: Mapping[str, str | None], outputs: Mapping[str, str | None]) -> None:
    """Refuse, before any work, an output that is the same file as an input or as another output.

    The same file is the same resolved path (through symbolic links and
    ``..``) or the same inode (hard links); standard input (``-``) is the
    file redirected into it (``< data.csv``), if it is one. The devices and
    pipes that outputs are written into in place (``/dev/null``,
    ``/dev/stdout``) are never the same file as anything.

    Parameters
    ----------
    inputs, outputs : mapping of str to str or None
        What the user calls each file (``"DATA"``, ``"--out"``) → its path;
        ``None`` for an option not given.

    Raises
    ------
    SystemExit
        With status 2 after one ``error:`` line naming both files.
    """
    seen: list[tuple[str, str, str | None, tuple[int, int] | None]] = []
    for role, path in inputs.items():
        if path == "-":
            seen.append((role, "- (standard input)", None, _stdin_identity()))
        elif path is not None and not _file_identity(path)[2]:
            seen.append((role, path, *_file_identity(path)[:2]))
    for role, path in outputs.items():
        if path is None or path == "-":
            continue
        real, inode, in_place = _file_identity(path)
        if in_place:
            continue
        for other_role, other_path, other_real, other_inode in seen:
            if real == other_real or (inode is not None and inode == other_inode):
                what = "one of the inputs" if other_role in inputs else "another output"
                first, second = _terminal.shown(path), _terminal.shown(other_path)
                click.echo(
                    f"error: {role} {first} is the same file as {other_role} {second}: "
                    f"writing it would destroy {what}; choose another {role}",
                    err=True,
                )
                raise SystemExit(2)
        seen.append((role, path, real, inode))


def _stdin_identity() -> tuple[int, int] | None:
    """The (device, inode) of the regular file redirected into standard input, if it is one."""
    try:
        info = os.fstat(sys.stdin.fileno())
    except (OSError, ValueError, AttributeError):  # closed, or a test runner's stream
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def check_writable(role: str, path: str) -> None:
    """Refuse, before training, an output file that could not be written at the end of it.

    Parameters
    ----------
    role : str
        The option, for the message (``"--out"``).
    path : str
        The file. It may not exist yet; missing folders are created when it is written.

    Raises
    ------
    SaveError
        If ``path`` is a folder, or the folder that will hold it (or the
        nearest existing folder above it) cannot be written.
    """
    if path == "-":
        return
    real = os.path.realpath(path)
    if os.path.isdir(real):
        raise SaveError(f"cannot write {role} {_terminal.shown(path)}: it is a folder")
    if _file_identity(path)[2]:
        return  # a device or pipe, written in place
    # The folder the file will be written in: a symbolic link's target's (atomic_output writes there);
    # otherwise in the user's terms, for the message.
    folder = os.path.dirname(real if os.path.islink(path) else path) or os.curdir
    while not os.path.isdir(folder):
        if os.path.exists(folder):
            raise SaveError(f"cannot write {role} {_terminal.shown(path)}: {_terminal.shown(folder)} is not a folder")
        parent = os.path.dirname(folder) or os.curdir
        if parent == folder:
            break
        folder = parent
    try:
        # The one sure test (permissions, a read-only mount, ACLs): a file made and removed at once.
        with tempfile.TemporaryFile(dir=folder, prefix=".backprop-probe-"):
            pass
    except OSError as exc:
        raise SaveError(
            f"cannot write {role} {_terminal.shown(path)}: the folder {_terminal.shown(folder)} is not writable "
            f"({exc.strerror or exc}); nothing was trained"
        ) from None


def _ensure_folder(path: str) -> None:
    """Create the folder of an output file (not the file)."""
    from .errors import SaveError

    folder = os.path.dirname(os.path.realpath(path))  # a symbolic link's target's folder: written there
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise SaveError(f"could not create the folder {folder} for {path}: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------- pictures and report


def _plotting() -> Any:
    """``backprop.plotting``, or MissingDependencyError when matplotlib is not installed."""
    return _needs_matplotlib("plotting", "pictures need")


def _report_module() -> Any:
    return _needs_matplotlib("report", "the HTML report needs")


def _needs_matplotlib(module: str, what: str) -> Any:
    """Import ``backprop.<module>``; a missing matplotlib becomes one clear error naming the extra."""
    try:
        return importlib.import_module(f"{__package__}.{module}")
    except ImportError as exc:
        if (exc.name or "").split(".")[0] == "matplotlib":
            raise MissingDependencyError(f"{what} matplotlib: {PLOT_HINT}", name="matplotlib") from exc
        raise


# --------------------------------------------------------------------------- training


#: ``train`` options stored in a checkpoint and taken from it on ``--resume`` when not given again.
RESUMABLE = (
    "target",
    "features",
    "ignore",
    "task",
    "hidden",
    "activation",
    "output",
    "loss",
    "optimizer",
    "lr",
    "schedule",
    "epochs",
    "batch_size",
    "validation",
    "early_stopping",
    "dropout",
    "l2",
    "seed",
    "standardize",
    "impute",
    "test_size",
    "header",
    "out",
    "report",
)
#: Options that may differ from the checkpoint's when resuming.
CHANGEABLE = ("epochs", "out", "report")


@dataclass
class TrainOptions:
    """Everything ``backprop train`` (and ``demo``) needs to train, as plain values."""

    data: str
    target: str | None = None
    features: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    task: str | None = None
    hidden: list[int] = field(default_factory=lambda: [64, 32])
    activation: str = "relu"
    output: str | None = None
    loss: str | None = None
    optimizer: str = "adam"
    lr: float | None = None
    schedule: str = "constant"
    epochs: int = 50
    batch_size: int = 32
    validation: float = 0.1
    early_stopping: int | None = None
    dropout: float = 0.0
    l2: float = 0.0
    seed: int = 0
    standardize: bool = True
    impute: str | None = None
    test_size: float = 0.2
    header: bool | None = None
    out: str = "model.safetensors"
    report: str | None = None

    def resumable(self) -> dict[str, Any]:
        return {name: _jsonable(getattr(self, name)) for name in RESUMABLE}


@dataclass
class TrainResult:
    """What a training run produced."""

    options: TrainOptions
    frame: Frame
    prepared: Prepared
    pre: Preprocessor
    head: Head
    net: Network
    history: History
    seconds: float
    learning_rate: float
    test: dict[str, Any] | None
    interrupted: bool
    checkpoint: str | None
    stopped_early: bool
    notes: list[str]


class TrainMonitor(Callback):
    """The tool's one callback: the progress bar, and Ctrl-C (or SIGTERM, SIGHUP).

    The first stop signal (:meth:`interrupt`) asks training to stop: after the
    current batch training stops and a checkpoint is written that resumes with
    the next batch, bit for bit. A second Ctrl-C raises KeyboardInterrupt at
    once, without a checkpoint; a repeated SIGTERM or SIGHUP changes nothing
    (a closed terminal may send SIGHUP twice), so the checkpoint is written.
    The checkpoint is written before anything is said on the terminal, and a
    terminal that has gone away (EIO) stops the progress bar, not the training.
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
            raise KeyboardInterrupt
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
            from .io import save_checkpoint

            # Saved first: after SIGHUP the terminal may be gone, and every write to it fails.
            checkpoint = state.checkpoint()
            checkpoint["cli"] = self.cli_state
            save_checkpoint(state.net, self.checkpoint_path, checkpoint)
            self.saved = self.checkpoint_path
        self._show("on_train_end", state)
        if self.saved is not None and state.partial is not None:
            where = f"batch {state.partial['step']} of epoch {state.partial['epoch'] + 1}"
            _tell(f"\n{_Stop.name()}: stopped after {where}")

    def on_train_error(self, state: TrainingState, error: BaseException) -> None:
        self._show("on_train_error", state, error)


def _tell(message: str) -> None:
    """A message on standard error that may find the terminal gone (after SIGHUP): then it is not said."""
    with contextlib.suppress(OSError):
        click.echo(message, err=True)


#: The signals that stop a command as Ctrl-C does: a terminal's, a service manager's
#: (``kill``, ``docker stop``, ``systemctl stop``) and a closed terminal's.
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def _signal_names() -> dict[int, str]:
    return {int(getattr(signal, name)): name for name in STOP_SIGNALS if hasattr(signal, name)}


class _Stop:
    """The stop signal received last (its number gives the exit status, 128 + it, as shells report)."""

    signum: int = signal.SIGINT

    @classmethod
    def exit_status(cls) -> int:
        return 128 + int(cls.signum)

    @classmethod
    def name(cls) -> str:
        return "Ctrl-C" if cls.signum == signal.SIGINT else _signal_names().get(int(cls.signum), "a signal")


@contextlib.contextmanager
def _stop_signals(handler: Callable[[int], None] | None = None) -> Iterator[None]:
    """Route SIGINT, SIGTERM and SIGHUP to ``handler(signum)`` (default: raise KeyboardInterrupt) for a block.

    SIGTERM and SIGHUP would otherwise end the process at once, with no
    checkpoint and no temporary file removed; as KeyboardInterrupt they
    unwind like Ctrl-C. Main thread only (Python delivers signals there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int) -> None:
        raise KeyboardInterrupt

    act = handler or interrupt

    def receive(signum: int, _frame: Any) -> None:
        _Stop.signum = signum
        act(signum)

    _Stop.signum = signal.SIGINT
    # A signal the caller ignores stays ignored: `nohup backprop train` must survive the hangup.
    wanted = [signum for signum in _signal_names() if signal.getsignal(signum) is not signal.SIG_IGN]
    previous = {signum: signal.signal(signum, receive) for signum in wanted}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _sigint(monitor: TrainMonitor) -> contextlib.AbstractContextManager[None]:
    """While training, a stop signal asks ``monitor`` to stop after the batch (a second one stops at once)."""
    return _stop_signals(monitor.interrupt)


def build_network(n_inputs: int, options: TrainOptions, head: Head) -> Network:
    """Dense hidden layers (each followed by Dropout when ``options.dropout``) and the head's output layer."""
    from itertools import pairwise

    from ._memory import check_allocation
    from .errors import MemoryLimitError

    layers: list[Layer] = []
    for width in options.hidden:
        layers.append(Dense(width, options.activation))
        if options.dropout > 0:
            layers.append(Dropout(options.dropout))
    layers.append(Dense(head.units, head.output))
    widths = [n_inputs, *options.hidden, head.units]
    n_parameters = sum((n_in + 1) * n_out for n_in, n_out in pairwise(widths))
    outputs = f"{head.units:,} output{'s' * (head.units != 1)}"
    what = (
        f"--hidden {','.join(map(str, options.hidden)) or 'none'} ({n_inputs:,} inputs, {outputs}: "
        f"{n_parameters:,} parameters)"
    )
    try:
        # Checked before anything is allocated: the parameters and their gradient, float32.
        check_allocation(2 * n_parameters * np.dtype(np.float32).itemsize, what)
        return Network(layers, inputs=n_inputs, seed=options.seed)
    except MemoryLimitError as exc:
        if str(exc).startswith("--hidden"):
            raise
        raise MemoryLimitError(f"{what}: {exc}", needed=exc.needed, available=exc.available) from None


def build_schedule(name: str, epochs: int, validation: bool) -> Schedule:
    """The learning-rate schedule ``--schedule`` names, with defaults fit for ``epochs``."""
    from .schedules import Constant, CosineDecay, ExponentialDecay, ReduceOnPlateau, StepDecay

    if name == "step":
        return StepDecay(step_size=max(1, epochs // 3), gamma=0.1)
    if name == "exponential":
        return ExponentialDecay(gamma=0.95)
    if name == "cosine":
        return CosineDecay(epochs=epochs)
    if name == "plateau":
        return ReduceOnPlateau(monitor="val_loss" if validation else "loss", patience=max(2, epochs // 10))
    return Constant()


def _finite_history(history: Mapping[str, Sequence[float]]) -> dict[str, list[float | None]]:
    return {k: [float(v) if math.isfinite(v) else None for v in values] for k, values in history.items()}


def _reapply(pre: Preprocessor, frame: Frame, rows: NDArray[np.int64]) -> tuple[NDArray[np.float32], NDArray[Any]]:
    part = frame.take(rows)
    X = pre.transform(part)
    y, _ = pre.targets(part)
    return X, (y.astype(np.int64) if pre.task == "classification" else y.astype(np.float32))


def _evaluate_arrays(net: Network, head: Head, pre: Preprocessor, X: NDArray[Any], y: NDArray[Any]) -> dict[str, Any]:
    output = net.predict(X)
    loss = net.loss(X, head.targets(y), head.loss)
    if head.task == "classification":
        confusion = Confusion(head.n_classes)
        confusion.add(y, head.classes(output))
        return classification_summary(confusion, loss, pre.classes)
    sums = RegressionSums()
    sums.add(pre.target_values(y), pre.target_values(output[:, 0]))
    return sums.summary(loss)


def run_training(
    options: TrainOptions,
    *,
    resume: str | None = None,
    resume_state: dict[str, Any] | None = None,
    resume_checkpoint: tuple[Network, dict[str, Any]] | None = None,
    checkpoint: str | None = None,
    progress: bool = False,
    notes: Callable[[str], None] = _note,
) -> TrainResult:
    """Read the data, fit the preprocessing, build and train the network, measure the test part.

    Writes nothing but the checkpoint of an interrupted run.
    """
    from .callbacks import EarlyStopping
    from .tabular import check_held_out, read_table

    frame = read_table(options.data, header=options.header)
    prepared = prepare_training(
        frame,
        target=options.target,
        features=options.features,
        ignore=options.ignore,
        task=options.task,
        impute=options.impute,
        standardize=options.standardize,
        test_size=options.test_size,
        seed=options.seed,
    )
    for message in prepared.notes:
        notes(message)
    pre = prepared.preprocessor
    X_train, y_train, X_test, y_test = prepared.X_train, prepared.y_train, prepared.X_test, prepared.y_test
    if resume_state is not None:
        stored = Preprocessor.from_dict(resume_state["preprocessing"], where=f"{resume}: cli")
        if stored.to_dict() != pre.to_dict():
            notes(f"{options.data} gives other statistics than the checkpoint's data; keeping the checkpoint's")
            pre = stored
            X_train, y_train = _reapply(pre, frame, prepared.rows_train)
            X_test, y_test = _reapply(pre, frame, prepared.rows_test)
    head = choose_head(pre, options.loss, options.output)
    net = build_network(pre.n_inputs, options, head)
    optimizer = get_optimizer(options.optimizer, lr=options.lr)
    learning_rate = float(optimizer.lr)
    validation = options.validation if options.validation > 0 else None
    if validation is not None:
        # fit holds the validation rows out of the training rows by the same rule: said here in --validation's terms.
        n_groups = len(np.unique(y_train)) if pre.task == "classification" else 1
        check_held_out(frame.source, validation, len(y_train), n_groups, option="--validation", part="validation")
    schedule = build_schedule(options.schedule, options.epochs, validation is not None)

    callbacks: list[Callback] = []
    if options.early_stopping is not None:
        callbacks.append(EarlyStopping(monitor="val_loss" if validation else "loss", patience=options.early_stopping))
    bar: Callback | None = None
    if progress:
        from .progress import RichProgress

        bar = RichProgress(console=Console(stderr=True))
    checkpoint_path = checkpoint or _default_checkpoint(options.out)
    cli_state = {
        "version": CLI_STATE_VERSION,
        "data": options.data,
        "options": options.resumable(),
        "preprocessing": pre.to_dict(),
    }
    monitor = TrainMonitor(bar, checkpoint_path, cli_state)
    callbacks.append(monitor)

    began = time.perf_counter()
    with _sigint(monitor):
        history = net.fit(
            X_train,
            head.targets(y_train),
            loss=head.loss,
            optimizer=optimizer,
            epochs=options.epochs,
            batch_size=options.batch_size,
            validation=validation,
            l2=options.l2,
            schedule=schedule,
            callbacks=callbacks,
            seed=options.seed,
            resume_from=resume_checkpoint if resume_checkpoint is not None else resume,
        )
    seconds = time.perf_counter() - began
    epochs_run = len(history)
    stopped_early = bool(callbacks[0].stopped_epoch is not None) if isinstance(callbacks[0], EarlyStopping) else False
    interrupted = monitor.saved is not None and epochs_run < options.epochs and not stopped_early
    test = None
    if len(y_test) and not interrupted:
        test = _evaluate_arrays(net, head, pre, X_test, y_test)
    return TrainResult(
        options=options,
        frame=frame,
        prepared=prepared,
        pre=pre,
        head=head,
        net=net,
        history=history,
        seconds=seconds,
        learning_rate=learning_rate,
        test=test,
        interrupted=interrupted,
        checkpoint=monitor.saved,
        stopped_early=stopped_early,
        notes=prepared.notes,
    )


def _default_checkpoint(out: str) -> str:
    base, suffix = os.path.splitext(out)
    return (base if suffix else out) + ".ckpt"


def model_metadata(result: TrainResult) -> dict[str, Any]:
    """The JSON metadata ``train`` stores with the network."""
    options, pre, prepared = result.options, result.pre, result.prepared
    return {
        "preprocessing": pre.to_dict(),
        "task": pre.task,
        "loss": result.head.loss,
        "target": pre.target.name,
        "classes": pre.classes if pre.task == "classification" else None,
        "feature_names": [f.name for f in pre.features],
        "input_names": pre.input_names,
        "history": _finite_history(result.history.history),
        "training": {
            "data": options.data,
            "rows": prepared.n_rows,
            "train_rows": len(prepared.rows_train),
            "test_rows": len(prepared.rows_test),
            "dropped_rows": prepared.n_dropped,
            "epochs_run": len(result.history),
            "stopped_early": result.stopped_early,
            "seconds": result.seconds,
            "learning_rate": result.learning_rate,
            "options": options.resumable(),
        },
        "metrics": {"test": _jsonable(_flat_metrics(result.test)) if result.test else None},
    }


def _flat_metrics(metrics: Mapping[str, Any] | None) -> dict[str, int | float]:
    """The scalar metrics (no per-class table, no matrix)."""
    if not metrics:
        return {}
    return {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def _hyperparameters(result: TrainResult) -> dict[str, Any]:
    o = result.options
    return {
        "network": "-".join(map(str, result.net.sizes)),
        "hidden activation": o.activation if o.hidden else "(no hidden layer)",
        "output": f"{result.head.units} × {result.head.output}",
        "loss": result.head.loss,
        "optimizer": o.optimizer,
        "learning rate": result.learning_rate,
        "schedule": o.schedule,
        "epochs": f"{len(result.history)} of {o.epochs}" + (" (early stop)" if result.stopped_early else ""),
        "batch size": o.batch_size,
        "validation": o.validation,
        "early stopping": o.early_stopping if o.early_stopping is not None else "off",
        "dropout": o.dropout,
        "l2": o.l2,
        "standardize": o.standardize,
        "impute": o.impute or "off",
        "test size": o.test_size,
        "seed": o.seed,
    }


def _data_summary(result: TrainResult) -> dict[str, Any]:
    pre, prepared = result.pre, result.prepared
    summary: dict[str, Any] = {
        "source": result.options.data,
        "rows": prepared.n_rows,
        "training rows": len(prepared.rows_train),
        "test rows": len(prepared.rows_test),
        "network inputs": pre.n_inputs,
        "target": pre.target.name,
        "task": pre.task,
    }
    numeric = [f.name for f in pre.features if f.kind == "numeric"]
    categorical = [f"{f.name} ({len(f.categories)} categories)" for f in pre.features if f.kind == "categorical"]
    if numeric:
        summary["numeric features"] = _short_list(numeric)
    if categorical:
        summary["categorical features (one-hot)"] = _short_list(categorical)
    if pre.task == "classification":
        summary["classes"] = _short_list([str(c) for c in pre.classes])
    if prepared.n_dropped:
        summary["dropped rows"] = prepared.n_dropped
    return summary


def _short_list(items: Sequence[str], limit: int = 10) -> str:
    """``a, b, c`` or, for long lists, ``a, b, c, d, …, y, z (64 in all)``."""
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:4])}, …, {', '.join(items[-2:])} ({len(items)} in all)"


def _report_metrics(test: Mapping[str, Any]) -> dict[str, int | float]:
    names = {"rows": "test rows", "macro_precision": "macro precision", "macro_recall": "macro recall"}
    names["macro_f1"] = "macro F1"
    return {names.get(k, k): v for k, v in _flat_metrics(test).items()}


def _boundary_points(result: TrainResult) -> tuple[NDArray[np.float64], NDArray[np.int64]] | None:
    """Raw 2-D points and classes when the model has exactly two numeric features (for the decision boundary)."""
    pre = result.pre
    if pre.task != "classification" or len(pre.features) != 2 or any(f.kind != "numeric" for f in pre.features):
        return None
    rows = np.sort(np.concatenate([result.prepared.rows_train, result.prepared.rows_test]))
    part = result.frame.take(rows)
    from .tabular import parse_numbers

    columns = []
    for spec in pre.features:
        parsed = parse_numbers(part.column(spec.name), part.decimal_comma)
        values = parsed.values
        if parsed.missing.any() and isinstance(spec.fill, float):
            values = np.where(parsed.missing, spec.fill, values)
        columns.append(values)
    y, _ = pre.targets(part)
    return np.column_stack(columns), y.astype(np.int64)


def _sample_trace(result: TrainResult) -> Trace | None:
    X = result.prepared.X_test if len(result.prepared.y_test) else result.prepared.X_train
    y = result.prepared.y_test if len(result.prepared.y_test) else result.prepared.y_train
    if not len(y):
        return None
    return explain(
        result.net, X[:1], result.head.targets(y[:1]), learning_rate=result.learning_rate, loss=result.head.loss
    )


def write_outputs(result: TrainResult, out: str, report: str | None, title: str | None = None) -> None:
    """Save the model file (and the report) of a finished run, atomically."""
    from .errors import SaveError
    from .io import save

    _ensure_folder(out)
    try:
        save(result.net, out, metadata=model_metadata(result))
    except SaveError as exc:
        # Training is done but its result is lost: say so, and how to keep the next one.
        error = SaveError(f"{exc}; the newly trained model was not saved (train again with another --out)")
        error.errno = exc.errno
        raise error from exc
    if report is not None:
        _ensure_folder(report)
        write_report(result, report, title=title or f"backprop: {result.options.data}")


def write_report(result: TrainResult, path: str, title: str) -> None:
    """``report.html`` of a run, through :func:`backprop.report.write_report`."""
    report = _report_module()
    test = result.test or {}
    confusion = None
    if "matrix" in test.get("confusion_matrix", {}):  # not past DENSE_CLASSES classes
        confusion = (
            np.array(test["confusion_matrix"]["matrix"], dtype=np.int64),
            [str(c) for c in test["confusion_matrix"]["labels"]],
        )
    points = _boundary_points(result)
    report.write_report(
        path,
        net=result.net,
        history=result.history.history,
        metrics=_report_metrics(test),
        data_summary=_data_summary(result),
        hyperparameters=_hyperparameters(result),
        confusion=confusion,
        per_class=test.get("per_class"),
        points=points,
        transform=result.pre.numeric_transform if points is not None else None,
        trace=_sample_trace(result),
        title=title,
    )


def _resume_command(data: str, checkpoint: str, ctx: click.Context) -> str:
    parts = ["backprop", "train", data, "--resume", checkpoint]
    for name in ("epochs", "quiet", "json"):
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            value = ctx.params[name]
            if isinstance(value, bool):
                if value:
                    parts.append(f"--{name}")
            else:
                parts += [f"--{name.replace('_', '-')}", str(value)]
    return shlex.join(parts)


def _merge_resume(
    ctx: click.Context, options: TrainOptions, path: str
) -> tuple[dict[str, Any], tuple[Network, dict[str, Any]]]:
    """Options not given again come from the checkpoint; options given differently are a usage error.

    Returns the checkpoint's ``cli`` state and the checkpoint itself, read once: training resumes
    from the version whose options and preprocessing were checked, whatever replaces the file since.
    """
    from .io import load_checkpoint

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
        if name not in stored:
            raise ModelFileError(f"{path}: state field 'cli.options.{name}' is missing")
        source = ctx.get_parameter_source(name)
        given = _jsonable(getattr(options, name))
        if source != click.core.ParameterSource.COMMANDLINE:
            value = stored[name]
            setattr(options, name, value)
        elif given != stored[name] and name not in CHANGEABLE:
            flag = "--" + name.replace("_", "-")
            raise click.UsageError(
                f"{flag} {given!r} differs from the checkpoint's {stored[name]!r}; leave {flag} out to resume "
                f"{path} as it was trained"
            )
    if cli_state.get("data") != options.data:
        _note(f"resuming on {options.data}; the checkpoint was trained on {cli_state.get('data')}")
    return cli_state, checkpoint


@main.command()
@click.argument("data")
@click.option("--target", default=None, help="The target column, by name or 0-based index [default: the last].")
@click.option(
    "--features", default=None, callback=_names, help="Feature columns, comma-separated [default: all others]."
)
@click.option("--ignore", default=None, callback=_names, help="Columns to leave out (ids, free text), comma-separated.")
@click.option("--task", type=click.Choice(TASKS), default=None, help="[default: text or few integers → classes]")
@click.option("--hidden", default="64,32", show_default=True, callback=_hidden, help="Hidden layer widths (or none).")
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
    help="Stop after N epochs without improvement of the validation loss.",
)
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True)
@click.option("--l2", type=click.FloatRange(min=0), default=0.0, show_default=True, help="L2 penalty on the weights.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--standardize/--no-standardize", default=True, show_default=True, help="Scale numeric columns.")
@click.option(
    "--impute",
    type=click.Choice(IMPUTE),
    default=None,
    help="Fill missing values (mean/median; the most frequent category) or drop their rows [default: error].",
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
    help="Continue from a checkpoint (written on Ctrl-C).",
)
@click.option("--checkpoint", default=None, help="Where Ctrl-C saves the checkpoint [default: OUT with .ckpt].")
@option_quiet
@option_json
@_reports_errors
def train(
    data: str,
    target: str | None,
    features: list[str] | None,
    ignore: list[str] | None,
    task: str | None,
    hidden: list[int],
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
    dropout: float,
    l2: float,
    seed: int,
    standardize: bool,
    impute: str | None,
    test_size: float,
    header: bool | None,
    out: str,
    report: str | None,
    resume: str | None,
    checkpoint: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Train a network on DATA and save it: a CSV, Parquet, .npz/.npy file, or a built-in dataset name.

    The target is the last column unless --target says otherwise; text
    columns are one-hot encoded; numeric columns are standardized. The test
    part's metrics are printed at the end. Ctrl-C (or SIGTERM, SIGHUP) stops
    after the current batch and saves a checkpoint to continue from with
    --resume. An output that is the same file as an input or another output
    is refused, and the outputs are checked writable, before training.
    """
    ctx = click.get_current_context()
    _check_data_argument(data)
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
        early_stopping=early_stopping,
        dropout=dropout,
        l2=l2,
        seed=seed,
        standardize=standardize,
        impute=impute,
        test_size=test_size,
        header=header,
        out=out,
        report=report,
    )
    checkpoint = checkpoint or resume or _default_checkpoint(out)
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
        _report_module()  # fail before training, not after, when matplotlib is missing
    emit = (lambda _message: None) if quiet else _note
    try:
        with _stop_signals():
            result = run_training(
                options,
                resume=resume,
                resume_state=resume_state,
                resume_checkpoint=resume_checkpoint,
                checkpoint=checkpoint,
                progress=_progress_wanted(quiet),
                notes=emit,
            )
    except KeyboardInterrupt:
        _tell("interrupted: stopped without a checkpoint")
        raise SystemExit(_Stop.exit_status()) from None
    if result.interrupted:
        checkpoint = cast(str, result.checkpoint)  # an interrupted run always saved one
        command = _resume_command(data, checkpoint, ctx)
        if as_json:
            document = {"interrupted": True, "checkpoint": checkpoint, "epochs_run": len(result.history)}
            with contextlib.suppress(OSError):  # a hung-up terminal: the checkpoint is saved all the same
                _print_json({**document, "resume": command})
        _tell(
            f"interrupted in epoch {len(result.history) + 1} of {options.epochs}; checkpoint saved to "
            f"{_terminal.shown(checkpoint)}\nresume with: {_terminal.shown(command)}"
        )
        raise SystemExit(_Stop.exit_status())
    try:
        with _stop_signals():
            write_outputs(result, options.out, options.report)
    except KeyboardInterrupt:
        written = " and ".join(_terminal.shown(p) for p in (options.out, options.report) if p is not None)
        _tell(f"interrupted while saving {written}: each is whole, the new version or the one before")
        raise SystemExit(_Stop.exit_status()) from None
    if as_json:
        _print_json(_train_json(result))
        return
    _print_train_summary(result)


def _check_data_argument(data: str) -> None:
    if data == "-" or os.path.exists(data) or is_dataset_name(data):
        return
    from .datasets import DATASETS

    raise click.BadParameter(
        f"{data!r} is neither a file nor a built-in dataset ({', '.join(DATASETS)})", param_hint="DATA"
    )


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
        "seconds": result.seconds,
        "data": _data_summary(result),
        "last_epoch": last,
        "test": result.test,
        "notes": result.notes,
    }


def _print_train_summary(result: TrainResult) -> None:
    pre, o = result.pre, result.options
    prepared = result.prepared
    kinds = sum(1 for f in pre.features if f.kind == "categorical")
    target = (
        f"{len(pre.classes)} classes"
        if pre.task == "classification"
        else "numbers" + (" (scaled)" if o.standardize else "")
    )
    _print_line(
        f"data      {o.data}: {prepared.n_rows} rows, {len(pre.features)} features"
        + (f" ({kinds} one-hot)" if kinds else "")
        + f" → {pre.n_inputs} inputs; target {pre.target.name!r}: {target}"
    )
    _print_line(
        f"          {len(prepared.rows_train)} rows to train"
        + (f" ({o.validation:g} of them for validation)" if o.validation else "")
        + f", {len(prepared.rows_test)} to test"
        + (f", {prepared.n_dropped} dropped" if prepared.n_dropped else "")
    )
    hidden = f"{o.activation} hidden, " if o.hidden else ""
    _print_line(
        f"network   {'-'.join(map(str, result.net.sizes))}, {hidden}{result.head.output} output, {result.head.loss}; "
        f"{o.optimizer} lr {result.learning_rate:g}, batch {o.batch_size}"
    )
    last = {k: v[-1] for k, v in result.history.history.items() if v}
    shown = "  ".join(
        f"{k} {last[k]:.4f}" for k in ("loss", "accuracy", "r2", "val_loss", "val_accuracy", "val_r2") if k in last
    )
    early = " (early stop)" if result.stopped_early else ""
    epochs = len(result.history)
    _print_line(f"trained   {epochs} epoch{'s' if epochs != 1 else ''}{early} in {result.seconds:.1f} s: {shown}")
    if result.test is not None:
        _print()
        _print_line(f"test part ({result.test['rows']} rows):")
        _print_metrics(result.test, result.head.loss)
    _print()
    _print_line(f"saved     {o.out}")
    if o.report:
        _print_line(f"report    {o.report}")
    _print_line(f"next      backprop predict {shlex.quote(o.out)} NEW_DATA -o predictions.csv")


# --------------------------------------------------------------------------- predict and evaluate


def _label_text(label: Any) -> str:
    return str(label)


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("data")
@click.option("--output", "-o", "output_path", default=None, help="Write here instead of stdout (atomically).")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None, help="[default: csv, or by the -o suffix]"
)
@click.option("--keep", default=None, callback=_names, help="Input columns to copy to the output (an id, say).")
@click.option("--probabilities/--no-probabilities", default=True, show_default=True, help="Per-class probabilities.")
@option_header
@option_quiet
@click.option("--json", "as_json", is_flag=True, help="Same as --format jsonl.")
@_reports_errors
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
    _check_data_argument(data)
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
        with _stop_signals():
            if output_path is not None:
                _ensure_folder(output_path)
                with atomic_text(output_path) as handle:
                    rows = _write_predictions(loaded, chunks, handle, fmt, keep, probabilities, notes)
                written = True
            else:
                stdout = _results_stdout("the predictions")
                rows = _write_predictions(loaded, chunks, stdout, fmt, keep, probabilities, notes)
                stdout.flush()  # a full disk shows here at the latest, not at exit
    except KeyboardInterrupt:
        where = ""
        if output_path is not None:
            outcome = "was written, whole" if written else "was not written"
            where = f"; {_terminal.shown(output_path)} {outcome}"
        _tell(f"interrupted{where}")
        raise SystemExit(_Stop.exit_status()) from None
    if not quiet:
        for message in _merge_notes(notes):
            _note(message)
        if output_path is not None:
            click.echo(f"wrote {rows} predictions to {output_path}", err=True)


class _TextSink(Protocol):
    """Where predictions are written: a file under :func:`atomic_text`, or :class:`_StandardOutput`."""

    def write(self, text: str, /) -> int: ...


class _StandardOutput:
    """Standard output whose failed writes (a full disk) raise a SaveError saying what could not be written.

    A closed pipe (``| head``) still raises BrokenPipeError, which ends the command quietly.
    """

    def __init__(self, stream: IO[str], what: str) -> None:
        self.stream, self.what = stream, what

    def write(self, text: str, /) -> int:
        try:
            return self.stream.write(text)
        except (BrokenPipeError, SaveError):  # SaveError: an enclosing _StandardOutput said it
            raise
        except OSError as exc:
            raise self._error(exc) from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (BrokenPipeError, SaveError):
            raise
        except OSError as exc:
            raise self._error(exc) from None

    def __getattr__(self, name: str) -> Any:
        # Standing in for sys.stdout: click and rich also ask for isatty, encoding, fileno.
        return getattr(self.stream, name)

    def _error(self, exc: OSError) -> SaveError:
        error = SaveError(f"could not write {self.what} to standard output: {exc.strerror or _one_line(exc)}")
        error.errno = exc.errno
        # Reported by _fail, which then silences standard output; not here: click probes
        # a stream with an empty write and ignores what it raises.
        error.on_stdout = True  # type: ignore[attr-defined]
        return error


def _results_stdout(what: str) -> _StandardOutput:
    """Standard output for a command's results, a failed write naming them ``what``."""
    stdout = sys.stdout
    if isinstance(stdout, _StandardOutput):  # the group's (see _Commands): renamed, not wrapped again
        stdout.what = what
        return stdout
    return _StandardOutput(stdout, what)


def _merge_notes(notes: list[str], limit: int = 5) -> list[str]:
    unique = list(dict.fromkeys(notes))
    if len(unique) > limit:
        return [*unique[:limit], f"... and {len(unique) - limit} more notes like these"]
    return unique


def _write_predictions(
    model: Model,
    chunks: Iterator[Frame],
    handle: _TextSink,
    fmt: str,
    keep: list[str] | None,
    probabilities: bool,
    notes: list[str],
) -> int:
    import csv

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
                    names += [f"p_{_label_text(c)}" for c in classes]
                writer.writerow(names)
        if frame.n_rows == 0:
            continue
        X = pre.transform(frame, notes=notes)
        output = model.net.predict(X)
        kept_values = [frame.column(name).tolist() for name in kept]
        kept_cells = [[_cell(v) for v in values] for values in kept_values]
        predictions: list[Any]
        if head.task == "classification":
            proba = head.probabilities(output)
            predictions = [classes[int(i)] for i in head.classes(output)]
        else:
            predictions = [float(f"{v:.8g}") for v in pre.target_values(output[:, 0]).tolist()]
            proba = None
        if writer is not None:
            columns: list[list[Any]] = [*kept_cells, [_label_text(p) for p in predictions]]
            if probabilities and proba is not None:
                columns += [[f"{p:.6g}" for p in column] for column in proba.T.tolist()]
            writer.writerows(zip(*columns, strict=True))
        else:
            for i in range(frame.n_rows):
                record: dict[str, Any] = {name: cells[i] for name, cells in zip(kept, kept_cells, strict=True)}
                record["prediction"] = predictions[i]
                if probabilities and proba is not None:
                    record["probabilities"] = {
                        _label_text(c): round(float(p), 8) for c, p in zip(classes, proba[i].tolist(), strict=True)
                    }
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        rows += frame.n_rows
    return rows


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else (int(value) if value.is_integer() else value)
    return value


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("data")
@option_header
@option_quiet
@option_json
@_reports_errors
def evaluate(model: str, data: str, header: bool | None, quiet: bool, as_json: bool) -> None:
    """Score MODEL on DATA, which has the target column: loss and accuracy, per-class
    precision/recall/F1 and the confusion matrix; or R², MAE and RMSE.

    DATA is read in chunks, so any number of rows fits in memory. Past 20
    classes the tables are summarized (the lowest recalls, the most frequent
    confusions); --json has them whole, the confusion matrix over the classes
    seen past 1,000 classes, and as its nonzero [row, column, count] cells
    past 1,000 classes seen.
    """
    _check_data_argument(data)
    loaded = load_model(model)
    metrics, notes = evaluate_model(loaded, data, header=header)
    if not quiet:
        for message in _merge_notes(notes):
            _note(message)
    if as_json:
        _print_json({"model": model, "data": data, **metrics})
        return
    _print_line(f"{model} on {data}:")
    _print_metrics(metrics, loaded.head.loss)


def evaluate_model(model: Model, data: str, *, header: bool | None = None) -> tuple[dict[str, Any], list[str]]:
    """Metrics of ``model`` on ``data``, read chunk by chunk, and the notes gathered."""
    pre, head, net = model.pre, model.head, model.net
    notes: list[str] = []
    # Sparse: one row of a 100,000-class model must not ask for a 75 GiB matrix.
    confusion = Confusion(head.n_classes) if head.task == "classification" else None
    sums = RegressionSums()
    loss_sum = 0.0
    n = 0
    dropped = 0
    stdin = sys.stdin.buffer if data == "-" else None
    for frame in pre.chunked(iter_tables(data, header=header, stdin=stdin)):
        if frame.n_rows == 0:
            continue
        if not pre.has_target(frame):
            raise DataError(
                f"{frame.source} has no target column {pre.target.name!r}; evaluate needs it "
                f"(the columns are {', '.join(repr(c) for c in frame.names[:12])})"
            )
        y, missing = pre.targets(frame)
        usable = ~missing
        if pre.impute == "drop":
            usable &= _complete_rows(pre, frame)
        elif missing.any() and pre.impute is None:
            rows = np.flatnonzero(missing)
            raise DataError(
                f"{frame.source}: the target column {pre.target.name!r} has {len(rows)} missing values "
                f"(first at {frame.where(int(rows[0]))}); evaluate needs a target in every row"
            )
        if not usable.all():
            dropped += int((~usable).sum())
            keep = np.flatnonzero(usable)
            frame, y = frame.take(keep), y[keep]
            if frame.n_rows == 0:
                continue
        X = pre.transform(frame, notes=notes)
        output = net.predict(X)
        loss_sum += net.loss(X, head.targets(y), head.loss) * len(y)
        n += len(y)
        if confusion is not None:
            confusion.add(y, head.classes(output))
        else:
            sums.add(pre.target_values(y), pre.target_values(output[:, 0]))
    if n == 0:
        raise DataError(f"{data} has no rows to evaluate")
    if dropped:
        notes.append(f"left out {dropped} rows with missing values")
    loss = loss_sum / n
    if confusion is not None:
        return classification_summary(confusion, loss, pre.classes), notes
    return sums.summary(loss), notes


def _complete_rows(pre: Preprocessor, frame: Frame) -> NDArray[np.bool_]:
    """Rows without a missing feature cell."""
    from .tabular import as_text, parse_numbers

    ok = np.ones(frame.n_rows, dtype=bool)
    for spec in pre.features:
        column = frame.column(spec.name)
        if spec.kind == "numeric":
            ok &= ~parse_numbers(column, frame.decimal_comma).missing
        else:
            ok &= ~as_text(column)[1]
    return ok


# --------------------------------------------------------------------------- explain


@main.command(name="explain")
@click.argument("model", required=False, type=click.Path(exists=True, dir_okay=False))
@click.argument("data", required=False)
@click.option("--row", type=click.IntRange(min=0), default=0, show_default=True, help="The row of DATA (0-based).")
@click.option("--example", type=click.Choice(["seed", "xor"]), default=None, help="A worked example instead.")
@option_sizes
@option_activation
@option_output
@option_loss
@option_bias
@click.option("--samples", default=1, show_default=True, type=click.IntRange(min=1), help="Samples in the batch.")
@click.option(
    "--lr",
    "learning_rate",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="Learning rate η [default: 0.5, or the model's training rate].",
)
@option_seed
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "html", "json"]),
    default="text",
    show_default=True,
    help="How to show the trace.",
)
@option_json
@_reports_errors
def explain_command(
    model: str | None,
    data: str | None,
    row: int,
    example: str | None,
    sizes: list[int],
    activation: str,
    output: str | None,
    loss: str,
    bias: bool,
    samples: int,
    learning_rate: float | None,
    seed: int,
    fmt: str,
    as_json: bool,
) -> None:
    """Show every quantity of one backpropagation step, layer by layer.

    \b
    backprop explain MODEL DATA --row N   one row of DATA through a trained model
    backprop explain --example seed       the seed's 3-2-1 sigmoid network
    backprop explain --example xor        a 2-2-1 network on the four XOR points
    backprop explain --sizes 4,8,3        a random network of these widths
    """
    if as_json:
        fmt = "json"
    if model is not None and example is not None:
        raise click.UsageError("give either MODEL DATA or --example, not both")
    if model is not None:
        if data is None:
            raise click.UsageError("explain MODEL needs DATA too: backprop explain MODEL DATA --row N")
        _explain_model(model, data, row, learning_rate, fmt)
        return
    if example == "seed":
        if fmt == "text":
            print_seed_example()
        else:
            _show_trace(seed_trace(), fmt)
        return
    if example == "xor":
        trace = xor_trace()
        if fmt == "text":
            console.print("[bold]XOR[/bold]: a 2-2-1 sigmoid network (seed 0), the four points as one batch.")
        _show_trace(trace, fmt)
        return
    output = output or DEFAULT_OUTPUT[loss]
    try:
        net, X, y = _random_problem(sizes, activation, output, loss, samples, bias, seed)
        trace = explain(net, X, y, learning_rate=learning_rate or 0.5, loss=loss)
    except BackpropError as exc:  # a combination of options that cannot work
        raise click.UsageError(str(exc)) from exc
    _show_trace(trace, fmt)


def _read_row(data: str, row: int) -> Frame:
    stdin = sys.stdin.buffer if data == "-" else None
    total = 0
    for frame in iter_tables(data, stdin=stdin):
        if row < frame.offset + frame.n_rows:
            part = frame.take(np.array([row - frame.offset]))
            part.offset = row
            return part
        total = frame.offset + frame.n_rows
    raise DataError(f"{data} has {total} rows; --row must be in 0..{total - 1}" if total else f"{data} has no rows")


def _explain_model(path: str, data: str, row: int, learning_rate: float | None, fmt: str) -> None:
    _check_data_argument(data)
    model = load_model(path)
    frame = _read_row(data, row)
    if not model.pre.has_target(frame):
        raise DataError(
            f"{data} has no target column {model.pre.target.name!r}; "
            "explain needs the row's target to compute the error"
        )
    y, missing = model.pre.targets(frame)
    if missing.any():
        raise DataError(f"{data}: {frame.where(0)} has no target value in column {model.pre.target.name!r}")
    X = model.pre.transform(frame)
    if learning_rate is None:
        training = model.metadata.get("training")
        stored = training.get("learning_rate") if isinstance(training, dict) else None
        learning_rate = float(stored) if isinstance(stored, int | float) and stored > 0 else 0.5
    trace = explain(model.net, X, model.head.targets(y), learning_rate=learning_rate, loss=model.head.loss)
    if fmt != "text":
        if fmt == "json":
            _print_json(
                {"model": path, "data": data, "row": row, **_row_context(model, y, X), "trace": trace.to_dict()}
            )
        else:
            _show_trace(trace, fmt)
        return
    context = _row_context(model, y, X)
    _print_line(
        f"{data}, row {row}: target {context['target']!r}, predicted {context['prediction']!r}"
        + (f" (p = {context['probability']:.4f})" if "probability" in context else "")
    )
    console.print(trace)


def _row_context(model: Model, y: NDArray[Any], X: NDArray[Any]) -> dict[str, Any]:
    output = model.net.predict(X)
    if model.head.task == "classification":
        proba = model.head.probabilities(output)[0]
        index = int(proba.argmax())
        return {
            "target": model.pre.classes[int(y[0])],
            "prediction": model.pre.classes[index],
            "probability": float(proba[index]),
        }
    return {
        "target": float(model.pre.target_values(y)[0]),
        "prediction": float(model.pre.target_values(output[:, 0])[0]),
    }


# --------------------------------------------------------------------------- gradcheck


@main.command(name="gradcheck")
@click.option("--sizes", default="4,5,3", show_default=True, callback=_sizes, help="Layer widths from input to output.")
@option_activation
@option_output
@option_loss
@option_bias
@click.option("--samples", default=8, show_default=True, type=click.IntRange(min=1), help="Samples in the batch.")
@click.option("--tolerance", default=1e-6, show_default=True, type=float, help="Largest relative error that passes.")
@option_seed
@option_json
@_usage_errors
def gradcheck_command(
    sizes: list[int],
    activation: str,
    output: str | None,
    loss: str,
    bias: bool,
    samples: int,
    tolerance: float,
    seed: int,
    as_json: bool,
) -> None:
    """Compare backpropagation's gradient with finite differences on a random network.

    Exits with status 1 when the worst relative error exceeds --tolerance.
    """
    output = output or DEFAULT_OUTPUT[loss]
    net, X, y = _random_problem(sizes, activation, output, loss, samples, bias, seed)
    report = gradcheck(net, X, y, loss=loss, tolerance=tolerance)
    if as_json:
        _print_json(
            {
                "network": sizes,
                "activation": activation,
                "output": output,
                "loss": loss,
                "samples": samples,
                "passed": report.passed,
                "tolerance": report.tolerance,
                "max_scaled_error": report.max_scaled_error,
                "max_rel_error": report.max_rel_error,
                "max_abs_error": report.max_abs_error,
                "checks": [
                    {
                        "array": c.label,
                        "shape": list(c.shape),
                        "max_abs_error": c.max_abs_error,
                        "max_rel_error": c.max_rel_error,
                        "max_scaled_error": c.max_scaled_error,
                        "worst_index": list(c.worst_index),
                    }
                    for c in report.checks
                ],
            }
        )
    else:
        console.print(f"network {'-'.join(map(str, sizes))}, hidden {activation}, output {output}, {samples} samples")
        console.print(str(report), markup=False)
    if not report.passed:
        raise SystemExit(1)


# --------------------------------------------------------------------------- export, inspect, datasets


@main.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--onnx", "onnx_path", required=True, help="The ONNX file to write.")
@click.option(
    "--inputs",
    "layout",
    type=click.Choice(["matrix", "columns"]),
    default="matrix",
    show_default=True,
    help="matrix: one input X (numbers, one-hot columns encoded by you); "
    "columns: one input per column (float64 or string), with imputation and one-hot in the graph.",
)
@click.option(
    "--fold/--no-fold",
    default=True,
    show_default=True,
    help="Fold the standardisation into the weights, so the graph takes raw numbers.",
)
@option_json
@_reports_errors
def export(model: str, onnx_path: str, layout: str, fold: bool, as_json: bool) -> None:
    """Write MODEL as an ONNX graph (needs the onnx extra: pip install 'backprop[onnx]').

    With --inputs matrix the graph's input X holds one column per network
    input, in the order `backprop inspect` lists them: numeric columns as
    they are (with --fold; NaN where missing if the model imputes), then 0/1
    for each category of a one-hot column. X is float64 when folding the
    standardisation into float32 weights would change the predictions.
    With --inputs columns the graph has one input per column, as skl2onnx
    gives a ColumnTransformer. Classifiers output label and probabilities;
    regressors variable, in the target's units.
    """
    from .onnx import export_onnx, export_tabular

    distinct_files({"MODEL": model}, {"--onnx": onnx_path})
    loaded, net, _metadata = load_any_model(model)
    _ensure_folder(onnx_path)
    if loaded is None:
        export_onnx(net, onnx_path)
        inputs, types, outputs = [f"x{j}" for j in range(net.n_inputs)], {"X": net.dtype.name}, ["Y"]
        folded, parity_error = False, None
    else:
        info = export_tabular(loaded.net, loaded.pre, onnx_path, layout=cast(Any, layout), fold=fold)
        inputs, types, outputs = info.inputs, info.input_types, info.outputs
        folded, parity_error = info.folded, info.parity_error
    if as_json:
        document = {"onnx": onnx_path, "layout": layout, "inputs": inputs, "input_types": types, "outputs": outputs}
        _print_json({**document, "folded": folded})
        return
    if layout == "columns" and loaded is not None:
        shown = ", ".join(f"{name} ({types[name]})" for name in inputs[:20])
        _print(f"wrote {onnx_path}: one input per column, outputs {', '.join(outputs)}")
        _print(f"inputs: {shown}{', ...' if len(inputs) > 20 else ''}")
        return
    _print(f"wrote {onnx_path}: input X ({types['X']}) with {len(inputs)} columns, outputs {', '.join(outputs)}")
    _print_line(f"columns of X: {', '.join(inputs[:20])}{', ...' if len(inputs) > 20 else ''}")
    if loaded is not None and not fold:
        _print("the inputs are standardized as `backprop inspect` shows (--no-fold)")
    if loaded is not None and parity_error is not None:
        _print(
            f"the standardisation is computed in the graph in float64: folded into {loaded.net.dtype.name} weights "
            f"it changed the outputs by up to {parity_error:.3g} on a sample"
        )


@main.command(name="inspect")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@option_json
@_reports_errors
def inspect_command(model: str, as_json: bool) -> None:
    """Describe a model file or checkpoint without loading its tensors."""
    from .io import inspect as inspect_file

    document = inspect_file(model)
    if as_json:
        _print_json(document)
        return
    network = document["network"]
    layers = network["layers"]
    parts = []
    for layer in layers:
        if layer["type"] == "Dense":
            activation = layer["activation"]
            name = activation if isinstance(activation, str) else activation.get("name", "?")
            parts.append(f"Dense({layer['units']}, {name})")
        else:
            parts.append(f"Dropout({layer['rate']})")
    sizes = [network["inputs"], *(layer["units"] for layer in layers if layer["type"] == "Dense")]
    n_parameters = document["tensors"]["parameters"]["shape"][0]
    kind = "model" if document["format"] == "backprop-model" else "checkpoint"
    _print_line(
        f"{model}: backprop {kind}, format version {document['format_version']}, written by backprop "
        f"{document['library_version']}"
    )
    _print_line(
        f"network   {'-'.join(map(str, sizes))}: {', '.join(parts)}; {n_parameters:,} parameters ({network['dtype']})"
    )
    if kind == "checkpoint":
        state = document.get("state", {})
        optimizer = state.get("optimizer", {})
        _print_line(
            f"training  epoch {int(state.get('epoch', -1)) + 1} of {state.get('epochs')}, seed {state.get('seed')}, "
            f"optimizer {optimizer.get('name')} lr {optimizer.get('lr')}"
        )
        cli_state = state.get("cli")
        if isinstance(cli_state, dict):
            _print_line(f"data      {cli_state.get('data')}")
            _print_line(
                f"resume    backprop train {shlex.quote(str(cli_state.get('data')))} --resume {shlex.quote(model)}"
            )
        return
    extra = document.get("extra", {})
    preprocessing = extra.get("preprocessing")
    if extra.get("loss"):
        _print_line(f"loss      {extra['loss']}")
    if isinstance(preprocessing, dict):
        try:
            pre = Preprocessor.from_dict(preprocessing, where=model)
        except ModelFileError as exc:
            _print_line(f"preprocessing: unreadable ({_one_line(exc)})")
        else:
            target = pre.target
            if target.kind == "classes":
                _print_line(
                    f"target    {target.name!r}: {len(target.classes)} classes: "
                    + ", ".join(map(str, target.classes[:20]))
                )
            else:
                _print_line(f"target    {target.name!r}: numbers (mean {target.mean:.6g}, scale {target.scale:.6g})")
            _print_line(
                f"inputs    {pre.n_inputs} from {len(pre.features)} columns; "
                f"standardize {'on' if pre.standardize else 'off'}, "
                f"impute {pre.impute or 'off'}"
            )
            table = Table(title="features", title_justify="left")
            for column in ("column", "kind", "mean", "scale", "categories", "fill"):
                table.add_column(column)
            for spec in pre.features[:50]:
                if spec.kind == "numeric":
                    table.add_row(
                        _terminal.text(spec.name),
                        "numeric",
                        f"{spec.mean:.6g}",
                        f"{spec.scale:.6g}",
                        "",
                        _terminal.text(spec.fill or ""),
                    )
                else:
                    shown = ", ".join(spec.categories[:8]) + (", ..." if len(spec.categories) > 8 else "")
                    table.add_row(
                        _terminal.text(spec.name),
                        "categorical",
                        "",
                        "",
                        _terminal.text(shown),
                        _terminal.text(spec.fill or ""),
                    )
            console.print(table)
    training = extra.get("training")
    if isinstance(training, dict):
        _print_line(
            f"training  {training.get('data')}: {training.get('train_rows')} rows, {training.get('epochs_run')} epochs"
            + (" (early stop)" if training.get("stopped_early") else "")
            + f", lr {training.get('learning_rate')}"
        )
    test = (extra.get("metrics") or {}).get("test") if isinstance(extra.get("metrics"), dict) else None
    if isinstance(test, dict):
        shown = "  ".join(f"{k} {v:.4f}" for k, v in test.items() if k != "rows" and isinstance(v, int | float))
        _print_line(f"test      {test.get('rows')} rows: {shown}")


def _dataset_rows() -> list[dict[str, Any]]:
    import re

    from .datasets import DATASETS, describe

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


@main.command(name="datasets")
@option_json
def datasets_command(as_json: bool) -> None:
    """List the built-in datasets (usable as DATA: backprop train iris)."""
    rows = _dataset_rows()
    if as_json:
        _print_json(rows)
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


# --------------------------------------------------------------------------- plot

PLOT_KINDS = ("loss", "metric", "grad-norms", "network", "confusion", "boundary")


def _history_source(path: str) -> tuple[Model | None, Network | None, dict[str, list[float]]]:
    """A model file (with its history) or a JSON history file."""
    if path.endswith(".json"):
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError) as exc:
            raise DataError(f"{path} is not a readable JSON history: {_one_line(exc)}") from None
        history = document.get("history", document) if isinstance(document, dict) else None
        if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
            raise DataError(f'{path}: expected a JSON object of lists such as {{"loss": [...], "val_loss": [...]}}')
        return None, None, {str(k): [float(x) for x in v if isinstance(x, int | float)] for k, v in history.items()}
    model, net, metadata = load_any_model(path)
    if model is None:
        history = metadata.get("history") if isinstance(metadata.get("history"), dict) else {}
        return None, net, {str(k): [float(x) for x in v if x is not None] for k, v in (history or {}).items()}
    raw = model.metadata.get("history")
    history = {str(k): [float(x) for x in v if x is not None] for k, v in raw.items()} if isinstance(raw, dict) else {}
    return model, model.net, history


@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False), metavar="MODEL|HISTORY")
@click.option("--kind", type=click.Choice(PLOT_KINDS), required=True, help="Which picture.")
@click.option("--data", default=None, help="Data for --kind confusion and boundary.")
@click.option("--output", "-o", "output_path", default=None, help="The image file [default: MODEL-KIND.png].")
@option_header
@option_json
@_reports_errors
def plot(source: str, kind: str, data: str | None, output_path: str | None, header: bool | None, as_json: bool) -> None:
    """Draw a picture of MODEL (a model file) or HISTORY (a JSON file of per-epoch lists).

    \b
    loss, metric   training and validation curves
    grad-norms     each layer's gradient norm per epoch (vanishing gradients)
    network        the network, edges coloured by sign, width by magnitude
    confusion      the confusion matrix on --data
    boundary       the decision boundary over --data (two numeric features)
    """
    if kind in ("confusion", "boundary") and data is None:
        raise click.UsageError(f"--kind {kind} needs --data DATA")
    if data is not None:
        _check_data_argument(data)
    plotting = _plotting()
    model, net, history = _history_source(source)
    if output_path is None:
        output_path = f"{os.path.splitext(source)[0]}-{kind}.png"
    distinct_files({"MODEL|HISTORY": source, "--data": data}, {"--output": output_path})
    if kind in ("loss", "metric", "grad-norms"):
        if not history:
            raise DataError(f"{source} holds no training history")
        if kind == "loss":
            part = {k: v for k, v in history.items() if k in ("loss", "val_loss")}
            figure = plotting.plot_history(part)
        elif kind == "metric":
            figures = plotting.history_figures(history)
            if len(figures) < 2:
                raise DataError(f"{source} has no accuracy or R² history")
            figure = figures[1]
        else:
            part = {k: v for k, v in history.items() if k.startswith("grad_norm_")}
            if not part:
                raise DataError(f"{source} has no gradient norms in its history")
            figure = plotting.plot_gradient_norms(part)
    elif kind == "network":
        if net is None:
            raise click.UsageError("--kind network needs a model file, not a history")
        figure = plotting.plot_network(net)
    else:
        if model is None:
            raise click.UsageError(f"--kind {kind} needs a model file written by `backprop train`")
        if model.head.task != "classification":
            raise DataError(f"--kind {kind} is for classifiers; {source} predicts numbers")
        data = cast(str, data)  # checked above: these kinds need DATA
        labels = [str(c) for c in model.pre.classes]
        if kind == "confusion":
            metrics, _ = evaluate_model(model, data, header=header)
            confusion = metrics["confusion_matrix"]
            if "matrix" not in confusion:
                raise DataError(
                    f"{data} holds {len(confusion['labels']):,} classes of {source}, too many to draw "
                    f"(at most {DENSE_CLASSES:,}); `backprop evaluate --json` lists the confusions"
                )
            matrix = np.array(confusion["matrix"], dtype=np.int64)
            figure = plotting.plot_confusion_matrix(matrix, [str(c) for c in confusion["labels"]])
        else:
            features = model.pre.features
            if len(features) != 2 or any(f.kind != "numeric" for f in features):
                raise DataError(
                    f"--kind boundary needs a model of two numeric features; {source} has {len(features)} "
                    f"({', '.join(f.name for f in features[:6])})"
                )
            points, classes = _raw_points(model, data, header)
            figure = plotting.plot_decision_boundary(
                model.net, points, classes, transform=model.pre.numeric_transform, labels=labels
            )
    _ensure_folder(output_path)
    plotting.save_figure(figure, output_path)
    if as_json:
        _print_json({"output": output_path, "kind": kind})
    else:
        _print(f"wrote {output_path}")


def _raw_points(model: Model, data: str, header: bool | None) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    from .tabular import parse_numbers

    points: list[NDArray[np.float64]] = []
    classes: list[NDArray[np.int64]] = []
    for frame in iter_tables(data, header=header):
        if frame.n_rows == 0:
            continue
        y, missing = model.pre.targets(frame)
        columns = [parse_numbers(frame.column(f.name), frame.decimal_comma) for f in model.pre.features]
        ok = ~missing
        for parsed in columns:
            ok &= ~parsed.missing
        points.append(np.column_stack([p.values for p in columns])[ok])
        classes.append(y[ok].astype(np.int64))
    if not points or not sum(len(p) for p in points):
        raise DataError(f"{data} has no complete rows to draw")
    return np.concatenate(points), np.concatenate(classes)


# --------------------------------------------------------------------------- demo


@main.command()
@click.option("--out", "out_dir", default="backprop-demo", show_default=True, help="The folder to write.")
@click.option("--quick", is_flag=True, help="A smaller, faster run (for tests).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="[default: 30, --quick 3]")
@option_quiet
@option_json
@_reports_errors
def demo(out_dir: str, quick: bool, epochs: int | None, quiet: bool, as_json: bool) -> None:
    """The tour: the seed's worked example explained, then a network trained on handwritten digits.

    Writes OUT/ with the model, the pictures and report.html. Offline; under a minute.
    """
    trace = None
    if not as_json:
        trace = print_seed_example()
        _print()
        _print("─" * 60)
        _print("Now a real network: 8×8 handwritten digits (1797 images, 10 classes, scikit-learn's bundled copy).")
    else:
        trace = seed_trace()
    os.makedirs(out_dir, exist_ok=True)
    model_path = os.path.join(out_dir, "model.safetensors")
    report_path = os.path.join(out_dir, "report.html")
    options = TrainOptions(
        data="digits",
        target="target",
        hidden=[16] if quick else [64],
        activation="relu",
        optimizer="adam",
        lr=0.003 if quick else 0.001,
        epochs=epochs or (3 if quick else 30),
        batch_size=32,
        validation=0.1,
        seed=0,
        test_size=0.2,
        out=model_path,
        report=report_path,
    )
    try:
        result = run_training(
            options,
            checkpoint=os.path.join(out_dir, "demo.ckpt"),
            progress=_progress_wanted(quiet or as_json),
            notes=lambda _message: None,
        )
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise SystemExit(_Stop.exit_status()) from None
    if result.interrupted:
        click.echo("interrupted", err=True)
        raise SystemExit(_Stop.exit_status())
    from .io import save

    save(result.net, model_path, metadata=model_metadata(result))
    files = [model_path]
    skipped = None
    try:
        files += _demo_pictures(result, out_dir)
        write_report(result, report_path, title="backprop demo: handwritten digits")
        files.append(report_path)
    except MissingDependencyError as exc:
        skipped = _one_line(exc)
    test = result.test or {}
    if as_json:
        _print_json(
            {
                "seed_example": trace.to_dict(),
                "network": result.net.sizes,
                "epochs_run": len(result.history),
                "seconds": result.seconds,
                "test": test,
                "files": files,
                "skipped": skipped,
            }
        )
        return
    _print(
        f"trained {'-'.join(map(str, result.net.sizes))} relu/softmax with adam for {len(result.history)} epochs "
        f"in {result.seconds:.1f} s on {len(result.prepared.rows_train)} images"
    )
    if test:
        _print(f"test accuracy: {test['accuracy']:.4f} on {test['rows']} held-out images")
        confusion = test["confusion_matrix"]
        console.print(_confusion_table(np.array(confusion["matrix"], dtype=np.int64), confusion["labels"]))
    _print()
    _print(f"wrote {out_dir}/: {', '.join(os.path.basename(f) for f in files)}")
    if skipped:
        _print(f"(pictures and report skipped: {skipped})")
    else:
        _print(f"open {report_path} in a browser")
    _print(f"next: backprop explain {shlex.quote(model_path)} digits --row 0")


def _demo_pictures(result: TrainResult, out_dir: str) -> list[str]:
    plotting = _plotting()
    history = result.history.history
    written = []
    pictures: list[tuple[str, Callable[[], Any]]] = [
        ("curves.png", lambda: plotting.plot_history(history)),
        ("grad-norms.png", lambda: plotting.plot_gradient_norms(history)),
        ("network.png", lambda: plotting.plot_network(result.net)),
    ]
    test = result.test
    if test and "confusion_matrix" in test:
        matrix = np.array(test["confusion_matrix"]["matrix"], dtype=np.int64)
        labels = [str(c) for c in test["confusion_matrix"]["labels"]]
        pictures.append(("confusion.png", lambda: plotting.plot_confusion_matrix(matrix, labels)))
    for name, draw in pictures:
        path = os.path.join(out_dir, name)
        plotting.save_figure(draw(), path)
        written.append(path)
    return written


__all__ = ["main"]

# `backprop bench`: its options and code live in backprop.bench (torch and
# scikit-learn are imported only when it runs).
from .bench import command as _bench_command  # noqa: E402

main.add_command(_bench_command, name="bench")
