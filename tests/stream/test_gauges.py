"""Live gauges: open, overdue, due soon and oldest open, per node and item partition, rolled up.

The catalog is the three-level test catalog: HCM → Q1 → Q1-BEN-NGHE, Q1-BEN-THANH;
HCM → Q7 → Q7-TAN-PHONG; HCM → SO-TNMT.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog
from domain.events import Event, EventType
from domain.items import Item, ItemPolicy, apply_event, apply_tick
from domain.sla import SlaPolicy
from stream.gauges import GaugeIndex, QueueView, queue_view
from stream.metrics import Gauges
from stream.transitions import PartitionGauges

ROOT = Path(__file__).parents[2]
CATALOG = Catalog.from_file(Path(__file__).parents[1] / "domain" / "data" / "catalog_three_levels.json")
POLICY = ItemPolicy(
    WorkCalendar.from_file(ROOT / "domain" / "data" / "calendar.toml"),
    SlaPolicy.from_file(ROOT / "domain" / "data" / "sla.toml"),
    CATALOG,
)
NGHE, THANH, PHONG, TNMT = "Q1-BEN-NGHE", "Q1-BEN-THANH", "Q7-TAN-PHONG", "SO-TNMT"
H = 3600.0


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).timestamp()


T0 = local("2026-03-02 09:00")
DUE = T0 + 10 * H  # explicit deadline; due soon at 75% of the period (T0 + 7.5 h)
_ids = itertools.count(1)


# -- queue_view: how an item counts -----------------------------------------------------


def event(type_: str, at: float, **fields: Any) -> Event:
    return Event(f"ev-{next(_ids)}", "PA-1", EventType(type_), at, **fields)


def item_after(*steps: tuple[str, float, dict[str, Any]] | float) -> Item | None:
    """Receive PA-1 at NGHE at T0 (due ``DUE``), then apply events (tuples) and ticks (floats)."""
    outcome = apply_event(None, event("received", T0, unit=NGHE, due_at=DUE), POLICY)
    item = outcome.item
    for step in steps:
        if isinstance(step, float):
            outcome = apply_tick(item, step, POLICY)
        else:
            type_, at, fields = step
            outcome = apply_event(item, event(type_, at, **fields), POLICY)
        item = outcome.item
    return item


@pytest.mark.parametrize(
    ("steps", "view"),
    [
        ((), QueueView(NGHE, overdue=False, due_soon=False, received_at=T0)),
        ((T0 + 8 * H,), QueueView(NGHE, overdue=False, due_soon=True, received_at=T0)),
        # Overdue items are no longer "due soon": each open item counts in at most one of the two.
        ((DUE,), QueueView(NGHE, overdue=True, due_soon=False, received_at=T0)),
        ((("paused", T0 + H, {}),), QueueView(NGHE, overdue=False, due_soon=False, received_at=T0)),
        (
            (("transferred", T0 + H, {"unit": PHONG}),),
            QueueView(PHONG, overdue=False, due_soon=False, received_at=T0),
        ),
        ((("resolved", T0 + H, {}),), None),
        ((("cancelled", T0 + H, {}),), None),
        ((DUE, ("resolved", DUE + H, {})), None),
        (
            (("resolved", T0 + H, {}), ("reopened", T0 + 2 * H, {})),
            QueueView(NGHE, overdue=False, due_soon=False, received_at=T0),
        ),
    ],
    ids=["open", "due_soon", "overdue", "paused", "transferred", "resolved", "cancelled", "late", "reopened"],
)
def test_queue_view_counts_open_and_paused_items_only(
    steps: tuple[tuple[str, float, dict[str, Any]] | float, ...], view: QueueView | None
) -> None:
    assert queue_view(item_after(*steps)) == view


def test_queue_view_of_no_item_is_none() -> None:
    assert queue_view(None) is None


# -- GaugeIndex ---------------------------------------------------------------------------


def view(unit: str, received_at: float, *, overdue: bool = False, due_soon: bool = False) -> QueueView:
    return QueueView(unit, overdue, due_soon, received_at)


def gauges(index: GaugeIndex, node: str, partition: int = 0) -> tuple[int, int, int, float | None]:
    snap = index.snapshot(partition, node)
    assert snap.partition == partition
    return snap.open, snap.overdue, snap.due_soon, snap.oldest_open_at


@pytest.mark.parametrize(
    ("unit", "touched"),
    [
        (NGHE, (NGHE, "Q1", "HCM")),
        (PHONG, (PHONG, "Q7", "HCM")),
        (TNMT, (TNMT, "HCM")),
        ("HCM", ("HCM",)),
    ],
)
def test_new_open_item_touches_its_unit_and_every_ancestor(unit: str, touched: tuple[str, ...]) -> None:
    index = GaugeIndex(CATALOG)
    assert index.update(0, "PA-1", None, view(unit, T0)) == touched
    for node in touched:
        assert gauges(index, node) == (1, 0, 0, T0)
    assert sorted(index.nodes(0)) == sorted(touched)


def test_gauges_roll_up_from_wards_to_district_and_city() -> None:
    index = GaugeIndex(CATALOG)
    index.update(0, "PA-1", None, view(NGHE, T0 + 3 * H))
    index.update(0, "PA-2", None, view(NGHE, T0 + H, overdue=True))
    index.update(0, "PA-3", None, view(THANH, T0 + 2 * H, due_soon=True))
    index.update(0, "PA-4", None, view(PHONG, T0, due_soon=True))
    index.update(0, "PA-5", None, view(TNMT, T0 - H, overdue=True))
    assert {node: gauges(index, node) for node in ("HCM", "Q1", "Q7", NGHE, THANH, PHONG, TNMT)} == {
        "HCM": (5, 2, 2, T0 - H),
        "Q1": (3, 1, 1, T0 + H),
        "Q7": (1, 0, 1, T0),
        NGHE: (2, 1, 0, T0 + H),
        THANH: (1, 0, 1, T0 + 2 * H),
        PHONG: (1, 0, 1, T0),
        TNMT: (1, 1, 0, T0 - H),
    }
    assert index.open_items(0) == 5


def test_unchanged_view_touches_nothing() -> None:
    index = GaugeIndex(CATALOG)
    index.update(0, "PA-1", None, view(NGHE, T0))
    assert index.update(0, "PA-1", view(NGHE, T0), view(NGHE, T0)) == ()
    assert index.update(0, "PA-9", None, None) == ()
    assert gauges(index, "Q1") == (1, 0, 0, T0)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({}, {"due_soon": True}, (1, 0, 1)),
        ({"due_soon": True}, {"overdue": True}, (1, 1, 0)),
        ({}, {"overdue": True}, (1, 1, 0)),
        ({"overdue": True}, {}, (1, 0, 0)),  # extension granted / reopened
    ],
)
def test_flags_change_in_place_for_the_unit_and_its_ancestors(
    old: dict[str, bool], new: dict[str, bool], expected: tuple[int, int, int]
) -> None:
    index = GaugeIndex(CATALOG)
    index.update(0, "PA-1", None, view(NGHE, T0, **old))
    assert index.update(0, "PA-1", view(NGHE, T0, **old), view(NGHE, T0, **new)) == (NGHE, "Q1", "HCM")
    for node in (NGHE, "Q1", "HCM"):
        assert gauges(index, node) == (*expected, T0)


@pytest.mark.parametrize("flags", [{}, {"overdue": True}, {"due_soon": True}])
def test_closed_item_is_removed_from_every_gauge(flags: dict[str, bool]) -> None:
    index = GaugeIndex(CATALOG)
    index.update(0, "PA-1", None, view(NGHE, T0, **flags))
    assert index.update(0, "PA-1", view(NGHE, T0, **flags), None) == (NGHE, "Q1", "HCM")
    for node in (NGHE, "Q1", "HCM"):
        assert gauges(index, node) == (0, 0, 0, None)
    assert index.open_items(0) == 0


def test_item_moving_units_leaves_the_old_lineage_and_joins_the_new() -> None:
    index = GaugeIndex(CATALOG)
    index.update(0, "PA-1", None, view(NGHE, T0, overdue=True))
    touched = index.update(0, "PA-1", view(NGHE, T0, overdue=True), view(PHONG, T0, overdue=True))
    assert touched == (NGHE, "Q1", "HCM", PHONG, "Q7")
    assert {node: gauges(index, node) for node in (NGHE, "Q1", PHONG, "Q7", "HCM")} == {
        NGHE: (0, 0, 0, None),
        "Q1": (0, 0, 0, None),
        PHONG: (1, 1, 0, T0),
        "Q7": (1, 1, 0, T0),
        "HCM": (1, 1, 0, T0),
    }
    assert index.open_items(0) == 1


def test_item_moving_within_a_district_keeps_the_district_total() -> None:
    index = GaugeIndex(CATALOG)
    index.update(0, "PA-1", None, view(NGHE, T0))
    assert index.update(0, "PA-1", view(NGHE, T0), view(THANH, T0)) == (NGHE, "Q1", "HCM", THANH)
    assert [gauges(index, node) for node in (NGHE, THANH, "Q1", "HCM")] == [
        (0, 0, 0, None),
        (1, 0, 0, T0),
        (1, 0, 0, T0),
        (1, 0, 0, T0),
    ]


def test_oldest_open_follows_closes_and_moves() -> None:
    index = GaugeIndex(CATALOG)
    index.update(0, "PA-1", None, view(NGHE, T0))
    index.update(0, "PA-2", None, view(NGHE, T0 + H))
    index.update(0, "PA-3", None, view(THANH, T0 + 2 * H))
    assert [gauges(index, node)[3] for node in (NGHE, THANH, "Q1")] == [T0, T0 + 2 * H, T0]
    index.update(0, "PA-1", view(NGHE, T0), None)  # the oldest closes
    assert [gauges(index, node)[3] for node in (NGHE, "Q1", "HCM")] == [T0 + H, T0 + H, T0 + H]
    index.update(0, "PA-2", view(NGHE, T0 + H), view(PHONG, T0 + H))  # the next moves to Q7
    assert [gauges(index, node)[3] for node in (NGHE, "Q1", PHONG, "Q7", "HCM")] == [
        None,
        T0 + 2 * H,
        T0 + H,
        T0 + H,
        T0 + H,
    ]


def test_item_moving_away_and_back_is_counted_once_with_its_age() -> None:
    index = GaugeIndex(CATALOG)
    index.update(0, "PA-1", None, view(NGHE, T0))
    index.update(0, "PA-1", view(NGHE, T0), view(PHONG, T0))
    index.update(0, "PA-1", view(PHONG, T0), view(NGHE, T0))
    index.update(0, "PA-2", None, view(NGHE, T0 + H))
    assert gauges(index, NGHE) == (2, 0, 0, T0)
    index.update(0, "PA-1", view(NGHE, T0), None)
    assert gauges(index, NGHE) == (1, 0, 0, T0 + H)
    assert gauges(index, PHONG) == (0, 0, 0, None)


# -- partitions ----------------------------------------------------------------------------


def two_partitions() -> GaugeIndex:
    index = GaugeIndex(CATALOG)
    index.update(0, "PA-1", None, view(NGHE, T0 + H, overdue=True))
    index.update(0, "PA-2", None, view(THANH, T0 + 2 * H))
    index.update(1, "PA-3", None, view(NGHE, T0, due_soon=True))
    return index


def test_each_partition_counts_only_its_own_items() -> None:
    index = two_partitions()
    assert gauges(index, NGHE, 0) == (1, 1, 0, T0 + H)
    assert gauges(index, NGHE, 1) == (1, 0, 1, T0)
    assert gauges(index, "Q1", 0) == (2, 1, 0, T0 + H)
    assert gauges(index, "Q1", 1) == (1, 0, 1, T0)
    assert gauges(index, THANH, 1) == (0, 0, 0, None)
    assert (index.open_items(0), index.open_items(1), index.open_items(7)) == (2, 1, 0)
    assert gauges(index, NGHE, 7) == (0, 0, 0, None)  # a partition this worker never saw


@pytest.mark.parametrize(
    ("node", "merged"),
    [
        (NGHE, Gauges(2, 1, 1, T0)),
        (THANH, Gauges(1, 0, 0, T0 + 2 * H)),
        ("Q1", Gauges(3, 1, 1, T0)),
        ("HCM", Gauges(3, 1, 1, T0)),
        ("Q7", Gauges(0, 0, 0, None)),
    ],
)
def test_partition_snapshots_merge_into_the_node_gauges(node: str, merged: Gauges) -> None:
    index = two_partitions()
    assert Gauges.merge(index.snapshot(p, node) for p in (0, 1)) == merged


def test_snapshot_is_absolute_so_a_newer_one_replaces_the_older() -> None:
    index = two_partitions()
    latest: dict[int, PartitionGauges] = {p: index.snapshot(p, "Q1") for p in (0, 1)}
    index.update(0, "PA-1", view(NGHE, T0 + H, overdue=True), None)
    latest[0] = index.snapshot(0, "Q1")  # re-announced: replaces partition 0's value, not added
    assert latest[0] == PartitionGauges(0, 1, 0, 0, T0 + 2 * H)
    assert Gauges.merge(latest.values()) == Gauges(2, 0, 1, T0)


def test_dropping_a_partition_forgets_only_its_items() -> None:
    index = two_partitions()
    index.drop_partition(0)
    assert (index.nodes(0), index.open_items(0), gauges(index, "Q1", 0)) == ([], 0, (0, 0, 0, None))
    assert gauges(index, "Q1", 1) == (1, 0, 1, T0)
    index.drop_partition(5)  # unknown: nothing happens
    assert index.open_items(1) == 1
