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
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays

from domain.errors import ConfigError, config_file_error

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_DAY = 86400.0
_KIND = "calendar"


def format_instant(at: float) -> str:
    """Format epoch seconds as RFC 3339 local time, e.g. ``2026-11-26T09:30:00.000+07:00``.

    The one formatter of instants for the wire (events, commands, frames) and for people
    reading logs and settings: Asia/Ho_Chi_Minh with its ``+07:00`` offset, millisecond
    precision (epoch seconds carry milliseconds from the broker), read back by
    :func:`domain.events.parse_instant` and by ``datetime.fromisoformat``. Alert titles
    and texts use :func:`format_local`.
    """
    return datetime.fromtimestamp(at, LOCAL_TZ).isoformat(timespec="milliseconds")


def format_local(at: float) -> str:
    """Format epoch seconds as local time for people reading alerts: ``24/11/2026 17:00``.

    The one formatter of instants in alert titles and texts (Vietnamese day-first order,
    to the minute, Asia/Ho_Chi_Minh). Machines read :func:`format_instant` instead.
    """
    return datetime.fromtimestamp(at, LOCAL_TZ).strftime("%d/%m/%Y %H:%M")


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
    def parse(cls, specs: list[str], *, path: Path | None = None) -> OfficeHours:
        """Parse ``["07:30-11:30", "13:00-17:00"]``.

        Args:
            specs: the sessions, in order.
            path: the calendar file they come from, for messages.

        Raises:
            ConfigError: a session is malformed, empty, or overlaps the previous one.
        """
        sessions: list[tuple[time, time]] = []
        for spec in specs:
            entry = f"[office_hours] session {spec!r}"
            start_text, sep, end_text = spec.partition("-")
            try:
                start, end = time.fromisoformat(start_text.strip()), time.fromisoformat(end_text.strip())
                # time.fromisoformat reads "11:30-12:00" as 11:30 at UTC-12:00.
                if start.tzinfo is not None or end.tzinfo is not None:
                    raise ValueError(spec)
            except ValueError:
                raise config_file_error(
                    _KIND, path, entry, "is not a time range", "write it like '07:30-11:30'"
                ) from None
            if not sep or end <= start:
                raise config_file_error(
                    _KIND, path, entry, "does not end after it starts", "write the start first"
                )
            if sessions and start < sessions[-1][1]:
                raise config_file_error(
                    _KIND,
                    path,
                    entry,
                    "overlaps the previous session",
                    "list sessions in order, without overlaps",
                )
            sessions.append((start, end))
        if not sessions:
            raise config_file_error(
                _KIND,
                path,
                "[office_hours] sessions",
                "there are none",
                "list at least one session, e.g. sessions = ['07:30-11:30', '13:00-17:00']",
            )
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
        self._working: dict[date, bool] = {}
        self._offsets = tuple((_seconds(start), _seconds(end)) for start, end in office_hours.sessions)
        self._timeline: _Timeline | None = None
        self._day_seconds = max(office_hours.seconds_per_day, 1.0)

    @classmethod
    def from_file(cls, path: Path) -> WorkCalendar:
        """Load office hours and overrides from a TOML file.

        Raises:
            ConfigError: the file is unreadable or malformed; the message names the entry.
        """
        data = read_toml(_KIND, path)
        office = data.get("office_hours", {})
        sessions = office.get("sessions", []) if isinstance(office, dict) else None
        if not isinstance(sessions, list) or not all(isinstance(spec, str) for spec in sessions):
            raise config_file_error(
                _KIND,
                path,
                "[office_hours] sessions",
                "is not a list of strings",
                "write sessions = ['07:30-11:30', '13:00-17:00'] under [office_hours]",
            )
        hours = OfficeHours.parse(sessions, path=path)
        entries = data.get("override", [])
        if not isinstance(entries, list):
            raise config_file_error(
                _KIND,
                path,
                "override",
                "is not an array of tables",
                "write each override as an [[override]] table",
            )
        overrides: dict[date, DayOverride] = {}
        for index, entry in enumerate(entries):
            day, working = (
                (entry.get("date"), entry.get("working")) if isinstance(entry, dict) else (None, None)
            )
            if not isinstance(day, date) or isinstance(day, datetime) or not isinstance(working, bool):
                raise config_file_error(
                    _KIND,
                    path,
                    f"override #{index + 1}",
                    "needs a date and whether it is a working day",
                    "write date = YYYY-MM-DD (a TOML date, no quotes) and working = true|false",
                )
            overrides[day] = DayOverride(day, working, str(entry.get("name", "")))
        return cls(office_hours=hours, overrides=overrides)

    # -- days ---------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """Return whether ``day`` (local date) is a working day."""
        cached = self._working.get(day)
        if cached is None:
            override = self.overrides.get(day)
            cached = override.working if override is not None else bool(self._holidays.is_working_day(day))
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
        for span in (400, 3660):
            timeline = self._timeline_for(day.toordinal(), day.toordinal() + span)
            index = bisect_right(timeline.working_ordinals, day.toordinal())
            if index < len(timeline.working_ordinals):
                found = timeline.working_ordinals[index]
                if found <= day.toordinal() + 3660:
                    return date.fromordinal(found)
        raise ConfigError(f"no working day within ten years after {day}; check the calendar overrides")

    # -- deadlines ----------------------------------------------------------------------

    def add_working_days(self, start: float, days: int) -> float:
        """Deadline ``days`` working days after the instant ``start`` (civil-code counting).

        The local date of ``start`` is not counted; the deadline is the close of office
        hours on the ``days``-th working day after it.
        """
        if days < 1:
            raise ValueError(f"days must be >= 1, got {days}")
        ordinal = _ordinal(start)
        timeline = self._timeline_for(ordinal, ordinal + days * 2 + 60)
        index = bisect_right(timeline.working_ordinals, ordinal) + days - 1
        if index >= len(timeline.working_ordinals):
            timeline = self._timeline_for(ordinal, ordinal + days * 7 + 3660)
            index = bisect_right(timeline.working_ordinals, ordinal) + days - 1
            if index >= len(timeline.working_ordinals):
                raise ConfigError("working days do not advance; check the calendar overrides")
        return self.day_close(date.fromordinal(timeline.working_ordinals[index]))

    def day_close(self, day: date) -> float:
        """Instant at which office hours end on ``day`` (a working day)."""
        return _midnight(day.toordinal()) + self._offsets[-1][1]

    # -- working time -------------------------------------------------------------------
    #
    # Working time is kept as a running total (working seconds since the first day of a
    # timeline), so that the time between two instants is a difference of two lookups
    # and "N working seconds later" is a binary search: deadline arithmetic is on the
    # hot path of every received item.

    def working_seconds_between(self, start: float, end: float) -> float:
        """Working seconds (office hours of working days) between two instants."""
        if end <= start:
            return 0.0
        timeline = self._timeline_for(_ordinal(start), _ordinal(end))
        return timeline.position(end) - timeline.position(start)

    def add_working_seconds(self, start: float, seconds: float) -> float:
        """The (earliest) instant at which ``seconds`` of working time have passed since ``start``."""
        if seconds <= 0:
            return start
        ordinal = _ordinal(start)
        span = int(seconds / self._day_seconds * 2) + 60
        timeline = self._timeline_for(ordinal, ordinal + span)
        target = timeline.position(start) + seconds
        if target > timeline.cumulative[-1]:
            timeline = self._timeline_for(ordinal, ordinal + span * 4 + 3660)
            if target > timeline.cumulative[-1]:
                raise ConfigError("working time does not advance; check the calendar overrides")
        return timeline.instant(target, latest=False)

    def subtract_working_seconds(self, end: float, seconds: float) -> float:
        """The (latest) instant ``seconds`` of working time before ``end``."""
        if seconds <= 0:
            return end
        ordinal = _ordinal(end)
        span = int(seconds / self._day_seconds * 2) + 60
        timeline = self._timeline_for(ordinal - span, ordinal)
        target = timeline.position(end) - seconds
        if target < 0:
            timeline = self._timeline_for(ordinal - span * 4 - 3660, ordinal)
            target = timeline.position(end) - seconds
            if target < 0:
                raise ConfigError("working time does not advance; check the calendar overrides")
        return timeline.instant(target, latest=True)

    def _timeline_for(self, first: int, last: int) -> _Timeline:
        timeline = self._timeline
        if timeline is None or first < timeline.first or last >= timeline.last:
            low = min(first, timeline.first if timeline else first) - 366
            high = max(last, timeline.last if timeline else last) + 366 * 2
            timeline = self._timeline = _Timeline(self, low, high)
        return timeline


