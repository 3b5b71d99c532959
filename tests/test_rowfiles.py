"""Training and predicting from a matrix on disk read by rows (RowFile): the bits of the array in memory."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop import _kernels, rowfiles
from backprop.errors import BackpropTypeError, DataError, MemoryLimitError, ParameterError, ShapeError
from backprop.rowfiles import BatchReader, RowFile, read_rows

ACCESS = ["pread", "mmap"]


def saved(folder: Path, array: Any, name: str = "X.npy") -> Path:
    path = folder / name
    np.save(path, array)
    return path


@pytest.fixture(params=[True, False], ids=["compiled", "numpy"])
def compiled(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    """Both ways: numba's kernels (the training step's and the file gather), and none (BACKPROP_NUMBA=0)."""
    if request.param:
        pytest.importorskip("numba")
        assert _kernels.enabled() and _kernels.read_rows_kernel() is not None
    else:
        monkeypatch.setattr(_kernels, "_kernels", {})  # as with BACKPROP_NUMBA=0
        monkeypatch.setattr(_kernels, "_file_kernel", None)
        monkeypatch.setattr(_kernels, "_file_kernel_tried", True)
        assert not _kernels.enabled() and _kernels.read_rows_kernel() is None
    yield request.param


# ---------------------------------------------------------------- the same bits as in memory

RNG = np.random.default_rng(7)
X_ALL = RNG.standard_normal((301, 6)).astype(np.float32)
X_ALL[:, 0] *= 3.0
LABELS = (X_ALL[:, 0] + X_ALL[:, 1] > 0).astype(np.float32)
CLASSES = np.digitize(X_ALL[:, 2], [-0.5, 0.5])
TARGETS = np.stack([X_ALL[:, 0] - X_ALL[:, 3], X_ALL[:, 4] * 0.5], axis=1)
WEIGHTS = RNG.uniform(0.1, 3.0, 301)


def classifier(dtype: Any = np.float32) -> bp.Network:
    layers = [bp.Dense(9, "relu"), bp.Dropout(0.3), bp.Dense(1, "sigmoid")]
    return bp.Network(layers, inputs=6, seed=3, dtype=dtype)


def regressor() -> bp.Network:
    return bp.Network([bp.Dense(8, "tanh"), bp.Dense(2)], inputs=6, seed=4)


def softmax() -> bp.Network:
    return bp.Network([bp.Dense(10, "relu"), bp.Dense(3, "softmax")], inputs=6, seed=5)


#: name → (network, targets, fit's arguments); "X_val" in the arguments is the validation file's rows.
CONFIGS: dict[str, tuple[Callable[[], bp.Network], Any, dict[str, Any]]] = {
    "dropout-validation-adam": (
        classifier,
        LABELS,
        {"loss": "binary_crossentropy", "optimizer": "adam", "validation": 0.2, "batch_size": 16},
    ),
    "sample-weight-l2-clip": (
        regressor,
        TARGETS,
        {"optimizer": bp.SGD(0.05, momentum=0.9), "sample_weight": WEIGHTS, "l2": 1e-3, "clip_norm": 1.0},
    ),
    "class-weight-validation-set": (
        softmax,
        CLASSES,
        {"loss": "crossentropy", "optimizer": "adam", "class_weight": "balanced", "validation": "file"},
    ),
    "float64-network-full-batch": (
        lambda: classifier(np.float64),
        LABELS,
        {"loss": "binary_crossentropy", "batch_size": None, "validation": 0.3},
    ),
    "unshuffled-batch-1": (regressor, TARGETS, {"shuffle": False, "batch_size": 1, "epochs": 1}),
}


def trained(make: Callable[[], bp.Network], X: Any, X_val: Any, y: Any, arguments: dict[str, Any]) -> tuple[Any, ...]:
    net = make()
    arguments = {"epochs": 3, **copy.deepcopy(arguments)}  # an optimizer of its own each run
    if arguments.get("validation") == "file":
        arguments["validation"] = (X_val, y[250:])
        y = y[:250]
    history = net.fit(X, y, seed=11, **arguments)
    logs = {key: values for key, values in history.history.items() if key != "seconds"}
    return net.parameters.tobytes(), logs, net.predict(X).tobytes(), net.predict(X_val).tobytes()


@pytest.mark.parametrize("access", ACCESS)
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_fit_on_a_row_file_gives_the_bits_of_the_array(tmp_path: Path, name: str, access: str, compiled: bool) -> None:
    make, y, arguments = CONFIGS[name]
    train = X_ALL if arguments.get("validation") != "file" else X_ALL[:250]
    path, val_path = saved(tmp_path, train), saved(tmp_path, X_ALL[250:], "X_val.npy")
    expected = trained(make, np.load(path), np.load(val_path), y, arguments)
    with RowFile(path, access=access) as X, RowFile(val_path, access=access) as X_val:
        assert X.access == access
        got = trained(make, X, X_val, y, arguments)
    assert got[0] == expected[0]  # the parameters, bit for bit
    assert got[1] == expected[1]  # the history: losses, metrics, validation, gradient norms
    assert got[2:] == expected[2:]  # predict reads the rows in chunks by slices


def test_a_float64_file_trains_a_float32_network_as_its_array_does(tmp_path: Path, compiled: bool) -> None:
    path = saved(tmp_path, X_ALL.astype(np.float64) * 1.1)  # values float32 rounds
    arguments = {"loss": "binary_crossentropy", "validation": 0.2}
    expected = trained(classifier, np.load(path), np.load(path)[:5], LABELS, arguments)
    with RowFile(path) as X:
        assert trained(classifier, X, X[:5], LABELS, arguments) == expected


def test_loss_and_gradients_read_a_row_file_whole(tmp_path: Path) -> None:
    path = saved(tmp_path, X_ALL)
    net = regressor()
    with RowFile(path, access="pread") as X:
        assert net.loss(X, TARGETS) == net.loss(X_ALL, TARGETS)
        for (dW, db), (dW_mem, db_mem) in zip(net.gradients(X, TARGETS), net.gradients(X_ALL, TARGETS), strict=True):
            assert np.array_equal(dW, dW_mem) and np.array_equal(db, db_mem)


class Rows:
    """The protocol alone: shape, dtype and take, no __array__ and no slices (a reader of one's own)."""

    def __init__(self, array: np.ndarray[Any, Any]) -> None:
        self.array, self.shape, self.dtype, self.sizes = array, array.shape, array.dtype, []

    def take(self, rows: Any, axis: int = 0, out: Any = None, mode: str = "raise") -> Any:
        self.sizes.append(len(rows))
        return self.array.take(rows, axis=axis, out=out, mode=mode)


def test_any_object_with_shape_dtype_and_take_trains_without_conversion() -> None:
    make, y, arguments = CONFIGS["dropout-validation-adam"]
    source = Rows(X_ALL)
    assert trained(make, source, Rows(X_ALL[:20]), y, arguments) == trained(make, X_ALL, X_ALL[:20], y, arguments)
    # Read whole in one chunk by fit's check of the values, predict's and predict itself; its 61 validation
    # rows each epoch; the 240 others in batches of 16, three epochs.
    assert sorted(source.sizes) == sorted([301] * 3 + [61] * 3 + [16] * 45)


# ---------------------------------------------------------------- reading rows: both paths, numpy's semantics


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_gather_and_the_python_reads_give_the_same_bytes(tmp_path: Path, dtype: Any) -> None:
    pytest.importorskip("numba")
    array = np.random.default_rng(0).standard_normal((500, 13)).astype(dtype)
    array[7] = [np.nan, -0.0, np.inf, -np.inf, 5e-324 if dtype == np.float64 else 1e-45, *range(8)]
    path = saved(tmp_path, array)
    rows = np.concatenate(
        [np.arange(40, 90), [7, 7, 499, 0, 1, 2, 498, 499], np.random.default_rng(1).integers(0, 500, 300)]
    ).astype(np.intp)
    with RowFile(path, access="pread") as X:
        outputs = []
        for use_kernel in (True, False):
            out = np.full((rows.shape[0], 13), 99, dtype)
            read_rows(X._fd, X.start, X.row_bytes, rows, out, compiled=use_kernel)
            outputs.append(out.tobytes())
    assert _kernels.read_rows_kernel() is not None
    assert outputs[0] == outputs[1] == array[rows].tobytes()


@pytest.mark.parametrize("access", ACCESS)
def test_take_and_indexing_are_numpys(tmp_path: Path, access: str, compiled: bool) -> None:
    array = np.arange(40, dtype=np.float64).reshape(8, 5)
    with RowFile(saved(tmp_path, array), access=access) as X:
        assert (X.shape, X.dtype, X.ndim, len(X)) == ((8, 5), np.float64, 2, 8)
        for rows in ([3, 1, 1, 7], [[0, 2], [5, 4]], 6, -1, np.array([], np.intp), np.uint64([7, 0])):
            assert np.array_equal(X.take(rows, axis=0), array.take(rows, axis=0)), rows
        for mode in ("clip", "wrap"):
            assert np.array_equal(X.take([-9, 3, 20], mode=mode), array.take([-9, 3, 20], axis=0, mode=mode))
        out = np.empty((3, 5))
        assert X.take([2, 3, 4], out=out) is out and np.array_equal(out, array[2:5])
        strided = np.zeros((3, 10))[:, ::2]  # not contiguous: read aside, then copied in
        assert np.array_equal(X.take([4, 0, 4], out=strided), array[[4, 0, 4]])
        mask = np.arange(8) % 3 == 0
        for key in (
            2,
            -3,
            slice(None),
            slice(2, 6),
            slice(6, 2),
            slice(None, None, -3),
            [5, 1],
            mask,
            (slice(1, 4), 2),
        ):
            assert np.array_equal(X[key], array[key]), key
        assert np.array_equal(np.asarray(X), array)


def test_row_reads_check_their_arguments(tmp_path: Path) -> None:
    with RowFile(saved(tmp_path, np.zeros((4, 3), np.float32)), access="pread") as X:
        with pytest.raises(ParameterError, match=r"row 4 is out of range for .*X\.npy, which has 4 rows"):
            X.take([0, 4])
        with pytest.raises(ParameterError, match="row -5 is out of range"):
            X.take([-5])
        with pytest.raises(ParameterError, match="read by rows, axis=0; got axis=1"):
            X.take([0], axis=1)
        with pytest.raises(BackpropTypeError, match="row numbers must be integers, got dtype float64"):
            X.take([0.5])
        with pytest.raises(
            ShapeError, match=r"out must have shape \(2, 3\) and dtype float32.*got shape \(2, 3\) and dtype float64"
        ):
            X.take([0, 1], out=np.empty((2, 3)))
        with pytest.raises(ParameterError, match="mode must be 'raise', 'clip' or 'wrap'"):
            X.take([0], mode="nearest")
    with pytest.raises(ParameterError, match="the RowFile is closed"):
        X.take([0])
    X.close()  # twice: harmless


def test_a_row_file_is_not_pickled_and_reads_whole_only_what_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RowFile(saved(tmp_path, np.zeros((100, 30))), access="pread") as X:
        with pytest.raises(BackpropTypeError, match="cannot be pickled"):
            pickle.dumps(X)
        with pytest.raises(BackpropTypeError, match="cannot be pickled"):
            copy.deepcopy(X)
        monkeypatch.setenv("BACKPROP_MEMORY_LIMIT", "20K")
        with pytest.raises(
            MemoryLimitError, match=r"reading the whole of .*X\.npy \(\(100, 30\)\) into memory would need 23.4 KiB"
        ):
            np.asarray(X)


# ---------------------------------------------------------------- files refused, naming the file


def write_header(path: Path, header: dict[str, Any], data: bytes) -> Path:
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(file, header)
        file.write(data)
    return path


def test_files_that_are_not_a_c_order_float_matrix_are_refused(tmp_path: Path) -> None:
    def refused(path: Path, match: str) -> None:
        with pytest.raises(DataError, match=match):
            RowFile(path)

    refused(tmp_path / "absent.npy", r"absent\.npy: cannot open the file: No such file")
    refused(
        saved(tmp_path, np.zeros((3, 2), np.int32), "ints.npy"),
        r"ints\.npy holds dtype <i4; a RowFile reads float32 or float64: convert",
    )
    refused(saved(tmp_path, np.zeros((3, 2), ">f4"), "big.npy"), r"big\.npy holds dtype >f4.* in the other byte order")
    refused(saved(tmp_path, np.asfortranarray(np.zeros((3, 2))), "f.npy"), r"f\.npy is in Fortran order")
    refused(
        saved(tmp_path, np.zeros(5), "v.npy"), r"v\.npy holds an array of shape \(5,\); a RowFile reads a 2-D matrix"
    )
    objects = np.empty((2, 2), object)
    objects[:] = [[1, "a"], [None, 2.5]]
    np.save(tmp_path / "o.npy", objects, allow_pickle=True)
    refused(tmp_path / "o.npy", r"o\.npy holds Python objects")
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    refused(tmp_path / "t.csv", r"t\.csv is not a \.npy file that numpy can read")
    whole = saved(tmp_path, np.ones((10, 4), np.float32), "short.npy").read_bytes()
    (tmp_path / "short.npy").write_bytes(whole[:-1])
    refused(tmp_path / "short.npy", r"short\.npy declares shape \(10, 4\) of float32 \(160 bytes\), but only 159 bytes")
    header = {"descr": "<f8", "fortran_order": False, "shape": (-2, 3)}
    refused(
        write_header(tmp_path / "neg.npy", header, b""), r"neg\.npy declares shape \(-2, 3\), with a negative dimension"
    )
    # A column vector in Fortran order is the same bytes as in C order.
    with RowFile(saved(tmp_path, np.asfortranarray(np.arange(3.0)[:, None]), "col.npy")) as X:
        assert np.array_equal(X[:], [[0.0], [1.0], [2.0]])


@pytest.mark.parametrize("use_kernel", [True, False])
def test_a_file_truncated_while_open_is_an_error_naming_it(tmp_path: Path, use_kernel: bool) -> None:
    path = saved(tmp_path, np.ones((100, 4), np.float32))
    with RowFile(path, access="pread") as X:
        os.truncate(path, X.start + 50 * X.row_bytes)
        out = np.empty((3, 4), np.float32)
        with pytest.raises(
            DataError,
            match=r"X\.npy ends at byte 928, before byte 1120 its header promises: truncated while it was open",
        ):
            rows = np.array([1, 60, 61], np.intp)
            read_rows(X._fd, X.start, X.row_bytes, rows, out, where=X.where, compiled=use_kernel)
        with pytest.raises(DataError, match="truncated while it was open"):
            X[40:60]


# ---------------------------------------------------------------- reading the next batch ahead


def reader_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "backprop-rows"]


