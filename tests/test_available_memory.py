"""backprop._memory: what an allocation may take, checked before it is made."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import backprop as bp
from backprop import _memory


@pytest.mark.parametrize(
    ("setting", "limit"),
    [("200M", 200 * 2**20), ("1.5G", 3 * 2**29), ("512k", 512 * 2**10), ("4096", 4096), ("2GiB", 2 * 2**30)],
)
def test_the_setting_lowers_the_memory_available(monkeypatch: pytest.MonkeyPatch, setting: str, limit: int) -> None:
    monkeypatch.setenv("BACKPROP_MEMORY_LIMIT", setting)
    assert _memory.available_bytes() == limit


@pytest.mark.parametrize("setting", ["lots", "-1G", "0", "1e30G"])
def test_a_bad_setting_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, setting: str) -> None:
    monkeypatch.setenv("BACKPROP_MEMORY_LIMIT", setting)
    with pytest.raises(bp.ParameterError, match=r"BACKPROP_MEMORY_LIMIT must be a"):
        _memory.available_bytes()


def test_check_allocation_names_what_asked_and_both_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKPROP_MEMORY_LIMIT", "1M")
    _memory.check_allocation(2**20, "exactly the limit")  # fits
    with pytest.raises(
        bp.MemoryLimitError, match=r"^the thing would need 1.5 MiB of memory, more than the 1 MiB available$"
    ) as caught:
        _memory.check_allocation(3 * 2**19, "the thing")
    assert isinstance(caught.value, MemoryError) and (caught.value.needed, caught.value.available) == (3 * 2**19, 2**20)
    _memory.check_large(_memory.CHECKED_FROM - 1, "small: never checked")
    with pytest.raises(bp.MemoryLimitError):
        _memory.check_large(_memory.CHECKED_FROM, "large: checked")


def test_sizes_for_messages_and_chunks() -> None:
    assert [_memory.format_bytes(n) for n in (0, 1023, 1536, 3 * 2**30, 2**50)] == [
        "0 bytes",
        "1023 bytes",
        "1.5 KiB",
        "3 GiB",
        "1.02e+03 TiB",
    ]
    assert _memory.rows_within(1000, budget=10_000) == 10
    assert _memory.rows_within(10**9, budget=10) == 1  # always at least one row


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ulimit -v and /proc")
def test_the_address_space_limit_counts_what_the_process_already_uses() -> None:
    code = "import backprop._memory as m; print(m.available_bytes(), m._address_space_used())"
    result = subprocess.run(
        ["bash", "-c", f'ulimit -v 4000000 && "{sys.executable}" -c "{code}"'],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BACKPROP_MEMORY_LIMIT": ""},
    )
    available, used = map(int, result.stdout.split())
    assert used > 0 and available <= 4_000_000 * 1024 - used
