"""Issue 10 item 2: nobody takes over a conversation through a link.

An attacker mints a token and chats, then lures a signed-in victim onto it (the old `#zora-token=` link,
or a code from a missed-reply email of their own). Through the app proxy, Shopify vouches for the
victim; Zora never binds the attacker's words to them, and the attacker's token never reads what the
victim writes. Emailed links carry single-use codes that expire; a token bound to a customer needs
that binding at every door; tokens can be revoked, and a revoked token's open socket is closed.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import socketio

from activities.email import EmailActivities
from tests.harness import Shopper, Zora
from tests.helpers import session_ref
from tests.shopify.harness import ShopifyZora
from zora.mail import Mailer
from zora.models import DigestRequest
from zora.shopify.samples import sample_payload

VICTIM = 880_001


async def direct_session(zora: Zora, **body: Any) -> tuple[int, dict[str, Any]]:
    async with zora.http.post(
        f"{zora.base_url}/widget/session", json={"shop": zora.shop, **{k: v for k, v in body.items() if v}}
    ) as resp:
        return resp.status, await resp.json()


async def bound_customer(zora: Zora, shopper_id: str) -> Any:
    rows = await zora.fetch(
        "SELECT cu.shopify_customer_id FROM shoppers s LEFT JOIN customers cu ON cu.id = s.customer_id"
        " WHERE s.id = $1::uuid",
        shopper_id,
    )
    return rows[0]["shopify_customer_id"] if rows else None


async def email_link_code(zora: Zora, session: dict[str, Any]) -> str:
    """The code the missed-reply email's link carries for this conversation (the activity makes it)."""
    activities = EmailActivities(zora.services.pool, Mailer(zora.settings), zora.settings)
    ref = session_ref(zora, session)
    async with zora.services.pool.acquire() as conn:
        link = await activities.link(conn, DigestRequest(ref=ref, upto_seq=1))
    assert "zora-token" not in link and link.count(".") == link.split("#")[0].count(".")  # no JWT in the URL
    return link.split("#zora-code=", 1)[1]


async def refused(zora: Zora, token: str) -> bool:
    try:
        await Shopper(token).connect(zora.base_url)
    except socketio.exceptions.ConnectionError:
        return True
    return False


async def connected(zora: Zora, token: str) -> tuple[Shopper, asyncio.Event]:
    shopper = Shopper(token)
    gone = asyncio.Event()
    shopper.sio.on("disconnect", lambda *_: gone.set(), namespace="/widget")
    await shopper.connect(zora.base_url)
    zora.clients.append(shopper.sio)
    return shopper, gone


async def test_lured_victim_never_gets_the_attackers_conversation(sz: ShopifyZora) -> None:
    zora = sz.zora
    # The attacker mints a token and writes in its conversation.
    status, attacker = await direct_session(zora)
    assert status == 200
    attacker_socket, _ = await connected(zora, attacker["token"])
    assert (await attacker_socket.call("resume", {"since_seq": 0}))["ok"]
    assert (await attacker_socket.send("hello, it's me, about my order"))["ok"]

    # The lure: the victim's browser presents the attacker's token while signed in to the shop.
    status, victim = await sz.proxy_session(VICTIM, token=attacker["token"])
    assert status == 200 and victim["verified"] is True
    assert victim["conversation_id"] != attacker["conversation_id"]
    assert victim["shopper_id"] != attacker["shopper_id"]
    assert victim.get("notice") == "new_conversation"
    # The attacker's conversation is not the victim's: no binding, so no orders, no "verified" card.
    assert await bound_customer(zora, attacker["shopper_id"]) is None
    assert await bound_customer(zora, victim["shopper_id"]) == VICTIM

    # The victim writes; the attacker's token reads only the attacker's conversation.
    victim_socket, _ = await connected(zora, victim["token"])
    assert (await victim_socket.call("resume", {"since_seq": 0}))["ok"]
    assert (await victim_socket.send("my card ends 4242, order 1001"))["ok"]
    again = Shopper(attacker["token"])
    await again.connect(zora.base_url)
    zora.clients.append(again.sio)
    resumed = await again.call("resume", {"since_seq": 0})
    assert resumed["conversation_id"] == attacker["conversation_id"]
    assert [m["body"] for m in resumed["messages"]] == ["hello, it's me, about my order"]
    assert all("4242" not in str(m) for m in attacker_socket.received + again.received)


