"""A simulated year of indicator reports for a catalog, with its ground truth.

Every reported (not derived) indicator of every unit gets a hidden **performance**: most
units end close to their target (a few percent either side), about one in six falls
clearly short (half of those are on plan for the first half of the period and then slide),
and a few over-deliver. Its reports follow the plan curve (so
disbursement is back-loaded and revenue dips at Tết, as the packaged catalog's plans
say) scaled by that performance, with month-to-month noise; ratios are reported as
growing numerators and denominators; levels drift from where they start to where they
end. About one unit in ten lags: its reports arrive one to three weeks late and it skips
some months. The **truth** says, for every indicator of every unit and period, the final
value and whether it ends below target — what the bench compares the colours with.

Pure and seeded: the same catalog, year and seed give the same reports.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time

import orjson

from domain.calendar import LOCAL_TZ, format_instant
from domain.indicators.catalog import Assignment, IndicatorCatalog
from domain.indicators.periods import Period, parse_period
from domain.indicators.projection import expected_share
from domain.indicators.rows import row_key

#: Share of (indicator, unit) pairs that fall clearly short, and of lagging units.
SHORT_SHARE = 0.16
LAGGING_SHARE = 0.10


@dataclass(frozen=True, slots=True)
class SimulatedReport:
    """One report: when it is sent (epoch seconds), its key (unit) and JSON value."""

    sent_at: float
    key: bytes
    value: bytes


@dataclass(slots=True)
class IndicatorTruth:
    """What really happened: per ``CODE|UNIT|PERIOD``, the final value and the target."""

    year: int
    final: dict[str, tuple[float, float, str]] = field(default_factory=dict)

    def below(self, key: str) -> bool:
        """Whether the record ``key`` ended its period below (or, lower-is-better, above) target."""
        value, target, direction = self.final[key]
        return value < target if direction == "higher" else value > target

    def to_json(self) -> dict[str, object]:
        return {"year": self.year, "final": {k: list(v) for k, v in sorted(self.final.items())}}


def _end_of(day: date) -> float:
    """17:00 local on ``day`` (the instant a monthly report is dated)."""
    return datetime.combine(day, time(17, 0), LOCAL_TZ).timestamp()


def _periods(kind: str, year: int) -> list[Period]:
    if kind == "year":
        return [parse_period(str(year), kind)]
    if kind == "quarter":
        return [parse_period(f"{year}-Q{q}", kind) for q in range(1, 5)]
    return [parse_period(f"{year}-{m:02d}", kind) for m in range(1, 13)]


def _report_days(assignment: Assignment, period: Period) -> list[float]:
    """The instants (as_of) reports are due in ``period``: the last day of each cadence."""
    cadence = assignment.indicator.cadence
    step = {"month": 1, "quarter": 3, "year": 12}.get(cadence)
    if step is None:  # day/week cadences: report monthly in the simulation
        step = 1
    out = []
    for month in range(period.first_month + step - 1, period.first_month + period.months, step):
        last = date(period.year + month // 13, (month - 1) % 12 + 1, 1)
        following = date(last.year + last.month // 12, last.month % 12 + 1, 1)
        out.append(_end_of(date.fromordinal(following.toordinal() - 1)))
    return out


def simulate_year(
    catalog: IndicatorCatalog, *, year: int, seed: int = 2026
) -> tuple[list[SimulatedReport], IndicatorTruth]:
    """Reports of every reported indicator of every unit for ``year``, sorted by the
    instant they are sent, and the truth."""
    rng = random.Random(seed)
    lagging = {u.code for u in catalog.units if rng.random() < LAGGING_SHARE}
    reports: list[SimulatedReport] = []
    truth = IndicatorTruth(year)
    for assignment in sorted(catalog.assignments(), key=lambda a: (a.indicator.code, a.unit)):
        if assignment.indicator.source != "reported":
            continue
        for period in _periods(assignment.indicator.period, year):
            reports += _one(assignment, period, rng, lagging=assignment.unit in lagging, truth=truth)
    reports.sort(key=lambda r: r.sent_at)
    return reports, truth


def _performance(rng: random.Random) -> tuple[float, bool]:
    """(final performance, whether it fades: on plan at first, falling behind later)."""
    draw = rng.random()
    if draw < SHORT_SHARE:
        return rng.uniform(0.6, 0.9), rng.random() < 0.5  # clearly short; half of them fade
    if draw < SHORT_SHARE + 0.1:
        return rng.uniform(1.05, 1.25), False  # over-delivers
    return rng.gauss(1.02, 0.03), False  # close to target, slightly above on average


def _one(
    assignment: Assignment, period: Period, rng: random.Random, *, lagging: bool, truth: IndicatorTruth
) -> Iterator[SimulatedReport]:
    indicator, target = assignment.indicator, assignment.target
    final, fades = _performance(rng)
    days = _report_days(assignment, period)
    key = row_key(indicator.code, assignment.unit, period.label)
    start_level = target * rng.uniform(0.85, 1.15)
    denominator_rate = rng.uniform(50, 500)
    out: list[SimulatedReport] = []
    value = 0.0
    for index, as_of in enumerate(days):
        share = expected_share(indicator, period, as_of)
        noise = rng.gauss(0, 0.03)
        # A fading unit is on plan for the first half, then slides to its final performance.
        elapsed = period.elapsed(as_of)
        performance = final if not fades else 1.0 + (final - 1.0) * max(0.0, (elapsed - 0.5) / 0.5)
        last = index == len(days) - 1
        body: dict[str, object] = {
            "event_id": f"sim-{indicator.code}/{assignment.unit}/{period.label}-{index}",
            "indicator": indicator.code,
            "unit": assignment.unit,
            "period": period.label,
            "as_of": format_instant(as_of),
            "reported_by": "sim",
        }
        if indicator.kind == "cumulative":
            value = max(value, target * performance * share * (1 + (0 if last else noise)))
            body["value"] = round(value, 3)
        elif indicator.kind == "ratio":
            end = (
                min(100.0, target * (1 - (1 - performance) * 0.2))
                if indicator.higher_is_better
                else target / performance
            )
            ratio = min(100.0, max(0.0, end + (0 if last else noise * 5)))
            denominator = max(1, round(denominator_rate * (index + 1)))
            body["numerator"] = min(denominator, round(denominator * ratio / 100))
            body["denominator"] = denominator
            value = 100.0 * body["numerator"] / denominator  # type: ignore[operator]
        else:
            end = target * performance if indicator.higher_is_better else target / performance
            progress = (index + 1) / len(days)
            value = start_level + (end - start_level) * progress + (0 if last else target * noise)
            body["value"] = round(value, 3)
        if lagging and not last and rng.random() < 0.3:
            continue  # a lagging unit skips some reports
        delay = rng.uniform(7, 21) * 86400 if lagging else rng.uniform(0.5, 3) * 86400
        out.append(SimulatedReport(as_of + delay, assignment.unit.encode(), orjson.dumps(body)))
    truth.final[key] = (
        round(value, 3) if indicator.kind != "ratio" else value,
        target,
        indicator.direction,
    )
    if not math.isfinite(value):  # pragma: no cover - defensive: the draws are finite
        raise ValueError(f"simulated a non-finite value for {key}")
    yield from out
