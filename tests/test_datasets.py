"""Every dataset loads offline with the documented shapes (backprop.datasets).

Datasets that need scikit-learn or mnist1d are skipped when the package is
missing (``pip install 'backprop[datasets]'`` brings both).
"""

from __future__ import annotations

import dataclasses
import random
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

from backprop import BackpropError, BackpropTypeError, ParameterError, datasets
from backprop.datasets import DATASETS, MissingDependencyError, load
from backprop.preprocessing import Standardizer, stratified_counts

# name: (n_train, n_test, n_features, n_classes or None, optional package needed)
# With test_size=0.25 the test part has ceil(0.25 n) samples: wine 44.5 -> 45, breast_cancer 142.25 -> 143,
# digits 449.25 -> 450, diabetes 110.5 -> 111; mnist1d keeps its own 4000 / 1000 split.
EXPECTED = {
    "xor": (300, 100, 2, 2, None),
    "moons": (750, 250, 2, 2, None),
    "circles": (750, 250, 2, 2, None),
    "spirals": (675, 225, 2, 3, None),
    "iris": (112, 38, 4, 3, "sklearn"),
    "wine": (133, 45, 13, 3, "sklearn"),
    "breast_cancer": (426, 143, 30, 2, "sklearn"),
    "digits": (1347, 450, 64, 10, "sklearn"),
    "diabetes": (331, 111, 10, None, "sklearn"),
    "mnist1d": (4000, 1000, 40, 10, "mnist1d"),
}
CLASSIFICATION = [name for name, spec in EXPECTED.items() if spec[3] is not None]
SPLIT_BY_SEED = [name for name in EXPECTED if name != "mnist1d"]


def needs(name):
    package = EXPECTED[name][4]
    if package is not None:
        pytest.importorskip(package)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a dataset loader tried to use the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_names():
    assert set(DATASETS) == set(EXPECTED)
    assert all(name in datasets.describe() for name in DATASETS)
    assert datasets.describe("iris").startswith("iris: classification, 150 x 4, 3 classes")


@pytest.mark.parametrize("name", list(EXPECTED))
def test_loads_with_documented_shapes(name):
    needs(name)
    n_train, n_test, n_features, n_classes, _ = EXPECTED[name]
    data = load(name)
    assert data.name == name
    assert data.X_train.shape == (n_train, n_features)
    assert data.X_test.shape == (n_test, n_features)
    assert data.y_train.shape == (n_train,)
    assert data.y_test.shape == (n_test,)
    assert data.X_train.dtype == data.X_test.dtype == np.float32
    assert np.isfinite(data.X_train).all() and np.isfinite(data.X_test).all()
    assert len(data.feature_names) == n_features
    assert all(isinstance(n, str) for n in data.feature_names)
    assert data.description and "\n" not in data.description
    assert data.scaler is None
    assert data.n_features == n_features
    assert f"X_train ({n_train}, {n_features}) float32" in repr(data)
    if n_classes is None:
        assert data.task == "regression"
        assert data.n_classes is None and data.target_names is None
        assert data.y_train.dtype == data.y_test.dtype == np.float32
    else:
        assert data.task == "classification"
        assert data.n_classes == n_classes
        assert data.target_names is not None and len(data.target_names) == n_classes
        assert all(isinstance(n, str) for n in data.target_names)
        assert data.y_train.dtype == data.y_test.dtype == np.int64
        # Every class appears in both parts, and no label lies outside [0, n_classes).
        assert np.bincount(data.y_train, minlength=n_classes).min() > 0
        assert np.bincount(data.y_test, minlength=n_classes).min() > 0
        assert max(data.y_train.max(), data.y_test.max()) == n_classes - 1


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_split_keeps_class_proportions(name):
    needs(name)
    data = load(name, seed=1)
    sizes = np.bincount(np.concatenate([data.y_train, data.y_test]))
    test_counts = np.bincount(data.y_test, minlength=len(sizes))
    if name == "mnist1d":  # the package's own split, proportional only roughly
        assert np.abs(test_counts / len(data.y_test) - sizes / sizes.sum()).max() < 0.03
    else:  # exactly the largest-remainder quotas of preprocessing.stratified_split
        assert test_counts.tolist() == stratified_counts(sizes, len(data.y_test)).tolist()


@pytest.mark.parametrize("name", SPLIT_BY_SEED)
def test_deterministic_for_a_seed(name):
    needs(name)
    first, again, other = load(name, seed=5), load(name, seed=5), load(name, seed=6)
    for field in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    assert not np.array_equal(first.X_test, other.X_test)


@pytest.mark.parametrize("name", ["xor", "spirals", "moons", "circles"])
def test_synthetic_points_do_not_depend_on_the_split(name):
    needs(name)

    def all_points(data):
        X = np.concatenate([data.X_train, data.X_test])
        return X[np.lexsort(X.T)]

    np.testing.assert_array_equal(all_points(load(name, seed=2)), all_points(load(name, seed=2, test_size=0.5)))


