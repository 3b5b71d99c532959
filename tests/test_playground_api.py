"""The playground's JSON API (Starlette's TestClient): the contract, the errors, the origin rule, the numbers.

Every number the page shows comes from here, so the tests hold it to the library:
the loss after n steps is :meth:`Network.fit` run epoch by epoch from the seed, a
neuron's δ is :func:`backprop.explain`'s, the downloads load back.
"""

from __future__ import annotations

import base64
import io
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backprop as bp

pytest.importorskip("starlette", reason="the playground extra (starlette) is not installed")
pytest.importorskip("httpx2", reason="Starlette's TestClient needs httpx2")

from starlette.testclient import TestClient

from backprop.errors import ParameterError
from backprop.playground import Config, Session, read_table
from backprop.playground import session as session_module
from backprop.playground.app import MAX_BODY, create_app
from backprop.playground.data import generate

ORIGIN = "http://127.0.0.1:8000"
SAME = {"Origin": ORIGIN}


def client_for(session: Session | None = None) -> TestClient:
    return TestClient(create_app(session or Session()), base_url=ORIGIN)


@pytest.fixture
def client() -> TestClient:
    return client_for()


def post(client: TestClient, path: str, body: Any = None, **headers: str) -> Any:
    return client.post(path, json=body if body is not None else {}, headers={**SAME, **headers})


def error_of(response: Any) -> str:
    message = response.json()["error"]
    assert isinstance(message, str)
    return message


# --------------------------------------------------------------------------- the contract


def test_state_has_the_numbers_the_issue_names(client: TestClient) -> None:
    state = client.get("/api/state").json()
    assert {"epoch", "loss", "accuracy", "test_loss", "test_accuracy"} <= set(state)
    assert state["epoch"] == 0
    assert state["config"]["dataset"] == "moons"
    assert state["network"]["sizes"] == [2, 4, 2, 1]
    assert len(state["points"]["train"]) + len(state["points"]["test"]) == 500
    assert len(state["neurons"]["pixels"]) == 4  # the inputs, two hidden layers, the output
    assert len(state["curves"]["loss"]) == 1


def test_step_is_fit_epoch_by_epoch_from_the_seed(client: TestClient) -> None:
    state = post(client, "/api/step", {"steps": 3}).json()
    assert state["epoch"] == 3
    # The same run written out with the library: the data, the network and each epoch's shuffling from seed 0.
    data = generate("moons", 0.1, 0.5, 0)
    net = bp.Network([bp.Dense(4, "tanh"), bp.Dense(2, "tanh"), bp.Dense(1, "sigmoid")], inputs=2, seed=0,
                     dtype=np.float64)  # fmt: skip
    targets = data.y_train.astype(np.float64)[:, None]
    for epoch in range(3):
        shuffle = int(np.random.SeedSequence([0, epoch]).generate_state(1)[0])
        net.fit(data.X_train, targets, loss="mse", optimizer=bp.SGD(0.03), epochs=1, batch_size=10, seed=shuffle)
    assert state["loss"] == net.loss(data.X_train, targets, "mse")
    assert state["test_loss"] == net.loss(data.X_test, data.y_test.astype(np.float64)[:, None], "mse")
    assert state["accuracy"] == np.mean((net.predict(data.X_train)[:, 0] >= 0.5) == data.y_train)
    assert state["texts"]["loss"] == np.array2string(np.asarray(state["loss"]), precision=8)
    assert state["curves"]["epoch"] == [0, 1, 2, 3]


def test_steps_split_over_requests_give_the_same_bits() -> None:
    one, other = client_for(), client_for()
    whole = post(one, "/api/step", {"steps": 4}).json()
    post(other, "/api/step", {"steps": 1})
    parts = post(other, "/api/step", {"steps": 3}).json()
    assert (whole["epoch"], whole["loss"], whole["test_loss"]) == (parts["epoch"], parts["loss"], parts["test_loss"])
    assert whole["network"]["weights"] == parts["network"]["weights"]


