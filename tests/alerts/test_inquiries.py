"""Explanation requests on any indicator, as timelines: a leader requests, the owner unit is
told and answers, the answer resolves the thread; scope checks; a later request reopens it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.config import RulesConfig
from alerts.errors import CommandRejected
from alerts.inquiries import inquiry_fingerprint, inquiry_target, is_inquiry, on_inquiry_command
from alerts.model import Alert, Command, CommandType, RuleName, Severity, State
from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog
from domain.indicators.catalog import IndicatorCatalog

DATA = Path(__file__).resolve().parents[2] / "domain" / "data"
# A green-or-grey indicator nobody raised an alert on: the ward's on-time rate of April.
FP = inquiry_fingerprint("SO-1022-DUNG-HAN", "P-BAN-CO", "2026-04")
# The city's target of a department-owned indicator: the owner answers, not "HCM".
CITY_FP = inquiry_fingerprint("DT-GIAI-NGAN", "HCM", "2026")


@pytest.fixture(scope="module")
def units() -> Catalog:
    return Catalog.from_file(DATA / "units.json")


@pytest.fixture(scope="module")
def indicators(units: Catalog) -> IndicatorCatalog:
    return IndicatorCatalog.from_file(DATA / "indicators.toml", units)


def local(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 4, day, hour, minute, tzinfo=LOCAL_TZ).timestamp()


def command(
    type: str, at: float, *, scope: str = "leader", alert: str = FP, text: str | None = "?", cid: str = ""
) -> Command:
    return Command(
        command_id=cid or f"{type}-{scope}-{at:.0f}",
        type=CommandType(type),
        alert=alert,
        text=text,
        by_scope=scope,
        by_sub="someone",
        at=at,
    )


@dataclass
class Thread:
    """The alert stage's handling of inquiry commands in miniature, with an event log."""

    indicators: IndicatorCatalog
    units: Catalog
    config: RulesConfig
    calendar: WorkCalendar
    alerts: dict[str, Alert] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def send(self, cmd: Command) -> list[str]:
        assert cmd.alert is not None
        step = on_inquiry_command(
            self.alerts.get(cmd.alert),
            cmd,
            cmd.at,
            indicators=self.indicators,
            silences=(),
            config=self.config,
            catalog=self.units,
            calendar=self.calendar,
        )
        if step.alert is not None:
            self.alerts[cmd.alert] = Alert.decode(step.alert.encode())  # as stored
        types = [event.type.value for event in step.events]
        self.log += types
        return types


@pytest.fixture
def thread(indicators: IndicatorCatalog, units: Catalog, config: RulesConfig) -> Thread:
    return Thread(indicators, units, config, WorkCalendar.from_file(DATA / "calendar.toml"))


def test_a_request_on_an_indicator_without_alert_opens_it_and_tells_the_owner_unit(thread: Thread) -> None:
    assert thread.send(command("explain_request", local(2, 9), text="Vì sao giảm?")) == [
        "opened",
        "explanation_requested",
    ]
    alert = thread.alerts[FP]
    assert (alert.rule, alert.state, alert.unit, alert.severity) == (
        RuleName.INDICATOR_EXPLANATION,
        State.FIRING,
        "P-BAN-CO",
        Severity.INFO,
    )
    assert "unit:P-BAN-CO" in alert.audience and "leaders" in alert.audience
    assert [(e.kind, e.text) for e in alert.explanations] == [("request", "Vì sao giảm?")]
    assert alert.facts["indicator"] == "SO-1022-DUNG-HAN" and alert.facts["period"] == "2026-04"
    assert alert.title_vi.startswith("Yêu cầu giải trình chỉ số: Tỷ lệ phản ánh")
    assert alert.title_en.startswith("Indicator explanation requested: Citizen feedback handled on time")


def test_the_owner_answers_and_the_answer_resolves_the_thread(thread: Thread) -> None:
    thread.send(command("explain_request", local(2, 9)))
    types = thread.send(command("explain_answer", local(2, 15), scope="unit:P-BAN-CO", text="Mưa lớn"))
    assert types == ["explained", "resolved"]
    alert = thread.alerts[FP]
    assert (alert.state, alert.resolved_at) == (State.RESOLVED, local(2, 15))
    assert [e.kind for e in alert.explanations] == ["request", "answer"]
    assert alert.title_en.startswith("Indicator explained:")


