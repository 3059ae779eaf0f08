"""parse_event under hostile input: a valid Event, or InvalidEvent with a reason, nothing else.

Every test feeds bytes a hostile or broken producer could send (random bytes, invalid
UTF-8, lone surrogates, NaN/Infinity tokens, integers beyond 64 bits, deep nesting, huge
strings, wrong types for every field, instants far outside the supported years,
duplicate keys) and checks the outcome with :func:`outcome`: any exception other than
InvalidEvent fails the test, a rejection must carry a non-empty reason, and an accepted
event must satisfy the contract's invariants.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from domain.calendar import LOCAL_TZ
from domain.errors import InvalidEvent
from domain.events import MAX_LENGTH, UNIT_REQUIRED, Event, EventType, WorkMode, parse_event
from tests.support import strategies
from tests.support.hypothesis_profile import FUZZ

BASE: dict[str, Any] = {
    "event_id": "ev-0001",
    "item_id": "PA-2026-000123",
    "type": "received",
    "occurred_at": "2026-02-13T10:00:00+07:00",
    "unit": "P-BEN-THANH",
    "category": "moi-truong",
    "priority": "normal",
    "due_at": "2026-02-20T17:00:00+07:00",
    "title": "Rác thải tồn đọng",
    "channel": "1022",
    "assigned_by": "UBND",
    "note": "ghi chú",
    "assignee": "cb-0042",
    "work_mode": "home",
}
STRING_FIELDS = (
    "event_id",
    "item_id",
    "type",
    "occurred_at",
    "unit",
    "category",
    "priority",
    "due_at",
    "title",
    "channel",
    "assigned_by",
    "note",
    "assignee",
    "work_mode",
)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(2100, 1, 1, tzinfo=UTC).timestamp()
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*\Z")
NOT_JSON = "not valid JSON (UTF-8): "
PLACEHOLDER = "\u2603PLACEHOLDER\u2603"


def outcome(raw: bytes, **kwargs: Any) -> Event | str:
    """The Event, or the reason of the InvalidEvent; any other exception fails the test."""
    try:
        event = parse_event(raw, **kwargs)
    except InvalidEvent as exc:
        assert isinstance(exc.reason, str) and exc.reason.strip(), f"empty reason for {raw[:80]!r}"
        assert str(exc) == exc.reason
        return exc.reason
    assert_contract(event)
    return event


def assert_contract(event: Event) -> None:
    """What every accepted event satisfies, whatever the input was."""
    assert isinstance(event.type, EventType)
    for name in ("event_id", "item_id"):
        value = getattr(event, name)
        assert ID.match(value) and len(value) <= MAX_LENGTH[name], (name, value)
    for name in ("unit", "category", "title", "channel", "assigned_by", "note"):
        value = getattr(event, name)
        assert value is None or (isinstance(value, str) and len(value) <= MAX_LENGTH[name])
    assert event.assignee is None or (ID.match(event.assignee) and len(event.assignee) <= 64)
    assert event.work_mode is None or isinstance(event.work_mode, WorkMode)
    for at in (event.occurred_at, event.due_at):
        assert at is None or (math.isfinite(at) and EARLIEST <= at < LATEST)
    if event.type in UNIT_REQUIRED:
        assert event.unit
    if event.sla is not None:
        days, hours = event.sla.working_days, event.sla.hours
        assert (days is None) != (hours is None)
        assert days is None or (type(days) is int and 1 <= days <= 3650)
        assert hours is None or (math.isfinite(hours) and 0 < hours <= 87600)
    assert not set(event.extra) & set(BASE)


def with_raw(field: str, token: bytes, base: dict[str, Any] | None = None) -> bytes:
    """``base`` encoded with ``token`` spliced in verbatim as the value of ``field``."""
    data = {**(BASE if base is None else base), field: PLACEHOLDER}
    return orjson.dumps(data).replace(orjson.dumps(PLACEHOLDER), token)


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


# -- strategies ----------------------------------------------------------------------

json_scalars = strategies.json_scalars(text_size=40)
json_values = strategies.json_values(json_scalars, max_leaves=12)
not_strings = json_values.filter(lambda v: v is not None and not isinstance(v, str))
#: Number tokens orjson reads, rejects, or turns into floats (beyond 64 bits).
number_tokens = st.sampled_from(
    [
        b"NaN",
        b"-NaN",
        b"Infinity",
        b"-Infinity",
        b"inf",
        b"1e400",
        b"-1e400",
        b"1e20",
        b"1E+2",
        b"-0",
        b"0.0",
        b"5e-324",
        b"01",
        b"0x10",
        b".5",
        b"+1",
        b"18446744073709551615",
        b"18446744073709551616",
        b"-9223372036854775809",
        b"123456789012345678901234567890123456789",
        b"1" * 400,
    ]
)
invalid_utf8 = st.sampled_from(
    [
        b"\xff",
        b"\xfe",
        b"\xc3\x28",
        b"\xa0\xa1",
        b"\xe2\x28\xa1",
        b"\xf0\x28\x8c\xbc",
        b"\xed\xa0\x80",
        b"\xed\xbf\xbf",
        b"\xf8\xa1\xa1\xa1\xa1",
        b"\xc0\xaf",
        b"\x80",
    ]
)
lone_surrogates = st.sampled_from([b"\\ud800", b"\\udfff", b"\\udc00x", b"\\ud83d", b"x\\ud800\\u0041"])
offsets = st.sampled_from(
    [
        UTC,
        LOCAL_TZ,
        timezone(timedelta(hours=14)),
        timezone(timedelta(hours=-12)),
        timezone(timedelta(hours=5, minutes=45)),
    ]
)
any_instant = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=offsets
)
#: Mostly instants the contract accepts, some far outside it.
plausible_instant = st.one_of(
    st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=offsets),
    any_instant,
).map(datetime.isoformat)


# -- bytes ----------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=4096))
@example(b"")
@example(b"\x00")
@example(b"\xef\xbb\xbf{}")
@example(b"{}\x00")
@example(b"{" * 5000)
def test_random_bytes_are_an_event_or_a_rejection_with_reason(raw: bytes) -> None:
    outcome(raw)


@FUZZ
@given(st.text(max_size=400))
def test_random_text_is_an_event_or_a_rejection_with_reason(text: str) -> None:
    raw = text.encode("utf-8", "surrogatepass")
    result = outcome(raw)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        assert isinstance(result, str) and result.startswith(NOT_JSON)


@FUZZ
@given(st.dictionaries(st.sampled_from((*STRING_FIELDS, "sla")) | st.text(max_size=12), json_values))
def test_random_objects_with_contract_keys_are_an_event_or_a_rejection(
    data: dict[str, Any],
) -> None:
    outcome(orjson.dumps(data))


@FUZZ
@given(
    st.fixed_dictionaries(
        {
            "event_id": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,20}", fullmatch=True),
            "item_id": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,20}", fullmatch=True),
            "type": st.sampled_from([t.value for t in EventType]),
            "occurred_at": plausible_instant,
        },
        optional={
            "unit": st.sampled_from(["P-BEN-THANH", "SO-NOI-VU", ""]) | st.text(max_size=70),
            "priority": st.sampled_from(["normal", "urgent", "URGENT", "", "low"]),
            "due_at": plausible_instant,
            "sla": st.dictionaries(
                st.sampled_from(["working_days", "hours", "days"]), json_scalars, max_size=2
            ),
            "title": st.text(max_size=1100),
            "extra_field": json_values,
        },
    )
)
def test_plausible_events_are_accepted_or_rejected_never_crash(data: dict[str, Any]) -> None:
    result = outcome(orjson.dumps(data))
    event(f"accepted={isinstance(result, Event)}")
    if isinstance(result, Event):
        assert (result.event_id, result.item_id, result.type.value) == (
            data["event_id"],
            data["item_id"],
            data["type"],
        )
        assert result.extra == ({"extra_field": data["extra_field"]} if "extra_field" in data else {})


# -- wrong types, tokens, encodings ------------------------------------------------------


@FUZZ
@given(st.sampled_from(STRING_FIELDS), not_strings)
def test_a_wrong_type_in_any_field_is_rejected_naming_the_field(field: str, value: Any) -> None:
    result = outcome(orjson.dumps({**BASE, field: value}))

    assert result == f"field '{field}' must be a string, got {json_type(value)}"


@FUZZ
@given(
    not_strings.filter(lambda v: not isinstance(v, dict))
    | st.dictionaries(st.text(max_size=8), json_values, min_size=2)
)
def test_an_sla_that_is_not_a_one_key_object_is_rejected(value: Any) -> None:
    result = outcome(orjson.dumps({**BASE, "sla": value}))

    assert result == 'field \'sla\' must be {"working_days": n} or {"hours": n}'


@FUZZ
@given(st.sampled_from([*STRING_FIELDS, "sla.working_days", "sla.hours"]), number_tokens)
def test_number_tokens_nan_infinity_and_huge_integers_are_rejected(field: str, token: bytes) -> None:
    if field.startswith("sla."):
        raw = orjson.dumps({**BASE, "sla": {field[4:]: PLACEHOLDER}}).replace(
            orjson.dumps(PLACEHOLDER), token
        )
    else:
        raw = with_raw(field, token)
    try:
        value = orjson.loads(token)
    except orjson.JSONDecodeError:
        assert outcome(raw) == NOT_JSON + decode_error(raw)
        return
    result = outcome(raw)
    if not field.startswith("sla."):
        assert result == f"field '{field}' must be a string, got a number"
    elif field == "sla.working_days":
        assert result == "field 'sla.working_days' must be a whole number from 1 to 3650"
    elif 0 < value <= 87600:
        assert isinstance(result, Event) and result.sla is not None and result.sla.hours == value
    else:
        assert result == "field 'sla.hours' must be greater than 0 and at most 87600"


@FUZZ
@given(st.sampled_from(STRING_FIELDS), invalid_utf8 | lone_surrogates, st.booleans())
def test_invalid_utf8_and_lone_surrogates_in_any_field_are_rejected_as_not_json(
    field: str, bad: bytes, inside: bool
) -> None:
    value = BASE[field].encode()
    token = b'"' + (value[:3] + bad + value[3:] if inside else bad) + b'"'
    raw = with_raw(field, token)

    assert outcome(raw) == NOT_JSON + decode_error(raw)


def decode_error(raw: bytes) -> str:
    """orjson's own message for ``raw`` (its wording changes between orjson versions)."""
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return str(exc)
    raise AssertionError(f"{raw[:80]!r} is valid JSON")


