"""What a rebalance rebuilds: owned partitions, seeded gates, gauge announcements, alerts per partition."""

from __future__ import annotations

from pathlib import Path

import pytest
from faust.types import TP

from domain.catalog import Catalog
from runtime.topics import Topics
from stream.deadlines import Gate
from stream.gauges import GaugeIndex, QueueView
from stream.outputs import key_partition
from stream.recovery import (
    Indexes,
    alerts_by_partition,
    gated_sources,
    gauge_announcements,
    owned_partitions,
    seeded_gates,
)
from stream.sources import Source
from stream.stages.items import FEEDBACK, TASKS
from stream.transitions import PartitionGauges

CATALOG = Catalog.from_file(Path(__file__).parents[1] / "domain" / "data" / "catalog_three_levels.json")
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
SOURCES = gated_sources(TOPICS)


def test_the_gated_sources_are_feedback_and_tasks_not_ticks() -> None:
    assert SOURCES == {FEEDBACK: "gov.feedback", TASKS: "gov.tasks"}


@pytest.mark.parametrize(
    ("assigned", "owned"),
    [
        pytest.param([], set(), id="nothing assigned"),
        pytest.param(
            [TP("gov.feedback", 0), TP("gov.tasks", 0), TP("gov.feedback", 2), TP("govpulse.transitions", 5)],
            {0, 2},
            id="the feedback topic's partitions",
        ),
        pytest.param([TP("gov.tasks", 1), TP("govpulse.signals", 1)], set(), id="no feedback partition"),
    ],
)
def test_the_owned_partitions_are_those_of_the_feedback_topic(assigned: list[TP], owned: set[int]) -> None:
    assert owned_partitions(assigned, "gov.feedback") == owned


@pytest.mark.parametrize(
    ("committed", "processed"),
    [
        pytest.param({}, {0: {}, 1: {}}, id="nothing committed"),
        pytest.param(
            {("gov.feedback", 0): 120, ("gov.tasks", 0): 7, ("gov.tasks", 1): 3},
            {0: {Source(FEEDBACK, 0): 120, Source(TASKS, 0): 7}, 1: {Source(TASKS, 1): 3}},
            id="each source at its committed offset",
        ),
        pytest.param(
            {("gov.feedback", 0): 0, ("gov.tasks", 1): 0},
            {0: {}, 1: {}},
            id="offset 0 is no progress",
        ),
        pytest.param(
            {("gov.feedback", 5): 9, ("govpulse.item-ticks", 0): 4},
            {0: {}, 1: {}},
            id="other partitions and the tick topic are ignored",
        ),
    ],
)
def test_gates_start_from_the_committed_offsets(
    committed: dict[tuple[str, int], int], processed: dict[int, dict[Source, int]]
) -> None:
    gates = seeded_gates([0, 1], committed, SOURCES)

    assert {p: gate.processed for p, gate in gates.items()} == processed
    assert all(gate.event_times == {} for gate in gates.values())


def test_every_node_announces_the_gauges_of_every_owned_partition() -> None:
    gauges = GaugeIndex(CATALOG)
    gauges.update(2, b"PA-1", None, QueueView("Q1-BEN-NGHE", True, False, 1.0e9))

    batches = gauge_announcements(["HCM", "Q7"], gauges, {2, 0})

    assert [(b.node, b.entries, b.gauges) for b in batches] == [
        ("HCM", (), (PartitionGauges(0, 0, 0, 0, None), PartitionGauges(2, 1, 1, 0, 1.0e9))),
        ("Q7", (), (PartitionGauges(0, 0, 0, 0, None), PartitionGauges(2, 0, 0, 0, None))),
    ]


def fingerprints_in(partition: int, partitions: int = 3) -> list[bytes]:
    """Two alert fingerprints keyed to ``partition``."""
    keys = [f"item_overdue:PA-{n}" for n in range(100)]
    return [key.encode() for key in keys if key_partition(key, partitions) == partition][:2]


def test_stored_alerts_are_grouped_by_their_fingerprints_partition() -> None:
    (a0, deleted), [a1, _], [a2, _] = fingerprints_in(0), fingerprints_in(1), fingerprints_in(2)
    stored: list[tuple[bytes, bytes | None]] = [(a0, b"0"), (a1, b"1"), (deleted, None), (a2, b"2")]

    grouped = alerts_by_partition(stored, {0, 2}, 3)

    assert grouped == {0: [(a0, b"0")], 2: [(a2, b"2")]}
    assert alerts_by_partition([], {1}, 3) == {1: []}  # an owned partition without alerts


def test_dropping_a_partition_forgets_it_in_every_index_and_keeps_the_others() -> None:
    indexes = Indexes(GaugeIndex(CATALOG))
    for partition in (0, 1):
        key = f"PA-{partition}".encode()
        indexes.item_deadlines.schedule(partition, key, 1.0e9)
        indexes.alert_wakeups.schedule(partition, f"fp-{partition}", 1.0e9)
        indexes.gauges.update(partition, key, None, QueueView("Q1", False, False, 1.0e9))
        indexes.gate(partition).observe(Source(FEEDBACK, partition), 4, 1.0e9)

    indexes.drop(1)

    assert (indexes.item_deadlines.partitions(), indexes.alert_wakeups.partitions()) == ([0], [0])
    assert (indexes.gauges.open_items(0), indexes.gauges.open_items(1)) == (1, 0)
    assert list(indexes.gates) == [0]
    assert isinstance(indexes.gate(1), Gate) and indexes.gate(1).processed == {}
