"""Automatic assignment: round robin among the shop's agents, skipping the away and the full, with
a mention in the thread; an agent who does not answer in time loses the conversation to the next."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.harness import CHANNEL, Zora, running_zora
from tests.helpers import open_conversation, set_shop_settings

ANA, BO, CY = "U0ANA00001", "U0BO000001", "U0CY000001"


async def _new_conversation(zora: Zora) -> tuple[str, str]:
    opened = await open_conversation(zora)
    return opened.conversation_id, opened.root["ts"]


async def _assignee(zora: Zora, cid: str, not_: str | None = None) -> str | None:
    for _ in range(300):
        rows = await zora.fetch("SELECT assignee FROM conversations WHERE id = $1::uuid", cid)
        if rows and rows[0]["assignee"] is not None and rows[0]["assignee"] != not_:
            return str(rows[0]["assignee"])
        await asyncio.sleep(0.05)
    return None


async def _note(zora: Any, thread_ts: str, text: str) -> None:
    """The note is posted just after the assignment is stored (its own activity): wait for it."""
    for _ in range(300):
        if any(text in m["text"] for m in zora.standin.thread(CHANNEL, thread_ts)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no note {text!r} in the thread")


async def test_round_robin_skips_away_agents_and_moves_on_when_nobody_answers(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url) as zora:
        for user, name in ((ANA, "ana"), (BO, "bo"), (CY, "cy")):
            zora.standin.add_user(user, name, name.title())
        zora.standin.set_presence(CY, "away")
        await set_shop_settings(
            zora, auto_assign=True, assign_agents=[ANA, BO, CY], answer_within_minutes=60, reminder_minutes=0
        )

        first, first_ts = await _new_conversation(zora)
        assert await _assignee(zora, first) == ANA
        second, _ = await _new_conversation(zora)
        assert await _assignee(zora, second) == BO
        third, _ = await _new_conversation(zora)
        assert await _assignee(zora, third) == ANA, "CY is away, so the turn comes back to ANA"
        await _note(zora, first_ts, f"<@{ANA}> this conversation is yours")

        # Nobody answers within the shop's time (shortened to about a second): the next agent gets it.
        await set_shop_settings(
            zora, auto_assign=True, assign_agents=[ANA, BO, CY], answer_within_minutes=0.02, reminder_minutes=0
        )
        fourth, fourth_ts = await _new_conversation(zora)
        taker = await _assignee(zora, fourth)
        assert taker in (ANA, BO)
        moved_to = await _assignee(zora, fourth, not_=taker)
        assert moved_to is not None and moved_to != taker
        await _note(zora, fourth_ts, f"<@{taker}> did not answer in time")


async def test_an_agent_at_the_cap_is_skipped_and_no_one_available_leaves_it_open(
    infra: Any, database_url: str
) -> None:
    async with running_zora(infra, database_url) as zora:
        zora.standin.add_user(ANA, "ana", "Ana")
        await set_shop_settings(zora, auto_assign=True, assign_agents=[ANA], max_open_per_agent=1, reminder_minutes=0)
        first, _ = await _new_conversation(zora)
        assert await _assignee(zora, first) == ANA
        second, second_ts = await _new_conversation(zora)
        # ANA is full: the pick (done, in the workflow's history) found no one, so it stays open.
        for _ in range(300):
            if "pick_agent" in await zora.activities_run(second):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the workflow never picked an agent")
        assert "apply_assignment" not in await zora.activities_run(second, scheduled=True)
        rows = await zora.fetch("SELECT status, assignee FROM conversations WHERE id = $1::uuid", second)
        assert dict(rows[0]) == {"status": "open", "assignee": None}
        assert not any("is yours" in m["text"] for m in zora.standin.thread(CHANNEL, second_ts))


async def test_the_note_waits_for_a_thread_slack_refused_at_first(infra: Any, database_url: str) -> None:
    """The fast path's post fails and so does the workflow's first try: the thread comes a second
    later, and the assignment's mention must land in it, not be dropped for want of one."""
    async with running_zora(infra, database_url) as zora:
        zora.standin.add_user(ANA, "ana", "Ana")
        await set_shop_settings(zora, auto_assign=True, assign_agents=[ANA], reminder_minutes=0)
        zora.standin.fail("chat.postMessage", "internal_error", times=2)
        cid, root_ts = await _new_conversation(zora)
        assert await _assignee(zora, cid) == ANA
        await _note(zora, root_ts, f"<@{ANA}> this conversation is yours")
