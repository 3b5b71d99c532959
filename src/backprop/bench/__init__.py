"""``backprop bench``: backprop against JAX, PyTorch, scikit-learn and the GEMM limit.

Run it as ``backprop bench`` or ``python -m backprop.bench``. The workloads are
DESIGN.md §4's:

==  ===========  ===================  =======================  ================  =====  ======
id  name         data                 network                  optimizer         batch  epochs
==  ===========  ===================  =======================  ================  =====  ======
W1  mnist-shape  synthetic 20000×784  784-256-256-10 relu      Adam(1e-3)        128    2
W2  mnist1d      MNIST-1D, 4000       40-100-100-10 relu       Adam(1e-2)        100    10
W3  deep-narrow  synthetic 4096×64    64-(32×8)-10 tanh        SGD(0.05, m 0.9)  32     5
W4  wide         synthetic 8192×1024  1024-2048-2048-10 relu   Adam(1e-3)        512    1
==  ===========  ===================  =======================  ================  =====  ======

All losses are the crossentropy on a softmax output; everything is float32.
Synthetic data: ``X`` standard normal (seed 0), labels the argmax of
``X @ T`` for a standard-normal teacher ``T``; a held-out test set of the same
kind has 20% extra rows. W2 uses ``backprop.datasets.load("mnist1d")`` (4000
training, 1000 test rows) and is reported as missing without ``mnist1d``.

Contenders, all in this one process:

* ``backprop``: ``Network.fit`` (default float32), timed as a whole call.
* ``jax``: the network as JAX users write it (:mod:`~backprop.bench.jax_contender`):
  the parameters a pytree, ``jax.value_and_grad`` of the mean crossentropy, the
  same optimizer written in ``jax.numpy``, and one ``jax.jit``-compiled step
  (batch gathered by index from the data on the device, forward, backward,
  update; parameters donated), compiled outside the clock for every batch
  shape; the initial weights from backprop's default distribution for the
  activation. Optional: ``pip install jax``; without it the contender is
  reported as missing.
* ``torch``: PyTorch eager on the CPU, the same layers (PyTorch's default
  initialization), the same optimizer and hyper-parameters: a plain loop of
  ``randperm`` shuffled mini-batches gathered by indexing, ``zero_grad``,
  forward, ``CrossEntropyLoss``, ``backward``, ``step``. Optional: ``pip
  install torch==2.13.0``; without it the contender is reported as missing.
* ``sklearn``: ``MLPClassifier`` with the same hidden layers, activation,
  solver (``adam``, or ``sgd`` with ``momentum`` and ``nesterovs_momentum=False``),
  learning rate, batch size, ``max_iter=epochs``, ``alpha=0``, ``tol=0``, on
  float32 input; seconds per epoch are the fit time over the epochs.
* ``gemm``: the GEMM limit, the matrix multiplications of the same steps alone
  at their exact shapes, float32, into preallocated buffers (``out=``): per
  step and layer the forward ``x @ W`` and the backward ``xᵀ @ g`` (``dW``)
  and ``g @ Wᵀ`` (``dX``, not for the first layer).

Protocol: per workload, one warm-up of every contender on a few batches, then
``--repeats`` rounds (default 3), each round running every contender once on
the full workload, the order rotated from round to round. Every run starts from
a freshly initialized model. The same thread count (``--threads``, default the
CPUs this process may use) holds for all: threadpoolctl's
``threadpool_limits`` for the BLAS and OpenMP pools numpy, scikit-learn and
torch load, and ``torch.set_num_threads``. Without threadpoolctl the thread
control is reported as unavailable and the pools keep their defaults. JAX's
pool (XLA's CPU client) is sized once per process, when its backend starts:
the bench starts it with the thread pinned to ``--threads`` CPUs
(``machine.jax_threads``; null when jax had started before the bench, then its
size is unknown); threadpoolctl and ``XLA_FLAGS`` do not reach it.

``--busy`` runs one CPU-bound Python process (a busy loop, in a session of its
own) beside the contenders from the first warm-up to the last round, as on a
machine with other work running; it is killed at the end, also on an error or
Ctrl-C, and ends by itself if the bench is killed. ``busy`` in the JSON records
it. In its own session it is another program: where Linux's autogroup is on,
the CPUs are shared between sessions first, and the bench gets about one CPU's
time (see :mod:`backprop._threads` for what that does to two BLAS threads, and
:mod:`backprop._pool` for how backprop's two threads keep their speed).

Figures: seconds per epoch (median, min and max over the rounds), the ratios
backprop ÷ contender (below 1: backprop is faster) and contender ÷ backprop
(``x faster``), the peak memory and the final train and test accuracy (after
the measured epochs; the mean over the rounds, each round training from its
own seed, so that one lucky initialization does not decide the comparison). The predict section times
``Network.predict`` on 100 000 rows of W1's shape against the same torch model
under ``torch.inference_mode()`` (one call on all rows) and the forward GEMMs
alone (in chunks of ``backprop.network.PREDICT_CHUNK`` rows), in rows per
second; it runs when W1 does.

Memory: ``peak_memory_mb`` is the growth of the process's peak resident set
size (RSS) while the contender builds its model and trains, above the RSS just
before: on Linux the peak is reset before each run by writing ``5`` to
``/proc/self/clear_refs`` and read from ``VmHWM`` in ``/proc/self/status``,
after a ``gc.collect()`` and glibc's ``malloc_trim(0)``. It counts every
allocation, numpy's, torch's and the BLAS's alike, but not the training data,
which are in memory before. Resolution is a page, and memory that an earlier
run freed but the allocator kept resident can make a figure low. Where the peak
cannot be reset (not Linux) the fallback is the growth of
``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which is 0 unless the run raises
the process's all-time peak: a lower bound. ``machine.memory_method`` says
which was used.

OpenBLAS: on some processors this machine sets ``OPENBLAS_CORETYPE`` and
``OPENBLAS_L2_SIZE``, which slow a current numpy. The library leaves them alone;
the JSON records them under ``machine.environment``. To measure without them,
unset both for that one command::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE backprop bench

and check ``machine.blas`` (from threadpoolctl) for the kernel then used.

``--quick`` runs 1/10 of the rows (the test sets too), one epoch, one round and
a one-batch warm-up, for smoke tests; its figures mean nothing.

JSON schema (``--json PATH``; every key is always present, numbers are null
where they do not apply, e.g. accuracy for ``gemm`` or anything of a missing
contender)::

    {
      "version": "0.1.0",                       # backprop's version
      "schema": 1,
      "quick": false, "repeats": 3, "threads": 2, "seconds": 123.4,
      "busy": null | {"processes": 1, "pid": int,   # --busy: the neighbour process,
                      "seconds": float,            # how long it ran,
                      "cpu_seconds": float},       # and the CPU time it got
      "machine": {
        "platform", "python", "numpy", "torch", "sklearn", "jax",  # versions, null if missing
        "jax_threads": int | null,             # the size of XLA's CPU pool (null: unknown)
        "kernels": "numba 0.68.1" | "numpy",   # backprop's optimizer step (the `fast` extra)
        "cpu_count", "available_cpus", "threads",  # available: affinity and cgroup CPU quota
        "thread_control": "threadpoolctl" | "unavailable",
        "blas": [{"user_api", "internal_api", "version", "architecture",
                  "threading_layer", "num_threads", "filepath"}, ...],
        "environment": {"OPENBLAS_CORETYPE": str | null, "OPENBLAS_L2_SIZE": ...,
                        "OMP_NUM_THREADS": ..., "OPENBLAS_NUM_THREADS": ...,
                        "MKL_NUM_THREADS": ...},
        "memory_method": "VmHWM reset via /proc/self/clear_refs" | "ru_maxrss growth (lower bound)"
      },
      "workloads": {
        "W1": {
          "name": "mnist-shape",
          "status": "ok" | "missing",           # missing: W2 without mnist1d
          "reason": str | null,
          "config": {"data", "n_train", "n_test", "n_features", "n_classes",
                     "layers": [784, 256, 256, 10], "activation", "loss",
                     "optimizer": {"name", "lr", "momentum"}, "batch_size",
                     "epochs", "steps_per_epoch", "warmup_rows", "dtype"},
          "contenders": {
            "backprop" | "jax" | "torch" | "sklearn" | "gemm": {
              "status": "ok" | "missing" | "error",
              "reason": str | null,             # why missing, or the error
              "seconds_per_epoch": {"median", "min", "max", "runs": [...]} | null,
              "peak_memory_mb": float | null,
              "train_accuracy": float | null,
              "test_accuracy": float | null
            }, ...
          },
          "ratios": {
            "jax" | "torch" | "sklearn" | "gemm": {
              "backprop_over_contender": float | null,   # < 1: backprop faster
              "contender_over_backprop": float | null,   # "x faster"
              "test_accuracy_difference": float | null   # backprop − contender
            }
          }
        }, "W2": ..., "W3": ..., "W4": ...
      },
      "predict": null | {                       # null when W1 did not run
        "workload": "W1", "rows": 100000,
        "contenders": {
          "backprop" | "torch" | "gemm": {
            "status", "reason",
            "rows_per_second": {"median", "min", "max", "runs": [...]} | null,
            "peak_memory_mb": float | null
          }
        },
        "ratios": {"torch" | "gemm": {"backprop_over_contender", "contender_over_backprop"}}
      }
    }

Ratios in ``predict`` compare throughputs: backprop ÷ contender above 1 means
backprop is faster. The command exits with status 1 when a contender ended in
an error (after printing and writing everything), else 0.

``backprop bench --data`` times reading, predicting and out-of-core training
from files against pyarrow and pandas, each step in a process of its own, and
marks issue 15's figures PASS or FAIL: see :mod:`~backprop.bench.data_runners`
(the protocol, the targets, :func:`run_data`), :mod:`~backprop.bench.data_workloads`
(the files, :class:`DataSizes`) and :mod:`~backprop.bench.data_child` (one measured
step). Its JSON (``--json``) has ``mode: "data"``, ``sizes``, ``machine``,
``workloads`` (per workload its files and per contender ``status``, ``reason``,
``seconds``, ``process_seconds``, ``rows_per_second`` as ``{median, min, max,
runs}`` or null, ``peak_mb``, ``maxrss_mb``, ``extra``) and ``targets`` (per figure
``workload``, ``what``, ``value``, ``op``, ``goal``, ``status`` PASS/FAIL/n/a,
``reason``).

``backprop bench --distributed`` trains :mod:`backprop.distributed` on a LocalCluster of 2
worker processes it starts (MNIST-1D, 40-256-256-10) and marks issue 16's figures: the
overhead per synchronous step and per local step with ``sync_every=8``, the bytes moved per
step against the minimum, the accuracy of local SGD against synchronous steps; ``--spark`` adds
Spark MLlib's ``MultilayerPerceptronClassifier`` (when pyspark is importable) and
``Network.fit`` in one process. See :mod:`~backprop.bench.distributed_runners` (the
definitions, :func:`run_distributed`) and :mod:`~backprop.bench.spark_mlp`. Its JSON has
``mode: "distributed"``, ``sizes``, ``machine``, ``status``, ``reason``, ``cluster``,
``network``, ``variants`` (``synchronous`` and ``local``), ``compute``, ``anchors`` and
``targets``.

Layout: :mod:`~backprop.bench.workloads` (W1-W4 and their data),
:mod:`~backprop.bench.contenders` (backprop, torch, scikit-learn, GEMM),
:mod:`~backprop.bench.jax_contender` (JAX and its thread pool),
:mod:`~backprop.bench.memory` (peak memory), :mod:`~backprop.bench.runners`
(the protocol and the results) and :mod:`~backprop.bench.console` (the
click :data:`command`, the tables, the JSON file). The public names are
re-exported here.
"""

