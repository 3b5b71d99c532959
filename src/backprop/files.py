"""Atomic file output: a file appears whole at its path, or the previous one stays.

:func:`atomic_output` (and :func:`atomic_write` on top of it) is the one
writer of every file the library and the CLI produce: model files and
checkpoints (:mod:`backprop.io`), reports, plots, ONNX files, CLI outputs.
The bytes go to a locked temporary file beside the target, which is
``fsync``-ed, given the previous file's mode (and owner, where permitted)
and renamed onto the target. Devices and pipes are written in place. A
later write removes temporary files whose writer was killed (no ``flock``
held on them), never a live writer's.

Imports only the standard library and :mod:`backprop.errors`: storage does
not know about networks.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import signal
import stat
import threading
import time
from collections.abc import Iterator
from typing import Any

from .errors import SaveError


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never a mix.

    The bytes go to a temporary file in the same folder, which is flushed,
    ``fsync``-ed and then renamed onto ``path`` with :func:`os.replace` (atomic
    on POSIX and Windows); the folder is then ``fsync``-ed where the platform
    allows, so the rename itself survives a power cut. If anything fails, the
    temporary file is removed and ``path`` is left as it was. See
    :func:`atomic_output` for the rules (modes, symbolic links, devices).

    Parameters
    ----------
    path : str or path-like
        The file to create or replace. Its folder must exist.
    data : bytes
        The complete new content.

    Raises
    ------
    SaveError
        (also an ``OSError``) if the file cannot be written: disk full,
        permission denied, missing folder, ``path`` is a folder, ... The
        message names ``path`` and the reason, and says that the previous
        file is unchanged (or that nothing was written, if there was none).
    """
    with atomic_output(path) as file:
        file.write(data)


class AtomicFile:
    """The binary file :func:`atomic_output` yields: its own write errors are :class:`SaveError` naming the output."""

    def __init__(self, file: Any, path: str, in_place: bool) -> None:
        self._file, self.path, self.in_place = file, path, in_place

    def write(self, data: bytes | bytearray | memoryview) -> int:
        try:
            written: int | None = self._file.write(data)
        except BrokenPipeError:
            raise  # the reader of -o /dev/stdout went away: stop quietly, as for standard output
        except OSError as exc:
            raise _save_error(self.path, exc, self.in_place) from None
        return len(data) if written is None else written

    def flush(self) -> None:
        try:
            self._file.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _save_error(self.path, exc, self.in_place) from None

    def fileno(self) -> int:
        fileno: int = self._file.fileno()
        return fileno


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[AtomicFile]:
    """A binary file that appears at ``path`` whole, once the ``with`` block has written it.

    The block writes to a temporary file in the target's folder, created
    readable by its owner alone; at the end of the block the file is
    flushed, ``fsync``-ed, given its mode and renamed onto ``path`` with
    :func:`os.replace`, so that every reader sees the previous file or the
    new one, whole. If the block raises (Ctrl-C included) or a write fails,
    the temporary file is removed and ``path`` is left as it was.

    * The new file keeps the mode of the file it replaces, and its owner and
      group where the writer may set them; a new file gets ``0o666`` less
      the umask, as :func:`open` would give it.
    * A symbolic link is followed: its target is replaced, the link stays.
    * A device or a pipe (``/dev/null``, ``/dev/stdout``, a FIFO) is written
      in place instead: renaming onto it would put a regular file where the
      device was (``/dev/null`` itself, when run as root).
    * The writer holds an exclusive ``flock`` on its temporary file until
      the rename. A later write of the same target removes temporary files
      that nobody holds (their writer was killed), and never a live
      writer's, whatever process namespace that writer runs in.

    Parameters
    ----------
    path : str or path-like
        The file to create or replace. Its folder must exist.

    Yields
    ------
    AtomicFile
        ``write(bytes)``, ``flush()``; its write errors are :class:`SaveError`.
        Errors of the block's own (reading an input, say) pass through as they are.

    Raises
    ------
    SaveError
        If the file cannot be created, written or renamed; the message names
        ``path`` and says that the previous file is unchanged (or that
        nothing was written).
    """
    target = os.fspath(path)
    if _writes_in_place(target):
        try:
            stream = open(target, "wb", buffering=0)  # noqa: SIM115 - closed below, after the block
        except OSError as exc:
            raise _save_error(target, exc, in_place=True) from exc
        with stream:
            yield AtomicFile(stream, target, in_place=True)
            try:
                stream.flush()
            except BrokenPipeError:
                raise
            except OSError as exc:
                raise _save_error(target, exc, in_place=True) from exc
        return
    # A symbolic link's target is what gets replaced; the link itself stays.
    real = os.path.realpath(target)
    folder = os.path.dirname(real)
    temporary, in_flight, lock_fd = "", "", -1
    try:
        # A stop signal between the file's creation and this frame's knowing its name would leave it behind.
        with _stop_signals_held():
            temporary, lock_fd = _create_temporary(real, target)
            in_flight = temporary
        try:
            file = os.fdopen(os.dup(lock_fd), "wb")
        except OSError as exc:
            raise _save_error(target, exc) from exc
        complete = False
        try:
            yield AtomicFile(file, target, in_place=False)
            try:
                file.flush()  # a short write (disk full mid-way) raises here, not later
                _give_mode(lock_fd, real)  # before the fsync, so that the mode is as durable as the content
                os.fsync(file.fileno())
            except OSError as exc:
                raise _save_error(target, exc) from exc
            complete = True
        finally:
            # Closed before the rename: a network file system reports a failed write here.
            try:
                file.close()
            except OSError as exc:
                if complete:  # otherwise the block's own error is the one to report
                    raise _save_error(target, exc) from exc
        try:
            # The lock (held through lock_fd) lasts through the rename: no cleaner takes the file.
            os.replace(temporary, real)
        except OSError as exc:
            raise _save_error(target, exc) from exc
        temporary = ""
    finally:
        try:
            if temporary:
                with contextlib.suppress(OSError):
                    os.remove(temporary)
        finally:  # a second Ctrl-C during the removal must not keep the lock (and the descriptor)
            if lock_fd >= 0:
                _LIVE.discard(in_flight)
                os.close(lock_fd)
    fsync_folder(folder)
    _remove_orphans(folder, os.path.basename(real))


