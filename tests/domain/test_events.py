"""The input event contract: validation reasons, unknown fields, round trips."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from typing import Any

import orjson
import pytest

from domain.calendar import LOCAL_TZ
from domain.errors import InvalidEvent, Rejected
from domain.events import (
    MAX_LENGTH,
    UNIT_REQUIRED,
    Event,
    EventType,
    Priority,
    Sla,
    WorkMode,
    event_from_dict,
    format_instant,
    parse_event,
    parse_instant,
)

BASE: dict[str, Any] = {
    "event_id": "ev-0001",
    "item_id": "PA-2026-000123",
    "type": "received",
    "occurred_at": "2026-02-13T10:00:00+07:00",
    "unit": "P-BEN-THANH",
}
OCCURRED = datetime(2026, 2, 13, 10, 0, tzinfo=LOCAL_TZ).timestamp()
ALL_TYPES = (
    "received, assigned, transferred, accepted, progress, extended, paused, resumed, "
    "resolved, reopened, cancelled"
)
RFC3339_HINT = "is not an RFC 3339 instant with an offset (e.g. 2026-11-26T09:30:00+07:00)"


def encoded(**changes: Any) -> bytes:
    """BASE with ``changes`` applied; a value of ``...`` removes the field."""
    data = {**BASE, **changes}
    return orjson.dumps({k: v for k, v in data.items() if v is not ...})


def decode_error(raw: bytes) -> str:
    """orjson's own message for ``raw`` (its wording changes between orjson versions)."""
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return str(exc)
    raise AssertionError(f"{raw!r} is valid JSON")


def reason_of(raw: bytes, **kwargs: Any) -> str:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(raw, **kwargs)
    return caught.value.reason


# -- raw bytes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[1, 2]", "expected a JSON object, got an array"),
        (b'"received"', "expected a JSON object, got a string"),
        (b"42", "expected a JSON object, got a number"),
        (b"4.2", "expected a JSON object, got a number"),
        (b"true", "expected a JSON object, got a boolean"),
        (b"null", "expected a JSON object, got null"),
    ],
    ids=["array", "string", "int", "float", "bool", "null"],
)
def test_payload_that_is_not_a_json_object_is_rejected(raw: bytes, reason: str) -> None:
    assert reason_of(raw) == reason


@pytest.mark.parametrize("raw", [b"", b"{not json", b'{"a": "\xff"}', b'{"a": 1} trailing', b"{'a': 1}"])
def test_payload_that_is_not_json_is_rejected_with_the_decoder_message(raw: bytes) -> None:
    assert reason_of(raw) == f"not valid JSON (UTF-8): {decode_error(raw)}"


def test_tombstone_is_rejected() -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(None)  # type: ignore[arg-type]
    assert caught.value.reason == "message has no value (tombstone); expected a JSON event"


def test_oversized_payload_is_rejected_before_parsing() -> None:
    raw = b"x" * 101  # not even JSON: the size check comes first
    assert reason_of(raw, max_bytes=100) == (
        "payload is 101 bytes, over the 100-byte limit (GOVPULSE_MAX_EVENT_BYTES)"
    )


def test_payload_at_the_size_limit_is_accepted() -> None:
    raw = encoded()
    assert parse_event(raw, max_bytes=len(raw)).event_id == "ev-0001"


def test_invalid_event_is_a_rejected_with_reason_as_message() -> None:
    error = InvalidEvent("field 'x' is wrong")
    assert isinstance(error, Rejected)
    assert str(error) == error.reason == "field 'x' is wrong"


