"""Admission of a ``POST /api/v1/events`` body: the pure part of ingest.

The body is one event object or an array of 1..:data:`MAX_BATCH` of them. Each element
is validated by the domain's own parser (:func:`domain.events.parse_event`, on the bytes
that will be produced), then by the checks the worker makes before it looks at an item's
state (:func:`domain.events.check_skew`, :func:`domain.items.unit_refusal`), so every
reason is word for word the reason the dead-letter topic would give. Refusals by an item's
state (``the item is paused; resume it first``) need the item and still happen in the
worker (dead-lettered there).

A batch is admitted whole or not at all: one invalid element refuses the request (422)
and nothing is produced, so a client fixes and resends the same batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from api.keys import ApiKey
from domain.catalog import Catalog
from domain.errors import InvalidEvent
from domain.events import UNIT_REQUIRED, Event, check_skew, parse_event
from domain.items import ItemKind, kind_for_id, unit_refusal

#: Most events in one request.
MAX_BATCH = 1000

#: What the idempotency store says of an event id (``api.store``): not seen before and now
#: reserved; accepted before with the same content; being produced by another request;
#: accepted before with other content.
Reservation = Literal["new", "duplicate", "in_flight", "conflict"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one element of the body (``index``, 0-based; ``None``: the body) was refused."""

    index: int | None
    reason: str
    event_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "event_id": self.event_id, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Admitted:
    """One valid event, ready to produce.

    Args:
        index: position in the body.
        event: the parsed event.
        kind: the item kind (decides the topic).
        value: the message value: the element as sent, JSON-encoded.
        digest: hex SHA-256 of the element with sorted keys (same content, same digest),
            to tell a retry from a reused ``event_id``.
    """

    index: int
    event: Event
    kind: ItemKind
    value: bytes
    digest: str


@dataclass(frozen=True, slots=True)
class Admission:
    """The outcome of reading a body: admitted events, or refusals (never both)."""

    admitted: tuple[Admitted, ...] = ()
    refusals: tuple[Refusal, ...] = ()


def elements(data: Any) -> list[Any] | Refusal:
    """The events of a decoded body, or why the body's shape is wrong."""
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        if not data:
            return Refusal(None, "the batch is empty; send one event object or an array of 1 to 1000")
        if len(data) > MAX_BATCH:
            return Refusal(None, f"the batch has {len(data)} events, over the limit of {MAX_BATCH}; split it")
        return data
    kind = {str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(data), "null" if data is None else type(data).__name__
    )
    return Refusal(None, f"expected an event object or an array of events, got {kind}")


