"""The FastAPI application: routes as thin shells around :mod:`api.ingest`,
:mod:`api.open311`, :mod:`api.store` and :mod:`api.sender`.

Every refusal is an RFC 9457 problem (``application/problem+json``, :mod:`api.problems`)
on ``/api/…``; Open311 routes answer GeoReport's own error list
(``[{"code", "description"}]``). The OpenAPI 3.1 document is generated from this module
and served at ``/api/openapi.json``, with a docs page at ``/api/docs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import open311
from api.docs import add_docs
from api.ingest import Admitted, Refusal, admit, results, scope_refusals, sort_reservations, units_needed
from api.keys import ApiKey, hash_secret
from api.metrics import CONTENT_TYPE_LATEST, ApiMetrics
from api.problems import MEDIA_TYPE, problem
from api.reports import admit_reports, report_results, report_scope_refusals, sort_report_reservations
from api.schemas import (
    COMPONENT_MODELS,
    EVENT_SCHEMA,
    EVENTS_BODY,
    REPORT_SCHEMA,
    REPORTS_BODY,
    Accepted,
    AcceptedReports,
    Created311,
    Health,
    ItemState,
    Request311,
    Service311,
    UnitStats,
)
from api.sender import Sender, Unavailable
from api.store import ApiStore
from domain.catalog import Catalog
from domain.ids import valid_id
from domain.indicators.catalog import IndicatorCatalog
from domain.items import ItemKind
from domain.rates import TokenBucket
from domain.sla import SlaPolicy
from runtime.clock import Clock
from runtime.settings import Settings

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"
#: Seconds a key record is cached in the process (a revoked key stops working within it).
KEY_CACHE_SECONDS = 5.0
#: ``Retry-After`` of a 503 (broker or Redis away).
UNAVAILABLE_RETRY = 5


class ApiProblem(Exception):
    """Answer the request with a problem (or, on Open311 routes, a GeoReport error)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[Refusal] = (),
        retry_after: int | None = None,
        slug: str | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.retry_after = retry_after
        self.slug = slug
        self.title = title


@dataclass(slots=True)
class Context:
    """What the routes share: settings, data, the Redis store, the producer, limits."""

    settings: Settings
    catalog: Catalog
    sla: SlaPolicy
    clock: Clock
    store: ApiStore
    sender: Sender
    indicators: IndicatorCatalog
    monotonic: Callable[[], float] = time.monotonic
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    key_cache: dict[str, tuple[ApiKey | None, float]] = field(default_factory=dict)


def _problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Malformed request",
        401: "No API key, or an unknown or revoked one",
        403: "The key does not cover the unit or item",
        404: "Not found (or not open on the board)",
        409: "An event_id was used for different content, or is still being produced (retry)",
        413: "Body over GOVPULSE_API_MAX_BODY_BYTES",
        415: "Body is not JSON",
        422: "Invalid events; `errors` lists each with the dead-letter reason",
        429: "The key's rate is exceeded; see Retry-After",
        503: "Broker or Redis unavailable; nothing was accepted, retry after Retry-After",
    }
    return {
        status: {
            "description": descriptions[status],
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def _open311_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "description": "GeoReport error list",
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Error311"}}
                }
            },
        }
        for status in statuses
    }


