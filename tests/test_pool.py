"""The pool that shares a step's products among threads: the bits of one thread, whoever computes a block."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import select
import signal
import threading
import time
import warnings

import numpy as np
import pytest

import backprop as bp
from backprop import _pool

pytest.importorskip("numba")
pytest.importorskip("threadpoolctl")


@pytest.fixture
def pool():
    """A pool of one worker (two threads) that always shares and never sleeps (it naps), for this test alone."""
    kernels = _pool._load()
    if kernels is None:
        pytest.skip("the pool cannot run here (numba, or numpy's OpenBLAS symbols, missing)")
    # No sleep: a job left to a sleeping worker (CALLER_TAKES = 0) would wait for its safety net.
    made = _pool.Pool(1, kernels, nap_until_us=10**8, sleep_timeout=30.0)
    made.state[_pool.ADAPT] = 0
    yield made
    made.close()


def one_blas_thread():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def network(seed=0):
    return bp.Network([bp.Dense(128, "relu"), bp.Dense(96, "tanh"), bp.Dense(10, "softmax")], inputs=64, seed=seed)


def data(rows=256):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(rows, 64)).astype(np.float32)
    return X, np.eye(10, dtype=np.float32)[rng.integers(0, 10, rows)]


# ------------------------------------------------------------------ products


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("m", "k", "n"),
    [
        (128, 784, 256),  # W1's first layer: x · W cut by columns (256 > 128), or rows where only they are exact
        (100, 600, 70),  # rows, in blocks of 64 and 36 (or 48 and 52 at 24s, 48 and 52 at 12s)
        (50, 2000, 200),  # columns, in blocks of 96 and 104; or rows, 24 and 26 (12s: 24 and 26)
    ],
)
def test_every_block_done_by_the_worker_gives_numpys_bits(pool, dtype, m, k, n):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(m, k)).astype(dtype)
    W = rng.normal(size=(k, n)).astype(dtype)
    g = rng.normal(size=(m, n)).astype(dtype)
    pool.state[_pool.CALLER_TAKES] = 0  # the worker computes every block: its path, not the caller's
    with one_blas_thread():
        # The step's three products: x · W (forward), xᵀ · g (the weight gradient), g · Wᵀ (the error below).
        for a, b in [(x, W), (x.T, g), (g, W.T)]:
            out = np.full((a.shape[0], b.shape[1]), np.nan, dtype)
            before = pool.state[_pool.SHARED]
            pool.matmul(a, b, out=out)
            assert np.array_equal(out, np.matmul(a, b))
            assert pool.state[_pool.SHARED] - before == 2  # two blocks, both the worker's
    # Each shape was checked once, its cuts' blocks against the whole, and one cut found exact.
    shapes = pool.state[_pool.SHAPES : _pool.SHAPES + _pool.ROW * pool.state[_pool.SHAPES_USED]].reshape(-1, _pool.ROW)
    assert len(shapes) == 3 and (shapes[:, _pool.VERDICT] >= 1).all()


def test_a_cut_starts_its_blocks_at_multiples_of_its_unit_and_balances_them():
    kernels = _pool._load()
    if kernels is None:
        pytest.skip("the pool cannot run here")
    from backprop import _pool_kernels

    state = np.zeros(_pool.STATE_SIZE, np.int64)
    state[_pool.WORKERS] = 1  # two threads: two blocks
    # 128 rows at multiples of 32: 64 + 64; of 24: 64/24 = 2.67 units, so 3 · 24 = 72, then 56;
    # of 12: 64/12 = 5.33 units, so 5 · 12 = 60, then 68.
    for verdict, axis, unit in [(1, 0, 32), (3, 0, 24), (5, 0, 12)]:
        assert _pool_kernels.split(state, 128, 100, verdict) == (axis, unit, 2)
    assert [_pool_kernels.edge(128, 2, 32, i) for i in range(3)] == [0, 64, 128]
    assert [_pool_kernels.edge(128, 2, 24, i) for i in range(3)] == [0, 72, 128]
    assert [_pool_kernels.edge(128, 2, 12, i) for i in range(3)] == [0, 60, 128]
    # The shorter side (verdict 2: columns of 128 × 100): 100 // 32 = 3 units, two blocks; 40 columns at 32s:
    # one unit, the cut does not apply.
    assert _pool_kernels.split(state, 128, 100, 2) == (1, 32, 2)
    assert _pool_kernels.split(state, 128, 40, 2)[2] == 1
    # Three threads on 100 rows at 24s: 33.3 → 24, 66.7 → 72; blocks of 24, 48 and 28.
    state[_pool.WORKERS] = 2
    assert _pool_kernels.split(state, 100, 50, 3) == (0, 24, 3)
    assert [_pool_kernels.edge(100, 3, 24, i) for i in range(4)] == [0, 24, 72, 100]


def test_the_check_keeps_the_first_cut_whose_blocks_give_the_wholes_bits(pool, monkeypatch):
    # A BLAS whose blocks give the whole's bits only in the fifth cut (the longer side at multiples of 12), as an
    # AMD Zen's float32 blocks of rows do: the check tries the cuts in turn, and the product is cut that way.
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(128, 300)), rng.normal(size=(300, 100))
    alone = pool._k["alone"]
    tried = []

    def exact_from_the_fifth(state, left, right, out, verdict):
        tried.append(verdict)
        cut = alone(state, left, right, out, verdict)
        if verdict < 5:
            out[0, 0] = np.nextafter(out[0, 0], np.inf)
        else:  # this BLAS's whole, whatever this CPU's blocks give
            np.matmul(left, right, out=out)
        return cut

    monkeypatch.setitem(pool._k, "alone", exact_from_the_fifth)
    pool.state[_pool.CALLER_TAKES] = 0  # the worker does the blocks
    out, fifth = np.empty((128, 100)), np.empty((128, 100))
    with one_blas_thread():
        pool.matmul(a, b, out=out)
        assert alone(pool.state, a, b, fifth, 5)  # rows 0–59 and 60–127, by the caller
    assert tried == [1, 2, 3, 4, 5] and pool.state[_pool.SHAPES + _pool.VERDICT] == 5
    assert np.array_equal(out, fifth) and pool.state[_pool.SHARED] == 2  # the same two blocks, by the worker
    # The next shape of the precision tries that cut first: rows at 12s, here the shorter side (cut 6).
    tried.clear()
    wide = np.empty((100, 128))
    with one_blas_thread():
        pool.matmul(b.T.copy(), a.T.copy(), out=wide)
    assert tried == [6] and pool.state[_pool.SHAPES + _pool.ROW + _pool.VERDICT] == 6


def test_a_shape_whose_blocks_differ_from_the_whole_is_never_cut(pool, monkeypatch):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(128, 300)), rng.normal(size=(300, 256))
    # A BLAS whose blocks add in another order: the check sees other bits.
    alone = pool._k["alone"]

    def other_bits(state, left, right, out, verdict):
        cut = alone(state, left, right, out, verdict)
        out[0, 0] = np.nextafter(out[0, 0], np.inf)
        return cut

    monkeypatch.setitem(pool._k, "alone", other_bits)
    pool.state[_pool.CALLER_TAKES] = 0  # were it cut, the worker would do the blocks
    out = np.empty((128, 256))
    with one_blas_thread():
        for _ in range(2):  # checked once, then remembered
            pool.matmul(a, b, out=out)
            assert np.array_equal(out, a @ b)
    assert (
        pool.state[_pool.SHARED] == 0
        and pool.state[_pool.SHAPES + _pool.VERDICT] == 0
        and pool.state[_pool.SHAPES_USED] == 1
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_with_a_single_row_or_column_have_numpys_bits(pool, dtype):
    # A one-unit layer's error below, g · Wᵀ with W of shape (n_in, 1): a transposed view of one row, which
    # numpy calls C-contiguous and the BLAS reads as transposed. And one input's weight gradient, xᵀ · g.
    rng = np.random.default_rng(8)
    cases = []
    for m, k, n in [(256, 1, 512), (1, 256, 512), (512, 256, 1), (1000, 1, 300)]:
        for a_transposed in (False, True):
            for b_transposed in (False, True):
                a = rng.normal(size=(k, m)).astype(dtype).T if a_transposed else rng.normal(size=(m, k)).astype(dtype)
                b = rng.normal(size=(n, k)).astype(dtype).T if b_transposed else rng.normal(size=(k, n)).astype(dtype)
                cases.append((a, b))
    with one_blas_thread():
        for a, b in cases:
            for _ in range(2):  # checked, then cut or not as the check said
                out = np.full((a.shape[0], b.shape[1]), np.nan, dtype)
                pool.matmul(a, b, out=out)
                assert np.array_equal(out, np.matmul(a, b))
    assert pool.state[_pool.JOBS] > 0  # some were cut


def test_a_full_table_of_shapes_and_a_closed_pool_still_compute(pool):
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(128, 300)), rng.normal(size=(300, 256))
    out = np.empty((128, 256))
    pool.state[_pool.SHAPES_USED] = _pool.MAX_SHAPES  # no room for this shape: done whole
    pool.matmul(a, b, out=out)
    assert np.array_equal(out, a @ b) and pool.state[_pool.JOBS] == 0
    pool.state[_pool.SHAPES_USED] = 0
    pool.close()  # no worker: the caller takes every block
    pool.matmul(a, b, out=out)
    pool.matmul(a, b, out=out)
    assert np.array_equal(out, a @ b)


def test_small_or_strided_products_are_done_whole(pool):
    rng = np.random.default_rng(2)
    pool.state[_pool.CALLER_TAKES] = 0
    small = rng.normal(size=(40, 40))  # 40³ = 64,000 multiply-adds < MIN_PRODUCT
    strided = rng.normal(size=(256, 512))[:, ::2]  # no leading dimension for the BLAS
    for a, b in [(small, small), (strided, strided.T)]:
        out = np.empty((a.shape[0], b.shape[1]))
        pool.matmul(a, b, out=out)
        assert np.array_equal(out, a @ b)
    assert pool.state[_pool.SHARED] == 0 and pool.state[_pool.SHAPES_USED] == 0


# ------------------------------------------------------------------ Adam


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("saving", [True, False])
def test_adams_step_in_blocks_has_the_bits_of_one_pass(pool, dtype, saving):
    from backprop import _kernels

    adam = _kernels.get("adam")
    n = 3 * _pool.MIN_UPDATE + 5  # two blocks of whole 32s, the second shorter
    rng = np.random.default_rng(4)
    arrays = [rng.normal(size=n).astype(dtype) for _ in range(3)] + [rng.random(n).astype(dtype)]
    hyper = np.array([0.999, 0.01, 0.9, 0.1, 0.999, 0.001, 1e-8, 1e-3], dtype)
    results = []
    for shared in (False, True):
        p, g, m, v = (x.copy() for x in arrays)
        backup = np.full(n if saving else 0, np.nan, dtype)
        if shared:
            pool.state[_pool.CALLER_TAKES] = 0
            pool.adam(adam, p, g, m, v, backup, hyper, True, False)
            assert pool.state[_pool.SHARED] == 2
        else:
            adam(p, g, m, v, backup, hyper, True, False)
        results.append((p, m, v, backup))
    for one, two in zip(*results, strict=True):
        assert np.array_equal(one, two)
    if saving:
        assert np.array_equal(results[1][3], arrays[0])  # θ before the step


# ------------------------------------------------------------------ who computes


def test_a_sleeping_worker_is_woken_by_the_next_job(pool):
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(128, 200)), rng.normal(size=(200, 128))
    out = np.empty((128, 128))
    pool.state[_pool.NAP_UNTIL_NS] = _pool.NAP_UNTIL_US * 1000  # sleeps after 1 ms; its safety net: 30 s
    with one_blas_thread():
        pool.matmul(a, b, out=out)  # checks the shape
        deadline = time.monotonic() + 10
        while not pool.state[_pool.SLEEP] and time.monotonic() < deadline:  # idle past NAP_UNTIL_US: asleep
            time.sleep(0.005)
        assert pool.state[_pool.SLEEP] == 1
        shared = pool.state[_pool.SHARED]
        pool.matmul(a, b, out=out)  # the caller does this one alone, and wakes the worker
        assert pool.state[_pool.SHARED] == shared and np.array_equal(out, a @ b)
        pool.state[_pool.CALLER_TAKES] = 0
        began = time.monotonic()
        pool.matmul(a, b, out=out)  # the worker, awake, does both blocks
        assert pool.state[_pool.SHARED] == shared + 2 and np.array_equal(out, a @ b)
    assert time.monotonic() - began < 10  # woken, not found by its safety net


def test_a_pass_about_to_begin_wakes_a_sleeping_worker_unless_the_caller_works_alone(pool):
    """A job that finds a worker asleep is the caller's, and so is the rest of its compiled pass: woken first."""
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(128, 200)), rng.normal(size=(200, 128))
    out = np.empty((128, 128))
    s = pool.state
    s[_pool.NAP_UNTIL_NS] = _pool.NAP_UNTIL_US * 1000  # sleeps after 1 ms; its safety net: 30 s
    with one_blas_thread():
        pool.matmul(a, b, out=out)  # checks the shape

        def asleep():
            deadline = time.monotonic() + 10
            while not s[_pool.SLEEP] and time.monotonic() < deadline:
                time.sleep(0.005)
            return s[_pool.SLEEP] == 1

        assert asleep()
        s[_pool.NAP_UNTIL_NS] = 10**11  # once woken, it naps (100 s) instead of sleeping again
        s[_pool.ROUSE_WITHIN_NS] = 1  # the last job ended more than 1 ns ago: the fit has no jobs, it sleeps on
        pool.rouse()
        s[_pool.ROUSE_WITHIN_NS] = 10**12
        s[_pool.ADAPT], s[_pool.MODE_ALONE], s[_pool.LOOKING] = 1, 1, 0  # the caller alone: it sleeps on
        pool.rouse()
        time.sleep(0.05)
        assert s[_pool.SLEEP] == 1
        s[_pool.ADAPT] = 0  # sharing, a job 50 ms ago: woken
        pool.rouse()
        assert s[_pool.SLEEP] == 0
        s[_pool.CALLER_TAKES] = 0
        shared, began = s[_pool.SHARED], time.monotonic()
        pool.matmul(a, b, out=out)  # both blocks the worker's: awake, not found by its safety net (30 s)
        assert s[_pool.SHARED] == shared + 2 and np.array_equal(out, a @ b)
    assert time.monotonic() - began < 10


