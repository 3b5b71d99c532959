"""Commands never destroy their own inputs, check their outputs before the work, and stop cleanly on signals.

Each test here failed on the main of 2026-12-04 (issue 13): `predict m d.csv -o d.csv` replaced the data with
predictions and exited 0; SIGTERM during `train` lost every epoch.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import backprop as bp
from backprop.cli import main
from backprop.cli import train as cli_train
from backprop.cli._signals import TrainMonitor


def run(*args: object) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (links as links) → a hash of its content: what must not change."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            found[str(path.relative_to(folder))] = "-> " + os.readlink(path)
        elif path.is_file():
            found[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def write_csv(path: Path, n: int = 120, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    rows = [f"{a:.4f},{b:.4f},{'yes' if a + b > 0 else 'no'}" for a, b in X]
    path.write_text("x1,x2,label\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("files")
    data = write_csv(folder / "data.csv")
    model = folder / "m.safetensors"
    result = run("train", data, "--epochs", "2", "--hidden", "4", "-o", model, "-q")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return {"data": data, "model": model}


@pytest.fixture
def work(tmp_path: Path, trained: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with data.csv, m.safetensors, a symbolic link and a hard link to each, as the working directory."""
    for name in ("data", "model"):
        source = trained[name]
        (tmp_path / source.name).write_bytes(source.read_bytes())
    os.symlink("data.csv", tmp_path / "link.csv")
    os.link(tmp_path / "data.csv", tmp_path / "hard.csv")
    os.symlink("m.safetensors", tmp_path / "link.safetensors")
    os.link(tmp_path / "m.safetensors", tmp_path / "hard.safetensors")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


SAME_FILE = [
    # (command line, the output named, the file it collides with)
    (["predict", "m.safetensors", "data.csv", "-o", "data.csv"], "--output data.csv", "DATA data.csv"),
    (["predict", "m.safetensors", "data.csv", "-o", "./sub/../data.csv"], "--output", "DATA data.csv"),
    (["predict", "m.safetensors", "data.csv", "-o", "link.csv"], "--output link.csv", "DATA data.csv"),
    (["predict", "m.safetensors", "link.csv", "-o", "hard.csv"], "--output hard.csv", "DATA link.csv"),
    (["predict", "m.safetensors", "data.csv", "-o", "m.safetensors"], "--output m.safetensors", "MODEL"),
    (["predict", "link.safetensors", "data.csv", "-o", "hard.safetensors"], "--output hard.safetensors", "MODEL"),
    (["train", "data.csv", "-o", "data.csv"], "--out data.csv", "DATA data.csv"),
    (["train", "data.csv", "-o", "hard.csv"], "--out hard.csv", "DATA data.csv"),
    (["train", "data.csv", "--report", "data.csv"], "--report data.csv", "DATA data.csv"),
    (["train", "data.csv", "-o", "x.safetensors", "--report", "x.safetensors"], "--report x.safetensors", "--out"),
    (["train", "data.csv", "-o", "new.safetensors", "--checkpoint", "link.csv"], "--checkpoint link.csv", "DATA"),
    (["train", "data.csv", "-o", "a.safetensors", "--checkpoint", "a.safetensors"], "--checkpoint", "--out"),
    (["export", "m.safetensors", "--onnx", "hard.safetensors"], "--onnx hard.safetensors", "MODEL m.safetensors"),
    (["plot", "m.safetensors", "--kind", "network", "-o", "link.safetensors"], "--output link.safetensors", "MODEL"),
]


@pytest.mark.parametrize(("args", "output", "collides_with"), SAME_FILE)
def test_an_output_that_is_an_input_or_another_output_is_refused_before_any_work(
    work: Path, args: list[str], output: str, collides_with: str
) -> None:
    before = digest(work)
    result = run(*args)
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert output in lines[0] and f"is the same file as {collides_with}" in lines[0]
    assert digest(work) == before  # nothing replaced, nothing created


