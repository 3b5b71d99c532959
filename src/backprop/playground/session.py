"""One playground: the data, the network, its training so far, and every number the page shows.

:class:`Session` is what the web app drives, and what a script or a test may
drive without it. Each call checks its arguments (a :class:`ParameterError`
naming the setting, the rule and the value), runs under the session's lock
(the web server calls it from several threads), and returns plain JSON
values. The numbers come from the library: training is :meth:`Network.fit`
one epoch at a time, the losses :meth:`Network.loss`, a neuron's ``z``,
``a``, ``f'``, ``δ`` and ``ΔW`` :func:`backprop.explain`, the gradient check
:func:`backprop.gradcheck`; the page only draws and prints them.
"""

from __future__ import annotations

import base64
import math
import os
import tempfile
import threading
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import BackpropError, DataError, MissingDependencyError, ParameterError
from ..explain import Trace, explain
from ..gradcheck import gradcheck
from ..io import save
from ..layers import Dense
from ..losses import get_loss
from ..metrics import confusion_matrix, correct, per_class
from ..network import Network
from ..optimizers import SGD
from ..textbook import forward_pass
from .data import GENERATORS, MAX_CLASSES, PlaneData, Table, from_table, generate

# Bounds on what one request may ask for: the page redraws after every request.
MAX_LAYERS = 6
MAX_NEURONS = 16
MAX_STEPS = 1000
MAX_EPOCHS = 100_000
MAX_SAMPLES = 2_000_000
"""The most training rows one request passes through (steps × rows): a request holds the session."""
BOUNDARY_GRID = 50
"""Cells per side of the decision boundary's heat map."""
NEURON_GRID = 20
"""Cells per side of each neuron's picture."""
CURVE_POINTS = 500
"""The most points of a loss curve sent to the page."""
GRADCHECK_ROWS = 8
"""Training rows the gradient check differentiates (the chosen sample first)."""

ACTIVATIONS = ("tanh", "relu", "sigmoid", "identity", "leaky_relu", "elu", "softplus")
LOSSES = ("mse", "binary_crossentropy", "crossentropy")
TWO_CLASS_LOSSES = ("mse", "binary_crossentropy")
"""The losses of two classes (one sigmoid output); 3 or more classes: k softmax outputs and crossentropy."""
SETTINGS = (
    "dataset", "noise", "train_ratio", "hidden", "activation", "learning_rate", "batch_size",
    "regularization", "loss", "seed", "plane",
)  # fmt: skip
SEED_OUTPUT, SEED_FUSED, SEED_HIDDEN = "δᵒ = (y − ŷ) f′(h)", "δᵒ = y − ŷ", "δʰ = W δᵒ f′(h)"
"""The seed's words for the error terms (δᵒ = y − ŷ where the output is its loss's own: f' cancels)."""
TRAINING_SETTINGS = ("learning_rate", "batch_size", "regularization")
"""Settings that change how the next steps train, not the network: the weights are kept."""


@dataclass(frozen=True)
class Config:
    """The playground's settings (see :data:`SETTINGS`); ``dataset`` is ``"table"`` for a user's table.

    ``loss=None`` is the data's own: ``"mse"`` for two classes (one sigmoid
    output), ``"crossentropy"`` for 3 or more (k softmax outputs, the only
    loss offered for them). A session's config always names its loss.
    """

    dataset: str = "moons"
    noise: float = 0.1
    train_ratio: float = 0.5
    hidden: tuple[int, ...] = (4, 2)
    activation: str = "tanh"
    learning_rate: float = 0.03
    batch_size: int = 10
    regularization: float = 0.0
    loss: str | None = None
    seed: int = 0
    plane: tuple[int, int] = (0, 1)

    def to_json(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in SETTINGS}
        return {**values, "hidden": list(self.hidden), "plane": list(self.plane)}


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ParameterError(f"{name} must be a number in [{low:g}, {high:g}], got {name}={value!r}")
    if not low <= value <= high:
        raise ParameterError(f"{name} must be in [{low:g}, {high:g}], got {name}={value!r}")
    return float(value)


