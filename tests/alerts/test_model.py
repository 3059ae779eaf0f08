from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import pytest

from alerts.errors import CommandRejected
from alerts.model import (
    INDICATOR_RULES,
    ITEM_RULES,
    UNIT_RULES,
    Alert,
    AlertEvent,
    AlertEventType,
    Command,
    CommandType,
    Explanation,
    RuleName,
    Severity,
    Signal,
    Silence,
    State,
    fingerprint,
    parse_command,
)
from domain.calendar import LOCAL_TZ
from domain.catalog import Catalog

T0 = datetime(2026, 11, 24, 17, 0, tzinfo=LOCAL_TZ).timestamp()


def sample_alert(**changes: Any) -> Alert:
    values: dict[str, Any] = dict(
        fingerprint="item_overdue:PA-2026-000123",
        rule=RuleName.ITEM_OVERDUE,
        severity=Severity.CRITICAL,
        state=State.ACKNOWLEDGED,
        unit="P-BEN-THANH",
        item_id="PA-2026-000123",
        opened_at=T0,
        updated_at=T0 + 3600.5,
        acked_at=T0 + 60.25,
        acked_by="lanh-dao-01",
        escalation=2,
        audience=("wall", "leaders", "unit:P-BEN-THANH"),
        title_vi="Quá hạn – cấp 2: PA-2026-000123 – Phường Bến Thành",
        title_en="Overdue – level 2: PA-2026-000123 – Ben Thanh Ward",
        text_vi="Hạn xử lý 24/11/2026 17:00; vừa quá hạn.",
        text_en="Due 24/11/2026 17:00; just overdue.",
        facts={
            "item_title": 'Rác thải <b>tràn</b> "vỉa hè"',
            "due": T0,
            "overdue_at": T0,
            "appointment_at": None,
            "escalation": 3,
            "nested": {"a": [1, 2.5]},
        },
        notified_at=T0 + 10.0,
        reminders=2,
        incident=3,
        explanations=(
            Explanation("request", "lanh-dao-01", "Vì sao chậm?", T0 + 100.0),
            Explanation("answer", "can-bo-07", "Đang chờ hồ sơ.\nXin gia hạn.", T0 + 200.0),
        ),
        command_ids=("c-1", "c-2"),
    )
    values.update(changes)
    return Alert(**values)


# -- vocabulary --------------------------------------------------------------------------------


def test_severities_are_ordered_info_warning_critical() -> None:
    assert Severity.INFO < Severity.WARNING < Severity.CRITICAL
    assert Severity.CRITICAL >= Severity.WARNING >= Severity.WARNING
    assert not Severity.WARNING > Severity.CRITICAL
    assert max([Severity.WARNING, Severity.CRITICAL, Severity.INFO]) is Severity.CRITICAL
    assert sorted([Severity.CRITICAL, Severity.INFO, Severity.WARNING]) == [
        Severity.INFO,
        Severity.WARNING,
        Severity.CRITICAL,
    ]
    # Alphabetical order would say "critical" < "info"; the rank wins.
    assert Severity.CRITICAL > Severity.INFO


def test_rule_names_are_the_wire_strings_item_rules_first() -> None:
    assert [rule.value for rule in RuleName] == [
        "item_due_soon",
        "item_overdue",
        "unit_on_time_rate",
        "unit_overdue_count",
        "unit_queue_depth",
        "unit_p90_latency",
        "unit_surge",
        "indicator_at_risk",
        "indicator_stale",
        "indicator_explanation",
    ]
    assert ITEM_RULES == (RuleName.ITEM_DUE_SOON, RuleName.ITEM_OVERDUE)
    assert (*ITEM_RULES, *UNIT_RULES, *INDICATOR_RULES) == tuple(RuleName)
    assert all(rule.startswith("unit_") for rule in UNIT_RULES)


@pytest.mark.parametrize(
    ("rule", "subject", "expected"),
    [
        (RuleName.ITEM_DUE_SOON, "PA-1", "item_due_soon:PA-1"),
        (RuleName.ITEM_OVERDUE, "PA-2026-000123", "item_overdue:PA-2026-000123"),
        (RuleName.UNIT_ON_TIME_RATE, "P-SAI-GON", "unit_on_time_rate:P-SAI-GON"),
        (RuleName.UNIT_OVERDUE_COUNT, "HCM", "unit_overdue_count:HCM"),
        (RuleName.UNIT_QUEUE_DEPTH, "SO-TNMT", "unit_queue_depth:SO-TNMT"),
        (RuleName.UNIT_P90_LATENCY, "P-SAI-GON", "unit_p90_latency:P-SAI-GON"),
        (RuleName.UNIT_SURGE, "P-SAI-GON", "unit_surge:P-SAI-GON"),
    ],
)
def test_fingerprint_is_rule_and_subject(rule: RuleName, subject: str, expected: str) -> None:
    assert fingerprint(rule, subject) == expected


