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
