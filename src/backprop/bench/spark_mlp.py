"""Spark MLlib's ``MultilayerPerceptronClassifier`` on MNIST-1D: the anchor of ``backprop bench --distributed --spark``.

Run in a process of its own (``python -m backprop.bench.spark_mlp``), which
prints one JSON object on its last line of stdout; :func:`run_spark` starts
that process and reads it. pyspark is optional and never a dependency of
backprop: without it (or without Java) the contender is reported ``missing``.

What is measured: a local Spark session of ``local[N]`` (N cores, default 2:
the LocalCluster's worker count), MNIST-1D's training rows as a DataFrame of
dense vectors (cached and counted before the clock starts), then
``MultilayerPerceptronClassifier(layers, maxIter, blockSize=128, seed,
solver="l-bfgs").fit`` timed as one call (``seconds``); the session's start
and the data's loading are reported apart (``start_seconds``). Test accuracy
is that of ``transform`` on MNIST-1D's test rows. Spark's MLPC has sigmoid
hidden layers and a softmax output, and trains full-batch (one
``treeAggregate`` of the gradient per L-BFGS iteration): no other choice is
offered.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

#: How to get the contender.
SPARK_HINT = "pip install pyspark (Spark needs Java 17 or later)"
#: A Spark run may take this long (seconds) before it counts as failed.
SPARK_TIMEOUT = 1800


def spark_missing() -> str | None:
    """Why Spark cannot run here (pyspark not importable), or None."""
    try:
        found = importlib.util.find_spec("pyspark") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["pyspark"] is None
        found = False
    return None if found else f"pyspark is not installed; {SPARK_HINT}"


def measure(
    layers: Sequence[int], max_iter: int, rows: int | None, cores: int, seed: int
) -> dict[str, Any]:  # pragma: no cover - runs in the child process, with pyspark
    """Train and score Spark's MLPC on MNIST-1D in this process; the figures as a dict."""
    from .workloads import WORKLOADS, load_data

    data = load_data(WORKLOADS["W2"], 1.0)
    X_train, y_train = data.X_train, data.y_train
    if rows is not None:
        X_train, y_train = X_train[:rows], y_train[:rows]
    sql = importlib.import_module("pyspark.sql")
    linalg = importlib.import_module("pyspark.ml.linalg")
    classification = importlib.import_module("pyspark.ml.classification")
    began = time.perf_counter()
    spark = (
        sql.SparkSession.builder.master(f"local[{cores}]")
        .appName("backprop-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.shuffle.partitions", str(cores))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:

        def frame(X: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> Any:
            rows_ = [(float(label), linalg.Vectors.dense(row.astype(float))) for row, label in zip(X, y, strict=True)]
            return spark.createDataFrame(rows_, ["label", "features"]).repartition(cores).cache()

        train, test = frame(X_train, y_train), frame(data.X_test, data.y_test)
        train.count(), test.count()
        start_seconds = time.perf_counter() - began
        mlpc = classification.MultilayerPerceptronClassifier(
            layers=list(layers), maxIter=max_iter, blockSize=128, seed=seed, solver="l-bfgs"
        )
        clock = time.perf_counter()
        model = mlpc.fit(train)
        seconds = time.perf_counter() - clock
        predicted = model.transform(test).select("label", "prediction").collect()
        accuracy = float(np.mean([row["label"] == row["prediction"] for row in predicted]))
        train_predicted = model.transform(train).select("label", "prediction").collect()
        train_accuracy = float(np.mean([row["label"] == row["prediction"] for row in train_predicted]))
        iterations = len(model.summary().objectiveHistory) if model.hasSummary else None
        return {
            "seconds": seconds,
            "start_seconds": start_seconds,
            "test_accuracy": accuracy,
            "train_accuracy": train_accuracy,
            "iterations": iterations,
            "pyspark": str(importlib.import_module("pyspark").__version__),
            "n_train": int(X_train.shape[0]),
            "n_test": int(data.X_test.shape[0]),
        }
    finally:
        spark.stop()


def run_spark(layers: Sequence[int], max_iter: int, rows: int | None, cores: int, seed: int = 0) -> dict[str, Any]:
    """Spark's MLPC measured in a child process: ``{"status", "reason", ...figures}``.

    ``status`` is ``ok``, ``missing`` (no pyspark) or ``error`` (the child
    failed: Java missing, a timeout; ``reason`` has the end of its stderr).
    """
    empty: dict[str, Any] = {
        "seconds": None,
        "start_seconds": None,
        "test_accuracy": None,
        "train_accuracy": None,
        "extra": {},
    }
    missing = spark_missing()
    if missing is not None:
        return {"status": "missing", "reason": missing, **empty}
    command = [sys.executable, "-m", "backprop.bench.spark_mlp", "--layers", ",".join(map(str, layers))]
    command += ["--max-iter", str(max_iter), "--cores", str(cores), "--seed", str(seed)]
    command += [] if rows is None else ["--rows", str(rows)]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=SPARK_TIMEOUT, env=env, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"Spark ran past {SPARK_TIMEOUT} s", **empty}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"status": "error", "reason": (done.stderr or done.stdout)[-600:].strip(), **empty}
    figures = json.loads(lines[-1])
    extra = {key: figures[key] for key in ("iterations", "pyspark", "n_train", "n_test")}
    extra.update(layers=list(layers), max_iter=max_iter, cores=cores, solver="l-bfgs", activation="sigmoid")
    return {
        "status": "ok",
        "reason": None,
        "seconds": figures["seconds"],
        "start_seconds": figures["start_seconds"],
        "test_accuracy": figures["test_accuracy"],
        "train_accuracy": figures["train_accuracy"],
        "extra": extra,
    }


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - the child process
    parser = argparse.ArgumentParser(prog="python -m backprop.bench.spark_mlp", description=__doc__)
    parser.add_argument("--layers", default="40,256,256,10", help="Comma-separated layer sizes.")
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--rows", type=int, default=None, help="The first rows of the training set only.")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    layers = [int(size) for size in args.layers.split(",")]
    figures = measure(layers, args.max_iter, args.rows, args.cores, args.seed)
    sys.stdout.write(json.dumps(figures) + "\n")


if __name__ == "__main__":  # pragma: no cover
    main()
