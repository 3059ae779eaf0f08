"""The board pages as their people use them, in headless Chromium against a real web node and
Redis: layouts at the real screen sizes (nothing overflowing, clipped or off-screen), unit
health on the tiles, clicks and keys that open a unit, staleness, kiosk tokens, scopes,
focus, answers arriving, names and dates, and axe-core on every page.

axe-core comes packaged in ``axe-playwright-python`` (pinned in pyproject.toml; it bundles
axe-core 4.12); the check fails on any ``serious`` or ``critical`` violation.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright, expect

from runtime import services
from runtime.board import BoardStore
from runtime.revocations import Revocations
from tests.support.webtools import (
    SECRET,
    UNIT_A,
    WebNode,
    alert_change,
    beat_forever,
    open_client,
    realistic_board,
    recv_until,
    running_node,
    token,
    unit_change,
    web_environ,
)
from web.auth import verify_token

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]
HEALTH_CASES = json.loads((ROOT / "tests" / "alerts" / "health_cases.json").read_text(encoding="utf-8"))
LAYOUT_PROBLEMS = (ROOT / "tests" / "web" / "js" / "layout_problems.js").read_text(encoding="utf-8")
TILE_FACTS = (ROOT / "tests" / "web" / "js" / "tile_facts.js").read_text(encoding="utf-8")
SCREENS = {"phone": (390, 844), "laptop": (1366, 768), "hd": (1920, 1080), "4k": (3840, 2160)}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def live(node: WebNode, redis_url: str) -> AsyncIterator[WebNode]:
    """The node, with a worker beating (on its own connection) so the board is not stale."""
    beats = BoardStore.from_url(redis_url)
    stop = asyncio.Event()
    beating = asyncio.create_task(beat_forever(beats, interval=0.3, stop=stop))
    yield node
    # Stopped, not cancelled: a beat cancelled mid-command leaves its socket unclosed.
    stop.set()
    await asyncio.wait([beating], timeout=5)
    beating.cancel()
    await beats.close()


@pytest.fixture
async def city(live: WebNode, store: BoardStore) -> WebNode:
    """Every catalog unit with figures, alerts (one waiting for an answer) and a queue."""
    units = json.loads(live.settings.units_file.read_text())["units"]
    await store.publish(realistic_board(units, now=time.time(), queue_unit=UNIT_A))
    await store.publish(
        [
            alert_change(
                "fp-wait",
                UNIT_A,
                severity="warning",
                title_vi="Tồn đọng vượt ngưỡng",
                unit_name_vi="Phường Sài Gòn",
                explanations=[
                    {"kind": "request", "by": "Trần Thị B", "text": "Vì sao tồn đọng?", "at": time.time()}
                ],
            )
        ]
    )
    return live


async def open_page(
    browser: Browser,
    node: WebNode,
    path: str,
    scope: str,
    *,
    size: tuple[int, int] = (1600, 1000),
    subject: str = "tester",
) -> Page:
    page = await browser.new_page(viewport={"width": size[0], "height": size[1]})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{node.base}{path}#token={token(scope, subject=subject)}")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=5000)
    await expect(page.locator("#stale")).to_be_hidden(timeout=5000)
    assert errors == []
    return page


async def serious_violations(page: Page) -> list[str]:
    results = await Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:4]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


# -- layouts -------------------------------------------------------------------------------


@pytest.mark.parametrize("screen", ["laptop", "hd", "4k"])
async def test_wall_fills_each_screen_with_readable_unclipped_tiles(
    browser: Browser, city: WebNode, screen: str, tmp_path: Path
) -> None:
    width, height = SCREENS[screen]
    page = await open_page(browser, city, "/", "wall", size=(width, height))
    await expect(page.locator(".tile").first).to_be_visible()
    await page.wait_for_timeout(300)

    await page.screenshot(path=str(tmp_path / f"wall-{screen}.png"))
    assert await page.evaluate("document.documentElement.scrollHeight <= innerHeight")
    pager = await page.locator("#tiles-page").text_content() or ""
    assert pager.endswith("188 đơn vị")  # every unit is on some page of the grid
    pages = int(pager.split("/")[1].split()[0]) if "/" in pager else 1
    assert pages <= 4  # worst units first: page 1 always holds the units that need action
    seen: set[str] = set()
    for _ in range(pages):
        assert await page.evaluate(LAYOUT_PROBLEMS) == []
        tiles = await page.evaluate(TILE_FACTS)
        bad = [t for t in tiles if not (t["inside"] and t["apart"] and t["onScreen"] and t["unclipped"])]
        assert bad == []
        assert min(t["font"] for t in tiles) >= {"laptop": 17, "hd": 24, "4k": 48}[screen]
        seen.update(t["code"] for t in tiles)
        await page.evaluate("document.dispatchEvent(new Event('govpulse:next-page'))")
        await page.wait_for_timeout(100)
    assert len(seen) == 188


@pytest.mark.parametrize(("path", "scope"), [("/leader", "leader"), (f"/unit/{UNIT_A}", f"unit:{UNIT_A}")])
@pytest.mark.parametrize("screen", ["phone", "laptop", "hd"])
async def test_leader_and_unit_pages_fit_the_screen(
    browser: Browser, city: WebNode, path: str, scope: str, screen: str, tmp_path: Path
) -> None:
    page = await open_page(browser, city, path, scope, size=SCREENS[screen])
    await expect(page.locator(".card").first).to_be_visible()
    await page.wait_for_timeout(300)

    await page.screenshot(
        path=str(tmp_path / f"{path.strip('/').replace('/', '-')}-{screen}.png"), full_page=True
    )
    assert await page.evaluate(LAYOUT_PROBLEMS) == []
    if screen == "phone":
        # One column: every card starts at the same x.
        lefts = await page.evaluate(
            "[...document.querySelectorAll('.card')].map((c) => Math.round(c.getBoundingClientRect().left))"
        )
        assert len(set(lefts)) == 1
        await expect(page.locator("#lang")).to_be_in_viewport()
        await page.locator("#lang").click()
        await expect(page.locator("#lang")).to_have_text("Tiếng Việt")


# -- accessibility -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "scope"), [("/", "wall"), ("/leader", "leader"), (f"/unit/{UNIT_A}", f"unit:{UNIT_A}")]
)
async def test_axe_finds_no_serious_violation(browser: Browser, city: WebNode, path: str, scope: str) -> None:
    page = await open_page(browser, city, path, scope)
    await expect(page.locator(".tile, .card").first).to_be_visible()

    assert await serious_violations(page) == []
    if path == "/":
        await page.locator(".tile").first.click()
        await expect(page.locator("#unit-panel")).to_be_visible()
        assert await serious_violations(page) == []


async def test_axe_on_a_page_without_a_token(browser: Browser, live: WebNode) -> None:
    page = await browser.new_page()
    await page.goto(f"{live.base}/leader")
    await expect(page.locator("#token-notice")).to_be_visible()

    assert await serious_violations(page) == []


async def test_every_input_has_a_label(browser: Browser, city: WebNode) -> None:
    for path, scope in (("/leader", "leader"), (f"/unit/{UNIT_A}", f"unit:{UNIT_A}")):
        page = await open_page(browser, city, path, scope)
        await expect(page.locator(".card").first).to_be_visible()
        unlabelled = await page.evaluate(
            "[...document.querySelectorAll('input, select, textarea')]"
            ".filter((e) => !e.labels?.length && !e.getAttribute('aria-label')).map((e) => e.outerHTML)"
        )
        assert unlabelled == []


# -- unit health ------------------------------------------------------------------------------


async def test_health_js_follows_the_shared_table(browser: Browser, live: WebNode) -> None:
    page = await open_page(browser, live, "/", "wall")

    results = await page.evaluate(
        """async (cases) => {
             const { unitHealth } = await import("/static/health.js");
             return cases.map((c) => ({ name: c.name, got: unitHealth(c.unit, c.alerts) }));
           }""",
        HEALTH_CASES["cases"],
    )

    for case, result in zip(HEALTH_CASES["cases"], results, strict=True):
        assert result["got"] == {"status": case["status"], "reasons": case["reasons"]}, case["name"]


async def test_a_green_unit_with_an_escalated_alert_is_a_red_tile_that_says_why(
    browser: Browser, live: WebNode, store: BoardStore
) -> None:
    await store.publish(
        [
            unit_change(
                "SO-XAY-DUNG",
                name_vi="Sở Xây dựng",
                kind="department",
                colour="green",
                received=400,
                resolved=300,
                open_=447,
            ),
            unit_change(UNIT_A, colour="red", received=1, resolved=1, late=1),
            alert_change("fp-esc", "SO-XAY-DUNG", severity="critical", escalation=2),
        ]
    )
    page = await open_page(browser, live, "/", "wall", size=SCREENS["hd"])

    tile = page.locator('.tile[data-code="SO-XAY-DUNG"]')
    await expect(tile).to_have_attribute("data-health", "act")
    assert "Cần xử lý — 1 cảnh báo đã leo thang" in (await tile.get_attribute("title") or "")
    assert "đã giải quyết ≥ 10 hồ sơ" in (await tile.get_attribute("title") or "")
    # One late item out of one: watch, not act.
    await expect(page.locator(f'.tile[data-code="{UNIT_A}"]')).to_have_attribute("data-health", "watch")
    # Never by colour alone: each status has its own icon before the name.
    icons = await page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.tile')].map((t) =>
             [t.dataset.health, getComputedStyle(t.querySelector('.tile-name'), '::before').content]))"""
    )
    assert len(set(icons.values())) == len(icons) and all(
        v not in ("none", "normal", '""') for v in icons.values()
    )

    # ... and fills that differ in lightness, so a red-green colour-blind viewer still tells
    # "act" from "watch" from "ok" (WCAG relative luminance, contrast ratio between fills).
    luminance = await page.evaluate(
        """() => Object.fromEntries(["act", "watch", "ok"].map((status) => {
             const probe = document.createElement("span");
             probe.className = `health-chip health-${status}`;
             document.body.append(probe);
             const [r, g, b] = getComputedStyle(probe).backgroundColor.match(/\\d+/g).map(Number).map((v) => {
               const c = v / 255;
               return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
             });
             probe.remove();
             return [status, 0.2126 * r + 0.7152 * g + 0.0722 * b];
           }))"""
    )
    for a, b in (("act", "watch"), ("act", "ok"), ("watch", "ok")):
        light, dark = max(luminance[a], luminance[b]), min(luminance[a], luminance[b])
        assert (light + 0.05) / (dark + 0.05) >= 1.5, (a, b, luminance)
    await page.locator("#lang").click()
    await expect(page.locator("#legend")).to_contain_text("Act now")
    await expect(page.locator("#legend")).to_contain_text("Steady")

    await store.publish(
        [alert_change("fp-esc", "SO-XAY-DUNG", severity="critical", escalation=2, state="resolved")]
    )
    await expect(tile).to_have_attribute("data-health", "ok")


