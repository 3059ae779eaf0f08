"""The feed hub without Redis: outboxes, routing of feed entries, epochs and health.

:meth:`FeedHub.dispatch` is the pure part of the reader (entries in, frames offered);
the XREAD loop around it and the outages are tested through a real node in
tests/web/test_server.py and tests/reliability/test_redis_outage.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis

from runtime.board import BoardStore, FeedEntry
from runtime.clock import FixedClock, ManualClock
from web.feed import FeedHub, Heartbeat, Outbox, Outgoing
from web.metrics import WebMetrics
from web.protocol import ALL, RouteKey

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
