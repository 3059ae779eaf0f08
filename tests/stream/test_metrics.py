"""Window records: counts land in local-time windows once, whatever is redelivered, late or expired.

Windows are those of the default settings (``5m``, ``1h``, local day; retention 6 h, 3 days,
62 days) with the default 10-minute grace. Times are local (Asia/Ho_Chi_Minh, UTC+7).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest
from ddsketch import DDSketch

from domain.calendar import LOCAL_TZ
from domain.items import COUNTERS
from domain.sketch import RELATIVE_ACCURACY, Sketch
from domain.windows import DAY, window_specs
from stream.metrics import (
    Gauges,
    MetricsStore,
    WindowRecord,
    baseline,
    current_windows,
    decode_gauges,
    encode_gauges,
    on_time_rate,
    parse_record_key,
    record_key,
    sparkline,
    window_summary,
)
from stream.transitions import Entry, PartitionGauges

H = 3600.0
GRACE = 600.0
RETENTION = {"5m": 6 * H, "1h": 3 * DAY, "1d": 62 * DAY}
SPECS = window_specs(["5m", "1h", "1d"], RETENTION)
SPEC = {spec.name: spec for spec in SPECS}
NODE = "P-BEN-THANH"


def local(text: str) -> float:
    """Epoch seconds of a local (Asia/Ho_Chi_Minh) ``YYYY-MM-DD HH:MM[:SS]``."""
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).timestamp()


E = local("2026-03-02 10:12")  # the event under test: 5m [10:10, 10:15), 1h [10:00, 11:00)


def new_store(table: dict[str, bytes] | None = None) -> MetricsStore:
    return MetricsStore(SPECS, grace=GRACE, load=(table if table is not None else {}).get)


def entry(
    offset: int,
    at: float,
    *counters: str,
    source: str = "f0",
    item: str = "PA-1",
    seq: int = 1,
    latency: float | None = None,
    sla_used: float | None = None,
    derived: tuple[tuple[float, str, str], ...] = (),
    working_days: float | None = None,
) -> Entry:
    """An event's entry: every counter +1 at ``at``, which is also its event time."""
    return Entry(
        source=source,
        offset=offset,
        item_id=item,
        seq=seq,
        kinds=("test",),
        counts=tuple((at, counter) for counter in counters),
        latency=latency,
        sla_used=sla_used,
        sample_at=at if latency is not None or sla_used is not None else 0.0,
        event_at=at,
        derived=derived,
        working_days=working_days,
    )


def tick(offset: int, at: float, once: str, *, source: str = "k0") -> Entry:
    """A deadline tick's entry: the item became overdue at ``at`` (no event time)."""
    item_id, seq = once.split("#")
    return Entry(source, offset, item_id, int(seq), ("overdue",), (), derived=((at, "became_overdue", once),))


def record(store: MetricsStore, window: str, at: float, node: str = NODE) -> WindowRecord | None:
    return store.record(node, window, SPEC[window].start(at))


def keys_at(at: float, windows: tuple[str, ...] = ("5m", "1h", "1d"), node: str = NODE) -> set[str]:
    return {record_key(node, window, SPEC[window].start(at)) for window in windows}


def library_quantile(values: list[float], q: float) -> float:
    sketch = DDSketch(RELATIVE_ACCURACY)
    for value in values:
        sketch.add(value)
    found = sketch.get_quantile_value(q)
    assert found is not None
    return float(found)


def sketch_of(values: list[float]) -> Sketch:
    sketch = Sketch()
    for value in values:
        sketch.add(value)
    return sketch


# -- keys and encoding ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "window", "start", "key"),
    [
        ("HCM", "5m", 1780000200.0, "HCM|5m|1780000200"),
        ("Q1-P-BEN-NGHE", "1d", 1779987600.75, "Q1-P-BEN-NGHE|1d|1779987600"),
        ("SO-TNMT", "period", 1771995600.0, "SO-TNMT|period|1771995600"),
    ],
)
def test_record_key_is_node_window_and_whole_second_start(
    node: str, window: str, start: float, key: str
) -> None:
    assert record_key(node, window, start) == key
    assert parse_record_key(key) == (node, window, float(int(start)))


