"""The ``govmemory://`` table store restores changelog partitions in bulk, on a real broker."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faust.types import TP

from runtime.settings import load_settings
from stream.app import Pipeline
from stream.store import Store
from tests.support.stack import Stack

pytestmark = pytest.mark.integration


def pipeline(stack: Stack, **env: str) -> Pipeline:
    return Pipeline(load_settings({**stack.env, **env}), worker_id="store-test")


def create(stack: Stack, topic: str) -> None:
    async def run() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.settings.broker_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, stack.settings.partitions, 1)])
        finally:
            await admin.close()

    asyncio.run(run())


def produce(stack: Stack, topic: str, records: list[tuple[int, bytes, bytes | None]]) -> None:
    from aiokafka import AIOKafkaProducer

    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=stack.settings.broker_bootstrap, linger_ms=5)
        await producer.start()
        try:
            futures = [await producer.send(topic, value, key=key, partition=p) for p, key, value in records]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(run())


def test_restores_every_partition_in_order_with_overwrites_and_tombstones(stack: Stack) -> None:
    worker = pipeline(stack)
    store = worker.items_table.data
    assert isinstance(store, Store)
    topic = stack.changelog("items")
    create(stack, topic)
    history = [(0, f"k{i}".encode(), f"v{i}".encode()) for i in range(500)]
    history += [(0, b"k1", b"v1-new"), (0, b"k2", None), (1, b"k9", b"p1"), (1, b"k9", b"p1-new")]
    produce(stack, topic, history)
    tps = [TP(topic, p) for p in range(stack.settings.partitions)]

    asyncio.run(store._restore(tps))

    expected = {f"k{i}".encode(): f"v{i}".encode() for i in range(500)} | {b"k1": b"v1-new", b"k9": b"p1-new"}
    del expected[b"k2"]
    assert dict(store.data) == expected
    assert store.persisted_offset(tps[0]) == 501  # offsets 0..501 on partition 0
    assert store.persisted_offset(tps[1]) == 1
    assert store.persisted_offset(tps[2]) is None  # empty: nothing for Faust to skip

    # A second restore reads on from where the first stopped.
    produce(stack, topic, [(0, b"k3", None), (2, b"k7", b"p2")])
    store.data[b"k1"] = b"written since"  # as the worker writes between restores
    asyncio.run(store._restore(tps))
    assert store.data[b"k1"] == b"written since"  # not replayed from the start
    assert b"k3" not in store.data and store.data[b"k7"] == b"p2"
    assert (store.persisted_offset(tps[0]), store.persisted_offset(tps[2])) == (502, 0)


def test_a_failed_restore_leaves_the_partition_to_fausts_recovery(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    from runtime import services

    worker = pipeline(stack, GOVPULSE_BROKER_URL=f"127.0.0.1:{services.free_port()}")
    store = worker.items_table.data
    with caplog.at_level(logging.WARNING, logger="stream.store"):
        asyncio.run(store._restore([TP(stack.changelog("items"), 0)]))
    assert "bulk restore of items failed" in caplog.text
    assert dict(store.data) == {}
    assert store.persisted_offset(TP(stack.changelog("items"), 0)) is None


def test_tables_with_decoded_values_are_left_to_faust(stack: Stack) -> None:
    worker = pipeline(stack)
    assert worker.items_table.data._raw
    decoded = worker.app.Table("decoded", partitions=stack.settings.partitions)
    assert isinstance(decoded.data, Store) and not decoded.data._raw
