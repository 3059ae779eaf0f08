"""Receivers: webhook (Standard Webhooks), e-mail (SMTP) and Web Push (VAPID).

Each receiver sends one :class:`~notify.model.Notification` and answers an
:class:`Outcome`: ``delivered``, ``retry`` (worth trying again: network errors, timeouts,
HTTP 408/429/5xx, SMTP 4xx) or ``failed`` (permanent: other HTTP 4xx — a 410 means the
endpoint is gone —, SMTP 5xx). The protocols and the crypto come from the field's
libraries: ``standardwebhooks`` signs, ``aiosmtplib`` speaks SMTP with STARTTLS,
``pywebpush``/``py-vapid``/``http_ece`` sign VAPID tokens and encrypt aes128gcm.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import aiohttp
import aiosmtplib
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async
from standardwebhooks.webhooks import Webhook

from notify import render
from notify.model import Notification
from notify.routes import Receiver
from runtime.notices import NoticeStore, PushSubscription

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt went. ``retry_after`` (seconds) comes from a Retry-After header."""

    status: str  # delivered, retry, failed
    detail: str = ""
    retry_after: float | None = None


class Sender(Protocol):
    channel: str

    async def send(self, notification: Notification, *, now: float) -> Outcome: ...

    async def close(self) -> None: ...


def _http_outcome(status: int, reason: str, retry_after: str | None) -> Outcome:
    if 200 <= status < 300:
        return Outcome("delivered", f"HTTP {status}")
    detail = f"HTTP {status} {reason}".strip()
    wait = None
    if retry_after is not None and retry_after.strip().isdigit():
        wait = float(retry_after.strip())
    if status in (408, 425, 429) or status >= 500:
        return Outcome("retry", detail, wait)
    return Outcome("failed", detail + (" (endpoint gone)" if status == 410 else ""))


class WebhookSender:
    """POSTs the Standard Webhooks payload, signed with every configured secret."""

    channel = "webhook"

    def __init__(self, receiver: Receiver, session: aiohttp.ClientSession) -> None:
        self.url: str = receiver.options["url"]
        self.signers = [Webhook(secret) for secret in receiver.options["secrets"]]
        self.timeout = aiohttp.ClientTimeout(total=float(receiver.options["timeout"]))
        self.session = session

    def headers(self, notification: Notification, body: bytes, *, now: float) -> dict[str, str]:
        """``webhook-id`` (the notification id), ``webhook-timestamp`` and one ``v1,``
        signature per secret, space-separated (receivers accept any during a rotation)."""
        stamp = datetime.fromtimestamp(int(now), UTC)
        signatures = " ".join(s.sign(notification.id, stamp, body) for s in self.signers)
        return {
            "content-type": "application/json",
            "webhook-id": notification.id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": signatures,
            "user-agent": "govpulse-notify",
        }

    async def send(self, notification: Notification, *, now: float) -> Outcome:
        body = render.webhook_body(notification)
        try:
            async with self.session.post(
                self.url, data=body, headers=self.headers(notification, body, now=now), timeout=self.timeout
            ) as response:
                await response.read()
                return _http_outcome(
                    response.status, response.reason or "", response.headers.get("retry-after")
                )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Outcome("retry", f"{type(exc).__name__}: {exc}"[:300])

    async def close(self) -> None:
        return None


