"""Reminders for unanswered conversations, escalation, and a new wait after an answer.

Durations are a shop setting, so the test uses a reminder time of 0.02 minutes (1.2 s)."""

from __future__ import annotations

import json
from typing import Any

from tests.harness import CHANNEL, Zora, running_zora


async def _set(zora: Zora, **values: Any) -> None:
    async with zora.services.pool.acquire() as conn:
        await conn.execute("UPDATE shops SET settings = $2::jsonb WHERE id = $1", zora.shop_id, json.dumps(values))


def _thread_texts(zora: Zora, root_ts: str) -> list[str]:
    return [m["text"] for m in zora.standin.thread(CHANNEL, root_ts)[1:]]


async def _wait_for_text(zora: Zora, root_ts: str, needle: str, count: int = 1) -> None:
    while sum(needle in t for t in _thread_texts(zora, root_ts)) < count:
        await zora.standin.wait_for_posts(len(zora.standin.posted) + 1, timeout=20)


async def test_unanswered_conversation_is_reminded_then_escalated(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url) as zora:
        await _set(zora, reminder_minutes=0.02, reminder_mention="S0SUPPORT")
        shopper = await zora.shopper()
        assert (await shopper.send("anyone?"))["ok"]
        root = (await zora.standin.wait_for_posts(2))[0]

        await _wait_for_text(zora, root["ts"], "has waited")
        await _wait_for_text(zora, root["ts"], "still no reply")
        texts = _thread_texts(zora, root["ts"])
        assert texts[0] == "anyone?"
        assert "<!subteam^S0SUPPORT>" in texts[1] and "has waited" in texts[1]
        assert "still no reply" in texts[2]
        assert len(texts) == 3, "each level is posted once"

        # An answer ends the wait; the shopper writing again starts a new one, reminded again.
        assert await zora.standin.agent_reply(CHANNEL, root["ts"], "sorry, here now") == 200
        await shopper.wait_for(lambda: bool(shopper.agent_messages()))
        assert (await shopper.send("thanks, one more question"))["ok"]
        await _wait_for_text(zora, root["ts"], "has waited", count=2)
        reminders = [t for t in _thread_texts(zora, root["ts"]) if "has waited" in t]
        assert len(reminders) == 2


async def test_reminders_can_be_turned_off(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url) as zora:
        await _set(zora, reminder_minutes=0)
        shopper = await zora.shopper()
        assert (await shopper.send("first"))["ok"]
        root = (await zora.standin.wait_for_posts(2))[0]
        # With 0 minutes, a broken off switch would remind at once, before these messages are posted.
        for i in range(3):
            assert (await shopper.send(f"more {i}"))["ok"]
        await zora.standin.wait_for_posts(5)
        assert all("waited" not in t for t in _thread_texts(zora, root["ts"]))
