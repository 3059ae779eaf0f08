"""The board's websocket protocol as plain data and functions (no sockets, no Redis).

The frames are documented in docs/protocol.md. This module parses client frames, decides
what each connection may see (:func:`subscriptions`, :func:`routes`), whether a reconnect
can be replayed (:func:`decide_resume`), who may send which command
(:func:`authorize_command`), rate-limits commands (:class:`TokenBucket`) and builds the
server frames. Delta frames are built by concatenating bytes around the body stored in
Redis, so one frame is shared by every connection that receives it. :func:`names_document`
builds ``/catalog.json``, the names pages show for unit and category codes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
from websockets.exceptions import InvalidHeader
from websockets.headers import parse_extension

from domain.calendar import format_instant
from domain.catalog import Catalog
from domain.ids import valid_unit_code
from domain.rates import TokenBucket as TokenBucket  # moved to domain/ (the API uses it too)
from domain.sla import CategorySla
from runtime.board import ORIGIN_ID, FeedBounds, Snapshot, is_stream_id, stream_id_key
from web.auth import MAX_TOKEN_LENGTH, Scope
from web.errors import ProtocolError
from web.notices import FRAME_TYPES as NOTICE_FRAMES
from web.notices import NoticeFrame
from web.notices import parse_frame as parse_notice_frame

#: Longest explanation text (characters) a client may send.
MAX_TEXT: Final = 2000
#: Seconds without a worker beat after which the board is stale.
WORKER_STALE_AFTER: Final = 10.0
#: Seconds a client has to send its auth frame.
AUTH_TIMEOUT: Final = 10.0

#: Close codes used by the server.
CLOSE_UNAUTHORIZED: Final = 4401
CLOSE_FORBIDDEN: Final = 4403
CLOSE_POLICY: Final = 1008
CLOSE_ERROR: Final = 1011
CLOSE_TRY_AGAIN: Final = 1013

_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]{1,256}\Z")
_REF = re.compile(r"[A-Za-z0-9_.:-]{1,64}\Z")
_EPOCH = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


# -- client frames ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a reconnecting client was: the epoch and the last stream id it applied."""

    epoch: str
    seq: str


@dataclass(frozen=True, slots=True)
class AuthFrame:
    token: str
    resume: Resume | None = None
    view: str | None = None
    batch: bool = False  # the client accepts ``batch`` frames (several deltas in one)


@dataclass(frozen=True, slots=True)
class AckFrame:
    alert: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class ExplainFrame:
    alert: str
    text: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class ViewFrame:
    unit: str | None


@dataclass(frozen=True, slots=True)
class PingFrame:
    ref: str | None = None


ClientFrame = AuthFrame | AckFrame | ExplainFrame | ViewFrame | PingFrame | NoticeFrame


