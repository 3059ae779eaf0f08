"""The records of alerting: signals, unit status, commands, silences, alerts and alert events.

A :class:`Signal` is a rule's verdict about one subject now (active or not); the
lifecycle turns signals and :class:`Command` s into :class:`Alert` records and
:class:`AlertEvent` s. Everything here is a frozen dataclass of plain values with an
exact orjson round trip, so the stages can keep them in tables and put them on topics.

Free text (explanations, silence reasons, facts such as ``item_title``) is kept as text:
the board renders it as text, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, TypeVar

import orjson

from alerts.errors import CommandRejected
from domain.catalog import Catalog
from domain.encoding import dumps_kept
from domain.events import check_instant, format_instant
from domain.ids import valid_id, valid_unit_code

_T = TypeVar("_T")

# -- vocabulary -------------------------------------------------------------------------


class Severity(StrEnum):
    """How much an alert matters; ordered ``info < warning < critical``."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self.value]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank


_RANK = {"info": 0, "warning": 1, "critical": 2}


class State(StrEnum):
    """Lifecycle state of an alert: ``firing`` → ``acknowledged`` → ``resolved``."""

    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertEventType(StrEnum):
    """What happened to an alert (the ``type`` of an event on ``gov.alerts``)."""

    OPENED = "opened"
    UPDATED = "updated"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    EXPLANATION_REQUESTED = "explanation_requested"
    EXPLAINED = "explained"
    REMINDED = "reminded"
    SILENCED = "silenced"
    UNSILENCED = "unsilenced"
    RESOLVED = "resolved"


class CommandType(StrEnum):
    """Commands on ``gov.commands``."""

    ACK = "ack"
    EXPLAIN_REQUEST = "explain_request"
    EXPLAIN_ANSWER = "explain_answer"
    SILENCE = "silence"
    UNSILENCE = "unsilence"


class RuleName(StrEnum):
    """The alert rules, by the name alerts, signals, silences and fingerprints carry.

    Item rules (``item_…``) have an item as subject, unit rules (``unit_…``) a unit,
    indicator rules (``indicator_…``) one indicator of one unit in one period;
    the fingerprint of an alert is ``f"{rule}:{subject}"`` (:func:`fingerprint`). Each
    rule has its table in the rules file (:data:`alerts.config.SECTIONS`).
    """

    ITEM_DUE_SOON = "item_due_soon"
    ITEM_OVERDUE = "item_overdue"
    UNIT_ON_TIME_RATE = "unit_on_time_rate"
    UNIT_OVERDUE_COUNT = "unit_overdue_count"
    UNIT_QUEUE_DEPTH = "unit_queue_depth"
    UNIT_P90_LATENCY = "unit_p90_latency"
    UNIT_SURGE = "unit_surge"
    INDICATOR_AT_RISK = "indicator_at_risk"
    INDICATOR_STALE = "indicator_stale"
    #: A leader's request for an explanation on any indicator (opened by the request,
    #: resolved by the owner unit's answer; :mod:`alerts.inquiries`).
    INDICATOR_EXPLANATION = "indicator_explanation"


#: Rules about one item, and about one unit (the order :func:`alerts.rules.unit_signals`
#: gives its signals in).
ITEM_RULES = (RuleName.ITEM_DUE_SOON, RuleName.ITEM_OVERDUE)
#: Rules about one indicator of one unit in one period (subject ``CODE/UNIT/PERIOD``).
INDICATOR_RULES = (RuleName.INDICATOR_AT_RISK, RuleName.INDICATOR_STALE, RuleName.INDICATOR_EXPLANATION)
UNIT_RULES = tuple(rule for rule in RuleName if rule not in ITEM_RULES and rule not in INDICATOR_RULES)

#: Size bounds: explanation text (characters), command ids remembered per alert for
#: de-duplication, explanation messages per alert, command payload (bytes).
MAX_TEXT = 2000
MAX_REASON = 500
MAX_COMMAND_IDS = 32
MAX_EXPLANATIONS = 50
MAX_COMMAND_BYTES = 16384

