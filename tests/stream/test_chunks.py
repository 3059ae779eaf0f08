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
from stream.transport import ChunkMessage, Consumer, admit, message_records

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


def chunk(first: int, last: int, tp: TP = TP0) -> ChunkMessage:
    return ChunkMessage(
        tp, [Record(o, value=str(o).encode()) for o in range(first, last + 1)], generation_id=1
    )


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


# -- admitting messages to the fetch loop ------------------------------------------------


def test_a_chunk_after_the_read_offset_is_delivered_whole_without_a_gap() -> None:
    message, gap = admit(TP0, chunk(100, 199), 99)
    assert message is not None and (message.first, message.offset) == (100, 199) and gap is None


def test_a_chunk_straight_after_a_seek_is_delivered_from_the_read_offset() -> None:
    message, gap = admit(TP0, chunk(100, 199), 100)  # after a seek: the next offset to read
    assert message is not None and message.first == 100 and gap is None


def test_records_already_read_are_dropped_from_a_chunk() -> None:
    message, gap = admit(TP0, chunk(100, 199), 150)
    assert message is not None
    assert [r.offset for r in message.records] == list(range(150, 200))
    assert (message.first, message.offset, gap) == (150, 199, None)


def test_a_chunk_read_entirely_before_is_dropped() -> None:
    assert admit(TP0, chunk(100, 199), 200) == (None, None)


def test_missing_offsets_before_a_chunk_are_a_gap_that_ends_before_it() -> None:
    message, gap = admit(TP0, chunk(120, 199), 99)
    assert message is not None and gap == (100, 119)


def test_plain_messages_keep_fausts_rules() -> None:
    single = chunk(5, 5).records[0]

    @dataclass
    class Plain:
        offset: int

    assert admit(TP0, Plain(5), 4) == (Plain(5), None)
    assert admit(TP0, Plain(3), 4) == (None, None)
    assert admit(TP0, Plain(9), 4) == (Plain(9), (5, 8))
    assert message_records(Plain(9)) == (Plain(9),)
    assert message_records(chunk(5, 5))[0] == single


# -- acknowledging chunks and what Faust then commits -------------------------------------


def test_acking_a_chunk_lets_faust_commit_past_its_last_record() -> None:
    consumer = bare_consumer(committed=100)
    assert consumer.ack(chunk(100, 199))
    assert consumer._new_offset(TP0) == 200
    assert consumer._n_acked == 100


def test_a_later_chunk_acked_first_does_not_move_the_commit_past_an_unfinished_one() -> None:
    consumer = bare_consumer(committed=100)
    first, second = chunk(100, 199), chunk(200, 249)
    consumer.ack(second)
    assert consumer._new_offset(TP0) is None  # 100..199 are not done
    consumer.ack(first)
    assert consumer._new_offset(TP0) == 250


def test_a_chunk_acked_twice_counts_once() -> None:
    consumer = bare_consumer(committed=0)
    message = chunk(0, 9)
    assert consumer.ack(message)
    assert not consumer.ack(message)
    assert consumer._n_acked == 10 and consumer._acked[TP0] == list(range(10))


def test_offsets_below_the_committed_one_are_not_acked_again() -> None:
    consumer = bare_consumer(committed=150)
    consumer.ack(chunk(100, 199))  # redelivered after a commit at 150
    assert consumer._acked[TP0] == list(range(150, 200))
    assert consumer._new_offset(TP0) == 200


def test_a_gap_before_a_chunk_is_committed_with_it() -> None:
    consumer = bare_consumer(committed=100)
    consumer.ack(chunk(100, 119))
    message, gap = admit(TP0, chunk(130, 139), 119)
    assert gap == (120, 129)
    asyncio.run(consumer._add_gap(TP0, *gap))
    assert message is not None
    consumer.ack(message)
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
