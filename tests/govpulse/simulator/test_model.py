"""The traffic model: deterministic, realistic in rhythm and mix, always valid unless asked."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime

import pytest

from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog
from domain.errors import ConfigError, InvalidEvent, InvalidTransition
from domain.events import EventType, Priority, parse_event, parse_instant
from domain.items import Item, ItemPolicy, apply_event
from domain.windows import WindowSpec
from govpulse.simulator.model import (
    CATEGORY_MIX,
    CHANNELS,
    FLAWS,
    HOSTILE_MARKUP,
    LEADERS,
    TASK_CATEGORY,
    Message,
    Traffic,
    TrafficConfig,
    WorkingTime,
    expand_catalog,
    load_weights,
)
from govpulse.simulator.oracle import Oracle, Truth
from govpulse.simulator.runner import topic_for
from runtime.settings import Settings
from runtime.topics import Topics

DAY = 86400.0
MONDAY = parse_instant("2026-11-30T00:00:00+07:00")
SAMPLE_START = parse_instant("2026-11-02T00:00:00+07:00")
SAMPLE_DAYS = 40
COHORT_DAYS = 10  # lifecycle shares are measured on items received in the first days


@pytest.fixture(scope="module")
def sample(make_traffic: Callable[..., Traffic]) -> tuple[Traffic, list[Message]]:
    traffic = make_traffic(items_per_day=500.0, tasks_per_day=20.0)
    messages = list(traffic.messages(SAMPLE_START, until=SAMPLE_START + SAMPLE_DAYS * DAY))
    return traffic, messages


@pytest.fixture(scope="module")
def sample_truth(
    sample: tuple[Traffic, list[Message]], policy: ItemPolicy, windows: tuple[WindowSpec, ...]
) -> Truth:
    _, messages = sample
    oracle = Oracle(policy, windows)
    for message in messages:
        oracle.feed_message(message)
    return oracle.finish(SAMPLE_START + SAMPLE_DAYS * DAY)


def cohort(messages: list[Message], kind: str = "feedback") -> dict[str, set[EventType]]:
    """Event types per item, for items of ``kind`` received in the first COHORT_DAYS."""
    types: dict[str, set[EventType]] = {}
    for message in messages:
        assert message.event is not None
        event = message.event
        if event.type is EventType.RECEIVED:
            if message.kind == kind and event.occurred_at < SAMPLE_START + COHORT_DAYS * DAY:
                types[event.item_id] = set()
        elif event.item_id in types:
            types[event.item_id].add(event.type)
    return types


def local_day(at: float) -> date:
    return datetime.fromtimestamp(at, LOCAL_TZ).date()


def first(traffic: Traffic, count: int, start: float = MONDAY) -> list[Message]:
    return list(itertools.islice(traffic.messages(start), count))


# -- determinism --------------------------------------------------------------------------


def test_same_seed_gives_identical_messages(make_traffic: Callable[..., Traffic]) -> None:
    one = first(make_traffic(seed=7), 3000)
    two = first(make_traffic(seed=7), 3000)
    assert [m.value for m in one] == [m.value for m in two]
    assert [m.key for m in one] == [m.key for m in two]


def test_repeated_runs_of_one_model_are_identical(make_traffic: Callable[..., Traffic]) -> None:
    traffic = make_traffic(seed=7)
    assert [m.value for m in first(traffic, 2000)] == [m.value for m in first(traffic, 2000)]


def test_different_seed_gives_different_messages(make_traffic: Callable[..., Traffic]) -> None:
    one = first(make_traffic(seed=1), 500)
    two = first(make_traffic(seed=2), 500)
    assert [m.value for m in one] != [m.value for m in two]
    assert make_traffic(seed=1).slow_units != make_traffic(seed=2).slow_units


def test_event_ids_are_unique_and_derive_from_the_seed(
    sample: tuple[Traffic, list[Message]],
) -> None:
    _, messages = sample
    ids = [m.event.event_id for m in messages if m.event is not None]
    assert len(ids) == len(set(ids))
    assert ids[0] == "sim2026-PA-2026-000001-01"


def test_messages_come_in_event_time_order_within_the_bounds(
    sample: tuple[Traffic, list[Message]],
) -> None:
    _, messages = sample
    times = [m.occurred_at for m in messages]
    assert times == sorted(times)
    assert times[0] >= SAMPLE_START and times[-1] < SAMPLE_START + SAMPLE_DAYS * DAY
    assert all(m.event is not None and m.event.occurred_at == m.occurred_at for m in messages)
    assert all(m.event is not None and m.key == m.event.item_id.encode() for m in messages)


def test_unbounded_run_keeps_going(make_traffic: Callable[..., Traffic]) -> None:
    traffic = make_traffic(items_per_day=50.0, tasks_per_day=0.0)
    messages = first(traffic, 5000)
    assert len(messages) == 5000
    assert messages[-1].occurred_at - MONDAY > 20 * DAY


# -- rhythm and mix -----------------------------------------------------------------------


def test_arrivals_follow_the_daily_rhythm_and_the_calendar(
    make_traffic: Callable[..., Traffic],
) -> None:
    traffic = make_traffic(items_per_day=2000.0, tasks_per_day=0.0)
    hours: Counter[int] = Counter()
    days: Counter[int] = Counter()
    for message in traffic.messages(MONDAY, until=MONDAY + 7 * DAY):
        assert message.event is not None
        if message.event.type is EventType.RECEIVED:
            local = datetime.fromtimestamp(message.occurred_at, LOCAL_TZ)
            hours[local.hour] += 1
            days[local.weekday()] += 1
    morning = sum(hours[h] for h in range(8, 12))
    night = sum(hours[h] for h in range(0, 6))
    assert morning > 5 * night
    assert min(days[d] for d in range(5)) > 2 * max(days[5], days[6])  # weekdays vs weekend
    assert 0.85 * 2000 < days[2] < 1.15 * 2000  # a working Wednesday


def test_holidays_are_quiet(make_traffic: Callable[..., Traffic], calendar: WorkCalendar) -> None:
    holiday = parse_instant("2026-09-02T00:00:00+07:00")  # National Day
    working = parse_instant("2026-09-08T00:00:00+07:00")  # a Tuesday
    assert not calendar.is_working_day(datetime.fromtimestamp(holiday, LOCAL_TZ).date())
    traffic = make_traffic(items_per_day=2000.0, tasks_per_day=0.0)

    def received(start: float) -> int:
        return sum(
            1
            for m in traffic.messages(start, until=start + DAY)
            if m.event is not None and m.event.type is EventType.RECEIVED
        )

    assert received(holiday) < 0.5 * received(working)


def test_category_priority_and_channel_mix(sample: tuple[Traffic, list[Message]]) -> None:
    _, messages = sample
    received = [
        m.event
        for m in messages
        if m.kind == "feedback" and m.event is not None and m.event.type is EventType.RECEIVED
    ]
    total = len(received)
    categories = Counter(event.category for event in received)
    mix_total = sum(CATEGORY_MIX.values())
    for category, weight in CATEGORY_MIX.items():
        assert categories[category] / total == pytest.approx(weight / mix_total, abs=0.015), category
    urgent = sum(event.priority is Priority.URGENT for event in received)
    assert urgent / total == pytest.approx(0.05, abs=0.01)
    channels = Counter(event.channel for event in received)
    for channel, share in CHANNELS.items():
        assert channels[channel] / total == pytest.approx(share, abs=0.02), channel


@pytest.mark.parametrize(
    ("event_type", "share", "tolerance"),
    [
        (EventType.ASSIGNED, 0.80, 0.02),
        (EventType.ACCEPTED, 0.90, 0.02),
        (EventType.TRANSFERRED, 0.10, 0.015),
        (EventType.EXTENDED, 0.06, 0.012),
        (EventType.PAUSED, 0.05, 0.012),
        (EventType.REOPENED, 0.03, 0.01),
        (EventType.CANCELLED, 0.02, 0.008),
    ],
)
def test_lifecycle_shares(
    sample: tuple[Traffic, list[Message]], event_type: EventType, share: float, tolerance: float
) -> None:
    _, messages = sample
    items = cohort(messages)
    assert len(items) > 3000
    observed = sum(event_type in types for types in items.values()) / len(items)
    assert observed == pytest.approx(share, abs=tolerance)


def test_nearly_every_cohort_item_is_closed_within_the_sample(
    sample: tuple[Traffic, list[Message]],
) -> None:
    _, messages = sample
    items = cohort(messages)
    closed = sum(bool(types & {EventType.RESOLVED, EventType.CANCELLED}) for types in items.values())
    assert closed / len(items) > 0.97


def test_feedback_goes_to_wards_communes_and_departments(
    sample: tuple[Traffic, list[Message]], catalog: Catalog
) -> None:
    _, messages = sample
    kinds = Counter(
        catalog.get(m.event.unit).kind
        for m in messages
        if m.kind == "feedback"
        and m.event is not None
        and m.event.type is EventType.RECEIVED
        and m.event.unit is not None
    )
    total = sum(kinds.values())
    assert kinds["department"] / total == pytest.approx(0.15, abs=0.02)
    assert kinds["ward"] > kinds["commune"] > kinds["special_zone"]


def test_titles_are_vietnamese_and_name_the_place(sample: tuple[Traffic, list[Message]]) -> None:
    _, messages = sample
    titles = [
        m.event.title
        for m in messages
        if m.event is not None and m.event.type is EventType.RECEIVED and m.event.title
    ]
    assert len(titles) == sum(
        1 for m in messages if m.event is not None and m.event.type is EventType.RECEIVED
    )
    assert any("hẻm" in title for title in titles)
    assert any(", Phường " in title for title in titles)
    assert len(set(titles)) > 0.8 * len(titles)


# -- validity -----------------------------------------------------------------------------


def test_every_message_parses_and_applies_without_rejection(
    sample: tuple[Traffic, list[Message]], policy: ItemPolicy
) -> None:
    _, messages = sample
    assert len(messages) > 60_000
    items: dict[str, Item] = {}
    for message in messages:
        event = parse_event(message.value)
        assert event == message.event
        outcome = apply_event(items.get(event.item_id), event, policy, kind=message.kind)
        assert not outcome.duplicate
        assert outcome.item is not None
        items[event.item_id] = outcome.item


def test_the_oracle_rejects_nothing_of_valid_traffic(sample_truth: Truth) -> None:
    assert sample_truth.rejected == 0
    assert sample_truth.duplicates == 0
    assert sample_truth.applied == sample_truth.events


def test_slow_units_breach_more_often(sample: tuple[Traffic, list[Message]], sample_truth: Truth) -> None:
    traffic, _ = sample
    assert len(traffic.slow_units) == round(0.1 * (len(traffic.local_units) + len(traffic.department_units)))

    def late_rate(units: frozenset[str] | set[str]) -> float:
        resolved = sum(sample_truth.totals.get(u, {}).get("resolved", 0) for u in units)
        late = sum(sample_truth.totals.get(u, {}).get("resolved_late", 0) for u in units)
        return late / resolved

    others = set(traffic.local_units + traffic.department_units) - traffic.slow_units
    slow, normal = late_rate(traffic.slow_units), late_rate(others)
    assert slow > 0.35
    assert normal < 0.12
    assert slow > 4 * normal


def test_tasks_carry_a_deadline_and_go_to_gov_tasks(
    sample: tuple[Traffic, list[Message]], settings: Settings, catalog: Catalog
) -> None:
    _, messages = sample
    tasks = [m for m in messages if m.kind == "task"]
    received = [m.event for m in tasks if m.event is not None and m.event.type is EventType.RECEIVED]
    assert len(received) > 400
    topics = Topics.for_settings(settings)
    assert {topic_for(m.kind, topics) for m in tasks} == {"gov.tasks"}
    assert all(m.item_id.startswith("NV-2026-") for m in tasks)
    for event in received:
        assert event.due_at is not None
        days = local_day(event.due_at) - local_day(event.occurred_at)
        assert 7 <= days.days <= 34
        assert event.assigned_by in LEADERS
        assert event.category == TASK_CATEGORY
    units = Counter(catalog.get(e.unit).kind for e in received if e.unit is not None)
    assert units["department"] > units["ward"] > 0
    assert received[0].item_id == "NV-2026-0001"


# -- hostile and invalid input --------------------------------------------------------------


def test_hostile_titles_at_the_configured_rate(make_traffic: Callable[..., Traffic]) -> None:
    traffic = make_traffic(hostile_rate=0.2)
    titles = [
        m.event.title or ""
        for m in first(traffic, 20_000)
        if m.event is not None and m.event.type is EventType.RECEIVED
    ]
    hostile = [t for t in titles if any(markup in t for markup in HOSTILE_MARKUP)]
    assert len(hostile) / len(titles) == pytest.approx(0.2, abs=0.03)
    assert any("<script>alert(1)</script>" in t for t in hostile)


def test_hostile_titles_change_nothing_else(make_traffic: Callable[..., Traffic]) -> None:
    plain = first(make_traffic(hostile_rate=0.0), 5000)
    spiced = first(make_traffic(hostile_rate=0.5), 5000)
    assert [(m.item_id, m.occurred_at) for m in plain] == [(m.item_id, m.occurred_at) for m in spiced]


def test_invalid_messages_are_added_without_changing_valid_traffic(
    make_traffic: Callable[..., Traffic], policy: ItemPolicy, windows: tuple[WindowSpec, ...]
) -> None:
    clean = first(make_traffic(), 4000)
    dirty = list(itertools.islice(make_traffic(invalid_rate=0.05).messages(MONDAY), 4200))
    valid = [m for m in dirty if m.flaw is None]
    flawed = [m for m in dirty if m.flaw is not None]
    assert [m.value for m in valid[:3900]] == [m.value for m in clean[:3900]]
    assert {m.flaw for m in flawed} == set(FLAWS)
    oracle = Oracle(policy, windows)
    for message in dirty:
        transitions = oracle.feed_message(message)
        if message.flaw is not None:
            assert transitions == []
    assert oracle.rejected == len(flawed)


@pytest.mark.parametrize("flaw", FLAWS)
def test_each_flaw_is_rejected_for_its_reason(
    make_traffic: Callable[..., Traffic], policy: ItemPolicy, flaw: str
) -> None:
    messages = list(itertools.islice(make_traffic(invalid_rate=0.2).messages(MONDAY), 3000))
    items: dict[str, Item] = {}
    seen = 0
    for message in messages:
        try:
            event = parse_event(message.value)
            outcome = apply_event(items.get(event.item_id), event, policy, kind=message.kind)
        except (InvalidEvent, InvalidTransition) as exc:
            assert message.flaw is not None, exc.reason
            if message.flaw == flaw:
                seen += 1
                expected = {
                    "bad_json": "not valid JSON",
                    "missing_field": "missing required field 'occurred_at'",
                    "unknown_type": "unknown type 'closed'",
                    "bad_instant": "field 'occurred_at'",
                    "unknown_unit": "unknown unit 'P-KHONG-TON-TAI'",
                    "duplicate_receive": "already received",
                    "orphan_event": "the first event of an item must be 'received'",
                }[flaw]
                assert expected in exc.reason
            continue
        assert message.flaw is None
        assert outcome.item is not None
        items[event.item_id] = outcome.item
    assert seen > 0


# -- configuration, catalogs and working time -------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"urgent_share": 1.5}, "urgent_share=1.5 must be between 0 and 1"),
        ({"invalid_rate": -0.1}, "invalid_rate=-0.1 must be between 0 and 1"),
        ({"items_per_day": -1.0}, "must be >= 0"),
        ({"items_per_day": 0.0, "tasks_per_day": 0.0}, "needs items_per_day > 0"),
    ],
)
def test_config_is_validated(overrides: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrafficConfig(**overrides)  # type: ignore[arg-type]


def test_traffic_over_the_three_level_catalog(
    settings: Settings, policy: ItemPolicy, windows: tuple[WindowSpec, ...]
) -> None:
    path = settings.units_file.with_name("units-2024.json")
    catalog = Catalog.from_file(path)
    traffic = Traffic(catalog, policy.sla, policy.calendar, weights=load_weights(path))
    assert all(catalog.get(code).kind in ("ward", "commune") for code in traffic.local_units)
    three = ItemPolicy(policy.calendar, policy.sla, catalog, policy.deadlines)
    oracle = Oracle(three, windows)
    for message in traffic.messages(MONDAY, until=MONDAY + 2 * DAY):
        oracle.feed_message(message)
    truth = oracle.finish(MONDAY + 2 * DAY)
    assert truth.rejected == 0
    districts = [unit.code for unit in catalog if unit.kind == "district"]
    rolled = sum(truth.totals.get(code, {}).get("received", 0) for code in districts)
    departments = sum(
        truth.totals.get(unit.code, {}).get("received", 0) for unit in catalog if unit.kind == "department"
    )
    assert rolled + departments == truth.totals["HCM"]["received"] > 0


def test_expanded_catalog_spreads_traffic_over_more_units(settings: Settings, policy: ItemPolicy) -> None:
    catalog, weights = expand_catalog(policy.catalog, load_weights(settings.units_file), units=250)
    assert len(catalog) == 250
    assert catalog.get("P-SIM-0001").parent == "HCM"
    traffic = Traffic(
        catalog,
        policy.sla,
        policy.calendar,
        config=TrafficConfig(items_per_day=20_000),
        weights=weights,
    )
    units = {m.event.unit for m in itertools.islice(traffic.messages(MONDAY), 40_000) if m.event is not None}
    assert len(units) >= 240


@pytest.mark.parametrize(
    ("start", "seconds"),
    [
        ("2026-11-26T09:00:00+07:00", 3600.0),
        ("2026-11-26T11:00:00+07:00", 3600.0),  # crosses lunch
        ("2026-11-27T16:30:00+07:00", 3600.0),  # crosses the weekend
        ("2026-11-28T10:00:00+07:00", 60.0),  # starts on a Saturday
        ("2026-11-26T22:00:00+07:00", 8 * 3600.0),  # a whole working day exactly
        ("2026-12-31T15:00:00+07:00", 30 * 3600.0),  # New Year
        ("2027-02-03T08:00:00+07:00", 40 * 3600.0),  # Tết
    ],
)
def test_working_time_agrees_with_the_calendar(calendar: WorkCalendar, start: str, seconds: float) -> None:
    at = parse_instant(start)
    work = WorkingTime(calendar, at)
    assert work.add(at, seconds) == calendar.add_working_seconds(at, seconds)
    end = at + 9 * DAY + 1234.5
    assert work.between(at, end) == pytest.approx(calendar.working_seconds_between(at, end))


@pytest.mark.slow
def test_benchmark_scale_spreads_items_over_the_padded_catalog_in_time_order(
    settings: Settings, policy: ItemPolicy
) -> None:
    # How fast this generates is measured in bench/ (throughput: workload.generate_eps).
    catalog, weights = expand_catalog(policy.catalog, load_weights(settings.units_file), units=220)
    traffic = Traffic(
        catalog,
        policy.sla,
        policy.calendar,
        config=TrafficConfig(items_per_day=20_000),
        weights=weights,
    )
    items, units = set(), set()
    last = MONDAY
    for message in itertools.islice(traffic.messages(MONDAY), 200_000):
        assert message.value and message.key == message.item_id.encode()
        assert message.occurred_at >= last
        last = message.occurred_at
        items.add(message.item_id)
        units.add(message.event.unit if message.event is not None else None)
    assert len(items) >= 50_000
    assert len(units) >= 200