# -- clicks and keys ------------------------------------------------------------------------


async def test_tiles_rows_and_alerts_open_the_unit_panel_by_mouse_and_keyboard(
    browser: Browser, city: WebNode, store: BoardStore
) -> None:
    page = await open_page(browser, city, "/", "wall", size=SCREENS["hd"])
    panel = page.locator("#unit-panel")

    tile = page.locator(".tile").first
    code = await tile.get_attribute("data-code")
    await tile.click()
    await expect(panel).to_be_visible()
    await expect(panel.locator("a.btn")).to_have_attribute("href", f"/unit/{code}")
    await page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    assert await page.evaluate("document.activeElement.dataset.code") == code

    await tile.focus()
    await page.keyboard.press("Tab")
    second = await page.evaluate("document.activeElement.dataset.code")
    await page.keyboard.press("Enter")
    await expect(panel).to_be_visible()
    await expect(panel.locator("h2")).not_to_be_empty()
    assert await page.evaluate("document.activeElement.className") == "btn panel-close"
    await page.keyboard.press("Shift+Tab")
    # Live figures re-render the panel: focus stays on the same control.
    await store.publish([unit_change(str(second), received=999)])
    await expect(panel).to_contain_text("999")
    assert await page.evaluate("document.activeElement.tagName") == "A"
    await page.keyboard.press("Escape")

    row = page.locator("#worst-overdue .worst-item button").first
    await row.focus()
    await page.keyboard.press(" ")
    await expect(panel).to_be_visible()
    await page.keyboard.press("Escape")

    ticker = page.locator("#ticker .ticker-item[data-fingerprint='fp-wait']")
    await ticker.click()
    await expect(panel.locator("h2")).to_have_text("Phường Sài Gòn")
    # The panel's own connection shows the unit's queue.
    await expect(panel.locator(".panel-queue li").first).to_be_visible(timeout=5000)
    assert second


