"""Alert lifecycle as timelines: signals, commands and ticks at instants; the events they cause.

:class:`Stage` plays the alert stage in miniature: one record per fingerprint, a timer that
ticks each alert at :func:`next_wakeup`, and optionally a restart (decode(encode)) of every
record after each step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pytest

from alerts.config import RulesConfig
from alerts.errors import CommandRejected
from alerts.lifecycle import (
    REDELIVERY_GUARD,
    Step,
    end_silence,
    next_wakeup,
    on_command,
    on_signal,
    on_tick,
    silence_from_command,
)
from alerts.model import (
    MAX_COMMAND_IDS,
    Alert,
    AlertEvent,
    Command,
    CommandType,
    Explanation,
    RuleName,
    Severity,
    Signal,
    Silence,
    State,
)
from alerts.rules import item_signals
from domain.calendar import LOCAL_TZ, WorkCalendar
from domain.catalog import Catalog
from domain.events import Event, EventType, Sla
from domain.items import Item, ItemPolicy, apply_event, apply_tick, next_deadline
from domain.sla import CategorySla, SlaPolicy, UnitClock

HOUR = 3600.0
ITEM = "PA-2026-000123"
FP = f"item_overdue:{ITEM}"


def local(month: int, day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, month, day, hour, minute, tzinfo=LOCAL_TZ).timestamp()


def when(at: float, *, seconds: bool = False) -> str:
    """Local weekday, day and time, e.g. ``Tue 08 17:00``."""
    return datetime.fromtimestamp(at, LOCAL_TZ).strftime("%a %d %H:%M:%S" if seconds else "%a %d %H:%M")


#: The item of every timeline is due Tuesday 08/12/2026 17:00; with the default ladder it
#: escalates on Wednesday 11:30, Thursday 11:30 and (over the weekend) Monday 14/12 11:30.
DUE = local(12, 8, 17)
STEP_AT = {1: local(12, 9, 11, 30), 2: local(12, 10, 11, 30), 3: local(12, 14, 11, 30)}
LATE = {0: 0.0, 1: 4 * HOUR, 2: 12 * HOUR, 3: 28 * HOUR}
SEVERITY = {0: Severity.WARNING, 1: Severity.WARNING, 2: Severity.CRITICAL, 3: Severity.CRITICAL}


def overdue(
    level: int = 0,
    *,
    unit: str = "P-BEN-THANH",
    active: bool = True,
    at: float | None = None,
    **facts: Any,
) -> Signal:
    return Signal(
        fingerprint=FP,
        rule=RuleName.ITEM_OVERDUE,
        active=active,
        at=at if at is not None else STEP_AT.get(level, DUE),
        unit=unit,
        item_id=ITEM,
        severity=SEVERITY[level],
        escalation=level,
        facts={
            "item_title": "Rác <b>thải</b>",
            "unit": unit,
            "due": DUE,
            "overdue_at": DUE,
            "appointment_at": None,
            "escalation": level,
            "working_seconds_late": LATE[level],
            **facts,
        },
    )


def on_time(rate: float, at: float, *, active: bool = True) -> Signal:
    resolved = 25
    return Signal(
        fingerprint="unit_on_time_rate:P-SAI-GON",
        rule=RuleName.UNIT_ON_TIME_RATE,
        active=active,
        at=at,
        unit="P-SAI-GON",
        item_id=None,
        severity=Severity.WARNING,
        facts={
            "window": "1d",
            "resolved": resolved,
            "resolved_on_time": round(rate * resolved),
            "rate": rate,
            "below": 0.8,
            "unit": "P-SAI-GON",
        },
    )


def command(
    type: str,
    at: float,
    *,
    scope: str = "leader",
    sub: str = "lanh-dao-01",
    alert: str | None = FP,
    text: str | None = None,
    command_id: str | None = None,
    **extra: Any,
) -> Command:
    return Command(
        command_id=command_id or f"{type}-{at:.0f}",
        type=CommandType(type),
        alert=alert,
        text=text,
        by_scope=scope,
        by_sub=sub,
        at=at,
        **extra,
    )


@dataclass
class Stage:
    """The alert stage in miniature (records, timer, restarts) with an event log."""

    config: RulesConfig
    catalog: Catalog
    calendar: WorkCalendar
    restart: bool = False
    now: float = 0.0
    alerts: dict[str, Alert] = field(default_factory=dict)
    silences: list[Silence] = field(default_factory=list)
    log: list[tuple[float, str, str]] = field(default_factory=list)

    def signal(self, signal: Signal, now: float | None = None) -> list[str]:
        now = signal.at if now is None else now
        self.advance(now)
        step = on_signal(
            self.alerts.get(signal.fingerprint),
            signal,
            now,
            silences=self.silences,
            config=self.config,
            catalog=self.catalog,
            calendar=self.calendar,
        )
        return self._store(signal.fingerprint, step)

    def command(self, cmd: Command) -> list[str]:
        self.advance(cmd.at)
        assert cmd.alert is not None
        step = on_command(
            self.alerts.get(cmd.alert),
            cmd,
            cmd.at,
            config=self.config,
            catalog=self.catalog,
            calendar=self.calendar,
        )
        return self._store(cmd.alert, step)

    def silence(self, silence: Silence) -> None:
        self.silences.append(silence)

    def advance(self, until: float) -> list[str]:
        """Run the timer up to ``until``: tick each alert at its wake-up instant, in order."""
        types: list[str] = []
        for _ in range(10_000):
            due = [
                (wake, key)
                for key, alert in self.alerts.items()
                if (wake := next_wakeup(alert, now=self.now, silences=self.silences, config=self.config))
                is not None
                and wake <= until
            ]
            if not due:
                break
            wake, key = min(due)
            self.now = max(self.now, wake)
            types += self._store(
                key, on_tick(self.alerts[key], self.now, silences=self.silences, config=self.config)
            )
        self.now = max(self.now, until)
        return types

    def _store(self, key: str, step: Step) -> list[str]:
        for event in step.events:
            assert event.alert == step.alert
            self.log.append((event.at, event.type.value, key))
        if step.alert is None:
            self.alerts.pop(key, None)
        else:
            self.alerts[key] = Alert.decode(step.alert.encode()) if self.restart else step.alert
        return [event.type.value for event in step.events]


@pytest.fixture
def stage(config: RulesConfig, catalog: Catalog, calendar: WorkCalendar) -> Stage:
    return Stage(config, catalog, calendar, now=DUE - HOUR)


def alert_of(stage: Stage) -> Alert:
    return stage.alerts[FP]


# -- opening and dedup ----------------------------------------------------------------------------


def test_active_signal_opens_a_firing_alert(stage: Stage) -> None:
    assert stage.signal(overdue(0)) == ["opened"]
    assert alert_of(stage) == Alert(
        fingerprint=FP,
        rule=RuleName.ITEM_OVERDUE,
        severity=Severity.WARNING,
        state=State.FIRING,
        unit="P-BEN-THANH",
        item_id=ITEM,
        opened_at=DUE,
        updated_at=DUE,
        escalation=0,
        audience=("wall", "leaders", "unit:P-BEN-THANH"),
        title_vi=f"Quá hạn: {ITEM} – Phường Bến Thành",
        title_en=f"Overdue: {ITEM} – Ben Thanh Ward",
        text_vi="Hạn xử lý 08/12/2026 17:00; vừa quá hạn.",
        text_en="Due 08/12/2026 17:00; just overdue.",
        facts=dict(overdue(0).facts),
        silenced=False,
        notified_at=DUE,
        reminders=0,
        incident=1,
    )


def test_same_signal_again_is_deduplicated(stage: Stage) -> None:
    stage.signal(overdue(0))
    before = alert_of(stage)
    assert stage.signal(overdue(0, at=DUE + 10)) == []
    assert alert_of(stage) is before


def test_signal_for_another_fingerprint_is_a_programming_error(
    stage: Stage, config: RulesConfig, catalog: Catalog, calendar: WorkCalendar
) -> None:
    stage.signal(overdue(0))
    with pytest.raises(
        ValueError, match="signal 'unit_surge:Q1' applied to alert 'item_overdue:PA-2026-000123'"
    ):
        on_signal(
            alert_of(stage),
            replace(overdue(0), fingerprint="unit_surge:Q1", rule=RuleName.UNIT_SURGE),
            DUE,
            silences=[],
            config=config,
            catalog=catalog,
            calendar=calendar,
        )


# -- escalation -----------------------------------------------------------------------------------


def test_escalation_ladder_widens_audience_and_raises_severity(stage: Stage) -> None:
    stage.signal(overdue(0, unit="P-TAN-DINH"))
    seen = []
    for level in (1, 2, 3):
        assert stage.signal(overdue(level, unit="P-TAN-DINH")) == ["escalated"]
        alert = alert_of(stage)
        seen.append((alert.escalation, alert.severity, alert.audience, alert.notified_at, alert.title_en))
    assert seen == [
        (
            1,
            Severity.WARNING,
            ("wall", "leaders", "unit:P-TAN-DINH"),
            STEP_AT[1],
            f"Overdue – level 1 (Unit head): {ITEM} – Tan Dinh Ward",
        ),
        (
            2,
            Severity.CRITICAL,
            ("wall", "leaders", "unit:P-TAN-DINH", "unit:Q1"),
            STEP_AT[2],
            f"Overdue – level 2 (Parent unit, department leader): {ITEM} – Tan Dinh Ward",
        ),
        (
            3,
            Severity.CRITICAL,
            ("wall", "leaders", "unit:P-TAN-DINH", "unit:Q1"),
            STEP_AT[3],
            f"Overdue – level 3 (City leadership): {ITEM} – Tan Dinh Ward",
        ),
    ]
    assert alert_of(stage).text_vi == "Hạn xử lý 08/12/2026 17:00; quá hạn 3 ngày 4 giờ làm việc."


def test_parent_of_a_ward_under_the_city_is_the_leaders(
    stage: Stage, catalog: Catalog, calendar: WorkCalendar
) -> None:
    narrow = replace(stage.config, overdue=replace(stage.config.overdue, audience=("unit",)))
    stage.config = narrow
    stage.signal(overdue(0))
    assert alert_of(stage).audience == ("unit:P-BEN-THANH",)
    stage.signal(overdue(1))
    assert alert_of(stage).audience == ("unit:P-BEN-THANH",)
    stage.signal(overdue(2))
    assert alert_of(stage).audience == ("leaders", "unit:P-BEN-THANH")


def test_ack_before_escalation_stops_the_ladder(stage: Stage) -> None:
    stage.signal(overdue(0))
    assert stage.command(command("ack", DUE + HOUR)) == ["acknowledged"]
    assert stage.signal(overdue(1)) == []
    assert stage.signal(overdue(2)) == []
    alert = alert_of(stage)
    assert (alert.state, alert.escalation, alert.severity, alert.audience) == (
        State.ACKNOWLEDGED,
        0,
        Severity.WARNING,
        ("wall", "leaders", "unit:P-BEN-THANH"),
    )
    assert alert.facts["escalation"] == 2  # the step reached is remembered
    assert (alert.acked_at, alert.acked_by) == (DUE + HOUR, "lanh-dao-01")
    assert alert.text_en == "Due 08/12/2026 17:00; overdue by 1 working day 4 h."
    assert stage.signal(overdue(2, active=False, at=STEP_AT[2] + HOUR)) == ["resolved"]
    assert [entry[1] for entry in stage.log] == ["opened", "acknowledged", "resolved"]


def test_ack_after_escalation_keeps_the_level_reached(stage: Stage) -> None:
    stage.signal(overdue(0))
    stage.signal(overdue(1))
    stage.command(command("ack", STEP_AT[1] + 60))
    assert stage.signal(overdue(2)) == []
    alert = alert_of(stage)
    assert (alert.escalation, alert.severity, alert.facts["escalation"]) == (1, Severity.WARNING, 2)


def test_transfer_moves_the_alert_to_the_new_unit(stage: Stage) -> None:
    stage.signal(overdue(0))
    stage.signal(overdue(2))
    moved = overdue(2, unit="P-TAN-DINH", at=STEP_AT[2] + HOUR, from_unit="P-BEN-THANH")
    assert stage.signal(moved) == ["updated"]
    alert = alert_of(stage)
    assert (alert.unit, alert.escalation, alert.audience) == (
        "P-TAN-DINH",
        2,
        ("wall", "leaders", "unit:P-TAN-DINH", "unit:Q1"),
    )
    assert alert.title_vi == f"Quá hạn – cấp 2 (Đơn vị cấp trên, lãnh đạo sở): {ITEM} – Phường Tân Định"
    assert alert.opened_at == DUE


# -- resolve and re-fire ------------------------------------------------------------------------


@pytest.mark.parametrize("existing", [None, "resolved"])
def test_inactive_signal_without_an_active_alert_is_a_no_op(
    existing: str | None, config: RulesConfig, catalog: Catalog, calendar: WorkCalendar
) -> None:
    alert: Alert | None = None
    if existing:
        opened = on_signal(
            None, overdue(0), DUE, silences=[], config=config, catalog=catalog, calendar=calendar
        )
        alert = on_signal(
            opened.alert,
            overdue(0, active=False, at=DUE + 1),
            DUE + 1,
            silences=[],
            config=config,
            catalog=catalog,
            calendar=calendar,
        ).alert
    step = on_signal(
        alert,
        overdue(0, active=False, at=DUE + 2),
        DUE + 2,
        silences=[],
        config=config,
        catalog=catalog,
        calendar=calendar,
    )
    assert step == Step(alert, [])


def test_inactive_signal_resolves_a_firing_alert(stage: Stage) -> None:
    stage.signal(overdue(0))
    assert stage.signal(overdue(0, active=False, at=DUE + 600, status="resolved")) == ["resolved"]
    alert = alert_of(stage)
    assert (alert.state, alert.resolved_at, alert.updated_at) == (
        State.RESOLVED,
        DUE + 600,
        DUE + 600,
    )
    assert alert.facts["status"] == "resolved"
    assert alert.title_vi == f"Quá hạn: {ITEM} – Phường Bến Thành"


def test_firing_again_after_resolve_opens_the_next_incident(stage: Stage) -> None:
    stage.signal(overdue(0))
    stage.command(command("ack", DUE + 60, command_id="c-ack"))
    stage.command(command("explain_request", DUE + 120, text="Vì sao chậm?", command_id="c-req"))
    stage.signal(overdue(1, active=False, at=DUE + HOUR))
    reopened = overdue(0, at=local(12, 9, 9))
    assert stage.signal(reopened) == ["opened"]
    alert = alert_of(stage)
    assert (alert.state, alert.incident, alert.opened_at, alert.resolved_at) == (
        State.FIRING,
        2,
        local(12, 9, 9),
        None,
    )
    assert (alert.acked_at, alert.acked_by, alert.explanations, alert.reminders) == (
        None,
        None,
        (),
        0,
    )
    assert alert.command_ids == ("c-ack", "c-req")  # a replayed old command stays a no-op


@pytest.mark.parametrize("offset", [-HOUR, 0.0], ids=["before-resolution", "at-resolution"])
def test_active_signal_dated_before_the_resolution_is_a_redelivery_not_a_new_incident(
    stage: Stage, offset: float
) -> None:
    stage.signal(overdue(0))
    stage.signal(overdue(0, active=False, at=DUE + 2 * HOUR))
    resolved = alert_of(stage)

    assert stage.signal(overdue(0, at=DUE + 2 * HOUR + offset)) == []
    assert alert_of(stage) == resolved
    assert stage.signal(overdue(0, at=DUE + 2 * HOUR + 1)) == ["opened"]
    assert alert_of(stage).incident == 2


# -- reminders ------------------------------------------------------------------------------------


def test_reminders_every_four_hours_exactly(stage: Stage) -> None:
    stage.signal(overdue(0))
    assert next_wakeup(alert_of(stage), now=DUE, silences=[], config=stage.config) == DUE + 4 * HOUR
    assert stage.advance(DUE + 4 * HOUR - 0.001) == []
    assert stage.advance(DUE + 12 * HOUR) == ["reminded", "reminded", "reminded"]
    assert [at for at, kind, _ in stage.log if kind == "reminded"] == [
        DUE + 4 * HOUR,
        DUE + 8 * HOUR,
        DUE + 12 * HOUR,
    ]
    assert (alert_of(stage).reminders, alert_of(stage).notified_at) == (3, DUE + 12 * HOUR)


def test_escalation_is_a_notification_and_restarts_the_reminder_clock(stage: Stage) -> None:
    stage.signal(overdue(0, at=DUE), now=DUE)
    stage.signal(overdue(1, at=DUE + 3 * HOUR))
    stage.advance(DUE + 8 * HOUR)
    assert [(at - DUE) / HOUR for at, kind, _ in stage.log] == [0.0, 3.0, 7.0]
    assert [kind for _, kind, _ in stage.log] == ["opened", "escalated", "reminded"]


def test_no_reminders_for_info_or_acknowledged_alerts(stage: Stage) -> None:
    due_soon = Signal(
        f"item_due_soon:{ITEM}",
        RuleName.ITEM_DUE_SOON,
        True,
        DUE - HOUR,
        "P-BEN-THANH",
        ITEM,
        Severity.INFO,
        facts={"due": DUE},
    )
    stage.signal(due_soon)
    stage.signal(overdue(0))
    stage.command(command("ack", DUE + HOUR))
    for alert in stage.alerts.values():
        assert next_wakeup(alert, now=DUE + HOUR, silences=[], config=stage.config) is None
    assert stage.advance(DUE + 48 * HOUR) == []


# -- silences -------------------------------------------------------------------------------------


def test_silence_mutes_then_unmutes_and_notifies(stage: Stage) -> None:
    stage.signal(overdue(0))
    stage.silence(Silence("s-1", "P-BEN-THANH", None, DUE + HOUR, DUE + 3 * HOUR, "lanh-dao-01", "họp"))
    assert next_wakeup(alert_of(stage), now=DUE, silences=stage.silences, config=stage.config) == DUE + HOUR
    stage.advance(DUE + 8 * HOUR)
    assert [((at - DUE) / HOUR, kind) for at, kind, _ in stage.log] == [
        (0.0, "opened"),
        (1.0, "silenced"),
        (3.0, "unsilenced"),
        (7.0, "reminded"),
    ]


def test_alert_opened_during_a_silence_is_flagged_and_not_notified(stage: Stage) -> None:
    stage.silence(Silence("s-1", None, RuleName.ITEM_OVERDUE, DUE - HOUR, DUE + 2 * HOUR, "lanh-dao-01", ""))
    assert stage.signal(overdue(0)) == ["opened"]
    assert (alert_of(stage).silenced, alert_of(stage).notified_at) == (True, None)
    assert stage.advance(DUE + 2 * HOUR) == ["unsilenced"]
    assert (alert_of(stage).silenced, alert_of(stage).notified_at) == (False, DUE + 2 * HOUR)
    assert stage.advance(DUE + 6 * HOUR) == ["reminded"]


@pytest.mark.parametrize(
    ("unit", "rule"),
    [("P-SAI-GON", None), (None, RuleName.UNIT_SURGE), ("P-BEN-THANH", RuleName.ITEM_DUE_SOON)],
)
def test_silence_for_another_unit_or_rule_does_not_apply(
    stage: Stage, unit: str | None, rule: str | None
) -> None:
    stage.silence(Silence("s-1", unit, rule, DUE - HOUR, DUE + 9 * HOUR, "lanh-dao-01", ""))
    stage.signal(overdue(0))
    assert alert_of(stage).silenced is False
    assert stage.advance(DUE + 4 * HOUR) == ["reminded"]


def test_transfer_into_a_silenced_unit_silences_the_alert(stage: Stage) -> None:
    stage.silence(Silence("s-1", "P-SAI-GON", None, DUE - HOUR, DUE + 9 * HOUR, "lanh-dao-01", ""))
    stage.signal(overdue(0))
    assert stage.signal(overdue(0, unit="P-SAI-GON", at=DUE + HOUR)) == ["updated", "silenced"]
    assert alert_of(stage).notified_at == DUE  # not notified: silenced


def test_unsilence_command_ends_the_silence_early(stage: Stage) -> None:
    raw = command(
        "silence",
        DUE - 2 * HOUR,
        alert=None,
        silence=Silence("s-9", "P-BEN-THANH", None, DUE - 2 * HOUR, DUE + 24 * HOUR, "lanh-dao-01", "x"),
    )
    stage.silence(silence_from_command(raw, catalog=stage.catalog))
    stage.signal(overdue(0))
    assert alert_of(stage).silenced
    ended = end_silence(stage.silences[0], command("unsilence", DUE + HOUR, alert=None, silence_id="s-9"))
    assert ended.ends_at == DUE + HOUR
    stage.silences[0] = ended
    assert stage.advance(DUE + HOUR) == ["unsilenced"]


def test_next_wakeup_only_counts_silence_boundaries_after_now(stage: Stage) -> None:
    stage.signal(overdue(0))
    silences = [
        Silence("past", "P-BEN-THANH", None, DUE - 9 * HOUR, DUE - 8 * HOUR, "l", ""),
        Silence("later", "P-BEN-THANH", None, DUE + HOUR, DUE + 2 * HOUR, "l", ""),
        Silence("other", "Q1", None, DUE + 0.5 * HOUR, DUE + 2 * HOUR, "l", ""),
    ]
    wake = next_wakeup(alert_of(stage), now=DUE, silences=silences, config=stage.config)
    assert wake == DUE + HOUR
    assert (
        next_wakeup(alert_of(stage), now=DUE + HOUR, silences=silences, config=stage.config) == DUE + 2 * HOUR
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"by_scope": "unit:P-BEN-THANH"},
            "only a leader can create a silence (sender scope is 'unit:P-BEN-THANH')",
        ),
        ({"ends_at": DUE - 2 * HOUR}, "silence 'ends_at' must be after 'starts_at'"),
        (
            {"starts_at": DUE - 9 * HOUR, "ends_at": DUE - 3 * HOUR},
            "silence 'ends_at' is already past",
        ),
        ({"ends_at": DUE + 40 * 86400}, "a silence can last at most 31d; set an earlier 'ends_at'"),
        ({"unit": "P-NOWHERE"}, "silence unit 'P-NOWHERE' is not in the unit catalog"),
    ],
)
def test_silence_commands_are_validated(changes: dict[str, Any], reason: str, catalog: Catalog) -> None:
    silence = Silence("s-1", "P-BEN-THANH", None, DUE - 2 * HOUR, DUE + HOUR, "lanh-dao-01", "")
    fields = {k: v for k, v in changes.items() if k != "by_scope"}
    cmd = command(
        "silence",
        DUE - 2 * HOUR,
        alert=None,
        scope=changes.get("by_scope", "leader"),
        silence=replace(silence, **fields),
    )
    with pytest.raises(CommandRejected) as caught:
        silence_from_command(cmd, catalog=catalog)
    assert caught.value.reason == reason


def test_unsilence_commands_are_validated() -> None:
    silence = Silence("s-1", "Q1", None, DUE, DUE + HOUR, "lanh-dao-01", "")
    with pytest.raises(CommandRejected, match=r"^no such silence 's-2'$"):
        end_silence(silence, command("unsilence", DUE, alert=None, silence_id="s-2"))
    with pytest.raises(CommandRejected, match=r"^no such silence 's-1'$"):
        end_silence(None, command("unsilence", DUE, alert=None, silence_id="s-1"))
    with pytest.raises(
        CommandRejected, match=r"^only a leader can end a silence \(sender scope is 'wall'\)$"
    ):
        end_silence(silence, command("unsilence", DUE, alert=None, silence_id="s-1", scope="wall"))


# -- commands -------------------------------------------------------------------------------------


def test_explanation_request_and_answer(stage: Stage) -> None:
    stage.signal(overdue(0))
    request = command("explain_request", DUE + HOUR, text="Đề nghị giải trình lý do chậm.")
    assert stage.command(request) == ["explanation_requested"]
    answer = command(
        "explain_answer",
        DUE + 2 * HOUR,
        scope="unit:P-BEN-THANH",
        sub="can-bo-07",
        text="Chờ bổ sung hồ sơ <b>từ</b> người dân.",
    )
    assert stage.command(answer) == ["explained"]
    assert alert_of(stage).explanations == (
        Explanation("request", "lanh-dao-01", "Đề nghị giải trình lý do chậm.", DUE + HOUR),
        Explanation("answer", "can-bo-07", "Chờ bổ sung hồ sơ <b>từ</b> người dân.", DUE + 2 * HOUR),
    )
    assert alert_of(stage).state is State.FIRING  # an explanation is not an acknowledgement


def test_explanation_request_brings_the_unit_into_the_audience(stage: Stage) -> None:
    stage.config = replace(stage.config, overdue=replace(stage.config.overdue, audience=("leaders",)))
    stage.signal(overdue(0))
    assert alert_of(stage).audience == ("leaders",)
    stage.command(command("explain_request", DUE + HOUR, text="?"))
    assert alert_of(stage).audience == ("leaders", "unit:P-BEN-THANH")


def test_repeated_command_id_is_a_no_op(stage: Stage) -> None:
    stage.signal(overdue(0))
    ack = command("ack", DUE + 60, command_id="c-1")
    assert stage.command(ack) == ["acknowledged"]
    before = alert_of(stage)
    assert stage.command(replace(ack, at=DUE + 120)) == []
    assert alert_of(stage) is before
    request = command("explain_request", DUE + 180, text="?", command_id="c-2")
    stage.command(request)
    assert stage.command(request) == []
    assert len(alert_of(stage).explanations) == 1


def test_second_ack_with_a_new_id_changes_nothing_visible(stage: Stage) -> None:
    stage.signal(overdue(0))
    stage.command(command("ack", DUE + 60, command_id="c-1"))
    assert stage.command(command("ack", DUE + 90, command_id="c-2", sub="lanh-dao-02")) == []
    assert (alert_of(stage).acked_by, alert_of(stage).command_ids) == (
        "lanh-dao-01",
        ("c-1", "c-2"),
    )


def test_command_ids_remembered_are_bounded(stage: Stage) -> None:
    stage.signal(overdue(0))
    for index in range(MAX_COMMAND_IDS + 5):
        stage.command(command("explain_request", DUE + index, text="?", command_id=f"c-{index}"))
    ids = alert_of(stage).command_ids
    assert len(ids) == MAX_COMMAND_IDS
    assert ids[0] == "c-5" and ids[-1] == f"c-{MAX_COMMAND_IDS + 4}"


@pytest.mark.parametrize(
    ("cmd", "resolved", "reason"),
    [
        (
            command("ack", DUE + 60, scope="unit:P-BEN-THANH"),
            False,
            "only a leader can acknowledge an alert (sender scope is 'unit:P-BEN-THANH')",
        ),
        (
            command("ack", DUE + 60, scope="wall"),
            False,
            "the wall display is read-only; it cannot send commands",
        ),
        (
            command("ack", DUE + 60),
            True,
            f"alert {FP} is resolved; there is nothing to acknowledge",
        ),
        (
            command("explain_request", DUE + 60, text="?", scope="unit:P-BEN-THANH"),
            False,
            "only a leader can request an explanation (sender scope is 'unit:P-BEN-THANH')",
        ),
        (
            command("explain_answer", DUE + 60, text="x", scope="unit:P-BEN-THANH"),
            False,
            f"no explanation was requested on alert {FP}",
        ),
        (
            command("explain_answer", DUE + 60, text="x", scope="unit:P-SAI-GON"),
            False,
            f"only unit P-BEN-THANH can answer on alert {FP} (sender scope is 'unit:P-SAI-GON')",
        ),
        (
            command("explain_answer", DUE + 60, text="x", scope="leader"),
            False,
            f"only unit P-BEN-THANH can answer on alert {FP} (sender scope is 'leader')",
        ),
        (
            command("explain_request", DUE + 60, text="   "),
            False,
            "an explanation request or answer needs a non-empty 'text'",
        ),
        (
            command("ack", DUE + 60, alert="item_overdue:PA-OTHER"),
            False,
            f"command is for alert 'item_overdue:PA-OTHER', not '{FP}'",
        ),
        (
            command("unsilence", DUE + 60, silence_id="s-1"),
            False,
            "'unsilence' commands change silences, not one alert; use silence_from_command / end_silence",
        ),
    ],
)
def test_commands_rejected_with_exact_reasons(
    cmd: Command,
    resolved: bool,
    reason: str,
    config: RulesConfig,
    catalog: Catalog,
    calendar: WorkCalendar,
) -> None:
    kwargs: dict[str, Any] = dict(config=config, catalog=catalog, calendar=calendar)
    alert = on_signal(None, overdue(0), DUE, silences=[], **kwargs).alert
    if resolved:
        alert = on_signal(alert, overdue(0, active=False, at=DUE + 1), DUE + 1, silences=[], **kwargs).alert
    with pytest.raises(CommandRejected) as caught:
        on_command(alert, cmd, cmd.at, **kwargs)
    assert caught.value.reason == reason


def test_command_for_an_unknown_alert_is_rejected(
    config: RulesConfig, catalog: Catalog, calendar: WorkCalendar
) -> None:
    with pytest.raises(CommandRejected) as caught:
        on_command(None, command("ack", DUE), DUE, config=config, catalog=catalog, calendar=calendar)
    assert caught.value.reason == f"no such alert '{FP}' (never opened, or resolved and removed)"


def test_explanations_on_a_resolved_alert_are_kept(stage: Stage) -> None:
    stage.signal(overdue(0))
    stage.signal(overdue(0, active=False, at=DUE + HOUR))
    assert stage.command(command("explain_request", DUE + 2 * HOUR, text="Vì sao trễ?")) == [
        "explanation_requested"
    ]
    assert alert_of(stage).state is State.RESOLVED


# -- retention ------------------------------------------------------------------------------------


def test_resolved_alert_is_purged_after_retention(stage: Stage) -> None:
    stage.signal(overdue(0))
    stage.signal(overdue(0, active=False, at=DUE + HOUR))
    resolved = alert_of(stage)
    assert next_wakeup(resolved, now=DUE + HOUR, silences=[], config=stage.config) == DUE + 25 * HOUR
    assert on_tick(resolved, DUE + 25 * HOUR - 1, silences=[], config=stage.config) == Step(resolved, [])
    assert on_tick(resolved, DUE + 25 * HOUR, silences=[], config=stage.config) == Step(None, [])
    stage.advance(DUE + 26 * HOUR)
    assert FP not in stage.alerts
    assert stage.signal(overdue(0, at=DUE + 27 * HOUR)) == ["opened"]
    assert alert_of(stage).incident == 1


def test_resolution_processed_late_is_kept_until_redelivered_signals_are_committed(stage: Stage) -> None:
    """A backlog read long after its events: the purge instant has passed when it resolves.

    Deleting the record there and then would let a worker that dies before committing
    hand the escalation read just before the resolution to its successor, which would
    find no record and open a second incident.
    """
    late = DUE + 30 * HOUR  # the clock, a day past the events
    stage.signal(overdue(0), now=late)
    stage.signal(overdue(1, at=DUE + HOUR), now=late)
    stage.signal(overdue(1, active=False, at=DUE + 2 * HOUR), now=late)
    resolved = alert_of(stage)
    assert next_wakeup(resolved, now=late, silences=[], config=stage.config) == late + REDELIVERY_GUARD
    for now in (late, late + REDELIVERY_GUARD - 1):
        assert on_tick(resolved, now, silences=[], config=stage.config) == Step(resolved, [])

    assert stage.signal(overdue(1, at=DUE + HOUR), now=late + 60) == []  # the redelivery
    assert alert_of(stage) == resolved
    stage.advance(late + REDELIVERY_GUARD)
    assert FP not in stage.alerts


# -- unit alerts ----------------------------------------------------------------------------------


def test_unit_alert_numbers_refresh_quietly_and_clear_automatically(stage: Stage) -> None:
    key = "unit_on_time_rate:P-SAI-GON"
    assert stage.signal(on_time(0.72, DUE)) == ["opened"]
    assert stage.alerts[key].text_en == "72% of items resolved on time today (18/25); threshold 80%."
    assert stage.signal(on_time(0.68, DUE + 60)) == []
    refreshed = stage.alerts[key]
    assert refreshed.text_en == "68% of items resolved on time today (17/25); threshold 80%."
    assert refreshed.updated_at == DUE  # no visible change, no event
    assert stage.signal(on_time(0.84, DUE + 120, active=False)) == ["resolved"]


def test_severity_change_of_a_rule_is_an_update(stage: Stage) -> None:
    stage.signal(on_time(0.72, DUE))
    assert stage.signal(replace(on_time(0.72, DUE + 60), severity=Severity.CRITICAL)) == ["updated"]


# -- restarts and the whole pipeline --------------------------------------------------------------


def scenario(stage: Stage) -> list[tuple[float, str, str]]:
    """Overdue, escalations, a silence, an explanation, a transfer, an ack, resolution, purge."""
    stage.silence(Silence("s-1", "P-BEN-THANH", None, DUE + 30 * 60, DUE + 90 * 60, "lanh-dao-01", ""))
    stage.signal(overdue(0))
    stage.signal(overdue(1))
    stage.command(command("explain_request", STEP_AT[1] + HOUR, text="Báo cáo tiến độ"))
    stage.command(command("explain_answer", STEP_AT[1] + 2 * HOUR, scope="unit:P-BEN-THANH", text="Đang làm"))
    stage.signal(overdue(2))
    stage.signal(overdue(2, unit="P-TAN-DINH", at=STEP_AT[2] + HOUR))
    stage.command(command("ack", STEP_AT[2] + 2 * HOUR))
    stage.signal(overdue(3, unit="P-TAN-DINH"))
    stage.signal(overdue(3, unit="P-TAN-DINH", active=False, at=STEP_AT[3] + HOUR))
    stage.advance(STEP_AT[3] + 30 * HOUR)
    return stage.log


def test_restart_at_every_step_gives_the_same_outcome(
    config: RulesConfig, catalog: Catalog, calendar: WorkCalendar
) -> None:
    straight = scenario(Stage(config, catalog, calendar, now=DUE - HOUR))
    restarted = scenario(Stage(config, catalog, calendar, now=DUE - HOUR, restart=True))
    assert restarted == straight
    # Reminders run on clock time (every 4 h, day and night) from the last notification.
    assert [(when(at), kind) for at, kind, _ in straight] == [
        ("Tue 08 17:00", "opened"),
        ("Tue 08 17:30", "silenced"),
        ("Tue 08 18:30", "unsilenced"),
        ("Tue 08 22:30", "reminded"),
        ("Wed 09 02:30", "reminded"),
        ("Wed 09 06:30", "reminded"),
        ("Wed 09 10:30", "reminded"),
        ("Wed 09 11:30", "escalated"),
        ("Wed 09 12:30", "explanation_requested"),
        ("Wed 09 13:30", "explained"),
        ("Wed 09 15:30", "reminded"),
        ("Wed 09 19:30", "reminded"),
        ("Wed 09 23:30", "reminded"),
        ("Thu 10 03:30", "reminded"),
        ("Thu 10 07:30", "reminded"),
        ("Thu 10 11:30", "reminded"),  # the timer runs before the signal of the same instant
        ("Thu 10 11:30", "escalated"),
        ("Thu 10 12:30", "updated"),  # transferred to Phường Tân Định
        ("Thu 10 13:30", "acknowledged"),
        ("Mon 14 12:30", "resolved"),  # no step-3 escalation: acknowledged
    ]


def test_item_to_alert_pipeline_on_the_real_state_machine(
    config: RulesConfig, catalog: Catalog, calendar: WorkCalendar
) -> None:
    """Items and alerts driven only by their own timers after one event."""
    sla = SlaPolicy({}, CategorySla("default", "Khác", "Other", 10, 48, UnitClock.CONTINUE))
    policy = ItemPolicy(
        calendar, sla, catalog, config.deadline_policy(purge_after=35 * 86400.0, dedup_ids=32)
    )
    stage = Stage(config, catalog, calendar, now=local(12, 7, 8))
    received = Event(
        "e-1",
        ITEM,
        EventType.RECEIVED,
        local(12, 7, 8),
        unit="P-BEN-THANH",
        sla=Sla(working_days=1),
        title="Đèn đường hỏng",
    )
    item: Item | None = apply_event(None, received, policy).item
    until = local(12, 10, 12)
    while item is not None and (deadline := next_deadline(item, policy)) is not None and deadline.at <= until:
        outcome = apply_tick(item, deadline.at, policy)
        item = outcome.item
        assert item is not None
        for transition in outcome.transitions:
            for signal in item_signals(transition, item, config, catalog, calendar):
                stage.signal(signal, now=transition.at)
    stage.advance(until)
    assert [(when(at, seconds=True), kind, key) for at, kind, key in stage.log] == [
        ("Tue 08 13:07:30", "opened", f"item_due_soon:{ITEM}"),
        ("Tue 08 17:00:00", "resolved", f"item_due_soon:{ITEM}"),
        ("Tue 08 17:00:00", "opened", FP),
        ("Tue 08 21:00:00", "reminded", FP),
        ("Wed 09 01:00:00", "reminded", FP),
        ("Wed 09 05:00:00", "reminded", FP),
        ("Wed 09 09:00:00", "reminded", FP),
        ("Wed 09 11:30:00", "escalated", FP),
        ("Wed 09 15:30:00", "reminded", FP),
        ("Wed 09 19:30:00", "reminded", FP),
        ("Wed 09 23:30:00", "reminded", FP),
        ("Thu 10 03:30:00", "reminded", FP),
        ("Thu 10 07:30:00", "reminded", FP),
        ("Thu 10 11:30:00", "reminded", FP),
        ("Thu 10 11:30:00", "escalated", FP),
    ]
    assert alert_of(stage).facts["item_title"] == "Đèn đường hỏng"


def test_event_payloads_are_what_goes_on_gov_alerts(stage: Stage) -> None:
    step = on_signal(
        None,
        overdue(0),
        DUE,
        silences=[],
        config=stage.config,
        catalog=stage.catalog,
        calendar=stage.calendar,
    )
    [event] = step.events
    assert AlertEvent.decode(event.encode()) == event
    assert (event.fingerprint, event.type.value, event.at) == (FP, "opened", DUE)


# -- indicator alerts --------------------------------------------------------------------------

INDICATOR_FP = "indicator_at_risk:DT-GIAI-NGAN-PHUONG/P-BEN-THANH/2026"


def at_risk(active: bool, at: float, **facts: Any) -> Signal:
    base = {
        "indicator": "DT-GIAI-NGAN-PHUONG",
        "indicator_unit": "P-BEN-THANH",
        "period": "2026",
        "name_vi": "Giải ngân vốn đầu tư công phân cấp cho phường, xã",
        "name_en": "Public investment disbursed by the ward or commune",
        "measure": "tỷ đồng",
        "status": "red" if active else "orange",
        "current": 39.0,
        "projected": 130.0,
        "target": 150.0,
        "gap": -0.133,
        "run_rate": 0.86,
        "days_left": 129,
    }
    return Signal(
        fingerprint=INDICATOR_FP,
        rule=RuleName.INDICATOR_AT_RISK,
        active=active,
        at=at,
        unit="P-BEN-THANH",
        item_id=None,
        severity=Severity.WARNING,
        facts={**base, **facts},
    )


def test_an_indicator_alert_goes_through_explanation_ack_and_recovery(stage: Stage) -> None:
    assert stage.signal(at_risk(True, DUE)) == ["opened"]
    opened = stage.alerts[INDICATOR_FP]
    assert (
        opened.title_en
        == "Indicator at risk: Public investment disbursed by the ward or commune – Ben Thanh Ward"
    )
    assert "Needs 0.9 tỷ đồng per working day for the 129 left." in opened.text_en
    assert opened.audience == ("wall", "leaders", "unit:P-BEN-THANH")

    request = command("explain_request", DUE + HOUR, alert=INDICATOR_FP, text="Vì sao giải ngân chậm?")
    answer = command(
        "explain_answer",
        DUE + 2 * HOUR,
        alert=INDICATOR_FP,
        scope="unit:P-BEN-THANH",
        text="Chờ <i>GPMB</i>.",
    )
    assert stage.command(request) == ["explanation_requested"]
    assert stage.command(answer) == ["explained"]
    assert stage.command(command("ack", DUE + 3 * HOUR, alert=INDICATOR_FP)) == ["acknowledged"]

    assert stage.signal(at_risk(False, DUE + 30 * 86400, recovered=True, projected=151.0)) == ["resolved"]
    resolved = stage.alerts[INDICATOR_FP]
    assert resolved.state is State.RESOLVED and resolved.facts["recovered"] is True
    assert resolved.title_en.startswith("Indicator recovered: ")
    assert [e.kind for e in resolved.explanations] == ["request", "answer"]
