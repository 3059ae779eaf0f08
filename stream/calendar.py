"""Working-day calendar of the city: weekends, Vietnamese public holidays, local overrides.

Public holidays come from the ``holidays`` package (country VN: lunar Tết, Hùng Kings,
30/4, 1/5, 2/9, and the make-up days it knows). A TOML file adds office hours and local
overrides: swapped days off and make-up Saturdays announced each year.

Deadline arithmetic follows the civil code (Bộ luật Dân sự 2015, art. 147-148): the day
of the triggering event is not counted, and a period ends at the end of its last working
day (the close of office hours). Instants are epoch seconds; dates and office hours are
local (Asia/Ho_Chi_Minh, UTC+7 without daylight saving).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays

from govpulse.errors import ConfigError

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class DayOverride:
    """A local decision about one date: a day off on a weekday, or a working weekend day."""

    day: date
    working: bool
    name: str


@dataclass(frozen=True, slots=True)
class OfficeHours:
    """Office sessions of a working day, e.g. 07:30-11:30 and 13:00-17:00."""

    sessions: tuple[tuple[time, time], ...]

    @classmethod
    def parse(cls, specs: list[str]) -> OfficeHours:
        """Parse ``["07:30-11:30", "13:00-17:00"]``.

        Raises:
            ConfigError: a session is malformed, empty, or overlaps the previous one.
        """
        sessions: list[tuple[time, time]] = []
        for spec in specs:
            start_text, sep, end_text = spec.partition("-")
            try:
                start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
            except ValueError:
                raise ConfigError(f"office hours session {spec!r} must look like '07:30-11:30'") from None
            if start.tzinfo is not None or end.tzinfo is not None:
                # time.fromisoformat reads "11:30-12:00" as 11:30 at UTC-12:00.
                raise ConfigError(f"office hours session {spec!r} must look like '07:30-11:30'")
            if not sep or end <= start:
                raise ConfigError(f"office hours session {spec!r} must end after it starts")
            if sessions and start < sessions[-1][1]:
                raise ConfigError(f"office hours session {spec!r} overlaps the previous one")
            sessions.append((start, end))
        if not sessions:
            raise ConfigError("office hours need at least one session, e.g. ['07:30-11:30', '13:00-17:00']")
        return cls(tuple(sessions))

    @property
    def seconds_per_day(self) -> float:
        return sum(_seconds(end) - _seconds(start) for start, end in self.sessions)


DEFAULT_OFFICE_HOURS = OfficeHours.parse(["07:30-11:30", "13:00-17:00"])


class WorkCalendar:
    """Working days and working time of the city.

    Args:
        office_hours: office sessions of a working day.
        overrides: local decisions that win over weekends and public holidays.
    """

    def __init__(
        self,
        *,
        office_hours: OfficeHours = DEFAULT_OFFICE_HOURS,
        overrides: Mapping[date, DayOverride] | None = None,
    ) -> None:
        self.office_hours = office_hours
        self.overrides: Mapping[date, DayOverride] = dict(overrides or {})
        self._holidays = holidays.country_holidays("VN", language="vi")
        # Per-date caches: deadline arithmetic walks the same few hundred dates over and over.
        self._working: dict[date, bool] = {}
        self._day_sessions: dict[date, tuple[tuple[float, float], ...]] = {}

    @classmethod
    def from_file(cls, path: Path) -> WorkCalendar:
        """Load office hours and overrides from a TOML file.

        Raises:
            ConfigError: the file is unreadable or malformed; the message names the entry.
        """
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"calendar file {path}: {exc}") from None
        office = data.get("office_hours", {})
        sessions = office.get("sessions", []) if isinstance(office, dict) else None
        if not isinstance(sessions, list) or not all(isinstance(spec, str) for spec in sessions):
            raise ConfigError(
                f"calendar file {path}: [office_hours] sessions must be a list of strings like '07:30-11:30'"
            )
        hours = OfficeHours.parse(sessions)
        entries = data.get("override", [])
        if not isinstance(entries, list):
            raise ConfigError(f"calendar file {path}: 'override' must be an array of tables ([[override]])")
        overrides: dict[date, DayOverride] = {}
        for index, entry in enumerate(entries):
            day, working = (entry.get("date"), entry.get("working")) if isinstance(entry, dict) else (None, None)
            if not isinstance(day, date) or isinstance(day, datetime) or not isinstance(working, bool):
                raise ConfigError(
                    f"calendar file {path}: override #{index + 1} needs 'date = YYYY-MM-DD' "
                    f"and 'working = true|false'"
                )
            overrides[day] = DayOverride(day, working, str(entry.get("name", "")))
        return cls(office_hours=hours, overrides=overrides)

    # -- days ---------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """Return whether ``day`` (local date) is a working day."""
        cached = self._working.get(day)
        if cached is None:
            override = self.overrides.get(day)
            if override is not None:
                cached = override.working
            else:
                cached = bool(self._holidays.is_working_day(day))
            self._working[day] = cached
        return cached

    def holiday_name(self, day: date) -> str | None:
        """Name of the holiday or local day off on ``day``, if any (Vietnamese)."""
        override = self.overrides.get(day)
        if override is not None:
            return None if override.working else (override.name or "Ngày nghỉ")
        name = self._holidays.get(day)
        return str(name) if name else None

    def next_working_day(self, day: date) -> date:
        """First working day strictly after ``day``."""
        candidate = day + timedelta(days=1)
        for _ in range(3660):
            if self.is_working_day(candidate):
                return candidate
            candidate += timedelta(days=1)
        raise ConfigError(f"no working day within ten years after {day}; check the calendar overrides")

    # -- deadlines ----------------------------------------------------------------------

    def add_working_days(self, start: float, days: int) -> float:
        """Deadline ``days`` working days after the instant ``start`` (civil-code counting).

        The local date of ``start`` is not counted; the deadline is the close of office
        hours on the ``days``-th working day after it.
        """
        if days < 1:
            raise ValueError(f"days must be >= 1, got {days}")
        day = local_date(start)
        for _ in range(days):
            day = self.next_working_day(day)
        return self._sessions(day)[-1][1]

    def day_close(self, day: date) -> float:
        """Instant at which office hours end on ``day`` (a working day)."""
        return self._sessions(day)[-1][1]

    # -- working time -------------------------------------------------------------------

    def _sessions(self, day: date) -> tuple[tuple[float, float], ...]:
        """Office sessions of ``day`` as epoch intervals (also for non-working days)."""
        cached = self._day_sessions.get(day)
        if cached is None:
            midnight = datetime.combine(day, time(), LOCAL_TZ).timestamp()
            cached = self._day_sessions[day] = tuple(
                (midnight + _seconds(start), midnight + _seconds(end))
                for start, end in self.office_hours.sessions
            )
        return cached

    def working_seconds_between(self, start: float, end: float) -> float:
        """Working seconds (office hours of working days) between two instants."""
        if end <= start:
            return 0.0
        total = 0.0
        day = local_date(start)
        last = local_date(end)
        while day <= last:
            if self.is_working_day(day):
                for open_at, close_at in self._sessions(day):
                    lo, hi = max(open_at, start), min(close_at, end)
                    if hi > lo:
                        total += hi - lo
            day += timedelta(days=1)
        return total

    def add_working_seconds(self, start: float, seconds: float) -> float:
        """The instant at which ``seconds`` of working time have passed since ``start``."""
        if seconds <= 0:
            return start
        remaining = seconds
        day = local_date(start)
        for _ in range(3660 * 2):
            if self.is_working_day(day):
                for open_at, close_at in self._sessions(day):
                    lo = max(open_at, start)
                    if close_at <= lo:
                        continue
                    if close_at - lo >= remaining:
                        return lo + remaining
                    remaining -= close_at - lo
            day += timedelta(days=1)
        raise ConfigError("working time does not advance; check the calendar overrides")

    def subtract_working_seconds(self, end: float, seconds: float) -> float:
        """The instant ``seconds`` of working time before ``end`` (not before any office hours)."""
        if seconds <= 0:
            return end
        remaining = seconds
        day = local_date(end)
        for _ in range(3660 * 2):
            if self.is_working_day(day):
                for open_at, close_at in reversed(self._sessions(day)):
                    hi = min(close_at, end)
                    if hi <= open_at:
                        continue
                    if hi - open_at >= remaining:
                        return hi - remaining
                    remaining -= hi - open_at
            day -= timedelta(days=1)
        raise ConfigError("working time does not advance; check the calendar overrides")


def local_date(at: float) -> date:
    """Local (Asia/Ho_Chi_Minh) calendar date of the instant ``at``."""
    return datetime.fromtimestamp(at, LOCAL_TZ).date()


def local_midnight(at: float) -> float:
    """Instant of the local midnight that starts the day containing ``at``."""
    return datetime.combine(local_date(at), time(), LOCAL_TZ).timestamp()


def local_instant(day: date, at: time) -> float:
    """Epoch seconds of local ``day`` at local time ``at``."""
    return datetime.combine(day, at, LOCAL_TZ).timestamp()


def _seconds(value: time) -> float:
    return value.hour * 3600.0 + value.minute * 60.0 + value.second
