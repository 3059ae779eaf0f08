"""The alert rules file: thresholds, the escalation ladder, reminders, colours, retention.

Operators edit ``alerts/data/rules.toml`` (or the file named by ``GOVPULSE_RULES_FILE``);
:meth:`RulesConfig.from_file` reads it once at start-up into a frozen tree. Every key has
the default written here and in the packaged file; unknown keys are errors, so a typo
never silently falls back to a default.

Audience entries in the file are ``wall`` (the control-room display), ``leaders`` (city
leaders), ``unit`` (the alert's unit) and ``parent`` (the unit above it; the city's
leaders when that is the city itself). :func:`alerts.lifecycle.audience_for` resolves them
to the board scopes ``wall``, ``leaders`` and ``unit:<code>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts.model import UNIT_RULES, RuleName, Severity
from domain.calendar import read_toml
from domain.durations import format_duration, parse_duration
from domain.errors import ConfigError, config_file_error
from domain.items import DeadlinePolicy

AUDIENCES = frozenset({"wall", "leaders", "unit", "parent"})

#: The table of each rule in the rules file (its last part is the :class:`RulesConfig` field).
SECTIONS: Mapping[RuleName, str] = {
    RuleName.ITEM_DUE_SOON: "due_soon",
    RuleName.ITEM_OVERDUE: "overdue",
    RuleName.UNIT_ON_TIME_RATE: "unit.on_time_rate",
    RuleName.UNIT_OVERDUE_COUNT: "unit.overdue_count",
    RuleName.UNIT_QUEUE_DEPTH: "unit.queue_depth",
    RuleName.UNIT_P90_LATENCY: "unit.p90_latency",
    RuleName.UNIT_SURGE: "unit.surge",
    RuleName.INDICATOR_AT_RISK: "indicator.at_risk",
    RuleName.INDICATOR_STALE: "indicator.stale",
    RuleName.INDICATOR_EXPLANATION: "indicator.explanation",
}
_KIND = "rules"
_SECTIONS = ("due_soon", "overdue", "escalation", "reminders", "unit", "indicator", "colours", "retention")
_UNIT_SECTIONS = tuple(SECTIONS[rule].removeprefix("unit.") for rule in UNIT_RULES)
_INDICATOR_SECTIONS = ("at_risk", "stale", "explanation")
_HOUR = 3600.0

#: Colour names returned by the colour functions, best to worst; ``grey`` means no data.
COLOURS = ("grey", "green", "orange", "red")


@dataclass(frozen=True, slots=True)
class DueSoonRule:
    """``item_due_soon``: when an item counts as due soon, and how loud that is.

    An item is due soon once ``share`` of its period is used or ``working_hours_left``
    remain, whichever comes first (the time-left test only applies to periods longer
    than twice it; elapsed-clock items count clock hours).
    """

    share: float = 0.75
    working_hours_left: float = 8.0
    severity: Severity = Severity.INFO
    audience: tuple[str, ...] = ("unit",)
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class OverdueRule:
    """``item_overdue`` before any escalation step."""

    severity: Severity = Severity.WARNING
    audience: tuple[str, ...] = ("unit", "wall", "leaders")


@dataclass(frozen=True, slots=True)
class EscalationStep:
    """One step of the ladder, taken ``after_working_hours`` after the previous one
    (the first: after the item became overdue). The audience adds to the earlier ones."""

    after_working_hours: float
    audience: tuple[str, ...]
    severity: Severity
    label_vi: str
    label_en: str


DEFAULT_LADDER = (
    EscalationStep(4.0, ("unit",), Severity.WARNING, "Trưởng đơn vị", "Unit head"),
    EscalationStep(
        8.0,
        ("parent", "leaders"),
        Severity.CRITICAL,
        "Đơn vị cấp trên, lãnh đạo sở",
        "Parent unit, department leader",
    ),
    EscalationStep(16.0, ("leaders",), Severity.CRITICAL, "Lãnh đạo Thành phố", "City leadership"),
)


@dataclass(frozen=True, slots=True)
class Reminders:
    """Firing, unacknowledged, unsilenced alerts of at least ``min_severity`` are
    notified again every ``repeat_interval`` clock seconds."""

    repeat_interval: float = 4 * _HOUR
    min_severity: Severity = Severity.WARNING


@dataclass(frozen=True, slots=True)
class OnTimeRateRule:
    """``unit_on_time_rate``: on-time share of the items resolved in the current
    ``window`` is below ``below``, once at least ``min_resolved`` were resolved."""

    window: str = "1d"
    below: float = 0.80
    min_resolved: int = 10
    severity: Severity = Severity.WARNING
    audience: tuple[str, ...] = ("unit", "wall", "leaders")
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class ThresholdRule:
    """``unit_overdue_count`` / ``unit_queue_depth``: a gauge is above ``above``."""

    above: int
    severity: Severity = Severity.WARNING
    audience: tuple[str, ...] = ("unit", "wall", "leaders")
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class P90LatencyRule:
    """``unit_p90_latency``: the p90 of the share of the SLA used by items resolved in
    the current ``window`` is above ``sla_share_above`` (1.0 = p90 latency above SLA)."""

    window: str = "1d"
    sla_share_above: float = 1.0
    min_resolved: int = 10
    severity: Severity = Severity.WARNING
    audience: tuple[str, ...] = ("unit", "wall", "leaders")
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class SurgeRule:
    """``unit_surge``: items received in the current ``window`` exceed ``factor`` × the
    unit's baseline for that window kind, once at least ``min_received`` arrived."""

    window: str = "1h"
    factor: float = 2.0
    min_received: int = 10
    severity: Severity = Severity.WARNING
    audience: tuple[str, ...] = ("unit", "wall", "leaders")
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class IndicatorRule:
    """``indicator_at_risk`` (an indicator turned red) / ``indicator_stale`` (its last
    report is older than its cadence allows): who is told and how loud. The colours
    themselves are set in the indicator catalog (docs/indicators.md)."""

    severity: Severity = Severity.WARNING
    audience: tuple[str, ...] = ("unit", "wall", "leaders")
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Colours:
    """Dashboard colours: on-time rate ≥ green → green, ≥ orange → orange, else red;
    late rate ≤ green → green, ≤ orange → orange, else red."""

    on_time_green: float = 0.90
    on_time_orange: float = 0.70
    late_green: float = 0.05
    late_orange: float = 0.15