# -- stale and disconnected ------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_stale_data_shows_a_steady_banner_with_since_when_and_the_pill_changes(
    browser: Browser, tmp_path: Path
) -> None:
    redis_service = services.start_redis(services.free_port(), log_dir=tmp_path)
    url = f"redis://127.0.0.1:{redis_service.port}/0"
    store = BoardStore.from_url(url)
    beating = asyncio.create_task(beat_forever(store, interval=0.3))
    try:
        async with running_node(web_environ(url)) as node:
            page = await open_page(browser, node, "/", "wall")
            await expect(page.locator("#stale-banner")).to_be_hidden()
            await expect(page.locator("#conn")).to_have_text("Trực tuyến")

            beating.cancel()
            redis_service.kill()

            banner = page.locator("#stale-banner")
            await expect(banner).to_be_visible(timeout=6000)
            await expect(banner).to_contain_text("Không nhận được dữ liệu mới từ")
            await expect(banner).to_contain_text("trước")
            await expect(page.locator("#conn")).not_to_have_text("Trực tuyến")
            animations = await page.evaluate(
                "[...document.querySelectorAll('#stale-banner, #stale, #conn, .banner')]"
                ".map((e) => getComputedStyle(e).animationName)"
            )
            assert set(animations) == {"none"}
    finally:
        beating.cancel()
        await asyncio.wait([beating], timeout=2)
        await store.close()
        redis_service.stop()
        gc.collect()  # sockets to the killed Redis are reported here, not in the next test


