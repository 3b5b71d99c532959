"""What ``backprop train`` does to a table before fitting: choose the target and the features,
split off the test rows, fit a :class:`~backprop.tabular.preprocess.Preprocessor` on the
training rows and transform both parts (:func:`prepare_training`).

Imports ``frame``, ``columns``, ``preprocess``, ``scan``, ``threads`` and :mod:`backprop.preprocessing`
(the splits, the standardisation statistics).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._buffers import small_pages
from .._memory import check_allocation
from ..errors import DataError, ParameterError
from ..preprocessing import fraction_count, split, standard_statistics, stratified_split
from .columns import (
    LARGEST,
    FeatureSpec,
    Label,
    TargetSpec,
    class_indices,
    encode,
    missing_cells,
    not_a_number,
    number_text,
    parse_numbers,
)
from .frame import Frame, listed, rows_text
from .preprocess import IMPUTE, Preprocessor
from .scan import Categories, FeatureScan, Moments, Scratch, block_size, joined, numbers
from .threads import Buffers, each_column

#: What ``task`` may be (default: chosen from the target column).
TASKS = ("classification", "regression")
#: A numeric target with integer values and at most this many of them is taken as class labels.
MAX_AUTO_CLASSES = 20
#: A text column with more distinct values than this (and than half its rows) looks like an identifier.
MAX_CATEGORIES = 100
#: The category a missing cell becomes with ``missing_category=True``.
MISSING_CATEGORY = "(missing)"
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
    missing = parsed.missing if numeric else missing_cells(column)
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
        integral = task is None and bool(np.all(values == np.round(values)))
        distinct = _distinct(values) if integral else values[:0]  # only numbers that may be classes
        if integral and 2 <= len(distinct) <= min(MAX_AUTO_CLASSES, max(2, int(present.sum()) // 2)):
            shown = ", ".join(number_text(v) for v in distinct[:6]) + (", ..." if len(distinct) > 6 else "")
            note = (
                f"target {name!r} has {len(distinct)} integer values ({shown}): treated as classes "
                "(pass --task regression to predict numbers)"
            )
        else:
            return TargetSpec(name, "numeric"), parsed.values, missing, None
    # Classes.
    if numeric:
        distinct_f = distinct if note is not None else np.unique(parsed.values[present])
        classes: list[Label] = [
            int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v) for v in distinct_f.tolist()
        ]
    else:
        classes = sorted(encode(column).values)
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


def _distinct(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """``np.unique(values)`` of integral values: by counting when they span less than 2**20, else by sorting."""
    low, high = float(values.min()), float(values.max())
    if high - low >= 1 << 20:
        return np.unique(values)
    present = np.flatnonzero(np.bincount((values - low).astype(np.int64)))
    return present.astype(np.float64) + low


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


@small_pages()  # new arrays written once (see backprop._buffers.small_pages)
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
    missing_category: bool = False,
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
    missing_category : bool, default False
        A missing cell of a categorical column is a category of its own,
        :data:`MISSING_CATEGORY` (rather than an error, or ``impute``'s fill).

    Returns
    -------
    Prepared

    Notes
    -----
    Date and time columns (``datetime64``: what the CSV and Parquet readers give for
    ISO-8601 text and date types) become one numeric input each, the days since
    1970-01-01, standardised like any number. An integer column that counts the
    rows (distinct and in order, more than :data:`MAX_CATEGORIES` rows) is refused
    as a row number unless ``features`` names it.
    """
    plan = plan_training(
        lambda: [frame],
        target=target,
        features=features,
        ignore=ignore,
        task=task,
        impute=impute,
        standardize=standardize,
        test_size=test_size,
        seed=seed,
        missing_category=missing_category,
    )
    pre, spec = plan.preprocessor, plan.preprocessor.target
    # Sizes before allocating: the inputs of every kept row (both parts), then the target's one-hot.
    pre.check_inputs_fit(len(plan.rows_train) + len(plan.rows_test))
    if spec.kind == "classes" and len(spec.classes) > 2:
        k, n_train = len(spec.classes), len(plan.rows_train)
        check_allocation(
            4 * n_train * k,
            f"the target column {spec.name!r} ({k:,} classes, one-hot targets for {n_train:,} training rows)",
        )
    # Missing cells of the kept rows are filled (mean/median) or were dropped. Each part is
    # transformed on its own: no whole-table copy to index from.
    X_train = pre.transform(frame, rows=plan.rows_train)
    X_test = pre.transform(frame, rows=plan.rows_test)
    y_train, y_test = (targets_of(pre, frame, rows, plan.targets) for rows in (plan.rows_train, plan.rows_test))
    return Prepared(
        preprocessor=pre,
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        rows_train=plan.rows_train,
        rows_test=plan.rows_test,
        n_rows=plan.n_rows,
        n_dropped=plan.n_dropped,
        notes=plan.notes,
    )


