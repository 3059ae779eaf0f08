"""What a worker sends, addressed: topics, keys, partitions and headers, without I/O.

The stages return results (node batches, signals, alert events, dead letters); the timers
find due deadlines. This module turns them into :class:`Send` records — which topic, which
key, which partition, which headers — and the Faust shell (:mod:`stream.app`) only hands
the records to the producer. Internal topics have ``GOVPULSE_PARTITIONS`` partitions and
are addressed explicitly, with the partition Kafka's default partitioner would pick
(:func:`key_partition`), so a key's messages always meet its table partition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from aiokafka.partitioner import murmur2

from alerts.model import AlertEvent, Signal
from runtime.topics import Topics
from stream.stages.items import DeadLetter, encode_tick
from stream.transitions import NodeBatch, Progress, Tick, encode_group

#: Dead letters keep at most this much of the original value and key (the rest is
#: described by the ``govpulse.truncated`` and ``govpulse.sha256`` headers): the producer
#: (1 MB by default) and brokers refuse larger records, and a refused dead letter stopped
#: the worker on the same message again after every restart.
DEAD_LETTER_MAX_VALUE = 512 * 1024
DEAD_LETTER_MAX_KEY = 1024
#: Longest ``govpulse.reason`` header of a dead letter (bytes of its UTF-8).
DEAD_LETTER_MAX_REASON = 4000

#: Kafka record headers: (name, value) pairs.
Headers = list[tuple[str, bytes]]


class Send(NamedTuple):
    """One message to send.

    Args:
        topic: the full topic name.
        key: the record key (None: no key).
        value: the record value (None: a tombstone).
        partition: the partition (None: the producer's partitioner picks it).
        headers: record headers (None: no headers).
    """

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    headers: Headers | None = None


def key_partition(key: str, partitions: int) -> int:
    """Partition of ``key`` under Kafka's default partitioner (murmur2), as producers use."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def dead_letter(topic: str, letter: DeadLetter) -> Send:
    """``letter``'s message for the dead-letter ``topic``: the original key and value (cut
    to :data:`DEAD_LETTER_MAX_KEY` / :data:`DEAD_LETTER_MAX_VALUE`), with headers saying
    why, where it came from, and — when cut — how large it was and its value's SHA-256."""
    message = letter.message
    key, value = message.key, message.value
    headers: Headers = [
        ("govpulse.reason", letter.reason.encode()[:DEAD_LETTER_MAX_REASON]),
        ("govpulse.source.topic", message.topic.encode()),
        ("govpulse.source.partition", str(message.partition).encode()),
        ("govpulse.source.offset", str(message.offset).encode()),
        ("govpulse.stage", letter.stage.encode()),
    ]
    value_size, key_size = len(value or b""), len(key or b"")
    if value_size > DEAD_LETTER_MAX_VALUE or key_size > DEAD_LETTER_MAX_KEY:
        headers += [
            ("govpulse.truncated", f"value={value_size} key={key_size}".encode()),
            ("govpulse.sha256", hashlib.sha256(value or b"").hexdigest().encode()),
        ]
        key = None if key is None else key[:DEAD_LETTER_MAX_KEY]
        value = None if value is None else value[:DEAD_LETTER_MAX_VALUE]
    return Send(topic, key, value, None, headers)


class Outputs:
    """Addresses a worker's outputs to its topics.

    Args:
        topics: the deployment's topic names.
        partitions: partitions of the internal topics (``GOVPULSE_PARTITIONS``).
        nodes: the roll-up node codes (the unit catalog), keyed to transitions partitions.
    """

    def __init__(self, topics: Topics, *, partitions: int, nodes: Iterable[str]) -> None:
        self.topics = topics
        self.partitions = partitions
        #: The transitions partition of each roll-up node (its code is its key).
        self.node_partition = {node: key_partition(node, partitions) for node in nodes}

    def transitions(self, batches: Iterable[NodeBatch]) -> list[Send]:
        """Messages carrying ``batches`` to the unit stage: grouped per node partition, in
        order, as few messages as fit (:func:`stream.transitions.encode_group`)."""
        by_partition: dict[int, list[NodeBatch]] = {}
        for batch in batches:
            by_partition.setdefault(self.node_partition[batch.node], []).append(batch)
        return [
            Send(self.topics.transitions, None, value, partition)
            for partition, grouped in by_partition.items()
            for value in encode_group(grouped)
        ]

    def progress(self, watermarks: dict[int, float]) -> list[Send]:
        """How far each item partition has got, to every unit partition (windows expire
        behind the slowest item partition)."""
        value = Progress(watermarks).encode()
        return [Send(self.topics.transitions, None, value, q) for q in range(self.partitions)]

    def unit_ticks(self, at: float, partitions: Iterable[int]) -> list[Send]:
        """A timer tick for each of the unit stage's ``partitions``."""
        return [Send(self.topics.transitions, None, Tick(at).encode(), p) for p in partitions]

    def signal(self, signal: Signal) -> Send:
        """``signal`` for the alert stage, in the partition Kafka's default partitioner would
        pick for its fingerprint (the signals topic is internal)."""
        fingerprint = signal.fingerprint
        return Send(
            self.topics.signals,
            fingerprint.encode(),
            signal.encode(),
            key_partition(fingerprint, self.partitions),
        )

    def item_tick(self, partition: int, key: bytes, at: float) -> Send:
        """The deadline tick of the item under table key ``key``, due ``at``."""
        return Send(self.topics.item_ticks, key, encode_tick(key.decode(), at), partition)

    def alert_tick(self, partition: int, fingerprint: str, now: float) -> Send:
        """A wake-up of the alert ``fingerprint`` at ``now``."""
        return Send(self.topics.signals, fingerprint.encode(), Tick(now, fingerprint).encode(), partition)

    def alert_event(self, event: AlertEvent) -> Send:
        """An alert event for ``gov.alerts`` (keyed by fingerprint, default partitioner)."""
        return Send(self.topics.alerts, event.fingerprint.encode(), event.encode())

    def dead_letters(self, letters: Sequence[DeadLetter]) -> list[Send]:
        """:func:`dead_letter` of each letter, for the dead-letter topic."""
        return [dead_letter(self.topics.deadletter, letter) for letter in letters]
