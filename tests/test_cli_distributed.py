"""`backprop train --scheduler` and the Parquet parts of `predict --scheduler` (backprop.distributed._tabular).

A model trained on a cluster has the bits of :class:`ClusterFit` with no
client (the same tasks in this process, the same shards), whatever the number
of workers; the preprocessing is the one fitted without a cluster. Clusters are
small: ``local:2`` started by the command, and a LocalCluster of one worker
process that the tests reach by its ``tcp://`` address.
"""

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from numpy.testing import assert_array_equal

import backprop as bp
from backprop.cli import main
from backprop.cli._signals import TrainMonitor
from backprop.distributed import _tabular
from backprop.distributed._data import DaskGaveUpError, OnDask
from backprop.distributed._tabular import ClusterFit, SchedulerError, connect, predict_parquet
from backprop.distributed._tabular import _parquet_inputs as parquet_inputs
from backprop.pipeline import TrainOptions, run_training

distributed = pytest.importorskip("dask.distributed")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pa_csv = pytest.importorskip("pyarrow.csv")

SMALL = ["--epochs", "2", "--hidden", "8", "--batch-size", "40", "--seed", "3"]


def run(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def failed(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def reference(data: str, **options: Any) -> Any:
    """The in-process run of the same tasks: ``ClusterFit`` with no client."""
    shards, sync_every = options.pop("shards", None), options.pop("sync_every", 1)
    settings = TrainOptions(data=data, epochs=2, hidden=[8], batch_size=40, seed=3, **options)
    return run_training(settings, fit=ClusterFit(None, shards=shards, sync_every=sync_every, source=data)).net


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """One worker process of one thread, reached as ``--scheduler tcp://…``."""
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as one,
        distributed.Client(one, direct_to_workers=True) as client,
    ):
        yield client


# ----------------------------------------------------------------------- training


def test_two_workers_one_worker_and_this_process_train_the_same_bits(cluster: Any, tmp_path: Path) -> None:
    for workers, scheduler in ((2, "local:2"), (1, cluster.scheduler.address)):
        ok(run("train", "iris", *SMALL, "--scheduler", scheduler, "-o", tmp_path / f"{workers}.safetensors"))
    two, one = (bp.load(tmp_path / f"{workers}.safetensors") for workers in (2, 1))
    assert_array_equal(two.parameters, one.parameters)
    # 120 training rows in 8 shards (the default) of 15 rows, batches of 40: the in-process reference's bits.
    assert_array_equal(two.parameters, reference("iris").parameters)
    # Without --scheduler each batch is summed whole, not per shard: the same model but for the last bits.
    ok(run("train", "iris", *SMALL, "-o", tmp_path / "plain.safetensors"))
    np.testing.assert_allclose(two.parameters, bp.load(tmp_path / "plain.safetensors").parameters, atol=1e-5)


def write_parquet_folder(folder: Path, n: int = 300) -> str:
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    label = np.where(x1 + x2 + (colour == "red") > 0.3, "yes", "no")
    folder.mkdir()
    for k, part in enumerate(np.array_split(np.arange(n), 3)):
        table = pa.table({"x1": x1[part], "x2": x2[part], "colour": colour[part], "label": label[part]})
        pq.write_table(table, folder / f"part-{k}.parquet")
    past = time.time() - 60  # older than the cache's racy window: the entry is kept
    for item in [folder, *folder.iterdir()]:
        os.utime(item, (past, past))
    return str(folder)


def test_a_parquet_folder_out_of_core_is_read_by_the_workers_file_by_file(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKPROP_CACHE_DIR", str(tmp_path / "cache"))
    data, out = write_parquet_folder(tmp_path / "table"), tmp_path / "model.safetensors"
    address = cluster.scheduler.address
    flags = ["--out-of-core", "--shards", "3", "--sync-every", "2", "--scheduler", address, "-o", out]
    read_by_files = []
    monkeypatch.setattr(_tabular, "_parquet_inputs", lambda *args: read_by_files.append(args) or parquet_inputs(*args))
    ok(run("train", data, *SMALL, *flags))
    # The workers transformed each file's training rows themselves: the bits of the rows prepared in memory.
    assert len(read_by_files) == 1 and len(read_by_files[0][0]) == 3
    expected = reference(data, shards=3, sync_every=2, out_of_core=False)
    assert_array_equal(bp.load(out).parameters, expected.parameters)
    # A CSV larger than memory: the workers read their shards' rows of the prepared cache.
    csv = tmp_path / "table.csv"
    pa_csv.write_csv(pq.read_table(data), csv)
    past = time.time() - 60
    os.utime(csv, (past, past))
    ok(run("train", csv, *SMALL, "--out-of-core", "--shards", "3", "--scheduler", address, "-o", out))
    assert len(read_by_files) == 1
    assert_array_equal(bp.load(out).parameters, reference(str(csv), shards=3, out_of_core=False).parameters)


def test_ctrl_c_on_a_cluster_resumes_with_the_checkpoints_shards_to_the_same_bits(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, out = cluster.scheduler.address, tmp_path / "model.safetensors"
    original = TrainMonitor.on_batch_end

    def on_batch_end(self: TrainMonitor, batch: int, logs: dict[str, float]) -> bool:
        stop = original(self, batch, logs)
        if self._state is not None and self._state.epoch == 0 and batch == 1:  # epoch 2's first round of 2 steps
            signal.raise_signal(signal.SIGINT)  # in this thread, not whichever thread os.kill reaches
        return stop or self.stop_requested

    with monkeypatch.context() as patch:
        patch.setattr(TrainMonitor, "on_batch_end", on_batch_end)
        result = run("train", "iris", *SMALL, "--scheduler", address, "--shards", "3", "--sync-every", "2", "-o", out)
    assert result.exit_code == 130, result.output
    command = result.stderr.strip().splitlines()[-1]
    assert command.endswith(f"--resume {tmp_path / 'model.ckpt'} --epochs 2 --scheduler {address}"), command
    failed(
        run("train", "iris", "--resume", tmp_path / "model.ckpt", "--scheduler", address, "--shards", "4"),
        2,
        "--shards 4 differs from the checkpoint's 3",
    )
    failed(run("train", "iris", "--resume", tmp_path / "model.ckpt"), 2, "give --scheduler to resume it")
    # --shards and --sync-every come from the checkpoint, as the other options do.
    ok(run("train", "iris", "--resume", tmp_path / "model.ckpt", "--scheduler", address))
    assert_array_equal(bp.load(out).parameters, reference("iris", shards=3, sync_every=2).parameters)


def test_workers_lost_for_good_leave_a_checkpoint_that_resumes_to_the_same_bits(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    address, out = cluster.scheduler.address, tmp_path / "model.safetensors"
    gather, calls = OnDask.gather, []

    def gather_gives_up(self: OnDask, handles: Any) -> list[Any]:
        # The labels (validation split), epoch 1's 3 steps and its validation, then epoch 2's first step.
        calls.append(len(handles))
        if len(calls) == 6:
            raise DaskGaveUpError("KilledWorker: the workers of a gradient died")
        return gather(self, handles)

    with monkeypatch.context() as patch:
        patch.setattr(OnDask, "gather", gather_gives_up)
        result = run("train", "iris", *SMALL, "--scheduler", address, "-o", out)
    failed(result, 1, "error: Dask gave up in epoch 2, batch 1: workers were lost more often than")
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(f"--resume {tmp_path / 'model.ckpt'} --epochs 2 --scheduler {address}")
    )
    assert not out.exists()
    ok(run("train", "iris", "--resume", tmp_path / "model.ckpt", "--scheduler", address))
    assert_array_equal(bp.load(out).parameters, reference("iris").parameters)
    assert bp.inspect(out)["extra"]["training"]["distributed"] == {"shards": 8, "sync_every": 1}


def test_scheduler_options_are_checked_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "m.safetensors"
    monkeypatch.setattr(_tabular, "CONNECT_SECONDS", 0.5)
    failed(
        run("train", "iris", "--scheduler", "tcp://127.0.0.1:9", "-o", out),
        1,
        "error: --scheduler tcp://127.0.0.1:9: no Dask scheduler answers there",
    )
    failed(run("train", "iris", "--scheduler", "my-cluster", "-o", out), 1, "--scheduler 'my-cluster' is not a sched")
    failed(run("train", "iris", "--scheduler", "local:0", "-o", out), 1, "local:N needs N, the worker processes")
    failed(run("train", "iris", "--shards", "4", "-o", out), 2, "--shards and --sync-every", "give --scheduler")
    failed(run("train", "iris", "--scheduler", "local:1", "--l2", "0.1", "-o", out), 2, "--l2 is not available")
    assert not out.exists()
    with pytest.raises(SchedulerError, match=r"--scheduler host:1: no Dask scheduler answers"), connect("host:1"):
        pass


def test_more_shards_than_rows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(bp.ParameterError, match=r"shards=500 is more than the 120 training rows; give at most 120"):
        run_training(TrainOptions(data="iris", epochs=1, hidden=[4]), fit=ClusterFit(None, shards=500))


# ----------------------------------------------------------------------- prediction


def predicted_csv(result: Result) -> tuple[list[str], np.ndarray]:
    lines = [line.split(",") for line in result.stdout.strip().splitlines()]
    return [row[0] for row in lines[1:]], np.array([[float(v) for v in row[1:]] for row in lines[1:]])


def test_predictions_as_parquet_parts_are_plain_predicts(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, model = write_parquet_folder(tmp_path / "table"), tmp_path / "model.safetensors"
    ok(run("train", data, *SMALL, "--target", "label", "-o", model))
    labels, probabilities = predicted_csv(ok(run("predict", model, data)))
    out = tmp_path / "predictions"
    assert predict_parquet(str(model), data, str(out), client=cluster) == 300
    # One part per input file, in order, written by the workers.
    assert sorted(os.listdir(out)) == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    parts = [pq.read_table(out / name) for name in sorted(os.listdir(out))]
    assert [part.num_rows for part in parts] == [100, 100, 100]
    table = pa.concat_tables(parts)
    assert table.column_names == ["prediction", "p_no", "p_yes"]
    assert table["prediction"].to_pylist() == labels
    # The CSV writes probabilities with 6 significant digits.
    np.testing.assert_allclose(np.column_stack([table["p_no"], table["p_yes"]]), probabilities, rtol=1e-5)
    # A CSV is cut into chunks here (64 rows), each predicted and written by a worker, one chunk submitted ahead.
    csv, out = tmp_path / "rows.csv", tmp_path / "from-csv"
    pa_csv.write_csv(pq.read_table(data), csv)
    monkeypatch.setattr(_tabular, "iter_tables", functools.partial(_tabular.iter_tables, chunk_rows=64))
    monkeypatch.setattr(_tabular, "PARTS_AHEAD", 1)
    assert predict_parquet(str(model), str(csv), str(out), client=cluster) == 300
    assert sorted(os.listdir(out)) == [f"part-{index:05d}.parquet" for index in range(5)]
    assert pq.read_table(out)["prediction"].to_pylist() == labels


def test_an_existing_output_folder_is_never_replaced(tmp_path: Path) -> None:
    model, out = tmp_path / "model.safetensors", tmp_path / "predictions"
    ok(run("train", "iris", "--epochs", "1", "--hidden", "4", "-o", model))
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(bp.ParameterError, match=r"predictions exists: the parts go into a new folder"):
        predict_parquet(str(model), "iris", str(out), client=None)
    assert os.listdir(out) == ["keep.txt"]
    # Without a client the parts are written here; the temporary folder is renamed, never left.
    assert predict_parquet(str(model), "iris", str(tmp_path / "fresh"), client=None) == 150
    assert os.listdir(tmp_path / "fresh") == ["part-00000.parquet"]
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []


def test_the_preprocessings_notes_come_back_from_the_parts(cluster: Any, tmp_path: Path) -> None:
    data, model = write_parquet_folder(tmp_path / "table"), tmp_path / "model.safetensors"
    ok(run("train", data, *SMALL, "--target", "label", "-o", model))
    new = tmp_path / "new"
    new.mkdir()
    table = pa.table({"x1": [0.1, 0.2], "x2": [0.3, 0.4], "colour": ["purple", "red"], "label": ["yes", "no"]})
    pq.write_table(table, new / "part-0.parquet")
    notes: list[str] = []
    rows = predict_parquet(str(model), str(new), str(tmp_path / "out"), client=cluster, notes=notes)
    assert rows == 2
    assert len(notes) == 1 and "purple" in notes[0]  # as backprop predict says it, from the worker
    result = ok(run("predict", model, new, "--scheduler", cluster.scheduler.address, "-o", tmp_path / "again"))
    assert notes[0] in result.output  # and the command prints it


def test_a_folder_made_at_the_output_while_predicting_is_left_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, out = tmp_path / "model.safetensors", tmp_path / "predictions"
    ok(run("train", "iris", "--epochs", "1", "--hidden", "4", "-o", model))
    run_parts = _tabular._run_parts

    def someone_else_makes_it(*args: Any) -> Any:
        out.mkdir()  # empty: os.rename would have replaced it
        return run_parts(*args)

    monkeypatch.setattr(_tabular, "_run_parts", someone_else_makes_it)
    with pytest.raises(bp.ParameterError, match=r"predictions appeared while predicting: the parts are not written"):
        predict_parquet(str(model), "iris", str(out), client=None)
    assert os.listdir(out) == []
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []


def test_predict_with_a_scheduler_writes_the_parts_from_the_command_line(cluster: Any, tmp_path: Path) -> None:
    data, model = write_parquet_folder(tmp_path / "table"), tmp_path / "model.safetensors"
    ok(run("train", data, *SMALL, "--target", "label", "-o", model))
    labels, _ = predicted_csv(ok(run("predict", model, data)))
    address = cluster.scheduler.address
    out = tmp_path / "predictions"
    result = ok(run("predict", model, data, "--scheduler", address, "-o", out))
    assert "wrote 300 predictions to" in result.output and "(Parquet parts)" in result.output
    assert pq.read_table(out)["prediction"].to_pylist() == labels
    # The parts need a new folder: no -o, or --keep, is a usage error before any cluster is reached.
    failed(run("predict", model, data, "--scheduler", address), 2, "--scheduler writes Parquet parts into a new folder")
    failed(run("predict", model, data, "--scheduler", address, "-o", out), 1, "exists")


def test_workers_lost_while_predicting_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    from distributed.comm.core import CommClosedError

    model = tmp_path / "model.safetensors"
    ok(run("train", "iris", "--epochs", "1", "--hidden", "4", "-o", model))

    class Gone:  # a future whose workers Dask gave up on
        def result(self) -> Any:
            raise CommClosedError("the worker went away")

        def release(self) -> None:
            pass

    class Client:
        def submit(self, *args: Any, **kwargs: Any) -> Gone:
            return Gone()

    with pytest.raises(_tabular.WorkersGoneError, match=r"Dask gave up after 0 parts: .*nothing was written"):
        predict_parquet(str(model), "iris", str(tmp_path / "out"), client=Client())
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors"]  # no part, no temporary folder
