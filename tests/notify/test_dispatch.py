"""The dispatcher as timelines (Alertmanager's acceptance style): push events at t,
expect notifications in [a, b]. The notification log is the pure :func:`notify.model.plan`
over a dict, as the shell keeps it in Redis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from alerts.model import AlertEvent, AlertEventType, RuleName, Severity
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from notify.dispatch import Dispatcher
from notify.model import LogEntry, Notification, plan
from notify.routes import parse_routes
from tests.notify.conftest import CITY, MONDAY_9, ROOT, WARD, WARD2, alert, event

SECRET = "whsec_GFabdz+tBu2/T+AFWloSzS5gctk2ixgjvgMnmkun33s="


def config(route: str = "", *, inhibit: str = "") -> str:
    return f"""
[route]
receiver = "hook"
group_by = ["unit"]
group_wait = "30s"
group_interval = "5m"
repeat_interval = "4h"
active_hours = "always"
{route}
{inhibit}
[receivers.hook]
type = "webhook"
url = "http://127.0.0.1:9/hook"
secrets = ["{SECRET}"]
[receivers.other]
type = "webhook"
url = "http://127.0.0.1:9/other"
secrets = ["{SECRET}"]
"""


@dataclass(frozen=True)
class Sent:
    at: float
    notification: Notification


def run(
    text: str,
    pushes: Sequence[tuple[float, AlertEvent]],
    until: float,
    catalog: Catalog,
    calendar: WorkCalendar,
    *,
    start: float = MONDAY_9,
) -> list[Sent]:
    """Drive a dispatcher from ``start``: events at their offsets, ticks at each wake-up."""
    dispatcher = Dispatcher(parse_routes(text), catalog=catalog, calendar=calendar)
    log: dict[tuple[str, str], LogEntry] = {}
    sent: list[Sent] = []
    queue = sorted(pushes, key=lambda p: p[0])
    now = start
    end = start + until
    while now <= end:
        while queue and start + queue[0][0] <= now:
            dispatcher.on_event(queue.pop(0)[1], now)
        for flush in dispatcher.due(now):
            key = (flush.receiver, flush.group)
            notification, entry = plan(log.get(key), flush)
            if notification is not None and entry is not None:
                log[key] = entry
                sent.append(Sent(now - start, notification))
        candidates = [start + queue[0][0]] if queue else []
        wake = dispatcher.next_wakeup()
        if wake is not None:
            candidates.append(max(wake, now + 0.001))
        if not candidates:
            break
        now = min(candidates)
    return sent


def opened(subject: str, **changes: object) -> AlertEvent:
    return event(AlertEventType.OPENED, alert(subject, **changes))  # type: ignore[arg-type]


def test_first_alert_waits_group_wait_and_later_ones_join_the_group(
    catalog: Catalog, calendar: WorkCalendar
) -> None:
    sent = run(
        config(), [(0, opened("NV-1")), (10, opened("NV-2")), (40, opened("NV-3"))], 3600, catalog, calendar
    )
    assert [(s.at, len(s.notification.alerts)) for s in sent] == [(30, 2), (330, 3)]


@pytest.mark.parametrize(
    ("pushes", "expected"),
    [
        # nothing new, nobody acknowledged: repeated every repeat_interval (4h), on the group_interval grid
        ([(0, AlertEventType.OPENED)], [(30, "firing", False), (30 + 4 * 3600 + 300 * 0, "firing", True)]),
        # acknowledged before the first tick: nothing at all
        ([(0, AlertEventType.OPENED), (5, AlertEventType.ACKNOWLEDGED)], []),
        # acknowledged after the first notification: no repeat, ever
        ([(0, AlertEventType.OPENED), (600, AlertEventType.ACKNOWLEDGED)], [(30, "firing", False)]),
        # an open explanation request stops repeats too
        (
            [(0, AlertEventType.OPENED), (600, AlertEventType.EXPLANATION_REQUESTED)],
            [(30, "firing", False), (630, "firing", False)],
        ),
        # resolved after being told: one resolved notification at the next group_interval tick
        (
            [(0, AlertEventType.OPENED), (100, AlertEventType.RESOLVED)],
            [(30, "firing", False), (330, "resolved", False)],
        ),
        # resolved before anyone was told: no resolved notification (it goes only where its firing went)
        ([(0, AlertEventType.OPENED), (10, AlertEventType.RESOLVED)], []),
    ],
)
def test_repeats_acks_requests_and_resolutions(
    catalog: Catalog,
    calendar: WorkCalendar,
    pushes: list[tuple[float, AlertEventType]],
    expected: list[tuple[float, str, bool]],
) -> None:
    base = alert("NV-1")
    events = [(t, event(kind, base, at=MONDAY_9 + t)) for t, kind in pushes]
    sent = run(config(), events, 5 * 3600, catalog, calendar)
    got = [(s.at, s.notification.status, s.notification.repeat) for s in sent]
    # the repeat lands on the first group_interval tick at or after 4h
    if expected and expected[-1][2]:
        first = expected[0][0]
        ticks = first + 300 * -(-(4 * 3600) // 300)
        expected = [*expected[:-1], (ticks, "firing", True)]
    assert got == expected


def test_escalation_is_new_and_notified_at_the_next_tick(catalog: Catalog, calendar: WorkCalendar) -> None:
    base = alert("NV-1")
    escalated = event(
        AlertEventType.ESCALATED, base, at=MONDAY_9 + 60, escalation=2, severity=Severity.CRITICAL
    )
    sent = run(config(), [(0, event(AlertEventType.OPENED, base)), (60, escalated)], 600, catalog, calendar)
    assert [(s.at, s.notification.firing) for s in sent] == [
        (30, ("item_overdue:NV-1#1:e0",)),
        (330, ("item_overdue:NV-1#1:e2",)),
    ]


@pytest.mark.parametrize(
    ("start", "severity", "first_at"),
    [
        # Saturday 7 March 2026 22:00 local: warning waits for Monday 07:30 (33.5 h later)
        (1772895600.0, Severity.WARNING, 33.5 * 3600),
        # the same instant, critical: goes after group_wait
        (1772895600.0, Severity.CRITICAL, 30.0),
        # Monday 09:00: office hours, goes after group_wait
        (MONDAY_9, Severity.WARNING, 30.0),
        # Monday 11:29:50: the tick at 11:30:20 falls in the lunch break; waits for 13:00
        (MONDAY_9 + 2 * 3600 + 29 * 60 + 50, Severity.WARNING, 5410.0),
    ],
)
def test_non_critical_waits_for_office_hours_critical_goes_any_time(
    catalog: Catalog, calendar: WorkCalendar, start: float, severity: Severity, first_at: float
) -> None:
    office = config().replace('active_hours = "always"', 'active_hours = "office"')
    pushes = [(0.0, event(AlertEventType.OPENED, alert("NV-1", at=start, severity=severity)))]
    sent = run(office, pushes, 3 * 86400, catalog, calendar, start=start)
    assert sent[0].at == pytest.approx(first_at)
    assert not sent[0].notification.repeat


INHIBIT = """
[[inhibit]]
source = { unit_kind = "city" }
target = { unit_kind = ["ward", "commune", "special_zone"] }
equal = ["rule"]
within_source_unit = true
"""


def test_ward_alerts_are_inhibited_while_the_city_alert_of_the_same_rule_fires(
    catalog: Catalog, calendar: WorkCalendar
) -> None:
    rule = RuleName.UNIT_OVERDUE_COUNT
    city = alert(CITY, rule=rule, unit=CITY, audience=("leaders",))
    ward = alert(WARD, rule=rule, unit=WARD)
    other_rule = alert("S-" + WARD2, rule=RuleName.UNIT_SURGE, unit=WARD2)
    pushes = [
        (0, event(AlertEventType.OPENED, city)),
        (1, event(AlertEventType.OPENED, ward)),
        (2, event(AlertEventType.OPENED, other_rule)),
        (400, event(AlertEventType.RESOLVED, city, at=MONDAY_9 + 400)),
    ]
    sent = run(config(inhibit=INHIBIT), pushes, 1000, catalog, calendar)
    told = [(s.at, s.notification.units, s.notification.status) for s in sent]
    assert told == [
        (30, (CITY,), "firing"),
        (32, (WARD2,), "firing"),  # another rule: not inhibited
        (630, (CITY,), "resolved"),
        (631, (WARD,), "firing"),  # the city alert resolved: the ward is told now
    ]


def test_continue_sends_to_both_receivers_and_each_has_its_own_log(
    catalog: Catalog, calendar: WorkCalendar
) -> None:
    route = (
        '[[route.routes]]\nreceiver = "other"\nmatch = { severity = "critical" }\ncontinue = true\n'
        '[[route.routes]]\nreceiver = "hook"\nmatch = { rule = "item_overdue" }\n'
        '[[route.routes]]\nreceiver = "other"\nmatch = { rule = "item_overdue" }\n'
    )
    pushes = [(0, opened("NV-1", severity=Severity.CRITICAL))]
    sent = run(config(route), pushes, 100, catalog, calendar)
    assert sorted(s.notification.receiver for s in sent) == ["hook", "other"]
    assert len({s.notification.id for s in sent}) == 2


def test_a_burst_of_a_thousand_alerts_in_one_unit_is_one_message_in_the_first_minute(
    catalog: Catalog, calendar: WorkCalendar
) -> None:
    pushes = [(i * 0.03, opened(f"NV-{i}")) for i in range(1000)]
    sent = run(config(inhibit=INHIBIT), pushes, 60, catalog, calendar)
    assert [(s.at, len(s.notification.alerts)) for s in sent] == [(30, 1000)]


def test_a_silenced_alert_is_not_notified(catalog: Catalog, calendar: WorkCalendar) -> None:
    sent = run(config(), [(0, opened("NV-1", silenced=True))], 600, catalog, calendar)
    assert sent == []


def test_the_notification_id_is_stable_for_the_same_transition(
    catalog: Catalog, calendar: WorkCalendar
) -> None:
    pushes = [(0, opened("NV-1")), (5, opened("NV-2"))]
    first = run(config(), pushes, 100, catalog, calendar)
    again = run(config(), pushes, 100, catalog, calendar)
    assert [s.notification.id for s in first] == [s.notification.id for s in again]
    other = run(config(), [(0, opened("NV-1"))], 100, catalog, calendar)
    assert other[0].notification.id != first[0].notification.id


def test_offsets_are_committable_only_after_their_group_flushed(
    catalog: Catalog, calendar: WorkCalendar
) -> None:
    dispatcher = Dispatcher(parse_routes(config()), catalog=catalog, calendar=calendar)
    dispatcher.on_event(opened("NV-1"), MONDAY_9, offset=("t", 0, 7))
    dispatcher.on_event_offset_only(("t", 0, 8))
    assert dispatcher.committable() == {("t", 0): 7}
    flushes = dispatcher.due(MONDAY_9 + 30)
    assert dispatcher.committable() == {("t", 0): 7}  # flushed, outcome not yet recorded
    dispatcher.done(flushes)
    assert dispatcher.committable() == {("t", 0): 9}


def test_packaged_routes_tell_the_unit_of_a_request_and_the_leaders_of_the_answer(
    catalog: Catalog, calendar: WorkCalendar
) -> None:
    packaged = (ROOT / "notify" / "data" / "routes.toml").read_text(encoding="utf-8")
    base = alert("NV-1")
    asked = event(AlertEventType.EXPLANATION_REQUESTED, base, at=MONDAY_9 + 600)
    answered = event(AlertEventType.EXPLAINED, asked.alert, at=MONDAY_9 + 1200)
    pushes = [(0, event(AlertEventType.OPENED, base)), (600, asked), (1200, answered)]
    sent = run(packaged, pushes, 3600, catalog, calendar)
    told = [(s.at, s.notification.receiver, s.notification.firing) for s in sent]
    assert told == [
        (30, "units-push", ("item_overdue:NV-1#1:e0",)),
        (30, "leaders-push", ("item_overdue:NV-1#1:e0",)),
        (630, "units-push", ("item_overdue:NV-1#1:ask1", "item_overdue:NV-1#1:e0")),
        (1205, "leaders-push", ("item_overdue:NV-1#1:ans1",)),
    ]
