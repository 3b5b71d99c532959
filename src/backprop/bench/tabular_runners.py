"""``backprop bench --tabular``: backprop's default tabular training against scikit-learn on real tables.

The defaults measured, not assumed (issue 19): tables that ship inside pip packages (nothing is
downloaded at run time) go through the code ``backprop train DATA`` runs
(:func:`backprop.pipeline.run_training` with :class:`~backprop.pipeline.TrainOptions`' defaults) and
through two scikit-learn contenders built as a fair user would, on the same splits:

=================  ===========================================================================
contender          what
=================  ===========================================================================
``backprop``       ``backprop train TRAIN.csv --target T --test-size 0 --seed S``: every other
                   option at its default; a table with missing values is refused by default, so
                   it is run again with ``--impute median``, as the message says (the JSON's
                   ``options``); predictions by ``TabularModel.predict(TEST.csv)``
``sklearn-mlp``    ``MLPClassifier``/``MLPRegressor`` with default settings (``random_state=S``)
                   after ``SimpleImputer`` (median; text: most frequent) + ``StandardScaler`` /
                   ``OneHotEncoder(handle_unknown="ignore")``; a regression target is
                   standardized too (``TransformedTargetRegressor``), as backprop's is
``sklearn-hgb``    ``HistGradientBoostingClassifier``/``Regressor`` with default settings
                   (``random_state=S``), text columns as pandas categories
                   (``categorical_features="from_dtype"``), missing values left to it
=================  ===========================================================================

Protocol: for each seed S (default 5 seeds, 0..4) the table is split 80/20 (stratified for
classes) by ``sklearn.model_selection.train_test_split(random_state=S)``; both parts are
written as CSV files and every contender reads the training part from its file (the clock
runs from reading the file to the fitted model) and predicts the test part. Scores are
accuracy (classes) or R² (numbers) on the test part, averaged over the seeds. Per table the
contenders are ranked by their mean score (1 the best, ties share the mean of their ranks);
the summary gives each contender's mean rank and mean gap to ``sklearn-hgb`` (its score minus
gradient boosting's, averaged) over the tables every contender scored.

A table whose package is missing (``palmerpenguins``, ``vega_datasets``: optional) is reported
``missing``, never failed. ``--quick``: two tables, one seed, few epochs (a smoke test for CI).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .runners import default_threads, module_version

CONTENDERS = ("backprop", "sklearn-mlp", "sklearn-hgb")
#: The contender the gaps are measured to.
REFERENCE = "sklearn-hgb"
#: What ``--quick`` changes: the tables, the seeds, and epochs/iterations of every contender.
QUICK_TABLES = ("iris", "diabetes")
QUICK_ITERATIONS = 5
SEEDS = 5
TEST_SIZE = 0.2


@dataclass(frozen=True)
class TableSpec:
    """One table of the suite: where it comes from and how a user would train on it."""

    source: str  # the package and call, as the table says where it came from
    package: str  # the module that must import (missing: the table is reported missing)
    target: str
    task: str  # "classification" or "regression"
    ignore: tuple[str, ...] = ()  # columns a user would leave out (names, dates)


TABLES: dict[str, TableSpec] = {
    "iris": TableSpec("sklearn.datasets.load_iris", "sklearn", "species", "classification"),
    "wine": TableSpec("sklearn.datasets.load_wine", "sklearn", "cultivar", "classification"),
    "breast_cancer": TableSpec("sklearn.datasets.load_breast_cancer", "sklearn", "diagnosis", "classification"),
    "digits": TableSpec("sklearn.datasets.load_digits", "sklearn", "digit", "classification"),
    "diabetes": TableSpec("sklearn.datasets.load_diabetes", "sklearn", "progression", "regression"),
    "penguins": TableSpec("palmerpenguins.load_penguins", "palmerpenguins", "species", "classification"),
    "seattle-weather": TableSpec(
        "vega_datasets.local_data.seattle_weather", "vega_datasets", "weather", "classification", ("date",)
    ),
    "cars": TableSpec("vega_datasets.local_data.cars", "vega_datasets", "Miles_per_Gallon", "regression", ("Name",)),
}


class MissingTableError(Exception):
    """The package that ships a table is not installed (the table is reported missing)."""


def _module(name: str) -> Any:
    """An untyped module (scikit-learn, pandas, the tables' packages), imported when first used."""
    return importlib.import_module(name)


def _sklearn_frame(name: str, target: str, named: bool) -> Any:
    bunch = getattr(_module("sklearn.datasets"), f"load_{name}")(as_frame=True)
    frame = bunch.frame.rename(columns={"target": target})
    if named:  # the labels as a user's table spells them: text, through backprop's string path
        frame[target] = np.asarray(bunch.target_names)[bunch.target.to_numpy()]
    return frame


#: The PyPI names of the packages that ship the tables, where they differ from the module's.
_PIP_NAMES = {"sklearn": "scikit-learn", "vega_datasets": "vega-datasets"}


def load_table(name: str) -> Any:
    """The table ``name`` of :data:`TABLES` as a pandas DataFrame, the target a column of it.

    Raises
    ------
    MissingTableError
        When the package that ships it is not installed.
    """
    spec = TABLES[name]
    install_name = _PIP_NAMES.get(spec.package, spec.package.replace("_", "-"))
    for module, install in ((spec.package, install_name), ("pandas", "pandas")):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise MissingTableError(f"needs {module}: pip install {install} ({exc})") from None
    if spec.package == "sklearn":
        return _sklearn_frame(name, spec.target, named=name in ("iris", "wine", "breast_cancer"))
    if name == "penguins":
        return _module("palmerpenguins").load_penguins()
    local_data = _module("vega_datasets").local_data

    if name == "seattle-weather":
        return local_data.seattle_weather()
    frame = local_data.cars()
    frame["Year"] = frame["Year"].dt.year  # a date column of years: the year, a number
    return frame[frame[spec.target].notna()].reset_index(drop=True)  # rows without a target cannot be scored


# --------------------------------------------------------------------------- ranks


def rank_scores(scores: dict[str, float]) -> dict[str, float]:
    """Ranks of the contenders by score, 1 the highest; tied scores share the mean of their ranks.

    >>> rank_scores({"a": 0.9, "b": 0.95, "c": 0.9})
    {'a': 2.5, 'b': 1.0, 'c': 2.5}
    """
    ordered = sorted(scores.values(), reverse=True)
    ranks = {}
    for name, score in scores.items():
        first = ordered.index(score) + 1
        ties = ordered.count(score)
        ranks[name] = first + (ties - 1) / 2
    return ranks


def summarize(tables: dict[str, Any], contenders: Sequence[str] = CONTENDERS) -> dict[str, Any]:
    """Rank the contenders on every table all of them scored; their mean rank and mean gap to :data:`REFERENCE`.

    Sets each contender's ``rank`` in ``tables`` (None where the table is not ranked) and returns the
    summary: ``tables_ranked`` (names), ``mean_rank``, ``mean_gap`` (score minus the reference's,
    averaged; None without the reference), ``wins`` (tables ranked first, ties included).
    """
    ranked: list[str] = []
    rank_sums = dict.fromkeys(contenders, 0.0)
    gap_sums = dict.fromkeys(contenders, 0.0)
    wins = dict.fromkeys(contenders, 0)
    for name, table in tables.items():
        entries = table.get("contenders", {})
        for entry in entries.values():
            entry["rank"] = None
        scores = {c: entries[c]["score"] for c in contenders if c in entries and entries[c]["score"] is not None}
        if table.get("status") != "ok" or len(scores) != len(contenders):
            continue
        ranked.append(name)
        ranks = rank_scores(scores)
        for contender, rank in ranks.items():
            entries[contender]["rank"] = rank
            rank_sums[contender] += rank
            wins[contender] += rank == min(ranks.values())
            if REFERENCE in scores:
                gap_sums[contender] += scores[contender] - scores[REFERENCE]
    n = len(ranked)
    return {
        "tables_ranked": ranked,
        "mean_rank": {c: rank_sums[c] / n if n else None for c in contenders},
        "mean_gap": {c: gap_sums[c] / n if n and REFERENCE in contenders else None for c in contenders},
        "wins": wins,
    }


# --------------------------------------------------------------------------- contenders


@dataclass(frozen=True)
class Fitted:
    """One contender's run on one split."""

    predicted: Any  # the test rows' predictions
    seconds: float  # from reading the training CSV to the fitted model
    options: str | None  # what backprop needed beyond its defaults (--impute median)
    iterations: int  # epochs run (backprop: early stopping may end them), MLP and boosting iterations


def _score(task: str, truth: Any, predicted: Any) -> float:
    """Accuracy (labels compared as text: the CSV's ints and strings alike), or R²."""
    if task == "classification":
        return float(np.mean(np.asarray(truth).astype(str) == np.asarray(predicted).astype(str)))
    y, p = np.asarray(truth, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    total = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - p) ** 2)) / total if total > 0 else float("nan")


