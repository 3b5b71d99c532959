"""``backprop bench --distributed``: issue 16's figures for :mod:`backprop.distributed` on a LocalCluster of 2.

The setting
-----------
The bench starts a ``distributed.LocalCluster`` of :data:`WORKERS` worker
processes of one thread each, and a ``Client(cluster, direct_to_workers=True)``.
The data are MNIST-1D (``backprop.datasets``: 4000 training rows of 40
features, 1000 test rows), as a Dask array of two blocks, trained in
``shards=2`` (one per worker). The network is W1's 784-256-256-10 scaled to
MNIST-1D's inputs: 40-256-256-10, ReLU, softmax and crossentropy, float32,
``Adam(3e-3)``, batch 100, 10 epochs, seed 0 (:class:`DistributedSizes`).

Every variant is trained twice, alike but for where the tasks run: on the
cluster (``client``) and in this process (``client=None``, the same tasks one
after the other on one BLAS thread: the reference, which gives the same bits,
checked: ``same_bits``). A callback notes the time after each synchronization
(``on_batch_end``: each step, or each round of ``sync_every`` local steps);
the time of synchronization ``i`` is from the one before (the first of a run,
which holds the workers' warm-up, is dropped). Then for each synchronization
``i`` of the cluster run and the same ``i`` of the in-process run of the same
round::

    overhead_i = (t_cluster_i − t_in_process_i / P) / k

with ``P`` = 2 workers and ``k`` the local steps of that synchronization
(1 when synchronous). ``t_in_process / P`` is the step's computation shared
perfectly by the P workers; everything beyond is the price of the cluster:
serializing θ and the gradients, the scheduler's round trip, the transfers,
the client's tree sum. The client's own work (the optimizer's update, the
gradient norms) is also in ``t_in_process`` but is not shared by the workers,
so dividing it by P charges half of it to the overhead: the figure is
conservative. Figures (a) and (b) are the median of ``overhead_i`` over every
synchronization of every round, synchronous (goal ≤ 30 ms) and with
``sync_every=8`` (amortized per local step, goal ≤ 3 ms).

Bytes (c): every process (client, scheduler, workers) counts the bytes it
writes on its TCP comms (``distributed.comm.tcp.TCP.write``'s return value,
frames and headers: all traffic, the scheduler's messages and heartbeats too),
installed by :func:`count_writes` there (``client.run``, ``run_on_scheduler``).
A byte on the wire is written once, so the sum over processes is the bytes
moved (each process counted once: a LocalCluster's scheduler runs in the
client's process, whose count then holds both the client's and the
scheduler's writes, reported as ``client``). A separate synchronous run of one epoch reads the sums after its first
step and at its end: bytes per step is the difference over the steps between.
The minimum is ``2 · P · 4|θ|``: θ to each of the P workers and P gradients
back (float32, 4 bytes a parameter), 4 copies of θ for P = 2; the goal is to
be within 10% of it (ratio ≤ 1.10). The same is reported for local SGD (θ and
Adam's two moments out and back, per local step) without a goal.

Accuracy (d): the test accuracy (MNIST-1D's 1000 test rows) after the same
epochs, ``sync_every=8`` minus synchronous, the mean over :attr:`seeds
<DistributedSizes.seeds>` seeds (seed 0 is the timed runs' own; the others
run in this process, whose bits are the cluster's); the goal: within 1 point
(``|difference| ≤ 0.01``).

The step-time model of the README, ``t(B) = t_comp(B)/P + overhead +
bytes/bandwidth``: ``compute`` has the in-process step time at the batch size
``B`` and at ``10·B`` (median over steps), its per-row slope ``c`` and
intercept ``f`` (``t_comp(B) = f + c·B``), and ``payoff_batch``: the smallest
``B`` with ``t_comp(B)/P + overhead < t_comp(B)``, i.e.
``B > (overhead / (1 − 1/P) − f) / c``, from the measured synchronous overhead
(on this machine's loopback, bytes/bandwidth is part of it).

``--spark`` adds the anchor table: Spark MLlib's MLPC (:mod:`~backprop.bench.spark_mlp`,
a process of its own, ``local[2]``, 40-256-256-10 sigmoid, L-BFGS, 100 iterations),
``Network.fit`` in one process, and the two cluster variants, wall time of the
fit and test accuracy (the cluster's time excludes the cluster's start,
reported apart as ``cluster.start_seconds``).

Protocol: the cluster started and warmed (one epoch of each variant, on the
cluster and here), then ``--repeats`` rounds (default 3), each training the 4
runs (synchronous and local, cluster and here) in an order rotated from round
to round, then the bytes runs, then the accuracy seeds, the model's compute
runs and the anchors.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import __version__
from ..callbacks import Callback, TrainingState
from ..layers import Dense
from ..network import Network
from ..optimizers import Adam
from .runners import default_threads, module_version
from .spark_mlp import run_spark
from .workloads import WORKLOADS, Data, MissingError, load_data

DISTRIBUTED_SCHEMA = 1
#: Worker processes of the LocalCluster (one thread each), and shards of every run.
WORKERS = 2
DASK_HINT = "pip install 'backprop[dask]' (dask and distributed)"
#: Issue 16's goals: (key, what, op, goal).
GOALS = (
    ("overhead_sync_ms", "median overhead per synchronous step (ms)", "<=", 30.0),
    ("overhead_local_ms", "median overhead per local step, sync_every=k, amortized (ms)", "<=", 3.0),
    ("bytes_ratio", "bytes per synchronous step ÷ minimum 2·P·4|θ|", "<=", 1.10),
    ("accuracy_points", "|test accuracy sync_every=k − synchronous| (points)", "<=", 1.0),
)
Progress = Callable[[str], None]


@dataclass(frozen=True)
class DistributedSizes:
    """What ``--distributed`` trains (the defaults are issue 16's; :data:`QUICK_DISTRIBUTED` for smoke tests)."""

    hidden: tuple[int, ...] = (256, 256)
    batch_size: int = 100
    epochs: int = 10
    sync_every: int = 8
    lr: float = 3e-3
    seeds: int = 3  # accuracy: the mean over this many seeds
    rows: int | None = None  # the first rows of MNIST-1D's training set only; None: all 4000
    spark_max_iter: int = 100

    def to_json(self) -> dict[str, Any]:
        found = asdict(self)
        found["hidden"] = list(self.hidden)
        return found


QUICK_DISTRIBUTED = DistributedSizes(hidden=(16,), batch_size=50, epochs=2, sync_every=2, seeds=1, rows=400,
                                     spark_max_iter=5)  # fmt: skip


def _summary(values: Sequence[float]) -> dict[str, Any] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": list(values)}


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):  # ValueError: sys.modules[module] is None
        return True


