"""Addresses are parsed strictly wherever one enters and again before sending (issue 9, item 4):
one recipient, nothing that could add a header or a second mailbox, a clear error at the boundary,
and nothing refused ever reaches SMTP."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities
from tests.harness import Zora
from tests.helpers import catching_mail, transcript_shop
from tests.workflows.test_transcript_email import _conversation
from zora.addresses import InvalidAddress, parse_address, parse_sender
from zora.mail import Mailer, confirmation_email, digest_email
from zora.mail_catcher import MailCatcher
from zora.models import ConversationRef, EmailTranscript
from zora.settings import Settings

REFUSED = [
    "",
    "   ",
    "not-an-email",
    "a@b",
    "two@@example.com",
    "ana@example.com, bob@evil.example",
    "ana@example.com;bob@evil.example",
    "bob,eve@example.com",
    "Ana <ana@example.com>",
    "<ana@example.com>",
    "ana@example.com>",
    "ana@example.com <bob@evil.example>",
    '"ana@example.com" <bob@evil.example>',
    '"a b"@example.com',
    "ana@[127.0.0.1]",
    "ana@exa(mple).com",
    "ana@example.com\r\nBcc: bob@evil.example",
    "ana@example.com\nBcc: bob@evil.example",
    "ana@example.com\rX: y",
    "ana\x00@example.com",
    "ana@example.com\u2028Bcc: bob@evil.example",
    "ana@example..com",
    "x" * 65 + "@example.com",
    "ana@" + "a" * 250 + ".com",
    "ana@localhost",
]


@pytest.mark.parametrize("value", REFUSED)
def test_anything_but_one_plain_mailbox_is_refused_with_a_reason(value: str) -> None:
    with pytest.raises(InvalidAddress) as refused:
        parse_address(value)
    assert str(refused.value)  # says why


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("ana@example.com", "ana@example.com"),
        ("  Ana@Example.COM ", "Ana@example.com"),
        ("ana+orders@shop.example.co.uk", "ana+orders@shop.example.co.uk"),
        ("ana.o'neil@example.com", "ana.o'neil@example.com"),
        ("ana@exämple.com", "ana@xn--exmple-cua.com"),
    ],
)
def test_a_plain_mailbox_is_accepted_and_normalized(value: str, stored: str) -> None:
    assert parse_address(value) == stored


def test_the_sender_setting_is_one_mailbox() -> None:
    assert str(Settings(_env_file=None).mail_from) == "Zora <no-reply@localhost>"  # type: ignore[call-arg]
    assert parse_sender("Shop <support@shop.example>").addr_spec == "support@shop.example"
    for bad in [
        "a@example.com, b@example.com",
        "Shop <a@example.com> <b@example.com>",
        "Shop",
        "a@example.com\r\nBcc: x@y.z",
    ]:
        with pytest.raises(ValidationError, match="mail_from"):
            Settings(_env_file=None, mail_from=bad)  # type: ignore[call-arg]


# --- never reaching SMTP ---


@pytest.fixture
async def catcher() -> AsyncIterator[MailCatcher]:
    async with catching_mail() as smtp:
        yield smtp


def _mailer(catcher: MailCatcher) -> Mailer:
    settings = Settings(_env_file=None, smtp_host="127.0.0.1", smtp_port=catcher.smtp_port, smtp_tls="none")  # type: ignore[call-arg]
    return Mailer(settings, timeout=10)


def _message(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("hi")
    return msg


@pytest.mark.parametrize(
    "headers",
    [
        {"To": "ana@example.com, bob@evil.example"},
        {"To": "ana@example.com", "Cc": "bob@evil.example"},
        {"To": "ana@example.com", "Bcc": "bob@evil.example"},
        {"To": "ana@example.com", "Resent_To": "bob@evil.example"},
        {"To": "Ana <ana@example.com>, Bob <bob@evil.example>"},
        {"To": "bob,eve@example.com"},
        {"Subject": "no recipient at all"},
    ],
)
async def test_the_mailer_sends_to_exactly_one_checked_address(catcher: MailCatcher, headers: dict[str, str]) -> None:
    with pytest.raises(InvalidAddress):
        await _mailer(catcher).send(_message(**headers))
    assert catcher.caught == []


async def test_a_name_cannot_add_a_header_and_the_envelope_is_the_one_address(catcher: MailCatcher) -> None:
    msg = digest_email(
        shop_name="Shop\r\nBcc: bob@evil.example",
        to_address="ana@example.com",
        to_name="Ana\r\nBcc: bob@evil.example",
        messages=[],
        link="https://shop.example/#chat",
        message_id="<x@zora.invalid>",
    )
    await _mailer(catcher).send(msg)
    [mail] = await catcher.wait_for(1)
    assert mail.rcpt_tos == ["ana@example.com"]
    assert "Bcc" not in mail.message and mail.message["To"].addresses[0].addr_spec == "ana@example.com"


# --- where an address enters: the widget's forms, and rows stored before the strict check ---


@pytest.fixture(scope="module")
async def zora(infra: Any, database_url: str) -> AsyncIterator[tuple[Zora, MailCatcher]]:
    # Its own mail server: this module's `catcher` is a fresh one for each test above.
    async with transcript_shop(infra, database_url) as pair:
        yield pair


@pytest.mark.parametrize(
    "email",
    [
        "ana@example.com\r\nBcc: bob@evil.example",
        "ana@example.com, bob@evil.example",
        "Ana <ana@example.com>",
        "bob,eve@example.com",
        "ana@example.com>",
        '"a b"@example.com',
    ],
)
async def test_the_widget_form_refuses_header_tricks_and_stores_nothing(
    zora: tuple[Zora, MailCatcher], email: str
) -> None:
    z, _ = zora
    session = await z.session()
    shopper = await z.shopper(session["token"])
    ack = await shopper.call("profile", {"name": "Ana", "email": email})
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_payload"
    assert "email" in ack["error"]["message"]
    assert await z.fetch("SELECT 1 FROM shoppers WHERE id = $1::uuid", session["shopper_id"]) == []


async def test_the_widget_form_stores_the_normalized_address(zora: tuple[Zora, MailCatcher]) -> None:
    z, _ = zora
    session = await z.session()
    shopper = await z.shopper(session["token"])
    assert (await shopper.call("profile", {"email": " Ana@Example.COM "}))["ok"]
    rows = await z.fetch("SELECT email FROM shoppers WHERE id = $1::uuid", session["shopper_id"])
    assert rows[0]["email"] == "Ana@example.com"


async def test_an_address_stored_before_the_strict_check_never_reaches_smtp(zora: tuple[Zora, MailCatcher]) -> None:
    z, smtp = zora
    cid, _ = await _conversation(z, "legacy@example.com")
    rows = await z.fetch(
        "UPDATE shoppers s SET email = 'legacy@example.com, bob@evil.example' FROM conversations c"
        " WHERE c.id = $1::uuid AND s.id = c.shopper_id RETURNING s.id",
        cid,
    )
    ref = ConversationRef(shop=z.shop, shop_id=z.shop_id, conversation_id=uuid.UUID(cid), shopper_id=rows[0]["id"])
    acts = EmailActivities(z.services.pool, Mailer(z.settings, timeout=10), z.settings)
    before = len(smtp.caught)
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(acts.email_transcript, EmailTranscript(ref=ref))
    assert refused.value.non_retryable
    assert len(smtp.caught) == before
    [row] = await z.fetch("SELECT transcript_error FROM conversations WHERE id = $1::uuid", cid)
    assert "refused: the address" in row["transcript_error"]


def test_the_confirmation_email_takes_its_headers_through_the_same_checks() -> None:
    # A shop name with a line break cannot add a header, and the address is parsed like every recipient's.
    email = confirmation_email(
        shop_name="Acme\r\nBcc: everyone@example.com", to_address="ana@example.com", link="https://x/confirm"
    )
    assert "Bcc" not in email and "\n" not in str(email["Subject"])
    assert str(email["To"]) == "ana@example.com"
    with pytest.raises(InvalidAddress):
        confirmation_email(shop_name="Acme", to_address="ana@example.com, eve@example.com", link="https://x")
