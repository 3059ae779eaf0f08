"""The board's Redis layout, shared by the worker's publisher and the web nodes.

Keys (see docs/protocol.md for the full contract)::

    board:epoch          string   random id of the current feed; changes when the feed was lost
    board:feed           Stream   deltas, XADD MAXLEN ~ GOVPULSE_FEED_MAXLEN;
                                  fields k=kind, u=unit, e=epoch, b=body (delta JSON)
    board:units          hash     unit code   -> unit JSON
    board:alerts         hash     fingerprint -> alert JSON
    board:queue:<unit>   hash     item id     -> queue entry JSON (domain.items.item_summary)
    board:workers        hash     worker id   -> {"beat": real epoch s, "clock": clock now, ...}
    board:indicators     hash     CODE|UNIT|PERIOD -> indicator row JSON (domain.indicators.rows);
                                  not in the feed: pages read it over HTTP (/indicators.json)

Every write goes through :meth:`BoardStore.publish`: one Lua script per batch sets or
deletes the hash field *and* appends the delta to ``board:feed``, so a snapshot read in
MULTI/EXEC (hashes + the feed's last id) plus every delta after that id is exactly the
truth. The script also creates ``board:epoch`` when it is missing, so a feed written to a
fresh Redis (restarted without persistence) always carries a new epoch.

The delta body is built inside Lua by concatenation around the value's JSON bytes, so
neither the publisher nor the web nodes decode and re-encode values on the hot path.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

log = logging.getLogger(__name__)

EPOCH_KEY: Final = "board:epoch"
FEED_KEY: Final = "board:feed"
UNITS_KEY: Final = "board:units"
ALERTS_KEY: Final = "board:alerts"
QUEUE_PREFIX: Final = "board:queue:"
WORKERS_KEY: Final = "board:workers"
INDICATORS_KEY: Final = "board:indicators"

#: Changes written by one script call; larger batches are split (each change stays atomic).
PUBLISH_CHUNK: Final = 2000
#: Stream id before every real id: "the beginning of the feed".
ORIGIN_ID: Final = "0-0"

ChangeKind = Literal["unit", "alert", "queue"]
KINDS: Final = ("unit", "alert", "queue")
_STREAM_ID = re.compile(r"(\d{1,20})-(\d{1,20})\Z")
_KEY = re.compile(r"[^\x00-\x1f\x7f]{1,256}\Z")

# KEYS: feed, epoch, units hash, alerts hash. ARGV: maxlen, epoch candidate, queue hash
# prefix, then the changes as one JSON array of [kind, key, unit, data-or-null] (data is
# the entry's JSON text), then "1" to return the deltas' stream ids. One JSON argument
# instead of seven per change keeps the worker's cost per change low (argument packing
# dominated publishing). Queue hashes are named from the unit inside the script, which
# assumes one Redis node (not Redis Cluster). Returns {epoch, id1, id2, ...}, or
# {epoch, count} without ids (reading 2,000 ids back cost the worker more than sending).
_PUBLISH_LUA = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[2], epoch)
end
local maxlen = ARGV[1]
local prefix = ARGV[3]
local want_ids = ARGV[5] == '1'
local out = {epoch}
local count = 0
for _, change in ipairs(cjson.decode(ARGV[4])) do
  local kind, key, unit, data = change[1], change[2], change[3], change[4]
  local hash
  if kind == 'unit' then hash = KEYS[3]
  elseif kind == 'alert' then hash = KEYS[4]
  else hash = prefix .. unit end
  local op = 'upsert'
  if data == cjson.null then
    redis.call('HDEL', hash, key)
    op = 'remove'
    data = 'null'
  else
    redis.call('HSET', hash, key, data)
  end
  local body = '{"kind":"' .. kind .. '","op":"' .. op .. '","key":' .. cjson.encode(key) ..
    ',"unit":' .. cjson.encode(unit) .. ',"data":' .. data .. '}'
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*',
    'k', kind, 'u', unit, 'e', epoch, 'b', body)
  count = count + 1
  if want_ids then out[#out + 1] = id end
end
if not want_ids then out[2] = count end
return out
"""