def test_window_record_roundtrips_every_field() -> None:
    original = WindowRecord(
        counts={"received": 3, "resolved": 1, "resolved_late": 1},
        latency=sketch_of([600.0, 7200.0, 0.0]),
        sla_used=sketch_of([0.5, 1.25]),
        late_events=2,
        marks={"f0": 41, "t3": 7, "k0": 0},
        once={"PA-1#4", "NV-2#5"},
        working_days=3.75,
        working_samples=2,
    )
    decoded = WindowRecord.decode(original.encode())
    assert decoded == original
    assert decoded.latency.count == 3 and decoded.sla_used.count == 2


def test_window_record_encoding_does_not_depend_on_the_order_of_once_ids() -> None:
    first = WindowRecord(once={"PA-1#4", "NV-2#5", "PA-9#2"})
    second = WindowRecord(once={"PA-9#2", "PA-1#4", "NV-2#5"})
    assert first.encode() == second.encode()


def test_empty_object_decodes_to_an_empty_record_whose_counts_are_zero() -> None:
    empty = WindowRecord.decode(b"{}")
    assert empty == WindowRecord()
    assert [empty.count(name) for name in COUNTERS] == [0] * len(COUNTERS)


# -- window assignment by event time, aligned to local midnight ------------------------


@pytest.mark.parametrize(
    ("counter", "at", "starts"),
    [
        # 06:59:59 local is 23:59:59 UTC of the day before: still the local day of 2 March.
        ("received", "2026-03-02 06:59:59", ("2026-03-02 06:55", "2026-03-02 06:00", "2026-03-02 00:00")),
        ("resolved", "2026-03-02 07:00", ("2026-03-02 07:00", "2026-03-02 07:00", "2026-03-02 00:00")),
        (
            "resolved_on_time",
            "2026-03-01 23:59:59",
            ("2026-03-01 23:55", "2026-03-01 23:00", "2026-03-01 00:00"),
        ),
        ("resolved_late", "2026-03-02 00:00", ("2026-03-02 00:00", "2026-03-02 00:00", "2026-03-02 00:00")),
        ("became_overdue", "2026-03-02 17:00", ("2026-03-02 17:00", "2026-03-02 17:00", "2026-03-02 00:00")),
        (
            "transferred_in",
            "2026-03-02 12:34:56",
            ("2026-03-02 12:30", "2026-03-02 12:00", "2026-03-02 00:00"),
        ),
        (
            "transferred_out",
            "2026-03-02 00:04:59",
            ("2026-03-02 00:00", "2026-03-02 00:00", "2026-03-02 00:00"),
        ),
        ("reopened", "2026-12-31 23:59:59", ("2026-12-31 23:55", "2026-12-31 23:00", "2026-12-31 00:00")),
    ],
)
def test_each_counter_lands_in_the_local_windows_of_its_event_time(
    counter: str, at: str, starts: tuple[str, str, str]
) -> None:
    store = new_store()
    when = local(at)
    if counter == "became_overdue":
        store.apply(NODE, tick(0, when, "PA-1#3"))
    else:
        store.apply(NODE, entry(0, when, counter))
    written = store.flush()
    expected = {record_key(NODE, w, local(s)) for w, s in zip(("5m", "1h", "1d"), starts, strict=True)}
    assert set(written) == expected
    assert [WindowRecord.decode(written[key]).counts for key in sorted(expected)] == [{counter: 1}] * 3


def test_flush_writes_each_changed_record_once_and_then_nothing() -> None:
    store = new_store()
    for offset in range(5):
        store.apply(NODE, entry(offset, E + offset, "received", "opened", item=f"PA-{offset}"))
    written = store.flush()
    assert set(written) == keys_at(E)
    assert {key: WindowRecord.decode(raw).counts for key, raw in written.items()} == {
        key: {"received": 5, "opened": 5} for key in keys_at(E)
    }
    assert store.flush() == {}


