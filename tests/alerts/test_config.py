from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from alerts.config import DEFAULT_LADDER, SECTIONS, EscalationStep, RulesConfig, ThresholdRule
from alerts.model import RuleName, Severity
from domain.errors import ConfigError
from domain.items import DeadlinePolicy

ROOT = Path(__file__).resolve().parents[2]


def load(tmp_path: Path, text: str) -> RulesConfig:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    return RulesConfig.from_file(path)


def test_packaged_file_states_every_default(config: RulesConfig) -> None:
    assert config == RulesConfig()


def test_packaged_defaults_are_the_designed_ladder_and_thresholds(config: RulesConfig) -> None:
    assert config.due_soon.share == 0.75
    assert config.due_soon.working_hours_left == 8.0
    assert [step.after_working_hours for step in config.escalation] == [4.0, 8.0, 16.0]
    assert [step.severity for step in config.escalation] == [
        Severity.WARNING,
        Severity.CRITICAL,
        Severity.CRITICAL,
    ]
    assert [step.audience for step in config.escalation] == [
        ("unit",),
        ("parent", "leaders"),
        ("leaders",),
    ]
    assert config.reminders.repeat_interval == 4 * 3600.0
    assert config.reminders.min_severity is Severity.WARNING
    assert config.overdue_count == ThresholdRule(above=10)
    assert config.queue_depth == ThresholdRule(300, Severity.INFO, ("unit", "wall"))
    assert config.retention.resolved_alerts == 86400.0


def test_deadline_policy_takes_due_soon_and_ladder_in_working_seconds(config: RulesConfig) -> None:
    assert config.deadline_policy(purge_after=35 * 86400.0, dedup_ids=32) == DeadlinePolicy(
        due_soon_share=0.75,
        due_soon_left=8 * 3600.0,
        escalation_delays=(4 * 3600.0, 8 * 3600.0, 16 * 3600.0),
        purge_after=35 * 86400.0,
        dedup_ids=32,
    )


def test_windows_lists_the_window_kinds_enabled_unit_rules_read(tmp_path: Path) -> None:
    assert RulesConfig().windows() == frozenset({"1d", "1h"})
    changed = load(tmp_path, '[unit.surge]\nenabled = false\n[unit.p90_latency]\nwindow = "period"\n')
    assert changed.windows() == frozenset({"1d", "period"})


@pytest.mark.parametrize(
    ("level", "label"),
    [
        (0, None),
        (1, "Unit head"),
        (2, "Parent unit, department leader"),
        (3, "City leadership"),
        (4, "City leadership"),
    ],
)
def test_step_is_one_based_and_clamps_past_the_ladder(level: int, label: str | None) -> None:
    step = RulesConfig().step(level)
    assert (step.label_en if step else None) == label


@pytest.mark.parametrize(
    ("rule", "section"),
    [
        (RuleName.ITEM_DUE_SOON, "due_soon"),
        (RuleName.ITEM_OVERDUE, "overdue"),
        (RuleName.UNIT_ON_TIME_RATE, "unit.on_time_rate"),
        (RuleName.UNIT_OVERDUE_COUNT, "unit.overdue_count"),
        (RuleName.UNIT_QUEUE_DEPTH, "unit.queue_depth"),
        (RuleName.UNIT_P90_LATENCY, "unit.p90_latency"),
        (RuleName.UNIT_SURGE, "unit.surge"),
    ],
)
def test_every_rule_has_its_table_in_the_packaged_file(rule: RuleName, section: str) -> None:
    assert SECTIONS[rule] == section
    data = tomllib.loads((ROOT / "alerts" / "data" / "rules.toml").read_text(encoding="utf-8"))
    table = data
    for part in section.split("."):
        table = table[part]
    assert table["severity"] == RulesConfig().severity_of(rule).value
    assert tuple(table["audience"]) == RulesConfig().audience_of(rule)


def test_sections_name_every_rule_once() -> None:
    assert list(SECTIONS) == list(RuleName)
    assert len(set(SECTIONS.values())) == len(RuleName)


