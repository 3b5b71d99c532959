"""The other commands: explain, export, inspect, datasets, plot, demo, gradcheck --json."""

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import backprop as bp
from backprop.cli import main


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def error_line(result):
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A 3-class model with a categorical column, and a 2-feature model for decision boundaries."""
    folder = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(0)
    n = 240
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "blue"], size=n)
    kind = np.select([x1 > 0.4, x2 > 0.4], ["a", "b"], "c")
    lines = ["x1,x2,colour,kind"] + [f"{x1[i]:.4f},{x2[i]:.4f},{colour[i]},{kind[i]}" for i in range(n)]
    data = folder / "data.csv"
    data.write_text("\n".join(lines) + "\n")
    plain = folder / "plain.csv"
    plain.write_text("\n".join(line.rsplit(",", 2)[0] + "," + line.rsplit(",", 1)[1] for line in lines) + "\n")
    fast = ["--epochs", "30", "--hidden", "12", "--lr", "0.01"]
    model = folder / "model.safetensors"
    two = folder / "two.safetensors"
    ok(run("train", data, *fast, "--out", model))
    ok(run("train", plain, *fast, "--out", two))
    return {"folder": folder, "data": data, "plain": plain, "model": model, "two": two}


# ------------------------------------------------------------------ explain


def test_explain_a_row_of_a_trained_model(models):
    result = ok(run("explain", models["model"], models["data"], "--row", "3", "--trace"))
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{models['data']}, row 3: target '")
    assert "predicted" in first
    for words in ("Forward pass", "Backward pass", "output error term", "hidden error term", "weight update"):
        assert words in result.stdout


@pytest.mark.parametrize("fmt", ["markdown", "html", "json"])
def test_explain_formats(models, fmt):
    result = ok(run("explain", models["model"], models["data"], "--row", "0", "--format", fmt, "--trace"))
    if fmt == "json":
        document = json.loads(result.stdout)
        assert document["row"] == 0 and document["target"] in ("a", "b", "c")
        assert document["trace"]["network"] == [4, 12, 3]
        assert document["trace"]["layers"][1]["backward"][0]["name"] == "error"
    elif fmt == "markdown":
        assert "### Output error term δᵒ" in result.stdout and "### Hidden error terms δʰ" in result.stdout
        assert "| 2 | weight update | ΔW[2] = η · a[1]ᵀ · δ[2] / n |" in result.stdout
    else:
        assert result.stdout.startswith('<section class="bp-trace">')
        assert "<h3>Weight updates ΔW" in result.stdout and "http" not in result.stdout


def test_explain_uses_the_training_learning_rate(models):
    document = json.loads(ok(run("explain", models["model"], models["data"], "--json", "--trace")).stdout)
    assert document["trace"]["learning_rate"] == 0.01
    document = json.loads(ok(run("explain", models["model"], models["data"], "--json", "--lr", "0.5")).stdout)
    assert document["trace"]["learning_rate"] == 0.5


def test_explain_errors(models):
    assert "--row must be in 0..239" in error_line(run("explain", models["model"], models["data"], "--row", "240"))
    no_target = models["folder"] / "no_target.csv"
    no_target.write_text("x1,x2,colour\n1,2,red\n")
    assert "no target column 'kind'" in error_line(run("explain", models["model"], no_target, "--trace"))
    assert "predicted" in ok(run("explain", models["model"], no_target)).stdout  # without --trace: why
    result = run("explain", models["model"])
    assert result.exit_code == 2 and "needs DATA too" in result.output
    result = run("explain", models["model"], models["data"], "--example", "seed")
    assert result.exit_code == 2


def test_explain_examples():
    seed = ok(run("explain", "--example", "seed")).stdout
    assert "Change in weights for hidden layer to output layer:\n[0.02634231 0.02119776]" in seed
    document = json.loads(ok(run("explain", "--example", "seed", "--format", "json")).stdout)
    assert document["network"] == [3, 2, 1]
    assert np.allclose(document["layers"][1]["backward"][-1]["value"], [[0.02634231], [0.02119776]])
    assert "### Forward pass" in ok(run("explain", "--example", "seed", "--format", "markdown")).stdout
    xor = ok(run("explain", "--example", "xor")).stdout
    assert "network 2-2-1, loss mse, η = 0.5, 4 samples" in xor
    assert "<section" in ok(run("explain", "--example", "xor", "--format", "html")).stdout


def test_explain_random_network_json():
    document = json.loads(ok(run("explain", "--sizes", "3,5,2", "--loss", "crossentropy", "--json")).stdout)
    assert document["network"] == [3, 5, 2] and document["loss"] == "crossentropy"


# ------------------------------------------------------------------ export


def test_export_onnx_takes_raw_inputs(models, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    path = tmp_path / "model.onnx"
    result = ok(run("export", models["model"], "--onnx", path, "--json"))
    document = json.loads(result.stdout)
    assert document["inputs"] == ["x1", "x2", "colour=blue", "colour=red"]
    assert document["outputs"] == ["label", "probabilities"]
    # Raw values in, as in the CSV: the standardisation is folded into the first layer.
    X = np.array([[0.5, -1.0, 0.0, 1.0], [-0.3, 0.8, 1.0, 0.0]], dtype=np.float32)
    session = onnxruntime.InferenceSession(str(path))
    label, probabilities = session.run(None, {session.get_inputs()[0].name: X})
    csv = tmp_path / "two.csv"
    csv.write_text("x1,x2,colour\n0.5,-1.0,red\n-0.3,0.8,blue\n")
    rows = ok(run("predict", models["model"], csv)).stdout.splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == list(label)
    expected = np.array([[float(p) for p in r.split(",")[1:]] for r in rows])
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert "wrote" in ok(run("export", models["model"], "--onnx", tmp_path / "raw.onnx", "--no-fold")).stdout


# ------------------------------------------------------------------ inspect, datasets


def test_inspect_a_model(models):
    text = ok(run("inspect", models["model"])).stdout
    assert "network   4-12-3: Dense(12, relu), Dense(3, softmax)" in text
    assert "target    'kind': 3 classes: a, b, c" in text
    assert "colour" in text and "categorical" in text
    document = json.loads(ok(run("inspect", models["model"], "--json")).stdout)
    assert document["format"] == "backprop-model"
    assert document["extra"]["preprocessing"]["target"]["classes"] == ["a", "b", "c"]
    assert "tensors" in document


def test_inspect_a_file_that_is_not_a_model(tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"\x00" * 64)
    assert "x.safetensors" in error_line(run("inspect", path))


def test_datasets():
    text = ok(run("datasets")).stdout
    for name in ("xor", "iris", "digits", "diabetes", "mnist1d"):
        assert name in text
    rows = json.loads(ok(run("datasets", "--json")).stdout)
    digits = next(r for r in rows if r["name"] == "digits")
    assert digits == {
        "name": "digits",
        "task": "classification",
        "samples": 1797,
        "features": 64,
        "classes": 10,
        "description": "8x8 handwritten digits (scikit-learn, bundled)",
    }


def test_gradcheck_json():
    document = json.loads(ok(run("gradcheck", "--json")).stdout)
    assert document["passed"] is True and document["checks"][0]["array"] == "W[1]"


# ------------------------------------------------------------------ plot


@pytest.mark.parametrize("kind", ["loss", "metric", "grad-norms", "network", "confusion"])
def test_plot_kinds(models, tmp_path, kind):
    pytest.importorskip("matplotlib")
    out = tmp_path / f"{kind}.png"
    extra = ["--data", models["data"]] if kind == "confusion" else []
    result = ok(run("plot", models["model"], "--kind", kind, *extra, "-o", out))
    assert f"wrote {out}" in result.stdout
    assert out.read_bytes().startswith(b"\x89PNG")


def test_plot_boundary_and_a_history_file(models, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "b.svg"
    ok(run("plot", models["two"], "--kind", "boundary", "--data", models["plain"], "-o", out, "--json"))
    assert out.read_text().lstrip().startswith("<?xml")
    history = tmp_path / "history.json"
    history.write_text(json.dumps({"loss": [1.0, 0.5, 0.25], "val_loss": [1.1, 0.6, 0.4]}))
    ok(run("plot", history, "--kind", "loss"))
    assert (tmp_path / "history-loss.png").exists()  # the default name


def test_plot_errors(models, tmp_path):
    result = run("plot", models["model"], "--kind", "confusion")
    assert result.exit_code == 2 and "--kind confusion needs --data DATA" in result.output
    line = error_line(
        run("plot", models["model"], "--kind", "boundary", "--data", models["data"], "-o", tmp_path / "b.png")
    )
    assert "needs a model of two numeric features" in line
    assert not (tmp_path / "b.png").exists()


# ------------------------------------------------------------------ demo


def test_demo_quick(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "demo"
    result = ok(run("demo", "--quick", "--out", out))
    text = result.stdout
    assert "The seed's worked example" in text
    assert "Change in weights for input layer to hidden layer:" in text
    assert "test accuracy: " in text and "confusion matrix" in text
    accuracy = float(text.split("test accuracy: ")[1].split()[0])
    assert accuracy > 0.5  # three short epochs on 1437 digits
    assert f"wrote {out}/" in text and "report.html" in text
    for name in ("model.safetensors", "curves.png", "grad-norms.png", "network.png", "confusion.png", "report.html"):
        assert (out / name).stat().st_size > 0, name
    _, metadata = bp.load_with_metadata(out / "model.safetensors")
    assert metadata["classes"] == list(range(10))
    document = json.loads(ok(run("demo", "--quick", "--out", out, "--json")).stdout)
    assert document["seed_example"]["network"] == [3, 2, 1] and document["test"]["rows"] == 360


def test_bench_is_imported_only_when_asked_for():
    # Its runners and tables take ~65 ms to import, which every other command would pay.
    code = (
        "import sys; from click.testing import CliRunner; from backprop.cli import main; "
        "before = 'backprop.bench' in sys.modules; "
        "listed = CliRunner().invoke(main, ['--help']).output; "
        "helped = CliRunner().invoke(main, ['bench', '--help']); "
        "print(before, 'bench ' in listed, helped.exit_code, 'GEMM limit' in helped.output)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.split() == ["False", "True", "0", "True"]
