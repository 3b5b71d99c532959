"""Large buffers placed so that passes over several of them do not collide.

A step reads and writes several arrays of the size of ``θ`` in one pass (Adam:
``θ``, ``g``, ``m``, ``v`` and the backup of ``θ``), and the layer kernels read
``z`` while they write ``a``. The allocator hands every large array out at the
same offset within a 4 KiB page, so the i-th element of each one has the same
low twelve address bits, and the CPU takes each load for one that may depend on
the store just issued to another stream (4K aliasing): measured here, an Adam
pass over 269,322 parameters took 360 µs with its five arrays at one page
offset and 78 µs with the offsets spread. ``empty(..., slot=k)`` starts the
array at its own offset, one for each array a pass reads or writes together.

Placement changes no arithmetic: every kernel and ufunc computes element by
element, and BLAS copies its operands into its own panels.

:func:`small_pages` is the other placement choice: the page size of new large
arrays written once or first touched all at once (a table's read and
preparation; these buffers, which a fit's first step touches).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

_PAGE = 4096
_STRIDE = 448  # seven cache lines, coprime to the page's 64: slots 0..63 start on distinct lines
_SMALL = 16384  # below this the allocator's offsets vary anyway, and the few lines fit in L1
_HUGE = 1 << 22  # from this size numpy asks for huge pages

# The slots of the arrays as long as θ, which the optimizer's pass reads and writes together
# (Adam: θ, g, m, v and fit's backup of θ); its state buffers take STATE, STATE + 1, ...
PARAMETERS, GRADIENT, STATE, BACKUP, SCRATCH, OPTIMIZER_SCRATCH = 0, 1, 2, 5, 6, 7


def empty(shape: int | tuple[int, ...], dtype: Any, slot: int) -> np.ndarray[Any, Any]:
    """An uninitialized C-contiguous array starting ``slot · 448`` bytes into a page (mod 4 KiB)."""
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < _SMALL:
        return np.empty(shape, dtype)
    if nbytes < _HUGE:
        raw = np.empty(nbytes + _PAGE, np.uint8)
    else:
        with small_pages():  # a fit's first step touches every page: see small_pages
            raw = np.empty(nbytes + _PAGE, np.uint8)
    start = (slot * _STRIDE - raw.ctypes.data) % _PAGE
    placed: np.ndarray[Any, Any] = raw[start : start + nbytes].view(dtype).reshape(shape)
    return placed


def full(shape: int | tuple[int, ...], value: float, dtype: Any, slot: int) -> np.ndarray[Any, Any]:
    """:func:`empty` filled with ``value``."""
    array = empty(shape, dtype, slot)
    array.fill(value)
    return array


@contextlib.contextmanager
def small_pages() -> Iterator[None]:
    """Within the block, numpy gives new large arrays ordinary 4 KiB pages, not huge pages.

    numpy asks Linux for 2 MiB pages for every array of 4 MiB or more (``madvise``). A table's
    read and preparation write hundreds of MB of new arrays once each, right after Arrow has freed
    as much: 4 KiB pages reuse those freed pages, where a huge page needs 2 MiB of fresh memory,
    which a virtual machine's host may first have to provide. Measured on this project's 2-core
    VM, 2.8M rows × 10 columns read and prepared: 1.15 s every run with small pages, 1.17-1.40 s
    (median 1.36) with huge pages. The bits are the same; the previous setting is restored.

    :func:`empty` takes them for its arrays of 4 MiB or more: a fit's first step touches its
    gradient, optimizer state, backup and layer buffers at once. W4's (6.3M parameters, batches of
    512 rows through 2,048 units) took 0.255 s with huge pages, 0.18 s with small ones, against
    0.10 s for each step after it, which runs as fast on either.
    """
    toggle = getattr(getattr(getattr(np, "_core", None), "multiarray", None), "_set_madvise_hugepage", None)
    if toggle is None:  # another numpy: its default stays
        yield
        return
    with _PAGES.lock:  # blocks in several threads at once: the first turns huge pages off, the last back on
        if _PAGES.users == 0:
            _PAGES.huge_before = bool(toggle(False))
        _PAGES.users += 1
    try:
        yield
    finally:
        with _PAGES.lock:
            _PAGES.users -= 1
            if _PAGES.users == 0:
                toggle(_PAGES.huge_before)


class _Pages:
    """How many :func:`small_pages` blocks are open, and numpy's setting before the first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.huge_before = True


_PAGES = _Pages()
