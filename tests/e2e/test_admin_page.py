"""The merchant's settings page in a real browser, framed by the Shopify admin stand-in as the admin
frames it, with Shopify's CDN out of reach (so the page runs on its plain fallback and the frame's
session tokens): change the greeting, save, see the storefront widget greet with it; a bad value is
refused next to its field; undo from the history."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.conftest import browser_unavailable
from tests.shopify.harness import ShopifyZora

if reason := browser_unavailable():
    pytest.skip(reason, allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect


@pytest.fixture(scope="module")
def sz(sz: ShopifyZora) -> ShopifyZora:
    sz.shopify.app_url = f"{sz.zora.base_url}/admin"
    return sz


@pytest.fixture
async def context(sz: ShopifyZora, browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context()
    # As in this sandbox and in CI: Shopify's CDN does not answer. Refused at once rather than left to time out.
    await context.route("https://cdn.shopify.com/**", lambda route: route.abort())
    try:
        yield context
    finally:
        if os.environ.get("ZORA_SCREENSHOTS") and context.pages:
            await context.pages[0].screenshot(path=os.environ["ZORA_SCREENSHOTS"], full_page=True)
        await context.close()


async def open_settings(sz: ShopifyZora, context: Any) -> tuple[Any, Any]:
    page = await context.new_page()
    await page.goto(sz.shopify.admin_frame_url(sz.shop))
    app = page.frame_locator("#app")
    await expect(app.locator("body")).to_have_attribute("data-ready", "1")
    return page, app


async def test_the_greeting_saved_in_the_admin_frame_greets_on_the_storefront(sz: ShopifyZora, context: Any) -> None:
    page, app = await open_settings(sz, context)
    await expect(app.get_by_role("status")).to_contain_text(sz.shop)
    greeting = app.get_by_role("textbox", name="Greeting").first
    await greeting.fill("Welcome to Slow Goods, ask us anything!")
    await expect(app.get_by_role("region", name="Unsaved changes")).to_be_visible()
    await app.get_by_role("button", name="Save", exact=True).click()
    await expect(app.get_by_role("status")).to_contain_text("Saved (version 1)")
    await expect(app.get_by_role("region", name="Unsaved changes")).to_be_hidden()
    await expect(app.locator("#history")).to_contain_text("Version 1: texts")
    rows = await sz.fetch("SELECT changed_by FROM shop_settings_history WHERE shop_id = $1", sz.shop_id)
    assert [r["changed_by"] for r in rows] == ["42"]  # the stand-in's staff user, from the session token

    store = await context.new_page()
    await store.goto(f"{sz.zora.base_url}/demo?shop={sz.shop}")
    await store.evaluate("window.Zora.ready")
    await store.get_by_role("button", name="Chat with us").click()
    await expect(store.get_by_role("log")).to_contain_text("Welcome to Slow Goods, ask us anything!")

    # A value the server refuses: its message appears next to the field, and nothing is stored.
    await app.get_by_role("textbox", name="Whom reminders mention").fill("everyone")
    await app.get_by_role("spinbutton", name="Remind the channel after").fill("-3")
    await app.get_by_role("button", name="Save", exact=True).click()
    await expect(app.locator('[data-error-for="reminder_minutes"]')).to_contain_text("greater than or equal to 0")
    await expect(app.locator('[data-error-for="reminder_mention"]')).to_contain_text("should match pattern")
    await expect(app.get_by_role("spinbutton", name="Remind the channel after")).to_have_attribute(
        "aria-invalid", "true"
    )
    version = await sz.fetchrow("SELECT settings_version FROM shops WHERE id = $1", sz.shop_id)
    assert version["settings_version"] == 1

    # Undo the greeting from the history: the storefront is back to the default greeting.
    await app.get_by_role("button", name="Undo version 1").click()
    await expect(app.get_by_role("status")).to_contain_text("version 2")
    await expect(app.get_by_role("textbox", name="Greeting").first).to_have_value("")
    await store.reload()
    await store.evaluate("window.Zora.ready")
    await store.get_by_role("button", name="Chat with us").click()
    await expect(store.get_by_role("log")).to_contain_text("Hi! How can we help?")
    await page.close()


async def test_every_assistant_setting_is_on_the_page_and_checked_by_the_server(sz: ShopifyZora, context: Any) -> None:
    page, app = await open_settings(sz, context)
    offer = app.get_by_role("checkbox", name='Offer "Talk to a person" before it answers')
    await expect(offer).not_to_be_checked()
    await offer.check()
    steps = app.get_by_role("spinbutton", name="Model calls per message, at most")
    await steps.fill("11")
    await app.get_by_role("button", name="Save", exact=True).click()
    # Refused by the server (at most 10), said next to the field; nothing stored.
    await expect(app.locator('[data-error-for="assistant.max_steps"]')).to_contain_text("less than or equal to 10")
    await expect(steps).to_have_attribute("aria-invalid", "true")
    before = await sz.fetchrow("SELECT settings, settings_version FROM shops WHERE id = $1", sz.shop_id)
    assert not (before["settings"] or {}).get("assistant", {}).get("offer_person_first")

    await steps.fill("3")
    await app.get_by_role("button", name="Save", exact=True).click()
    await expect(app.get_by_role("status")).to_contain_text(f"Saved (version {before['settings_version'] + 1})")
    stored = await sz.fetchrow("SELECT settings FROM shops WHERE id = $1", sz.shop_id)
    assert stored["settings"]["assistant"]["offer_person_first"] is True
    assert stored["settings"]["assistant"]["max_steps"] == 3
    await page.reload()
    app = page.frame_locator("#app")
    await expect(app.locator("body")).to_have_attribute("data-ready", "1")
    await expect(app.get_by_role("checkbox", name='Offer "Talk to a person" before it answers')).to_be_checked()
    await page.close()


async def test_the_page_outside_a_frame_says_where_to_open_it(sz: ShopifyZora, context: Any) -> None:
    page = await context.new_page()
    await page.goto(f"{sz.zora.base_url}/admin?shop={sz.shop}")
    await expect(page.locator("body")).to_have_attribute("data-ready", "error")
    await expect(page.get_by_role("alert")).to_contain_text("Open this page from Shopify admin")