def parse_client_frame(raw: str | bytes) -> ClientFrame:
    """Parse one client frame.

    Raises:
        ProtocolError: ``bad_json`` (not a JSON object), ``unknown_type`` or
            ``bad_frame`` (a field is missing or has the wrong type or size).
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolError("bad_json", 'frames must be JSON objects, e.g. {"type":"ping"}') from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_json", 'frames must be JSON objects, e.g. {"type":"ping"}')
    kind = data.get("type")
    if kind == "auth":
        return _auth(data)
    if kind == "ack":
        return AckFrame(alert=_alert(data), ref=_ref(data))
    if kind == "explain":
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ProtocolError("bad_frame", "explain needs a non-empty 'text'")
        text = text.strip()
        if len(text) > MAX_TEXT:
            raise ProtocolError("bad_frame", f"explain 'text' is longer than {MAX_TEXT} characters")
        return ExplainFrame(alert=_alert(data), text=text, ref=_ref(data))
    if kind == "view":
        unit = data.get("unit")
        if unit is not None and not valid_unit_code(unit):
            raise ProtocolError("bad_frame", "view 'unit' must be a unit code like 'P-SAIGON' or null")
        return ViewFrame(unit=unit)
    if kind == "ping":
        return PingFrame(ref=_ref(data))
    if isinstance(kind, str) and kind in NOTICE_FRAMES:
        return parse_notice_frame(kind, data, _ref(data))
    # Never repr() a client's array or object: ~1000 nested levels raise RecursionError
    # (and a large one would be echoed back whole).
    shown = repr(kind[:40]) if isinstance(kind, str) else _json_scalar(kind)
    raise ProtocolError(
        "unknown_type",
        f"unknown frame type {shown}; use auth, ack, explain, view, ping, "
        "push_key, push_subscribe, push_unsubscribe or inbox",
    )


def _json_scalar(value: Any) -> str:
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    return "(an array)" if isinstance(value, list) else "(an object)"


def _auth(data: dict[str, Any]) -> AuthFrame:
    token = data.get("token")
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise ProtocolError("bad_frame", "auth needs a 'token' string")
    resume = None
    raw_resume = data.get("resume")
    if raw_resume is not None:
        if not isinstance(raw_resume, dict):
            raise ProtocolError("bad_frame", 'auth \'resume\' must be {"epoch": …, "seq": …}')
        epoch, seq = raw_resume.get("epoch"), raw_resume.get("seq")
        if not isinstance(epoch, str) or not _EPOCH.match(epoch):
            raise ProtocolError("bad_frame", "auth 'resume.epoch' must be the epoch string of a snapshot")
        if not isinstance(seq, str) or not is_stream_id(seq):
            raise ProtocolError("bad_frame", "auth 'resume.seq' must be a stream id like '1700000000000-0'")
        resume = Resume(epoch, seq)
    view = data.get("view")
    if view is not None and not valid_unit_code(view):
        raise ProtocolError("bad_frame", "auth 'view' must be a unit code or absent")
    batch = data.get("batch", False)
    if not isinstance(batch, bool):
        raise ProtocolError("bad_frame", "auth 'batch' must be true or false")
    return AuthFrame(token=token, resume=resume, view=view, batch=batch)


def _alert(data: dict[str, Any]) -> str:
    alert = data.get("alert")
    if not isinstance(alert, str) or not _PRINTABLE.match(alert):
        raise ProtocolError("bad_frame", f"{data.get('type')} needs an 'alert' fingerprint string")
    return alert


def _ref(data: dict[str, Any]) -> str | None:
    ref = data.get("ref")
    if ref is None:
        return None
    if not isinstance(ref, str) or not _REF.match(ref):
        raise ProtocolError("bad_frame", "'ref' must be 1-64 characters of [A-Za-z0-9_.:-]")
    return ref


# -- who sees what ------------------------------------------------------------------

RouteKey = tuple[str, str]
#: Route of unit and alert deltas for every wall/leader connection.
ALL: Final[RouteKey] = ("all", "")


def routes(kind: str, unit: str) -> tuple[RouteKey, ...]:
    """The route keys a feed entry is delivered on."""
    if kind == "queue":
        return (("view", unit),)
    if kind in ("unit", "alert"):
        return (ALL, ("unit", unit))
    return ()


def subscriptions(scope: Scope, view: str | None) -> frozenset[RouteKey]:
    """The route keys a connection listens on.

    Wall and leader: every unit and alert delta, and the queue of the unit they view.
    ``unit:X``: unit and alert deltas of X and the queue of X, nothing else.
    """
    if scope.kind == "unit":
        assert scope.unit is not None
        return frozenset({("unit", scope.unit), ("view", scope.unit)})
    keys = {ALL}
    if view is not None:
        keys.add(("view", view))
    return frozenset(keys)


def accepts(scope: Scope, view: str | None, kind: str, unit: str) -> bool:
    """Whether a connection with ``scope`` viewing ``view`` receives this feed entry."""
    return not subscriptions(scope, view).isdisjoint(routes(kind, unit))


def can_view(scope: Scope, unit: str | None) -> bool:
    """Whether ``scope`` may view the queue of ``unit`` (``None`` = no queue)."""
    if scope.kind == "unit":
        return unit == scope.unit
    return True


def default_view(scope: Scope, requested: str | None) -> str | None:
    """The view a connection starts with: a unit scope always views its own unit."""
    if scope.kind == "unit" and requested is None:
        return scope.unit
    return requested


# -- fan-out groups -----------------------------------------------------------------

#: What a connection receives: its route keys, whether it takes ``batch`` frames, and the
#: LZ77 window (bits) its messages may be compressed with (0: sent uncompressed; see
#: :func:`shared_deflate`). Connections with equal keys receive the same bytes.
GroupKey = tuple[frozenset[RouteKey], bool, int]
#: Most deltas one ``batch`` frame carries (about 1 KB each: a frame stays far below a MB).
BATCH_MAX: Final = 500


def group_key(scope: Scope, view: str | None, *, batch: bool, deflate: int = 0) -> GroupKey:
    """The fan-out group of a connection: wall and leader connections with the same view
    (and batch and compression choice) share one, a unit scope has its own per unit."""
    return (subscriptions(scope, view), batch, deflate)


def shared_deflate(extensions: str | None) -> int:
    """The LZ77 window (bits, 9 to 15) with which one compressed copy of a message suits
    this connection and every other connection with the same window; 0 if none does.

    ``extensions`` is the ``Sec-WebSocket-Extensions`` header of the node's handshake
    response. Only permessage-deflate accepted with ``server_no_context_takeover`` (RFC
    7692: every message compressed on its own, no state carried between messages) lets a
    group's frame be compressed once and written to all its members."""
    if not extensions:
        return 0
    try:
        offers = parse_extension(extensions)
    except InvalidHeader:
        return 0
    for name, params in offers:
        if name != "permessage-deflate":
            continue
        values = dict(params)
        if "server_no_context_takeover" not in values:
            return 0
        bits = values.get("server_max_window_bits") or "15"
        return int(bits) if bits.isdigit() and 9 <= int(bits) <= 15 else 0
    return 0


