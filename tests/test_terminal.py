"""Text from files on the terminal, and sizes of what the CLI shows.

Column names, class labels and metadata strings come from files anyone may
have written: every human-readable output shows their control characters as
escapes and their brackets as written, never as rich markup. Many classes are
summarized on the terminal and never ask for a k × k matrix.
"""

import json
import os
import pty
import select
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import backprop as bp
from backprop import _terminal, metrics
from backprop.cli import main
from backprop.cli._common import one_line
from backprop.errors import DataError
from backprop.heads import evaluate_model, load_model

#: Byte sequences that drive a terminal; none may reach it from a file.
RAW = ("\x1b[2J", "\x1b]0;", "\x1b[5m", "\x1b[31m", "\x9b", "\x07", "\u202e", "\x08", "\r")
HOSTILE_COLUMN = "[bold red]colour\x1b[5m"
HOSTILE_LABELS = ("no\x9b2J", "yes\x1b]0;pwned\x07")


def run(*args, input=None):
    # color=True: click would strip ESC[...m-like sequences from a non-terminal, hiding them.
    return CliRunner().invoke(main, [str(a) for a in args], input=input, color=True)


def ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def assert_inert(text):
    for raw in RAW:
        assert raw not in text, (raw, text)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A model trained by the CLI on a CSV whose header, categories and labels hold control characters."""
    folder = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(0)
    x = rng.normal(size=80)
    colour = rng.choice(["red\x1b[2J", "[bold red]blue", "gr\u202eeen"], size=80)
    label = np.where(x > 0, HOSTILE_LABELS[1], HOSTILE_LABELS[0])
    rows = [f'"x\x1b[2J\r\x08","{HOSTILE_COLUMN}",label\x1b[31m']
    rows += [f"{x[i]:.3f},{colour[i]},{label[i]}" for i in range(80)]
    data = folder / "evil.csv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    model = folder / "model.safetensors"
    trained = ok(run("train", data, "--epochs", "2", "--hidden", "4", "--out", model))
    # File names are file text too: a folder of downloaded files may hold any of them.
    new = folder / "new\x1b]0;t\x07.csv"
    new.write_text(f'"x\x1b[2J\r\x08","{HOSTILE_COLUMN}"\n0.5,purple\x1b]0;t\x07\n', encoding="utf-8")
    return {"data": str(data), "model": str(model), "new": str(new), "train": trained}


# ------------------------------------------------------------------ the helper


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("\x9b31m", "\\x9b31m"),
        ("a\rb\x08c\x7f", "a\\rb\\x08c\\x7f"),
        ("two\nlines\ttab", "two\\nlines\\ttab"),
        ("\u202eevil\u2066\u2028", "\\u202eevil\\u2066\\u2028"),
        ("\x00\x85", "\\x00\\x85"),
        ("[bold red]plain ünïcode → ok", "[bold red]plain ünïcode → ok"),
    ],
)
def test_shown_escapes_every_control_character_and_keeps_the_rest(raw, escaped):
    assert _terminal.shown(raw) == escaped
    assert _terminal.text(raw).plain == escaped


def test_shown_lines_keeps_newlines_only():
    assert _terminal.shown_lines("a\nb\x1b[2J\r") == "a\nb\\x1b[2J\\r"


def test_an_error_line_escapes_the_file_text_it_quotes():
    assert one_line(DataError("column 'a\x1b]0;x\x07' is \x9bbad")) == "column 'a\\x1b]0;x\\x07' is \\x9bbad"
    error = FileNotFoundError(2, "No such file or directory", "evil\x1b[2J.csv")
    assert one_line(error) == "evil\\x1b[2J.csv: No such file or directory"


# ------------------------------------------------------------------ every command's human output


def test_train_summary_and_notes_show_file_text_escaped(hostile):
    out = hostile["train"].output
    assert_inert(out)
    assert "label\\x1b[31m" in out and "no\\x9b2J" in out and "yes\\x1b]0;pwned\\x07" in out
    assert "[bold red]colour\\x1b[5m" in out  # the one-hot note: brackets as written


def test_inspect_shows_file_text_escaped_and_brackets_as_written(hostile):
    out = ok(run("inspect", hostile["model"])).output
    assert_inert(out)
    for shown in ("x\\x1b[2J\\r\\x08", "[bold red]colour\\x1b[5m", "[bold red]blue", "gr\\u202eeen", "red\\x1b[2J"):
        assert shown in out, shown
    assert "no\\x9b2J, yes\\x1b]0;pwned\\x07" in out


def test_evaluate_shows_file_text_escaped(hostile):
    out = ok(run("evaluate", hostile["model"], hostile["data"])).output
    assert_inert(out)
    assert out.count("yes\\x1b]0;pwned\\x07") >= 3  # per-class row, matrix column and row


def test_json_outputs_escape_control_characters_as_json_does(hostile):
    for args in (("inspect", hostile["model"]), ("evaluate", hostile["model"], hostile["data"])):
        out = ok(run(*args, "--json")).stdout
        assert_inert(out)
        assert "\\u001b" in out
        json.loads(out)  # and it reads back whole
    metrics = json.loads(ok(run("evaluate", hostile["model"], hostile["data"], "--json")).stdout)
    assert [c["class"] for c in metrics["per_class"]] == list(HOSTILE_LABELS)


def test_predict_notes_and_explain_show_file_text_escaped(hostile, tmp_path):
    result = ok(run("predict", hostile["model"], hostile["new"], "-o", tmp_path / "p.csv"))
    assert_inert(result.stderr)
    assert "[bold red]colour\\x1b[5m" in result.stderr
    assert "new\\x1b]0;t\\x07.csv" in result.stderr
    rows = tmp_path / "rows\x1b[2J.csv"
    rows.write_bytes(Path(hostile["data"]).read_bytes())
    out = ok(run("explain", hostile["model"], rows, "--row", "0")).output  # why: labels and columns escaped
    assert_inert(out)
    assert "rows\\x1b[2J.csv, row 0: predicted '" in out
    out = ok(run("explain", hostile["model"], rows, "--row", "0", "--trace")).output
    assert_inert(out)
    assert "rows\\x1b[2J.csv, row 0: target 'no\\x9b2J'" in out or "rows\\x1b[2J.csv, row 0: target 'yes" in out


def test_errors_quote_file_text_escaped(hostile, tmp_path):
    no_target = tmp_path / "no-target\x1b[2J.csv"
    no_target.write_text(f'"{HOSTILE_COLUMN}",other\x1b]0;t\x07\nred,1\n', encoding="utf-8")
    result = run("evaluate", hostile["model"], no_target)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert_inert(result.stderr)
    assert "no-target\\x1b[2J.csv" in result.stderr


def _under_a_terminal(*args):
    """Run ``backprop ARGS`` with standard output and error on a pseudo-terminal, as a user sees it."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "backprop", *args], stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            process.kill()
            raise AssertionError("no output within 60 s")
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower closed: Linux reports EIO
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0
    return b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_on_a_real_terminal_inspect_and_evaluate_send_no_file_borne_control_sequence(hostile):
    for args in (("inspect", hostile["model"]), ("evaluate", hostile["model"], hostile["data"])):
        out = _under_a_terminal(*args)
        assert "yes\\x1b]0;pwned\\x07" in out and "no\\x9b2J" in out
        assert_inert(out.replace("\r\n", "\n"))  # the terminal's own line ends are not the file's


