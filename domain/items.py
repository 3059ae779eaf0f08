"""The item state machine: every event type of the contract, deadlines, and the two clocks.

Pure logic: :func:`apply_event` and :func:`apply_tick` take an :class:`Item` (or ``None``),
an event or an instant, and an :class:`ItemPolicy`; they return an :class:`Outcome` with
the new item and the :class:`Transition` list that later stages consume. Nothing here
reads the clock: event time comes from the event, deadline instants from ticks.

Two clocks are kept per item (docs/events.md "Event types" and "Time"):

* the citizen's end-to-end clock: ``received_at`` → ``current_due`` (``original_due`` is
  never changed). It drives due-soon, overdue and escalation, and the "overdue now"
  gauge. Once overdue, an item stays late: a later extension only sets a new appointment.
* the unit clock: ``unit_since`` → ``unit_due``, restarted on transfer when the
  category's policy says ``restart``. The resolving unit is judged on it
  (``resolved_on_time`` / ``resolved_late``). ``unit_due`` is never earlier than
  ``current_due``: a unit is not judged more strictly than the citizen's deadline.

Time inside an item never goes backwards: an event dated before the latest instant the
item has seen is applied at that instant for deadline logic (so an item the timer has
already marked overdue stays late), while its own ``occurred_at`` still picks the
counter window.
"""

from __future__ import annotations

import hashlib
import operator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

import orjson

from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.encoding import dumps_kept
from domain.errors import InvalidTransition
from domain.events import UNIT_REQUIRED, Event, EventType, Priority
from domain.sla import ClockKind, SlaPolicy, UnitClock


class ItemKind(StrEnum):
    """What an item is, by the topic it came from: citizen feedback or a leadership task."""

    FEEDBACK = "feedback"
    TASK = "task"


#: Item ids of leadership tasks start with this; producers that do not choose a topic
#: themselves (``govpulse replay``, the simulator's JSONL, the HTTP API) route by it.
TASK_ID_PREFIX = "NV-"


def kind_for_id(item_id: str) -> ItemKind:
    """``ItemKind.TASK`` for ids starting with :data:`TASK_ID_PREFIX`, else feedback."""
    return ItemKind.TASK if item_id.startswith(TASK_ID_PREFIX) else ItemKind.FEEDBACK


def unit_refusal(event: Event, catalog: Catalog) -> str | None:
    """Why the unit ``event`` names is refused (not in the catalog), or ``None``.

    Only the types of :data:`domain.events.UNIT_REQUIRED` read ``unit``; the reason is the
    one the dead-letter topic gives, so the HTTP API can refuse with the same words.
    """
    if event.type not in UNIT_REQUIRED or event.unit is None or event.unit in catalog:
        return None
    if event.type is EventType.RECEIVED:
        return f"'received' for item {event.item_id}: unknown unit {event.unit!r} (not in the unit catalog)"
    return (
        f"'{event.type.value}' on item {event.item_id}: unknown unit {event.unit!r} (not in the unit catalog)"
    )


class Status(StrEnum):
    """Where an item is in its life; ``open`` and ``paused`` are open (:data:`OPEN_STATUSES`)."""

    OPEN = "open"
    PAUSED = "paused"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


class Stage(StrEnum):
    """How far the handling unit has got with an open item."""

    RECEIVED = "received"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"


class Kind(StrEnum):
    """Transition kinds: the event types plus the ones time produces."""

    RECEIVED = "received"
    ASSIGNED = "assigned"
    TRANSFERRED = "transferred"
    ACCEPTED = "accepted"
    PROGRESS = "progress"
    EXTENDED = "extended"
    PAUSED = "paused"
    RESUMED = "resumed"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CANCELLED = "cancelled"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    ESCALATED = "escalated"
    PURGED = "purged"


#: Counter names a transition can increment (per unit, per window). ``opened``/``closed``
#: balance the queue (carried-over = open now - net change since the window started).
#: ``late_closed``/``late_in``/``late_out`` balance the late open items the same way (an
#: overdue item closed, or transferred in or out while overdue): reports chain them.
COUNTERS = (
    "received",
    "resolved",
    "resolved_on_time",
    "resolved_late",
    "became_overdue",
    "transferred_in",
    "transferred_out",
    "reopened",
    "cancelled",
    "opened",
    "closed",
    "late_closed",
    "late_in",
    "late_out",
)

