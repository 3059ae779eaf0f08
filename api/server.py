"""``govpulse api``: the HTTP API process (uvicorn serving :func:`api.app.create_app`).

Its own process, not a part of the web node: the web node answers HTTP in websockets'
minimal handshake hook, which has no request bodies, content negotiation or OpenAPI; and
ingest load (a broker producer, idempotency writes) should scale apart from board
viewers. Like the web nodes it keeps no state of its own (keys, reservations and the
board are in Redis), so any number of them can run behind a load balancer.
"""

from __future__ import annotations

import logging

import uvicorn

from api.app import Context, create_app
from api.sender import Sender
from api.store import ApiStore
from domain.catalog import Catalog
from domain.indicators.catalog import IndicatorCatalog
from domain.sla import SlaPolicy
from runtime.settings import Settings

log = logging.getLogger(__name__)


def build_context(settings: Settings) -> Context:
    """The shared context of one API process, from settings (data files, Redis, broker)."""
    catalog = Catalog.from_file(settings.units_file)
    return Context(
        settings=settings,
        catalog=catalog,
        sla=SlaPolicy.from_file(settings.sla_file),
        clock=settings.clock.build(),
        store=ApiStore.from_url(settings.redis_target, catalog),
        sender=Sender(settings),
        indicators=IndicatorCatalog.from_file(settings.indicators_file, catalog),
    )


def config(settings: Settings, *, port: int | None = None) -> uvicorn.Config:
    """The uvicorn configuration of the API (logging stays ours: runtime.logs)."""
    # Validate the data files before binding the port: a bad file fails at start.
    IndicatorCatalog.from_file(settings.indicators_file, Catalog.from_file(settings.units_file))
    SlaPolicy.from_file(settings.sla_file)
    return uvicorn.Config(
        create_app(lambda: build_context(settings)),
        host=settings.api.host,
        port=settings.api.port if port is None else port,
        loop="uvloop" if settings.event_loop == "uvloop" else "asyncio",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


def run(settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM."""
    server = uvicorn.Server(config(settings))
    log.info("API listening on http://%s:%d (docs at /api/docs)", settings.api.host, settings.api.port)
    server.run()