# -- kiosk tokens ------------------------------------------------------------------------------


async def test_a_wall_token_survives_a_browser_restart_and_revoking_it_cuts_the_open_wall(
    live: WebNode, store: BoardStore, tmp_path: Path
) -> None:
    wall = token("wall", subject="Màn hình phòng điều hành", ttl=30 * 86400)
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        page = context.pages[0] if context.pages else await context.new_page()
        await page.goto(f"{live.base}/#token={wall}")
        await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        await expect(page.locator("#who")).to_have_text("Màn hình phòng điều hành · Màn hình tường")
        await context.close()

        # The kiosk restarts: same profile, the bare address.
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        page = context.pages[0] if context.pages else await context.new_page()
        await page.goto(f"{live.base}/")
        await expect(page.locator("#conn")).to_have_attribute("data-state", "live")

        claims = verify_token(SECRET, wall, now=time.time())
        assert claims.token_id is not None
        assert await Revocations(store.client).revoke(
            claims.token_id, expires_at=claims.expires_at, now=time.time()
        )
        # The open wall is cut (GOVPULSE_WS_REVOCATION_CHECK, 2 s by default) without a reload.
        await expect(page.locator("#conn")).to_have_attribute("data-state", "unauthorized", timeout=10_000)
        await expect(page.locator("#token-notice")).to_contain_text("thu hồi")
        # Forgotten: the next start asks for a token instead of retrying a revoked one.
        await page.reload()
        await expect(page.locator("#conn")).to_have_attribute("data-state", "notoken")
        await context.close()