def test_latency_and_sla_samples_go_to_the_windows_of_the_sample_instant() -> None:
    store = new_store()
    store.apply(NODE, entry(0, E, "resolved", "resolved_on_time", latency=5400.0, sla_used=0.4))
    for window in ("5m", "1h", "1d"):
        found = record(store, window, E)
        assert found is not None
        assert (found.latency.count, found.sla_used.count) == (1, 1)
        assert found.latency == sketch_of([5400.0]) and found.sla_used == sketch_of([0.4])


# -- redelivery: per-source offset marks ------------------------------------------------


@pytest.mark.parametrize(
    ("deliveries", "received", "marks"),
    [
        ([("f0", 5), ("f0", 5)], 1, {"f0": 5}),  # redelivered
        ([("f0", 5), ("f0", 4)], 1, {"f0": 5}),  # an older offset of the same source is included
        ([("f0", 5), ("f0", 6)], 2, {"f0": 6}),
        ([("f0", 5), ("f1", 4)], 2, {"f0": 5, "f1": 4}),  # another item partition: lower offset applies
        ([("f0", 5), ("t0", 5)], 2, {"f0": 5, "t0": 5}),  # tasks partition 0 is another source
        ([("f0", 5), ("f1", 0), ("f0", 5), ("f1", 0)], 2, {"f0": 5, "f1": 0}),
    ],
)
def test_an_entry_counts_once_per_source_offset(
    deliveries: list[tuple[str, int]], received: int, marks: dict[str, int]
) -> None:
    store = new_store()
    for source, offset in deliveries:
        store.apply(NODE, entry(offset, E, "received", source=source, item=f"PA-{source}-{offset}"))
    for window in ("5m", "1h", "1d"):
        found = record(store, window, E)
        assert found is not None
        assert (found.counts, found.marks) == ({"received": received}, marks)


def test_redelivered_entry_writes_nothing_and_adds_no_sample() -> None:
    store = new_store()
    resolved = entry(3, E, "resolved", "resolved_late", latency=600.0, sla_used=1.5)
    store.apply(NODE, resolved)
    first = store.flush()
    store.apply(NODE, resolved)
    assert store.flush() == {}
    for window in ("5m", "1h", "1d"):
        found = record(store, window, E)
        assert found is not None and found.encode() == first[record_key(NODE, window, SPEC[window].start(E))]


def test_handling_working_days_are_summed_once_per_record_under_redelivery() -> None:
    table: dict[str, bytes] = {}
    store = new_store(table)
    first = entry(1, E, "resolved", latency=7200.0, working_days=0.25)
    second = entry(2, E + 60, "resolved", latency=86400.0, working_days=1.5)
    for item in (first, second, first):  # the first one redelivered
        store.apply(NODE, item)
    table.update(store.flush())
    restarted = new_store(table)
    restarted.apply(NODE, second)  # redelivered after a restart
    assert restarted.flush() == {}
    for window in ("5m", "1h", "1d"):
        found = record(restarted, window, E)
        assert found is not None and (found.working_days, found.working_samples) == (1.75, 2)


def test_record_written_before_working_days_decodes_with_none() -> None:
    old = orjson.dumps({"c": {"resolved": 2}, "m": {"f0": 5}})
    assert (WindowRecord.decode(old).working_days, WindowRecord.decode(old).working_samples) == (0.0, 0)


def test_redelivery_after_a_restart_from_the_table_changes_nothing() -> None:
    table: dict[str, bytes] = {}
    before = new_store(table)
    batch = [
        entry(0, E, "received", "opened"),
        entry(1, E + 60, "resolved", "resolved_on_time", latency=60.0),
    ]
    for item in batch:
        before.apply(NODE, item)
    table.update(before.flush())
    after = new_store(table)
    for item in batch:
        after.apply(NODE, item)
    assert after.flush() == {}
    found = record(after, "1d", E)
    assert found is not None
    assert found.counts == {"received": 1, "opened": 1, "resolved": 1, "resolved_on_time": 1}
    assert found.latency.count == 1


# -- time-derived counts: once per item#seq ---------------------------------------------

DUE = local("2026-03-02 17:00")


