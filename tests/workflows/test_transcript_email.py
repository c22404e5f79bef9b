"""Transcript on resolve (a merchant option): the shopper gets the whole conversation by email once
an agent resolves it; not when the option is off, and not twice for the same transcript."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.harness import CHANNEL, Zora
from tests.helpers import set_shop_settings, transcript_shop


async def _conversation(zora: Zora, email: str) -> tuple[str, str]:
    session = await zora.session()
    async with zora.services.pool.acquire() as conn:
        await conn.execute(
            # A confirmed address (tests/security/test_email_confirmation.py covers confirming one).
            "INSERT INTO shoppers (id, shop_id, name, email, email_confirmed_at) VALUES ($1::uuid, $2, 'Ana', $3, now())",
            session["shopper_id"],
            zora.shop_id,
            email,
        )
    shopper = await zora.shopper(session["token"])
    before = len(zora.standin.posted)
    assert (await shopper.send("Do you gift-wrap?"))["ok"]
    root = (await zora.standin.wait_for_posts(before + 2))[before]
    assert await zora.standin.agent_reply(CHANNEL, root["ts"], "Yes, for free.") == 200
    await shopper.wait_for(lambda: bool(shopper.agent_messages()))
    await zora.workflow_run_id(session["conversation_id"])
    return session["conversation_id"], root["ts"]


async def _count(zora: Zora, cid: str, activity: str, n: int) -> bool:
    return (await zora.activities_run(cid)).count(activity) >= n


async def _until(check: Any) -> None:
    for _ in range(300):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the workflow never got there")


async def test_resolve_emails_the_transcript_once_when_the_shop_wants_it(infra: Any, database_url: str) -> None:
    async with transcript_shop(infra, database_url) as (zora, catcher):
        cid, root_ts = await _conversation(zora, "ana@example.com")
        assert await zora.standin.press_button(CHANNEL, root_ts, "zora_resolve", cid) == 200
        mails = await catcher.wait_for(1)
        body = mails[0].message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert mails[0].rcpt_tos == ["ana@example.com"]
        assert "Do you gift-wrap?" in body and "Yes, for free." in body
        # Reopened and resolved again with nothing new: no second email.
        assert await zora.standin.press_button(CHANNEL, root_ts, "zora_reopen", cid) == 200
        assert await zora.standin.press_button(CHANNEL, root_ts, "zora_resolve", cid) == 200
        # The transcript step ran a second time (and found nothing new to send).
        await _until(lambda: _count(zora, cid, "email_transcript", 2))
        assert len(catcher.caught) == 1

        # A shop without the option: resolving sends nothing.
        await set_shop_settings(zora)
        other, other_ts = await _conversation(zora, "bo@example.com")
        assert await zora.standin.press_button(CHANNEL, other_ts, "zora_resolve", other) == 200
        # The resolve is applied (its local activity done); a transcript would have been scheduled
        # in the same workflow task, and none was.
        await _until(lambda: _count(zora, other, "apply_assignment", 1))
        assert "email_transcript" not in await zora.activities_run(other, scheduled=True)
        assert [m.rcpt_tos for m in catcher.caught] == [["ana@example.com"]]


async def test_the_shops_choice_survives_continue_as_new(infra: Any, database_url: str) -> None:
    import uuid

    from zora.models import PostPendingToSlack, conversation_workflow_id

    async with transcript_shop(infra, database_url) as (zora, catcher):
        cid, root_ts = await _conversation(zora, "long@example.com")
        handle = zora.services.temporal.get_workflow_handle(conversation_workflow_id(zora.shop, uuid.UUID(cid)))
        first_run = (await handle.describe()).run_id
        # Enough signals for the dev server to suggest continue-as-new (50 events, tests/conftest.py).
        for i in range(40):
            await handle.signal("deliver", PostPendingToSlack(reason=f"test {i}"))
        # Generous: a condition ends the wait, and a loaded machine takes its time (a fresh Debian run
        # next to another suite missed 10 s).
        for _ in range(1200):
            if (await handle.describe()).run_id != first_run:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the workflow never continued as new")
        # The continued run did not read the shop's settings again, and still emails the transcript.
        assert await zora.standin.press_button(CHANNEL, root_ts, "zora_resolve", cid) == 200
        mails = await catcher.wait_for(1)
        assert mails[0].rcpt_tos == ["long@example.com"]
