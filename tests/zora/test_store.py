"""The data layer's shop scoping where a lookup starts from something outside Zora (a Slack channel and
ts): another shop's, or another workspace's, row is never found."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from zora import db, transcript
from zora.db import Pool
from zora.models import ConversationRef, SlackThread
from zora.store import slack_posts as sslack_posts
from zora.store import threads as sthreads
from zora.store import webhooks as swebhooks


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def _posted_shopper_message(pool: Pool, domain: str, team: str, channel: str, ts: str) -> ConversationRef:
    shop_id = await pool.fetchval("INSERT INTO shops (domain, name) VALUES ($1, $1) RETURNING id", domain)
    ref = ConversationRef(shop=domain, shop_id=shop_id, conversation_id=uuid4(), shopper_id=uuid4())
    stored = await transcript.store_shopper_message(pool, ref, "c-1", "hello", datetime.now(UTC))
    await sthreads.insert(pool, ref, SlackThread(team_id=team, channel=channel, thread_ts="1.000001"))
    await transcript.set_status(
        pool, ref.conversation_id, [stored.message.seq], "delivered", slack_channel=channel, slack_ts=ts
    )
    return ref


async def test_a_reacted_message_is_found_only_in_its_own_workspace(pool: Pool) -> None:
    ref = await _posted_shopper_message(pool, "react-a.myshopify.com", "T_A", "C_SHARED", "1.000002")
    async with pool.acquire() as conn:
        found = await sslack_posts.shopper_message_in_slack(conn, "T_A", "C_SHARED", "1.000002")
        elsewhere = await sslack_posts.shopper_message_in_slack(conn, "T_OTHER", "C_SHARED", "1.000002")
        assert found == sslack_posts.ShopperMessageInSlack(
            shop_id=ref.shop_id, conversation_id=ref.conversation_id, seq=1
        )
        assert elsewhere is None
        # What is read next is that shop's only.
        assert await sslack_posts.delivered_shopper_upto(conn, ref.shop_id, ref.conversation_id, 1) == [(1, "c-1")]
        assert await sslack_posts.delivered_shopper_upto(conn, ref.shop_id + 1000, ref.conversation_id, 1) == []


async def test_a_repeated_webhook_delivery_is_looked_up_in_its_own_shop(pool: Pool) -> None:
    async with pool.acquire() as conn:
        args = {"event_id": "ev-1", "topic": "orders/create", "api_version": None, "triggered_at": None}
        stored = await swebhooks.record(
            conn, webhook_id="wh-1", shop="hook-a.myshopify.com", payload={}, status="received", **args
        )
        assert stored
        again = await swebhooks.record(
            conn, webhook_id="wh-1", shop="hook-b.myshopify.com", payload={}, status="received", **args
        )
        assert not again
        mine = await swebhooks.stored_before(conn, "hook-a.myshopify.com", "wh-2", "ev-1", "orders/create")
        assert mine == swebhooks.Stored(id="wh-1", status="received")
        # Another shop's delivery with the same ids is not this shop's to restart.
        assert await swebhooks.stored_before(conn, "hook-b.myshopify.com", "wh-1", "ev-1", "orders/create") is None


async def test_replies_already_stored_are_looked_up_in_the_threads_shop(pool: Pool) -> None:
    ref = await _posted_shopper_message(pool, "backfill-a.myshopify.com", "T_B", "C_BACKFILL", "2.000001")
    async with pool.acquire() as conn:
        assert await sslack_posts.known_in_channel(conn, ref.shop_id, "C_BACKFILL", ["2.000001", "2.000002"]) == {
            "2.000001"
        }
        assert await sslack_posts.known_in_channel(conn, ref.shop_id + 1000, "C_BACKFILL", ["2.000001"]) == set()


async def test_a_thread_start_reads_the_channel_and_notes_only_the_first_try(pool: Pool) -> None:
    domain = "start-a.myshopify.com"
    shop_id = await pool.fetchval("INSERT INTO shops (domain, name) VALUES ($1, $1) RETURNING id", domain)
    ref = ConversationRef(shop=domain, shop_id=shop_id, conversation_id=uuid4(), shopper_id=uuid4())
    await transcript.store_shopper_message(pool, ref, "c-1", "hello", datetime.now(UTC))
    # No channel set (or an empty one): nothing can be posted, so no try is noted.
    for channel in (None, ""):
        await pool.execute("UPDATE shops SET slack_channel_id = $2 WHERE id = $1", shop_id, channel)
        assert await sthreads.thread_or_start(pool, ref) == sthreads.ThreadOrStart(thread=None, channel=None)
    assert (
        await pool.fetchval("SELECT slack_card_attempt_at FROM conversations WHERE id = $1", ref.conversation_id)
        is None
    )

    await pool.execute("UPDATE shops SET slack_channel_id = 'C_START' WHERE id = $1", shop_id)
    first = await sthreads.thread_or_start(pool, ref)
    assert first == sthreads.ThreadOrStart(thread=None, channel="C_START", tried=True, tried_before=None)
    noted = await pool.fetchval("SELECT slack_card_attempt_at FROM conversations WHERE id = $1", ref.conversation_id)
    assert noted is not None
    # A later try (the first one's post was cut off) learns when the first was, and keeps that time.
    again = await sthreads.thread_or_start(pool, ref)
    assert again == sthreads.ThreadOrStart(thread=None, channel="C_START", tried=True, tried_before=noted)
    assert (
        await pool.fetchval("SELECT slack_card_attempt_at FROM conversations WHERE id = $1", ref.conversation_id)
        == noted
    )

    # Another shop's conversation, named with this shop's id, is not started.
    other_id = await pool.fetchval(
        "INSERT INTO shops (domain, name) VALUES ($1, $1) RETURNING id", "start-b.myshopify.com"
    )
    other = ConversationRef(shop="start-b.myshopify.com", shop_id=other_id, conversation_id=uuid4(), shopper_id=uuid4())
    await transcript.store_shopper_message(pool, other, "c-1", "hello", datetime.now(UTC))
    crossed = ConversationRef(shop=domain, shop_id=shop_id, conversation_id=other.conversation_id, shopper_id=uuid4())
    assert (await sthreads.thread_or_start(pool, crossed)).tried is False
    assert (
        await pool.fetchval("SELECT slack_card_attempt_at FROM conversations WHERE id = $1", other.conversation_id)
        is None
    )

    thread = SlackThread(team_id="T_START", channel="C_START", thread_ts="9.000001")
    await sthreads.insert(pool, ref, thread)
    assert await sthreads.thread_or_start(pool, ref) == sthreads.ThreadOrStart(thread=thread)
