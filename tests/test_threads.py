"""A table's columns on several threads: the same bits, notes and errors as one column after another."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from backprop.errors import DataError
from backprop.tabular import Frame, prepare_training, preprocess, threads
from backprop.tabular.scan import BLOCK, Moments


@pytest.fixture
def two_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every table large enough for threads, and two of them, whatever this machine has."""
    monkeypatch.setattr(threads, "PARALLEL_CELLS", 0)
    monkeypatch.setattr(threads, "workers", lambda: 2)


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "workers", lambda: 1)


def test_each_column_keeps_the_order_and_raises_the_first_error(two_threads: None) -> None:
    names: set[str] = set()
    barrier = threading.Barrier(2, timeout=10)

    def square(k: int) -> int:
        names.add(threading.current_thread().name)
        if k < 2:
            barrier.wait()  # the first two items run at the same time: on two threads
        return k * k

    assert threads.each_column(square, range(5), cells=10) == [0, 1, 4, 9, 16]
    assert len(names) == 2 and all(name.startswith("backprop-columns") for name in names)

    def fails(k: int) -> int:
        if k in (1, 3):
            raise DataError(f"column {k}")
        return k

    # Item 3 may fail first on its thread; the error is item 1's, as a loop would raise it.
    with pytest.raises(DataError, match=r"^column 1$"):
        threads.each_column(fails, range(5), cells=10)


def test_small_work_stays_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "workers", lambda: 2)
    where = threads.each_column(lambda _: threading.current_thread(), range(3), cells=threads.PARALLEL_CELLS - 1)
    assert where == [threading.current_thread()] * 3


def test_little_memory_keeps_the_work_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each thread needs room for its C heap (64 MiB of address space) and its share: 2 × 256 MiB here.
    monkeypatch.setattr(threads, "workers", lambda: 2)
    here = [threading.current_thread()] * 3
    monkeypatch.setattr(threads, "available_bytes", lambda: 500 * 2**20)
    assert threads.each_column(lambda _: threading.current_thread(), range(3), cells=1 << 30) == here
    monkeypatch.setattr(threads, "available_bytes", lambda: 600 * 2**20)
    assert threads.each_column(lambda _: threading.current_thread(), range(3), cells=1 << 30) != here


def table(n: int) -> Frame:
    rng = np.random.default_rng(4)
    colour = np.empty(n, dtype=object)
    colour[:] = rng.choice(["red", "green", "blue"], size=n).tolist()
    numbers = [rng.normal(10.0 * j, 1.0 + j, size=n) for j in range(5)]
    numbers[2][rng.random(n) < 0.05] = np.nan  # filled with the mean
    label = np.empty(n, dtype=object)
    label[:] = rng.choice(["a", "b"], size=n).tolist()
    names = ["colour", *(f"x{j}" for j in range(5)), "label"]
    return Frame(source="t.csv", names=names, columns=[colour, *numbers, label])


def prepared(frame: Frame) -> list[np.ndarray]:  # type: ignore[type-arg]
    result = prepare_training(frame, impute="mean", seed=2)
    return [result.X_train, result.X_test, result.y_train, result.y_test]


def test_two_threads_give_the_bits_and_notes_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = table(3 * BLOCK + 11)  # several blocks of statistics per column
    monkeypatch.setattr(threads, "workers", lambda: 1)
    alone = prepared(frame)
    pre = prepare_training(frame, impute="mean", seed=2).preprocessor
    new = table(50)
    new.columns[0][[4, 9]] = ["indigo", "teal"]  # categories not seen in training: a note
    notes_alone: list[str] = []
    pre.transform(new, notes=notes_alone)
    monkeypatch.setattr(threads, "PARALLEL_CELLS", 0)
    monkeypatch.setattr(threads, "workers", lambda: 2)
    for got, expected in zip(prepared(frame), alone, strict=True):
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == expected.dtype
    notes: list[str] = []
    pre.transform(new, notes=notes)
    assert notes == notes_alone and len(notes) == 1 and "2 rows with categories not seen in training" in notes[0]


def test_the_first_bad_column_is_named_on_two_threads(two_threads: None) -> None:
    n = 2 * preprocess.BLOCK_ROWS + 10
    frame = table(n)
    pre = prepare_training(frame, impute="mean", seed=2).preprocessor
    frame.columns[1][n - 3] = np.inf  # x0, in the second part of the rows
    frame.columns[4][3] = np.inf  # x3, in the first
    with pytest.raises(DataError, match=rf"column 'x0' holds infinite values \(row {n - 3}\)"):
        pre.transform(frame)


def test_moments_keep_a_copy_of_what_they_hold(one_thread: None) -> None:
    buffer = np.array([1.0, 2.0, 4.0])
    moments = Moments(block=BLOCK)
    moments.add(buffer)  # less than a block: held until more values come
    buffer[:] = 1000.0  # the caller reuses its buffer
    # mean = 7/3, variance = ((1-7/3)² + (2-7/3)² + (4-7/3)²) / 3 = 14/9
    assert moments.result() == pytest.approx((7 / 3, 14 / 9))


def test_the_blocked_path_gives_the_column_wise_bits(two_threads: None, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 3 * preprocess.BLOCK_ROWS + 5  # several blocks in each of two parts
    frame = table(n)
    rng = np.random.default_rng(9)
    days = rng.integers(0, 20_000, n).astype("datetime64[D]").astype("datetime64[us]")
    days[rng.random(n) < 0.01] = np.datetime64("NaT")
    frame.names.insert(1, "day")
    frame.columns.insert(1, days)
    pre = prepare_training(frame, impute="mean", seed=2).preprocessor
    new = table(n)
    new.names.insert(1, "day")
    new.columns.insert(1, days)
    new.columns[0][[5, n - 7, n - 2]] = ["indigo", "teal", "indigo"]  # unseen: in both parts
    rows = np.union1d(rng.choice(n, n // 2, replace=False), [5, n - 7, n - 2])  # the unseen rows among them
    assert preprocess._sources(pre.features, new) is not None  # every column takes the blocked path
    blocked_notes: list[str] = []
    blocked = pre.transform(new, notes=blocked_notes, rows=rows)
    monkeypatch.setattr(preprocess, "_sources", lambda features, frame: None)  # column by column
    column_notes: list[str] = []
    np.testing.assert_array_equal(blocked, pre.transform(new, notes=column_notes, rows=rows))
    assert blocked_notes == column_notes and "3 rows with categories not seen" in blocked_notes[0]
    whole_notes: list[str] = []
    pre.transform(new, notes=whole_notes)
    assert whole_notes == [
        "t.csv: column 'colour' has 3 rows with categories not seen in training ('indigo', 'teal'); "
        "their one-hot inputs are all 0"
    ]
