"""The identity codes (issue 12 §4) with real PostgreSQL and a real SMTP server on loopback: a shopper
proves an order's email with the 6-digit code sent there, and only then do the order tools answer for
orders placed with it. A code works once, for 10 minutes, for 5 tries; it is stored as a bcrypt hash;
codes are limited per conversation and per address; an address without orders gets the same answer."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import bcrypt
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.assistant_tools import AssistantToolActivities
from tests.assistant.world import TRACKING, Shop, add_conversation, build
from tests.assistant.world import run_tool as _run
from tests.helpers import catching_mail, mails_to, smtp_options, wait_for_mail
from zora import db
from zora.identity_codes import CODE_ATTEMPTS, SENDS_PER_CONVERSATION, SENDS_PER_EMAIL
from zora.mail import Mailer
from zora.mail_catcher import MailCatcher
from zora.settings import load_settings
from zora.store import compliance, identity_codes

MAYA = "maya@example.com"


@dataclass
class World:
    pool: Any
    tools: AssistantToolActivities
    catcher: MailCatcher
    ours: Shop
    theirs: Shop

    async def run(self, conversation: uuid.UUID, name: str, /, **arguments: Any) -> dict[str, Any]:
        return await _run(ActivityEnvironment(), self.tools, self.ours, conversation, name, **arguments)

    async def conversation(self) -> uuid.UUID:
        async with self.pool.acquire() as conn:
            return await add_conversation(conn, self.ours)

    async def code_sent_to(self, address: str, n: int) -> str:
        mail = (await wait_for_mail(self.catcher, address, n))[n - 1]
        found = re.search(r"\b(\d{6})\b", mail.text)
        assert found is not None, mail.text
        assert found.group(1) in str(mail.message["Subject"])
        return found.group(1)

    async def codes(self, conversation: uuid.UUID) -> list[Any]:
        async with self.pool.acquire() as conn:
            return list(
                await conn.fetch("SELECT * FROM identity_codes WHERE conversation_id = $1 ORDER BY id", conversation)
            )


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    try:
        async with catching_mail() as catcher:
            mailer = Mailer(load_settings(_env_file=None, **smtp_options(catcher.smtp_port)))
            async with pool.acquire() as conn:
                ours, theirs = await build(conn)
            yield World(pool, AssistantToolActivities(pool, mailer), catcher, ours, theirs)
    finally:
        await pool.close()


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_a_proven_email_opens_its_orders_in_this_conversation_only(world: World) -> None:
    chat = await world.conversation()
    assert (await world.run(chat, "order_status", order_number="#1001"))["identity_needed"] is True

    sent = await world.run(chat, "send_verification_code", email="  Maya@Example.com ", order_number="#1001")
    assert sent["sent"] is True
    code = await world.code_sent_to(MAYA, 1)
    mail = mails_to(world.catcher, MAYA)[0]
    assert mail.rcpt_tos == [MAYA] and "Ours Store" in mail.text

    checked = await world.run(chat, "check_verification_code", code=code)
    assert checked == {"verified": True, "email": MAYA, "note": "now look the order up again"}
    order = await world.run(chat, "order_status", order_number="#1001")
    assert order["tracking"][0]["number"] == TRACKING
    # Every order placed with that email (in any letter case), and no one else's.
    recent = await world.run(chat, "recent_orders")
    assert [o["order"] for o in recent["orders"]] == ["#1004", "#1003", "#1001"]
    assert (await world.run(chat, "order_status", order_number="#1002"))["identity_needed"] is True
    # Another conversation of the same shop proved nothing.
    other = await world.conversation()
    assert (await world.run(other, "order_status", order_number="#1001"))["identity_needed"] is True


async def test_the_code_is_stored_only_as_a_bcrypt_hash_and_works_once(world: World) -> None:
    chat = await world.conversation()
    await world.run(chat, "send_verification_code", email=MAYA)
    code = await world.code_sent_to(MAYA, 1)
    (row,) = await world.codes(chat)
    assert row["code_hash"].startswith("$2b$12$") and code not in row["code_hash"]
    assert bcrypt.checkpw(code.encode(), row["code_hash"].encode())
    assert (await world.run(chat, "check_verification_code", code=code))["verified"] is True
    again = await world.run(chat, "check_verification_code", code=code)
    assert again["verified"] is False and "no code is waiting" in again["error"]


async def test_an_expired_code_is_refused(world: World) -> None:
    chat = await world.conversation()
    await world.run(chat, "send_verification_code", email=MAYA)
    code = await world.code_sent_to(MAYA, 1)
    (row,) = await world.codes(chat)
    assert 595 <= (row["expires_at"] - row["created_at"]).total_seconds() <= 600
    async with world.pool.acquire() as conn:
        await conn.execute(
            "UPDATE identity_codes SET expires_at = now() - interval '1 second' WHERE id = $1", row["id"]
        )
    result = await world.run(chat, "check_verification_code", code=code)
    assert result["verified"] is False and "no code is waiting" in result["error"]
    assert (await world.run(chat, "order_status", order_number="#1001"))["identity_needed"] is True


async def test_five_wrong_tries_spend_the_code(world: World) -> None:
    chat = await world.conversation()
    await world.run(chat, "send_verification_code", email=MAYA)
    code = await world.code_sent_to(MAYA, 1)
    for n in range(1, CODE_ATTEMPTS):
        result = await world.run(chat, "check_verification_code", code=wrong(code))
        assert result["error"] == f"wrong code; {CODE_ATTEMPTS - n} of {CODE_ATTEMPTS} tries left"
    last = await world.run(chat, "check_verification_code", code=wrong(code))
    assert "no code is waiting" in last["error"]
    # The right code after that opens nothing.
    assert (await world.run(chat, "check_verification_code", code=code))["verified"] is False
    assert (await world.run(chat, "order_status", order_number="#1001"))["identity_needed"] is True


async def test_a_new_code_retires_the_previous_one(world: World) -> None:
    chat = await world.conversation()
    await world.run(chat, "send_verification_code", email=MAYA)
    first = await world.code_sent_to(MAYA, 1)
    await world.run(chat, "send_verification_code", email=MAYA)
    second = await world.code_sent_to(MAYA, 2)
    # Each check is against the one live code; once the newest is spent, the older one opens nothing:
    # a guesser gets 5 tries per code sent, not 5 per code ever sent.
    for _ in range(CODE_ATTEMPTS):
        await world.run(chat, "check_verification_code", code=wrong(second))
    assert (await world.run(chat, "check_verification_code", code=first))["verified"] is False
    assert [r["used_at"] is not None for r in await world.codes(chat)] == [True, True]


async def test_the_code_email_speaks_the_conversations_language(world: World) -> None:
    # The widget said French: the email is French. A language Zora does not speak gets the shop's main one.
    french, portuguese = await world.conversation(), await world.conversation()
    async with world.pool.acquire() as conn:
        await conn.execute("UPDATE conversations SET locale = 'fr-CA' WHERE id = $1", french)
        await conn.execute("UPDATE conversations SET locale = 'pt-BR' WHERE id = $1", portuguese)
    await world.run(french, "send_verification_code", email=MAYA, order_number="#1001")
    code = await world.code_sent_to(MAYA, 1)
    mail = mails_to(world.catcher, MAYA)[0]
    assert str(mail.message["Subject"]) == f"Ours Store : votre code est {code}"
    assert "Votre code pour le chat de Ours Store :" in mail.text and "Saisissez-le" in mail.text
    async with world.pool.acquire() as conn:
        await conn.execute("UPDATE shops SET settings = $2 WHERE id = $1", world.ours.id, {"languages": ["de", "en"]})
    await world.run(portuguese, "send_verification_code", email=MAYA, order_number="#1001")
    code = await world.code_sent_to(MAYA, 2)
    assert str(mails_to(world.catcher, MAYA)[1].message["Subject"]) == f"Ours Store: Ihr Code lautet {code}"


async def test_an_address_without_orders_gets_the_same_answer_and_no_mail(world: World) -> None:
    chat = await world.conversation()
    known = await world.run(chat, "send_verification_code", email=MAYA, order_number="#1001")
    stranger = await world.run(chat, "send_verification_code", email="nobody@example.com")
    # An order number that is not that address's (Omar's order) counts as no order too.
    not_hers = await world.run(chat, "send_verification_code", email=MAYA, order_number="#1002")
    assert known == stranger == not_hers
    await world.code_sent_to(MAYA, 1)
    assert mails_to(world.catcher, "nobody@example.com") == [] and len(mails_to(world.catcher, MAYA)) == 1
    # Counted and stored like any other (and the live one now, which no code matches).
    rows = await world.codes(chat)
    assert [r["email"] for r in rows] == [MAYA, "nobody@example.com", MAYA]


async def test_codes_are_limited_per_conversation(world: World) -> None:
    chat = await world.conversation()
    allowed, _window = SENDS_PER_CONVERSATION
    for n in range(allowed):
        assert (await world.run(chat, "send_verification_code", email=f"shopper{n}@example.com"))["sent"] is True
    limited = await world.run(chat, "send_verification_code", email="another@example.com")
    assert "too many codes" in limited["error"]
    # An address without orders is limited the same way (no difference to learn from).
    assert len(await world.codes(chat)) == allowed
    # Another conversation is not.
    assert (await world.run(await world.conversation(), "send_verification_code", email=MAYA))["sent"] is True


async def test_codes_are_limited_per_address_across_conversations(world: World) -> None:
    allowed, _window = SENDS_PER_EMAIL
    for _ in range(allowed):
        assert (await world.run(await world.conversation(), "send_verification_code", email=MAYA))["sent"] is True
    await wait_for_mail(world.catcher, MAYA, allowed)
    limited = await world.run(await world.conversation(), "send_verification_code", email="MAYA@example.com")
    assert "too many codes" in limited["error"]
    assert len(mails_to(world.catcher, MAYA)) == allowed
    # Another address still gets its code.
    assert (await world.run(await world.conversation(), "send_verification_code", email="omar@example.com"))[
        "sent"
    ] is True


async def test_without_a_mail_server_no_code_is_offered(world: World) -> None:
    tools = AssistantToolActivities(world.pool, Mailer(load_settings(_env_file=None)))
    chat = await world.conversation()
    result = await _run(ActivityEnvironment(), tools, world.ours, chat, "send_verification_code", email=MAYA)
    assert "offer a person" in result["error"] and await world.codes(chat) == []


async def test_a_customer_redaction_erases_their_proofs_and_the_sweep_drops_stale_codes(world: World) -> None:
    proven = await world.conversation()
    await world.run(proven, "send_verification_code", email=MAYA)
    code = await world.code_sent_to(MAYA, 1)
    assert (await world.run(proven, "check_verification_code", code=code))["verified"] is True
    stale, fresh = await world.conversation(), await world.conversation()
    await world.run(stale, "send_verification_code", email="stale@example.com")
    await world.run(fresh, "send_verification_code", email="fresh@example.com")
    async with world.pool.acquire() as conn:
        await conn.execute(
            "UPDATE identity_codes SET expires_at = now() - interval '25 hours' WHERE conversation_id = $1", stale
        )
        assert await identity_codes.drop_stale(conn) >= 1
    assert await world.codes(stale) == [] and len(await world.codes(fresh)) == 1
    # Maya asks to be forgotten: her proof in an anonymous conversation goes with the rest.
    async with world.pool.acquire() as conn, conn.transaction():
        person = compliance.Person(customer_id=7001, email="Maya@example.com", phone=None, order_ids=[])
        await compliance.redact_customer(conn, world.ours.id, person, erasure_batch=uuid.uuid4(), conversations_out=[])
    assert await world.codes(proven) == [] and len(await world.codes(fresh)) == 1
    assert (await world.run(proven, "order_status", order_number="#1001"))["identity_needed"] is True


async def test_tries_at_the_same_time_still_get_five_in_all(world: World) -> None:
    chat = await world.conversation()
    await world.run(chat, "send_verification_code", email=MAYA)
    code = await world.code_sent_to(MAYA, 1)
    guesses = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, 13)]
    answers = await asyncio.gather(*(world.run(chat, "check_verification_code", code=g) for g in guesses))
    wrong_ones = [a for a in answers if a["error"].startswith("wrong code")]
    assert len(wrong_ones) == CODE_ATTEMPTS - 1 and all(
        "no code is waiting" in a["error"] for a in answers if a not in wrong_ones
    )
    assert (await world.codes(chat))[0]["attempts"] == CODE_ATTEMPTS


async def test_a_turn_whose_shop_is_not_the_conversations_sends_and_checks_nothing(world: World) -> None:
    chat = await world.conversation()
    for name, arguments in (
        ("send_verification_code", {"email": MAYA}),
        ("check_verification_code", {"code": "123456"}),
    ):
        with pytest.raises(ApplicationError) as refused:
            await _run(ActivityEnvironment(), world.tools, world.theirs, chat, name, **arguments)
        assert refused.value.non_retryable and refused.value.type == "ToolScope"
    assert await world.codes(chat) == [] and mails_to(world.catcher, MAYA) == []