#: Counters of a resolution per item kind, on time and late (index: late), so that the
#: on-time rate of feedback (QĐ 766) and of tasks can be told apart:
#: ``resolved_feedback``, ``resolved_on_time_feedback``, ``resolved_task`` …
KIND_COUNTERS = tuple(
    f"{counter}_{kind}" for kind in ("feedback", "task") for counter in ("resolved", "resolved_on_time")
)

#: The statuses of an open item (on a queue, its deadlines running or paused): the one
#: definition of "open" (:attr:`Item.is_open`).
OPEN_STATUSES = frozenset({Status.OPEN, Status.PAUSED})


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    """When time-driven transitions happen (from the alert rules file).

    Args:
        due_soon_share: due soon once this share of the period is used...
        due_soon_left: ...or when this much time is left (working seconds on working
            clocks, clock seconds on elapsed ones), whichever comes first; the time-left
            test only applies to periods longer than twice it.
        escalation_delays: working seconds between overdue and the first escalation
            step, then between consecutive steps.
        purge_after: closed items are removed this long after closing (clock seconds).
        dedup_ids: event ids remembered per item.
    """

    due_soon_share: float = 0.75
    due_soon_left: float = 8 * 3600.0
    escalation_delays: tuple[float, ...] = (4 * 3600.0, 8 * 3600.0, 24 * 3600.0)
    purge_after: float = 35 * 86400.0
    dedup_ids: int = 32

    def escalation_offset(self, step: int) -> float:
        """Working seconds from the overdue instant to escalation ``step`` (1-based)."""
        return sum(self.escalation_delays[:step])


@dataclass(frozen=True, slots=True)
class ItemPolicy:
    """Everything the state machine needs besides the item and the event."""

    calendar: WorkCalendar
    sla: SlaPolicy
    catalog: Catalog
    deadlines: DeadlinePolicy = field(default_factory=DeadlinePolicy)


@dataclass(slots=True)
class Item:
    """State of one feedback item or task. Instants are epoch seconds.

    ``kind``, ``status``, ``stage``, ``priority`` and ``clock`` are string enums: the
    encoded item and the queue summary carry their string values, unchanged.
    """

    item_id: str
    kind: ItemKind
    status: Status
    stage: Stage
    unit: str
    category: str
    priority: Priority
    title: str
    channel: str
    clock: ClockKind  # of the current period
    received_at: float
    period_start: float  # received_at, or the last reopen
    original_due: float
    current_due: float
    unit_since: float
    unit_due: float
    due_soon_at: float
    due_soon: bool = False
    overdue_at: float | None = None
    escalation: int = 0
    escalation_paused: float = 0.0  # working seconds paused while overdue
    appointment_at: float | None = None
    paused_at: float | None = None
    unit_paused: float = 0.0  # paused time in the unit period, measured on `clock`
    unit_paused_elapsed: float = 0.0
    resolved_at: float | None = None
    closed_at: float | None = None
    reopen_count: int = 0
    transfer_count: int = 0
    last_at: float = 0.0
    seq: int = 0
    partition: int = 0
    event_ids: list[str] = field(default_factory=list)
    #: ``office`` | ``home`` | ``field`` from the latest event that gave one ("" = never).
    work_mode: str = ""
    #: Opaque staff id from the latest event that gave one ("" = never). Never logged.
    assignee: str = ""

    @property
    def is_open(self) -> bool:
        """Open or paused (not resolved, not cancelled)."""
        return self.status in OPEN_STATUSES

    @property
    def overdue(self) -> bool:
        """Open and found overdue by the timer (it stays late until closed or reopened)."""
        return self.overdue_at is not None and self.is_open


