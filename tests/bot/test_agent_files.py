"""Files agents share in the Slack thread reach the shopper: copied with the bot token, checked, pushed."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from tests.harness import AGENT, CHANNEL, Shopper, Zora
from tests.helpers import open_conversation, serving, session_ref
from tests.widget.test_files import PDF, png


@pytest.fixture(scope="module")
def zora_options() -> dict[str, Any]:
    return {"file_max_bytes": 50_000}


class Conversation:
    def __init__(self, shopper: Shopper, root: dict[str, Any]) -> None:
        self.shopper = shopper
        self.root = root
        self.file_events: list[dict[str, Any]] = []

        async def on_files(data: dict[str, Any]) -> None:
            self.file_events.append(data)
            shopper._changed.set()

        shopper.sio.on("message_files", on_files, namespace="/widget")

    def files_of(self, seq: int) -> list[dict[str, Any]]:
        """The message's files as the widget shows them now: the message, then any later update."""
        files: list[dict[str, Any]] = next(m for m in self.shopper.received if m["seq"] == seq)["files"]
        for event in self.file_events:
            if event["seq"] == seq:
                files = event["files"]
        return files


async def conversation(zora: Zora) -> Conversation:
    opened = await open_conversation(zora, "can I see it?")
    return Conversation(opened.shopper, opened.root)


async def settled(c: Conversation, seq: int) -> list[dict[str, Any]]:
    await c.shopper.wait_for(
        lambda: (
            any(m["seq"] == seq for m in c.shopper.received) and all(f["state"] != "pending" for f in c.files_of(seq))
        ),
        timeout=30,
    )
    return c.files_of(seq)


async def stored_without_signal(zora: Zora, c: Conversation, name: str, ts: str) -> tuple[Any, int]:
    """An agent's file stored as the Slack listener stores it, but with no signal to copy it (the
    process died first): the conversation's ref and the message's seq."""
    from datetime import UTC, datetime

    from zora import transcript
    from zora.models import AgentPost, Author

    session = await zora.session(token=c.shopper.token)
    ref = session_ref(zora, session)
    image = png(4, 4)
    slack_file = zora.standin.add_file(name, image, "image/png", channel=CHANNEL)
    post = AgentPost(author_id=AGENT, author=Author(name="Ada"), body="", channel=CHANNEL, ts=ts, at=datetime.now(UTC))
    stored = await transcript.store_agent_message(
        zora.services.pool,
        ref,
        post,
        files=[
            transcript.SharedFile(
                slack_file_id=slack_file["id"],
                name=name,
                content_type="image/png",
                size=len(image),
                url=slack_file["url_private_download"],
            )
        ],
    )
    assert stored is not None
    return ref, stored.seq


async def test_an_agents_image_is_copied_and_shown_to_the_shopper(zora: Zora) -> None:
    c = await conversation(zora)
    downloads = len(zora.standin.downloads)
    image = png(3, 3)
    status = await zora.standin.share_file(CHANNEL, c.root["ts"], "label.png", image, "image/png", "Here it is")
    assert status == 200
    await c.shopper.wait_for(lambda: len(c.shopper.agent_messages()) == 1)
    message = c.shopper.agent_messages()[0]
    assert message["body"] == "Here it is"
    # Shown at once with the file on its way, then the copy is pushed.
    assert [(f["name"], f["state"], f["url"]) for f in message["files"]] == [("label.png", "pending", None)]
    files = await settled(c, message["seq"])
    assert [(f["name"], f["type"], f["state"]) for f in files] == [("label.png", "image/png", "ready")]
    async with zora.http.get(zora.base_url + files[0]["url"]) as resp:
        assert await resp.read() == image
    # Fetched once, with the bot token (the stand-in answers others with Slack's sign-in page).
    assert len(zora.standin.downloads) == downloads + 1
    history = await c.shopper.call("resume", {"since_seq": 0})
    assert [f["state"] for f in history["messages"][-1]["files"]] == ["ready"]


async def test_a_file_without_text_and_a_pdf(zora: Zora) -> None:
    c = await conversation(zora)
    assert await zora.standin.share_file(CHANNEL, c.root["ts"], "invoice.pdf", PDF, "application/pdf") == 200
    await c.shopper.wait_for(lambda: len(c.shopper.agent_messages()) == 1)
    message = c.shopper.agent_messages()[0]
    assert message["body"] == ""
    assert [(f["type"], f["state"]) for f in await settled(c, message["seq"])] == [("application/pdf", "ready")]


