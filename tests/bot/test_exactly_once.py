"""Exactly once into Slack across crashes, in order (issue 9, item 2).

A poster can die between Slack accepting a post and writing that down: the stand-in carries out the
call and drops the connection before its answer (`lose_answers`), which is what a SIGKILL or a network
cut at that moment looks like from Zora. The claim then runs out (set in the past here, as a minute
passing would), and whoever posts next must find the post in the thread instead of posting it again.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.outbound import SlackOutbound
from bot.reconcile import MESSAGE_EVENT
from bot.threads import CARD_EVENT
from tests.harness import CHANNEL, Shopper, Zora
from tests.widget.test_files import png, upload
from widget.emitter import ShopperEmitter
from workflows.sweeper import SweepWorkflow
from zora import transcript
from zora.app.relay import FastRelay
from zora.models import ConversationRef, SweepRequest
from zora.slack_api import SlackGateway


@pytest.fixture(scope="module")
def zora_options() -> dict[str, Any]:
    # The minute sweep's reply backfill (activities/backfill.py) also reads threads with
    # conversations.replies: off here, so every read counted (and every 429 injected) is the reconcile's.
    return {"reply_backfill_conversations_per_run": 0}


@pytest.fixture
def zora(fresh_zora: Zora) -> Zora:
    return fresh_zora


def calls(zora: Zora, method: str) -> int:
    return sum(1 for name, _ in zora.standin.calls if name == method)


async def started(zora: Zora, shopper: Shopper) -> tuple[ConversationRef, dict[str, Any]]:
    """The shopper's first message goes through the ordinary path: the card, then the message."""
    ack = await shopper.send("one", client_id="c1")
    assert ack["ok"], ack
    await shopper.wait_for(lambda: delivered(shopper) == ["c1"])
    rows = await zora.fetch(
        "SELECT c.id, c.shopper_id, t.thread_ts FROM conversations c JOIN slack_threads t ON t.conversation_id = c.id"
        " JOIN messages m ON m.conversation_id = c.id WHERE m.client_id = 'c1' AND c.shop_id = $1",
        zora.shop_id,
    )
    ref = ConversationRef(
        shop=zora.shop, shop_id=zora.shop_id, conversation_id=rows[0]["id"], shopper_id=rows[0]["shopper_id"]
    )
    root = zora.standin.thread(CHANNEL, rows[0]["thread_ts"])[0]
    return ref, root


def delivered(shopper: Shopper) -> list[str]:
    return [s["client_id"] for s in shopper.statuses if s["status"] == "delivered"]


def replies(zora: Zora, root: dict[str, Any]) -> list[str]:
    return [m["text"] for m in zora.standin.thread(CHANNEL, root["ts"])[1:]]


async def wait_until(check: Any, what: str) -> None:
    """Poll the database or the stand-in (generously: a condition, not a time, ends the wait)."""
    for _ in range(600):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def lose_next_post(zora: Zora, shopper: Shopper, ref: ConversationRef, body: str, client_id: str) -> None:
    """The shopper's message reaches Slack, but its poster never hears back: it stays claimed, unrecorded."""
    zora.standin.lose_answers("chat.postMessage")
    ack = await shopper.send(body, client_id=client_id)
    assert ack["ok"], ack

    async def in_slack_only() -> bool:
        rows = await zora.fetch(
            "SELECT status, claimed_until FROM messages WHERE conversation_id = $1 AND client_id = $2",
            ref.conversation_id,
            client_id,
        )
        return any(p["text"] == body for p in zora.standin.posted) and rows[0]["claimed_until"] is not None

    await wait_until(in_slack_only, "the post reached Slack and its claim is kept")
    # The fast path handed over; the workflow found the message held and left it.
    await wait_for_tries(zora, ref, 1)


async def workflow_tries(zora: Zora, ref: ConversationRef) -> int:
    """How many times the conversation's workflow has run its delivery (a positive sign it tried):
    deliveries finished, and the failed attempts of one still retrying (messages held by a poster)."""
    from temporalio.service import RPCError, RPCStatusCode

    from zora.models import conversation_workflow_id

    finished = (await zora.activities_run(str(ref.conversation_id))).count("post_to_slack")
    handle = zora.services.temporal.get_workflow_handle(conversation_workflow_id(ref.shop, ref.conversation_id))
    try:
        pending = (await handle.describe()).raw_description.pending_activities
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return finished
    return finished + sum(p.attempt - 1 for p in pending if p.activity_type.name == "post_to_slack")