async def test_a_leader_token_is_not_kept_across_browser_restarts(browser: Browser, live: WebNode) -> None:
    page = await open_page(browser, live, "/leader", "leader")

    stored = await page.evaluate(
        "[localStorage.getItem('govpulse.wall-token'), sessionStorage.getItem('govpulse.token') !== null]"
    )

    assert stored == [None, True]


async def test_an_expired_token_says_what_to_do(browser: Browser, live: WebNode) -> None:
    page = await browser.new_page()
    await page.goto(f"{live.base}/#token={token('wall', now=time.time() - 7200, ttl=3600)}")

    await expect(page.locator("#conn")).to_have_attribute("data-state", "expired")
    notice = page.locator("#token-notice")
    await expect(notice).to_contain_text("Mã truy cập đã hết hạn")
    await expect(notice).to_contain_text("govpulse token --scope wall --ttl 30d")


# -- people and scopes ---------------------------------------------------------------------------


async def test_the_page_offers_only_what_the_scope_may_do_and_the_server_refuses_the_rest(
    browser: Browser, city: WebNode
) -> None:
    as_wall = await open_page(browser, city, "/leader", "wall")
    await expect(as_wall.locator(".card").first).to_be_visible()
    await expect(as_wall.locator("button.ack:visible, details.card-explain:visible")).to_have_count(0)
    as_leader = await open_page(browser, city, "/leader", "leader", subject="Nguyễn Văn A")
    await expect(as_leader.locator("button.ack:visible").first).to_be_visible()
    await expect(as_leader.locator("#who")).to_have_text("Nguyễn Văn A · Lãnh đạo")

    ws = await open_client(city, "wall")
    try:
        await ws.send(json.dumps({"type": "ack", "alert": "fp-wait", "ref": "r1"}))
        refused, _ = await recv_until(ws, lambda frame: frame.get("type") == "error")
    finally:
        await ws.close()
    assert (refused["code"], refused["ref"]) == ("forbidden", "r1")


async def test_waiting_filter_and_an_answer_arriving_highlighted_with_the_person_and_unit(
    browser: Browser, city: WebNode, store: BoardStore
) -> None:
    page = await open_page(browser, city, "/leader", "leader")
    others = page.locator('.card:not([data-fingerprint="fp-wait"])')
    await expect(others.first).to_be_visible()
    await page.locator("#f-waiting").check()
    card = page.locator('[data-fingerprint="fp-wait"]')
    await expect(card).to_be_visible()
    # Only alerts waiting for an answer stay (other tests' alerts share this Redis).
    await expect(page.locator(".card:not(:has(.badge.waiting))")).to_have_count(0)
    await expect(card.locator(".badge.waiting")).to_have_text("Chờ giải trình")
    await expect(card.locator(".thread-by")).to_contain_text("Trần Thị B (Lãnh đạo)")

    now = time.time()
    await store.publish(
        [
            alert_change(
                "fp-wait",
                UNIT_A,
                severity="warning",
                title_vi="Tồn đọng vượt ngưỡng",
                unit_name_vi="Phường Sài Gòn",
                explanations=[
                    {"kind": "request", "by": "Trần Thị B", "text": "Vì sao tồn đọng?", "at": now - 60},
                    {"kind": "answer", "by": "Nguyễn Văn A", "text": "Thiếu người, đã bổ sung.", "at": now},
                ],
            )
        ]
    )

    await page.locator("#f-waiting").uncheck()
    await expect(card).to_have_class("card sev-warning state-firing answer-new")
    await expect(card.locator(".thread-by").last).to_contain_text("Nguyễn Văn A (Phường Sài Gòn)")
    await expect(page.locator("#announce")).to_contain_text("Có giải trình mới từ Phường Sài Gòn")


