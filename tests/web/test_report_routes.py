"""The /reports routes of a real web node on a real Redis (and broker, for the rebuild)."""

from __future__ import annotations

import asyncio
import io
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from openpyxl import load_workbook

from runtime import services
from runtime.reports import MONTHS_KEY, READY_KEY, ReportStore
from runtime.settings import load_settings
from runtime.topics import Topics, create_topics
from tests.support.reports import CITY, WARD_A, WARD_B, sample_reports
from tests.support.webtools import WebNode, running_node, token, web_environ

pytestmark = pytest.mark.integration


def get(
    node: WebNode, path: str, scope: str | None = None, *, raw: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    headers = {}
    if scope is not None or raw is not None:
        headers["Authorization"] = raw if raw is not None else f"Bearer {token(scope or '')}"
    request = urllib.request.Request(f"{node.base}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


async def fetch(
    node: WebNode, path: str, scope: str | None = None, **kw: Any
) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(get, node, path, scope, **kw)


async def clear(store: ReportStore) -> None:
    keys = await store.client.keys("reports:*")
    if keys:
        await store.client.delete(*keys)


@pytest.fixture
async def reports(redis_url: str) -> AsyncIterator[ReportStore]:
    store = ReportStore.from_url(redis_url)
    await clear(store)
    await store.put(sample_reports())
    await store.mark_ready()
    yield store
    await clear(store)
    await store.close()


@pytest.fixture
async def node(redis_url: str, reports: ReportStore) -> AsyncIterator[WebNode]:
    async with running_node(web_environ(redis_url)) as running:
        yield running


async def test_leader_gets_every_unit_and_the_latest_month_by_default(node: WebNode) -> None:
    status, headers, body = await fetch(node, "/reports/data.json", "leader")
    assert status == 200 and headers["Content-Type"] == "application/json"
    doc = orjson.loads(body)
    assert doc["period"] == "2026-12" and doc["available"] == ["2026-10", "2026-11", "2026-12"]
    assert {row["unit"] for row in doc["rows"]} >= {CITY, WARD_A, WARD_B}


async def test_a_unit_token_gets_its_own_rows_only(node: WebNode) -> None:
    status, _, body = await fetch(node, "/reports/data.json?period=2026-Q4", f"unit:{WARD_A}")
    assert status == 200
    assert [row["unit"] for row in orjson.loads(body)["rows"]] == [WARD_A]


@pytest.mark.parametrize(
    ("path", "scope", "status", "message"),
    [
        ("/reports/data.json?period=2026-13", "leader", 400, "period '2026-13' is not a report period"),
        ("/reports/export.xlsx?period=Q4", "leader", 400, "write a month as 2026-11, a quarter as 2026-Q4"),
        (
            "/reports/data.json?period=2025-05",
            "leader",
            404,
            "no reports for period 2025-05; the latest closed",
        ),
        ("/reports/data.json?unit=NOPE", "leader", 404, "unit 'NOPE' is not in the unit catalog"),
        (
            f"/reports/export.csv?unit={WARD_B}",
            f"unit:{WARD_A}",
            403,
            f"unit {WARD_B} is outside this token's scope",
        ),
        ("/reports/data.json", None, 401, "send the board token as 'Authorization: Bearer <token>'"),
        ("/reports/nothing", "leader", 404, "no route '/reports/nothing'"),
    ],
)
async def test_bad_requests_are_answered_with_a_clear_json_error(
    node: WebNode, path: str, scope: str | None, status: int, message: str
) -> None:
    got, headers, body = await fetch(node, path, scope)
    assert got == status
    assert headers["Content-Type"] == "application/json"
    assert message in orjson.loads(body)["error"]


async def test_a_forged_token_is_refused(node: WebNode) -> None:
    status, _, body = await fetch(node, "/reports/data.json", raw="Bearer not.a.token")
    assert status == 401 and orjson.loads(body)["error"].startswith("token refused: ")


async def test_xlsx_and_csv_downloads(node: WebNode) -> None:
    status, headers, body = await fetch(node, "/reports/export.xlsx?period=2026-Q4", "leader")
    assert status == 200
    assert headers["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert headers["Content-Disposition"] == 'attachment; filename="bao-cao-2026-Q4.xlsx"'
    book = load_workbook(io.BytesIO(body))
    assert book["Phường"]["A5"].value == WARD_A
    status, headers, body = await fetch(
        node, f"/reports/export.csv?period=2026-11&unit={WARD_A}", f"unit:{WARD_A}"
    )
    assert status == 200 and body.startswith(b"\xef\xbb\xbf")
    assert headers["Content-Disposition"] == f'attachment; filename="bao-cao-2026-11-{WARD_A}.csv"'
    assert body.decode("utf-8-sig").count("\r\n") == 2


async def test_reports_lost_by_redis_are_rebuilt_from_the_topic(
    broker: services.Service, redis_url: str, reports: ReportStore
) -> None:
    environ = web_environ(
        redis_url, GOVPULSE_BROKER_URL=f"127.0.0.1:{broker.port}", GOVPULSE_TOPIC_PREFIX="rr16."
    )
    settings = load_settings(environ)
    await create_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.broker_bootstrap)
    await producer.start()
    try:
        for report in sample_reports():
            await producer.send_and_wait(
                Topics.for_settings(settings).reports, orjson.dumps(report.to_json()), key=report.key.encode()
            )
    finally:
        await producer.stop()
    await clear(reports)  # Redis lost them
    assert not await reports.client.exists(READY_KEY, MONTHS_KEY)
    async with running_node(environ) as running:
        status, _, body = await fetch(running, "/reports/data.json?period=2026-11", "leader")
    assert status == 200, body
    rows = {row["unit"]: row for row in orjson.loads(body)["rows"]}
    assert rows[WARD_A]["revision"] == 2 and rows[WARD_A]["figures"]["received"] == 80
    assert await reports.ready()
