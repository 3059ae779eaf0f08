"""Faust transport ``govkafka://``: the aiokafka transport with a configurable fetch wait.

Faust's aiokafka driver builds its worker consumer with ``fetch_max_wait_ms=1500``
hard-coded. Kafka answers a long-poll fetch as soon as data arrives, so that value only
matters when idle; Tansu (the embedded broker) holds the fetch for the full wait, which
measured here as ~430 ms median latency per hop at 1500 ms and ~3 ms at 10 ms. Every
govpulse stage is a hop, and alerts must reach the board in well under a second, so the
worker consumer is built here with ``GOVPULSE_FETCH_WAIT`` instead. Everything else is
Faust's own driver, registered through its documented ``faust.transports`` entry point.
"""

from __future__ import annotations

from typing import Any

import aiokafka
from faust.exceptions import ImproperlyConfigured
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.drivers.aiokafka import server_list

#: Fetch wait used by worker consumers (milliseconds); set from settings at app creation.
FETCH_WAIT_MS = {"value": 20}


def set_fetch_wait(seconds: float) -> None:
    """Set the fetch long-poll of worker consumers created from now on."""
    FETCH_WAIT_MS["value"] = max(1, int(seconds * 1000))


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread, building the worker consumer with our fetch wait."""

    def _create_worker_consumer(self, transport: Any) -> aiokafka.AIOKafkaConsumer:
        conf = self.app.conf
        has_changelog_tables = bool(self.app.tables.changelog_topics)
        self._assignor = (
            self.app.assignor
            if conf.table_standby_replicas > 0 or has_changelog_tables
            else aiokafka.consumer.assignors.RoundRobinPartitionAssignor
        )
        if conf.broker_session_timeout > conf.broker_request_timeout:
            raise ImproperlyConfigured(
                "broker_session_timeout cannot be greater than broker_request_timeout"
            )
        return aiokafka.AIOKafkaConsumer(
            client_id=conf.broker_client_id,
            group_id=conf.id,
            group_instance_id=conf.consumer_group_instance_id,
            bootstrap_servers=server_list(transport.url, transport.default_port),
            partition_assignment_strategy=[self._assignor],
            enable_auto_commit=False,
            auto_offset_reset=conf.consumer_auto_offset_reset,
            max_poll_records=conf.broker_max_poll_records,
            max_poll_interval_ms=int((conf.broker_max_poll_interval or 0) * 1000.0),
            max_partition_fetch_bytes=conf.consumer_max_fetch_size,
            fetch_max_wait_ms=FETCH_WAIT_MS["value"],
            request_timeout_ms=int(conf.broker_request_timeout * 1000.0),
            check_crcs=conf.broker_check_crcs,
            session_timeout_ms=int(conf.broker_session_timeout * 1000.0),
            rebalance_timeout_ms=int(conf.broker_rebalance_timeout * 1000.0),
            heartbeat_interval_ms=int(conf.broker_heartbeat_interval * 1000.0),
            isolation_level="read_uncommitted",
            metadata_max_age_ms=conf.consumer_metadata_max_age_ms,
            connections_max_idle_ms=conf.consumer_connections_max_idle_ms,
        )


class Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """``govkafka://`` — Faust's aiokafka transport with :class:`Consumer`."""

    Consumer = Consumer
