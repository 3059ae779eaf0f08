"""Return freed memory to the operating system after a bulk load.

CPython frees objects at once, but the C allocator (glibc's malloc) keeps the pages of a
freed heap for reuse and only returns what lies at its top. After a table restore, an
index rebuild or a republish of every open item, the process would keep the peak of those
transient allocations for good. ``malloc_trim(0)`` gives every whole free page back.

The same holds for a burst of events: the item stage's batches, what they send and the
records fetched ahead of them are transient, and under a backlog they add up to a few
hundred bytes per item processed; :class:`AfterBurst` says when a stage that has just
worked through a burst is quiet again: the time to hand those pages back.
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


#: Events a stage must have handled since the last release for a quiet moment to release again...
BURST_EVENTS = 10_000
#: ...and at most this many since the previous check make the moment quiet.
QUIET_EVENTS = 100


class AfterBurst:
    """When to release free memory: the first quiet check after a burst of events.

    Args:
        events: how many events make a burst.
        quiet: at most this many events between two checks is quiet (a trickle of
            deadline ticks or live traffic, not a backlog).
    """

    def __init__(self, *, events: int = BURST_EVENTS, quiet: int = QUIET_EVENTS) -> None:
        self.events = events
        self.quiet = quiet
        self._seen = 0
        self._released = 0

    def due(self, handled: int) -> bool:
        """Whether to release now, given ``handled`` (the stage's running count of events,
        read at every check): true when it moved by at most :attr:`quiet` since the
        previous check and by at least :attr:`events` since the last release."""
        quiet = handled - self._seen <= self.quiet
        self._seen = handled
        if quiet and handled - self._released >= self.events:
            self._released = handled
            return True
        return False


def release_free_memory() -> bool:
    """Give free heap pages back to the OS; False where the C library cannot (not glibc)."""
    trim = _trim_function()
    if trim is None:
        return False
    trim(0)
    return True
