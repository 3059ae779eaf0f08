"""Item rules are driven by the real item state machine; unit rules by status tables."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pytest

from alerts.config import RulesConfig
from alerts.model import UNIT_RULES, RuleName, Severity, Signal, UnitStatus, WindowStats
from alerts.rules import SILENT_KINDS, item_signals, unit_signals
from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog
from domain.events import Event, EventType, Sla
from domain.items import Item, ItemPolicy, Kind, Transition, apply_event, apply_tick
from domain.sla import CategorySla, SlaPolicy, UnitClock

HOUR = 3600.0
ITEM = "PA-2026-000123"
TITLE = "Rác thải tràn ra <b>đường</b>"


def local(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    return datetime(2026, month, day, hour, minute, second, tzinfo=LOCAL_TZ).timestamp()


@dataclass
class Tracker:
    """One item driven through the state machine; each step returns the signals it causes."""

    policy: ItemPolicy
    config: RulesConfig
    item: Item | None = None
    seen: list[Transition] = field(default_factory=list)
    count: int = 0

    def event(self, type: EventType, at: float, **fields: Any) -> list[Signal]:
        self.count += 1
        event = Event(f"e-{self.count}", ITEM, type, at, **fields)
        outcome = apply_event(self.item, event, self.policy)
        return self._signals(outcome.item, outcome.transitions)

    def tick(self, at: float) -> list[Signal]:
        outcome = apply_tick(self.item, at, self.policy)
        return self._signals(outcome.item, outcome.transitions)

    def _signals(self, item: Item | None, transitions: list[Transition]) -> list[Signal]:
        assert item is not None
        self.item = item
        self.seen.extend(transitions)
        out: list[Signal] = []
        for transition in transitions:
            out.extend(item_signals(transition, item, self.config, self.policy.catalog, self.policy.calendar))
        return out


def tracker(config: RulesConfig, catalog: Catalog, calendar: WorkCalendar) -> Tracker:
    sla = SlaPolicy({}, CategorySla("default", "Khác", "Other", 10, 48, UnitClock.CONTINUE))
    deadlines = config.deadline_policy(purge_after=35 * 86400.0, dedup_ids=32)
    return Tracker(ItemPolicy(calendar, sla, catalog, deadlines), config)


@pytest.fixture
def item(config: RulesConfig, catalog: Catalog, calendar: WorkCalendar) -> Tracker:
    """Received Monday 07/12/2026 08:00 at Phường Bến Thành, one working day: due Tuesday 17:00."""
    track = tracker(config, catalog, calendar)
    track.event(
        EventType.RECEIVED,
        local(12, 7, 8),
        unit="P-BEN-THANH",
        sla=Sla(working_days=1),
        title=TITLE,
    )
    return track


def brief(signals: list[Signal]) -> list[tuple[str, bool, str, int, Severity]]:
    return [(s.rule, s.active, s.unit, s.escalation, s.severity) for s in signals]


# -- item rules -----------------------------------------------------------------------------------


def test_receiving_an_item_signals_nothing(
    config: RulesConfig, catalog: Catalog, calendar: WorkCalendar
) -> None:
    track = tracker(config, catalog, calendar)
    assert track.event(EventType.RECEIVED, local(12, 7, 8), unit="P-BEN-THANH") == []


def test_due_soon_signals_at_three_quarters_of_the_period(item: Tracker) -> None:
    assert item.tick(local(12, 8, 13, 7, 29)) == []
    [signal] = item.tick(local(12, 8, 13, 7, 30))
    assert signal == Signal(
        fingerprint=f"item_due_soon:{ITEM}",
        rule=RuleName.ITEM_DUE_SOON,
        active=True,
        at=local(12, 8, 13, 7, 30),
        unit="P-BEN-THANH",
        item_id=ITEM,
        severity=Severity.INFO,
        escalation=0,
        facts={
            "transition": "due_soon",
            "item_kind": "feedback",
            "item_title": TITLE,
            "category": "khac",
            "priority": "normal",
            "status": "open",
            "unit": "P-BEN-THANH",
            "due": local(12, 8, 17),
            "original_due": local(12, 8, 17),
            "overdue_at": None,
            "appointment_at": None,
            "escalation": 0,
            "working_seconds_left": 3 * HOUR + 52.5 * 60,
        },
    )


def test_overdue_clears_due_soon_and_fires_overdue_at_level_zero(item: Tracker) -> None:
    item.tick(local(12, 8, 13, 30))
    signals = item.tick(local(12, 8, 17))
    assert brief(signals) == [
        (RuleName.ITEM_DUE_SOON, False, "P-BEN-THANH", 0, Severity.INFO),
        (RuleName.ITEM_OVERDUE, True, "P-BEN-THANH", 0, Severity.WARNING),
    ]
    assert signals[1].fingerprint == f"item_overdue:{ITEM}"
    assert signals[1].facts["overdue_at"] == local(12, 8, 17)
    assert signals[1].facts["working_seconds_late"] == 0.0


def test_escalation_ladder_in_working_time(item: Tracker) -> None:
    item.tick(local(12, 8, 17))
    assert item.tick(local(12, 9, 11, 29)) == []
    step1 = item.tick(local(12, 9, 11, 30))
    step2 = item.tick(local(12, 10, 11, 30))
    assert item.tick(local(12, 11, 17)) == []
    step3 = item.tick(local(12, 14, 11, 30))  # the weekend does not count
    assert brief(step1 + step2 + step3) == [
        (RuleName.ITEM_OVERDUE, True, "P-BEN-THANH", 1, Severity.WARNING),
        (RuleName.ITEM_OVERDUE, True, "P-BEN-THANH", 2, Severity.CRITICAL),
        (RuleName.ITEM_OVERDUE, True, "P-BEN-THANH", 3, Severity.CRITICAL),
    ]
    assert [s.facts["working_seconds_late"] for s in step1 + step2 + step3] == [
        4 * HOUR,
        12 * HOUR,
        28 * HOUR,
    ]
    assert item.tick(local(12, 31, 17)) == []  # past the ladder: nothing more


def test_escalation_skips_the_culture_day_holiday(
    config: RulesConfig, catalog: Catalog, calendar: WorkCalendar
) -> None:
    track = tracker(config, catalog, calendar)
    track.event(EventType.RECEIVED, local(11, 20, 9), unit="P-SAI-GON", sla=Sla(working_days=1))
    assert [(s.rule, s.active) for s in track.tick(local(11, 23, 17))] == [
        (RuleName.ITEM_DUE_SOON, False),
        (RuleName.ITEM_OVERDUE, True),
    ]
    # 24/11/2026 is Ngày Văn hóa Việt Nam, a day off: step 1 comes on Wednesday morning.
    assert track.tick(local(11, 24, 17)) == []
    [signal] = track.tick(local(11, 25, 11, 30))
    assert (signal.escalation, signal.facts["working_seconds_late"]) == (1, 4 * HOUR)


@pytest.mark.parametrize("kind", [EventType.RESOLVED, EventType.CANCELLED])
def test_closing_clears_both_item_rules(item: Tracker, kind: EventType) -> None:
    item.tick(local(12, 9, 11, 30))
    signals = item.event(kind, local(12, 9, 14))
    assert brief(signals) == [
        (RuleName.ITEM_DUE_SOON, False, "P-BEN-THANH", 0, Severity.INFO),
        (RuleName.ITEM_OVERDUE, False, "P-BEN-THANH", 0, Severity.WARNING),
    ]
    assert signals[1].facts["status"] == kind.value
    assert signals[1].facts["working_seconds_late"] == 5 * HOUR  # 07:30-11:30, 13:00-14:00


def test_closing_clears_only_the_conditions_the_item_reached(item: Tracker) -> None:
    item.tick(local(12, 8, 13, 7, 30))  # due soon, not overdue
    signals = item.event(EventType.RESOLVED, local(12, 8, 14))
    assert [(s.rule, s.active) for s in signals] == [(RuleName.ITEM_DUE_SOON, False)]


def test_closing_an_item_that_never_became_due_soon_signals_nothing(item: Tracker) -> None:
    assert item.event(EventType.RESOLVED, local(12, 8, 9)) == []


def test_reopening_signals_nothing_its_closing_cleared_the_old_period(item: Tracker) -> None:
    item.tick(local(12, 9, 11, 30))
    assert [(s.rule, s.active) for s in item.event(EventType.RESOLVED, local(12, 9, 14))] == [
        (RuleName.ITEM_DUE_SOON, False),
        (RuleName.ITEM_OVERDUE, False),
    ]
    assert item.event(EventType.REOPENED, local(12, 10, 9)) == []
    assert item.item is not None
    later = item.tick(item.item.due_soon_at)  # the new period raises its own alerts
    assert [(s.rule, s.active) for s in later] == [(RuleName.ITEM_DUE_SOON, True)]


def test_transfer_moves_active_overdue_to_the_new_unit_at_its_level(item: Tracker) -> None:
    item.tick(local(12, 10, 11, 30))
    [signal] = item.event(EventType.TRANSFERRED, local(12, 10, 14), unit="P-TAN-DINH")
    assert brief([signal]) == [(RuleName.ITEM_OVERDUE, True, "P-TAN-DINH", 2, Severity.CRITICAL)]
    assert signal.facts["from_unit"] == "P-BEN-THANH"
    assert signal.facts["unit"] == "P-TAN-DINH"


def test_transfer_moves_due_soon_to_the_new_unit(item: Tracker) -> None:
    item.tick(local(12, 8, 14))
    assert brief(item.event(EventType.TRANSFERRED, local(12, 8, 15), unit="SO-TNMT")) == [
        (RuleName.ITEM_DUE_SOON, True, "SO-TNMT", 0, Severity.INFO),
    ]


def test_transfer_of_a_quiet_item_or_assignment_to_the_same_unit_signals_nothing(
    item: Tracker,
) -> None:
    assert item.event(EventType.TRANSFERRED, local(12, 7, 9), unit="P-SAI-GON") == []
    item.tick(local(12, 8, 14))
    assert item.event(EventType.ASSIGNED, local(12, 8, 14, 30), unit="P-SAI-GON") == []


def test_extension_before_the_deadline_clears_due_soon(item: Tracker) -> None:
    item.tick(local(12, 8, 14))
    signals = item.event(EventType.EXTENDED, local(12, 8, 15), due_at=local(12, 18, 17))
    assert [(s.rule, s.active) for s in signals] == [(RuleName.ITEM_DUE_SOON, False)]
    assert signals[0].facts["due"] == local(12, 18, 17)


def test_short_extension_that_stays_due_soon_refreshes_the_deadline(item: Tracker) -> None:
    item.tick(local(12, 8, 14))
    [signal] = item.event(EventType.EXTENDED, local(12, 8, 15), due_at=local(12, 8, 17, 30))
    assert (signal.rule, signal.active, signal.facts["due"]) == (
        RuleName.ITEM_DUE_SOON,
        True,
        local(12, 8, 17, 30),
    )


def test_extension_after_overdue_keeps_it_overdue_with_an_appointment(item: Tracker) -> None:
    item.tick(local(12, 9, 11, 30))
    [signal] = item.event(EventType.EXTENDED, local(12, 9, 14), due_at=local(12, 11, 17))
    assert brief([signal]) == [(RuleName.ITEM_OVERDUE, True, "P-BEN-THANH", 1, Severity.WARNING)]
    assert signal.facts["appointment_at"] == local(12, 11, 17)


def test_resume_refreshes_the_current_condition(item: Tracker) -> None:
    item.event(EventType.PAUSED, local(12, 7, 10))
    signals = item.event(EventType.RESUMED, local(12, 9, 10))
    assert [(s.rule, s.active) for s in signals] == [(RuleName.ITEM_DUE_SOON, False)]
    assert signals[0].facts["due"] > local(12, 8, 17)  # the clock stopped while paused


@pytest.mark.parametrize(
    ("kind", "fields"),
    [(EventType.ACCEPTED, {}), (EventType.PROGRESS, {}), (EventType.PAUSED, {})],
)
def test_other_transitions_signal_nothing(item: Tracker, kind: EventType, fields: dict[str, Any]) -> None:
    item.tick(local(12, 9, 11, 30))
    assert item.event(kind, local(12, 9, 12), **fields) == []


def test_late_resolution_still_records_the_breach_then_clears_it(item: Tracker) -> None:
    # No timer ran: the resolution arrives after the due-soon and overdue instants. The
    # breach happened, so the overdue alert opens and resolves; due-soon never flashes.
    signals = item.event(EventType.RESOLVED, local(12, 9, 9))
    assert [t.kind for t in item.seen[-3:]] == [Kind.DUE_SOON, Kind.OVERDUE, Kind.RESOLVED]
    assert [(s.rule, s.active) for s in signals] == [
        (RuleName.ITEM_DUE_SOON, False),
        (RuleName.ITEM_OVERDUE, True),
        (RuleName.ITEM_DUE_SOON, False),
        (RuleName.ITEM_OVERDUE, False),
    ]


def test_due_soon_then_overdue_in_one_batch_skips_the_due_soon_flash(item: Tracker) -> None:
    signals = item.tick(local(12, 8, 17))
    assert [(s.rule, s.active) for s in signals] == [
        (RuleName.ITEM_DUE_SOON, False),
        (RuleName.ITEM_OVERDUE, True),
    ]


def test_disabled_due_soon_rule_gives_no_active_due_soon(
    config: RulesConfig, catalog: Catalog, calendar: WorkCalendar
) -> None:
    quiet = replace(config, due_soon=replace(config.due_soon, enabled=False))
    track = tracker(quiet, catalog, calendar)
    track.event(EventType.RECEIVED, local(12, 7, 8), unit="P-BEN-THANH", sla=Sla(working_days=1))
    assert track.tick(local(12, 8, 14)) == []
    assert [(s.rule, s.active) for s in track.tick(local(12, 8, 17))] == [
        (RuleName.ITEM_DUE_SOON, False),
        (RuleName.ITEM_OVERDUE, True),
    ]


# -- unit rules -----------------------------------------------------------------------------------

AT = local(12, 8, 15)


def status(**changes: Any) -> UnitStatus:
    day = WindowStats(
        "1d",
        local(12, 8, 0),
        received=40,
        resolved=20,
        resolved_on_time=18,
        resolved_late=2,
        p90_latency=5 * HOUR,
        p90_sla_used=0.6,
    )
    hour = WindowStats("1h", local(12, 8, 15), received=12)
    values: dict[str, Any] = dict(
        unit="P-SAI-GON",
        at=AT,
        open=120,
        overdue=3,
        due_soon=5,
        oldest_open_at=local(12, 1, 9),
        windows={"1d": day, "1h": hour},
        baseline_received=8.0,
    )
    values.update(changes)
    return UnitStatus(**values)


def day(**changes: Any) -> dict[str, WindowStats]:
    base = status().windows
    return {"1d": replace(base["1d"], **changes), "1h": base["1h"]}


def hour(**changes: Any) -> dict[str, WindowStats]:
    base = status().windows
    return {"1d": base["1d"], "1h": replace(base["1h"], **changes)}


@pytest.mark.parametrize(
    ("changes", "active"),
    [
        ({}, set()),
        ({"windows": day(resolved=20, resolved_on_time=15)}, {RuleName.UNIT_ON_TIME_RATE}),
        ({"windows": day(resolved=20, resolved_on_time=16)}, set()),  # exactly 80 %: not below
        ({"windows": day(resolved=9, resolved_on_time=1)}, set()),  # under min_resolved
        ({"windows": day(resolved=10, resolved_on_time=1)}, {RuleName.UNIT_ON_TIME_RATE}),
        ({"windows": {}}, set()),  # no window yet
        ({"overdue": 10}, set()),
        ({"overdue": 11}, {RuleName.UNIT_OVERDUE_COUNT}),
        ({"open": 300}, set()),
        ({"open": 301}, {RuleName.UNIT_QUEUE_DEPTH}),
        ({"windows": day(p90_sla_used=1.0)}, set()),
        ({"windows": day(p90_sla_used=1.01)}, {RuleName.UNIT_P90_LATENCY}),
        ({"windows": day(p90_sla_used=1.5, resolved=9, resolved_on_time=9)}, set()),
        ({"windows": day(p90_sla_used=None)}, set()),
        ({"windows": hour(received=16)}, set()),  # exactly 2 × baseline: not above
        ({"windows": hour(received=17)}, {RuleName.UNIT_SURGE}),
        ({"windows": hour(received=9), "baseline_received": 1.0}, set()),  # under min_received
        ({"windows": hour(received=10), "baseline_received": 1.0}, {RuleName.UNIT_SURGE}),
        ({"windows": hour(received=50), "baseline_received": None}, set()),  # baseline unknown
        ({"windows": hour(received=10), "baseline_received": 0.0}, {RuleName.UNIT_SURGE}),
        ({"overdue": 50, "open": 500}, {RuleName.UNIT_OVERDUE_COUNT, RuleName.UNIT_QUEUE_DEPTH}),
    ],
)
def test_unit_rules_fire_above_thresholds_with_minimum_volumes(
    changes: dict[str, Any],
    active: set[str],
    config: RulesConfig,
    catalog: Catalog,
    calendar: WorkCalendar,
) -> None:
    signals = unit_signals(status(**changes), config, catalog, calendar)
    assert [s.rule for s in signals] == list(UNIT_RULES)
    assert {s.rule for s in signals if s.active} == active
    assert [s.fingerprint for s in signals] == [f"{rule}:P-SAI-GON" for rule in UNIT_RULES]
    assert {(s.unit, s.item_id, s.at, s.escalation) for s in signals} == {("P-SAI-GON", None, AT, 0)}


def test_unit_signals_carry_severity_and_the_numbers_texts_need(
    config: RulesConfig, catalog: Catalog, calendar: WorkCalendar
) -> None:
    windows = {
        "1d": day(resolved=25, resolved_on_time=18, resolved_late=7)["1d"],
        "1h": hour(received=45)["1h"],
    }
    signals = {s.rule: s for s in unit_signals(status(windows=windows, open=320), config, catalog, calendar)}
    assert signals[RuleName.UNIT_ON_TIME_RATE].facts == {
        "window": "1d",
        "window_start": local(12, 8, 0),
        "resolved": 25,
        "resolved_on_time": 18,
        "resolved_late": 7,
        "rate": 0.72,
        "below": 0.8,
        "min_resolved": 10,
        "unit": "P-SAI-GON",
    }
    assert signals[RuleName.UNIT_SURGE].facts == {
        "window": "1h",
        "window_start": local(12, 8, 15),
        "received": 45,
        "baseline": 8.0,
        "factor": 2.0,
        "min_received": 10,
        "unit": "P-SAI-GON",
    }
    assert signals[RuleName.UNIT_QUEUE_DEPTH].facts == {
        "open": 320,
        "above": 300,
        "oldest_open_at": local(12, 1, 9),
        "unit": "P-SAI-GON",
    }
    assert {rule: s.severity for rule, s in signals.items()} == {
        RuleName.UNIT_ON_TIME_RATE: Severity.WARNING,
        RuleName.UNIT_OVERDUE_COUNT: Severity.WARNING,
        RuleName.UNIT_QUEUE_DEPTH: Severity.INFO,
        RuleName.UNIT_P90_LATENCY: Severity.WARNING,
        RuleName.UNIT_SURGE: Severity.WARNING,
    }


def test_a_disabled_unit_rule_signals_inactive_so_old_alerts_resolve(
    config: RulesConfig, catalog: Catalog, calendar: WorkCalendar
) -> None:
    quiet = replace(config, overdue_count=replace(config.overdue_count, enabled=False))
    signals = {s.rule: s for s in unit_signals(status(overdue=99), quiet, catalog, calendar)}
    assert signals[RuleName.UNIT_OVERDUE_COUNT].active is False


@pytest.mark.parametrize("kind", sorted(SILENT_KINDS))
def test_silent_kinds_never_produce_item_signals(
    kind: Kind, config: RulesConfig, catalog: Catalog, calendar: WorkCalendar
) -> None:
    track = tracker(config, catalog, calendar)
    track.event(EventType.RECEIVED, local(12, 7, 8), unit="P-BEN-THANH", sla=Sla(working_days=1))
    track.tick(local(12, 9, 12))  # overdue, escalated once: every condition holds
    item = track.item
    assert item is not None and (item.is_open, item.due_soon, item.escalation) == (True, True, 1)
    transition = Transition(ITEM, item.seq + 1, kind, local(12, 9, 13), "P-BEN-THANH")
    assert item_signals(transition, item, config, catalog, calendar) == []


def test_simulated_traffic_never_leaves_an_alert_of_a_closed_item_active() -> None:
    """Clearing transitions skip the conditions an item never reached; over realistic
    traffic (extensions, pauses, transfers, reopens, late resolutions) with deadline ticks
    applied as the deadline index would, every closed item still ends with its item
    alerts inactive, and every open one's overdue alert matches its state."""
    import heapq

    from domain.items import next_deadline
    from govpulse.simulator.model import Traffic, TrafficConfig
    from govpulse.simulator.oracle import item_policy
    from runtime.settings import load_settings

    settings = load_settings({})
    policy = item_policy(settings)
    config = RulesConfig.from_file(settings.rules_file)
    start = local(12, 1, 0)
    traffic = Traffic(
        policy.catalog, policy.sla, policy.calendar, config=TrafficConfig(seed=5, items_per_day=400)
    )
    items: dict[str, Item] = {}
    active: dict[str, bool] = {}
    due: list[tuple[float, str]] = []
    skipped = 0

    def apply(item_id: str, outcome_item: Item | None, transitions: list[Transition]) -> None:
        nonlocal skipped
        if outcome_item is None:
            items.pop(item_id, None)
            return
        items[item_id] = outcome_item
        for transition in transitions:
            signals = item_signals(transition, outcome_item, config, policy.catalog, policy.calendar)
            if transition.kind in (Kind.RESOLVED, Kind.CANCELLED, Kind.REOPENED):
                skipped += 2 - len(signals)
            for signal in signals:
                active[signal.fingerprint] = signal.active
        deadline = next_deadline(outcome_item, policy)
        if deadline is not None:
            heapq.heappush(due, (deadline.at, item_id))

    for message in traffic.messages(start, until=start + 12 * 86400):
        assert message.event is not None
        while due and due[0][0] < message.occurred_at:
            at, item_id = heapq.heappop(due)
            if item_id in items:
                outcome = apply_tick(items[item_id], at, policy)
                apply(item_id, outcome.item, outcome.transitions)
        item = items.get(message.item_id)
        outcome = apply_event(item, message.event, policy, kind=message.kind)
        apply(message.item_id, outcome.item, outcome.transitions)

    assert skipped > 1000  # the filter did skip most clearing signals
    closed = [item for item in items.values() if not item.is_open]
    assert len(closed) > 1000 and any(item.reopen_count for item in items.values())
    for item in items.values():
        due_soon = active.get(f"{RuleName.ITEM_DUE_SOON}:{item.item_id}", False)
        overdue = active.get(f"{RuleName.ITEM_OVERDUE}:{item.item_id}", False)
        if not item.is_open:
            assert not due_soon and not overdue, item
        else:
            assert overdue == (item.overdue_at is not None), item