# -- records ------------------------------------------------------------------------------------


def test_alert_round_trips_exactly_through_encode() -> None:
    alert = sample_alert()
    raw = alert.encode()
    assert isinstance(raw, bytes)
    assert Alert.decode(raw) == alert
    assert Alert.decode(raw).encode() == raw


def test_alert_with_defaults_round_trips() -> None:
    alert = Alert(
        fingerprint="unit_surge:P-SAI-GON",
        rule=RuleName.UNIT_SURGE,
        severity=Severity.WARNING,
        state=State.FIRING,
        unit="P-SAI-GON",
        item_id=None,
        opened_at=T0,
        updated_at=T0,
    )
    assert Alert.decode(alert.encode()) == alert


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "not an encoded alert: "),
        (b"[1, 2]", "not an encoded alert: not an object"),
        (b'{"v": 99}', "not an encoded alert: not an alert record of version 1"),
        (b'{"v": 1, "rule": "x"}', "not an encoded alert: 'fingerprint'"),
    ],
)
def test_alert_decode_rejects_foreign_bytes(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Alert.decode(raw)
    assert str(caught.value).startswith(message)


def test_board_view_adds_unit_names_and_hides_command_ids(catalog: Catalog) -> None:
    alert = sample_alert()
    board = alert.to_board(catalog)
    assert board["unit_name_vi"] == "Phường Bến Thành"
    assert board["unit_name_en"] == "Ben Thanh Ward"
    assert "command_ids" not in board
    assert board["severity"] == "critical"
    assert board["state"] == "acknowledged"
    assert board["audience"] == ["wall", "leaders", "unit:P-BEN-THANH"]
    assert board["explanations"][1] == {
        "kind": "answer",
        "by": "can-bo-07",
        "text": "Đang chờ hồ sơ.\nXin gia hạn.",
        "at": T0 + 200.0,
    }
    assert board["facts"]["item_title"] == 'Rác thải <b>tràn</b> "vỉa hè"'
    orjson.dumps(board)  # JSON-ready
    assert "unit_name_vi" not in alert.to_board()


def test_board_view_of_unknown_unit_uses_the_code(catalog: Catalog) -> None:
    board = sample_alert(unit="P-GONE").to_board(catalog)
    assert (board["unit_name_vi"], board["unit_name_en"]) == ("P-GONE", "P-GONE")


def test_records_carry_the_rule_as_its_string_and_read_it_back_as_a_rule_name() -> None:
    alert = sample_alert()
    signal = Signal("unit_surge:Q1", RuleName.UNIT_SURGE, True, T0, "Q1", None, Severity.WARNING)
    silence = Silence("s-1", None, RuleName.ITEM_DUE_SOON, T0, T0 + 60, "lanh-dao-01")
    assert orjson.loads(alert.encode())["rule"] == "item_overdue"
    assert orjson.loads(signal.encode())["rule"] == "unit_surge"
    assert orjson.loads(silence.encode())["rule"] == "item_due_soon"
    assert alert.encode() == sample_alert(rule="item_overdue").encode()  # as when rules were text
    for decoded in (
        Alert.decode(alert.encode()),
        Signal.decode(signal.encode()),
        Silence.decode(silence.encode()),
    ):
        assert type(decoded.rule) is RuleName


@pytest.mark.parametrize(
    ("decode", "raw"),
    [
        (Alert.decode, sample_alert().encode().replace(b'"item_overdue"', b'"item_late"')),
        (Signal.decode, Signal("x", RuleName.UNIT_SURGE, True, T0, "Q1", None, Severity.INFO).encode()),
        (Silence.decode, Silence("s", None, RuleName.UNIT_SURGE, T0, T0 + 1, "a").encode()),
    ],
    ids=["alert", "signal", "silence"],
)
def test_decode_refuses_an_unknown_rule(decode: Callable[[bytes], object], raw: bytes) -> None:
    raw = raw.replace(b'"unit_surge"', b'"item_late"')
    with pytest.raises(ValueError, match="'item_late' is not a valid RuleName"):
        decode(raw)


def test_alert_event_round_trips() -> None:
    event = AlertEvent("item_overdue:PA-2026-000123", AlertEventType.ESCALATED, T0 + 5.0, sample_alert())
    data = orjson.loads(event.encode())
    assert data["type"] == "escalated"
    assert data["fingerprint"] == "item_overdue:PA-2026-000123"
    assert AlertEvent.decode(event.encode()) == event


def test_signal_round_trips() -> None:
    signal = Signal(
        "item_overdue:PA-1",
        RuleName.ITEM_OVERDUE,
        True,
        T0,
        "P-SAI-GON",
        "PA-1",
        Severity.WARNING,
        escalation=1,
        facts={"due": T0, "item_title": "Đèn đường hỏng"},
    )
    assert Signal.decode(signal.encode()) == signal
    with pytest.raises(ValueError, match="not an encoded signal"):
        Signal.decode(b"{}")


@pytest.mark.parametrize(
    ("unit", "rule", "at", "matches"),
    [
        ("P-SAI-GON", RuleName.ITEM_OVERDUE, T0, True),
        ("P-SAI-GON", RuleName.UNIT_SURGE, T0 + 10, True),
        ("P-BEN-THANH", RuleName.ITEM_OVERDUE, T0, False),
        ("P-SAI-GON", RuleName.ITEM_OVERDUE, T0 - 0.001, False),
        ("P-SAI-GON", RuleName.ITEM_OVERDUE, T0 + 7200 - 0.001, True),
        ("P-SAI-GON", RuleName.ITEM_OVERDUE, T0 + 7200, False),
    ],
)
def test_silence_matches_its_unit_any_rule_within_its_time_box(
    unit: str, rule: str, at: float, matches: bool
) -> None:
    silence = Silence("s-1", "P-SAI-GON", None, T0, T0 + 7200, "lanh-dao-01", "bảo trì")
    assert silence.matches(unit, rule, at) is matches


def test_silence_on_a_rule_matches_every_unit() -> None:
    silence = Silence("s-2", None, RuleName.UNIT_SURGE, T0, T0 + 60, "lanh-dao-01")
    assert silence.matches("P-SAI-GON", RuleName.UNIT_SURGE, T0)
    assert silence.matches("Q1", RuleName.UNIT_SURGE, T0)
    assert not silence.matches("Q1", RuleName.ITEM_OVERDUE, T0)
    assert Silence.decode(silence.encode()) == silence


# -- commands -----------------------------------------------------------------------------------


def command_bytes(**fields: Any) -> bytes:
    data: dict[str, Any] = {
        "command_id": "cmd-1",
        "type": "ack",
        "alert": "item_overdue:PA-2026-000123",
        "by": {"scope": "leader", "sub": "lanh-dao-01"},
        "at": "2026-11-24T17:30:00+07:00",
    }
    for name, value in fields.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return orjson.dumps(data)


def test_parse_ack() -> None:
    assert parse_command(command_bytes()) == Command(
        command_id="cmd-1",
        type=CommandType.ACK,
        alert="item_overdue:PA-2026-000123",
        text=None,
        by_scope="leader",
        by_sub="lanh-dao-01",
        at=T0 + 1800.0,
    )


def test_parse_explanation_keeps_text_as_text() -> None:
    command = parse_command(
        command_bytes(
            type="explain_answer",
            text="<script>x</script> Đã xử lý",
            by={"scope": "unit:P-BEN-THANH", "sub": "can-bo-07"},
        )
    )
    assert command.type is CommandType.EXPLAIN_ANSWER
    assert command.text == "<script>x</script> Đã xử lý"
    assert command.by_scope == "unit:P-BEN-THANH"


def test_parse_silence_defaults_id_and_start_from_the_command() -> None:
    command = parse_command(
        command_bytes(
            type="silence",
            alert=None,
            silence={
                "unit": "P-SAI-GON",
                "rule": None,
                "ends_at": "2026-11-24T19:30:00+07:00",
                "reason": "Bảo trì",
            },
        )
    )
    assert command.silence == Silence(
        id="cmd-1",
        unit="P-SAI-GON",
        rule=None,
        starts_at=T0 + 1800.0,
        ends_at=T0 + 9000.0,
        created_by="lanh-dao-01",
        reason="Bảo trì",
    )


def test_parse_silence_reads_the_rule_as_a_rule_name() -> None:
    command = parse_command(
        command_bytes(
            type="silence",
            alert=None,
            silence={"rule": "unit_surge", "ends_at": "2026-11-24T19:30:00+07:00", "reason": ""},
        )
    )
    assert command.silence is not None
    assert command.silence.rule is RuleName.UNIT_SURGE


def test_parse_unsilence() -> None:
    command = parse_command(command_bytes(type="unsilence", alert=None, silence_id="cmd-0"))
    assert (command.type, command.silence_id, command.alert) == (
        CommandType.UNSILENCE,
        "cmd-0",
        None,
    )


@pytest.mark.parametrize(
    "raw",
    [
        command_bytes(),
        command_bytes(type="explain_request", text="Đề nghị giải trình lý do chậm"),
        command_bytes(
            type="silence",
            alert=None,
            silence={
                "id": "sil-9",
                "unit": None,
                "rule": "unit_surge",
                "starts_at": "2026-11-24T18:00:00+07:00",
                "ends_at": "2026-11-25T08:00:00+07:00",
                "reason": "",
            },
        ),
        command_bytes(type="unsilence", alert=None, silence_id="sil-9"),
    ],
)
def test_command_encode_round_trips(raw: bytes) -> None:
    command = parse_command(raw)
    assert parse_command(command.encode()) == command


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{", "command is not valid JSON (UTF-8): "),
        (b"[]", "command must be a JSON object"),
        (b"x" * 20000, "command is 20000 bytes, over the limit of 16384"),
        (command_bytes(command_id=None), "missing required field 'command_id'"),
        (
            command_bytes(command_id="a b"),
            "field 'command_id' = 'a b' has characters outside letters, digits and ._:/-",
        ),
        (
            command_bytes(type="delete"),
            "unknown command type 'delete'; expected one of: "
            "ack, explain_request, explain_answer, silence, unsilence",
        ),
        (command_bytes(by="leader"), 'field \'by\' must be an object {"scope": …, "sub": …}'),
        (
            command_bytes(by={"scope": "admin", "sub": "x"}),
            "field 'by.scope' = 'admin' must be 'leader', 'wall' or 'unit:<code>'",
        ),
        (
            command_bytes(by={"scope": "unit:p-low", "sub": "x"}),
            "field 'by.scope' = 'unit:p-low' must be 'leader', 'wall' or 'unit:<code>'",
        ),
        (command_bytes(by={"scope": "leader", "sub": ""}), "field 'by.sub' is empty"),
        (command_bytes(by={"scope": "leader", "sub": 7}), "field 'by.sub' must be a string"),
        (
            command_bytes(at="2026-11-24T17:30:00"),
            "field 'at' = '2026-11-24T17:30:00' is not an RFC 3339 instant with an offset "
            "(e.g. 2026-11-26T09:30:00+07:00)",
        ),
        (
            command_bytes(at="1999-01-01T00:00:00+07:00"),
            "field 'at' = '1999-01-01T00:00:00+07:00' is outside the years 2000..2099",
        ),
        (command_bytes(alert=None), "missing required field 'alert'"),
        (command_bytes(type="explain_request"), "missing required field 'text'"),
        (command_bytes(type="explain_request", text="   "), "field 'text' is empty"),
        (
            command_bytes(type="explain_request", text="x" * 2001),
            "field 'text' is 2001 characters, over the limit of 2000",
        ),
        (
            command_bytes(type="silence", alert=None),
            "a 'silence' command needs an object 'silence' with unit and/or rule, "
            "starts_at (optional), ends_at and reason",
        ),
        (
            command_bytes(type="silence", silence={"ends_at": "2026-11-25T08:00:00+07:00"}),
            "a silence needs 'unit' or 'rule' (or both); silencing every alert is not allowed",
        ),
        (
            command_bytes(type="silence", silence={"rule": "all", "ends_at": "2026-11-25T08:00:00+07:00"}),
            "field 'silence.rule' = 'all' is not a rule; use one of: item_due_soon, item_overdue, "
            "unit_on_time_rate, unit_overdue_count, unit_queue_depth, unit_p90_latency, unit_surge",
        ),
        (
            command_bytes(type="silence", silence={"unit": "Q1"}),
            "missing required field 'silence.ends_at'",
        ),
        (
            command_bytes(type="silence", silence={"unit": "q 1", "ends_at": "2026-11-25T08:00:00+07:00"}),
            "field 'silence.unit' = 'q 1' is not a unit code",
        ),
        (
            command_bytes(
                type="silence",
                silence={"unit": "Q1", "ends_at": "2026-11-25T08:00:00+07:00", "reason": "r" * 501},
            ),
            "field 'silence.reason' is 501 characters, over the limit of 500",
        ),
        (command_bytes(type="unsilence", alert=None), "missing required field 'silence_id'"),
    ],
)
def test_parse_command_rejects_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(CommandRejected) as caught:
        parse_command(raw)
    assert caught.value.reason.startswith(reason)
    assert str(caught.value) == caught.value.reason
