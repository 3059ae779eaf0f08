"""The one settings object, read once at start-up from ``GOVPULSE_*`` environment variables.

Each setting is declared once, as a field of :class:`Settings` (or of a group such as
:class:`ClockSettings`) whose metadata is a :class:`Setting`: its variable, default, meaning
and parser. From that one declaration come the dataclass field (and its type for mypy),
:func:`load_settings`, :data:`OPTIONS`, ``govpulse settings`` and the README table
(:func:`settings_markdown`, ``govpulse settings --markdown``), so they never disagree.

:func:`load_settings` parses every field with its parser, then applies the few rules that
join fields (the dev secret and the profile, the public URL from host and port, the allowed
origins from the public URL, a retention for every window) and returns a frozen
:class:`Settings`; errors name the variable and say how to fix it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.durations import parse_duration
from domain.errors import ConfigError
from runtime.clock import AcceleratedClock, Clock, FixedClock, WallClock

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

DEV_SECRET = "govpulse-dev-secret-not-for-production"
WINDOW_DEFAULT_RETENTION = {"5m": "6h", "1h": "3d", "1d": "93d", "period": "400d"}

#: A parser turns the (stripped) text of a variable into the field's value; it gets the
#: variable's name for its error messages and raises :class:`ConfigError`.
Parser = Callable[[str, str], Any]

_SETTING = "govpulse.setting"
_GROUP = "govpulse.group"


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: the variable it is read from, its default, its meaning and its parser.

    Attributes:
        env: the ``GOVPULSE_*`` variable.
        default: the text used when the variable is not set (documented as is).
        help: one sentence for the README table.
        parse: the parser of the text (see :data:`Parser`).
        blank_is_default: a blank value means the default (rather than "empty").
    """

    env: str
    default: str
    help: str
    parse: Parser
    blank_is_default: bool = False

    def read(self, environ: Mapping[str, str]) -> Any:
        """Parse this setting's value out of ``environ``.

        Raises:
            ConfigError: the value is invalid; the message names the variable.
        """
        text = environ.get(self.env, self.default).strip()
        if not text and self.blank_is_default:
            text = self.default
        return self.parse(text, self.env)


def setting(
    env: str, default: str, help: str, parse: Parser, *, blank_is_default: bool = False
) -> Mapping[str, Any]:
    """Field metadata declaring a setting: ``x: int = field(metadata=setting(...))``."""
    return {_SETTING: Setting(env, default, help, parse, blank_is_default)}


def group(kind: type[DataclassInstance]) -> Mapping[str, Any]:
    """Field metadata for a field built from the settings of another dataclass."""
    return {_GROUP: kind}


def declared(kind: type[DataclassInstance]) -> Iterator[Setting]:
    """Every setting of ``kind`` in declaration order, groups expanded in place."""
    for item in dataclasses.fields(kind):
        if _SETTING in item.metadata:
            yield item.metadata[_SETTING]
        elif _GROUP in item.metadata:
            yield from declared(item.metadata[_GROUP])


# -- parsers ----------------------------------------------------------------------------


def text(value: str, name: str) -> str:
    """The text as given (stripped)."""
    return value


