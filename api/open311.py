"""Open311 GeoReport v2 (a subset): our categories as services, requests as items.

Mapping (docs/api.md, "Open311"):

* ``GET services.json``: one service per category of the SLA file (``service_code`` =
  category code, ``service_name`` = its Vietnamese name, the description gives the
  English name and the service level).
* ``POST requests.json``: a ``received`` feedback event: ``item_id`` ``PA-311-…``,
  ``category`` = ``service_code``, ``sla`` = the category's working days, ``unit`` =
  ``jurisdiction_id`` (a unit code; optional for a key limited to exactly one unit),
  ``title`` = ``description``, ``channel`` = ``open311``; the location goes into the
  event's extra field ``location``. Personal fields (name, e-mail, phone, device id) are
  not stored: govpulse tracks deadlines, not citizens.
* ``GET requests/{id}.json``: ``status`` ``open`` / ``closed``, ``expected_datetime`` =
  the item's current deadline.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from api.keys import ApiKey
from domain.calendar import format_instant
from domain.catalog import Catalog
from domain.sla import SlaPolicy

ITEM_PREFIX = "PA-311-"
#: Seconds after the API accepted an item's last event within which an item that is not
#: on the board counts as "not processed yet" rather than closed.
PROCESSING_GRACE = 60.0
CHANNEL = "open311"
#: Longest description kept as the item's title (the event contract's limit).
MAX_DESCRIPTION = 1000
_LOCATION_FIELDS = ("address_string", "address_id", "lat", "long")


class RequestRefused(Exception):
    """A service request that cannot be accepted; ``reason`` says why (HTTP 400)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def services(sla: SlaPolicy) -> list[dict[str, Any]]:
    """The GeoReport service list: one realtime service per category."""
    out = []
    for code, category in sorted(sla.categories.items()):
        out.append(
            {
                "service_code": code,
                "service_name": category.name_vi,
                "description": f"{category.name_en}: due in {category.working_days} working days "
                f"({category.urgent_hours:g} hours when urgent)",
                "metadata": False,
                "type": "realtime",
                "keywords": category.name_en.lower(),
                "group": "govpulse",
            }
        )
    return out


def new_ids(key: ApiKey, idempotency_key: str | None) -> tuple[str, str]:
    """``(item_id, event_id)`` of a new request; the same ``Idempotency-Key`` from the same
    API key gives the same ids, so a retried POST creates nothing new."""
    if idempotency_key:
        token = hashlib.sha256(f"{key.name}\x00{idempotency_key}".encode()).hexdigest()[:20].upper()
    else:
        token = secrets.token_hex(10).upper()
    return f"{ITEM_PREFIX}{token}", f"open311:{token.lower()}"


def request_event(
    form: Mapping[str, str],
    *,
    key: ApiKey,
    catalog: Catalog,
    sla: SlaPolicy,
    now: float,
    ids: tuple[str, str],
) -> dict[str, Any]:
    """The ``received`` event for a GeoReport service request.

    Raises:
        RequestRefused: unknown ``service_code``, no or unknown ``jurisdiction_id``,
            or no ``description``.
    """
    code = (form.get("service_code") or "").strip()
    if not code:
        raise RequestRefused("service_code is required; GET services.json lists them")
    category = sla.categories.get(code)
    if category is None:
        raise RequestRefused(f"service_code {code[:64]!r} is not a service; GET services.json lists them")
    unit = (form.get("jurisdiction_id") or "").strip()
    if not unit:
        if len(key.units) != 1:
            raise RequestRefused(
                "jurisdiction_id is required: the unit code that handles the request "
                "(e.g. P-BEN-THANH); it may be left out only by a key limited to one unit"
            )
        (unit,) = key.units
    if unit not in catalog:
        raise RequestRefused(f"jurisdiction_id {unit[:64]!r} is not a unit code of the catalog")
    description = (form.get("description") or "").strip()
    if not description:
        raise RequestRefused("description is required (what the citizen reports)")
    item_id, event_id = ids
    event: dict[str, Any] = {
        "event_id": event_id,
        "item_id": item_id,
        "type": "received",
        "occurred_at": format_instant(now),
        "unit": unit,
        "category": code,
        "sla": {"working_days": category.working_days},
        "title": description[:MAX_DESCRIPTION],
        "channel": CHANNEL,
    }
    location = {name: form[name][:200] for name in _LOCATION_FIELDS if form.get(name)}
    if location:
        event["location"] = location
    return event


def service_request(
    item_id: str,
    *,
    entry: Mapping[str, Any] | None,
    record: Mapping[str, Any] | None,
    sla: SlaPolicy,
    catalog: Catalog,
    now: float,
    grace: float = PROCESSING_GRACE,
) -> dict[str, Any]:
    """One GeoReport service request from the board's queue entry (an open item) or, when
    the item is off the board, the API's own record of what it accepted.

    Off the board means closed once the worker has had time to process the last event
    the API accepted (``grace`` seconds): open items are always on the board, and an item
    may be resolved or cancelled by another channel (a Kafka producer)."""
    source: Mapping[str, Any] = entry or record or {}
    category = source.get("category")
    unit = source.get("unit")
    if entry is not None:
        status = "open"
        notes = f"status {entry.get('status')}, stage {entry.get('stage')}"
        due = entry.get("due")
        updated = entry.get("unit_since") or entry.get("received_at")
    else:
        last = (record or {}).get("type")
        accepted_at = (record or {}).get("accepted_at")
        settled = not isinstance(accepted_at, (int, float)) or now - accepted_at > grace
        if last in ("resolved", "cancelled"):
            status, notes = "closed", f"last event: {last}"
        elif settled:
            status, notes = "closed", "no longer open on the board (resolved or cancelled)"
        else:
            status, notes = "open", "accepted; not processed yet"
        due = None
        updated = (record or {}).get("at")
    service = sla.categories.get(category) if isinstance(category, str) else None
    agency = catalog.get(unit).name_vi if isinstance(unit, str) and unit in catalog else unit
    received = source.get("received_at")
    return {
        "service_request_id": item_id,
        "status": status,
        "status_notes": notes,
        "service_name": service.name_vi if service is not None else category,
        "service_code": category,
        "description": source.get("title"),
        "agency_responsible": agency,
        "requested_datetime": _instant(received),
        "updated_datetime": _instant(updated),
        "expected_datetime": _instant(due),
    }


def _instant(value: Any) -> str | None:
    return format_instant(float(value)) if isinstance(value, (int, float)) else None