async def test_lure_through_an_emailed_code_asks_first_and_never_binds(sz: ShopifyZora) -> None:
    zora = sz.zora
    # The victim, signed in, has a conversation of their own.
    _, victim = await sz.proxy_session(VICTIM + 1)
    victim_socket, _ = await connected(zora, victim["token"])
    assert (await victim_socket.call("resume", {"since_seq": 0}))["ok"]
    assert (await victim_socket.send("where is my parcel?"))["ok"]
    # The attacker's own missed-reply email gave them a code for their conversation.
    _, attacker = await direct_session(zora)
    attacker_socket, _ = await connected(zora, attacker["token"])
    assert (await attacker_socket.call("resume", {"since_seq": 0}))["ok"]
    assert (await attacker_socket.send("I am the shop's fraud team"))["ok"]
    code = await email_link_code(zora, attacker)

    # The victim follows the link: the widget must ask before leaving their conversation (code kept).
    status, body = await sz.proxy_session(VICTIM + 1, token=victim["token"], code=code)
    assert status == 409 and body["error"]["code"] == "confirm_switch"
    # They agree: still, the attacker's words are never bound to the victim.
    status, switched = await sz.proxy_session(VICTIM + 1, token=victim["token"], code=code, switch=True)
    assert status == 200 and switched["conversation_id"] not in (attacker["conversation_id"], victim["conversation_id"])
    assert await bound_customer(zora, attacker["shopper_id"]) is None


