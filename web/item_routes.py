"""``GET /items/<id>.json``: an item's timeline for the ``/item/<id>`` page.

Scoped like the queue (:func:`web.protocol.can_view`): leaders and the wall see every
item, a unit token the items at its unit. Assignees (staff ids) are removed for the wall.
The item's alerts, with their explanation requests and answers, come from the board's
``board:alerts`` hash (runtime.board). Token in ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import orjson
from redis.exceptions import RedisError
from websockets.datastructures import Headers

from domain.catalog import Catalog
from runtime.board import ALERTS_KEY
from runtime.timeline import TimelineStore
from web import protocol
from web.auth import Scope
from web.errors import ReportRequestError
from web.report_routes import bearer_scope

log = logging.getLogger(__name__)

ITEM_DATA = re.compile(r"/items/([A-Za-z0-9][A-Za-z0-9._:/-]{0,63})\.json\Z")


class ItemRoutes:
    """Answers ``/items/<id>.json`` (see the module docstring)."""

    def __init__(
        self, *, store: TimelineStore, catalog: Catalog, secret: str, now: Callable[[], float]
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.secret = secret
        self.now = now

    async def answer(self, path: str, headers: Headers) -> tuple[int, bytes]:
        """(status, JSON body)."""
        try:
            return 200, orjson.dumps(await self._answer(path, headers))
        except ReportRequestError as exc:
            return exc.status, orjson.dumps({"error": exc.message})

    async def _answer(self, path: str, headers: Headers) -> dict[str, Any]:
        scope = self._scope(headers)
        match = ITEM_DATA.match(path)
        if match is None:
            raise ReportRequestError(
                400, "an item id is letters, digits and ._:/- (at most 64), e.g. PA-2026-000123"
            )
        item_id = match.group(1)
        try:
            summary, entries = await self.store.read(item_id)
            raw_alerts = await self.store.client.hvals(ALERTS_KEY) if summary is not None else []
        except (RedisError, OSError) as exc:
            log.warning("item timeline unavailable: Redis: %s", exc)
            raise ReportRequestError(
                503, "the item timeline is unavailable (Redis); try again shortly"
            ) from None
        if summary is None:
            raise ReportRequestError(
                404,
                f"item {item_id} is not known: never received, or closed longer ago than the "
                f"closed-item retention",
            )
        if not protocol.can_view(scope, summary.get("unit")):
            raise ReportRequestError(403, f"item {item_id} is outside this token's scope ({scope.text})")
        alerts = []
        for value in raw_alerts:
            alert = orjson.loads(value)
            if alert.get("item_id") == item_id:
                alerts.append(alert)
        alerts.sort(key=lambda a: a.get("opened_at") or a.get("at") or 0)
        if scope.kind == "wall":
            entries = [_without_assignee(entry) for entry in entries]
        return {"item": summary, "timeline": entries, "alerts": alerts, "scope": scope.text}

    def _scope(self, headers: Headers) -> Scope:
        return bearer_scope(headers, secret=self.secret, now=self.now(), catalog=self.catalog)


def _without_assignee(entry: dict[str, Any]) -> dict[str, Any]:
    out = dict(entry)
    for part in ("state", "event"):
        if isinstance(out.get(part), dict):
            out[part] = {k: v for k, v in out[part].items() if k != "assignee"}
    return out