_VERSION = 1


def fingerprint(rule: RuleName, subject: str) -> str:
    """Stable identity of an alert: the rule and its subject (item id or unit code)."""
    return f"{rule}:{subject}"


# -- signals and unit status --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signal:
    """A rule's verdict about one subject at instant ``at``.

    ``active`` signals open or refresh the alert ``fingerprint``; inactive ones resolve
    it. ``facts`` are plain JSON values the texts and the board use.
    """

    fingerprint: str
    rule: RuleName
    active: bool
    at: float
    unit: str
    item_id: str | None
    severity: Severity
    escalation: int = 0
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "active": self.active,
            "at": self.at,
            "unit": self.unit,
            "item_id": self.item_id,
            "severity": self.severity.value,
            "escalation": self.escalation,
            "facts": dict(self.facts),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Signal:
        return cls(
            fingerprint=data["fingerprint"],
            rule=RuleName(data["rule"]),
            active=data["active"],
            at=data["at"],
            unit=data["unit"],
            item_id=data["item_id"],
            severity=Severity(data["severity"]),
            escalation=data["escalation"],
            facts=dict(data["facts"]),
        )

    def encode(self) -> bytes:
        """orjson bytes (for a topic keyed by :attr:`fingerprint`)."""
        return orjson.dumps(self.to_json())

    @classmethod
    def decode(cls, raw: bytes) -> Signal:
        """Inverse of :meth:`encode`.

        Raises:
            ValueError: the bytes are not an encoded signal.
        """
        return _decode(raw, cls.from_json, "signal")


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Counters of one unit in the current window of one kind (``"1h"``, ``"1d"`` …).

    ``p90_latency`` is in seconds; ``p90_sla_used`` is the p90 of the share of the
    period used (1.0 = exactly at the deadline). Both are ``None`` without data.
    """

    window: str
    start: float
    received: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    resolved_late: int = 0
    became_overdue: int = 0
    p90_latency: float | None = None
    p90_sla_used: float | None = None


@dataclass(frozen=True, slots=True)
class UnitStatus:
    """Gauges and current windows of one unit, filled by the unit stage.

    ``baseline_received`` is the mean number of items received per window of the surge
    rule's window kind over recent history (``None`` while unknown).
    """

    unit: str
    at: float
    open: int = 0
    overdue: int = 0
    due_soon: int = 0
    oldest_open_at: float | None = None
    windows: Mapping[str, WindowStats] = field(default_factory=dict)
    baseline_received: float | None = None


# -- commands, explanations, silences --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Explanation:
    """One message of a request for explanation (yêu cầu giải trình) and its answers."""

    kind: Literal["request", "answer"]
    by: str
    text: str
    at: float

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "by": self.by, "text": self.text, "at": self.at}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Explanation:
        return cls(kind=data["kind"], by=data["by"], text=data["text"], at=data["at"])


@dataclass(frozen=True, slots=True)
class Silence:
    """Mutes notifications of matching alerts during ``[starts_at, ends_at)``.

    ``unit`` and ``rule`` match exactly; ``None`` matches any (at least one is set).
    Silenced alerts still open, resolve and show on the board (flagged), but are not
    notified or reminded.
    """

    id: str
    unit: str | None
    rule: RuleName | None
    starts_at: float
    ends_at: float
    created_by: str
    reason: str = ""

    def matches(self, unit: str, rule: RuleName, now: float) -> bool:
        """Whether an alert of ``rule`` for ``unit`` is silenced by this at ``now``."""
        return self.covers(unit, rule) and self.starts_at <= now < self.ends_at

    def covers(self, unit: str, rule: RuleName) -> bool:
        """Whether this silence is about ``unit``/``rule`` at some time."""
        return (self.unit is None or self.unit == unit) and (self.rule is None or self.rule == rule)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "unit": self.unit,
            "rule": self.rule,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Silence:
        values = {name: data[name] for name in _SILENCE_FIELDS}
        if values["rule"] is not None:
            values["rule"] = RuleName(values["rule"])
        return cls(**values)

    def encode(self) -> bytes:
        return orjson.dumps(self.to_json())

    @classmethod
    def decode(cls, raw: bytes) -> Silence:
        """Inverse of :meth:`encode`.

        Raises:
            ValueError: the bytes are not an encoded silence.
        """
        return _decode(raw, cls.from_json, "silence")


_SILENCE_FIELDS = ("id", "unit", "rule", "starts_at", "ends_at", "created_by", "reason")


@dataclass(frozen=True, slots=True)
class Command:
    """A person's action on ``gov.commands``.

    ``by_scope`` is the sender's token scope (``leader``, ``unit:<code>``, ``wall``) and
    ``by_sub`` its subject; the web node sets both from the verified token and stamps
    ``at``. ``alert`` names the fingerprint for ack and explanations; ``silence`` is set
    on ``silence`` commands and ``silence_id`` on ``unsilence``.
    """

    command_id: str
    type: CommandType
    alert: str | None
    text: str | None
    by_scope: str
    by_sub: str
    at: float
    silence: Silence | None = None
    silence_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The command as its JSON object on the topic (see :func:`parse_command`)."""
        out: dict[str, Any] = {
            "command_id": self.command_id,
            "type": self.type.value,
            "by": {"scope": self.by_scope, "sub": self.by_sub},
            "at": format_instant(self.at),
        }
        if self.alert is not None:
            out["alert"] = self.alert
        if self.text is not None:
            out["text"] = self.text
        if self.silence is not None:
            out["silence"] = {
                "id": self.silence.id,
                "unit": self.silence.unit,
                "rule": self.silence.rule,
                "starts_at": format_instant(self.silence.starts_at),
                "ends_at": format_instant(self.silence.ends_at),
                "reason": self.silence.reason,
            }
        if self.silence_id is not None:
            out["silence_id"] = self.silence_id
        return out

    def encode(self) -> bytes:
        """orjson bytes, as put on ``gov.commands``; :func:`parse_command` reads them back."""
        return orjson.dumps(self.to_json())


