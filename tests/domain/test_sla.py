"""Default service levels per category and priority, and the SLA file format."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time
from pathlib import Path

import pytest

from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.errors import ConfigError
from domain.events import Priority, Sla
from domain.sla import CategorySla, ClockKind, Plan, SlaPolicy, UnitClock

PACKAGED = Path(__file__).parents[2] / "domain" / "data" / "sla.toml"
H = 3600.0


def at(day: str, clock: str = "00:00") -> float:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), LOCAL_TZ).timestamp()


RECEIVED = at("2026-02-13", "10:00")  # Friday before Tết


@pytest.fixture(scope="module")
def policy() -> SlaPolicy:
    return SlaPolicy.from_file(PACKAGED)


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    return WorkCalendar()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("moi-truong", CategorySla("moi-truong", "Môi trường", "Environment", 5, 24.0, UnitClock.CONTINUE)),
        ("dat-dai", CategorySla("dat-dai", "Đất đai", "Land", 15, 72.0, UnitClock.RESTART)),
        ("giao-thong", CategorySla("giao-thong", "Giao thông", "Traffic", 7, 12.0, UnitClock.CONTINUE)),
        (
            "nhiem-vu",
            CategorySla("nhiem-vu", "Nhiệm vụ được giao", "Assigned task", 20, 72.0, UnitClock.CONTINUE),
        ),
        (None, CategorySla("default", "Khác", "Other", 10, 48.0, UnitClock.CONTINUE)),
        ("khac", CategorySla("default", "Khác", "Other", 10, 48.0, UnitClock.CONTINUE)),
        ("no-such-category", CategorySla("default", "Khác", "Other", 10, 48.0, UnitClock.CONTINUE)),
    ],
)
def test_for_category_falls_back_to_the_default(
    policy: SlaPolicy, code: str | None, expected: CategorySla
) -> None:
    assert policy.for_category(code) == expected


def test_packaged_file_lists_the_city_categories(policy: SlaPolicy) -> None:
    assert sorted(policy.categories) == [
        "an-ninh-trat-tu",
        "dat-dai",
        "dien-nuoc",
        "giao-duc",
        "giao-thong",
        "moi-truong",
        "nhiem-vu",
        "thu-tuc-hanh-chinh",
        "trat-tu-do-thi",
        "xay-dung",
        "y-te",
    ]
    assert all(type(level.unit_clock) is UnitClock for level in (policy.default, *policy.categories.values()))
    assert {code for code, level in policy.categories.items() if level.unit_clock is UnitClock.RESTART} == {
        "dat-dai",
        "xay-dung",
        "thu-tuc-hanh-chinh",
    }


@pytest.mark.parametrize(
    ("category", "priority", "sla", "due_at", "expected"),
    [
        # Category defaults in working days, civil-code counting over Tết.
        ("moi-truong", None, None, None, Plan(at("2026-02-27", "17:00"), ClockKind.WORKING)),
        ("moi-truong", Priority.NORMAL, None, None, Plan(at("2026-02-27", "17:00"), ClockKind.WORKING)),
        (
            "an-ninh-trat-tu",
            Priority.NORMAL,
            None,
            None,
            Plan(at("2026-02-25", "17:00"), ClockKind.WORKING),
        ),
        ("dat-dai", None, None, None, Plan(at("2026-03-13", "17:00"), ClockKind.WORKING)),
        (None, None, None, None, Plan(at("2026-03-06", "17:00"), ClockKind.WORKING)),
        ("unknown", None, None, None, Plan(at("2026-03-06", "17:00"), ClockKind.WORKING)),
        # Urgent: the category's clock hours, Tết or not.
        ("moi-truong", Priority.URGENT, None, None, Plan(RECEIVED + 24 * H, ClockKind.ELAPSED)),
        ("an-ninh-trat-tu", Priority.URGENT, None, None, Plan(RECEIVED + 4 * H, ClockKind.ELAPSED)),
        ("dat-dai", Priority.URGENT, None, None, Plan(RECEIVED + 72 * H, ClockKind.ELAPSED)),
        ("unknown", Priority.URGENT, None, None, Plan(RECEIVED + 48 * H, ClockKind.ELAPSED)),
        # An explicit sla beats the category and the priority.
        (
            "dat-dai",
            None,
            Sla(working_days=1),
            None,
            Plan(at("2026-02-23", "17:00"), ClockKind.WORKING),
        ),
        (
            "dat-dai",
            Priority.URGENT,
            Sla(working_days=2),
            None,
            Plan(at("2026-02-24", "17:00"), ClockKind.WORKING),
        ),
        ("moi-truong", None, Sla(hours=2.5), None, Plan(RECEIVED + 2.5 * H, ClockKind.ELAPSED)),
        # An explicit due_at beats everything.
        (
            "moi-truong",
            Priority.URGENT,
            Sla(working_days=3),
            at("2026-04-01", "09:00"),
            Plan(at("2026-04-01", "09:00"), ClockKind.ELAPSED),
        ),
        (
            None,
            None,
            None,
            at("2026-02-14", "09:00"),
            Plan(at("2026-02-14", "09:00"), ClockKind.ELAPSED),
        ),
    ],
)
def test_plan_prefers_due_at_then_sla_then_category(
    policy: SlaPolicy,
    calendar: WorkCalendar,
    category: str | None,
    priority: Priority | None,
    sla: Sla | None,
    due_at: float | None,
    expected: Plan,
) -> None:
    plan = policy.plan(calendar, start=RECEIVED, category=category, priority=priority, sla=sla, due_at=due_at)
    assert plan == expected


def test_category_inherits_missing_values_from_the_default(tmp_path: Path) -> None:
    path = tmp_path / "sla.toml"
    path.write_text(
        "[default]\nworking_days = 10\nurgent_hours = 48\nunit_clock = 'continue'\n"
        "[category.dat-dai]\nname_vi = 'Đất đai'\nunit_clock = 'restart'\n"
        "[category.y-te]\nurgent_hours = 8.5\n",
        encoding="utf-8",
    )
    policy = SlaPolicy.from_file(path)
    assert policy.default == CategorySla("default", "default", "default", 10, 48.0, UnitClock.CONTINUE)
    # Names are not inherited: name_en falls back to name_vi, name_vi to the code.
    assert policy.categories == {
        "dat-dai": CategorySla("dat-dai", "Đất đai", "Đất đai", 10, 48.0, UnitClock.RESTART),
        "y-te": CategorySla("y-te", "y-te", "y-te", 10, 8.5, UnitClock.CONTINUE),
    }


def test_every_packaged_category_has_a_vietnamese_and_an_english_name() -> None:
    data = tomllib.loads(PACKAGED.read_text(encoding="utf-8"))
    tables = [data["default"], *data["category"].values()]
    assert all(table["name_vi"].strip() and table["name_en"].strip() for table in tables)
    assert len({table["name_en"] for table in tables}) == len(tables)


VALID_DEFAULT = "[default]\nworking_days = 10\nurgent_hours = 48\nunit_clock = 'continue'\n"
DAYS = "write a number of working days, e.g. working_days = 5"
HOURS = "write a number of clock hours, e.g. urgent_hours = 24"
CLOCK = "write unit_clock = 'continue' (a transfer keeps the citizen's deadline) or 'restart'"
TABLE = "write it as a table with working_days, urgent_hours, unit_clock"


def default(days: str = "10", hours: str = "48", clock: str = "'continue'") -> str:
    return f"[default]\nworking_days = {days}\nurgent_hours = {hours}\nunit_clock = {clock}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "[default]: 'working_days' is missing; add working_days = 10"),
        (
            "[default]\nworking_days = 10\nunit_clock = 'continue'\n",
            "[default]: 'urgent_hours' is missing; add urgent_hours = 48",
        ),
        (
            "[default]\nworking_days = 10\nurgent_hours = 48\n",
            "[default]: 'unit_clock' is missing; add unit_clock = 'continue'",
        ),
        (default(days="0"), f"[default]: working_days = 0 is not a whole number >= 1; {DAYS}"),
        (default(days="'5'"), f"[default]: working_days = '5' is not a whole number >= 1; {DAYS}"),
        (default(days="2.5"), f"[default]: working_days = 2.5 is not a whole number >= 1; {DAYS}"),
        (default(days="true"), f"[default]: working_days = True is not a whole number >= 1; {DAYS}"),
        (default(hours="0"), f"[default]: urgent_hours = 0 is not a number > 0; {HOURS}"),
        (default(hours="-4"), f"[default]: urgent_hours = -4 is not a number > 0; {HOURS}"),
        (default(hours="'4h'"), f"[default]: urgent_hours = '4h' is not a number > 0; {HOURS}"),
        (default(hours="false"), f"[default]: urgent_hours = False is not a number > 0; {HOURS}"),
        (
            default(clock="'pause'"),
            f"[default]: unit_clock = 'pause' is neither 'continue' nor 'restart'; {CLOCK}",
        ),
        (
            VALID_DEFAULT + "[category.moi-truong]\nworking_days = 0\n",
            f"[category.moi-truong]: working_days = 0 is not a whole number >= 1; {DAYS}",
        ),
        (
            VALID_DEFAULT + "[category.dat-dai]\nunit_clock = 'Restart'\n",
            f"[category.dat-dai]: unit_clock = 'Restart' is neither 'continue' nor 'restart'; {CLOCK}",
        ),
        (
            VALID_DEFAULT + "[category.y-te]\nname_en = ''\n",
            "[category.y-te]: name_en = '' is not a name; "
            "write the category's name as text, e.g. name_en = 'Environment'",
        ),
        (
            VALID_DEFAULT + "[category.y-te]\nname_vi = 5\n",
            "[category.y-te]: name_vi = 5 is not a name; "
            "write the category's name as text, e.g. name_vi = 'Môi trường'",
        ),
        ("default = 5\n", f"[default]: is not a table; {TABLE}"),
        (
            "category = 5\n" + VALID_DEFAULT,
            "[category]: is not a table; write one [category.CODE] table per category",
        ),
        (VALID_DEFAULT + "[category]\ny-te = 5\n", f"[category.y-te]: is not a table; {TABLE}"),
    ],
    ids=[
        "empty",
        "no-urgent-hours",
        "no-unit-clock",
        "zero-days",
        "days-as-text",
        "fractional-days",
        "days-as-bool",
        "zero-hours",
        "negative-hours",
        "hours-as-text",
        "hours-as-bool",
        "unknown-unit-clock",
        "category-zero-days",
        "category-unit-clock-case",
        "empty-english-name",
        "name-not-text",
        "default-not-table",
        "category-not-table",
        "category-entry-not-table",
    ],
)
def test_malformed_sla_file_is_config_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sla.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        SlaPolicy.from_file(path)
    assert str(caught.value) == f"SLA file {path}: {message}"


def test_sla_file_that_is_not_toml_is_config_error(tmp_path: Path) -> None:
    path = tmp_path / "sla.toml"
    path.write_text("[default\n", encoding="utf-8")
    with pytest.raises(tomllib.TOMLDecodeError) as decoded:
        tomllib.loads("[default\n")
    with pytest.raises(ConfigError) as caught:
        SlaPolicy.from_file(path)
    assert (
        str(caught.value) == f"SLA file {path}: syntax: {decoded.value}; write valid TOML (https://toml.io)"
    )


def test_missing_sla_file_is_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        SlaPolicy.from_file(path)
    assert str(caught.value) == (
        f"SLA file {path}: path: [Errno 2] No such file or directory: '{path}'; "
        "check the path and its permissions"
    )
