"""The head of a tabular model, the network built for it, and a model file of ``backprop train`` read back.

A :class:`Head` says how a network's outputs relate to a table's target
(loss, output activation, units); :func:`choose_head` picks it from the
target and the ``loss``/``output`` asked for, :func:`build_network` builds
the network around it. A file that ``backprop train`` or
:class:`backprop.TabularModel` wrote is read back as a :class:`Model`
(network, metadata, preprocessing, head) by :func:`load_model`; chunks of
raw rows are predicted by :func:`predict_frame` and scored by
:func:`evaluate_frames` (:func:`evaluate_model` for a file).

Imports numpy, the network, the metrics and :mod:`backprop.tabular`'s public
names; neither click nor rich: :mod:`backprop.pipeline` and the CLI use it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import DataError, ModelFileError, ParameterError
from .layers import Dense, Dropout, Layer
from .losses import LOSSES
from .metrics import Confusion, RegressionSums, classification_summary
from .network import Network
from .schedules import Schedule
from .tabular import Frame, Preprocessor, as_text, iter_tables, parse_numbers

FloatArray = NDArray[np.floating[Any]]


class OptionsError(ParameterError):
    """The loss and output layer asked for cannot fit the target (``--loss``/``--output`` of ``backprop train``)."""


@dataclass(frozen=True)
class Head:
    """How the network's outputs relate to the target: loss, output activation, units.

    Classification: ``units`` is 1 (two classes, ``p`` of the second) or the
    number of classes. Regression: one identity (or other) unit per target.
    """

    task: str
    loss: str
    output: str
    units: int
    n_classes: int = 0

    def targets(self, y: NDArray[Any]) -> NDArray[Any]:
        """``y`` (class indices or scaled numbers, shape ``(n,)``) as ``fit`` and ``loss`` take it."""
        if self.task == "regression":
            return np.asarray(y, dtype=np.float32).reshape(-1, 1)
        if self.loss == "crossentropy":
            return np.asarray(y, dtype=np.int64)
        if self.units == 1:
            return np.asarray(y, dtype=np.float32).reshape(-1, 1)
        onehot = np.zeros((len(y), self.units), dtype=np.float32)
        onehot[np.arange(len(y)), np.asarray(y, dtype=np.int64)] = 1.0
        return onehot

    def probabilities(self, output: FloatArray) -> NDArray[np.float64]:
        """Class probabilities, shape ``(n, n_classes)``."""
        out: NDArray[np.float64] = np.asarray(output, dtype=np.float64)
        if self.units == 1:
            out = np.column_stack([1.0 - out[:, 0], out[:, 0]])
        elif self.output != "softmax":
            clipped = np.clip(out, 0.0, None)
            total = clipped.sum(axis=1, keepdims=True)
            out = np.divide(clipped, total, out=np.full_like(clipped, 1.0 / self.units), where=total > 0)
        return out

    def classes(self, output: FloatArray) -> NDArray[np.int64]:
        """The predicted class index of every row."""
        indices: NDArray[np.int64]
        if self.units == 1:
            indices = (np.asarray(output)[:, 0] >= 0.5).astype(np.int64)
        else:
            indices = np.asarray(output).argmax(axis=1).astype(np.int64)
        return indices


def choose_head(pre: Preprocessor, loss: str | None, output: str | None) -> Head:
    """The loss and output layer for the target, from ``--loss``/``--output`` or the defaults.

    Defaults: two classes → one sigmoid unit + binary_crossentropy; more →
    softmax + crossentropy; numbers → identity + mse.

    Raises
    ------
    OptionsError
        For a combination that cannot fit this target (the CLI makes it a usage error).
    """
    target = pre.target.name
    if pre.task == "regression":
        if loss not in (None, "mse"):
            raise OptionsError(
                f"--loss {loss} is for classes, but the target {target!r} holds numbers; "
                "use --loss mse, or --task classification"
            )
        if output == "softmax":
            raise OptionsError("--output softmax is for classes; the target holds numbers (use identity)")
        return Head("regression", "mse", output or "identity", 1)
    k = len(pre.classes)
    if loss is None:
        if output in (None, "sigmoid") and k == 2:
            loss = "binary_crossentropy"
        elif output in (None, "softmax"):
            loss = "crossentropy"
        elif output == "sigmoid":
            raise OptionsError(
                f"--output sigmoid with {k} classes needs --loss mse; or use --output softmax (crossentropy)"
            )
        else:
            raise OptionsError(
                f"--output {output} gives no class probabilities; use softmax or sigmoid for the classes of {target!r}"
            )
    if loss == "crossentropy":
        if output not in (None, "softmax"):
            raise OptionsError(f"--loss crossentropy needs --output softmax, got --output {output}")
        return Head("classification", loss, "softmax", k, k)
    if loss == "binary_crossentropy":
        if k != 2:
            raise OptionsError(
                f"--loss binary_crossentropy is for two classes; the target {target!r} has {k}: use crossentropy"
            )
        if output not in (None, "sigmoid"):
            raise OptionsError(f"--loss binary_crossentropy needs --output sigmoid, got --output {output}")
        return Head("classification", loss, "sigmoid", 1, k)
    units = 1 if k == 2 else k
    return Head("classification", "mse", output or ("sigmoid" if k == 2 else "softmax"), units, k)


#: ``hidden="auto"``: the first hidden layer twice as wide as the inputs, within these bounds; the second half as wide.
AUTO_WIDTHS = (64, 256)


def auto_hidden(n_inputs: int) -> list[int]:
    """``hidden="auto"``: ``[w, w // 2]`` with ``w = 2 · n_inputs`` clipped to :data:`AUTO_WIDTHS`.

    64,32 for up to 32 inputs; a wider table is not squeezed through a first
    layer narrower than itself (digits' 64 pixels: 128,64). Chosen on
    ``backprop bench --tabular`` (README, "Defaults measured").
    """
    low, high = AUTO_WIDTHS
    width = min(high, max(low, 2 * n_inputs))
    return [width, width // 2]


def build_network(n_inputs: int, hidden: list[int], activation: str, dropout: float, head: Head, seed: int) -> Network:
    """Dense hidden layers (each followed by Dropout when ``dropout``) and the head's output layer.

    Raises
    ------
    MemoryLimitError
        Before anything is allocated, when the parameters would not fit; the message names ``--hidden``.
    """
    from itertools import pairwise

    from ._memory import check_allocation
    from .errors import MemoryLimitError

    layers: list[Layer] = []
    for width in hidden:
        layers.append(Dense(width, activation))
        if dropout > 0:
            layers.append(Dropout(dropout))
    layers.append(Dense(head.units, head.output))
    widths = [n_inputs, *hidden, head.units]
    n_parameters = sum((n_in + 1) * n_out for n_in, n_out in pairwise(widths))
    outputs = f"{head.units:,} output{'s' * (head.units != 1)}"
    what = (
        f"--hidden {','.join(map(str, hidden)) or 'none'} ({n_inputs:,} inputs, {outputs}: {n_parameters:,} parameters)"
    )
    try:
        # Checked before anything is allocated: the parameters and their gradient, float32.
        check_allocation(2 * n_parameters * np.dtype(np.float32).itemsize, what)
        return Network(layers, inputs=n_inputs, seed=seed)
    except MemoryLimitError as exc:
        if str(exc).startswith("--hidden"):
            raise
        raise MemoryLimitError(f"{what}: {exc}", needed=exc.needed, available=exc.available) from None


def build_schedule(name: str, epochs: int, validation: bool) -> Schedule:
    """The learning-rate schedule ``--schedule`` names, with defaults fit for ``epochs``."""
    from .schedules import Constant, CosineDecay, ExponentialDecay, ReduceOnPlateau, StepDecay

    if name == "step":
        return StepDecay(step_size=max(1, epochs // 3), gamma=0.1)
    if name == "exponential":
        return ExponentialDecay(gamma=0.95)
    if name == "cosine":
        return CosineDecay(epochs=epochs)
    if name == "plateau":
        return ReduceOnPlateau(monitor="val_loss" if validation else "loss", patience=max(2, epochs // 10))
    return Constant()


# --------------------------------------------------------------------------- model files


@dataclass
class Model:
    """A model file as the tool uses it: network, metadata, preprocessing and head."""

    path: str
    net: Network
    metadata: dict[str, Any]
    pre: Preprocessor
    head: Head


def load_model(path: str) -> Model:
    """Read a model file written by ``backprop train`` and check its metadata against the network.

    Raises
    ------
    ModelFileError
        Naming the file and the broken field.
    """
    model, _net, _metadata = load_any_model(path)
    if model is None:
        raise ModelFileError(
            f"{path} has no 'preprocessing' metadata: it was not written by `backprop train`. "
            "Load it in Python with backprop.load, or train it with `backprop train`"
        )
    return model


def load_any_model(path: str) -> tuple[Model | None, Network, dict[str, Any]]:
    """Read any model file once: its :class:`Model` (None unless ``backprop train`` wrote it), network and metadata.

    One read: what is checked and what is used come from one version of the file.
    """
    from .io import load_with_metadata

    try:
        net, metadata = load_with_metadata(path)
    except ModelFileError as exc:
        if "training checkpoint" not in str(exc):
            raise
        raise ModelFileError(
            f"{path} is a training checkpoint, not a model file; finish the training with "
            f"`backprop train DATA --resume {path}`"
        ) from None
    if "preprocessing" not in metadata:
        return None, net, metadata
    return model_of(path, net, metadata), net, metadata


def model_of(path: str, net: Network, metadata: dict[str, Any]) -> Model:
    """The model of a file ``backprop train`` wrote, its metadata checked against its network."""
    pre = Preprocessor.from_dict(metadata["preprocessing"], where=path)
    if pre.n_inputs != net.n_inputs:
        raise ModelFileError(
            f"{path}: metadata field 'preprocessing' gives {pre.n_inputs} inputs but the network takes {net.n_inputs}"
        )
    loss = metadata.get("loss")
    if loss not in LOSSES:
        raise ModelFileError(f"{path}: metadata field 'loss' must be one of {sorted(LOSSES)}, got {loss!r}")
    output = net.layers[-1].activation.name
    units = net.n_outputs
    if pre.task == "classification":
        k = len(pre.classes)
        if units != k and not (units == 1 and k == 2):
            raise ModelFileError(
                f"{path}: metadata field 'preprocessing.target.classes' has {k} classes but the network has "
                f"{units} outputs"
            )
        head = Head("classification", str(loss), output, units, k)
    else:
        if units != 1:
            raise ModelFileError(f"{path}: a regression model must have 1 output, the network has {units}")
        head = Head("regression", str(loss), output, 1)
    return Model(path, net, metadata, pre, head)


# --------------------------------------------------------------------------- predictions and scores


def predict_frame(
    net: Network, pre: Preprocessor, head: Head, frame: Frame, notes: list[str] | None = None
) -> tuple[NDArray[Any], NDArray[np.float64] | None]:
    """The predictions for the raw rows of ``frame``, and the class probabilities.

    Arrays, not a Python value per row: ``backprop predict`` writes them a chunk at a time.

    Returns
    -------
    predictions : ndarray of shape (n_rows,)
        Classification: int64, the index in ``pre.classes`` of every row's class (its label as
        the target held it, a str or a number). Regression: float64, the number in the target's units.
    probabilities : ndarray of shape (n_rows, n_classes) or None
        None for regression.
    """
    return predict_inputs(net, pre, head, pre.transform(frame, notes=notes))


def predict_inputs(
    net: Network, pre: Preprocessor, head: Head, inputs: NDArray[np.float32]
) -> tuple[NDArray[Any], NDArray[np.float64] | None]:
    """:func:`predict_frame` for rows already transformed.

    Parameters
    ----------
    net, pre, head
        The model's network, preprocessing and head.
    inputs : ndarray of shape (n_rows, pre.n_inputs), float32
        What :meth:`Preprocessor.transform` made of the rows.

    Returns
    -------
    predictions : ndarray of shape (n_rows,)
    probabilities : ndarray of shape (n_rows, n_classes) or None
        As :func:`predict_frame`'s.
    """
    output = net.predict(inputs)
    if head.task == "classification":
        return head.classes(output), head.probabilities(output)
    return pre.target_values(output[:, 0]), None


def evaluate_frames(
    net: Network, pre: Preprocessor, head: Head, frames: Iterable[Frame], source: str
) -> tuple[dict[str, Any], list[str]]:
    """Metrics over chunks of rows that hold the target, and the notes gathered.

    The metrics are those of ``backprop evaluate --json``: ``rows``, ``loss``
    and, for classes, accuracy, per-class precision/recall/F1 and the
    confusion matrix; for numbers R², MAE and RMSE.

    Raises
    ------
    DataError
        For a missing target column, a missing target value (unless the model
        imputes) or no rows at all (``source`` names the data).
    """
    notes: list[str] = []
    # Sparse: one row of a 100,000-class model must not ask for a 75 GiB matrix.
    confusion = Confusion(head.n_classes) if head.task == "classification" else None
    sums = RegressionSums()
    loss_sum = 0.0
    n = 0
    dropped = 0
    for frame in pre.chunked(frames):
        if frame.n_rows == 0:
            continue
        if not pre.has_target(frame):
            raise DataError(
                f"{frame.source} has no target column {pre.target.name!r}; evaluate needs it "
                f"(the columns are {', '.join(repr(c) for c in frame.names[:12])})"
            )
        y, missing = pre.targets(frame)
        usable = ~missing
        if pre.impute == "drop":
            usable &= complete_rows(pre, frame)
        elif missing.any() and pre.impute is None:
            rows = np.flatnonzero(missing)
            raise DataError(
                f"{frame.source}: the target column {pre.target.name!r} has {len(rows)} missing values "
                f"(first at {frame.where(int(rows[0]))}); evaluate needs a target in every row"
            )
        if not usable.all():
            dropped += int((~usable).sum())
            keep = np.flatnonzero(usable)
            frame, y = frame.take(keep), y[keep]
            if frame.n_rows == 0:
                continue
        X = pre.transform(frame, notes=notes)
        output = net.predict(X)
        loss_sum += net.loss(X, head.targets(y), head.loss) * len(y)
        n += len(y)
        if confusion is not None:
            confusion.add(y, head.classes(output))
        else:
            sums.add(pre.target_values(y), pre.target_values(output[:, 0]))
    if n == 0:
        raise DataError(f"{source} has no rows to evaluate")
    if dropped:
        notes.append(f"left out {dropped} rows with missing values")
    loss = loss_sum / n
    if confusion is not None:
        return classification_summary(confusion, loss, pre.classes), notes
    return sums.summary(loss), notes


def evaluate_model(model: Model, data: str, *, header: bool | None = None) -> tuple[dict[str, Any], list[str]]:
    """Metrics of ``model`` on ``data`` (a file, a dataset name or ``-``), read chunk by chunk, and the notes."""
    stdin = sys.stdin.buffer if data == "-" else None
    frames = iter_tables(data, header=header, stdin=stdin)
    return evaluate_frames(model.net, model.pre, model.head, frames, data)


def complete_rows(pre: Preprocessor, frame: Frame) -> NDArray[np.bool_]:
    """Rows without a missing feature cell."""
    ok = np.ones(frame.n_rows, dtype=bool)
    for spec in pre.features:
        column = frame.column(spec.name)
        if spec.kind == "numeric":
            ok &= ~parse_numbers(column, frame.decimal_comma).missing
        else:
            ok &= ~as_text(column)[1]
    return ok


__all__ = [
    "AUTO_WIDTHS",
    "Head",
    "Model",
    "OptionsError",
    "auto_hidden",
    "build_network",
    "build_schedule",
    "choose_head",
    "complete_rows",
    "evaluate_frames",
    "evaluate_model",
    "load_any_model",
    "load_model",
    "model_of",
    "predict_frame",
]
