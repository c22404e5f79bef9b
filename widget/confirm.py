"""Confirming an address a shopper typed: the email with its single-use link (nothing else is mailed
to the address before), and the page the link opens."""

from __future__ import annotations

import asyncio
import logging
import re
from email.message import EmailMessage

from aiohttp import web

from widget.http import CODE
from zora import identity as zid
from zora.limits import RateLimited
from zora.mail import Mailer, confirmation_email
from zora.security import ShopperIdentity
from zora.services import Services
from zora.shopper_language import shopper_words
from zora.store import shops as sshops

log = logging.getLogger(__name__)


class AddressConfirmation:
    """Sends the confirmation emails of one web process."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.mailer = Mailer(services.settings)
        # Confirmation emails in flight (a reference keeps each task alive until it ends).
        self._mailing: set[asyncio.Task[None]] = set()

    async def ask(self, identity: ShopperIdentity, email: str, address: str, locale: str | None = None) -> str:
        """One email with a single-use link that confirms the address, rate-limited per recipient and
        per client address (so Zora cannot be used to mail anyone over and over). The email goes out
        in the background; the answer says what happened: sent, limited, or unavailable."""
        settings = self.services.settings
        if not self.mailer.enabled or not settings.public_url:
            log.warning("typed address not confirmed: needs SMTP_HOST and PUBLIC_URL for the confirmation link")
            return "unavailable"
        try:
            await self.services.limiter.hit(
                ("rate_confirmation_emails_per_recipient", email.lower()),
                ("rate_confirmation_emails_per_address", address),
            )
        except RateLimited as exc:
            log.info("confirmation email not sent: %s", exc)
            return "limited"
        try:
            async with self.services.pool.acquire() as conn:
                code = await zid.issue_code(
                    conn,
                    purpose="confirm",
                    shop_id=identity.shop_id,
                    shopper_id=identity.shopper_id,
                    email=email,
                    ttl_seconds=int(settings.email_code_ttl_hours * 3600),
                )
                shop_name = await sshops.name(conn, identity.shop_id)
                # In the language the widget speaks to them (the form's locale), with the shop's overrides.
                w = await shopper_words(
                    conn, identity.shop_id, identity.shopper_id, identity.conversation_id, locale=locale
                )
        except Exception:
            log.exception("could not prepare the confirmation email")
            return "unavailable"
        link = f"{settings.public_url.rstrip('/')}/widget/confirm?code={code}"
        message = confirmation_email(shop_name=shop_name or identity.shop, to_address=email, link=link, w=w)
        task = asyncio.create_task(self._send(message))
        self._mailing.add(task)
        task.add_done_callback(self._mailing.discard)
        return "sent"

    async def _send(self, message: EmailMessage) -> None:
        try:
            await self.mailer.send(message)
        except Exception:
            log.exception("could not send the confirmation email")


_CONFIRM_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
    "<title>Confirm your email</title></head>"
    '<body style="font-family:system-ui,sans-serif;max-width:30em;margin:3em auto;padding:0 1em">{body}</body></html>'
)


def _page(body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=_CONFIRM_PAGE.format(body=body),
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


async def confirm_handler(request: web.Request, services: Services) -> web.Response:
    """The link in an address-confirmation email. GET only shows a button (mail scanners and link
    previews fetch links on their own), POST spends the code and confirms the address."""
    if request.method == "GET":
        code = request.query.get("code", "")
        if not re.match(CODE, code):
            return _page("<p>This link is not complete. Open it from the email again.</p>", 400)
        return _page(
            "<p>Confirm that chat replies may be emailed to you?</p>"
            '<form method="post"><input type="hidden" name="code" value="' + code + '">'
            '<button type="submit">Confirm my email</button></form>'
        )
    form = await request.post()
    code = str(form.get("code", ""))
    if not re.match(CODE, code):
        return _page("<p>This link is not complete. Open it from the email again.</p>", 400)
    async with services.pool.acquire() as conn, conn.transaction():
        try:
            found = await zid.find_code(conn, code, "confirm")
        except zid.CodeRefused:
            return _page("<p>This link was used already or has expired.</p>", 410)
        await zid.use_code(conn, found)
        confirmed = await zid.confirm_email(conn, found)
    if not confirmed:
        return _page("<p>This address is no longer the one given in the chat: nothing was changed.</p>", 409)
    return _page("<p>Thank you: your email is confirmed. Replies you miss in the chat will be emailed to you.</p>")
