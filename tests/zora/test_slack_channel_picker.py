"""The settings page's channel picker (zora/slack_connect.py): the channels of the shop's own
workspace the bot can use, choosing one (a public one is joined), a test post, and clear refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.bot.test_slack_uninstall import _connect
from tests.harness import CHANNEL
from tests.shopify.harness import ShopifyZora
from tests.zora.test_admin_api import call
from tests.zora.test_slack_oauth import zora_options as zora_options  # the same Slack app settings


@pytest.fixture(scope="module")
async def picker(sz: ShopifyZora) -> AsyncIterator[ShopifyZora]:
    slack = sz.zora.standin
    slack.add_channel("C0GENERAL1", "general", bot_in=False)
    slack.add_channel("C0SECRET01", "secret", private=True, bot_in=False)
    slack.add_channel("C0PRIVATE1", "private-support", private=True)
    slack.add_channel("C0OLD00001", "old", archived=True)
    await sz.install()
    await _connect(sz)
    yield sz


async def test_lists_the_channels_the_bot_can_use(picker: ShopifyZora) -> None:
    status, answer = await call(picker, "GET", "slack/channels")

    assert status == 200, answer
    assert {c["id"]: (c["name"], c["is_private"], c["is_member"]) for c in answer["channels"]} == {
        CHANNEL: ("support", False, True),
        "C0GENERAL1": ("general", False, False),
        "C0PRIVATE1": ("private-support", True, True),
    }
    assert answer["next_cursor"] is None


async def test_choosing_a_public_channel_joins_it_and_a_test_post_arrives(picker: ShopifyZora) -> None:
    slack = picker.zora.standin
    status, answer = await call(picker, "PUT", "slack/channel", {"channel": "C0GENERAL1"})
    assert (status, answer["channel"]) == (200, "C0GENERAL1"), answer
    assert ("conversations.join", {"channel": "C0GENERAL1"}) in slack.calls
    row = await picker.fetchrow("SELECT slack_channel_id FROM shops WHERE id = $1", picker.shop_id)
    assert row["slack_channel_id"] == "C0GENERAL1"

    status, answer = await call(picker, "POST", "slack/test")

    assert status == 200, answer
    assert slack.posted[-1]["channel"] == "C0GENERAL1" and "Zora is connected" in slack.posted[-1]["text"]
    _, health = await call(picker, "GET", "slack")
    assert health["state"] == "ok" and health["channel"] == "C0GENERAL1"


@pytest.mark.parametrize(
    ("channel", "status", "code"),
    [
        ("C0SECRET01", 422, "not_in_channel"),
        ("C0OLD00001", 422, "is_archived"),
        ("C0NOWHERE1", 422, "channel_not_found"),
        ("no such/channel", 400, "bad_request"),
    ],
)
async def test_a_channel_that_cannot_be_used_is_refused_with_what_to_do(
    picker: ShopifyZora, channel: str, status: int, code: str
) -> None:
    before = await picker.fetchrow("SELECT slack_channel_id FROM shops WHERE id = $1", picker.shop_id)

    got, answer = await call(picker, "PUT", "slack/channel", {"channel": channel})

    assert (got, answer["error"]["code"]) == (status, code), answer
    assert answer["error"]["message"]
    after = await picker.fetchrow("SELECT slack_channel_id FROM shops WHERE id = $1", picker.shop_id)
    assert after["slack_channel_id"] == before["slack_channel_id"]


@pytest.mark.parametrize(
    ("error", "todo"),
    [("missing_scope", "Add Zora to Slack again"), ("is_archived", "archived"), ("not_in_channel", "/invite @Zora")],
)
async def test_slack_health_says_what_to_do(picker: ShopifyZora, error: str, todo: str) -> None:
    await picker.fetch(
        "UPDATE shops SET slack_error = $2, slack_channel_id = coalesce(slack_channel_id, $3) WHERE id = $1",
        picker.shop_id,
        error,
        CHANNEL,
    )
    try:
        status, answer = await call(picker, "GET", "slack")
    finally:
        await picker.fetch("UPDATE shops SET slack_error = NULL WHERE id = $1", picker.shop_id)

    assert (status, answer["state"], answer["error"]) == (200, "error", error), answer
    assert todo in answer["todo"]