class _Timeline:
    """Running total of working time over the day ordinals ``[first, last)``."""

    def __init__(self, calendar: WorkCalendar, first: int, last: int) -> None:
        self.first, self.last = first, last
        self.offsets = calendar._offsets
        day_total = sum(end - start for start, end in self.offsets)
        self.working = [calendar.is_working_day(date.fromordinal(o)) for o in range(first, last)]
        self.cumulative = [0.0]
        for working in self.working:
            self.cumulative.append(self.cumulative[-1] + (day_total if working else 0.0))
        self.working_ordinals = [
            o for o, working in zip(range(first, last), self.working, strict=True) if working
        ]

    def position(self, at: float) -> float:
        """Working seconds from the timeline's first midnight to ``at``."""
        index = _ordinal(at) - self.first
        if not 0 <= index < len(self.working):
            raise ConfigError("instant outside the calendar timeline")  # callers size it first
        total = self.cumulative[index]
        if self.working[index]:
            since_midnight = at - _midnight(self.first + index)
            for start, end in self.offsets:
                if since_midnight <= start:
                    break
                total += min(since_midnight, end) - start
        return total

    def instant(self, target: float, *, latest: bool) -> float:
        """The instant whose position is ``target`` (the earliest or the latest such)."""
        cumulative = self.cumulative
        index = (bisect_right(cumulative, target) if latest else bisect_left(cumulative, target)) - 1
        index = max(0, min(index, len(self.working) - 1))
        within = target - cumulative[index]
        midnight = _midnight(self.first + index)
        elapsed = 0.0
        for start, end in self.offsets:
            length = end - start
            if within < elapsed + length or (not latest and within <= elapsed + length):
                return midnight + start + (within - elapsed)
            elapsed += length
        return midnight + self.offsets[-1][1]


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_LOCAL_OFFSET = 7 * 3600.0  # Asia/Ho_Chi_Minh: UTC+7, no daylight saving since 1975


def _ordinal(at: float) -> int:
    """Proleptic ordinal of the local date of ``at``."""
    return int((at + _LOCAL_OFFSET) // 86400) + _EPOCH_ORDINAL


def _midnight(ordinal: int) -> float:
    """Instant of local midnight starting the day ``ordinal``."""
    return (ordinal - _EPOCH_ORDINAL) * 86400.0 - _LOCAL_OFFSET


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


def read_toml(kind: str, path: Path) -> dict[str, object]:
    """Read the TOML file ``path`` holding ``kind`` data (calendar, SLA).

    Raises:
        ConfigError: unreadable or not TOML, in the form of :func:`~domain.errors.config_file_error`.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise config_file_error(kind, path, "path", str(exc), "check the path and its permissions") from None
    except UnicodeDecodeError as exc:
        raise config_file_error(kind, path, "syntax", str(exc), "save the file as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise config_file_error(
            kind, path, "syntax", str(exc), "write valid TOML (https://toml.io)"
        ) from None
