"""Training from the prepared-data cache: the same bits as in memory, reuse, keys, crashes, the cache
commands, and a Parquet dataset several times larger than the address space a subprocess may use."""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import backprop as bp
from backprop.cli import main
from backprop.errors import DataError, ParameterError
from backprop.pipeline import TabularModel, TrainOptions, run_training
from backprop.tabular import cache
from backprop.tabular.cache import clean, list_entries, prepared_data, use_cache

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

README = Path(__file__).resolve().parents[1] / "README.md"
SMALL = {"hidden": [8], "epochs": 3, "seed": 1}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("BACKPROP_CACHE_DIR", str(folder))
    return folder


def columns(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    label = np.where(x1 + x2 + (colour == "red") > 0.3, "yes", "no")
    price = 3 * x1 - x2 + (colour == "red") + rng.normal(scale=0.1, size=n)
    return {"x1": x1, "x2": x2, "colour": colour, "price": price, "label": label}


def write_csv(path, n=600, seed=0):
    data = columns(n, seed)
    lines = ["x1,x2,colour,price,label"]
    lines += [f"{a:.5f},{b:.5f},{c},{p:.4f},{y}" for a, b, c, p, y in zip(*data.values(), strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_parquet_dir(folder, n=600, seed=0, files=3):
    folder.mkdir()
    data = columns(n, seed)
    for k, part in enumerate(np.array_split(np.arange(n), files)):
        pq.write_table(pa.table({name: values[part] for name, values in data.items()}), folder / f"part-{k}.parquet")
    return folder


def aged(path):
    """``path`` (and a folder's files) last changed a minute ago: not racy (see cache.RACY_SECONDS)."""
    past = time.time() - 60
    for item in [path, *(path.iterdir() if path.is_dir() else [])]:
        os.utime(item, (past, past))
    return str(path)


@pytest.fixture(params=["csv", "parquet folder"])
def source(request, tmp_path):
    if request.param == "csv":
        return aged(write_csv(tmp_path / "data.csv"))
    return aged(write_parquet_dir(tmp_path / "data"))


def same_model(a, b):
    assert np.array_equal(a.network_.parameters, b.network_.parameters)
    assert a.preprocessor_.to_dict() == b.preprocessor_.to_dict()
    assert a.test_metrics_ == b.test_metrics_
    timeless = {k: v for k, v in a.history_.history.items() if k != "seconds"}
    assert timeless == {k: v for k, v in b.history_.history.items() if k != "seconds"}


# --------------------------------------------------------------------------- the same bits


@pytest.mark.parametrize(("target", "ignore"), [("label", ["price"]), ("price", ["label"])])
def test_python_api_trains_the_same_bits_from_the_cache(source, target, ignore):
    in_memory = TabularModel(**SMALL).fit(source, target=target, ignore=ignore, out_of_core=False)
    cached = TabularModel(**SMALL).fit(source, target=target, ignore=ignore, out_of_core=True)
    same_model(in_memory, cached)
    assert len(list_entries()) == 1


def test_cli_writes_the_same_model_from_the_cache(source, tmp_path):
    files = {}
    for flag in ("--in-memory", "--out-of-core"):
        out = tmp_path / f"model{flag}.safetensors"
        result = CliRunner().invoke(
            main, ["train", source, "--target", "label", "--epochs", "3", "--hidden", "8", flag, "-o", str(out)]
        )
        assert result.exit_code == 0, result.output
        files[flag] = bp.load(out)
    assert "prepared in" in result.output and "(written)" in result.output
    a, b = (bp.inspect(tmp_path / f"model{flag}.safetensors")["extra"] for flag in ("--in-memory", "--out-of-core"))
    assert np.array_equal(files["--in-memory"].parameters, files["--out-of-core"].parameters)
    assert a["preprocessing"] == b["preprocessing"]
    assert a["metrics"] == b["metrics"]


def test_run_training_reports_each_pass(source):
    seen = []
    options = TrainOptions(data=source, target="label", hidden=[4], epochs=1, out_of_core=True)
    result = run_training(options, progress=lambda stage, done, total: seen.append((stage, done, total)))
    stages = list(dict.fromkeys(stage for stage, _, _ in seen))
    assert stages[0] == "statistics" and stages[-1] == "writing"
    assert seen[-1] == ("writing", 600, 600)
    assert result.frame is None and result.prepared.n_rows == 600
    assert len(result.prepared.rows_train) + len(result.prepared.rows_test) == 600


# --------------------------------------------------------------------------- reuse and keys


def test_second_run_reuses_the_entry_without_reading_the_source(source, monkeypatch):
    reads = []
    real = cache.iter_tables
    monkeypatch.setattr(cache, "iter_tables", lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    first = prepared_data(source, target="label")
    assert not first.reused and len(reads) >= 2  # statistics, then writing
    reads.clear()
    second = prepared_data(source, target="label")
    assert second.reused and reads == []
    assert second.folder == first.folder
    assert np.array_equal(np.asarray(first.X_train[:]), np.asarray(second.X_train[:]))
    assert np.array_equal(first.y_test, second.y_test)


def test_the_key_changes_with_the_file_and_every_option(tmp_path):
    path = write_csv(tmp_path / "d.csv")
    base = prepared_data(str(path), target="label").folder
    assert prepared_data(str(path), target="label").folder == base
    for changed in ({"seed": 2}, {"test_size": 0.3}, {"standardize": False}, {"ignore": ["price"]}, {"header": True}):
        assert prepared_data(str(path), **{"target": "label", **changed}).folder != base, changed
    write_csv(path, seed=1)  # same name, new content (size or mtime differ)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    rebuilt = prepared_data(str(path), target="label")
    assert rebuilt.folder != base and not rebuilt.reused


def test_a_damaged_entry_is_rebuilt_with_a_note(source):
    first = prepared_data(source, target="label")
    expected = np.asarray(first.X_train[:]).copy()
    first.X_train.close()
    with open(os.path.join(first.folder, "X_train.npy"), "r+b") as file:
        file.truncate(200)
    again = prepared_data(source, target="label")
    assert not again.reused
    assert any("is damaged" in note and "rebuilding" in note for note in again.notes)
    assert np.array_equal(np.asarray(again.X_train[:]), expected)


def test_killed_writer_leaves_no_entry_that_a_later_run_uses(tmp_path, cache_dir):
    path = write_csv(tmp_path / "d.csv", n=3000)
    script = textwrap.dedent(
        f"""
        import os, signal
        from backprop.tabular.cache import prepared_data

        def progress(stage, done, total):
            if stage == "writing" and done > 0:
                os.kill(os.getpid(), signal.SIGKILL)  # mid-write: no cleanup runs

        prepared_data({str(path)!r}, target="label", progress=progress)
        """
    )
    env = {**os.environ, "BACKPROP_CACHE_DIR": str(cache_dir)}
    killed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    leftovers = [name for name in os.listdir(cache_dir) if name != cache.TAG]
    assert len(leftovers) == 1 and leftovers[0].startswith(".tmp-backprop-")
    assert list_entries() == []
    data = prepared_data(str(path), target="label")
    assert not data.reused
    removed = clean()  # the writer's process is gone: its temporary is stale
    assert [os.path.basename(p) for p in removed.removed] == leftovers
    assert [e.folder for e in list_entries()] == [data.folder]


def test_two_runs_building_one_entry_at_once_leave_one_whole_entry(source):
    both_writing = threading.Barrier(2, timeout=60)

    def progress(stage, done, total):
        if stage == "writing" and done == 0:
            both_writing.wait()

    results = [None, None]

    def build(i):
        results[i] = prepared_data(source, target="label", progress=progress)

    threads = [threading.Thread(target=build, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[0].folder == results[1].folder
    assert np.array_equal(results[0].y_train, results[1].y_train)
    assert [e.folder for e in list_entries()] == [results[0].folder]
    assert not any(name.startswith(".tmp-") for name in os.listdir(os.path.dirname(results[0].folder)))


def test_too_little_disk_space_is_refused_naming_the_cache_and_the_sizes(source, cache_dir, monkeypatch):
    monkeypatch.setattr(cache.shutil, "disk_usage", lambda _folder: type("Usage", (), {"free": 1000})())
    with pytest.raises(
        DataError, match=rf"cache {re.escape(str(cache_dir))} needs .* but its disk has 1000 bytes free"
    ):
        prepared_data(source, target="label")
    assert list_entries() == []


def test_the_automatic_choice_follows_the_size_and_the_source(source, monkeypatch):
    assert not use_cache(source, None)  # a few KiB
    monkeypatch.setenv("BACKPROP_MEMORY_LIMIT", "16K")
    assert use_cache(source, None)
    assert not use_cache(source, False)
    assert not use_cache("iris", None)
    with pytest.raises(ParameterError, match="iris: out_of_core needs a file"):
        use_cache("iris", True)


# --------------------------------------------------------------------------- the cache commands


def test_cache_list_and_clean(tmp_path, cache_dir):
    odd = write_csv(tmp_path / "odd\x1b[2Jname.csv")
    data = prepared_data(str(odd), target="label")
    other = prepared_data(str(odd), target="label", seed=5)
    listed = CliRunner().invoke(main, ["cache", "list"])
    assert listed.exit_code == 0, listed.output
    assert "2 entries" in listed.output and "\x1b" not in listed.output
    assert "\\x1b[2Jname.csv" in "".join(listed.output.split())  # the table may fold a long path
    document = json.loads(CliRunner().invoke(main, ["cache", "list", "--json"]).output)
    assert {e["folder"] for e in document["entries"]} == {data.folder, other.folder}
    week_ago = time.time() - 8 * 86400
    os.utime(os.path.join(data.folder, "entry.json"), (week_ago, week_ago))
    cleaned = CliRunner().invoke(main, ["cache", "clean", "--older-than", "7d", "--json"])
    assert json.loads(cleaned.output)["removed"] == [data.folder]
    assert [e.folder for e in list_entries()] == [other.folder]
    assert CliRunner().invoke(main, ["cache", "clean", "--older-than", "7 days"]).exit_code == 2
    cleaned = CliRunner().invoke(main, ["cache", "clean", "--all"])
    assert cleaned.exit_code == 0 and "removed 1 folders" in cleaned.output
    assert list_entries() == []


# --------------------------------------------------------------------------- the README


def test_readme_trains_and_predicts_a_parquet_folder_from_the_command_line(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Your own data") :]
    block = re.search(r"    backprop train sales/ .*?\n\n", section, flags=re.DOTALL)
    assert block is not None, "the README's Parquet folder example"
    write_parquet_dir(tmp_path / "sales", n=400, files=4)
    (tmp_path / "new").mkdir()
    pq.write_table(pa.table({k: v[:50] for k, v in columns(50, seed=3).items()}), tmp_path / "new" / "part-0.parquet")
    monkeypatch.chdir(tmp_path)
    for line in block.group().strip().splitlines():
        command = shlex.split(line.split("#")[0])
        assert command[0] == "backprop"
        result = CliRunner().invoke(main, command[1:])
        assert result.exit_code == 0, (line, result.output)
    assert len((tmp_path / "predictions.csv").read_text().splitlines()) == 51
    assert len(list_entries()) == 1


# --------------------------------------------------------------------------- larger than the address space

CHILD = """
import os, resource, sys
import numpy as np
from backprop.pipeline import TabularModel

def fit(source):
    return TabularModel(hidden=[8], epochs=1, batch_size=256, seed=0).fit(source, target="y", out_of_core=True)

fit(sys.argv[1])  # start-up: imports, compiled kernels, reader threads
with open("/proc/self/status") as status:
    size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + int(sys.argv[3]), resource.RLIM_INFINITY))
model = fit(sys.argv[2])
np.save(sys.argv[4], model.network_.parameters)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")
def test_a_parquet_dataset_larger_than_the_address_space_trains_to_the_same_bits(tmp_path):
    """A Parquet folder 3 times the address space left to a process trains there to the bits of a run without a limit."""
    # Past start-up, Python, Arrow and the C library's heap take some 60-70 MB of address space that
    # does not grow with the data (measured: +70 MB early in the first pass, over 145 MB as over 290 MB).
    # The targets, the split and the shuffles are held in memory: some 40 bytes a row at the peak.
    margin = 128 * 2**20
    rows, width, files = 110_000, 100, 9  # 9 files × 110,000 rows × 101 float32 columns ≈ 400 MB: 3 × the margin
    rng = np.random.default_rng(0)
    weights = rng.normal(size=width).astype(np.float32)
    (tmp_path / "big").mkdir()
    for k in range(files):
        X = rng.normal(size=(rows, width)).astype(np.float32)
        table = pa.table({**{f"x{j}": X[:, j] for j in range(width)}, "y": X @ weights})
        pq.write_table(table, tmp_path / "big" / f"part-{k}.parquet", row_group_size=8192, compression="none")
        if k == 0:  # two files: the warm-up goes through the same dataset reader
            (tmp_path / "tiny").mkdir()
            pq.write_table(table.slice(0, 300), tmp_path / "tiny" / "part-0.parquet")
            pq.write_table(table.slice(300, 300), tmp_path / "tiny" / "part-1.parquet")
    size = sum(p.stat().st_size for p in (tmp_path / "big").iterdir())
    assert size > 2.5 * margin
    aged(tmp_path / "big")
    env = {
        **os.environ,
        "BACKPROP_CACHE_DIR": str(tmp_path / "cache"),
        "OPENBLAS_NUM_THREADS": "1",  # no thread stacks to map under the limit
        "ARROW_DEFAULT_MEMORY_POOL": "system",
        "MALLOC_ARENA_MAX": "1",
        "MALLOC_MMAP_THRESHOLD_": "131072",  # large arrays mapped and unmapped, not left in a fragmented heap
    }
    out = tmp_path / "params.npy"
    argv = [str(tmp_path / "tiny"), str(tmp_path / "big"), str(margin), str(out)]
    child = subprocess.run([sys.executable, "-c", CHILD, *argv], env=env, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    # Without the limit, from the entry the child left (the small tests above tie the cache to memory).
    unlimited = TabularModel(hidden=[8], epochs=1, batch_size=256, seed=0).fit(
        str(tmp_path / "big"), target="y", out_of_core=True, cache_dir=tmp_path / "cache"
    )
    assert np.array_equal(np.load(out), unlimited.network_.parameters)


def test_clean_removes_only_what_the_cache_made(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    # A folder that is not a cache: nothing is prepared into it, listed or removed from it.
    with pytest.raises(bp.BackpropError, match=r"not empty and has no CACHEDIR.TAG"):
        prepared_data(aged(write_csv(tmp_path / "d.csv")), target="label", cache_dir=folder)
    with pytest.raises(bp.BackpropError, match=r"has no CACHEDIR.TAG: it is not a backprop cache"):
        clean(all=True, cache_dir=folder)
    assert list_entries(folder) == [] and (folder / "notes.txt").exists()
    # In the cache, folders of other names, or named like an entry without an entry's files, stay.
    data = prepared_data(aged(write_csv(tmp_path / "d.csv")), target="label")
    root = os.path.dirname(data.folder)
    for name in (".tmp-build", ".tmp-backprop-elsewhere-1-0123abcd", "a" * 64):
        os.makedirs(os.path.join(root, name, "keep"))
    removed = clean()
    assert removed.removed == []
    assert sorted(os.listdir(root)) == sorted(
        [cache.TAG, ".tmp-build", ".tmp-backprop-elsewhere-1-0123abcd", "a" * 64, os.path.basename(data.folder)]
    )


def test_a_file_changed_just_before_it_was_prepared_is_prepared_again(tmp_path):
    path = write_csv(tmp_path / "d.csv")  # changed now: its mtime may not show a change within the same tick
    first = prepared_data(str(path), target="label")
    second = prepared_data(str(path), target="label")
    assert not second.reused and any("changed just before" in note for note in second.notes)
    aged(path)  # a minute old, then prepared: the entry is reused from then on
    third = prepared_data(str(path), target="label")
    assert prepared_data(str(path), target="label").reused and third.folder != first.folder


def test_one_hot_targets_that_would_not_fit_are_refused_before_the_cache_is_written(tmp_path, monkeypatch):
    path = tmp_path / "many.csv"
    path.write_text("x,kind\n" + "".join(f"{i % 13},k{i % 40}\n" for i in range(400)))
    monkeypatch.setenv("BACKPROP_MEMORY_LIMIT", "20K")  # 320 training rows × 40 classes × 4 bytes = 51,200
    with pytest.raises(bp.BackpropError, match=r"'kind' \(40 classes, one-hot targets for 320 training rows\)"):
        prepared_data(aged(path), target="kind")
    assert list_entries() == []


def test_a_run_that_finds_another_tagging_the_cache_goes_on(tmp_path, monkeypatch):
    root = tmp_path / "fresh"
    root.mkdir()
    (root / cache.TAG).write_text("Signature: 8a477f597d28d172789f06886806bc55\n")
    # The tag was not there when this run looked, and is by the time it lists the folder.
    monkeypatch.setattr(cache.os.path, "isfile", lambda path: False)
    data = prepared_data(aged(write_csv(tmp_path / "d.csv")), target="label", cache_dir=root)
    monkeypatch.undo()
    assert os.path.dirname(data.folder) == str(root) and (root / cache.TAG).read_text().startswith("Signature")
