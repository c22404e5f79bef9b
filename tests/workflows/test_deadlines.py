"""Reminders for unanswered conversations, escalation, and a new wait after an answer.

Durations are a shop setting, so the test uses a reminder time of 0.02 minutes (1.2 s)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.conversation import ConversationActivities
from bot.outbound import SlackOutbound
from tests.harness import CHANNEL, Zora, running_zora
from tests.helpers import session_ref, set_shop_settings
from widget.emitter import ShopperEmitter
from zora.app.dev import ensure_shop
from zora.business_hours import DAYS
from zora.models import Tick


def _thread_texts(zora: Zora, root_ts: str) -> list[str]:
    return [m["text"] for m in zora.standin.thread(CHANNEL, root_ts)[1:]]


async def _wait_for_text(zora: Zora, root_ts: str, needle: str, count: int = 1) -> None:
    while sum(needle in t for t in _thread_texts(zora, root_ts)) < count:
        await zora.standin.wait_for_posts(len(zora.standin.posted) + 1, timeout=20)


async def test_unanswered_conversation_is_reminded_then_escalated(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url) as zora:
        await set_shop_settings(zora, reminder_minutes=0.02, reminder_mention="S0SUPPORT")
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
        await set_shop_settings(zora, reminder_minutes=0)
        quiet = await zora.shopper()
        assert (await quiet.send("nobody should be reminded about me"))["ok"]
        quiet_root = (await zora.standin.wait_for_posts(2))[0]
        # A control: another shop in the same channel, reminders on, its conversation started later.
        other = "reminded-shop.myshopify.com"
        other_id = await ensure_shop(zora.services.pool, other, "Reminded", CHANNEL)
        await set_shop_settings(zora, other_id, reminder_minutes=0.02)
        loud = await zora.shopper((await zora.session(shop=other))["token"])
        assert (await loud.send("remind them about me"))["ok"]
        loud_root = (await zora.standin.wait_for_posts(4))[2]
        await _wait_for_text(zora, loud_root["ts"], "has waited")
        # The control was reminded, so the quiet conversation (older) has waited longer than that.
        assert all("waited" not in t for t in _thread_texts(zora, quiet_root["ts"]))


async def test_no_reminder_while_the_shop_is_closed(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url) as zora:
        # Open on one weekday only, three days from now: closed now and for the rest of the test.
        closed_today = {DAYS[(datetime.now(UTC).weekday() + 3) % 7]: ["09:00", "17:00"]}
        await set_shop_settings(zora, reminder_minutes=0.02, timezone="UTC", business_hours=closed_today)
        session = await zora.session()
        shopper = await zora.shopper(session["token"])
        assert (await shopper.send("anyone there tonight?"))["ok"]
        root = (await zora.standin.wait_for_posts(2))[0]
        ref = session_ref(zora, session)
        # Until both reminder levels would be due in wall-clock time (2 x 1.2 s).
        query = "SELECT 1 FROM messages WHERE conversation_id = $1 AND created_at < now() - interval '3 seconds'"
        for _ in range(600):
            if await zora.fetch(query, ref.conversation_id):
                break
            await asyncio.sleep(0.1)
        emitter = ShopperEmitter(zora.settings.redis_url or "")
        activities = ConversationActivities(
            zora.services.pool, SlackOutbound(zora.services.pool, zora.services.slack, emitter)
        )
        tick = Tick(ref=ref, idle_seconds=3600)
        try:
            # The tick ran to its end (its result is the positive sign): open minutes have not passed.
            result = await ActivityEnvironment().run(activities.tick, tick)
            assert not result.closed
            assert all("waited" not in t and "no reply" not in t for t in _thread_texts(zora, root["ts"]))
            [row] = await zora.fetch("SELECT reminder_level FROM conversations WHERE id = $1", ref.conversation_id)
            assert row["reminder_level"] == 0

            # The control: the same wait in a shop that is always open is past both levels.
            await set_shop_settings(zora, reminder_minutes=0.02, timezone="UTC")
            await ActivityEnvironment().run(activities.tick, tick)
            assert any("still no reply" in t for t in _thread_texts(zora, root["ts"]))
        finally:
            await emitter.close()
