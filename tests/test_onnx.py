"""ONNX export: onnxruntime computes what ``predict`` and ``predict_proba`` compute.

Every exported model passes ``onnx.checker.check_model(full_check=True)`` and
runs in onnxruntime with outputs within 1e-5 of backprop's, for every
activation, both dtypes, with and without biases, through Dropout layers,
for inputs that drive ``|z|`` up to 1e4 (where a naive softplus overflows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import sklearn.exceptions
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import backprop as bp  # noqa: E402
from backprop.activations import ELU, LeakyReLU  # noqa: E402
from backprop.errors import (  # noqa: E402
    BackpropTypeError,
    DataError,
    MissingDependencyError,
    ParameterError,
    SaveError,
)
from backprop.onnx import DEFAULT_OPSET, export_onnx, register_skl2onnx, to_onnx  # noqa: E402
from backprop.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# The estimators here train for 5 epochs: their outputs only need to be non-trivial, not converged.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TOL = 1e-5

ACTIVATIONS: dict[str, Any] = {
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
    "leaky_relu": LeakyReLU(0.2),
    "elu": ELU(0.7),
    "softplus": "softplus",
    "identity": "identity",
    "softmax": "softmax",
}
DTYPES = [np.float32, np.float64]


def run(model: Any, X: np.ndarray, input_name: str = "X") -> dict[str, Any]:
    """Check ``model`` fully, run it in onnxruntime, return its outputs by name."""
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, {input_name: X}), strict=True))


def random_network(activation: Any, dtype: Any, bias: bool, seed: int = 0) -> bp.Network:
    """4 → 16 → Dropout → 8 → 3, ``activation`` everywhere (tanh before a softmax output), random biases."""
    hidden = "tanh" if activation == "softmax" else activation
    net = bp.Network(
        [
            bp.Dense(16, hidden, bias=bias),
            bp.Dropout(0.5),
            bp.Dense(8, hidden, bias=bias),
            bp.Dense(3, activation, bias=bias),
        ],
        inputs=4,
        seed=seed,
        dtype=dtype,
    )
    rng = np.random.default_rng(seed)
    for b in net.biases:
        if b is not None:
            b[...] = rng.normal(size=b.shape)
    return net


# ------------------------------------------------------------------ networks


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_network_matches_predict(activation: str, dtype: Any, bias: bool) -> None:
    net = random_network(ACTIVATIONS[activation], dtype, bias)
    rng = np.random.default_rng(1)
    X = (rng.normal(size=(64, 4)) * np.array([0.1, 1.0, 3.0, 10.0])).astype(dtype)
    outputs = run(to_onnx(net), X)
    assert list(outputs) == ["Y"]
    assert outputs["Y"].dtype == np.dtype(dtype)
    np.testing.assert_allclose(outputs["Y"], net.predict(X), rtol=0, atol=TOL)


Z_GRID = [-1e4, -1e3, -100.0, -30.0, -5.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 5.0, 30.0, 100.0, 1e3, 1e4]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_activation_is_stable_for_large_z(activation: str, dtype: Any) -> None:
    # W = I and no bias, so z = X exactly and the comparison isolates f(z):
    # softplus(1e4) must be 1e4, not inf (log(1 + e^z) overflows), σ(−1e4) must be 0, not NaN.
    units = 3 if activation == "softmax" else 1
    net = bp.Network.from_weights([np.eye(units, dtype=dtype)], activations=[ACTIVATIONS[activation]])
    z = np.array(Z_GRID, dtype=dtype)
    X = np.stack([z, -z, z / 2], axis=1) if units == 3 else z[:, None]
    outputs = run(to_onnx(net), X)
    assert np.isfinite(outputs["Y"]).all()
    np.testing.assert_allclose(outputs["Y"], net.predict(X), rtol=0, atol=TOL)


def test_graph_layout() -> None:
    # One MatMul (+ Add) + activation per Dense layer; Dropout adds nothing; identity adds nothing.
    net = bp.Network(
        [bp.Dense(4, "tanh"), bp.Dropout(0.2), bp.Dense(3, "identity", bias=False), bp.Dense(1, "sigmoid")],
        inputs=2,
        seed=0,
        dtype=np.float64,
    )
    model = to_onnx(net, name="tiny")
    graph = model.graph
    assert [node.op_type for node in graph.node] == ["MatMul", "Add", "Tanh", "MatMul", "MatMul", "Add", "Sigmoid"]
    assert graph.name == "tiny"
    assert model.producer_name == "backprop"
    # Only the default domain: no ai.onnx.ml operators, so any ONNX runtime can run it.
    assert [(o.domain, o.version) for o in model.opset_import] == [("", DEFAULT_OPSET)]
    (x,) = graph.input
    assert x.name == "X"
    assert x.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert [d.dim_param or d.dim_value for d in x.type.tensor_type.shape.dim] == ["N", 2]
    (y,) = graph.output
    assert [d.dim_param or d.dim_value for d in y.type.tensor_type.shape.dim] == ["N", 1]
    # Named by layer position, as backprop's messages name them (the Dropout is layer 2).
    assert sorted(t.name for t in graph.initializer) == ["W1", "W3", "W4", "b1", "b4"]


@pytest.mark.parametrize("opset", [13, 21])
def test_opset(opset: int) -> None:
    net = random_network("softplus", np.float32, True)
    model = to_onnx(net, opset=opset)
    assert model.opset_import[0].version == opset
    X = np.linspace(-3, 3, 20, dtype=np.float32).reshape(5, 4)
    np.testing.assert_allclose(run(model, X)["Y"], net.predict(X), rtol=0, atol=TOL)


def test_custom_activation_names_the_layer() -> None:
    def cube(z: Any) -> Any:
        return z**3

    def cube_derivative(z: Any) -> Any:
        return 3 * z**2

    net = bp.Network([bp.Dense(3, "tanh"), bp.Dense(2, (cube, cube_derivative)), bp.Dense(1)], inputs=2, seed=0)
    with pytest.raises(ParameterError, match=r"Dense layer 2 uses the custom activation 'cube'.*cannot be exported"):
        to_onnx(net)


def test_non_finite_weights_name_the_layer() -> None:
    net = random_network("tanh", np.float32, True)
    net.biases[2][1] = np.nan  # type: ignore[index]
    with pytest.raises(DataError, match=r"b\[4\] of Dense layer 4 holds NaN or infinity"):
        to_onnx(net)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"opset": 12}, r"opset must be an integer from 13 to \d+ .*got opset=12"),
        ({"opset": 10_000}, r"opset must be an integer from 13 to \d+ .*got opset=10000"),
        ({"opset": "17"}, r"got opset='17'"),
        ({"opset": True}, r"got opset=True"),
        ({"name": ""}, r"name must be a non-empty string, got name=''"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    net = random_network("relu", np.float32, True)
    with pytest.raises(ParameterError, match=message):
        to_onnx(net, **kwargs)


def test_not_a_model() -> None:
    with pytest.raises(BackpropTypeError, match=r"must be a backprop.Network or a fitted .* got list"):
        to_onnx([[1.0]])


def test_onnx_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'backprop\[onnx\]'"):
        to_onnx(random_network("relu", np.float32, True))


def test_skl2onnx_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    with pytest.raises(MissingDependencyError, match=r"skl2onnx .*pip install 'backprop\[onnx\]'"):
        register_skl2onnx()


def test_import_backprop_does_not_import_onnx() -> None:
    code = "import sys, backprop; assert callable(backprop.export_onnx); print(sorted(m for m in ('onnx', 'onnxruntime', 'skl2onnx', 'backprop.onnx') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_importing_the_estimators_does_not_import_onnx() -> None:
    code = "import sys, backprop.sklearn; print(sorted(m for m in sys.modules if m.startswith('backprop.onnx')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_network_export_does_not_import_the_estimators(tmp_path: Path) -> None:
    code = f"""
