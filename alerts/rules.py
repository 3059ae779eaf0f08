"""Alert rules: item transitions and unit status in, :class:`~alerts.model.Signal` s out.

A signal is a verdict about one subject *now*: active (the condition holds) or inactive
(it does not). The lifecycle opens, refreshes and resolves alerts from them, so rules are
stateless: each call says what is true, and clearing needs no memory here.

Item rules (subject = item id), from one transition and the item after it:

=============================  ===========================================================
transition                     signals
=============================  ===========================================================
``due_soon``                   ``item_due_soon`` active (none if the item is already overdue)
``overdue``                    ``item_due_soon`` inactive, ``item_overdue`` active, level 0
``escalated``                  ``item_overdue`` active, level = the transition's step
``resolved``/``cancelled``/    ``item_due_soon`` inactive if the item became due soon,
``reopened``                   ``item_overdue`` inactive if it became overdue
``extended``/``resumed``       the item's current condition: ``item_overdue`` active if
                               overdue, else ``item_due_soon`` active or inactive
``transferred``/``assigned``   active conditions again, with the new unit (the alert
(to another unit)              follows the item)
anything else                  nothing
=============================  ===========================================================

Time-driven and refreshing transitions of an item that is already closed give nothing
(the item stage may apply several transitions before the summary it passes).

Clearing transitions skip the conditions the item never reached: an active
``item_due_soon`` is only ever sent while the item's ``due_soon`` flag is set, and an
active ``item_overdue`` only once ``overdue_at`` is set; the flags are cleared only by an
extension (which then sends ``item_due_soon`` inactive itself) or by a reopen (whose item
was closed, so its closing transition already cleared both). Most items are resolved
before they are due soon; sending two inactive signals for each of them was most of the
signals topic.

Unit rules (subject = unit code) give one signal per rule and call; a disabled rule or a
window without enough items gives an inactive signal, which resolves an earlier alert.
"""

from __future__ import annotations

from typing import Any

from alerts.config import RulesConfig
from alerts.model import RuleName, Severity, Signal, UnitStatus, fingerprint
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.items import Item, Kind, Transition

#: Transition kinds no item rule reacts to: :func:`item_signals` returns ``[]`` for them,
#: so callers may skip building the item summary.
SILENT_KINDS = frozenset({Kind.RECEIVED, Kind.ACCEPTED, Kind.PROGRESS, Kind.PAUSED, Kind.PURGED})
_CLEARING = frozenset({Kind.RESOLVED, Kind.CANCELLED, Kind.REOPENED})
_REFRESHING = frozenset({Kind.EXTENDED, Kind.RESUMED})
_MOVING = frozenset({Kind.TRANSFERRED, Kind.ASSIGNED})


def item_signals(
    transition: Transition,
    item: Item,
    config: RulesConfig,
    catalog: Catalog,
    calendar: WorkCalendar,
) -> list[Signal]:
    """Signals of the item rules for one transition (see the module table).

    Args:
        transition: the transition just applied.
        item: the item after it (after every transition of its batch); only read.
        config: the rules file.
        catalog: the unit catalog.
        calendar: the city calendar (lateness is measured in working time).
    """
    kind = transition.kind
    if kind in _CLEARING:
        # Only conditions that may have an alert: an item that never became due soon
        # (or overdue) in its period never had one raised (see the module notes).
        clearing = []
        if item.due_soon:
            clearing.append(_item_signal(RuleName.ITEM_DUE_SOON, False, transition, item, config, calendar))
        if item.overdue_at is not None:
            clearing.append(_item_signal(RuleName.ITEM_OVERDUE, False, transition, item, config, calendar))
        return clearing
    # A breach is a breach: overdue and escalation signals are sent even when the same
    # batch also closed the item (a late "resolved" that revealed the deadline had
    # passed), so the alert opens and then resolves and no breach goes unrecorded.
    if kind is Kind.OVERDUE:
        return [
            _item_signal(RuleName.ITEM_DUE_SOON, False, transition, item, config, calendar),
            _item_signal(RuleName.ITEM_OVERDUE, True, transition, item, config, calendar, level=0),
        ]
    if kind is Kind.ESCALATED:
        level = transition.escalation
        return [_item_signal(RuleName.ITEM_OVERDUE, True, transition, item, config, calendar, level=level)]
    if not item.is_open:
        return []
    if kind is Kind.DUE_SOON:
        if item.overdue_at is not None or not config.due_soon.enabled:
            return []
        return [_item_signal(RuleName.ITEM_DUE_SOON, True, transition, item, config, calendar)]
    if kind in _REFRESHING or (kind in _MOVING and transition.from_unit is not None):
        if item.overdue_at is not None:
            level = item.escalation
            return [
                _item_signal(RuleName.ITEM_OVERDUE, True, transition, item, config, calendar, level=level)
            ]
        if item.due_soon and config.due_soon.enabled:
            return [_item_signal(RuleName.ITEM_DUE_SOON, True, transition, item, config, calendar)]
        if kind in _REFRESHING:
            return [_item_signal(RuleName.ITEM_DUE_SOON, False, transition, item, config, calendar)]
    return []


