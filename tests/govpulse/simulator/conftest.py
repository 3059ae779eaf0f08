"""Fixtures of the simulator tests: the packaged data files and a policy like the worker's."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.items import ItemPolicy
from domain.sla import SlaPolicy
from domain.windows import WindowSpec
from govpulse.simulator.model import Traffic, TrafficConfig, load_weights
from govpulse.simulator.oracle import counter_windows, item_policy
from runtime.settings import Settings, load_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    # The 1022 reporting period is opt-in; the oracle tests cover it too.
    return load_settings({"GOVPULSE_WINDOWS": "5m,1h,1d,period"})


@pytest.fixture(scope="session")
def policy(settings: Settings) -> ItemPolicy:
    return item_policy(settings)


@pytest.fixture(scope="session")
def windows(settings: Settings) -> tuple[WindowSpec, ...]:
    return counter_windows(settings)


@pytest.fixture(scope="session")
def catalog(policy: ItemPolicy) -> Catalog:
    return policy.catalog


@pytest.fixture(scope="session")
def calendar(policy: ItemPolicy) -> WorkCalendar:
    return policy.calendar


@pytest.fixture(scope="session")
def sla(policy: ItemPolicy) -> SlaPolicy:
    return policy.sla


@pytest.fixture(scope="session")
def make_traffic(settings: Settings, policy: ItemPolicy) -> Callable[..., Traffic]:
    """Build a traffic model over the packaged catalog with config overrides."""
    weights = load_weights(settings.units_file)

    def make(**overrides: Any) -> Traffic:
        return Traffic(
            policy.catalog,
            policy.sla,
            policy.calendar,
            config=TrafficConfig(**overrides),
            weights=weights,
        )

    return make


Consume = Callable[[str, list[str]], Awaitable[dict[str, list[tuple[bytes, bytes]]]]]


@pytest.fixture(scope="session")
def consume() -> Consume:
    """Read topics back: ``await consume(bootstrap, [topic, ...])`` → topic → [(key, value)]."""
    return read_topics


async def read_topics(
    bootstrap: str, topics: list[str], *, timeout: float = 30.0
) -> dict[str, list[tuple[bytes, bytes]]]:
    """Everything on ``topics``, per topic in partition order.

    Reads until each partition's fetch highwater: on this Tansu build ListOffsets
    (``end_offsets``) under-reports, the highwater of a fetch is right.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(topic, number)
            for topic in topics
            for number in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        out: dict[str, list[tuple[bytes, bytes]]] = defaultdict(list)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            batches = await consumer.getmany(*partitions, timeout_ms=300)
            for tp, records in batches.items():
                out[tp.topic].extend((r.key or b"", r.value or b"") for r in records)
            done = True
            for tp in partitions:
                highwater = consumer.highwater(tp)
                if highwater is None or await consumer.position(tp) < highwater:
                    done = False
            if done:
                return dict(out)
            assert asyncio.get_running_loop().time() < deadline, "topics not read to the highwater in time"
    finally:
        await consumer.stop()
