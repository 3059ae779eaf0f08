"""Where an indicator will end its period: expected to date, projection from pace and trend.

Pure functions of the reports and ``now`` (docs/indicators.md has a worked example per
kind):

* **expected share** at an instant: the plan curve (cumulative share of the target by
  the end of each month, interpolated within the month), or the elapsed share of the
  period when the indicator has none;
* **pace** projection: a cumulative total ÷ the expected share at its ``as_of`` (a total
  on plan ends on target); a ratio or level as it stands;
* **trend** projection: the least-squares line through the last reports, extended to the
  period's end like Prometheus's ``predict_linear``. For a cumulative total the line is
  fitted against the expected share instead of the clock (x = plan share, extended to
  x = 1), so a back-loaded plan is not mistaken for a shortfall;
* **working days left** and the **run-rate** a unit needs per remaining working day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from domain.calendar import WorkCalendar, local_date
from domain.indicators.catalog import Assignment, Indicator
from domain.indicators.periods import Period
from domain.indicators.reports import Report


def expected_share(indicator: Indicator, period: Period, at: float) -> float:
    """Share of the period's target expected by ``at`` (0..1)."""
    if at >= period.end:
        return 1.0
    if indicator.plan is None:
        return period.elapsed(at)
    index, within = period.month_index(at)
    before = indicator.plan[index - 1] if index > 0 else 0.0
    return before + (indicator.plan[index] - before) * within


def least_squares(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """(slope, intercept) of the least-squares line through ``points``; None when the
    x values do not spread (fewer than two distinct)."""
    n = len(points)
    if n < 2:
        return None
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx <= 1e-12:
        return None
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx
    return slope, mean_y - slope * mean_x


@dataclass(frozen=True, slots=True)
class Projection:
    """What the reports say about the period's end (values in the indicator's measure)."""

    current: float
    as_of: float
    elapsed: float
    expected_share: float
    expected: float
    pace: float | None
    trend: float | None
    reports: int
    ended: bool


def project(
    assignment: Assignment, period: Period, reports: Sequence[Report], now: float
) -> Projection | None:
    """Project the period's end value from ``reports`` (sorted by ``as_of``); None if none."""
    if not reports:
        return None
    indicator, target = assignment.indicator, assignment.target
    last = reports[-1]
    ended = now >= period.end
    share_now = expected_share(indicator, period, now)
    recent = reports[-indicator.thresholds.trend_reports :]
    if indicator.kind == "cumulative":
        expected = target * share_now
        share_then = expected_share(indicator, period, last.as_of)
        pace = last.value / share_then if share_then > 0 else None
        line = least_squares([(expected_share(indicator, period, r.as_of), r.value) for r in recent])
        trend = line[0] + line[1] if line else None
    else:
        expected = target
        pace = last.value
        # Days since the period started keep the numbers small for the fit.
        line = least_squares([((r.as_of - period.start) / 86400.0, r.value) for r in recent])
        trend = line[0] * (period.end - period.start) / 86400.0 + line[1] if line else None
        if trend is not None and indicator.kind == "ratio":
            trend = min(100.0, max(0.0, trend))
    if len(recent) < indicator.thresholds.min_reports:
        trend = None
    if ended:
        pace = trend = last.value
    return Projection(
        current=last.value,
        as_of=last.as_of,
        elapsed=period.elapsed(now),
        expected_share=share_now,
        expected=expected,
        pace=pace,
        trend=trend,
        reports=len(reports),
        ended=ended,
    )


class WorkingDays:
    """Counts working days of the city calendar between dates, with prefix sums per year
    (a full re-evaluation asks this for every indicator of every unit)."""

    def __init__(self, calendar: WorkCalendar) -> None:
        self.calendar = calendar
        self._prefix: dict[int, list[int]] = {}

    def _total(self, year: int) -> int:
        """Working days in ``year``."""
        self._before_in_year(date(year, 1, 1))
        return self._prefix[year][-1]

    def _before_in_year(self, day: date) -> int:
        """Working days of ``day.year`` before ``day``."""
        prefix = self._prefix.get(day.year)
        if prefix is None:
            start = date(day.year, 1, 1).toordinal()
            end = date(day.year + 1, 1, 1).toordinal()
            prefix = [0]
            for ordinal in range(start, end):
                prefix.append(prefix[-1] + self.calendar.is_working_day(date.fromordinal(ordinal)))
            self._prefix[day.year] = prefix
        return prefix[day.toordinal() - date(day.year, 1, 1).toordinal()]

    def between(self, start: float, end: float) -> int:
        """Working days from the local day of ``start`` (counted) to the local day of ``end``
        (not counted); 0 when ``end`` is not later."""
        first, last = local_date(start), local_date(end)
        if last <= first:
            return 0
        count = 0
        for year in range(first.year, last.year + 1):
            low = first if year == first.year else date(year, 1, 1)
            if year == last.year:
                count += self._before_in_year(last) - self._before_in_year(low)
            else:
                count += self._total(year) - self._before_in_year(low)
        return count


def run_rate(
    assignment: Assignment,
    reports: Sequence[Report],
    *,
    days_left: int,
    days_elapsed: int,
) -> float | None:
    """What the unit needs per remaining working day to reach its target.

    Cumulative: the rest of the target ÷ working days left. Ratio: cases handled as
    required per working day, assuming cases keep arriving at the pace so far (so the
    period ends at the target rate). Level: None (a level has no run-rate). None also when
    the target is already reached or no working day is left.
    """
    if not reports or days_left <= 0:
        return None
    indicator, last = assignment.indicator, reports[-1]
    if indicator.kind == "cumulative":
        rest = assignment.target - last.value
        if not indicator.higher_is_better or rest <= 0:
            return None
        return rest / days_left
    if indicator.kind == "ratio" and last.numerator is not None and last.denominator is not None:
        per_day = last.denominator / max(days_elapsed, 1)
        final_cases = last.denominator + per_day * days_left
        share = assignment.target / 100.0
        if indicator.higher_is_better:
            needed = share * final_cases - last.numerator
        else:
            needed = last.numerator - share * final_cases
        return needed / days_left if needed > 0 else None
    return None
