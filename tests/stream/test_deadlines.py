"""The deadline index: one pending instant per key, popped in time order, retried while in flight."""

from __future__ import annotations

import pytest

from stream.deadlines import DeadlineIndex, Gate
from stream.sources import Source
from stream.stages.items import FEEDBACK, TASKS

T = 1_800_000_000.0  # an instant of the clock the deadlines are on
REAL = 5_000.0  # the real clock pop_due / retry are stamped with


def index_with(entries: list[tuple[int, str, float | None]], *, retry_after: float = 5.0) -> DeadlineIndex:
    index = DeadlineIndex(retry_after=retry_after)
    for partition, key, at in entries:
        index.schedule(partition, key, at)
    return index


# -- schedule / reschedule / cancel ------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "pending"),
    [
        pytest.param([(0, "PA-1", T)], {"PA-1": T}, id="one key"),
        pytest.param([(0, "PA-1", T), (0, "PA-1", T + 60)], {"PA-1": T + 60}, id="later replaces"),
        pytest.param([(0, "PA-1", T), (0, "PA-1", T - 60)], {"PA-1": T - 60}, id="earlier replaces"),
        pytest.param([(0, "PA-1", T), (0, "PA-1", T)], {"PA-1": T}, id="same instant twice"),
        pytest.param([(0, "PA-1", T), (0, "PA-1", None)], {"PA-1": None}, id="None cancels"),
        pytest.param([(0, "PA-1", None)], {"PA-1": None}, id="cancel of an unknown key"),
        pytest.param([(0, "PA-1", T), (0, "PA-1", None), (0, "PA-1", T + 5)], {"PA-1": T + 5}, id="again"),
        pytest.param([(0, "PA-1", T), (1, "PA-2", T + 1)], {"PA-1": T, "PA-2": T + 1}, id="two partitions"),
    ],
)
def test_schedule_keeps_only_the_last_instant_of_each_key(
    entries: list[tuple[int, str, float | None]], pending: dict[str, float | None]
) -> None:
    index = index_with(entries)

    assert {key: index.pending(key) for key in pending} == pending
    assert len(index) == sum(at is not None for at in pending.values())
    assert {key for key in pending if key in index} == {k for k, at in pending.items() if at is not None}


@pytest.mark.parametrize(
    ("entries", "popped"),
    [
        pytest.param([(0, "PA-1", T), (0, "PA-1", T + 60)], [("PA-1", T + 60)], id="later replaces"),
        pytest.param([(0, "PA-1", T + 60), (0, "PA-1", T)], [("PA-1", T)], id="earlier replaces"),
        pytest.param([(0, "PA-1", T), (0, "PA-1", T)], [("PA-1", T)], id="same instant once"),
        pytest.param([(0, "PA-1", T), (0, "PA-1", None)], [], id="cancelled"),
        pytest.param([(0, "PA-1", T), (0, "PA-1", T + 9), (0, "PA-1", T)], [("PA-1", T)], id="back to first"),
        pytest.param([(0, "PA-1", T), (1, "PA-1", T + 1)], [], id="moved to another partition"),
    ],
)
def test_pop_due_hands_out_a_rescheduled_key_once_at_its_last_instant(
    entries: list[tuple[int, str, float | None]], popped: list[tuple[str, float]]
) -> None:
    index = index_with(entries)

    assert index.pop_due(0, T + 3600, real_now=REAL) == popped
    assert index.pop_due(0, T + 3600, real_now=REAL) == []


def test_a_key_moved_to_another_partition_is_due_there_only() -> None:
    index = index_with([(0, "PA-1", T), (1, "PA-1", T + 1)])

    assert index.next_at(0) is None
    assert index.next_at(1) == T + 1
    assert index.pop_due(1, T + 1, real_now=REAL) == [("PA-1", T + 1)]


# -- next_at / earliest --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "partition", "expected"),
    [
        pytest.param([], 0, None, id="empty"),
        pytest.param([(0, "PA-1", T + 30), (0, "PA-2", T + 10), (0, "PA-3", T + 20)], 0, T + 10, id="min"),
        pytest.param([(0, "PA-1", T + 10), (1, "PA-2", T)], 0, T + 10, id="own partition only"),
        pytest.param([(0, "PA-1", T), (0, "PA-1", T + 50)], 0, T + 50, id="stale entry skipped"),
        pytest.param([(0, "PA-1", T), (0, "PA-1", None)], 0, None, id="cancelled"),
        pytest.param([(0, "PA-1", T)], 3, None, id="unknown partition"),
    ],
)
def test_next_at_is_the_earliest_valid_pending_instant_of_the_partition(
    entries: list[tuple[int, str, float | None]], partition: int, expected: float | None
) -> None:
    index = index_with(entries)

    assert index.next_at(partition) == expected
    assert index.earliest(partition) == expected  # nothing in flight: the same