@dataclass(slots=True)  # not frozen: built per event, and frozen init is ~7x slower
class Transition:
    """One applied change of an item, consumed by the counters, alerts and the board.

    ``counts`` lists the (unit, counter) pairs it increments by one, in the window of
    ``at``. ``latency`` (seconds, pauses excluded), ``working_days`` (the same handling
    time on the working calendar, in working days, see :func:`handling_working_days`) and
    ``sla_used`` (share of the unit's period) are set on ``resolved``.
    """

    item_id: str
    seq: int
    kind: Kind
    at: float
    unit: str
    from_unit: str | None = None
    counts: tuple[tuple[str, str], ...] = ()
    latency: float | None = None
    sla_used: float | None = None
    escalation: int = 0
    working_days: float | None = None
    #: The item's report dimensions when the counts were made (:func:`item_dims`); not
    #: part of equality (what happened is the rest; this says whose it was).
    dims: tuple[str, ...] = field(default=(), compare=False)


@dataclass(slots=True)
class Outcome:
    """Result of applying one event or tick."""

    item: Item | None
    transitions: list[Transition]
    duplicate: bool = False
    purged: bool = False


class Deadline(NamedTuple):
    """The next instant at which time alone changes an item (a tuple: one is built per
    changed item per batch)."""

    at: float
    kind: Kind


# -- public API -----------------------------------------------------------------------


def apply_event(
    item: Item | None,
    event: Event,
    policy: ItemPolicy,
    *,
    kind: ItemKind = ItemKind.FEEDBACK,
    partition: int = 0,
) -> Outcome:
    """Apply ``event`` to ``item`` (``None`` if the item is unknown).

    A repeated ``event_id`` is a no-op (``Outcome.duplicate``). Time-driven transitions
    that fell due strictly before ``event.occurred_at`` are applied first.

    Args:
        item: the item's state, or ``None`` if the item is unknown.
        event: the event to apply.
        policy: calendar, SLA, catalog and deadline rules.
        kind: the kind of a new item (used by ``received`` only).
        partition: the item's partition (kept in a new item).

    Raises:
        InvalidTransition: the event is impossible in the item's state or names an
            unknown unit; the item is left unchanged.
    """
    if item is None:
        if event.type is not EventType.RECEIVED:
            raise InvalidTransition(
                f"'{event.type.value}' for unknown item {event.item_id}: "
                f"the first event of an item must be 'received'"
            )
        outcome = _receive(event, policy, kind=kind, partition=partition)
        _set_dims(outcome)
        return outcome

    digest = event_digest(event.event_id)
    if digest in item.event_ids:
        return Outcome(item, [], duplicate=True)
    _check(item, event, policy)

    transitions = _advance(item, event.occurred_at, policy, inclusive=False)
    dims = item_dims(item)
    for earlier in transitions:
        earlier.dims = dims
    if event.work_mode is not None:
        item.work_mode = event.work_mode.value
    if event.assignee is not None:
        item.assignee = event.assignee
    at = max(event.occurred_at, item.last_at)
    handler = _HANDLERS[event.type]
    transition = handler(item, event, at, policy)
    item.last_at = at
    item.event_ids.append(digest)
    if len(item.event_ids) > policy.deadlines.dedup_ids:
        del item.event_ids[0]
    if transition is not None:
        transition.dims = item_dims(item)
        transitions.append(transition)
    return Outcome(item, transitions)


def apply_tick(item: Item | None, at: float, policy: ItemPolicy) -> Outcome:
    """Apply every time-driven transition due at or before ``at`` (a timer tick).

    Idempotent: a tick for an instant already applied changes nothing. A closed item
    past its retention is purged (``Outcome.purged``).
    """
    if item is None:
        return Outcome(None, [])
    if not item.is_open:
        if item.closed_at is not None and at >= item.closed_at + policy.deadlines.purge_after:
            item.seq += 1
            return Outcome(
                None,
                [Transition(item.item_id, item.seq, Kind.PURGED, at, item.unit)],
                purged=True,
            )
        return Outcome(item, [])
    transitions = _advance(item, at, policy, inclusive=True)
    dims = item_dims(item)
    for transition in transitions:
        transition.dims = dims
    return Outcome(item, transitions)


