"""Messages that name the mistake: MODEL and DATA swapped, a table given as a model, a model given as data,
and `predict` that writes nothing when DATA does not fit the model (issue 19).

Each command test here failed on the main of 2026-12-05: `backprop predict data.csv model.safetensors` said
"not a safetensors file: its first 8 bytes declare a header of 7020034514439909752 bytes",
`backprop predict model.safetensors model.safetensors` printed a CSV header and exited 0, and `predict` to
standard output printed the CSV header before failing on the first chunk.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

import backprop as bp
from backprop import io
from backprop.cli import main
from backprop.errors import ModelFileError
from backprop.safetensors_format import file_kind, kind_of_bytes


def run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def error_line(result: Result) -> str:
    """The one ``error: ...`` line of a data or model error (exit status 1), standard output left empty."""
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def small_network() -> bp.Network:
    return bp.Network([bp.Dense(2, "sigmoid"), bp.Dense(1, "sigmoid")], inputs=2, seed=0)


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """data.csv (x1, x2, label) and model.safetensors (a bare 2-2-1 network) in the working directory."""
    monkeypatch.chdir(tmp_path)
    rows = ["1.0,2.0,yes", "-1.0,0.5,no", "0.5,-2.0,no", "2.0,1.0,yes"]
    Path("data.csv").write_text("x1,x2,label\n" + "\n".join(rows) + "\n")
    bp.save(small_network(), "model.safetensors")
    return tmp_path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model written by `backprop train` on 24 rows of x1, x2 → label."""
    folder = tmp_path_factory.mktemp("trained")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 2))
    rows = [f"{a:.3f},{b:.3f},{'yes' if a + b > 0 else 'no'}" for a, b in X]
    (folder / "data.csv").write_text("x1,x2,label\n" + "\n".join(rows) + "\n")
    model = folder / "model.safetensors"
    result = run("train", folder / "data.csv", "--epochs", "1", "--hidden", "2", "-o", model, "-q")
    assert result.exit_code == 0, result.output
    return model


# ------------------------------------------------------------------ MODEL and DATA swapped

SWAPPED = [
    (["predict", "data.csv", "model.safetensors"], "MODEL", "DATA", "backprop predict MODEL DATA"),
    (["predict", "data.csv", "model.safetensors", "-o", "out.csv"], "MODEL", "DATA", "backprop predict MODEL DATA"),
    (["evaluate", "data.csv", "model.safetensors"], "MODEL", "DATA", "backprop evaluate MODEL DATA"),
    (
        ["explain", "data.csv", "model.safetensors", "--row", "1"],
        "MODEL",
        "DATA",
        "backprop explain MODEL DATA --row N",
    ),
    (
        ["plot", "data.csv", "--kind", "confusion", "--data", "model.safetensors"],
        "MODEL|HISTORY",
        "--data",
        "backprop plot MODEL|HISTORY --kind KIND [--data DATA]",
    ),
]


@pytest.mark.parametrize(("args", "model", "data", "usage"), SWAPPED, ids=[" ".join(case[0]) for case in SWAPPED])
def test_swapped_model_and_data_are_named(files: Path, args: list[str], model: str, data: str, usage: str) -> None:
    line = error_line(run(*args))
    expected = (
        f"error: {model} 'data.csv' looks like a CSV table, not a model file{' or a JSON history' * (data != 'DATA')}; "
        f"{data} 'model.safetensors' is a model file: did you swap {model} and {data}? Usage: {usage}"
    )
    assert line == expected
    assert sorted(path.name for path in files.iterdir()) == ["data.csv", "model.safetensors"]  # no output made


def test_the_swap_is_seen_by_content_not_by_the_names(files: Path) -> None:
    Path("data.csv").rename("weights.bin")
    Path("model.safetensors").rename("rows.csv")
    line = error_line(run("predict", "weights.bin", "rows.csv"))
    assert line.startswith("error: MODEL 'weights.bin' looks like a CSV table, not a model file; ")
    assert "DATA 'rows.csv' is a model file: did you swap MODEL and DATA?" in line


