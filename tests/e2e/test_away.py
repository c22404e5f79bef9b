"""Away mode in a real browser: when the shop says nobody is here (or it is outside business hours),
the widget says so and asks for an email before the shopper writes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.conftest import browser_unavailable
from tests.harness import Zora, running_zora

if reason := browser_unavailable():
    pytest.skip(reason, allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")


@pytest.fixture(scope="module")
async def zora(infra: Any, database_url: str) -> AsyncIterator[Zora]:
    async with running_zora(infra, database_url) as z:
        yield z


async def _settings(zora: Zora, **values: Any) -> None:
    async with zora.services.pool.acquire() as conn:
        await conn.execute("UPDATE shops SET settings = $2::jsonb WHERE id = $1", zora.shop_id, json.dumps(values))


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
    await _settings(zora, **settings)
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{zora.base_url}/demo?shop={zora.shop}")
    await page.evaluate("window.Zora.ready")
    await page.get_by_role("button", name="Chat with us").click()
    await playwright_api.expect(page.get_by_role("note")).to_contain_text("We're away right now")
    await playwright_api.expect(page.get_by_role("textbox", name="Email")).to_be_visible()


async def test_available_shop_shows_no_away_note(zora: Zora, browser: Any) -> None:
    await _settings(zora)
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{zora.base_url}/demo?shop={zora.shop}")
    await page.evaluate("window.Zora.ready")
    await page.get_by_role("button", name="Chat with us").click()
    await playwright_api.expect(page.get_by_role("textbox", name="Message")).to_be_visible()
    assert await page.get_by_role("note").count() == 0
