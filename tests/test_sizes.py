"""Sizes from a file are checked before they are allocated, and wide tables cost linear time.

Issue 13: a 4 MB CSV whose column has 80,000 categories asked for 58 GiB of
one-hot inputs, a 3 MB CSV with 100,000 classes for 60 GiB of one-hot targets,
and `predict` with a model of a million categories for 244 GiB; each died with
a numpy traceback. Now each is one MemoryLimitError naming the column and the
size, or, where a streaming form exists (prediction, evaluation), runs in
chunks that fit. BACKPROP_MEMORY_LIMIT keeps the cases here small: a few
thousand categories against a limit of a few MiB.
"""

import csv
import tracemalloc

import numpy as np
import pytest
from click.testing import CliRunner

import backprop as bp
from backprop.cli import main
from backprop.preprocessing import one_hot
from backprop.tabular import FeatureSpec, Frame, Preprocessor, TargetSpec, iter_tables, prepare_training, read_table

LIMIT = "20M"


@pytest.fixture
def limited(monkeypatch):
    monkeypatch.setenv("BACKPROP_MEMORY_LIMIT", LIMIT)


def write_csv(path, header, rows):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def categories_csv(path, n=10_000, categories=1000, extra=()):
    """``city`` with ``categories`` values (each in several rows), a number, optional more text columns, ``y``."""
    rng = np.random.default_rng(0)
    header = ["city", "x", *[name for name, _ in extra], "y"]
    rows = [
        [f"c{i % categories}", f"{rng.normal():.3f}", *[f"{name}{i % k}" for name, k in extra], i % 2] for i in range(n)
    ]
    return write_csv(path, header, rows)


