"""The analytics page in Chromium, reached from the settings page inside the Shopify admin stand-in's
frame, with Shopify's CDN out of reach: the figures of the shop's conversations, the charts, an agent
whose name looks like a formula shown as text and exported disarmed in the CSV."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import browser_unavailable
from tests.shopify.harness import ShopifyZora

if reason := browser_unavailable():
    pytest.skip(reason, allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect

AGENT_NAME = "=HYPERLINK(1) <b>Ann</b>"
HOSTILE_REASON = "<img src=x onerror=alert(1)> wants a person"


@pytest.fixture(scope="module")
def sz(sz: ShopifyZora) -> ShopifyZora:
    sz.shopify.app_url = f"{sz.zora.base_url}/admin"
    return sz


@pytest.fixture
async def context(sz: ShopifyZora, browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(accept_downloads=True)
    await context.route("https://cdn.shopify.com/**", lambda route: route.abort())
    try:
        yield context
    finally:
        await context.close()


async def seed(sz: ShopifyZora, conversations: int) -> list[uuid.UUID]:
    start = datetime.now(UTC) - timedelta(hours=2)
    made = []
    for n in range(conversations):
        shopper, conversation = uuid.uuid4(), uuid.uuid4()
        await sz.zora.fetch("INSERT INTO shoppers (id, shop_id) VALUES ($1, $2)", shopper, sz.shop_id)
        await sz.zora.fetch(
            "INSERT INTO conversations (id, shop_id, shopper_id, created_at, last_seq) VALUES ($1, $2, $3, $4, 2)",
            conversation,
            sz.shop_id,
            shopper,
            start,
        )
        for seq, direction, author, at in (
            (1, "shopper", None, start),
            (2, "agent", "U0ANN", start + timedelta(minutes=n + 1)),
        ):
            await sz.zora.fetch(
                "INSERT INTO messages (shop_id, conversation_id, seq, direction, author_id, author_name, body, status,"
                " created_at) VALUES ($1, $2, $3, $4, $5, $6, 'hello', 'delivered', $7)",
                sz.shop_id,
                conversation,
                seq,
                direction,
                author,
                AGENT_NAME if author else "Shopper",
                at,
            )
        made.append(conversation)
    return made


async def seed_turns(sz: ShopifyZora, conversations: list[uuid.UUID]) -> None:
    """The assistant's turns: one answer the shopper confirmed, one handover whose reason (the model's
    words) looks like markup, one answer less than 24 h old (not resolved yet)."""
    when = datetime.now(UTC) - timedelta(hours=1)
    for n, (outcome, reason, confirmed) in enumerate(
        [("answered", None, True), ("handed_over", HOSTILE_REASON, None), ("answered", None, None)]
    ):
        await sz.zora.fetch(
            "INSERT INTO assistant_turn_outcomes (turn_id, shop_id, conversation_id, outcome, handover_reason,"
            " confirmed, prompt_tokens, completion_tokens, cost_usd, at) VALUES ($1, $2, $3, $4, $5, $6, 1000, 100,"
            " 0.0125, $7)",
            f"turn:{conversations[n]}:1",
            sz.shop_id,
            conversations[n],
            outcome,
            reason,
            confirmed,
            when,
        )


async def test_the_analytics_page_from_the_settings_page(sz: ShopifyZora, context: Any, tmp_path: Path) -> None:
    await seed_turns(sz, await seed(sz, 3))
    page = await context.new_page()
    await page.goto(sz.shopify.admin_frame_url(sz.shop))
    app = page.frame_locator("#app")
    await expect(app.locator("body")).to_have_attribute("data-ready", "1")
    await app.get_by_role("link", name="Analytics").click()
    await expect(app.locator("body")).to_have_attribute("data-ready", "1")
    await expect(app.get_by_role("status")).to_contain_text(f"Analytics of {sz.shop}")
    tiles = app.locator("#tiles")
    await expect(tiles).to_contain_text("3Conversations")
    await expect(tiles).to_contain_text("2 minFirst response, median")
    await expect(app.get_by_role("img", name="Conversations per day").locator("rect")).to_have_count(30)
    await expect(app.get_by_role("img", name="Messages by hour of day").locator("rect")).to_have_count(48)
    await expect(app.locator("#agents tbody")).to_contain_text(AGENT_NAME)
    # The assistant's figures: its share in the summary, its own tiles, a reason shown as text.
    await expect(tiles).to_contain_text("33 % (1 of 3)Resolved by the AI assistant")
    ai = app.locator("#ai-tiles")
    await expect(ai).to_contain_text("3Conversations with the assistant")
    await expect(ai).to_contain_text("3000 + 300Tokens (prompt + completion)")
    await expect(ai).to_contain_text("0.0375Cost (USD)")
    await expect(app.locator("#handovers tbody")).to_contain_text(HOSTILE_REASON + "1")
    await expect(app.locator("#handovers img")).to_have_count(0)

    await app.get_by_label("Export").select_option("agents")
    async with page.expect_download() as info:
        await app.get_by_role("button", name="Download CSV").click()
    download = await info.value
    assert download.suggested_filename.startswith("zora-agents-")
    target = tmp_path / "agents.csv"
    await download.save_as(target)
    lines = target.read_text().splitlines()
    assert lines[0] == "agent,name,replies,assigned,first_responses,first_response_p50,resolved"
    assert lines[1] == f"U0ANN,'{AGENT_NAME},3,0,3,120.0,0"

    # A range the server refuses is said on the page.
    await app.get_by_label("From", exact=True).fill("2026-12-31")
    await app.get_by_label("To", exact=True).fill("2020-01-01")
    await app.get_by_role("button", name="Show").click()
    await expect(app.get_by_role("alert")).to_contain_text("from must not be after to")
