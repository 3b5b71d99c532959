"""Nothing lost by mistake: files keep their mode, readers see one whole save, live writers keep their files.

Each test here failed on the main of 2026-12-04 (issue 13).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import backprop as bp
from backprop import files, io
from backprop.errors import BackpropTypeError, ModelFileError

pytest.importorskip("safetensors")
posix = pytest.mark.skipif(os.name != "posix", reason="POSIX modes, owners, links and locks")


def small_net(seed: int = 3) -> bp.Network:
    """4 → 3 (tanh) → 2 (sigmoid): 23 parameters."""
    return bp.Network([bp.Dense(3, "tanh"), bp.Dense(2, "sigmoid")], inputs=4, seed=seed)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ------------------------------------------------------------------ modes, owners and links


WRITERS = {
    "model": lambda path: bp.save(small_net(), path),
    "checkpoint": lambda path: bp.save_checkpoint(small_net(), path, {"epoch": 1}),
    "bytes": lambda path: io.atomic_write(path, b"new content"),
}


@posix
@pytest.mark.parametrize("writer", list(WRITERS))
@pytest.mark.parametrize("previous_mode", [0o600, 0o640, 0o604, 0o755])
def test_a_replaced_file_keeps_its_mode(tmp_path: Path, writer: str, previous_mode: int) -> None:
    # A private model stays private when it is saved again (it became 0644 before).
    path = tmp_path / "file"
    path.write_bytes(b"previous")
    path.chmod(previous_mode)
    WRITERS[writer](path)
    assert mode(path) == previous_mode
    assert path.read_bytes() != b"previous"


@posix
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_the_umasks_mode(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        WRITERS["model"](tmp_path / "new.safetensors")
    finally:
        os.umask(old)
    assert mode(tmp_path / "new.safetensors") == 0o666 & ~umask


@posix
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root may give a file away")
def test_a_replaced_file_keeps_its_owner_where_permitted(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    bp.save(small_net(1), path)
    os.chown(path, 12345, 23456)
    bp.save(small_net(2), path)
    assert (path.stat().st_uid, path.stat().st_gid) == (12345, 23456)


@posix
@pytest.mark.parametrize("writer", list(WRITERS))
def test_writing_to_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path: Path, writer: str) -> None:
    (tmp_path / "store").mkdir()
    target = tmp_path / "store" / "real"
    target.write_bytes(b"previous")
    target.chmod(0o600)
    link = tmp_path / "link"
    link.symlink_to(target)
    WRITERS[writer](link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() != b"previous" and mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "store"]
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["real"]  # the temporary file was beside it


@posix
def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "made.safetensors")
    bp.save(small_net(), link)
    assert link.is_symlink() and bp.load(tmp_path / "made.safetensors").config() == small_net().config()


# ------------------------------------------------------------------ nesting


@pytest.mark.parametrize("depth", [101, 500, 5000])
def test_deeply_nested_metadata_is_one_clear_error(tmp_path: Path, depth: int) -> None:
    nested: object = "leaf"
    for _ in range(depth):
        nested = [nested]
    with pytest.raises(BackpropTypeError, match=r"metadata\['deep'\]\[0\].* is nested too deeply: .*100 levels"):
        bp.save(small_net(), tmp_path / "m.safetensors", metadata={"deep": nested})
    assert not list(tmp_path.iterdir())


def test_metadata_nested_100_deep_round_trips(tmp_path: Path) -> None:
    nested: object = 7
    for _ in range(99):  # the metadata dict itself is the hundredth level
        nested = {"x": nested}
    bp.save(small_net(), tmp_path / "m.safetensors", metadata={"deep": nested})
    assert bp.load_with_metadata(tmp_path / "m.safetensors")[1] == {"deep": nested}


def crafted(tmp_path: Path, document_change: object) -> Path:
    """A model file whose document's ``extra`` is replaced (JSON text spliced in, so any depth can be written)."""
    path = tmp_path / "good.safetensors"
    bp.save(small_net(), path, metadata={"x": "PLACEHOLDER"})
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    header["__metadata__"]["backprop"] = header["__metadata__"]["backprop"].replace(
        '"PLACEHOLDER"', str(document_change)
    )
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    bad = tmp_path / "deep.safetensors"
    bad.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + length :])
    return bad


@pytest.mark.parametrize("depth", [200, 900, 100_000])
def test_a_file_nested_too_deeply_is_one_clear_error(tmp_path: Path, depth: int) -> None:
    path = crafted(tmp_path, "[" * depth + "]" * depth)
    for read in (io.inspect, bp.load):
        with pytest.raises(ModelFileError, match=r"deep\.safetensors: the backprop document is nested too deeply"):
            read(path)