def next_deadline(item: Item, policy: ItemPolicy) -> Deadline | None:
    """The next instant at which time alone changes ``item`` (for the deadline index)."""
    if not item.is_open:
        if item.closed_at is None:
            return None
        return Deadline(item.closed_at + policy.deadlines.purge_after, Kind.PURGED)
    if item.status == Status.PAUSED:
        return None
    if item.overdue_at is None:
        if not item.due_soon and item.due_soon_at < item.current_due:
            return Deadline(item.due_soon_at, Kind.DUE_SOON)
        return Deadline(item.current_due, Kind.OVERDUE)
    step = item.escalation + 1
    if step <= len(policy.deadlines.escalation_delays):
        return Deadline(_escalation_at(item, step, policy), Kind.ESCALATED)
    return None


def item_dims(item: Item) -> tuple[str, ...]:
    """The dimensions reports split an item's counts by: ``c:<category>``,
    ``m:<work mode>`` (``m:unknown`` when no event gave one) and, when known,
    ``a:<assignee>`` (counted at the item's own unit only, never rolled up)."""
    dims = (f"c:{item.category}", f"m:{item.work_mode or 'unknown'}")
    return (*dims, f"a:{item.assignee}") if item.assignee else dims


def _set_dims(outcome: Outcome) -> None:
    item = outcome.item
    if item is None:
        return
    dims = item_dims(item)
    for transition in outcome.transitions:
        transition.dims = dims


def event_digest(event_id: str) -> str:
    """Short, stable digest of an event id, remembered for de-duplication."""
    return hashlib.blake2b(event_id.encode(), digest_size=8).hexdigest()


# -- encoding -------------------------------------------------------------------------

_FIELDS = tuple(Item.__dataclass_fields__)
_VERSION = 1
_VALUES = operator.attrgetter(*_FIELDS)
#: Fields before work_mode and assignee were added (a record without them has these only).
_OLD_LENGTH = _FIELDS.index("work_mode")
#: The enum fields: name, position in the record (after the version), members by value.
_ENUM_FIELDS: tuple[tuple[str, int, dict[str, StrEnum]], ...] = tuple(
    (name, 1 + _FIELDS.index(name), {member.value: member for member in enum})
    for name, enum in (
        ("kind", ItemKind),
        ("status", Status),
        ("stage", Stage),
        ("priority", Priority),
        ("clock", ClockKind),
    )
)
_KIND_AT, _STATUS_AT, _STAGE_AT, _PRIORITY_AT, _CLOCK_AT = (at for _, at, _ in _ENUM_FIELDS)
_KINDS, _STATUSES, _STAGES, _PRIORITIES, _CLOCKS = (members for _, _, members in _ENUM_FIELDS)


def encode_item(item: Item) -> bytes:
    """Compact positional encoding (orjson) used as the item table's value.

    Enum fields are written as their string values (orjson writes a ``StrEnum`` member
    as its value), so the bytes are those of the same item with plain strings.
    """
    values = _VALUES(item)
    if not item.work_mode and not item.assignee:
        # Items without a work mode or assignee keep the record of before those existed.
        values = values[:_OLD_LENGTH]
    return dumps_kept((_VERSION, *values))


def decode_item(raw: bytes) -> Item:
    """Inverse of :func:`encode_item`.

    Raises:
        ValueError: the bytes were not written by :func:`encode_item` of this version
            (or hold a kind, status, stage, priority or clock this version does not know).
    """
    values = orjson.loads(raw)
    if isinstance(values, list) and len(values) == _OLD_LENGTH + 1:
        values += ["", ""]
    if not isinstance(values, list) or len(values) != len(_FIELDS) + 1 or values[0] != _VERSION:
        raise ValueError(f"not an item record of version {_VERSION}")
    try:  # unrolled: decoding is on the path of every event
        values[_KIND_AT] = _KINDS[values[_KIND_AT]]
        values[_STATUS_AT] = _STATUSES[values[_STATUS_AT]]
        values[_STAGE_AT] = _STAGES[values[_STAGE_AT]]
        values[_PRIORITY_AT] = _PRIORITIES[values[_PRIORITY_AT]]
        values[_CLOCK_AT] = _CLOCKS[values[_CLOCK_AT]]
    except (KeyError, TypeError):  # TypeError: an unhashable value
        name, value = next(
            (name, values[at])
            for name, at, members in _ENUM_FIELDS
            if not (isinstance(values[at], str) and values[at] in members)
        )
        raise ValueError(f"not an item record of version {_VERSION}: unknown {name} {value!r}") from None
    return Item(*values[1:])


