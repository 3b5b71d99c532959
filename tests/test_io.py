"""Model files and checkpoints (backprop.io): round trips, atomic writes, and hostile files."""

from __future__ import annotations

import errno
import json
import math
import os
import struct
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop import io
from backprop.activations import LeakyReLU
from backprop.errors import BackpropError, BackpropTypeError, DataError
from backprop.io import ModelFileError, SaveError

pytest.importorskip("safetensors")

X = np.random.default_rng(0).normal(size=(7, 4))


def small_net(dtype: Any = np.float32) -> bp.Network:
    """4 → 3 (tanh) → 2 (sigmoid): 4·3 + 3 + 3·2 + 2 = 23 parameters."""
    return bp.Network([bp.Dense(3, "tanh"), bp.Dense(2, "sigmoid")], inputs=4, seed=3, dtype=dtype)


def rich_net(dtype: Any) -> bp.Network:
    return bp.Network(
        [
            bp.Dense(5, LeakyReLU(alpha=0.2)),
            bp.Dropout(0.25),
            bp.Dense(4, "elu", bias=False),
            bp.Dense(3, "softplus"),
            bp.Dropout(0.5),
            bp.Dense(3, "softmax"),
        ],
        inputs=4,
        seed=11,
        dtype=dtype,
    )


# ------------------------------------------------------------ helpers for crafting files


def split(raw: bytes) -> tuple[dict[str, Any], bytes]:
    """A safetensors file's header (as JSON data) and its tensor data."""
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + length]), raw[8 + length :]


def join(header: dict[str, Any] | bytes, data: bytes) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def document_of(header: dict[str, Any]) -> dict[str, Any]:
    return json.loads(header["__metadata__"]["backprop"])


def with_document(raw: bytes, change: Callable[[dict[str, Any]], Any]) -> bytes:
    header, data = split(raw)
    document = document_of(header)
    change(document)
    header["__metadata__"]["backprop"] = json.dumps(document)
    return join(header, data)


def with_header(raw: bytes, change: Callable[[dict[str, Any]], Any]) -> bytes:
    header, data = split(raw)
    change(header)
    return join(header, data)


def assert_same(a: Any, b: Any, where: str = "state") -> None:
    """Equal values of equal types, arrays bit for bit (NaN payloads and -0.0 included)."""
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        assert (a.dtype.newbyteorder("="), a.shape) == (b.dtype, b.shape), where
        assert np.ascontiguousarray(a, a.dtype.newbyteorder("=")).tobytes() == b.tobytes(), where
    elif isinstance(a, dict):
        assert type(b) is dict and list(a) == list(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, list | tuple):
        assert type(b) is list and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert type(a) is type(b), f"{where}: {type(a)} vs {type(b)}"
        if isinstance(a, float | np.floating) and math.isnan(a):
            assert math.isnan(b), where
        else:
            assert a == b, where


# ------------------------------------------------------------ model round trips


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_keeps_architecture_parameters_and_predictions(tmp_path: Path, dtype: Any) -> None:
    net = rich_net(dtype)
    path = tmp_path / "model.safetensors"
    io.save(net, path)
    loaded = io.load(path)
    assert loaded.config() == net.config()
    assert loaded.dtype == np.dtype(dtype)
    assert np.array_equal(loaded.parameters, net.parameters)
    assert np.array_equal(loaded.predict(X), net.predict(X))
    assert [type(layer).__name__ for layer in loaded.layers] == [
        "Dense",
        "Dropout",
        "Dense",
        "Dense",
        "Dropout",
        "Dense",
    ]
    assert loaded.layers[0].activation.alpha == 0.2  # type: ignore[attr-defined]
    assert loaded.layers[1].rate == 0.25  # type: ignore[attr-defined]
    assert loaded.biases[1] is None and loaded.biases[0] is not None
    # The loaded network is independent of the file and of the saved network.
    loaded.parameters[0] += 1
    assert not np.array_equal(loaded.parameters, net.parameters)


def test_round_trip_of_from_weights_without_biases(tmp_path: Path) -> None:
    net = bp.Network.from_weights(
        [np.full((3, 2), 0.5), np.array([[0.25], [-0.75]])], activations=["sigmoid", "sigmoid"]
    )
    io.save(net, str(tmp_path / "seed.safetensors"))  # str paths work as well as Paths
    loaded = io.load(str(tmp_path / "seed.safetensors"))
    assert loaded.biases == [None, None]
    assert loaded.dtype == np.float64
    assert np.array_equal(loaded.predict([[1.0, 0.5, -1.0]]), net.predict([[1.0, 0.5, -1.0]]))


