"""The web node: board pages, ``/ws``, ``/catalog.json``, ``/healthz`` and ``/metrics`` on one port.

Stateless: everything it shows comes from Redis (see :mod:`runtime.board`) or from the
packaged data it reads at start (unit and category names, ``/catalog.json``), so several
nodes can run behind a load balancer. HTTP routes are answered in the websockets
handshake hook (``process_request``); ``/ws`` upgrades to the board protocol
(docs/protocol.md).

Per connection: the first frame must be ``auth`` within 10 s (else close 4401); then a
:class:`~web.session.Session` syncs and streams. Any unexpected error in a connection is
logged with ``exc_info=True`` and closes that connection with 1011 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import logging
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from urllib.parse import parse_qs

import orjson
from redis.exceptions import RedisError
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request, Response

from domain.catalog import Catalog
from domain.classification import Classification
from domain.ids import UNIT_CODE_PATTERN
from domain.indicators.catalog import IndicatorCatalog
from domain.sla import SlaPolicy
from runtime.board import BoardStore
from runtime.clock import Clock
from runtime.reports import ReportStore
from runtime.revocations import Revocations, RevocationUnavailable
from runtime.settings import Settings, load_settings, require_secret
from runtime.timeline import TimelineStore
from runtime.topics import Topics
from web import notices, protocol
from web.auth import Claims, verify_token
from web.commands import CommandSink
from web.errors import AuthError, IndicatorScopeError, ProtocolError
from web.feed import FeedHub
from web.indicators import indicator_document, inquiry_owner
from web.item_routes import ItemRoutes
from web.metrics import CONTENT_TYPE_LATEST, WebMetrics
from web.protocol import AuthFrame
from web.report_routes import ReportRoutes
from web.revocation_watch import RevocationWatch
from web.session import Session, SessionConfig, StoreUnavailable

log = logging.getLogger(__name__)

_UNIT_PATH = re.compile(rf"/unit/({UNIT_CODE_PATTERN})/?\Z")
_ITEM_PAGE = re.compile(r"/item/[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}\Z")
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}
# No inline script or style anywhere: citizen text can never become code.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'"
)
_PAGE_HEADERS = (
    ("Content-Security-Policy", _CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
_NOT_FOUND_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>404 · govpulse</title>
<link rel="stylesheet" href="/static/board.css"></head>
<body class="notfound"><main><h1>404</h1>
<p>Không tìm thấy trang hoặc đơn vị này.</p><p lang="en">Page or unit not found.</p>
<p><a href="/">Bảng điều hành · Wall</a></p></main></body></html>
"""


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    content_type: str


def load_static(root: Traversable | None = None) -> dict[str, StaticFile]:
    """Every file under ``web/static`` by its URL path (``/static/<name>``)."""
    base = root or resources.files("web").joinpath("static")
    files: dict[str, StaticFile] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            if child.name.startswith("."):
                continue
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            else:
                suffix = "." + child.name.rsplit(".", 1)[-1] if "." in child.name else ""
                files[f"/static/{prefix}{child.name}"] = StaticFile(
                    child.read_bytes(), _CONTENT_TYPES.get(suffix, "application/octet-stream")
                )

    walk(base, "")
    return files


