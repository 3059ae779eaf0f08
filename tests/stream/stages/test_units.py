"""The unit stage's pure processor: counter writes per key, roll-ups, gauges, expiry and unit rules.

The catalog is the packaged three-level catalog of 2024 (city → district → ward), so roll-ups
go ward → district → city. Windows and retention are the defaults (5m, 1h, local day; 6 h,
3 days, 62 days) with the default 10-minute grace. Times are local (UTC+7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from alerts.config import Colours, RulesConfig
from alerts.model import UNIT_RULES, RuleName, Signal
from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog
from domain.events import format_instant
from domain.items import ItemPolicy
from domain.sla import SlaPolicy
from domain.windows import DAY, window_specs
from stream.gauges import GaugeIndex
from stream.metrics import Gauges, WindowRecord, decode_gauges, parse_record_key, record_key
from stream.stages.items import FEEDBACK, TICKS, ItemProcessor, Message, encode_tick
from stream.stages.units import EXPIRY_INTERVAL, SIGNAL_REFRESH, Pacer, UnitBatchResult, UnitProcessor
from stream.transitions import Entry, NodeBatch, PartitionGauges, Progress, Tick

ROOT = Path(__file__).parents[3]
CATALOG = Catalog.from_file(ROOT / "domain" / "data" / "units-2024.json")
CALENDAR = WorkCalendar.from_file(ROOT / "domain" / "data" / "calendar.toml")
POLICY = ItemPolicy(CALENDAR, SlaPolicy.from_file(ROOT / "domain" / "data" / "sla.toml"), CATALOG)
H = 3600.0
M = 60.0
GRACE = 600.0
RETENTION = {"5m": 6 * H, "1h": 3 * DAY, "1d": 62 * DAY}
SPECS = window_specs(["5m", "1h", "1d"], RETENTION)
SPEC = {spec.name: spec for spec in SPECS}
WINDOWS = ("5m", "1h", "1d")

NGHE, THANH, SAU = "Q1-P-BEN-NGHE", "Q1-P-BEN-THANH", "Q3-P-VO-THI-SAU"
Q1, Q3, CITY = "Q-1", "Q-3", "HCM"


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).timestamp()


E = local("2026-03-02 10:12")


@dataclass
class Tables:
    """The stage's two tables, written the way the agent shell writes them."""

    metrics: dict[bytes, bytes] = field(default_factory=dict)
    gauges: dict[bytes, bytes] = field(default_factory=dict)

    def apply(self, result: UnitBatchResult) -> None:
        for writes in result.metrics_writes.values():
            for key, value in writes.items():
                if value is None:
                    self.metrics.pop(key, None)
                else:
                    self.metrics[key] = value
        for gauge_writes in result.gauge_writes.values():
            self.gauges.update(gauge_writes)

    def nodes(self) -> set[str]:
        return {parse_record_key(key.decode())[0] for key in self.metrics}


def processor(tables: Tables, *, rules: RulesConfig | None = None, partitions: int = 1) -> UnitProcessor:
    return UnitProcessor(
        catalog=CATALOG,
        rules=rules if rules is not None else RulesConfig(),
        calendar=CALENDAR,
        specs=SPECS,
        grace=GRACE,
        load_metrics=tables.metrics.get,
        load_gauges=tables.gauges.get,
        metric_keys=lambda: list(tables.metrics),
        partitions=partitions,
    )


def entry(
    offset: int,
    at: float,
    *counters: str,
    source: str = "f0",
    item: str = "PA-1",
    sla_used: float | None = None,
) -> Entry:
    return Entry(
        source=source,
        offset=offset,
        item_id=item,
        seq=1,
        kinds=("test",),
        counts=tuple((at, counter) for counter in counters),
        latency=60.0 if sla_used is not None else None,
        sla_used=sla_used,
        sample_at=at if sla_used is not None else 0.0,
        event_at=at,
    )


def keys(node: str, at: float, windows: tuple[str, ...] = WINDOWS) -> set[bytes]:
    return {record_key(node, window, SPEC[window].start(at)).encode() for window in windows}


def decoded(writes: dict[bytes, bytes | None]) -> dict[bytes, dict[str, int] | None]:
    return {key: None if raw is None else WindowRecord.decode(raw).counts for key, raw in writes.items()}


