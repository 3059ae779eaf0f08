"""The board's Redis layout: publish/snapshot atomicity, epoch, feed trimming and reads."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from runtime.board import (
    ALERTS_KEY,
    EPOCH_KEY,
    FEED_KEY,
    ORIGIN_ID,
    UNITS_KEY,
    WORKERS_KEY,
    BoardStore,
    Change,
    queue_key,
    stream_id_key,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[BoardStore]:
    board = BoardStore.from_url(redis_url, feed_maxlen=100)
    yield board
    await board.close()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def unit(code: str, n: int = 0) -> Change:
    return Change("unit", code, code, orjson.dumps({"code": code, "n": n}))


async def test_publish_writes_each_hash_and_one_feed_entry_per_change(
    store: BoardStore, raw: aioredis.Redis
) -> None:
    ids = await store.publish(
        [
            unit("P-A"),
            Change(
                "alert",
                "item_overdue/PA-1",
                "P-A",
                b'{"fingerprint":"item_overdue/PA-1","unit":"P-A"}',
            ),
            Change("queue", "PA-1", "P-A", b'{"id":"PA-1","title":"<b>x</b> \\"q\\""}'),
            Change("queue", "PA-2", "P-A", b'{"id":"PA-2"}'),
            Change("queue", "PA-2", "P-A", None),
        ]
    )

    assert len(ids) == 5
    assert [stream_id_key(i) for i in ids] == sorted(stream_id_key(i) for i in ids)
    assert await raw.hgetall(UNITS_KEY) == {b"P-A": b'{"code":"P-A","n":0}'}
    assert await raw.hgetall(ALERTS_KEY) == {
        b"item_overdue/PA-1": b'{"fingerprint":"item_overdue/PA-1","unit":"P-A"}'
    }
    assert await raw.hgetall(queue_key("P-A")) == {b"PA-1": b'{"id":"PA-1","title":"<b>x</b> \\"q\\""}'}
    epoch_raw: Any = await raw.get(EPOCH_KEY)
    epoch = epoch_raw.decode()
    entries: Any = await raw.xrange(FEED_KEY)
    assert [entry_id.decode() for entry_id, _ in entries] == ids
    fields = [{k.decode(): v.decode() for k, v in f.items()} for _, f in entries]
    assert fields[2] == {
        "k": "queue",
        "u": "P-A",
        "e": epoch,
        "b": '{"kind":"queue","op":"upsert","key":"PA-1","unit":"P-A",'
        '"data":{"id":"PA-1","title":"<b>x</b> \\"q\\""}}',
    }
    assert fields[4]["b"] == '{"kind":"queue","op":"remove","key":"PA-2","unit":"P-A","data":null}'
    assert orjson.loads(fields[1]["b"]) == {
        "kind": "alert",
        "op": "upsert",
        "key": "item_overdue/PA-1",
        "unit": "P-A",
        "data": {"fingerprint": "item_overdue/PA-1", "unit": "P-A"},
    }


async def test_publish_without_ids_writes_the_same_hashes_and_feed(
    store: BoardStore, raw: aioredis.Redis
) -> None:
    changes = [
        unit("P-A", 1),
        Change("queue", "PA-1", "P-A", b'{"id":"PA-1"}'),
        Change("queue", "PA-1", "P-A", None),
    ]

    assert await store.publish(changes, checked=True, ids=False) == []

    assert await raw.hgetall(UNITS_KEY) == {b"P-A": b'{"code":"P-A","n":1}'}
    assert await raw.hgetall(queue_key("P-A")) == {}
    entries: Any = await raw.xrange(FEED_KEY)
    assert [orjson.loads(fields[b"b"])["op"] for _, fields in entries] == ["upsert", "upsert", "remove"]


async def test_keys_with_quotes_are_json_escaped_in_the_delta_body(store: BoardStore) -> None:
    await store.publish([Change("alert", 'odd "fp" \\ é', "P-A", b'{"unit":"P-A"}')])

    (entry,) = await store.read_after(ORIGIN_ID, count=10)
    assert orjson.loads(entry.body)["key"] == 'odd "fp" \\ é'


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (Change("bogus", "k", "U", b"{}"), "change kind 'bogus'"),  # type: ignore[arg-type]
        (Change("unit", "", "U", b"{}"), "change key ''"),
        (Change("unit", "K", "U\n", b"{}"), "change unit 'U\\n'"),
        (Change("unit", "K", "U", b"[1]"), "must be JSON object bytes"),
    ],
)
async def test_publish_rejects_malformed_changes(store: BoardStore, change: Change, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        await store.publish([change])


async def test_snapshot_and_feed_position_agree_under_concurrent_publishing(
    store: BoardStore,
) -> None:
    """Snapshot + the deltas after its seq always rebuild exactly the final state."""
    stop = asyncio.Event()

    async def writer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            await store.publish([unit(f"U{n % 7}", n), unit(f"U{(n + 3) % 7}", n)])

    task = asyncio.create_task(writer())
    snapshots = []
    for _ in range(20):
        await asyncio.sleep(0.005)
        snapshots.append(await store.snapshot())
    stop.set()
    await task
    final = {orjson.loads(v)["code"]: orjson.loads(v) for v in (await store.snapshot()).units}

    for snapshot in snapshots:
        state = {orjson.loads(v)["code"]: orjson.loads(v) for v in snapshot.units}
        for entry in await store.read_after(snapshot.seq, count=100_000):
            delta = orjson.loads(entry.body)
            state[delta["key"]] = delta["data"]
        assert state == final


async def test_snapshot_filters_by_unit_and_reads_one_queue(store: BoardStore) -> None:
    await store.publish(
        [
            unit("P-A"),
            unit("P-B"),
            Change("alert", "a1", "P-A", b'{"fingerprint":"a1","unit":"P-A"}'),
            Change("alert", "b1", "P-B", b'{"fingerprint":"b1","unit":"P-B"}'),
            Change("queue", "PA-1", "P-A", b'{"id":"PA-1"}'),
            Change("queue", "PB-1", "P-B", b'{"id":"PB-1"}'),
        ]
    )

    scoped = await store.snapshot(queue_unit="P-A", unit_filter="P-A")
    everything = await store.snapshot(queue_unit=None)
    missing = await store.snapshot(unit_filter="P-NONE", queue_unit="P-NONE")

    assert scoped.units == (b'{"code":"P-A","n":0}',)
    assert scoped.alerts == (b'{"fingerprint":"a1","unit":"P-A"}',)
    assert scoped.queue == (b'{"id":"PA-1"}',)
    assert len(everything.units) == 2 and len(everything.alerts) == 2 and everything.queue == ()
    assert (missing.units, missing.alerts, missing.queue) == ((), (), ())
    assert scoped.seq == everything.seq == await store.last_id()


async def test_ensure_epoch_creates_once_and_publish_recreates_after_a_flush(
    store: BoardStore, raw: aioredis.Redis
) -> None:
    first, created = await store.ensure_epoch()
    again, created_again = await store.ensure_epoch()
    assert (created, created_again, again) == (True, False, first)

    await raw.flushall()
    assert await store.read_epoch() is None
    await store.publish([unit("P-A")])
    after = await store.read_epoch()

    assert after is not None and after != first
    (entry,) = await store.read_after(ORIGIN_ID, count=10)
    assert entry.epoch == after


async def test_snapshot_of_an_empty_redis_creates_the_epoch_at_the_origin(
    store: BoardStore,
) -> None:
    snapshot = await store.snapshot()

    assert snapshot.seq == ORIGIN_ID
    assert snapshot.epoch == await store.read_epoch()
    assert (snapshot.units, snapshot.alerts, snapshot.queue) == ((), (), ())


async def test_feed_is_trimmed_near_maxlen_and_bounds_tell_it(store: BoardStore) -> None:
    assert (await store.bounds()).untrimmed
    ids = []
    for n in range(30):
        ids += await store.publish([unit(f"U{i}", n) for i in range(20)])

    bounds = await store.bounds()
    length = len(await store.read_after(ORIGIN_ID, count=10_000))

    assert 100 <= length < 600
    assert bounds.length == length
    assert bounds.added == 600
    assert not bounds.untrimmed
    assert bounds.first == await store.first_id() == ids[-length]
    assert bounds.last == ids[-1]


async def test_range_after_reads_pages_with_epoch_and_bounds(store: BoardStore) -> None:
    ids = await store.publish([unit(f"U{i}") for i in range(5)])

    page = await store.range_after(ids[1], 2)
    rest = await store.range_after(page.entries[-1].id, 10)
    empty = await store.range_after(ids[-1], 10)

    assert [e.id for e in page.entries] == ids[2:4]
    assert [e.id for e in rest.entries] == ids[4:]
    assert empty.entries == ()
    assert page.epoch == await store.read_epoch()
    assert page.bounds.first == ids[0] and page.bounds.last == ids[-1]


async def test_blocking_read_returns_as_soon_as_an_entry_arrives(store: BoardStore) -> None:
    start = await store.last_id()
    reader = asyncio.create_task(store.read_after(start, count=10, block_ms=5000))
    await asyncio.sleep(0.1)
    (entry_id,) = await store.publish([unit("P-A")])

    entries = await asyncio.wait_for(reader, 1.0)

    assert [e.id for e in entries] == [entry_id]
    assert await store.read_after(entry_id, count=10, block_ms=50) == []


async def test_worker_beats_are_kept_per_worker(store: BoardStore, raw: aioredis.Redis) -> None:
    await store.beat("w1", now=100.0, info={"clock": 5.0, "partitions": [0, 1]})
    await store.beat("w2", now=101.5, info={"clock": 6.0, "partitions": [2]})
    await store.beat("w1", now=102.0, info={"clock": 7.0, "partitions": [0, 1]})
    await raw.hset(WORKERS_KEY, "junk", b"not json")

    assert await store.workers() == {
        "w1": {"clock": 7.0, "partitions": [0, 1], "beat": 102.0},
        "w2": {"clock": 6.0, "partitions": [2], "beat": 101.5},
    }
    await store.forget_worker("w2")
    assert set(await store.workers()) == {"w1"}


async def test_alert_lookup(store: BoardStore) -> None:
    await store.publish([Change("alert", "fp", "P-A", b'{"fingerprint":"fp","unit":"P-A"}')])

    assert await store.alert("fp") == {"fingerprint": "fp", "unit": "P-A"}
    assert await store.alert("nope") is None


@pytest.mark.parametrize(
    ("text", "key"),
    [("0-0", (0, 0)), ("1700000000000-12", (1700000000000, 12))],
)
def test_stream_id_key(text: str, key: tuple[int, int]) -> None:
    assert stream_id_key(text) == key


@pytest.mark.parametrize("text", ["", "12", "a-1", "1-2-3", "-1-0"])
def test_stream_id_key_rejects_other_text(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Redis stream id"):
        stream_id_key(text)