def test_each_compiled_pass_and_optimizer_step_of_a_two_thread_fit_rouses_the_pool(monkeypatch):
    roused = []
    monkeypatch.setattr(_pool.Pool, "rouse", lambda self: roused.append(self.threads))
    X, Y = data(256)
    network().fit(X, Y, epochs=1, batch_size=64, threads=2, shuffle=False, optimizer=bp.Adam(1e-2))  # 4 steps
    if _pool._pool is None:
        pytest.skip("the pool cannot run here (numba, or numpy's OpenBLAS symbols, missing)")
    assert roused == [2] * 12  # a forward pass, a backward pass and Adam's step a step


def test_after_long_blocks_a_worker_naps_a_quarter_of_their_time_before_it_sleeps():
    """The caller's block of the same job may end milliseconds after the worker's: awake for the next job."""
    kernels = _pool._load()
    if kernels is None:
        pytest.skip("the pool cannot run here (numba, or numpy's OpenBLAS symbols, missing)")
    # Naps of at least 1 ms, then sleeps; a job left to a sleeping worker waits at most 0.05 s for it.
    pool = _pool.Pool(1, kernels, nap_until_us=1000, sleep_timeout=0.05)
    rng = np.random.default_rng(6)
    small_a, small_b = rng.normal(size=(128, 200)), rng.normal(size=(200, 128))  # 3.3 M multiply-adds
    a, b = rng.normal(size=(512, 768)), rng.normal(size=(768, 512))  # 201 M: tens of milliseconds
    small_out, out = np.empty((128, 128)), np.empty((512, 512))
    s = pool.state
    s[_pool.ADAPT], s[_pool.NAP_LONGEST_NS] = 0, 10**12  # always shared; no longest nap
    with contextlib.closing(pool), one_blas_thread():
        pool.matmul(small_a, small_b, out=small_out)  # check both shapes
        pool.matmul(a, b, out=out)
        s[_pool.CALLER_TAKES] = 0  # the worker does every block
        began = time.monotonic_ns()
        pool.matmul(a, b, out=out)
        took = time.monotonic_ns() - began
        # the worker's two blocks took at most the caller's wait for them, and more than 4 ms
        assert 1_000_000 < s[_pool.NAPS_UNTIL] <= took // _pool.NAP_SHARE
        pool.matmul(small_a, small_b, out=small_out)  # short blocks: a nap of NAP_UNTIL_NS, as before
        assert s[_pool.NAPS_UNTIL] == 1_000_000
        s[_pool.NAP_LONGEST_NS] = 2_000_000
        pool.matmul(a, b, out=out)  # long blocks, a nap of at most NAP_LONGEST_NS
        assert s[_pool.NAPS_UNTIL] == 2_000_000 and np.array_equal(out, a @ b)
        deadline = time.monotonic() + 10
        while not s[_pool.SLEEP] and time.monotonic() < deadline:  # and then it sleeps
            time.sleep(0.005)
        assert s[_pool.SLEEP] == 1


