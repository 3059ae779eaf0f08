"""Websocket fan-out: one web node, many ``wall`` clients, a steady stream of deltas.

A throwaway Redis and **one** ``govpulse web`` process; no broker and no worker. The
benchmark plays the worker's publisher itself: it writes alert changes with
:meth:`runtime.board.BoardStore.publish` (the same Lua call that sets the hash field and
``XADD``\\ s the delta to ``board:feed``) at a fixed rate on an open-loop schedule (a late
publish does not delay the next ones). Each alert value carries its sequence number and
the instant (``time.time()``) just before its publish call; the web node never decodes
values, so the client reads them back out of the delta frame.

The clients run in a separate process (``python -m bench.fanout clients SPEC.json``) so
that their CPU never counts as the web node's. To keep thousands of connections in one
process, a client is a small ``asyncio.Protocol`` on uvloop speaking just enough
RFC 6455 (handshake offering permessage-deflate as browsers do, masked client frames,
unmasked server frames, ping → pong) instead of the ``websockets`` client. The members of
a fan-out group get the same bytes, so a process parses (and inflates) each distinct frame
once (:class:`Seen`): a frame costs a client a header walk, a dictionary lookup, a byte
comparison with the frame parsed before, and one appended timestamp.
Latency = arrival (the ``data_received`` call that completed the frame) − the instant
before the publish call, so it includes Redis, the web node's feed reader, its
per-connection outboxes and senders, and the kernel. Each measured delivery goes into a
0.1 ms histogram (computed after the window from each frame's arrivals); the percentiles
are over every (client, delta) delivery. The web node runs on a core of its own
(:func:`_isolated`).

Scenarios (sizes per profile in :data:`SIZES`):

* ``<N>`` (1,000 and 5,000 clients): everyone reads promptly.
* ``slow``: the same number of normal clients as the first scenario, plus some slow
  ones: half never read again after their snapshot, half read one chunk per second;
  all have an 8 KB receive buffer so that their backlog reaches the web node quickly.
  It has the first scenario's client count and timing, so its figures (the *normal*
  clients') compare directly with that run (``without_slow_clients``). A slow client is
  stuck within a second or two: the web node's sender for it waits on a full socket.
  Before its outbox even starts to fill, the kernel's send buffer (autotuned up to
  ``net.ipv4.tcp_wmem``'s maximum) takes a few thousand frames; then the outbox holds
  ``GOVPULSE_WS_QUEUE`` frames (2,000 = 20 s at 100/s). Only then does the slow-client
  policy apply; a client that never reads is closed earlier by the keepalive (no
  pong). The full profile's window shows that (``slow_clients.never.closed``,
  ``web_metrics``); the quick one shows stuck clients.

Per scenario: ``p50_ms``/``p90_ms``/``p99_ms``/``max_ms`` of delivery latency,
``cpu_pct`` of the web process (percent of one core over the measured publishing
window), ``delivered_share`` (measured deliveries received ÷ expected), and the client
process's own CPU (if that approaches 100 %, the clients, not the web node, limited the
figures).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import sys
import time
import urllib.request
import zlib
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson
from websockets.frames import Frame, Opcode

from bench.common import (
    SECRET,
    BenchError,
    CpuSampler,
    Deployment,
    Section,
    load_average,
    rss_bytes,
    run_info,
    wait_until,
)
from domain.catalog import Catalog
from runtime import services
from runtime.board import ALERTS_KEY, EPOCH_KEY, FEED_KEY, BoardStore, Change
from web.auth import mint_token

log = logging.getLogger(__name__)

#: Histogram resolution: buckets of 0.1 ms.
BUCKETS_PER_SECOND = 10_000
#: Distinct alert fingerprints the deltas cycle over (keeps every snapshot small).
KEYS = 20
#: Receive buffer of slow clients (bytes), so that their backlog reaches the server soon.
SLOW_RCVBUF = 8192
#: Connections opened at the same time by all client processes together.
CONNECT_CONCURRENCY = 100
#: The unit of every alert when no unit-scoped clients run.
BENCH_UNIT = "P-BEN-THANH"


@dataclass(frozen=True, slots=True)
class Scenario:
    """One fan-out run on a fresh web node: ``clients`` wall clients (plus ``leaders``
    leader clients and ``units`` unit-scoped clients spread over every unit of the
    catalog), and ``slow`` slow wall clients."""

    name: str
    clients: int
    slow: int
    warmup: float  # seconds of deltas before the measured window
    seconds: float  # measured window
    batch: bool = True  # clients accept batch frames, as the board pages do
    deflate: bool = True  # clients offer permessage-deflate, as browsers do
    leaders: int = 0
    units: int = 0

    @property
    def total(self) -> int:
        """Every normal client of the scenario (without the slow ones)."""
        return self.clients + self.leaders + self.units


@dataclass(frozen=True, slots=True)
class Sizes:
    """Workload of one profile."""

    rate: float  # deltas per second
    drain: float  # longest wait for the last measured delta after publishing it
    scenarios: tuple[Scenario, ...]


#: The mixed city: walls in control rooms, leaders' pages, and ward/department pages.
CITY_WALLS, CITY_LEADERS, CITY_UNITS = 20, 100, 5000

SIZES = {
    "quick": Sizes(
        rate=100.0,
        drain=5.0,
        scenarios=(
            Scenario("1000", clients=1000, slow=0, warmup=2.0, seconds=10.0),
            Scenario("5000", clients=5000, slow=0, warmup=2.0, seconds=10.0),
            Scenario("10000", clients=10000, slow=0, warmup=2.0, seconds=10.0),
            Scenario(
                "city",
                clients=CITY_WALLS,
                leaders=CITY_LEADERS,
                units=CITY_UNITS,
                slow=0,
                warmup=2.0,
                seconds=10.0,
            ),
            Scenario("slow", clients=1000, slow=100, warmup=2.0, seconds=10.0),
            # 1000_unbatched (clients without batch frames) runs in the full profile only:
            # the quick profile must stay under 5 minutes on a slow two-core machine.
        ),
    ),
    "full": Sizes(
        rate=100.0,
        drain=15.0,
        scenarios=(
            Scenario("1000", clients=1000, slow=0, warmup=5.0, seconds=60.0),
            Scenario("5000", clients=5000, slow=0, warmup=5.0, seconds=60.0),
            Scenario("10000", clients=10000, slow=0, warmup=5.0, seconds=60.0),
            Scenario(
                "city",
                clients=CITY_WALLS,
                leaders=CITY_LEADERS,
                units=CITY_UNITS,
                slow=0,
                warmup=5.0,
                seconds=60.0,
            ),
            Scenario("slow", clients=1000, slow=100, warmup=5.0, seconds=60.0),
            Scenario("1000_unbatched", clients=1000, slow=0, warmup=5.0, seconds=60.0, batch=False),
            Scenario("10000_plain", clients=10000, slow=0, warmup=5.0, seconds=60.0, deflate=False),
        ),
    ),
}
#: Run the web node on a core of its own (see :func:`_isolated`).
ISOLATE = True
#: Connections per client process: the clients are spread over enough processes that
#: none of them limits the figures (each reports its own CPU).
CLIENTS_PER_PROCESS = 2500
MAX_CLIENT_PROCESSES = 4


def scaled(sizes: Sizes, scale: float) -> Sizes:
    """``sizes`` with client counts and durations multiplied by ``scale`` (with floors)."""
    if scale == 1.0:
        return sizes
    scenarios = []
    for scenario in sizes.scenarios:
        clients = max(10, round(scenario.clients * scale))
        named = scenario.name[:1].isdigit()
        scenarios.append(
            dataclasses.replace(
                scenario,
                name=str(clients) + scenario.name.lstrip("0123456789") if named else scenario.name,
                clients=clients,
                slow=max(2, round(scenario.slow * scale)) if scenario.slow else 0,
                leaders=round(scenario.leaders * scale),
                units=round(scenario.units * scale),
                warmup=max(2.0, scenario.warmup * scale),
                seconds=max(5.0, scenario.seconds * scale),
            )
        )
    return dataclasses.replace(sizes, scenarios=tuple(scenarios))


# -- histogram --------------------------------------------------------------------------


def hist_percentile(hist: Mapping[int, int], q: float) -> float | None:
    """The ``q``-quantile (0..1) in ms of a histogram of 0.1 ms buckets (bucket midpoint)."""
    total = sum(hist.values())
    if total == 0:
        return None
    rank = q * (total - 1)
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen > rank:
            return round((bucket + 0.5) * 1000 / BUCKETS_PER_SECOND, 1)
    return None  # unreachable: seen ends at total > rank


def hist_summary(hist: Mapping[int, int]) -> dict[str, Any]:
    """``count``, ``p50_ms``, ``p90_ms``, ``p99_ms``, ``max_ms``, ``mean_ms`` of a histogram."""
    total = sum(hist.values())
    if not total:
        return {"count": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    mean = sum((b + 0.5) * n for b, n in hist.items()) / total * 1000 / BUCKETS_PER_SECOND
    return {
        "count": total,
        "p50_ms": hist_percentile(hist, 0.50),
        "p90_ms": hist_percentile(hist, 0.90),
        "p99_ms": hist_percentile(hist, 0.99),
        "max_ms": round((max(hist) + 1) * 1000 / BUCKETS_PER_SECOND, 1),
        "mean_ms": round(mean, 1),
    }


# -- the client process -------------------------------------------------------------------


@dataclass(slots=True)
class Seen:
    """One distinct delta or batch frame a process received: its bytes, what it carries
    for the connections that share its key, and when each of them received it."""

    payload: bytes  # as received (compressed or not)
    batch: bool  # a batch frame
    sents: list[float]  # publish instants of the measured deltas it carries
    count: int  # measured deltas it carries (of the receiving connection's scope)
    foreign: int  # deltas it carries that the receiving connection's scope must not see
    numbers: frozenset[int]  # every delta number it carries
    arrivals: array[float] = field(default_factory=lambda: array("d"))


@dataclass
class Group:
    """What one kind of client (normal or slow) saw, summed over its connections."""

    clients: int = 0
    connected: int = 0
    failed: int = 0
    closed: int = 0
    close_codes: dict[str, int] = field(default_factory=dict)
    delivered: int = 0
    complete: int = 0  # connections that received the last measured delta
    resnapshots: int = 0  # snapshots after the initial one ("slow client", "epoch changed")
    frames: int = 0
    batches: int = 0  # frames that carried several deltas
    wire_bytes: int = 0  # payload bytes of the text frames received
    last_arrival: float = 0.0  # of a measured delta
    batch: bool = True  # sent "batch": true in auth
    deflate: bool = True  # offered permessage-deflate, as browsers do
    expected: int = 0  # measured deliveries its connections should get
    foreign: int = 0  # deltas received that the connection's scope must not see
    seen: dict[tuple[bytes, int, int], Seen] = field(default_factory=dict)  # distinct frames
    parsed: list[Seen] = field(default_factory=list)  # every parsed frame, with its arrivals

    @property
    def offer(self) -> str:
        """The handshake's extension offer line (a browser's, when it offers deflate)."""
        offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        return offer if self.deflate else ""

    def frame(self, data: bytes, start: int, end: int, key: tuple[bytes, int, int]) -> Seen | None:
        """The parse of the frame ``data[start:end]`` if an identical frame (compared byte
        for byte) was parsed before under ``key``; the members of a fan-out group receive
        the same bytes, so each distinct frame is parsed once per process."""
        seen = self.seen.get(key)
        if seen is not None and end - start == len(seen.payload) and data.startswith(seen.payload, start):
            return seen
        return None

    def histogram(self) -> dict[int, int]:
        """Every (arrival, delta) latency in 0.1 ms buckets: each parsed frame's arrivals
        (bucketed first: thousands of clients receive a frame within a few ms) against the
        publish instants of the measured deltas it carried."""
        hist: dict[int, int] = {}
        for seen in self.parsed:
            if not seen.arrivals or not seen.sents:
                continue
            arrivals: dict[int, int] = {}
            for arrival in seen.arrivals:
                bucket = int(arrival * BUCKETS_PER_SECOND)
                arrivals[bucket] = arrivals.get(bucket, 0) + 1
            for sent in seen.sents:
                base = sent * BUCKETS_PER_SECOND
                for bucket, n in arrivals.items():
                    latency = int(bucket - base)
                    hist[latency] = hist.get(latency, 0) + n
        return hist

    def to_json(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "connected": self.connected,
            "failed": self.failed,
            "closed": self.closed,
            "close_codes": self.close_codes,
            "delivered": self.delivered,
            "complete": self.complete,
            "resnapshots": self.resnapshots,
            "frames": self.frames,
            "batches": self.batches,
            "wire_bytes": self.wire_bytes,
            "batch": self.batch,
            "last_arrival": self.last_arrival,
            "expected": self.expected,
            "foreign": self.foreign,
            "hist": sorted(self.histogram().items()),
        }


_DELTA = b'{"type":"delta"'
_BATCH = b'{"type":"batch"'
_SNAPSHOT = b'{"type":"snapshot"'
_N_FIELD = b'"bench_n":'
_SENT_FIELD = b'"bench_sent":'
_DEFLATE_TAIL = b"\x00\x00\xff\xff"


def _inflate(payload: bytes) -> bytes:
    """A permessage-deflate message without context takeover (RFC 7692), decompressed."""
    return zlib.decompressobj(-15).decompress(payload + _DEFLATE_TAIL)


def _masked(opcode: Opcode, payload: bytes) -> bytes:
    return Frame(opcode, payload).serialize(mask=True)


class BoardConnection(asyncio.Protocol):
    """A minimal wall-scope websocket client (see the module docstring)."""

    def __init__(
        self,
        group: Group,
        *,
        host: str,
        token: str,
        first: int,
        last: int,
        slow: str | None,
        modulus: int = 0,
        residue: int = 0,
    ) -> None:
        self.group = group
        self.host = host
        self.token = token
        # A unit-scoped client sees the deltas numbered ``residue`` modulo ``modulus``
        # (the publisher tags delta n with unit n % modulus); others see every delta.
        self.modulus = modulus
        self.residue = residue
        self.first = first  # measured delta numbers: first..last inclusive
        self.last = last if not modulus else last - (last - residue) % modulus
        self.slow = slow  # None, "never" or "trickle"
        if modulus:
            group.expected += max(0, (self.last - residue) // modulus - (first - 1 - residue) // modulus)
        else:
            group.expected += last - first + 1
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._upgraded = False
        self._pending = b""
        self._snapshots = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(
            (
                f"GET /ws HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{self.group.offer}\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.group.closed += 1
        if not self.ready.done():
            self.ready.set_exception(BenchError(f"connection lost before the snapshot ({exc})"))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if self._pending:
            data = self._pending + data
            self._pending = b""
        if not self._upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self._pending = data
                return
            if not data.startswith(b"HTTP/1.1 101"):
                line = data.split(b"\r\n", 1)[0].decode("latin-1")
                self.ready.set_exception(BenchError(f"handshake refused: {line}"))
                assert self.transport is not None
                self.transport.close()
                return
            self._upgraded = True
            assert self.transport is not None
            auth = {"type": "auth", "token": self.token, "batch": self.group.batch}
            self.transport.write(_masked(Opcode.TEXT, orjson.dumps(auth)))
            data = data[end + 4 :]
        self._frames(data, now)
        if self.slow is not None and self.ready.done() and self.transport is not None:
            self.transport.pause_reading()
            if self.slow == "trickle":
                asyncio.get_running_loop().call_later(1.0, self._trickle)

    def _trickle(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _frames(self, data: bytes, now: float) -> None:
        group = self.group
        pos, end = 0, len(data)
        while end - pos >= 2:
            length = data[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            if end - pos < head + length:
                break
            opcode = data[pos] & 0x0F
            compressed = data[pos] & 0x40  # RSV1: permessage-deflate
            start = pos + head
            pos = start + length
            group.frames += 1
            if opcode == 1:
                group.wire_bytes += length
                if compressed:
                    self._compressed(data, start, pos, now)
                elif data.startswith(_BATCH, start) or data.startswith(_DELTA, start):
                    self._deltas(data, start, pos, now)
                else:
                    self._message(data[start:pos])
            elif opcode == 9 and self.transport is not None:
                self.transport.write(_masked(Opcode.PONG, data[start:pos]))
            elif opcode == 8:
                code = int.from_bytes(data[start : start + 2], "big") if length >= 2 else 1005
                group.close_codes[str(code)] = group.close_codes.get(str(code), 0) + 1
                if self.transport is not None:
                    self.transport.close()
                return
        self._pending = data[pos:]

    def _message(self, message: bytes) -> None:
        """A text message other than deltas: the first snapshot makes the connection ready."""
        if message.startswith(_SNAPSHOT):
            self._snapshots += 1
            if self._snapshots == 1:
                if not self.ready.done():
                    self.ready.set_result(None)
            else:
                self.group.resnapshots += 1

    def _deltas(self, data: bytes, start: int, end: int, now: float) -> None:
        """Account a plain delta or batch frame ``data[start:end]`` that arrived at ``now``;
        identical frames are recognised by their first delta number and length."""
        at = data.find(_N_FIELD, start, end)
        if at < 0:
            return
        group = self.group
        key = (data[at + len(_N_FIELD) : data.find(b",", at, end)], end - start, self.residue)
        seen = group.frame(data, start, end, key)
        if seen is None:
            seen = self._parse(data[start:end], data[start:end])
            group.parsed.append(seen)
            group.seen.setdefault(key, seen)
        self._account(seen, now)

    def _compressed(self, data: bytes, start: int, end: int, now: float) -> None:
        """Account a compressed message ``data[start:end]``; identical compressed bytes
        (the fan-out group's shared frame) are recognised by their ends and length."""
        group = self.group
        key = (data[start : start + 16] + data[end - 16 : end], end - start, self.residue)
        seen = group.frame(data, start, end, key)
        if seen is None:
            message = _inflate(data[start:end])
            if not (message.startswith(_BATCH) or message.startswith(_DELTA)):
                self._message(message)
                return
            seen = self._parse(message, data[start:end])
            group.parsed.append(seen)
            group.seen.setdefault(key, seen)
        self._account(seen, now)

    def _account(self, seen: Seen, now: float) -> None:
        group = self.group
        group.batches += seen.batch
        group.foreign += seen.foreign
        if seen.count:
            seen.arrivals.append(now)
            group.delivered += seen.count
            if now > group.last_arrival:
                group.last_arrival = now
        if self.last in seen.numbers:
            group.complete += 1

    def _parse(self, payload: bytes, wire: bytes) -> Seen:
        """The deltas of one frame (``payload``, received as ``wire``), as this connection's
        scope and measured window see them."""
        sents: list[float] = []
        numbers: list[int] = []
        foreign = 0
        at = payload.find(_N_FIELD)
        while at >= 0:
            comma = payload.find(b",", at)
            number = int(payload[at + len(_N_FIELD) : comma])
            numbers.append(number)
            if self.modulus and number % self.modulus != self.residue:
                foreign += 1  # another unit's delta: a scope leak
            elif self.first <= number <= self.last:
                at = comma + 1 + len(_SENT_FIELD)
                sents.append(float(payload[at : payload.find(b",", at)]))
            at = payload.find(_N_FIELD, at + len(_N_FIELD))
        return Seen(wire, payload.startswith(_BATCH), sents, len(sents), foreign, frozenset(numbers))


async def _connect(
    loop: asyncio.AbstractEventLoop,
    spec: Mapping[str, Any],
    group: Group,
    slow: str | None,
    gate: asyncio.Semaphore,
    role: Mapping[str, Any],
) -> BoardConnection | None:
    async with gate:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if slow is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RCVBUF)
        try:
            await loop.sock_connect(sock, (spec["host"], spec["port"]))
            _, protocol = await loop.create_connection(
                lambda: BoardConnection(
                    group,
                    host=f"{spec['host']}:{spec['port']}",
                    token=role["token"],
                    first=spec["first"],
                    last=spec["last"],
                    slow=slow,
                    modulus=role.get("modulus", 0),
                    residue=role.get("residue", 0),
                ),
                sock=sock,
            )
            await asyncio.wait_for(protocol.ready, 60)
        except (OSError, BenchError, TimeoutError) as exc:
            sock.close()
            group.failed += 1
            if group.failed <= 3:
                log.warning("client connection failed: %s", exc)
            return None
        group.connected += 1
        return protocol


