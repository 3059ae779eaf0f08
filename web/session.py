"""One authenticated board connection: initial sync, live deltas, commands.

Two tasks per connection:

* the sender syncs (replay or snapshot), then sends what the :class:`~web.feed.FeedHub`
  queued in its outbox, in feed order. It is registered with the hub *before* reading the
  snapshot or replay, and drops queued deltas whose id is not after the position it
  synced to: no gap, no duplicate. When the outbox overflows, the slow-client policy
  applies: ``snapshot`` drops the backlog and re-syncs; ``close`` closes with 1008.
  Whenever its outbox is empty it asks the hub to join its fan-out group; as a member it
  sends nothing itself (the hub writes the group's frames to its socket) until the hub
  makes it leave (it fell behind, or it must re-sync) and offers it entries again.
* the receiver parses client frames (view, ack, explain, ping) and answers directly.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from runtime.board import BoardStore, FeedEntry, stream_id_key
from runtime.clock import Clock
from runtime.notices import NoticeStore
from web import notices, protocol
from web.auth import Claims
from web.commands import CommandSink, CommandUnavailable
from web.errors import ProtocolError
from web.feed import FeedHub, Heartbeat, Outbox, Outgoing
from web.metrics import WebMetrics
from web.protocol import (
    AckFrame,
    AuthFrame,
    Denied,
    ExplainFrame,
    GroupKey,
    PingFrame,
    Resume,
    RouteKey,
    Standing,
    ViewFrame,
)

log = logging.getLogger(__name__)

# Most deltas one batch frame carries (about 1 KB each: a frame stays far below a MB).
BATCH_MAX = protocol.BATCH_MAX

#: Entries read per replay page, and the most a replay reads before a snapshot is cheaper.
REPLAY_PAGE = 1000
REPLAY_MAX = 20_000


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What every session of a node shares."""

    store: BoardStore
    hub: FeedHub
    sink: CommandSink
    metrics: WebMetrics
    clock: Clock
    unit_exists: Callable[[str], bool]
    queue_size: int
    slow_policy: str
    heartbeat: float
    command_rate: float
    command_burst: int
    now: Callable[[], float] = time.time
    vapid_key: str | None = None
    #: The unit an explanation request on a fingerprint not on the board would open its
    #: alert for (an explanation on any indicator), or None.
    opens_for: Callable[[str], str | None] = lambda fingerprint: None


class StoreUnavailable(Exception):
    """Redis did not answer while syncing; the connection closes with 1013."""


