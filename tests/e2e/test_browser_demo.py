"""A person's path in a real browser: the demo storefront, the widget, a reply from the Slack stand-in."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.conftest import browser_unavailable, open_store
from tests.harness import CHANNEL, Zora

if reason := browser_unavailable():
    pytest.skip(reason, allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")


@pytest.fixture
async def page(zora: Zora, browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context()
    page = await context.new_page()
    try:
        yield page
    finally:
        if os.environ.get("ZORA_SCREENSHOTS"):
            await page.screenshot(path=os.environ["ZORA_SCREENSHOTS"])
        await context.close()


async def test_shopper_chats_on_the_demo_store_and_gets_the_agents_reply(zora: Zora, page: Any) -> None:
    await open_store(zora, page)
    await page.get_by_role("button", name="Chat with us").click()
    composer = page.get_by_role("textbox", name="Message")
    await composer.fill("Do you ship to Lisbon?")
    await composer.press("Enter")

    root, posted = await zora.standin.wait_for_posts(2)
    assert posted["text"] == "Do you ship to Lisbon?"
    log = page.get_by_role("log")
    await playwright_api.expect(log).to_contain_text("Do you ship to Lisbon?")
    await playwright_api.expect(log).to_contain_text("Delivered", ignore_case=True)

    assert await zora.standin.agent_reply(CHANNEL, root["ts"], "Yes, in 3 days.") == 200
    await playwright_api.expect(log).to_contain_text("Yes, in 3 days.")
    await playwright_api.expect(log).to_contain_text("Ada Agent")

    # A reload shows the same conversation.
    await page.reload()
    await page.evaluate("window.Zora.ready")
    await page.get_by_role("button", name="Chat with us").click()
    await playwright_api.expect(page.get_by_role("log")).to_contain_text("Yes, in 3 days.")
