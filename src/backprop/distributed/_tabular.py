"""``backprop train`` and ``backprop predict`` on a Dask cluster: ``--scheduler``, the rows as tasks, Parquet parts.

- :func:`connect` turns ``--scheduler`` (``tcp://HOST:PORT``, any Dask
  address, or ``local:N``) into a ``distributed.Client``; ``local:N`` starts a
  ``LocalCluster`` of ``N`` worker processes of one thread each, closed with
  the client.
- :class:`ClusterFit` takes :meth:`Network.fit`'s place in
  :func:`backprop.pipeline.run_training`: the preprocessing is fitted on the
  client as without a cluster (in memory, or streamed into the cache), and the
  prepared rows reach the workers as a Dask array built by tasks, never
  scattered, so that a lost worker's rows are recomputed from their lineage:
  rows in memory as one block per shard (``dask.array.from_array``); a Parquet
  source larger than memory as one task per file that reads it and transforms
  its training rows with the fitted preprocessing; another source larger than
  memory as one task per shard that reads its rows of the prepared cache.
  Workers must see the files at the same paths (one machine, or a shared file
  system).
- :func:`predict_parquet` writes a model's predictions as Parquet parts, one
  per input partition (a Parquet file; else a chunk read here), each written
  by a worker into a temporary folder that is renamed to the output when
  every part is there.

The bits of a model trained so depend on the seed, ``shards``, the batch size
and ``sync_every`` (:func:`backprop.distributed.fit`'s contract), not on the
number of workers; they differ from ``backprop train`` without a cluster in the
last bits (each batch's sums are added per shard, then across shards).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..callbacks import Callback, History
from ..errors import BackpropError, ParameterError
from ..files import fsync_folder, rename_new
from ..heads import Model, load_model, predict_inputs
from ..network import Network
from ..rowfiles import RowFile
from ..schedules import Constant, Schedule
from ..tabular import Frame, Preprocessor, iter_tables
from ..tabular.parquet_files import SUFFIXES, is_glob, iter_parquet, parquet_files, parquet_rows
from ._data import dask_module, lost_worker_errors
from ._tasks import identity, one_blas_thread

#: Shards when ``--shards`` is not given (fewer for fewer rows): up to 8 workers share every step.
DEFAULT_SHARDS = 8
#: How long ``connect`` waits for a scheduler that does not answer.
CONNECT_SECONDS = 10.0


class SchedulerError(BackpropError, ConnectionError):
    """The scheduler named by ``--scheduler`` cannot be reached, or the address is not one."""


class WorkersGoneError(BackpropError, RuntimeError):
    """Dask gave up on predict's tasks: workers were lost beyond ``distributed.scheduler.allowed-failures``."""


def _local_workers(address: str, option: str) -> int | None:
    """N of ``local:N``; None for another address; ParameterError for ``local:`` without a count of 1 or more."""
    if not address.startswith("local:"):
        return None
    count = address.removeprefix("local:")
    if not (count.isascii() and count.isdigit()) or int(count) < 1:
        raise ParameterError(f"{option} {address!r}: local:N needs N, the worker processes to start, 1 or more")
    return int(count)