# ------------------------------------------------------------------ bytes on the wire

#: Bytes this process wrote on its TCP comms since :func:`count_writes` (a list: the one value, shared).
_WRITTEN = [0]


def count_writes() -> bool:
    """Count the bytes every TCP comm of this process writes from now on (once per process); True if installed now."""
    tcp = importlib.import_module("distributed.comm.tcp")
    if getattr(tcp.TCP.write, "backprop_counts", False):
        return False
    original = tcp.TCP.write

    async def write(self: Any, msg: Any, serializers: Any = None, on_error: str = "message") -> Any:
        written = await original(self, msg, serializers=serializers, on_error=on_error)
        _WRITTEN[0] += int(written)
        return written

    write.backprop_counts = True  # type: ignore[attr-defined]
    tcp.TCP.write = write
    return True


def bytes_written() -> tuple[int, int]:
    """``(process id, bytes)``: what :func:`count_writes` counted in this process so far."""
    return os.getpid(), _WRITTEN[0]


def _bytes_by_process(client: Any) -> dict[str, int]:
    """Bytes written so far by the client's process, the scheduler's (when not the client's: LocalCluster
    runs its scheduler in the client's process) and the workers' (each process counted once)."""
    here = bytes_written()
    scheduler = client.run_on_scheduler(bytes_written)
    workers = {pid: count for pid, count in client.run(bytes_written).values()}
    return {
        "client": here[1],
        "scheduler": 0 if scheduler[0] == here[0] else int(scheduler[1]),
        "workers": int(sum(count for pid, count in workers.items() if pid not in (here[0], scheduler[0]))),
    }


