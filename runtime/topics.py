"""Topic names and their creation.

Contract topics (docs/events.md) keep their names; internal topics are prefixed with the app
id. Every govpulse topic has the same number of partitions so that topics keyed alike
are co-partitioned (an item's events, ticks and table rows share a partition number).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from domain.errors import ServiceError
from runtime.settings import Settings

log = logging.getLogger(__name__)

FEEDBACK = "gov.feedback"
TASKS = "gov.tasks"
ALERTS = "gov.alerts"
DEADLETTER = "gov.deadletter"
COMMANDS = "gov.commands"
INDICATORS = "gov.indicators"
#: Closed-period reports, one record per revision, keyed ``UNIT|PERIOD`` (docs/reports.md).
REPORTS = "gov.reports"
#: Topics created compacted: only the latest record of a key must be kept.
COMPACTED = frozenset({REPORTS})


@dataclass(frozen=True, slots=True)
class Topics:
    """Full topic names for one deployment (prefix and app id applied)."""

    feedback: str
    tasks: str
    alerts: str
    deadletter: str
    commands: str
    item_ticks: str
    transitions: str
    signals: str
    #: Indicator reports (docs/events.md) and the indicator stage's ticks (co-partitioned).
    indicators: str = INDICATORS
    indicator_ticks: str = "govpulse.indicator-ticks"
    reports: str = ""

    @classmethod
    def for_settings(cls, settings: Settings) -> Topics:
        internal = f"{settings.app_id}."
        return cls(
            feedback=settings.topic(FEEDBACK),
            tasks=settings.topic(TASKS),
            alerts=settings.topic(ALERTS),
            deadletter=settings.topic(DEADLETTER),
            commands=settings.topic(COMMANDS),
            item_ticks=settings.topic(internal + "item-ticks"),
            transitions=settings.topic(internal + "transitions"),
            signals=settings.topic(internal + "signals"),
            indicators=settings.topic(INDICATORS),
            indicator_ticks=settings.topic(internal + "indicator-ticks"),
            reports=settings.topic(REPORTS),
        )

    def all(self) -> tuple[str, ...]:
        return (
            self.feedback,
            self.tasks,
            self.alerts,
            self.deadletter,
            self.commands,
            self.item_ticks,
            self.transitions,
            self.signals,
            self.indicators,
            self.indicator_ticks,
            *((self.reports,) if self.reports else ()),
        )


async def create_topics(settings: Settings, *, timeout: float = 30.0) -> list[str]:
    """Create every govpulse topic that does not exist yet; return the ones created.

    Raises:
        ServiceError: the broker is unreachable within ``timeout`` seconds, or an
            existing topic has a different partition count.
    """
    topics = Topics.for_settings(settings)
    compacted = {settings.topic(name) for name in COMPACTED}
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker_bootstrap, request_timeout_ms=10000)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await admin.start()
            break
        except KafkaError as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise ServiceError(
                    f"broker {settings.broker_bootstrap} unreachable: {exc}; "
                    f"check GOVPULSE_BROKER_URL or start it with `govpulse dev`"
                ) from None
            await asyncio.sleep(0.2)
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in topics.all() if name not in existing]
        for name in missing:
            try:
                configs = {"cleanup.policy": "compact"} if name in compacted else {}
                await admin.create_topics([NewTopic(name, settings.partitions, 1, topic_configs=configs)])
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        described = await admin.describe_topics(list(topics.all()))
        for entry in described:
            count = len(entry.get("partitions", []))
            if count and count != settings.partitions:
                raise ServiceError(
                    f"topic {entry.get('topic')} has {count} partitions, expected "
                    f"GOVPULSE_PARTITIONS={settings.partitions}; co-partitioning needs them equal"
                )
    finally:
        await admin.close()
    if created:
        log.info("created topics %s with %d partitions", ", ".join(created), settings.partitions)
    return created
