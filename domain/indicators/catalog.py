"""The indicator catalog: what is measured, for which units, against which targets.

Read from TOML (``GOVPULSE_INDICATORS_FILE``; the packaged default is
``domain/data/indicators.toml``, which documents every key). Each ``[[indicator]]`` has
a code, Vietnamese and English names, a group, a measure unit, a direction (``higher``
or ``lower`` is better), a kind (``cumulative`` total, ``ratio`` of two counts, ``level``),
a report cadence, a period (``year``, ``quarter``, ``month``), a target for the city and/or
for units, an optional plan curve and optional threshold overrides. A bad entry is
refused at start with the file, the entry and the fix
(:func:`~domain.errors.config_file_error`).

An :class:`Assignment` is one indicator for one unit with its target; its ``owner`` is the
unit that answers for it (the unit itself, or for the city's own target the indicator's
owner department).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from domain.calendar import read_toml
from domain.catalog import Catalog
from domain.durations import parse_duration
from domain.errors import ConfigError, config_file_error
from domain.indicators.periods import CADENCE_SECONDS, CADENCES, PERIOD_KINDS

_KIND = "indicator catalog"
KINDS = ("cumulative", "ratio", "level")
DIRECTIONS = ("higher", "lower")
GROUPS = (
    "economy",
    "budget",
    "investment",
    "procedures",
    "digital",
    "environment",
    "social",
    "governance",
)
#: Unit levels a default ``unit_target`` applies to (catalog kinds).
LEVELS: Mapping[str, frozenset[str]] = {
    "ward": frozenset({"ward", "commune", "special_zone"}),
    "department": frozenset({"department"}),
}
#: Days of the longest period of each kind (a leap year; July to September).
LONGEST_PERIOD_DAYS: Mapping[str, int] = {"month": 31, "quarter": 92, "year": 366}
#: What govpulse computes itself from its counters (``source = "derived"``).
DERIVED = (
    "on_time_rate",
    "feedback_on_time_rate",
    "task_on_time_rate",
    "handling_days",
    "overdue_at_end",
)
CODE = re.compile(r"[A-Z][A-Z0-9.-]{1,31}\Z")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """How projections become colours (see docs/indicators.md).

    Args:
        margin: red when even the better projection misses the target by more than this
            share of it (entering red).
        exit_margin: a red indicator leaves red only once the better projection misses by
            less than this share (exiting red; below ``margin``: hysteresis).
        green_exit: a green indicator leaves green only once the worse projection misses
            by more than this share (entering green needs it to meet the target).
        large_miss: a miss this large goes straight to red, ignoring the dwell.
        min_dwell: seconds a status is kept at least before it changes.
        min_elapsed: grey before this share of the period has elapsed.
        min_reports: reports needed for a trend.
        trend_reports: the last this many reports make the trend.
        stale_after: a report older than this many cadences is stale (grey + alert).
    """

    margin: float = 0.05
    exit_margin: float = 0.025
    green_exit: float = 0.015
    large_miss: float = 0.30
    min_dwell: float = 7 * 86400.0
    min_elapsed: float = 0.10
    min_reports: int = 3
    trend_reports: int = 6
    stale_after: float = 2.0


@dataclass(frozen=True, slots=True)
class Indicator:
    """One indicator of the catalog (see the module docstring)."""

    code: str
    name_vi: str
    name_en: str
    group: str
    measure: str
    direction: str
    kind: str
    cadence: str
    period: str
    owner: str
    targets: Mapping[str, float]
    plan: tuple[float, ...] | None = None
    source: str = "reported"
    derived: str | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"

    @property
    def cadence_seconds(self) -> float:
        return CADENCE_SECONDS[self.cadence]


@dataclass(frozen=True, slots=True)
class Assignment:
    """One indicator for one unit: the target it must reach and who answers for it."""

    indicator: Indicator
    unit: str
    target: float
    owner: str

    @property
    def key(self) -> str:
        """``CODE|UNIT``: the identity of the pair (alerts, board, tables)."""
        return f"{self.indicator.code}|{self.unit}"


class IndicatorCatalog:
    """Indicators by code and the assignments of each unit.

    Args:
        indicators: the validated indicators.
        units: the unit catalog the targets refer to.
    """

    def __init__(self, indicators: list[Indicator], units: Catalog) -> None:
        self.indicators: Mapping[str, Indicator] = {i.code: i for i in indicators}
        self.units = units
        self._assignments: dict[tuple[str, str], Assignment] = {}
        for indicator in indicators:
            for unit, target in indicator.targets.items():
                owner = indicator.owner if unit == units.root else unit
                self._assignments[indicator.code, unit] = Assignment(indicator, unit, target, owner)

    @classmethod
    def from_file(cls, path: Path, units: Catalog) -> IndicatorCatalog:
        """Read and validate a catalog TOML file.

        Raises:
            ConfigError: unreadable file or a bad entry; the message names the file, the
                entry and the fix.
        """
        return cls.from_mapping(read_toml(_KIND, path), units, path=path)

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], units: Catalog, *, path: Path | None = None
    ) -> IndicatorCatalog:
        """Validate parsed TOML (see :meth:`from_file`)."""
        unknown = sorted(set(data) - {"defaults", "indicator"})
        if unknown:
            raise config_file_error(
                _KIND,
                path,
                f"[{unknown[0]}]",
                "is not a section of the catalog",
                "use [defaults] and [[indicator]]",
            )
        defaults = _thresholds(path, "[defaults]", data.get("defaults", {}), Thresholds())
        entries = data.get("indicator", [])
        if not isinstance(entries, list) or not entries:
            raise config_file_error(
                _KIND, path, "[[indicator]]", "no indicators", "add at least one [[indicator]] table"
            )
        indicators: list[Indicator] = []
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            indicator = _indicator(path, index, entry, units, defaults)
            if indicator.code in seen:
                raise config_file_error(
                    _KIND,
                    path,
                    f"indicator {indicator.code}",
                    "the code appears twice",
                    "keep one entry per code",
                )
            seen.add(indicator.code)
            indicators.append(indicator)
        return cls(indicators, units)

    def __contains__(self, code: object) -> bool:
        return code in self.indicators

    def __len__(self) -> int:
        return len(self.indicators)

    def get(self, code: str) -> Indicator:
        return self.indicators[code]

    def assignment(self, code: str, unit: str) -> Assignment | None:
        """The target of indicator ``code`` for ``unit``, if that unit has one."""
        return self._assignments.get((code, unit))

    def assignments(self) -> Iterator[Assignment]:
        return iter(self._assignments.values())

    def of_unit(self, unit: str) -> list[Assignment]:
        """Assignments a unit answers for (its own targets, and the city's it owns)."""
        return [a for a in self._assignments.values() if a.owner == unit]

    def daily_retention_needed(self) -> tuple[str, int] | None:
        """The derived indicator with the longest period and the days of daily counter
        windows (``1d``) it needs kept: its longest period (31, 92 or 366 days) plus one,
        since its value sums the days of the period so far. None without derived ones."""
        longest: tuple[str, int] | None = None
        for indicator in self.indicators.values():
            if indicator.source != "derived":
                continue
            days = LONGEST_PERIOD_DAYS[indicator.period] + 1
            if longest is None or days > longest[1]:
                longest = (indicator.code, days)
        return longest


# -- parsing ---------------------------------------------------------------------------------

_REQUIRED = ("code", "name_vi", "name_en", "group", "measure", "direction", "kind", "cadence", "period")
_KEYS = frozenset(
    {
        *_REQUIRED,
        "owner",
        "level",
        "city_target",
        "unit_target",
        "targets",
        "plan",
        "source",
        "derived",
        "thresholds",
    }
)


def _indicator(path: Path | None, index: int, entry: Any, units: Catalog, defaults: Thresholds) -> Indicator:
    where = f"indicator #{index + 1}"
    if not isinstance(entry, dict):
        raise config_file_error(_KIND, path, where, "is not a table", "write it as an [[indicator]] table")
    if isinstance(entry.get("code"), str):
        where = f"indicator {entry['code']}"

    def fail(problem: str, fix: str) -> Exception:
        return config_file_error(_KIND, path, where, problem, fix)

    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise fail(f"key {unknown[0]!r} is unknown", f"use only {sorted(_KEYS)}")
    for key in _REQUIRED:
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise fail(f"{key} is missing or not a text", f'write {key} = "…"')
    code = entry["code"]
    if not CODE.match(code):
        raise fail(
            f"code {code!r} is not an indicator code",
            "use 2-32 uppercase letters, digits, '.' and '-', starting with a letter (e.g. 'NS-THU')",
        )
    for key, allowed in (
        ("group", GROUPS),
        ("direction", DIRECTIONS),
        ("kind", KINDS),
        ("cadence", CADENCES),
        ("period", PERIOD_KINDS),
    ):
        if entry[key] not in allowed:
            raise fail(f"{key} = {entry[key]!r} is unknown", f"use one of {list(allowed)}")
    if CADENCE_SECONDS[entry["cadence"]] > CADENCE_SECONDS[entry["period"]]:
        raise fail(
            f"cadence {entry['cadence']!r} is longer than the period {entry['period']!r}",
            "report at least once per period",
        )
    source = entry.get("source", "reported")
    derived = entry.get("derived")
    if source not in ("reported", "derived"):
        raise fail(f"source = {source!r} is unknown", 'use "reported" or "derived"')
    if (source == "derived") != (derived is not None):
        raise fail(
            'derived and source = "derived" go together',
            'for a govpulse-computed indicator write source = "derived" and '
            f"derived = one of {list(DERIVED)}",
        )
    if derived is not None and (not isinstance(derived, str) or derived not in DERIVED):
        raise fail(f"derived = {derived!r} is unknown", f"use one of {list(DERIVED)}")
    owner = entry.get("owner", units.root)
    if not isinstance(owner, str) or owner not in units:
        raise fail(f"owner {owner!r} is not in the unit catalog", "use a unit code of units.json")
    targets: dict[str, float] = {}
    if "city_target" in entry:
        targets[units.root] = _number(fail, "city_target", entry["city_target"])
    level = entry.get("level")
    if level is not None and (not isinstance(level, str) or level not in LEVELS):
        raise fail(f"level = {level!r} is unknown", f"use one of {sorted(LEVELS)}")
    if ("unit_target" in entry) != (level is not None):
        raise fail("unit_target and level go together", 'write level = "ward" and unit_target = <number>')
    if level is not None:
        default = _number(fail, "unit_target", entry["unit_target"])
        targets |= {u.code: default for u in units if u.kind in LEVELS[level]}
    overrides = entry.get("targets", {})
    if not isinstance(overrides, dict):
        raise fail("targets is not a table", 'write targets = { "P-BAN-CO" = 12.5 }')
    for unit, value in overrides.items():
        if unit not in units:
            raise fail(f"targets: unit {unit!r} is not in the unit catalog", "use a unit code of units.json")
        targets[unit] = _number(fail, f"targets.{unit}", value)
    if not targets:
        raise fail("has no target", "write city_target, or level and unit_target, or targets = { … }")
    kind = entry["kind"]
    if kind == "ratio" and entry["measure"] != "%":
        raise fail(f"a ratio is measured in '%', not {entry['measure']!r}", 'write measure = "%"')
    if kind == "ratio" and not all(0 <= t <= 100 for t in targets.values()):
        raise fail("a ratio target is outside 0..100", "write targets as percentages")
    plan = entry.get("plan")
    if plan is not None:
        plan = _plan(fail, plan, entry["period"], kind)
    thresholds = _thresholds(path, f"{where} thresholds", entry.get("thresholds", {}), defaults)
    return Indicator(
        code=code,
        name_vi=entry["name_vi"],
        name_en=entry["name_en"],
        group=entry["group"],
        measure=entry["measure"],
        direction=entry["direction"],
        kind=kind,
        cadence=entry["cadence"],
        period=entry["period"],
        owner=owner,
        targets=targets,
        plan=plan,
        source=source,
        derived=derived,
        thresholds=thresholds,
    )


def _number(fail: Any, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(f"{key} = {value!r} is not a finite number", f"write {key} = 100 (a number)")
    return float(value)


def _plan(fail: Any, plan: Any, period: str, kind: str) -> tuple[float, ...]:
    months = {"year": 12, "quarter": 3, "month": 1}[period]
    if kind != "cumulative":
        raise fail("plan is set on a kind without a plan curve", "give a plan only to cumulative indicators")
    if not isinstance(plan, list) or len(plan) != months:
        raise fail(
            f"plan needs {months} cumulative shares (one per month of the {period})",
            "write plan = [0.05, 0.12, …, 1.0]",
        )
    values = [_number(fail, "plan", v) for v in plan]
    if any(b < a for a, b in itertools.pairwise(values)) or values[0] < 0 or values[-1] != 1.0:
        raise fail(
            f"plan {values} is not cumulative shares rising to 1.0",
            "list the share of the target expected by the end of each month, ending with 1.0",
        )
    return tuple(values)


def _thresholds(path: Path | None, where: str, data: Any, base: Thresholds) -> Thresholds:
    if not isinstance(data, dict):
        raise config_file_error(_KIND, path, where, "is not a table", "write thresholds = { margin = 0.1 }")
    names = {f.name for f in fields(Thresholds)}
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise config_file_error(
                _KIND, path, where, f"key {key!r} is unknown", f"use only {sorted(names)}"
            )
        if key == "min_dwell":
            try:
                changes[key] = parse_duration(str(value), name="min_dwell")
            except ConfigError as exc:
                raise config_file_error(
                    _KIND, path, where, f"min_dwell: {exc}", 'write min_dwell = "7d"'
                ) from None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise config_file_error(
                _KIND,
                path,
                where,
                f"{key} = {value!r} is not a number >= 0",
                f"write {key} = {getattr(base, key)}",
            )
        changes[key] = int(value) if key in ("min_reports", "trend_reports") else float(value)
    result = replace(base, **changes)
    if result.exit_margin > result.margin:
        raise config_file_error(
            _KIND,
            path,
            where,
            f"exit_margin {result.exit_margin} is above margin {result.margin}",
            "make exit_margin at most margin (leaving red needs a smaller miss than entering it)",
        )
    if result.min_reports < 2 or result.trend_reports < result.min_reports:
        raise config_file_error(
            _KIND,
            path,
            where,
            "min_reports must be >= 2 and trend_reports >= min_reports",
            "write min_reports = 3",
        )
    return result