import sys
import backprop as bp
from backprop.onnx.export import to_onnx
from backprop.onnx import export_onnx
net = bp.Network([bp.Dense(3, "tanh"), bp.Dense(2, "softmax")], inputs=4, seed=0)
to_onnx(net)
export_onnx(net, {str(tmp_path / "net.onnx")!r})
print(sorted(m for m in sys.modules if m.startswith("backprop.sklearn")))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_importing_the_estimators_registers_them_with_skl2onnx() -> None:
    # No explicit register_skl2onnx(): importing backprop.sklearn is enough.
    code = """
import numpy as np, onnxruntime, skl2onnx
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from backprop.sklearn import MLPClassifier
X = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
y = (X[:, 0] > 0).astype(int)
pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0)).fit(X, y)
onx = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
session = onnxruntime.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
labels, proba = session.run(None, {"X": X})
print(np.array_equal(labels, pipe.predict(X)), float(np.abs(proba - pipe.predict_proba(X)).max()) < 1e-5)
"""
    result = subprocess.run(
        [sys.executable, "-W", "ignore::sklearn.exceptions.ConvergenceWarning", "-c", code],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "True"]


# --------------------------------------------------------------------- files


def test_export_writes_a_file(tmp_path: Path) -> None:
    net = random_network("elu", np.float64, True)
    path = tmp_path / "net.onnx"
    bp.export_onnx(net, path)
    model = onnx.load(str(path))
    X = np.linspace(-2, 2, 12).reshape(3, 4)
    np.testing.assert_allclose(run(model, X)["Y"], net.predict(X), rtol=0, atol=TOL)
    assert sorted(os.listdir(tmp_path)) == ["net.onnx"]


