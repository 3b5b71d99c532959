"""backprop.distributed: data-parallel fit on Dask, the same bits on any number of workers.

The reference is ``client=None`` (the same tasks, run in this process); every
cluster run must give its bits, whatever the workers, their number or their
deaths. Clusters are small: two worker processes, or one worker of threads.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import backprop as bp
from backprop import distributed as bd
from backprop.callbacks import Callback
from backprop.distributed._tasks import tree_sum
from backprop.losses import Crossentropy


def data(n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8)
    return X, y


def network() -> bp.Network:
    return bp.Network([bp.Dense(8, "relu"), bp.Dense(3, "softmax")], inputs=5, seed=1)


def train(X: Any, y: Any, **options: Any) -> tuple[bp.Network, Any]:
    settings: dict[str, Any] = {"loss": "crossentropy", "epochs": 3, "batch_size": 32, "seed": 7}
    settings.update(options)
    settings.setdefault("optimizer", bp.Adam(0.01))
    net = network()
    return net, bd.fit(net, X, y, **settings)


def same_run(left: tuple[bp.Network, Any], right: tuple[bp.Network, Any]) -> None:
    assert_array_equal(left[0].parameters, right[0].parameters)
    for key in ("loss", "accuracy"):
        assert left[1][key] == right[1][key]


# ------------------------------------------------------------ in this process


def test_the_fixed_tree_adds_neighbours_level_by_level() -> None:
    # 5 shards: (0+1) and (2+3) on the first level, their sum on the second, shard 4 last.
    assert tree_sum(list("abcde"), lambda left, right: f"({left}+{right})") == "(((a+b)+(c+d))+e)"
    assert tree_sum(["a"], lambda left, right: "never") == "a"


def test_one_shard_is_net_fit_to_the_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    # backprop.distributed always takes the compiled step where numba is installed; so does this fit
    # (a run this short would take numpy's, whose reported loss may differ in its last digit).
    monkeypatch.setenv("BACKPROP_NUMBA", "1")
    X, y = data()
    reference = network()
    history = reference.fit(X, y, loss="crossentropy", optimizer=bp.Adam(0.01), epochs=3, batch_size=32, seed=7)
    same_run((reference, history), train(X, y, shards=1))


def test_more_shards_sum_each_batch_in_another_order_only() -> None:
    X, y = data()
    one, _ = train(X, y, shards=1)
    three, history = train(X, y, shards=3)
    # The same batches and steps; only the per-shard sums of xᵀ·grad_h round differently.
    np.testing.assert_allclose(three.parameters, one.parameters, rtol=0, atol=1e-6)
    assert history.seed == 7 and len(history) == 3


def test_a_validation_fraction_is_drawn_as_fit_draws_it() -> None:
    X, _ = data()
    target = 2 * X[:, 0] - X[:, 3]
    net = bp.Network([bp.Dense(6, "tanh"), bp.Dense(1)], inputs=5, seed=2)
    reference = net.copy()
    expected = reference.fit(X, target, optimizer="sgd", epochs=2, batch_size=50, seed=3, validation=0.25)
    history = bd.fit(net, X, target, loss="mse", optimizer="sgd", epochs=2, batch_size=50, seed=3,
                     validation=0.25, shards=1)  # fmt: skip
    assert_array_equal(net.parameters, reference.parameters)
    for key in ("loss", "r2", "mae", "val_loss", "val_r2", "val_mae"):
        np.testing.assert_allclose(history[key], expected[key], rtol=1e-12)


def test_a_validation_set_is_scored_by_shards_and_dropout_draws_per_shard() -> None:
    da = pytest.importorskip("dask.array")
    X, y = data()
    X_val, y_val = X[:60] + 0.1, y[:60]
    layers = [bp.Dense(8, "relu"), bp.Dropout(0.2), bp.Dense(3, "softmax")]
    first = bp.Network(layers, inputs=5, seed=1)
    second = first.copy()
    options: dict[str, Any] = {"loss": "crossentropy", "optimizer": "adam", "epochs": 2, "batch_size": 32, "seed": 7}
    history = bd.fit(first, X, y, validation=(X_val, y_val), shards=2, **options)
    blocks = (da.from_array(X_val, chunks=25), da.from_array(y_val, chunks=25))
    again = bd.fit(second, da.from_array(X, chunks=50), da.from_array(y, chunks=50), validation=blocks, shards=2,
                   **options)  # fmt: skip
    # The masks come from (seed, epoch, step, shard): not from the blocks. The validation loss adds each
    # block's sum of the rows' losses, so other blocks (60 rows, or 25 + 25 + 10) may round otherwise in
    # the last bits; the count of right answers is exact.
    assert_array_equal(first.parameters, second.parameters)
    np.testing.assert_allclose(history["val_loss"], again["val_loss"], rtol=1e-12)
    assert history["val_accuracy"] == again["val_accuracy"] and len(history["val_accuracy"]) == 2


def test_local_sgd_is_deterministic_and_learns() -> None:
    X, y = data()
    adam = bp.Adam(0.01)
    first = train(X, y, shards=3, sync_every=4, epochs=6, optimizer=adam)
    same_run(first, train(X, y, shards=3, sync_every=4, epochs=6))
    # 240 rows in batches of 32: 8 steps an epoch, in rounds of 4 and 4; every replica took 6 · 8 Adam
    # steps, and the averaged state counts them.
    assert adam.steps == 48
    losses = first[1]["loss"]
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.8 * losses[0]


def test_dataframe_and_parquet_inputs_give_the_arrays_bits(tmp_path: Path) -> None:
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    X, y = data()
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)]).assign(label=y)
    expected = train(X, y, shards=2)
    same_run(expected, train(dd.from_pandas(frame, npartitions=3), "label", shards=2))
    frame.to_parquet(tmp_path / "table.parquet")
    same_run(expected, train(tmp_path / "table.parquet", "label", shards=2))


def test_divergence_leaves_the_last_finite_parameters_as_fit_does() -> None:
    X, y = data()
    fitted, distributed_net = network(), network()
    with pytest.raises(bp.DivergenceError, match="keeps its last finite parameters"):
        fitted.fit(X, y, loss="crossentropy", optimizer=bp.SGD(3e38), epochs=3, batch_size=32, seed=7)
    with pytest.raises(bp.DivergenceError, match="keeps its last finite parameters"):
        bd.fit(distributed_net, X, y, loss="crossentropy", optimizer=bp.SGD(3e38), epochs=3, batch_size=32, seed=7)
    assert np.isfinite(fitted.parameters).all() and np.isfinite(distributed_net.parameters).all()


def test_arguments_are_checked() -> None:
    X, y = data(20)
    with pytest.raises(bp.ParameterError, match=r"shards must be an integer from 1 to the 20 rows, got shards=0"):
        train(X, y, shards=0)
    with pytest.raises(bp.ParameterError, match="sync_every"):
        train(X, y, sync_every=0)
    with pytest.raises(bp.BackpropTypeError, match="y may name a column only when X is a Dask DataFrame"):
        train(X, "label")
    with pytest.raises(bp.BackpropTypeError, match=r"client must be a dask\.distributed Client or None"):
        train(X, y, client="tcp://localhost:8786")


def test_without_dask_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(bp.MissingDependencyError, match=r"pip install 'backprop\[dask\]'"):
        bd.predict(network(), object())


# ------------------------------------------------------------------ clusters

distributed = pytest.importorskip("dask.distributed")
da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module", autouse=True)
def hooks_by_value() -> None:
    """The workers get this module's hooks (the loss that kills its worker) by value, whatever runs first."""
    import cloudpickle  # type: ignore[import-untyped]

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    with cluster, distributed.Client(cluster, direct_to_workers=True) as two_processes:
        yield two_processes


