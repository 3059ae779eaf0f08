"""The ``govkafka`` transport's shell (stream.transport) around Faust and aiokafka.

Chunked delivery, acks counted in Faust's own bookkeeping (``_new_offset`` computes what is
committed), the fetch loop driven over a scripted partition, and the rebalance that lost
the start of a partition.

Root cause of that loss (``test_a_seek_during_recovery_*`` below; docs/operations.md,
"Workers: scaling, rebalances, recovery"). It is Faust's, in the order of
``Recovery.on_recovery_completed`` (faust/tables/recovery.py) together with its fetch loop
``Consumer._drain_messages`` (faust/transport/consumer.py):

1. Recovery resumes the flow first (``app.flow_control.resume()``,
   ``consumer.resume_flow()``, in ``_restart_recovery``), and only then, in
   ``on_recovery_completed``, resumes the stream partitions and ``await``
   ``consumer.perform_seek()``: the fetch loop runs during the seek. aiokafka's fetcher
   has been fetching the taken-over partition since the assignment (from 0 for one never
   committed), so the loop hands those records to the agent's queue while the seek's
   round trips (OffsetFetch, ListOffsets) are in flight.
2. The seek lands: aiokafka moves the position and drops what it buffered (aiokafka is
   right: ``Fetcher.seek_to``/``request_offset_reset`` and the position checks in
   ``_proc_fetch_request``/``FetchResult.check_assignment`` never return a record fetched
   before a seek), and ``perform_seek`` sets ``_read_offset``.
3. ``on_recovery_completed`` then calls ``app.flow_control.resume()``, which clears every
   agent's queue (``FlowControlEvent.resume`` → ``clear``; Faust creates channel queues
   with ``clear_on_resume=True``): the records queued in step 1 are gone.
4. The loop goes on with the rest of the batch fetched before the seek, and after each
   delivery sets ``_read_offset`` to the record's offset — over the value the seek set.
   The re-fetch from the seek position is then dropped as already read
   (``offset < r_offset``). The agent gets the partition from the first record queued
   after the clear: from offset 250 when the clear took the first 250.

The test drives Faust's own ``_wait_next_records``, ``getmany``, ``_drain_messages``,
``perform_seek``, ``resume_partitions``/``resume_flow`` and mode's flow-control queue; only
aiokafka (a partition whose position moves as records are handed over, as
``FetchResult.getall`` does) and the conductor (acquire flow control, put into the queue)
are scripted, and the recovery's completion is run at the point where the loop waits for a
full queue. With govpulse's loop the expected offset does not move past a chunk when a seek
happened during its delivery, a stale chunk past it makes the loop seek back, and the agent
drops chunks of an epoch before the last seek: every record arrives, once, in order. The
extra ``perform_seek`` the worker logs showed (``getmany`` seeks when a fetch returns while
the flow is stopped) is not needed for the loss: the tests run with and without it.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.utils import DefaultSchedulingStrategy
from faust.types import TP
from intervaltree import IntervalTree
from mode.utils.queues import FlowControlEvent, FlowControlQueue
from yarl import URL

from stream import transport
from stream.chunks import Chunking, Sequencer, place
from stream.transport import ChunkMessage, Consumer, Transport, mark_handled, message_records

TOPIC = "gov.feedback"
TP0 = TP(TOPIC, 0)


@dataclass
class Record:
    """The fields of aiokafka's ConsumerRecord that chunks and Faust's messages use."""

    offset: int
    key: bytes | None = None
    value: bytes | None = b"{}"
    timestamp: int | None = 1_700_000_000_000
    timestamp_type: int = 0
    headers: tuple[Any, ...] = ()
    topic: str = TOPIC
    partition: int = 0
    checksum: int | None = None
    serialized_key_size: int = 0
    serialized_value_size: int = 2


def chunk(first: int, last: int, tp: TP = TP0, *, generation: int = 1) -> ChunkMessage:
    return ChunkMessage(
        tp, [Record(o, value=str(o).encode()) for o in range(first, last + 1)], generation_id=generation
    )


@dataclass
class Event:
    message: Any


def handled(message: ChunkMessage) -> ChunkMessage:
    """``message`` as the agent leaves it once it has processed the records."""
    mark_handled([Event(message)])
    return message


class Topics:
    def acks_enabled_for(self, topic: str) -> bool:
        return True


class App:
    topics = Topics()


def chunked_transport(app: Any, max_records: int) -> Any:
    return SimpleNamespace(app=app, chunking=Chunking.of([TOPIC], max_records=max_records))


def bare_consumer(committed: int | None = None) -> Any:
    """Our Consumer with only the state Faust's ack/commit bookkeeping reads."""
    consumer: Any = object.__new__(Consumer)
    consumer.app = App()
    consumer._committed_offset = defaultdict(lambda: None, {TP0: committed})
    consumer._acked = defaultdict(list)
    consumer._acked_index = defaultdict(set)
    consumer._gap = defaultdict(IntervalTree)
    consumer._unacked_messages = weakref.WeakSet()
    consumer._n_acked = 0
    consumer._waiting_for_ack = None
    return consumer


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("urls", "wait"),
    [
        pytest.param([transport.broker_url("k1:9092", fetch_wait=0.02)], 20, id="from-broker-url"),
        pytest.param([transport.broker_url("k1:9092", fetch_wait=0.0001)], 1, id="at-least-1ms"),
        pytest.param(["govkafka://k1:9092", "govkafka://k2:9092?fetch_wait_ms=7"], 7, id="any-url"),
        pytest.param(["govkafka://k1:9092"], transport.DEFAULT_FETCH_WAIT_MS, id="default"),
    ],
)
def test_the_fetch_wait_comes_with_the_broker_urls(urls: list[str], wait: int) -> None:
    assert transport.fetch_wait_ms([URL(url) for url in urls]) == wait


