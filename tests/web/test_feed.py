"""The feed hub without Redis: outboxes, routing of feed entries, groups, epochs, health.

:meth:`FeedHub.dispatch` is the pure part of the reader (entries in, frames offered to
pending connections and written once per group to its members); the XREAD loop around it
and the outages are tested through a real node in tests/web/test_server.py and
tests/reliability/test_redis_outage.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import orjson
import pytest
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st

from runtime.board import BoardStore, FeedEntry, stream_id_key
from runtime.clock import FixedClock, ManualClock
from tests.support.hypothesis_profile import fuzz
from web.feed import FeedHub, Heartbeat, Outbox, Outgoing
from web.metrics import WebMetrics
from web.protocol import ALL, GroupKey, RouteKey, Standing, routes

NOW = 1_800_000_000.0
EPOCH = "e1"


def delta(seq: int) -> Outgoing:
    return Outgoing("delta", f"1-{seq}", (1, seq), EPOCH, b"{}")


@dataclass(eq=False)
class Recorder:
    """A subscriber that records what it is offered."""

    keys: frozenset[RouteKey]
    offered: list[Outgoing] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)

    def offer(self, item: Outgoing) -> None:
        self.offered.append(item)

    def request_snapshot(self, reason: str) -> None:
        self.snapshots.append(reason)


@pytest.fixture
def hub() -> FeedHub:
    # A store whose client never connects: dispatch and health do no I/O.
    store = BoardStore(aioredis.Redis(host="127.0.0.1", port=1))
    hub = FeedHub(store, metrics=WebMetrics(), heartbeat=1.0, clock=FixedClock(NOW - 60), now=lambda: NOW)
    hub.epoch = EPOCH
    return hub


def entry(seq: int, kind: str, unit: str, *, epoch: str = EPOCH, ms: int = 1_799_999_999_000) -> FeedEntry:
    body = b'{"kind":"%s","op":"upsert","key":"k%d","unit":"%s","data":{}}' % (
        kind.encode(),
        seq,
        unit.encode(),
    )
    return FeedEntry(f"{ms}-{seq}", kind, unit, epoch, body)


# -- outbox -------------------------------------------------------------------------------


def test_an_outbox_refuses_beyond_its_capacity_and_keeps_order() -> None:
    box = Outbox(2)

    assert [box.put(delta(1)), box.put(delta(2)), box.put(delta(3))] == [True, True, False]
    assert len(box) == 2
    assert [box.pop(), box.pop(), box.pop()] == [delta(1), delta(2), None]


async def test_get_waits_for_an_item_and_wake_returns_none() -> None:
    box = Outbox(4)
    waiting = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    box.put(delta(1))
    assert await asyncio.wait_for(waiting, 1) == delta(1)

    woken = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    box.wake()
    assert await asyncio.wait_for(woken, 1) is None


def test_clear_drops_everything_queued() -> None:
    box = Outbox(4)
    box.put(delta(1))
    box.clear()

    assert (len(box), box.pop()) == (0, None)


# -- dispatch -----------------------------------------------------------------------------


def test_entries_reach_exactly_the_connections_subscribed_to_their_route(hub: FeedHub) -> None:
    wall = Recorder(frozenset({ALL}))
    leader_viewing_a = Recorder(frozenset({ALL, ("view", "A")}))
    unit_a = Recorder(frozenset({("unit", "A"), ("view", "A")}))
    unit_b = Recorder(frozenset({("unit", "B"), ("view", "B")}))
    for sub in (wall, leader_viewing_a, unit_a, unit_b):
        hub.register(sub)

    hub.dispatch(
        [entry(1, "unit", "A"), entry(2, "alert", "B"), entry(3, "queue", "A"), entry(4, "other", "A")]
    )

    assert [o.seq for o in wall.offered] == ["1799999999000-1", "1799999999000-2"]
    assert [o.seq for o in leader_viewing_a.offered] == [
        "1799999999000-1",
        "1799999999000-2",
        "1799999999000-3",
    ]
    assert [o.seq for o in unit_a.offered] == ["1799999999000-1", "1799999999000-3"]
    assert [o.seq for o in unit_b.offered] == ["1799999999000-2"]
    assert hub.position == "1799999999000-4"


def test_every_connection_gets_the_same_frame_bytes_built_once(hub: FeedHub) -> None:
    first, second = Recorder(frozenset({ALL})), Recorder(frozenset({("unit", "A")}))
    hub.register(first)
    hub.register(second)

    hub.dispatch([entry(7, "unit", "A")])

    (a,), (b,) = first.offered, second.offered
    assert a is b
    assert a.data == (
        b'{"type":"delta","seq":"1799999999000-7","kind":"unit","op":"upsert","key":"k7","unit":"A","data":{}}'
    )
    assert (a.kind, a.order, a.epoch) == ("delta", (1_799_999_999_000, 7), EPOCH)


def test_unregister_and_resubscribe_follow_the_connections_keys(hub: FeedHub) -> None:
    sub = Recorder(frozenset({("view", "A")}))
    hub.register(sub)
    sub.keys = frozenset({("view", "B")})
    hub.resubscribe(sub)
    hub.dispatch([entry(1, "queue", "A"), entry(2, "queue", "B")])
    hub.unregister(sub)
    hub.dispatch([entry(3, "queue", "B")])

    assert [o.seq for o in sub.offered] == ["1799999999000-2"]
    assert hub.connections == 0


def test_an_entry_of_another_epoch_makes_every_connection_take_a_snapshot(hub: FeedHub) -> None:
    subs = [Recorder(frozenset({ALL})), Recorder(frozenset({("view", "Z")}))]
    for sub in subs:
        hub.register(sub)

    hub.dispatch([entry(1, "unit", "A"), entry(2, "unit", "A", epoch="e2")])

    assert [sub.snapshots for sub in subs] == [["epoch changed"], ["epoch changed"]]
    assert hub.epoch == "e2"
    assert [o.epoch for o in subs[0].offered] == [EPOCH, "e2"]


def test_dispatch_counts_entries_deltas_and_the_feed_lag(hub: FeedHub) -> None:
    hub.register(Recorder(frozenset({ALL})))
    hub.register(Recorder(frozenset({ALL})))

    hub.dispatch([entry(1, "unit", "A"), entry(2, "alert", "A", ms=1_799_999_998_500)])

    text = hub.metrics.render().decode()
    assert "govpulse_web_feed_entries_total 2.0" in text
    assert "govpulse_web_deltas_dispatched_total 4.0" in text
    assert "govpulse_web_feed_lag_seconds 1.5" in text


# -- health -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("redis_up", "beat", "stale", "age"),
    [
        (True, NOW - 2, False, 2.0),
        (True, NOW - 30, True, 30.0),
        (True, None, True, None),
        (False, NOW - 2, True, 2.0),
    ],
)
def test_the_heartbeat_says_whether_the_board_can_be_trusted(
    hub: FeedHub, redis_up: bool, beat: float | None, stale: bool, age: float | None
) -> None:
    hub.redis_up = redis_up
    hub.latest_beat = beat

    assert hub.current_heartbeat() == Heartbeat(
        ts=NOW, clock_now=NOW - 60, speed=0.0, stale=stale, redis_up=redis_up, age=age
    )


def test_the_heartbeat_carries_the_board_clock() -> None:
    clock = ManualClock(NOW)
    hub = FeedHub(BoardStore(aioredis.Redis(port=1)), metrics=WebMetrics(), heartbeat=1, clock=clock)
    clock.advance(90)

    beat = hub.current_heartbeat()
    assert (beat.clock_now, beat.speed) == (NOW + 90, 1.0)


# -- groups -------------------------------------------------------------------------------


def payloads(wire: bytes) -> list[bytes]:
    """The payloads of the unmasked server text frames one write carries (headers checked)."""
    out = []
    while wire:
        assert wire[0] == 0x81  # FIN + text
        length = wire[1] & 0x7F
        start = 2 if length < 126 else 4 if length == 126 else 10
        if length >= 126:
            length = int.from_bytes(wire[2:start], "big")
        out.append(wire[start : start + length])
        wire = wire[start + length :]
    return out


def payload(wire: bytes) -> bytes:
    """The payload of a write that carries one frame."""
    (only,) = payloads(wire)
    return only


def seqs_of(wire: bytes) -> list[str]:
    """The delta seqs a write carries, and ``beat@<seq>`` for a heartbeat."""
    out = []
    for data in payloads(wire):
        frame = orjson.loads(data)
        if frame["type"] == "heartbeat":
            out.append(f"beat@{frame['seq']}")
            continue
        inner = frame["frames"] if frame["type"] == "batch" else [frame]
        out += [d["seq"] for d in inner if d["type"] == "delta"]
    return out


@dataclass(eq=False)
class Connection:
    """A member-capable connection whose socket is a list: what arrived, in order.

    ``drain`` plays its sender task: it sends what its outbox holds (deltas not after its
    cursor are dropped, as the session does), then asks to join its group.
    """

    hub: FeedHub
    keys: frozenset[RouteKey]
    batch: bool = True
    live: bool = False
    lag: int = 0
    syncing: bool = False
    epoch: str | None = EPOCH
    cursor: tuple[int, int] | None = (0, 0)
    outbox: list[Outgoing] = field(default_factory=list)
    arrived: list[str] = field(default_factory=list)  # delta seqs, and "snapshot@<seq>"
    wires: int = 0

    @property
    def group(self) -> GroupKey:
        return (self.keys, self.batch, 0)

    def standing(self) -> Standing:
        return Standing(
            syncing=self.syncing,
            idle=True,
            queued=len(self.outbox),
            epoch=self.epoch,
            cursor=self.cursor,
            buffered=self.lag,
        )

    def buffered(self) -> int:
        return self.lag

    def push(self, wire: bytes) -> None:
        assert self.live and not self.outbox, "a group wrote to a connection that is not caught up"
        self.wires += 1
        self.arrived += seqs_of(wire)

    def offer(self, item: Outgoing) -> None:
        assert not self.live, "a member was offered an entry one by one"
        self.outbox.append(item)

    def request_snapshot(self, reason: str) -> None:
        self.hub.leave(self)
        self.syncing = True

    def left(self, seq: str, order: tuple[int, int], epoch: str | None) -> None:
        self.cursor, self.epoch = order, epoch

    def snapshot(self, seq: str) -> None:
        """Its sync read a snapshot at ``seq`` (the reader may not have read that far)."""
        self.outbox.clear()
        self.syncing = False
        self.cursor, self.epoch = stream_id_key(seq), EPOCH
        self.arrived.append(f"snapshot@{seq}")

    def drain(self) -> None:
        for item in self.outbox:
            if item.kind in ("delta", "frame") and self.cursor is not None and item.order > self.cursor:
                frame = orjson.loads(item.data)
                inner = frame["frames"] if frame["type"] == "batch" else [frame]
                self.arrived += [d["seq"] for d in inner]
                self.cursor = item.order
        self.outbox.clear()
        if not self.syncing:
            self.hub.try_join(self)

    def after_last_snapshot(self) -> tuple[str, list[str]]:
        marks = [i for i, a in enumerate(self.arrived) if a.startswith("snapshot@")]
        start = marks[-1] if marks else -1
        seq = self.arrived[start].split("@")[1] if marks else "0-0"
        return seq, self.arrived[start + 1 :]


WALL_KEYS = frozenset({ALL})
UNIT_A_KEYS = frozenset({("unit", "A"), ("view", "A")})
KINDS = [("unit", "A"), ("alert", "B"), ("queue", "A"), ("queue", "B"), ("alert", "A")]


def routed(index: int) -> FeedEntry:
    kind, unit = KINDS[index % len(KINDS)]
    return entry(index + 1, kind, unit)


def expected(keys: frozenset[RouteKey], entries: list[FeedEntry], after: str) -> list[str]:
    return [
        e.id
        for e in entries
        if not keys.isdisjoint(routes(e.kind, e.unit)) and stream_id_key(e.id) > stream_id_key(after)
    ]


def test_caught_up_connections_get_one_write_per_group_with_the_same_bytes(hub: FeedHub) -> None:
    walls = [Connection(hub, WALL_KEYS) for _ in range(3)]
    unit_a = Connection(hub, UNIT_A_KEYS)
    for conn in [*walls, unit_a]:
        hub.register(conn)
        conn.drain()

    hub.dispatch([routed(i) for i in range(5)])

    assert all(c.live for c in [*walls, unit_a])
    assert len(hub.groups) == 2
    assert [c.wires for c in walls] == [1, 1, 1]  # one batch frame for the read
    assert walls[0].arrived == expected(WALL_KEYS, [routed(i) for i in range(5)], "0-0")
    assert unit_a.arrived == ["1799999999000-1", "1799999999000-3", "1799999999000-5"]
    text = hub.metrics.render().decode()
    assert "govpulse_web_groups 2.0" in text
    assert "govpulse_web_group_members 4.0" in text


def test_a_connection_whose_snapshot_is_ahead_of_the_reader_joins_once_the_reader_got_there(
    hub: FeedHub,
) -> None:
    conn = Connection(hub, WALL_KEYS)
    hub.register(conn)
    conn.snapshot("1799999999000-2")  # Redis already had entries 1 and 2
    conn.drain()
    assert not conn.live

    hub.dispatch([routed(0), routed(1)])  # in its snapshot: dropped, and it joins
    conn.drain()
    hub.dispatch([routed(2), routed(3), routed(4)])  # two queue entries it does not see

    assert conn.live
    assert conn.arrived == ["snapshot@1799999999000-2", "1799999999000-5"]


def test_a_lagging_member_falls_behind_before_the_write_and_gets_the_frames_in_its_outbox(
    hub: FeedHub,
) -> None:
    slow, fast = Connection(hub, WALL_KEYS), Connection(hub, WALL_KEYS)
    for conn in (slow, fast):
        hub.register(conn)
        conn.drain()
    slow.lag = hub.lag_limit + 1

    hub.dispatch([routed(0), routed(1)])

    assert (slow.live, fast.live) == (False, True)
    # The group's own batch frame, queued: no per-delta work for a member that lags.
    assert [(o.kind, o.seq) for o in slow.outbox] == [("frame", "1799999999000-2")]
    assert fast.arrived == ["1799999999000-1", "1799999999000-2"]
    slow.drain()  # still lagging: it waits for its socket, the hub asks again after a read
    assert not slow.live
    slow.lag = 0
    hub.dispatch([routed(4)])
    slow.drain()
    assert slow.live
    assert slow.arrived == fast.arrived == ["1799999999000-1", "1799999999000-2", "1799999999000-5"]
    assert 'govpulse_web_group_leaves_total{reason="slow"} 1.0' in hub.metrics.render().decode()


def test_an_epoch_change_takes_every_member_out_of_its_group_for_a_snapshot(hub: FeedHub) -> None:
    conn = Connection(hub, WALL_KEYS)
    hub.register(conn)
    conn.drain()

    hub.dispatch([routed(0), entry(2, "unit", "A", epoch="e2")])

    assert (conn.live, conn.syncing, hub.groups) == (False, True, [])
    assert conn.arrived == ["1799999999000-1"]
    assert [o.seq for o in conn.outbox] == ["1799999999000-2"]  # dropped by its snapshot


def test_leaving_the_node_removes_a_member_and_its_empty_group(hub: FeedHub) -> None:
    conn = Connection(hub, UNIT_A_KEYS)
    hub.register(conn)
    conn.drain()
    hub.unregister(conn)
    hub.dispatch([routed(0)])

    assert (hub.groups, hub.connections, conn.arrived) == ([], 0, [])


#: Steps of the property below: read k entries, a connection drains and asks to join,
#: its socket lags or recovers, it re-syncs with a snapshot up to j entries ahead.
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.integers(1, 4)),
        st.tuples(st.just("drain"), st.integers(0, 2)),
        st.tuples(st.just("lag"), st.integers(0, 2)),
        st.tuples(st.just("recover"), st.integers(0, 2)),
        st.tuples(st.just("snapshot"), st.integers(0, 2), st.integers(0, 3)),
    ),
    max_size=40,
)


@fuzz(300)
@given(steps=STEPS)
def test_joining_and_leaving_groups_never_loses_or_repeats_a_delta(
    steps: list[tuple[int | str, ...]],
) -> None:
    hub = FeedHub(
        BoardStore(aioredis.Redis(host="127.0.0.1", port=1)),
        metrics=WebMetrics(),
        heartbeat=1.0,
        clock=FixedClock(NOW),
        now=lambda: NOW,
        lag_limit=100,
    )
    hub.epoch = EPOCH
    conns = [Connection(hub, WALL_KEYS), Connection(hub, WALL_KEYS), Connection(hub, UNIT_A_KEYS)]
    for conn in conns:
        hub.register(conn)
    feed = [routed(i) for i in range(200)]
    read = 0
    for step in steps:
        action, *args = step
        conn = conns[int(args[0])] if action != "read" else conns[0]
        if action == "read":
            hub.dispatch(feed[read : read + int(args[0])])
            read += int(args[0])
        elif action == "drain":
            conn.drain()
        elif action == "lag":
            conn.lag = 101
        elif action == "recover":
            conn.lag = 0
        else:
            conn.request_snapshot("view")
            seen = read + int(args[1])  # entries Redis had when the snapshot was read
            conn.snapshot(feed[seen - 1].id if seen else "0-0")
    hub.dispatch(feed[read : read + 10])
    read += 10
    for conn in conns:
        conn.lag = 0
        conn.drain()
    for conn in conns:
        after, arrived = conn.after_last_snapshot()
        assert arrived == expected(conn.keys, feed[:read], after)


def test_a_due_heartbeat_rides_in_each_members_next_write_at_the_readers_new_position(hub: FeedHub) -> None:
    walls = [Connection(hub, WALL_KEYS) for _ in range(2)]
    unit_a = Connection(hub, UNIT_A_KEYS)
    pending = Connection(hub, WALL_KEYS, syncing=True)
    for conn in [*walls, unit_a, pending]:
        hub.register(conn)
        conn.drain()
    hub.announce_heartbeat()
    assert [item.kind for item in pending.outbox] == ["heartbeat"]  # pending: offered now

    hub.dispatch([entry(1, "alert", "B"), entry(2, "alert", "B")])  # not unit A's
    hub.write_due_heartbeat()  # nothing left: the reader's write carried it

    for wall in walls:
        assert (wall.wires, wall.arrived) == (
            1,
            [entry(1, "alert", "B").id, entry(2, "alert", "B").id, "beat@" + entry(2, "alert", "B").id],
        )
    assert (unit_a.wires, unit_a.arrived) == (1, ["beat@" + entry(2, "alert", "B").id])


def test_a_due_heartbeat_goes_alone_when_the_reader_has_nothing_to_write(hub: FeedHub) -> None:
    walls = [Connection(hub, WALL_KEYS) for _ in range(2)]
    for conn in walls:
        hub.register(conn)
        conn.drain()
    hub.announce_heartbeat()
    hub.write_due_heartbeat()
    hub.write_due_heartbeat()  # written once

    assert [(wall.wires, wall.arrived) for wall in walls] == [(1, [f"beat@{hub.position}"])] * 2


def test_a_member_behind_on_its_socket_gets_the_heartbeat_in_its_outbox(hub: FeedHub) -> None:
    wall, slow = Connection(hub, WALL_KEYS), Connection(hub, WALL_KEYS)
    for conn in (wall, slow):
        hub.register(conn)
        conn.drain()
    slow.lag = hub.lag_limit + 1
    hub.announce_heartbeat()
    hub.dispatch([entry(1, "alert", "B")])

    assert wall.arrived == [entry(1, "alert", "B").id, "beat@" + entry(1, "alert", "B").id]
    assert [item.kind for item in slow.outbox] == ["delta", "heartbeat"]
    assert slow.outbox[-1].seq == entry(1, "alert", "B").id
