"""Confirming an address a shopper typed: the email with its single-use link (nothing else is mailed
to the address before), and the page the link opens."""

from __future__ import annotations

import asyncio
import html
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
from zora.shopper_texts import Words, match_language, words
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
        # The page the link opens speaks the email's language (a language tag, nothing else, is taken from it).
        link = f"{settings.public_url.rstrip('/')}/widget/confirm?code={code}&lang={w.lang}"
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
    '<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
    "<title>{title}</title></head>"
    '<body style="font-family:system-ui,sans-serif;max-width:30em;margin:3em auto;padding:0 1em">{body}</body></html>'
)


def _page(w: Words, body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=_CONFIRM_PAGE.format(lang=w.lang, title=html.escape(w("page_title")), body=body),
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _said(w: Words, key: str, status: int) -> web.Response:
    return _page(w, f"<p>{html.escape(w(key))}</p>", status)


def page_words(request: web.Request, given: object) -> Words:
    """The link's language (set when the email was written), else the browser's first, else English."""
    lang = match_language(str(given)) if given else None
    if lang is None:
        accepted = request.headers.get("Accept-Language", "").split(",")[0].split(";")[0]
        lang = match_language(accepted) or "en"
    return words(lang)


async def confirm_handler(request: web.Request, services: Services) -> web.Response:
    """The link in an address-confirmation email. GET only shows a button (mail scanners and link
    previews fetch links on their own), POST spends the code and confirms the address."""
    if request.method == "GET":
        w = page_words(request, request.query.get("lang"))
        code = request.query.get("code", "")
        if not re.match(CODE, code):
            return _said(w, "page_incomplete", 400)
        return _page(
            w,
            f"<p>{html.escape(w('page_question'))}</p>"
            f'<form method="post"><input type="hidden" name="code" value="{code}">'
            f'<input type="hidden" name="lang" value="{w.lang}">'
            f'<button type="submit">{html.escape(w("page_button"))}</button></form>',
        )
    form = await request.post()
    w = page_words(request, form.get("lang"))
    code = str(form.get("code", ""))
    if not re.match(CODE, code):
        return _said(w, "page_incomplete", 400)
    async with services.pool.acquire() as conn, conn.transaction():
        try:
            found = await zid.find_code(conn, code, "confirm")
        except zid.CodeRefused:
            return _said(w, "page_used", 410)
        await zid.use_code(conn, found)
        confirmed = await zid.confirm_email(conn, found)
    if not confirmed:
        return _said(w, "page_changed", 409)
    return _said(w, "page_done", 200)