@pytest.mark.parametrize("seed", [0, 3, 12345, 2**32 - 1])
def test_moons_and_circles_are_scikit_learns(seed):
    # Made in numpy by make_moons' and make_circles' steps (no scikit-learn import): the same points
    # in the same order, the same classes, as scikit-learn's with random_state=seed.
    sk = pytest.importorskip("sklearn.datasets")
    X, y = sk.make_moons(n_samples=1000, noise=0.2, random_state=seed)
    raw = datasets._moons(seed)
    assert raw.X.tobytes() == X.astype(np.float32).tobytes() and raw.y.tolist() == y.tolist()
    X, y = sk.make_circles(n_samples=1000, noise=0.1, factor=0.5, random_state=seed)
    raw = datasets._circles(seed)
    assert raw.X.tobytes() == X.astype(np.float32).tobytes() and raw.y.tolist() == y.tolist()
    data = load("moons", seed=seed)
    assert np.array_equal(
        np.sort(np.concatenate([data.X_train, data.X_test]), axis=0), np.sort(datasets._moons(seed).X, axis=0)
    )


def test_moons_without_a_seed_leave_numpys_global_state_alone():
    # scikit-learn's make_moons(random_state=None) draws from numpy's global RandomState and advances it.
    # The global state itself is what this test is about.
    before = np.random.get_state()  # noqa: NPY002
    first, second = load("moons", seed=None), load("circles", seed=None)
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == before[0] and after[2:] == before[2:] and np.array_equal(after[1], before[1])
    assert not np.array_equal(first.X_train, load("moons", seed=None).X_train)  # fresh entropy each time
    assert second.X_train.shape == (750, 2)
    with pytest.raises(ParameterError, match=r"dataset 'moons' takes seeds below 2\*\*32 .*got seed=4294967296"):
        load("moons", seed=2**32)


def test_xor_labels_are_the_xor_of_the_blob_corner():
    data = load("xor", seed=0)
    X, y = np.concatenate([data.X_train, data.X_test]), np.concatenate([data.y_train, data.y_test])
    # Blobs of std 0.3 around (±1, ±1): a point crossing an axis is a 3.3-sigma event.
    quadrant_xor = (X[:, 0] > 0) != (X[:, 1] > 0)
    assert np.mean(quadrant_xor == y.astype(bool)) > 0.99
    assert np.bincount(y).tolist() == [200, 200]


def test_test_size_and_seed_none():
    data = load("xor", test_size=40, seed=None)
    assert data.X_test.shape == (40, 2) and data.X_train.shape == (360, 2)
    with pytest.raises(ParameterError, match=re.escape("test_size as a fraction must be in (0, 1), got test_size=1.5")):
        load("xor", test_size=1.5)
    with pytest.raises(ParameterError, match="seed must be None or a non-negative integer, got seed=-1"):
        load("xor", seed=-1)


