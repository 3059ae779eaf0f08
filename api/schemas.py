"""The API's documented shapes (OpenAPI 3.1 components), as pydantic models.

Request bodies are not validated by these models: events go through the domain's own
parser (:mod:`api.ingest`) so that the reasons equal the dead-letter reasons.
:data:`EVENT_SCHEMA` documents the event contract (docs/events.md) for clients and for
contract tests.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.events import MAX_LENGTH, EventType
from domain.ids import ID_MAX_LENGTH, ID_PATTERN, UNIT_CODE_PATTERN
from domain.indicators.reports import MAX_NOTE

_INSTANT = {
    "type": "string",
    "format": "date-time",
    "description": "RFC 3339 instant with offset, years 2000..2099",
    "examples": ["2026-11-26T09:30:00+07:00"],
}


def _text(name: str) -> dict[str, Any]:
    return {"type": ["string", "null"], "maxLength": MAX_LENGTH[name]}


EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One input event (docs/events.md). Unknown fields are kept and ignored.",
    "required": ["event_id", "item_id", "type", "occurred_at"],
    "properties": {
        "event_id": {"type": "string", "pattern": f"^{ID_PATTERN}$", "maxLength": MAX_LENGTH["event_id"]},
        "item_id": {"type": "string", "pattern": f"^{ID_PATTERN}$", "maxLength": MAX_LENGTH["item_id"]},
        "type": {"type": "string", "enum": [t.value for t in EventType]},
        "occurred_at": _INSTANT,
        "unit": {
            "type": ["string", "null"],
            "pattern": f"^{UNIT_CODE_PATTERN}$",
            "description": "required on received, assigned, transferred",
        },
        "category": _text("category"),
        "priority": {"type": ["string", "null"], "enum": ["normal", "urgent", None]},
        "due_at": {**_INSTANT, "type": ["string", "null"]},
        "sla": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["working_days"],
                    "additionalProperties": False,
                    "properties": {"working_days": {"type": "integer", "minimum": 1, "maximum": 3650}},
                },
                {
                    "type": "object",
                    "required": ["hours"],
                    "additionalProperties": False,
                    "properties": {"hours": {"type": "number", "exclusiveMinimum": 0, "maximum": 87600}},
                },
                {"type": "null"},
            ]
        },
        "title": _text("title"),
        "channel": _text("channel"),
        "assigned_by": _text("assigned_by"),
        "note": _text("note"),
    },
}

EVENTS_BODY: dict[str, Any] = {
    "oneOf": [
        {"$ref": "#/components/schemas/Event"},
        {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": {"$ref": "#/components/schemas/Event"},
        },
    ]
}


_COUNT = {"type": ["integer", "null"], "minimum": 0, "description": "for ratio indicators"}

REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One indicator report (docs/events.md, gov.indicators). Unknown fields are refused. "
    "Ratio indicators take numerator and denominator, the others value.",
    "required": ["event_id", "indicator", "unit", "period", "as_of"],
    "additionalProperties": False,
    "properties": {
        "event_id": {"type": "string", "pattern": f"^{ID_PATTERN}$", "maxLength": ID_MAX_LENGTH},
        "indicator": {
            "type": "string",
            "pattern": "^[A-Z][A-Z0-9.-]{1,31}$",
            "examples": ["DT-GIAI-NGAN-PHUONG"],
        },
        "unit": {"type": "string", "pattern": f"^{UNIT_CODE_PATTERN}$", "examples": ["P-BAN-CO"]},
        "period": {
            "type": "string",
            "pattern": "^[0-9]{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?$",
            "description": "the indicator's period in local time: 2026, 2026-Q2 or 2026-05",
        },
        "value": {"type": ["number", "null"], "description": "for cumulative and level indicators"},
        "numerator": _COUNT,
        "denominator": {**_COUNT, "minimum": 1},
        "as_of": _INSTANT,
        "reported_by": {
            "type": ["string", "null"],
            "pattern": f"^{ID_PATTERN}$",
            "maxLength": ID_MAX_LENGTH,
        },
        "note": {
            "type": ["string", "null"],
            "description": f"kept up to {MAX_NOTE} characters, shown as text",
        },
    },
}

REPORTS_BODY: dict[str, Any] = {
    "oneOf": [
        {"$ref": "#/components/schemas/IndicatorReport"},
        {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": {"$ref": "#/components/schemas/IndicatorReport"},
        },
    ]
}


class ProblemItem(BaseModel):
    """Why one event of the request was refused."""

    index: int | None = Field(description="0-based position in the batch; null: the whole body")
    event_id: str | None
    reason: str = Field(description="the same words the dead-letter topic gives")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemItem] | None = None


class EventResult(BaseModel):
    """The outcome of one event of an accepted request."""

    index: int
    event_id: str
    item_id: str
    status: Literal["accepted", "duplicate"] = Field(
        description="accepted: produced now; duplicate: accepted before (a retry), nothing new created"
    )
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


class Accepted(BaseModel):
    """Every event is on the broker (acks=all), now or by an earlier request."""

    accepted: int
    duplicates: int
    results: list[EventResult]


class ReportResult(BaseModel):
    """The outcome of one indicator report of an accepted request."""

    index: int
    event_id: str
    indicator: str
    unit: str
    period: str
    status: Literal["accepted", "duplicate"] = Field(
        description="accepted: produced now; duplicate: accepted before (a retry), nothing new created"
    )
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


class AcceptedReports(BaseModel):
    """Every report is on the broker (acks=all), now or by an earlier request."""

    accepted: int
    duplicates: int
    results: list[ReportResult]


class ItemState(BaseModel):
    """An open item as the board shows it (``domain.items.item_summary``); instants in epoch seconds."""

    model_config = ConfigDict(extra="allow")

    id: str
    kind: str
    unit: str
    status: str
    stage: str
    due: float | None = None


class UnitStats(BaseModel):
    """A unit's counters for one window, and its live gauges."""

    code: str
    name_vi: str
    name_en: str
    window: str
    at: float | None = None
    colour: str | None = None
    gauges: dict[str, Any]
    counters: dict[str, Any]


class Health(BaseModel):
    redis: bool
    broker: bool


class Service311(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class Created311(BaseModel):
    service_request_id: str
    service_notice: str | None = None
    account_id: str | None = None


class Request311(BaseModel):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None = None
    service_name: str | None = None
    service_code: str | None = None
    description: str | None = None
    agency_responsible: str | None = None
    requested_datetime: str | None = None
    updated_datetime: str | None = None
    expected_datetime: str | None = None


class Error311(BaseModel):
    code: int
    description: str


COMPONENT_MODELS: tuple[type[BaseModel], ...] = (
    Problem,
    ProblemItem,
    EventResult,
    Accepted,
    ReportResult,
    AcceptedReports,
    ItemState,
    UnitStats,
    Health,
    Service311,
    Created311,
    Request311,
    Error311,
)