def test_training_moons_reaches_95_percent(client: TestClient) -> None:
    post(client, "/api/config", {"hidden": [8, 8], "learning_rate": 0.3})
    state = post(client, "/api/step", {"steps": 60}).json()
    assert state["test_accuracy"] >= 0.95
    assert state["loss"] < state["curves"]["loss"][0]


def test_config_takes_any_subset_and_rebuilds(client: TestClient) -> None:
    post(client, "/api/step", {"steps": 2})
    state = post(
        client, "/api/config", {"dataset": "xor", "noise": 0.2, "hidden": [8, 8, 3], "activation": "relu"}
    ).json()
    assert state["epoch"] == 0
    assert state["network"]["sizes"] == [2, 8, 8, 3, 1]
    assert state["network"]["activations"] == ["relu", "relu", "relu", "sigmoid"]
    assert state["config"]["noise"] == 0.2
    # The training settings keep the weights and the epochs.
    post(client, "/api/step", {"steps": 1})
    kept = post(client, "/api/config", {"learning_rate": 0.1, "batch_size": 5, "regularization": 0.01}).json()
    assert kept["epoch"] == 1
    assert kept["config"]["learning_rate"] == 0.1


def test_reset_draws_the_same_weights_again(client: TestClient) -> None:
    first = client.get("/api/state").json()
    post(client, "/api/step", {"steps": 2})
    again = post(client, "/api/reset").json()
    assert again["epoch"] == 0
    assert again["network"]["weights"] == first["network"]["weights"]
    assert again["loss"] == first["loss"]


def test_long_curves_are_thinned_to_500_points(client: TestClient) -> None:
    post(client, "/api/config", {"batch_size": 250})  # one batch an epoch: 1000 quick epochs
    state = post(client, "/api/step", {"steps": 1000}).json()
    epochs = state["curves"]["epoch"]
    assert len(epochs) == len(state["curves"]["loss"]) == len(state["curves"]["test_loss"]) == 500
    assert (epochs[0], epochs[-1]) == (0, 1000)
    assert epochs == sorted(set(epochs))
    assert state["curves"]["loss"][-1] == state["loss"]


def test_regularization_is_l2_of_fit() -> None:
    plain, decayed = client_for(), client_for()
    post(decayed, "/api/config", {"regularization": 0.1})
    a = post(plain, "/api/step", {"steps": 5}).json()["network"]["weights"][0]
    b = post(decayed, "/api/step", {"steps": 5}).json()["network"]["weights"][0]
    assert np.abs(np.array(b)).sum() < np.abs(np.array(a)).sum()


# --------------------------------------------------------------------------- errors are 400s with the library's message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"dataset": "swirl"}, r"unknown dataset 'swirl'; expected one of \['xor', 'moons', 'circles', 'spirals'\]"),
        ({"colour": 1}, r"unknown setting 'colour'; expected any of \['dataset', 'noise'"),
        ({"hidden": [4] * 7}, r"hidden must be a list of at most 6 layer widths"),
        (
            {"hidden": [17]},
            r"each hidden layer's width must be an integer in \[1, 16\], got each hidden layer's width=17",
        ),
        ({"hidden": [0]}, r"must be an integer in \[1, 16\]"),
        ({"hidden": "4,2"}, r"hidden must be a list"),
        ({"activation": "softmax"}, r"unknown activation 'softmax'; expected one of \['tanh', 'relu'"),
        ({"learning_rate": -1}, r"learning_rate must be in \[1e-06, 10\], got learning_rate=-1"),
        ({"learning_rate": "fast"}, r"learning_rate must be a number"),
        ({"noise": 0.9}, r"noise must be in \[0, 0.5\], got noise=0.9"),
        ({"batch_size": 2.5}, r"batch_size must be an integer in \[1, 100000\], got batch_size=2.5"),
        ({"batch_size": True}, r"batch_size must be an integer"),
        ({"plane": [1, 0]}, r"plane chooses two columns of a table"),
    ],
)
def test_bad_settings_are_400_with_the_message(client: TestClient, body: dict[str, Any], message: str) -> None:
    response = post(client, "/api/config", body)
    assert response.status_code == 400
    assert re.search(message, error_of(response))
    assert client.get("/api/state").json()["network"]["sizes"] == [2, 4, 2, 1]  # nothing changed


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"steps": 1001}, r"steps must be an integer in \[1, 1000\], got steps=1001"),
        ({"steps": 0}, r"steps must be an integer in \[1, 1000\], got steps=0"),
        ({"steps": "10"}, r"steps must be an integer in \[1, 1000\], got steps='10'"),
        ({"epochs": 3}, r"unknown field 'epochs'; /api/step takes \{'steps': n\}"),
    ],
)
def test_bad_steps_are_400(client: TestClient, body: dict[str, Any], message: str) -> None:
    response = post(client, "/api/step", body)
    assert response.status_code == 400
    assert re.search(message, error_of(response))


