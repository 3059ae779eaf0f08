"""An item's timeline: one entry per transition, with both clocks as they stood.

Pure: :func:`timeline_entries` turns the transitions one message caused (and the event, if
it was one) into JSON-ready entries keyed by the item's transition sequence number, so
writing them again after a redelivery changes nothing. The worker keeps them in Redis
(:mod:`runtime.timeline`) for open items and for the closed-item retention; the web node
shows them on ``/item/<id>`` (docs/reports.md "Item timeline").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from domain.events import Event
from domain.items import Item, Transition

#: The state of the item written with the last entry of a message: both clocks, the
#: deadlines, pauses and the appointment.
STATE_FIELDS = (
    "status",
    "stage",
    "unit",
    "category",
    "priority",
    "clock",
    "received_at",
    "period_start",
    "original_due",
    "current_due",
    "unit_since",
    "unit_due",
    "overdue_at",
    "appointment_at",
    "paused_at",
    "escalation",
    "reopen_count",
    "transfer_count",
    "work_mode",
    "assignee",
)
#: Fields of the event written with the entry it caused (free text stays text).
EVENT_FIELDS = ("event_id", "note", "assigned_by", "channel", "title")


class Captured(NamedTuple):
    """What one message did to an item, captured cheaply while a batch is applied (the
    item's state as a tuple of :data:`STATE_FIELDS`; the item object changes with later
    messages of the batch). :func:`entries` turns it into timeline entries afterwards, so
    the worker allocates the entries' dicts after the batch, not between its records."""

    state: tuple[Any, ...] | None
    transitions: Sequence[Transition]
    event: Event | None


def capture(item: Item | None, transitions: Sequence[Transition], event: Event | None) -> Captured:
    """Capture one message's effect on an item (see :class:`Captured`)."""
    state = None if item is None else tuple(_plain(getattr(item, name)) for name in STATE_FIELDS)
    return Captured(state, transitions, event)


def timeline_entries(
    item: Item | None, transitions: Sequence[Transition], event: Event | None
) -> list[tuple[int, dict[str, Any]]]:
    """(sequence number, entry) for each transition, oldest first.

    Args:
        item: the item after the message (None when purged).
        transitions: what the message caused (time-driven ones first, then the event's).
        event: the event, or None for a deadline tick.
    """
    return entries(capture(item, transitions, event))


def entries(captured: Captured) -> list[tuple[int, dict[str, Any]]]:
    """The timeline entries of a captured message."""
    state, transitions, event = captured
    out: list[tuple[int, dict[str, Any]]] = []
    last = len(transitions) - 1
    for index, transition in enumerate(transitions):
        entry: dict[str, Any] = {
            "seq": transition.seq,
            "kind": transition.kind.value,
            "at": transition.at,
            "unit": transition.unit,
        }
        if transition.from_unit is not None:
            entry["from_unit"] = transition.from_unit
        if transition.escalation:
            entry["escalation"] = transition.escalation
        if transition.latency is not None:
            entry["latency"] = transition.latency
        if transition.sla_used is not None:
            entry["sla_used"] = transition.sla_used
        by_event = event is not None and index == last and transition.kind.value == event.type.value
        entry["by"] = "event" if by_event else "time"
        if by_event and event is not None:
            entry["event"] = _event_fields(event)
        if index == last and state is not None:
            entry["state"] = dict(zip(STATE_FIELDS, state, strict=True))
        out.append((transition.seq, entry))
    return out


def _event_fields(event: Event) -> dict[str, Any]:
    fields: dict[str, Any] = {"type": event.type.value, "occurred_at": event.occurred_at}
    for name in EVENT_FIELDS:
        value = getattr(event, name)
        if value is not None:
            fields[name] = value
    if event.due_at is not None:
        fields["due_at"] = event.due_at
    if event.sla is not None:
        fields["sla"] = event.sla.to_json()
    if event.work_mode is not None:
        fields["work_mode"] = event.work_mode.value
    if event.assignee is not None:
        fields["assignee"] = event.assignee
    return fields


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value