def counts(units: UnitProcessor, node: str, at: float, window: str = "1d") -> dict[str, int]:
    found = units.store.record(node, window, SPEC[window].start(at))
    return {} if found is None else dict(found.counts)


# -- writes per batch ---------------------------------------------------------------------


def test_batch_writes_each_window_record_once_with_every_entry_in_it() -> None:
    units = processor(Tables())
    inputs: list[tuple[int, NodeBatch | Tick | Progress]] = [
        (0, NodeBatch(NGHE, (entry(offset, E + offset * M, "received", "opened", item=f"PA-{offset}"),)))
        for offset in range(3)
    ]
    result = units.process(inputs, now=E + H)
    assert list(result.metrics_writes) == [0]
    assert decoded(result.metrics_writes[0]) == {key: {"received": 3, "opened": 3} for key in keys(NGHE, E)}
    assert (result.dirty_nodes, result.gauge_writes, result.ticks, result.signals) == ({NGHE}, {}, 0, [])


def test_writes_go_to_the_partition_of_the_node_message() -> None:
    units = processor(Tables())
    result = units.process(
        [(0, NodeBatch(NGHE, (entry(0, E, "received"),))), (3, NodeBatch(Q1, (entry(0, E, "received"),)))],
        now=E,
    )
    assert {p: set(writes) for p, writes in result.metrics_writes.items()} == {
        0: keys(NGHE, E),
        3: keys(Q1, E),
    }


def batch_of_three() -> list[tuple[int, NodeBatch | Tick | Progress]]:
    gauges = (PartitionGauges(0, 1, 0, 0, E),)
    return [
        (0, NodeBatch(NGHE, (entry(0, E, "received", "opened"),), gauges)),
        (0, NodeBatch(NGHE, (entry(1, E + M, "resolved", "resolved_on_time", "closed", sla_used=0.3),))),
        (0, NodeBatch(NGHE, (entry(0, E + 2 * M, "received", "opened", source="f1", item="PA-2"),))),
    ]


def test_redelivered_batch_writes_no_counter_and_changes_nothing() -> None:
    tables = Tables()
    units = processor(tables)
    first = units.process(batch_of_three(), now=E + H)
    tables.apply(first)
    again = units.process(batch_of_three(), now=E + H)
    assert again.metrics_writes == {}
    assert again.gauge_writes == first.gauge_writes  # absolute values: rewriting them is harmless
    assert counts(units, NGHE, E) == {
        "received": 2,
        "opened": 2,
        "resolved": 1,
        "resolved_on_time": 1,
        "closed": 1,
    }


def test_redelivered_batch_after_a_restart_from_the_tables_writes_no_counter() -> None:
    tables = Tables()
    tables.apply(processor(tables).process(batch_of_three(), now=E + H))
    before = dict(tables.metrics)
    restarted = processor(tables)
    result = restarted.process(batch_of_three(), now=E + H)
    assert result.metrics_writes == {}
    tables.apply(result)
    assert tables.metrics == before
    day = restarted.store.record(NGHE, "1d", SPEC["1d"].start(E))
    assert day is not None and day.latency.count == 1


def test_entries_of_another_item_partition_apply_whatever_their_offsets() -> None:
    units = processor(Tables())
    units.process([(0, NodeBatch(NGHE, (entry(900, E, "received", source="f0"),)))], now=E)
    result = units.process(
        [(0, NodeBatch(NGHE, (entry(3, E, "received", source="f2", item="PA-2"),)))], now=E
    )
    assert decoded(result.metrics_writes[0]) == {key: {"received": 2} for key in keys(NGHE, E)}


def test_batch_for_a_node_missing_from_the_catalog_is_skipped() -> None:
    units = processor(Tables())
    result = units.process(
        [(0, NodeBatch("Q-99", (entry(0, E, "received"),), (PartitionGauges(0, 1, 0, 0, E),)))], now=E
    )
    assert (result.metrics_writes, result.gauge_writes, result.dirty_nodes) == ({}, {}, set())


