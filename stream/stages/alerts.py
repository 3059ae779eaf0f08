"""Alert stage logic: signals, commands and ticks per fingerprint → alert lifecycle.

:class:`AlertProcessor` is the pure core of the alerts agent (keyed by fingerprint, like
``gov.alerts`` and ``gov.commands``). It feeds each input to :mod:`alerts.lifecycle`,
keeps silences (a silence command is broadcast to every partition, so each partition has
them all), and returns the alert table writes, the alert events for ``gov.alerts``, the
board changes and the next wake-up of each alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from alerts import lifecycle
from alerts.config import RulesConfig
from alerts.errors import CommandRejected
from alerts.inquiries import is_inquiry, on_inquiry_command
from alerts.model import Alert, AlertEvent, CommandType, Signal, Silence, parse_command
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.indicators.catalog import IndicatorCatalog
from stream.stages.items import DeadLetter, Message

log = logging.getLogger(__name__)

SIGNAL, COMMAND = "s", "c"


@dataclass(slots=True)
class AlertBatchResult:
    writes: dict[int, dict[bytes, bytes | None]] = field(default_factory=dict)
    silence_writes: dict[int, dict[bytes, bytes]] = field(default_factory=dict)
    events: list[AlertEvent] = field(default_factory=list)
    board: dict[str, tuple[str, dict[str, Any] | None]] = field(default_factory=dict)
    schedule: list[tuple[int, str, float | None]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


class AlertProcessor:
    """Alerts of the fingerprint partitions one worker owns.

    Args:
        rules, catalog, calendar: what the lifecycle needs to render and route alerts.
        load: reads an alert's stored bytes by fingerprint.
    """

    def __init__(
        self,
        *,
        rules: RulesConfig,
        catalog: Catalog,
        calendar: WorkCalendar,
        load: Callable[[bytes], bytes | None],
        indicators: IndicatorCatalog | None = None,
    ) -> None:
        self.rules = rules
        #: Explanation requests on any indicator (:mod:`alerts.inquiries`) need it.
        self.indicators = indicators
        self.catalog = catalog
        self.calendar = calendar
        self.load = load
        self.silences: dict[str, Silence] = {}
        self._active: dict[int, set[str]] = {}

    # -- state -------------------------------------------------------------------------

    def reset(self, silences: Iterable[bytes]) -> None:
        """Reload silences (after a rebalance); alerts are read from the table lazily."""
        self.silences.clear()
        for raw in silences:
            try:
                silence = Silence.decode(raw)
            except ValueError:
                log.error("unreadable silence record skipped")
                continue
            self.silences[silence.id] = silence
        self._active.clear()

    def rebuild(
        self, partition: int, stored: Iterable[tuple[bytes, bytes]], *, now: float
    ) -> list[tuple[str, float | None]]:
        """Index the stored alerts of ``partition``; return their next wake-ups."""
        active: set[str] = set()
        schedule: list[tuple[str, float | None]] = []
        for key, raw in stored:
            try:
                alert = Alert.decode(raw)
            except ValueError:
                log.error("unreadable alert record key=%r skipped", key)
                continue
            if alert.active:
                active.add(alert.fingerprint)
            schedule.append((alert.fingerprint, self._wakeup(alert, now)))
        self._active[partition] = active
        return schedule

    def active(self, partition: int) -> set[str]:
        return self._active.setdefault(partition, set())

    def _current(self, key: bytes, overlay: dict[bytes, Alert | None]) -> Alert | None:
        if key in overlay:
            return overlay[key]
        raw = self.load(key)
        if raw is None:
            return None
        try:
            return Alert.decode(raw)
        except ValueError:
            log.error("unreadable alert record key=%r; treating it as absent", key, exc_info=True)
            return None

    def _wakeup(self, alert: Alert, now: float) -> float | None:
        return lifecycle.next_wakeup(alert, now=now, silences=list(self.silences.values()), config=self.rules)

    # -- batches -----------------------------------------------------------------------

    def process(self, messages: Sequence[Message], *, now: float) -> AlertBatchResult:
        """Apply signals (``s``), commands (``c``) and ticks in order."""
        result = AlertBatchResult()
        overlay: dict[bytes, Alert | None] = {}
        partition_of: dict[bytes, int] = {}
        silences = list(self.silences.values())
        for message in messages:
            try:
                touched = self._apply(message, overlay, now, result, silences, partition_of)
            except (CommandRejected, ValueError, KeyError, TypeError) as exc:
                reason = exc.reason if isinstance(exc, CommandRejected) else f"not a valid message: {exc}"
                result.dead_letters.append(DeadLetter(message, reason, stage="alerts"))
                log.info("rejected topic=%s offset=%d: %s", message.topic, message.offset, reason)
                continue
            except Exception as exc:
                log.error("failed to apply topic=%s offset=%d", message.topic, message.offset, exc_info=True)
                result.dead_letters.append(DeadLetter(message, f"internal error: {exc!r}", stage="alerts"))
                continue
            silences = list(self.silences.values())
            for key in touched:
                partition_of[key] = message.partition
        for key, alert in overlay.items():
            partition = partition_of[key]
            fingerprint = key.decode()
            result.writes.setdefault(partition, {})[key] = None if alert is None else alert.encode()
            active = self.active(partition)
            if alert is not None and alert.active:
                active.add(fingerprint)
                result.board[fingerprint] = (alert.unit, alert.to_board(self.catalog))
            else:
                active.discard(fingerprint)
                if alert is not None:  # resolved: leaves the board (a purge was already gone)
                    result.board[fingerprint] = (alert.unit, None)
            result.schedule.append(
                (partition, fingerprint, None if alert is None else self._wakeup(alert, now))
            )
        return result

    def _apply(
        self,
        message: Message,
        overlay: dict[bytes, Alert | None],
        now: float,
        result: AlertBatchResult,
        silences: list[Silence],
        partition_of: dict[bytes, int],
    ) -> list[bytes]:
        if message.value is None:
            raise ValueError("message has no value")
        if message.kind == COMMAND:
            return self._command(message, overlay, now, result, partition_of)
        data = orjson.loads(message.value)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        if "tick" in data:
            if not data.get("key"):
                return []
            key = str(data["key"]).encode()
            step = lifecycle.on_tick(self._current(key, overlay), now, silences=silences, config=self.rules)
        else:
            decoded = Signal.from_json(data)
            key = decoded.fingerprint.encode()
            step = lifecycle.on_signal(
                self._current(key, overlay),
                decoded,
                now,
                silences=silences,
                config=self.rules,
                catalog=self.catalog,
                calendar=self.calendar,
            )
        overlay[key] = step.alert
        result.events.extend(step.events)
        return [key]

    def _command(
        self,
        message: Message,
        overlay: dict[bytes, Alert | None],
        now: float,
        result: AlertBatchResult,
        partition_of: dict[bytes, int],
    ) -> list[bytes]:
        assert message.value is not None
        command = parse_command(message.value)
        if command.type in (CommandType.SILENCE, CommandType.UNSILENCE):
            if command.type is CommandType.SILENCE:
                silence = lifecycle.silence_from_command(command, catalog=self.catalog)
            else:
                silence = lifecycle.end_silence(self.silences.get(command.silence_id or ""), command)
            self.silences[silence.id] = silence
            result.silence_writes.setdefault(message.partition, {})[
                f"{silence.id}@{message.partition}".encode()
            ] = silence.encode()
            touched: list[bytes] = []
            silences = list(self.silences.values())
            # Alerts active before this batch, and those opened earlier in it (not yet indexed).
            keys = {fingerprint.encode() for fingerprint in self.active(message.partition)}
            keys.update(k for k, p in partition_of.items() if p == message.partition)
            for key in sorted(keys):
                alert = self._current(key, overlay)
                if alert is None or not alert.active or not silence.covers(alert.unit, alert.rule):
                    continue
                step = lifecycle.on_tick(alert, now, silences=silences, config=self.rules)
                overlay[key] = step.alert
                result.events.extend(step.events)
                touched.append(key)
            return touched
        if command.alert is None:
            raise CommandRejected(f"'{command.type.value}' needs the alert fingerprint")
        key = command.alert.encode()
        if self.indicators is not None and is_inquiry(command.alert):
            step = on_inquiry_command(
                self._current(key, overlay),
                command,
                now,
                indicators=self.indicators,
                silences=list(self.silences.values()),
                config=self.rules,
                catalog=self.catalog,
                calendar=self.calendar,
            )
        else:
            step = lifecycle.on_command(
                self._current(key, overlay),
                command,
                now,
                config=self.rules,
                catalog=self.catalog,
                calendar=self.calendar,
            )
        overlay[key] = step.alert
        result.events.extend(step.events)
        return [key]