def test_every_thread_of_a_new_pool_readies_the_blas_buffers_at_the_same_time(monkeypatch):
    """OpenBLAS gives each call running beside another a work buffer of its own: all of the pool's at once."""
    kernels = _pool._load()
    if kernels is None:
        pytest.skip("the pool cannot run here (numba, or numpy's OpenBLAS symbols, missing)")
    events = []

    def late_worker():  # each worker comes 0.3 s after the caller started it
        time.sleep(0.3)
        events.append(("arrived", threading.current_thread().name))

    def ready_buffers(again=False):
        events.append(("readies", threading.current_thread().name, again))

    monkeypatch.setattr(_pool, "_less_slack", late_worker)
    monkeypatch.setattr(_pool, "ready_buffers", ready_buffers)
    monkeypatch.setattr(_pool, "READY_TIMEOUT_S", 60.0)
    made = _pool.Pool(2, kernels)  # the caller and two workers
    try:
        deadline = time.monotonic() + 60
        while len(events) < 5 and time.monotonic() < deadline:
            time.sleep(0.005)
        workers = ["backprop-pool-0", "backprop-pool-1"]
        # first both workers arrive, then all three ready: the caller waited for the late workers
        assert sorted(events[:2]) == [("arrived", name) for name in workers]
        assert sorted(events[2:]) == sorted(
            [("readies", threading.current_thread().name, True)] + [("readies", name, True) for name in workers]
        )
    finally:
        made.close()


