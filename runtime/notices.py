"""Notification records in Redis, shared by the notifier and the web nodes.

Keys (docs/notifications.md has the contract)::

    notify:push              hash    subscription id -> {"scope", "sub", "subscription", "at"}
    notify:inbox:<fp>        hash    "<notification id>|<receiver>" -> delivery record JSON
                                     (one hash per alert fingerprint, expires after INBOX_TTL)

The web node stores Web Push subscriptions (``scope`` = the token's scope, ``sub`` = its
subject) and serves each alert's delivery records to pages that may see the alert; the
notifier reads the subscriptions and writes the records (pending, delivered, failed,
cancelled) as deliveries progress.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
import redis.asyncio as aioredis
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid

from domain.errors import ConfigError

PUSH_KEY: Final = "notify:push"
INBOX_PREFIX: Final = "notify:inbox:"
INBOX_TTL: Final = 14 * 86400
#: Delivery records kept per alert (oldest dropped first).
INBOX_MAX: Final = 200
#: Largest accepted subscription JSON (bytes) and endpoint (characters).
MAX_SUBSCRIPTION_BYTES: Final = 4096


def load_vapid(value: str) -> Vapid | None:
    """The VAPID key of ``GOVPULSE_VAPID_PRIVATE_KEY``: a PEM file path, PEM text or the raw
    private key in base64url; ``None`` when empty (no Web Push).

    Raises:
        ConfigError: the value is none of these.
    """
    if not value.strip():
        return None
    try:
        if "-----BEGIN" in value:
            return Vapid.from_pem(value.encode())
        if "/" in value or value.endswith(".pem"):
            return Vapid.from_file(value)
        return Vapid.from_string(value)
    except Exception as exc:  # py_vapid raises whatever its parsers raise
        raise ConfigError(
            f"GOVPULSE_VAPID_PRIVATE_KEY cannot be read as a VAPID key ({type(exc).__name__}); give a PEM "
            "file path, PEM text or the base64url private key (make one with `vapid --gen`)"
        ) from None


def vapid_public_key(vapid: Vapid) -> str:
    """The public key as pages pass it to ``pushManager.subscribe`` (base64url, 65 bytes)."""
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class SubscriptionRejected(ValueError):
    """A Web Push subscription from a page is not usable; the message says why."""


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """A browser's push subscription (PushSubscription.toJSON()) for one token."""

    endpoint: str
    p256dh: str
    auth: str
    scope: str
    sub: str
    at: float

    @property
    def id(self) -> str:
        return hashlib.sha256(self.endpoint.encode()).hexdigest()[:32]

    @property
    def unit(self) -> str | None:
        return self.scope[5:] if self.scope.startswith("unit:") else None

    def info(self) -> dict[str, Any]:
        """The ``subscription_info`` pywebpush takes."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}

    def encode(self) -> bytes:
        return orjson.dumps(
            {"subscription": self.info(), "scope": self.scope, "sub": self.sub, "at": self.at}
        )

    @classmethod
    def decode(cls, raw: bytes) -> PushSubscription:
        data = orjson.loads(raw)
        return parse_subscription(
            orjson.dumps(data["subscription"]), scope=data["scope"], sub=data["sub"], at=data["at"]
        )


def parse_subscription(raw: bytes, *, scope: str, sub: str, at: float) -> PushSubscription:
    """Validate a ``PushSubscription.toJSON()`` body sent by a page.

    Raises:
        SubscriptionRejected: not JSON, too large, or missing/invalid endpoint or keys.
    """
    if len(raw) > MAX_SUBSCRIPTION_BYTES:
        raise SubscriptionRejected(f"subscription is {len(raw)} bytes, over {MAX_SUBSCRIPTION_BYTES}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise SubscriptionRejected("subscription is not JSON; send PushSubscription.toJSON()") from None
    if not isinstance(data, dict):
        raise SubscriptionRejected("subscription must be a JSON object with endpoint and keys")
    endpoint = data.get("endpoint")
    if (
        not isinstance(endpoint, str)
        or not endpoint.startswith(("https://", "http://"))
        or len(endpoint) > 1024
    ):
        raise SubscriptionRejected("subscription endpoint must be an http(s) URL of at most 1024 characters")
    keys = data.get("keys")
    if not isinstance(keys, dict):
        raise SubscriptionRejected("subscription keys must be an object with p256dh and auth")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    for name, value, size in (("p256dh", p256dh, 87), ("auth", auth, 22)):
        if not isinstance(value, str) or len(value.rstrip("=")) != size or not _base64url(value):
            raise SubscriptionRejected(f"subscription key {name} must be base64url of the browser's key")
    assert isinstance(p256dh, str) and isinstance(auth, str)
    return PushSubscription(endpoint=endpoint, p256dh=p256dh, auth=auth, scope=scope, sub=sub, at=at)


def _base64url(text: str) -> bool:
    return all(c.isalnum() or c in "-_=" for c in text)


def inbox_key(fingerprint: str) -> str:
    return f"{INBOX_PREFIX}{fingerprint}"


@dataclass(frozen=True, slots=True)
class Delivery:
    """Who was told about an alert, when, through which channel, and how it went."""

    notification: str
    receiver: str
    channel: str  # webhook, email, webpush
    status: str  # pending, delivered, failed, cancelled
    at: float
    attempts: int = 0
    detail: str = ""

    @property
    def field(self) -> str:
        return f"{self.notification}|{self.receiver}"

    def to_json(self) -> dict[str, Any]:
        return {
            "notification": self.notification,
            "receiver": self.receiver,
            "channel": self.channel,
            "status": self.status,
            "at": self.at,
            "attempts": self.attempts,
            "detail": self.detail,
        }


class NoticeStore:
    """Async access to subscriptions and delivery records."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    async def subscribe(self, subscription: PushSubscription) -> str:
        await self.client.hset(PUSH_KEY, subscription.id, subscription.encode())
        return subscription.id

    async def unsubscribe(self, subscription_id: str) -> bool:
        return bool(await self.client.hdel(PUSH_KEY, subscription_id))

    async def subscriptions(self) -> list[PushSubscription]:
        raw: Mapping[Any, Any] = await self.client.hgetall(PUSH_KEY)
        out = []
        for value in raw.values():
            try:
                out.append(PushSubscription.decode(value))
            except (SubscriptionRejected, KeyError, orjson.JSONDecodeError):
                continue
        return out

    async def record(self, fingerprints: Sequence[str], delivery: Delivery) -> None:
        """Write ``delivery`` into the inbox of every alert it was about."""
        body = orjson.dumps(delivery.to_json())
        async with self.client.pipeline(transaction=False) as pipe:
            for fingerprint in fingerprints:
                key = inbox_key(fingerprint)
                pipe.hset(key, delivery.field, body)
                pipe.expire(key, INBOX_TTL)
            await pipe.execute()

    async def inbox(self, fingerprint: str) -> list[dict[str, Any]]:
        """The delivery records of one alert, oldest first."""
        raw: Mapping[Any, Any] = await self.client.hgetall(inbox_key(fingerprint))
        records = [orjson.loads(value) for value in raw.values()]
        records.sort(key=lambda r: (r["at"], r["receiver"]))
        return records[-INBOX_MAX:]
