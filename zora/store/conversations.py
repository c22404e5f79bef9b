"""Conversations (and their shoppers): status, assignment, deadlines, Slack card state, transcripts emailed."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from zora.db import Executor
from zora.models import ConversationRef


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
