"""An event whose listener failed is handled when Slack retries it (found by the chaos run, bench/chaos/).

Bolt runs the listeners only after every middleware has returned, so an event id remembered in the
de-duplication middleware was remembered before its listener ran: when storing the reply then failed
(PostgreSQL restarting) and Zora answered 500, Slack's retry was answered 200 as a duplicate and the
reply never reached the shopper from its event (only, minutes later, from the reply backfill).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.harness import AGENT, CHANNEL, Shopper, Zora, running_zora


@pytest.fixture(scope="module")
async def zora(infra: Any, database_url: str) -> AsyncIterator[Zora]:
    async with running_zora(infra, database_url) as z:
        yield z


async def _conversation(zora: Zora) -> tuple[Shopper, str]:
    shopper = await zora.shopper()
    before = len(zora.standin.posted)
    assert (await shopper.send("hello"))["ok"]
    posts = await zora.standin.wait_for_posts(before + 2)
    return shopper, str(posts[before]["ts"])


async def _agent_rows(zora: Zora, thread_ts: str) -> list[str]:
    rows = await zora.fetch(
        "SELECT m.body FROM messages m JOIN slack_threads t ON t.conversation_id = m.conversation_id"
        " WHERE t.thread_ts = $1 AND m.direction = 'agent' ORDER BY m.seq",
        thread_ts,
    )
    return [str(r["body"]) for r in rows]


async def test_a_retry_of_an_event_whose_listener_failed_stores_the_reply(zora: Zora) -> None:
    shopper, thread_ts = await _conversation(zora)
    event = {
        "type": "message",
        "channel": CHANNEL,
        "user": AGENT,
        "text": "stored on the retry",
        "ts": "1900000100.000100",
        "thread_ts": thread_ts,
        "event_ts": "1900000100.000100",
        "channel_type": "channel",
    }
    # Storing an agent reply fails for a moment: a real PostgreSQL error, as while the server restarts.
    async with zora.services.pool.acquire() as conn:
        await conn.execute("ALTER FUNCTION zora_store_agent_message RENAME TO zora_store_agent_message_away")
        try:
            status = await zora.standin.deliver_event(event, event_id="EvRETRY00001")
        finally:
            await conn.execute("ALTER FUNCTION zora_store_agent_message_away RENAME TO zora_store_agent_message")
    assert status >= 500, "Zora must not answer 2xx for an event it could not store: Slack would not retry"
    assert await _agent_rows(zora, thread_ts) == []

    # Slack retries the same event. The listener runs before Zora answers (process_before_response),
    # so by the 200 the reply is stored.
    assert await zora.standin.deliver_event(event, event_id="EvRETRY00001", retry_num=1) == 200
    assert await _agent_rows(zora, thread_ts) == ["stored on the retry"]
    await shopper.wait_for(lambda: any(m["body"] == "stored on the retry" for m in shopper.agent_messages()))

    # Handled now: a further retry is recognised and changes nothing.
    assert await zora.standin.deliver_event(event, event_id="EvRETRY00001", retry_num=2) == 200
    assert await _agent_rows(zora, thread_ts) == ["stored on the retry"]