# ------------------------------------------------------------------ clocks


class StepClock(Callback):
    """The wall time of each synchronization: ``(epoch, last step) → (seconds, local steps)``."""

    def __init__(self) -> None:
        self.times: dict[tuple[int, int], tuple[float, int]] = {}
        self.epoch = 0
        self.previous = -1
        self.last = 0.0

    def on_train_begin(self, state: TrainingState) -> None:
        self.epoch, self.previous, self.last = state.epoch + 1, -1, time.perf_counter()

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        now = time.perf_counter()
        self.times[(self.epoch, batch)] = (now - self.last, batch - self.previous)
        self.previous, self.last = batch, now

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch, self.previous = epoch + 1, -1

    def measured(self) -> dict[tuple[int, int], tuple[float, int]]:
        """Every synchronization but the first (the workers' and the replicas' warm-up)."""
        return dict(list(self.times.items())[1:])


class ByteMeter(Callback):
    """The bytes all processes wrote, after the first synchronization and at the end of training."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.first: dict[str, int] | None = None
        self.last: dict[str, int] = {}
        self.steps = 0
        self.previous = -1
        self.after_first = 0

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        self.steps += batch - self.previous
        self.previous = batch
        if self.first is None:
            self.first, self.after_first = _bytes_by_process(self.client), self.steps

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.previous = -1

    def on_train_end(self, state: TrainingState) -> None:
        self.last = _bytes_by_process(self.client)

    def per_step(self) -> tuple[float, dict[str, float]]:
        """Bytes per (local) step between the two readings, in all and by process."""
        steps = max(self.steps - self.after_first, 1)
        first = self.first or {}
        parts = {name: (self.last[name] - first.get(name, 0)) / steps for name in self.last}
        return sum(parts.values()), parts


# ------------------------------------------------------------------ training runs


@dataclass
class Trained:
    net: Network
    seconds: float
    clock: StepClock
    test_accuracy: float


def network(sizes: DistributedSizes, n_inputs: int, n_classes: int, seed: int) -> Network:
    layers = [Dense(width, "relu") for width in sizes.hidden] + [Dense(n_classes, "softmax")]
    return Network(layers, inputs=n_inputs, seed=seed)


def _accuracy(net: Network, data: Data) -> float:
    return float(np.mean(net.predict(data.X_test).argmax(axis=1) == data.y_test))


def train(
    data: Data,
    X: Any,
    sizes: DistributedSizes,
    client: Any,
    sync_every: int,
    *,
    seed: int = 0,
    epochs: int | None = None,
    batch_size: int | None = None,
    callbacks: Sequence[Callback] = (),
) -> Trained:
    """One ``backprop.distributed.fit`` run (``client=None``: in this process), timed as a whole and per step."""
    from ..distributed import fit

    net = network(sizes, data.X_train.shape[1], int(data.y_train.max()) + 1, seed)
    clock = StepClock()
    began = time.perf_counter()
    fit(net, X, data.y_train if client is None else _dask_array(data.y_train, X.chunks[0]), client=client,
        loss="crossentropy", optimizer=Adam(sizes.lr), epochs=epochs or sizes.epochs,
        batch_size=batch_size or sizes.batch_size, shards=WORKERS, sync_every=sync_every, seed=seed,
        callbacks=[clock, *callbacks])  # fmt: skip
    seconds = time.perf_counter() - began
    return Trained(net, seconds, clock, _accuracy(net, data))


def _dask_array(values: np.ndarray[Any, Any], rows: tuple[int, ...]) -> Any:
    array = importlib.import_module("dask.array")
    return array.from_array(values, chunks=(rows,) + (-1,) * (values.ndim - 1))


def overheads(cluster: StepClock, local: StepClock) -> list[float]:
    """Per synchronization of both runs: ``(t_cluster − t_in_process / P) / k`` in seconds (see the module)."""
    here = local.measured()
    found = []
    for key, (seconds, steps) in cluster.measured().items():
        if key in here:
            found.append((seconds - here[key][0] / WORKERS) / steps)
    return found


def per_step(clock: StepClock) -> list[float]:
    """Seconds per local step of each synchronization (but the first)."""
    return [seconds / steps for seconds, steps in clock.measured().values()]


def tasks(stream: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """From a task stream: the share of synchronizations whose shard tasks ran on distinct workers, their times.

    ``parallel_share``: the fraction of synchronizations whose ``P`` shard tasks
    ran on ``P`` different workers (else some ran one after the other);
    ``task_ms``: each shard task's compute time on its worker (median, per
    synchronization, not per local step).
    """
    workers: dict[str, set[str]] = {}
    compute: list[float] = []
    for record in stream:
        key = str(record.get("key", ""))
        head, found, _ = key.rpartition(f"-{kind}-")
        if not found or "sum" in key:
            continue
        workers.setdefault(head, set()).add(str(record.get("worker")))
        compute += [1e3 * (part["stop"] - part["start"]) for part in record.get("startstops", ())
                    if part.get("action") == "compute"]  # fmt: skip
    parallel = [len(names) == WORKERS for names in workers.values()]
    return {
        "parallel_share": statistics.fmean(parallel) if parallel else None,
        "task_ms": _summary(compute),
    }


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[tuple[Any, float]]:
    """A LocalCluster of ``workers`` processes of one thread, a client with ``direct_to_workers``; start seconds."""
    distributed = importlib.import_module("distributed")
    began = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)  # fmt: skip
    try:
        client = distributed.Client(cluster, direct_to_workers=True)
        try:
            client.wait_for_workers(workers)
            yield client, time.perf_counter() - began
        finally:
            client.close()
    finally:
        cluster.close()


# ------------------------------------------------------------------ the run


def _variant_key(sync_every: int) -> str:
    return "synchronous" if sync_every == 1 else "local"


def _measure(
    data: Data, sizes: DistributedSizes, client: Any, repeats: int, say: Progress, spark: bool
) -> dict[str, Any]:
    X = _dask_array(data.X_train, tuple(np.diff([data.X_train.shape[0] * s // WORKERS for s in range(WORKERS + 1)])))
    runs: list[tuple[str, int]] = [(where, k) for k in (1, sizes.sync_every) for where in ("in-process", "cluster")]
    say("distributed: warming up the workers and this process")
    for where, k in runs:
        train(data, data.X_train if where == "in-process" else X, sizes, None if where == "in-process" else client,
              k, epochs=1)  # fmt: skip
    trained: dict[tuple[str, int], list[Trained]] = {run: [] for run in runs}
    for round_ in range(repeats):
        order = runs[round_ % len(runs) :] + runs[: round_ % len(runs)]
        for where, k in order:
            say(f"distributed: round {round_ + 1}/{repeats}, sync_every={k}, {where}")
            on_cluster = where == "cluster"
            trained[(where, k)].append(
                train(data, X if on_cluster else data.X_train, sizes, client if on_cluster else None, k)
            )
    theta = trained[runs[0]][0].net.parameters.size
    variants: dict[str, Any] = {}
    for k in (1, sizes.sync_every):
        cluster_runs, local_runs = trained[("cluster", k)], trained[("in-process", k)]
        found = [value for c, h in zip(cluster_runs, local_runs, strict=True) for value in overheads(c.clock, h.clock)]
        say(f"distributed: bytes of sync_every={k}")
        meter = ByteMeter(client)
        with importlib.import_module("distributed").get_task_stream(client) as stream:
            train(data, X, sizes, client, k, epochs=1, callbacks=[meter])
        total, parts = meter.per_step()
        placement = tasks(stream.data, "gradient" if k == 1 else "round")
        buffers = 0 if k == 1 else 2  # Adam's two moments travel with θ in a local round
        minimum = 2 * WORKERS * 4 * theta * (1 + buffers) / k
        variants[_variant_key(k)] = {
            "sync_every": k,
            "step_ms": {
                "cluster": _summary([1e3 * s for c in cluster_runs for s in per_step(c.clock)]),
                "in_process": _summary([1e3 * s for h in local_runs for s in per_step(h.clock)]),
            },
            "fit_seconds": {
                "cluster": _summary([c.seconds for c in cluster_runs]),
                "in_process": _summary([h.seconds for h in local_runs]),
            },
            "overhead_ms": _summary([1e3 * value for value in found]),
            "synchronizations_measured": len(found),
            "bytes_per_step": total,
            "bytes_by_process": parts,
            "minimum_bytes_per_step": minimum,
            "bytes_ratio": total / minimum,
            **placement,
            "same_bits": all(
                np.array_equal(c.net.parameters, h.net.parameters)
                for c, h in zip(cluster_runs, local_runs, strict=True)
            ),
            "test_accuracy": {"runs": [c.test_accuracy for c in cluster_runs[:1]], "mean": None},
        }
    for k in (1, sizes.sync_every):
        entry = variants[_variant_key(k)]
        for seed in range(1, sizes.seeds):
            say(f"distributed: accuracy, sync_every={k}, seed {seed} (in this process: the cluster's bits)")
            entry["test_accuracy"]["runs"].append(train(data, data.X_train, sizes, None, k, seed=seed).test_accuracy)
        entry["test_accuracy"]["mean"] = statistics.fmean(entry["test_accuracy"]["runs"])
    say("distributed: the step time against the batch size, in this process")
    compute = _compute(data, sizes, trained[("in-process", 1)], variants["synchronous"]["overhead_ms"])
    anchors = _anchors(data, sizes, trained, repeats, say) if spark else None
    return {"network": {"layers": [data.X_train.shape[1], *sizes.hidden, 10], "parameters": theta,
                        "theta_bytes": 4 * theta},
            "variants": variants, "compute": compute, "anchors": anchors}  # fmt: skip


def _compute(
    data: Data, sizes: DistributedSizes, runs: list[Trained], overhead: dict[str, Any] | None
) -> dict[str, Any]:
    """``t_comp(B) = f + c·B`` from the in-process step times at B and 10·B, and the batch from which P workers pay."""
    small = statistics.median([s for run in runs for s in per_step(run.clock)])
    big_batch = min(10 * sizes.batch_size, data.X_train.shape[0])
    big_run = train(data, data.X_train, sizes, None, 1, epochs=2, batch_size=big_batch)
    big = statistics.median(per_step(big_run.clock)) if big_run.clock.measured() else math.nan
    slope = (big - small) / (big_batch - sizes.batch_size) if big_batch > sizes.batch_size else math.nan
    intercept = small - slope * sizes.batch_size
    payoff = None
    if overhead is not None and slope > 0:
        payoff = max(1, math.ceil((overhead["median"] / 1e3 / (1 - 1 / WORKERS) - intercept) / slope))
    return {
        "batch_sizes": [sizes.batch_size, big_batch],
        "step_ms": [1e3 * small, 1e3 * big],
        "per_row_us": 1e6 * slope,
        "fixed_ms": 1e3 * intercept,
        "payoff_batch": payoff,
    }


def _anchors(
    data: Data, sizes: DistributedSizes, trained: dict[tuple[str, int], list[Trained]], repeats: int, say: Progress
) -> dict[str, Any]:
    """Spark's MLPC against backprop in one process and on the cluster: fit seconds and test accuracy."""
    layers = [data.X_train.shape[1], *sizes.hidden, int(data.y_train.max()) + 1]
    say(f"distributed: Spark MLlib's MLPC, layers {layers}, {sizes.spark_max_iter} L-BFGS iterations")
    found: dict[str, Any] = {"spark-mlpc": run_spark(layers, sizes.spark_max_iter, sizes.rows, WORKERS)}
    say("distributed: Network.fit in one process")
    seconds, accuracy = [], []
    for _ in range(repeats):
        net = network(sizes, data.X_train.shape[1], layers[-1], 0)
        began = time.perf_counter()
        net.fit(data.X_train, data.y_train, loss="crossentropy", optimizer=Adam(sizes.lr), epochs=sizes.epochs,
                batch_size=sizes.batch_size, seed=0)  # fmt: skip
        seconds.append(time.perf_counter() - began)
        accuracy.append(_accuracy(net, data))
    found["backprop"] = _anchor(seconds, accuracy, {"where": "Network.fit, one process"})
    for k in (1, sizes.sync_every):
        runs = trained[("cluster", k)]
        about = {"where": f"LocalCluster of {WORKERS}", "sync_every": k}
        name = "backprop-distributed" if k == 1 else f"backprop-distributed-sync{k}"
        found[name] = _anchor([run.seconds for run in runs], [run.test_accuracy for run in runs], about)
    return found


