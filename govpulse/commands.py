"""Send operator commands to ``gov.commands`` (the alert stage applies them)."""

from __future__ import annotations

import time
import uuid

from aiokafka import AIOKafkaProducer

from alerts.model import Command, CommandType, RuleName, Silence
from runtime.settings import Settings
from runtime.topics import Topics


async def send_silence(
    settings: Settings,
    *,
    unit: str | None,
    rule: RuleName | None,
    seconds: float,
    reason: str,
    by: str,
    now: float | None = None,
) -> str:
    """Broadcast a silence to every partition of ``gov.commands``; return its id.

    Silences match alerts of any fingerprint, so every alert partition must know them.
    """
    at = time.time() if now is None else now
    silence_id = uuid.uuid4().hex[:12]
    command = Command(
        command_id=uuid.uuid4().hex,
        type=CommandType.SILENCE,
        alert=None,
        text=None,
        by_scope="leader",
        by_sub=by,
        at=at,
        silence=Silence(silence_id, unit, rule, at, at + seconds, by, reason),
    )
    topic = Topics.for_settings(settings).commands
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker_bootstrap)
    await producer.start()
    try:
        for partition in range(settings.partitions):
            await producer.send_and_wait(
                topic, command.encode(), key=silence_id.encode(), partition=partition
            )
    finally:
        await producer.stop()
    return silence_id
