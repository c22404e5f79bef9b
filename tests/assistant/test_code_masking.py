"""A verification code the shopper types (issue 12 §4) is not shown to the team: the thread gets the
message with the code masked, and so does the handover note that quotes it; the stored message keeps
the code (the check reads it there). Only conversations that were sent a code are masked: a 6-digit
order number, postcode or amount elsewhere stays readable. Running Zora with the Slack and model
stand-ins, real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.assistant.turns_harness import AiZora, ai_messages, assistant_on, replies, running_ai_zora, until
from tests.harness import Shopper, Zora
from tests.helpers import set_shop_settings
from zora.identity_codes import CODE_MASK, mask_codes


@pytest.fixture(scope="module")
async def ai(infra: Any, database_url: str) -> AsyncIterator[AiZora]:
    async with running_ai_zora(infra, database_url) as running:
        yield running


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("123456", CODE_MASK),
        ("my code is 123 456.", f"my code is {CODE_MASK}."),
        ("12-34-56 thanks", f"{CODE_MASK} thanks"),
        ("at 12:30, code 654321!", f"at 12:30, code {CODE_MASK}!"),
        # Not a code: parts of longer numbers, or too few digits.
        ("call me on 0612345678", "call me on 0612345678"),
        ("1234567", "1234567"),
        ("123456 789", "123456 789"),
        ("order #1001 with 23 items", "order #1001 with 23 items"),
    ],
)
def test_what_is_masked(typed: str, shown: str) -> None:
    assert mask_codes(typed) == shown


async def start(zora: Zora, text: str) -> tuple[Shopper, str]:
    session = await zora.session()
    shopper = await zora.shopper(session["token"])
    assert (await shopper.send(text))["ok"]
    return shopper, session["conversation_id"]


async def posted(zora: Zora, cid: str, words: str) -> list[str]:
    return [m["text"] for m in await replies(zora, cid) if words in m.get("text", "")]


async def code_sent(zora: Zora, cid: str) -> None:
    """What send_verification_code stores (the hash of a code mailed to the shopper)."""
    await zora.fetch(
        "INSERT INTO identity_codes (shop_id, conversation_id, email, code_hash, expires_at)"
        " VALUES ($1, $2::uuid, 'maya@example.com', 'x', now() + interval '10 minutes')",
        zora.shop_id,
        cid,
    )


async def test_a_typed_code_is_masked_in_the_thread_and_the_handover_note(ai: AiZora) -> None:
    zora = ai.zora
    await assistant_on(zora)
    shopper, cid = await start(zora, "What is your return policy?")
    await until(lambda: ai_messages(shopper))
    await code_sent(zora, cid)
    # The turn that would check the code fails: the assistant hands over, quoting the shopper.
    ai.model.fail_next("status", status=401)
    typed = "my code is 123 456"
    ack = await shopper.send(typed)
    assert ack["ok"]
    [shown] = await until(lambda: posted(zora, cid, "my code is"))
    assert shown == f"my code is {CODE_MASK}"
    [note] = await until(lambda: posted(zora, cid, "handed this conversation"))
    assert f"“my code is {CODE_MASK}”" in note and "123" not in note
    # Stored as typed (the check reads it; the shopper's widget shows it).
    [row] = await zora.fetch("SELECT body FROM messages WHERE conversation_id = $1::uuid AND seq = $2", cid, ack["seq"])
    assert row["body"] == typed


async def test_six_digits_in_a_conversation_without_a_code_stay_readable(ai: AiZora) -> None:
    zora = ai.zora
    await set_shop_settings(zora)
    shopper, cid = await start(zora, "My postcode is 110001 and order 100123")
    assert await until(lambda: posted(zora, cid, "110001 and order 100123"))
    # A code sent to another conversation masks nothing here.
    _other_shopper, other = await start(zora, "hello")
    await code_sent(zora, other)
    assert (await shopper.send("the invoice says 654321"))["ok"]
    assert await until(lambda: posted(zora, cid, "the invoice says 654321"))