def _anchor(seconds: list[float], accuracy: list[float], extra: dict[str, Any]) -> dict[str, Any]:
    return {"status": "ok", "reason": None, "seconds": statistics.median(seconds), "start_seconds": None,
            "test_accuracy": statistics.fmean(accuracy), "train_accuracy": None, "extra": extra}  # fmt: skip


def targets(measured: dict[str, Any] | None, reason: str | None) -> list[dict[str, Any]]:
    """Issue 16's figures: value, goal, PASS, FAIL, or n/a and why."""
    values: dict[str, float | None] = dict.fromkeys(key for key, *_ in GOALS)
    if measured is not None:
        sync, local = measured["variants"]["synchronous"], measured["variants"]["local"]
        values["overhead_sync_ms"] = sync["overhead_ms"]["median"] if sync["overhead_ms"] else None
        values["overhead_local_ms"] = local["overhead_ms"]["median"] if local["overhead_ms"] else None
        values["bytes_ratio"] = sync["bytes_ratio"]
        values["accuracy_points"] = 100 * abs(local["test_accuracy"]["mean"] - sync["test_accuracy"]["mean"])
    found = []
    for key, what, op, goal in GOALS:
        value = values[key]
        status = "n/a" if value is None else ("PASS" if value <= goal else "FAIL")
        why = reason if value is None else None
        found.append({"workload": "distributed", "key": key, "what": what, "value": value, "op": op, "goal": goal,
                      "status": status, "reason": why or (None if value is not None else "not measured")})  # fmt: skip
    return found