async def wait_for_tries(zora: Zora, ref: ConversationRef, n: int) -> None:
    async def done() -> bool:
        return await workflow_tries(zora, ref) >= n

    await wait_until(done, f"the workflow tried to deliver {n} time(s)")


async def expire_claims(zora: Zora, ref: ConversationRef) -> None:
    async with zora.services.pool.acquire() as conn:
        await conn.execute(
            "UPDATE messages SET claimed_until = now() - interval '1 second'"
            " WHERE conversation_id = $1 AND claimed_until IS NOT NULL",
            ref.conversation_id,
        )


async def sweep(zora: Zora) -> None:
    await zora.services.temporal.execute_workflow(
        SweepWorkflow.run,
        SweepRequest(older_than_seconds=0),
        id=f"sweep-test-{uuid.uuid4()}",
        task_queue=zora.settings.temporal_task_queue,
    )


async def check_recorded(zora: Zora, ref: ConversationRef, root: dict[str, Any], bodies: list[str]) -> None:
    """Each message once in the thread, in seq order, and recorded delivered with the ts Slack gave it."""
    thread = zora.standin.thread(CHANNEL, root["ts"])[1:]
    assert [m["text"] for m in thread] == bodies
    rows = await zora.fetch(
        "SELECT seq, body, status, slack_ts, claimed_until FROM messages WHERE conversation_id = $1 ORDER BY seq",
        ref.conversation_id,
    )
    assert [r["body"] for r in rows] == bodies
    for row, message in zip(rows, thread, strict=True):
        assert (row["status"], row["slack_ts"], row["claimed_until"]) == ("delivered", message["ts"], None)
        assert message["metadata"] == {
            "event_type": MESSAGE_EVENT,
            "event_payload": {"conversation_id": str(ref.conversation_id), "seq": row["seq"]},
        }


async def test_the_ordinary_path_asks_slack_nothing_more(zora: Zora) -> None:
    shopper = await zora.shopper()
    ref, root = await started(zora, shopper)
    for i in range(3):
        assert (await shopper.send(f"more {i}", client_id=f"m{i}"))["ok"]
    await shopper.wait_for(lambda: len(delivered(shopper)) == 4)
    await check_recorded(zora, ref, root, ["one", "more 0", "more 1", "more 2"])
    assert calls(zora, "chat.postMessage") == 5  # the card and four messages
    assert calls(zora, "conversations.replies") == 0
    assert calls(zora, "conversations.history") == 0
    assert root["metadata"] == {
        "event_type": CARD_EVENT,
        "event_payload": {"conversation_id": str(ref.conversation_id)},
    }


async def test_the_durable_path_finds_a_lost_post(zora: Zora) -> None:
    shopper = await zora.shopper()
    ref, root = await started(zora, shopper)
    await lose_next_post(zora, shopper, ref, "two", "c2")
    # Written while "two" may or may not be in Slack: it waits behind it, whoever tries to post it.
    tries = await workflow_tries(zora, ref)
    assert (await shopper.send("three", client_id="c3"))["ok"]
    await wait_for_tries(zora, ref, tries + 1)
    assert replies(zora, root) == ["one", "two"]

    await expire_claims(zora, ref)
    await sweep(zora)
    await shopper.wait_for(lambda: sorted(delivered(shopper)) == ["c1", "c2", "c3"])
    await check_recorded(zora, ref, root, ["one", "two", "three"])
    assert calls(zora, "conversations.replies") == 1


