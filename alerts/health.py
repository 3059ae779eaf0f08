"""Unit health: the status a unit's tile shows, from its active alerts and its rates.

The board used to colour a tile from the day's rates alone, so a unit with an escalated
overdue item and a backlog alert looked "good", and one late item out of one (0 % on time)
turned a tile red while no alert was critical. The rule here reads the same records the
publisher already puts on the board (a unit panel and the unit's alerts) and takes the worst
of:

1. active alerts (firing or acknowledged; resolved ones do not count): a critical or escalated
   alert → ``act``; a warning → ``watch``; an info alert → ``watch`` too (e.g. the backlog
   rule ``unit_queue_depth``), except a due-soon heads-up (``item_due_soon``), which is the
   normal life of a queue and leaves the status alone. Alerts that belong to other
   boards leave it alone too: the indicator set's (``indicator_*``, coloured on
   ``/indicators`` and counted in the wall's top bar) and the notifier's receiver health
   (``notify_*``), since a tile tells about the unit's queue;
2. the day's rates, as the unit panel's ``colour`` (``alerts.config.Rules.colour``): red →
   ``act`` only once at least :data:`MIN_VOLUME` items were resolved today, below that
   ``watch``; orange → ``watch``.

A unit with none of that is ``ok`` when it has any figure today (received, resolved or open
items) and ``none`` otherwise. Status names differ from alert severities on purpose: a tile
says what to do (act / watch / ok), an alert says how bad one event is (critical / warning /
info).

``web/static/health.js`` is the same rule for the pages; ``tests/alerts/health_cases.json``
is the table both implementations are tested against.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Statuses, best to worst; ``none`` means no figures and no alerts.
STATUSES = ("none", "ok", "watch", "act")

#: Resolved items today below which a red rate alone only makes a unit ``watch``.
MIN_VOLUME = 10

_ACTIVE = ("firing", "acknowledged")

#: Info alerts that announce rather than report a problem: they leave the status alone.
HEADS_UP = frozenset({"item_due_soon"})

#: Rule prefixes of alerts that are not about a unit's queue (see the module docstring).
OTHER_BOARDS = ("indicator_", "notify_")


@dataclass(frozen=True, slots=True)
class Health:
    """A unit's status and why, as reason codes (``alert.critical``, ``rate.red`` …) with counts."""

    status: str
    reasons: tuple[tuple[str, int], ...] = ()


def _number(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def unit_health(
    unit: Mapping[str, Any] | None,
    alerts: Iterable[Mapping[str, Any]],
    *,
    min_volume: int = MIN_VOLUME,
) -> Health:
    """The status of one unit.

    Args:
        unit: the unit's board panel (``colour``, ``windows["1d"]``, ``gauges``), or None when
            the board has no panel for it yet.
        alerts: the board records of the unit's alerts (any state).
        min_volume: resolved items today needed before a red rate alone means ``act``.

    Returns:
        The worst status over alerts and rates, with the reasons that set it.
    """
    critical = escalated = warning = notice = 0
    for alert in alerts:
        if alert.get("state") not in _ACTIVE or str(alert.get("rule", "")).startswith(OTHER_BOARDS):
            continue
        if _number(alert.get("escalation")) > 0:
            escalated += 1
        elif alert.get("severity") == "critical":
            critical += 1
        elif alert.get("severity") == "warning":
            warning += 1
        elif alert.get("severity") == "info" and alert.get("rule") not in HEADS_UP:
            notice += 1
    panel = unit or {}
    windows = panel.get("windows")
    day = windows.get("1d") if isinstance(windows, Mapping) else None
    day = day if isinstance(day, Mapping) else {}
    gauges = panel.get("gauges")
    gauges = gauges if isinstance(gauges, Mapping) else {}
    resolved = _number(day.get("resolved"))
    colour = panel.get("colour")

    reasons: list[tuple[str, int, str]] = []
    if escalated:
        reasons.append(("alert.escalated", escalated, "act"))
    if critical:
        reasons.append(("alert.critical", critical, "act"))
    if warning:
        reasons.append(("alert.warning", warning, "watch"))
    if notice:
        reasons.append(("alert.info", notice, "watch"))
    if colour == "red":
        status = "act" if resolved >= min_volume else "watch"
        reasons.append(("rate.red" if status == "act" else "rate.red_low_volume", resolved, status))
    elif colour == "orange":
        reasons.append(("rate.orange", resolved, "watch"))
    if reasons:
        worst = max((status for _, _, status in reasons), key=STATUSES.index)
        return Health(worst, tuple((code, count) for code, count, _ in reasons))
    has_data = any(_number(v) > 0 for v in (day.get("received"), resolved, gauges.get("open")))
    return Health("ok" if has_data or colour == "green" else "none")