def _integer(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ParameterError(f"{name} must be an integer in [{low}, {high}], got {name}={value!r}")
    return int(value)


def _choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ParameterError(f"unknown {name} {value!r}; expected one of {list(choices)}")
    return str(value)


def losses_for(n_classes: int) -> tuple[str, ...]:
    """The losses offered for ``n_classes`` classes, the default first."""
    return TWO_CLASS_LOSSES if n_classes == 2 else ("crossentropy",)


def checked_config(config: Config, changes: Any, has_table: bool, n_inputs: int, table_classes: int = 2) -> Config:
    """``config`` with ``changes`` (a JSON object of settings) applied, every value checked.

    ``table_classes`` is the table's class count (the built-in sets have two).
    A loss that does not fit the new data's classes is refused when
    ``changes`` asks for it, else replaced by the data's default (a change of
    dataset brings its own loss).

    Raises
    ------
    ParameterError
        An unknown setting or a value out of its range (the message names both).
    """
    if not isinstance(changes, dict):
        raise ParameterError(f"the settings must be a JSON object, got {type(changes).__name__}")
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise ParameterError(f"unknown setting {unknown[0]!r}; expected any of {list(SETTINGS)}")
    new: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "dataset":
            new[name] = _choice(value, "dataset", (*GENERATORS, "table") if has_table else tuple(GENERATORS))
        elif name == "noise":
            new[name] = _number(value, name, 0.0, 0.5)
        elif name == "train_ratio":
            new[name] = _number(value, name, 0.1, 0.9)
        elif name == "hidden":
            if not isinstance(value, list) or len(value) > MAX_LAYERS:
                raise ParameterError(
                    f"hidden must be a list of at most {MAX_LAYERS} layer widths, got hidden={value!r}"
                )
            new[name] = tuple(_integer(v, "each hidden layer's width", 1, MAX_NEURONS) for v in value)
        elif name == "activation":
            new[name] = _choice(value, "activation", ACTIVATIONS)
        elif name == "learning_rate":
            new[name] = _number(value, name, 1e-6, 10.0)
            if new[name] <= 0:
                raise ParameterError(f"learning_rate must be > 0, got learning_rate={value!r}")
        elif name == "batch_size":
            new[name] = _integer(value, name, 1, 100_000)
        elif name == "regularization":
            new[name] = _number(value, name, 0.0, 1.0)
        elif name == "loss":
            new[name] = None if value is None else _choice(value, "loss", LOSSES)
        elif name == "seed":
            new[name] = _integer(value, name, 0, 2**32 - 1)
        else:  # plane
            if not isinstance(value, list) or len(value) != 2:
                raise ParameterError(f"plane must be a list of two input columns, got plane={value!r}")
            a, b = (_integer(v, "each plane column", 0, n_inputs - 1) for v in value)
            if a == b:
                raise ParameterError(f"plane needs two different input columns, got plane={value!r}")
            new[name] = (a, b)
    result = replace(config, **new)
    k = table_classes if result.dataset == "table" else 2
    offered = losses_for(k)
    if result.loss not in offered:
        if new.get("loss") is not None:
            raise ParameterError(
                f"loss={result.loss!r} does not fit {k} classes: two classes have one sigmoid output "
                f"(loss {' or '.join(TWO_CLASS_LOSSES)}), 3 to {MAX_CLASSES} classes have k softmax outputs "
                f"trained with crossentropy; expected one of {list(offered)}"
            )
        result = replace(result, loss=offered[0])
    return result


def _pixels(values: np.ndarray[Any, Any], low: float, high: float) -> str:
    """A picture's cells as base64 bytes, ``low`` → 0 and ``high`` → 255 (a colour, not a number shown)."""
    scaled = np.clip((np.nan_to_num(values, nan=low) - low) / (high - low), 0.0, 1.0)
    return base64.b64encode(np.round(scaled * 255).astype(np.uint8).tobytes()).decode("ascii")


def _boundary(output: np.ndarray[Any, Any]) -> dict[str, Any]:
    """The decision boundary's picture from the network's output over the grid, row by row from the top.

    One sigmoid output: ``pixels``, ŷ as bytes (0 → 0, 1 → 255). k softmax
    outputs: ``classes``, each cell's predicted class index as a byte, and
    ``confidence``, that class's probability as a byte (0 → 0, 1 → 255).
    """
    if output.shape[1] == 1:
        return {"size": BOUNDARY_GRID, "pixels": _pixels(output[:, 0], 0.0, 1.0)}
    classes = np.nan_to_num(output, nan=0.0).argmax(axis=1)
    chosen = output[np.arange(output.shape[0]), classes]
    return {
        "size": BOUNDARY_GRID,
        "classes": base64.b64encode(classes.astype(np.uint8).tobytes()).decode("ascii"),
        "confidence": _pixels(chosen, 0.0, 1.0),
    }


def _shown(value: float) -> str:
    """A number as :func:`backprop.explain` prints it (numpy, 8 digits of precision)."""
    return np.array2string(np.asarray(value, dtype=np.float64), precision=8)


def _entry(value: float) -> dict[str, Any]:
    """A number for the page: its exact value and its text."""
    return {"value": float(value) if math.isfinite(value) else None, "text": _shown(value)}


def _vector(values: np.ndarray[Any, Any]) -> dict[str, Any]:
    """A row for the page: its exact values and its text, as :func:`backprop.explain` prints it."""
    return {"value": [_finite(v) for v in values.tolist()], "text": np.array2string(values, precision=8)}


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def _thin(values: list[Any]) -> list[Any]:
    """At most :data:`CURVE_POINTS` of ``values``, evenly spaced, the first and the last included."""
    if len(values) <= CURVE_POINTS:
        return list(values)
    picked = np.unique(np.linspace(0, len(values) - 1, CURVE_POINTS).round().astype(np.int64))
    return [values[i] for i in picked]


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dataclass
class _Curves:
    epoch: list[int] = field(default_factory=list)
    loss: list[float | None] = field(default_factory=list)
    test_loss: list[float | None] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)
    test_accuracy: list[float | None] = field(default_factory=list)