@pytest.mark.parametrize(
    ("name", "content", "mimetype", "size", "reason"),
    [
        ("setup.zip", b"PK\x03\x04rest", "application/zip", None, "is not accepted"),
        ("huge.png", png(), "image/png", 60_000_000, "the limit is"),
    ],
)
async def test_files_zora_will_not_copy_are_named_and_the_agent_is_told(
    zora: Zora, name: str, content: bytes, mimetype: str, size: int | None, reason: str
) -> None:
    c = await conversation(zora)
    downloads = len(zora.standin.downloads)
    assert (
        await zora.standin.share_file(CHANNEL, c.root["ts"], name, content, mimetype, "see attached", size=size) == 200
    )
    await c.shopper.wait_for(lambda: len(c.shopper.agent_messages()) == 1)
    message = c.shopper.agent_messages()[0]
    assert [(f["name"], f["state"]) for f in message["files"]] == [(name, "failed")]
    notes = [
        m["text"] for m in zora.standin.thread(CHANNEL, c.root["ts"]) if "Not sent to the shopper" in m.get("text", "")
    ]
    assert len(notes) == 1 and name in notes[0] and reason in notes[0], notes
    assert len(zora.standin.downloads) == downloads  # never fetched


async def test_content_that_is_not_what_slack_says_is_refused(zora: Zora) -> None:
    c = await conversation(zora)
    html = b"<html><script>alert(1)</script></html>"
    assert await zora.standin.share_file(CHANNEL, c.root["ts"], "cat.png", html, "image/png") == 200
    await c.shopper.wait_for(lambda: len(c.shopper.agent_messages()) == 1)
    files = await settled(c, c.shopper.agent_messages()[0]["seq"])
    assert [(f["state"], f["url"]) for f in files] == [("failed", None)]
    rows = await zora.fetch("SELECT data, error FROM files WHERE name = 'cat.png' AND shop_id = $1", zora.shop_id)
    assert rows[0]["data"] is None and "not image/png" in rows[0]["error"]
    # The agent is told in the thread, as for files refused at once.
    notes = [
        m["text"] for m in zora.standin.thread(CHANNEL, c.root["ts"]) if "Not sent to the shopper" in m.get("text", "")
    ]
    assert len(notes) == 1 and "cat.png" in notes[0] and "not image/png" in notes[0], notes


async def test_the_same_message_delivered_again_copies_the_file_once(zora: Zora) -> None:
    c = await conversation(zora)
    assert await zora.standin.share_file(CHANNEL, c.root["ts"], "twice.png", png(), "image/png", "one") == 200
    shared = next(m for m in zora.standin.thread(CHANNEL, c.root["ts"]) if m.get("text") == "one")
    # Slack can deliver one message twice under new event ids: (channel, ts) makes it one message.
    again = {**copy.deepcopy(shared), "channel": CHANNEL, "event_ts": shared["ts"], "channel_type": "channel"}
    assert await zora.standin.deliver_event(again) == 200
    assert await zora.standin.deliver_event(again) == 200
    await c.shopper.wait_for(lambda: len(c.shopper.agent_messages()) == 1)
    await settled(c, c.shopper.agent_messages()[0]["seq"])
    rows = await zora.fetch("SELECT state FROM files WHERE name = 'twice.png' AND shop_id = $1", zora.shop_id)
    assert [r["state"] for r in rows] == ["ready"]
    history = await c.shopper.call("resume", {"since_seq": 0})
    assert [m["body"] for m in history["messages"] if m["direction"] == "agent"] == ["one"]


async def test_deleting_the_message_in_slack_erases_its_file(zora: Zora) -> None:
    c = await conversation(zora)
    assert await zora.standin.share_file(CHANNEL, c.root["ts"], "oops.png", png(), "image/png", "wrong one") == 200
    await c.shopper.wait_for(lambda: len(c.shopper.agent_messages()) == 1)
    message = c.shopper.agent_messages()[0]
    files = await settled(c, message["seq"])
    ts = next(m["ts"] for m in zora.standin.thread(CHANNEL, c.root["ts"]) if m.get("text") == "wrong one")
    deleted = {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": CHANNEL,
        "ts": "1900000201.000100",
        "deleted_ts": ts,
        "event_ts": "1900000201.000100",
        "channel_type": "channel",
        "previous_message": {
            "type": "message",
            "user": AGENT,
            "text": "wrong one",
            "ts": ts,
            "thread_ts": c.root["ts"],
        },
    }
    assert await zora.standin.deliver_event(deleted) == 200
    async with zora.http.get(zora.base_url + files[0]["url"]) as resp:
        assert resp.status == 404
    history = await c.shopper.call("resume", {"since_seq": 0})
    assert next(m for m in history["messages"] if m["seq"] == message["seq"])["files"] == []


