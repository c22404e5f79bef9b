"""What a shopper has seen and been emailed: shopper_receipts, email_digests, and the recipient rule.

A receipt a widget reports is scoped by the shop and conversation from the shopper's token; a value a
client sends can only move its own conversation's watermarks forward, never past its last message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from zora.db import Executor
from zora.models import ConversationRef

# Where chat email may go (issue 10 item 5): an address the shopper typed only once they confirmed it,
# otherwise the email of the Shopify customer the shopper is bound to (Shopify vouched for both).
RECIPIENT = "CASE WHEN s.email_confirmed_at IS NOT NULL THEN s.email ELSE cu.email END"
RECIPIENT_JOIN = "LEFT JOIN customers cu ON cu.id = s.customer_id AND cu.deleted_at IS NULL"


@dataclass(frozen=True)
class DigestState:
    seen_upto: int
    emailed_upto: int
    email: str | None
    shopper_name: str | None
    shop_name: str


@dataclass(frozen=True)
class DigestClaim:
    from_seq: int
    to_seq: int
    recipient: str
    message_id: str


async def lock_digest_state(conn: Executor, ref: ConversationRef) -> DigestState | None:
    """The receipts row, created if missing and locked (it is the lock: two runs, or retries, claim
    ranges one at a time), with where the email goes."""
    await conn.execute(
        "INSERT INTO shopper_receipts (conversation_id, shop_id) SELECT id, shop_id FROM conversations"
        " WHERE id = $1 AND shop_id = $2 ON CONFLICT (conversation_id) DO NOTHING",
        ref.conversation_id,
        ref.shop_id,
    )
    row = await conn.fetchrow(
        f"SELECT r.seen_upto, r.emailed_upto, {RECIPIENT} AS email, s.name AS shopper_name,"
        " sh.name AS shop_name FROM shopper_receipts r JOIN conversations c ON c.id = r.conversation_id"
        f" JOIN shoppers s ON s.id = c.shopper_id JOIN shops sh ON sh.id = c.shop_id {RECIPIENT_JOIN}"
        " WHERE r.conversation_id = $1 AND r.shop_id = $2 FOR UPDATE OF r",
        ref.conversation_id,
        ref.shop_id,
    )
    if row is None:
        return None
    return DigestState(
        seen_upto=row["seen_upto"],
        emailed_upto=row["emailed_upto"],
        email=row["email"],
        shopper_name=row["shopper_name"],
        shop_name=row["shop_name"],
    )


async def unfinished_digest(conn: Executor, ref: ConversationRef) -> DigestClaim | None:
    """A claimed range whose send did not finish (a crash or a failed attempt)."""
    row = await conn.fetchrow(
        "SELECT from_seq, to_seq, recipient, message_id FROM email_digests"
        " WHERE conversation_id = $1 AND shop_id = $2 AND status = 'sending' ORDER BY from_seq LIMIT 1",
        ref.conversation_id,
        ref.shop_id,
    )
    if row is None:
        return None
    return DigestClaim(
        from_seq=row["from_seq"], to_seq=row["to_seq"], recipient=row["recipient"], message_id=row["message_id"]
    )


async def claim_digest(conn: Executor, ref: ConversationRef, claim: DigestClaim) -> None:
    """Claim a range of replies to email (status 'sending') and move the emailed mark past it."""
    await conn.execute(
        "INSERT INTO email_digests (shop_id, conversation_id, from_seq, to_seq, recipient, message_id)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        ref.shop_id,
        ref.conversation_id,
        claim.from_seq,
        claim.to_seq,
        claim.recipient,
        claim.message_id,
    )
    await conn.execute(
        "UPDATE shopper_receipts SET emailed_upto = GREATEST(emailed_upto, $2), updated_at = now()"
        " WHERE conversation_id = $1 AND shop_id = $3",
        ref.conversation_id,
        claim.to_seq,
        ref.shop_id,
    )


async def digest_failed(conn: Executor, ref: ConversationRef, from_seq: int, why: str) -> None:
    await conn.execute(
        "UPDATE email_digests SET status = 'failed', error = $3 WHERE conversation_id = $1 AND from_seq = $2"
        " AND shop_id = $4",
        ref.conversation_id,
        from_seq,
        why,
        ref.shop_id,
    )


async def digest_sent(conn: Executor, ref: ConversationRef, from_seq: int) -> None:
    await conn.execute(
        "UPDATE email_digests SET status = 'sent', sent_at = now() WHERE conversation_id = $1 AND from_seq = $2"
        " AND shop_id = $3",
        ref.conversation_id,
        from_seq,
        ref.shop_id,
    )


Receipt = Literal["delivered", "seen"]


@dataclass(frozen=True)
class Receipts:
    delivered_upto: int
    seen_upto: int


async def record(conn: Executor, shop_id: int, conversation_id: UUID, kind: Receipt, upto: int) -> Receipts | None:
    """Moves the watermark (seen implies delivered). None when the conversation has no such seq."""
    seen = upto if kind == "seen" else 0
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


async def unseen_replies(conn: Executor, shop_id: int, conversation_id: UUID) -> int:
    """The highest agent reply (not deleted) the shopper has not seen; 0 when none."""
    value = await conn.fetchval(
        "SELECT COALESCE(max(m.seq), 0) FROM messages m"
        " LEFT JOIN shopper_receipts r ON r.conversation_id = m.conversation_id"
        " WHERE m.conversation_id = $1 AND m.shop_id = $2 AND m.direction = 'agent' AND m.deleted_at IS NULL"
        " AND m.seq > COALESCE(GREATEST(r.seen_upto, r.emailed_upto), 0)",
        conversation_id,
        shop_id,
    )
    return int(value or 0)


async def reading_state(conn: Executor, shop_id: int, conversation_id: UUID) -> tuple[int, int]:
    """(the last agent reply's seq, the shopper's seen watermark) for `resume`."""
    row = await conn.fetchrow(
        "SELECT (SELECT max(seq) FROM messages WHERE conversation_id = $1 AND shop_id = $2"
        "  AND direction = 'agent') AS last_agent,"
        " (SELECT seen_upto FROM shopper_receipts WHERE conversation_id = $1 AND shop_id = $2) AS seen",
        conversation_id,
        shop_id,
    )
    assert row is not None  # a SELECT without FROM answers one row
    return int(row["last_agent"] or 0), int(row["seen"] or 0)
