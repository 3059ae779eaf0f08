"""Alert latency: from the instant a breach happens to the alert frame on a wall board.

A real deployment on the wall clock: Tansu, Redis, one ``govpulse worker``, one
``govpulse web`` and a websocket client with a ``wall`` token in this process. Every
latency ends when the first ``item_overdue`` alert delta of the item arrives at the
client.

* **event-driven**: the breach is revealed by an event. For each sample, one item's
  ``received`` (dated 120 s ago, ``due_at`` 60 s ago) and its late ``resolved`` (dated
  now) are produced back to back; govpulse learns of the breach only from these events
  (the worker's deadline timer never fires first: a partition's ticks wait until its
  input has caught up). Start = just before the ``resolved`` is sent. The alert opens
  and resolves in the same batch ("a breach is a breach", alerts/rules.py), so the
  frame usually carries the resolved alert.
* **deadline-driven**: items are received with ``due_at`` a few seconds ahead and no
  further event; the worker's deadline timer must notice. Start = the ``due_at``
  instant (wall clock).

Samples are spread in time (Poisson arrivals, and deadlines spaced at the same rate)
so that the figure is latency, not queueing behind a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from websockets.asyncio.client import ClientConnection, connect

from bench.common import (
    RECOVERED,
    SECRET,
    BenchError,
    Deployment,
    LogWatch,
    Section,
    load_average,
    run_info,
    summarize,
)
from domain.catalog import Catalog
from domain.events import format_instant, parse_instant
from runtime import services
from runtime.topics import Topics, create_topics
from web.auth import mint_token

log = logging.getLogger(__name__)

TARGET_P99_MS = {"event": 250.0, "deadline": 1250.0}


@dataclass(frozen=True, slots=True)
class Sizes:
    event_alerts: int
    deadline_alerts: int
    rate: float  # samples per second
    warmup: int


SIZES = {
    "quick": Sizes(event_alerts=200, deadline_alerts=200, rate=20.0, warmup=20),
    "full": Sizes(event_alerts=1000, deadline_alerts=1000, rate=20.0, warmup=20),
}


class BoardClient:
    """A wall-scope websocket client noting when each item's first ``item_overdue`` alert
    delta (fingerprint ``item_overdue:<item id>``) arrives."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.arrivals: dict[str, float] = {}
        #: ``op`` of each item's first alert frame: ``upsert`` (the alert is shown) or
        #: ``remove`` (opened and resolved in one batch: the board only hears it is gone)
        self.ops: dict[str, str] = {}
        self.frames = 0
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._ws = await connect(self.url, max_size=None, compression=None)
        await self._ws.send(orjson.dumps({"type": "auth", "token": self.token}).decode())
        first = orjson.loads(await self._ws.recv())
        if first.get("type") != "snapshot":
            raise BenchError(f"expected a snapshot after auth, got {str(first)[:200]}")
        self._task = asyncio.create_task(self._receive())

    async def _receive(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            arrived = time.time()
            self.frames += 1
            frame = orjson.loads(message)
            if frame.get("type") != "delta" or frame.get("kind") != "alert":
                continue
            rule, _, item = str(frame.get("key")).partition(":")
            if rule == "item_overdue" and item not in self.arrivals:
                self.arrivals[item] = arrived
                self.ops[item] = str(frame.get("op"))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._ws is not None:
            await self._ws.close()


def _event(item_id: str, kind: str, at: float, *, unit: str, suffix: str, **extra: Any) -> bytes:
    body: dict[str, Any] = {
        "event_id": f"{item_id}-{suffix}",
        "item_id": item_id,
        "type": kind,
        "occurred_at": format_instant(at),
        "unit": unit,
        **extra,
    }
    return orjson.dumps(body)


async def _collect(client: BoardClient, starts: dict[str, float], *, timeout: float) -> dict[str, Any]:
    """Wait for every item's alert (up to ``timeout``); latency statistics in ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(item not in client.arrivals for item in starts):
        await asyncio.sleep(0.05)
    latencies = [client.arrivals[item] - at for item, at in starts.items() if item in client.arrivals]
    ops: dict[str, int] = {}
    for item in starts:
        if item in client.ops:
            ops[client.ops[item]] = ops.get(client.ops[item], 0) + 1
    return {
        **summarize(latencies, scale=1000.0),
        "missing": len(starts) - len(latencies),
        "first_frame_ops": ops,
    }


async def _event_driven(
    producer: AIOKafkaProducer,
    topic: str,
    client: BoardClient,
    units: list[str],
    *,
    prefix: str,
    count: int,
    rate: float,
) -> dict[str, Any]:
    rng = random.Random(f"{prefix}:{count}")
    sent: dict[str, float] = {}
    for number in range(count):
        item = f"{prefix}-{number:06d}"
        unit = units[number % len(units)]
        now = time.time()
        key = item.encode()
        received = _event(
            item,
            "received",
            now - 120,
            unit=unit,
            suffix="r",
            category="moi-truong",
            due_at=format_instant(now - 60),
            title="Benchmark: phản ánh nhận trễ",
        )
        await producer.send(topic, received, key=key)
        sent[item] = time.time()
        await producer.send(topic, _event(item, "resolved", now, unit=unit, suffix="x"), key=key)
        await asyncio.sleep(rng.expovariate(rate))
    return await _collect(client, sent, timeout=30)


async def _deadline_driven(
    producer: AIOKafkaProducer,
    topic: str,
    client: BoardClient,
    units: list[str],
    *,
    prefix: str,
    count: int,
    rate: float,
) -> dict[str, Any]:
    rng = random.Random(f"{prefix}:{count}")
    now = time.time()
    due: dict[str, float] = {}
    at = now + 4.0
    for number in range(count):
        item = f"{prefix}-{number:06d}"
        at += rng.expovariate(rate)
        # The wire keeps milliseconds: the breach instant is the deadline as sent.
        text = format_instant(at)
        due[item] = parse_instant(text)
        body = _event(
            item,
            "received",
            now,
            unit=units[number % len(units)],
            suffix="r",
            category="moi-truong",
            due_at=text,
            title="Benchmark: hạn xử lý sắp đến",
        )
        await producer.send(topic, body, key=item.encode())
    await producer.flush()
    await asyncio.sleep(max(0.0, max(due.values()) - time.time()))
    return await _collect(client, due, timeout=30)


async def _measure(deployment: Deployment, sizes: Sizes, web_port: int, units: list[str]) -> dict[str, Any]:
    topics = Topics.for_settings(deployment.settings())
    token = mint_token(SECRET, scope="wall", ttl_seconds=3600, subject="bench", now=time.time())
    client = BoardClient(f"ws://127.0.0.1:{web_port}/ws", token)
    await client.start()
    producer = AIOKafkaProducer(bootstrap_servers=deployment.bootstrap, linger_ms=0, acks="all")
    await producer.start()
    try:
        warmup = await _event_driven(
            producer, topics.feedback, client, units, prefix="BENCH-W", count=sizes.warmup, rate=sizes.rate
        )
        if warmup["missing"]:
            raise BenchError(f"{warmup['missing']} of {sizes.warmup} warm-up alerts never reached the board")
        log.info("latency: event-driven, %d alerts at %.0f/s", sizes.event_alerts, sizes.rate)
        event = await _event_driven(
            producer,
            topics.feedback,
            client,
            units,
            prefix="BENCH-E",
            count=sizes.event_alerts,
            rate=sizes.rate,
        )
        log.info("latency: deadline-driven, %d alerts at %.0f/s", sizes.deadline_alerts, sizes.rate)
        deadline = await _deadline_driven(
            producer,
            topics.feedback,
            client,
            units,
            prefix="BENCH-D",
            count=sizes.deadline_alerts,
            rate=sizes.rate,
        )
    finally:
        await producer.stop()
        await client.stop()
    settings = deployment.settings()
    return {
        "event": event,
        "deadline": deadline,
        "warmup": warmup,
        "targets_p99_ms": TARGET_P99_MS,
        "conditions": {
            "clock": "wall",
            "rate_per_s": sizes.rate,
            "tick_interval_s": settings.tick_interval,
            "fetch_wait_s": settings.fetch_wait,
            "batch_window_s": settings.batch_window,
            "partitions": settings.partitions,
            "frames_received": client.frames,
        },
    }


def run(profile: str, *, scale: float = 1.0, keep: bool = False) -> list[Section]:
    """Run the alert latency benchmark; return its section."""
    sizes = SIZES[profile]
    if scale != 1.0:
        sizes = dataclasses.replace(
            sizes,
            event_alerts=max(10, round(sizes.event_alerts * scale)),
            deadline_alerts=max(10, round(sizes.deadline_alerts * scale)),
        )
    started, load_before = time.monotonic(), load_average()
    web_port = services.free_port()
    with Deployment(
        "latency", keep=keep, env={"GOVPULSE_CLOCK": "wall", "GOVPULSE_WEB_PORT": str(web_port)}
    ) as deployment:
        settings = deployment.settings()
        asyncio.run(create_topics(settings))
        catalog = Catalog.from_file(settings.units_file)
        units = [u.code for u in catalog if u.code != catalog.root and not catalog.children(u.code)]
        worker = deployment.govpulse("worker", "worker")
        web = deployment.govpulse("web", "web", port=web_port)
        services.wait_for_port(web_port, timeout=30, name="web node", process=web.process)
        LogWatch(worker.log_path).wait_for(RECOVERED, timeout=120, process=worker)
        data = asyncio.run(_measure(deployment, sizes, web_port, units))
        for name in ("worker", "web"):
            process = worker if name == "worker" else web
            if not process.running:
                raise BenchError(f"{name} exited during the measurement; see {process.log_path}")
    for kind in ("event", "deadline"):
        figures = data[kind]
        print(
            f"  {kind + '-driven':<16} n={figures['count']:<5} p50 {figures['p50']:>7} ms  "
            f"p99 {figures['p99']:>7} ms  "
            f"max {figures['max']:>7} ms  (target p99 < {TARGET_P99_MS[kind]:.0f} ms; "
            f"missing {figures['missing']})",
            flush=True,
        )
    return [Section("alert_latency_ms", data, run_info(profile, started=started, load_before=load_before))]