def test_bodies_are_bounded_json_objects(client: TestClient) -> None:
    big = client.post("/api/config", content=b"{" + b" " * MAX_BODY + b"}",
                      headers={**SAME, "Content-Type": "application/json"})  # fmt: skip
    assert big.status_code == 413
    assert error_of(big) == "the request body must be at most 65,536 bytes"
    form = client.post(
        "/api/step", content=b"steps=3", headers={**SAME, "Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status_code == 415
    assert re.search(r"must be JSON \(Content-Type: application/json\)", error_of(form))
    broken = client.post("/api/step", content=b"{steps: 3", headers={**SAME, "Content-Type": "application/json"})
    assert broken.status_code == 400
    assert error_of(broken).startswith("the request body is not valid JSON")
    listed = post(client, "/api/config", [1, 2])
    assert listed.status_code == 400
    assert error_of(listed) == "the request body must be a JSON object, got list"


def test_divergence_is_a_400_and_the_failed_epoch_is_undone(client: TestClient) -> None:
    post(client, "/api/config", {"learning_rate": 10, "activation": "identity", "hidden": [16] * 6,
                                 "batch_size": 1, "loss": "binary_crossentropy"})  # fmt: skip
    before = client.get("/api/state").json()
    response = post(client, "/api/step", {"steps": 5})
    assert response.status_code == 400
    assert re.search(r"training diverged in epoch 0, batch \d+: the gradient's norm is not finite", error_of(response))
    after = client.get("/api/state").json()
    assert after["epoch"] == 0
    assert after["network"]["weights"] == before["network"]["weights"]


def test_weights_that_overflow_mid_epoch_are_undone_and_the_page_still_draws(client: TestClient) -> None:
    # Not a divergence: a layer's z overflows float64 partway through an epoch (a DataError). The
    # epoch's batches before it had changed the weights; they are put back, and the state still reads.
    post(client, "/api/config", {"hidden": [16] * 6, "activation": "identity", "learning_rate": 10})
    assert post(client, "/api/step", {"steps": 50}).status_code == 200
    post(client, "/api/config", {"regularization": 1.0})
    for _ in range(100):
        before = client.get("/api/state").json()
        response = post(client, "/api/step", {"steps": 1})
        if response.status_code != 200:
            break
    assert response.status_code == 400
    assert "overflowed" in error_of(response)
    after = client.get("/api/state")
    assert after.status_code == 200
    assert after.json()["epoch"] == before["epoch"]
    assert after.json()["network"]["weights"] == before["network"]["weights"]


def test_a_request_trains_a_bounded_number_of_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    session = Session()
    assert session.data.X_train.shape[0] == 250  # moons: 500 points, half to train on
    monkeypatch.setattr(session_module, "MAX_SAMPLES", 1000)  # 4 epochs of 250 rows; a table's 20,000 rows: 100
    with pytest.raises(
        ParameterError,
        match=r"^steps=5 over 250 training rows is more than 1,000 rows a request; at most 4 steps at a time$",
    ):
        session.step(5)
    assert session.step(4)["epoch"] == 4


def test_a_session_checks_the_config_it_is_given() -> None:
    with pytest.raises(ParameterError, match=r"each hidden layer's width must be an integer in \[1, 16\], got"):
        Session(config=Config(hidden=(100,)))
    with pytest.raises(ParameterError, match=r"unknown dataset 'table'"):
        Session(config=Config(dataset="table"))


# --------------------------------------------------------------------------- safe by default


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:9999"},
        {"Origin": "null"},
    ],
)
def test_changes_from_another_origin_are_refused(headers: dict[str, str]) -> None:
    client = client_for()
    response = client.post("/api/step", json={"steps": 1}, headers=headers)
    assert response.status_code == 403
    assert (
        error_of(response) == "refused: this playground accepts changes only from its own page (http://127.0.0.1:8000)"
    )
    assert client.get("/api/state").json()["epoch"] == 0