@pytest.mark.parametrize(
    ("popped_until", "expected"),
    [
        pytest.param(T - 1, T + 10, id="nothing in flight: earliest pending"),
        pytest.param(T + 10, T + 10, id="in flight at T+10, pending T+20: the in-flight one"),
        pytest.param(T + 20, T + 10, id="both in flight: the earliest in-flight"),
    ],
)
def test_earliest_counts_keys_in_flight_until_they_are_rescheduled(
    popped_until: float, expected: float
) -> None:
    index = index_with([(0, "PA-1", T + 10), (0, "PA-2", T + 20), (1, "PA-3", T)])
    index.pop_due(0, popped_until, real_now=REAL)

    assert index.earliest(0) == expected


def test_earliest_moves_on_once_the_in_flight_key_is_rescheduled() -> None:
    index = index_with([(0, "PA-1", T + 10), (0, "PA-2", T + 20)])
    index.pop_due(0, T + 10, real_now=REAL)

    index.schedule(0, "PA-1", T + 3600)  # the stage applied the tick: next instant

    assert index.earliest(0) == T + 20
    index.schedule(0, "PA-2", None)
    assert index.earliest(0) == T + 3600


# -- pop_due -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "popped", "left"),
    [
        pytest.param(T - 0.001, [], ["PA-4", "PA-2", "PA-1", "PA-3"], id="before the first"),
        pytest.param(T, [("PA-4", T)], ["PA-2", "PA-1", "PA-3"], id="inclusive at the limit"),
        pytest.param(
            T + 20,
            [("PA-4", T), ("PA-1", T + 20), ("PA-2", T + 20)],
            ["PA-3"],
            id="time order, ties by key",
        ),
        pytest.param(
            T + 100,
            [("PA-4", T), ("PA-1", T + 20), ("PA-2", T + 20), ("PA-3", T + 30)],
            [],
            id="everything",
        ),
    ],
)
def test_pop_due_returns_the_due_keys_of_the_partition_in_time_order_up_to_the_limit(
    until: float, popped: list[tuple[str, float]], left: list[str]
) -> None:
    index = index_with(
        [(0, "PA-3", T + 30), (0, "PA-2", T + 20), (0, "PA-1", T + 20), (0, "PA-4", T), (1, "PA-9", T - 50)]
    )

    assert index.pop_due(0, until, real_now=REAL) == popped
    assert sorted(key for key in ("PA-1", "PA-2", "PA-3", "PA-4") if key in index) == sorted(left)
    assert index.pending("PA-9") == T - 50  # another partition is untouched
    assert len(index) == len(left) + 1


@pytest.mark.parametrize(
    ("entries", "until", "popped", "next_at"),
    [
        pytest.param(
            [(0, "PA-1", T + 25), (0, "PA-2", T + 5), (0, "PA-3", T + 15)],
            T + 20,
            [("PA-2", T + 5), ("PA-3", T + 15)],
            T + 25,
            id="across buckets in time order",
        ),
        pytest.param(
            [(0, "PA-1", T + 5), (0, "PA-1", T + 35), (0, "PA-1", T + 6)],
            T + 40,
            [("PA-1", T + 6)],
            None,
            id="moved to a later bucket and back",
        ),
        pytest.param(
            [(0, "PA-1", T + 5), (0, "PA-2", T + 8), (0, "PA-1", T + 35)],
            T + 6,
            [],
            T + 8,
            id="a bucket left with a stale reference",
        ),
        pytest.param(
            [(0, "PA-1", T + 35), (0, "PA-2", T - 5)],
            T + 40,
            [("PA-2", T - 5), ("PA-1", T + 35)],
            None,
            id="an earlier bucket added later",
        ),
    ],
)
def test_keys_in_several_buckets_are_popped_in_time_order(
    entries: list[tuple[int, str, float | None]],
    until: float,
    popped: list[tuple[str, float]],
    next_at: float | None,
) -> None:
    index = DeadlineIndex(bucket=10.0)
    for partition, key, at in entries:
        index.schedule(partition, key, at)

    assert index.pop_due(0, until, real_now=REAL) == popped
    assert index.next_at(0) == next_at


def test_pop_due_of_an_unknown_partition_is_empty() -> None:
    assert index_with([(0, "PA-1", T)]).pop_due(7, T + 1, real_now=REAL) == []


# -- in flight and retry -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "waited", "retried"),
    [
        pytest.param(5.0, 0.0, [], id="at once"),
        pytest.param(5.0, 4.999, [], id="just before retry_after"),
        pytest.param(5.0, 5.0, [(0, "PA-1", T)], id="at retry_after"),
        pytest.param(5.0, 60.0, [(0, "PA-1", T)], id="long after"),
        pytest.param(0.5, 0.5, [(0, "PA-1", T)], id="custom retry_after"),
    ],
)
def test_retry_hands_out_again_a_popped_key_not_rescheduled_within_retry_after(
    retry_after: float, waited: float, retried: list[tuple[int, str, float]]
) -> None:
    index = index_with([(0, "PA-1", T)], retry_after=retry_after)
    assert index.pop_due(0, T, real_now=REAL) == [("PA-1", T)]

    assert index.retry(real_now=REAL + waited) == retried


