"""Report periods and the figures of a closed period: the 1022 month, the quarter, the year.

Pure: periods are arithmetic on local time (Asia/Ho_Chi_Minh), figures are arithmetic on
counters. The stream's report stage, the oracle, the web node and the CLI all use these
functions, so a report reads the same wherever it is built (docs/reports.md).

Periods (``anchor`` = day of month, hour, minute; the 1022 portal's is the 25th 12:00):

* month ``2026-11``: from the anchor in October 2026 to the anchor in November 2026 (a
  month is named by the month in which it closes);
* quarter ``2026-Q4``: the three months ``2026-10``, ``2026-11``, ``2026-12``
  (25/09 12:00 → 25/12 12:00);
* year ``2026``: the twelve months ``2026-01`` … ``2026-12`` (25/12/2025 12:00 →
  25/12/2026 12:00).

Carried-over and late-still-open figures are chains: the open items at a month's end
are those at its start plus ``opened − closed`` in it; the late open items at its end
are those at its start plus ``became_overdue + late_in − late_out − late_closed``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.calendar import LOCAL_TZ
from domain.errors import InvalidPeriod
from domain.items import COUNTERS
from domain.sketch import Sketch

DAY = 86400.0
DEFAULT_ANCHOR = (25, 12, 0)


class PeriodKind(StrEnum):
    """The three report levels."""

    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


_MONTH = re.compile(r"(\d{4})-(\d{2})\Z")
_QUARTER = re.compile(r"(\d{4})-[Qq]([1-4])\Z")
_YEAR = re.compile(r"(\d{4})\Z")


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """One report period. ``number`` is the month (1-12), the quarter (1-4), or 0 for a year."""

    kind: PeriodKind
    year: int
    number: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """Read ``2026-11`` (month), ``2026-Q4`` (quarter) or ``2026`` (year).

        Raises:
            InvalidPeriod: anything else, with the forms that are accepted.
        """
        value = text.strip() if isinstance(text, str) else ""
        if match := _MONTH.match(value):
            year, month = int(match[1]), int(match[2])
            if 1 <= month <= 12 and 2000 <= year <= 2999:
                return cls(PeriodKind.MONTH, year, month)
        elif match := _QUARTER.match(value):
            year = int(match[1])
            if 2000 <= year <= 2999:
                return cls(PeriodKind.QUARTER, year, int(match[2]))
        elif match := _YEAR.match(value):
            year = int(match[1])
            if 2000 <= year <= 2999:
                return cls(PeriodKind.YEAR, year, 0)
        raise InvalidPeriod(
            f"period {str(text)[:40]!r} is not a report period; write a month as 2026-11, "
            f"a quarter as 2026-Q4 or a year as 2026 (years 2000-2999)"
        )

    @property
    def key(self) -> str:
        if self.kind is PeriodKind.MONTH:
            return f"{self.year:04d}-{self.number:02d}"
        if self.kind is PeriodKind.QUARTER:
            return f"{self.year:04d}-Q{self.number}"
        return f"{self.year:04d}"

    def __str__(self) -> str:
        return self.key

    def months(self) -> tuple[Period, ...]:
        """The months this period is made of (itself for a month), in order."""
        if self.kind is PeriodKind.MONTH:
            return (self,)
        first, count = (3 * self.number - 2, 3) if self.kind is PeriodKind.QUARTER else (1, 12)
        return tuple(Period(PeriodKind.MONTH, self.year, first + i) for i in range(count))

    def bounds(self, anchor: tuple[int, int, int] = DEFAULT_ANCHOR) -> tuple[float, float]:
        """(start, end) epoch seconds; the end is exclusive."""
        months = self.months()
        last = months[-1]
        first = months[0]
        before = first.previous()
        return _anchor_instant(before.year, before.number, anchor), _anchor_instant(
            last.year, last.number, anchor
        )

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        if self.kind is PeriodKind.MONTH:
            return (
                Period(PeriodKind.MONTH, self.year, self.number - 1)
                if self.number > 1
                else Period(PeriodKind.MONTH, self.year - 1, 12)
            )
        if self.kind is PeriodKind.QUARTER:
            return (
                Period(PeriodKind.QUARTER, self.year, self.number - 1)
                if self.number > 1
                else Period(PeriodKind.QUARTER, self.year - 1, 4)
            )
        return Period(PeriodKind.YEAR, self.year - 1, 0)

    def next(self) -> Period:
        """The period of the same kind just after this one."""
        if self.kind is PeriodKind.MONTH:
            return (
                Period(PeriodKind.MONTH, self.year, self.number + 1)
                if self.number < 12
                else Period(PeriodKind.MONTH, self.year + 1, 1)
            )
        if self.kind is PeriodKind.QUARTER:
            return (
                Period(PeriodKind.QUARTER, self.year, self.number + 1)
                if self.number < 4
                else Period(PeriodKind.QUARTER, self.year + 1, 1)
            )
        return Period(PeriodKind.YEAR, self.year + 1, 0)

    def parent(self, kind: PeriodKind) -> Period:
        """The quarter or year a month belongs to (a month's own kind gives itself)."""
        month = self.months()[-1]
        if kind is PeriodKind.MONTH:
            return month if self.kind is PeriodKind.MONTH else self
        if kind is PeriodKind.QUARTER:
            return Period(PeriodKind.QUARTER, month.year, (month.number - 1) // 3 + 1)
        return Period(PeriodKind.YEAR, month.year, 0)


def month_of(at: float, anchor: tuple[int, int, int] = DEFAULT_ANCHOR) -> Period:
    """The report month containing the instant ``at`` (the anchor instant opens a month)."""
    local = datetime.fromtimestamp(at, LOCAL_TZ)
    year, month = local.year, local.month
    if at >= _anchor_instant(year, month, anchor):
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    return Period(PeriodKind.MONTH, year, month)


def period_of(at: float, kind: PeriodKind, anchor: tuple[int, int, int] = DEFAULT_ANCHOR) -> Period:
    """The period of ``kind`` containing ``at``."""
    return month_of(at, anchor).parent(kind)


def closed_months(after: float, until: float, anchor: tuple[int, int, int] = DEFAULT_ANCHOR) -> list[Period]:
    """Months whose end lies in ``(after, until]``, oldest first (closed by stream time)."""
    out: list[Period] = []
    month = month_of(after, anchor)
    while True:
        end = month.bounds(anchor)[1]
        if end > until:
            return out
        if end > after:
            out.append(month)
        month = month.next()


def _anchor_instant(year: int, month: int, anchor: tuple[int, int, int]) -> float:
    day, hour, minute = anchor
    return datetime(year, month, day, hour, minute, tzinfo=LOCAL_TZ).timestamp()


# -- splits ----------------------------------------------------------------------------

#: Separates a counter from the dimension it is split by: ``resolved@m:home``.
SPLIT = "@"
#: Counters split by category (``c:``), work mode (``m:``) and assignee (``a:``). Only flow
#: counters: the stock figures (carried over, late still open) belong to the unit, since an
#: item's work mode or assignee may change during its life.
SPLIT_COUNTERS = frozenset(
    {
        "received",
        "resolved",
        "resolved_on_time",
        "resolved_late",
        "became_overdue",
        "reopened",
        "transferred_in",
        "transferred_out",
        "cancelled",
    }
)
DIMENSIONS = {"c": "category", "m": "work_mode", "a": "assignee"}


def split_counters(counter: str, dims: Sequence[str], *, own: bool) -> tuple[str, ...]:
    """The split counters one count adds to besides ``counter`` itself.

    Args:
        counter: the counter counted.
        dims: the item's dimensions (:func:`domain.items.item_dims`).
        own: whether the node is the item's own unit; assignees are counted only there
            (a staff id never rolls up to the district or the city).
    """
    if counter not in SPLIT_COUNTERS:
        return ()
    return tuple(f"{counter}{SPLIT}{dim}" for dim in dims if own or not dim.startswith("a:"))


def split_figures(counts: Mapping[str, int]) -> dict[str, dict[str, Figures]]:
    """Flow figures per dimension from a report's counters:
    ``{"work_mode": {"home": Figures, …}, "category": {…}, "assignee": {…}}``."""
    grouped: dict[tuple[str, str], dict[str, int]] = {}
    for name, value in counts.items():
        counter, sep, dim = name.partition(SPLIT)
        if not sep:
            continue
        prefix, _, label = dim.partition(":")
        kind = DIMENSIONS.get(prefix)
        if kind is None:
            continue
        grouped.setdefault((kind, label), {})[counter] = int(value)
    out: dict[str, dict[str, Figures]] = {}
    for (kind, label), cell in sorted(grouped.items()):
        out.setdefault(kind, {})[label] = month_figures(cell, None, Chain())
    return out


# -- figures ---------------------------------------------------------------------------

#: The counters a month's figures are made of: all of an item's (domain.items.COUNTERS).
REPORT_COUNTERS = COUNTERS


@dataclass(frozen=True, slots=True)
class Formula:
    """How a rate is computed, in both languages (shown on hover and in the exports)."""

    vi: str
    en: str


FORMULAS: Mapping[str, Formula] = {
    "on_time_rate": Formula(
        vi="Tỉ lệ đúng hạn (QĐ 766) = số đã giải quyết đúng hạn hoặc trước hạn ÷ số đã giải quyết trong kỳ",
        en="On-time rate (QĐ 766) = resolved on time or early ÷ resolved in the period",
    ),
    "late_rate": Formula(
        vi="Tỉ lệ trễ hạn (QĐ 766) = (số trễ hạn còn tồn cuối kỳ + số đã giải quyết trễ hạn) "
        "÷ (số tiếp nhận trong kỳ + số tồn kỳ trước chuyển sang)",
        en="Late rate (QĐ 766) = (late still open at the period's end + resolved late) "
        "÷ (received in the period + carried over)",
    ),
    "avg_days": Formula(
        vi="Thời gian xử lý trung bình (ngày làm việc) = trung bình thời gian làm việc từ khi đơn vị nhận "
        "đến khi giải quyết, không tính thời gian tạm dừng; 1 ngày = giờ hành chính của một ngày làm việc",
        en="Average handling time (working days) = mean working time from the unit's receipt to "
        "resolution, pauses excluded; 1 day = the office hours of a working day",
    ),
    "p90_days": Formula(
        vi="Thời gian xử lý P90 (ngày làm việc) = 90 % hồ sơ được giải quyết trong số ngày làm việc này "
        "hoặc ít hơn",
        en="Handling time P90 (working days) = 90 % of resolved items took this many working days or fewer",
    ),
}


@dataclass(frozen=True, slots=True)
class Figures:
    """Final figures of one unit in one period.

    ``open_at_end`` and ``late_open`` end the chains (the next month starts from them).
    """

    received: int = 0
    carried_over: int = 0
    resolved: int = 0
    on_time: int = 0
    late: int = 0
    late_open: int = 0
    open_at_end: int = 0
    transferred_in: int = 0
    transferred_out: int = 0
    reopened: int = 0
    cancelled: int = 0
    became_overdue: int = 0
    avg_days: float | None = None
    p90_days: float | None = None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.resolved if self.resolved else None

    @property
    def late_rate(self) -> float | None:
        denominator = self.received + self.carried_over
        return (self.late_open + self.late) / denominator if denominator else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in self.__dataclass_fields__}
        out["on_time_rate"] = self.on_time_rate
        out["late_rate"] = self.late_rate
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Figures:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


@dataclass(frozen=True, slots=True)
class Chain:
    """What a month starts from: open items and late open items at the previous month's end."""

    open: int = 0
    late_open: int = 0


def month_figures(counts: Mapping[str, int], work: Sketch | None, start: Chain) -> Figures:
    """A month's figures from its counters, its handling times (a sketch of working days)
    and the chain it starts from."""

    def c(name: str) -> int:
        return int(counts.get(name, 0))

    avg, p90 = handling_days(work)
    return Figures(
        received=c("received"),
        carried_over=start.open,
        resolved=c("resolved"),
        on_time=c("resolved_on_time"),
        late=c("resolved_late"),
        late_open=start.late_open + c("became_overdue") + c("late_in") - c("late_out") - c("late_closed"),
        open_at_end=start.open + c("opened") - c("closed"),
        transferred_in=c("transferred_in"),
        transferred_out=c("transferred_out"),
        reopened=c("reopened"),
        cancelled=c("cancelled"),
        became_overdue=c("became_overdue"),
        avg_days=avg,
        p90_days=p90,
    )


def handling_days(work: Sketch | None) -> tuple[float | None, float | None]:
    """(mean, p90) of a sketch of handling times in working days, within its 1 %."""
    if work is None or work.count == 0:
        return None, None
    total = sum(work.value_of(key) * count for key, count in work.bins.items())
    return total / work.count, work.quantile(0.9) or 0.0


def combine(
    months: Sequence[tuple[Mapping[str, int], Sketch | None, Figures]],
) -> tuple[dict[str, int], Sketch, Figures]:
    """A quarter's or year's counters, sketch and figures from its months, in order.

    Counters and sketches add up; carried over is the first month's, the open and late open
    figures are the last month's.
    """
    counts: dict[str, int] = {}
    sketch = Sketch()
    for month_counts, month_sketch, _ in months:
        for name, value in month_counts.items():
            counts[name] = counts.get(name, 0) + int(value)
        if month_sketch is not None:
            sketch.merge(month_sketch)
    first, last = months[0][2], months[-1][2]
    figures = month_figures(counts, sketch, Chain(first.carried_over, 0))
    figures = Figures(**{**_fields(figures), "late_open": last.late_open, "open_at_end": last.open_at_end})
    return counts, sketch, figures


def _fields(figures: Figures) -> dict[str, Any]:
    return {name: getattr(figures, name) for name in Figures.__dataclass_fields__}


# -- report records --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """One revision of one unit's report for one month (the value kept on ``gov.reports``).

    ``revision`` starts at 1 when the month closes and grows with every change after it
    (late events); ``as_of`` is when the revision was made (the worker's clock).
    """

    unit: str
    period: str
    start: float
    end: float
    revision: int
    as_of: float
    figures: Figures
    counts: Mapping[str, int] = field(default_factory=dict)
    #: Handling times in working days (a sketch: quarters and years merge their months').
    work: Sketch = field(default_factory=Sketch)
    late_events: int = 0

    @property
    def key(self) -> str:
        return report_key(self.unit, self.period)

    def content(self) -> tuple[Any, ...]:
        """What a revision is about (a new revision is made only when this changes)."""
        return (
            self.figures,
            tuple(sorted((k, v) for k, v in self.counts.items() if v)),
            self.work.to_json(),
            self.late_events,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "period": self.period,
            "start": self.start,
            "end": self.end,
            "revision": self.revision,
            "as_of": self.as_of,
            "figures": self.figures.to_json(),
            "counts": {k: v for k, v in sorted(self.counts.items()) if v},
            "work": self.work.to_json(),
            "late_events": self.late_events,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Report:
        """Inverse of :meth:`to_json`.

        Raises:
            KeyError, TypeError, ValueError: not a report record.
        """
        return cls(
            unit=str(data["unit"]),
            period=Period.parse(str(data["period"])).key,
            start=float(data["start"]),
            end=float(data["end"]),
            revision=int(data["revision"]),
            as_of=float(data["as_of"]),
            figures=Figures.from_json(data["figures"]),
            counts={str(k): int(v) for k, v in dict(data.get("counts", {})).items()},
            work=Sketch.from_json(data.get("work")),
            late_events=int(data.get("late_events", 0)),
        )


def report_key(unit: str, period: str) -> str:
    """Key of a report on ``gov.reports`` and in the reports table: ``UNIT|PERIOD``."""
    return f"{unit}|{period}"


def month_chain(previous: Report | None) -> Chain:
    """Where a month starts, from the previous month's report (none: nothing was open)."""
    if previous is None:
        return Chain()
    return Chain(previous.figures.open_at_end, previous.figures.late_open)


def aggregate(period: Period, months: Sequence[Report]) -> Report | None:
    """A quarter's or year's report from its months' latest revisions (None if none closed).

    The revision of an aggregate is the sum of its months' revisions minus their number
    plus one: it grows whenever one of them is revised.
    """
    if not months:
        return None
    if period.kind is PeriodKind.MONTH:
        return months[0]
    ordered = sorted(months, key=lambda r: r.start)
    counts, sketch, figures = combine([(r.counts, r.work, r.figures) for r in ordered])
    return Report(
        unit=ordered[0].unit,
        period=period.key,
        start=ordered[0].start,
        end=ordered[-1].end,
        revision=sum(r.revision for r in ordered) - len(ordered) + 1,
        as_of=max(r.as_of for r in ordered),
        figures=figures,
        counts=counts,
        work=sketch,
        late_events=sum(r.late_events for r in ordered),
    )


def build_month_reports(
    counters: Mapping[tuple[str, float], Mapping[str, int]],
    work: Mapping[tuple[str, float], Sketch],
    *,
    units: Iterable[str],
    months: Sequence[Period],
    anchor: tuple[int, int, int] = DEFAULT_ANCHOR,
    as_of: float = 0.0,
) -> dict[str, Report]:
    """Reports of ``months`` (consecutive, oldest first) for ``units`` from period-window
    counters and handling-time sketches (working days) keyed ``(unit, window start)``: the
    reference computation (the oracle)."""
    out: dict[str, Report] = {}
    for unit in units:
        previous: Report | None = None
        for month in months:
            start, end = month.bounds(anchor)
            counts = counters.get((unit, start), {})
            sketch = work.get((unit, start))
            figures = month_figures(counts, sketch, month_chain(previous))
            previous = Report(
                unit, month.key, start, end, 1, as_of, figures, dict(counts), sketch or Sketch()
            )
            out[previous.key] = previous
    return out
