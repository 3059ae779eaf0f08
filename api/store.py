"""The API's Redis: key records, idempotency reservations, item records, board reads.

Keys (next to the board's, docs/api.md "Redis")::

    api:keys                   hash    key name -> ApiKey JSON (hash of the key, units, rate)
    api:key-hashes             hash    hex SHA-256 of a key -> key name
    api:keys-epoch             string  set with the first key; missing = this Redis lost them
    api:event:<item> <event>   string  p:<digest> while being produced, a:<digest> once acked
    api:report:<unit> <event>  string  the same, for an indicator report of the unit
    api:item:<item>            hash    unit, category, type, at, received_at, title of the
                                       last event the API accepted for the item, and when
                                       (accepted_at, the API's clock)

Reservations make a retried POST a no-op: an event id is reserved (``SET NX``) before it
is produced, confirmed once the broker acknowledged it, and released when producing
failed, so a retry after a 503 produces it again. All in one Lua script per batch.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from api.errors import ApiKeyError
from api.ingest import Admitted, Reservation
from api.keys import ApiKey
from api.reports import AdmittedReport
from domain.catalog import Catalog
from domain.events import UNIT_REQUIRED, EventType
from runtime.board import UNITS_KEY, queue_key

KEYS_KEY = "api:keys"
HASHES_KEY = "api:key-hashes"
KEYS_EPOCH_KEY = "api:keys-epoch"
EVENT_PREFIX = "api:event:"
REPORT_PREFIX = "api:report:"
ITEM_PREFIX = "api:item:"


# KEYS: one reservation key per event. ARGV: pending ttl (s), then one digest per key.
# Returns one code per key: new | duplicate | in_flight | conflict.
_RESERVE_LUA = """
local ttl = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local digest = ARGV[i + 1]
  local current = redis.call('GET', key)
  if not current then
    redis.call('SET', key, 'p:' .. digest, 'EX', ttl)
    out[i] = 'new'
  elseif string.sub(current, 3) ~= digest then
    out[i] = 'conflict'
  elseif string.sub(current, 1, 2) == 'a:' then
    out[i] = 'duplicate'
  else
    out[i] = 'in_flight'
  end
end
return out
"""

# KEYS: reservation keys. ARGV: digests. Releases the reservations this request holds
# (still 'p:<digest>'), so that a retry produces the events again.
_RELEASE_LUA = """
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == 'p:' .. ARGV[i] then
    redis.call('DEL', key)
  end
end
return #KEYS
"""


# ARGV: ttl (s), then one JSON array of [reservation key, digest, item key, [field, value,
# ...]] per event. Confirms the reservations this request holds and records the items:
# one argument instead of hundreds keeps the cost per event low (as the board publisher).
_CONFIRM_LUA = """
local ttl = tonumber(ARGV[1])
for _, entry in ipairs(cjson.decode(ARGV[2])) do
  local key, digest, item, fields = entry[1], entry[2], entry[3], entry[4]
  if redis.call('GET', key) == 'p:' .. digest then
    redis.call('SET', key, 'a:' .. digest, 'EX', ttl)
  end
  redis.call('HSET', item, unpack(fields))
  redis.call('EXPIRE', item, ttl)
end
return 1
"""


# KEYS: reservation keys. ARGV: ttl (s), then digests. Confirms the reservations this
# request holds (indicator reports: no item record).
_CONFIRM_KEYS_LUA = """
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == 'p:' .. ARGV[i + 1] then
    redis.call('SET', key, 'a:' .. ARGV[i + 1], 'EX', ttl)
  end
end
return #KEYS
"""


def report_reservation_key(unit: str, event_id: str) -> str:
    """Redis key of an indicator report's reservation (ids and codes never contain a space)."""
    return f"{REPORT_PREFIX}{unit} {event_id}"


def reservation_key(item_id: str, event_id: str) -> str:
    """Redis key of an event's reservation (ids never contain a space)."""
    return f"{EVENT_PREFIX}{item_id} {event_id}"


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """What the API last accepted for an item (for scope checks and Open311 status)."""

    unit: str | None
    fields: dict[str, Any]


