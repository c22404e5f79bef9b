"""Two shops, each connected to its own Slack workspace through Add to Slack: each shop's posts go to
its own workspace with its own token, and each workspace's events reach only its own shop."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.bot.test_reply_reliability import _backfill, _run
from tests.harness import AGENT, CHANNEL, SIGNING_SECRET, Shopper
from tests.shopify.harness import ShopifyZora
from tests.widget.test_files import PDF
from tests.zora.test_slack_oauth import PUBLIC, _allow, _callback, _start
from tests.zora.test_slack_oauth import zora_options as zora_options
from zora.standins.slack import SlackStandIn

CHANNEL_B = "C0SHOPB001"


@pytest.fixture(scope="module")
async def two(sz: ShopifyZora) -> AsyncIterator[tuple[ShopifyZora, SlackStandIn, str, int]]:
    """Shop A connected to the stand-in's workspace, shop B to a second workspace served at the same
    API host; each with its channel."""
    a = sz.zora.standin
    b = SlackStandIn(
        bot_token="xoxb-workspace-b", signing_secret=SIGNING_SECRET, team_id="T0SHOPB001", bot_user_id="U0BOTB0001"
    )
    b.add_channel(CHANNEL_B, "shop-b-support")
    b.add_user(AGENT, "ada", "Ada Agent")
    await b.start()
    b.events_url = a.events_url
    a.join(b)
    shop_b = f"shop-b-{uuid.uuid4().hex[:6]}.myshopify.com"
    sz.shopify.add_shop(shop_b, "Shop B")
    await sz.install()
    shop_b_id = await sz.install(shop_b)
    async with aiohttp.ClientSession() as http:
        # Shop A: Allow in workspace A.
        authorize, state = await _start(sz, http)
        assert (await _callback(sz, http, await _allow(http, authorize), state))[0] == 200
        # Shop B's merchant picks workspace B on Slack's page.
        authorize, state = await _start(sz, http, shop=shop_b)
        redirect = parse_qs(urlsplit(authorize).query)["redirect_uri"][0]
        assert redirect.startswith(PUBLIC)
        assert (await _callback(sz, http, b.approve(redirect, state), state))[0] == 200
    await sz.fetch("UPDATE shops SET slack_channel_id = $2 WHERE id = $1", sz.shop_id, CHANNEL)
    await sz.fetch("UPDATE shops SET slack_channel_id = $2 WHERE id = $1", shop_b_id, CHANNEL_B)
    try:
        yield sz, b, shop_b, shop_b_id
    finally:
        await b.stop()


async def _shopper(sz: ShopifyZora, shop: str) -> Shopper:
    return await sz.zora.shopper((await sz.zora.session(shop=shop))["token"])


async def test_each_shop_posts_to_its_own_workspace_and_hears_only_its_own(
    two: tuple[ShopifyZora, SlackStandIn, str, int],
) -> None:
    sz, b, shop_b, shop_b_id = two
    a = sz.zora.standin
    shopper_a = await _shopper(sz, sz.shop)
    shopper_b = await _shopper(sz, shop_b)

    await shopper_a.send("A asks")
    await shopper_b.send("B asks")
    root_a, post_a = await a.wait_for_posts(2)
    root_b, post_b = await b.wait_for_posts(2)

    assert (root_a["channel"], post_a["text"]) == (CHANNEL, "A asks")
    assert (root_b["channel"], post_b["text"]) == (CHANNEL_B, "B asks")
    assert [p["text"] for p in a.posted if p["text"] == "B asks"] == []
    assert [p["text"] for p in b.posted if p["text"] == "A asks"] == []
    # Workspace B was called with its own token only (calls carrying A's token are answered by A).
    assert any(method == "chat.postMessage" for method, _ in b.calls)
    threads = await sz.fetch("SELECT shop_id, team_id FROM slack_threads ORDER BY shop_id")
    assert {(r["shop_id"], r["team_id"]) for r in threads} == {(sz.shop_id, a.team_id), (shop_b_id, b.team_id)}

    assert await b.agent_reply(CHANNEL_B, root_b["ts"], "Hello B", user=AGENT) == 200
    assert await a.agent_reply(CHANNEL, root_a["ts"], "Hello A", user=AGENT) == 200
    await shopper_b.wait_for(lambda: len(shopper_b.agent_messages()) == 1)
    await shopper_a.wait_for(lambda: len(shopper_a.agent_messages()) == 1)

    assert [m["body"] for m in shopper_b.agent_messages()] == ["Hello B"]
    assert [m["body"] for m in shopper_a.agent_messages()] == ["Hello A"]


async def test_an_agents_file_is_fetched_with_its_own_workspaces_token(
    two: tuple[ShopifyZora, SlackStandIn, str, int],
) -> None:
    sz, b, shop_b, shop_b_id = two
    shopper_b = await _shopper(sz, shop_b)
    posted = len(b.posted)
    await shopper_b.send("B sends a question")
    root = [p for p in await b.wait_for_posts(posted + 2) if not p["thread_ts"]][-1]
    downloads = len(b.downloads)

    assert await b.share_file(CHANNEL_B, root["ts"], "label.pdf", PDF, "application/pdf", "See the label") == 200
    states: list[str] = []
    for _ in range(600):
        states = [
            r["state"]
            for r in await sz.fetch("SELECT state FROM files WHERE shop_id = $1 AND origin = 'agent'", shop_b_id)
        ]
        if states and "pending" not in states:
            break
        await asyncio.sleep(0.05)

    assert states == ["ready"]
    assert len(b.downloads) == downloads + 1


async def test_a_missed_reply_is_read_back_from_its_own_workspace(
    two: tuple[ShopifyZora, SlackStandIn, str, int],
) -> None:
    sz, b, shop_b, _ = two
    shopper_b = await _shopper(sz, shop_b)
    posted = len(b.posted)
    await shopper_b.send("B asks again")
    root = [p for p in await b.wait_for_posts(posted + 2) if not p["thread_ts"]][-1]
    # Slack never delivered this reply's event: the backfill reads it from workspace B's thread.
    assert await b.agent_reply(CHANNEL_B, root["ts"], "read back from B", user=AGENT, deliver=False) == 0
    async with _backfill(sz.zora) as backfill:
        result = await _run(backfill)

    assert result.replies_stored >= 1
    await shopper_b.wait_for(lambda: [m["body"] for m in shopper_b.agent_messages()] == ["read back from B"])
