"""Small helpers the test modules share, beside the running Zora of tests/harness.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from aiohttp import web

from tests.harness import Shopper, Zora, running_zora
from zora.mail_catcher import CaughtMail, MailCatcher
from zora.models import ConversationRef
from zora.standins.slack import SlackStandIn


def smtp_options(port: int) -> dict[str, Any]:
    """Zora's settings for a plain-text SMTP server on loopback (a MailCatcher or a scripted one)."""
    return {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_tls": "none"}


@asynccontextmanager
async def catching_mail() -> AsyncIterator[MailCatcher]:
    """A real SMTP server on loopback that keeps what it is sent, while the block runs."""
    mail = MailCatcher()
    await mail.start()
    try:
        yield mail
    finally:
        await mail.stop()


def mails_to(catcher: MailCatcher, address: str) -> list[CaughtMail]:
    return [m for m in catcher.caught if address in m.rcpt_tos]


async def wait_for_mail(catcher: MailCatcher, address: str, n: int) -> list[CaughtMail]:
    """The mails to `address` once there are `n` of them (others may arrive meanwhile)."""
    while len(mails_to(catcher, address)) < n:
        await catcher.wait_for(len(catcher.caught) + 1)
    return mails_to(catcher, address)


@asynccontextmanager
async def mailing_transcripts(infra: Any, database_url: str, smtp_port: int) -> AsyncIterator[Zora]:
    """A running Zora that mails through the SMTP server on loopback `smtp_port`, its shop emailing
    transcripts on resolve."""
    async with running_zora(infra, database_url, **smtp_options(smtp_port)) as zora:
        await set_shop_settings(zora, transcript_on_resolve=True)
        yield zora


@asynccontextmanager
async def transcript_shop(infra: Any, database_url: str) -> AsyncIterator[tuple[Zora, MailCatcher]]:
    """`mailing_transcripts` with a mail catcher of its own: (Zora, what it mailed)."""
    async with catching_mail() as catcher, mailing_transcripts(infra, database_url, catcher.smtp_port) as zora:
        yield zora, catcher


async def set_shop_settings(zora: Zora, shop_id: int | None = None, /, **values: Any) -> None:
    """Replaces a shop's settings (the test's own shop unless another is named) with `values`, as the
    admin page's save does: a setting not named goes back to its default. Stored as a JSON object, as
    the admin page stores it (the pool's codec encodes the dict)."""
    await zora.fetch(
        "UPDATE shops SET settings = $2 WHERE id = $1", zora.shop_id if shop_id is None else shop_id, values
    )


def session_ref(zora: Zora, session: dict[str, Any]) -> ConversationRef:
    """The conversation a widget session (`zora.session()`) opened, as the activities name it."""
    return ConversationRef(
        shop=zora.shop,
        shop_id=zora.shop_id,
        conversation_id=UUID(session["conversation_id"]),
        shopper_id=UUID(session["shopper_id"]),
    )


@dataclass
class Opened:
    """A conversation a new shopper opened: its card (the thread's root post in Slack) is posted."""

    shopper: Shopper
    root: dict[str, Any]
    conversation_id: str


async def open_conversation(zora: Zora, text: str = "hello", *, delivered: bool = False) -> Opened:
    """A new shopper writes `text`; waits for the card and the message in Slack, and with `delivered`
    also for the shopper's "delivered" status (the message is stored as posted)."""
    session = await zora.session()
    shopper = await zora.shopper(session["token"])
    before = len(zora.standin.posted)
    assert (await shopper.send(text))["ok"]
    root = (await zora.standin.wait_for_posts(before + 2))[before]
    if delivered:
        await shopper.wait_for(lambda: any(s["status"] == "delivered" for s in shopper.statuses))
    return Opened(shopper, root, session["conversation_id"])


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serves `app` on a free loopback port while the block runs; gives its base URL, without a
    trailing slash ("http://127.0.0.1:PORT")."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def slack_standin(token: str, channel: str, **options: Any) -> AsyncIterator[SlackStandIn]:
    """A Slack stand-in on loopback with one channel (#support), for the stand-in's own tests."""
    slack = SlackStandIn(bot_token=token, **options)
    slack.add_channel(channel, "support")
    await slack.start()
    try:
        yield slack
    finally:
        await slack.stop()