@pytest.fixture
def grid(tmp_path: Path) -> Iterator[RowFile]:
    """Row r of this file is [r, r + 0.5]: a batch says which rows it holds."""
    pytest.importorskip("numba")
    values = np.arange(40, dtype=np.float32)[:, None] + np.array([0.0, 0.5], np.float32)
    with RowFile(saved(tmp_path, values), access="pread") as X:
        yield X


def test_a_batch_reader_gives_the_rows_asked_for_whatever_it_read_ahead(grid: RowFile) -> None:
    with BatchReader(grid, np.empty((4, 2), np.float32)) as reader:
        assert reader.reads_ahead
        first = reader.take(np.array([5, 1, 39, 0]), following=np.array([7, 8]))
        assert np.array_equal(first[:, 0], [5, 1, 39, 0])
        assert reader_threads()  # started by the first read ahead
        assert np.array_equal(reader.take(np.array([7, 8]), following=np.array([2, 3]))[:, 1], [7.5, 8.5])
        # A guess that was wrong, one out of range, then none: the rows asked for, read when asked.
        assert np.array_equal(reader.take(np.array([3, 2]), following=np.array([40]))[:, 0], [3, 2])
        assert np.array_equal(reader.take(np.array([-1, 9]))[:, 0], [39, 9])
        assert np.array_equal(reader.take(np.arange(6))[:, 0], np.arange(6))  # more than the buffer: a new array
        with pytest.raises(ParameterError, match=r"row 40 is out of range for .*X\.npy, which has 40 rows"):
            reader.take(np.array([40]))
    assert not reader_threads()  # closed: the thread has ended
    assert np.array_equal(reader.take(np.array([11]), following=np.array([12]))[:, 0], [11])  # read here, no thread
    assert not reader_threads()