def admit(
    raw: bytes,
    *,
    catalog: Catalog,
    now: float,
    max_event_bytes: int,
    max_future_skew: float,
    kind: ItemKind | None = None,
) -> Admission:
    """Validate a request body.

    Args:
        raw: the body (UTF-8 JSON).
        catalog: units, for the unit check.
        now: the clock, for the future-skew check.
        max_event_bytes: ``GOVPULSE_MAX_EVENT_BYTES``, applied to each element.
        max_future_skew: ``GOVPULSE_MAX_FUTURE_SKEW`` in seconds.
        kind: the item kind for every event (``?kind=``); ``None``: by the item id
            (:func:`domain.items.kind_for_id`: ``NV-…`` is a task).
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Admission(refusals=(Refusal(None, f"not valid JSON (UTF-8): {exc}"),))
    found = elements(data)
    if isinstance(found, Refusal):
        return Admission(refusals=(found,))
    admitted: list[Admitted] = []
    refusals: list[Refusal] = []
    seen: dict[str, int] = {}
    for index, element in enumerate(found):
        event_id = _event_id(element)
        if not isinstance(element, dict):
            # The same words as parse_event for a message that is not an object.
            try:
                parse_event(orjson.dumps(element), max_bytes=max_event_bytes)
            except InvalidEvent as exc:
                refusals.append(Refusal(index, exc.reason, event_id))
            continue
        value = orjson.dumps(element)
        try:
            event = parse_event(value, max_bytes=max_event_bytes)
            check_skew(event, now=now, limit=max_future_skew)
        except InvalidEvent as exc:
            refusals.append(Refusal(index, exc.reason, event_id))
            continue
        refusal = unit_refusal(event, catalog)
        if refusal is not None:
            refusals.append(Refusal(index, refusal, event.event_id))
            continue
        if event.event_id in seen:
            refusals.append(
                Refusal(
                    index,
                    f"event_id {event.event_id!r} appears twice in the batch (also at index "
                    f"{seen[event.event_id]}); send each event once",
                    event.event_id,
                )
            )
            continue
        seen[event.event_id] = index
        digest = hashlib.sha256(orjson.dumps(element, option=orjson.OPT_SORT_KEYS)).hexdigest()
        admitted.append(Admitted(index, event, kind or kind_for_id(event.item_id), value, digest))
    if refusals:
        return Admission(refusals=tuple(refusals))
    return Admission(admitted=tuple(admitted))


def units_needed(admitted: Sequence[Admitted]) -> list[str]:
    """Item ids whose unit must be looked up for a scope check: events that name no unit
    for an item no earlier event of the batch placed."""
    placed: set[str] = set()
    needed: list[str] = []
    for entry in admitted:
        event = entry.event
        if event.type in UNIT_REQUIRED:
            placed.add(event.item_id)
        elif event.item_id not in placed and event.item_id not in needed:
            needed.append(event.item_id)
    return needed


def scope_refusals(
    admitted: Sequence[Admitted], key: ApiKey, catalog: Catalog, item_units: Mapping[str, str | None]
) -> list[Refusal]:
    """Events ``key`` may not write: a unit outside its units, or an item that is not at
    one of them.

    Args:
        item_units: current unit of each item of :func:`units_needed` (``None``: unknown).
    """
    if not key.units:
        return []
    current = dict(item_units)
    out: list[Refusal] = []
    for entry in admitted:
        event = entry.event
        if event.type in UNIT_REQUIRED:
            assert event.unit is not None
            if not key.covers(event.unit, catalog):
                out.append(
                    Refusal(
                        entry.index,
                        f"key {key.name!r} may not write for unit {event.unit} (it covers "
                        f"{key.scope_text()})",
                        event.event_id,
                    )
                )
            # Later events of the item are judged at its new unit, which the key may not
            # cover: a key that hands an item away cannot write for it afterwards.
            current[event.item_id] = event.unit
            continue
        unit = current.get(event.item_id)
        if unit is None:
            out.append(
                Refusal(
                    entry.index,
                    f"item {event.item_id} is not open at a unit key {key.name!r} covers "
                    f"({key.scope_text()}); a key limited to units writes only for items at those units",
                    event.event_id,
                )
            )
        elif not key.covers(unit, catalog):
            out.append(
                Refusal(
                    entry.index,
                    f"item {event.item_id} is at unit {unit}, which key {key.name!r} does not cover "
                    f"({key.scope_text()})",
                    event.event_id,
                )
            )
    return out


def _event_id(element: Any) -> str | None:
    if isinstance(element, dict):
        value = element.get("event_id")
        if isinstance(value, str):
            return value[:128]
    return None


@dataclass(frozen=True, slots=True)
class Sorted:
    """A batch sorted by its reservations: the events to produce now, and the refusals
    that stop the request (conflicts first; then events still in flight elsewhere)."""

    fresh: tuple[Admitted, ...]
    conflicts: tuple[Refusal, ...]
    in_flight: tuple[Refusal, ...]


def sort_reservations(admitted: Sequence[Admitted], codes: Sequence[Reservation]) -> Sorted:
    """Split a batch by the store's answer for each event (same order)."""
    fresh: list[Admitted] = []
    conflicts: list[Refusal] = []
    in_flight: list[Refusal] = []
    for entry, code in zip(admitted, codes, strict=True):
        event = entry.event
        if code == "new":
            fresh.append(entry)
        elif code == "conflict":
            conflicts.append(
                Refusal(
                    entry.index,
                    f"event_id {event.event_id!r} was already accepted for item {event.item_id} "
                    f"with different content; never reuse an event_id for a new fact",
                    event.event_id,
                )
            )
        elif code == "in_flight":
            in_flight.append(
                Refusal(
                    entry.index,
                    f"event_id {event.event_id!r} is being produced by another request right now",
                    event.event_id,
                )
            )
    return Sorted(tuple(fresh), tuple(conflicts), tuple(in_flight))


def results(admitted: Sequence[Admitted], placed: Mapping[int, tuple[str, int, int]]) -> dict[str, Any]:
    """The 202 body: a result per event, in order.

    Args:
        placed: ``(topic, partition, offset)`` by index, for the events produced now;
            every other event was a duplicate.
    """
    out = []
    for entry in admitted:
        spot = placed.get(entry.index)
        out.append(
            {
                "index": entry.index,
                "event_id": entry.event.event_id,
                "item_id": entry.event.item_id,
                "status": "accepted" if spot is not None else "duplicate",
                "topic": spot[0] if spot is not None else None,
                "partition": spot[1] if spot is not None else None,
                "offset": spot[2] if spot is not None else None,
            }
        )
    return {"accepted": len(placed), "duplicates": len(admitted) - len(placed), "results": out}