def targets_of(
    pre: Preprocessor, frame: Frame, rows: NDArray[np.int64] | None = None, read: NDArray[Any] | None = None
) -> NDArray[Any]:
    """The targets of ``frame``'s ``rows`` as training uses them: int64 class indices, or float32
    numbers standardised with the fitted statistics. ``read``: the targets :attr:`Plan.targets`
    holds, rather than reading the column again.

    Raises
    ------
    DataError
        A numeric target too large for float32 once standardised (a row far from the training rows' spread).
    """
    if read is None:
        y, _ = pre.targets(frame)
    elif pre.target.kind == "classes":
        y = read
    else:
        y = pre.scaled_targets(read)
    if rows is not None:
        y = y[rows]
    if pre.target.kind == "classes":
        return y.astype(np.int64)
    huge = np.abs(y) > LARGEST
    if huge.any():
        at = np.flatnonzero(huge) if rows is None else rows[np.flatnonzero(huge)]
        raise DataError(
            f"{frame.source}: the target column {pre.target.name!r} holds values too large for float32 once "
            f"standardised ({rows_text(frame, at)}); rescale it"
        )
    return y.astype(np.float32)


@dataclass
class Plan:
    """What :func:`plan_training` decides without transforming: the fitted preprocessing and the rows of each part.

    Attributes
    ----------
    preprocessor : Preprocessor
    rows_train, rows_test : ndarray of int64
        Sorted row numbers of the source in each part.
    n_rows : int
        Rows in the source; ``n_dropped`` of them were dropped (missing values).
    notes : list of str
    targets : ndarray of shape (n_rows,) or None
        Every row's target as the first pass read it: class indices (−1 missing) or numbers.
    """

    preprocessor: Preprocessor
    rows_train: NDArray[np.int64]
    rows_test: NDArray[np.int64]
    n_rows: int
    n_dropped: int
    notes: list[str]
    targets: NDArray[Any] | None = None


