"""The training loop: epochs of mini-batches, each one forward pass, one
backward pass and one optimizer step on the flat parameter buffer.

Inputs and targets are checked and cast once per ``fit``; batches are
gathered into buffers allocated once, so a step allocates nothing that grows
with the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import check_positive_int, check_seed
from .errors import BackpropTypeError
from .losses import Loss
from .optimizers import SGD, Optimizer

if TYPE_CHECKING:
    from .network import Network


class Callback:
    """Hooks called by :func:`fit`; subclass and override what you need.

    ``on_epoch_end`` returns True to stop training after this epoch.
    """

    def on_train_begin(self, net: Network, logs: dict[str, Any]) -> None:
        """Called once before the first epoch; ``logs`` holds ``epochs`` and ``n_samples``."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool | None:
        """Called after every epoch (numbered from 0) with its metrics."""
        return None


class History:
    """What ``fit`` measured, epoch by epoch.

    Attributes
    ----------
    epoch : list of int
        The epochs run, numbered from 0.
    history : dict of str to list of float
        Per-epoch values, keyed by metric name (``"loss"``, ...).
    """

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    @property
    def loss(self) -> list[float]:
        """The training loss of every epoch (mean over its batches)."""
        return self.history.get("loss", [])

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        last = {k: round(v[-1], 6) for k, v in self.history.items() if v}
        return f"History(epochs={len(self)}, last={last})"


def fit(
    net: Network,
    X: Any,
    y: Any,
    loss: str | Loss = "mse",
    optimizer: Optimizer | None = None,
    epochs: int = 1,
    batch_size: int | None = 32,
    shuffle: bool = True,
    sample_weight: Any = None,
    seed: int | None = None,
    callbacks: Sequence[Callback] | None = (),
) -> History:
    """Train ``net`` in place by mini-batch gradient descent.

    Parameters
    ----------
    net : Network
    X : array_like of shape (n_samples, n_inputs)
    y : array_like of shape (n_samples, n_outputs) or (n_samples,)
    loss : {"mse", "binary_crossentropy", "crossentropy"} or Loss, default "mse"
    optimizer : Optimizer, default SGD(0.01)
    epochs : int, default 1
    batch_size : int or None, default 32
        Samples per step; None for full-batch, 1 for online learning. A value
        larger than the data is clipped to the data.
    shuffle : bool, default True
        Visit the samples in a new random order every epoch.
    sample_weight : array_like of shape (n_samples,), optional
    seed : int or None
        Seed of the shuffling; the same seed gives bit-identical training.
    callbacks : sequence of Callback

    Returns
    -------
    History
    """
    inputs, targets, loss_fn, weights = net._prepare(X, y, loss, sample_weight)
    net._check_parameters()
    if optimizer is None:
        optimizer = SGD(0.01)
    if not isinstance(optimizer, Optimizer):
        raise BackpropTypeError(f"optimizer must be a backprop Optimizer such as bp.SGD(0.1), got {optimizer!r}")
    epochs = check_positive_int(epochs, "epochs")
    n = inputs.shape[0]
    batch = n if batch_size is None else min(check_positive_int(batch_size, "batch_size"), n)
    rng = np.random.default_rng(check_seed(seed))
    callbacks = [callbacks] if isinstance(callbacks, Callback) else list(callbacks or ())
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise BackpropTypeError(f"callbacks must be backprop Callback instances, got {callback!r}")

    order = np.arange(n)
    batch_inputs = np.empty((batch, inputs.shape[1]), net.dtype)
    batch_targets = np.empty((batch, targets.shape[1]), net.dtype)
    # Each sample's weight relative to the mean weight: a mini-batch gradient
    # (1/m) Σ (wᵢ/w̄) ∂ℓᵢ/∂θ is then an unbiased estimate of the weighted-mean
    # gradient Σ wᵢ ∂ℓᵢ/∂θ / Σ w, and equals it for a full batch.
    relative = None if weights is None else (weights * (n / weights.sum(dtype=np.float64))).astype(net.dtype)
    batch_scale = np.empty((batch, 1), net.dtype)
    history = History()
    for callback in callbacks:
        callback.on_train_begin(net, {"epochs": epochs, "n_samples": n})

    for epoch in range(epochs):
        if shuffle:
            rng.shuffle(order)
        epoch_loss = 0.0
        for start in range(0, n, batch):
            rows = order[start : start + batch]
            m = rows.shape[0]
            xb = np.take(inputs, rows, axis=0, out=batch_inputs[:m])
            yb = np.take(targets, rows, axis=0, out=batch_targets[:m])
            ws = net._forward(xb)
            if relative is None:
                scale: Any = 1.0 / m
                epoch_loss += loss_fn.total(ws.z[-1], ws.a[-1], yb)
            else:
                scale = np.take(relative, rows, out=batch_scale[:m, 0])[:, None]
                epoch_loss += loss_fn.total(ws.z[-1], ws.a[-1], yb, scale[:, 0])
                scale /= m
            net._backward(ws, xb, yb, loss_fn, scale)
            optimizer.step(net.parameters, net.gradient)
        logs = {"loss": epoch_loss / n}
        history.append(epoch, logs)
        if any([bool(callback.on_epoch_end(epoch, logs)) for callback in callbacks]):
            break
    return history


__all__ = ["Callback", "History", "fit"]
