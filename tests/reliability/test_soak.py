"""The long reliability run (``make soak``): a week and a half of city traffic through
three workers while faults hit every component in turn — workers SIGKILLed (one, then
two at once) and restarted, Redis SIGKILLed and restarted empty, web nodes SIGKILLed
under their clients and restarted. At the end the same checks as the short tests: every
counter equals the oracle, one overdue alert incident per breach, the board equals the
truth, and every client shows exactly the board having seen no gap or duplicate.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from domain.catalog import Catalog
from runtime import services
from runtime.services import Service
from tests.reliability.conftest import KillableRedis
from tests.support.board_client import BoardClient, WebNode, WebNodes
from tests.support.harness import (
    Board,
    alert_problems,
    board_differences,
    counter_problems,
    counters,
    dump,
    exact_env,
    overdue_alerts,
    produce,
    settle,
    workload,
)
from tests.support.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.soak]

log = logging.getLogger(__name__)

SEED = 2026
DAYS = 6.6
ITEMS_PER_DAY = 5000
WORKERS = 3
FAULTS = 12
# Seconds between faults: long enough for a recovery (the embedded broker does not compact
# changelogs, so each one replays more) and some progress before the next fault.
PAUSE = (10.0, 25.0)


class Deployment:
    """The processes of the soak run and the faults that hit them."""

    def __init__(self, stack: Stack, redis: KillableRedis, web: WebNodes, rng: random.Random) -> None:
        self.stack = stack
        self.redis = redis
        self.web = web
        self.rng = rng
        self.workers: list[Service] = []
        self.nodes: list[WebNode] = []
        self.started = 0
        self.faults: list[str] = []

    def start_worker(self) -> Service:
        self.started += 1
        worker = self.stack.start_worker(f"worker{self.started}")
        self.workers.append(worker)
        return worker

    def live_workers(self) -> list[Service]:
        return [w for w in self.workers if w.running]

    async def kill_workers(self, count: int) -> None:
        victims = self.rng.sample(self.live_workers(), count)
        for victim in victims:
            victim.kill()
        self.faults.append(f"SIGKILL {', '.join(v.name for v in victims)}")
        await asyncio.sleep(self.rng.uniform(0.5, 3.0))
        for _ in victims:
            self.start_worker()

    async def restart_redis(self) -> None:
        self.redis.kill()
        self.faults.append("SIGKILL redis")
        await asyncio.sleep(self.rng.uniform(1.0, 4.0))
        await asyncio.to_thread(self.redis.restart)

    async def restart_web_node(self, index: int | None = None) -> None:
        if index is None:
            index = self.rng.randrange(len(self.nodes))
        node = self.nodes[index]
        await asyncio.to_thread(node.service.kill)
        self.faults.append(f"SIGKILL {node.name}")
        await asyncio.sleep(self.rng.uniform(0.5, 2.0))
        name = f"{node.name.split('#')[0]}#{len(self.faults)}"
        self.nodes[index] = await asyncio.to_thread(self.web.start, name, port=node.port)

    def plan(self, count: int) -> list[Callable[[], Awaitable[None]]]:
        """``count`` faults in random order. Each kind happens at least once, and every web
        node is killed at least once, so every client loses its node at least once."""
        faults: list[Callable[[], Awaitable[None]]] = [
            lambda: self.kill_workers(1),
            lambda: self.kill_workers(2),
            self.restart_redis,
            *(functools.partial(self.restart_web_node, i) for i in range(len(self.nodes))),
        ]
        while len(faults) < count:
            faults.append(
                self.rng.choices(
                    [
                        lambda: self.kill_workers(1),
                        lambda: self.kill_workers(2),
                        self.restart_redis,
                        self.restart_web_node,
                    ],
                    weights=[0.4, 0.15, 0.2, 0.25],
                )[0]
            )
        self.rng.shuffle(faults)
        return faults


async def keep_connected(client: BoardClient, deployment: Deployment, stop: asyncio.Event) -> None:
    """Reconnect (with resume) to whichever web node is up whenever the connection drops."""
    while not stop.is_set():
        if not client.connected:
            await client.connect_any(deployment.nodes, timeout=60)
        await asyncio.sleep(0.1)


async def test_soak_faults_on_every_component_end_exact(
    broker: services.Service,
    own_redis: KillableRedis,
    make_web_nodes: Callable[..., WebNodes],
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    stack = await asyncio.to_thread(
        Stack, broker_port=broker.port, redis_url=own_redis.url, workdir=tmp_path / "stack"
    )
    started = time.monotonic()
    load = await asyncio.to_thread(
        workload, stack.settings, seed=SEED, days=DAYS, items_per_day=ITEMS_PER_DAY
    )
    stack.env.update(exact_env(load.end))
    catalog = Catalog.from_file(stack.settings.units_file)
    await asyncio.to_thread(produce, stack, load.messages)
    log.warning(
        "soak: %d events, %d breaches, produced in %.0fs",
        len(load.messages),
        len(load.overdue),
        time.monotonic() - started,
    )

    web = make_web_nodes(own_redis.url, broker=stack.settings.broker_bootstrap)
    deployment = Deployment(stack, own_redis, web, rng)
    deployment.nodes = [await asyncio.to_thread(web.start, name) for name in ("web-a", "web-b")]
    clients = [
        BoardClient("wall", "wall", view="P-SAI-GON"),
        BoardClient("leader", "leader", view="SO-Y-TE"),
        BoardClient("unit", "unit:P-BEN-THANH"),
    ]
    stop = asyncio.Event()
    keepers = [asyncio.create_task(keep_connected(c, deployment, stop)) for c in clients]
    try:
        for _ in range(WORKERS):
            deployment.start_worker()
        for fault in deployment.plan(FAULTS):
            await asyncio.sleep(rng.uniform(*PAUSE))
            await fault()
            log.warning(
                "soak: fault %d (%s) at %.0fs",
                len(deployment.faults),
                deployment.faults[-1],
                time.monotonic() - started,
            )

        def exact() -> list[str]:
            found = counter_problems(load.truth, counters(stack))
            found += alert_problems(load, overdue_alerts(stack))
            log.warning("soak: %d differences at %.0fs", len(found), time.monotonic() - started)
            return found

        problems = await asyncio.to_thread(settle, exact, timeout=1200, stable_for=240, interval=10.0)
        if problems:
            where = await asyncio.to_thread(dump, stack, tmp_path / "topics")
            pytest.fail(
                f"after faults {deployment.faults}: {len(problems)} differences "
                f"(topics in {where}), e.g.:\n" + "\n".join(problems[:20])
            )

        diff = await asyncio.to_thread(
            settle,
            lambda: board_differences(stack, own_redis.url, catalog, load),
            timeout=60,
            stable_for=60,
            interval=2.0,
        )
        if diff:
            pytest.fail(
                f"after faults {deployment.faults}: {len(diff)} board differences, e.g.:\n"
                + "\n".join(diff[:20])
            )

        board = await asyncio.to_thread(Board.read, own_redis.url)
        deadline = time.monotonic() + 20
        while any(c.position != board.feed_last for c in clients) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        for client in clients:
            assert client.problems == [], (client.name, client.problems[:10])
            assert client.state_problems(board) == []
            assert len(client.connections) > 1, f"{client.name} never lost its node"
        assert all(w.running for w in deployment.live_workers())
        log.warning("soak: passed in %.0fs with faults %s", time.monotonic() - started, deployment.faults)
    finally:
        stop.set()
        for keeper in keepers:
            keeper.cancel()
        await asyncio.gather(*keepers, return_exceptions=True)
        for client in clients:
            await client.close()
        stack.stop()