@pytest.mark.parametrize(
    ("deliveries", "became_overdue"),
    [
        ([("k0", 3, "PA-1#4"), ("k0", 3, "PA-1#4")], 1),  # redelivered tick
        ([("k0", 3, "PA-1#4"), ("f0", 9, "PA-1#4")], 1),  # the same fact revealed again by an event
        ([("f0", 9, "PA-1#4"), ("k0", 3, "PA-1#4")], 1),  # ... or first by the event, then by the tick
        ([("k0", 3, "PA-1#4"), ("k0", 2, "PA-1#4")], 1),
        ([("k0", 3, "PA-1#4"), ("k0", 4, "PA-1#9")], 2),  # reopened and overdue again: another seq
        ([("k0", 3, "PA-1#4"), ("k0", 4, "PA-2#4")], 2),  # another item
    ],
)
def test_became_overdue_counts_once_per_item_and_sequence(
    deliveries: list[tuple[str, int, str]], became_overdue: int
) -> None:
    store = new_store()
    for source, offset, once in deliveries:
        store.apply(NODE, tick(offset, DUE, once, source=source))
    for window in ("5m", "1h", "1d"):
        found = record(store, window, DUE)
        assert found is not None
        assert found.counts == {"became_overdue": became_overdue}
        assert found.once == {once for _, _, once in deliveries}
        assert found.late_events == 0


def test_overdue_revealed_by_a_much_later_event_still_counts_in_the_deadline_window() -> None:
    store = new_store()
    store.apply(NODE, entry(0, DUE + DAY, "received", item="PA-2"))  # the source's clock is a day ahead
    resolve_at = DUE + 2 * DAY
    store.apply(
        NODE, entry(1, resolve_at, "resolved", "resolved_late", derived=((DUE, "became_overdue", "PA-1#4"),))
    )
    for window in ("5m", "1h", "1d"):
        at_due, at_resolve = record(store, window, DUE), record(store, window, resolve_at)
        assert at_due is not None and at_resolve is not None
        assert (at_due.counts, at_due.late_events) == ({"became_overdue": 1}, 0)
        assert at_resolve.counts == {"resolved": 1, "resolved_late": 1}
    assert store.late_events == 0


def test_deadline_ticks_neither_move_the_lateness_clock_nor_are_late() -> None:
    store = new_store()
    store.apply(NODE, tick(0, E + DAY, "PA-9#2"))
    assert store.horizon == 0.0
    store.apply(NODE, entry(0, E, "received"))
    found = record(store, "5m", E)
    assert found is not None and (found.counts, found.late_events) == ({"received": 1}, 0)
    assert store.horizon == E


# -- lateness ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seen", "late_in"),
    [
        ("2026-03-02 10:12", set()),
        ("2026-03-02 10:25", set()),  # 5m window end (10:15) + grace (10 min) == newest seen: in time
        ("2026-03-02 10:25:01", {"5m"}),
        ("2026-03-02 11:10", {"5m"}),
        ("2026-03-02 11:10:01", {"5m", "1h"}),
        ("2026-03-03 00:10", {"5m", "1h"}),
        ("2026-03-03 00:10:01", {"5m", "1h", "1d"}),
    ],
)
def test_event_after_window_end_plus_grace_counts_in_late_events_not_in_the_window(
    seen: str, late_in: set[str]
) -> None:
    store = new_store()
    store.apply(NODE, entry(0, local(seen), "progress", item="PA-2"))  # moves the source's clock
    store.apply(NODE, entry(1, E, "received", latency=120.0))
    for window in ("5m", "1h", "1d"):
        found = record(store, window, E)
        assert found is not None
        late = window in late_in
        assert found.count("received") == (0 if late else 1)
        assert found.late_events == (1 if late else 0)
        assert found.latency.count == (0 if late else 1)
        assert found.marks == {"f0": 1}
    assert store.late_events == len(late_in)
    assert store.horizon == local(seen)


