"""Seen, both ways: the shopper's widget reports a reply seen and Slack shows it (a reaction); an
agent reacting to a shopper's message shows as "seen" in the widget."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.harness import CHANNEL, running_zora


async def test_seen_both_ways(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url) as zora:
        shopper = await zora.shopper()
        assert (await shopper.send("first", client_id="s1"))["ok"]
        assert (await shopper.send("second", client_id="s2"))["ok"]
        root, _first, second = await zora.standin.wait_for_posts(3)

        # An agent reacts to the second message: both of the shopper's messages read as seen.
        assert await zora.standin.react(CHANNEL, second["ts"], "thumbsup") == 200
        await shopper.wait_for(
            lambda: {s["client_id"] for s in shopper.statuses if s["status"] == "seen"} == {"s1", "s2"}
        )
        # A reaction on the bot's own root post is not about a shopper message: nothing more.
        assert await zora.standin.react(CHANNEL, root["ts"], "eyes") == 200

        assert await zora.standin.agent_reply(CHANNEL, root["ts"], "on it") == 200
        await shopper.wait_for(lambda: bool(shopper.agent_messages()))
        reply = shopper.agent_messages()[0]
        assert (await shopper.call("seen", {"upto_seq": reply["seq"]}))["ok"]

        def slack_reply() -> dict[str, Any]:
            return next(m for m in zora.standin.thread(CHANNEL, root["ts"]) if m["text"] == "on it")

        for _ in range(200):
            if slack_reply().get("reactions"):
                break
            await asyncio.sleep(0.05)
        assert slack_reply().get("reactions") == [{"name": "eyes", "users": [zora.standin.bot_user_id], "count": 1}]
        # Reporting it again marks nothing twice.
        assert (await shopper.call("seen", {"upto_seq": reply["seq"]}))["ok"]
        await asyncio.sleep(0.2)
        assert len([c for c in zora.standin.calls if c[0] == "reactions.add"]) == 1
