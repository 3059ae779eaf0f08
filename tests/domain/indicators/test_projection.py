from __future__ import annotations

from datetime import datetime

import pytest

from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog
from domain.indicators.catalog import Assignment, IndicatorCatalog
from domain.indicators.periods import parse_period
from domain.indicators.projection import WorkingDays, expected_share, least_squares, project, run_rate
from domain.indicators.reports import Report

DISB = [0.03, 0.06, 0.10, 0.15, 0.21, 0.30, 0.38, 0.46, 0.55, 0.66, 0.80, 1.0]


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).timestamp()


def assignment(
    units: Catalog, kind: str = "cumulative", plan: list[float] | None = None, target: float = 1000
) -> Assignment:
    entry: dict[str, object] = {
        "code": "X-1",
        "name_vi": "x",
        "name_en": "x",
        "group": "investment",
        "measure": "%" if kind == "ratio" else "tỷ đồng",
        "direction": "higher",
        "kind": kind,
        "cadence": "month",
        "period": "year",
        "city_target": target,
    }
    if plan:
        entry["plan"] = plan
    found = IndicatorCatalog.from_mapping({"indicator": [entry]}, units).assignment("X-1", "HCM")
    assert found is not None
    return found


def reports(*points: tuple[str, float]) -> list[Report]:
    return [Report(f"r{i}", "X-1", "HCM", "2026", value, local(day)) for i, (day, value) in enumerate(points)]


@pytest.mark.parametrize(
    ("plan", "instant", "share"),
    [
        (None, "2026-07-02T12:00", 0.5),  # linear: half of 2026 (365 days) is 2 July noon
        (DISB, "2026-07-01T00:00", 0.30),  # end of June on the back-loaded curve
        (DISB, "2026-07-16T12:00", 0.34),  # half-way through July: 0.30 + (0.38 - 0.30) / 2
        (DISB, "2027-01-01T00:00", 1.0),
    ],
)
def test_expected_share_follows_the_plan_curve(
    units: Catalog, plan: list[float] | None, instant: str, share: float
) -> None:
    period = parse_period("2026", "year")

    assert expected_share(assignment(units, plan=plan).indicator, period, local(instant)) == pytest.approx(
        share, abs=1e-3
    )


def test_least_squares_matches_a_line_and_refuses_one_point() -> None:
    assert least_squares([(0, 1), (1, 3), (2, 5)]) == pytest.approx((2.0, 1.0))
    assert least_squares([(1, 1)]) is None and least_squares([(1, 1), (1, 2)]) is None


def test_cumulative_on_the_back_loaded_plan_projects_the_target(units: Catalog) -> None:
    period = parse_period("2026", "year")
    a = assignment(units, plan=DISB)
    on_plan = reports(
        ("2026-04-01T00:00", 100),
        ("2026-05-01T00:00", 150),
        ("2026-06-01T00:00", 210),
        ("2026-07-01T00:00", 300),
    )

    p = project(a, period, on_plan, local("2026-07-02T00:00"))

    assert p is not None
    assert p.pace == pytest.approx(1000) and p.trend == pytest.approx(1000, rel=1e-6)


def test_ratio_trend_extends_the_line_to_the_period_end(units: Catalog) -> None:
    period = parse_period("2026", "year")
    a = assignment(units, kind="ratio", target=90)
    falling = reports(("2026-01-31T00:00", 95), ("2026-03-02T00:00", 92), ("2026-04-01T00:00", 89))

    p = project(a, period, falling, local("2026-04-02T00:00"))

    assert p is not None and p.pace == 89
    # -0.1 point a day (3 points in 30 days), 275 days to go from 1 April: 89 - 27.5.
    assert p.trend == pytest.approx(61.5)


def test_working_days_count_the_city_calendar(calendar: WorkCalendar) -> None:
    days = WorkingDays(calendar)
    # December 2026 has 23 weekdays and no public holiday.
    assert days.between(local("2026-12-01T08:00"), local("2027-01-01T00:00")) == 23
    # Across the year end, counted in two years' prefix sums.
    assert days.between(local("2026-12-31T08:00"), local("2027-01-06T00:00")) == days.between(
        local("2026-12-31T08:00"), local("2027-01-01T00:00")
    ) + days.between(local("2027-01-01T00:00"), local("2027-01-06T00:00"))


def test_run_rate_spreads_the_rest_over_working_days_left(units: Catalog) -> None:
    a = assignment(units, target=1000)

    assert run_rate(a, reports(("2026-10-01T00:00", 600)), days_left=50, days_elapsed=180) == 8.0
    assert run_rate(a, reports(("2026-10-01T00:00", 1200)), days_left=50, days_elapsed=180) is None


def test_ratio_run_rate_counts_cases_needed_per_day(units: Catalog) -> None:
    a = assignment(units, kind="ratio", target=90)
    late = [Report("r", "X-1", "HCM", "2026", 80.0, local("2026-07-01T00:00"), numerator=80, denominator=100)]

    # 100 cases in 100 days, 100 more expected: 180 on time needed, 80 so far → 1 a day.
    assert run_rate(a, late, days_left=100, days_elapsed=100) == pytest.approx(1.0)