async def _clients(spec: Mapping[str, Any]) -> None:
    """One client process: the connections of ``spec["roles"]`` (and slow ones, if any)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    batch = bool(spec.get("batch", True))
    deflate = bool(spec.get("deflate", True))
    roles: dict[str, Group] = {}
    slow = spec.get("slow") or {"never": 0, "trickle": 0, "token": ""}
    never = Group(clients=slow["never"], batch=batch, deflate=deflate)
    trickle = Group(clients=slow["trickle"], batch=batch, deflate=deflate)
    gate = asyncio.Semaphore(spec.get("concurrency", CONNECT_CONCURRENCY))
    started = time.monotonic()
    # Slow clients first: normal ones then connect while the slow ones already hold on.
    plan: list[tuple[Group, str | None, Mapping[str, Any]]] = []
    plan += [(never, "never", slow)] * never.clients
    plan += [(trickle, "trickle", slow)] * trickle.clients
    for role in spec["roles"]:
        group = roles.setdefault(role["role"], Group(batch=batch, deflate=deflate))
        group.clients += role["count"]
        plan += [(group, None, role)] * role["count"]
    connections = await asyncio.gather(*(_connect(loop, spec, g, kind, gate, r) for g, kind, r in plan))
    _write_json(
        Path(spec["ready"]),
        {
            "connected": sum(g.connected for g in roles.values()),
            "failed": sum(g.failed for g in roles.values()),
            "slow_connected": never.connected + trickle.connected,
            "seconds": round(time.monotonic() - started, 2),
        },
    )
    while not stop.is_set():
        if all(g.complete >= g.connected for g in roles.values()):
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)
    usage = os.times()
    _write_json(
        Path(spec["out"]),
        {
            "roles": {name: group.to_json() for name, group in roles.items()},
            "never": never.to_json(),
            "trickle": trickle.to_json(),
            "cpu_seconds": round(usage.user + usage.system, 3),
            "finished_at": time.time(),
        },
    )
    for connection in connections:
        if connection is not None and connection.transport is not None:
            connection.transport.abort()


def clients_main(spec_path: Path) -> int:
    """Entry point of the client process (``python -m bench.fanout clients SPEC.json``)."""
    import uvloop

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s clients: %(message)s")
    spec = orjson.loads(spec_path.read_bytes())
    uvloop.run(_clients(spec))
    return 0


def _write_json(path: Path, value: Any) -> None:
    partial = path.with_suffix(".partial")
    partial.write_bytes(orjson.dumps(value))
    partial.rename(path)


# -- the publisher --------------------------------------------------------------------------


def _alert_value(number: int, sent: float, unit: str = "P-BEN-THANH") -> bytes:
    """An alert JSON of realistic size; ``bench_n``/``bench_sent`` first (the client's parser
    relies on that order)."""
    fingerprint = f"bench:{number % KEYS}"
    head = b'{"bench_n":%d,"bench_sent":%.6f,' % (number, sent)
    body = orjson.dumps(
        {
            "fingerprint": fingerprint,
            "rule": "item_overdue",
            "severity": "critical",
            "state": "firing",
            "unit": unit,
            "unit_name_vi": "Phường Bến Thành",
            "unit_name_en": "Ben Thanh Ward",
            "item_id": f"PA-2026-{number:06d}",
            "opened_at": sent,
            "updated_at": sent,
            "acked_at": None,
            "acked_by": None,
            "escalation": 1,
            "audience": ["wall", "leaders", f"unit:{unit}"],
            "title_vi": "Phản ánh quá hạn xử lý: rác thải tồn đọng trên vỉa hè đường Lê Lợi",
            "title_en": "Feedback overdue: garbage left on the Le Loi street pavement",
            "text_vi": "Hạn xử lý đã qua 2 ngày làm việc; đơn vị chưa cập nhật tiến độ.",
            "text_en": "The deadline passed 2 working days ago; the unit has not reported progress.",
            "silenced": False,
            "reminders": 0,
            "incident": None,
            "explanations": [],
            "facts": {"due_at": sent - 172800, "category": "moi-truong", "priority": "normal"},
        }
    )
    return head + body[1:]


async def _publish(
    redis_url: str, *, rate: float, count: int, first: int, units: Sequence[str] = (BENCH_UNIT,)
) -> tuple[float, float, int, list[float]]:
    """Publish deltas ``0..count-1`` at ``rate``/s, delta n an alert of unit
    ``units[n % len(units)]``; return the publish instants of the first and last measured
    delta (``first..count-1``), how many publishes were late by more than 50 ms, and every
    publish call's duration (seconds)."""
    store = BoardStore.from_url(redis_url)
    late = 0
    durations: list[float] = []
    window = (0.0, 0.0)
    try:
        start = time.time() + 0.2
        for number in range(count):
            target = start + number / rate
            delay = target - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.05:
                late += 1
            sent = time.time()
            unit = units[number % len(units)]
            await store.publish(
                [Change("alert", f"bench:{number % KEYS}", unit, _alert_value(number, sent, unit))],
                checked=True,
            )
            durations.append(time.time() - sent)
            if number == first:
                window = (sent, window[1])
            if number == count - 1:
                window = (window[0], sent)
    finally:
        await store.close()
    return window[0], window[1], late, durations