def test_serialisation_error_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "net.onnx"
    path.write_bytes(b"previous model")

    class Unserialisable:
        def SerializeToString(self) -> bytes:  # noqa: N802 - protobuf's name
            raise RuntimeError("serializer failed")

    monkeypatch.setattr("backprop.onnx.to_onnx", lambda *args, **kwargs: Unserialisable())
    with pytest.raises(RuntimeError, match="serializer failed"):
        export_onnx(random_network("relu", np.float32, True), path)
    assert path.read_bytes() == b"previous model"
    assert sorted(os.listdir(tmp_path)) == ["net.onnx"]


def test_write_error_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "net.onnx"
    path.write_bytes(b"previous model")

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(SaveError):
        export_onnx(random_network("relu", np.float32, True), path)
    monkeypatch.undo()
    assert path.read_bytes() == b"previous model"
    assert sorted(os.listdir(tmp_path)) == ["net.onnx"]


# ---------------------------------------------------------------- estimators


def classifier(**params: Any) -> MLPClassifier:
    """A small, quickly trained MLPClassifier (training is not what is tested)."""
    return MLPClassifier(**{"hidden_layer_sizes": (8,), "max_iter": 5, "random_state": 0, **params})


def regressor(**params: Any) -> MLPRegressor:
    return MLPRegressor(**{"hidden_layer_sizes": (8,), "max_iter": 5, "random_state": 0, **params})


