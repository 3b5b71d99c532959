"""Inputs of :mod:`backprop.distributed` as row-sharded collections, and the two places tasks run.

:func:`collections` turns what ``fit`` accepts (Dask arrays, a Dask
DataFrame, a Parquet dataset, numpy arrays) into a pair of row-aligned
matrices; :func:`shard_bounds` cuts their rows into the shards. An executor
runs the tasks of :mod:`._tasks`: :class:`InProcess` calls them here, one
after the other (``client=None``, the reference); :class:`OnDask` submits them
to a ``distributed.Client``. Both build each shard by a task from the
collection's own graph — never ``scatter`` — so that Dask recomputes a lost
shard from its lineage. What the client owns and sends every step (``θ``, the
optimizer's state) goes straight to each worker (:meth:`OnDask.broadcast`);
a copy lost with its worker is sent again (:class:`ValueLostError`).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import BackpropTypeError, ParameterError, ShapeError, optional_module
from ..losses import Loss
from ..network import Network
from ._tasks import Shard, identity, prepare_shard


def dask_module(name: str) -> ModuleType:
    """The module ``name`` of Dask, or a :class:`MissingDependencyError` saying how to install it."""
    return optional_module(name, "backprop.distributed", "pip install 'backprop[dask]'")


def is_dask(value: Any) -> bool:
    """Whether ``value`` is a Dask collection (without importing Dask for a numpy array)."""
    return hasattr(value, "__dask_graph__") and callable(value.__dask_graph__)


def _is_frame(value: Any) -> bool:
    return is_dask(value) and hasattr(value, "npartitions") and hasattr(value, "columns")


def collections(X: Any, y: Any, client: Any, name: str = "X") -> tuple[Any, Any]:
    """``X``, ``y`` as two matrices with the same rows: Dask arrays (rows in blocks), or numpy arrays.

    A Dask DataFrame (or a Parquet dataset's path, read with
    ``dask.dataframe.read_parquet``) becomes a Dask array; ``y`` may then name
    one of its columns, which leaves the inputs. numpy arrays are accepted
    in-process (``client`` None), and turned into Dask arrays on a cluster.
    A DataFrame's rows are counted by ``client``'s workers (not by Dask's
    default scheduler, which may be this process), in one pass for ``X`` and
    ``y``.
    """
    if isinstance(X, str | os.PathLike):
        X = dask_module("dask.dataframe").read_parquet(os.fspath(X))
    if _is_frame(X) and isinstance(y, str):
        if y not in X.columns:
            raise ParameterError(f"y={y!r} is not a column of {name}; its columns are {list(X.columns)}")
        X, y = X.drop(columns=[y]), X[y]
        (rows,) = _row_counts([X], client)  # the label column has the inputs' partitions
        X, y = X.to_dask_array(lengths=rows), y.to_dask_array(lengths=rows)
    elif isinstance(y, str):
        raise BackpropTypeError(f"y may name a column only when {name} is a Dask DataFrame or a Parquet path")
    tables = (_is_frame(X), is_dask(y) and not hasattr(y, "blocks"))  # y: a Dask Series or DataFrame
    if any(tables):  # their rows counted in one pass
        lengths = iter(_row_counts([value for value, table in zip((X, y), tables, strict=True) if table], client))
        X = X.to_dask_array(lengths=next(lengths)) if tables[0] else X
        y = y.to_dask_array(lengths=next(lengths)) if tables[1] else y
    if not is_dask(X) and not is_dask(y) and client is None:
        return np.asarray(X), np.asarray(y)
    array = dask_module("dask.array")
    X = X if is_dask(X) else array.from_array(np.asarray(X), chunks=(-1,) + (-1,) * (np.ndim(X) - 1))
    y = y if is_dask(y) else array.from_array(np.asarray(y), chunks=-1)
    if X.ndim != 2:
        raise ShapeError(f"{name} must be a matrix (n_samples, n_features), got {X.ndim} dimensions")
    if any(np.isnan(size) for size in X.chunks[0]) or any(np.isnan(size) for size in y.chunks[0]):
        raise ShapeError(
            f"{name} and y need known row counts per block: pass the Dask DataFrame or Series itself "
            "(backprop counts its rows on the cluster), or to_dask_array(lengths=True)"
        )
    if X.shape[0] != y.shape[0]:
        raise ShapeError(f"{name} has {X.shape[0]:,} rows but y has {y.shape[0]:,}")
    return X, y


def _row_counts(frames: Sequence[Any], client: Any) -> list[tuple[int, ...]]:
    """The rows of each partition of each Dask DataFrame or Series, counted in one pass where ``client`` runs tasks.

    ``client`` None: Dask's default scheduler (in-process training). Given to
    ``compute`` rather than made the default, a client made with
    ``set_as_default=False`` does the counting, which reads every partition,
    on its workers, and no other thread's Dask work changes scheduler.
    """
    counts = [frame.map_partitions(len) for frame in frames]
    options = {} if client is None else {"scheduler": client}
    computed = dask_module("dask").compute(*counts, **options)
    return [tuple(int(n) for n in each) for each in computed]


def shard_bounds(X: Any, shards: int | None) -> np.ndarray[Any, Any]:
    """Where each shard's rows start, and the end: ``shards + 1`` row numbers.

    None: one shard per block of rows of a Dask ``X`` (one for numpy). Else
    ``shards`` ranges as even as can be, rows ``⌊n·s/S⌋`` to ``⌊n·(s+1)/S⌋``.
    """
    n = int(X.shape[0])
    if shards is None:
        sizes = list(X.chunks[0]) if is_dask(X) else [n]
        return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    if isinstance(shards, bool) or not isinstance(shards, int | np.integer) or not 1 <= shards <= max(n, 1):
        raise ParameterError(f"shards must be an integer from 1 to the {n:,} rows, got shards={shards!r}")
    return np.array([n * s // int(shards) for s in range(int(shards) + 1)], dtype=np.int64)


class InProcess:
    """Runs every task here, now, in order: the reference the cluster must match to the bit."""

    #: Times a step may send its values again after losing them with a worker (here nothing is lost).
    resends = 0

    def value(self, value: Any, key: str) -> Any:
        return value

    def broadcast(self, value: Any, key: str) -> Any:
        return value

    def refresh(self) -> None:
        """Nothing to find out: this process is the one worker."""

    def hold(self) -> None:
        """Nothing is held elsewhere."""

    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> Any:
        return fn(*args)

    def gather(self, handles: Sequence[Any]) -> list[Any]:
        return list(handles)

    def shards(self, X: Any, y: Any, bounds: np.ndarray[Any, Any], net: Network, loss: Loss, key: str) -> list[Any]:
        """Each shard prepared here (a Dask collection computed one shard at a time, on this thread)."""
        prepared: list[Shard] = []
        for lo, hi in itertools.pairwise(bounds):
            xs, ys = X[int(lo) : int(hi)], y[int(lo) : int(hi)]
            if is_dask(xs):
                xs, ys = dask_module("dask").compute(xs, ys, scheduler="sync")
            prepared.append(prepare_shard(net, loss, xs, ys))
        return prepared

    def release(self, handles: Sequence[Any]) -> None:
        """Nothing is held elsewhere."""


class Sent:
    """A value the client sent to each worker itself: the future of its copy on each worker, by address."""

    def __init__(self, futures: dict[str, Any]) -> None:
        self.futures = futures

    def at(self, worker: str | None) -> Any:
        """The copy on ``worker``, or on the first worker that has one."""
        if worker in self.futures:
            return self.futures[worker]
        return next(iter(self.futures.values()))


class OnDask:
    """Runs every task on a ``distributed.Client``'s workers; answers come back by ``client.gather``.

    With a client made with ``direct_to_workers=True`` the answers come from
    the workers themselves, not through the scheduler, and :meth:`broadcast`
    sends from the client straight to each worker.

    Placement: shard ``i`` is built on the ``i mod W``-th of the ``W``
    workers there at the start (its *home*), and every task that takes a
    shard is asked to run at the shard's home, loosely (``allow_other_workers``).
    A home lost is replaced by the ``i mod W``-th worker left. Left to the
    scheduler's data locality, the tasks of a step would follow θ and a shard
    once copied, and the shards end on one worker: steps computed one shard
    after the other. Placement decides where, never what: the bits are the same.
    """

    def __init__(self, client: Any) -> None:
        distributed = dask_module("distributed")
        if not isinstance(client, distributed.Client):
            raise BackpropTypeError(f"client must be a dask.distributed Client or None, got {client!r}")
        self.client = client
        self.future_type = distributed.Future
        self.given_up: type[BaseException] = distributed.KilledWorker
        self.lost: tuple[type[BaseException], ...] = lost_worker_errors(distributed)
        # As many times as Dask would run one task again, a step sends its lost values again.
        self.resends = int(dask_module("dask").config.get("distributed.scheduler.allowed-failures"))
        self.workers: list[str] = []
        self.homes: dict[Any, str] = {}  # a shard's key → the worker it lives on
        self.index: dict[Any, int] = {}  # a shard's key → its place among the shards, for a new home
        self.fresh: list[Any] = []  # the futures of the step being submitted
        self.held: list[Any] = []  # the futures of the step before

    def value(self, value: Any, key: str) -> Any:
        """``value`` as a task's result, not scattered: a worker that loses it recomputes it from the task."""
        future = self.client.submit(identity, value, key=key, pure=False)
        self.fresh.append(future)
        return future

    def broadcast(self, value: Any, key: str) -> Any:
        """``value`` sent by the client to each shard's home, one copy a worker, all at once.

        ``θ`` crosses the network once per worker this way (a task's value
        would travel to one worker and from there to the others). A copy lost
        with its worker has no lineage: the step's gather then raises
        :class:`ValueLostError`, and the step is computed again from a new copy.
        """
        targets = sorted(set(self.homes.values()))
        # No worker when the shards were built, or a client that may reach only the scheduler (a gateway, a
        # forwarded port): θ as a task's value, which travels through the scheduler and peers, but travels.
        if not targets or not self.client.direct_to_workers:
            return self.value(value, key)
        client = self.client

        async def send() -> list[dict[str, Any]]:
            sends = [
                client.scatter(
                    {f"{key}-{i}": value},
                    workers=[worker],
                    direct=True,
                    hash=False,
                    timeout=SEND_SECONDS,
                    asynchronous=True,
                )
                for i, worker in enumerate(targets)
            ]
            return list(await asyncio.gather(*sends))

        failed: tuple[type[BaseException], ...] = (OSError, TimeoutError, *self.lost)
        try:
            sent = client.sync(send)
        except failed as error:  # a worker gone while the value was on its way
            raise ValueLostError(f"{type(error).__name__}: {error}") from error
        copies = {worker: next(iter(futures.values())) for worker, futures in zip(targets, sent, strict=True)}
        self.fresh.extend(copies.values())
        return Sent(copies)

    def refresh(self) -> None:
        """The workers running now; a shard whose home is gone (or paused, or retiring) gets the ``i mod W``-th.

        With no worker running, waits :data:`SEND_SECONDS` for one (a nanny restarting the only worker).
        """
        for _ in range(2):
            workers = self.client.scheduler_info()["workers"]
            self.workers = sorted(name for name, info in workers.items() if info.get("status", "running") == "running")
            if self.workers:
                break
            try:
                self.client.wait_for_workers(1, timeout=SEND_SECONDS)
            except (TimeoutError, OSError) as error:
                raise ValueLostError(f"no worker is left ({type(error).__name__})") from error
        if not self.workers:
            raise ValueLostError("no worker is running")
        for key, home in self.homes.items():
            if home not in self.workers:
                self.homes[key] = self.workers[self.index[key] % len(self.workers)]

    def submit(self, fn: Callable[..., Any], *args: Any, key: str) -> Any:
        """``fn(*args)`` as a task, at the home of the first shard among ``args`` (if any, and loosely).

        A :class:`Sent` argument becomes its copy on that worker.
        """
        homes = [self.homes[arg.key] for arg in args if isinstance(arg, self.future_type) and arg.key in self.homes]
        home = homes[0] if homes else None
        args = tuple(arg.at(home) if isinstance(arg, Sent) else arg for arg in args)
        if home is not None:
            future = self.client.submit(fn, *args, key=key, pure=False, workers=[home], allow_other_workers=True)
        else:
            future = self.client.submit(fn, *args, key=key, pure=False)
        self.fresh.append(future)
        return future

    def hold(self) -> None:
        """Keep this step's futures, and let the step before's go, now that this step's tasks are on their way.

        The client's messages to the scheduler leave in batches at most every
        10 ms: the previous step's futures released before this step's tasks
        were submitted would hold the tasks back until the batch after.
        """
        self.held, self.fresh = self.fresh, []

    def gather(self, handles: Sequence[Any]) -> list[Any]:
        """The values of ``handles`` (futures, or values already here) in their order."""
        futures = [handle for handle in handles if isinstance(handle, self.future_type)]
        try:
            values = iter(self.client.gather(futures))
        except self.given_up as error:
            raise DaskGaveUpError(f"{type(error).__name__}: {error}") from error
        except self.lost as error:  # a sent value or a connection lost with its worker
            raise ValueLostError(f"{type(error).__name__}: {error}") from error
        return [next(values) if isinstance(handle, self.future_type) else handle for handle in handles]

    def shards(self, X: Any, y: Any, bounds: np.ndarray[Any, Any], net: Network, loss: Loss, key: str) -> list[Any]:
        """Futures of the prepared shards, each a task on the collection's graph (recomputable from lineage)."""
        dask = dask_module("dask")
        sizes = tuple(int(size) for size in np.diff(bounds))
        X = X.rechunk({0: sizes, 1: -1})
        y = y.rechunk({0: sizes, **({1: -1} if y.ndim == 2 else {})})
        prepare = dask.delayed(prepare_shard, pure=True)
        parts = [
            prepare(net, loss, xs, ys, dask_key_name=f"{key}-{index}")
            for index, (xs, ys) in enumerate(zip(X.to_delayed().ravel(), y.to_delayed().ravel(), strict=True))
        ]
        if not self.workers:
            self.workers = sorted(self.client.scheduler_info()["workers"])
        futures: list[Any] = []
        for index, part in enumerate(parts):
            if not self.workers:
                futures.append(self.client.compute(part))
                continue
            home = self.workers[index % len(self.workers)]
            futures.append(self.client.compute(part, workers=[home], allow_other_workers=True))
            self.homes[futures[-1].key] = home
            self.index[futures[-1].key] = index
        return futures

    def release(self, handles: Sequence[Any]) -> None:
        """Let the cluster forget ``handles`` and the steps' futures held."""
        self.held, self.fresh = [], []
        for handle in handles:
            if isinstance(handle, self.future_type):
                handle.release()


#: Seconds a value may take to reach a worker, or a worker to come back, before the step counts as lost.
SEND_SECONDS = 10.0


class ValueLostError(Exception):
    """A value the client sent (``θ``) was lost with its worker, or a connection was: the step is sent again."""


class DaskGaveUpError(Exception):
    """Dask gave up on a task: its workers died more often than ``distributed.scheduler.allowed-failures``."""


def lost_worker_errors(distributed: ModuleType) -> tuple[type[BaseException], ...]:
    """What ``gather`` raises when workers are gone for good (KilledWorker, cancelled futures, closed comms)."""
    import asyncio

    from distributed.comm.core import CommClosedError

    found: list[type[BaseException]] = [distributed.KilledWorker, CommClosedError, asyncio.CancelledError]
    cancelled = getattr(distributed.client, "FutureCancelledError", None)
    if isinstance(cancelled, type) and issubclass(cancelled, BaseException):
        found.append(cancelled)
    return tuple(found)