async def test_a_restarted_fast_path_finds_a_lost_post(zora: Zora) -> None:
    shopper = await zora.shopper()
    ref, root = await started(zora, shopper)
    await lose_next_post(zora, shopper, ref, "two", "c2")
    await expire_claims(zora, ref)

    # A new process: its own relay and Slack client, nothing in memory about this conversation.
    emitter = ShopperEmitter(zora.settings.redis_url or "")
    handed_over: list[ConversationRef] = []

    async def handoff(ref: ConversationRef, _retry_after: float) -> None:
        handed_over.append(ref)

    async def opener(_ref: ConversationRef, _at: datetime) -> None:
        return None

    relay = FastRelay(
        SlackOutbound(zora.services.pool, SlackGateway.from_settings(zora.settings), emitter), handoff, opener
    )
    try:
        stored = await transcript.store_shopper_message(zora.services.pool, ref, "c3", "three", datetime.now(UTC))
        relay.submit(ref, stored.message)
        await shopper.wait_for(lambda: sorted(delivered(shopper)) == ["c1", "c2", "c3"])
    finally:
        await relay.close()
        await emitter.close()
    assert handed_over == []
    await check_recorded(zora, ref, root, ["one", "two", "three"])
    assert calls(zora, "conversations.replies") == 1


async def test_a_lost_post_that_never_reached_slack_is_posted_before_later_ones(zora: Zora) -> None:
    shopper = await zora.shopper()
    ref, root = await started(zora, shopper)
    # The poster died with the message claimed, before Slack got it (claimed as a poster does, then nothing).
    stored = await transcript.store_shopper_message(zora.services.pool, ref, "c2", "two", datetime.now(UTC))
    assert (await transcript.claim(zora.services.pool, ref.conversation_id, [stored.message.seq])).seqs
    # A later message waits behind it: neither the fast path nor the workflow posts it first.
    tries = await workflow_tries(zora, ref)
    assert (await shopper.send("three", client_id="c3"))["ok"]

    async def tried() -> bool:
        return "three" in replies(zora, root) or await workflow_tries(zora, ref) > tries

    await wait_until(tried, "the fast path handed over, or posted")
    assert replies(zora, root) == ["one"]

    await expire_claims(zora, ref)
    await sweep(zora)
    await shopper.wait_for(lambda: sorted(delivered(shopper)) == ["c1", "c2", "c3"])
    await check_recorded(zora, ref, root, ["one", "two", "three"])
    assert calls(zora, "conversations.replies") == 1


async def test_a_lost_card_is_found_not_posted_again(zora: Zora) -> None:
    shopper = await zora.shopper()
    zora.standin.lose_answers("chat.postMessage")  # the conversation's first post: its card
    assert (await shopper.send("one", client_id="c1"))["ok"]
    await shopper.wait_for(lambda: delivered(shopper) == ["c1"])
    cards = [p for p in zora.standin.posted if p["thread_ts"] is None]
    assert len(cards) == 1
    rows = await zora.fetch(
        "SELECT t.thread_ts FROM slack_threads t JOIN messages m ON m.conversation_id = t.conversation_id"
        " WHERE m.client_id = 'c1' AND m.shop_id = $1",
        zora.shop_id,
    )
    assert rows[0]["thread_ts"] == cards[0]["ts"]
    assert [m["text"] for m in zora.standin.thread(CHANNEL, cards[0]["ts"])[1:]] == ["one"]
    assert calls(zora, "conversations.history") == 1


async def test_a_lost_file_upload_is_found_not_uploaded_again(zora: Zora) -> None:
    shopper = await zora.shopper()
    ref, root = await started(zora, shopper)
    status, answer = await upload(zora, shopper.token, png(), name="lid.png")
    assert status == 201, answer
    # Slack shares the file into the thread; the answer is lost.
    zora.standin.lose_answers("files.completeUploadExternal")
    ack = await shopper.call("message", {"client_id": "c2", "body": "see", "files": [answer["file"]["id"]]})
    assert ack["ok"], ack

    async def shared() -> bool:
        return len(zora.standin.uploads) == 1 and bool(
            await zora.fetch(
                "SELECT 1 FROM messages WHERE conversation_id = $1 AND seq = $2 AND claimed_until IS NOT NULL",
                ref.conversation_id,
                ack["seq"],
            )
        )

    await wait_until(shared, "the file reached the thread and the message is still claimed")
    await expire_claims(zora, ref)
    await sweep(zora)
    await shopper.wait_for(lambda: sorted(delivered(shopper)) == ["c1", "c2"])
    assert len(zora.standin.uploads) == 1
    assert calls(zora, "files.getUploadURLExternal") == 1
    rows = await zora.fetch("SELECT slack_file_id FROM files WHERE id = $1", uuid.UUID(answer["file"]["id"]))
    assert rows[0]["slack_file_id"] == zora.standin.uploads[0]["id"]
    thread = zora.standin.thread(CHANNEL, root["ts"])[1:]
    assert [m["text"] for m in thread] == ["one", "see", ""]
    assert [f["id"] for f in thread[2]["files"]] == [zora.standin.uploads[0]["id"]]