def group_payloads(deltas: Sequence[bytes], *, batch: bool) -> list[bytes]:
    """The frames every connection of a group gets for one read of the feed: its
    ``deltas`` (delta frames in feed order), one by one, or for batch clients as ``batch``
    frames of at most :data:`BATCH_MAX` (a lone delta goes as a plain ``delta``)."""
    if not batch:
        return list(deltas)
    out: list[bytes] = []
    for start in range(0, len(deltas), BATCH_MAX):
        chunk = deltas[start : start + BATCH_MAX]
        out.append(chunk[0] if len(chunk) == 1 else batch_frame(chunk))
    return out


@dataclass(frozen=True, slots=True)
class Standing:
    """Where one connection is, as its group's writer must know it.

    Attributes:
        syncing: a snapshot or replay is pending or being sent.
        idle: its own sender waits for frames (it is not in the middle of a send).
        queued: frames in its own outbox.
        epoch: the epoch it synced to (``None``: never synced).
        cursor: the stream id key it is at (every delta it may see up to it was sent).
        buffered: bytes written to it that the socket has not taken yet.
    """

    syncing: bool
    idle: bool
    queued: int
    epoch: str | None
    cursor: tuple[int, int] | None
    buffered: int


#: Refusals of :func:`join_refusal` that go away without the connection doing anything
#: (the reader reaches its position, the socket drains): the hub asks again after each read.
JOIN_LATER: Final = frozenset({"ahead", "lagging"})


def join_refusal(
    standing: Standing, *, epoch: str | None, position: tuple[int, int], lag_limit: int
) -> str | None:
    """Why a connection may not join its group now (``None``: it may).

    A connection joins when it has sent everything it was offered and stands exactly
    where the group's next frame starts: the group then writes it the deltas after the
    reader's ``position``. Its cursor may be behind ``position`` (every entry up to it
    was offered, and its outbox is empty) but not ahead: entries between ``position``
    and a snapshot taken further on are in that snapshot and must not come again.

    Args:
        standing: the connection.
        epoch: the reader's epoch.
        position: the stream id key of the last entry the reader dispatched.
        lag_limit: most unsent bytes a member of a group may have.
    """
    if standing.syncing:
        return "syncing"
    if not standing.idle:
        return "sending"
    if standing.queued:
        return "backlog"
    if standing.epoch is None or standing.epoch != epoch or standing.cursor is None:
        return "epoch"
    if standing.cursor > position:
        return "ahead"
    if standing.buffered > lag_limit:
        return "lagging"
    return None


# -- resume -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResumeDecision:
    """``replay`` true: send every delta after the client's seq; else a fresh snapshot."""

    replay: bool
    reason: str


