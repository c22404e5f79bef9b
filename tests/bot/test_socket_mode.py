"""Socket Mode: with SLACK_APP_TOKEN set, Slack's events arrive over a websocket Zora opens
(apps.connections.open), acknowledged by envelope id; the same listeners answer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import CHANNEL, running_zora
from zora.errors import ConfigError

APP_TOKEN = "xapp-1-A0ZORAAPP1-1-test"


async def test_agent_reply_arrives_over_socket_mode(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url, slack_app_token=APP_TOKEN, standin_app_token=APP_TOKEN) as zora:
        # No HTTP events URL at all: only the websocket can bring the reply.
        zora.standin.events_url = None
        shopper = await zora.shopper()
        assert (await shopper.send("hello over sockets"))["ok"]
        root = (await zora.standin.wait_for_posts(2))[0]
        assert await zora.standin.agent_reply(CHANNEL, root["ts"], "hi, via Socket Mode") == 200
        await shopper.wait_for(lambda: bool(shopper.agent_messages()))
        assert shopper.agent_messages()[0]["body"] == "hi, via Socket Mode"
        # Buttons come the same way (interactive envelopes).
        assert await zora.standin.press_button(CHANNEL, root["ts"], "zora_claim", "x") == 200
        rows = await zora.fetch("SELECT status FROM conversations WHERE shop_id = $1", zora.shop_id)
        assert [r["status"] for r in rows] == ["assigned"]


async def test_wrong_app_token_stops_start_up_with_a_clear_error(infra: Any, database_url: str) -> None:
    with pytest.raises(ConfigError, match=r"SLACK_APP_TOKEN was refused by Slack \(invalid_auth\)"):
        async with running_zora(infra, database_url, slack_app_token="xapp-wrong", standin_app_token=APP_TOKEN):
            pass


async def test_socket_mode_with_add_to_slack_is_refused_at_start(infra: Any, database_url: str) -> None:
    """A Socket Mode app serves its own workspace only: with Add to Slack, shops that added theirs would
    never hear their agents, so the start stops instead."""
    with pytest.raises(ConfigError, match=r"SLACK_APP_TOKEN \(Socket Mode\) serves one workspace"):
        async with running_zora(
            infra,
            database_url,
            slack_app_token=APP_TOKEN,
            standin_app_token=APP_TOKEN,
            slack_client_id="1.2",
            slack_client_secret="secret",
        ):
            pass
