"""What a worker sends, addressed: dead letters and their limits, partitions, grouping, ticks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from aiokafka.partitioner import DefaultPartitioner

from alerts.model import RuleName, Severity, Signal
from runtime.topics import Topics
from stream.outputs import (
    DEAD_LETTER_MAX_KEY,
    DEAD_LETTER_MAX_VALUE,
    Outputs,
    Send,
    dead_letter,
    key_partition,
)
from stream.stages.items import FEEDBACK, DeadLetter, Message, encode_tick
from stream.transitions import Entry, NodeBatch, NodeGroup, PartitionGauges, Progress, Tick, decode

TOPICS = Topics(
    feedback="gov.feedback",
    tasks="gov.tasks",
    alerts="gov.alerts",
    deadletter="gov.deadletter",
    commands="gov.commands",
    item_ticks="govpulse.item-ticks",
    transitions="govpulse.transitions",
    signals="govpulse.signals",
)
NODES = ("HCM", "Q1", "Q7", "Q1-BEN-NGHE")
BIG_VALUE = b"v" * (DEAD_LETTER_MAX_VALUE + 10)
BIG_KEY = b"k" * (DEAD_LETTER_MAX_KEY + 1)


def outputs(partitions: int = 3) -> Outputs:
    return Outputs(TOPICS, partitions=partitions, nodes=NODES)


# -- partitioning ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "partitions", "partition"),
    [
        pytest.param("HCM", 12, 7, id="unit code"),
        pytest.param("Q1", 12, 6, id="another unit code"),
        pytest.param("PA-2026-000001", 6, 3, id="item id"),
        pytest.param("item_overdue:NV-1", 3, 2, id="fingerprint"),
        pytest.param("Q7", 1, 0, id="one partition"),
    ],
)
def test_key_partition_is_the_producers_default_partitioner(
    key: str, partitions: int, partition: int
) -> None:
    every = list(range(partitions))
    assert key_partition(key, partitions) == partition
    assert key_partition(key, partitions) == DefaultPartitioner()(key.encode(), every, every)


def test_each_node_is_keyed_to_its_transitions_partition() -> None:
    assert outputs().node_partition == {"HCM": 1, "Q1": 0, "Q7": 1, "Q1-BEN-NGHE": 1}


# -- dead letters ------------------------------------------------------------------------------


def letter(key: bytes | None, value: bytes | None, reason: str = "bad", stage: str = "items") -> DeadLetter:
    return DeadLetter(Message(FEEDBACK, "gov.feedback", 3, 41, key, value), reason, stage)


def origin(reason: bytes = b"bad", stage: bytes = b"items") -> list[tuple[str, bytes]]:
    return [
        ("govpulse.reason", reason),
        ("govpulse.source.topic", b"gov.feedback"),
        ("govpulse.source.partition", b"3"),
        ("govpulse.source.offset", b"41"),
        ("govpulse.stage", stage),
    ]


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        pytest.param(
            letter(b"PA-1", b"{not json"),
            Send("gov.deadletter", b"PA-1", b"{not json", None, origin()),
            id="kept whole",
        ),
        pytest.param(
            letter(None, None, "message has no value", "alerts"),
            Send("gov.deadletter", None, None, None, origin(b"message has no value", b"alerts")),
            id="no key, tombstone",
        ),
        pytest.param(
            letter(b"PA-1", b"v" * DEAD_LETTER_MAX_VALUE),
            Send("gov.deadletter", b"PA-1", b"v" * DEAD_LETTER_MAX_VALUE, None, origin()),
            id="value at the limit",
        ),
        pytest.param(
            letter(b"PA-1", BIG_VALUE),
            Send(
                "gov.deadletter",
                b"PA-1",
                BIG_VALUE[:DEAD_LETTER_MAX_VALUE],
                None,
                [
                    *origin(),
                    ("govpulse.truncated", f"value={len(BIG_VALUE)} key=4".encode()),
                    ("govpulse.sha256", hashlib.sha256(BIG_VALUE).hexdigest().encode()),
                ],
            ),
            id="value cut",
        ),
        pytest.param(
            letter(BIG_KEY, b"{}"),
            Send(
                "gov.deadletter",
                BIG_KEY[:DEAD_LETTER_MAX_KEY],
                b"{}",
                None,
                [
                    *origin(),
                    ("govpulse.truncated", f"value=2 key={len(BIG_KEY)}".encode()),
                    ("govpulse.sha256", hashlib.sha256(b"{}").hexdigest().encode()),
                ],
            ),
            id="key cut",
        ),
        pytest.param(
            letter(BIG_KEY, None),
            Send(
                "gov.deadletter",
                BIG_KEY[:DEAD_LETTER_MAX_KEY],
                None,
                None,
                [
                    *origin(),
                    ("govpulse.truncated", f"value=0 key={len(BIG_KEY)}".encode()),
                    ("govpulse.sha256", hashlib.sha256(b"").hexdigest().encode()),
                ],
            ),
            id="key cut, tombstone",
        ),
        pytest.param(
            letter(b"PA-1", b"{}", "ồ" * 2000),
            Send("gov.deadletter", b"PA-1", b"{}", None, origin(("ồ" * 2000).encode()[:4000])),
            id="reason cut to 4000 bytes",
        ),
    ],
)
def test_a_dead_letter_keeps_the_message_within_the_limits_and_says_why(
    given: DeadLetter, sent: Send
) -> None:
    assert dead_letter("gov.deadletter", given) == sent


def test_dead_letters_go_to_the_dead_letter_topic_in_order() -> None:
    letters = [letter(b"PA-1", b"a"), letter(b"PA-2", b"b", "worse")]

    sent = outputs().dead_letters(letters)

    assert [(s.topic, s.key, s.value) for s in sent] == [
        ("gov.deadletter", b"PA-1", b"a"),
        ("gov.deadletter", b"PA-2", b"b"),
    ]


# -- transitions -------------------------------------------------------------------------------


def batch(node: str, offset: int) -> NodeBatch:
    entry = Entry("f0", offset, f"PA-{offset}", 1, ("received",), ((1.0e9, "received"),), event_at=1.0e9)
    return NodeBatch(node, (entry,), (PartitionGauges(0, 1, 0, 0, 1.0e9),))


def carried(value: bytes | None) -> list[tuple[str, int]]:
    """(node, first entry's offset) of each node batch of a transitions message."""
    group = decode(value or b"")
    assert isinstance(group, NodeGroup)
    return [(b.node, b.entries[0].offset) for b in group.batches]


def test_node_batches_travel_grouped_per_node_partition_in_order() -> None:
    batches = [batch("HCM", 0), batch("Q1", 1), batch("Q1-BEN-NGHE", 2), batch("HCM", 3)]

    sent = outputs().transitions(batches)

    assert [(s.topic, s.key, s.partition, s.headers) for s in sent] == [
        ("govpulse.transitions", None, 1, None),
        ("govpulse.transitions", None, 0, None),
    ]
    assert [carried(s.value) for s in sent] == [
        [("HCM", 0), ("Q1-BEN-NGHE", 2), ("HCM", 3)],
        [("Q1", 1)],
    ]


def test_no_node_batch_is_no_message() -> None:
    assert outputs().transitions([]) == []


# -- signals, ticks, progress, alert events ----------------------------------------------------

SIGNAL = Signal("item_overdue:NV-1", RuleName.ITEM_OVERDUE, True, 1.0e9, "Q1", "NV-1", Severity.WARNING)


@dataclass(frozen=True)
class Event:
    """Stands for an alert event: a fingerprint and its encoding."""

    fingerprint: str

    def encode(self) -> bytes:
        return b'{"event":"' + self.fingerprint.encode() + b'"}'


@pytest.mark.parametrize(
    ("made", "sent"),
    [
        pytest.param(
            lambda o: o.signal(SIGNAL),
            Send("govpulse.signals", b"item_overdue:NV-1", SIGNAL.encode(), 2),
            id="signal in its fingerprint's partition",
        ),
        pytest.param(
            lambda o: o.item_tick(2, b"NV-1", 1.5e9),
            Send("govpulse.item-ticks", b"NV-1", encode_tick("NV-1", 1.5e9), 2),
            id="item tick in the item's partition",
        ),
        pytest.param(
            lambda o: o.alert_tick(1, "item_overdue:NV-1", 1.5e9),
            Send(
                "govpulse.signals",
                b"item_overdue:NV-1",
                Tick(1.5e9, "item_overdue:NV-1").encode(),
                1,
            ),
            id="alert wake-up in the given partition",
        ),
        pytest.param(
            lambda o: o.alert_event(Event("item_overdue:NV-1")),
            Send("gov.alerts", b"item_overdue:NV-1", b'{"event":"item_overdue:NV-1"}'),
            id="alert event, default partitioner",
        ),
        pytest.param(
            lambda o: o.unit_ticks(1.5e9, [0, 2]),
            [
                Send("govpulse.transitions", None, Tick(1.5e9).encode(), 0),
                Send("govpulse.transitions", None, Tick(1.5e9).encode(), 2),
            ],
            id="unit ticks to the given partitions",
        ),
        pytest.param(
            lambda o: o.progress({0: 1.0e9, 2: 1.1e9}),
            [
                Send("govpulse.transitions", None, Progress({0: 1.0e9, 2: 1.1e9}).encode(), q)
                for q in range(3)
            ],
            id="progress to every unit partition",
        ),
    ],
)
def test_timer_and_signal_messages_are_addressed_to_their_partition(
    made: Callable[[Outputs], Send | list[Send]], sent: Send | list[Send]
) -> None:
    assert made(outputs()) == sent


def test_a_send_is_the_five_fields_the_producer_takes() -> None:
    send = Send("gov.alerts", b"k", b"v")

    assert send == ("gov.alerts", b"k", b"v", None, None)
    topic, key, value, partition, headers = send
    assert (topic, key, value, partition, headers) == ("gov.alerts", b"k", b"v", None, None)