async def test_acknowledging_keeps_the_card_in_place_and_focused(
    browser: Browser, live: WebNode, store: BoardStore
) -> None:
    await store.publish(
        [
            alert_change(f"fp-{i}", UNIT_A, severity="critical", title_vi=f"Quá hạn {i}", at=time.time() - i)
            for i in range(4)
        ]
    )
    page = await open_page(browser, live, "/leader", "leader")
    cards = page.locator("#alerts-priority .card")
    await expect(cards).to_have_count(4)
    before = [await cards.nth(i).get_attribute("data-fingerprint") for i in range(4)]
    target = before[0]

    await cards.first.locator("button.ack").focus()
    await page.keyboard.press("Enter")
    # The worker acknowledges it (no broker here: the board record changes as it would).
    await store.publish(
        [alert_change(target, UNIT_A, severity="critical", title_vi="Quá hạn 0", state="acknowledged")]
    )

    await expect(page.locator(f'[data-fingerprint="{target}"] .badge.state-acknowledged')).to_be_visible()
    after = [await cards.nth(i).get_attribute("data-fingerprint") for i in range(4)]
    assert after == before
    assert await page.evaluate("document.activeElement.dataset.fingerprint") == target


# -- names, clocks, dates --------------------------------------------------------------------


async def test_english_short_names_are_right_and_distinct(browser: Browser, live: WebNode) -> None:
    units = json.loads(live.settings.units_file.read_text())["units"]
    page = await open_page(browser, live, "/", "wall")

    names = await page.evaluate(
        """async (units) => {
             const { shortName } = await import("/static/format.js");
             const { setLang } = await import("/static/i18n.js");
             const out = {};
             for (const lang of ["vi", "en"]) {
               setLang(lang);
               out[lang] = Object.fromEntries(units.map((u) => [u.code, shortName(u)]));
             }
             setLang("vi");
             return out;
           }""",
        units,
    )

    assert names["en"]["P-BAN-CO"] == "Ban Co"
    assert names["vi"]["P-BAN-CO"] == "Bàn Cờ"
    assert names["en"]["X-THANH-AN-CAN-GIO"] == "Thanh An (Can Gio)"
    assert names["en"]["X-THANH-AN-DAU-TIENG"] == "Thanh An (Dau Tieng)"
    for lang in ("vi", "en"):
        assert len(set(names[lang].values())) == len(units), lang


async def test_one_date_format_in_both_languages_and_a_labelled_demo_clock(
    browser: Browser, redis_url: str
) -> None:
    start = time.time()
    environ = web_environ(
        redis_url, GOVPULSE_CLOCK="accelerated", GOVPULSE_CLOCK_SPEED="60", GOVPULSE_CLOCK_ORIGIN=str(start)
    )
    store = BoardStore.from_url(redis_url)
    beating = asyncio.create_task(beat_forever(store, interval=0.3))
    try:
        async with running_node(environ) as node:
            page = await open_page(browser, node, "/leader", "leader")
            formats: list[Any] = await page.evaluate(
                """async () => {
                     const { fmtDateTime } = await import("/static/format.js");
                     const { setLang } = await import("/static/i18n.js");
                     const at = Date.UTC(2026, 10, 25, 7, 3) / 1000;  // 14:03 in the city
                     const out = [];
                     for (const lang of ["vi", "en"]) { setLang(lang); out.push(fmtDateTime(at)); }
                     setLang("vi");
                     return out;
                   }"""
            )
            assert formats == ["25/11/2026 14:03", "25/11/2026 14:03"]
            await expect(page.locator("#clock")).to_contain_text("Đồng hồ mô phỏng (×60)")
            await expect(page.locator("#updated")).to_contain_text("Cập nhật")
    finally:
        beating.cancel()
        await asyncio.wait([beating], timeout=2)
        await store.close()
