"""Why this prediction: gradient × input and integrated gradients (backprop.attribution), and ``backprop explain``."""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

import backprop as bp
from backprop import attribution
from backprop.attribution import attribute, explain_table_rows, input_gradient, training_baseline
from backprop.cli import main
from backprop.dataframes import frame_of


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def one_unit(activation, w=(2.0, -1.0), b=0.5):
    """``f(x) = act(2 x₁ − x₂ + 0.5)``: a 2-input network of one unit."""
    return bp.Network.from_weights([np.array([[w[0]], [w[1]]])], activation, biases=[np.array([b])])


# ------------------------------------------------------------------ by hand


def test_a_sigmoid_unit_by_hand():
    # x = (1, 3): s = w·x = 2 − 3 = −1, z = s + b = −0.5; the baseline 0 has z = b = 0.5.
    found = attribute(one_unit("sigmoid"), [1.0, 3.0])
    assert found.value[0] == pytest.approx(0.3775406688)  # σ(−0.5)
    assert found.baseline_value[0] == pytest.approx(0.6224593312)  # σ(0.5)
    # ∂f/∂x = σ'(z) w = 0.2350037122 · (2, −1); gradient × input multiplies by x = (1, 3).
    assert found.gradient[0] == pytest.approx([0.4700074244, -0.2350037122])
    assert found.gradient_x_input[0] == pytest.approx([0.4700074244, -0.7050111366])
    # Along the path z = b + α s, so ∫ ∂f/∂xᵢ dα = wᵢ (σ(b + s) − σ(b)) / s and IGᵢ = xᵢ wᵢ Δ / s, Δ = −0.2449186624.
    assert found.integrated_gradients[0] == pytest.approx([0.4898373248, -0.7347559872], abs=1e-9)
    assert found.integrated_gradients.sum() == pytest.approx(found.value[0] - found.baseline_value[0], abs=1e-12)
    assert abs(found.gap[0]) < 1e-12 and found.output.tolist() == [0] and found.steps.tolist() == [64]


def test_a_linear_unit_gives_weight_times_input_either_way():
    found = attribute(one_unit("identity"), [[1.0, 3.0], [-2.0, 0.5]], baseline=[1.0, 1.0])
    # f(x) − f(b) = Σ wᵢ (xᵢ − bᵢ): both attributions are wᵢ (xᵢ − bᵢ).
    expected = np.array([[0.0, -2.0], [-6.0, 0.5]])
    assert np.allclose(found.integrated_gradients, expected, atol=1e-12)
    assert np.allclose(found.gradient_x_input, expected, atol=1e-12)
    assert found.value.tolist() == [-0.5, -4.0] and found.baseline_value.tolist() == [1.5, 1.5]


def test_the_logit_of_a_sigmoid_unit_is_its_z():
    found = attribute(one_unit("sigmoid"), [1.0, 3.0], logit=True)
    assert found.value[0] == pytest.approx(-0.5) and found.baseline_value[0] == pytest.approx(0.5)
    assert np.allclose(found.integrated_gradients[0], [2.0, -3.0], atol=1e-12)  # z is linear in x


# ------------------------------------------------------------------ the gradient


def deep_network(dtype=np.float64):
    layers = [bp.Dense(6, "tanh"), bp.Dropout(0.3), bp.Dense(5, "sigmoid"), bp.Dense(3, "softmax")]
    return bp.Network(layers, inputs=4, seed=3, dtype=dtype)


@pytest.mark.parametrize("logit", [False, True])
def test_the_input_gradient_matches_finite_differences(logit):
    net = deep_network()
    X = np.random.default_rng(1).normal(size=(5, 4))
    units = np.array([0, 1, 2, 1, 0])
    value, gradient = input_gradient(net, X, units, logit=logit)
    eps = 1e-6
    numeric = np.empty_like(gradient)
    for j in range(4):
        step = eps * np.eye(4)[j]
        numeric[:, j] = (
            input_gradient(net, X + step, units, logit=logit)[0] - input_gradient(net, X - step, units, logit=logit)[0]
        ) / (2 * eps)
    assert np.allclose(gradient, numeric, rtol=1e-6, atol=1e-9)
    output = net.predict(X)
    if not logit:
        assert np.allclose(value, output[np.arange(5), units], rtol=0, atol=1e-12)
    else:  # softmax of the logits gives the outputs back
        assert not np.allclose(value, output[np.arange(5), units])


