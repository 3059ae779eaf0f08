"""Client commands (ack, explanation request/answer) produced to ``gov.commands``.

The web node only validates, authorises and forwards; the alert lifecycle in the worker
applies them. The producer starts lazily and is rebuilt after a failure, so a broker
that is down when the web node starts (or goes away later) only makes commands answer
``unavailable`` until it is back; reading the board never depends on Kafka.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from runtime.settings import Settings
from runtime.topics import Topics

log = logging.getLogger(__name__)


class CommandUnavailable(Exception):
    """The broker could not take the command in time; the client may retry."""


class CommandSink:
    """Produces command records keyed by alert fingerprint.

    Args:
        settings: broker address and topic names.
        timeout: seconds to start the producer or deliver one record.
    """

    def __init__(self, settings: Settings, *, timeout: float = 5.0) -> None:
        self.bootstrap = settings.broker_bootstrap
        self.topic = Topics.for_settings(settings).commands
        self.timeout = timeout
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def send(self, key: str, value: bytes) -> None:
        """Produce one command and wait for the broker's acknowledgement.

        Raises:
            CommandUnavailable: the broker is unreachable or did not acknowledge in time.
        """
        try:
            producer = await self._ensure()
            await asyncio.wait_for(producer.send_and_wait(self.topic, value, key=key.encode()), self.timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.warning("command to %s not delivered (%s: %s)", self.topic, type(exc).__name__, exc)
            await self._discard()
            raise CommandUnavailable(str(exc) or type(exc).__name__) from None

    async def _ensure(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    acks="all",
                    request_timeout_ms=int(self.timeout * 1000),
                    linger_ms=0,
                )
                try:
                    await asyncio.wait_for(producer.start(), self.timeout)
                except BaseException:
                    await _stop_quietly(producer)
                    raise
                self._producer = producer
                log.info("command producer connected to %s (topic %s)", self.bootstrap, self.topic)
            return self._producer

    async def _discard(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await _stop_quietly(producer)

    async def close(self) -> None:
        await self._discard()


async def _stop_quietly(producer: AIOKafkaProducer) -> None:
    try:
        await asyncio.wait_for(producer.stop(), 5.0)
    except Exception:
        log.debug("producer stop failed", exc_info=True)
