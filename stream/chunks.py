"""Chunk sequencing: which fetched records a partition's stream gets, and in what order.

No I/O and no Faust here: the ``govkafka`` transport (:mod:`stream.transport`) is the
shell that fetches records, wraps them in Faust messages and seeks; the decisions it
takes about them are these functions of offsets.

A chunked partition's records reach its stream once each, in offset order, from the
position of its last seek. Two checks keep it so, one on each side of the stream's
queue:

* the fetch loop keeps, per partition, the next offset its stream expects and
  :func:`place` s every fetched chunk against it (trim what was delivered already, seek
  back instead of skipping ahead, accept a hole only when it comes back after a seek);
* the agent keeps a :class:`Sequencer`: every seek starts an epoch at a known offset,
  and the agent takes a chunk only if it follows exactly what it took in that epoch.

The second exists because Faust can drop a chunk after the fetch loop handed it over
(see ``docs/operations.md``, "Workers: scaling, rebalances, recovery").

Acks: :func:`offsets_to_ack` says which offsets of a handled chunk count as done.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Hashable, Iterable
from dataclasses import dataclass, field

#: Inclusive ``(first, last)`` range of offsets.
Gap = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Chunking:
    """Which topics an app receives in chunks, and the most records per chunk.

    Args:
        topics: topic names delivered in chunks (empty: none, Faust's per-record delivery).
        max_records: most records in one chunk.
    """

    topics: frozenset[str] = frozenset()
    max_records: int = 1

    def __post_init__(self) -> None:
        if self.max_records < 1:
            raise ValueError(f"max_records must be at least 1, not {self.max_records}")

    @classmethod
    def of(cls, topics: Iterable[str], *, max_records: int) -> Chunking:
        """Chunking of ``topics`` in chunks of at most ``max_records``."""
        return cls(frozenset(topics), max_records)

    def spans(self, count: int) -> list[tuple[int, int]]:
        """``(start, stop)`` slices cutting ``count`` fetched records into chunks."""
        step = self.max_records
        return [(start, min(start + step, count)) for start in range(0, count, step)]


def admit(offset: int, read_offset: int | None) -> tuple[bool, Gap | None]:
    """Faust's rule for a plain (not chunked) message at ``offset``, given its partition's
    read offset (the last offset delivered, or where the last seek put it).

    Returns whether to deliver it, and the offsets missing before it as an inclusive
    ``(first, last)`` gap (none without a truthy read offset, as in Faust).
    """
    if read_offset is not None and offset < read_offset:
        return False, None
    gap = (read_offset + 1, offset - 1) if read_offset and offset - read_offset > 1 else None
    return True, gap


@dataclass(frozen=True, slots=True)
class Placement:
    """What the fetch loop does with a chunk (:func:`place`).

    Attributes:
        start: deliver the chunk's records from this offset on (trimming those below),
            or ``None``: deliver nothing.
        gap: offsets accepted as missing before it (inclusive), or ``None``.
        seek: seek the partition back to this offset and drop the rest of this fetch.
    """

    start: int | None = None
    gap: Gap | None = None
    seek: int | None = None


def place(first: int, last: int, expected: int | None, hole: Gap | None = None) -> Placement:
    """Where a fetched chunk of offsets ``first..last`` goes, given the next offset its
    partition's stream expects.

    ``expected`` is ``None`` from a revocation until the assignment's seek: the chunk is
    dropped (the seek fetches it again). Records below ``expected`` were delivered
    already. A chunk that starts past ``expected`` would skip records: the partition is
    sought back, unless ``hole`` says this very hole, ``(expected, first)``, came back
    right after such a seek; then those offsets hold no records and are a gap.
    """
    if expected is None or last < expected:
        return Placement()
    if first > expected:
        if hole == (expected, first):
            return Placement(first, gap=(expected, first - 1))
        return Placement(seek=expected)
    return Placement(expected)


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
    lost between the fetch loop and the agent around a rebalance (Faust clears the
    agents' queues when it resumes the flow, or a stream skips it). Every seek of a
    partition starts an epoch at a known offset; the agent takes a chunk only if it
    belongs to the current epoch and follows exactly what it has taken in it, so a lost
    chunk is noticed at the next one and the partition is sought back instead of being
    processed past a hole.
    """

    seeks: dict[Hashable, tuple[int, int]] = field(default_factory=dict)  # tp -> (epoch, start)
    taken: dict[Hashable, tuple[int, int]] = field(default_factory=dict)  # tp -> (epoch, next)
    last_epoch: int = 0

    def sought(self, tp: Hashable, offset: int) -> int:
        """Record a seek of ``tp`` to ``offset``; returns the epoch it starts."""
        self.last_epoch += 1
        self.seeks[tp] = (self.last_epoch, offset)
        return self.last_epoch

    def epoch(self, tp: Hashable) -> int | None:
        """The epoch of ``tp``'s last seek (``None``: never sought)."""
        seek = self.seeks.get(tp)
        return None if seek is None else seek[0]

    def check(self, tp: Hashable, *, epoch: int | None, after: int, last: int) -> tuple[Verdict, int]:
        """The verdict on a chunk of ``tp`` and the offset the agent expected next.

        Args:
            tp: the chunk's partition.
            epoch: the epoch the fetch loop stamped on it (``None``: never stamped).
            after: the offset it follows (its first, or where a gap before it starts).
            last: its last offset.
        """
        seek = self.seeks.get(tp)
        if seek is None or epoch != seek[0]:
            return Verdict.STALE, -1
        start = seek[1]
        taken_epoch, expected = self.taken.get(tp, (None, start))
        if taken_epoch != epoch:
            expected = start
        if after != expected:
            return (Verdict.STALE if last < expected else Verdict.LOST), expected
        self.taken[tp] = (epoch, last + 1)
        return Verdict.TAKE, expected


def offsets_to_ack(first: int, last: int, *, committed: int | None, acked: Collection[int]) -> list[int]:
    """The offsets of a handled chunk ``first..last`` that acking it marks done: those
    not below the committed offset and not acked already."""
    low = first if committed is None else max(first, committed)
    return [offset for offset in range(low, last + 1) if offset not in acked]