def test_file_is_plain_safetensors(tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.numpy import load_file

    net = small_net()
    path = tmp_path / "model.safetensors"
    io.save(net, path, metadata={"classes": ["cat", "dog"]})
    tensors = load_file(path)
    assert list(tensors) == ["parameters"]
    assert np.array_equal(tensors["parameters"], net.parameters)
    with safe_open(path, framework="np") as file:
        document = json.loads(file.metadata()["backprop"])
    assert document["format"] == "backprop-model" and document["format_version"] == 1
    assert document["library_version"] == bp.__version__
    assert document["network"] == net.config()
    assert document["extra"] == {"classes": ["cat", "dog"]}


def test_metadata_round_trip(tmp_path: Path) -> None:
    metadata = {
        "classes": ["setosa", "versicolor", "virginica"],
        "feature_names": ["sepal length", "sepal width"],
        "scaler": {"mean": np.array([5.8, 3.05]), "scale": (0.82, 0.43), "n": np.int64(150)},
        "training": {"epochs": 20, "best_val_loss": np.float32(0.125), "early_stopped": False, "note": None},
        "unicode": "δ = −∂L/∂z",
    }
    path = tmp_path / "model.safetensors"
    io.save(small_net(), path, metadata=metadata)
    net, loaded = io.load_with_metadata(path)
    assert isinstance(net, bp.Network)
    # Arrays and tuples come back as lists, numpy scalars as Python numbers.
    assert loaded == {
        "classes": ["setosa", "versicolor", "virginica"],
        "feature_names": ["sepal length", "sepal width"],
        "scaler": {"mean": [5.8, 3.05], "scale": [0.82, 0.43], "n": 150},
        "training": {"epochs": 20, "best_val_loss": 0.125, "early_stopped": False, "note": None},
        "unicode": "δ = −∂L/∂z",
    }
    assert type(loaded["scaler"]["n"]) is int
    io.save(small_net(), path)
    assert io.load_with_metadata(path)[1] == {}


@pytest.mark.parametrize(
    ("metadata", "match"),
    [
        ({"labels": {1, 2}}, r"metadata\['labels'\] is a set"),
        ({"fn": print}, r"metadata\['fn'\] is a builtin_function_or_method"),
        ({"stats": {3: "x"}}, r"metadata\['stats'\] has the key 3; keys must be strings"),
        ({"loss": float("nan")}, r"metadata\['loss'\] is nan: .*no NaN or infinity"),
        ({"mean": np.array([1.0, np.inf])}, r"metadata\['mean'\]\[1\] is inf"),
        ({"blob": b"bytes"}, r"metadata\['blob'\] is a bytes"),
        (["not", "a", "dict"], r"metadata must be a dict with string keys, got list"),
    ],
)
def test_metadata_that_json_cannot_hold_is_refused(tmp_path: Path, metadata: Any, match: str) -> None:
    path = tmp_path / "model.safetensors"
    with pytest.raises(BackpropTypeError, match=match):
        io.save(small_net(), path, metadata=metadata)
    assert not path.exists()


def test_metadata_that_contains_itself_is_refused(tmp_path: Path) -> None:
    loop: dict[str, Any] = {"a": []}
    loop["a"].append(loop)
    with pytest.raises(BackpropTypeError, match=r"metadata\['a'\]\[0\] contains itself"):
        io.save(small_net(), tmp_path / "model.safetensors", metadata=loop)


def test_custom_activation_refuses_to_save(tmp_path: Path) -> None:
    net = bp.Network([bp.Dense(2, (np.sin, np.cos)), bp.Dense(1)], inputs=2, seed=0)
    path = tmp_path / "model.safetensors"
    with pytest.raises(BackpropTypeError, match=r"custom activation .* cannot be written to a file"):
        io.save(net, path)
    assert not path.exists()


def test_non_finite_weights_refuse_to_save(tmp_path: Path) -> None:
    net = small_net()
    net.weights[1][0, 1] = np.nan
    with pytest.raises(DataError, match=r"cannot save: W\[2\] of layer 2 contains NaN"):
        io.save(net, tmp_path / "model.safetensors")


def test_save_expects_a_network(tmp_path: Path) -> None:
    with pytest.raises(BackpropTypeError, match="save expects a backprop Network, got list"):
        io.save([np.ones((2, 2))], tmp_path / "model.safetensors")  # type: ignore[arg-type]


class Pipeline:
    """The smallest object with ``__backprop_save__``: a network and what rebuilds the rest."""

    def __init__(self, net: Any, own: Any) -> None:
        self.net, self.own = net, own

    def __backprop_save__(self) -> tuple[bp.Network, dict[str, Any]]:
        return self.net, self.own


def test_save_stores_what_backprop_save_returns(tmp_path: Path) -> None:
    net, path = small_net(), tmp_path / "model.safetensors"
    bp.save(Pipeline(net, {"labels": ["a", "b"], "scale": np.float32(2.0)}), path, metadata={"note": "mine"})
    loaded, metadata = io.load_with_metadata(path)
    assert metadata == {"labels": ["a", "b"], "scale": 2.0, "note": "mine"}
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    # The caller's metadata may not overwrite the object's own: that is what rebuilds it.
    with pytest.raises(BackpropTypeError, match=r"metadata keys \['labels'\] are reserved for the Pipeline's own"):
        io.save(Pipeline(net, {"labels": ["a"]}), tmp_path / "other.safetensors", metadata={"labels": ["b"]})
    assert not (tmp_path / "other.safetensors").exists()
    with pytest.raises(BackpropTypeError, match=r"__backprop_save__\(\) must return a tuple \(Network, dict\)"):
        io.save(Pipeline(net, ["not", "a", "dict"]), tmp_path / "other.safetensors")
    with pytest.raises(BackpropTypeError, match="save expects a backprop Network, got str"):
        io.save(Pipeline("a network?", {}), tmp_path / "other.safetensors")


def test_inspect_reads_the_document_without_the_tensors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    net = rich_net(np.float64)
    path = tmp_path / "model.safetensors"
    io.save(net, path, metadata={"classes": [0, 1, 2]})
    # No tensor is read: inspect works even without safetensors installed.
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    info = io.inspect(path)
    assert info == {
        "format": "backprop-model",
        "format_version": 1,
        "library_version": bp.__version__,
        "network": net.config(),
        "extra": {"classes": [0, 1, 2]},
        "tensors": {"parameters": {"dtype": "float64", "shape": [net.parameters.size]}},
    }
    with pytest.raises(ImportError, match="pip install safetensors"):
        io.load(path)
    with pytest.raises(ImportError, match="pip install safetensors"):
        io.save(net, tmp_path / "other.safetensors")


# ------------------------------------------------------------ atomic writes


def only_file(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("failing", ["replace", "fsync", "write"])
def test_failed_write_leaves_previous_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = tmp_path / "model.safetensors"
    io.save(small_net(), path)
    before = path.read_bytes()

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    if failing == "write":
        real_fdopen = os.fdopen

        class FullFile:
            def __init__(self, fd: int, mode: str) -> None:
                self.file = real_fdopen(fd, mode)

            def __enter__(self) -> FullFile:
                return self

            def __exit__(self, *exc: object) -> None:
                self.file.close()

            def close(self) -> None:
                self.file.close()

            def write(self, data: bytes) -> int:
                self.file.write(data[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fdopen", FullFile)
    else:
        monkeypatch.setattr(os, failing, disk_full)

    with pytest.raises(
        SaveError,
        match=r"could not write .*model\.safetensors: No space left on device; the previous file is unchanged",
    ):
        io.save(rich_net(np.float64), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert only_file(tmp_path) == ["model.safetensors"]
    assert io.load(path).config() == small_net().config()


def test_save_error_is_an_os_error_with_errno(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(OSError) as caught:
        io.atomic_write(tmp_path / "x.bin", b"data")
    assert isinstance(caught.value, SaveError) and isinstance(caught.value, BackpropError)
    assert caught.value.errno == errno.EACCES
    assert only_file(tmp_path) == []


def test_interrupted_write_removes_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"previous")

    def interrupt(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        io.save(small_net(), path)
    assert path.read_bytes() == b"previous"
    assert only_file(tmp_path) == ["model.safetensors"]


def test_atomic_write_replaces_and_reports_bad_targets(tmp_path: Path) -> None:
    path = tmp_path / "file.bin"
    io.atomic_write(path, b"one")
    io.atomic_write(str(path), b"two")
    assert path.read_bytes() == b"two"
    assert only_file(tmp_path) == ["file.bin"]
    with pytest.raises(SaveError, match=r"could not write .*missing"):
        io.atomic_write(tmp_path / "missing" / "file.bin", b"x")
    (tmp_path / "folder").mkdir()
    with pytest.raises(SaveError, match=r"could not write .*folder"):
        io.atomic_write(tmp_path / "folder", b"x")
    assert only_file(tmp_path) == ["file.bin", "folder"]


@pytest.mark.skipif(os.name != "posix", reason="flock is POSIX's")
def test_a_write_removes_what_a_killed_writer_left(tmp_path: Path) -> None:
    # A writer killed between creating its temporary file and the rename leaves it
    # behind, unlocked; the next write of the same target removes it, and only it:
    # a file some writer still holds locked stays, whatever its name says.
    import fcntl

    old_version = tmp_path / ".file.bin.999999999-0123456789ab.tmp"  # an earlier version's writer holds no lock
    dead = tmp_path / ".file.bin.0123456789abcdef.tmp"
    alive = tmp_path / ".file.bin.fedcba9876543210.tmp"  # a live writer's: locked
    just_created = tmp_path / ".file.bin.00112233445566ff.tmp"  # empty and new: its writer may not hold it yet
    other = tmp_path / ".other.bin.999999999-0123456789ab.tmp"  # another target's
    for path in (old_version, dead, alive, other):
        path.write_bytes(b"torn")
    just_created.write_bytes(b"")
    with open(alive, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        io.atomic_write(tmp_path / "file.bin", b"new")
    assert only_file(tmp_path) == sorted(["file.bin", old_version.name, alive.name, just_created.name, other.name])


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_written_file_has_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        io.atomic_write(tmp_path / "file.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "file.bin").stat().st_mode & 0o777 == 0o644


# ------------------------------------------------------------ corrupt and hostile model files


@pytest.fixture
def good(tmp_path: Path) -> bytes:
    """The bytes of a valid float32 model file of ``small_net`` (23 parameters, 92 bytes of data)."""
    path = tmp_path / "good.safetensors"
    io.save(small_net(), path, metadata={"classes": ["a", "b"]})
    return path.read_bytes()


def expect_rejected(tmp_path: Path, raw: bytes, match: str, in_header: bool = True) -> None:
    """``load`` refuses the file with a message naming it; so does ``inspect`` if the fault is in the header."""
    path = tmp_path / "bad.safetensors"
    path.write_bytes(raw)
    with pytest.raises(ModelFileError, match=match) as caught:
        io.load(path)
    assert str(caught.value).startswith(f"{path}: ")
    if in_header:
        with pytest.raises(ModelFileError, match=match):
            io.inspect(path)


def set_in(keys: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        target = document
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


def delete(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda document: document.pop(key)


BYTE_CASES: list[tuple[str, Callable[[bytes], bytes], str]] = [
    ("empty file", lambda raw: b"", r"the file is empty \(0 bytes\)"),
    ("a few bytes", lambda raw: raw[:5], r"truncated or not a safetensors file: only 5 bytes"),
    (
        "header longer than the file",
        lambda raw: struct.pack("<Q", 5000) + b'{"a": 1}',
        r"header should have 5000 bytes, but only 8 follow",
    ),
    (
        "absurd header length",
        lambda raw: struct.pack("<Q", 2**63) + raw[8:],
        r"not a safetensors file: .*header of 9223372036854775808 bytes",
    ),
    ("PNG file", lambda raw: b"\x89PNG\r\n\x1a\n" + raw[8:], r"not a safetensors file"),
    ("header not JSON", lambda raw: join(b"{not json", b""), r"safetensors header is not valid JSON"),
    ("header not an object", lambda raw: join(b"[1, 2]", b""), r"does not start with '\{'"),
    ("header not UTF-8", lambda raw: join(b'{"\xff": 1}', b""), r"not UTF-8"),
    ("NaN in the header", lambda raw: join(b'{"x": NaN}', b""), r"NaN is not valid JSON"),
    ("huge integer in the header", lambda raw: join(b'{"x": ' + b"9" * 5000 + b"}", b""), r"not valid JSON"),
    (
        "deeply nested header",
        lambda raw: join(b"{" + b'"a":[' * 100_000 + b"]" * 100_000 + b"}", b""),
        r"not valid JSON",
    ),
    ("trailing bytes", lambda raw: raw + b"\0\0\0\0", r"tensors cover 92 bytes but the file holds 96"),
    ("no tensors, no metadata", lambda raw: join(b"{}", b""), r"not one written by backprop"),
    (
        "duplicate key",
        lambda raw: join(
            b'{"parameters": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, '
            b'"parameters": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}',
            b"",
        ),
        r"the key 'parameters' appears twice",
    ),
]


@pytest.mark.parametrize(("case", "corrupt", "match"), BYTE_CASES, ids=[case[0] for case in BYTE_CASES])
def test_broken_bytes_are_rejected(
    tmp_path: Path, good: bytes, case: str, corrupt: Callable[[bytes], bytes], match: str
) -> None:
    expect_rejected(tmp_path, corrupt(good), match)


def test_truncated_anywhere_is_rejected(tmp_path: Path, good: bytes) -> None:
    (length,) = struct.unpack("<Q", good[:8])
    cuts = [1, 7, 8, 9, 8 + length // 2, 8 + length - 1, 8 + length, 8 + length + 1, len(good) - 4, len(good) - 1]
    for cut in cuts:
        expect_rejected(tmp_path, good[:cut], r"truncated|not a safetensors file|not valid JSON")


HEADER_CASES: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    (
        "unknown dtype",
        set_in(["parameters", "dtype"], "C64"),
        r"tensor 'parameters' has dtype 'C64'; this library reads",
    ),
    (
        "integer dtype of the same size",
        set_in(["parameters", "dtype"], "I32"),
        r"tensor 'parameters' has dtype I32 but the network is float32 \(F32\)",
    ),
    ("negative dimension", set_in(["parameters", "shape"], [-23]), r"has shape \[-23\]; a shape is a list"),
    ("dimension not a number", set_in(["parameters", "shape"], ["23"]), r"has shape \['23'\]"),
    ("too many dimensions", set_in(["parameters", "shape"], [1] * 40), r"at most 32 non-negative integers"),
    (
        "offsets out of range",
        set_in(["parameters", "data_offsets"], [10**9, 10**9 + 92]),
        r"data_offsets \[1000000000, 1000000092\] outside the 92 bytes",
    ),
    ("offsets past the end", set_in(["parameters", "data_offsets"], [4, 96]), r"outside the 92 bytes of tensor data"),
    ("offsets not a pair", set_in(["parameters", "data_offsets"], [0]), r"expected \[begin, end\]"),
    (
        "offsets shorter than the shape",
        set_in(["parameters", "data_offsets"], [0, 88]),
        r"\(92 bytes\) but data_offsets \[0, 88\] span 88 bytes",
    ),
    ("tensor entry not an object", set_in(["parameters"], [1, 2]), r"exactly dtype, shape and data_offsets, got list"),
    (
        "tensor entry with extra field",
        set_in(["parameters", "device"], "cuda"),
        r"got \['data_offsets', 'device', 'dtype', 'shape'\]",
    ),
    ("tensor renamed", lambda h: h.update(weights=h.pop("parameters")), r"the file has no tensor 'parameters'"),
    (
        "extra tensor",
        set_in(["other"], {"dtype": "F32", "shape": [0], "data_offsets": [92, 92]}),
        r"unexpected tensors \['other'\]; a backprop-model file has \['parameters'\]",
    ),
    ("metadata removed", delete("__metadata__"), r"no backprop document .*not one written by backprop"),
    ("metadata value not a string", set_in(["__metadata__", "other"], 3), r"metadata must map strings to strings"),
    ("document not JSON", set_in(["__metadata__", "backprop"], "{oops"), r"the backprop document is not valid JSON"),
    (
        "document not an object",
        set_in(["__metadata__", "backprop"], "[1]"),
        r"the backprop document must be a JSON object, got list",
    ),
]


@pytest.mark.parametrize(("case", "change", "match"), HEADER_CASES, ids=[case[0] for case in HEADER_CASES])
def test_broken_headers_are_rejected(
    tmp_path: Path, good: bytes, case: str, change: Callable[[dict[str, Any]], Any], match: str
) -> None:
    expect_rejected(tmp_path, with_header(good, change), match)


def test_wrong_dtype_i64_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    io.save(small_net(np.float64), path)
    raw = with_header(path.read_bytes(), set_in(["parameters", "dtype"], "I64"))
    expect_rejected(tmp_path, raw, r"tensor 'parameters' has dtype I64 but the network is float64 \(F64\)")


def test_huge_declared_shape_is_rejected_before_allocating(tmp_path: Path, good: bytes) -> None:
    huge = with_header(
        good, set_in(["parameters"], {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4 * 10**12]})
    )
    path = tmp_path / "huge.safetensors"
    path.write_bytes(huge)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(
            ModelFileError,
            match=r"declares shape \[1000000000000\] of F32, 4000000000000 bytes, but the file holds only 92",
        ):
            io.load(path)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 1_000_000


def test_huge_architecture_is_rejected_before_allocating(tmp_path: Path, good: bytes) -> None:
    # 2**31 - 1 units twice: 4.6e18 parameters, counted in Python integers and compared with the 23-element tensor.
    n = 2**31 - 1
    layers = [{"type": "Dense", "units": n, "activation": "relu", "bias": True}] * 2
    raw = with_document(good, set_in(["network", "layers"], layers))
    count = (4 * n + n) + (n * n + n)
    assert count == 4611686027017322491
    tracemalloc.start()
    try:
        expect_rejected(tmp_path, raw, rf"implies {count} parameters, but tensor 'parameters' has shape \[23\]")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


DENSE = {"type": "Dense", "units": 2, "activation": {"name": "sigmoid"}, "bias": True}

DOCUMENT_CASES: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    (
        "format_version 999",
        set_in(["format_version"], 999),
        r"the file has format version 999, written by a newer backprop .*this library reads format version 1",
    ),
    ("format_version 0", set_in(["format_version"], 0), r"format_version must be a positive integer, got 0"),
    ("format_version a string", set_in(["format_version"], "1"), r"format_version must be a positive integer, got '1'"),
    (
        "format unknown",
        set_in(["format"], "keras"),
        r"the document's format is 'keras'; expected 'backprop-model' or 'backprop-checkpoint'",
    ),
    ("format missing", delete("format"), r"the document's format is None"),
    ("network missing", delete("network"), r"missing fields \['network'\]"),
    ("extra missing", delete("extra"), r"missing fields \['extra'\]"),
    ("unknown field", set_in(["surprise"], 1), r"unknown fields \['surprise'\]"),
    ("library_version not a string", set_in(["library_version"], 1), r"library_version must be a string, got 1"),
    ("extra not an object", set_in(["extra"], [1]), r"the document's extra must be a JSON object, got \[1\]"),
    (
        "network not an object",
        set_in(["network"], "4-3-2"),
        r"the network description must have exactly inputs, dtype and layers, got str",
    ),
    (
        "network field missing",
        lambda d: d["network"].pop("dtype"),
        r"must have exactly inputs, dtype and layers, got \['inputs', 'layers'\]",
    ),
    (
        "units -1",
        set_in(["network", "layers", 0, "units"], -1),
        r"units of layer 1 must be an integer from 1 to 2147483647, got -1",
    ),
    (
        "units a string",
        set_in(["network", "layers", 0, "units"], "3"),
        r"units of layer 1 must be an integer from 1 to 2147483647, got '3'",
    ),
    ("units a float", set_in(["network", "layers", 1, "units"], 2.0), r"units of layer 2 must be an integer .*got 2.0"),
    ("units true", set_in(["network", "layers", 1, "units"], True), r"units of layer 2 must be an integer .*got True"),
    (
        "units beyond 2**31",
        set_in(["network", "layers", 0, "units"], 2**40),
        r"units of layer 1 must be an integer .*got 1099511627776",
    ),
    ("inputs 0", set_in(["network", "inputs"], 0), r"the network's inputs must be an integer from 1 .*got 0"),
    (
        "dtype float16",
        set_in(["network", "dtype"], "float16"),
        r"the network's dtype must be 'float32' or 'float64', got 'float16'",
    ),
    ("dtype a list", set_in(["network", "dtype"], ["float32"]), r"the network's dtype must be .*got \['float32'\]"),
    ("no layers", set_in(["network", "layers"], []), r"layers must be a list of 1 to 10000 layers, got 0 layers"),
    (
        "too many layers",
        set_in(["network", "layers"], [DENSE] * 10_001),
        r"layers must be a list of 1 to 10000 layers, got 10001 layers",
    ),
    ("layers not a list", set_in(["network", "layers"], {"0": DENSE}), r"layers must be a list .*got dict"),
    (
        "layer not an object",
        set_in(["network", "layers", 0], "Dense"),
        r"layer 1 must be a Dense or Dropout layer, got str",
    ),
    (
        "unknown layer type",
        set_in(["network", "layers", 0, "type"], "Conv2D"),
        r"layer 1 must be a Dense or Dropout layer, got type 'Conv2D'",
    ),
    (
        "unknown activation",
        set_in(["network", "layers", 0, "activation"], {"name": "sigmoidd"}),
        r"layer 1 .* invalid: Unknown activation 'sigmoidd'; expected one of \['elu'",
    ),
    (
        "activation not a name",
        set_in(["network", "layers", 0, "activation"], 3),
        r"layer 1 .* invalid: an activation description must be a name",
    ),
    (
        "bad leaky_relu alpha",
        set_in(["network", "layers", 0, "activation"], {"name": "leaky_relu", "alpha": 5}),
        r"leaky_relu alpha must be a number in \[0, 1\), got alpha=5",
    ),
    (
        "unknown activation parameter",
        set_in(["network", "layers", 0, "activation"], {"name": "tanh", "code": "rm -rf"}),
        r"activation 'tanh' takes no parameters \['code'\]",
    ),
    (
        "unknown layer field",
        set_in(["network", "layers", 0, "init"], "uniform"),
        r"unknown fields \['init'\] in a Dense layer",
    ),
    (
        "bias a string",
        set_in(["network", "layers", 0, "bias"], "yes"),
        r"bias of layer 1 must be true or false, got 'yes'",
    ),
    (
        "output layer is Dropout",
        lambda d: d["network"]["layers"].append({"type": "Dropout", "rate": 0.5}),
        r"the output layer \(layer 3\) must be Dense, got Dropout",
    ),
    (
        "dropout rate 1",
        lambda d: d["network"]["layers"].insert(1, {"type": "Dropout", "rate": 1.0}),
        r"Dropout rate must be a number in \[0, 1\), got Dropout rate=1\.0",
    ),
    (
        "parameter count mismatch",
        set_in(["network", "layers", 0, "units"], 4),
        r"implies 30 parameters, but tensor 'parameters' has shape \[23\]",
    ),
    (
        "bias flag changes the count",
        set_in(["network", "layers", 1, "bias"], False),
        r"implies 21 parameters, but tensor 'parameters' has shape \[23\]",
    ),
    (
        "dtype mismatch",
        set_in(["network", "dtype"], "float64"),
        r"tensor 'parameters' has dtype F32 but the network is float64 \(F64\)",
    ),
]


@pytest.mark.parametrize(("case", "change", "match"), DOCUMENT_CASES, ids=[case[0] for case in DOCUMENT_CASES])
def test_broken_documents_are_rejected(
    tmp_path: Path, good: bytes, case: str, change: Callable[[dict[str, Any]], Any], match: str
) -> None:
    expect_rejected(tmp_path, with_document(good, change), match)


def test_softmax_hidden_layer_is_rejected_when_building(tmp_path: Path, good: bytes) -> None:
    raw = with_document(good, set_in(["network", "layers", 0, "activation"], {"name": "softmax"}))
    path = tmp_path / "bad.safetensors"
    path.write_bytes(raw)
    with pytest.raises(
        ModelFileError, match=r"network description is invalid: activation 'softmax' is for the output layer only"
    ):
        io.load(path)


def test_non_finite_parameters_are_rejected(tmp_path: Path, good: bytes) -> None:
    header, data = split(good)
    values = np.frombuffer(data, np.float32).copy()
    values[20] = np.nan  # the output layer's weights: 12 + 3 = 15 parameters before them
    expect_rejected(tmp_path, join(header, values.tobytes()), r"W\[2\] of layer 2 contains NaN", in_header=False)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        io.load(tmp_path / "nothing.safetensors")
    with pytest.raises(ModelFileError, match="not a regular file"):
        io.load(tmp_path)


def test_foreign_safetensors_file_is_rejected(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "bert.safetensors"
    save_file({"embedding": np.zeros((4, 2), np.float32)}, str(path), metadata={"format": "np"})
    with pytest.raises(ModelFileError, match="a safetensors file, but not one written by backprop"):
        io.load(path)


def test_model_file_error_is_a_value_error() -> None:
    assert issubclass(ModelFileError, ValueError) and issubclass(ModelFileError, BackpropError)
    assert issubclass(SaveError, OSError) and issubclass(SaveError, BackpropError)


# ------------------------------------------------------------ checkpoints


def training_state() -> tuple[dict[str, Any], np.random.Generator, np.random.Generator]:
    shuffle = np.random.default_rng(123)
    shuffle.random(17)
    shuffle.integers(0, 10, size=3)  # leaves has_uint32 / uinteger in use
    dropout = np.random.Generator(np.random.MT19937(7))  # its state holds a uint32 array
    dropout.random(5)
    m = np.array([0.5, -0.0, np.nan, 1e-45], np.float32)
    m.view(np.uint32)[2] = 0x7FC00123  # a NaN with a payload: must come back bit for bit
    state = {
        "epoch": 3,
        "seed": 123,
        "optimizer": {
            "name": "adam",
            "lr": 0.001,
            "betas": (0.9, 0.999),
            "step": 30,
            "m": m,
            "v": np.linspace(0, 1, 23),
            "scale": np.float32(0.1),
            "count": np.int64(-7),
            "flag": np.bool_(True),
        },
        "schedule": {"name": "plateau", "best": float("inf"), "wait": 0, "lr": None},
        "rngs": {"shuffle": shuffle.bit_generator.state, "dropout": dropout.bit_generator.state},
        "history": {"loss": [0.9, 0.5, float("nan")], "epoch": [0, 1, 2]},
        "arrays": {
            "empty": np.zeros((0, 3)),
            "scalar": np.array(2.5),
            "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
            "big_endian": np.arange(4, dtype=">f8"),
            "mask": np.array([True, False, True]),
            "ids": np.array([0, 2**64 - 1], np.uint64),
            "half": np.array([1.5, -65504], np.float16),
            "strided": np.arange(10.0)[::3],
        },
        "a.b": np.ones(2),
        "a": {"b": np.zeros(2)},  # same dotted name as the key above
        "huge": -(2**300),
        "text": "ünïcode",
    }
    return state, shuffle, dropout


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    net = rich_net(np.float64)
    state, shuffle, dropout = training_state()
    path = tmp_path / "checkpoint.safetensors"
    io.save_checkpoint(net, path, state)
    loaded_net, loaded = io.load_checkpoint(path)
    assert loaded_net.config() == net.config()
    assert np.array_equal(loaded_net.parameters, net.parameters)
    expected = {**state, "optimizer": {**state["optimizer"], "betas": [0.9, 0.999]}}  # tuples come back as lists
    assert_same(expected, loaded)
    assert loaded["rngs"]["shuffle"]["state"]["state"] > 2**64  # a 128-bit integer, exact
    assert loaded["rngs"]["shuffle"] == state["rngs"]["shuffle"]  # PCG64: plain ints, compared exactly
    # Arrays are writable copies, independent of the file.
    loaded["optimizer"]["v"][0] = 5.0
    # The generators continue exactly where the saved ones would have.
    for name, original in (("shuffle", shuffle), ("dropout", dropout)):
        restored = np.random.Generator(type(original.bit_generator)())
        restored.bit_generator.state = loaded["rngs"][name]
        assert np.array_equal(restored.random(50), original.random(50))
        assert np.array_equal(restored.integers(0, 2**40, size=9), original.integers(0, 2**40, size=9))
    # The tensors have readable names.
    tensors = io.inspect(path)["tensors"]
    assert {
        "parameters",
        "state.optimizer.m",
        "state.optimizer.v",
        "state.rngs.dropout.state.key",
        "state.a.b",
        "state.a.b~2",
    } <= set(tensors)
    assert tensors["state.optimizer.m"] == {"dtype": "float32", "shape": [4]}


def test_checkpoint_is_not_a_model_file_and_vice_versa(tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint.safetensors"
    io.save_checkpoint(small_net(), checkpoint, {"epoch": 1})
    with pytest.raises(
        ModelFileError, match=r"this is a training checkpoint, not a model file; use backprop.io.load_checkpoint"
    ):
        io.load(checkpoint)
    assert io.inspect(checkpoint)["format"] == "backprop-checkpoint"
    model = tmp_path / "model.safetensors"
    io.save(small_net(), model)
    with pytest.raises(
        ModelFileError, match=r"this is a model file, not a training checkpoint: it has no training state"
    ):
        io.load_checkpoint(model)


@pytest.mark.parametrize(
    ("state", "match"),
    [
        (
            {"optimizer": {"m": np.array(["a", "b"])}},
            r"state\['optimizer'\]\['m'\] is an array of dtype <U1; checkpoints store arrays of",
        ),
        ({"x": np.array([1 + 2j])}, r"state\['x'\] is an array of dtype complex128"),
        ({"x": np.longdouble(1)}, r"state\['x'\] is a numpy float128 scalar|state\['x'\] is a numpy longdouble"),
        ({"x": {"__tensor__": "state.y"}}, r"state\['x'\] uses the key '__tensor__', which checkpoints reserve"),
        ({"x": {"__numpy__": "float32"}}, r"uses the key '__numpy__'"),
        ({1: "one"}, r"state has the key 1; keys must be strings"),
        ({"f": lambda: 0}, r"state\['f'\] is a function"),
        ([1, 2], r"state must be a dict with string keys, got list"),
    ],
)
def test_checkpoint_state_that_cannot_be_stored_is_refused(tmp_path: Path, state: Any, match: str) -> None:
    if isinstance(state, dict) and isinstance(state.get("x"), np.longdouble) and np.dtype(np.longdouble) == np.float64:
        pytest.skip("longdouble is float64 on this platform")
    path = tmp_path / "checkpoint.safetensors"
    with pytest.raises(BackpropTypeError, match=match):
        io.save_checkpoint(small_net(), path, state)
    assert not path.exists()


@pytest.fixture
def good_checkpoint(tmp_path: Path) -> bytes:
    path = tmp_path / "good.safetensors"
    state = {
        "epoch": 2,
        "optimizer": {"m": np.arange(23, dtype=np.float32), "scale": np.int8(3)},
        "mask": np.array([True]),
    }
    io.save_checkpoint(small_net(), path, state)
    return path.read_bytes()


CHECKPOINT_CASES: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    (
        "marker to a missing tensor",
        set_in(["state", "optimizer", "m"], {"__tensor__": "state.nothing"}),
        r"refers to tensors the file lacks: \['state.nothing'\]",
    ),
    (
        "marker to the parameters",
        set_in(["state", "optimizer", "m"], {"__tensor__": "parameters"}),
        r"malformed tensor marker",
    ),
    ("marker not a string", set_in(["state", "optimizer", "m"], {"__tensor__": 3}), r"malformed tensor marker"),
    (
        "marker with extra keys",
        set_in(["state", "optimizer", "m"], {"__tensor__": "state.optimizer.m", "x": 1}),
        r"malformed tensor marker",
    ),
    (
        "tensor referenced twice",
        set_in(["state", "epoch"], {"__tensor__": "state.optimizer.m"}),
        r"refers to tensor 'state.optimizer.m' twice",
    ),
    ("tensor not referenced", set_in(["state", "optimizer", "m"], None), r"unexpected tensors \['state.optimizer.m'\]"),
    (
        "numpy scalar of an unknown dtype",
        set_in(["state", "optimizer", "scale"], {"__numpy__": "object", "value": 3}),
        r"malformed numpy scalar",
    ),
    (
        "numpy scalar of the wrong kind",
        set_in(["state", "optimizer", "scale"], {"__numpy__": "int8", "value": 3.5}),
        r"malformed numpy scalar",
    ),
    (
        "numpy scalar out of range",
        set_in(["state", "optimizer", "scale"], {"__numpy__": "int8", "value": 300}),
        r"out of bounds for int8",
    ),
    (
        "float16 scalar out of range",
        set_in(["state", "optimizer", "scale"], {"__numpy__": "float16", "value": 1e300}),
        r"overflow",
    ),
    ("state not an object", set_in(["state"], [1]), r"the document's state must be a JSON object"),
    ("state missing", delete("state"), r"missing fields \['state'\]"),
]


@pytest.mark.parametrize(("case", "change", "match"), CHECKPOINT_CASES, ids=[case[0] for case in CHECKPOINT_CASES])
def test_broken_checkpoints_are_rejected(
    tmp_path: Path, good_checkpoint: bytes, case: str, change: Callable[[dict[str, Any]], Any], match: str
) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(with_document(good_checkpoint, change))
    with pytest.raises(ModelFileError, match=match):
        io.load_checkpoint(path)


def test_checkpoint_bool_tensor_with_other_bytes_is_rejected(tmp_path: Path, good_checkpoint: bytes) -> None:
    header, data = split(good_checkpoint)
    begin = header["state.mask"]["data_offsets"][0]
    data = data[:begin] + b"\x02" + data[begin + 1 :]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(join(header, data))
    with pytest.raises(ModelFileError, match=r"tensor 'state.mask' of dtype BOOL holds bytes other than 0 and 1"):
        io.load_checkpoint(path)


def test_truncated_checkpoint_is_rejected(tmp_path: Path, good_checkpoint: bytes) -> None:
    path = tmp_path / "bad.safetensors"
    for cut in (0, 3, 100, len(good_checkpoint) // 2, len(good_checkpoint) - 1):
        path.write_bytes(good_checkpoint[:cut])
        with pytest.raises(ModelFileError, match=r"empty|truncated|not a safetensors file|not valid JSON"):
            io.load_checkpoint(path)


def test_random_corruptions_raise_only_model_file_errors(tmp_path: Path, good: bytes, good_checkpoint: bytes) -> None:
    """Flipped bytes, cuts and values of the wrong type anywhere in the header or document."""
    rng = np.random.default_rng(0)
    weird: list[Any] = [None, True, -1, 0, 2**64, 1.5, "", "F32", [], [0, 0], {}, {"a": 1}, "float32", "Dense"]
    path = tmp_path / "fuzz.safetensors"

    def places(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        found = [prefix] if prefix else []
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            found += places(item, (*prefix, key))
        return found

    for trial in range(300):
        raw, loader = (good, io.load) if trial % 2 else (good_checkpoint, io.load_checkpoint)
        kind = trial % 6 // 2
        if kind == 0:
            corrupt = bytearray(raw)
            corrupt[rng.integers(len(raw))] = rng.integers(256)
            raw = bytes(corrupt) if rng.random() < 0.7 else raw[: rng.integers(len(raw))]
        else:
            header, data = split(raw)
            document = document_of(header)
            target = header if kind == 1 else document
            where = places(target)[rng.integers(len(places(target)))]
            set_in(list(where), weird[rng.integers(len(weird))])(target)
            if kind == 2:
                header["__metadata__"]["backprop"] = json.dumps(document)
            raw = join(header, data)
        path.write_bytes(raw)
        for read in (loader, io.inspect):
            try:
                read(path)
            except ModelFileError as exc:
                assert str(exc).startswith(f"{path}: ")
