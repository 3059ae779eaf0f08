"""Delivery you can trust: the notification log, the outbox per receiver, retries.

Redis layout (besides :mod:`runtime.notices`)::

    notify:log:<receiver>:<group>    string  the notification log entry (notify.model.LogEntry)
    notify:outbox:<receiver>         Stream  notifications to deliver, in order; field n = JSON
    notify:cursor:<receiver>         string  stream id of the last notification with an outcome
    notify:lease:<receiver>          string  the process delivering for this receiver (expires)
    notify:state                     hash    fingerprint -> "<state>#<incident>" as last seen
    notify:failing                   set     receivers whose last notification failed for good

:meth:`Outbox.record` decides a flush against the log and, in one MULTI/EXEC guarded by
WATCH on the log entry, stores the new entry, appends the notification to the outbox and
writes its pending delivery record: two notifier processes flushing the same group can
never both send the same transition. Only after that are the flush's input offsets
committed.

One process at a time delivers for a receiver (:meth:`Outbox.lease`, renewed while it
works): it reads the outbox after the cursor, one notification at a time in order,
retrying with exponential backoff and jitter until the receiver's ``give_up_after``;
the cursor moves only once the outcome is written. A process killed mid-delivery leaves
the cursor before the notification it was sending: whoever takes the lease next sends
it again, with the same id — receivers drop duplicates by ``webhook-id``/Message-ID.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from alerts.model import State
from notify.model import Flush, LogEntry, Notification, plan
from notify.routes import Retry
from runtime.notices import INBOX_TTL, Delivery, inbox_key

log = logging.getLogger(__name__)

STATE_KEY = "notify:state"
FAILING_KEY = "notify:failing"
# KEYS: the lease. ARGV: owner, milliseconds. Take it if free, extend it if ours.
_LEASE_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
OUTBOX_MAXLEN = 100_000


def backoff(attempt: int, retry: Retry, draw: float) -> float:
    """Wait before attempt ``attempt + 1`` (``attempt`` >= 1 failed so far): exponential
    from ``retry.initial`` capped at ``retry.maximum``, with "equal jitter" — half fixed,
    half drawn (``draw`` in [0, 1)) — so many notifiers do not retry in step."""
    ceiling = min(retry.maximum, retry.initial * 2 ** max(0, attempt - 1))
    return float(ceiling / 2 + draw * ceiling / 2)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _raw(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def log_key(receiver: str, group: str) -> str:
    return f"notify:log:{receiver}:{group}"


def outbox_key(receiver: str) -> str:
    return f"notify:outbox:{receiver}"


def cursor_key(receiver: str) -> str:
    return f"notify:cursor:{receiver}"


def lease_key(receiver: str) -> str:
    return f"notify:lease:{receiver}"


def still_wanted(notification: Notification, states: dict[str, str]) -> bool:
    """Whether a queued notification must still go out (``states``: fingerprint ->
    ``state#incident`` now). A notification that only pages about firing alerts is
    cancelled once all of them are acknowledged or resolved (no page after an ack);
    one that carries a resolution or an explanation always goes."""
    if notification.resolved:
        return True
    if any(":ask" in e or ":ans" in e for e in notification.firing):
        return True
    for alert in notification.alerts:
        now = states.get(alert.fingerprint)
        if now is None or now == f"{State.FIRING.value}#{alert.incident}":
            return True
    return False


@dataclass(frozen=True, slots=True)
class Entry:
    """A notification read from an outbox, with its stream id."""

    stream_id: str
    notification: Notification


class Outbox:
    """The notification log, outboxes, cursors and leases in Redis."""

    def __init__(self, client: aioredis.Redis, *, owner: str, lease_seconds: float) -> None:
        self.client = client
        self.owner = owner
        self.lease_ms = int(lease_seconds * 1000)
        self.renewed: dict[str, float] = {}
        self._lease = client.register_script(_LEASE_LUA)

    async def record(self, flush: Flush, *, channel: str) -> Notification | None:
        """Decide ``flush`` against the log; store the entry, the notification and its
        pending record atomically. Returns the notification (``None``: nothing to send)."""
        key = log_key(flush.receiver, flush.group)
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    entry = LogEntry.decode(_raw(await pipe.get(key)))
                    notification, stored = plan(entry, flush)
                    if notification is None or stored is None:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                        return None
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                    pipe.set(key, stored.encode(), ex=max(int(flush.repeat_interval * 4), 7 * 86400))
                    pipe.xadd(
                        outbox_key(flush.receiver),
                        {"n": notification.encode()},
                        maxlen=OUTBOX_MAXLEN,
                        approximate=True,
                    )
                    pending = Delivery(notification.id, flush.receiver, channel, "pending", flush.at)
                    body = orjson.dumps(pending.to_json())
                    for alert in notification.alerts:
                        pipe.hset(inbox_key(alert.fingerprint), pending.field, body)
                        pipe.expire(inbox_key(alert.fingerprint), INBOX_TTL)
                    await pipe.execute()
                    return notification
                except WatchError:
                    continue

    async def remember_states(self, states: dict[str, str]) -> None:
        if states:
            await self.client.hset(STATE_KEY, mapping=dict(states.items()))

    async def states(self, fingerprints: list[str]) -> dict[str, str]:
        if not fingerprints:
            return {}
        values = await self.client.hmget(STATE_KEY, fingerprints)
        return {fp: _text(v) for fp, v in zip(fingerprints, values, strict=True) if v is not None}

    # -- leases and the outbox ---------------------------------------------------------------

    async def lease(self, receiver: str) -> bool:
        """Take or renew the delivery lease of ``receiver``; whether this process holds it.

        One script call (take if free, extend if ours), skipped while the last renewal is
        younger than a quarter of the lease: the deliverer asks before every notification.
        """
        now = time.monotonic()
        if now - self.renewed.get(receiver, -1e9) < self.lease_ms / 4000:
            return True
        held = bool(await self._lease(keys=[lease_key(receiver)], args=[self.owner, self.lease_ms]))
        if held:
            self.renewed[receiver] = now
        else:
            self.renewed.pop(receiver, None)
        return held

    async def release(self, receiver: str) -> None:
        self.renewed.pop(receiver, None)
        key = lease_key(receiver)
        holder = await self.client.get(key)
        if holder is not None and _text(holder) == self.owner:
            await self.client.delete(key)

    async def next_entries(self, receiver: str, count: int = 50) -> list[Entry]:
        cursor = await self.client.get(cursor_key(receiver))
        start = "-" if cursor is None else "(" + _text(cursor)
        rows = await self.client.xrange(outbox_key(receiver), min=start, max="+", count=count)
        out = []
        for stream_id, fields in rows or []:
            assert stream_id is not None and fields is not None
            body = _raw(fields[b"n"])
            assert body is not None
            out.append(Entry(_text(stream_id), Notification.decode(body)))
        return out

    async def advance(
        self, receiver: str, stream_id: str, delivery: Delivery, fingerprints: list[str]
    ) -> bool:
        """Write the outcome, then move the cursor past ``stream_id`` (one transaction).

        Returns whether ``receiver`` is marked failing (:meth:`failing`), read in the same
        transaction so that whichever notifier delivers next can clear the board alert.
        """
        body = orjson.dumps(delivery.to_json())
        async with self.client.pipeline(transaction=True) as pipe:
            for fingerprint in fingerprints:
                pipe.hset(inbox_key(fingerprint), delivery.field, body)
                pipe.expire(inbox_key(fingerprint), INBOX_TTL)
            pipe.set(cursor_key(receiver), stream_id)
            pipe.sismember(FAILING_KEY, receiver)
            results = await pipe.execute()
        return bool(results[-1])

    async def failing(self, receiver: str, *, now_failing: bool) -> None:
        """Mark or clear ``receiver`` as failing (shared by every notifier)."""
        if now_failing:
            await self.client.sadd(FAILING_KEY, receiver)
        else:
            await self.client.srem(FAILING_KEY, receiver)

    async def write(self, delivery: Delivery, fingerprints: list[str]) -> None:
        body = orjson.dumps(delivery.to_json())
        async with self.client.pipeline(transaction=False) as pipe:
            for fingerprint in fingerprints:
                pipe.hset(inbox_key(fingerprint), delivery.field, body)
            await pipe.execute()

    async def backlog(self, receiver: str) -> int:
        return len(await self.next_entries(receiver, count=1000))


Sleep = Callable[[float], Awaitable[None]]


def jitter() -> float:
    """A draw for :func:`backoff` (not for security)."""
    return random.random()