def test_train_may_update_the_checkpoint_it_resumes_from(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # --checkpoint defaults to --resume: an interrupted resumed run updates that checkpoint, as it should.
    state = {"calls": 0}
    original = TrainMonitor.on_batch_end

    def stop_once(self: TrainMonitor, batch: int, logs: dict[str, float]) -> bool:
        state["calls"] += 1
        if state["calls"] == 3:
            self.interrupt()
        return original(self, batch, logs) or self.stop_requested

    monkeypatch.setattr(TrainMonitor, "on_batch_end", stop_once)
    assert run("train", "data.csv", "--epochs", "4", "--hidden", "4", "-o", "r.safetensors").exit_code == 130  # type: ignore[attr-defined]
    state["calls"] = 0
    result = run("train", "data.csv", "--resume", "r.ckpt")
    assert result.exit_code == 130, result.output  # type: ignore[attr-defined]
    assert "checkpoint saved to r.ckpt" in result.stderr  # type: ignore[attr-defined]


def test_devices_are_never_the_same_file(work: Path) -> None:
    # /dev/null is written in place: two outputs there destroy nothing.
    result = run("train", "data.csv", "--epochs", "1", "--hidden", "2", "-o", "/dev/null", "--checkpoint", "/dev/null")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("option", "target", "message"),
    [
        ("-o", "folder", "cannot write --out folder: it is a folder"),
        ("--report", "folder", "cannot write --report folder: it is a folder"),
        ("--checkpoint", "folder", "cannot write --checkpoint folder: it is a folder"),
        ("-o", "data.csv/m.safetensors", "cannot write --out data.csv/m.safetensors: data.csv is not a folder"),
        (
            "--report",
            "data.csv/deeper/r.html",
            "cannot write --report data.csv/deeper/r.html: data.csv is not a folder",
        ),
    ],
)
def test_train_checks_its_outputs_before_training(
    work: Path, monkeypatch: pytest.MonkeyPatch, option: str, target: str, message: str
) -> None:
    (work / "folder").mkdir()
    trained = []
    monkeypatch.setattr(cli_train, "run_training", lambda *a, **k: trained.append(1))
    result = run("train", "data.csv", option, target)
    assert result.exit_code == 1 and trained == []  # type: ignore[attr-defined]
    assert result.stderr.strip() == f"error: {message}"  # type: ignore[attr-defined]


