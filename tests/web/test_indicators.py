"""The indicator rows a token may see: scope, filters, counts; and the HTTP route."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.indicators.catalog import IndicatorCatalog
from domain.indicators.periods import period_of
from domain.indicators.reports import Report
from domain.indicators.rows import indicator_row
from domain.indicators.status import evaluate
from runtime.board import INDICATORS_KEY, BoardStore
from tests.support.webtools import WebNode, token
from web.auth import Scope
from web.errors import IndicatorScopeError
from web.indicators import indicator_document, inquiry_owner

DATA = Path(__file__).resolve().parents[2] / "domain" / "data"
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


@pytest.fixture(scope="module")
def catalog() -> IndicatorCatalog:
    return IndicatorCatalog.from_file(DATA / "indicators.toml", Catalog.from_file(DATA / "units.json"))


def red_row(
    catalog: IndicatorCatalog, code: str, unit: str, now: float, *, note: str = HOSTILE
) -> dict[str, Any]:
    """A stored row of a unit far behind its plan."""
    assignment = catalog.assignment(code, unit)
    assert assignment is not None
    period = period_of(now, assignment.indicator.period)
    reports = [
        Report(
            f"r{i}",
            code,
            unit,
            period.label,
            assignment.target * 0.05 * i,
            period.start + (now - period.start) * i / 3,
            note=note,
        )
        for i in (1, 2, 3)
    ]
    calendar = WorkCalendar.from_file(DATA / "calendar.toml")
    from domain.indicators.projection import WorkingDays

    verdict = evaluate(assignment, period, reports, now=now, days=WorkingDays(calendar))
    return indicator_row(assignment, period, reports, verdict, now=now)


def stored(*rows: dict[str, Any]) -> dict[str, bytes]:
    return {row["key"]: orjson.dumps(row) for row in rows}


NOW = time.time()


def test_leaders_see_every_assignment_red_first_with_counts(catalog: IndicatorCatalog) -> None:
    row = red_row(catalog, "DT-GIAI-NGAN-PHUONG", "P-BAN-CO", NOW)

    document = indicator_document(catalog, stored(row), scope=Scope("leader"), query={}, now=NOW)

    assert document["rows"][0]["key"] == row["key"] and document["rows"][0]["status"] == "red"
    assert sum(document["counts"].values()) == len(list(catalog.assignments()))
    assert document["counts"]["red"] == 1
    assert "investment" in document["groups"] and "P-BAN-CO" in document["owners"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"group": "investment", "status": "red"}, 1),
        ({"group": "economy", "status": "red"}, 0),
        ({"status": "purple"}, 0),  # an unknown value matches nothing, never everything
        ({"unit": "P-BAN-CO", "status": "red"}, 1),
        ({"unit": "P-XUAN-HOA", "status": "red"}, 0),
    ],
)
def test_filters(catalog: IndicatorCatalog, query: dict[str, str], expected: int) -> None:
    row = red_row(catalog, "DT-GIAI-NGAN-PHUONG", "P-BAN-CO", NOW)

    document = indicator_document(catalog, stored(row), scope=Scope("wall"), query=query, now=NOW)

    assert len(document["rows"]) == expected


def test_a_unit_sees_its_own_and_is_refused_another_units(catalog: IndicatorCatalog) -> None:
    row = red_row(catalog, "DT-GIAI-NGAN-PHUONG", "P-BAN-CO", NOW)
    other = red_row(catalog, "DT-GIAI-NGAN-PHUONG", "P-XUAN-HOA", NOW)
    scope = Scope("unit", "P-BAN-CO")

    own = indicator_document(catalog, stored(row, other), scope=scope, query={}, now=NOW)

    assert {r["owner"] for r in own["rows"]} == {"P-BAN-CO"} and own["owners"] == ["P-BAN-CO"]
    with pytest.raises(
        IndicatorScopeError, match="scope unit:P-BAN-CO cannot read the indicators of P-XUAN-HOA"
    ):
        indicator_document(catalog, stored(row, other), scope=scope, query={"unit": "P-XUAN-HOA"}, now=NOW)


def test_a_broken_stored_row_falls_back_to_the_catalog(catalog: IndicatorCatalog) -> None:
    row = red_row(catalog, "DT-GIAI-NGAN-PHUONG", "P-BAN-CO", NOW)

    document = indicator_document(catalog, {row["key"]: b"{"}, scope=Scope("leader"), query={}, now=NOW)

    assert document["counts"]["red"] == 0


def http_get(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, orjson.loads(error.read())


@pytest.mark.integration
async def test_the_route_checks_the_token_and_the_scope(
    catalog: IndicatorCatalog, node: WebNode, store: BoardStore
) -> None:
    await store.client.delete(INDICATORS_KEY)
    row = red_row(catalog, "DT-GIAI-NGAN-PHUONG", "P-BAN-CO", NOW)
    await store.put_indicators(stored(row))
    url = f"{node.base}/indicators.json"

    def get(path: str, scope: str | None) -> tuple[int, Any]:
        headers = {} if scope is None else {"Authorization": f"Bearer {token(scope)}"}
        return http_get(url + path, headers)

    status, body = await asyncio.to_thread(get, "?status=red", "leader")
    assert status == 200 and [r["key"] for r in body["rows"]] == [row["key"]]
    assert body["rows"][0]["note"] == HOSTILE  # data, as text; the page renders it as text
    assert (await asyncio.to_thread(get, "", None)) == (401, {"error": "no token"})
    status, body = await asyncio.to_thread(get, "?unit=P-XUAN-HOA", "unit:P-BAN-CO")
    assert status == 403 and body["error"].startswith("scope unit:P-BAN-CO cannot read")
    status, body = await asyncio.to_thread(get, "", "unit:P-BAN-CO")
    assert status == 200 and {r["owner"] for r in body["rows"]} == {"P-BAN-CO"}


@settings(max_examples=100, deadline=None)
@given(
    query=st.dictionaries(
        st.sampled_from(["unit", "group", "status", "x"]), st.text(max_size=20), max_size=4
    ),
    unit=st.sampled_from(["P-BAN-CO", "P-XUAN-HOA", "HCM"]),
)
def test_fuzzed_queries_answer_or_refuse_by_scope(
    catalog: IndicatorCatalog, query: dict[str, str], unit: str
) -> None:
    row = red_row(catalog, "DT-GIAI-NGAN-PHUONG", "P-BAN-CO", NOW)
    for scope in (Scope("leader"), Scope("unit", unit)):
        try:
            document = indicator_document(catalog, stored(row), scope=scope, query=query, now=NOW)
        except IndicatorScopeError:
            assert scope.kind == "unit" and query.get("unit") not in (None, "", unit)
        else:
            owners = {r["owner"] for r in document["rows"]}
            assert scope.kind != "unit" or owners <= {unit}


@pytest.mark.parametrize(
    ("fingerprint", "owner"),
    [
        ("indicator_explanation:SO-1022-DUNG-HAN/P-BAN-CO/2026-04", "P-BAN-CO"),
        ("indicator_explanation:DT-GIAI-NGAN/HCM/2026", "SO-TAI-CHINH"),  # the city's: its owner
        ("indicator_explanation:SO-1022-DUNG-HAN/P-BAN-CO/2026", None),  # a year, not a month
        ("indicator_explanation:NOPE/P-BAN-CO/2026-04", None),
        ("indicator_at_risk:SO-1022-DUNG-HAN/P-BAN-CO/2026-04", None),  # an alert of a rule
        ("item_overdue:PA-1", None),
    ],
)
def test_an_explanation_request_opens_for_the_indicator_owner_only_when_it_names_one(
    catalog: IndicatorCatalog, fingerprint: str, owner: str | None
) -> None:
    assert inquiry_owner(catalog, fingerprint) == owner
