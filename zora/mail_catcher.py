"""A local SMTP server that keeps what it receives, and a page that shows it.

`zora dev` runs it when SMTP_HOST is unset, so the email a shopper would get is visible at
http://127.0.0.1:8025/; the tests use it as the real SMTP server the mailer talks to. It is
aiosmtpd's SMTP protocol on the running event loop (no thread).
"""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class CaughtMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return "" if part is None else str(part.get_content())


@dataclass
class MailCatcher:
    host: str = "127.0.0.1"
    caught: list[CaughtMail] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _web: web.AppRunner | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    smtp_port: int = 0
    web_port: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.caught.append(CaughtMail(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], parsed))
        self._changed.set()
        return "250 Message accepted for delivery"

    async def start(self, smtp_port: int = 0, web_port: int | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SMTP(self, hostname="zora-catcher"), self.host, smtp_port)
        self.smtp_port = self._server.sockets[0].getsockname()[1]
        if web_port is not None:
            app = web.Application()
            app.router.add_get("/", self._page)
            self._web = web.AppRunner(app)
            await self._web.setup()
            site = web.TCPSite(self._web, self.host, web_port)
            await site.start()
            self.web_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._web is not None:
            await self._web.cleanup()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def page_url(self) -> str:
        return f"http://{self.host}:{self.web_port}/"

    async def wait_for(self, n: int, timeout: float = 30.0) -> list[CaughtMail]:  # noqa: ASYNC109
        async def loop() -> None:
            while len(self.caught) < n:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), timeout)
        return list(self.caught)

    async def _page(self, request: web.Request) -> web.Response:
        items: list[str] = []
        for mail in reversed(self.caught):
            m: Any = mail.message
            items.append(
                "<article><h2>{subject}</h2><p><b>To:</b> {to} &middot; <b>From:</b> {frm}</p><pre>{body}</pre></article>".format(
                    subject=html.escape(str(m["Subject"] or "(no subject)")),
                    to=html.escape(", ".join(mail.rcpt_tos)),
                    frm=html.escape(mail.mail_from),
                    body=html.escape(mail.text),
                )
            )
        body = "".join(items) or "<p>No email yet. Emails Zora sends (missed replies) appear here.</p>"
        page = (
            '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>Zora mail</title>'
            "<style>body{font:15px system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem}"
            "article{border:1px solid #ddd;border-radius:8px;padding:0 1rem;margin:1rem 0}"
            "pre{white-space:pre-wrap}</style><h1>Caught mail</h1>" + body
        )
        return web.Response(text=page, content_type="text/html")
