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
