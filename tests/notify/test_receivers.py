"""Receivers against real servers: a webhook endpoint verifying Standard Webhooks
signatures, aiosmtpd parsing the mails, a local RFC 8030 push service checking VAPID and
decrypting aes128gcm with the subscription's keys."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from py_vapid import Vapid

from alerts.model import AlertEventType, Severity
from notify.model import Notification
from notify.receivers import EmailSender, WebhookSender, WebPushSender, topic_of
from notify.routes import Receiver, Retry
from runtime.notices import NoticeStore, PushSubscription, parse_subscription
from runtime.services import free_port
from tests.notify.conftest import WARD, WARD2, alert, event
from tests.support.receivers import PushService, SmtpReceiver, WebhookReceiver, new_secret, self_signed

pytestmark = pytest.mark.integration


def notification(count: int = 1, *, unit: str = WARD, severity: Severity = Severity.WARNING) -> Notification:
    alerts = []
    for i in range(count):
        base = alert(f"NV-{i}", unit=unit if i % 2 == 0 else WARD2, severity=severity)
        alerts.append(event(AlertEventType.EXPLANATION_REQUESTED, base).alert)
    return Notification(
        id=f"ntf_{'a' * 32}",
        receiver="r",
        group="route{unit=" + unit + "}",
        status="firing",
        created_at=time.time(),
        alerts=tuple(alerts),
        firing=tuple(f"{a.fingerprint}#1:e0" for a in alerts),
        resolved=(),
    )


def receiver(kind: str, **options: object) -> Receiver:
    return Receiver(name="r", kind=kind, retry=Retry(), options={"timeout": 5.0, **options})


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


# -- webhook --------------------------------------------------------------------------------------


async def test_webhook_is_signed_with_every_secret_and_verifies(session: aiohttp.ClientSession) -> None:
    old, new = new_secret(), new_secret()
    endpoint = WebhookReceiver([old])  # the receiver still knows only the old secret
    try:
        sender = WebhookSender(receiver("webhook", url=endpoint.url, secrets=(old, new)), session)
        outcome = await sender.send(notification(), now=time.time())
        assert outcome.status == "delivered"
        got = endpoint.received[0]
        assert (got.id, got.signatures) == (f"ntf_{'a' * 32}", 2)
        assert got.body["data"]["alerts"][0]["explanation"]["text"] == "Vì sao?"
    finally:
        endpoint.close()


@pytest.mark.parametrize(
    ("answer", "status", "detail"),
    [
        (410, "failed", "HTTP 410 Gone (endpoint gone)"),
        (400, "failed", "HTTP 400 Bad Request"),
        (503, "retry", "HTTP 503 Service Unavailable"),
        (429, "retry", "HTTP 429 Too Many Requests"),
    ],
)
async def test_webhook_answers_are_classified(
    session: aiohttp.ClientSession, answer: int, status: str, detail: str
) -> None:
    secret = new_secret()
    endpoint = WebhookReceiver([secret])
    endpoint.answer = answer
    try:
        sender = WebhookSender(receiver("webhook", url=endpoint.url, secrets=(secret,)), session)
        outcome = await sender.send(notification(), now=time.time())
        assert (outcome.status, outcome.detail) == (status, detail)
    finally:
        endpoint.close()


async def test_webhook_to_a_closed_port_is_retried(session: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    sender = WebhookSender(receiver("webhook", url=url, secrets=(new_secret(),)), session)
    outcome = await sender.send(notification(), now=time.time())
    assert outcome.status == "retry" and outcome.detail.startswith("ClientConnectorError")


# -- e-mail ---------------------------------------------------------------------------------------


def smtp(port: int, language: str = "both") -> Receiver:
    return receiver(
        "email",
        host="127.0.0.1",
        port=port,
        starttls=False,
        username=None,
        password=None,
        sender="govpulse@example.gov.vn",
        to=("lanhdao@example.gov.vn", "vanphong@example.gov.vn"),
        language=language,
    )


async def test_email_digest_in_both_languages_with_escaped_html_and_a_stable_message_id() -> None:
    server = SmtpReceiver()
    try:
        sender = EmailSender(
            smtp(server.port), link="https://govpulse.example/leader", domain="govpulse.example"
        )
        hostile = notification(30)
        assert (await sender.send(hostile, now=time.time())).status == "delivered"
        assert (await sender.send(hostile, now=time.time())).status == "delivered"
        first, second = server.wait(2)
        assert first["Message-ID"] == second["Message-ID"] == f"<ntf_{'a' * 32}@govpulse.example>"
        assert first["Subject"] == "[CẢNH BÁO] Quá hạn: NV-0 (+29 cảnh báo khác)"
        plain = first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        markup = first.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "Yêu cầu giải trình: Vì sao?" in plain and "Request: Vì sao?" in plain
        assert "… và 10 cảnh báo khác" in plain and "… 10 more alerts" in plain
        assert "<b>" not in markup.replace("<br>", "")  # no citizen markup survives
    finally:
        server.close()


async def test_email_escapes_an_answer_written_as_markup() -> None:
    server = SmtpReceiver()
    try:
        base = alert("NV-9")
        answered = event(
            AlertEventType.EXPLAINED, event(AlertEventType.EXPLANATION_REQUESTED, base).alert
        ).alert
        one = Notification("ntf_x", "r", "g", "firing", time.time(), (answered,), (), ())
        sender = EmailSender(smtp(server.port, "en"), link="https://x/leader", domain="x")
        assert (await sender.send(one, now=time.time())).status == "delivered"
        markup = server.wait(1)[0].get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert "&lt;b&gt;Thiếu người&lt;/b&gt;" in markup and "<b>Thiếu người</b>" not in markup
    finally:
        server.close()


async def test_email_goes_over_starttls_with_auth_and_is_refused_with_a_wrong_password(
    tmp_path: Path,
) -> None:
    cert, key = self_signed(tmp_path)
    server = SmtpReceiver(tls=(cert, key), login=("govpulse", "mật-khẩu-đúng"))
    try:
        options = {
            **smtp(server.port).options,
            "starttls": True,
            "ca_file": str(cert),
            "username": "govpulse",
            "timeout": 20.0,
        }
        good = EmailSender(
            Receiver("r", "email", Retry(), {**options, "password": "mật-khẩu-đúng"}),
            link="https://x/leader",
            domain="x",
        )
        assert (await good.send(notification(), now=time.time())).status == "delivered"
        assert server.wait(1)[0]["Message-ID"] == f"<ntf_{'a' * 32}@x>"
        wrong = EmailSender(
            Receiver("r", "email", Retry(), {**options, "password": "sai"}),
            link="https://x/leader",
            domain="x",
        )
        outcome = await wrong.send(notification(), now=time.time())
        assert (outcome.status, outcome.detail[:8]) == ("failed", "SMTP 535")
        plain = EmailSender(smtp(server.port), link="https://x/leader", domain="x")  # no STARTTLS
        refused = await plain.send(notification(), now=time.time())
        assert refused.status == "failed" and refused.detail.startswith("SMTP 530")
        assert len(server.messages) == 1
    finally:
        server.close()


@pytest.mark.parametrize(
    ("answer", "status"),
    [("451 4.3.0 try again later", "retry"), ("550 5.1.1 mailbox unavailable", "failed")],
)
async def test_smtp_4xx_is_retried_and_5xx_fails(answer: str, status: str) -> None:
    server = SmtpReceiver()
    server.answers.append(answer)
    try:
        sender = EmailSender(smtp(server.port), link="https://x/leader", domain="x")
        outcome = await sender.send(notification(), now=time.time())
        assert outcome.status == status
        assert outcome.detail.startswith(f"SMTP {answer[:3]}")
    finally:
        server.close()


# -- Web Push ---------------------------------------------------------------------------------------


@pytest.fixture
async def notices(redis_url: str) -> AsyncIterator[NoticeStore]:
    client = aioredis.Redis.from_url(redis_url)
    yield NoticeStore(client)
    await client.aclose()


def subscribe(service: PushService, name: str, scope: str) -> PushSubscription:
    import orjson

    browser = service.subscriber(name)
    return parse_subscription(orjson.dumps(browser.to_json()), scope=scope, sub=f"sub-{name}", at=time.time())


async def test_web_push_is_vapid_signed_encrypted_and_scoped_to_the_unit(
    notices: NoticeStore, session: aiohttp.ClientSession
) -> None:
    service = PushService()
    vapid = Vapid()
    vapid.generate_keys()
    try:
        for name, scope in (("leader", "leader"), ("ward", f"unit:{WARD}"), ("other", "unit:P-BEN-THANH")):
            await notices.subscribe(subscribe(service, name, scope))
        any_scope = receiver("webpush", scope="any", ttl=3600.0, urgency="auto")
        sender = WebPushSender(
            any_scope, store=notices, vapid=vapid, subject="mailto:ops@example.gov.vn", link="https://x/leader",
            session=session,
        )  # fmt: skip
        critical = notification(4, severity=Severity.CRITICAL)
        outcome = await sender.send(critical, now=time.time())
        assert outcome.status == "delivered", (outcome, service.errors)
        assert service.errors == []
        by_name = {p.subscription: p for p in service.wait(2)}
        assert set(by_name) == {"leader", "ward"}  # the other unit has no alert here: nothing sent
        leader, ward = by_name["leader"], by_name["ward"]
        assert leader.payload["count"] == 4
        assert ward.payload["count"] == 2  # only its own unit's alerts
        assert all(
            fp in {a.fingerprint for a in critical.alerts if a.unit == WARD}
            for fp in ward.payload["fingerprints"]
        )
        assert leader.headers["urgency"] == "high" and leader.headers["ttl"] == "3600"
        assert leader.headers["topic"] == topic_of(critical) and len(topic_of(critical)) <= 32
        assert leader.claims["sub"] == "mailto:ops@example.gov.vn"
    finally:
        service.close()


async def test_web_push_removes_a_gone_subscription(
    notices: NoticeStore, session: aiohttp.ClientSession
) -> None:
    service = PushService()
    vapid = Vapid()
    vapid.generate_keys()
    try:
        gone = subscribe(service, "gone", "leader")
        await notices.subscribe(gone)
        await notices.subscribe(subscribe(service, "alive", "leader"))
        service.gone.add("gone")
        sender = WebPushSender(
            receiver("webpush", scope="leader", ttl=60.0, urgency="normal"), store=notices, vapid=vapid,
            subject="mailto:ops@example.gov.vn", link="https://x/leader", session=session,
        )  # fmt: skip
        outcome = await sender.send(notification(), now=time.time())
        assert outcome.status == "delivered"
        assert [s.endpoint for s in await notices.subscriptions()] == [service.subscribers["alive"].endpoint]
        assert [p.subscription for p in service.pushed] == ["alive"]
    finally:
        service.close()