# -- gauges ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("announcements", "merged"),
    [
        ([[PartitionGauges(0, 5, 2, 1, E)]], Gauges(5, 2, 1, E)),
        # A re-announce of partition 0 replaces its value; partition 1 adds to it.
        ([[PartitionGauges(0, 5, 2, 1, E)], [PartitionGauges(0, 3, 0, 1, E + H)]], Gauges(3, 0, 1, E + H)),
        (
            [
                [PartitionGauges(0, 5, 2, 1, E)],
                [PartitionGauges(0, 3, 0, 1, E + H), PartitionGauges(1, 2, 1, 0, E)],
            ],
            Gauges(5, 1, 1, E),
        ),
        ([[PartitionGauges(0, 5, 2, 1, E), PartitionGauges(0, 0, 0, 0, None)]], Gauges(0, 0, 0, None)),
    ],
)
def test_latest_gauges_per_item_partition_replace_the_older_ones(
    announcements: list[list[PartitionGauges]], merged: Gauges
) -> None:
    tables = Tables()
    units = processor(tables)
    for offset, parts in enumerate(announcements):
        tables.apply(units.process([(0, NodeBatch(NGHE, (), tuple(parts)))], now=E + offset))
    assert units.gauges(NGHE) == merged
    assert Gauges.merge(decode_gauges(tables.gauges[NGHE.encode()]).values()) == merged


def test_one_batch_writes_a_node_gauges_once_with_the_last_values() -> None:
    units = processor(Tables())
    result = units.process(
        [
            (2, NodeBatch(NGHE, (), (PartitionGauges(0, 5, 0, 0, E),))),
            (2, NodeBatch(NGHE, (), (PartitionGauges(0, 4, 0, 0, E), PartitionGauges(1, 1, 1, 0, E - H)))),
            (2, NodeBatch(NGHE, (entry(0, E, "received"),))),  # no gauges: nothing to replace
        ],
        now=E,
    )
    assert list(result.gauge_writes) == [2]
    assert orjson.loads(result.gauge_writes[2][NGHE.encode()]) == [[0, 4, 0, 0, E], [1, 1, 1, 0, E - H]]


def test_gauges_come_back_from_the_table_after_a_restart() -> None:
    tables = Tables()
    tables.apply(
        processor(tables).process([(0, NodeBatch(NGHE, (), (PartitionGauges(1, 7, 2, 3, E),)))], now=E)
    )
    restarted = processor(tables)
    assert restarted.gauges(NGHE) == Gauges(7, 2, 3, E)
    assert restarted.gauges(THANH) == Gauges()


# -- roll-ups through the item stage (ward → district → city) ----------------------------

T0 = local("2026-12-01 09:00")  # a Tuesday
NOW = T0 + 30 * DAY


class Chain:
    """The item stage feeding the unit stage, as the agents do (all on partition 0)."""

    def __init__(self, items: dict[bytes, bytes] | None = None, tables: Tables | None = None) -> None:
        self.items: dict[bytes, bytes] = {} if items is None else items
        self.tables = Tables() if tables is None else tables
        self.item_stage = ItemProcessor(
            POLICY,
            RulesConfig(),
            load=self.items.get,
            gauges=GaugeIndex(CATALOG),
            max_event_bytes=65536,
            max_future_skew=DAY,
        )
        self.units = processor(self.tables)

    def run(self, *messages: Message) -> UnitBatchResult:
        result = self.item_stage.process(list(messages), now=NOW)
        for writes in result.writes.values():
            for key, value in writes.items():
                if value is None:
                    self.items.pop(key, None)
                else:
                    self.items[key] = value
        unit_result = self.units.process([(0, batch) for batch in result.node_batches], now=NOW)
        self.tables.apply(unit_result)
        return unit_result


def event(offset: int, item: str, type_: str, at: float, **fields: Any) -> Message:
    body = {
        "event_id": f"e{offset}",
        "item_id": item,
        "type": type_,
        "occurred_at": format_instant(at),
        **fields,
    }
    return Message(FEEDBACK, "gov.feedback", 0, offset, item.encode(), orjson.dumps(body))


def tick(offset: int, item: str, at: float) -> Message:
    return Message(TICKS, "ticks", 0, offset, item.encode(), encode_tick(item, at))


