"""The settings object: defaults, every validation message, the production secret, clocks."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from pathlib import Path

import pytest

from domain.errors import ConfigError
from runtime.clock import AcceleratedClock, FixedClock, ManualClock, WallClock
from runtime.settings import (
    DEV_SECRET,
    OPTIONS,
    ApiSettings,
    ClockSettings,
    Settings,
    load_settings,
    require_secret,
    settings_markdown,
)

PACKAGED = Path(__file__).parents[2] / "domain" / "data"
DAY = 86400.0
SECRET = "0123456789abcdef0123"


def error_of(**env: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    return str(caught.value)


def test_defaults() -> None:
    settings = load_settings({})
    assert settings == Settings(
        profile="dev",
        app_id="govpulse",
        topic_prefix="",
        broker_url="",
        broker_port=19092,
        partitions=8,
        redis_url="",
        redis_port=16379,
        web_host="127.0.0.1",
        web_port=8080,
        public_url="http://127.0.0.1:8080",
        secret=DEV_SECRET,
        allowed_origins=("http://127.0.0.1:8080",),
        clock=ClockSettings(kind="wall", speed=60.0, start=None, origin=None),
        units_file=PACKAGED / "units.json",
        sla_file=PACKAGED / "sla.toml",
        calendar_file=PACKAGED / "calendar.toml",
        rules_file=PACKAGED.parent.parent / "alerts" / "data" / "rules.toml",
        indicators_file=PACKAGED / "indicators.toml",
        windows=("5m", "1h", "1d", "period"),
        reporting_period=(25, 12, 0),
        report_grace=7 * DAY,
        item_timelines="on",
        classification_file=PACKAGED / "classification.toml",
        window_grace=600.0,
        window_retention={"5m": 6 * 3600.0, "1h": 3 * DAY, "1d": 93 * DAY, "period": 400 * DAY},
        max_event_bytes=65536,
        max_future_skew=DAY,
        closed_item_retention=35 * DAY,
        dedup_ids=32,
        batch_size=2000,
        batch_window=0.02,
        fetch_wait=0.02,
        session_timeout=6.0,
        commit_interval=1.0,
        tick_interval=0.2,
        store="govmemory://",
        data_dir=Path(".govpulse"),
        feed_maxlen=100000,
        publish_interval=0.5,
        ws_queue=2000,
        ws_slow_policy="snapshot",
        ws_flush_interval=0.1,
        ws_compression="deflate",
        ws_max_frame=65536,
        ws_heartbeat=5.0,
        ws_revocation_check=2.0,
        command_rate=2.0,
        command_burst=10,
        log_level="info",
        event_loop="uvloop",
        metrics_port=0,
        routes_file=PACKAGED.parent.parent / "notify" / "data" / "routes.toml",
        vapid_private_key="",
        vapid_subject="mailto:govpulse@localhost",
        notify_lease=10.0,
        api=ApiSettings(
            host="127.0.0.1",
            port=8090,
            max_body_bytes=8 * 1024 * 1024,
            idempotency_ttl=7 * DAY,
            send_timeout=10.0,
            default_rate=50.0,
        ),
    )
    assert not settings.production
    assert settings.broker_bootstrap == "127.0.0.1:19092"
    assert settings.redis_target == "redis://127.0.0.1:16379/0"
    assert settings.topic("gov.feedback") == "gov.feedback"


def test_documented_defaults_are_the_defaults() -> None:
    explicit = {option.env: option.default for option in OPTIONS}
    assert load_settings(explicit) == load_settings({})


def test_every_option_is_a_govpulse_variable_listed_once() -> None:
    names = [option.env for option in OPTIONS]
    assert len(names) == len(set(names))
    assert all(name.startswith("GOVPULSE_") for name in names)


def test_settings_are_frozen_and_keep_their_environment() -> None:
    settings = load_settings({"GOVPULSE_APP_ID": "x", "OTHER": "y"})
    assert settings.environ == {"GOVPULSE_APP_ID": "x", "OTHER": "y"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.app_id = "z"  # type: ignore[misc]


def test_os_environ_is_read_when_no_mapping_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVPULSE_APP_ID", "from-env")
    assert load_settings().app_id == "from-env"


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"GOVPULSE_PROFILE": " Production ", "GOVPULSE_SECRET": SECRET}, "profile", "production"),
        ({"GOVPULSE_APP_ID": "  "}, "app_id", "govpulse"),
        ({"GOVPULSE_TOPIC_PREFIX": "t1."}, "topic_prefix", "t1."),
        ({"GOVPULSE_BROKER_URL": "kafka://k1:9092"}, "broker_url", "k1:9092"),
        ({"GOVPULSE_BROKER_URL": "govkafka://k1:9092"}, "broker_url", "k1:9092"),
        ({"GOVPULSE_BROKER_URL": "aiokafka://k1:9092"}, "broker_url", "k1:9092"),
        ({"GOVPULSE_BROKER_URL": "k1:9092,k2:9092"}, "broker_url", "k1:9092,k2:9092"),
        ({"GOVPULSE_PARTITIONS": "1"}, "partitions", 1),
        ({"GOVPULSE_WEB_PORT": "0"}, "web_port", 0),
        (
            {"GOVPULSE_PUBLIC_URL": "https://board.example.vn/"},
            "public_url",
            "https://board.example.vn",
        ),
        (
            {"GOVPULSE_WEB_HOST": "0.0.0.0", "GOVPULSE_WEB_PORT": "9000"},
            "public_url",
            "http://0.0.0.0:9000",
        ),
        ({"GOVPULSE_PUBLIC_URL": "https://a.vn/"}, "allowed_origins", ("https://a.vn",)),
        (
            {"GOVPULSE_ALLOWED_ORIGINS": " https://a.vn/ , ,https://b.vn"},
            "allowed_origins",
            ("https://a.vn", "https://b.vn"),
        ),
        ({"GOVPULSE_SECRET": SECRET}, "secret", SECRET),
        ({"GOVPULSE_SECRET": "x" * 16}, "secret", "x" * 16),
        ({"GOVPULSE_WINDOWS": " 5m , 15m ,,1d "}, "windows", ("5m", "15m", "1d")),
        ({"GOVPULSE_REPORTING_PERIOD": "1T00:00"}, "reporting_period", (1, 0, 0)),
        ({"GOVPULSE_REPORTING_PERIOD": "28T23:59"}, "reporting_period", (28, 23, 59)),
        ({"GOVPULSE_REPORTING_PERIOD": "25"}, "reporting_period", (25, 0, 0)),
        ({"GOVPULSE_REPORTING_PERIOD": "25T8"}, "reporting_period", (25, 8, 0)),
        ({"GOVPULSE_WINDOW_GRACE": "0"}, "window_grace", 0.0),
        ({"GOVPULSE_MAX_EVENT_BYTES": "256"}, "max_event_bytes", 256),
        ({"GOVPULSE_DEDUP_IDS": "1"}, "dedup_ids", 1),
        ({"GOVPULSE_CLOSED_ITEM_RETENTION": "1d12h"}, "closed_item_retention", 1.5 * DAY),
        ({"GOVPULSE_TICK_INTERVAL": "50ms"}, "tick_interval", 0.05),
        ({"GOVPULSE_STORE": ""}, "store", "govmemory://"),
        ({"GOVPULSE_DATA_DIR": ""}, "data_dir", Path(".govpulse")),
        ({"GOVPULSE_DATA_DIR": "/var/lib/govpulse"}, "data_dir", Path("/var/lib/govpulse")),
        ({"GOVPULSE_WS_SLOW_POLICY": "CLOSE"}, "ws_slow_policy", "close"),
        ({"GOVPULSE_LOG_LEVEL": "Debug"}, "log_level", "debug"),
        ({"GOVPULSE_COMMAND_RATE": "0.5"}, "command_rate", 0.5),
        ({"GOVPULSE_METRICS_PORT": "9100"}, "metrics_port", 9100),
    ],
)
def test_values_are_parsed_and_normalised(env: dict[str, str], field: str, value: object) -> None:
    assert getattr(load_settings(env), field) == value


def test_embedded_services_are_used_when_no_urls_are_given() -> None:
    given = load_settings(
        {
            "GOVPULSE_BROKER_URL": "kafka://k1:9092",
            "GOVPULSE_REDIS_URL": "redis://r:6379/1",
            "GOVPULSE_TOPIC_PREFIX": "run7.",
        }
    )
    assert given.broker_bootstrap == "k1:9092"
    assert given.redis_target == "redis://r:6379/1"
    assert given.topic("gov.alerts") == "run7.gov.alerts"
    embedded = load_settings({"GOVPULSE_BROKER_PORT": "29092", "GOVPULSE_REDIS_PORT": "26379"})
    assert embedded.broker_bootstrap == "127.0.0.1:29092"
    assert embedded.redis_target == "redis://127.0.0.1:26379/0"


@pytest.mark.parametrize(
    ("windows", "retention", "expected"),
    [
        ("5m,1h", "", {"5m": 6 * 3600.0, "1h": 3 * DAY}),
        ("15m", "", {"15m": DAY}),  # 72 windows is less than a day: at least a day
        ("2h", "", {"2h": 6 * DAY}),  # 72 windows
        ("5m,period", "5m=1h, period=800d", {"5m": 3600.0, "period": 800 * DAY}),
        ("1d", "1h=2d", {"1h": 2 * DAY, "1d": 93 * DAY}),  # entries for unused windows are kept
    ],
)
def test_window_retention_has_defaults_per_window(
    windows: str, retention: str, expected: dict[str, float]
) -> None:
    settings = load_settings({"GOVPULSE_WINDOWS": windows, "GOVPULSE_WINDOW_RETENTION": retention})
    assert dict(settings.window_retention) == expected


def test_data_files_can_be_overridden(tmp_path: Path) -> None:
    names = ("units.json", "sla.toml", "calendar.toml", "rules.toml")
    for name in names:
        (tmp_path / name).write_text("", encoding="utf-8")
    settings = load_settings(
        {
            "GOVPULSE_UNITS_FILE": str(tmp_path / "units.json"),
            "GOVPULSE_SLA_FILE": str(tmp_path / "sla.toml"),
            "GOVPULSE_CALENDAR_FILE": str(tmp_path / "calendar.toml"),
            "GOVPULSE_RULES_FILE": f" {tmp_path / 'rules.toml'} ",
        }
    )
    assert (
        settings.units_file,
        settings.sla_file,
        settings.calendar_file,
        settings.rules_file,
    ) == tuple(tmp_path / name for name in names)


# -- validation --------------------------------------------------------------------------

NOT_A_DURATION = (
    "is not a duration; use a number of seconds or units ms/s/m/h/d/w, e.g. '500ms', '10m', '1h30m', '3d'"
)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"GOVPULSE_PROFILE": "staging"},
            "GOVPULSE_PROFILE='staging' must be one of dev, production",
        ),
        (
            {"GOVPULSE_SECRET": "short"},
            "GOVPULSE_SECRET is shorter than 16 characters; use a long random value",
        ),
        (
            {"GOVPULSE_SECRET": "x" * 15, "GOVPULSE_PROFILE": "production"},
            "GOVPULSE_SECRET is shorter than 16 characters; use a long random value",
        ),
        ({"GOVPULSE_WEB_PORT": "http"}, "GOVPULSE_WEB_PORT='http' is not an integer"),
        ({"GOVPULSE_WEB_PORT": "-1"}, "GOVPULSE_WEB_PORT=-1 must be >= 0"),
        ({"GOVPULSE_WEB_PORT": "80.5"}, "GOVPULSE_WEB_PORT='80.5' is not an integer"),
        ({"GOVPULSE_BROKER_PORT": "0"}, "GOVPULSE_BROKER_PORT=0 must be >= 1"),
        ({"GOVPULSE_REDIS_PORT": ""}, "GOVPULSE_REDIS_PORT='' is not an integer"),
        ({"GOVPULSE_PARTITIONS": "0"}, "GOVPULSE_PARTITIONS=0 must be >= 1"),
        ({"GOVPULSE_PARTITIONS": "eight"}, "GOVPULSE_PARTITIONS='eight' is not an integer"),
        (
            {"GOVPULSE_CLOCK": "sundial"},
            "GOVPULSE_CLOCK='sundial' must be one of wall, accelerated, fixed",
        ),
        ({"GOVPULSE_CLOCK_SPEED": "0"}, "GOVPULSE_CLOCK_SPEED=0.0 must be >= 0.001"),
        ({"GOVPULSE_CLOCK_SPEED": "-60"}, "GOVPULSE_CLOCK_SPEED=-60.0 must be >= 0.001"),
        ({"GOVPULSE_CLOCK_SPEED": "fast"}, "GOVPULSE_CLOCK_SPEED='fast' is not a number"),
        ({"GOVPULSE_CLOCK_SPEED": "nan"}, "GOVPULSE_CLOCK_SPEED='nan' is not a number"),
        ({"GOVPULSE_CLOCK_SPEED": "inf"}, "GOVPULSE_CLOCK_SPEED='inf' is not a number"),
        (
            {"GOVPULSE_CLOCK_START": "tomorrow"},
            "GOVPULSE_CLOCK_START='tomorrow' is not an RFC 3339 instant",
        ),
        (
            {"GOVPULSE_CLOCK_START": "2026-11-26T09:30:00"},
            "GOVPULSE_CLOCK_START='2026-11-26T09:30:00' needs a UTC offset, e.g. +07:00",
        ),
        ({"GOVPULSE_CLOCK_ORIGIN": "now"}, "GOVPULSE_CLOCK_ORIGIN='now' is not a number"),
        ({"GOVPULSE_CLOCK_ORIGIN": "-1"}, "GOVPULSE_CLOCK_ORIGIN=-1.0 must be >= 0.0"),
        (
            {"GOVPULSE_WINDOWS": ""},
            "GOVPULSE_WINDOWS is empty; list at least one window, e.g. '5m,1h,1d'",
        ),
        (
            {"GOVPULSE_WINDOWS": " , "},
            "GOVPULSE_WINDOWS is empty; list at least one window, e.g. '5m,1h,1d'",
        ),
        (
            {"GOVPULSE_WINDOWS": "5m,weekly"},
            f"GOVPULSE_WINDOWS entry 'weekly'='weekly' {NOT_A_DURATION}",
        ),
        (
            {"GOVPULSE_WINDOW_RETENTION": "5m"},
            "GOVPULSE_WINDOW_RETENTION entry '5m' must look like WINDOW=DURATION, e.g. 5m=6h",
        ),
        (
            {"GOVPULSE_WINDOW_RETENTION": "5m=forever"},
            f"GOVPULSE_WINDOW_RETENTION[5m]='forever' {NOT_A_DURATION}",
        ),
        (
            {"GOVPULSE_WINDOW_RETENTION": "1h=-1d"},
            f"GOVPULSE_WINDOW_RETENTION[1h]='-1d' {NOT_A_DURATION}",
        ),
        (
            {"GOVPULSE_REPORTING_PERIOD": "25th"},
            "GOVPULSE_REPORTING_PERIOD='25th' must look like DAYTHH:MM, e.g. 25T12:00",
        ),
        (
            {"GOVPULSE_REPORTING_PERIOD": "25T12:00:00"},
            "GOVPULSE_REPORTING_PERIOD='25T12:00:00' must look like DAYTHH:MM, e.g. 25T12:00",
        ),
        (
            {"GOVPULSE_REPORTING_PERIOD": ""},
            "GOVPULSE_REPORTING_PERIOD='' must look like DAYTHH:MM, e.g. 25T12:00",
        ),
        (
            {"GOVPULSE_REPORTING_PERIOD": "29T12:00"},
            "GOVPULSE_REPORTING_PERIOD='29T12:00': day must be 1..28, time a valid HH:MM",
        ),
        (
            {"GOVPULSE_REPORTING_PERIOD": "0T12:00"},
            "GOVPULSE_REPORTING_PERIOD='0T12:00': day must be 1..28, time a valid HH:MM",
        ),
        (
            {"GOVPULSE_REPORTING_PERIOD": "25T24:00"},
            "GOVPULSE_REPORTING_PERIOD='25T24:00': day must be 1..28, time a valid HH:MM",
        ),
        (
            {"GOVPULSE_REPORTING_PERIOD": "25T12:60"},
            "GOVPULSE_REPORTING_PERIOD='25T12:60': day must be 1..28, time a valid HH:MM",
        ),
        (
            {"GOVPULSE_UNITS_FILE": "/nonexistent/units.json"},
            "GOVPULSE_UNITS_FILE='/nonexistent/units.json' does not exist or is not a file",
        ),
        ({"GOVPULSE_SLA_FILE": "/"}, "GOVPULSE_SLA_FILE='/' does not exist or is not a file"),
        (
            {"GOVPULSE_CALENDAR_FILE": "/nonexistent.toml"},
            "GOVPULSE_CALENDAR_FILE='/nonexistent.toml' does not exist or is not a file",
        ),
        (
            {"GOVPULSE_RULES_FILE": "/nonexistent.toml"},
            "GOVPULSE_RULES_FILE='/nonexistent.toml' does not exist or is not a file",
        ),
        ({"GOVPULSE_WINDOW_GRACE": "soon"}, f"GOVPULSE_WINDOW_GRACE='soon' {NOT_A_DURATION}"),
        ({"GOVPULSE_MAX_EVENT_BYTES": "255"}, "GOVPULSE_MAX_EVENT_BYTES=255 must be >= 256"),
        (
            {"GOVPULSE_MAX_FUTURE_SKEW": "-1"},
            "GOVPULSE_MAX_FUTURE_SKEW='-1' is negative; durations are >= 0",
        ),
        (
            {"GOVPULSE_CLOSED_ITEM_RETENTION": ""},
            "GOVPULSE_CLOSED_ITEM_RETENTION is empty; expected a duration such as '10m' or '30'",
        ),
        ({"GOVPULSE_DEDUP_IDS": "0"}, "GOVPULSE_DEDUP_IDS=0 must be >= 1"),
        ({"GOVPULSE_BATCH_SIZE": "0"}, "GOVPULSE_BATCH_SIZE=0 must be >= 1"),
        ({"GOVPULSE_BATCH_WINDOW": "nan"}, f"GOVPULSE_BATCH_WINDOW='nan' {NOT_A_DURATION}"),
        ({"GOVPULSE_FETCH_WAIT": "inf"}, f"GOVPULSE_FETCH_WAIT='inf' {NOT_A_DURATION}"),
        (
            {"GOVPULSE_SESSION_TIMEOUT": "6 seconds"},
            f"GOVPULSE_SESSION_TIMEOUT='6 seconds' {NOT_A_DURATION}",
        ),
        ({"GOVPULSE_COMMIT_INTERVAL": "x"}, f"GOVPULSE_COMMIT_INTERVAL='x' {NOT_A_DURATION}"),
        ({"GOVPULSE_TICK_INTERVAL": "1y"}, f"GOVPULSE_TICK_INTERVAL='1y' {NOT_A_DURATION}"),
        ({"GOVPULSE_FEED_MAXLEN": "99"}, "GOVPULSE_FEED_MAXLEN=99 must be >= 100"),
        ({"GOVPULSE_PUBLISH_INTERVAL": "-5s"}, f"GOVPULSE_PUBLISH_INTERVAL='-5s' {NOT_A_DURATION}"),
        ({"GOVPULSE_WS_QUEUE": "9"}, "GOVPULSE_WS_QUEUE=9 must be >= 10"),
        (
            {"GOVPULSE_WS_SLOW_POLICY": "drop"},
            "GOVPULSE_WS_SLOW_POLICY='drop' must be one of snapshot, close",
        ),
        ({"GOVPULSE_WS_MAX_FRAME": "1023"}, "GOVPULSE_WS_MAX_FRAME=1023 must be >= 1024"),
        ({"GOVPULSE_WS_HEARTBEAT": "often"}, f"GOVPULSE_WS_HEARTBEAT='often' {NOT_A_DURATION}"),
        ({"GOVPULSE_COMMAND_RATE": "0"}, "GOVPULSE_COMMAND_RATE=0.0 must be >= 0.01"),
        ({"GOVPULSE_COMMAND_BURST": "0"}, "GOVPULSE_COMMAND_BURST=0 must be >= 1"),
        (
            {"GOVPULSE_LOG_LEVEL": "trace"},
            "GOVPULSE_LOG_LEVEL='trace' must be one of debug, info, warning, error",
        ),
        ({"GOVPULSE_METRICS_PORT": "-1"}, "GOVPULSE_METRICS_PORT=-1 must be >= 0"),
    ],
    ids=lambda value: next(iter(value)).removeprefix("GOVPULSE_") if isinstance(value, dict) else None,
)
def test_invalid_setting_is_config_error_naming_the_variable(env: dict[str, str], message: str) -> None:
    assert error_of(**env) == message


# -- the token secret ------------------------------------------------------------------


def test_production_without_secret_refuses_to_sign_tokens() -> None:
    settings = load_settings({"GOVPULSE_PROFILE": "production"})
    assert settings.production
    assert settings.secret == ""
    with pytest.raises(ConfigError) as caught:
        require_secret(settings)
    message = str(caught.value)
    assert message.startswith("GOVPULSE_SECRET is missing")
    assert message == (
        "GOVPULSE_SECRET is missing, and has no default outside GOVPULSE_PROFILE=dev; "
        "set it to a long random value (e.g. `openssl rand -hex 32`)"
    )


@pytest.mark.parametrize(
    ("env", "secret"),
    [
        ({}, DEV_SECRET),
        ({"GOVPULSE_SECRET": "   "}, DEV_SECRET),
        ({"GOVPULSE_SECRET": SECRET}, SECRET),
        ({"GOVPULSE_PROFILE": "production", "GOVPULSE_SECRET": f" {SECRET} "}, SECRET),
    ],
)
def test_secret_is_given_or_the_dev_default(env: dict[str, str], secret: str) -> None:
    assert require_secret(load_settings(env)) == secret


# -- clocks -----------------------------------------------------------------------------


def test_clock_start_is_an_instant_with_offset() -> None:
    settings = load_settings(
        {
            "GOVPULSE_CLOCK": "Accelerated",
            "GOVPULSE_CLOCK_SPEED": "120",
            "GOVPULSE_CLOCK_START": "2026-02-13T08:00:00+07:00",
            "GOVPULSE_CLOCK_ORIGIN": "1800000000.5",
        }
    )
    assert settings.clock == ClockSettings(
        kind="accelerated",
        speed=120.0,
        start=datetime.fromisoformat("2026-02-13T01:00:00+00:00").timestamp(),
        origin=1800000000.5,
    )


def test_wall_clock_settings_build_the_wall_clock() -> None:
    built = ClockSettings("wall", 60.0, None, None).build()
    assert isinstance(built, WallClock)
    assert built.speed == 1.0


def test_fixed_clock_settings_build_a_pinned_clock() -> None:
    built = ClockSettings("fixed", 60.0, 1771000000.0, None).build()
    assert isinstance(built, FixedClock)
    assert (built.now(), built.now(), built.speed) == (1771000000.0, 1771000000.0, 0.0)


def test_fixed_clock_without_start_pins_the_start_up_instant(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(time, "time", lambda: 1771000123.0)
    built = ClockSettings("fixed", 60.0, None, None).build()
    assert built.now() == 1771000123.0


def test_accelerated_clock_runs_speed_times_faster_from_the_shared_origin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = [1800000010.0]
    monkeypatch.setattr(time, "time", lambda: real[0])
    built = ClockSettings("accelerated", 60.0, 1771000000.0, 1800000000.0).build()
    assert isinstance(built, AcceleratedClock)
    assert built.speed == 60.0
    assert built.now() == 1771000000.0 + 600.0
    real[0] += 1.5
    assert built.now() == 1771000000.0 + 690.0


def test_accelerated_clock_defaults_to_start_at_origin_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time", lambda: 1800000000.0)
    built = ClockSettings("accelerated", 10.0, None, None).build()
    assert isinstance(built, AcceleratedClock)
    assert (built.start, built.origin, built.now()) == (1800000000.0, 1800000000.0, 1800000000.0)


@pytest.mark.parametrize("speed", [0.0, -1.0])
def test_accelerated_clock_needs_a_positive_speed(speed: float) -> None:
    with pytest.raises(ValueError) as caught:
        AcceleratedClock(start=0.0, origin=0.0, speed=speed)
    assert str(caught.value) == f"speed must be > 0, got {speed}"


def test_manual_clock_moves_only_by_hand() -> None:
    manual = ManualClock(100.0)
    assert manual.now() == 100.0
    assert manual.advance(2.5) == 102.5
    assert manual.now() == 102.5
    manual.set(50.0)
    assert manual.now() == 50.0
    assert repr(manual) == "ManualClock(50.0)"


# -- documentation ---------------------------------------------------------------------


def test_settings_markdown_documents_every_option() -> None:
    lines = settings_markdown().splitlines()
    assert lines[:2] == ["| Variable | Default | Meaning |", "|---|---|---|"]
    assert len(lines) == len(OPTIONS) + 2
    assert lines[2] == (
        "| `GOVPULSE_PROFILE` | `dev` | `dev` (embedded stack, dev secret allowed) or `production`. |"
    )
    assert (
        "| `GOVPULSE_SECRET` | (empty) | HMAC secret signing board tokens. Required outside `dev`. |"
    ) in lines


def test_readme_table_is_the_generated_one() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"\n{settings_markdown()}\n" in readme


# -- one declaration per setting ---------------------------------------------------------


def test_every_field_is_declared_once_with_its_variable() -> None:
    declared = [
        (item.name, item.metadata["govpulse.setting"].env)
        for item in dataclasses.fields(Settings)
        + dataclasses.fields(ClockSettings)
        + dataclasses.fields(ApiSettings)
        if "govpulse.setting" in item.metadata
    ]
    groups = [item.name for item in dataclasses.fields(Settings) if "govpulse.group" in item.metadata]
    plain = [item.name for item in dataclasses.fields(Settings) if not item.metadata]
    assert (groups, plain) == (["clock", "api"], ["environ"])
    assert len(declared) == len(OPTIONS)
    assert {env for _, env in declared} == {option.env for option in OPTIONS}
    assert ("web_port", "GOVPULSE_WEB_PORT") in declared
    assert ("speed", "GOVPULSE_CLOCK_SPEED") in declared


def test_settings_are_slotted() -> None:
    assert not hasattr(load_settings({}), "__dict__")
    assert not hasattr(load_settings({}).clock, "__dict__")


def test_the_dev_secret_is_refused_outside_dev() -> None:
    assert error_of(GOVPULSE_PROFILE="production", GOVPULSE_SECRET=DEV_SECRET) == (
        "GOVPULSE_SECRET is the public development secret (it is in the source code); "
        "set a long random value (e.g. `openssl rand -hex 32`)"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GOVPULSE_API_PORT": "http"}, "GOVPULSE_API_PORT='http' is not an integer"),
        ({"GOVPULSE_API_MAX_BODY_BYTES": "100"}, "GOVPULSE_API_MAX_BODY_BYTES=100 must be >= 1024"),
        ({"GOVPULSE_API_DEFAULT_RATE": "0"}, "GOVPULSE_API_DEFAULT_RATE=0.0 must be >= 0.01"),
    ],
)
def test_api_settings_are_validated_with_the_variable_named(env: dict[str, str], message: str) -> None:
    assert error_of(**env) == message


def test_api_durations_accept_units() -> None:
    api = load_settings({"GOVPULSE_API_IDEMPOTENCY_TTL": "36h", "GOVPULSE_API_SEND_TIMEOUT": "500ms"}).api

    assert (api.idempotency_ttl, api.send_timeout) == (36 * 3600.0, 0.5)