async def test_the_sweep_copies_files_whose_signal_was_lost(zora: Zora) -> None:
    from workflows.sweeper import SweepWorkflow
    from zora.models import SweepRequest

    c = await conversation(zora)
    # Stored by the listener ten minutes ago; the process died before it could signal the workflow.
    _, seq = await stored_without_signal(zora, c, "lost.png", "1900000301.000100")
    await zora.fetch("UPDATE files SET created_at = now() - interval '10 minutes' WHERE name = 'lost.png'")
    handle = await zora.services.temporal.start_workflow(
        SweepWorkflow.run,
        SweepRequest(older_than_seconds=60),
        id=f"sweep-test-{uuid.uuid4()}",
        task_queue=zora.settings.temporal_task_queue,
    )
    assert (await handle.result()).files_handed_over == 1
    await c.shopper.wait_for(lambda: any(e["seq"] == seq for e in c.file_events), timeout=30)
    pushed = next(e for e in c.file_events if e["seq"] == seq)
    assert [(f["name"], f["state"]) for f in pushed["files"]] == [("lost.png", "ready")]


async def test_the_same_file_shared_again_later_reaches_the_shopper_twice(zora: Zora) -> None:
    c = await conversation(zora)
    assert await zora.standin.share_file(CHANNEL, c.root["ts"], "map.png", png(), "image/png", "first") == 200
    first = next(m for m in zora.standin.thread(CHANNEL, c.root["ts"]) if m.get("text") == "first")
    # Slack's "share" of an existing file: a new message carrying the same file id.
    again = {
        **copy.deepcopy(first),
        "ts": "1900000401.000100",
        "text": "again",
        "client_msg_id": str(uuid.uuid4()),
        "channel": CHANNEL,
        "event_ts": "1900000401.000100",
        "channel_type": "channel",
    }
    assert await zora.standin.deliver_event(again) == 200
    await c.shopper.wait_for(lambda: len(c.shopper.agent_messages()) == 2)
    for message in c.shopper.agent_messages():
        assert [f["state"] for f in await settled(c, message["seq"])] == ["ready"]


async def test_malformed_file_entries_are_named_as_failed_and_the_reply_still_arrives(zora: Zora) -> None:
    c = await conversation(zora)
    event = {
        "type": "message",
        "subtype": "file_share",
        "user": AGENT,
        "text": "see these",
        "ts": "1900000501.000100",
        "thread_ts": c.root["ts"],
        "channel": CHANNEL,
        "event_ts": "1900000501.000100",
        "channel_type": "channel",
        "files": [
            {"name": "odd.png", "size": "big", "mimetype": "image/png"},  # no id, no URL, size not a number
            {"id": "FNOTYPE01", "name": "mystery"},  # no type at all
            "not an object",
        ],
    }
    assert await zora.standin.deliver_event(event) == 200
    await c.shopper.wait_for(lambda: len(c.shopper.agent_messages()) == 1)
    message = c.shopper.agent_messages()[0]
    assert message["body"] == "see these"
    assert [(f["name"], f["state"]) for f in message["files"]] == [("odd.png", "failed"), ("mystery", "failed")]


async def test_a_copy_that_keeps_failing_does_not_hold_up_the_conversation(zora: Zora) -> None:
    c = await conversation(zora)
    zora.standin.download_failures = 10_000  # Slack's file host answers 503: the copy retries for minutes
    try:
        assert await zora.standin.share_file(CHANNEL, c.root["ts"], "slow.png", png(), "image/png", "slow") == 200
        await c.shopper.wait_for(lambda: len(c.shopper.agent_messages()) == 1)
        # Meanwhile a shopper message needs the workflow (Slack rate-limits the fast path once).
        zora.standin.rate_limit("chat.postMessage", times=1, retry_after=1)
        ack = await c.shopper.send("are you there?")
        await c.shopper.wait_for(
            lambda: any(s["seq"] == ack["seq"] and s["status"] == "delivered" for s in c.shopper.statuses), timeout=30
        )
        rows = await zora.fetch("SELECT state FROM files WHERE name = 'slow.png' AND shop_id = $1", zora.shop_id)
        assert [r["state"] for r in rows] == ["pending"]  # still being retried, and it did not block delivery
    finally:
        zora.standin.download_failures = 0


