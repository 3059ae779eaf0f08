"""A govpulse deployment for integration tests: real broker, real Redis, worker processes.

Each :class:`Stack` gets its own topic prefix and consumer group on the session broker,
so tests do not see each other's data. Workers are real ``govpulse worker`` processes
that tests can SIGKILL and restart.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from runtime import services
from runtime.services import Service
from runtime.settings import Settings, load_settings
from runtime.topics import Topics, create_topics

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def json(self) -> Any:
        assert self.value is not None
        return orjson.loads(self.value)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value.decode()
        return None


class Stack:
    """One isolated govpulse deployment on the shared test broker and Redis."""

    def __init__(
        self, *, broker_port: int, redis_url: str, workdir: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = "t" + uuid.uuid4().hex[:8]
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.env: dict[str, str] = {
            "GOVPULSE_PROFILE": "dev",
            "GOVPULSE_BROKER_URL": f"127.0.0.1:{broker_port}",
            "GOVPULSE_REDIS_URL": redis_url,
            "GOVPULSE_APP_ID": f"gp-{self.name}",
            "GOVPULSE_TOPIC_PREFIX": f"{self.name}.",
            "GOVPULSE_PARTITIONS": "4",
            "GOVPULSE_SESSION_TIMEOUT": "3s",
            "GOVPULSE_COMMIT_INTERVAL": "0.5s",
            "GOVPULSE_DATA_DIR": str(workdir / "data"),
            "GOVPULSE_LOG_LEVEL": "info",
            **(env or {}),
        }
        self.settings: Settings = load_settings(self.env)
        self.topics = Topics.for_settings(self.settings)
        self.workers: list[Service] = []
        asyncio.run(create_topics(self.settings))

    def changelog(self, table: str) -> str:
        return f"{self.settings.app_id}-{table}-changelog"

    # -- processes ---------------------------------------------------------------------

    def start_worker(self, name: str | None = None, env: Mapping[str, str] | None = None) -> Service:
        name = name or f"worker{len(self.workers)}"
        log_path = self.workdir / f"{name}.log"
        full_env = {**os.environ, **self.env, **(env or {}), "PYTHONUNBUFFERED": "1"}
        argv = [sys.executable, "-m", "govpulse.cli", "worker"]
        process = services.spawn(argv, log_path, full_env)
        service = Service(name, 0, process, log_path, argv)
        self.workers.append(service)
        return service

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop(timeout=10)

    def log(self, worker: Service, lines: int = 60) -> str:
        return "\n".join(worker.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- kafka -------------------------------------------------------------------------

    def produce(self, messages: Iterable[tuple[str, bytes | None, bytes | None]]) -> int:
        """Send (topic, key, value) messages in order; return how many."""

        async def run() -> int:
            producer = AIOKafkaProducer(bootstrap_servers=self.settings.broker_bootstrap, linger_ms=5)
            await producer.start()
            count = 0
            try:
                futures = []
                for topic, key, value in messages:
                    futures.append(await producer.send(topic, value, key=key))
                    count += 1
                    if len(futures) >= 5000:
                        await asyncio.gather(*futures)
                        futures.clear()
                await asyncio.gather(*futures)
            finally:
                await producer.stop()
            return count

        return asyncio.run(run())

    def produce_events(self, events: Iterable[Mapping[str, Any] | bytes], *, topic: str | None = None) -> int:
        def messages() -> Iterable[tuple[str, bytes | None, bytes | None]]:
            for event in events:
                if isinstance(event, bytes):
                    yield topic or self.topics.feedback, None, event
                    continue
                item_id = str(event["item_id"])
                target = topic or (self.topics.tasks if item_id.startswith("NV-") else self.topics.feedback)
                yield target, item_id.encode(), orjson.dumps(event)

        return self.produce(messages())

    def read(self, topic: str, *, timeout: float = 10.0) -> list[Record]:
        """Every record of ``topic`` up to its current high-water mark.

        Reads until the fetch high-water (``end_offsets`` is wrong on this Tansu build).
        """

        async def run() -> list[Record]:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.settings.broker_bootstrap,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=50,
            )
            await consumer.start()
            try:
                await consumer.topics()  # refreshes metadata for every topic
                partitions = consumer.partitions_for_topic(topic) or set()
                if not partitions:
                    return []  # the topic does not exist (yet)
                tps = [TopicPartition(topic, p) for p in sorted(partitions)]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                out: list[Record] = []
                done: set[TopicPartition] = set()
                deadline = time.monotonic() + timeout
                while len(done) < len(tps) and time.monotonic() < deadline:
                    batch = await consumer.getmany(timeout_ms=200, max_records=10000)
                    for records in batch.values():
                        for r in records:
                            out.append(
                                Record(
                                    r.topic,
                                    r.partition,
                                    r.offset,
                                    r.key,
                                    r.value,
                                    tuple((k, v) for k, v in (r.headers or ())),
                                )
                            )
                    for tp in tps:
                        highwater = consumer.highwater(tp)
                        if highwater is not None and await consumer.position(tp) >= highwater:
                            done.add(tp)
                return out
            finally:
                await consumer.stop()

        return asyncio.run(run())

    def committed(self, topics: Iterable[str]) -> dict[tuple[str, int], int]:
        """Offsets the consumer group committed per (topic, partition), 0 for none
        (OffsetFetch without joining the group)."""

        async def run() -> dict[tuple[str, int], int]:
            reader = AIOKafkaConsumer(
                bootstrap_servers=self.settings.broker_bootstrap,
                group_id=self.settings.app_id,
                enable_auto_commit=False,
            )
            await reader.start()
            try:
                out = {}
                for topic in topics:
                    for partition in range(self.settings.partitions):
                        offset = await reader.committed(TopicPartition(topic, partition))
                        out[(topic, partition)] = offset or 0
                return out
            finally:
                await reader.stop()

        return asyncio.run(run())

    def table(self, name: str) -> dict[bytes, bytes]:
        """The current contents of a table, from its changelog (last value wins)."""
        state: dict[bytes, bytes] = {}
        for record in sorted(self.read(self.changelog(name)), key=lambda r: (r.partition, r.offset)):
            assert record.key is not None
            if record.value is None:
                state.pop(record.key, None)
            else:
                state[record.key] = record.value
        return state


def wait_for(
    predicate: Callable[[], T | None], *, timeout: float, interval: float = 0.25, what: str = "condition"
) -> T:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