class BoardServer:
    """Routes and connection handling of one web node (see :func:`serve`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: BoardStore,
        catalog: Catalog,
        clock: Clock,
        sink: CommandSink,
        sla: SlaPolicy | None = None,
        indicators: IndicatorCatalog | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.secret = require_secret(settings)
        self.store = store
        self.revocations = Revocations(store.client)
        self.catalog = catalog
        sla = sla or SlaPolicy.from_file(settings.sla_file)
        self.names = protocol.names_document(catalog, sla.categories, sla.default)
        self.indicators = indicators or IndicatorCatalog.from_file(settings.indicators_file, catalog)
        self.clock = clock
        self.now = now
        self.metrics = WebMetrics()
        self.revocation_watch = RevocationWatch(
            self.revocations, interval=settings.ws_revocation_check, metrics=self.metrics
        )
        self.hub = FeedHub(
            store,
            metrics=self.metrics,
            heartbeat=settings.ws_heartbeat,
            clock=clock,
            queue_size=settings.ws_queue,
            now=now,
            flush_interval=settings.ws_flush_interval,
        )
        self.sink = sink
        self.static = load_static()
        self.allowed_origins = frozenset(origin.lower() for origin in settings.allowed_origins)
        self.sessions = SessionConfig(
            store=store,
            hub=self.hub,
            sink=sink,
            metrics=self.metrics,
            clock=clock,
            unit_exists=self.catalog.__contains__,
            queue_size=settings.ws_queue,
            slow_policy=settings.ws_slow_policy,
            heartbeat=settings.ws_heartbeat,
            command_rate=settings.command_rate,
            command_burst=settings.command_burst,
            now=now,
            vapid_key=notices.public_key(settings.vapid_private_key),
            opens_for=lambda fingerprint: inquiry_owner(self.indicators, fingerprint),
        )
        self._ids = itertools.count(1)
        self.reports = ReportRoutes(
            store=ReportStore.from_url(settings.redis_target),
            catalog=catalog,
            classification=Classification.from_file(settings.classification_file),
            secret=self.secret,
            now=now,
            bootstrap=settings.broker_bootstrap,
            topic=Topics.for_settings(settings).reports,
        )
        self.items = ItemRoutes(
            store=TimelineStore.from_url(settings.redis_target, retention=settings.closed_item_retention),
            catalog=catalog,
            secret=self.secret,
            now=now,
        )

    # -- HTTP -----------------------------------------------------------------------

    async def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer plain HTTP routes; let ``/ws`` handshakes through (after the origin check)."""
        path = request.path.split("?", 1)[0].split("#", 1)[0]
        if path == "/ws":
            origin = request.headers.get("Origin")
            # Browsers always send Origin; tools without one still need a valid token.
            if origin is not None and origin.rstrip("/").lower() not in self.allowed_origins:
                log.info("refused /ws from origin %r (GOVPULSE_ALLOWED_ORIGINS)", origin[:200])
                return _response(
                    http.HTTPStatus.FORBIDDEN, b"origin not allowed\n", "text/plain; charset=utf-8"
                )
            return None
        if path == "/healthz":
            return await self._healthz()
        if path == "/metrics":
            return _response(http.HTTPStatus.OK, self.metrics.render(), CONTENT_TYPE_LATEST)
        if path == "/indicators.json":
            return await self._indicators(request)
        if path == "/catalog.json":
            return _response(http.HTTPStatus.OK, self.names, "application/json", _PAGE_HEADERS)
        if path.startswith("/items/"):
            status, body = await self.items.answer(path, request.headers)
            return _response(http.HTTPStatus(status), body, "application/json", _PAGE_HEADERS)
        if path.startswith("/reports/") and path != "/reports/":
            query = request.path.split("?", 1)[1].split("#", 1)[0] if "?" in request.path else ""
            status, body, content_type, name = await self.reports.answer(path, query, request.headers)
            extra = (("Content-Disposition", f'attachment; filename="{name}"'),) if name else ()
            return _response(http.HTTPStatus(status), body, content_type, _PAGE_HEADERS + extra)
        page = self._page(path)
        if page is not None:
            return page
        static = self.static.get(path)
        if static is not None:
            return _response(http.HTTPStatus.OK, static.body, static.content_type, _PAGE_HEADERS)
        return self._not_found()

    def _page(self, path: str) -> Response | None:
        name: str | None = None
        if path in ("/", "/wall"):
            name = "wall.html"
        elif path in ("/leader", "/leader/"):
            name = "leader.html"
        elif path in ("/indicators", "/indicators/"):
            name = "indicators.html"
        elif path in ("/reports", "/reports/"):
            name = "reports.html"
        elif _ITEM_PAGE.match(path):
            name = "item.html"
        else:
            match = _UNIT_PATH.match(path)
            if match is not None:
                if match.group(1) not in self.catalog:
                    return self._not_found()
                name = "unit.html"
            elif path.startswith("/unit/"):
                return self._not_found()
        if name is None:
            return None
        page = self.static[f"/static/{name}"]
        return _response(http.HTTPStatus.OK, page.body, page.content_type, _PAGE_HEADERS)

    def _not_found(self) -> Response:
        return _response(
            http.HTTPStatus.NOT_FOUND,
            _NOT_FOUND_PAGE.encode(),
            "text/html; charset=utf-8",
            _PAGE_HEADERS,
        )

    async def _indicators(self, request: Request) -> Response:
        """``/indicators.json``: the indicator rows a token may see (``Authorization:
        Bearer <token>``; filters ``?unit=&group=&status=``); 401 without a valid token,
        403 for another unit's indicators, 503 when Redis does not answer."""
        header = request.headers.get("Authorization") or ""
        token = header[7:] if header[:7].lower() == "bearer " else ""
        try:
            claims = verify_token(self.secret, token, now=self.now(), unit_exists=self.catalog.__contains__)
        except AuthError as exc:
            self.metrics.auth_failures.labels(reason=_auth_failure_kind(exc.reason)).inc()
            return _json_error(http.HTTPStatus.UNAUTHORIZED, exc.reason)
        query = {key: values[0][:100] for key, values in parse_qs(request.path.partition("?")[2]).items()}
        try:
            stored = await asyncio.wait_for(self.store.indicators(), 5.0)
        except (RedisError, OSError, TimeoutError):
            return _json_error(http.HTTPStatus.SERVICE_UNAVAILABLE, "board store unavailable, retry")
        try:
            body = indicator_document(
                self.indicators, stored, scope=claims.scope, query=query, now=self.clock.now()
            )
        except IndicatorScopeError as exc:
            return _json_error(http.HTTPStatus.FORBIDDEN, str(exc))
        return _response(http.HTTPStatus.OK, orjson.dumps(body), "application/json", _PAGE_HEADERS)

    async def _healthz(self) -> Response:
        try:
            redis_up = await asyncio.wait_for(self.store.ping(), 2.0)
        except (RedisError, OSError, TimeoutError):
            redis_up = False
        body = {
            "status": "ok" if redis_up else "unavailable",
            "redis": "up" if redis_up else "down",
            "epoch": self.hub.epoch,
            "feed_position": self.hub.position,
            "worker_age": self.hub.worker_age,
            "stale": protocol.board_stale(redis_up=redis_up, age=self.hub.worker_age),
            "connections": self.hub.connections,
        }
        status = http.HTTPStatus.OK if redis_up else http.HTTPStatus.SERVICE_UNAVAILABLE
        return _response(status, orjson.dumps(body), "application/json")

    # -- websocket ------------------------------------------------------------------

    async def handler(self, ws: ServerConnection) -> None:
        """Serve one ``/ws`` connection; failures stay inside it."""
        ident = next(self._ids)
        try:
            accepted = await self._authenticate(ws, ident)
            if accepted is None:
                return
            claims, frame = accepted
            await self._run_session(ws, ident, claims, frame)
        except ConnectionClosed:
            pass
        except (StoreUnavailable, RevocationUnavailable) as exc:
            log.warning("session #%d: board store unavailable during sync (%s); closing 1013", ident, exc)
            await ws.close(protocol.CLOSE_TRY_AGAIN, "board store unavailable, retry")
        except Exception:
            log.error("session #%d failed; closing 1011", ident, exc_info=True)
            await ws.close(protocol.CLOSE_ERROR, "internal error")

    async def _authenticate(self, ws: ServerConnection, ident: int) -> tuple[Claims, AuthFrame] | None:
        try:
            message = await asyncio.wait_for(ws.recv(), protocol.AUTH_TIMEOUT)
        except TimeoutError:
            await self._refuse(ws, ident, "timeout", "no auth frame within 10 s")
            return None
        try:
            frame = protocol.parse_client_frame(message)
        except ProtocolError as exc:
            await self._refuse(ws, ident, "frame", exc.message)
            return None
        if not isinstance(frame, AuthFrame):
            await self._refuse(ws, ident, "frame", "the first frame must be auth")
            return None
        try:
            claims = verify_token(
                self.secret, frame.token, now=self.now(), unit_exists=self.catalog.__contains__
            )
        except AuthError as exc:
            await self._refuse(ws, ident, _auth_failure_kind(exc.reason), exc.reason)
            return None
        if claims.token_id is not None and await self.revocations.revoked(claims.token_id):
            await self._refuse(ws, ident, "revoked", f"token {claims.token_id} was revoked")
            return None
        return claims, frame

    async def _refuse(self, ws: ServerConnection, ident: int, kind: str, reason: str) -> None:
        self.metrics.auth_failures.labels(kind).inc()
        peer = ws.remote_address[0] if ws.remote_address else "?"
        log.info("session #%d: authentication failed from %s: %s", ident, peer, reason)
        await ws.close(protocol.CLOSE_UNAUTHORIZED, f"unauthorized: {kind}")

    async def _run_session(self, ws: ServerConnection, ident: int, claims: Claims, frame: AuthFrame) -> None:
        scope = claims.scope
        view = protocol.default_view(scope, frame.view)
        if not protocol.can_view(scope, view):
            log.info(
                "session #%d: refused view=%s for %s (%s): forbidden",
                ident,
                view,
                scope.text,
                claims.subject,
            )
            await ws.send(
                protocol.error_frame("forbidden", f"scope {scope.text} cannot view unit {view}"),
                text=True,
            )
            await ws.close(protocol.CLOSE_FORBIDDEN, "forbidden")
            return
        if view is not None and view not in self.catalog:
            await ws.send(protocol.error_frame("not_found", f"unit {view} is not in the catalog"), text=True)
            await ws.close(protocol.CLOSE_FORBIDDEN, "unknown unit")
            return
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response else None
        session = Session(
            ws,
            claims,
            view=view,
            resume=frame.resume,
            config=self.sessions,
            ident=ident,
            batch=frame.batch,
            deflate=protocol.shared_deflate(extensions),
        )
        gauge = self.metrics.connections.labels(scope.kind)
        self.hub.register(session)
        if claims.token_id is not None:
            self.revocation_watch.add(claims.token_id, ws, ident)
        gauge.inc()
        log.info(
            "session #%d: %s (%s) view=%s%s",
            ident,
            scope.text,
            claims.subject,
            view,
            " resuming" if frame.resume else "",
        )
        try:
            await session.run()
        finally:
            self.hub.unregister(session)
            if claims.token_id is not None:
                self.revocation_watch.discard(claims.token_id, ws)
            gauge.dec()


