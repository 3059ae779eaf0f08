"""``govpulse silence``: one silence command on every partition of ``gov.commands``."""

from __future__ import annotations

import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from alerts.model import CommandType, RuleName, parse_command
from govpulse.commands import send_silence
from runtime import services
from runtime.settings import load_settings
from runtime.topics import Topics, create_topics

pytestmark = pytest.mark.integration

NOW = 1_800_000_000.0


async def test_a_silence_is_broadcast_to_every_partition(broker: services.Service) -> None:
    settings = load_settings(
        {
            "GOVPULSE_BROKER_URL": f"127.0.0.1:{broker.port}",
            "GOVPULSE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.",
            "GOVPULSE_PARTITIONS": "3",
        }
    )
    await create_topics(settings)

    silence_id = await send_silence(
        settings,
        unit="P-BEN-THANH",
        rule=RuleName("unit_surge"),
        seconds=7200,
        reason="bảo trì",
        by="an.nguyen",
        now=NOW,
    )

    topic = Topics.for_settings(settings).commands
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.broker_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: dict[int, list[tuple[bytes | None, bytes | None]]] = {}
        deadline = time.monotonic() + 10
        while sum(map(len, records.values())) < 3 and time.monotonic() < deadline:
            for tp, batch in (await consumer.getmany(timeout_ms=200)).items():
                records.setdefault(tp.partition, []).extend((m.key, m.value) for m in batch)
    finally:
        await consumer.stop()

    assert sorted(records) == [0, 1, 2]
    assert all(len(found) == 1 for found in records.values())
    values = {value for found in records.values() for _, value in found}
    assert len(values) == 1  # the same command everywhere
    assert {key for found in records.values() for key, _ in found} == {silence_id.encode()}
    (value,) = values
    assert value is not None
    command = parse_command(value)
    assert (command.type, command.by_scope, command.by_sub, command.at) == (
        CommandType.SILENCE,
        "leader",
        "an.nguyen",
        NOW,
    )
    assert command.silence is not None
    silence = command.silence
    assert (silence.id, silence.unit, silence.rule, silence.starts_at, silence.ends_at, silence.reason) == (
        silence_id,
        "P-BEN-THANH",
        RuleName("unit_surge"),
        NOW,
        NOW + 7200,
        "bảo trì",
    )