def classification(n_classes: int, labels: Any = None, seed: int = 0) -> tuple[Any, Any]:
    X, y = make_classification(n_samples=200, n_features=6, n_informative=4, n_classes=n_classes, random_state=seed)
    return X * 3 + 1, (y if labels is None else np.asarray(labels)[y])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(
    ("n_classes", "labels", "activation"),
    [
        (3, None, "relu"),
        (4, ["cat", "dog", "émeu", "ant"], "tanh"),
        (2, [3, 7], "logistic"),
        (2, ["no", "yes"], "softplus"),
        (3, [-1.0, 0.0, 2.0], "elu"),
        (2, [False, True], "leaky_relu"),
    ],
    ids=["int", "str", "binary-int", "binary-str", "float", "bool"],
)
def test_classifier_matches_predict_proba(n_classes: int, labels: Any, activation: str, dtype: Any) -> None:
    X, y = classification(n_classes, labels)
    clf = classifier(hidden_layer_sizes=(10, 5), activation=activation, dropout=0.2, dtype=dtype).fit(X, y)
    X = X.astype(dtype)
    outputs = run(to_onnx(clf), X)
    assert list(outputs) == ["label", "probabilities"]
    np.testing.assert_allclose(outputs["probabilities"], clf.predict_proba(X), rtol=0, atol=TOL)
    assert outputs["probabilities"].shape == (len(X), n_classes)
    expected = clf.predict(X)
    assert outputs["label"].shape == expected.shape
    assert outputs["label"].tolist() == expected.tolist()
    assert outputs["label"].dtype == (object if np.asarray(labels).dtype.kind == "U" else np.int64)


def test_multilabel_classifier() -> None:
    X, Y = make_multilabel_classification(n_samples=200, n_features=6, n_classes=4, random_state=0)
    clf = classifier(hidden_layer_sizes=(12,), activation="softplus", dtype=np.float32).fit(X, Y)
    X = X.astype(np.float32)
    outputs = run(to_onnx(clf), X)
    np.testing.assert_allclose(outputs["probabilities"], clf.predict_proba(X), rtol=0, atol=TOL)
    assert outputs["label"].dtype == np.int64
    np.testing.assert_array_equal(outputs["label"], clf.predict(X))


@pytest.mark.parametrize("n_targets", [1, 3])
def test_regressor_matches_predict(n_targets: int) -> None:
    X, y = make_regression(n_samples=200, n_features=5, n_targets=n_targets, random_state=0)
    reg = regressor(hidden_layer_sizes=(16, 8), activation=["elu", "leaky_relu"], dtype=np.float64).fit(X, y / 100)
    outputs = run(to_onnx(reg), X)
    assert list(outputs) == ["variable"]
    assert outputs["variable"].shape == (len(X), n_targets)
    np.testing.assert_allclose(outputs["variable"], reg.predict(X).reshape(len(X), -1), rtol=0, atol=TOL)


def test_export_an_estimator_with_bp_export_onnx(tmp_path: Path) -> None:
    X, y = classification(3, ["x", "y", "z"])
    clf = classifier(dtype=np.float32).fit(X, y)
    bp.export_onnx(clf, tmp_path / "clf.onnx", name="my_classifier")
    model = onnx.load(str(tmp_path / "clf.onnx"))
    assert model.graph.name == "my_classifier"
    X = X.astype(np.float32)
    outputs = run(model, X)
    assert outputs["label"].tolist() == clf.predict(X).tolist()
    np.testing.assert_allclose(outputs["probabilities"], clf.predict_proba(X), rtol=0, atol=TOL)


def test_unfitted_estimator() -> None:
    with pytest.raises(
        sklearn.exceptions.NotFittedError, match=r"This \w+ instance is not fitted yet .*call .fit. before exporting"
    ):
        to_onnx(MLPClassifier())


def test_classes_that_do_not_fit_the_network() -> None:
    X, y = classification(3)
    clf = classifier().fit(X, y)
    clf.classes_ = np.array([0, 1, 2, 3])
    with pytest.raises(ParameterError, match=r"has 4 classes but its network has 3 outputs"):
        to_onnx(clf)
    clf.classes_ = np.array([0.5, 1.5, 2.5])
    with pytest.raises(ParameterError, match=r"classes_ must be integers or strings .* \[0.5, 1.5, 2.5\]"):
        to_onnx(clf)


# ------------------------------------------------------------------ skl2onnx


@pytest.fixture(scope="module")
def registered() -> Any:
    """skl2onnx, with backprop's estimators registered (the tests that use it skip without it)."""
    skl2onnx = pytest.importorskip("skl2onnx")
    register_skl2onnx()
    return skl2onnx