def test_holding_the_blas_at_one_thread_readies_its_buffers_once_a_thread(monkeypatch):
    from backprop import _threads

    products = []
    real = np.matmul

    def matmul(a, b, *args, **kwargs):
        if threading.current_thread().name in ("a-new-thread", "another-thread"):  # not a stray thread's
            products.append((threading.current_thread().name, a.shape, b.shape, a.dtype))
        return real(a, b, *args, **kwargs)

    monkeypatch.setattr(np, "matmul", matmul)

    def two_holds():
        with _threads.hold(1):
            pass
        with _threads.hold(1):
            pass

    thread = threading.Thread(target=two_holds, name="a-new-thread")
    thread.start()
    thread.join()
    rows, k, columns = _threads.READY_SHAPE
    # the first hold: one float32 product of 1024 columns, one float64; the second: none
    assert products == [
        ("a-new-thread", (rows, k), (k, columns), np.dtype(np.float32)),
        ("a-new-thread", (rows, k), (k, columns), np.dtype(np.float64)),
    ]
    assert columns >= 1024  # wide enough for OpenBLAS to lay its panels side by side
    products.clear()

    counts = []

    def on_two_threads():
        with _threads.hold(2) as held:
            counts.append(held)

    thread = threading.Thread(target=on_two_threads, name="another-thread")
    thread.start()
    thread.join()
    assert counts == [2] and products == []  # the BLAS's own threads: nothing readied