@dataclass(frozen=True, slots=True)
class Change:
    """One change of the board.

    Args:
        kind: ``unit`` (board:units), ``alert`` (board:alerts) or ``queue``
            (board:queue:<unit>).
        key: hash field: unit code, alert fingerprint or item id.
        unit: scope tag: the unit code for unit and queue changes, the alert's unit
            for alerts. Websocket scopes filter on it.
        data: JSON bytes of the new value (an object, e.g. ``orjson.dumps(...)``), or
            ``None`` to remove the entry.
    """

    kind: ChangeKind
    key: str
    unit: str
    data: bytes | None

    @property
    def hash_key(self) -> str:
        """The Redis hash this change writes."""
        if self.kind == "unit":
            return UNITS_KEY
        if self.kind == "alert":
            return ALERTS_KEY
        return queue_key(self.unit)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One delta read from ``board:feed``.

    ``body`` is the delta JSON ``{"kind","op","key","unit","data"}`` exactly as stored.
    """

    id: str
    kind: str
    unit: str
    epoch: str
    body: bytes


@dataclass(frozen=True, slots=True)
class FeedBounds:
    """Where the retained feed starts and ends.

    Args:
        first: id of the oldest retained entry (``None``: the feed is empty).
        last: id of the newest entry ever added (:data:`ORIGIN_ID` if none).
        length: entries retained now.
        added: entries ever added (Redis >= 7; ``None`` when unknown). ``added ==
            length`` means nothing was ever trimmed. (``max-deleted-entry-id`` is not
            used: Redis 7.0 does not update it when MAXLEN trims.)
    """

    first: str | None
    last: str
    length: int
    added: int | None

    @property
    def untrimmed(self) -> bool:
        """Whether every entry ever added is still retained."""
        return self.added is not None and self.added == self.length


@dataclass(frozen=True, slots=True)
class FeedPage:
    """Entries after some id, read in one transaction with the epoch and bounds."""

    epoch: str | None
    entries: tuple[FeedEntry, ...]
    bounds: FeedBounds


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The board state at stream position ``seq`` (values as stored JSON bytes)."""

    epoch: str
    seq: str
    units: tuple[bytes, ...]
    alerts: tuple[bytes, ...]
    queue: tuple[bytes, ...]


def queue_key(unit: str) -> str:
    """Name of the hash holding the open queue of ``unit``."""
    return f"{QUEUE_PREFIX}{unit}"


def stream_id_key(stream_id: str) -> tuple[int, int]:
    """Sort key of a Redis stream id (``"1700000000000-3"`` -> ``(1700000000000, 3)``).

    Raises:
        ValueError: ``stream_id`` is not ``<ms>-<seq>``.
    """
    match = _STREAM_ID.match(stream_id)
    if match is None:
        raise ValueError(f"{stream_id!r} is not a Redis stream id like '1700000000000-0'")
    return int(match.group(1)), int(match.group(2))


def is_stream_id(text: str) -> bool:
    """Whether ``text`` looks like a Redis stream id."""
    return _STREAM_ID.match(text) is not None


def new_epoch() -> str:
    """A fresh random epoch id."""
    return secrets.token_hex(8)


