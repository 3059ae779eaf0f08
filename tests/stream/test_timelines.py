"""Timeline writes of the item stage: what a batch writes, and Redis never holding it up."""

from __future__ import annotations

import asyncio
import time

from runtime import services
from runtime.timeline import TimelineStore, TimelineWrite
from stream.timelines import TimelineWriter, timeline_writes
from tests.support.timelines import ITEM, captured_history, history


def test_a_batch_writes_entries_summary_and_whether_the_item_closed() -> None:
    item, entries = history()
    _, captured = captured_history()
    (write,) = timeline_writes({ITEM: (captured, item)})
    assert (write.item_id, write.closed, write.purged) == (ITEM, True, False)
    assert write.summary is not None and write.summary["status"] == "resolved"
    assert write.entries == entries
    (purge,) = timeline_writes({ITEM: ([], None)})
    assert purge.purged


def test_redis_down_costs_one_timeout_then_batches_are_dropped_and_counted() -> None:
    async def run() -> None:
        port = services.free_port()  # nothing listens there
        writer = TimelineWriter(
            TimelineStore.from_url(f"redis://127.0.0.1:{port}/0", retention=60.0), timeout=1.0
        )
        try:
            assert not await writer.write([TimelineWrite(ITEM, [(1, {"seq": 1})])])
            started = time.monotonic()
            for _ in range(50):
                assert not await writer.write([TimelineWrite(ITEM, [(1, {"seq": 1})])])
            assert time.monotonic() - started < 0.5  # not tried again during the back-off
            assert writer.dropped == 51
            assert await writer.write([])  # nothing to write is not a failure
        finally:
            await writer.close()

    asyncio.run(run())
