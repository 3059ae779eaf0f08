"""What a worker rebuilds when it is handed partitions, and how it republishes its board.

After a rebalance Faust restores the tables of the partitions a worker now owns (also
those it had: the eager protocol revokes every partition first). :class:`Recovery` then
rebuilds what the worker keeps in memory about them (:class:`Indexes`):

1. forgets the partitions it no longer owns;
2. seeds each owned partition's :class:`~stream.deadlines.Gate` with the group's
   committed offsets (:func:`committed_offsets`), so ticks wait for the input that
   precedes them;
3. rebuilds the gauges and the item deadline index from the item table;
4. re-announces every owned partition's gauges to the unit stage (a dead worker may have
   left it with older values), and resets the unit and alert stages' caches;
5. rebuilds the alert wake-ups from the alert table, logs
   ``partitions [...] recovered: rebuilt deadline index for N items (M pending) in X s``,
   and republishes its part of the board (:meth:`Recovery.republish`, which the publisher
   also calls when Redis comes back empty).

The grouping and seeding steps are plain functions (:func:`owned_partitions`,
:func:`seeded_gates`, :func:`gauge_announcements`, :func:`alerts_by_partition`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from faust.types import TP

from alerts.model import Alert
from domain.catalog import Catalog
from domain.items import decode_item, item_summary
from runtime.clock import Clock
from runtime.memory import release_free_memory
from runtime.topics import Topics
from stream.deadlines import DeadlineIndex, Gate
from stream.gauges import GaugeIndex
from stream.outputs import Outputs, Send, key_partition
from stream.publish import Publisher, UnitPanels
from stream.sources import Source
from stream.stages.alerts import AlertProcessor
from stream.stages.items import FEEDBACK, TASKS, ItemProcessor
from stream.stages.units import UnitProcessor
from stream.transitions import NodeBatch

log = logging.getLogger(__name__)

#: Open items a republish hands to the publisher before it waits for them to go out.
REPUBLISH_CHUNK = 5000


class Indexes:
    """What a worker keeps in memory about the item and alert partitions it owns.

    Args:
        gauges: the gauge index (shared with the item stage, which updates it).
    """

    def __init__(self, gauges: GaugeIndex) -> None:
        self.gauges = gauges
        self.owned: set[int] = set()
        self.gates: dict[int, Gate] = {}
        self.item_deadlines: DeadlineIndex[bytes] = DeadlineIndex()
        self.alert_wakeups: DeadlineIndex[str] = DeadlineIndex()

    def gate(self, partition: int) -> Gate:
        """The gate of ``partition`` (a new one if it has none yet)."""
        return self.gates.setdefault(partition, Gate())

    def drop(self, partition: int) -> None:
        """Forget everything about ``partition`` (revoked from this worker)."""
        self.item_deadlines.drop_partition(partition)
        self.alert_wakeups.drop_partition(partition)
        self.gauges.drop_partition(partition)
        self.gates.pop(partition, None)


def gated_sources(topics: Topics) -> dict[str, str]:
    """The topic of each source kind whose progress gates deadline ticks (a partition's
    ticks wait for its feedback and tasks, not for the ticks themselves)."""
    return {FEEDBACK: topics.feedback, TASKS: topics.tasks}


def owned_partitions(assigned: Iterable[TP], topic: str) -> set[int]:
    """The partitions of ``topic`` among the ``assigned`` topic-partitions (the input
    topics are co-partitioned: the feedback topic's partitions are the worker's)."""
    return {tp.partition for tp in assigned if tp.topic == topic}


def seeded_gates(
    owned: Iterable[int], committed: Mapping[tuple[str, int], int], sources: Mapping[str, str]
) -> dict[int, Gate]:
    """A new gate per owned partition, each source starting at the group's committed
    offset (when past 0).

    Args:
        owned: the partitions.
        committed: committed offsets by (topic, partition).
        sources: the gated topic of each source kind.
    """
    gates: dict[int, Gate] = {}
    for partition in owned:
        gate = gates[partition] = Gate()
        for kind, topic in sources.items():
            offset = committed.get((topic, partition))
            if offset is not None and offset > 0:
                gate.processed[Source(kind, partition)] = offset
    return gates


def gauge_announcements(nodes: Iterable[str], gauges: GaugeIndex, owned: Iterable[int]) -> list[NodeBatch]:
    """One node batch per node, with no entries and the gauges of every owned partition."""
    partitions = sorted(owned)
    return [NodeBatch(node, (), tuple(gauges.snapshot(p, node) for p in partitions)) for node in nodes]


def alerts_by_partition(
    stored: Iterable[tuple[bytes, bytes | None]], owned: Iterable[int], partitions: int
) -> dict[int, list[tuple[bytes, bytes]]]:
    """The stored alert records of each owned partition (every owned partition has an
    entry); the others, and deleted records, are left out."""
    out: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in owned}
    for key, raw in stored:
        partition = key_partition(key.decode(), partitions)
        if partition in out and raw is not None:
            out[partition].append((key, raw))
    return out


async def committed_offsets(
    *, bootstrap: str, group_id: str, topics: Sequence[str], partitions: int
) -> dict[tuple[str, int], int]:
    """Committed offsets of ``group_id`` on ``topics`` (a failure is logged: then none).

    Read with a group consumer that never joins (OffsetFetch only), which the embedded
    broker supports (its admin OffsetFetch does not decode).
    """
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    out: dict[tuple[str, int], int] = {}
    try:
        await reader.start()
        for topic in topics:
            for partition in range(partitions):
                offset = await reader.committed(TopicPartition(topic, partition))
                if offset is not None:
                    out[(topic, partition)] = offset
    except KafkaError:
        log.warning("could not read committed offsets; deadline ticks wait for new input", exc_info=True)
    finally:
        await reader.stop()
    return out


class Recovery:
    """Rebuilds a worker's :class:`Indexes` and stage caches after a rebalance, and
    republishes its part of the board.

    Args:
        indexes: the worker's indexes (rebuilt in place).
        outputs: addresses of the worker's outputs (topics, node partitions).
        items, units, alerts: the stage processors.
        item_records, alert_records, silence_records: the restored tables' records.
        panels: the unit panels on the board.
        publisher: the board publisher.
        catalog: the unit catalog (alerts render with it).
        clock: the govpulse clock.
        send: sends messages and waits until the broker has them.
        bootstrap, group_id: where the committed offsets are read.
    """

    def __init__(
        self,
        *,
        indexes: Indexes,
        outputs: Outputs,
        items: ItemProcessor,
        units: UnitProcessor,
        alerts: AlertProcessor,
        item_records: Mapping[bytes, bytes],
        alert_records: Mapping[bytes, bytes],
        silence_records: Mapping[bytes, bytes],
        panels: UnitPanels,
        publisher: Publisher,
        catalog: Catalog,
        clock: Clock,
        send: Callable[[Iterable[Send]], Awaitable[None]],
        bootstrap: str,
        group_id: str,
    ) -> None:
        self.indexes = indexes
        self.outputs = outputs
        self.items = items
        self.units = units
        self.alerts = alerts
        self.item_records = item_records
        self.alert_records = alert_records
        self.silence_records = silence_records
        self.panels = panels
        self.publisher = publisher
        self.catalog = catalog
        self.clock = clock
        self.send = send
        self.bootstrap = bootstrap
        self.group_id = group_id

    async def rebuild(self, assigned: Iterable[TP]) -> None:
        """Rebuild everything for the partitions of ``assigned`` (the worker's active
        assignment, its tables already restored), then republish if Redis is up."""
        started = time.monotonic()
        indexes, topics = self.indexes, self.outputs.topics
        owned = owned_partitions(assigned, topics.feedback)
        for partition in indexes.owned - owned:
            indexes.drop(partition)
        indexes.owned = owned
        committed = await committed_offsets(
            bootstrap=self.bootstrap,
            group_id=self.group_id,
            topics=list(gated_sources(topics).values()),
            partitions=self.outputs.partitions,
        )
        for partition in owned:
            indexes.item_deadlines.drop_partition(partition)
        indexes.gates.update(seeded_gates(owned, committed, gated_sources(topics)))
        deadlines = indexes.item_deadlines
        before = len(deadlines)
        # The table's own view, no copy: rebuild() never awaits, nothing changes it meanwhile.
        self.items.rebuild(owned, self.item_records.items(), deadlines.schedule)
        count = len(deadlines) - before
        node_partition = self.outputs.node_partition
        await self.send(self.outputs.transitions(gauge_announcements(node_partition, indexes.gauges, owned)))
        self.units.reset()
        self.panels.pending.clear()  # owned nodes are all evaluated on the next unit tick
        for node, partition in node_partition.items():
            if partition in owned:
                self.units.own(node, partition)
        self.panels.forget()
        self.alerts.reset(list(self.silence_records.values()))
        now = self.clock.now()
        stored = alerts_by_partition(list(self.alert_records.items()), owned, self.outputs.partitions)
        for partition, records in stored.items():
            indexes.alert_wakeups.drop_partition(partition)
            for fingerprint, at in self.alerts.rebuild(partition, records, now=now):
                indexes.alert_wakeups.schedule(partition, fingerprint, at)
        log.info(
            "partitions %s recovered: rebuilt deadline index for %d items (%d pending) in %.2fs",
            sorted(owned),
            count,
            len(indexes.item_deadlines),
            time.monotonic() - started,
        )
        release_free_memory()  # what the restore and the rebuild used transiently
        if self.publisher.up:
            await self.republish()

    async def republish(self) -> None:
        """Enqueue this worker's whole board state (after Redis lost it, or a rebalance)."""
        now = self.clock.now()
        indexes = self.indexes
        queued = 0
        # Keys only (the table may change while this awaits), and the publisher drains
        # every chunk: holding the whole board at once (about 1 KB per open item) left
        # that much behind in the allocator after every restart.
        for seen, key in enumerate(list(self.item_records), 1):
            raw = self.item_records.get(key)
            if raw is not None:
                item = decode_item(raw)
                if item.partition in indexes.owned and item.is_open:
                    self.publisher.queue(item.unit, item.item_id, item_summary(item))
                    queued += 1
            if seen % REPUBLISH_CHUNK == 0:
                await self.publisher.drain()
        self.panels.forget()
        for node, partition in self.outputs.node_partition.items():
            if partition in indexes.owned:
                self.panels.publish(node, now)
        for partition in indexes.owned:
            for fingerprint in self.alerts.active(partition):
                record = self.alert_records.get(fingerprint.encode())
                if record is not None:
                    alert = Alert.decode(record)
                    self.publisher.alert(fingerprint, alert.unit, alert.to_board(self.catalog))
        log.info(
            "republishing board state: %d queue entries, owned partitions %s", queued, sorted(indexes.owned)
        )
        await self.publisher.drain()
        release_free_memory()