def test_completeness_of_a_smooth_network():
    net = deep_network()
    X = np.random.default_rng(2).normal(size=(7, 4))
    found = attribute(net, X)
    assert found.output.tolist() == net.predict(X).argmax(axis=1).tolist()  # the predicted class by default
    difference = found.value - found.baseline_value
    assert np.allclose(found.integrated_gradients.sum(axis=1), difference, atol=1e-10)
    assert np.abs(found.gap).max() < 1e-10
    # Gradient × input is local: not complete for a network that bends.
    assert np.abs(found.gradient_x_input.sum(axis=1) - difference).max() > 1e-3


def relu_network():
    """A 2-3-1 ReLU network whose gradient jumps along the paths below (each hidden unit's kink crosses them)."""
    W1 = np.array([[3.0, -2.0, 1.0], [1.0, 4.0, -3.0]])
    W2 = np.array([[2.0], [-1.5], [1.0]])
    return bp.Network.from_weights([W1, W2], ["relu", "sigmoid"], biases=[np.array([-1.0, 0.5, 0.2]), np.array([-0.5])])


KINKED = np.array([[1.0, 2.0], [-1.0, 0.5], [2.0, -1.0], [0.3, 0.3]])


def test_the_quadrature_error_of_a_relu_network_shrinks_with_steps():
    coarse = attribute(relu_network(), KINKED, steps=4, tolerance=None)
    fine = attribute(relu_network(), KINKED, steps=256, tolerance=None)
    assert coarse.steps.tolist() == [4, 4, 4, 4] and np.abs(coarse.gap).max() > 0.2
    assert np.abs(fine.gap).max() < 0.01


def test_rows_that_miss_the_tolerance_get_twice_the_points():
    coarse = attribute(relu_network(), KINKED, steps=4, tolerance=None)  # gaps 0.035, 0.025, 0.22, 0.011
    refined = attribute(relu_network(), KINKED, steps=4, tolerance=0.03)
    assert np.abs(refined.gap).max() <= 0.03
    assert refined.steps[[1, 3]].tolist() == [4, 4] and refined.steps[[0, 2]].min() >= 8
    # A row within the tolerance at once keeps its numbers.
    assert np.array_equal(refined.integrated_gradients[[1, 3]], coarse.integrated_gradients[[1, 3]])
    capped = attribute(relu_network(), KINKED, steps=4, tolerance=0.0, max_steps=16)
    assert capped.steps.tolist() == [16, 16, 16, 16]


def test_the_baseline_itself_has_no_attribution():
    net = deep_network()
    x = np.array([0.3, -1.0, 2.0, 0.5])
    found = attribute(net, x, baseline=x)
    assert found.value[0] == found.baseline_value[0]
    assert not found.integrated_gradients.any() and not found.gradient_x_input.any()


def test_a_float32_network_is_explained_in_float64_and_left_unchanged():
    net = deep_network(np.float32)
    before = net.parameters.copy()
    X = np.random.default_rng(3).normal(size=(3, 4))
    found = attribute(net, X)
    assert np.array_equal(net.parameters, before) and net.dtype == np.float32
    assert found.integrated_gradients.dtype == np.float64
    assert np.allclose(found.value, attribute(net.copy(np.float64), X).value, rtol=0, atol=0)
    assert np.abs(found.gap).max() < 1e-10


