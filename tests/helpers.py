"""Small helpers the test modules share, beside the running Zora of tests/harness.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from aiohttp import web

from tests.harness import Shopper, Zora
from zora.models import ConversationRef


def smtp_options(port: int) -> dict[str, Any]:
    """Zora's settings for a plain-text SMTP server on loopback (a MailCatcher or a scripted one)."""
    return {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_tls": "none"}


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
