"""A workspace removes Zora (app_uninstalled, tokens_revoked): the shop shows "Slack disconnected",
shoppers' messages wait with nothing lost, and adding Zora to Slack again delivers them in order."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.bot.test_slack_health import _sweep
from tests.harness import CHANNEL
from tests.shopify.harness import ShopifyZora
from tests.zora.test_admin_api import call
from tests.zora.test_slack_oauth import _allow, _callback, _start
from tests.zora.test_slack_oauth import zora_options as zora_options  # the same Slack app settings


async def _connect(sz: ShopifyZora) -> None:
    async with aiohttp.ClientSession() as http:
        authorize, state = await _start(sz, http)
        status, page = await _callback(sz, http, await _allow(http, authorize), state)
        assert status == 200, page


@pytest.fixture(scope="module")
async def connected(sz: ShopifyZora) -> AsyncIterator[ShopifyZora]:
    await sz.install()
    await _connect(sz)
    await sz.fetch("UPDATE shops SET slack_channel_id = $2 WHERE id = $1", sz.shop_id, CHANNEL)
    yield sz


async def _revoked(sz: ShopifyZora) -> Any:
    return await sz.fetchrow(
        "SELECT i.revoked_at, s.slack_error FROM slack_installations i JOIN shops s ON s.slack_team_id = i.team_id"
        " WHERE s.id = $1",
        sz.shop_id,
    )


@pytest.mark.parametrize(
    "event",
    [{"type": "app_uninstalled"}, {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0ZORABOT1"]}}],
    ids=["app_uninstalled", "tokens_revoked"],
)
async def test_removed_then_added_again_delivers_what_waited_in_order(
    connected: ShopifyZora, event: dict[str, Any]
) -> None:
    sz = connected
    slack = sz.zora.standin
    shopper = await sz.zora.shopper((await sz.zora.session())["token"])
    await shopper.send("before", client_id="b")
    await shopper.wait_for(lambda: any(s["status"] == "delivered" for s in shopper.statuses))
    posted = len(slack.posted)

    slack.rotate_token()
    assert await slack.deliver_event(event, event_id=f"Ev{uuid.uuid4().hex[:10]}") == 200
    row = await _revoked(sz)
    assert row["revoked_at"] is not None and row["slack_error"] == "token_revoked"
    status, answer = await call(sz, "GET", "slack")
    assert (status, answer["state"]) == (200, "disconnected"), answer
    for i in range(3):
        assert (await shopper.send(f"waiting {i}", client_id=f"w{i}"))["ok"]
    # All three wait (none still on its way) before Zora is added again.
    await shopper.wait_for(
        lambda: {s["client_id"] for s in shopper.statuses if s["status"] == "undelivered"} >= {"w0", "w1", "w2"}
    )
    assert len(slack.posted) == posted

    await _connect(sz)
    assert await _sweep(sz.zora) == 1
    posts = await slack.wait_for_posts(posted + 3)

    assert [p["text"] for p in posts[posted:]] == ["waiting 0", "waiting 1", "waiting 2"]
    await shopper.wait_for(
        lambda: {s["client_id"] for s in shopper.statuses if s["status"] == "delivered"} >= {"w0", "w1", "w2"}
    )
    status, answer = await call(sz, "GET", "slack")
    assert answer["state"] == "ok", answer
