"""One feed reader per web process, fanning ``board:feed`` out to the connections.

:class:`FeedHub` runs two tasks:

* the reader: ``XREAD BLOCK`` from the last id, then writes what it read to the
  connections (:meth:`FeedHub.dispatch`). Connections that see the same deltas (the same
  :data:`~web.protocol.GroupKey`: scope, view, batch, compression) form a :class:`Group`:
  per read the group's frames are built, compressed and framed once, and the same bytes
  are written to the socket of every member, without waiting. A connection is a *member* only while it stands
  exactly at the reader's position; until then (while it syncs or replays) it is
  *pending*: it gets each entry offered in its own bounded :class:`Outbox`, which its own
  sender task drains with backpressure and its slow-client policy, as before; once that
  outbox is empty it joins its group (:func:`web.protocol.join_refusal` decides). A
  member whose socket holds more than ``lag_limit`` unsent bytes *falls behind* before
  the next write: its group's ready frames then go to its outbox (one item per frame)
  until it caught up and rejoins. The group never waits for anyone.
* the monitor: every heartbeat interval reads the worker beats, and writes one heartbeat
  frame to every member and offers a heartbeat to every pending connection (also the way
  browsers learn that Redis is down).

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
from typing import Protocol, cast

from redis.exceptions import RedisError
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

from runtime.board import ORIGIN_ID, BoardStore, FeedEntry, stream_id_key
from runtime.clock import Clock
from web.metrics import WebMetrics
from web.protocol import (
    BATCH_MAX,
    JOIN_LATER,
    GroupKey,
    RouteKey,
    Standing,
    board_stale,
    delta_frame,
    group_payloads,
    heartbeat_frame,
    join_refusal,
    routes,
    worker_age,
)

log = logging.getLogger(__name__)

#: Entries read per XREAD.
READ_COUNT = 1000
#: Longest XREAD block; the reader checks the epoch whenever a block ends empty.
BLOCK_MS = 1000
BACKOFF_START = 0.1
BACKOFF_MAX = 5.0
#: Unsent bytes a group member may have before it falls behind and catches up from its own
#: outbox (about two seconds of 100 deltas/s of 1.3 KB: a client that pauses briefly is
#: not moved out; a healthy socket sends everything at once).
LAG_LIMIT = 256 * 1024


#: After a write pass of t seconds the reader pauses at least ``IDLE_SHARE * t``: when passes
#: run longer than the flush interval, a quarter of the loop stays free for everything else.
IDLE_SHARE = 1 / 3


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

    ``delta``: ``data`` is the frame, ``seq``/``order`` its stream id. ``frame``: ``data``
    is a frame of a group (a ``batch``), ``seq``/``order`` the id of its last delta.
    ``heartbeat``:
    ``seq``/``order`` is the reader's position when it was queued (every entry up to it
    was already offered), ``heartbeat`` the shared health data.
    """

    kind: str  # "delta" | "frame" (a group's ready frame, see FeedHub) | "heartbeat"
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


class Member(Subscriber, Protocol):
    """A connection that can join a :class:`Group` (a board session)."""

    live: bool  # set by the hub: it is a member of its group

    @property
    def group(self) -> GroupKey: ...

    def standing(self) -> Standing: ...

    def buffered(self) -> int:
        """Bytes written to the socket that it has not sent yet."""
        ...

    def push(self, wire: bytes) -> None:
        """Write a framed message to the socket now (nothing when it is closing)."""
        ...

    def left(self, seq: str, order: tuple[int, int], epoch: str | None) -> None:
        """It left its group standing at ``seq`` (every delta up to it was written)."""
        ...


def group_backlog(items: list[Outgoing], frames: list[bytes], *, batch: bool) -> list[Outgoing]:
    """A group's frames of one read as outbox items for members that fell behind: its
    delta items themselves, or one ``frame`` item per batch frame (its last delta's id)."""
    if not batch or len(items) == 1:
        return items
    out = []
    for index, frame in enumerate(frames):
        last = items[min(len(items), (index + 1) * BATCH_MAX) - 1]
        out.append(Outgoing("frame", last.seq, last.order, last.epoch, frame))
    return out


def wire_text(payload: bytes, deflate: int = 0) -> bytes:
    """``payload`` framed as one unmasked websocket text message (server to client), ready
    to write to the socket of every connection of a group: compressed once with
    permessage-deflate and a window of ``deflate`` bits when they negotiated it (no context
    takeover, so the bytes suit each of them; see :func:`web.protocol.shared_deflate`),
    plain when ``deflate`` is 0."""
    frame = Frame(Opcode.TEXT, payload)
    if not deflate:
        return frame.serialize(mask=False, extensions=[])
    # No context takeover on both sides: the extension keeps no compressor between calls.
    encoder = PerMessageDeflate(True, True, 15, deflate)
    return frame.serialize(mask=False, extensions=[encoder])


