"""`backprop bench`: the JSON has every field for every workload and contender.

A schema test, not a speed test: `--quick` figures mean nothing. torch, jax and
scikit-learn may be missing (torch is not installed in CI); a missing
contender must then be reported as missing, never dropped.
"""

import importlib.util
import json
import math
import os
import re
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from backprop import _passes, _pool, bench
from backprop.bench.where import PARTS
from backprop.cli import main

CONTENDER_KEYS = {"status", "reason", "seconds_per_epoch", "peak_memory_mb", "train_accuracy", "test_accuracy"}
SUMMARY_KEYS = {"median", "min", "max", "runs"}
CONFIG_KEYS = {
    "data",
    "n_train",
    "n_test",
    "n_features",
    "n_classes",
    "layers",
    "activation",
    "loss",
    "optimizer",
    "batch_size",
    "epochs",
    "steps_per_epoch",
    "warmup_rows",
    "dtype",
}
MACHINE_KEYS = {
    "platform",
    "python",
    "numpy",
    "torch",
    "sklearn",
    "jax",
    "jax_threads",
    "kernels",
    "cpu_count",
    "available_cpus",
    "threads",
    "thread_control",
    "blas",
    "environment",
    "memory_method",
}


def installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def bench_json(tmp_path, *args):
    path = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", "--quick", "--json", str(path), *args])
    assert result.exit_code == 0, result.output
    return json.loads(path.read_text()), result.output


def check_summary(summary, repeats):
    assert set(summary) == SUMMARY_KEYS
    assert len(summary["runs"]) == repeats
    assert 0 < summary["min"] <= summary["median"] <= summary["max"]


def check_workload(key, entry, repeats):
    assert set(entry) == {"name", "status", "reason", "config", "contenders", "ratios", "where"}
    assert entry["name"] == bench.WORKLOADS[key].name
    assert set(entry["contenders"]) == set(bench.CONTENDERS)
    assert set(entry["ratios"]) == set(bench.CONTENDERS) - {"backprop"}
    for ratio in entry["ratios"].values():
        assert set(ratio) == {"backprop_over_contender", "contender_over_backprop", "test_accuracy_difference"}
    if entry["status"] == "missing":
        assert entry["reason"]
        assert all(c["status"] == "missing" for c in entry["contenders"].values())
        assert entry["where"] is None
        return
    assert entry["status"] == "ok"
    assert set(entry["config"]) == CONFIG_KEYS
    assert entry["config"]["layers"] == bench.WORKLOADS[key].layers
    assert entry["config"]["dtype"] == "float32"
    for name, contender in entry["contenders"].items():
        assert set(contender) == CONTENDER_KEYS, name
        assert contender["status"] in ("ok", "missing"), (key, name, contender["reason"])
        if contender["status"] == "missing":
            assert contender["reason"]
            assert contender["seconds_per_epoch"] is None
            continue
        check_summary(contender["seconds_per_epoch"], repeats)
        assert contender["peak_memory_mb"] >= 0
        if name == "gemm":
            assert contender["train_accuracy"] is None and contender["test_accuracy"] is None
        else:
            assert 0 <= contender["train_accuracy"] <= 1 and 0 <= contender["test_accuracy"] <= 1
        ratio = entry["ratios"].get(name)
        if ratio is not None:
            assert ratio["backprop_over_contender"] > 0
            assert ratio["contender_over_backprop"] == pytest.approx(1 / ratio["backprop_over_contender"])


def check_where(entry):
    """The step's parts: every one measured, none negative, adding up to the step (the loop is the rest)."""
    where = entry["where"]
    assert set(where) == {"status", "reason", "step_ms", "parts_ms", "steps", "threads", "fit_step_ms", "in_one_call"}
    assert where["status"] == "ok", where["reason"]
    assert where["fit_step_ms"] > 0
    if _passes.compiled() is not None:  # fit's step in one compiled call on one thread; the pool's runs the hooks
        assert where["in_one_call"] == (where["threads"] == 1 or not _pool.runs_here())
    assert list(where["parts_ms"]) == list(PARTS)
    assert all(value >= 0 for value in where["parts_ms"].values())
    assert where["parts_ms"]["forward products"] > 0 and where["parts_ms"]["update"] > 0
    assert sum(where["parts_ms"].values()) == pytest.approx(where["step_ms"], rel=0.05)
    assert where["steps"] == entry["config"]["steps_per_epoch"]
    assert where["threads"] >= 1


