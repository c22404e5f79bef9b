"""Away mode in a real browser: when the shop says nobody is here (or it is outside business hours),
the widget says so and asks for an email before the shopper writes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import browser_unavailable, open_store
from tests.harness import Zora
from tests.helpers import set_shop_settings

if reason := browser_unavailable():
    pytest.skip(reason, allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")


@pytest.mark.parametrize(
    "settings",
    [
        {"available": False},
        # Open only the day after tomorrow (set in the test): outside business hours now.
        {"business_hours": {}},
    ],
    ids=["nobody-available", "closed-today"],
)
async def test_away_says_so_and_asks_for_an_email(zora: Zora, browser: Any, settings: dict[str, Any]) -> None:
    if "business_hours" in settings:
        from datetime import UTC, datetime

        from zora.business_hours import DAYS

        tomorrow = DAYS[(datetime.now(UTC).weekday() + 2) % 7]
        settings = {"business_hours": {tomorrow: ["09:00", "17:00"]}, "timezone": "UTC"}
    await set_shop_settings(zora, **settings)
    page = await (await browser.new_context()).new_page()
    await open_store(zora, page)
    await page.get_by_role("button", name="Chat with us").click()
    await playwright_api.expect(page.get_by_role("note")).to_contain_text("We're away right now")
    await playwright_api.expect(page.get_by_role("textbox", name="Email")).to_be_visible()


async def test_available_shop_shows_no_away_note(zora: Zora, browser: Any) -> None:
    await set_shop_settings(zora)
    page = await (await browser.new_context()).new_page()
    await open_store(zora, page)
    await page.get_by_role("button", name="Chat with us").click()
    await playwright_api.expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    assert await page.get_by_role("note").count() == 0
