"""Codes that prove an email to the assistant (issue 12 §4), and who a conversation's shopper is.

Every statement is scoped by the shop and the conversation, so a code, a proof or a count of one
conversation never opens another's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from zora.db import Executor


@dataclass(frozen=True)
class Scope:
    """The conversation's shopper as the assistant's tools see them."""

    shop_name: str
    # The Shopify customer the app proxy verified (bound to the shopper); None while anonymous.
    shopify_customer_id: int | None
    # The widget's language when the conversation started (None: unknown).
    locale: str | None
    # The shop's settings as stored (its languages and texts pick the code email's words).
    settings: dict[str, Any] | None = None


async def scope(conn: Executor, shop_id: int, conversation_id: UUID) -> Scope | None:
    """None when the conversation is not this shop's."""
    row = await conn.fetchrow(
        "SELECT s.name, cu.shopify_customer_id, c.locale, s.settings FROM conversations c"
        " JOIN shops s ON s.id = c.shop_id"
        " JOIN shoppers sh ON sh.id = c.shopper_id AND sh.shop_id = c.shop_id"
        " LEFT JOIN customers cu ON cu.id = sh.customer_id AND cu.shop_id = c.shop_id AND cu.deleted_at IS NULL"
        " WHERE c.shop_id = $1 AND c.id = $2",
        shop_id,
        conversation_id,
    )
    if row is None:
        return None
    return Scope(row["name"], row["shopify_customer_id"], row["locale"], row["settings"])


async def sent_since(
    conn: Executor, shop_id: int, conversation_id: UUID, email: str, conversation_since: datetime, email_since: datetime
) -> tuple[int, int]:
    """(codes this conversation asked for since `conversation_since`, codes for this address in the shop
    since `email_since`): what the rate limits count."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE conversation_id = $2 AND created_at > $4) AS conversation,"
        " count(*) FILTER (WHERE email = $3 AND created_at > $5) AS email"
        " FROM identity_codes WHERE shop_id = $1 AND (conversation_id = $2 OR email = $3)"
        " AND created_at > least($4::timestamptz, $5::timestamptz)",
        shop_id,
        conversation_id,
        email,
        conversation_since,
        email_since,
    )
    assert row is not None  # an aggregate answers one row
    return int(row["conversation"]), int(row["email"])


async def sent_between(conn: Executor, conversation_id: UUID, start: datetime, end: datetime) -> bool:
    """Whether a code was sent in the conversation between the two instants (a typed code is masked)."""
    found = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM identity_codes WHERE conversation_id = $1"
        " AND created_at BETWEEN $2::timestamptz AND $3::timestamptz)",
        conversation_id,
        start,
        end,
    )
    return bool(found)


async def lock_conversation(conn: Executor, shop_id: int, conversation_id: UUID) -> bool:
    """Serializes code requests and checks of one conversation (count, then insert; read, then count a
    try) for the transaction. False when the conversation is not this shop's. An advisory lock, not a row
    lock: a check holds it through a bcrypt comparison, and the shopper's messages, which update the
    conversation's row, must not wait for that."""
    found = await conn.fetchval(
        "SELECT pg_advisory_xact_lock(hashtextextended('zora identity codes ' || id::text, 0)) IS NOT NULL"
        " FROM conversations WHERE shop_id = $1 AND id = $2",
        shop_id,
        conversation_id,
    )
    return bool(found)


async def replace_code(
    conn: Executor, shop_id: int, conversation_id: UUID, email: str, code_hash: str, expires_at: datetime
) -> None:
    """The conversation's one live code: any earlier one still live is retired."""
    await conn.execute(
        "UPDATE identity_codes SET used_at = now() WHERE shop_id = $1 AND conversation_id = $2 AND used_at IS NULL",
        shop_id,
        conversation_id,
    )
    await conn.execute(
        "INSERT INTO identity_codes (shop_id, conversation_id, email, code_hash, expires_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        shop_id,
        conversation_id,
        email,
        code_hash,
        expires_at,
    )


@dataclass(frozen=True)
class LiveCode:
    id: int
    email: str
    code_hash: str
    attempts: int


async def live_code(conn: Executor, shop_id: int, conversation_id: UUID) -> LiveCode | None:
    """The conversation's code that is neither spent nor expired."""
    row = await conn.fetchrow(
        "SELECT id, email, code_hash, attempts FROM identity_codes"
        " WHERE shop_id = $1 AND conversation_id = $2 AND used_at IS NULL AND expires_at > now()"
        " ORDER BY created_at DESC, id DESC LIMIT 1",
        shop_id,
        conversation_id,
    )
    if row is None:
        return None
    return LiveCode(row["id"], row["email"], row["code_hash"], row["attempts"])


async def count_try(conn: Executor, shop_id: int, code_id: int, *, right: bool, last: bool) -> None:
    """One try of the code: a right one proves its email (and spends it), the last wrong one spends it."""
    await conn.execute(
        "UPDATE identity_codes SET attempts = attempts + 1,"
        " used_at = CASE WHEN $3 OR $4 THEN now() ELSE used_at END,"
        " proven_at = CASE WHEN $3 THEN now() ELSE proven_at END"
        " WHERE shop_id = $1 AND id = $2",
        shop_id,
        code_id,
        right,
        last,
    )


async def proven_emails(conn: Executor, shop_id: int, conversation_id: UUID) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT email FROM identity_codes WHERE shop_id = $1 AND conversation_id = $2"
        " AND proven_at IS NOT NULL ORDER BY email",
        shop_id,
        conversation_id,
    )
    return [r["email"] for r in rows]


async def erase(conn: Executor, shop_id: int, email: str | None, conversation_ids: list[UUID]) -> int:
    """customers/redact: the codes and proofs of the person's address and of their conversations."""
    status = await conn.execute(
        "DELETE FROM identity_codes WHERE shop_id = $1 AND (conversation_id = ANY($2::uuid[])"
        " OR ($3::text IS NOT NULL AND email = lower($3)))",
        shop_id,
        conversation_ids,
        email,
    )
    return int(status.split()[-1])


async def drop_stale(conn: Executor) -> int:
    """Codes never proven, a day after they expired, in every shop (the sweep): past every rate-limit
    window, they prove and count nothing. Proofs stay with their conversation."""
    status = await conn.execute(
        "DELETE FROM identity_codes WHERE proven_at IS NULL AND expires_at < now() - interval '1 day'"
    )
    return int(status.split()[-1])