def decide_resume(resume: Resume | None, *, epoch: str, bounds: FeedBounds) -> ResumeDecision:
    """Decide between replaying missed deltas and a fresh snapshot.

    Replay only when no delta after ``resume.seq`` can be missing: same epoch, the seq
    not beyond the feed's end, and either nothing was ever trimmed or the seq is at or
    after the oldest retained entry. Anything else gets a snapshot, never a partial gap.
    """
    if resume is None:
        return ResumeDecision(False, "no resume position")
    if resume.epoch != epoch:
        return ResumeDecision(False, "epoch changed")
    seq = stream_id_key(resume.seq)
    if seq > stream_id_key(bounds.last):
        return ResumeDecision(False, "position beyond the end of the feed")
    if bounds.untrimmed:
        return ResumeDecision(True, "feed never trimmed")
    if bounds.first is None:
        # Empty after trimming: only a client already at the end has nothing to miss.
        if seq == stream_id_key(bounds.last):
            return ResumeDecision(True, "at the end of the feed")
        return ResumeDecision(False, "position trimmed from the feed")
    if seq >= stream_id_key(bounds.first):
        return ResumeDecision(True, "position retained")
    return ResumeDecision(False, "position trimmed from the feed")


def page_gapless(after: str, bounds: FeedBounds) -> bool:
    """Whether a page read after ``after`` with these bounds can have missed entries."""
    if bounds.untrimmed or after == bounds.last:
        return True
    return bounds.first is not None and stream_id_key(after) >= stream_id_key(bounds.first)


def newer(seq: str, than: str) -> bool:
    """Whether stream id ``seq`` comes after ``than``."""
    return stream_id_key(seq) > stream_id_key(than)


# -- commands -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Denied:
    """Why a command is refused: ``code`` goes in the error frame."""

    code: str
    message: str


def authorize_command(
    scope: Scope, frame: AckFrame | ExplainFrame, alert_unit: str | None, *, opens_for: str | None = None
) -> str | Denied:
    """The command type for ``frame`` from ``scope``, or why it is refused.

    ``alert_unit`` is the unit of the alert in board:alerts (``None``: not found). A unit
    scope gets ``forbidden`` for alerts of other units *and* for unknown ones, so it
    cannot probe which fingerprints exist. ``opens_for`` is the unit an explanation
    request would open the alert for when it is not on the board yet (a leader's request
    on any indicator, :mod:`alerts.inquiries`); only a leader's request uses it.
    """
    if scope.kind == "leader":
        if alert_unit is None and isinstance(frame, ExplainFrame) and opens_for is not None:
            return "explain_request"
        if alert_unit is None:
            return Denied("not_found", f"alert {frame.alert[:80]!r} is not on the board")
        return "ack" if isinstance(frame, AckFrame) else "explain_request"
    if scope.kind == "unit":
        if isinstance(frame, AckFrame):
            return Denied("forbidden", "only leaders acknowledge alerts")
        if alert_unit is None or alert_unit != scope.unit:
            return Denied("forbidden", "a unit answers explanation requests on its own alerts only")
        return "explain_answer"
    return Denied("forbidden", f"scope {scope.text} is read-only")


def command_body(
    *,
    command_id: str,
    command_type: str,
    alert: str,
    text: str | None,
    scope: Scope,
    subject: str,
    at: float,
) -> bytes:
    """The JSON value produced to ``gov.commands`` (key = the alert fingerprint)."""
    return orjson.dumps(
        {
            "command_id": command_id,
            "type": command_type,
            "alert": alert,
            "text": text,
            "by": {"scope": scope.text, "sub": subject},
            "at": format_instant(at),
        }
    )


# -- board health -------------------------------------------------------------------


def worker_age(beats: Iterable[float], now: float) -> float | None:
    """Seconds since the freshest worker beat, ``None`` when no worker ever beat."""
    latest = max(beats, default=None)
    return None if latest is None else max(0.0, now - latest)


def board_stale(*, redis_up: bool, age: float | None) -> bool:
    """The board cannot be trusted: Redis is down, or no worker beat within 10 s."""
    return not redis_up or age is None or age > WORKER_STALE_AFTER


# -- server frames ------------------------------------------------------------------


def delta_frame(entry_id: str, body: bytes, *, recovered: bool = False) -> bytes:
    """``{"type":"delta","seq":…,"kind","op","key","unit","data"}`` around a stored body.

    ``body`` is the feed's ``{"kind":…}`` object; its opening brace is replaced, so the
    data is never decoded.
    """
    head = b'{"type":"delta","recovered":true,"seq":"' if recovered else b'{"type":"delta","seq":"'
    return head + entry_id.encode() + b'",' + body[1:]