def item_summary(item: Item) -> dict[str, Any]:
    """The item as the board's queue shows it (plain JSON types; text stays text)."""
    return {
        "id": item.item_id,
        "kind": item.kind,
        "unit": item.unit,
        "title": item.title,
        "category": item.category,
        "priority": item.priority,
        "channel": item.channel,
        "status": item.status,
        "stage": item.stage,
        "received_at": item.received_at,
        "unit_since": item.unit_since,
        "original_due": item.original_due,
        "due": item.current_due,
        "unit_due": item.unit_due,
        "due_soon": item.due_soon,
        "overdue_at": item.overdue_at,
        "appointment_at": item.appointment_at,
        "escalation": item.escalation,
        "reopen_count": item.reopen_count,
        "transfer_count": item.transfer_count,
        "seq": item.seq,
    }


# -- internals ------------------------------------------------------------------------


def _check(item: Item, event: Event, policy: ItemPolicy) -> None:
    """Raise InvalidTransition when ``event`` cannot apply; never mutates ``item``."""
    kind = event.type
    status = item.status
    name = f"'{kind.value}' on item {item.item_id}"
    if kind is EventType.RECEIVED:
        raise InvalidTransition(f"{name}: the item was already received")
    if status == Status.CANCELLED:
        raise InvalidTransition(f"{name}: the item is cancelled")
    if status == Status.RESOLVED and kind is not EventType.REOPENED:
        raise InvalidTransition(f"{name}: the item is resolved (only 'reopened' can follow)")
    if kind is EventType.REOPENED and status != Status.RESOLVED:
        raise InvalidTransition(f"{name}: only a resolved item can be reopened (it is {status})")
    if kind is EventType.PAUSED and status == Status.PAUSED:
        raise InvalidTransition(f"{name}: the item is already paused")
    if kind is EventType.RESUMED and status != Status.PAUSED:
        raise InvalidTransition(f"{name}: the item is not paused")
    if kind in (EventType.ACCEPTED, EventType.PROGRESS, EventType.ASSIGNED, EventType.TRANSFERRED) and (
        status == Status.PAUSED
    ):
        raise InvalidTransition(f"{name}: the item is paused; resume it first")
    if kind is EventType.ACCEPTED and item.stage not in (Stage.RECEIVED, Stage.ASSIGNED):
        raise InvalidTransition(f"{name}: already accepted (stage {item.stage})")
    if kind in (EventType.ASSIGNED, EventType.TRANSFERRED):
        assert event.unit is not None
        refusal = unit_refusal(event, policy.catalog)
        if refusal is not None:
            raise InvalidTransition(refusal)
        if kind is EventType.TRANSFERRED and event.unit == item.unit:
            raise InvalidTransition(f"{name}: the item is already at unit {event.unit}")
    if kind is EventType.EXTENDED and event.due_at is not None:
        at = max(event.occurred_at, item.last_at)
        if event.due_at <= at:
            raise InvalidTransition(f"{name}: the new deadline is not in the future of the event")
        if item.overdue_at is None and event.due_at <= item.current_due and item.status == Status.OPEN:
            raise InvalidTransition(f"{name}: the new deadline is not after the current one")


