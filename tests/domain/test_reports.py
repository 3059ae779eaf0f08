"""Report periods (the 1022 month, quarter, year), month figures, chains and aggregates."""

from __future__ import annotations

from datetime import date

import pytest

from domain.calendar import WorkCalendar
from domain.errors import InvalidPeriod
from domain.events import parse_instant
from domain.reports import (
    FORMULAS,
    Chain,
    Figures,
    Period,
    PeriodKind,
    Report,
    aggregate,
    build_month_reports,
    closed_months,
    month_figures,
    month_of,
    period_of,
)
from domain.sketch import Sketch


def at(text: str) -> float:
    return parse_instant(text)


@pytest.mark.parametrize(
    ("instant", "month"),
    [
        ("2026-11-25T11:59:59+07:00", "2026-11"),
        ("2026-11-25T12:00:00+07:00", "2026-12"),
        ("2026-10-25T12:00:00+07:00", "2026-11"),
        ("2026-10-25T11:59:59.999+07:00", "2026-10"),
        ("2026-12-25T11:59:59+07:00", "2026-12"),  # the last second of the year 2026
        ("2026-12-25T12:00:00+07:00", "2027-01"),  # the first of 2027
        ("2026-12-31T23:00:00+07:00", "2027-01"),
        ("2026-11-25T04:59:59Z", "2026-11"),  # 11:59:59 local written in UTC
        ("2026-11-25T05:00:00Z", "2026-12"),
    ],
)
def test_month_boundary_is_noon_local_on_the_25th(instant: str, month: str) -> None:
    assert month_of(at(instant)).key == month


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("2026-11", "2026-10-25T12:00:00+07:00", "2026-11-25T12:00:00+07:00"),
        ("2026-01", "2025-12-25T12:00:00+07:00", "2026-01-25T12:00:00+07:00"),
        ("2026-Q1", "2025-12-25T12:00:00+07:00", "2026-03-25T12:00:00+07:00"),
        ("2026-Q4", "2026-09-25T12:00:00+07:00", "2026-12-25T12:00:00+07:00"),
        ("2026", "2025-12-25T12:00:00+07:00", "2026-12-25T12:00:00+07:00"),
        ("2027-02", "2027-01-25T12:00:00+07:00", "2027-02-25T12:00:00+07:00"),  # spans Tết 2027
    ],
)
def test_period_bounds(period: str, start: str, end: str) -> None:
    assert Period.parse(period).bounds() == (at(start), at(end))


def test_a_month_spanning_tet_is_the_calendar_month_and_tet_is_inside_it() -> None:
    tet = date(2027, 2, 6)  # Mùng 1 Tết Đinh Mùi
    calendar = WorkCalendar()
    assert not calendar.is_working_day(tet)
    assert "Tết" in (calendar.holiday_name(tet) or "")
    start, end = Period.parse("2027-02").bounds()
    assert start < at("2027-02-06T00:00:00+07:00") < end
    assert month_of(at("2027-02-06T09:00:00+07:00")).key == "2027-02"


@pytest.mark.parametrize(
    ("instant", "kind", "key"),
    [
        ("2026-03-25T11:59:59+07:00", PeriodKind.QUARTER, "2026-Q1"),
        ("2026-03-25T12:00:00+07:00", PeriodKind.QUARTER, "2026-Q2"),
        ("2025-12-25T12:00:00+07:00", PeriodKind.QUARTER, "2026-Q1"),
        ("2026-12-25T11:59:59+07:00", PeriodKind.YEAR, "2026"),
        ("2026-12-25T12:00:00+07:00", PeriodKind.YEAR, "2027"),
        ("2026-06-01T00:00:00+07:00", PeriodKind.MONTH, "2026-06"),
    ],
)
def test_quarter_and_year_ends_follow_the_month(instant: str, kind: PeriodKind, key: str) -> None:
    assert period_of(at(instant), kind).key == key


@pytest.mark.parametrize(
    ("text", "key", "kind"),
    [
        ("2026-11", "2026-11", PeriodKind.MONTH),
        ("2026-q4", "2026-Q4", PeriodKind.QUARTER),
        (" 2026 ", "2026", PeriodKind.YEAR),
    ],
)
def test_period_strings_parse(text: str, key: str, kind: PeriodKind) -> None:
    period = Period.parse(text)
    assert (period.key, period.kind) == (key, kind)


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "2026-Q5", "26-11", "2026/11", "", "1999", "2026-11-25", "x" * 500]
)
def test_malformed_period_strings_are_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(InvalidPeriod) as error:
        Period.parse(text)
    assert "write a month as 2026-11, a quarter as 2026-Q4 or a year as 2026" in str(error.value)
    assert len(str(error.value)) < 200


@pytest.mark.parametrize(
    ("period", "previous", "following", "months"),
    [
        ("2026-01", "2025-12", "2026-02", ["2026-01"]),
        ("2026-Q1", "2025-Q4", "2026-Q2", ["2026-01", "2026-02", "2026-03"]),
        ("2026", "2025", "2027", [f"2026-{m:02d}" for m in range(1, 13)]),
    ],
)
def test_previous_next_and_months(period: str, previous: str, following: str, months: list[str]) -> None:
    p = Period.parse(period)
    assert (p.previous().key, p.next().key) == (previous, following)
    assert [m.key for m in p.months()] == months