def test_late_events_counts_each_counter_the_late_entry_carried() -> None:
    store = new_store()
    store.apply(NODE, entry(0, E + 30 * 60, "progress", item="PA-2"))  # late for 5m, in time for 1h
    store.apply(NODE, entry(1, E, "resolved", "resolved_on_time", "closed"))
    late = record(store, "5m", E)
    in_time = record(store, "1h", E)
    assert late is not None and in_time is not None
    assert (late.counts, late.late_events) == ({}, 3)
    assert in_time.late_events == 0
    assert in_time.counts == {"progress": 1, "resolved": 1, "resolved_on_time": 1, "closed": 1}
    assert store.late_events == 3


def test_redelivered_late_entry_is_counted_late_once() -> None:
    store = new_store()
    store.apply(NODE, entry(0, E + 30 * 60, "progress", item="PA-2"))  # late for 5m only
    late = entry(1, E, "received")
    store.apply(NODE, late)
    store.apply(NODE, late)
    found = record(store, "5m", E)
    assert found is not None and (found.counts, found.late_events) == ({}, 1)
    assert store.late_events == 1


def test_lateness_is_judged_against_the_same_source_only() -> None:
    store = new_store()
    store.apply(NODE, entry(0, E + DAY, "progress", source="f0", item="PA-2"))
    store.apply(NODE, entry(0, E, "received", source="f1"))
    store.apply(NODE, entry(1, E, "received", source="f0", item="PA-3"))
    found = record(store, "5m", E)
    assert found is not None
    assert (found.counts, found.late_events) == ({"received": 1}, 1)
    assert store.horizon == E + DAY


def test_lateness_is_judged_per_node() -> None:
    store = new_store()
    store.apply("HCM", entry(0, E + DAY, "progress", item="PA-2"))
    store.apply(NODE, entry(1, E, "received"))
    found = record(store, "5m", E)
    assert found is not None and (found.counts, found.late_events) == ({"received": 1}, 0)


# -- retention and expiry ----------------------------------------------------------------


@pytest.mark.parametrize("window", ["5m", "1h", "1d"])
@pytest.mark.parametrize(("past_retention", "expired"), [(-1.0, False), (0.0, False), (1.0, True)])
def test_window_expires_once_it_ended_longer_than_its_retention_ago(
    window: str, past_retention: float, expired: bool
) -> None:
    spec = SPEC[window]
    start = spec.start(E)
    key = record_key(NODE, window, start)
    horizon = spec.end(start) + RETENTION[window] + past_retention
    store = new_store({key: WindowRecord().encode()})
    store.seed([key])
    assert store.expire(0, horizon) == ([key] if expired else [])


def test_expiry_goes_oldest_first_and_ignores_keys_it_cannot_read() -> None:
    old = [record_key(NODE, window, SPEC[window].start(E)) for window in ("1d", "5m", "1h")]
    horizon = E + 100 * DAY
    keys = ["garbage", old[0], "A|2h|1772420400", old[1], "A|5m|soon", "A|5m|1|2", old[2]]
    store = new_store(dict.fromkeys(keys, WindowRecord().encode()))
    store.seed(keys)
    assert store.expire(0, horizon) == [old[1], old[2], old[0]]


def test_expiry_finds_records_written_and_read_once_each() -> None:
    table: dict[str, bytes] = {}
    store = new_store(table)
    store.apply(NODE, entry(0, E, "received"))
    table.update(store.flush())
    store.forget(list(table))  # evicted from the cache, then read again
    assert record(store, "5m", E) is not None
    store.seed(list(table))  # and seeded as well
    expired = store.expire(0, E + 100 * DAY)
    assert sorted(expired) == sorted(keys_at(E, ("5m", "1h", "1d")))
    assert store.expire(0, E + 200 * DAY) == []


def test_expiry_skips_records_deleted_meanwhile_and_stops_at_the_horizon() -> None:
    table: dict[str, bytes] = {}
    store = new_store(table)
    store.apply(NODE, entry(0, E, "received"))
    table.update(store.flush())
    five = record_key(NODE, "5m", SPEC["5m"].start(E))
    store.forget([five])
    del table[five]
    horizon = SPEC["1h"].end(SPEC["1h"].start(E)) + RETENTION["1h"] + 1  # 5m and 1h, not 1d
    assert store.expire(0, horizon) == [record_key(NODE, "1h", SPEC["1h"].start(E))]


