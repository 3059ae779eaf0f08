"""Put simulated messages on the topics (aiokafka), or write them to a JSONL file.

Producing: key = ``item_id`` (UTF-8), value = the message bytes, topic ``gov.feedback``
or ``gov.tasks`` by the item's kind. Paced by a clock (each message waits until
``clock.now() >= occurred_at``; an accelerated clock shows days in minutes) or as fast as
possible.

JSONL: one message per line, exactly the bytes a producer would send. The topic is
implied by the item id: ``NV-…`` → ``gov.tasks``, anything else → ``gov.feedback``
(:func:`kind_of`); ``govpulse replay`` reads the same format.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from domain.errors import ServiceError
from domain.events import format_instant
from domain.items import kind_for_id
from govpulse.simulator.model import TASK, Message
from runtime.clock import Clock
from runtime.settings import Settings
from runtime.topics import Topics, create_topics

log = logging.getLogger(__name__)

#: Unacknowledged sends allowed before waiting for the broker.
_IN_FLIGHT = 2000


def kind_of(item_id: str) -> str:
    """``"task"`` for leadership task ids (``NV-…``), else ``"feedback"``."""
    return kind_for_id(item_id)  # the one rule, shared with the HTTP API


def topic_for(kind: str, topics: Topics) -> str:
    """Full topic name for an item kind."""
    return topics.tasks if kind == TASK else topics.feedback


@dataclass(frozen=True, slots=True)
class ProduceReport:
    """What a producing run did."""

    sent: int
    feedback: int
    tasks: int
    first_at: float | None
    last_at: float | None
    seconds: float


def write_jsonl(
    messages: Iterable[Message],
    path: Path,
    *,
    observe: Callable[[Message], Any] | None = None,
) -> int:
    """Write ``messages`` to ``path``, one per line; return how many.

    Args:
        observe: called with each message after it is written (e.g. the oracle).
    """
    count = 0
    with path.open("wb") as handle:
        for message in messages:
            handle.write(message.value)
            handle.write(b"\n")
            count += 1
            if observe is not None:
                observe(message)
    log.info("wrote %d messages to %s", count, path)
    return count


async def start_producer(settings: Settings, **options: Any) -> AIOKafkaProducer:
    """Start an aiokafka producer on the configured broker.

    Raises:
        ServiceError: the broker is unreachable; the message names GOVPULSE_BROKER_URL.
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.broker_bootstrap,
        linger_ms=options.pop("linger_ms", 5),
        request_timeout_ms=options.pop("request_timeout_ms", 15000),
        **options,
    )
    try:
        await producer.start()
    except (KafkaError, OSError) as exc:
        await producer.stop()
        raise ServiceError(
            f"broker {settings.broker_bootstrap} is unreachable ({exc}); set GOVPULSE_BROKER_URL "
            f"to a running Kafka, or start the embedded one with `govpulse dev`"
        ) from None
    return producer


async def produce(
    messages: Iterable[Message],
    settings: Settings,
    *,
    clock: Clock | None = None,
    pace: bool = True,
    observe: Callable[[Message], Any] | None = None,
    log_every: float = 10.0,
    ensure_topics: bool = True,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> ProduceReport:
    """Send ``messages`` to their topics, paced by ``clock`` unless ``pace`` is false.

    Args:
        messages: in ``occurred_at`` order (as :meth:`Traffic.messages` yields them).
        settings: broker address and topic prefix.
        clock: the clock to pace by (required when ``pace``).
        pace: wait until ``clock.now() >= occurred_at`` before each message.
        observe: called with each message once it is handed to the producer.
        log_every: real seconds between progress lines (INFO).
        ensure_topics: create missing govpulse topics first (with the configured partitions).
        sleep: injected for tests.

    Raises:
        ServiceError: the broker is unreachable or refuses the messages.
    """
    if pace and clock is None:
        raise ValueError("pacing needs a clock")
    if pace and clock is not None and clock.speed <= 0:
        log.warning("clock %r does not advance; sending without pacing", clock)
        pace = False
    topics = Topics.for_settings(settings)
    producer = await start_producer(settings)
    if ensure_topics:
        try:
            await create_topics(settings, timeout=10.0)
        except BaseException:
            await producer.stop()
            raise
    pending: list[asyncio.Future[Any]] = []
    sent = feedback = tasks = 0
    first_at: float | None = None
    last_at: float | None = None
    began = time.monotonic()
    next_log = began + log_every

    async def settle() -> None:
        if pending:
            try:
                await asyncio.gather(*pending)
            except KafkaError as exc:
                raise ServiceError(
                    f"broker {settings.broker_bootstrap} refused messages: {exc}; check the broker "
                    f"(GOVPULSE_BROKER_URL) and that the topics exist (`govpulse topics`)"
                ) from None
            pending.clear()

    try:
        for message in messages:
            if pace:
                assert clock is not None
                while (wait := (message.occurred_at - clock.now()) / clock.speed) > 0:
                    await settle()
                    await sleep(min(wait, 1.0))
            topic = topic_for(message.kind, topics)
            pending.append(await producer.send(topic, message.value, key=message.key))
            sent += 1
            if message.kind == TASK:
                tasks += 1
            else:
                feedback += 1
            first_at = message.occurred_at if first_at is None else first_at
            last_at = message.occurred_at
            if observe is not None:
                observe(message)
            if len(pending) >= _IN_FLIGHT:
                await settle()
            now = time.monotonic()
            if now >= next_log:
                next_log = now + log_every
                behind = (clock.now() - message.occurred_at) if clock is not None else 0.0
                log.info(
                    "sent %d messages (feedback=%d tasks=%d) up to %s%s",
                    sent,
                    feedback,
                    tasks,
                    format_instant(message.occurred_at),
                    f" clock_behind={behind:.0f}s" if pace else "",
                )
        await settle()
    finally:
        await producer.stop()
    seconds = time.monotonic() - began
    log.info(
        "done: sent %d messages (feedback=%d tasks=%d) in %.1fs%s",
        sent,
        feedback,
        tasks,
        seconds,
        f", event time {format_instant(first_at)} .. {format_instant(last_at)}"
        if first_at and last_at
        else "",
    )
    return ProduceReport(sent, feedback, tasks, first_at, last_at, seconds)
