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
        (RuleName.INDICATOR_AT_RISK, "indicator.at_risk"),
        (RuleName.INDICATOR_STALE, "indicator.stale"),
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


UNIT_TABLES = (
    "[unit.on_time_rate], [unit.overdue_count], [unit.queue_depth], [unit.p90_latency], [unit.surge]"
)
SECTIONS_FIX = (
    "rename it to one of [due_soon], [overdue], [[escalation]], [reminders], [unit.<rule>], "
    "[indicator.<rule>], [colours], [retention], or delete it"
)
STEP = '[[escalation]]\nafter_working_hours = 4\naudience = ["unit"]\nseverity = "warning"\n'


@pytest.mark.parametrize("table", ["surges", "on_time", "item_due_soon", "unit_surge"])
def test_an_unknown_unit_rule_table_names_the_file_the_table_and_the_fix(tmp_path: Path, table: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"[unit.{table}]\nenabled = false\n")
    assert str(caught.value) == (
        f"rules file {tmp_path / 'rules.toml'}: [unit.{table}]: is not a unit rule; "
        f"rename it to one of {UNIT_TABLES}, or delete it"
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
        (
            "due_soon = 3\n",
            "[due_soon]: is not a table; write [due_soon] on a line of its own, then its keys",
        ),
        (
            "unit = 3\n",
            "[unit]: is not a table; write each unit rule as a [unit.<rule>] table, e.g. [unit.surge]",
        ),
        ("[alerting]\nx = 1\n", f"[alerting]: is not a section of the rules file; {SECTIONS_FIX}"),
        (
            "[unit.on_time_rate]\nbelw = 0.8\n",
            "[unit.on_time_rate]: 'belw' is not a key of this table; "
            "rename it to one of window, below, min_resolved, severity, audience, enabled, or delete it",
        ),
        (
            '[due_soon]\nshare = "most"\n',
            "[due_soon]: share = 'most' is not a number > 0 and <= 1; "
            "write a number > 0 and <= 1, e.g. share = 0.75",
        ),
        (
            "[unit.overdue_count]\nabove = 2.5\n",
            "[unit.overdue_count]: above = 2.5 is not a whole number >= 0; "
            "write a whole number, e.g. above = 10",
        ),
        (
            "[unit.queue_depth]\nenabled = 1\n",
            "[unit.queue_depth]: enabled = 1 is not true or false; write enabled = true or enabled = false",
        ),
        (
            '[overdue]\nseverity = "high"\n',
            "[overdue]: severity = 'high' is not a severity; "
            "write one of 'info', 'warning', 'critical', e.g. severity = 'warning'",
        ),
        (
            '[overdue]\naudience = ["everyone"]\n',
            "[overdue]: audience = ['everyone'] is not a list of audiences; "
            "write a list of 'leaders', 'parent', 'unit', 'wall', "
            "e.g. audience = ['unit', 'wall', 'leaders']",
        ),
        (
            '[reminders]\nrepeat_interval = "4 hours"\n',
            "[reminders]: repeat_interval = '4 hours' is not a duration; "
            "write a number of seconds or a duration in ms/s/m/h/d/w, e.g. repeat_interval = '4h'",
        ),
        (
            '[reminders]\nrepeat_interval = "0s"\n',
            "[reminders]: repeat_interval = '0s' is not longer than 0; "
            "write a duration longer than 0, e.g. repeat_interval = '4h'",
        ),
        (
            "[unit.surge]\nwindow = 5\n",
            "[unit.surge]: window = 5 is not a window; "
            "write a duration longer than 0 or 'period' (the reporting period), e.g. window = '1h'",
        ),
        (
            "[colours]\non_time_green = 0.5\n",
            "[colours]: on_time_orange = 0.7 is above on_time_green = 0.5; "
            "make on_time_orange at most on_time_green (orange is the band below green)",
        ),
        (
            "[colours]\nlate_orange = 0.01\n",
            "[colours]: late_orange = 0.01 is below late_green = 0.05; "
            "make late_orange at least late_green (orange is the band above green)",
        ),
        (
            "escalation = 3\n",
            "escalation: is not an array of tables; "
            "write each step as an [[escalation]] table, or escalation = [] for no escalation",
        ),
        (
            "escalation = [1]\n",
            "[[escalation]] #1: is not a table; write each step as an [[escalation]] table",
        ),
        (
            STEP + 'label_vi = "Trưởng đơn vị"\n',
            "[[escalation]] #1: 'label_en' is missing; add label_en = 'Unit head'",
        ),
        (
            STEP + 'label_vi = " "\nlabel_en = "b"\n',
            "[[escalation]] #1: label_vi = ' ' is not a label; "
            "write the step's label as text, e.g. label_vi = 'Trưởng đơn vị'",
        ),
    ],
    ids=[
        "section-not-a-table",
        "unit-not-a-table",
        "unknown-section",
        "unknown-key",
        "number",
        "whole-number",
        "flag",
        "severity",
        "audience",
        "duration",
        "duration-not-positive",
        "window",
        "on-time-colours",
        "late-colours",
        "ladder-not-an-array",
        "step-not-a-table",
        "missing-key",
        "label",
    ],
)
def test_invalid_files_are_rejected_naming_the_entry_and_the_fix(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert str(caught.value) == f"rules file {tmp_path / 'rules.toml'}: {message}"


def test_data_not_read_from_a_file_is_named_rules() -> None:
    with pytest.raises(ConfigError) as caught:
        RulesConfig.from_mapping({"alerting": 1})
    assert str(caught.value) == f"rules: alerting: is not a section of the rules file; {SECTIONS_FIX}"


def test_a_rules_file_that_is_not_toml_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(tomllib.TOMLDecodeError) as decoded:
        tomllib.loads("[due_soon\n")
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "[due_soon\n")
    assert str(caught.value) == (
        f"rules file {tmp_path / 'rules.toml'}: syntax: {decoded.value}; write valid TOML (https://toml.io)"
    )


def test_a_missing_rules_file_is_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        RulesConfig.from_file(path)
    assert str(caught.value) == (
        f"rules file {path}: path: [Errno 2] No such file or directory: '{path}'; "
        "check the path and its permissions"
    )


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
