"""Explanation requests on any indicator (``indicator_explanation`` alerts).

A leader may ask the unit that answers for an indicator to explain it, whatever its
colour — not only a red one with an ``indicator_at_risk`` alert. The request is the
condition: it opens the alert ``indicator_explanation:CODE/UNIT/PERIOD`` (its unit is the
indicator's owner, so that unit is told), and the owner's answer resolves it. A later
request reopens it (the next incident) with the thread kept, so the leader and the unit
see the whole exchange. Everything else — de-duplication by command id, who may request
(a leader) and answer (the owner unit only), the wall being read-only, audiences, texts —
is the alert lifecycle's (:func:`alerts.lifecycle.on_command`), exactly as for an item.

:func:`inquiry_target` resolves a fingerprint to the indicator assignment and period it
names (the web node uses it to authorise a request before the alert exists, the alert
stage to open it); :func:`on_inquiry_command` applies a command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from alerts import lifecycle
from alerts.config import RulesConfig
from alerts.errors import CommandRejected
from alerts.model import Alert, Command, CommandType, RuleName, Signal, Silence, State, fingerprint
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.indicators.catalog import Assignment, IndicatorCatalog
from domain.indicators.periods import parse_period

PREFIX = f"{RuleName.INDICATOR_EXPLANATION.value}:"
#: A request after the answer opens the next incident this much after the resolution,
#: whatever the skew between the clocks that stamped the two commands.
_AFTER = 0.001


@dataclass(frozen=True, slots=True)
class InquiryTarget:
    """What an ``indicator_explanation`` fingerprint names."""

    assignment: Assignment
    period: str

    @property
    def owner(self) -> str:
        """The unit that is told and answers."""
        return self.assignment.owner

    def facts(self) -> dict[str, Any]:
        indicator = self.assignment.indicator
        return {
            "indicator": indicator.code,
            "indicator_unit": self.assignment.unit,
            "period": self.period,
            "name_vi": indicator.name_vi,
            "name_en": indicator.name_en,
            "measure": indicator.measure,
            "kind": indicator.kind,
            "target": self.assignment.target,
        }


def inquiry_fingerprint(code: str, unit: str, period: str) -> str:
    """Fingerprint of the explanation thread on indicator ``code`` of ``unit`` in ``period``."""
    return fingerprint(RuleName.INDICATOR_EXPLANATION, f"{code}/{unit}/{period}")


def is_inquiry(alert_fingerprint: str) -> bool:
    return alert_fingerprint.startswith(PREFIX)


def inquiry_target(alert_fingerprint: str, indicators: IndicatorCatalog) -> InquiryTarget:
    """The assignment and period an ``indicator_explanation`` fingerprint names.

    Raises:
        CommandRejected: not such a fingerprint, an indicator the unit has no target
            for, or a period label of the wrong kind; the reason says which.
    """
    if not is_inquiry(alert_fingerprint):
        raise CommandRejected(f"{alert_fingerprint[:80]!r} is not an {PREFIX}CODE/UNIT/PERIOD fingerprint")
    parts = alert_fingerprint.removeprefix(PREFIX).split("/")
    if len(parts) != 3:
        raise CommandRejected(
            f"{alert_fingerprint[:80]!r} must name CODE/UNIT/PERIOD, e.g. "
            f"{PREFIX}SO-1022-DUNG-HAN/P-BAN-CO/2026-04"
        )
    code, unit, label = parts
    assignment = indicators.assignment(code, unit)
    if assignment is None:
        raise CommandRejected(f"unit {unit[:40]!r} has no target for indicator {code[:40]!r}")
    try:
        parse_period(label, assignment.indicator.period)
    except ValueError as exc:
        raise CommandRejected(str(exc)) from None
    return InquiryTarget(assignment, label)


def on_inquiry_command(
    alert: Alert | None,
    command: Command,
    now: float,
    *,
    indicators: IndicatorCatalog,
    silences: Sequence[Silence],
    config: RulesConfig,
    catalog: Catalog,
    calendar: WorkCalendar,
) -> lifecycle.Step:
    """Apply an explanation request, answer or ack on an ``indicator_explanation`` alert.

    A leader's request opens the alert when there is none (or reopens a resolved one,
    keeping its thread); the owner unit's answer is recorded and resolves it.

    Raises:
        CommandRejected: an unknown indicator or period, a sender scope that may not
            send this command, or a command the alert's state does not allow.
    """
    if command.alert is None:
        raise CommandRejected(f"'{command.type.value}' needs the alert fingerprint")
    target = inquiry_target(command.alert, indicators)
    if alert is not None and command.command_id in alert.command_ids:
        return lifecycle.Step(alert, [])  # a redelivered command
    if command.by_scope == "wall":
        raise CommandRejected("the wall display is read-only; it cannot send commands")
    if command.type is CommandType.EXPLAIN_REQUEST and command.by_scope != "leader":
        raise CommandRejected(
            f"only a leader can request an explanation (sender scope is {command.by_scope!r})"
        )
    kw: dict[str, Any] = {"config": config, "catalog": catalog, "calendar": calendar}
    opened = lifecycle.Step(alert, [])
    if command.type is CommandType.EXPLAIN_REQUEST and (alert is None or alert.state is State.RESOLVED):
        at = max(command.at, (alert.resolved_at or 0.0) + _AFTER) if alert else command.at
        signal = _signal(command.alert, target, at, config=config)
        opened = lifecycle.on_signal(alert, signal, now, silences=silences, **kw)
        if alert is not None and opened.alert is not None:
            opened = lifecycle.Step(replace(opened.alert, explanations=alert.explanations), opened.events)
    step = lifecycle.on_command(opened.alert, command, now, **kw)
    events = [*opened.events, *step.events]
    if command.type is CommandType.EXPLAIN_ANSWER and step.alert is not None and step.alert.active:
        signal = _signal(command.alert, target, command.at, config=config, active=False)
        resolved = lifecycle.on_signal(step.alert, signal, now, silences=silences, **kw)
        return lifecycle.Step(resolved.alert, [*events, *resolved.events])
    return lifecycle.Step(step.alert, events)


def _signal(
    alert_fingerprint: str, target: InquiryTarget, at: float, *, config: RulesConfig, active: bool = True
) -> Signal:
    return Signal(
        fingerprint=alert_fingerprint,
        rule=RuleName.INDICATOR_EXPLANATION,
        active=active,
        at=at,
        unit=target.owner,
        item_id=None,
        severity=config.severity_of(RuleName.INDICATOR_EXPLANATION),
        facts={**target.facts(), "answered": not active},
    )