def test_without_origin_fetch_metadata_or_referer_decide() -> None:
    client = client_for()
    cross = client.post("/api/reset", json={}, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert error_of(cross) == "refused: a cross-site request may not change this playground"
    referred = client.post("/api/reset", json={}, headers={"Referer": "https://evil.example/page"})
    assert referred.status_code == 403
    assert client.post("/api/reset", json={}, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert client.post("/api/reset", json={}, headers={"Referer": ORIGIN + "/"}).status_code == 200
    assert client.post("/api/reset", json={}).status_code == 200  # a script (curl, httpx) sends neither


def test_a_host_that_is_not_loopback_is_refused() -> None:
    # DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1.
    client = TestClient(create_app(Session()), base_url="http://evil.example:8000")
    response = client.get("/api/state")
    assert response.status_code == 403
    assert error_of(response) == "refused: the playground answers only on its loopback address"


# --------------------------------------------------------------------------- the numbers of one step


def test_trace_is_explains_for_every_neuron(client: TestClient) -> None:
    post(client, "/api/config", {"hidden": [3, 2]})
    post(client, "/api/step", {"steps": 2})
    trace = client.get("/api/trace?sample=7").json()
    model = client.get("/download/model.safetensors").content
    net = bp.load(_write(model))
    session_data = generate("moons", 0.1, 0.5, 0)
    x, y = session_data.X_train[7], float(session_data.y_train[7])
    expected = bp.explain(net, x, [y], learning_rate=0.03, loss="mse")
    assert [layer["index"] for layer in trace["layers"]] == [1, 2, 3]
    for got, want in zip(trace["layers"], expected.layers, strict=True):
        for j, neuron in enumerate(got["neurons"]):
            assert neuron["delta"]["value"] == want.error_term[0, j]
            assert neuron["delta"]["text"] == np.array2string(np.asarray(want.error_term[0, j]), precision=8)
            assert neuron["z"]["value"] == want.z[0, j]
            assert neuron["fprime"]["value"] == want.derivative[0, j]
        dW = np.array([[edge["dW"]["value"] for edge in row] for row in got["edges"]])
        assert np.array_equal(dW, want.weight_delta)
    assert trace["layers"][-1]["formulas"]["output error term"] == "δ[3] = (y − ŷ) ⊙ f'(z[3])"
    assert trace["layers"][0]["formulas"]["hidden error term"] == "δ[1] = (δ[2] · W[2]ᵀ) ⊙ f'(z[1])"
    assert '<section class="bp-trace">' in trace["html"]
    assert trace["explain"] == expected.to_dict()


def test_trace_of_a_sample_out_of_range_is_400(client: TestClient) -> None:
    response = client.get("/api/trace?sample=250")
    assert response.status_code == 400
    assert error_of(response) == "sample must be an integer in [0, 249], got sample=250"
    assert client.get("/api/trace?sample=-1").status_code == 400


def test_gradcheck_passes(client: TestClient) -> None:
    result = post(client, "/api/gradcheck", {"sample": 3}).json()
    assert result["passed"] is True
    assert result["rows"] == 8
    assert result["max_scaled_error"] <= result["tolerance"]
    assert "gradcheck (mse" in result["text"]


# --------------------------------------------------------------------------- downloads


def _write(data: bytes, suffix: str = ".safetensors") -> Path:
    import tempfile

    handle, name = tempfile.mkstemp(suffix=suffix)
    os.close(handle)
    Path(name).write_bytes(data)
    return Path(name)


def test_model_download_loads_back(client: TestClient) -> None:
    post(client, "/api/step", {"steps": 2})
    state = client.get("/api/state").json()
    response = client.get("/download/model.safetensors")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="model.safetensors"'
    path = _write(response.content)
    net, metadata = bp.load_with_metadata(path)
    assert [w.tolist() for w in net.weights] == state["network"]["weights"]
    assert metadata["playground"]["epoch"] == 2


def test_onnx_download_runs_with_the_same_predictions(client: TestClient) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    response = client.get("/download/model.onnx")
    assert response.status_code == 200
    run = onnxruntime.InferenceSession(response.content, providers=["CPUExecutionProvider"])
    X = generate("moons", 0.1, 0.5, 0).X_test[:5]
    net = bp.load(_write(client.get("/download/model.safetensors").content))
    name = run.get_inputs()[0].name
    got = run.run(None, {name: X.astype(np.float64 if "double" in run.get_inputs()[0].type else np.float32)})[0]
    np.testing.assert_allclose(got, net.predict(X), rtol=1e-5)


def test_onnx_without_the_extra_is_a_clear_400(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "backprop.onnx", None)  # import backprop.onnx now raises ImportError
    response = client.get("/download/model.onnx")
    assert response.status_code == 400
    assert re.search(r"ONNX export needs the onnx package .*install it with: pip install 'backprop\[onnx\]'",
                     error_of(response))  # fmt: skip


def test_report_download_is_a_whole_page(client: TestClient) -> None:
    pytest.importorskip("matplotlib")
    post(client, "/api/step", {"steps": 2})
    response = client.get("/download/report.html")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="report.html"'
    assert "backprop playground" in response.text
    assert '<section class="bp-trace">' in response.text


# --------------------------------------------------------------------------- the page and a table


def test_the_page_and_its_files_are_served_locally(client: TestClient) -> None:
    html = client.get("/").text
    assert '<script src="/static/playground.js">' in html
    for path in ("/", "/static/playground.js", "/static/playground.css"):
        text = client.get(path).text
        assert not re.search(r"(src|href)=\"?(https?:)?//", text), f"{path} loads something from elsewhere"
        assert "cdn" not in text.lower()


def test_a_table_spans_the_plane_with_two_chosen_inputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(120, 3))
    label = np.where(rows[:, 0] + rows[:, 2] > 0, "yes", "no")
    text = io.StringIO()
    text.write("a,b,c,label\n")
    for (a, b, c), y in zip(rows, label, strict=True):
        text.write(f"{a},{b},{c},{y}\n")
    path = tmp_path / "points.csv"
    path.write_text(text.getvalue())
    session = Session(read_table(str(path)))
    client = client_for(session)
    state = client.get("/api/state").json()
    assert state["config"]["dataset"] == "table"
    assert state["network"]["sizes"] == [3, 4, 2, 1]
    assert state["points"]["class_names"] == ["no", "yes"]
    state = post(client, "/api/config", {"plane": [0, 2]}).json()
    assert state["plane"]["names"] == ["a", "c"]
    bad = post(client, "/api/config", {"plane": [1, 1]})
    assert error_of(bad) == "plane needs two different input columns, got plane=[1, 1]"
    assert post(client, "/api/step", {"steps": 5}).json()["epoch"] == 5


def test_a_table_must_have_2_to_8_classes_and_two_numeric_inputs(tmp_path: Path) -> None:
    nine = tmp_path / "nine.csv"
    nine.write_text("a,b,label\n" + "".join(f"{i},{i * 2},c{i % 9}\n" for i in range(45)))
    with pytest.raises(
        bp.DataError,
        match=r"nine\.csv: the playground shows 2 to 8 classes \(a colour each\), but the target 'label' has 9: "
        r"\['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8'\]$",
    ):
        read_table(str(nine))
    one = tmp_path / "one.csv"
    one.write_text("a,b,label\n" + "".join(f"{i},{i * 2},same\n" for i in range(10)))
    with pytest.raises(
        bp.DataError, match=r"2 to 8 classes \(a colour each\), but the target 'label' has 1: \['same'\]"
    ):
        read_table(str(one))
    eight = tmp_path / "eight.csv"
    eight.write_text("a,b,label\n" + "".join(f"{i},{i * 2},c{i % 8}\n" for i in range(40)))
    assert read_table(str(eight)).class_names == tuple(f"c{k}" for k in range(8))
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(30)))
    with pytest.raises(bp.DataError, match=r"only 1 numeric column\(s\) besides the target 'label'"):
        read_table(str(narrow))


