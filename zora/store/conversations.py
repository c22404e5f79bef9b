"""Conversations (and their shoppers): status, assignment, deadlines, Slack card state, transcripts emailed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from zora.db import Executor
from zora.models import ConversationRef
from zora.store.receipts import RECIPIENT, RECIPIENT_JOIN


async def set_storefront_context(conn: Executor, ref: ConversationRef, page: str | None, locale: str | None) -> None:
    await conn.execute(
        "UPDATE conversations SET storefront_page = coalesce(storefront_page, $3), locale = coalesce(locale, $4)"
        " WHERE id = $1 AND shop_id = $2",
        ref.conversation_id,
        ref.shop_id,
        page,
        locale,
    )


async def status(conn: Executor, shop_id: int, conversation_id: UUID) -> str | None:
    found: str | None = await conn.fetchval(
        "SELECT status FROM conversations WHERE id = $1 AND shop_id = $2", conversation_id, shop_id
    )
    return found


async def next_seq(conn: Executor, ref: ConversationRef) -> int:
    """Take the conversation's next message seq (inside the transaction that stores the message)."""
    seq: int = await conn.fetchval(
        "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $1 AND shop_id = $2 RETURNING last_seq",
        ref.conversation_id,
        ref.shop_id,
    )
    return seq


async def try_card(conn: Executor, conversation_id: UUID) -> datetime | None:
    """Note the first try to post the conversation's card (kept from then on, so a lost card is looked
    for from that time); returns when an earlier try was, None on the first."""
    # `o` is joined, not read in RETURNING: there it would be read after the update and see nothing.
    tried_at: datetime | None = await conn.fetchval(
        "WITH o AS (SELECT slack_card_attempt_at AS at FROM conversations WHERE id = $1 FOR UPDATE)"
        " UPDATE conversations c SET slack_card_attempt_at = coalesce(o.at, now()) FROM o"
        " WHERE c.id = $1 RETURNING o.at",
        conversation_id,
    )
    return tried_at


async def card_not_posted(conn: Executor, conversation_id: UUID) -> None:
    """Slack refused the card: there is nothing to look for next time."""
    await conn.execute("UPDATE conversations SET slack_card_attempt_at = NULL WHERE id = $1", conversation_id)


@dataclass(frozen=True)
class TranscriptState:
    last_seq: int
    sent_upto: int
    email: str | None
    shopper_name: str | None
    shop_name: str


async def transcript_state(conn: Executor, ref: ConversationRef) -> TranscriptState | None:
    """How far the emailed transcript went, and where it goes (zora.store.receipts.RECIPIENT)."""
    row = await conn.fetchrow(
        f"SELECT c.last_seq, c.transcript_sent_upto, {RECIPIENT} AS email, s.name AS shopper_name,"
        " sh.name AS shop_name FROM conversations c JOIN shoppers s ON s.id = c.shopper_id"
        f" JOIN shops sh ON sh.id = c.shop_id {RECIPIENT_JOIN} WHERE c.id = $1 AND c.shop_id = $2",
        ref.conversation_id,
        ref.shop_id,
    )
    if row is None:
        return None
    return TranscriptState(
        last_seq=row["last_seq"],
        sent_upto=row["transcript_sent_upto"],
        email=row["email"],
        shopper_name=row["shopper_name"],
        shop_name=row["shop_name"],
    )


async def transcript_failed(conn: Executor, ref: ConversationRef, error: str) -> None:
    await conn.execute(
        "UPDATE conversations SET transcript_error = $2 WHERE id = $1 AND shop_id = $3",
        ref.conversation_id,
        error,
        ref.shop_id,
    )


async def transcript_sent(conn: Executor, ref: ConversationRef, upto: int) -> None:
    await conn.execute(
        "UPDATE conversations SET transcript_sent_upto = GREATEST(transcript_sent_upto, $2),"
        " transcript_error = NULL WHERE id = $1 AND shop_id = $3",
        ref.conversation_id,
        upto,
        ref.shop_id,
    )