def rolled_up_day() -> Chain:
    chain = Chain()
    chain.run(
        event(0, "PA-1", "received", T0, unit=NGHE, due_at=format_instant(T0 + 4 * H)),
        event(1, "PA-2", "received", T0 + M, unit=THANH, due_at=format_instant(T0 + 4 * H)),
        event(2, "PA-3", "received", T0 + 2 * M, unit=SAU, due_at=format_instant(T0 + H)),
        event(3, "PA-1", "resolved", T0 + H),  # on time
        event(4, "PA-3", "resolved", T0 + 2 * H),  # overdue at T0 + 1 h, then resolved late
    )
    return chain


ON_TIME = {
    "resolved": 1,
    "resolved_on_time": 1,
    "closed": 1,
    "resolved_feedback": 1,
    "resolved_on_time_feedback": 1,
}
LATE = {
    "became_overdue": 1,
    "resolved": 1,
    "resolved_late": 1,
    "closed": 1,
    "resolved_feedback": 1,
    "late_closed": 1,
}


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (NGHE, {"received": 1, "opened": 1, **ON_TIME}),
        (THANH, {"received": 1, "opened": 1}),
        (SAU, {"received": 1, "opened": 1, **LATE}),
        (Q1, {"received": 2, "opened": 2, **ON_TIME}),
        (Q3, {"received": 1, "opened": 1, **LATE}),
        (
            CITY,
            {
                "received": 3,
                "opened": 3,
                "became_overdue": 1,
                "resolved": 2,
                "resolved_on_time": 1,
                "resolved_late": 1,
                "closed": 2,
                "resolved_feedback": 2,
                "resolved_on_time_feedback": 1,
                "late_closed": 1,
            },
        ),
    ],
)
def test_counters_roll_up_from_ward_to_district_and_city(node: str, expected: dict[str, int]) -> None:
    chain = rolled_up_day()
    assert counts(chain.units, node, T0) == expected


def test_roll_up_touches_only_the_lineage_of_each_unit() -> None:
    chain = rolled_up_day()
    assert chain.tables.nodes() == {NGHE, THANH, SAU, Q1, Q3, CITY}


@pytest.mark.parametrize(
    ("node", "gauges", "samples"),
    [
        (NGHE, Gauges(0, 0, 0, None), 1),
        (THANH, Gauges(1, 0, 0, T0 + M), 0),
        (Q1, Gauges(1, 0, 0, T0 + M), 1),
        (Q3, Gauges(0, 0, 0, None), 1),
        (CITY, Gauges(1, 0, 0, T0 + M), 2),
    ],
)
def test_gauges_and_latency_samples_roll_up_too(node: str, gauges: Gauges, samples: int) -> None:
    chain = rolled_up_day()
    assert chain.units.gauges(node) == gauges
    day = chain.units.store.record(node, "1d", SPEC["1d"].start(T0))
    assert day is not None and (day.latency.count, day.sla_used.count) == (samples, samples)
    assert day.working_samples == samples  # handling times in working days, summed


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (NGHE, {"received": 1, "opened": 1, "transferred_out": 1, "closed": 1}),
        (Q1, {"received": 1, "opened": 1, "transferred_out": 1, "closed": 1}),
        (SAU, {"transferred_in": 1, "opened": 1}),
        (Q3, {"transferred_in": 1, "opened": 1}),
        # The city holds both ends of a move between its own units.
        (CITY, {"received": 1, "opened": 2, "transferred_out": 1, "transferred_in": 1, "closed": 1}),
    ],
)
def test_transfer_counts_out_along_the_old_lineage_and_in_along_the_new(
    node: str, expected: dict[str, int]
) -> None:
    chain = Chain()
    chain.run(
        event(0, "PA-1", "received", T0, unit=NGHE),
        event(1, "PA-1", "transferred", T0 + M, unit=SAU),
    )
    assert counts(chain.units, node, T0) == expected
    assert chain.units.gauges(node).open == (0 if node in (NGHE, Q1) else 1)


