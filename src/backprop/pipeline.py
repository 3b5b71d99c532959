"""The tabular model: what ``backprop train`` does, as a Python object the CLI drives.

:class:`TabularModel` reads a table (a CSV/Parquet/``.npz`` path or a dataset name, a pandas DataFrame, a pyarrow
Table or a dict of columns), fits the preprocessing of its text and numeric columns, chooses the head from the target,
trains the network and keeps preprocessing and network together: ``predict`` takes raw rows, ``save`` writes one model
file (the format of ``backprop train -o``), :meth:`TabularModel.load` reads either back.

:func:`run_training` is ``backprop train``'s run on top of it: the options
(:class:`TrainOptions`), resuming from a checkpoint with the preprocessing it
was trained with, and the record of the run (:class:`TrainResult`) that the
command prints and :func:`model_metadata` stores.

Imports numpy, the network, :mod:`backprop.heads` and
:mod:`backprop.tabular`'s public names; neither click nor rich.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from ._validation import check_interval, check_positive, check_positive_int, check_seed, shown
from .activations import ACTIVATIONS
from .dataframes import frame_of
from .errors import BackpropTypeError, ParameterError
from .heads import Head, auto_hidden, build_network, build_schedule, choose_head, evaluate_frames, load_model
from .losses import LOSSES
from .network import Network
from .optimizers import OPTIMIZERS, get_optimizer
from .pipeline_fit import (
    AUTO,
    check_class_weight,
    check_early_stopping,
    class_weight_indices,
    early_stopping_callback,
    early_stopping_record,
    evaluate_arrays,
    finite_history,
    flat_metrics,
    model_html,
    plain_json,
)
from .preprocessing import NotFittedError
from .schedules import SCHEDULES
from .tabular import (
    IMPUTE,
    TASKS,
    Frame,
    Prepared,
    Preprocessor,
    check_held_out,
    iter_tables,
    prepare_training,
    read_table,
)
from .tabular.cache import CachedData, Progress, prepared_data, read_rows, use_cache
from .tabular.prepare import Plan
from .training import Callback, History

logger = logging.getLogger(__name__)

#: Version of the ``"cli"`` entry ``backprop train`` writes into checkpoints.
CLI_STATE_VERSION = 1

#: The hyper-parameters of :class:`TabularModel`, in the order of ``backprop train``'s options.
PARAMS = (
    "task",
    "hidden",
    "activation",
    "output",
    "loss",
    "optimizer",
    "lr",
    "schedule",
    "epochs",
    "batch_size",
    "validation",
    "early_stopping",
    "dropout",
    "l2",
    "class_weight",
    "seed",
    "standardize",
    "impute",
    "missing_category",
    "test_size",
)
#: The hyper-parameters that choose the preprocessing (:func:`~backprop.tabular.prepare_training`'s options).
PREPARING = ("task", "impute", "missing_category", "standardize", "test_size", "seed")


# --------------------------------------------------------------------------- the model


def _frames(table: Any, header: bool | None) -> tuple[str, Iterable[Frame]]:
    """What names ``table`` in messages, and its chunks: a file read in chunks, anything else whole."""
    if isinstance(table, str | os.PathLike):
        source = os.fspath(table)
        return source, iter_tables(source, header=header)
    frame = frame_of(table)
    return frame.source, [frame]


def _is_auto(hidden: Any) -> bool:
    """``hidden="auto"`` (an array of widths is not compared element by element)."""
    return isinstance(hidden, str) and hidden == "auto"


class TabularModel:
    """A network for a table: preprocessing of text and numeric columns, head and network, in one object.

    What ``backprop train`` does, for Python: ``fit`` reads a table, one-hot
    encodes its text columns and standardizes its numbers, chooses the output
    layer and loss from the target (two classes → one sigmoid unit and binary
    crossentropy, more → softmax and crossentropy, numbers → identity and
    mse), holds out a test part and trains. ``predict`` takes raw rows.

    Parameters
    ----------
    task : {"classification", "regression"} or None, default None
        None: text or few integer values are classes, other numbers regression.
    hidden : sequence of int or "auto", default "auto"
        Hidden layer widths (empty: none); "auto" is 64,32, and for a table
        of more than 32 input columns (after one-hot encoding) ``[w, w/2]``
        with ``w`` twice the inputs, at most 256 (:func:`backprop.heads.auto_hidden`).
    activation : str, default "relu"
        Activation of the hidden layers.
    output, loss : str or None, default None
        Output activation and loss [default: by target, as above].
    optimizer : str, default "adam"
    lr : float or None, default None
        Learning rate [default: the optimizer's].
    schedule : {"constant", "step", "exponential", "cosine", "plateau"}, default "constant"
    epochs : int, default 50
    batch_size : int, default 32
    validation : float in [0, 1), default 0.1
        Share of the training rows held out for the validation curves.
    early_stopping : "auto", int or None, default "auto"
        Stop after this many epochs without improvement of the validation loss
        (of the training loss without validation), the best epoch's parameters
        restored. ``"auto"``: with a validation split, a patience of
        ``max(10, epochs // 10)``; without one, off. None: off.
    dropout : float in [0, 1), default 0.0
    l2 : float, default 0.0
        L2 penalty on the weights.
    class_weight : "balanced", dict of class label to weight, or None, default None
        Weights of the classes in the loss: ``"balanced"`` weighs each by
        ``n_rows / (n_classes * its rows)``; a dict by label (as the target
        holds them, or their text: ``{"sun": 3}``), others 1.
    seed : int, default 0
        Seeds the split, the network and the batches: the same seed, the same model bit for bit.
    standardize : bool, default True
        Scale numeric columns (and a numeric target).
    impute : {"mean", "median", "drop"} or None, default None
        Fill missing values, or drop their rows [default: a missing value is an error].
    missing_category : bool, default False
        A missing cell of a text column is a category of its own, ``(missing)``.
    test_size : float in [0, 1), default 0.2
        Share of the rows held out for the final test (stratified); ``test_metrics_`` scores it.

    Attributes
    ----------
    network_ : Network
    preprocessor_ : Preprocessor
        Turns raw rows into network inputs (``preprocessor_.input_names`` names them).
    head_ : Head
        Task, loss, output activation and units.
    history_ : History
        Per-epoch metrics of the training run (every epoch run, after the kept one too).
    classes_ : ndarray of shape (n_classes,)
        The class labels, as the target held them (classification only).
    feature_names_in_ : list of str
        The columns the model reads.
    test_metrics_ : dict or None
        The metrics of the held-out test part (as :meth:`evaluate` gives them); None without one.
    training_ : dict
        What the run was: data, rows, epochs run, seconds, learning rate, options,
        and ``early_stopping``: which epoch was kept and why (see
        :func:`~backprop.pipeline_fit.early_stopping_record`; None when off).
    notes_ : list of str
        What reading and preprocessing decided that the user should know.

    Examples
    --------
    >>> import backprop as bp
    >>> table = {"colour": ["red", "blue"] * 20, "size": [1.0, 2.0] * 20, "kind": ["a", "b"] * 20}
    >>> model = bp.TabularModel(hidden=[8], epochs=30, seed=0).fit(table, target="kind")
    >>> model.predict({"colour": ["blue"], "size": [2.0]}).tolist()
    ['b']
    """

    def __init__(
        self,
        *,
        task: str | None = None,
        hidden: Sequence[int] | str = "auto",
        activation: str = "relu",
        output: str | None = None,
        loss: str | None = None,
        optimizer: str = "adam",
        lr: float | None = None,
        schedule: str = "constant",
        epochs: int = 50,
        batch_size: int = 32,
        validation: float = 0.1,
        early_stopping: int | str | None = AUTO,
        dropout: float = 0.0,
        l2: float = 0.0,
        class_weight: str | Mapping[Any, float] | None = None,
        seed: int = 0,
        standardize: bool = True,
        impute: str | None = None,
        missing_category: bool = False,
        test_size: float = 0.2,
    ) -> None:
        self.task = task
        self.hidden = hidden
        self.activation = activation
        self.output = output
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.schedule = schedule
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation = validation
        self.early_stopping = early_stopping
        self.dropout = dropout
        self.l2 = l2
        self.class_weight = class_weight
        self.seed = seed
        self.standardize = standardize
        self.impute = impute
        self.missing_category = missing_category
        self.test_size = test_size
        self._stored: dict[str, Any] | None = None  # the metadata of a loaded file, saved back as it was

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters, as given to the constructor."""
        return {name: getattr(self, name) for name in PARAMS}

    def __repr__(self) -> str:
        default = TabularModel()
        changed = [f"{n}={getattr(self, n)!r}" for n in PARAMS if getattr(self, n) != getattr(default, n)]
        return f"TabularModel({', '.join(changed)})"

    # ------------------------------------------------------------ fitting

    def fit(
        self,
        table: Any,
        target: str | int | None = None,
        *,
        features: Sequence[str] | None = None,
        ignore: Sequence[str] | None = None,
        header: bool | None = None,
        callbacks: Sequence[Callback] = (),
        notes: Callable[[str], None] | None = None,
        out_of_core: bool | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        progress: Progress | None = None,
    ) -> Self:
        """Fit the preprocessing and train the network on ``table``.

        Parameters
        ----------
        table : str, path-like, pandas DataFrame, pyarrow Table or dict of columns
            The rows, target included (see :func:`~backprop.dataframes.frame_of`).
        target : str or int, optional
            The target column, by name or 0-based index; default the last column.
        features : sequence of str, optional
            The feature columns; default every other column.
        ignore : sequence of str, optional
            Columns left out of the default features (ids, free text).
        header : bool or None
            For a CSV file: whether its first row names the columns (None detects it).
        callbacks : sequence of Callback
            Passed to :meth:`Network.fit` after the early-stopping one.
        notes : callable, optional
            Receives each note as it arises (they are also kept in ``notes_``
            and logged at INFO level).
        out_of_core, cache_dir, progress
            A file, folder or glob is prepared in bounded memory into the cache
            (``cache_dir``, see :func:`~backprop.tabular.cache.prepared_data`), same bits, when
            ``out_of_core`` or, for None, when it is large (:func:`~backprop.tabular.cache.use_cache`).

        Returns
        -------
        TabularModel
            ``self``, fitted.

        Raises
        ------
        ParameterError
            For a hyper-parameter outside its rule, or a loss and output that cannot fit the target.
        DataError
            For a table that cannot be trained on (the message names the column or row).
        """
        self._check_params()
        name = None if target is None else str(target)
        prepared: Prepared | CachedData
        if isinstance(table, str | os.PathLike) and use_cache(os.fspath(table), out_of_core):
            source, how = os.fspath(table), {"header": header, "cache_dir": cache_dir, "progress": progress}
            prepared = self._cached(source, name, features, ignore, **how)
        else:
            frame = frame_of(table, header=header)
            source = frame.source
            prepared = self._prepare(frame, name, features, ignore)
        self.notes_ = list(prepared.notes)
        for message in prepared.notes:
            logger.info("%s", message)
            if notes is not None:
                notes(message)
        pre = prepared.preprocessor
        self._train(source, prepared, pre, prepared.X_train, prepared.y_train, callbacks=callbacks, resume_from=None)
        given = {"target": target, "features": features, "ignore": list(ignore or []), "header": header}
        self.training_["options"] = plain_json({**given, **self.get_params()})
        self.test_metrics_ = None
        if len(prepared.y_test):
            self.test_metrics_ = evaluate_arrays(self.network_, self.head_, pre, prepared.X_test, prepared.y_test)
        return self

    def _repr_html_(self) -> str:
        """Jupyter's view: the network in the columns' names and the test metrics (``pipeline_fit.model_html``)."""
        return model_html(self)

    def _check_params(self) -> None:
        if self.task is not None and self.task not in TASKS:
            raise ParameterError(f"task must be one of {list(TASKS)} or None, got task={shown(self.task)}")
        if not _is_auto(self.hidden):
            if isinstance(self.hidden, str) or not isinstance(self.hidden, Sequence):
                raise ParameterError(
                    f"hidden must be a sequence of layer widths or 'auto', got hidden={shown(self.hidden)}"
                )
            for width in self.hidden:
                check_positive_int(width, "hidden widths")
        for name, names in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES), ("activation", ACTIVATIONS)):
            if getattr(self, name) not in names:
                raise ParameterError(f"{name} must be one of {sorted(names)}, got {name}={shown(getattr(self, name))}")
        if self.loss is not None and self.loss not in LOSSES:
            raise ParameterError(f"loss must be one of {sorted(LOSSES)} or None, got loss={shown(self.loss)}")
        if self.output is not None and self.output not in ACTIVATIONS:
            raise ParameterError(
                f"output must be one of {sorted(ACTIVATIONS)} or None, got output={shown(self.output)}"
            )
        if self.impute is not None and self.impute not in IMPUTE:
            raise ParameterError(f"impute must be one of {list(IMPUTE)} or None, got impute={shown(self.impute)}")
        if not isinstance(self.missing_category, bool | np.bool_):
            raise ParameterError(f"missing_category must be True or False, got {shown(self.missing_category)}")
        if self.lr is not None:
            check_positive(self.lr, "lr")
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        check_early_stopping(self.early_stopping)
        check_class_weight(self.class_weight)  # the labels are checked against the classes once they are known
        for name in ("validation", "dropout", "test_size"):
            check_interval(getattr(self, name), name, 0.0, 1.0)
        check_interval(self.l2, "l2", 0.0, None)
        if check_seed(self.seed) is None:
            raise ParameterError("seed must be a non-negative integer, got seed=None")

    def _prepare(
        self, frame: Frame, target: str | None, features: Sequence[str] | None, ignore: Sequence[str] | None
    ) -> Prepared:
        """Choose the columns, split off the test part and fit the preprocessing (:func:`prepare_training`)."""
        chosen = {name: getattr(self, name) for name in PREPARING}
        return prepare_training(frame, target=target, features=features, ignore=list(ignore or []), **chosen)

    def _cached(self, source: str, target: str | None, features: Any, ignore: Any, **how: Any) -> CachedData:
        """:meth:`_prepare` into the on-disk cache (:func:`prepared_data`); ``how``: header, cache_dir, progress."""
        chosen = {name: getattr(self, name) for name in PREPARING}
        return prepared_data(source, target=target, features=features, ignore=list(ignore or []), **chosen, **how)

    def _train(
        self,
        source: str,
        prepared: Prepared | Plan | CachedData,
        pre: Preprocessor,
        X_train: Any,
        y_train: NDArray[Any],
        *,
        callbacks: Sequence[Callback],
        resume_from: str | tuple[Network, dict[str, Any]] | None,
        while_fitting: contextlib.AbstractContextManager[None] | None = None,
        fit: Callable[..., History] | None = None,
    ) -> None:
        """Choose the head, build the network and train it on the training rows; set the fitted attributes."""
        head = choose_head(pre, self.loss, self.output)
        hidden = auto_hidden(pre.n_inputs) if _is_auto(self.hidden) else [int(width) for width in self.hidden]
        net = build_network(pre.n_inputs, hidden, self.activation, self.dropout, head, self.seed)
        optimizer = get_optimizer(self.optimizer, lr=self.lr)
        learning_rate = float(optimizer.lr)
        validation = self.validation if self.validation > 0 else None
        if validation is not None:
            # fit holds the validation rows out of the training rows by the same rule: said in --validation's terms.
            n_groups = len(np.unique(y_train)) if pre.task == "classification" else 1
            check_held_out(source, validation, len(y_train), n_groups, option="--validation", part="validation")
        schedule = build_schedule(self.schedule, self.epochs, validation is not None)
        early = early_stopping_callback(self.early_stopping, self.epochs, validation is not None)
        class_weight = class_weight_indices(self.class_weight, pre.task, pre.classes)
        weighted: dict[str, Any] = {} if class_weight is None else {"class_weight": class_weight}  # fit=: none
        began = time.perf_counter()
        train = net.fit if fit is None else partial(fit, net, prepared=prepared, pre=pre)
        with while_fitting or contextlib.nullcontext():
            history = train(
                X_train,
                head.targets(y_train),
                loss=head.loss,
                optimizer=optimizer,
                epochs=self.epochs,
                batch_size=self.batch_size,
                validation=validation,
                l2=self.l2,
                schedule=schedule,
                callbacks=[*([early] if early is not None else []), *callbacks],
                seed=self.seed,
                resume_from=resume_from,
                **weighted,
            )
        seconds = time.perf_counter() - began
        self.network_, self.preprocessor_, self.head_, self.history_ = net, pre, head, history
        self._stored = None
        self.stopped_early_ = early is not None and early.stopped_epoch is not None
        self.training_: dict[str, Any] = {
            "data": source,
            "rows": prepared.n_rows,
            "train_rows": len(prepared.rows_train),
            "test_rows": len(prepared.rows_test),
            "dropped_rows": prepared.n_dropped,
            "epochs_run": len(history),
            "stopped_early": self.stopped_early_,
            "early_stopping": early_stopping_record(
                early, history, self.epochs, "val_loss" if validation else "loss", self.early_stopping == AUTO
            ),
            "class_weight": plain_json(self.class_weight),
            "seconds": seconds,
            "learning_rate": learning_rate,
            "options": {},
        }

    # ------------------------------------------------------------ using

    @property
    def classes_(self) -> NDArray[Any]:
        """The class labels (classification only), sorted as the network's outputs are."""
        self._check_fitted()
        if self.head_.task != "classification":
            raise AttributeError("classes_: this TabularModel predicts numbers (regression), not classes")
        return np.asarray(self.preprocessor_.classes)

    @property
    def feature_names_in_(self) -> list[str]:
        """The columns the model reads, in order."""
        self._check_fitted()
        return [spec.name for spec in self.preprocessor_.features]

    @property
    def n_features_in_(self) -> int:
        """The number of columns the model reads."""
        return len(self.feature_names_in_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError(
                "This TabularModel is not fitted yet; call fit(table, target=...) first, "
                "or read a fitted one with TabularModel.load(path)"
            )

    def _outputs(self, table: Any, header: bool | None) -> NDArray[Any]:
        """The network's outputs for every raw row of ``table``, read chunk by chunk."""
        self._check_fitted()
        pre = self.preprocessor_
        _source, frames = _frames(table, header)
        notes: list[str] = []
        parts = [self.network_.predict(pre.transform(frame, notes=notes)) for frame in pre.chunked(frames)]
        for message in dict.fromkeys(notes):
            logger.info("%s", message)
        if not parts:
            return np.zeros((0, self.network_.n_outputs), dtype=self.network_.dtype)
        return np.concatenate(parts)

    def predict(self, table: Any, *, header: bool | None = None) -> NDArray[Any]:
        """The prediction for every row of ``table`` (raw columns; the target may be absent).

        Parameters
        ----------
        table : str, path-like, pandas DataFrame, pyarrow Table or dict of columns
            See :func:`~backprop.dataframes.frame_of`. A file is read in chunks.
        header : bool or None
            For a CSV file: whether its first row names the columns.

        Returns
        -------
        ndarray of shape (n_rows,)
            Classification: the class labels, as the target held them (strings
            stay strings). Regression: the numbers, in the target's units.
        """
        output = self._outputs(table, header)
        if self.head_.task == "classification":
            result: NDArray[Any] = self.classes_[self.head_.classes(output)]
            return result
        return self.preprocessor_.target_values(output[:, 0])

    def predict_proba(self, table: Any, *, header: bool | None = None) -> NDArray[np.float64]:
        """Class probabilities of every row, shape ``(n_rows, n_classes)``, columns in the order of ``classes_``.

        Raises
        ------
        ParameterError
            For a regression model.
        """
        self._check_fitted()
        if self.head_.task != "classification":
            raise ParameterError("predict_proba is for classifiers; this TabularModel predicts numbers")
        return self.head_.probabilities(self._outputs(table, header))

    def evaluate(self, table: Any, *, header: bool | None = None) -> dict[str, Any]:
        """Score the model on ``table``, which holds the target column.

        Returns
        -------
        dict
            The metrics ``backprop evaluate --json`` prints: ``rows``, ``loss``
            and, for classes, ``accuracy``, macro averages, ``per_class`` and
            ``confusion_matrix``; for numbers ``r2``, ``mae`` and ``rmse``.
        """
        self._check_fitted()
        source, frames = _frames(table, header)
        metrics, notes = evaluate_frames(self.network_, self.preprocessor_, self.head_, frames, source)
        for message in notes:
            logger.info("%s", message)
        return metrics

    # ------------------------------------------------------------ files

    def __backprop_save__(self) -> tuple[Network, dict[str, Any]]:
        """The network and the metadata :func:`backprop.save` stores: the format of ``backprop train -o``."""
        self._check_fitted()
        if self._stored is not None:
            return self.network_, self._stored
        pre, test = self.preprocessor_, self.test_metrics_
        metadata = {
            "preprocessing": pre.to_dict(),
            "task": pre.task,
            "loss": self.head_.loss,
            "target": pre.target.name,
            "classes": pre.classes if pre.task == "classification" else None,
            "feature_names": [f.name for f in pre.features],
            "input_names": pre.input_names,
            "history": finite_history(self.history_.history),
            "training": self.training_,
            "metrics": {"test": plain_json(flat_metrics(test)) if test else None},
        }
        return self.network_, metadata

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model (preprocessing and network) to one file, atomically; ``bp.save(model, path)`` too.

        ``backprop predict``, ``evaluate``, ``explain`` and ``export`` read it as
        a file of ``backprop train``.
        """
        from .io import save

        save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TabularModel:
        """A fitted TabularModel from a file written by :meth:`save` or ``backprop train``.

        Raises
        ------
        ModelFileError
            For a file of a bare network (no preprocessing), a checkpoint, or a broken one.
        """
        stored = load_model(os.fspath(path))
        training = stored.metadata.get("training")
        options = training.get("options") if isinstance(training, dict) else None
        defaults = cls().get_params()
        given = {k: v for k, v in options.items() if k in defaults} if isinstance(options, dict) else {}
        try:
            model = cls(**given)
            model._check_params()
        except (BackpropTypeError, ParameterError, TypeError):  # hyper-parameters are a record: keep the defaults
            model = cls()
        history = History()
        raw = stored.metadata.get("history")
        for key, values in raw.items() if isinstance(raw, dict) else ():
            if isinstance(values, list):
                history.history[str(key)] = [math.nan if v is None else float(v) for v in values]
        history.epoch = list(range(max(map(len, history.history.values()), default=0)))
        model.network_, model.preprocessor_, model.head_, model.history_ = stored.net, stored.pre, stored.head, history
        model.training_ = training if isinstance(training, dict) else {}
        metrics = stored.metadata.get("metrics")
        test = metrics.get("test") if isinstance(metrics, dict) else None
        model.test_metrics_ = test if isinstance(test, dict) else None
        model.stopped_early_ = bool(model.training_.get("stopped_early", False))
        model.notes_ = []
        model._stored = stored.metadata
        return model


# --------------------------------------------------------------------------- `backprop train`'s run


#: ``train`` options stored in a checkpoint and taken from it on ``--resume`` when not given again.
RESUMABLE = ("target", "features", "ignore", *PARAMS, "header", "out", "report")
#: Options that may differ from the checkpoint's when resuming.
CHANGEABLE = ("epochs", "out", "report")


@dataclass
class TrainOptions:
    """Everything ``backprop train`` (and ``demo``) needs to train, as plain values."""

    data: str
    target: str | None = None
    features: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    task: str | None = None
    hidden: list[int] | str = "auto"
    activation: str = "relu"
    output: str | None = None
    loss: str | None = None
    optimizer: str = "adam"
    lr: float | None = None
    schedule: str = "constant"
    epochs: int = 50
    batch_size: int = 32
    validation: float = 0.1
    early_stopping: int | str | None = AUTO  # "auto": on with a validation split; None: off
    dropout: float = 0.0
    l2: float = 0.0
    class_weight: str | dict[str, float] | None = None  # "balanced" or by label as the user spells it
    seed: int = 0
    standardize: bool = True
    impute: str | None = None
    missing_category: bool = False
    test_size: float = 0.2
    header: bool | None = None
    out: str = "model.safetensors"
    report: str | None = None
    out_of_core: bool | None = None  # None: by size (:func:`use_cache`); how, not what: not stored
    cache_dir: str | None = None

    def resumable(self) -> dict[str, Any]:
        return {name: plain_json(getattr(self, name)) for name in RESUMABLE}


@dataclass
class TrainResult:
    """What a training run produced; ``model`` is the fitted :class:`TabularModel`. ``frame`` is the
    table in memory, None out of core (``prepared`` is then a :class:`~backprop.tabular.cache.CachedData`)."""

    options: TrainOptions
    model: TabularModel
    frame: Frame | None
    prepared: Prepared | CachedData
    pre: Preprocessor
    head: Head
    net: Network
    history: History
    seconds: float
    learning_rate: float
    test: dict[str, Any] | None
    interrupted: bool
    stopped_early: bool
    notes: list[str]

    def kept_rows(self, limit: int | None = None) -> Frame:
        """The rows trained or tested on (not those dropped), as read; out of the cache at most
        ``limit`` of them, spread evenly over the source and read again in one streaming pass."""
        rows = np.sort(np.concatenate([self.prepared.rows_train, self.prepared.rows_test]))
        if self.frame is not None:
            return self.frame.take(rows)
        if limit is not None and len(rows) > limit:
            rows = np.unique(rows[np.linspace(0, len(rows) - 1, limit).astype(np.int64)])
        return read_rows(self.options.data, rows, header=self.options.header)


def default_checkpoint(out: str) -> str:
    """Where ``train -o OUT`` saves a checkpoint when stopped: OUT with ``.ckpt``."""
    base, suffix = os.path.splitext(out)
    return (base if suffix else out) + ".ckpt"


def _reapply(pre: Preprocessor, frame: Frame, rows: NDArray[np.int64]) -> tuple[NDArray[np.float32], NDArray[Any]]:
    part = frame.take(rows)
    X = pre.transform(part)
    y, _ = pre.targets(part)
    return X, (y.astype(np.int64) if pre.task == "classification" else y.astype(np.float32))


def _ignore_note(_message: str) -> None:
    pass


def run_training(
    options: TrainOptions,
    *,
    resume: str | None = None,
    resume_state: dict[str, Any] | None = None,
    resume_checkpoint: tuple[Network, dict[str, Any]] | None = None,
    callbacks: Sequence[Callback] = (),
    cli_state: dict[str, Any] | None = None,
    while_fitting: contextlib.AbstractContextManager[None] | None = None,
    notes: Callable[[str], None] = _ignore_note,
    progress: Progress | None = None,
    fit: Callable[..., History] | None = None,
) -> TrainResult:
    """Read the data, fit the preprocessing, build and train the network, measure the test part.

    Writes nothing itself (a callback may write a checkpoint). ``cli_state`` receives what a checkpoint needs to
    resume the run (the ``"cli"`` entry: data, options and preprocessing) before training starts. A run stopped by a
    callback mid-way (Ctrl-C) is ``interrupted`` and has no test metrics. ``while_fitting`` is entered around
    :meth:`Network.fit` alone (the CLI's stop-signal handlers). A source prepared into the on-disk cache
    (``options.out_of_core``, :func:`use_cache`) reports its passes to ``progress(stage, rows_done, rows_total)``.
    ``fit(net, X, y, prepared=, pre=, **Network.fit's options)`` replaces :meth:`Network.fit` (``backprop train
    --scheduler``: :mod:`backprop.distributed`).
    """
    model, o = TabularModel(**{name: getattr(options, name) for name in PARAMS}), options
    how = {"header": o.header, "cache_dir": o.cache_dir, "progress": progress}
    cached = partial(model._cached, o.data, o.target, o.features, o.ignore, **how)
    frame = None if use_cache(o.data, o.out_of_core) else read_table(o.data, header=o.header)
    prepared = cached() if frame is None else model._prepare(frame, o.target, o.features, o.ignore)
    for message in prepared.notes:
        notes(message)
    pre = prepared.preprocessor
    X_train, y_train, X_test, y_test = prepared.X_train, prepared.y_train, prepared.X_test, prepared.y_test
    if resume_state is not None:
        stored = Preprocessor.from_dict(resume_state["preprocessing"], where=f"{resume}: cli")
        if stored.to_dict() != pre.to_dict():
            notes(f"{options.data} gives other statistics than the checkpoint's data; keeping the checkpoint's")
            pre = stored
            if frame is None:  # the same rows, transformed by the checkpoint's preprocessing: another entry
                again = cached(preprocessor=stored)
                X_train, y_train, X_test, y_test = again.X_train, again.y_train, again.X_test, again.y_test
            else:
                X_train, y_train = _reapply(pre, frame, prepared.rows_train)
                X_test, y_test = _reapply(pre, frame, prepared.rows_test)
    if cli_state is not None:
        cli_state.update(
            version=CLI_STATE_VERSION, data=options.data, options=options.resumable(), preprocessing=pre.to_dict()
        )
    resume_from = resume_checkpoint if resume_checkpoint is not None else resume
    fitting: dict[str, Any] = {"callbacks": callbacks, "resume_from": resume_from, "while_fitting": while_fitting}
    model._train(o.data if frame is None else frame.source, prepared, pre, X_train, y_train, **fitting, fit=fit)
    model.notes_ = list(prepared.notes)
    model.training_.update(data=options.data, options=options.resumable())
    history = model.history_
    interrupted = len(history) < options.epochs and not model.stopped_early_
    test = None
    if len(y_test) and not interrupted:
        test = evaluate_arrays(model.network_, model.head_, pre, X_test, y_test)
    model.test_metrics_ = test
    seconds, learning_rate = float(model.training_["seconds"]), float(model.training_["learning_rate"])
    return TrainResult(
        *(options, model, frame, prepared, pre, model.head_, model.network_, history, seconds, learning_rate),
        *(test, interrupted, model.stopped_early_, prepared.notes),
    )


def model_metadata(result: TrainResult) -> dict[str, Any]:
    """The JSON metadata ``train`` stores with the network."""
    return result.model.__backprop_save__()[1]


__all__ = [
    "CHANGEABLE",
    "CLI_STATE_VERSION",
    "PARAMS",
    "PREPARING",
    "RESUMABLE",
    "TabularModel",
    "TrainOptions",
    "TrainResult",
    "default_checkpoint",
    "flat_metrics",
    "model_metadata",
    "plain_json",
    "run_training",
]
