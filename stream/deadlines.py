"""The deadline index: the next instant at which time alone changes each key.

For the partitions a worker owns, :class:`DeadlineIndex` keeps one pending instant per
key (an item's next due-soon / overdue / escalation / purge instant, or an alert's next
reminder) in time buckets per partition, with lazy invalidation: rescheduling a key just
adds it to its new bucket, and stale references are skipped when a bucket is read.

Keys handed out by :meth:`pop_due` are *in flight* until the stage applies the tick and
reschedules them; if that does not happen within ``retry_after`` seconds (the tick was
lost with a crashed producer, say), :meth:`retry` hands them out again. Ticks are
idempotent, so a duplicate costs nothing.

:class:`Gate` decides whether a partition's ticks may fire up to ``now``: only when the
stage has caught up with the partition's input, or when the partition's own event time
has passed the instant. A worker replaying a backlog therefore never fires a deadline
before the events that precede it in event time, which keeps results equal to a
sequential execution.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from stream.sources import Source

#: Key type of an index: item table keys (bytes) for items, fingerprints (str) for alerts.
K = TypeVar("K", bound=Hashable)


class DeadlineIndex(Generic[K]):
    """Pending instants per key, grouped by partition.

    Memory matters here (one entry per open item): a key's pending instant is kept in
    its partition's map (key → instant), and the key once more in the list of its
    instant's *bucket* (``bucket`` seconds of the instant's clock); a small heap of
    bucket numbers gives their time order. That is a dict entry and a list slot per
    key, not a heap tuple per key (about 64 bytes less per open item). A key is pending
    in one partition at a time; scheduling it in another moves it.
    """

    def __init__(self, *, retry_after: float = 5.0, bucket: float = 600.0) -> None:
        self.retry_after = retry_after
        self.bucket = bucket
        #: Per partition: bucket number → keys scheduled in it (stale references included).
        self._buckets: dict[int, dict[int, list[K]]] = {}
        #: Per partition: min-heap of the numbers of its buckets.
        self._order: dict[int, list[int]] = {}
        self._pending: dict[int, dict[K, float]] = {}
        self._inflight: dict[K, tuple[int, float, float]] = {}

    def __len__(self) -> int:
        return sum(map(len, self._pending.values()))

    def __contains__(self, key: object) -> bool:
        return any(key in pending for pending in self._pending.values())

    def pending(self, key: K) -> float | None:
        for pending in self._pending.values():
            at = pending.get(key)
            if at is not None:
                return at
        return None

    def schedule(self, partition: int, key: K, at: float | None) -> None:
        """Set (or clear, with ``at=None``) the next instant of ``key``.

        Rescheduling only adds the key to its new bucket: the reference left in the old
        one is stale (the key's pending instant is elsewhere) and skipped when read.
        """
        self._inflight.pop(key, None)
        for other, elsewhere in self._pending.items():
            if other != partition and key in elsewhere:
                del elsewhere[key]
        pending = self._pending.get(partition)
        if at is None:
            if pending is not None:
                pending.pop(key, None)
            return
        if pending is None:
            pending = self._pending[partition] = {}
        elif pending.get(key) == at:
            return
        pending[key] = at
        buckets = self._buckets.get(partition)
        if buckets is None:
            buckets = self._buckets[partition] = {}
            self._order[partition] = []
        number = int(at // self.bucket)  # self._number(at), inline: once per event and per item rebuilt
        keys = buckets.get(number)
        if keys is None:
            buckets[number] = [key]
            heapq.heappush(self._order[partition], number)
        else:
            keys.append(key)

    def next_at(self, partition: int) -> float | None:
        """Earliest valid instant pending in ``partition``."""
        front = self._front(partition)
        if front is None:
            return None
        pending = self._pending[partition]
        return min(pending[key] for key in front[1])

    def earliest(self, partition: int) -> float | None:
        """Earliest instant still to be applied in ``partition`` (pending or in flight)."""
        pending = self.next_at(partition)
        flying = [at for p, at, _ in self._inflight.values() if p == partition]
        candidates = [at for at in (pending, min(flying, default=None)) if at is not None]
        return min(candidates, default=None)

    def pop_due(self, partition: int, until: float, *, real_now: float) -> list[tuple[K, float]]:
        """Remove and return the keys of ``partition`` due at or before ``until``, in time
        order (ties by key)."""
        out: list[tuple[K, float]] = []
        while (front := self._front(partition)) is not None:
            number, live = front
            if number * self.bucket > until:
                break
            pending = self._pending[partition]
            due = sorted((pending[key], key) for key in live if pending[key] <= until)
            for at, key in due:
                del pending[key]
                self._inflight[key] = (partition, at, real_now)
                out.append((key, at))
            if len(due) < len(live):
                break  # the rest of this bucket is later than until
            del self._buckets[partition][number]
            heapq.heappop(self._order[partition])
        return out

    def retry(self, *, real_now: float) -> list[tuple[int, K, float]]:
        """In-flight keys not rescheduled within ``retry_after`` real seconds."""
        out: list[tuple[int, K, float]] = []
        for key, (partition, at, fired) in list(self._inflight.items()):
            if real_now - fired >= self.retry_after:
                self._inflight[key] = (partition, at, real_now)
                out.append((partition, key, at))
        return out

    def partitions(self) -> list[int]:
        return list(self._buckets)

    def drop_partition(self, partition: int) -> None:
        """Forget everything about ``partition`` (revoked from this worker)."""
        self._buckets.pop(partition, None)
        self._order.pop(partition, None)
        self._pending.pop(partition, None)
        for key in [k for k, v in self._inflight.items() if v[0] == partition]:
            del self._inflight[key]

    def _number(self, at: float) -> int:
        return int(at // self.bucket)

    def _in_bucket(self, at: float | None, number: int) -> bool:
        return at is not None and self._number(at) == number

    def _front(self, partition: int) -> tuple[int, list[K]] | None:
        """The earliest bucket of ``partition`` that still holds a pending key: its number
        and those keys (each once; the bucket is compacted to them). Buckets left with
        stale references only are dropped on the way."""
        order = self._order.get(partition)
        if not order:
            return None
        buckets, pending = self._buckets[partition], self._pending[partition]
        while order:
            number = order[0]
            keys = buckets[number]
            live = [key for key in dict.fromkeys(keys) if self._in_bucket(pending.get(key), number)]
            if live:
                if len(live) != len(keys):
                    buckets[number] = live
                return number, live
            del buckets[number]
            heapq.heappop(order)
        return None


@dataclass(slots=True)
class Gate:
    """Progress of one partition's input, deciding how far its ticks may fire.

    Event time is tracked per source (``gov.feedback`` and ``gov.tasks`` of the partition):
    the sources progress unevenly (a sparse topic's whole backlog arrives in one fetch,
    days ahead of a busy topic's), so while a source still has a backlog only its own
    progress says how far the partition has certainly got.
    """

    event_times: dict[Source, float] = field(default_factory=dict)  # newest event time per source
    processed: dict[Source, int] = field(default_factory=dict)  # next offset per source

    @property
    def event_time(self) -> float:
        """The newest event time processed on any source (0 before the first)."""
        return max(self.event_times.values(), default=0.0)

    def observe(self, source: Source, offset: int, event_time: float | None) -> None:
        """Record that the message at ``offset`` of ``source`` was processed."""
        if offset + 1 > self.processed.get(source, 0):
            self.processed[source] = offset + 1
        if event_time is not None and event_time > self.event_times.get(source, 0.0):
            self.event_times[source] = event_time

    def caught_up(self, highwaters: dict[Source, int | None]) -> bool:
        """Whether every source has been processed up to its high-water mark.

        An unknown high-water mark (no fetch answered yet) is not caught up: right after
        a (re)start the backlog is not known, and firing ticks then could overtake it.
        """
        return not self._behind(highwaters)

    def _behind(self, highwaters: dict[Source, int | None]) -> list[Source]:
        return [
            source
            for source, highwater in highwaters.items()
            if highwater is None or self.processed.get(source, 0) < highwater
        ]

    def _lagging_time(self, behind: list[Source]) -> float:
        """How far in event time the sources with a backlog have certainly got: the
        slowest of them (0 for one that has processed nothing since the start)."""
        return min(self.event_times.get(source, 0.0) for source in behind)

    def watermark(self, now: float, highwaters: dict[Source, int | None]) -> float:
        """Event time this partition has certainly passed: the clock too when nothing
        is left to process, else the progress of its slowest source with a backlog."""
        behind = self._behind(highwaters)
        if not behind:
            return max(self.event_time, now)
        return self._lagging_time(behind)

    def limit(self, now: float, highwaters: dict[Source, int | None]) -> float:
        """The instant up to which ticks may fire: the clock (or the newest event time, if
        producers' clocks run ahead) when caught up, else the event time of the slowest
        source that still has a backlog.

        Event time is exclusive (an event at exactly the deadline is still on time),
        hence the tiny step back.
        """
        behind = self._behind(highwaters)
        if not behind:
            return max(now, self.event_time - 1e-6)
        return min(now, self._lagging_time(behind) - 1e-6)