def test_train_checks_the_folder_can_be_written_before_training(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulated (root may write anywhere): the folder refuses new files.
    import tempfile

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    trained = []
    monkeypatch.setattr(cli_train, "run_training", lambda *a, **k: trained.append(1))
    monkeypatch.setattr(tempfile, "TemporaryFile", denied)
    result = run("train", "data.csv", "-o", "sub/deeper/m.safetensors")
    assert result.exit_code == 1 and trained == []  # type: ignore[attr-defined]
    assert result.stderr.strip() == (  # type: ignore[attr-defined]
        "error: cannot write --out sub/deeper/m.safetensors: the folder "
        "sub is not writable (Permission denied); nothing was trained"
    )


# ------------------------------------------------------------------ signals


@pytest.mark.parametrize(("signame", "status"), [("SIGTERM", 143), ("SIGHUP", 129), ("SIGINT", 130)])
def test_a_stop_signal_during_train_checkpoints_as_ctrl_c_does(
    work: Path, monkeypatch: pytest.MonkeyPatch, signame: str, status: int
) -> None:
    signum = getattr(signal, signame)
    original = TrainMonitor.on_batch_end

    def on_batch_end(self: TrainMonitor, batch: int, logs: dict[str, float]) -> bool:
        stop = original(self, batch, logs)
        if self._state is not None and self._state.epoch == 1 and batch == 1:
            signal.raise_signal(signum)  # in this thread: the handler has run when it returns
        return stop or self.stop_requested

    monkeypatch.setattr(TrainMonitor, "on_batch_end", on_batch_end)
    args = ["--epochs", "4", "--hidden", "4", "--seed", "2"]
    result = run("train", "data.csv", *args, "-o", "m2.safetensors")
    assert result.exit_code == status, result.output  # type: ignore[attr-defined]
    name = "Ctrl-C" if signame == "SIGINT" else signame
    assert f"{name}: stopped after batch 2 of epoch 3" in result.stderr  # type: ignore[attr-defined]
    assert "resume with: backprop train" in result.stderr  # type: ignore[attr-defined]
    assert (work / "m2.ckpt").exists() and not (work / "m2.safetensors").exists()
    assert signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler)  # handlers put back

    monkeypatch.setattr(TrainMonitor, "on_batch_end", original)
    assert run("train", "data.csv", "--resume", "m2.ckpt").exit_code == 0  # type: ignore[attr-defined]
    assert run("train", "data.csv", *args, "-o", "full.safetensors").exit_code == 0  # type: ignore[attr-defined]
    np.testing.assert_array_equal(
        bp.load(work / "m2.safetensors").parameters, bp.load(work / "full.safetensors").parameters
    )


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_during_predict_leaves_no_temporary_file(
    tmp_path: Path, trained: dict[str, Path], signum: int, status: int
) -> None:
    data = write_csv(tmp_path / "big.csv", n=400_000, seed=1)
    out = tmp_path / "out.csv"
    out.write_text("previous\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "backprop", "predict", str(trained["model"]), str(data), "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The signal goes once the temporary output exists: mid-write, whatever the machine's speed.
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr
    assert stderr.strip().splitlines()[-1] == f"interrupted; {out} was not written"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "out.csv"]
    assert out.read_text() == "previous\n"


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_a_ctrl_c_inside_code_run_from_a_string_still_exits_with_130(tmp_path: Path) -> None:
    # CPython marks the process as ended by Ctrl-C when exactly KeyboardInterrupt leaves code that exec or
    # eval runs from a string (namedtuple and dataclasses do, in an import), even when it is caught: then
    # `python -m` ended by SIGINT (-2), not 130. The stop signals raise a subclass, which is not marked.
    (tmp_path / "stopped_in_a_string.py").write_text(
        "import os, signal\n"
        "from backprop.cli._signals import Stop, stop_signals\n"
        "try:\n"
        "    with stop_signals():\n"
        "        exec('os.kill(os.getpid(), signal.SIGINT)\\nwhile True: pass')\n"
        "except KeyboardInterrupt as exc:\n"
        "    print(type(exc).__name__, flush=True)\n"
        "    raise SystemExit(Stop.exit_status())\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "stopped_in_a_string"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (130, "Interrupted\n"), done.stderr


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_that_python_drops_still_stops_predict(tmp_path: Path, trained: dict[str, Path], monkeypatch) -> None:
    # Python calls a signal's handler wherever the main thread is: in a weakref callback (importlib's
    # module locks have one) its exception is printed and dropped, and predict wrote the whole file.
    from backprop.cli import predict as cli_predict

    written = cli_predict.csv_chunk

    def chunk_then_a_dropped_interrupt(*args: object, **kwargs: object) -> str:
        text = written(*args, **kwargs)

        class Token:
            pass

        token = Token()
        ref = weakref.ref(token, lambda _: signal.raise_signal(signal.SIGINT))  # the handler runs in the callback
        del token
        assert ref() is None
        return text

    monkeypatch.setattr(cli_predict, "csv_chunk", chunk_then_a_dropped_interrupt)
    out = tmp_path / "out.csv"
    out.write_text("previous\n")
    result = run("predict", trained["model"], trained["data"], "-o", out)
    assert result.exit_code == 130, result.output  # type: ignore[attr-defined]
    assert result.stderr.strip().splitlines()[-1] == f"interrupted; {out} was not written"  # type: ignore[attr-defined]
    assert out.read_text() == "previous\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_predict_refuses_an_output_that_is_the_file_redirected_into_standard_input(
    tmp_path: Path, trained: dict[str, Path]
) -> None:
    data = tmp_path / "e.csv"
    data.write_bytes(trained["data"].read_bytes())
    before = data.read_bytes()
    with open(data, "rb") as stdin:
        result = subprocess.run(
            [sys.executable, "-m", "backprop", "predict", str(trained["model"]), "-", "-o", str(data)],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert (
        result.stderr
        == f"error: --output {data} is the same file as DATA - (standard input): writing it would destroy one of the inputs; choose another --output\n"
    )
    assert data.read_bytes() == before


def test_two_inputs_may_be_one_file(work: Path) -> None:
    # Reading a file twice destroys nothing: `plot m --data m` fails for its own reason, not as a clash.
    result = run("plot", "m.safetensors", "--kind", "confusion", "--data", "m.safetensors", "-o", "c.png")
    assert "is the same file" not in result.output  # type: ignore[attr-defined]


def test_an_output_through_a_symlink_into_a_missing_folder_is_written_there(work: Path) -> None:
    os.symlink("nodir/out.safetensors", work / "lnk")
    result = run("train", "data.csv", "--epochs", "1", "--hidden", "2", "-o", "lnk", "-q")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert (work / "lnk").is_symlink() and bp.load(work / "nodir" / "out.safetensors").n_inputs == 2


def stop_at(monkeypatch: pytest.MonkeyPatch, signum: int, times: int = 1) -> None:
    """Send ``signum`` ``times`` times to this process after batch 2 of epoch 2."""
    original = TrainMonitor.on_batch_end

    def on_batch_end(self: TrainMonitor, batch: int, logs: dict[str, float]) -> bool:
        stop = original(self, batch, logs)
        if self._state is not None and self._state.epoch == 1 and batch == 1:
            for _ in range(times):
                signal.raise_signal(signum)  # in this thread: the handler has run when it returns
        return stop or self.stop_requested

    monkeypatch.setattr(TrainMonitor, "on_batch_end", on_batch_end)


@pytest.fixture
def hangup_ignored() -> object:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGHUP, previous)


