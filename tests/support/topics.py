"""Read topics back in tests: everything on them, up to each partition's fetch highwater."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from aiokafka import AIOKafkaConsumer, TopicPartition


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
