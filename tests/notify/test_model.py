"""Labels, elements and the notification log's decision (Alertmanager's dedup stage)."""

from __future__ import annotations

from collections.abc import Collection

import pytest

from alerts.model import AlertEventType, State
from domain.catalog import Catalog
from notify.model import Flush, LogEntry, elements_of, group_key, labels_of, notification_id, plan
from tests.notify.conftest import WARD, alert, event


def test_labels_of_an_event(catalog: Catalog) -> None:
    labels = labels_of(event(AlertEventType.ESCALATED, alert("NV-1", escalation=2)), catalog)
    assert labels == {
        "rule": "item_overdue",
        "severity": "warning",
        "unit": WARD,
        "unit_kind": "ward",
        "escalation": 2,
        "audience": ("wall", "leaders", f"unit:{WARD}", "unit"),
        "event": "escalated",
        "fingerprint": "item_overdue:NV-1",
    }


@pytest.mark.parametrize(
    ("group_by", "expected"),
    [
        (("unit",), "r{unit=P-SAI-GON}"),
        (("unit", "rule"), "r{unit=P-SAI-GON,rule=item_overdue}"),
        (("...",), "r{fingerprint=item_overdue:NV-1}"),
    ],
)
def test_group_keys(catalog: Catalog, group_by: tuple[str, ...], expected: str) -> None:
    assert (
        group_key("r", group_by, labels_of(event(AlertEventType.OPENED, alert("NV-1")), catalog)) == expected
    )


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ([AlertEventType.OPENED], {"item_overdue:NV-1#1:e0"}),
        ([AlertEventType.ACKNOWLEDGED], set()),
        ([AlertEventType.EXPLANATION_REQUESTED], {"item_overdue:NV-1#1:e0", "item_overdue:NV-1#1:ask1"}),
        (
            [AlertEventType.EXPLANATION_REQUESTED, AlertEventType.EXPLAINED],
            {"item_overdue:NV-1#1:e0", "item_overdue:NV-1#1:ans1"},
        ),
        ([AlertEventType.RESOLVED], set()),
    ],
)
def test_elements_name_what_a_receiver_should_have_heard(
    kinds: list[AlertEventType], expected: set[str]
) -> None:
    current = alert("NV-1")
    for kind in kinds:
        current = event(kind, current).alert
    assert elements_of(current) == expected


def flush(
    firing: set[str], resolved: Collection[str] = (), *, at: float = 100.0, repeatable: bool = True
) -> Flush:
    return Flush(
        "hook",
        "g",
        "route",
        at,
        (alert("NV-1"), alert("NV-2", state=State.RESOLVED)),
        frozenset(firing),
        frozenset(resolved),
        repeatable,
        3600.0,
    )


E1, E2 = "item_overdue:NV-1#1:e0", "item_overdue:NV-2#1:e0"


@pytest.mark.parametrize(
    ("entry", "flush_", "sent", "firing", "resolved"),
    [
        (None, flush({E1}), True, {E1}, set()),
        (None, flush(set(), {"item_overdue:NV-2#1"}), False, None, None),  # never told it fired
        (LogEntry(frozenset({E1}), sent_at=90.0, seq=1), flush({E1}), False, None, None),  # nothing new
        (
            LogEntry(frozenset({E1}), sent_at=90.0, seq=1),
            flush({E1}, at=3690.0),
            True,
            {E1},
            set(),
        ),  # repeat due
        (
            LogEntry(frozenset({E1}), sent_at=90.0, seq=1),
            flush({E1}, at=3690.0, repeatable=False),
            False,
            None,
            None,
        ),
        (
            LogEntry(frozenset({E1, E2}), sent_at=90.0, seq=1),
            flush({E1}, {"item_overdue:NV-2#1"}),
            True,
            {E1},
            {"item_overdue:NV-2#1"},
        ),
        # a resolution already sent is not sent again
        (
            LogEntry(frozenset({E1}), frozenset({"item_overdue:NV-2#1"}), 90.0, 2),
            flush({E1}, {"item_overdue:NV-2#1"}),
            False,
            None,
            None,
        ),
    ],
)
def test_plan_sends_only_what_the_receiver_does_not_know(
    entry: LogEntry | None, flush_: Flush, sent: bool, firing: set[str] | None, resolved: set[str] | None
) -> None:
    notification, stored = plan(entry, flush_)
    assert (notification is not None) == sent
    if notification is not None and stored is not None:
        assert (set(notification.firing), set(notification.resolved)) == (firing, resolved)
        assert stored.seq == (entry.seq if entry else 0) + 1 and stored.last_id == notification.id
        assert notification.id == notification_id(
            "hook", "g", stored.seq, flush_.firing, frozenset(resolved or ())
        )


def test_log_entries_and_notifications_round_trip() -> None:
    entry = LogEntry(frozenset({E1}), frozenset({"x#1"}), 5.0, 3, "ntf_x")
    assert LogEntry.decode(entry.encode()) == entry
    notification, _ = plan(None, flush({E1}))
    assert notification is not None
    assert type(notification).decode(notification.encode()) == notification