#: The training options ``--tabular-train KEY=VALUE`` may change, and how each value is read.
TRAIN_OPTIONS: dict[str, Callable[[str], Any]] = {
    "hidden": lambda text: [int(units) for units in text.split(",")],
    "activation": str,
    "optimizer": str,
    "lr": float,
    "schedule": str,
    "epochs": int,
    "batch_size": int,
    "validation": float,
    "early_stopping": lambda text: None if text == "off" else text if text == "auto" else int(text),
    "dropout": float,
    "l2": float,
}


def train_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (``hidden=256,128``, ``epochs=100``, ``early_stopping=off``) as training options.

    Raises ValueError naming the pair that is not one.
    """
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in TRAIN_OPTIONS:
            raise ValueError(f"{pair!r} is not KEY=VALUE with KEY one of {', '.join(TRAIN_OPTIONS)}")
        try:
            overrides[key] = TRAIN_OPTIONS[key](text.strip())
        except ValueError:
            raise ValueError(f"{pair!r}: {text!r} is not a value for {key}") from None
    return overrides


def _spelled(value: Any) -> str:
    """A training option's value as the command line spells it."""
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return "off" if value is None else str(value)


def _backprop(spec: TableSpec, train: Path, test: Path, seed: int, quick: bool, overrides: dict[str, Any]) -> Fitted:
    """``backprop train TRAIN --target T --test-size 0 --seed S`` as the CLI builds it (with ``overrides``);
    once more with ``--impute median`` when the defaults refuse missing values (the fix the message names)."""
    from ..errors import DataError
    from ..pipeline import TrainOptions, run_training

    with tempfile.TemporaryDirectory(prefix="backprop-bench-tabular-") as folder:
        out = os.path.join(folder, "model.safetensors")  # run_training writes nothing; the CLI's default path
        options = TrainOptions(data=str(train), target=spec.target, ignore=list(spec.ignore), seed=seed,
                               test_size=0.0, out=out, **overrides)  # fmt: skip
        if quick and "epochs" not in overrides:
            options = dataclasses.replace(options, epochs=QUICK_ITERATIONS)
        began = time.perf_counter()
        try:
            result = run_training(options)
            used = None
        except DataError as exc:
            if "--impute" not in str(exc):
                raise
            began = time.perf_counter()
            result = run_training(dataclasses.replace(options, impute="median"))
            used = "--impute median"
        seconds = time.perf_counter() - began
        return Fitted(result.model.predict(str(test)), seconds, used, len(result.history))


