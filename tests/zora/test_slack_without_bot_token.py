"""A hosted Zora serving only workspaces added through Add to Slack (issue 11, "no environment variable per
shop"): no SLACK_BOT_TOKEN at all. It starts; a shop that has not connected Slack keeps its shoppers'
messages waiting, in order, and they reach its channel once it adds Zora to its workspace; compliance
erasures and `zora doctor` speak to the shop's own workspace."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.bot.test_slack_health import _doctor, _sweep
from tests.harness import CHANNEL, Shopper
from tests.shopify.harness import ShopifyZora
from tests.zora.test_admin_api import call, token
from tests.zora.test_slack_oauth import PUBLIC, _allow, _callback, _start
from zora.app.cluster import WEB, WORKER, Cluster
from zora.shopify.samples import sample_payload
from zora.standins.slack.oauth import CLIENT_ID, CLIENT_SECRET


@pytest.fixture(scope="module")
def zora_options() -> dict[str, Any]:
    return {
        "slack_client_id": CLIENT_ID,
        "slack_client_secret": CLIENT_SECRET,
        "public_url": PUBLIC,
        "slack_bot_token": None,
    }


@pytest.fixture(scope="module")
async def shop(sz: ShopifyZora) -> AsyncIterator[ShopifyZora]:
    """A shop just installed from Shopify: no workspace, no channel yet."""
    assert sz.zora.settings.slack_bot_token is None
    await sz.install()
    await sz.fetch("UPDATE shops SET slack_channel_id = NULL WHERE id = $1", sz.shop_id)
    yield sz


async def _connect(sz: ShopifyZora) -> None:
    """The merchant adds Zora to Slack from the settings page and picks the channel there."""
    async with aiohttp.ClientSession() as http:
        authorize, state = await _start(sz, http)
        status, page = await _callback(sz, http, await _allow(http, authorize), state)
        assert status == 200, page
    status, answer = await call(sz, "PUT", "slack/channel", {"channel": CHANNEL})
    assert status == 200, answer


async def _statuses(shopper: Shopper, status: str, client_ids: set[str]) -> None:
    await shopper.wait_for(lambda: {s["client_id"] for s in shopper.statuses if s["status"] == status} >= client_ids)


async def test_a_shop_not_connected_waits_then_gets_its_messages_in_order(shop: ShopifyZora) -> None:
    sz = shop
    slack = sz.zora.standin
    status, answer = await call(sz, "GET", "slack")
    assert (status, answer["state"]) == (200, "not_connected"), answer
    shopper = await sz.zora.shopper()
    for i in range(3):
        assert (await shopper.send(f"waiting {i}", client_id=f"w{i}"))["ok"]
    await _statuses(shopper, "undelivered", {"w0", "w1", "w2"})
    assert slack.posted == []
    code, report = await _doctor(sz.zora)
    assert code == 1
    assert "no SLACK_BOT_TOKEN: Add to Slack only" in report
    assert f"{sz.shop}: channel -, NOT CONNECTED to Slack" in report and "3 message(s) waiting" in report
    assert "adds Zora to its Slack workspace from its settings page" in report

    await _connect(sz)
    await _sweep(sz.zora)
    posts = await slack.wait_for_posts(4)
    await _statuses(shopper, "delivered", {"w0", "w1", "w2"})
    assert [p["text"] for p in posts[1:4]] == ["waiting 0", "waiting 1", "waiting 2"]
    assert {p["channel"] for p in posts} == {CHANNEL}
    assert all(p["thread_ts"] == posts[0]["ts"] for p in posts[1:4])

    # Connected: the next message goes straight to the channel, and the page and doctor say all is well.
    assert (await shopper.send("and now?", client_id="n"))["ok"]
    assert (await slack.wait_for_posts(5))[4]["text"] == "and now?"
    status, answer = await call(sz, "GET", "slack")
    assert (answer["state"], answer["team"]["id"]) == ("ok", slack.team_id), answer
    code, report = await _doctor(sz.zora)
    assert (code, "all good") == (0, report.splitlines()[-1]), report
    assert f"({slack.team_id}): ok (bot {slack.bot_user_id}); shops: {sz.shop}" in report


async def test_a_shop_with_a_channel_but_no_workspace_waits_without_asking_slack(shop: ShopifyZora) -> None:
    """A channel named for a shop (SLACK_DEFAULT_CHANNEL, or its workspace removed Zora) is no workspace:
    with no SLACK_BOT_TOKEN, its messages wait and the minute sweep asks Slack nothing about it."""
    sz = shop
    slack = sz.zora.standin
    other = f"no-slack-{uuid.uuid4().hex[:6]}.myshopify.com"
    sz.shopify.add_shop(other, "No Slack")
    other_id = await sz.install(other)
    await sz.fetch("UPDATE shops SET slack_channel_id = $2 WHERE id = $1", other_id, CHANNEL)
    shopper = await sz.zora.shopper((await sz.zora.session(shop=other))["token"])
    posted, sent = len(slack.posted), len(slack.calls)
    for i in range(2):
        assert (await shopper.send(f"hello {i}", client_id=f"h{i}"))["ok"]
    await _statuses(shopper, "undelivered", {"h0", "h1"})
    # Refused as Slack would refuse a call with no token (not_authed), without asking it.
    assert "chat.postMessage" not in [method for method, _ in slack.calls[sent:]]
    calls = len(slack.calls)

    await _sweep(sz.zora)

    # (The connected shop's open thread is read for missed replies, conversations.replies: not this shop's.)
    assert "conversations.info" not in [method for method, _ in slack.calls[calls:]]
    assert len(slack.posted) == posted
    rows = await sz.fetch("SELECT status FROM messages WHERE shop_id = $1", other_id)
    assert [r["status"] for r in rows] == ["undelivered", "undelivered"]
    status, answer = await call(sz, "GET", "slack", bearer=token(other))
    assert (status, answer["state"]) == (200, "not_connected"), answer


async def test_customers_redact_erases_in_the_shops_own_workspace(shop: ShopifyZora) -> None:
    sz = shop
    if (await sz.fetchrow("SELECT slack_team_id FROM shops WHERE id = $1", sz.shop_id))["slack_team_id"] is None:
        await _connect(sz)
    slack = sz.zora.standin
    created = sample_payload("customers/create", sz.shop)
    assert (await sz.deliver("customers/create", created, shop=sz.shop)).status == "processed"
    _, session = await sz.proxy_session(created["id"])
    shopper = await sz.zora.shopper(session["token"])
    before = len(slack.posted)
    assert (await shopper.send("my address is 1 Main St", client_id="addr"))["ok"]
    words = next(p for p in await slack.wait_for_posts(before + 2) if p["text"] == "my address is 1 Main St")

    redact = sample_payload("customers/redact", sz.shop)
    redact["customer"] = {**redact.get("customer", {}), "id": created["id"], "email": created["email"]}
    assert (await sz.deliver("customers/redact", redact, shop=sz.shop)).status == "processed"

    assert words["ts"] in {d["ts"] for d in slack.deleted}
    assert "my address is 1 Main St" not in [m["text"] for m in slack.thread(CHANNEL, words["thread_ts"])]


async def test_shop_redact_erases_in_the_workspace_the_shop_had_added(shop: ShopifyZora) -> None:
    """shop/redact deletes the shop's row first: where its Slack copies are was read before."""
    sz = shop
    slack = sz.zora.standin
    gone = f"gone-{uuid.uuid4().hex[:6]}.myshopify.com"
    sz.shopify.add_shop(gone, "Gone")
    gone_id = await sz.install(gone)
    async with aiohttp.ClientSession() as http:
        authorize, state = await _start(sz, http, shop=gone)
        assert (await _callback(sz, http, await _allow(http, authorize), state))[0] == 200
    assert (await call(sz, "PUT", "slack/channel", {"channel": CHANNEL}, bearer=token(gone)))[0] == 200
    shopper = await sz.zora.shopper((await sz.zora.session(shop=gone))["token"])
    before = len(slack.posted)
    assert (await shopper.send("my card number is secret", client_id="card"))["ok"]
    posts = await slack.wait_for_posts(before + 2)
    root, words = next(p for p in posts[before:] if "thread_ts" not in p or not p["thread_ts"]), posts[-1]
    assert words["text"] == "my card number is secret"
    # Uninstalled from Shopify; 48 hours later Shopify sends shop/redact.
    await sz.fetch("UPDATE shops SET access_token = NULL, uninstalled_at = now() WHERE id = $1", gone_id)

    outcome = await sz.deliver("shop/redact", sample_payload("shop/redact", gone), shop=gone)

    assert outcome.status == "processed", outcome
    assert {words["ts"], root["ts"]} <= {d["ts"] for d in slack.deleted}


