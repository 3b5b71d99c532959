"""JAX as a contender: the workload's network as JAX users write it, one ``jax.jit``-compiled training step.

The model is a pytree (a list of ``(W, b)`` pairs); the loss is the mean
softmax crossentropy of the logits; ``jax.value_and_grad`` gives the gradient
and the optimizer's update is written by hand in ``jax.numpy`` (no optax), the
same rule as backprop's for the workload: ``Adam`` in torch's form (``ε`` added
after the bias correction of ``√v``, ``β = (0.9, 0.999)``, ``ε = 1e-8``) or
``SGD`` with torch's momentum (``b ← μ b + g``, ``θ ← θ − η b``). Gathering
the batch (``X[idx]``), the forward and backward passes and the update are
one compiled function; its inputs (the parameters and the optimizer state) are
donated, so that XLA updates them in place.

Protocol, against the others' (:mod:`~backprop.bench.runners`):

* The data go to the device once per workload, outside the clock (a JAX
  program loads its dataset once); each epoch draws a permutation with
  ``numpy.random.default_rng(seed)`` and each step passes the batch's row
  indices (``batch_size`` of them, the last batch of an epoch shorter, as for
  every contender).
* Compiled outside the clock: :meth:`JaxContender.warm_up` runs one step of
  every batch shape the workload has (the full batch and the epoch's shorter
  last batch) and the prediction function, so that nothing compiles in a timed
  run. The clock stops after ``jax.block_until_ready`` on the trained
  parameters.
* Initial weights: the distribution of backprop's default initializer for the
  layer's activation (``glorot_uniform`` for tanh, ``uniform_scaled``,
  ``±1/√n_in``, for relu and the softmax output layer), drawn with
  ``jax.random``; biases zero; float32.

Threads: XLA's CPU client sizes its thread pool (the one XNNPACK's and Eigen's
matrix products run on) from the CPU affinity of the thread that starts the
backend, once per process; threadpoolctl does not reach it, and neither
``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false`` (measured on jax 0.10.2: the
dots still ran on 2 threads, in XNNPACK) nor ``intra_op_parallelism_threads``
(a TensorFlow session option, not an XLA flag) limit it. :func:`start_backend`
therefore starts the backend with the calling thread pinned to the first
``threads`` CPUs it may use, then restores its affinity: the pool keeps that
size. When the backend had already started in this process, its size is not
known and is reported as ``None``.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .contenders import Contender
from .workloads import F32, I64, Data, Workload


def start_backend(jax: Any, threads: int) -> int | None:
    """Start JAX's CPU backend with a pool of ``threads`` threads; the pool's size, or None when unknown.

    Parameters
    ----------
    jax : module
        The imported ``jax`` package.
    threads : int
        Threads for XLA's CPU thread pool (at most the CPUs this process may use).

    Returns
    -------
    int or None
        The number of CPUs the pool was sized from, or None when the backend
        had started before (or affinity cannot be set on this platform).
    """
    try:
        from jax._src import xla_bridge  # type: ignore[import-not-found, unused-ignore]  # its started backends

        started = bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):
        started = False
    if started or not hasattr(os, "sched_setaffinity"):
        jax.devices("cpu")
        return None
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[: max(1, threads)]
    os.sched_setaffinity(0, chosen)
    try:
        jax.devices("cpu")
    finally:
        os.sched_setaffinity(0, allowed)
    return len(chosen)


def initial_limits(workload: Workload) -> list[float]:
    """Per layer the bound ``a`` of the uniform ``U(−a, a)`` its weights start from, as backprop's default."""
    sizes, limits = workload.layers, []
    for index in range(len(sizes) - 1):
        n_in, n_out = sizes[index], sizes[index + 1]
        hidden = index < len(sizes) - 2
        if hidden and workload.activation == "tanh":
            limits.append(math.sqrt(6.0 / (n_in + n_out)))  # glorot_uniform
        else:
            limits.append(1.0 / math.sqrt(n_in))  # uniform_scaled
    return limits