def batch_frame(deltas: Sequence[bytes]) -> bytes:
    """``{"type":"batch","frames":[delta, …]}``: consecutive delta frames, in order, in one
    websocket message, for clients that asked for it (``"batch": true`` in auth).

    A web node sends one when several deltas are queued for a connection at once (a
    burst, or a node under load), so its cost per connection follows its wake-ups, not
    the number of deltas.
    """
    return b'{"type":"batch","frames":[' + b",".join(deltas) + b"]}"


def snapshot_frame(
    snapshot: Snapshot,
    *,
    scope: Scope,
    view: str | None,
    clock_now: float,
    speed: float,
    heartbeat: float,
    reason: str,
) -> bytes:
    """A snapshot frame (``recovered`` is always false for snapshots)."""
    head = orjson.dumps(
        {
            "type": "snapshot",
            "epoch": snapshot.epoch,
            "seq": snapshot.seq,
            "recovered": False,
            "reason": reason,
            "view": view,
            "scope": scope.text,
            "clock": {"now": clock_now, "speed": speed},
            "heartbeat": heartbeat,
        }
    )
    return b"".join(
        (
            head[:-1],
            b',"units":[',
            b",".join(snapshot.units),
            b'],"alerts":[',
            b",".join(snapshot.alerts),
            b'],"queue":[',
            b",".join(snapshot.queue),
            b"]}",
        )
    )


def resume_frame(
    *,
    epoch: str,
    after: str,
    seq: str,
    count: int,
    scope: Scope,
    view: str | None,
    clock_now: float,
    speed: float,
    heartbeat: float,
) -> bytes:
    """Announces a replay: ``count`` deltas after ``after`` follow, up to ``seq``."""
    return orjson.dumps(
        {
            "type": "resume",
            "recovered": True,
            "epoch": epoch,
            "after": after,
            "seq": seq,
            "count": count,
            "view": view,
            "scope": scope.text,
            "clock": {"now": clock_now, "speed": speed},
            "heartbeat": heartbeat,
        }
    )


def heartbeat_frame(
    *,
    ts: float,
    clock_now: float,
    speed: float,
    seq: str | None,
    stale: bool,
    redis_up: bool,
    age: float | None,
    epoch: str | None,
) -> bytes:
    """A heartbeat; ``seq`` is a valid resume position for the receiving connection."""
    return orjson.dumps(
        {
            "type": "heartbeat",
            "ts": ts,
            "clock": clock_now,
            "speed": speed,
            "seq": seq or ORIGIN_ID,
            "epoch": epoch,
            "stale": stale,
            "redis": "up" if redis_up else "down",
            "worker_age": None if age is None else round(age, 3),
        }
    )


def error_frame(code: str, message: str, *, ref: str | None = None) -> bytes:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    return orjson.dumps(frame)


def accepted_frame(command_id: str, *, ref: str | None = None) -> bytes:
    frame: dict[str, Any] = {"type": "accepted", "command_id": command_id}
    if ref is not None:
        frame["ref"] = ref
    return orjson.dumps(frame)


def pong_frame(ts: float, *, ref: str | None = None) -> bytes:
    frame: dict[str, Any] = {"type": "pong", "ts": ts}
    if ref is not None:
        frame["ref"] = ref
    return orjson.dumps(frame)


def names_document(catalog: Catalog, categories: Mapping[str, CategorySla], other: CategorySla) -> bytes:
    """The names pages show for codes, from the packaged data (``GET /catalog.json``).

    Args:
        catalog: the unit catalog (``GOVPULSE_UNITS_FILE``).
        categories: the categories of the SLA policy (``GOVPULSE_SLA_FILE``), by code.
        other: the policy's default, whose names stand for any category it does not list.

    Returns:
        ``{"units": {code: {name_vi, name_en, kind, parent}}, "categories": {code: {name_vi,
        name_en}}, "other_category": {name_vi, name_en}}`` as JSON bytes.
    """
    return orjson.dumps(
        {
            "units": {
                unit.code: {
                    "name_vi": unit.name_vi,
                    "name_en": unit.name_en,
                    "kind": unit.kind,
                    "parent": unit.parent,
                }
                for unit in catalog
            },
            "categories": {
                code: {"name_vi": level.name_vi, "name_en": level.name_en}
                for code, level in categories.items()
            },
            "other_category": {"name_vi": other.name_vi, "name_en": other.name_en},
        }
    )