def test_the_session_never_prints(capsys: pytest.CaptureFixture[str]) -> None:
    session = Session(config=Config(dataset="spirals", hidden=(8,)))
    session.step(3)
    session.trace(0)
    session.check_gradient(0)
    assert capsys.readouterr() == ("", "")


# --------------------------------------------------------------------------- three classes and more

SPECIES = ("setosa", "versicolor", "virginica")
CENTRES = np.array([[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]])
"""An iris-like table: each species a cloud around its centre of (petal_length, petal_width); sepal is noise."""


def _species_table(path: Path, rows: int = 150) -> Path:
    rng = np.random.default_rng(3)
    lines = ["petal_length,petal_width,sepal,species"]
    for i in range(rows):
        k = i % 3
        a, b = CENTRES[k] + rng.normal(0.0, 0.5, size=2)
        lines.append(f"{a:.3f},{b:.3f},{rng.normal():.3f},{SPECIES[k]}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def species(tmp_path: Path) -> TestClient:
    return client_for(Session(read_table(str(_species_table(tmp_path / "species.csv")))))


def test_a_table_of_three_classes_has_three_softmax_outputs(species: TestClient) -> None:
    state = species.get("/api/state").json()
    assert state["network"]["sizes"] == [3, 4, 2, 3]
    assert state["network"]["activations"] == ["tanh", "tanh", "softmax"]
    assert state["config"]["loss"] == "crossentropy"
    assert state["choices"]["loss"] == ["crossentropy"]  # the only loss offered for 3 classes
    assert state["points"]["class_names"] == ["setosa", "versicolor", "virginica"]
    assert sorted({row[2] for row in state["points"]["train"] + state["points"]["test"]}) == [0, 1, 2]
    assert len(state["neurons"]["pixels"][-1]) == 3  # each output neuron's own picture
    # The boundary: each cell's argmax and its probability, one byte each, over the 50 × 50 grid.
    net = bp.load(_write(species.get("/download/model.safetensors").content))
    size = state["boundary"]["size"]
    classes = np.frombuffer(base64.b64decode(state["boundary"]["classes"]), np.uint8)
    confidence = np.frombuffer(base64.b64decode(state["boundary"]["confidence"]), np.uint8)
    assert "pixels" not in state["boundary"]
    assert classes.shape == confidence.shape == (size * size,)
    x0, x1, y0, y1 = state["plane"]["domain"]
    # The top-left cell: its centre half a cell in from the corner, the third input at its mean (0).
    corner = np.array([[x0 + (x1 - x0) / size / 2, y1 - (y1 - y0) / size / 2, 0.0]])
    p = net.predict(corner)[0]
    assert classes[0] == p.argmax()
    assert confidence[0] == round(p.max() * 255)


def test_three_classes_train_as_fit_with_class_indices(species: TestClient, tmp_path: Path) -> None:
    first = species.get("/api/state").json()
    state = post(species, "/api/step", {"steps": 20}).json()
    assert state["epoch"] == 20
    assert state["loss"] < first["loss"]
    assert state["test_loss"] < first["test_loss"]
    assert state["accuracy"] > first["accuracy"]
    # The same run written out with the library: softmax outputs, crossentropy on class indices.
    table = read_table(str(_species_table(tmp_path / "again.csv")))
    from backprop.playground.data import from_table

    data = from_table(table, (0, 1), 0.5, 0)
    net = bp.Network([bp.Dense(4, "tanh"), bp.Dense(2, "tanh"), bp.Dense(3, "softmax")], inputs=3, seed=0,
                     dtype=np.float64)  # fmt: skip
    for epoch in range(20):
        shuffle = int(np.random.SeedSequence([0, epoch]).generate_state(1)[0])
        net.fit(data.X_train, data.y_train, loss="crossentropy", optimizer=bp.SGD(0.03), epochs=1, batch_size=10,
                seed=shuffle)  # fmt: skip
    assert state["loss"] == net.loss(data.X_train, data.y_train, "crossentropy")
    assert state["test_loss"] == net.loss(data.X_test, data.y_test, "crossentropy")
    assert state["test_accuracy"] == np.mean(net.predict(data.X_test).argmax(axis=1) == data.y_test)
    # Deterministic from the seed: another session, the same bits.
    again = client_for(Session(table))
    assert post(again, "/api/step", {"steps": 20}).json()["network"]["weights"] == state["network"]["weights"]


def test_a_softmax_outputs_delta_is_explains_fused_case(species: TestClient) -> None:
    post(species, "/api/step", {"steps": 3})
    trace = species.get("/api/trace?sample=5").json()
    net = bp.load(_write(species.get("/download/model.safetensors").content))
    x = np.array([entry["value"] for entry in trace["x"]])
    label = SPECIES.index(trace["y_class"])
    expected = bp.explain(net, x, [label], learning_rate=0.03, loss="crossentropy")
    output = trace["layers"][-1]
    assert output["is_output"] and output["activation"] == "softmax"
    for j, neuron in enumerate(output["neurons"]):
        assert neuron["delta"]["value"] == expected.layers[-1].error_term[0, j]  # to the last bit
        assert neuron["a"]["value"] == expected.prediction[0, j]
        assert neuron["fprime"]["value"] == expected.layers[-1].derivative[0, j, j]  # the Jacobian's diagonal
    # Softmax with crossentropy: δᵒ = y − ŷ, the one-hot target less the probabilities.
    delta = np.array([neuron["delta"]["value"] for neuron in output["neurons"]])
    assert np.array_equal(delta, np.eye(3)[label] - np.array(trace["prediction"]["value"]))
    assert output["seed"] == "δᵒ = y − ŷ"
    assert output["formulas"]["output error term"] == "δ[3] = y − ŷ   (softmax with crossentropy: f' cancels)"
    assert trace["layers"][0]["seed"] == "δʰ = W δᵒ f′(h)"
    assert trace["y"]["text"] == np.array2string(np.eye(3)[label], precision=8)
    assert trace["explain"] == expected.to_dict()
    # Two classes keep the seed's general words where the loss is mse, and the fused ones for binary_crossentropy.
    moons = client_for()
    assert moons.get("/api/trace").json()["layers"][-1]["seed"] == "δᵒ = (y − ŷ) f′(h)"
    post(moons, "/api/config", {"loss": "binary_crossentropy"})
    assert moons.get("/api/trace").json()["layers"][-1]["seed"] == "δᵒ = y − ŷ"


def test_three_class_gradcheck_and_downloads(species: TestClient) -> None:
    post(species, "/api/step", {"steps": 5})
    checked = post(species, "/api/gradcheck", {"sample": 2}).json()
    assert checked["passed"] is True
    assert "gradcheck (crossentropy" in checked["text"]
    state = species.get("/api/state").json()
    net, metadata = bp.load_with_metadata(_write(species.get("/download/model.safetensors").content))
    assert [w.tolist() for w in net.weights] == state["network"]["weights"]
    assert metadata["playground"]["class_names"] == ["setosa", "versicolor", "virginica"]
    assert metadata["playground"]["loss"] == "crossentropy"
    X = np.array([[0.0, 1.0, 0.0], [-1.0, -0.5, 0.0]])
    np.testing.assert_allclose(net.predict(X).sum(axis=1), 1.0)
    onnxruntime = pytest.importorskip("onnxruntime")
    run = onnxruntime.InferenceSession(species.get("/download/model.onnx").content,
                                       providers=["CPUExecutionProvider"])  # fmt: skip
    name = run.get_inputs()[0].name
    got = run.run(None, {name: X.astype(np.float64 if "double" in run.get_inputs()[0].type else np.float32)})[0]
    np.testing.assert_allclose(got, net.predict(X), rtol=1e-5)
    pytest.importorskip("matplotlib")
    report = species.get("/download/report.html")
    assert report.status_code == 200
    assert "3-class classification" in report.text
    assert "versicolor" in report.text


@pytest.mark.parametrize("loss", ["mse", "binary_crossentropy"])
def test_a_two_class_loss_on_three_classes_is_refused(species: TestClient, loss: str, tmp_path: Path) -> None:
    response = post(species, "/api/config", {"loss": loss})
    assert response.status_code == 400
    assert error_of(response) == (
        f"loss={loss!r} does not fit 3 classes: two classes have one sigmoid output (loss mse or "
        "binary_crossentropy), 3 to 8 classes have k softmax outputs trained with crossentropy; "
        "expected one of ['crossentropy']"
    )
    assert species.get("/api/state").json()["config"]["loss"] == "crossentropy"  # nothing changed
    with pytest.raises(ParameterError, match=r"^loss='mse' does not fit 3 classes"):
        Session(read_table(str(_species_table(tmp_path / "species.csv"))), Config(dataset="table", loss="mse"))


def test_a_change_of_dataset_brings_its_own_loss(species: TestClient) -> None:
    moons = post(species, "/api/config", {"dataset": "moons"}).json()
    assert (moons["config"]["loss"], moons["choices"]["loss"]) == ("mse", ["mse", "binary_crossentropy"])
    assert moons["network"]["sizes"] == [2, 4, 2, 1]
    assert "pixels" in moons["boundary"]
    response = post(species, "/api/config", {"loss": "crossentropy"})
    assert response.status_code == 400
    assert error_of(response).startswith("loss='crossentropy' does not fit 2 classes")
    back = post(species, "/api/config", {"dataset": "table"}).json()
    assert (back["config"]["loss"], back["network"]["sizes"]) == ("crossentropy", [3, 4, 2, 3])


# --------------------------------------------------------------------------- the command


def test_the_command_serves_until_ctrl_c() -> None:
    import json
    import urllib.request

    process = subprocess.Popen(
        [sys.executable, "-m", "backprop", "playground", "xor", "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        watchdog = threading.Timer(60, process.kill)  # a server that never says where it listens: no hang
        watchdog.start()
        try:
            line = process.stdout.readline()
        finally:
            watchdog.cancel()
        match = re.match(r"backprop playground on (http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        with urllib.request.urlopen(match.group(1) + "api/state", timeout=10) as response:
            state = json.load(response)
        assert state["config"]["dataset"] == "xor"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out.strip() == "stopped"
    assert "Traceback" not in err


def test_the_command_without_the_extra_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['starlette'] = None\n"  # as if the playground extra were not installed
        "from backprop.cli import main\n"
        "main(['playground', '--no-browser', '--port', '0'])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert re.match(
        r"error: the playground needs the starlette package, which could not be imported .*; "
        r"install it with: pip install 'backprop\[playground\]'",
        result.stderr,
    ), result.stderr


def test_the_command_names_a_missing_file() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backprop", "playground", "no-such.csv", "--no-browser"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "no-such.csv" in result.stderr
