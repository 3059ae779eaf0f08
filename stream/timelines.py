"""Writes item timelines to Redis from the item agent (runtime.timeline).

The item agent awaits :meth:`TimelineWriter.write` after its outputs and before its table
writes, so a batch redone after a crash rewrites the same entries (one field per
sequence number) and nothing committed is missing from a timeline. Timelines are a view,
not the record: when Redis is down or slow (over :data:`TIMEOUT`), a batch's timeline
changes are dropped and counted (logged at most once a minute), never retried and never
allowed to hold up the stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from redis.exceptions import RedisError

from domain.items import Item, item_summary
from domain.timeline import Captured, entries
from runtime.timeline import TimelineStore, TimelineWrite

log = logging.getLogger(__name__)

#: Longest wait for Redis per batch.
TIMEOUT = 2.0
#: After a failure, batches are dropped without trying Redis for this long (seconds), so
#: a Redis outage costs the stream one timeout, not one per batch.
BACKOFF = 5.0


def timeline_writes(timeline: Mapping[str, tuple[Sequence[Captured], Item | None]]) -> list[TimelineWrite]:
    """The Redis writes of one item batch's timeline changes (entries built here, after
    the batch: see :class:`domain.timeline.Captured`)."""
    out = []
    for item_id, (captured, item) in timeline.items():
        if item is None:
            out.append(TimelineWrite(item_id, purged=True))
            continue
        built: list[tuple[int, dict[str, Any]]] = []
        for message in captured:
            built += entries(message)
        out.append(TimelineWrite(item_id, built, item_summary(item), closed=not item.is_open))
    return out


class TimelineWriter:
    """Writes timeline batches, dropping them (counted) when Redis cannot take them."""

    def __init__(self, store: TimelineStore, *, timeout: float = TIMEOUT) -> None:
        self.store = store
        self.timeout = timeout
        self.dropped = 0
        self._warned_at = float("-inf")
        self._skip_until = float("-inf")

    async def write(self, writes: list[TimelineWrite]) -> bool:
        """Write one batch; False (and counted) when Redis failed or was too slow."""
        if not writes:
            return True
        if time.monotonic() < self._skip_until:
            self._drop(len(writes), "Redis failed moments ago")
            return False
        try:
            await asyncio.wait_for(self.store.write(writes), self.timeout)
        except (RedisError, OSError, TimeoutError) as exc:
            self._skip_until = time.monotonic() + BACKOFF
            self._drop(len(writes), f"Redis: {exc!r}")
            return False
        return True

    async def close(self) -> None:
        await self.store.close()

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        now = time.monotonic()
        if now - self._warned_at >= 60.0:
            self._warned_at = now
            log.warning("item timelines not written (%s); %d item changes dropped so far", why, self.dropped)
