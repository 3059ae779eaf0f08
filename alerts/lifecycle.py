"""The alert lifecycle, like Alertmanager / PagerDuty: dedup, escalation, ack, silences, reminders.

One alert per fingerprint. The alert stage keeps the current :class:`~alerts.model.Alert`
of each fingerprint and calls, with its clock's ``now``:

* :func:`on_signal` for each signal of the rules (open, refresh, escalate, resolve);
* :func:`on_command` for acks and explanations from ``gov.commands``;
* :func:`on_tick` at :func:`next_wakeup` (reminders, silence boundaries, purge).

Each returns a :class:`Step`: the alert to store (``None`` = delete the record, or there
never was one) and the events to publish on ``gov.alerts``. Every event of one step
carries the alert as it is after the step. A step without events may still change the
record quietly (fresh facts and texts), so compare ``step.alert`` with the stored one
before writing.

Rules of the lifecycle:

* A new active signal opens the alert (``opened``), ``firing``. If a silence matches, it
  opens flagged ``silenced`` and is not notified until the silence ends (``unsilenced``).
* Repeated active signals are de-duplicated: no event unless something visible changed
  (severity, escalation, unit, audience, title) → ``updated``; a higher ladder step on a
  firing alert → ``escalated`` (severity of the step, audience widened). An acknowledged
  alert does not escalate: the step reached is kept in ``facts["escalation"]`` only.
* An inactive signal resolves a firing or acknowledged alert (``resolved``). An active
  signal on a resolved alert opens the next incident (``incident`` + 1; ack,
  explanations, reminders and escalation start afresh) — unless it is dated at or before
  the resolution: that is a redelivered signal, and changes nothing.
* Firing, unacknowledged, unsilenced alerts of at least ``reminders.min_severity`` are
  ``reminded`` every ``reminders.repeat_interval`` after the last notification
  (``notified_at``: opened, updated, escalated, unsilenced or reminded).
* Resolved alerts are kept ``retention.resolved_alerts`` after ``resolved_at``, and at
  least :data:`REDELIVERY_GUARD` after the resolution was processed (``updated_at``), then
  :func:`on_tick` returns ``Step(None, [])``: delete the record. The guard matters when
  the clock is far ahead of the signals (a backlog, a replay): without it a worker could
  delete the record, die before committing the signals it had read, and its successor,
  reading them again with no record left to recognise them, would open a second incident.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from alerts.config import RulesConfig
from alerts.errors import CommandRejected
from alerts.model import (
    INDICATOR_RULES,
    MAX_COMMAND_IDS,
    MAX_EXPLANATIONS,
    MAX_TEXT,
    Alert,
    AlertEvent,
    AlertEventType,
    Command,
    CommandType,
    Explanation,
    RuleName,
    Signal,
    Silence,
    State,
)
from alerts.texts import render
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.durations import format_duration

#: Longest silence a leader can set (clock seconds).
MAX_SILENCE = 31 * 86400.0

#: Least time (clock seconds) a resolved alert is kept after its resolution was processed:
#: far longer than a commit interval, so that the signals read before it are committed
#: and no redelivery can find the record gone.
REDELIVERY_GUARD = 600.0


@dataclass(frozen=True, slots=True)
class Step:
    """Result of one lifecycle call: the alert to keep (``None``: none/delete) and its events."""

    alert: Alert | None
    events: list[AlertEvent]


# -- signals ----------------------------------------------------------------------------------


def on_signal(
    alert: Alert | None,
    signal: Signal,
    now: float,
    *,
    silences: Sequence[Silence],
    config: RulesConfig,
    catalog: Catalog,
    calendar: WorkCalendar,
) -> Step:
    """Apply a rule's signal to the alert of its fingerprint (``None`` if there is none).

    Raises:
        ValueError: ``alert`` has another fingerprint than ``signal``.
    """
    if alert is not None and alert.fingerprint != signal.fingerprint:
        raise ValueError(f"signal {signal.fingerprint!r} applied to alert {alert.fingerprint!r}")
    if not signal.active:
        if alert is None or alert.state is State.RESOLVED:
            return Step(alert, [])
        resolved = replace(
            alert,
            state=State.RESOLVED,
            resolved_at=max(signal.at, alert.opened_at),
            updated_at=now,
            facts={**alert.facts, **signal.facts},
        )
        if resolved.rule in INDICATOR_RULES:
            # "Recovered" is said in the texts of an indicator alert's resolution.
            resolved = _rendered(resolved, config=config, catalog=catalog, calendar=calendar)
        return Step(resolved, [_event(AlertEventType.RESOLVED, resolved, now)])
    if alert is not None and alert.resolved_at is not None and signal.at <= alert.resolved_at:
        # Resolved after this signal was raised: a redelivered signal (a worker died
        # before committing it), not a new occurrence of the condition.
        return Step(alert, [])
    if alert is None or alert.state is State.RESOLVED:
        return _open(alert, signal, now, silences=silences, config=config, catalog=catalog, calendar=calendar)

    escalate = signal.escalation > alert.escalation and alert.state is State.FIRING
    if escalate or signal.escalation == alert.escalation:
        level, severity = signal.escalation, signal.severity
    else:
        # Acknowledged (ack stops escalation) or a stale lower step: keep what was applied.
        level, severity = alert.escalation, alert.severity
    candidate = _rendered(
        replace(
            alert,
            unit=signal.unit,
            item_id=signal.item_id,
            severity=severity,
            escalation=level,
            facts=dict(signal.facts),
        ),
        config=config,
        catalog=catalog,
        calendar=calendar,
    )
    kinds: list[AlertEventType] = []
    if escalate:
        kinds.append(AlertEventType.ESCALATED)
    elif _visible(candidate) != _visible(alert):
        kinds.append(AlertEventType.UPDATED)
    silenced = _silenced(candidate, now, silences)
    if silenced != alert.silenced:
        kinds.append(AlertEventType.SILENCED if silenced else AlertEventType.UNSILENCED)
    if not kinds:
        return Step(alert if candidate == alert else candidate, [])
    return _notify(replace(candidate, silenced=silenced), now, kinds)


def _open(
    previous: Alert | None,
    signal: Signal,
    now: float,
    *,
    silences: Sequence[Silence],
    config: RulesConfig,
    catalog: Catalog,
    calendar: WorkCalendar,
) -> Step:
    alert = Alert(
        fingerprint=signal.fingerprint,
        rule=signal.rule,
        severity=signal.severity,
        state=State.FIRING,
        unit=signal.unit,
        item_id=signal.item_id,
        opened_at=signal.at,
        updated_at=now,
        escalation=signal.escalation,
        facts=dict(signal.facts),
        incident=1 if previous is None else previous.incident + 1,
        command_ids=() if previous is None else previous.command_ids,
    )
    alert = _rendered(alert, config=config, catalog=catalog, calendar=calendar)
    alert = replace(alert, silenced=_silenced(alert, now, silences))
    return _notify(alert, now, [AlertEventType.OPENED])


# -- commands ---------------------------------------------------------------------------------


def on_command(
    alert: Alert | None,
    command: Command,
    now: float,
    *,
    config: RulesConfig,
    catalog: Catalog,
    calendar: WorkCalendar,
) -> Step:
    """Apply an ack or an explanation command to the alert it names.

    A command id already applied to this alert is a no-op (no events).

    Raises:
        CommandRejected: unknown alert, wrong sender scope, or not possible in the
            alert's state; :attr:`~alerts.errors.CommandRejected.reason` says which.
    """
    if command.type in (CommandType.SILENCE, CommandType.UNSILENCE):
        raise CommandRejected(
            f"'{command.type.value}' commands change silences, not one alert; "
            f"use silence_from_command / end_silence"
        )
    if alert is None:
        raise CommandRejected(f"no such alert {command.alert!r} (never opened, or resolved and removed)")
    if command.alert != alert.fingerprint:
        raise CommandRejected(f"command is for alert {command.alert!r}, not {alert.fingerprint!r}")
    if command.command_id in alert.command_ids:
        return Step(alert, [])
    if command.by_scope == "wall":
        raise CommandRejected("the wall display is read-only; it cannot send commands")
    seen = (*alert.command_ids, command.command_id)[-MAX_COMMAND_IDS:]

    if command.type is CommandType.ACK:
        if command.by_scope != "leader":
            raise CommandRejected(
                f"only a leader can acknowledge an alert (sender scope is {command.by_scope!r})"
            )
        if alert.state is State.RESOLVED:
            raise CommandRejected(f"alert {alert.fingerprint} is resolved; there is nothing to acknowledge")
        if alert.state is State.ACKNOWLEDGED:
            return Step(replace(alert, command_ids=seen), [])
        acked = replace(
            alert,
            state=State.ACKNOWLEDGED,
            acked_at=command.at,
            acked_by=command.by_sub,
            updated_at=now,
            command_ids=seen,
        )
        return Step(acked, [_event(AlertEventType.ACKNOWLEDGED, acked, now)])

    text = (command.text or "").strip()[:MAX_TEXT]
    if not text:
        raise CommandRejected("an explanation request or answer needs a non-empty 'text'")
    if len(alert.explanations) >= MAX_EXPLANATIONS:
        raise CommandRejected(
            f"alert {alert.fingerprint} already has {MAX_EXPLANATIONS} explanation messages; "
            f"continue outside the board"
        )
    if command.type is CommandType.EXPLAIN_REQUEST:
        if command.by_scope != "leader":
            raise CommandRejected(
                f"only a leader can request an explanation (sender scope is {command.by_scope!r})"
            )
        kind = AlertEventType.EXPLANATION_REQUESTED
        entry = Explanation("request", command.by_sub, text, command.at)
    else:
        if command.by_scope != f"unit:{alert.unit}":
            raise CommandRejected(
                f"only unit {alert.unit} can answer on alert {alert.fingerprint} "
                f"(sender scope is {command.by_scope!r})"
            )
        if not any(entry.kind == "request" for entry in alert.explanations):
            raise CommandRejected(f"no explanation was requested on alert {alert.fingerprint}")
        kind = AlertEventType.EXPLAINED
        entry = Explanation("answer", command.by_sub, text, command.at)
    changed = replace(alert, explanations=(*alert.explanations, entry), updated_at=now, command_ids=seen)
    changed = replace(changed, audience=audience_for(changed, config=config, catalog=catalog))
    return Step(changed, [_event(kind, changed, now)])


# -- time ---------------------------------------------------------------------------------------


def on_tick(alert: Alert | None, now: float, *, silences: Sequence[Silence], config: RulesConfig) -> Step:
    """Apply what time alone changes at ``now``: silence boundaries, reminders, purge.

    Call it at :func:`next_wakeup` (and for every alert a new or ended silence covers).
    """
    if alert is None:
        return Step(None, [])
    if alert.state is State.RESOLVED:
        if now >= _purge_at(alert, config):
            return Step(None, [])
        return Step(alert, [])
    silenced = _silenced(alert, now, silences)
    if silenced != alert.silenced:
        kind = AlertEventType.SILENCED if silenced else AlertEventType.UNSILENCED
        return _notify(replace(alert, silenced=silenced), now, [kind])
    reminder = _reminder_at(alert, config)
    if reminder is not None and now >= reminder:
        reminded = replace(alert, reminders=alert.reminders + 1, notified_at=now, updated_at=now)
        return Step(reminded, [_event(AlertEventType.REMINDED, reminded, now)])
    return Step(alert, [])


def next_wakeup(
    alert: Alert, *, now: float, silences: Sequence[Silence], config: RulesConfig
) -> float | None:
    """When :func:`on_tick` must next run for ``alert``; ``None`` if time alone changes nothing.

    For an active alert: the next reminder (possibly already due, i.e. ``<= now``) or the
    next start/end after ``now`` of a silence about its unit and rule. For a resolved
    alert: the purge instant (see :func:`_purge_at`).
    """
    if alert.state is State.RESOLVED:
        return _purge_at(alert, config)
    candidates = [
        boundary
        for silence in silences
        if silence.covers(alert.unit, alert.rule)
        for boundary in (silence.starts_at, silence.ends_at)
        if boundary > now
    ]
    reminder = _reminder_at(alert, config)
    if reminder is not None:
        candidates.append(reminder)
    return min(candidates, default=None)


def _purge_at(alert: Alert, config: RulesConfig) -> float:
    """When a resolved alert is deleted: retention after ``resolved_at``, guard after processing."""
    assert alert.resolved_at is not None
    return max(alert.resolved_at + config.retention.resolved_alerts, alert.updated_at + REDELIVERY_GUARD)


# -- silences ---------------------------------------------------------------------------------


def silence_from_command(
    command: Command, *, catalog: Catalog | None = None, max_duration: float = MAX_SILENCE
) -> Silence:
    """Validate a ``silence`` command and return the silence to store.

    After storing it, tick (:func:`on_tick`) every alert it covers
    (:meth:`~alerts.model.Silence.covers`).

    Raises:
        CommandRejected: not a silence command, not from a leader, an empty, too long or
            past time box, or an unknown unit.
    """
    silence = command.silence
    if command.type is not CommandType.SILENCE or silence is None:
        raise CommandRejected(f"'{command.type.value}' is not a silence command")
    if command.by_scope != "leader":
        raise CommandRejected(f"only a leader can create a silence (sender scope is {command.by_scope!r})")
    if silence.ends_at <= silence.starts_at:
        raise CommandRejected("silence 'ends_at' must be after 'starts_at'")
    if silence.ends_at <= command.at:
        raise CommandRejected("silence 'ends_at' is already past")
    if silence.ends_at - silence.starts_at > max_duration:
        raise CommandRejected(
            f"a silence can last at most {format_duration(max_duration)}; set an earlier 'ends_at'"
        )
    if catalog is not None and silence.unit is not None and silence.unit not in catalog:
        raise CommandRejected(f"silence unit {silence.unit!r} is not in the unit catalog")
    return silence


def end_silence(silence: Silence | None, command: Command) -> Silence:
    """Validate an ``unsilence`` command: the silence ends at the command's instant.

    Keep the returned silence (or delete it) and tick every alert it covers.

    Raises:
        CommandRejected: not an unsilence command, not from a leader, or no such silence.
    """
    if command.type is not CommandType.UNSILENCE:
        raise CommandRejected(f"'{command.type.value}' is not an unsilence command")
    if command.by_scope != "leader":
        raise CommandRejected(f"only a leader can end a silence (sender scope is {command.by_scope!r})")
    if silence is None or silence.id != command.silence_id:
        raise CommandRejected(f"no such silence {command.silence_id!r}")
    return replace(silence, ends_at=max(silence.starts_at, min(silence.ends_at, command.at)))


# -- routing and rendering ----------------------------------------------------------------------


def audience_for(alert: Alert, *, config: RulesConfig, catalog: Catalog) -> tuple[str, ...]:
    """Board scopes the alert is for: ``wall``, ``leaders``, ``unit:<code>``.

    The rule's audience, plus the ladder's audiences up to the applied escalation step,
    plus the alert's unit once an explanation was requested. ``parent`` is the unit
    above the alert's unit, or ``leaders`` when that is the catalog's root (the city).
    """
    entries = list(config.audience_of(alert.rule))
    if alert.rule == RuleName.ITEM_OVERDUE:
        for step in config.escalation[: alert.escalation]:
            entries.extend(step.audience)
    if any(entry.kind == "request" for entry in alert.explanations):
        entries.append("unit")
    resolved: list[str] = []
    for entry in entries:
        if entry == "unit":
            resolved.append(f"unit:{alert.unit}")
        elif entry == "parent":
            parent = catalog.parent(alert.unit) if alert.unit in catalog else None
            above = parent is not None and parent != catalog.root
            resolved.append(f"unit:{parent}" if above else "leaders")
        else:
            resolved.append(entry)
    order = {"wall": 0, "leaders": 1}
    unique = dict.fromkeys(resolved)
    return tuple(sorted(unique, key=lambda scope: order.get(scope, 2)))


def _rendered(alert: Alert, *, config: RulesConfig, catalog: Catalog, calendar: WorkCalendar) -> Alert:
    texts = render(
        alert.rule,
        unit=alert.unit,
        item_id=alert.item_id,
        escalation=alert.escalation,
        facts=alert.facts,
        config=config,
        catalog=catalog,
        calendar=calendar,
    )
    return replace(
        alert,
        audience=audience_for(alert, config=config, catalog=catalog),
        title_vi=texts.title_vi,
        title_en=texts.title_en,
        text_vi=texts.text_vi,
        text_en=texts.text_en,
    )


def _visible(alert: Alert) -> tuple[object, ...]:
    """Fields whose change makes an ``updated`` event (texts with live numbers do not)."""
    return (
        alert.severity,
        alert.escalation,
        alert.unit,
        alert.audience,
        alert.title_vi,
        alert.title_en,
    )


def _silenced(alert: Alert, now: float, silences: Sequence[Silence]) -> bool:
    return any(silence.matches(alert.unit, alert.rule, now) for silence in silences)


def _reminder_at(alert: Alert, config: RulesConfig) -> float | None:
    if (
        alert.state is not State.FIRING
        or alert.silenced
        or alert.notified_at is None
        or alert.severity < config.reminders.min_severity
    ):
        return None
    return alert.notified_at + config.reminders.repeat_interval


def _notify(alert: Alert, now: float, kinds: list[AlertEventType]) -> Step:
    """Stamp ``alert`` as changed at ``now`` (notified, if firing and not silenced)."""
    notified = now if alert.state is State.FIRING and not alert.silenced else alert.notified_at
    changed = replace(alert, updated_at=now, notified_at=notified)
    return Step(changed, [_event(kind, changed, now) for kind in kinds])


def _event(kind: AlertEventType, alert: Alert, now: float) -> AlertEvent:
    return AlertEvent(alert.fingerprint, kind, now, alert)
