"""Notification frames of the board protocol: Web Push subscriptions and each alert's inbox.

Client frames (after ``auth``, like ``ack``)::

    {"type": "push_key"}                     -> {"type": "push_key", "key": <VAPID public key | null>}
    {"type": "push_subscribe",
     "subscription": {...}}                  -> {"type": "push_subscribed", "id"}
    {"type": "push_unsubscribe",
     "endpoint": "https://…"}                -> {"type": "push_unsubscribed", "removed": bool}
    {"type": "inbox", "alert": "<fp>"}       -> {"type": "inbox", "alert", "deliveries": [...]}

Every frame may carry ``ref``; the reply echoes it.

A subscription is stored with the token's scope and subject (:mod:`runtime.notices`):
a unit page's subscription only ever receives its own unit's alerts (the notifier
filters on the scope), a wall token cannot subscribe, and only the subject that made a
subscription can remove it. The inbox of an alert is served to a page that may see the
alert (leaders: all; a unit: its own).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from domain.ids import valid_id
from runtime.notices import (
    NoticeStore,
    SubscriptionRejected,
    load_vapid,
    parse_subscription,
    vapid_public_key,
)
from web.errors import ProtocolError

FRAME_TYPES = frozenset({"push_key", "push_subscribe", "push_unsubscribe", "inbox"})
#: Subscriptions one token subject may hold per scope (browsers and devices).
MAX_SUBSCRIPTIONS = 20


@dataclass(frozen=True, slots=True)
class NoticeFrame:
    """One of :data:`FRAME_TYPES`; ``body`` holds the subscription JSON, ``alert`` the
    fingerprint, ``endpoint`` the endpoint to remove."""

    kind: str
    body: bytes = b""
    alert: str = ""
    endpoint: str = ""
    ref: str | None = None


def parse_frame(kind: str, data: dict[str, Any], ref: str | None) -> NoticeFrame:
    """Validate a notification frame (``kind`` in :data:`FRAME_TYPES`).

    Raises:
        ProtocolError: ``bad_frame`` naming the field.
    """
    if kind == "push_key":
        return NoticeFrame(kind, ref=ref)
    if kind == "push_subscribe":
        subscription = data.get("subscription")
        if not isinstance(subscription, dict):
            raise ProtocolError(
                "bad_frame", "push_subscribe needs 'subscription' (PushSubscription.toJSON())"
            )
        return NoticeFrame(kind, body=orjson.dumps(subscription), ref=ref)
    if kind == "push_unsubscribe":
        endpoint = data.get("endpoint")
        if not isinstance(endpoint, str) or not endpoint or len(endpoint) > 1024:
            raise ProtocolError("bad_frame", "push_unsubscribe needs 'endpoint' (the subscription's URL)")
        return NoticeFrame(kind, endpoint=endpoint, ref=ref)
    alert = data.get("alert")
    if not isinstance(alert, str) or not valid_id(alert):
        raise ProtocolError("bad_frame", "inbox needs 'alert' (an alert fingerprint)")
    return NoticeFrame(kind, alert=alert, ref=ref)


def public_key(private_key: str) -> str | None:
    """The VAPID public key for ``applicationServerKey`` from ``GOVPULSE_VAPID_PRIVATE_KEY``.

    Raises:
        ConfigError: the setting is not a VAPID key (the web node does not start).
    """
    vapid = load_vapid(private_key)
    return None if vapid is None else vapid_public_key(vapid)


def _frame(kind: str, ref: str | None, **fields: Any) -> bytes:
    body: dict[str, Any] = {"type": kind, **fields}
    if ref is not None:
        body["ref"] = ref
    return orjson.dumps(body)


def _error(code: str, message: str, ref: str | None) -> bytes:
    return _frame("error", ref, code=code, message=message)


async def answer(
    frame: NoticeFrame,
    *,
    scope: str,
    subject: str,
    store: NoticeStore,
    vapid_key: str | None,
    alert_unit: Callable[[str], Awaitable[str | None]],
    can_view: Callable[[str | None], bool],
    now: float,
) -> bytes:
    """Carry out ``frame`` for a connection of ``scope``/``subject``; the reply frame."""
    if frame.kind == "push_key":
        return _frame("push_key", frame.ref, key=vapid_key)
    if frame.kind == "push_subscribe":
        if scope == "wall":
            return _error("forbidden", "the wall display cannot subscribe to notifications", frame.ref)
        if vapid_key is None:
            return _error("unavailable", "Web Push is not configured on this server", frame.ref)
        try:
            subscription = parse_subscription(frame.body, scope=scope, sub=subject, at=now)
        except SubscriptionRejected as exc:
            return _error("bad_frame", str(exc), frame.ref)
        mine = [
            s
            for s in await store.subscriptions()
            if (s.sub, s.scope) == (subject, scope) and s.id != subscription.id
        ]
        if len(mine) >= MAX_SUBSCRIPTIONS:
            return _error(
                "rate_limited",
                f"{MAX_SUBSCRIPTIONS} devices already receive notifications for you; turn one off first",
                frame.ref,
            )
        return _frame("push_subscribed", frame.ref, id=await store.subscribe(subscription))
    if frame.kind == "push_unsubscribe":
        removed = False
        for subscription in await store.subscriptions():
            owned = (subscription.sub, subscription.scope) == (subject, scope)
            if subscription.endpoint == frame.endpoint and owned:
                removed = await store.unsubscribe(subscription.id)
        return _frame("push_unsubscribed", frame.ref, removed=removed)
    unit = await alert_unit(frame.alert)
    if unit is None or not can_view(unit):
        return _error("not_found", "no such alert on your board", frame.ref)
    return _frame("inbox", frame.ref, alert=frame.alert, deliveries=await store.inbox(frame.alert))
