"""The Slack card's admin API (zora/slack_connect.py) for two shops connected to two workspaces: each shop's
session token shows, lists, picks and tests in its own workspace only; and every bad session token is
refused on every Slack route with nothing changed (issue 11 §6)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.harness import CHANNEL, SIGNING_SECRET
from tests.shopify.harness import ShopifyZora
from tests.zora.test_admin_api import BAD_TOKENS, call, token
from tests.zora.test_slack_oauth import _allow, _callback, _start
from tests.zora.test_slack_oauth import zora_options as zora_options  # the same Slack app settings
from zora.standins.slack import SlackStandIn

CHANNEL_B = "C0ISOB0001"


@dataclass
class Two:
    sz: ShopifyZora
    b: SlackStandIn
    shop_b: str
    shop_b_id: int


@pytest.fixture(scope="module")
async def two(sz: ShopifyZora) -> AsyncIterator[Two]:
    """Shop A added Zora to the stand-in's workspace, shop B to a second one; neither picked a channel yet."""
    a = sz.zora.standin
    b = SlackStandIn(
        bot_token="xoxb-iso-b", signing_secret=SIGNING_SECRET, team_id="T0ISOB0001", bot_user_id="U0ISOBOT1"
    )
    b.team_name = "Workspace B"
    b.add_channel(CHANNEL_B, "b-support")
    await b.start()
    a.join(b)
    shop_b = f"iso-b-{uuid.uuid4().hex[:6]}.myshopify.com"
    sz.shopify.add_shop(shop_b, "Shop B")
    await sz.install()
    shop_b_id = await sz.install(shop_b)
    async with aiohttp.ClientSession() as http:
        authorize, state = await _start(sz, http)
        assert (await _callback(sz, http, await _allow(http, authorize), state))[0] == 200
        authorize, state = await _start(sz, http, shop=shop_b)
        redirect = parse_qs(urlsplit(authorize).query)["redirect_uri"][0]
        assert (await _callback(sz, http, b.approve(redirect, state), state))[0] == 200
    try:
        yield Two(sz, b, shop_b, shop_b_id)
    finally:
        await b.stop()


async def test_each_shop_sees_lists_picks_and_tests_in_its_own_workspace_only(two: Two) -> None:
    sz, b, bearer_b = two.sz, two.b, token(two.shop_b)
    a = sz.zora.standin

    _, status_a = await call(sz, "GET", "slack")
    _, status_b = await call(sz, "GET", "slack", bearer=bearer_b)
    _, channels_a = await call(sz, "GET", "slack/channels")
    _, channels_b = await call(sz, "GET", "slack/channels", bearer=bearer_b)
    # Each shop names a channel of the other's workspace: unknown in its own.
    cross_a = await call(sz, "PUT", "slack/channel", {"channel": CHANNEL_B})
    cross_b = await call(sz, "PUT", "slack/channel", {"channel": CHANNEL}, bearer=bearer_b)

    assert (status_a["team"]["id"], status_b["team"]["id"]) == (a.team_id, b.team_id)
    assert status_b["team"]["name"] == "Workspace B"
    assert CHANNEL in {c["id"] for c in channels_a["channels"]}
    assert {c["id"] for c in channels_b["channels"]} == {CHANNEL_B}
    assert (cross_a[0], cross_b[0]) == (422, 422), (cross_a, cross_b)
    rows = await sz.fetch("SELECT id, slack_channel_id FROM shops WHERE id = ANY($1)", [sz.shop_id, two.shop_b_id])
    assert {r["slack_channel_id"] for r in rows} == {None}

    assert (await call(sz, "PUT", "slack/channel", {"channel": CHANNEL_B}, bearer=bearer_b))[0] == 200
    posted_a = len(a.posted)
    assert (await call(sz, "POST", "slack/test", bearer=bearer_b))[0] == 200

    assert [p["channel"] for p in b.posted] == [CHANNEL_B]
    assert len(a.posted) == posted_a


async def test_a_shop_with_no_workspace_of_its_own_gets_nothing_of_the_operators(two: Two) -> None:
    """With Add to Slack, SLACK_BOT_TOKEN's workspace (where shop A is) is not lent to a shop that just
    installed: it cannot list that workspace's channels, pick one, or post there."""
    sz = two.sz
    newcomer = f"newcomer-{uuid.uuid4().hex[:6]}.myshopify.com"
    sz.shopify.add_shop(newcomer, "Newcomer")
    newcomer_id = await sz.install(newcomer)
    bearer = token(newcomer)
    posted = len(sz.zora.standin.posted)

    _, status = await call(sz, "GET", "slack", bearer=bearer)
    listed = await call(sz, "GET", "slack/channels", bearer=bearer)
    chosen = await call(sz, "PUT", "slack/channel", {"channel": CHANNEL}, bearer=bearer)
    tested = await call(sz, "POST", "slack/test", bearer=bearer)

    assert (status["state"], status["team"]) == ("not_connected", None)
    assert (listed[0], listed[1]["error"]["code"]) == (409, "not_connected")
    assert "channels" not in listed[1]
    assert chosen[0] == 409 and tested[0] == 422
    [row] = await sz.fetch("SELECT slack_channel_id FROM shops WHERE id = $1", newcomer_id)
    assert row["slack_channel_id"] is None
    assert len(sz.zora.standin.posted) == posted
    assert not any(method == "conversations.join" for method, _ in sz.zora.standin.calls[-10:])


ROUTES = [
    ("GET", "slack", None),
    ("POST", "slack/install", None),
    ("GET", "slack/channels", None),
    ("PUT", "slack/channel", {"channel": CHANNEL}),
    ("POST", "slack/test", None),
]


@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_every_slack_route_refuses_a_bad_session_token_and_changes_nothing(two: Two, case: str) -> None:
    sz = two.sz
    before = await sz.fetch("SELECT id, slack_team_id, slack_channel_id FROM shops ORDER BY id")
    states = await sz.fetch("SELECT count(*) AS n FROM slack_oauth_states")
    posted = (len(sz.zora.standin.posted), len(two.b.posted))

    for method, path, body in ROUTES:
        status, answer = await call(sz, method, path, body, bearer=BAD_TOKENS[case](sz.shop))
        assert status == 401, (case, method, path, answer)
        assert "url" not in answer and "channels" not in answer

    assert await sz.fetch("SELECT id, slack_team_id, slack_channel_id FROM shops ORDER BY id") == before
    assert await sz.fetch("SELECT count(*) AS n FROM slack_oauth_states") == states
    assert (len(sz.zora.standin.posted), len(two.b.posted)) == posted
