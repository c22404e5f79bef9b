"""Reminders for unanswered conversations, escalation, and a new wait after an answer.

Durations are a shop setting, so the test uses a reminder time of 0.02 minutes (1.2 s)."""

from __future__ import annotations

import json
from typing import Any

from tests.harness import CHANNEL, Zora, running_zora
from zora.dev import ensure_shop


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
        quiet = await zora.shopper()
        assert (await quiet.send("nobody should be reminded about me"))["ok"]
        quiet_root = (await zora.standin.wait_for_posts(2))[0]
        # A control: another shop in the same channel, reminders on, its conversation started later.
        other = "reminded-shop.myshopify.com"
        other_id = await ensure_shop(zora.services.pool, other, "Reminded", CHANNEL)
        async with zora.services.pool.acquire() as conn:
            await conn.execute(
                "UPDATE shops SET settings = $2::jsonb WHERE id = $1", other_id, json.dumps({"reminder_minutes": 0.02})
            )
        loud = await zora.shopper((await zora.session(shop=other))["token"])
        assert (await loud.send("remind them about me"))["ok"]
        loud_root = (await zora.standin.wait_for_posts(4))[2]
        await _wait_for_text(zora, loud_root["ts"], "has waited")
        # The control was reminded, so the quiet conversation (older) has waited longer than that.
        assert all("waited" not in t for t in _thread_texts(zora, quiet_root["ts"]))
