"""Web nodes as real processes, and a board client that checks what it receives.

:class:`WebNodes` starts ``python -m govpulse.cli web`` processes (each on its own port,
all on one Redis) that tests SIGKILL and restart. :class:`BoardClient` is a websocket
client that applies frames the way the pages do (docs/protocol.md), reconnects with
``resume`` after losing its node, and records every violation of the protocol's promises
it can see by itself: a delta not after the previous one (gap or duplicate order), a
replay that does not deliver its announced count. Tests then compare its state and the
deltas it got with Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from runtime import services
from runtime.board import stream_id_key
from runtime.services import Service
from tests.support.harness import Board
from web.auth import mint_token

SECRET = "reliability-secret-0123456789"
_KEYS = {"units": ("unit", "code"), "alerts": ("alert", "fingerprint"), "queue": ("queue", "id")}


@dataclass
class WebNode:
    name: str
    port: int
    service: Service

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def running(self) -> bool:
        return self.service.running


class WebNodes:
    """Web node processes sharing one Redis.

    Args:
        redis_url: the board's Redis.
        workdir: where their logs go.
        broker: bootstrap for commands (tests here send none; a closed port is fine).
    """

    def __init__(self, *, redis_url: str, workdir: Path, broker: str | None = None) -> None:
        self.redis_url = redis_url
        self.workdir = workdir
        self.broker = broker or f"127.0.0.1:{services.free_port()}"
        self.nodes: list[WebNode] = []
        workdir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, *, port: int | None = None) -> WebNode:
        """Start a node (on ``port``: a restart on the port it had) and wait until it listens."""
        port = port or services.free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GOVPULSE_")},
            "GOVPULSE_REDIS_URL": self.redis_url,
            "GOVPULSE_BROKER_URL": self.broker,
            "GOVPULSE_WEB_PORT": str(port),
            "GOVPULSE_SECRET": SECRET,
            "GOVPULSE_WS_HEARTBEAT": "1s",
            "GOVPULSE_LOG_LEVEL": "info",
            "PYTHONUNBUFFERED": "1",
        }
        log_path = self.workdir / f"{name}.log"
        argv = [sys.executable, "-m", "govpulse.cli", "web"]
        process = services.spawn(argv, log_path, env)
        node = WebNode(name, port, Service(name, port, process, log_path, argv))
        services.wait_for_port(port, timeout=20, name=f"web node {name}", process=process)
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for node in self.nodes:
            node.service.stop(timeout=5)


def token(scope: str) -> str:
    return mint_token(SECRET, scope=scope, ttl_seconds=3600, subject="reliability", now=time.time())


@dataclass
class Connection:
    """One websocket connection of a client, and how it started."""

    node: str
    first: dict[str, Any]
    replayed: int = 0


@dataclass
class BoardClient:
    """A board client applying frames like the pages and checking the protocol's promises.

    Args:
        name: for messages.
        scope: ``wall``, ``leader`` or ``unit:<CODE>``.
        view: the unit whose queue it views.
    """

    name: str
    scope: str
    view: str | None = None
    state: dict[str, dict[str, Any]] = field(default_factory=lambda: {"unit": {}, "alert": {}, "queue": {}})
    epoch: str | None = None
    position: str | None = None
    deltas: list[str] = field(default_factory=list)  # seq of every delta applied, in order
    snapshots: list[dict[str, Any]] = field(default_factory=list)  # frames without the data
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _ws: ClientConnection | None = None
    _task: asyncio.Task[None] | None = None
    _pending_replay: int = 0
    _replay_seq: str | None = None

    def __post_init__(self) -> None:
        if self.view is None and self.scope.startswith("unit:"):
            self.view = self.scope.removeprefix("unit:")  # the server's default view

    # -- connection --------------------------------------------------------------------

    async def connect(self, node: WebNode, *, resume: bool = True) -> dict[str, Any]:
        """Open a connection (resuming from the last position when there is one) and start
        reading; returns its first frame (snapshot or resume)."""
        ws = await connect(node.url, open_timeout=5, close_timeout=1)
        frame: dict[str, Any] = {"type": "auth", "token": token(self.scope)}
        if self.view is not None:
            frame["view"] = self.view
        if resume and self.epoch is not None and self.position is not None:
            frame["resume"] = {"epoch": self.epoch, "seq": self.position}
        await ws.send(orjson.dumps(frame).decode())
        first: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        self.connections.append(Connection(node.name, first))
        self._apply(first)
        self._ws = ws
        self._task = asyncio.create_task(self._read(ws), name=f"client-{self.name}")
        return first

    async def connect_any(self, nodes: list[WebNode], *, timeout: float = 30) -> dict[str, Any]:
        """Connect to the first node of ``nodes`` that accepts, retrying until ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            for node in nodes:
                if not node.running:
                    continue
                try:
                    return await self.connect(node)
                except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
                    continue
            if time.monotonic() > deadline:
                raise AssertionError(f"client {self.name}: no web node accepted within {timeout}s")
            await asyncio.sleep(0.2)

    @property
    def connected(self) -> bool:
        return self._task is not None and not self._task.done()

    async def wait_closed(self, timeout: float = 10) -> None:
        """Wait until the current connection is gone (its node was killed)."""
        if self._task is not None:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                self._apply(orjson.loads(message))

    # -- frames ------------------------------------------------------------------------

    def _apply(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "snapshot":
            if self._pending_replay:
                self.problems.append(f"snapshot while {self._pending_replay} replayed deltas were due")
            self._pending_replay = 0
            for name, (what, key) in _KEYS.items():
                self.state[what] = {value[key]: value for value in frame[name]}
            self.epoch, self.position = frame["epoch"], frame["seq"]
            self.snapshots.append({k: v for k, v in frame.items() if k not in _KEYS})
        elif kind == "resume":
            if frame["epoch"] != self.epoch or frame["after"] != self.position:
                self.problems.append(f"resume {frame} does not continue from {self.epoch}:{self.position}")
            self._pending_replay, self._replay_seq = frame["count"], frame["seq"]
            self.connections[-1].replayed = frame["count"]
            if not frame["count"]:
                self.position = frame["seq"]
        elif kind == "delta":
            seq = frame["seq"]
            if self.position is not None and stream_id_key(seq) <= stream_id_key(self.position):
                self.problems.append(
                    f"delta {seq} not after position {self.position} (duplicate or reordered)"
                )
            if bool(frame.get("recovered")) != (self._pending_replay > 0):
                self.problems.append(
                    f"delta {seq} recovered={frame.get('recovered')} with {self._pending_replay} replays due"
                )
            if self._pending_replay:
                self._pending_replay -= 1
                if not self._pending_replay and self._replay_seq is not None:
                    seq = max(seq, self._replay_seq, key=stream_id_key)
            table = self.state[frame["kind"]]
            if frame["op"] == "upsert":
                table[frame["key"]] = frame["data"]
            else:
                table.pop(frame["key"], None)
            self.deltas.append(frame["seq"])
            self.position = seq
        elif kind == "heartbeat":
            self.heartbeats.append(frame)
            if self._pending_replay:
                self.problems.append(f"heartbeat while {self._pending_replay} replayed deltas were due")
            elif frame["epoch"] == self.epoch and frame["seq"] and self.position is not None:
                if stream_id_key(frame["seq"]) < stream_id_key(self.position):
                    self.problems.append(f"heartbeat seq {frame['seq']} behind position {self.position}")
                self.position = frame["seq"]
        elif kind == "error":
            self.problems.append(f"error frame {frame}")

    # -- expectations ------------------------------------------------------------------

    def accepts(self, kind: str, unit: str) -> bool:
        """Whether this client's scope and view receive a feed entry (docs/protocol.md)."""
        if self.scope.startswith("unit:"):
            return unit == self.scope.removeprefix("unit:")
        return kind in ("unit", "alert") or (kind == "queue" and unit == self.view)

    def expected_state(self, board: Board) -> dict[str, dict[str, Any]]:
        """What this client must show, given the board in Redis."""
        own = self.scope.removeprefix("unit:") if self.scope.startswith("unit:") else None
        units = {k: v for k, v in board.units.items() if own is None or k == own}
        alerts = {k: v for k, v in board.alerts.items() if own is None or v.get("unit") == own}
        queue = dict(board.queues.get(self.view, {})) if self.view is not None else {}
        return {"unit": units, "alert": alerts, "queue": queue}

    def state_problems(self, board: Board) -> list[str]:
        """Where this client's state differs from what the board says it must show."""
        expected = self.expected_state(board)
        problems = []
        for kind in ("unit", "alert", "queue"):
            want, got = expected[kind], self.state[kind]
            missing = sorted(set(want) - set(got))
            extra = sorted(set(got) - set(want))
            differing = sorted(k for k in set(want) & set(got) if want[k] != got[k])
            if missing or extra or differing:
                problems.append(
                    f"client {self.name} {kind}: missing {missing[:5]}, extra {extra[:5]}, "
                    f"differing {differing[:5]}"
                )
        return problems

    def seen(self, predicate: Callable[[dict[str, Any]], bool]) -> bool:
        return any(predicate(h) for h in self.heartbeats)