def dask_data() -> tuple[Any, Any]:
    X, y = data()
    return da.from_array(X, chunks=(70, 5)), da.from_array(y, chunks=70)


def test_the_same_bits_in_process_on_two_processes_and_on_one_or_four_workers(client: Any) -> None:
    X, y = dask_data()
    reference = train(X, y, shards=4)
    same_run(reference, train(X, y, shards=4, client=client))
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0") as one:
        same_run(reference, train(X, y, shards=4, client=one))
    with distributed.Client(processes=False, n_workers=4, threads_per_worker=1, dashboard_address=":0") as four:
        same_run(reference, train(X, y, shards=4, client=four))
    # Beyond 8 shards the workers add the gradients, in the same tree.
    same_run(train(X, y, shards=10, epochs=1), train(X, y, shards=10, epochs=1, client=client))


def read_on_a_worker(block: int) -> Any:
    """Rows 60·block to 60·block + 60 of data() as a table; only a worker may read them (as a cluster's own storage)."""
    import pandas as pd

    distributed.get_worker()  # ValueError("No worker found") anywhere else
    X, y = data()
    rows = slice(60 * block, 60 * block + 60)
    return pd.DataFrame(X[rows], columns=[f"x{i}" for i in range(5)]).assign(label=y[rows])


def test_a_client_that_is_not_the_default_reads_every_row_on_its_workers() -> None:
    # A client made with set_as_default=False: counting a DataFrame's rows on Dask's default
    # scheduler would read every partition in this process (here: fail to).
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    dask = pytest.importorskip("dask")
    meta = pd.DataFrame({**{f"x{i}": np.float32([]) for i in range(5)}, "label": np.int64([])})
    frame = dd.from_map(read_on_a_worker, range(4), meta=meta, enforce_metadata=False)
    X, y = data()
    expected = train(X[:180], y[:180], shards=3, validation=(X[180:], y[180:]))
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0")
    # Dask's default scheduler in this process (whatever default client another test left).
    with cluster, distributed.Client(cluster, set_as_default=False) as aside, dask.config.set(scheduler="sync"):
        with pytest.raises(ValueError, match="No worker found"):
            frame.map_partitions(len).compute()
        training, held = frame.partitions[:3], frame.partitions[3]
        got = train(training, "label", client=aside, validation=(held.drop(columns=["label"]), held["label"]))
        # y a Dask Series of its own, in other partitions than X's (3 of 80 rows against 4 of 60).
        labels = dd.from_pandas(pd.Series(y, name="label"), npartitions=3)
        apart = train(frame.drop(columns=["label"]), labels, client=aside, shards=3)
    same_run(expected, got)
    assert got[1]["val_loss"] == expected[1]["val_loss"]
    same_run(train(X, y, shards=3), apart)