def test_when_sharing_does_not_pay_the_caller_does_every_block_with_the_same_bits(pool):
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(128, 300)), rng.normal(size=(300, 256))
    out = np.empty((128, 256))
    s = pool.state
    s[_pool.ADAPT] = 1
    with one_blas_thread():
        pool.matmul(a, b, out=out)  # the shape checked; a first short slice, shared
        s[_pool.CALLER_TAKES] = 0  # from here on, a shared job is the worker's alone
        # The caller alone won the last look: its slice, every block the caller's.
        s[_pool.MODE_ALONE], s[_pool.LOOKING], s[_pool.SLICE_LEFT], s[_pool.WINS] = 1, 0, 10**12, 0
        alone, shared = s[_pool.ALONE_JOBS], s[_pool.SHARED]
        for _ in range(3):
            pool.matmul(a, b, out=out)
            assert np.array_equal(out, a @ b)
        assert s[_pool.ALONE_JOBS] == alone + 3 and s[_pool.SHARED] == shared
        # The slice over, a look at sharing: the worker's blocks, timed (at the next job's start, with the
        # caller's work in between) against this shape's time alone.
        s[_pool.SLICE_LEFT] = 0
        pool.matmul(a, b, out=out)
        assert s[_pool.LOOKING] == 1 and s[_pool.SHARED] == shared + 2 and np.array_equal(out, a @ b)
        assert s[_pool.LAST_ROW] == 0 and s[_pool.LAST_LOOK] == 1 and s[_pool.LAST_ALONE] == 0
        # That first job of the look ran while the worker woke (WARMING, set when the look began): it counts
        # toward the look's length, not its time; the worker took part, so the next jobs are timed.
        assert s[_pool.LAST_WARM] == 1 and s[_pool.WARMING] == 0
        shared_ns = _pool.SHAPES + _pool.SHARED_NS  # this shape's recent time shared (row 0)
        s[_pool.SLICE_LEFT], s[shared_ns] = 10**12, 0
        pool.matmul(a, b, out=out)
        assert s[shared_ns] == 0 and s[_pool.LAST_WARM] == 0  # the warm job: not timed
        for _ in range(20):  # the job before is timed, unless the caller paused over GAP_NS in between
            pool.matmul(a, b, out=out)
            if s[shared_ns] > 0:
                break
        assert s[shared_ns] > 0

        def decide(look_ns, winner_ns):
            s[_pool.LOOK_SUM], s[_pool.WINNER_SUM], s[_pool.SLICE_LEFT] = look_ns, winner_ns, 0
            pool.matmul(a, b, out=out)
            assert np.array_equal(out, a @ b)
            return s[_pool.MODE_ALONE], s[_pool.WINS], s[_pool.SLICE_LEFT]  # the slice less this job

        # Shared 2 ms against 1 ms alone: the caller alone again, for longer (it won twice in a row), and for
        # at least LOOK_SHARE looks (this one: LOOK_NS).
        mode, wins, left = decide(2_000_000, 1_000_000)
        assert mode == 1 and wins == 1 and left >= max(2 * _pool.FIRST_SLICE_NS, _pool.LOOK_SHARE * _pool.LOOK_NS)
        # Shared within 5% of alone: not enough.
        s[_pool.LOOKING] = 1
        assert decide(1_000_000, 1_040_000)[0] == 1
        # Shared twice as fast: sharing, for a first short slice.
        s[_pool.LOOKING] = 1
        before = s[_pool.SHARED]
        mode, wins, _ = decide(1_000_000, 2_000_000)
        assert mode == 0 and wins == 0 and s[_pool.SHARED] - before == 2  # this job was the worker's


