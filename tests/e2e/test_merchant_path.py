"""The merchant's whole path in a real browser, with pages only (no SQL, no environment variable per shop):
a brand-new shop installs Zora from the Shopify stand-in's app listing (OAuth authorization code grant),
lands on the settings page inside the stand-in admin frame, adds Zora to a Slack workspace of its own on
the Slack stand-in's authorize page, picks a channel, sends a test post; a shopper on the shop's storefront
writes, the message appears in that channel of that workspace and the agent's answer reaches the shopper;
a greeting saved on the page greets the next shopper, and a shorter reminder time saved on the page brings
the reminder of a waiting conversation. Issue 11's "Done when".

`ZORA_MERCHANT_SHOTS=docs/img` saves the README's screenshots of the path (docs/img/merchant-*.png)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import browser_unavailable
from tests.harness import AGENT, SIGNING_SECRET
from tests.shopify.harness import ShopifyZora, running_shopify
from zora.standins.slack import SlackStandIn
from zora.standins.slack.oauth import CLIENT_ID, CLIENT_SECRET

if reason := browser_unavailable():
    pytest.skip(reason, allow_module_level=True)
playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect
# The path includes waiting for a reminder a minute after a message (the shortest a shop may set).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

NEW_TEAM = "T0SLOWGDS1"
NEW_CHANNEL = "C0SLOWGDS1"
SHOTS = os.environ.get("ZORA_MERCHANT_SHOTS")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Stack:
    sz: ShopifyZora
    # The workspace the new shop adds Zora to: not the one SLACK_BOT_TOKEN serves.
    workspace: SlackStandIn


@pytest.fixture(scope="module")
async def stack(infra: Any, database_url: str) -> AsyncIterator[Stack]:
    """Zora at an address known before it starts (PUBLIC_URL: Shopify and Slack send the browser back
    there), with "Add to Slack" configured once for the deployment, never per shop."""
    port = _free_port()
    options = {"public_url": f"http://127.0.0.1:{port}", "slack_client_id": CLIENT_ID}
    async with running_shopify(infra, database_url, web_port=port, slack_client_secret=CLIENT_SECRET, **options) as sz:
        sz.shopify.app_url = f"{sz.zora.base_url}/admin"
        sz.shopify.install_url = f"{sz.zora.base_url}/shopify/install"
        sz.shopify.grant_screen = True
        workspace = SlackStandIn(
            bot_token="xoxb-slow-goods", signing_secret=SIGNING_SECRET, team_id=NEW_TEAM, bot_user_id="U0SLOWBOT1"
        )
        workspace.team_name = "Slow Goods"
        workspace.add_channel("C0SLOWGEN1", "general")
        workspace.add_channel(NEW_CHANNEL, "shop-questions")
        workspace.add_user(AGENT, "ada", "Ada Agent")
        workspace.events_url = sz.zora.standin.events_url
        await workspace.start()
        # Slack's one API host: the authorize page offers both workspaces, each call goes to its own.
        sz.zora.standin.join(workspace)
        try:
            yield Stack(sz, workspace)
        finally:
            await workspace.stop()


async def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SHOTS) / f"merchant-{name}.png"))


async def install_from_listing(stack: Stack, page: Any, shop: str) -> Any:
    """The app listing's Install, Shopify's grant screen, and the settings page in the admin frame."""
    await page.goto(stack.sz.shopify.listing_url)
    await page.get_by_label("Your shop").fill(shop)
    await page.get_by_role("button", name="Install").click()
    await expect(page.get_by_role("heading", name="Install Zora")).to_be_visible()
    await _shot(page, "1-install")
    await page.get_by_role("button", name="Install app").click()
    await page.wait_for_url(f"**/dev/shopify/admin?shop={shop}")
    app = page.frame_locator("#app")
    await expect(app.locator("body")).to_have_attribute("data-ready", "1")
    # Not the operator's SLACK_BOT_TOKEN workspace: a shop that installed by itself adds its own.
    await expect(app.locator("#slack-state")).to_contain_text("Not connected to Slack.")
    return app


async def add_to_slack(stack: Stack, page: Any, app: Any, shop: str) -> None:
    """Add to Slack opens Slack's page at the top of the window; the merchant picks the new workspace."""
    await app.get_by_role("button", name="Add to Slack").click()
    await expect(page.get_by_role("heading", name="Zora is requesting permission")).to_be_visible()
    await page.get_by_label("Workspace").select_option(label="Slow Goods")
    await _shot(page, "2-slack-authorize")
    await page.get_by_role("button", name="Allow").click()
    await expect(page.get_by_role("heading", name="Slack connected")).to_be_visible()
    await expect(page.locator("body")).to_contain_text("Zora is now in Slow Goods")
    await page.get_by_role("link", name="Back to Zora in Shopify admin").click()
    await page.wait_for_url(f"**/dev/shopify/admin?shop={shop}")
    await expect(app.locator("#slack-state")).to_contain_text("Connected to Slow Goods: pick a channel.")
    await app.get_by_label("Channel for shoppers' conversations").select_option(label="#shop-questions")
    await app.get_by_role("button", name="Use this channel").click()
    await expect(app.locator("#slack-state")).to_contain_text("Connected to Slow Goods, channel")
    await app.get_by_role("button", name="Send a test message").click()
    await expect(app.locator("#slack-state")).to_contain_text("Test message sent")
    await app.locator("#slack-card").scroll_into_view_if_needed()
    await _shot(page, "3-slack-card")