def classes_csv(path, n=6000, classes=3000):
    rng = np.random.default_rng(0)
    return write_csv(path, ["x", "label"], [[f"{rng.normal():.3f}", f"k{i % classes}"] for i in range(n)])


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result):
    assert result.exit_code == 1, (result.output, result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# --------------------------------------------------------------------------- one-hot inputs


@pytest.mark.parametrize(
    ("extra", "named", "count"),
    [
        ((), "city", "1,000 categories"),
        # The widest of several one-hot columns is the one named.
        ((("shop", 40),), "city", "1,000 categories"),
        ((("street", 1250),), "street", "1,250 categories"),
    ],
)
def test_a_column_of_many_categories_is_refused_before_its_one_hot_is_built(tmp_path, limited, extra, named, count):
    frame = read_table(categories_csv(tmp_path / "data.csv", extra=extra))
    with pytest.raises(bp.MemoryLimitError, match=rf"column '{named}' \({count}, one-hot\).*10,000 rows.*would need"):
        prepare_training(frame, target="y")


def test_train_refuses_many_categories_with_one_error_line(tmp_path, limited):
    data = categories_csv(tmp_path / "data.csv")
    line = one_error_line(run("train", data, "--epochs", "1", "-o", tmp_path / "m.safetensors", "--quiet"))
    assert "column 'city' (1,000 categories, one-hot)" in line
    assert "would need 38.2 MiB of memory, more than the 20 MiB available" in line
    assert not (tmp_path / "m.safetensors").exists()


def test_few_categories_fit_the_same_limit(tmp_path, limited):
    prepared = prepare_training(read_table(categories_csv(tmp_path / "data.csv", categories=30)), target="y")
    assert prepared.X_train.shape[1] == 31
    assert set(np.unique(prepared.X_train[:, :30])) == {0.0, 1.0}
    assert (prepared.X_train[:, :30].sum(axis=1) == 1).all()  # one category per row


def wide_model(categories):
    """A model whose only feature, ``city``, one-hot encodes ``categories`` values (c0, c1, ...)."""
    pre = Preprocessor(
        [FeatureSpec("city", "categorical", categories=[f"c{i}" for i in range(categories)])],
        TargetSpec("y", "classes", classes=[0, 1]),
        standardize=False,
    )
    net = bp.Network([bp.Dense(3, "tanh"), bp.Dense(2, "softmax")], inputs=categories, seed=0)
    return pre, net


def test_transform_refuses_rows_whose_inputs_cannot_fit(limited):
    pre, _ = wide_model(20_000)
    cells = np.array([f"c{i}" for i in range(1000)], dtype=object)
    with pytest.raises(bp.MemoryLimitError, match=r"column 'city' \(20,000 categories, one-hot\).*1,000 rows"):
        pre.transform(Frame("data.csv", ["city"], [cells]))
    assert pre.transform(Frame("data.csv", ["city"], [cells[:10]])).shape == (10, 20_000)


@pytest.mark.parametrize("budget", [10 * 2**20, 2**30])
def test_chunk_rows_keep_a_chunk_of_inputs_within_the_budget(budget):
    pre, _ = wide_model(20_000)
    rows = pre.chunk_rows(budget)
    assert rows >= 1
    assert rows * 20_000 * 4 <= budget


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_a_model_of_many_categories_predicts_in_chunks_that_fit(tmp_path, monkeypatch, command):
    """3,000 rows × 20,000 one-hot inputs is 229 MiB at once; in chunks it stays within the limit."""
    monkeypatch.setenv("BACKPROP_MEMORY_LIMIT", "40M")
    pre, net = wide_model(20_000)
    model = tmp_path / "m.safetensors"
    bp.save(net, model, metadata={"preprocessing": pre.to_dict(), "loss": "crossentropy"})
    rows = [[f"c{(7 * i) % 20_000}", i % 2] for i in range(3000)]
    data = write_csv(tmp_path / "data.csv", ["city", "y"], rows)
    out = tmp_path / "p.csv"
    tracemalloc.start()
    try:
        args = ["predict", model, data, "-o", out] if command == "predict" else ["evaluate", model, data]
        result = run(*args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0, (result.output, result.exception)
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    if command == "predict":
        with open(out, newline="") as file:
            predicted = [int(row["prediction"]) for row in csv.DictReader(file)]
        expected = []
        for start in range(0, 3000, 300):
            X = np.zeros((300, 20_000), dtype=np.float32)
            X[np.arange(300), [(7 * i) % 20_000 for i in range(start, start + 300)]] = 1
            expected += np.argmax(net.predict(X), axis=1).tolist()
        assert predicted == expected


# --------------------------------------------------------------------------- one-hot targets


def test_many_classes_are_refused_naming_the_target_column(tmp_path, limited):
    frame = read_table(classes_csv(tmp_path / "data.csv"))
    with pytest.raises(
        bp.MemoryLimitError, match=r"the target column 'label' \(3,000 classes, one-hot targets for 4,800 training rows"
    ):
        prepare_training(frame, target="label")


def test_train_refuses_many_classes_with_one_error_line(tmp_path, limited):
    data = classes_csv(tmp_path / "data.csv")
    line = one_error_line(run("train", data, "--epochs", "1", "-o", tmp_path / "m.safetensors", "--quiet"))
    assert "the target column 'label' (3,000 classes" in line
    assert "would need 54.9 MiB of memory, more than the 20 MiB available" in line


def test_a_few_classes_fit_the_same_limit(tmp_path, limited):
    prepared = prepare_training(read_table(classes_csv(tmp_path / "data.csv", classes=30)), target="label")
    assert len(prepared.preprocessor.classes) == 30


@pytest.mark.parametrize(
    ("labels", "n_classes", "match"),
    [
        ([0, 10**9], None, r"one_hot of 2 labels into 1,000,000,001 classes \(float32\) would need 7.45 GiB"),
        (np.arange(5000), 5000, r"one_hot of 5,000 labels into 5,000 classes \(float32\) would need 95.4 MiB"),
        (np.arange(3000), None, r"one_hot of 3,000 labels into 3,000 classes \(float32\)"),
    ],
)
def test_one_hot_refuses_what_the_memory_cannot_hold(limited, labels, n_classes, match):
    with pytest.raises(bp.MemoryLimitError, match=match):
        one_hot(labels, n_classes)


def test_one_hot_within_the_limit_is_unchanged(limited):
    assert one_hot([2, 0], 3).tolist() == [[0, 0, 1], [1, 0, 0]]


# --------------------------------------------------------------------------- many columns


def wide_csv(path, n_columns, n_rows):
    header = [f"c{j}" for j in range(n_columns)] + ["y"]
    rows = [[(i * 31 + j) % 97 / 4 for j in range(n_columns)] + [i % 2] for i in range(n_rows)]
    return write_csv(path, header, rows), rows


def test_a_csv_of_20000_columns_reads_and_prepares_correctly(tmp_path):
    path, rows = wide_csv(tmp_path / "wide.csv", 20_000, 6)
    frame = read_table(path)
    assert frame.names[:2] == ["c0", "c1"] and frame.names[-1] == "y" and len(frame.names) == 20_001
    assert frame.column("c19999").tolist() == [row[19_999] for row in rows]
    prepared = prepare_training(frame, target="y", standardize=False, test_size=0)
    expected = np.array([row[:-1] for row in rows], dtype=np.float32)
    np.testing.assert_array_equal(prepared.X_train, expected)
    assert prepared.preprocessor.input_names[-1] == "c19999"


def test_a_wide_csv_is_streamed_in_chunks_of_bounded_memory(tmp_path):
    """65,536 rows of 20,000 cells would be gigabytes of Python strings: a chunk holds fewer rows."""
    path, rows = wide_csv(tmp_path / "wide.csv", 20_000, 120)
    chunks = list(iter_tables(path))
    assert len(chunks) > 1 and max(chunk.n_rows for chunk in chunks) < 120
    assert [chunk.offset for chunk in chunks] == list(np.cumsum([0] + [c.n_rows for c in chunks[:-1]]))
    column = np.concatenate([chunk.column("c5") for chunk in chunks])
    assert column.tolist() == [row[5] for row in rows]


class Name(str):
    """A column name that counts the comparisons made with it."""

    compared = 0

    def __eq__(self, other):
        Name.compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_column_lookups_do_not_scan_the_names():
    """Every feature looking its own name up in the list of names was quadratic in the columns (40,000
    columns took a minute). Counted as comparisons between names: at most a few per column."""
    n = 2000
    names = [Name(f"c{j}") for j in range(n)] + [Name("y")]
    columns = [np.array([f"{(i + j) % 5}" for i in range(6)], dtype=object) for j in range(n)]
    columns.append(np.array(["a", "b"] * 3, dtype=object))
    frame = Frame("wide.csv", names, columns)
    Name.compared = 0
    prepared = prepare_training(frame, target="y", test_size=0)
    prepared.preprocessor.transform(frame)
    assert Name.compared < 10 * n
    assert prepared.X_train.shape == (6, n)


def test_chunked_frames_keep_their_rows_offsets_and_lines(tmp_path):
    pre, _ = wide_model(20_000)
    rows = [[f"c{i}", i % 2] for i in range(25)]
    path = write_csv(tmp_path / "data.csv", ["city", "y"], rows)
    budget = 3 * pre.row_bytes  # three rows to a chunk
    parts = list(pre.chunked(iter_tables(path, chunk_rows=10), budget))
    assert [part.n_rows for part in parts] == [3, 3, 3, 1] * 2 + [3, 2]
    assert [part.offset for part in parts] == [0, 3, 6, 9, 10, 13, 16, 19, 20, 23]
    assert np.concatenate([part.column("city") for part in parts]).tolist() == [row[0] for row in rows]
    assert parts[-1].where(1) == "row 24 (line 26)"


def test_crossentropy_targets_of_too_many_classes_for_memory_are_refused(monkeypatch):
    # 4,000 samples of 2,000 classes: 32 MB of float32 one-hot targets, against a limit of 20 MB.
    monkeypatch.setenv("BACKPROP_MEMORY_LIMIT", "20M")
    net = bp.Network([bp.Dense(2000, "softmax")], inputs=2, seed=0)
    X = np.zeros((4000, 2), dtype=np.float32)
    y = np.arange(4000) % 2000
    with pytest.raises(
        bp.MemoryLimitError,
        match=r"one-hot crossentropy targets for 4,000 samples of 2,000 classes would need 30.5 MiB",
    ):
        net.fit(X, y, loss="crossentropy", epochs=1)
