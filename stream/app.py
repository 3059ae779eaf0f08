"""The Faust application: topics, tables, three agents, three timers, and the publisher.

Shells only — the logic is in :mod:`stream.stages` (pure processors). Each agent takes a
batch of events, hands it to its processor, then does the I/O in the order that keeps
results exact under at-least-once delivery:

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
import hashlib
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, cast

import faust
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from aiokafka.partitioner import murmur2
from faust.types import TP

from alerts.config import RulesConfig
from alerts.model import Signal
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.encoding import dumps_kept
from domain.items import ItemPolicy, item_summary
from domain.sla import SlaPolicy
from domain.windows import window_specs
from runtime.board import BoardStore
from runtime.clock import Clock
from runtime.memory import release_free_memory
from runtime.settings import Settings
from runtime.topics import Topics
from stream import transport
from stream.deadlines import DeadlineIndex, Gate
from stream.gauges import GaugeIndex
from stream.publish import Publisher
from stream.stages.alerts import COMMAND, SIGNAL, AlertProcessor
from stream.stages.items import FEEDBACK, TASKS, TICKS, DeadLetter, ItemProcessor, Message, encode_tick
from stream.stages.units import Pacer, UnitProcessor
from stream.transitions import NodeBatch, NodeGroup, Progress, Tick, encode_group
from stream.transitions import decode as decode_internal

log = logging.getLogger(__name__)

#: Dead letters keep at most this much of the original value and key (the rest is
#: described by the ``govpulse.truncated`` and ``govpulse.sha256`` headers): the producer
#: (1 MB by default) and brokers refuse larger records, and a refused dead letter stopped
#: the worker on the same message again after every restart.
DEAD_LETTER_MAX_VALUE = 512 * 1024
DEAD_LETTER_MAX_KEY = 1024
#: Unit rules are evaluated, and unit panels rendered, at most this often (seconds)...
UNIT_REFRESH = 1.0
#: ...and at most this share of the worker's time: evaluating and rendering every node of
#: a 250-unit catalog takes ~30 ms, which every 0.5 s was ~6% of a worker under load.
UNIT_REFRESH_BUDGET = 0.05


#: Most records in one chunk an agent receives (see stream.transport.deliver_in_chunks)...
CHUNK_RECORDS = 250
#: ...and most chunks buffered per topic before fetching pauses (~16,000 records).
CHUNK_BUFFER = 64


def chunking(batch_size: int) -> tuple[int, int]:
    """``(records per chunk, chunks per batch)`` for agents that read chunks and handle
    at most ``batch_size`` (``GOVPULSE_BATCH_SIZE``) events per batch."""
    chunk = max(1, min(CHUNK_RECORDS, batch_size))
    return chunk, max(1, batch_size // chunk)


#: A message to send: (topic, key, value, partition or None, headers or None).
Send = tuple[str, bytes | None, bytes | None, int | None, Any]


def key_partition(key: str, partitions: int) -> int:
    """Partition of ``key`` under Kafka's default partitioner (murmur2), as producers use."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


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
        self.policy = ItemPolicy(
            calendar=self.calendar,
            sla=SlaPolicy.from_file(settings.sla_file),
            catalog=self.catalog,
            deadlines=self.rules.deadline_policy(
                purge_after=settings.closed_item_retention, dedup_ids=settings.dedup_ids
            ),
        )
        self.partitions = settings.partitions
        transport.set_fetch_wait(settings.fetch_wait)
        self.app = self._create_app()
        self._create_tables()
        self.gauges = GaugeIndex(self.catalog)
        self.item_deadlines: DeadlineIndex[bytes] = DeadlineIndex()
        self.alert_wakeups: DeadlineIndex[str] = DeadlineIndex()
        self.gates: dict[int, Gate] = {}
        self.items = ItemProcessor(
            self.policy,
            self.rules,
            load=self.items_table.data.get,
            gauges=self.gauges,
            max_event_bytes=settings.max_event_bytes,
            max_future_skew=settings.max_future_skew,
        )
        self.units = UnitProcessor(
            catalog=self.catalog,
            rules=self.rules,
            calendar=self.calendar,
            specs=window_specs(
                settings.windows, settings.window_retention, period_anchor=settings.reporting_period
            ),
            grace=settings.window_grace,
            load_metrics=self.metrics_table.data.get,
            load_gauges=self.gauges_table.data.get,
            metric_keys=lambda: list(self.metrics_table.data.keys()),
            partitions=settings.partitions,
        )
        self.alerts = AlertProcessor(
            rules=self.rules, catalog=self.catalog, calendar=self.calendar, load=self.alerts_table.data.get
        )
        self.publisher = Publisher(
            BoardStore.from_url(settings.redis_target, feed_maxlen=settings.feed_maxlen),
            worker_id=self.worker_id,
            clock_now=self.clock.now,
        )
        self.publisher.on_republish(self._republish)
        self.publisher.set_info(self._info)
        self.publisher.on_bulk_flushed(release_free_memory)
        self.owned: set[int] = set()
        self._progress_sent = 0.0
        self._unit_boards: dict[str, bytes] = {}
        self._units_pending: set[str] = set()
        self._unit_pacer = Pacer(UNIT_REFRESH, budget=UNIT_REFRESH_BUDGET)
        self._node_partition = {code: key_partition(code, self.partitions) for code in self.catalog.units}
        self.stats = {"events": 0, "dead_letters": 0, "alert_events": 0, "batches": 0}
        self._register()

    # -- construction ------------------------------------------------------------------

    def _create_app(self) -> faust.App:
        settings = self.settings
        brokers = [
            f"govkafka://{host.strip()}" for host in settings.broker_bootstrap.split(",") if host.strip()
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
        self.items_table.on_recover(self._on_recovered)

    def _register(self) -> None:
        t = self.topics
        self.item_sources = {t.feedback: FEEDBACK, t.tasks: TASKS, t.item_ticks: TICKS}
        # A topic's buffer holds chunks: CHUNK_BUFFER chunks bound it like Faust's
        # stream_buffer_maxsize (16,384 messages) bounds a per-message topic.
        raw, maxsize = self._raw_schema(), CHUNK_BUFFER
        item_topic = self.app.topic(t.feedback, t.tasks, t.item_ticks, schema=raw, maxsize=maxsize)
        unit_topic = self.app.topic(t.transitions, schema=raw, maxsize=maxsize)
        alert_topic = self.app.topic(t.signals, t.commands, schema=raw, maxsize=maxsize)
        # Agents receive their topics in chunks of consecutive records (stream.transport):
        # a batch takes at most batch_size // chunk chunks: at most GOVPULSE_BATCH_SIZE events.
        chunk, size = chunking(self.settings.batch_size)
        within = self.settings.batch_window
        transport.deliver_in_chunks(
            self.app,
            [t.feedback, t.tasks, t.item_ticks, t.transitions, t.signals, t.commands],
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
        self.app.timer(self.settings.tick_interval, name="deadline-timer")(self.fire_item_ticks)
        self.app.timer(max(1.0, self.settings.tick_interval), name="unit-timer")(self.fire_unit_ticks)
        self.app.timer(self.settings.tick_interval, name="alert-timer")(self.fire_alert_ticks)
        self.app.timer(60.0, name="cache-trim")(self._trim)

        async def start_publisher() -> None:
            await self.publisher.start()
            # `kill -USR2 <pid>` logs every task's stack: how to see what a stuck worker waits on.
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, self._dump_tasks)

        async def stop_publisher(app: Any, *_: Any, **__: Any) -> None:
            await self.publisher.stop()

        self.app.task(start_publisher)
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

    async def _write(self, table: Any, writes: dict[int, dict[bytes, bytes | None]]) -> None:
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

    def _dead_letters(
        self, letters: Sequence[DeadLetter]
    ) -> list[tuple[str, bytes | None, bytes | None, int | None, Any]]:
        out: list[Send] = []
        for letter in letters:
            message = letter.message
            key, value = message.key, message.value
            headers = [
                ("govpulse.reason", letter.reason.encode()[:4000]),
                ("govpulse.source.topic", message.topic.encode()),
                ("govpulse.source.partition", str(message.partition).encode()),
                ("govpulse.source.offset", str(message.offset).encode()),
                ("govpulse.stage", letter.stage.encode()),
            ]
            sizes = len(value or b""), len(key or b"")
            if sizes[0] > DEAD_LETTER_MAX_VALUE or sizes[1] > DEAD_LETTER_MAX_KEY:
                headers += [
                    ("govpulse.truncated", f"value={sizes[0]} key={sizes[1]}".encode()),
                    ("govpulse.sha256", hashlib.sha256(value or b"").hexdigest().encode()),
                ]
                key = None if key is None else key[:DEAD_LETTER_MAX_KEY]
                value = None if value is None else value[:DEAD_LETTER_MAX_VALUE]
            out.append((self.topics.deadletter, key, value, None, headers))
        self.stats["dead_letters"] += len(letters)
        return out

    def _transitions(self, batches: Iterable[NodeBatch]) -> list[Send]:
        """Messages carrying ``batches`` to the unit stage: grouped per partition."""
        by_partition: dict[int, list[NodeBatch]] = {}
        for batch in batches:
            by_partition.setdefault(self._node_partition[batch.node], []).append(batch)
        return [
            (self.topics.transitions, None, value, partition, None)
            for partition, grouped in by_partition.items()
            for value in encode_group(grouped)
        ]

    def _signal(self, fingerprint: str, value: bytes) -> Send:
        """A message to the signals topic (internal, ``GOVPULSE_PARTITIONS`` partitions), in
        the partition Kafka's default partitioner would pick for its key."""
        return (
            self.topics.signals,
            fingerprint.encode(),
            value,
            key_partition(fingerprint, self.partitions),
            None,
        )

    @staticmethod
    def _messages(events: Sequence[Any], sources: dict[str, str]) -> list[Message]:
        out: list[Message] = []
        for event in events:
            message = event.message
            source, topic, partition = sources.get(message.topic, "?"), message.topic, message.partition
            out += [
                Message(source, topic, partition, record.offset, record.key, record.value)
                for record in transport.message_records(message)
            ]
        return out

    # -- items -------------------------------------------------------------------------

    async def handle_items(self, events: Sequence[Any]) -> None:
        messages = self._messages(events, self.item_sources)
        now = self.clock.now()
        limits = {
            p: self.gates.setdefault(p, Gate()).limit(now, self._highwaters(p))
            for p in {m.partition for m in messages if m.source == TICKS}
        }
        result = self.items.process(messages, now=now, tick_limits=limits)
        sends = self._transitions(result.node_batches)
        sends += [self._signal(s.fingerprint, s.encode()) for s in result.signals]
        sends += self._dead_letters(result.dead_letters)
        await self._send_all(sends)
        await self._write(self.items_table, result.writes)
        for partition, key, at in result.schedule:
            self.item_deadlines.schedule(partition, key, at)
        for tag, offset, event_time in result.events:
            if tag[0] != TICKS:
                self.gates.setdefault(int(tag[1:]), Gate()).observe(tag, offset, event_time)
        for change in result.queue:
            self.publisher.queue(change.unit, change.item_id, change.summary)
        self.stats["events"] += len(messages)
        self.stats["batches"] += 1

    async def fire_item_ticks(self) -> None:
        """Produce a tick for every item deadline that is due (and allowed by its gate)."""
        now, real = self.clock.now(), time.time()
        sends: list[Send] = []
        for partition in sorted(self.owned):
            gate = self.gates.setdefault(partition, Gate())
            limit = gate.limit(now, self._highwaters(partition))
            for key, at in self.item_deadlines.pop_due(partition, limit, real_now=real):
                sends.append((self.topics.item_ticks, key, encode_tick(key.decode(), at), partition, None))
        for partition, key, at in self.item_deadlines.retry(real_now=real):
            sends.append((self.topics.item_ticks, key, encode_tick(key.decode(), at), partition, None))
        if real - self._progress_sent >= 1.0 and self.owned:
            # Tell every unit partition how far this worker's item partitions have got
            # (windows expire behind the slowest one).
            self._progress_sent = real
            progress = Progress({p: self._watermark(p, now) for p in sorted(self.owned)}).encode()
            sends += [(self.topics.transitions, None, progress, q, None) for q in range(self.partitions)]
        if sends:
            await self._send_all(sends, wait=False)

    def _watermark(self, partition: int, now: float) -> float:
        """Event time before which item partition ``partition`` will add nothing more:
        its input progress, held back by any deadline not yet applied (an overdue
        transition adds to the window of its deadline)."""
        mark = self.gates.setdefault(partition, Gate()).watermark(now, self._highwaters(partition))
        pending = self.item_deadlines.earliest(partition)
        return mark if pending is None else min(mark, pending)

    def _highwaters(self, partition: int) -> dict[str, int | None]:
        consumer = self.app.consumer
        out: dict[str, int | None] = {}
        for tag, topic in ((FEEDBACK, self.topics.feedback), (TASKS, self.topics.tasks)):
            try:
                out[f"{tag}{partition}"] = consumer.highwater(TP(topic, partition))
            except (AssertionError, KeyError, IllegalStateError):  # not assigned (rebalancing)
                out[f"{tag}{partition}"] = None
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
        self._units_pending |= result.dirty_nodes
        if result.ticks:
            ticked = {p for p, m in inputs if isinstance(m, Tick)}
            self._units_pending |= {node for node, p in self._node_partition.items() if p in ticked}
        # Unit rules and panels follow the counters at most every UNIT_REFRESH seconds and
        # within UNIT_REFRESH_BUDGET of the worker's time (a batch touches hundreds of
        # nodes; evaluating them all per batch cost as much as the counters). Nodes left
        # pending are taken by a later batch or the unit timer. Item alerts do not wait.
        signals: list[Signal] = []
        started = time.monotonic()
        if self._units_pending and self._unit_pacer.due(started):
            nodes, self._units_pending = sorted(self._units_pending), set()
            signals = self.units.evaluate(nodes, now=now)
            for node in nodes:
                self._publish_unit(node, now)
            self._unit_pacer.ran(started, time.monotonic())
        await self._send_all((self._signal(s.fingerprint, s.encode()) for s in signals), wait=False)
        await self._write(self.metrics_table, result.metrics_writes)
        await self._write(self.gauges_table, result.gauge_writes)  # type: ignore[arg-type]

    def _publish_unit(self, node: str, now: float) -> None:
        board = dumps_kept(self.units.board(node, now=now))
        if self._unit_boards.get(node) != board:
            self._unit_boards[node] = board
            self.publisher.unit(node, board)

    async def fire_unit_ticks(self) -> None:
        """Tick every owned partition of the unit stage (windows roll, rules re-evaluate)."""
        at = self.clock.now()
        await self._send_all(
            (
                (self.topics.transitions, None, Tick(at).encode(), partition, None)
                for partition in sorted(self.owned)
            ),
            wait=False,
        )

    # -- alerts ------------------------------------------------------------------------

    async def handle_alerts(self, events: Sequence[Any]) -> None:
        sources = {self.topics.signals: SIGNAL, self.topics.commands: COMMAND}
        messages = self._messages(events, sources)
        now = self.clock.now()
        result = self.alerts.process(messages, now=now)
        sends: list[Send] = [
            (self.topics.alerts, e.fingerprint.encode(), e.encode(), None, None) for e in result.events
        ]
        sends += self._dead_letters(result.dead_letters)
        await self._send_all(sends)
        await self._write(self.alerts_table, result.writes)
        await self._write(self.silences_table, result.silence_writes)  # type: ignore[arg-type]
        for partition, fingerprint, at in result.schedule:
            self.alert_wakeups.schedule(partition, fingerprint, at)
        for fingerprint, (unit, board) in result.board.items():
            self.publisher.alert(fingerprint, unit, board)
        self.stats["alert_events"] += len(result.events)

    async def fire_alert_ticks(self) -> None:
        now, real = self.clock.now(), time.time()
        sends = []
        for partition in sorted(self.owned):
            for fingerprint, _at in self.alert_wakeups.pop_due(partition, now, real_now=real):
                sends.append(
                    (
                        self.topics.signals,
                        fingerprint.encode(),
                        Tick(now, fingerprint).encode(),
                        partition,
                        None,
                    )
                )
        for partition, fingerprint, _at in self.alert_wakeups.retry(real_now=real):
            sends.append(
                (self.topics.signals, fingerprint.encode(), Tick(now, fingerprint).encode(), partition, None)
            )
        if sends:
            await self._send_all(sends, wait=False)

    # -- rebalance ---------------------------------------------------------------------

    async def _on_recovered(self) -> None:
        """Rebuild in-memory indexes for the partitions this worker now owns."""
        started = time.monotonic()
        assigned = self.app.assignor.assigned_actives()
        owned = {tp.partition for tp in assigned if tp.topic == self.topics.feedback}
        for partition in self.owned - owned:
            self.item_deadlines.drop_partition(partition)
            self.alert_wakeups.drop_partition(partition)
            self.gauges.drop_partition(partition)
            self.gates.pop(partition, None)
        self.owned = owned
        committed = await self._committed_offsets()
        for partition in owned:
            self.item_deadlines.drop_partition(partition)
            gate = self.gates[partition] = Gate()
            for tag, topic in ((FEEDBACK, self.topics.feedback), (TASKS, self.topics.tasks)):
                offset = committed.get((topic, partition))
                if offset is not None and offset > 0:
                    gate.processed[f"{tag}{partition}"] = offset
        count = 0
        for partition, key, at in self.items.rebuild(owned, list(self.items_table.data.items())):
            self.item_deadlines.schedule(partition, key, at)
            count += 1
        # Every owned partition re-announces its gauges (a dead worker may have left the
        # unit stage with older values).
        batches = [
            NodeBatch(node, (), tuple(self.gauges.snapshot(p, node) for p in sorted(owned)))
            for node in self.catalog.units
        ]
        await self._send_all(self._transitions(batches))
        self.units.reset()
        self._units_pending.clear()  # owned nodes are all evaluated on the next unit tick
        for node, partition in self._node_partition.items():
            if partition in owned:
                self.units.own(node, partition)
        self._unit_boards.clear()
        self.alerts.reset(list(self.silences_table.data.values()))
        now = self.clock.now()
        alerts_by_partition: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in owned}
        for key, raw in list(self.alerts_table.data.items()):
            partition = key_partition(key.decode(), self.partitions)
            if partition in alerts_by_partition and raw is not None:
                alerts_by_partition[partition].append((key, raw))
        for partition, stored in alerts_by_partition.items():
            self.alert_wakeups.drop_partition(partition)
            for fingerprint, at in self.alerts.rebuild(partition, stored, now=now):
                self.alert_wakeups.schedule(partition, fingerprint, at)
        log.info(
            "partitions %s recovered: rebuilt deadline index for %d items (%d pending) in %.2fs",
            sorted(owned),
            count,
            len(self.item_deadlines),
            time.monotonic() - started,
        )
        release_free_memory()  # what the restore and the rebuild used transiently
        if self.publisher.up:
            await self._republish()

    async def _committed_offsets(self) -> dict[tuple[str, int], int]:
        """Committed offsets of this consumer group's input partitions (gates start there).

        Read with a group consumer that never joins (OffsetFetch only), which the embedded
        broker supports (its admin OffsetFetch does not decode).
        """
        reader = AIOKafkaConsumer(
            bootstrap_servers=self.settings.broker_bootstrap,
            group_id=self.settings.app_id,
            enable_auto_commit=False,
        )
        out: dict[tuple[str, int], int] = {}
        try:
            await reader.start()
            for topic in (self.topics.feedback, self.topics.tasks):
                for partition in range(self.partitions):
                    offset = await reader.committed(TopicPartition(topic, partition))
                    if offset is not None:
                        out[(topic, partition)] = offset
        except KafkaError:
            log.warning("could not read committed offsets; deadline ticks wait for new input", exc_info=True)
        finally:
            await reader.stop()
        return out

    async def _republish(self) -> None:
        """Enqueue this worker's whole board state (after Redis lost it, or a rebalance)."""
        now = self.clock.now()
        from domain.items import decode_item

        queued = 0
        for _key, raw in list(self.items_table.data.items()):
            if raw is None:
                continue
            item = decode_item(raw)
            if item.partition in self.owned and item.is_open:
                self.publisher.queue(item.unit, item.item_id, item_summary(item))
                queued += 1
            if queued % 5000 == 0:
                await asyncio.sleep(0)
        self._unit_boards.clear()
        for node, partition in self._node_partition.items():
            if partition in self.owned:
                self._publish_unit(node, now)
        for partition in self.owned:
            for fingerprint in self.alerts.active(partition):
                raw = self.alerts_table.data.get(fingerprint.encode())
                if raw is not None:
                    from alerts.model import Alert

                    alert = Alert.decode(raw)
                    self.publisher.alert(fingerprint, alert.unit, alert.to_board(self.catalog))
        log.info(
            "republishing board state: %d queue entries, owned partitions %s", queued, sorted(self.owned)
        )

    async def _trim(self) -> None:
        self.units.store.trim_cache(self.clock.now())

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
            "partitions": sorted(self.owned),
            "events": self.stats["events"],
            "open_deadlines": len(self.item_deadlines),
            "publisher_backlog": self.publisher.backlog,
        }

    # -- running -----------------------------------------------------------------------

    def run(self, *, loglevel: str = "info") -> int:
        """Run the worker until stopped (blocks)."""
        worker = faust.Worker(self.app, loglevel=loglevel, quiet=True)
        worker.execute_from_commandline()
        return 0


def await_all(awaitables: Iterable[Awaitable[Any]]) -> Awaitable[list[Any]]:
    return asyncio.gather(*awaitables)
