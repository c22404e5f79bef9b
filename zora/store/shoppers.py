"""Shoppers: their token version, profile (name, typed email and its confirmation) and emailed codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from zora.db import Conn, Executor


@dataclass(frozen=True)
class TokenState:
    version: int
    customer: int | None


async def token_state(conn: Executor, shop_id: int, shopper_id: UUID) -> TokenState:
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


async def revoke(conn: Executor, shop_id: int, shopper_id: UUID) -> int:
    """Revokes every token issued to the shopper so far; returns the new version."""
    version: int = await conn.fetchval(
        "INSERT INTO shoppers AS s (id, shop_id, token_version) VALUES ($1, $2, 1)"
        " ON CONFLICT (id) DO UPDATE SET token_version = s.token_version + 1 WHERE s.shop_id = EXCLUDED.shop_id"
        " RETURNING token_version",
        shopper_id,
        shop_id,
    )
    return version


async def has_messages(conn: Executor, shop_id: int, shopper_id: UUID) -> bool:
    """Whether anything was written in any conversation of this shopper."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM conversations WHERE shop_id = $1 AND shopper_id = $2 AND last_seq > 0)",
            shop_id,
            shopper_id,
        )
    )


async def conversation_has_messages(conn: Executor, shop_id: int, conversation_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM conversations WHERE shop_id = $1 AND id = $2 AND last_seq > 0)",
            shop_id,
            conversation_id,
        )
    )


async def ensure(conn: Executor, shop_id: int, shopper_id: UUID) -> None:
    await conn.execute(
        "INSERT INTO shoppers (id, shop_id) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", shopper_id, shop_id
    )


async def insert_code(
    conn: Executor,
    code_hash: bytes,
    *,
    purpose: str,
    shop_id: int,
    shopper_id: UUID,
    conversation_id: UUID | None,
    email: str | None,
    expires_at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO shopper_codes (code_hash, purpose, shop_id, shopper_id, conversation_id, email, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        code_hash,
        purpose,
        shop_id,
        shopper_id,
        conversation_id,
        email,
        expires_at,
    )


@dataclass(frozen=True)
class Code:
    hash: bytes
    shop_id: int
    shopper_id: UUID
    conversation_id: UUID | None
    email: str | None


async def lock_usable_code(conn: Executor, code_hash: bytes, purpose: str, shop_id: int | None) -> Code | None:
    """A code not used nor expired, locked for this transaction. `shop_id` None: the code itself (a
    secret only its email holds) names the shop."""
    row = await conn.fetchrow(
        "SELECT code_hash, shop_id, shopper_id, conversation_id, email FROM shopper_codes"
        " WHERE code_hash = $1 AND purpose = $2 AND ($3::bigint IS NULL OR shop_id = $3)"
        " AND used_at IS NULL AND expires_at > now() FOR UPDATE",
        code_hash,
        purpose,
        shop_id,
    )
    if row is None:
        return None
    return Code(row["code_hash"], row["shop_id"], row["shopper_id"], row["conversation_id"], row["email"])


async def use_code(conn: Executor, code: Code) -> None:
    await conn.execute(
        "UPDATE shopper_codes SET used_at = now() WHERE code_hash = $1 AND shop_id = $2", code.hash, code.shop_id
    )


async def drop_expired_codes(conn: Executor) -> int:
    """Codes a day past their expiry, in every shop (the sweep); how many."""
    codes = await conn.execute("DELETE FROM shopper_codes WHERE expires_at < now() - interval '1 day'")
    return int(codes.split()[-1])


@dataclass(frozen=True)
class ProfileState:
    email: str | None
    email_confirmed_at: datetime | None
    # The email of the Shopify customer the shopper is bound to, lower-cased.
    customer_email: str | None


async def lock_profile(conn: Conn, shop_id: int, shopper_id: UUID) -> ProfileState | None:
    """The shopper's row (created if missing) locked for this transaction; None when the id is another
    shop's shopper (nothing is written then)."""
    row = await conn.fetchrow(
        "INSERT INTO shoppers AS s (id, shop_id) VALUES ($1, $2)"
        " ON CONFLICT (id) DO UPDATE SET id = s.id WHERE s.shop_id = EXCLUDED.shop_id"
        " RETURNING s.email, s.email_confirmed_at, (SELECT lower(cu.email) FROM customers cu"
        "  WHERE cu.id = s.customer_id AND cu.deleted_at IS NULL) AS customer_email",
        shopper_id,
        shop_id,
    )
    if row is None:
        return None
    return ProfileState(
        email=row["email"], email_confirmed_at=row["email_confirmed_at"], customer_email=row["customer_email"]
    )


async def set_profile(
    conn: Executor,
    shop_id: int,
    shopper_id: UUID,
    name: str | None,
    email: str | None,
    confirmed_at: datetime | None,
) -> None:
    """Name and email (None keeps what is there) and when the email was confirmed."""
    await conn.execute(
        "UPDATE shoppers SET name = COALESCE($3, name), email = COALESCE($4, email), email_confirmed_at = $5"
        " WHERE id = $1 AND shop_id = $2",
        shopper_id,
        shop_id,
        name,
        email,
        confirmed_at,
    )


async def confirm_email(conn: Executor, code: Code) -> bool:
    """Confirms the address the code was sent to, if it is still the shopper's address."""
    done = await conn.fetchval(
        "UPDATE shoppers SET email_confirmed_at = now() WHERE id = $1 AND shop_id = $2 AND lower(email) = lower($3)"
        " RETURNING true",
        code.shopper_id,
        code.shop_id,
        code.email,
    )
    return bool(done)


async def bind_customer(conn: Executor, shop_id: int, shopper_id: UUID, shopify_customer_id: int) -> None:
    """Bind the shopper to the shop's Shopify customer (Shopify vouched for it), creating the customer
    row if the sync has not yet. An address typed (and confirmed) before signing in may be anyone's,
    not this customer's: their mail goes to the customer's own address until they confirm one."""
    customer_row = await conn.fetchval(
        "INSERT INTO customers (shop_id, shopify_customer_id) VALUES ($1, $2)"
        " ON CONFLICT (shop_id, shopify_customer_id) DO UPDATE SET shopify_customer_id = EXCLUDED.shopify_customer_id"
        " RETURNING id",
        shop_id,
        shopify_customer_id,
    )
    await conn.execute(
        "INSERT INTO shoppers AS s (id, shop_id, customer_id) VALUES ($1, $2, $3)"
        " ON CONFLICT (id) DO UPDATE SET customer_id = EXCLUDED.customer_id, email_confirmed_at = NULL"
        " WHERE s.shop_id = EXCLUDED.shop_id",
        shopper_id,
        shop_id,
        customer_row,
    )