# ------------------------------------------------------------------ many classes


def many_class_model(folder, k, name="many"):
    """A model of one numeric input and ``k`` classes, with the metadata `backprop train` writes."""
    net = bp.Network([bp.Dense(k, "softmax")], inputs=1, seed=0)
    classes = [f"c{i}" for i in range(k)]
    metadata = {
        "preprocessing": {
            "format": "backprop-preprocessing",
            "version": 1,
            "standardize": False,
            "impute": None,
            "features": [{"name": "x", "kind": "numeric", "mean": 0.0, "scale": 1.0, "fill": None}],
            "target": {"name": "label", "kind": "classes", "classes": classes},
        },
        "task": "classification",
        "loss": "crossentropy",
    }
    path = folder / f"{name}.safetensors"
    bp.save(net, str(path), metadata=metadata)
    return str(path)


def test_evaluate_one_row_of_a_100000_class_model(tmp_path):
    model = many_class_model(tmp_path, 100_000)
    data = tmp_path / "one.csv"
    data.write_text("x,label\n0.5,c7\n")
    metrics = json.loads(ok(run("evaluate", model, data, "--json")).stdout)
    assert metrics["rows"] == 1 and len(metrics["per_class"]) == 100_000
    confusion = metrics["confusion_matrix"]
    assert "c7" in confusion["labels"] and len(confusion["labels"]) <= 2  # only the classes seen
    matrix = np.array(confusion["matrix"])
    assert matrix.shape == (len(confusion["labels"]),) * 2 and matrix.sum() == 1
    out = ok(run("evaluate", model, data)).stdout
    assert "99,999 of 100,000 classes not shown; --json lists them all" in out
    assert len(out.splitlines()) < 40


