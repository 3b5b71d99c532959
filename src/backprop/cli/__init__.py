"""The ``backprop`` command-line tool: the click group :func:`main` and its commands, one module each.

Commands: ``demo``, ``train``, ``predict``, ``evaluate``, ``explain``,
``export``, ``inspect``, ``datasets``, ``plot``, ``gradcheck``, ``cache``, ``playground`` (modules of
this package) and ``bench`` (:mod:`backprop.bench`). Each command parses its
options, calls the library (:class:`backprop.TabularModel`,
:mod:`backprop.pipeline`, :mod:`backprop.heads`) and prints; what they share
is in ``_common`` (errors, printing, options), ``_files`` (same-file and
writability checks, atomic text), ``_signals`` (stop signals, the training
monitor), ``_tables`` (metrics tables) and ``_report`` (the files of a run).

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
* output files are written atomically by :func:`backprop.files.atomic_output`
  (a temporary file in the same folder, then ``os.replace``): an error or a
  kill never leaves a partial file, a failed save says that the previous
  file is unchanged, a replaced file keeps its mode, a symbolic link's
  target is written; a device or pipe (``-o /dev/stdout``) is written in
  place, never replaced;
* before any work, an output that is the same file (path, symbolic link or
  hard link) as an input or another output is refused with exit status 2
  (:func:`backprop.cli._files.distinct_files`).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, ClassVar

import click

from .. import __version__
from ..errors import SaveError
from . import cache, datasets, demo, evaluate, explain, export, gradcheck, inspect, playground, plot, predict, train
from ._common import StandardOutput, debugging, fail, quiet_stdout


class _Commands(click.Group):
    """The ``backprop`` group: every command's standard output says what a failed write lost.

    A full disk (``> /dev/full``) is one ``error:`` line naming the command's output, not
    a traceback or a bare OS message; a closed pipe (``| head``) ends the command quietly.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # From the first argument parsed: --help and --version write too.
        stdout = sys.stdout
        sys.stdout = StandardOutput(stdout, "the output of backprop")
        try:
            return super().main(*args, **kwargs)
        except SaveError as exc:  # writing the help failed (click lets it through)
            fail(exc)
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
            quiet_stdout()
            raise SystemExit(1) from None
        except SaveError as exc:  # a command without its own error report (datasets, plot, ...)
            if debugging():
                raise
            fail(exc)

    #: Commands imported when first asked for: ``backprop bench``'s runners and tables take ~65 ms to
    #: import, a tenth of a small ``backprop train`` (2026-12-06), which every other command would pay.
    LAZY: ClassVar[dict[str, tuple[str, str]]] = {"bench": ("backprop.bench.console", "command")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            module, name = self.LAZY[cmd_name]
            self.add_command(getattr(importlib.import_module(module), name), name=cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(sys.stdout, StandardOutput) and command is not None:
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


for _command in (
    demo.demo,
    train.train,
    predict.predict,
    evaluate.evaluate,
    explain.explain_command,
    gradcheck.gradcheck_command,
    export.export,
    inspect.inspect_command,
    datasets.datasets_command,
    plot.plot,
    cache.cache_command,
    playground.playground,
):
    main.add_command(_command)
# `backprop bench`: its options and code live in backprop.bench, imported when it is asked for
# (_Commands.LAZY; torch and scikit-learn only when it runs).

__all__ = ["main"]