def unit_signals(
    status: UnitStatus,
    config: RulesConfig,
    catalog: Catalog,
    calendar: WorkCalendar,
) -> list[Signal]:
    """One signal per unit rule for ``status``, in the order of :data:`alerts.model.UNIT_RULES`.

    Args:
        status: the unit's gauges and current windows.
        config: the rules file.
        catalog: the unit catalog.
        calendar: the city calendar.
    """
    signals: list[Signal] = []

    def emit(rule: RuleName, enabled: bool, active: bool, severity: Severity, facts: dict[str, Any]) -> None:
        facts["unit"] = status.unit
        signals.append(
            Signal(
                fingerprint=fingerprint(rule, status.unit),
                rule=rule,
                active=enabled and active,
                at=status.at,
                unit=status.unit,
                item_id=None,
                severity=severity,
                facts=facts,
            )
        )

    on_time = config.on_time_rate
    stats = status.windows.get(on_time.window)
    resolved = stats.resolved if stats else 0
    on_time_count = stats.resolved_on_time if stats else 0
    rate = on_time_count / resolved if resolved else None
    emit(
        RuleName.UNIT_ON_TIME_RATE,
        on_time.enabled,
        rate is not None and resolved >= on_time.min_resolved and rate < on_time.below,
        on_time.severity,
        {
            "window": on_time.window,
            "window_start": stats.start if stats else None,
            "resolved": resolved,
            "resolved_on_time": on_time_count,
            "resolved_late": stats.resolved_late if stats else 0,
            "rate": rate,
            "below": on_time.below,
            "min_resolved": on_time.min_resolved,
        },
    )

    overdue = config.overdue_count
    emit(
        RuleName.UNIT_OVERDUE_COUNT,
        overdue.enabled,
        status.overdue > overdue.above,
        overdue.severity,
        {"overdue": status.overdue, "above": overdue.above},
    )

    depth = config.queue_depth
    emit(
        RuleName.UNIT_QUEUE_DEPTH,
        depth.enabled,
        status.open > depth.above,
        depth.severity,
        {"open": status.open, "above": depth.above, "oldest_open_at": status.oldest_open_at},
    )

    p90 = config.p90_latency
    stats = status.windows.get(p90.window)
    resolved = stats.resolved if stats else 0
    used = stats.p90_sla_used if stats else None
    emit(
        RuleName.UNIT_P90_LATENCY,
        p90.enabled,
        used is not None and resolved >= p90.min_resolved and used > p90.sla_share_above,
        p90.severity,
        {
            "window": p90.window,
            "window_start": stats.start if stats else None,
            "resolved": resolved,
            "p90_sla_used": used,
            "p90_latency": stats.p90_latency if stats else None,
            "sla_share_above": p90.sla_share_above,
            "min_resolved": p90.min_resolved,
        },
    )

    surge = config.surge
    stats = status.windows.get(surge.window)
    received = stats.received if stats else 0
    baseline = status.baseline_received
    emit(
        RuleName.UNIT_SURGE,
        surge.enabled,
        baseline is not None and received >= surge.min_received and received > surge.factor * baseline,
        surge.severity,
        {
            "window": surge.window,
            "window_start": stats.start if stats else None,
            "received": received,
            "baseline": baseline,
            "factor": surge.factor,
            "min_received": surge.min_received,
        },
    )
    return signals


def _item_signal(
    rule: RuleName,
    active: bool,
    transition: Transition,
    item: Item,
    config: RulesConfig,
    calendar: WorkCalendar,
    *,
    level: int = 0,
) -> Signal:
    if rule == RuleName.ITEM_DUE_SOON:
        severity = config.due_soon.severity
    else:
        step = config.step(level)
        severity = step.severity if step is not None else config.overdue.severity
    return Signal(
        fingerprint=fingerprint(rule, item.item_id),
        rule=rule,
        active=active,
        at=transition.at,
        unit=item.unit,
        item_id=item.item_id,
        severity=severity,
        escalation=level,
        facts=_item_facts(transition, item, calendar),
    )


def _item_facts(transition: Transition, item: Item, calendar: WorkCalendar) -> dict[str, Any]:
    """What texts and the board need; ``item_title`` is citizen text (show as text only)."""
    at, due, overdue_at = transition.at, item.current_due, item.overdue_at
    facts: dict[str, Any] = {
        "transition": transition.kind.value,
        "item_kind": item.kind.value,
        "item_title": item.title,
        "category": item.category,
        "priority": item.priority,
        "status": item.status.value,
        "unit": item.unit,
        "due": due,
        "original_due": item.original_due,
        "overdue_at": overdue_at,
        "appointment_at": item.appointment_at,
        "escalation": item.escalation,
    }
    if overdue_at is not None:
        facts["working_seconds_late"] = calendar.working_seconds_between(overdue_at, at)
    else:
        facts["working_seconds_left"] = calendar.working_seconds_between(at, due)
    if transition.from_unit is not None:
        facts["from_unit"] = transition.from_unit
    return facts
