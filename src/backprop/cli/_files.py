"""The files a command reads and writes: kind, same-file and writability checks, atomic text output.

:func:`check_inputs` refuses, before reading them, a MODEL that holds a
table and a DATA that holds a model, and asks whether the two were swapped;
:func:`distinct_files` refuses, before any work, an output that is the same
file as an input or another output; :func:`check_writable` refuses an output
that could not be written at the end of a long run; :func:`atomic_text`
writes a text file through :func:`backprop.files.atomic_output`, so that it
appears whole or not at all.

Imports click, :mod:`backprop._terminal`, :mod:`backprop.files`,
:mod:`backprop.safetensors_format` (what a file holds) and :mod:`backprop.io`.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

import click

from .. import _terminal
from ..errors import DataError, ModelFileError, SaveError
from ..files import atomic_output
from ..safetensors_format import CHECKPOINT_FORMAT, FILE_KINDS, file_kind


@contextlib.contextmanager
def atomic_text(path: str) -> Iterator[AtomicText]:
    """A UTF-8 text file that appears at ``path`` only once complete, through :func:`backprop.files.atomic_output`.

    A failed write raises :class:`SaveError` naming ``path``; the body's own
    errors (reading the input, say) pass through as they are. A device or
    pipe (``/dev/stdout``, ``/dev/null``) is written in place, never replaced;
    a replaced file keeps its mode; a symbolic link's target is written.
    """
    with atomic_output(path) as binary:
        text = AtomicText(binary)
        yield text
        text.flush()


class AtomicText:
    """Text over an :class:`~backprop.files.AtomicFile`: UTF-8, ``\\n`` line ends as written, 64 KiB at a time."""

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


def check_inputs(
    model: str | None,
    data: str | None = None,
    *,
    model_role: str = "MODEL",
    data_role: str = "DATA",
    history: bool = False,
    usage: str | None = None,
) -> None:
    """Refuse a MODEL that holds a table and a DATA that holds a model, by their content, before either is read.

    Without this check a CSV given as MODEL is refused by the safetensors
    reader with a header length of 18 digits, and a model given as DATA is
    read as a CSV table of binary cells. Files that are neither (a folder, a
    glob, ``-``, a dataset name, bytes of no known kind) are left to the readers.

    Parameters
    ----------
    model : str or None
        The MODEL argument (None: the command has none).
    data : str or None
        The DATA argument (None: the command has none, or it was not given).
    model_role, data_role : str
        How the command calls them (``"MODEL|HISTORY"``, ``"--data"``).
    history : bool
        MODEL may be a JSON history (``backprop plot``).
    usage : str or None
        The command's usage line [default: from the click command running].

    Raises
    ------
    ModelFileError
        MODEL holds a table (the message asks whether MODEL and DATA were
        swapped when DATA holds a model).
    DataError
        DATA holds a model file or checkpoint.
    """
    model_kind = _regular_file_kind(model)
    wrong_model = model_kind not in (None, "safetensors") and not (history and model_kind == "json")
    model_in_data = _model_file(data) if _regular_file_kind(data) == "safetensors" else None
    line = f"Usage: {usage or _usage()}" if wrong_model or model_in_data is not None else ""
    if wrong_model:
        expected = "a model file or a JSON history" if history else "a model file"
        what = f"{model_role} {_quoted(model)} looks like {FILE_KINDS[str(model_kind)]}, not {expected}"
        if model_in_data is not None:
            raise ModelFileError(
                f"{what}; {data_role} {_quoted(data)} is {model_in_data}: did you swap {model_role} and {data_role}? "
                f"{line}"
            )
        written = "a .safetensors file written by `backprop train`" + (", or a JSON file of lists" if history else "")
        raise ModelFileError(f"{what} ({written}). {line}")
    if model_in_data is not None:
        resume = ""
        if "checkpoint" in model_in_data:
            resume = f"; to go on training it: backprop train DATA --resume {_quoted(data)}"
        raise DataError(
            f"{data_role} {_quoted(data)} is {model_in_data}, not data (a CSV, Parquet or NumPy table){resume}. {line}"
        )


def _regular_file_kind(path: str | None) -> str | None:
    """:func:`~backprop.safetensors_format.file_kind` of a regular file; None for anything else (``-``, a folder)."""
    if path is None or path == "-" or not os.path.isfile(path):
        return None
    return file_kind(path)


def _model_file(path: str | None) -> str:
    """What a safetensors file given as data is, in a message's words (its header only is read)."""
    from ..io import inspect as inspect_file

    try:
        document = inspect_file(str(path))
    except (ModelFileError, OSError):
        return "a safetensors file (tensors)"
    return "a training checkpoint" if document.get("format") == CHECKPOINT_FORMAT else "a model file"


def _quoted(path: str | None) -> str:
    """A path in a message: quoted, control characters escaped."""
    return "'" + _terminal.shown(str(path)) + "'"


def _usage() -> str:
    """The running command's usage line, as click prints it without ``[OPTIONS]``: ``backprop predict MODEL DATA``."""
    context = click.get_current_context(silent=True)
    if context is None or context.command.name is None:
        return "backprop --help"
    pieces = [piece for piece in context.command.collect_usage_pieces(context) if piece != "[OPTIONS]"]
    return " ".join(["backprop", context.command.name, *pieces])


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


def ensure_folder(path: str) -> None:
    """Create the folder of an output file (not the file)."""
    folder = os.path.dirname(os.path.realpath(path))  # a symbolic link's target's folder: written there
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise SaveError(f"could not create the folder {folder} for {path}: {exc.strerror or exc}") from None