from __future__ import annotations

from .console import command, main, render, render_data, write_json
from .contenders import BackpropContender, Contender, GemmContender, SklearnContender, TorchContender
from .data_runners import DATA_SCHEMA, DATA_WORKLOADS, data_has_errors, run_data
from .data_workloads import QUICK_SIZES, DataSizes
from .distributed_runners import DISTRIBUTED_SCHEMA, QUICK_DISTRIBUTED, DistributedSizes, run_distributed
from .jax_contender import JaxContender, initial_limits, start_backend
from .memory import MEMORY_METHODS, PeakMemory, memory_method
from .runners import (
    BusyProcess,
    Environment,
    Progress,
    Record,
    default_threads,
    has_errors,
    run,
    run_predict,
    run_workload,
)
from .workloads import (
    CONTENDERS,
    ENVIRONMENT,
    JAX_HINT,
    PREDICT_CONTENDERS,
    PREDICT_ROWS,
    SCHEMA,
    TORCH_HINT,
    WORKLOADS,
    Data,
    MissingError,
    Workload,
    load_data,
    synthetic,
)

__all__ = [
    "CONTENDERS",
    "DATA_SCHEMA",
    "DATA_WORKLOADS",
    "DISTRIBUTED_SCHEMA",
    "ENVIRONMENT",
    "JAX_HINT",
    "MEMORY_METHODS",
    "PREDICT_CONTENDERS",
    "PREDICT_ROWS",
    "QUICK_DISTRIBUTED",
    "QUICK_SIZES",
    "SCHEMA",
    "TORCH_HINT",
    "WORKLOADS",
    "BackpropContender",
    "BusyProcess",
    "Contender",
    "Data",
    "DataSizes",
    "DistributedSizes",
    "Environment",
    "GemmContender",
    "JaxContender",
    "MissingError",
    "PeakMemory",
    "Progress",
    "Record",
    "SklearnContender",
    "TorchContender",
    "Workload",
    "command",
    "data_has_errors",
    "default_threads",
    "has_errors",
    "initial_limits",
    "load_data",
    "main",
    "memory_method",
    "render",
    "render_data",
    "run",
    "run_data",
    "run_distributed",
    "run_predict",
    "run_workload",
    "start_backend",
    "synthetic",
    "write_json",
]
