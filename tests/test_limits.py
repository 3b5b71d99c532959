"""Limits and messages (issue 7): a million rows through `predict` in bounded memory; unicode and spaces in
paths and column names; empty, blank, header-only and one-row files; saves that fail (disk full, permission
denied) and leave the previous file as it was, saying so."""

import csv
import errno
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import backprop as bp
from backprop import io
from backprop.cli import main
from backprop.cli import predict as cli_predict
from backprop.errors import BackpropError, SaveError
from backprop.heads import load_model
from backprop.tabular import read_table

FAST = ["--epochs", "5", "--hidden", "8", "--lr", "0.01", "--quiet"]


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def failed(result, *fragments):
    """Exit status 1 and exactly one line ``error: ...`` on stderr, holding every fragment; no traceback."""
    assert result.exit_code == 1, (result.output, result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def listing(folder):
    """Every entry of ``folder``, hidden temporary files included."""
    return sorted(p.name for p in Path(folder).iterdir())


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def classification_csv(path, n=200, seed=0):
    rng = np.random.default_rng(seed)
    a, b, c = rng.normal(size=(3, n)).round(3)
    label = np.where(a + b > 0, "yes", "no")
    rows = [f"{a[i]},{b[i]},{c[i]},{label[i]}" for i in range(n)]
    path.write_text("a,b,c,label\n" + "\n".join(rows) + "\n")
    return path


# ------------------------------------------------------------------ a million rows through predict

ROWS = 1_000_000
#: Distinct feature rows; row i of the big file has the features of row i % BLOCK. A prime, so that
#: no chunk of rows (65536) lines up with it: a chunk predicted twice, skipped or out of order breaks
#: the pattern of the output.
BLOCK = 1009
#: How far the address space may grow once a small run has loaded everything predict uses.
#: Measured (Linux, CPython 3.11, numpy 2.4, pyarrow 26): the 1M-row file is 66 MiB; streaming
#: predict grows by about 80 MiB whatever the row count (pyarrow's reader and its thread pool, a
#: chunk, the allocator's slack), while reading the whole table, as a predict that loads its input
#: first would, needs well over 128 MiB: its ``note`` column holds a million distinct strings of 40 characters, the
#: numbers are read as float64 by Arrow and again by numpy. The child checks every run that the
#: whole table is refused, so the limit stays meaningful.
LIMIT_MIB = 128

CHILD = textwrap.dedent(
    """
    import resource, sys
    from backprop import cli
    from backprop.tabular import read_table

    model, warm, big, out, limit_mib = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])

    def vm(key):
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) << 10 for line in status if line.startswith(key + ":"))

    def predict(data):
        cli.main(["predict", model, data, "-o", out, "-q"], standalone_mode=False)

    # A first run over more rows than one chunk loads every module and buffer predict uses:
    # fixed costs, unrelated to the number of rows.
    predict(warm)
    base = vm("VmSize")
    resource.setrlimit(resource.RLIMIT_AS, (base + (limit_mib << 20),) * 2)
    predict(big)
    print("grew at most", (vm("VmPeak") - base) >> 20, "MiB")
    try:
        read_table(big)  # the control: the whole table must not fit under the same limit
    except MemoryError:
        print("whole table refused")
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc/self/status are Linux")
def test_predict_streams_a_million_rows_in_bounded_memory(tmp_path):
    pytest.importorskip("resource")
    model = tmp_path / "model.safetensors"
    ok(run("train", classification_csv(tmp_path / "train.csv"), *FAST, "-o", model))
    rng = np.random.default_rng(1)
    cells = [f"{a:.3f},{b:.3f},{c:.3f}" for a, b, c in rng.normal(size=(BLOCK, 3)).tolist()]
    # A column predict does not read: a million distinct notes of 40 characters.
    lines = [f"{cells[i % BLOCK]},note {i:07d} of the rows that predict streams\n" for i in range(ROWS)]
    big, warm, sample = tmp_path / "big.csv", tmp_path / "warm.csv", tmp_path / "sample.csv"
    big.write_text("a,b,c,note\n" + "".join(lines))
    warm.write_text("a,b,c,note\n" + "".join(lines[:70_000]))
    sample.write_text("a,b,c\n" + "\n".join(cells) + "\n")
    del lines
    out = tmp_path / "predictions.csv"
    # One BLAS thread: a thread pool reserves address space per core, a cost of the machine, not of the rows.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(model), str(warm), str(big), str(out), str(LIMIT_MIB)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "whole table refused" in result.stdout, result.stdout  # the limit is real

    predicted = out.read_text().splitlines()
    assert predicted[0] == "prediction,p_no,p_yes"
    predicted = predicted[1:]
    assert len(predicted) == ROWS
    assert predicted == (predicted[:BLOCK] * (ROWS // BLOCK + 1))[:ROWS]  # row i as row i % BLOCK, in order

    # The same rows predicted directly, the whole table at once.
    loaded = load_model(str(model))
    output = loaded.net.predict(loaded.pre.transform(read_table(str(sample))))
    labels = [loaded.pre.classes[int(k)] for k in loaded.head.classes(output)]
    first = [line.split(",") for line in predicted[:BLOCK]]
    assert [row[0] for row in first] == labels
    np.testing.assert_allclose(
        [[float(p) for p in row[1:]] for row in first], loaded.head.probabilities(output), atol=1e-6
    )


# ------------------------------------------------------------------ unicode and spaces in paths and names

# Spaces, accents, CJK, emoji, a name that looks like a number, a name that needs CSV quoting, and a
# repeated name (read as 'größe.1', with a note).
HEADER = ["taille (cm)", "größe", "数据", "2024", "größe", 'a "quoted", name', "farbe 🎨", "classe é"]
FEATURES = ["taille (cm)", "größe", "数据", "2024", "größe.1", 'a "quoted", name', "farbe 🎨"]
COLOURS = ["blue 🔵", "rouge", "绿色"]
CLASSES = ["oui ✓", "非"]


@pytest.fixture(scope="module")
def unicode_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unicode") / "données d'entraînement"
    folder.mkdir()
    rng = np.random.default_rng(0)
    n = 200
    numbers = rng.normal(size=(n, 6)).round(3)
    colour = rng.choice(COLOURS, size=n)
    label = np.where(numbers[:, 0] + numbers[:, 1] + (colour == "rouge") > 0.3, CLASSES[0], CLASSES[1])
    data = folder / "ä ö 数据 file.csv"
    with open(data, "w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        writer.writerows([*numbers[i].tolist(), colour[i], label[i]] for i in range(n))
    model = folder / "modèle 1 ✓.safetensors"
    result = ok(run("train", data, "--epochs", "20", "--hidden", "8", "--lr", "0.02", "-o", model, "--json"))
    return {"folder": folder, "data": data, "model": model, "numbers": numbers, "colour": colour, "result": result}


def test_unicode_names_survive_training_and_inspect(unicode_model):
    summary = json.loads(unicode_model["result"].stdout)
    assert summary["target"] == "classe é" and summary["classes"] == CLASSES
    assert "repeats the name 'größe'; renamed it 'größe.1'" in unicode_model["result"].stderr
    document = json.loads(ok(run("inspect", unicode_model["model"], "--json")).stdout)
    assert document["extra"]["input_names"] == FEATURES[:-1] + [f"farbe 🎨={c}" for c in COLOURS]
    text = ok(run("inspect", unicode_model["model"])).stdout
    assert "'classe é': 2 classes: oui ✓, 非" in text


def test_unicode_names_round_trip_through_predict(unicode_model):
    out = unicode_model["folder"] / "sortie ✓" / "préd ictions.csv"
    # --keep by name ('2024' is the column called so, not index 2024), and by index for the name with a comma.
    keep = "taille (cm),größe,数据,2024,größe.1,5,farbe 🎨"
    ok(run("predict", unicode_model["model"], unicode_model["data"], "--keep", keep, "-o", out))
    expected = [*FEATURES, "prediction", *(f"p_{c}" for c in CLASSES)]
    with open(out, encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == expected
    assert [row[-4] for row in rows[1:]] == unicode_model["colour"].tolist()
    assert {row[-3] for row in rows[1:]} <= set(CLASSES)
    assert read_table(str(out)).names == expected  # and back through backprop's own reader
    records = [
        json.loads(line)
        for line in ok(
            run("predict", unicode_model["model"], unicode_model["data"], "--json", "--keep", keep)
        ).stdout.splitlines()
    ]
    assert list(records[0]) == [*FEATURES, "prediction", "probabilities"]
    assert list(records[0]["probabilities"]) == CLASSES


def test_unicode_names_through_evaluate_and_explain(unicode_model):
    metrics = json.loads(ok(run("evaluate", unicode_model["model"], unicode_model["data"], "--json")).stdout)
    assert metrics["rows"] == 200 and metrics["accuracy"] > 0.7
    trace = json.loads(ok(run("explain", unicode_model["model"], unicode_model["data"], "--row", "3", "--json")).stdout)
    assert trace["data"] == str(unicode_model["data"]) and trace["target"] in CLASSES
    first = ok(run("explain", unicode_model["model"], unicode_model["data"], "--row", "3")).stdout.splitlines()[0]
    assert first.startswith(f"{unicode_model['data']}, row 3: predicted '") and "; target '" in first  # why
    trace_first = ok(run("explain", unicode_model["model"], unicode_model["data"], "--row", "3", "--trace")).stdout
    assert trace_first.startswith(f"{unicode_model['data']}, row 3: target '")  # the learner's step


def test_unicode_paths_and_names_in_a_real_process_under_the_c_locale(unicode_model):
    # argv, file names and standard output go through the OS's encoding here, not CliRunner's.
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    command = [sys.executable, "-m", "backprop", "predict", str(unicode_model["model"]), str(unicode_model["data"])]
    result = subprocess.run([*command, "--keep", "farbe 🎨"], capture_output=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    lines = result.stdout.decode("utf-8").splitlines()
    assert lines[0] == "farbe 🎨,prediction,p_oui ✓,p_非" and len(lines) == 201


def test_unicode_model_exports_to_onnx(unicode_model):
    pytest.importorskip("onnx")
    path = unicode_model["folder"] / "sortie ✓" / "modèle 1.onnx"
    document = json.loads(ok(run("export", unicode_model["model"], "--onnx", path, "--json")).stdout)
    assert document["inputs"] == FEATURES[:-1] + [f"farbe 🎨={c}" for c in COLOURS]
    assert path.stat().st_size > 0
    onnxruntime = pytest.importorskip("onnxruntime")
    # Raw numbers and the one-hot colour in, as `inspect` lists the columns; the labels out are predict's.
    colour = unicode_model["colour"][:10]
    X = np.hstack([unicode_model["numbers"][:10], (colour[:, None] == np.array(COLOURS)).astype(float)])
    session = onnxruntime.InferenceSession(str(path))
    label, _ = session.run(None, {session.get_inputs()[0].name: X.astype(np.float32)})
    rows = ok(run("predict", unicode_model["model"], unicode_model["data"])).stdout.splitlines()[1:11]
    assert list(label) == [row.split(",")[0] for row in rows]


# ------------------------------------------------------------------ empty, blank, header-only and one-row files


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A model from a CSV (columns a, b, label), one from an .npz (x0, x1, y), and the small files."""
    folder = tmp_path_factory.mktemp("tiny")
    rows = "".join(f"{i % 7},{(3 * i) % 5},{'yes' if i % 2 else 'no'}\n" for i in range(60))
    (folder / "train.csv").write_text("a,b,label\n" + rows)
    ok(run("train", folder / "train.csv", *FAST, "-o", folder / "csv.safetensors"))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    np.savez(folder / "train.npz", X=X, y=(X[:, 0] > 0).astype(float))
    ok(run("train", folder / "train.npz", *FAST, "-o", folder / "npz.safetensors"))
    files = {
        "empty.csv": "",
        "blank.csv": "\n   \n\t\n\n",
        "header.csv": "a,b,label\n",
        "header and blank lines.csv": "a,b,label\n\n\n",
        "header and spaces.csv": "a,b,label\n  \n\t\n",
        "trailing spaces.csv": "a,b,label\n1,2,yes\n3,4,no\n  \n",
        "no header, one row.csv": "1,2,yes\n",
        "one.csv": "a,b,label\n1,2,yes\n",
        "two.csv": "a,b,label\n1,2,yes\n3,4,no\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    np.save(folder / "zero.npy", np.zeros((0, 3)))
    np.savez(folder / "zero.npz", X=np.zeros((0, 2)), y=np.zeros(0))
    np.savez(folder / "one.npz", X=np.array([[0.5, -1.0]]), y=np.array([1.0]))
    (folder / "empty.npy").write_bytes(b"")
    (folder / "empty.npz").write_bytes(b"")
    return folder


# (file, command, what the one error line must hold besides the file's name)
REFUSED = [
    ("empty.csv", "train", "is empty: no header and no rows"),
    ("empty.csv", "predict", "is empty: no header and no rows"),
    ("empty.csv", "evaluate", "is empty: no header and no rows"),
    ("empty.csv", "explain", "is empty: no header and no rows"),
    ("blank.csv", "train", "is empty: no header and no rows"),
    ("blank.csv", "predict", "is empty: no header and no rows"),
    ("header and blank lines.csv", "train", "no data rows"),
    ("header.csv", "train", "but no data rows; add rows below it, or pass --no-header if that line is data"),
    ("header and spaces.csv", "train", "has a header ('a', 'b', 'label') but no data rows"),
    ("header and spaces.csv", "evaluate", "has no rows to evaluate"),
    # A line of only spaces is blank: two rows of two classes, and the test split is what fails.
    ("trailing spaces.csv", "train", "--test-size 0.2 asks for 1 of 2 rows"),
    # One line with numbers is a data row without a header, not a header without rows.
    ("no header, one row.csv", "train", "the target column 'x2' has a single class 'yes'"),
    ("header and blank lines.csv", "evaluate", "has no rows to evaluate"),
    ("header.csv", "explain", "has no rows"),
    # One row never trains, --test-size 0 or not: a classifier needs two classes, any model two rows.
    ("one.csv", "train", "the target column 'label' has a single class 'yes'; classification needs at least two"),
    ("zero.npy", "train", "has no rows; training needs at least 2"),
    ("zero.npz", "train", "has no rows; training needs at least 2"),
    ("zero.npz", "evaluate", "has no rows to evaluate"),
    ("zero.npz", "explain", "has no rows"),
    ("one.npz", "train", "training needs at least 2"),
    ("empty.npy", "train", "is not a readable .npy file"),
    ("empty.npy", "predict", "is not a readable .npy file"),
    ("empty.npz", "train", "is not a readable .npz file"),
    ("empty.npz", "evaluate", "is not a readable .npz file"),
]


@pytest.mark.parametrize(("name", "command", "problem"), REFUSED, ids=[f"{c}-{n}" for n, c, _ in REFUSED])
def test_empty_and_tiny_files_are_one_clear_error(tiny, name, command, problem):
    model = tiny / ("csv.safetensors" if name.endswith(".csv") else "npz.safetensors")
    data = tiny / name
    args = ["train", data, *FAST, "-o", tiny / "never.safetensors"] if command == "train" else [command, model, data]
    failed(run(*args), str(data), problem)
    assert not (tiny / "never.safetensors").exists()


def test_one_row_regression_names_the_rule(tiny):
    line = failed(run("train", tiny / "one.csv", "--target", "b", *FAST))
    assert line == f"error: {tiny / 'one.csv'}: 1 usable row; training needs at least 2"


def test_files_with_no_rows_or_one_row_predict(tiny):
    assert (
        ok(run("predict", tiny / "csv.safetensors", tiny / "header and blank lines.csv")).stdout
        == "prediction,p_no,p_yes\n"
    )
    assert ok(run("predict", tiny / "npz.safetensors", tiny / "zero.npz")).stdout.count("\n") == 1  # the header
    lines = ok(run("predict", tiny / "csv.safetensors", tiny / "one.csv")).stdout.splitlines()
    assert lines[0] == "prediction,p_no,p_yes" and len(lines) == 2 and lines[1].split(",")[0] in ("yes", "no")
    assert len(ok(run("predict", tiny / "npz.safetensors", tiny / "one.npz")).stdout.splitlines()) == 2
    assert json.loads(ok(run("evaluate", tiny / "csv.safetensors", tiny / "one.csv", "--json")).stdout)["rows"] == 1
    why = ok(run("explain", tiny / "csv.safetensors", tiny / "one.csv")).stdout
    assert "one.csv, row 0: predicted '" in why and "; target 'yes'" in why
    assert (
        "one.csv, row 0: target 'yes'"
        in ok(run("explain", tiny / "csv.safetensors", tiny / "one.csv", "--trace")).stdout
    )


def test_two_rows_train_only_without_test_and_validation_parts(tiny):
    # Each split keeps one row of each class for training: two rows of two classes leave none to hold out,
    # and the message names the file and the option that asked for it.
    assert failed(run("train", tiny / "two.csv", *FAST)) == (
        f"error: {tiny / 'two.csv'}: --test-size 0.2 asks for 1 of 2 rows, but training keeps at least one row of "
        "each of the 2 classes, so at most 0 can be test rows; use --test-size 0 (too few rows to hold any out)"
    )
    failed(
        run("train", tiny / "two.csv", *FAST, "--target", "b", "--task", "regression", "--test-size", "0.9"),
        f"{tiny / 'two.csv'}: --test-size 0.9 asks for 2 of 2 rows, but that leaves none for training; "
        "lower --test-size or use --test-size 0",
    )
    assert failed(run("train", tiny / "two.csv", *FAST, "--test-size", "0")) == (
        f"error: {tiny / 'two.csv'}: --validation 0.1 asks for 1 of 2 rows, but training keeps at least one row of "
        "each of the 2 classes, so at most 0 can be validation rows; use --validation 0 (too few rows to hold any out)"
    )
    out = tiny / "two.safetensors"
    ok(run("train", tiny / "two.csv", *FAST, "--test-size", "0", "--validation", "0", "-o", out))
    assert bp.load(out).n_inputs == 2


# ------------------------------------------------------------------ saves that fail


def small_net(seed=0):
    return bp.Network([bp.Dense(3, "tanh"), bp.Dense(2, "sigmoid")], inputs=4, seed=seed)


# Each builds what it saves first (so that only the save meets the failure), then returns a saver and a loader.


def model_saver(seed):
    net = small_net(seed)
    return (lambda path: bp.save(net, path)), bp.load


def checkpoint_saver(seed):
    net, state = small_net(seed), {"epoch": seed, "optimizer": {"m": np.arange(4.0) + seed}}
    return (lambda path: io.save_checkpoint(net, path, state)), io.load_checkpoint


def estimator_saver(seed):
    pytest.importorskip("sklearn")
    from backprop.sklearn import MLPClassifier, load

    X = np.random.default_rng(seed).normal(size=(20, 3))
    estimator = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=seed)
    with pytest.warns(Warning):  # ConvergenceWarning after two iterations: wanted, it is fast
        estimator.fit(X, (X[:, 0] > 0).astype(int))
    return (lambda path: bp.save(estimator, path)), load


SAVERS = {"model": model_saver, "checkpoint": checkpoint_saver, "estimator": estimator_saver}


class FailingFile:
    """The temporary file of atomic_write, failing as a full disk does: half-way through the write, or at close
    (where network file systems and quotas report it)."""

    real_fdopen = staticmethod(os.fdopen)

    def __init__(self, fd, mode, fail_in):
        self.file, self.fail_in = self.real_fdopen(fd, mode), fail_in

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def write(self, data):
        if self.fail_in == "write":
            self.file.write(data[: len(data) // 2])
            self.file.flush()
            disk_full()
        return self.file.write(data)

    def flush(self):
        self.file.flush()

    def fileno(self):
        return self.file.fileno()

    def close(self):
        self.file.close()
        if self.fail_in == "close":
            disk_full()


def fail_at(monkeypatch, point, error=disk_full):
    """Make one step of atomic_write fail: creating the temporary file, writing, closing, fsync, the rename."""
    if point in ("write", "close"):
        monkeypatch.setattr(os, "fdopen", lambda fd, mode: FailingFile(fd, mode, point))
    else:
        monkeypatch.setattr(os, {"create": "open", "fsync": "fsync", "rename": "replace"}[point], error)


@pytest.mark.parametrize("point", ["create", "write", "close", "fsync", "rename"])
@pytest.mark.parametrize("saver", list(SAVERS))
def test_a_full_disk_leaves_the_previous_file_intact(tmp_path, monkeypatch, saver, point):
    path = tmp_path / "model.safetensors"
    save, load = SAVERS[saver](1)
    save(path)
    before = path.read_bytes()
    save, _ = SAVERS[saver](2)
    fail_at(monkeypatch, point)
    with pytest.raises(
        SaveError,
        match=r"could not write .*model\.safetensors: No space left on device; the previous file is unchanged$",
    ) as caught:
        save(path)
    monkeypatch.undo()
    assert isinstance(caught.value, BackpropError) and caught.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert listing(tmp_path) == ["model.safetensors"]  # no temporary file left
    load(path)


@pytest.mark.parametrize("point", ["create", "write", "fsync"])
def test_a_failed_first_save_leaves_nothing(tmp_path, monkeypatch, point):
    fail_at(monkeypatch, point)
    with pytest.raises(SaveError, match=r"model\.safetensors: No space left on device; nothing was written$"):
        bp.save(small_net(), tmp_path / "model.safetensors")
    monkeypatch.undo()
    assert listing(tmp_path) == []


def test_permission_denied_is_a_save_error(tmp_path, monkeypatch):
    # Simulated, so that it runs as root too (which may write anywhere).
    path = tmp_path / "model.safetensors"
    bp.save(small_net(1), path)
    before = path.read_bytes()

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    fail_at(monkeypatch, "create", denied)
    with pytest.raises(
        SaveError, match=r"model\.safetensors: Permission denied; the previous file is unchanged$"
    ) as caught:
        io.save_checkpoint(small_net(2), path, {"epoch": 1})
    monkeypatch.undo()
    assert caught.value.errno == errno.EACCES
    assert path.read_bytes() == before and listing(tmp_path) == ["model.safetensors"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="POSIX permissions; root ignores them")
def test_a_read_only_folder_is_a_save_error(tmp_path):
    folder = tmp_path / "read only"
    folder.mkdir()
    bp.save(small_net(1), folder / "model.safetensors")
    before = (folder / "model.safetensors").read_bytes()
    folder.chmod(0o555)
    try:
        with pytest.raises(SaveError, match=r"Permission denied; the previous file is unchanged$"):
            bp.save(small_net(2), folder / "model.safetensors")
    finally:
        folder.chmod(0o755)
    assert (folder / "model.safetensors").read_bytes() == before
    assert listing(folder) == ["model.safetensors"]


def refuse_to_replace(*args):
    # Guard of the tests on devices: were a device ever treated as a file to replace, the rename fails here
    # (and the test with it) instead of putting a regular file in the device's place.
    raise OSError(errno.EPERM, "test: a device must be written in place, not replaced")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="/dev/full is Linux")
def test_a_real_full_device(monkeypatch):
    # /dev/full fails every write with ENOSPC: a full disk without filling one.
    monkeypatch.setattr(os, "replace", refuse_to_replace)
    with pytest.raises(SaveError, match=r"^could not write /dev/full: No space left on device$") as caught:
        bp.save(small_net(), "/dev/full")
    assert caught.value.errno == errno.ENOSPC
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_written_not_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", refuse_to_replace)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # a reader, so that opening it to write does not wait
    try:
        io.atomic_write(pipe, b"model bytes")
        assert os.read(reader, 100) == b"model bytes"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)


# ------------------------------------------------------------------ the same through the command line


@pytest.fixture
def previous_model(tmp_path):
    data = classification_csv(tmp_path / "train.csv")
    out = tmp_path / "model.safetensors"
    ok(run("train", data, *FAST, "--epochs", "1", "-o", out))
    return data, out, out.read_bytes()


@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOSPC, "No space left on device"), PermissionError(errno.EACCES, "Permission denied")],
    ids=["disk-full", "permission-denied"],
)
def test_train_that_cannot_save_keeps_the_previous_model(previous_model, monkeypatch, error):
    data, out, before = previous_model
    real_save = io.save

    def failing(*args):
        raise error

    def save_failing(*args, **kwargs):  # only the save fails, not the reading of the data
        with monkeypatch.context() as patch:
            patch.setattr(os, "fsync", failing)
            real_save(*args, **kwargs)

    monkeypatch.setattr(io, "save", save_failing)
    line = failed(run("train", data, *FAST, "-o", out))
    assert line == (
        f"error: could not write {out}: {error.strerror}; the previous file is unchanged; "
        "the newly trained model was not saved (train again with another --out)"
    )
    assert out.read_bytes() == before and listing(out.parent) == ["model.safetensors", "train.csv"]
    bp.load(out)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="/dev/full is Linux")
