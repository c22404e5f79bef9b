"""Internal notes, alerts-only shops, anonymous replies, and agents editing or deleting replies."""

from __future__ import annotations

import json
from typing import Any

from tests.harness import AGENT, CHANNEL, Shopper, Zora
from tests.helpers import open_conversation, set_shop_settings


async def _conversation(zora: Zora) -> tuple[Shopper, dict[str, Any]]:
    opened = await open_conversation(zora)
    return opened.shopper, opened.root


async def _marker(zora: Zora, shopper: Shopper, root: dict[str, Any]) -> None:
    """A last reply: once it arrives, everything Slack sent before it was handled."""
    assert await zora.standin.agent_reply(CHANNEL, root["ts"], "marker") == 200
    await shopper.wait_for(lambda: any(m["body"] == "marker" for m in shopper.agent_messages()))


async def test_internal_notes_stay_in_slack_and_the_root_post_says_so(zora: Zora) -> None:
    await set_shop_settings(zora)
    shopper, root = await _conversation(zora)
    assert ";;" in json.dumps(root["blocks"]), "the thread's first post explains the note prefix"
    assert await zora.standin.agent_reply(CHANNEL, root["ts"], ";; customer was rude last time") == 200
    assert await zora.standin.agent_reply(CHANNEL, root["ts"], "  ;;also a note") == 200
    await _marker(zora, shopper, root)
    assert [m["body"] for m in shopper.agent_messages()] == ["marker"]
    rows = await zora.fetch("SELECT body FROM messages WHERE body LIKE '%note%' OR body LIKE '%rude%'")
    assert rows == []


async def test_a_shop_can_choose_another_note_prefix(zora: Zora) -> None:
    await set_shop_settings(zora, note_prefix="!!")
    shopper, root = await _conversation(zora)
    assert await zora.standin.agent_reply(CHANNEL, root["ts"], "!! private") == 200
    assert await zora.standin.agent_reply(CHANNEL, root["ts"], ";; public now") == 200
    await _marker(zora, shopper, root)
    assert [m["body"] for m in shopper.agent_messages()] == [";; public now", "marker"]


async def test_alerts_only_forwards_nothing_to_shoppers(zora: Zora) -> None:
    await set_shop_settings(zora, alerts_only=True)
    shopper, root = await _conversation(zora)
    assert "Alerts only" in json.dumps(root["blocks"])
    assert await zora.standin.agent_reply(CHANNEL, root["ts"], "you will not see this") == 200
    await set_shop_settings(zora)
    await _marker(zora, shopper, root)
    assert [m["body"] for m in shopper.agent_messages()] == ["marker"]


async def test_anonymous_replies_show_the_brand(zora: Zora) -> None:
    await set_shop_settings(zora, anonymous_replies=True, brand_name="Slow Goods")
    shopper, root = await _conversation(zora)
    await _marker(zora, shopper, root)
    author = shopper.agent_messages()[0]["author"]
    assert author == {"name": "Slow Goods", "avatar_url": None}
    await set_shop_settings(zora)


def _edit(root_ts: str, ts: str, text: str, old: str) -> dict[str, Any]:
    return {
        "type": "message",
        "subtype": "message_changed",
        "channel": CHANNEL,
        "hidden": True,
        "ts": "1900000100.000100",
        "event_ts": "1900000100.000100",
        "channel_type": "channel",
        "message": {
            "type": "message",
            "user": AGENT,
            "text": text,
            "ts": ts,
            "thread_ts": root_ts,
            "edited": {"user": AGENT, "ts": "1900000100.000000"},
        },
        "previous_message": {"type": "message", "user": AGENT, "text": old, "ts": ts, "thread_ts": root_ts},
    }


async def test_agent_edits_and_deletes_reach_the_widget_and_history(zora: Zora) -> None:
    await set_shop_settings(zora)
    shopper, root = await _conversation(zora)
    assert await zora.standin.agent_reply(CHANNEL, root["ts"], "It ships Monday") == 200
    assert await zora.standin.agent_reply(CHANNEL, root["ts"], "Oops, wrong chat") == 200
    await shopper.wait_for(lambda: len(shopper.agent_messages()) == 2)
    first, second = shopper.agent_messages()
    thread = zora.standin.thread(CHANNEL, root["ts"])
    ts_of = {m["text"]: m["ts"] for m in thread}

    updates: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    shopper.sio.on("message_updated", updates.append, namespace="/widget")
    shopper.sio.on("message_deleted", deletes.append, namespace="/widget")

    edit = _edit(root["ts"], ts_of["It ships Monday"], "It ships Tuesday", "It ships Monday")
    assert await zora.standin.deliver_event(edit) == 200
    delete = {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": CHANNEL,
        "ts": "1900000101.000100",
        "deleted_ts": ts_of["Oops, wrong chat"],
        "event_ts": "1900000101.000100",
        "channel_type": "channel",
        "previous_message": {
            "type": "message",
            "user": AGENT,
            "text": "Oops, wrong chat",
            "ts": ts_of["Oops, wrong chat"],
            "thread_ts": root["ts"],
        },
    }
    assert await zora.standin.deliver_event(delete) == 200
    await _marker(zora, shopper, root)

    assert [(u["seq"], u["body"]) for u in updates] == [(first["seq"], "It ships Tuesday")]
    assert [d["seq"] for d in deletes] == [second["seq"]]
    history = (await shopper.call("resume", {"since_seq": 0}))["messages"]
    by_seq = {m["seq"]: m for m in history}
    assert by_seq[first["seq"]]["body"] == "It ships Tuesday" and by_seq[first["seq"]]["edited_at"]
    assert by_seq[second["seq"]]["deleted"] is True and by_seq[second["seq"]]["body"] == ""

    # An edit of a message Zora never relayed (the bot's own root post) changes nothing.
    assert await zora.standin.deliver_event(_edit(root["ts"], root["ts"], "x", "y")) == 200
    turned_into_note = _edit(root["ts"], ts_of["It ships Monday"], ";; keep this internal", "It ships Tuesday")
    assert await zora.standin.deliver_event(turned_into_note) == 200
    await _marker(zora, shopper, root)
    assert [d["seq"] for d in deletes] == [second["seq"], first["seq"]]
