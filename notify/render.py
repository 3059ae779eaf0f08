"""What each channel carries: the webhook body, the e-mail (text and HTML), the push payload.

Pure functions of a :class:`~notify.model.Notification`. Alert titles and texts are
govpulse's own (rendered by :mod:`alerts.texts`), but facts and explanations may hold
text written by citizens or staff: the HTML part escapes every value it shows, and
nothing here builds markup from a value without :func:`html.escape`.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid
from typing import Any

import orjson

from alerts.model import Alert, State
from domain.calendar import format_instant, format_local
from notify.model import Notification

#: Alerts listed one by one in an e-mail or push message; the rest are counted.
DIGEST_LIMIT = 20

_STATE_VI = {"firing": "Đang cảnh báo", "acknowledged": "Đã tiếp nhận", "resolved": "Đã hết"}
_STATE_EN = {"firing": "Firing", "acknowledged": "Acknowledged", "resolved": "Resolved"}


def webhook_body(notification: Notification) -> bytes:
    """The Standard Webhooks payload ``{"type", "timestamp", "data"}`` (JSON bytes)."""
    return orjson.dumps(
        {
            "type": f"alert.{notification.status}",
            "timestamp": format_instant(notification.created_at),
            "data": {
                "id": notification.id,
                "receiver": notification.receiver,
                "group": notification.group,
                "status": notification.status,
                "repeat": notification.repeat,
                "severity": notification.severity.value,
                "firing": list(notification.firing),
                "resolved": list(notification.resolved),
                "alerts": [_alert_summary(a) for a in notification.alerts],
            },
        }
    )


def _alert_summary(alert: Alert) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "incident": alert.incident,
        "rule": str(alert.rule),
        "state": alert.state.value,
        "severity": alert.severity.value,
        "unit": alert.unit,
        "item_id": alert.item_id,
        "escalation": alert.escalation,
        "opened_at": format_instant(alert.opened_at),
        "resolved_at": None if alert.resolved_at is None else format_instant(alert.resolved_at),
        "acknowledged": alert.acked_at is not None,
        "title_vi": alert.title_vi,
        "title_en": alert.title_en,
        "text_vi": alert.text_vi,
        "text_en": alert.text_en,
        "explanation": alert.explanations[-1].to_json() if alert.explanations else None,
    }


def subject(notification: Notification, language: str) -> str:
    """One-line subject: status, count and the first alert's title."""
    alerts = notification.alerts
    first = alerts[0] if alerts else None
    title = "" if first is None else (first.title_en if language == "en" else first.title_vi)
    more = len(alerts) - 1
    if language == "en":
        head = (
            "[RESOLVED]" if notification.status == "resolved" else f"[{notification.severity.value.upper()}]"
        )
        tail = f" (+{more} more)" if more > 0 else ""
    else:
        head = "[ĐÃ HẾT]" if notification.status == "resolved" else f"[{_severity_vi(notification)}]"
        tail = f" (+{more} cảnh báo khác)" if more > 0 else ""
    return " ".join(f"{head} {title}{tail}".split())[:200]


def _severity_vi(notification: Notification) -> str:
    return {"critical": "KHẨN", "warning": "CẢNH BÁO", "info": "THÔNG TIN"}[notification.severity.value]


def _lines(alert: Alert, language: str) -> tuple[str, str, str]:
    state = (_STATE_EN if language == "en" else _STATE_VI)[alert.state.value]
    title = alert.title_en if language == "en" else alert.title_vi
    text = alert.text_en if language == "en" else alert.text_vi
    return state, title, text


def email_text(notification: Notification, languages: tuple[str, ...], *, link: str) -> str:
    """The plain-text part: a digest of the group's alerts in each language."""
    out: list[str] = []
    for language in languages:
        out.append(subject(notification, language))
        out.append("")
        for alert in notification.alerts[:DIGEST_LIMIT]:
            state, title, text = _lines(alert, language)
            out.append(f"* {state}: {title}")
            if text:
                out.append(f"  {text}")
            if alert.explanations:
                last = alert.explanations[-1]
                label = (
                    ("Request" if last.kind == "request" else "Answer")
                    if language == "en"
                    else ("Yêu cầu giải trình" if last.kind == "request" else "Giải trình")
                )
                out.append(f"  {label}: {last.text}")
            when = "Opened" if language == "en" else "Mở lúc"
            out.append(f"  {when}: {format_local(alert.opened_at)}  ({alert.unit})")
        hidden = len(notification.alerts) - DIGEST_LIMIT
        if hidden > 0:
            out.append(f"… {hidden} more alerts" if language == "en" else f"… và {hidden} cảnh báo khác")
        out.append("")
        out.append(("Open the board: " if language == "en" else "Mở bảng điều hành: ") + link)
        out.append("")
    out.append(f"Notification {notification.id}")
    return "\n".join(out)


