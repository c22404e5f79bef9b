"""What a shopper token's signature cannot say alone (issue 10 items 2 and 5): whether it was revoked,
whether the shopper is still bound to the customer it names, the single-use codes that emailed links
carry instead of tokens, and whether a typed address was confirmed.

A token is current when its `ver` equals the shopper's `token_version` and its `cus` equals the Shopify
customer the shopper is bound to (both from PostgreSQL, checked at every session, connect and upload).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from zora.errors import ZoraError
from zora.security import ShopperIdentity

# 32 random bytes, URL-safe: too many to guess, short enough for any mail client's link.
_CODE_BYTES = 32


def sockets_key(shopper_id: UUID | str) -> str:
    """A Redis set of the socket ids open with this shopper's tokens (on any web node), so that a
    revocation can close them wherever they are."""
    return f"zora:sockets:{shopper_id}"


@dataclass(frozen=True)
class TokenState:
    version: int
    customer: int | None


async def token_state(conn: Any, shop_id: int, shopper_id: UUID) -> TokenState:
    """The shopper's token version and bound customer; a shopper with no row yet has (0, None)."""
    row = await conn.fetchrow(
        "SELECT s.token_version, cu.shopify_customer_id FROM shoppers s"
        " LEFT JOIN customers cu ON cu.id = s.customer_id WHERE s.id = $1 AND s.shop_id = $2",
        shopper_id,
        shop_id,
    )
    if row is None:
        return TokenState(0, None)
    return TokenState(int(row["token_version"]), row["shopify_customer_id"])


def is_current(identity: ShopperIdentity, state: TokenState) -> bool:
    """Not revoked, and bound to exactly the customer the shopper is bound to now: an anonymous token
    of a shopper who was bound later (or a bound one after the binding went) opens nothing."""
    return identity.version == state.version and identity.customer == state.customer


async def check_token(pool: Any, identity: ShopperIdentity) -> bool:
    async with pool.acquire() as conn:
        return is_current(identity, await token_state(conn, identity.shop_id, identity.shopper_id))


async def revoke(conn: Any, shop_id: int, shopper_id: UUID) -> int:
    """Revokes every token issued to the shopper so far; returns the new version."""
    version: int = await conn.fetchval(
        "INSERT INTO shoppers AS s (id, shop_id, token_version) VALUES ($1, $2, 1)"
        " ON CONFLICT (id) DO UPDATE SET token_version = s.token_version + 1 WHERE s.shop_id = EXCLUDED.shop_id"
        " RETURNING token_version",
        shopper_id,
        shop_id,
    )
    return version


async def has_messages(conn: Any, shop_id: int, shopper_id: UUID) -> bool:
    """Whether anything was written in any conversation of this shopper."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM conversations WHERE shop_id = $1 AND shopper_id = $2 AND last_seq > 0)",
            shop_id,
            shopper_id,
        )
    )


async def conversation_has_messages(conn: Any, shop_id: int, conversation_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM conversations WHERE shop_id = $1 AND id = $2 AND last_seq > 0)",
            shop_id,
            conversation_id,
        )
    )


# -- single-use codes in emails ------------------------------------------------------------------


class CodeRefused(ZoraError):
    """A code that was used already, expired, or never issued (one answer for all: no oracle)."""


def _hash(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


async def issue_code(
    conn: Any,
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
    await conn.execute(
        "INSERT INTO shoppers (id, shop_id) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", shopper_id, shop_id
    )
    await conn.execute(
        "INSERT INTO shopper_codes (code_hash, purpose, shop_id, shopper_id, conversation_id, email, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        _hash(code),
        purpose,
        shop_id,
        shopper_id,
        conversation_id,
        email,
        datetime.now(UTC) + timedelta(seconds=ttl_seconds),
    )
    return code


@dataclass(frozen=True)
class Code:
    hash: bytes
    shop_id: int
    shopper_id: UUID
    conversation_id: UUID | None
    email: str | None


async def find_code(conn: Any, code: str, purpose: str, shop_id: int | None = None) -> Code:
    """A usable code, locked for this transaction; CodeRefused otherwise. `use_code` spends it."""
    row = await conn.fetchrow(
        "SELECT code_hash, shop_id, shopper_id, conversation_id, email FROM shopper_codes"
        " WHERE code_hash = $1 AND purpose = $2 AND ($3::bigint IS NULL OR shop_id = $3)"
        " AND used_at IS NULL AND expires_at > now() FOR UPDATE",
        _hash(code),
        purpose,
        shop_id,
    )
    if row is None:
        raise CodeRefused("this link was used already or has expired")
    return Code(row["code_hash"], row["shop_id"], row["shopper_id"], row["conversation_id"], row["email"])


async def use_code(conn: Any, code: Code) -> None:
    await conn.execute("UPDATE shopper_codes SET used_at = now() WHERE code_hash = $1", code.hash)


# -- confirming typed addresses -------------------------------------------------------------------


async def save_profile(conn: Any, shop_id: int, shopper_id: UUID, name: str | None, email: str | None) -> bool:
    """The pre-chat form (a value left empty keeps what was there). A new address is unconfirmed
    unless it is the email of the Shopify customer the shopper is bound to (Shopify vouched for both).
    True when the address still needs confirming (send the confirmation email)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO shoppers AS s (id, shop_id) VALUES ($1, $2)"
            " ON CONFLICT (id) DO UPDATE SET id = s.id WHERE s.shop_id = EXCLUDED.shop_id"
            " RETURNING s.email, s.email_confirmed_at, (SELECT lower(cu.email) FROM customers cu"
            "  WHERE cu.id = s.customer_id AND cu.deleted_at IS NULL) AS customer_email",
            shopper_id,
            shop_id,
        )
        if row is None:
            return False  # another shop's shopper id: nothing is written
        same = email is None or (row["email"] is not None and row["email"].lower() == email.lower())
        confirmed = row["email_confirmed_at"] if same else None
        if email is not None and row["customer_email"] is not None and row["customer_email"] == email.lower():
            confirmed = confirmed or datetime.now(UTC)
        await conn.execute(
            "UPDATE shoppers SET name = COALESCE($3, name), email = COALESCE($4, email), email_confirmed_at = $5"
            " WHERE id = $1 AND shop_id = $2",
            shopper_id,
            shop_id,
            name,
            email,
            confirmed,
        )
    return email is not None and not same and confirmed is None


async def confirm_email(conn: Any, code: Code) -> bool:
    """Confirms the address the code was sent to, if it is still the shopper's address."""
    done = await conn.fetchval(
        "UPDATE shoppers SET email_confirmed_at = now() WHERE id = $1 AND shop_id = $2 AND lower(email) = lower($3)"
        " RETURNING true",
        code.shopper_id,
        code.shop_id,
        code.email,
    )
    return bool(done)
