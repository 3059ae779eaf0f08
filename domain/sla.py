"""Service levels: the default deadline of an item by category and priority.

Loaded from a TOML file (``GOVPULSE_SLA_FILE``). A category gives a number of working
days (civil-code counting on the city calendar), a number of clock hours for urgent
items, and the *unit clock* policy: whether a unit receiving a transferred item gets a
fresh period (``restart``) or inherits the citizen's remaining time (``continue``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from domain.calendar import WorkCalendar
from domain.errors import ConfigError
from domain.events import Priority, Sla


class ClockKind(StrEnum):
    """How the length of a period is measured."""

    WORKING = "working"  # working time on the city calendar
    ELAPSED = "elapsed"  # clock time


@dataclass(frozen=True, slots=True)
class CategorySla:
    """Service level of one category."""

    code: str
    name_vi: str
    name_en: str
    working_days: int
    urgent_hours: float
    unit_clock: str  # "continue" | "restart"


@dataclass(frozen=True, slots=True)
class Plan:
    """A deadline and how its period is measured (for pauses and 'share of SLA used')."""

    due: float
    clock: ClockKind


class SlaPolicy:
    """Default service levels per category, with a fallback for unknown categories."""

    def __init__(self, categories: Mapping[str, CategorySla], default: CategorySla) -> None:
        self.categories = dict(categories)
        self.default = default

    @classmethod
    def from_file(cls, path: Path) -> SlaPolicy:
        """Load the SLA TOML file.

        Raises:
            ConfigError: the file or an entry is invalid; the message names it.
        """
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"SLA file {path}: {exc}") from None
        default = _category(path, "default", data.get("default", {}), None)
        entries = data.get("category", {})
        if not isinstance(entries, dict):
            raise ConfigError(f"SLA file {path}: [category] must be a table of [category.CODE] tables")
        categories = {code: _category(path, code, entry, default) for code, entry in entries.items()}
        return cls(categories, default)

    def for_category(self, code: str | None) -> CategorySla:
        """The service level of ``code``, or the default one."""
        if code is None:
            return self.default
        return self.categories.get(code, self.default)

    def plan(
        self,
        calendar: WorkCalendar,
        *,
        start: float,
        category: str | None,
        priority: str | None,
        sla: Sla | None = None,
        due_at: float | None = None,
    ) -> Plan:
        """Deadline of a period starting at ``start``.

        An explicit ``due_at`` wins, then an explicit ``sla``, then the category default
        (urgent items use the category's clock hours).
        """
        if due_at is not None:
            return Plan(due_at, ClockKind.ELAPSED)
        if sla is not None:
            if sla.working_days is not None:
                return Plan(calendar.add_working_days(start, sla.working_days), ClockKind.WORKING)
            assert sla.hours is not None
            return Plan(start + sla.hours * 3600.0, ClockKind.ELAPSED)
        level = self.for_category(category)
        if priority == Priority.URGENT:
            return Plan(start + level.urgent_hours * 3600.0, ClockKind.ELAPSED)
        return Plan(calendar.add_working_days(start, level.working_days), ClockKind.WORKING)


def _category(path: Path, code: str, entry: object, base: CategorySla | None) -> CategorySla:
    if not isinstance(entry, dict):
        raise ConfigError(f"SLA file {path}: [{code}] must be a table")

    def get(name: str) -> object:
        if name in entry:
            return entry[name]
        if base is None:
            raise ConfigError(f"SLA file {path}: [{code}] is missing '{name}'")
        return getattr(base, name)

    working_days, urgent_hours, unit_clock = get("working_days"), get("urgent_hours"), get("unit_clock")
    if not isinstance(working_days, int) or isinstance(working_days, bool) or working_days < 1:
        raise ConfigError(f"SLA file {path}: [{code}] working_days must be a whole number >= 1")
    if not isinstance(urgent_hours, (int, float)) or isinstance(urgent_hours, bool) or urgent_hours <= 0:
        raise ConfigError(f"SLA file {path}: [{code}] urgent_hours must be a number > 0")
    if unit_clock not in ("continue", "restart"):
        raise ConfigError(f"SLA file {path}: [{code}] unit_clock must be 'continue' or 'restart'")
    return CategorySla(
        code=code,
        name_vi=str(entry.get("name_vi", code)),
        name_en=str(entry.get("name_en", code)),
        working_days=working_days,
        urgent_hours=float(urgent_hours),
        unit_clock=str(unit_clock),
    )