@contextlib.contextmanager
def connect(address: str, *, option: str = "--scheduler") -> Iterator[Any]:
    """A ``distributed.Client`` for ``address``, closed on leaving (with the cluster it started).

    Parameters
    ----------
    address : str
        ``tcp://HOST:PORT`` (or another Dask address: ``tls://``, ``HOST:PORT``), or
        ``local:N``: a ``LocalCluster`` of ``N`` worker processes of one thread each.
    option : str
        What messages call the address.

    Yields
    ------
    distributed.Client
        Made with ``direct_to_workers=True``; not the process's default client.

    Raises
    ------
    ParameterError
        ``local:N`` without a count of 1 or more.
    SchedulerError
        An address that is none, or a scheduler that does not answer within :data:`CONNECT_SECONDS`.
    """
    distributed = dask_module("distributed")
    workers = _local_workers(address, option)
    with contextlib.ExitStack() as stack:
        if workers is not None:
            try:
                cluster = distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                    silence_logs=logging.ERROR,
                )  # fmt: skip
            except (OSError, RuntimeError, ValueError, TimeoutError) as error:
                reason = " ".join(str(error).split()) or type(error).__name__
                raise SchedulerError(f"{option} {address}: the local cluster did not start ({reason})") from None
            stack.enter_context(cluster)
            target: Any = cluster
        elif re.fullmatch(r"[a-z][a-z0-9+.-]*://\S+|[^\s:/]+:\d+", address):
            target = address
        else:
            raise SchedulerError(
                f"{option} {address!r} is not a scheduler address: give tcp://HOST:PORT (the Dask scheduler's) "
                "or local:N (N worker processes started here)"
            )
        try:
            client = distributed.Client(target, timeout=CONNECT_SECONDS, direct_to_workers=True, set_as_default=False)
        except (OSError, ValueError, TimeoutError) as error:
            reason = " ".join(str(error).split()) or type(error).__name__
            raise SchedulerError(f"{option} {address}: no Dask scheduler answers there ({reason})") from None
        stack.enter_context(client)
        yield client


# --------------------------------------------------------------------- training


