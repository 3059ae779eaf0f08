"""Notification frames against a real web node: subscriptions per scope and subject, inboxes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st
from py_vapid import Vapid

from runtime.board import BoardStore
from runtime.notices import Delivery, NoticeStore
from tests.support.hypothesis_profile import fuzz
from tests.support.receivers import Subscriber
from tests.support.strategies import json_scalars, json_values
from tests.support.webtools import (
    WebNode,
    alert_change,
    open_client,
    recv_data,
    recv_until,
    running_node,
    web_environ,
)
from web import protocol
from web.errors import ProtocolError
from web.notices import FRAME_TYPES, NoticeFrame, parse_frame, public_key

pytestmark = pytest.mark.integration

UNIT_A, UNIT_B = "P-SAI-GON", "P-BEN-THANH"


@pytest.fixture
def vapid_pem(tmp_path: Any) -> str:
    vapid = Vapid()
    vapid.generate_keys()
    path = tmp_path / "vapid.pem"
    vapid.save_key(str(path))
    return str(path)


@pytest.fixture
async def push_node(redis_url: str, vapid_pem: str) -> AsyncIterator[WebNode]:
    async with running_node(web_environ(redis_url, GOVPULSE_VAPID_PRIVATE_KEY=vapid_pem)) as running:
        yield running


@pytest.fixture
async def notices(redis_url: str) -> AsyncIterator[NoticeStore]:
    client = aioredis.Redis.from_url(redis_url)
    yield NoticeStore(client)
    await client.aclose()


async def ask(node: WebNode, scope: str, frame: dict[str, Any]) -> dict[str, Any]:
    ws = await open_client(node, scope)
    await recv_until(ws, lambda f: f["type"] == "snapshot")
    await ws.send(orjson.dumps({**frame, "ref": "r1"}).decode())
    reply, _ = await recv_until(ws, lambda f: f.get("ref") == "r1")
    await ws.close()
    return reply


async def test_the_vapid_public_key_is_served_to_pages(push_node: WebNode, vapid_pem: str) -> None:
    reply = await ask(push_node, "leader", {"type": "push_key"})
    assert reply == {"type": "push_key", "key": public_key(vapid_pem), "ref": "r1"}
    assert len(reply["key"]) == 87  # base64url of a 65-byte uncompressed P-256 point


async def test_a_unit_page_subscribes_under_its_own_scope_and_only_its_subject_unsubscribes(
    push_node: WebNode, notices: NoticeStore
) -> None:
    browser = Subscriber(endpoint="https://push.example/abc")
    reply = await ask(
        push_node, f"unit:{UNIT_A}", {"type": "push_subscribe", "subscription": browser.to_json()}
    )
    assert reply["type"] == "push_subscribed"
    (stored,) = await notices.subscriptions()
    assert (stored.scope, stored.sub, stored.unit, stored.endpoint) == (
        f"unit:{UNIT_A}",
        "tester",
        UNIT_A,
        "https://push.example/abc",
    )
    other = await ask(push_node, f"unit:{UNIT_B}", {"type": "push_unsubscribe", "endpoint": browser.endpoint})
    assert other["removed"] is False and len(await notices.subscriptions()) == 1
    mine = await ask(push_node, f"unit:{UNIT_A}", {"type": "push_unsubscribe", "endpoint": browser.endpoint})
    assert mine["removed"] is True and await notices.subscriptions() == []


@pytest.mark.parametrize(
    ("scope", "subscription", "code", "message"),
    [
        ("wall", None, "forbidden", "the wall display cannot subscribe to notifications"),
        (
            "leader",
            {"endpoint": "ftp://x", "keys": {}},
            "bad_frame",
            "subscription endpoint must be an http(s) URL of at most 1024 characters",
        ),
        (
            "leader",
            {"endpoint": "https://x", "keys": {"p256dh": "short", "auth": "x"}},
            "bad_frame",
            "subscription key p256dh must be base64url of the browser's key",
        ),
    ],
)
async def test_bad_subscriptions_are_refused_with_the_reason(
    push_node: WebNode, scope: str, subscription: dict[str, Any] | None, code: str, message: str
) -> None:
    body = subscription or Subscriber(endpoint="https://push.example/w").to_json()
    reply = await ask(push_node, scope, {"type": "push_subscribe", "subscription": body})
    assert (reply["type"], reply["code"], reply["message"]) == ("error", code, message)


async def test_without_a_vapid_key_subscribing_is_unavailable(redis_url: str) -> None:
    async with running_node(web_environ(redis_url)) as node:
        reply = await ask(
            node, "leader", {"type": "push_subscribe", "subscription": Subscriber("https://p/x").to_json()}
        )
        assert (reply["code"], reply["message"]) == (
            "unavailable",
            "Web Push is not configured on this server",
        )
        assert (await ask(node, "leader", {"type": "push_key"}))["key"] is None


async def test_the_inbox_of_an_alert_is_served_to_whoever_may_see_the_alert(
    push_node: WebNode, store: BoardStore, notices: NoticeStore
) -> None:
    await store.publish([alert_change("item_overdue:NV-1", UNIT_A)])
    delivered = Delivery("ntf_1", "leaders-push", "webpush", "delivered", time.time(), 1, "2 subscription(s)")
    failed = Delivery("ntf_1", "sms", "webhook", "failed", time.time() + 1, 7, "HTTP 503")
    await notices.record(["item_overdue:NV-1"], delivered)
    await notices.record(["item_overdue:NV-1"], failed)
    leader = await ask(push_node, "leader", {"type": "inbox", "alert": "item_overdue:NV-1"})
    assert [(d["receiver"], d["status"]) for d in leader["deliveries"]] == [
        ("leaders-push", "delivered"),
        ("sms", "failed"),
    ]
    own = await ask(push_node, f"unit:{UNIT_A}", {"type": "inbox", "alert": "item_overdue:NV-1"})
    assert len(own["deliveries"]) == 2
    foreign = await ask(push_node, f"unit:{UNIT_B}", {"type": "inbox", "alert": "item_overdue:NV-1"})
    assert (foreign["code"], foreign["message"]) == ("not_found", "no such alert on your board")


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        (
            "push_subscribe",
            {"subscription": "x"},
            "push_subscribe needs 'subscription' (PushSubscription.toJSON())",
        ),
        ("push_unsubscribe", {}, "push_unsubscribe needs 'endpoint' (the subscription's URL)"),
        ("inbox", {"alert": "a b"}, "inbox needs 'alert' (an alert fingerprint)"),
    ],
)
def test_malformed_notice_frames_name_the_field(kind: str, data: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_frame(kind, data, None)
    assert (caught.value.code, caught.value.message) == ("bad_frame", message)


NOTICE_FRAME = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(FRAME_TYPES))},
    optional={
        "subscription": json_values(json_scalars(text_size=30), max_leaves=8),
        "endpoint": json_scalars(text_size=60),
        "alert": st.sampled_from(["item_overdue:NV-1", "a b", ""]) | json_scalars(text_size=30),
        "ref": st.sampled_from(["r1", "bad ref!"]) | json_scalars(text_size=10),
    },
)


@fuzz(300)
@given(NOTICE_FRAME)
def test_any_notice_frame_parses_or_is_a_bad_frame(frame: dict[str, Any]) -> None:
    try:
        parsed = protocol.parse_client_frame(orjson.dumps(frame))
    except ProtocolError as exc:
        assert exc.code == "bad_frame"
    else:
        assert isinstance(parsed, NoticeFrame) and parsed.kind == frame["type"]


async def test_hostile_notice_frames_get_a_reply_and_the_connection_lives(push_node: WebNode) -> None:
    frames = _hostile_notices()
    ws = await open_client(push_node, f"unit:{UNIT_A}")
    await recv_until(ws, lambda f: f["type"] == "snapshot")
    for index, frame in enumerate(frames):
        await ws.send(orjson.dumps({**frame, "ref": f"h{index}"}).decode())
        # a frame that does not parse is answered without its ref (the parse failed)
        (reply,) = await recv_data(ws, 1)
        assert reply["type"] in ("error", "push_key", "push_subscribed", "push_unsubscribed", "inbox"), reply
    await ws.send('{"type":"ping","ref":"alive"}')
    pong, _ = await recv_until(ws, lambda f: f.get("ref") == "alive")
    assert pong["type"] == "pong"
    await ws.close()


def _hostile_notices() -> list[dict[str, Any]]:
    deep: Any = []
    for _ in range(200):
        deep = [deep]
    return [
        {"type": "push_subscribe", "subscription": deep},
        {"type": "push_subscribe", "subscription": {"endpoint": "https://x/" + "a" * 5000, "keys": {}}},
        {
            "type": "push_subscribe",
            "subscription": {"endpoint": "https://x", "keys": {"p256dh": "<script>", "auth": 1}},
        },
        {"type": "push_unsubscribe", "endpoint": {"$ne": None}},
        {"type": "inbox", "alert": "../../etc/passwd"},
        {"type": "inbox", "alert": "item_overdue:NOT-THERE"},
        {"type": "push_key", "extra": deep},
    ]
