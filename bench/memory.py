"""Memory per open item, and how long a restarted worker takes to recover its table.

A real deployment: Tansu, Redis and one ``govpulse worker`` (wall clock). The workload is
``items`` feedback items, each one ``received`` event (a ward of the catalog, a
category, a Vietnamese title, a channel, ``due_at`` 30 days ahead so that no deadline
fires during the run), all left open.

1. The worker starts on empty topics and is restarted once (SIGTERM, then a new
   process): the **fixed cost of a restart** (interpreter, imports, Faust start-up, the
   broker's group join) with nothing to recover.
2. Once that worker is idle, its resident memory (``VmRSS``, median of a few samples)
   is the **baseline**.
3. The items are produced; when the worker's group has committed every input offset and
   the worker is idle again (under 20 % of a core for 1 s), its RSS is measured again:
   ``bytes_per_open_item = (RSS with the items − baseline) / items``. That includes the
   item table (memory store), the deadline index, gauges, the unit stage's windows and
   whatever the allocator keeps from processing: what an operator would see.
4. The worker is restarted (SIGTERM, then a new process) and timed from the new
   process's start to its "partitions … recovered" log line (its item table rebuilt
   from the changelog and its indexes rebuilt; :data:`bench.common.RECOVERED`):
   ``seconds``. The table's part of it, ``restore_seconds``, runs from the partition
   assignment to that line by the worker log's own timestamps (reading every changelog,
   rebuilding the indexes); ``seconds_per_million_items = (restore_seconds − the empty
   restart's restore_seconds) × 1,000,000 / items`` is the part that grows with the
   table, so a run with fewer items (quick profile) extrapolates without the noise of
   process start and group join. ``extrapolated_seconds_for_million_items`` adds this
   restart's other part (start, join) back.
5. The recovered worker's RSS, once idle, is reported too (``after_recovery``): the same
   table rebuilt from the changelog (the allocator may also keep what recovery and the
   board's republish used).

The broker's and Redis's growth per item are reported as context (the embedded Tansu
keeps every record in memory, and Redis holds each open item's queue entry).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import re
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import redis

from bench.common import (
    RECOVERED,
    BenchError,
    CpuSampler,
    Deployment,
    LogWatch,
    OffsetReader,
    Outgoing,
    Section,
    highwaters,
    load_average,
    produce,
    rss_bytes,
    run_info,
    topic_partitions,
)
from domain.catalog import Catalog
from domain.events import format_instant
from domain.sla import SlaPolicy
from runtime.services import Service
from runtime.topics import Topics, create_topics

log = logging.getLogger(__name__)

TARGET_BYTES_PER_ITEM = 1024
TARGET_SECONDS_PER_MILLION = 30.0
SEED = 2026
#: The worker's tables (stream.app.Pipeline._create_tables); changelogs are "<app id>-<table>-changelog".
TABLES = ("items", "metrics", "gauges", "alerts", "silences")
#: A worker log line's timestamp (Faust's and govpulse's format).
_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")
_ASSIGNED = "Executing _on_partitions_assigned"

TITLES = (
    "Rác thải tồn đọng trên vỉa hè đường Lê Lợi",
    "Đèn đường hư hỏng nhiều ngày chưa được sửa chữa",
    "Lấn chiếm lòng lề đường để kinh doanh, buôn bán",
    "Nước thải chảy tràn ra đường gây ô nhiễm",
    "Tiếng ồn từ quán karaoke sau 22 giờ",
    "Công trình xây dựng không phép trong hẻm 45",
    "Cây xanh có nguy cơ ngã đổ, đề nghị cắt tỉa",
    "Ngập nước sau mưa tại giao lộ, ảnh hưởng giao thông",
    "Hồ sơ cấp giấy chứng nhận quyền sử dụng đất trễ hẹn",
    "Đề nghị sửa chữa mặt đường bị lún, nứt",
)
CHANNELS = ("1022", "zalo", "web", "hotline", "email")


@dataclass(frozen=True, slots=True)
class Sizes:
    """Workload of one profile."""

    items: int


SIZES = {"quick": Sizes(items=50_000), "full": Sizes(items=1_000_000)}


def _events(
    count: int, *, topic: str, units: list[str], categories: list[str], now: float
) -> Iterator[Outgoing]:
    rng = random.Random(SEED)
    for number in range(count):
        item = f"PA-2026-{number:07d}"
        body = {
            "event_id": f"{item}-r",
            "item_id": item,
            "type": "received",
            "occurred_at": format_instant(now - rng.uniform(0, 3600)),
            "unit": rng.choice(units),
            "category": rng.choice(categories),
            "priority": "urgent" if rng.random() < 0.1 else "normal",
            "due_at": format_instant(now + 30 * 86400 + rng.uniform(0, 86400)),
            "title": rng.choice(TITLES),
            "channel": rng.choice(CHANNELS),
        }
        yield topic, item.encode(), orjson.dumps(body)


def _start_worker(deployment: Deployment, name: str, sampler: CpuSampler) -> tuple[Service, float, int]:
    """Start a worker; wait until it recovered. Return it, seconds from start to ready and
    how many items its deadline index holds."""
    started = time.time()
    worker = deployment.govpulse(name, "worker")
    sampler.watch("worker", worker.process.pid)
    match, seen = LogWatch(worker.log_path).wait_for(RECOVERED, timeout=600, process=worker)
    return worker, seen - started, int(match.group(1))


def _restore_seconds(log_path: Path) -> float:
    """Seconds from the worker's last partition assignment to its "recovered" line, by the
    log's own timestamps: reading the changelogs and rebuilding the indexes, without the
    process start and the group join."""
    assigned: datetime | None = None
    for line in log_path.read_text(errors="replace").splitlines():
        stamp = _STAMP.match(line)
        if stamp is None:
            continue
        if _ASSIGNED in line:
            assigned = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f")
        elif RECOVERED.search(line) and assigned is not None:
            recovered = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f")
            return (recovered - assigned).total_seconds()
    raise BenchError(f"no partition assignment followed by a 'recovered' line in {log_path}")


def _wait_idle(sampler: CpuSampler, *, timeout: float, quiet: float = 0.2) -> float:
    """Wait until the worker used under ``quiet`` of a core for a whole second."""
    deadline = time.time() + timeout
    time.sleep(1.2)
    while time.time() < deadline:
        end = time.time() - 0.1  # the sampler's thread may not have sampled "now" yet
        if sampler.between("worker", end - 1.0, end) < quiet:
            return end
        time.sleep(0.2)
    raise BenchError(f"the worker did not go idle within {timeout:.0f}s")


def _rss(pid: int, samples: int = 5) -> int:
    values = []
    for _ in range(samples):
        values.append(rss_bytes(pid))
        time.sleep(0.1)
    return int(statistics.median(values))


def _wait_committed(deployment: Deployment, expected: int, *, timeout: float) -> float:
    """Wait until the worker's group committed ``expected`` input offsets; return when."""
    settings = deployment.settings()
    topics = Topics.for_settings(settings)

    async def poll() -> float:
        deadline = time.monotonic() + timeout
        async with OffsetReader(deployment.bootstrap, settings.app_id) as reader:
            tps = topic_partitions([topics.feedback, topics.tasks], settings.partitions)
            while time.monotonic() < deadline:
                if sum((await reader.committed(tps)).values()) >= expected:
                    return time.time()
                await asyncio.sleep(0.2)
        raise BenchError(f"the worker did not commit all {expected} input events within {timeout:.0f}s")

    return asyncio.run(poll())