def test_expiry_is_per_partition() -> None:
    table: dict[str, bytes] = {}
    store = MetricsStore(SPECS, grace=GRACE, load=table.get, partition_of={NODE: 0, "HCM": 1}.get)
    store.apply(NODE, entry(0, E, "received"))
    store.apply("HCM", entry(0, E, "received"))
    store.apply("ELSEWHERE", entry(0, E, "received"))  # not owned: never expired here
    table.update(store.flush())
    assert {parse_record_key(k)[0] for k in store.expire(1, E + 100 * DAY)} == {"HCM"}
    assert store.expired_before == {1: E + 100 * DAY}
    store.apply("HCM", entry(1, E, "received", item="PA-2"))
    store.apply(NODE, entry(1, E, "received", item="PA-2"))
    found = record(store, "1d", E)
    assert found is not None and found.count("received") == 2  # partition 0 not expired


def test_expired_before_only_moves_forward() -> None:
    store = new_store()
    assert store.expired_before == {}
    store.expire(0, E)
    store.expire(0, E - DAY)
    assert store.expired_before == {0: E}


@pytest.mark.parametrize("how", ["counted", "derived"])
def test_entry_for_an_expired_window_does_not_recreate_it(how: str) -> None:
    store = new_store()
    store.expire(0, SPEC["5m"].end(SPEC["5m"].start(E)) + RETENTION["5m"] + 1)  # 5m of E only
    if how == "counted":
        store.apply(NODE, entry(0, E, "received"))
    else:
        store.apply(NODE, tick(0, E, "PA-1#4"))
    written = store.flush()
    assert set(written) == keys_at(E, ("1h", "1d"))
    assert record(store, "5m", E) is None
    assert store.late_events == 1
    found = record(store, "1h", E)
    assert found is not None and found.count("received" if how == "counted" else "became_overdue") == 1


def test_resolved_entry_for_an_expired_window_does_not_recreate_it_with_its_sample() -> None:
    store = new_store()
    store.expire(0, E + 100 * DAY)  # every window of E is past its retention
    store.apply(NODE, entry(0, E, "resolved", "resolved_on_time", "closed", latency=600.0, sla_used=0.5))
    assert store.flush() == {}
    assert [record(store, window, E) for window in ("5m", "1h", "1d")] == [None, None, None]


def test_forget_drops_cached_and_unflushed_records() -> None:
    table: dict[str, bytes] = {}
    store = new_store(table)
    store.apply(NODE, entry(0, E, "received"))
    table.update(store.flush())
    store.apply(NODE, entry(1, E + DAY, "received", item="PA-2"))
    store.forget(keys_at(E) | keys_at(E + DAY))
    assert store.flush() == {}
    assert record(store, "5m", E + DAY) is None  # never written: gone
    found = record(store, "5m", E)  # written: read back from the table
    assert found is not None and found.counts == {"received": 1}


def test_trim_cache_evicts_clean_records_of_windows_ended_an_hour_ago() -> None:
    table: dict[str, bytes] = {}
    store = new_store(table)
    store.apply(NODE, entry(0, E, "received"))
    table.update(store.flush())
    five_minute_end = SPEC["5m"].end(SPEC["5m"].start(E))
    assert store.trim_cache(five_minute_end + H) == 0
    assert store.trim_cache(five_minute_end + H + 1) == 1
    assert store.trim_cache(E + 2 * DAY) == 2
    found = record(store, "1d", E)  # reloaded from the table
    assert found is not None and found.counts == {"received": 1}


def test_trim_cache_keeps_records_not_yet_flushed() -> None:
    store = new_store()
    store.apply(NODE, entry(0, E, "received"))
    assert store.trim_cache(E + 2 * DAY) == 0
    assert set(store.flush()) == keys_at(E)


# -- read side ---------------------------------------------------------------------------


def filled(counts: dict[str, int], **fields: Any) -> WindowRecord:
    return WindowRecord(counts=dict(counts), **fields)