def test_the_rows_read_ahead_are_those_of_the_guess_when_it_was_made(grid: RowFile) -> None:
    order = np.array([4, 5, 6, 7])
    with BatchReader(grid, np.empty((2, 2), np.float32)) as reader:
        reader.take(order[:2], following=order[2:])
        order[2:] = [30, 31]  # the caller's array changes after the guess: what was read ahead is a copy
        assert np.array_equal(reader.take(np.array([6, 7]))[:, 0], [6, 7])
        assert np.array_equal(reader.take(np.array([30, 31]))[:, 0], [30, 31])


def test_a_read_ahead_that_fails_is_the_next_takes_error_naming_the_file(grid: RowFile) -> None:
    with BatchReader(grid, np.empty((2, 2), np.float32)) as reader:
        reader.take(np.array([0, 1]), following=np.array([30, 35]))
        reader.take(np.array([0, 1]))  # not the guess: the read ahead is waited for and dropped
        os.truncate(grid.path, grid.start + 32 * grid.row_bytes)
        reader.take(np.array([0, 1]), following=np.array([30, 35]))  # row 35 (bytes 408-416) is past the end now
        with pytest.raises(DataError, match=r"X\.npy ends at byte 384, before byte 416 its header promises"):
            reader.take(np.array([30, 35]))