# -- fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        # missing required fields
        ({"event_id": ...}, "missing required field 'event_id'"),
        ({"item_id": ...}, "missing required field 'item_id'"),
        ({"type": ...}, "missing required field 'type'"),
        ({"occurred_at": ...}, "missing required field 'occurred_at'"),
        ({"event_id": None}, "missing required field 'event_id'"),
        # empty required fields
        ({"event_id": ""}, "field 'event_id' is empty"),
        ({"item_id": "   "}, "field 'item_id' is empty"),
        ({"type": ""}, "field 'type' is empty"),
        ({"occurred_at": " "}, "field 'occurred_at' is empty"),
        # wrong types
        ({"event_id": 17}, "field 'event_id' must be a string, got a number"),
        ({"item_id": ["PA-1"]}, "field 'item_id' must be a string, got an array"),
        ({"type": {"name": "received"}}, "field 'type' must be a string, got an object"),
        ({"occurred_at": 1771000000}, "field 'occurred_at' must be a string, got a number"),
        ({"unit": True}, "field 'unit' must be a string, got a boolean"),
        ({"category": 3.5}, "field 'category' must be a string, got a number"),
        ({"priority": 1}, "field 'priority' must be a string, got a number"),
        ({"due_at": 1771000000}, "field 'due_at' must be a string, got a number"),
        ({"title": ["a"]}, "field 'title' must be a string, got an array"),
        ({"channel": {}}, "field 'channel' must be a string, got an object"),
        ({"assigned_by": 5}, "field 'assigned_by' must be a string, got a number"),
        ({"note": False}, "field 'note' must be a string, got a boolean"),
        # bad identifiers
        (
            {"event_id": "ev 1"},
            "field 'event_id' = 'ev 1' has characters outside letters, digits and ._:/-",
        ),
        (
            {"event_id": "-ev"},
            "field 'event_id' = '-ev' has characters outside letters, digits and ._:/-",
        ),
        (
            {"item_id": "PA-1<script>"},
            "field 'item_id' = 'PA-1<script>' has characters outside letters, digits and ._:/-",
        ),
        (
            {"item_id": "PA-1\n"},
            "field 'item_id' = 'PA-1\\n' has characters outside letters, digits and ._:/-",
        ),
        (
            {"item_id": "PHẢN-ÁNH-1"},
            "field 'item_id' = 'PHẢN-ÁNH-1' has characters outside letters, digits and ._:/-",
        ),
        # type and priority
        (
            {"type": "closed"},
            f"unknown type 'closed'; expected one of: {ALL_TYPES}",
        ),
        (
            {"type": "RECEIVED"},
            f"unknown type 'RECEIVED'; expected one of: {ALL_TYPES}",
        ),
        ({"priority": "high"}, "priority 'high' must be 'normal' or 'urgent'"),
        # unit required on received/assigned/transferred
        ({"unit": ...}, "field 'unit' is required on 'received' events"),
        ({"unit": ""}, "field 'unit' is required on 'received' events"),
        ({"type": "assigned", "unit": ...}, "field 'unit' is required on 'assigned' events"),
        ({"type": "transferred", "unit": None}, "field 'unit' is required on 'transferred' events"),
        # timestamps
        (
            {"occurred_at": "2026-02-13T10:00:00"},
            f"field 'occurred_at' = '2026-02-13T10:00:00' {RFC3339_HINT}",
        ),
        ({"occurred_at": "2026-02-13"}, f"field 'occurred_at' = '2026-02-13' {RFC3339_HINT}"),
        ({"occurred_at": "yesterday"}, f"field 'occurred_at' = 'yesterday' {RFC3339_HINT}"),
        (
            {"occurred_at": "2026-02-30T10:00:00+07:00"},
            f"field 'occurred_at' = '2026-02-30T10:00:00+07:00' {RFC3339_HINT}",
        ),
        (
            {"due_at": "2026-02-20T17:00:00"},
            f"field 'due_at' = '2026-02-20T17:00:00' {RFC3339_HINT}",
        ),
        (
            {"occurred_at": "1999-12-31T23:59:59+00:00"},
            "field 'occurred_at' = '1999-12-31T23:59:59+00:00' is outside the years 2000..2099",
        ),
        (
            {"occurred_at": "2100-01-01T00:00:00+00:00"},
            "field 'occurred_at' = '2100-01-01T00:00:00+00:00' is outside the years 2000..2099",
        ),
        (
            {"due_at": "0001-01-01T00:00:00+00:00"},
            "field 'due_at' = '0001-01-01T00:00:00+00:00' is outside the years 2000..2099",
        ),
        (
            {"occurred_at": "9999-12-31T23:59:59+00:00"},
            "field 'occurred_at' = '9999-12-31T23:59:59+00:00' is outside the years 2000..2099",
        ),
        # sla shapes
        ({"sla": 5}, 'field \'sla\' must be {"working_days": n} or {"hours": n}'),
        ({"sla": [5]}, 'field \'sla\' must be {"working_days": n} or {"hours": n}'),
        ({"sla": {}}, 'field \'sla\' must be {"working_days": n} or {"hours": n}'),
        (
            {"sla": {"working_days": 5, "hours": 4}},
            'field \'sla\' must be {"working_days": n} or {"hours": n}',
        ),
        ({"sla": {"days": 5}}, "field 'sla' has unknown key 'days'; use 'working_days' or 'hours'"),
        ({"sla": {"working_days": "5"}}, "field 'sla.working_days' must be a number, got a string"),
        (
            {"sla": {"working_days": True}},
            "field 'sla.working_days' must be a number, got a boolean",
        ),
        ({"sla": {"hours": None}}, "field 'sla.hours' must be a number, got null"),
        (
            {"sla": {"working_days": 2.5}},
            "field 'sla.working_days' must be a whole number from 1 to 3650",
        ),
        (
            {"sla": {"working_days": 5.0}},
            "field 'sla.working_days' must be a whole number from 1 to 3650",
        ),
        (
            {"sla": {"working_days": 0}},
            "field 'sla.working_days' must be a whole number from 1 to 3650",
        ),
        (
            {"sla": {"working_days": 3651}},
            "field 'sla.working_days' must be a whole number from 1 to 3650",
        ),
        ({"sla": {"hours": 0}}, "field 'sla.hours' must be greater than 0 and at most 87600"),
        ({"sla": {"hours": -1.5}}, "field 'sla.hours' must be greater than 0 and at most 87600"),
        ({"sla": {"hours": 87600.5}}, "field 'sla.hours' must be greater than 0 and at most 87600"),
        # extended needs a new deadline
        (
            {"type": "extended", "unit": ...},
            "an 'extended' event needs the new deadline in 'due_at' (or an 'sla')",
        ),
        (
            {"type": "extended", "sla": None},
            "an 'extended' event needs the new deadline in 'due_at' (or an 'sla')",
        ),
        (
            {"type": "extended", "due_at": None},
            "an 'extended' event needs the new deadline in 'due_at' (or an 'sla')",
        ),
    ],
    ids=lambda value: repr(value)[:60] if isinstance(value, dict) else None,
)
def test_invalid_field_is_rejected_with_exact_reason(changes: dict[str, Any], reason: str) -> None:
    assert reason_of(encoded(**changes)) == reason


