"""What every command shares: the console, error reports, printing and JSON, option parsers.

Errors: :func:`reports_errors` turns a data or model error into one line
``error: ...`` and exit status 1 (:func:`fail`), :func:`usage_errors` into a
usage error (status 2). Standard output is wrapped by
:class:`StandardOutput` so that a failed write names what was lost.

Imports click, rich, :mod:`backprop._terminal`, the library's public names and ``_files`` (the kind of DATA).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import IO, Any, NoReturn

import click
from rich.console import Console

from .. import _terminal
from .._threads import MAX_THREADS, hold
from ..activations import ACTIVATIONS
from ..errors import BackpropError, MissingDependencyError, SaveError
from ..losses import LOSSES
from ..pipeline import plain_json
from ..tabular import is_dataset_name, is_glob
from ._files import check_inputs

# Piped output is not cut to 80 columns: the explain tables need the room.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)

PLOT_HINT = "pip install 'backprop[plot]'"

#: The output activation of ``explain`` and ``gradcheck``'s random networks, by loss.
DEFAULT_OUTPUT = {"mse": "sigmoid", "binary_crossentropy": "sigmoid", "crossentropy": "softmax"}


# --------------------------------------------------------------------------- output and errors


def note(message: str) -> None:
    """A note for the user on standard error (never on standard output, which holds results)."""
    click.echo(f"note: {_terminal.shown_lines(message)}", err=True)


def ignore_note(_message: str) -> None:
    """A note under ``--quiet``: not said."""


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line, its control characters escaped."""
    if isinstance(exc, OSError) and not isinstance(exc, BackpropError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return _terminal.shown(f"{where}{exc.strerror}")  # file names and messages may quote file text
    return _terminal.shown(" ".join(str(exc).split())) or type(exc).__name__


def fail(exc: BaseException) -> NoReturn:
    """One line ``error: ...`` on standard error and exit status 1."""
    if getattr(exc, "on_stdout", False):
        quiet_stdout()  # what is still buffered would fail again when Python exits
    click.echo(f"error: {one_line(exc)}", err=True)
    raise SystemExit(1)


def debugging() -> bool:
    """``--debug`` on the group, or ``BACKPROP_DEBUG`` set: tracebacks instead of one line."""
    context = click.get_current_context(silent=True)
    root = context.find_root() if context is not None else None
    return bool(root is not None and root.params.get("debug")) or bool(os.environ.get("BACKPROP_DEBUG"))


def quiet_stdout() -> None:
    """Point standard output at the null device: what is still buffered would fail again at exit."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        fd = sys.stdout.fileno()  # none under a test runner's stream
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
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
            if debug or debugging():
                raise
            fail(exc)

    return wrapper


def usage_errors(command: Callable[..., Any]) -> Callable[..., Any]:
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


def print_json(value: Any) -> None:
    """``value`` as indented JSON on standard output (numpy values as Python ones, non-finite as null)."""
    click.echo(_terminal.json_text(json.dumps(plain_json(value), indent=2, ensure_ascii=False, allow_nan=False)))


def print_text(text: str = "") -> None:
    """Plain text on standard output (no markup: file names and labels may hold brackets; no control characters)."""
    console.print(_terminal.shown_lines(text), markup=False, highlight=False, soft_wrap=True)


def print_line(text: str) -> None:
    """One line of plain text on standard output: a newline in the file text it quotes is escaped too."""
    print_text(_terminal.shown(text))


def progress_wanted(quiet: bool) -> bool:
    """The progress bar is drawn only on a terminal, and not under ``--quiet``."""
    return not quiet and sys.stderr.isatty()


def merge_notes(notes: list[str], limit: int = 5) -> list[str]:
    """The distinct notes, at most ``limit`` of them and a count of the others."""
    unique = list(dict.fromkeys(notes))
    if len(unique) > limit:
        return [*unique[:limit], f"... and {len(unique) - limit} more notes like these"]
    return unique


class StandardOutput:
    """Standard output whose failed writes (a full disk) raise a SaveError saying what could not be written.

    A closed pipe (``| head``) still raises BrokenPipeError, which ends the command quietly.
    """

    def __init__(self, stream: IO[str], what: str) -> None:
        self.stream, self.what = stream, what

    def write(self, text: str, /) -> int:
        try:
            return self.stream.write(text)
        except (BrokenPipeError, SaveError):  # SaveError: an enclosing StandardOutput said it
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
        error = SaveError(f"could not write {self.what} to standard output: {exc.strerror or one_line(exc)}")
        error.errno = exc.errno
        # Reported by fail, which then silences standard output; not here: click probes
        # a stream with an empty write and ignores what it raises.
        error.on_stdout = True  # type: ignore[attr-defined]
        return error


def results_stdout(what: str) -> StandardOutput:
    """Standard output for a command's results, a failed write naming them ``what``."""
    stdout = sys.stdout
    if isinstance(stdout, StandardOutput):  # the group's (see backprop.cli): renamed, not wrapped again
        stdout.what = what
        return stdout
    return StandardOutput(stdout, what)


# --------------------------------------------------------------------------- options


def parse_sizes(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    """``--sizes 3,4,2``: layer widths from input to output."""
    try:
        sizes = [int(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated layer widths such as 3,4,1, got {value!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise click.BadParameter(f"need an input width and at least one layer, all >= 1, got {value!r}")
    return sizes


def parse_hidden(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int] | str:
    """``--hidden 64,32``, none, or auto (``backprop.heads.auto_hidden``)."""
    if value.strip().lower() == "auto":
        return "auto"
    if value.strip().lower() in ("", "none", "0"):
        return []
    try:
        widths = [int(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated widths such as 64,32 (or none, or auto), got {value!r}"
        ) from None
    if min(widths) < 1:
        raise click.BadParameter(f"hidden layer widths must be >= 1, got {value!r}")
    return widths


def parse_names(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str] | None:
    """``--features a,b``: column names or 0-based indices."""
    if value is None:
        return None
    names = [part.strip() for part in value.split(",") if part.strip()]
    if not names:
        raise click.BadParameter(f"expected comma-separated column names or 0-based indices, got {value!r}")
    return names


def check_data_argument(
    data: str,
    model: str | None = None,
    *,
    model_role: str = "MODEL",
    data_role: str = "DATA",
    history: bool = False,
    usage: str | None = None,
) -> None:
    """DATA must be a file, a folder or glob of Parquet files, ``-`` or a built-in dataset name (a usage error
    otherwise); a DATA that holds a model, or a MODEL that holds a table, is refused by
    :func:`backprop.cli._files.check_inputs` (a ModelFileError or DataError saying which, and whether they
    were swapped)."""
    if data == "-" or os.path.exists(data) or is_dataset_name(data) or is_glob(data):
        check_inputs(model, data, model_role=model_role, data_role=data_role, history=history, usage=usage)
        return
    from ..datasets import DATASETS

    raise click.BadParameter(
        f"{data!r} is neither a file, a folder nor a built-in dataset ({', '.join(DATASETS)})", param_hint=data_role
    )


option_seed = click.option("--seed", default=0, show_default=True, help="Seed of the random network and data.")
option_sizes = click.option(
    "--sizes", default="3,4,2", show_default=True, callback=parse_sizes, help="Layer widths from input to output."
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


def option_threads(default: str) -> Callable[[Any], Any]:
    """``--threads N``: the threads of the command's matrix products, held until the command ends.

    The BLAS's count is the process's (:func:`backprop._threads.hold`); a ``fit`` inside takes N as its
    count, on the pool of :mod:`backprop._pool` (the BLAS on one thread meanwhile, the bits of one thread)
    or the BLAS's threads (the count is then part of its bits). ``default`` says what happens without it.
    """

    def hold_for_the_command(ctx: click.Context, _param: click.Parameter, value: int | None) -> None:
        if value is not None:
            ctx.with_resource(hold(value, command=True))  # released when the command's context closes

    return click.option(
        "--threads",
        type=click.IntRange(min=1, max=MAX_THREADS),
        default=None,
        expose_value=False,
        callback=hold_for_the_command,
        help=(
            "Threads for the matrix products (training's keep the bits of one thread; elsewhere the BLAS's:"
            f" 1 on a machine busy with other programs) [default: {default}]."
        ),
    )


option_quiet = click.option("--quiet", "-q", is_flag=True, help="No progress bar and no notes on stderr.")
option_header = click.option(
    "--header/--no-header",
    default=None,
    help="Whether a CSV's first row names the columns [default: detected].",
)


# --------------------------------------------------------------------------- pictures and report


def plotting_module() -> Any:
    """``backprop.plotting``, or MissingDependencyError when matplotlib is not installed."""
    return needs_matplotlib("plotting", "pictures need")


def report_module() -> Any:
    """``backprop.report``, or MissingDependencyError when matplotlib is not installed."""
    return needs_matplotlib("report", "the HTML report needs")


def needs_matplotlib(module: str, what: str) -> Any:
    """Import ``backprop.<module>``; a missing matplotlib becomes one clear error naming the extra."""
    try:
        return importlib.import_module(f"backprop.{module}")
    except ImportError as exc:
        if (exc.name or "").split(".")[0] == "matplotlib":
            raise MissingDependencyError(f"{what} matplotlib: {PLOT_HINT}", name="matplotlib") from exc
        raise
