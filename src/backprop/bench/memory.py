"""Peak memory of one run: the growth of the peak resident set size (VmHWM, or ru_maxrss as a lower bound).

See :mod:`backprop.bench` for the method. Standard library only.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import resource
import sys
from typing import Any


def _load_malloc_trim() -> Any:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _load_malloc_trim()


def _trim() -> None:
    """Give freed heap memory back to the OS, so that a later run's pages count as new."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _status_kb(field_name: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def _maxrss_kb() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


MEMORY_METHODS = ("VmHWM reset via /proc/self/clear_refs", "ru_maxrss growth (lower bound)")


@functools.cache
def memory_method() -> str:
    """How :class:`PeakMemory` measures here (tried once, on first use)."""
    return MEMORY_METHODS[0] if _reset_peak() else MEMORY_METHODS[1]


class PeakMemory:
    """The growth of the peak RSS over the RSS at entry, in MB (see the module docstring)."""

    def __init__(self) -> None:
        self.mb: float | None = None
        self.method = memory_method()
        self._base = 0

    def __enter__(self) -> PeakMemory:
        gc.collect()
        _trim()
        if self.method == MEMORY_METHODS[0] and _reset_peak():
            self._base = _status_kb("VmRSS") or 0
        else:
            self._base = _maxrss_kb()
        return self

    def __exit__(self, *exc: object) -> None:
        peak = _status_kb("VmHWM") if self.method == MEMORY_METHODS[0] else _maxrss_kb()
        if peak is not None:
            self.mb = max(0, peak - self._base) / 1024


def status_mb(field_name: str) -> float | None:
    """A size from ``/proc/self/status`` (``VmSize``, ``VmRSS``, ``VmHWM``, ...) in MB; None where there is none."""
    kb = _status_kb(field_name)
    return None if kb is None else kb / 1024


def max_rss_mb() -> float:
    """The process's all-time peak resident set size (``ru_maxrss``), in MB."""
    return _maxrss_kb() / 1024