def _receive(event: Event, policy: ItemPolicy, *, kind: ItemKind, partition: int) -> Outcome:
    assert event.unit is not None
    refusal = unit_refusal(event, policy.catalog)
    if refusal is not None:
        raise InvalidTransition(refusal)
    at = event.occurred_at
    category = event.category or ("nhiem-vu" if kind is ItemKind.TASK else "khac")
    priority = event.priority or Priority.NORMAL
    plan = policy.sla.plan(
        policy.calendar,
        start=at,
        category=category,
        priority=priority,
        sla=event.sla,
        due_at=event.due_at,
    )
    item = Item(
        item_id=event.item_id,
        kind=kind,
        status=Status.OPEN,
        stage=Stage.RECEIVED,
        unit=event.unit,
        category=category,
        priority=priority,
        title=(event.title or "")[:300],
        channel=(event.channel or "")[:64],
        clock=plan.clock,
        received_at=at,
        period_start=at,
        original_due=plan.due,
        current_due=plan.due,
        unit_since=at,
        unit_due=plan.due,
        due_soon_at=_due_soon_at(at, plan.due, plan.clock, policy),
        last_at=at,
        seq=1,
        partition=partition,
        event_ids=[event_digest(event.event_id)],
        work_mode=event.work_mode.value if event.work_mode is not None else "",
        assignee=event.assignee or "",
    )
    transition = Transition(
        item.item_id,
        1,
        Kind.RECEIVED,
        at,
        item.unit,
        counts=((item.unit, "received"), (item.unit, "opened")),
    )
    return Outcome(item, [transition])


def _move(item: Item, event: Event, at: float, policy: ItemPolicy) -> Transition | None:
    assert event.unit is not None
    target, source = event.unit, item.unit
    kind = Kind.ASSIGNED if event.type is EventType.ASSIGNED else Kind.TRANSFERRED
    item.stage = Stage.ASSIGNED
    item.seq += 1
    if target == source:
        return Transition(item.item_id, item.seq, kind, event.occurred_at, target)
    item.unit = target
    item.transfer_count += kind is Kind.TRANSFERRED
    item.unit_since = at
    item.unit_paused = item.unit_paused_elapsed = 0.0
    level = policy.sla.for_category(item.category)
    if level.unit_clock is UnitClock.RESTART and item.clock == ClockKind.WORKING:
        fresh = policy.sla.plan(policy.calendar, start=at, category=item.category, priority=item.priority)
        item.unit_due = max(fresh.due, item.current_due)
    else:
        item.unit_due = item.current_due
    return Transition(
        item.item_id,
        item.seq,
        kind,
        event.occurred_at,
        target,
        from_unit=source,
        counts=(
            (source, "transferred_out"),
            (source, "closed"),
            (target, "transferred_in"),
            (target, "opened"),
            *(((source, "late_out"), (target, "late_in")) if item.overdue_at is not None else ()),
        ),
    )


def _stage(stage: Stage, kind: Kind) -> Any:
    def handler(item: Item, event: Event, at: float, policy: ItemPolicy) -> Transition:
        item.stage = stage
        item.seq += 1
        return Transition(item.item_id, item.seq, kind, event.occurred_at, item.unit)

    return handler


def _extend(item: Item, event: Event, at: float, policy: ItemPolicy) -> Transition:
    if event.due_at is not None:
        new_due = event.due_at
    else:
        new_due = policy.sla.plan(
            policy.calendar,
            start=item.period_start,
            category=item.category,
            priority=item.priority,
            sla=event.sla,
        ).due
    item.seq += 1
    if item.overdue_at is not None or new_due <= at:
        # Granted after the deadline passed: a new appointment, the item stays late.
        item.appointment_at = max(new_due, at)
    else:
        item.current_due = max(new_due, item.current_due)
        item.unit_due = max(item.unit_due, item.current_due)
        item.due_soon_at = _due_soon_at(item.period_start, item.current_due, item.clock, policy)
        item.due_soon = item.due_soon and item.due_soon_at <= at
    return Transition(item.item_id, item.seq, Kind.EXTENDED, event.occurred_at, item.unit)


def _pause(item: Item, event: Event, at: float, policy: ItemPolicy) -> Transition:
    item.status = Status.PAUSED
    item.paused_at = at
    item.seq += 1
    return Transition(item.item_id, item.seq, Kind.PAUSED, event.occurred_at, item.unit)


def _resume(item: Item, event: Event, at: float, policy: ItemPolicy) -> Transition:
    _end_pause(item, at, policy)
    item.status = Status.OPEN
    item.seq += 1
    return Transition(item.item_id, item.seq, Kind.RESUMED, event.occurred_at, item.unit)


