"""parse_command under hostile input: a valid Command, or CommandRejected with a reason.

``gov.commands`` is written by web nodes and the CLI, but anything with broker access can
write to it; the alerts stage dead-letters what :func:`parse_command` rejects. Any other
exception, an empty reason, or an accepted command breaking the contract fails a test.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from alerts.errors import CommandRejected
from alerts.model import (
    MAX_COMMAND_BYTES,
    MAX_REASON,
    MAX_TEXT,
    Command,
    CommandType,
    RuleName,
    parse_command,
)
from domain.calendar import LOCAL_TZ
from tests.support import strategies
from tests.support.hypothesis_profile import FUZZ

BASE: dict[str, Any] = {
    "command_id": "cmd-1",
    "type": "ack",
    "alert": "item_overdue:PA-2026-000123",
    "text": "Đề nghị giải trình",
    "by": {"scope": "leader", "sub": "lanh-dao-01"},
    "at": "2026-11-24T17:30:00+07:00",
    "silence": {
        "unit": "P-SAI-GON",
        "rule": "unit_surge",
        "ends_at": "2026-11-24T19:30:00+07:00",
        "reason": "Bảo trì",
    },
    "silence_id": "sil-1",
}
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}\Z")
UNIT_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,47}\Z")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(2100, 1, 1, tzinfo=UTC).timestamp()
PLACEHOLDER = "\u2603PLACEHOLDER\u2603"


def outcome(raw: bytes) -> Command | str:
    """The Command, or the reason it was rejected; any other exception fails the test."""
    try:
        command = parse_command(raw)
    except CommandRejected as exc:
        assert isinstance(exc.reason, str) and exc.reason.strip(), raw[:80]
        return exc.reason
    assert_contract(command)
    return command


def assert_contract(command: Command) -> None:
    assert isinstance(command.type, CommandType)
    assert ID.match(command.command_id)
    assert command.by_scope in ("leader", "wall") or (
        command.by_scope.startswith("unit:") and UNIT_CODE.match(command.by_scope[5:])
    )
    assert command.by_sub.strip() and len(command.by_sub) <= 200
    assert math.isfinite(command.at) and EARLIEST <= command.at < LATEST
    if command.type in (CommandType.ACK, CommandType.EXPLAIN_REQUEST, CommandType.EXPLAIN_ANSWER):
        assert command.alert is not None and ID.match(command.alert)
    if command.type in (CommandType.EXPLAIN_REQUEST, CommandType.EXPLAIN_ANSWER):
        assert command.text is not None and command.text.strip() and len(command.text) <= MAX_TEXT
    if command.type is CommandType.SILENCE:
        silence = command.silence
        assert silence is not None and ID.match(silence.id)
        assert silence.unit is not None or silence.rule is not None
        assert silence.unit is None or UNIT_CODE.match(silence.unit)
        assert silence.rule is None or isinstance(silence.rule, RuleName)
        assert len(silence.reason) <= MAX_REASON
    if command.type is CommandType.UNSILENCE:
        assert command.silence_id is not None and ID.match(command.silence_id)
    # What the stage would put back on the topic parses again.
    again = parse_command(command.encode())
    assert (again.command_id, again.type, again.alert, again.text, again.silence_id) == (
        command.command_id,
        command.type,
        command.alert,
        command.text,
        command.silence_id,
    )


json_scalars = strategies.json_scalars(text_size=30)
json_values = strategies.json_values(json_scalars, max_leaves=12)
offsets = st.sampled_from([UTC, LOCAL_TZ, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])
instants = st.one_of(
    st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=offsets),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=offsets),
).map(datetime.isoformat)
scopes = st.sampled_from(
    ["leader", "wall", "unit:P-SAI-GON", "unit:", "unit:p-sai-gon", "city", "unit:X" * 20, ""]
) | st.text(max_size=60)
ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,30}", fullmatch=True)


def mostly(valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` five times in six: with several fields, both outcomes stay common."""
    return st.sampled_from([True] * 5 + [False]).flatmap(lambda ok: valid if ok else hostile)


