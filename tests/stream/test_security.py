"""Citizen text never reaches an alert's titles or texts.

An item's title (and note, channel, assigned_by), even when it holds markup or template
syntax, goes through the item and alert stages; it is carried, verbatim, only in
``facts.item_title`` (rendered as text by the pages; tests/web/test_pages.py checks the
browser side).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from alerts.config import RulesConfig
from alerts.model import AlertEvent
from domain.events import format_instant, parse_instant
from govpulse.simulator.oracle import item_policy
from runtime.settings import load_settings
from stream.gauges import GaugeIndex
from stream.stages.alerts import SIGNAL, AlertProcessor
from stream.stages.items import FEEDBACK, TICKS, ItemProcessor, Message, encode_tick

HOSTILE_TITLES = [
    "<img src=x onerror=alert(1)> Rác thải",
    "<script>alert('xss')</script>Ngập nước đường Lê Văn Sỹ",
    "</title><h1>QUÁ HẠN</h1><!--",
    "Phản ánh &lt;b&gt;lấn chiếm&lt;/b&gt; &amp; tiếng ồn",
    "{{7*7}} ${jndi:ldap://x/a} %s%n javascript:alert(1)",
    "\u202eLỗi đèn\u200b chiếu sáng\u0000 \"quoted\" 'single'",
]


def hostile_item_alerts(title: str) -> list[AlertEvent]:
    """An item with ``title`` received, then due soon, overdue and escalated by deadline
    ticks, through the item and alert stages; every alert event produced."""
    settings = load_settings({})
    policy = item_policy(settings)
    rules = RulesConfig.from_file(settings.rules_file)
    items: dict[bytes, bytes] = {}
    alerts: dict[bytes, bytes] = {}
    processor = ItemProcessor(
        policy,
        rules,
        load=items.get,
        gauges=GaugeIndex(policy.catalog),
        max_event_bytes=settings.max_event_bytes,
        max_future_skew=settings.max_future_skew,
    )
    alerting = AlertProcessor(rules=rules, catalog=policy.catalog, calendar=policy.calendar, load=alerts.get)
    received = parse_instant("2026-12-01T09:00:00+07:00")
    event = {
        "event_id": "e1",
        "item_id": "PA-2026-000777",
        "type": "received",
        "occurred_at": format_instant(received),
        "unit": "P-BEN-THANH",
        "category": "moi-truong",
        "title": title,
        "note": title,
        "channel": title[:64],
        "assigned_by": title,
    }
    message = Message(FEEDBACK, "gov.feedback", 0, 0, b"PA-2026-000777", orjson.dumps(event))
    now = received
    produced: list[AlertEvent] = []
    for offset in range(1, 8):
        result = processor.process([message], now=now)
        assert result.dead_letters == []
        for writes in result.writes.values():
            items.update({k: v for k, v in writes.items() if v is not None})
        signals = [
            Message(SIGNAL, "gov.signals", 0, i, s.fingerprint.encode(), s.encode())
            for i, s in enumerate(result.signals)
        ]
        outcome = alerting.process(signals, now=now)
        assert outcome.dead_letters == []
        for writes in outcome.writes.values():
            alerts.update({k: v for k, v in writes.items() if v is not None})
        produced += outcome.events
        ((_, _, at),) = result.schedule
        if at is None:
            break
        now = at
        message = Message(
            TICKS, "gov.item-ticks", 0, offset, b"PA-2026-000777", encode_tick("PA-2026-000777", at)
        )
    return produced


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_alert_titles_and_texts_never_contain_the_item_title(title: str) -> None:
    events = hostile_item_alerts(title)

    kinds = {(e.alert.rule, e.type.value) for e in events}
    assert {
        ("item_due_soon", "opened"),
        ("item_overdue", "opened"),
        ("item_overdue", "escalated"),
    } <= kinds
    markup = [part for part in ("<", ">", "&", "{{", "${", "\u202e") if part in title]
    for event in events:
        alert = event.alert
        for text in (alert.title_vi, alert.title_en, alert.text_vi, alert.text_en):
            assert title not in text and title[:12] not in text, text
            assert not [part for part in markup if part in text], text
        assert alert.facts["item_title"] == title[:300]  # kept verbatim, as data
        board: dict[str, Any] = alert.to_board()
        assert [key for key, value in board.items() if isinstance(value, str) and title[:12] in value] == []


STAFF = "cb-secret-4711"


def test_a_staff_id_is_never_in_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """Valid, refused and impossible events carrying an assignee, at DEBUG level: the staff
    id reaches the item (and the reports) but no log record of the item stage."""
    settings = load_settings({})
    policy = item_policy(settings)
    items: dict[bytes, bytes] = {}
    processor = ItemProcessor(
        policy,
        RulesConfig.from_file(settings.rules_file),
        load=items.get,
        gauges=GaugeIndex(policy.catalog),
        max_event_bytes=settings.max_event_bytes,
        max_future_skew=settings.max_future_skew,
    )
    at = format_instant(parse_instant("2026-12-01T09:00:00+07:00"))
    base = {"item_id": "PA-2026-000778", "occurred_at": at, "assignee": STAFF, "work_mode": "home"}
    events = [
        {**base, "event_id": "a1", "type": "received", "unit": "P-BEN-THANH"},
        {**base, "event_id": "a2", "type": "received", "unit": "P-BEN-THANH"},  # impossible: again
        {**base, "event_id": "a3", "type": "assigned", "unit": "P-BEN-THANH", "assignee": STAFF + " <x>"},
        {**base, "event_id": "a4", "type": "progress", "work_mode": "remote"},
        {**base, "event_id": "a5", "type": "resolved", "item_id": "PA-2026-000779"},  # unknown item
    ]
    messages = [
        Message(FEEDBACK, "gov.feedback", 0, offset, e["item_id"].encode(), orjson.dumps(e))
        for offset, e in enumerate(events)
    ]
    with caplog.at_level("DEBUG"):
        result = processor.process(messages, now=parse_instant("2026-12-01T10:00:00+07:00"))
    assert len(result.dead_letters) == 4
    assert all(STAFF not in letter.reason for letter in result.dead_letters)
    assert caplog.records  # the refusals were logged...
    assert STAFF not in caplog.text  # ...without the staff id
    assert result.timeline["PA-2026-000778"][1] is not None
    assert result.timeline["PA-2026-000778"][1].assignee == STAFF  # kept where it belongs
