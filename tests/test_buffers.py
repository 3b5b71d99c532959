"""The large buffers of a step start at distinct offsets within a 4 KiB page (see backprop._buffers)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backprop as bp
from backprop import _buffers, _fast


def _page_offset(array: np.ndarray) -> int:
    return int(array.ctypes.data) % 4096


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_slots_start_on_distinct_cache_lines_of_the_page(dtype: type) -> None:
    # Slot k starts k · 448 bytes into a page: 448 = 7 · 64 is coprime to the page's 64
    # lines, so slots 0..63 take every line once: 0, 448, 896, ..., 63 · 448 mod 4096.
    arrays = [_buffers.empty((100, 50), dtype, slot) for slot in range(64)]
    offsets = [_page_offset(a) for a in arrays]
    assert offsets[:3] == [0, 448, 896]
    assert sorted(offsets) == list(range(0, 4096, 64))
    for a in arrays:
        assert a.shape == (100, 50) and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable


def test_small_arrays_and_fill() -> None:
    small = _buffers.empty(10, np.float32, slot=3)  # 40 bytes: left to the allocator
    assert small.shape == (10,) and small.flags.owndata
    filled = _buffers.full(5000, 0.25, np.float64, slot=2)
    assert _page_offset(filled) == 896
    np.testing.assert_array_equal(filled, np.full(5000, 0.25))


def test_a_step_reads_and_writes_its_buffers_at_distinct_offsets(monkeypatch: pytest.MonkeyPatch) -> None:
    # θ, g, Adam's m and v, and fit's backup of θ: one pass over all five each step.
    pytest.importorskip("numba")
    monkeypatch.setenv("BACKPROP_NUMBA", "1")  # the compiled step (and its backup) however short the fit
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((256, 64), dtype=np.float32), rng.integers(0, 4, 256)
    net = bp.Network([bp.Dense(64, "relu"), bp.Dense(4, "softmax")], inputs=64, seed=0)
    optimizer = bp.Adam(1e-2)
    backups: list[np.ndarray] = []
    whole_step = _fast.WholeStep.of  # fit's step in one call, given the backup of θ it saves each step

    def spy(step: Any, inputs: Any, targets: Any, norms: Any, backup: np.ndarray) -> Any:
        backups.append(backup)
        return whole_step(step, inputs, targets, norms, backup)

    monkeypatch.setattr(_fast.WholeStep, "of", spy)
    net.fit(X, y, epochs=1, batch_size=64, optimizer=optimizer, loss="crossentropy", seed=0)
    m, v = optimizer._buffers["exp_avg"], optimizer._buffers["exp_avg_sq"]
    buffers = [net.parameters, net.gradient, m, v, backups[0]]
    assert len({_page_offset(b) for b in buffers}) == 5

    # A restored optimizer places its state the same way (resuming is as fast as training).
    restored = bp.Adam(1e-2)
    restored.load_state_dict(optimizer.state_dict())
    placed = restored._buffers
    assert [_page_offset(placed["exp_avg"]), _page_offset(placed["exp_avg_sq"])] == [_page_offset(m), _page_offset(v)]
    np.testing.assert_array_equal(placed["exp_avg_sq"], v)


def test_small_pages_turns_numpys_huge_pages_off_and_back() -> None:
    toggle = np._core.multiarray._set_madvise_hugepage  # returns the setting it replaces
    before = toggle(True)
    try:
        with _buffers.small_pages():
            assert toggle(False) is False  # off inside
            with _buffers.small_pages():  # nested: still off, and off again after
                assert toggle(False) is False
            assert toggle(False) is False
        assert toggle(True) is True  # on again after the block
        with pytest.raises(ZeroDivisionError), _buffers.small_pages():
            1 / 0  # noqa: B018
        assert toggle(True) is True  # restored after an error too
    finally:
        toggle(before)


def test_a_buffer_of_4_mib_or_more_is_made_under_small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    # numpy advises huge pages for its arrays of 4 MiB or more; a fit's first step touches its
    # buffers all at once, which small pages make cheaper here (see _buffers.small_pages).
    toggle = np._core.multiarray._set_madvise_hugepage
    seen: list[tuple[int, bool]] = []
    real_empty = np.empty

    def spying_empty(shape: Any, dtype: Any = float) -> np.ndarray:
        huge = toggle(False)  # numpy's setting at this call (set back at once)
        toggle(huge)
        seen.append((int(np.prod(shape)), huge))
        return real_empty(shape, dtype)

    before = toggle(True)
    try:
        monkeypatch.setattr(_buffers.np, "empty", spying_empty)
        big = _buffers.empty(5 << 18, np.float32, _buffers.GRADIENT)  # 5 MiB
        small = _buffers.empty(1 << 18, np.float32, _buffers.GRADIENT)  # 1 MiB: numpy does not advise it anyway
        assert toggle(True) is True  # numpy's own setting is back
    finally:
        toggle(before)
    assert big.shape == (5 << 18,) and small.shape == (1 << 18,)
    assert seen == [((5 << 20) + 4096, False), ((1 << 20) + 4096, True)]