def test_inspect_json_of_a_deep_document_is_one_error_line(tmp_path: Path) -> None:
    path = crafted(tmp_path, "[" * 900 + "]" * 900)
    result = subprocess.run(
        [sys.executable, "-m", "backprop", "inspect", str(path), "--json"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {path}: the backprop document is nested too deeply (more than 100 levels)"
    ]


# ------------------------------------------------------------------ concurrent readers and writers

WRITER = textwrap.dedent(
    """
    import sys, numpy as np, backprop as bp
    path, version, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # Each version's weights all equal its number, and its metadata names it: a mix shows.
    net = bp.Network([bp.Dense(3, "tanh"), bp.Dense(2, "sigmoid")], inputs=4, seed=0)
    net.parameters[...] = float(version)
    for i in range(count):
        bp.save(net, path, metadata={"version": version, "labels": [version] * 50})
    """
)


def test_readers_racing_saves_see_one_whole_version(tmp_path: Path) -> None:
    # Two processes save two different models to one path in a loop while this one loads it:
    # every load sees one version's weights with that version's metadata, and never fails.
    path = tmp_path / "model.safetensors"
    bp.save(small_net(), path, metadata={"version": "0", "labels": []})
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), version, "400"]) for version in ("1", "2")]
    loads, mixed, errors, seen = 0, 0, [], set()
    try:
        while any(w.poll() is None for w in writers) and loads < 20_000:
            for _ in range(20):
                try:
                    net, metadata = bp.load_with_metadata(path)
                except Exception as exc:  # any error is a spurious one: every save is atomic
                    errors.append(repr(exc))
                    continue
                loads += 1
                version = metadata["version"]
                seen.add(version)
                if version != "0" and not np.all(net.parameters == float(version)):
                    mixed += 1
    finally:
        for w in writers:
            w.wait(timeout=120)
    assert [w.returncode for w in writers] == [0, 0]
    assert (mixed, errors) == (0, [])
    assert loads >= 200 and {"1", "2"} <= seen


NAMESPACED_WRITER = textwrap.dedent(
    """
    import sys, backprop as bp
    net = bp.Network([bp.Dense(3, "tanh"), bp.Dense(2, "sigmoid")], inputs=4, seed=0)
    failures = 0
    for i in range(int(sys.argv[2])):
        try:
            bp.save(net, sys.argv[1])
        except OSError:
            failures += 1
    print(failures)
    """
)


