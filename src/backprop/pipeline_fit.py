"""What :class:`backprop.TabularModel` decides around ``fit``, and the test part's metrics.

- Early stopping: on by default when a validation split exists
  (:func:`early_stopping_callback`, patience :func:`default_patience`), the
  best epoch's parameters restored, and the record of which epoch was kept
  and why (:func:`early_stopping_record`) that the model file and
  ``backprop train`` show.
- Class weights given by label, as the user spells them, turned into the
  class indices ``fit`` takes (:func:`class_weight_indices`).
- The test part's metrics (:func:`evaluate_arrays`) and the plain JSON of
  the model file (:func:`plain_json`, :func:`flat_metrics`).

Imports numpy, the network, :mod:`backprop.callbacks` and :mod:`backprop.heads`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._validation import check_count, check_interval, shown
from .callbacks import EarlyStopping, History
from .errors import ParameterError
from .heads import Head
from .metrics import Confusion, RegressionSums, classification_summary
from .network import Network, predict_rows
from .tabular import Preprocessor

#: ``early_stopping="auto"``: on, with :func:`default_patience`, when a validation split exists.
AUTO = "auto"


def default_patience(epochs: int) -> int:
    """The patience of the default early stopping: ``max(10, epochs // 10)``.

    Ten epochs at least: the validation loss of a small table (a few dozen
    validation rows) is noisy from epoch to epoch, and scikit-learn's MLP
    waits ten (``n_iter_no_change``) too; a tenth of the epochs for long runs,
    whose improvements come slowly. The best epoch is restored, so waiting
    costs time only, never accuracy.
    """
    return max(10, epochs // 10)


def check_early_stopping(value: Any) -> None:
    """``early_stopping`` is ``"auto"``, None (off) or a patience >= 0."""
    if value is None or (isinstance(value, str) and value == AUTO):
        return
    if isinstance(value, str):
        raise ParameterError(f"early_stopping must be 'auto', None or a patience >= 0, got {shown(value)}")
    check_count(value, "early_stopping")


def early_stopping_callback(setting: int | str | None, epochs: int, validation: bool) -> EarlyStopping | None:
    """The EarlyStopping of a run (best weights restored), or None when it is off.

    ``"auto"`` stops only with a validation split, on ``val_loss``; a patience
    given stops on ``val_loss``, or on the training ``loss`` without validation.
    """
    if setting is None:
        return None
    if isinstance(setting, str):  # "auto"
        if not validation:
            return None
        return EarlyStopping(monitor="val_loss", patience=default_patience(epochs))
    return EarlyStopping(monitor="val_loss" if validation else "loss", patience=int(setting))


def early_stopping_record(
    early: EarlyStopping | None, history: History, epochs: int, monitor: str, default: bool
) -> dict[str, Any] | None:
    """What early stopping did, epochs counted from 1: the model file's ``training.early_stopping``.

    ``{"monitor", "patience", "default", "kept_epoch", "best", "epochs_run", "epochs",
    "stopped_epoch", "restored"}``: ``kept_epoch`` is the epoch whose parameters the
    model holds, ``best`` its ``monitor``; ``stopped_epoch`` is None when training ran
    to ``epochs``; ``restored`` says whether the kept epoch is not the last one run.
    None when early stopping was off.
    """
    if early is None:
        return None
    run = len(history)
    values = history.history.get(monitor, [])
    kept = run - 1 if early.best_epoch is None else int(early.best_epoch)  # never improved: nothing restored
    best = values[kept] if 0 <= kept < len(values) else math.nan
    return {
        "monitor": monitor,
        "patience": early.patience,
        "default": default,
        "kept_epoch": kept + 1,
        "best": float(best) if math.isfinite(best) else None,
        "epochs_run": run,
        "epochs": epochs,
        "stopped_epoch": None if early.stopped_epoch is None else int(early.stopped_epoch) + 1,
        "restored": kept != run - 1,
    }


def check_class_weight(value: Any) -> None:
    """``class_weight`` is None, ``"balanced"`` or a dict of label → finite weight >= 0."""
    if value is None or (isinstance(value, str) and value == "balanced"):
        return
    if not isinstance(value, Mapping):
        raise ParameterError(f"class_weight must be None, 'balanced' or a dict of label → weight, got {shown(value)}")
    for label, weight in value.items():
        check_interval(weight, f"class_weight[{str(label)!r}]", 0.0, None)


def class_weight_indices(
    class_weight: str | Mapping[Any, Any] | None, task: str, classes: Sequence[Any] | None
) -> str | dict[int, float] | None:
    """``class_weight`` by label (as the target spells them; ``str(label)`` too) → by class index, for ``fit``.

    Raises
    ------
    ParameterError
        For a regression target, an unknown label (the message names the known
        ones), a label given twice, or a weight that is not a finite number >= 0.
    """
    if class_weight is None:
        return None
    if task != "classification" or classes is None:
        raise ParameterError("class_weight is for classes; this target holds numbers (regression)")
    check_class_weight(class_weight)
    if isinstance(class_weight, str):
        return class_weight
    weights: dict[int, float] = {}
    for label, weight in class_weight.items():
        index = _class_index(classes, label)
        if index is None:
            known = ", ".join(repr(str(c)) for c in classes[:20]) + (", ..." if len(classes) > 20 else "")
            raise ParameterError(f"class_weight: no class {str(label)!r}; the classes are {known}")
        if index in weights:
            raise ParameterError(f"class_weight: class {str(classes[index])!r} is given twice")
        weights[index] = check_interval(weight, f"class_weight[{str(classes[index])!r}]", 0.0, None)
    return weights


def _class_index(classes: Sequence[Any], label: Any) -> int | None:
    """The index of the class ``label`` names: the same value, the same text, or the same number or truth
    as a CSV spells it (``1.0`` or ``1`` for the class 1, ``2.50`` for 2.5, ``true`` for True)."""
    exact = next((i for i, known in enumerate(classes) if type(known) is type(label) and known == label), None)
    if exact is not None:
        return exact
    text = str(label).strip()
    for index, known in enumerate(classes):
        if str(known) == text:
            return index
    for index, known in enumerate(classes):
        if isinstance(known, bool | np.bool_):
            if text.lower() in ("true", "false") and (text.lower() == "true") == bool(known):
                return index
        elif isinstance(known, int | float | np.number):
            try:
                number = float(text)
            except ValueError:
                continue
            if number == float(known):
                return index
    return None


def plain_json(value: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays as Python numbers and lists, non-finite floats as None."""
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain_json(value.tolist())
    if isinstance(value, np.generic):
        return plain_json(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def finite_history(history: Mapping[str, Sequence[float]]) -> dict[str, list[float | None]]:
    """The history's values, non-finite ones as None (JSON has no NaN)."""
    return {k: [float(v) if math.isfinite(v) else None for v in values] for k, values in history.items()}


def flat_metrics(metrics: Mapping[str, Any] | None) -> dict[str, int | float]:
    """The scalar metrics (no per-class table, no matrix)."""
    if not metrics:
        return {}
    return {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def evaluate_arrays(net: Network, head: Head, pre: Preprocessor, X: Any, y: NDArray[Any]) -> dict[str, Any]:
    """Test metrics, read in chunks of the rows ``predict`` computes at once: the same bits for an
    array in memory and a matrix on disk; one chunk's loss is :meth:`Network.loss` itself."""
    n = len(y)
    rows = predict_rows(net.layers, n, net.dtype)
    confusion = Confusion(head.n_classes) if head.task == "classification" else None
    sums = RegressionSums()
    loss_sum = 0.0
    for start in range(0, n, rows):
        X_part, y_part = np.asarray(X[start : start + rows]), y[start : start + rows]
        output = net.predict(X_part)
        part_loss = net.loss(X_part, head.targets(y_part), head.loss)
        loss_sum += part_loss * len(y_part)
        if confusion is not None:
            confusion.add(y_part, head.classes(output))
        else:
            sums.add(pre.target_values(y_part), pre.target_values(output[:, 0]))
    loss = part_loss if rows >= n else loss_sum / n
    if confusion is not None:
        return classification_summary(confusion, loss, pre.classes)
    return sums.summary(loss)


def model_html(model: Any) -> str:
    """A :class:`backprop.TabularModel` in a notebook: its settings until fitted; then the network
    with the columns' and classes' names (``_html.network_html``) and the test part's scalar metrics."""
    import html

    from ._html import network_html

    net: Network | None = getattr(model, "network_", None)
    if net is None:
        return f"<pre>{html.escape(repr(model))} (not fitted)</pre>"
    pre: Preprocessor = model.preprocessor_
    classes = pre.classes
    outputs = [str(label) for label in classes] if classes and len(classes) == net.sizes[-1] else None
    parts = [network_html(net, inputs=pre.input_names, outputs=outputs)]
    metrics = flat_metrics(model.test_metrics_)
    if metrics:
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{value:,}</td></tr>"
            if isinstance(value, int)
            else f"<tr><td>{html.escape(name)}</td><td>{value:.4f}</td></tr>"
            for name, value in metrics.items()
        )
        parts.append(f"<table><caption>test part</caption>{rows}</table>")
    return "".join(parts)


__all__ = [
    "AUTO",
    "check_class_weight",
    "check_early_stopping",
    "class_weight_indices",
    "default_patience",
    "early_stopping_callback",
    "early_stopping_record",
    "evaluate_arrays",
    "finite_history",
    "flat_metrics",
    "model_html",
    "plain_json",
]
