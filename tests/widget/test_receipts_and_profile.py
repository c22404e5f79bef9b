"""Receipts (`delivered`, `seen`), `seen` for shopper messages, the pre-chat profile and the shop's
widget settings, spoken by a real python-socketio client (docs/widget-protocol.md)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.harness import AGENT, CHANNEL, Shopper, Zora
from tests.helpers import set_shop_settings
from zora.files import ALLOWED_TYPES


async def conversation_with_reply(zora: Zora, shopper: Shopper, reply: str = "Hello from Ada") -> str:
    """The shopper writes, an agent answers in the Slack thread; returns the thread's ts."""
    text = f"question {uuid.uuid4().hex[:6]}"
    assert (await shopper.send(text))["ok"]
    while not any(p.get("text") == text for p in zora.standin.posted):
        await zora.standin.wait_for_posts(len(zora.standin.posted) + 1)
    thread_ts = str(next(p for p in zora.standin.posted if p.get("text") == text)["thread_ts"])
    assert await zora.standin.agent_reply(CHANNEL, thread_ts, reply, user=AGENT) == 200
    await shopper.wait_for(lambda: any(m["body"] == reply for m in shopper.agent_messages()))
    return thread_ts


async def receipts(zora: Zora, conversation_id: str) -> Any:
    rows = await zora.fetch(
        "SELECT delivered_upto, seen_upto FROM shopper_receipts WHERE conversation_id = $1::uuid", conversation_id
    )
    return None if not rows else (rows[0]["delivered_upto"], rows[0]["seen_upto"])


async def test_delivered_and_seen_are_stored_and_reach_other_tabs(zora: Zora) -> None:
    session = await zora.session()
    tab1 = await zora.shopper(session["token"])
    tab2 = await zora.shopper(session["token"])
    seen_elsewhere: list[dict[str, Any]] = []
    tab2.sio.on("receipt", seen_elsewhere.append, namespace="/widget")
    await conversation_with_reply(zora, tab1)
    reply_seq = tab1.agent_messages()[-1]["seq"]
    cid = session["conversation_id"]

    assert await tab1.call("delivered", {"upto_seq": reply_seq}) == {
        "ok": True,
        "delivered_upto": reply_seq,
        "seen_upto": 0,
    }
    assert await receipts(zora, cid) == (reply_seq, 0)
    ack = await tab1.call("seen", {"upto_seq": reply_seq})
    assert ack == {"ok": True, "delivered_upto": reply_seq, "seen_upto": reply_seq}
    assert await receipts(zora, cid) == (reply_seq, reply_seq)
    await tab2.wait_for(lambda: any(r["seen_upto"] == reply_seq for r in seen_elsewhere))
    assert seen_elsewhere[-1] == {"conversation_id": cid, "delivered_upto": reply_seq, "seen_upto": reply_seq}

    # Watermarks only move forward: an older receipt (a late retry) changes nothing.
    assert (await tab1.call("delivered", {"upto_seq": 1}))["delivered_upto"] == reply_seq
    assert await receipts(zora, cid) == (reply_seq, reply_seq)


async def test_a_receipt_beyond_the_last_message_is_refused_and_stores_nothing(zora: Zora) -> None:
    shopper = await zora.shopper()
    await conversation_with_reply(zora, shopper)
    cid = (await shopper.call("resume", {"since_seq": 0}))["conversation_id"]
    last = shopper.agent_messages()[-1]["seq"]
    ack = await shopper.call("seen", {"upto_seq": last + 1})
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload"
    assert await receipts(zora, cid) is None


async def test_a_receipt_before_the_conversation_exists_is_refused(zora: Zora) -> None:
    shopper = await zora.shopper()
    before = await zora.fetch("SELECT count(*) AS n FROM shopper_receipts")
    ack = await shopper.call("delivered", {"upto_seq": 1})
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload"
    assert await zora.fetch("SELECT count(*) AS n FROM shopper_receipts") == before