def plan_training(
    chunks: Callable[[], Iterable[Frame]],
    *,
    target: str | None = None,
    features: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    task: str | None = None,
    impute: str | None = None,
    standardize: bool = True,
    test_size: float = 0.2,
    seed: int | None = 0,
    missing_category: bool = False,
) -> Plan:
    """:func:`prepare_training`'s decisions for a source read in chunks, in bounded memory.

    ``chunks()`` starts a new pass over the source; it is called twice (once if the
    source is one chunk). The frames of a pass are consecutive, :attr:`Frame.offset`
    their first row. The first pass finds each column's kind, its missing cells and
    the target (kept whole: a few bytes a row); the second takes the statistics of the
    training rows (:mod:`backprop.tabular.scan`). The preprocessor and the rows are
    the same as for the whole table in one chunk, however the source is cut.

    Parameters
    ----------
    chunks : callable returning an iterable of Frame
    target, features, ignore, task, impute, standardize, test_size, seed, missing_category
        As for :func:`prepare_training`.

    Returns
    -------
    Plan
    """
    if task is not None and task not in TASKS:
        raise ParameterError(f"task must be one of {list(TASKS)}, got {task!r}")
    if impute is not None and impute not in IMPUTE:
        raise ParameterError(f"impute must be one of {list(IMPUTE)}, got {impute!r}")
    first = _FirstPass(chunks, target, features, ignore)
    source, n_rows = first.source, first.n_rows
    notes = list(first.notes)
    spec, y_all, y_missing, note = _target_spec(first.target_frame, first.target_name, task)
    if note:
        notes.append(note)
    for scan in first.scans:
        if scan.numeric:
            if scan.infinite:
                raise DataError(
                    f"{source}: column {scan.name!r} holds infinite values ({scan.infinite.text()}); "
                    "replace them with finite numbers"
                )
            if scan.huge:
                raise DataError(
                    f"{source}: column {scan.name!r} holds values beyond float32's range of ±{LARGEST:.4g} "
                    f"({scan.huge.text()}); rescale the column"
                )
        if scan.missing.count == scan.rows:
            raise DataError(f"{source}: column {scan.name!r} has no values; leave it out with --ignore {scan.name}")

    # Missing values: an error, or rows dropped.
    keep = np.ones(n_rows, dtype=bool)
    if y_missing.any():
        if impute is None:
            rows = np.flatnonzero(y_missing)
            raise DataError(
                f"{source}: the target column {first.target_name!r} has {len(rows)} missing "
                f"value{'s' if len(rows) > 1 else ''} ({rows_text(first.target_frame, rows)}); fill them in, or pass "
                "--impute drop (or mean|median) to drop those rows"
            )
        keep &= ~y_missing
        notes.append(f"dropped {int(y_missing.sum())} rows whose target {first.target_name!r} is missing")
    for scan in first.scans:
        if not scan.missing or (missing_category and scan.kind == "categorical"):
            continue
        if impute is None:
            count = scan.missing.count
            hint = " or --missing-category" if scan.kind == "categorical" else ""
            raise DataError(
                f"{source}: column {scan.name!r} has {count} missing value{'s' if count > 1 else ''} "
                f"({scan.missing.text()}); fill them in, or pass --impute mean|median|drop{hint}"
            )
    if impute == "drop":
        keep &= ~first.dropped_rows(missing_category)
        dropped = int((~keep).sum() - y_missing.sum())
        if dropped:
            notes.append(f"dropped {dropped} rows with missing feature values (--impute drop)")
    rows_kept = np.flatnonzero(keep).astype(np.int64)
    if len(rows_kept) < 2:
        n_usable = len(rows_kept)
        raise DataError(f"{source}: {n_usable} usable row{'s' if n_usable != 1 else ''}; training needs at least 2")

    # The test split, stratified by class.
    y_kept = y_all[rows_kept] if len(rows_kept) < n_rows else y_all
    if test_size > 0:
        classes = y_kept.astype(np.int64, copy=False) if spec.kind == "classes" else None
        n_groups = int(np.count_nonzero(np.bincount(classes))) if classes is not None else 1
        check_held_out(
            source,
            test_size,
            len(rows_kept),
            n_groups,
            option="--test-size",
            part="test",
            dropped=len(rows_kept) < n_rows,
        )
        if classes is not None:
            counts = np.bincount(classes, minlength=len(spec.classes))
            if (counts == 0).any():
                absent = [spec.classes[k] for k in np.flatnonzero(counts == 0)]
                notes.append(f"classes {absent} have no rows left after dropping missing values")
            train, test = stratified_split(classes, test_size, seed=seed, shuffle=False)  # each part sorted
            whole = len(rows_kept) == n_rows  # every row kept: positions are row numbers
            rows_train, rows_test = (train, test) if whole else (rows_kept[train], rows_kept[test])
        else:
            train, test = split(len(rows_kept), test_size, seed=seed)
            rows_train, rows_test = _in_order(rows_kept[train], n_rows), _in_order(rows_kept[test], n_rows)
    else:
        rows_train, rows_test = rows_kept, np.zeros(0, dtype=np.int64)

    # Statistics from the training rows only: the second pass.
    specs = _statistics_pass(first, rows_train, impute, standardize, missing_category)
    if spec.kind == "numeric" and standardize:
        spec.mean, spec.scale = _statistics(y_all[rows_train])
    if any(f.kind == "categorical" for f in specs):
        encoded = ", ".join(f"{f.name!r} ({len(f.categories)})" for f in specs if f.kind == "categorical")
        notes.append(f"one-hot encoded categorical columns: {encoded}")
    dates = [f.name for f in specs if f.dates]
    if dates:
        notes.append(f"date columns as days since 1970-01-01: {listed(dates, 6)}")
    pre = Preprocessor(specs, spec, standardize=bool(standardize), impute=impute)
    return Plan(pre, rows_train, rows_test, n_rows, n_rows - len(rows_kept), notes, y_all)


