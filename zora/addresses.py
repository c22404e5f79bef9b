"""Email addresses, parsed strictly wherever one enters Zora and again before anything is sent.

An address typed into the widget ends up in a `To:` header and an SMTP `RCPT TO`. Anything that
could make it more than one mailbox (a comma, a second `<...>`, a quoted local part, a display name
around it, CR/LF that would start a new header) is refused here, with a message saying why, so it
is never stored and never reaches SMTP. `email-validator` does the RFC work; DNS is not consulted
(an address is checked as typed; a mailbox that does not exist is the SMTP server's answer).
"""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.headerregistry import Address, HeaderRegistry

from email_validator import EmailNotValidError, validate_email

from zora.errors import ZoraError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HEADERS = HeaderRegistry()


class InvalidAddress(ZoraError, ValueError):
    """Not exactly one valid mailbox. A ValueError too, so pydantic validators report it as is."""


def parse_address(value: str) -> str:
    """One recipient's bare address (`ana@example.com`), normalized (domain lower-cased, in IDNA form).

    Raises InvalidAddress for anything else, including `Ana <ana@example.com>`, `a@x.com, b@y.com`
    and CR/LF anywhere: a recipient is stored and sent bare, its name travels separately."""
    if not isinstance(value, str):
        raise InvalidAddress("is not an email address")
    if _CONTROL.search(value):
        raise InvalidAddress("must be one email address, without line breaks or control characters")
    candidate = value.strip()
    if not candidate:
        raise InvalidAddress("is empty")
    try:
        checked = validate_email(
            candidate,
            check_deliverability=False,
            allow_display_name=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
        )
    except EmailNotValidError as exc:
        raise InvalidAddress(f"is not one valid email address: {exc}") from None
    if len(checked.local_part.encode()) > 64:
        raise InvalidAddress("is not one valid email address: the part before the @-sign is over 64 bytes")
    # The ASCII form (IDNA domain) when there is one: SMTP servers without SMTPUTF8 take it.
    return checked.ascii_email or checked.normalized


def parse_sender(value: str) -> Address:
    """The From of Zora's own mail (MAIL_FROM): one mailbox, with an optional display name.

    Looser than `parse_address` about the domain only (`no-reply@localhost` is fine for `zora dev`'s
    catcher); still exactly one address and no line breaks."""
    if not isinstance(value, str) or _CONTROL.search(value):
        raise InvalidAddress("must be one address, without line breaks or control characters")
    try:
        header = _HEADERS("From", value.strip())
    except (HeaderParseError, IndexError, ValueError):
        raise InvalidAddress("is not an address, like 'Shop <support@shop.example>'") from None
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if header.defects or len(addresses) != 1:
        raise InvalidAddress("must be exactly one address, like 'Shop <support@shop.example>'")
    address = addresses[0]
    if not address.username or not address.domain:
        raise InvalidAddress("must be exactly one address, like 'Shop <support@shop.example>'")
    return address


def safe_display_name(name: str | None) -> str:
    """A name for a `To:` header: control characters (a line break would start a new header) become spaces."""
    return " ".join(_CONTROL.sub(" ", name or "").split())[:100]
