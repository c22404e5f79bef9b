"""Agent replies are never lost: Redis down or stalled, "Also send to #channel", and replies Slack never
delivered (Zora down, or Slack unable to reach it) fetched by the sweep, each reaching the shopper once."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from temporalio.testing import ActivityEnvironment

from activities.backfill import ReplyBackfill
from bot.app import create_bolt_app, events_handler
from bot.deps import BotDeps
from tests.conftest import FIXTURES
from tests.harness import AGENT, CHANNEL, Shopper, Zora, running_zora
from tests.helpers import open_conversation, serving
from tests.widget.test_files import PDF
from widget.emitter import ShopperEmitter
from workflows.sweeper import SweepWorkflow
from zora.models import BackfillRequest, BackfillResult, SweepRequest, SweepResult
from zora.services import redis_client


async def _conversation(zora: Zora) -> tuple[Shopper, str]:
    """A shopper with a Slack thread; returns the shopper and the thread's ts."""
    opened = await open_conversation(zora, "where is my order?", delivered=True)
    return opened.shopper, opened.root["ts"]


async def _marker(zora: Zora, shopper: Shopper, thread_ts: str) -> None:
    """A last reply, delivered live: once it arrives, everything before it was handled."""
    assert await zora.standin.agent_reply(CHANNEL, thread_ts, "marker") == 200
    await shopper.wait_for(lambda: any(m["body"] == "marker" for m in shopper.agent_messages()))


async def _history(shopper: Shopper) -> list[str]:
    """The agent replies as a reconnecting widget gets them (`resume`)."""
    messages = (await shopper.call("resume", {"since_seq": 0}))["messages"]
    return [m["body"] for m in messages if m["direction"] == "agent"]


def _slack_message(zora: Zora, thread_ts: str, text: str) -> dict[str, Any]:
    [message] = [m for m in zora.standin.thread(CHANNEL, thread_ts) if m.get("text") == text]
    return message