def test_overdue_counts_once_whether_a_tick_or_a_later_event_reveals_it() -> None:
    due = T0 + H
    first = Chain()
    first.run(event(0, "PA-1", "received", T0, unit=NGHE, due_at=format_instant(due)))
    items_before_tick = dict(first.items)
    first.run(tick(0, "PA-1", due))
    assert [counts(first.units, node, due)["became_overdue"] for node in (NGHE, Q1, CITY)] == [1, 1, 1]
    # A restart that lost the tick's item write: the resolve event reveals the same overdue.
    second = Chain(items=items_before_tick, tables=first.tables)
    second.item_stage.rebuild({0}, items_before_tick.items(), lambda *_: None)
    second.run(event(1, "PA-1", "resolved", due + H))
    for node in (NGHE, Q1, CITY):
        assert counts(second.units, node, due) == {
            "received": 1,
            "opened": 1,
            "became_overdue": 1,
            "resolved": 1,
            "resolved_late": 1,
            "closed": 1,
            "resolved_feedback": 1,
            "late_closed": 1,
        }


# -- expiry on ticks, behind the slowest item partition -----------------------------------

END_5M = SPEC["5m"].end(SPEC["5m"].start(E))
PAST_5M = END_5M + RETENTION["5m"] + 1  # the 5m window of E is past its retention
FAR = E + 100 * DAY  # every window of E is


def written_at_e(partitions: int = 2) -> tuple[Tables, UnitProcessor]:
    tables = Tables()
    units = processor(tables, partitions=partitions)
    tables.apply(units.process([(0, NodeBatch(NGHE, (entry(0, E, "received"),)))], now=E))
    return tables, units


@pytest.mark.parametrize(
    ("watermarks", "with_tick", "deleted"),
    [
        ({0: PAST_5M, 1: PAST_5M}, True, ("5m",)),
        ({0: FAR, 1: FAR}, True, WINDOWS),
        ({0: FAR, 1: PAST_5M}, True, ("5m",)),  # the slowest partition sets the horizon
        ({0: FAR, 1: PAST_5M - 1}, True, ()),  # 5m window ended exactly its retention ago: kept
        ({0: FAR}, True, ()),  # partition 1 has not reported: no horizon yet
        ({0: FAR, 1: FAR}, False, ()),  # expiry runs on ticks only
    ],
)
def test_windows_expire_on_ticks_behind_the_slowest_item_partition(
    watermarks: dict[int, float], with_tick: bool, deleted: tuple[str, ...]
) -> None:
    tables, units = written_at_e()
    inputs: list[tuple[int, NodeBatch | Tick | Progress]] = [(0, Progress(watermarks))]
    if with_tick:
        inputs.append((0, Tick(FAR)))
    result = units.process(inputs, now=FAR)
    assert result.metrics_writes == ({0: dict.fromkeys(keys(NGHE, E, deleted))} if deleted else {})
    assert result.ticks == int(with_tick)
    tables.apply(result)
    assert set(tables.metrics) == keys(NGHE, E) - keys(NGHE, E, deleted)


def test_expiry_runs_at_most_once_per_interval_of_stream_time() -> None:
    _, units = written_at_e(partitions=1)
    first = PAST_5M - 30  # the 5m window of E is 29 s short of its retention
    assert units.process([(0, Progress({0: first})), (0, Tick(first))], now=first).metrics_writes == {}
    early = units.process([(0, Progress({0: first + EXPIRY_INTERVAL - 1})), (0, Tick(0.0))], now=first)
    assert early.metrics_writes == {}  # due, but the last expiry is less than an interval ago
    due = units.process([(0, Progress({0: first + EXPIRY_INTERVAL})), (0, Tick(0.0))], now=first)
    assert due.metrics_writes == {0: dict.fromkeys(keys(NGHE, E, ("5m",)))}


def test_records_restored_from_the_changelog_expire_after_a_reset() -> None:
    tables, units = written_at_e(partitions=1)
    stale = record_key(NGHE, "5m", SPEC["5m"].start(E) - DAY).encode()  # restored, never read
    tables.metrics[stale] = WindowRecord().encode()
    units.reset()
    units.own(NGHE, 0)
    result = units.process([(0, Progress({0: PAST_5M})), (0, Tick(PAST_5M))], now=PAST_5M)
    assert result.metrics_writes == {0: dict.fromkeys({stale, *keys(NGHE, E, ("5m",))})}


def test_expired_window_is_not_recreated_even_after_a_reset() -> None:
    tables, units = written_at_e(partitions=1)
    tables.apply(units.process([(0, Progress({0: PAST_5M})), (0, Tick(PAST_5M))], now=PAST_5M))
    units.reset()
    result = units.process(
        [(0, NodeBatch(NGHE, (entry(1, E, "received", source="f1", item="PA-2"),)))], now=E
    )
    assert decoded(result.metrics_writes[0]) == {key: {"received": 2} for key in keys(NGHE, E, ("1h", "1d"))}


