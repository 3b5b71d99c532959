"""The files a command reads and writes: same-file checks, writability checks, atomic text output.

:func:`distinct_files` refuses, before any work, an output that is the same
file as an input or another output; :func:`check_writable` refuses an output
that could not be written at the end of a long run; :func:`atomic_text`
writes a text file through :func:`backprop.files.atomic_output`, so that it
appears whole or not at all.

Imports click, :mod:`backprop._terminal` and :mod:`backprop.files`.
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
from ..errors import SaveError
from ..files import atomic_output


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
