"""The ``/reports/…`` HTTP routes of the web node: a thin shell around :mod:`web.reports`
and :mod:`web.exports`.

``GET /reports/data.json``, ``/reports/export.xlsx`` and ``/reports/export.csv`` take
``period`` (``2026-11``, ``2026-Q4``, ``2026``; default the latest closed month) and
``unit`` (optional), and a board token in ``Authorization: Bearer <token>`` (never in the
URL: downloads are fetched by the page and saved from a blob). Errors are JSON
``{"error": "..."}`` with the status of :class:`~web.errors.ReportRequestError`.

Reports are read from Redis (:mod:`runtime.reports`); when Redis lost them (no
``reports:ready``) they are first rebuilt from ``gov.reports``, once, under a lock.
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Callable

import orjson
from redis.exceptions import RedisError
from websockets.datastructures import Headers

from domain.catalog import Catalog
from domain.classification import Classification
from domain.errors import ServiceError
from runtime.reports import ReportStore, rebuild
from web.auth import Scope, verify_token
from web.errors import AuthError, ReportRequestError
from web.exports import csv_bytes, xlsx_bytes
from web.reports import check_scope, default_period, months_needed, parse_request, report_document

log = logging.getLogger(__name__)

ROUTES = {
    "/reports/data.json": "json",
    "/reports/export.xlsx": "xlsx",
    "/reports/export.csv": "csv",
}
CONTENT_TYPES = {
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


class ReportRoutes:
    """Answers the report routes of one web node.

    Args:
        store: reports in Redis.
        catalog: units (names, levels, scope).
        classification: bands and the minimum volume.
        secret: ``GOVPULSE_SECRET`` (tokens).
        now: real time (token expiry).
        bootstrap: broker, for a rebuild from the topic.
        topic: the full name of ``gov.reports``.
    """

    def __init__(
        self,
        *,
        store: ReportStore,
        catalog: Catalog,
        classification: Classification,
        secret: str,
        now: Callable[[], float],
        bootstrap: str,
        topic: str,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.classification = classification
        self.secret = secret
        self.now = now
        self.bootstrap = bootstrap
        self.topic = topic
        self._rebuilding = asyncio.Lock()

    async def answer(self, path: str, query: str, headers: Headers) -> tuple[int, bytes, str, str | None]:
        """(status, body, content type, download file name) for a report route."""
        kind = ROUTES.get(path)
        if kind is None:
            return _error(404, f"no route {path[:60]!r}; use /reports/data.json, export.xlsx or export.csv")
        try:
            body, name = await self._answer(kind, query, headers)
        except ReportRequestError as exc:
            return _error(exc.status, exc.message)
        return 200, body, CONTENT_TYPES[kind], name

    async def _answer(self, kind: str, query: str, headers: Headers) -> tuple[bytes, str | None]:
        scope = self._scope(headers)
        request = parse_request(query, catalog=self.catalog)
        check_scope(scope, request.unit, self.catalog)
        try:
            await self._ensure_ready()
            available = await self.store.months()
            period = request.period or default_period(available)
            if period is None:
                raise ReportRequestError(
                    404, "no report period has closed yet; reports appear after the 25th 12:00"
                )
            if not any(m.key in available for m in period.months()):
                raise ReportRequestError(
                    404,
                    f"no reports for period {period.key}; the latest closed months are "
                    f"{', '.join(available[-6:]) or 'none'}",
                )
            data = await self.store.many(months_needed(period))
        except (RedisError, OSError) as exc:
            log.warning("reports unavailable: Redis: %s", exc)
            raise ReportRequestError(503, "reports are unavailable (Redis); try again shortly") from None
        document = report_document(
            period,
            data,
            catalog=self.catalog,
            classification=self.classification,
            scope=scope,
            unit=request.unit,
            available=available,
        )
        suffix = f"-{request.unit}" if request.unit else ""
        # Files are built in a thread: the event loop keeps serving the boards meanwhile.
        if kind == "xlsx":
            return await asyncio.to_thread(xlsx_bytes, document), f"bao-cao-{period.key}{suffix}.xlsx"
        if kind == "csv":
            return await asyncio.to_thread(csv_bytes, document), f"bao-cao-{period.key}{suffix}.csv"
        return orjson.dumps(document), None

    def _scope(self, headers: Headers) -> Scope:
        return bearer_scope(headers, secret=self.secret, now=self.now(), catalog=self.catalog)

    async def _ensure_ready(self) -> None:
        if await self.store.ready():
            return
        async with self._rebuilding:
            if await self.store.ready():
                return
            try:
                await rebuild(self.store, self.bootstrap, self.topic)
            except ServiceError as exc:
                log.warning("reports not rebuilt from %s: %s", self.topic, exc)
                raise ReportRequestError(503, "reports are being restored; try again shortly") from None


def bearer_scope(headers: Headers, *, secret: str, now: float, catalog: Catalog) -> Scope:
    """The scope of the board token in ``Authorization: Bearer <token>`` (the report and
    item routes read it the same way).

    Raises:
        ReportRequestError: 401 when the header is missing or the token is refused.
    """
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ReportRequestError(401, "send the board token as 'Authorization: Bearer <token>'")
    try:
        claims = verify_token(secret, token.strip(), now=now, unit_exists=catalog.__contains__)
    except AuthError as exc:
        raise ReportRequestError(401, f"token refused: {exc.reason}") from None
    return claims.scope


def _error(status: int, message: str) -> tuple[int, bytes, str, str | None]:
    return status, orjson.dumps({"error": message}), "application/json", None


def status_of(code: int) -> http.HTTPStatus:
    return http.HTTPStatus(code)
