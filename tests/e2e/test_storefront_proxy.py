"""A signed-in customer on a storefront, in a real browser: the page is served by a stand-in for the
shop's storefront, whose /apps/zora/session forwards to Zora the way Shopify's app proxy does (signed,
naming the logged-in customer). The conversation's card in Slack then says the customer is verified."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.e2e.conftest import browser_unavailable
from tests.helpers import serving
from tests.shopify.harness import API_SECRET, ShopifyZora, running_shopify
from zora.shopify.signing import app_proxy_signature

if reason := browser_unavailable():
    pytest.skip(reason, allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")

CUSTOMER = 424242


@pytest.fixture
async def storefront(infra: Any, database_url: str) -> AsyncIterator[tuple[ShopifyZora, str]]:
    async with running_shopify(infra, database_url) as sz:
        zora_url = sz.zora.base_url

        async def page(request: web.Request) -> web.Response:
            html = (
                "<!doctype html><html lang=en><body><h1>Signed-in storefront</h1>"
                f'<script src="{zora_url}/widget.js" data-shop="{sz.shop}" data-proxy="/apps/zora/session" async>'
                "</script></body></html>"
            )
            return web.Response(text=html, content_type="text/html")

        async def app_proxy(request: web.Request) -> web.Response:
            # What Shopify adds when it forwards a storefront request to the app's proxy URL.
            query = [
                ("shop", sz.shop),
                ("logged_in_customer_id", str(CUSTOMER)),
                ("path_prefix", "/apps/zora"),
                ("timestamp", str(int(time.time()))),
            ]
            query.append(("signature", app_proxy_signature(API_SECRET, query)))
            async with (
                aiohttp.ClientSession() as http,
                http.post(
                    f"{zora_url}/proxy/session",
                    params=query,
                    data=await request.read(),
                    headers={"Content-Type": "application/json"},
                ) as resp,
            ):
                return web.Response(body=await resp.read(), status=resp.status, content_type="application/json")

        shop_app = web.Application()
        shop_app.router.add_get("/", page)
        shop_app.router.add_post("/apps/zora/session", app_proxy)
        async with serving(shop_app) as url:
            yield sz, f"{url}/"


async def test_signed_in_customer_is_recognised_through_the_app_proxy(
    storefront: tuple[ShopifyZora, str], browser: Any
) -> None:
    sz, url = storefront
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(url)
        await page.evaluate("window.Zora.ready")
        await page.get_by_role("button", name="Chat with us").click()
        box = page.get_by_role("textbox", name="Message")
        await box.fill("Where is my last order?")
        await box.press("Enter")
        card = (await sz.zora.standin.wait_for_posts(2))[0]
        assert "verified Shopify customer" in json.dumps(card["blocks"])
        rows = await sz.zora.fetch(
            "SELECT cu.shopify_customer_id FROM shoppers s JOIN customers cu ON cu.id = s.customer_id"
            " WHERE s.shop_id = $1",
            sz.zora.shop_id,
        )
        assert [r["shopify_customer_id"] for r in rows] == [CUSTOMER]
    finally:
        await context.close()
