"""The item stage's pure processor: gauges follow every change, including timer ticks."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from alerts.config import RulesConfig
from domain.events import format_instant, parse_instant
from govpulse.simulator.oracle import item_policy
from runtime.settings import load_settings
from stream.gauges import GaugeIndex
from stream.sources import Source
from stream.stages.items import FEEDBACK, TICKS, ItemProcessor, Message, encode_tick

WARD = "P-BEN-THANH"
T0 = parse_instant("2026-12-01T09:00:00+07:00")


@pytest.fixture
def processor() -> ItemProcessor:
    settings = load_settings({})
    policy = item_policy(settings)
    table: dict[bytes, bytes] = {}
    proc = ItemProcessor(
        policy,
        RulesConfig.from_file(settings.rules_file),
        load=table.get,
        gauges=GaugeIndex(policy.catalog),
        max_event_bytes=65536,
        max_future_skew=86400,
    )
    proc.table = table  # type: ignore[attr-defined]
    return proc


def run(proc: ItemProcessor, *messages: Message) -> Any:
    result = proc.process(list(messages), now=T0 + 30 * 86400)
    for records in result.writes.values():
        for key, value in records.items():
            if value is None:
                proc.table.pop(key, None)  # type: ignore[attr-defined]
            else:
                proc.table[key] = value  # type: ignore[attr-defined]
    return result


def event(offset: int, type_: str, at: float, **fields: Any) -> Message:
    body = {
        "event_id": f"e{offset}",
        "item_id": "NV-1",
        "type": type_,
        "occurred_at": format_instant(at),
        **fields,
    }
    return Message(FEEDBACK, "gov.feedback", 0, offset, b"NV-1", orjson.dumps(body))


def tick(offset: int, at: float) -> Message:
    return Message(TICKS, "ticks", 0, offset, b"NV-1", encode_tick("NV-1", at))


def gauges(proc: ItemProcessor, node: str = WARD) -> tuple[int, int, int]:
    snapshot = proc.gauges.snapshot(0, node)
    return snapshot.open, snapshot.overdue, snapshot.due_soon


def test_overdue_tick_moves_the_item_into_the_overdue_gauge_and_resolution_out(
    processor: ItemProcessor,
) -> None:
    due = T0 + 3600
    run(processor, event(0, "received", T0, unit=WARD, due_at=format_instant(due)))
    assert gauges(processor) == (1, 0, 0)
    run(processor, tick(0, due))
    assert gauges(processor) == (1, 1, 0)
    assert gauges(processor, "HCM") == (1, 1, 0)
    run(processor, event(1, "resolved", due + 60))
    assert gauges(processor) == (0, 0, 0)
    assert gauges(processor, "HCM") == (0, 0, 0)


def test_due_soon_tick_counts_in_due_soon_until_overdue(processor: ItemProcessor) -> None:
    due = T0 + 10 * 3600
    run(processor, event(0, "received", T0, unit=WARD, due_at=format_instant(due)))
    run(processor, tick(0, T0 + 9 * 3600))
    assert gauges(processor) == (1, 0, 1)
    run(processor, tick(1, due))
    assert gauges(processor) == (1, 1, 0)


def test_tick_ahead_of_the_input_is_deferred(processor: ItemProcessor) -> None:
    due = T0 + 3600
    run(processor, event(0, "received", T0, unit=WARD, due_at=format_instant(due)))
    result = processor.process([tick(0, due)], now=T0 + 30 * 86400, tick_limits={0: due - 1})
    assert result.node_batches == [] and gauges(processor) == (1, 0, 0)


def test_events_report_their_source_and_entries_carry_its_wire_tag(processor: ItemProcessor) -> None:
    due = T0 + 3600
    received = event(7, "received", T0, unit=WARD, due_at=format_instant(due))
    ticked = Message(TICKS, "ticks", 0, 2, b"NV-1", encode_tick("NV-1", due))

    result = run(processor, received, ticked)

    assert result.events == [(Source(FEEDBACK, 0), 7, T0), (Source(TICKS, 0), 2, None)]
    assert {(entry.source, entry.offset) for batch in result.node_batches for entry in batch.entries} == {
        ("f0", 7),
        ("k0", 2),
    }
