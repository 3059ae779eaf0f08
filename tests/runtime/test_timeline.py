"""Item timelines in Redis: idempotent writes, expiry when closed, persistence on reopen,
deletion on purge."""

from __future__ import annotations

import asyncio

import pytest

from runtime.timeline import TimelineStore, TimelineWrite, timeline_key
from tests.support.timelines import ITEM, history

pytestmark = pytest.mark.integration


def test_write_read_expire_persist_and_purge(redis_url: str) -> None:
    async def run() -> None:
        store = TimelineStore.from_url(redis_url, retention=3600.0)
        try:
            await store.client.delete(timeline_key(ITEM))
            item, entries = history()
            summary = {"id": ITEM, "unit": item.unit, "status": "open"}
            await store.write([TimelineWrite(ITEM, entries[:3], summary)])
            await store.write([TimelineWrite(ITEM, entries[:3], summary)])  # redelivered: same fields
            found, timeline = await store.read(ITEM)
            assert found == summary and [e["seq"] for e in timeline] == [1, 2, 3]
            assert await store.client.ttl(timeline_key(ITEM)) == -1  # open: kept

            await store.write(
                [TimelineWrite(ITEM, entries[3:], {**summary, "status": "resolved"}, closed=True)]
            )
            found, timeline = await store.read(ITEM)
            assert [e["seq"] for e in timeline] == list(range(1, item.seq + 1))
            assert 3500 < await store.client.ttl(timeline_key(ITEM)) <= 3600  # closed: retention

            await store.write([TimelineWrite(ITEM, [], summary)])  # reopened
            assert await store.client.ttl(timeline_key(ITEM)) == -1

            await store.write([TimelineWrite(ITEM, purged=True)])
            assert await store.read(ITEM) == (None, [])
        finally:
            await store.close()

    asyncio.run(run())