def create_app(context_factory: Callable[[], Context]) -> FastAPI:
    """Build the application.

    Args:
        context_factory: builds the shared :class:`Context` at start-up (the lifespan
            closes its store and producer at shutdown).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = context_factory()
        app.state.context = context
        keeper = asyncio.create_task(keep_keys(context), name="api-keys-keeper")
        log.info(
            "API ready: %d units, %d categories, broker %s",
            len(context.catalog),
            len(context.sla.categories),
            context.settings.broker_bootstrap,
        )
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await context.sender.close()
            await context.store.close()

    app = FastAPI(
        title="govpulse ingest API",
        version=API_VERSION,
        summary="Send citizen feedback and task events, and indicator reports, over HTTP; read items and "
        "unit counters.",
        description="Integrator guide: docs/api.md. Events follow the contract of docs/events.md.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # api.docs serves the page with its own assets (no CDN)
        redoc_url=None,
        lifespan=lifespan,
    )

    def ctx(request: Request) -> Context:
        context: Context = request.app.state.context
        return context

    # -- errors ------------------------------------------------------------------------

    def render(request: Request, exc: ApiProblem) -> Response:
        context: Context | None = getattr(request.app.state, "context", None)
        if context is not None:
            context.metrics.refusals.labels(str(exc.status)).inc()
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
        if request.url.path.startswith("/open311/"):
            body: Any = [{"code": exc.status, "description": exc.detail}]
            return JSONResponse(body, status_code=exc.status, headers=headers)
        content = problem(
            exc.status,
            exc.detail,
            errors=exc.errors,
            instance=request.url.path,
            slug=exc.slug,
            title=exc.title,
        )
        return JSONResponse(content, status_code=exc.status, headers=headers, media_type=MEDIA_TYPE)

    @app.exception_handler(ApiProblem)
    async def on_problem(request: Request, exc: ApiProblem) -> Response:
        return render(request, exc)

    @app.exception_handler(RedisError)
    async def on_redis(request: Request, exc: RedisError) -> Response:
        log.warning("Redis unavailable: %s", exc)
        return render(
            request,
            ApiProblem(
                503,
                "Redis (GOVPULSE_REDIS_URL) is unavailable; nothing was accepted, send the same "
                "request again",
                retry_after=UNAVAILABLE_RETRY,
            ),
        )

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()))
            parts.append(f"{where}: {error.get('msg')}")
        return render(request, ApiProblem(422, "; ".join(parts) or "invalid request", slug="invalid-request"))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404:
            detail = f"no route {request.method} {request.url.path}; see /api/docs"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}; see /api/docs"
        return render(request, ApiProblem(exc.status_code, detail))

    # -- shared steps --------------------------------------------------------------------

    async def authenticate(request: Request, secret: str | None = None) -> ApiKey:
        context = ctx(request)
        if secret is None:
            header = request.headers.get("authorization", "")
            if header[:7].lower() == "bearer ":
                secret = header[7:].strip()
            else:
                secret = request.headers.get("x-api-key")
        if not secret:
            raise ApiProblem(401, "send the API key as `Authorization: Bearer <key>` (or `X-API-Key: <key>`)")
        key_hash = hash_secret(secret)
        now = context.monotonic()
        cached = context.key_cache.get(key_hash)
        if cached is not None and cached[1] > now:
            key = cached[0]
        else:
            key = await context.store.find_key(key_hash)
            if len(context.key_cache) > 10_000:
                context.key_cache.clear()
            context.key_cache[key_hash] = (key, now + KEY_CACHE_SECONDS)
        if key is None:
            raise ApiProblem(401, "the API key is unknown or revoked; ask the operator for a key")
        bucket = context.buckets.get(key.name)
        if bucket is None or bucket.rate != key.rate:
            bucket = TokenBucket(rate=key.rate, burst=max(1, math.ceil(key.rate)), now=now)
            context.buckets[key.name] = bucket
        if not bucket.take(now):
            raise ApiProblem(
                429,
                f"key {key.name!r} is limited to {key.rate:g} requests per second; slow down "
                f"(batch events: up to 1000 per request)",
                retry_after=bucket.retry_after(now),
            )
        return key

    async def read_body(request: Request, *, json_only: bool = True) -> bytes:
        context = ctx(request)
        limit = context.settings.api.max_body_bytes
        if json_only:
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media != "application/json" and not media.endswith("+json"):
                raise ApiProblem(
                    415,
                    f"Content-Type {media or '(none)'!r} is not JSON; send `Content-Type: application/json`",
                )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiProblem(413, _too_large(int(declared), limit))
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiProblem(413, _too_large(size, limit))
            chunks.append(chunk)
        return b"".join(chunks)

    async def ingest(context: Context, key: ApiKey, admitted: Sequence[Admitted]) -> Response:
        """Scope, reserve, produce (acks=all), confirm; raises ApiProblem on refusal."""
        if key.units:
            needed = units_needed(admitted)
            item_units = (
                await context.store.item_units(needed, key.units, now=context.clock.now()) if needed else {}
            )
            refused = scope_refusals(admitted, key, context.catalog, item_units)
            if refused:
                raise ApiProblem(
                    403,
                    f"{len(refused)} of {len(admitted)} events are outside the units of key "
                    f"{key.name!r}; nothing was accepted",
                    errors=refused,
                )
        settings = context.settings
        codes = await context.store.reserve(admitted, pending_ttl=settings.api.send_timeout * 3 + 5)
        batch = sort_reservations(admitted, codes)
        fresh = batch.fresh
        if batch.conflicts or batch.in_flight:
            await context.store.release(fresh)
            if batch.conflicts:
                raise ApiProblem(
                    409,
                    "event ids reused for different content; nothing was accepted",
                    errors=batch.conflicts,
                )
            raise ApiProblem(
                409,
                "some events are being produced by a concurrent request; nothing was accepted, "
                "send the same request again",
                errors=batch.in_flight,
                retry_after=1,
                slug="in-flight",
                title="Events are being produced by another request",
            )
        try:
            sent = time.monotonic()
            placed = await context.sender.send(fresh, key_name=key.name) if fresh else []
            if fresh:
                context.metrics.ack_seconds.observe(time.monotonic() - sent)
        except Unavailable as exc:
            await context.store.release(fresh)
            raise ApiProblem(503, exc.reason, retry_after=UNAVAILABLE_RETRY) from None
        try:
            await context.store.confirm(fresh, ttl=settings.api.idempotency_ttl, now=context.clock.now())
        except (RedisError, OSError) as exc:
            # The events are on the broker: the answer is 202. Their reservations stay
            # pending and expire; a retry after that produces them again, and the workers
            # apply each event_id once.
            log.warning(
                "key=%s: %d events produced but not confirmed in Redis (%s)", key.name, len(fresh), exc
            )
        body = results(
            admitted,
            {entry.index: (p.topic, p.partition, p.offset) for entry, p in zip(fresh, placed, strict=True)},
        )
        log.debug("key=%s accepted=%d duplicates=%d", key.name, body["accepted"], body["duplicates"])
        context.metrics.accepted(key.name, accepted=body["accepted"], duplicates=body["duplicates"])
        # Returned as a Response: its shape is the documented Accepted model (the contract
        # tests check it), without FastAPI validating and serializing it again per request.
        return Response(orjson.dumps(body), status_code=202, media_type="application/json")

    # -- /api/v1 -------------------------------------------------------------------------

    @app.post(
        "/api/v1/events",
        status_code=202,
        response_model=Accepted,
        tags=["events"],
        summary="Send one event or a batch of up to 1,000",
        description="Answers 202 once the broker acknowledged every event (acks=all). A batch is "
        "accepted whole or refused whole. Idempotent by event_id: a retried request creates "
        "nothing new and reports each event as `duplicate`.",
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": EVENTS_BODY}}}
        },
        responses=_problem_responses(401, 403, 409, 413, 415, 422, 429, 503),
    )
    async def post_events(
        request: Request,
        kind: Annotated[
            Literal["feedback", "task"] | None,
            Query(description="item kind of every event (topic); default: by item id, NV-… is a task"),
        ] = None,
    ) -> Response:
        context = ctx(request)
        key = await authenticate(request)
        raw = await read_body(request)
        settings = context.settings
        admission = admit(
            raw,
            catalog=context.catalog,
            now=context.clock.now(),
            max_event_bytes=settings.max_event_bytes,
            max_future_skew=settings.max_future_skew,
            kind=ItemKind(kind) if kind is not None else None,
        )
        if admission.refusals:
            body_level = len(admission.refusals) == 1 and admission.refusals[0].index is None
            raise ApiProblem(
                422,
                admission.refusals[0].reason
                if body_level
                else f"{len(admission.refusals)} events are invalid; nothing was accepted (fix them and "
                f"send the batch again)",
                errors=admission.refusals,
            )
        return await ingest(context, key, admission.admitted)

    @app.post(
        "/api/v1/indicators",
        status_code=202,
        response_model=AcceptedReports,
        tags=["indicators"],
        summary="Report one indicator value or a batch of up to 1,000",
        description="Reports go to the indicators topic keyed by unit code (docs/events.md, "
        "gov.indicators). Answers 202 once the broker acknowledged every report (acks=all). A batch "
        "is accepted whole or refused whole. Idempotent by event_id per unit: a retried request "
        "creates nothing new and reports each report as `duplicate`.",
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": REPORTS_BODY}}}
        },
        responses=_problem_responses(401, 403, 409, 413, 415, 422, 429, 503),
    )
    async def post_indicators(request: Request) -> Response:
        context = ctx(request)
        key = await authenticate(request)
        raw = await read_body(request)
        settings = context.settings
        admission = admit_reports(
            raw,
            catalog=context.indicators,
            now=context.clock.now(),
            max_event_bytes=settings.max_event_bytes,
            max_future_skew=settings.max_future_skew,
        )
        if admission.refusals:
            body_level = len(admission.refusals) == 1 and admission.refusals[0].index is None
            raise ApiProblem(
                422,
                admission.refusals[0].reason
                if body_level
                else f"{len(admission.refusals)} reports are invalid; nothing was accepted (fix them and "
                f"send the batch again)",
                errors=admission.refusals,
                slug="invalid-reports",
                title="The indicator reports are not valid",
            )
        admitted = admission.admitted
        refused = report_scope_refusals(admitted, key, context.catalog)
        if refused:
            raise ApiProblem(
                403,
                f"{len(refused)} of {len(admitted)} reports are outside the units of key "
                f"{key.name!r}; nothing was accepted",
                errors=refused,
            )
        codes = await context.store.reserve_reports(admitted, pending_ttl=settings.api.send_timeout * 3 + 5)
        batch = sort_report_reservations(admitted, codes)
        fresh = batch.fresh
        if batch.conflicts or batch.in_flight:
            await context.store.release_reports(fresh)
            if batch.conflicts:
                raise ApiProblem(
                    409,
                    "event ids reused for different content; nothing was accepted",
                    errors=batch.conflicts,
                )
            raise ApiProblem(
                409,
                "some reports are being produced by a concurrent request; nothing was accepted, "
                "send the same request again",
                errors=batch.in_flight,
                retry_after=1,
                slug="in-flight",
                title="Events are being produced by another request",
            )
        try:
            sent = time.monotonic()
            placed = await context.sender.send_reports(fresh, key_name=key.name) if fresh else []
            if fresh:
                context.metrics.ack_seconds.observe(time.monotonic() - sent)
        except Unavailable as exc:
            await context.store.release_reports(fresh)
            raise ApiProblem(503, exc.reason, retry_after=UNAVAILABLE_RETRY) from None
        try:
            await context.store.confirm_reports(fresh, ttl=settings.api.idempotency_ttl)
        except (RedisError, OSError) as exc:
            # On the broker already: 202. The worker applies each event_id once per record.
            log.warning(
                "key=%s: %d reports produced but not confirmed in Redis (%s)", key.name, len(fresh), exc
            )
        body = report_results(
            admitted,
            {entry.index: (p.topic, p.partition, p.offset) for entry, p in zip(fresh, placed, strict=True)},
        )
        log.debug("key=%s reports accepted=%d duplicates=%d", key.name, body["accepted"], body["duplicates"])
        context.metrics.accepted(key.name, accepted=body["accepted"], duplicates=body["duplicates"])
        return Response(orjson.dumps(body), status_code=202, media_type="application/json")

    @app.get(
        "/api/v1/items/{item_id}",
        response_model=ItemState,
        tags=["reads"],
        summary="An open item's current state (scoped by the key's units)",
        responses=_problem_responses(401, 403, 404, 429, 503),
    )
    async def get_item(request: Request, item_id: str) -> dict[str, Any]:
        context = ctx(request)
        key = await authenticate(request)
        if not valid_id(item_id, max_length=64):
            raise ApiProblem(404, f"{item_id[:80]!r} is not an item id")
        entry = await context.store.queue_entry(item_id, key.units)
        if entry is None:
            raise ApiProblem(
                404,
                f"item {item_id} is not open on the board"
                + (f" at a unit key {key.name!r} covers ({key.scope_text()})" if key.units else "")
                + "; closed items leave the board (Open311 requests/{id}.json reports them closed)",
            )
        return entry

    @app.get(
        "/api/v1/units/{code}/stats",
        response_model=UnitStats,
        tags=["reads"],
        summary="A unit's counters for one window, and its gauges",
        responses=_problem_responses(401, 403, 404, 429, 503),
    )
    async def get_stats(
        request: Request,
        code: str,
        window: Annotated[str, Query(description="a counter window: 5m, 1h, 1d or period")] = "1d",
    ) -> dict[str, Any]:
        context = ctx(request)
        key = await authenticate(request)
        if code not in context.catalog:
            raise ApiProblem(404, f"{code[:64]!r} is not a unit code of the catalog")
        if not key.covers(code, context.catalog):
            raise ApiProblem(403, f"key {key.name!r} may not read unit {code} (it covers {key.scope_text()})")
        windows = context.settings.windows
        if window not in windows:
            raise ApiProblem(
                422,
                f"window {window[:32]!r} is not counted; use one of {', '.join(windows)}",
                slug="invalid-request",
            )
        entry = await context.store.unit_entry(code)
        unit = context.catalog.get(code)
        counters = ((entry or {}).get("windows") or {}).get(window) or {}
        return {
            "code": code,
            "name_vi": unit.name_vi,
            "name_en": unit.name_en,
            "window": window,
            "at": (entry or {}).get("at"),
            "colour": (entry or {}).get("colour"),
            "gauges": (entry or {}).get("gauges") or {},
            "counters": counters,
        }

    @app.get(
        "/api/healthz",
        response_model=Health,
        tags=["operations"],
        summary="Redis and broker reachable",
        responses={503: {"description": "Redis is down", "model": Health}},
    )
    async def health(request: Request) -> JSONResponse:
        context = ctx(request)
        try:
            redis_up = bool(await context.store.client.ping())
        except (RedisError, OSError):
            redis_up = False
        broker_up = context.sender.connected
        return JSONResponse({"redis": redis_up, "broker": broker_up}, status_code=200 if redis_up else 503)

    @app.get(
        "/api/metrics",
        tags=["operations"],
        summary="Prometheus metrics of this node",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "metrics"}
        },
    )
    async def metrics(request: Request) -> Response:
        return Response(ctx(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)

    # -- Open311 GeoReport v2 ------------------------------------------------------------

    @app.get(
        "/open311/v2/services.json",
        response_model=list[Service311],
        tags=["open311"],
        summary="GeoReport v2 service list: our categories",
    )
    async def services_json(request: Request) -> list[dict[str, Any]]:
        return open311.services(ctx(request).sla)

    @app.post(
        "/open311/v2/requests.json",
        response_model=list[Created311],
        tags=["open311"],
        summary="GeoReport v2: create a service request (a `received` feedback event)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["api_key", "service_code", "description"],
                            "properties": {
                                name: {"type": "string"}
                                for name in (
                                    "api_key",
                                    "service_code",
                                    "jurisdiction_id",
                                    "description",
                                    "address_string",
                                    "address_id",
                                    "lat",
                                    "long",
                                    "email",
                                    "first_name",
                                    "last_name",
                                    "phone",
                                    "device_id",
                                    "account_id",
                                    "media_url",
                                )
                            },
                        }
                    }
                },
            }
        },
        responses=_open311_errors(400, 401, 403, 409, 413, 415, 429, 503),
    )
    async def create_request(request: Request) -> list[dict[str, Any]]:
        context = ctx(request)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raise ApiProblem(
                415,
                f"Content-Type {media or '(none)'!r}: send the request as application/x-www-form-urlencoded",
            )
        declared = request.headers.get("content-length")
        limit = context.settings.api.max_body_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiProblem(413, _too_large(int(declared), limit))
        form = await request.form()
        fields = {name: value for name, value in form.items() if isinstance(value, str)}
        key = await authenticate(request, fields.get("api_key") or request.query_params.get("api_key"))
        ids = open311.new_ids(key, request.headers.get("idempotency-key"))
        try:
            event = open311.request_event(
                fields, key=key, catalog=context.catalog, sla=context.sla, now=context.clock.now(), ids=ids
            )
        except open311.RequestRefused as exc:
            raise ApiProblem(400, exc.reason) from None
        admission = admit(
            orjson.dumps(event),
            catalog=context.catalog,
            now=context.clock.now(),
            max_event_bytes=context.settings.max_event_bytes,
            max_future_skew=context.settings.max_future_skew,
            kind=ItemKind.FEEDBACK,
        )
        if admission.refusals:
            raise ApiProblem(400, admission.refusals[0].reason)
        # A retry (same Idempotency-Key) is stamped with a new occurred_at: compare the
        # request's own fields instead, so it is a duplicate and a changed form a conflict.
        digest = hashlib.sha256(
            orjson.dumps({k: v for k, v in sorted(fields.items()) if k != "api_key"})
        ).hexdigest()
        await ingest(
            context, key, [dataclasses.replace(entry, digest=digest) for entry in admission.admitted]
        )
        category = context.sla.categories[event["category"]]
        return [
            {
                "service_request_id": event["item_id"],
                "service_notice": f"due in {category.working_days} working days",
                "account_id": None,
            }
        ]

    @app.get(
        "/open311/v2/requests/{request_id}.json",
        response_model=list[Request311],
        tags=["open311"],
        summary="GeoReport v2: one service request with status and expected_datetime",
        responses=_open311_errors(401, 404, 429, 503),
    )
    async def get_request(
        request: Request,
        request_id: str,
        api_key: Annotated[str | None, Query(description="the API key (or send it as a header)")] = None,
    ) -> list[dict[str, Any]]:
        context = ctx(request)
        key = await authenticate(request, api_key)
        if not valid_id(request_id, max_length=64):
            raise ApiProblem(404, f"{request_id[:80]!r} is not a service request id")
        entry = await context.store.queue_entry(request_id, key.units)
        record = None if entry is not None else await context.store.item_record(request_id)
        if record is not None and key.units:
            unit = record.get("unit")
            if not isinstance(unit, str) or not key.covers(unit, context.catalog):
                record = None
        if entry is None and record is None:
            raise ApiProblem(404, f"service request {request_id} is unknown")
        return [
            open311.service_request(
                request_id,
                entry=entry,
                record=record,
                sla=context.sla,
                catalog=context.catalog,
                now=context.clock.now(),
            )
        ]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for model in COMPONENT_MODELS:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, sub in schema.pop("$defs", {}).items():
                    schemas.setdefault(name, sub)
                schemas[model.__name__] = schema
            schemas["Event"] = EVENT_SCHEMA
            schemas["IndicatorReport"] = REPORT_SCHEMA
            document["components"]["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API key (gpk_…)"},
                "header": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            }
            document["security"] = [{"bearer": []}, {"header": []}]
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the document
    add_docs(app)
    return app


async def keep_keys(context: Context, *, interval: float = KEY_CACHE_SECONDS) -> None:
    """Keep a copy of the key records and write them back when Redis comes back empty.

    Redis runs without persistence (the board is rebuilt from Kafka); the key records
    would be lost with it. Every node holds the last records it saw; when the epoch
    marker is gone (a new, empty Redis) it restores them, so integrators keep working.
    Revocations are followed: a revoked key leaves the copy at the next look.
    """
    held: list[ApiKey] = []
    while True:
        try:
            known, keys = await context.store.key_snapshot()
            if not known and held:
                await context.store.restore_keys(held)
                log.warning(
                    "Redis came back without API keys; restored %d keys from this node's copy", len(held)
                )
            else:
                held = keys
        except (RedisError, OSError) as exc:
            log.debug("keys keeper: Redis unavailable (%s)", exc)
        await asyncio.sleep(interval)


def _too_large(size: int, limit: int) -> str:
    return (
        f"the body is {size} bytes, over the limit of {limit} (GOVPULSE_API_MAX_BODY_BYTES); "
        f"send at most 1000 events per request, or fewer larger ones"
    )