class ClusterFit:
    """:func:`backprop.distributed.fit` in :meth:`Network.fit`'s place, for :func:`backprop.pipeline.run_training`.

    Parameters
    ----------
    client : distributed.Client or None
        None runs the same tasks in this process (the reference a cluster's run equals to the bit).
    shards : int, optional
        Row ranges of the training rows, part of the result's definition; default
        :data:`DEFAULT_SHARDS`, or the rows when fewer. Not the number of workers.
    sync_every : int, default 1
        1: synchronous steps; k: local SGD, k steps per shard between averagings.
    source, header : str, bool or None
        The data as ``backprop train`` names it: a Parquet source prepared into the cache is read
        again by the workers, file by file.
    """

    def __init__(
        self, client: Any, *, shards: int | None = None, sync_every: int = 1, source: str | None = None,
        header: bool | None = None,
    ) -> None:  # fmt: skip
        self.client, self.shards, self.sync_every = client, shards, sync_every
        self.source, self.header = source, header
        #: What the last call trained with: ``shards`` (resolved) and ``sync_every``.
        self.used: dict[str, int] = {}

    def __call__(
        self,
        net: Network,
        X: Any,
        y: NDArray[Any],
        *,
        prepared: Any,
        pre: Preprocessor,
        loss: str,
        optimizer: Any,
        epochs: int,
        batch_size: int,
        validation: float | None,
        l2: float,
        schedule: Schedule | None,
        callbacks: Sequence[Callback],
        seed: int | None,
        resume_from: Any,
    ) -> History:
        """Train ``net`` on the rows ``X`` (n, n_inputs), targets ``y`` (n,) or (n, n_outputs); the History."""
        from . import fit

        if l2:
            raise ParameterError(f"l2={l2!r}: distributed training has no L2 penalty; leave it at 0")
        if schedule is not None and type(schedule) is not Constant:
            raise ParameterError(
                f"schedule {type(schedule).__name__}: distributed training keeps the learning rate constant"
            )
        n = len(y)
        shards = min(DEFAULT_SHARDS, max(n, 1)) if self.shards is None else self.shards
        if not 1 <= shards <= max(n, 1):
            raise ParameterError(f"shards={shards} is more than the {n:,} training rows; give at most {n:,}")
        bounds = [n * s // shards for s in range(shards + 1)]
        self.used = {"shards": shards, "sync_every": self.sync_every}
        X_rows = self._inputs(X, prepared, pre, bounds)
        y_rows = _blocks(np.asarray(y), bounds)
        return fit(
            net, X_rows, y_rows, client=self.client, loss=loss, optimizer=optimizer, epochs=epochs,
            batch_size=batch_size, shards=shards, sync_every=self.sync_every, validation=validation, seed=seed,
            callbacks=callbacks, resume_from=resume_from,
        )  # fmt: skip

    def _inputs(self, X: Any, prepared: Any, pre: Preprocessor, bounds: list[int]) -> Any:
        """The training rows as a Dask array built by tasks (see the module's docstring)."""
        if not isinstance(X, RowFile):
            return _blocks(np.asarray(X), bounds)
        files = _parquet_parts(self.source)
        if files is not None:
            return _parquet_inputs(files, np.asarray(prepared.rows_train), pre)
        array = dask_module("dask.array")
        delayed = dask_module("dask").delayed
        token = uuid.uuid4().hex[:12]
        parts = [
            array.from_delayed(
                delayed(_cached_rows, pure=True)(
                    os.path.abspath(X.path), lo, hi, dask_key_name=f"backprop-cached-{token}-{index}"
                ),
                shape=(hi - lo, X.shape[1]),
                dtype=X.dtype,
            )
            for index, (lo, hi) in enumerate(itertools.pairwise(bounds))
        ]
        return array.concatenate(parts)


def _blocks(values: NDArray[Any], bounds: list[int]) -> Any:
    """``values`` as a Dask array of one block per shard, each its own key: a worker receives its block only."""
    array = dask_module("dask.array")
    parts = [array.from_array(values[lo:hi], chunks=-1) for lo, hi in itertools.pairwise(bounds)]
    return array.concatenate(parts)


def _cached_rows(path: str, lo: int, hi: int) -> NDArray[Any]:
    """Rows ``lo:hi`` of a prepared cache matrix (a task: the worker reads them from the file)."""
    with RowFile(path) as rows:
        return np.asarray(rows[lo:hi])


def _parquet_parts(source: str | None) -> list[str] | None:
    """The files of a Parquet source that can be read one by one (no ``key=value`` partition folders), or None."""
    if source is None or not (os.path.isdir(source) or is_glob(source) or source.lower().endswith(SUFFIXES)):
        return None
    files, root = parquet_files(source)
    if root is not None and any("=" in part for path in files for part in os.path.relpath(path, root).split(os.sep)):
        return None  # a partition column lives in the folder names: only the whole dataset has it
    return [os.path.abspath(path) for path in files]  # a worker's working folder may be another


def _parquet_inputs(files: list[str], rows: NDArray[np.int64], pre: Preprocessor) -> Any:
    """One task per file: its training rows (sorted ``rows`` of the dataset), transformed by ``pre``."""
    array = dask_module("dask.array")
    delayed = dask_module("dask").delayed
    token = uuid.uuid4().hex[:12]
    held = delayed(pre, name=f"backprop-preprocessor-{token}")
    first, parts = 0, []
    for index, path in enumerate(files):
        count = parquet_rows(path)
        lo, hi = np.searchsorted(rows, [first, first + count])
        if lo < hi:
            local = rows[lo:hi] - first
            task = delayed(_file_inputs, pure=True)(path, local, held, dask_key_name=f"backprop-file-{token}-{index}")
            parts.append(array.from_delayed(task, shape=(len(local), pre.n_inputs), dtype=np.float32))
        first += count
    if not parts:
        return np.zeros((0, pre.n_inputs), np.float32)
    return array.concatenate(parts)


def _file_inputs(path: str, local: NDArray[np.int64], pre: Preprocessor) -> NDArray[np.float32]:
    """The network inputs of rows ``local`` (sorted) of one Parquet file, as the cache's pass writes them."""
    parts = []
    for frame in pre.chunked(iter_parquet(path, pre.chunk_rows())):
        lo, hi = np.searchsorted(local, [frame.offset, frame.offset + frame.n_rows])
        if lo < hi:
            parts.append(pre.transform(frame, rows=local[lo:hi] - frame.offset))
    return np.concatenate(parts) if parts else np.zeros((0, pre.n_inputs), np.float32)


# --------------------------------------------------------------------- prediction


def predict_parquet(
    model: str,
    data: str,
    out: str,
    *,
    client: Any,
    header: bool | None = None,
    probabilities: bool = True,
    notes: list[str] | None = None,
) -> int:
    """Predict every row of ``data`` with the model file ``model`` into the folder ``out``, as Parquet parts.

    Parameters
    ----------
    model : str
        A model file of ``backprop train``.
    data : str
        As ``backprop predict`` reads it. A Parquet file, folder or glob is read by the workers, one part
        per file (a folder of ``key=value`` partitions, and any other source, is read here, one part per chunk).
    out : str
        A folder that does not exist yet: ``part-00000.parquet``, … in the input's order, with the
        columns ``prediction`` (the class label, or the number) and, for classes when ``probabilities``,
        ``p_<class>`` per class, as ``backprop predict`` writes them.
    client : distributed.Client or None
        Where the parts are computed and written; None: here, one after the other.
    notes : list of str, optional
        Receives the notes of the preprocessing (unseen categories, values out of range, …), part by
        part in the input's order, as ``backprop predict`` prints them.

    Returns
    -------
    int
        The rows predicted.

    Raises
    ------
    ParameterError
        When ``out`` exists. Parts are written into a temporary folder beside it, renamed to ``out``
        once every part is written; on failure the temporary folder goes and ``out`` does not appear.
    """
    dask_module("pyarrow")  # what writes the parts: missing, say so before any work
    out = os.fspath(out)
    check_new_folder(out)
    loaded = load_model(model)
    token = uuid.uuid4().hex[:12]
    parent = os.path.dirname(os.path.abspath(out))
    temporary = os.path.join(parent, f".{os.path.basename(out)}.tmp-{token}")
    files = _parquet_parts(data)
    # (function, its input) per part: a Parquet file the worker reads, or a chunk read here.
    parts: Iterator[tuple[Any, Any]] = (
        ((_predict_file, path) for path in files)
        if files is not None
        else ((_predict_chunk, frame) for frame in loaded.pre.chunked(iter_tables(data, header=header)))
    )
    os.makedirs(temporary)
    try:
        answers = _run_parts(client, loaded, parts, temporary, probabilities, token)
        for name in os.listdir(temporary):  # a killed task's half-written file is not a part
            if name.startswith("."):
                os.remove(os.path.join(temporary, name))
        fsync_folder(temporary)
        try:
            rename_new(temporary, out)  # never onto a folder made there since the check
        except FileExistsError as error:
            raise ParameterError(f"{out} appeared while predicting: the parts are not written over it") from error
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    fsync_folder(parent)
    if notes is not None:
        notes.extend(message for _, part_notes in answers for message in part_notes)
    return sum(rows for rows, _ in answers)


#: What a part's task answers: the rows it wrote and the preprocessing's notes on them.
Answer = tuple[int, list[str]]

#: Parts submitted ahead of the oldest one unfinished: chunks read here wait in the cluster's memory, not all of them.
PARTS_AHEAD = 8


def _run_parts(
    client: Any, model: Model, parts: Iterator[tuple[Any, Any]], folder: str, probabilities: bool, token: str
) -> list[Answer]:
    """Each part's task, run here (no client) or submitted at most :data:`PARTS_AHEAD` ahead; its rows and notes.

    The model reaches the workers as the value of one task and each chunk inside its task's
    arguments (never scattered): Dask recomputes what a lost worker held.
    """
    if client is None:
        return [task(model, item, os.path.join(folder, _part(index)), probabilities)
                for index, (task, item) in enumerate(parts)]  # fmt: skip
    held = client.submit(identity, model, key=f"backprop-model-{token}", pure=False)
    pending: collections.deque[Any] = collections.deque()
    counts: list[Answer] = []
    lost = lost_worker_errors(dask_module("distributed"))
    try:
        for index, (task, item) in enumerate(parts):
            path = os.path.join(folder, _part(index))
            key = f"backprop-predict-{token}-{index}"
            pending.append(client.submit(task, held, item, path, probabilities, key=key, pure=False))
            if len(pending) > PARTS_AHEAD:
                counts.append(pending.popleft().result())
        counts += [future.result() for future in pending]
    except lost as error:
        raise WorkersGoneError(
            f"Dask gave up after {len(counts)} parts: workers were lost more often than "
            f"distributed.scheduler.allowed-failures allows ({type(error).__name__}); nothing was written"
        ) from None
    finally:
        for future in [held, *pending]:
            future.release()
    return counts


def check_new_folder(out: str) -> None:
    """ParameterError unless ``out`` is free: :func:`predict_parquet` never replaces what is there."""
    if os.path.lexists(out):
        raise ParameterError(f"{out} exists: the parts go into a new folder; remove it or name another")


def _part(index: int) -> str:
    return f"part-{index:05d}.parquet"


def _predict_file(model: Model, path: str, part: str, probabilities: bool) -> Answer:
    """A task: predict one Parquet file, chunk by chunk, into the part ``part``; the rows written and the notes."""
    return _write_part(model, model.pre.chunked(iter_parquet(path, model.pre.chunk_rows())), part, probabilities)


def _predict_chunk(model: Model, frame: Frame, part: str, probabilities: bool) -> Answer:
    """A task: predict the rows of one chunk into the part ``part``; the rows written and the notes."""
    return _write_part(model, [frame], part, probabilities)


def _write_part(model: Model, frames: Iterator[Frame] | list[Frame], part: str, probabilities: bool) -> Answer:
    """The predictions of ``frames`` as one Parquet file, written beside ``part`` and renamed to it; rows, notes."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    pre, head = model.pre, model.head
    classes = pre.classes if head.task == "classification" else None
    labels: list[NDArray[Any]] = []
    probas: list[NDArray[np.float64]] = []
    notes: list[str] = []
    with one_blas_thread():
        for frame in frames:
            if frame.n_rows:
                predicted, proba = predict_inputs(model.net, pre, head, pre.transform(frame, notes=notes))
                labels.append(predicted)
                if proba is not None:
                    probas.append(proba)
    columns: dict[str, Any] = {}
    if classes is not None:
        indices = np.concatenate(labels) if labels else np.zeros(0, np.int64)
        columns["prediction"] = _labels(classes, indices)
        if probabilities:
            matrix = np.concatenate(probas) if probas else np.zeros((0, len(classes)))
            columns.update({f"p_{c}": matrix[:, j] for j, c in enumerate(classes)})
    else:
        columns["prediction"] = np.concatenate(labels).astype(np.float64) if labels else np.zeros(0)
    # A dot file, which dataset readers skip: a retried task never meets a killed one's half-written file.
    folder, name = os.path.split(part)
    partial = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}")
    with open(partial, "wb") as file:
        pq.write_table(pa.table(columns), file)
        file.flush()
        os.fsync(file.fileno())  # the part's bytes on disk before its name
    os.replace(partial, part)
    return sum(len(values) for values in labels), notes


def _labels(classes: list[Any], indices: NDArray[Any]) -> Any:
    """The class labels of ``indices`` as an Arrow array of the labels' own type (text when they mix types)."""
    import pyarrow as pa

    values = [classes[i] for i in indices.tolist()]
    kinds = {type(c) for c in classes}
    if kinds <= {int, float} and kinds != {int, float}:
        return pa.array(values, type=pa.int64() if kinds == {int} else pa.float64())
    if kinds in ({str}, {bool}):
        return pa.array(values)
    return pa.array([str(v) for v in values], type=pa.string())


__all__ = [
    "CONNECT_SECONDS",
    "DEFAULT_SHARDS",
    "ClusterFit",
    "SchedulerError",
    "check_new_folder",
    "connect",
    "predict_parquet",
]
