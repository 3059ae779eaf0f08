"""Reports in Redis (newer revision wins, months listed, ready marker) and the topic's latest."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from domain.reports import Figures, Report
from runtime.reports import MONTHS_KEY, READY_KEY, ReportStore, by_month, latest


def report(unit: str, period: str, revision: int, received: int) -> Report:
    return Report(unit, period, 0.0, 1.0, revision, float(revision), Figures(received=received))


def test_latest_keeps_the_highest_revision_per_key_and_skips_unreadable_records() -> None:
    records = [
        (b"A|2026-11", orjson.dumps(report("A", "2026-11", 1, 5).to_json())),
        (b"A|2026-11", orjson.dumps(report("A", "2026-11", 3, 7).to_json())),
        (b"A|2026-11", orjson.dumps(report("A", "2026-11", 2, 6).to_json())),
        (b"B|2026-11", b"not json"),
        (b"B|2026-11", orjson.dumps({"unit": "B"})),
        (b"C|2026-12", None),
    ]
    found = latest(records)
    assert list(found) == ["A|2026-11"]
    assert (found["A|2026-11"].revision, found["A|2026-11"].figures.received) == (3, 7)
    assert by_month(found) == {"2026-11": {"A": found["A|2026-11"]}}


@pytest.mark.integration
def test_redis_keeps_the_newest_revision_whatever_the_order_of_writes(redis_url: str) -> None:
    async def run() -> None:
        store = ReportStore.from_url(redis_url)
        try:
            await store.client.delete(READY_KEY, MONTHS_KEY, "reports:month:2026-11")
            assert not await store.ready()
            assert await store.put([report("A", "2026-11", 2, 6)]) == 1
            assert await store.put([report("A", "2026-11", 1, 5), report("B", "2026-11", 1, 1)]) == 1
            month = await store.month("2026-11")
            assert {u: (r.revision, r.figures.received) for u, r in month.items()} == {
                "A": (2, 6),
                "B": (1, 1),
            }
            assert await store.months() == ["2026-11"]
            await store.mark_ready()
            assert await store.ready()
            assert (await store.many(["2026-11", "2026-12"]))["2026-12"] == {}
        finally:
            await store.close()

    asyncio.run(run())