@pytest.mark.parametrize(("name", "limit"), sorted(MAX_LENGTH.items()))
def test_over_long_field_is_rejected(name: str, limit: int) -> None:
    assert reason_of(encoded(**{name: "A" * (limit + 1)})) == (
        f"field '{name}' is {limit + 1} characters, over the limit of {limit}"
    )


@pytest.mark.parametrize(("name", "limit"), sorted(MAX_LENGTH.items()))
def test_field_at_its_length_limit_is_accepted(name: str, limit: int) -> None:
    event = parse_event(encoded(**{name: "A" * limit}))
    assert getattr(event, name) == "A" * limit


def test_long_bad_identifier_is_quoted_truncated_in_the_reason() -> None:
    value = "x " + "y" * 120
    assert reason_of(encoded(event_id=value)) == (
        f"field 'event_id' = {value[:80]!r} has characters outside letters, digits and ._:/-"
    )


def test_first_failing_field_is_reported() -> None:
    """event_id is checked before item_id, item_id before type, type before occurred_at."""
    raw = orjson.dumps({"item_id": 5, "type": "nope"})
    assert reason_of(raw) == "missing required field 'event_id'"


# -- valid events ----------------------------------------------------------------------


def test_minimal_received_event_is_parsed() -> None:
    event = parse_event(encoded())
    assert event == Event(
        event_id="ev-0001",
        item_id="PA-2026-000123",
        type=EventType.RECEIVED,
        occurred_at=OCCURRED,
        unit="P-BEN-THANH",
    )
    assert event.extra == {}


@pytest.mark.parametrize("event_type", [t for t in EventType if t not in UNIT_REQUIRED])
def test_unit_is_optional_on_other_event_types(event_type: EventType) -> None:
    changes: dict[str, Any] = {"type": event_type.value, "unit": ...}
    if event_type is EventType.EXTENDED:
        changes["due_at"] = "2026-02-27T17:00:00+07:00"
    event = parse_event(encoded(**changes))
    assert (event.type, event.unit) == (event_type, None)


