"""/item/<id> and /items/<id>.json on a real web node and Redis: scope like the queue,
assignees hidden from the wall, clear errors; the page in Chromium, reached from the unit
page by a click, and its refusal outside the scope."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
import pytest
from playwright.async_api import Browser, async_playwright, expect

from domain.items import item_summary
from runtime.board import BoardStore
from runtime.timeline import TimelineStore, TimelineWrite, timeline_key
from tests.support.timelines import ITEM, SG, history
from tests.support.webtools import (
    WebNode,
    alert_change,
    beat_forever,
    queue_change,
    running_node,
    token,
    unit_change,
    web_environ,
)
from tests.web.test_report_routes import fetch

pytestmark = pytest.mark.integration

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@pytest.fixture
async def node(redis_url: str) -> AsyncIterator[WebNode]:
    store = TimelineStore.from_url(redis_url, retention=3600.0)
    board = BoardStore.from_url(redis_url, feed_maxlen=100_000)
    item, entries = history()
    await store.client.delete(timeline_key(ITEM))
    await store.write([TimelineWrite(ITEM, entries, item_summary(item), closed=True)])
    await board.publish(
        [
            unit_change(SG),
            alert_change(
                "fp-777",
                SG,
                item_id=ITEM,
                explanations=[{"kind": "request", "by": "leader", "text": "Vì sao trễ?", "at": 1.0}],
            ),
            queue_change(ITEM, SG),
        ]
    )
    beating = asyncio.create_task(beat_forever(board, interval=0.3))
    async with running_node(web_environ(redis_url)) as running:
        yield running
    beating.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await beating
    await store.close()
    await board.close()


async def test_leader_and_the_items_unit_get_the_timeline_with_alerts(node: WebNode) -> None:
    for scope in ("leader", f"unit:{SG}"):
        status, _, body = await fetch(node, f"/items/{ITEM}.json", scope)
        assert status == 200, body
        data = orjson.loads(body)
        assert data["item"]["id"] == ITEM and data["item"]["unit"] == SG
        assert [e["kind"] for e in data["timeline"]][:2] == ["received", "transferred"]
        assert data["timeline"][1]["event"]["assignee"] == "cb-0042"
        assert [a["fingerprint"] for a in data["alerts"]] == ["fp-777"]
        assert data["alerts"][0]["explanations"][0]["text"] == "Vì sao trễ?"


async def test_the_wall_never_sees_a_staff_id(node: WebNode) -> None:
    status, _, body = await fetch(node, f"/items/{ITEM}.json", "wall")
    assert status == 200
    assert b"cb-0042" not in body


@pytest.mark.parametrize(
    ("path", "scope", "status", "message"),
    [
        (f"/items/{ITEM}.json", "unit:P-BEN-THANH", 403, f"item {ITEM} is outside this token's scope"),
        (
            "/items/PA-0000.json",
            "leader",
            404,
            "item PA-0000 is not known: never received, or closed longer ago",
        ),
        ("/items/<script>.json", "leader", 400, "an item id is letters, digits and ._:/-"),
        (f"/items/{ITEM}.json", None, 401, "send the board token as 'Authorization: Bearer <token>'"),
    ],
)
async def test_bad_item_requests_get_a_clear_error(
    node: WebNode, path: str, scope: str | None, status: int, message: str
) -> None:
    got, _, body = await fetch(node, path, scope)
    assert got == status
    assert message in orjson.loads(body)["error"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.mark.browser
async def test_a_click_on_the_unit_queue_opens_the_item_timeline(browser: Browser, node: WebNode) -> None:
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{node.base}/unit/{SG}?token={token(f'unit:{SG}')}")
    await page.locator(f'tr[data-item="{ITEM}"]').click()
    await page.wait_for_url(f"**/item/{ITEM}")
    rows = page.locator("#timeline-body tr")
    await expect(rows.first).to_contain_text("Tiếp nhận")
    await expect(page.locator('#timeline-body tr[data-kind="transferred"]')).to_contain_text("Đúng địa bàn")
    await expect(page.locator('#timeline-body tr[data-kind="overdue"]')).to_contain_text("thời gian")
    await expect(page.locator("#summary")).to_contain_text("Rác <b>")  # citizen text as text
    await expect(page.locator('[data-alert="fp-777"]')).to_contain_text("Vì sao trễ?")
    await page.locator("#lang").click()
    await expect(page.locator('#timeline-body tr[data-kind="overdue"]')).to_contain_text("Overdue")
    assert errors == []


@pytest.mark.browser
async def test_the_item_page_refuses_another_units_token(browser: Browser, node: WebNode) -> None:
    page = await browser.new_page()
    await page.goto(f"{node.base}/item/{ITEM}?token={token('unit:P-BEN-THANH')}")
    await expect(page.locator("#banner")).to_contain_text(f"item {ITEM} is outside this token's scope")
    await expect(page.locator("#timeline-body tr")).to_have_count(0)
