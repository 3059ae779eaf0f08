"""Counter windows aligned to local time (Asia/Ho_Chi_Minh), assigned by event time.

Fixed-size windows (``5m``, ``1h``) are aligned to local midnight, ``1d`` is the local
day, and ``period`` is the monthly reporting period (the 1022 portal reports from the
25th 12:00 to the next 25th 12:00). A window is identified by its kind and its start
instant (epoch seconds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time

from domain.calendar import LOCAL_TZ
from domain.durations import parse_duration
from domain.errors import ConfigError

DAY = 86400.0
#: Asia/Ho_Chi_Minh has been UTC+7 without daylight saving since 1975, which lets
#: window starts be plain arithmetic on the hot path (checked at import below).
LOCAL_OFFSET = 7 * 3600.0
_offset = datetime(2000, 1, 1, tzinfo=LOCAL_TZ).utcoffset()
assert _offset is not None and _offset.total_seconds() == LOCAL_OFFSET


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """One kind of window.

    Args:
        name: ``"5m"``, ``"1h"``, ``"1d"``, ``"period"`` …
        size: length in seconds for fixed-size windows; ``None`` for ``period``.
        retention: windows that ended longer ago than this (stream time) are removed.
        period_anchor: (day of month, hour, minute) for ``period`` windows.
        grace: how long after its end a window still takes events (stream time); None =
            the store's default (``GOVPULSE_WINDOW_GRACE``). Report months use
            ``GOVPULSE_REPORT_GRACE``: a late event revises the closed month's report.
    """

    name: str
    size: float | None
    retention: float
    period_anchor: tuple[int, int, int] = (25, 12, 0)
    grace: float | None = None

    def start(self, at: float) -> float:
        """Start of the window of this kind that contains ``at``."""
        if self.size is not None:
            return at - (at + LOCAL_OFFSET) % self.size
        return _period_start(at, self.period_anchor)

    def end(self, start: float) -> float:
        """End (exclusive) of the window that starts at ``start``."""
        if self.size is not None:
            return start + self.size
        return _period_start(start + 32 * DAY, self.period_anchor)

    def previous(self, start: float) -> float:
        """Start of the window before the one starting at ``start``."""
        if self.size is not None:
            return start - self.size
        return _period_start(start - 1.0, self.period_anchor)


def window_specs(
    names: Sequence[str],
    retention: Mapping[str, float],
    *,
    period_anchor: tuple[int, int, int] = (25, 12, 0),
    period_grace: float | None = None,
) -> tuple[WindowSpec, ...]:
    """Build window specs from setting values (``GOVPULSE_WINDOWS`` etc.).

    Raises:
        ConfigError: a fixed size does not divide a day, or a name is unknown.
    """
    specs: list[WindowSpec] = []
    for name in names:
        if name == "period":
            size: float | None = None
        elif name == "1d":
            size = DAY
        else:
            size = parse_duration(name, name=f"window {name!r}")
            if size <= 0 or DAY % size:
                raise ConfigError(
                    f"window {name!r} must divide a day evenly (e.g. 5m, 15m, 1h, 6h) "
                    f"so that windows align to local midnight"
                )
        grace = period_grace if name == "period" else None
        specs.append(WindowSpec(name, size, retention.get(name, 30 * DAY), period_anchor, grace))
    return tuple(specs)


_PERIOD_CACHE: dict[tuple[tuple[int, int, int], int], float] = {}


def _period_start(at: float, anchor: tuple[int, int, int]) -> float:
    # Period boundaries fall on whole minutes; cache by local minute (hot path).
    minute_index = int((at + LOCAL_OFFSET) // 60)
    cached = _PERIOD_CACHE.get((anchor, minute_index))
    if cached is None:
        if len(_PERIOD_CACHE) > 100_000:
            _PERIOD_CACHE.clear()
        cached = _PERIOD_CACHE[(anchor, minute_index)] = _compute_period_start(at, anchor)
    return cached


def _compute_period_start(at: float, anchor: tuple[int, int, int]) -> float:
    day, hour, minute = anchor
    local = datetime.fromtimestamp(at, LOCAL_TZ)
    candidate = datetime.combine(local.date().replace(day=day), time(hour, minute), LOCAL_TZ)
    if candidate.timestamp() > at:
        year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
        candidate = datetime.combine(
            local.date().replace(year=year, month=month, day=day), time(hour, minute), LOCAL_TZ
        )
    return candidate.timestamp()