def test_evaluating_many_classes_needs_no_k_by_k_matrix(tmp_path):
    k = 3000  # a dense k × k matrix: 72 MB
    model = many_class_model(tmp_path, k)
    data = tmp_path / "few.csv"
    data.write_text("x,label\n" + "".join(f"{i / 10:.1f},c{i}\n" for i in range(20)))
    loaded = load_model(model)
    tracemalloc.start()
    try:
        metrics, _ = evaluate_model(loaded, str(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20e6, peak
    assert metrics["rows"] == 20 and sum(c["support"] for c in metrics["per_class"]) == 20


def test_a_confusion_matrix_of_many_classes_seen_is_its_nonzero_cells(monkeypatch):
    monkeypatch.setattr(metrics, "DENSE_CLASSES", 4)
    confusion = metrics.Confusion(10)
    confusion.add(np.array([0, 1, 2, 3, 4, 4]), np.array([0, 1, 2, 9, 4, 4]))
    summary = metrics.classification_summary(confusion, 0.5, [f"c{i}" for i in range(10)])
    assert summary["confusion_matrix"] == {
        "labels": ["c0", "c1", "c2", "c3", "c4", "c9"],
        "cells": [[0, 0, 1], [1, 1, 1], [2, 2, 1], [3, 5, 1], [4, 4, 2]],
    }
    assert summary["accuracy"] == pytest.approx(5 / 6)


def test_confusion_counts_add_up_over_chunks_as_the_dense_matrix_does():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 7, 500), rng.integers(0, 7, 500)
    confusion = metrics.Confusion(7)
    for part in np.array_split(np.arange(500), 6):
        confusion.add(y_true[part], y_pred[part])
    expected = np.zeros((7, 7), dtype=np.int64)
    np.add.at(expected, (y_true, y_pred), 1)
    np.testing.assert_array_equal(confusion.dense(np.arange(7)), expected)
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred, 7), expected)
    rows = metrics.per_class(expected, list("abcdefg"))
    assert [r["support"] for r in rows] == expected.sum(axis=1).tolist()


def test_large_tables_are_summarized_by_the_lowest_recall(tmp_path):
    k = 30
    model = many_class_model(tmp_path, k)
    data = tmp_path / "all.csv"
    data.write_text("x,label\n" + "".join(f"{(i % 7) / 3:.2f},c{i % k}\n" for i in range(90)))
    metrics = json.loads(ok(run("evaluate", model, data, "--json")).stdout)
    out = ok(run("evaluate", model, data)).stdout
    assert "per class: the 20 with the lowest recall" in out
    assert "10 of 30 classes not shown; --json lists them all" in out
    assert "most frequent confusions, of 30 classes" in out and "is in --json" in out
    worst = sorted(metrics["per_class"], key=lambda c: (c["recall"], -c["support"]))
    shown_rows = [line for line in out.splitlines() if line.startswith("│ c")]
    assert len(shown_rows) <= 40  # 20 per-class rows, at most 20 confusions
    best = worst[-1]
    if best["recall"] > worst[19]["recall"]:
        assert f"│ {best['class']} " not in out.split("most frequent")[0]
    assert len(metrics["confusion_matrix"]["matrix"]) == k  # --json keeps everything


def test_training_with_many_classes_prints_a_short_summary(tmp_path):
    k = 40
    rng = np.random.default_rng(0)
    data = tmp_path / "classes.csv"
    data.write_text("x,label\n" + "".join(f"{rng.normal():.3f},k{i % k}\n" for i in range(8 * k)))
    out = ok(run("train", data, "--epochs", "1", "--hidden", "none", "--out", tmp_path / "m.safetensors")).stdout
    assert "with the lowest recall" in out and "--json lists them all" in out
    assert len(out.splitlines()) < 70


# ------------------------------------------------------------------ sizes of the network


@pytest.mark.parametrize(
    ("hidden", "extra"),
    [("100000,100000", []), ("20000,20000,20000", ["--dropout", "0.5"]), ("60000,60000", ["--optimizer", "sgd"])],
)
def test_a_network_too_large_for_memory_is_one_error_naming_hidden(tmp_path, monkeypatch, hidden, extra):
    monkeypatch.setenv("BACKPROP_MEMORY_LIMIT", "1G")
    data = tmp_path / "small.csv"
    data.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{'yes' if i % 2 else 'no'}\n" for i in range(40)))
    result = CliRunner().invoke(
        main, ["train", str(data), "--hidden", hidden, *extra, "--out", str(tmp_path / "m.safetensors")]
    )
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --hidden {hidden} "), result.stderr
    assert "GiB of memory, more than the 1 GiB available" in lines[0]
    assert not (tmp_path / "m.safetensors").exists()