@posix
@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare(1)")
def test_a_writer_in_another_pid_namespace_leaves_live_writers_files_alone(tmp_path: Path) -> None:
    # A writer in its own pid namespace (a container on a shared volume) sees none of this
    # process's pids; it used to take this writer's in-flight temporary files for a dead
    # writer's and delete them, failing most of its saves.
    probe = subprocess.run(["unshare", "-p", "-f", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"unshare -p is not permitted here: {probe.stderr.decode(errors='replace').strip()}")
    path = tmp_path / "model.safetensors"
    other = subprocess.Popen(
        ["unshare", "-p", "-f", sys.executable, "-c", NAMESPACED_WRITER, str(path), "600"],
        stdout=subprocess.PIPE,
        text=True,
    )
    failures, saves = 0, 0
    net = small_net()
    deadline = time.monotonic() + 60
    while other.poll() is None and time.monotonic() < deadline:
        try:
            bp.save(net, path)
        except OSError:
            failures += 1
        saves += 1
    out, _ = other.communicate(timeout=120)
    assert other.returncode == 0 and saves >= 20
    assert (failures, int(out)) == (0, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_resuming_from_a_checkpoint_already_read_uses_that_version(tmp_path: Path) -> None:
    # `backprop train --resume` reads the checkpoint once, checks its options, and resumes from
    # that very version: a file replaced in between (another run's save) changes nothing.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)

    def net(seed: int) -> bp.Network:
        return bp.Network([bp.Dense(5, "tanh"), bp.Dense(2, "softmax")], inputs=4, seed=seed)

    options = {"loss": "crossentropy", "batch_size": 8, "seed": 1}
    whole = net(0)
    whole.fit(X, y, optimizer=bp.Adam(0.01), epochs=4, **options)
    path = tmp_path / "run.ckpt"
    net(0).fit(X, y, optimizer=bp.Adam(0.01), epochs=2, callbacks=bp.ModelCheckpoint(path), **options)
    checkpoint = bp.load_checkpoint(path)
    path.write_bytes(b"replaced by another run")
    resumed = net(5)
    resumed.fit(X, y, optimizer=bp.Adam(0.01), epochs=4, resume_from=checkpoint, **options)
    np.testing.assert_array_equal(resumed.parameters, whole.parameters)
    with pytest.raises(bp.BackpropTypeError, match=r"resume_from must be a path .* or the \(network, state\) pair"):
        net(0).fit(X, y, epochs=1, resume_from=(1, 2), **options)  # type: ignore[arg-type]


@posix
@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs a file of another owner")
@pytest.mark.parametrize(("group_kept", "expected_mode"), [(True, 0o660), (False, 0o600)])
def test_a_file_that_keeps_its_mode_but_not_its_group_loses_the_groups_permissions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group_kept: bool, expected_mode: int
) -> None:
    # A writer who may not give the file back to its owner (not root) may still give it its
    # group (a member of it); where neither works, the group's rw- would go to the writer's
    # own group, so the group loses its permissions instead of gaining a stranger's file.
    path = tmp_path / "shared.safetensors"
    bp.save(small_net(1), path)
    os.chown(path, 1001, 1002)
    path.chmod(0o660)
    real_fchown = os.fchown

    def fchown(fd: int, uid: int, gid: int) -> None:
        if uid != -1 or not group_kept:
            raise PermissionError(1, "Operation not permitted")
        real_fchown(fd, uid, gid)

    monkeypatch.setattr(os, "fchown", fchown)
    bp.save(small_net(2), path)
    info = path.stat()
    assert (info.st_uid, info.st_gid if group_kept else None) == (0, 1002 if group_kept else None)
    assert mode(path) == expected_mode


def test_a_writer_never_removes_its_own_processs_files_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On NFS, flock is emulated by per-process fcntl locks: another thread's in-flight file
    # looks unlocked to this process. The process's own list of files in flight keeps it.
    path = tmp_path / "model.bin"
    monkeypatch.setattr(files, "_lock", lambda fd, blocking=True: True)
    with io.atomic_output(path) as outer:
        outer.write(b"outer content")
        (in_flight,) = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        io.atomic_write(path, b"inner")  # its cleanup finds the outer file "unlocked"
        assert in_flight.exists()
    assert path.read_bytes() == b"outer content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.bin"]
    assert not files._LIVE


@pytest.mark.parametrize("system_call", [True, False], ids=["renameat2", "claimed first"])
def test_rename_new_never_replaces_what_is_there(tmp_path, monkeypatch, system_call):
    if not system_call:
        monkeypatch.setattr(files, "_renameat2", lambda source, target: False)
    parts = tmp_path / ".parts"
    parts.mkdir()
    (parts / "part-00000.parquet").write_bytes(b"rows")
    (tmp_path / "taken").mkdir()  # empty: os.rename would replace it
    with pytest.raises(FileExistsError):
        files.rename_new(str(parts), str(tmp_path / "taken"))
    assert os.listdir(tmp_path / "taken") == [] and os.listdir(parts) == ["part-00000.parquet"]
    files.rename_new(str(parts), str(tmp_path / "predictions"))
    assert os.listdir(tmp_path / "predictions") == ["part-00000.parquet"] and not parts.exists()
    # A file too: never over another.
    (tmp_path / "new.txt").write_text("new")
    (tmp_path / "old.txt").write_text("old")
    with pytest.raises(FileExistsError):
        files.rename_new(str(tmp_path / "new.txt"), str(tmp_path / "old.txt"))
    assert (tmp_path / "old.txt").read_text() == "old"
    files.rename_new(str(tmp_path / "new.txt"), str(tmp_path / "moved.txt"))
    assert (tmp_path / "moved.txt").read_text() == "new" and not (tmp_path / "new.txt").exists()


@pytest.mark.skipif(not hasattr(signal, "raise_signal"), reason="signal.raise_signal")
def test_a_ctrl_c_in_the_moment_the_temporary_file_is_made_leaves_nothing_behind(tmp_path, monkeypatch):
    made = files._create_temporary

    def interrupted(*args):
        temporary = made(*args)  # the file exists now ...
        signal.raise_signal(signal.SIGINT)  # ... and Ctrl-C comes before atomic_output holds its name
        return temporary

    monkeypatch.setattr(files, "_create_temporary", interrupted)
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")
    with pytest.raises(KeyboardInterrupt), files.atomic_output(target) as out:
        out.write(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    assert target.read_bytes() == b"previous"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C's handler given back