class _FirstPass:
    """The first pass over the source: the columns, the target whole, and a :class:`FeatureScan` per feature."""

    def __init__(
        self,
        chunks: Callable[[], Iterable[Frame]],
        target: str | None,
        features: Sequence[str] | None,
        ignore: Sequence[str],
    ) -> None:
        self.chunks = chunks
        self.frames: list[Frame] = []  # kept while the source is one chunk: the second pass reuses it
        self.n_rows = 0
        self.notes: list[str] = []
        self.named: list[str] = []
        self.scans: list[FeatureScan] = []
        target_parts: list[NDArray[Any]] = []
        labels: dict[str, str] = {}
        missing_parts: list[NDArray[np.bool_]] = []
        first: Frame | None = None
        for frame in chunks():
            if first is None:
                first = frame
                if frame.n_rows == 0 and frame.lines is not None:  # a CSV: its only line was taken as the header
                    raise DataError(
                        f"{frame.source} has a header ({listed(frame.names, 6)}) but no data rows; add rows below "
                        "it, or pass --no-header if that line is data"
                    )
                self.notes = list(frame.notes)
                self.target_name, self.feature_names = _select(frame, target, features, ignore)
                self.named = list(self.feature_names) if features else []
                self.scans = [FeatureScan(name) for name in self.feature_names]
                self.frames = [frame]
            else:
                self.frames = []
                if frame.names != first.names:
                    raise DataError(f"{frame.source}: row {frame.offset} starts other columns than the first rows")
            if frame.n_rows == 0:
                continue
            target_parts.append(frame.column(self.target_name))
            if len(target_parts) > 1:  # the target is kept whole: one str object per label, not per row
                target_parts[-2:] = [_interned(part, labels) for part in target_parts[-2:]]
            any_missing = np.zeros(frame.n_rows, dtype=bool)  # the rows --impute drop would remove
            scanned = partial(_scanned, frame)
            for missing in each_column(scanned, self.scans, frame.n_rows * len(self.scans)):
                any_missing |= missing
            missing_parts.append(any_missing)
            self.n_rows += frame.n_rows
        if first is None or self.n_rows == 0:
            source = first.source if first is not None else "the table"
            raise DataError(f"{source} has no rows; training needs at least 2")
        self.source = first.source
        self.decimal_comma = first.decimal_comma
        self._missing = missing_parts
        if len(self.frames) == 1:
            self.target_frame = self.frames[0]
        else:
            # One column for the whole source, its rows numbered over it (a CSV's lines found as the chunks' are).
            self.target_frame = Frame(
                source=first.source,
                names=[self.target_name],
                columns=[joined(target_parts)],
                decimal_comma=first.decimal_comma,
                find_lines=first.find_lines,
            )

    def dropped_rows(self, missing_category: bool) -> NDArray[np.bool_]:
        """Rows with a missing feature cell (for ``--impute drop``)."""
        if missing_category and any(s.kind == "categorical" and s.missing for s in self.scans):
            # Categorical columns keep their missing cells: count the others again.
            return self._missing_of([s for s in self.scans if s.kind != "categorical"])
        return np.concatenate(self._missing)

    def _missing_of(self, scans: list[FeatureScan]) -> NDArray[np.bool_]:
        parts = []
        for frame in self.again():
            mask = np.zeros(frame.n_rows, dtype=bool)
            for scan in scans:
                mask |= numbers(frame.column(scan.name), frame.decimal_comma)[1]
            parts.append(mask)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)

    def again(self) -> Iterable[Frame]:
        """The source's chunks once more (the kept chunk, or a new pass)."""
        return self.frames if self.frames else (f for f in self.chunks() if f.n_rows)


def _scanned(frame: Frame, scan: FeatureScan) -> NDArray[np.bool_]:
    """``scan`` of its column in ``frame`` (each column's on a thread of its own); the missing mask."""
    return scan.add(frame.column(scan.name), frame.offset, frame.decimal_comma)


def _in_order(rows: NDArray[np.int64], n_rows: int) -> NDArray[np.int64]:
    """Distinct row numbers sorted, by marking them (a sort of millions costs more)."""
    marked = np.zeros(n_rows, dtype=bool)
    marked[rows] = True
    return np.flatnonzero(marked).astype(np.int64)


def _interned(column: NDArray[Any], labels: dict[str, str]) -> NDArray[Any]:
    """A text column whose equal cells are one str object (a chunk of a text target, kept for the whole source)."""
    if column.dtype != object:
        return column
    out = np.empty(len(column), dtype=object)
    out[:] = [cell if cell is None else labels.setdefault(cell, cell) for cell in column.tolist()]
    return out