async def test_a_rate_limited_look_is_retried_after_slacks_delay(zora: Zora) -> None:
    shopper = await zora.shopper()
    ref, root = await started(zora, shopper)
    await lose_next_post(zora, shopper, ref, "two", "c2")
    await expire_claims(zora, ref)
    zora.standin.rate_limit("conversations.replies", retry_after=1)
    await sweep(zora)
    await shopper.wait_for(lambda: sorted(delivered(shopper)) == ["c1", "c2"])
    await check_recorded(zora, ref, root, ["one", "two"])
    assert calls(zora, "conversations.replies") == 2


async def test_the_workflow_is_started_after_the_message_that_opened_it_is_posted(zora: Zora) -> None:
    """The workflow's first work (an automatic assignment's note) goes into the thread: a start sent
    while the opening message was still on its way lost that note when it won the race."""
    shopper = await zora.shopper()
    ref, root = await started(zora, shopper)
    emitter = ShopperEmitter(zora.settings.redis_url or "")
    seen_at_open: list[list[str]] = []
    handed_over: list[str] = []

    async def handoff(_ref: ConversationRef, _retry_after: float) -> None:
        handed_over.append(f"after {len(seen_at_open)} opens")

    async def opener(_ref: ConversationRef, _at: datetime) -> None:
        seen_at_open.append(replies(zora, root))

    relay = FastRelay(
        SlackOutbound(zora.services.pool, SlackGateway.from_settings(zora.settings), emitter), handoff, opener
    )
    try:
        stored = await transcript.store_shopper_message(zora.services.pool, ref, "c2", "two", datetime.now(UTC))
        relay.submit(ref, stored.message)
        relay.opened(ref, stored.message.created_at)
        await wait_until(lambda: _true(bool(seen_at_open)), "the workflow start")
        assert seen_at_open == [["one", "two"]]

        # Slack refuses the post: the handover to the workflow comes first, then the start.
        zora.standin.fail("chat.postMessage", "internal_error", times=5)
        stored = await transcript.store_shopper_message(zora.services.pool, ref, "c3", "three", datetime.now(UTC))
        relay.submit(ref, stored.message)
        relay.opened(ref, stored.message.created_at)
        await wait_until(lambda: _true(len(seen_at_open) == 2), "the second workflow start")
        assert handed_over == ["after 1 opens"]
    finally:
        await relay.close()
        await emitter.close()


async def _true(value: bool) -> bool:
    return value


async def test_messages_handed_over_behind_another_posters_claim_are_posted_once_it_is_done(zora: Zora) -> None:
    """Two web nodes: node A's fast path holds an older message while node B's later ones are handed to
    the workflow. The workflow's try finds them behind A's claim: it must look again, since A posts only
    what it claimed and nobody else would post the rest (only the minute sweep, much later)."""
    from zora.temporal import Conversations

    shopper = await zora.shopper()
    ref, root = await started(zora, shopper)
    now = datetime.now(UTC)
    held = await transcript.store_shopper_message(zora.services.pool, ref, "c2", "two", now)
    claim = await transcript.claim(zora.services.pool, ref.conversation_id, [held.message.seq])
    assert claim.seqs == {held.message.seq}  # node A is posting it
    await transcript.store_shopper_message(zora.services.pool, ref, "c3", "three", now)
    await Conversations.from_settings(zora.services.temporal, zora.settings).hand_over(ref, 0.0)

    await wait_for_tries(zora, ref, 1)  # its delivery met node A's claim
    assert replies(zora, root) == ["one"]
    # Node A is done (it gave the message back unposted, as a failed post does).
    await transcript.release(zora.services.pool, ref.conversation_id, [held.message.seq])
    await wait_until(lambda: _true(replies(zora, root) == ["one", "two", "three"]), "two and three in Slack")
