"""The worker end to end on a real broker: item table, dead letters, duplicates, overdue timer."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
import pytest

from domain.catalog import Catalog
from domain.events import format_instant
from domain.indicators.catalog import IndicatorCatalog
from domain.items import decode_item
from runtime.settings import load_settings
from stream.app import _check_daily_retention
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.integration

WARD = "P-BEN-THANH"


def event(event_id: str, item_id: str, type_: str, at: float, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "item_id": item_id,
        "type": type_,
        "occurred_at": format_instant(at),
        **fields,
    }


def items_of(stack: Stack) -> dict[str, Any]:
    return {key.decode(): decode_item(value) for key, value in stack.table("items").items()}


def test_events_apply_to_item_table_and_bad_input_is_dead_lettered_with_reason(stack: Stack) -> None:
    t0 = time.time() - 3600
    huge = orjson.dumps(event("e-huge", "PA-9", "received", t0, unit=WARD, title="x" * 70_000))
    good = [
        event("e1", "PA-1", "received", t0, unit=WARD, category="moi-truong", title="Rác <b>ở</b> hẻm 12"),
        event("e2", "PA-1", "assigned", t0 + 60, unit=WARD),
        event("e3", "PA-1", "accepted", t0 + 120),
        event("e4", "PA-1", "resolved", t0 + 600),
        event("e5", "PA-2", "received", t0 + 10, unit=WARD, priority="urgent"),
        event("e5", "PA-2", "received", t0 + 10, unit=WARD, priority="urgent"),  # duplicate
    ]
    bad = [
        b"{not json",
        orjson.dumps({"item_id": "PA-5", "type": "received", "occurred_at": format_instant(t0)}),
        orjson.dumps(event("e6", "PA-6", "teleported", t0, unit=WARD)),
        orjson.dumps(event("e7", "PA-7", "resolved", t0)),
        orjson.dumps(event("e8", "PA-8", "received", t0, unit="P-ATLANTIS")),
        huge,
    ]
    stack.produce_events(good[:3])
    stack.produce([(stack.topics.feedback, None, raw) for raw in bad])
    stack.produce_events(good[3:])
    worker = stack.start_worker()

    letters = wait_for(
        lambda: (r := stack.read(stack.topics.deadletter)) and len(r) >= 6 and r,
        timeout=60,
        what="six dead letters",
    )
    reasons = {letter.value: letter.header("govpulse.reason") for letter in letters}
    assert sorted(letter.value for letter in letters) == sorted(bad)
    assert reasons[bad[0]].startswith("not valid JSON (UTF-8)")
    assert reasons[bad[1]] == "missing required field 'event_id'"
    assert reasons[bad[2]].startswith("unknown type 'teleported'")
    assert reasons[bad[3]] == (
        "'resolved' for unknown item PA-7: the first event of an item must be 'received'"
    )
    assert reasons[bad[4]] == "'received' for item PA-8: unknown unit 'P-ATLANTIS' (not in the unit catalog)"
    assert (
        reasons[bad[5]]
        == f"payload is {len(huge)} bytes, over the 65536-byte limit (GOVPULSE_MAX_EVENT_BYTES)"
    )
    for letter in letters:
        assert letter.header("govpulse.source.topic") == stack.topics.feedback
        assert letter.header("govpulse.source.offset") is not None

    items = wait_for(
        lambda: (i := items_of(stack)) and "PA-2" in i and i["PA-1"].status == "resolved" and i,
        timeout=30,
        what="items in the table",
    )
    assert set(items) == {"PA-1", "PA-2"}
    assert items["PA-1"].seq == 4 and items["PA-1"].title == "Rác <b>ở</b> hẻm 12"
    assert items["PA-2"].seq == 1 and items["PA-2"].priority == "urgent"  # duplicate was a no-op
    assert worker.running, stack.log(worker)


def test_overdue_fires_within_two_seconds_of_deadline_without_new_event(stack: Stack) -> None:
    worker = stack.start_worker()
    now = time.time()
    due = now + 6.0
    stack.produce_events(
        [
            event(
                "t1",
                "NV-2026-0001",
                "received",
                now - 60,
                unit=WARD,
                due_at=format_instant(due),
                title="Báo cáo tiến độ",
            ),
        ]
    )

    def overdue_alert() -> dict[str, Any] | None:
        for record in stack.read(stack.topics.alerts, timeout=2):
            data = record.json()
            if data["fingerprint"] == "item_overdue:NV-2026-0001" and data["type"] == "opened":
                return {"data": data, "seen": time.time()}
        return None

    found = wait_for(overdue_alert, timeout=40, interval=0.1, what="the overdue alert")
    assert found["data"]["alert"]["opened_at"] == pytest.approx(due, abs=0.01)
    assert found["seen"] - due < 2.0, f"alert arrived {found['seen'] - due:.2f}s after the deadline"
    assert worker.running, stack.log(worker)


def test_input_read_in_chunks_is_applied_once_and_committed_to_the_end(stack: Stack) -> None:
    """Agents receive records in chunks (stream.transport); with 40-record chunks and
    several chunks per partition, every event is applied and the group's commit reaches
    each partition's end (a chunk acks all of its offsets)."""
    t0 = time.time() - 7200
    events = [event(f"ck{n}", f"PA-CK{n}", "received", t0 + n, unit=WARD) for n in range(700)]
    events += [event(f"ck-a{n}", f"PA-CK{n}", "assigned", t0 + 800 + n, unit=WARD) for n in range(0, 700, 7)]
    stack.produce_events(events)
    ends: dict[int, int] = {}
    for record in stack.read(stack.topics.feedback):
        ends[record.partition] = max(ends.get(record.partition, 0), record.offset + 1)
    assert sum(ends.values()) == 800 and all(end > 80 for end in ends.values())
    worker = stack.start_worker(env={"GOVPULSE_BATCH_SIZE": "40"})

    wait_for(
        lambda: (
            {p: c for (_, p), c in stack.committed([stack.topics.feedback]).items() if p in ends} == ends
            or None
        ),
        timeout=60,
        what=f"the group to commit every input offset {ends}",
    )
    items = wait_for(
        lambda: (i := items_of(stack)) and len(i) == 700 and i,
        timeout=30,
        what="700 items in the table",
    )
    assert sum(item.seq for item in items.values()) == 800  # each event applied once
    assert worker.running, stack.log(worker)


@pytest.mark.parametrize(
    ("environ", "warned"),
    [
        ({}, False),
        ({"GOVPULSE_WINDOW_RETENTION": "1d=62d"}, True),
        ({"GOVPULSE_WINDOWS": "5m,1h"}, True),
    ],
    ids=["default-keeps-a-quarter", "62-days-are-short", "no-daily-windows"],
)
def test_worker_warns_at_start_when_daily_windows_are_kept_shorter_than_a_derived_period(
    environ: dict[str, str], warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(environ)
    catalog = IndicatorCatalog.from_file(settings.indicators_file, Catalog.from_file(settings.units_file))
    with caplog.at_level(logging.WARNING, logger="stream.app"):
        _check_daily_retention(settings, catalog)
    expected = ["but derived indicator SO-1022-DUNG-HAN-QUY sums up to 92 days"] if warned else []
    assert [m for m in expected if m in caplog.text] == expected
    assert ("GOVPULSE_WINDOW_RETENTION 1d=93d" in caplog.text) is warned