def test_closed_months_lists_every_month_whose_end_was_passed() -> None:
    months = closed_months(at("2026-10-01T00:00:00+07:00"), at("2026-12-25T12:00:00+07:00"))
    assert [m.key for m in months] == ["2026-10", "2026-11", "2026-12"]
    assert closed_months(at("2026-12-25T12:00:00+07:00"), at("2026-12-26T00:00:00+07:00")) == []


def test_month_figures_and_rates() -> None:
    counts = {
        "received": 100,
        "resolved": 90,
        "resolved_on_time": 84,
        "resolved_late": 6,
        "opened": 110,
        "closed": 95,
        "became_overdue": 10,
        "late_closed": 6,
        "late_in": 1,
        "late_out": 2,
        "transferred_in": 10,
        "transferred_out": 5,
        "reopened": 3,
    }
    figures = month_figures(counts, None, Chain(open=20, late_open=4))
    assert figures.carried_over == 20
    assert figures.open_at_end == 20 + 110 - 95
    assert figures.late_open == 4 + 10 + 1 - 2 - 6
    assert figures.on_time_rate == pytest.approx(84 / 90)
    assert figures.late_rate == pytest.approx((7 + 6) / (100 + 20))
    assert (figures.transferred_in, figures.transferred_out, figures.reopened) == (10, 5, 3)
    assert (figures.avg_days, figures.p90_days) == (None, None)


@pytest.mark.parametrize(
    ("figures", "on_time", "late"),
    [
        (Figures(), None, None),
        (Figures(received=5), None, 0.0),
        (Figures(resolved=4, on_time=4), 1.0, None),
    ],
)
def test_rates_are_none_without_a_denominator(
    figures: Figures, on_time: float | None, late: float | None
) -> None:
    assert (figures.on_time_rate, figures.late_rate) == (on_time, late)


def test_handling_time_in_working_days_within_the_sketch_accuracy() -> None:
    sketch = Sketch()
    values = [float(d) for d in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)]
    for value in values:
        sketch.add(value)
    figures = month_figures({"resolved": 10}, sketch, Chain())
    assert figures.avg_days == pytest.approx(5.5, rel=0.01)
    assert figures.p90_days == pytest.approx(9.0, rel=0.01)


def test_every_rate_has_a_formula_in_both_languages() -> None:
    for name in ("on_time_rate", "late_rate", "avg_days", "p90_days"):
        assert FORMULAS[name].vi and FORMULAS[name].en
    assert "÷" in FORMULAS["late_rate"].en and "carried over" in FORMULAS["late_rate"].en


def test_months_chain_and_a_quarter_adds_them_up() -> None:
    quarter = Period.parse("2026-Q4")
    counters = {
        ("U", quarter.months()[0].bounds()[0]): {
            "received": 10,
            "opened": 10,
            "closed": 4,
            "resolved": 4,
            "resolved_on_time": 4,
        },
        ("U", quarter.months()[1].bounds()[0]): {
            "received": 5,
            "opened": 5,
            "closed": 8,
            "resolved": 8,
            "resolved_on_time": 6,
            "resolved_late": 2,
        },
    }
    reports = build_month_reports(counters, {}, units=["U"], months=quarter.months())
    october, november, december = (reports[f"U|2026-{m}"] for m in ("10", "11", "12"))
    assert (october.figures.carried_over, october.figures.open_at_end) == (0, 6)
    assert (november.figures.carried_over, november.figures.open_at_end) == (6, 3)
    assert (december.figures.carried_over, december.figures.open_at_end, december.figures.received) == (
        3,
        3,
        0,
    )
    total = aggregate(quarter, [october, november, december])
    assert total is not None
    assert (total.period, total.figures.received, total.figures.resolved, total.figures.on_time) == (
        "2026-Q4",
        15,
        12,
        10,
    )
    assert (total.figures.carried_over, total.figures.open_at_end) == (0, 3)
    assert (total.start, total.end) == quarter.bounds()


def test_report_json_round_trip() -> None:
    sketch = Sketch()
    sketch.add(3600.0)
    report = Report(
        "U",
        "2026-11",
        1.0,
        2.0,
        3,
        4.0,
        Figures(received=2, resolved=1, on_time=1),
        {"received": 2},
        sketch,
        1,
    )
    again = Report.from_json(report.to_json())
    assert again == report and again.content() == report.content()


@pytest.mark.parametrize(
    ("counter", "own", "expected"),
    [
        ("resolved", True, ("resolved@c:y-te", "resolved@m:home", "resolved@a:cb-1")),
        ("resolved", False, ("resolved@c:y-te", "resolved@m:home")),  # a staff id never rolls up
        ("opened", True, ()),  # stock counters are not split
        ("late_closed", True, ()),
    ],
)
def test_split_counters(counter: str, own: bool, expected: tuple[str, ...]) -> None:
    from domain.reports import split_counters

    assert split_counters(counter, ("c:y-te", "m:home", "a:cb-1"), own=own) == expected


def test_split_figures_group_flow_counters_by_dimension() -> None:
    from domain.reports import split_figures

    found = split_figures(
        {"resolved": 9, "resolved@m:home": 4, "resolved_on_time@m:home": 3, "received@c:y-te": 2, "x@z:q": 1}
    )
    assert set(found) == {"work_mode", "category"}
    assert found["work_mode"]["home"].on_time_rate == 0.75
    assert found["category"]["y-te"].received == 2
