"""Push subscriptions and delivery records in Redis (runtime/notices.py)."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from hypothesis import given
from py_vapid import Vapid

from domain.errors import ConfigError
from runtime.notices import (
    INBOX_TTL,
    Delivery,
    NoticeStore,
    SubscriptionRejected,
    inbox_key,
    load_vapid,
    parse_subscription,
    vapid_public_key,
)
from tests.support.hypothesis_profile import fuzz
from tests.support.receivers import Subscriber
from tests.support.strategies import json_scalars, json_values

GOOD = Subscriber(endpoint="https://push.example/sub/1").to_json()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "subscription is not JSON; send PushSubscription.toJSON()"),
        (b"[]", "subscription must be a JSON object with endpoint and keys"),
        (
            orjson.dumps({**GOOD, "endpoint": "javascript:x"}),
            "subscription endpoint must be an http(s) URL of at most 1024 characters",
        ),
        (orjson.dumps({**GOOD, "keys": None}), "subscription keys must be an object with p256dh and auth"),
        (
            orjson.dumps({**GOOD, "keys": {**GOOD["keys"], "auth": "a" * 30}}),
            "subscription key auth must be base64url of the browser's key",
        ),
        (b" " * 5000, "subscription is 5000 bytes, over 4096"),
    ],
)
def test_bad_subscriptions_say_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(SubscriptionRejected) as caught:
        parse_subscription(body, scope="leader", sub="s", at=0.0)
    assert str(caught.value) == message


def test_a_subscription_round_trips_with_its_scope() -> None:
    parsed = parse_subscription(orjson.dumps(GOOD), scope="unit:P-SAI-GON", sub="s", at=1.0)
    assert parsed.unit == "P-SAI-GON" and parsed.info() == GOOD
    assert type(parsed).decode(parsed.encode()) == parsed


@fuzz(200)
@given(json_values(json_scalars(text_size=40), max_leaves=12))
def test_any_json_is_a_subscription_or_a_rejection(value: Any) -> None:
    with contextlib.suppress(SubscriptionRejected):
        parse_subscription(orjson.dumps(value), scope="leader", sub="s", at=0.0)


@pytest.fixture
async def notices(redis_url: str) -> AsyncIterator[NoticeStore]:
    client = aioredis.Redis.from_url(redis_url)
    yield NoticeStore(client)
    await client.aclose()


@pytest.mark.integration
async def test_delivery_records_are_kept_per_alert_latest_status_per_receiver(notices: NoticeStore) -> None:
    await notices.record(["fp-1", "fp-2"], Delivery("n1", "sms", "webhook", "pending", 10.0))
    await notices.record(["fp-1"], Delivery("n1", "sms", "webhook", "delivered", 11.0, 1, "HTTP 204"))
    records = await notices.inbox("fp-1")
    assert [(r["status"], r["detail"]) for r in records] == [("delivered", "HTTP 204")]
    assert [r["status"] for r in await notices.inbox("fp-2")] == ["pending"]
    assert 0 < await notices.client.ttl(inbox_key("fp-1")) <= INBOX_TTL


@pytest.mark.integration
async def test_a_stored_subscription_that_no_longer_parses_is_skipped(notices: NoticeStore) -> None:
    await notices.client.hset("notify:push", "bad", b"{}")
    good = parse_subscription(orjson.dumps(GOOD), scope="leader", sub="s", at=0.0)
    await notices.subscribe(good)
    assert await notices.subscriptions() == [good]


def test_the_vapid_key_is_read_from_a_pem_file_pem_text_or_a_raw_key(tmp_path: Path) -> None:
    vapid = Vapid()
    vapid.generate_keys()
    vapid.save_key(str(tmp_path / "vapid.pem"))
    pem = (tmp_path / "vapid.pem").read_text()
    raw = (
        base64.urlsafe_b64encode(vapid.private_key.private_numbers().private_value.to_bytes(32, "big"))
        .decode()
        .rstrip("=")
    )
    expected = vapid_public_key(vapid)
    for value in (str(tmp_path / "vapid.pem"), pem, raw):
        loaded = load_vapid(value)
        assert loaded is not None and vapid_public_key(loaded) == expected
    assert load_vapid("") is None


@pytest.mark.parametrize(
    "value", ["not-a-key", "/nonexistent/vapid.pem", "-----BEGIN PRIVATE KEY-----\nxx\n"]
)
def test_a_bad_vapid_key_is_refused_with_the_fix(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_vapid(value)
    assert str(caught.value).startswith("GOVPULSE_VAPID_PRIVATE_KEY cannot be read as a VAPID key (")
    assert str(caught.value).endswith(
        "give a PEM file path, PEM text or the base64url private key (make one with `vapid --gen`)"
    )