def test_progress_watermarks_only_move_forward_per_transitions_partition() -> None:
    units = processor(Tables(), partitions=2)
    units.process([(0, Progress({0: 100.0}))], now=0.0)
    assert units.expiry_horizon(0) is None
    units.process([(0, Progress({0: 50.0, 1: 200.0}))], now=0.0)
    assert units.expiry_horizon(0) == 100.0
    assert units.expiry_horizon(1) is None  # progress reported in partition 0 only
    units.process([(1, Progress({0: 10.0, 1: 20.0}))], now=0.0)
    assert units.expiry_horizon(1) == 10.0


def test_progress_in_one_partition_does_not_expire_another_partitions_backlog() -> None:
    """The unit stage lags: partition 0 has read the item partitions' latest progress
    while partition 1 still holds entries sent before it. Those entries must count."""
    tables = Tables()
    units = processor(tables, partitions=1)
    tables.apply(units.process([(0, NodeBatch(NGHE, (entry(0, E, "received"),)))], now=E))
    tables.apply(units.process([(0, Progress({0: FAR})), (0, Tick(FAR)), (1, Tick(FAR))], now=FAR))
    assert not tables.nodes()  # partition 0's records expired
    result = units.process([(1, NodeBatch(SAU, (entry(1, E, "received", item="PA-2"),)))], now=FAR)
    tables.apply(result)
    assert units.store.late_events == 0
    assert counts(units, SAU, E, "5m") == {"received": 1}
    assert set(result.metrics_writes) == {1}
    # ...until partition 1's own progress passes them.
    expired = units.process([(1, Progress({0: FAR})), (1, Tick(FAR))], now=FAR)
    assert expired.metrics_writes == {1: dict.fromkeys(keys(SAU, E))}


# -- unit rules ------------------------------------------------------------------------------

RULES_NOW = local("2026-03-02 15:30")


def status_batches(
    *,
    on_time: int = 0,
    late: int = 0,
    sla_used: float | None = None,
    overdue: int = 0,
    open_: int = 0,
    received_now: int = 0,
    history: int = 0,
) -> list[tuple[int, NodeBatch | Tick | Progress]]:
    """Entries that give NGHE these counters today, and its gauges now."""
    history_entries = [
        entry(hour * 100 + n, RULES_NOW - (24 - hour) * H, "received", source="f1", item=f"H-{hour}-{n}")
        for hour in range(24)
        for n in range(history)
    ]
    resolved = [
        entry(
            n,
            RULES_NOW - 2 * H,
            "resolved",
            "resolved_on_time" if n < on_time else "resolved_late",
            sla_used=sla_used,
        )
        for n in range(on_time + late)
    ]
    received = [entry(1000 + n, RULES_NOW - 10 * M, "received", item=f"N-{n}") for n in range(received_now)]
    gauges = (PartitionGauges(0, max(open_, overdue), overdue, 0, RULES_NOW - DAY),)
    return [(0, NodeBatch(NGHE, tuple(history_entries + resolved + received), gauges))]


def active_rules(signals: list[Signal]) -> set[str]:
    return {signal.rule for signal in signals if signal.active}


@pytest.mark.parametrize(
    ("state", "active"),
    [
        ({}, set()),
        ({"on_time": 7, "late": 3}, {RuleName.UNIT_ON_TIME_RATE}),
        ({"on_time": 15, "late": 5}, {RuleName.UNIT_ON_TIME_RATE}),
        ({"on_time": 8, "late": 2}, set()),  # 0.8 is not below 0.8
        ({"on_time": 0, "late": 9}, set()),  # fewer than 10 resolved: too few to judge
        ({"overdue": 11}, {RuleName.UNIT_OVERDUE_COUNT}),
        ({"overdue": 10}, set()),
        ({"open_": 301}, {RuleName.UNIT_QUEUE_DEPTH}),
        ({"open_": 300}, set()),
        ({"on_time": 10, "sla_used": 1.5}, {RuleName.UNIT_P90_LATENCY}),
        ({"on_time": 10, "sla_used": 0.95}, set()),
        ({"on_time": 9, "sla_used": 1.5}, set()),  # fewer than 10 resolved
        ({"history": 2, "received_now": 10}, {RuleName.UNIT_SURGE}),  # 10 > 2 x 2
        ({"history": 2, "received_now": 9}, set()),  # fewer than 10 received
        ({"history": 5, "received_now": 10}, set()),  # 10 is not above 2 x 5
        ({"received_now": 20}, set()),  # no history: baseline unknown
    ],
)
def test_unit_rules_fire_on_the_node_counters_and_gauges(state: dict[str, Any], active: set[str]) -> None:
    units = processor(Tables())
    units.process(status_batches(**state), now=RULES_NOW)
    signals = units.evaluate([NGHE], now=RULES_NOW)
    assert [signal.rule for signal in signals] == list(UNIT_RULES)
    assert {signal.unit for signal in signals} == {NGHE}
    assert active_rules(signals) == active


