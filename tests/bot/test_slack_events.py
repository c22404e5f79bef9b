"""Slack → Zora: signatures, retries, bots, threads Zora does not know, and Slack failures."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.harness import AGENT, CHANNEL, Shopper, Zora
from tests.helpers import open_conversation


async def _conversation(zora: Zora, text: str = "hello") -> tuple[Shopper, str]:
    """A shopper with a Slack thread; returns the shopper and the thread's ts."""
    opened = await open_conversation(zora, text, delivered=True)
    assert opened.root.get("thread_ts") in (None, opened.root["ts"])
    return opened.shopper, opened.root["ts"]


def _reply(thread_ts: str, text: str, ts: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": CHANNEL,
        "user": AGENT,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "event_ts": ts,
        "channel_type": "channel",
        **extra,
    }


async def _agent_rows(zora: Zora, shopper: Shopper) -> list[str]:
    conv = (await shopper.call("resume", {"since_seq": 0}))["messages"]
    return [m["body"] for m in conv if m["direction"] == "agent"]


async def test_retried_and_repeated_events_give_one_message(zora: Zora) -> None:
    shopper, thread_ts = await _conversation(zora)
    event = _reply(thread_ts, "once only", "1900000000.000100")
    assert await zora.standin.deliver_event(event, event_id="EvDUP000001") == 200
    # Slack's retries of the same event, and the same message under another event id.
    assert await zora.standin.deliver_event(event, event_id="EvDUP000001", retry_num=1) == 200
    assert await zora.standin.deliver_event(event, event_id="EvDUP000001", retry_num=2) == 200
    assert await zora.standin.deliver_event(event, event_id="EvDUP000002") == 200
    # A later message marks the end: once it arrives, everything before it was handled.
    assert await zora.standin.agent_reply(CHANNEL, thread_ts, "marker") == 200
    await shopper.wait_for(lambda: any(m["body"] == "marker" for m in shopper.agent_messages()))
    assert [m["body"] for m in shopper.agent_messages()] == ["once only", "marker"]
    assert await _agent_rows(zora, shopper) == ["once only", "marker"]


async def test_bad_signature_is_rejected_and_stores_nothing(zora: Zora) -> None:
    shopper, thread_ts = await _conversation(zora)
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": zora.standin.team_id,
            "event_id": "EvFORGED0001",
            "event": _reply(thread_ts, "forged", "1900000001.000100"),
        }
    ).encode()
    good = zora.standin.sign(body)
    cases = [
        {"X-Slack-Request-Timestamp": good["X-Slack-Request-Timestamp"], "X-Slack-Signature": "v0=" + "0" * 64},
        {},  # no signature at all
        zora.standin.sign(body, timestamp=int(time.time()) - 600),  # a replay from 10 minutes ago
    ]
    for headers in cases:
        async with zora.http.post(
            f"{zora.base_url}/slack/events", data=body, headers={"Content-Type": "application/json", **headers}
        ) as resp:
            assert resp.status == 401
    assert await zora.standin.agent_reply(CHANNEL, thread_ts, "real") == 200
    await shopper.wait_for(lambda: bool(shopper.agent_messages()))
    assert await _agent_rows(zora, shopper) == ["real"]


async def test_bot_messages_and_unknown_threads_are_ignored(zora: Zora) -> None:
    shopper, thread_ts = await _conversation(zora)
    own = _reply(
        thread_ts, "from our bot", "1900000002.000100", bot_id=zora.standin.bot_id, user=zora.standin.bot_user_id
    )
    other = _reply(thread_ts, "from another app", "1900000003.000100", bot_id="B0OTHERAPP", subtype="bot_message")
    stranger = _reply("1800000000.000100", "a thread Zora never started", "1900000004.000100")
    root_post = {**_reply(thread_ts, "a new top-level post", "1900000005.000100")}
    root_post.pop("thread_ts")
    for event in (own, other, stranger, root_post):
        assert await zora.standin.deliver_event(event) == 200
    assert await zora.standin.agent_reply(CHANNEL, thread_ts, "human") == 200
    await shopper.wait_for(lambda: bool(shopper.agent_messages()))
    assert await _agent_rows(zora, shopper) == ["human"]
    rows = await zora.fetch(
        "SELECT body FROM messages WHERE body IN ('from our bot', 'from another app', 'a thread Zora never started')"
    )
    assert rows == []


