"""The one settings object, read once at start-up from ``GOVPULSE_*`` environment variables.

Every option is listed in :data:`OPTIONS` with its variable, default and meaning; the
README table is generated from it (``govpulse settings --markdown``), so the two never
disagree. :func:`load_settings` validates everything and returns a frozen
:class:`Settings`; errors name the variable and say how to fix it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path

from domain.durations import parse_duration
from domain.errors import ConfigError
from runtime.clock import AcceleratedClock, Clock, FixedClock, WallClock

DEV_SECRET = "govpulse-dev-secret-not-for-production"


@dataclass(frozen=True, slots=True)
class Option:
    """One documented setting."""

    env: str
    default: str
    help: str


OPTIONS: tuple[Option, ...] = (
    Option("GOVPULSE_PROFILE", "dev", "`dev` (embedded stack, dev secret allowed) or `production`."),
    Option("GOVPULSE_APP_ID", "govpulse", "Consumer group id and prefix of internal topics/changelogs."),
    Option("GOVPULSE_TOPIC_PREFIX", "", "Prefix for every topic name (isolates test runs on one broker)."),
    Option(
        "GOVPULSE_BROKER_URL",
        "",
        "Existing Kafka bootstrap `host:port[,host:port]`; empty = `govpulse dev` starts Tansu.",
    ),
    Option("GOVPULSE_BROKER_PORT", "19092", "Port of the embedded Tansu broker started by `govpulse dev`."),
    Option("GOVPULSE_PARTITIONS", "8", "Partitions of every govpulse topic (input topics must match)."),
    Option("GOVPULSE_REDIS_URL", "", "Existing Redis URL; empty = `govpulse dev` starts its own Redis."),
    Option("GOVPULSE_REDIS_PORT", "16379", "Port of the Redis server started by `govpulse dev`."),
    Option("GOVPULSE_WEB_HOST", "127.0.0.1", "Interface the web server binds."),
    Option(
        "GOVPULSE_WEB_PORT", "8080", "Port of the web server (board pages, `/ws`, `/healthz`, `/metrics`)."
    ),
    Option(
        "GOVPULSE_PUBLIC_URL",
        "",
        "Base URL users open (printed links, default allowed origin); empty = `http://HOST:PORT`.",
    ),
    Option("GOVPULSE_SECRET", "", "HMAC secret signing board tokens. Required outside `dev`."),
    Option(
        "GOVPULSE_ALLOWED_ORIGINS",
        "",
        "Comma-separated origins allowed to open `/ws`; empty = the public URL only.",
    ),
    Option("GOVPULSE_CLOCK", "wall", "`wall`, `accelerated` (demo/replay) or `fixed` (pinned instant)."),
    Option("GOVPULSE_CLOCK_SPEED", "60", "Clock seconds per real second for the accelerated clock."),
    Option("GOVPULSE_CLOCK_START", "", "Clock instant (RFC 3339) at the origin; empty = the origin itself."),
    Option(
        "GOVPULSE_CLOCK_ORIGIN",
        "",
        "Real epoch seconds where the accelerated clock reads its start; empty = process start. "
        "`govpulse dev` sets it so all processes agree.",
    ),
    Option(
        "GOVPULSE_UNITS_FILE",
        "",
        "Unit catalog JSON; empty = packaged Ho Chi Minh City catalog (2025, two levels).",
    ),
    Option("GOVPULSE_SLA_FILE", "", "SLA policy TOML (per category and priority); empty = packaged default."),
    Option(
        "GOVPULSE_CALENDAR_FILE",
        "",
        "Working calendar TOML (office hours, local overrides); empty = packaged default.",
    ),
    Option(
        "GOVPULSE_RULES_FILE",
        "",
        "Alert rules TOML (thresholds, escalation ladder); empty = packaged default.",
    ),
    Option(
        "GOVPULSE_WINDOWS",
        "5m,1h,1d",
        "Counter windows: durations aligned to local time, `1d` = local day, `period` = reporting period.",
    ),
    Option(
        "GOVPULSE_REPORTING_PERIOD",
        "25T12:00",
        "Start of the monthly reporting period: day of month and local time (1022 portal: 25th 12:00).",
    ),
    Option(
        "GOVPULSE_WINDOW_GRACE",
        "10m",
        "Late events within this much stream time after a window ends still update it.",
    ),
    Option(
        "GOVPULSE_WINDOW_RETENTION",
        "5m=6h,1h=3d,1d=62d,period=400d",
        "How long windows are kept, per window.",
    ),
    Option("GOVPULSE_MAX_EVENT_BYTES", "65536", "Larger input messages are dead-lettered."),
    Option("GOVPULSE_MAX_FUTURE_SKEW", "1d", "Events dated further ahead of the clock are dead-lettered."),
    Option(
        "GOVPULSE_CLOSED_ITEM_RETENTION",
        "35d",
        "How long resolved/cancelled items are kept (reopen, dedup) before removal.",
    ),
    Option("GOVPULSE_DEDUP_IDS", "32", "Event ids remembered per item for de-duplication."),
    Option("GOVPULSE_BATCH_SIZE", "2000", "Maximum events an agent processes per batch."),
    Option("GOVPULSE_BATCH_WINDOW", "20ms", "Longest wait to fill a batch."),
    Option(
        "GOVPULSE_FETCH_WAIT",
        "20ms",
        "Consumer fetch long-poll; bounds latency on brokers that do not answer early (Tansu).",
    ),
    Option(
        "GOVPULSE_SESSION_TIMEOUT",
        "6s",
        "Consumer group session timeout; Tansu holds each join for part of it.",
    ),
    Option("GOVPULSE_COMMIT_INTERVAL", "1s", "How often processed offsets are committed."),
    Option("GOVPULSE_TICK_INTERVAL", "200ms", "Resolution of the deadline and alert timers."),
    Option(
        "GOVPULSE_STORE",
        "govmemory://",
        "Faust table store: `govmemory://` (in memory, restored from the changelogs in bulk), "
        "`memory://` (Faust's own); see docs/operations.md.",
    ),
    Option("GOVPULSE_DATA_DIR", ".govpulse", "Directory for worker state and the dev stack's logs."),
    Option("GOVPULSE_FEED_MAXLEN", "100000", "Approximate length bound of the Redis Stream `board:feed`."),
    Option("GOVPULSE_PUBLISH_INTERVAL", "500ms", "Unit counters are published at most this often per unit."),
    Option(
        "GOVPULSE_WS_QUEUE",
        "2000",
        "Frames buffered per websocket connection before the slow-client policy applies.",
    ),
    Option(
        "GOVPULSE_WS_SLOW_POLICY",
        "snapshot",
        "`snapshot` (drop the backlog, send a fresh snapshot) or `close` (1008).",
    ),
    Option("GOVPULSE_WS_MAX_FRAME", "65536", "Largest frame a client may send, in bytes."),
    Option("GOVPULSE_WS_HEARTBEAT", "5s", "Interval of heartbeat frames and protocol pings."),
    Option(
        "GOVPULSE_COMMAND_RATE",
        "2",
        "Commands (ack/explain) per second a connection may send (token bucket).",
    ),
    Option("GOVPULSE_COMMAND_BURST", "10", "Burst size of the command token bucket."),
    Option("GOVPULSE_LOG_LEVEL", "info", "`debug`, `info`, `warning` or `error`."),
    Option("GOVPULSE_EVENT_LOOP", "uvloop", "Worker event loop: `uvloop` (faster) or `asyncio`."),
    Option("GOVPULSE_METRICS_PORT", "0", "Worker Prometheus port (0 = off)."),
)

_DEFAULTS = {option.env: option.default for option in OPTIONS}
WINDOW_DEFAULT_RETENTION = {"5m": "6h", "1h": "3d", "1d": "62d", "period": "400d"}


@dataclass(frozen=True, slots=True)
class ClockSettings:
    """How the clock of every process is built."""

    kind: str
    speed: float
    start: float | None
    origin: float | None

    def build(self) -> Clock:
        """Return the configured clock."""
        if self.kind == "wall":
            return WallClock()
        if self.kind == "fixed":
            return FixedClock(self.start if self.start is not None else time.time())
        origin = self.origin if self.origin is not None else time.time()
        start = self.start if self.start is not None else origin
        return AcceleratedClock(start=start, origin=origin, speed=self.speed)


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated, frozen settings. Build with :func:`load_settings`."""

    profile: str
    app_id: str
    topic_prefix: str
    broker_url: str
    broker_port: int
    partitions: int
    redis_url: str
    redis_port: int
    web_host: str
    web_port: int
    public_url: str
    secret: str
    allowed_origins: tuple[str, ...]
    clock: ClockSettings
    units_file: Path
    sla_file: Path
    calendar_file: Path
    rules_file: Path
    windows: tuple[str, ...]
    reporting_period: tuple[int, int, int]
    window_grace: float
    window_retention: Mapping[str, float]
    max_event_bytes: int
    max_future_skew: float
    closed_item_retention: float
    dedup_ids: int
    batch_size: int
    batch_window: float
    fetch_wait: float
    session_timeout: float
    commit_interval: float
    tick_interval: float
    store: str
    data_dir: Path
    feed_maxlen: int
    publish_interval: float
    ws_queue: int
    ws_slow_policy: str
    ws_max_frame: int
    ws_heartbeat: float
    command_rate: float
    command_burst: int
    log_level: str
    event_loop: str
    metrics_port: int
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def broker_bootstrap(self) -> str:
        """``host:port`` list of the broker in use (given URL or the embedded one)."""
        return self.broker_url or f"127.0.0.1:{self.broker_port}"

    @property
    def redis_target(self) -> str:
        """URL of the Redis in use (given URL or the embedded one)."""
        return self.redis_url or f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def production(self) -> bool:
        return self.profile == "production"

    def topic(self, name: str) -> str:
        """Full name of topic ``name`` (e.g. ``gov.feedback``) with the configured prefix."""
        return f"{self.topic_prefix}{name}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read, validate and freeze the settings.

    Args:
        environ: variables to read; defaults to ``os.environ``.

    Raises:
        ConfigError: a variable is invalid; the message names it and the fix.
    """
    env = dict(os.environ if environ is None else environ)

    def raw(name: str) -> str:
        return env.get(name, _DEFAULTS[name]).strip()

    def integer(name: str, *, minimum: int = 0) -> int:
        text = raw(name)
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"{name}={text!r} is not an integer") from None
        if value < minimum:
            raise ConfigError(f"{name}={value} must be >= {minimum}")
        return value

    def number(name: str, *, minimum: float = 0.0) -> float:
        text = raw(name)
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{name}={text!r} is not a number") from None
        if not math.isfinite(value):
            raise ConfigError(f"{name}={text!r} is not a number")
        if value < minimum:
            raise ConfigError(f"{name}={value} must be >= {minimum}")
        return value

    def duration(name: str) -> float:
        return parse_duration(raw(name), name=name)

    def choice(name: str, allowed: tuple[str, ...]) -> str:
        value = raw(name).lower()
        if value not in allowed:
            raise ConfigError(f"{name}={value!r} must be one of {', '.join(allowed)}")
        return value

    def data_file(name: str, packaged: str, *, package: str = "domain") -> Path:
        given = raw(name)
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                raise ConfigError(f"{name}={given!r} does not exist or is not a file")
            return path
        return Path(str(resources.files(package).joinpath("data", packaged)))

    profile = choice("GOVPULSE_PROFILE", ("dev", "production"))
    secret = raw("GOVPULSE_SECRET")
    if not secret:
        secret = DEV_SECRET if profile == "dev" else ""
    elif len(secret) < 16:
        raise ConfigError("GOVPULSE_SECRET is shorter than 16 characters; use a long random value")
    elif secret == DEV_SECRET and profile != "dev":
        raise ConfigError(
            "GOVPULSE_SECRET is the public development secret (it is in the source code); "
            "set a long random value (e.g. `openssl rand -hex 32`)"
        )

    web_host = raw("GOVPULSE_WEB_HOST")
    web_port = integer("GOVPULSE_WEB_PORT")
    public_url = raw("GOVPULSE_PUBLIC_URL").rstrip("/") or f"http://{web_host}:{web_port}"
    origins = tuple(o.strip().rstrip("/") for o in raw("GOVPULSE_ALLOWED_ORIGINS").split(",") if o.strip())

    clock_kind = choice("GOVPULSE_CLOCK", ("wall", "accelerated", "fixed"))
    start_text = raw("GOVPULSE_CLOCK_START")
    start: float | None = None
    if start_text:
        try:
            parsed = datetime.fromisoformat(start_text)
        except ValueError:
            raise ConfigError(f"GOVPULSE_CLOCK_START={start_text!r} is not an RFC 3339 instant") from None
        if parsed.tzinfo is None:
            raise ConfigError(f"GOVPULSE_CLOCK_START={start_text!r} needs a UTC offset, e.g. +07:00")
        start = parsed.timestamp()
    origin_text = raw("GOVPULSE_CLOCK_ORIGIN")
    origin = number("GOVPULSE_CLOCK_ORIGIN") if origin_text else None
    clock = ClockSettings(
        kind=clock_kind,
        speed=number("GOVPULSE_CLOCK_SPEED", minimum=0.001),
        start=start,
        origin=origin,
    )

    windows = tuple(w.strip() for w in raw("GOVPULSE_WINDOWS").split(",") if w.strip())
    if not windows:
        raise ConfigError("GOVPULSE_WINDOWS is empty; list at least one window, e.g. '5m,1h,1d'")
    for window in windows:
        if window not in ("1d", "period"):
            parse_duration(window, name=f"GOVPULSE_WINDOWS entry {window!r}")

    retention: dict[str, float] = {}
    for entry in raw("GOVPULSE_WINDOW_RETENTION").split(","):
        if not entry.strip():
            continue
        key, sep, value = entry.partition("=")
        if not sep:
            raise ConfigError(
                f"GOVPULSE_WINDOW_RETENTION entry {entry!r} must look like WINDOW=DURATION, e.g. 5m=6h"
            )
        retention[key.strip()] = parse_duration(value, name=f"GOVPULSE_WINDOW_RETENTION[{key.strip()}]")
    for window in windows:
        if window not in retention:
            default = WINDOW_DEFAULT_RETENTION.get(window)
            if default is None:
                retention[window] = max(parse_duration(window) * 72, 86400.0)
            else:
                retention[window] = parse_duration(default)

    period_text = raw("GOVPULSE_REPORTING_PERIOD")
    try:
        day_text, _, hm = period_text.partition("T")
        hour_text, _, minute_text = hm.partition(":")
        period = (int(day_text), int(hour_text or 0), int(minute_text or 0))
    except ValueError:
        raise ConfigError(
            f"GOVPULSE_REPORTING_PERIOD={period_text!r} must look like DAYTHH:MM, e.g. 25T12:00"
        ) from None
    if not (1 <= period[0] <= 28 and 0 <= period[1] < 24 and 0 <= period[2] < 60):
        raise ConfigError(f"GOVPULSE_REPORTING_PERIOD={period_text!r}: day must be 1..28, time a valid HH:MM")

    partitions = integer("GOVPULSE_PARTITIONS", minimum=1)
    log_level = choice("GOVPULSE_LOG_LEVEL", ("debug", "info", "warning", "error"))

    return Settings(
        profile=profile,
        app_id=raw("GOVPULSE_APP_ID") or "govpulse",
        topic_prefix=raw("GOVPULSE_TOPIC_PREFIX"),
        broker_url=_strip_scheme(raw("GOVPULSE_BROKER_URL")),
        broker_port=integer("GOVPULSE_BROKER_PORT", minimum=1),
        partitions=partitions,
        redis_url=raw("GOVPULSE_REDIS_URL"),
        redis_port=integer("GOVPULSE_REDIS_PORT", minimum=1),
        web_host=web_host,
        web_port=web_port,
        public_url=public_url,
        secret=secret,
        allowed_origins=origins or (public_url,),
        clock=clock,
        units_file=data_file("GOVPULSE_UNITS_FILE", "units.json"),
        sla_file=data_file("GOVPULSE_SLA_FILE", "sla.toml"),
        calendar_file=data_file("GOVPULSE_CALENDAR_FILE", "calendar.toml"),
        rules_file=data_file("GOVPULSE_RULES_FILE", "rules.toml", package="alerts"),
        windows=windows,
        reporting_period=period,
        window_grace=duration("GOVPULSE_WINDOW_GRACE"),
        window_retention=retention,
        max_event_bytes=integer("GOVPULSE_MAX_EVENT_BYTES", minimum=256),
        max_future_skew=duration("GOVPULSE_MAX_FUTURE_SKEW"),
        closed_item_retention=duration("GOVPULSE_CLOSED_ITEM_RETENTION"),
        dedup_ids=integer("GOVPULSE_DEDUP_IDS", minimum=1),
        batch_size=integer("GOVPULSE_BATCH_SIZE", minimum=1),
        batch_window=duration("GOVPULSE_BATCH_WINDOW"),
        fetch_wait=duration("GOVPULSE_FETCH_WAIT"),
        session_timeout=duration("GOVPULSE_SESSION_TIMEOUT"),
        commit_interval=duration("GOVPULSE_COMMIT_INTERVAL"),
        tick_interval=duration("GOVPULSE_TICK_INTERVAL"),
        store=raw("GOVPULSE_STORE") or "govmemory://",
        data_dir=Path(raw("GOVPULSE_DATA_DIR") or ".govpulse"),
        feed_maxlen=integer("GOVPULSE_FEED_MAXLEN", minimum=100),
        publish_interval=duration("GOVPULSE_PUBLISH_INTERVAL"),
        ws_queue=integer("GOVPULSE_WS_QUEUE", minimum=10),
        ws_slow_policy=choice("GOVPULSE_WS_SLOW_POLICY", ("snapshot", "close")),
        ws_max_frame=integer("GOVPULSE_WS_MAX_FRAME", minimum=1024),
        ws_heartbeat=duration("GOVPULSE_WS_HEARTBEAT"),
        command_rate=number("GOVPULSE_COMMAND_RATE", minimum=0.01),
        command_burst=integer("GOVPULSE_COMMAND_BURST", minimum=1),
        log_level=log_level,
        event_loop=choice("GOVPULSE_EVENT_LOOP", ("uvloop", "asyncio")),
        metrics_port=integer("GOVPULSE_METRICS_PORT"),
        environ=env,
    )


def require_secret(settings: Settings) -> str:
    """Return the token secret, refusing the dev default outside the dev profile.

    Raises:
        ConfigError: ``GOVPULSE_SECRET`` is missing in production.
    """
    if not settings.secret:
        raise ConfigError(
            "GOVPULSE_SECRET is missing, and has no default outside GOVPULSE_PROFILE=dev; "
            "set it to a long random value (e.g. `openssl rand -hex 32`)"
        )
    return settings.secret


def settings_markdown() -> str:
    """Return the settings table (Markdown) for the README."""
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for option in OPTIONS:
        default = f"`{option.default}`" if option.default else "(empty)"
        lines.append(f"| `{option.env}` | {default} | {option.help} |")
    return "\n".join(lines)


def _strip_scheme(url: str) -> str:
    for scheme in ("kafka://", "govkafka://", "aiokafka://"):
        if url.startswith(scheme):
            return url[len(scheme) :]
    return url