class EmailSender:
    """Sends the digest mail over SMTP (STARTTLS and AUTH when configured)."""

    channel = "email"

    def __init__(self, receiver: Receiver, *, link: str, domain: str) -> None:
        self.options = receiver.options
        self.link = link
        self.domain = domain

    async def send(self, notification: Notification, *, now: float) -> Outcome:
        options = self.options
        message = render.email_message(
            notification,
            sender=options["sender"],
            to=tuple(options["to"]),
            language=options["language"],
            link=self.link,
            domain=self.domain,
        )
        try:
            await aiosmtplib.send(
                message,
                hostname=options["host"],
                port=options["port"],
                start_tls=bool(options["starttls"]),
                cert_bundle=options.get("ca_file"),
                username=options["username"],
                password=options["password"],
                timeout=float(options["timeout"]),
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [err.code for err in exc.recipients]
            status = "retry" if codes and all(400 <= c < 500 for c in codes) else "failed"
            return Outcome(status, f"recipients refused: {', '.join(map(str, codes))}")
        except aiosmtplib.SMTPResponseException as exc:
            status = "retry" if 400 <= exc.code < 500 else "failed"
            return Outcome(status, f"SMTP {exc.code} {exc.message}"[:300])
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Outcome("retry", f"{type(exc).__name__}: {exc}"[:300])
        return Outcome("delivered", f"SMTP accepted for {len(options['to'])} recipient(s)")

    async def close(self) -> None:
        return None


def topic_of(notification: Notification) -> str:
    """RFC 8030 Topic (at most 32 base64url characters): one per group, so a newer
    message replaces an undelivered older one of the same group."""
    digest = hashlib.sha256(notification.group.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]


class WebPushSender:
    """Encrypts (aes128gcm) and posts to each matching subscription with a VAPID token.

    ``scope = "leader"`` reaches leader pages, ``"unit"`` unit pages — each only with
    the alerts of its own unit —, ``"any"`` both. A 404 or 410 from a push service
    removes the subscription. The notification is delivered once every subscription
    took it or is gone; subscriptions that took it are not sent it again on a retry.
    """

    channel = "webpush"

    def __init__(
        self,
        receiver: Receiver,
        *,
        store: NoticeStore,
        vapid: Vapid | None,
        subject: str,
        link: str,
        session: aiohttp.ClientSession,
    ) -> None:
        self.options = receiver.options
        self.store = store
        self.vapid = vapid
        self.subject = subject
        self.link = link
        self.session = session
        self.done: dict[str, set[str]] = {}

    def urgency(self, notification: Notification) -> str:
        chosen: str = self.options["urgency"]
        if chosen != "auto":
            return chosen
        return (
            "high"
            if notification.severity.value == "critical" and notification.status == "firing"
            else "normal"
        )

    def wanted(self, subscription: PushSubscription) -> bool:
        scope = self.options["scope"]
        if subscription.unit is not None:
            return scope in ("unit", "any")
        return subscription.scope == "leader" and scope in ("leader", "any")

    async def send(self, notification: Notification, *, now: float) -> Outcome:
        done = self.done.setdefault(notification.id, set())
        failures: list[str] = []
        retry = False
        sent = 0
        for subscription in await self.store.subscriptions():
            if subscription.id in done or not self.wanted(subscription):
                continue
            alerts = notification.alerts
            if subscription.unit is not None:
                # a unit's subscription only ever receives its own unit
                alerts = tuple(a for a in alerts if a.unit == subscription.unit)
            if not alerts:
                continue
            if self.vapid is None:
                return Outcome("failed", "no VAPID key: set GOVPULSE_VAPID_PRIVATE_KEY")
            payload = render.push_payload(notification, alerts, link=self.link)
            try:
                await webpush_async(
                    subscription.info(),
                    data=payload.decode(),
                    vapid_private_key=self.vapid,
                    vapid_claims={"sub": self.subject},
                    ttl=int(self.options["ttl"]),
                    headers={"Urgency": self.urgency(notification), "Topic": topic_of(notification)},
                    timeout=float(self.options["timeout"]),
                    aiohttp_session=self.session,
                )
                done.add(subscription.id)
                sent += 1
            except WebPushException as exc:
                code = exc.status_code
                if code in (404, 410):
                    await self.store.unsubscribe(subscription.id)
                    done.add(subscription.id)
                    log.info("push subscription removed (HTTP %s) subscription=%s", code, subscription.id)
                elif code is None or code in (408, 429) or code >= 500:
                    retry = True
                    failures.append(f"HTTP {code}")
                else:
                    failures.append(f"HTTP {code}")
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                retry = True
                failures.append(type(exc).__name__)
        if failures:
            return Outcome(
                "retry" if retry else "failed", f"{sent} sent; failed: {', '.join(failures)}"[:300]
            )
        self.done.pop(notification.id, None)
        return Outcome("delivered", f"{sent + len(done)} subscription(s)")

    async def close(self) -> None:
        return None