# ------------------------------------------------------------------ fit


def jobs_cut():
    """The process's pool and the jobs it has cut into blocks."""
    return _pool._pool, 0 if _pool._pool is None else int(_pool._pool.state[_pool.JOBS])


def cut_since(before):
    pool, jobs = jobs_cut()
    return jobs - (before[1] if pool is before[0] else 0)


@pytest.mark.parametrize(
    ("inputs", "layers", "loss", "dtype"),
    [
        (64, [bp.Dense(128, "relu"), bp.Dense(96, "tanh"), bp.Dense(10, "softmax")], "crossentropy", np.float32),
        (64, [bp.Dense(512, "relu"), bp.Dense(1, "sigmoid")], "binary_crossentropy", np.float32),  # one unit
        (1, [bp.Dense(512, "relu"), bp.Dense(10, "softmax")], "crossentropy", np.float32),  # one input
        (64, [bp.Dense(128, "relu"), bp.Dense(96, "tanh"), bp.Dense(10, "softmax")], "crossentropy", np.float64),
    ],
)
def test_fit_on_two_or_three_threads_gives_the_bits_of_one(inputs, layers, loss, dtype):
    if not _pool.runs_here():
        pytest.skip("the pool cannot run here")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(512, inputs))
    y = (X[:, :1] > 0).astype(float) if loss == "binary_crossentropy" else np.eye(10)[rng.integers(0, 10, 512)]
    fits = {}
    for threads in (1, 2, 3):
        net = bp.Network(copy.deepcopy(layers), inputs=inputs, seed=0, dtype=dtype)
        before = jobs_cut()
        history = net.fit(X, y, loss=loss, batch_size=256, epochs=2, seed=2, threads=threads, optimizer=bp.Adam(1e-2))
        fits[threads] = net.parameters.copy()
        assert history.threads == threads
        assert (cut_since(before) > 0) == (threads > 1)  # the pool cut the products (3 threads: a new pool)
    assert np.array_equal(fits[1], fits[2]) and np.array_equal(fits[1], fits[3])