@pytest.mark.parametrize(
    ("counts", "rate"),
    [
        ({}, None),
        ({"received": 5}, None),
        ({"resolved": 4, "resolved_on_time": 3, "resolved_late": 1}, 0.75),
        ({"resolved": 10, "resolved_on_time": 10}, 1.0),
        ({"resolved": 3, "resolved_late": 3}, 0.0),
    ],
)
def test_on_time_rate_is_resolved_on_time_over_resolved(counts: dict[str, int], rate: float | None) -> None:
    assert on_time_rate(filled(counts)) == rate


def test_on_time_rate_of_no_record_is_unknown() -> None:
    assert on_time_rate(None) is None


@pytest.mark.parametrize(
    ("received", "resolved_late", "open_", "overdue", "net", "carried", "late_rate"),
    [
        (8, 1, 6, 1, 4, 2, (1 + 1) / (8 + 2)),
        (8, 1, 1, 1, 4, 0, (1 + 1) / 8),  # more net change than open now: nothing carried over
        (0, 0, 5, 2, 0, 5, 2 / 5),  # nothing new: all carried over
        (0, 0, 0, 0, 0, 0, None),  # nothing to judge
        (8, 1, 6, 1, None, None, None),  # not the current window: carried over unknown
    ],
)
def test_late_rate_is_late_open_plus_resolved_late_over_received_plus_carried_over(
    received: int,
    resolved_late: int,
    open_: int,
    overdue: int,
    net: int | None,
    carried: int | None,
    late_rate: float | None,
) -> None:
    spec = SPEC["1d"]
    start = spec.start(E)
    record_ = filled({"received": received, "resolved": resolved_late, "resolved_late": resolved_late})
    summary = window_summary(
        spec, start, record_, gauges=Gauges(open=open_, overdue=overdue), net_since_start=net
    )
    assert (summary["carried_over"], summary["late_rate"]) == (carried, late_rate)


def test_window_summary_has_every_counter_rate_and_percentile() -> None:
    spec = SPEC["1d"]
    start = local("2026-03-02 00:00")
    latencies, shares = [600.0, 3600.0, 7200.0], [0.5, 0.9, 1.2]
    counts = {
        "received": 8,
        "resolved": 4,
        "resolved_on_time": 3,
        "resolved_late": 1,
        "became_overdue": 2,
        "transferred_in": 1,
        "transferred_out": 1,
        "reopened": 1,
        "opened": 10,
        "closed": 5,
    }
    record_ = filled(counts, latency=sketch_of(latencies), sla_used=sketch_of(shares), late_events=2)
    gauges = Gauges(open=6, overdue=2, due_soon=1, oldest_open_at=start - DAY)
    assert window_summary(spec, start, record_, gauges=gauges, net_since_start=5) == {
        "start": start,
        "end": start + DAY,
        **counts,
        "cancelled": 0,
        "late_closed": 0,
        "late_in": 0,
        "late_out": 0,
        "late_events": 2,
        "latency": {
            "p50": library_quantile(latencies, 0.5),
            "p90": library_quantile(latencies, 0.9),
            "p99": library_quantile(latencies, 0.99),
        },
        "sla_used_p90": library_quantile(shares, 0.9),
        "on_time_rate": 0.75,
        "carried_over": 1,
        "late_rate": (2 + 1) / (8 + 1),
    }


def test_window_summary_without_a_record_is_zeros_and_unknowns() -> None:
    spec = SPEC["1h"]
    start = spec.start(E)
    summary = window_summary(spec, start, None, gauges=Gauges(), net_since_start=0)
    assert summary == {
        "start": start,
        "end": start + H,
        **dict.fromkeys(COUNTERS, 0),
        "late_events": 0,
        "latency": {"p50": None, "p90": None, "p99": None},
        "sla_used_p90": None,
        "on_time_rate": None,
        "carried_over": 0,
        "late_rate": None,
    }


