"""HTTP ingest: accepted events per second through one ``govpulse api`` process.

A real deployment: Tansu, Redis, one ``govpulse api`` process (its producer waits for
acks=all before each 202). The load generator is a separate process (``multiprocessing``
spawn) with an ``aiohttp`` client and bodies made before the clock starts, so its CPU is
not the API's.

* **kafka_direct** (baseline, same run): events/s one aiokafka producer (acks=all) in the
  load process puts on the broker — the ceiling the API adds HTTP, validation and
  idempotency to.
* **batch**: closed loop, ``connections`` clients each posting batches of 100 new events
  as fast as they are accepted: accepted events/s (goal ≥ 5,000) and the API's CPU.
* **paced**: open loop at half the batch rate (Poisson arrivals of batches of 100):
  request latency p50/p99 (goal p99 < 100 ms).
* **single**: closed loop, one event per request: requests/s.

Every event is new (unique ``event_id``): retries are not measured.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import random
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import orjson

from api.keys import ApiKey, hash_secret, new_secret
from api.store import ApiStore
from bench.common import CpuSampler, Deployment, Section, load_average, run_info, summarize, wait_until
from domain.catalog import Catalog
from domain.events import format_instant
from runtime import services
from runtime.topics import Topics, create_topics

log = logging.getLogger(__name__)

TARGET_EPS = 5000.0
TARGET_P99_MS = 100.0
BATCH = 100


@dataclass(frozen=True, slots=True)
class Sizes:
    seconds: float  # measured seconds per scenario
    warmup: float
    connections: int  # closed-loop clients (batch)
    single_connections: int
    direct_events: int


SIZES = {
    "quick": Sizes(seconds=8.0, warmup=2.0, connections=8, single_connections=16, direct_events=50_000),
    "full": Sizes(seconds=30.0, warmup=5.0, connections=16, single_connections=32, direct_events=200_000),
}


def scaled(sizes: Sizes, scale: float) -> Sizes:
    return replace(
        sizes, seconds=max(2.0, sizes.seconds * scale), direct_events=int(sizes.direct_events * scale)
    )


def _events(count: int, at: str) -> bytes:
    tag = uuid.uuid4().hex[:12]
    return orjson.dumps(
        [
            {
                "event_id": f"b-{tag}-{i}",
                "item_id": f"PA-{tag}-{i}",
                "type": "received",
                "occurred_at": at,
                "unit": "P-SAI-GON",
                "category": "moi-truong",
                "title": "Rác thải tồn đọng",
            }
            for i in range(count)
        ]
    )


def _bodies(count: int, batch: int) -> list[bytes]:
    """Request bodies made before the clock starts, so the generator's own JSON work is
    not in the measured window."""
    at = format_instant(time.time())
    return [_events(batch, at) for _ in range(count)]


async def _closed_loop(
    url: str, key: str, *, batch: int, connections: int, warmup: float, seconds: float
) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    accepted = 0
    failures: dict[int, int] = {}
    # Enough bodies for a fast run; reused round-robin (reuse would make duplicates, so
    # each body is used once: the pool is sized generously and refilled if it runs out).
    pool = _bodies(max(200, int(40_000 / batch)) if batch > 1 else 20_000, batch)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    start = time.monotonic() + warmup
    end = start + seconds

    async def client_loop(session: aiohttp.ClientSession) -> None:
        nonlocal accepted
        while time.monotonic() < end:
            body = pool.pop() if pool else _events(batch, format_instant(time.time()))
            sent = time.monotonic()
            async with session.post(f"{url}/api/v1/events", data=body, headers=headers) as response:
                payload = await response.read()
            done = time.monotonic()
            if response.status != 202:
                failures[response.status] = failures.get(response.status, 0) + 1
                continue
            if sent >= start and done <= end:
                accepted += orjson.loads(payload)["accepted"]
                latencies.append(done - sent)

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client_loop(session) for _ in range(connections)))
    return {"accepted": accepted, "seconds": seconds, "latencies": latencies, "failures": failures}


async def _open_loop(
    url: str, key: str, *, batch: int, rate: float, warmup: float, seconds: float
) -> dict[str, Any]:
    """Batches at Poisson arrivals of ``rate`` per second; latency of each, from the
    moment it was sent."""
    import aiohttp

    latencies: list[float] = []
    failures: dict[int, int] = {}
    accepted = 0
    rng = random.Random(7)
    pool = _bodies(int(rate * (warmup + seconds) * 1.3) + 10, batch)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.monotonic() + warmup
        end = start + seconds
        tasks = []

        async def one(body: bytes, measured: bool) -> None:
            nonlocal accepted
            sent = time.monotonic()
            async with session.post(f"{url}/api/v1/events", data=body, headers=headers) as response:
                payload = await response.read()
            if response.status != 202:
                failures[response.status] = failures.get(response.status, 0) + 1
            elif measured:
                latencies.append(time.monotonic() - sent)
                accepted += orjson.loads(payload)["accepted"]

        next_at = time.monotonic()
        while next_at < end:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            body = pool.pop() if pool else _events(batch, format_instant(time.time()))
            tasks.append(asyncio.create_task(one(body, next_at >= start)))
            next_at += rng.expovariate(rate)
        await asyncio.gather(*tasks)
    return {"accepted": accepted, "seconds": seconds, "latencies": latencies, "failures": failures}


async def _direct(bootstrap: str, topic: str, events: int) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    values = orjson.loads(_events(events, format_instant(time.time())))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    try:
        began = time.monotonic()
        futures = []
        for value in values:
            futures.append(await producer.send(topic, orjson.dumps(value), key=value["item_id"].encode()))
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
        seconds = time.monotonic() - began
    finally:
        await producer.stop()
    return {"accepted": events, "seconds": seconds, "latencies": [], "failures": {}}


def _load(kind: str, options: dict[str, Any], results: Any) -> None:
    """The load generator's process body (spawned)."""
    if kind == "closed":
        out = asyncio.run(_closed_loop(**options))
    elif kind == "open":
        out = asyncio.run(_open_loop(**options))
    else:
        out = asyncio.run(_direct(**options))
    results.put(out)


