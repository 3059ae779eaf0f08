"""One connection's session without a network: what it listens to, and the slow-client
policies applied when its outbox overflows (the hub never waits for a client).

The full life of a session (auth, snapshot, resume, commands, 1011 on failure) runs over
real websockets in tests/web/test_server.py and tests/web/test_security.py.
"""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from runtime.board import BoardStore
from runtime.clock import ManualClock
from runtime.settings import load_settings
from web import protocol
from web.auth import Claims, Scope
from web.commands import CommandSink
from web.feed import FeedHub, Outgoing, wire_text
from web.metrics import WebMetrics
from web.protocol import ALL
from web.server import deflate_extensions
from web.session import Session, SessionConfig

NOW = 1_800_000_000.0


class Closing:
    """Stands in for the websocket: records close calls (the only call ``offer`` makes)."""

    def __init__(self) -> None:
        self.closed: list[tuple[int, str]] = []

    async def close(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))


def session(
    scope: Scope, *, view: str | None = None, slow_policy: str = "snapshot", ws: object | None = None
) -> tuple[Session, Closing]:
    store = BoardStore(aioredis.Redis(port=1))  # never connects here
    metrics = WebMetrics()
    clock = ManualClock(NOW)
    config = SessionConfig(
        store=store,
        hub=FeedHub(store, metrics=metrics, heartbeat=1.0, clock=clock),
        sink=CommandSink(load_settings({})),
        metrics=metrics,
        clock=clock,
        unit_exists=lambda unit: True,
        queue_size=2,
        slow_policy=slow_policy,
        heartbeat=1.0,
        command_rate=1.0,
        command_burst=3,
        now=clock.now,
    )
    closing = Closing()
    claims = Claims(scope, "tester", NOW + 600)
    made = Session(
        cast(ServerConnection, ws or closing), claims, view=view, resume=None, config=config, ident=7
    )
    return made, closing


def delta(seq: int) -> Outgoing:
    return Outgoing("delta", f"1-{seq}", (1, seq), "e1", b"{}")


def slow_drops(made: Session, policy: str) -> float:
    for family in made.config.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "govpulse_web_slow_client_drops_total" and sample.labels == {"policy": policy}:
                return sample.value
    return 0.0


@pytest.mark.parametrize(
    ("scope", "view", "keys"),
    [
        (Scope("wall"), None, {ALL}),
        (Scope("leader"), "P-BEN-THANH", {ALL, ("view", "P-BEN-THANH")}),
        (Scope("unit", "P-BEN-THANH"), None, {("unit", "P-BEN-THANH"), ("view", "P-BEN-THANH")}),
    ],
    ids=["wall", "leader-viewing", "unit"],
)
def test_a_session_listens_on_the_routes_of_its_scope_and_view(
    scope: Scope, view: str | None, keys: set[tuple[str, str]]
) -> None:
    made, _ = session(scope, view=view)

    assert made.keys == frozenset(keys)
    assert repr(made) == f"Session(#7 scope={scope.text} view={view})"


async def test_a_slow_client_under_the_snapshot_policy_drops_its_queue_for_a_snapshot() -> None:
    made, ws = session(Scope("wall"))
    sender = asyncio.create_task(made.outbox.get())  # the sender, waiting for frames
    await asyncio.sleep(0)

    for seq in (1, 2, 3):
        made.offer(delta(seq))

    assert len(made.outbox) == 0
    # The sender wakes with nothing queued: it takes a snapshot before anything else.
    assert await asyncio.wait_for(sender, 1) is None
    assert slow_drops(made, "snapshot") == 1.0
    made.offer(delta(4))  # the client goes on receiving
    assert made.outbox.pop() == delta(4)
    assert ws.closed == []


async def test_a_slow_client_under_the_close_policy_is_closed_1008_and_gets_nothing_more() -> None:
    made, ws = session(Scope("leader"), slow_policy="close")

    for seq in (1, 2, 3, 4):
        made.offer(delta(seq))
    await asyncio.sleep(0)

    assert ws.closed == [(protocol.CLOSE_POLICY, "slow client: more than 2 frames queued")]
    assert len(made.outbox) == 0
    assert slow_drops(made, "close") == 1.0


async def test_a_group_writes_framed_messages_straight_to_a_real_connections_socket() -> None:
    """The group writer uses the connection's asyncio transport (``ServerConnection.transport``,
    set by websockets; not in its reference docs): this fails if a websockets release
    renames it or frames differ from what a client parses."""
    pushed: list[tuple[int, bool]] = []

    async def handler(ws: ServerConnection) -> None:
        made, _ = session(Scope("wall"), ws=ws)
        pushed.append((made.buffered(), made.group == (frozenset({ALL}), False, 0)))
        made.push(wire_text(b'{"type":"delta","seq":"1-1"}'))
        made.push(wire_text(b"x" * 70_000))  # a 64-bit length header
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None) as client:
            first = await asyncio.wait_for(client.recv(), 5)
            second = await asyncio.wait_for(client.recv(), 5)

    assert pushed == [(0, True)]
    assert first == '{"type":"delta","seq":"1-1"}'
    assert second == "x" * 70_000


@pytest.mark.parametrize(
    "payload", [b'{"type":"delta","seq":"1-1"}', b'{"type":"batch","d":"' + b"x" * 70_000 + b'"}']
)
async def test_a_group_frame_compressed_once_is_read_by_a_real_deflate_client(payload: bytes) -> None:
    """Members that negotiated permessage-deflate get the group's frame compressed once
    (RSV1 set, no context takeover); plain frames (heartbeats) still reach them; a
    websockets client decompresses both. This fails if the extension is not negotiated as
    web.server configures it or the shared frame is not what a client inflates."""
    made_deflate: list[int] = []

    async def handler(ws: ServerConnection) -> None:
        deflate = protocol.shared_deflate(ws.response.headers.get("Sec-WebSocket-Extensions"))
        made, _ = session(Scope("wall"), ws=ws)
        made_deflate.append(deflate)
        compressed = wire_text(payload, deflate)
        made.push(compressed)
        made.push(compressed)  # the same bytes twice: no state carried between messages
        made.push(wire_text(b'{"type":"heartbeat"}'))
        await ws.wait_closed()

    extensions = deflate_extensions("deflate")
    async with serve(handler, "127.0.0.1", 0, compression=None, extensions=extensions) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}", max_size=None) as client:
            received = [await asyncio.wait_for(client.recv(), 5) for _ in range(3)]

    assert made_deflate == [12]
    assert wire_text(payload, 12)[0] & 0x40  # RSV1: compressed
    assert len(payload) < 1000 or len(wire_text(payload, 12)) < len(wire_text(payload)) / 100
    assert received == [payload.decode(), payload.decode(), '{"type":"heartbeat"}']