def test_two_fits_in_two_threads_give_the_bits_of_one():
    X, y = data()
    alone = network()
    alone.fit(X, y, batch_size=64, epochs=2, seed=2, threads=1)
    nets = [network(), network()]
    errors, counts = [], []
    start = threading.Barrier(2, timeout=30)

    def train(net):
        try:
            start.wait()
            counts.append(net.fit(X, y, batch_size=64, epochs=2, seed=2, threads=2).threads)
        except Exception as error:  # reported below
            errors.append(error)

    workers = [threading.Thread(target=train, args=(net,), daemon=True) for net in nets]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not any(worker.is_alive() for worker in workers) and not errors
    # One has the pool; the other, if it ran meanwhile, did its products whole on the one BLAS thread.
    assert sorted(counts) in ([1, 2], [2, 2])
    assert all(np.array_equal(net.parameters, alone.parameters) for net in nets)


def test_while_one_fit_holds_the_pool_another_gets_none():
    first = _pool.acquire(2)
    if first is None:
        pytest.skip("the pool cannot run here")
    try:
        assert _pool.acquire(2) is None and _pool.acquire(3) is None
    finally:
        first.release()
    again = _pool.acquire(2)
    assert again is first
    again.release()
    assert _pool.acquire(1) is None  # one thread: nothing to share


