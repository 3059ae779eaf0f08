"""Working days, civil-code deadlines and working-time arithmetic on the city calendar."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time
from pathlib import Path

import pytest

from domain.calendar import (
    DEFAULT_OFFICE_HOURS,
    LOCAL_TZ,
    DayOverride,
    OfficeHours,
    WorkCalendar,
    format_instant,
    format_local,
    local_date,
    local_instant,
    local_midnight,
)
from domain.errors import ConfigError

DATA = Path(__file__).parent / "data"
PACKAGED = Path(__file__).parents[2] / "domain" / "data" / "calendar.toml"
H = 3600.0


def at(day: str, clock: str = "00:00") -> float:
    """Epoch seconds of a local (Asia/Ho_Chi_Minh) date and HH:MM."""
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), LOCAL_TZ).timestamp()


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    return WorkCalendar.from_file(PACKAGED)


@pytest.fixture(scope="module")
def local() -> WorkCalendar:
    """The test calendar with local overrides and a 16:30 close."""
    return WorkCalendar.from_file(DATA / "calendar_overrides.toml")


# -- working days ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        # Tết Bính Ngọ 2026: Mon 16 - Fri 20 Feb off, framed by two weekends.
        ("2026-02-12", True),
        ("2026-02-13", True),
        ("2026-02-14", False),
        ("2026-02-15", False),
        ("2026-02-16", False),
        ("2026-02-17", False),
        ("2026-02-18", False),
        ("2026-02-19", False),
        ("2026-02-20", False),
        ("2026-02-21", False),
        ("2026-02-22", False),
        ("2026-02-23", True),
        # 30/4 (Thu) and 1/5 (Fri), then the weekend.
        ("2026-04-29", True),
        ("2026-04-30", False),
        ("2026-05-01", False),
        ("2026-05-02", False),
        ("2026-05-03", False),
        ("2026-05-04", True),
        # A make-up Saturday the holidays package knows, and the Monday off it pays for.
        ("2026-08-22", True),
        ("2026-08-31", False),
        ("2026-09-01", False),
        ("2026-09-02", False),
        ("2026-09-03", True),
        # Ordinary week.
        ("2026-03-06", True),
        ("2026-03-07", False),
        ("2026-03-08", False),
    ],
)
def test_working_days_follow_weekends_and_vietnamese_holidays(
    calendar: WorkCalendar, day: str, working: bool
) -> None:
    assert calendar.is_working_day(date.fromisoformat(day)) is working


@pytest.mark.parametrize(
    ("day", "name"),
    [
        ("2026-02-17", "Tết Nguyên Đán"),
        ("2026-04-30", "Ngày Chiến thắng"),
        ("2026-05-01", "Ngày Quốc tế Lao động"),
        ("2026-09-02", "Quốc khánh"),
        ("2026-02-14", None),
        ("2026-02-13", None),
    ],
)
def test_holiday_names_are_vietnamese(calendar: WorkCalendar, day: str, name: str | None) -> None:
    assert calendar.holiday_name(date.fromisoformat(day)) == name


@pytest.mark.parametrize(
    ("day", "working", "name"),
    [
        ("2026-03-10", False, "Nghỉ bù (thử nghiệm)"),  # a Tuesday off
        ("2026-03-14", True, None),  # a make-up Saturday
        ("2026-04-27", True, None),  # a public holiday's substitute day made working
        ("2026-03-20", False, "Ngày nghỉ"),  # a day off without a name
        ("2026-03-09", True, None),  # untouched weekday
        ("2026-03-15", False, None),  # untouched Sunday
        ("2026-02-17", False, "Tết Nguyên Đán"),  # untouched holiday
    ],
)
def test_local_overrides_win_over_weekends_and_holidays(
    local: WorkCalendar, day: str, working: bool, name: str | None
) -> None:
    assert local.is_working_day(date.fromisoformat(day)) is working
    assert local.holiday_name(date.fromisoformat(day)) == name


def test_override_file_is_loaded_exactly(local: WorkCalendar) -> None:
    assert local.office_hours == OfficeHours(
        (
            (time(7, 30), time(11, 30)),
            (time(13, 0), time(16, 30)),
        )
    )
    assert local.office_hours.seconds_per_day == 7.5 * H
    assert dict(local.overrides) == {
        date(2026, 3, 10): DayOverride(date(2026, 3, 10), False, "Nghỉ bù (thử nghiệm)"),
        date(2026, 3, 14): DayOverride(date(2026, 3, 14), True, "Làm bù"),
        date(2026, 4, 27): DayOverride(date(2026, 4, 27), True, ""),
        date(2026, 3, 20): DayOverride(date(2026, 3, 20), False, ""),
    }


def test_packaged_calendar_has_default_office_hours_and_no_overrides(
    calendar: WorkCalendar,
) -> None:
    assert calendar.office_hours == DEFAULT_OFFICE_HOURS
    assert calendar.office_hours.seconds_per_day == 8 * H
    assert dict(calendar.overrides) == {}


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2026-02-13", "2026-02-23"),
        ("2026-02-14", "2026-02-23"),
        ("2026-02-16", "2026-02-23"),
        ("2026-04-29", "2026-05-04"),
        ("2026-08-21", "2026-08-22"),
        ("2026-08-28", "2026-09-03"),
        ("2026-03-05", "2026-03-06"),
    ],
)
def test_next_working_day_is_strictly_after(calendar: WorkCalendar, day: str, expected: str) -> None:
    assert calendar.next_working_day(date.fromisoformat(day)) == date.fromisoformat(expected)


def test_next_working_day_gives_up_after_ten_years_off() -> None:
    start = date(2026, 1, 1)
    overrides = {
        day: DayOverride(day, False, "off")
        for day in (date.fromordinal(start.toordinal() + n) for n in range(1, 3700))
    }
    calendar = WorkCalendar(overrides=overrides)
    with pytest.raises(ConfigError) as caught:
        calendar.next_working_day(start)
    assert str(caught.value) == (
        "no working day within ten years after 2026-01-01; check the calendar overrides"
    )


# -- civil-code deadlines -------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        # The day of receipt is not counted; Tết and its weekends are skipped.
        (at("2026-02-13", "10:00"), 1, at("2026-02-23", "17:00")),
        (at("2026-02-13", "07:00"), 1, at("2026-02-23", "17:00")),  # before office hours
        (at("2026-02-13", "18:30"), 1, at("2026-02-23", "17:00")),  # after office hours
        (at("2026-02-13", "23:59"), 1, at("2026-02-23", "17:00")),
        (at("2026-02-14", "09:00"), 1, at("2026-02-23", "17:00")),  # received on a Saturday
        (at("2026-02-17", "09:00"), 1, at("2026-02-23", "17:00")),  # received on Tết
        (at("2026-02-12", "10:00"), 1, at("2026-02-13", "17:00")),
        (at("2026-02-12", "10:00"), 2, at("2026-02-23", "17:00")),
        (at("2026-02-13", "10:00"), 5, at("2026-02-27", "17:00")),
        # 00:30 local on Monday is still Sunday in UTC: counting uses the local date.
        (at("2026-02-23", "00:30"), 1, at("2026-02-24", "17:00")),
        (at("2026-02-22", "23:30"), 1, at("2026-02-23", "17:00")),
        # 30/4 - 1/5.
        (at("2026-04-29", "10:00"), 1, at("2026-05-04", "17:00")),
        (at("2026-04-28", "10:00"), 2, at("2026-05-04", "17:00")),
        # The make-up Saturday counts, its Monday off and 2/9 do not.
        (at("2026-08-21", "10:00"), 1, at("2026-08-22", "17:00")),
        (at("2026-08-28", "10:00"), 1, at("2026-09-03", "17:00")),
        (at("2026-08-21", "10:00"), 2, at("2026-08-24", "17:00")),
        # Ordinary weeks.
        (at("2026-03-02", "07:30"), 5, at("2026-03-09", "17:00")),
        (at("2026-03-02", "07:30"), 15, at("2026-03-23", "17:00")),
    ],
)
def test_add_working_days_counts_like_the_civil_code(
    calendar: WorkCalendar, start: float, days: int, due: float
) -> None:
    assert calendar.add_working_days(start, days) == due


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (at("2026-03-09", "10:00"), 1, at("2026-03-11", "16:30")),  # Tue 10 Mar is off
        (at("2026-03-13", "10:00"), 1, at("2026-03-14", "16:30")),  # Sat 14 Mar is worked
        (at("2026-03-13", "10:00"), 2, at("2026-03-16", "16:30")),
        (at("2026-04-24", "10:00"), 1, at("2026-04-27", "16:30")),  # substitute day worked
        (at("2026-03-19", "10:00"), 1, at("2026-03-23", "16:30")),  # Fri 20 Mar off
    ],
)
def test_add_working_days_uses_local_overrides_and_office_hours(
    local: WorkCalendar, start: float, days: int, due: float
) -> None:
    assert local.add_working_days(start, days) == due


@pytest.mark.parametrize("days", [0, -1])
def test_add_working_days_needs_at_least_one_day(calendar: WorkCalendar, days: int) -> None:
    with pytest.raises(ValueError) as caught:
        calendar.add_working_days(at("2026-03-02", "10:00"), days)
    assert str(caught.value) == f"days must be >= 1, got {days}"


def test_day_close_is_the_end_of_the_last_session(calendar: WorkCalendar, local: WorkCalendar) -> None:
    assert calendar.day_close(date(2026, 3, 2)) == at("2026-03-02", "17:00")
    assert local.day_close(date(2026, 3, 2)) == at("2026-03-02", "16:30")


# -- working time ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "seconds"),
    [
        (at("2026-03-02", "08:00"), at("2026-03-02", "10:00"), 2 * H),
        (at("2026-03-02", "11:00"), at("2026-03-02", "13:30"), 1 * H),  # across lunch
        (at("2026-03-02", "11:45"), at("2026-03-02", "12:45"), 0.0),  # inside lunch
        (at("2026-03-02", "16:00"), at("2026-03-03", "08:30"), 2 * H),  # across the night
        (at("2026-03-02", "18:00"), at("2026-03-03", "07:00"), 0.0),  # all night
        (at("2026-03-06", "16:00"), at("2026-03-09", "08:30"), 2 * H),  # across a weekend
        (at("2026-03-07", "00:00"), at("2026-03-09", "00:00"), 0.0),  # the weekend itself
        (at("2026-02-13", "16:00"), at("2026-02-23", "08:30"), 2 * H),  # across Tết
        (at("2026-04-29", "16:00"), at("2026-05-04", "08:30"), 2 * H),  # across 30/4 - 1/5
        (at("2026-08-21", "16:00"), at("2026-08-24", "08:30"), 10 * H),  # make-up Saturday
        (at("2026-03-02", "00:00"), at("2026-03-03", "00:00"), 8 * H),  # one whole day
        (at("2026-03-02", "07:30"), at("2026-03-09", "17:00"), 48 * H),  # six working days
        (at("2026-03-02", "10:00"), at("2026-03-02", "10:00"), 0.0),
        (at("2026-03-02", "10:00"), at("2026-03-02", "09:00"), 0.0),  # end before start
    ],
)
def test_working_seconds_between_counts_office_hours_only(
    calendar: WorkCalendar, start: float, end: float, seconds: float
) -> None:
    assert calendar.working_seconds_between(start, end) == seconds


@pytest.mark.parametrize(
    ("start", "end", "seconds"),
    [
        (at("2026-03-09", "16:00"), at("2026-03-11", "08:30"), 1.5 * H),  # Tue 10 Mar off
        (at("2026-03-13", "16:00"), at("2026-03-16", "08:30"), 9 * H),  # Sat 14 Mar worked
    ],
)
def test_working_seconds_between_uses_local_overrides(
    local: WorkCalendar, start: float, end: float, seconds: float
) -> None:
    assert local.working_seconds_between(start, end) == seconds


@pytest.mark.parametrize(
    ("start", "seconds", "end"),
    [
        (at("2026-03-02", "08:00"), 3 * H, at("2026-03-02", "11:00")),
        (at("2026-03-02", "11:00"), 1 * H, at("2026-03-02", "13:30")),  # across lunch
        (at("2026-03-02", "11:00"), 0.5 * H, at("2026-03-02", "11:30")),  # ends at the session end
        (at("2026-03-02", "16:00"), 2 * H, at("2026-03-03", "08:30")),  # across the night
        (at("2026-03-02", "16:00"), 1 * H, at("2026-03-02", "17:00")),  # ends at the day close
        (at("2026-03-02", "06:00"), 1 * H, at("2026-03-02", "08:30")),  # before office hours
        (at("2026-03-02", "12:00"), 1 * H, at("2026-03-02", "14:00")),  # from the lunch break
        (at("2026-03-02", "20:00"), 1 * H, at("2026-03-03", "08:30")),  # from the evening
        (at("2026-03-06", "16:00"), 2 * H, at("2026-03-09", "08:30")),  # across a weekend
        (at("2026-02-13", "16:00"), 2 * H, at("2026-02-23", "08:30")),  # across Tết
        (at("2026-02-14", "10:00"), 1 * H, at("2026-02-23", "08:30")),  # from a Saturday in Tết
        (at("2026-04-29", "16:00"), 2 * H, at("2026-05-04", "08:30")),  # across 30/4 - 1/5
        (at("2026-08-21", "16:00"), 2 * H, at("2026-08-22", "08:30")),  # onto the make-up Saturday
        (at("2026-03-02", "07:30"), 48 * H, at("2026-03-09", "17:00")),
        (at("2026-03-07", "10:00"), 0.0, at("2026-03-07", "10:00")),  # nothing to add
        (at("2026-03-07", "10:00"), -5.0, at("2026-03-07", "10:00")),
    ],
)
def test_add_working_seconds_skips_breaks_nights_weekends_and_holidays(
    calendar: WorkCalendar, start: float, seconds: float, end: float
) -> None:
    assert calendar.add_working_seconds(start, seconds) == end
    if seconds > 0:
        assert calendar.working_seconds_between(start, end) == seconds


@pytest.mark.parametrize(
    ("end", "seconds", "start"),
    [
        (at("2026-03-02", "11:00"), 1 * H, at("2026-03-02", "10:00")),
        (at("2026-03-02", "14:00"), 2 * H, at("2026-03-02", "10:30")),  # across lunch
        (at("2026-03-03", "08:30"), 1 * H, at("2026-03-03", "07:30")),  # ends at the session start
        (at("2026-03-03", "08:30"), 2 * H, at("2026-03-02", "16:00")),  # across the night
        (at("2026-03-09", "08:30"), 2 * H, at("2026-03-06", "16:00")),  # across a weekend
        (at("2026-02-23", "08:30"), 2 * H, at("2026-02-13", "16:00")),  # across Tết
        (at("2026-03-08", "12:00"), 1 * H, at("2026-03-06", "16:00")),  # from a Sunday
        (at("2026-03-02", "12:15"), 1 * H, at("2026-03-02", "10:30")),  # from the lunch break
        (at("2026-03-09", "17:00"), 8 * H, at("2026-03-09", "07:30")),
        (at("2026-03-09", "17:00"), 48 * H, at("2026-03-02", "07:30")),
        (at("2026-03-08", "12:00"), 0.0, at("2026-03-08", "12:00")),
    ],
)
def test_subtract_working_seconds_walks_back_over_working_time(
    calendar: WorkCalendar, end: float, seconds: float, start: float
) -> None:
    assert calendar.subtract_working_seconds(end, seconds) == start


def test_add_working_seconds_uses_local_overrides(local: WorkCalendar) -> None:
    assert local.add_working_seconds(at("2026-03-09", "16:00"), 1 * H) == at("2026-03-11", "08:00")
    assert local.subtract_working_seconds(at("2026-03-16", "08:00"), 1 * H) == at("2026-03-14", "16:00")


# -- local time helpers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "day"),
    [
        (at("2026-03-02", "00:00"), date(2026, 3, 2)),
        (at("2026-03-02", "06:59"), date(2026, 3, 2)),  # still 1 March in UTC
        (at("2026-03-01", "23:59"), date(2026, 3, 1)),
    ],
)
def test_local_date_is_the_ho_chi_minh_date(instant: float, day: date) -> None:
    assert local_date(instant) == day


def test_local_midnight_and_instant_are_utc_plus_seven() -> None:
    noon = at("2026-03-02", "12:00")
    assert local_midnight(noon) == 1772384400.0  # 2026-03-01T17:00:00Z
    assert local_midnight(noon) == at("2026-03-02")
    assert local_instant(date(2026, 3, 2), time(12, 0)) == noon


# -- malformed files --------------------------------------------------------------------


NOT_A_RANGE = "is not a time range; write it like '07:30-11:30'"
BACKWARDS = "does not end after it starts; write the start first"
OVERLAP = "overlaps the previous session; list sessions in order, without overlaps"
NO_SESSIONS = (
    "[office_hours] sessions: there are none; "
    "list at least one session, e.g. sessions = ['07:30-11:30', '13:00-17:00']"
)


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([], NO_SESSIONS),
        (["7h30-11h30"], f"[office_hours] session '7h30-11h30': {NOT_A_RANGE}"),
        (["07:30"], f"[office_hours] session '07:30': {NOT_A_RANGE}"),
        (["07:30-11:30-12:00"], f"[office_hours] session '07:30-11:30-12:00': {NOT_A_RANGE}"),
        (["11:30-07:30"], f"[office_hours] session '11:30-07:30': {BACKWARDS}"),
        (["07:30-07:30"], f"[office_hours] session '07:30-07:30': {BACKWARDS}"),
        (["07:30-11:30", "11:00-17:00"], f"[office_hours] session '11:00-17:00': {OVERLAP}"),
        (["13:00-17:00", "07:30-11:30"], f"[office_hours] session '07:30-11:30': {OVERLAP}"),
    ],
)
def test_bad_office_hours_are_config_errors(specs: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        OfficeHours.parse(specs)
    assert str(caught.value) == f"calendar: {message}"


def test_adjacent_sessions_are_accepted() -> None:
    hours = OfficeHours.parse([" 07:30 - 11:30 ", "11:30-17:00"])
    assert hours.sessions == ((time(7, 30), time(11, 30)), (time(11, 30), time(17, 0)))
    assert hours.seconds_per_day == 9.5 * H


OVERRIDE = (
    "needs a date and whether it is a working day; "
    "write date = YYYY-MM-DD (a TOML date, no quotes) and working = true|false"
)
NOT_A_LIST = (
    "[office_hours] sessions: is not a list of strings; "
    "write sessions = ['07:30-11:30', '13:00-17:00'] under [office_hours]"
)
SESSIONS = '[office_hours]\nsessions = ["07:30-11:30", "13:00-17:00"]\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", NO_SESSIONS),
        ("[office_hours]\nsessions = ['8-12']\n", f"[office_hours] session '8-12': {NOT_A_RANGE}"),
        (SESSIONS + "[[override]]\ndate = 2026-03-10\n", f"override #1: {OVERRIDE}"),
        (
            SESSIONS + "[[override]]\ndate = 2026-03-10\nworking = false\n"
            "[[override]]\ndate = '2026-03-11'\nworking = false\n",
            f"override #2: {OVERRIDE}",
        ),
        (
            SESSIONS + "[[override]]\ndate = 2026-03-10T00:00:00\nworking = false\n",
            f"override #1: {OVERRIDE}",
        ),
        (SESSIONS + "[[override]]\ndate = 2026-03-10\nworking = 'no'\n", f"override #1: {OVERRIDE}"),
        (SESSIONS + "[[override]]\nworking = true\n", f"override #1: {OVERRIDE}"),
        ("override = [1]\n" + SESSIONS, f"override #1: {OVERRIDE}"),
        (
            "override = 5\n" + SESSIONS,
            "override: is not an array of tables; write each override as an [[override]] table",
        ),
        ("office_hours = '07:30-11:30'\n", NOT_A_LIST),
        ("[office_hours]\nsessions = '07:30-11:30'\n", NOT_A_LIST),
        ("[office_hours]\nsessions = [730]\n", NOT_A_LIST),
    ],
    ids=[
        "empty-file",
        "bad-session",
        "no-working",
        "date-as-text",
        "date-with-time",
        "working-as-text",
        "no-date",
        "override-not-table",
        "override-not-array",
        "office-hours-not-table",
        "sessions-not-list",
        "session-not-text",
    ],
)
def test_malformed_calendar_file_is_config_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        WorkCalendar.from_file(path)
    assert str(caught.value) == f"calendar file {path}: {message}"


def test_calendar_file_that_is_not_toml_is_config_error(tmp_path: Path) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text("[office_hours\nsessions = 1\n", encoding="utf-8")
    with pytest.raises(tomllib.TOMLDecodeError) as decoded:
        tomllib.loads(path.read_text(encoding="utf-8"))
    with pytest.raises(ConfigError) as caught:
        WorkCalendar.from_file(path)
    assert (
        str(caught.value)
        == f"calendar file {path}: syntax: {decoded.value}; write valid TOML (https://toml.io)"
    )


def test_missing_calendar_file_is_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        WorkCalendar.from_file(path)
    assert str(caught.value) == (
        f"calendar file {path}: path: [Errno 2] No such file or directory: '{path}'; "
        "check the path and its permissions"
    )


@pytest.mark.parametrize(
    ("at_", "text"),
    [
        (1772384400.0, "2026-03-02T00:00:00.000+07:00"),
        (1772384400.25, "2026-03-02T00:00:00.250+07:00"),
        (946659600.0, "2000-01-01T00:00:00.000+07:00"),
    ],
)
def test_format_instant_is_rfc3339_local_time_to_the_millisecond(at_: float, text: str) -> None:
    assert format_instant(at_) == text
    assert datetime.fromisoformat(text).timestamp() == at_


@pytest.mark.parametrize(
    ("at_", "text"),
    [
        (1772384400.0, "02/03/2026 00:00"),
        (1772384400.0 + 17 * 3600 + 59.9, "02/03/2026 17:00"),  # to the minute, not rounded
        (1772384400.0 - 60, "01/03/2026 23:59"),
    ],
)
def test_format_local_is_day_first_local_time_to_the_minute(at_: float, text: str) -> None:
    assert format_local(at_) == text
