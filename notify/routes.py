"""The routes file: who is told about which alert, how grouped, when, and through what.

Operators edit ``notify/data/routes.toml`` (or the file named by ``GOVPULSE_ROUTES_FILE``);
:func:`load_routes` reads it once at start-up into a frozen :class:`RoutesConfig`. The
semantics are Alertmanager's (``docs/notifications.md`` is the reference):

* ``[route]`` is the root of a tree of ``[[route.routes]]`` (nested to any depth). An
  alert event enters at the root and walks down depth first: a child whose ``match``
  holds takes it; unless that child says ``continue = true`` the walk stops at the first
  matching sibling. A node no child took delivers to its own ``receiver``.
* Children inherit ``receiver``, ``group_by``, ``group_wait``, ``group_interval``,
  ``repeat_interval`` and ``active_hours`` from their parent unless they set them.
* ``[[inhibit]]`` rules mute target alerts while a source alert fires.
* ``[receivers.<name>]`` tables say how to reach a receiver (``webhook``, ``email``,
  ``webpush``) and how long to keep retrying it.

Every mistake is refused with the line it is on and the line to write instead; unknown
keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerts.model import Severity
from domain.durations import parse_duration
from domain.errors import ConfigError, config_file_error

_KIND = "routes"

#: Fields an alert event offers to ``match``, ``group_by`` and ``inhibit.equal``.
LABELS = ("rule", "severity", "unit", "unit_kind", "escalation", "audience", "event", "fingerprint")
#: Receiver kinds.
RECEIVER_KINDS = ("webhook", "email", "webpush")
ACTIVE_HOURS = ("office", "always")

DEFAULT_GROUP_BY = ("unit",)
DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


@dataclass(frozen=True, slots=True)
class Match:
    """Conditions on an alert event's labels; all must hold (an empty match holds always).

    ``labels`` maps a label to the values it may have (any of them). ``audience`` holds
    when the alert's audience has any of the values. ``min_severity`` and
    ``min_escalation`` are lower bounds.
    """

    labels: Mapping[str, frozenset[str]] = field(default_factory=dict)
    min_severity: Severity | None = None
    min_escalation: int | None = None

    def holds(self, labels: Mapping[str, Any]) -> bool:
        """Whether the labels of an alert event (:func:`notify.model.labels_of`) satisfy this."""
        for name, allowed in self.labels.items():
            value = labels.get(name)
            if isinstance(value, tuple):
                if not allowed.intersection(value):
                    return False
            elif str(value) not in allowed:
                return False
        if self.min_severity is not None and Severity(labels["severity"]) < self.min_severity:
            return False
        return self.min_escalation is None or int(labels["escalation"]) >= self.min_escalation


@dataclass(frozen=True, slots=True)
class Route:
    """One node of the routing tree, with its inherited settings resolved.

    ``path`` names the node (``route``, ``route.routes.2``, ``route.routes.2.routes.1``);
    it is part of the group key, so two routes never share a group.
    """

    path: str
    receiver: str
    match: Match
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    active_hours: str
    continue_: bool = False
    routes: tuple[Route, ...] = ()

    def walk(self, labels: Mapping[str, Any]) -> list[Route]:
        """The routes that take an event with ``labels`` (this one is assumed to match)."""
        taken: list[Route] = []
        for child in self.routes:
            if not child.match.holds(labels):
                continue
            taken.extend(child.walk(labels))
            if not child.continue_:
                break
        return taken or [self]


@dataclass(frozen=True, slots=True)
class Retry:
    """Retries of one receiver: exponential backoff from ``initial`` doubling up to
    ``maximum`` (with full jitter), for at most ``give_up_after`` after the first attempt."""

    initial: float = 1.0
    maximum: float = 60.0
    give_up_after: float = 3600.0


@dataclass(frozen=True, slots=True)
class Receiver:
    """A receiver: its kind and the options of that kind (validated)."""

    name: str
    kind: str
    retry: Retry
    options: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Inhibit:
    """While an alert matching ``source`` fires, alerts matching ``target`` are not notified
    when they agree on every label of ``equal`` (and, with ``within_source_unit``, the
    target's unit is the source's unit or below it in the catalog)."""

    source: Match
    target: Match
    equal: tuple[str, ...]
    within_source_unit: bool = False


@dataclass(frozen=True, slots=True)
class RoutesConfig:
    """The routing tree, the inhibit rules and the receivers."""

    route: Route
    inhibit: tuple[Inhibit, ...]
    receivers: Mapping[str, Receiver]
    path: Path | None = None

    def routes_for(self, labels: Mapping[str, Any]) -> list[Route]:
        """The routes an alert event with ``labels`` goes to (the root when none deeper matches)."""
        return self.route.walk(labels)


# -- loading -------------------------------------------------------------------------------


def load_routes(path: Path) -> RoutesConfig:
    """Read and validate a routes file.

    Raises:
        ConfigError: unreadable, not TOML, or an entry is wrong; the message names the
            line and says what to write.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise config_file_error(
            _KIND, path, "path", str(exc), "check GOVPULSE_ROUTES_FILE and the file's permissions"
        ) from None
    except UnicodeDecodeError as exc:
        raise config_file_error(_KIND, path, "syntax", str(exc), "save the file as UTF-8") from None
    return parse_routes(text, path=path)


