"""What a shopper token's signature cannot say alone (issue 10 items 2 and 5): whether it was revoked,
whether the shopper is still bound to the customer it names, the single-use codes that emailed links
carry instead of tokens, and whether a typed address was confirmed.

A token is current when its `ver` equals the shopper's `token_version` and its `cus` equals the Shopify
customer the shopper is bound to (both from PostgreSQL, checked at every session, connect and upload).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

from zora.db import Conn, Executor, Pool
from zora.errors import ZoraError
from zora.security import ShopperIdentity
from zora.store import shoppers
from zora.store.shoppers import (
    Code,
    TokenState,
    confirm_email,
    conversation_has_messages,
    has_messages,
    revoke,
    token_state,
    use_code,
)

__all__ = [
    "Code",
    "TokenState",
    "confirm_email",
    "conversation_has_messages",
    "has_messages",
    "revoke",
    "token_state",
    "use_code",
]

# 32 random bytes, URL-safe: too many to guess, short enough for any mail client's link.
_CODE_BYTES = 32


def sockets_key(shopper_id: UUID | str) -> str:
    """A Redis set of the socket ids open with this shopper's tokens (on any web node), so that a
    revocation can close them wherever they are."""
    return f"zora:sockets:{shopper_id}"


def is_current(identity: ShopperIdentity, state: TokenState) -> bool:
    """Not revoked, and bound to exactly the customer the shopper is bound to now: an anonymous token
    of a shopper who was bound later (or a bound one after the binding went) opens nothing."""
    return identity.version == state.version and identity.customer == state.customer


async def check_token(pool: Pool, identity: ShopperIdentity) -> bool:
    async with pool.acquire() as conn:
        return is_current(identity, await token_state(conn, identity.shop_id, identity.shopper_id))


# -- single-use codes in emails ------------------------------------------------------------------


class CodeRefused(ZoraError):
    """A code that was used already, expired, or never issued (one answer for all: no oracle)."""


def _hash(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


async def issue_code(
    conn: Executor,
    *,
    purpose: str,
    shop_id: int,
    shopper_id: UUID,
    ttl_seconds: int,
    conversation_id: UUID | None = None,
    email: str | None = None,
) -> str:
    """A new random code; only its hash is stored (a database copy opens nothing)."""
    code = secrets.token_urlsafe(_CODE_BYTES)
    await shoppers.ensure(conn, shop_id, shopper_id)
    await shoppers.insert_code(
        conn,
        _hash(code),
        purpose=purpose,
        shop_id=shop_id,
        shopper_id=shopper_id,
        conversation_id=conversation_id,
        email=email,
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds),
    )
    return code


async def find_code(conn: Executor, code: str, purpose: str, shop_id: int | None = None) -> Code:
    """A usable code, locked for this transaction; CodeRefused otherwise. `use_code` spends it."""
    found = await shoppers.lock_usable_code(conn, _hash(code), purpose, shop_id)
    if found is None:
        raise CodeRefused("this link was used already or has expired")
    return found


# -- confirming typed addresses -------------------------------------------------------------------


async def save_profile(conn: Conn, shop_id: int, shopper_id: UUID, name: str | None, email: str | None) -> bool:
    """The pre-chat form (a value left empty keeps what was there). A new address is unconfirmed
    unless it is the email of the Shopify customer the shopper is bound to (Shopify vouched for both).
    True when the address still needs confirming (send the confirmation email)."""
    async with conn.transaction():
        row = await shoppers.lock_profile(conn, shop_id, shopper_id)
        if row is None:
            return False  # another shop's shopper id: nothing is written
        same = email is None or (row.email is not None and row.email.lower() == email.lower())
        confirmed = row.email_confirmed_at if same else None
        if email is not None and row.customer_email is not None and row.customer_email == email.lower():
            confirmed = confirmed or datetime.now(UTC)
        await shoppers.set_profile(conn, shop_id, shopper_id, name, email, confirmed)
    return email is not None and not same and confirmed is None