async def _reset_board(redis_url: str) -> None:
    store = BoardStore.from_url(redis_url)
    try:
        await store.client.delete(FEED_KEY, ALERTS_KEY, EPOCH_KEY)
        await store.ensure_epoch()
    finally:
        await store.close()


def _metrics(port: int) -> dict[str, float]:
    """The web node's Prometheus counters and gauges (``name{labels}`` → value); empty
    when a saturated node does not answer in time (its backlog is still draining)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            text = response.read().decode()
    except OSError as exc:
        log.warning("the web node's /metrics did not answer (%s); its counters are left out", exc)
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("govpulse_web_") and " " in line:
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value)
    return out


# -- the benchmark --------------------------------------------------------------------------


@dataclass(slots=True)
class Isolation:
    """Where the processes of a run are placed (see :func:`_isolated`)."""

    web_cpus: set[int] = field(default_factory=set)  # empty: not isolated
    other_cpus: set[int] = field(default_factory=set)

    def place_web(self, pid: int) -> None:
        """Move every thread of the web node onto its own core."""
        if not self.web_cpus:
            return
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):  # a thread that just ended
                os.sched_setaffinity(int(tid), self.web_cpus)

    def to_json(self) -> dict[str, Any]:
        return {"web_cpus": sorted(self.web_cpus), "other_cpus": sorted(self.other_cpus)}


@contextlib.contextmanager
def _isolated() -> Iterator[Isolation]:
    """Give the web node a core of its own, so that the client processes cannot take its
    time: this process, and so Redis and the client processes it starts, runs on the other
    cores, and :meth:`Isolation.place_web` moves the web node onto the first one. (The
    receiving side of loopback TCP still runs on the web node's core, in its ``write``
    calls: on a network the clients' machines would do that work.) Nothing happens on a
    machine with one core or without ``sched_setaffinity``."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    if len(cpus) < 2:
        yield Isolation()
        return
    isolation = Isolation(web_cpus={cpus[0]}, other_cpus=set(cpus[1:]))
    os.sched_setaffinity(0, isolation.other_cpus)
    try:
        yield isolation
    finally:
        os.sched_setaffinity(0, set(cpus))


def _machine_times() -> tuple[int, int] | None:
    """Idle and total CPU time of the machine so far (jiffies; ``None`` off Linux)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return None
    return values[3] + values[4], sum(values)  # idle + iowait


def _machine_idle(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The machine's idle share (%) between two :func:`_machine_times`."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]) * 100, 1)


def _spread(count: int, parts: int) -> list[int]:
    """``count`` split into ``parts`` near-equal shares."""
    return [count // parts + (1 if i < count % parts else 0) for i in range(parts)]


def _client_specs(scenario: Scenario, units: Sequence[str], processes: int) -> list[list[dict[str, Any]]]:
    """Per client process, its roles: ``{"role", "token", "count", "modulus", "residue"}``."""
    now = time.time()

    def mint(scope: str) -> str:
        return mint_token(SECRET, scope=scope, ttl_seconds=3600, subject="bench-fanout", now=now)

    specs: list[list[dict[str, Any]]] = [[] for _ in range(processes)]
    for role, scope, count in (("wall", "wall", scenario.clients), ("leader", "leader", scenario.leaders)):
        if count:
            token = mint(scope)
            for roles, share in zip(specs, _spread(count, processes), strict=True):
                if share:
                    roles.append({"role": role, "token": token, "count": share})
    if scenario.units:
        # Unit u's clients go round-robin over the processes.
        per_unit = _spread(scenario.units, len(units))
        slot = 0
        for residue, (unit, count) in enumerate(zip(units, per_unit, strict=True)):
            token = mint(f"unit:{unit}")
            for _ in range(count):
                specs[slot % processes].append(
                    {"role": "unit", "token": token, "count": 1, "modulus": len(units), "residue": residue}
                )
                slot += 1
    return specs


def normal_delivered(results: Sequence[Mapping[str, Any]]) -> int:
    """Measured deliveries to the normal clients of every client process."""
    return sum(int(g["delivered"]) for r in results for g in r["roles"].values())


def _merge(groups: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several processes' :class:`Group` results as one."""
    hist: dict[int, int] = {}
    out: dict[str, Any] = {}
    for group in groups:
        pairs = group["hist"].items() if isinstance(group["hist"], dict) else group["hist"]
        for bucket, n in pairs:
            hist[int(bucket)] = hist.get(int(bucket), 0) + int(n)
        for key, value in group.items():
            if key in ("hist", "batch"):
                continue
            if key == "last_arrival":
                out[key] = max(out.get(key, 0.0), value)
            elif key == "close_codes":
                codes = out.setdefault(key, {})
                for code, n in value.items():
                    codes[code] = codes.get(code, 0) + n
            else:
                out[key] = out.get(key, 0) + value
    out["hist"] = hist
    return out


def _run_scenario(
    deployment: Deployment,
    scenario: Scenario,
    sizes: Sizes,
    index: int,
    units: Sequence[str],
    isolation: Isolation,
) -> dict[str, Any]:
    asyncio.run(_reset_board(deployment.redis_url))
    port = services.free_port()
    web = deployment.govpulse(f"web-{scenario.name}", "web", env={"GOVPULSE_WEB_PORT": str(port)})
    isolation.place_web(web.process.pid)
    processes = max(1, min(MAX_CLIENT_PROCESSES, -(-(scenario.total + scenario.slow) // CLIENTS_PER_PROCESS)))
    clients: list[Any] = []
    try:
        services.wait_for_port(port, timeout=30, name="web node", process=web.process)
        warmup = round(scenario.warmup * sizes.rate)
        measured = round(scenario.seconds * sizes.rate)
        total = warmup + measured
        roles = _client_specs(scenario, units, processes)
        slow_token = mint_token(SECRET, scope="wall", ttl_seconds=3600, subject="bench-slow", now=time.time())
        paths = []
        for number, process_roles in enumerate(roles):
            base = deployment.workdir / f"clients-{index}-{number}"
            ready, out, spec_path = (
                base.with_suffix(s) for s in (".ready.json", ".result.json", ".spec.json")
            )
            spec = {
                "host": "127.0.0.1",
                "port": port,
                "roles": process_roles,
                "slow": {
                    "token": slow_token,
                    "never": (scenario.slow + 1) // 2,
                    "trickle": scenario.slow // 2,
                }
                if number == 0 and scenario.slow
                else None,
                "batch": scenario.batch,
                "deflate": scenario.deflate,
                # The node's listen backlog (100) is shared by every client process.
                "concurrency": max(10, CONNECT_CONCURRENCY // processes),
                "first": warmup,
                "last": total - 1,
                "ready": str(ready),
                "out": str(out),
            }
            spec_path.write_bytes(orjson.dumps(spec))
            paths.append((spec_path, ready, out))
        time.sleep(0.5)
        web_rss_before = rss_bytes(web.process.pid)
        with CpuSampler(interval=0.1) as sampler:
            sampler.watch("web", web.process.pid)
            for number, (spec_path, _, _) in enumerate(paths):
                process = deployment.start(
                    f"clients-{scenario.name}-{number}",
                    [sys.executable, "-m", "bench.fanout", "clients", str(spec_path)],
                )
                clients.append(process)
                sampler.watch(f"clients-{number}", process.process.pid)
            connect_timeout = 60 + (scenario.total + scenario.slow) / 50
            wait_until(
                lambda: all(
                    ready.exists() or not c.running for (_, ready, _), c in zip(paths, clients, strict=True)
                ),
                timeout=connect_timeout,
                interval=0.1,
                what=f"{scenario.total + scenario.slow} websocket clients to connect",
            )
            readies = []
            for (_, ready, _), process in zip(paths, clients, strict=True):
                if not ready.exists():
                    raise BenchError(f"a client process exited early; see {process.log_path}")
                readies.append(orjson.loads(ready.read_bytes()))
            connected = sum(r["connected"] for r in readies)
            if connected < scenario.total:
                raise BenchError(
                    f"only {connected} of {scenario.total} clients connected; "
                    f"see {clients[0].log_path} and {web.log_path}"
                )
            time.sleep(1.0)  # the last snapshots leave the node's buffers
            web_rss_connected = rss_bytes(web.process.pid)
            log.info(
                "fanout %s: %d clients (+%d slow) in %d processes connected in %.1fs; %d deltas at %.0f/s",
                scenario.name,
                connected,
                sum(r["slow_connected"] for r in readies),
                processes,
                max(r["seconds"] for r in readies),
                total,
                sizes.rate,
            )
            machine_before = _machine_times()
            start, end, late, durations = asyncio.run(
                _publish(
                    deployment.redis_url,
                    rate=sizes.rate,
                    count=total,
                    first=warmup,
                    units=units if scenario.units else (BENCH_UNIT,),
                )
            )
            published = time.time()
            machine = _machine_idle(machine_before, _machine_times())
            outs = [out for _, _, out in paths]
            wait_until(
                lambda: (
                    all(o.exists() for o in outs)
                    or not all(c.running for c in clients)
                    or time.time() > published + sizes.drain
                ),
                timeout=sizes.drain + 5,
                interval=0.05,
                what="the clients to receive the last delta",
            )
            drained = all(o.exists() for o in outs)
            for out, process in zip(outs, clients, strict=True):
                if not out.exists() and process.running:
                    process.process.send_signal(signal.SIGTERM)
            for out, process in zip(outs, clients, strict=True):
                wait_until(
                    lambda out=out, process=process: out.exists() or not process.running,
                    timeout=30,
                    what="client results",
                )
                if not out.exists():
                    raise BenchError(f"a client process wrote no results; see {process.log_path}")
            results = [orjson.loads(out.read_bytes()) for out in outs]
            time.sleep(0.15)  # one more CPU sample after the window
            web_cpu = sampler.between("web", start, end)
            # Until the last measured delivery: what the node spent to deliver them all.
            arrived = max((g["last_arrival"] for r in results for g in r["roles"].values()), default=end)
            web_cpu_delivering = sampler.between("web", start, min(max(arrived, end), time.time() - 0.1))
            client_cpu = [sampler.between(f"clients-{n}", start, end) for n in range(len(clients))]
        metrics = _metrics(port)
        if not web.running:
            raise BenchError(f"the web node exited during the measurement; see {web.log_path}")
    finally:
        for process in clients:
            process.stop(timeout=10)
        web.stop(timeout=15)
    seconds = max(1e-3, end - start)
    by_role = {
        role: _merge([r["roles"][role] for r in results if role in r["roles"]])
        for role in ("wall", "leader", "unit")
        if any(role in r["roles"] for r in results)
    }
    normal = _merge(list(by_role.values()))
    figures = hist_summary(normal["hist"])
    expected = normal["expected"]
    data: dict[str, Any] = {
        "clients": scenario.total,
        "batch": scenario.batch,
        "deflate": scenario.deflate,
        "frames_per_client": round(normal["frames"] / max(1, normal["connected"]), 1),
        # Mean payload of the text frames a client received (compressed when deflate).
        "mean_frame_bytes": round(normal["wire_bytes"] / max(1, normal["frames"])),
        **figures,
        "cpu_pct": round(web_cpu / seconds * 100, 1),
        # Web CPU per delivered delta (µs), up to the last measured arrival: the node's
        # efficiency, less sensitive than cpu_pct to a machine shared with other work.
        "web_cpu_us_per_delivery": round(web_cpu_delivering / max(1, normal_delivered(results)) * 1e6, 2),
        "delivered_share": round(normal["delivered"] / expected, 4) if expected else None,
        # What the web node achieved: measured deliveries per second from the first
        # measured publish to the last measured arrival.
        "deliveries_per_s": round(normal["delivered"] / max(1e-3, normal["last_arrival"] - start)),
        "memory_per_connection_bytes": round(
            (web_rss_connected - web_rss_before)
            / max(1, connected + sum(r["slow_connected"] for r in readies))
        ),
        "web_rss_bytes": {"before_clients": web_rss_before, "connected": web_rss_connected},
        "client_processes": len(clients),
        "client_process_cpu_pct": [round(c / seconds * 100, 1) for c in client_cpu],
        # Idle share of the whole machine while publishing: well above 0, nobody (clients,
        # web node, Redis) waited for a core.
        "machine_idle_pct": machine,
        "deltas": measured,
        "warmup_deltas": warmup,
        "seconds": round(seconds, 2),
        "rate_per_s": sizes.rate,
        "drained": drained,
        "connect_seconds": max(r["seconds"] for r in readies),
        "normal_clients": {k: v for k, v in normal.items() if k != "hist"},
        "publisher": {
            "late_over_50ms": late,
            "publish_call_p99_ms": round(sorted(durations)[int(0.99 * (len(durations) - 1))] * 1000, 2),
        },
        "web_metrics": {
            key: value
            for key, value in metrics.items()
            if key.startswith(
                (
                    "govpulse_web_slow_client_drops_total",
                    "govpulse_web_snapshots_total",
                    "govpulse_web_frames_sent_total",
                    "govpulse_web_deltas_dispatched_total",
                    "govpulse_web_groups",
                    "govpulse_web_group_",
                    "govpulse_web_write_pass",
                )
            )
        },
    }
    if len(by_role) > 1:
        data["roles"] = {
            role: {
                "clients": group["connected"],
                **{k: v for k, v in hist_summary(group["hist"]).items() if k != "mean_ms"},
                "delivered_share": round(group["delivered"] / group["expected"], 4)
                if group["expected"]
                else None,
                "foreign_deltas": group["foreign"],
            }
            for role, group in by_role.items()
        }
    if scenario.slow:
        data["slow_clients"] = {
            "clients": scenario.slow,
            "receive_buffer_bytes": SLOW_RCVBUF,
            # never: stop reading after the snapshot; trickle: read one chunk per second.
            **{
                kind: {k: v for k, v in _merge([r[kind] for r in results]).items() if k != "hist"}
                for kind in ("never", "trickle")
            },
        }
    return data


def run(profile: str, *, scale: float = 1.0, keep: bool = False) -> list[Section]:
    """Run the fan-out benchmark; return its section."""
    sizes = scaled(SIZES[profile], scale)
    started, load_before = time.monotonic(), load_average()
    results: dict[str, Any] = {}
    with (
        _isolated() if ISOLATE else contextlib.nullcontext(Isolation()) as isolation,
        Deployment(
            "fanout",
            broker=False,
            keep=keep,
            # No worker: the board is "stale" to the clients, which changes nothing here.
            env={"GOVPULSE_CLOCK": "wall"},
        ) as deployment,
    ):
        settings = deployment.settings()
        units = [unit.code for unit in Catalog.from_file(settings.units_file)]
        for index, scenario in enumerate(sizes.scenarios):
            log.info(
                "fanout %s: %d clients%s, %.0f s warm-up, %.0f s measured",
                scenario.name,
                scenario.clients,
                f" + {scenario.slow} slow" if scenario.slow else "",
                scenario.warmup,
                scenario.seconds,
            )
            results[scenario.name] = _run_scenario(deployment, scenario, sizes, index, units, isolation)
            _print(scenario.name, results[scenario.name])
    baseline = next((s for s in sizes.scenarios if not s.slow), None)
    if "slow" in results and baseline is not None and baseline.name in results:
        reference = results[baseline.name]
        results["slow"]["without_slow_clients"] = {
            "scenario": baseline.name,
            "p50_ms": reference["p50_ms"],
            "p99_ms": reference["p99_ms"],
        }
        print(
            f"  normal clients without slow ones (scenario {baseline.name}): "
            f"p50 {reference['p50_ms']} ms, p99 {reference['p99_ms']} ms",
            flush=True,
        )
    results["conditions"] = {
        "web_processes": 1,
        "scope": "wall (city: 20 wall, 100 leader, unit-scoped clients spread over every unit)",
        "rate_per_s": sizes.rate,
        "ws_queue": settings.ws_queue,
        "ws_slow_policy": settings.ws_slow_policy,
        "ws_heartbeat_s": settings.ws_heartbeat,
        "delta_frame_bytes": len(_alert_value(123456, time.time())) + 60,
        "clients_per_process": CLIENTS_PER_PROCESS,
        "max_client_processes": MAX_CLIENT_PROCESSES,
        "cpus": os.cpu_count(),
        "isolation": isolation.to_json(),
    }
    return [Section("fanout", results, run_info(profile, started=started, load_before=load_before))]


def _print(name: str, figures: Mapping[str, Any]) -> None:
    label = f"{name}: {figures['clients']} clients" + (
        f" + {figures['slow_clients']['clients']} slow" if "slow_clients" in figures else ""
    )
    print(
        f"  {label:<30} p50 {figures['p50_ms']} ms  p99 {figures['p99_ms']} ms  "
        f"max {figures['max_ms']} ms  web cpu {figures['cpu_pct']} % "
        f"({figures['web_cpu_us_per_delivery']} µs/delivery)  "
        f"delivered {figures['delivered_share']} ({figures['deliveries_per_s']:,}/s)  "
        f"{figures['memory_per_connection_bytes'] / 1024:.1f} KB/connection  "
        f"(client processes' cpu {figures['client_process_cpu_pct']} %, "
        f"machine idle {figures['machine_idle_pct']} %, {figures['mean_frame_bytes']:,} B/frame)",
        flush=True,
    )
    for role, numbers in figures.get("roles", {}).items():
        print(
            f"    {role:<8} {numbers['clients']:>6} clients  p50 {numbers['p50_ms']} ms  "
            f"p99 {numbers['p99_ms']} ms  delivered {numbers['delivered_share']}  "
            f"foreign deltas {numbers['foreign_deltas']}",
            flush=True,
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "clients":
        sys.exit(clients_main(Path(sys.argv[2])))
    print("usage: python -m bench.fanout clients SPEC.json", file=sys.stderr)
    sys.exit(2)