def _end_pause(item: Item, at: float, policy: ItemPolicy) -> None:
    """Restart the stopped clocks at ``at``: deadlines still ahead move by the paused time."""
    paused_at = item.paused_at if item.paused_at is not None else at
    calendar = policy.calendar
    elapsed = at - paused_at
    if item.clock == ClockKind.WORKING:
        measured = calendar.working_seconds_between(paused_at, at)

        def shift(instant: float) -> float:
            remaining = calendar.working_seconds_between(paused_at, instant)
            return calendar.add_working_seconds(at, remaining) if instant > paused_at else instant
    else:
        measured = elapsed

        def shift(instant: float) -> float:
            return instant + elapsed if instant > paused_at else instant

    if item.overdue_at is None:
        item.current_due = shift(item.current_due)
        if not item.due_soon:
            item.due_soon_at = shift(item.due_soon_at)
    else:
        # The citizen's lateness stays; a restarted unit clock still running is stopped too.
        item.escalation_paused += calendar.working_seconds_between(paused_at, at)
    item.unit_due = max(shift(item.unit_due), item.current_due)
    item.unit_paused += measured
    item.unit_paused_elapsed += elapsed
    item.paused_at = None


def _resolve(item: Item, event: Event, at: float, policy: ItemPolicy) -> Transition:
    was_overdue = item.overdue_at is not None
    if item.status == Status.PAUSED:
        _end_pause(item, at, policy)
    # Late when past the unit's deadline, or when the timer already found it overdue with
    # the unit's deadline passed (a stale event lands exactly on that deadline instant).
    late = at > item.unit_due or (item.overdue_at is not None and item.unit_due <= item.overdue_at)
    latency = max(0.0, (at - item.unit_since) - item.unit_paused_elapsed)
    allowed = _measure(item, item.unit_since, item.unit_due, policy) - item.unit_paused
    used = _measure(item, item.unit_since, at, policy) - item.unit_paused
    item.status = Status.RESOLVED
    item.paused_at = None
    item.resolved_at = item.closed_at = at
    item.seq += 1
    unit = item.unit
    return Transition(
        item.item_id,
        item.seq,
        Kind.RESOLVED,
        event.occurred_at,
        unit,
        counts=(
            (unit, "resolved"),
            (unit, "resolved_late" if late else "resolved_on_time"),
            (unit, "closed"),
            (unit, f"resolved_{item.kind.value}"),
            *(() if late else ((unit, f"resolved_on_time_{item.kind.value}"),)),
            *(((unit, "late_closed"),) if was_overdue else ()),
        ),
        latency=latency,
        sla_used=max(0.0, used) / allowed if allowed > 0 else None,
        working_days=handling_working_days(item, at, policy.calendar),
    )


def handling_working_days(item: Item, at: float, calendar: WorkCalendar) -> float:
    """How long ``item`` has been handled by its unit at ``at``, in working days.

    The working time (office hours of working days, :class:`~domain.calendar.WorkCalendar`)
    from ``unit_since`` to ``at``, pauses excluded, divided by the working seconds of a day.
    On a working clock the pauses were measured in working time and are subtracted as
    they are; on an elapsed clock (urgent items) only their clock length is known, so
    the working time is reduced by the share of the clock time that was paused.
    """
    working = calendar.working_seconds_between(item.unit_since, at)
    if item.clock == ClockKind.WORKING:
        working -= item.unit_paused
    else:
        elapsed = at - item.unit_since
        if elapsed > 0:
            working *= 1.0 - min(1.0, item.unit_paused_elapsed / elapsed)
    return max(0.0, working) / max(calendar.office_hours.seconds_per_day, 1.0)