def test_without_the_pool_fit_gives_the_blas_its_threads(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(_pool, "runs_here", lambda dtype=None: False)  # no numba, or another BLAS
    seen = []

    class Watch(bp.Callback):
        def on_epoch_end(self, epoch, logs):
            seen.append({lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"})

    X, y = data()
    history = network().fit(X, y, batch_size=64, epochs=1, seed=2, threads=2, callbacks=[Watch()])
    assert history.threads == 2 and seen == [{2}]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX's")
def test_a_forked_child_makes_a_pool_of_its_own():
    from backprop import _threads

    X, y = data()
    parent = network()
    parent.fit(X, y, batch_size=64, epochs=1, seed=2, threads=2)  # the parent's pool is running
    assert _threads._ready.done  # this thread readied the BLAS's buffers (the fit held it at one thread)
    read, write = os.pipe()
    with warnings.catch_warnings():
        # Python's "multi-threaded, use of fork() may lead to deadlocks", and JAX's, when an earlier test loaded it.
        warnings.simplefilter("ignore")
        child = os.fork()
    if child == 0:  # the child: no worker survived the fork; a new pool with live workers, the same bits
        try:
            signal.alarm(60)  # a deadlock ends the child, and the parent sees no answer
            forgotten = _pool._pool is None
            anew = not getattr(_threads._ready, "done", False)  # OpenBLAS's buffers in the child: its own to ready
            net = network()
            net.fit(X, y, batch_size=64, epochs=1, seed=2, threads=2)
            alive = _pool._pool is not None and all(thread.is_alive() for thread in _pool._pool._threads)
            os.write(write, bytes([forgotten, anew, alive]) + net.parameters.tobytes())
        finally:
            os._exit(0)
    os.close(write)
    received = b""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and select.select([read], [], [], 1.0)[0]:
        chunk = os.read(read, 1 << 20)
        if not chunk:
            break
        received += chunk
    os.close(read)
    os.waitpid(child, 0)
    # the parent's pool forgotten, its thread's buffers to ready anew; the child's own pool, its workers running
    assert received[:3] == bytes([1, 1, 1])
    assert np.array_equal(np.frombuffer(received[3:], parent.parameters.dtype), parent.parameters)


def test_a_fit_on_the_pool_holds_the_blas_at_one_over_a_commands_count_and_gives_it_back():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from backprop._threads import blas_control, hold

    def blas():  # the libraries the process's controller sets (not scipy's, which loading numba may add)
        known = {library.filepath for library in blas_control().select(user_api="blas").lib_controllers}
        return {lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["filepath"] in known}

    with hold(2, command=True) as command:  # `backprop train --threads 2`
        assert command == 2 and blas() == {2}
        with hold(1) as other:  # anyone else (predict, a shard task) runs with the command's count
            assert other == 2
        with hold(1, fit=True) as fit:  # a fit on the pool: the BLAS on one thread, for its bits
            assert fit == 1 and blas() == {1}
            with hold(2, fit=True) as second:  # a second fit meanwhile: the first one's count
                assert second == 1
        assert blas() == {2}  # the command's count again
        with hold(1), hold(1, fit=True) as pinned:  # a shard task holds the command's count: no fit changes it
            assert pinned == 2 and blas() == {2}


def test_backprop_train_threads_2_shares_the_products_and_gives_the_bits_of_one(tmp_path):
    from click.testing import CliRunner

    from backprop.cli import main

    rng = np.random.default_rng(7)
    X = rng.normal(size=(256, 64))
    table = tmp_path / "t.csv"
    np.savetxt(
        table,
        np.column_stack([X, X[:, 0] > 0]),
        delimiter=",",
        header=",".join([*map("x{}".format, range(64)), "y"]),
        comments="",
    )
    runs = {}
    for threads in ("1", "2"):
        out = tmp_path / f"m{threads}.safetensors"
        result = CliRunner().invoke(
            main,
            [
                "train",
                str(table),
                "--target",
                "y",
                "--hidden",
                "128,96",
                "--epochs",
                "2",
                "--batch-size",
                "64",
                "--seed",
                "3",
                "--threads",
                threads,
                "--out",
                str(out),
                "--json",
                "--quiet",
            ],
        )
        assert result.exit_code == 0, result.output
        runs[threads] = (json.loads(result.stdout)["threads"], bp.load(out).parameters)
    assert runs["1"][0] == 1 and runs["2"][0] == 2
    assert np.array_equal(runs["1"][1], runs["2"][1])


def test_a_nearly_full_table_of_shapes_is_emptied_when_a_fit_takes_the_pool():
    first = _pool.acquire(2)
    if first is None:
        pytest.skip("the pool cannot run here")
    first.state[_pool.SHAPES_USED] = _pool.MAX_SHAPES - _pool.ROOM_FOR_A_FIT + 1  # a long-lived process
    first.release()
    again = _pool.acquire(2)
    assert again is first and again.state[_pool.SHAPES_USED] == 0
    again.release()
