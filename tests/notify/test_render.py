"""What each channel carries: webhook body, e-mail parts, push payload."""

from __future__ import annotations

import email
import email.policy

import orjson
import pytest

from alerts.model import AlertEventType, Severity
from notify.model import Notification
from notify.render import email_html, email_message, message_id_domain, push_payload, subject, webhook_body
from tests.notify.conftest import alert, event

HOSTILE = '<script>alert("x")</script> & "quotes"'


def notification(
    *, count: int = 1, severity: Severity = Severity.WARNING, status: str = "firing"
) -> Notification:
    alerts = []
    for i in range(count):
        base = alert(f"NV-{i}", severity=severity)
        asked = event(AlertEventType.EXPLANATION_REQUESTED, base).alert
        alerts.append(event(AlertEventType.EXPLAINED, asked).alert)
    return Notification("ntf_1", "r", "g", status, 1772416800.0, tuple(alerts), ("a",), ())


@pytest.mark.parametrize(
    ("count", "severity", "status", "language", "expected"),
    [
        (1, Severity.WARNING, "firing", "vi", "[CẢNH BÁO] Quá hạn: NV-0"),
        (3, Severity.CRITICAL, "firing", "en", "[CRITICAL] Overdue: NV-0 (+2 more)"),
        (2, Severity.WARNING, "resolved", "vi", "[ĐÃ HẾT] Quá hạn: NV-0 (+1 cảnh báo khác)"),
    ],
)
def test_subjects(count: int, severity: Severity, status: str, language: str, expected: str) -> None:
    assert subject(notification(count=count, severity=severity, status=status), language) == expected


def test_every_shown_value_is_escaped_in_html() -> None:
    base = alert("NV-1", title_vi=HOSTILE, text_vi=HOSTILE)
    n = Notification("ntf_1", "r", "g", "firing", 0.0, (base,), (), ())
    markup = email_html(n, ("vi",), link='https://x/leader?a=1&b="2"')
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert 'href="https://x/leader?a=1&amp;b=&quot;2&quot;"' in markup


def test_the_mail_has_a_stable_message_id_and_both_parts() -> None:
    message = email_message(
        notification(), sender="a@x.vn", to=("b@x.vn",), language="both", link="https://x", domain="x.vn"
    )
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == "<ntf_1@x.vn>"
    assert parsed["Subject"] == "[CẢNH BÁO] Quá hạn: NV-0"
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


def test_webhook_body_is_the_standard_webhooks_envelope() -> None:
    body = orjson.loads(webhook_body(notification()))
    assert (body["type"], body["timestamp"]) == ("alert.firing", "2026-03-02T09:00:00.000+07:00")
    assert body["data"]["alerts"][0]["explanation"] == {
        "kind": "answer",
        "by": "don-vi",
        "text": "<b>Thiếu người</b>",
        "at": 1772416800.0,
    }


def test_push_payload_counts_and_carries_text_only() -> None:
    n = notification(count=25)
    payload = orjson.loads(push_payload(n, n.alerts, link="https://x/leader"))
    assert (payload["count"], len(payload["fingerprints"]), payload["title_en"]) == (
        25,
        20,
        "Overdue: NV-0 (+24)",
    )


@pytest.mark.parametrize(
    ("url", "domain"),
    [("https://govpulse.hcm.gov.vn/", "govpulse.hcm.gov.vn"), ("http://127.0.0.1:8080", "127.0.0.1")],
)
def test_message_id_domain_is_the_public_host(url: str, domain: str) -> None:
    assert message_id_domain(url) == domain