def test_a_retried_key_waits_retry_after_again_before_its_next_retry() -> None:
    index = index_with([(0, "PA-1", T), (2, "PA-2", T + 1)])
    index.pop_due(0, T, real_now=REAL)
    index.pop_due(2, T + 1, real_now=REAL + 1)

    assert index.retry(real_now=REAL + 5) == [(0, "PA-1", T)]
    assert index.retry(real_now=REAL + 6) == [(2, "PA-2", T + 1)]
    assert index.retry(real_now=REAL + 9.9) == []
    assert index.retry(real_now=REAL + 10) == [(0, "PA-1", T)]


@pytest.mark.parametrize("next_at", [T + 3600, None], ids=["rescheduled", "cancelled"])
def test_scheduling_a_key_in_flight_ends_its_retries(next_at: float | None) -> None:
    index = index_with([(0, "PA-1", T)])
    index.pop_due(0, T, real_now=REAL)

    index.schedule(0, "PA-1", next_at)

    assert index.retry(real_now=REAL + 60) == []
    assert index.pending("PA-1") == next_at
    assert index.earliest(0) == next_at


def test_a_popped_key_is_no_longer_pending_and_is_not_popped_twice() -> None:
    index = index_with([(0, "PA-1", T)])
    index.pop_due(0, T, real_now=REAL)

    assert "PA-1" not in index
    assert index.pending("PA-1") is None
    assert len(index) == 0
    assert index.pop_due(0, T + 3600, real_now=REAL) == []


def test_rescheduling_an_in_flight_key_to_the_popped_instant_makes_it_due_again() -> None:
    # The stage applied the tick but the item's next instant is the same one (a no-op tick
    # under the gate); the key must come back, not be lost.
    index = index_with([(0, "PA-1", T)])
    index.pop_due(0, T, real_now=REAL)

    index.schedule(0, "PA-1", T)

    assert index.pop_due(0, T, real_now=REAL) == [("PA-1", T)]


# -- partitions ----------------------------------------------------------------------------------


def test_drop_partition_forgets_its_pending_and_in_flight_keys_and_keeps_the_others() -> None:
    index = index_with([(0, "PA-1", T), (0, "PA-2", T + 50), (1, "PA-3", T), (1, "PA-4", T + 50)])
    index.pop_due(0, T, real_now=REAL)
    index.pop_due(1, T, real_now=REAL)

    index.drop_partition(0)

    assert index.partitions() == [1]
    assert ("PA-1" in index, "PA-2" in index, "PA-3" in index, "PA-4" in index) == (False, False, False, True)
    assert index.earliest(0) is None
    assert index.earliest(1) == T  # PA-3 still in flight
    assert index.retry(real_now=REAL + 60) == [(1, "PA-3", T)]
    assert len(index) == 1


def test_a_dropped_partition_can_be_rebuilt() -> None:
    index = index_with([(0, "PA-1", T)])
    index.drop_partition(0)
    index.drop_partition(0)  # twice (and unknown) is harmless

    index.schedule(0, "PA-1", T + 5)

    assert index.pop_due(0, T + 5, real_now=REAL) == [("PA-1", T + 5)]


def test_partitions_lists_every_partition_ever_scheduled_until_dropped() -> None:
    index = index_with([(2, "PA-1", T), (0, "PA-2", T), (2, "PA-1", None)])

    assert sorted(index.partitions()) == [0, 2]


# -- gate ----------------------------------------------------------------------------------------

F0, T0 = Source(FEEDBACK, 0), Source(TASKS, 0)


@pytest.mark.parametrize(
    ("observed", "highwaters", "caught_up", "limit"),
    [
        pytest.param([], {F0: None, T0: None}, False, 0.0 - 1e-6, id="nothing known after a start"),
        pytest.param([(F0, 9, T), (T0, 4, T - 60)], {F0: 10, T0: 5}, True, T + 100, id="caught up"),
        pytest.param([(F0, 9, T), (T0, 3, T - 60)], {F0: 10, T0: 5}, False, T - 60 - 1e-6, id="lag"),
        pytest.param([(F0, 9, T + 500)], {F0: 10, T0: 0}, True, T + 500 - 1e-6, id="producers ahead"),
    ],
)
def test_gate_limits_ticks_to_the_clock_when_caught_up_else_to_the_lagging_event_time(
    observed: list[tuple[Source, int, float]],
    highwaters: dict[Source, int | None],
    caught_up: bool,
    limit: float,
) -> None:
    gate = Gate()
    for source, offset, at in observed:
        gate.observe(source, offset, at)

    assert gate.caught_up(highwaters) is caught_up
    assert gate.limit(T + 100, highwaters) == limit
