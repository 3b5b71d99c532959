"""The fitted preprocessing: :class:`Preprocessor` turns a table into network inputs and targets,
and round-trips through plain JSON (stored under ``"preprocessing"`` in a model file).

Numeric columns are standardised by :func:`backprop.preprocessing.standardize_in_place`,
the one implementation :class:`~backprop.preprocessing.Standardizer` uses too. A large table's
columns are transformed on every core (:mod:`~backprop.tabular.threads`: the same bits). Imports
``frame``, ``columns``, ``scan`` and ``threads``; :func:`~backprop.tabular.prepare.prepare_training` fits one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from .._memory import CHUNK_BYTES, available_bytes, check_allocation, rows_within
from .._validation import is_finite_number, shown_briefly
from ..errors import DataError, ModelFileError, ParameterError
from ..preprocessing import standardize_in_place, unstandardize_in_place
from .columns import (
    LARGEST,
    FeatureSpec,
    Label,
    Parsed,
    TargetSpec,
    as_text,
    class_indices,
    encode,
    not_a_number,
    parse_numbers,
)
from .frame import CHUNK_ROWS, Frame, cut, listed, rows_text
from .scan import days, within
from .threads import Buffers, each_column, workers

#: How ``impute`` fills a missing cell; ``drop`` removes its row instead.
IMPUTE = ("mean", "median", "drop")
#: The ``format`` and ``version`` of :meth:`Preprocessor.to_dict`.
PREPROCESSING_FORMAT = "backprop-preprocessing"
PREPROCESSING_VERSION = 1


@dataclass
class Preprocessor:
    """What turns a table into network inputs and targets, fitted on the training rows.

    Build one with :func:`prepare_training`; store :meth:`to_dict` in the
    model file and rebuild it with :meth:`from_dict`.

    Attributes
    ----------
    features : list of FeatureSpec
    target : TargetSpec
    standardize : bool
    impute : {"mean", "median", "drop"} or None
    """

    features: list[FeatureSpec]
    target: TargetSpec
    standardize: bool = True
    impute: str | None = None

    # ------------------------------------------------------------ properties
    @property
    def n_inputs(self) -> int:
        """Width of the network's input layer."""
        return sum(f.width for f in self.features)

    @property
    def input_names(self) -> list[str]:
        """One name per network input: the column, or ``column=category`` for one-hot inputs."""
        names: list[str] = []
        for f in self.features:
            names.extend([f.name] if f.kind == "numeric" else [f"{f.name}={c}" for c in f.categories])
        return names

    @property
    def task(self) -> Literal["classification", "regression"]:
        """``classification`` for class labels, else ``regression``."""
        return "classification" if self.target.kind == "classes" else "regression"

    @property
    def classes(self) -> list[Label]:
        """The class labels, sorted (empty for regression)."""
        return list(self.target.classes)

    # ------------------------------------------------------------ applying
    def transform(
        self, frame: Frame, *, notes: list[str] | None = None, rows: NDArray[np.int64] | None = None
    ) -> NDArray[np.float32]:
        """The network inputs for every row of ``frame`` (or its ``rows``), shape ``(n_rows, n_inputs)``, float32.

        Missing cells get the fitted fill value, or raise DataError naming the
        column, the count and the first rows. A category not seen in training
        gives all-zero inputs for that column (counted in ``notes``).

        Parameters
        ----------
        frame : Frame
        notes : list of str, optional
            Receives a note per column with categories not seen in training.
        rows : ndarray of int64, optional
            Transform only these rows of ``frame`` (positions in it), without copying the frame first.

        Raises
        ------
        MemoryLimitError
            The inputs of ``frame``'s rows would not fit the memory available
            (the message names the widest one-hot column); transform fewer
            rows at a time (:meth:`chunk_rows` says how many fit a chunk).
        """
        n = frame.n_rows if rows is None else len(rows)
        self.check_inputs_fit(n)
        out = np.zeros((n, self.n_inputs), dtype=np.float32)
        starts = np.cumsum([0] + [spec.width for spec in self.features[:-1]]).tolist()
        buffers = Buffers()  # each thread's gathered rows of a number column
        sources = _sources(self.features, frame)
        if sources is not None:
            # A block of rows at a time, every column of it while it is in the cache; the parts of the
            # rows on every core. A cell that needs a message sends all of it to the column-wise path.
            bounds = range(0, n, max(BLOCK_ROWS, -(-n // workers() // BLOCK_ROWS) * BLOCK_ROWS))
            fill = partial(_fill_blocks, self.features, sources, starts, rows, out, buffers)
            parts = each_column(lambda lo: fill(lo, min(lo + bounds.step, n)), bounds, n * len(self.features))
            if all(part is not None for part in parts):
                if notes is not None:
                    notes.extend(_unseen_notes(frame, self.features, sources, [p for p in parts if p is not None]))
                return out
            out[:] = 0.0

        def column(place: int) -> str | None:
            spec = self.features[place]
            return self._inputs_of(spec, frame, rows, out[:, starts[place] : starts[place] + spec.width], buffers)

        # Each column writes its own inputs; the notes (and the first error) in the columns' order.
        found = each_column(column, range(len(self.features)), n * len(self.features))
        if notes is not None:
            notes.extend(note for note in found if note is not None)
        return out

    def _inputs_of(
        self,
        spec: FeatureSpec,
        frame: Frame,
        rows: NDArray[np.int64] | None,
        out: NDArray[np.float32],
        buffers: Buffers,
    ) -> str | None:
        """Write one column's inputs for ``rows`` (all if None) into ``out`` (its columns of the inputs);
        the note on categories not seen in training, if any."""

        def at(positions: NDArray[np.int64]) -> NDArray[np.int64]:
            """Positions in the rows transformed → positions in ``frame`` (for messages)."""
            return positions if rows is None else rows[positions]

        whole = frame.column(spec.name)
        if spec.kind == "numeric":
            gathered = None
            if rows is None:
                column = whole
            elif whole.dtype == np.float64:
                column = gathered = np.take(whole, rows, out=buffers.get(len(rows)))
            else:
                column = whole[rows]
            parsed = _dates(frame, spec, column, at) if spec.dates else parse_numbers(column, frame.decimal_comma)
            if parsed.bad is not None:
                bad_row = int(at(np.array([parsed.bad]))[0])
                raise not_a_number(frame, spec.name, bad_row, whole, "the model was trained on numbers here")
            values = parsed.values
            self._check_missing(frame, spec, parsed.missing, at)
            if parsed.missing.any() and isinstance(spec.fill, float):
                values = np.where(parsed.missing, spec.fill, values)
            if not _finite(values):
                bad = at(np.flatnonzero(~np.isfinite(values)))
                raise DataError(
                    f"{frame.source}: column {spec.name!r} holds infinite values ({rows_text(frame, bad)}); "
                    "replace them with finite numbers"
                )
            # A copy to scale in place, unless the values are already one (a gather of rows, the fill).
            own = values is not whole and values.dtype == np.float64 and (values.base is None or values is gathered)
            with np.errstate(over="ignore"):
                scaled = standardize_in_place(
                    values if own else np.array(values, dtype=np.float64), spec.mean, spec.scale
                )
            if not within(scaled):
                huge = ~(np.abs(scaled) <= LARGEST)
                raise DataError(
                    f"{frame.source}: column {spec.name!r} holds values too large for the network's float32 "
                    f"inputs ({rows_text(frame, at(np.flatnonzero(huge)))}); rescale them"
                )
            out[:, 0] = scaled
            return None
        encoded = encode(whole)
        cells = encoded.codes if rows is None else encoded.codes[rows]
        missing = cells < 0
        self._check_missing(frame, spec, missing, at)
        lookup = spec.lookup()
        # Each distinct value looked up once; the last place is a missing cell's: the fill, if any.
        known_of = [lookup.get(v, -1) for v in encoded.values]
        known_of.append(-1 if spec.fill is None else lookup.get(str(spec.fill), -1))
        codes = np.array(known_of, dtype=np.int64)[cells]
        known = codes >= 0
        # One-hot by index: one write per row, whatever the number of categories.
        out[np.flatnonzero(known), codes[known]] = 1.0
        if known.all():
            return None
        return _unseen_note(frame, spec, int((~known).sum()), encoded.values, np.unique(cells[~known]).tolist())

    @property
    def row_bytes(self) -> int:
        """Bytes one row takes through prediction: its float32 inputs, and per output its float32
        output and target and float64 probability."""
        outputs = max(1, len(self.target.classes))
        return 4 * self.n_inputs + 16 * outputs

    def chunk_rows(self, budget: int | None = None) -> int:
        """How many rows to read, transform and predict at a time so that a chunk's arrays stay
        within ``budget`` bytes (at most :data:`CHUNK_ROWS`, at least 1).

        A column one-hot encoding a million categories makes each row's inputs 4 MB wide: 16 rows
        to a 64 MiB chunk rather than :data:`CHUNK_ROWS` (244 GiB).

        Parameters
        ----------
        budget : int, optional
            Default :data:`backprop._memory.CHUNK_BYTES`, or a quarter of the memory available if that
            is less (the network's own buffers come on top).

        Returns
        -------
        int
        """
        if budget is None:
            available = available_bytes()
            budget = CHUNK_BYTES if available is None else min(CHUNK_BYTES, available // 4)
        return min(CHUNK_ROWS, rows_within(self.row_bytes, budget))

    def chunked(self, frames: Iterable[Frame], budget: int | None = None) -> Iterator[Frame]:
        """``frames`` cut to at most :meth:`chunk_rows` rows each, for a transform and prediction within bounded memory.

        Parameters
        ----------
        frames : iterable of Frame
            Chunks of a table, as :func:`iter_tables` yields them.
        budget : int, optional
            As for :meth:`chunk_rows`.

        Yields
        ------
        Frame
            The same rows in order; a part's :attr:`Frame.offset` and lines are those of its rows.
        """
        rows = self.chunk_rows(budget)
        for frame in frames:
            if frame.n_rows <= rows:
                yield frame
            else:
                yield from cut(frame, rows)

    def check_inputs_fit(self, n_rows: int) -> None:
        """Refuse, before allocating them, network inputs for ``n_rows`` rows that the memory cannot hold.

        Raises
        ------
        MemoryLimitError
            Naming the widest one-hot column (its categories) or the width, and the size needed.
        """
        width = self.n_inputs
        nbytes = 4 * n_rows * width
        widest = max((f for f in self.features if f.kind == "categorical"), key=lambda f: f.width, default=None)
        if widest is not None:
            what = (
                f"column {widest.name!r} ({widest.width:,} categories, one-hot) in the network inputs of "
                f"{n_rows:,} rows × {width:,} inputs"
            )
        else:
            what = f"the network inputs of {n_rows:,} rows × {width:,} columns"
        check_allocation(nbytes, what)

    def _check_missing(self, frame: Frame, spec: FeatureSpec, missing: NDArray[np.bool_], at: Any = None) -> None:
        if spec.fill is None and missing.any():
            rows = np.flatnonzero(missing) if at is None else at(np.flatnonzero(missing))
            raise DataError(
                f"{frame.source}: column {spec.name!r} has {len(rows)} missing value{'s' if len(rows) > 1 else ''} "
                f"({rows_text(frame, rows)}); fill them in"
                + (", or retrain with --impute mean|median" if self.impute in (None, "drop") else "")
            )

    def has_target(self, frame: Frame) -> bool:
        """Whether ``frame`` has the target column."""
        return frame.has(self.target.name)

    def targets(self, frame: Frame) -> tuple[NDArray[Any], NDArray[np.bool_]]:
        """The target of every row as the network sees it, and the rows where it is missing.

        Class labels become int64 indices (−1 where missing); numeric targets
        float64 values scaled as in training (NaN where missing), shape ``(n,)``.

        Raises
        ------
        DataError
            A label the model does not know, or text where numbers are expected.
        """
        spec = self.target
        column = frame.column(spec.name)
        if spec.kind == "numeric":
            parsed = parse_numbers(column, frame.decimal_comma)
            if parsed.bad is not None:
                raise not_a_number(frame, spec.name, parsed.bad, column, "the model predicts numbers for this column")
            scaled = self.scaled_targets(parsed.values)
            bad = np.flatnonzero(~np.isfinite(scaled) & ~parsed.missing)
            if bad.size:
                raise DataError(
                    f"{frame.source}: the target column {spec.name!r} holds infinite or too large values "
                    f"({rows_text(frame, bad)}); replace them with finite numbers"
                )
            return scaled, parsed.missing
        return class_indices(frame, spec, column)

    def scaled_targets(self, values: NDArray[Any]) -> NDArray[np.float64]:
        """Numeric targets as the network sees them: a float64 copy standardised with the fitted statistics."""
        with np.errstate(over="ignore", invalid="ignore"):
            return standardize_in_place(np.array(values, dtype=np.float64), self.target.mean, self.target.scale)

    def labels(self, indices: NDArray[np.int64]) -> list[Label]:
        """Class labels of class indices."""
        classes = self.target.classes
        return [classes[int(i)] for i in indices]

    def target_values(self, scaled: NDArray[Any]) -> NDArray[np.float64]:
        """Numeric targets in their own units from the network's scaled outputs."""
        return unstandardize_in_place(np.array(scaled, dtype=np.float64), self.target.mean, self.target.scale)

    def numeric_transform(self, X: NDArray[Any]) -> NDArray[np.float32]:
        """Network inputs from raw numeric feature values (every feature numeric), shape (n, n_features)."""
        if any(f.kind != "numeric" for f in self.features):
            raise ParameterError("numeric_transform needs a model whose features are all numeric")
        mean = np.array([f.mean for f in self.features])
        scale = np.array([f.scale for f in self.features])
        return standardize_in_place(np.array(X, dtype=np.float64), mean, scale).astype(np.float32)

    # ------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """The preprocessing as plain JSON values (stored under ``"preprocessing"`` in the model file)."""
        return {
            "format": PREPROCESSING_FORMAT,
            "version": PREPROCESSING_VERSION,
            "standardize": self.standardize,
            "impute": self.impute,
            "features": [f.to_dict() for f in self.features],
            "target": self.target.to_dict(),
        }

    @classmethod
    def from_dict(cls, state: Any, where: str = "preprocessing") -> Preprocessor:
        """Rebuild from :meth:`to_dict`, checking every field.

        Parameters
        ----------
        state : dict
        where : str
            Names the source in messages (the model file).

        Raises
        ------
        ModelFileError
            Naming the broken field, e.g. ``preprocessing.features[2].scale``.
        """
        return _Reader(where).preprocessor(state)

    def __repr__(self) -> str:
        kinds = ", ".join(f"{f.name}:{f.kind[0]}" for f in self.features[:8])
        more = ", ..." if len(self.features) > 8 else ""
        return (
            f"Preprocessor(features=[{kinds}{more}], target={self.target.name!r} ({self.target.kind}), "
            f"n_inputs={self.n_inputs}, standardize={self.standardize}, impute={self.impute!r})"
        )


#: Rows transformed at a time by the blocked path: a block's inputs and its gathered cells stay in the cache.
BLOCK_ROWS = 1 << 14


@dataclass(frozen=True)
class _Source:
    """What a feature's blocks read: float64 numbers, dates, or category codes and their one-hot places."""

    kind: Literal["numbers", "dates", "categories"]
    column: NDArray[Any]
    places: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """A code's one-hot place (−1: none); the last place is a missing cell's."""
    values: list[str] = field(default_factory=list)
    """The categories the codes stand for."""


def _sources(features: list[FeatureSpec], frame: Frame) -> list[_Source] | None:
    """Each feature's :class:`_Source`, or None if one needs the column-wise path (numbers read as text)."""
    sources = []
    for spec in features:
        whole = frame.column(spec.name)
        if spec.kind == "categorical":
            encoded = encode(whole)
            lookup = spec.lookup()
            places = [lookup.get(v, -1) for v in encoded.values]
            places.append(-1 if spec.fill is None else lookup.get(str(spec.fill), -1))
            sources.append(_Source("categories", encoded.codes, np.array(places, dtype=np.int64), encoded.values))
        elif spec.dates and whole.dtype.kind == "M":
            sources.append(_Source("dates", whole))
        elif not spec.dates and whole.dtype == np.float64:
            sources.append(_Source("numbers", whole))
        else:
            return None
    return sources


def _fill_blocks(
    features: list[FeatureSpec],
    sources: list[_Source],
    starts: list[int],
    rows: NDArray[np.int64] | None,
    out: NDArray[np.float32],
    buffers: Buffers,
    lo: int,
    hi: int,
) -> list[tuple[int, set[int]]] | None:
    """Write the inputs of positions ``lo:hi`` of the rows transformed, :data:`BLOCK_ROWS` at a time; per
    feature, the count and codes of its cells of categories not seen in training. None at the first cell
    that needs a message (missing, not finite, too large): the column-wise path then says which."""
    unseen: list[tuple[int, set[int]]] = [(0, set()) for _ in features]
    buffer = buffers.get(BLOCK_ROWS)
    for begin in range(lo, hi, BLOCK_ROWS):
        end = min(begin + BLOCK_ROWS, hi)
        picked: Any = slice(begin, end) if rows is None else rows[begin:end]
        block = out[begin:end]
        for place, (spec, source, start) in enumerate(zip(features, sources, starts, strict=True)):
            if source.kind == "categories":
                cells = source.column[picked]
                if spec.fill is None and cells.min() < 0:
                    return None
                codes = source.places[cells]
                known = codes >= 0
                block[np.flatnonzero(known), start + codes[known]] = 1.0
                if not known.all():
                    count, codes_seen = unseen[place]
                    codes_seen.update(np.unique(cells[~known]).tolist())
                    unseen[place] = (count + int((~known).sum()), codes_seen)
                continue
            if source.kind == "dates":
                values = days(source.column[picked])[0]
            else:
                values = buffer[: end - begin]
                if rows is None:
                    np.copyto(values, source.column[picked])
                else:
                    np.take(source.column, picked, out=values)
            if not _finite(values):
                missing = np.isnan(values)
                if missing.any():
                    if not isinstance(spec.fill, float):
                        return None
                    values[missing] = spec.fill
                if not np.isfinite(values).all():
                    return None
            with np.errstate(over="ignore"):
                standardize_in_place(values, spec.mean, spec.scale)
            if not within(values):
                return None
            block[:, start] = values
    return unseen


def _unseen_notes(
    frame: Frame, features: list[FeatureSpec], sources: list[_Source], parts: list[list[tuple[int, set[int]]]]
) -> list[str]:
    """The notes on categories not seen in training, each feature's parts added up."""
    notes = []
    for place, (spec, source) in enumerate(zip(features, sources, strict=True)):
        count = sum(part[place][0] for part in parts)
        if count:
            codes = sorted(set().union(*(part[place][1] for part in parts)))
            notes.append(_unseen_note(frame, spec, count, source.values, codes))
    return notes


def _unseen_note(frame: Frame, spec: FeatureSpec, count: int, values: list[str], codes: list[int]) -> str:
    unseen = sorted({values[k] for k in codes if k >= 0})
    return (
        f"{frame.source}: column {spec.name!r} has {count} rows with categories not seen in training "
        f"({listed(unseen, 5)}); their one-hot inputs are all 0"
    )


def _finite(values: NDArray[np.float64]) -> bool:
    """Whether every value is finite, by a sum rather than a mask (millions of rows: no new array)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(values.sum())) or bool(np.isfinite(values).all())


def _dates(frame: Frame, spec: FeatureSpec, column: NDArray[Any], at: Any) -> Parsed:
    """A date column's cells as days since 1970-01-01: ``datetime64`` as read, or ISO-8601 text."""
    if column.dtype.kind != "M":
        text, missing = as_text(column)
        try:
            column = np.array(
                [None if m else t for t, m in zip(text.tolist(), missing.tolist(), strict=True)], dtype="datetime64[us]"
            )
        except ValueError:
            bad = next(i for i, t in enumerate(text.tolist()) if t is not None and not _is_date(t))
            raise DataError(
                f"{frame.source}: column {spec.name!r}, {frame.where(int(at(np.array([bad]))[0]))}: "
                f"{text[bad]!r} is not a date; the model was trained on dates here (YYYY-MM-DD, ISO 8601)"
            ) from None
    values, missing = days(column)
    return Parsed(values, missing)


def _is_date(text: str) -> bool:
    try:
        np.datetime64(text, "us")
    except ValueError:
        return False
    return True


# ------------------------------------------------------------------- reading back


class _Reader:
    """Checks a preprocessing document field by field, raising ModelFileError naming the field."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, rule: str, value: Any) -> ModelFileError:
        return ModelFileError(f"{self.where}: metadata field {path!r} {rule}, got {shown_briefly(value)}")

    def mapping(self, value: Any, path: str, keys: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, "must be an object", value)
        missing = sorted(keys - set(value))
        if missing:
            raise self.fail(f"{path}.{missing[0]}", "is missing", None)
        return value

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self.fail(path, "must be a string", value)
        return value

    def number(self, value: Any, path: str, positive: bool = False) -> float:
        if not is_finite_number(value):
            raise self.fail(path, "must be a finite number", value)
        if positive and value <= 0:
            raise self.fail(path, "must be a positive number", value)
        return float(value)

    def preprocessor(self, state: Any) -> Preprocessor:
        p = "preprocessing"
        doc = self.mapping(state, p, {"format", "version", "standardize", "impute", "features", "target"})
        if doc["format"] != PREPROCESSING_FORMAT:
            raise self.fail(f"{p}.format", f"must be {PREPROCESSING_FORMAT!r}", doc["format"])
        if doc["version"] != PREPROCESSING_VERSION:
            raise self.fail(
                f"{p}.version", f"must be {PREPROCESSING_VERSION} (a newer backprop wrote this file?)", doc["version"]
            )
        if not isinstance(doc["standardize"], bool):
            raise self.fail(f"{p}.standardize", "must be true or false", doc["standardize"])
        if doc["impute"] is not None and doc["impute"] not in IMPUTE:
            raise self.fail(f"{p}.impute", f"must be null or one of {list(IMPUTE)}", doc["impute"])
        features = doc["features"]
        if not isinstance(features, list) or not features:
            raise self.fail(f"{p}.features", "must be a non-empty list", features)
        specs = [self.feature(f, f"{p}.features[{i}]") for i, f in enumerate(features)]
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise self.fail(f"{p}.features", "must name each column once", names)
        target = self.target(doc["target"], f"{p}.target")
        if target.name in names:
            raise self.fail(f"{p}.target.name", "must not also be a feature", target.name)
        return Preprocessor(specs, target, standardize=doc["standardize"], impute=doc["impute"])

    def feature(self, value: Any, path: str) -> FeatureSpec:
        doc = self.mapping(value, path, {"name", "kind", "fill"})
        name = self.text(doc["name"], f"{path}.name")
        kind = doc["kind"]
        if kind == "numeric":
            doc = self.mapping(value, path, {"mean", "scale"})
            fill = doc["fill"]
            if fill is not None:
                fill = self.number(fill, f"{path}.fill")
            dates = doc.get("dates", False)
            if not isinstance(dates, bool):
                raise self.fail(f"{path}.dates", "must be true or false", dates)
            return FeatureSpec(
                name,
                "numeric",
                mean=self.number(doc["mean"], f"{path}.mean"),
                scale=self.number(doc["scale"], f"{path}.scale", positive=True),
                fill=fill,
                dates=dates,
            )
        if kind == "categorical":
            doc = self.mapping(value, path, {"categories"})
            categories = doc["categories"]
            if (
                not isinstance(categories, list)
                or not categories
                or not all(isinstance(c, str) for c in categories)
                or len(set(categories)) != len(categories)
            ):
                raise self.fail(f"{path}.categories", "must be a non-empty list of distinct strings", categories)
            fill = doc["fill"]
            if fill is not None and fill not in categories:
                raise self.fail(f"{path}.fill", "must be null or one of the categories", fill)
            return FeatureSpec(name, "categorical", categories=list(categories), fill=fill)
        raise self.fail(f"{path}.kind", "must be 'numeric' or 'categorical'", kind)

    def target(self, value: Any, path: str) -> TargetSpec:
        doc = self.mapping(value, path, {"name", "kind"})
        name = self.text(doc["name"], f"{path}.name")
        if doc["kind"] == "classes":
            doc = self.mapping(value, path, {"classes"})
            classes = doc["classes"]
            valid = (
                isinstance(classes, list)
                and len(classes) >= 2
                and (all(isinstance(c, str) for c in classes) or all(is_finite_number(c) for c in classes))
                and len({str(c) for c in classes}) == len(classes)
            )
            if not valid:
                raise self.fail(f"{path}.classes", "must be a list of at least 2 distinct strings or numbers", classes)
            return TargetSpec(name, "classes", classes=list(classes))
        if doc["kind"] == "numeric":
            doc = self.mapping(value, path, {"mean", "scale"})
            return TargetSpec(
                name,
                "numeric",
                mean=self.number(doc["mean"], f"{path}.mean"),
                scale=self.number(doc["scale"], f"{path}.scale", positive=True),
            )
        raise self.fail(f"{path}.kind", "must be 'classes' or 'numeric'", doc["kind"])