def test_files_named_as_they_should_be_but_holding_the_other_are_named(files: Path) -> None:
    csv, model = Path("data.csv").read_bytes(), Path("model.safetensors").read_bytes()
    Path("data.csv").write_bytes(model)
    Path("model.safetensors").write_bytes(csv)
    line = error_line(run("evaluate", "model.safetensors", "data.csv"))
    assert "MODEL 'model.safetensors' looks like a CSV table" in line and "did you swap MODEL and DATA?" in line


# ------------------------------------------------------------------ a table where a model is expected


def write_parquet(path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    parquet.write_table(pa.table({"x1": [1.0, 2.0], "label": ["a", "b"]}), path)


def write_npy(path: Path) -> None:
    with path.open("wb") as handle:  # a file, not a name: np.save would add the suffix .npy
        np.save(handle, np.zeros((2, 3)))


def write_npz(path: Path) -> None:
    with path.open("wb") as handle:
        np.savez(handle, X=np.zeros((2, 3)), y=np.zeros(2))


TABLES = {
    "a CSV table": lambda path: path.write_text("x1,x2\n1,2\n"),
    "a CSV table (tabs, a byte order mark)": lambda path: path.write_bytes(b"\xef\xbb\xbfx1\tx2\n1\t2\n"),
    "a Parquet file": write_parquet,
    "a NumPy .npy array": write_npy,
    "a NumPy .npz archive": write_npz,
}


@pytest.mark.parametrize("kind", list(TABLES))
@pytest.mark.parametrize(
    ("command", "usage"),
    [(["inspect"], "backprop inspect MODEL"), (["export", "--onnx", "out.onnx"], "backprop export MODEL --onnx FILE")],
)
def test_a_table_given_as_the_model_is_named(files: Path, kind: str, command: list[str], usage: str) -> None:
    path = Path("table.bin")  # no suffix to go by: the content says what it is
    TABLES[kind](path)
    line = error_line(run(command[0], path, *command[1:]))
    shown = kind.split(" (")[0]
    assert line == (
        f"error: MODEL 'table.bin' looks like {shown}, not a model file "
        f"(a .safetensors file written by `backprop train`). Usage: {usage}"
    )
    assert not Path("out.onnx").exists()


def test_the_library_names_a_table_given_as_a_model(files: Path) -> None:
    with pytest.raises(ModelFileError, match=r"^data\.csv: this is a CSV table, not a model file or checkpoint"):
        bp.load("data.csv")
    Path("tiny.csv").write_text("a,b\n1,2")  # under 8 bytes: no header length to read at all
    with pytest.raises(ModelFileError, match=r"^tiny\.csv: this is a CSV table, not a model file"):
        io.inspect("tiny.csv")
    Path("broken.safetensors").write_bytes(Path("model.safetensors").read_bytes()[:40])
    with pytest.raises(ModelFileError, match=r"header should have \d+ bytes, but only 32 follow"):
        bp.load("broken.safetensors")  # a truncated model is still called truncated


def test_file_kind_reads_the_first_and_last_bytes(files: Path) -> None:
    assert file_kind("model.safetensors") == "safetensors"
    assert file_kind("data.csv") == "csv"
    assert file_kind("missing.csv") is None
    Path("history.json").write_text(json.dumps({"loss": [1.0, 0.5]}))
    assert file_kind("history.json") == "json"
    cases = [
        (b"", b"", 0, None),
        (b"hello", b"", 5, "text"),
        (b"a\n1\n2\n", b"\n2\n", 6, "csv"),  # one column: no delimiter, several lines
        (b"\x89PNG\r\n\x1a\n\x00\x00", b"\x00\x00\x00\x00", 10, None),
        (b"\x00\x01binary", b"nary", 8, None),
        (b"\x02" + b"\x00" * 7 + b"{}", b"\x00\x00{}", 10, "safetensors"),
        (b"\x02" + b"\x00" * 7 + b"{}", b"\x00\x00{}", 9, None),  # the header would not fit the file
        (b"junkjunk", b"PAR1", 8, "parquet"),  # Parquet's footer
        (b"PK\x03\x04" + b"\x00" * 22 + b"\x05\x00\x00\x00hello", b"", 40, "zip"),
        (b"PK\x03\x04" + b"\x00" * 22 + b"\x05\x00\x00\x00X.npy", b"", 40, "npz"),
    ]
    for head, tail, size, kind in cases:
        assert kind_of_bytes(head, tail, size) == kind, head


# ------------------------------------------------------------------ a model where data is expected


def test_a_model_given_as_data_is_named(files: Path) -> None:
    Path("new.csv").write_bytes(Path("model.safetensors").read_bytes())
    for args, usage in [
        (["predict", "model.safetensors", "new.csv"], "backprop predict MODEL DATA"),
        (["evaluate", "model.safetensors", "model.safetensors"], "backprop evaluate MODEL DATA"),
        (["train", "new.csv"], "backprop train DATA"),
    ]:
        line = error_line(run(*args))
        name = args[-1]
        assert line == (
            f"error: DATA '{name}' is a model file, not data (a CSV, Parquet or NumPy table). Usage: {usage}"
        ), args


def test_a_checkpoint_given_as_data_says_how_to_resume_it(files: Path) -> None:
    io.save_checkpoint(small_network(), "run.ckpt", {"epoch": 1})
    line = error_line(run("predict", "model.safetensors", "run.ckpt"))
    assert line == (
        "error: DATA 'run.ckpt' is a training checkpoint, not data (a CSV, Parquet or NumPy table); "
        "to go on training it: backprop train DATA --resume 'run.ckpt'. Usage: backprop predict MODEL DATA"
    )


def test_data_of_no_known_kind_is_left_to_the_reader(files: Path) -> None:
    """Bytes that are neither a table nor a model (here a PNG) are not guessed at: the reader says what it finds."""
    Path("picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    line = error_line(run("predict", "picture.png", "data.csv"))
    assert "not a safetensors file" in line and "swap" not in line


# ------------------------------------------------------------------ predict writes nothing until DATA fits

NOT_FITTING = [
    ("x1,zz\n1,2\n", [], r"no column 'x2'; the columns are 'x1', 'zz'"),
    ("x1,x2\n1,abc\n", [], r"column 'x2', row 0 \(line 2\): 'abc' is not a number"),
    ("x1,x2\n1,\n", [], r"column 'x2' has 1 missing value \(row 0\)"),
    ("x1,x2\n1,2\n", ["--keep", "id"], r"no column 'id'"),
]


@pytest.mark.parametrize(("text", "options", "message"), NOT_FITTING, ids=["column", "word", "missing", "keep"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_predict_writes_nothing_when_the_first_chunk_does_not_fit(
    trained: Path, tmp_path: Path, text: str, options: list[str], message: str, fmt: str
) -> None:
    data = tmp_path / "new.csv"
    data.write_text(text)
    line = error_line(run("predict", trained, data, "--format", fmt, *options))  # standard output: nothing
    assert re.search(message, line), line
    out = tmp_path / "sub" / f"predictions.{fmt}"
    line = error_line(run("predict", trained, data, "--format", fmt, "-o", out, *options))
    assert re.search(message, line), line
    assert sorted(path.name for path in tmp_path.iterdir()) == ["new.csv"]  # neither the file nor its folder


def test_predict_still_writes_the_header_of_a_table_of_no_rows(trained: Path, tmp_path: Path) -> None:
    data = tmp_path / "empty.csv"
    data.write_text("x1,x2\n")
    result = run("predict", trained, data)
    assert result.exit_code == 0, result.output
    assert result.stdout == "prediction,p_no,p_yes\n"