def convert(model: Any, X: np.ndarray, **kwargs: Any) -> dict[str, Any]:
    skl2onnx = pytest.importorskip("skl2onnx")
    onx = skl2onnx.to_onnx(model, X[:1], **kwargs)
    return run(onx, X, input_name=onx.graph.input[0].name)


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize("input_dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("labels", [None, ["a", "b", "c"]], ids=["int", "str"])
def test_skl2onnx_pipeline_classifier(labels: Any, input_dtype: Any) -> None:
    X, y = classification(3, labels)
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", classifier())]).fit(X, y)
    X = X.astype(input_dtype)
    outputs = convert(pipe, X, options={"zipmap": False})
    assert list(outputs) == ["label", "probabilities"]
    assert outputs["probabilities"].dtype == np.dtype(input_dtype)
    np.testing.assert_allclose(outputs["probabilities"], pipe.predict_proba(X), rtol=0, atol=TOL)
    assert outputs["label"].tolist() == pipe.predict(X).tolist()


@pytest.mark.usefixtures("registered")
def test_skl2onnx_default_zipmap() -> None:
    # What skl2onnx users expect from any classifier: output_label and a ZipMap of the probabilities.
    X, y = classification(3, ["a", "b", "c"])
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", classifier())]).fit(X, y)
    X = X.astype(np.float32)
    outputs = convert(pipe, X)
    assert list(outputs) == ["output_label", "output_probability"]
    assert outputs["output_label"].tolist() == pipe.predict(X).tolist()
    proba = np.array([[row[c] for c in ("a", "b", "c")] for row in outputs["output_probability"]])
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=0, atol=TOL)


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize(
    ("options", "names"),
    [
        ({"zipmap": "columns"}, ["output_label", "i10", "i20"]),
        ({"zipmap": False, "nocl": True}, ["label", "probabilities"]),
        ({"zipmap": False, "output_class_labels": True}, ["label", "probabilities", "class_labels"]),
    ],
    ids=["columns", "nocl", "output_class_labels"],
)
def test_skl2onnx_options(options: dict[str, Any], names: list[str]) -> None:
    X, y = classification(2, [10, 20])
    clf = classifier().fit(X, y)
    X = X.astype(np.float32)
    outputs = convert(clf, X, options=options)
    assert list(outputs) == names
    expected = clf.predict(X)
    if options.get("nocl"):
        expected = np.searchsorted(clf.classes_, expected)
    assert outputs[names[0]].tolist() == expected.tolist()
    proba = np.column_stack([outputs["i10"], outputs["i20"]]) if "i10" in names else outputs["probabilities"]
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=TOL)


