"""The API's producer (api.sender) on a real broker: acks, keys, headers, and failure."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from api.ingest import admit
from api.sender import Placed, Sender, Unavailable
from domain.catalog import Catalog
from domain.events import format_instant
from runtime import services
from runtime.settings import load_settings
from tests.support.stack import Stack

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0


def batch(settings_units: Catalog, *items: str) -> tuple:  # type: ignore[type-arg]
    events = [
        {
            "event_id": f"e-{i}",
            "item_id": i,
            "type": "received",
            "occurred_at": format_instant(NOW),
            "unit": "P-SAI-GON",
        }
        for i in items
    ]
    return admit(
        orjson.dumps(events), catalog=settings_units, now=NOW, max_event_bytes=65536, max_future_skew=86400
    ).admitted


def test_send_returns_where_each_event_was_acknowledged(stack: Stack) -> None:
    catalog = Catalog.from_file(stack.settings.units_file)

    async def run() -> list[Placed]:
        sender = Sender(stack.settings)
        try:
            placed = await sender.send(batch(catalog, "PA-1", "NV-1"), key_name="k1")
            assert sender.connected
            return placed
        finally:
            await sender.close()

    placed = asyncio.run(run())

    assert [p.topic for p in placed] == [stack.topics.feedback, stack.topics.tasks]
    records = {r.key: r for r in stack.read(stack.topics.feedback) + stack.read(stack.topics.tasks)}
    assert {k: (r.topic, r.partition, r.offset) for k, r in records.items()} == {
        b"PA-1": (placed[0].topic, placed[0].partition, placed[0].offset),
        b"NV-1": (placed[1].topic, placed[1].partition, placed[1].offset),
    }
    assert records[b"PA-1"].headers == (("govpulse.api_key", b"k1"), ("govpulse.source", b"api"))


async def test_an_unreachable_broker_is_unavailable_within_the_send_timeout() -> None:
    settings = load_settings(
        {"GOVPULSE_BROKER_URL": f"127.0.0.1:{services.free_port()}", "GOVPULSE_API_SEND_TIMEOUT": "1s"}
    )
    sender = Sender(settings)
    catalog = Catalog.from_file(settings.units_file)
    try:
        with pytest.raises(Unavailable) as caught:
            await sender.send(batch(catalog, "PA-1"), key_name="k1")
    finally:
        await sender.close()

    assert caught.value.reason.startswith("the broker ")
    assert caught.value.reason.endswith("nothing was accepted, send the same request again")
    assert not sender.connected