def test_quick_json_has_every_field_for_every_workload_and_contender(tmp_path):
    data, output = bench_json(tmp_path)
    assert set(data) == {
        "version",
        "schema",
        "quick",
        "repeats",
        "threads",
        "busy",
        "seconds",
        "machine",
        "workloads",
        "predict",
    }
    assert data["quick"] is True and data["repeats"] == 1 and data["busy"] is None
    assert set(data["machine"]) == MACHINE_KEYS
    assert {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"} <= set(data["machine"]["environment"])
    assert data["machine"]["thread_control"] in ("threadpoolctl", "unavailable")
    assert set(data["workloads"]) == {"W1", "W2", "W3", "W4"}
    for key, entry in data["workloads"].items():
        check_workload(key, entry, repeats=1)
    # Only W2 may be missing as a whole (no mnist1d); the synthetic ones always run.
    for key in ("W1", "W3", "W4"):
        assert data["workloads"][key]["contenders"]["backprop"]["status"] == "ok"
        assert data["workloads"][key]["contenders"]["gemm"]["status"] == "ok"
        check_where(data["workloads"][key])
    assert (data["workloads"]["W2"]["status"] == "ok") == installed("mnist1d")
    for key, entry in data["workloads"].items():
        if entry["status"] == "ok":
            assert (entry["contenders"]["torch"]["status"] == "ok") == installed("torch"), key
            assert (entry["contenders"]["jax"]["status"] == "ok") == installed("jax"), key
            assert (entry["contenders"]["sklearn"]["status"] == "ok") == installed("sklearn"), key

    predict = data["predict"]
    assert set(predict) == {"workload", "rows", "contenders", "ratios"}
    assert set(predict["contenders"]) == set(bench.PREDICT_CONTENDERS)
    for name, contender in predict["contenders"].items():
        assert set(contender) == {"status", "reason", "rows_per_second", "peak_memory_mb"}
        assert contender["status"] in ("ok", "missing"), (name, contender["reason"])
        if contender["status"] == "ok":
            check_summary(contender["rows_per_second"], 1)
    assert (predict["contenders"]["torch"]["status"] == "ok") == installed("torch")

    # The table names every workload and contender, and says where the JSON went.
    for word in (
        "W1 mnist-shape",
        "W4 wide",
        "backprop",
        "jax",
        "torch",
        "sklearn",
        "gemm",
        "rows/s",
        "backward products",
    ):
        assert word in output
    assert str(tmp_path / "bench.json") in output


def test_a_missing_torch_is_reported_as_missing_not_dropped(tmp_path, monkeypatch):
    # scipy, under scikit-learn, looks torch up in sys.modules when first imported: import it before.
    if installed("sklearn"):
        import sklearn.neural_network  # noqa: F401
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    data, output = bench_json(tmp_path, "--workload", "W3", "--repeats", "2")
    assert set(data["workloads"]) == {"W3"}
    assert data["predict"] is None  # predict runs with W1 only
    entry = data["workloads"]["W3"]
    check_workload("W3", entry, repeats=2)
    torch = entry["contenders"]["torch"]
    assert torch["status"] == "missing" and "pip install torch==2.13.0" in torch["reason"]
    assert entry["ratios"]["torch"]["backprop_over_contender"] is None
    assert data["machine"]["torch"] is None
    assert "missing" in output


def test_a_missing_mnist1d_reports_w2_as_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    data, _ = bench_json(tmp_path, "-w", "w2")
    entry = data["workloads"]["W2"]
    assert entry["status"] == "missing" and "mnist1d" in entry["reason"]
    check_workload("W2", entry, repeats=1)


# ------------------------------------------------------------------ JAX


@pytest.mark.skipif(not installed("jax"), reason="jax is not installed")
def test_the_jax_contender_trains_and_reports_its_accuracy_and_ratio(tmp_path):
    data, output = bench_json(tmp_path, "-w", "W3", "--threads", "1")
    entry = data["workloads"]["W3"]
    check_workload("W3", entry, repeats=1)
    jax_entry = entry["contenders"]["jax"]
    assert jax_entry["status"] == "ok", jax_entry["reason"]
    assert 0 <= jax_entry["test_accuracy"] <= 1 and 0 <= jax_entry["train_accuracy"] <= 1
    ratio = entry["ratios"]["jax"]
    seconds = entry["contenders"]["backprop"]["seconds_per_epoch"]["median"]
    assert ratio["backprop_over_contender"] == pytest.approx(seconds / jax_entry["seconds_per_epoch"]["median"])
    backprop_accuracy = entry["contenders"]["backprop"]["test_accuracy"]
    assert ratio["test_accuracy_difference"] == pytest.approx(backprop_accuracy - jax_entry["test_accuracy"])
    assert data["machine"]["jax"] is not None
    # XLA's pool is sized once per process: 1 thread when this run started jax, unknown when a test before did.
    assert data["machine"]["jax_threads"] in (None, 1)
    assert "jax 0." in output or "jax 1." in output


@pytest.mark.skipif(not installed("jax"), reason="jax is not installed")
def test_jax_starts_from_backprops_initial_weight_distribution():
    import jax

    # W3: tanh hidden layers start from glorot_uniform, ±√(6 / (n_in + n_out)): 64→32 gives ±√(6/96) = ±0.25,
    # 32→32 ±√(6/64); the softmax output layer from uniform_scaled, ±1/√n_in = ±1/√32.
    w3 = bench.WORKLOADS["W3"]
    limits = bench.initial_limits(w3)
    assert limits[0] == 0.25 and limits[1] == pytest.approx(math.sqrt(6 / 64)) and len(limits) == 9
    assert limits[-1] == pytest.approx(1 / math.sqrt(32))
    # W1: relu hidden layers start from uniform_scaled too: 784→256 gives ±1/28.
    assert bench.initial_limits(bench.WORKLOADS["W1"]) == pytest.approx([1 / 28, 1 / 16, 1 / 16])
    params = bench.JaxContender(w3, jax).build(seed=3)
    for (W, b), limit in zip(params, limits, strict=True):
        W, b = np.asarray(W), np.asarray(b)
        assert W.dtype == np.float32 and not b.any()
        assert 0.9 * limit < np.abs(W).max() <= limit  # uniform: its largest draws come near the bound
    # backprop's network of the workload draws from the same bounds.
    net = bench.BackpropContender(w3).build(3)
    assert [float(np.abs(W).max()) for W in net.weights] == pytest.approx(
        [float(np.abs(np.asarray(W)).max()) for W, _ in params], rel=0.1
    )


@pytest.mark.skipif(not installed("jax"), reason="jax is not installed")
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_the_jax_step_applies_the_same_optimizer_as_backprop(optimizer):
    import dataclasses

    import jax

    # A 3-4-2 relu network, 8 rows, 3 full-batch steps: from the same weights, backprop's fit and
    # the compiled JAX step must agree to float32 round-off, Adam (torch's form) and SGD with momentum.
    workload = dataclasses.replace(
        bench.WORKLOADS["W2"], n_features=3, n_classes=2, hidden=(4,), optimizer=optimizer, lr=0.1, momentum=0.9
    )
    rng = np.random.default_rng(0)
    data = bench.Data(
        rng.standard_normal((8, 3), dtype=np.float32), np.array([0, 1, 1, 0, 1, 0, 0, 1]), np.zeros((1, 3)), [0]
    )
    contender = bench.JaxContender(workload, jax)
    params = contender.build(seed=1)
    net = bench.BackpropContender(workload).build(1)
    for (W, b), net_W, net_b in zip(params, net.weights, net.biases, strict=True):
        net_W[...] = np.asarray(W)
        net_b[...] = np.asarray(b)
    state = contender._initial_state(params)
    rows = np.arange(8, dtype=np.int32)
    X, y = contender._on_device(data)
    for _ in range(3):
        params, state, _ = contender._step(params, state, X, y, rows)
    net.fit(
        data.X_train,
        data.y_train,
        loss="crossentropy",
        optimizer=bench.BackpropContender(workload)._optimizer(),
        epochs=3,
        batch_size=8,
        shuffle=False,
    )
    assert not np.allclose(np.asarray(params[0][0]), np.asarray(contender.build(seed=1)[0][0]))  # they moved
    for (W, b), net_W, net_b in zip(params, net.weights, net.biases, strict=True):
        np.testing.assert_allclose(np.asarray(W), net_W, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(np.asarray(b), net_b, rtol=1e-4, atol=1e-6)


def test_a_missing_jax_is_reported_as_missing_with_how_to_install_it(tmp_path, monkeypatch):
    if installed("sklearn"):
        import sklearn.neural_network  # noqa: F401  (scipy looks array libraries up in sys.modules)
    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` now raises ImportError
    data, output = bench_json(tmp_path, "-w", "W3")
    entry = data["workloads"]["W3"]
    check_workload("W3", entry, repeats=1)
    jax_entry = entry["contenders"]["jax"]
    assert jax_entry["status"] == "missing" and "pip install jax" in jax_entry["reason"]
    assert jax_entry["test_accuracy"] is None and entry["ratios"]["jax"]["backprop_over_contender"] is None
    assert data["machine"]["jax"] is None and data["machine"]["jax_threads"] is None
    assert entry["contenders"]["backprop"]["status"] == "ok"
    assert "jax missing" in output


# ------------------------------------------------------------------ --busy


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_busy_runs_one_cpu_bound_process_beside_the_bench_and_stops_it(tmp_path):
    data, output = bench_json(tmp_path, "-w", "W3", "--busy")
    busy = data["busy"]
    assert set(busy) == {"processes", "pid", "seconds", "cpu_seconds"} and busy["processes"] == 1
    assert gone(busy["pid"])  # killed and reaped: nothing left behind
    assert 0 < busy["seconds"] < data["seconds"]
    assert busy["cpu_seconds"] > 0.05 * busy["seconds"]  # it did compute, even on a crowded machine
    assert "--busy" in output


def test_busy_process_is_killed_on_ctrl_c():
    pids = []

    def interrupt(message):
        found = re.search(r"pid (\d+)", message)
        if found:
            pids.append(int(found.group(1)))
            assert not gone(pids[0])  # running while the bench runs
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bench.run(["W3"], quick=True, busy=True, progress=interrupt)
    assert len(pids) == 1 and gone(pids[0])


def test_busy_process_is_killed_when_the_bench_fails():
    with pytest.raises(RuntimeError, match="a contender broke"), bench.BusyProcess() as busy:
        pid = busy.pid
        assert not gone(pid)
        raise RuntimeError("a contender broke")
    assert gone(pid) and busy.cpu_seconds is not None


def test_module_entry_point_and_bad_options():
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--help"])
    assert exit_info.value.code == 0
    result = CliRunner().invoke(main, ["bench", "--workload", "W9"])
    assert result.exit_code == 2 and "W9" in result.output
    result = CliRunner().invoke(main, ["bench", "--repeats", "0"])
    assert result.exit_code == 2
    result = CliRunner().invoke(main, ["bench", "--data", "--busy"])
    assert result.exit_code == 2 and "--busy runs beside the training workloads" in result.output


# ------------------------------------------------------------------ --data (tiny sizes: the figures mean nothing)

DATA_ENTRY_KEYS = {"status", "reason", "seconds", "process_seconds", "peak_mb", "maxrss_mb", "rows_per_second", "extra"}
TINY = ["--data-rows", "300", "--data-predict-rows", "400", "--data-columns", "60", "--repeats", "1"]


def data_json(tmp_path, *args):
    path = tmp_path / "data.json"
    result = CliRunner().invoke(main, ["bench", "--data", *TINY, "--json", str(path), *map(str, args)])
    return json.loads(path.read_text()), result


def median(entry, name, key="seconds"):
    return entry["contenders"][name][key]["median"]


def test_data_mode_measures_each_contender_and_marks_the_targets(tmp_path):
    files = tmp_path / "files"
    data, result = data_json(
        tmp_path,
        "--data-workload",
        "read",
        "--data-workload",
        "predict",
        "--data-workload",
        "columns",
        "--data-dir",
        files,
    )
    assert result.exit_code == 0, result.output
    assert data["mode"] == "data" and data["repeats"] == 1
    assert data["sizes"]["rows"] == 300 and data["sizes"]["columns"] == 60
    assert list(data["workloads"]) == ["read", "predict", "columns"]
    read, predict, columns = (data["workloads"][name] for name in ("read", "predict", "columns"))
    assert read["file"]["rows"] == 300 and read["file"]["columns"] == 10 and read["file"]["mb"] > 0
    assert set(read["contenders"]) == {"backprop", "pyarrow", "pandas"}
    assert set(predict["contenders"]) == {"backprop", "backprop-quarter", "pyarrow"}
    assert predict["quarter_file"]["rows"] == 100
    assert columns["wide_file"]["columns"] == 60 and columns["narrow_file"]["columns"] == 6
    for workload in (read, predict, columns):
        for name, entry in workload["contenders"].items():
            assert set(entry) == DATA_ENTRY_KEYS, name
            if name == "pandas" and not installed("pandas"):
                continue
            assert entry["status"] == "ok", (name, entry["reason"])
            assert len(entry["seconds"]["runs"]) == 1 and entry["seconds"]["median"] > 0
            # The process's wall time holds the step and the interpreter's start-up.
            assert entry["process_seconds"]["median"] > entry["seconds"]["median"]
            assert entry["peak_mb"] >= 0 and entry["maxrss_mb"] > 0
    # The last run of a round is predict's on the quarter: its 100 rows and the header.
    lines = (files / "predictions.csv").read_text().splitlines()
    assert lines[0] == "prediction,p_no,p_yes" and len(lines) == 101

    targets = {(t["workload"], t["what"]): t for t in data["targets"]}
    assert len(targets) == 6
    speed = targets[("read", "seconds backprop ÷ pyarrow")]
    assert speed["value"] == pytest.approx(median(read, "backprop") / median(read, "pyarrow"))
    assert speed["status"] == ("PASS" if speed["value"] <= 2 else "FAIL") and speed["reason"] is None
    peak = targets[("predict", "peak MB file ÷ a quarter of it (bounded)")]
    expected = predict["contenders"]["backprop"]["peak_mb"] / predict["contenders"]["backprop-quarter"]["peak_mb"]
    assert peak["value"] == pytest.approx(expected) and peak["op"] == "<=" and peak["goal"] == 1.5
    linear = targets[("columns", "s/column wide ÷ narrow (linear: 1)")]
    assert linear["value"] == pytest.approx(median(columns, "backprop-wide") / median(columns, "backprop-narrow") / 10)
    for word in (
        "issue 15",
        "backprop-quarter",
        "pyarrow",
        "s/column",
        "PASS" if speed["status"] == "PASS" else "FAIL",
    ):
        assert word in result.output


def test_data_mode_skips_a_missing_contender_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # find_spec("pandas") is now None
    data, result = data_json(tmp_path, "--data-workload", "read")
    assert result.exit_code == 0, result.output
    read = data["workloads"]["read"]
    pandas = read["contenders"]["pandas"]
    assert pandas["status"] == "missing" and pandas["reason"] == "pandas is not installed; pip install pandas"
    assert pandas["seconds"] is None and pandas["peak_mb"] is None
    assert read["contenders"]["backprop"]["status"] == "ok" and read["contenders"]["pyarrow"]["status"] == "ok"
    marks = {t["what"]: t for t in data["targets"]}
    assert marks["seconds backprop ÷ pandas"]["status"] == "n/a"
    assert "pandas: missing: pandas is not installed" in marks["seconds backprop ÷ pandas"]["reason"]
    assert marks["seconds backprop ÷ pyarrow"]["status"] in ("PASS", "FAIL")
    assert data["machine"]["pandas"] is None
    assert "missing" in result.output


def test_data_mode_reports_out_of_core_as_not_available_without_the_option(tmp_path, monkeypatch):
    from backprop.bench import data_runners

    monkeypatch.setattr(data_runners, "has_out_of_core", lambda: False)
    data, result = data_json(tmp_path, "--data-workload", "out-of-core", "--data-features", "50")
    assert result.exit_code == 0, result.output
    entry = data["workloads"]["out-of-core"]
    assert entry["dataset"] is None and entry["limit_mb"] == 1024 and entry["features"] == 50
    assert entry["network"] == {"hidden": [256, 128], "batch_size": 256}
    for name in ("out-of-core-cold", "out-of-core", "in-memory", "out-of-core-same-files"):
        assert entry["contenders"][name]["status"] == "missing"
        assert entry["contenders"][name]["reason"] == "backprop train has no --out-of-core option in this version"
    assert [t["status"] for t in data["targets"]] == ["n/a", "n/a", "n/a"]
    assert "no --out-of-core option" in result.output


def test_the_parquet_dataset_has_wide_float32_rows_the_same_for_the_same_sizes(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    from backprop.bench import data_workloads

    # 3 MB of rows of 30 float32 features and y: 124 bytes a row, 3 * 2**20 / 124 = 25,368.8: 25,369 rows.
    files = data_workloads.write_parquet_dataset(tmp_path / "a", 3, features=30)
    again = data_workloads.write_parquet_dataset(tmp_path / "b", 3, features=30)
    assert data_workloads.parquet_rows(files) == 25_369 == round(3 * 2**20 / data_workloads.wide_row_bytes(30))
    table = pq.read_table(files[0])
    assert table.column_names == [*(f"x{j}" for j in range(30)), "y"]
    assert {str(t) for t in table.schema.types} == {"float"}
    assert [a.read_bytes() for a in files] == [b.read_bytes() for b in again]
    # y is a linear mix of the features plus a little noise: nearly all its variance is explained.
    X = np.column_stack([table.column(j).to_numpy() for j in range(30)])
    y = table.column("y").to_numpy()
    residual = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    assert 0.005 < residual.var() / y.var() < 0.02


def test_data_mode_options_are_checked():
    result = CliRunner().invoke(main, ["bench", "--data", "--data-workload", "nope"])
    assert result.exit_code == 2 and "nope" in result.output
    result = CliRunner().invoke(main, ["bench", "--data", "--data-epochs", "1"])
    assert result.exit_code == 2
    with pytest.raises(ValueError, match="unknown data workload 'nope'"):
        bench.run_data(workloads=["nope"])


# ------------------------------------------------------------------ --distributed (tiny sizes: the figures mean nothing)


def test_distributed_mode_measures_both_variants_on_a_local_cluster(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    pytest.importorskip("mnist1d")
    monkeypatch.setitem(sys.modules, "pyspark", None)  # --spark must then report Spark as missing, not fail
    path = tmp_path / "distributed.json"
    result = CliRunner().invoke(main, ["bench", "--distributed", "--spark", "--quick", "--json", str(path)])
    assert result.exit_code == 0, result.output
    data = json.loads(path.read_text())
    assert data["mode"] == "distributed" and data["status"] == "ok" and data["repeats"] == 1
    assert data["cluster"]["workers"] == 2 and data["cluster"]["direct_to_workers"] is True
    # 40-16-10: 40·16 + 16 + 16·10 + 10 = 826 parameters, 3304 bytes in float32.
    assert data["network"] == {"layers": [40, 16, 10], "parameters": 826, "theta_bytes": 3304}
    sync, local = data["variants"]["synchronous"], data["variants"]["local"]
    assert (sync["sync_every"], local["sync_every"]) == (1, 2)
    for entry in (sync, local):
        assert entry["same_bits"] is True  # the cluster's parameters are the in-process run's, to the bit
        assert entry["parallel_share"] >= 0.5  # each shard's task at its own worker, not all at one
        assert len(entry["overhead_ms"]["runs"]) == entry["synchronizations_measured"] > 0
        assert entry["bytes_per_step"] >= entry["minimum_bytes_per_step"]
        assert entry["bytes_ratio"] == pytest.approx(entry["bytes_per_step"] / entry["minimum_bytes_per_step"])
        assert 0 <= entry["test_accuracy"]["mean"] <= 1
    # θ out to 2 workers and 2 gradients back: 4 · 3304 bytes; local rounds carry Adam's 2 moments too, per 2 steps.
    assert sync["minimum_bytes_per_step"] == 4 * 3304 and local["minimum_bytes_per_step"] == 4 * 3304 * 3 / 2
    marks = {t["key"]: t for t in data["targets"]}
    assert marks["overhead_sync_ms"]["value"] == sync["overhead_ms"]["median"]
    expected = 100 * abs(local["test_accuracy"]["mean"] - sync["test_accuracy"]["mean"])
    assert marks["accuracy_points"]["value"] == pytest.approx(expected)
    assert {t["status"] for t in data["targets"]} <= {"PASS", "FAIL"}
    anchors = data["anchors"]
    assert anchors["spark-mlpc"]["status"] == "missing" and "pip install pyspark" in anchors["spark-mlpc"]["reason"]
    assert anchors["backprop-distributed"]["seconds"] == sync["fit_seconds"]["cluster"]["median"]
    assert 0 <= anchors["backprop"]["test_accuracy"] <= 1
    for word in ("issue 16", "synchronous (sync_every=1)", "spark-mlpc", "missing", "pay off"):
        assert word in result.output


def test_distributed_figures_are_marked_against_issue_16s_goals():
    from backprop.bench import distributed_runners

    def variant(overhead_ms, bytes_ratio, accuracy):
        return {"overhead_ms": {"median": overhead_ms}, "bytes_ratio": bytes_ratio, "test_accuracy": {"mean": accuracy}}

    measured = {"variants": {"synchronous": variant(31.0, 1.10, 0.61), "local": variant(2.5, 2.0, 0.605)}}
    marks = {t["key"]: t for t in distributed_runners.targets(measured, None)}
    assert marks["overhead_sync_ms"]["status"] == "FAIL"  # 31 ms > 30
    assert marks["overhead_local_ms"]["status"] == "PASS"  # 2.5 ms <= 3
    assert marks["bytes_ratio"]["status"] == "PASS"  # 1.10 <= 1.10: the synchronous run's, not the local one's
    assert marks["accuracy_points"]["value"] == pytest.approx(0.5) and marks["accuracy_points"]["status"] == "PASS"
    missing = distributed_runners.targets(None, "distributed not installed")
    assert [t["status"] for t in missing] == ["n/a"] * 4 and missing[0]["reason"] == "distributed not installed"


def test_distributed_mode_without_dask_reports_it_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    path = tmp_path / "distributed.json"
    result = CliRunner().invoke(main, ["bench", "--distributed", "--quick", "--json", str(path)])
    assert result.exit_code == 0, result.output
    data = json.loads(path.read_text())
    assert data["status"] == "missing" and "pip install 'backprop[dask]'" in data["reason"]
    assert data["variants"] is None and data["anchors"] is None
    assert [t["status"] for t in data["targets"]] == ["n/a"] * 4
    assert "missing" in result.output
    result = CliRunner().invoke(main, ["bench", "--spark"])
    assert result.exit_code == 2 and "give --distributed too" in result.output
