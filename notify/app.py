"""``govpulse notify``: the notifier process, a thin shell around the dispatcher.

One consumer group (``<GOVPULSE_APP_ID>-notify``) reads ``gov.alerts``; any number of
processes share its partitions. Per process:

* the **reader** decodes alert events (anything else goes to ``gov.notify.deadletter``
  with its reason) into the :class:`~notify.dispatch.Dispatcher`;
* the **ticker** takes the groups whose tick came, records each flush in Redis
  (:meth:`~notify.delivery.Outbox.record`) and only then lets their offsets be committed;
* one **deliverer** per receiver, active in the one process holding that receiver's
  lease, sends the outbox in order with retries; after the last retry the notification
  goes to ``gov.notify.deadletter`` and the board shows a "receiver failing" alert until
  the receiver takes a notification again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterable

import aiohttp
import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from redis.exceptions import RedisError

from alerts.model import AlertEventType
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from notify import receivers as receivers_module
from notify.delivery import Outbox, backoff, jitter, still_wanted
from notify.dispatch import Dispatcher
from notify.model import Flush, Notification, parse_event
from notify.render import message_id_domain
from notify.routes import Receiver, RoutesConfig, load_routes
from runtime.board import BoardStore, Change
from runtime.clock import Clock
from runtime.notices import Delivery, NoticeStore, load_vapid
from runtime.settings import Settings

log = logging.getLogger(__name__)

DEADLETTER = "gov.notify.deadletter"
BEATS_KEY = "notify:beats"
#: Longest sleep of the ticker between checks (real seconds).
TICK = 0.05
#: Wait before trying Redis again after an error (real seconds).
REDIS_RETRY = 1.0


def group_id(settings: Settings) -> str:
    return f"{settings.app_id}-notify"


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self.notifier.commit()
        self.notifier.dispatcher.revoke({(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        log.info("notifier assigned partitions %s", sorted(tp.partition for tp in assigned))


class Notifier:
    """The notifier's parts and loops (see the module docstring)."""

    def __init__(self, settings: Settings, routes: RoutesConfig, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.routes = routes
        self.clock = clock or settings.clock.build()
        self.vapid = load_vapid(settings.vapid_private_key)
        self.catalog = Catalog.from_file(settings.units_file)
        self.calendar = WorkCalendar.from_file(settings.calendar_file)
        self.dispatcher = Dispatcher(routes, catalog=self.catalog, calendar=self.calendar)
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.redis = aioredis.Redis.from_url(settings.redis_target)
        self.outbox = Outbox(self.redis, owner=self.owner, lease_seconds=settings.notify_lease)
        self.notices = NoticeStore(self.redis)
        self.board = BoardStore.from_url(settings.redis_target, feed_maxlen=settings.feed_maxlen)
        self.topic = settings.topic("gov.alerts")
        self.deadletter_topic = settings.topic(DEADLETTER)
        self.stopping = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.http: aiohttp.ClientSession | None = None
        self.senders: dict[str, receivers_module.Sender] = {}
        self.lock = asyncio.Lock()
        self.unrecorded: list[Flush] = []

    # -- life --------------------------------------------------------------------------------

    async def run(self) -> None:
        self.http = aiohttp.ClientSession()
        self.senders = {name: self._sender(r) for name, r in self.routes.receivers.items()}
        self.producer = AIOKafkaProducer(bootstrap_servers=self.settings.broker_bootstrap, linger_ms=5)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.broker_bootstrap,
            group_id=group_id(self.settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=int(self.settings.fetch_wait * 1000),
            session_timeout_ms=int(self.settings.session_timeout * 1000),
            heartbeat_interval_ms=max(100, int(self.settings.session_timeout * 1000 / 3)),
        )
        await ensure_topic(self.settings, self.deadletter_topic)
        await self.producer.start()
        await self.consumer.start()
        self.consumer.subscribe([self.topic], listener=_Rebalance(self))
        log.info(
            "notifier started owner=%s group=%s topic=%s receivers=%s",
            self.owner,
            group_id(self.settings),
            self.topic,
            ",".join(self.routes.receivers),
        )
        tasks = [
            asyncio.create_task(self._read(), name="read"),
            asyncio.create_task(self._tick(), name="tick"),
            *(
                asyncio.create_task(self._deliver(name), name=f"deliver:{name}")
                for name in self.routes.receivers
            ),
        ]
        try:
            stop = asyncio.create_task(self.stopping.wait())
            done, _ = await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stop and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.commit()
            for name in self.routes.receivers:
                with contextlib.suppress(Exception):
                    await self.outbox.release(name)
            with contextlib.suppress(Exception):
                await self.redis.hdel(BEATS_KEY, self.owner)
            await self.consumer.stop()
            await self.producer.stop()
            await self.http.close()
            await self.redis.aclose()
            await self.board.close()
            log.info("notifier stopped owner=%s", self.owner)

    def _sender(self, receiver: Receiver) -> receivers_module.Sender:
        assert self.http is not None
        link = f"{self.settings.public_url}/leader"
        if receiver.kind == "webhook":
            return receivers_module.WebhookSender(receiver, self.http)
        if receiver.kind == "email":
            return receivers_module.EmailSender(
                receiver, link=link, domain=message_id_domain(self.settings.public_url)
            )
        return receivers_module.WebPushSender(
            receiver,
            store=self.notices,
            vapid=self.vapid,
            subject=self.settings.vapid_subject,
            link=link,
            session=self.http,
        )

    # -- reading ---------------------------------------------------------------------------------

    async def _read(self) -> None:
        assert self.consumer is not None
        while not self.stopping.is_set():
            batch = await self.consumer.getmany(timeout_ms=100, max_records=2000)
            states: dict[str, str] = {}
            async with self.lock:
                now = self.clock.now()
                for tp, records in batch.items():
                    for record in records:
                        offset = (tp.topic, tp.partition, record.offset)
                        try:
                            event = parse_event(record.value)
                        except ValueError as exc:
                            await self._deadletter(
                                {
                                    "reason": str(exc)[:500],
                                    "topic": tp.topic,
                                    "partition": tp.partition,
                                    "offset": record.offset,
                                    "value": (record.value or b"")[:4096].decode(errors="replace"),
                                }
                            )
                            self.dispatcher.on_event_offset_only(offset)
                            continue
                        try:
                            self.dispatcher.on_event(event, now, offset=offset)
                        except Exception as exc:  # no message may stop the notifier
                            log.error("alert event refused offset=%s", record.offset, exc_info=True)
                            await self._deadletter(
                                {"reason": f"{type(exc).__name__}: {exc}"[:500], "offset": record.offset}
                            )
                            self.dispatcher.on_event_offset_only(offset)
                            continue
                        alert = event.alert
                        states[alert.fingerprint] = f"{alert.state.value}#{alert.incident}"
                        if event.type is AlertEventType.ACKNOWLEDGED:
                            log.debug("ack seen fingerprint=%s", alert.fingerprint)
            if states:
                try:
                    await self.outbox.remember_states(states)
                except RedisError as exc:
                    # Only cancelling queued pages after an ack depends on it; reading goes on.
                    log.warning("Redis unavailable (%s); alert states not recorded", exc)

    # -- ticking -----------------------------------------------------------------------------------

    async def _tick(self) -> None:
        last_commit = last_beat = 0.0
        while not self.stopping.is_set():
            try:
                if time.monotonic() - last_beat >= 1.0:
                    await self.beat()
                    last_beat = time.monotonic()
                async with self.lock:
                    self.unrecorded.extend(self.dispatcher.due(self.clock.now()))
                recorded = await self._record_flushes()
                if time.monotonic() - last_commit >= self.settings.commit_interval or recorded:
                    await self.commit()
                    last_commit = time.monotonic()
            except RedisError as exc:
                # Flushes wait in order (their offsets stay uncommitted) until Redis is back.
                log.warning(
                    "Redis unavailable (%s); %d flush(es) wait to be recorded", exc, len(self.unrecorded)
                )
                await asyncio.sleep(REDIS_RETRY)
            await asyncio.sleep(TICK)

    async def _record_flushes(self) -> int:
        """Record the waiting flushes in order; their offsets may then be committed."""
        recorded = []
        try:
            for flush in self.unrecorded:
                channel = self.routes.receivers[flush.receiver].kind
                notification = await self.outbox.record(flush, channel=channel)
                if notification is not None:
                    log.info(
                        "notification %s receiver=%s group=%s status=%s alerts=%d",
                        notification.id,
                        flush.receiver,
                        flush.group,
                        notification.status,
                        len(notification.alerts),
                    )
                recorded.append(flush)
        finally:
            if recorded:
                del self.unrecorded[: len(recorded)]
                async with self.lock:
                    self.dispatcher.done(recorded)
        return len(recorded)

    async def beat(self) -> None:
        """``notify:beats``: this notifier is alive (the compose healthcheck reads it)."""
        groups = len(self.dispatcher.groups)
        body = orjson.dumps({"beat": time.time(), "clock": self.clock.now(), "groups": groups})
        await self.redis.hset(BEATS_KEY, self.owner, body)

    async def commit(self) -> None:
        """Commit, per assigned partition, up to the oldest event whose flush is not recorded."""
        consumer = self.consumer
        if consumer is None:
            return
        assigned = consumer.assignment()
        offsets = {
            TopicPartition(topic, partition): offset
            for (topic, partition), offset in self.dispatcher.committable().items()
            if TopicPartition(topic, partition) in assigned
        }
        if offsets:
            try:
                await consumer.commit(offsets)
            except KafkaError as exc:
                log.warning("commit failed (will retry): %s", exc)

    # -- delivering -----------------------------------------------------------------------------------

    async def _deliver(self, name: str) -> None:
        receiver = self.routes.receivers[name]
        sender = self.senders[name]
        while not self.stopping.is_set():
            try:
                if not await self.outbox.lease(name):
                    await asyncio.sleep(min(1.0, self.outbox.lease_ms / 3000))
                    continue
                entries = await self.outbox.next_entries(name)
                if not entries:
                    await asyncio.sleep(TICK)
                    continue
                for entry in entries:
                    if not await self.outbox.lease(name):
                        break  # lost the lease (a long stall): the holder goes on from the cursor
                    await self._deliver_one(receiver, sender, entry.stream_id, entry.notification)
            except RedisError as exc:
                # The cursor did not move: whoever holds the lease once Redis is back resends.
                log.warning("Redis unavailable (%s); delivery to %s waits", exc, name)
                await asyncio.sleep(REDIS_RETRY)

    async def _deliver_one(
        self, receiver: Receiver, sender: receivers_module.Sender, stream_id: str, notification: Notification
    ) -> None:
        fingerprints = [a.fingerprint for a in notification.alerts]
        first = time.monotonic()
        attempt = 0
        while True:
            states = await self.outbox.states(fingerprints)
            if not still_wanted(notification, states):
                done = Delivery(
                    notification.id,
                    receiver.name,
                    sender.channel,
                    "cancelled",
                    self.clock.now(),
                    attempt,
                    "acknowledged or resolved before delivery",
                )
                await self.outbox.advance(receiver.name, stream_id, done, fingerprints)
                return
            attempt += 1
            outcome = await sender.send(notification, now=time.time())
            if outcome.status == "delivered":
                was_failing = await self.outbox.advance(
                    receiver.name,
                    stream_id,
                    self._record(notification, receiver, sender, "delivered", attempt, outcome.detail),
                    fingerprints,
                )
                if was_failing:
                    await self._receiver_failing(receiver, notification, outcome.detail, firing=False)
                return
            elapsed = time.monotonic() - first
            wait = backoff(attempt, receiver.retry, jitter())
            if outcome.retry_after is not None:
                wait = max(wait, min(outcome.retry_after, receiver.retry.maximum))
            if outcome.status == "failed" or elapsed + wait > receiver.retry.give_up_after:
                log.warning(
                    "notification %s to %s failed after %d attempt(s): %s",
                    notification.id,
                    receiver.name,
                    attempt,
                    outcome.detail,
                )
                await self._deadletter(
                    {
                        "reason": outcome.detail,
                        "receiver": receiver.name,
                        "attempts": attempt,
                        "notification": notification.to_json(),
                    },
                    key=notification.id,
                )
                await self.outbox.advance(
                    receiver.name,
                    stream_id,
                    self._record(notification, receiver, sender, "failed", attempt, outcome.detail),
                    fingerprints,
                )
                await self._receiver_failing(receiver, notification, outcome.detail, firing=True)
                return
            await self.outbox.write(
                self._record(
                    notification, receiver, sender, "pending", attempt, f"retrying: {outcome.detail}"
                ),
                fingerprints,
            )
            log.info(
                "notification %s to %s: %s; retry in %.1fs",
                notification.id,
                receiver.name,
                outcome.detail,
                wait,
            )
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and not self.stopping.is_set():
                await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
                await self.outbox.lease(receiver.name)
            if self.stopping.is_set():
                return

    def _record(
        self,
        notification: Notification,
        receiver: Receiver,
        sender: receivers_module.Sender,
        status: str,
        attempts: int,
        detail: str,
    ) -> Delivery:
        return Delivery(
            notification.id, receiver.name, sender.channel, status, self.clock.now(), attempts, detail
        )

    async def _deadletter(self, record: dict[str, object], *, key: str | None = None) -> None:
        assert self.producer is not None
        await self.producer.send_and_wait(
            self.deadletter_topic, orjson.dumps(record), key=None if key is None else key.encode()
        )

    async def _receiver_failing(
        self, receiver: Receiver, notification: Notification, detail: str, *, firing: bool
    ) -> None:
        """Show (or resolve) the board alert "receiver failing" for ``receiver``."""
        now = self.clock.now()
        fingerprint = f"notify_receiver_failing:{receiver.name}"
        unit = self.catalog.root
        alert = {
            "fingerprint": fingerprint,
            "rule": "notify_receiver_failing",
            "severity": "critical",
            "state": "firing" if firing else "resolved",
            "unit": unit,
            "item_id": None,
            "opened_at": now,
            "updated_at": now,
            "resolved_at": None if firing else now,
            "acked_at": None,
            "acked_by": None,
            "escalation": 0,
            "audience": ["wall", "leaders"],
            "title_vi": f"Kênh thông báo {receiver.name} đang lỗi",
            "title_en": f"Receiver {receiver.name} failing",
            "text_vi": f"Không gửi được thông báo qua {receiver.kind}: {detail}",
            "text_en": f"Notifications via {receiver.kind} cannot be delivered: {detail}",
            "facts": {"receiver": receiver.name, "notification": notification.id},
            "silenced": False,
            "notified_at": now,
            "reminders": 0,
            "incident": 1,
            "explanations": [],
            "unit_name_vi": self.catalog.get(unit).name_vi,
            "unit_name_en": self.catalog.get(unit).name_en,
        }
        await self.outbox.failing(receiver.name, now_failing=firing)
        try:
            await self.board.publish([Change("alert", fingerprint, unit, orjson.dumps(alert))])
        except Exception:  # the board is a view; delivery goes on without it
            log.warning("could not publish the receiver-failing alert for %s", receiver.name, exc_info=True)


async def ensure_topic(settings: Settings, name: str) -> None:
    """Create ``name`` (GOVPULSE_PARTITIONS partitions) unless it exists."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker_bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        if name not in set(await admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(name, settings.partitions, 1)])
    finally:
        await admin.close()


def run(settings: Settings) -> None:
    """Run one notifier until SIGTERM/SIGINT (the routes file is checked first)."""
    routes = load_routes(settings.routes_file)
    notifier = Notifier(settings, routes)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, notifier.stopping.set)
        await notifier.run()

    asyncio.run(main())