def test_standardize_fits_on_the_training_part():
    needs("digits")
    plain, scaled = load("digits", seed=4), load("digits", seed=4, standardize=True)
    assert isinstance(scaled.scaler, Standardizer)
    assert "standardized" in repr(scaled)
    assert scaled.X_train.dtype == scaled.X_test.dtype == np.float32
    np.testing.assert_allclose(scaled.scaler.mean_, plain.X_train.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(scaled.X_test, scaled.scaler.transform(plain.X_test))
    np.testing.assert_allclose(scaled.X_train.mean(axis=0), 0.0, atol=1e-5)
    std = scaled.X_train.std(axis=0)
    # Digits has pixels that are always 0 in training: they stay 0, every other column has std 1.
    np.testing.assert_allclose(std[std > 0], 1.0, rtol=1e-4)
    np.testing.assert_array_equal(scaled.y_train, plain.y_train)  # targets are never scaled


def test_dataset_is_frozen_and_loads_return_fresh_arrays():
    needs("iris")
    data = load("iris")
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.X_train = None
    data.X_train[:] = -1.0  # the caller's copy only
    assert (load("iris").X_train >= 0).all()


def test_unknown_name_lists_the_valid_ones():
    names = re.escape(str(sorted(DATASETS)))
    with pytest.raises(
        ParameterError, match=f"Unknown dataset 'iriss' \\(did you mean 'iris'\\?\\); expected one of {names}"
    ):
        load("iriss")
    with pytest.raises(ParameterError, match=f"Unknown dataset 'cifar10'; expected one of {names}"):
        load("cifar10")
    with pytest.raises(BackpropTypeError, match="name must be a dataset name \\(str\\), got int 3"):
        load(3)
    with pytest.raises(ParameterError, match="standardize must be True or False, got standardize='yes'"):
        load("xor", standardize="yes")
    with pytest.raises(ParameterError, match="Unknown dataset 'nope'"):
        datasets.describe("nope")


def test_missing_package_says_how_to_install(monkeypatch):
    from backprop import _bundled_data

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import now fails
    monkeypatch.setattr(_bundled_data, "folder", lambda: None)  # and its files are not found
    monkeypatch.setattr(datasets, "_bundled", datasets._bundled.__wrapped__)  # bypass the cache
    with pytest.raises(
        MissingDependencyError, match=re.escape("dataset 'iris' needs the scikit-learn package")
    ) as info:
        load("iris")
    assert "pip install 'backprop[datasets]'" in str(info.value)
    assert isinstance(info.value, ImportError) and isinstance(info.value, BackpropError)
    assert load("xor").X_train.shape == (300, 2) and load("moons").X_train.shape == (750, 2)  # numpy's sets load

    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    monkeypatch.setattr(datasets, "_mnist1d_raw", datasets._mnist1d_raw.__wrapped__)  # bypass the cache
    with pytest.raises(MissingDependencyError, match=re.escape("dataset 'mnist1d' needs the mnist1d package")):
        load("mnist1d")


# --------------------------------------------------------------------- scikit-learn's files, read directly

BUNDLED = ["iris", "wine", "breast_cancer", "digits", "diabetes"]


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_files_read_as_scikit_learns_loader_reads_them(name):
    # The same float64 bits, classes, feature names and class names as load_<name>() (diabetes: its
    # scaled features, sklearn.preprocessing.scale's steps then / √442; no class names).
    sk = pytest.importorskip("sklearn.datasets")
    from backprop import _bundled_data

    bunch = getattr(sk, f"load_{name}")()
    X, y, features, classes = _bundled_data.read(name)
    assert X.dtype == np.float64 and X.tobytes() == np.ascontiguousarray(bunch.data).tobytes()
    assert y.tobytes() == bunch.target.astype(y.dtype).tobytes() and np.array_equal(y, bunch.target)
    assert features == [str(f) for f in bunch.feature_names]
    assert classes == (None if name == "diabetes" else [str(c) for c in bunch.target_names])


def test_a_bundled_dataset_loads_without_importing_scikit_learn():
    # Importing scikit-learn takes ~1.5 s, most of a `backprop train iris` (2.4 s against 0.5 s without).
    pytest.importorskip("sklearn")
    code = (
        "import sys; from backprop import datasets; d = datasets.load('breast_cancer'); "
        "print(d.X_train.shape, d.target_names, 'sklearn' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.split() == ["(426,", "30)", "['malignant',", "'benign']", "False"]


def test_files_not_laid_out_as_expected_fall_back_to_scikit_learns_loader(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    from backprop import _bundled_data

    assert _bundled_data.read("iris", tmp_path) is None  # no file
    (tmp_path / "iris.csv").write_text("150,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n")
    assert _bundled_data.read("iris", tmp_path) is None  # 1 row of 150
    (tmp_path / "iris.csv").write_text("2,4,a,b\n5.1,3.5,1.4,0.2,0\n4.9,3.0,1.4,0.2\n")
    assert _bundled_data.read("iris", tmp_path) is None  # a row without its class
    (tmp_path / "iris.csv").write_text("2,5,a,b\n5.1,3.5,1.4,0.2,9,0\n4.9,3.0,1.4,0.2,9,1\n")
    assert _bundled_data.read("iris", tmp_path) is None  # 5 features where the loader names 4
    (tmp_path / "iris.csv").write_text("2,4,a,b\n5.1,3.5,1.4,0.2,0\n4.9,3.0,1.4,0.2,1\n")
    X, y, _, classes = _bundled_data.read("iris", tmp_path)
    assert X.tolist() == [[5.1, 3.5, 1.4, 0.2], [4.9, 3.0, 1.4, 0.2]] and y.tolist() == [0, 1] and classes == ["a", "b"]

    direct = datasets._bundled.__wrapped__("wine")
    monkeypatch.setattr(_bundled_data, "folder", lambda: tmp_path)  # no wine_data.csv there: the loader
    loaded = datasets._bundled.__wrapped__("wine")
    assert loaded.X.tobytes() == direct.X.tobytes() and np.array_equal(loaded.y, direct.y)
    assert loaded.feature_names == direct.feature_names and loaded.target_names == direct.target_names


# --------------------------------------------------------------------- mnist1d


def test_mnist1d_leaves_the_global_random_state_alone():
    pytest.importorskip("mnist1d")
    datasets._mnist1d_raw.cache_clear()  # make sure make_dataset really runs
    # The global states themselves are what this test is about.
    numpy_state, python_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    data = load("mnist1d")
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == numpy_state[0] and after[2:] == numpy_state[2:]
    np.testing.assert_array_equal(after[1], numpy_state[1])
    assert random.getstate() == python_state
    assert data.X_train.shape == (4000, 40)


def test_mnist1d_split_is_fixed():
    pytest.importorskip("mnist1d")
    a, b = load("mnist1d", seed=0), load("mnist1d", seed=9, test_size=1000)
    np.testing.assert_array_equal(a.X_train, b.X_train)  # seed does not apply
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert load("mnist1d", test_size=0.2).X_test.shape == (1000, 40)
    with pytest.raises(ParameterError, match=r"fixed split of 4000 training and 1000 test samples.*got test_size=0\.3"):
        load("mnist1d", test_size=0.3)
    # The canonical data: centred with unit standard deviation by the package.
    X = np.concatenate([a.X_train, a.X_test]).astype(np.float64)
    assert abs(X.mean()) < 1e-6 and abs(X.std() - 1) < 1e-6
