"""Scaling, label encoding, one-hot targets and splits (backprop.preprocessing)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from backprop import BackpropError, BackpropTypeError, DataError, ParameterError, ShapeError
from backprop.preprocessing import (
    NotFittedError,
    Standardizer,
    decode_labels,
    encode_labels,
    one_hot,
    split,
    stratified_counts,
    stratified_split,
    train_test_split,
)

# Four samples, three features:
#   column 0: 0, 0, 2, 2  -> mean 1, deviations ±1           -> variance 1, std 1
#   column 1: 1, 3, 5, 7  -> mean 4, deviations -3, -1, 1, 3 -> variance (9+1+1+9)/4 = 5, std √5
#   column 2: 7, 7, 7, 7  -> mean 7, variance 0              -> scale 1 (maps to 0)
X_HAND = np.array([[0.0, 1.0, 7.0], [0.0, 3.0, 7.0], [2.0, 5.0, 7.0], [2.0, 7.0, 7.0]])


def fitted() -> Standardizer:
    return Standardizer().fit(X_HAND)


# --------------------------------------------------------------------- Standardizer


def test_standardizer_statistics_by_hand():
    scaler = fitted()
    np.testing.assert_array_equal(scaler.mean_, [1.0, 4.0, 7.0])
    np.testing.assert_allclose(scaler.scale_, [1.0, np.sqrt(5.0), 1.0], rtol=1e-15)
    assert scaler.n_features_in_ == 3
    assert scaler.mean_.dtype == scaler.scale_.dtype == np.float64


def test_standardizer_transform_by_hand():
    # Row [0, 1, 7] -> [(0-1)/1, (1-4)/√5, (7-7)/1] = [-1, -3/√5, 0].
    out = fitted().transform(X_HAND)
    r5 = np.sqrt(5.0)
    expected = [[-1, -3 / r5, 0], [-1, -1 / r5, 0], [1, 1 / r5, 0], [1, 3 / r5, 0]]
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=1e-15)
    # New data use the training statistics: [4, 4, 8] -> [(4-1)/1, (4-4)/√5, (8-7)/1] = [3, 0, 1].
    np.testing.assert_array_equal(fitted().transform([[4.0, 4.0, 8.0]]), [[3.0, 0.0, 1.0]])


def test_constant_column_with_round_off_maps_to_zero():
    # 0.1 is not exact in binary: the mean of ten 0.1s may differ from 0.1 by an
    # ulp and the variance come out as ~1e-33, not 0; it still counts as constant.
    X = np.column_stack([np.full(10, 0.1), np.arange(10.0)])
    scaler = Standardizer().fit(X)
    assert scaler.scale_[0] == 1.0
    np.testing.assert_allclose(scaler.transform(X)[:, 0], 0.0, atol=1e-15)


def test_fit_transform_equals_fit_then_transform_and_leaves_input_alone():
    X = X_HAND.copy()
    np.testing.assert_array_equal(Standardizer().fit_transform(X), fitted().transform(X))
    np.testing.assert_array_equal(X, X_HAND)


@pytest.mark.parametrize(
    ("given", "returned"),
    [(np.float32, np.float32), (np.float64, np.float64), (np.int64, np.float64), (np.int32, np.float64)],
)
def test_output_dtype_follows_input(given, returned):
    scaler = Standardizer().fit(X_HAND.astype(given))
    assert scaler.mean_.dtype == np.float64  # statistics always in float64
    assert scaler.transform(X_HAND.astype(given)).dtype == returned
    assert scaler.inverse_transform(X_HAND.astype(given)).dtype == returned


def test_float32_statistics_are_computed_in_float64():
    # 2**24 + 1 is not a float32; a float32 accumulator would lose the +1s.
    X = np.array([[2.0**24], [2.0**24 + 2]], dtype=np.float32)
    assert Standardizer().fit(X).mean_[0] == 2.0**24 + 1


def test_inverse_transform_round_trip():
    rng = np.random.default_rng(0)
    X = rng.normal(5.0, 3.0, size=(50, 4))
    scaler = Standardizer().fit(X)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X)), X, rtol=1e-12)
    X32 = X.astype(np.float32)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X32)), X32, rtol=1e-5)


def test_to_dict_from_dict_round_trip_through_json():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 3)) * [1.0, 1e-3, 1e3]
    scaler = Standardizer().fit(X)
    state = scaler.to_dict()
    assert set(state) == {"mean", "scale"}
    assert all(type(v) is float for v in state["mean"] + state["scale"])
    restored = Standardizer.from_dict(json.loads(json.dumps(state)))
    np.testing.assert_array_equal(restored.mean_, scaler.mean_)  # bit for bit
    np.testing.assert_array_equal(restored.scale_, scaler.scale_)
    np.testing.assert_array_equal(restored.transform(X), scaler.transform(X))
    assert repr(restored) == "Standardizer(n_features_in_=3)"


@pytest.mark.parametrize(
    ("state", "kind", "match"),
    [
        ([1.0], BackpropTypeError, "Standardizer state must be a dict with keys 'mean' and 'scale', got list"),
        ({"mean": [0.0]}, DataError, r"exactly the keys \['mean', 'scale'\], got missing \['scale'\], unknown \[\]"),
        (
            {"mean": [0.0], "scale": [1.0], "std": [1.0]},
            DataError,
            r"got missing \[\], unknown \['std'\]",
        ),
        (
            {"mean": "0.0", "scale": [1.0]},
            BackpropTypeError,
            "Standardizer state 'mean' must be a list of numbers, got str '0.0'",
        ),
        ({"mean": [0.0], "scale": [True]}, BackpropTypeError, "'scale' must be a list of numbers"),
        ({"mean": [], "scale": []}, DataError, "'mean' must have at least one value, got an empty list"),
        ({"mean": [0.0, 1.0], "scale": [1.0]}, DataError, "got 2 means and 1 scales"),
        ({"mean": [0.0, 1.0], "scale": [1.0, 0.0]}, DataError, r"'scale' values must be > 0, got scale\[1\] = 0.0"),
        ({"mean": [float("nan")], "scale": [1.0]}, DataError, "Standardizer state 'mean' contains NaN"),
        ({"mean": [0.0], "scale": [float("inf")]}, DataError, "Standardizer state 'scale' contains infinity"),
    ],
)
def test_from_dict_rejects_bad_state(state, kind, match):
    with pytest.raises(kind, match=match):
        Standardizer.from_dict(state)


def test_transform_with_wrong_feature_count_names_both():
    with pytest.raises(
        ShapeError,
        match=re.escape("Standardizer was fitted on 3 features, but X has 2 features (array of shape (1, 2))"),
    ):
        fitted().transform([[1.0, 2.0]])
    with pytest.raises(ShapeError, match="fitted on 3 features, but X has 4 features"):
        fitted().inverse_transform(np.zeros((2, 4)))


def test_nan_and_infinity_are_data_errors():
    bad = X_HAND.copy()
    bad[2, 1] = np.nan
    with pytest.raises(DataError, match=re.escape("X contains NaN (1 non-finite value, first at row 2, column 1)")):
        Standardizer().fit(bad)
    with pytest.raises(DataError, match="X contains NaN"):
        fitted().transform(bad)
    with pytest.raises(DataError, match="X contains infinity"):
        fitted().transform(np.full((1, 3), np.inf, dtype=np.float32))


def test_bad_shapes_and_types():
    with pytest.raises(ShapeError, match=re.escape("X must be 2-D, (n_samples, n_features), got array of shape (3,)")):
        Standardizer().fit([1.0, 2.0, 3.0])
    with pytest.raises(
        DataError, match=re.escape("at least one sample and one feature to fit a Standardizer, got shape (0, 3)")
    ):
        Standardizer().fit(np.zeros((0, 3)))
    with pytest.raises(BackpropTypeError, match="X must be numeric, got array of dtype <U1"):
        Standardizer().fit([["a", "b"]])


def test_unfitted_standardizer():
    scaler = Standardizer()
    assert repr(scaler) == "Standardizer()"
    assert not hasattr(scaler, "mean_")  # NotFittedError is an AttributeError, as in scikit-learn
    with pytest.raises(NotFittedError, match=r"not fitted yet; call fit\(X\)"):
        scaler.transform(X_HAND)
    with pytest.raises(NotFittedError):
        scaler.to_dict()
    assert issubclass(NotFittedError, BackpropError) and issubclass(NotFittedError, ValueError)


# --------------------------------------------------------------------- one_hot


def test_one_hot():
    expected = [[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 0, 1]]
    out = one_hot([0, 2, 1, 2])
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.float32 and out.shape == (4, 3)
    assert one_hot([0, 1], n_classes=4).shape == (2, 4)
    assert one_hot([1, 0], dtype=np.float64).dtype == np.float64
    assert one_hot([1, 0], dtype=np.int8).dtype == np.int8
    np.testing.assert_array_equal(one_hot(np.array([[2.0], [0.0]]), 3), [[0, 0, 1], [1, 0, 0]])  # column, whole floats
    np.testing.assert_array_equal(one_hot([True, False]), [[0, 1], [1, 0]])
    assert one_hot([], n_classes=3).shape == (0, 3)


@pytest.mark.parametrize(
    ("labels", "n_classes", "kind", "match"),
    [
        ([0, 1, 3], 3, DataError, re.escape("labels must be in [0, 3) (n_classes=3), got labels[2] = 3")),
        ([0, -1], 3, DataError, re.escape("labels must be in [0, 3) (n_classes=3), got labels[1] = -1")),
        ([0, -1], None, DataError, re.escape("labels must be >= 0 (class indices), got labels[1] = -1")),
        ([0, 1.5], None, DataError, re.escape("labels must be integer class indices, got labels[1] = 1.5")),
        (
            ["a", "b"],
            None,
            BackpropTypeError,
            "labels must be integer class indices, got array of dtype <U1; map labels to indices with encode_labels first",
        ),
        ([0, np.nan], None, DataError, re.escape("labels contains NaN (1 non-finite value, first at index 1)")),
        (
            [[0, 1], [1, 0]],
            None,
            ShapeError,
            re.escape("labels must be 1-D, one label per sample, got array of shape (2, 2)"),
        ),
        ([], None, DataError, "labels is empty and n_classes is not given"),
        ([0], 0, ParameterError, "n_classes must be a positive integer, got n_classes=0"),
        ([0], 2.0, ParameterError, "n_classes must be a positive integer, got n_classes=2.0"),
    ],
)
def test_one_hot_rejects(labels, n_classes, kind, match):
    with pytest.raises(kind, match=match):
        one_hot(labels, n_classes)


def test_one_hot_rejects_non_numeric_dtype():
    with pytest.raises(ParameterError, match=r"dtype must be a numeric dtype .* got dtype='U3'"):
        one_hot([0], dtype="U3")


# --------------------------------------------------------------------- labels


def test_encode_decode_strings():
    y = ["dog", "cat", "dog", "bird"]
    indices, classes = encode_labels(y)
    assert classes.tolist() == ["bird", "cat", "dog"]  # sorted
    assert indices.tolist() == [2, 1, 2, 0]
    assert indices.dtype == np.int64
    assert decode_labels(indices, classes).tolist() == y
    assert decode_labels([0, 0], classes).tolist() == ["bird", "bird"]


@pytest.mark.parametrize(
    ("y", "classes", "indices"),
    [
        ([3, 1, 3, 7], [1, 3, 7], [1, 0, 1, 2]),
        ([0.5, -2.0, 0.5], [-2.0, 0.5], [1, 0, 1]),
        ([True, False, True], [False, True], [1, 0, 1]),
        (np.array([[5], [4]]), [4, 5], [1, 0]),  # a column is flattened
    ],
)
def test_encode_other_label_types(y, classes, indices):
    got_indices, got_classes = encode_labels(y)
    assert got_classes.tolist() == classes
    assert got_indices.tolist() == indices
    np.testing.assert_array_equal(decode_labels(got_indices, got_classes), np.ravel(y))


def test_label_errors():
    with pytest.raises(
        BackpropTypeError, match=r"y must hold labels of one comparable type, got a mix of \['int', 'str'\]"
    ):
        encode_labels(np.array(["a", 1], dtype=object))
    with pytest.raises(DataError, match="y contains NaN"):
        encode_labels([1.0, np.nan])
    with pytest.raises(ShapeError, match=re.escape("y must be 1-D, one label per sample, got array of shape (2, 2)")):
        encode_labels([[1, 2], [3, 4]])
    with pytest.raises(DataError, match=re.escape("indices must be in [0, 2) (2 classes), got indices[1] = 2")):
        decode_labels([0, 2], ["a", "b"])
    with pytest.raises(BackpropTypeError, match="indices must be integer class indices"):
        decode_labels(["a"], ["a", "b"])
    with pytest.raises(DataError, match="classes must hold at least one label"):
        decode_labels([], [])


# --------------------------------------------------------------------- splits


def test_stratified_counts_follow_the_largest_remainder_rule():
    # 25 of 100 samples: quotas 50·25/100 = 12.5, 30·25/100 = 7.5, 20·25/100 = 5.
    # Floors 12 + 7 + 5 = 24; the one seat left goes to the largest remainder,
    # a tie (0.5, 0.5) won by the larger class: [13, 7, 5].
    assert stratified_counts([50, 30, 20], 25).tolist() == [13, 7, 5]
    # Same tie between equal classes: the earlier class first.
    # 38 of 150 (iris): quotas 12.67 each, floors 36, two seats to classes 0 and 1.
    assert stratified_counts([50, 50, 50], 38).tolist() == [13, 13, 12]
    # Exact quotas need no rounding: 10 of 100 -> 5, 3, 2.
    assert stratified_counts([50, 30, 20], 10).tolist() == [5, 3, 2]
    # A class never gives all its samples to the test part: quotas 0.5, 0.5, 4;
    # the two singletons win the leftover seats by remainder but have no room
    # (at most n_c - 1 = 0), so both seats pass to the large class.
    assert stratified_counts([1, 1, 8], 5).tolist() == [0, 0, 5]
    assert stratified_counts([1, 1, 8], 0).tolist() == [0, 0, 0]


def test_stratified_counts_rejects():
    with pytest.raises(
        ParameterError, match=re.escape("n_test must be an integer in [0, 7] for classes of sizes [1, 1, 8]")
    ):
        stratified_counts([1, 1, 8], 8)
    with pytest.raises(ParameterError, match="class_sizes must be a non-empty list of positive counts"):
        stratified_counts([3, 0], 1)


def labels_50_30_20(seed=0):
    y = np.repeat([0, 1, 2], [50, 30, 20])
    return np.random.default_rng(seed).permutation(y)


@pytest.mark.parametrize(
    ("test_size", "test_counts"),
    [(0.25, [13, 7, 5]), (10, [5, 3, 2]), (0.5, [25, 15, 10]), (0.01, [1, 0, 0])],
)
def test_stratified_split_per_class_counts_are_exact(test_size, test_counts):
    y = labels_50_30_20()
    train, test = stratified_split(y, test_size, seed=3)
    assert np.bincount(y[test], minlength=3).tolist() == test_counts
    assert np.bincount(y[train], minlength=3).tolist() == [
        50 - test_counts[0],
        30 - test_counts[1],
        20 - test_counts[2],
    ]
    # Disjoint, together every sample once, int64, in random order.
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(100))
    assert train.dtype == test.dtype == np.int64
    assert not np.all(np.diff(train) > 0)


def test_stratified_split_is_deterministic_for_a_seed():
    y = labels_50_30_20()
    first, again, other = (
        stratified_split(y, 0.25, seed=7),
        stratified_split(y, 0.25, seed=7),
        stratified_split(y, 0.25, seed=8),
    )
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert set(first[1].tolist()) != set(other[1].tolist())


@pytest.mark.parametrize(
    ("y", "test_size", "expected_test"),
    [
        # 3 classes (a pass a class finds their samples): 10 test samples, 5 + 3 + 2.
        (labels_50_30_20(), 0.1, [3, 21, 26, 32, 48, 51, 58, 89, 96, 98]),
        # 12 classes (a stable sort finds them): 12 test samples.
        (np.random.default_rng(1).integers(0, 12, 60), 0.2, [0, 3, 13, 17, 22, 29, 35, 42, 46, 55, 56, 57]),
    ],
)
def test_stratified_split_unshuffled_gives_the_same_sets_sorted(y, test_size, expected_test):
    # The sets are pinned: a seed's split must not change from one version to the next.
    train, test = stratified_split(y, test_size, seed=3)
    sorted_train, sorted_test = stratified_split(y, test_size, seed=3, shuffle=False)
    assert sorted(test.tolist()) == sorted_test.tolist() == expected_test
    np.testing.assert_array_equal(np.sort(train), sorted_train)
    assert sorted_train.dtype == sorted_test.dtype == np.int64


def test_stratified_split_with_strings_singletons_and_one_hot():
    y = np.array(["b", "a", "b", "a", "b", "a", "c"])  # "c" seen once: stays in training
    train, test = stratified_split(y, 2, seed=0)
    assert sorted(y[test].tolist()) == ["a", "b"]
    assert "c" in y[train]
    targets = one_hot(labels_50_30_20())
    _, test = stratified_split(targets, 0.25, seed=0)  # each distinct row is a class
    assert targets[test].sum(axis=0).tolist() == [13, 7, 5]


def test_stratified_split_needs_room_for_every_class_in_training():
    y = [0, 0, 1, 1, 2, 2]
    with pytest.raises(
        ParameterError,
        match=re.escape(
            "test_size=4 asks for 4 of 6 samples, but a stratified split keeps at least one sample of each of the 3 classes for training, so at most 3 can be test samples"
        ),
    ):
        stratified_split(y, 4)


@pytest.mark.parametrize(
    ("test_size", "match"),
    [
        (0, re.escape("test_size as a count must be in [1, n_samples - 1] = [1, 9], got test_size=0")),
        (10, re.escape("test_size as a count must be in [1, n_samples - 1] = [1, 9], got test_size=10")),
        (-1, re.escape("test_size as a count must be in [1, n_samples - 1] = [1, 9], got test_size=-1")),
        (0.0, re.escape("test_size as a fraction must be in (0, 1), got test_size=0.0")),
        (1.0, re.escape("test_size as a fraction must be in (0, 1), got test_size=1.0")),
        (1.5, re.escape("test_size as a fraction must be in (0, 1), got test_size=1.5")),
        (float("nan"), re.escape("test_size as a fraction must be in (0, 1), got test_size=nan")),
        (0.95, re.escape("test_size=0.95 of n_samples=10 asks for 10 test samples and leaves none for training")),
        (
            True,
            re.escape(
                "test_size must be a fraction in (0, 1) or a sample count in [1, n_samples - 1], got test_size=True"
            ),
        ),
        (
            "0.2",
            re.escape(
                "test_size must be a fraction in (0, 1) or a sample count in [1, n_samples - 1], got test_size='0.2'"
            ),
        ),
        (None, re.escape("got test_size=None")),
    ],
)
def test_bad_test_size(test_size, match):
    with pytest.raises(ParameterError, match=match):
        split(10, test_size)
    with pytest.raises(ParameterError, match=match):
        stratified_split(np.arange(10) % 2, test_size)


def test_split():
    train, test = split(10, 0.25, seed=0)  # ceil(2.5) = 3 test samples
    assert (len(train), len(test)) == (7, 3)
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(10))
    # 0.7 * 10 is 7.000000000000001 in floating point; still 7, not 8.
    assert len(split(10, 0.7, seed=0)[1]) == 7
    assert len(split(10, np.float32(0.5), seed=0)[1]) == 5
    assert len(split(10, np.int64(4), seed=0)[1]) == 4
    np.testing.assert_array_equal(split(100, 0.2, seed=5)[1], split(100, 0.2, seed=5)[1])
    assert not np.array_equal(split(100, 0.2, seed=5)[1], split(100, 0.2, seed=6)[1])


def test_split_rejects():
    with pytest.raises(ParameterError, match="n_samples must be a positive integer, got n_samples=0"):
        split(0)
    with pytest.raises(DataError, match="a train/test split needs at least 2 samples, got n_samples=1"):
        split(1)
    with pytest.raises(ParameterError, match="seed must be None or a non-negative integer, got seed=-1"):
        split(10, seed=-1)


def test_train_test_split():
    X = np.arange(200.0).reshape(100, 2)
    y = labels_50_30_20()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=True, seed=0)
    assert X_train.shape == (75, 2) and X_test.shape == (25, 2)
    assert np.bincount(y_test).tolist() == [13, 7, 5]
    # Rows stay paired: row i of X is [2i, 2i + 1] and goes with y[i].
    np.testing.assert_array_equal(y_test, y[(X_test[:, 0] / 2).astype(int)])
    np.testing.assert_array_equal(y_train, y[(X_train[:, 0] / 2).astype(int)])
    # Unstratified (the default) and regression targets.
    X_train, X_test, y_train, y_test = train_test_split(X, np.linspace(0, 1, 100), test_size=10, seed=0)
    assert (len(X_train), len(X_test), len(y_train), len(y_test)) == (90, 10, 90, 10)
    a, b = train_test_split(X, y, seed=1), train_test_split(X, y, seed=1)
    for left, right in zip(a, b, strict=True):
        np.testing.assert_array_equal(left, right)


def test_train_test_split_rejects():
    with pytest.raises(
        ShapeError,
        match=re.escape("X and y must have the same number of samples, got X of shape (4, 2) and y of shape (3,)"),
    ):
        train_test_split(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ParameterError, match="stratify must be True or False, got stratify='yes'"):
        train_test_split(np.zeros((4, 2)), np.zeros(4), stratify="yes")
    with pytest.raises(DataError, match="needs at least 2 samples, got n_samples=0"):
        train_test_split(np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(BackpropTypeError, match="X and y must be arrays, got y=None"):
        train_test_split(np.zeros((4, 2)), None)