def integer(*, minimum: int = 0) -> Parser:
    """A whole number of at least ``minimum``."""

    def parse(value: str, name: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not an integer") from None
        if number < minimum:
            raise ConfigError(f"{name}={number} must be >= {minimum}")
        return number

    return parse


def number(*, minimum: float = 0.0) -> Parser:
    """A finite number of at least ``minimum``."""

    def parse(value: str, name: str) -> float:
        try:
            parsed = float(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not a number") from None
        if not math.isfinite(parsed):
            raise ConfigError(f"{name}={value!r} is not a number")
        if parsed < minimum:
            raise ConfigError(f"{name}={parsed} must be >= {minimum}")
        return parsed

    return parse


def optional(parse: Parser) -> Parser:
    """``parse``, or ``None`` when the value is empty."""

    def parse_optional(value: str, name: str) -> Any:
        return parse(value, name) if value else None

    return parse_optional


def duration(value: str, name: str) -> float:
    """A duration (``500ms``, ``10m``, ``1h30m``, ``3d`` or seconds) in seconds."""
    return parse_duration(value, name=name)


def choice(*allowed: str) -> Parser:
    """One of ``allowed``, case-insensitive; the value is lower-cased."""

    def parse(value: str, name: str) -> str:
        lowered = value.lower()
        if lowered not in allowed:
            raise ConfigError(f"{name}={lowered!r} must be one of {', '.join(allowed)}")
        return lowered

    return parse


def data_file(packaged: str, *, package: str = "domain") -> Parser:
    """An existing file, or (empty) the file ``packaged`` in ``package``'s ``data`` folder."""

    def parse(value: str, name: str) -> Path:
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise ConfigError(f"{name}={value!r} does not exist or is not a file")
            return path
        return Path(str(resources.files(package).joinpath("data", packaged)))

    return parse


def path(value: str, name: str) -> Path:
    """A filesystem path."""
    return Path(value)


def url_list(value: str, name: str) -> tuple[str, ...]:
    """Comma-separated URLs, without trailing slashes; empty entries are skipped."""
    return tuple(entry.strip().rstrip("/") for entry in value.split(",") if entry.strip())


def url(value: str, name: str) -> str:
    """A URL without its trailing slash."""
    return value.rstrip("/")


def kafka_bootstrap(value: str, name: str) -> str:
    """Kafka bootstrap servers, with a ``kafka://``-style scheme removed."""
    for scheme in ("kafka://", "govkafka://", "aiokafka://"):
        if value.startswith(scheme):
            return value[len(scheme) :]
    return value


def long_secret(value: str, name: str) -> str:
    """A long secret, or empty (the profile decides what empty means)."""
    if value and len(value) < 16:
        raise ConfigError(f"{name} is shorter than 16 characters; use a long random value")
    return value


def instant(value: str, name: str) -> float:
    """An RFC 3339 instant with a UTC offset, as epoch seconds."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not an RFC 3339 instant") from None
    if parsed.tzinfo is None:
        raise ConfigError(f"{name}={value!r} needs a UTC offset, e.g. +07:00")
    return parsed.timestamp()


def window_list(value: str, name: str) -> tuple[str, ...]:
    """Counter windows: durations, ``1d`` (the local day) or ``period``."""
    found = tuple(entry.strip() for entry in value.split(",") if entry.strip())
    if not found:
        raise ConfigError(f"{name} is empty; list at least one window, e.g. '5m,1h,1d'")
    for window in found:
        if window not in ("1d", "period"):
            parse_duration(window, name=f"{name} entry {window!r}")
    return found


def retention_map(value: str, name: str) -> dict[str, float]:
    """``WINDOW=DURATION`` entries, comma-separated."""
    kept: dict[str, float] = {}
    for entry in value.split(","):
        if not entry.strip():
            continue
        key, sep, amount = entry.partition("=")
        if not sep:
            raise ConfigError(f"{name} entry {entry!r} must look like WINDOW=DURATION, e.g. 5m=6h")
        kept[key.strip()] = parse_duration(amount, name=f"{name}[{key.strip()}]")
    return kept


def day_and_time(value: str, name: str) -> tuple[int, int, int]:
    """Day of month and local time ``DAYTHH:MM``, as ``(day, hour, minute)``."""
    try:
        day_text, _, hm = value.partition("T")
        hour_text, _, minute_text = hm.partition(":")
        period = (int(day_text), int(hour_text or 0), int(minute_text or 0))
    except ValueError:
        raise ConfigError(f"{name}={value!r} must look like DAYTHH:MM, e.g. 25T12:00") from None
    if not (1 <= period[0] <= 28 and 0 <= period[1] < 24 and 0 <= period[2] < 60):
        raise ConfigError(f"{name}={value!r}: day must be 1..28, time a valid HH:MM")
    return period


# -- the settings -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClockSettings:
    """How the clock of every process is built."""

    kind: str = field(
        metadata=setting(
            "GOVPULSE_CLOCK",
            "wall",
            "`wall`, `accelerated` (demo/replay) or `fixed` (pinned instant).",
            choice("wall", "accelerated", "fixed"),
        )
    )
    speed: float = field(
        metadata=setting(
            "GOVPULSE_CLOCK_SPEED",
            "60",
            "Clock seconds per real second for the accelerated clock.",
            number(minimum=0.001),
        )
    )
    start: float | None = field(
        metadata=setting(
            "GOVPULSE_CLOCK_START",
            "",
            "Clock instant (RFC 3339) at the origin; empty = the origin itself.",
            optional(instant),
        )
    )
    origin: float | None = field(
        metadata=setting(
            "GOVPULSE_CLOCK_ORIGIN",
            "",
            "Real epoch seconds where the accelerated clock reads its start; empty = process start. "
            "`govpulse dev` sets it so all processes agree.",
            optional(number()),
        )
    )

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
class ApiSettings:
    """The HTTP ingest API (``govpulse api``, docs/api.md)."""

    host: str = field(
        metadata=setting("GOVPULSE_API_HOST", "127.0.0.1", "Interface the HTTP API binds.", text)
    )
    port: int = field(
        metadata=setting(
            "GOVPULSE_API_PORT",
            "8090",
            "Port of the HTTP API (`/api/v1/…`, `/open311/v2/…`, `/api/openapi.json`, `/api/docs`).",
            integer(minimum=0),
        )
    )
    max_body_bytes: int = field(
        metadata=setting(
            "GOVPULSE_API_MAX_BODY_BYTES",
            "8388608",
            "Largest request body the API reads (413 above it); a batch holds at most 1,000 events.",
            integer(minimum=1024),
        )
    )
    idempotency_ttl: float = field(
        metadata=setting(
            "GOVPULSE_API_IDEMPOTENCY_TTL",
            "7d",
            "How long the API remembers an accepted `event_id` (a retried POST inside it creates nothing).",
            duration,
        )
    )
    send_timeout: float = field(
        metadata=setting(
            "GOVPULSE_API_SEND_TIMEOUT",
            "10s",
            "How long a POST waits for the broker to acknowledge its events before answering 503.",
            duration,
        )
    )
    default_rate: float = field(
        metadata=setting(
            "GOVPULSE_API_DEFAULT_RATE",
            "50",
            "Requests per second per API key and API process, for keys created without `--rate`.",
            number(minimum=0.01),
        )
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated, frozen settings. Build with :func:`load_settings`."""

    profile: str = field(
        metadata=setting(
            "GOVPULSE_PROFILE",
            "dev",
            "`dev` (embedded stack, dev secret allowed) or `production`.",
            choice("dev", "production"),
        )
    )
    app_id: str = field(
        metadata=setting(
            "GOVPULSE_APP_ID",
            "govpulse",
            "Consumer group id and prefix of internal topics/changelogs.",
            text,
            blank_is_default=True,
        )
    )
    topic_prefix: str = field(
        metadata=setting(
            "GOVPULSE_TOPIC_PREFIX",
            "",
            "Prefix for every topic name (isolates test runs on one broker).",
            text,
        )
    )
    broker_url: str = field(
        metadata=setting(
            "GOVPULSE_BROKER_URL",
            "",
            "Existing Kafka bootstrap `host:port[,host:port]`; empty = `govpulse dev` starts Tansu.",
            kafka_bootstrap,
        )
    )
    broker_port: int = field(
        metadata=setting(
            "GOVPULSE_BROKER_PORT",
            "19092",
            "Port of the embedded Tansu broker started by `govpulse dev`.",
            integer(minimum=1),
        )
    )
    partitions: int = field(
        metadata=setting(
            "GOVPULSE_PARTITIONS",
            "8",
            "Partitions of every govpulse topic (input topics must match).",
            integer(minimum=1),
        )
    )
    redis_url: str = field(
        metadata=setting(
            "GOVPULSE_REDIS_URL", "", "Existing Redis URL; empty = `govpulse dev` starts its own Redis.", text
        )
    )
    redis_port: int = field(
        metadata=setting(
            "GOVPULSE_REDIS_PORT",
            "16379",
            "Port of the Redis server started by `govpulse dev`.",
            integer(minimum=1),
        )
    )
    web_host: str = field(
        metadata=setting("GOVPULSE_WEB_HOST", "127.0.0.1", "Interface the web server binds.", text)
    )
    web_port: int = field(
        metadata=setting(
            "GOVPULSE_WEB_PORT",
            "8080",
            "Port of the web server (board pages, `/ws`, `/healthz`, `/metrics`).",
            integer(minimum=0),
        )
    )
    public_url: str = field(
        metadata=setting(
            "GOVPULSE_PUBLIC_URL",
            "",
            "Base URL users open (printed links, default allowed origin); empty = `http://HOST:PORT`.",
            url,
        )
    )
    secret: str = field(
        metadata=setting(
            "GOVPULSE_SECRET", "", "HMAC secret signing board tokens. Required outside `dev`.", long_secret
        )
    )
    allowed_origins: tuple[str, ...] = field(
        metadata=setting(
            "GOVPULSE_ALLOWED_ORIGINS",
            "",
            "Comma-separated origins allowed to open `/ws`; empty = the public URL only.",
            url_list,
        )
    )
    clock: ClockSettings = field(metadata=group(ClockSettings))
    units_file: Path = field(
        metadata=setting(
            "GOVPULSE_UNITS_FILE",
            "",
            "Unit catalog JSON; empty = packaged Ho Chi Minh City catalog (2025, two levels).",
            data_file("units.json"),
        )
    )
    sla_file: Path = field(
        metadata=setting(
            "GOVPULSE_SLA_FILE",
            "",
            "SLA policy TOML (per category and priority); empty = packaged default.",
            data_file("sla.toml"),
        )
    )
    calendar_file: Path = field(
        metadata=setting(
            "GOVPULSE_CALENDAR_FILE",
            "",
            "Working calendar TOML (office hours, local overrides); empty = packaged default.",
            data_file("calendar.toml"),
        )
    )
    rules_file: Path = field(
        metadata=setting(
            "GOVPULSE_RULES_FILE",
            "",
            "Alert rules TOML (thresholds, escalation ladder); empty = packaged default.",
            data_file("rules.toml", package="alerts"),
        )
    )
    indicators_file: Path = field(
        metadata=setting(
            "GOVPULSE_INDICATORS_FILE",
            "",
            "Indicator catalog TOML (targets per unit, plan curves, colour thresholds); "
            "empty = packaged default (docs/indicators.md).",
            data_file("indicators.toml"),
        )
    )
    windows: tuple[str, ...] = field(
        metadata=setting(
            "GOVPULSE_WINDOWS",
            "5m,1h,1d,period",
            "Counter windows: durations aligned to local time, `1d` = local day, "
            "`period` = reporting period.",
            window_list,
        )
    )
    reporting_period: tuple[int, int, int] = field(
        metadata=setting(
            "GOVPULSE_REPORTING_PERIOD",
            "25T12:00",
            "Start of the monthly reporting period: day of month and local time (1022 portal: 25th 12:00).",
            day_and_time,
        )
    )
    report_grace: float = field(
        metadata=setting(
            "GOVPULSE_REPORT_GRACE",
            "7d",
            "Events this late (stream time after a report month ends) are still counted in it, "
            "as a new revision of its reports; later ones are listed as late events.",
            duration,
        )
    )
    item_timelines: str = field(
        metadata=setting(
            "GOVPULSE_ITEM_TIMELINES",
            "on",
            "`on`: the worker keeps every item's timeline in Redis for `/item/<id>` "
            "(docs/reports.md); `off` saves its Redis writes and worker memory.",
            choice("on", "off"),
        )
    )
    classification_file: Path = field(
        metadata=setting(
            "GOVPULSE_CLASSIFICATION_FILE",
            "",
            "Quarterly classification bands TOML (docs/reports.md); empty = packaged default.",
            data_file("classification.toml"),
        )
    )
    window_grace: float = field(
        metadata=setting(
            "GOVPULSE_WINDOW_GRACE",
            "10m",
            "Late events within this much stream time after a window ends still update it.",
            duration,
        )
    )
    window_retention: Mapping[str, float] = field(
        metadata=setting(
            "GOVPULSE_WINDOW_RETENTION",
            "5m=6h,1h=3d,1d=93d,period=400d",
            "How long windows are kept, per window.",
            retention_map,
        )
    )
    max_event_bytes: int = field(
        metadata=setting(
            "GOVPULSE_MAX_EVENT_BYTES",
            "65536",
            "Larger input messages are dead-lettered.",
            integer(minimum=256),
        )
    )
    max_future_skew: float = field(
        metadata=setting(
            "GOVPULSE_MAX_FUTURE_SKEW",
            "1d",
            "Events dated further ahead of the clock are dead-lettered.",
            duration,
        )
    )
    closed_item_retention: float = field(
        metadata=setting(
            "GOVPULSE_CLOSED_ITEM_RETENTION",
            "35d",
            "How long resolved/cancelled items are kept (reopen, dedup) before removal.",
            duration,
        )
    )
    dedup_ids: int = field(
        metadata=setting(
            "GOVPULSE_DEDUP_IDS",
            "32",
            "Event ids remembered per item for de-duplication.",
            integer(minimum=1),
        )
    )
    batch_size: int = field(
        metadata=setting(
            "GOVPULSE_BATCH_SIZE", "2000", "Maximum events an agent processes per batch.", integer(minimum=1)
        )
    )
    batch_window: float = field(
        metadata=setting("GOVPULSE_BATCH_WINDOW", "20ms", "Longest wait to fill a batch.", duration)
    )
    fetch_wait: float = field(
        metadata=setting(
            "GOVPULSE_FETCH_WAIT",
            "20ms",
            "Consumer fetch long-poll; bounds latency on brokers that do not answer early (Tansu).",
            duration,
        )
    )
    session_timeout: float = field(
        metadata=setting(
            "GOVPULSE_SESSION_TIMEOUT",
            "6s",
            "Consumer group session timeout; Tansu holds each join for part of it.",
            duration,
        )
    )
    commit_interval: float = field(
        metadata=setting(
            "GOVPULSE_COMMIT_INTERVAL", "1s", "How often processed offsets are committed.", duration
        )
    )
    tick_interval: float = field(
        metadata=setting(
            "GOVPULSE_TICK_INTERVAL", "200ms", "Resolution of the deadline and alert timers.", duration
        )
    )
    store: str = field(
        metadata=setting(
            "GOVPULSE_STORE",
            "govmemory://",
            "Faust table store: `govmemory://` (in memory, restored from the changelogs in bulk at start "
            "and rebalance) or `memory://` (Faust's own memory store, restored by Faust's recovery); "
            "see docs/operations.md.",
            text,
            blank_is_default=True,
        )
    )
    data_dir: Path = field(
        metadata=setting(
            "GOVPULSE_DATA_DIR",
            ".govpulse",
            "Directory for worker state and the dev stack's logs.",
            path,
            blank_is_default=True,
        )
    )
    feed_maxlen: int = field(
        metadata=setting(
            "GOVPULSE_FEED_MAXLEN",
            "100000",
            "Approximate length bound of the Redis Stream `board:feed`.",
            integer(minimum=100),
        )
    )
    publish_interval: float = field(
        metadata=setting(
            "GOVPULSE_PUBLISH_INTERVAL",
            "500ms",
            "Unit counters are published at most this often per unit.",
            duration,
        )
    )
    ws_queue: int = field(
        metadata=setting(
            "GOVPULSE_WS_QUEUE",
            "2000",
            "Frames buffered per websocket connection before the slow-client policy applies.",
            integer(minimum=10),
        )
    )
    ws_slow_policy: str = field(
        metadata=setting(
            "GOVPULSE_WS_SLOW_POLICY",
            "snapshot",
            "`snapshot` (drop the backlog, send a fresh snapshot) or `close` (1008).",
            choice("snapshot", "close"),
        )
    )
    ws_flush_interval: float = field(
        metadata=setting(
            "GOVPULSE_WS_FLUSH_INTERVAL",
            "100ms",
            "Live deltas are written to the connections at most this often (one write per "
            "group of connections that see the same deltas); `0` writes every read at once.",
            duration,
        )
    )
    ws_compression: str = field(
        metadata=setting(
            "GOVPULSE_WS_COMPRESSION",
            "deflate",
            "Websocket compression: `deflate` (permessage-deflate without context takeover, "
            "so each group frame is compressed once for all its connections; every browser "
            "accepts it) or `off`.",
            choice("deflate", "off"),
        )
    )
    ws_max_frame: int = field(
        metadata=setting(
            "GOVPULSE_WS_MAX_FRAME",
            "65536",
            "Largest frame a client may send, in bytes.",
            integer(minimum=1024),
        )
    )
    ws_heartbeat: float = field(
        metadata=setting(
            "GOVPULSE_WS_HEARTBEAT", "5s", "Interval of heartbeat frames and protocol pings.", duration
        )
    )
    ws_revocation_check: float = field(
        metadata=setting(
            "GOVPULSE_WS_REVOCATION_CHECK",
            "2s",
            "How often a web node looks up the tokens of its open sessions on the revoked list "
            "and closes those revoked (4401); `0` checks only when a page connects.",
            duration,
        )
    )
    command_rate: float = field(
        metadata=setting(
            "GOVPULSE_COMMAND_RATE",
            "2",
            "Commands (ack/explain) per second a connection may send (token bucket).",
            number(minimum=0.01),
        )
    )
    command_burst: int = field(
        metadata=setting(
            "GOVPULSE_COMMAND_BURST", "10", "Burst size of the command token bucket.", integer(minimum=1)
        )
    )
    log_level: str = field(
        metadata=setting(
            "GOVPULSE_LOG_LEVEL",
            "info",
            "`debug`, `info`, `warning` or `error`.",
            choice("debug", "info", "warning", "error"),
        )
    )
    event_loop: str = field(
        metadata=setting(
            "GOVPULSE_EVENT_LOOP",
            "uvloop",
            "Worker event loop: `uvloop` (faster) or `asyncio`.",
            choice("uvloop", "asyncio"),
        )
    )
    metrics_port: int = field(
        metadata=setting(
            "GOVPULSE_METRICS_PORT", "0", "Worker Prometheus port (0 = off).", integer(minimum=0)
        )
    )
    routes_file: Path = field(
        metadata=setting(
            "GOVPULSE_ROUTES_FILE",
            "",
            "Notification routes TOML (receivers, routing tree, inhibition); empty = packaged example "
            "(docs/notifications.md).",
            data_file("routes.toml", package="notify"),
        )
    )
    vapid_private_key: str = field(
        metadata=setting(
            "GOVPULSE_VAPID_PRIVATE_KEY",
            "",
            "Web Push VAPID private key: a PEM file path or the raw key in base64url; empty = no Web Push.",
            text,
        )
    )
    vapid_subject: str = field(
        metadata=setting(
            "GOVPULSE_VAPID_SUBJECT",
            "mailto:govpulse@localhost",
            "VAPID `sub` claim: a `mailto:` or `https:` contact for push services.",
            text,
            blank_is_default=True,
        )
    )
    notify_lease: float = field(
        metadata=setting(
            "GOVPULSE_NOTIFY_LEASE",
            "10s",
            "A notifier delivering for a receiver holds it this long between renewals; a killed "
            "one's receivers move to another notifier after it.",
            duration,
        )
    )
    api: ApiSettings = field(metadata=group(ApiSettings))
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


#: Every setting, in the order of the README table.
OPTIONS: tuple[Setting, ...] = tuple(declared(Settings))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read, validate and freeze the settings.

    Args:
        environ: variables to read; defaults to ``os.environ``.

    Raises:
        ConfigError: a variable is invalid; the message names it and the fix.
    """
    env = dict(os.environ if environ is None else environ)
    parsed = Settings(**_read(Settings, env), environ=env)
    return _join(parsed)


def _read(kind: type[DataclassInstance], env: Mapping[str, str]) -> dict[str, Any]:
    """Each field of ``kind`` parsed from ``env`` by its own declaration."""
    values: dict[str, Any] = {}
    for item in dataclasses.fields(kind):
        if _SETTING in item.metadata:
            values[item.name] = item.metadata[_SETTING].read(env)
        elif _GROUP in item.metadata:
            values[item.name] = item.metadata[_GROUP](**_read(item.metadata[_GROUP], env))
    return values


def _join(settings: Settings) -> Settings:
    """The rules between fields, applied once each field is valid on its own."""
    secret = settings.secret
    if not secret:
        secret = DEV_SECRET if settings.profile == "dev" else ""
    elif secret == DEV_SECRET and settings.profile != "dev":
        raise ConfigError(
            "GOVPULSE_SECRET is the public development secret (it is in the source code); "
            "set a long random value (e.g. `openssl rand -hex 32`)"
        )
    public_url = settings.public_url or f"http://{settings.web_host}:{settings.web_port}"
    # Every window is kept for a while: its default, else 72 windows (at least a day).
    retention = dict(settings.window_retention)
    for window in settings.windows:
        if window not in retention:
            default = WINDOW_DEFAULT_RETENTION.get(window)
            if default is None:
                retention[window] = max(parse_duration(window) * 72, 86400.0)
            else:
                retention[window] = parse_duration(default)
    return dataclasses.replace(
        settings,
        secret=secret,
        public_url=public_url,
        allowed_origins=settings.allowed_origins or (public_url,),
        window_retention=retention,
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