@pytest.mark.usefixtures("registered")
def test_skl2onnx_multilabel() -> None:
    X, Y = make_multilabel_classification(n_samples=200, n_features=6, n_classes=4, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", classifier())]).fit(X, Y)
    X = X.astype(np.float32)
    outputs = convert(pipe, X, options={"zipmap": False})
    np.testing.assert_array_equal(outputs["label"], pipe.predict(X))
    np.testing.assert_allclose(outputs["probabilities"], pipe.predict_proba(X), rtol=0, atol=TOL)


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize("input_dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_skl2onnx_pipeline_regressor(input_dtype: Any) -> None:
    X, y = make_regression(n_samples=200, n_features=5, n_targets=2, random_state=0)
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", regressor())]).fit(X, y / 100)
    X = X.astype(input_dtype)
    outputs = convert(pipe, X)
    assert list(outputs) == ["variable"]
    assert outputs["variable"].dtype == np.dtype(input_dtype)
    np.testing.assert_allclose(outputs["variable"], pipe.predict(X), rtol=0, atol=TOL)


def test_skl2onnx_wrong_feature_count(registered: Any) -> None:
    X, y = classification(3)
    clf = classifier().fit(X, y)
    with pytest.raises(
        ParameterError, match=r"Dense layer 1 expects inputs with 6 features, got ONNX input 'X' of shape \[None, 4\]"
    ):
        registered.to_onnx(clf, X[:1, :4].astype(np.float32))


# ------------------------------------------------- models of `backprop train`


def cli(*args: Any) -> str:
    """Run the backprop command line in this process; return its standard output."""
    from click.testing import CliRunner

    from backprop.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return str(result.stdout)


def predictions(model: Path, data: Path) -> tuple[list[str], np.ndarray]:
    """``backprop predict --probabilities``: the labels and the probabilities of every row."""
    rows = cli("predict", model, data, "--probabilities").splitlines()[1:]
    return [r.split(",")[0] for r in rows], np.array([[float(p) for p in r.split(",")[1:]] for r in rows])


def session(path: Path) -> Any:
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run_matrix(path: Path, X: np.ndarray) -> list[Any]:
    """Run a matrix-layout graph on raw values, in the dtype its input ``X`` asks for."""
    s = session(path)
    (x,) = s.get_inputs()
    assert x.name == "X"
    return list(s.run(None, {"X": X.astype(np.float64 if x.type == "tensor(double)" else np.float32)}))


@pytest.fixture(scope="module")
def timestamps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A classifier and a regressor trained on a Unix-timestamp column (1.7e9, spread over an hour) and a number."""
    folder = tmp_path_factory.mktemp("timestamps")
    rng = np.random.default_rng(0)
    n = 2000
    ts = 1_700_000_000 + rng.integers(0, 3600, size=n)
    x = np.round(rng.normal(size=n), 4)  # as the CSV holds it
    signal = (ts - 1_700_001_800) / 900 + x
    label = np.where(signal > 0, "up", "down")
    data = folder / "data.csv"
    data.write_text("ts,x,y,v\n" + "".join(f"{ts[i]},{x[i]:.4f},{label[i]},{signal[i]:.5f}\n" for i in range(n)))
    fast = ["--epochs", "20", "--hidden", "8", "--seed", "0"]
    cli("train", data, "--target", "y", "--ignore", "v", *fast, "-o", folder / "clf.safetensors")
    cli("train", data, "--target", "v", "--ignore", "y", *fast, "-o", folder / "reg.safetensors")
    return {"folder": folder, "data": data, "X": np.column_stack([ts, x]).astype(np.float64)}


def test_a_timestamp_column_exports_with_the_labels_of_predict(timestamps: dict[str, Any]) -> None:
    # Folded into float32 weights, (x − 1.7e9) / 1000 loses the row's offset: the graph standardises it in float64.
    model, path = timestamps["folder"] / "clf.safetensors", timestamps["folder"] / "clf.onnx"
    document = json.loads(cli("export", model, "--onnx", path, "--json"))
    assert document["inputs"] == ["ts", "x"] and document["input_types"] == {"X": "double"}
    assert document["folded"] is False
    label, probabilities = run_matrix(path, timestamps["X"])
    expected_labels, expected = predictions(model, timestamps["data"])
    assert list(label) == expected_labels
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=TOL)


def test_a_timestamp_regressor_exports_the_values_of_predict(timestamps: dict[str, Any]) -> None:
    model, path = timestamps["folder"] / "reg.safetensors", timestamps["folder"] / "reg.onnx"
    assert "float64" in cli("export", model, "--onnx", path)
    (variable,) = run_matrix(path, timestamps["X"])
    rows = cli("predict", model, timestamps["data"]).splitlines()[1:]
    np.testing.assert_allclose(variable[:, 0], [float(r.split(",")[0]) for r in rows], rtol=1e-6, atol=TOL)


def tabular(features: list[Any], target: Any, net: bp.Network) -> tuple[Any, bp.Network]:
    from backprop.tabular import Preprocessor

    return Preprocessor(features, target), net


@pytest.mark.parametrize(
    ("mean", "scale"),
    [(0.0, 1.0), (3.0, 2.0), (1.7e9, 1000.0), (-5e7, 0.5), (1e5, 1e-3), (2e12, 3e7)],
    ids=["identity", "ordinary", "timestamp", "negative-offset", "tiny-scale", "huge"],
)
@pytest.mark.parametrize("task", ["classes", "numeric"])
def test_large_offsets_fold_only_where_float32_holds_them(mean: float, scale: float, task: str) -> None:
    from backprop.onnx import tabular_to_onnx
    from backprop.tabular import FeatureSpec, TargetSpec

    features = [FeatureSpec("a", "numeric", mean=mean, scale=scale), FeatureSpec("b", "numeric", mean=1.0, scale=3.0)]
    if task == "classes":
        target = TargetSpec("y", "classes", classes=["p", "q", "r"])
        net = bp.Network([bp.Dense(16, "tanh"), bp.Dense(3, "softmax")], inputs=2, seed=1)
    else:
        target = TargetSpec("y", "numeric", mean=250.0, scale=40.0)
        net = bp.Network([bp.Dense(16, "tanh"), bp.Dense(1, "identity")], inputs=2, seed=1)
    pre, net = tabular(features, target, net)
    rng = np.random.default_rng(2)
    X = np.column_stack([mean + scale * rng.normal(size=1000), 1.0 + 3.0 * rng.normal(size=1000)])
    model, info = tabular_to_onnx(net, pre)
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x_type = np.float64 if info.input_types["X"] == "double" else np.float32
    outputs = s.run(None, {"X": X.astype(x_type)})
    output = net.predict(pre.numeric_transform(X))
    if task == "classes":
        assert list(outputs[0]) == [["p", "q", "r"][i] for i in output.argmax(axis=1)]
        np.testing.assert_allclose(outputs[1], output, rtol=0, atol=TOL)
    else:
        np.testing.assert_allclose(outputs[0], output * 40.0 + 250.0, rtol=1e-6, atol=TOL)
    # Ordinary columns still fold into float32 weights and take float32 raw values.
    assert info.folded == (abs(mean) / scale < 1e3)
    assert (x_type == np.float32) == info.folded


@pytest.fixture(scope="module")
def imputed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A classifier trained with --impute mean on a numeric and two categorical columns with missing cells."""
    folder = tmp_path_factory.mktemp("imputed")
    rng = np.random.default_rng(1)
    n = 300
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    size = rng.choice(["S", "M", "L"], size=n, p=[0.2, 0.5, 0.3])
    y = np.where(x + (colour == "red") - (colour == "blue") + (size == "L") > 0.3, "yes", "no")
    cells = [[f"{x[i]:.3f}", colour[i], size[i], y[i]] for i in range(n)]
    for column, token in ((0, ""), (1, "NA"), (2, "?")):
        for i in rng.choice(n, 25, replace=False):
            cells[i][column] = token
    data = folder / "data.csv"
    data.write_text("x,colour,size,y\n" + "".join(",".join(row) + "\n" for row in cells))
    model = folder / "model.safetensors"
    cli("train", data, "--impute", "mean", "--epochs", "20", "--hidden", "8", "--seed", "0", "-o", model)
    # Missing numbers, missing categories in several spellings, unseen categories and seen ones.
    rows = [
        ("", "red", "M"),
        ("0.5", "", "L"),
        ("-0.2", "NA", ""),
        ("0.1", "nan", "n/a"),
        ("1.5", "purple", "XL"),
        ("-1.0", "blue", "S"),
        ("", "", ""),
        ("0.3", "green", "?"),
        ("NaN", "None", "null"),
        ("-0.7", "red", "L"),
    ]
    new = folder / "new.csv"
    new.write_text("x,colour,size\n" + "".join(",".join(row) + "\n" for row in rows))
    return {"folder": folder, "model": model, "new": new, "rows": rows}


def test_an_imputed_model_exports_its_whole_preprocessing(imputed: dict[str, Any]) -> None:
    path = imputed["folder"] / "columns.onnx"
    document = json.loads(cli("export", imputed["model"], "--onnx", path, "--inputs", "columns", "--json"))
    assert document["inputs"] == ["x", "colour", "size"]
    assert document["input_types"] == {"x": "double", "colour": "string", "size": "string"}
    s = session(path)
    assert [(i.name, i.type) for i in s.get_inputs()] == [
        ("x", "tensor(double)"),
        ("colour", "tensor(string)"),
        ("size", "tensor(string)"),
    ]
    rows = imputed["rows"]
    feeds = {
        "x": np.array([[float(r[0]) if r[0] else np.nan] for r in rows]),
        "colour": np.array([[r[1]] for r in rows], dtype=object),
        "size": np.array([[r[2]] for r in rows], dtype=object),
    }
    label, probabilities = s.run(None, feeds)
    expected_labels, expected = predictions(imputed["model"], imputed["new"])
    assert not np.isnan(probabilities).any()
    assert list(label) == expected_labels
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=TOL)


def test_a_matrix_cannot_express_categorical_imputation(imputed: dict[str, Any]) -> None:
    from click.testing import CliRunner

    from backprop.cli import main

    path = imputed["folder"] / "matrix.onnx"
    result = CliRunner().invoke(main, ["export", str(imputed["model"]), "--onnx", str(path)])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: column 'colour' is filled with ")
    assert "one-hot columns of a matrix input cannot express" in result.stderr and "--inputs columns" in result.stderr
    assert not path.exists()


@pytest.mark.parametrize("fold", [True, False], ids=["fold", "no-fold"])
def test_a_matrix_imputes_missing_numbers(fold: bool) -> None:
    from backprop.onnx import tabular_to_onnx
    from backprop.tabular import FeatureSpec, TargetSpec

    features = [
        FeatureSpec("a", "numeric", mean=2.0, scale=4.0, fill=1.5),
        FeatureSpec("c", "categorical", categories=["u", "v"]),
        FeatureSpec("b", "numeric", mean=-1.0, scale=0.5, fill=-0.25),
    ]
    net = bp.Network([bp.Dense(8, "tanh"), bp.Dense(1, "sigmoid")], inputs=4, seed=3)
    pre, net = tabular(features, TargetSpec("y", "classes", classes=[0, 1]), net)
    raw = np.array([[np.nan, 1, 0, 0.0], [3.0, 0, 1, np.nan], [np.nan, 0, 0, np.nan], [1.5, 1, 0, 0.0]])
    model, info = tabular_to_onnx(net, pre, fold=fold)
    assert info.folded == fold and info.input_types == {"X": "float"}
    X = raw if fold else (raw - [2.0, 0, 0, -1.0]) / [4.0, 1, 1, 0.5]
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    label, probabilities = s.run(None, {"X": X.astype(np.float32)})
    filled = np.where(np.isnan(raw), [1.5, 0, 0, -0.25], raw)
    p = net.predict(((filled - [2.0, 0, 0, -1.0]) / [4.0, 1, 1, 0.5]).astype(np.float32))[:, 0]
    np.testing.assert_allclose(probabilities, np.column_stack([1 - p, p]), rtol=0, atol=TOL)
    assert label.tolist() == (p >= 0.5).astype(int).tolist()
    np.testing.assert_array_equal(probabilities[0], probabilities[3])  # a missing a is its fill


def test_columns_layout_takes_raw_values_only() -> None:
    from backprop.onnx import tabular_to_onnx
    from backprop.tabular import FeatureSpec, TargetSpec

    net = bp.Network([bp.Dense(1, "identity")], inputs=1, seed=0)
    pre, net = tabular([FeatureSpec("a", "numeric")], TargetSpec("y", "numeric"), net)
    with pytest.raises(ParameterError, match=r"fold=False gives a matrix X of standardised values"):
        tabular_to_onnx(net, pre, layout="columns", fold=False)
    with pytest.raises(ParameterError, match=r"layout must be 'matrix' or 'columns', got layout='rows'"):
        tabular_to_onnx(net, pre, layout=cast(Any, "rows"))