def parse_routes(text: str, *, path: Path | None = None) -> RoutesConfig:
    """Validate the text of a routes file (``path`` only names it in messages).

    Raises:
        ConfigError: as :func:`load_routes`.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "(at line 3, column 7)"; keep its words, they carry the position.
        raise config_file_error(
            _KIND, path, "syntax", str(exc), "write valid TOML (https://toml.io)"
        ) from None
    return _Reader(text, path).config(data)


class _Reader:
    """Builds the config, turning every mistake into an error that names its line."""

    def __init__(self, text: str, path: Path | None) -> None:
        self.lines = text.splitlines()
        self.path = path

    # -- messages --------------------------------------------------------------------------

    def error(self, table: str, key: str | None, problem: str, fix: str) -> ConfigError:
        line = self.line_of(table, key)
        where = f"[{table}]" + (f" {key}" if key else "")
        if line is not None:
            where = f"line {line}: {where}"
        return config_file_error(_KIND, self.path, where, problem, fix)

    def line_of(self, table: str, key: str | None) -> int | None:
        """The 1-based line of ``key`` in ``table`` (``route.routes.2`` = the second
        ``[[route.routes]]`` of its parent), or of the table's header; ``None`` if unknown."""
        start, end = self._span(table)
        if start is None:
            return None
        if key is None:
            return start + 1 if start >= 0 else None
        pattern = re.compile(rf"\s*(\"?){re.escape(key)}\1\s*=")
        for index in range(max(start, 0), end):
            if pattern.match(self.lines[index]):
                return index + 1
        return start + 1 if start >= 0 else None

    def _span(self, table: str) -> tuple[int | None, int]:
        """Line index of ``table``'s header (-1 for the top level) and the end of its body."""
        headers = [
            (i, re.sub(r"\s+", "", line.strip()))
            for i, line in enumerate(self.lines)
            if line.lstrip().startswith("[")
        ]
        if not table:
            return -1, headers[0][0] if headers else len(self.lines)
        target = self._header(table, headers)
        if target is None:
            return None, 0
        following = [i for i, _ in headers if i > target]
        return target, following[0] if following else len(self.lines)

    def _header(self, table: str, headers: list[tuple[int, str]]) -> int | None:
        """The line index of the header of ``table`` (``route.routes.2.routes.1``: the first
        ``[[route.routes.routes]]`` inside the second ``[[route.routes]]``)."""
        nested = re.fullmatch(r"(.*)\.(\d+)", table)
        if nested is None:
            return next((i for i, h in headers if h in (f"[{table}]", f"[[{table}]]")), None)
        array, number = nested.group(1), int(nested.group(2))
        bare = re.sub(r"\.\d+", "", array)
        parent = array.rsplit(".", 1)[0] if "." in array else ""
        begin = self._header(parent, headers) if parent and re.search(r"\.\d+$", parent) else None
        if parent and begin is None and re.search(r"\.\d+$", parent):
            return None
        parent_bare = re.sub(r"\.\d+", "", parent)
        count = 0
        for i, header in headers:
            if begin is not None and i <= begin:
                continue
            name = header.strip("[]")
            outside = begin is not None and not name.startswith(parent_bare + ".")
            if outside or header == f"[[{parent_bare}]]":
                break  # past the parent's own subtables
            if header == f"[[{bare}]]":
                count += 1
                if count == number:
                    return i
        return None

    # -- values ----------------------------------------------------------------------------

    def table(self, value: Any, table: str, key: str | None = None) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.error(table, key, "is not a table", f"write it as a [{table}] table")
        return value

    def known(self, data: Mapping[str, Any], table: str, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        for key in data:
            if key not in allowed:
                raise self.error(table, key, "is not a known key", f"use one of: {', '.join(allowed)}")

    def duration(self, data: Mapping[str, Any], table: str, key: str, default: float) -> float:
        value = data.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.error(
                table, key, f"= {value!r} is not a duration text", f'write {key} = "30s" (or "5m", "4h")'
            )
        try:
            seconds = parse_duration(value, name=key)
        except ConfigError:
            raise self.error(
                table, key, f"= {value!r} is not a duration", f'write {key} = "30s" (or "5m", "4h")'
            ) from None
        if seconds < 0:
            raise self.error(table, key, "is negative", f'write {key} = "30s"')
        return seconds

    def strings(self, value: Any, table: str, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise self.error(
            table, key, f"= {value!r} is not a text or a list of texts", f'write {key} = ["a", "b"]'
        )

    # -- the tree ----------------------------------------------------------------------------

    def config(self, data: Mapping[str, Any]) -> RoutesConfig:
        self.known(data, "", ("route", "inhibit", "receivers"))
        receivers_data = self.table(data.get("receivers", {}), "receivers")
        receivers = {name: self.receiver(name, entry) for name, entry in receivers_data.items()}
        if not receivers:
            raise self.error(
                "receivers",
                None,
                "no receiver is defined",
                'add [receivers.ops] with type = "webhook" and url = "…"',
            )
        if "route" not in data:
            raise self.error(
                "route", None, "the root route is missing", 'add [route] with receiver = "<a receiver>"'
            )
        root = self.route(self.table(data["route"], "route"), "route", None, receivers)
        if not root.receiver:
            raise self.error(
                "route",
                "receiver",
                "the root route needs a receiver",
                f'write receiver = "{next(iter(receivers))}"',
            )
        inhibit_data = data.get("inhibit", [])
        if not isinstance(inhibit_data, list):
            raise self.error(
                "inhibit", None, "is not an array of tables", "write each rule as an [[inhibit]] table"
            )
        inhibit = tuple(self.inhibit(entry, f"inhibit.{i + 1}") for i, entry in enumerate(inhibit_data))
        return RoutesConfig(route=root, inhibit=inhibit, receivers=receivers, path=self.path)

    def route(
        self, data: Mapping[str, Any], table: str, parent: Route | None, receivers: Mapping[str, Receiver]
    ) -> Route:
        keys = (
            "receiver",
            "match",
            "min_severity",
            "min_escalation",
            "group_by",
            "group_wait",
            "group_interval",
            "repeat_interval",
            "active_hours",
            "continue",
            "routes",
        )
        self.known(data, table, keys)
        receiver = data.get("receiver", parent.receiver if parent else "")
        if not isinstance(receiver, str) or (receiver and receiver not in receivers):
            raise self.error(
                table,
                "receiver",
                f"= {receiver!r} is not a receiver of this file",
                f"use one of: {', '.join(receivers)} (or add [receivers.{receiver}])",
            )
        group_by = (
            self.strings(data["group_by"], table, "group_by")
            if "group_by" in data
            else parent.group_by
            if parent
            else DEFAULT_GROUP_BY
        )
        for label in group_by:
            if label not in LABELS and label != "...":
                raise self.error(
                    table,
                    "group_by",
                    f"names {label!r}, not a label",
                    f"group by any of: {', '.join(LABELS)} (or '...' for each alert alone)",
                )
        active = data.get("active_hours", parent.active_hours if parent else "office")
        if active not in ACTIVE_HOURS:
            raise self.error(
                table,
                "active_hours",
                f"= {active!r} is not allowed",
                'write active_hours = "office" (non-critical waits for office hours) or "always"',
            )
        cont = data.get("continue", False)
        if not isinstance(cont, bool):
            raise self.error(table, "continue", f"= {cont!r} is not true or false", "write continue = true")
        if parent is None and cont:
            raise self.error(table, "continue", "is meaningless on the root route", "delete it")
        node = Route(
            path=table,
            receiver=receiver,
            match=self.match(data, table),
            group_by=group_by,
            group_wait=self.duration(
                data, table, "group_wait", parent.group_wait if parent else DEFAULT_GROUP_WAIT
            ),
            group_interval=self.duration(
                data, table, "group_interval", parent.group_interval if parent else DEFAULT_GROUP_INTERVAL
            ),
            repeat_interval=self.duration(
                data, table, "repeat_interval", parent.repeat_interval if parent else DEFAULT_REPEAT_INTERVAL
            ),
            active_hours=active,
            continue_=cont,
        )
        if node.group_interval <= 0:
            raise self.error(table, "group_interval", "must be more than 0", 'write group_interval = "5m"')
        children = data.get("routes", [])
        if not isinstance(children, list):
            raise self.error(
                table, "routes", "is not an array of tables", f"write each child as [[{table}.routes]]"
            )
        built = tuple(
            self.route(
                self.table(child, f"{table}.routes.{i + 1}"), f"{table}.routes.{i + 1}", node, receivers
            )
            for i, child in enumerate(children)
        )
        return Route(**{**{f: getattr(node, f) for f in Route.__dataclass_fields__}, "routes": built})

    def match(self, data: Mapping[str, Any], table: str) -> Match:
        raw = data.get("match", {})
        if not isinstance(raw, dict):
            raise self.error(
                table, "match", "is not an inline table", 'write match = { rule = "item_overdue" }'
            )
        labels: dict[str, frozenset[str]] = {}
        for name, value in raw.items():
            if name not in LABELS:
                raise self.error(
                    table, "match", f"names {name!r}, not a label", f"match on any of: {', '.join(LABELS)}"
                )
            values = self.strings(value, table, "match")
            if name == "severity":
                for entry in values:
                    self.severity(entry, table, "match")
            labels[name] = frozenset(values)
        minimum = data.get("min_severity")
        min_escalation = data.get("min_escalation")
        if min_escalation is not None and (
            not isinstance(min_escalation, int) or isinstance(min_escalation, bool) or min_escalation < 0
        ):
            raise self.error(
                table,
                "min_escalation",
                f"= {min_escalation!r} is not a whole number >= 0",
                "write min_escalation = 2",
            )
        return Match(
            labels=labels,
            min_severity=None if minimum is None else self.severity(minimum, table, "min_severity"),
            min_escalation=min_escalation,
        )

    def severity(self, value: Any, table: str, key: str) -> Severity:
        try:
            return Severity(value)
        except ValueError:
            raise self.error(
                table, key, f"= {value!r} is not a severity", 'use "info", "warning" or "critical"'
            ) from None

    def inhibit(self, entry: Any, table: str) -> Inhibit:
        data = self.table(entry, table)
        self.known(data, table, ("source", "target", "equal", "within_source_unit"))
        for side in ("source", "target"):
            if not isinstance(data.get(side), dict):
                raise self.error(
                    table,
                    side,
                    "is missing or not an inline table",
                    f'write {side} = {{ unit_kind = "city" }}',
                )
        equal = self.strings(data.get("equal", []), table, "equal")
        for label in equal:
            if label not in LABELS:
                raise self.error(
                    table, "equal", f"names {label!r}, not a label", f"use any of: {', '.join(LABELS)}"
                )
        within = data.get("within_source_unit", False)
        if not isinstance(within, bool):
            raise self.error(
                table,
                "within_source_unit",
                f"= {within!r} is not true or false",
                "write within_source_unit = true",
            )
        return Inhibit(
            source=self.match({"match": data["source"]}, table),
            target=self.match({"match": data["target"]}, table),
            equal=equal,
            within_source_unit=within,
        )

    def receiver(self, name: str, entry: Any) -> Receiver:
        table = f"receivers.{name}"
        data = self.table(entry, table)
        kind = data.get("type")
        if kind not in RECEIVER_KINDS:
            raise self.error(
                table,
                "type",
                f"= {kind!r} is not a receiver type",
                f'write type = "webhook" (or {", ".join(RECEIVER_KINDS[1:])})',
            )
        common = ("type", "retry_initial", "retry_max", "give_up_after", "timeout")
        options: dict[str, Any] = {"timeout": self.duration(data, table, "timeout", 10.0)}
        if kind == "webhook":
            self.known(data, table, (*common, "url", "secrets", "secrets_file"))
            url = data.get("url")
            if not isinstance(url, str) or not re.match(r"https?://", url):
                raise self.error(
                    table,
                    "url",
                    "is missing" if url is None else f"= {url!r} is not an http(s) URL",
                    'write url = "https://gateway.example/hooks/govpulse"',
                )
            secrets = list(self.strings(data.get("secrets", []), table, "secrets"))
            if "secrets_file" in data:
                secrets.extend(self.secrets_file(data["secrets_file"], table))
            if not secrets:
                raise self.error(
                    table,
                    "secrets",
                    "no signing secret is given",
                    'write secrets = ["whsec_<base64 of 24+ random bytes>"] '
                    'or secrets_file = "/run/secrets/hook"',
                )
            for secret in secrets:
                self.check_secret(secret, table)
            options.update(url=url, secrets=tuple(secrets))
        elif kind == "email":
            keys = (
                "host",
                "port",
                "starttls",
                "ca_file",
                "username",
                "password",
                "password_file",
                "sender",
                "to",
                "language",
            )
            self.known(data, table, (*common, *keys))
            host = data.get("host")
            if not isinstance(host, str) or not host:
                raise self.error(table, "host", "is missing", 'write host = "smtp.example.gov.vn"')
            port = data.get("port", 587)
            if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
                raise self.error(table, "port", f"= {port!r} is not a port", "write port = 587")
            to = self.strings(data.get("to", []), table, "to")
            sender = data.get("sender")
            for address in (*to, sender):
                if not isinstance(address, str) or not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", address):
                    raise self.error(
                        table,
                        "to" if address in to else "sender",
                        f"= {address!r} is not an e-mail address",
                        'write sender = "govpulse@example.gov.vn" and to = ["lanhdao@example.gov.vn"]',
                    )
            if not to:
                raise self.error(table, "to", "is empty", 'write to = ["lanhdao@example.gov.vn"]')
            password = data.get("password")
            if "password_file" in data:
                password = self.secrets_file(data["password_file"], table)[0]
            language = data.get("language", "vi")
            if language not in ("vi", "en", "both"):
                raise self.error(
                    table,
                    "language",
                    f"= {language!r} is not allowed",
                    'write language = "vi" (or "en", "both")',
                )
            starttls = data.get("starttls", True)
            if not isinstance(starttls, bool):
                raise self.error(
                    table, "starttls", f"= {starttls!r} is not true or false", "write starttls = true"
                )
            username = data.get("username")
            if (username is None) != (password is None):
                raise self.error(
                    table,
                    "username",
                    "username and password go together",
                    'write both username = "…" and password_file = "…", or neither',
                )
            ca_file = data.get("ca_file")
            if ca_file is not None:
                ca_file = self.ca_file(ca_file, table)
            options.update(
                ca_file=ca_file,
                host=host,
                port=port,
                to=to,
                sender=sender,
                password=password,
                username=username,
                language=language,
                starttls=starttls,
            )
        else:
            self.known(data, table, (*common, "scope", "ttl", "urgency"))
            scope = data.get("scope", "leader")
            if scope not in ("leader", "unit", "any"):
                raise self.error(
                    table,
                    "scope",
                    f"= {scope!r} is not allowed",
                    'write scope = "leader" (leader pages), "unit" (each unit page gets its own unit) '
                    'or "any"',
                )
            urgency = data.get("urgency", "auto")
            if urgency not in ("auto", "very-low", "low", "normal", "high"):
                raise self.error(
                    table,
                    "urgency",
                    f"= {urgency!r} is not an RFC 8030 urgency",
                    'write urgency = "auto" (high for critical, normal otherwise)',
                )
            options.update(scope=scope, ttl=self.duration(data, table, "ttl", 3600.0), urgency=urgency)
        retry = Retry(
            initial=self.duration(data, table, "retry_initial", 1.0),
            maximum=self.duration(data, table, "retry_max", 60.0),
            give_up_after=self.duration(data, table, "give_up_after", 3600.0),
        )
        if retry.initial <= 0 or retry.maximum < retry.initial:
            raise self.error(
                table,
                "retry_max",
                "must be at least retry_initial (and both above 0)",
                'write retry_initial = "1s" and retry_max = "1m"',
            )
        return Receiver(name=name, kind=kind, retry=retry, options=options)

    def ca_file(self, value: Any, table: str) -> str:
        fix = "give the PEM file of the CA that signed the SMTP server's certificate"
        if not isinstance(value, str):
            raise self.error(table, "ca_file", f"= {value!r} is not a path", fix)
        path = Path(value).expanduser()
        if not path.is_absolute() and self.path is not None:
            path = self.path.parent / path
        if not path.is_file():
            raise self.error(table, "ca_file", f"{value} does not exist", fix)
        return str(path)

    def secrets_file(self, value: Any, table: str) -> list[str]:
        if not isinstance(value, str):
            raise self.error(
                table,
                "secrets_file",
                f"= {value!r} is not a path",
                'write secrets_file = "/run/secrets/hook"',
            )
        file = Path(value).expanduser()
        if not file.is_absolute() and self.path is not None:
            file = self.path.parent / file
        try:
            found = [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as exc:
            raise self.error(
                table, None, f"cannot read {value}: {exc.strerror}", "check the path and its permissions"
            ) from None
        if not found:
            raise self.error(table, None, f"{value} is empty", "write one secret per line")
        return found

    def check_secret(self, secret: str, table: str) -> None:
        import base64
        import binascii

        body = secret.removeprefix("whsec_")
        try:
            raw = base64.b64decode(body + "==", validate=False)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) < 24:
            raise self.error(
                table,
                "secrets",
                "a secret is not base64 of at least 24 bytes",
                "make one with: python -c "
                "\"import base64,os;print('whsec_'+base64.b64encode(os.urandom(32)).decode())\"",
            )


def routes_at(config: RoutesConfig, path: str) -> Route:
    """The route node called ``path`` (tests, ``govpulse notify --check``).

    Raises:
        KeyError: no such node.
    """

    def find(node: Route) -> Route | None:
        if node.path == path:
            return node
        for child in node.routes:
            hit = find(child)
            if hit is not None:
                return hit
        return None

    found = find(config.route)
    if found is None:
        raise KeyError(path)
    return found


def all_routes(route: Route) -> Sequence[Route]:
    """Every node of the tree under (and with) ``route``, depth first."""
    out = [route]
    for child in route.routes:
        out.extend(all_routes(child))
    return out
