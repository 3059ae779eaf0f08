"""``/api/docs`` against a running ``govpulse api``: every asset is same-origin and served
(from the pinned package), and the page renders in Chromium with every other origin cut off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Route, async_playwright, expect

from api.docs import ASSETS, ASSETS_PATH
from tests.support.apitools import ApiNode

pytestmark = pytest.mark.integration

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


class References(HTMLParser):
    """Every ``src`` and ``href`` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]


def test_the_docs_page_references_only_same_origin_assets_and_they_are_served(api: ApiNode) -> None:
    with api.client() as client:
        page = client.get("/api/docs")
        assets = {name: client.get(f"{ASSETS_PATH}/{name}") for name in ASSETS}
        missing = client.get(f"{ASSETS_PATH}/nope.js")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    parser = References()
    parser.feed(page.text)
    assert sorted(parser.urls) == sorted(f"{ASSETS_PATH}/{name}" for name in ASSETS)
    assert all(not urlsplit(url).netloc for url in parser.urls)
    assert "http://" not in page.text and "https://" not in page.text
    assert "url: '/api/openapi.json'" in page.text
    for name, response in assets.items():
        assert response.status_code == 200, name
    assert (
        assets["swagger-ui-bundle.js"]
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )
    assert "SwaggerUIBundle" in assets["swagger-ui-bundle.js"].text
    assert assets["swagger-ui.css"].headers["content-type"].startswith("text/css")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.mark.browser
async def test_the_docs_page_renders_the_operations_with_no_other_origin_reachable(
    api: ApiNode, browser: Browser
) -> None:
    origin = urlsplit(api.base).netloc
    elsewhere: list[str] = []

    async def offline(route: Route) -> None:
        if urlsplit(route.request.url).netloc == origin:
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.route("**/*", offline)
    await page.goto(f"{api.base}/api/docs")

    await expect(page.locator(".opblock-summary-path[data-path='/api/v1/indicators']")).to_be_visible(
        timeout=15000
    )
    await expect(page.locator(".opblock-summary-path[data-path='/api/v1/events']")).to_be_visible()
    assert await page.locator(".errors-wrapper").count() == 0
    assert (elsewhere, errors) == ([], [])