def test_train_and_predict_into_a_real_full_device(previous_model, monkeypatch):
    data, out, _ = previous_model
    monkeypatch.setattr(os, "replace", refuse_to_replace)
    failed(
        run("train", data, *FAST, "-o", "/dev/full"),
        "could not write /dev/full: No space left on device; the newly trained model was not saved",
    )
    assert (
        failed(run("predict", out, data, "-o", "/dev/full"))
        == "error: could not write /dev/full: No space left on device"
    )
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_predict_that_cannot_write_keeps_the_previous_output(previous_model, monkeypatch):
    data, model, _ = previous_model
    out = model.parent / "predictions.csv"
    out.write_text("previous\n")
    monkeypatch.setattr(os, "fsync", disk_full)
    failed(
        run("predict", model, data, "-o", out),
        f"could not write {out}: No space left on device; the previous file is unchanged",
    )
    monkeypatch.undo()
    assert out.read_text() == "previous\n"
    assert listing(model.parent) == ["model.safetensors", "predictions.csv", "train.csv"]


def test_predict_to_a_device_writes_in_place(previous_model, tmp_path):
    # -o /dev/stdout (here a named pipe standing in for it) streams the rows; nothing is put in its place.
    data, model, _ = previous_model
    pipe = tmp_path / "stdout"
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    try:
        ok(run("predict", model, data, "-o", pipe, "-q", "--no-probabilities"))
        text = os.read(reader, 1 << 16).decode()
    finally:
        os.close(reader)
    assert text.splitlines()[0] == "prediction" and len(text.splitlines()) == 201
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="/dev/full is Linux")
@pytest.mark.parametrize("options", [[], ["--json"]], ids=["csv", "jsonl"])
def test_standard_output_on_a_full_device_is_one_error_line(previous_model, options):
    data, model, _ = previous_model
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "backprop", "predict", str(model), str(data), *options],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    # One line: nothing more when Python flushes standard output at exit.
    assert result.stderr.strip().splitlines() == [
        "error: could not write the predictions to standard output: No space left on device"
    ]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="/dev/full is Linux")