commands = st.fixed_dictionaries(
    {
        "command_id": mostly(ids, st.text(max_size=30)),
        "type": mostly(
            st.sampled_from([t.value for t in CommandType]),
            st.sampled_from(["ACK", "delete", ""]) | json_scalars,
        ),
        "by": mostly(
            st.fixed_dictionaries(
                {
                    "scope": st.sampled_from(["leader", "wall", "unit:P-SAI-GON"]),
                    "sub": st.text(min_size=1, max_size=200).filter(str.strip),
                }
            ),
            st.fixed_dictionaries({"scope": scopes, "sub": st.text(max_size=210)}) | json_values,
        ),
        "at": mostly(instants, json_scalars),
        "alert": mostly(
            st.from_regex(r"[a-z][a-z_]*:[A-Z0-9-]{1,20}", fullmatch=True),
            json_scalars | st.text(max_size=10),
        ),
        "text": mostly(
            st.text(min_size=1, max_size=2000).filter(str.strip),
            st.text(min_size=2001, max_size=2100) | json_scalars,
        ),
        "silence": mostly(
            st.fixed_dictionaries(
                {
                    "ends_at": instants,
                    "unit": st.sampled_from(["P-SAI-GON", None]),
                    "rule": st.sampled_from([*RuleName, None]),
                },
                optional={"id": ids, "starts_at": instants, "reason": st.text(max_size=500)},
            ),
            st.fixed_dictionaries(
                {"ends_at": instants | json_scalars},
                optional={
                    "id": st.text(max_size=20),
                    "unit": st.sampled_from(["p-sai-gon", "<b>"]) | json_scalars,
                    "rule": st.sampled_from(["everything"]) | json_scalars,
                    "reason": st.text(min_size=501, max_size=600),
                },
            )
            | json_values,
        ),
        "silence_id": mostly(ids, st.text(max_size=20) | json_scalars),
    },
    optional={"extra": json_values},
)


@FUZZ
@given(st.binary(max_size=2048))
@example(b"")
@example(b"[" * 10_000 + b"]" * 10_000)
@example(b'{"command_id":NaN}')
@example(b'{"command_id":"c","type":"ack","at":1e400}')
@example(b'{"command_id":"\\ud800"}')
@example(b'{"command_id":"\xed\xa0\x80"}')
def test_random_bytes_are_a_command_or_a_rejection(raw: bytes) -> None:
    outcome(raw)


@FUZZ
@given(commands)
def test_plausible_commands_are_accepted_or_rejected_never_crash(data: dict[str, Any]) -> None:
    result = outcome(orjson.dumps(data))
    event(f"accepted={isinstance(result, Command)}")


@FUZZ
@given(st.sampled_from(["command_id", "type", "alert", "text", "at", "silence_id"]), json_values)
def test_any_value_in_any_field_is_accepted_or_rejected(field: str, value: Any) -> None:
    for kind in CommandType:
        outcome(orjson.dumps({**BASE, "type": kind.value, field: value}))


@FUZZ
@given(
    st.sampled_from(["command_id", "alert", "at", "by", "silence", "silence_id", "text"]),
    st.sampled_from(
        [
            b"NaN",
            b"Infinity",
            b"-Infinity",
            b"1e400",
            b"1e20",
            b"18446744073709551616",
            b"-9223372036854775809",
            b"1" * 500,
            b'"\\udfff"',
            b'"\xff"',
            b"[" * 2000 + b"]" * 2000,
        ]
    ),
)
def test_number_tokens_bad_encodings_and_nesting_are_rejected(field: str, token: bytes) -> None:
    for kind in CommandType:
        data = {**BASE, "type": kind.value, field: PLACEHOLDER}
        raw = orjson.dumps(data).replace(orjson.dumps(PLACEHOLDER), token)
        result = outcome(raw)
        needed = {
            "command_id",
            "at",
            "by",
            *({"alert"} if kind in ("ack", "explain_request", "explain_answer") else ()),
            *({"text"} if kind in ("explain_request", "explain_answer") else ()),
            *({"silence"} if kind == "silence" else ()),
            *({"silence_id"} if kind == "unsilence" else ()),
        }
        if field in needed:
            assert isinstance(result, str), (kind, field, token[:20])


@pytest.mark.parametrize("size", [MAX_COMMAND_BYTES + 1, 10 * 1024 * 1024])
def test_oversized_commands_are_rejected_before_parsing(size: int) -> None:
    raw = orjson.dumps({**BASE, "text": "x" * size})

    assert outcome(raw) == f"command is {len(raw)} bytes, over the limit of {MAX_COMMAND_BYTES}"


@pytest.mark.parametrize("tz", ["UTC", "Asia/Ho_Chi_Minh", "America/New_York"])
def test_command_years_bound_does_not_depend_on_the_process_time_zone(tz: str) -> None:
    """Like events, the 2000..2099 bounds of command instants are UTC instants."""
    script = (
        "from alerts.model import parse_command\n"
        "from alerts.errors import CommandRejected\n"
        "import orjson\n"
        "base = dict(command_id='c', type='ack', alert='a:b', by=dict(scope='leader', sub='s'))\n"
        "for text in ('2000-01-01T00:00:00+00:00', '2099-12-31T23:59:59+00:00',\n"
        "             '1999-12-31T23:59:59+00:00', '2000-01-01T00:00:00+07:00',\n"
        "             '2100-01-01T00:00:00+00:00'):\n"
        "    try:\n"
        "        parse_command(orjson.dumps(dict(base, at=text)))\n"
        "        print('ok')\n"
        "    except CommandRejected:\n"
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