def test_a_later_request_reopens_the_thread_and_keeps_the_exchange(thread: Thread) -> None:
    thread.send(command("explain_request", local(2, 9)))
    thread.send(command("explain_answer", local(2, 15), scope="unit:P-BAN-CO"))
    assert thread.send(command("explain_request", local(3, 8), text="Chưa rõ")) == [
        "opened",
        "explanation_requested",
    ]
    alert = thread.alerts[FP]
    assert (alert.state, alert.incident) == (State.FIRING, 2)
    assert [e.kind for e in alert.explanations] == ["request", "answer", "request"]


def test_a_redelivered_request_changes_nothing(thread: Thread) -> None:
    request = command("explain_request", local(2, 9), cid="c-1")
    thread.send(request)
    before = thread.alerts[FP]
    assert thread.send(request) == []
    assert thread.alerts[FP] == before


def test_the_city_target_is_answered_by_the_indicator_owner(
    thread: Thread, indicators: IndicatorCatalog
) -> None:
    owner = inquiry_target(CITY_FP, indicators).owner
    assert owner != "HCM"
    thread.send(command("explain_request", local(2, 9), alert=CITY_FP))
    assert thread.alerts[CITY_FP].unit == owner
    with pytest.raises(CommandRejected, match="only unit"):
        thread.send(command("explain_answer", local(2, 10), scope="unit:P-BAN-CO", alert=CITY_FP))
    assert thread.send(command("explain_answer", local(2, 11), scope=f"unit:{owner}", alert=CITY_FP)) == [
        "explained",
        "resolved",
    ]


@pytest.mark.parametrize(
    ("first", "cmd", "reason"),
    [
        (False, command("explain_request", local(2, 9), scope="wall"), "the wall display is read-only"),
        (
            False,
            command("explain_request", local(2, 9), scope="unit:P-BAN-CO"),
            "only a leader can request an explanation",
        ),
        (False, command("explain_answer", local(2, 9), scope="unit:P-BAN-CO"), "no such alert"),
        (
            True,
            command("explain_answer", local(2, 10), scope="unit:P-TAN-DINH"),
            "only unit P-BAN-CO can answer",
        ),
        (True, command("explain_answer", local(2, 10), scope="leader"), "only unit P-BAN-CO can answer"),
        (True, command("explain_request", local(2, 10), text="  "), "needs a non-empty 'text'"),
        (
            False,
            command(
                "explain_request",
                local(2, 9),
                alert=inquiry_fingerprint("SO-1022-DUNG-HAN", "P-BAN-CO", "2026"),
            ),
            "period '2026' is a year",
        ),
        (
            False,
            command("explain_request", local(2, 9), alert=inquiry_fingerprint("NOPE", "P-BAN-CO", "2026-04")),
            "unit 'P-BAN-CO' has no target for indicator 'NOPE'",
        ),
        (
            False,
            command("explain_request", local(2, 9), alert="indicator_explanation:SO-1022-DUNG-HAN"),
            "must name CODE/UNIT/PERIOD",
        ),
    ],
    ids=[
        "wall-cannot-request",
        "unit-cannot-request",
        "answer-before-any-request",
        "another-unit-cannot-answer",
        "leader-cannot-answer",
        "empty-request",
        "period-of-the-wrong-kind",
        "unknown-indicator",
        "malformed-subject",
    ],
)
def test_commands_out_of_scope_or_naming_nothing_are_refused_with_the_reason(
    thread: Thread, first: bool, cmd: Command, reason: str
) -> None:
    if first:
        thread.send(command("explain_request", local(2, 9)))
    before = dict(thread.alerts)
    with pytest.raises(CommandRejected) as refused:
        thread.send(cmd)
    assert reason in refused.value.reason
    assert thread.alerts == before


def test_only_explanation_fingerprints_are_inquiries() -> None:
    assert is_inquiry(FP)
    assert not is_inquiry("indicator_at_risk:SO-1022-DUNG-HAN/P-BAN-CO/2026-04")


@given(subject=st.text(max_size=80) | st.lists(st.text(max_size=20), max_size=4).map("/".join))
@settings(max_examples=300)
def test_any_fingerprint_names_an_indicator_or_is_refused_with_a_reason(
    indicators: IndicatorCatalog, subject: str
) -> None:
    fingerprint = f"indicator_explanation:{subject}"
    try:
        target = inquiry_target(fingerprint, indicators)
    except CommandRejected as refused:
        assert refused.reason
    else:
        assert (
            indicators.assignment(target.assignment.indicator.code, target.assignment.unit)
            == target.assignment
        )
