"""Seen, both ways: the shopper's widget reports a reply seen and Slack shows it (a reaction); an
agent reacting to a shopper's message shows as "seen" in the widget."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.harness import AGENT, CHANNEL, Zora, running_zora


async def _side_work_done(zora: Zora) -> None:
    """Waits for the relay's background work (marking replies seen in Slack) started so far."""
    pending = set(zora.widget().relay._side_tasks)
    if pending:
        await asyncio.wait(pending, timeout=15)
    assert all(task.done() for task in pending)


async def test_seen_both_ways(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url) as zora:
        shopper = await zora.shopper()
        assert (await shopper.send("first", client_id="s1"))["ok"]
        assert (await shopper.send("second", client_id="s2"))["ok"]
        root, _first, second = await zora.standin.wait_for_posts(3)
        # Seen applies to delivered messages: wait until both are (their status is pushed once stored).
        await shopper.wait_for(
            lambda: {s["client_id"] for s in shopper.statuses if s["status"] == "delivered"} == {"s1", "s2"}
        )

        # An agent reacts to the second message: both of the shopper's messages read as seen.
        assert await zora.standin.react(CHANNEL, second["ts"], "thumbsup") == 200
        await shopper.wait_for(
            lambda: {s["client_id"] for s in shopper.statuses if s["status"] == "seen"} == {"s1", "s2"}
        )
        before = len(shopper.statuses)
        # Reactions that are not on a shopper's message say nothing about what the agents read: one on
        # the bot's own root post, one on an agent's reply.
        assert await zora.standin.react(CHANNEL, root["ts"], "eyes") == 200
        assert await zora.standin.agent_reply(CHANNEL, root["ts"], "on it") == 200
        await shopper.wait_for(lambda: bool(shopper.agent_messages()))
        reply = shopper.agent_messages()[0]

        def slack_reply() -> dict[str, Any]:
            return next(m for m in zora.standin.thread(CHANNEL, root["ts"]) if m["text"] == "on it")

        assert await zora.standin.react(CHANNEL, slack_reply()["ts"], "heart", user=AGENT) == 200
        # Slack's listeners have run when Zora answers (process_before_response) and pushes reach the
        # widget in order: once the third message's status arrives, any status those reactions pushed did.
        assert (await shopper.send("third", client_id="s3"))["ok"]
        await shopper.wait_for(lambda: any(s["client_id"] == "s3" for s in shopper.statuses))
        assert [(s["client_id"], s["status"]) for s in shopper.statuses[before:]] == [("s3", "delivered")]

        assert (await shopper.call("seen", {"upto_seq": reply["seq"]}))["ok"]
        await _side_work_done(zora)
        assert slack_reply().get("reactions") == [{"name": "eyes", "users": [zora.standin.bot_user_id], "count": 1}]
        # Reporting it again marks nothing twice.
        assert (await shopper.call("seen", {"upto_seq": reply["seq"]}))["ok"]
        await _side_work_done(zora)
        assert len([c for c in zora.standin.calls if c[0] == "reactions.add"]) == 1