def _in_process(kind: str, **options: Any) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_load, args=(kind, options, results), name=f"bench-api-{kind}")
    process.start()
    out: dict[str, Any] = results.get(timeout=600)
    process.join(30)
    return out


def _figures(raw: dict[str, Any], *, per: str) -> dict[str, Any]:
    latency = summarize(raw["latencies"], scale=1000.0)
    requests = len(raw["latencies"])
    return {
        f"{per}_per_s": round(raw["accepted"] / raw["seconds"])
        if per == "events"
        else round(requests / raw["seconds"]),
        "events_per_s": round(raw["accepted"] / raw["seconds"]),
        "requests": requests,
        "p50_ms": latency["p50"],
        "p99_ms": latency["p99"],
        "max_ms": latency["max"],
        "refused": raw["failures"],
    }


def run(profile: str, *, scale: float = 1.0, keep: bool = False) -> list[Section]:
    """Run the API benchmark; return its section."""
    sizes = scaled(SIZES[profile], scale)
    started, load_before = time.monotonic(), load_average()
    port = services.free_port()
    results: dict[str, Any] = {}
    with Deployment(
        "api", keep=keep, env={"GOVPULSE_API_PORT": str(port), "GOVPULSE_LOG_LEVEL": "warning"}
    ) as deployment:
        settings = deployment.settings()
        asyncio.run(create_topics(settings))
        secret = new_secret()

        async def add_key() -> None:
            store = ApiStore.from_url(settings.redis_target, Catalog.from_file(settings.units_file))
            try:
                await store.add_key(ApiKey(name="bench", key_hash=hash_secret(secret), rate=1e9))
            finally:
                await store.close()

        asyncio.run(add_key())
        api = deployment.govpulse("api", "api", port=port)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: services.port_open(port), timeout=30, what="the API to listen")
        topic = Topics.for_settings(settings).feedback

        direct = _in_process(
            "direct", bootstrap=deployment.bootstrap, topic=topic, events=sizes.direct_events
        )
        results["kafka_direct"] = {"events_per_s": round(direct["accepted"] / direct["seconds"])}
        print(
            f"  kafka direct (acks=all, one producer): {results['kafka_direct']['events_per_s']:,} events/s",
            flush=True,
        )

        with CpuSampler() as cpu:
            cpu.watch("api", api.process.pid)
            begin = time.time() + sizes.warmup
            batch = _in_process(
                "closed", url=url, key=secret, batch=BATCH, connections=sizes.connections,
                warmup=sizes.warmup, seconds=sizes.seconds,
            )  # fmt: skip
            cpu_pct = round(100 * cpu.between("api", begin, begin + sizes.seconds) / sizes.seconds)
        results["batch"] = {
            **_figures(batch, per="events"),
            "batch": BATCH,
            "connections": sizes.connections,
            "api_cpu_pct": cpu_pct,
        }
        print(
            f"  batches of {BATCH}, {sizes.connections} connections: "
            f"{results['batch']['events_per_s']:,} events/s "
            f"(p99 {results['batch']['p99_ms']} ms, API CPU {cpu_pct} %)",
            flush=True,
        )
        rate = max(1.0, results["batch"]["events_per_s"] / 2 / BATCH)
        paced = _in_process(
            "open", url=url, key=secret, batch=BATCH, rate=rate, warmup=sizes.warmup, seconds=sizes.seconds
        )
        results["paced"] = {**_figures(paced, per="events"), "target_events_per_s": round(rate * BATCH)}
        print(
            f"  paced at {round(rate * BATCH):,} events/s: p50 {results['paced']['p50_ms']} ms, "
            f"p99 {results['paced']['p99_ms']} ms",
            flush=True,
        )
        single = _in_process(
            "closed", url=url, key=secret, batch=1, connections=sizes.single_connections,
            warmup=sizes.warmup, seconds=sizes.seconds,
        )  # fmt: skip
        results["single"] = {**_figures(single, per="requests"), "connections": sizes.single_connections}
        print(
            f"  single events, {sizes.single_connections} connections: "
            f"{results['single']['requests_per_s']:,} requests/s "
            f"(p99 {results['single']['p99_ms']} ms)",
            flush=True,
        )
    results["ratio_to_kafka_direct"] = round(
        results["batch"]["events_per_s"] / max(1, results["kafka_direct"]["events_per_s"]), 2
    )
    results["conditions"] = {
        "api_processes": 1,
        "acks": "all",
        "load_generator": "separate process (multiprocessing spawn), aiohttp, bodies made in advance",
        "broker": "Tansu in memory",
        "targets": {"events_per_s": TARGET_EPS, "p99_ms_at_half_rate": TARGET_P99_MS},
    }
    return [Section("api", results, run_info(profile, started=started, load_before=load_before))]