async def test_doctor_says_what_to_do_when_a_workspace_token_is_revoked(shop: ShopifyZora) -> None:
    sz = shop
    if (await sz.fetchrow("SELECT slack_team_id FROM shops WHERE id = $1", sz.shop_id))["slack_team_id"] is None:
        await _connect(sz)
    sz.zora.standin.rotate_token()  # the stored token no longer works

    code, report = await _doctor(sz.zora)

    assert code == 1
    assert f"({sz.zora.standin.team_id}): SLACK ERROR invalid_auth; shops: {sz.shop}" in report
    assert "the token was revoked or refused: add Zora to Slack again from the shop's settings page" in report

    # Slack then tells Zora the workspace removed it.
    event = {"type": "app_uninstalled"}
    assert await sz.zora.standin.deliver_event(event, event_id=f"Ev{uuid.uuid4().hex[:10]}") == 200
    code, report = await _doctor(sz.zora)
    assert code == 1
    assert f"({sz.zora.standin.team_id}): REMOVED Zora on " in report and f"shops: {sz.shop}" in report
    assert "the workspace removed Zora or revoked its token: add Zora to Slack again" in report


async def test_zora_web_and_worker_start_without_a_bot_token(sz: ShopifyZora) -> None:
    """What `zora web` and `zora worker` run, each a process of its own, with this module's settings."""
    settings = sz.zora.settings.with_values(temporal_task_queue=f"zora-nobot-{uuid.uuid4().hex[:8]}")
    cluster = Cluster(run=f"nobot-{uuid.uuid4().hex[:8]}")
    try:
        web = await cluster.start(WEB, settings)
        await cluster.start(WORKER, settings)
        async with sz.zora.http.get(f"http://127.0.0.1:{web.port}/readyz") as resp:
            assert resp.status == 200, await resp.text()
        assert len(cluster.alive()) == 2
    finally:
        await cluster.stop()
