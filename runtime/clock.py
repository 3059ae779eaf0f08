"""Injected time.

Logic never reads the system clock; it receives ``now`` (epoch seconds, UTC) or a
:class:`Clock`. Live processes use :class:`WallClock`; demos and replays use an
:class:`AcceleratedClock` shared by every process of the stack (same origin and
speed); tests use :class:`ManualClock`. A :class:`FixedClock` pins time, which makes
"process this backlog as of instant T" reproducible.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of the current instant."""

    @property
    def speed(self) -> float:
        """Clock seconds that pass per real second (1 for the wall clock)."""
        ...

    def now(self) -> float:
        """Return the current instant as epoch seconds (UTC)."""
        ...


class WallClock:
    """The real time of this machine."""

    speed = 1.0

    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "WallClock()"


class AcceleratedClock:
    """Time that runs ``speed`` times faster than real time from a shared origin.

    Args:
        start: clock instant (epoch seconds) at the real instant ``origin``.
        origin: real epoch seconds at which the clock reads ``start``.
        speed: clock seconds per real second.
    """

    def __init__(self, *, start: float, origin: float, speed: float) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.start = start
        self.origin = origin
        self._speed = speed

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        return self.start + (time.time() - self.origin) * self._speed

    def __repr__(self) -> str:
        return f"AcceleratedClock(start={self.start}, origin={self.origin}, speed={self._speed})"


class FixedClock:
    """A clock that always reads the same instant."""

    speed = 0.0

    def __init__(self, at: float) -> None:
        self.at = at

    def now(self) -> float:
        return self.at

    def __repr__(self) -> str:
        return f"FixedClock({self.at})"


class ManualClock:
    """A clock moved by hand, for tests."""

    speed = 1.0

    def __init__(self, at: float = 0.0) -> None:
        self.at = at

    def now(self) -> float:
        return self.at

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` and return the new instant."""
        self.at += seconds
        return self.at

    def set(self, at: float) -> None:
        """Jump to ``at`` (forwards or backwards)."""
        self.at = at

    def __repr__(self) -> str:
        return f"ManualClock({self.at})"
