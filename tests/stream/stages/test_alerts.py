"""The alert stage's pure processor: signals, commands and ticks → table writes, events, board, wake-ups.

:class:`Stage` plays the alerts agent without Kafka (see tests/reliability/test_redelivery.py):
each batch goes through :meth:`AlertProcessor.process`, and its alert and silence writes land
in dict "tables" the way the agent applies them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import pytest

from alerts.config import RulesConfig
from alerts.inquiries import inquiry_fingerprint
from alerts.model import Alert, AlertEventType, Explanation, Severity, Signal, Silence, State
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.events import format_instant, parse_instant
from domain.indicators.catalog import IndicatorCatalog
from stream.stages.alerts import COMMAND, SIGNAL, AlertBatchResult, AlertProcessor
from stream.stages.items import DeadLetter, Message
from stream.transitions import Tick

DATA = Path(str(resources.files("domain").joinpath("data")))
RULES = RulesConfig.from_file(Path(str(resources.files("alerts").joinpath("data", "rules.toml"))))
CATALOG = Catalog.from_file(DATA / "units.json")
CALENDAR = WorkCalendar.from_file(DATA / "calendar.toml")

HOUR = 3600.0
REMIND = 4 * HOUR  # reminders.repeat_interval of the packaged rules
KEEP = 24 * HOUR  # retention.resolved_alerts
UNIT, OTHER = "P-PHU-LOI", "P-BEN-THANH"
P = 3  # the partition of the alert under test
#: Tuesday 08/12/2026 17:00, the deadline of every item here.
DUE = parse_instant("2026-12-08T17:00:00+07:00")
ITEM = "PA-2026-000001"
FP = f"item_overdue:{ITEM}"
SEVERITY = {0: Severity.WARNING, 1: Severity.WARNING, 2: Severity.CRITICAL, 3: Severity.CRITICAL}


def overdue(
    item: str = ITEM, *, unit: str = UNIT, active: bool = True, at: float = DUE, level: int = 0
) -> Signal:
    return Signal(
        fingerprint=f"item_overdue:{item}",
        rule="item_overdue",
        active=active,
        at=at,
        unit=unit,
        item_id=item,
        severity=SEVERITY[level],
        escalation=level,
        facts={
            "item_title": "Rác <b>thải</b>",
            "unit": unit,
            "due": DUE,
            "overdue_at": DUE,
            "appointment_at": None,
            "escalation": level,
            "working_seconds_late": 0.0,
        },
    )


def due_soon(item: str = ITEM, *, at: float = DUE - 8 * HOUR) -> Signal:
    return Signal(
        fingerprint=f"item_due_soon:{item}",
        rule="item_due_soon",
        active=True,
        at=at,
        unit=UNIT,
        item_id=item,
        severity=Severity.INFO,
        facts={"item_title": "Đèn đường hỏng", "unit": UNIT, "due": DUE, "share": 0.75},
    )


def command_body(
    type_: str, *, at: float, scope: str = "leader", cid: str | None = None, **fields: Any
) -> Any:
    return {
        "command_id": cid or f"{type_}-{at:.0f}",
        "type": type_,
        "by": {"scope": scope, "sub": "lanh-dao-01" if scope == "leader" else "can-bo-07"},
        "at": format_instant(at),
        **fields,
    }


def silence_body(sid: str, *, at: float, ends_at: float, scope: str = "leader", **silence: Any) -> Any:
    fields = {"id": sid, "ends_at": format_instant(ends_at), "reason": "bảo trì", **silence}
    return command_body("silence", at=at, scope=scope, cid=f"cmd-{sid}", silence=fields)


class Stage:
    """The alerts agent in miniature: one processor, its alert and silence tables."""

    def __init__(self) -> None:
        self.table: dict[bytes, bytes] = {}
        self.silences: dict[bytes, bytes] = {}
        self.processor = AlertProcessor(rules=RULES, catalog=CATALOG, calendar=CALENDAR, load=self.table.get)
        self._offset = 0

    def message(self, source: str, partition: int, key: str, value: bytes | None) -> Message:
        self._offset += 1
        topic = "gov.signals" if source == SIGNAL else "gov.commands"
        return Message(source, topic, partition, self._offset, key.encode(), value)

    def signal(self, signal: Signal, *, partition: int = P) -> Message:
        return self.message(SIGNAL, partition, signal.fingerprint, signal.encode())

    def command(self, body: Any, *, partition: int = P, key: str = FP) -> Message:
        return self.message(COMMAND, partition, key, orjson.dumps(body))

    def tick(self, fingerprint: str | None, *, at: float, partition: int = P) -> Message:
        return self.message(SIGNAL, partition, fingerprint or "", Tick(at, fingerprint).encode())

    def run(self, *messages: Message, now: float) -> AlertBatchResult:
        result = self.processor.process(list(messages), now=now)
        for writes in result.writes.values():
            for key, value in writes.items():
                if value is None:
                    self.table.pop(key, None)
                else:
                    self.table[key] = value
        for silence_writes in result.silence_writes.values():
            self.silences.update(silence_writes)
        return result

    def alert(self, fingerprint: str = FP) -> Alert:
        return Alert.decode(self.table[fingerprint.encode()])


def types(result: AlertBatchResult) -> list[str]:
    return [event.type.value for event in result.events]


@pytest.fixture
def stage() -> Stage:
    return Stage()


@pytest.fixture
def firing(stage: Stage) -> Stage:
    """A stage holding one firing overdue alert (``FP``, partition ``P``), opened at ``DUE``."""
    stage.run(stage.signal(overdue()), now=DUE)
    return stage


# -- signals --------------------------------------------------------------------------------------


def test_active_signal_opens_a_firing_alert_in_the_table_on_the_board_with_its_reminder(stage: Stage) -> None:
    result = stage.run(stage.signal(overdue()), now=DUE + 1)

    alert = stage.alert()
    assert types(result) == ["opened"]
    assert result.events[0].alert == alert
    assert result.writes == {P: {FP.encode(): alert.encode()}}
    assert (alert.state, alert.opened_at, alert.notified_at, alert.incident) == (
        State.FIRING,
        DUE,
        DUE + 1,
        1,
    )
    assert alert.audience == ("wall", "leaders", f"unit:{UNIT}")
    assert result.board == {FP: (UNIT, alert.to_board(CATALOG))}
    board = result.board[FP][1]
    assert board is not None and board["unit_name_en"] == "Phu Loi Ward"
    assert result.schedule == [(P, FP, DUE + 1 + REMIND)]
    assert result.dead_letters == []
    assert stage.processor.active(P) == {FP}


def test_inactive_signal_resolves_the_alert_takes_it_off_the_board_and_schedules_its_purge(
    firing: Stage,
) -> None:
    result = firing.run(firing.signal(overdue(active=False, at=DUE + 2 * HOUR)), now=DUE + 2 * HOUR + 1)

    alert = firing.alert()
    assert types(result) == ["resolved"]
    assert (alert.state, alert.resolved_at) == (State.RESOLVED, DUE + 2 * HOUR)
    assert result.writes == {P: {FP.encode(): alert.encode()}}
    assert result.board == {FP: (UNIT, None)}
    assert result.schedule == [(P, FP, DUE + 2 * HOUR + KEEP)]
    assert firing.processor.active(P) == set()


@pytest.mark.parametrize(
    ("signals", "expected", "incident", "wakeup"),
    [
        pytest.param([overdue()], ["opened"], 1, "remind", id="open"),
        pytest.param([overdue(), overdue()], ["opened"], 1, "remind", id="repeat is deduplicated"),
        pytest.param([overdue(), overdue(level=1)], ["opened", "escalated"], 1, "remind", id="escalate"),
        pytest.param(
            [overdue(), overdue(level=2), overdue(level=1)],
            ["opened", "escalated"],
            1,
            "remind",
            id="stale step",
        ),
        pytest.param([overdue(), overdue(active=False)], ["opened", "resolved"], 1, "purge", id="resolve"),
        pytest.param(
            [overdue(), overdue(active=False), overdue(active=False)],
            ["opened", "resolved"],
            1,
            "purge",
            id="resolve twice",
        ),
        pytest.param(
            [overdue(), overdue(active=False, at=DUE + HOUR), overdue(at=DUE + 2 * HOUR)],
            ["opened", "resolved", "opened"],
            2,
            "remind",
            id="fires again: next incident",
        ),
        pytest.param(
            [overdue(), overdue(active=False, at=DUE + HOUR), overdue(at=DUE + HOUR)],
            ["opened", "resolved"],
            1,
            "purge",
            id="redelivered signal dated at the resolution",
        ),
        pytest.param([due_soon()], ["opened"], 1, None, id="info: no reminder"),
    ],
)
def test_signals_in_one_batch_give_the_lifecycle_events_and_the_next_wakeup(
    stage: Stage, signals: list[Signal], expected: list[str], incident: int, wakeup: str | None
) -> None:
    now = DUE + 3 * HOUR
    result = stage.run(*(stage.signal(s) for s in signals), now=now)

    fingerprint = signals[0].fingerprint
    alert = stage.alert(fingerprint)
    assert types(result) == expected
    assert alert.incident == incident
    assert list(result.writes) == [P] and list(result.writes[P]) == [fingerprint.encode()]
    at = {"remind": now + REMIND, "purge": (alert.resolved_at or 0.0) + KEEP, None: None}[wakeup]
    assert result.schedule == [(P, fingerprint, at)]  # one per touched key, after the whole batch


def test_inactive_signal_without_an_alert_changes_nothing_visible(stage: Stage) -> None:
    result = stage.run(stage.signal(overdue(active=False)), now=DUE)

    assert types(result) == []
    assert result.board == {}
    assert result.writes == {P: {FP.encode(): None}}  # no record before, none after
    assert result.schedule == [(P, FP, None)]
    assert stage.table == {}


def test_each_alert_is_written_to_the_partition_of_its_message(stage: Stage) -> None:
    result = stage.run(
        stage.signal(overdue("PA-1"), partition=0),
        stage.signal(overdue("PA-2"), partition=1),
        stage.signal(overdue("PA-2", level=1), partition=1),
        now=DUE,
    )

    assert {p: sorted(keys) for p, keys in result.writes.items()} == {
        0: [b"item_overdue:PA-1"],
        1: [b"item_overdue:PA-2"],
    }
    assert types(result) == ["opened", "opened", "escalated"]
    assert stage.processor.active(0) == {"item_overdue:PA-1"}
    assert stage.processor.active(1) == {"item_overdue:PA-2"}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param(None, "not a valid message: message has no value", id="no value"),
        pytest.param(b"[1, 2]", "not a valid message: expected a JSON object", id="not an object"),
        pytest.param(
            b'{"fingerprint": "item_overdue:PA-1"}', "not a valid message: 'rule'", id="missing field"
        ),
        pytest.param(
            orjson.dumps({**overdue().to_json(), "severity": "bogus"}),
            "not a valid message: 'bogus' is not a valid Severity",
            id="bad severity",
        ),
    ],
)
def test_invalid_signal_is_dead_lettered_with_a_reason_and_the_batch_goes_on(
    stage: Stage, value: bytes | None, reason: str
) -> None:
    bad = stage.message(SIGNAL, P, FP, value)
    result = stage.run(bad, stage.signal(overdue("PA-2")), now=DUE)

    assert result.dead_letters == [DeadLetter(bad, reason, stage="alerts")]
    assert types(result) == ["opened"]
    assert list(result.writes[P]) == [b"item_overdue:PA-2"]


def test_signal_that_is_not_json_is_dead_lettered(stage: Stage) -> None:
    bad = stage.message(SIGNAL, P, FP, b"{not json")
    result = stage.run(bad, now=DUE)

    assert [letter.message for letter in result.dead_letters] == [bad]
    # The rest of the reason is orjson's own message.
    assert result.dead_letters[0].reason.startswith("not a valid message: unexpected character")
    assert (result.writes, result.events, result.board, result.schedule) == ({}, [], {}, [])


# -- ack and explanation commands -----------------------------------------------------------------


def test_ack_from_a_leader_acknowledges_updates_the_board_and_stops_reminders(firing: Stage) -> None:
    at = DUE + HOUR
    result = firing.run(firing.command(command_body("ack", at=at, alert=FP, cid="ack-1")), now=at + 1)

    alert = firing.alert()
    assert types(result) == ["acknowledged"]
    assert (alert.state, alert.acked_at, alert.acked_by, alert.command_ids) == (
        State.ACKNOWLEDGED,
        at,
        "lanh-dao-01",
        ("ack-1",),
    )
    assert result.board == {FP: (UNIT, alert.to_board(CATALOG))}
    assert result.schedule == [(P, FP, None)]
    assert result.dead_letters == []
    assert firing.processor.active(P) == {FP}


def test_acknowledged_alert_does_not_escalate(firing: Stage) -> None:
    firing.run(firing.command(command_body("ack", at=DUE + HOUR, alert=FP)), now=DUE + HOUR)

    result = firing.run(firing.signal(overdue(level=1, at=DUE + 4 * HOUR)), now=DUE + 20 * HOUR)

    assert types(result) == []
    assert (firing.alert().escalation, firing.alert().state) == (0, State.ACKNOWLEDGED)


@pytest.mark.parametrize(
    "second",
    [
        pytest.param("ack-1", id="same command redelivered"),
        pytest.param("ack-2", id="another leader acks again"),
    ],
)
def test_a_second_ack_is_a_quiet_no_op(firing: Stage, second: str) -> None:
    firing.run(firing.command(command_body("ack", at=DUE + HOUR, alert=FP, cid="ack-1")), now=DUE + HOUR)
    before = firing.alert()

    result = firing.run(
        firing.command(command_body("ack", at=DUE + HOUR, alert=FP, cid=second)), now=DUE + HOUR
    )

    assert (types(result), result.dead_letters) == ([], [])
    assert firing.alert().acked_at == before.acked_at
    assert firing.alert().command_ids == tuple(dict.fromkeys(("ack-1", second)))


def test_explanation_request_and_the_units_answer_are_kept_with_the_alert(firing: Stage) -> None:
    ask, answer = DUE + HOUR, DUE + 2 * HOUR
    request = command_body("explain_request", at=ask, alert=FP, text="Vì sao trễ hạn?")
    reply = command_body(
        "explain_answer", at=answer, scope=f"unit:{UNIT}", alert=FP, text="Chờ <i>vật tư</i>"
    )

    first = firing.run(firing.command(request), now=ask)
    second = firing.run(firing.command(reply), now=answer)

    alert = firing.alert()
    assert (types(first), types(second)) == (["explanation_requested"], ["explained"])
    assert alert.explanations == (
        Explanation("request", "lanh-dao-01", "Vì sao trễ hạn?", ask),
        Explanation("answer", "can-bo-07", "Chờ <i>vật tư</i>", answer),
    )
    assert second.board == {FP: (UNIT, alert.to_board(CATALOG))}
    assert alert.state is State.FIRING  # an explanation is not an acknowledgement


ASK = command_body("explain_request", at=DUE + HOUR, alert=FP, text="Vì sao?", cid="ask")


@pytest.mark.parametrize(
    ("before", "body", "reason"),
    [
        pytest.param(
            [],
            command_body("ack", at=DUE, scope=f"unit:{UNIT}", alert=FP),
            f"only a leader can acknowledge an alert (sender scope is 'unit:{UNIT}')",
            id="unit acks",
        ),
        pytest.param(
            [],
            command_body("ack", at=DUE, scope="wall", alert=FP),
            "the wall display is read-only; it cannot send commands",
            id="wall acks",
        ),
        pytest.param(
            [],
            command_body("ack", at=DUE, alert="item_overdue:PA-404"),
            "no such alert 'item_overdue:PA-404' (never opened, or resolved and removed)",
            id="unknown alert",
        ),
        pytest.param(
            [overdue(active=False, at=DUE + 60)],
            command_body("ack", at=DUE + HOUR, alert=FP),
            f"alert {FP} is resolved; there is nothing to acknowledge",
            id="resolved alert",
        ),
        pytest.param(
            [],
            command_body("explain_request", at=DUE, scope=f"unit:{UNIT}", alert=FP, text="?"),
            f"only a leader can request an explanation (sender scope is 'unit:{UNIT}')",
            id="unit requests an explanation",
        ),
        pytest.param(
            [],
            command_body("explain_answer", at=DUE, scope=f"unit:{UNIT}", alert=FP, text="Đã xử lý"),
            f"no explanation was requested on alert {FP}",
            id="answer without a request",
        ),
        pytest.param(
            [ASK],
            command_body("explain_answer", at=DUE + HOUR, scope=f"unit:{OTHER}", alert=FP, text="Không phải"),
            f"only unit {UNIT} can answer on alert {FP} (sender scope is 'unit:{OTHER}')",
            id="another unit answers",
        ),
        pytest.param(
            [ASK],
            command_body("explain_answer", at=DUE + HOUR, alert=FP, text="Lãnh đạo trả lời"),
            f"only unit {UNIT} can answer on alert {FP} (sender scope is 'leader')",
            id="a leader answers for the unit",
        ),
        pytest.param(
            [],
            command_body("explain_request", at=DUE, alert=FP, text="  "),
            "field 'text' is empty",
            id="blank text",
        ),
        pytest.param([], command_body("ack", at=DUE), "missing required field 'alert'", id="no alert"),
        pytest.param(
            [],
            command_body("snooze", at=DUE, alert=FP),
            "unknown command type 'snooze'; expected one of: ack, explain_request, explain_answer, "
            "silence, unsilence",
            id="unknown type",
        ),
        pytest.param(
            [],
            command_body("ack", at=DUE, scope="admin", alert=FP),
            "field 'by.scope' = 'admin' must be 'leader', 'wall' or 'unit:<code>'",
            id="unknown scope",
        ),
        pytest.param(
            [],
            {**command_body("ack", at=DUE, alert=FP), "at": "2026-12-08 17:00"},
            "field 'at' = '2026-12-08 17:00' is not an RFC 3339 instant with an offset "
            "(e.g. 2026-11-26T09:30:00+07:00)",
            id="bad instant",
        ),
        pytest.param(
            [],
            {k: v for k, v in command_body("ack", at=DUE, alert=FP).items() if k != "by"},
            'field \'by\' must be an object {"scope": …, "sub": …}',
            id="no sender",
        ),
        pytest.param([], [1, 2], "command must be a JSON object", id="not an object"),
    ],
)
def test_invalid_or_out_of_scope_command_is_dead_lettered_with_its_reason_and_changes_nothing(
    firing: Stage, before: list[Signal | dict[str, Any]], body: Any, reason: str
) -> None:
    for step in before:
        message = firing.signal(step) if isinstance(step, Signal) else firing.command(step)
        assert firing.run(message, now=DUE + HOUR).dead_letters == []
    stored = dict(firing.table)
    bad = firing.command(body)

    result = firing.run(bad, now=DUE + HOUR)

    assert result.dead_letters == [DeadLetter(bad, reason, stage="alerts")]
    assert (result.writes, result.events, result.board, result.schedule) == ({}, [], {}, [])
    assert firing.table == stored


@pytest.mark.parametrize(
    ("value", "reason_start"),
    [
        pytest.param(b"{not json", "command is not valid JSON (UTF-8): ", id="not JSON"),
        pytest.param(b"\xff\xfe{}", "command is not valid JSON (UTF-8): ", id="not UTF-8"),
        pytest.param(
            b'{"x": "' + b"a" * 16400 + b'"}', "command is 16409 bytes, over the limit of 16384", id="big"
        ),
        pytest.param(None, "not a valid message: message has no value", id="no value"),
    ],
)
def test_unreadable_command_is_dead_lettered(stage: Stage, value: bytes | None, reason_start: str) -> None:
    bad = stage.message(COMMAND, P, FP, value)
    result = stage.run(bad, now=DUE)

    assert [letter.message for letter in result.dead_letters] == [bad]
    assert result.dead_letters[0].reason.startswith(reason_start)
    assert result.dead_letters[0].stage == "alerts"


# -- silences ---------------------------------------------------------------------------------------


def test_a_silence_broadcast_to_every_partition_silences_the_covered_alerts_of_each(stage: Stage) -> None:
    stage.run(
        stage.signal(overdue("PA-1"), partition=0),
        stage.signal(overdue("PA-2"), partition=1),
        stage.signal(overdue("PA-3", unit=OTHER), partition=0),
        now=DUE,
    )
    at, ends = DUE + HOUR, DUE + 3 * HOUR
    body = silence_body("bao-tri-1", at=at, ends_at=ends, unit=UNIT)
    silence = Silence("bao-tri-1", UNIT, None, at, ends, "lanh-dao-01", "bảo trì")

    on_0 = stage.run(stage.command(body, partition=0, key="bao-tri-1"), now=at)
    on_1 = stage.run(stage.command(body, partition=1, key="bao-tri-1"), now=at + 0.5)

    assert [(e.fingerprint, e.type) for e in on_0.events] == [("item_overdue:PA-1", AlertEventType.SILENCED)]
    assert [(e.fingerprint, e.type) for e in on_1.events] == [("item_overdue:PA-2", AlertEventType.SILENCED)]
    assert on_0.silence_writes == {0: {b"bao-tri-1@0": silence.encode()}}
    assert on_1.silence_writes == {1: {b"bao-tri-1@1": silence.encode()}}
    assert stage.processor.silences == {"bao-tri-1": silence}
    assert stage.alert("item_overdue:PA-1").silenced and stage.alert("item_overdue:PA-2").silenced
    assert not stage.alert("item_overdue:PA-3").silenced
    assert on_0.board["item_overdue:PA-1"][1] is not None and on_0.board["item_overdue:PA-1"][1]["silenced"]
    # While silenced there is no reminder: the next wake-up is the end of the silence.
    assert on_0.schedule == [(0, "item_overdue:PA-1", ends)]
    assert on_1.schedule == [(1, "item_overdue:PA-2", ends)]


def test_an_alert_opening_during_a_silence_opens_silenced_on_any_partition(stage: Stage) -> None:
    at, ends = DUE - HOUR, DUE + 3 * HOUR
    stage.run(
        stage.command(silence_body("s1", at=at, ends_at=ends, rule="item_overdue"), partition=0), now=at
    )

    result = stage.run(stage.signal(overdue("PA-7"), partition=2), now=DUE)

    alert = stage.alert("item_overdue:PA-7")
    assert types(result) == ["opened"]
    assert (alert.silenced, alert.notified_at) == (True, None)
    assert result.schedule == [(2, "item_overdue:PA-7", ends)]


def test_a_silence_covers_an_alert_opened_earlier_in_the_same_batch(stage: Stage) -> None:
    at, ends = DUE + 60, DUE + 3 * HOUR
    result = stage.run(
        stage.signal(overdue()),
        stage.command(silence_body("s1", at=at, ends_at=ends, unit=UNIT), key="s1"),
        now=at,
    )

    assert types(result) == ["opened", "silenced"]
    assert stage.alert().silenced


def test_unsilence_ends_the_silence_and_reminders_resume(stage: Stage) -> None:
    at, ends = DUE + HOUR, DUE + 8 * HOUR
    stage.run(stage.signal(overdue()), now=DUE)
    stage.run(stage.command(silence_body("s1", at=at, ends_at=ends, unit=UNIT), key="s1"), now=at)
    end_at = DUE + 2 * HOUR
    body = command_body("unsilence", at=end_at, silence_id="s1")

    result = stage.run(stage.command(body, key="s1"), now=end_at)

    assert types(result) == ["unsilenced"]
    assert stage.processor.silences["s1"].ends_at == end_at
    assert result.silence_writes == {P: {b"s1@3": stage.processor.silences["s1"].encode()}}
    assert stage.alert().notified_at == end_at
    assert result.schedule == [(P, FP, end_at + REMIND)]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(
            silence_body("s1", at=DUE, ends_at=DUE + HOUR, scope=f"unit:{UNIT}", unit=UNIT),
            f"only a leader can create a silence (sender scope is 'unit:{UNIT}')",
            id="from a unit",
        ),
        pytest.param(
            silence_body("s1", at=DUE, ends_at=DUE + HOUR, unit="P-ATLANTIS"),
            "silence unit 'P-ATLANTIS' is not in the unit catalog",
            id="unknown unit",
        ),
        pytest.param(
            silence_body("s1", at=DUE, ends_at=DUE + HOUR),
            "a silence needs 'unit' or 'rule' (or both); silencing every alert is not allowed",
            id="everything",
        ),
        pytest.param(
            silence_body("s1", at=DUE, ends_at=DUE - HOUR, unit=UNIT),
            "silence 'ends_at' must be after 'starts_at'",
            id="ends before it starts",
        ),
        pytest.param(
            silence_body("s1", at=DUE, ends_at=DUE + 40 * 86400, unit=UNIT),
            "a silence can last at most 31d; set an earlier 'ends_at'",
            id="too long",
        ),
        pytest.param(
            command_body("unsilence", at=DUE, silence_id="nope"),
            "no such silence 'nope'",
            id="unknown silence",
        ),
    ],
)
def test_invalid_silence_is_dead_lettered_and_no_silence_is_kept(
    firing: Stage, body: Any, reason: str
) -> None:
    bad = firing.command(body, key="s1")
    result = firing.run(bad, now=DUE)

    assert result.dead_letters == [DeadLetter(bad, reason, stage="alerts")]
    assert (result.silence_writes, result.events, firing.processor.silences) == ({}, [], {})
    assert not firing.alert().silenced


def test_reset_reloads_silences_from_their_records_and_skips_unreadable_ones(stage: Stage) -> None:
    silence = Silence("s1", UNIT, None, DUE, DUE + HOUR, "lanh-dao-01", "")
    stage.processor.rebuild(P, [], now=DUE)
    stage.processor.active(P).add(FP)

    stage.processor.reset([silence.encode(), b"{broken", silence.encode()])

    assert stage.processor.silences == {"s1": silence}
    assert stage.processor.active(P) == set()


# -- ticks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "expected", "reminders", "wakeup_after"),
    [
        pytest.param(REMIND - 1, [], 0, REMIND, id="before the reminder: unchanged"),
        pytest.param(REMIND, ["reminded"], 1, 2 * REMIND, id="at the reminder"),
        pytest.param(REMIND + 600, ["reminded"], 1, 2 * REMIND + 600, id="late tick: next counts from it"),
    ],
)
def test_tick_reminds_a_firing_alert_and_schedules_the_next_reminder(
    firing: Stage, after: float, expected: list[str], reminders: int, wakeup_after: float
) -> None:
    now = DUE + after
    result = firing.run(firing.tick(FP, at=now), now=now)

    assert types(result) == expected
    assert firing.alert().reminders == reminders
    assert result.schedule == [(P, FP, DUE + wakeup_after)]
    assert result.board == {FP: (UNIT, firing.alert().to_board(CATALOG))}


def test_ticks_at_each_wakeup_remind_until_the_ack(firing: Stage) -> None:
    seen: list[tuple[float, list[str]]] = []
    wakeup: float | None = DUE + REMIND
    while wakeup is not None and wakeup < DUE + 3.5 * REMIND:
        result = firing.run(firing.tick(FP, at=wakeup), now=wakeup)
        seen.append((wakeup - DUE, types(result)))
        [(_, _, wakeup)] = result.schedule
    acked = firing.run(firing.command(command_body("ack", at=DUE + 13 * HOUR, alert=FP)), now=DUE + 13 * HOUR)

    assert seen == [(REMIND, ["reminded"]), (2 * REMIND, ["reminded"]), (3 * REMIND, ["reminded"])]
    assert acked.schedule == [(P, FP, None)]
    assert firing.run(firing.tick(FP, at=DUE + 4 * REMIND), now=DUE + 4 * REMIND).events == []


def test_tick_at_silence_boundaries_flags_and_unflags_the_alert(firing: Stage) -> None:
    starts, ends = DUE + HOUR, DUE + 2 * HOUR
    set_at = DUE + 60
    body = silence_body("s1", at=set_at, ends_at=ends, unit=UNIT, starts_at=format_instant(starts))
    queued = firing.run(firing.command(body, key="s1"), now=set_at)

    at_start = firing.run(firing.tick(FP, at=starts), now=starts)
    at_end = firing.run(firing.tick(FP, at=ends), now=ends)

    assert (types(queued), queued.schedule) == ([], [(P, FP, starts)])
    assert (types(at_start), at_start.schedule) == (["silenced"], [(P, FP, ends)])
    assert (types(at_end), at_end.schedule) == (["unsilenced"], [(P, FP, ends + REMIND)])


def test_tick_after_the_retention_of_a_resolved_alert_deletes_it(firing: Stage) -> None:
    resolved_at = DUE + HOUR
    firing.run(firing.signal(overdue(active=False, at=resolved_at)), now=resolved_at)

    early = firing.run(firing.tick(FP, at=resolved_at + KEEP - 1), now=resolved_at + KEEP - 1)
    purge = firing.run(firing.tick(FP, at=resolved_at + KEEP), now=resolved_at + KEEP)

    assert (types(early), early.schedule) == ([], [(P, FP, resolved_at + KEEP)])
    assert early.board == {FP: (UNIT, None)}
    assert (types(purge), purge.writes, purge.board) == ([], {P: {FP.encode(): None}}, {})
    assert purge.schedule == [(P, FP, None)]
    assert firing.table == {}


def test_tick_without_a_key_is_ignored(firing: Stage) -> None:
    result = firing.run(firing.tick(None, at=DUE + REMIND), now=DUE + REMIND)

    assert (result.writes, result.events, result.board, result.schedule, result.dead_letters) == (
        {},
        [],
        {},
        [],
        [],
    )


# -- rebuild -----------------------------------------------------------------------------------------


def test_rebuild_indexes_the_stored_alerts_and_returns_their_wakeups(stage: Stage) -> None:
    silence = Silence("s1", OTHER, None, DUE, DUE + 5 * HOUR, "lanh-dao-01", "")
    stage.processor.reset([silence.encode()])
    stage.run(stage.signal(overdue("PA-1")), now=DUE)
    firing_alert = stage.alert("item_overdue:PA-1")
    stage.run(
        stage.signal(overdue("PA-2")),
        stage.command(command_body("ack", at=DUE, alert="item_overdue:PA-2"), key="item_overdue:PA-2"),
        now=DUE,
    )
    stage.run(stage.signal(overdue("PA-3")), now=DUE)
    stage.run(stage.signal(overdue("PA-3", active=False, at=DUE + HOUR)), now=DUE + HOUR)
    stage.run(stage.signal(overdue("PA-4", unit=OTHER)), now=DUE)
    stored = [(key, stage.table[key]) for key in sorted(stage.table)]
    stored.insert(2, (b"item_overdue:PA-9", b"{not an alert"))

    fresh = AlertProcessor(rules=RULES, catalog=CATALOG, calendar=CALENDAR, load=stage.table.get)
    fresh.reset([silence.encode()])
    wakeups = fresh.rebuild(P, stored, now=DUE + 2 * HOUR)

    assert wakeups == [
        ("item_overdue:PA-1", (firing_alert.notified_at or 0.0) + REMIND),
        ("item_overdue:PA-2", None),  # acknowledged: time alone changes nothing
        ("item_overdue:PA-3", DUE + HOUR + KEEP),  # resolved: its purge
        ("item_overdue:PA-4", DUE + 5 * HOUR),  # silenced: the end of its silence
    ]
    assert fresh.active(P) == {"item_overdue:PA-1", "item_overdue:PA-2", "item_overdue:PA-4"}
    assert fresh.active(0) == set()


def test_rebuilt_alerts_are_reached_by_a_later_silence(stage: Stage) -> None:
    stage.run(stage.signal(overdue("PA-1")), stage.signal(overdue("PA-2", unit=OTHER)), now=DUE)
    fresh = AlertProcessor(rules=RULES, catalog=CATALOG, calendar=CALENDAR, load=stage.table.get)
    fresh.rebuild(P, list(stage.table.items()), now=DUE)

    body = silence_body("s1", at=DUE + 60, ends_at=DUE + HOUR, unit=OTHER)
    result = fresh.process([stage.command(body, key="s1")], now=DUE + 60)

    assert [(e.fingerprint, e.type.value) for e in result.events] == [("item_overdue:PA-2", "silenced")]


def test_rebuild_replaces_the_partitions_previous_index(firing: Stage) -> None:
    assert firing.processor.active(P) == {FP}

    assert firing.processor.rebuild(P, [], now=DUE) == []

    assert firing.processor.active(P) == set()


# -- explanation requests on any indicator ---------------------------------------------------------

INDICATORS = IndicatorCatalog.from_file(DATA / "indicators.toml", CATALOG)
INQUIRY = inquiry_fingerprint("SO-1022-DUNG-HAN", UNIT, "2026-12")


def test_a_leader_request_on_any_indicator_opens_an_alert_for_the_owner_who_answers_it() -> None:
    stage = Stage()
    stage.processor = AlertProcessor(
        rules=RULES, catalog=CATALOG, calendar=CALENDAR, load=stage.table.get, indicators=INDICATORS
    )
    request = command_body("explain_request", at=DUE, alert=INQUIRY, text="Vì sao?")
    opened = stage.run(stage.command(request, key=INQUIRY), now=DUE)
    assert types(opened) == ["opened", "explanation_requested"]
    alert = stage.alert(INQUIRY)
    assert (alert.rule, alert.unit, alert.state) == ("indicator_explanation", UNIT, State.FIRING)
    assert opened.board[INQUIRY][0] == UNIT and f"unit:{UNIT}" in alert.audience

    foreign = command_body("explain_answer", at=DUE + HOUR, scope=f"unit:{OTHER}", alert=INQUIRY, text="x")
    refused = stage.run(stage.command(foreign, key=INQUIRY), now=DUE + HOUR)
    assert [letter.reason for letter in refused.dead_letters] == [
        f"only unit {UNIT} can answer on alert {INQUIRY} (sender scope is 'unit:{OTHER}')"
    ]

    answer = command_body("explain_answer", at=DUE + HOUR, scope=f"unit:{UNIT}", alert=INQUIRY, text="Đã rõ")
    answered = stage.run(stage.command(answer, key=INQUIRY), now=DUE + HOUR)
    assert types(answered) == ["explained", "resolved"]
    assert stage.alert(INQUIRY).state is State.RESOLVED


def test_without_the_indicator_catalog_an_inquiry_is_refused_as_unknown(stage: Stage) -> None:
    request = command_body("explain_request", at=DUE, alert=INQUIRY, text="Vì sao?")
    result = stage.run(stage.command(request, key=INQUIRY), now=DUE)
    assert [letter.reason for letter in result.dead_letters] == [
        f"no such alert {INQUIRY!r} (never opened, or resolved and removed)"
    ]
