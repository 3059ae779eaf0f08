"""One feed reader per web process, fanning ``board:feed`` out to the connections.

:class:`FeedHub` runs two tasks:

* the reader: ``XREAD BLOCK`` from the last id, then for each entry builds the delta
  frame once and offers the same bytes to every subscribed connection (looked up by
  route key, see :func:`web.protocol.routes`). Offering never waits: each connection has
  a bounded :class:`Outbox` and its own slow-client policy.
* the monitor: every heartbeat interval reads the worker beats, and offers a heartbeat
  to every connection (also the way browsers learn that Redis is down).

Redis outages: the reader marks Redis down, retries with exponential backoff, and when
Redis answers again re-checks the epoch. A changed epoch (Redis restarted without
persistence, or was flushed) makes every connection take a fresh snapshot; the reader
restarts from the new feed's end. The same happens when an entry carries another epoch or
an idle check finds the epoch changed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from redis.exceptions import RedisError

from runtime.board import ORIGIN_ID, BoardStore, FeedEntry, stream_id_key
from runtime.clock import Clock
from web.metrics import WebMetrics
from web.protocol import RouteKey, board_stale, delta_frame, routes, worker_age

log = logging.getLogger(__name__)

#: Entries read per XREAD.
READ_COUNT = 1000
#: Longest XREAD block; the reader checks the epoch whenever a block ends empty.
BLOCK_MS = 1000
BACKOFF_START = 0.1
BACKOFF_MAX = 5.0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What the monitor knows at one instant; each connection adds its own seq."""

    ts: float
    clock_now: float
    speed: float
    stale: bool
    redis_up: bool
    age: float | None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An item of a connection's outbox.

    ``delta``: ``data`` is the frame, ``seq``/``order`` its stream id. ``heartbeat``:
    ``seq``/``order`` is the reader's position when it was queued (every entry up to it
    was already offered), ``heartbeat`` the shared health data.
    """

    kind: str  # "delta" | "heartbeat"
    seq: str
    order: tuple[int, int]
    epoch: str
    data: bytes = b""
    heartbeat: Heartbeat | None = None


class Outbox:
    """A bounded FIFO a connection's sender task waits on."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: collections.deque[Outgoing] = collections.deque()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Outgoing) -> bool:
        """Queue ``item``; false (and nothing queued) when full."""
        if len(self._items) >= self.capacity:
            return False
        self._items.append(item)
        self._ready.set()
        return True

    def clear(self) -> None:
        self._items.clear()

    def wake(self) -> None:
        """Make a waiting :meth:`get` return ``None`` (the owner has other work)."""
        self._ready.set()

    def pop(self) -> Outgoing | None:
        """The next item if one is queued, without waiting."""
        return self._items.popleft() if self._items else None

    async def get(self) -> Outgoing | None:
        """The next item, or ``None`` when woken by :meth:`wake` with nothing queued."""
        if not self._items:
            self._ready.clear()
            await self._ready.wait()
        if self._items:
            return self._items.popleft()
        return None


class Subscriber(Protocol):
    """What the hub needs from a connection."""

    @property
    def keys(self) -> frozenset[RouteKey]: ...

    def offer(self, item: Outgoing) -> None: ...

    def request_snapshot(self, reason: str) -> None: ...


