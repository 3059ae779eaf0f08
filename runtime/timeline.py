"""Item timelines in Redis: written by the worker's item stage, read by the web node.

Keys::

    timeline:<item id>   hash   "item"    -> the item's summary (domain.items.item_summary)
                                "<seq>"   -> timeline entry JSON (domain.timeline), seq
                                             zero-padded to 8 digits (fields sort in order)

An open item's hash has no expiry; when the item closes (resolved, cancelled) it expires
after ``GOVPULSE_CLOSED_ITEM_RETENTION``, like the item itself; a reopen removes the
expiry; a purge deletes it. Writes are idempotent (a field per sequence number), so a
batch redone after a crash rewrites the same fields. Redis is not the durable record: a
Redis that lost its data shows timelines from the next event on (docs/reports.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
import redis.asyncio as aioredis

PREFIX: Final = "timeline:"
ITEM_FIELD: Final = "item"


def timeline_key(item_id: str) -> str:
    return PREFIX + item_id


@dataclass(slots=True)
class TimelineWrite:
    """What one batch changes in one item's timeline."""

    item_id: str
    entries: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    summary: Mapping[str, Any] | None = None
    closed: bool = False
    purged: bool = False


class TimelineStore:
    """Item timelines in Redis (see the module docstring)."""

    def __init__(self, client: aioredis.Redis, *, retention: float) -> None:
        self.client = client
        self.retention = retention

    @classmethod
    def from_url(cls, url: str, *, retention: float) -> TimelineStore:
        return cls(
            aioredis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0), retention=retention
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def write(self, writes: Sequence[TimelineWrite]) -> None:
        """Apply a batch of timeline changes in one pipeline."""
        if not writes:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for write in writes:
                key = timeline_key(write.item_id)
                if write.purged:
                    pipe.delete(key)
                    continue
                mapping: dict[Any, Any] = {f"{seq:08d}": orjson.dumps(entry) for seq, entry in write.entries}
                if write.summary is not None:
                    mapping[ITEM_FIELD] = orjson.dumps(write.summary)
                if mapping:
                    pipe.hset(key, mapping=mapping)
                if write.closed:
                    pipe.expire(key, max(1, int(self.retention)))
                else:
                    pipe.persist(key)
            await pipe.execute()

    async def read(self, item_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """(summary, entries oldest first) of an item; (None, []) when unknown."""
        raw = await self.client.hgetall(timeline_key(item_id))
        summary: dict[str, Any] | None = None
        entries: list[tuple[str, dict[str, Any]]] = []
        for name, value in raw.items():
            text = name.decode() if isinstance(name, bytes) else str(name)
            if text == ITEM_FIELD:
                summary = orjson.loads(value)
            else:
                entries.append((text, orjson.loads(value)))
        entries.sort()
        return summary, [entry for _, entry in entries]
