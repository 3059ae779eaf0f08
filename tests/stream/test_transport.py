"""Chunked delivery (stream.transport): one Faust message per run of records of a partition.

The consumer's offset bookkeeping is Faust's own (``_new_offset`` computes what is
committed); these tests drive it with chunks to check that a commit never passes a chunk
the agent has not finished, and always reaches the end of one it has.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from faust.types import TP
from intervaltree import IntervalTree

from stream import transport
from stream.transport import (
    ChunkMessage,
    Consumer,
    Placement,
    Sequencer,
    Verdict,
    admit,
    in_order,
    mark_handled,
    message_records,
    place,
    sequencer,
)

TOPIC = "gov.feedback"
TP0 = TP(TOPIC, 0)


@dataclass
class Record:
    """The fields of aiokafka's ConsumerRecord that chunks use."""

    offset: int
    key: bytes | None = None
    value: bytes | None = b"{}"
    timestamp: int | None = 1_700_000_000_000
    timestamp_type: int = 0
    headers: tuple[Any, ...] = ()


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


# -- placing chunks in the fetch loop -------------------------------------------------------


def test_a_chunk_at_the_expected_offset_is_delivered_whole() -> None:
    message = chunk(100, 199)
    assert place(message, 100) == Placement(message)


def test_records_already_delivered_are_trimmed_from_a_chunk() -> None:
    placed = place(chunk(100, 199), 150).chunk
    assert placed is not None
    assert [r.offset for r in placed.records] == list(range(150, 200))
    assert (placed.first, placed.offset, placed.generation_id) == (150, 199, 1)


def test_a_chunk_delivered_entirely_before_is_dropped() -> None:
    assert place(chunk(100, 199), 200) == Placement()


def test_nothing_is_delivered_before_the_assignment_says_where_a_partition_starts() -> None:
    assert place(chunk(0, 99), None) == Placement()


def test_a_chunk_past_the_expected_offset_seeks_back_instead_of_skipping_records() -> None:
    # The takeover that failed: records 0..1949 were fetched before the assignment's seek
    # and lost, and the stream was then handed 1950.. of a partition never committed.
    assert place(chunk(1950, 2199), 0) == Placement(seek=0)


def test_a_hole_that_comes_back_after_seeking_back_is_a_gap() -> None:
    message = chunk(120, 199)
    assert place(message, 100, hole=(100, 120)) == Placement(message, gap=(100, 119))
    assert place(message, 100, hole=(100, 110)) == Placement(seek=100)  # another hole
    assert place(message, 101, hole=(100, 120)) == Placement(seek=101)


def test_plain_messages_keep_fausts_rules() -> None:
    single = chunk(5, 5).records[0]

    @dataclass
    class Plain:
        offset: int

    assert admit(Plain(5), 4) == (Plain(5), None)
    assert admit(Plain(3), 4) == (None, None)
    assert admit(Plain(9), 4) == (Plain(9), (5, 8))
    assert admit(Plain(9), None) == (Plain(9), None)
    assert message_records(Plain(9)) == (Plain(9),)
    assert message_records(chunk(5, 5))[0] == single


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
    placed = place(chunk(130, 139), 120, hole=(120, 130))  # the hole came back after a seek
    assert placed.gap == (120, 129) and placed.chunk is not None
    asyncio.run(consumer._add_gap(TP0, *placed.gap))
    consumer.ack(handled(placed.chunk))
    assert consumer._new_offset(TP0) == 140


# -- fetching ------------------------------------------------------------------------------


class FetchApp:
    consumer_generation_id = 7

    class monitor:
        @staticmethod
        def track_tp_end_offset(tp: TP, offset: int | None) -> None:
            pass


def fetching_consumer(records: dict[TP, list[Record]]) -> Any:
    consumer: Any = object.__new__(Consumer)
    app = FetchApp()
    consumer.app = app
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
        {TP0: [Record(o) for o in range(10, 25)], other: [Record(o) for o in range(3)]}
    )
    transport.deliver_in_chunks(consumer.app, [TOPIC], max_records=4)

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
    consumer = fetching_consumer({TP0: [Record(o) for o in range(8)], TP(TOPIC, 1): [Record(0)]})
    transport.deliver_in_chunks(consumer.app, [TOPIC], max_records=100)

    async def fetch() -> list[Any]:
        out = []
        async for _tp, message in consumer.getmany(timeout=0.1):
            out.append(message)
            consumer.app.consumer_generation_id = 8  # rebalance after the first chunk
        return out

    assert len(asyncio.run(fetch())) == 1


def test_deliver_in_chunks_refuses_an_empty_chunk_size() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        transport.deliver_in_chunks(App(), [TOPIC], max_records=0)


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