@pytest.mark.parametrize(
    "command",
    [
        ["datasets"],
        ["inspect", "{model}"],
        ["inspect", "{model}", "--json"],
        ["evaluate", "{model}", "{data}", "--json"],
        ["explain", "{model}", "{data}"],
        ["gradcheck"],
    ],
    ids=lambda command: " ".join(part for part in command if not part.startswith("{")),
)
def test_every_commands_output_on_a_full_device_is_one_error_line(previous_model, command):
    # The group guards standard output for every command: one line naming the command, exit
    # status 1; no traceback (datasets had one), no bare OS message, no silent loss (--json).
    data, model, _ = previous_model
    arguments = [part.format(model=model, data=data) for part in command]
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "backprop", *arguments],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: could not write the output of backprop {command[0]} to standard output: No space left on device"
    ]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="/dev/full is Linux")
@pytest.mark.parametrize(("arguments", "whose"), [(["--help"], ""), (["train", "--help"], " train")])
def test_help_on_a_full_device_is_one_error_line(arguments, whose):
    # click writes the help while it parses the arguments, before any command runs.
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "backprop", *arguments], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: could not write the output of backprop{whose} to standard output: No space left on device"
    ]


@pytest.mark.parametrize("command", [["datasets"], ["inspect", "{model}", "--json"]], ids=["rich", "click"])
def test_a_closed_pipe_ends_any_command_quietly(previous_model, command):
    # `backprop datasets | head -1`: the reader goes away, the command stops without a word,
    # with status 1 whoever saw the broken pipe first (rich's table, click's echo, or us).
    _, model, _ = previous_model
    reader, writer = os.pipe()
    os.close(reader)
    arguments = [part.format(model=model) for part in command]
    result = subprocess.run(
        [sys.executable, "-m", "backprop", *arguments], stdout=writer, stderr=subprocess.PIPE, text=True, timeout=120
    )
    os.close(writer)
    assert result.returncode == 1 and result.stderr == ""


def test_standard_output_that_fails_when_flushed_says_what_was_lost(previous_model, monkeypatch):
    # A regular file on a full disk takes the rows into its buffer; the error comes when it is flushed.
    data, model, _ = previous_model
    real_iter_tables = cli_predict.iter_tables

    def reading(*args, **kwargs):  # by now the runner's standard output is in place: fill its disk, once
        stdout = sys.stdout.stream  # under the backprop group's guard of standard output

        def full_once():
            del stdout.flush  # the runner's own flush afterwards works
            disk_full()

        stdout.flush = full_once
        return real_iter_tables(*args, **kwargs)

    monkeypatch.setattr(cli_predict, "iter_tables", reading)
    assert failed(run("predict", model, data)) == (
        "error: could not write the predictions to standard output: No space left on device"
    )