async def remind_sooner(stack: Stack, page: Any, app: Any, shopper: Any) -> None:
    """A reminder's timing changed on the page reaches a conversation already waiting: its reminder comes
    after 1 minute instead of 15 (the conversation's tick reads the settings at least once a minute)."""
    workspace = stack.workspace
    composer = shopper.get_by_role("textbox", name="Message")
    await composer.fill("Is anyone there?")
    await composer.press("Enter")
    while not any(p.get("text") == "Is anyone there?" for p in workspace.posted):
        await workspace.wait_for_posts(len(workspace.posted) + 1)
    thread = next(p for p in workspace.posted if p.get("text") == "Is anyone there?")["thread_ts"]
    await page.bring_to_front()
    await app.get_by_role("spinbutton", name="Remind the channel after").fill("1")
    await app.get_by_role("button", name="Save", exact=True).click()
    await expect(app.get_by_role("status")).to_contain_text("Saved (version 2)")

    def reminded() -> bool:
        return any(p["thread_ts"] == thread and "has waited" in p["text"] for p in workspace.posted)

    # Generous: a minute of waiting, then the next tick (at most a minute later), on a busy machine.
    async with asyncio.timeout(300):
        while not reminded():
            await workspace.wait_for_posts(len(workspace.posted) + 1, timeout=300)


async def test_a_new_shop_gets_from_install_to_a_reply_in_its_own_slack_with_pages_only(
    stack: Stack, browser: Any
) -> None:
    sz, workspace, first = stack.sz, stack.workspace, stack.sz.zora.standin
    shop = f"slow-goods-{uuid.uuid4().hex[:6]}.myshopify.com"
    context = await browser.new_context(viewport={"width": 960, "height": 640}, locale="en-US")
    # As in this sandbox and in CI: Shopify's CDN does not answer (the page runs on its plain fallback).
    await context.route("https://cdn.shopify.com/**", lambda route: route.abort())
    try:
        page = await context.new_page()
        app = await install_from_listing(stack, page, shop)
        await add_to_slack(stack, page, app, shop)
        [test_post] = [p for p in workspace.posted if p["channel"] == NEW_CHANNEL]
        assert test_post["text"].startswith("Zora is connected")

        store = await context.new_page()
        await store.goto(f"{sz.zora.base_url}/demo?shop={shop}")
        await store.evaluate("window.Zora.ready")
        await store.get_by_role("button", name="Chat with us").click()
        composer = store.get_by_role("textbox", name="Message")
        await composer.fill("Do you ship the linen apron to Lyon?")
        await composer.press("Enter")
        root, post = (await workspace.wait_for_posts(3))[1:3]
        assert (root["channel"], post["channel"], post["text"]) == (
            NEW_CHANNEL,
            NEW_CHANNEL,
            "Do you ship the linen apron to Lyon?",
        )
        assert post["thread_ts"] == root["ts"]
        # Nothing of this shop reached the workspace SLACK_BOT_TOKEN serves.
        assert [p for p in first.posted if "linen apron" in str(p.get("text"))] == []

        assert await workspace.agent_reply(NEW_CHANNEL, root["ts"], "Yes, 3 to 5 days.", user=AGENT) == 200
        log = store.get_by_role("log")
        await expect(log).to_contain_text("Yes, 3 to 5 days.")
        await _shot(store, "4-first-reply")
        inbox = await context.new_page()
        await inbox.goto(workspace.inbox_url)
        await expect(inbox.locator("body")).to_contain_text("Do you ship the linen apron to Lyon?")
        await _shot(inbox, "5-slack-thread")

        # A setting changed on the page: the next shopper is greeted with it.
        await page.bring_to_front()
        await app.get_by_role("textbox", name="Greeting").first.fill("Welcome to Slow Goods!")
        await app.get_by_role("button", name="Save", exact=True).click()
        await expect(app.get_by_role("status")).to_contain_text("Saved (version 1)")
        other = await browser.new_context(locale="en-US")
        try:
            shopper = await other.new_page()
            await shopper.goto(f"{sz.zora.base_url}/demo?shop={shop}")
            await shopper.evaluate("window.Zora.ready")
            await shopper.get_by_role("button", name="Chat with us").click()
            await expect(shopper.get_by_role("log")).to_contain_text("Welcome to Slow Goods!")
            await remind_sooner(stack, page, app, shopper)
        finally:
            await other.close()
    finally:
        await context.close()


async def test_a_shop_shopify_installs_by_itself_is_installed_by_the_pages_first_load(
    stack: Stack, browser: Any
) -> None:
    """Shopify's managed install (shopify.app.toml: use_legacy_install_flow = false): Shopify installs the
    app and opens it in the admin; the page's first load trades its session token for the offline token."""
    sz = stack.sz
    shop = f"managed-{uuid.uuid4().hex[:6]}.myshopify.com"
    sz.shopify.managed_install = True
    context = await browser.new_context(locale="en-US")
    await context.route("https://cdn.shopify.com/**", lambda route: route.abort())
    try:
        page = await context.new_page()
        await page.goto(sz.shopify.listing_url)
        await page.get_by_label("Your shop").fill(shop)
        await page.get_by_role("button", name="Install").click()
        app = page.frame_locator("#app")
        await expect(app.locator("body")).to_have_attribute("data-ready", "1")
        await expect(app.get_by_role("status")).to_contain_text(shop)
        await expect(app.locator("#slack-state")).to_contain_text("Not connected to Slack.")
    finally:
        sz.shopify.managed_install = False
        await context.close()
    [row] = await sz.fetch("SELECT access_token, installed_at FROM shops WHERE domain = $1", shop)
    assert row["access_token"] and row["installed_at"] is not None
