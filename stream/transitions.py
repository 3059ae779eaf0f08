"""Wire format of the internal topic ``<app>.transitions`` (item stage → unit stage).

One :class:`NodeBatch` per roll-up node (a unit or one of its ancestors) per item-stage
batch. It carries one :class:`Entry` per source event that changed the node's counters,
tagged with the event's source topic-partition and offset, and the source partition's
current gauges for the node. A node's batches always go to the partition its code keys
to; the node batches of one item-stage batch that go to the same partition travel
together, as few messages as fit under :data:`MAX_GROUP_BYTES` (:func:`encode_group`):
every message costs the unit stage Faust's per-message overhead, and one batch touches
hundreds of nodes. A message with a single node batch (the older format) still decodes.

The source tag + offset is what makes counters exact under at-least-once delivery: a
counter record remembers, per source, the last offset it includes (see
:mod:`stream.metrics`), so a redelivered or re-emitted entry is recognised and skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

#: Largest transitions message :func:`encode_group` builds (brokers refuse records over
#: ``message.max.bytes``, 1 MiB by default); a single larger node batch goes alone.
MAX_GROUP_BYTES = 512 * 1024


@dataclass(slots=True)  # not frozen: built per event, and frozen init is ~7x slower
class Entry:
    """The effect of one source event (or deadline tick) on one node.

    Args:
        source: the source topic-partition's wire tag (:meth:`stream.sources.Source.encode`),
            e.g. ``"f3"`` (feedback partition 3), ``"t3"`` (tasks), ``"k3"`` (deadline ticks).
        offset: the source message's offset.
        item_id: the item that changed.
        seq: the item's transition sequence number after the change.
        kinds: transition kinds applied (e.g. ``("overdue", "resolved")``).
        counts: ``(at, counter)`` pairs, each +1 in the windows containing ``at``.
        latency: handling time in seconds when resolved here.
        sla_used: share of the unit's period used when resolved here.
        sample_at: instant the latency sample belongs to.
        event_at: ``occurred_at`` of the source event (None for deadline ticks); lateness
            is judged on it, since counts derived from deadlines may lie further back.
        work_days: handling time in working days when resolved here (period windows).
        derived: ``(at, counter, once_id)`` counts that time produced (an item becoming
            overdue). The same fact can be revealed by a tick in one run and by a later
            event in another (after a crash, batches split differently), so it is not
            tied to a source offset: a record counts each ``once_id`` once.
    """

    source: str
    offset: int
    item_id: str
    seq: int
    kinds: tuple[str, ...]
    counts: tuple[tuple[float, str], ...]
    latency: float | None = None
    sla_used: float | None = None
    sample_at: float = 0.0
    event_at: float | None = None
    derived: tuple[tuple[float, str, str], ...] = ()
    #: Handling time in working days when resolved here (report months keep it).
    work_days: float | None = None

    def to_json(self) -> tuple[Any, ...]:
        # orjson writes (nested) tuples as arrays: no copies on the hot path.
        return (
            self.source,
            self.offset,
            self.item_id,
            self.seq,
            self.kinds,
            self.counts,
            self.latency,
            self.sla_used,
            self.sample_at,
            self.event_at,
            self.derived,
            self.work_days,
        )

    @classmethod
    def from_json(cls, data: list[Any]) -> Entry:
        # Arrays come back as lists; they unpack like the tuples they were.
        return cls(*data)


@dataclass(slots=True)  # not frozen: built per event, and frozen init is ~7x slower
class PartitionGauges:
    """Live gauges of one node, counted over the items of one item partition."""

    partition: int
    open: int
    overdue: int
    due_soon: int
    oldest_open_at: float | None

    def to_json(self) -> list[Any]:
        return [self.partition, self.open, self.overdue, self.due_soon, self.oldest_open_at]

    @classmethod
    def from_json(cls, data: list[Any]) -> PartitionGauges:
        partition, open_, overdue, due_soon, oldest = data
        return cls(int(partition), int(open_), int(overdue), int(due_soon), oldest)


@dataclass(slots=True)  # not frozen: built per event, and frozen init is ~7x slower
class NodeBatch:
    """One message on the transitions topic."""

    node: str
    entries: tuple[Entry, ...] = ()
    gauges: tuple[PartitionGauges, ...] = ()

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "n": self.node,
                "e": [entry.to_json() for entry in self.entries],
                "g": [gauges.to_json() for gauges in self.gauges],
            }
        )


@dataclass(frozen=True, slots=True)
class NodeGroup:
    """A transitions message holding the node batches of one partition, in order."""

    batches: tuple[NodeBatch, ...]


def encode_group(batches: Iterable[NodeBatch], *, limit: int = MAX_GROUP_BYTES) -> list[bytes]:
    """Messages carrying ``batches`` in order, each at most ``limit`` bytes (unless one
    node batch alone is larger)."""
    out: list[bytes] = []
    parts: list[bytes] = []
    size = 0
    for batch in batches:
        raw = batch.encode()
        if parts and size + len(raw) > limit:
            out.append(_group(parts))
            parts, size = [], 0
        parts.append(raw)
        size += len(raw) + 1
    if parts:
        out.append(_group(parts))
    return out


def _group(parts: list[bytes]) -> bytes:
    return b'{"b":[' + b",".join(parts) + b"]}"


@dataclass(frozen=True, slots=True)
class Tick:
    """A timer tick delivered through a stage's own input topic."""

    at: float
    key: str | None = None

    def encode(self) -> bytes:
        return orjson.dumps({"tick": self.at, "key": self.key})


@dataclass(frozen=True, slots=True)
class Progress:
    """How far the item stage has got, per item partition (sent to every unit partition).

    ``watermarks[p]`` is the event time up to which item partition ``p`` has been
    processed — or the clock, when it has caught up with its input. The unit stage
    expires windows only behind the slowest partition, so a window is never removed
    while a lagging partition may still add to it.
    """

    watermarks: dict[int, float]

    def encode(self) -> bytes:
        return orjson.dumps({"progress": {str(p): at for p, at in self.watermarks.items()}})


def decode(raw: bytes) -> NodeGroup | NodeBatch | Tick | Progress:
    """Decode a message of the transitions (or signals) topic.

    Raises:
        ValueError: not a message this module wrote.
    """
    data = orjson.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    if "b" in data:
        return NodeGroup(tuple(_node_batch(part) for part in data["b"]))
    if "tick" in data:
        return Tick(float(data["tick"]), data.get("key"))
    if "progress" in data:
        return Progress({int(p): float(at) for p, at in data["progress"].items()})
    return _node_batch(data)


def _node_batch(data: Any) -> NodeBatch:
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object for a node batch")
    return NodeBatch(
        node=str(data["n"]),
        entries=tuple(Entry.from_json(entry) for entry in data.get("e", ())),
        gauges=tuple(PartitionGauges.from_json(g) for g in data.get("g", ())),
    )