@pytest.mark.parametrize("table", ["surges", "on_time", "item_due_soon", "unit_surge"])
def test_an_unknown_unit_rule_table_names_the_file_the_table_and_the_fix(tmp_path: Path, table: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"[unit.{table}]\nenabled = false\n")
    assert str(caught.value) == (
        f"rules file {tmp_path / 'rules.toml'}: [unit.{table}] is not a unit rule; rename it to one of "
        "[unit.on_time_rate], [unit.overdue_count], [unit.queue_depth], [unit.p90_latency], [unit.surge], "
        "or delete it"
    )


def test_rule_severity_and_audience_come_from_their_section() -> None:
    config = RulesConfig()
    assert config.severity_of(RuleName.ITEM_DUE_SOON) is Severity.INFO
    assert config.severity_of(RuleName.ITEM_OVERDUE) is Severity.WARNING
    assert config.audience_of(RuleName.UNIT_QUEUE_DEPTH) == ("unit", "wall")
    with pytest.raises(ValueError, match="unknown rule 'nope'"):
        config.severity_of("nope")


def test_a_partial_file_keeps_defaults_for_missing_keys(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[unit.on_time_rate]\nbelow = 0.9\n\n[reminders]\nrepeat_interval = "30m"\n'
        '[retention]\nresolved_alerts = "2d"\n',
    )
    assert config.on_time_rate.below == 0.9
    assert config.on_time_rate.min_resolved == 10
    assert config.reminders.repeat_interval == 1800.0
    assert config.retention.resolved_alerts == 2 * 86400.0
    assert config.escalation == DEFAULT_LADDER


def test_escalation_steps_replace_the_whole_ladder(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[[escalation]]\nafter_working_hours = 2.5\naudience = ["leaders"]\n'
        'severity = "critical"\nlabel_vi = "Lãnh đạo"\nlabel_en = "Leaders"\n',
    )
    assert config.escalation == (EscalationStep(2.5, ("leaders",), Severity.CRITICAL, "Lãnh đạo", "Leaders"),)
    assert config.deadline_policy(purge_after=1.0, dedup_ids=1).escalation_delays == (9000.0,)


