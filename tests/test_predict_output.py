"""``backprop predict``'s CSV: Python's text, byte for byte, from the vectorised writer and the reading thread.

The writer spells numbers out in numpy (``cli/predict.py``); what it must write is what Python's
csv writer writes for the same values: ``.6g`` for a probability. The reading thread reads and
transforms the next chunk while one is written: the rows come in order, an error comes after the
rows before it, and a writer that stops stops the reading.
"""

import csv
import functools
import io
import subprocess
import sys
import threading

import numpy as np
import pytest
from click.testing import CliRunner

from backprop.cli import _csv_text as csv_text
from backprop.cli import main
from backprop.cli import predict as cli_predict
from backprop.errors import DataError
from backprop.heads import load_model, predict_frame
from backprop.tabular import iter_tables

pytest.importorskip("pyarrow")

FAST = ["--epochs", "3", "--hidden", "8", "--lr", "0.01", "--quiet"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def rows_csv(path, n, seed=0):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n).round(3), rng.normal(size=n).round(3)
    colour = rng.choice(["red", "green", "blue"], size=n)
    label = np.where(x1 + x2 + (colour == "red") > 0.3, "yes", "no")
    lines = [f"{x1[i]},{x2[i]},{colour[i]},{label[i]}\n" for i in range(n)]
    path.write_text("x1,x2,colour,label\n" + "".join(lines))
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("predict")
    path = folder / "model.safetensors"
    result = run("train", rows_csv(folder / "train.csv", 300), *FAST, "-o", path)
    assert result.exit_code == 0, result.output
    return path


def written_by_python(model_path, data, chunk_rows=65_536):
    """The CSV that Python's csv writer writes for the predictions of ``data``, a chunk at a time as predict reads it."""
    loaded = load_model(str(model_path))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["prediction", *[f"p_{c}" for c in loaded.pre.classes]])
    for frame in loaded.pre.chunked(iter_tables(str(data), chunk_rows=chunk_rows)):
        predicted, proba = predict_frame(loaded.net, loaded.pre, loaded.head, frame)
        for k, p in zip(predicted.tolist(), proba.tolist(), strict=True):
            writer.writerow([loaded.pre.classes[k], *[f"{v:.6g}" for v in p]])
    return out.getvalue()


# ------------------------------------------------------------------ numbers as Python writes them


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.5, "0.5"),
        (0.1234565, "0.123456"),  # the double is 0.12345649999...: down
        (0.1234566, "0.123457"),
        (0.0009765625, "0.000976562"),  # 2**-10: an exact tie, to the even digit
        (0.000123, "0.000123"),
        (0.99999951, "1"),  # rounds up to one: the point and the zeros go
        (0.9999994, "0.999999"),
        (1.5e-05, "1.5e-05"),
        (1e-05, "1e-05"),
        (9.999995e-100, "1e-99"),
        (1e-100, "1e-100"),
        (5e-324, "4.94066e-324"),
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (-0.25, "-0.25"),
        (2.5, "2.5"),
        (123456789.0, "1.23457e+08"),
    ],
)
def test_a_probability_is_written_as_python_writes_it(value, text):
    # One unusual value among usual ones, and alone (Python writes the few unusual ones, numpy the rest).
    for values in (np.array([0.25, value, 0.75]), np.full(100, value)):
        written = csv_text.probability_bytes(values)
        assert bytes(written[1][written[1] != 0]).decode() == text
        assert (written[:, 0] == 0).all()  # the free first byte a comma goes into


def test_probabilities_of_every_size_are_written_as_python_writes_them():
    rng = np.random.default_rng(3)
    ties = (rng.integers(10**6, 10**7, 20_000) * 10 + 5) / 10.0 ** rng.integers(8, 13, 20_000)
    values = np.concatenate(
        [
            rng.random(20_000),
            rng.random(20_000) ** 8,
            rng.random(20_000).astype(np.float32).astype(np.float64),  # a sigmoid's outputs
            10.0 ** rng.uniform(-120, 5, 20_000),
            ties,
            np.nextafter(ties, 0),
            np.nextafter(ties, 1),
        ]
    )
    written = csv_text.probability_bytes(values)
    assert [bytes(row[row != 0]).decode() for row in written] == [f"{v:.6g}" for v in values.tolist()]