@dataclass(frozen=True, slots=True)
class Retention:
    """Resolved alerts are kept ``resolved_alerts`` clock seconds (dedup and history)."""

    resolved_alerts: float = 86400.0


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """Everything the alert rules and lifecycle need; defaults equal the packaged file."""

    due_soon: DueSoonRule = DueSoonRule()
    overdue: OverdueRule = OverdueRule()
    escalation: tuple[EscalationStep, ...] = DEFAULT_LADDER
    reminders: Reminders = Reminders()
    on_time_rate: OnTimeRateRule = OnTimeRateRule()
    overdue_count: ThresholdRule = ThresholdRule(above=10)
    queue_depth: ThresholdRule = ThresholdRule(above=300, severity=Severity.INFO, audience=("unit", "wall"))
    p90_latency: P90LatencyRule = P90LatencyRule()
    surge: SurgeRule = SurgeRule()
    indicator_at_risk: IndicatorRule = IndicatorRule()
    indicator_stale: IndicatorRule = IndicatorRule(severity=Severity.INFO, audience=("unit",))
    indicator_explanation: IndicatorRule = IndicatorRule(severity=Severity.INFO, audience=("unit", "leaders"))
    colours: Colours = Colours()
    retention: Retention = Retention()

    @classmethod
    def from_file(cls, path: Path) -> RulesConfig:
        """Read and validate a rules TOML file.

        Raises:
            ConfigError: unreadable file, unknown section or key, or a bad value, in the
                form of :func:`~domain.errors.config_file_error`: the message names the
                file, the table and the key, and says how to fix it.
        """
        return cls.from_mapping(read_toml(_KIND, path), path=path)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, path: Path | None = None) -> RulesConfig:
        """Validate already-parsed TOML data (see :meth:`from_file`).

        Args:
            data: the parsed file.
            path: the file it was read from, for messages (``None``: messages start
                with ``rules:``).
        """
        _sections(path, data)
        units = _table(
            path,
            "[unit]",
            data.get("unit", {}),
            fix="write each unit rule as a [unit.<rule>] table, e.g. [unit.surge]",
        )
        _unit_rules(path, units)
        indicators = _table(
            path,
            "[indicator]",
            data.get("indicator", {}),
            fix="write each indicator rule as an [indicator.<rule>] table, e.g. [indicator.at_risk]",
        )
        unknown = sorted(set(indicators) - set(_INDICATOR_SECTIONS))
        if unknown:
            raise config_file_error(
                _KIND,
                path,
                f"[indicator.{unknown[0]}]",
                "is not an indicator rule",
                "rename it to [indicator.at_risk] or [indicator.stale], or delete it",
            )
        base = cls()

        def section(name: str) -> _Section:
            parent, _, key = name.rpartition(".")
            tables = units if parent == "unit" else indicators if parent == "indicator" else data
            return _Section(path, f"[{name}]", tables.get(key, {}))

        with section("due_soon") as s:
            due_soon = DueSoonRule(
                share=s.number("share", base.due_soon.share, above=0, maximum=1),
                working_hours_left=s.number(
                    "working_hours_left", base.due_soon.working_hours_left, minimum=0
                ),
                severity=s.severity("severity", base.due_soon.severity),
                audience=s.audience("audience", base.due_soon.audience),
                enabled=s.flag("enabled", base.due_soon.enabled),
            )
        with section("overdue") as s:
            overdue = OverdueRule(
                severity=s.severity("severity", base.overdue.severity),
                audience=s.audience("audience", base.overdue.audience),
            )
        escalation = _ladder(path, data.get("escalation"), base.escalation)
        with section("reminders") as s:
            reminders = Reminders(
                repeat_interval=s.duration("repeat_interval", base.reminders.repeat_interval, positive=True),
                min_severity=s.severity("min_severity", base.reminders.min_severity),
            )
        with section("unit.on_time_rate") as s:
            default = base.on_time_rate
            on_time_rate = OnTimeRateRule(
                window=s.window("window", default.window),
                below=s.share("below", default.below),
                min_resolved=s.count("min_resolved", default.min_resolved),
                severity=s.severity("severity", default.severity),
                audience=s.audience("audience", default.audience),
                enabled=s.flag("enabled", default.enabled),
            )
        thresholds: list[ThresholdRule] = []
        for key in ("overdue_count", "queue_depth"):
            default_rule: ThresholdRule = getattr(base, key)
            with section(f"unit.{key}") as s:
                thresholds.append(
                    ThresholdRule(
                        above=s.count("above", default_rule.above),
                        severity=s.severity("severity", default_rule.severity),
                        audience=s.audience("audience", default_rule.audience),
                        enabled=s.flag("enabled", default_rule.enabled),
                    )
                )
        with section("unit.p90_latency") as s:
            default_p90 = base.p90_latency
            p90_latency = P90LatencyRule(
                window=s.window("window", default_p90.window),
                sla_share_above=s.number("sla_share_above", default_p90.sla_share_above, minimum=0),
                min_resolved=s.count("min_resolved", default_p90.min_resolved),
                severity=s.severity("severity", default_p90.severity),
                audience=s.audience("audience", default_p90.audience),
                enabled=s.flag("enabled", default_p90.enabled),
            )
        with section("unit.surge") as s:
            default_surge = base.surge
            surge = SurgeRule(
                window=s.window("window", default_surge.window),
                factor=s.number("factor", default_surge.factor, minimum=1),
                min_received=s.count("min_received", default_surge.min_received),
                severity=s.severity("severity", default_surge.severity),
                audience=s.audience("audience", default_surge.audience),
                enabled=s.flag("enabled", default_surge.enabled),
            )
        indicator_rules: list[IndicatorRule] = []
        for key, default_indicator in (
            ("at_risk", base.indicator_at_risk),
            ("stale", base.indicator_stale),
            ("explanation", base.indicator_explanation),
        ):
            with section(f"indicator.{key}") as s:
                indicator_rules.append(
                    IndicatorRule(
                        severity=s.severity("severity", default_indicator.severity),
                        audience=s.audience("audience", default_indicator.audience),
                        enabled=s.flag("enabled", default_indicator.enabled),
                    )
                )
        with section("colours") as s:
            colours = Colours(
                on_time_green=s.share("on_time_green", base.colours.on_time_green),
                on_time_orange=s.share("on_time_orange", base.colours.on_time_orange),
                late_green=s.share("late_green", base.colours.late_green),
                late_orange=s.share("late_orange", base.colours.late_orange),
            )
        if colours.on_time_orange > colours.on_time_green:
            raise config_file_error(
                _KIND,
                path,
                "[colours]",
                f"on_time_orange = {colours.on_time_orange:g} is above "
                f"on_time_green = {colours.on_time_green:g}",
                "make on_time_orange at most on_time_green (orange is the band below green)",
            )
        if colours.late_orange < colours.late_green:
            raise config_file_error(
                _KIND,
                path,
                "[colours]",
                f"late_orange = {colours.late_orange:g} is below late_green = {colours.late_green:g}",
                "make late_orange at least late_green (orange is the band above green)",
            )
        with section("retention") as s:
            retention = Retention(
                resolved_alerts=s.duration("resolved_alerts", base.retention.resolved_alerts)
            )
        return cls(
            due_soon=due_soon,
            overdue=overdue,
            escalation=escalation,
            reminders=reminders,
            on_time_rate=on_time_rate,
            overdue_count=thresholds[0],
            queue_depth=thresholds[1],
            p90_latency=p90_latency,
            surge=surge,
            indicator_at_risk=indicator_rules[0],
            indicator_stale=indicator_rules[1],
            indicator_explanation=indicator_rules[2],
            colours=colours,
            retention=retention,
        )

    # -- derived values ------------------------------------------------------------------

    def deadline_policy(self, *, purge_after: float, dedup_ids: int) -> DeadlinePolicy:
        """The item state machine's time rules (due soon, escalation delays) from this file.

        Args:
            purge_after: closed items are removed this long after closing (clock seconds).
            dedup_ids: event ids remembered per item.
        """
        return DeadlinePolicy(
            due_soon_share=self.due_soon.share,
            due_soon_left=self.due_soon.working_hours_left * _HOUR,
            escalation_delays=tuple(step.after_working_hours * _HOUR for step in self.escalation),
            purge_after=purge_after,
            dedup_ids=dedup_ids,
        )

    def step(self, level: int) -> EscalationStep | None:
        """Ladder step ``level`` (1-based; levels past the ladder give the last step)."""
        if level < 1 or not self.escalation:
            return None
        return self.escalation[min(level, len(self.escalation)) - 1]

    def windows(self) -> frozenset[str]:
        """Window kinds the enabled unit rules read (the unit stage must keep them)."""
        rules = (self.on_time_rate, self.p90_latency, self.surge)
        return frozenset(rule.window for rule in rules if rule.enabled)

    def audience_of(self, rule: RuleName) -> tuple[str, ...]:
        """Audience entries of ``rule`` before any escalation."""
        return self._rule(rule).audience

    def severity_of(self, rule: RuleName) -> Severity:
        """Severity of ``rule`` before any escalation."""
        return self._rule(rule).severity

    def _rule(self, rule: RuleName) -> _Rule:
        by_name: dict[RuleName, _Rule] = {
            RuleName.ITEM_DUE_SOON: self.due_soon,
            RuleName.ITEM_OVERDUE: self.overdue,
            RuleName.UNIT_ON_TIME_RATE: self.on_time_rate,
            RuleName.UNIT_OVERDUE_COUNT: self.overdue_count,
            RuleName.UNIT_QUEUE_DEPTH: self.queue_depth,
            RuleName.UNIT_P90_LATENCY: self.p90_latency,
            RuleName.UNIT_SURGE: self.surge,
            RuleName.INDICATOR_AT_RISK: self.indicator_at_risk,
            RuleName.INDICATOR_STALE: self.indicator_stale,
            RuleName.INDICATOR_EXPLANATION: self.indicator_explanation,
        }
        try:
            return by_name[rule]
        except KeyError:
            raise ValueError(f"unknown rule {rule!r}") from None

    # -- colours ---------------------------------------------------------------------------

    def colour_on_time(self, rate: float | None) -> str:
        """``green``/``orange``/``red`` for an on-time rate (higher is better); ``grey`` if None."""
        if rate is None:
            return "grey"
        if rate >= self.colours.on_time_green:
            return "green"
        return "orange" if rate >= self.colours.on_time_orange else "red"

    def colour_late(self, rate: float | None) -> str:
        """``green``/``orange``/``red`` for a late rate (lower is better); ``grey`` if None."""
        if rate is None:
            return "grey"
        if rate <= self.colours.late_green:
            return "green"
        return "orange" if rate <= self.colours.late_orange else "red"

    def colour(self, on_time_rate: float | None, late_rate: float | None) -> str:
        """The worse of the two colours (``grey`` only when both rates are unknown)."""
        colours = (self.colour_on_time(on_time_rate), self.colour_late(late_rate))
        return max(colours, key=COLOURS.index)


