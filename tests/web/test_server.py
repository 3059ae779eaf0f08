"""The web node end to end: real Redis, the server in-process, real websocket clients."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from domain.errors import ConfigError
from runtime import services
from runtime.board import BoardStore, Change, stream_id_key
from runtime.settings import load_settings
from runtime.topics import Topics, create_topics
from tests.support.webtools import (
    UNIT_A,
    UNIT_B,
    WebNode,
    alert_change,
    beat_forever,
    open_client,
    queue_change,
    quiet,
    recv,
    recv_data,
    recv_until,
    running_node,
    token,
    unit_change,
    web_environ,
)
from web import protocol
from web.auth import mint_token

pytestmark = pytest.mark.integration


def http_get(url: str, *, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


async def get(url: str) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(http_get, url)


async def closed_with(ws: ClientConnection, timeout: float = 5.0) -> tuple[int | None, str | None]:
    """Read until the server closes; return (code, reason)."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason


def state_of(frames: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Apply snapshot/delta frames like a client does: kind -> key -> value."""
    state: dict[str, dict[str, Any]] = {"unit": {}, "alert": {}, "queue": {}}
    keys = {"units": ("unit", "code"), "alerts": ("alert", "fingerprint"), "queue": ("queue", "id")}
    for frame in frames:
        if frame["type"] == "snapshot":
            for field, (kind, key) in keys.items():
                state[kind] = {value[key]: value for value in frame[field]}
        elif frame["type"] == "delta":
            if frame["op"] == "upsert":
                state[frame["kind"]][frame["key"]] = frame["data"]
            else:
                state[frame["kind"]].pop(frame["key"], None)
    return state


# -- auth ------------------------------------------------------------------------------


async def test_valid_token_gets_a_snapshot_then_live_deltas(node: WebNode, store: BoardStore) -> None:
    await store.publish([unit_change(UNIT_A), alert_change("fp-a", UNIT_A)])
    ws = await open_client(node, "wall")

    snapshot = await recv(ws)
    (entry_id,) = await store.publish([unit_change(UNIT_B, overdue=3)])
    (delta,) = await recv_data(ws, 1)

    assert snapshot["type"] == "snapshot"
    assert (snapshot["recovered"], snapshot["scope"], snapshot["view"], snapshot["reason"]) == (
        False,
        "wall",
        None,
        "initial",
    )
    assert snapshot["epoch"] == await store.read_epoch()
    assert [u["code"] for u in snapshot["units"]] == [UNIT_A]
    assert [a["fingerprint"] for a in snapshot["alerts"]] == ["fp-a"]
    assert snapshot["queue"] == []
    assert snapshot["heartbeat"] == 1.0
    assert abs(snapshot["clock"]["now"] - time.time()) < 5 and snapshot["clock"]["speed"] == 1.0
    assert delta["seq"] == entry_id
    assert (delta["type"], delta["kind"], delta["op"], delta["key"], delta["unit"]) == (
        "delta",
        "unit",
        "upsert",
        UNIT_B,
        UNIT_B,
    )
    assert delta["data"]["gauges"]["overdue"] == 3
    await ws.close()


async def deltas_of(ws: Any, count: int) -> tuple[list[dict[str, Any]], list[str]]:
    """The next ``count`` deltas, unpacking batch frames; and the type of each frame."""
    deltas: list[dict[str, Any]] = []
    types: list[str] = []
    while len(deltas) < count:
        frame = await recv(ws)
        if frame["type"] == "heartbeat":
            continue
        types.append(frame["type"])
        deltas.extend(frame["frames"] if frame["type"] == "batch" else [frame])
    return deltas, types


@pytest.mark.parametrize("batch", [True, False], ids=["batch", "plain"])
async def test_a_burst_of_deltas_arrives_in_order_batched_only_for_clients_that_asked(
    node: WebNode, store: BoardStore, batch: bool
) -> None:
    ws = await open_client(node, "wall", batch=batch)
    await recv_until(ws, lambda f: f["type"] == "snapshot")
    # One publish call: the hub reads the whole burst at once and queues it together.
    ids = await store.publish([alert_change(f"fp-{n}", UNIT_A) for n in range(300)])

    deltas, types = await deltas_of(ws, 300)

    assert [d["seq"] for d in deltas] == ids
    assert [d["key"] for d in deltas] == [f"fp-{n}" for n in range(300)]
    assert all(d["type"] == "delta" for d in deltas)
    if batch:
        assert "batch" in types and len(types) < 300
    else:
        assert set(types) == {"delta"} and len(types) == 300
    assert await quiet(ws, 0.3) == []
    await ws.close()


@pytest.mark.parametrize(
    ("make_token", "kind"),
    [
        (
            lambda: mint_token(
                "some-other-secret-entirely",
                scope="wall",
                ttl_seconds=60,
                subject="x",
                now=time.time(),
            ),
            "signature",
        ),
        (lambda: token("wall", ttl=60, now=time.time() - 120), "expired"),
        (lambda: token("leader", ttl=1, now=time.time() - 1.5), "expired"),
        (lambda: "garbage", "invalid"),
    ],
)
async def test_bad_or_expired_token_closes_4401(node: WebNode, make_token: Any, kind: str) -> None:
    ws = await open_client(node, make_token(), raw_token=True)

    assert await closed_with(ws) == (4401, f"unauthorized: {kind}")
    _, _, body = await get(f"{node.base}/metrics")
    assert f'govpulse_web_auth_failures_total{{reason="{kind}"}} 1.0' in body.decode()


@pytest.mark.parametrize("first", ['{"type":"ping"}', "not json", '{"type":"ack","alert":"fp"}'])
async def test_first_frame_must_be_auth(node: WebNode, first: str) -> None:
    async with connect(node.ws_url) as ws:
        await ws.send(first)
        assert await closed_with(ws) == (4401, "unauthorized: frame")


async def test_no_auth_frame_within_the_timeout_closes_4401(
    node: WebNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(protocol, "AUTH_TIMEOUT", 0.3)
    async with connect(node.ws_url) as ws:
        assert await closed_with(ws) == (4401, "unauthorized: timeout")


# -- scopes ----------------------------------------------------------------------------


async def test_unit_scope_asking_for_another_units_queue_gets_forbidden_and_nothing_else(
    node: WebNode, store: BoardStore
) -> None:
    await store.publish([queue_change("PB-1", UNIT_B), unit_change(UNIT_B)])

    ws = await open_client(node, f"unit:{UNIT_A}", view=UNIT_B)
    error = await recv(ws)

    assert error == {
        "type": "error",
        "code": "forbidden",
        "message": f"scope unit:{UNIT_A} cannot view unit {UNIT_B}",
    }
    assert await closed_with(ws) == (4403, "forbidden")


async def test_view_command_outside_the_scope_is_refused_and_leaks_nothing(
    node: WebNode, store: BoardStore
) -> None:
    ws = await open_client(node, f"unit:{UNIT_A}")
    snapshot = await recv(ws)
    await ws.send('{"type":"view","unit":"P-BEN-THANH"}')
    error = await recv_data(ws, 1)
    await store.publish([queue_change("PB-1", UNIT_B), unit_change(UNIT_B), alert_change("fb", UNIT_B)])

    assert snapshot["view"] == UNIT_A
    assert error == [
        {
            "type": "error",
            "code": "forbidden",
            "message": f"scope unit:{UNIT_A} cannot view another unit",
        }
    ]
    assert await quiet(ws, 1.0) == []
    await ws.close()


async def test_unit_scope_receives_exactly_its_own_unit_alerts_and_queue(
    node: WebNode, store: BoardStore
) -> None:
    await store.publish([unit_change(UNIT_A), unit_change(UNIT_B), alert_change("fb-old", UNIT_B)])
    unit_ws = await open_client(node, f"unit:{UNIT_A}")
    wall_ws = await open_client(node, "wall")
    viewer_ws = await open_client(node, "leader", view=UNIT_B)
    unit_snapshot, wall_snapshot, viewer_snapshot = (
        await recv(unit_ws),
        await recv(wall_ws),
        await recv(viewer_ws),
    )

    changes = [
        unit_change(UNIT_A, overdue=1),
        unit_change(UNIT_B, overdue=2),
        unit_change("HCM", kind="city"),
        alert_change("fa", UNIT_A),
        alert_change("fb", UNIT_B),
        queue_change("PA-1", UNIT_A),
        queue_change("PB-1", UNIT_B),
        Change("queue", "PA-1", UNIT_A, None),
        Change("alert", "fb", UNIT_B, None),
    ]
    ids = await store.publish(changes)

    def expect(indexes: list[int]) -> list[tuple[str, str, str, str]]:
        return [
            (ids[i], changes[i].kind, changes[i].key, "upsert" if changes[i].data else "remove")
            for i in indexes
        ]

    def seen(frames: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
        return [(f["seq"], f["kind"], f["key"], f["op"]) for f in frames]

    assert [u["code"] for u in unit_snapshot["units"]] == [UNIT_A]
    assert unit_snapshot["alerts"] == [] and unit_snapshot["view"] == UNIT_A
    assert seen(await recv_data(unit_ws, 4)) == expect([0, 3, 5, 7])
    assert seen(await recv_data(wall_ws, 6)) == expect([0, 1, 2, 3, 4, 8])
    assert seen(await recv_data(viewer_ws, 7)) == expect([0, 1, 2, 3, 4, 6, 8])
    for ws in (unit_ws, wall_ws, viewer_ws):
        assert await quiet(ws, 0.5) == []
        await ws.close()
    assert [a["fingerprint"] for a in wall_snapshot["alerts"]] == ["fb-old"]
    assert viewer_snapshot["view"] == UNIT_B


async def test_view_command_switches_the_queue_with_a_fresh_snapshot(
    node: WebNode, store: BoardStore
) -> None:
    await store.publish([queue_change("PA-1", UNIT_A), queue_change("PB-1", UNIT_B)])
    ws = await open_client(node, "wall")
    first = await recv(ws)

    await ws.send(orjson.dumps({"type": "view", "unit": UNIT_B}).decode())
    (second,) = await recv_data(ws, 1)
    (queued,) = await store.publish([queue_change("PB-2", UNIT_B)])
    await store.publish([queue_change("PA-2", UNIT_A)])
    (delta,) = await recv_data(ws, 1)

    assert first["queue"] == []
    assert (second["type"], second["view"], second["reason"]) == ("snapshot", UNIT_B, "view")
    assert [q["id"] for q in second["queue"]] == ["PB-1"]
    assert (delta["seq"], delta["key"]) == (queued, "PB-2")
    assert await quiet(ws, 0.5) == []
    await ws.close()


# -- resume ----------------------------------------------------------------------------


async def test_reconnect_with_resume_replays_every_delta_missed_while_away(
    node: WebNode, store: BoardStore
) -> None:
    await store.publish([unit_change(UNIT_A)])
    ws = await open_client(node, f"unit:{UNIT_A}")
    snapshot = await recv(ws)
    await ws.close()

    changes = []
    for n in range(60):
        changes += [
            unit_change(UNIT_A, overdue=n),
            queue_change(f"PA-{n}", UNIT_A),
            unit_change(UNIT_B, overdue=n),
        ]
        if n % 10 == 0:
            changes.append(alert_change(f"fa-{n}", UNIT_A))
    ids = await store.publish(changes)
    mine = [(i, c) for i, c in zip(ids, changes, strict=True) if c.unit == UNIT_A]

    ws = await open_client(
        node, f"unit:{UNIT_A}", resume={"epoch": snapshot["epoch"], "seq": snapshot["seq"]}
    )
    header = await recv(ws)
    replayed = await recv_data(ws, len(mine))
    (live_id,) = await store.publish([alert_change("fa-live", UNIT_A)])
    (live,) = await recv_data(ws, 1)

    assert header == {
        "type": "resume",
        "recovered": True,
        "epoch": snapshot["epoch"],
        "after": snapshot["seq"],
        "seq": ids[-1],
        "count": len(mine),
        "view": UNIT_A,
        "scope": f"unit:{UNIT_A}",
        "clock": header["clock"],
        "heartbeat": 1.0,
    }
    assert [(f["seq"], f["key"], f["recovered"]) for f in replayed] == [(i, c.key, True) for i, c in mine]
    assert (live["seq"], live["key"], "recovered" in live) == (live_id, "fa-live", False)
    assert await quiet(ws, 0.5) == []
    await ws.close()


async def test_resume_after_heartbeat_position_replays_only_newer_deltas(
    node: WebNode, store: BoardStore
) -> None:
    """A unit client with no own deltas still advances its resume position via heartbeats."""
    ws = await open_client(node, f"unit:{UNIT_A}")
    snapshot = await recv(ws)
    others = await store.publish([unit_change(UNIT_B, overdue=n) for n in range(5)])
    beat, _ = await recv_until(ws, lambda f: f["type"] == "heartbeat" and f["seq"] == others[-1], timeout=4)
    await ws.close()
    (mine,) = await store.publish([unit_change(UNIT_A)])

    ws = await open_client(node, f"unit:{UNIT_A}", resume={"epoch": beat["epoch"], "seq": beat["seq"]})
    header, (delta,) = await recv(ws), await recv_data(ws, 1)

    assert beat["epoch"] == snapshot["epoch"]
    assert (header["type"], header["count"], delta["seq"]) == ("resume", 1, mine)
    await ws.close()


async def test_resume_from_a_trimmed_position_gets_a_fresh_snapshot(redis_url: str) -> None:
    async with running_node(web_environ(redis_url, GOVPULSE_FEED_MAXLEN="100")) as node:
        store = BoardStore.from_url(redis_url, feed_maxlen=100)
        try:
            await store.publish([unit_change(UNIT_A)])
            ws = await open_client(node, "wall")
            old = await recv(ws)
            await ws.close()
            for n in range(10):
                await store.publish([unit_change(UNIT_B, overdue=n * 100 + i) for i in range(100)])

            ws = await open_client(node, "wall", resume={"epoch": old["epoch"], "seq": old["seq"]})
            fresh = await recv(ws)

            assert (fresh["type"], fresh["recovered"], fresh["reason"]) == (
                "snapshot",
                False,
                "resume",
            )
            assert fresh["epoch"] == old["epoch"]
            assert fresh["seq"] == await store.last_id()
            assert {u["code"]: u["gauges"]["overdue"] for u in fresh["units"]} == {
                UNIT_A: 0,
                UNIT_B: 999,
            }
            await ws.close()
        finally:
            await store.close()


async def test_resume_with_an_unknown_epoch_gets_a_fresh_snapshot(node: WebNode, store: BoardStore) -> None:
    await store.publish([unit_change(UNIT_A)])
    ws = await open_client(node, "wall", resume={"epoch": "0123abcd", "seq": "1-0"})

    fresh = await recv(ws)

    assert (fresh["type"], fresh["recovered"], len(fresh["units"])) == ("snapshot", False, 1)
    await ws.close()


async def test_epoch_change_sends_every_client_a_fresh_snapshot(
    node: WebNode, store: BoardStore, redis_url: str
) -> None:
    await store.publish([unit_change(UNIT_A), alert_change("fa", UNIT_A)])
    ws = await open_client(node, "wall")
    old = await recv(ws)

    raw = aioredis.Redis.from_url(redis_url)
    await raw.flushall()
    await raw.aclose()
    new_epoch, created = await store.ensure_epoch()
    await store.publish([unit_change(UNIT_B)])
    fresh, _ = await recv_until(ws, lambda f: f["type"] == "snapshot", timeout=5)
    later = await store.publish([unit_change(UNIT_B, overdue=7)])
    (delta,) = await recv_data(ws, 1)

    assert created and new_epoch != old["epoch"]
    assert (fresh["epoch"], fresh["recovered"], fresh["reason"]) == (
        new_epoch,
        False,
        "epoch changed",
    )
    assert [u["code"] for u in fresh["units"]] == [UNIT_B] and fresh["alerts"] == []
    assert delta["seq"] == later[0]
    await ws.close()


# -- slow clients ----------------------------------------------------------------------

# 20,000 characters that deflate cannot shrink much: the backlog must fill real buffers.
BIG = base64.b64encode(random.Random(7).randbytes(15_000)).decode()


async def flood(store: BoardStore, count: int) -> list[str]:
    ids: list[str] = []
    for n in range(count):
        ids += await store.publish([unit_change(UNIT_A, overdue=n, name_vi=BIG)])
        if n % 20 == 0:
            await asyncio.sleep(0)
    return ids


async def test_slow_client_gets_a_fresh_snapshot_while_others_get_every_delta_promptly(
    redis_url: str,
) -> None:
    environ = web_environ(redis_url, GOVPULSE_WS_QUEUE="50", GOVPULSE_WS_HEARTBEAT="30s")
    async with running_node(environ) as node:
        store = BoardStore.from_url(redis_url)
        try:
            slow = await open_client(node, "wall", max_queue=1)
            fast = await open_client(node, "wall")
            assert (await recv(fast))["type"] == "snapshot"
            started = time.monotonic()
            reading = asyncio.create_task(recv_data(fast, 400, timeout=20))
            ids = await flood(store, 400)
            frames = await reading
            fast_seconds = time.monotonic() - started

            assert [f["seq"] for f in frames] == ids
            assert fast_seconds < 10

            # The slow client now reads everything the server kept for it.
            slow_frames: list[dict[str, Any]] = []
            while True:
                try:
                    slow_frames.append(await recv(slow, 1.0))
                except TimeoutError:
                    break
            snapshots = [f for f in slow_frames if f["type"] == "snapshot"]
            truth = state_of([{"type": "snapshot", **_as_frame(await store.snapshot())}])

            assert len(slow_frames) < len(ids)
            assert [s["reason"] for s in snapshots][:2] == ["initial", "slow client"]
            assert state_of(slow_frames) == truth
            # After its last snapshot the slow client got every later delta, in order.
            last = snapshots[-1]
            later = [f["seq"] for f in slow_frames[slow_frames.index(last) + 1 :] if f["type"] == "delta"]
            assert later == [i for i in ids if stream_id_key(i) > stream_id_key(last["seq"])]
            _, _, body = await get(f"{node.base}/metrics")
            assert 'govpulse_web_slow_client_drops_total{policy="snapshot"}' in body.decode()
            await slow.close()
            await fast.close()
        finally:
            await store.close()


def _as_frame(snapshot: Any) -> dict[str, Any]:
    return {
        "units": [orjson.loads(v) for v in snapshot.units],
        "alerts": [orjson.loads(v) for v in snapshot.alerts],
        "queue": [orjson.loads(v) for v in snapshot.queue],
    }


async def test_slow_client_is_closed_1008_under_the_close_policy(redis_url: str) -> None:
    environ = web_environ(redis_url, GOVPULSE_WS_QUEUE="50", GOVPULSE_WS_SLOW_POLICY="close")
    async with running_node(environ) as node:
        store = BoardStore.from_url(redis_url)
        try:
            slow = await open_client(node, "wall", max_queue=1)
            fast = await open_client(node, "wall")
            await recv(fast)
            # Enough to pass the kernel's socket buffers (autotuned to a few MB) even deflated.
            reading = asyncio.create_task(recv_data(fast, 600, timeout=20))
            ids = await flood(store, 600)
            frames = await reading

            assert [f["seq"] for f in frames] == ids
            assert await closed_with(slow, timeout=10) == (
                1008,
                "slow client: more than 50 frames queued",
            )
            await fast.close()
        finally:
            await store.close()


# -- fan-out groups ----------------------------------------------------------------------


async def metric(node: WebNode, name: str) -> float:
    """A sample of the node's /metrics (0 when absent)."""
    _, _, body = await get(f"{node.base}/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def members(node: WebNode, count: int, timeout: float = 5.0) -> None:
    """Wait until ``count`` connections write with their group."""
    deadline = time.monotonic() + timeout
    while await metric(node, "govpulse_web_group_members") != count:
        assert time.monotonic() < deadline, f"not {count} group members within {timeout}s"
        await asyncio.sleep(0.05)


async def test_clients_that_see_the_same_deltas_share_a_group_and_each_sees_only_its_scope(
    node: WebNode, store: BoardStore
) -> None:
    clients = {
        "wall": await open_client(node, "wall", batch=True),
        "leader": await open_client(node, "leader", batch=True),
        "unit_a": await open_client(node, f"unit:{UNIT_A}", batch=True),
        "unit_a2": await open_client(node, f"unit:{UNIT_A}", batch=True),
        "unit_b": await open_client(node, f"unit:{UNIT_B}", batch=True),
    }
    for ws in clients.values():
        assert (await recv(ws))["type"] == "snapshot"
    await members(node, 5)
    assert await metric(node, "govpulse_web_groups") == 3  # wall+leader, unit A, unit B

    changes = [
        unit_change(UNIT_A, overdue=1),
        alert_change("fb", UNIT_B),
        queue_change("PA-1", UNIT_A),
        queue_change("PB-1", UNIT_B),
        unit_change(UNIT_B, overdue=2),
    ]
    ids = await store.publish(changes)

    async def seqs(ws: ClientConnection, count: int) -> list[str]:
        out: list[str] = []
        while len(out) < count:
            frame = await recv(ws)
            inner = frame["frames"] if frame["type"] == "batch" else [frame]
            out += [f["seq"] for f in inner if f["type"] == "delta"]
        return out

    assert await seqs(clients["wall"], 3) == [ids[0], ids[1], ids[4]]
    assert await seqs(clients["leader"], 3) == [ids[0], ids[1], ids[4]]
    assert await seqs(clients["unit_a"], 2) == [ids[0], ids[2]]
    assert await seqs(clients["unit_a2"], 2) == [ids[0], ids[2]]
    assert await seqs(clients["unit_b"], 3) == [ids[1], ids[3], ids[4]]
    for ws in clients.values():
        assert await quiet(ws, 0.3) == []
        await ws.close()


async def test_a_client_that_stops_reading_leaves_its_group_and_catches_up_exactly_once(
    redis_url: str,
) -> None:
    # A queue that never overflows here: the slow client catches up on its own, no snapshot.
    environ = web_environ(redis_url, GOVPULSE_WS_QUEUE="5000", GOVPULSE_WS_HEARTBEAT="30s")
    async with running_node(environ) as node:
        store = BoardStore.from_url(redis_url)
        try:
            slow = await open_client(node, "wall", max_queue=1)
            fast = await open_client(node, "wall")
            assert (await recv(fast))["type"] == "snapshot"
            await members(node, 2)
            reading = asyncio.create_task(recv_data(fast, 600, timeout=30))
            ids = await flood(store, 600)
            frames = await reading

            # The group never waited for the slow one.
            assert [f["seq"] for f in frames] == ids
            assert await metric(node, 'govpulse_web_group_leaves_total{reason="slow"}') == 1
            joins = await metric(node, "govpulse_web_group_joins_total")

            # Now it reads: every delta once, in order, then it is back in its group.
            snapshot = await recv(slow, 5)
            rest = await recv_data(slow, 600, timeout=30)
            assert (snapshot["type"], snapshot["reason"]) == ("snapshot", "initial")
            assert [f["seq"] for f in rest] == ids
            await members(node, 2)
            assert await metric(node, "govpulse_web_group_joins_total") == joins + 1
            (last,) = await store.publish([unit_change(UNIT_B, overdue=1)])
            assert [f["seq"] for f in await recv_data(slow, 1)] == [last]
            assert [f["seq"] for f in await recv_data(fast, 1)] == [last]
            await slow.close()
            await fast.close()
        finally:
            await store.close()


# -- hostile clients -------------------------------------------------------------------


async def test_oversized_frame_closes_the_connection_1009(node: WebNode) -> None:
    ws = await open_client(node, "wall")
    await recv(ws)

    await ws.send('{"type":"ping","pad":"' + "x" * 70_000 + '"}')

    code, _ = await closed_with(ws)
    assert code == 1009


async def test_bad_frames_after_auth_get_error_frames_and_the_connection_stays(
    node: WebNode,
) -> None:
    ws = await open_client(node, "wall")
    await recv(ws)

    await ws.send("nope")
    await ws.send('{"type":"auth","token":"again"}')
    await ws.send('{"type":"ping","ref":"p1"}')
    bad_json, again, pong = await recv_data(ws, 3)

    assert (bad_json["type"], bad_json["code"]) == ("error", "bad_json")
    assert again == {"type": "error", "code": "bad_frame", "message": "already authenticated"}
    assert (pong["type"], pong["ref"]) == ("pong", "p1")
    await ws.close()


async def test_a_failing_connection_closes_1011_and_others_carry_on(
    node: WebNode, store: BoardStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = protocol.pong_frame

    def exploding(ts: float, *, ref: str | None = None) -> bytes:
        if ref == "boom":
            raise RuntimeError("injected failure")
        return original(ts, ref=ref)

    monkeypatch.setattr(protocol, "pong_frame", exploding)
    victim = await open_client(node, "wall")
    bystander = await open_client(node, "wall")
    await recv(victim)
    await recv(bystander)

    await victim.send('{"type":"ping","ref":"boom"}')
    code = await closed_with(victim)
    (entry_id,) = await store.publish([unit_change(UNIT_A)])
    (delta,) = await recv_data(bystander, 1)

    assert code == (1011, "internal error")
    assert delta["seq"] == entry_id
    await bystander.close()


# -- heartbeats and Redis outages -----------------------------------------------------


async def test_heartbeats_report_worker_age_and_staleness(node: WebNode, store: BoardStore) -> None:
    ws = await open_client(node, "wall")
    await recv(ws)
    lonely, _ = await recv_until(ws, lambda f: f["type"] == "heartbeat", timeout=3)
    beating = asyncio.create_task(beat_forever(store, interval=0.2))
    try:
        await asyncio.sleep(0.3)
        alive, _ = await recv_until(ws, lambda f: f["type"] == "heartbeat", timeout=3)
    finally:
        beating.cancel()

    assert (lonely["stale"], lonely["redis"], lonely["worker_age"]) == (True, "up", None)
    assert (alive["stale"], alive["redis"]) == (False, "up")
    assert 0 <= alive["worker_age"] < 2
    assert abs(alive["ts"] - time.time()) < 5
    await ws.close()


async def test_redis_outage_marks_the_board_stale_and_a_new_redis_means_a_fresh_snapshot(
    tmp_path: Path,
) -> None:
    redis_service = services.start_redis(services.free_port(), log_dir=tmp_path)
    url = f"redis://127.0.0.1:{redis_service.port}/0"
    try:
        store = BoardStore.from_url(url)
        await store.publish([unit_change(UNIT_A)])
        async with running_node(web_environ(url)) as node:
            ws = await open_client(node, "wall")
            before = await recv(ws)

            redis_service.kill()
            down, _ = await recv_until(
                ws, lambda f: f["type"] == "heartbeat" and f["redis"] == "down", timeout=6
            )
            status, _, health = await get(f"{node.base}/healthz")

            redis_service = services.start_redis(redis_service.port, log_dir=tmp_path)
            fresh, _ = await recv_until(ws, lambda f: f["type"] == "snapshot", timeout=15)
            await store.close()
            store = BoardStore.from_url(url)  # the old client's pooled connection died with Redis
            await store.publish([unit_change(UNIT_B)])
            (delta,) = await recv_data(ws, 1)
            up, _ = await recv_until(ws, lambda f: f["type"] == "heartbeat" and f["redis"] == "up", timeout=4)

            assert down["stale"] is True
            assert status == 503 and orjson.loads(health)["redis"] == "down"
            assert (fresh["recovered"], fresh["reason"], fresh["units"]) == (
                False,
                "epoch changed",
                [],
            )
            assert fresh["epoch"] != before["epoch"]
            assert (delta["key"], up["epoch"]) == (UNIT_B, fresh["epoch"])
            await ws.close()
        await store.close()
    finally:
        redis_service.stop()


# -- HTTP ------------------------------------------------------------------------------


async def test_healthz_and_metrics(node: WebNode, store: BoardStore) -> None:
    ws = await open_client(node, f"unit:{UNIT_A}")
    await recv(ws)
    await store.publish([unit_change(UNIT_A)])
    await recv_data(ws, 1)

    status, headers, body = await get(f"{node.base}/healthz")
    metrics_status, metrics_headers, metrics = await get(f"{node.base}/metrics")

    health = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert (health["status"], health["redis"], health["connections"]) == ("ok", "up", 1)
    assert health["epoch"] == await store.read_epoch()
    assert metrics_status == 200 and metrics_headers["Content-Type"].startswith("text/plain")
    text = metrics.decode()
    for line in (
        'govpulse_web_connections{scope="unit"} 1.0',
        'govpulse_web_frames_sent_total{type="snapshot"} 1.0',
        'govpulse_web_frames_sent_total{type="delta"} 1.0',
        "govpulse_web_deltas_dispatched_total 1.0",
        "govpulse_web_feed_entries_total 1.0",
        "govpulse_web_redis_up 1.0",
        "# TYPE govpulse_web_feed_lag_seconds gauge",
        "# TYPE govpulse_web_commands_total counter",
    ):
        assert line in text
    await ws.close()


async def test_healthz_is_503_when_redis_is_unreachable() -> None:
    environ = web_environ(f"redis://127.0.0.1:{services.free_port()}/0")
    async with running_node(environ) as node:
        status, _, body = await get(f"{node.base}/healthz")

    assert status == 503
    assert json.loads(body)["redis"] == "down"


@pytest.mark.parametrize(
    ("path", "status", "content_type", "marker"),
    [
        ("/", 200, "text/html; charset=utf-8", b"/static/wall.js"),
        ("/?token=abc", 200, "text/html; charset=utf-8", b"/static/wall.js"),
        ("/leader", 200, "text/html; charset=utf-8", b"/static/leader.js"),
        ("/unit/P-SAI-GON", 200, "text/html; charset=utf-8", b"/static/unit.js"),
        ("/unit/P-NOWHERE", 404, "text/html; charset=utf-8", "Không tìm thấy".encode()),
        ("/unit/<script>", 404, "text/html; charset=utf-8", b"404"),
        ("/static/board.js", 200, "text/javascript; charset=utf-8", b"export class Board"),
        ("/static/board.css", 200, "text/css; charset=utf-8", b":root"),
        ("/static/../server.py", 404, "text/html; charset=utf-8", b"404"),
        ("/nothing", 404, "text/html; charset=utf-8", b"404"),
    ],
)
async def test_pages_and_static_routes(
    node: WebNode, path: str, status: int, content_type: str, marker: bytes
) -> None:
    got_status, headers, body = await get(f"{node.base}{path}")

    assert (got_status, headers["Content-Type"]) == (status, content_type)
    assert marker in body
    if content_type.startswith("text/html"):
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert headers["Referrer-Policy"] == "no-referrer"


async def test_catalog_json_names_every_unit_and_category_from_the_packaged_data(node: WebNode) -> None:
    status, headers, body = await get(f"{node.base}/catalog.json")

    assert (status, headers["Content-Type"]) == (200, "application/json")
    names = json.loads(body)
    assert names["units"]["P-SAI-GON"] == {
        "name_vi": "Phường Sài Gòn",
        "name_en": "Sai Gon Ward",
        "kind": "ward",
        "parent": "HCM",
    }
    assert names["categories"]["dien-nuoc"] == {"name_vi": "Điện, nước", "name_en": "Power and water"}
    assert names["categories"]["y-te"] == {"name_vi": "Y tế", "name_en": "Health"}
    assert names["other_category"] == {"name_vi": "Khác", "name_en": "Other"}
    assert len(names["categories"]) == 11
    assert len(names["units"]) == 189


async def test_server_refuses_to_start_without_a_secret_in_production(redis_url: str) -> None:
    environ = web_environ(redis_url, GOVPULSE_PROFILE="production")
    del environ["GOVPULSE_SECRET"]

    with pytest.raises(ConfigError, match="GOVPULSE_SECRET is missing"):
        async with running_node(environ):
            pass


# -- commands --------------------------------------------------------------------------


@pytest.fixture
async def command_node(redis_url: str, broker: services.Service) -> AsyncIterator[tuple[WebNode, str]]:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    environ = web_environ(
        redis_url,
        GOVPULSE_BROKER_URL=f"127.0.0.1:{broker.port}",
        GOVPULSE_TOPIC_PREFIX=prefix,
        GOVPULSE_PARTITIONS="2",
        GOVPULSE_COMMAND_RATE="0.01",
        GOVPULSE_COMMAND_BURST="4",
    )
    await create_topics(load_settings(environ))
    async with running_node(environ) as node:
        yield node, Topics.for_settings(node.settings).commands


async def read_commands(bootstrap: str, topic: str, count: int) -> list[tuple[bytes, dict[str, Any]]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0, 1})
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[tuple[bytes, dict[str, Any]]] = []
        deadline = time.monotonic() + 10
        while len(records) < count and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records += [(m.key or b"", orjson.loads(m.value or b"null")) for m in messages]
        return records
    finally:
        await consumer.stop()


async def test_ack_and_explanations_are_produced_to_gov_commands(
    command_node: tuple[WebNode, str], store: BoardStore, broker: services.Service
) -> None:
    node, topic = command_node
    await store.publish([alert_change("item_overdue/PA-1", UNIT_A)])
    leader = await open_client(node, "leader")
    unit = await open_client(node, f"unit:{UNIT_A}")
    await recv(leader)
    await recv(unit)

    await leader.send('{"type":"ack","alert":"item_overdue/PA-1","ref":"a1"}')
    (acked,) = await recv_data(leader, 1, timeout=15)
    await leader.send('{"type":"explain","alert":"item_overdue/PA-1","text":"Vì sao chậm?","ref":"a2"}')
    (asked,) = await recv_data(leader, 1, timeout=10)
    await unit.send('{"type":"explain","alert":"item_overdue/PA-1","text":"<b>Thiếu nhân sự</b>"}')
    (answered,) = await recv_data(unit, 1, timeout=15)

    assert (acked["type"], acked["ref"], asked["type"], asked["ref"], answered["type"]) == (
        "accepted",
        "a1",
        "accepted",
        "a2",
        "accepted",
    )
    records = await read_commands(f"127.0.0.1:{broker.port}", topic, 3)
    by_id = {body["command_id"]: (key, body) for key, body in records}
    ack_key, ack = by_id[acked["command_id"]]
    _, ask = by_id[asked["command_id"]]
    _, answer = by_id[answered["command_id"]]
    assert ack_key == b"item_overdue/PA-1"
    assert ack == {
        "command_id": acked["command_id"],
        "type": "ack",
        "alert": "item_overdue/PA-1",
        "text": None,
        "by": {"scope": "leader", "sub": "tester"},
        "at": ack["at"],
    }
    assert abs(_parse_time(ack["at"]) - time.time()) < 30 and ack["at"].endswith("+07:00")
    assert (ask["type"], ask["text"], ask["by"]) == (
        "explain_request",
        "Vì sao chậm?",
        {"scope": "leader", "sub": "tester"},
    )
    assert (answer["type"], answer["text"], answer["by"]) == (
        "explain_answer",
        "<b>Thiếu nhân sự</b>",
        {"scope": f"unit:{UNIT_A}", "sub": "tester"},
    )
    await leader.close()
    await unit.close()


async def test_a_leader_requests_an_explanation_on_any_indicator_and_only_its_owner_may_answer(
    command_node: tuple[WebNode, str], store: BoardStore, broker: services.Service
) -> None:
    node, topic = command_node
    inquiry = "indicator_explanation:SO-1022-DUNG-HAN/P-BAN-CO/2026-04"  # not on the board
    leader = await open_client(node, "leader")
    wall = await open_client(node, "wall")
    other = await open_client(node, "unit:P-TAN-DINH")
    owner = await open_client(node, "unit:P-BAN-CO")
    for ws in (leader, wall, other, owner):
        await recv(ws)

    frame = {"type": "explain", "alert": inquiry, "text": "Vì sao?", "ref": "q1"}
    await leader.send(orjson.dumps(frame).decode())
    (asked,) = await recv_data(leader, 1, timeout=15)
    await wall.send(orjson.dumps(frame).decode())
    await other.send(orjson.dumps(frame).decode())
    await owner.send(orjson.dumps(frame).decode())  # nothing to answer before the alert is open
    await leader.send(orjson.dumps({**frame, "alert": f"{inquiry[:-3]}-13", "ref": "q2"}).decode())

    assert (asked["type"], asked["ref"]) == ("accepted", "q1")
    assert [f["code"] for f in await recv_data(wall, 1)] == ["forbidden"]
    assert [f["code"] for f in await recv_data(other, 1)] == ["forbidden"]
    assert [f["code"] for f in await recv_data(owner, 1)] == ["forbidden"]
    assert [f["code"] for f in await recv_data(leader, 1)] == ["not_found"]  # no such period
    records = await read_commands(f"127.0.0.1:{broker.port}", topic, 1)
    key, body = next((k, b) for k, b in records if b["command_id"] == asked["command_id"])
    assert (key, body["type"], body["alert"]) == (inquiry.encode(), "explain_request", inquiry)

    # Once the worker opened it (the owner's unit on the board), the owner answers.
    await store.publish([alert_change(inquiry, "P-BAN-CO")])
    await owner.send(orjson.dumps({**frame, "ref": "a1"}).decode())
    await other.send(orjson.dumps({**frame, "ref": "a2"}).decode())
    replies = ("accepted", "error")
    answered, _ = await recv_until(owner, lambda f: f["type"] in replies and f.get("ref") == "a1", 15)
    refused, _ = await recv_until(other, lambda f: f["type"] in replies and f.get("ref") == "a2")
    assert (answered["type"], refused.get("code")) == ("accepted", "forbidden")
    for ws in (leader, wall, other, owner):
        await ws.close()


def _parse_time(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


async def test_commands_outside_the_scope_are_refused(
    command_node: tuple[WebNode, str], store: BoardStore
) -> None:
    node, _ = command_node
    await store.publish([alert_change("fa", UNIT_A), alert_change("fb", UNIT_B)])
    wall = await open_client(node, "wall")
    unit = await open_client(node, f"unit:{UNIT_A}")
    leader = await open_client(node, "leader")
    for ws in (wall, unit, leader):
        await recv(ws)

    await wall.send('{"type":"ack","alert":"fa"}')
    await unit.send('{"type":"ack","alert":"fa"}')
    await unit.send('{"type":"explain","alert":"fb","text":"not mine"}')
    await unit.send('{"type":"explain","alert":"nope","text":"unknown"}')
    await leader.send('{"type":"ack","alert":"nope"}')

    assert [f["code"] for f in await recv_data(wall, 1)] == ["forbidden"]
    assert [f["code"] for f in await recv_data(unit, 3)] == ["forbidden"] * 3
    assert await recv_data(leader, 1) == [
        {"type": "error", "code": "not_found", "message": "alert 'nope' is not on the board"}
    ]
    for ws in (wall, unit, leader):
        await ws.close()


async def test_commands_are_rate_limited_per_connection(command_node: tuple[WebNode, str]) -> None:
    node, _ = command_node
    ws = await open_client(node, "leader")
    other = await open_client(node, "leader")
    await recv(ws)
    await recv(other)

    for n in range(6):
        await ws.send(orjson.dumps({"type": "ack", "alert": "nope", "ref": f"r{n}"}).decode())
    replies = await recv_data(ws, 6)
    await other.send('{"type":"ack","alert":"nope"}')
    (fresh,) = await recv_data(other, 1)

    assert [f["code"] for f in replies] == ["not_found"] * 4 + ["rate_limited"] * 2
    assert replies[5] == {
        "type": "error",
        "code": "rate_limited",
        "message": "too many commands; wait a moment and retry",
        "ref": "r5",
    }
    assert fresh["code"] == "not_found"
    await ws.close()
    await other.close()


async def test_commands_answer_unavailable_when_the_broker_is_down(node: WebNode, store: BoardStore) -> None:
    await store.publish([alert_change("fa", UNIT_A)])
    ws = await open_client(node, "leader")
    await recv(ws)

    await ws.send('{"type":"ack","alert":"fa","ref":"x"}')
    (reply,) = await recv_data(ws, 1, timeout=15)

    assert reply == {
        "type": "error",
        "code": "unavailable",
        "message": "commands cannot be delivered right now; retry later",
        "ref": "x",
    }
    await ws.close()