# ------------------------------------------------------------------ the command, over many chunks


def test_predict_over_several_chunks_writes_what_python_writes_for_each_chunk(model, tmp_path):
    data = rows_csv(tmp_path / "many.csv", 140_000, seed=1)  # three chunks of at most 65,536 rows
    out = tmp_path / "out.csv"
    result = run("predict", model, data, "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_text() == written_by_python(model, data)


def test_an_error_in_a_later_chunk_comes_after_the_rows_before_it(model, tmp_path, monkeypatch):
    # Chunks of 50 rows; row 120 is not a number: the two chunks before it are written, then the error.
    monkeypatch.setattr(cli_predict, "iter_tables", functools.partial(cli_predict.iter_tables, chunk_rows=50))
    lines = rows_csv(tmp_path / "d.csv", 200).read_text().splitlines()
    lines[121] = "oops," + lines[121].split(",", 1)[1]
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    result = run("predict", model, bad)
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f"error: {bad}: column 'x1', row 120 (line 122): 'oops' is not a number; the model was trained on numbers here"
    )
    assert result.stdout.splitlines() == written_by_python(model, tmp_path / "d.csv", 50).splitlines()[:101]


def test_a_writer_that_fails_stops_the_reading_and_closes_the_file(model, tmp_path, monkeypatch):
    closed = threading.Event()

    def chunks(*args, **kwargs):
        try:
            yield from iter_tables(*args, **{**kwargs, "chunk_rows": 1000})
        finally:
            closed.set()

    written = []

    def write_chunk(*args):
        if written:
            raise DataError("the second chunk cannot be written")
        written.append(args)
        return ""

    monkeypatch.setattr(cli_predict, "iter_tables", chunks)
    monkeypatch.setattr(cli_predict, "csv_chunk", write_chunk)
    result = run("predict", model, rows_csv(tmp_path / "d.csv", 10_000), "-o", tmp_path / "out.csv")
    assert result.exit_code == 1 and "the second chunk cannot be written" in result.stderr
    assert closed.is_set()  # by the reading thread, before the command returned
    assert not (tmp_path / "out.csv").exists()


def test_one_reading_thread_serves_the_predictions_of_a_process(model, tmp_path):
    data = rows_csv(tmp_path / "d.csv", 100)
    for _ in range(3):
        assert run("predict", model, data, "-o", tmp_path / "out.csv").exit_code == 0
    readers = [t for t in threading.enumerate() if t.name == "backprop-predict-reader"]
    assert len(readers) == 1 and readers[0].daemon


def test_the_reading_thread_gives_items_in_order_and_an_error_in_its_place():
    def items():
        yield from range(5)
        raise DataError("the sixth item")

    got = []
    with pytest.raises(DataError, match="the sixth item"):
        for item in cli_predict._read_ahead(items()):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_the_reading_thread_stops_when_the_caller_leaves_early():
    made, closed = [], threading.Event()

    def items():
        try:
            for i in range(1000):
                made.append(i)
                yield i
        finally:
            closed.set()

    reader = cli_predict._read_ahead(items())
    assert next(reader) == 0
    reader.close()  # the caller leaves: Ctrl-C, an error writing
    assert closed.wait(5)
    assert len(made) <= 3  # the one given, the one waiting, the one being made


@pytest.mark.parametrize("classes", [["no", "yes"], ["a,b", 'say "hi"', "", "grün", 3, 2.5, None], []])
def test_the_labels_arrow_array_is_the_one_pyarrow_makes_of_the_fields(classes):
    # Made from its buffers: pa.array of Python strings imports pandas where it is installed (0.3 s of
    # every `backprop predict`, and where a Ctrl-C most often landed).
    pa = pytest.importorskip("pyarrow")
    labels = csv_text.Labels.of(classes)
    expected = pa.array([csv_text._field(c) for c in classes], type=pa.string())
    assert labels.arrow.type == pa.string() and labels.arrow.equals(expected)


def test_predict_does_not_import_pandas(model, tmp_path):
    data = rows_csv(tmp_path / "d.csv", 50)
    code = (
        "import sys; from backprop.cli import main; "
        f"main(['predict', {str(model)!r}, {str(data)!r}, '-o', {str(tmp_path / 'p.csv')!r}, '-q'], "
        "standalone_mode=False); print('pandas' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
