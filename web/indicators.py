"""The data of the ``/indicators`` page and its ``/indicators.json`` route, without I/O.

The worker stores one row per indicator record in ``board:indicators``
(:mod:`domain.indicators.rows`); :func:`indicator_document` completes them from the
catalog (indicators nobody reported on are grey), applies the token's scope and the
query's filters, and counts the colours. A unit token sees only the indicators its unit
answers for; asking for another unit's is refused (:class:`IndicatorScopeError`), never
silently narrowed, so a page cannot mistake a refusal for "no indicators".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from alerts.errors import CommandRejected
from alerts.inquiries import inquiry_target, is_inquiry
from domain.indicators.catalog import GROUPS, IndicatorCatalog
from domain.indicators.rows import complete_rows
from domain.indicators.status import ORDER, Colour
from web.auth import Scope
from web.errors import IndicatorScopeError

STATUSES = tuple(colour.value for colour in sorted(Colour, key=ORDER.__getitem__))


def indicator_document(
    catalog: IndicatorCatalog,
    stored: Mapping[str, bytes],
    *,
    scope: Scope,
    query: Mapping[str, str],
    now: float,
) -> dict[str, Any]:
    """``{"at", "scope", "counts", "groups", "owners", "rows"}`` for ``scope``.

    Args:
        stored: ``board:indicators`` (row key → row JSON).
        query: ``unit`` (owner unit), ``group``, ``status`` filters; unknown values match
            nothing (an empty list), never everything.

    Raises:
        IndicatorScopeError: a unit scope asked for another unit's indicators.
    """
    unit = query.get("unit") or None
    if scope.kind == "unit":
        if unit is not None and unit != scope.unit:
            raise IndicatorScopeError(
                f"scope unit:{scope.unit} cannot read the indicators of {unit[:60]}; "
                "use a leader or wall token"
            )
        unit = scope.unit
    rows_by_key: dict[str, Any] = {}
    for key, raw in stored.items():
        try:
            rows_by_key[key] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # a row being rewritten by a broken writer: the catalog's grey stands in
    rows = complete_rows(catalog, rows_by_key, now=now, owners=None if unit is None else [unit])
    owners = sorted({row["owner"] for row in rows})
    counts = {status: 0 for status in STATUSES}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    group, status = query.get("group") or None, query.get("status") or None
    shown = [
        row
        for row in rows
        if (group is None or row["group"] == group) and (status is None or row["status"] == status)
    ]
    return {
        "at": now,
        "scope": scope.text,
        "counts": counts,
        "groups": [g for g in GROUPS if any(row["group"] == g for row in rows)],
        "owners": owners,
        "rows": shown,
    }


def inquiry_owner(catalog: IndicatorCatalog, fingerprint: str) -> str | None:
    """The unit a leader's explanation request on ``fingerprint`` would open its alert
    for: the owner of the indicator it names (``indicator_explanation:CODE/UNIT/PERIOD``),
    or None when it names no indicator of the catalog."""
    if not is_inquiry(fingerprint):
        return None
    try:
        return inquiry_target(fingerprint, catalog).owner
    except CommandRejected:
        return None
