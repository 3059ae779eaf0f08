"""Status as timelines: reports arrive, time passes, the colour and its reason follow."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog
from domain.indicators.catalog import Assignment, IndicatorCatalog
from domain.indicators.periods import parse_period
from domain.indicators.projection import WorkingDays
from domain.indicators.reports import Report
from domain.indicators.status import FORMULA_VERSION, Colour, Verdict, evaluate

DISB = [0.03, 0.06, 0.10, 0.15, 0.21, 0.30, 0.38, 0.46, 0.55, 0.66, 0.80, 1.0]


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).timestamp()


def assignment(units: Catalog, **changes: Any) -> Assignment:
    entry: dict[str, Any] = {
        "code": "X-1",
        "name_vi": "x",
        "name_en": "x",
        "group": "investment",
        "measure": "tỷ đồng",
        "direction": "higher",
        "kind": "cumulative",
        "cadence": "month",
        "period": "year",
        "city_target": 1000,
        "plan": DISB,
    }
    entry.update(changes)
    entry = {k: v for k, v in entry.items() if v is not None}
    found = IndicatorCatalog.from_mapping({"indicator": [entry]}, units).assignment("X-1", "HCM")
    assert found is not None
    return found


def run(a: Assignment, timeline: list[tuple[str, float | None]]) -> list[tuple[str, str]]:
    """Walk the timeline: (instant, value) adds a report; (instant, None) just lets time pass."""
    period = parse_period("2026", "year")
    seen: list[Report] = []
    previous: Verdict | None = None
    out: list[tuple[str, str]] = []
    for index, (instant, value) in enumerate(timeline):
        if value is not None:
            seen.append(Report(f"r{index}", "X-1", "HCM", "2026", value, local(instant)))
        previous = evaluate(a, period, seen, now=local(instant), previous=previous)
        out.append((previous.status.value, previous.reason))
    return out


# Monthly reports of a disbursement following DISB × f (f = 1: on plan).
def monthly(factor: float, months: int = 12, *, start: int = 2) -> list[tuple[str, float | None]]:
    return [(f"2026-{m:02d}-01T00:00", 1000 * DISB[m - 2] * factor) for m in range(start, months + 1)]


@pytest.mark.parametrize(
    ("timeline", "expected"),
    [
        pytest.param([("2026-01-20T00:00", None)], [("grey", "no_report")], id="no report yet"),
        pytest.param([("2026-04-01T00:00", None)], [("grey", "no_report")], id="no report for three months"),
        pytest.param([("2026-01-20T00:00", 20.0)], [("grey", "too_early")], id="under 10 % elapsed"),
        pytest.param(
            monthly(1.0, 5),
            [("grey", "too_early")] + [("green", "on_track")] * 3,
            id="on the back-loaded plan: green from the first judgement",
        ),
        pytest.param(
            monthly(0.5, 5),
            [("grey", "too_early")] + [("red", "large_miss")] * 3,
            id="half the plan: a large miss is red at once",
        ),
        pytest.param(
            monthly(0.85, 6),
            [("grey", "too_early")] + [("red", "at_risk")] * 4,
            id="15 % below plan: red (margin 5 %)",
        ),
        pytest.param(
            monthly(0.95, 6),
            [("grey", "too_early")] + [("orange", "progressing")] * 4,
            id="3 % below plan: orange",
        ),
        pytest.param(
            [*monthly(1.0, 4), ("2026-07-01T00:00", None)],
            [("grey", "too_early")] + [("green", "on_track")] * 2 + [("grey", "stale")],
            id="no report for over two cadences: grey and stale",
        ),
        pytest.param(
            [*monthly(0.97, 12), ("2027-01-01T00:00", 970.0)],
            [("grey", "too_early")] + [("orange", "progressing")] * 10 + [("red", "ended_below")],
            id="period ended below target: red",
        ),
        pytest.param(
            [*monthly(1.0, 12), ("2027-01-01T00:00", 1000.0)],
            [("grey", "too_early")] + [("green", "on_track")] * 10 + [("green", "met")],
            id="period ended on target: green",
        ),
    ],
)
def test_status_timelines(
    units: Catalog, timeline: list[tuple[str, float | None]], expected: list[tuple[str, str]]
) -> None:
    assert run(assignment(units), timeline) == expected


def test_no_report_past_two_cadences_is_stale(units: Catalog) -> None:
    period = parse_period("2026", "year")

    assert not evaluate(assignment(units), period, [], now=local("2026-02-20T00:00")).stale
    assert evaluate(assignment(units), period, [], now=local("2026-03-10T00:00")).stale
    assert not evaluate(assignment(units), period, [], now=local("2027-01-02T00:00")).stale


def test_too_few_reports_is_grey_once_that_many_cadences_passed(units: Catalog) -> None:
    # On 1 April (two cadences in) pace alone judges; by 20 April three have passed.
    timeline: list[tuple[str, float | None]] = [("2026-04-01T00:00", 100.0), ("2026-04-20T00:00", None)]

    assert run(assignment(units), timeline) == [("green", "on_track"), ("grey", "too_few_reports")]


def level(units: Catalog, **thresholds: Any) -> Assignment:
    return assignment(
        units, kind="level", plan=None, measure="điểm", city_target=100, thresholds=thresholds or None
    )


def steady(value: float) -> list[Report]:
    """Three monthly reports of the same level: pace and trend agree on ``value``."""
    return [Report(f"r{m}", "X-1", "HCM", "2026", value, local(f"2026-{m:02d}-15T00:00")) for m in (2, 3, 4)]


def before(status: Colour, since: str = "2026-01-01T00:00") -> Verdict:
    return Verdict(status, "x", local(since), local(since))


@pytest.mark.parametrize(
    ("previous", "value", "expected"),
    [
        (None, 96.0, ("orange", "progressing")),  # 4 % short: not enough to enter red (5 %)
        (Colour.RED, 96.0, ("red", "still_at_risk")),  # ...but not enough to leave it (2.5 %)
        (Colour.RED, 98.5, ("orange", "progressing")),
        (Colour.RED, 101.0, ("green", "on_track")),
        (None, 99.0, ("orange", "progressing")),  # entering green needs the target
        (Colour.GREEN, 99.0, ("green", "still_on_track")),  # leaving it needs a 1.5 % miss
        (Colour.GREEN, 98.0, ("orange", "progressing")),
        (Colour.ORANGE, 94.0, ("red", "at_risk")),
        (Colour.GREEN, 60.0, ("red", "large_miss")),
    ],
)
def test_hysteresis_has_separate_enter_and_exit_thresholds(
    units: Catalog, previous: Colour | None, value: float, expected: tuple[str, str]
) -> None:
    a = level(units, min_dwell="0s")
    period = parse_period("2026", "year")

    verdict = evaluate(
        a,
        period,
        steady(value),
        now=local("2026-05-01T00:00"),
        previous=before(previous) if previous else None,
    )

    assert (verdict.status.value, verdict.reason) == expected


def test_dwell_holds_a_change_unless_the_miss_is_large(units: Catalog) -> None:
    a = level(units, min_dwell="60d")
    period = parse_period("2026", "year")
    green_since_april = before(Colour.GREEN, "2026-04-01T00:00")

    held = evaluate(a, period, steady(95), now=local("2026-05-01T00:00"), previous=green_since_april)
    crashed = evaluate(a, period, steady(50), now=local("2026-05-01T00:00"), previous=green_since_april)
    later = evaluate(a, period, steady(95), now=local("2026-06-01T00:00"), previous=held)

    assert (held.status, held.reason, held.inputs["candidate"]) == (Colour.GREEN, "dwell", "orange")
    assert held.since == green_since_april.since
    assert (crashed.status, crashed.reason) == (Colour.RED, "large_miss")
    assert (later.status, later.reason, later.since) == (
        Colour.ORANGE,
        "progressing",
        local("2026-06-01T00:00"),
    )


def test_lower_is_better_turns_red_when_the_level_stays_too_high(units: Catalog) -> None:
    a = assignment(units, direction="lower", kind="level", plan=None, measure="µg/m³", city_target=25)
    timeline: list[tuple[str, float | None]] = [
        ("2026-02-15T00:00", 33.0),
        ("2026-03-15T00:00", 32.0),
        ("2026-04-15T00:00", 33.0),
    ]

    assert run(a, timeline)[-1] == ("red", "large_miss")


def test_a_verdict_carries_its_inputs_reason_and_formula(units: Catalog, calendar: WorkCalendar) -> None:
    a = assignment(units)
    period = parse_period("2026", "year")
    seen = [
        Report(f"r{m}", "X-1", "HCM", "2026", 1000 * DISB[m - 2] * 0.8, local(f"2026-{m:02d}-01T00:00"))
        for m in (2, 3, 4, 5)
    ]

    verdict = evaluate(a, period, seen, now=local("2026-05-01T00:00"), days=WorkingDays(calendar))

    assert verdict.formula == FORMULA_VERSION and verdict.inputs["formula"] == FORMULA_VERSION
    assert verdict.status == Colour.RED
    assert verdict.inputs["target"] == 1000 and verdict.inputs["current"] == pytest.approx(120)
    assert verdict.inputs["days_left"] > 150 and verdict.inputs["run_rate"] == pytest.approx(
        880 / verdict.inputs["days_left"]
    )
    assert verdict.why("en").startswith("Even the better projection misses the target by over 5%")
    assert verdict.why("vi").startswith("Cả hai dự báo đều thiếu hơn 5%")
    assert Verdict.from_json(verdict.to_json()) == verdict


def test_replaying_the_same_reports_gives_the_same_statuses(units: Catalog) -> None:
    a = assignment(units)
    timeline = monthly(0.88, 12)

    assert run(a, timeline) == run(a, timeline)
