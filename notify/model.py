"""Notifications: what is sent, to whom, under which stable id; and the notification log.

An alert event on ``gov.alerts`` has *labels* (:func:`labels_of`) the routes match on.
Each alert in a group contributes *elements*, short texts naming the transition a
receiver should hear about (:func:`elements_of`): ``<fingerprint>#<incident>:e<level>``
while it fires at escalation level ``level``, ``…:ask<n>`` when the n-th explanation
request is open, ``…:ans<n>`` when the n-th answer came. A receiver is told again only
when an element is new to it, when an alert it was told fires no more (resolved), or
when ``repeat_interval`` has passed — Alertmanager's notification log, kept per receiver
and group (:class:`LogEntry`, decided by :func:`plan`).

The notification id is derived from the receiver, the group and the log entry it
follows, so the same transition always gets the same id, and a successor resending a
notification whose delivery was not confirmed resends it under the same id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from alerts.model import Alert, AlertEvent, Severity, State
from domain.catalog import Catalog


def parse_event(raw: bytes | None) -> AlertEvent:
    """An alert event from ``gov.alerts``, with the fields the notifier uses type-checked.

    Raises:
        ValueError: not an alert event; the message says what is wrong (the notifier
            dead-letters the message with it and goes on).
    """
    if raw is None:
        raise ValueError("message has no value; expected an alert event")
    event = AlertEvent.decode(raw)
    alert = event.alert
    checks = (
        ("fingerprint", alert.fingerprint, str),
        ("unit", alert.unit, str),
        ("incident", alert.incident, int),
        ("escalation", alert.escalation, int),
        ("updated_at", alert.updated_at, (int, float)),
        ("opened_at", alert.opened_at, (int, float)),
        ("silenced", alert.silenced, bool),
    )
    for name, value, kind in checks:
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise ValueError(f"not an alert event: alert.{name} = {str(value)[:40]!r} has the wrong type")
    if event.fingerprint != alert.fingerprint:
        raise ValueError("not an alert event: the event's fingerprint differs from its alert's")
    if not all(isinstance(entry, str) for entry in alert.audience):
        raise ValueError("not an alert event: alert.audience must be a list of texts")
    for entry in alert.explanations:
        if entry.kind not in ("request", "answer") or not isinstance(entry.text, str):
            raise ValueError(
                "not an alert event: alert.explanations has an entry that is not a request or answer"
            )
    for name in ("title_vi", "title_en", "text_vi", "text_en"):
        if not isinstance(getattr(alert, name), str):
            raise ValueError(f"not an alert event: alert.{name} must be a text")
    return event


def labels_of(event: AlertEvent, catalog: Catalog) -> dict[str, Any]:
    """The labels of an alert event: what ``match``, ``group_by`` and ``equal`` see."""
    alert = event.alert
    unit = alert.unit
    kind = catalog.get(unit).kind if unit in catalog else "unknown"
    return {
        "rule": str(alert.rule),
        "severity": alert.severity.value,
        "unit": unit,
        "unit_kind": kind,
        "escalation": alert.escalation,
        # "unit" stands for any "unit:<code>" entry, so routes need not name every unit
        "audience": tuple(alert.audience)
        + (("unit",) if any(a.startswith("unit:") for a in alert.audience) else ()),
        "event": event.type.value,
        "fingerprint": alert.fingerprint,
    }


def group_key(route_path: str, group_by: Sequence[str], labels: Mapping[str, Any]) -> str:
    """The aggregation group of an event on a route: the route and its ``group_by`` values."""
    if "..." in group_by:
        return f"{route_path}{{fingerprint={labels['fingerprint']}}}"
    parts = ",".join(f"{name}={_label_text(labels.get(name))}" for name in group_by)
    return f"{route_path}{{{parts}}}"


def _label_text(value: Any) -> str:
    if isinstance(value, tuple):
        return "|".join(value)
    return str(value)


def incident_of(alert: Alert) -> str:
    return f"{alert.fingerprint}#{alert.incident}"


def open_request(alert: Alert) -> bool:
    """Whether the alert's last explanation message is an unanswered request."""
    return bool(alert.explanations) and alert.explanations[-1].kind == "request"