def _json_error(status: http.HTTPStatus, reason: str) -> Response:
    return _response(status, orjson.dumps({"error": reason}), "application/json", _PAGE_HEADERS)


def _auth_failure_kind(reason: str) -> str:
    if reason.startswith("expired"):
        return "expired"
    if reason == "bad signature":
        return "signature"
    if reason.startswith("scope"):
        return "scope"
    return "invalid"


def _response(
    status: http.HTTPStatus,
    body: bytes,
    content_type: str,
    extra: tuple[tuple[str, str], ...] = (),
) -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-cache"),
            ("Connection", "close"),
            *extra,
        ]
    )
    return Response(status.value, status.phrase, headers, body)


def deflate_extensions(compression: str) -> list[ServerPerMessageDeflateFactory]:
    """The websocket extensions the node accepts: permessage-deflate without context
    takeover on either side (the library's default windows and memory level otherwise),
    or none when ``compression`` is ``off``."""
    if compression == "off":
        return []
    return [
        ServerPerMessageDeflateFactory(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=12,
            client_max_window_bits=12,
            compress_settings={"memLevel": 5},
        )
    ]


async def serve(settings: Settings, *, ready: asyncio.Event | None = None) -> None:
    """Run a web node until cancelled.

    Args:
        settings: ``GOVPULSE_WEB_*``, ``GOVPULSE_WS_*``, ``GOVPULSE_SECRET``,
            ``GOVPULSE_ALLOWED_ORIGINS``, ``GOVPULSE_REDIS_URL``/``_PORT``, broker and
            command settings.
        ready: set once the port accepts connections.

    Raises:
        ConfigError: ``GOVPULSE_SECRET`` missing outside the dev profile, or a bad unit
            catalog or SLA file.
    """
    require_secret(settings)
    catalog = Catalog.from_file(settings.units_file)
    sla = SlaPolicy.from_file(settings.sla_file)
    store = BoardStore.from_url(settings.redis_target, feed_maxlen=settings.feed_maxlen)
    sink = CommandSink(settings)
    board = BoardServer(
        settings, store=store, catalog=catalog, clock=settings.clock.build(), sink=sink, sla=sla
    )
    await board.hub.start()
    await board.revocation_watch.start()
    try:
        async with ws_serve(
            board.handler,
            settings.web_host,
            settings.web_port,
            process_request=board.process_request,
            max_size=settings.ws_max_frame,
            ping_interval=settings.ws_heartbeat,
            ping_timeout=max(20.0, 3 * settings.ws_heartbeat),
            # No context takeover: a group's frame is compressed once for all its members
            # (web.feed.wire_text), and no connection keeps a compressor between messages.
            compression=None,
            extensions=deflate_extensions(settings.ws_compression),
        ) as server:
            ports = sorted({sock.getsockname()[1] for sock in server.sockets})
            log.info(
                "web node listening on %s port %s (units=%d, public URL %s)",
                settings.web_host,
                ",".join(map(str, ports)),
                len(catalog),
                settings.public_url,
            )
            if ready is not None:
                ready.set()
            await server.serve_forever()
    finally:
        await board.revocation_watch.stop()
        await board.hub.stop()
        await sink.close()
        await store.close()
        await board.reports.store.close()
        await board.items.store.close()


def run(settings: Settings) -> None:
    """Run a web node in the foreground until SIGINT/SIGTERM (the CLI entry point)."""

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await serve(settings)

    factory = None
    if settings.event_loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())


if __name__ == "__main__":  # pragma: no cover - `python -m web.server` for tests and debugging
    _settings = load_settings()
    logging.basicConfig(
        level=_settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run(_settings)