def email_html(notification: Notification, languages: tuple[str, ...], *, link: str) -> str:
    """The HTML part: the same digest with every shown value escaped."""
    e = html.escape
    parts = ['<!doctype html><html><body style="font-family:sans-serif">']
    for language in languages:
        parts.append(f"<h2>{e(subject(notification, language))}</h2><ul>")
        for alert in notification.alerts[:DIGEST_LIMIT]:
            state, title, text = _lines(alert, language)
            parts.append(f"<li><strong>{e(state)}</strong>: {e(title)}<br>{e(text)}")
            if alert.explanations:
                parts.append(f"<br><em>{e(alert.explanations[-1].text)}</em>")
            parts.append(f"<br><small>{e(format_local(alert.opened_at))} · {e(alert.unit)}</small></li>")
        parts.append("</ul>")
        hidden = len(notification.alerts) - DIGEST_LIMIT
        if hidden > 0:
            parts.append(
                "<p>"
                + e(f"… {hidden} more alerts" if language == "en" else f"… và {hidden} cảnh báo khác")
                + "</p>"
            )
        parts.append(
            f'<p><a href="{e(link, quote=True)}">'
            + e("Open the board" if language == "en" else "Mở bảng điều hành")
            + "</a></p>"
        )
    parts.append(f"<p><small>{e(notification.id)}</small></p></body></html>")
    return "".join(parts)


def email_message(
    notification: Notification, *, sender: str, to: tuple[str, ...], language: str, link: str, domain: str
) -> Message:
    """The complete e-mail: subject, stable Message-ID, plain text and HTML alternatives.

    Built with the ``compat32`` classes and :class:`~email.header.Header`: the default
    policy's folding drops the space between two RFC 2047 encoded words, which breaks
    Vietnamese subjects ("cảnh báo" arrived as "cảnhbáo").
    """
    languages = ("vi", "en") if language == "both" else (language,)
    message = MIMEMultipart("alternative")
    message["Subject"] = Header(subject(notification, languages[0]), "utf-8")  # type: ignore[assignment]  # typeshed: str only, compat32 takes a Header
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(datetime.fromtimestamp(notification.created_at, UTC))
    # Stable: a resend of the same notification carries the same Message-ID, so mail
    # clients and archives merge duplicates.
    message["Message-ID"] = f"<{notification.id}@{domain}>"
    message["X-Govpulse-Notification"] = notification.id
    message["Content-Language"] = ", ".join(languages)
    message.attach(MIMEText(email_text(notification, languages, link=link), "plain", "utf-8"))
    message.attach(MIMEText(email_html(notification, languages, link=link), "html", "utf-8"))
    return message


def push_payload(notification: Notification, alerts: tuple[Alert, ...], *, link: str) -> bytes:
    """The JSON the service worker shows (title and body in both languages; text only)."""
    first = alerts[0]
    more = len(alerts) - 1
    firing = [a for a in alerts if a.state is State.FIRING]
    return orjson.dumps(
        {
            "id": notification.id,
            "status": notification.status,
            "severity": notification.severity.value,
            "title_vi": first.title_vi + (f" (+{more})" if more > 0 else ""),
            "title_en": first.title_en + (f" (+{more})" if more > 0 else ""),
            "body_vi": first.text_vi[:300],
            "body_en": first.text_en[:300],
            "count": len(alerts),
            "firing": len(firing),
            "fingerprints": [a.fingerprint for a in alerts[:DIGEST_LIMIT]],
            "url": link,
        }
    )


def message_id_domain(public_url: str) -> str:
    """The right-hand side of Message-IDs: the host of the public URL."""
    host = public_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host or make_msgid().split("@", 1)[-1].rstrip(">")