class FeedHub:
    """The process-wide reader of ``board:feed``.

    Args:
        store: the board store (its blocking client is used for XREAD).
        metrics: this node's metrics.
        heartbeat: seconds between heartbeats.
        clock: the board clock (heartbeats carry its time and speed).
        queue_size: capacity of each connection's outbox (``GOVPULSE_WS_QUEUE``).
        now: real time source (worker staleness, feed lag).
    """

    def __init__(
        self,
        store: BoardStore,
        *,
        metrics: WebMetrics,
        heartbeat: float,
        clock: Clock,
        queue_size: int = 2 * READ_COUNT,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.heartbeat_interval = heartbeat
        self.clock = clock
        self.now = now
        # One batch is offered to every outbox before any sender runs: keep it well under
        # the outbox size so a healthy client never overflows on a burst.
        self.read_count = max(1, min(READ_COUNT, queue_size // 2))
        self.epoch: str | None = None
        self.position = ORIGIN_ID
        self.redis_up = False
        self.latest_beat: float | None = None  # freshest worker beat (real epoch seconds)
        self._subs: dict[RouteKey, set[Subscriber]] = collections.defaultdict(set)
        self._all: set[Subscriber] = set()
        self._check_epoch = True
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- subscriptions --------------------------------------------------------------

    def register(self, sub: Subscriber) -> None:
        """Start offering matching entries to ``sub`` (before it reads its snapshot)."""
        self._all.add(sub)
        for key in sub.keys:
            self._subs[key].add(sub)

    def unregister(self, sub: Subscriber) -> None:
        self._all.discard(sub)
        for key, subs in list(self._subs.items()):
            subs.discard(sub)
            if not subs:
                del self._subs[key]

    def resubscribe(self, sub: Subscriber) -> None:
        """Re-index ``sub`` after its keys changed (a new view)."""
        self.unregister(sub)
        self.register(sub)

    @property
    def connections(self) -> int:
        return len(self._all)

    @property
    def worker_age(self) -> float | None:
        """Seconds since the freshest worker beat seen (``None``: none, or Redis down)."""
        return worker_age([] if self.latest_beat is None else [self.latest_beat], self.now())

    @property
    def stale(self) -> bool:
        return board_stale(redis_up=self.redis_up, age=self.worker_age)

    def current_heartbeat(self) -> Heartbeat:
        """Health as of now (sessions also send one right after each sync)."""
        return Heartbeat(
            ts=self.now(),
            clock_now=self.clock.now(),
            speed=self.clock.speed,
            stale=self.stale,
            redis_up=self.redis_up,
            age=self.worker_age,
        )

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Read the epoch and feed end (if Redis answers) and start the two tasks."""
        try:
            await self._sync_epoch(initial=True)
            self._set_up(True)
            await self.refresh()
        except (RedisError, OSError) as exc:
            self._set_up(False, exc)
        self._tasks = [
            asyncio.create_task(self._read_loop(), name="feed-reader"),
            asyncio.create_task(self._monitor_loop(), name="feed-monitor"),
        ]

    async def stop(self) -> None:
        """Stop both tasks (within a few seconds even if a Redis call is stuck)."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        # The loops also check _stopping: on Python 3.11 a cancellation that races with a
        # completing asyncio.wait_for inside redis-py can be swallowed.
        _, pending = await asyncio.wait(self._tasks, timeout=BLOCK_MS / 1000 + 2) if self._tasks else ((), ())
        for task in pending:
            log.warning("feed task %s did not stop in time; abandoning it", task.get_name())
        self._tasks = []

    # -- reader ---------------------------------------------------------------------

    async def _read_loop(self) -> None:
        backoff = BACKOFF_START
        while not self._stopping:
            try:
                if self._check_epoch:
                    await self._sync_epoch(initial=False)
                    self._check_epoch = False
                entries = await self.store.read_after(self.position, count=self.read_count, block_ms=BLOCK_MS)
                self._set_up(True)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._set_up(False, exc)
                self._check_epoch = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            except Exception:
                log.error("feed reader failed; retrying", exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            backoff = BACKOFF_START
            if entries:
                self.dispatch(entries)
            else:
                self.metrics.feed_lag.set(0)
                # Idle: an epoch change without new entries (FLUSHALL) is only seen here.
                self._check_epoch = True

    async def _sync_epoch(self, *, initial: bool) -> None:
        epoch, created = await self.store.ensure_epoch()
        if initial or self.epoch is None:
            self.epoch = epoch
            self.position = await self.store.last_id()
            log.info("feed reader at epoch=%s position=%s", epoch, self.position)
            return
        if epoch != self.epoch:
            position = await self.store.last_id()
            self._reset(epoch, position, "epoch changed" + (" (created after loss)" if created else ""))

    def _reset(self, epoch: str, position: str, why: str) -> None:
        log.warning(
            "board epoch %s -> %s (%s); every connection gets a fresh snapshot",
            self.epoch,
            epoch,
            why,
        )
        self.metrics.epoch_changes.inc()
        self.epoch = epoch
        self.position = position
        for sub in list(self._all):
            sub.request_snapshot("epoch changed")

    def dispatch(self, entries: Iterable[FeedEntry]) -> None:
        """Offer each entry's delta frame to its subscribers, in feed order."""
        last: FeedEntry | None = None
        count = 0
        for entry in entries:
            if entry.epoch and entry.epoch != self.epoch:
                # Connections re-snapshot after this point, so entries from here on are
                # either in their snapshot or after it.
                self._reset(entry.epoch, self.position, "entry of another epoch")
            order = stream_id_key(entry.id)
            item = Outgoing("delta", entry.id, order, entry.epoch, delta_frame(entry.id, entry.body))
            keys = routes(entry.kind, entry.unit)
            targets: Iterable[Subscriber]
            if len(keys) == 1:
                targets = self._subs.get(keys[0], ())
            else:
                found: set[Subscriber] = set()
                for key in keys:
                    found.update(self._subs.get(key, ()))
                targets = found
            sent = 0
            for sub in list(targets):
                sub.offer(item)
                sent += 1
            self.metrics.deltas_dispatched.inc(sent)
            self.position = entry.id
            last = entry
            count += 1
        if last is not None:
            self.metrics.feed_entries.inc(count)
            lag = max(0.0, self.now() - stream_id_key(last.id)[0] / 1000.0)
            self.metrics.feed_lag.set(lag)

    # -- monitor --------------------------------------------------------------------

    async def _monitor_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.error("heartbeat failed", exc_info=True)

    async def refresh(self) -> None:
        """Re-read the worker beats."""
        try:
            workers = await self.store.workers()
        except (RedisError, OSError) as exc:
            self._set_up(False, exc)
            self.latest_beat = None
        else:
            beats = [float(w["beat"]) for w in workers.values() if isinstance(w.get("beat"), int | float)]
            self.latest_beat = max(beats, default=None)
        age = self.worker_age
        self.metrics.worker_age.set(-1 if age is None else age)

    async def beat(self) -> None:
        """Refresh the worker age and offer a heartbeat to every connection."""
        await self.refresh()
        heartbeat = self.current_heartbeat()
        item = Outgoing(
            "heartbeat",
            self.position,
            stream_id_key(self.position),
            self.epoch or "",
            heartbeat=heartbeat,
        )
        for sub in list(self._all):
            sub.offer(item)

    def _set_up(self, up: bool, exc: BaseException | None = None) -> None:
        if up != self.redis_up:
            if up:
                log.info("Redis reachable")
            else:
                log.warning("Redis unreachable (%s); board marked stale", exc)
        self.redis_up = up
        self.metrics.redis_up.set(1 if up else 0)