def test_small_chunks_give_the_same_attributions(monkeypatch):
    net = deep_network()
    X = np.random.default_rng(4).normal(size=(6, 4))
    whole = attribute(net, X, steps=8)
    monkeypatch.setattr(attribution, "CHUNK_BYTES", 1)  # one row, one point at a time
    chunked = attribute(net, X, steps=8)
    assert np.allclose(chunked.integrated_gradients, whole.integrated_gradients, rtol=1e-12, atol=1e-15)
    assert np.allclose(chunked.gradient, whole.gradient, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda net: attribute(net, np.ones((2, 3))), bp.ShapeError, r"X must have 4 columns .* shape \(2, 3\)"),
        (lambda net: attribute(net, np.ones(4), baseline=np.ones(5)), bp.ShapeError, "baseline must have 4 columns"),
        (lambda net: attribute(net, np.ones((2, 4)), baseline=np.ones((3, 4))), bp.ShapeError, "1 or 2 rows"),
        (lambda net: attribute(net, [[np.nan, 0, 0, 0]]), bp.DataError, "NaN"),
        (lambda net: attribute(net, np.ones(4), output=3), bp.ParameterError, r"output must be in 0\.\.2"),
        (lambda net: attribute(net, np.ones((2, 4)), output=[0]), bp.ParameterError, "2 integers"),
        (lambda net: attribute(net, np.ones(4), steps=0), bp.ParameterError, "steps must be a positive integer"),
        (lambda net: attribute(net, np.ones(4), tolerance=-1.0), bp.ParameterError, "tolerance must be a number >= 0"),
        (lambda net: attribute(net, np.ones((0, 4))), bp.DataError, "X is empty"),
    ],
)
def test_mistakes_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call(deep_network())


# ------------------------------------------------------------------ tables


def table(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "blue", "green"], size=n)
    label = np.where(x1 + (colour == "red") > 0.5, "yes", "no")
    price = 100 + 20 * x1 - 5 * x2 + 10 * (colour == "green")
    return {"x1": x1, "x2": x2, "colour": colour, "label": label, "price": price}


def fitted(target, ignore):
    model = bp.TabularModel(hidden=(8,), epochs=20, seed=0, validation=0.0)
    return model.fit(table(), target, ignore=[ignore])


@pytest.fixture(scope="module")
def binary():
    return fitted("label", "price")


@pytest.fixture(scope="module")
def regression():
    return fitted("price", "label")


def test_the_training_baseline_is_the_standardized_mean_and_one_over_k(binary):
    pre = binary.preprocessor_
    assert pre.input_names == ["x1", "x2", "colour=blue", "colour=green", "colour=red"]
    assert training_baseline(pre).tolist() == [0.0, 0.0, 1 / 3, 1 / 3, 1 / 3]


def test_one_hot_columns_are_summed_back_into_their_column(binary):
    frame = frame_of(table(5, seed=1))
    rows = explain_table_rows(binary.network_, binary.preprocessor_, binary.head_, frame)
    assert [r.row for r in rows] == [0, 1, 2, 3, 4]
    inputs = binary.preprocessor_.transform(frame)
    p_yes = binary.predict_proba(table(5, seed=1))[:, 1]
    found = attribute(binary.network_, inputs, baseline=training_baseline(binary.preprocessor_), output=0)
    for i, row in enumerate(rows):
        sign = 1.0 if row.prediction == "yes" else -1.0  # p(no) = 1 − p(yes): every term negated
        by_column = {c.column: c for c in row.columns}
        assert by_column["colour"].integrated_gradients == pytest.approx(sign * found.integrated_gradients[i, 2:].sum())
        assert by_column["x1"].gradient_x_input == pytest.approx(sign * found.gradient_x_input[i, 0])
        assert row.explained == f"p({row.prediction})"
        assert row.value == pytest.approx(p_yes[i] if sign > 0 else 1 - p_yes[i], abs=1e-6)
        total = sum(c.integrated_gradients for c in row.columns)
        assert total == pytest.approx(row.value - row.baseline_value, abs=abs(row.gap) + 1e-12)
        assert abs(row.gap) < 1e-3
        magnitudes = [abs(c.integrated_gradients) for c in row.columns]
        assert magnitudes == sorted(magnitudes, reverse=True)
        assert by_column["colour"].value == str(table(5, seed=1)["colour"][i])
        assert by_column["x2"].value == table(5, seed=1)["x2"][i]