class BoardStore:
    """Reads and writes the board in Redis.

    Args:
        client: a ``redis.asyncio.Redis`` (bytes responses, i.e. ``decode_responses=False``)
            for ordinary commands.
        blocking: client for :meth:`read_after` with ``block_ms``; its
            ``socket_timeout`` must be longer than the block (docs/operations.md, "Blocking reads").
            Defaults to ``client``.
        feed_maxlen: approximate bound of ``board:feed`` (``GOVPULSE_FEED_MAXLEN``).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        blocking: aioredis.Redis | None = None,
        feed_maxlen: int = 100_000,
    ) -> None:
        self.client = client
        self.blocking = blocking or client
        self.feed_maxlen = feed_maxlen
        self._publish = client.register_script(_PUBLISH_LUA)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        feed_maxlen: int = 100_000,
        timeout: float = 5.0,
        block_timeout: float = 30.0,
    ) -> BoardStore:
        """Build a store with its two clients (ordinary and blocking) for ``url``.

        Args:
            url: ``redis://host:port/db``.
            feed_maxlen: see the class.
            timeout: socket timeout of ordinary commands.
            block_timeout: socket timeout of the blocking client; keep every
                ``read_after(block_ms=…)`` well below it (redis-py's default 5 s would
                break longer blocks, docs/operations.md; no timeout at all would let a
                silently dead connection hang the reader forever).
        """
        client = aioredis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        blocking = aioredis.Redis.from_url(
            url,
            socket_timeout=block_timeout,
            socket_connect_timeout=timeout,
            socket_keepalive=True,
        )
        return cls(client, blocking=blocking, feed_maxlen=feed_maxlen)

    async def close(self) -> None:
        """Close both clients' connections."""
        await self.client.aclose()
        if self.blocking is not self.client:
            await self.blocking.aclose()

    # -- writes ---------------------------------------------------------------------

    async def publish(
        self, changes: Sequence[Change], *, checked: bool = False, ids: bool = True
    ) -> list[str]:
        """Apply ``changes`` to the hashes and append their deltas to the feed.

        Each script call covers up to :data:`PUBLISH_CHUNK` changes atomically; every
        change's hash write and its delta are always in the same call. ``checked=True``
        skips validation for changes the caller already passed through
        :func:`check_change`.

        Returns:
            The stream id of each change's delta, in order; an empty list with
            ``ids=False`` (the publisher's hot path, which never reads them).

        Raises:
            ValueError: a change is malformed (kind, key, unit or data).
        """
        out: list[str] = []
        for start in range(0, len(changes), PUBLISH_CHUNK):
            chunk = changes[start : start + PUBLISH_CHUNK]
            if not checked:
                for change in chunk:
                    check_change(change)
            payload = orjson.dumps(
                [(c.kind, c.key, c.unit, None if c.data is None else c.data.decode()) for c in chunk]
            )
            result = await self._publish(
                keys=[FEED_KEY, EPOCH_KEY, UNITS_KEY, ALERTS_KEY],
                args=[self.feed_maxlen, new_epoch(), QUEUE_PREFIX, payload, "1" if ids else "0"],
            )
            if ids:
                out.extend(_text(value) for value in result[1:])
            elif int(result[1]) != len(chunk):
                raise RuntimeError(f"board publish applied {result[1]} of {len(chunk)} changes")
        return out

    async def put_indicators(self, rows: Mapping[str, bytes]) -> None:
        """Set indicator rows (``CODE|UNIT|PERIOD`` → row JSON) in ``board:indicators``."""
        if rows:
            fields: dict[Any, Any] = dict(rows)  # redis-py types fields as a union Mapping
            await self.client.hset(INDICATORS_KEY, mapping=fields)

    async def indicators(self) -> dict[str, bytes]:
        """Every stored indicator row by key."""
        raw = await self.client.hgetall(INDICATORS_KEY)
        return {
            _text(key): value if isinstance(value, bytes) else value.encode() for key, value in raw.items()
        }

    async def ensure_epoch(self) -> tuple[str, bool]:
        """Return the current epoch, creating one if there is none.

        Returns:
            ``(epoch, created)``; ``created`` is true when this call made it.
        """
        candidate = new_epoch()
        if await self.client.set(EPOCH_KEY, candidate, nx=True):
            log.info("created board epoch %s", candidate)
            return candidate, True
        current = await self.client.get(EPOCH_KEY)
        if current is None:  # deleted between the two commands; try once more
            return await self.ensure_epoch()
        return _text(current), False

    async def read_epoch(self) -> str | None:
        """The current epoch, or ``None`` if Redis has none (fresh or flushed)."""
        value = await self.client.get(EPOCH_KEY)
        return None if value is None else _text(value)

    async def beat(self, worker_id: str, *, now: float, info: Mapping[str, Any] | None = None) -> None:
        """Record that worker ``worker_id`` is alive.

        Args:
            worker_id: stable id of the worker process.
            now: real epoch seconds (not the simulation clock): staleness is real time.
            info: more JSON fields, e.g. ``{"clock": clock.now(), "partitions": [0, 3]}``.
        """
        payload = {**(info or {}), "beat": now}
        await self.client.hset(WORKERS_KEY, worker_id, orjson.dumps(payload))

    async def forget_worker(self, worker_id: str) -> None:
        """Remove a worker's entry (on clean shutdown)."""
        await self.client.hdel(WORKERS_KEY, worker_id)

    # -- reads ----------------------------------------------------------------------

    async def workers(self) -> dict[str, dict[str, Any]]:
        """Worker id -> last beat info."""
        raw = await self.client.hgetall(WORKERS_KEY)
        out: dict[str, dict[str, Any]] = {}
        for key, value in raw.items():
            try:
                decoded = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
            if isinstance(decoded, dict):
                out[_text(key)] = decoded
        return out

    async def snapshot(
        self,
        *,
        units: bool = True,
        alerts: bool = True,
        queue_unit: str | None = None,
        unit_filter: str | None = None,
    ) -> Snapshot:
        """Read the board and the feed position atomically (MULTI/EXEC).

        Creates the epoch when Redis has none, so the snapshot always names one.

        Args:
            units: include unit counters.
            alerts: include alerts.
            queue_unit: include the open queue of this unit.
            unit_filter: only the unit entry of this code, and only alerts whose
                ``unit`` is this code (a ``unit:<code>`` scope).
        """
        for _ in range(3):
            pipe = self.client.pipeline(transaction=True)
            pipe.get(EPOCH_KEY)
            pipe.xrevrange(FEED_KEY, "+", "-", count=1)
            if units:
                if unit_filter is None:
                    pipe.hgetall(UNITS_KEY)
                else:
                    pipe.hmget(UNITS_KEY, [unit_filter])
            if alerts:
                pipe.hgetall(ALERTS_KEY)
            if queue_unit is not None:
                pipe.hgetall(queue_key(queue_unit))
            results = list(await pipe.execute())
            epoch_raw, last = results.pop(0), results.pop(0)
            if epoch_raw is None:
                await self.ensure_epoch()
                continue
            unit_values: tuple[bytes, ...] = ()
            if units:
                found = results.pop(0)
                if unit_filter is None:
                    unit_values = _sorted_values(found)
                else:
                    unit_values = tuple(value for value in found if value is not None)
            alert_values: tuple[bytes, ...] = ()
            if alerts:
                alert_values = _sorted_values(results.pop(0))
                if unit_filter is not None:
                    alert_values = tuple(v for v in alert_values if _unit_of(v) == unit_filter)
            queue_values = _sorted_values(results.pop(0)) if queue_unit is not None else ()
            seq = _text(last[0][0]) if last else ORIGIN_ID
            return Snapshot(_text(epoch_raw), seq, unit_values, alert_values, queue_values)
        raise RuntimeError("board:epoch keeps disappearing during snapshots; is something flushing Redis?")

    async def alert(self, fingerprint: str) -> dict[str, Any] | None:
        """The alert ``fingerprint`` as stored, or ``None``."""
        value = await self.client.hget(ALERTS_KEY, fingerprint)
        if value is None:
            return None
        decoded = orjson.loads(value)
        return decoded if isinstance(decoded, dict) else None

    async def read_after(self, last_id: str, *, count: int, block_ms: int | None = None) -> list[FeedEntry]:
        """Entries after ``last_id``, waiting up to ``block_ms`` for the first one.

        Uses the blocking client when ``block_ms`` is given. Use ``"$"`` to wait only for
        entries added after the call.
        """
        client = self.blocking if block_ms is not None else self.client
        reply: Any = await client.xread({FEED_KEY: last_id}, count=count, block=block_ms)
        if not reply:
            return []
        # RESP2 answers [[stream, entries]]; RESP3 {stream: [entries]}.
        entries: Any
        if isinstance(reply, dict):
            entries = next(iter(reply.values()))
            if entries and isinstance(entries[0], list):
                entries = entries[0]
        else:
            entries = reply[0][1]
        return [_entry(entry_id, fields) for entry_id, fields in entries]

    async def range_after(self, last_id: str, count: int) -> FeedPage:
        """Up to ``count`` entries after ``last_id`` with the epoch and feed bounds.

        Read in one transaction, so the returned bounds tell whether entries right
        after ``last_id`` had been trimmed (see ``web.protocol.decide_resume``).
        """
        pipe = self.client.pipeline(transaction=True)
        pipe.get(EPOCH_KEY)
        pipe.xrange(FEED_KEY, f"({last_id}", "+", count=count)
        pipe.xinfo_stream(FEED_KEY)
        epoch_raw, raw_entries, info = await pipe.execute(raise_on_error=False)
        if isinstance(raw_entries, Exception):
            raise raw_entries
        entries = tuple(_entry(entry_id, fields) for entry_id, fields in raw_entries)
        return FeedPage(
            None if epoch_raw is None else _text(epoch_raw),
            entries,
            _bounds(info),
        )

    async def bounds(self) -> FeedBounds:
        """Where the retained feed starts and ends."""
        try:
            info = await self.client.xinfo_stream(FEED_KEY)
        except ResponseError:
            info = None
        return _bounds(info)

    async def first_id(self) -> str | None:
        """Id of the oldest retained entry, ``None`` when the feed is empty."""
        first: Any = await self.client.xrange(FEED_KEY, "-", "+", count=1)
        return _text(first[0][0]) if first else None

    async def last_id(self) -> str:
        """Id of the newest entry, :data:`ORIGIN_ID` when the feed is empty."""
        last: Any = await self.client.xrevrange(FEED_KEY, "+", "-", count=1)
        return _text(last[0][0]) if last else ORIGIN_ID

    async def ping(self) -> bool:
        """Whether Redis answers."""
        return bool(await self.client.ping())