class Session:
    """State and tasks of one connection after authentication."""

    def __init__(
        self,
        ws: ServerConnection,
        claims: Claims,
        *,
        view: str | None,
        resume: Resume | None,
        config: SessionConfig,
        ident: int,
        batch: bool = False,
        deflate: int = 0,
    ) -> None:
        self.ws = ws
        self.batch = batch
        self.claims = claims
        self.scope = claims.scope
        self.view = view
        self.config = config
        self.ident = ident
        self.outbox = Outbox(config.queue_size)
        self.bucket = protocol.TokenBucket(
            rate=config.command_rate, burst=config.command_burst, now=config.now()
        )
        self.epoch: str | None = None
        self.cursor: str | None = None
        self._cursor_key: tuple[int, int] | None = None
        self._sync_resume = resume
        self._sync_reason: str | None = "resume" if resume is not None else "initial"
        self._closing = False
        self._done = False
        self._close_task: asyncio.Task[None] | None = None
        self._keys = protocol.subscriptions(self.scope, self.view)
        self.deflate = deflate  # the window its group's frames are compressed with (0: plain)
        self.live = False  # a member of its fan-out group (set by the hub)
        self._idle = False  # the sender waits for its outbox

    def __repr__(self) -> str:
        return f"Session(#{self.ident} scope={self.scope.text} view={self.view})"

    # -- Subscriber ------------------------------------------------------------------

    @property
    def keys(self) -> frozenset[RouteKey]:
        return self._keys

    def offer(self, item: Outgoing) -> None:
        """Queue ``item``; on overflow apply the slow-client policy (never waits)."""
        if self._closing:
            return
        if self.outbox.put(item):
            return
        policy = self.config.slow_policy
        self.config.metrics.slow_clients.labels(policy).inc()
        if policy == "snapshot":
            log.info(
                "session #%d: slow client, %d frames queued; dropping them for a snapshot",
                self.ident,
                len(self.outbox),
            )
            self.outbox.clear()
            self.request_snapshot("slow client")
        else:
            log.info(
                "session #%d: slow client, %d frames queued; closing 1008",
                self.ident,
                len(self.outbox),
            )
            self._closing = True
            self.outbox.clear()
            self._close_task = asyncio.get_running_loop().create_task(
                self.ws.close(
                    protocol.CLOSE_POLICY,
                    f"slow client: more than {self.outbox.capacity} frames queued",
                )
            )

    def request_snapshot(self, reason: str) -> None:
        """Make the sender send a fresh snapshot before anything else still queued."""
        self.config.hub.leave(self)  # its group must write it nothing more until then
        self._sync_resume = None
        self._sync_reason = reason
        self.outbox.wake()

    # -- Member -----------------------------------------------------------------------

    @property
    def group(self) -> GroupKey:
        return (self._keys, self.batch, self.deflate)

    def standing(self) -> Standing:
        return Standing(
            syncing=self._sync_reason is not None,
            idle=self._idle,
            queued=len(self.outbox),
            epoch=self.epoch,
            cursor=self._cursor_key,
            buffered=self.buffered(),
        )

    def buffered(self) -> int:
        # ``transport`` is the connection's asyncio transport (websockets sets it in
        # connection_made; tests/web/test_session.py fails if that changes).
        return self.ws.transport.get_write_buffer_size()

    def push(self, wire: bytes) -> None:
        if self.ws.state is State.OPEN:
            self.ws.transport.write(wire)

    def left(self, seq: str, order: tuple[int, int], epoch: str | None) -> None:
        self.epoch = epoch
        self._advance(seq, order)

    # -- run ------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it closes (the caller registers and unregisters)."""
        sender = asyncio.create_task(self._send_loop(), name=f"ws-send-{self.ident}")
        receiver = asyncio.create_task(self._receive_loop(), name=f"ws-recv-{self.ident}")
        done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        # Both loops also check _done: on Python 3.11 a cancellation racing with a
        # completing asyncio.wait_for (inside redis-py) can be swallowed.
        self._done = True
        self.outbox.wake()
        for task in pending:
            task.cancel()
        if pending:
            _, stuck = await asyncio.wait(pending, timeout=5.0)
            for task in stuck:
                log.warning("session #%d: task %s did not stop in time", self.ident, task.get_name())
        for task in done:
            exc = task.exception()
            if exc is not None and not isinstance(exc, ConnectionClosed):
                raise exc

    async def _send(self, data: bytes, frame_type: str) -> None:
        await self.ws.send(data, text=True)
        self.config.metrics.sent(frame_type).inc()

    async def _send_loop(self) -> None:
        while not self._done:
            if self._sync_reason is not None:
                reason, resume = self._sync_reason, self._sync_resume
                self._sync_reason, self._sync_resume = None, None
                await self._sync(reason, resume)
                continue
            self._idle = True
            if not self.live and not self.outbox:
                # Everything offered was sent: from here the group can write to it.
                self.config.hub.try_join(self)
            try:
                item = await self.outbox.get()
            finally:
                self._idle = False
            if item is None or self._sync_reason is not None:
                continue
            await self._handle(item)

    async def _handle(self, item: Outgoing | None) -> None:
        """Send one outbox item (a delta, with those queued behind it for batch clients;
        a group's frame; a heartbeat)."""
        while item is not None:
            fresh = self._cursor_key is None or item.order > self._cursor_key  # else in its sync
            if item.kind == "delta":
                if self.batch and len(self.outbox):
                    item = await self._send_batch(item)  # the item that ended the run, if any
                    continue
                if fresh:
                    await self._send(item.data, "delta")
                    self._advance(item.seq, item.order)
                return
            if item.kind == "frame":  # its group's frame, after it fell behind
                if fresh:
                    await self._send(
                        item.data, "batch" if item.data.startswith(b'{"type":"batch"') else "delta"
                    )
                    self._advance(item.seq, item.order)
                return
            assert item.heartbeat is not None
            if item.epoch == self.epoch and fresh:
                # Every entry up to the hub's position was offered before this heartbeat.
                self._advance(item.seq, item.order)
            await self._send_heartbeat(item.heartbeat)
            return

    async def _send_batch(self, first: Outgoing) -> Outgoing | None:
        """Send ``first`` and the deltas queued right behind it as one ``batch`` frame (one
        delta alone goes as a plain ``delta``). Returns the item that ended the run (a
        heartbeat or a frame), if any, for the caller to handle next."""
        frames: list[bytes] = []
        last: Outgoing | None = None
        stop: Outgoing | None = None
        item: Outgoing | None = first
        while item is not None:
            if item.kind != "delta":
                stop = item
                break
            if self._cursor_key is None or item.order > self._cursor_key:
                frames.append(item.data)
                last = item
            if len(frames) >= BATCH_MAX:
                break
            item = self.outbox.pop()
        if last is not None:
            if len(frames) == 1:
                await self._send(frames[0], "delta")
            else:
                await self._send(protocol.batch_frame(frames), "batch")
            self._advance(last.seq, last.order)
        return stop

    def _advance(self, seq: str, order: tuple[int, int]) -> None:
        self.cursor, self._cursor_key = seq, order

    async def _sync(self, reason: str, resume: Resume | None) -> None:
        try:
            if resume is None or not await self._replay(resume):
                await self._snapshot(reason)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc
        # Health right away: a page must not wait a heartbeat interval to know it is fresh.
        await self._send_heartbeat(self.config.hub.current_heartbeat())

    async def _send_heartbeat(self, beat: Heartbeat) -> None:
        await self._send(
            protocol.heartbeat_frame(
                ts=beat.ts,
                clock_now=beat.clock_now,
                speed=beat.speed,
                seq=self.cursor,
                stale=beat.stale,
                redis_up=beat.redis_up,
                age=beat.age,
                epoch=self.epoch,
            ),
            "heartbeat",
        )

    async def _snapshot(self, reason: str) -> None:
        store = self.config.store
        snapshot = await store.snapshot(
            units=True,
            alerts=True,
            queue_unit=self.view,
            unit_filter=self.scope.unit if self.scope.kind == "unit" else None,
        )
        frame = protocol.snapshot_frame(
            snapshot,
            scope=self.scope,
            view=self.view,
            clock_now=self.config.clock.now(),
            speed=self.config.clock.speed,
            heartbeat=self.config.heartbeat,
            reason=reason,
        )
        self.epoch = snapshot.epoch
        self._advance(snapshot.seq, stream_id_key(snapshot.seq))
        await self._send(frame, "snapshot")
        self.config.metrics.snapshots.labels(reason).inc()
        log.debug(
            "session #%d: snapshot (%s) seq=%s units=%d alerts=%d queue=%d",
            self.ident,
            reason,
            snapshot.seq,
            len(snapshot.units),
            len(snapshot.alerts),
            len(snapshot.queue),
        )

    async def _replay(self, resume: Resume) -> bool:
        """Send every delta after ``resume.seq`` this connection may see; false: snapshot."""
        store = self.config.store
        page = await store.range_after(resume.seq, REPLAY_PAGE)
        decision = protocol.decide_resume(resume, epoch=page.epoch or "", bounds=page.bounds)
        if not decision.replay:
            log.info(
                "session #%d: resume %s:%s refused (%s); sending a snapshot",
                self.ident,
                resume.epoch,
                resume.seq,
                decision.reason,
            )
            return False
        entries: list[FeedEntry] = []
        after = resume.seq
        read = 0
        while True:
            read += len(page.entries)
            if any(e.epoch != resume.epoch for e in page.entries):
                return False  # the feed was replaced under this epoch's ids
            entries.extend(page.entries)
            if len(page.entries) < REPLAY_PAGE:
                break
            after = page.entries[-1].id
            if read >= REPLAY_MAX:
                log.info(
                    "session #%d: more than %d deltas to replay; sending a snapshot",
                    self.ident,
                    REPLAY_MAX,
                )
                return False
            page = await store.range_after(after, REPLAY_PAGE)
            if page.epoch != resume.epoch or not protocol.page_gapless(after, page.bounds):
                return False
        last = page.entries[-1].id if page.entries else after
        matching = [e for e in entries if protocol.accepts(self.scope, self.view, e.kind, e.unit)]
        self.epoch = resume.epoch
        await self._send(
            protocol.resume_frame(
                epoch=resume.epoch,
                after=resume.seq,
                seq=last,
                count=len(matching),
                scope=self.scope,
                view=self.view,
                clock_now=self.config.clock.now(),
                speed=self.config.clock.speed,
                heartbeat=self.config.heartbeat,
            ),
            "resume",
        )
        for entry in matching:
            await self._send(protocol.delta_frame(entry.id, entry.body, recovered=True), "delta")
        self._advance(last, stream_id_key(last))
        self.config.metrics.replays.inc(len(matching))
        log.debug(
            "session #%d: replayed %d deltas after %s up to %s",
            self.ident,
            len(matching),
            resume.seq,
            last,
        )
        return True

    # -- receiver -------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        async for message in self.ws:
            try:
                frame = protocol.parse_client_frame(message)
            except ProtocolError as exc:
                await self._reply(protocol.error_frame(exc.code, exc.message), "error")
                continue
            if isinstance(frame, PingFrame):
                await self._reply(protocol.pong_frame(self.config.now(), ref=frame.ref), "pong")
            elif isinstance(frame, ViewFrame):
                await self._change_view(frame)
            elif isinstance(frame, AckFrame | ExplainFrame):
                await self._command(frame)
            elif isinstance(frame, AuthFrame):
                await self._reply(protocol.error_frame("bad_frame", "already authenticated"), "error")
            elif isinstance(frame, notices.NoticeFrame):
                await self._notice(frame)

    async def _notice(self, frame: notices.NoticeFrame) -> None:
        """Push subscriptions and inboxes (web/notices.py); they share the command bucket."""
        if frame.kind != "push_key" and not self.bucket.take(self.config.now()):
            await self._reply(
                protocol.error_frame(
                    "rate_limited", "too many requests; wait a moment and retry", ref=frame.ref
                ),
                "error",
            )
            return

        async def alert_unit(fingerprint: str) -> str | None:
            alert = await self.config.store.alert(fingerprint)
            return None if alert is None else str(alert.get("unit"))

        try:
            reply = await notices.answer(
                frame,
                scope=self.scope.text,
                subject=self.claims.subject,
                store=NoticeStore(self.config.store.client),
                vapid_key=self.config.vapid_key,
                alert_unit=alert_unit,
                can_view=lambda unit: protocol.can_view(self.scope, unit),
                now=self.config.now(),
            )
        except RedisError:
            reply = protocol.error_frame(
                "unavailable", "the board store is unreachable; retry later", ref=frame.ref
            )
        await self._reply(reply, frame.kind)

    async def _reply(self, data: bytes, frame_type: str) -> None:
        await self._send(data, frame_type)

    async def _change_view(self, frame: ViewFrame) -> None:
        if not protocol.can_view(self.scope, frame.unit):
            log.info(
                "session #%d: refused view=%s for %s (%s): forbidden",
                self.ident,
                frame.unit,
                self.scope.text,
                self.claims.subject,
            )
            await self._reply(
                protocol.error_frame("forbidden", f"scope {self.scope.text} cannot view another unit"),
                "error",
            )
            return
        if frame.unit is not None and not self.config.unit_exists(frame.unit):
            await self._reply(
                protocol.error_frame("not_found", f"unit {frame.unit} is not in the catalog"),
                "error",
            )
            return
        if frame.unit == self.view:
            return
        self.view = frame.unit
        self._keys = protocol.subscriptions(self.scope, self.view)
        self.config.hub.resubscribe(self)
        self.request_snapshot("view")

    async def _command(self, frame: AckFrame | ExplainFrame) -> None:
        metrics = self.config.metrics
        name = "ack" if isinstance(frame, AckFrame) else "explain"
        if not self.bucket.take(self.config.now()):
            metrics.commands.labels(name, "rate_limited").inc()
            await self._reply(
                protocol.error_frame(
                    "rate_limited", "too many commands; wait a moment and retry", ref=frame.ref
                ),
                "error",
            )
            return
        try:
            alert = await self.config.store.alert(frame.alert)
        except (RedisError, OSError):
            alert = None
            metrics.commands.labels(name, "unavailable").inc()
            await self._reply(
                protocol.error_frame(
                    "unavailable", "the board store is unreachable; retry later", ref=frame.ref
                ),
                "error",
            )
            return
        unit = alert.get("unit") if alert is not None else None
        decision = protocol.authorize_command(
            self.scope,
            frame,
            unit if isinstance(unit, str) else None,
            opens_for=self.config.opens_for(frame.alert) if alert is None else None,
        )
        if isinstance(decision, Denied):
            metrics.commands.labels(name, decision.code).inc()
            log.info(
                "session #%d: refused %s on alert=%r for %s (%s): %s",
                self.ident,
                name,
                frame.alert[:80],
                self.scope.text,
                self.claims.subject,
                decision.code,
            )
            await self._reply(protocol.error_frame(decision.code, decision.message, ref=frame.ref), "error")
            return
        command_id = uuid.uuid4().hex
        body = protocol.command_body(
            command_id=command_id,
            command_type=decision,
            alert=frame.alert,
            text=frame.text if isinstance(frame, ExplainFrame) else None,
            scope=self.scope,
            subject=self.claims.subject,
            at=self.config.clock.now(),
        )
        try:
            await self.config.sink.send(frame.alert, body)
        except CommandUnavailable:
            metrics.commands.labels(decision, "unavailable").inc()
            await self._reply(
                protocol.error_frame(
                    "unavailable",
                    "commands cannot be delivered right now; retry later",
                    ref=frame.ref,
                ),
                "error",
            )
            return
        metrics.commands.labels(decision, "accepted").inc()
        log.info(
            "session #%d: %s on alert=%s by %s command=%s",
            self.ident,
            decision,
            frame.alert,
            self.scope.text,
            command_id,
        )
        await self._reply(protocol.accepted_frame(command_id, ref=frame.ref), "accepted")
