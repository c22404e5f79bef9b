"""Add to Slack (zora/slack_oauth.py, zora/slack_connect.py) end to end against the Slack stand-in's
authorize page and oauth.v2.access: the shop comes from the admin session token through the state,
the state is checked against the browser's cookie and used once, and the bot token is sealed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.shopify.harness import ShopifyZora
from tests.zora.test_admin_api import call, token
from zora.standins.slack.oauth import CLIENT_ID, CLIENT_SECRET

PUBLIC = "https://zora.example"


@pytest.fixture(scope="module")
def zora_options() -> dict[str, Any]:
    return {"slack_client_id": CLIENT_ID, "slack_client_secret": CLIENT_SECRET, "public_url": PUBLIC}


@pytest.fixture(scope="module")
async def installed(sz: ShopifyZora) -> AsyncIterator[ShopifyZora]:
    await sz.install()
    yield sz


def _local(sz: ShopifyZora, url: str) -> str:
    """A link Zora gave under its public URL, reached at the test server."""
    assert url.startswith(PUBLIC), url
    return sz.zora.base_url + url.removeprefix(PUBLIC)


async def _start(sz: ShopifyZora, http: aiohttp.ClientSession, shop: str | None = None) -> tuple[str, str]:
    """Add to Slack from the admin page, then the install link: (Slack's authorize URL, the state)."""
    status, answer = await call(sz, "POST", "slack/install", bearer=token(shop or sz.shop))
    assert status == 200, answer
    async with http.get(_local(sz, answer["url"]), allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
        state = parse_qs(urlsplit(answer["url"]).query)["state"][0]
        assert resp.cookies["slack-app-oauth-state"].value == state
        return resp.headers["Location"], state


async def _allow(http: aiohttp.ClientSession, authorize: str) -> str:
    """The person clicks Allow in Slack: where Slack sends the browser back."""
    async with http.post(authorize, data={"allow": "1"}, allow_redirects=False) as resp:
        assert resp.status == 302
        return resp.headers["Location"]


async def _callback(sz: ShopifyZora, http: aiohttp.ClientSession, back: str, cookie: str) -> tuple[int, str]:
    async with http.get(
        _local(sz, back), headers={"Cookie": f"slack-app-oauth-state={cookie}"}, allow_redirects=False
    ) as resp:
        return resp.status, await resp.text()


async def _installations(sz: ShopifyZora) -> list[Any]:
    return await sz.fetch("SELECT team_id, bot_token, bot_scopes FROM slack_installations")


async def test_add_to_slack_connects_the_shop_and_seals_the_token(installed: ShopifyZora) -> None:
    sz = installed
    async with aiohttp.ClientSession() as http:
        authorize, state = await _start(sz, http)
        assert authorize.startswith(sz.zora.standin.base_url.removesuffix("api/") + "oauth/v2/authorize")
        status, page = await _callback(sz, http, await _allow(http, authorize), state)
        replay = await _callback(sz, http, await _allow(http, authorize), state)

    assert status == 200, page
    assert "Slack connected" in page
    [row] = [r for r in await _installations(sz) if r["team_id"] == sz.zora.standin.team_id]
    assert row["bot_token"].startswith("zora1:")
    assert sz.zora.standin.bot_token not in row["bot_token"]
    assert "chat:write" in row["bot_scopes"]
    shop = await sz.fetchrow("SELECT slack_team_id FROM shops WHERE id = $1", sz.shop_id)
    assert shop["slack_team_id"] == sz.zora.standin.team_id
    # A state is good once.
    assert replay[0] == 401
    status, answer = await call(sz, "GET", "slack")
    assert status == 200 and answer["state"] in ("ok", "no_channel", "error"), answer
    assert answer["team"]["id"] == sz.zora.standin.team_id


async def test_a_state_from_another_browser_is_refused(installed: ShopifyZora) -> None:
    sz = installed
    await sz.fetch("DELETE FROM slack_installations")
    async with aiohttp.ClientSession() as http:
        authorize, _state = await _start(sz, http)
        _other_authorize, other_state = await _start(sz, http)
        # Slack came back with one state; this browser's cookie holds another.
        status, page = await _callback(sz, http, await _allow(http, authorize), other_state)

    assert status == 400, page
    assert "did not start this install" in page
    assert await _installations(sz) == []


async def test_an_unknown_state_is_refused(installed: ShopifyZora) -> None:
    sz = installed
    await sz.fetch("DELETE FROM slack_installations")
    async with aiohttp.ClientSession() as http:
        authorize, _state = await _start(sz, http)
        forged = authorize.replace("state=", "state=forged")
        back = await _allow(http, forged)
        forged_state = parse_qs(urlsplit(back).query)["state"][0]
        status, _page = await _callback(sz, http, back, forged_state)

    assert status == 401
    assert await _installations(sz) == []


async def test_the_install_link_needs_the_shops_session(installed: ShopifyZora) -> None:
    sz = installed
    status, _ = await call(sz, "POST", "slack/install", bearer=None)
    other, _ = await call(sz, "POST", "slack/install", bearer=token("not-installed.myshopify.com"))
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{sz.zora.base_url}/slack/install?state=made-up", allow_redirects=False) as resp,
    ):
        made_up = resp.status

    assert (status, other, made_up) == (401, 401, 400)


async def test_a_shop_uninstalled_meanwhile_is_not_connected(installed: ShopifyZora) -> None:
    sz = installed
    await sz.fetch("DELETE FROM slack_installations")
    await sz.fetch("UPDATE shops SET slack_team_id = NULL WHERE id = $1", sz.shop_id)
    async with aiohttp.ClientSession() as http:
        authorize, state = await _start(sz, http)
        await sz.fetch("UPDATE shops SET uninstalled_at = now() WHERE id = $1", sz.shop_id)
        try:
            status, _page = await _callback(sz, http, await _allow(http, authorize), state)
        finally:
            await sz.fetch("UPDATE shops SET uninstalled_at = NULL WHERE id = $1", sz.shop_id)

    assert status == 500
    assert await _installations(sz) == []
    shop = await sz.fetchrow("SELECT slack_team_id FROM shops WHERE id = $1", sz.shop_id)
    assert shop["slack_team_id"] is None


async def test_a_shop_without_a_workspace_of_its_own_is_served_by_the_bot_token(installed: ShopifyZora) -> None:
    """The self-hoster's single workspace (SLACK_BOT_TOKEN): no Add to Slack needed."""
    sz = installed
    await sz.fetch("UPDATE shops SET slack_team_id = NULL, slack_channel_id = 'C0SUPPORT1' WHERE id = $1", sz.shop_id)

    await sz.fetch("DELETE FROM slack_installations")
    slack = sz.zora.standin
    shopper = await sz.zora.shopper((await sz.zora.session())["token"])
    await shopper.send("served by the bot token")
    posted = await slack.wait_for_posts(2)
    root = next(p for p in reversed(posted) if not p.get("thread_ts"))
    # The agent's reply is an event from that workspace: bolt authorises it with SLACK_BOT_TOKEN.
    assert await slack.agent_reply("C0SUPPORT1", root["ts"], "answered", user="U0AGENT001") == 200
    await shopper.wait_for(lambda: len(shopper.agent_messages()) == 1)

    status, answer = await call(sz, "GET", "slack")

    assert (status, answer["state"], answer["channel"]) == (200, "ok", "C0SUPPORT1"), answer
    assert shopper.agent_messages()[0]["body"] == "answered"
