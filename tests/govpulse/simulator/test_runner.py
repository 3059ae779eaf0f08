"""The runner: JSONL files, and producing to the real (embedded) broker, paced or not."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from domain.errors import ServiceError
from domain.events import parse_event, parse_instant
from govpulse.simulator.model import Message, Traffic
from govpulse.simulator.runner import kind_of, produce, topic_for, write_jsonl
from runtime import services
from runtime.clock import ManualClock
from runtime.settings import Settings, load_settings
from runtime.topics import Topics

from .conftest import Consume

START = parse_instant("2026-11-30T08:00:00+07:00")


def broker_settings(broker: services.Service) -> Settings:
    return load_settings(
        {
            "GOVPULSE_BROKER_URL": f"127.0.0.1:{broker.port}",
            "GOVPULSE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.",
            "GOVPULSE_PARTITIONS": "4",
        }
    )


def test_jsonl_holds_one_message_per_line(make_traffic: Callable[..., Traffic], tmp_path: Path) -> None:
    messages = list(make_traffic(invalid_rate=0.01).messages(START, until=START + 86400))
    seen: list[Message] = []
    path = tmp_path / "day.jsonl"
    assert write_jsonl(messages, path, observe=seen.append) == len(messages)
    assert seen == messages
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert lines[:-1] == [m.value for m in messages]
    for line, message in zip(lines, messages, strict=False):
        if message.flaw is None:
            assert kind_of(parse_event(line).item_id) == message.kind


@pytest.mark.parametrize(
    ("item_id", "kind", "topic"),
    [("NV-2026-0042", "task", "x.gov.tasks"), ("PA-2026-000123", "feedback", "x.gov.feedback")],
)
def test_topic_follows_the_item_id(item_id: str, kind: str, topic: str) -> None:
    topics = Topics.for_settings(load_settings({"GOVPULSE_TOPIC_PREFIX": "x."}))
    assert kind_of(item_id) == kind
    assert topic_for(kind, topics) == topic


@pytest.mark.integration
async def test_produce_puts_every_message_on_its_topic_keyed_by_item(
    broker: services.Service, make_traffic: Callable[..., Traffic], consume: Consume
) -> None:
    settings = broker_settings(broker)
    messages = list(
        make_traffic(items_per_day=400.0, tasks_per_day=40.0).messages(START, until=START + 86400)
    )
    report = await produce(messages, settings, pace=False)
    topics = Topics.for_settings(settings)
    got = await consume(settings.broker_bootstrap, [topics.feedback, topics.tasks])
    assert (report.sent, report.feedback + report.tasks) == (len(messages), len(messages))
    for kind, topic in (("feedback", topics.feedback), ("task", topics.tasks)):
        expected = [(m.key, m.value) for m in messages if m.kind == kind]
        assert sorted(got.get(topic, [])) == sorted(expected)
        # One item's events share a partition, so they keep their order.
        per_item: dict[bytes, list[bytes]] = defaultdict(list)
        for key, value in got.get(topic, []):
            per_item[key].append(value)
        for key, value in expected:
            assert per_item[key].pop(0) == value


@pytest.mark.integration
async def test_paced_messages_wait_for_the_clock(
    broker: services.Service, make_traffic: Callable[..., Traffic]
) -> None:
    settings = broker_settings(broker)
    clock = ManualClock(START)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    sent_at: list[tuple[float, float]] = []
    messages = list(make_traffic(items_per_day=200.0).messages(START, until=START + 6 * 3600))
    await produce(
        messages,
        settings,
        clock=clock,
        pace=True,
        sleep=sleep,
        observe=lambda m: sent_at.append((clock.now(), m.occurred_at)),
    )
    assert len(sent_at) == len(messages) > 20
    assert all(now >= occurred for now, occurred in sent_at)
    assert all(now - occurred < 1.0 for now, occurred in sent_at)
    assert max(slept) <= 1.0
    assert clock.now() >= messages[-1].occurred_at


async def test_unreachable_broker_names_the_setting() -> None:
    settings = load_settings({"GOVPULSE_BROKER_URL": f"127.0.0.1:{services.free_port()}"})
    with pytest.raises(ServiceError, match="GOVPULSE_BROKER_URL"):
        await produce([], settings, pace=False)
