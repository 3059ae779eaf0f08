"""Wire format of the transitions topic: node batches grouped per partition, size-capped."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import pytest

from stream.transitions import (
    Entry,
    NodeBatch,
    NodeGroup,
    PartitionGauges,
    Progress,
    Tick,
    decode,
    encode_group,
)


def batch(node: str, entries: int = 1) -> NodeBatch:
    return NodeBatch(
        node,
        tuple(
            Entry(
                "f0",
                offset,
                f"PA-{offset}",
                1,
                ("received",),
                ((1.0e9 + offset, "received"),),
                event_at=1.0e9,
            )
            for offset in range(entries)
        ),
        (PartitionGauges(0, 3, 1, 0, 1.0e9),),
    )


def same(decoded: Sequence[NodeBatch], batches: Sequence[NodeBatch]) -> bool:
    # Decoded entries hold lists where the originals hold tuples; compare the wire form.
    return [b.encode() for b in decoded] == [b.encode() for b in batches]


def test_a_group_round_trips_in_order() -> None:
    batches = [batch("HCM", 2), batch("Q-1"), batch("Q1-P-BEN-NGHE", 3)]
    [raw] = encode_group(batches)
    decoded = decode(raw)
    assert isinstance(decoded, NodeGroup)
    assert same(decoded.batches, batches)


def test_groups_are_split_under_the_size_limit_and_keep_order() -> None:
    batches = [batch(f"N{i}", 5) for i in range(40)]
    one = len(batches[0].encode())
    messages = encode_group(batches, limit=one * 6)
    assert len(messages) > 1
    assert all(len(m) <= one * 6 + 20 for m in messages)
    decoded = [b for m in messages for b in decode(m).batches]  # type: ignore[union-attr]
    assert same(decoded, batches)


def test_a_node_batch_larger_than_the_limit_goes_alone() -> None:
    big, small = batch("BIG", 50), batch("SMALL")
    messages = encode_group([small, big, small], limit=len(small.encode()) * 2)
    assert [[b.node for b in decode(m).batches] for m in messages] == [  # type: ignore[union-attr]
        ["SMALL"],
        ["BIG"],
        ["SMALL"],
    ]


def test_nothing_to_send_is_no_message() -> None:
    assert encode_group([]) == []


def test_older_single_node_messages_and_timer_messages_still_decode() -> None:
    single = batch("HCM", 2)
    assert same([decode(single.encode())], [single])  # type: ignore[list-item]
    assert decode(Tick(5.0).encode()) == Tick(5.0)
    assert decode(Progress({0: 1.0, 3: 2.0}).encode()) == Progress({0: 1.0, 3: 2.0})


@pytest.mark.parametrize("raw", [b"[]", b'{"b": [1]}', b'{"b": [{"e": []}]}', b"{}"])
def test_malformed_messages_raise(raw: bytes) -> None:
    with pytest.raises((ValueError, KeyError, TypeError, orjson.JSONDecodeError)):
        decode(raw)


def test_an_entry_keeps_its_working_days_and_one_written_without_them_decodes() -> None:
    resolved = Entry("f0", 7, "PA-7", 3, ("resolved",), ((1.0e9, "resolved"),), 600.0, working_days=0.4)
    assert Entry.from_json(list(resolved.to_json())).working_days == 0.4
    older = list(resolved.to_json())[:-1]  # written before the field existed
    assert Entry.from_json(older).working_days is None