async def test_url_verification_challenge(zora: Zora) -> None:
    body = json.dumps({"token": "x", "challenge": "abc123", "type": "url_verification"}).encode()
    headers = {"Content-Type": "application/json", **zora.standin.sign(body)}
    async with zora.http.post(f"{zora.base_url}/slack/events", data=body, headers=headers) as resp:
        assert resp.status == 200
        assert "abc123" in await resp.text()


async def test_rate_limited_post_is_retried_after_retry_after(zora: Zora) -> None:
    shopper, _ = await _conversation(zora)
    zora.standin.rate_limit("chat.postMessage", times=1, retry_after=1)
    sent_at = time.monotonic()
    assert (await shopper.send("after the limit", client_id="rl-1"))["ok"]
    await shopper.wait_for(
        lambda: any(s["client_id"] == "rl-1" and s["status"] == "delivered" for s in shopper.statuses)
    )
    waited = time.monotonic() - sent_at
    # Not a speed check: the retry must not come before Slack's Retry-After.
    assert waited >= 1.0
    attempts = [p for m, p in zora.standin.calls if m == "chat.postMessage" and p.get("text") == "after the limit"]
    assert len(attempts) == 2
    assert [p["text"] for p in zora.standin.posted].count("after the limit") == 1


async def test_channel_not_found_keeps_message_and_delivers_it_later_in_order(zora: Zora) -> None:
    shopper = await zora.shopper()
    zora.standin.fail("chat.postMessage", "channel_not_found", times=1)
    assert (await shopper.send("first, while Slack is broken", client_id="cnf-1"))["ok"]
    await shopper.wait_for(lambda: any(s["status"] == "undelivered" for s in shopper.statuses))

    rows = await zora.fetch("SELECT status FROM messages WHERE client_id = 'cnf-1'")
    assert [r["status"] for r in rows] == ["undelivered"]
    shop = (await zora.fetch("SELECT slack_error FROM shops WHERE id = $1", zora.shop_id))[0]
    assert shop["slack_error"] == "channel_not_found"

    before = len(zora.standin.posted)
    assert (await shopper.send("second, after the fix", client_id="cnf-2"))["ok"]
    posts = await zora.standin.wait_for_posts(before + 3)
    texts = [p["text"] for p in posts[before:]]
    assert texts[1:] == ["first, while Slack is broken", "second, after the fix"]
    await shopper.wait_for(
        lambda: {s["client_id"] for s in shopper.statuses if s["status"] == "delivered"} >= {"cnf-1", "cnf-2"}
    )
    shop = (await zora.fetch("SELECT slack_error FROM shops WHERE id = $1", zora.shop_id))[0]
    assert shop["slack_error"] is None


async def test_a_retried_reaction_is_applied_once(zora: Zora) -> None:
    # A reaction writes nothing that a unique index would keep single: only the event's id does.
    shopper, thread_ts = await _conversation(zora, "was this read?")
    [_, message] = zora.standin.thread(CHANNEL, thread_ts)
    reaction = {
        "type": "reaction_added",
        "user": AGENT,
        "reaction": "eyes",
        "item_user": message.get("user", ""),
        "item": {"type": "message", "channel": CHANNEL, "ts": message["ts"]},
        "event_ts": "1900000010.000100",
    }
    assert await zora.standin.deliver_event(reaction, event_id="EvREACT00001") == 200
    assert await zora.standin.deliver_event(reaction, event_id="EvREACT00001", retry_num=1) == 200
    # Pushes reach the widget in order: once the marker arrives, every push before it did too.
    assert await zora.standin.agent_reply(CHANNEL, thread_ts, "marker") == 200
    await shopper.wait_for(lambda: any(m["body"] == "marker" for m in shopper.agent_messages()))
    assert [s["status"] for s in shopper.statuses] == ["delivered", "seen"]
