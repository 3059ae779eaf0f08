"""The board pages in headless Chromium against a real web node and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from runtime import services
from runtime.board import BoardStore
from tests.support.webtools import (
    UNIT_A,
    WebNode,
    alert_change,
    beat_forever,
    queue_change,
    realistic_board,
    running_node,
    token,
    unit_change,
    web_environ,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def live(node: WebNode, store: BoardStore) -> AsyncIterator[WebNode]:
    """The node, with a worker beating so the board is not stale."""
    beating = asyncio.create_task(beat_forever(store, interval=0.3))
    yield node
    beating.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await beating


async def open_page(browser: Browser, node: WebNode, path: str, scope: str, *, width: int = 1600) -> Page:
    page = await browser.new_page(viewport={"width": width, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{node.base}{path}?token={token(scope)}")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=5000)
    assert errors == []
    return page


async def test_wall_shows_a_new_critical_alert_within_two_seconds(
    browser: Browser, live: WebNode, store: BoardStore
) -> None:
    await store.publish([unit_change(UNIT_A), unit_change("HCM", kind="city", received=1234)])
    page = await open_page(browser, live, "/", "wall")
    await expect(page.locator("#kpi-received")).to_have_text("1.234")

    await store.publish(
        [
            alert_change(
                "fp-1",
                UNIT_A,
                title_vi="Hồ sơ khẩn quá hạn 3 ngày",
                at=time.time(),
                unit_name_vi="Phường Sài Gòn",
            )
        ]
    )

    await expect(page.locator("#ticker")).to_contain_text("Hồ sơ khẩn quá hạn 3 ngày", timeout=2000)
    await expect(page.locator("#banner")).to_be_visible(timeout=2000)
    await expect(page.locator("#banner")).to_contain_text("CẢNH BÁO NGHIÊM TRỌNG")
    await expect(page.locator("#banner")).to_contain_text("Phường Sài Gòn")
    await expect(page.locator("#critical-count")).to_have_text("1")


async def test_leader_page_orders_critical_first_and_flashes_new_ones(
    browser: Browser, live: WebNode, store: BoardStore
) -> None:
    await store.publish([alert_change("fp-info", UNIT_A, severity="info", title_vi="Thông tin nhỏ")])
    page = await open_page(browser, live, "/leader", "leader")
    await expect(page.locator("#alerts-others")).to_contain_text("Thông tin nhỏ")
    await expect(page.locator("#sound")).to_have_text("Bật âm thanh")

    await store.publish(
        [
            alert_change(
                "fp-crit",
                UNIT_A,
                title_vi="Quá hạn nghiêm trọng",
                at=time.time(),
                explanations=[{"kind": "request", "by": "leader:a", "text": "Vì sao?", "at": time.time()}],
            )
        ]
    )

    card = page.locator('#alerts-priority [data-fingerprint="fp-crit"]')
    await expect(card).to_contain_text("Quá hạn nghiêm trọng", timeout=2000)
    await expect(card.locator("button.ack")).to_have_text("Xác nhận đã nắm")
    await expect(card).to_contain_text("Vì sao?")
    await expect(page.locator("#banner")).to_contain_text("Quá hạn nghiêm trọng")
    await page.locator("#sound").click()
    await expect(page.locator("#sound")).to_have_text("Âm thanh: bật")
    # No broker in this test: the command is refused, not lost silently.
    await card.locator("button.ack").click()
    await expect(card.locator(".card-actions .command-result")).to_contain_text(
        "không nhận lệnh", timeout=15000
    )


async def test_unit_page_renders_hostile_text_as_text(
    browser: Browser, live: WebNode, store: BoardStore
) -> None:
    due = time.time() + 3600
    await store.publish([unit_change(UNIT_A, name_vi="Phường Sài Gòn")])
    page = await open_page(browser, live, f"/unit/{UNIT_A}", f"unit:{UNIT_A}")

    await store.publish([queue_change("PA-1", UNIT_A, title=HOSTILE, due=due)])

    row = page.locator('tr[data-item="PA-1"]')
    await expect(row).to_be_visible(timeout=2000)
    assert HOSTILE in (await row.locator(".c-title").text_content() or "")
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator("img").count() == 0
    assert await page.locator("tbody script").count() == 0
    await expect(page.locator("#unit-name")).to_have_text("Phường Sài Gòn")


async def test_unit_page_names_categories_from_the_packaged_data_in_both_languages(
    browser: Browser, live: WebNode, store: BoardStore
) -> None:
    due = time.time() + 86400
    codes = {"PA-power": "dien-nuoc", "PA-health": "y-te", "PA-odd": "khong-co-trong-sla"}
    await store.publish([queue_change(item, UNIT_A, due=due, category=code) for item, code in codes.items()])
    page = await open_page(browser, live, f"/unit/{UNIT_A}", f"unit:{UNIT_A}")

    def category(item: str) -> Locator:
        return page.locator(f'tr[data-item="{item}"] .c-category')

    expected = {
        # A category the SLA file does not list counts under its default, and is named so.
        "vi": {"PA-power": "Điện, nước", "PA-health": "Y tế", "PA-odd": "Khác"},
        "en": {"PA-power": "Power and water", "PA-health": "Health", "PA-odd": "Other"},
    }
    for lang in ("vi", "en"):
        if lang == "en":
            await page.locator("#lang").click()
        for item in codes:
            await expect(category(item)).to_have_text(expected[lang][item])
        shown = await page.locator("#queue").text_content() or ""
        assert not any(code in shown for code in codes.values()), (lang, shown)


async def test_unit_page_counts_down_on_the_board_clock_and_marks_overdue(
    browser: Browser, live: WebNode, store: BoardStore
) -> None:
    now = time.time()
    await store.publish(
        [
            queue_change("PA-late", UNIT_A, due=now - 7200),
            queue_change("PA-soon", UNIT_A, due=now + 3 * 3600, due_soon=True),
            queue_change("PA-later", UNIT_A, due=now + 3 * 86400),
        ]
    )
    page = await open_page(browser, live, f"/unit/{UNIT_A}", f"unit:{UNIT_A}")

    rows = page.locator("#queue tr")
    await expect(rows).to_have_count(3)
    assert [await rows.nth(i).get_attribute("data-item") for i in range(3)] == [
        "PA-late",
        "PA-soon",
        "PA-later",
    ]
    await expect(rows.nth(0)).to_have_class("item item-overdue")
    await expect(rows.nth(1)).to_have_class("item item-due_soon")
    await expect(rows.nth(2)).to_have_class("item item-open")
    await expect(rows.nth(0).locator(".c-left")).to_contain_text("−02:0")
    await expect(rows.nth(2).locator(".c-left")).to_contain_text("2 ngày 23:5")


async def test_unit_countdown_follows_an_accelerated_clock(browser: Browser, redis_url: str) -> None:
    """At 600 clock seconds per second, an item due in 30 clock minutes turns overdue in ~3 s."""
    start = time.time()
    environ = web_environ(
        redis_url,
        GOVPULSE_CLOCK="accelerated",
        GOVPULSE_CLOCK_SPEED="600",
        GOVPULSE_CLOCK_ORIGIN=str(start),
    )
    store = BoardStore.from_url(redis_url)
    beating = asyncio.create_task(beat_forever(store, interval=0.3))
    try:
        async with running_node(environ) as node:
            await store.publish([queue_change("PA-1", UNIT_A, due=start + 1800)])
            page = await open_page(browser, node, f"/unit/{UNIT_A}", "leader")
            row = page.locator('tr[data-item="PA-1"]')
            await expect(row).to_have_class("item item-open")

            await expect(row).to_have_class("item item-overdue", timeout=6000)
            assert time.time() - start < 8
            await expect(row.locator(".c-left")).to_contain_text("−")
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
        await store.close()


async def test_english_toggle_changes_labels_and_is_remembered(
    browser: Browser, live: WebNode, store: BoardStore
) -> None:
    page = await open_page(browser, live, "/", "wall")
    await expect(page.locator("[data-i18n='kpi.overdue']")).to_have_text("Quá hạn hiện tại")
    assert await page.evaluate("document.documentElement.lang") == "vi"

    await page.locator("#lang").click()

    await expect(page.locator("[data-i18n='kpi.overdue']")).to_have_text("Overdue now")
    await expect(page.locator("#conn")).to_have_text("Live")
    await expect(page.locator("#lang")).to_have_text("Tiếng Việt")
    await page.reload()
    await expect(page.locator("[data-i18n='kpi.overdue']")).to_have_text("Overdue now")
    assert await page.evaluate("document.documentElement.lang") == "en"


async def test_token_leaves_the_url_bar_and_survives_a_reload(
    browser: Browser, live: WebNode, store: BoardStore
) -> None:
    page = await browser.new_page()
    await page.goto(f"{live.base}/leader#token={token('leader')}")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")

    assert page.url == f"{live.base}/leader"
    await page.reload()
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live")


async def test_a_bad_token_says_so_and_does_not_retry(browser: Browser, live: WebNode) -> None:
    page = await browser.new_page()
    await page.goto(f"{live.base}/?token=not-a-token")

    await expect(page.locator("#conn")).to_have_attribute("data-state", "unauthorized")
    await expect(page.locator("#conn")).to_have_text("Mã truy cập không hợp lệ hoặc đã hết hạn")
    # Not a "stale" marker: the page says what to do instead.
    await expect(page.locator("#token-notice")).to_be_visible()
    await expect(page.locator("#token-notice")).to_contain_text("govpulse token --scope wall --ttl 30d")
    await expect(page.locator("#stale")).to_be_hidden()


async def test_stale_marker_appears_when_redis_goes_away(browser: Browser, tmp_path: Path) -> None:
    redis_service = services.start_redis(services.free_port(), log_dir=tmp_path)
    url = f"redis://127.0.0.1:{redis_service.port}/0"
    store = BoardStore.from_url(url)
    beating = asyncio.create_task(beat_forever(store, interval=0.3))
    try:
        async with running_node(web_environ(url)) as node:
            page = await open_page(browser, node, "/", "wall")
            await expect(page.locator("#stale")).to_be_hidden(timeout=3000)

            beating.cancel()
            redis_service.kill()

            await expect(page.locator("#stale")).to_be_visible(timeout=5000)
            await expect(page.locator("#stale")).to_have_text("DỮ LIỆU CŨ")
            assert await page.evaluate("document.body.classList.contains('is-stale')")
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await beating
        await store.close()
        redis_service.stop()


async def test_screenshots_of_the_three_pages(browser: Browser, live: WebNode, store: BoardStore) -> None:
    """Realistic data on every page at 1920×1080; saved under docs/screenshots/."""
    units = json.loads(live.settings.units_file.read_text())["units"]
    now = time.time()
    await store.publish(realistic_board(units, now=now, queue_unit=UNIT_A))
    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)

    wall = await open_page(browser, live, "/", "wall", width=1920)
    await wall.set_viewport_size({"width": 1920, "height": 1080})
    await expect(wall.locator("#stale")).to_be_hidden(timeout=5000)
    await store.publish(
        [
            alert_change(
                "fp-live",
                "P-BEN-THANH",
                title_vi="Hồ sơ khẩn quá hạn 3 ngày chưa xử lý",
                at=time.time(),
                unit_name_vi="Phường Bến Thành",
            )
        ]
    )
    await expect(wall.locator("#banner")).to_be_visible()
    newest = wall.locator("#ticker li").first
    await expect(newest).to_contain_text("Hồ sơ khẩn quá hạn 3 ngày chưa xử lý")
    # Tiles at a readable size, worst first, in pages: the pager counts every unit.
    await expect(wall.locator("#tiles-page")).to_contain_text(f"{len(units) - 1} đơn vị")
    fits = await wall.evaluate(
        "document.documentElement.scrollHeight <= innerHeight"
        " && document.documentElement.scrollWidth <= innerWidth"
    )
    last_tile = await wall.locator(".tile").last.bounding_box()
    assert fits and last_tile is not None and last_tile["y"] + last_tile["height"] <= 1080
    await wall.screenshot(path=str(out / "wall.png"))

    leader = await open_page(browser, live, "/leader", "leader", width=1920)
    await leader.set_viewport_size({"width": 1920, "height": 1080})
    await expect(leader.locator("#stale")).to_be_hidden(timeout=5000)
    await expect(leader.locator("#alerts-priority .card").first).to_be_visible()
    await leader.screenshot(path=str(out / "leader.png"))

    unit = await open_page(browser, live, f"/unit/{UNIT_A}", f"unit:{UNIT_A}", width=1920)
    await unit.set_viewport_size({"width": 1920, "height": 1080})
    await expect(unit.locator("#stale")).to_be_hidden(timeout=5000)
    await expect(unit.locator("#queue tr")).to_have_count(15)
    await unit.screenshot(path=str(out / "unit.png"))

    phone = await open_page(browser, live, "/leader", "leader", width=390)
    await phone.set_viewport_size({"width": 390, "height": 844})
    await expect(phone.locator("#alerts-priority .card").first).to_be_visible()
    await phone.screenshot(path=str(out / "leader-phone.png"))

    for name in ("wall", "leader", "unit", "leader-phone"):
        assert (out / f"{name}.png").stat().st_size > 20_000


async def test_page_reconnects_by_itself_and_resumes_without_loss(
    browser: Browser, redis_url: str, store: BoardStore
) -> None:
    environ = web_environ(redis_url)
    beating = asyncio.create_task(beat_forever(store, interval=0.3))
    try:
        async with running_node(environ) as node:
            page = await open_page(browser, node, "/", "wall")
            await store.publish([alert_change("fp-before", UNIT_A, title_vi="Trước khi mất kết nối")])
            await expect(page.locator("#ticker")).to_contain_text("Trước khi mất kết nối")

        await expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting")
        await store.publish(
            [alert_change("fp-away", UNIT_A, title_vi="Phát sinh khi mất kết nối", at=time.time())]
        )

        async with running_node(environ) as node:
            await expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10000)
            await expect(page.locator("#ticker")).to_contain_text("Phát sinh khi mất kết nối")
            await expect(page.locator("#banner")).to_contain_text("Phát sinh khi mất kết nối")
            await expect(page.locator("#ticker")).to_contain_text("Trước khi mất kết nối")
            text = await (await page.request.get(f"{node.base}/metrics")).text()
            assert "govpulse_web_replayed_deltas_total 1.0" in text
            assert "govpulse_web_snapshots_total{" not in text  # resumed, not re-snapshotted
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
