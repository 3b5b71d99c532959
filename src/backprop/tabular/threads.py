"""A table's columns worked on by every core: the same results, in the same order, as one at a time.

numpy and pyarrow release the GIL in their loops over millions of cells, so the columns of a
large table (converting, summarising, transforming them) go twice as fast on two cores. Each
column's work is independent of the others, and its arithmetic is the same whichever thread does
it: the bits do not depend on the number of threads. Results come back in the columns' order,
and an error is the first column's in that order, as a loop would raise it.

Imports numpy and ``backprop._memory``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from .._memory import available_bytes
from .._threads import available_cpus

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Below this many cells (rows × columns) the work stays on the calling thread: starting threads costs more.
PARALLEL_CELLS = 1 << 20
#: Memory a thread needs room for (the C library reserves 64 MiB of address space for a thread's heap, and
#: its stack): with less available per thread (an address-space limit, a small container), the work stays
#: on the calling thread. Where a thread's heap cannot be made, glibc was seen to corrupt its own caches.
THREAD_BYTES = 256 * 2**20


def workers() -> int:
    """The threads a table's columns are shared among: the CPUs this process may use (affinity, CPU quota)."""
    return available_cpus()


def each_column(work: Callable[[Item], Result], items: Sequence[Item], cells: int) -> list[Result]:
    """``[work(item) for item in items]``, on :func:`workers` threads when ``cells`` (the rows × columns
    the work reads) make it worth it; the first item's error, in ``items``' order, is raised."""
    threads = min(workers(), len(items))
    if threads < 2 or cells < PARALLEL_CELLS or not _room_for(threads):
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="backprop-columns") as pool:
        futures = [pool.submit(work, item) for item in items]
        return [future.result() for future in futures]


def _room_for(threads: int) -> bool:
    available = available_bytes()
    return available is None or available >= threads * THREAD_BYTES


class Buffers:
    """A float64 buffer per thread, lent to each column's work in turn: a new array per column of
    millions of rows costs its page faults again (on a virtual machine, as much as the arithmetic)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self, size: int) -> NDArray[np.float64]:
        """This thread's buffer, at least ``size`` values (its first ``size`` returned)."""
        buffer: NDArray[np.float64] | None = getattr(self._local, "buffer", None)
        if buffer is None or buffer.size < size:
            buffer = self._local.buffer = np.empty(size, dtype=np.float64)
        return buffer[:size]