async def test_a_file_deleted_in_slack_is_erased_for_the_shopper_and_the_text_stays(zora: Zora) -> None:
    c = await conversation(zora)
    assert await zora.standin.share_file(CHANNEL, c.root["ts"], "wrong.png", png(), "image/png", "the label") == 200
    await c.shopper.wait_for(lambda: len(c.shopper.agent_messages()) == 1)
    message = c.shopper.agent_messages()[0]
    [ready] = await settled(c, message["seq"])
    shared = next(m for m in zora.standin.thread(CHANNEL, c.root["ts"]) if m.get("text") == "the label")
    # What Slack sends when a shared file is deleted: the message again, its file now a tombstone.
    changed = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": CHANNEL,
        "ts": "1900000601.000100",
        "event_ts": "1900000601.000100",
        "channel_type": "channel",
        "message": {
            **{k: v for k, v in shared.items() if k != "files"},
            "files": [{"id": shared["files"][0]["id"], "mode": "tombstone"}],
        },
        "previous_message": copy.deepcopy(shared),
    }
    assert await zora.standin.deliver_event(changed) == 200
    await c.shopper.wait_for(lambda: any(e["seq"] == message["seq"] and e["files"] == [] for e in c.file_events))
    async with zora.http.get(zora.base_url + ready["url"]) as resp:
        assert resp.status == 404
    history = await c.shopper.call("resume", {"since_seq": 0})
    kept = next(m for m in history["messages"] if m["seq"] == message["seq"])
    assert (kept["body"], kept["files"], kept["deleted"]) == ("the label", [], False)


async def test_the_bot_token_is_never_sent_outside_slack(zora: Zora) -> None:
    from aiohttp import web

    seen: list[str] = []

    async def steal(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.Response(body=png(), content_type="image/png")

    app = web.Application()
    app.router.add_get("/{tail:.*}", steal)
    async with serving(app) as url:
        c = await conversation(zora)
        event = {
            "type": "message",
            "subtype": "file_share",
            "user": AGENT,
            "text": "look",
            "ts": "1900000701.000100",
            "thread_ts": c.root["ts"],
            "channel": CHANNEL,
            "event_ts": "1900000701.000100",
            "channel_type": "channel",
            # Another host than Slack's (here: the same machine by another name).
            "files": [
                {
                    "id": "FELSEWHERE",
                    "name": "x.png",
                    "mimetype": "image/png",
                    "size": 100,
                    "url_private_download": url.replace("127.0.0.1", "localhost") + "/x.png",
                }
            ],
        }
        assert await zora.standin.deliver_event(event) == 200
        await c.shopper.wait_for(lambda: len(c.shopper.agent_messages()) == 1)
        files = await settled(c, c.shopper.agent_messages()[0]["seq"])
        assert [f["state"] for f in files] == ["failed"]
        assert seen == []


async def test_a_copy_that_fails_on_its_last_tries_marks_the_file_failed(zora: Zora) -> None:
    import dataclasses

    from temporalio.testing import ActivityEnvironment

    from activities.files import MAX_ATTEMPTS, FileActivities, FileFetchError
    from bot.outbound import SlackOutbound
    from widget.emitter import ShopperEmitter
    from zora.models import CopyAgentFiles

    c = await conversation(zora)
    ref, _ = await stored_without_signal(zora, c, "flaky.png", "1900000801.000100")
    emitter = ShopperEmitter(zora.settings.redis_url or "")
    outbound = SlackOutbound(zora.services.pool, zora.services.slack, emitter)
    copier = FileActivities(zora.services.pool, emitter, zora.settings, outbound)
    env = ActivityEnvironment()
    zora.standin.download_failures = 2
    try:
        # An early try: Slack's 503 is worth another try, so the activity fails and the file waits.
        env.info = dataclasses.replace(env.info, attempt=1)
        with pytest.raises(FileFetchError):
            await env.run(copier.copy_agent_files, CopyAgentFiles(ref=ref))
        # The last tries give up: the file is shown as failed, and the agents are told.
        env.info = dataclasses.replace(env.info, attempt=MAX_ATTEMPTS)
        assert await env.run(copier.copy_agent_files, CopyAgentFiles(ref=ref)) == 0
    finally:
        zora.standin.download_failures = 0
        await emitter.close()
    rows = await zora.fetch("SELECT state, error FROM files WHERE name = 'flaky.png' AND shop_id = $1", zora.shop_id)
    assert rows[0]["state"] == "failed" and "HTTP 503" in rows[0]["error"]
    notes = [m["text"] for m in zora.standin.thread(CHANNEL, c.root["ts"]) if "flaky.png" in m.get("text", "")]
    assert len(notes) == 1 and "Not sent to the shopper" in notes[0]
