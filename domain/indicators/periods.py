"""Indicator periods in local time (Asia/Ho_Chi_Minh): a year, a quarter or a month.

A period is named by its label — ``2026``, ``2026-Q1``, ``2026-03`` — and runs from local
midnight of its first day to local midnight of the day after its last (exclusive). Report
cadences (how often a value is expected) use the same kinds plus ``week`` and ``day``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from domain.calendar import LOCAL_TZ, local_date

PERIOD_KINDS = ("year", "quarter", "month")
CADENCES = ("day", "week", "month", "quarter", "year")
#: Nominal length of a cadence in seconds: a report older than twice this is stale.
CADENCE_SECONDS = {
    "day": 86400.0,
    "week": 7 * 86400.0,
    "month": 31 * 86400.0,
    "quarter": 92 * 86400.0,
    "year": 366 * 86400.0,
}

_LABEL = re.compile(r"(?P<year>\d{4})(?:-Q(?P<quarter>[1-4])|-(?P<month>0[1-9]|1[0-2]))?\Z")


@dataclass(frozen=True, slots=True)
class Period:
    """One period: its kind, label, first month and local bounds (epoch seconds)."""

    kind: str
    label: str
    year: int
    first_month: int
    months: int
    start: float
    end: float

    def elapsed(self, at: float) -> float:
        """Share of the period's clock time before ``at``, in [0, 1]."""
        return min(1.0, max(0.0, (at - self.start) / (self.end - self.start)))

    def month_index(self, at: float) -> tuple[int, float]:
        """(whole months of the period before ``at``, share of the current month elapsed)."""
        if at <= self.start:
            return 0, 0.0
        if at >= self.end:
            return self.months, 0.0
        day = local_date(at)
        index = (day.year - self.year) * 12 + day.month - self.first_month
        month_start = _midnight(day.year, day.month)
        following = _midnight(day.year + day.month // 12, day.month % 12 + 1)
        return index, (at - month_start) / (following - month_start)


def _midnight(year: int, month: int) -> float:
    return datetime.combine(date(year, month, 1), time(), LOCAL_TZ).timestamp()


def _build(kind: str, year: int, first_month: int, months: int, label: str) -> Period:
    last = first_month + months  # month after the period, may be 13
    end = _midnight(year + (last - 1) // 12, (last - 1) % 12 + 1)
    return Period(kind, label, year, first_month, months, _midnight(year, first_month), end)


def parse_period(label: str, kind: str) -> Period:
    """The period named ``label``, which must be of ``kind``.

    Raises:
        ValueError: the label is not a period label, or names a period of another kind;
            the message says which label is expected.
    """
    examples = {"year": "2026", "quarter": "2026-Q1", "month": "2026-03"}
    match = _LABEL.match(label) if isinstance(label, str) else None
    if match is None:
        raise ValueError(
            f"period {str(label)[:32]!r} is not a period label; write {examples[kind]!r} (a {kind})"
        )
    year = int(match["year"])
    if not 2000 <= year <= 2099:
        raise ValueError(f"period {label!r} is outside the years 2000..2099")
    found = "quarter" if match["quarter"] else "month" if match["month"] else "year"
    if found != kind:
        raise ValueError(
            f"period {label!r} is a {found}, but this indicator is set per {kind}; "
            f"write e.g. {examples[kind]!r}"
        )
    if kind == "quarter":
        return _build(kind, year, 3 * int(match["quarter"]) - 2, 3, label)
    if kind == "month":
        return _build(kind, year, int(match["month"]), 1, label)
    return _build(kind, year, 1, 12, label)


def period_of(at: float, kind: str) -> Period:
    """The period of ``kind`` containing the instant ``at`` (local time)."""
    day = local_date(at)
    if kind == "year":
        return parse_period(f"{day.year}", kind)
    if kind == "quarter":
        return parse_period(f"{day.year}-Q{(day.month - 1) // 3 + 1}", kind)
    if kind == "month":
        return parse_period(f"{day.year}-{day.month:02d}", kind)
    raise ValueError(f"period kind {kind!r} is unknown; use one of {list(PERIOD_KINDS)}")
