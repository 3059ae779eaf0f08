"""Retries, cancellation after an ack, and the atomic log + outbox in a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from alerts.model import AlertEventType
from notify.delivery import Outbox, backoff, still_wanted
from notify.model import Flush, Notification
from notify.routes import Retry
from tests.notify.conftest import alert, event

RETRY = Retry(initial=1.0, maximum=60.0, give_up_after=3600.0)


@pytest.mark.parametrize(
    ("attempt", "draw", "expected"),
    [(1, 0.0, 0.5), (1, 0.999, 0.9995), (2, 0.5, 1.5), (4, 1.0, 8.0), (7, 0.0, 30.0), (30, 1.0, 60.0)],
)
def test_backoff_doubles_with_equal_jitter_up_to_the_cap(attempt: int, draw: float, expected: float) -> None:
    assert backoff(attempt, RETRY, draw) == pytest.approx(expected)


def page(*kinds: AlertEventType) -> Notification:
    current = alert("NV-1")
    for kind in kinds:
        current = event(kind, current).alert
    firing = (
        ("item_overdue:NV-1#1:ask1",)
        if AlertEventType.EXPLANATION_REQUESTED in kinds
        else ("item_overdue:NV-1#1:e0",)
    )
    return Notification("n", "r", "g", "firing", 0.0, (current,), firing, ())


@pytest.mark.parametrize(
    ("notification", "states", "wanted"),
    [
        (page(), {}, True),  # unknown state: deliver
        (page(), {"item_overdue:NV-1": "firing#1"}, True),
        (page(), {"item_overdue:NV-1": "acknowledged#1"}, False),  # acked: no page
        (page(), {"item_overdue:NV-1": "resolved#1"}, False),
        (page(), {"item_overdue:NV-1": "firing#2"}, False),  # a later incident: this page is stale
        (
            page(AlertEventType.EXPLANATION_REQUESTED),
            {"item_overdue:NV-1": "acknowledged#1"},
            True,
        ),  # a request still goes
    ],
)
def test_a_queued_page_is_cancelled_once_its_alerts_are_acknowledged(
    notification: Notification, states: dict[str, str], wanted: bool
) -> None:
    assert still_wanted(notification, states) is wanted


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.Redis.from_url(redis_url)
    yield connection
    await connection.aclose()


def flush(at: float) -> Flush:
    return Flush(
        "hook",
        "g",
        "route",
        at,
        (alert("NV-1"),),
        frozenset({"item_overdue:NV-1#1:e0"}),
        frozenset(),
        True,
        3600.0,
    )


@pytest.mark.integration
async def test_two_notifiers_flushing_the_same_group_queue_it_once(client: aioredis.Redis) -> None:
    first, second = Outbox(client, owner="a", lease_seconds=5), Outbox(client, owner="b", lease_seconds=5)
    results = await asyncio.gather(*(o.record(flush(100.0), channel="webhook") for o in [first, second] * 5))
    assert len([r for r in results if r is not None]) == 1
    assert await client.xlen("notify:outbox:hook") == 1


@pytest.mark.integration
async def test_one_lease_per_receiver_and_the_cursor_moves_only_with_an_outcome(
    client: aioredis.Redis,
) -> None:
    from runtime.notices import Delivery

    first, second = Outbox(client, owner="a", lease_seconds=0.3), Outbox(client, owner="b", lease_seconds=0.3)
    assert await first.lease("hook") and not await second.lease("hook")
    await first.record(flush(100.0), channel="webhook")
    (entry,) = await first.next_entries("hook")
    assert [e.stream_id for e in await second.next_entries("hook")] == [entry.stream_id]  # not yet confirmed
    await asyncio.sleep(0.4)  # the holder died: its lease runs out
    assert await second.lease("hook")
    await second.advance(
        "hook",
        entry.stream_id,
        Delivery(entry.notification.id, "hook", "webhook", "delivered", 1.0),
        ["item_overdue:NV-1"],
    )
    assert await second.next_entries("hook") == []
