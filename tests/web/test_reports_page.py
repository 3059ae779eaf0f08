"""The /reports page in headless Chromium: table, charts, formulas on hover, downloads,
the language toggle, one column at 390 px, and scope refusal."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator

import pytest
from openpyxl import load_workbook
from playwright.async_api import Browser, Page, async_playwright, expect

from runtime.board import BoardStore
from runtime.reports import ReportStore
from tests.support.reports import WARD_A, WARD_B, sample_reports
from tests.support.webtools import WebNode, beat_forever, running_node, token, unit_change, web_environ

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def node(redis_url: str) -> AsyncIterator[WebNode]:
    store = ReportStore.from_url(redis_url)
    keys = await store.client.keys("reports:*")
    if keys:
        await store.client.delete(*keys)
    await store.put(sample_reports())
    await store.mark_ready()
    async with running_node(web_environ(redis_url)) as running:
        yield running
    await store.close()


async def open_reports(
    browser: Browser, node: WebNode, scope: str, query: str = "", *, width: int = 1400
) -> Page:
    page = await browser.new_page(viewport={"width": width, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    separator = "&" if query else ""
    await page.goto(f"{node.base}/reports?{query}{separator}token={token(scope)}")
    assert "token=" not in page.url  # the token leaves the address bar
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def test_leader_sees_the_quarter_with_ranks_classification_charts_and_formulas(
    browser: Browser, node: WebNode
) -> None:
    page = await open_reports(browser, node, "leader", "period=2026-Q4")
    row = page.locator(f'#report-body tr[data-unit="{WARD_A}"]')
    await expect(row).to_contain_text("Phường Sài Gòn")
    await expect(row).to_contain_text("Hoàn thành tốt nhiệm vụ")
    await expect(page.locator("#period")).to_have_value("2026-Q4")
    await expect(page.locator("#period-info")).to_have_text(
        "Quý 4/2026: Từ 12:00 25/09/2026 đến trước 12:00 25/12/2026"
    )
    header = page.locator("#report-head th").nth(8)
    await expect(header).to_have_text("Tỉ lệ đúng hạn")
    assert (await header.get_attribute("title") or "").startswith(
        "Tỉ lệ đúng hạn (QĐ 766) = số đã giải quyết"
    )
    await expect(page.locator("#bars svg rect.bar").first).to_be_visible()
    await expect(page.locator("#trend svg circle")).to_have_count(1)  # one quarter of twelve has data
    classification = row.locator("td").nth(17)
    assert (await classification.get_attribute("title") or "").startswith("tỉ lệ đúng hạn 96.7 % ≥ 85.0 %")

    await page.locator("#lang").click()
    await expect(header).to_have_text("On-time rate")
    assert (await header.get_attribute("title") or "").startswith("On-time rate (QĐ 766) = resolved on time")
    await expect(row).to_contain_text("Good")

    async with page.expect_download() as info:
        await page.locator("#dl-xlsx").click()
    download = await info.value
    assert download.suggested_filename == "bao-cao-2026-Q4.xlsx"
    path = await download.path()
    book = load_workbook(io.BytesIO(path.read_bytes()))
    assert book["Phường"]["A5"].value == WARD_A
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_unit_sees_only_its_own_row_and_is_refused_another_unit(
    browser: Browser, node: WebNode
) -> None:
    page = await open_reports(browser, node, f"unit:{WARD_A}", "period=2026-11")
    await expect(page.locator("#report-body tr")).to_have_count(1)  # its own row only
    await expect(page.locator(f'#report-body tr[data-unit="{WARD_A}"]').first).to_be_visible()
    home = page.locator(f'#split-body tr[data-unit="{WARD_A}"][data-mode="home"]')
    await expect(home).to_contain_text("Tại nhà")
    await expect(home).to_contain_text("90,0%")
    await expect(page.locator("#staff-section")).to_be_visible()
    await expect(page.locator('#staff-body tr[data-value="cb-0042"]')).to_contain_text("100,0%")

    refused = await open_reports(browser, node, f"unit:{WARD_A}", f"period=2026-11&unit={WARD_B}")
    await expect(refused.locator("#banner")).to_be_visible()
    await expect(refused.locator("#banner")).to_contain_text(f"unit {WARD_B} is outside this token's scope")
    await expect(refused.locator("#report-body tr")).to_have_count(0)


async def test_a_malformed_period_is_explained(browser: Browser, node: WebNode) -> None:
    page = await open_reports(browser, node, "leader", "period=2026-13")
    await expect(page.locator("#banner")).to_contain_text("write a month as 2026-11")


async def test_one_column_at_390_px(browser: Browser, node: WebNode) -> None:
    page = await open_reports(browser, node, "leader", "period=2026-11", width=390)
    await expect(page.locator(f'#report-body tr[data-unit="{WARD_A}"]')).to_be_attached()
    bars = await page.locator(".report-charts figure").nth(0).bounding_box()
    trend = await page.locator(".report-charts figure").nth(1).bounding_box()
    assert bars is not None and trend is not None
    assert trend["y"] > bars["y"] + bars["height"] - 1  # stacked, not side by side
    assert bars["width"] <= 390
    overflow = await page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 390  # the table scrolls inside its own box


async def test_the_wall_rates_tell_their_formula_and_numbers_on_hover(
    browser: Browser, redis_url: str
) -> None:
    store = BoardStore.from_url(redis_url, feed_maxlen=100_000)
    await store.publish([unit_change("HCM", kind="city", received=1500, resolved=1000, late=67, overdue=2)])
    beating = asyncio.create_task(beat_forever(store, interval=0.3))
    try:
        async with running_node(web_environ(redis_url)) as node:
            page = await browser.new_page(viewport={"width": 1600, "height": 1000})
            await page.goto(f"{node.base}/?token={token('wall')}")
            await expect(page.locator("#kpi-on-time")).to_have_text("93,3%")
            on_time = await page.locator("#kpi-on-time").get_attribute("title")
            late = await page.locator("#kpi-late").get_attribute("title")
            assert on_time == (
                "Tỉ lệ đúng hạn (QĐ 766) = đúng hạn hoặc trước hạn ÷ đã giải quyết = 933 ÷ 1.000 = 93,3%"
            )
            assert late is not None and late.startswith(
                "Tỉ lệ trễ hạn (QĐ 766) = (trễ hạn còn tồn + đã giải quyết trễ hạn) "
                "÷ (tiếp nhận + tồn kỳ trước)"
                " = (2 + 67) ÷ (1.500 + 10) = "
            )
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
        await store.close()


async def test_the_wall_sees_work_modes_but_never_a_staff_id(browser: Browser, node: WebNode) -> None:
    page = await open_reports(browser, node, "wall", "period=2026-11")
    await expect(page.locator('#split-body tr[data-mode="home"]')).to_have_count(1)
    await expect(page.locator("#staff-section")).to_be_hidden()
    assert "cb-0042" not in await page.content()
