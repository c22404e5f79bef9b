"""Issue 10 item 5: Zora mails only addresses their owner confirmed.

An address typed into the widget gets one confirmation email (a single-use link to Zora, where a
button confirms: a mail scanner that fetches the link confirms nothing), and no missed-reply digest
and no transcript until it is confirmed. A real SMTP server (aiosmtpd) catches what is sent.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any
from uuid import UUID

import pytest

from tests.harness import AGENT, CHANNEL, Zora
from tests.helpers import mails_to, set_shop_settings, smtp_options, wait_for_mail
from tests.shopify.harness import running_shopify
from tests.widget.test_receipts_and_profile import conversation_with_reply
from zora.mail_catcher import MailCatcher
from zora.models import MissedRepliesOutcome, missed_replies_workflow_id
from zora.shopify.samples import sample_payload


@pytest.fixture(scope="module")
def zora_options(catcher: MailCatcher) -> dict[str, Any]:
    return {
        **smtp_options(catcher.smtp_port),
        "offline_email_after_minutes": 0.02,
        # The default (the harness lifts every rate limit; a test here checks this one).
        "rate_confirmation_emails_per_recipient": "3/day",
    }


@pytest.fixture(scope="module")
async def zora(zora: Zora) -> Zora:
    # The confirmation link points at Zora itself; its port is known only once it listens.
    zora.settings.public_url = zora.base_url
    await set_shop_settings(zora, transcript_on_resolve=True)
    return zora


async def delivery_outcome(zora: Zora, conversation_id: str) -> MissedRepliesOutcome:
    handle = zora.services.temporal.get_workflow_handle(
        missed_replies_workflow_id(UUID(conversation_id)), result_type=MissedRepliesOutcome
    )
    async with asyncio.timeout(30):
        while True:
            try:
                outcome: MissedRepliesOutcome = await handle.result()
                return outcome
            except Exception:
                await asyncio.sleep(0.05)  # not started yet


async def until_activity(zora: Zora, conversation_id: str, activity: str, n: int) -> None:
    # Temporal has no push for "an activity ran": its history is read until it shows it.
    for _ in range(600):
        if (await zora.activities_run(conversation_id)).count(activity) >= n:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{activity} never ran")


async def confirmed_at(zora: Zora, shopper_id: str) -> Any:
    return (await zora.fetch("SELECT email_confirmed_at FROM shoppers WHERE id = $1::uuid", shopper_id))[0][0]


async def confirm(zora: Zora, code: str) -> tuple[int, str]:
    async with zora.http.post(f"{zora.base_url}/widget/confirm", data={"code": code}) as resp:
        return resp.status, await resp.text()


def _address() -> str:
    return f"ana-{uuid.uuid4().hex[:8]}@example.com"


async def test_no_digest_and_no_transcript_until_the_address_is_confirmed(zora: Zora, catcher: MailCatcher) -> None:
    address = _address()
    session = await zora.session()
    shopper = await zora.shopper(session["token"])
    assert (await shopper.call("resume", {"since_seq": 0}))["ok"]
    ack = await shopper.call("profile", {"name": "Ana", "email": address})
    assert ack == {"ok": True, "confirmation": "sent"}
    [asked] = await wait_for_mail(catcher, address, 1)
    assert "confirm" in str(asked.message["Subject"]).lower()
    link = re.search(r"(http://\S+/widget/confirm\?code=([A-Za-z0-9_-]+)\S*)", asked.text)
    assert link is not None

    # A reply the shopper missed: no digest to an unconfirmed address.
    thread_ts = await conversation_with_reply(zora, shopper, "First answer")
    await shopper.close()
    outcome = await delivery_outcome(zora, session["conversation_id"])
    assert (outcome.result, outcome.emails_sent) == ("no_email", 0)
    assert len(mails_to(catcher, address)) == 1

    # Opening the link (what a mail scanner does) shows a button and confirms nothing.
    async with zora.http.get(link.group(1)) as resp:
        assert resp.status == 200 and 'method="post"' in await resp.text()
    assert await confirmed_at(zora, session["shopper_id"]) is None
    status, page = await confirm(zora, link.group(2))
    assert status == 200 and "confirmed" in page
    assert await confirmed_at(zora, session["shopper_id"]) is not None
    status, _ = await confirm(zora, link.group(2))
    assert status == 410  # single use

    # Confirmed: the next missed reply is emailed, and so is the transcript on resolve.
    assert await zora.standin.agent_reply(CHANNEL, thread_ts, "It ships Monday.", user=AGENT) == 200
    digest = (await wait_for_mail(catcher, address, 2))[1]
    assert "It ships Monday." in digest.text
    assert await zora.standin.press_button(CHANNEL, thread_ts, "zora_resolve", session["conversation_id"]) == 200
    transcript = (await wait_for_mail(catcher, address, 3))[2]
    assert "your conversation" in str(transcript.message["Subject"])


async def test_an_unconfirmed_address_gets_no_transcript(zora: Zora, catcher: MailCatcher) -> None:
    address = _address()
    session = await zora.session()
    shopper = await zora.shopper(session["token"])
    assert (await shopper.call("resume", {"since_seq": 0}))["ok"]
    assert (await shopper.call("profile", {"email": address}))["ok"]
    await wait_for_mail(catcher, address, 1)
    thread_ts = await conversation_with_reply(zora, shopper, "Glad to help")
    assert await zora.standin.press_button(CHANNEL, thread_ts, "zora_resolve", session["conversation_id"]) == 200
    await until_activity(zora, session["conversation_id"], "email_transcript", 1)
    assert len(mails_to(catcher, address)) == 1  # the confirmation request only


async def _code(catcher: MailCatcher, address: str) -> str:
    [asked] = await wait_for_mail(catcher, address, 1)
    found = re.search(r"/widget/confirm\?code=([A-Za-z0-9_-]+)", asked.text)
    assert found is not None
    return found.group(1)


async def test_a_new_address_must_be_confirmed_again(zora: Zora, catcher: MailCatcher) -> None:
    first, second, third = _address(), _address(), _address()
    session = await zora.session()
    shopper = await zora.shopper(session["token"])
    assert (await shopper.call("resume", {"since_seq": 0}))["ok"]
    assert (await shopper.call("profile", {"email": first}))["ok"]
    assert (await confirm(zora, await _code(catcher, first)))[0] == 200
    assert await confirmed_at(zora, session["shopper_id"]) is not None
    # The same address again (the widget re-sends its form): still confirmed, no second email.
    assert await shopper.call("profile", {"name": "Ana", "email": first.upper()}) == {"ok": True}
    assert await confirmed_at(zora, session["shopper_id"]) is not None
    # Another address: unconfirmed until its own link is used.
    assert (await shopper.call("profile", {"email": second}))["confirmation"] == "sent"
    assert await confirmed_at(zora, session["shopper_id"]) is None
    # Changed again before that link was used: it confirms nothing now.
    stale = await _code(catcher, second)
    assert (await shopper.call("profile", {"email": third}))["ok"]
    status, _ = await confirm(zora, stale)
    assert status == 409
    assert await confirmed_at(zora, session["shopper_id"]) is None
    assert len(mails_to(catcher, first)) == 1


async def test_confirmation_emails_are_limited_per_recipient(zora: Zora, catcher: MailCatcher) -> None:
    address = _address()
    answers = []
    for _ in range(4):
        shopper = await zora.shopper()
        assert (await shopper.call("resume", {"since_seq": 0}))["ok"]
        answers.append((await shopper.call("profile", {"email": address}))["confirmation"])
    # RATE_CONFIRMATION_EMAILS_PER_RECIPIENT is 3/day.
    assert answers == ["sent", "sent", "sent", "limited"]
    await wait_for_mail(catcher, address, 3)


async def test_the_signed_in_customers_own_address_counts_as_confirmed(infra: Any, database_url: str) -> None:
    async with running_shopify(infra, database_url, smtp_host="127.0.0.1", smtp_port=1, smtp_tls="none") as sz:
        created = sample_payload("customers/create", sz.shop)
        assert (await sz.deliver("customers/create", created)).status == "processed"
        _, session = await sz.proxy_session(int(created["id"]))
        shopper = await sz.zora.shopper(session["token"])
        assert (await shopper.call("resume", {"since_seq": 0}))["ok"]
        # Shopify vouched for the customer and holds their address: nothing to confirm.
        assert await shopper.call("profile", {"email": created["email"].upper()}) == {"ok": True}
        assert await confirmed_at(sz.zora, session["shopper_id"]) is not None
        # Any other address they type is still unconfirmed.
        ack = await shopper.call("profile", {"email": _address()})
        assert ack["ok"] and "confirmation" in ack
        assert await confirmed_at(sz.zora, session["shopper_id"]) is None