def _event_of(message: dict[str, Any]) -> dict[str, Any]:
    """The message event Slack sends for a message it keeps (a late or repeated delivery)."""
    return {**message, "channel": CHANNEL, "event_ts": message["ts"], "channel_type": "channel"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def _stalled_redis() -> AsyncIterator[str]:
    """A server that accepts connections and never answers: a hung Redis."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


@asynccontextmanager
async def _slack_events_with_redis(
    zora: Zora, redis_url: str, *, pushes_too: bool = False, **settings: Any
) -> AsyncIterator[None]:
    """Slack's events go to a bolt app built as Zora builds it, whose Redis client (de-duplication,
    presence) points at `redis_url`, and with `pushes_too` its pushes to shoppers as well (otherwise
    they go through the session's Redis, which this leaves alone)."""
    configured = zora.settings.with_values(**settings) if settings else zora.settings
    redis = redis_client(configured, redis_url)
    emitter = ShopperEmitter.from_settings(configured, url=redis_url if pushes_too else zora.settings.redis_url)
    services = dataclasses.replace(zora.services, settings=configured, redis=redis)
    app = web.Application()
    app.router.add_post("/slack/events", events_handler(create_bolt_app(services, emitter)))
    try:
        async with serving(app) as url:
            previous, zora.standin.events_url = zora.standin.events_url, f"{url}/slack/events"
            try:
                yield
            finally:
                zora.standin.events_url = previous
    finally:
        await emitter.close()
        await redis.aclose()


async def _agent_rows(zora: Zora, thread_ts: str) -> list[str]:
    rows = await zora.fetch(
        "SELECT m.body FROM messages m JOIN slack_threads t ON t.conversation_id = m.conversation_id"
        " WHERE t.thread_ts = $1 AND m.direction = 'agent' ORDER BY m.seq",
        thread_ts,
    )
    return [r["body"] for r in rows]


# ---------------------------------------------------------------- Redis down or stalled


async def test_with_redis_down_a_reply_is_stored_and_pushed_and_slack_gets_200(zora: Zora) -> None:
    shopper, thread_ts = await _conversation(zora)
    async with _slack_events_with_redis(zora, f"redis://127.0.0.1:{_closed_port()}/0"):
        assert await zora.standin.agent_reply(CHANNEL, thread_ts, "sent while Redis is down") == 200
        await shopper.wait_for(lambda: any(m["body"] == "sent while Redis is down" for m in shopper.agent_messages()))
        # Slack's retry of it (no de-duplication now): the transcript's unique key keeps it single.
        event = _event_of(_slack_message(zora, thread_ts, "sent while Redis is down"))
        assert await zora.standin.deliver_event(event, retry_num=1) == 200
    await _marker(zora, shopper, thread_ts)
    assert [m["body"] for m in shopper.agent_messages()] == ["sent while Redis is down", "marker"]
    assert await _agent_rows(zora, thread_ts) == ["sent while Redis is down", "marker"]


async def test_a_stalled_redis_does_not_hang_the_reply(zora: Zora) -> None:
    shopper, thread_ts = await _conversation(zora)
    zora.standin.delivery_timeout = 300.0  # Slack's own 3 s limit is not what this test is about
    try:
        async with (
            _stalled_redis() as url,
            _slack_events_with_redis(
                zora, url, pushes_too=True, redis_connect_timeout_seconds=0.2, redis_socket_timeout_seconds=0.2
            ),
        ):
            # Completion is the assertion: without timeouts the request waits on Redis forever.
            status = await asyncio.wait_for(zora.standin.agent_reply(CHANNEL, thread_ts, "Redis hangs"), 60)
    finally:
        zora.standin.delivery_timeout = 3.0
    assert status == 200
    assert await _agent_rows(zora, thread_ts) == ["Redis hangs"]
    # The push went to the hung Redis too; the widget gets the reply when it resumes.
    assert await _history(shopper) == ["Redis hangs"]


async def test_a_quiet_socketio_channel_outlives_the_redis_socket_timeout(infra: Any, database_url: str) -> None:
    """The web's socket.io subscriber waits on Redis with no answer due; the socket timeout must not cut
    that wait (redis-py before 8.0.1 did: it dropped and resubscribed, losing pushes meanwhile)."""
    async with running_zora(infra, database_url, redis_socket_timeout_seconds=0.1) as quick:
        shopper, thread_ts = await _conversation(quick)
        await asyncio.sleep(1.0)  # quiet for ten socket timeouts: not a measurement, the situation itself
        assert await quick.standin.agent_reply(CHANNEL, thread_ts, "after a quiet spell") == 200
        await shopper.wait_for(lambda: bool(shopper.agent_messages()))
        assert [m["body"] for m in shopper.agent_messages()] == ["after a quiet spell"]


# ---------------------------------------------------------------- "Also send to #channel"


async def test_a_reply_also_sent_to_the_channel_reaches_the_shopper_once(zora: Zora) -> None:
    shopper, thread_ts = await _conversation(zora)
    assert await zora.standin.agent_broadcast_reply(CHANNEL, thread_ts, "also in #support") == 200
    await _marker(zora, shopper, thread_ts)
    assert [m["body"] for m in shopper.agent_messages()] == ["also in #support", "marker"]
    assert await _history(shopper) == ["also in #support", "marker"]


async def test_the_published_thread_broadcast_event_is_relayed(zora: Zora) -> None:
    """Slack's own example event, moved into our thread, and the stand-in's event shape beside it."""
    if not FIXTURES.is_dir():
        pytest.skip("../shared/fixtures is absent (a newcomer's clone)")
    published = json.loads((FIXTURES / "slack" / "event-message-thread-broadcast-docs.json").read_text())
    shopper, thread_ts = await _conversation(zora)
    event = {**published, "channel": CHANNEL, "thread_ts": thread_ts, "user": AGENT, "ts": "1900000100.000100"}
    event["event_ts"] = event["ts"]
    assert await zora.standin.deliver_event(event) == 200

    seen: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/", receive)
    async with serving(app) as url:
        previous, zora.standin.events_url = zora.standin.events_url, f"{url}/"
        try:
            await zora.standin.agent_broadcast_reply(CHANNEL, thread_ts, "shape check")
        finally:
            zora.standin.events_url = previous
    [delivered] = seen
    missing = set(published) - set(delivered["event"])
    assert not missing, f"the stand-in's thread_broadcast event lacks {sorted(missing)}"
    # The root is the thread's first message as stored: Zora's own post here, and only people's messages
    # carry a client_msg_id.
    assert set(published["root"]) - set(delivered["event"]["root"]) == {"client_msg_id"}

    await _marker(zora, shopper, thread_ts)
    assert [m["body"] for m in shopper.agent_messages()] == [published["text"], "marker"]


# ---------------------------------------------------------------- replies Slack never delivered


async def _sweep(zora: Zora) -> SweepResult:
    return await zora.services.temporal.execute_workflow(
        SweepWorkflow.run,
        SweepRequest(),
        id=f"sweep-test-{uuid.uuid4()}",
        task_queue=zora.settings.temporal_task_queue,
    )


@asynccontextmanager
async def _backfill(zora: Zora, **limits: int) -> AsyncIterator[ReplyBackfill]:
    emitter = ShopperEmitter.from_settings(zora.settings)
    try:
        yield ReplyBackfill(
            BotDeps.from_services(zora.services, emitter),
            conversations_per_run=limits.get("conversations_per_run", 1000),
            calls_per_run=limits.get("calls_per_run", 1000),
            page_size=limits.get("page_size", 200),
        )
    finally:
        await emitter.close()


async def _run(backfill: ReplyBackfill) -> BackfillResult:
    return await ActivityEnvironment().run(backfill.backfill_replies, BackfillRequest())


async def _first_in_line(zora: Zora, thread_ts: str) -> None:
    """Every other thread counts as just read, so a run with a small budget reads this one."""
    async with zora.services.pool.acquire() as conn:
        await conn.execute(
            "UPDATE slack_threads SET backfilled_at = now() + interval '1 hour' WHERE thread_ts <> $1", thread_ts
        )
        await conn.execute("UPDATE slack_threads SET backfilled_at = NULL WHERE thread_ts = $1", thread_ts)


def _replies_calls(zora: Zora, thread_ts: str) -> list[dict[str, Any]]:
    return [p for m, p in zora.standin.calls if m == "conversations.replies" and p.get("ts") == thread_ts]


async def test_a_reply_written_while_zora_was_down_reaches_the_shopper_once(zora: Zora) -> None:
    shopper, thread_ts = await _conversation(zora)
    # Zora is down (or Slack cannot reach it): Slack keeps these, their events never arrive.
    for text in (";; internal note", "written while Zora was down"):
        assert await zora.standin.agent_reply(CHANNEL, thread_ts, text, deliver=False) == 0
    assert await zora.standin.agent_broadcast_reply(CHANNEL, thread_ts, "also to the channel", deliver=False) == 0
    await zora.services.slack.chat_postMessage(channel=CHANNEL, thread_ts=thread_ts, text="a post by Zora itself")

    result = await _sweep(zora)

    assert result.replies_backfilled >= 2
    expected = ["written while Zora was down", "also to the channel"]
    await shopper.wait_for(lambda: len(shopper.agent_messages()) >= 2)
    assert [m["body"] for m in shopper.agent_messages()] == expected
    # The late events arrive after all (Slack could reach Zora again), and a second sweep reads again.
    for text in expected:
        assert await zora.standin.deliver_event(_event_of(_slack_message(zora, thread_ts, text))) == 200
    await _first_in_line(zora, thread_ts)
    async with zora.services.pool.acquire() as conn:
        await conn.execute("UPDATE slack_threads SET backfilled_ts = NULL WHERE thread_ts = $1", thread_ts)
    async with _backfill(zora) as backfill:
        assert (await _run(backfill)).replies_stored == 0
    await _marker(zora, shopper, thread_ts)
    assert [m["body"] for m in shopper.agent_messages()] == [*expected, "marker"]
    assert await _history(shopper) == [*expected, "marker"]
    assert await _agent_rows(zora, thread_ts) == [*expected, "marker"]


async def test_backfill_pages_through_a_long_thread_and_goes_on_in_the_next_run(zora: Zora) -> None:
    shopper, thread_ts = await _conversation(zora)
    texts = [f"reply {n}" for n in range(1, 8)]
    for text in texts:
        await zora.standin.agent_reply(CHANNEL, thread_ts, text, deliver=False)
    await _first_in_line(zora, thread_ts)
    before = len(_replies_calls(zora, thread_ts))

    async with _backfill(zora, conversations_per_run=1, calls_per_run=2, page_size=3) as backfill:
        first = await _run(backfill)
        # Two pages of three replies (the root comes on top of the first; Zora's post of the shopper's
        # message is one of its three), then the run's calls are spent.
        assert (first.calls, first.replies_stored) == (2, 5)
        calls = _replies_calls(zora, thread_ts)[before:]
        assert calls[1].get("cursor"), "the second page is asked for with the first page's cursor"
        await shopper.wait_for(lambda: len(shopper.agent_messages()) >= 5)
        await _first_in_line(zora, thread_ts)
        second = await _run(backfill)
        assert second.replies_stored == 2
    await shopper.wait_for(lambda: len(shopper.agent_messages()) >= 7)
    assert [m["body"] for m in shopper.agent_messages()] == texts
    assert await _agent_rows(zora, thread_ts) == texts


async def test_a_rate_limited_backfill_stops_the_run_and_waits_for_retry_after(zora: Zora) -> None:
    shopper, thread_ts = await _conversation(zora)
    _, other_ts = await _conversation(zora)
    await zora.standin.agent_reply(CHANNEL, thread_ts, "after the limit", deliver=False)
    await _first_in_line(zora, thread_ts)
    async with zora.services.pool.acquire() as conn:
        await conn.execute("UPDATE slack_threads SET backfilled_at = NULL WHERE thread_ts = $1", other_ts)
    zora.standin.rate_limit("conversations.replies", times=1, retry_after=30)
    before = len([m for m, _ in zora.standin.calls if m == "conversations.replies"])

    async with _backfill(zora, conversations_per_run=2) as backfill:
        limited = await _run(backfill)
        # Stopped at the 429: the other thread is not read, nothing is stored, nothing raised.
        assert (limited.rate_limited, limited.calls, limited.replies_stored) == (True, 1, 0)
        assert len([m for m, _ in zora.standin.calls if m == "conversations.replies"]) == before + 1
        # Until Slack's Retry-After has passed this worker does not ask again.
        paused = await _run(backfill)
        assert (paused.paused, paused.calls) == (True, 0)
    # Later (another worker, or after Retry-After): the reply is fetched.
    await _first_in_line(zora, thread_ts)
    async with _backfill(zora, conversations_per_run=1) as backfill:
        assert (await _run(backfill)).replies_stored == 1
    await shopper.wait_for(lambda: bool(shopper.agent_messages()))
    assert [m["body"] for m in shopper.agent_messages()] == ["after the limit"]


async def test_a_file_shared_while_slack_could_not_reach_zora_is_fetched_and_copied(zora: Zora) -> None:
    shopper, thread_ts = await _conversation(zora)
    previous, zora.standin.events_url = zora.standin.events_url, f"http://127.0.0.1:{_closed_port()}/slack/events"
    try:
        with pytest.raises(aiohttp.ClientConnectionError):
            await zora.standin.share_file(CHANNEL, thread_ts, "label.pdf", PDF, "application/pdf", "your label")
    finally:
        zora.standin.events_url = previous
    await _first_in_line(zora, thread_ts)

    async with _backfill(zora, conversations_per_run=1) as backfill:
        assert (await _run(backfill)).replies_stored == 1

    await shopper.wait_for(lambda: bool(shopper.agent_messages()))
    [message] = shopper.agent_messages()
    assert message["body"] == "your label" and [f["name"] for f in message["files"]] == ["label.pdf"]
    # Copied from Slack as for a delivered event (the files_shared signal to the conversation's workflow).
    for _ in range(600):
        rows = await zora.fetch("SELECT state FROM files WHERE name = 'label.pdf' AND shop_id = $1", zora.shop_id)
        if rows and rows[0]["state"] != "pending":
            break
        await asyncio.sleep(0.05)
    assert [r["state"] for r in rows] == ["ready"]