class Group:
    """Connections that receive the same frames; written to together."""

    __slots__ = ("key", "laggards", "members", "tick")

    def __init__(self, key: GroupKey) -> None:
        self.key = key
        self.members: dict[Member, None] = {}  # insertion-ordered set
        # Fell behind: each gets the group's frames in its own outbox until it caught up.
        self.laggards: dict[Member, None] = {}
        self.tick: list[Outgoing] = []  # this read's deltas for the group

    def __repr__(self) -> str:
        keys, batch, deflate = self.key
        return f"Group({sorted(keys)}, batch={batch}, deflate={deflate}, members={len(self.members)})"


class FeedHub:
    """The process-wide reader of ``board:feed``.

    Args:
        store: the board store (its blocking client is used for XREAD).
        metrics: this node's metrics.
        heartbeat: seconds between heartbeats.
        clock: the board clock (heartbeats carry its time and speed).
        queue_size: capacity of each connection's outbox (``GOVPULSE_WS_QUEUE``).
        now: real time source (worker staleness, feed lag).
        lag_limit: unsent bytes after which a member leaves its group.
        flush_interval: least seconds between two writes of live deltas: the reader
            then reads what accumulated meanwhile and each group's members get it in one
            frame, so the cost per connection follows this rate, not the delta rate.
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
        lag_limit: int = LAG_LIMIT,
        flush_interval: float = 0.0,
    ) -> None:
        self.store = store
        self.lag_limit = lag_limit
        self.flush_interval = flush_interval
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
        self._position_key = stream_id_key(ORIGIN_ID)
        # Pending connections, by route key (each entry is offered to them one by one).
        self._subs: dict[RouteKey, set[Subscriber]] = collections.defaultdict(set)
        self._indexed: dict[Subscriber, frozenset[RouteKey]] = {}
        self._all: set[Subscriber] = set()
        # Members: their group, the groups by key and by route key.
        self._live: dict[Member, Group] = {}
        self._groups: dict[GroupKey, Group] = {}
        self._group_routes: dict[RouteKey, list[Group]] = collections.defaultdict(list)
        # Members that fell behind: their group's frames go to their outboxes.
        self._lagging: dict[Member, Group] = {}
        # Members-to-be waiting for something that needs no action of theirs.
        self._joining: set[Member] = set()
        self._check_epoch = True
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        # A heartbeat the members have yet to get (with the reader's next write).
        self._due: Heartbeat | None = None

    # -- subscriptions --------------------------------------------------------------

    def register(self, sub: Subscriber) -> None:
        """Start offering matching entries to ``sub`` (before it reads its snapshot); it
        is pending until it joins its group (:meth:`try_join`)."""
        self._all.add(sub)
        self._index(sub)

    def unregister(self, sub: Subscriber) -> None:
        self._all.discard(sub)
        self._unindex(sub)
        member = cast("Member", sub)
        self._joining.discard(member)
        group = self._live.pop(member, None) or self._lagging.pop(member, None)
        if group is not None:
            self._remove_from(group, member)
            self._count_groups()

    def resubscribe(self, sub: Subscriber) -> None:
        """Re-index ``sub`` after its keys changed (a new view); it is pending again."""
        self.leave(cast("Member", sub))
        self.unregister(sub)
        self.register(sub)

    def _index(self, sub: Subscriber) -> None:
        keys = self._indexed[sub] = sub.keys
        for key in keys:
            self._subs[key].add(sub)

    def _unindex(self, sub: Subscriber) -> None:
        for key in self._indexed.pop(sub, ()):
            subs = self._subs.get(key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[key]

    # -- groups ---------------------------------------------------------------------

    def try_join(self, member: Member) -> bool:
        """Make ``member`` a member of its group if it stands where the group's next
        frame starts (see :func:`web.protocol.join_refusal`); if it only waits for the
        reader or its socket, it is asked again after each read. True: it joined."""
        if member in self._live or member not in self._all:
            return member in self._live
        refusal = join_refusal(
            member.standing(), epoch=self.epoch, position=self._position_key, lag_limit=self.lag_limit
        )
        if refusal is not None:
            if refusal in JOIN_LATER:
                self._joining.add(member)
            else:
                self._joining.discard(member)
            return False
        self._joining.discard(member)
        key = member.group
        assert key[0] == member.keys, f"{member!r} would join the group of other route keys"
        group = self._lagging.pop(member, None)
        if group is not None:
            del group.laggards[member]  # caught up with its group's frames
        else:
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = Group(key)
                for route in key[0]:
                    self._group_routes[route].append(group)
            self._unindex(member)
        group.members[member] = None
        self._live[member] = group
        member.live = True
        self.metrics.group_joins.inc()
        self._count_groups()
        return True

    def leave(self, member: Member, why: str = "sync") -> bool:
        """Make ``member`` pending again (each entry offered to it one by one). A member
        stands at the reader's position (everything up to it was written to it); one
        that fell behind goes on from where its outbox ends. True: it was in a group."""
        group = self._lagging.pop(member, None)
        if group is None:
            group = self._live.pop(member, None)
            if group is None:
                return False
            member.live = False
            member.left(self.position, self._position_key, self.epoch)
            self.metrics.group_leaves.labels(why).inc()
        self._remove_from(group, member)
        self._index(member)
        self._count_groups()
        return True

    def _fall_behind(self, member: Member, group: Group) -> None:
        """``member``'s socket is full: from now on it gets its group's frames in its own
        outbox (with backpressure and its slow-client policy) until it caught up."""
        del self._live[member]
        del group.members[member]
        group.laggards[member] = None
        self._lagging[member] = group
        member.live = False
        member.left(self.position, self._position_key, self.epoch)
        self.metrics.group_leaves.labels("slow").inc()
        self._count_groups()

    def _remove_from(self, group: Group, member: Member) -> None:
        group.members.pop(member, None)
        group.laggards.pop(member, None)
        if not group.members and not group.laggards:
            del self._groups[group.key]
            for route in group.key[0]:
                groups = self._group_routes[route]
                groups.remove(group)
                if not groups:
                    del self._group_routes[route]

    def _count_groups(self) -> None:
        self.metrics.groups.set(len(self._groups))
        self.metrics.group_members.set(len(self._live))

    @property
    def groups(self) -> list[Group]:
        return list(self._groups.values())

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
        loop = asyncio.get_running_loop()
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
                started = loop.time()
                self.dispatch(entries)
                took = loop.time() - started
                self.metrics.write_pass.set(took)
                # Let deltas accumulate so that one write per group carries all of them;
                # and leave the loop a share of the time however many connections there
                # are (sessions, pings, new connections).
                pause = max(self.flush_interval - took, took * IDLE_SHARE)
                if pause > 0:
                    await asyncio.sleep(pause)
            else:
                self.metrics.feed_lag.set(0)
                # Idle: an epoch change without new entries (FLUSHALL) is only seen here.
                self._check_epoch = True

    async def _sync_epoch(self, *, initial: bool) -> None:
        epoch, created = await self.store.ensure_epoch()
        if initial or self.epoch is None:
            self.epoch = epoch
            self._set_position(await self.store.last_id())
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
        for member in [*self._live, *self._lagging]:
            self.leave(member, "epoch")
        self.epoch = epoch
        self._set_position(position)
        for sub in list(self._all):
            sub.request_snapshot("epoch changed")

    def _set_position(self, position: str) -> None:
        self.position = position
        self._position_key = stream_id_key(position)

    def dispatch(self, entries: Iterable[FeedEntry]) -> None:
        """Write each entry's delta to the connections that see it, in feed order: once
        per group to its members, one by one to pending connections."""
        segment: list[FeedEntry] = []
        for entry in entries:
            if entry.epoch and entry.epoch != self.epoch:
                self._flush(segment)
                segment = []
                # Connections re-snapshot after this point, so entries from here on are
                # either in their snapshot or after it.
                self._reset(entry.epoch, self.position, "entry of another epoch")
            segment.append(entry)
        self._flush(segment)

    def _flush(self, entries: list[FeedEntry]) -> None:
        if not entries:
            return
        touched: list[Group] = []
        offered = 0
        for entry in entries:
            item = Outgoing(
                "delta", entry.id, stream_id_key(entry.id), entry.epoch, delta_frame(entry.id, entry.body)
            )
            keys = routes(entry.kind, entry.unit)
            targets: Iterable[Subscriber]
            if len(keys) == 1:
                targets = self._subs.get(keys[0], ())
            else:
                found: set[Subscriber] = set()
                for key in keys:
                    found.update(self._subs.get(key, ()))
                targets = found
            for sub in list(targets):
                sub.offer(item)
                offered += 1
            for key in keys:
                for group in self._group_routes.get(key, ()):
                    if not group.tick:
                        touched.append(group)
                    elif group.tick[-1] is item:
                        continue  # reached through two of its route keys
                    group.tick.append(item)
        last = entries[-1]
        beat = self._take_beat(last.id)
        for group in touched:
            offered += self._write_group(group, beat)
        if beat is not None:
            written = set(touched)
            self._beat_members([g for g in self._groups.values() if g not in written], beat)
        self.metrics.deltas_dispatched.inc(offered)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%d entries: %d groups (%d members) written, %d deltas delivered or queued",
                len(entries),
                len(touched),
                sum(len(g.members) for g in touched),
                offered,
            )
        self._set_position(last.id)
        self.metrics.feed_entries.inc(len(entries))
        lag = max(0.0, self.now() - self._position_key[0] / 1000.0)
        self.metrics.feed_lag.set(lag)
        for member in list(self._joining):
            self.try_join(member)

    def _write_group(self, group: Group, beat: tuple[bytes, Outgoing] | None = None) -> int:
        """Write the group's deltas of this read (and ``beat``, a due heartbeat) to its
        members, in one write per member; a member whose socket is full falls behind
        first. Members that fell behind get the same frames in their outboxes. Returns the
        deltas written or queued."""
        items, group.tick = group.tick, []
        _, batch, deflate = group.key
        frames = group_payloads([item.data for item in items], batch=batch)
        wires = [wire_text(frame, deflate) for frame in frames]
        if beat is not None:
            wires.append(beat[0])
        wire = wires[0] if len(wires) == 1 else b"".join(wires)
        lag_limit = self.lag_limit
        written = 0
        for member in list(group.members):
            if member.buffered() > lag_limit:
                self._fall_behind(member, group)
                continue
            member.push(wire)
            written += 1
        if written:
            kind = "batch" if batch and len(items) > 1 else "delta"
            self.metrics.sent(kind).inc(written * len(frames))
            if beat is not None:
                self.metrics.sent("heartbeat").inc(written)
        laggards = list(group.laggards)
        if laggards:
            backlog = group_backlog(items, frames, batch=batch)
            if beat is not None:
                backlog.append(beat[1])
            for member in laggards:
                for item in backlog:
                    member.offer(item)
        return (written + len(laggards)) * len(items)

    def _take_beat(self, seq: str) -> tuple[bytes, Outgoing] | None:
        """The heartbeat due to the members, if any (taken: it is written once), as a frame
        and as an outbox item, standing at ``seq``: where every member stands once the
        reader's current write is done."""
        heartbeat, self._due = self._due, None
        if heartbeat is None:
            return None
        epoch = self.epoch or ""
        item = Outgoing("heartbeat", seq, stream_id_key(seq), epoch, heartbeat=heartbeat)
        frame = heartbeat_frame(
            ts=heartbeat.ts,
            clock_now=heartbeat.clock_now,
            speed=heartbeat.speed,
            seq=seq,
            stale=heartbeat.stale,
            redis_up=heartbeat.redis_up,
            age=heartbeat.age,
            epoch=self.epoch,
        )
        return wire_text(frame), item

    def _beat_members(self, groups: Iterable[Group], beat: tuple[bytes, Outgoing]) -> None:
        """Write a heartbeat alone to the members of ``groups`` (one whose socket is full
        becomes pending and gets it in its outbox), and offer it to their laggards."""
        wire, item = beat
        written = 0
        for group in list(groups):
            for member in list(group.members):
                if member.buffered() <= self.lag_limit:
                    member.push(wire)
                    written += 1
                    continue
                self.leave(member, "slow")
                member.offer(item)
            for member in list(group.laggards):
                member.offer(item)
        self.metrics.sent("heartbeat").inc(written)

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
        """Refresh the worker age and give every connection a heartbeat: offered to each
        pending connection now, and to the members with the reader's next write, or
        written alone after one flush interval if the reader wrote nothing meanwhile."""
        await self.refresh()
        self.announce_heartbeat()
        if self.flush_interval > 0:
            await asyncio.sleep(self.flush_interval)
        self.write_due_heartbeat()

    def announce_heartbeat(self) -> None:
        """Offer a heartbeat to every pending connection, and make one due to the members:
        the reader's next write carries it (in the same write as a group's deltas)."""
        heartbeat = self.current_heartbeat()
        item = Outgoing("heartbeat", self.position, self._position_key, self.epoch or "", heartbeat=heartbeat)
        for sub in list(self._all):
            if cast("Member", sub) not in self._live and sub not in self._lagging:
                sub.offer(item)
        self._due = heartbeat

    def write_due_heartbeat(self) -> None:
        """Write the due heartbeat, if the reader has not, alone to every member."""
        beat = self._take_beat(self.position)
        if beat is not None:
            self._beat_members(list(self._groups.values()), beat)

    def _set_up(self, up: bool, exc: BaseException | None = None) -> None:
        if up != self.redis_up:
            if up:
                log.info("Redis reachable")
            else:
                log.warning("Redis unreachable (%s); board marked stale", exc)
        self.redis_up = up
        self.metrics.redis_up.set(1 if up else 0)