def test_on_time_rate_signal_carries_its_facts() -> None:
    units = processor(Tables())
    units.process(status_batches(on_time=7, late=3), now=RULES_NOW)
    (signal,) = [s for s in units.evaluate([NGHE], now=RULES_NOW) if s.rule == RuleName.UNIT_ON_TIME_RATE]
    assert signal.fingerprint == f"{RuleName.UNIT_ON_TIME_RATE}:{NGHE}"
    assert dict(signal.facts) == {
        "window": "1d",
        "window_start": local("2026-03-02 00:00"),
        "resolved": 10,
        "resolved_on_time": 7,
        "resolved_late": 3,
        "rate": 0.7,
        "below": 0.8,
        "min_resolved": 10,
        "unit": NGHE,
    }


def test_rule_thresholds_come_from_the_rules_config() -> None:
    rules = RulesConfig.from_mapping(
        {"unit": {"overdue_count": {"above": 2}, "on_time_rate": {"min_resolved": 2}}}
    )
    units = processor(Tables(), rules=rules)
    units.process(status_batches(on_time=1, late=1, overdue=3), now=RULES_NOW)
    assert active_rules(units.evaluate([NGHE], now=RULES_NOW)) == {
        RuleName.UNIT_ON_TIME_RATE,
        RuleName.UNIT_OVERDUE_COUNT,
    }


def overdue_now(units: UnitProcessor, overdue: int, at: float) -> None:
    units.process([(0, NodeBatch(NGHE, (), (PartitionGauges(0, overdue, overdue, 0, at),)))], now=at)


def test_signals_are_sent_on_change_and_active_ones_refreshed() -> None:
    units = processor(Tables())
    overdue_now(units, 11, RULES_NOW)
    first = units.evaluate([NGHE], now=RULES_NOW)
    assert [(s.rule, s.active) for s in first] == [
        (rule, rule == RuleName.UNIT_OVERDUE_COUNT) for rule in UNIT_RULES
    ]
    assert units.evaluate([NGHE], now=RULES_NOW + 1) == []
    assert units.evaluate([NGHE], now=RULES_NOW + SIGNAL_REFRESH - 1) == []
    refreshed = units.evaluate([NGHE], now=RULES_NOW + SIGNAL_REFRESH)
    assert [(s.rule, s.active, s.at) for s in refreshed] == [
        (RuleName.UNIT_OVERDUE_COUNT, True, RULES_NOW + SIGNAL_REFRESH)
    ]
    cleared_at = RULES_NOW + SIGNAL_REFRESH + 10
    overdue_now(units, 0, cleared_at)
    cleared = units.evaluate([NGHE], now=cleared_at)
    assert [(s.rule, s.active) for s in cleared] == [(RuleName.UNIT_OVERDUE_COUNT, False)]
    assert units.evaluate([NGHE], now=cleared_at + 3 * SIGNAL_REFRESH) == []  # inactive: not repeated


# -- the board's view of a node ------------------------------------------------------------