def parse_command(raw: bytes, *, max_bytes: int = MAX_COMMAND_BYTES) -> Command:
    """Validate a command message from ``gov.commands``.

    The JSON object has ``command_id``, ``type``, ``by: {scope, sub}``, ``at`` (RFC 3339
    with offset), ``alert`` (fingerprint; ack and explain_*), ``text`` (explain_*, at most
    2000 characters), ``silence: {id?, unit, rule, starts_at?, ends_at, reason}``
    (silence) or ``silence_id`` (unsilence). Permissions are checked later, against the
    alert (:func:`alerts.lifecycle.on_command`) or the silence
    (:func:`alerts.lifecycle.silence_from_command`).

    Raises:
        CommandRejected: with a reason naming the field and what is wrong.
    """
    if raw is None:
        raise CommandRejected("command has no value; expected a JSON object")
    if len(raw) > max_bytes:
        raise CommandRejected(f"command is {len(raw)} bytes, over the limit of {max_bytes}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CommandRejected(f"command is not valid JSON (UTF-8): {exc}") from None
    if not isinstance(data, dict):
        raise CommandRejected("command must be a JSON object")
    command_id = _identifier(data, "command_id")
    type_text = _text(data, "type", required=True)
    assert type_text is not None
    try:
        kind = CommandType(type_text)
    except ValueError:
        allowed = ", ".join(t.value for t in CommandType)
        raise CommandRejected(
            f"unknown command type {type_text[:40]!r}; expected one of: {allowed}"
        ) from None
    by = data.get("by")
    if not isinstance(by, dict):
        raise CommandRejected('field \'by\' must be an object {"scope": …, "sub": …}')
    scope = _text(by, "scope", required=True, name="by.scope")
    assert scope is not None
    if scope not in ("leader", "wall") and not (scope.startswith("unit:") and valid_unit_code(scope[5:])):
        raise CommandRejected(f"field 'by.scope' = {scope[:80]!r} must be 'leader', 'wall' or 'unit:<code>'")
    sub = _text(by, "sub", required=True, limit=200, name="by.sub")
    assert sub is not None
    at = _instant(data, "at", required=True)
    assert at is not None

    alert = text = silence_id = None
    silence: Silence | None = None
    if kind in (CommandType.ACK, CommandType.EXPLAIN_REQUEST, CommandType.EXPLAIN_ANSWER):
        alert = _identifier(data, "alert")
    if kind in (CommandType.EXPLAIN_REQUEST, CommandType.EXPLAIN_ANSWER):
        text = _text(data, "text", required=True, limit=MAX_TEXT)
    if kind is CommandType.SILENCE:
        silence = _silence(data.get("silence"), command_id=command_id, by=sub, at=at)
    if kind is CommandType.UNSILENCE:
        silence_id = _identifier(data, "silence_id")
    return Command(
        command_id=command_id,
        type=kind,
        alert=alert,
        text=text,
        by_scope=scope,
        by_sub=sub,
        at=at,
        silence=silence,
        silence_id=silence_id,
    )


def _silence(value: Any, *, command_id: str, by: str, at: float) -> Silence:
    if not isinstance(value, dict):
        raise CommandRejected(
            "a 'silence' command needs an object 'silence' with unit and/or rule, "
            "starts_at (optional), ends_at and reason"
        )
    silence_id = _identifier(value, "id", name="silence.id") if "id" in value else command_id
    unit = _text(value, "unit", name="silence.unit")
    if unit is not None and not valid_unit_code(unit):
        raise CommandRejected(f"field 'silence.unit' = {unit[:80]!r} is not a unit code")
    rule_text = _text(value, "rule", name="silence.rule")
    rule = None
    if rule_text is not None:
        try:
            rule = RuleName(rule_text)
        except ValueError:
            raise CommandRejected(
                f"field 'silence.rule' = {rule_text[:80]!r} is not a rule; use one of: {', '.join(RuleName)}"
            ) from None
    if unit is None and rule is None:
        raise CommandRejected(
            "a silence needs 'unit' or 'rule' (or both); silencing every alert is not allowed"
        )
    starts_at = _instant(value, "starts_at", name="silence.starts_at")
    ends_at = _instant(value, "ends_at", required=True, name="silence.ends_at")
    assert ends_at is not None
    reason = _text(value, "reason", limit=MAX_REASON, name="silence.reason") or ""
    return Silence(
        id=silence_id,
        unit=unit,
        rule=rule,
        starts_at=at if starts_at is None else starts_at,
        ends_at=ends_at,
        created_by=by,
        reason=reason,
    )


def _text(
    data: Mapping[str, Any], key: str, *, required: bool = False, limit: int = 200, name: str = ""
) -> str | None:
    name = name or key
    value = data.get(key)
    if value is None:
        if required:
            raise CommandRejected(f"missing required field '{name}'")
        return None
    if not isinstance(value, str):
        raise CommandRejected(f"field '{name}' must be a string")
    if len(value) > limit:
        raise CommandRejected(f"field '{name}' is {len(value)} characters, over the limit of {limit}")
    if required and not value.strip():
        raise CommandRejected(f"field '{name}' is empty")
    return value


def _identifier(data: Mapping[str, Any], key: str, *, name: str = "") -> str:
    name = name or key
    value = _text(data, key, required=True, name=name)
    assert value is not None
    if not valid_id(value):
        raise CommandRejected(
            f"field '{name}' = {value[:80]!r} has characters outside letters, digits and ._:/-"
        )
    return value


def _instant(data: Mapping[str, Any], key: str, *, required: bool = False, name: str = "") -> float | None:
    name = name or key
    value = _text(data, key, required=required, limit=64, name=name)
    if value is None:
        return None
    try:
        return check_instant(value, name)  # ``value`` is at most 64 characters (above)
    except ValueError as exc:
        raise CommandRejected(str(exc)) from None


# -- alerts -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert (one fingerprint) and its current incident.

    Instants are epoch seconds. ``escalation`` is the applied ladder step (0 = none);
    ``audience`` lists ``wall``, ``leaders`` and ``unit:<code>`` entries; ``incident``
    counts firings (1 for the first, +1 each time it fires again after resolving);
    ``command_ids`` are the last commands applied, for de-duplication.
    """

    fingerprint: str
    rule: RuleName
    severity: Severity
    state: State
    unit: str
    item_id: str | None
    opened_at: float
    updated_at: float
    resolved_at: float | None = None
    acked_at: float | None = None
    acked_by: str | None = None
    escalation: int = 0
    audience: tuple[str, ...] = ()
    title_vi: str = ""
    title_en: str = ""
    text_vi: str = ""
    text_en: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)
    silenced: bool = False
    notified_at: float | None = None
    reminders: int = 0
    incident: int = 1
    explanations: tuple[Explanation, ...] = ()
    command_ids: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """Firing or acknowledged (not resolved)."""
        return self.state is not State.RESOLVED

    def to_json(self) -> dict[str, Any]:
        """Every field as plain JSON values."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _ALERT_FIELDS}
        out["severity"] = self.severity.value
        out["state"] = self.state.value
        out["audience"] = list(self.audience)
        out["facts"] = dict(self.facts)
        out["explanations"] = [entry.to_json() for entry in self.explanations]
        out["command_ids"] = list(self.command_ids)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        values = {name: data[name] for name in _ALERT_FIELDS}
        values["rule"] = RuleName(values["rule"])
        values["severity"] = Severity(values["severity"])
        values["state"] = State(values["state"])
        values["audience"] = tuple(values["audience"])
        values["facts"] = dict(values["facts"])
        values["explanations"] = tuple(map(Explanation.from_json, values["explanations"]))
        values["command_ids"] = tuple(values["command_ids"])
        return cls(**values)

    def encode(self) -> bytes:
        """Compact orjson bytes for the alert table; :meth:`decode` gives back an equal alert."""
        return dumps_kept({"v": _VERSION, **self.to_json()})

    @classmethod
    def decode(cls, raw: bytes) -> Alert:
        """Inverse of :meth:`encode`.

        Raises:
            ValueError: the bytes were not written by :meth:`encode` of this version.
        """

        def build(data: Mapping[str, Any]) -> Alert:
            if data.get("v") != _VERSION:
                raise ValueError(f"not an alert record of version {_VERSION}")
            return cls.from_json(data)

        return _decode(raw, build, "alert")

    def to_board(self, catalog: Catalog | None = None) -> dict[str, Any]:
        """The alert as the live board shows it (plain JSON values).

        With a ``catalog``, adds ``unit_name_vi``/``unit_name_en`` (the unit code when the
        unit is unknown). ``facts`` may hold citizen text (``item_title``): render as text.
        """
        out = self.to_json()
        del out["command_ids"]
        if catalog is not None:
            known = self.unit in catalog
            out["unit_name_vi"] = catalog.get(self.unit).name_vi if known else self.unit
            out["unit_name_en"] = catalog.get(self.unit).name_en if known else self.unit
        return out


_ALERT_FIELDS = tuple(Alert.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """What goes on ``gov.alerts`` (key = fingerprint): a change and the alert after it."""

    fingerprint: str
    type: AlertEventType
    at: float
    alert: Alert

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "type": self.type.value,
            "at": self.at,
            "alert": self.alert.to_json(),
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.to_json())

    @classmethod
    def decode(cls, raw: bytes) -> AlertEvent:
        """Inverse of :meth:`encode`.

        Raises:
            ValueError: the bytes are not an encoded alert event.
        """

        def build(data: Mapping[str, Any]) -> AlertEvent:
            return cls(
                fingerprint=data["fingerprint"],
                type=AlertEventType(data["type"]),
                at=data["at"],
                alert=Alert.from_json(data["alert"]),
            )

        return _decode(raw, build, "alert event")


def _decode(raw: bytes, build: Callable[[Mapping[str, Any]], _T], what: str) -> _T:
    try:
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise TypeError("not an object")
        return build(data)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not an encoded {what}: {exc}") from None