async def test_emailed_code_works_once_and_expires(sz: ShopifyZora) -> None:
    zora = sz.zora
    _, first = await direct_session(zora)
    shopper, _ = await connected(zora, first["token"])
    assert (await shopper.call("resume", {"since_seq": 0}))["ok"]
    assert (await shopper.send("do you ship to Lisbon?"))["ok"]
    code = await email_link_code(zora, first)
    # A fresh browser opens the link: the same conversation, with a fresh token.
    status, opened = await direct_session(zora, code=code)
    assert status == 200 and opened["conversation_id"] == first["conversation_id"]
    # Twice: refused, clearly.
    status, body = await direct_session(zora, code=code)
    assert status == 410 and body["error"]["code"] == "code_invalid"
    # Expired (its time moved back rather than waiting for it): refused, and not spent.
    late = await email_link_code(zora, first)
    await zora.fetch("UPDATE shopper_codes SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
    status, body = await direct_session(zora, code=late)
    assert status == 410 and body["error"]["code"] == "code_invalid"
    # A code is not a token, and a token is not a code.
    _, other = await direct_session(zora, token=code)
    assert other["conversation_id"] != first["conversation_id"]
    status, _ = await direct_session(zora, code=first["token"])
    assert status == 400
    # Stored as its SHA-256 only.
    assert await zora.fetch("SELECT 1 FROM shopper_codes WHERE code_hash = sha256(convert_to($1, 'UTF8'))", code)


async def test_bound_token_without_the_customers_proof_opens_nothing(sz: ShopifyZora) -> None:
    zora = sz.zora
    # An anonymous visitor (no messages yet) signs in: the same shopper, now bound.
    _, anonymous = await sz.proxy_session(None)
    before_socket, before = await connected(zora, anonymous["token"])
    # Whoever held this token typed (and confirmed) an address of theirs before.
    assert (await before_socket.call("profile", {"email": "holder@example.com"}))["ok"]
    await zora.fetch("UPDATE shoppers SET email_confirmed_at = now() WHERE id = $1::uuid", anonymous["shopper_id"])
    _, bound = await sz.proxy_session(VICTIM + 2, token=anonymous["token"])
    assert bound["shopper_id"] == anonymous["shopper_id"]
    # The customer's mail never goes to that address unless they confirm it themselves.
    rows = await zora.fetch("SELECT email_confirmed_at FROM shoppers WHERE id = $1::uuid", bound["shopper_id"])
    assert rows[0]["email_confirmed_at"] is None
    # A socket still open with a token from before the binding is closed.
    await asyncio.wait_for(before.wait(), 15)
    # The anonymous token from before carries no binding: refused at connect, and a new identity at session.
    assert await refused(zora, anonymous["token"])
    _, fresh = await direct_session(zora, token=anonymous["token"])
    assert fresh["shopper_id"] != bound["shopper_id"]
    # Through the proxy, with that very customer signed in (a token from before the binding, e.g. one
    # issued before tokens carried it): the same conversation, since Shopify vouches for the customer.
    _, same = await sz.proxy_session(VICTIM + 2, token=anonymous["token"])
    assert same["conversation_id"] == bound["conversation_id"]
    # The bound token outside the app proxy (no proof of the customer): a fresh anonymous identity.
    _, direct = await direct_session(zora, token=bound["token"])
    assert direct["conversation_id"] != bound["conversation_id"] and direct["verified"] is False
    # Another customer through the proxy: the same.
    _, other = await sz.proxy_session(VICTIM + 3, token=bound["token"])
    assert other["conversation_id"] != bound["conversation_id"]
    # Its customer, through the proxy: the same conversation.
    _, again = await sz.proxy_session(VICTIM + 2, token=bound["token"])
    assert again["conversation_id"] == bound["conversation_id"]
    # A code for a bound conversation opens it only for that customer.
    code = await email_link_code(zora, bound)
    status, body = await direct_session(zora, code=code)
    assert status == 403 and body["error"]["code"] == "sign_in_required"
    status, opened = await sz.proxy_session(VICTIM + 2, code=code)
    assert status == 200 and opened["conversation_id"] == bound["conversation_id"]


async def test_signing_out_revokes_the_token_and_closes_its_socket(sz: ShopifyZora) -> None:
    zora = sz.zora
    _, session = await direct_session(zora)
    shopper, gone = await connected(zora, session["token"])
    assert (await shopper.call("resume", {"since_seq": 0}))["ok"]
    async with zora.http.post(
        f"{zora.base_url}/widget/signout", headers={"Authorization": f"Bearer {session['token']}"}
    ) as resp:
        assert resp.status == 200
    await asyncio.wait_for(gone.wait(), 15)
    assert await refused(zora, session["token"])
    async with zora.http.post(
        f"{zora.base_url}/widget/files?name=a.png",
        data=b"\x89PNG\r\n\x1a\n",
        headers={"Authorization": f"Bearer {session['token']}", "Content-Type": "image/png"},
    ) as resp:
        assert resp.status == 401
    _, renewed = await direct_session(zora, token=session["token"])
    assert renewed["shopper_id"] != session["shopper_id"]


async def test_signing_out_of_the_shop_closes_the_bound_socket(sz: ShopifyZora) -> None:
    zora = sz.zora
    _, bound = await sz.proxy_session(VICTIM + 4)
    shopper, gone = await connected(zora, bound["token"])
    assert (await shopper.call("resume", {"since_seq": 0}))["ok"]
    # The same browser, now signed out of the shop, asks through the proxy with its bound token.
    _, signed_out = await sz.proxy_session(None, token=bound["token"])
    assert signed_out["shopper_id"] != bound["shopper_id"]
    await asyncio.wait_for(gone.wait(), 15)
    assert await refused(zora, bound["token"])


async def test_customer_redaction_revokes_their_tokens(sz: ShopifyZora) -> None:
    zora = sz.zora
    payload = sample_payload("customers/redact", zora.shop)
    customer = int(payload["customer"]["id"])
    await sz.deliver("customers/create", sample_payload("customers/create", zora.shop))
    _, bound = await sz.proxy_session(customer)
    shopper, gone = await connected(zora, bound["token"])
    assert (await shopper.call("resume", {"since_seq": 0}))["ok"]
    # The same person chatting anonymously, known by the address they typed: redacted too.
    _, anonymous = await direct_session(zora)
    typed, typed_gone = await connected(zora, anonymous["token"])
    assert (await typed.call("profile", {"email": payload["customer"]["email"]}))["ok"]
    outcome = await sz.deliver("customers/redact", payload)
    assert outcome.status == "processed", outcome
    await asyncio.wait_for(gone.wait(), 15)
    await asyncio.wait_for(typed_gone.wait(), 15)
    assert await refused(zora, bound["token"])
    assert await refused(zora, anonymous["token"])
    _, fresh = await sz.proxy_session(customer, token=bound["token"])
    assert fresh["shopper_id"] != bound["shopper_id"]


async def test_expired_codes_are_deleted_by_the_sweep(sz: ShopifyZora) -> None:
    from workflows.sweeper import SweepWorkflow
    from zora.models import SweepRequest

    zora = sz.zora
    _, session = await direct_session(zora)
    old, fresh = await email_link_code(zora, session), await email_link_code(zora, session)
    hashed = "sha256(convert_to($1, 'UTF8'))"
    await zora.fetch(
        f"UPDATE shopper_codes SET expires_at = now() - interval '25 hours' WHERE code_hash = {hashed}", old
    )
    handle = await zora.services.temporal.start_workflow(
        SweepWorkflow.run,
        SweepRequest(older_than_seconds=60),
        id=f"sweep-test-{uuid.uuid4()}",
        task_queue=zora.settings.temporal_task_queue,
    )
    assert (await handle.result()).codes_dropped >= 1
    assert not await zora.fetch(f"SELECT 1 FROM shopper_codes WHERE code_hash = {hashed}", old)
    assert await zora.fetch(f"SELECT 1 FROM shopper_codes WHERE code_hash = {hashed}", fresh)