class Session:
    """The state of one playground: data, network, epochs trained, curves.

    Parameters
    ----------
    table : Table, optional
        A user's table (:func:`backprop.playground.data.read_table`); the
        session then starts on it (``dataset="table"``).
    config : Config, optional

    Notes
    -----
    Every public method takes the session's lock: the web app calls them
    from a thread pool. The same settings and the same number of steps give
    the same bits, however the steps are split into requests: epoch ``e`` is
    one :meth:`Network.fit` epoch whose shuffling is seeded by ``(seed, e)``.
    """

    def __init__(self, table: Table | None = None, config: Config | None = None) -> None:
        self.table = table
        self._lock = threading.Lock()
        start = Config(dataset="table") if table is not None else Config()
        # A given config is checked as the page's changes are: the same bounds, the same messages.
        n_inputs = len(table.input_names) if table is not None else 2
        changes = {} if config is None else config.to_json()
        self.config = checked_config(start, changes, table is not None, n_inputs, self._table_classes)
        self._rebuild()

    @property
    def _table_classes(self) -> int:
        return 2 if self.table is None else len(self.table.class_names)

    @property
    def n_classes(self) -> int:
        """The classes of the data in use: 2 (one sigmoid output) or 3 to 8 (as many softmax outputs)."""
        return len(self.data.class_names)

    @property
    def loss(self) -> str:
        """The loss in force (the config's, which a session always names)."""
        return self.config.loss or losses_for(self.n_classes)[0]

    def __repr__(self) -> str:
        return f"Session(dataset={self.config.dataset!r}, hidden={list(self.config.hidden)}, epoch={self.epoch})"

    # ------------------------------------------------------------------ building

    def _rebuild(self) -> None:
        config = self.config
        if config.dataset == "table":
            if self.table is None:  # checked_config allows "table" only with one
                raise ParameterError("dataset='table' needs a table: Session(table=read_table(...))")
            self.data: PlaneData = from_table(self.table, config.plane, config.train_ratio, config.seed)
        else:
            self.data = generate(config.dataset, config.noise, config.train_ratio, config.seed)
        k = len(self.data.class_names)
        output = Dense(1, "sigmoid") if k == 2 else Dense(k, "softmax")  # as backprop.heads.choose_head
        layers = [Dense(width, config.activation) for width in config.hidden] + [output]
        self.net = Network(layers, inputs=self.data.X_train.shape[1], seed=config.seed, dtype=np.float64)
        self.epoch = 0
        self.curves = _Curves()
        self._measure()

    def _targets(self, y: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        # As backprop.heads.Head.targets: two classes a (n, 1) column of 0/1, more the class indices (n,).
        if self.n_classes == 2:
            return y.astype(np.float64)[:, None]
        return y.astype(np.int64)

    def _metrics(self, X: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> tuple[float, float]:
        targets = self._targets(y)
        loss = self.net.loss(X, targets, self.loss)
        if self.n_classes == 2:
            # fit's own count: one yes/no output, right where (ŷ ≥ ½) is the label.
            return loss, correct(self.net.predict(X), targets, multilabel=True) / X.shape[0]
        # fit's own count for softmax outputs: right where the argmax is the class.
        onehot = np.eye(self.n_classes)[y]
        return loss, correct(self.net.predict(X), onehot, multilabel=False) / X.shape[0]

    def _measure(self) -> None:
        data, curves = self.data, self.curves
        loss, accuracy = self._metrics(data.X_train, data.y_train)
        test_loss, test_accuracy = self._metrics(data.X_test, data.y_test)
        curves.epoch.append(self.epoch)
        curves.loss.append(_finite(loss))
        curves.accuracy.append(accuracy)
        curves.test_loss.append(_finite(test_loss))
        curves.test_accuracy.append(test_accuracy)

    # ------------------------------------------------------------------ changing

    def configure(self, changes: Any) -> dict[str, Any]:
        """Apply settings (any subset of :data:`SETTINGS`) and return the state.

        Changing only ``learning_rate``, ``batch_size`` or ``regularization``
        keeps the weights and the epochs; any other setting rebuilds the data
        and the network from the seed (epoch 0).
        """
        with self._lock:
            new = checked_config(
                self.config, changes, self.table is not None, len(self.data.input_names), self._table_classes
            )
            if new.plane != self.config.plane and self.table is None:
                raise ParameterError("plane chooses two columns of a table; the built-in sets have only two inputs")
            rebuild = any(
                getattr(new, name) != getattr(self.config, name) for name in SETTINGS if name not in TRAINING_SETTINGS
            )
            self.config = new
            if rebuild:
                self._rebuild()
            return self._state()

    def reset(self) -> dict[str, Any]:
        """New weights from the seed, epoch 0, the same settings; the state."""
        with self._lock:
            self._rebuild()
            return self._state()

    def step(self, steps: Any = 1) -> dict[str, Any]:
        """Train ``steps`` epochs (1 to :data:`MAX_STEPS`) and return the state.

        Each epoch is one call of :meth:`Network.fit` (SGD with the learning
        rate, mini-batches of ``batch_size``, ``l2`` = ``regularization``),
        shuffled by a seed drawn from ``(seed, epoch)``.

        Raises
        ------
        ParameterError
            ``steps`` out of range, or more than :data:`MAX_SAMPLES` rows a request.
        DivergenceError, DataError
            The loss stopped being finite, or the weights overflow: the failed
            epoch is undone (the epochs before it are kept).
        """
        steps = _integer(steps, "steps", 1, MAX_STEPS)
        with self._lock:
            rows = self.data.X_train.shape[0]
            if steps * rows > MAX_SAMPLES:  # a request holds the session: a bounded one
                raise ParameterError(
                    f"steps={steps} over {rows:,} training rows is more than {MAX_SAMPLES:,} rows a request; "
                    f"at most {MAX_SAMPLES // rows:,} steps at a time"
                )
            if self.epoch + steps > MAX_EPOCHS:
                raise ParameterError(f"the playground trains at most {MAX_EPOCHS:,} epochs; press reset")
            config, data = self.config, self.data
            targets = self._targets(data.y_train)
            for _ in range(steps):
                shuffle_seed = int(np.random.SeedSequence([config.seed, self.epoch]).generate_state(1)[0])
                before, epoch = self.net.parameters.copy(), self.epoch
                try:
                    self.net.fit(
                        data.X_train, targets, loss=self.loss, optimizer=SGD(config.learning_rate), epochs=1,
                        batch_size=config.batch_size, l2=config.regularization, seed=shuffle_seed,
                    )  # fmt: skip
                    self.epoch += 1
                    self._measure()  # appends to the curves only once every number is computed
                except BackpropError:
                    # The whole failed epoch is undone (a divergence, or weights that overflow on the way):
                    # the state stays the one the page shows.
                    self.net.parameters[...] = before
                    self.epoch = epoch
                    raise
            return self._state()

    # ------------------------------------------------------------------ reading

    def state(self) -> dict[str, Any]:
        """Everything the page draws.

        Returns
        -------
        dict
            ``epoch``, ``loss``, ``accuracy``, ``test_loss``,
            ``test_accuracy`` (exact floats; ``texts`` holds them as the
            page prints them), ``config``, ``choices`` (the settings' values
            and bounds), ``network`` (``sizes``, ``weights``, ``biases``,
            ``activations``, ``input_names``), ``plane`` (the drawn columns
            and ``domain``), ``boundary`` (over a ``size × size`` grid: ŷ as
            ``pixels`` for two classes; for k classes each cell's predicted
            class index as ``classes`` and its probability as ``confidence``)
            and ``neurons`` (each input's and neuron's output over a smaller
            grid, a softmax output its own probability; all as base64 bytes,
            0 to 255, for colours only), ``points`` (``train`` and ``test``
            rows ``[u, v, class index]``, ``class_names``) and ``curves``
            (``epoch``, ``loss``, ``test_loss``); ``choices["loss"]`` the
            losses offered for the data's classes.
        """
        with self._lock:
            return self._state()

    def _state(self) -> dict[str, Any]:
        data, net, curves = self.data, self.net, self.curves
        grid = data.grid(BOUNDARY_GRID)
        small = data.grid(NEURON_GRID)
        layers = net.dense_layers
        _, outputs = forward_pass(
            [layer.W for layer in layers], [layer.b for layer in layers], [layer.activation for layer in layers], small
        )
        # Each input's picture is its value over the plane, scaled to the plane's extent.
        x0, x1, y0, y1 = data.domain
        spans = [(x0, x1) if i == data.plane[0] else (y0, y1) if i == data.plane[1] else (-1.0, 1.0)
                 for i in range(small.shape[1])]  # fmt: skip
        neurons = [[_pixels(small[:, i], *spans[i]) for i in range(small.shape[1])]]
        for layer, a in zip(layers, outputs, strict=True):
            # A probability (sigmoid, or each softmax output's own) spans 0 to 1; the others -1 to 1.
            low, high = (0.0, 1.0) if layer.activation.name in ("sigmoid", "softmax") else (-1.0, 1.0)
            neurons.append([_pixels(a[:, j], low, high) for j in range(a.shape[1])])
        plane = list(data.plane)
        return {
            "epoch": self.epoch,
            "loss": curves.loss[-1],
            "accuracy": curves.accuracy[-1],
            "test_loss": curves.test_loss[-1],
            "test_accuracy": curves.test_accuracy[-1],
            "config": self.config.to_json(),
            "choices": {
                "dataset": [*GENERATORS, *(["table"] if self.table is not None else [])],
                "activation": list(ACTIVATIONS),
                "loss": list(losses_for(self.n_classes)),
                "limits": {"layers": MAX_LAYERS, "neurons": MAX_NEURONS, "steps": MAX_STEPS},
            },
            "table": None if self.table is None else {"source": self.table.source, "target": self.table.target},
            "network": {
                "sizes": net.sizes,
                "input_names": data.input_names,
                "weights": [layer.W.tolist() for layer in layers],
                "biases": [None if layer.b is None else layer.b.tolist() for layer in layers],
                "activations": [layer.activation.name for layer in layers],
            },
            "plane": {"columns": plane, "names": [data.input_names[i] for i in plane], "domain": list(data.domain)},
            "boundary": _boundary(net.predict(grid)),
            "neurons": {"size": NEURON_GRID, "pixels": neurons},
            "points": {
                "train": np.column_stack([data.X_train[:, plane], data.y_train]).tolist(),
                "test": np.column_stack([data.X_test[:, plane], data.y_test]).tolist(),
                "class_names": list(data.class_names),
            },
            # At most CURVE_POINTS points a curve (the first and the last always): a picture, not a table.
            "curves": {
                "epoch": _thin(curves.epoch),
                "loss": _thin(curves.loss),
                "test_loss": _thin(curves.test_loss),
            },
            "texts": {
                "loss": _shown(np.nan if curves.loss[-1] is None else curves.loss[-1]),
                "test_loss": _shown(np.nan if curves.test_loss[-1] is None else curves.test_loss[-1]),
                "accuracy": _percent(curves.accuracy[-1]),
                "test_accuracy": _percent(curves.test_accuracy[-1]),
            },
        }

    def sample(self, index: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Training sample ``index``: its inputs ``x`` (n_inputs,) and target ``y`` (1,).

        ``y`` is ŷ's target for two classes (0.0 or 1.0), the class index (int64) for more:
        :func:`backprop.explain` takes either.
        """
        index = _integer(index, "sample", 0, self.data.X_train.shape[0] - 1)
        return self.data.X_train[index], self._targets(self.data.y_train[index : index + 1])[0]

    def explain(self, index: Any = 0) -> Trace:
        """:func:`backprop.explain` of training sample ``index`` on the current network."""
        with self._lock:
            x, y = self.sample(index)
            return explain(self.net, x, y, learning_rate=self.config.learning_rate, loss=self.loss)

    def trace(self, index: Any = 0) -> dict[str, Any]:
        """Every number of one step on training sample ``index``, per neuron and per edge.

        Returns
        -------
        dict
            ``sample``, ``epoch``, ``x``, ``y`` and ``prediction`` (numbers for
            two classes, rows of k for k classes: ``y`` one-hot), ``y_class``
            (the sample's class name), ``loss_value``, ``learning_rate``,
            ``html`` (the trace's tables, :meth:`Trace.to_html`), ``explain``
            (:meth:`Trace.to_dict`), and ``layers``: per layer ``index``,
            ``is_output``, ``activation``, ``seed`` (the seed's words for its
            error term), ``jacobian`` (f' is softmax's Jacobian: a neuron's
            ``fprime`` is its diagonal entry), ``formulas`` (quantity name →
            the seed's formula), ``neurons`` (``z``, ``a``, ``f'``, ``δ``,
            ``Δb`` each ``{"value", "text"}``) and ``edges`` (``[i][j]``:
            ``w``, ``input``, ``ΔW``).
        """
        with self._lock:
            return self._trace(index)

    def _trace(self, index: Any) -> dict[str, Any]:
        x, y = self.sample(index)
        trace = explain(self.net, x, y, learning_rate=self.config.learning_rate, loss=self.loss)
        # explain's own rule: with its loss's output (sigmoid + binary_crossentropy, softmax +
        # crossentropy) f' cancels and the seed's output error term is y − ŷ.
        fused = get_loss(self.loss).is_fused(self.net.dense_layers[-1].activation)
        layers = []
        for layer in trace.layers:
            below = layer.input[0]
            # softmax's f' is a Jacobian (1, k, k): a neuron's own entry is its diagonal ∂ŷⱼ/∂zⱼ.
            own = np.diagonal(layer.derivative, axis1=1, axis2=2) if layer.derivative.ndim == 3 else layer.derivative
            neurons = [
                {
                    "z": _entry(layer.z[0, j]),
                    "a": _entry(layer.output[0, j]),
                    "fprime": _entry(own[0, j]),
                    "delta": _entry(layer.error_term[0, j]),
                    "bias": None if layer.bias is None else _entry(layer.bias[j]),
                    "db": None if layer.bias_delta is None else _entry(layer.bias_delta[j]),
                }
                for j in range(layer.z.shape[1])
            ]
            edges = [
                [
                    {
                        "w": _entry(layer.weights[i, j]),
                        "input": _entry(below[i]),
                        "dW": _entry(layer.weight_delta[i, j]),
                    }
                    for j in range(layer.z.shape[1])
                ]
                for i in range(below.shape[0])
            ]
            layers.append(
                {
                    "index": layer.index,
                    "is_output": layer.is_output,
                    "activation": layer.activation,
                    "jacobian": layer.derivative.ndim == 3,
                    "seed": (SEED_FUSED if fused else SEED_OUTPUT) if layer.is_output else SEED_HIDDEN,
                    "formulas": {q.name: q.formula for q in [*layer.forward, *layer.backward]},
                    "neurons": neurons,
                    "edges": edges,
                }
            )
        return {
            "sample": int(index),
            "epoch": self.epoch,
            "x": [_entry(v) for v in x],
            # Two classes: y and ŷ are numbers; k: y is the one-hot row explain makes of the class index.
            "y": _entry(y[0]) if self.n_classes == 2 else _vector(trace.y[0]),
            "y_class": self.data.class_names[int(self.data.y_train[int(index)])],
            "prediction": _entry(trace.prediction[0, 0]) if self.n_classes == 2 else _vector(trace.prediction[0]),
            "loss_value": _entry(trace.loss_value),
            "learning_rate": trace.learning_rate,
            "learning_rate_text": repr(trace.learning_rate),  # as explain's headline prints η
            "network": trace.sizes,
            "loss": trace.loss,
            "html": trace.to_html(),
            "explain": trace.to_dict(),  # the whole trace as explain gives it, for scripts
            "layers": layers,
        }

    def check_gradient(self, index: Any = 0) -> dict[str, Any]:
        """:func:`backprop.gradcheck` on up to :data:`GRADCHECK_ROWS` training rows from sample ``index``."""
        with self._lock:
            start = _integer(index, "sample", 0, self.data.X_train.shape[0] - 1)
            rows = slice(start, start + GRADCHECK_ROWS)
            X, y = self.data.X_train[rows], self._targets(self.data.y_train[rows])
            report = gradcheck(self.net, X, y, loss=self.loss)
            return {
                "passed": report.passed,
                "rows": int(X.shape[0]),
                "max_rel_error": _finite(report.max_rel_error),
                "max_scaled_error": _finite(report.max_scaled_error),
                "tolerance": report.tolerance,
                "text": str(report),
            }

    # ------------------------------------------------------------------ downloads

    def model_bytes(self) -> bytes:
        """The network as a model file (:func:`backprop.save`: safetensors and its JSON document)."""
        with self._lock, tempfile.TemporaryDirectory(prefix="backprop-playground-") as folder:
            path = os.path.join(folder, "model.safetensors")
            metadata = {
                "playground": {**self.config.to_json(), "epoch": self.epoch, "class_names": list(self.data.class_names)}
            }
            save(self.net, path, metadata=metadata)
            with open(path, "rb") as file:
                return file.read()

    def onnx_bytes(self) -> bytes:
        """The network as an ONNX model (needs the ``onnx`` extra)."""
        try:
            from ..onnx import to_onnx
        except ImportError as error:  # pragma: no cover - the package imports onnx lazily
            raise MissingDependencyError(
                f"ONNX export needs the onnx package ({error}); install it with: pip install 'backprop[onnx]'"
            ) from error
        with self._lock:
            model = to_onnx(self.net)
        return bytes(model.SerializeToString())

    def report_html(self) -> str:
        """:func:`backprop.report.render_report` of the network, its curves and sample 0's trace."""
        try:
            from ..report import render_report
        except ImportError as error:
            raise MissingDependencyError(
                f"the HTML report needs matplotlib ({error}); install it with: pip install 'backprop[plot]'"
            ) from error
        with self._lock:
            data, curves, config = self.data, self.curves, self.config
            history = {"loss": curves.loss[1:], "val_loss": curves.test_loss[1:],
                       "accuracy": curves.accuracy[1:], "val_accuracy": curves.test_accuracy[1:]}  # fmt: skip
            if any(v is None for values in history.values() for v in values):
                raise DataError("the loss is not finite at some epoch: press reset before writing the report")
            plane, center = data.plane, data.center

            def transform(points: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
                inputs = np.tile(center, (points.shape[0], 1))
                inputs[:, list(plane)] = points
                return inputs

            x, y = self.sample(0)
            # The test part's counts by class, named as the user's table names them.
            output = self.net.predict(data.X_test)
            predicted = (output[:, 0] >= 0.5).astype(np.int64) if self.n_classes == 2 else output.argmax(axis=1)
            matrix = confusion_matrix(data.y_test, predicted, self.n_classes)
            labels = list(data.class_names)
            return render_report(
                net=self.net,
                history=history,  # type: ignore[arg-type]
                metrics={"loss": _or_nan(curves.test_loss[-1]), "accuracy": _or_nan(curves.test_accuracy[-1])},
                data_summary={
                    "dataset": config.dataset if self.table is None else self.table.source,
                    "task": "binary classification"
                    if self.n_classes == 2
                    else f"{self.n_classes}-class classification",
                    "training rows": int(data.X_train.shape[0]),
                    "test rows": int(data.X_test.shape[0]),
                    "inputs": data.input_names,
                },
                hyperparameters={**config.to_json(), "epochs": self.epoch, "optimizer": "sgd"},
                confusion=(matrix, labels),
                per_class=per_class(matrix, labels),
                points=(data.X_test[:, list(plane)], data.y_test),
                transform=transform,
                trace=explain(self.net, x, y, learning_rate=config.learning_rate, loss=self.loss),
                title="backprop playground",
                input_names=data.input_names,
                output_names=[data.class_names[1]] if self.n_classes == 2 else list(data.class_names),
            )


__all__ = ["ACTIVATIONS", "Config", "Session", "checked_config"]
