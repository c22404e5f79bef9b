"""Proving an email to the assistant (issue 12 §4): a 6-digit code sent by email, typed back in the chat.

- A code is 6 digits from `secrets`, works for CODE_TTL_SECONDS, once, for CODE_ATTEMPTS wrong tries;
  only its bcrypt hash (cost BCRYPT_COST) is stored, so a copy of the database gives no code away.
- One code per conversation is live: asking again retires the previous one, so each check costs one
  bcrypt comparison and a guesser gets CODE_ATTEMPTS tries per code sent.
- Codes are limited per conversation and per address in the shop (SENDS_PER_CONVERSATION,
  SENDS_PER_EMAIL), counted from the stored rows in the same transaction that adds one.
- The answer to a request is the same whether or not the address has orders in the shop: the
  email goes out only when it has, yet a row (the hash of a code nobody receives) is stored and
  counted either way, so the tool cannot be used to learn who shops there.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Literal
from uuid import UUID

import bcrypt

from zora.addresses import InvalidAddress
from zora.db import Executor, Pool
from zora.mail import Mailer, MailError, one_line_subject, plain_email
from zora.shopper_language import settings_or_defaults
from zora.shopper_texts import Words, words
from zora.store import assistant_lookups, identity_codes

log = logging.getLogger(__name__)

BCRYPT_COST = 12
CODE_TTL_SECONDS = 600
CODE_ATTEMPTS = 5
# (codes, window): generous for a shopper who mistyped an address, tight for anyone fishing.
SENDS_PER_CONVERSATION = (3, timedelta(minutes=10))
SENDS_PER_EMAIL = (5, timedelta(hours=24))

SendOutcome = Literal["sent", "limited", "no_mail", "not_found"]
CheckOutcome = Literal["proven", "wrong", "no_code", "not_found"]


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def hash_code(code: str, cost: int = BCRYPT_COST) -> str:
    return bcrypt.hashpw(code.encode(), bcrypt.gensalt(rounds=cost)).decode()


def code_matches(code: str, stored: str) -> bool:
    return bcrypt.checkpw(code.encode(), stored.encode())


def code_email(*, shop_name: str, to_address: str, code: str, w: Words | None = None) -> EmailMessage:
    """The email carrying the code, in the shopper's words `w` (their conversation's language)."""
    w = w or words("en")
    lines = [w("hi"), "", w("code_intro", shop=shop_name), "", f"    {code}", "", w("code_use"), w("code_ignore"), ""]
    return plain_email(
        subject=one_line_subject(w("code_subject", shop=shop_name, code=code)), to_address=to_address, lines=lines
    )


@dataclass(frozen=True)
class Checked:
    outcome: CheckOutcome
    email: str | None = None
    tries_left: int = 0


class IdentityCodes:
    """Sends and checks the codes of one deployment (its pool and mailer; no mailer: none are sent)."""

    def __init__(self, pool: Pool, mailer: Mailer | None, *, cost: int = BCRYPT_COST) -> None:
        self.pool = pool
        self.mailer = mailer
        self.cost = cost

    async def send(self, shop_id: int, conversation_id: UUID, email: str, order_number: int | None) -> SendOutcome:
        """`email` already parsed (zora.addresses) and lower-cased."""
        if self.mailer is None or not self.mailer.enabled:
            return "no_mail"
        code = new_code()
        # Hashed before the lock: a quarter of a second of CPU, the same for every address.
        code_hash = await asyncio.to_thread(hash_code, code, self.cost)
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            if not await identity_codes.lock_conversation(conn, shop_id, conversation_id):
                return "not_found"
            scope = await identity_codes.scope(conn, shop_id, conversation_id)
            assert scope is not None  # the row is locked
            (per_conversation, conversation_window), (per_email, email_window) = SENDS_PER_CONVERSATION, SENDS_PER_EMAIL
            sent = await identity_codes.sent_since(
                conn, shop_id, conversation_id, email, now - conversation_window, now - email_window
            )
            if sent[0] >= per_conversation or sent[1] >= per_email:
                return "limited"
            # Stored and counted even when the address has no order: then nobody receives the code,
            # and guessing it is as hopeless as guessing any other.
            known = await assistant_lookups.has_orders_from(conn, shop_id, email, order_number)
            expires = now + timedelta(seconds=CODE_TTL_SECONDS)
            await identity_codes.replace_code(conn, shop_id, conversation_id, email, code_hash, expires)
        if known:
            await self._mail(scope, email, code)
        return "sent"

    async def _mail(self, scope: identity_codes.Scope, email: str, code: str) -> None:
        assert self.mailer is not None
        w = settings_or_defaults(scope.settings).words_for(scope.locale)
        try:
            await self.mailer.send(code_email(shop_name=scope.shop_name, to_address=email, code=code, w=w))
        except (MailError, InvalidAddress):
            # The answer stays "sent" (a different one would tell that the address has orders); the
            # shopper can ask for another code, and the failure is in the logs.
            log.warning("an identity code email did not go out", exc_info=True)

    async def check(self, shop_id: int, conversation_id: UUID, code: str) -> Checked:
        """`code` already checked to be 6 digits."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await identity_codes.lock_conversation(conn, shop_id, conversation_id):
                return Checked("not_found")
            live = await identity_codes.live_code(conn, shop_id, conversation_id)
            if live is None:
                return Checked("no_code")
            right = await asyncio.to_thread(code_matches, code, live.code_hash)
            tries = live.attempts + 1
            await identity_codes.count_try(conn, shop_id, live.id, right=right, last=tries >= CODE_ATTEMPTS)
        if right:
            return Checked("proven", email=live.email)
        return Checked("wrong", tries_left=max(0, CODE_ATTEMPTS - tries))


# A code as a shopper may type it (the check tool takes spaces and dashes between its digits), and not a
# piece of a longer number (an order, a phone number).
_TYPED_CODE = re.compile(r"(?<!\d)(?<!\d[\s-])\d(?:[\s-]?\d){5}(?![\s-]?\d)")
CODE_MASK = "••••••"
# The web process stamps the message, PostgreSQL the code: their clocks may differ a little.
_CLOCK_SKEW = timedelta(minutes=1)


def mask_codes(text: str) -> str:
    """Every 6-digit run (as a code may be typed) replaced by CODE_MASK."""
    return _TYPED_CODE.sub(CODE_MASK, text)


async def shown_to_agents(conn: Executor, conversation_id: UUID, body: str, at: datetime) -> str:
    """A shopper's words as the thread shows them: masked when they may hold a live code, that is when
    they have a 6-digit run and a code was sent in this conversation in its lifetime before `at` (the
    message's time). Narrower than masking every 6-digit run (order numbers, postcodes, phone numbers
    stay readable in every other conversation), and unlike "the message answers a pending request" it
    does not depend on whether the turn that checks the code ran before the post (a retried post comes
    later). The stored message keeps the code: the check reads it from there."""
    if _TYPED_CODE.search(body) is None:
        return body  # the usual message: no database round trip
    asked = await identity_codes.sent_between(
        conn,
        conversation_id,
        at - timedelta(seconds=CODE_TTL_SECONDS) - _CLOCK_SKEW,
        at + _CLOCK_SKEW,
    )
    return mask_codes(body) if asked else body
