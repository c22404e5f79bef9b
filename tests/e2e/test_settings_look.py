"""Issue 11 §3 in a real browser: the widget's look and the per-language texts set on the settings page
show at once in the page's live preview (the real widget.js fed the unsaved values), a bad value is
refused next to its field, and once saved the storefront's widget looks and speaks the same."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.conftest import browser_unavailable
from tests.shopify.harness import ShopifyZora

if reason := browser_unavailable():
    pytest.skip(reason, allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect

LOGO = "https://cdn.example.test/slow-goods.png"
# A 1x1 PNG, served for LOGO: the browser reaches nothing outside.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def sz(sz: ShopifyZora) -> ShopifyZora:
    sz.shopify.app_url = f"{sz.zora.base_url}/admin"
    return sz


async def _context(browser: Any, **options: Any) -> Any:
    context = await browser.new_context(**options)
    await context.route("https://cdn.shopify.com/**", lambda route: route.abort())
    await context.route(LOGO, lambda route: route.fulfill(status=200, content_type="image/png", body=PNG))
    return context


@pytest.fixture
async def context(browser: Any) -> AsyncIterator[Any]:
    context = await _context(browser)
    try:
        yield context
    finally:
        await context.close()


async def test_look_and_language_change_the_preview_then_the_storefront(
    sz: ShopifyZora, context: Any, browser: Any
) -> None:
    page = await context.new_page()
    await page.goto(sz.shopify.admin_frame_url(sz.shop))
    app = page.frame_locator("#app")
    await expect(app.locator("body")).to_have_attribute("data-ready", "1")
    preview = app.frame_locator("#preview")
    launcher = preview.locator("zora-widget .launcher")
    await expect(launcher).to_have_css("background-color", "rgb(31, 111, 235)")

    # Unsaved changes reach the preview at once.
    await app.get_by_role("textbox", name="Colour", exact=True).fill("#aa3300")
    await expect(launcher).to_have_css("background-color", "rgb(170, 51, 0)")
    await app.get_by_role("combobox", name="Position").select_option("left")
    await expect(preview.locator("zora-widget .root")).to_have_class(re.compile(r"\bleft\b"))
    await app.get_by_role("textbox", name="Launcher text").fill("Parlez-nous")
    await expect(launcher).to_have_attribute("aria-label", "Parlez-nous")
    await app.get_by_role("textbox", name="Logo").fill(LOGO)
    await expect(preview.locator("zora-widget img.logo")).to_be_visible()
    await expect(preview.locator("zora-widget img.logo")).to_have_attribute("src", LOGO)

    await app.locator("details.lang summary", has_text="French").click()
    await app.locator('[data-path="texts.fr.greeting"]').fill("Bienvenue chez Slow Goods !")
    await app.locator('[data-path="texts.fr.away"]').fill("Nous revenons lundi.")
    await app.get_by_role("checkbox", name="Someone is available").uncheck()
    await app.get_by_role("combobox", name="Preview in").select_option("fr")
    await expect(preview.get_by_role("log")).to_contain_text("Bienvenue chez Slow Goods !")
    await expect(preview.get_by_role("note")).to_have_text("Nous revenons lundi.")
    # In English the shop has no text of its own: the widget's own words.
    await app.get_by_role("combobox", name="Preview in").select_option("en")
    await expect(preview.get_by_role("log")).to_contain_text("Hi! How can we help?")
    # Choosing the preview's language is no change to save.
    assert await app.locator("body").get_attribute("data-version") == "0"

    # Refused by the server, next to the field; nothing stored.
    await app.get_by_role("textbox", name="Colour", exact=True).fill("crimson")
    await app.get_by_role("textbox", name="Logo").fill("http://cdn.example.test/slow-goods.png")
    await app.get_by_role("button", name="Save", exact=True).click()
    await expect(app.locator('[data-error-for="look.color"]')).to_have_text("must be a colour like #1f6feb")
    await expect(app.locator('[data-error-for="look.logo_url"]')).to_have_text("must start with https://")
    await expect(app.get_by_role("textbox", name="Colour", exact=True)).to_have_attribute("aria-invalid", "true")
    assert (await sz.fetchrow("SELECT settings_version FROM shops WHERE id = $1", sz.shop_id))["settings_version"] == 0

    await app.get_by_role("textbox", name="Colour", exact=True).fill("#AA3300")
    await app.get_by_role("textbox", name="Logo").fill(LOGO)
    await app.get_by_role("checkbox", name="Someone is available").check()
    await app.get_by_role("button", name="Save", exact=True).click()
    await expect(app.get_by_role("status")).to_contain_text("Saved (version 1)")

    # The storefront, in French (the demo page says it is English: its language switch is used, as a
    # storefront's language picker would): the saved look and words.
    shopper = await _context(browser)
    try:
        store = await shopper.new_page()
        await store.goto(f"{sz.zora.base_url}/demo?shop={sz.shop}")
        await store.evaluate("window.Zora.ready")
        assert await store.evaluate("window.Zora.setLocale('fr-FR')") == "fr"
        button = store.get_by_role("button", name="Parlez-nous")
        await expect(button).to_have_css("background-color", "rgb(170, 51, 0)")
        await expect(store.locator("zora-widget .root")).to_have_class(re.compile(r"\bleft\b"))
        await button.click()
        await expect(store.get_by_role("log")).to_contain_text("Bienvenue chez Slow Goods !")
        await expect(store.locator("zora-widget img.logo")).to_have_attribute("src", LOGO)
    finally:
        await shopper.close()
        await page.close()


async def test_a_shopper_whose_language_zora_does_not_speak_gets_the_shops_main_one(
    sz: ShopifyZora, browser: Any
) -> None:
    # The shop's main language is German; the shopper's (Portuguese, as a storefront's language picker
    # says) is none of Zora's: German, as in the emails (the widget sends its language with messages).
    await sz.zora.fetch("UPDATE shops SET settings = $2 WHERE id = $1", sz.shop_id, {"languages": ["de", "en"]})
    shopper = await _context(browser, locale="pt-BR")
    # The demo page says it is English: here it is a Portuguese storefront.
    await shopper.add_init_script("Object.defineProperty(HTMLElement.prototype, 'lang', {get: () => 'pt-BR'})")
    try:
        store = await shopper.new_page()
        await store.goto(f"{sz.zora.base_url}/demo?shop={sz.shop}")
        await store.evaluate("window.Zora.ready")
        await expect(store.get_by_role("button", name="Chatten Sie mit uns")).to_be_visible()
        assert await store.evaluate("window.Zora.locale") == "de"
        # A language Zora speaks is the shopper's own, whatever the shop's main one.
        assert await store.evaluate("window.Zora.setLocale('es')") == "es"
    finally:
        await shopper.close()
        await sz.zora.fetch("UPDATE shops SET settings = $2 WHERE id = $1", sz.shop_id, {})
