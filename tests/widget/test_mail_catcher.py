"""`zora dev`'s mail catcher: a real SMTP server (aiosmtpd) whose page shows what it caught."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import aiohttp

from zora.mail import Mailer, digest_email
from zora.mail_catcher import MailCatcher
from zora.models import Author, StoredMessage
from zora.settings import Settings


async def test_caught_mail_is_shown_escaped_on_the_page() -> None:
    catcher = MailCatcher()
    await catcher.start(web_port=0)
    try:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            smtp_host=catcher.host,
            smtp_port=catcher.smtp_port,
            smtp_tls="none",
            mail_from="Shop <help@shop.test>",
        )
        reply = StoredMessage(
            conversation_id=uuid4(),
            seq=2,
            client_id=None,
            direction="agent",
            author=Author(name="Ada"),
            body="Use <b>code</b> SAVE10",
            created_at=datetime.now(UTC),
            status="stored",
        )
        email = digest_email(
            shop_name="Slow <Goods>",
            to_address="ana@example.com",
            to_name="Ana",
            messages=[reply],
            link="https://shop.test/#zora-code=abc",
            message_id="<x@zora.test>",
        )
        await Mailer(settings).send(email)
        [caught] = await catcher.wait_for(1)
        assert caught.rcpt_tos == ["ana@example.com"] and caught.mail_from == "help@shop.test"
        assert "Use <b>code</b> SAVE10" in caught.text
        async with aiohttp.ClientSession() as http, http.get(catcher.page_url) as resp:
            page = await resp.text()
        assert "Slow &lt;Goods&gt;: a new reply to your message" in page
        assert "Use &lt;b&gt;code&lt;/b&gt; SAVE10" in page and "<b>code</b>" not in page
    finally:
        await catcher.stop()