def _statistics_pass(
    first: _FirstPass, rows_train: NDArray[np.int64], impute: str | None, standardize: bool, missing_category: bool
) -> list[FeatureSpec]:
    """The second pass: each feature's statistics over the training rows, as a :class:`FeatureSpec`."""
    source, n_train = first.source, len(rows_train)
    numeric = [s.name for s in first.scans if s.kind != "categorical"]
    if impute == "median":  # the median needs every training value of every numeric column
        check_allocation(
            8 * n_train * len(numeric), f"--impute median over {n_train:,} rows × {len(numeric):,} numeric columns"
        )
    block = block_size(len(numeric))
    scratch = Scratch()  # one buffer for every column's deviations
    moments = {name: Moments(keep=impute == "median", block=block, scratch=scratch) for name in numeric}
    categories = {s.name: Categories() for s in first.scans if s.kind == "categorical"}
    most = max(MAX_CATEGORIES, n_train // 2)  # more distinct values than this: an identifier
    missing_seen = {name: False for name in categories}
    buffers = Buffers()  # each thread's gathered training rows of a number column (Moments copies what it keeps)

    def summarise(frame: Frame, local: NDArray[np.int64], scan: FeatureScan) -> None:
        if scan.kind != "categorical":
            whole = frame.column(scan.name)
            shared = whole.dtype == np.float64 and impute != "median"
            rows = np.take(whole, local, out=buffers.get(len(local))) if shared else whole[local]
            values, missing = numbers(rows, frame.decimal_comma)
            if values is None:  # the first pass found every cell a number
                raise DataError(f"{source}: column {scan.name!r} changed between two reads of the file")
            moments[scan.name].add(values[~missing] if scan.missing else values)
            return
        found = categories[scan.name]
        missing_seen[scan.name] |= found.add(encode(frame.column(scan.name)), local)
        if len(found.counts) > most:
            raise DataError(
                f"{source}: column {scan.name!r} looks like an identifier or free text (more than {most} "
                f"distinct values in {n_train} rows), not a category; leave it out with --ignore {scan.name!r}"
            )

    for frame in first.again():
        lo, hi = np.searchsorted(rows_train, [frame.offset, frame.offset + frame.n_rows])
        local = rows_train[lo:hi] - frame.offset
        each_column(partial(summarise, frame, local), first.scans, len(local) * len(first.scans))
    specs: list[FeatureSpec] = []
    for scan in first.scans:
        if scan.kind == "numeric" and scan.counting and scan.rows > MAX_CATEGORIES and scan.name not in first.named:
            order = "increasing" if scan.direction > 0 else "decreasing"
            raise DataError(
                f"{source}: column {scan.name!r} looks like a row number, not a feature ({scan.rows} distinct "
                f"integers in {order} order); leave it out with --ignore {scan.name!r} (or name it in --features)"
            )
        if scan.kind != "categorical":
            moment = moments[scan.name]
            if moment.count == 0:
                raise DataError(f"{source}: column {scan.name!r} has no values in the training rows")
            mean, var = moment.result()
            fill: float | str | None = None
            if impute == "mean":
                fill = mean
            elif impute == "median":
                fill = moment.median()
            center, scale = _scaled(mean, var) if standardize else (0.0, 1.0)
            specs.append(FeatureSpec(scan.name, "numeric", mean=center, scale=scale, fill=fill, dates=bool(scan.dates)))
            continue
        names, counts = categories[scan.name].sorted()
        if not names:
            raise DataError(f"{source}: column {scan.name!r} has no values in the training rows")
        if len(names) > MAX_CATEGORIES and len(names) > n_train // 2:
            raise DataError(
                f"{source}: column {scan.name!r} looks like an identifier or free text ({len(names)} "
                f"distinct values in {n_train} rows), not a category; leave it out with --ignore {scan.name!r}"
            )
        fill = names[int(np.argmax(counts))] if impute in ("mean", "median") else None
        if missing_category and missing_seen[scan.name]:
            fill = MISSING_CATEGORY
            names = [*names, MISSING_CATEGORY] if MISSING_CATEGORY not in names else names
        specs.append(FeatureSpec(scan.name, "categorical", categories=names, fill=fill))
    return specs


def _scaled(mean: float, var: float) -> tuple[float, float]:
    """The mean and scale that standardise a column (:func:`standard_statistics`'s rule with
    :data:`CONSTANT_RTOL`), from the mean and variance of its training values."""
    std = float(np.sqrt(var))
    return mean, std if std > CONSTANT_RTOL * max(1.0, abs(mean)) else 1.0
