"""Item stage logic: a batch of input messages → item states and everything they imply.

:class:`ItemProcessor` is the pure core of the items agent. For a batch of messages from
``gov.feedback``, ``gov.tasks`` and the deadline-tick topic it validates and applies each
one to the item state machine, and returns an :class:`ItemBatchResult`: the item table
writes, one :class:`~stream.transitions.NodeBatch` per touched roll-up node (counter
entries + the partition's gauges), alert signals, dead letters with reasons, board queue
changes, and deadline-index updates. The agent shell does the I/O, in the order that
keeps results exact: outputs first (awaited), then the item table.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from alerts.config import RulesConfig
from alerts.model import Signal
from alerts.rules import SILENT_KINDS, item_signals
from domain.errors import InvalidEvent, Rejected
from domain.events import Event, check_skew, parse_event
from domain.items import (
    Item,
    ItemKind,
    ItemPolicy,
    Kind,
    Outcome,
    Transition,
    apply_event,
    apply_tick,
    decode_item,
    encode_item,
    item_summary,
    next_deadline,
)
from domain.reports import split_counters
from domain.timeline import Captured, capture
from stream.gauges import GaugeIndex, QueueView, queue_view
from stream.sources import Source
from stream.transitions import Entry, NodeBatch

log = logging.getLogger(__name__)

FEEDBACK, TASKS, TICKS = "f", "t", "k"
#: Transitions that time produces (their counts are de-duplicated by item and sequence).
TIME_KINDS = frozenset({Kind.DUE_SOON, Kind.OVERDUE, Kind.ESCALATED})


@dataclass(slots=True)  # not frozen: built per event, and frozen init is ~7x slower
class Message:
    """One input message, stripped of Faust."""

    kind: str  # FEEDBACK | TASKS | TICKS (or the alert stage's SIGNAL | COMMAND)
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @property
    def source(self) -> Source:
        return Source(self.kind, self.partition)


@dataclass(slots=True)  # not frozen: built per event, and frozen init is ~7x slower
class DeadLetter:
    """An input message that could not be applied, and why."""

    message: Message
    reason: str
    stage: str = "items"


@dataclass(slots=True)  # not frozen: built per event, and frozen init is ~7x slower
class QueueChange:
    """The board's queue entry of ``item_id`` at ``unit`` changed (None = removed)."""

    unit: str
    item_id: str
    summary: dict[str, Any] | None


@dataclass(slots=True)
class ItemBatchResult:
    writes: dict[int, dict[bytes, bytes | None]] = field(default_factory=dict)
    node_batches: list[NodeBatch] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    queue: list[QueueChange] = field(default_factory=list)
    #: (partition, item key, next deadline or None): the item table's key, not the id as
    #: a str, so that the deadline index and the gauges share the table's key object
    #: (one open item costs a key and a value in the table, and index entries).
    schedule: list[tuple[int, bytes, float | None]] = field(default_factory=list)
    applied: int = 0
    duplicates: int = 0
    #: every message processed: (source, offset, event time if it was a valid event)
    events: list[tuple[Source, int, float | None]] = field(default_factory=list)
    #: item id → (timeline entries of this batch, item after it or None if purged);
    #: domain.timeline, kept by runtime.timeline.
    timeline: dict[str, tuple[list[Captured], Item | None]] = field(default_factory=dict)


def encode_tick(item_id: str, at: float) -> bytes:
    """Value of a deadline tick message (key = item id)."""
    return orjson.dumps({"item_id": item_id, "at": at})


