"""Email to shoppers: the digest of agent replies they missed, sent with aiosmtplib over SMTP."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from zora.addresses import InvalidAddress, parse_address, parse_sender, safe_display_name
from zora.errors import ZoraError
from zora.files import human_size
from zora.models import StoredMessage
from zora.settings import Settings
from zora.shopper_texts import Words, words

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class MailNotConfigured(ZoraError):
    pass


class MailError(ZoraError):
    """An email that did not go out. `permanent`: sending it again cannot work (a 5xx reply, a refused
    or malformed address, a server that lacks what the settings ask for); otherwise a later try may."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def _smtp_failure(exc: Exception) -> MailError:
    """Sorts aiosmtplib's errors by what a retry could change (RFC 5321: 5yz is permanent, 4yz transient)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        said = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        # A mailbox refused for good (550 no such user) is permanent; 450/451 (greylisting, a full
        # disk) is the server asking to come back later.
        return MailError(f"recipient refused: {said}", permanent=all(code >= 500 for code in codes))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return MailError(f"SMTP server answered {exc.code} {exc.message}", permanent=exc.code >= 500)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return MailError(f"SMTP server does not support what the settings ask for: {exc.message}", permanent=True)
    if isinstance(exc, aiosmtplib.SMTPException):
        return MailError(f"SMTP server unreachable: {exc.message}", permanent=False)
    return MailError(f"SMTP server unreachable: {exc!r}", permanent=False)


def recipient_of(message: EmailMessage) -> str:
    """The one address a message may go to, checked again at the last step before SMTP: exactly one
    mailbox in To, no Cc or Bcc, nothing a header could smuggle in."""
    for header in ("Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc"):
        if header in message:
            raise InvalidAddress(f"Zora's mail has exactly one recipient; {header} is not allowed")
    values = message.get_all("To") or []
    if len(values) != 1:
        raise InvalidAddress("Zora's mail has exactly one To header")
    addresses = getattr(values[0], "addresses", None)
    if addresses is None or len(addresses) != 1:
        raise InvalidAddress("Zora's mail goes to exactly one address")
    return parse_address(addresses[0].addr_spec)


class Mailer:
    """Sends through the SMTP server in settings (host, port, TLS mode, credentials, From)."""

    def __init__(self, settings: Settings, *, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout

    @property
    def enabled(self) -> bool:
        return bool(self.settings.smtp_host)

    async def send(self, message: EmailMessage) -> None:
        """Raises MailError (with `permanent` set) when the email did not go out, InvalidAddress when
        it must not be sent at all (both permanent)."""
        s = self.settings
        if not s.smtp_host:
            raise MailNotConfigured("SMTP_HOST is not set")
        sender = parse_sender(s.mail_from)
        if "From" not in message:
            message["From"] = sender
        recipient = recipient_of(message)
        try:
            await self._send(message, sender.addr_spec, recipient)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise _smtp_failure(exc) from exc

    async def _send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        s = self.settings
        # The envelope is given, never read from the headers: only this one address gets it.
        await aiosmtplib.send(
            message,
            sender=sender,
            recipients=[recipient],
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            use_tls=s.smtp_tls == "tls",
            start_tls=s.smtp_tls == "starttls",
            timeout=self.timeout,
        )


def _to(address: str, name: str | None) -> Address:
    """The To header from a stored address (parsed again: rows written before addresses were
    checked strictly may hold anything) and a name that cannot add a header."""
    username, domain = parse_address(address).rsplit("@", 1)
    return Address(display_name=safe_display_name(name), username=username, domain=domain)


def one_line_subject(text: str) -> str:
    """A subject from a shop's name and a (possibly merchant-written) text: one line whatever they hold,
    since a line break in a header value would start a header of its own."""
    return safe_display_name(text) if len(text) <= 100 else " ".join(_CONTROL.sub(" ", text).split())[:200]


def _file_url(base: str | None, url: str | None) -> str | None:
    return f"{base.rstrip('/')}{url}" if base and url else None


def _text_lines(m: StoredMessage, files_base: str | None) -> list[str]:
    """A message's text, then its files (with a link when Zora's public URL is known)."""
    lines = ["  " + line for line in m.body.splitlines()]
    for f in m.files:
        link = _file_url(files_base, f.url)
        lines.append(f"  [file] {f.name} ({human_size(f.size)})" + (f" {link}" if link else ""))
    return lines or ["  "]


def _html_body(m: StoredMessage, files_base: str | None) -> str:
    parts = [html.escape(m.body).replace(chr(10), "<br>")] if m.body else []
    for f in m.files:
        link = _file_url(files_base, f.url)
        name = html.escape(f.name)
        shown = f'<a href="{html.escape(link, quote=True)}">{name}</a>' if link else name
        parts.append(f"&#128206; {shown} ({html.escape(human_size(f.size))})")
    return "<br>".join(parts)


def digest_message_id(conversation_id: object, from_seq: int, to_seq: int, domain: str) -> str:
    """Deterministic, so a re-sent digest (after a crash) is recognisably the same email."""
    return f"<zora-digest.{conversation_id}.{from_seq}-{to_seq}@{domain}>"


def digest_email(
    *,
    shop_name: str,
    to_address: str,
    to_name: str | None,
    messages: Sequence[StoredMessage],
    link: str,
    message_id: str,
    files_base: str | None = None,
    w: Words | None = None,
) -> EmailMessage:
    """One email with every reply the shopper has not seen, and a link that reopens the chat.
    `files_base` is Zora's public URL, for links to the files in the messages; `w` the shopper's language."""
    w = w or words("en")
    msg = EmailMessage()
    count = len(messages)
    subject = (
        w("missed_subject", shop=shop_name) if count == 1 else w("missed_subject_many", shop=shop_name, count=count)
    )
    msg["Subject"] = one_line_subject(subject)
    msg["To"] = _to(to_address, to_name)
    msg["Message-ID"] = message_id or make_msgid()
    msg["Auto-Submitted"] = "auto-generated"
    greeting = w("hi_name", name=to_name) if to_name else w("hi")
    intro = w("missed_intro", shop=shop_name)
    lines = [greeting, "", intro, ""]
    for m in messages:
        lines += [f"{m.author.name}:", *_text_lines(m, files_base), ""]
    lines += [w("missed_continue") + ":", link, ""]
    msg.set_content("\n".join(lines))
    items = "".join(
        f'<p style="margin:0 0 12px"><strong>{html.escape(m.author.name)}</strong><br>{_html_body(m, files_base)}</p>'
        for m in messages
    )
    msg.add_alternative(
        f'<!doctype html><html><body style="font-family:system-ui,sans-serif;color:#1f2328">'
        f"<p>{html.escape(greeting)}</p><p>{html.escape(intro)}</p>"
        f'{items}<p><a href="{html.escape(link, quote=True)}">{html.escape(w("missed_continue"))}</a></p></body></html>',
        subtype="html",
    )
    return msg


def transcript_email(
    *,
    shop_name: str,
    to_address: str,
    to_name: str | None,
    messages: Sequence[StoredMessage],
    message_id: str,
    files_base: str | None = None,
    w: Words | None = None,
) -> EmailMessage:
    """The whole conversation, sent to the shopper when an agent resolves it (a merchant option)."""
    w = w or words("en")
    msg = EmailMessage()
    msg["Subject"] = one_line_subject(w("transcript_subject", shop=shop_name))
    msg["To"] = _to(to_address, to_name)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    greeting = w("hi_name", name=to_name) if to_name else w("hi")
    intro = w("transcript_intro", shop=shop_name)
    you = w("you")
    lines = [greeting, "", intro, ""]
    for m in messages:
        who = you if m.direction == "shopper" else m.author.name
        lines += [
            f"{who} ({m.created_at:%Y-%m-%d %H:%M} UTC):",
            *_text_lines(m, files_base),
            "",
        ]
    msg.set_content("\n".join(lines))
    items = "".join(
        f'<p style="margin:0 0 12px"><strong>{html.escape(you if m.direction == "shopper" else m.author.name)}</strong>'
        f" <small>{m.created_at:%Y-%m-%d %H:%M} UTC</small><br>{_html_body(m, files_base)}</p>"
        for m in messages
    )
    msg.add_alternative(
        f'<!doctype html><html><body style="font-family:system-ui,sans-serif;color:#1f2328">'
        f"<p>{html.escape(greeting)}</p><p>{html.escape(intro)}</p>{items}"
        "</body></html>",
        subtype="html",
    )
    return msg


def plain_email(*, subject: str, to_address: str, lines: list[str]) -> EmailMessage:
    """A short automatic text email to one checked address (its subject must come from Zora's own
    text or pass through safe_display_name: a line break there would add a header)."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["To"] = _to(to_address, None)
    msg["Message-ID"] = make_msgid()
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content("\n".join(lines))
    return msg


def confirmation_email(*, shop_name: str, to_address: str, link: str, w: Words | None = None) -> EmailMessage:
    """Asks the owner of a typed address to confirm it before any chat email goes there."""
    w = w or words("en")
    lines = [w("hi"), "", w("confirm_intro", shop=shop_name), w("confirm_link"), link, "", w("confirm_ignore"), ""]
    return plain_email(
        subject=one_line_subject(w("confirm_subject", shop=shop_name)), to_address=to_address, lines=lines
    )
