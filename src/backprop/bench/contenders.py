"""The contenders: backprop, PyTorch, scikit-learn and the GEMM limit, each built and trained the same way.

Each :class:`Contender` builds a fresh model (``build``), trains it on a
workload (``train``, the call that is timed) and reports its accuracy;
``warm_up`` runs before the timed rounds. JAX's contender is in
:mod:`~backprop.bench.jax_contender`. torch and scikit-learn come in as modules already imported by
:class:`backprop.bench.runners.Environment`.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np

from .workloads import F32, I64, Data, Workload


def _accuracy(predicted: Any, y: I64) -> float:
    return float(np.mean(np.asarray(predicted) == y))


class Contender:
    """Builds a fresh model, trains it (timed), measures its accuracy."""

    name = ""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload

    def build(self, seed: int) -> Any:
        raise NotImplementedError

    def warm_up(self, data: Data, rows: int) -> None:
        """Untimed: train a fresh model for one epoch on the first ``rows`` rows (a JIT compiles here)."""
        warm = Data(data.X_train[:rows], data.y_train[:rows], data.X_test, data.y_test)
        self.train(self.build(0), warm, 1, 0)

    def train(self, model: Any, data: Data, epochs: int, seed: int) -> Any:
        """Train ``model``; return the trained model, or None when it was trained in place."""
        raise NotImplementedError

    def accuracy(self, model: Any, X: F32, y: I64) -> float | None:
        raise NotImplementedError


class BackpropContender(Contender):
    name = "backprop"

    def warm_up(self, data: Data, rows: int) -> None:
        """Load the compiled kernels (a short warm-up run would keep the numpy path), then train as the others do."""
        from .. import _kernels

        _kernels.enabled(np.float32)
        super().warm_up(data, rows)

    def build(self, seed: int) -> Any:
        from ..layers import Dense
        from ..network import Network

        w = self.workload
        layers = [Dense(units, w.activation) for units in w.hidden] + [Dense(w.n_classes, "softmax")]
        return Network(layers, inputs=w.n_features, seed=seed, dtype=np.float32)

    def _optimizer(self) -> Any:
        from ..optimizers import SGD, Adam

        w = self.workload
        return Adam(w.lr) if w.optimizer == "adam" else SGD(w.lr, momentum=w.momentum)

    def train(self, model: Any, data: Data, epochs: int, seed: int) -> None:
        w = self.workload
        model.fit(
            data.X_train,
            data.y_train,
            loss="crossentropy",
            optimizer=self._optimizer(),
            epochs=epochs,
            batch_size=w.batch_size,
            shuffle=True,
            seed=seed,
        )

    def accuracy(self, model: Any, X: F32, y: I64) -> float | None:
        return _accuracy(model.predict(X).argmax(axis=1), y)


class TorchContender(Contender):
    name = "torch"

    def __init__(self, workload: Workload, torch: Any) -> None:
        super().__init__(workload)
        self.torch = torch

    def build(self, seed: int) -> Any:
        torch, w = self.torch, self.workload
        nn = torch.nn
        act = {"relu": nn.ReLU, "tanh": nn.Tanh}[w.activation]
        modules: list[Any] = []
        sizes = w.layers
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for i in range(len(sizes) - 1):
                modules.append(nn.Linear(sizes[i], sizes[i + 1]))
                if i < len(sizes) - 2:
                    modules.append(act())
            return nn.Sequential(*modules)

    def train(self, model: Any, data: Data, epochs: int, seed: int) -> None:
        torch, w = self.torch, self.workload
        if w.optimizer == "adam":
            opt = torch.optim.Adam(model.parameters(), lr=w.lr)
        else:
            opt = torch.optim.SGD(model.parameters(), lr=w.lr, momentum=w.momentum)
        criterion = torch.nn.CrossEntropyLoss()
        X = torch.from_numpy(data.X_train)
        y = torch.from_numpy(data.y_train)
        n, batch = X.shape[0], w.batch_size
        generator = torch.Generator().manual_seed(seed)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, batch):
                rows = order[start : start + batch]
                opt.zero_grad()
                loss = criterion(model(X[rows]), y[rows])
                loss.backward()
                opt.step()

    def accuracy(self, model: Any, X: F32, y: I64) -> float | None:
        model.eval()
        with self.torch.inference_mode():
            predicted = model(self.torch.from_numpy(X)).argmax(dim=1).numpy()
        return _accuracy(predicted, y)


class SklearnContender(Contender):
    name = "sklearn"

    def __init__(self, workload: Workload, sklearn_nn: Any, convergence_warning: type[Warning]) -> None:
        super().__init__(workload)
        self.nn = sklearn_nn
        self.convergence_warning = convergence_warning

    def build(self, seed: int) -> Any:
        return seed

    def train(self, model: Any, data: Data, epochs: int, seed: int) -> Any:
        w = self.workload
        solver: dict[str, Any] = (
            {"solver": "adam"}
            if w.optimizer == "adam"
            else {"solver": "sgd", "momentum": w.momentum, "nesterovs_momentum": False, "learning_rate": "constant"}
        )
        clf = self.nn.MLPClassifier(
            hidden_layer_sizes=w.hidden,
            activation=w.activation,
            learning_rate_init=w.lr,
            batch_size=w.batch_size,
            max_iter=epochs,
            shuffle=True,
            tol=0.0,
            n_iter_no_change=10**9,
            alpha=0.0,
            random_state=seed,
            **solver,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self.convergence_warning)
            clf.fit(data.X_train, data.y_train)
        return clf

    def accuracy(self, model: Any, X: F32, y: I64) -> float | None:
        return _accuracy(model.predict(X), y)


class GemmContender(Contender):
    """The matrix multiplications of the workload's steps alone (see the module docstring)."""

    name = "gemm"

    def build(self, seed: int) -> Any:
        w = self.workload
        rng = np.random.default_rng(seed)
        sizes, batch = w.layers, w.batch_size
        weights = [
            (rng.standard_normal((a, b), dtype=np.float32) / np.float32(math.sqrt(a)))
            for a, b in itertools.pairwise(sizes)
        ]
        grads_w = [np.empty_like(W) for W in weights]
        outputs = [np.empty((batch, b), np.float32) for b in sizes[1:]]
        grads_z = [rng.standard_normal((batch, b), dtype=np.float32) * np.float32(1e-3) for b in sizes[1:]]
        grads_x = [np.empty((batch, a), np.float32) for a in sizes[:-1]]
        return weights, grads_w, outputs, grads_z, grads_x

    def train(self, model: Any, data: Data, epochs: int, seed: int) -> None:
        weights, grads_w, outputs, grads_z, grads_x = model
        X, batch = data.X_train, self.workload.batch_size
        n, last = X.shape[0], len(weights) - 1
        for _ in range(epochs):
            for start in range(0, n, batch):
                x = X[start : start + batch]
                m = x.shape[0]
                a = x
                for W, out in zip(weights, outputs, strict=True):
                    a = np.matmul(a, W, out=out[:m])
                for l in range(last, -1, -1):
                    below = x if l == 0 else outputs[l - 1][:m]
                    g = grads_z[l][:m]
                    np.matmul(below.T, g, out=grads_w[l])
                    if l:
                        np.matmul(g, weights[l].T, out=grads_x[l][:m])

    def accuracy(self, model: Any, X: F32, y: I64) -> float | None:
        return None