def _columns(frame: Any, spec: TableSpec) -> tuple[list[str], list[str]]:
    """The numeric and text feature columns a user would give scikit-learn."""
    is_numeric_dtype = importlib.import_module("pandas.api.types").is_numeric_dtype
    features = [c for c in frame.columns if c != spec.target and c not in spec.ignore]
    text = [c for c in features if not is_numeric_dtype(frame[c])]
    return [c for c in features if c not in text], text


def _mlp(spec: TableSpec, frame: Any, seed: int, quick: bool) -> Any:
    compose, impute, network = (_module(f"sklearn.{name}") for name in ("compose", "impute", "neural_network"))
    make_pipeline, preprocessing = _module("sklearn.pipeline").make_pipeline, _module("sklearn.preprocessing")
    SimpleImputer, StandardScaler, OneHotEncoder = (
        impute.SimpleImputer,
        preprocessing.StandardScaler,
        preprocessing.OneHotEncoder,
    )

    numeric, text = _columns(frame, spec)
    prepare = compose.ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "text",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                text,
            ),
        ]
    )
    iterations = {"max_iter": QUICK_ITERATIONS} if quick else {}
    if spec.task == "classification":
        return make_pipeline(prepare, network.MLPClassifier(random_state=seed, **iterations))
    regressor = make_pipeline(prepare, network.MLPRegressor(random_state=seed, **iterations))
    return compose.TransformedTargetRegressor(regressor=regressor, transformer=StandardScaler())


def _hgb(spec: TableSpec, seed: int, quick: bool) -> Any:
    ensemble = _module("sklearn.ensemble")
    classes = spec.task == "classification"
    kind = ensemble.HistGradientBoostingClassifier if classes else ensemble.HistGradientBoostingRegressor
    iterations = {"max_iter": QUICK_ITERATIONS} if quick else {}
    return kind(random_state=seed, categorical_features="from_dtype", **iterations)


def _categories(frame: Any, text: list[str], like: Any | None) -> Any:
    """Text columns as pandas categories (those of ``like``, the training part, when given)."""
    frame = frame.copy()
    for column in text:
        categories = None if like is None else like[column].cat.categories
        frame[column] = _module("pandas").Categorical(frame[column], categories=categories)
    return frame


