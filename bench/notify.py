"""Notifier: alert to webhook received (latency), a burst of overdue alerts in one unit
(messages per receiver in its first minute), and delivery throughput.

A real deployment: Tansu, Redis, one ``govpulse notify`` process, and a webhook receiver
in this process (aiohttp) that verifies every Standard Webhooks signature. Alert events
are produced to ``gov.alerts`` as the alert stage produces them.

* **latency**: alerts arrive one by one (Poisson, ``rate``/s) on a route with
  ``group_wait = "0s"`` and ``group_by = ["..."]`` (each alert its own group): the time
  from producing the event to the receiver holding the verified request. This is the
  notifier's own delay; a route's ``group_wait`` adds to it by design.
* **burst**: 1,000 ``item_overdue`` alerts of one unit within about a second, on the
  packaged timing (``group_wait`` 30 s, ``group_interval`` 5 m) with two receivers
  (``continue``). The notifier runs an accelerated clock (×10), so its first clock minute
  takes 6 real seconds; the figure is the number of messages each receiver got in it
  (goal ≤ 3).
* **throughput**: ``count`` alerts at once, each its own notification, to one receiver
  (deliveries per receiver are in order, one at a time): notifications per second. The
  baseline, measured in the same run against the same receiver, is a plain loop posting
  signed requests one after the other (what in-order delivery allows at best).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import random
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from aiokafka import AIOKafkaProducer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from alerts.model import Alert, AlertEvent, AlertEventType, RuleName, Severity, State
from bench.common import BenchError, Deployment, LogWatch, Section, load_average, run_info, summarize
from runtime import services
from runtime.topics import create_topics

ASSIGNED = re.compile(r"notifier assigned partitions")
TARGET_P99_MS = 500.0
TARGET_BURST_MESSAGES = 3
UNIT = "P-SAI-GON"


@dataclass(frozen=True, slots=True)
class Sizes:
    latency_alerts: int
    rate: float
    burst: int
    throughput: int


SIZES = {
    "quick": Sizes(latency_alerts=200, rate=20.0, burst=1000, throughput=500),
    "full": Sizes(latency_alerts=2000, rate=50.0, burst=1000, throughput=3000),
}


class Receiver:
    """A webhook endpoint in a thread of its own: verifies signatures, notes arrivals."""

    def __init__(self, secret: str) -> None:
        self.webhook = Webhook(secret)
        self.port = services.free_port()
        self.arrivals: list[tuple[str, float, dict[str, Any]]] = []
        self.bad = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.runner: web.AppRunner | None = None

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            arrived = time.time()
            try:
                data = self.webhook.verify(body, dict(request.headers))
            except WebhookVerificationError:
                self.bad += 1
                return web.Response(status=401)
            self.arrivals.append((request.path, arrived, data))
            return web.Response(status=204)

        def main() -> None:
            asyncio.set_event_loop(self.loop)

            async def start() -> None:
                app = web.Application()
                app.router.add_post("/{name}", handle)
                self.runner = web.AppRunner(app, access_log=None)
                await self.runner.setup()
                await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
                ready.set()

            self.loop.run_until_complete(start())
            self.loop.run_forever()

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise BenchError("the bench webhook receiver did not start")

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        async def stop() -> None:
            if self.runner is not None:
                await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def routes(path: Path, receiver: Receiver, secret: str, *, timing: str, burst: bool) -> None:
    hooks = "".join(
        f'\n[receivers.{name}]\ntype = "webhook"\nurl = "{receiver.url(name)}"\nsecrets = ["{secret}"]\n'
        for name in ("ops", "sms")
    )
    extra = (
        '\n[[route.routes]]\nreceiver = "sms"\nmatch = { rule = "item_overdue" }\ncontinue = true\n'
        '[[route.routes]]\nreceiver = "ops"\nmatch = { rule = "item_overdue" }\n'
        if burst
        else ""
    )
    path.write_text(
        f'[route]\nreceiver = "ops"\nactive_hours = "always"\n{timing}\n{extra}{hooks}', encoding="utf-8"
    )


def overdue(subject: str, at: float) -> bytes:
    alert = Alert(
        fingerprint=f"{RuleName.ITEM_OVERDUE}:{subject}",
        rule=RuleName.ITEM_OVERDUE,
        severity=Severity.WARNING,
        state=State.FIRING,
        unit=UNIT,
        item_id=subject,
        opened_at=at,
        updated_at=at,
        audience=("wall", "leaders", f"unit:{UNIT}"),
        title_vi=f"Hồ sơ {subject} quá hạn",
        title_en=f"Item {subject} overdue",
    )
    return AlertEvent(alert.fingerprint, AlertEventType.OPENED, at, alert).encode()


async def _produce(
    bootstrap: str, topic: str, values: list[tuple[str, bytes]], *, rate: float | None
) -> list[float]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0 if rate else 5)
    await producer.start()
    sent: list[float] = []
    try:
        rng = random.Random(7)
        futures = []
        for key, value in values:
            if rate:
                await asyncio.sleep(rng.expovariate(rate))
            sent.append(time.time())
            futures.append(await producer.send(topic, value, key=key.encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _deployment(name: str, keep: bool, env: dict[str, str]) -> Deployment:
    return Deployment(name, keep=keep, env={"GOVPULSE_PARTITIONS": "4", "GOVPULSE_NOTIFY_LEASE": "3s", **env})


def _start_notifier(deployment: Deployment, routes_path: Path) -> None:
    settings = deployment.settings()
    asyncio.run(create_topics(settings))
    notifier = deployment.govpulse("notify", "notify", env={"GOVPULSE_ROUTES_FILE": str(routes_path)})
    LogWatch(notifier.log_path).wait_for(ASSIGNED, timeout=60, process=notifier)


def latency(sizes: Sizes, keep: bool, secret: str) -> dict[str, Any]:
    receiver = Receiver(secret)
    try:
        with _deployment("notify-latency", keep, {"GOVPULSE_CLOCK": "wall"}) as deployment:
            path = deployment.workdir / "routes.toml"
            timing = 'group_by = ["..."]\ngroup_wait = "0s"\ngroup_interval = "1h"'
            routes(path, receiver, secret, timing=timing, burst=False)
            _start_notifier(deployment, path)
            topic = deployment.settings().topic("gov.alerts")
            warm = [(f"W-{i}", overdue(f"W-{i}", time.time())) for i in range(20)]
            asyncio.run(_produce(deployment.bootstrap, topic, warm, rate=None))
            _wait(lambda: len(receiver.arrivals) >= 20, 60)
            receiver.arrivals.clear()
            values = [(f"NV-{i}", overdue(f"NV-{i}", time.time())) for i in range(sizes.latency_alerts)]
            sent = asyncio.run(_produce(deployment.bootstrap, topic, values, rate=sizes.rate))
            _wait(lambda: len(receiver.arrivals) >= sizes.latency_alerts, 60)
            arrived = {data["data"]["alerts"][0]["item_id"]: at for _, at, data in receiver.arrivals}
            samples = [arrived[key] - at for (key, _), at in zip(values, sent, strict=True) if key in arrived]
            figures = summarize(samples, scale=1000.0)
            figures["missing"] = sizes.latency_alerts - len(samples)
            figures["bad_signatures"] = receiver.bad
            return figures
    finally:
        receiver.close()


def burst(sizes: Sizes, keep: bool, secret: str) -> dict[str, Any]:
    receiver = Receiver(secret)
    speed = 10.0
    try:
        env = {"GOVPULSE_CLOCK": "accelerated", "GOVPULSE_CLOCK_SPEED": str(speed)}
        with _deployment("notify-burst", keep, env) as deployment:
            path = deployment.workdir / "routes.toml"
            timing = 'group_by = ["unit"]\ngroup_wait = "30s"\ngroup_interval = "5m"\nrepeat_interval = "4h"'
            routes(path, receiver, secret, timing=timing, burst=True)
            _start_notifier(deployment, path)
            topic = deployment.settings().topic("gov.alerts")
            values = [(f"NV-{i}", overdue(f"NV-{i}", time.time())) for i in range(sizes.burst)]
            started = time.time()
            asyncio.run(_produce(deployment.bootstrap, topic, values, rate=None))
            produced_in = time.time() - started
            time.sleep(max(0.0, 60.0 / speed - (time.time() - started)))
            within = [(p, data) for p, at, data in receiver.arrivals if at - started <= 60.0 / speed]
            per_receiver = {name: sum(1 for p, _ in within if p == f"/{name}") for name in ("ops", "sms")}
            alerts_told = {
                name: sum(len(d["data"]["alerts"]) for p, d in within if p == f"/{name}")
                for name in ("ops", "sms")
            }
            return {
                "alerts": sizes.burst,
                "produced_in_s": round(produced_in, 2),
                "clock_speed": speed,
                "messages_first_minute": per_receiver,
                "alerts_in_those_messages": alerts_told,
                "target_max_messages": TARGET_BURST_MESSAGES,
            }
    finally:
        receiver.close()


async def _baseline(receiver: Receiver, secret: str, count: int) -> float:
    signer = Webhook(secret)
    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        for i in range(count):
            body = orjson.dumps({"type": "alert.firing", "data": {"i": i}})
            ident = f"base_{i}"
            stamp = datetime.fromtimestamp(int(time.time()), UTC)
            headers = {
                "webhook-id": ident,
                "webhook-timestamp": str(int(time.time())),
                "webhook-signature": signer.sign(ident, stamp, body),
                "content-type": "application/json",
            }
            async with session.post(receiver.url("baseline"), data=body, headers=headers) as response:
                await response.read()
        return count / (time.perf_counter() - started)


def throughput(sizes: Sizes, keep: bool, secret: str) -> dict[str, Any]:
    receiver = Receiver(secret)
    try:
        with _deployment("notify-throughput", keep, {"GOVPULSE_CLOCK": "wall"}) as deployment:
            path = deployment.workdir / "routes.toml"
            routes(path, receiver, secret, timing='group_by = ["..."]\ngroup_wait = "0s"', burst=False)
            _start_notifier(deployment, path)
            baseline = asyncio.run(_baseline(receiver, secret, sizes.throughput))
            receiver.arrivals.clear()
            topic = deployment.settings().topic("gov.alerts")
            values = [(f"NV-{i}", overdue(f"NV-{i}", time.time())) for i in range(sizes.throughput)]
            started = time.time()
            asyncio.run(_produce(deployment.bootstrap, topic, values, rate=None))
            if not _wait(lambda: len(receiver.arrivals) >= sizes.throughput, 300):
                raise BenchError(f"only {len(receiver.arrivals)} of {sizes.throughput} notifications arrived")
            elapsed = max(at for _, at, _ in receiver.arrivals) - started
            rate = sizes.throughput / elapsed
            return {
                "notifications": sizes.throughput,
                "seconds": round(elapsed, 2),
                "per_second": round(rate, 1),
                "baseline_sequential_posts_per_second": round(baseline, 1),
                "ratio_to_baseline": round(rate / baseline, 3),
            }
    finally:
        receiver.close()


def run(profile: str, *, scale: float = 1.0, keep: bool = False) -> list[Section]:
    """Run the notifier benchmark; return its section."""
    sizes = SIZES[profile]
    if scale != 1.0:
        sizes = dataclasses.replace(
            sizes,
            latency_alerts=max(20, round(sizes.latency_alerts * scale)),
            throughput=max(50, round(sizes.throughput * scale)),
        )
    started, load_before = time.monotonic(), load_average()
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    lat = latency(sizes, keep, secret)
    bur = burst(sizes, keep, secret)
    thr = throughput(sizes, keep, secret)
    data: dict[str, Any] = {
        "latency_ms": lat,
        "burst": bur,
        "throughput": thr,
        "target_p99_ms": TARGET_P99_MS,
    }
    print(
        f"  alert to webhook  n={lat['count']:<5} p50 {lat['p50']} ms  p99 {lat['p99']} ms  "
        f"max {lat['max']} ms (target p99 < {TARGET_P99_MS:.0f} ms; missing {lat['missing']}, "
        f"bad signatures {lat['bad_signatures']})",
        flush=True,
    )
    print(
        f"  burst of {bur['alerts']} in one unit: messages in the first minute per receiver "
        f"{bur['messages_first_minute']} (target ≤ {TARGET_BURST_MESSAGES})",
        flush=True,
    )
    print(
        f"  throughput {thr['per_second']} notifications/s in order to one receiver; "
        f"sequential posts {thr['baseline_sequential_posts_per_second']}/s; ratio {thr['ratio_to_baseline']}",
        flush=True,
    )
    return [Section("notify", data, run_info(profile, started=started, load_before=load_before))]