def drain(log: Log, *, before: dict[int, Any] | None = None, rounds: int = 40) -> tuple[list[int], Any]:
    """Run our fetch loop over ``log`` (chunks of 40 records); return the offsets the
    stream received, in order. ``before[n]`` runs before fetch round ``n``."""
    consumer: Any = object.__new__(Consumer)
    app = DrainApp()
    transport.deliver_in_chunks(app, [TOPIC], max_records=40)
    consumer.app = app
    consumer._read_offset = defaultdict(lambda: None)
    consumer._gap = defaultdict(IntervalTree)
    consumer._commit_every = None
    consumer._committed_offset = defaultdict(lambda: None)
    consumer._n_acked = 0
    consumer._loop = None
    delivered: list[int] = []
    state = {"round": 0}

    class Quiet:
        def dev(self, *args: Any) -> None:
            pass

        def exception(self, message: str, exc: BaseException) -> None:
            raise exc

    class Diag:
        def set_flag(self, flag: str) -> None:
            pass

        unset_flag = set_flag

    class Thread:
        async def seek_back(self, tp: TP, offset: int) -> None:
            log.seeks.append(offset)
            log.position = offset

    class Fetcher:
        _stopped = asyncio.Event()

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
    consumer._thread = Thread()
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
        sequencer(consumer).sought(TP0, offset)

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
    starts = asyncio.run(thread._seek_to_committed())
    assert starts == {TP0: 120, TP(TOPIC, 1): 0, TP(TOPIC, 2): 40}
    assert kafka.reset == [TP(TOPIC, 1), TP(TOPIC, 2)]


# -- the agent's check that nothing went missing on the way --------------------------------


def delivered(first: int, last: int, epoch: int, *, after: int | None = None) -> ChunkMessage:
    """A chunk as the fetch loop hands it over in ``epoch``."""
    message = chunk(first, last)
    message.epoch, message.after = epoch, first if after is None else after
    return message


def test_the_agent_takes_a_partitions_chunks_in_order_from_its_seek() -> None:
    order = Sequencer()
    epoch = order.sought(TP0, 100)
    assert order.check(delivered(100, 149, epoch)) == (Verdict.TAKE, 100)
    assert order.check(delivered(150, 199, epoch)) == (Verdict.TAKE, 150)
    assert order.check(delivered(210, 219, epoch, after=200)) == (Verdict.TAKE, 200)  # after a gap


def test_a_chunk_after_one_that_never_arrived_is_refused() -> None:
    # The failure this guards against: the first chunk of a partition taken over from a
    # dead worker was lost around the rebalance and the next one was processed first.
    order = Sequencer()
    epoch = order.sought(TP0, 0)
    assert order.check(delivered(250, 499, epoch)) == (Verdict.LOST, 0)
    assert order.check(delivered(0, 249, epoch)) == (Verdict.TAKE, 0)
    assert order.check(delivered(250, 499, epoch)) == (Verdict.TAKE, 250)


def test_chunks_fetched_before_the_last_seek_are_stale() -> None:
    order = Sequencer()
    old = order.sought(TP0, 0)
    assert order.check(delivered(0, 99, old))[0] is Verdict.TAKE
    new = order.sought(TP0, 50)  # e.g. the assignment's seek to the committed offset
    assert order.check(delivered(100, 149, old))[0] is Verdict.STALE
    assert order.check(delivered(50, 99, new)) == (Verdict.TAKE, 50)  # taken again from 50
    assert order.check(delivered(0, 9, None)) == (Verdict.STALE, -1)  # never stamped


class SeekingConsumer:
    def __init__(self) -> None:
        self.seeks: list[tuple[TP, int]] = []

    async def seek_back(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))
        sequencer(self).sought(tp, offset)


def test_a_batch_after_a_lost_chunk_is_dropped_and_its_partition_sought_back() -> None:
    consumer = SeekingConsumer()
    other = TP(TOPIC, 1)
    epoch = sequencer(consumer).sought(TP0, 0)
    other_epoch = sequencer(consumer).sought(other, 0)
    elsewhere = ChunkMessage(other, [Record(0)], generation_id=1)
    elsewhere.epoch, elsewhere.after = other_epoch, 0
    plain = Event(object())
    batch = [Event(delivered(250, 499, epoch)), Event(delivered(500, 749, epoch)), Event(elsewhere), plain]
    kept = asyncio.run(in_order(consumer, batch))
    assert kept == [batch[2], plain]  # the other partition and plain messages go on
    assert consumer.seeks == [(TP0, 0)]  # once: the chunk after it is stale by then
    again = [Event(delivered(0, 249, sequencer(consumer).epoch(TP0)))]
    assert asyncio.run(in_order(consumer, again)) == again
