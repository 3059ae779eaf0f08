"""The command sink: records keyed by alert fingerprint on ``gov.commands``, and
``unavailable`` (never a hang) when the broker is not there."""

from __future__ import annotations

import logging
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from runtime import services
from runtime.settings import load_settings
from runtime.topics import Topics, create_topics
from web.commands import CommandSink, CommandUnavailable

pytestmark = pytest.mark.integration


async def test_a_command_reaches_gov_commands_keyed_by_the_alert(broker: services.Service) -> None:
    settings = load_settings(
        {
            "GOVPULSE_BROKER_URL": f"127.0.0.1:{broker.port}",
            "GOVPULSE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.",
            "GOVPULSE_PARTITIONS": "1",
        }
    )
    await create_topics(settings)
    sink = CommandSink(settings)
    try:
        await sink.send("fp-1", b'{"type":"ack"}')
        await sink.send("fp-2", b'{"type":"explain_request"}')
    finally:
        await sink.close()

    topic = Topics.for_settings(settings).commands
    assert sink.topic == topic
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.broker_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        records: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + 10
        while len(records) < 2 and time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records += [(m.key, m.value) for m in batch]
    finally:
        await consumer.stop()
    assert records == [(b"fp-1", b'{"type":"ack"}'), (b"fp-2", b'{"type":"explain_request"}')]


async def test_an_unreachable_broker_answers_unavailable_within_the_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_settings({"GOVPULSE_BROKER_URL": f"127.0.0.1:{services.free_port()}"})
    sink = CommandSink(settings, timeout=0.5)
    caplog.set_level(logging.WARNING, logger="web.commands")
    started = time.monotonic()

    for _ in range(2):  # the producer is rebuilt for every attempt after a failure
        with pytest.raises(CommandUnavailable):
            await sink.send("fp-1", b"{}")
    await sink.close()

    assert time.monotonic() - started < 5
    warnings = [r.getMessage() for r in caplog.records if r.name == "web.commands"]
    assert [w.split(" (")[0] for w in warnings] == ["command to gov.commands not delivered"] * 2
