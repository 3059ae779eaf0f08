"""A real item history for the timeline tests: received, transferred (working from home),
extended, overdue at its deadline, paused, resumed, resolved late."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog
from domain.events import Event, EventType, WorkMode
from domain.items import Item, ItemPolicy, apply_event, apply_tick
from domain.sla import SlaPolicy
from domain.timeline import Captured, capture, entries

DATA = Path(__file__).resolve().parents[2] / "domain" / "data"
POLICY = ItemPolicy(
    WorkCalendar.from_file(DATA / "calendar.toml"),
    SlaPolicy.from_file(DATA / "sla.toml"),
    Catalog.from_file(DATA / "units.json"),
)
ITEM = "PA-2026-000777"
BT, SG = "P-BEN-THANH", "P-SAI-GON"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).timestamp()


def history() -> tuple[Item, list[tuple[int, dict[str, Any]]]]:
    """The item after its history, and every timeline entry, oldest first."""
    item, captured = captured_history()
    return item, [entry for message in captured for entry in entries(message)]


def captured_history() -> tuple[Item, list[Captured]]:
    """The item after its history, and what each message did to it (domain.timeline)."""
    steps: list[Event | float] = [
        Event(
            "e1",
            ITEM,
            EventType.RECEIVED,
            at("2026-03-02 07:30"),
            unit=BT,
            category="moi-truong",
            title="Rác <b>",
        ),
        Event(
            "e2",
            ITEM,
            EventType.TRANSFERRED,
            at("2026-03-02 10:00"),
            unit=SG,
            note="Đúng địa bàn",
            assignee="cb-0042",
            work_mode=WorkMode.HOME,
        ),
        Event("e3", ITEM, EventType.EXTENDED, at("2026-03-05 09:00"), due_at=at("2026-03-12 17:00")),
        at("2026-03-13 09:00"),  # a tick: overdue at the extended deadline
        Event("e4", ITEM, EventType.PAUSED, at("2026-03-13 10:00"), note="Chờ người dân"),
        Event("e5", ITEM, EventType.RESUMED, at("2026-03-16 08:00")),
        Event("e6", ITEM, EventType.RESOLVED, at("2026-03-16 15:00")),
    ]
    item: Item | None = None
    captured: list[Captured] = []
    for step in steps:
        if isinstance(step, Event):
            outcome = apply_event(item, step, POLICY)
            captured.append(capture(outcome.item, outcome.transitions, step))
        else:
            outcome = apply_tick(item, step, POLICY)
            captured.append(capture(outcome.item, outcome.transitions, None))
        item = outcome.item
    assert item is not None
    return item, captured