_Rule = (
    DueSoonRule | OverdueRule | OnTimeRateRule | ThresholdRule | P90LatencyRule | SurgeRule | IndicatorRule
)

# -- parsing ----------------------------------------------------------------------------------
# Every error has the form of domain.errors.config_file_error: "rules file <path>: <table>:
# <key = value> is not …; <how to fix it>". Fixes show TOML to write, from the defaults.


def _toml(value: object) -> str:
    """``value`` as it is written in the rules file (for the examples in messages)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml(entry) for entry in value) + "]"
    if isinstance(value, str):  # also Severity
        return f"'{value}'"
    return str(value)


def _table(path: Path | None, entry: str, value: Any, *, fix: str | None = None) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        fix = fix or f"write {entry} on a line of its own, then its keys"
        raise config_file_error(_KIND, path, entry, "is not a table", fix)
    return value


def _sections(path: Path | None, data: Mapping[str, Any]) -> None:
    """Refuse a top-level table or key that is not a section (a typo would be ignored)."""
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        name = unknown[0]
        spelled = {"escalation": "[[escalation]]", "unit": "[unit.<rule>]", "indicator": "[indicator.<rule>]"}
        tables = ", ".join(spelled.get(known, f"[{known}]") for known in _SECTIONS)
        raise config_file_error(
            _KIND,
            path,
            f"[{name}]" if isinstance(data[name], dict) else name,
            "is not a section of the rules file",
            f"rename it to one of {tables}, or delete it",
        )


def _unit_rules(path: Path | None, units: Mapping[str, Any]) -> None:
    """Refuse a ``[unit.<name>]`` table that names no unit rule (a typo would be ignored)."""
    unknown = sorted(set(units) - set(_UNIT_SECTIONS))
    if unknown:
        tables = ", ".join(f"[unit.{name}]" for name in _UNIT_SECTIONS)
        raise config_file_error(
            _KIND,
            path,
            f"[unit.{unknown[0]}]",
            "is not a unit rule",
            f"rename it to one of {tables}, or delete it",
        )


class _Section:
    """Reads the keys of one table; unknown keys are reported when the block ends.

    ``default`` is the value of a missing key; with ``required=True`` the key must be
    present and ``default`` is only the example its message shows.
    """

    def __init__(self, path: Path | None, entry: str, data: Any, *, fix: str | None = None) -> None:
        self.path = path
        self.entry = entry
        self.data = _table(path, entry, data, fix=fix)
        self.used: list[str] = []

    def __enter__(self) -> _Section:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            unknown = sorted(set(self.data) - set(self.used))
            if unknown:
                raise self.error(
                    f"{unknown[0]!r} is not a key of this table",
                    f"rename it to one of {', '.join(self.used)}, or delete it",
                )

    def error(self, problem: str, fix: str) -> ConfigError:
        return config_file_error(_KIND, self.path, self.entry, problem, fix)

    def _get(self, key: str, example: object, required: bool) -> Any:
        self.used.append(key)
        value = self.data.get(key)
        if value is None and required:
            raise self.error(f"{key!r} is missing", f"add {key} = {_toml(example)}")
        return value

    def number(
        self,
        key: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
        required: bool = False,
    ) -> float:
        value = self._get(key, default, required)
        if value is None:
            return default
        bounds = [f">= {minimum:g}"] if minimum is not None else []
        bounds += [f"> {above:g}"] if above is not None else []
        bounds += [f"<= {maximum:g}"] if maximum is not None else []
        wanted = " ".join(["a number", " and ".join(bounds)]).rstrip()
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)
            or (above is not None and value <= above)
        ):
            raise self.error(
                f"{key} = {value!r} is not {wanted}", f"write {wanted}, e.g. {key} = {_toml(default)}"
            )
        return float(value)

    def share(self, key: str, default: float) -> float:
        return self.number(key, default, minimum=0, maximum=1)

    def count(self, key: str, default: int) -> int:
        value = self._get(key, default, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.error(
                f"{key} = {value!r} is not a whole number >= 0",
                f"write a whole number, e.g. {key} = {_toml(default)}",
            )
        return int(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(
                f"{key} = {value!r} is not true or false", f"write {key} = true or {key} = false"
            )
        return value

    def text(self, key: str, example: str) -> str:
        value = self._get(key, example, True)
        if not isinstance(value, str) or not value.strip():
            raise self.error(
                f"{key} = {value!r} is not a label",
                f"write the step's label as text, e.g. {key} = {_toml(example)}",
            )
        return str(value)

    def severity(self, key: str, default: Severity, *, required: bool = False) -> Severity:
        value = self._get(key, default, required)
        if value is None:
            return default
        try:
            return Severity(value)
        except ValueError:
            allowed = ", ".join(_toml(s.value) for s in Severity)
            raise self.error(
                f"{key} = {value!r} is not a severity",
                f"write one of {allowed}, e.g. {key} = {_toml(default)}",
            ) from None

    def audience(self, key: str, default: tuple[str, ...], *, required: bool = False) -> tuple[str, ...]:
        value = self._get(key, default, required)
        if value is None:
            return default
        if not isinstance(value, list) or not all(entry in AUDIENCES for entry in value):
            allowed = ", ".join(_toml(name) for name in sorted(AUDIENCES))
            raise self.error(
                f"{key} = {value!r} is not a list of audiences",
                f"write a list of {allowed}, e.g. {key} = {_toml(default)}",
            )
        return tuple(value)

    def duration(self, key: str, default: float, *, positive: bool = False) -> float:
        value = self._get(key, default, False)
        if value is None:
            return default
        fix = (
            "write a number of seconds or a duration in ms/s/m/h/d/w, "
            f"e.g. {key} = {_toml(format_duration(default))}"
        )
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.error(f"{key} = {value!r} is not a duration", fix)
        try:
            seconds = parse_duration(str(value), name=key)
        except ConfigError:
            raise self.error(f"{key} = {value!r} is not a duration", fix) from None
        if positive and seconds <= 0:
            raise self.error(
                f"{key} = {value!r} is not longer than 0",
                f"write a duration longer than 0, e.g. {key} = {_toml(format_duration(default))}",
            )
        return seconds

    def window(self, key: str, default: str) -> str:
        value = self._get(key, default, False)
        if value is None:
            return default
        if value == "period":
            return "period"
        if isinstance(value, str):
            try:
                if parse_duration(value, name=key) > 0:
                    return value
            except ConfigError:
                pass
        raise self.error(
            f"{key} = {value!r} is not a window",
            f"write a duration longer than 0 or 'period' (the reporting period), "
            f"e.g. {key} = {_toml(default)}",
        )


def _ladder(path: Path | None, value: Any, default: tuple[EscalationStep, ...]) -> tuple[EscalationStep, ...]:
    if value is None:
        return default
    if not isinstance(value, list):
        raise config_file_error(
            _KIND,
            path,
            "escalation",
            "is not an array of tables",
            "write each step as an [[escalation]] table, or escalation = [] for no escalation",
        )
    example = DEFAULT_LADDER[0]
    steps: list[EscalationStep] = []
    for index, entry in enumerate(value):
        fix = "write each step as an [[escalation]] table"
        with _Section(path, f"[[escalation]] #{index + 1}", entry, fix=fix) as s:
            steps.append(
                EscalationStep(
                    after_working_hours=s.number(
                        "after_working_hours", example.after_working_hours, above=0, required=True
                    ),
                    audience=s.audience("audience", example.audience, required=True),
                    severity=s.severity("severity", example.severity, required=True),
                    label_vi=s.text("label_vi", example.label_vi),
                    label_en=s.text("label_en", example.label_en),
                )
            )
    return tuple(steps)
