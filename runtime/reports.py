"""Closed-period reports in Redis (for the web node) and on ``gov.reports`` (the record).

``gov.reports`` (compacted, key ``UNIT|PERIOD``) is the durable record: the worker's
report stage sends every revision there. Redis holds the latest revision of each report
for the web node; it is a cache that can always be rebuilt from the topic. Keys::

    reports:ready           string  set once the hashes hold everything on gov.reports
                                    (a rebuild sets it; missing = Redis lost them: rebuild)
    reports:month:<MONTH>   hash    unit code -> latest revision JSON (domain.reports.Report)
    reports:months          set     months with at least one report (``2026-11`` …)

Writes go through one Lua script that keeps a field only if its revision is not older
than the stored one, so the worker and a rebuild may write at the same time in any order.
Quarters and years are on the topic too but not in Redis: the web node adds them up from
their months when read (:func:`domain.reports.aggregate`), which gives the same figures.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from domain.errors import ServiceError
from domain.reports import Report

log = logging.getLogger(__name__)

READY_KEY: Final = "reports:ready"
MONTH_PREFIX: Final = "reports:month:"
MONTHS_KEY: Final = "reports:months"

# KEYS: months set. ARGV: month hash prefix, then JSON [[month, unit, revision, json], ...].
_PUT_LUA = """
local written = 0
for _, entry in ipairs(cjson.decode(ARGV[2])) do
  local month, unit, revision, value = entry[1], entry[2], tonumber(entry[3]), entry[4]
  local hash = ARGV[1] .. month
  local old = redis.call('HGET', hash, unit)
  if (not old) or tonumber(cjson.decode(old)['revision']) <= revision then
    redis.call('HSET', hash, unit, value)
    redis.call('SADD', KEYS[1], month)
    written = written + 1
  end
end
return written
"""


def _is_month(period: str) -> bool:
    return len(period) == 7 and period[4] == "-" and "Q" not in period


def month_key(month: str) -> str:
    return MONTH_PREFIX + month


class ReportStore:
    """The reports in Redis (see the module docstring for the layout)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._put = client.register_script(_PUT_LUA)

    @classmethod
    def from_url(cls, url: str) -> ReportStore:
        return cls(aioredis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0))

    async def close(self) -> None:
        await self.client.aclose()

    async def put(self, reports: Iterable[Report]) -> int:
        """Store revisions (older than the stored one: ignored); return how many were kept."""
        rows = [[r.period, r.unit, r.revision, orjson.dumps(r.to_json()).decode()] for r in reports]
        if not rows:
            return 0
        return int(await self._put(keys=[MONTHS_KEY], args=[MONTH_PREFIX, orjson.dumps(rows).decode()]))

    async def ready(self) -> bool:
        """Whether the hashes were filled from the topic since Redis last lost them."""
        return bool(await self.client.exists(READY_KEY))

    async def mark_ready(self) -> None:
        await self.client.set(READY_KEY, "1")

    async def months(self) -> list[str]:
        """Months with reports, oldest first."""
        found = await self.client.smembers(MONTHS_KEY)
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in found)

    async def month(self, month: str) -> dict[str, Report]:
        """unit → latest revision of ``month``'s reports."""
        raw = await self.client.hgetall(month_key(month))
        out: dict[str, Report] = {}
        for value in raw.values():
            report = Report.from_json(orjson.loads(value))
            out[report.unit] = report
        return out

    async def many(self, months: Sequence[str]) -> dict[str, dict[str, Report]]:
        """``month()`` for several months in one round trip."""
        async with self.client.pipeline(transaction=False) as pipe:
            for month in months:
                pipe.hgetall(month_key(month))
            results = await pipe.execute()
        out: dict[str, dict[str, Report]] = {}
        for month, raw in zip(months, results, strict=True):
            out[month] = {
                report.unit: report
                for report in (Report.from_json(orjson.loads(value)) for value in raw.values())
            }
        return out


def latest(records: Iterable[tuple[bytes | None, bytes | None]]) -> dict[str, Report]:
    """The latest revision per key of ``gov.reports`` records; unreadable ones are skipped
    (and logged by count)."""
    out: dict[str, Report] = {}
    bad = 0
    for _, value in records:
        if not value:
            continue
        try:
            report = Report.from_json(orjson.loads(value))
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        old = out.get(report.key)
        if old is None or old.revision <= report.revision:
            out[report.key] = report
    if bad:
        log.warning("%d unreadable records on the reports topic skipped", bad)
    return out


async def read_reports(bootstrap: str, topic: str, *, timeout: float = 30.0) -> dict[str, Report]:
    """Everything on ``topic`` (``gov.reports``), latest revision per key.

    Reads each partition to its fetch highwater (the embedded broker's ListOffsets
    under-reports; a fetch's highwater is right).

    Raises:
        ServiceError: the broker is unreachable, or the topic is not read within ``timeout``.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    records: list[tuple[bytes | None, bytes | None]] = []
    try:
        await consumer.start()
    except KafkaError as exc:
        raise ServiceError(f"broker {bootstrap} unreachable: {exc}; check GOVPULSE_BROKER_URL") from None
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, n) for n in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return {}
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batches = await consumer.getmany(*partitions, timeout_ms=300)
            for batch in batches.values():
                records.extend((r.key, r.value) for r in batch)
            done = True
            for tp in partitions:
                highwater = consumer.highwater(tp)
                if highwater is None or await consumer.position(tp) < highwater:
                    done = False
            if done:
                break
            if loop.time() > deadline:
                raise ServiceError(
                    f"{topic} was not read to its end within {timeout:.0f} s; is the broker busy?"
                )
    finally:
        await consumer.stop()
    return latest(records)


async def rebuild(store: ReportStore, bootstrap: str, topic: str) -> int:
    """Fill Redis from the topic and mark it ready; return the number of reports."""
    reports = await read_reports(bootstrap, topic)
    await store.put(reports.values())
    await store.mark_ready()
    log.info("rebuilt %d reports in Redis from %s", len(reports), topic)
    return len(reports)


def by_month(reports: Mapping[str, Report]) -> dict[str, dict[str, Report]]:
    """Group the month reports among ``reports`` (keyed ``UNIT|PERIOD``) by month, then unit."""
    out: dict[str, dict[str, Report]] = {}
    for report in reports.values():
        if _is_month(report.period):
            out.setdefault(report.period, {})[report.unit] = report
    return out