def test_a_malformed_fetch_wait_says_how_to_fix_it() -> None:
    message = (
        "broker URL govkafka://k1:9092/?fetch_wait_ms=soon: fetch_wait_ms='soon' is not a whole number "
        "of milliseconds of at least 1; build the URL with stream.transport.broker_url"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        transport.fetch_wait_ms([URL("govkafka://k1:9092?fetch_wait_ms=soon")])


def test_the_transport_keeps_its_fetch_wait_and_chunking() -> None:
    app: Any = SimpleNamespace()
    app.transport = Transport([URL(transport.broker_url("k1:9092", fetch_wait=0.05))], app)
    assert app.transport.fetch_wait_ms == 50 and app.transport.chunking == Chunking()
    transport.deliver_in_chunks(app, [TOPIC, "gov.tasks"], max_records=4)
    assert app.transport.chunking == Chunking(frozenset({TOPIC, "gov.tasks"}), 4)


def test_deliver_in_chunks_refuses_an_empty_chunk_size() -> None:
    with pytest.raises(ValueError, match=r"^max_records must be at least 1, not 0$"):
        app: Any = SimpleNamespace(transport=object())
        transport.deliver_in_chunks(app, [TOPIC], max_records=0)


def test_deliver_in_chunks_needs_the_govkafka_transport() -> None:
    other: Any = SimpleNamespace(transport=object.__new__(faust_aiokafka.Transport))
    message = (
        "chunked delivery needs the govkafka:// transport, and this app's broker is "
        "faust.transport.drivers.aiokafka.Transport; build its broker URLs with stream.transport.broker_url"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        transport.deliver_in_chunks(other, [TOPIC], max_records=4)


# -- acknowledging chunks and what Faust then commits -------------------------------------


def test_acking_a_chunk_lets_faust_commit_past_its_last_record() -> None:
    consumer = bare_consumer(committed=100)
    assert consumer.ack(handled(chunk(100, 199)))
    assert consumer._new_offset(TP0) == 200
    assert consumer._n_acked == 100


def test_a_chunk_a_stream_skipped_without_handling_acks_nothing() -> None:
    # Faust acks what a stream skips (a chunk fetched before a rebalance); its records
    # are fetched again, so counting them done would let a commit pass unprocessed input.
    consumer = bare_consumer(committed=100)
    skipped = chunk(100, 199)
    consumer._unacked_messages.add(skipped)
    assert not consumer.ack(skipped)
    assert skipped.acked and skipped not in consumer._unacked_messages  # wait_empty ends
    assert consumer._acked[TP0] == [] and consumer._new_offset(TP0) is None


def test_a_later_chunk_acked_first_does_not_move_the_commit_past_an_unfinished_one() -> None:
    consumer = bare_consumer(committed=100)
    first, second = handled(chunk(100, 199)), handled(chunk(200, 249))
    consumer.ack(second)
    assert consumer._new_offset(TP0) is None  # 100..199 are not done
    consumer.ack(first)
    assert consumer._new_offset(TP0) == 250


def test_a_chunk_acked_twice_counts_once() -> None:
    consumer = bare_consumer(committed=0)
    message = handled(chunk(0, 9))
    assert consumer.ack(message)
    assert not consumer.ack(message)
    assert consumer._n_acked == 10 and consumer._acked[TP0] == list(range(10))


def test_offsets_below_the_committed_one_are_not_acked_again() -> None:
    consumer = bare_consumer(committed=150)
    consumer.ack(handled(chunk(100, 199)))  # redelivered after a commit at 150
    assert consumer._acked[TP0] == list(range(150, 200))
    assert consumer._new_offset(TP0) == 200


def test_a_gap_before_a_chunk_is_committed_with_it() -> None:
    consumer = bare_consumer(committed=100)
    consumer.ack(handled(chunk(100, 119)))
    placed = place(130, 139, 120, hole=(120, 130))  # the hole came back after a seek
    assert placed.gap == (120, 129) and placed.start == 130
    asyncio.run(transport.add_gap(consumer, TP0, placed.gap))
    consumer.ack(handled(chunk(130, 139)))
    assert consumer._new_offset(TP0) == 140


def test_a_trimmed_chunk_keeps_its_partition_and_generation() -> None:
    trimmed = chunk(100, 199).trimmed(150)
    assert [r.offset for r in trimmed.records] == list(range(150, 200))
    assert (trimmed.tp, trimmed.first, trimmed.offset, trimmed.generation_id) == (TP0, 150, 199, 1)
    whole = chunk(100, 199)
    assert whole.trimmed(100) is whole


def test_a_stream_message_carries_its_records() -> None:
    plain = Record(9)
    assert message_records(plain) == (plain,)
    assert [r.offset for r in message_records(chunk(5, 7))] == [5, 6, 7]


# -- fetching ------------------------------------------------------------------------------


class FetchApp:
    consumer_generation_id = 7

    class monitor:
        @staticmethod
        def track_tp_end_offset(tp: TP, offset: int | None) -> None:
            pass


def fetching_consumer(records: dict[TP, list[Record]], *, max_records: int) -> Any:
    consumer: Any = object.__new__(Consumer)
    app = FetchApp()
    consumer.app = app
    consumer.transport = chunked_transport(app, max_records)
    consumer.flow_active = True
    consumer._buffered_partitions = set()
    consumer._stopped = asyncio.Event()
    consumer._crashed = asyncio.Event()
    consumer.highwater = lambda tp: None
    consumer._to_message = lambda tp, record: ("message", tp, record.offset)

    async def wait_next(timeout: float) -> tuple[dict[TP, list[Record]], set[TP]]:
        return records, set(records)

    consumer._wait_next_records = wait_next
    return consumer


def test_getmany_yields_chunks_of_at_most_max_records_for_chunked_topics_only() -> None:
    other = TP("gov.other", 0)
    consumer = fetching_consumer(
        {TP0: [Record(o) for o in range(10, 25)], other: [Record(o) for o in range(3)]}, max_records=4
    )

    async def fetch() -> list[tuple[TP, Any]]:
        return [item async for item in consumer.getmany(timeout=0.1)]

    out = asyncio.run(fetch())
    chunks = [m for tp, m in out if tp == TP0]
    assert [(m.first, m.offset) for m in chunks] == [(10, 13), (14, 17), (18, 21), (22, 24)]
    assert all(type(m) is ChunkMessage and m.generation_id == 7 and m.value == b"" for m in chunks)
    assert [m for tp, m in out if tp == other] == [
        ("message", other, 0),
        ("message", other, 1),
        ("message", other, 2),
    ]


def test_getmany_stops_yielding_when_a_rebalance_changes_the_generation() -> None:
    consumer = fetching_consumer(
        {TP0: [Record(o) for o in range(8)], TP(TOPIC, 1): [Record(0)]}, max_records=100
    )

    async def fetch() -> list[Any]:
        out = []
        async for _tp, message in consumer.getmany(timeout=0.1):
            out.append(message)
            consumer.app.consumer_generation_id = 8  # rebalance after the first chunk
        return out

    assert len(asyncio.run(fetch())) == 1


def test_a_partition_without_a_committed_offset_reports_its_first_offset_to_faust() -> None:
    # Faust reads the next offset each stream expects from what the seek returns.
    class Kafka:
        async def seek_to_committed(self) -> dict[TP, int | None]:
            return {TP0: 120, TP(TOPIC, 1): None, TP(TOPIC, 2): 0}

        async def seek_to_beginning(self, *tps: TP) -> None:
            self.reset = sorted(tps)

        async def position(self, tp: TP) -> int:
            return {1: 0, 2: 40}[tp.partition]  # partition 2's first records were deleted

    kafka = Kafka()
    thread: Any = object.__new__(transport.ConsumerThread)
    thread._ensure_consumer = lambda: kafka
    starts = asyncio.run(thread.seek_to_committed_in_thread())
    assert starts == {TP0: 120, TP(TOPIC, 1): 0, TP(TOPIC, 2): 40}
    assert kafka.reset == [TP(TOPIC, 1), TP(TOPIC, 2)]


# -- the fetch loop ------------------------------------------------------------------------


class Log:
    """One partition of a broker as the fetch loop sees it: records at ``offsets``,
    fetched from ``position`` in rounds of ``per_fetch`` records."""

    def __init__(self, offsets: list[int], per_fetch: int) -> None:
        self.offsets, self.per_fetch, self.position = offsets, per_fetch, 0
        self.seeks: list[int] = []
        self.stamp: int | None = None  # generation of the next fetch's chunks, if not the app's

    def fetch(self) -> list[Record]:
        batch = [Record(o) for o in self.offsets if o >= self.position][: self.per_fetch]
        if batch:
            self.position = batch[-1].offset + 1
        return batch


class DrainApp:
    consumer_generation_id = 1
    topics = Topics()


class Quiet:
    def dev(self, *args: Any) -> None:
        pass

    info = warning = dev

    def exception(self, message: str, exc: BaseException) -> None:
        raise exc


class Diag:
    def set_flag(self, flag: str) -> None:
        pass

    unset_flag = set_flag


class Fetcher:
    """The Fetcher service, as the fetch loop reads it."""

    def __init__(self) -> None:
        self._stopped = asyncio.Event()

    @property
    def should_stop(self) -> bool:
        return self._stopped.is_set()


def drain(log: Log, *, before: dict[int, Any] | None = None, rounds: int = 40) -> tuple[list[int], Any]:
    """Run our fetch loop over ``log`` (chunks of 40 records); return the offsets the
    stream received, in order. ``before[n]`` runs before fetch round ``n``."""
    consumer: Any = object.__new__(Consumer)
    app = DrainApp()
    consumer.app = app
    consumer.transport = chunked_transport(app, 40)
    consumer.sequencer = Sequencer()
    consumer._read_offset = defaultdict(lambda: None)
    consumer._gap = defaultdict(IntervalTree)
    consumer._commit_every = None
    consumer._committed_offset = defaultdict(lambda: None)
    consumer._n_acked = 0
    consumer._loop = None
    delivered: list[int] = []
    state = {"round": 0}

    class Thread:
        async def seek_back(self, tp: TP, offset: int) -> None:
            log.seeks.append(offset)
            log.position = offset

    async def getmany(timeout: float) -> Any:
        n = state["round"] = state["round"] + 1
        if before and n in before:
            before[n](consumer, log)
        if n > rounds or (delivered and delivered[-1] == log.offsets[-1]):
            consumer._stopped.set()
            return
        records, generation = log.fetch(), log.stamp or app.consumer_generation_id
        log.stamp = None
        for start in range(0, len(records), 40):
            yield TP0, ChunkMessage(TP0, records[start : start + 40], generation_id=generation)

    async def callback(message: ChunkMessage) -> None:
        delivered.extend(r.offset for r in message.records)

    consumer.log = Quiet()
    consumer.diag = Diag()
    consumer.kafka_thread = Thread()
    consumer.getmany = getmany
    consumer.callback = callback

    async def run() -> None:
        consumer._stopped, consumer._crashed = asyncio.Event(), asyncio.Event()
        consumer.suspend_flow = asyncio.Event()
        await consumer._drain_messages(Fetcher())

    asyncio.run(run())
    return delivered, consumer


def assigned_at(offset: int) -> Any:
    """What the assignment's seek does: the stream expects ``offset`` next."""

    def seek(consumer: Any, log: Log) -> None:
        consumer._read_offset[TP0] = offset
        consumer.sequencer.sought(TP0, offset)

    return seek


def test_a_taken_over_partition_is_delivered_from_its_start_whatever_was_fetched_before() -> None:
    # Fetched before the seek: 0..199 (dropped, the position moves to 200). The seek says
    # 0 but the broker position stays at 200, as when records fetched before it arrive
    # after it: the loop seeks back rather than deliver 200.. first.
    log = Log(list(range(1000)), per_fetch=200)
    delivered, _ = drain(log, before={2: assigned_at(0)})
    assert delivered == list(range(1000))
    assert log.seeks == [0]


def test_a_partition_resumes_exactly_at_its_committed_offset() -> None:
    log = Log(list(range(600)), per_fetch=150)
    delivered, _ = drain(log, before={1: assigned_at(300), 2: lambda c, lg: setattr(lg, "position", 300)})
    # round 1 fetched 0..149 below the committed offset: dropped, nothing sought
    assert delivered == list(range(300, 600))
    assert log.seeks == []


def test_a_hole_that_is_really_there_is_sought_once_then_skipped_as_a_gap() -> None:
    offsets = [o for o in range(500) if not 100 <= o < 110]  # e.g. transaction markers
    log = Log(offsets, per_fetch=100)
    delivered, consumer = drain(log, before={1: assigned_at(0)})
    assert delivered == offsets
    assert log.seeks == [100]
    assert sorted((i.begin, i.end) for i in consumer._gap[TP0]) == [(100, 110)]


def test_chunks_of_an_earlier_generation_are_not_delivered() -> None:
    log = Log(list(range(300)), per_fetch=100)

    def rebalance(consumer: Any, lg: Log) -> None:
        consumer.app.consumer_generation_id = 2
        assigned_at(0)(consumer, lg)  # the new assignment's seek
        lg.stamp = 1  # this fetch (100..199) was made before the rebalance

    delivered, _ = drain(log, before={1: assigned_at(0), 2: rebalance})
    assert delivered == list(range(100)) + list(range(300))  # from the seek, in order
    assert log.seeks == [0]


# -- the agent's check that nothing went missing on the way --------------------------------


def delivered_chunk(first: int, last: int, epoch: int | None, *, after: int | None = None) -> ChunkMessage:
    """A chunk as the fetch loop hands it over in ``epoch``."""
    message = chunk(first, last)
    message.epoch, message.after = epoch, first if after is None else after
    return message


def seeking_consumer() -> Any:
    consumer: Any = object.__new__(Consumer)
    consumer.sequencer = Sequencer()
    consumer.seeks = []

    async def seek_back(tp: TP, offset: int) -> None:
        consumer.seeks.append((tp, offset))
        consumer.sequencer.sought(tp, offset)

    consumer.seek_back = seek_back
    return consumer


def test_a_batch_after_a_lost_chunk_is_dropped_and_its_partition_sought_back() -> None:
    consumer = seeking_consumer()
    other = TP(TOPIC, 1)
    epoch = consumer.sequencer.sought(TP0, 0)
    other_epoch = consumer.sequencer.sought(other, 0)
    elsewhere = ChunkMessage(other, [Record(0)], generation_id=1)
    elsewhere.epoch, elsewhere.after = other_epoch, 0
    plain = Event(object())
    batch: list[Any] = [
        Event(delivered_chunk(250, 499, epoch)),
        Event(delivered_chunk(500, 749, epoch)),
        Event(elsewhere),
        plain,
    ]
    kept = asyncio.run(transport.in_order(consumer, batch))
    assert kept == [batch[2], plain]  # the other partition and plain messages go on
    assert consumer.seeks == [(TP0, 0)]  # once: the chunk after it is stale by then
    again: list[Any] = [Event(delivered_chunk(0, 249, consumer.sequencer.epoch(TP0)))]
    assert asyncio.run(transport.in_order(consumer, again)) == again


def test_in_order_needs_the_govkafka_consumer() -> None:
    with pytest.raises(TypeError, match=r"^in_order needs the govkafka:// consumer, not object$"):
        asyncio.run(transport.in_order(object(), []))  # type: ignore[arg-type]  # the refused case


# -- the rebalance that lost the start of a partition (module docstring) ------------------


class Partition:
    """aiokafka's side of one partition: records handed over to Faust advance the
    position (``FetchResult.getall`` → ``consumed_to``), a seek moves it."""

    def __init__(self, size: int, per_fetch: int) -> None:
        self.size, self.per_fetch, self.position = size, per_fetch, 0

    def hand_over(self) -> list[Record]:
        batch = [Record(o) for o in range(self.position, min(self.size, self.position + self.per_fetch))]
        self.position += len(batch)
        return batch


class TakeoverApp:
    consumer_generation_id = 5
    client_only = False
    topics = Topics()

    class monitor:
        @staticmethod
        def track_tp_end_offset(tp: TP, offset: int | None) -> None:
            pass


def take_over(
    *, govpulse: bool, agent_check: bool = True, seek_during_recovery: bool = True, extra_seek: bool = True
) -> list[int]:
    """A worker taking over a never-committed partition of 1,000 records, fetched 500 at
    a time into an agent queue of 250 records; returns the offsets the agent processes,
    in order.

    ``govpulse``: our consumer and fetch loop (chunks of 250, a queue of one chunk), else
    Faust's own (a message per record). ``seek_during_recovery``: the recovery completes
    (Faust's ``on_recovery_completed``: resume the partition, ``perform_seek``, resume the
    flow) when the loop first waits for a full queue (or, if it never does, before the
    second fetch), else before the first fetch.
    ``extra_seek``: the partition was sought to its start once already during the
    rebalance (the extra ``perform_seek`` of ``getmany`` while the flow was stopped).
    """
    size, per_fetch, buffer = 1000, 500, 250
    partition = Partition(size, per_fetch)
    consumer: Any = object.__new__(Consumer if govpulse else faust_aiokafka.Consumer)
    app = TakeoverApp()
    consumer.app = app
    consumer.log = Quiet()
    consumer.diag = Diag()
    consumer._loop = None
    consumer._read_offset = defaultdict(lambda: None, {TP0: 0} if extra_seek else {})
    consumer._committed_offset = defaultdict(lambda: None)
    consumer._gap = defaultdict(IntervalTree)
    consumer._commit_every = None
    consumer._n_acked = 0
    consumer._active_partitions = set()  # stream partitions paused until recovery completes
    consumer._paused_partitions = {TP0}
    consumer._buffered_partitions = set()
    scheduler: Any = DefaultSchedulingStrategy  # Faust's default ConsumerScheduler (typed abstract)
    consumer.scheduler = scheduler()
    consumer.highwater = lambda tp: size
    if govpulse:
        consumer.transport = chunked_transport(app, buffer)
        consumer.sequencer = Sequencer()
        if extra_seek:
            consumer.sequencer.sought(TP0, 0)

        class Thread:
            async def seek_back(self, tp: TP, offset: int) -> None:
                partition.position = offset

        consumer.kafka_thread = Thread()
    processed: list[int] = []

    async def main() -> None:
        consumer._stopped, consumer._crashed = asyncio.Event(), asyncio.Event()
        consumer.suspend_flow, consumer.can_resume_flow = asyncio.Event(), asyncio.Event()
        consumer.not_waiting_next_records = asyncio.Event()
        consumer.flow_active = True  # resumed by recovery before it completes
        flow_control = FlowControlEvent(initially_suspended=False)
        queue: FlowControlQueue[Any] = FlowControlQueue(
            1 if govpulse else buffer, flow_control=flow_control, clear_on_resume=True
        )
        recovered = asyncio.Event()

        async def agent() -> None:
            events = []
            while not queue.empty():
                events.append(Event(queue.get_nowait()))
            if govpulse and agent_check:
                events = await consumer.in_order(events)
            processed.extend(record.offset for event in events for record in message_records(event.message))

        async def seek_to_committed() -> dict[TP, int]:
            partition.position = 0  # never committed: to its beginning, reported as 0
            return {TP0: 0}

        async def on_recovery_completed() -> None:
            recovered.set()
            consumer.resume_partitions({TP0})
            await consumer.perform_seek()
            flow_control.resume()  # clears the agents' queues
            consumer.resume_flow()

        async def on_message(message: Any) -> None:  # the conductor's, reduced
            await flow_control.acquire()
            if queue.full():
                await (agent() if recovered.is_set() else on_recovery_completed())
            await queue.put(message)

        fetches: list[int] = []

        async def getmany(active_partitions: Any, timeout: float) -> dict[TP, list[Record]]:
            fetches.append(partition.position)
            if not recovered.is_set() and len(fetches) > 1:  # the loop never waited: completes now
                await on_recovery_completed()
            await agent()
            batch = partition.hand_over()
            if not batch:
                consumer._stopped.set()
            return {TP0: batch} if batch else {}

        consumer.seek_to_committed = seek_to_committed
        consumer.callback = on_message
        consumer._getmany = getmany
        if not seek_during_recovery:
            await on_recovery_completed()
        else:
            consumer.resume_partitions({TP0})  # fetching before the seek, as in the race
        loop: Callable[[Any, Any], Awaitable[None]] = (
            Consumer._drain_messages if govpulse else faust_consumer.Consumer._drain_messages
        )
        await loop(consumer, Fetcher())
        await agent()

    asyncio.run(main())
    return processed


@pytest.mark.parametrize("extra_seek", [True, False], ids=["after-an-extra-seek", "without"])
def test_a_seek_during_recovery_loses_the_start_of_the_partition_in_fausts_loop(extra_seek: bool) -> None:
    processed = take_over(govpulse=False, extra_seek=extra_seek)
    assert processed[:3] == [250, 251, 252]  # processed from the middle
    assert set(range(250)).isdisjoint(processed)  # its first 250 records never reach the agent


@pytest.mark.parametrize("extra_seek", [True, False], ids=["after-an-extra-seek", "without"])
def test_a_seek_during_recovery_is_caught_up_by_govpulses_loop(extra_seek: bool) -> None:
    assert take_over(govpulse=True, extra_seek=extra_seek) == list(range(1000))


def test_without_the_agent_check_a_stale_chunk_runs_ahead_of_the_partitions_start() -> None:
    # The fetch loop alone re-fetches from the seek, but the chunk it queued before the
    # seek (250..499) survives the clear and reaches the agent first.
    processed = take_over(govpulse=True, agent_check=False)
    assert processed[:250] == list(range(250, 500))
    assert processed[250:] == list(range(1000))


@pytest.mark.parametrize("govpulse", [False, True], ids=["faust", "govpulse"])
def test_a_seek_before_the_first_fetch_loses_nothing(govpulse: bool) -> None:
    processed = take_over(govpulse=govpulse, seek_during_recovery=False)
    assert sorted(set(processed)) == list(range(1000)) and processed[0] == 0
