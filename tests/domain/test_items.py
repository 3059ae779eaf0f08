"""The item state machine: transitions, deadlines as timelines, the two clocks, encoding.

Times are local (Asia/Ho_Chi_Minh). The reference item is received on Monday 2 March
2026 at 07:30 (start of office hours) in category ``moi-truong`` (5 working days, clock
``continue``): it is due soon on Friday 6 March 11:30 (75% of 48 working hours), due on
Monday 9 March 17:00, and escalates on Tuesday 10 March 11:30, Wednesday 11 March 11:30
and Monday 16 March 11:30 (4h, +8h, +24h of working time after the deadline).
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog
from domain.errors import InvalidTransition
from domain.events import Event, EventType, Priority, Sla
from domain.items import (
    COUNTERS,
    KIND_COUNTERS,
    OPEN_STATUSES,
    Deadline,
    DeadlinePolicy,
    Item,
    ItemKind,
    ItemPolicy,
    Kind,
    Outcome,
    Stage,
    Status,
    Transition,
    apply_event,
    apply_tick,
    decode_item,
    encode_item,
    event_digest,
    item_summary,
    next_deadline,
)
from domain.sla import ClockKind, SlaPolicy

ROOT = Path(__file__).parents[2]
CALENDAR = WorkCalendar.from_file(ROOT / "domain" / "data" / "calendar.toml")
SLA = SlaPolicy.from_file(ROOT / "domain" / "data" / "sla.toml")
CATALOG = Catalog.from_file(Path(__file__).parent / "data" / "catalog_two_levels.json")
POLICY = ItemPolicy(CALENDAR, SLA, CATALOG)

H = 3600.0
DAY = 86400.0
ITEM = "PA-2026-000123"
BT, SG, TNMT = "P-BEN-THANH", "P-SAI-GON", "SO-TNMT"


def at(text: str) -> float:
    """Epoch seconds of local ``YYYY-MM-DD HH:MM[:SS]``."""
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).timestamp()


T0 = at("2026-03-02 07:30")  # received (Monday)
DUE_SOON = at("2026-03-06 11:30")
DUE = at("2026-03-09 17:00")
ESCALATIONS = (at("2026-03-10 11:30"), at("2026-03-11 11:30"), at("2026-03-16 11:30"))

_ids = itertools.count(1)


def ev(type_: str, when: float, *, event_id: str | None = None, **fields: Any) -> Event:
    return Event(
        event_id=event_id or f"ev-{next(_ids)}",
        item_id=ITEM,
        type=EventType(type_),
        occurred_at=when,
        **fields,
    )


def receive(
    when: float = T0,
    *,
    unit: str = BT,
    category: str | None = "moi-truong",
    policy: ItemPolicy = POLICY,
    **fields: Any,
) -> Item:
    outcome = apply_event(None, ev("received", when, unit=unit, category=category, **fields), policy)
    assert outcome.item is not None
    return outcome.item


def run(
    item: Item | None, *steps: Event | float, policy: ItemPolicy = POLICY
) -> tuple[Item, list[Transition]]:
    """Apply events (``Event``) and ticks (``float`` instants) in order; collect transitions."""
    transitions: list[Transition] = []
    for step in steps:
        if isinstance(step, Event):
            outcome = apply_event(item, step, policy)
        else:
            outcome = apply_tick(item, step, policy)
        assert outcome.item is not None
        item = outcome.item
        transitions.extend(outcome.transitions)
    assert item is not None
    return item, transitions


# -- every event type in every status -------------------------------------------------

T = at("2026-03-02 10:00")  # the event under test
NEW_DUE = at("2026-03-13 17:00")


def history(state: str) -> list[Event]:
    """Events that bring an item to ``state``: received at BT, assigned to TNMT, accepted..."""
    if state == "none":
        return []
    chains = {
        "received": [],
        "assigned": ["assigned"],
        "accepted": ["assigned", "accepted"],
        "in_progress": ["assigned", "accepted", "progress"],
        "paused": ["assigned", "accepted", "progress", "paused"],
        "resolved": ["assigned", "accepted", "progress", "resolved"],
        "cancelled": ["assigned", "accepted", "progress", "cancelled"],
    }
    events = [ev("received", T0, unit=BT, category="moi-truong")]
    for minute, step in enumerate(chains[state]):
        fields = {"unit": TNMT} if step == "assigned" else {}
        events.append(ev(step, at(f"2026-03-02 08:{minute * 10:02d}"), **fields))
    return events


def build(state: str) -> Item | None:
    """An item in ``state`` (see :func:`history`)."""
    events = history(state)
    return run(None, *events)[0] if events else None


def matrix_event(type_: str) -> Event:
    fields: dict[str, Any] = {}
    if type_ in ("received", "assigned", "transferred"):
        fields["unit"] = SG
    if type_ == "extended":
        fields["due_at"] = NEW_DUE
    return ev(type_, T, **fields)


def moved(source: str) -> tuple[tuple[str, str], ...]:
    return ((source, "transferred_out"), (source, "closed"), (SG, "transferred_in"), (SG, "opened"))


def resolved_counts(unit: str) -> tuple[tuple[str, str], ...]:
    return (
        (unit, "resolved"),
        (unit, "resolved_on_time"),
        (unit, "closed"),
        (unit, "resolved_feedback"),
        (unit, "resolved_on_time_feedback"),
    )


def kind_counts(unit: str, verdict: str, kind: str = "feedback") -> tuple[tuple[str, str], ...]:
    """The per-kind counters of a resolution (``resolved_feedback`` …)."""
    on_time = ((unit, f"resolved_on_time_{kind}"),) if verdict == "resolved_on_time" else ()
    return ((unit, f"resolved_{kind}"), *on_time)


def cancelled_counts(unit: str) -> tuple[tuple[str, str], ...]:
    return ((unit, "cancelled"), (unit, "closed"))


def ok(status: str, stage: str, kind: str, counts: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    return {"status": status, "stage": stage, "kind": kind, "counts": counts}


def unknown(type_: str) -> str:
    return f"'{type_}' for unknown item {ITEM}: the first event of an item must be 'received'"


def on(type_: str, why: str) -> str:
    return f"'{type_}' on item {ITEM}: {why}"


ALREADY = "the item was already received"
NOT_PAUSED = "the item is not paused"
RESUME_FIRST = "the item is paused; resume it first"
RESOLVED_ONLY_REOPEN = "the item is resolved (only 'reopened' can follow)"
CANCELLED = "the item is cancelled"


def _stage_rows(state: str, unit: str, stage: str) -> list[tuple[str, str, Any]]:
    """Rows shared by the four open stages."""
    accepted: Any = ok("open", "accepted", "accepted")
    if stage in ("accepted", "in_progress"):
        accepted = on("accepted", f"already accepted (stage {stage})")
    return [
        (state, "received", on("received", ALREADY)),
        (state, "assigned", ok("open", "assigned", "assigned", moved(unit))),
        (state, "transferred", ok("open", "assigned", "transferred", moved(unit))),
        (state, "accepted", accepted),
        (state, "progress", ok("open", "in_progress", "progress")),
        (state, "extended", ok("open", stage, "extended")),
        (state, "paused", ok("paused", stage, "paused")),
        (state, "resumed", on("resumed", NOT_PAUSED)),
        (state, "resolved", ok("resolved", stage, "resolved", resolved_counts(unit))),
        (state, "reopened", on("reopened", "only a resolved item can be reopened (it is open)")),
        (state, "cancelled", ok("cancelled", stage, "cancelled", cancelled_counts(unit))),
    ]


MATRIX: list[tuple[str, str, Any]] = [
    ("none", "received", ok("open", "received", "received", ((SG, "received"), (SG, "opened")))),
    ("none", "assigned", unknown("assigned")),
    ("none", "transferred", unknown("transferred")),
    ("none", "accepted", unknown("accepted")),
    ("none", "progress", unknown("progress")),
    ("none", "extended", unknown("extended")),
    ("none", "paused", unknown("paused")),
    ("none", "resumed", unknown("resumed")),
    ("none", "resolved", unknown("resolved")),
    ("none", "reopened", unknown("reopened")),
    ("none", "cancelled", unknown("cancelled")),
    *_stage_rows("received", BT, "received"),
    *_stage_rows("assigned", TNMT, "assigned"),
    *_stage_rows("accepted", TNMT, "accepted"),
    *_stage_rows("in_progress", TNMT, "in_progress"),
    ("paused", "received", on("received", ALREADY)),
    ("paused", "assigned", on("assigned", RESUME_FIRST)),
    ("paused", "transferred", on("transferred", RESUME_FIRST)),
    ("paused", "accepted", on("accepted", RESUME_FIRST)),
    ("paused", "progress", on("progress", RESUME_FIRST)),
    ("paused", "extended", ok("paused", "in_progress", "extended")),
    ("paused", "paused", on("paused", "the item is already paused")),
    ("paused", "resumed", ok("open", "in_progress", "resumed")),
    ("paused", "resolved", ok("resolved", "in_progress", "resolved", resolved_counts(TNMT))),
    ("paused", "reopened", on("reopened", "only a resolved item can be reopened (it is paused)")),
    ("paused", "cancelled", ok("cancelled", "in_progress", "cancelled", cancelled_counts(TNMT))),
    ("resolved", "received", on("received", ALREADY)),
    ("resolved", "assigned", on("assigned", RESOLVED_ONLY_REOPEN)),
    ("resolved", "transferred", on("transferred", RESOLVED_ONLY_REOPEN)),
    ("resolved", "accepted", on("accepted", RESOLVED_ONLY_REOPEN)),
    ("resolved", "progress", on("progress", RESOLVED_ONLY_REOPEN)),
    ("resolved", "extended", on("extended", RESOLVED_ONLY_REOPEN)),
    ("resolved", "paused", on("paused", RESOLVED_ONLY_REOPEN)),
    ("resolved", "resumed", on("resumed", RESOLVED_ONLY_REOPEN)),
    ("resolved", "resolved", on("resolved", RESOLVED_ONLY_REOPEN)),
    (
        "resolved",
        "reopened",
        ok("open", "in_progress", "reopened", ((TNMT, "reopened"), (TNMT, "opened"))),
    ),
    ("resolved", "cancelled", on("cancelled", RESOLVED_ONLY_REOPEN)),
    ("cancelled", "received", on("received", ALREADY)),
    *[
        ("cancelled", type_.value, on(type_.value, CANCELLED))
        for type_ in EventType
        if type_.value != "received"
    ],
]


def test_matrix_covers_every_event_type_in_every_status() -> None:
    states = [
        "none",
        "received",
        "assigned",
        "accepted",
        "in_progress",
        "paused",
        "resolved",
        "cancelled",
    ]
    assert [(state, type_) for state, type_, _ in MATRIX] == [
        (state, type_.value) for state in states for type_ in EventType
    ]


@pytest.mark.parametrize(
    ("state", "type_", "expected"),
    [row for row in MATRIX if isinstance(row[2], dict)],
    ids=[f"{s}-{t}" for s, t, e in MATRIX if isinstance(e, dict)],
)
def test_valid_event_changes_status_stage_and_counts(
    state: str, type_: str, expected: dict[str, Any]
) -> None:
    item = build(state)
    seq = item.seq if item is not None else 0
    outcome = apply_event(item, matrix_event(type_), POLICY)
    assert outcome.item is not None
    assert (outcome.item.status, outcome.item.stage) == (expected["status"], expected["stage"])
    assert [(t.kind.value, t.counts) for t in outcome.transitions] == [(expected["kind"], expected["counts"])]
    (transition,) = outcome.transitions
    assert (transition.seq, outcome.item.seq, transition.at) == (seq + 1, seq + 1, T)
    assert transition.unit == outcome.item.unit
    assert all(counter in COUNTERS or counter in KIND_COUNTERS for _, counter in transition.counts)
    assert not outcome.duplicate and not outcome.purged


@pytest.mark.parametrize(
    ("state", "type_", "reason"),
    [row for row in MATRIX if isinstance(row[2], str)],
    ids=[f"{s}-{t}" for s, t, e in MATRIX if isinstance(e, str)],
)
def test_impossible_event_is_rejected_and_item_unchanged(state: str, type_: str, reason: str) -> None:
    item = build(state)
    before = encode_item(item) if item is not None else None
    with pytest.raises(InvalidTransition) as caught:
        apply_event(item, matrix_event(type_), POLICY)
    assert caught.value.reason == reason
    if item is not None:
        assert encode_item(item) == before


@pytest.mark.parametrize(
    ("state", "event", "reason"),
    [
        (
            "received",
            ev("assigned", T, unit="P-XYZ"),
            on("assigned", "unknown unit 'P-XYZ' (not in the unit catalog)"),
        ),
        (
            "assigned",
            ev("transferred", T, unit="Q1"),
            on("transferred", "unknown unit 'Q1' (not in the unit catalog)"),
        ),
        (
            "assigned",
            ev("transferred", T, unit=TNMT),
            on("transferred", "the item is already at unit SO-TNMT"),
        ),
        (
            "received",
            ev("transferred", T, unit=BT),
            on("transferred", "the item is already at unit P-BEN-THANH"),
        ),
        (
            "received",
            ev("extended", T, due_at=T),
            on("extended", "the new deadline is not in the future of the event"),
        ),
        (
            "received",
            ev("extended", T, due_at=T - 1),
            on("extended", "the new deadline is not in the future of the event"),
        ),
        (
            "received",
            ev("extended", T, due_at=DUE),
            on("extended", "the new deadline is not after the current one"),
        ),
        (
            "received",
            ev("extended", T, due_at=DUE - H),
            on("extended", "the new deadline is not after the current one"),
        ),
        # A stale event is judged at the latest instant the item has seen (08:30 here).
        (
            "accepted",
            ev("extended", at("2026-03-02 07:45"), due_at=at("2026-03-02 08:00")),
            on("extended", "the new deadline is not in the future of the event"),
        ),
        # An invalid event dated after the deadline does not fire the overdue transition either.
        ("received", ev("resumed", DUE + DAY), on("resumed", NOT_PAUSED)),
    ],
    ids=[
        "assign-unknown-unit",
        "transfer-unknown-unit",
        "transfer-same-unit",
        "transfer-same-unit-first",
        "extend-to-now",
        "extend-to-past",
        "extend-to-current-due",
        "extend-earlier",
        "extend-stale",
        "late-invalid-event",
    ],
)
def test_impossible_details_are_rejected_and_item_unchanged(state: str, event: Event, reason: str) -> None:
    item = build(state)
    assert item is not None
    before = encode_item(item)
    with pytest.raises(InvalidTransition) as caught:
        apply_event(item, event, POLICY)
    assert caught.value.reason == reason
    assert encode_item(item) == before


def test_received_for_unknown_unit_is_rejected() -> None:
    with pytest.raises(InvalidTransition) as caught:
        apply_event(None, ev("received", T0, unit="P-XYZ"), POLICY)
    assert caught.value.reason == (
        f"'received' for item {ITEM}: unknown unit 'P-XYZ' (not in the unit catalog)"
    )


def test_assigned_to_the_same_unit_moves_the_stage_without_counts() -> None:
    item, transitions = run(receive(), ev("assigned", T, unit=BT))
    assert (item.unit, item.stage, item.unit_since, item.transfer_count) == (BT, "assigned", T0, 0)
    assert [(t.kind, t.from_unit, t.counts) for t in transitions] == [(Kind.ASSIGNED, None, ())]


def test_assigned_moves_without_counting_a_transfer_but_transferred_counts_one() -> None:
    item, transitions = run(receive(), ev("assigned", T, unit=TNMT), ev("transferred", T + H, unit=SG))
    assert (item.unit, item.transfer_count, item.unit_since) == (SG, 1, T + H)
    assert [(t.kind, t.unit, t.from_unit) for t in transitions] == [
        (Kind.ASSIGNED, TNMT, BT),
        (Kind.TRANSFERRED, SG, TNMT),
    ]


# -- the received item -------------------------------------------------------------------


def test_received_item_has_both_clocks_and_defaults() -> None:
    outcome = apply_event(
        None,
        ev(
            "received",
            T0,
            unit=BT,
            category="moi-truong",
            title="Rác <b>thải</b>" + "x" * 400,
            channel="1022" * 20,
        ),
        POLICY,
        kind=ItemKind.FEEDBACK,
        partition=5,
    )
    item = outcome.item
    assert item is not None
    assert item == Item(
        item_id=ITEM,
        kind="feedback",
        status="open",
        stage="received",
        unit=BT,
        category="moi-truong",
        priority="normal",
        title=("Rác <b>thải</b>" + "x" * 400)[:300],
        channel=("1022" * 20)[:64],
        clock="working",
        received_at=T0,
        period_start=T0,
        original_due=DUE,
        current_due=DUE,
        unit_since=T0,
        unit_due=DUE,
        due_soon_at=DUE_SOON,
        last_at=T0,
        seq=1,
        partition=5,
        event_ids=[item.event_ids[0]],
    )
    assert outcome.transitions == [
        Transition(ITEM, 1, Kind.RECEIVED, T0, BT, counts=((BT, "received"), (BT, "opened")))
    ]
    assert (item.is_open, item.overdue) == (True, False)


@pytest.mark.parametrize(
    ("kind", "fields", "category", "priority", "clock", "due"),
    [
        (
            "feedback",
            {},
            "khac",
            "normal",
            "working",
            at("2026-03-16 17:00"),
        ),  # default: 10 working days
        (
            "task",
            {},
            "nhiem-vu",
            "normal",
            "working",
            at("2026-03-30 17:00"),
        ),  # tasks: 20 working days
        ("feedback", {"priority": Priority.URGENT}, "khac", "urgent", "elapsed", T0 + 48 * H),
        (
            "feedback",
            {"category": "giao-thong", "priority": Priority.URGENT},
            "giao-thong",
            "urgent",
            "elapsed",
            T0 + 12 * H,
        ),
        (
            "task",
            {"due_at": at("2026-03-20 17:00")},
            "nhiem-vu",
            "normal",
            "elapsed",
            at("2026-03-20 17:00"),
        ),
        (
            "feedback",
            {"sla": Sla(working_days=1)},
            "khac",
            "normal",
            "working",
            at("2026-03-03 17:00"),
        ),
        ("feedback", {"sla": Sla(hours=6)}, "khac", "normal", "elapsed", T0 + 6 * H),
    ],
    ids=[
        "feedback-default",
        "task-default",
        "urgent",
        "urgent-category",
        "task-due-at",
        "sla-days",
        "sla-hours",
    ],
)
def test_received_item_deadline_comes_from_the_sla_policy(
    kind: str, fields: dict[str, Any], category: str, priority: str, clock: str, due: float
) -> None:
    fields.setdefault("category", None)
    outcome = apply_event(None, ev("received", T0, unit=BT, **fields), POLICY, kind=ItemKind(kind))
    item = outcome.item
    assert item is not None
    assert (item.kind, item.category, item.priority, item.clock) == (
        kind,
        category,
        priority,
        clock,
    )
    assert (item.original_due, item.current_due, item.unit_due) == (due, due, due)


@pytest.mark.parametrize(
    ("fields", "due_soon_at"),
    [
        # 48 working hours: 75% (36h) comes before "8 working hours left".
        ({"category": "moi-truong"}, DUE_SOON),
        # 24 working hours: "8 working hours left" (Wed 07:30) comes before 75% (Wed 09:30).
        ({"sla": Sla(working_days=2)}, at("2026-03-04 07:30")),
        # 16 working hours: not longer than twice 8h, so only the 75% rule applies.
        ({"sla": Sla(working_days=1)}, at("2026-03-03 11:30")),
        # Elapsed clocks: 48h -> 36h, 24h -> 16h (8h left), 10h -> 7.5h (short period).
        ({"sla": Sla(hours=48)}, T0 + 36 * H),
        ({"sla": Sla(hours=24)}, T0 + 16 * H),
        ({"sla": Sla(hours=10)}, T0 + 7.5 * H),
        # A deadline already past: due soon and overdue coincide.
        ({"due_at": T0 - H}, T0 - H),
    ],
    ids=[
        "share",
        "time-left",
        "short-working",
        "elapsed-share",
        "elapsed-time-left",
        "elapsed-short",
        "past",
    ],
)
def test_due_soon_is_the_earlier_of_share_used_and_time_left(
    fields: dict[str, Any], due_soon_at: float
) -> None:
    assert receive(**fields).due_soon_at == due_soon_at


# -- deadlines: due soon, overdue, escalation ---------------------------------------


def test_next_deadline_runs_due_soon_overdue_then_each_escalation() -> None:
    item = receive()
    seen: list[Deadline | None] = []
    for _ in range(6):
        deadline = next_deadline(item, POLICY)
        seen.append(deadline)
        if deadline is None:
            break
        apply_tick(item, deadline.at, POLICY)
    assert seen == [
        Deadline(DUE_SOON, Kind.DUE_SOON),
        Deadline(DUE, Kind.OVERDUE),
        Deadline(ESCALATIONS[0], Kind.ESCALATED),
        Deadline(ESCALATIONS[1], Kind.ESCALATED),
        Deadline(ESCALATIONS[2], Kind.ESCALATED),
        None,
    ]
    assert item.escalation == 3


@pytest.mark.parametrize(
    ("instant", "kind", "escalation"),
    [
        (DUE_SOON, Kind.DUE_SOON, 0),
        (DUE, Kind.OVERDUE, 0),
        (ESCALATIONS[0], Kind.ESCALATED, 1),
        (ESCALATIONS[1], Kind.ESCALATED, 2),
        (ESCALATIONS[2], Kind.ESCALATED, 3),
    ],
)
def test_each_deadline_fires_exactly_at_its_instant_once(instant: float, kind: Kind, escalation: int) -> None:
    item, _ = run(receive(), *(i for i in (DUE_SOON, DUE, *ESCALATIONS) if i < instant))
    before = encode_item(item)
    early = apply_tick(item, instant - 0.001, POLICY)
    assert early == Outcome(item, [])
    assert encode_item(item) == before
    fired = apply_tick(item, instant, POLICY)
    assert [(t.kind, t.at, t.escalation) for t in fired.transitions] == [(kind, instant, escalation)]
    after = encode_item(item)
    again = apply_tick(item, instant, POLICY)
    assert again.transitions == []
    assert encode_item(item) == after


def test_overdue_fires_at_deadline_without_new_event() -> None:
    item = receive()
    apply_tick(item, DUE_SOON, POLICY)
    outcome = apply_tick(item, DUE, POLICY)
    assert outcome.transitions == [
        Transition(ITEM, 3, Kind.OVERDUE, DUE, BT, counts=((BT, "became_overdue"),))
    ]
    assert (item.overdue_at, item.overdue, item.due_soon, item.last_at) == (DUE, True, True, DUE)
    assert apply_tick(item, DUE, POLICY).transitions == []
    assert apply_tick(item, DUE + 1, POLICY).transitions == []


def test_one_late_tick_fires_every_missed_deadline_at_its_own_instant() -> None:
    item = receive()
    outcome = apply_tick(item, at("2026-03-20 09:00"), POLICY)
    assert [(t.kind, t.at, t.seq, t.escalation) for t in outcome.transitions] == [
        (Kind.DUE_SOON, DUE_SOON, 2, 0),
        (Kind.OVERDUE, DUE, 3, 0),
        (Kind.ESCALATED, ESCALATIONS[0], 4, 1),
        (Kind.ESCALATED, ESCALATIONS[1], 5, 2),
        (Kind.ESCALATED, ESCALATIONS[2], 6, 3),
    ]
    assert item.last_at == ESCALATIONS[2]
    assert next_deadline(item, POLICY) is None


def test_event_after_the_deadline_first_fires_overdue_at_the_deadline() -> None:
    item, transitions = run(receive(), ev("progress", DUE + 1))
    assert [(t.kind, t.at) for t in transitions] == [
        (Kind.DUE_SOON, DUE_SOON),
        (Kind.OVERDUE, DUE),
        (Kind.PROGRESS, DUE + 1),
    ]
    assert [t.seq for t in transitions] == [2, 3, 4]
    assert (item.overdue_at, item.stage) == (DUE, "in_progress")


@pytest.mark.parametrize(
    ("resolved_at", "kinds", "verdict"),
    [
        (DUE_SOON, ["resolved"], "resolved_on_time"),  # strictly before: due soon not fired
        (DUE - 1, ["due_soon", "resolved"], "resolved_on_time"),
        (DUE, ["due_soon", "resolved"], "resolved_on_time"),  # exactly at the deadline: on time
        (DUE + 1, ["due_soon", "overdue", "resolved"], "resolved_late"),
        (ESCALATIONS[0] + 1, ["due_soon", "overdue", "escalated", "resolved"], "resolved_late"),
    ],
    ids=["at-due-soon", "just-before", "at-deadline", "just-after", "after-escalation"],
)
def test_event_at_the_deadline_is_on_time_strictly_after_is_late(
    resolved_at: float, kinds: list[str], verdict: str
) -> None:
    item, transitions = run(receive(), ev("resolved", resolved_at))
    assert [t.kind.value for t in transitions] == kinds
    overdue = ((BT, "late_closed"),) if "overdue" in kinds else ()
    assert transitions[-1].counts == (
        (BT, "resolved"),
        (BT, verdict),
        (BT, "closed"),
        *kind_counts(BT, verdict),
        *overdue,
    )
    assert item.overdue_at == (DUE if "overdue" in kinds else None)


def test_stale_resolution_after_the_overdue_tick_stays_late() -> None:
    """The timer marked the item overdue; an older 'resolved' arriving later does not undo it."""
    item, transitions = run(receive(), DUE, ev("resolved", DUE - H))
    assert [(t.kind, t.at) for t in transitions] == [
        (Kind.DUE_SOON, DUE_SOON),
        (Kind.OVERDUE, DUE),
        (Kind.RESOLVED, DUE - H),
    ]
    assert transitions[-1].counts == (
        (BT, "resolved"),
        (BT, "resolved_late"),
        (BT, "closed"),
        (BT, "resolved_feedback"),
        (BT, "late_closed"),
    )
    assert (item.resolved_at, item.last_at) == (DUE, DUE)


def test_stale_event_keeps_time_from_going_backwards() -> None:
    item, transitions = run(receive(), ev("accepted", at("2026-03-03 10:00")), ev("progress", T0 + 60))
    assert transitions[-1].at == T0 + 60  # picks its own counter window
    assert item.last_at == at("2026-03-03 10:00")


def test_paused_item_has_no_deadline_and_ticks_do_nothing() -> None:
    item, _ = run(receive(), ev("paused", at("2026-03-03 09:00")))
    assert next_deadline(item, POLICY) is None
    before = encode_item(item)
    assert apply_tick(item, at("2026-04-30 09:00"), POLICY).transitions == []
    assert encode_item(item) == before


def test_deadline_policy_escalation_offsets_accumulate() -> None:
    policy = DeadlinePolicy()
    assert [policy.escalation_offset(step) for step in (1, 2, 3, 4)] == [
        4 * H,
        12 * H,
        36 * H,
        36 * H,
    ]


def test_custom_escalation_ladder_is_followed() -> None:
    policy = ItemPolicy(CALENDAR, SLA, CATALOG, DeadlinePolicy(escalation_delays=(H,)))
    item, transitions = run(receive(policy=policy), at("2026-03-31 09:00"), policy=policy)
    assert [(t.kind, t.at) for t in transitions] == [
        (Kind.DUE_SOON, DUE_SOON),
        (Kind.OVERDUE, DUE),
        (Kind.ESCALATED, at("2026-03-10 08:30")),
    ]
    assert next_deadline(item, policy) is None


# -- two clocks: transfers ------------------------------------------------------------------


def test_transfer_under_continue_keeps_the_citizen_deadline_for_the_unit() -> None:
    item, transitions = run(receive(), ev("transferred", at("2026-03-04 10:00"), unit=SG))
    assert (item.unit, item.unit_since, item.unit_due, item.current_due) == (
        SG,
        at("2026-03-04 10:00"),
        DUE,
        DUE,
    )
    assert transitions[-1].from_unit == BT
    assert transitions[-1].counts == moved(BT)


DAT_DAI_DUE = at("2026-03-23 17:00")  # 15 working days after Mon 2 March
TRANSFER_AT = at("2026-03-20 10:00")
UNIT_DUE = at("2026-04-10 17:00")  # 15 working days after Fri 20 March


def test_transfer_under_restart_gives_the_new_unit_a_fresh_period() -> None:
    item, _ = run(receive(category="dat-dai"), ev("transferred", TRANSFER_AT, unit=SG))
    assert (item.current_due, item.original_due) == (DAT_DAI_DUE, DAT_DAI_DUE)
    assert (item.unit, item.unit_since, item.unit_due) == (SG, TRANSFER_AT, UNIT_DUE)


def test_restart_unit_is_judged_on_its_own_clock_while_the_citizen_overdue_fires() -> None:
    item, _ = run(receive(category="dat-dai"), ev("transferred", TRANSFER_AT, unit=SG))
    overdue = apply_tick(item, DAT_DAI_DUE, POLICY)
    assert [(t.kind, t.at, t.unit, t.counts) for t in overdue.transitions] == [
        (Kind.OVERDUE, DAT_DAI_DUE, SG, ((SG, "became_overdue"),))
    ]
    assert item.overdue
    item, transitions = run(item, ev("resolved", at("2026-04-01 10:00")))
    assert [t.kind for t in transitions] == [Kind.ESCALATED] * 3 + [Kind.RESOLVED]
    assert transitions[-1].counts == (
        (SG, "resolved"),
        (SG, "resolved_on_time"),
        (SG, "closed"),
        (SG, "resolved_feedback"),
        (SG, "resolved_on_time_feedback"),
        (SG, "late_closed"),
    )
    assert item.overdue_at == DAT_DAI_DUE  # the citizen's lateness is kept


def test_restart_unit_resolving_after_its_own_deadline_is_late() -> None:
    _, transitions = run(
        receive(category="dat-dai"),
        ev("transferred", TRANSFER_AT, unit=SG),
        ev("resolved", UNIT_DUE + 1),
    )
    assert transitions[-1].counts == (
        (SG, "resolved"),
        (SG, "resolved_late"),
        (SG, "closed"),
        (SG, "resolved_feedback"),
        (SG, "late_closed"),
    )


def test_restart_never_gives_a_unit_less_than_the_citizen_deadline() -> None:
    item, _ = run(
        receive(category="dat-dai", sla=Sla(working_days=30)),
        ev("transferred", at("2026-03-03 10:00"), unit=SG),
    )
    assert item.current_due == at("2026-04-13 17:00")
    assert item.unit_due == item.current_due  # a fresh 15-day period would end on 24 March


def test_restart_does_not_apply_to_elapsed_clocks() -> None:
    item, _ = run(
        receive(category="dat-dai", priority=Priority.URGENT),
        ev("transferred", T0 + 24 * H, unit=SG),
    )
    assert item.clock == ClockKind.ELAPSED
    assert item.unit_due == item.current_due == T0 + 72 * H


def test_assignment_under_restart_also_restarts_the_unit_clock() -> None:
    item, _ = run(receive(category="dat-dai"), ev("assigned", TRANSFER_AT, unit=SG))
    assert (item.unit_due, item.transfer_count) == (UNIT_DUE, 0)


def test_transfer_after_overdue_under_continue_leaves_the_unit_no_time() -> None:
    item, transitions = run(receive(), DUE, ev("transferred", DUE + H, unit=SG), ev("resolved", DUE + 2 * H))
    assert item.unit_due == DUE
    assert transitions[-1].counts == (
        (SG, "resolved"),
        (SG, "resolved_late"),
        (SG, "closed"),
        (SG, "resolved_feedback"),
        (SG, "late_closed"),
    )
    assert transitions[-1].latency == H
    assert transitions[-1].sla_used is None


# -- extensions ----------------------------------------------------------------------------


def test_extension_before_the_deadline_moves_current_due() -> None:
    item, _ = run(receive(), ev("extended", at("2026-03-05 10:00"), due_at=NEW_DUE))
    assert (item.original_due, item.current_due, item.unit_due) == (DUE, NEW_DUE, NEW_DUE)
    assert (item.appointment_at, item.due_soon_at) == (None, at("2026-03-11 11:30"))
    assert next_deadline(item, POLICY) == Deadline(at("2026-03-11 11:30"), Kind.DUE_SOON)
    assert apply_tick(item, DUE, POLICY).transitions == []  # the old deadline passes quietly
    item, transitions = run(item, ev("resolved", at("2026-03-12 10:00")))
    assert [(t.kind, t.at) for t in transitions] == [
        (Kind.DUE_SOON, at("2026-03-11 11:30")),
        (Kind.RESOLVED, at("2026-03-12 10:00")),
    ]
    assert transitions[-1].counts == (
        (BT, "resolved"),
        (BT, "resolved_on_time"),
        (BT, "closed"),
        (BT, "resolved_feedback"),
        (BT, "resolved_on_time_feedback"),
    )
    assert item.overdue_at is None


def test_extension_by_sla_counts_from_the_start_of_the_period() -> None:
    item, _ = run(receive(), ev("extended", at("2026-03-05 10:00"), sla=Sla(working_days=10)))
    assert (item.original_due, item.current_due) == (DUE, at("2026-03-16 17:00"))


def test_extension_after_due_soon_re_arms_due_soon() -> None:
    item, _ = run(receive(), DUE_SOON)
    assert item.due_soon
    item, _ = run(item, ev("extended", at("2026-03-06 14:00"), due_at=NEW_DUE))
    assert not item.due_soon
    assert next_deadline(item, POLICY) == Deadline(at("2026-03-11 11:30"), Kind.DUE_SOON)


def test_extension_after_overdue_only_sets_an_appointment() -> None:
    item, _ = run(receive(), DUE)
    item, transitions = run(item, ev("extended", at("2026-03-10 09:00"), due_at=NEW_DUE))
    assert [t.kind for t in transitions] == [Kind.EXTENDED]
    assert (item.current_due, item.unit_due, item.appointment_at) == (DUE, DUE, NEW_DUE)
    assert item.overdue  # the overdue gauge stays
    assert next_deadline(item, POLICY) == Deadline(ESCALATIONS[0], Kind.ESCALATED)
    item, transitions = run(item, ev("resolved", at("2026-03-10 10:00")))
    assert transitions[-1].counts == (
        (BT, "resolved"),
        (BT, "resolved_late"),
        (BT, "closed"),
        (BT, "resolved_feedback"),
        (BT, "late_closed"),
    )
    assert item.overdue_at == DUE


def test_extension_dated_after_the_deadline_fires_overdue_first_and_stays_late() -> None:
    item, transitions = run(receive(), ev("extended", DUE + H, due_at=NEW_DUE))
    assert [(t.kind, t.at) for t in transitions] == [
        (Kind.DUE_SOON, DUE_SOON),
        (Kind.OVERDUE, DUE),
        (Kind.EXTENDED, DUE + H),
    ]
    assert (item.current_due, item.appointment_at, item.overdue) == (DUE, NEW_DUE, True)


# -- pause and resume ----------------------------------------------------------------------


def test_pause_shifts_a_working_day_deadline_by_the_paused_working_time() -> None:
    paused, resumed = at("2026-03-03 13:00"), at("2026-03-05 13:00")  # 16 working hours
    item, transitions = run(receive(), ev("paused", paused))
    assert (item.status, item.paused_at) == ("paused", paused)
    assert apply_tick(item, DUE, POLICY).transitions == []
    item, transitions = run(item, ev("resumed", resumed))
    assert [t.kind for t in transitions] == [Kind.RESUMED]
    assert (item.status, item.paused_at) == ("open", None)
    assert (item.original_due, item.current_due, item.unit_due) == (
        DUE,
        at("2026-03-11 17:00"),
        at("2026-03-11 17:00"),
    )
    assert item.due_soon_at == at("2026-03-10 11:30")
    assert (item.unit_paused, item.unit_paused_elapsed) == (16 * H, 48 * H)


def test_pause_shifts_an_hour_deadline_by_elapsed_time() -> None:
    start = at("2026-03-02 09:00")
    item, _ = run(
        receive(start, sla=Sla(hours=48)),
        ev("paused", at("2026-03-02 12:00")),
        ev("resumed", at("2026-03-02 18:00")),
    )
    assert item.original_due == start + 48 * H
    assert item.current_due == item.unit_due == start + 54 * H
    assert item.due_soon_at == start + 42 * H
    assert (item.unit_paused, item.unit_paused_elapsed) == (6 * H, 6 * H)


def test_pause_over_a_weekend_and_tet_costs_no_working_time() -> None:
    item, _ = run(
        receive(at("2026-02-12 07:30")),  # Thursday before Tết: due Thursday 26 February
        ev("paused", at("2026-02-13 17:00")),
        ev("resumed", at("2026-02-23 07:30")),
    )
    assert item.original_due == item.current_due == at("2026-02-26 17:00")
    assert item.unit_paused == 0.0


def test_resume_event_dated_after_the_old_deadline_fires_nothing() -> None:
    item, transitions = run(receive(), ev("paused", at("2026-03-03 07:30")), ev("resumed", DUE + DAY))
    assert [t.kind for t in transitions] == [Kind.PAUSED, Kind.RESUMED]
    assert item.current_due == at("2026-03-17 17:00")  # 40 working hours left, from Tue 10 March 17:00
    assert item.overdue_at is None


def test_pause_while_overdue_delays_escalation_but_not_lateness() -> None:
    item, _ = run(receive(), DUE, ev("paused", at("2026-03-10 07:30")))
    assert apply_tick(item, ESCALATIONS[0], POLICY).transitions == []
    item, _ = run(item, ev("resumed", at("2026-03-11 07:30")))
    assert item.escalation_paused == 8 * H
    assert item.current_due == DUE
    assert item.overdue
    assert next_deadline(item, POLICY) == Deadline(at("2026-03-11 11:30"), Kind.ESCALATED)
    item, transitions = run(item, at("2026-03-12 11:30"))
    assert [(t.kind, t.at, t.escalation) for t in transitions] == [
        (Kind.ESCALATED, at("2026-03-11 11:30"), 1),
        (Kind.ESCALATED, at("2026-03-12 11:30"), 2),
    ]


def test_pause_while_overdue_also_stops_a_restarted_unit_clock() -> None:
    item, _ = run(
        receive(category="dat-dai"),
        ev("transferred", TRANSFER_AT, unit=SG),
        DAT_DAI_DUE,
        ev("paused", at("2026-03-24 07:30")),
        ev("resumed", at("2026-03-26 07:30")),  # 16 working hours
    )
    assert item.unit_due == at("2026-04-14 17:00")
    item, transitions = run(item, ev("resolved", at("2026-04-13 10:00")))
    assert transitions[-1].counts == (
        (SG, "resolved"),
        (SG, "resolved_on_time"),
        (SG, "closed"),
        (SG, "resolved_feedback"),
        (SG, "resolved_on_time_feedback"),
        (SG, "late_closed"),
    )


def test_resolved_while_paused_is_judged_with_the_pause_excluded() -> None:
    item, transitions = run(
        receive(), ev("paused", at("2026-03-03 07:30")), ev("resolved", at("2026-03-11 10:00"))
    )
    resolved = transitions[-1]
    assert resolved.counts == (
        (BT, "resolved"),
        (BT, "resolved_on_time"),
        (BT, "closed"),
        (BT, "resolved_feedback"),
        (BT, "resolved_on_time_feedback"),
    )
    assert resolved.latency == 24 * H  # Monday 07:30 to Tuesday 07:30, then paused
    assert resolved.sla_used == (8 * H) / (48 * H)
    assert (item.status, item.paused_at) == ("resolved", None)


# -- latency and share of the SLA used ----------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "latency", "sla_used"),
    [
        ([ev("resolved", at("2026-03-04 11:30"))], 2 * DAY + 4 * H, (20 * H) / (48 * H)),
        (
            [
                ev("paused", at("2026-03-03 07:30")),
                ev("resumed", at("2026-03-04 07:30")),
                ev("resolved", at("2026-03-05 07:30")),
            ],
            2 * DAY,
            (16 * H) / (48 * H),
        ),
        ([ev("resolved", DUE)], 7 * DAY + 9.5 * H, 1.0),
        ([ev("resolved", at("2026-03-10 17:00"))], 8 * DAY + 9.5 * H, (56 * H) / (48 * H)),
        ([ev("resolved", T0)], 0.0, 0.0),
        # The resolving unit is measured from when it got the item.
        (
            [
                ev("transferred", at("2026-03-04 07:30"), unit=SG),
                ev("resolved", at("2026-03-05 07:30")),
            ],
            DAY,
            (8 * H) / (32 * H),
        ),
    ],
    ids=["plain", "with-pause", "at-deadline", "late", "instant", "after-transfer"],
)
def test_resolution_reports_latency_and_sla_used_without_pauses(
    steps: list[Event], latency: float, sla_used: float
) -> None:
    _, transitions = run(receive(), *steps)
    resolved = transitions[-1]
    assert resolved.kind is Kind.RESOLVED
    assert (resolved.latency, resolved.sla_used) == (latency, sla_used)


def test_hour_sla_used_is_measured_in_clock_time() -> None:
    start = at("2026-03-07 09:00")  # a Saturday: clock hours run anyway
    _, transitions = run(receive(start, sla=Sla(hours=48)), ev("resolved", start + 24 * H))
    assert (transitions[-1].latency, transitions[-1].sla_used) == (24 * H, 0.5)
    assert transitions[-1].counts[1] == (BT, "resolved_on_time")


# -- reopen, cancel, purge ------------------------------------------------------------------


def test_reopen_counts_and_starts_a_fresh_period() -> None:
    reopened_at = at("2026-03-06 10:00")
    item, transitions = run(receive(), ev("resolved", at("2026-03-05 10:00")), ev("reopened", reopened_at))
    assert transitions[-1] == Transition(
        ITEM, 3, Kind.REOPENED, reopened_at, BT, counts=((BT, "reopened"), (BT, "opened"))
    )
    assert (item.status, item.stage, item.reopen_count) == ("open", "in_progress", 1)
    assert (item.period_start, item.unit_since) == (reopened_at, reopened_at)
    assert (item.original_due, item.current_due, item.unit_due) == (DUE, NEW_DUE, NEW_DUE)
    assert item.due_soon_at == at("2026-03-12 13:37:30")
    assert (item.resolved_at, item.closed_at, item.due_soon) == (None, None, False)


def test_reopen_after_overdue_and_escalation_resets_them() -> None:
    item, _ = run(
        receive(),
        at("2026-03-11 12:00"),
        ev("extended", at("2026-03-11 13:00"), due_at=at("2026-03-30 17:00")),
    )
    assert (item.escalation, item.appointment_at) == (2, at("2026-03-30 17:00"))
    item, _ = run(item, ev("resolved", at("2026-03-12 10:00")), ev("reopened", at("2026-03-13 10:00")))
    assert (item.overdue_at, item.escalation, item.escalation_paused, item.appointment_at) == (
        None,
        0,
        0.0,
        None,
    )
    assert not item.overdue
    assert item.current_due == at("2026-03-20 17:00")
    assert next_deadline(item, POLICY) == Deadline(item.due_soon_at, Kind.DUE_SOON)


def test_reopen_of_an_urgent_item_gives_clock_hours_again() -> None:
    item, _ = run(receive(priority=Priority.URGENT), ev("resolved", T0 + H), ev("reopened", T0 + 2 * H))
    assert (item.clock, item.current_due) == ("elapsed", T0 + 2 * H + 24 * H)


def test_cancel_closes_a_paused_item() -> None:
    cancelled_at = at("2026-03-03 10:00")
    item, transitions = run(receive(), ev("paused", at("2026-03-03 09:00")), ev("cancelled", cancelled_at))
    assert (item.status, item.paused_at, item.closed_at, item.resolved_at) == (
        "cancelled",
        None,
        cancelled_at,
        None,
    )
    assert transitions[-1].counts == ((BT, "cancelled"), (BT, "closed"))
    assert (item.is_open, item.overdue) == (False, False)


def test_cancel_of_an_overdue_item_clears_the_overdue_gauge() -> None:
    item, _ = run(receive(), DUE, ev("cancelled", DUE + H))
    assert (item.overdue_at, item.overdue) == (DUE, False)


@pytest.mark.parametrize("closing", ["resolved", "cancelled"])
def test_closed_item_is_purged_after_retention(closing: str) -> None:
    closed_at = at("2026-03-05 10:00")
    item, _ = run(receive(), ev(closing, closed_at))
    purge_at = closed_at + 35 * DAY
    assert next_deadline(item, POLICY) == Deadline(purge_at, Kind.PURGED)
    before = encode_item(item)
    assert apply_tick(item, purge_at - 1, POLICY) == Outcome(item, [])
    assert encode_item(item) == before
    outcome = apply_tick(item, purge_at, POLICY)
    assert outcome == Outcome(None, [Transition(ITEM, item.seq, Kind.PURGED, purge_at, BT)], purged=True)
    assert item.seq == 3


def test_purge_follows_the_configured_retention() -> None:
    policy = ItemPolicy(CALENDAR, SLA, CATALOG, DeadlinePolicy(purge_after=DAY))
    item, _ = run(receive(policy=policy), ev("resolved", T), policy=policy)
    assert apply_tick(item, T + DAY, policy).purged


def test_open_items_are_never_purged() -> None:
    item = receive()
    outcome = apply_tick(item, T0 + 400 * DAY, POLICY)
    assert outcome.item is item and not outcome.purged
    assert Kind.PURGED not in [t.kind for t in outcome.transitions]


def test_tick_for_an_unknown_item_does_nothing() -> None:
    assert apply_tick(None, T0, POLICY) == Outcome(None, [])


# -- duplicates ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["received", "in_progress", "paused", "resolved", "cancelled"])
def test_redelivered_history_is_all_duplicates_in_any_state(state: str) -> None:
    events = history(state)
    item, _ = run(None, *events)
    before = encode_item(item)
    for event in events:
        assert apply_event(item, event, POLICY) == Outcome(item, [], duplicate=True)
    assert encode_item(item) == before


def test_duplicate_received_event_is_a_no_op() -> None:
    event = ev("received", T0, unit=BT, category="moi-truong")
    item = apply_event(None, event, POLICY).item
    assert item is not None
    before = encode_item(item)
    assert apply_event(item, event, POLICY) == Outcome(item, [], duplicate=True)
    assert encode_item(item) == before


def test_duplicate_dated_after_the_deadline_fires_nothing() -> None:
    late = ev("progress", DUE + H)
    item, _ = run(receive(), late)
    before = encode_item(item)
    assert apply_event(item, ev("progress", ESCALATIONS[2] + H, event_id=late.event_id), POLICY).duplicate
    assert encode_item(item) == before


def test_dedup_memory_is_bounded() -> None:
    policy = ItemPolicy(CALENDAR, SLA, CATALOG, DeadlinePolicy(dedup_ids=3))
    received = ev("received", T0, unit=BT, category="moi-truong")
    progress = [ev("progress", T0 + n * H) for n in (1, 2, 3, 4)]
    item, _ = run(None, received, *progress, policy=policy)
    assert item.event_ids == [event_digest(e.event_id) for e in progress[1:]]
    assert apply_event(item, progress[1], policy).duplicate
    # The oldest ids are forgotten: the redelivered 'received' is now an impossible transition...
    with pytest.raises(InvalidTransition) as caught:
        apply_event(item, received, policy)
    assert caught.value.reason == on("received", ALREADY)
    # ...and a forgotten 'progress' applies again.
    seq = item.seq
    outcome = apply_event(item, ev("progress", T0 + 5 * H, event_id=progress[0].event_id), policy)
    assert not outcome.duplicate
    assert item.seq == seq + 1
    assert len(item.event_ids) == 3


def test_event_digest_is_a_short_stable_hash() -> None:
    assert event_digest("ev-1") == hashlib.blake2b(b"ev-1", digest_size=8).hexdigest()
    assert len(event_digest("ev-1")) == 16
    assert event_digest("ev-1") != event_digest("ev-2")


def test_rejected_event_is_not_remembered() -> None:
    item = receive()
    bad = ev("resumed", T)
    with pytest.raises(InvalidTransition):
        apply_event(item, bad, POLICY)
    assert event_digest(bad.event_id) not in item.event_ids


# -- encoding ------------------------------------------------------------------------------


ENCODED_STATES = [
    "received",
    "assigned",
    "accepted",
    "in_progress",
    "paused",
    "resolved",
    "cancelled",
]


@pytest.mark.parametrize("state", ENCODED_STATES)
def test_encode_decode_round_trips(state: str) -> None:
    item = build(state)
    assert item is not None
    raw = encode_item(item)
    decoded = decode_item(raw)
    assert decoded == item
    assert encode_item(decoded) == raw


def test_decoded_item_behaves_like_the_original() -> None:
    original, _ = run(
        receive(category="dat-dai"),
        ev("transferred", TRANSFER_AT, unit=SG),
        DAT_DAI_DUE,
        ev("paused", at("2026-03-24 07:30")),
    )
    copy = decode_item(encode_item(original))
    resume = ev("resumed", at("2026-03-26 07:30"))
    a = apply_event(original, resume, POLICY)
    b = apply_event(copy, resume, POLICY)
    assert a.transitions == b.transitions
    assert encode_item(original) == encode_item(copy)
    assert next_deadline(original, POLICY) == next_deadline(copy, POLICY)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"{}",
        b'{"item_id": "PA-1"}',
        b"[]",
        b"[2]",
        b'"PA-1"',
        b"[1]",
        b'[1, "PA-1"]',
        b"[1" + b", 0" * 60 + b"]",
    ],
    ids=[
        "empty",
        "text",
        "object",
        "object-with-fields",
        "empty-list",
        "other-version",
        "string",
        "no-fields",
        "too-few-fields",
        "too-many-fields",
    ],
)
def test_decode_of_garbage_raises_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode_item(raw)


def test_decode_of_an_unknown_version_names_the_version() -> None:
    with pytest.raises(ValueError) as caught:
        decode_item(b"[2]")
    assert str(caught.value) == "not an item record of version 1"


def test_item_summary_is_the_board_queue_row() -> None:
    item, _ = run(receive(title="Rác <script>x</script>", channel="1022"), DUE)
    assert item_summary(item) == {
        "id": ITEM,
        "kind": "feedback",
        "unit": BT,
        "title": "Rác <script>x</script>",
        "category": "moi-truong",
        "priority": "normal",
        "channel": "1022",
        "status": "open",
        "stage": "received",
        "received_at": T0,
        "unit_since": T0,
        "original_due": DUE,
        "due": DUE,
        "unit_due": DUE,
        "due_soon": True,
        "overdue_at": DUE,
        "appointment_at": None,
        "escalation": 0,
        "reopen_count": 0,
        "transfer_count": 0,
        "seq": 3,
    }


def test_kind_status_and_stage_values_are_the_wire_strings() -> None:
    assert [s.value for s in ItemKind] == ["feedback", "task"]
    assert [s.value for s in Status] == ["open", "paused", "resolved", "cancelled"]
    assert [s.value for s in Stage] == ["received", "assigned", "accepted", "in_progress"]
    assert {Status.OPEN, Status.PAUSED} == OPEN_STATUSES


# Records and queue rows written by the code before kind/status/stage/priority/clock were
# enums (same events as below): they must decode, and the enums must write the same bytes.
_BEFORE_ENUMS = [
    (
        b'[1,"PA-2026-000123","feedback","paused","assigned","P-SAI-GON","moi-truong","normal",'
        b'"R\xc3\xa1c","","working",1772411400.0,1772411400.0,1773050400.0,1773050400.0,1772499600.0,'
        b"1773050400.0,1772771400.0,false,null,0,0.0,null,1772586000.0,0.0,0.0,null,null,0,1,"
        b'1772586000.0,3,0,["1b5d5e51f54f0f04","fed135082f0eff78","f76c4febcbb745d9"]]',
        b'{"id":"PA-2026-000123","kind":"feedback","unit":"P-SAI-GON","title":"R\xc3\xa1c",'
        b'"category":"moi-truong","priority":"normal","channel":"","status":"paused","stage":"assigned",'
        b'"received_at":1772411400.0,"unit_since":1772499600.0,"original_due":1773050400.0,'
        b'"due":1773050400.0,"unit_due":1773050400.0,"due_soon":false,"overdue_at":null,'
        b'"appointment_at":null,"escalation":0,"reopen_count":0,"transfer_count":1,"seq":3}',
        (ItemKind.FEEDBACK, Status.PAUSED, Stage.ASSIGNED, Priority.NORMAL, ClockKind.WORKING),
    ),
    (
        b'[1,"NV-2026-0042","task","resolved","accepted","SO-TNMT","nhiem-vu","urgent","","","elapsed",'
        b"1772411400.0,1772411400.0,1772670600.0,1772670600.0,1772411400.0,1772670600.0,1772605800.0,"
        b"false,null,0,0.0,null,null,0.0,0.0,1772420400.0,1772420400.0,0,0,1772420400.0,3,0,"
        b'["1b5d5e51f54f0f04","fed135082f0eff78","f76c4febcbb745d9"]]',
        b'{"id":"NV-2026-0042","kind":"task","unit":"SO-TNMT","title":"","category":"nhiem-vu",'
        b'"priority":"urgent","channel":"","status":"resolved","stage":"accepted",'
        b'"received_at":1772411400.0,"unit_since":1772411400.0,"original_due":1772670600.0,'
        b'"due":1772670600.0,"unit_due":1772670600.0,"due_soon":false,"overdue_at":null,'
        b'"appointment_at":null,"escalation":0,"reopen_count":0,"transfer_count":0,"seq":3}',
        (ItemKind.TASK, Status.RESOLVED, Stage.ACCEPTED, Priority.URGENT, ClockKind.ELAPSED),
    ),
]


def _before_enums_history(kind: ItemKind) -> Item:
    """The item of :data:`_BEFORE_ENUMS` of ``kind``, made by the same events."""
    if kind is ItemKind.FEEDBACK:
        steps = [
            Event("e1", ITEM, EventType.RECEIVED, T0, unit=BT, category="moi-truong", title="Rác"),
            Event("e2", ITEM, EventType.TRANSFERRED, at("2026-03-03 08:00"), unit=SG),
            Event("e3", ITEM, EventType.PAUSED, at("2026-03-04 08:00")),
        ]
    else:
        task = "NV-2026-0042"
        steps = [
            Event("e1", task, EventType.RECEIVED, T0, unit=TNMT, priority=Priority.URGENT),
            Event("e2", task, EventType.ACCEPTED, at("2026-03-02 09:00")),
            Event("e3", task, EventType.RESOLVED, at("2026-03-02 10:00")),
        ]
    item: Item | None = None
    for event in steps:
        item = apply_event(item, event, POLICY, kind=kind).item
    assert item is not None
    return item


@pytest.mark.parametrize(("raw", "row", "enums"), _BEFORE_ENUMS, ids=["feedback-paused", "task-resolved"])
def test_a_record_from_before_the_enums_decodes_to_enums_and_encodes_to_the_same_bytes(
    raw: bytes, row: bytes, enums: tuple[ItemKind, Status, Stage, Priority, ClockKind]
) -> None:
    item = decode_item(raw)
    fields = (item.kind, item.status, item.stage, item.priority, item.clock)
    assert fields == enums
    assert [type(value) for value in fields] == [ItemKind, Status, Stage, Priority, ClockKind]
    assert encode_item(item) == raw
    assert orjson.dumps(item_summary(item)) == row
    fresh = _before_enums_history(enums[0])
    assert (encode_item(fresh), orjson.dumps(item_summary(fresh))) == (raw, row)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kind", "petition", "unknown kind 'petition'"),
        ("status", "closed", "unknown status 'closed'"),
        ("stage", "done", "unknown stage 'done'"),
        ("priority", "high", "unknown priority 'high'"),
        ("priority", None, "unknown priority None"),
        ("clock", "wall", "unknown clock 'wall'"),
        ("status", None, "unknown status None"),
        ("clock", 1, "unknown clock 1"),
    ],
)
def test_decode_refuses_a_kind_status_stage_priority_or_clock_it_does_not_know(
    field: str, value: object, message: str
) -> None:
    record = orjson.loads(_BEFORE_ENUMS[0][0])
    record[1 + list(Item.__dataclass_fields__).index(field)] = value
    with pytest.raises(ValueError) as caught:
        decode_item(orjson.dumps(record))
    assert str(caught.value) == f"not an item record of version 1: {message}"


@pytest.mark.parametrize(
    ("kind", "category"),
    [(ItemKind.FEEDBACK, "khac"), (ItemKind.TASK, "nhiem-vu")],
)
def test_a_received_item_keeps_its_kind_and_gets_the_kind_s_default_category(
    kind: ItemKind, category: str
) -> None:
    item = apply_event(None, ev("received", T0, unit=BT), POLICY, kind=kind).item
    assert item is not None
    assert (type(item.kind), item.kind, item.category) == (ItemKind, kind, category)
    assert (type(item.status), type(item.stage), type(item.clock)) == (Status, Stage, ClockKind)


# -- checks the HTTP API shares (unit refusal, kind by id) ---------------------------------


@pytest.mark.parametrize(
    ("event_type", "unit", "reason"),
    [
        (
            "received",
            "P-NOWHERE",
            "'received' for item PA-9: unknown unit 'P-NOWHERE' (not in the unit catalog)",
        ),
        (
            "assigned",
            "P-NOWHERE",
            "'assigned' on item PA-9: unknown unit 'P-NOWHERE' (not in the unit catalog)",
        ),
        ("transferred", "X", "'transferred' on item PA-9: unknown unit 'X' (not in the unit catalog)"),
        ("resolved", "P-NOWHERE", None),  # a resolved event does not read `unit`
    ],
)
def test_unit_refusal_is_the_reason_apply_event_gives(event_type: str, unit: str, reason: str | None) -> None:
    from domain.events import event_from_dict
    from domain.items import unit_refusal

    event = event_from_dict(
        {
            "event_id": "e9",
            "item_id": "PA-9",
            "type": event_type,
            "occurred_at": "2026-11-26T09:00:00+07:00",
            "unit": unit,
        }
    )

    assert unit_refusal(event, CATALOG) == reason
    if reason is not None and event_type == "received":
        with pytest.raises(InvalidTransition) as caught:
            apply_event(None, event, POLICY, kind=ItemKind.FEEDBACK, partition=0)
        assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("item_id", "kind"),
    [("NV-2026-0042", ItemKind.TASK), ("PA-2026-1", ItemKind.FEEDBACK), ("nv-1", ItemKind.FEEDBACK)],
)
def test_kind_for_id_routes_nv_ids_to_tasks(item_id: str, kind: ItemKind) -> None:
    from domain.items import kind_for_id

    assert kind_for_id(item_id) is kind


# -- handling time in working days and counters per kind ------------------------------


@pytest.mark.parametrize(
    ("steps", "working_days"),
    [
        ([ev("resolved", at("2026-03-04 11:30"))], 2.5),  # 8 + 8 + 4 office hours
        (
            [
                ev("paused", at("2026-03-03 07:30")),
                ev("resumed", at("2026-03-04 07:30")),
                ev("resolved", at("2026-03-05 07:30")),
            ],
            2.0,
        ),
        ([ev("resolved", DUE)], 6.0),  # Monday to the next Monday 17:00, weekend excluded
        ([ev("resolved", at("2026-03-10 17:00"))], 7.0),
        ([ev("resolved", T0)], 0.0),
        (
            [
                ev("transferred", at("2026-03-04 07:30"), unit=SG),
                ev("resolved", at("2026-03-05 07:30")),
            ],
            1.0,
        ),
        ([ev("resolved", at("2026-03-07 10:00"))], 5.0),  # a Saturday adds no working time
    ],
    ids=["plain", "with-pause", "at-deadline", "late", "instant", "after-transfer", "on-saturday"],
)
def test_resolution_reports_handling_time_in_working_days(steps: list[Event], working_days: float) -> None:
    _, transitions = run(receive(), *steps)
    resolved = transitions[-1]
    assert resolved.kind is Kind.RESOLVED
    assert resolved.working_days == pytest.approx(working_days)


def test_handling_time_on_an_elapsed_clock_excludes_the_paused_share() -> None:
    item = receive(priority=Priority.URGENT)
    assert item.clock == ClockKind.ELAPSED
    _, transitions = run(
        item,
        ev("paused", at("2026-03-02 09:30")),
        ev("resumed", at("2026-03-02 11:30")),
        ev("resolved", at("2026-03-02 17:00")),
    )
    # 8 office hours in 9.5 clock hours, of which 2 paused: 8 x (1 - 2/9.5) hours.
    assert transitions[-1].working_days == pytest.approx(8 * (1 - 2 / 9.5) / 8)


@pytest.mark.parametrize(
    ("kind", "category", "resolved_at", "extra"),
    [
        (
            ItemKind.FEEDBACK,
            "moi-truong",
            at("2026-03-04 11:30"),
            ("resolved_feedback", "resolved_on_time_feedback"),
        ),
        (ItemKind.FEEDBACK, "moi-truong", at("2026-03-10 17:00"), ("resolved_feedback",)),
        (ItemKind.TASK, "nhiem-vu", at("2026-03-03 11:30"), ("resolved_task", "resolved_on_time_task")),
        (ItemKind.TASK, "nhiem-vu", at("2026-06-30 17:00"), ("resolved_task",)),
    ],
    ids=["feedback-on-time", "feedback-late", "task-on-time", "task-late"],
)
def test_resolution_counts_its_item_kind_apart(
    kind: ItemKind, category: str, resolved_at: float, extra: tuple[str, ...]
) -> None:
    outcome = apply_event(None, ev("received", T0, unit=BT, category=category), POLICY, kind=kind)
    assert outcome.item is not None
    _, transitions = run(outcome.item, ev("resolved", resolved_at))
    counts = [counter for _, counter in transitions[-1].counts if counter != "late_closed"]
    assert counts[3:] == list(extra)
    assert set(extra) <= set(KIND_COUNTERS)


# -- late open items balance (reports chain them) ------------------------------------------


def test_transfer_of_an_overdue_item_moves_its_lateness_between_units() -> None:
    _, transitions = run(receive(), DUE, ev("transferred", DUE + H, unit=SG))
    assert transitions[-1].counts[-2:] == ((BT, "late_out"), (SG, "late_in"))


def test_transfer_before_the_deadline_moves_no_lateness() -> None:
    _, transitions = run(receive(), ev("transferred", DUE - H, unit=SG))
    assert not {"late_in", "late_out"} & {counter for _, counter in transitions[-1].counts}


def test_cancelling_an_overdue_item_closes_its_lateness() -> None:
    _, transitions = run(receive(), DUE, ev("cancelled", DUE + H))
    assert transitions[-1].counts == ((BT, "cancelled"), (BT, "closed"), (BT, "late_closed"))
