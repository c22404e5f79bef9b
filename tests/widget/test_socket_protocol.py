"""The widget protocol (docs/widget-protocol.md) spoken by a real python-socketio client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio

from tests.harness import Shopper, Zora


async def _message_count(zora: Zora) -> int:
    rows = await zora.fetch("SELECT count(*) AS n FROM messages")
    return int(rows[0]["n"])


async def test_reload_resumes_the_same_conversation(zora: Zora) -> None:
    first = await zora.session()
    tab1 = await zora.shopper(first["token"])
    assert (await tab1.send("before reload", client_id="r-1"))["ok"]
    await tab1.wait_for(lambda: any(m["client_id"] == "r-1" for m in tab1.received))
    await tab1.close()

    # A reload: the widget presents its stored token and gets the same identity back.
    again = await zora.session(token=first["token"])
    assert again["conversation_id"] == first["conversation_id"]
    assert again["shopper_id"] == first["shopper_id"]
    tab2 = await zora.shopper(again["token"])
    resumed = await tab2.call("resume", {"since_seq": 0})
    assert resumed["ok"] and resumed["conversation_id"] == first["conversation_id"]
    assert [(m["seq"], m["body"]) for m in resumed["messages"]] == [(1, "before reload")]
    assert (await tab2.call("resume", {"since_seq": 1}))["messages"] == []


async def test_retried_client_id_is_stored_and_posted_once(zora: Zora) -> None:
    shopper = await zora.shopper()
    for _ in range(3):
        assert (await shopper.send("only once", client_id="same-id"))["ok"]
    assert (await shopper.send("marker", client_id="marker"))["ok"]
    await shopper.wait_for(lambda: any(m["client_id"] == "marker" for m in shopper.received))
    # Posted in order: once the marker is in Slack, so is everything sent before it (counting posts
    # instead raced the first post, which may not have started when the count was taken).
    await shopper.wait_for(
        lambda: any(s["client_id"] == "marker" and s["status"] == "delivered" for s in shopper.statuses)
    )
    rows = await zora.fetch(
        "SELECT m.body FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE c.id = $1::uuid ORDER BY seq",
        (await shopper.call("resume", {"since_seq": 0}))["conversation_id"],
    )
    assert [r["body"] for r in rows] == ["only once", "marker"]
    assert [p["text"] for p in zora.standin.posted].count("only once") == 1
    assert len([m for m in shopper.received if m["client_id"] == "same-id"]) == 1


async def test_burst_keeps_order_in_slack(zora: Zora) -> None:
    shopper = await zora.shopper()
    before = len(zora.standin.posted)
    texts = [f"burst {i}" for i in range(25)]
    # Fire without waiting for acks: the server must still keep the shopper's order.
    acks = await asyncio.gather(*(shopper.send(t, client_id=f"b{i}") for i, t in enumerate(texts)))
    assert all(a["ok"] for a in acks)
    await zora.standin.wait_for_posts(before + 1 + len(texts))
    # Other tests' conversations may post in between; this thread's replies must be in order.
    while len([p for p in zora.standin.posted if p["text"].startswith("burst ")]) < len(texts):
        await zora.standin.wait_for_posts(len(zora.standin.posted) + 1)
    ours = [p for p in zora.standin.posted if p["text"].startswith("burst ")]
    assert [p["text"] for p in ours] == texts
    assert len({p["thread_ts"] for p in ours}) == 1
    await shopper.wait_for(lambda: len([m for m in shopper.received if m["client_id"]]) == len(texts))
    assert [m["seq"] for m in shopper.received if m["direction"] == "shopper"] == list(range(1, 26))


BAD_MESSAGES: list[Any] = [
    None,
    "just a string",
    42,
    [],
    {},
    {"body": "no client id"},
    {"client_id": "ok-id"},
    {"client_id": "ok-id", "body": ""},
    {"client_id": "ok-id", "body": "   \n "},
    {"client_id": "ok-id", "body": "x" * 4001},
    {"client_id": "has space", "body": "hi"},
    {"client_id": "x" * 65, "body": "hi"},
    {"client_id": 7, "body": "hi"},
    {"client_id": "ok-id", "body": 123},
    {"client_id": "ok-id", "body": "hi", "conversation_id": "someone-elses"},
]


@pytest.mark.parametrize("payload", BAD_MESSAGES, ids=[repr(p)[:30] for p in BAD_MESSAGES])
async def test_malformed_message_gets_an_error_and_stores_nothing(zora: Zora, payload: Any) -> None:
    shopper = await zora.shopper()
    before = await _message_count(zora)
    ack = await shopper.call("message", payload)
    assert ack["ok"] is False
    assert ack["error"]["code"] == "invalid_payload"
    assert ack["error"]["message"]
    # The connection keeps working, and nothing was stored.
    assert (await shopper.call("resume", {"since_seq": 0}))["ok"]
    assert await _message_count(zora) == before


@pytest.mark.parametrize("payload", [{"since_seq": -1}, {"since_seq": "3"}, "x", {"since_seq": 1, "extra": 1}])
async def test_malformed_resume_gets_an_error(zora: Zora, payload: Any) -> None:
    shopper = await zora.shopper()
    ack = await shopper.call("resume", payload)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload"


async def test_unknown_event_gets_an_explicit_error(zora: Zora) -> None:
    shopper = await zora.shopper()
    ack = await shopper.call("delete_everything", {})
    assert ack == {"ok": False, "error": {"code": "unknown_event", "message": ack["error"]["message"]}}


@pytest.mark.parametrize("auth", [None, {}, {"token": "not-a-jwt"}, {"token": 5}])
async def test_socket_without_a_valid_token_is_refused(zora: Zora, auth: Any) -> None:
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(zora.base_url, namespaces=["/widget"], auth=auth, transports=["websocket"], wait_timeout=5)
    await client.disconnect()


async def test_token_of_one_shop_never_opens_another_shops_conversation(zora: Zora) -> None:
    from zora.app.dev import ensure_shop

    other = "other-shop.myshopify.com"
    await ensure_shop(zora.services.pool, other, "Other", None)
    mine = await zora.session()
    theirs = await zora.session(shop=other, token=mine["token"])
    assert theirs["conversation_id"] != mine["conversation_id"]
    assert theirs["shopper_id"] != mine["shopper_id"]


async def test_tampered_token_gets_a_fresh_identity(zora: Zora) -> None:
    mine = await zora.session()
    head, payload, sig = mine["token"].split(".")
    forged = f"{head}.{payload}.{sig[::-1]}"
    fresh = await zora.session(token=forged)
    assert fresh["conversation_id"] != mine["conversation_id"]
    shopper = Shopper(forged)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await shopper.connect(zora.base_url)
    await shopper.sio.disconnect()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "invalid_request"),
        (b'{"shop": "evil.com"}', 400, "invalid_request"),
        (b'{"shop": "x.myshopify.com", "extra": 1}', 400, "invalid_request"),
        (b"{}", 400, "invalid_request"),
        (b'{"shop": "nobody-here.myshopify.com"}', 404, "unknown_shop"),
    ],
)
async def test_session_endpoint_rejects_bad_requests(zora: Zora, body: bytes, status: int, code: str) -> None:
    async with zora.http.post(
        f"{zora.base_url}/widget/session", data=body, headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == status
        assert (await resp.json())["error"]["code"] == code


async def test_static_pages_and_health(zora: Zora) -> None:
    async with zora.http.get(f"{zora.base_url}/healthz") as resp:
        assert resp.status == 200
    async with zora.http.get(f"{zora.base_url}/readyz") as resp:
        body = await resp.json()
        assert resp.status == 200, body
        assert body["checks"] == {"database": "ok", "redis": "ok", "temporal": "ok"}
    async with zora.http.get(f"{zora.base_url}/widget.js") as resp:
        assert resp.status == 200 and resp.content_type == "application/javascript"
        assert len(await resp.read()) > 1000
    async with zora.http.get(f"{zora.base_url}/demo", params={"shop": '"><script>'}) as resp:
        page = await resp.text()
        assert resp.status == 200 and "/widget.js" in page and '"><script>' not in page
