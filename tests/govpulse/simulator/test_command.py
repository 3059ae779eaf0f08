"""``govpulse simulate``: options, files it writes, clocks it paces by."""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

import orjson
import pytest

from domain.catalog import Catalog
from domain.events import parse_event, parse_instant
from govpulse.simulator import command
from govpulse.simulator.oracle import Truth
from runtime import services
from runtime.clock import AcceleratedClock, WallClock
from runtime.settings import load_settings
from runtime.topics import Topics

from .conftest import Consume

START = "2026-11-30T00:00:00+07:00"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="govpulse simulate")
    command.add_arguments(parser)
    return parser.parse_args(list(argv))


async def test_writes_jsonl_and_the_truth_of_exactly_those_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, truth_path = tmp_path / "sim.jsonl", tmp_path / "truth.json"
    args = parse(
        "--days",
        "1",
        "--start",
        START,
        "--rate",
        "500",
        "--out",
        str(out),
        "--truth",
        str(truth_path),
        "--print-truth",
        "--invalid-rate",
        "0.01",
    )
    assert await command.run(load_settings({}), args) == 0
    lines = out.read_bytes().splitlines()
    truth = Truth.load(truth_path)
    assert truth.events == len(lines) > 1000
    assert truth.as_of == parse_instant(START) + 86400
    assert 0 < truth.rejected < 0.03 * len(lines)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(f"ground truth as of 2026-12-01T00:00:00.000+07:00: {len(lines)} events")
    assert printed[3].startswith("HCM Thành phố Hồ Chí Minh")


async def test_same_seed_same_file(tmp_path: Path) -> None:
    for name in ("a", "b"):
        args = parse("--days", "0.5", "--start", START, "--seed", "9", "--out", str(tmp_path / name))
        assert await command.run(load_settings({}), args) == 0
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--truth", "t.json"], "--truth and --print-truth need a bounded run: add --days N"),
        (["--print-truth"], "--truth and --print-truth need a bounded run: add --days N"),
        (["--out", "x.jsonl"], "--out needs a bounded run: add --days N"),
        (["--days", "0"], "--days must be > 0"),
        (["--speed", "0"], "--speed must be > 0"),
        (["--invalid-rate", "2"], "--invalid-rate 2 must be between 0 and 1 (a share of messages)"),
        (
            ["--hostile-rate", "-1"],
            "--hostile-rate -1 must be between 0 and 1 (a share of messages)",
        ),
    ],
)
async def test_usage_errors_exit_2_with_the_fix(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert await command.run(load_settings({}), parse(*argv)) == 2
    assert capsys.readouterr().err == f"govpulse simulate: error: {message}\n"


def test_start_must_carry_an_offset() -> None:
    with pytest.raises(SystemExit):
        parse("--start", "2026-11-30T00:00:00")


def test_padded_catalog_is_written_for_the_worker(tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "units.json"
    args = parse(
        "--days",
        "0.2",
        "--start",
        START,
        "--units",
        "250",
        "--write-units",
        str(path),
        "--out",
        str(tmp_path / "x.jsonl"),
    )
    assert asyncio.run(command.run(load_settings({}), args)) == 0
    catalog = Catalog.from_file(path)
    assert len(catalog) == 250
    units = {parse_event(line).unit for line in (tmp_path / "x.jsonl").read_bytes().splitlines()}
    assert units <= {unit.code for unit in catalog}


@pytest.mark.parametrize(
    ("env", "speed", "expected_type", "expected_speed"),
    [
        ({}, None, WallClock, 1.0),
        ({}, 120.0, AcceleratedClock, 120.0),
        (
            {"GOVPULSE_CLOCK": "accelerated", "GOVPULSE_CLOCK_SPEED": "30"},
            120.0,
            AcceleratedClock,
            120.0,
        ),
        # A clock shared by the stack (origin set) wins over --speed.
        (
            {
                "GOVPULSE_CLOCK": "accelerated",
                "GOVPULSE_CLOCK_SPEED": "30",
                "GOVPULSE_CLOCK_ORIGIN": "1700000000",
            },
            120.0,
            AcceleratedClock,
            30.0,
        ),
    ],
)
def test_pacing_clock(
    env: dict[str, str], speed: float | None, expected_type: type, expected_speed: float
) -> None:
    clock = command.pacing_clock(load_settings(env), speed=speed, start=parse_instant(START))
    assert type(clock) is expected_type
    assert clock.speed == expected_speed


def test_own_accelerated_clock_starts_at_the_start() -> None:
    clock = command.pacing_clock(load_settings({}), speed=1000.0, start=parse_instant(START))
    assert parse_instant(START) <= clock.now() < parse_instant(START) + 60


@pytest.mark.integration
async def test_produces_a_bounded_run_to_the_broker(
    broker: services.Service, tmp_path: Path, consume: Consume
) -> None:
    settings = load_settings(
        {
            "GOVPULSE_BROKER_URL": f"127.0.0.1:{broker.port}",
            "GOVPULSE_TOPIC_PREFIX": f"c{uuid.uuid4().hex[:8]}.",
        }
    )
    truth_path = tmp_path / "truth.json"
    args = parse(
        "--days",
        "0.25",
        "--start",
        "2026-11-30T08:00:00+07:00",
        "--rate",
        "800",
        "--no-pace",
        "--truth",
        str(truth_path),
    )
    assert await command.run(settings, args) == 0
    topics = Topics.for_settings(settings)
    got = await consume(settings.broker_bootstrap, [topics.feedback, topics.tasks])
    assert sum(len(records) for records in got.values()) == Truth.load(truth_path).events > 20


async def test_indicators_writes_a_year_of_reports_and_its_truth(tmp_path: Path) -> None:
    out, truth_path = tmp_path / "indicators.jsonl", tmp_path / "truth.json"
    args = parse(
        "--indicators", "--start", START, "--seed", "3", "--out", str(out), "--truth", str(truth_path)
    )

    assert await command.run(load_settings({}), args) == 0

    reports = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    truth = orjson.loads(truth_path.read_bytes())
    assert truth["year"] == 2026 and len(reports) > 10_000
    assert {r["period"][:4] for r in reports} == {"2026"}
    assert {f"{r['indicator']}|{r['unit']}|{r['period']}" for r in reports} <= set(truth["final"])
