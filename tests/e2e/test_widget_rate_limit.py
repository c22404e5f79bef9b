"""A shopper over the message limit (issue 10 item 3), in a real browser: the widget says so in the
shopper's language and sends the held message when the server says it may, once and in order."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import browser_unavailable, open_store
from tests.harness import running_zora

if reason := browser_unavailable():
    pytest.skip(reason, allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect


async def test_a_limited_message_is_announced_in_french_and_sent_later(
    infra: Any, database_url: str, browser: Any
) -> None:
    async with running_zora(infra, database_url, rate_messages_per_shopper="2 per 3 seconds") as zora:
        context = await browser.new_context(locale="fr-FR")
        try:
            page = await context.new_page()
            # The storefront's language (Shopify's theme object), as on a French shop.
            await page.add_init_script("window.Shopify = {locale: 'fr'}")
            await open_store(zora, page)
            await page.get_by_role("button", name="Discutez avec nous").click()
            composer = page.get_by_role("textbox", name="Message")
            for text in ("un", "deux", "trois"):
                await composer.fill(text)
                await composer.press("Enter")

            await expect(page.get_by_role("alert").filter(has_text="Trop rapide")).to_be_visible()
            while sum(1 for p in zora.standin.posted if p.get("text") == "trois") == 0:
                await zora.standin.wait_for_posts(len(zora.standin.posted) + 1, timeout=30)
        finally:
            await context.close()
    texts = [p["text"] for p in zora.standin.posted if p.get("text") in ("un", "deux", "trois")]
    assert texts == ["un", "deux", "trois"]
