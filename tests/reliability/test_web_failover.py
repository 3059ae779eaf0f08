"""A web node SIGKILLed under its clients: they reconnect to another node with
``resume`` and get every delta published meanwhile (``recovered: true``) — zero loss,
zero duplicates, and a state equal to Redis."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest
import redis

from runtime.board import FEED_KEY, BoardStore, Change, stream_id_key
from tests.support.board_client import BoardClient, WebNodes
from tests.support.harness import Board
from tests.support.webtools import alert_json, queue_json, unit_json

pytestmark = pytest.mark.integration

UNITS = ("P-SAI-GON", "P-BEN-THANH", "P-TAN-DINH", "P-DA-KAO", "SO-Y-TE")


def random_change(rng: random.Random, number: int) -> Change:
    """A unit, alert or queue change (one in five a removal) of one of :data:`UNITS`."""
    unit = rng.choice(UNITS)
    kind = rng.choice(("unit", "alert", "queue", "queue"))
    if kind == "unit":
        return Change("unit", unit, unit, _json(unit_json(unit, open_=number)))
    key = f"{kind}-{unit}-{rng.randrange(12)}"
    if rng.random() < 0.2:
        return Change(kind, key, unit, None)  # type: ignore[arg-type]
    value = alert_json(key, unit, at=number) if kind == "alert" else queue_json(key, unit, due=number)
    return Change(kind, key, unit, _json(value))  # type: ignore[arg-type]


def _json(value: dict[str, object]) -> bytes:
    import orjson

    return orjson.dumps(value)


async def publish(
    store: BoardStore, rng: random.Random, *, batches: int, stop: asyncio.Event | None = None
) -> int:
    """Publish small batches of changes, a few milliseconds apart; return how many."""
    count = 0
    for _ in range(batches):
        if stop is not None and stop.is_set():
            break
        changes = [random_change(rng, count + i) for i in range(rng.randint(1, 8))]
        await store.publish(changes)
        count += len(changes)
        await asyncio.sleep(0.005)
    return count


def feed_after(url: str, after: str, accepts: Callable[[str, str], bool]) -> list[str]:
    """Ids of the feed entries after ``after`` a client with this filter receives."""
    client: Any = redis.Redis.from_url(url)
    try:
        entries = client.xrange(FEED_KEY, f"({after}", "+")
    finally:
        client.close()
    return [eid.decode() for eid, fields in entries if accepts(fields[b"k"].decode(), fields[b"u"].decode())]


async def test_clients_of_a_killed_web_node_resume_on_another_without_loss(
    redis_url: str, make_web_nodes: Callable[..., WebNodes]
) -> None:
    nodes = make_web_nodes(redis_url)
    node_a, node_b = nodes.start("web-a"), nodes.start("web-b")
    store = BoardStore.from_url(redis_url)
    rng = random.Random(7)
    try:
        await publish(store, rng, batches=40)  # a board before anyone connects
        clients = [
            BoardClient("wall", "wall", view="P-SAI-GON"),
            BoardClient("leader", "leader"),
            BoardClient("unit", "unit:P-BEN-THANH", view="P-BEN-THANH"),
        ]
        for client in clients:
            first = await client.connect(node_a)
            assert first["type"] == "snapshot", first
        starts = {client.name: client.position for client in clients}

        stop = asyncio.Event()
        publisher = asyncio.create_task(publish(store, rng, batches=100_000, stop=stop))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(node_a.service.kill)
        for client in clients:
            await client.wait_closed()
        await asyncio.sleep(0.5)  # deltas keep coming while the clients are away
        for client in clients:
            first = await client.connect(node_b)
            assert first["type"] == "resume" and first["recovered"] is True, first
        await asyncio.sleep(1.0)
        stop.set()
        published = await publisher
        last = (await store.bounds()).last

        async def caught_up() -> None:
            while any(stream_id_key(c.position or "0-0") < stream_id_key(last) for c in clients):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(caught_up(), 10)  # heartbeats (1 s) advance idle positions
        board = await asyncio.to_thread(Board.read, redis_url)
    finally:
        await store.close()
    for client in clients:
        await client.close()

    assert published > 300
    for client in clients:
        start = starts[client.name]
        assert start is not None
        expected = await asyncio.to_thread(feed_after, redis_url, start, client.accepts)
        assert client.problems == [], client.problems
        assert [c.node for c in client.connections] == ["web-a", "web-b"]
        assert client.connections[1].replayed > 0, f"{client.name}: nothing was missed, nothing tested"
        assert client.deltas == expected, (
            f"{client.name}: {len(client.deltas)} deltas, expected {len(expected)}; "
            f"missing {sorted(set(expected) - set(client.deltas))[:5]}, "
            f"unexpected {sorted(set(client.deltas) - set(expected))[:5]}"
        )
        assert client.state_problems(board) == []
