"""Giving freed heap pages back to the operating system."""

from __future__ import annotations

import ctypes.util
import platform

import pytest

from runtime import memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_on_glibc_free_memory_is_returned() -> None:
    blocks = [bytearray(64 * 1024) for _ in range(200)]
    del blocks

    assert memory.release_free_memory() is True


def test_without_malloc_trim_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    memory._trim_function.cache_clear()
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libnot-a-libc.so.0")
    try:
        assert memory.release_free_memory() is False
    finally:
        memory._trim_function.cache_clear()


# -- when: the first quiet check after a burst ----------------------------------------------


@pytest.mark.parametrize(
    ("counts", "released"),
    [
        pytest.param([0, 0, 0], [False, False, False], id="nothing handled"),
        pytest.param([5_000, 9_999, 9_999], [False, False, False], id="quiet before a whole burst"),
        pytest.param([6_000, 12_000, 12_000], [False, False, True], id="quiet after a burst"),
        pytest.param([6_000, 12_000, 12_050], [False, False, True], id="a trickle is quiet"),
        pytest.param([6_000, 12_000, 12_101], [False, False, False], id="still busy"),
        pytest.param([12_000, 12_000, 12_000, 12_050], [False, True, False, False], id="once per burst"),
        pytest.param(
            [12_000, 12_000, 20_000, 22_000, 22_000], [False, True, False, False, True], id="next burst"
        ),
    ],
)
def test_after_burst_releases_at_the_first_quiet_check_after_a_burst(
    counts: list[int], released: list[bool]
) -> None:
    after = memory.AfterBurst(events=10_000, quiet=100)

    assert [after.due(count) for count in counts] == released
