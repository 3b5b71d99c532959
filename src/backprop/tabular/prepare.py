"""What ``backprop train`` does to a table before fitting: choose the target and the features,
split off the test rows, fit a :class:`~backprop.tabular.preprocess.Preprocessor` on the
training rows and transform both parts (:func:`prepare_training`).

Imports ``frame``, ``columns``, ``preprocess`` and :mod:`backprop.preprocessing` (the splits,
the standardisation statistics).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from .._memory import check_allocation
from ..errors import DataError, ParameterError
from ..preprocessing import fraction_count, split, standard_statistics, standardize_in_place, stratified_split
from .columns import (
    LARGEST,
    FeatureSpec,
    Label,
    TargetSpec,
    as_text,
    class_indices,
    not_a_number,
    number_text,
    parse_numbers,
)
from .frame import Frame, listed, rows_text
from .preprocess import IMPUTE, Preprocessor

#: What ``task`` may be (default: chosen from the target column).
TASKS = ("classification", "regression")
#: A numeric target with integer values and at most this many of them is taken as class labels.
MAX_AUTO_CLASSES = 20
#: A text column with more distinct values than this (and than half its rows) looks like an identifier.
MAX_CATEGORIES = 100
#: A numeric column whose standard deviation is at most this times ``max(1, |mean|)`` is constant (scale 1).
CONSTANT_RTOL = 1e-12


@dataclass
class Prepared:
    """The result of :func:`prepare_training`: a fitted preprocessor and the train/test arrays.

    Attributes
    ----------
    preprocessor : Preprocessor
    X_train, X_test : ndarray of shape (n, n_inputs), float32
    y_train, y_test : ndarray of shape (n,)
        int64 class indices, or float32 scaled numeric targets.
    rows_train, rows_test : ndarray of int64
        The rows of the table in each part.
    n_rows : int
        Rows in the table; ``n_dropped`` of them were dropped (missing values).
    notes : list of str
    """

    preprocessor: Preprocessor
    X_train: NDArray[np.float32]
    y_train: NDArray[Any]
    X_test: NDArray[np.float32]
    y_test: NDArray[Any]
    rows_train: NDArray[np.int64]
    rows_test: NDArray[np.int64]
    n_rows: int
    n_dropped: int
    notes: list[str]


def _select(
    frame: Frame, target: str | None, features: Sequence[str] | None, ignore: Sequence[str]
) -> tuple[str, list[str]]:
    if not frame.names:
        raise DataError(f"{frame.source} has no columns")
    target_name = frame.names[frame.position(target)] if target is not None else frame.names[-1]
    ignored = {frame.names[frame.position(c)] for c in ignore}
    if features:
        chosen = [frame.names[frame.position(c)] for c in features]
        if target_name in chosen:
            raise DataError(f"{frame.source}: column {target_name!r} is the target; it cannot also be a feature")
        duplicates = sorted(c for c, times in Counter(chosen).items() if times > 1)
        if duplicates:
            raise DataError(f"{frame.source}: --features names {duplicates} more than once")
    else:
        chosen = [n for n in frame.names if n != target_name and n not in ignored]
    if not chosen:
        raise DataError(
            f"{frame.source}: no feature columns left besides the target {target_name!r}; "
            "a table needs at least one feature column and a target column"
        )
    return target_name, chosen


def _target_spec(
    frame: Frame, name: str, task: str | None
) -> tuple[TargetSpec, NDArray[Any], NDArray[np.bool_], str | None]:
    """The target's spec, its per-row values (indices or floats) and missing mask, and a note."""
    column = frame.column(name)
    parsed = parse_numbers(column, frame.decimal_comma)
    numeric = parsed.bad is None
    missing = parsed.missing if numeric else as_text(column)[1]
    present = ~missing
    if not present.any():
        raise DataError(f"{frame.source}: the target column {name!r} has no values")
    note = None
    if task == "regression" or (task is None and numeric):
        if parsed.bad is not None:
            raise not_a_number(frame, name, parsed.bad, column, "--task regression needs a numeric target")
        values = parsed.values[present]
        if not np.isfinite(values).all():
            raise DataError(f"{frame.source}: the target column {name!r} holds infinite values")
        if (np.abs(values) > LARGEST).any():
            raise DataError(
                f"{frame.source}: the target column {name!r} holds values beyond float32's range of "
                f"±{LARGEST:.4g}; rescale it"
            )
        distinct = np.unique(values)
        integral = bool(np.all(values == np.round(values)))
        if task is None and integral and 2 <= len(distinct) <= min(MAX_AUTO_CLASSES, max(2, int(present.sum()) // 2)):
            shown = ", ".join(number_text(v) for v in distinct[:6]) + (", ..." if len(distinct) > 6 else "")
            note = (
                f"target {name!r} has {len(distinct)} integer values ({shown}): treated as classes "
                "(pass --task regression to predict numbers)"
            )
        else:
            return TargetSpec(name, "numeric"), parsed.values, missing, None
    # Classes.
    if numeric:
        values = parsed.values[present]
        distinct_f = np.unique(values)
        classes: list[Label] = [
            int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v) for v in distinct_f.tolist()
        ]
    else:
        text, _ = as_text(column)
        classes = sorted({str(v) for v in text[present].tolist()})
    if len(classes) < 2:
        raise DataError(
            f"{frame.source}: the target column {name!r} has a single class {classes[0]!r}; "
            "classification needs at least two (or pass --task regression)"
        )
    if len(classes) > max(MAX_CATEGORIES, 1) and len(classes) > present.sum() // 2:
        raise DataError(
            f"{frame.source}: the target column {name!r} has {len(classes)} distinct labels in {int(present.sum())} "
            "rows, too many to be classes; pick another column with --target, or --task regression for numbers"
        )
    spec = TargetSpec(name, "classes", classes=classes)
    indices, missing = class_indices(frame, spec, column)
    return spec, indices, missing, note


def _statistics(observed: NDArray[np.float64]) -> tuple[float, float]:
    """The mean and scale that standardise a column, from its observed training values."""
    mean, scale = standard_statistics(observed, rtol=CONSTANT_RTOL)
    return float(mean), float(scale)


def check_held_out(
    source: str, fraction: float, n_rows: int, n_groups: int, *, option: str, part: str, dropped: bool = False
) -> None:
    """Refuse a fraction held out (``--test-size``, ``--validation``) that leaves a class (or, for
    regression, the whole table) no training row.

    The same rule as :func:`backprop.preprocessing.stratified_split` and :func:`~backprop.preprocessing.split`,
    said in the terms of ``backprop train``: the file, the ``option`` and rows; ``part`` names the rows
    held out ("test", "validation"). Other values (a count) are left to those functions' own messages.
    """
    if not 0 < fraction < 1:
        return
    n_held = fraction_count(float(fraction), n_rows)
    most = n_rows - n_groups  # every class keeps one row for training
    if n_held <= most:
        return
    usable = "usable rows" if dropped else "rows"
    if n_groups == 1:
        why = "that leaves none for training"
    else:
        why = f"training keeps at least one row of each of the {n_groups} classes, so at most {most} can be {part} rows"
    what = f"lower {option} or use {option} 0" if most > 0 else f"use {option} 0 (too few rows to hold any out)"
    raise DataError(f"{source}: {option} {fraction:g} asks for {n_held} of {n_rows} {usable}, but {why}; {what}")


def prepare_training(
    frame: Frame,
    *,
    target: str | None = None,
    features: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    task: str | None = None,
    impute: str | None = None,
    standardize: bool = True,
    test_size: float = 0.2,
    seed: int | None = 0,
) -> Prepared:
    """Choose the columns, encode the target, split off a test part and fit the preprocessing.

    Parameters
    ----------
    frame : Frame
        The whole table.
    target : str, optional
        The target column, by name or 0-based index; default the last column.
    features : sequence of str, optional
        The feature columns (names or indices); default every other column.
    ignore : sequence of str
        Columns left out of the default features.
    task : {"classification", "regression"}, optional
        Default: text or few integer values are classes, other numbers regression.
    impute : {"mean", "median", "drop"}, optional
        Without it a missing feature value is an error naming the column.
        ``mean``/``median`` fill numeric cells with the training rows' mean
        or median and categorical cells with their most frequent category;
        ``drop`` removes the rows. Rows whose target is missing are dropped
        whenever ``impute`` is given.
    standardize : bool, default True
        Scale numeric features (and a numeric target) to zero mean and unit
        variance, with statistics from the training rows.
    test_size : float in [0, 1)
        The share of rows held out for testing (stratified by class); 0 for none.
    seed : int, optional
        Seed of the split.

    Returns
    -------
    Prepared
    """
    if task is not None and task not in TASKS:
        raise ParameterError(f"task must be one of {list(TASKS)}, got {task!r}")
    if impute is not None and impute not in IMPUTE:
        raise ParameterError(f"impute must be one of {list(IMPUTE)}, got {impute!r}")
    if frame.n_rows == 0:
        if frame.lines is not None:  # a CSV: its only line was taken as the header
            raise DataError(
                f"{frame.source} has a header ({listed(frame.names, 6)}) but no data rows; add rows below it, "
                "or pass --no-header if that line is data"
            )
        raise DataError(f"{frame.source} has no rows; training needs at least 2")
    notes = list(frame.notes)
    target_name, feature_names = _select(frame, target, features, ignore)
    spec, y_all, y_missing, note = _target_spec(frame, target_name, task)
    if note:
        notes.append(note)

    # Feature kinds and missing cells, over every row.
    kinds: dict[str, Literal["numeric", "categorical"]] = {}
    numbers: dict[str, NDArray[np.float64]] = {}
    texts: dict[str, NDArray[Any]] = {}
    missing_cells: dict[str, NDArray[np.bool_]] = {}
    for name in feature_names:
        column = frame.column(name)
        parsed = parse_numbers(column, frame.decimal_comma)
        if parsed.bad is None:
            kinds[name], numbers[name], missing_cells[name] = "numeric", parsed.values, parsed.missing
            finite = np.isfinite(parsed.values) | parsed.missing
            if not finite.all():
                raise DataError(
                    f"{frame.source}: column {name!r} holds infinite values "
                    f"({rows_text(frame, np.flatnonzero(~finite))}); replace them with finite numbers"
                )
            huge = np.abs(parsed.values) > LARGEST  # NaN (missing) compares False
            if huge.any():
                raise DataError(
                    f"{frame.source}: column {name!r} holds values beyond float32's range of ±{LARGEST:.4g} "
                    f"({rows_text(frame, np.flatnonzero(huge))}); rescale the column"
                )
        else:
            text, missing = as_text(column)
            kinds[name], texts[name], missing_cells[name] = "categorical", text, missing
        if missing_cells[name].all():
            raise DataError(f"{frame.source}: column {name!r} has no values; leave it out with --ignore {name}")

    # Missing values: an error, or rows dropped.
    keep = np.ones(frame.n_rows, dtype=bool)
    if y_missing.any():
        if impute is None:
            rows = np.flatnonzero(y_missing)
            raise DataError(
                f"{frame.source}: the target column {target_name!r} has {len(rows)} missing "
                f"value{'s' if len(rows) > 1 else ''} ({rows_text(frame, rows)}); fill them in, or pass "
                "--impute drop (or mean|median) to drop those rows"
            )
        keep &= ~y_missing
        notes.append(f"dropped {int(y_missing.sum())} rows whose target {target_name!r} is missing")
    for name in feature_names:
        missing = missing_cells[name]
        if not missing.any():
            continue
        if impute is None:
            rows = np.flatnonzero(missing)
            raise DataError(
                f"{frame.source}: column {name!r} has {len(rows)} missing value{'s' if len(rows) > 1 else ''} "
                f"({rows_text(frame, rows)}); fill them in, or pass --impute mean|median|drop"
            )
        if impute == "drop":
            keep &= ~missing
    if impute == "drop":
        dropped = int((~keep).sum() - y_missing.sum())
        if dropped:
            notes.append(f"dropped {dropped} rows with missing feature values (--impute drop)")
    rows_kept = np.flatnonzero(keep).astype(np.int64)
    if len(rows_kept) < 2:
        n_usable = len(rows_kept)
        raise DataError(
            f"{frame.source}: {n_usable} usable row{'s' if n_usable != 1 else ''}; training needs at least 2"
        )

    # The test split, stratified by class.
    y_kept = y_all[rows_kept]
    if test_size > 0:
        n_groups = len(np.unique(y_kept)) if spec.kind == "classes" else 1
        check_held_out(
            frame.source,
            test_size,
            len(rows_kept),
            n_groups,
            option="--test-size",
            part="test",
            dropped=len(rows_kept) < frame.n_rows,
        )
        if spec.kind == "classes":
            counts = np.bincount(y_kept.astype(np.int64), minlength=len(spec.classes))
            if (counts == 0).any():
                absent = [spec.classes[k] for k in np.flatnonzero(counts == 0)]
                notes.append(f"classes {absent} have no rows left after dropping missing values")
            train, test = stratified_split(y_kept, test_size, seed=seed)
        else:
            train, test = split(len(rows_kept), test_size, seed=seed)
        rows_train, rows_test = np.sort(rows_kept[train]), np.sort(rows_kept[test])
    else:
        rows_train, rows_test = rows_kept, np.zeros(0, dtype=np.int64)

    # Statistics from the training rows only.
    specs: list[FeatureSpec] = []
    for name in feature_names:
        missing = missing_cells[name][rows_train]
        if kinds[name] == "numeric":
            observed = numbers[name][rows_train][~missing]
            if observed.size == 0:
                raise DataError(f"{frame.source}: column {name!r} has no values in the training rows")
            fill: float | str | None = None
            if impute in ("mean", "median"):
                fill = float(observed.mean() if impute == "mean" else np.median(observed))
            mean, scale = 0.0, 1.0
            if standardize:
                mean, scale = _statistics(observed)
            specs.append(FeatureSpec(name, "numeric", mean=mean, scale=scale, fill=fill))
        else:
            observed_text = texts[name][rows_train][~missing]
            if observed_text.size == 0:
                raise DataError(f"{frame.source}: column {name!r} has no values in the training rows")
            categories, counts = np.unique(observed_text.astype(str), return_counts=True)
            if len(categories) > MAX_CATEGORIES and len(categories) > len(rows_train) // 2:
                raise DataError(
                    f"{frame.source}: column {name!r} looks like an identifier or free text ({len(categories)} "
                    f"distinct values in {len(rows_train)} rows), not a category; leave it out with --ignore {name!r}"
                )
            fill = str(categories[int(np.argmax(counts))]) if impute in ("mean", "median") else None
            specs.append(FeatureSpec(name, "categorical", categories=[str(c) for c in categories], fill=fill))
    if spec.kind == "numeric" and standardize:
        spec.mean, spec.scale = _statistics(y_all[rows_train])
    if any(f.kind == "categorical" for f in specs):
        encoded = ", ".join(f"{f.name!r} ({len(f.categories)})" for f in specs if f.kind == "categorical")
        notes.append(f"one-hot encoded categorical columns: {encoded}")

    pre = Preprocessor(specs, spec, standardize=bool(standardize), impute=impute)
    # Sizes before allocating: the inputs of every kept row (both parts), then the target's one-hot.
    pre.check_inputs_fit(len(rows_kept))
    if spec.kind == "classes" and len(spec.classes) > 2:
        k, n_train = len(spec.classes), len(rows_train)
        check_allocation(
            4 * n_train * k,
            f"the target column {target_name!r} ({k:,} classes, one-hot targets for {n_train:,} training rows)",
        )
    # Missing cells of the kept rows are filled (mean/median) or were dropped. Each part is
    # transformed on its own: no whole-table copy to index from.
    X_train = pre.transform(frame, rows=rows_train)
    X_test = pre.transform(frame, rows=rows_test)
    if spec.kind == "classes":
        y_out: NDArray[Any] = y_all.astype(np.int64)
    else:
        with np.errstate(over="ignore"):
            scaled = standardize_in_place(np.array(y_all, dtype=np.float64), spec.mean, spec.scale)
        huge = np.abs(scaled) > LARGEST  # a test row far from the training rows' spread
        if huge.any():
            raise DataError(
                f"{frame.source}: the target column {target_name!r} holds values too large for float32 once "
                f"standardised ({rows_text(frame, np.flatnonzero(huge))}); rescale it"
            )
        y_out = scaled.astype(np.float32)
    return Prepared(
        preprocessor=pre,
        X_train=X_train,
        y_train=y_out[rows_train],
        X_test=X_test,
        y_test=y_out[rows_test],
        rows_train=rows_train,
        rows_test=rows_test,
        n_rows=frame.n_rows,
        n_dropped=frame.n_rows - len(rows_kept),
        notes=notes,
    )