def test_an_empty_ladder_means_no_escalation(tmp_path: Path) -> None:
    config = load(tmp_path, "escalation = []\n")
    assert config.escalation == ()
    assert config.step(1) is None
    assert config.deadline_policy(purge_after=1.0, dedup_ids=1).escalation_delays == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[due_soon]\nshare = 1.5\n", "[due_soon] share must be > 0 and <= 1, got 1.5"),
        ("[due_soon]\nshare = 0\n", "[due_soon] share must be > 0 and <= 1, got 0"),
        ('[due_soon]\nshare = "most"\n', "[due_soon] share must be a number, got 'most'"),
        (
            "[due_soon]\nworking_hours_left = -1\n",
            "[due_soon] working_hours_left must be >= 0, got -1",
        ),
        (
            "[unit.on_time_rate]\nbelw = 0.8\n",
            "[unit.on_time_rate] has unknown key 'belw'; "
            "known: window, below, min_resolved, severity, audience, enabled",
        ),
        (
            "[alerting]\nx = 1\n",
            "unknown section 'alerting'; "
            "known: due_soon, overdue, escalation, reminders, unit, colours, retention",
        ),
        (
            "[unit.latency]\nx = 1\n",
            "[unit.latency] is not a unit rule; rename it to one of [unit.on_time_rate], "
            "[unit.overdue_count], [unit.queue_depth], [unit.p90_latency], [unit.surge], or delete it",
        ),
        (
            '[overdue]\nseverity = "high"\n',
            "[overdue] severity must be one of info, warning, critical, got 'high'",
        ),
        (
            '[overdue]\naudience = ["everyone"]\n',
            "[overdue] audience must be a list of leaders, parent, unit, wall, got ['everyone']",
        ),
        (
            '[reminders]\nrepeat_interval = "4 hours"\n',
            "[reminders] repeat_interval='4 hours' is not a duration",
        ),
        (
            '[reminders]\nrepeat_interval = "0s"\n',
            "[reminders] repeat_interval must be longer than 0, got '0s'",
        ),
        (
            "[unit.overdue_count]\nabove = 2.5\n",
            "[unit.overdue_count] above must be a whole number >= 0, got 2.5",
        ),
        (
            "[unit.queue_depth]\nenabled = 1\n",
            "[unit.queue_depth] enabled must be true or false, got 1",
        ),
        (
            "[unit.surge]\nwindow = 5\n",
            "[unit.surge] window must be a window name such as '1h', '1d' or 'period', got 5",
        ),
        ("[unit.surge]\nfactor = 0.5\n", "[unit.surge] factor must be >= 1, got 0.5"),
        (
            "[colours]\non_time_green = 0.5\n",
            "[colours] on_time_orange must not be above on_time_green",
        ),
        ("[colours]\nlate_orange = 0.01\n", "[colours] late_orange must not be below late_green"),
        ("escalation = 3\n", "escalation must be an array of tables ([[escalation]])"),
        (
            '[[escalation]]\nafter_working_hours = 4\naudience = ["unit"]\nseverity = "warning"\n'
            'label_vi = "Trưởng đơn vị"\n',
            "[[escalation]] #1 is missing 'label_en'",
        ),
        (
            '[[escalation]]\nafter_working_hours = 0\naudience = ["unit"]\nseverity = "warning"\n'
            'label_vi = "a"\nlabel_en = "b"\n',
            "[[escalation]] #1 after_working_hours must be > 0, got 0",
        ),
        (
            '[[escalation]]\nafter_working_hours = 4\naudience = ["unit"]\nseverity = "warning"\n'
            'label_vi = "a"\nlabel_en = "b"\nwho = "x"\n',
            "[[escalation]] #1 has unknown key 'who'; "
            "known: after_working_hours, audience, severity, label_vi, label_en",
        ),
        ("due_soon = 3\n", "[due_soon] must be a table"),
    ],
)
def test_invalid_files_are_rejected_naming_section_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert str(caught.value).startswith(f"rules file {tmp_path / 'rules.toml'}: ")
    assert message in str(caught.value)


def test_unreadable_or_malformed_files_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=f"rules file {missing}: "):
        RulesConfig.from_file(missing)
    with pytest.raises(ConfigError, match=r"rules file .*rules\.toml: Expected"):
        load(tmp_path, "[due_soon\n")


@pytest.mark.parametrize(
    ("rate", "colour"),
    [
        (None, "grey"),
        (1.0, "green"),
        (0.90, "green"),
        (0.8999, "orange"),
        (0.70, "orange"),
        (0.6999, "red"),
        (0.0, "red"),
    ],
)
def test_colour_of_on_time_rate(rate: float | None, colour: str) -> None:
    assert RulesConfig().colour_on_time(rate) == colour


@pytest.mark.parametrize(
    ("rate", "colour"),
    [
        (None, "grey"),
        (0.0, "green"),
        (0.05, "green"),
        (0.0501, "orange"),
        (0.15, "orange"),
        (0.1501, "red"),
        (1.0, "red"),
    ],
)
def test_colour_of_late_rate(rate: float | None, colour: str) -> None:
    assert RulesConfig().colour_late(rate) == colour


@pytest.mark.parametrize(
    ("on_time", "late", "colour"),
    [
        (None, None, "grey"),
        (0.95, None, "green"),
        (None, 0.2, "red"),
        (0.95, 0.10, "orange"),
        (0.75, 0.01, "orange"),
        (0.50, 0.01, "red"),
        (0.95, 0.01, "green"),
    ],
)
def test_colour_is_the_worse_of_both(on_time: float | None, late: float | None, colour: str) -> None:
    assert RulesConfig().colour(on_time, late) == colour