def _machine() -> dict[str, Any]:
    available = default_threads()
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "dask": module_version("dask"),
        "distributed": module_version("distributed"),
        "pyspark": None if _missing("pyspark") else module_version("pyspark"),
        "cpu_count": os.cpu_count(),
        "available_cpus": available,
    }


def run_distributed(
    sizes: DistributedSizes | None = None,
    repeats: int = 3,
    spark: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the distributed benchmark; the JSON-able results (see the module's docstring).

    Parameters
    ----------
    sizes : DistributedSizes, optional
        Default: issue 16's.
    repeats : int
        Measured rounds.
    spark : bool
        Also measure the anchors (Spark MLlib's MLPC, ``Network.fit``).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    began = time.perf_counter()
    sizes = sizes or DistributedSizes()
    say = progress or (lambda _message: None)
    status, reason, measured, start = "ok", None, None, None
    missing = [name for name in ("dask", "distributed") if _missing(name)]
    try:
        if missing:
            raise MissingError(f"{' and '.join(missing)} not installed; {DASK_HINT}")
        data = load_data(WORKLOADS["W2"], 1.0)
        if sizes.rows is not None:
            data = Data(data.X_train[: sizes.rows], data.y_train[: sizes.rows], data.X_test, data.y_test)
        say(f"distributed: starting a LocalCluster of {WORKERS} processes")
        with local_cluster(WORKERS) as (client, start):
            count_writes()
            client.run(count_writes)
            client.run_on_scheduler(count_writes)
            measured = _measure(data, sizes, client, repeats, say, spark)
    except MissingError as error:
        status, reason = "missing", str(error)
    return {
        "version": __version__,
        "schema": DISTRIBUTED_SCHEMA,
        "mode": "distributed",
        "repeats": repeats,
        "seconds": time.perf_counter() - began,
        "sizes": sizes.to_json(),
        "machine": _machine(),
        "status": status,
        "reason": reason,
        "cluster": {"workers": WORKERS, "threads_per_worker": 1, "direct_to_workers": True, "start_seconds": start},
        **(measured or {"network": None, "variants": None, "compute": None, "anchors": None}),
        "targets": targets(measured, reason),
    }


def distributed_has_errors(results: dict[str, Any]) -> bool:
    """Whether an anchor ended in an error (a FAIL is a figure, not an error)."""
    anchors = results.get("anchors") or {}
    return any(entry["status"] == "error" for entry in anchors.values())
