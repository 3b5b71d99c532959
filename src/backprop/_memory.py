"""Sizes checked before large allocations: what an array would need against the memory available.

Every allocation whose size comes from a file or an option (one-hot columns
from a CSV's categories, a class count, ``--hidden`` widths, a confusion
matrix, a prediction chunk) asks :func:`check_allocation` first, so a hostile
or careless input is one clear :class:`~backprop.errors.MemoryLimitError`
naming what asked and how much, never a traceback after the machine has
started swapping. Where a streaming form exists, :func:`rows_within` sizes the
chunks instead.

The available memory is the least of: the kernel's ``MemAvailable``, the
cgroup's limit less its usage (a container), and the address-space limit
(``ulimit -v``) less the process's virtual size. ``BACKPROP_MEMORY_LIMIT``
(bytes, or with a ``K``/``M``/``G`` suffix) lowers it further, for tests and
for sharing a machine; it cannot raise it.
"""

from __future__ import annotations

import os

from .errors import MemoryLimitError, ParameterError

#: The memory a streaming pass (prediction, evaluation) keeps per chunk of rows.
CHUNK_BYTES = 64 * 2**20

_SUFFIXES = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _parse_bytes(text: str) -> int:
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    suffix = value[-1:] if value[-1:] in _SUFFIXES else ""
    number = value[: len(value) - len(suffix)]
    try:
        amount = float(number) * _SUFFIXES[suffix]
    except ValueError:
        raise ParameterError(
            f"BACKPROP_MEMORY_LIMIT must be a number of bytes such as 2G or 512M, got {text!r}"
        ) from None
    if not amount > 0 or amount > 2**62:
        raise ParameterError(f"BACKPROP_MEMORY_LIMIT must be a positive size, got {text!r}")
    return int(amount)


def _proc_bytes(path: str, key: str) -> int | None:
    """A ``key:  N kB`` line of a Linux /proc file (``/proc/meminfo``, ``/proc/self/status``), in bytes."""
    try:
        with open(path, encoding="ascii") as lines:
            for line in lines:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _meminfo_available() -> int | None:
    available = _proc_bytes("/proc/meminfo", "MemAvailable")
    if available is not None:
        return available
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _cgroup_available() -> int | None:
    """The cgroup v2 limit less the usage, when this process runs under one with a limit."""
    try:
        with open("/proc/self/cgroup", encoding="ascii") as cgroup:
            path = next((line.strip().split(":", 2)[2] for line in cgroup if line.startswith("0::")), None)
        if path is None:
            return None
        folder = os.path.join("/sys/fs/cgroup", path.lstrip("/"))
        with open(os.path.join(folder, "memory.max"), encoding="ascii") as limit_file:
            limit = limit_file.read().strip()
        if limit == "max":
            return None
        with open(os.path.join(folder, "memory.current"), encoding="ascii") as current_file:
            return max(0, int(limit) - int(current_file.read().strip()))
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _address_space_available() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    except (OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return None
    return max(0, int(soft) - _address_space_used())


def _address_space_used() -> int:
    """The process's virtual size (``VmSize``): what ``ulimit -v`` already counts against it."""
    return _proc_bytes("/proc/self/status", "VmSize") or 0


def available_bytes() -> int | None:
    """The memory this process can still allocate, in bytes; ``None`` when nothing tells.

    Returns
    -------
    int or None
        The least of ``MemAvailable``, the cgroup's free memory, ``ulimit -v``
        and ``BACKPROP_MEMORY_LIMIT``.
    """
    candidates = [_meminfo_available(), _cgroup_available(), _address_space_available()]
    setting = os.environ.get("BACKPROP_MEMORY_LIMIT")
    if setting:
        candidates.append(_parse_bytes(setting))
    known = [value for value in candidates if value is not None]
    return min(known) if known else None


def format_bytes(n: float) -> str:
    """``1536`` → ``'1.5 KiB'``: a size for a message."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def check_allocation(nbytes: int, what: str) -> None:
    """Refuse an allocation of ``nbytes`` that the memory available cannot hold.

    Parameters
    ----------
    nbytes : int
        What the allocation would take, computed with Python integers (so it
        cannot overflow).
    what : str
        What asks, named as the user knows it: ``"--hidden 100000,100000 (the
        weights)"``, ``"column 'city' (80,000 categories, one-hot)"``.

    Raises
    ------
    MemoryLimitError
        (also a ``MemoryError``) naming ``what``, the size it needs and the
        memory available.
    """
    available = available_bytes()
    if available is not None and nbytes > available:
        raise MemoryLimitError(
            f"{what} would need {format_bytes(nbytes)} of memory, more than the {format_bytes(available)} available",
            needed=nbytes,
            available=available,
        )


#: Allocations below this size are not checked by :func:`check_large`: the check reads /proc
#: (~60 µs), more than a small call's whole forward pass.
CHECKED_FROM = 16 * 2**20


def check_large(nbytes: int, what: str) -> None:
    """:func:`check_allocation` for an allocation of at least :data:`CHECKED_FROM` bytes; smaller ones pass."""
    if nbytes >= CHECKED_FROM:
        check_allocation(nbytes, what)


def rows_within(bytes_per_row: int, budget: int = CHUNK_BYTES) -> int:
    """How many rows of ``bytes_per_row`` fit a chunk of ``budget`` bytes (at least one).

    Parameters
    ----------
    bytes_per_row : int
        What one row costs across every buffer the chunk holds at once.
    budget : int, default CHUNK_BYTES

    Returns
    -------
    int
    """
    return max(1, budget // max(1, bytes_per_row))


__all__ = [
    "CHECKED_FROM",
    "CHUNK_BYTES",
    "available_bytes",
    "check_allocation",
    "check_large",
    "format_bytes",
    "rows_within",
]