async def test_shopper_messages_are_seen_once_an_agent_replied_after_them(zora: Zora) -> None:
    shopper = await zora.shopper()
    await conversation_with_reply(zora, shopper)
    assert (await shopper.send("and one more thing", client_id="after-reply"))["ok"]
    await shopper.wait_for(lambda: any(m["client_id"] == "after-reply" for m in shopper.received))
    resumed = await shopper.call("resume", {"since_seq": 0})
    statuses = [(m["direction"], m["status"]) for m in resumed["messages"]]
    assert statuses[0] == ("shopper", "seen")
    assert statuses[1][0] == "agent"
    # Nobody answered the last one yet.
    assert statuses[2] == ("shopper", "stored") or statuses[2] == ("shopper", "delivered")


async def test_profile_is_stored_for_the_tokens_shopper_only(zora: Zora) -> None:
    session = await zora.session()
    shopper = await zora.shopper(session["token"])
    ack = await shopper.call("profile", {"name": "  Ana Souza ", "email": "ana@example.com"})
    # A typed address is confirmed before any mail goes there; this Zora has no SMTP server to ask.
    assert ack == {"ok": True, "confirmation": "unavailable"}
    rows = await zora.fetch("SELECT shop_id, name, email FROM shoppers WHERE id = $1::uuid", session["shopper_id"])
    assert [(r["shop_id"], r["name"], r["email"]) for r in rows] == [(zora.shop_id, "Ana Souza", "ana@example.com")]
    # A later form with only a name keeps the email.
    assert (await shopper.call("profile", {"name": "Ana"}))["ok"]
    rows = await zora.fetch("SELECT name, email FROM shoppers WHERE id = $1::uuid", session["shopper_id"])
    assert (rows[0]["name"], rows[0]["email"]) == ("Ana", "ana@example.com")


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "not-an-email"},
        {"email": "a@b"},
        {"email": "two@@example.com"},
        {"email": "line\nbreak@example.com"},
        {"name": "x" * 101},
        {"name": "bell\x07"},
        {"email": 5},
        {"name": "Ana", "shopper_id": str(uuid.uuid4())},
        "ana@example.com",
    ],
)
async def test_bad_profile_is_refused_and_stores_nothing(zora: Zora, payload: Any) -> None:
    session = await zora.session()
    shopper = await zora.shopper(session["token"])
    ack = await shopper.call("profile", payload)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload"
    assert await zora.fetch("SELECT 1 FROM shoppers WHERE id = $1::uuid", session["shopper_id"]) == []


async def test_session_carries_the_shops_widget_settings(zora: Zora) -> None:
    files = {"max_bytes": zora.settings.file_max_bytes, "types": list(ALLOWED_TYPES)}
    nothing_set = {
        "prechat": "off",
        "language": "en",
        "greetings": {},
        "aways": {},
        "away": False,
        "files": files,
        "look": {},
    }
    assert (await zora.session())["widget"] == nothing_set
    # Greetings stored before per-language texts still reach the widget, beside the newer texts.
    settings = {"prechat": "required", "greetings": {"fr": "Bonjour de la boutique", "default": "Hello!"}}
    texts = {"de": {"greeting": "Hallo!", "away": "Gerade nicht da."}, "ja": {"missed_subject": "返信"}}
    look = {"color": "#AA3300", "position": "left", "logo_url": "https://cdn.example.com/logo.png"}
    await set_shop_settings(zora, **settings, texts=texts, look=look, languages=["ja", "en"])
    try:
        assert (await zora.session())["widget"] == {
            **nothing_set,
            "prechat": "required",
            "language": "ja",
            "greetings": {"fr": "Bonjour de la boutique", "default": "Hello!", "de": "Hallo!"},
            "aways": {"de": "Gerade nicht da."},
            "look": {**look, "color": "#aa3300"},
        }
        # "Talk to a person" up front only where the assistant answers at all (issue 12 §5).
        await set_shop_settings(zora, assistant={"offer_person_first": True})
        assert "assistant" not in (await zora.session())["widget"]
        await set_shop_settings(zora, assistant={"enabled": True, "offer_person_first": True})
        assert (await zora.session())["widget"]["assistant"]["offer_person_first"] is True
    finally:
        await set_shop_settings(zora)