def day_batches(
    *, on_time: int, late: int, overdue: int, received: int = 20
) -> list[tuple[int, NodeBatch | Tick | Progress]]:
    """``received`` items today, some resolved; the rest open (so nothing is carried over)."""
    at = RULES_NOW - H
    entries = [entry(n, at, "received", "opened", item=f"PA-{n}") for n in range(received)]
    entries += [
        entry(
            received + n,
            at + M,
            "resolved",
            "resolved_on_time" if n < on_time else "resolved_late",
            "closed",
            item=f"PA-{n}",
        )
        for n in range(on_time + late)
    ]
    still_open = received - on_time - late
    gauges = (PartitionGauges(0, still_open, overdue, 0, at if still_open else None),)
    return [(0, NodeBatch(NGHE, tuple(entries), gauges))]


@pytest.mark.parametrize(
    ("on_time", "late", "overdue", "colour"),
    [
        (10, 0, 0, "green"),  # on time 100%, late 0%
        (8, 2, 0, "orange"),  # on time 80%, late 10%
        (10, 0, 4, "red"),  # on time 100%, late (4 overdue) 20%: the worse colour wins
        (6, 4, 0, "red"),  # on time 60%
        (0, 0, 0, "green"),  # nothing resolved yet: the late rate alone decides
        (0, 0, 2, "orange"),  # late 10%
    ],
)
def test_board_colour_is_the_worse_of_on_time_and_late_rate(
    on_time: int, late: int, overdue: int, colour: str
) -> None:
    units = processor(Tables())
    units.process(day_batches(on_time=on_time, late=late, overdue=overdue), now=RULES_NOW)
    assert units.board(NGHE, now=RULES_NOW)["colour"] == colour


def test_board_colour_thresholds_come_from_the_rules_config() -> None:
    rules = RulesConfig(
        colours=Colours(on_time_green=0.8, on_time_orange=0.5, late_green=0.1, late_orange=0.2)
    )
    units = processor(Tables(), rules=rules)
    units.process(day_batches(on_time=8, late=2, overdue=0), now=RULES_NOW)
    assert units.board(NGHE, now=RULES_NOW)["colour"] == "green"


def test_board_of_a_node_without_data_is_grey() -> None:
    board = processor(Tables()).board(THANH, now=RULES_NOW)
    assert board["colour"] == "grey"
    assert (board["gauges"], board["at"], board["spark"]) == (Gauges().to_json(), None, [0] * 24)


def test_board_shows_the_unit_its_gauges_current_windows_and_sparkline() -> None:
    units = processor(Tables())
    units.process(day_batches(on_time=8, late=2, overdue=1), now=RULES_NOW)
    board = units.board(NGHE, now=RULES_NOW)
    assert {key: board[key] for key in ("code", "name_vi", "name_en", "kind", "parent", "at", "gauges")} == {
        "code": NGHE,
        "name_vi": "Phường Bến Nghé",
        "name_en": "Ben Nghe Ward, District 1",
        "kind": "ward",
        "parent": Q1,
        "at": RULES_NOW - H + M,
        "gauges": {"open": 10, "overdue": 1, "due_soon": 0, "oldest_open_at": RULES_NOW - H},
    }
    assert list(board["windows"]) == list(WINDOWS)
    day = board["windows"]["1d"]
    assert (day["received"], day["resolved"], day["on_time_rate"], day["carried_over"], day["late_rate"]) == (
        20,
        10,
        0.8,
        0,
        (1 + 2) / 20,
    )
    # Received per 5-minute window over the last two hours: all 20 in the 14:30 window.
    assert board["spark"] == [0] * 11 + [20] + [0] * 12


# -- refresh pacing ---------------------------------------------------------------------------


def test_pacer_runs_at_most_every_interval() -> None:
    pacer = Pacer(1.0, budget=0.05)
    assert pacer.due(100.0)
    pacer.ran(100.0, 100.01)  # 10 ms: within budget, the interval decides
    assert not pacer.due(100.99)
    assert pacer.due(101.0)


def test_pacer_keeps_an_expensive_job_within_its_share_of_the_time() -> None:
    pacer = Pacer(1.0, budget=0.25)
    pacer.ran(100.0, 100.5)  # 500 ms: next run 2 s after the start (25% of the time)
    assert not pacer.due(101.99)
    assert pacer.due(102.0)


@pytest.mark.parametrize(("interval", "budget"), [(-1.0, 0.5), (1.0, 0.0), (1.0, 1.5)])
def test_pacer_rejects_nonsense(interval: float, budget: float) -> None:
    with pytest.raises(ValueError, match="budget"):
        Pacer(interval, budget=budget)