# -- helpers ------------------------------------------------------------------------


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def check_change(change: Change) -> None:
    if change.kind not in KINDS:
        raise ValueError(f"change kind {change.kind!r} must be one of {', '.join(KINDS)}")
    if not _KEY.match(change.key):
        raise ValueError(f"change key {change.key!r} must be 1-256 printable characters")
    if not _KEY.match(change.unit):
        raise ValueError(f"change unit {change.unit!r} must be 1-256 printable characters")
    if change.data is not None and (not isinstance(change.data, bytes) or not change.data.startswith(b"{")):
        raise ValueError(
            f"change data for {change.kind} {change.key!r} must be JSON object bytes "
            f"(orjson.dumps of a dict) or None"
        )


def _entry(entry_id: bytes | str, fields: Mapping[bytes | str, bytes | str]) -> FeedEntry:
    get = {_text(k): v for k, v in fields.items()}
    body = get.get("b", b"")
    return FeedEntry(
        id=_text(entry_id),
        kind=_text(get.get("k", b"")),
        unit=_text(get.get("u", b"")),
        epoch=_text(get.get("e", b"")),
        body=body if isinstance(body, bytes) else body.encode(),
    )


def _bounds(info: Any) -> FeedBounds:
    if not isinstance(info, dict):  # no stream yet (XINFO answered an error)
        return FeedBounds(first=None, last=ORIGIN_ID, length=0, added=0)
    first_entry = info.get("first-entry")
    first = _text(first_entry[0]) if first_entry else None
    last = _text(info.get("last-generated-id") or ORIGIN_ID)
    added = info.get("entries-added")
    return FeedBounds(first, last, int(info.get("length", 0)), None if added is None else int(added))


def _sorted_values(mapping: Mapping[bytes, bytes]) -> tuple[bytes, ...]:
    return tuple(value for _, value in sorted(mapping.items()))


def _unit_of(value: bytes) -> str | None:
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    unit = decoded.get("unit") if isinstance(decoded, dict) else None
    return unit if isinstance(unit, str) else None
