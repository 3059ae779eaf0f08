"""The Faust application: topics, tables, four agents, their timers, and the publisher.

Shells only — the logic is in :mod:`stream.stages` (pure processors), the addressing of
what they produce in :mod:`stream.outputs`, and what a rebalance rebuilds in
:mod:`stream.recovery`. Each agent takes a batch of events, hands it to its processor,
then does the I/O in the order that keeps results exact under at-least-once delivery:

1. send the batch's outputs (transitions, signals, alert events, dead letters) and
   await their delivery;
2. write the batch's table records (one changelog message per key per batch, sent with
   the producer directly: Faust's per-key ``send_soon`` path costs ~100 µs a write);
3. update in-memory indexes and hand board changes to the publisher.

Faust commits an offset only after the agent returns for its events and the producer is
flushed, so a crash at any point redelivers events whose effects are then recognised:
items by event id, counters by per-record source offsets (:mod:`stream.metrics`), alerts
by state. Timers never write tables: they produce tick messages to the partition the
key lives in, and the agent applies them inside the stream.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from typing import Any, cast

import faust
import orjson
from aiokafka.errors import IllegalStateError
from faust.types import TP
from redis.exceptions import RedisError

from alerts.config import RulesConfig
from alerts.model import Signal
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.indicators.catalog import IndicatorCatalog
from domain.items import ItemPolicy
from domain.reports import Report
from domain.sla import SlaPolicy
from domain.windows import window_specs
from runtime.board import BoardStore
from runtime.clock import Clock
from runtime.memory import AfterBurst, release_free_memory
from runtime.reports import ReportStore
from runtime.settings import Settings
from runtime.timeline import TimelineStore
from runtime.topics import Topics
from stream import transport
from stream.gauges import GaugeIndex
from stream.metrics import WindowRecord
from stream.outputs import Outputs, Send
from stream.publish import Publisher, UnitPanels
from stream.recovery import Indexes, Recovery, gated_sources
from stream.sources import Source
from stream.stages.alerts import COMMAND, SIGNAL, AlertProcessor
from stream.stages.indicators import REPORT, TICK, DerivedReporter, IndicatorProcessor
from stream.stages.items import FEEDBACK, TASKS, TICKS, ItemProcessor, Message
from stream.stages.reports import ReportProcessor
from stream.stages.units import Pacer, UnitProcessor
from stream.timelines import TimelineWriter, timeline_writes
from stream.transitions import NodeBatch, NodeGroup, Progress, Tick
from stream.transitions import decode as decode_internal

log = logging.getLogger(__name__)

#: Unit rules are evaluated, and unit panels rendered, at most this often (seconds)...
UNIT_REFRESH = 1.0
#: ...and at most this share of the worker's time: evaluating and rendering every node of
#: a 250-unit catalog takes ~30 ms, which every 0.5 s was ~6% of a worker under load.
UNIT_REFRESH_BUDGET = 0.05


#: How often the worker checks whether its item stage went quiet after a burst (seconds).
IDLE_CHECK = 1.0


#: Indicator records are re-evaluated (time passes without reports) this often (seconds).
INDICATOR_TICK = 5.0


#: Most records in one chunk an agent receives (see stream.transport.deliver_in_chunks)...
CHUNK_RECORDS = 250
#: ...and most chunks buffered per topic before fetching pauses (~16,000 records).
CHUNK_BUFFER = 64


def chunking(batch_size: int) -> tuple[int, int]:
    """``(records per chunk, chunks per batch)`` for agents that read chunks and handle
    at most ``batch_size`` (``GOVPULSE_BATCH_SIZE``) events per batch."""
    chunk = max(1, min(CHUNK_RECORDS, batch_size))
    return chunk, max(1, batch_size // chunk)


class Pipeline:
    """One govpulse worker: the Faust app and the stages it runs.

    Args:
        settings: validated settings.
        clock: time source (defaults to the configured clock).
        worker_id: identity in logs and ``board:workers``.
    """

    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, worker_id: str | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock or settings.clock.build()
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.topics = Topics.for_settings(settings)
        self.catalog = Catalog.from_file(settings.units_file)
        self.calendar = WorkCalendar.from_file(settings.calendar_file)
        self.rules = RulesConfig.from_file(settings.rules_file)
        self.indicator_catalog = IndicatorCatalog.from_file(settings.indicators_file, self.catalog)
        _check_daily_retention(settings, self.indicator_catalog)
        self.policy = ItemPolicy(
            calendar=self.calendar,
            sla=SlaPolicy.from_file(settings.sla_file),
            catalog=self.catalog,
            deadlines=self.rules.deadline_policy(
                purge_after=settings.closed_item_retention, dedup_ids=settings.dedup_ids
            ),
        )
        self.partitions = settings.partitions
        self.app = self._create_app()
        self._create_tables()
        self.indexes = Indexes(GaugeIndex(self.catalog))
        self.outputs = Outputs(self.topics, partitions=self.partitions, nodes=self.catalog.units)
        self.items = ItemProcessor(
            self.policy,
            self.rules,
            load=self.items_table.data.get,
            gauges=self.indexes.gauges,
            max_event_bytes=settings.max_event_bytes,
            max_future_skew=settings.max_future_skew,
        )
        self.units = UnitProcessor(
            catalog=self.catalog,
            rules=self.rules,
            calendar=self.calendar,
            specs=window_specs(
                settings.windows,
                settings.window_retention,
                period_anchor=settings.reporting_period,
                period_grace=settings.report_grace,
            ),
            grace=settings.window_grace,
            load_metrics=self.metrics_table.data.get,
            load_gauges=self.gauges_table.data.get,
            metric_keys=lambda: list(self.metrics_table.data.keys()),
            partitions=settings.partitions,
        )
        self.reports = ReportProcessor(
            load=self.reports_table.data.get, grace=settings.window_grace, anchor=settings.reporting_period
        )
        self.report_store = ReportStore.from_url(settings.redis_target)
        self.timelines = TimelineWriter(
            TimelineStore.from_url(settings.redis_target, retention=settings.closed_item_retention)
        )
        self._report_partitions: frozenset[int] = frozenset()
        #: Revisions Redis did not take yet (retried with the next unit batches).
        self._unpublished_reports: list[Report] = []
        self._reports_retry_at = 0.0
        self.alerts = AlertProcessor(
            rules=self.rules,
            catalog=self.catalog,
            calendar=self.calendar,
            load=self.alerts_table.data.get,
            indicators=self.indicator_catalog,
        )
        self.indicators = IndicatorProcessor(
            catalog=self.indicator_catalog,
            calendar=self.calendar,
            load=self.indicators_table.data.get,
            keys=lambda: list(self.indicators_table.data.keys()),
            rules=self.rules,
            max_event_bytes=settings.max_event_bytes,
            max_future_skew=settings.max_future_skew,
            partition_of=self.outputs.node_partition.get,
        )
        self.derived = DerivedReporter(self.indicator_catalog, day_counts=self._day_counts)
        self.publisher = Publisher(
            BoardStore.from_url(settings.redis_target, feed_maxlen=settings.feed_maxlen),
            worker_id=self.worker_id,
            clock_now=self.clock.now,
        )
        self.panels = UnitPanels(lambda node, now: self.units.board(node, now=now), self.publisher)
        self.recovery = Recovery(
            indexes=self.indexes,
            outputs=self.outputs,
            items=self.items,
            units=self.units,
            alerts=self.alerts,
            item_records=self.items_table.data,
            alert_records=self.alerts_table.data,
            silence_records=self.silences_table.data,
            panels=self.panels,
            publisher=self.publisher,
            catalog=self.catalog,
            clock=self.clock,
            send=self._send_all,
            bootstrap=settings.broker_bootstrap,
            group_id=settings.app_id,
        )
        self.publisher.on_republish(self.recovery.republish)
        self.publisher.on_republish(self._republish_indicators)
        self.publisher.set_info(self._info)
        self.publisher.on_bulk_flushed(release_free_memory)
        self._after_burst = AfterBurst()
        self._progress_sent = 0.0
        self._unit_pacer = Pacer(UNIT_REFRESH, budget=UNIT_REFRESH_BUDGET)
        self.stats = {"events": 0, "dead_letters": 0, "alert_events": 0, "batches": 0}
        self._register()

    # -- construction ------------------------------------------------------------------

    def _create_app(self) -> faust.App:
        settings = self.settings
        brokers = [
            transport.broker_url(host.strip(), fetch_wait=settings.fetch_wait)
            for host in settings.broker_bootstrap.split(",")
            if host.strip()
        ]
        session = settings.session_timeout
        data_dir = settings.data_dir / "workers" / self.worker_id
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        return faust.App(
            settings.app_id,
            broker=brokers,
            store=settings.store,
            datadir=str(data_dir),
            autodiscover=False,
            topic_partitions=settings.partitions,
            topic_replication_factor=1,
            topic_disable_leader=True,
            topic_allow_declare=True,
            table_standby_replicas=0,
            web_enabled=False,
            consumer_auto_offset_reset="earliest",
            broker_session_timeout=session,
            broker_rebalance_timeout=session,
            broker_heartbeat_interval=max(0.3, min(3.0, session / 5)),
            broker_request_timeout=max(30.0, session * 2),
            broker_commit_interval=settings.commit_interval,
            broker_max_poll_records=2000,
            consumer_max_fetch_size=4 * 1024 * 1024,
            stream_buffer_maxsize=16384,
            producer_linger=0.002,
            producer_max_batch_size=256 * 1024,
            producer_acks=-1,
        )

    @staticmethod
    def _raw_schema() -> faust.Schema[bytes, bytes]:
        # Bytes in, bytes out: stages decode themselves, so that a malformed message
        # reaches the processor (and the dead-letter topic) instead of failing in Faust.
        return faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    def _create_tables(self) -> None:
        def table(name: str, help_text: str) -> Any:
            created: Any = self.app.Table(
                name, partitions=self.partitions, key_type=bytes, value_type=bytes, help=help_text
            )
            # Faust derives serializers from the types ("json" for bytes); the changelog
            # holds our own encodings, so recovery must hand them over untouched.
            created.key_serializer = created.value_serializer = "raw"
            return created

        self.items_table = table("items", "Item state by item id (domain.items, encoded).")
        self.metrics_table = table("metrics", "Window records by NODE|WINDOW|START.")
        self.gauges_table = table("gauges", "Per item-partition gauges by node.")
        self.alerts_table = table("alerts", "Alerts by fingerprint.")
        self.silences_table = table("silences", "Silences by ID@PARTITION.")
        self.indicators_table = table("indicators", "Indicator records by CODE|UNIT|PERIOD.")
        self.reports_table = table("reports", "Latest report revision by UNIT|PERIOD (domain.reports).")
        self.items_table.on_recover(self._on_recovered)

    def _register(self) -> None:
        t = self.topics
        self.item_kinds = {t.feedback: FEEDBACK, t.tasks: TASKS, t.item_ticks: TICKS}
        # A topic's buffer holds chunks: CHUNK_BUFFER chunks bound it like Faust's
        # stream_buffer_maxsize (16,384 messages) bounds a per-message topic.
        raw, maxsize = self._raw_schema(), CHUNK_BUFFER
        item_topic = self.app.topic(t.feedback, t.tasks, t.item_ticks, schema=raw, maxsize=maxsize)
        unit_topic = self.app.topic(t.transitions, schema=raw, maxsize=maxsize)
        alert_topic = self.app.topic(t.signals, t.commands, schema=raw, maxsize=maxsize)
        indicator_topic = self.app.topic(t.indicators, t.indicator_ticks, schema=raw, maxsize=maxsize)
        # Agents receive their topics in chunks of consecutive records (stream.transport):
        # a batch takes at most batch_size // chunk chunks: at most GOVPULSE_BATCH_SIZE events.
        chunk, size = chunking(self.settings.batch_size)
        within = self.settings.batch_window
        transport.deliver_in_chunks(
            self.app,
            [
                t.feedback,
                t.tasks,
                t.item_ticks,
                t.transitions,
                t.signals,
                t.commands,
                t.indicators,
                t.indicator_ticks,
            ],
            max_records=chunk,
        )

        def agent(handle: Any) -> Any:
            async def run(stream: Any) -> None:
                try:
                    async for batch in stream.take_events(size, within=within):
                        # Only chunks that follow what this agent took of their partition
                        # (a chunk lost around a rebalance makes its partition seek back).
                        events = await transport.in_order(self.app.consumer, batch)
                        if events:
                            await handle(events)
                        transport.mark_handled(events)  # their acks now count (commits)
                except Exception as exc:
                    # Never skip a batch: stop the worker so its events are redelivered
                    # (to a restarted worker or to another one of the group).
                    log.critical("%s failed; stopping the worker", handle.__name__, exc_info=True)
                    await self.app.crash(exc)
                    raise

            return run

        items_agent, units_agent, alerts_agent = (
            agent(self.handle_items),
            agent(self.handle_units),
            agent(self.handle_alerts),
        )

        self.app.agent(item_topic, name="items")(items_agent)
        self.app.agent(unit_topic, name="units")(units_agent)
        self.app.agent(alert_topic, name="alerts")(alerts_agent)
        self.app.agent(indicator_topic, name="indicators")(agent(self.handle_indicators))
        self.app.timer(INDICATOR_TICK, name="indicator-timer")(self.fire_indicator_ticks)
        self.app.timer(self.settings.tick_interval, name="deadline-timer")(self.fire_item_ticks)
        self.app.timer(max(1.0, self.settings.tick_interval), name="unit-timer")(self.fire_unit_ticks)
        self.app.timer(self.settings.tick_interval, name="alert-timer")(self.fire_alert_ticks)
        self.app.timer(60.0, name="cache-trim")(self._trim)
        self.app.timer(IDLE_CHECK, name="memory-release")(self._release_after_burst)

        async def start_publisher() -> None:
            await self.publisher.start()
            # `kill -USR2 <pid>` logs every task's stack: how to see what a stuck worker waits on.
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, self._dump_tasks)

        async def stop_publisher(app: Any, *_: Any, **__: Any) -> None:
            await self.publisher.stop()
            await self.report_store.close()
            await self.timelines.close()

        self.app.task(start_publisher)
        # mode types handlers as a union of callables with a required keyword `signal` that
        # mypy cannot match to any coroutine function; Faust calls it as (sender, signal=...).
        self.app.on_before_shutdown.connect(cast(Any, stop_publisher))

    # -- I/O helpers -------------------------------------------------------------------

    @property
    def producer(self) -> transport.Producer:
        """The app's producer (our transport's, with ``send_fast`` and ``track``)."""
        return cast(transport.Producer, self.app.producer)

    async def _send_all(self, sends: Iterable[Send], *, wait: bool = True) -> None:
        """Send messages; wait until the broker has them all, or (``wait=False``) let the
        next commit wait for them (and fail if any failed).

        Messages with a partition and no headers go out as one record batch per
        topic-partition (in their order); the others one by one.
        """
        producer = self.producer
        futures: list[asyncio.Future[Any]] = []
        batched: dict[tuple[str, int], list[tuple[bytes | None, bytes | None]]] = {}
        for topic, key, value, partition, headers in sends:
            if partition is not None and headers is None:
                batched.setdefault((topic, partition), []).append((key, value))
            elif headers is None:
                futures.append(await producer.send_fast(topic, key, value, partition))
            else:
                futures.append(
                    await cast(Awaitable[Any], producer.send(topic, key, value, partition, None, headers))
                )
        for (topic, partition), records in batched.items():
            futures += await producer.send_many(topic, partition, records)
        if not futures:
            return
        if wait:
            await asyncio.gather(*futures)
        else:
            producer.track(futures)

    async def _write(self, table: Any, writes: Mapping[int, Mapping[bytes, bytes | None]]) -> None:
        """Apply table writes and send one changelog message per key.

        Not waited for here: the commit that follows waits for these deliveries and fails
        if any failed, so offsets are never committed past a lost write.
        """
        producer = self.producer
        changelog = table.changelog_topic.get_topic_name()
        data = table.data
        futures = []
        for partition, records in writes.items():
            for key, value in records.items():
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            futures += await producer.send_many(changelog, partition, records.items())
        if futures:
            producer.track(futures)

    @staticmethod
    def _messages(events: Sequence[Any], kinds: dict[str, str]) -> list[Message]:
        out: list[Message] = []
        for event in events:
            message = event.message
            kind, topic, partition = kinds.get(message.topic, "?"), message.topic, message.partition
            out += [
                Message(kind, topic, partition, record.offset, record.key, record.value)
                for record in transport.message_records(message)
            ]
        return out

    # -- items -------------------------------------------------------------------------

    async def handle_items(self, events: Sequence[Any]) -> None:
        messages = self._messages(events, self.item_kinds)
        now = self.clock.now()
        limits = {
            p: self.indexes.gate(p).limit(now, self._highwaters(p))
            for p in {m.partition for m in messages if m.kind == TICKS}
        }
        result = self.items.process(messages, now=now, tick_limits=limits)
        sends = self.outputs.transitions(result.node_batches)
        sends += [self.outputs.signal(s) for s in result.signals]
        sends += self.outputs.dead_letters(result.dead_letters)
        self.stats["dead_letters"] += len(result.dead_letters)
        await self._send_all(sends)
        # Before the table: a batch redone after a crash rewrites the same entries.
        if self.settings.item_timelines == "on":
            await self.timelines.write(timeline_writes(result.timeline))
        await self._write(self.items_table, result.writes)
        for partition, key, at in result.schedule:
            self.indexes.item_deadlines.schedule(partition, key, at)
        for source, offset, event_time in result.events:
            if source.kind != TICKS:
                self.indexes.gate(source.partition).observe(source, offset, event_time)
        for change in result.queue:
            self.publisher.queue(change.unit, change.item_id, change.summary)
        self.stats["events"] += len(messages)
        self.stats["batches"] += 1

    async def fire_item_ticks(self) -> None:
        """Produce a tick for every item deadline that is due (and allowed by its gate)."""
        now, real = self.clock.now(), time.time()
        indexes = self.indexes
        sends: list[Send] = []
        for partition in sorted(indexes.owned):
            limit = indexes.gate(partition).limit(now, self._highwaters(partition))
            for key, at in indexes.item_deadlines.pop_due(partition, limit, real_now=real):
                sends.append(self.outputs.item_tick(partition, key, at))
        for partition, key, at in indexes.item_deadlines.retry(real_now=real):
            sends.append(self.outputs.item_tick(partition, key, at))
        if real - self._progress_sent >= 1.0 and indexes.owned:
            # Tell every unit partition how far this worker's item partitions have got
            # (windows expire behind the slowest one).
            self._progress_sent = real
            sends += self.outputs.progress({p: self._watermark(p, now) for p in sorted(indexes.owned)})
        if sends:
            await self._send_all(sends, wait=False)

    def _watermark(self, partition: int, now: float) -> float:
        """Event time before which item partition ``partition`` will add nothing more:
        its input progress, held back by any deadline not yet applied (an overdue
        transition adds to the window of its deadline)."""
        mark = self.indexes.gate(partition).watermark(now, self._highwaters(partition))
        pending = self.indexes.item_deadlines.earliest(partition)
        return mark if pending is None else min(mark, pending)

    def _highwaters(self, partition: int) -> dict[Source, int | None]:
        consumer = self.app.consumer
        out: dict[Source, int | None] = {}
        for kind, topic in gated_sources(self.topics).items():
            try:
                out[Source(kind, partition)] = consumer.highwater(TP(topic, partition))
            except (AssertionError, KeyError, IllegalStateError):  # not assigned (rebalancing)
                out[Source(kind, partition)] = None
        return out

    # -- units -------------------------------------------------------------------------

    async def handle_units(self, events: Sequence[Any]) -> None:
        inputs: list[tuple[int, NodeBatch | Tick | Progress]] = []
        for event in events:
            partition = event.message.partition
            for record in transport.message_records(event.message):
                try:
                    message = decode_internal(record.value)
                    if isinstance(message, NodeGroup):
                        inputs += [(partition, batch) for batch in message.batches]
                    else:
                        inputs.append((partition, message))
                except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
                    log.error(
                        "unreadable transitions message partition=%d offset=%d skipped",
                        partition,
                        record.offset,
                    )
        now = self.clock.now()
        result = self.units.process(inputs, now=now)
        panels = self.panels
        panels.pending |= result.dirty_nodes
        if result.ticks:
            ticked = {p for p, m in inputs if isinstance(m, Tick)}
            panels.pending |= {node for node, p in self.outputs.node_partition.items() if p in ticked}
        # Unit rules and panels follow the counters at most every UNIT_REFRESH seconds and
        # within UNIT_REFRESH_BUDGET of the worker's time (a batch touches hundreds of
        # nodes; evaluating them all per batch cost as much as the counters). Nodes left
        # pending are taken by a later batch or the unit timer. Item alerts do not wait.
        signals: list[Signal] = []
        started = time.monotonic()
        if panels.pending and self._unit_pacer.due(started):
            nodes, panels.pending = sorted(panels.pending), set()
            signals = self.units.evaluate(nodes, now=now)
            for node in nodes:
                panels.publish(node, now)
            reports = self._derived_reports(nodes, now)
            self._unit_pacer.ran(started, time.monotonic())
        else:
            reports = []
        await self._send_all([*(self.outputs.signal(s) for s in signals), *reports], wait=False)
        # Reports before the metrics table: a crash in between redoes the batch, which
        # rebuilds the same reports (no new revision) from the same records.
        await self._make_reports(result.metrics_writes, now)
        await self._write(self.metrics_table, result.metrics_writes)
        await self._write(self.gauges_table, result.gauge_writes)

    async def _make_reports(
        self, metrics_writes: Mapping[int, Mapping[bytes, bytes | None]], now: float
    ) -> None:
        """Report revisions for closed months (stream.stages.reports): sent to gov.reports
        and awaited, then the reports table, then Redis (best effort: a rebuild from the
        topic repairs it)."""
        owned = frozenset(self.indexes.owned)
        if owned != self._report_partitions:
            self.reports.reset()
            self._report_partitions = owned
        node_partition = self.outputs.node_partition
        nodes: dict[int, list[str]] = {}
        for node, partition in node_partition.items():
            nodes.setdefault(partition, []).append(node)
        result = self.reports.process(
            self.units.store,
            changed=[key.decode() for writes in metrics_writes.values() for key in writes],
            horizons={p: self.units.expiry_horizon(p) for p in owned},
            nodes_of=lambda partition: nodes.get(partition, ()),
            partition_of=lambda node: p if (p := node_partition.get(node)) in owned else None,
            now=now,
        )
        topic = self.topics.reports
        if not result.reports:
            if self._unpublished_reports:
                await self._publish_reports([])
            return
        sends = [
            Send(topic, key, value, partition, None)
            for partition, writes in result.writes.items()
            for key, value in writes.items()
        ]
        await self._send_all(sends, wait=True)
        await self._write(self.reports_table, result.writes)
        log.info("made %d report revisions", len(result.reports))
        await self._publish_reports(result.reports)

    async def _publish_reports(self, reports: list[Report]) -> None:
        """Put revisions in Redis for the web node; what Redis cannot take now is retried
        with the next unit batches (a Redis that lost everything is refilled from
        gov.reports by the web node)."""
        pending = [*self._unpublished_reports, *reports]
        if self._unpublished_reports and time.monotonic() < self._reports_retry_at:
            self._unpublished_reports = pending[-100_000:]
            return  # Redis failed moments ago: do not hold up the unit stage on it
        try:
            await asyncio.wait_for(self.report_store.put(pending), 5.0)
        except (RedisError, OSError, TimeoutError) as exc:
            if not self._unpublished_reports:
                log.warning("%d report revisions not written to Redis yet (%s); retrying", len(pending), exc)
            self._unpublished_reports = pending[-100_000:]
            self._reports_retry_at = time.monotonic() + 10.0
        else:
            self._unpublished_reports = []

    async def fire_unit_ticks(self) -> None:
        """Tick every owned partition of the unit stage (windows roll, rules re-evaluate)."""
        at = self.clock.now()
        await self._send_all(self.outputs.unit_ticks(at, sorted(self.indexes.owned)), wait=False)

    def _day_counts(self, node: str, start: float) -> WindowRecord | None:
        """The window record of ``node``'s local day starting at ``start``."""
        if "1d" not in {spec.name for spec in self.units.store.specs}:
            return None
        return self.units.store.record(node, "1d", start)

    def _derived_reports(self, nodes: Iterable[str], now: float) -> list[Send]:
        """Reports of the derived indicators of ``nodes`` that changed, for gov.indicators."""
        sends: list[Send] = []
        for node in nodes:
            for key, value in self.derived.reports(node, now, overdue_now=self.units.gauges(node).overdue):
                sends.append(Send(self.topics.indicators, key, value, self.outputs.node_partition.get(node)))
        return sends

    # -- indicators --------------------------------------------------------------------

    async def handle_indicators(self, events: Sequence[Any]) -> None:
        kinds = {self.topics.indicators: REPORT, self.topics.indicator_ticks: TICK}
        messages = self._messages(events, kinds)
        result = self.indicators.process(messages, now=self.clock.now())
        sends = [self.outputs.signal(s) for s in result.signals]
        sends += self.outputs.dead_letters(result.dead_letters)
        self.stats["dead_letters"] += len(result.dead_letters)
        await self._send_all(sends)
        await self._write(self.indicators_table, result.writes)
        for key, row in result.rows.items():
            self.publisher.indicator(key, row)

    async def fire_indicator_ticks(self) -> None:
        """Tick every owned partition of the indicator stage (statuses follow time)."""
        at = orjson.dumps({"at": self.clock.now()})
        sends = [Send(self.topics.indicator_ticks, None, at, p) for p in sorted(self.indexes.owned)]
        if sends:
            await self._send_all(sends, wait=False)

    async def _republish_indicators(self) -> None:
        """Queue the row of every indicator record this worker holds (Redis lost them)."""
        for key, row in self.indicators.stored_rows(now=self.clock.now()).items():
            self.publisher.indicator(key, row)

    # -- alerts ------------------------------------------------------------------------

    async def handle_alerts(self, events: Sequence[Any]) -> None:
        kinds = {self.topics.signals: SIGNAL, self.topics.commands: COMMAND}
        messages = self._messages(events, kinds)
        now = self.clock.now()
        result = self.alerts.process(messages, now=now)
        sends = [self.outputs.alert_event(e) for e in result.events]
        sends += self.outputs.dead_letters(result.dead_letters)
        self.stats["dead_letters"] += len(result.dead_letters)
        await self._send_all(sends)
        await self._write(self.alerts_table, result.writes)
        await self._write(self.silences_table, result.silence_writes)
        for partition, fingerprint, at in result.schedule:
            self.indexes.alert_wakeups.schedule(partition, fingerprint, at)
        for fingerprint, (unit, board) in result.board.items():
            self.publisher.alert(fingerprint, unit, board)
        self.stats["alert_events"] += len(result.events)

    async def fire_alert_ticks(self) -> None:
        now, real = self.clock.now(), time.time()
        wakeups = self.indexes.alert_wakeups
        sends: list[Send] = []
        for partition in sorted(self.indexes.owned):
            for fingerprint, _at in wakeups.pop_due(partition, now, real_now=real):
                sends.append(self.outputs.alert_tick(partition, fingerprint, now))
        for partition, fingerprint, _at in wakeups.retry(real_now=real):
            sends.append(self.outputs.alert_tick(partition, fingerprint, now))
        if sends:
            await self._send_all(sends, wait=False)

    # -- rebalance, housekeeping -------------------------------------------------------

    async def _on_recovered(self) -> None:
        """Rebuild in-memory indexes for the partitions this worker now owns."""
        await self.recovery.rebuild(self.app.assignor.assigned_actives())
        self.indicators.reset()
        await self._republish_indicators()

    async def _trim(self) -> None:
        self.units.store.trim_cache(self.clock.now())

    async def _release_after_burst(self) -> None:
        """Once the item stage is quiet after a burst of events, give the heap pages its
        transients used back to the OS (runtime.memory.AfterBurst)."""
        events = self.stats["events"]
        if self._after_burst.due(events):
            started = time.monotonic()
            release_free_memory()
            log.debug("released free memory after %d events in %.3fs", events, time.monotonic() - started)

    def _dump_tasks(self) -> None:
        for task in asyncio.all_tasks():
            chain: list[str] = []
            awaited: Any = task.get_coro()
            while awaited is not None and len(chain) < 20:
                frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
                if frame is not None:
                    chain.append(
                        f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:"
                        f"{frame.f_code.co_name}:{frame.f_lineno}"
                    )
                awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
            log.warning("task %s: %s", task.get_name(), " -> ".join(chain) or repr(task))

    def _info(self) -> dict[str, Any]:
        return {
            "partitions": sorted(self.indexes.owned),
            "events": self.stats["events"],
            "open_deadlines": len(self.indexes.item_deadlines),
            "publisher_backlog": self.publisher.backlog,
        }

    # -- running -----------------------------------------------------------------------

    def run(self, *, loglevel: str = "info") -> int:
        """Run the worker until stopped (blocks)."""
        worker = faust.Worker(self.app, loglevel=loglevel, quiet=True)
        worker.execute_from_commandline()
        return 0


def _check_daily_retention(settings: Settings, indicators: IndicatorCatalog) -> None:
    """Warn when daily windows are not kept long enough for a derived indicator's period
    (its value sums the days of the period so far; expired days would be missing)."""
    needed = indicators.daily_retention_needed()
    kept = settings.window_retention.get("1d", 0.0) if "1d" in settings.windows else 0.0
    if needed is not None and kept < needed[1] * 86400.0:
        code, days = needed
        log.warning(
            "daily windows (1d) are kept %.0f days, but derived indicator %s sums up to %d days: "
            "its value will miss the first days of its period; set GOVPULSE_WINDOW_RETENTION "
            "1d=%dd (and keep 1d in GOVPULSE_WINDOWS)",
            kept / 86400.0,
            code,
            days - 1,
            days,
        )
