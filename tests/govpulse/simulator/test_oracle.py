"""The oracle: hand-made timelines with known counters, breaches and escalations."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from domain.catalog import Catalog
from domain.events import Event, EventType, Priority, parse_instant
from domain.items import DeadlinePolicy, ItemKind, ItemPolicy
from domain.windows import WindowSpec
from govpulse.simulator.model import Traffic
from govpulse.simulator.oracle import Oracle, Truth, split_key, truth_key
from runtime.settings import Settings

HOUR = 3600.0
LADDER = DeadlinePolicy(escalation_delays=(4 * HOUR, 8 * HOUR, 16 * HOUR))


def at(text: str) -> float:
    return parse_instant(f"{text}+07:00")


@pytest.fixture
def oracle(policy: ItemPolicy, windows: tuple[WindowSpec, ...]) -> Oracle:
    return Oracle(ItemPolicy(policy.calendar, policy.sla, policy.catalog, LADDER), windows)


def event(item: str, number: int, kind: EventType, when: str, **fields: Any) -> bytes:
    return Event(f"{item}-{number}", item, kind, at(when), **fields).encode()


def cells(truth: Truth, node: str) -> dict[str, dict[str, int]]:
    """The counters of ``node`` keyed ``window|local start`` for readable expectations."""
    from domain.events import format_instant

    out: dict[str, dict[str, int]] = {}
    for key, counts in truth.counters.items():
        name, window, start = split_key(key)
        if name == node:
            out[f"{window}|{format_instant(start)[:16]}"] = dict(counts)
    return out


LATE_ITEM = [
    ("received", "2026-11-26T09:00:00", {"unit": "P-BEN-THANH", "category": "moi-truong"}),
    ("assigned", "2026-11-26T10:12:00", {"unit": "P-BEN-THANH"}),
    ("accepted", "2026-11-26T10:40:00", {}),
    ("resolved", "2026-12-04T10:00:00", {}),
]


def feed(oracle: Oracle, item: str, steps: list[tuple[str, str, dict[str, Any]]], **kw: Any) -> None:
    for number, (kind, when, fields) in enumerate(steps, start=1):
        oracle.feed(event(item, number, EventType(kind), when, **fields), **kw)


def test_late_item_counts_in_every_window_of_the_ward_and_the_city(oracle: Oracle) -> None:
    feed(oracle, "PA-2026-000001", LATE_ITEM)
    truth = oracle.finish(at("2026-12-31T00:00:00"))
    opened = {"received": 1, "opened": 1}
    overdue = {"became_overdue": 1}
    done = {"resolved": 1, "resolved_late": 1, "closed": 1, "resolved_feedback": 1, "late_closed": 1}
    expected = {
        "5m|2026-11-26T09:00": opened,
        "1h|2026-11-26T09:00": opened,
        "1d|2026-11-26T00:00": opened,
        "5m|2026-12-03T17:00": overdue,
        "1h|2026-12-03T17:00": overdue,
        "1d|2026-12-03T00:00": overdue,
        "5m|2026-12-04T10:00": done,
        "1h|2026-12-04T10:00": done,
        "1d|2026-12-04T00:00": done,
        "period|2026-11-25T12:00": {**opened, **overdue, **done},
    }
    # Report months also count the flow counters per category and work mode (none given).
    period = dict(expected["period|2026-11-25T12:00"])
    expected["period|2026-11-25T12:00"] = period
    category = "moi-truong"
    for counter in ("received", "became_overdue", "resolved", "resolved_late"):
        period[f"{counter}@c:{category}"] = period[f"{counter}@m:unknown"] = 1
    assert cells(truth, "P-BEN-THANH") == expected
    assert cells(truth, "HCM") == expected
    assert len(truth.counters) == 20
    assert truth.breaches == ("PA-2026-000001",)
    assert truth.escalations == {}
    assert (truth.events, truth.applied, truth.rejected) == (4, 4, 0)
    assert truth.counter("HCM", "1d", at("2026-12-04T00:00:00"), "resolved_late") == 1


def test_latency_and_sla_share_are_kept_per_window(oracle: Oracle) -> None:
    feed(oracle, "PA-2026-000001", LATE_ITEM)
    truth = oracle.finish(at("2026-12-31T00:00:00"))
    key = truth_key("P-BEN-THANH", "1d", at("2026-12-04T00:00:00"))
    # 8 days and 1 hour; 49 working hours used of 46.5 allowed (07:30-11:30, 13:00-17:00).
    assert truth.latency[key] == [8 * 86400 + HOUR]
    assert truth.sla_used[key] == pytest.approx([49 / 46.5])
    assert truth.latency[truth_key("HCM", "period", at("2026-11-25T12:00:00"))] == [8 * 86400 + HOUR]


def test_transfer_moves_the_item_between_units_and_the_city_sees_both(oracle: Oracle) -> None:
    feed(
        oracle,
        "PA-2026-000002",
        [
            ("received", "2026-11-26T09:00:00", {"unit": "P-SAI-GON", "category": "dat-dai"}),
            ("transferred", "2026-11-26T14:00:00", {"unit": "SO-NONG-NGHIEP-VA-MOI-TRUONG"}),
            ("resolved", "2026-11-27T10:00:00", {}),
        ],
    )
    truth = oracle.finish(at("2026-11-28T00:00:00"))
    assert cells(truth, "P-SAI-GON")["1d|2026-11-26T00:00"] == {
        "received": 1,
        "opened": 1,
        "transferred_out": 1,
        "closed": 1,
    }
    department = cells(truth, "SO-NONG-NGHIEP-VA-MOI-TRUONG")
    assert department["1h|2026-11-26T14:00"] == {"transferred_in": 1, "opened": 1}
    assert department["1d|2026-11-27T00:00"] == {
        "resolved": 1,
        "resolved_on_time": 1,
        "closed": 1,
        "resolved_feedback": 1,
        "resolved_on_time_feedback": 1,
    }
    city = cells(truth, "HCM")
    assert city["1d|2026-11-26T00:00"] == {
        "received": 1,
        "opened": 2,
        "transferred_out": 1,
        "transferred_in": 1,
        "closed": 1,
    }
    assert truth.totals["HCM"] == {
        "received": 1,
        "opened": 2,
        "transferred_out": 1,
        "transferred_in": 1,
        "closed": 2,
        "resolved": 1,
        "resolved_on_time": 1,
        "resolved_feedback": 1,
        "resolved_on_time_feedback": 1,
    }
    # The department is judged on its own time: 20 hours since the transfer.
    key = truth_key("SO-NONG-NGHIEP-VA-MOI-TRUONG", "1d", at("2026-11-27T00:00:00"))
    assert truth.latency[key] == [20 * HOUR]
    assert truth.breaches == ()


@pytest.mark.parametrize(
    ("as_of", "level"),
    [
        ("2026-12-03T17:00:00", 0),  # overdue fires at the deadline, not yet escalated
        ("2026-12-04T11:29:00", 0),
        ("2026-12-04T11:30:00", 1),  # 4 working hours after the deadline
        ("2026-12-07T11:30:00", 2),  # 8 more
        ("2026-12-09T11:29:59", 2),
        ("2026-12-09T11:30:00", 3),  # 16 more
        ("2027-01-31T00:00:00", 3),  # the ladder has three steps
    ],
)
def test_open_item_escalates_as_of_the_end(oracle: Oracle, as_of: str, level: int) -> None:
    feed(oracle, "PA-2026-000003", LATE_ITEM[:3])
    truth = oracle.finish(at(as_of))
    assert truth.breaches == ("PA-2026-000003",)
    assert truth.escalations == ({"PA-2026-000003": level} if level else {})
    assert truth.counter("HCM", "1d", at("2026-12-03T00:00:00"), "became_overdue") == 1


def test_nothing_breaches_before_the_deadline(oracle: Oracle) -> None:
    feed(oracle, "PA-2026-000003", LATE_ITEM[:3])
    truth = oracle.finish(at("2026-12-03T16:59:59"))
    assert truth.breaches == ()
    assert truth.totals["P-BEN-THANH"] == {"received": 1, "opened": 1}


def test_rejected_and_duplicate_messages_count_nothing(oracle: Oracle) -> None:
    received = event("PA-2026-000004", 1, EventType.RECEIVED, "2026-11-26T09:00:00", unit="P-SAI-GON")
    oracle.feed(received)
    oracle.feed(received)  # redelivered: same event id
    oracle.feed(b'{"event_id": "x", "item_id": "PA-2026-000005", "type": "rece')
    oracle.feed(event("PA-2026-000006", 1, EventType.RESOLVED, "2026-11-26T09:05:00"))
    oracle.feed(event("PA-2026-000007", 1, EventType.RECEIVED, "2026-11-26T09:06:00", unit="P-NOWHERE"))
    oracle.feed(event("PA-2026-000004", 2, EventType.REOPENED, "2026-11-26T09:07:00"))
    truth = oracle.finish(at("2026-11-27T00:00:00"))
    assert (truth.events, truth.applied, truth.duplicates, truth.rejected) == (6, 1, 1, 4)
    assert truth.rejected_by == {"InvalidEvent": 1, "InvalidTransition": 3}
    assert truth.totals == {
        "P-SAI-GON": {"received": 1, "opened": 1},
        "HCM": {"received": 1, "opened": 1},
    }


def test_oversized_messages_are_rejected(policy: ItemPolicy, windows: tuple[WindowSpec, ...]) -> None:
    oracle = Oracle(policy, windows, max_bytes=256)
    oracle.feed(
        event(
            "PA-2026-000008",
            1,
            EventType.RECEIVED,
            "2026-11-26T09:00:00",
            unit="P-SAI-GON",
            title="x" * 300,
        )
    )
    assert oracle.finish(at("2026-11-27T00:00:00")).rejected_by == {"InvalidEvent": 1}


def test_tasks_use_their_explicit_deadline(oracle: Oracle) -> None:
    feed(
        oracle,
        "NV-2026-0042",
        [
            (
                "received",
                "2026-11-26T09:00:00",
                {
                    "unit": "SO-XAY-DUNG",
                    "category": "nhiem-vu",
                    "priority": Priority.NORMAL,
                    "due_at": at("2026-12-10T17:00:00"),
                    "assigned_by": "Chủ tịch UBND Thành phố",
                },
            ),
            ("accepted", "2026-11-26T10:00:00", {}),
        ],
        kind=ItemKind.TASK,
    )
    assert oracle.items["NV-2026-0042"].kind is ItemKind.TASK
    truth = oracle.finish(at("2026-12-11T00:00:00"))
    assert truth.counter("SO-XAY-DUNG", "1h", at("2026-12-10T17:00:00"), "became_overdue") == 1
    assert truth.breaches == ("NV-2026-0042",)


def test_three_level_catalog_rolls_up_through_the_district(
    settings: Settings, policy: ItemPolicy, windows: tuple[WindowSpec, ...]
) -> None:
    catalog = Catalog.from_file(settings.units_file.with_name("units-2024.json"))
    oracle = Oracle(ItemPolicy(policy.calendar, policy.sla, catalog, LADDER), windows)
    oracle.feed(event("PA-2024-000001", 1, EventType.RECEIVED, "2026-11-26T09:00:00", unit="Q1-P-BEN-NGHE"))
    truth = oracle.finish(at("2026-11-26T10:00:00"))
    assert set(truth.totals) == {"Q1-P-BEN-NGHE", "Q-1", "HCM"}
    assert len(truth.counters) == 12


def test_finish_is_final(oracle: Oracle) -> None:
    feed(oracle, "PA-2026-000001", LATE_ITEM[:1])
    first = oracle.finish(at("2026-12-31T00:00:00"))
    assert oracle.finish(at("2026-12-31T00:00:00")) == first
    with pytest.raises(RuntimeError, match="finished"):
        oracle.feed(event("PA-2026-000009", 1, EventType.RECEIVED, "2026-11-26T09:00:00", unit="P-SAI-GON"))


def test_truth_round_trips_through_json(oracle: Oracle, tmp_path: Path) -> None:
    feed(oracle, "PA-2026-000001", LATE_ITEM)
    feed(oracle, "PA-2026-000003", [(k, w, f) for k, w, f in LATE_ITEM[:1]])
    oracle.feed(b"not json")
    truth = oracle.finish(at("2026-12-31T00:00:00"))
    assert Truth.from_json(orjson.loads(orjson.dumps(truth.to_json()))) == truth
    truth.save(tmp_path / "truth.json")
    assert Truth.load(tmp_path / "truth.json") == truth
    document = orjson.loads((tmp_path / "truth.json").read_bytes())
    assert set(document) >= {"as_of", "counters", "breaches", "escalations", "rejected", "events"}
    assert document["counters"][f"HCM|1d|{int(at('2026-11-26T00:00:00'))}"] == {
        "received": 2,
        "opened": 2,
    }
    with pytest.raises(ValueError, match="not a truth document"):
        Truth.from_json({"counters": {}})


def test_summary_lists_the_city_first_then_the_least_on_time(oracle: Oracle, catalog: Catalog) -> None:
    feed(oracle, "PA-2026-000001", LATE_ITEM)
    feed(
        oracle,
        "PA-2026-000010",
        [
            ("received", "2026-11-26T09:00:00", {"unit": "P-SAI-GON"}),
            ("resolved", "2026-11-26T10:00:00", {}),
        ],
    )
    lines = oracle.finish(at("2026-12-31T00:00:00")).summary(catalog).splitlines()
    assert lines[0].startswith("ground truth as of 2026-12-31T00:00:00.000+07:00: 6 events, 6 applied")
    assert lines[3].startswith("HCM Thành phố Hồ Chí Minh")
    assert lines[3].split()[-1] == "50.0%"
    assert lines[4].startswith("P-BEN-THANH Phường Bến Thành")
    assert lines[5].startswith("P-SAI-GON Phường Sài Gòn")


def test_truth_of_simulated_traffic_is_consistent(
    make_traffic: Callable[..., Traffic], policy: ItemPolicy, windows: tuple[WindowSpec, ...]
) -> None:
    start = at("2026-11-30T00:00:00")
    messages = list(make_traffic(items_per_day=1500.0).messages(start, until=start + 5 * 86400))
    truths = []
    for _ in range(2):
        oracle = Oracle(policy, windows)
        for message in messages:
            oracle.feed_message(message)
        truths.append(oracle.finish(start + 5 * 86400))
    truth = truths[0]
    assert truths[1] == truth
    root = policy.catalog.root
    children = [code for code in truth.totals if code != root]
    for counter in ("received", "resolved", "became_overdue", "transferred_in"):
        assert truth.totals[root][counter] == sum(truth.totals[c].get(counter, 0) for c in children)
        for window in ("5m", "1h", "1d"):
            in_windows = sum(
                counts.get(counter, 0)
                for key, counts in truth.counters.items()
                if split_key(key)[:2] == (root, window)
            )
            assert in_windows == truth.totals[root][counter]
    resolved = sum(
        len(samples) for key, samples in truth.latency.items() if split_key(key)[:2] == (root, "1d")
    )
    assert resolved == truth.totals[root]["resolved"]
    assert truth.totals[root]["transferred_in"] == truth.totals[root]["transferred_out"]


def test_feed_message_uses_the_bytes_on_the_wire(
    make_traffic: Callable[..., Traffic], policy: ItemPolicy, windows: tuple[WindowSpec, ...]
) -> None:
    messages = list(itertools.islice(make_traffic(invalid_rate=0.1).messages(at("2026-11-30T00:00:00")), 500))
    by_message, by_bytes = Oracle(policy, windows), Oracle(policy, windows)
    for message in messages:
        by_message.feed_message(message)
        by_bytes.feed(message.value, kind=message.kind)
    end = at("2026-12-31T00:00:00")
    assert by_message.finish(end) == by_bytes.finish(end)
