"""The publisher's flush: pending board changes go out in chunks, each change once, in order.

The board store here records the chunks it is given; the Lua call itself is covered on a
real Redis by tests/govpulse and the web tests.
"""

from __future__ import annotations

import asyncio
from typing import Any

from runtime.memory import release_free_memory
from stream.publish import BULK_FLUSH, Publisher, UnitPanels


class RecordingStore:
    def __init__(self) -> None:
        self.chunks: list[list[Any]] = []

    async def publish(self, batch: list[Any], *, checked: bool, ids: bool = True) -> list[str]:
        self.chunks.append(list(batch))
        return []

    async def read_epoch(self) -> str | None:
        return None


def test_a_large_backlog_is_flushed_in_chunks_of_2000_in_order() -> None:
    store = RecordingStore()
    publisher = Publisher(store, worker_id="w")  # type: ignore[arg-type]
    for n in range(5001):
        publisher.queue("P-BEN-THANH", f"PA-{n}", {"n": n})
    publisher.queue("P-BEN-THANH", "PA-7", {"n": "again"})  # replaces the pending one

    asyncio.run(publisher._flush())

    assert [len(chunk) for chunk in store.chunks] == [2000, 2000, 1001]
    keys = [change.key for chunk in store.chunks for change in chunk]
    assert keys == [f"PA-{n}" for n in range(5001)]
    assert publisher.backlog == 0 and publisher.published == 5001


def test_a_bulk_flush_is_reported_so_the_worker_can_return_its_memory() -> None:
    store = RecordingStore()
    publisher = Publisher(store, worker_id="w")  # type: ignore[arg-type]
    calls: list[int] = []
    publisher.on_bulk_flushed(lambda: calls.append(publisher.backlog))
    for n in range(BULK_FLUSH - 1):
        publisher.queue("P-BEN-THANH", f"PA-{n}", {"n": n})
    asyncio.run(publisher._flush())
    assert calls == []  # an ordinary flush

    for n in range(BULK_FLUSH):
        publisher.queue("P-BEN-THANH", f"PB-{n}", {"n": n})
    asyncio.run(publisher._flush())
    assert calls == [0]  # after the whole backlog went out


def test_release_free_memory_trims_the_heap_on_glibc() -> None:
    import platform

    released = release_free_memory()
    assert released is (platform.libc_ver()[0] == "glibc")


def test_a_unit_panel_is_handed_to_the_publisher_only_when_it_changed_or_was_forgotten() -> None:
    store = RecordingStore()
    publisher = Publisher(store, worker_id="w")  # type: ignore[arg-type]
    open_at = {1.0: 3, 2.0: 3, 3.0: 4, 4.0: 4}
    panels = UnitPanels(lambda node, now: {"code": node, "open": open_at[now]}, publisher)

    def published(now: float) -> list[tuple[str, str, bytes | None]]:
        panels.publish("Q1", now)
        asyncio.run(publisher._flush())
        changes = [(c.kind, c.key, c.data) for chunk in store.chunks for c in chunk]
        store.chunks.clear()
        return changes

    assert published(1.0) == [("unit", "Q1", b'{"code":"Q1","open":3}')]
    assert published(2.0) == []  # the same panel
    assert published(3.0) == [("unit", "Q1", b'{"code":"Q1","open":4}')]
    panels.forget()
    assert published(4.0) == [("unit", "Q1", b'{"code":"Q1","open":4}')]


class SlowStore(RecordingStore):
    """Yields to the loop inside every publish call, as a real Redis round trip does."""

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail

    async def publish(self, batch: list[Any], *, checked: bool, ids: bool = True) -> list[str]:
        await asyncio.sleep(0)
        if self.fail:
            raise ConnectionError("Redis is gone")
        return await super().publish(batch, checked=checked, ids=ids)


def test_drain_publishes_everything_pending_and_concurrent_flushes_send_each_change_once() -> None:
    store = SlowStore()
    publisher = Publisher(store, worker_id="w")  # type: ignore[arg-type]
    publisher.up = True
    for n in range(4500):
        publisher.queue("P-BEN-THANH", f"PA-{n}", {"n": n})

    async def both() -> list[bool]:
        # The publisher's own loop flushing while a republish drains between its chunks.
        flushing = asyncio.create_task(publisher._flush())
        drained = await publisher.drain()
        await flushing
        return [drained]

    assert asyncio.run(both()) == [True]
    keys = [change.key for chunk in store.chunks for change in chunk]
    assert keys == [f"PA-{n}" for n in range(4500)]
    assert publisher.backlog == 0


def test_drain_keeps_the_changes_when_redis_is_down_or_unreachable() -> None:
    store = SlowStore(fail=True)
    publisher = Publisher(store, worker_id="w")  # type: ignore[arg-type]
    publisher.queue("P-BEN-THANH", "PA-1", {"n": 1})

    assert asyncio.run(publisher.drain()) is False  # not connected yet: nothing tried
    publisher.up = True
    assert asyncio.run(publisher.drain()) is False  # the publish failed
    assert publisher.backlog == 1 and store.chunks == []
