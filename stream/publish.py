"""Publishes the board's state from the worker to Redis, surviving Redis outages.

Stages hand changes to :class:`Publisher` (queue entries, unit boards, alerts). Changes
are coalesced by key — only the latest value of each board entry matters — and flushed
in order by one background task through :class:`runtime.board.BoardStore` (hash write
and feed delta in one Lua call). While Redis is unreachable, changes keep coalescing in
memory (bounded by the number of distinct entries, not by time) and are flushed when it
returns. If Redis came back empty (its epoch is gone: a restart without persistence),
every stage is asked to republish its whole state, so the board converges to the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from domain.encoding import dumps_kept
from runtime.board import BoardStore, Change, check_change

log = logging.getLogger(__name__)

Republish = Callable[[], Awaitable[None]]
#: A flush of at least this many changes is a bulk one (see :meth:`Publisher.on_bulk_flushed`).
BULK_FLUSH = 10_000


class Publisher:
    """Coalescing, outage-tolerant writer of board changes.

    Args:
        store: the board store.
        worker_id: identity of this worker in ``board:workers``.
        interval: flush period in seconds (alerts are flushed at once).
        clock_now: the govpulse clock, reported in the worker heartbeat.
    """

    def __init__(
        self,
        store: BoardStore,
        *,
        worker_id: str,
        interval: float = 0.25,
        clock_now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.worker_id = worker_id
        self.interval = interval
        self.clock_now = clock_now
        self.up = False
        self.epoch: str | None = None
        self.published = 0
        self.failures = 0
        self._pending: dict[tuple[str, str, str], Change] = {}
        self._indicators: dict[str, bytes] = {}
        self._wakeup = asyncio.Event()
        self._republishers: list[Republish] = []
        self._task: asyncio.Task[None] | None = None
        self._info: Callable[[], dict[str, Any]] = dict
        self._on_bulk_flushed: Callable[[], object] | None = None
        self._flushing = asyncio.Lock()  # the loop and drain() never flush at once

    # -- producers ---------------------------------------------------------------------

    def on_republish(self, callback: Republish) -> None:
        """Register a coroutine that re-enqueues a stage's whole state."""
        self._republishers.append(callback)

    def on_bulk_flushed(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` after a flush that drained at least :data:`BULK_FLUSH`
        changes (a republish of the whole board): its transient memory is free again."""
        self._on_bulk_flushed = callback

    def set_info(self, info: Callable[[], dict[str, Any]]) -> None:
        """What the worker heartbeat reports (partitions, lag…)."""
        self._info = info

    def put(self, change: Change, *, urgent: bool = False) -> None:
        """Queue ``change``, replacing any pending change of the same entry.

        A malformed change is logged and dropped: it must never block the others.
        """
        try:
            check_change(change)
        except ValueError as exc:
            log.error("dropped malformed board change kind=%s key=%r: %s", change.kind, change.key, exc)
            return
        self._put(change, urgent=urgent)

    def _put(self, change: Change, *, urgent: bool = False) -> None:
        self._pending[(change.kind, change.unit if change.kind == "queue" else "", change.key)] = change
        if urgent:
            self._wakeup.set()

    def queue(self, unit: str, item_id: str, summary: dict[str, Any] | None) -> None:
        """An item's queue entry; ids and unit codes were validated on the way in."""
        data = None if summary is None else dumps_kept(summary)
        self._put(Change("queue", item_id, unit, data))

    def unit(self, node: str, board: bytes) -> None:
        """A node's board entry (codes come from the unit catalog)."""
        self._put(Change("unit", node, node, board))

    def indicator(self, key: str, row: dict[str, Any]) -> None:
        """An indicator row for ``board:indicators`` (replacing any pending one of ``key``)."""
        self._indicators[key] = dumps_kept(row)

    def alert(self, fingerprint: str, unit: str, board: dict[str, Any] | None) -> None:
        data = None if board is None else dumps_kept(board)
        self.put(Change("alert", fingerprint, unit, data), urgent=True)

    @property
    def backlog(self) -> int:
        return len(self._pending)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="board-publisher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(TimeoutError, RedisError, OSError):
            await asyncio.wait_for(self._flush(), timeout=2.0)
        with contextlib.suppress(RedisError, OSError):
            await self.store.forget_worker(self.worker_id)
        await self.store.close()

    async def _run(self) -> None:
        backoff = 0.2
        last_beat = 0.0
        while True:
            try:
                if not self.up:
                    await self._connect()
                    backoff = 0.2
                if time.monotonic() - last_beat >= 1.0:
                    # Staleness is judged in real time; the (possibly accelerated) clock
                    # travels in the info for countdowns.
                    info = {**self._info(), "clock": self.clock_now()}
                    await self.store.beat(self.worker_id, now=time.time(), info=info)
                    last_beat = time.monotonic()
                await self._flush()
            except (RedisError, OSError) as exc:
                if self.up:
                    log.warning("Redis unreachable (%s); board changes are kept and retried", exc)
                self.up = False
                self.failures += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.error("board publisher failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.interval)
            self._wakeup.clear()

    async def _connect(self) -> None:
        epoch, created = await self.store.ensure_epoch()
        changed = created or (self.epoch is not None and epoch != self.epoch)
        first = self.epoch is None
        self.epoch = epoch
        self.up = True
        if changed or first:
            if not first:
                log.warning("Redis lost the board (new epoch %s); republishing current state", epoch)
            for republish in self._republishers:
                await republish()
        log.info("publishing the board to Redis (epoch %s, %d pending changes)", epoch, len(self._pending))

    async def drain(self) -> bool:
        """Publish every pending change now (a republish calls it between chunks, so it
        never holds the whole board). When Redis is unreachable the changes stay pending
        for the publisher's own retries. True: nothing is left pending."""
        if not self.up:
            return False
        try:
            await self._flush()
        except (RedisError, OSError) as exc:
            log.warning("board changes kept for the next attempt (%s)", exc)
            return False
        return not self._pending

    async def _flush(self) -> None:
        async with self._flushing:
            await self._flush_pending()

    async def _flush_pending(self) -> None:
        if self._indicators:
            rows, self._indicators = self._indicators, {}
            try:
                await self.store.put_indicators(rows)
            except BaseException:
                self._indicators = rows | self._indicators  # kept and retried
                raise
        flushed = 0
        while self._pending:
            # islice: a republish queues every open item at once, and copying all of
            # them for every chunk of 2,000 was quadratic.
            batch = list(itertools.islice(self._pending.values(), 2000))
            await self.store.publish(batch, checked=True, ids=False)
            for change in batch:
                key = (change.kind, change.unit if change.kind == "queue" else "", change.key)
                if self._pending.get(key) is change:
                    del self._pending[key]
            self.published += len(batch)
            flushed += len(batch)
        if flushed >= BULK_FLUSH and self._on_bulk_flushed is not None:
            self._on_bulk_flushed()
        # A publish may have created a new epoch (Redis was flushed between beats).
        epoch = await self.store.read_epoch()
        if epoch is not None and self.epoch is not None and epoch != self.epoch:
            self.up = False


class UnitPanels:
    """The unit panels of a worker's nodes on the board: the nodes whose rules and panel
    wait for the next refresh, and the panel last handed to the publisher for each (an
    unchanged panel is not sent again).

    Args:
        render: a node's panel at an instant (:meth:`stream.stages.units.UnitProcessor.board`).
        publisher: where changed panels go.
    """

    def __init__(self, render: Callable[[str, float], dict[str, Any]], publisher: Publisher) -> None:
        self.render = render
        self.publisher = publisher
        self.pending: set[str] = set()
        self._published: dict[str, bytes] = {}

    def publish(self, node: str, now: float) -> None:
        """Render ``node``'s panel at ``now``; hand it to the publisher if it changed."""
        board = dumps_kept(self.render(node, now))
        if self._published.get(node) != board:
            self._published[node] = board
            self.publisher.unit(node, board)

    def forget(self) -> None:
        """Forget what was published: the next :meth:`publish` of each node sends it."""
        self._published.clear()
