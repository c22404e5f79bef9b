"""What a shopper's widget reports back: receipts for agent replies (the pre-chat profile is in zora/identity.py).

Every statement is scoped by the shop and conversation from the shopper's token; a value a client
sends can only move its own conversation's watermarks forward, never past its last message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

Receipt = Literal["delivered", "seen"]


@dataclass(frozen=True)
class Receipts:
    delivered_upto: int
    seen_upto: int


async def record(pool: Any, shop_id: int, conversation_id: UUID, kind: Receipt, upto: int) -> Receipts | None:
    """Moves the watermark (seen implies delivered). None when the conversation has no such seq."""
    seen = upto if kind == "seen" else 0
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "INSERT INTO shopper_receipts AS r (conversation_id, shop_id, delivered_upto, seen_upto)"
            " SELECT c.id, c.shop_id, $3, $4 FROM conversations c"
            "  WHERE c.id = $1 AND c.shop_id = $2 AND c.last_seq >= $3"
            " ON CONFLICT (conversation_id) DO UPDATE SET"
            "  delivered_upto = GREATEST(r.delivered_upto, EXCLUDED.delivered_upto),"
            "  seen_upto = GREATEST(r.seen_upto, EXCLUDED.seen_upto), updated_at = now()"
            " RETURNING delivered_upto, seen_upto",
            conversation_id,
            shop_id,
            upto,
            seen,
        )
    return None if row is None else Receipts(row["delivered_upto"], row["seen_upto"])


async def unseen_replies(pool: Any, shop_id: int, conversation_id: UUID) -> int:
    """The highest agent reply (not deleted) the shopper has not seen; 0 when none."""
    async with pool.acquire() as conn:
        value = await conn.fetchval(
            "SELECT COALESCE(max(m.seq), 0) FROM messages m"
            " LEFT JOIN shopper_receipts r ON r.conversation_id = m.conversation_id"
            " WHERE m.conversation_id = $1 AND m.shop_id = $2 AND m.direction = 'agent' AND m.deleted_at IS NULL"
            " AND m.seq > COALESCE(GREATEST(r.seen_upto, r.emailed_upto), 0)",
            conversation_id,
            shop_id,
        )
    return int(value or 0)


async def reading_state(pool: Any, shop_id: int, conversation_id: UUID) -> tuple[int, int]:
    """(the last agent reply's seq, the shopper's seen watermark) for `resume`."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT (SELECT max(seq) FROM messages WHERE conversation_id = $1 AND shop_id = $2"
            "  AND direction = 'agent') AS last_agent,"
            " (SELECT seen_upto FROM shopper_receipts WHERE conversation_id = $1 AND shop_id = $2) AS seen",
            conversation_id,
            shop_id,
        )
    return int(row["last_agent"] or 0), int(row["seen"] or 0)