#: This process's temporary files in flight. On NFS, flock is emulated by fcntl locks, which
#: belong to the process: another thread's lock would not keep this process's cleanup away.
_LIVE: set[str] = set()

#: The signals that stop a command as Ctrl-C does: a terminal's, a service manager's
#: (``kill``, ``docker stop``, ``systemctl stop``) and a closed terminal's.
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP held back inside (in the main thread), handled as before when the block ends.

    Python raises a signal's exception between two bytecodes, wherever the
    main thread is: once in the moment after ``os.open`` made the temporary
    file and before :func:`atomic_output` held its name, a Ctrl-C left the
    file behind (a test that stops ``backprop predict`` once its temporary
    file appears did, on a busy machine). Inside, a signal is only noted;
    after, the handler that was there gets it, in the block that removes
    the file. The Python handlers are swapped, not the process's signal
    mask: the C handler may run in any thread, and Python calls the
    handler in the main thread whatever the mask. In another thread (whose
    code a signal never interrupts) nothing is held.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []

    def note(signum: int, frame: Any) -> None:
        noted.append(signum)

    swapped: dict[int, Any] = {}
    try:
        for name in STOP_SIGNALS:
            signum = getattr(signal, name, None)
            if signum is not None and signal.getsignal(signum) is not None:  # None: set outside Python, kept
                swapped[signum] = signal.signal(signum, note)
        yield
    finally:
        for signum, handler in swapped.items():
            signal.signal(signum, handler)
        for signum in noted:
            handler = swapped[signum]
            if callable(handler):
                handler(signum, None)  # Ctrl-C's KeyboardInterrupt, a command's stop: raised here
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)  # the default action: the process ends, as it would have