def test_full_event_is_parsed_with_every_field() -> None:
    raw = encoded(
        type="received",
        category="moi-truong",
        priority="urgent",
        due_at="2026-02-27T17:00:00+07:00",
        sla={"working_days": 5},
        title="Rác thải <b>tràn</b> ra đường",
        channel="1022",
        assigned_by="Chủ tịch UBND",
        note="Ghi chú",
    )
    event = parse_event(raw)
    assert event == Event(
        event_id="ev-0001",
        item_id="PA-2026-000123",
        type=EventType.RECEIVED,
        occurred_at=OCCURRED,
        unit="P-BEN-THANH",
        category="moi-truong",
        priority=Priority.URGENT,
        due_at=datetime(2026, 2, 27, 17, 0, tzinfo=LOCAL_TZ).timestamp(),
        sla=Sla(working_days=5),
        title="Rác thải <b>tràn</b> ra đường",
        channel="1022",
        assigned_by="Chủ tịch UBND",
        note="Ghi chú",
    )


@pytest.mark.parametrize(
    ("sla", "expected"),
    [
        ({"working_days": 1}, Sla(working_days=1)),
        ({"working_days": 3650}, Sla(working_days=3650)),
        ({"hours": 4}, Sla(hours=4.0)),
        ({"hours": 0.5}, Sla(hours=0.5)),
        ({"hours": 87600}, Sla(hours=87600.0)),
    ],
)
def test_sla_shapes_are_accepted(sla: dict[str, Any], expected: Sla) -> None:
    assert parse_event(encoded(sla=sla)).sla == expected


@pytest.mark.parametrize(
    "changes",
    [
        {"type": "extended", "due_at": "2026-02-27T17:00:00+07:00"},
        {"type": "extended", "sla": {"working_days": 10}},
    ],
)
def test_extended_with_new_deadline_is_accepted(changes: dict[str, Any]) -> None:
    assert parse_event(encoded(**changes)).type is EventType.EXTENDED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-13T10:00:00+07:00", OCCURRED),
        ("2026-02-13T03:00:00Z", OCCURRED),
        ("2026-02-13T03:00:00+00:00", OCCURRED),
        ("2026-02-12T22:00:00-05:00", OCCURRED),
        ("2026-02-13T10:00:00.250+07:00", OCCURRED + 0.25),
        ("2000-01-01T00:00:00+00:00", 946684800.0),
        ("2099-12-31T23:59:59+00:00", 4102444799.0),
    ],
)
def test_instants_with_any_offset_are_epoch_seconds(text: str, expected: float) -> None:
    assert parse_event(encoded(occurred_at=text)).occurred_at == expected