def _sklearn(contender: str, spec: TableSpec, train: Path, test: Path, seed: int, quick: bool) -> Fitted:
    pd, ConvergenceWarning = _module("pandas"), _module("sklearn.exceptions").ConvergenceWarning
    began = time.perf_counter()
    frame = pd.read_csv(train)
    numeric, text = _columns(frame, spec)
    X, y = frame[numeric + text], frame[spec.target]
    if contender == "sklearn-hgb":
        X = _categories(X, text, None)
        model = _hgb(spec, seed, quick)
    else:
        model = _mlp(spec, frame, seed, quick)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached: the default, as users meet it
        model.fit(X, y)
    seconds = time.perf_counter() - began
    rows = pd.read_csv(test)[numeric + text]
    if contender == "sklearn-hgb":
        rows = _categories(rows, text, X)
    fitted = model.regressor_ if hasattr(model, "regressor_") else model  # the target's scaler around it
    last = fitted.steps[-1][1] if hasattr(fitted, "steps") else fitted
    return Fitted(model.predict(rows), seconds, None, int(last.n_iter_))


def _run_contender(
    contender: str, spec: TableSpec, train: Path, test: Path, seed: int, quick: bool, overrides: dict[str, Any]
) -> Fitted:
    if contender == "backprop":
        return _backprop(spec, train, test, seed, quick, overrides)
    return _sklearn(contender, spec, train, test, seed, quick)


# --------------------------------------------------------------------------- the suite


def _split(frame: Any, spec: TableSpec, seed: int) -> tuple[Any, Any]:
    train_test_split = _module("sklearn.model_selection").train_test_split
    stratify = frame[spec.target] if spec.task == "classification" else None
    train, test = train_test_split(frame, test_size=TEST_SIZE, random_state=seed, stratify=stratify)
    return train, test


def _describe(frame: Any, spec: TableSpec) -> dict[str, Any]:
    numeric, text = _columns(frame, spec)
    return {
        "source": spec.source,
        "task": spec.task,
        "metric": "accuracy" if spec.task == "classification" else "r2",
        "target": spec.target,
        "rows": len(frame),
        "features": len(numeric) + len(text),
        "text_columns": text,
        "ignored": list(spec.ignore),
        "missing_cells": int(frame[numeric + text].isna().sum().sum()),
        "classes": int(frame[spec.target].nunique()) if spec.task == "classification" else None,
    }


def _empty(status: str, reason: str | None) -> dict[str, Any]:
    return {"status": status, "reason": reason, "scores": [], "score": None, "score_std": None,
            "fit_seconds": [], "seconds": None, "iterations": [], "options": None, "rank": None}  # fmt: skip