def loads_ok(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


@pytest.mark.parametrize("depth", [1_000, 1_023, 1_024, 1_025, 10_000, 100_000])
@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_deep_nesting_is_rejected_or_kept_as_an_unknown_field(depth: int, opener: bytes) -> None:
    array = opener == b"["
    nested = opener * depth + (b"" if array else b"1") + (b"]" if array else b"}") * depth
    kind = "an array" if array else "an object"
    cases = {
        "bare": nested,
        "extra": with_raw("x_nested", nested),
        "title": with_raw("title", nested),
    }
    expected_if_parsed = {
        "bare": "expected a JSON object, got an array" if array else "missing required field 'event_id'",
        "title": f"field 'title' must be a string, got {kind}",
    }

    for name, raw in cases.items():
        result = outcome(raw, max_bytes=10**7)
        if not loads_ok(raw):  # orjson stops at 1024 levels
            assert result == NOT_JSON + decode_error(raw), name
        elif name == "extra":
            assert isinstance(result, Event) and "x_nested" in result.extra
        else:
            assert result == expected_if_parsed[name]
    assert not loads_ok(cases["bare"]) if depth > 1_024 else loads_ok(cases["bare"])


@pytest.mark.parametrize(
    ("field", "size"),
    [
        ("title", 10 * 1024 * 1024),
        ("note", 5_000),
        ("event_id", 100_000),
        ("x_big", 10 * 1024 * 1024),
    ],
)
def test_huge_strings_are_rejected_by_size_before_or_after_parsing(field: str, size: int) -> None:
    raw = orjson.dumps({**BASE, field: "ư" * size})

    assert outcome(raw) == (
        f"payload is {len(raw)} bytes, over the 65536-byte limit (GOVPULSE_MAX_EVENT_BYTES)"
        if len(raw) > 65536
        else f"field '{field}' is {size} characters, over the limit of {MAX_LENGTH[field]}"
    )
    unlimited = outcome(raw, max_bytes=len(raw))
    if field in MAX_LENGTH:
        assert unlimited == f"field '{field}' is {size} characters, over the limit of {MAX_LENGTH[field]}"
    else:
        assert isinstance(unlimited, Event) and len(unlimited.extra[field]) == size


# -- instants -------------------------------------------------------------------------


@FUZZ
@given(st.sampled_from(["occurred_at", "due_at"]), any_instant)
@example("occurred_at", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))))
@example("occurred_at", datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-12))))
@example("due_at", datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
@example("due_at", datetime(2000, 1, 1, tzinfo=UTC))
@example("due_at", datetime(2000, 1, 1, 6, 59, 59, tzinfo=LOCAL_TZ))
def test_instants_from_year_1_to_9999_are_accepted_only_within_2000_to_2099(field: str, at: datetime) -> None:
    text = at.isoformat()
    result = outcome(orjson.dumps({**BASE, field: text}))

    if EARLIEST <= at.timestamp() < LATEST:
        assert isinstance(result, Event) and getattr(result, field) == at.timestamp()
    else:
        assert result == f"field '{field}' = {text!r} is outside the years 2000..2099"


@FUZZ
@given(
    st.sampled_from(["occurred_at", "due_at"]),
    st.text(alphabet="0123456789-:T+Z.tzW ", max_size=40)
    | st.sampled_from(["1e20", "-1e20", "0", "99999999999999999999", "2026-02-13", "NaN"]),
)
def test_instant_text_that_is_not_an_instant_with_offset_is_rejected(field: str, text: str) -> None:
    result = outcome(orjson.dumps({**BASE, field: text}))

    if isinstance(result, Event):  # Python's ISO 8601 reader is lenient; the value is still sane
        assert EARLIEST <= getattr(result, field) < LATEST
    elif text.strip():
        assert result.startswith(f"field '{field}' = {text[:64]!r} is ")
    else:
        assert result == (
            "field 'occurred_at' is empty"
            if field == "occurred_at"
            else f"field 'due_at' = {text!r} is not an RFC 3339 instant with an offset "
            "(e.g. 2026-11-26T09:30:00+07:00)"
        )


@pytest.mark.parametrize("seconds", [b"1e20", b"-1e20", b"18446744073709551616", b"1796058000", b"0"])
def test_epoch_numbers_instead_of_rfc3339_are_rejected(seconds: bytes) -> None:
    assert outcome(with_raw("occurred_at", seconds)) == ("field 'occurred_at' must be a string, got a number")


# -- duplicate keys ---------------------------------------------------------------------


@FUZZ
@given(st.sampled_from([*STRING_FIELDS, "sla"]), json_values, st.booleans())
def test_duplicate_keys_behave_as_the_last_value(field: str, value: Any, hostile_last: bool) -> None:
    first, last = (
        (BASE.get(field, {"hours": 4}), value) if hostile_last else (value, BASE.get(field, {"hours": 4}))
    )
    head = orjson.dumps({field: first})[:-1]
    rest = orjson.dumps({**BASE, field: last})[1:]
    raw = head + b"," + rest

    assert outcome(raw) == outcome(orjson.dumps({**BASE, field: last}))


@FUZZ
@given(st.text(min_size=4, max_size=80) | st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:/-]{3,70}", fullmatch=True))
def test_a_refused_assignee_is_never_repeated_in_the_reason(value: str) -> None:
    result = outcome(orjson.dumps({**BASE, "assignee": value}))
    if isinstance(result, str):
        assert value not in result
        assert result.startswith("field 'assignee' ")
    else:
        assert result.assignee == value