class JaxContender(Contender):
    """The workload in JAX: a pytree of parameters, ``value_and_grad``, one jit-compiled step."""

    name = "jax"

    def __init__(self, workload: Workload, jax: Any) -> None:
        super().__init__(workload)
        self.jax = jax
        self.jnp = jax.numpy
        self.device = jax.devices("cpu")[0]
        self._data: tuple[int, int, Any, Any] | None = None  # ids of the host arrays, then the device arrays
        self._step = jax.jit(self._step_function(), donate_argnums=(0, 1))
        self._predict = jax.jit(self._logits)

    # ------------------------------------------------------------------ the model, as a JAX user writes it

    def _logits(self, params: Any, x: Any) -> Any:
        jnp, act = self.jnp, {"relu": self.jax.nn.relu, "tanh": self.jnp.tanh}[self.workload.activation]
        for W, b in params[:-1]:
            x = act(jnp.dot(x, W) + b)
        W, b = params[-1]
        return jnp.dot(x, W) + b

    def _loss(self, params: Any, x: Any, y: Any) -> Any:
        jnp = self.jnp
        log_p = self.jax.nn.log_softmax(self._logits(params, x))
        return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))

    def _step_function(self) -> Any:
        jax, jnp, w = self.jax, self.jnp, self.workload
        tree_map, grad = jax.tree_util.tree_map, jax.value_and_grad(self._loss)
        from ..optimizers import Adam

        reference = Adam(w.lr)  # backprop's defaults for β and ε
        lr, momentum = np.float32(w.lr), np.float32(w.momentum)
        beta1, beta2, eps = (np.float32(v) for v in (*reference.betas, reference.eps))

        def adam(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
            t, m, v = state
            t = t + 1
            m = tree_map(lambda m_, g: beta1 * m_ + (1 - beta1) * g, m, grads)
            v = tree_map(lambda v_, g: beta2 * v_ + (1 - beta2) * g * g, v, grads)
            step = lr / (1 - beta1**t)
            root = jnp.sqrt(1 - beta2**t)
            params = tree_map(lambda p, m_, v_: p - step * m_ / (jnp.sqrt(v_) / root + eps), params, m, v)
            return params, (t, m, v)

        def sgd(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
            buffers = tree_map(lambda b, g: momentum * b + g, state, grads)
            return tree_map(lambda p, b: p - lr * b, params, buffers), buffers

        update = adam if w.optimizer == "adam" else sgd

        def step(params: Any, state: Any, X: Any, Y: Any, idx: Any) -> tuple[Any, Any, Any]:
            loss, grads = grad(params, X[idx], Y[idx])
            params, state = update(params, grads, state)
            return params, state, loss

        return step

    def _initial_state(self, params: Any) -> Any:
        jnp, tree_map = self.jnp, self.jax.tree_util.tree_map
        if self.workload.optimizer == "adam":  # (t, m, v)
            state = jnp.zeros((), jnp.float32), tree_map(jnp.zeros_like, params), tree_map(jnp.zeros_like, params)
        else:
            state = tree_map(jnp.zeros_like, params)  # the momentum buffers
        return self.jax.device_put(state, self.device)

    # ------------------------------------------------------------------ the contender's protocol

    def _on_device(self, data: Data) -> tuple[Any, Any]:
        key = (id(data.X_train), id(data.y_train))
        if self._data is None or self._data[:2] != key:
            put = self.jax.device_put
            X = put(data.X_train, self.device)
            y = put(data.y_train.astype(np.int32), self.device)
            self._data = (*key, X, y)
        return self._data[2], self._data[3]

    def build(self, seed: int) -> Any:
        jax, jnp, sizes = self.jax, self.jnp, self.workload.layers
        keys = jax.random.split(jax.random.key(seed), len(sizes) - 1)
        with jax.default_device(self.device):
            params = [
                (
                    jax.random.uniform(key, (n_in, n_out), jnp.float32, -limit, limit),
                    jnp.zeros((n_out,), jnp.float32),
                )
                for key, n_in, n_out, limit in zip(
                    keys, sizes[:-1], sizes[1:], initial_limits(self.workload), strict=True
                )
            ]
        # Committed to the device, as the step's outputs are: one compiled step serves every call.
        return jax.block_until_ready(jax.device_put(params, self.device))

    def warm_up(self, data: Data, rows: int) -> None:
        """Compile, outside the clock: one step of each batch shape of ``data``, and the prediction."""
        X, y = self._on_device(data)
        n, batch = data.X_train.shape[0], self.workload.batch_size
        params = self.build(0)
        state = self._initial_state(params)
        for m in {min(n, batch), n % batch} - {0}:
            params, state, _ = self._step(params, state, X, y, np.arange(m, dtype=np.int32))
        self.jax.block_until_ready((params, state))

    def train(self, model: Any, data: Data, epochs: int, seed: int) -> Any:
        X, y = self._on_device(data)
        n, batch = data.X_train.shape[0], self.workload.batch_size
        rng = np.random.default_rng(seed)
        params, state = model, self._initial_state(model)
        for _ in range(epochs):
            order = rng.permutation(n).astype(np.int32)
            for start in range(0, n, batch):
                params, state, _ = self._step(params, state, X, y, order[start : start + batch])
        return self.jax.block_until_ready(params)

    def accuracy(self, model: Any, X: F32, y: I64) -> float | None:
        logits = self._predict(model, self.jax.device_put(X, self.device))
        return float(np.mean(np.asarray(logits).argmax(axis=1) == y))
