"""The dispatcher: alert events into aggregation groups, groups into flushes on their timers.

Pure and clocked by its caller, like Alertmanager's ``dispatch`` package:

* :meth:`Dispatcher.on_event` routes an event (:mod:`notify.routes`) and puts its alert
  into the group of each route that took it (group key = route + ``group_by`` values).
* A new group ticks first ``group_wait`` after its first alert, then every
  ``group_interval``; :meth:`Dispatcher.due` returns a :class:`~notify.model.Flush` per
  group whose tick has come, and the shell decides with the notification log
  (:func:`notify.model.plan`) whether anything must be sent.
* On a route with ``active_hours = "office"`` a tick that would send nothing critical
  outside office hours waits for the next office session of the city calendar; critical
  content goes at any time.
* Inhibited alerts (an ``[[inhibit]]`` source fires) and silenced ones contribute no
  firing element; acknowledged ones neither, and an alert with an open explanation
  request is not repeated.
* A group reports what its route took: an alert's firing, escalations and resolution
  when the route took any of its lifecycle events; an explanation request or answer only
  when the route took that event (so the leader who asked is not told of the request,
  nor the unit of its own answer).

Each flush carries the input offsets of the events that went into its group since the
previous flush: once the shell has recorded the flush's outcome it may commit them
(:meth:`Dispatcher.uncommitted` says how far each partition may be committed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alerts.model import Alert, AlertEvent, Severity, State
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from notify.model import Flush, elements_of, group_key, incident_of, labels_of, open_request
from notify.routes import Inhibit, Route, RoutesConfig

_EXPLANATION_EVENTS = frozenset({"explanation_requested", "explained"})

#: Offsets as ``(topic, partition, offset)``.
Offset = tuple[str, int, int]


@dataclass(slots=True)
class Group:
    """One aggregation group of one route."""

    key: str
    route: Route
    alerts: dict[str, Alert] = field(default_factory=dict)
    kinds: dict[str, set[str]] = field(default_factory=dict)
    next_tick: float = 0.0
    flushed_once: bool = False
    offsets: list[Offset] = field(default_factory=list)


class Dispatcher:
    """Alert events in, flushes out; time comes from the caller.

    Args:
        config: the routes file.
        catalog: units, for ``unit_kind`` and ``within_source_unit``.
        calendar: the city's working calendar, for ``active_hours = "office"``.
    """

    def __init__(self, config: RoutesConfig, *, catalog: Catalog, calendar: WorkCalendar) -> None:
        self.config = config
        self.catalog = catalog
        self.calendar = calendar
        self.groups: dict[str, Group] = {}
        self.alerts: dict[str, Alert] = {}
        self.labels: dict[str, dict[str, Any]] = {}
        self.pending: dict[tuple[str, int], set[int]] = {}
        self.read_up_to: dict[tuple[str, int], int] = {}
        self._source_cache: dict[int, list[str]] = {}

    # -- input --------------------------------------------------------------------------------

    def on_event(self, event: AlertEvent, now: float, *, offset: Offset | None = None) -> list[str]:
        """Take one event from ``gov.alerts``; return the group keys it went to."""
        alert = event.alert
        previous = self.alerts.get(alert.fingerprint)
        if previous is not None and (previous.incident, previous.updated_at) > (
            alert.incident,
            alert.updated_at,
        ):
            keys: list[str] = []  # older than what we hold (a redelivery): nothing changes
        else:
            self.alerts[alert.fingerprint] = alert
            labels = labels_of(event, self.catalog)
            self.labels[alert.fingerprint] = labels
            keys = []
            for route in self.config.routes_for(labels):
                if not route.receiver:
                    continue
                key = group_key(route.path, route.group_by, labels)
                group = self.groups.get(key)
                if group is None:
                    group = self.groups[key] = Group(key, route, next_tick=now + route.group_wait)
                group.alerts[alert.fingerprint] = alert
                group.kinds.setdefault(alert.fingerprint, set()).add(event.type.value)
                keys.append(key)
                if offset is not None:
                    group.offsets.append(offset)
        if offset is not None:
            topic, partition, number = offset
            tp = (topic, partition)
            self.read_up_to[tp] = max(self.read_up_to.get(tp, -1), number)
            if keys:
                self.pending.setdefault(tp, set()).add(number)
        return keys

    def on_event_offset_only(self, offset: Offset) -> None:
        """A message that was not an event (dead-lettered): only its offset moves on."""
        topic, partition, number = offset
        tp = (topic, partition)
        self.read_up_to[tp] = max(self.read_up_to.get(tp, -1), number)

    # -- timers ---------------------------------------------------------------------------------

    def next_wakeup(self) -> float | None:
        """The earliest tick of any group (``None`` without groups)."""
        return min((g.next_tick for g in self.groups.values()), default=None)

    def due(self, now: float) -> list[Flush]:
        """Flushes of every group whose tick has come (groups move to their next tick).

        Groups whose alerts all resolved and were flushed are dropped.
        """
        out: list[Flush] = []
        self._source_cache = {}
        for key in [k for k, g in self.groups.items() if g.next_tick <= now]:
            group = self.groups[key]
            flush = self._flush(group, now)
            critical = any(
                self.alerts.get(a.fingerprint, a).severity is Severity.CRITICAL and a.state is State.FIRING
                for a in group.alerts.values()
            )
            if group.route.active_hours == "office" and not critical:
                opens = self.office_opens(now)
                if opens > now:
                    group.next_tick = opens
                    continue
            out.append(flush)
            group.flushed_once = True
            group.offsets = []
            group.next_tick = now + group.route.group_interval
            for fingerprint in [fp for fp, a in group.alerts.items() if a.state is State.RESOLVED]:
                del group.alerts[fingerprint]
                group.kinds.pop(fingerprint, None)
            if not group.alerts:
                del self.groups[key]
        self._forget_unused()
        return out

    def office_opens(self, now: float) -> float:
        """``now`` during office hours, else the start of the next office session."""
        return max(now, self.calendar.add_working_seconds(now, 1.0) - 1.0)

    def done(self, flushes: list[Flush]) -> None:
        """The outcome of ``flushes`` is recorded: their offsets may be committed."""
        for flush in flushes:
            for topic, partition, number in flush.offsets:
                self.pending.get((topic, partition), set()).discard(number)

    def committable(self) -> dict[tuple[str, int], int]:
        """Per partition, the offset to commit (the next to read after a restart): below
        the oldest event whose group has not flushed since, else after the last read."""
        out = {}
        for tp, last in self.read_up_to.items():
            waiting = self.pending.get(tp)
            out[tp] = min(waiting) if waiting else last + 1
        return out

    def revoke(self, partitions: set[tuple[str, int]]) -> None:
        """Partitions moved to another process: forget their offsets (their events stay
        in the groups; a flush after this merely finds them known to the receivers)."""
        for tp in partitions:
            self.pending.pop(tp, None)
            self.read_up_to.pop(tp, None)

    # -- internals -----------------------------------------------------------------------------

    def _flush(self, group: Group, now: float) -> Flush:
        alerts = tuple(self.alerts.get(fp, a) for fp, a in group.alerts.items())
        firing: set[str] = set()
        resolved: set[str] = set()
        repeatable = False
        for alert in alerts:
            kinds = group.kinds.get(alert.fingerprint, set())
            # A group hears about what its route took: firing and resolution when it took
            # any lifecycle event of the alert, requests and answers only when it took those.
            tracks = bool(kinds - _EXPLANATION_EVENTS)
            if alert.state is State.RESOLVED:
                if tracks:
                    resolved.add(incident_of(alert))
                continue
            if self.inhibited(alert):
                continue
            for element in elements_of(alert):
                kind = element.rsplit(":", 1)[1]
                if (
                    (kind.startswith("e") and tracks)
                    or (kind.startswith("ask") and "explanation_requested" in kinds)
                    or (kind.startswith("ans") and "explained" in kinds)
                ):
                    firing.add(element)
            if tracks and alert.state is State.FIRING and not alert.silenced and not open_request(alert):
                repeatable = True
        return Flush(
            receiver=group.route.receiver,
            group=group.key,
            route=group.route.path,
            at=now,
            alerts=alerts,
            firing=frozenset(firing),
            resolved=frozenset(resolved),
            repeatable=repeatable,
            repeat_interval=group.route.repeat_interval,
            offsets=tuple(group.offsets),
        )

    def inhibited(self, alert: Alert) -> bool:
        """Whether an inhibit rule mutes ``alert`` now (a matching source fires)."""
        labels = self.labels.get(alert.fingerprint)
        if labels is None:
            return False
        for index, rule in enumerate(self.config.inhibit):
            if rule.target.holds(labels) and self._source_fires(index, rule, alert, labels):
                return True
        return False

    def _sources(self, index: int, rule: Inhibit) -> list[str]:
        """Active alerts matching the source of inhibit rule ``index`` (cached per tick)."""
        found = self._source_cache.get(index)
        if found is None:
            found = [
                fp
                for fp, source in self.alerts.items()
                if source.state is not State.RESOLVED and rule.source.holds(self.labels[fp])
            ]
            self._source_cache[index] = found
        return found

    def _source_fires(self, index: int, rule: Inhibit, target: Alert, labels: Mapping[str, Any]) -> bool:
        for fingerprint in self._sources(index, rule):
            if fingerprint == target.fingerprint:
                continue
            source = self.alerts[fingerprint]
            source_labels = self.labels[fingerprint]
            if any(source_labels.get(name) != labels.get(name) for name in rule.equal):
                continue
            if rule.within_source_unit and source.unit not in self._lineage(target.unit):
                continue
            return True
        return False

    def _lineage(self, unit: str) -> set[str]:
        if unit not in self.catalog:
            return {unit}
        chain = {unit}
        current = self.catalog.get(unit)
        while current.parent is not None:
            chain.add(current.parent)
            current = self.catalog.get(current.parent)
        return chain

    def _forget_unused(self) -> None:
        """Drop resolved alerts no group holds any more (bounded memory)."""
        held = {fp for g in self.groups.values() for fp in g.alerts}
        for fingerprint in [
            fp for fp, a in self.alerts.items() if a.state is State.RESOLVED and fp not in held
        ]:
            del self.alerts[fingerprint]
            self.labels.pop(fingerprint, None)