def _reopen(item: Item, event: Event, at: float, policy: ItemPolicy) -> Transition:
    plan = policy.sla.plan(policy.calendar, start=at, category=item.category, priority=item.priority)
    item.status = Status.OPEN
    item.stage = Stage.IN_PROGRESS
    item.clock = plan.clock
    item.period_start = item.unit_since = at
    item.current_due = item.unit_due = plan.due
    item.due_soon_at = _due_soon_at(at, plan.due, plan.clock, policy)
    item.due_soon = False
    item.overdue_at = None
    item.escalation = 0
    item.escalation_paused = 0.0
    item.appointment_at = None
    item.unit_paused = item.unit_paused_elapsed = 0.0
    item.resolved_at = item.closed_at = None
    item.reopen_count += 1
    item.seq += 1
    return Transition(
        item.item_id,
        item.seq,
        Kind.REOPENED,
        event.occurred_at,
        item.unit,
        counts=((item.unit, "reopened"), (item.unit, "opened")),
    )


def _cancel(item: Item, event: Event, at: float, policy: ItemPolicy) -> Transition:
    was_overdue = item.overdue_at is not None
    item.status = Status.CANCELLED
    item.paused_at = None
    item.closed_at = at
    item.seq += 1
    return Transition(
        item.item_id,
        item.seq,
        Kind.CANCELLED,
        event.occurred_at,
        item.unit,
        counts=(
            (item.unit, "cancelled"),
            (item.unit, "closed"),
            *(((item.unit, "late_closed"),) if was_overdue else ()),
        ),
    )


_HANDLERS: dict[EventType, Any] = {
    EventType.ASSIGNED: _move,
    EventType.TRANSFERRED: _move,
    EventType.ACCEPTED: _stage(Stage.ACCEPTED, Kind.ACCEPTED),
    EventType.PROGRESS: _stage(Stage.IN_PROGRESS, Kind.PROGRESS),
    EventType.EXTENDED: _extend,
    EventType.PAUSED: _pause,
    EventType.RESUMED: _resume,
    EventType.RESOLVED: _resolve,
    EventType.REOPENED: _reopen,
    EventType.CANCELLED: _cancel,
}


def _advance(item: Item, until: float, policy: ItemPolicy, *, inclusive: bool) -> list[Transition]:
    """Fire, in order, every time-driven transition due before (or at) ``until``."""
    transitions: list[Transition] = []
    while True:
        deadline = next_deadline(item, policy)
        if deadline is None or deadline.kind is Kind.PURGED:
            break
        if deadline.at > until or (deadline.at == until and not inclusive):
            break
        at = deadline.at
        item.seq += 1
        item.last_at = max(item.last_at, at)
        if deadline.kind is Kind.DUE_SOON:
            item.due_soon = True
            transitions.append(Transition(item.item_id, item.seq, Kind.DUE_SOON, at, item.unit))
        elif deadline.kind is Kind.OVERDUE:
            item.overdue_at = at
            item.due_soon = True
            transitions.append(
                Transition(
                    item.item_id,
                    item.seq,
                    Kind.OVERDUE,
                    at,
                    item.unit,
                    counts=((item.unit, "became_overdue"),),
                )
            )
        else:
            item.escalation += 1
            transitions.append(
                Transition(item.item_id, item.seq, Kind.ESCALATED, at, item.unit, escalation=item.escalation)
            )
    return transitions


def _escalation_at(item: Item, step: int, policy: ItemPolicy) -> float:
    assert item.overdue_at is not None
    offset = policy.deadlines.escalation_offset(step) + item.escalation_paused
    return policy.calendar.add_working_seconds(item.overdue_at, offset)


def _due_soon_at(start: float, due: float, clock: ClockKind, policy: ItemPolicy) -> float:
    rules = policy.deadlines
    if due <= start:
        return due
    if clock == ClockKind.WORKING:
        calendar = policy.calendar
        total = calendar.working_seconds_between(start, due)
        by_share = calendar.add_working_seconds(start, total * rules.due_soon_share)
        if total > 2 * rules.due_soon_left:
            return min(by_share, calendar.subtract_working_seconds(due, rules.due_soon_left))
        return by_share
    total = due - start
    by_share = start + total * rules.due_soon_share
    if total > 2 * rules.due_soon_left:
        return min(by_share, due - rules.due_soon_left)
    return by_share


def _measure(item: Item, start: float, end: float, policy: ItemPolicy) -> float:
    if end <= start:
        return 0.0
    if item.clock == ClockKind.WORKING:
        return policy.calendar.working_seconds_between(start, end)
    return end - start
