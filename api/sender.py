"""Produce admitted events to the input topics and wait for the broker's acknowledgement.

One aiokafka producer per API process, ``acks="all"``: a send counts only once every
in-sync replica has the message. Key = ``item_id`` (UTF-8) with the client's default
partitioner (murmur2), like every other producer (docs/events.md); indicator reports go
to ``gov.indicators`` keyed by their ``unit`` code. Every message carries
the headers ``govpulse.api_key`` (the key's name) and ``govpulse.source`` (``api``).

The producer starts lazily and is rebuilt after a failure, so the API keeps running (and
answers 503) while the broker is away, and recovers by itself when it is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from api.ingest import Admitted
from api.reports import AdmittedReport
from domain.items import ItemKind
from runtime.settings import Settings
from runtime.topics import Topics

log = logging.getLogger(__name__)

KEY_HEADER = "govpulse.api_key"
SOURCE_HEADER = "govpulse.source"


class Unavailable(Exception):
    """The broker did not acknowledge in time; ``reason`` is for the 503 body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Placed:
    """Where an acknowledged event was written."""

    topic: str
    partition: int
    offset: int


class Sender:
    """Sends admitted events, all-or-error.

    Args:
        settings: broker address, topic prefix, ``GOVPULSE_API_SEND_TIMEOUT``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = Topics.for_settings(settings)
        self.timeout = settings.api.send_timeout
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        """Whether a producer is connected (it is dropped after a failed send)."""
        return self._producer is not None

    def topic_for(self, kind: ItemKind) -> str:
        return self.topics.tasks if kind is ItemKind.TASK else self.topics.feedback

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.settings.broker_bootstrap,
                    acks="all",
                    linger_ms=0,  # a request's events are sent together anyway
                    request_timeout_ms=max(1000, int(self.timeout * 1000)),
                    client_id="govpulse-api",
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
                log.info("producer connected to %s (acks=all)", self.settings.broker_bootstrap)
            return self._producer

    async def _reset(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout=5)
            except (KafkaError, OSError, TimeoutError):
                log.debug("producer stop failed", exc_info=True)

    async def send(self, admitted: Sequence[Admitted], *, key_name: str) -> list[Placed]:
        """Produce every event and wait until the broker acknowledged all of them.

        Raises:
            Unavailable: the broker is unreachable or did not acknowledge every event
                within ``GOVPULSE_API_SEND_TIMEOUT``; some events may have been written
                (the worker de-duplicates them by ``event_id`` when the client retries).
        """
        messages = [(self.topic_for(e.kind), e.event.item_id.encode(), e.value) for e in admitted]
        return await self._deliver(messages, key_name=key_name)

    async def send_reports(self, admitted: Sequence[AdmittedReport], *, key_name: str) -> list[Placed]:
        """Produce indicator reports to the indicators topic, keyed by unit code, like :meth:`send`.

        Raises:
            Unavailable: as :meth:`send`.
        """
        messages = [(self.topics.indicators, e.unit.encode(), e.value) for e in admitted]
        return await self._deliver(messages, key_name=key_name)

    async def _deliver(self, messages: Sequence[tuple[str, bytes, bytes]], *, key_name: str) -> list[Placed]:
        headers = [(KEY_HEADER, key_name.encode()), (SOURCE_HEADER, b"api")]
        try:
            return await asyncio.wait_for(self._send(messages, headers), timeout=self.timeout)
        except TimeoutError:
            await self._reset()
            log.warning(
                "broker %s did not acknowledge within %gs; is it up, and do the topics exist "
                "(`govpulse topics`)?",
                self.settings.broker_bootstrap,
                self.timeout,
            )
            raise Unavailable(
                f"the broker did not acknowledge the events within {self.timeout:g} s "
                f"(GOVPULSE_API_SEND_TIMEOUT); nothing was accepted, send the same request again"
            ) from None
        except (KafkaError, OSError) as exc:
            await self._reset()
            log.warning("producing failed: %s", exc)
            raise Unavailable(
                f"the broker refused the events ({type(exc).__name__}); nothing was accepted, "
                f"send the same request again"
            ) from None

    async def _send(
        self, messages: Sequence[tuple[str, bytes, bytes]], headers: list[tuple[str, bytes]]
    ) -> list[Placed]:
        producer = await self._started()
        futures: list[asyncio.Future[Any]] = []
        for topic, key, value in messages:
            futures.append(await producer.send(topic, value, key=key, headers=headers))
        metadata = await asyncio.gather(*futures)
        return [Placed(m.topic, m.partition, m.offset) for m in metadata]

    async def close(self) -> None:
        await self._reset()
