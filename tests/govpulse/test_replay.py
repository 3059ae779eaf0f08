"""``govpulse replay``: valid lines go to the topics byte for byte, invalid ones are reported."""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path

import orjson
import pytest

from govpulse import replay
from runtime import services
from runtime.settings import Settings, load_settings
from runtime.topics import Topics, create_topics
from tests.support.topics import read_topics


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="govpulse replay")
    replay.add_arguments(parser)
    return parser.parse_args(list(argv))


async def broker_settings(broker: services.Service) -> Settings:
    settings = load_settings(
        {
            "GOVPULSE_BROKER_URL": f"127.0.0.1:{broker.port}",
            "GOVPULSE_TOPIC_PREFIX": f"r{uuid.uuid4().hex[:8]}.",
            "GOVPULSE_PARTITIONS": "3",
        }
    )
    await create_topics(settings)
    return settings


def line(item: str, number: int, kind: str = "received", **fields: object) -> bytes:
    event = {
        "event_id": f"{item}-{number}",
        "item_id": item,
        "type": kind,
        "occurred_at": f"2026-11-26T09:{number:02d}:00+07:00",
        **fields,
    }
    return orjson.dumps(event)


FEEDBACK_LINES = [
    line("PA-2026-000001", 1, unit="P-BEN-THANH", title="Rác <script>alert(1)</script>"),
    # Unknown fields and key order must survive: the original bytes are sent.
    b'{"type":"accepted","item_id":"PA-2026-000001","event_id":"PA-2026-000001-2",'
    b'"occurred_at":"2026-11-26T09:02:00+07:00","x_source":"1022","x_rating":5}',
    line("PA-2026-000002", 3, unit="X-CU-CHI", category="moi-truong", priority="urgent"),
]
TASK_LINES = [
    line(
        "NV-2026-0042",
        4,
        unit="SO-XAY-DUNG",
        due_at="2026-12-10T17:00:00+07:00",
        assigned_by="Chủ tịch UBND Thành phố",
    ),
    line("NV-2026-0042", 5, "progress"),
]
BAD_JSON = b'{"event_id": "e9", "item_id": "PA-2026-000009", "type": "rece'
BAD_TYPE = line("PA-2026-000010", 6, "closed", unit="P-SAI-GON")


def write_file(path: Path) -> Path:
    lines = [
        FEEDBACK_LINES[0],
        TASK_LINES[0],
        b"",  # blank lines are skipped, not rejected
        BAD_JSON,
        FEEDBACK_LINES[1],
        b"   ",
        BAD_TYPE,
        FEEDBACK_LINES[2],
        TASK_LINES[1] + b"\r",  # a CRLF line: the terminator is not part of the event
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.integration
async def test_valid_lines_are_sent_unchanged_and_invalid_ones_reported(
    broker: services.Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await broker_settings(broker)
    path = write_file(tmp_path / "events.jsonl")
    assert await replay.run(settings, parse(str(path))) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "sent 5, rejected 2"
    assert out[1].startswith("  line 4: not valid JSON (UTF-8): ")
    assert out[2] == (
        "  line 7: unknown type 'closed'; expected one of: received, assigned, transferred, "
        "accepted, progress, extended, paused, resumed, resolved, reopened, cancelled"
    )
    assert len(out) == 3
    topics = Topics.for_settings(settings)
    got = await read_topics(settings.broker_bootstrap, [topics.feedback, topics.tasks])
    feedback = [(orjson.loads(v)["item_id"].encode(), v) for v in FEEDBACK_LINES]
    tasks = [(b"NV-2026-0042", v) for v in TASK_LINES]
    assert sorted(got[topics.feedback]) == sorted(feedback)
    assert got[topics.tasks] == tasks  # one key, one partition: in file order


@pytest.mark.integration
async def test_topic_option_sends_everything_to_one_topic(
    broker: services.Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = await broker_settings(broker)
    path = write_file(tmp_path / "events.jsonl")
    target = f"{settings.topic_prefix}replayed"
    assert await replay.run(settings, parse(str(path), "--topic", target)) == 0
    assert capsys.readouterr().out.startswith("sent 5, rejected 2\n")
    got = await read_topics(settings.broker_bootstrap, [target])
    assert sorted(value for _, value in got[target]) == sorted(FEEDBACK_LINES + TASK_LINES)


@pytest.mark.integration
async def test_rate_limits_the_sending(broker: services.Service, tmp_path: Path) -> None:
    settings = await broker_settings(broker)
    path = tmp_path / "many.jsonl"
    path.write_bytes(b"\n".join(line(f"PA-2026-{n:06d}", 1, unit="P-SAI-GON") for n in range(21)))
    began = time.monotonic()
    summary = await replay.replay(path, settings, rate=100.0)
    assert (summary.sent, summary.rejected) == (21, 0)
    assert time.monotonic() - began >= 0.2


async def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.jsonl"
    assert await replay.run(load_settings({}), parse(str(missing))) == 2
    assert capsys.readouterr().err == (
        f"govpulse replay: error: cannot read {missing}: No such file or directory\n"
    )


async def test_unreachable_broker_exits_1_naming_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings({"GOVPULSE_BROKER_URL": f"127.0.0.1:{services.free_port()}"})
    path = write_file(tmp_path / "events.jsonl")
    assert await replay.run(settings, parse(str(path))) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"govpulse replay: error: broker {settings.broker_url} is unreachable")
    assert "GOVPULSE_BROKER_URL" in err


async def test_rate_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_file(tmp_path / "events.jsonl")
    assert await replay.run(load_settings({}), parse(str(path), "--rate", "0")) == 2
    assert "--rate must be > 0" in capsys.readouterr().err


def test_summary_lists_the_first_rejections() -> None:
    summary = replay.ReplaySummary(sent=3, rejected=12)
    summary.first_rejected = [(n, "bad") for n in range(1, 11)]
    assert summary.text().splitlines()[-1] == "  … and 2 more"
