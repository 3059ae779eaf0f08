"""Default service levels per category and priority, and the SLA file format."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, time
from pathlib import Path

import pytest

from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.errors import ConfigError
from domain.events import Priority, Sla
from domain.sla import CategorySla, ClockKind, Plan, SlaPolicy

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
        ("moi-truong", CategorySla("moi-truong", "Môi trường", "Environment", 5, 24.0, "continue")),
        ("dat-dai", CategorySla("dat-dai", "Đất đai", "Land", 15, 72.0, "restart")),
        ("giao-thong", CategorySla("giao-thong", "Giao thông", "Traffic", 7, 12.0, "continue")),
        (
            "nhiem-vu",
            CategorySla("nhiem-vu", "Nhiệm vụ được giao", "Assigned task", 20, 72.0, "continue"),
        ),
        (None, CategorySla("default", "Khác", "Other", 10, 48.0, "continue")),
        ("khac", CategorySla("default", "Khác", "Other", 10, 48.0, "continue")),
        ("no-such-category", CategorySla("default", "Khác", "Other", 10, 48.0, "continue")),
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
    assert {code for code, level in policy.categories.items() if level.unit_clock == "restart"} == {
        "dat-dai",
        "xay-dung",
        "thu-tuc-hanh-chinh",
    }


@pytest.mark.parametrize(
    ("category", "priority", "sla", "due_at", "expected"),
    [
        # Category defaults in working days, civil-code counting over Tết.
        ("moi-truong", None, None, None, Plan(at("2026-02-27", "17:00"), ClockKind.WORKING)),
        ("moi-truong", "normal", None, None, Plan(at("2026-02-27", "17:00"), ClockKind.WORKING)),
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
        ("moi-truong", "urgent", None, None, Plan(RECEIVED + 24 * H, ClockKind.ELAPSED)),
        ("an-ninh-trat-tu", Priority.URGENT, None, None, Plan(RECEIVED + 4 * H, ClockKind.ELAPSED)),
        ("dat-dai", "urgent", None, None, Plan(RECEIVED + 72 * H, ClockKind.ELAPSED)),
        ("unknown", "urgent", None, None, Plan(RECEIVED + 48 * H, ClockKind.ELAPSED)),
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
            "urgent",
            Sla(working_days=2),
            None,
            Plan(at("2026-02-24", "17:00"), ClockKind.WORKING),
        ),
        ("moi-truong", None, Sla(hours=2.5), None, Plan(RECEIVED + 2.5 * H, ClockKind.ELAPSED)),
        # An explicit due_at beats everything.
        (
            "moi-truong",
            "urgent",
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
    priority: str | None,
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
    assert policy.default == CategorySla("default", "default", "default", 10, 48.0, "continue")
    assert policy.categories == {
        "dat-dai": CategorySla("dat-dai", "Đất đai", "dat-dai", 10, 48.0, "restart"),
        "y-te": CategorySla("y-te", "y-te", "y-te", 10, 8.5, "continue"),
    }


VALID_DEFAULT = "[default]\nworking_days = 10\nurgent_hours = 48\nunit_clock = 'continue'\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "[default] is missing 'working_days'"),
        (
            "[default]\nworking_days = 10\nunit_clock = 'continue'\n",
            "[default] is missing 'urgent_hours'",
        ),
        ("[default]\nworking_days = 10\nurgent_hours = 48\n", "[default] is missing 'unit_clock'"),
        (
            "[default]\nworking_days = 0\nurgent_hours = 48\nunit_clock = 'continue'\n",
            "[default] working_days must be a whole number >= 1",
        ),
        (
            "[default]\nworking_days = '5'\nurgent_hours = 48\nunit_clock = 'continue'\n",
            "[default] working_days must be a whole number >= 1",
        ),
        (
            "[default]\nworking_days = 2.5\nurgent_hours = 48\nunit_clock = 'continue'\n",
            "[default] working_days must be a whole number >= 1",
        ),
        (
            "[default]\nworking_days = true\nurgent_hours = 48\nunit_clock = 'continue'\n",
            "[default] working_days must be a whole number >= 1",
        ),
        (
            "[default]\nworking_days = 5\nurgent_hours = 0\nunit_clock = 'continue'\n",
            "[default] urgent_hours must be a number > 0",
        ),
        (
            "[default]\nworking_days = 5\nurgent_hours = -4\nunit_clock = 'continue'\n",
            "[default] urgent_hours must be a number > 0",
        ),
        (
            "[default]\nworking_days = 5\nurgent_hours = '4h'\nunit_clock = 'continue'\n",
            "[default] urgent_hours must be a number > 0",
        ),
        (
            "[default]\nworking_days = 5\nurgent_hours = false\nunit_clock = 'continue'\n",
            "[default] urgent_hours must be a number > 0",
        ),
        (
            "[default]\nworking_days = 5\nurgent_hours = 4\nunit_clock = 'pause'\n",
            "[default] unit_clock must be 'continue' or 'restart'",
        ),
        (
            VALID_DEFAULT + "[category.moi-truong]\nworking_days = 0\n",
            "[moi-truong] working_days must be a whole number >= 1",
        ),
        (
            VALID_DEFAULT + "[category.dat-dai]\nunit_clock = 'Restart'\n",
            "[dat-dai] unit_clock must be 'continue' or 'restart'",
        ),
        ("default = 5\n", "[default] must be a table"),
        ("category = 5\n" + VALID_DEFAULT, "[category] must be a table of [category.CODE] tables"),
        (VALID_DEFAULT + "[category]\ny-te = 5\n", "[y-te] must be a table"),
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
    assert str(caught.value) == f"SLA file {path}: {decoded.value}"


def test_missing_sla_file_is_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        SlaPolicy.from_file(path)
    assert str(caught.value) == f"SLA file {path}: [Errno 2] No such file or directory: '{path}'"
