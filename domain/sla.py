"""Service levels: the default deadline of an item by category and priority.

Loaded from a TOML file (``GOVPULSE_SLA_FILE``). A category gives a number of working
days (civil-code counting on the city calendar), a number of clock hours for urgent
items, and the *unit clock* policy: whether a unit receiving a transferred item gets a
fresh period (``restart``) or inherits the citizen's remaining time (``continue``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from domain.calendar import WorkCalendar, read_toml
from domain.errors import config_file_error
from domain.events import Priority, Sla

_KIND = "SLA"


class ClockKind(StrEnum):
    """How the length of a period is measured."""

    WORKING = "working"  # working time on the city calendar
    ELAPSED = "elapsed"  # clock time


class UnitClock(StrEnum):
    """What a transfer does to the receiving unit's period (a category's ``unit_clock``)."""

    CONTINUE = "continue"  # the unit inherits the citizen's remaining time
    RESTART = "restart"  # the unit gets a fresh period from the transfer


_UNIT_CLOCKS = {clock.value: clock for clock in UnitClock}


@dataclass(frozen=True, slots=True)
class CategorySla:
    """Service level of one category."""

    code: str
    name_vi: str
    name_en: str
    working_days: int
    urgent_hours: float
    unit_clock: UnitClock


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
        data = read_toml(_KIND, path)
        default = _category(path, "default", data.get("default", {}), None)
        entries = data.get("category", {})
        if not isinstance(entries, dict):
            raise config_file_error(
                _KIND, path, "[category]", "is not a table", "write one [category.CODE] table per category"
            )
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
        priority: Priority | None,
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
        if priority is Priority.URGENT:
            return Plan(start + level.urgent_hours * 3600.0, ClockKind.ELAPSED)
        return Plan(calendar.add_working_days(start, level.working_days), ClockKind.WORKING)


def _category(path: Path, code: str, entry: object, base: CategorySla | None) -> CategorySla:
    """One ``[default]`` (``base`` is ``None``) or ``[category.CODE]`` table; categories inherit
    the default's service levels, not its names."""
    table = "[default]" if base is None else f"[category.{code}]"
    if not isinstance(entry, dict):
        raise config_file_error(
            _KIND,
            path,
            table,
            "is not a table",
            "write it as a table with working_days, urgent_hours, unit_clock",
        )

    def get(name: str, example: str) -> object:
        if name in entry:
            return entry[name]
        if base is None:
            raise config_file_error(_KIND, path, table, f"'{name}' is missing", f"add {name} = {example}")
        return getattr(base, name)

    working_days = get("working_days", "10")
    urgent_hours = get("urgent_hours", "48")
    unit_clock = get("unit_clock", "'continue'")
    if not isinstance(working_days, int) or isinstance(working_days, bool) or working_days < 1:
        raise config_file_error(
            _KIND,
            path,
            table,
            f"working_days = {working_days!r} is not a whole number >= 1",
            "write a number of working days, e.g. working_days = 5",
        )
    if not isinstance(urgent_hours, (int, float)) or isinstance(urgent_hours, bool) or urgent_hours <= 0:
        raise config_file_error(
            _KIND,
            path,
            table,
            f"urgent_hours = {urgent_hours!r} is not a number > 0",
            "write a number of clock hours, e.g. urgent_hours = 24",
        )
    if not isinstance(unit_clock, str) or unit_clock not in _UNIT_CLOCKS:
        raise config_file_error(
            _KIND,
            path,
            table,
            f"unit_clock = {unit_clock!r} is neither 'continue' nor 'restart'",
            "write unit_clock = 'continue' (a transfer keeps the citizen's deadline) or 'restart'",
        )
    # Names are the category's own (not the default's): name_vi, else the code; name_en, else name_vi.
    name_vi = entry.get("name_vi", code)
    name_en = entry.get("name_en", name_vi)
    for key, name in (("name_vi", name_vi), ("name_en", name_en)):
        if not isinstance(name, str) or not name.strip():
            raise config_file_error(
                _KIND,
                path,
                table,
                f"{key} = {name!r} is not a name",
                f"write the category's name as text, e.g. {key} = "
                + ("'Môi trường'" if key == "name_vi" else "'Environment'"),
            )
    return CategorySla(
        code=code,
        name_vi=str(name_vi),
        name_en=str(name_en),
        working_days=working_days,
        urgent_hours=float(urgent_hours),
        unit_clock=_UNIT_CLOCKS[unit_clock],
    )
