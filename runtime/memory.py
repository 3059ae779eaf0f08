"""Return freed memory to the operating system after a bulk load.

CPython frees objects at once, but the C allocator (glibc's malloc) keeps the pages of a
freed heap for reuse and only returns what lies at its top. After a table restore, an
index rebuild or a republish of every open item, the process would keep the peak of those
transient allocations for good. ``malloc_trim(0)`` gives every whole free page back.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache


@cache
def _trim_function() -> ctypes._NamedFuncPointer | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        return None


def release_free_memory() -> bool:
    """Give free heap pages back to the OS; False where the C library cannot (not glibc)."""
    trim = _trim_function()
    if trim is None:
        return False
    trim(0)
    return True