def _missing_sklearn() -> str | None:
    for module in ("sklearn", "pandas"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return f"needs {module} ({exc})"
    return None


def _unscored(spec: TableSpec, status: str, reason: str) -> dict[str, Any]:
    """A table that could not be read: every contender has the table's status."""
    entries = {c: _empty(status, "the table is missing" if status == "missing" else "the table failed")
               for c in CONTENDERS}  # fmt: skip
    return {"status": status, "reason": reason, "source": spec.source, "task": spec.task, "contenders": entries}


def run_table(
    name: str,
    seeds: Sequence[int],
    quick: bool,
    folder: Path,
    progress: Callable[[str], None],
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every contender on every seed's split of table ``name``: its description and the contenders' entries."""
    spec = TABLES[name]
    try:
        frame = load_table(name)
    except MissingTableError as exc:
        return _unscored(spec, "missing", str(exc))
    except Exception as exc:  # a package that changed its table: this table's error, not the end of the run
        return _unscored(spec, "error", f"reading it: {type(exc).__name__}: {exc}")
    table: dict[str, Any] = {"status": "ok", "reason": None, **_describe(frame, spec)}
    entries = {c: _empty("ok", None) for c in CONTENDERS}
    lacking = _missing_sklearn()
    for contender in CONTENDERS[1:]:
        if lacking is not None:
            entries[contender] = _empty("missing", lacking)
    for seed in seeds:
        train, test = _split(frame, spec, seed)
        train_csv, test_csv = folder / f"{name}-{seed}-train.csv", folder / f"{name}-{seed}-test.csv"
        train.to_csv(train_csv, index=False)
        test.to_csv(test_csv, index=False)
        for contender in CONTENDERS:
            entry = entries[contender]
            if entry["status"] != "ok":
                continue
            progress(f"{name}, seed {seed}: {contender}")
            try:
                fitted = _run_contender(contender, spec, train_csv, test_csv, seed, quick, overrides or {})
            except Exception as exc:  # one contender failing on one table is a result, not the end of the run
                entries[contender] = {**_empty("error", f"{type(exc).__name__}: {exc}"), "seeds_run": seed}
                continue
            entry["scores"].append(_score(spec.task, test[spec.target], fitted.predicted))
            entry["fit_seconds"].append(fitted.seconds)
            entry["iterations"].append(fitted.iterations)
            entry["options"] = fitted.options or entry["options"]
    for entry in entries.values():
        if entry["status"] == "ok" and entry["scores"]:
            entry["score"] = float(np.mean(entry["scores"]))
            entry["score_std"] = float(np.std(entry["scores"]))
            entry["seconds"] = float(np.mean(entry["fit_seconds"]))
    table["contenders"] = entries
    return table


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "sklearn": module_version("sklearn"),
        "pandas": module_version("pandas"),
        "palmerpenguins": module_version("palmerpenguins"),
        "vega_datasets": module_version("vega_datasets"),
        "cpu_count": os.cpu_count(),
        "available_cpus": default_threads(),
    }


def _warm_up() -> None:
    """Load backprop's compiled kernels and scikit-learn's modules outside the clock: once-per-process costs."""
    from .. import _kernels
    from ..pipeline import TabularModel

    _kernels.enabled()  # every table's fit then runs them, as a warm process does (the same parameters either way)
    TabularModel(hidden=[2], epochs=1, validation=0.0, test_size=0.0).fit({"x": [0.0, 1.0] * 4, "y": ["a", "b"] * 4})
    if _missing_sklearn() is None:
        importlib.import_module("sklearn.neural_network")
        importlib.import_module("sklearn.ensemble")
        importlib.import_module("sklearn.compose")


def run_tabular(
    tables: Sequence[str] | None = None,
    *,
    seeds: int | None = None,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
    train: Sequence[str] = (),
) -> dict[str, Any]:
    """Run the suite: every table of ``tables`` (default all; ``--quick``: :data:`QUICK_TABLES`), every seed.

    ``train``: ``KEY=VALUE`` pairs changing backprop's training options (:func:`train_overrides`), to
    compare other defaults on the same splits.

    Returns
    -------
    dict
        ``mode``, ``version``, ``quick``, ``seeds``, ``test_size``, ``train_options`` (the changed ones),
        ``machine``, ``contenders`` (what each
        is), ``tables`` (by name: the description and, by contender, ``status``, ``reason``, ``scores``,
        ``fit_seconds`` and ``iterations`` (epochs run) per seed, their means ``score``, ``score_std``,
        ``seconds``, the ``options`` backprop needed, ``rank``), ``summary`` (:func:`summarize`) and ``seconds`` in all.
    """
    began = time.perf_counter()
    overrides = train_overrides(train)
    say = progress or (lambda _message: None)
    names = list(tables) if tables else list(QUICK_TABLES if quick else TABLES)
    changed = "".join(f" --{key.replace('_', '-')} {_spelled(value)}" for key, value in overrides.items())
    seed_list = list(range(seeds if seeds is not None else (1 if quick else SEEDS)))
    results: dict[str, Any] = {
        "mode": "tabular",
        "version": __version__,
        "quick": quick,
        "seeds": seed_list,
        "test_size": TEST_SIZE,
        "train_options": overrides,
        "machine": _machine(),
        "contenders": {
            "backprop": f"backprop train TRAIN.csv --test-size 0 --seed S{changed} "
            f"({'these options changed' if overrides else 'defaults'}; --impute median if refused)",
            "sklearn-mlp": "MLPClassifier/MLPRegressor() after imputer + StandardScaler/OneHotEncoder",
            "sklearn-hgb": "HistGradientBoostingClassifier/Regressor(categorical_features='from_dtype')",
        },
    }
    _warm_up()
    with tempfile.TemporaryDirectory(prefix="backprop-bench-tabular-") as folder:
        results["tables"] = {name: run_table(name, seed_list, quick, Path(folder), say, overrides) for name in names}
    results["summary"] = summarize(results["tables"])
    results["seconds"] = time.perf_counter() - began
    return results


def tabular_has_errors(results: dict[str, Any]) -> bool:
    """Whether a table or a contender failed (missing tables and contenders are not errors)."""
    tables = results["tables"].values()
    return any(table["status"] == "error" for table in tables) or any(
        entry["status"] == "error" for table in tables for entry in table["contenders"].values()
    )