def test_train_under_nohup_survives_the_hangup(
    work: Path, monkeypatch: pytest.MonkeyPatch, hangup_ignored: object
) -> None:
    # nohup ignores SIGHUP before starting the command: it must stay ignored.
    stop_at(monkeypatch, signal.SIGHUP)
    result = run("train", "data.csv", "--epochs", "3", "--hidden", "4", "-o", "n.safetensors", "-q")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert (work / "n.safetensors").exists() and not (work / "n.ckpt").exists()
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN


def test_a_hangup_saves_the_checkpoint_though_the_terminal_is_gone(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A closed terminal sends SIGHUP (often twice) and fails every write to it with EIO.
    import click

    real_echo = click.echo

    def echo(message: object = None, *args: object, err: bool = False, **kwargs: object) -> None:
        if err:
            raise OSError(5, "Input/output error")
        real_echo(message, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(click, "echo", echo)
    stop_at(monkeypatch, signal.SIGHUP, times=2)
    result = run("train", "data.csv", "--epochs", "4", "--hidden", "4", "-o", "h.safetensors")
    assert result.exit_code == 129, result.output  # type: ignore[attr-defined]
    assert (work / "h.ckpt").exists() and not (work / "h.safetensors").exists()


def test_a_second_ctrl_c_stops_at_once_but_a_second_sigterm_does_not() -> None:
    monitor = TrainMonitor(None, "unused.ckpt", {})
    monitor.interrupt(signal.SIGTERM)
    monitor.interrupt(signal.SIGTERM)
    monitor.interrupt(signal.SIGHUP)
    assert monitor.stop_requested
    with pytest.raises(KeyboardInterrupt):
        monitor.interrupt(signal.SIGINT)
