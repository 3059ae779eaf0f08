"""The input event contract (docs/events.md), validated on the way in.

One JSON object per Kafka message, key = ``item_id``. :func:`parse_event` turns the raw
bytes into a frozen :class:`Event` or raises :class:`~domain.errors.InvalidEvent` with a
reason a person can act on. Unknown fields are kept in :attr:`Event.extra`.
Free-text fields are kept as text; nothing here (or anywhere) renders them as markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from domain.calendar import format_instant as format_instant  # part of the event contract
from domain.errors import InvalidEvent, InvalidId
from domain.ids import check_id


class EventType(StrEnum):
    """What happened to an item."""

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


class Priority(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class WorkMode(StrEnum):
    """Where the work on an item is done (the city's work-from-home pilot)."""

    OFFICE = "office"
    HOME = "home"
    FIELD = "field"


#: Event types that must name the unit handling the item afterwards.
UNIT_REQUIRED = frozenset({EventType.RECEIVED, EventType.ASSIGNED, EventType.TRANSFERRED})

#: Largest accepted length of each string field (characters).
MAX_LENGTH: Mapping[str, int] = {
    "event_id": 128,
    "item_id": 64,
    "unit": 64,
    "category": 64,
    "title": 1000,
    "channel": 64,
    "assigned_by": 200,
    "note": 4000,
    "assignee": 64,
}

_KNOWN = frozenset(
    (
        "event_id",
        "item_id",
        "type",
        "occurred_at",
        "unit",
        "category",
        "priority",
        "due_at",
        "sla",
        "title",
        "channel",
        "assigned_by",
        "note",
        "assignee",
        "work_mode",
    )
)
_TYPES = {t.value: t for t in EventType}
_PRIORITIES = {p.value: p for p in Priority}
_WORK_MODES = {m.value: m for m in WorkMode}
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
_LATEST = datetime(2100, 1, 1, tzinfo=UTC).timestamp()


@dataclass(frozen=True, slots=True)
class Sla:
    """An explicit service level: a number of working days or of (clock) hours."""

    working_days: int | None = None
    hours: float | None = None

    def to_json(self) -> dict[str, float]:
        if self.working_days is not None:
            return {"working_days": self.working_days}
        assert self.hours is not None
        return {"hours": self.hours}


@dataclass(frozen=True, slots=True)
class Event:
    """One validated input event. Instants are epoch seconds (UTC)."""

    event_id: str
    item_id: str
    type: EventType
    occurred_at: float
    unit: str | None = None
    category: str | None = None
    priority: Priority | None = None
    due_at: float | None = None
    sla: Sla | None = None
    title: str | None = None
    channel: str | None = None
    assigned_by: str | None = None
    note: str | None = None
    #: Opaque staff id of the person the work is assigned to. Never logged (docs/events.md).
    assignee: str | None = None
    work_mode: WorkMode | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the contract's JSON object for this event (unknown fields included)."""
        out: dict[str, Any] = dict(self.extra)
        out.update(
            event_id=self.event_id,
            item_id=self.item_id,
            type=self.type.value,
            occurred_at=format_instant(self.occurred_at),
        )
        for name in ("unit", "category", "title", "channel", "assigned_by", "note"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.priority is not None:
            out["priority"] = self.priority.value
        if self.assignee is not None:
            out["assignee"] = self.assignee
        if self.work_mode is not None:
            out["work_mode"] = self.work_mode.value
        if self.due_at is not None:
            out["due_at"] = format_instant(self.due_at)
        if self.sla is not None:
            out["sla"] = self.sla.to_json()
        return out

    def encode(self) -> bytes:
        """Serialize with orjson, as producers put it on the topic."""
        return orjson.dumps(self.to_json())


def parse_event(raw: bytes, *, max_bytes: int = 65536) -> Event:
    """Validate ``raw`` message bytes against the event contract.

    Args:
        raw: the Kafka message value.
        max_bytes: larger payloads are rejected before parsing.

    Raises:
        InvalidEvent: with a reason naming the field and what is wrong.
    """
    if raw is None:
        raise InvalidEvent("message has no value (tombstone); expected a JSON event")
    if len(raw) > max_bytes:
        raise InvalidEvent(
            f"payload is {len(raw)} bytes, over the {max_bytes}-byte limit (GOVPULSE_MAX_EVENT_BYTES)"
        )
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON (UTF-8): {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEvent(f"expected a JSON object, got {_json_type(data)}")
    return event_from_dict(data)


def event_from_dict(data: Mapping[str, Any]) -> Event:
    """Validate an already-decoded JSON object; see :func:`parse_event`."""
    event_id = _identifier(data, "event_id")
    item_id = _identifier(data, "item_id")
    type_text = _string(data, "type", required=True)
    assert type_text is not None
    event_type = _TYPES.get(type_text)
    if event_type is None:
        allowed = ", ".join(t.value for t in EventType)
        raise InvalidEvent(f"unknown type {type_text!r}; expected one of: {allowed}")
    occurred_at = _instant(data, "occurred_at", required=True)
    assert occurred_at is not None
    unit = _optional(data, "unit")
    if event_type in UNIT_REQUIRED and not unit:
        raise InvalidEvent(f"field 'unit' is required on '{event_type.value}' events")
    priority_text = _optional(data, "priority")
    priority: Priority | None = None
    if priority_text is not None:
        priority = _PRIORITIES.get(priority_text)
        if priority is None:
            raise InvalidEvent(f"priority {priority_text!r} must be 'normal' or 'urgent'")
    work_mode: WorkMode | None = None
    mode_text = _string(data, "work_mode")
    if mode_text is not None:
        work_mode = _WORK_MODES.get(mode_text)
        if work_mode is None:
            raise InvalidEvent(
                f"field 'work_mode' = {str(mode_text)[:20]!r} must be 'office', 'home' or 'field'"
            )
    due_at = _instant(data, "due_at") if data.get("due_at") is not None else None
    sla = data.get("sla")
    if event_type is EventType.EXTENDED and due_at is None and sla is None:
        raise InvalidEvent("an 'extended' event needs the new deadline in 'due_at' (or an 'sla')")
    return Event(
        event_id=event_id,
        item_id=item_id,
        type=event_type,
        occurred_at=occurred_at,
        unit=unit,
        category=_optional(data, "category"),
        priority=priority,
        due_at=due_at,
        sla=_sla(sla) if sla is not None else None,
        title=_optional(data, "title"),
        channel=_optional(data, "channel"),
        assigned_by=_optional(data, "assigned_by"),
        note=_optional(data, "note"),
        assignee=_assignee(data),
        work_mode=work_mode,
        extra={} if data.keys() <= _KNOWN else {k: v for k, v in data.items() if k not in _KNOWN},
    )


def _optional(data: Mapping[str, Any], name: str) -> str | None:
    """An optional string field: the common cases inline, the errors from :func:`_string`."""
    value = data.get(name)
    if value is None or (type(value) is str and len(value) <= MAX_LENGTH.get(name, 64)):
        return value
    return _string(data, name)


def check_skew(event: Event, *, now: float, limit: float) -> None:
    """Refuse an event dated more than ``limit`` seconds ahead of ``now``.

    The worker and the HTTP API apply the same check with the same reason.

    Raises:
        InvalidEvent: ``occurred_at`` is too far in the future.
    """
    if event.occurred_at > now + limit:
        raise InvalidEvent(
            f"occurred_at is {(event.occurred_at - now) / 3600:.1f} h ahead of the clock "
            f"(limit GOVPULSE_MAX_FUTURE_SKEW)"
        )


def parse_instant(text: str) -> float:
    """Parse an RFC 3339 instant with an explicit offset into epoch seconds.

    Raises:
        ValueError: not RFC 3339, or no offset.
    """
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("no UTC offset")
    return value.timestamp()


def check_instant(value: str, name: str) -> float:
    """The instant in field ``name`` of an input (event or command), in epoch seconds.

    Raises:
        ValueError: not an RFC 3339 instant with an offset, or outside the years
            2000..2099; the message names the field and says what is expected.
    """
    try:
        at = parse_instant(value)
    except (ValueError, OverflowError):
        raise ValueError(
            f"field '{name}' = {value[:64]!r} is not an RFC 3339 instant with an offset "
            f"(e.g. 2026-11-26T09:30:00+07:00)"
        ) from None
    if not _EARLIEST <= at < _LATEST:
        raise ValueError(f"field '{name}' = {value[:64]!r} is outside the years 2000..2099")
    return at


def _json_type(value: object) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _string(data: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidEvent(f"missing required field '{name}'")
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"field '{name}' must be a string, got {_json_type(value)}")
    limit = MAX_LENGTH.get(name)
    if limit is not None and len(value) > limit:
        raise InvalidEvent(f"field '{name}' is {len(value)} characters, over the limit of {limit}")
    if required and not value.strip():
        raise InvalidEvent(f"field '{name}' is empty")
    return value


def _identifier(data: Mapping[str, Any], name: str) -> str:
    value = _string(data, name, required=True)
    assert value is not None
    try:
        return check_id(value, field=name, max_length=MAX_LENGTH[name])
    except InvalidId as exc:
        raise InvalidEvent(str(exc)) from None


def _assignee(data: Mapping[str, Any]) -> str | None:
    """An opaque staff id. Its value is never repeated in a message (messages reach logs
    and the dead-letter topic's headers)."""
    value = data.get("assignee")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"field 'assignee' must be a string, got {_json_type(value)}")
    limit = MAX_LENGTH["assignee"]
    if len(value) > limit:
        raise InvalidEvent(f"field 'assignee' is {len(value)} characters, over the limit of {limit}")
    try:
        return check_id(value, field="assignee", max_length=MAX_LENGTH["assignee"])
    except InvalidId:
        raise InvalidEvent(
            f"field 'assignee' is not an opaque staff id: up to {MAX_LENGTH['assignee']} letters, "
            f"digits and ._:/- (the value is not repeated here)"
        ) from None


def _instant(data: Mapping[str, Any], name: str, *, required: bool = False) -> float | None:
    value = _string(data, name, required=required)
    if value is None:
        return None
    try:
        return check_instant(value, name)
    except ValueError as exc:
        raise InvalidEvent(str(exc)) from None


def _sla(value: Any) -> Sla | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) != 1:
        raise InvalidEvent('field \'sla\' must be {"working_days": n} or {"hours": n}')
    ((key, amount),) = value.items()
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise InvalidEvent(f"field 'sla.{key}' must be a number, got {_json_type(amount)}")
    if key == "working_days":
        if not isinstance(amount, int) or not 1 <= amount <= 3650:
            raise InvalidEvent("field 'sla.working_days' must be a whole number from 1 to 3650")
        return Sla(working_days=amount)
    if key == "hours":
        if not 0 < amount <= 87600:
            raise InvalidEvent("field 'sla.hours' must be greater than 0 and at most 87600")
        return Sla(hours=float(amount))
    raise InvalidEvent(f"field 'sla' has unknown key {key!r}; use 'working_days' or 'hours'")
