"""Redis SIGKILLed mid-run and restarted empty: the worker keeps processing (counters in
Kafka converge to the oracle while Redis is down), connected clients see the board marked
stale, and once Redis is back (a new epoch) the board converges to the truth — every
unit's counters and gauges, every active alert, every open item in its unit's queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from domain.catalog import Catalog
from runtime import services
from tests.reliability.conftest import KillableRedis
from tests.support.board_client import BoardClient, WebNodes
from tests.support.harness import (
    Board,
    alert_problems,
    board_differences,
    counter_problems,
    counters,
    exact_env,
    overdue_alerts,
    produce,
    settle,
    workload,
)
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.integration

VIEW = "P-SAI-GON"


def board_units(url: str) -> int:
    try:
        client = redis.Redis.from_url(url, socket_timeout=2)
        try:
            return int(client.hlen("board:units"))
        finally:
            client.close()
    except redis.RedisError:
        return 0


async def until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


async def test_board_converges_after_redis_restarts_empty(
    broker: services.Service,
    own_redis: KillableRedis,
    make_web_nodes: Callable[..., WebNodes],
    tmp_path: Path,
) -> None:
    stack = await asyncio.to_thread(
        Stack, broker_port=broker.port, redis_url=own_redis.url, workdir=tmp_path / "stack"
    )
    client = BoardClient("wall", "wall", view=VIEW)
    try:
        load = workload(stack.settings, seed=31, days=1.6, items_per_day=3500)
        stack.env.update(exact_env(load.end))
        catalog = Catalog.from_file(stack.settings.units_file)
        await asyncio.to_thread(produce, stack, load.messages)
        node = make_web_nodes(own_redis.url, broker=stack.settings.broker_bootstrap).start("web")
        await client.connect(node)
        worker = stack.start_worker()

        await until(lambda: board_units(own_redis.url) > 0, timeout=60, what="the worker to publish")
        own_redis.kill()
        partial = await asyncio.to_thread(counters, stack)
        assert counter_problems(load.truth, partial), "Redis died after the worker had finished"
        await until(
            lambda: client.seen(lambda h: h["redis"] == "down" and h["stale"] is True),
            timeout=10,
            what="a heartbeat marking the board stale",
        )
        first_epoch = client.epoch

        # Without Redis the worker still processes everything, exactly.
        problems: list[str] = []

        def exact() -> bool:
            nonlocal problems
            problems = counter_problems(load.truth, counters(stack))
            return not problems

        try:
            await asyncio.to_thread(
                wait_for,
                exact,
                timeout=120,
                interval=2.0,
                what="counters to equal the oracle while Redis is down",
            )
        except AssertionError:
            pytest.fail(
                f"{len(problems)} counter cells differ, e.g.:\n"
                + "\n".join(problems[:10])
                + "\n--- worker log ---\n"
                + stack.log(worker, lines=80)
            )
        assert not services.port_open(own_redis.port), "Redis came back by itself?"
        assert client.connected and client.heartbeats[-1]["stale"] is True

        beats = len(client.heartbeats)
        own_redis.restart()
        await until(lambda: len(client.snapshots) > 1, timeout=20, what="a snapshot of the new epoch")
        assert client.snapshots[-1]["reason"] == "epoch changed"
        assert client.epoch != first_epoch
        await until(
            lambda: any(h["redis"] == "up" and h["stale"] is False for h in client.heartbeats[beats:]),
            timeout=20,
            what="a heartbeat saying the board is fresh again",
        )

        diff = await asyncio.to_thread(
            settle,
            lambda: board_differences(stack, own_redis.url, catalog, load),
            timeout=30,
            stable_for=30,
            interval=1.0,
        )
        if diff:
            pytest.fail(
                f"{len(diff)} board differences, e.g.:\n"
                + "\n".join(diff[:20])
                + "\n--- worker log ---\n"
                + stack.log(worker, lines=40)
            )

        # The connected client shows exactly the board (snapshot of the new epoch + deltas).
        board = await asyncio.to_thread(Board.read, own_redis.url)
        await until(lambda: client.position == board.feed_last, timeout=10, what="the client to catch up")
        assert client.problems == []
        assert client.state_problems(board) == []
        assert board.queues.get(VIEW), f"{VIEW} has no open items: the queue check tested nothing"
        assert alert_problems(load, await asyncio.to_thread(overdue_alerts, stack)) == []
        assert worker.running
    finally:
        await client.close()
        stack.stop()