def _create_temporary(real: str, target: str) -> tuple[str, int]:
    """A new temporary file beside ``real``, locked by this writer: its name and a descriptor holding the lock."""
    folder = os.path.dirname(real)
    flags = (
        os.O_RDWR
        | os.O_CREAT
        | os.O_EXCL
        | getattr(os, "O_BINARY", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_NOFOLLOW", 0)
    )
    for _ in range(100):
        candidate = os.path.join(folder, f".{os.path.basename(real)}.{secrets.token_hex(8)}.tmp")
        try:
            # Owner-only until complete: a 0600 model's content is never readable by others, even mid-write.
            fd = os.open(candidate, flags, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _save_error(target, exc) from exc
        try:
            _LIVE.add(candidate)
            _lock(fd)
        except BaseException:
            _LIVE.discard(candidate)
            os.close(fd)
            with contextlib.suppress(OSError):
                os.remove(candidate)
            raise
        return candidate, fd
    raise _save_error(target, FileExistsError(errno.EEXIST, f"no free temporary name in {folder}"))  # pragma: no cover


def _lock(fd: int, blocking: bool = True) -> bool:
    """Take an exclusive ``flock`` on ``fd``; ``False`` if another holds it (non-blocking) or locks don't exist."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no cleanup of others' files there
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError:
        return False  # a file system without locks: nobody's file is taken for dead
    return True


def _give_mode(fd: int, real: str) -> None:
    """The mode (and owner, where permitted) of the file at ``real`` to ``fd``; a new file's mode from the umask."""
    try:
        previous = os.stat(real)
    except OSError:
        previous = None
    if previous is None or not stat.S_ISREG(previous.st_mode):
        os.fchmod(fd, 0o666 & ~_umask())
        return
    mode = stat.S_IMODE(previous.st_mode)
    uid, gid = os.geteuid(), os.getegid()
    if hasattr(os, "fchown") and (previous.st_uid, previous.st_gid) != (uid, gid):
        try:  # only root may give a file away
            os.fchown(fd, previous.st_uid, previous.st_gid)
            uid, gid = previous.st_uid, previous.st_gid
        except OSError:
            with contextlib.suppress(OSError):  # a member of the file's group may still give it that group
                os.fchown(fd, -1, previous.st_gid)
                gid = previous.st_gid
    if gid != previous.st_gid:
        # The group's permissions were meant for the file's group, not for this writer's.
        mode &= ~(stat.S_IRWXG | stat.S_ISGID)
    if uid != previous.st_uid:
        mode &= ~stat.S_ISUID
    os.fchmod(fd, mode)  # after chown, which clears the set-id bits


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it (os.umask sets it, racing threads)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _writes_in_place(path: str) -> bool:
    """Whether ``path`` is a device, a pipe or a stream such as ``/dev/stdout``: written in place, never replaced."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False  # not there (yet): an ordinary new file
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return True
    # /dev/stdout redirected to a file resolves to a regular file; the name in /dev must still stay.
    return os.name == "posix" and stat.S_ISREG(mode) and os.path.abspath(path).startswith(("/dev/", "/proc/"))


def _save_error(target: str, exc: OSError, in_place: bool = False) -> SaveError:
    """A :class:`SaveError` naming ``target`` and the reason, and saying what became of ``target``.

    Called only before the rename: whatever is at ``target`` is what was there
    before. A device or pipe written ``in_place`` has no previous content to keep.
    """
    reason = exc.strerror or str(exc)
    if in_place:
        outcome = ""
    elif os.path.isfile(target):
        outcome = "; the previous file is unchanged"
    else:
        outcome = "; nothing was written"
    error = SaveError(f"could not write {target}: {reason}{outcome}")
    error.errno = exc.errno
    return error


#: A temporary file nobody holds is taken for dead only once it has content or is this old (seconds):
#: a writer takes its lock right after creating the file, before writing a byte.
_ORPHAN_AGE = 60.0


def _remove_orphans(folder: str, name: str) -> None:
    """Delete temporary files of ``name`` that no writer holds (their writer was killed mid-write).

    A live writer holds an exclusive ``flock`` on its temporary file until
    the rename, so liveness is the lock, not a process id (which means
    nothing across pid namespaces: containers on a shared volume). Where
    locks don't exist nothing is removed.
    """
    # Only names this version gives its temporary files: an older writer holds no lock.
    pattern = re.compile(re.escape(f".{name}.") + r"[0-9a-f]{16}\.tmp")
    try:
        entries = [entry for entry in os.listdir(folder) if pattern.fullmatch(entry)]
    except OSError:
        return
    for entry in entries:
        candidate = os.path.join(folder, entry)
        if candidate in _LIVE:
            continue  # this process's own, in flight in another thread
        try:
            fd = os.open(candidate, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue  # gone (renamed by its writer), or not ours to open
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or not _lock(fd, blocking=False):
                continue  # held: a live writer's
            if info.st_size == 0 and time.time() - info.st_mtime < _ORPHAN_AGE:
                continue  # perhaps created a moment ago, its writer about to lock it
            with contextlib.suppress(OSError):
                now = os.stat(candidate, follow_symlinks=False)
                if (now.st_dev, now.st_ino) == (info.st_dev, info.st_ino):
                    os.remove(candidate)
        finally:
            os.close(fd)


def has_byte(path: str | os.PathLike[str], byte: bytes, block: int = 1 << 22) -> bool:
    """Whether the file at ``path`` holds ``byte`` anywhere, read a block at a time (memory stays bounded).

    Parameters
    ----------
    path : str or path-like
    byte : bytes
        One byte (a longer pattern could straddle two blocks).
    block : int, default 4 MiB
        Bytes read at a time.
    """
    with open(path, "rb") as file:
        while chunk := file.read(block):
            if byte in chunk:
                return True
    return False


def fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (best effort; not possible on Windows)."""
    directory_flag = getattr(os, "O_DIRECTORY", None)
    if directory_flag is None:
        return
    try:
        fd = os.open(folder, os.O_RDONLY | directory_flag)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: Linux's renameat2 flag: fail with EEXIST rather than replace the target.
_RENAME_NOREPLACE = 1


def rename_new(source: str, target: str) -> None:
    """Rename ``source`` (a file or a folder) to ``target``, which must not exist; ``FileExistsError`` else.

    ``os.rename`` would replace a file or an empty folder made at ``target``
    since it was checked. Linux's ``renameat2(RENAME_NOREPLACE)`` refuses in
    the same system call. Where it is missing (another system, an old libc, a
    file system without it), ``target`` is claimed first by ``mkdir`` (for a
    folder; ``link`` for a file), which fails if anything is there, and the
    rename then replaces only that claim.
    """
    if _renameat2(source, target):
        return
    if os.path.isdir(source):
        os.mkdir(target)  # FileExistsError if anything is there
        try:
            os.rename(source, target)  # onto the empty folder just made: ours
        except OSError as error:
            with contextlib.suppress(OSError):
                os.rmdir(target)
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST):  # something was put into it meanwhile
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target) from error
            raise
        return
    os.link(source, target)  # FileExistsError if anything is there
    os.remove(source)


def _renameat2(source: str, target: str) -> bool:
    """True when Linux's ``renameat2`` with ``RENAME_NOREPLACE`` did the rename; False when it is unavailable."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.renameat2
    except (OSError, AttributeError):
        return False
    call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    call.restype = ctypes.c_int
    paths = os.fsencode(source), os.fsencode(target)
    if any(b"\0" in path for path in paths):
        raise ValueError("embedded null byte")  # as os.rename says it
    at_cwd = -100  # AT_FDCWD: paths relative to the working folder, as os.rename's
    if call(at_cwd, paths[0], at_cwd, paths[1], _RENAME_NOREPLACE) == 0:
        return True
    code = ctypes.get_errno()
    # A file system or kernel without the flag, or a sandbox that refuses the system call it does not know.
    if code in (errno.EINVAL, errno.ENOSYS, errno.EPERM, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), target)


__all__ = ["STOP_SIGNALS", "AtomicFile", "atomic_output", "atomic_write", "fsync_folder", "has_byte", "rename_new"]
