"""The notification controls in headless Chromium: "notify me", the service worker showing a
pushed critical alert while the page is in the background, and each alert's inbox.

What is covered and what is not (Chromium here cannot reach a browser vendor's push
service): the page registers /static/sw.js, asks the server for the VAPID key, and the
service worker's push handler — fed through the DevTools protocol
(``ServiceWorker.deliverPushMessage``, the same event a push service delivery raises) —
shows the notification. ``PushManager.subscribe`` itself needs the vendor's push service:
here it fails and the page says so. Encryption, VAPID and delivery to a push service are
covered by tests/notify/test_receivers.py against a local RFC 8030 service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from py_vapid import Vapid

from runtime.board import BoardStore
from runtime.notices import Delivery, NoticeStore
from tests.support.webtools import (
    UNIT_A,
    WebNode,
    alert_change,
    beat_forever,
    running_node,
    token,
    web_environ,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
HOSTILE = '<img src=x onerror="window.__pwned=1">'


@pytest.fixture
async def push_node(redis_url: str, tmp_path: Any) -> AsyncIterator[WebNode]:
    vapid = Vapid()
    vapid.generate_keys()
    vapid.save_key(str(tmp_path / "vapid.pem"))
    environ = web_environ(redis_url, GOVPULSE_VAPID_PRIVATE_KEY=str(tmp_path / "vapid.pem"))
    async with running_node(environ) as node:
        yield node


@pytest.fixture
async def context(push_node: WebNode) -> AsyncIterator[BrowserContext]:
    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        ctx = await browser.new_context(viewport={"width": 1400, "height": 900})
        await ctx.grant_permissions(["notifications"], origin=push_node.base)
        yield ctx
        await ctx.close()
        await browser.close()


@pytest.fixture
async def beating(store: BoardStore) -> AsyncIterator[None]:
    task = asyncio.create_task(beat_forever(store, interval=0.3))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def open_leader(context: BrowserContext, node: WebNode) -> Page:
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{node.base}/leader?token={token('leader')}")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=5000)
    await expect(page.locator("#notify-me")).to_have_text("Nhận thông báo")
    assert errors == []
    return page


async def test_the_service_worker_shows_a_pushed_critical_alert_while_the_page_is_in_the_background(
    context: BrowserContext, push_node: WebNode, beating: None
) -> None:
    page = await open_leader(context, push_node)
    active = await page.evaluate(
        "navigator.serviceWorker.getRegistration('/static/').then(r => r && r.active && r.active.scriptURL)"
    )
    assert active == f"{push_node.base}/static/sw.js"
    cdp = await context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"])
    )
    await cdp.send("ServiceWorker.enable")
    for _ in range(50):
        if registrations:
            break
        await asyncio.sleep(0.1)
    (registration,) = [r for r in registrations if r["scopeURL"] == f"{push_node.base}/static/"]
    other = await context.new_page()
    await other.goto("about:blank")
    await other.bring_to_front()  # the board is now in the background
    payload = {
        "id": "ntf_abc",
        "status": "firing",
        "severity": "critical",
        "title_vi": "Quá hạn nghiêm trọng: NV-1",
        "title_en": "Critical overdue: NV-1",
        "body_vi": HOSTILE,
        "body_en": HOSTILE,
        "url": f"{push_node.base}/leader",
    }
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": push_node.base,
            "registrationId": registration["registrationId"],
            "data": json.dumps(payload),
        },
    )
    shown: list[dict[str, Any]] = []
    # Up to 15 s: under the whole suite on two cores the worker took longer than 5 s once.
    for _ in range(150):
        shown = await page.evaluate(
            """navigator.serviceWorker.getRegistration('/static/').then(r => r.getNotifications()).then(
                 ns => ns.map(n => ({
                   title: n.title, body: n.body, tag: n.tag, sticky: n.requireInteraction})))"""
        )
        if shown:
            break
        await asyncio.sleep(0.1)
    assert shown == [
        {"title": "Quá hạn nghiêm trọng: NV-1", "body": HOSTILE, "tag": "ntf_abc", "sticky": True}
    ]
    assert await page.evaluate("window.__pwned") is None


async def test_notify_me_asks_the_server_for_the_key_and_says_when_the_push_service_is_unreachable(
    context: BrowserContext, push_node: WebNode, beating: None
) -> None:
    page = await open_leader(context, push_node)
    await page.click("#notify-me")
    # Chromium without a vendor push service: subscribe() fails and the page says so
    await expect(page.locator("#notify-note")).to_have_text(
        "Không đăng ký được với dịch vụ đẩy của trình duyệt", timeout=10000
    )
    await expect(page.locator("#notify-me")).to_have_attribute("data-state", "off")


async def test_each_alert_shows_who_was_told_when_and_how(
    context: BrowserContext, push_node: WebNode, store: BoardStore, redis_url: str, beating: None
) -> None:
    await store.publish([alert_change("item_overdue:NV-1", UNIT_A, title_vi="Quá hạn NV-1", at=time.time())])
    client = aioredis.Redis.from_url(redis_url)
    notices = NoticeStore(client)
    at = 1772416800.0  # 02/03/2026 09:00 in Ho Chi Minh City
    await notices.record(
        ["item_overdue:NV-1"], Delivery("n1", "leaders-push", "webpush", "delivered", at, 1, "")
    )
    await notices.record(
        ["item_overdue:NV-1"], Delivery("n1", "sms", "webhook", "failed", at + 60, 9, HOSTILE)
    )
    await client.aclose()
    page = await open_leader(context, push_node)
    card = page.locator('[data-fingerprint="item_overdue:NV-1"]')
    await card.locator("details.inbox summary").click()
    rows = card.locator("details.inbox li")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("Thông báo đẩy · leaders-push · đã gửi")
    await expect(rows.nth(0)).to_contain_text("09:00")
    await expect(rows.nth(1)).to_contain_text(f"SMS/Zalo (webhook) · sms · lỗi ({HOSTILE})")
    assert await page.evaluate("window.__pwned") is None
    await page.click("#lang")
    await card.locator("details.inbox summary").click()
    await card.locator("details.inbox summary").click()
    await expect(rows.nth(1)).to_contain_text("SMS/Zalo (webhook) · sms · failed")