def test_closing_the_file_ends_its_readers_threads(grid: RowFile) -> None:
    reader = grid.batch_reader(np.empty((3, 2), np.float32))
    reader.take(np.array([0, 1, 2]), following=np.array([3, 4, 5]))  # a read in flight, never asked for
    grid.close()
    assert not reader_threads()
    with pytest.raises(ParameterError, match="the RowFile is closed"):
        reader.take(np.array([3, 4, 5]))


def test_without_a_thread_or_for_large_batches_every_batch_is_read_when_asked_for(
    grid: RowFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    with monkeypatch.context() as patch:
        patch.setattr(threading.Thread, "start", refused)
        reader = BatchReader(grid, np.empty((2, 2), np.float32))
        assert np.array_equal(reader.take(np.array([1, 2]), following=np.array([3, 4]))[:, 0], [1, 2])
        assert not reader.reads_ahead
        assert np.array_equal(reader.take(np.array([3, 4]))[:, 0], [3, 4])
    monkeypatch.setattr(rowfiles, "PREFETCH_BYTES", 15)  # two rows of 8 bytes are more
    assert not BatchReader(grid, np.empty((2, 2), np.float32)).reads_ahead
    with pytest.raises(ShapeError, match=r"must be a writeable C-contiguous array of shape \(batch, 2\) and dtype"):
        BatchReader(grid, np.empty((2, 3), np.float32))


class _Interrupt(bp.Callback):
    def on_batch_end(self, batch: int, logs: dict[str, float]) -> None:
        if batch == 3:
            raise KeyboardInterrupt


@pytest.mark.parametrize("interrupted", [False, True])
def test_fit_reads_batches_ahead_and_its_thread_ends_with_it(grid: RowFile, interrupted: bool) -> None:
    y = np.arange(40, dtype=np.float32)
    seen: list[int] = []
    original = BatchReader.take

    def take(self: BatchReader, rows: Any, following: Any = None) -> Any:
        seen.append(len(reader_threads()))
        return original(self, rows, following)

    net, expected = regressor_of(2), regressor_of(2)
    expected.fit(np.load(grid.path), y, batch_size=8, epochs=2, seed=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BatchReader, "take", take)
        if interrupted:
            with pytest.raises(KeyboardInterrupt):
                net.fit(grid, y, batch_size=8, epochs=2, seed=1, callbacks=[_Interrupt()])
        else:
            net.fit(grid, y, batch_size=8, epochs=2, seed=1)
            assert np.array_equal(net.parameters, expected.parameters)
    assert seen[0] == 0 and max(seen) == 1  # one thread, from the first batch's read ahead
    assert not reader_threads()


def regressor_of(inputs: int) -> bp.Network:
    return bp.Network([bp.Dense(5, "tanh"), bp.Dense(1)], inputs=inputs, seed=4)


def test_the_values_of_a_row_file_are_checked_as_an_arrays_are(tmp_path: Path) -> None:
    array = X_ALL.copy()
    array[[120, 5, 300], [4, 2, 0]] = [np.nan, np.inf, np.nan]
    path = saved(tmp_path, array)
    with pytest.raises(DataError) as in_memory:
        classifier().fit(array, LABELS, loss="binary_crossentropy")
    assert "X contains infinity (3 non-finite values, first at row 5, column 2)" in str(in_memory.value)
    with RowFile(path) as X, pytest.raises(DataError) as on_disk:
        classifier().fit(X, LABELS, loss="binary_crossentropy")
    assert str(on_disk.value) == str(in_memory.value)
    with RowFile(path) as X, pytest.raises(DataError) as predicted:
        classifier().predict(X)
    assert str(predicted.value) == "X contains infinity (3 non-finite values, first at row 5, column 2)"
    # Values float32 cannot hold: the same message as for the array.
    wide = X_ALL.astype(np.float64)
    wide[77, 1] = -1e39
    with pytest.raises(DataError) as in_memory:
        classifier().fit(wide, LABELS)
    with RowFile(saved(tmp_path, wide, "wide.npy")) as X, pytest.raises(DataError) as on_disk:
        classifier().fit(X, LABELS)
    assert str(on_disk.value) == str(in_memory.value)
    assert "X has values beyond the range of float32 (largest magnitude 1e+39)" in str(on_disk.value)


def test_a_row_file_written_finite_is_not_read_for_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = saved(tmp_path, X_ALL)
    sizes: list[int] = []
    original = RowFile.take
    monkeypatch.setattr(
        RowFile, "take", lambda self, rows, *args, **kw: sizes.append(len(rows)) or original(self, rows, *args, **kw)
    )
    with RowFile(path, finite=True) as X:
        classifier().fit(X, LABELS, loss="binary_crossentropy", epochs=1, batch_size=100)
    assert sizes == [100, 100, 100, 1]  # the batches alone
    sizes.clear()
    with RowFile(path, finite=False) as X:
        classifier().fit(X, LABELS, loss="binary_crossentropy", epochs=1, batch_size=100)
    assert sizes == [301, 100, 100, 100, 1]  # the check read the file first, in one chunk


# ---------------------------------------------------------------- larger than the address space

LIMIT_MIB = 64

CHILD = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    import backprop as bp
    from backprop.rowfiles import RowFile

    big, warm, y_path, out, limit_mib = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])

    def vm(key):
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) << 10 for line in status if line.startswith(key + ":"))

    def train(path, y):
        net = bp.Network([bp.Dense(16, "relu"), bp.Dense(1, "sigmoid")], inputs=1000, seed=2)
        with RowFile(path) as X:
            net.fit(X, y, loss="binary_crossentropy", optimizer="adam", batch_size=256, validation=0.1, seed=9)
            return net, net.predict(X), X.access

    y = np.load(y_path)
    if limit_mib == 0:  # the reference: the array in memory, no limit, the same BLAS threads
        net = bp.Network([bp.Dense(16, "relu"), bp.Dense(1, "sigmoid")], inputs=1000, seed=2)
        X = np.load(big)
        net.fit(X, y, loss="binary_crossentropy", optimizer="adam", batch_size=256, validation=0.1, seed=9)
        np.save(out, np.concatenate([net.parameters, net.predict(X)[:, 0]]))
        sys.exit(0)
    # A first run over more rows than a chunk loads every module, kernel and buffer the big one uses:
    # fixed costs, unrelated to the number of rows.
    train(warm, y[:10_000])
    base = vm("VmSize")
    resource.setrlimit(resource.RLIMIT_AS, (base + (limit_mib << 20),) * 2)
    net, predicted, access = train(big, y)
    print("read by", access)
    np.save(out, np.concatenate([net.parameters, predicted[:, 0]]))
    try:
        RowFile(big, access="mmap")  # the control: the file cannot be mapped under the same limit
    except bp.errors.DataError:
        print("mapping refused")
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc/self/status are Linux")
def test_training_on_a_file_three_times_the_address_space_left_matches_memory(tmp_path: Path) -> None:
    pytest.importorskip("resource")
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50_000, 1000), dtype=np.float32)  # 200 MB
    y = (X[:, 0] - X[:, 1] > 0).astype(np.float32)
    big, warm = saved(tmp_path, X, "big.npy"), saved(tmp_path, X[:10_000], "warm.npy")
    y_path = saved(tmp_path, y, "y.npy")
    del X
    # One BLAS thread: a thread pool reserves address space per core, a cost of the machine, not of the rows.
    # The bits depend on the number of BLAS threads: the reference in memory runs in a child as well.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    outputs = []
    for limit in (LIMIT_MIB, 0):
        out = tmp_path / f"child{limit}.npy"
        result = subprocess.run(
            [sys.executable, "-c", CHILD, str(big), str(warm), str(y_path), str(out), str(limit)],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append(np.load(out))
        if limit:
            assert "read by pread" in result.stdout and "mapping refused" in result.stdout, result.stdout
    assert np.array_equal(outputs[0], outputs[1])  # parameters and predictions: the bits of the array in memory