class ApiStore:
    """The API's reads and writes in Redis.

    Args:
        client: ``redis.asyncio.Redis`` with bytes responses.
        catalog: the unit catalog (to expand a key's units to their descendants).
    """

    def __init__(self, client: aioredis.Redis, catalog: Catalog) -> None:
        self.client = client
        self.catalog = catalog
        self._reserve = client.register_script(_RESERVE_LUA)
        self._release = client.register_script(_RELEASE_LUA)
        self._confirm = client.register_script(_CONFIRM_LUA)
        self._confirm_keys = client.register_script(_CONFIRM_KEYS_LUA)

    @classmethod
    def from_url(cls, url: str, catalog: Catalog, *, timeout: float = 5.0) -> ApiStore:
        client = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=10
        )
        return cls(client, catalog)

    async def close(self) -> None:
        await self.client.aclose()

    # -- keys -------------------------------------------------------------------------

    async def add_key(self, key: ApiKey) -> None:
        """Store a new key record.

        Raises:
            ApiKeyError: a key of that name exists (revoke it first).
        """
        await self.client.set(KEYS_EPOCH_KEY, secrets.token_hex(8), nx=True)
        if not await self.client.hsetnx(KEYS_KEY, key.name, key.to_json()):
            raise ApiKeyError(
                f"a key named {key.name!r} exists; revoke it first (`govpulse apikey revoke "
                f"--name {key.name}`) or choose another name"
            )
        await self.client.hset(HASHES_KEY, key.key_hash, key.name)

    async def keys(self) -> list[ApiKey]:
        """Every key record, by name."""
        raw = await self.client.hgetall(KEYS_KEY)
        return sorted((ApiKey.from_json(value) for value in raw.values()), key=lambda k: k.name)

    async def revoke(self, name: str) -> bool:
        """Delete the key ``name``; false when there is none."""
        raw = await self.client.hget(KEYS_KEY, name)
        if raw is None:
            return False
        key = ApiKey.from_json(raw)
        pipe = self.client.pipeline(transaction=True)
        pipe.hdel(HASHES_KEY, key.key_hash)
        pipe.hdel(KEYS_KEY, name)
        await pipe.execute()
        return True

    async def key_snapshot(self) -> tuple[bool, list[ApiKey]]:
        """``(known, keys)``: whether this Redis has held keys (its epoch marker exists,
        even if every key was revoked since), and the keys it holds."""
        pipe = self.client.pipeline(transaction=True)
        pipe.exists(KEYS_EPOCH_KEY)
        pipe.hgetall(KEYS_KEY)
        exists, raw = await pipe.execute()
        return bool(exists), [ApiKey.from_json(value) for value in raw.values()]

    async def restore_keys(self, keys: Sequence[ApiKey]) -> None:
        """Write back key records a restarted (empty) Redis lost; existing names are kept."""
        pipe = self.client.pipeline(transaction=True)
        pipe.set(KEYS_EPOCH_KEY, secrets.token_hex(8), nx=True)
        for key in keys:
            pipe.hsetnx(KEYS_KEY, key.name, key.to_json())
            pipe.hsetnx(HASHES_KEY, key.key_hash, key.name)
        await pipe.execute()

    async def find_key(self, key_hash: str) -> ApiKey | None:
        """The record of the key with this hash, ``None`` when unknown or revoked."""
        name = await self.client.hget(HASHES_KEY, key_hash)
        if name is None:
            return None
        raw = await self.client.hget(KEYS_KEY, name)
        return None if raw is None else ApiKey.from_json(raw)

    # -- idempotency --------------------------------------------------------------------

    async def reserve(self, admitted: Sequence[Admitted], *, pending_ttl: float) -> list[Reservation]:
        """Reserve each event id; see the module docstring for the codes."""
        if not admitted:
            return []
        keys = [reservation_key(a.event.item_id, a.event.event_id) for a in admitted]
        result = await self._reserve(
            keys=keys, args=[max(1, int(pending_ttl)), *(a.digest for a in admitted)]
        )
        return [_text(code) for code in result]  # type: ignore[misc]  # Lua returns the four codes only

    async def release(self, admitted: Sequence[Admitted]) -> None:
        """Release this request's reservations (its events were not produced)."""
        if admitted:
            keys = [reservation_key(a.event.item_id, a.event.event_id) for a in admitted]
            await self._release(keys=keys, args=[a.digest for a in admitted])

    async def confirm(self, admitted: Sequence[Admitted], *, ttl: float, now: float = 0.0) -> None:
        """Confirm the reservations (acked by the broker) and record each item's last
        accepted event (unit, type, …) for ``ttl`` seconds, in one script call."""
        if not admitted:
            return
        entries = []
        for entry in admitted:
            event = entry.event
            fields = ["type", event.type.value, "at", repr(event.occurred_at), "accepted_at", repr(now)]
            if event.type in UNIT_REQUIRED and event.unit is not None:
                fields += ["unit", event.unit]
            if event.type is EventType.RECEIVED:
                fields += ["received_at", repr(event.occurred_at), "category", event.category or ""]
                fields += ["title", event.title or ""]
            reservation = reservation_key(event.item_id, event.event_id)
            entries.append((reservation, entry.digest, f"{ITEM_PREFIX}{event.item_id}", fields))
        await self._confirm(keys=[], args=[max(1, int(ttl)), orjson.dumps(entries)])

    async def reserve_reports(
        self, admitted: Sequence[AdmittedReport], *, pending_ttl: float
    ) -> list[Reservation]:
        """Reserve each indicator report's event id (per unit), like :meth:`reserve`."""
        if not admitted:
            return []
        keys = [report_reservation_key(a.unit, a.event_id) for a in admitted]
        result = await self._reserve(
            keys=keys, args=[max(1, int(pending_ttl)), *(a.digest for a in admitted)]
        )
        return [_text(code) for code in result]  # type: ignore[misc]  # Lua returns the four codes only

    async def release_reports(self, admitted: Sequence[AdmittedReport]) -> None:
        """Release this request's report reservations (they were not produced)."""
        if admitted:
            keys = [report_reservation_key(a.unit, a.event_id) for a in admitted]
            await self._release(keys=keys, args=[a.digest for a in admitted])

    async def confirm_reports(self, admitted: Sequence[AdmittedReport], *, ttl: float) -> None:
        """Confirm the report reservations (acked by the broker) for ``ttl`` seconds."""
        if admitted:
            keys = [report_reservation_key(a.unit, a.event_id) for a in admitted]
            await self._confirm_keys(keys=keys, args=[max(1, int(ttl)), *(a.digest for a in admitted)])

    async def item_record(self, item_id: str) -> dict[str, Any] | None:
        """The API's record of an item, decoded (instants as floats), or ``None``."""
        raw = await self.client.hgetall(f"{ITEM_PREFIX}{item_id}")
        if not raw:
            return None
        out: dict[str, Any] = {_text(k): _text(v) for k, v in raw.items()}
        for name in ("at", "received_at", "accepted_at"):
            if name in out:
                out[name] = float(out[name])
        return out

    # -- board reads --------------------------------------------------------------------

    def _units_of(self, scope: frozenset[str]) -> list[str]:
        """Every unit code a scope covers (all units for an empty scope)."""
        if not scope:
            return [unit.code for unit in self.catalog]
        out: list[str] = []
        for code in sorted(scope):
            if code in self.catalog:
                out.append(code)
                out.extend(self.catalog.descendants(code))
        return list(dict.fromkeys(out))

    async def queue_entry(self, item_id: str, scope: frozenset[str]) -> dict[str, Any] | None:
        """The board's queue entry of an open item at a unit of ``scope``, or ``None``."""
        units = self._units_of(scope)
        pipe = self.client.pipeline(transaction=False)
        for unit in units:
            pipe.hget(queue_key(unit), item_id)
        for value in await pipe.execute():
            if value is not None:
                decoded = orjson.loads(value)
                if isinstance(decoded, dict):
                    return decoded
        return None

    async def item_units(
        self, item_ids: Sequence[str], scope: frozenset[str], *, now: float, grace: float = 60.0
    ) -> dict[str, str | None]:
        """Where each item is, as far as a key of ``scope`` may know; one pipelined round trip.

        The board is the truth for open items: an item open at a unit of ``scope`` is
        there. The API's own record stands in only where the board cannot know yet or any
        more: an event accepted less than ``grace`` seconds ago (not processed yet), or an
        item the API saw resolved or cancelled (off the board). Otherwise ``None``: the
        item is not at a unit of the scope (elsewhere, closed elsewhere, or unknown), and
        where it is is not told.
        """
        units = self._units_of(scope)
        pipe = self.client.pipeline(transaction=False)
        for item_id in item_ids:
            pipe.hmget(f"{ITEM_PREFIX}{item_id}", ["unit", "type", "accepted_at"])
            for unit in units:
                pipe.hexists(queue_key(unit), item_id)
        answers = await pipe.execute()
        out: dict[str, str | None] = {}
        stride = 1 + len(units)
        for row, item_id in enumerate(item_ids):
            record, *hits = answers[row * stride : (row + 1) * stride]
            on_board = next((code for code, hit in zip(units, hits, strict=True) if hit), None)
            if on_board is not None:
                out[item_id] = on_board
                continue
            placed, last, accepted_at = (None if value is None else _text(value) for value in record)
            recent = accepted_at is not None and now - float(accepted_at) <= grace
            out[item_id] = (
                placed if placed is not None and (recent or last in ("resolved", "cancelled")) else None
            )
        return out

    async def unit_entry(self, code: str) -> dict[str, Any] | None:
        """The board's unit JSON of ``code`` (counters, gauges), or ``None``."""
        value = await self.client.hget(UNITS_KEY, code)
        if value is None:
            return None
        decoded = orjson.loads(value)
        return decoded if isinstance(decoded, dict) else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
