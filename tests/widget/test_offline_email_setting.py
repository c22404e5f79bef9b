"""Issue 11 §3: the shop's own delay before unseen replies are emailed (`offline_email_minutes`), read
when each wait starts (no restart), from both places a wait starts: the shopper's last socket leaving
with replies unseen, and an agent's reply to a shopper who is not connected."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from uuid import UUID

import pytest

from tests.harness import AGENT, CHANNEL, Zora
from tests.helpers import set_shop_settings, smtp_options
from tests.widget.test_offline_delivery import leave, shopper_with_email
from tests.widget.test_receipts_and_profile import conversation_with_reply
from zora.mail_catcher import MailCatcher
from zora.models import MissedRepliesInput, missed_replies_workflow_id

DEPLOYMENT_MINUTES = 60.0


@pytest.fixture(scope="module")
def zora_options(catcher: MailCatcher) -> dict[str, Any]:
    return {**smtp_options(catcher.smtp_port), "offline_email_after_minutes": DEPLOYMENT_MINUTES}


async def wait_seconds(zora: Zora, conversation_id: str) -> float:
    """How long the delivery started for this conversation waits before emailing (its start input)."""
    handle = zora.services.temporal.get_workflow_handle(missed_replies_workflow_id(UUID(conversation_id)))
    async with asyncio.timeout(30):
        while True:
            try:
                history = await handle.fetch_history()
                break
            except Exception:
                await asyncio.sleep(0.05)  # not started yet
    started = history.events[0].workflow_execution_started_event_attributes
    [value] = await zora.services.temporal.data_converter.decode(started.input.payloads, [MissedRepliesInput])
    assert isinstance(value, MissedRepliesInput)
    return value.config.email_after_seconds


async def test_the_shops_delay_applies_to_the_next_wait_without_a_restart(zora: Zora) -> None:
    await set_shop_settings(zora)
    try:
        # Nothing set: the deployment's delay. The shopper's socket leaves with the reply unseen.
        session, shopper = await shopper_with_email(zora, f"a-{uuid.uuid4().hex[:6]}@example.com")
        await conversation_with_reply(zora, shopper, "First")
        await leave(zora, shopper)
        assert await wait_seconds(zora, session["conversation_id"]) == DEPLOYMENT_MINUTES * 60

        # The merchant saves 2 minutes: the next wait that starts uses it (same running processes).
        await set_shop_settings(zora, offline_email_minutes=2)
        session, shopper = await shopper_with_email(zora, f"b-{uuid.uuid4().hex[:6]}@example.com")
        await conversation_with_reply(zora, shopper, "Second")
        await leave(zora, shopper)
        assert await wait_seconds(zora, session["conversation_id"]) == 120

        # An agent's reply to a shopper who is not connected starts the wait from the Slack side.
        session, shopper = await shopper_with_email(zora, f"c-{uuid.uuid4().hex[:6]}@example.com")
        text = f"question {uuid.uuid4().hex[:6]}"
        assert (await shopper.send(text))["ok"]
        while not any(p.get("text") == text for p in zora.standin.posted):
            await zora.standin.wait_for_posts(len(zora.standin.posted) + 1)
        thread_ts = str(next(p for p in zora.standin.posted if p.get("text") == text)["thread_ts"])
        await leave(zora, shopper)
        assert await zora.standin.agent_reply(CHANNEL, thread_ts, "While you were away", user=AGENT) == 200
        assert await wait_seconds(zora, session["conversation_id"]) == 120
    finally:
        await set_shop_settings(zora)