def _redis_memory(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        info: Any = client.info("memory")
    finally:
        client.close()
    return int(info["used_memory"])


def _stop(worker: Service) -> float:
    """SIGTERM and wait; seconds it took."""
    started = time.time()
    worker.stop(timeout=60)
    return time.time() - started


def run(profile: str, *, scale: float = 1.0, keep: bool = False) -> list[Section]:
    """Run the memory and recovery benchmark; return the "memory" and "recovery" sections."""
    sizes = SIZES[profile]
    if scale != 1.0:
        sizes = dataclasses.replace(sizes, items=max(1000, round(sizes.items * scale)))
    started, load_before = time.monotonic(), load_average()
    items = sizes.items
    with (
        Deployment("memory", keep=keep, env={"GOVPULSE_CLOCK": "wall"}) as deployment,
        CpuSampler() as sampler,
    ):
        settings = deployment.settings()
        topics = Topics.for_settings(settings)
        asyncio.run(create_topics(settings))
        catalog = Catalog.from_file(settings.units_file)
        units = [u.code for u in catalog if u.code != catalog.root and not catalog.children(u.code)]
        categories = [c for c in SlaPolicy.from_file(settings.sla_file).categories if c != "nhiem-vu"]
        assert deployment.broker is not None and deployment.redis is not None
        broker_pid = deployment.broker.process.pid

        log.info("memory: starting an empty worker, then restarting it (fixed cost of a restart)")
        first, first_ready, _ = _start_worker(deployment, "worker-1", sampler)
        _stop(first)
        worker, fixed_seconds, _ = _start_worker(deployment, "worker-2", sampler)
        empty_restore = _restore_seconds(worker.log_path)
        _wait_idle(sampler, timeout=60)
        baseline = _rss(worker.process.pid)
        broker_before = rss_bytes(broker_pid)
        redis_before = _redis_memory(deployment.redis_url)

        log.info("memory: producing %d open items", items)
        produce_started = time.time()
        count = asyncio.run(
            produce(
                deployment.bootstrap,
                _events(items, topic=topics.feedback, units=units, categories=categories, now=time.time()),
            )
        )
        produced = time.time()
        done = _wait_committed(deployment, count, timeout=max(300.0, items / 500))
        log.info(
            "memory: worker committed %d events %.1fs after the first was sent", count, done - produce_started
        )
        idle = _wait_idle(sampler, timeout=max(120.0, items / 2000))
        loaded = _rss(worker.process.pid)
        broker_after = rss_bytes(broker_pid)
        redis_after = _redis_memory(deployment.redis_url)

        changelogs = [f"{settings.app_id}-{table}-changelog" for table in TABLES]
        records = asyncio.run(
            highwaters(deployment.bootstrap, topic_partitions(changelogs, settings.partitions))
        )
        by_table = {
            table: sum(v for tp, v in records.items() if tp.topic == topic)
            for table, topic in zip(TABLES, changelogs, strict=True)
        }
        log.info("memory: restarting the worker with %d items in its table", items)
        stop_seconds = _stop(worker)
        recovered, seconds, indexed = _start_worker(deployment, "worker-3", sampler)
        restore = _restore_seconds(recovered.log_path)
        if indexed < items:
            raise BenchError(
                f"the restarted worker rebuilt its deadline index for {indexed} items, expected {items}; "
                f"see {recovered.log_path}"
            )
        _wait_idle(sampler, timeout=max(120.0, items / 2000))
        after_recovery = _rss(recovered.process.pid)
        if not recovered.running:
            raise BenchError(f"the recovered worker exited; see {recovered.log_path}")

    per_item = (loaded - baseline) / items
    per_item_recovered = (after_recovery - baseline) / items
    per_million = max(0.0, restore - empty_restore) * 1_000_000 / items
    conditions = {
        "store": settings.store,
        "partitions": settings.partitions,
        "clock": "wall",
        "event_loop": settings.event_loop,
        "events_per_item": 1,
    }
    memory = {
        "items": items,
        "bytes_per_open_item": round(per_item),
        "target_bytes_per_open_item": TARGET_BYTES_PER_ITEM,
        "rss_baseline_bytes": baseline,
        "rss_with_items_bytes": loaded,
        "after_recovery": {
            "rss_bytes": after_recovery,
            "bytes_per_open_item": round(per_item_recovered),
        },
        "ingest": {
            "produce_seconds": round(produced - produce_started, 2),
            "committed_after_seconds": round(done - produce_started, 2),
            "idle_after_seconds": round(idle - produce_started, 2),
        },
        "broker_bytes_per_item": round((broker_after - broker_before) / items),
        "redis_bytes_per_item": round((redis_after - redis_before) / items),
        "conditions": conditions,
    }
    recovery = {
        "items": items,
        "seconds": round(seconds, 2),
        "fixed_seconds": round(fixed_seconds, 2),
        "restore_seconds": round(restore, 2),
        "restore_seconds_empty": round(empty_restore, 2),
        "seconds_per_million_items": round(per_million, 1),
        "extrapolated_seconds_for_million_items": round(seconds - restore + per_million, 1),
        "target_seconds_per_million_items": TARGET_SECONDS_PER_MILLION,
        "changelog_records": by_table,
        "changelog_records_per_second": round(sum(by_table.values()) / max(1e-3, restore - empty_restore)),
        "first_start_seconds": round(first_ready, 2),
        "stop_seconds": round(stop_seconds, 2),
        "restart": "SIGTERM, wait for exit, start a new process; timed from its start to its "
        "'partitions … recovered' log line",
        "conditions": conditions,
    }
    print(
        f"  memory per open item  {per_item:8.0f} B  ({items:,} items; RSS {baseline / 2**20:.0f} → "
        f"{loaded / 2**20:.0f} MiB; after recovery {per_item_recovered:.0f} B/item)  "
        f"(target ≤ {TARGET_BYTES_PER_ITEM} B)",
        flush=True,
    )
    print(
        f"  recovery              {seconds:8.1f} s   for {items:,} items (restoring the table "
        f"{restore:.1f} s, empty {empty_restore:.2f} s; an empty restart {fixed_seconds:.1f} s) "
        f"→ {per_million:.1f} s per million items (target ≤ {TARGET_SECONDS_PER_MILLION:.0f} s)",
        flush=True,
    )
    run = run_info(profile, started=started, load_before=load_before)
    return [Section("memory", memory, run), Section("recovery", recovery, dict(run))]
