"""Source tags: a (kind, partition) in memory, ``kind + partition`` on the wire, both ways."""

from __future__ import annotations

import pytest

from stream.sources import Source
from stream.stages.items import FEEDBACK, TASKS, TICKS


@pytest.mark.parametrize(
    ("source", "tag"),
    [
        pytest.param(Source(FEEDBACK, 3), "f3", id="feedback"),
        pytest.param(Source(TASKS, 0), "t0", id="tasks, partition 0"),
        pytest.param(Source(TICKS, 11), "k11", id="ticks, two digits"),
        pytest.param(Source(FEEDBACK, 127), "f127", id="three digits"),
    ],
)
def test_a_source_encodes_to_its_wire_tag_and_decodes_back(source: Source, tag: str) -> None:
    assert source.encode() == tag
    assert Source.decode(tag) == source
    assert Source.decode(source.encode()) == source


@pytest.mark.parametrize("tag", ["", "f", "3", "3f", "ff3", "f-1", "f3x", "f 3", "f³"])
def test_a_tag_that_is_not_a_kind_letter_and_a_partition_is_refused(tag: str) -> None:
    with pytest.raises(ValueError, match="is not a kind letter followed by a partition number"):
        Source.decode(tag)