class ItemProcessor:
    """Applies batches of input messages to the items of the partitions a worker owns.

    Args:
        policy: calendar, SLA, catalog and deadline policy of the state machine.
        rules: alert rules (item signals).
        load: reads an item's stored bytes from the table.
        gauges: the worker's gauge index (updated in place).
        max_event_bytes: larger messages are dead-lettered.
        max_future_skew: events dated further ahead of ``now`` are dead-lettered.
    """

    def __init__(
        self,
        policy: ItemPolicy,
        rules: RulesConfig,
        *,
        load: Callable[[bytes], bytes | None],
        gauges: GaugeIndex,
        max_event_bytes: int,
        max_future_skew: float,
    ) -> None:
        self.policy = policy
        self.rules = rules
        self.load = load
        self.gauges = gauges
        self.max_event_bytes = max_event_bytes
        self.max_future_skew = max_future_skew
        self._tick_limits: Mapping[int, float] | None = None

    def process(
        self,
        messages: Sequence[Message],
        *,
        now: float,
        tick_limits: Mapping[int, float] | None = None,
    ) -> ItemBatchResult:
        """Apply ``messages`` in order; never raises for bad input (it is dead-lettered).

        Args:
            now: the clock, for the future-skew check.
            tick_limits: per partition, the latest deadline instant a tick may apply now
                (see :class:`stream.deadlines.Gate`). A tick beyond it — left in the tick
                topic by an earlier run, while this run re-reads events that precede it —
                is skipped: the deadline index fires it again when the input has caught
                up, so an event that happened before the deadline is never overtaken.
        """
        self._tick_limits = tick_limits
        result = ItemBatchResult()
        overlay: dict[bytes, Item | None] = {}
        first_unit: dict[bytes, tuple[int, str | None]] = {}
        entries: dict[str, list[Entry]] = {}
        touched: dict[str, set[int]] = {}
        # Per (kind, partition): the source and its wire tag, built once per batch.
        sources: dict[tuple[str, int], tuple[Source, str]] = {}
        for message in messages:
            known = sources.get((message.kind, message.partition))
            if known is None:
                source = message.source
                known = sources[(message.kind, message.partition)] = (source, source.encode())
            source, tag = known
            result.events.append((source, message.offset, None))
            try:
                applied = self._apply(message, overlay, now)
            except Rejected as exc:
                result.dead_letters.append(DeadLetter(message, exc.reason))
                log.info(
                    "dead-lettered topic=%s partition=%d offset=%d: %s",
                    message.topic,
                    message.partition,
                    message.offset,
                    exc.reason,
                )
                continue
            except Exception as exc:  # a bug must not stop the stream: dead-letter and go on
                log.error(
                    "failed to apply topic=%s partition=%d offset=%d",
                    message.topic,
                    message.partition,
                    message.offset,
                    exc_info=True,
                )
                result.dead_letters.append(DeadLetter(message, f"internal error: {exc!r}"))
                continue
            if applied.event_time is not None:
                result.events[-1] = (source, message.offset, applied.event_time)
            outcome = applied.outcome
            if outcome is None or outcome.duplicate:
                result.duplicates += outcome is not None
                continue
            key = applied.key
            first_unit.setdefault(key, (message.partition, applied.old_unit))
            overlay[key] = outcome.item
            if not outcome.transitions:
                continue
            result.applied += 1
            for node, entry in self._entries(tag, message, outcome.transitions, applied.event_time).items():
                entries.setdefault(node, []).append(entry)
            item_id = key.decode()
            history = result.timeline.get(item_id, ((), None))[0]
            captured = capture(outcome.item, outcome.transitions, applied.event)
            result.timeline[item_id] = ([*history, captured], outcome.item)
            for transition in outcome.transitions:
                if transition.kind in SILENT_KINDS or outcome.item is None:
                    continue  # no item rule reacts to these (a purged item has no rules)
                result.signals.extend(
                    item_signals(
                        transition, outcome.item, self.rules, self.policy.catalog, self.policy.calendar
                    )
                )
            new_view = queue_view(outcome.item)
            for node in self.gauges.update(message.partition, key, applied.old_view, new_view):
                touched.setdefault(node, set()).add(message.partition)

        for key, (partition, old_unit) in first_unit.items():
            item = overlay[key]
            item_id = key.decode()
            result.writes.setdefault(partition, {})[key] = None if item is None else encode_item(item)
            deadline = None if item is None else next_deadline(item, self.policy)
            result.schedule.append((partition, key, None if deadline is None else deadline.at))
            if item is not None and item.is_open:
                result.queue.append(QueueChange(item.unit, item_id, item_summary(item)))
                if old_unit is not None and old_unit != item.unit:
                    result.queue.append(QueueChange(old_unit, item_id, None))
            else:
                for unit in {u for u in (old_unit, item.unit if item else None) if u}:
                    result.queue.append(QueueChange(unit, item_id, None))

        for node in {*entries, *touched}:
            gauges = tuple(self.gauges.snapshot(p, node) for p in sorted(touched.get(node, ())))
            result.node_batches.append(NodeBatch(node, tuple(entries.get(node, ())), gauges))
        return result

    # -- internals ---------------------------------------------------------------------

    def _current(self, key: bytes, overlay: dict[bytes, Item | None]) -> Item | None:
        if key in overlay:
            return overlay[key]
        raw = self.load(key)
        if raw is None:
            return None
        try:
            return decode_item(raw)
        except (ValueError, TypeError):
            log.error("unreadable item record key=%r; treating the item as unknown", key, exc_info=True)
            return None

    def _apply(self, message: Message, overlay: dict[bytes, Item | None], now: float) -> _Applied:
        if message.kind == TICKS:
            tick = _parse_tick(message.value)
            if tick is None:
                raise InvalidEvent("not a deadline tick written by govpulse")
            item_id, at = tick
            key = item_id.encode()
            limits = self._tick_limits
            if limits is not None and at > limits.get(message.partition, at):
                log.debug("tick for %s at %s is ahead of the input; deferred", item_id, at)
                return _Applied(None, key, None, None, None)
            item = self._current(key, overlay)
            if item is None:
                return _Applied(None, key, None, None, None)
            _check_partition(item, message)
            view, unit = queue_view(item), item.unit  # taken before apply_tick mutates the item
            return _Applied(apply_tick(item, at, self.policy), key, None, view, unit)
        if message.value is None:
            raise InvalidEvent("message has no value (tombstone); expected a JSON event")
        event = parse_event(message.value, max_bytes=self.max_event_bytes)
        check_skew(event, now=now, limit=self.max_future_skew)
        if message.key is not None and message.key != event.item_id.encode():
            raise InvalidEvent(
                f"message key {message.key[:64]!r} differs from item_id {event.item_id!r}; "
                f"producers must key events by item_id"
            )
        key = event.item_id.encode()
        item = self._current(key, overlay)
        if item is not None:
            _check_partition(item, message)
        old_view = queue_view(item)
        old_unit = item.unit if item is not None else None
        kind = ItemKind.TASK if message.kind == TASKS else ItemKind.FEEDBACK
        outcome = apply_event(item, event, self.policy, kind=kind, partition=message.partition)
        return _Applied(outcome, key, event.occurred_at, old_view, old_unit, event)

    def _entries(
        self, tag: str, message: Message, transitions: list[Transition], event_time: float | None
    ) -> dict[str, Entry]:
        """One counter entry per roll-up node touched by the transitions of one message
        (``tag``: the message's source, encoded for the wire)."""
        lineage = self.policy.catalog.lineage
        counts: dict[str, list[tuple[float, str]]] = {}
        derived: dict[str, list[tuple[float, str, str]]] = {}
        kinds: dict[str, list[str]] = {}
        samples: dict[str, Transition] = {}
        for transition in transitions:
            kind: str = transition.kind  # a StrEnum member is its str value (no .value lookup)
            by_time = kind in TIME_KINDS
            dims = transition.dims
            for unit, counter in transition.counts:
                for node in lineage(unit):
                    # Report splits (domain.reports.split_counters): period windows only.
                    splits = split_counters(counter, dims, own=node == unit) if dims else ()
                    if by_time:
                        once = f"{transition.item_id}#{transition.seq}"
                        node_derived = derived.setdefault(node, [])
                        node_derived.append((transition.at, counter, once))
                        for split in splits:
                            node_derived.append((transition.at, split, once))  # follows the base
                    else:
                        node_counts = counts.setdefault(node, [])
                        node_counts.append((transition.at, counter))
                        for split in splits:
                            node_counts.append((transition.at, split))
                    node_kinds = kinds.setdefault(node, [])
                    if not node_kinds or node_kinds[-1] != kind:
                        node_kinds.append(kind)
            if transition.latency is not None:
                for node in lineage(transition.unit):
                    samples[node] = transition
        last = transitions[-1]
        out: dict[str, Entry] = {}
        for node in kinds:
            node_counts = counts.get(node, [])
            sample = samples.get(node)
            out[node] = Entry(
                source=tag,
                offset=message.offset,
                item_id=last.item_id,
                seq=last.seq,
                kinds=tuple(kinds[node]),
                counts=tuple(node_counts),
                latency=sample.latency if sample else None,
                sla_used=sample.sla_used if sample else None,
                sample_at=sample.at if sample else 0.0,
                event_at=event_time,
                derived=tuple(derived.get(node, ())),
                working_days=sample.working_days if sample else None,
            )
        return out

    def rebuild(
        self,
        owned: set[int],
        stored: Iterable[tuple[bytes, bytes | None]],
        schedule: Callable[[int, bytes, float], object],
    ) -> None:
        """Rebuild the gauges of the ``owned`` partitions from the stored items, and hand
        each item's next deadline to ``schedule(partition, item key, at)`` as it goes.

        Items of other partitions (left in the store by an earlier assignment) are
        skipped. Nothing per item outlives its turn but what the gauges and ``schedule``
        keep: with a million open items, a list of them (or of their deadlines) would be
        a transient whose freed memory the allocator keeps after a restart.
        """
        for partition in owned:
            self.gauges.drop_partition(partition)
        for key, raw in stored:
            if raw is None:
                continue
            try:
                item = decode_item(raw)
            except (ValueError, TypeError):
                log.error("unreadable item record key=%r during rebuild", key)
                continue
            if item.partition not in owned:
                continue
            view: QueueView | None = queue_view(item)
            if view is not None:
                self.gauges.update(item.partition, key, None, view)
            deadline = next_deadline(item, self.policy)
            if deadline is not None:
                schedule(item.partition, key, deadline.at)