@pytest.mark.parametrize("tz", ["UTC", "Asia/Ho_Chi_Minh", "America/New_York"])
def test_years_bound_does_not_depend_on_the_process_time_zone(tz: str) -> None:
    """The 2000..2099 bounds are UTC instants, whatever TZ the worker process runs in."""
    script = (
        "from domain.events import parse_event\n"
        "from domain.errors import InvalidEvent\n"
        "import orjson\n"
        "base = dict(event_id='e', item_id='i', type='progress')\n"
        "for text in ('2000-01-01T00:00:00+00:00', '2099-12-31T23:59:59+00:00',\n"
        "             '1999-12-31T23:59:59+00:00', '2000-01-01T00:00:00+07:00',\n"
        "             '2100-01-01T00:00:00+00:00'):\n"
        "    try:\n"
        "        parse_event(orjson.dumps(dict(base, occurred_at=text)))\n"
        "        print('ok')\n"
        "    except InvalidEvent:\n"
        "        print('rejected')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "TZ": tz},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.split() == ["ok", "ok", "rejected", "rejected", "rejected"]


def test_parse_instant_without_offset_raises_value_error() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_instant("2026-02-13T10:00:00")


@pytest.mark.parametrize(
    ("at", "text"),
    [
        (OCCURRED, "2026-02-13T10:00:00.000+07:00"),
        (OCCURRED + 0.123, "2026-02-13T10:00:00.123+07:00"),
        (
            datetime(2026, 2, 13, 23, 30, tzinfo=LOCAL_TZ).timestamp(),
            "2026-02-13T23:30:00.000+07:00",
        ),
    ],
)
def test_format_instant_is_local_time_with_offset(at: float, text: str) -> None:
    assert format_instant(at) == text
    assert parse_instant(text) == pytest.approx(at, abs=1e-6)


def test_unknown_fields_are_kept_in_extra() -> None:
    raw = encoded(source_system="1022", location={"lat": 10.77, "lng": 106.7}, tags=["a", "b"], n=None)
    event = parse_event(raw)
    assert event.extra == {
        "source_system": "1022",
        "location": {"lat": 10.77, "lng": 106.7},
        "tags": ["a", "b"],
        "n": None,
    }


def test_to_json_gives_the_contract_object_with_extra() -> None:
    event = parse_event(
        encoded(
            category="dat-dai",
            priority="normal",
            due_at="2026-03-02T17:00:00+07:00",
            sla={"hours": 24},
            title="Tranh chấp đất",
            source_system="1022",
        )
    )
    assert event.to_json() == {
        "source_system": "1022",
        "event_id": "ev-0001",
        "item_id": "PA-2026-000123",
        "type": "received",
        "occurred_at": "2026-02-13T10:00:00.000+07:00",
        "unit": "P-BEN-THANH",
        "category": "dat-dai",
        "title": "Tranh chấp đất",
        "priority": "normal",
        "due_at": "2026-03-02T17:00:00.000+07:00",
        "sla": {"hours": 24.0},
    }


@pytest.mark.parametrize(
    "event",
    [
        Event("e1", "PA-1", EventType.RECEIVED, OCCURRED, unit="HCM"),
        Event("e2", "NV-2026-0042", EventType.EXTENDED, OCCURRED + 0.5, sla=Sla(working_days=3)),
        Event(
            "e3",
            "PA-2",
            EventType.TRANSFERRED,
            OCCURRED,
            unit="SO-XD",
            category="xay-dung",
            priority=Priority.URGENT,
            due_at=OCCURRED + 86400.0,
            sla=Sla(hours=12.5),
            title='Công trình "không phép" — <script>alert(1)</script>',
            channel="zalo",
            assigned_by="Phó Chủ tịch",
            note="Ghi chú\nnhiều dòng",
            extra={"x": [1, {"y": "z"}]},
        ),
    ],
    ids=["minimal", "extended-sla", "everything"],
)
def test_encode_then_parse_round_trips(event: Event) -> None:
    assert parse_event(event.encode()) == event
    assert event_from_dict(event.to_json()) == event


def test_sla_to_json_prefers_working_days() -> None:
    assert Sla(working_days=5).to_json() == {"working_days": 5}
    assert Sla(hours=2.5).to_json() == {"hours": 2.5}


# -- future skew (shared by the worker and the HTTP API) -----------------------------------


@pytest.mark.parametrize(
    ("ahead", "refused"),
    [
        (0.0, None),
        (86400.0, None),
        (86400.0 + 3600 * 6, "occurred_at is 30.0 h ahead of the clock (limit GOVPULSE_MAX_FUTURE_SKEW)"),
    ],
)
def test_check_skew_refuses_events_too_far_ahead_of_the_clock(ahead: float, refused: str | None) -> None:
    from domain.events import check_skew, event_from_dict, format_instant

    now = 1_800_000_000.0
    event = event_from_dict(
        {"event_id": "e", "item_id": "PA-1", "type": "resolved", "occurred_at": format_instant(now + ahead)}
    )
    if refused is None:
        check_skew(event, now=now, limit=86400.0)
    else:
        with pytest.raises(InvalidEvent) as caught:
            check_skew(event, now=now, limit=86400.0)
        assert caught.value.reason == refused


# -- work mode and assignee ----------------------------------------------------------------


def test_old_events_without_work_mode_or_assignee_stay_valid() -> None:
    event = parse_event(encoded())
    assert (event.assignee, event.work_mode) == (None, None)


@pytest.mark.parametrize("mode", ["office", "home", "field"])
def test_work_mode_and_assignee_are_read_and_written_back(mode: str) -> None:
    event = parse_event(encoded(assignee="cb-0042", work_mode=mode))
    assert (event.assignee, event.work_mode) == ("cb-0042", WorkMode(mode))
    assert parse_event(event.encode()) == event


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"work_mode": "remote"}, "field 'work_mode' = 'remote' must be 'office', 'home' or 'field'"),
        ({"work_mode": 1}, "field 'work_mode' must be a string, got a number"),
        ({"assignee": 42}, "field 'assignee' must be a string, got a number"),
        (
            {"assignee": "Nguyễn Văn A <a@b>"},
            "field 'assignee' is not an opaque staff id: up to 64 letters, digits and ._:/- "
            "(the value is not repeated here)",
        ),
    ],
)
def test_invalid_work_mode_or_assignee_is_refused_without_repeating_the_staff_id(
    changes: dict[str, Any], reason: str
) -> None:
    assert reason_of(encoded(**changes)) == reason
