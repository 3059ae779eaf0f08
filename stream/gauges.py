"""Live gauges per node and item partition: open now, overdue now, due soon now, oldest open.

Gauges are functions of the current item states, so they are not counted from
transitions: the item stage keeps this index in memory (rebuilt from the item table after
recovery) and sends each node's absolute values for its partition with every batch that
touches the node. The unit stage keeps the latest value per (node, partition) and sums.
"""

from __future__ import annotations

from typing import NamedTuple

from domain.catalog import Catalog
from domain.items import Item
from stream.transitions import PartitionGauges


class QueueView(NamedTuple):
    """How one item counts in its unit's gauges (a tuple: two are built per event)."""

    unit: str
    overdue: bool
    due_soon: bool
    received_at: float


def queue_view(item: Item | None) -> QueueView | None:
    """The item's contribution to gauges, or None when it is not open (or paused)."""
    if item is None or not item.is_open:
        return None
    overdue = item.overdue_at is not None
    return QueueView(item.unit, overdue, item.due_soon and not overdue, item.received_at)


class _Partition:
    __slots__ = ("counts", "oldest", "where")

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}
        #: Per unit: received_at of each of its open items. This index holds every open
        #: item of the city, so it is one dict entry per item and nothing more.
        self.where: dict[str, dict[bytes, float]] = {}
        #: Per unit: its oldest open item's received_at, while known. Adding an item keeps
        #: it; removing the oldest forgets it, and the next read takes the minimum over
        #: the unit's items (a few hundred per unit and partition).
        self.oldest: dict[str, float | None] = {}


class GaugeIndex:
    """Gauges of every node for the item partitions one worker owns."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._parts: dict[int, _Partition] = {}

    def update(
        self, partition: int, item_id: bytes, old: QueueView | None, new: QueueView | None
    ) -> tuple[str, ...]:
        """Move ``item_id`` (the item table's key) from ``old`` to ``new``; return the nodes
        whose gauges changed."""
        if old == new:
            return ()
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _Partition()
        touched: list[str] = []
        if old is not None:
            for node in self.catalog.lineage(old.unit):
                counts = part.counts[node]
                counts[0] -= 1
                counts[1] -= old.overdue
                counts[2] -= old.due_soon
                touched.append(node)
            at_unit = part.where.get(old.unit)
            if at_unit is not None and at_unit.pop(item_id, None) == part.oldest.get(old.unit):
                part.oldest.pop(old.unit, None)
        if new is not None:
            for node in self.catalog.lineage(new.unit):
                found = part.counts.get(node)
                if found is None:
                    found = part.counts[node] = [0, 0, 0]
                counts = found
                counts[0] += 1
                counts[1] += new.overdue
                counts[2] += new.due_soon
                if node not in touched:
                    touched.append(node)
            at_unit = part.where.get(new.unit)
            if at_unit is None:
                at_unit = part.where[new.unit] = {}
            at_unit[item_id] = new.received_at
            if new.unit in part.oldest:
                oldest = part.oldest[new.unit]
                if oldest is None or new.received_at < oldest:
                    part.oldest[new.unit] = new.received_at
        return tuple(touched)

    def snapshot(self, partition: int, node: str) -> PartitionGauges:
        """Absolute gauges of ``node`` over the items of ``partition``."""
        part = self._parts.get(partition)
        if part is None:
            return PartitionGauges(partition, 0, 0, 0, None)
        counts = part.counts.get(node, [0, 0, 0])
        oldest: float | None = None
        if counts[0]:
            units = [node, *self.catalog.descendants(node)] if self.catalog.children(node) else [node]
            for unit in units:
                candidate = self._oldest(part, unit)
                if candidate is not None and (oldest is None or candidate < oldest):
                    oldest = candidate
        return PartitionGauges(partition, counts[0], counts[1], counts[2], oldest)

    def nodes(self, partition: int) -> list[str]:
        part = self._parts.get(partition)
        return list(part.counts) if part else []

    def drop_partition(self, partition: int) -> None:
        self._parts.pop(partition, None)

    def open_items(self, partition: int) -> int:
        part = self._parts.get(partition)
        return sum(map(len, part.where.values())) if part else 0

    @staticmethod
    def _oldest(part: _Partition, unit: str) -> float | None:
        if unit in part.oldest:
            return part.oldest[unit]
        found = part.oldest[unit] = min(part.where.get(unit, {}).values(), default=None)
        return found