def test_a_regression_is_explained_in_the_targets_units(regression):
    frame = frame_of(table(3, seed=2))
    rows = explain_table_rows(regression.network_, regression.preprocessor_, regression.head_, frame, rows=[2])
    (row,) = rows
    assert row.row == 2 and row.probabilities is None and row.explained == "price"
    assert row.value == pytest.approx(regression.predict(table(3, seed=2))[2], rel=1e-5)
    assert row.prediction == pytest.approx(row.value, rel=1e-5)
    # The baseline is the mean row: near the training prices' mean (100 + 10/3), not near 0.
    assert 80 < row.baseline_value < 125
    total = sum(c.integrated_gradients for c in row.columns)
    assert total == pytest.approx(row.value - row.baseline_value, abs=abs(row.gap) + 1e-9)
    document = row.to_dict()
    assert document["explained"] == "price" and len(document["contributions"]) == 3


# ------------------------------------------------------------------ the command


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory, binary):
    folder = tmp_path_factory.mktemp("why")
    columns = table(6, seed=3)
    lines = ["x1,x2,colour,label"] + [
        f"{columns['x1'][i]:.4f},{columns['x2'][i]:.4f},{columns['colour'][i]},{columns['label'][i]}" for i in range(6)
    ]
    (folder / "data.csv").write_text("\n".join(lines) + "\n")
    (folder / "no_target.csv").write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    binary.save(folder / "model.safetensors")
    return folder


def test_explain_says_why_without_the_target(files):
    result = run("explain", files / "model.safetensors", files / "no_target.csv", "--row", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{files / 'no_target.csv'}, row 2: predicted '") and "; target" not in lines[0]
    assert lines[1].startswith("probabilities: ")
    assert lines[2].startswith("why: each column's contribution to p(")
    assert lines[3].split() == ["column", "value", "contribution", "gradient", "×", "input"]
    assert sorted(line.split()[0] for line in lines[4:7]) == ["colour", "x1", "x2"]
    assert "at the baseline" in lines[7] and "to within" in lines[7]
    assert "Forward pass" not in result.stdout


def test_explain_says_why_though_the_target_is_a_label_the_model_does_not_know(files):
    lines = (files / "data.csv").read_text().splitlines()
    header, first = lines[0], lines[1].rsplit(",", 1)[0]
    (files / "new_label.csv").write_text(f"{header}\n{first},maybe\n")
    result = run("explain", files / "model.safetensors", files / "new_label.csv")
    assert result.exit_code == 0, result.output
    assert ", row 0: predicted '" in result.stdout and "; target" not in result.stdout.splitlines()[0]


def test_explain_json_holds_the_same_answer(files):
    result = run("explain", files / "model.safetensors", files / "data.csv", "--row", "1", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["row"] == 1 and document["target"] in ("yes", "no") and "trace" not in document
    assert [p["class"] for p in document["probabilities"]] == ["no", "yes"]
    assert sum(p["probability"] for p in document["probabilities"]) == pytest.approx(1.0)
    total = sum(c["integrated_gradients"] for c in document["contributions"])
    difference = document["value"] - document["baseline_value"]
    assert total == pytest.approx(difference, abs=abs(document["completeness_gap"]) + 1e-12)
    assert {c["column"] for c in document["contributions"]} == {"x1", "x2", "colour"}
    assert document["steps"] in (64, 128, 256, 512, 1024)
    assert abs(document["completeness_gap"]) <= 1e-3 or document["steps"] == 1024


def test_explain_top_and_steps(files):
    result = run("explain", files / "model.safetensors", files / "data.csv", "--top", "1", "--steps", "8")
    assert result.exit_code == 0, result.output
    assert "... and 2 more columns, together " in result.stdout
    assert re.search(r"\(integrated gradients, (8|16|32|64|128|256|512|1024) steps\)$", result.stdout.strip())


def test_explain_trace_needs_the_target(files):
    result = run("explain", files / "model.safetensors", files / "data.csv", "--trace")
    assert result.exit_code == 0, result.output
    assert "Backward pass" in result.stdout and "why:" not in result.stdout
    result = run("explain", files / "model.safetensors", files / "no_target.csv", "--trace")
    assert result.exit_code == 1
    assert "no target column 'label'; explain --trace needs the row's target" in result.stderr