@dataclass(slots=True)  # not frozen: built per event, and frozen init is ~7x slower
class _Applied:
    outcome: Outcome | None
    key: bytes
    event_time: float | None
    old_view: QueueView | None
    old_unit: str | None
    event: Event | None = None


def _check_partition(item: Item, message: Message) -> None:
    """Refuse a message for ``item`` on another partition than the item's own.

    Its state, gauges, changelog record and deadlines all live in the item's partition;
    applying the message elsewhere would corrupt them (or read a stale copy left by an
    earlier assignment).
    """
    if item.partition != message.partition:
        raise InvalidEvent(
            f"item {item.item_id} belongs to partition {item.partition}, not {message.partition}: "
            f"producers must key events by item_id with Kafka's default (murmur2) partitioner"
        )


def _parse_tick(raw: bytes | None) -> tuple[str, float] | None:
    if raw is None:
        return None
    try:
        data = orjson.loads(raw)
        item_id, at = str(data["item_id"]), float(data["at"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    # float() reads "nan" and "inf"; a NaN instant compares false with every deadline,
    # so it would fire them all at once.
    return (item_id, at) if math.isfinite(at) else None


__all__ = [
    "FEEDBACK",
    "TASKS",
    "TICKS",
    "DeadLetter",
    "Event",
    "ItemBatchResult",
    "ItemProcessor",
    "Message",
    "QueueChange",
    "encode_tick",
]
