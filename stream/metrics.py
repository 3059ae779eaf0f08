"""Per-node windowed counters and latency sketches, exact under redelivery.

A :class:`WindowRecord` holds the counters and sketches of one (node, window kind,
window start). It also remembers, per source topic-partition (by its wire tag, see
:mod:`stream.sources`), the offset of the last source event it includes (``marks``).
:meth:`MetricsStore.apply` adds an :class:`~stream.transitions.Entry` to a record only if
the entry's offset is past the record's mark for that source, then moves the mark.
Because a record and its marks are written together, in one changelog message, a record
can never count an event twice or lose one, whatever is redelivered or re-emitted after
a crash.

Lateness: an event whose window ended more than ``grace`` before the newest event time
already seen for the same node from the same source is late. Its counts are not added
to the window's counters; they increment the window's ``late_events`` instead (and are
logged: one line per flush, with the count and the first few, so a replay of old data
cannot flood the log), so nothing is silently dropped.

Counts that time produces (an item becoming overdue) are different: the same fact may
be revealed by a timer tick in one run and by a later event in another (after a crash,
batches split differently), so they carry an id (item and transition sequence) instead
of relying on a source offset, and each record counts an id once. They are never late:
they are derived facts with an exact instant, not data arriving late.

Retention: records whose window ended more than the window's retention before the
stream time every item partition has passed are expired (deleted, with a changelog
tombstone); an entry for an already expired window does not recreate it. That stream
time is tracked per transitions partition (a node's records belong to the partition the
node is keyed to): progress reports travel in each partition behind the entries sent
before them, so a partition whose backlog is still being read never has its windows
expired by another partition's progress. Expiry pops records from a heap ordered by the
instant they expire, so it costs what it deletes, not what the table holds.

The read side (:func:`current_windows`, :func:`sparkline`, :func:`baseline`) turns
records and gauges into what the board publishes and the unit rules evaluate.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from domain.encoding import dumps_kept
from domain.items import COUNTERS
from domain.reports import SPLIT
from domain.sketch import Sketch
from domain.windows import WindowSpec
from stream.transitions import Entry, PartitionGauges

log = logging.getLogger(__name__)

SEPARATOR = "|"
#: Late entries described in the one warning logged per flush.
LATE_EXAMPLES = 3


@dataclass(slots=True)
class WindowRecord:
    """Counters of one node in one window."""

    counts: dict[str, int] = field(default_factory=dict)
    latency: Sketch = field(default_factory=Sketch)
    sla_used: Sketch = field(default_factory=Sketch)
    late_events: int = 0
    marks: dict[str, int] = field(default_factory=dict)
    once: set[str] = field(default_factory=set)
    #: Sum and number of the handling times (working days) of the items resolved here.
    working_days: float = 0.0
    working_samples: int = 0
    #: The same handling times as a sketch, for the reports' p90 (report months only;
    #: empty elsewhere, so records of the fixed windows keep their bytes).
    work: Sketch = field(default_factory=Sketch)

    def encode(self) -> bytes:
        data: dict[str, Any] = {
            "c": self.counts,
            "l": self.latency.to_json(),
            "s": self.sla_used.to_json(),
            "x": self.late_events,
            "m": self.marks,
            "o": sorted(self.once),
            "w": [self.working_days, self.working_samples],
        }
        if self.work.count:
            data["h"] = self.work.to_json()
        return dumps_kept(data)

    @classmethod
    def decode(cls, raw: bytes) -> WindowRecord:
        data = orjson.loads(raw)
        return cls(
            counts=dict(data.get("c", {})),
            latency=Sketch.from_json(data.get("l")),
            sla_used=Sketch.from_json(data.get("s")),
            late_events=int(data.get("x", 0)),
            marks=dict(data.get("m", {})),
            once=set(data.get("o", ())),
            working_days=float(data.get("w", (0.0, 0))[0]),
            working_samples=int(data.get("w", (0.0, 0))[1]),
            work=Sketch.from_json(data.get("h")),
        )

    def count(self, name: str) -> int:
        return self.counts.get(name, 0)


def record_key(node: str, window: str, start: float) -> str:
    """Table key of a window record: ``NODE|WINDOW|START`` (start in whole seconds)."""
    return f"{node}{SEPARATOR}{window}{SEPARATOR}{int(start)}"


def parse_record_key(key: str) -> tuple[str, str, float]:
    node, window, start = key.split(SEPARATOR)
    return node, window, float(start)


class MetricsStore:
    """Window records of the nodes one unit-stage worker owns.

    Args:
        specs: the window kinds.
        grace: how long after a window ends late events still update it.
        load: returns a record's stored bytes by key (the table), or None.
        partition_of: the transitions partition a node's records belong to (None for a
            node this worker does not own); retention is tracked per partition.
    """

    def __init__(
        self,
        specs: Sequence[WindowSpec],
        *,
        grace: float,
        load: Callable[[str], bytes | None],
        partition_of: Callable[[str], int | None] = lambda node: 0,
    ) -> None:
        self.specs = tuple(specs)
        self._by_name = {spec.name: spec for spec in self.specs}
        self.grace = grace
        self._load = load
        self._cache: dict[str, WindowRecord] = {}
        self._dirty: set[str] = set()
        # Newest event time per (node, source): a node's entries from one source arrive
        # in source order (one transitions partition per node), so lateness judged
        # against it does not depend on how partitions interleave in a batch.
        self._source_time: dict[tuple[str, str], float] = {}
        self._horizon = 0.0  # the largest of _source_time (read for every node on the board)
        self.late_events = 0
        #: Late entries since the last flush (count, and the first few, for one log line).
        self._late_since_flush = 0
        self._late_examples: list[str] = []
        self._partition_of = partition_of
        #: Per partition: windows that ended more than their retention before this were
        #: expired; an entry for one of them must not recreate it with partial counts.
        self.expired_before: dict[int, float] = {}
        #: Per partition: (instant the record expires, key), for every record known.
        self._expiry: dict[int, list[tuple[float, str]]] = {}
        self._tracked: set[str] = set()
        self._prefixes: dict[str, tuple[str, ...]] = {}

    @property
    def horizon(self) -> float:
        """Newest event time seen from any source (0 before the first entry)."""
        return self._horizon

    def spec(self, name: str) -> WindowSpec:
        return self._by_name[name]

    def get(self, key: str) -> WindowRecord | None:
        """The record stored under ``key``, decoded once and cached."""
        record = self._cache.get(key)
        if record is None:
            raw = self._load(key)
            if raw is None:
                return None
            record = self._cache[key] = WindowRecord.decode(raw)
            self._track(key)
        return record

    def record(self, node: str, window: str, start: float) -> WindowRecord | None:
        return self.get(record_key(node, window, start))

    def apply(self, node: str, entry: Entry) -> None:
        """Add ``entry`` to every window record of ``node`` it touches, at most once.

        Lateness is judged per window kind on the source event's own time: if the window
        containing ``entry.event_at`` closed (end + grace) before the newest event time
        already seen from the same source, the entry's counts for that window kind go to
        ``late_events`` of the window they target instead of its counters. "Newest seen"
        is per node and source, so it is the same however partitions interleave.
        """
        source, offset = entry.source, entry.offset
        partition = self._partition_of(node)
        expired_before = 0.0 if partition is None else self.expired_before.get(partition, 0.0)
        clock_key = (node, source)
        seen = self._source_time.get(clock_key, 0.0)
        event_at = entry.event_at
        has_sample = entry.latency is not None or entry.sla_used is not None
        grace = self.grace
        prefixes = self._prefixes.get(node)
        if prefixes is None:
            prefixes = self._prefixes[node] = tuple(f"{node}|{spec.name}|" for spec in self.specs)
        # key -> [counters to add, sample?, late count]; one pass over the window kinds.
        plan: dict[str, list[Any]] = {}
        for spec, prefix in zip(self.specs, prefixes, strict=True):
            start_of, end_of, retention = spec.start, spec.end, spec.retention
            allowed = grace if spec.grace is None else spec.grace
            is_late = bool(event_at is not None and seen and end_of(start_of(event_at)) + allowed < seen)
            last_at: float | None = None
            key = ""
            gone = False
            # Split counters (``resolved@m:home``, domain.reports) are kept in report
            # months only: the fixed windows would multiply for nothing.
            splits_here = spec.size is None
            for at, counter in entry.counts:
                if not splits_here and SPLIT in counter:
                    continue
                if at != last_at:  # an entry's counts mostly share one instant
                    last_at = at
                    start = start_of(at)
                    gone = end_of(start) + retention < expired_before
                    key = prefix + str(int(start))
                if gone:
                    self._gone(node, spec.name, start_of(at), entry)
                    continue
                step = plan.get(key)
                if step is None:
                    step = plan[key] = [[], False, 0]
                if is_late:
                    step[2] += 1
                else:
                    step[0].append(counter)
            sample_start = start_of(entry.sample_at) if has_sample and not is_late else None
            # A sample for an expired window is dropped like its counts (reported above).
            if sample_start is not None and end_of(sample_start) + retention >= expired_before:
                key = prefix + str(int(sample_start))
                step = plan.get(key)
                if step is None:
                    step = plan[key] = [[], False, 0]
                step[1] = 2 if splits_here else 1  # 2: a report month, which keeps working_days
            # A split counter shares its base counter's once-id and follows it: it is
            # counted exactly when the base was counted now (no once-id of its own to keep).
            fresh: set[tuple[str, str]] = set()
            for at, counter, once in entry.derived:
                split = SPLIT in counter
                if split and not splits_here:
                    continue
                start = start_of(at)
                if end_of(start) + retention < expired_before:
                    if not split:
                        self._gone(node, spec.name, start, entry)
                    continue
                key = prefix + str(int(start))
                record = self._record(key)
                if split:
                    if (key, once) in fresh:
                        record.counts[counter] = record.counts.get(counter, 0) + 1
                elif once not in record.once:
                    record.once.add(once)
                    fresh.add((key, once))
                    record.counts[counter] = record.counts.get(counter, 0) + 1
                    self._dirty.add(key)
        for key, (counters, sample, late) in plan.items():
            record = self._record(key)
            marks = record.marks
            if offset <= marks.get(source, -1):
                continue  # this record already includes the entry (redelivery)
            counts = record.counts
            for counter in counters:
                counts[counter] = counts.get(counter, 0) + 1
            if sample:
                if entry.latency is not None:
                    record.latency.add(entry.latency)
                if entry.sla_used is not None:
                    record.sla_used.add(entry.sla_used)
                if entry.working_days is not None:
                    record.working_days += entry.working_days
                    record.working_samples += 1
                    if sample == 2:
                        record.work.add(entry.working_days)
            if late:
                record.late_events += late
                self.late_events += late
                self._note_late(f"late for {key}: item={entry.item_id} source={source} offset={offset}")
            marks[source] = offset
            self._dirty.add(key)
        if event_at is not None and event_at > seen:
            self._source_time[clock_key] = event_at
            if event_at > self._horizon:
                self._horizon = event_at

    def _gone(self, node: str, window: str, start: float, entry: Entry) -> None:
        self.late_events += 1
        self._note_late(
            f"expired window {record_key(node, window, start)}: item={entry.item_id} "
            f"source={entry.source} offset={entry.offset}"
        )

    def _note_late(self, what: str) -> None:
        self._late_since_flush += 1
        if len(self._late_examples) < LATE_EXAMPLES:
            self._late_examples.append(what)

    def _record(self, key: str) -> WindowRecord:
        record = self.get(key)
        if record is None:
            record = self._cache[key] = WindowRecord()
            self._track(key)
        return record

    def _track(self, key: str) -> None:
        """Remember when the record under ``key`` expires (once per key; :meth:`expire`
        skips keys that no longer exist)."""
        if key in self._tracked:
            return
        try:
            node, window, start = parse_record_key(key)
            spec = self._by_name[window]
        except (ValueError, KeyError):
            return
        partition = self._partition_of(node)
        if partition is not None:
            self._tracked.add(key)
            heapq.heappush(self._expiry.setdefault(partition, []), (spec.end(start) + spec.retention, key))

    def flush(self) -> dict[str, bytes]:
        """Encoded records changed since the last flush (write each key once per batch)."""
        out = {key: self._cache[key].encode() for key in self._dirty}
        self._dirty.clear()
        if self._late_since_flush:
            log.warning(
                "%d late entries counted in late_events, not in their windows (records of "
                "expired windows are not recreated); first ones: %s",
                self._late_since_flush,
                "; ".join(self._late_examples),
            )
            self._late_since_flush = 0
            self._late_examples.clear()
        return out

    def seed(self, keys: Iterable[str]) -> None:
        """Learn the expiry of stored records that were never read (after a restore)."""
        for key in keys:
            self._track(key)

    def expire(self, partition: int, horizon: float) -> list[str]:
        """Keys of ``partition``'s records whose window ended longer ago than its retention
        before ``horizon``, oldest first (from now on, entries for such windows do not
        recreate them). Only records this store has seen or been seeded with are found."""
        if horizon > self.expired_before.get(partition, 0.0):
            self.expired_before[partition] = horizon
        heap = self._expiry.get(partition)
        out: list[str] = []
        while heap and heap[0][0] < horizon:
            _, key = heapq.heappop(heap)
            self._tracked.discard(key)
            if key in self._cache or self._load(key) is not None:
                out.append(key)
        return out

    def drop_partition(self, partition: int) -> None:
        """Forget the expiry queue of a partition this worker no longer owns."""
        for _, key in self._expiry.pop(partition, ()):
            self._tracked.discard(key)

    def forget(self, keys: Iterable[str]) -> None:
        """Drop ``keys`` from the cache (after they were deleted from the table)."""
        for key in keys:
            self._cache.pop(key, None)
            self._dirty.discard(key)

    def trim_cache(self, now: float) -> int:
        """Evict clean records of windows that ended well before ``now``; return how many."""
        stale = []
        for key in self._cache:
            if key in self._dirty:
                continue
            _, window, start = parse_record_key(key)
            spec = self._by_name.get(window)
            if spec is None or spec.end(start) + max(self.grace, 3600.0) < now:
                stale.append(key)
        for key in stale:
            del self._cache[key]
        return len(stale)


# -- gauges ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gauges:
    """Live gauges of a node, summed over item partitions."""

    open: int = 0
    overdue: int = 0
    due_soon: int = 0
    oldest_open_at: float | None = None

    @classmethod
    def merge(cls, parts: Iterable[PartitionGauges]) -> Gauges:
        open_ = overdue = due_soon = 0
        oldest: float | None = None
        for part in parts:
            open_ += part.open
            overdue += part.overdue
            due_soon += part.due_soon
            if part.oldest_open_at is not None and (oldest is None or part.oldest_open_at < oldest):
                oldest = part.oldest_open_at
        return cls(open_, overdue, due_soon, oldest)

    def to_json(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "overdue": self.overdue,
            "due_soon": self.due_soon,
            "oldest_open_at": self.oldest_open_at,
        }


def encode_gauges(parts: Mapping[int, PartitionGauges]) -> bytes:
    return dumps_kept([part.to_json() for part in parts.values()])


def decode_gauges(raw: bytes) -> dict[int, PartitionGauges]:
    parts = (PartitionGauges.from_json(item) for item in orjson.loads(raw))
    return {part.partition: part for part in parts}


# -- read side ------------------------------------------------------------------------


def on_time_rate(record: WindowRecord | None) -> float | None:
    """QĐ 766: handled on time or early ÷ handled (None when nothing was handled)."""
    if record is None:
        return None
    handled = record.count("resolved")
    return record.count("resolved_on_time") / handled if handled else None


def window_summary(
    spec: WindowSpec,
    start: float,
    record: WindowRecord | None,
    *,
    gauges: Gauges,
    net_since_start: int | None,
) -> dict[str, Any]:
    """One window of one node as the board shows it.

    ``net_since_start`` (opened − closed from the window start until now) gives the
    carried-over figure for the current window: open now − net change. The late rate
    (QĐ 766) = (late still open + resolved late) ÷ (received + carried over).
    """
    counts = {name: (record.count(name) if record else 0) for name in COUNTERS}
    summary: dict[str, Any] = {"start": start, "end": spec.end(start), **counts}
    summary["late_events"] = record.late_events if record else 0
    latency = record.latency if record else None
    summary["latency"] = {
        "p50": latency.quantile(0.5) if latency else None,
        "p90": latency.quantile(0.9) if latency else None,
        "p99": latency.quantile(0.99) if latency else None,
    }
    summary["sla_used_p90"] = record.sla_used.quantile(0.9) if record else None
    summary["on_time_rate"] = on_time_rate(record)
    if net_since_start is not None:
        carried = max(0, gauges.open - net_since_start)
        denominator = counts["received"] + carried
        summary["carried_over"] = carried
        summary["late_rate"] = (
            (gauges.overdue + counts["resolved_late"]) / denominator if denominator else None
        )
    else:
        summary["carried_over"] = None
        summary["late_rate"] = None
    return summary


def current_windows(store: MetricsStore, node: str, now: float, gauges: Gauges) -> dict[str, dict[str, Any]]:
    """Summaries of the windows of ``node`` that contain ``now``."""
    out: dict[str, dict[str, Any]] = {}
    for spec in store.specs:
        start = spec.start(now)
        record = store.record(node, spec.name, start)
        net = (record.count("opened") - record.count("closed")) if record else 0
        out[spec.name] = window_summary(spec, start, record, gauges=gauges, net_since_start=net)
    return out


def sparkline(store: MetricsStore, node: str, now: float, *, points: int = 24) -> list[int]:
    """Received per window of the smallest window kind, oldest first, ending at ``now``."""
    sized = [spec for spec in store.specs if spec.size is not None]
    if not sized:
        return []
    spec = min(sized, key=lambda s: s.size or 0.0)
    start = spec.start(now)
    values: list[int] = []
    for _ in range(points):
        record = store.record(node, spec.name, start)
        values.append(record.count("received") if record else 0)
        start = spec.previous(start)
    values.reverse()
    return values


def baseline(store: MetricsStore, node: str, window: str, now: float, *, periods: int = 24) -> float | None:
    """Mean received per window over the ``periods`` windows before the current one."""
    spec = store.spec(window)
    start = spec.previous(spec.start(now))
    total, seen = 0, 0
    for _ in range(periods):
        record = store.record(node, window, start)
        if record is not None:
            seen += 1
        total += record.count("received") if record else 0
        start = spec.previous(start)
    return total / periods if seen else None