def test_current_windows_use_the_net_change_of_each_window_for_carried_over() -> None:
    store = new_store()
    store.apply(NODE, entry(0, local("2026-03-02 08:00"), "received", "opened", item="PA-1"))
    store.apply(NODE, entry(1, local("2026-03-02 10:01"), "received", "opened", item="PA-2"))
    store.apply(NODE, entry(2, local("2026-03-02 10:11"), "resolved", "resolved_late", "closed", item="PA-1"))
    now = local("2026-03-02 10:13")
    windows = current_windows(store, NODE, now, Gauges(open=4, overdue=1))
    assert list(windows) == ["5m", "1h", "1d"]
    assert [windows[w]["start"] for w in windows] == [SPEC[w].start(now) for w in windows]
    # 5m: net -1 -> carried 5; 1h: net 0 -> 4; day: net +1 -> 3.
    assert [windows[w]["carried_over"] for w in windows] == [5, 4, 3]
    assert [windows[w]["late_rate"] for w in windows] == [(1 + 1) / 5, (1 + 1) / (1 + 4), (1 + 1) / (2 + 3)]


def test_sparkline_is_received_per_smallest_window_oldest_first() -> None:
    store = new_store()
    now = local("2026-03-02 10:12")
    for offset, at in enumerate(["09:40", "09:50", "10:03", "10:10", "10:11"]):
        store.apply(NODE, entry(offset, local(f"2026-03-02 {at}"), "received", item=f"PA-{offset}"))
    # 5m windows 09:45, 09:50, 09:55, 10:00, 10:05, 10:10 (09:40 is the seventh back).
    assert sparkline(store, NODE, now, points=6) == [0, 1, 0, 1, 0, 2]
    assert len(sparkline(store, NODE, now)) == 24


def test_baseline_is_the_mean_over_previous_windows_including_empty_ones() -> None:
    store = new_store()
    now = local("2026-03-02 10:12")
    for offset, at in enumerate(["07:59", "09:10", "09:20", "10:01"]):  # 10:01 is the current hour
        store.apply(NODE, entry(offset, local(f"2026-03-02 {at}"), "received", item=f"PA-{offset}"))
    assert baseline(store, NODE, "1h", now, periods=4) == (2 + 0 + 1 + 0) / 4
    assert baseline(store, NODE, "1h", now) == 3 / 24


def test_baseline_is_unknown_without_history() -> None:
    store = new_store()
    now = local("2026-03-02 10:12")
    store.apply(NODE, entry(0, now, "received"))  # only the current window
    assert baseline(store, NODE, "1h", now) is None


# -- gauges summed over item partitions --------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "merged"),
    [
        ([], Gauges(0, 0, 0, None)),
        ([PartitionGauges(0, 3, 1, 1, 100.0)], Gauges(3, 1, 1, 100.0)),
        (
            [
                PartitionGauges(0, 3, 1, 1, 100.0),
                PartitionGauges(1, 2, 0, 1, 50.0),
                PartitionGauges(2, 0, 0, 0, None),
            ],
            Gauges(5, 1, 2, 50.0),
        ),
        ([PartitionGauges(0, 0, 0, 0, None), PartitionGauges(1, 1, 1, 0, 75.5)], Gauges(1, 1, 0, 75.5)),
    ],
)
def test_gauges_merge_sums_counts_and_keeps_the_oldest_open(
    parts: list[PartitionGauges], merged: Gauges
) -> None:
    assert Gauges.merge(parts) == merged


def test_partition_gauges_roundtrip_keyed_by_partition() -> None:
    parts = {3: PartitionGauges(3, 4, 1, 2, 1772420400.5), 0: PartitionGauges(0, 0, 0, 0, None)}
    assert decode_gauges(encode_gauges(parts)) == parts
    assert Gauges(2, 1, 0, 10.0).to_json() == {"open": 2, "overdue": 1, "due_soon": 0, "oldest_open_at": 10.0}


def test_late_entries_are_logged_once_per_flush_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    store = new_store()
    store.expire(0, E + 100 * DAY)
    for offset in range(50):
        store.apply(NODE, entry(offset, E, "received", item=f"PA-{offset}"))
    with caplog.at_level("WARNING", logger="stream.metrics"):
        store.flush()
        store.flush()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert lines[0].startswith("150 late entries") and lines[0].count("item=") == 3
