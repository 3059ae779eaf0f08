"""Chunk sequencing (stream.chunks): what the fetch loop delivers and what the agent takes."""

from __future__ import annotations

import pytest

from stream.chunks import Chunking, Gap, Placement, Sequencer, Verdict, admit, offsets_to_ack, place

TP0 = ("gov.feedback", 0)
TP1 = ("gov.feedback", 1)


# -- placing chunks in the fetch loop -------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "expected", "hole", "placement"),
    [
        pytest.param(100, 199, 100, None, Placement(100), id="at-the-expected-offset-delivered-whole"),
        pytest.param(100, 199, 150, None, Placement(150), id="records-already-delivered-are-trimmed"),
        pytest.param(100, 199, 199, None, Placement(199), id="only-the-last-record-is-new"),
        pytest.param(100, 199, 200, None, Placement(), id="delivered-entirely-before-is-dropped"),
        pytest.param(0, 99, None, None, Placement(), id="nothing-before-the-assignment-says-where-to-start"),
        # The takeover that failed: records 0..1949 were fetched before the assignment's
        # seek and lost, and the stream was then handed 1950.. of a partition never committed.
        pytest.param(1950, 2199, 0, None, Placement(seek=0), id="past-the-expected-offset-seeks-back"),
        pytest.param(
            120, 199, 100, (100, 120), Placement(120, gap=(100, 119)), id="hole-back-after-seek-is-a-gap"
        ),
        pytest.param(120, 199, 100, (100, 110), Placement(seek=100), id="another-hole-seeks-again"),
        pytest.param(120, 199, 101, (100, 120), Placement(seek=101), id="hole-from-another-offset-seeks"),
    ],
)
def test_place(first: int, last: int, expected: int | None, hole: Gap | None, placement: Placement) -> None:
    assert place(first, last, expected, hole) == placement


@pytest.mark.parametrize(
    ("offset", "read_offset", "admitted"),
    [
        pytest.param(5, 4, (True, None), id="next-offset"),
        pytest.param(4, 4, (True, None), id="at-the-read-offset-after-a-seek"),
        pytest.param(3, 4, (False, None), id="below-the-read-offset-is-dropped"),
        pytest.param(9, 4, (True, (5, 8)), id="past-the-read-offset-leaves-a-gap"),
        pytest.param(9, None, (True, None), id="no-read-offset-no-gap"),
        pytest.param(9, 0, (True, None), id="read-offset-zero-no-gap-as-in-faust"),
    ],
)
def test_plain_messages_keep_fausts_rules(
    offset: int, read_offset: int | None, admitted: tuple[bool, Gap | None]
) -> None:
    assert admit(offset, read_offset) == admitted


# -- the agent's check that nothing went missing on the way ---------------------------------


#: Rows: (chunk (first, last, after or None: its first), epoch it was stamped with:
#: "current", "old" or None, verdict expected, offset the agent expected).
Step = tuple[tuple[int, int, int | None], str | None, Verdict, int]


@pytest.mark.parametrize(
    ("start", "steps"),
    [
        pytest.param(
            100,
            [
                ((100, 149, None), "current", Verdict.TAKE, 100),
                ((150, 199, None), "current", Verdict.TAKE, 150),
            ],
            id="in-order-from-the-seek",
        ),
        pytest.param(
            100,
            [
                ((100, 199, None), "current", Verdict.TAKE, 100),
                ((210, 219, 200), "current", Verdict.TAKE, 200),
            ],
            id="after-an-accepted-gap",
        ),
        # The failure this guards against: the first chunk of a partition taken over from a
        # dead worker was lost around the rebalance and the next one was processed first.
        pytest.param(
            0,
            [
                ((250, 499, None), "current", Verdict.LOST, 0),
                ((0, 249, None), "current", Verdict.TAKE, 0),
                ((250, 499, None), "current", Verdict.TAKE, 250),
            ],
            id="after-a-chunk-that-never-arrived",
        ),
        pytest.param(
            0,
            [((0, 99, None), "current", Verdict.TAKE, 0), ((0, 99, None), "current", Verdict.STALE, 100)],
            id="taken-twice-is-stale",
        ),
        pytest.param(0, [((0, 99, None), "old", Verdict.STALE, -1)], id="fetched-before-the-last-seek"),
        pytest.param(0, [((0, 9, None), None, Verdict.STALE, -1)], id="never-stamped"),
    ],
)
def test_sequencer_check(start: int, steps: list[Step]) -> None:
    order = Sequencer()
    old = order.sought(TP0, 0)
    current = order.sought(TP0, start)
    epochs = {"current": current, "old": old, None: None}
    for (first, last, after), stamp, verdict, expected in steps:
        got = order.check(TP0, epoch=epochs[stamp], after=first if after is None else after, last=last)
        assert got == (verdict, expected), (first, last)


def test_a_seek_starts_a_new_epoch_taken_again_from_its_offset() -> None:
    order = Sequencer()
    old = order.sought(TP0, 0)
    assert order.check(TP0, epoch=old, after=0, last=99)[0] is Verdict.TAKE
    new = order.sought(TP0, 50)  # e.g. the assignment's seek to the committed offset
    assert order.check(TP0, epoch=old, after=100, last=149)[0] is Verdict.STALE
    assert order.check(TP0, epoch=new, after=50, last=99) == (Verdict.TAKE, 50)
    assert order.epoch(TP0) == new and order.epoch(TP1) is None


def test_partitions_are_sequenced_apart() -> None:
    order = Sequencer()
    a, b = order.sought(TP0, 0), order.sought(TP1, 500)
    assert order.check(TP1, epoch=b, after=500, last=509) == (Verdict.TAKE, 500)
    assert order.check(TP0, epoch=a, after=0, last=9) == (Verdict.TAKE, 0)


# -- acks and chunk sizes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "committed", "acked", "fresh"),
    [
        pytest.param(100, 104, None, set(), [100, 101, 102, 103, 104], id="every-offset"),
        pytest.param(100, 104, 102, set(), [102, 103, 104], id="none-below-the-committed-offset"),
        pytest.param(100, 104, None, {101, 103}, [100, 102, 104], id="none-acked-already"),
        pytest.param(100, 104, 105, set(), [], id="all-committed"),
    ],
)
def test_offsets_to_ack(
    first: int, last: int, committed: int | None, acked: set[int], fresh: list[int]
) -> None:
    assert offsets_to_ack(first, last, committed=committed, acked=acked) == fresh


@pytest.mark.parametrize(
    ("count", "max_records", "spans"),
    [
        pytest.param(15, 4, [(0, 4), (4, 8), (8, 12), (12, 15)], id="last-one-short"),
        pytest.param(8, 4, [(0, 4), (4, 8)], id="exact"),
        pytest.param(3, 100, [(0, 3)], id="one"),
        pytest.param(0, 4, [], id="none"),
    ],
)
def test_chunking_spans(count: int, max_records: int, spans: list[tuple[int, int]]) -> None:
    assert Chunking.of(["t"], max_records=max_records).spans(count) == spans


def test_chunking_refuses_an_empty_chunk_size() -> None:
    with pytest.raises(ValueError, match=r"^max_records must be at least 1, not 0$"):
        Chunking.of(["gov.feedback"], max_records=0)
