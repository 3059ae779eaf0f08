"""Report stage: a month closes behind the horizon, revisions only on change, chains follow."""

from __future__ import annotations

import orjson
import pytest

from domain.reports import Period, Report
from domain.windows import window_specs
from stream.metrics import MetricsStore, WindowRecord, record_key
from stream.stages.reports import ReportProcessor

GRACE = 600.0
NOV = Period.parse("2026-11")
DEC = Period.parse("2026-12")
NOV_START, NOV_END = NOV.bounds()
DEC_START, DEC_END = DEC.bounds()


class Harness:
    """A metrics store with period records written by hand, and a reports table."""

    def __init__(self) -> None:
        self.metrics: dict[str, bytes] = {}
        self.table: dict[bytes, bytes] = {}
        self.store = MetricsStore(
            window_specs(["period"], {"period": 400 * 86400.0}), grace=GRACE, load=self.metrics.get
        )
        self.processor = ReportProcessor(load=self.table.get, grace=GRACE)

    def put(self, node: str, start: float, late_events: int = 0, **counts: int) -> str:
        key = record_key(node, "period", start)
        self.metrics[key] = WindowRecord(counts=dict(counts), late_events=late_events).encode()
        self.store.forget([key])
        return key

    def run(self, horizon: float, changed: tuple[str, ...] = (), now: float = 1.0) -> list[Report]:
        result = self.processor.process(
            self.store,
            changed=changed,
            horizons={0: horizon},
            nodes_of=lambda p: ["A", "B"],
            partition_of=lambda node: 0,
            now=now,
        )
        for key, value in result.writes.get(0, {}).items():
            self.table[key] = value
        return result.reports

    def stored(self, unit: str, period: str) -> Report:
        return Report.from_json(orjson.loads(self.table[f"{unit}|{period}".encode()]))


def test_a_month_closes_once_the_horizon_passes_its_end_plus_grace() -> None:
    h = Harness()
    h.put("A", NOV_START, received=5, opened=5, resolved=2, resolved_on_time=2, closed=2)
    assert h.run(NOV_END + GRACE - 1) == []
    made = h.run(NOV_END + GRACE)
    assert [(r.unit, r.period, r.revision) for r in made] == [("A", "2026-11", 1)]
    assert made[0].figures.received == 5 and made[0].figures.open_at_end == 3
    # Nothing to report for B (never had anything), nothing new on the next tick.
    assert h.run(NOV_END + GRACE + 60) == []


def test_a_late_event_after_the_close_makes_revision_two_with_its_as_of() -> None:
    h = Harness()
    h.put("A", NOV_START, received=5, opened=5)
    h.run(NOV_END + GRACE, now=10.0)
    key = h.put("A", NOV_START, received=6, opened=6)
    (revised,) = h.run(NOV_END + 3600, changed=(key,), now=20.0)
    assert (revised.revision, revised.as_of, revised.figures.received) == (2, 20.0, 6)
    assert h.stored("A", "2026-11").revision == 2


def test_redelivered_work_rebuilds_the_same_content_and_makes_no_revision() -> None:
    h = Harness()
    key = h.put("A", NOV_START, received=5, opened=5)
    h.run(NOV_END + GRACE)
    assert h.run(NOV_END + GRACE + 1, changed=(key,)) == []
    # A restarted worker (fresh processor) checks the closed months against the table.
    h.processor = ReportProcessor(load=h.table.get, grace=GRACE)
    assert h.run(NOV_END + GRACE + 2) == []


def test_late_events_beyond_the_report_grace_are_a_revision_too() -> None:
    h = Harness()
    h.put("A", NOV_START, received=5, opened=5)
    h.run(NOV_END + GRACE)
    key = h.put("A", NOV_START, late_events=1, received=5, opened=5)
    (revised,) = h.run(NOV_END + 9 * 86400, changed=(key,))
    assert (revised.revision, revised.late_events, revised.figures.received) == (2, 1, 5)


def test_months_chain_and_a_revision_of_november_revises_a_closed_december() -> None:
    h = Harness()
    key = h.put("A", NOV_START, received=5, opened=5, closed=1)
    h.put("A", DEC_START, received=1, opened=1)
    h.run(DEC_END + GRACE)
    assert h.stored("A", "2026-12").figures.carried_over == 4
    key = h.put("A", NOV_START, received=7, opened=7, closed=1)
    made = h.run(DEC_END + GRACE + 1, changed=(key,))
    assert [(r.period, r.revision) for r in made] == [
        ("2026-11", 2),
        ("2026-12", 2),
        ("2026-Q4", 2),
        ("2026", 2),
    ]
    assert h.stored("A", "2026-12").figures.carried_over == 6


@pytest.mark.parametrize("horizon", [None])
def test_nothing_closes_before_every_item_partition_reported(horizon: float | None) -> None:
    h = Harness()
    key = h.put("A", NOV_START, received=5)
    result = h.processor.process(
        h.store,
        changed=(key,),
        horizons={0: horizon},
        nodes_of=lambda p: ["A"],
        partition_of=lambda n: 0,
        now=1.0,
    )
    assert result.reports == []


def test_a_quarter_is_written_when_its_last_month_closes_and_revised_with_its_months() -> None:
    h = Harness()
    oct_start = Period.parse("2026-10").bounds()[0]
    h.put("A", oct_start, received=2, opened=2)
    h.put("A", NOV_START, received=3, opened=3)
    made = h.run(NOV_END + GRACE)
    assert [(r.period, r.revision) for r in made] == [("2026-10", 1), ("2026-11", 1)]  # Q4 still open
    h.put("A", DEC_START, received=4, opened=4)
    made = h.run(DEC_END + GRACE)
    assert [(r.period, r.revision) for r in made] == [("2026-12", 1), ("2026-Q4", 1), ("2026", 1)]
    quarter = h.stored("A", "2026-Q4")
    assert (quarter.figures.received, quarter.start, quarter.end) == (9, *Period.parse("2026-Q4").bounds())
    key = h.put("A", NOV_START, received=5, opened=5)  # a late event in November
    made = h.run(DEC_END + GRACE + 60, changed=(key,))
    assert [(r.period, r.revision) for r in made] == [
        ("2026-11", 2),
        ("2026-12", 2),  # carried over changed
        ("2026-Q4", 2),
        ("2026", 2),
    ]
    assert h.stored("A", "2026-Q4").figures.received == 11
