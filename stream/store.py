"""Faust table store ``govmemory://``: the memory store, restored from its changelog in bulk.

Faust's memory store keeps nothing between runs: on every start (and every rebalance
that hands a worker a partition) Faust's recovery replays the table's changelog through
its general consumer path — the fetcher loop, the conductor, a queue, per-record
bookkeeping — which measured ~10,000 records/s here: over two minutes for a million open
items. This store reads the changelog partitions it is given with a plain consumer
instead (hundreds of thousands of records/s), in :meth:`Store.on_rebalance`, before
Faust's recovery starts, and reports how far it got through :meth:`Store.persisted_offset`
— the hook Faust's persistent stores use — so that Faust's recovery only reads what was
appended after that (normally nothing) and takes over from there.

The records are applied exactly as Faust applies them: in offset order, the latest value
of a key wins, an empty value (tombstone) deletes the key. Keys and values are the raw
bytes (govpulse's tables use the ``raw`` serializer), so nothing is decoded here; a table
with other serializers is left to Faust's recovery.

If the bulk read fails (broker unreachable, a timeout), the partition is left to Faust's
own recovery, which then replays it from the start: slower, never wrong.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from faust.stores import memory
from faust.transport.drivers.aiokafka import server_list
from faust.types import TP

log = logging.getLogger(__name__)

#: Longest a bulk read may go without progress before it is left to Faust's recovery.
STALL_SECONDS = 30.0


class Store(memory.Store[bytes, bytes]):
    """In-memory table storage, restored from the changelog in bulk (``govmemory://``)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        #: Per changelog partition: the last offset applied by the bulk read.
        self._restored: dict[TP, int] = {}

    @property
    def _raw(self) -> bool:
        """Whether the table stores the changelog's bytes as they are (govpulse's tables)."""
        table: Any = self.table
        return bool(table.key_serializer == "raw" and table.value_serializer == "raw")

    def persisted_offset(self, tp: TP) -> int | None:
        """The last changelog offset this store has applied for ``tp`` (Faust's recovery
        reads on from there), or None to have Faust replay the partition."""
        return self._restored.get(tp)

    async def on_rebalance(
        self, assigned: Any, revoked: Any, newly_assigned: Any, generation_id: int = 0
    ) -> None:
        if not self._raw:
            return  # values need Faust's deserializers: its own recovery does it
        topic = self.table.changelog_topic.get_topic_name()
        actives = {tp for tp in self.app.assignor.assigned_actives() if tp.topic == topic}
        # A revoked partition is read from the start when it comes back (with the eager
        # protocol every rebalance revokes everything first).
        self._restored = {
            tp: offset for tp, offset in self._restored.items() if tp in actives and tp not in revoked
        }
        if actives:
            await self._restore(sorted(actives))

    async def _restore(self, tps: list[TP]) -> None:
        started = time.monotonic()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=server_list(self.app.conf.broker, 9092),
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        records = 0
        try:
            await consumer.start()
            wanted = {TopicPartition(tp.topic, tp.partition): tp for tp in tps}
            # A partition listed as empty is empty (the embedded broker's ListOffsets is
            # wrong only past the first batch); the others are read to the high-water
            # mark their fetch responses report.
            listed = await consumer.end_offsets(list(wanted))
            wanted = {kafka_tp: tp for kafka_tp, tp in wanted.items() if listed.get(kafka_tp)}
            if wanted:
                consumer.assign(list(wanted))
                for kafka_tp, tp in wanted.items():
                    done = self._restored.get(tp)
                    if done is None:
                        await consumer.seek_to_beginning(kafka_tp)
                    else:
                        consumer.seek(kafka_tp, done + 1)
                records = await self._read(consumer, wanted)
        except (TimeoutError, KafkaError, OSError) as exc:
            log.warning(
                "bulk restore of %s failed (%s); Faust's recovery replays what is left",
                self.table_name,
                exc,
            )
        finally:
            await consumer.stop()
        log.info(
            "table %s: restored %d changelog records of %d partitions in bulk in %.2fs",
            self.table_name,
            records,
            len(tps),
            time.monotonic() - started,
        )

    async def _read(self, consumer: AIOKafkaConsumer, wanted: dict[TopicPartition, TP]) -> int:
        """Apply every record up to each partition's high-water mark (as the fetch
        responses report it: ListOffsets is wrong on the embedded broker)."""
        data = self.data
        pending = set(wanted)
        records = 0
        progress_at = time.monotonic()
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=200, max_records=50_000)
            for kafka_tp, messages in batches.items():
                for message in messages:
                    if message.value is None:
                        data.pop(message.key, None)
                    else:
                        data[message.key] = message.value
                if messages:
                    self._restored[wanted[kafka_tp]] = messages[-1].offset
                    records += len(messages)
                    progress_at = time.monotonic()
            for kafka_tp in list(pending):
                highwater = consumer.highwater(kafka_tp)
                if highwater is not None and await consumer.position(kafka_tp) >= highwater:
                    pending.discard(kafka_tp)
            if pending and time.monotonic() - progress_at > STALL_SECONDS:
                stalled = sorted(map(str, pending))
                raise TimeoutError(f"no progress for {STALL_SECONDS:.0f}s on {stalled}")
        return records