def elements_of(alert: Alert) -> frozenset[str]:
    """What a receiver should have heard about ``alert`` now (empty once resolved)."""
    if alert.state is State.RESOLVED:
        return frozenset()
    base = incident_of(alert)
    out = set()
    if alert.state is State.FIRING and not alert.silenced:
        out.add(f"{base}:e{alert.escalation}")
    requests = sum(1 for entry in alert.explanations if entry.kind == "request")
    answers = sum(1 for entry in alert.explanations if entry.kind == "answer")
    if open_request(alert):
        out.add(f"{base}:ask{requests}")
    elif answers:
        out.add(f"{base}:ans{answers}")
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """What one receiver was last told about one group (the notification log, per
    ``receiver`` and group key), kept in Redis across processes and restarts.

    ``firing`` holds every element sent and not resolved since; ``resolved`` the incidents
    whose resolution was sent; ``seq`` counts notifications; ``last_id`` is the latest.
    """

    firing: frozenset[str] = frozenset()
    resolved: frozenset[str] = frozenset()
    sent_at: float = 0.0
    seq: int = 0
    last_id: str = ""

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "firing": sorted(self.firing),
                "resolved": sorted(self.resolved),
                "sent_at": self.sent_at,
                "seq": self.seq,
                "last_id": self.last_id,
            }
        )

    @classmethod
    def decode(cls, raw: bytes | None) -> LogEntry | None:
        if raw is None:
            return None
        data = orjson.loads(raw)
        return cls(
            firing=frozenset(data["firing"]),
            resolved=frozenset(data["resolved"]),
            sent_at=float(data["sent_at"]),
            seq=int(data["seq"]),
            last_id=str(data["last_id"]),
        )


@dataclass(frozen=True, slots=True)
class Flush:
    """A group's content at one of its ticks, for one receiver (the dispatcher's output).

    ``alerts`` are the group's alerts as last seen (firing, acknowledged or resolved);
    ``firing`` the elements they ask for now (inhibited and silenced ones left out);
    ``resolved`` the incidents that resolved; ``repeatable`` whether a repeat is due if
    nothing else changed (some alert fires unacknowledged with no open request).
    """

    receiver: str
    group: str
    route: str
    at: float
    alerts: tuple[Alert, ...]
    firing: frozenset[str]
    resolved: frozenset[str]
    repeatable: bool
    repeat_interval: float
    offsets: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one receiver: the unit of delivery, retries and receipts."""

    id: str
    receiver: str
    group: str
    status: str  # "firing" (something fires) or "resolved" (only resolutions)
    created_at: float
    alerts: tuple[Alert, ...]
    firing: tuple[str, ...]
    resolved: tuple[str, ...]
    repeat: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        firing = [a.severity for a in self.alerts if a.state is State.FIRING]
        return max(firing) if firing else Severity.INFO

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(sorted({a.unit for a in self.alerts}))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "receiver": self.receiver,
            "group": self.group,
            "status": self.status,
            "created_at": self.created_at,
            "alerts": [a.to_json() for a in self.alerts],
            "firing": list(self.firing),
            "resolved": list(self.resolved),
            "repeat": self.repeat,
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.to_json())

    @classmethod
    def decode(cls, raw: bytes) -> Notification:
        data = orjson.loads(raw)
        return cls(
            id=data["id"],
            receiver=data["receiver"],
            group=data["group"],
            status=data["status"],
            created_at=data["created_at"],
            alerts=tuple(Alert.from_json(a) for a in data["alerts"]),
            firing=tuple(data["firing"]),
            resolved=tuple(data["resolved"]),
            repeat=bool(data["repeat"]),
        )


def notification_id(
    receiver: str, group: str, seq: int, firing: frozenset[str], resolved: frozenset[str]
) -> str:
    """Stable id of the ``seq``-th notification of ``receiver`` for ``group`` with this content."""
    digest = hashlib.sha256(
        orjson.dumps([receiver, group, seq, sorted(firing), sorted(resolved)])
    ).hexdigest()
    return f"ntf_{digest[:32]}"


def plan(entry: LogEntry | None, flush: Flush) -> tuple[Notification | None, LogEntry | None]:
    """Alertmanager's dedup stage: whether ``flush`` must be sent given the log ``entry``.

    Returns the notification and the log entry to store with it, or ``(None, None)``
    when the receiver already knows everything and no repeat is due.
    """
    known = entry or LogEntry()
    told_incidents = {element.rsplit(":", 1)[0] for element in known.firing}
    resolved = frozenset(r for r in flush.resolved if r in told_incidents and r not in known.resolved)
    new = flush.firing - known.firing
    repeat = (
        not new
        and not resolved
        and flush.repeatable
        and bool(flush.firing)
        and flush.at >= known.sent_at + flush.repeat_interval
    )
    if not new and not resolved and not repeat:
        return None, None
    seq = known.seq + 1
    ident = notification_id(flush.receiver, flush.group, seq, flush.firing, resolved)
    keep = frozenset(e for e in known.firing if e.rsplit(":", 1)[0] not in resolved) | flush.firing
    stored = LogEntry(
        firing=keep,
        resolved=known.resolved | resolved,
        sent_at=flush.at,
        seq=seq,
        last_id=ident,
    )
    firing_incidents = {e.rsplit(":", 1)[0] for e in flush.firing}
    alerts = tuple(
        a for a in flush.alerts if incident_of(a) in firing_incidents or incident_of(a) in resolved
    )
    notification = Notification(
        id=ident,
        receiver=flush.receiver,
        group=flush.group,
        status="firing" if flush.firing else "resolved",
        created_at=flush.at,
        alerts=alerts,
        firing=tuple(sorted(flush.firing)),
        resolved=tuple(sorted(resolved)),
        repeat=repeat,
    )
    return notification, stored
