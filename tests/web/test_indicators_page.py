"""/indicators in headless Chromium against a real web node and Redis: order, chart, the
"why" panel, a hostile note rendered as text, one column at 390 px, scope refusal."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from alerts.config import RulesConfig
from alerts.inquiries import on_inquiry_command
from alerts.model import Alert, State, parse_command
from domain.calendar import WorkCalendar
from domain.catalog import Catalog
from domain.indicators.catalog import IndicatorCatalog
from runtime import services
from runtime.board import INDICATORS_KEY, BoardStore, Change
from tests.support.webtools import WebNode, token
from tests.web.test_indicators import HOSTILE, red_row
from tests.web.test_server import command_node, read_commands

__all__ = ["command_node"]  # a fixture of the web node with a real broker

pytestmark = [pytest.mark.integration, pytest.mark.browser]

DATA = Path(__file__).resolve().parents[2] / "domain" / "data"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def board(store: BoardStore) -> BoardStore:
    catalog = IndicatorCatalog.from_file(DATA / "indicators.toml", Catalog.from_file(DATA / "units.json"))
    now = time.time()
    await store.client.delete(INDICATORS_KEY)
    rows = [
        red_row(catalog, "DT-GIAI-NGAN-PHUONG", "P-BAN-CO", now),
        red_row(catalog, "NS-THU-PHUONG", "P-XUAN-HOA", now, note="ổn"),
    ]
    await store.put_indicators({row["key"]: orjson.dumps(row) for row in rows})
    return store


async def open_indicators(
    browser: Browser, node: WebNode, scope: str, *, query: str = "", width: int = 1400
) -> Page:
    page = await browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{node.base}/indicators{query}#token={token(scope)}")
    await expect(page.locator("#ind-list > li").first).to_be_visible(timeout=10000)
    assert errors == []
    return page


async def test_red_first_with_chart_and_a_hostile_note_rendered_as_text(
    browser: Browser, node: WebNode, board: BoardStore
) -> None:
    page = await open_indicators(browser, node, "leader")

    first = page.locator("#ind-list > li").first
    await expect(first).to_have_attribute("data-status", "red")
    assert int(await page.locator("#count-red").inner_text()) == 2
    await expect(first.locator("svg.ind-chart polyline.actual")).to_have_count(1)
    ward = page.locator("#ind-list > li[data-key^='DT-GIAI-NGAN-PHUONG|P-BAN-CO']")
    await ward.locator("button.ind-toggle").click()
    note = page.locator(".ind-note").first
    await expect(note).to_have_text(HOSTILE)
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator(".ind-why script, .ind-why img").count() == 0
    await expect(page.locator(".ind-why table")).to_contain_text("Chỉ tiêu")
    await expect(page.locator(".ind-why a[href='/leader']")).to_contain_text("Yêu cầu giải trình")

    await page.locator("#lang").click()
    await expect(page.locator(".ind-why table")).to_contain_text("Target")
    await expect(page.locator(".ind-count[data-status=red]")).to_contain_text("At risk")


async def test_filters_by_group_owner_and_colour(browser: Browser, node: WebNode, board: BoardStore) -> None:
    page = await open_indicators(browser, node, "wall")

    await page.select_option("#f-status", "red")
    await expect(page.locator("#ind-list > li")).to_have_count(2)
    await page.select_option("#f-group", "budget")
    await expect(page.locator("#ind-list > li")).to_have_count(1)
    await expect(page.locator("#ind-list > li")).to_have_attribute(
        "data-key", f"NS-THU-PHUONG|P-XUAN-HOA|{time.localtime().tm_year}"
    )
    await page.select_option("#f-group", "")
    await page.select_option("#f-owner", "P-BAN-CO")
    await expect(page.locator("#ind-list > li")).to_have_count(1)


async def test_one_column_at_390_px(browser: Browser, node: WebNode, board: BoardStore) -> None:
    page = await open_indicators(browser, node, "leader", width=390)

    width = await page.evaluate("document.documentElement.scrollWidth")
    wide = await page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)"
        ".slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)"
    )
    assert wide == []
    boxes = await page.locator("#ind-list > li").first.evaluate(
        "row => [...row.children].map(c => c.getBoundingClientRect().left)"
    )
    assert width <= 390
    assert len({round(left) for left in boxes[1:]}) == 1  # everything after the dot in one column


async def test_a_unit_sees_its_own_and_another_units_are_refused(
    browser: Browser, node: WebNode, board: BoardStore
) -> None:
    page = await open_indicators(browser, node, "unit:P-BAN-CO", query="?unit=P-XUAN-HOA")

    await expect(page.locator("#ind-message")).to_contain_text(
        "scope unit:P-BAN-CO cannot read the indicators"
    )
    owners = await page.locator("#ind-list > li").evaluate_all(
        "rows => rows.map(r => r.dataset.key.split('|')[1])"
    )
    assert set(owners) == {"P-BAN-CO"}
    assert await page.locator("#f-owner").locator("xpath=..").is_hidden()


async def test_the_unit_page_lists_its_indicators_and_the_wall_counts_them(
    browser: Browser, node: WebNode, board: BoardStore
) -> None:
    unit = await browser.new_page(viewport={"width": 1400, "height": 900})
    await unit.goto(f"{node.base}/unit/P-BAN-CO#token={token('unit:P-BAN-CO')}")
    first = unit.locator(".ind-unit-list li").first
    await expect(first).to_have_attribute("data-status", "red", timeout=10000)
    await expect(first).to_contain_text("Giải ngân vốn đầu tư công phân cấp cho phường, xã")
    await expect(first.locator(".ind-run-rate")).to_contain_text("Cần đạt")

    wall = await browser.new_page(viewport={"width": 1400, "height": 900})
    await wall.goto(f"{node.base}/#token={token('wall')}")
    counts = wall.locator(".topbar .ind-wall-counts")
    await expect(counts).to_have_attribute("href", "/indicators", timeout=10000)
    await expect(counts.locator(".ind-wall-count").first).to_have_text("2")


# -- explanations on any indicator --------------------------------------------------------------


async def lifecycle_to_board(
    store: BoardStore, broker_address: str, topic: str, alert: Alert | None, *, count: int
) -> Alert:
    """Play the alert stage: apply the newest command produced to gov.commands with the
    real lifecycle and publish the alert to the board, as the worker does."""
    units = Catalog.from_file(DATA / "units.json")
    records = await read_commands(broker_address, topic, count)
    command = parse_command(orjson.dumps(records[count - 1][1]))
    step = on_inquiry_command(
        alert,
        command,
        time.time(),
        indicators=IndicatorCatalog.from_file(DATA / "indicators.toml", units),
        silences=(),
        config=RulesConfig.from_file(Path(__file__).resolve().parents[2] / "alerts" / "data" / "rules.toml"),
        catalog=units,
        calendar=WorkCalendar.from_file(DATA / "calendar.toml"),
    )
    assert step.alert is not None
    await store.publish(
        [Change("alert", step.alert.fingerprint, step.alert.unit, orjson.dumps(step.alert.to_board(units)))]
    )
    return step.alert


async def test_a_leader_requests_an_explanation_on_a_grey_indicator_and_its_unit_answers_there(
    browser: Browser, command_node: tuple[WebNode, str], board: BoardStore, broker: services.Service
) -> None:
    node, topic = command_node
    address = f"127.0.0.1:{broker.port}"
    month = time.strftime("%Y-%m")
    key = f"SO-1022-DUNG-HAN|P-BAN-CO|{month}"
    leader = await open_indicators(browser, node, "leader")
    row = leader.locator(f"#ind-list > li[data-key='{key}']")
    await expect(row).to_have_attribute("data-status", "grey")  # no alert, not red
    await row.locator("button.ind-toggle").click()
    await row.locator(".ind-explain-text").fill(HOSTILE)
    await row.locator(".ind-explain-send").click()
    await expect(row.locator(".command-result")).to_have_text("Đã gửi", timeout=15000)

    alert = await lifecycle_to_board(board, address, topic, None, count=1)
    assert (alert.unit, alert.state) == ("P-BAN-CO", State.FIRING)
    await expect(row.locator(".thread li.thread-request .thread-text")).to_have_text(HOSTILE)
    assert await leader.evaluate("window.__pwned") is None

    # The owner is told on its unit page, among the requests it has to answer.
    unit_page = await browser.new_page(viewport={"width": 1400, "height": 900})
    await unit_page.goto(f"{node.base}/unit/P-BAN-CO#token={token('unit:P-BAN-CO')}")
    card = unit_page.locator(f"#requests article[data-fingerprint='{alert.fingerprint}']")
    await expect(card.locator(".card-title")).to_contain_text("Yêu cầu giải trình chỉ số", timeout=10000)
    await expect(card.locator(".thread-text")).to_have_text(HOSTILE)
    await expect(card.locator("button.explain")).to_have_text("Gửi giải trình")

    # The owner sees the request in the same panel and answers; another ward sees no form.
    owner = await open_indicators(browser, node, "unit:P-BAN-CO")
    mine = owner.locator(f"#ind-list > li[data-key='{key}']")
    await mine.locator("button.ind-toggle").click()
    await expect(mine.locator(".ind-explain-send")).to_have_text("Gửi giải trình")
    await mine.locator(".ind-explain-text").fill("Thiếu nhân sự trong tháng")
    await mine.locator(".ind-explain-send").click()
    await expect(mine.locator(".command-result")).to_have_text("Đã gửi", timeout=15000)
    other = await open_indicators(browser, node, "unit:P-TAN-DINH")
    assert await other.locator(".ind-explain-send").count() == 0

    answered = await lifecycle_to_board(board, address, topic, alert, count=2)
    assert answered.state is State.RESOLVED
    await expect(row.locator(".thread li.thread-answer .thread-text")).to_have_text(
        "Thiếu nhân sự trong tháng"
    )
    await expect(mine.locator(".ind-explain-send")).to_have_count(0)  # nothing left to answer