def test_local_sgd_on_the_cluster_is_the_in_process_run(client: Any) -> None:
    X, y = dask_data()
    same_run(train(X, y, shards=3, sync_every=4), train(X, y, shards=3, sync_every=4, client=client))


class KillOnce(Crossentropy):
    """Crossentropy that SIGKILLs the worker process computing it, once, after ``armed`` exists."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.armed, self.fired, self.client_pid = folder / "armed", folder / "fired", os.getpid()

    def total(self, h: Any, a: Any, y: Any, weights: Any = None) -> float:
        if os.getpid() != self.client_pid and self.armed.exists():
            try:
                os.close(os.open(self.fired, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)  # mid-task: the gradient is never returned
        return float(super().total(h, a, y, weights))


class Arm(Callback):
    """Arms :class:`KillOnce` after step 2 of epoch 1."""

    def __init__(self, armed: Path) -> None:
        self.armed, self.epoch = armed, 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        self.epoch = epoch + 1
        return False

    def on_batch_end(self, batch: int, logs: dict[str, float]) -> bool:
        if self.epoch == 1 and batch == 2:
            self.armed.touch()
        return False


def test_a_worker_killed_mid_step_changes_no_bit(client: Any, tmp_path: Path) -> None:
    X, y = dask_data()
    loss = KillOnce(tmp_path)
    reference = train(X, y, shards=4, loss=loss)
    killed = train(X, y, shards=4, loss=loss, client=client, callbacks=[Arm(loss.armed)])
    assert loss.fired.exists()  # a worker died computing a gradient, and Dask ran the step again
    same_run(reference, killed)


def test_workers_lost_beyond_allowed_failures_stop_after_a_checkpoint_that_resumes(tmp_path: Path) -> None:
    import dask

    X, y = dask_data()
    loss, path = KillOnce(tmp_path), tmp_path / "run.ckpt"
    reference = train(X, y, shards=4, loss=loss)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
        with cluster, distributed.Client(cluster) as fragile:
            callbacks = [Arm(loss.armed), bp.ModelCheckpoint(path)]
            with pytest.raises(bd.WorkersLostError, match=r"in epoch 1, step 3: .*resume_from=") as lost:
                train(X, y, shards=4, loss=loss, client=fragile, callbacks=callbacks)
    assert (lost.value.epoch, lost.value.step, lost.value.checkpoint) == (1, 3, str(path))
    # Resumed (here in this process) from the three steps of epoch 1 it had done: the uninterrupted run's bits.
    resumed = train(X, y, shards=4, loss=loss, resume_from=path, seed=None, callbacks=[Arm(loss.armed)])
    same_run(reference, resumed)


def test_predict_maps_blocks_and_partitions(client: Any) -> None:
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = data()
    net, _ = train(X, y, shards=2)
    blocks = da.from_array(X, chunks=(100, 5))
    predicted = bd.predict(net, blocks)
    assert predicted.chunks == ((100, 100, 40), (3,))
    values = predicted.compute()
    assert_array_equal(values[100:200], net.predict(X[100:200]))  # each block is net.predict of its rows
    np.testing.assert_allclose(values, net.predict(X), rtol=1e-6)
    frame = dd.from_pandas(pd.DataFrame(X, columns=list("abcde")), npartitions=2)
    table = bd.predict(net, frame).compute()
    assert list(table.columns) == ["prediction_0", "prediction_1", "prediction_2"]
    np.testing.assert_allclose(table.to_numpy(), net.predict(X), rtol=1e-6)
