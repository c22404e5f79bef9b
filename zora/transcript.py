"""The transcript in PostgreSQL: the one place that reads and writes conversation messages.

Used by the web process (the shopper's fast path), the Slack listeners and the activities, so
every writer follows the same rules: one seq per message per conversation, a retried client id or
a repeated Slack (channel, ts) stored once, every row checked against its shop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from zora.models import Author, ConversationRef, MessageStatus, StoredMessage

SHOPPER_NAME = "Shopper"
HISTORY_LIMIT = 500

MESSAGE_COLUMNS = (
    "conversation_id, seq, client_id, direction, author_name, author_avatar, body, created_at, status,"
    " edited_at, deleted_at"
)


def stored_message(row: Any) -> StoredMessage:
    return StoredMessage(
        conversation_id=row["conversation_id"],
        seq=row["seq"],
        client_id=row["client_id"],
        direction=row["direction"],
        author=Author(name=row["author_name"], avatar_url=row["author_avatar"]),
        body=row["body"],
        created_at=row["created_at"],
        status=row["status"],
        edited_at=row["edited_at"],
        deleted=row["deleted_at"] is not None,
    )


def wire(message: StoredMessage) -> dict[str, Any]:
    """A message as the widget receives it (docs/widget-protocol.md)."""
    return message.model_dump(mode="json")


@dataclass(frozen=True)
class StoredShopperMessage:
    message: StoredMessage
    # A retry of a client id that was stored before: nothing new happened.
    duplicate: bool
    # The conversation row was created by this message (its first).
    conversation_created: bool
    # A resolved or closed conversation was opened again by this message.
    reopened: bool


async def store_shopper_message(
    pool: Any, ref: ConversationRef, client_id: str, body: str, at: datetime
) -> StoredShopperMessage:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT * FROM zora_store_shopper_message($1, $2, $3, $4, $5, $6, $7)",
            ref.shop_id,
            ref.conversation_id,
            ref.shopper_id,
            client_id,
            body,
            SHOPPER_NAME,
            at,
        )
    message = StoredMessage(
        conversation_id=ref.conversation_id,
        seq=row["o_seq"],
        client_id=client_id,
        direction="shopper",
        author=Author(name=SHOPPER_NAME),
        body=body,
        created_at=row["o_created_at"],
        status=row["o_status"],
    )
    return StoredShopperMessage(
        message=message,
        duplicate=row["o_duplicate"],
        conversation_created=row["o_conversation_created"],
        reopened=row["o_reopened"],
    )


async def store_agent_message(
    pool: Any,
    ref: ConversationRef,
    *,
    author_id: str,
    author: Author,
    body: str,
    channel: str,
    ts: str,
    at: datetime,
) -> StoredMessage | None:
    """The stored message, or None when this Slack message was stored before (a retry)."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT * FROM zora_store_agent_message($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            ref.shop_id,
            ref.conversation_id,
            author_id,
            author.name,
            author.avatar_url,
            body,
            channel,
            ts,
            at,
        )
    if row["o_duplicate"]:
        return None
    return StoredMessage(
        conversation_id=ref.conversation_id,
        seq=row["o_seq"],
        client_id=None,
        direction="agent",
        author=author,
        body=body,
        created_at=row["o_created_at"],
        status="stored",
    )


async def history(
    pool: Any, shop_id: int, conversation_id: UUID, since_seq: int
) -> tuple[str | None, list[StoredMessage]]:
    """The conversation's status and its messages after `since_seq`, oldest first."""
    async with pool.acquire() as conn:
        status = await conn.fetchval(
            "SELECT status FROM conversations WHERE id = $1 AND shop_id = $2", conversation_id, shop_id
        )
        rows = await conn.fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND shop_id = $2 AND seq > $3"
            " ORDER BY seq LIMIT $4",
            conversation_id,
            shop_id,
            since_seq,
            HISTORY_LIMIT,
        )
    return status, [stored_message(r) for r in rows]


async def pending_shopper_messages(
    pool: Any, conversation_id: UUID, statuses: tuple[MessageStatus, ...] = ("stored", "undelivered")
) -> list[StoredMessage]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND direction = 'shopper'"
            " AND status = ANY($2) ORDER BY seq",
            conversation_id,
            list(statuses),
        )
    return [stored_message(r) for r in rows]


async def set_status(
    pool: Any,
    conversation_id: UUID,
    seqs: list[int],
    status: MessageStatus,
    *,
    slack_channel: str | None = None,
    slack_ts: str | None = None,
) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE messages SET status = $3, claimed_until = NULL, slack_channel = COALESCE($4, slack_channel),"
            " slack_ts = COALESCE($5, slack_ts) WHERE conversation_id = $1 AND seq = ANY($2)",
            conversation_id,
            seqs,
            status,
            slack_channel,
            slack_ts,
        )


CLAIM_SECONDS = 60


async def claim(pool: Any, conversation_id: UUID, seqs: list[int]) -> set[int]:
    """Take the right to post these shopper messages; returns the seqs nobody else holds."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "UPDATE messages SET claimed_until = now() + make_interval(secs => $3)"
            " WHERE conversation_id = $1 AND seq = ANY($2) AND direction = 'shopper' AND status <> 'delivered'"
            " AND (claimed_until IS NULL OR claimed_until < now()) RETURNING seq",
            conversation_id,
            seqs,
            CLAIM_SECONDS,
        )
    return {r["seq"] for r in rows}


async def release(pool: Any, conversation_id: UUID, seqs: list[int]) -> None:
    if not seqs:
        return
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE messages SET claimed_until = NULL WHERE conversation_id = $1 AND seq = ANY($2)",
            conversation_id,
            seqs,
        )


async def edit_agent_message(
    pool: Any, shop_id: int, channel: str, ts: str, body: str, at: datetime
) -> StoredMessage | None:
    """Apply an agent's edit in Slack; None when that Slack message is not a reply Zora relayed."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"UPDATE messages SET body = $4, edited_at = $5 WHERE shop_id = $1 AND slack_channel = $2"
            f" AND slack_ts = $3 AND direction = 'agent' AND deleted_at IS NULL RETURNING {MESSAGE_COLUMNS}",
            shop_id,
            channel,
            ts,
            body,
            at,
        )
    return None if row is None else stored_message(row)


async def delete_agent_message(pool: Any, shop_id: int, channel: str, ts: str, at: datetime) -> StoredMessage | None:
    """Remove a reply the agent deleted in Slack: its text is erased, its seq stays (no gaps)."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"UPDATE messages SET body = '', deleted_at = $4 WHERE shop_id = $1 AND slack_channel = $2"
            f" AND slack_ts = $3 AND direction = 'agent' AND deleted_at IS NULL RETURNING {MESSAGE_COLUMNS}",
            shop_id,
            channel,
            ts,
            at,
        )
    return None if row is None else stored_message(row)


async def store_system_message(pool: Any, ref: ConversationRef, *, author: Author, body: str) -> StoredMessage:
    """A message from Zora itself to the shopper (the closing note): shown like an agent's, never in Slack."""
    async with pool.acquire() as conn, conn.transaction():
        seq = await conn.fetchval(
            "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $1 AND shop_id = $2 RETURNING last_seq",
            ref.conversation_id,
            ref.shop_id,
        )
        row = await conn.fetchrow(
            "INSERT INTO messages (shop_id, conversation_id, seq, direction, author_name, author_avatar, body, status)"
            f" VALUES ($1, $2, $3, 'agent', $4, $5, $6, 'stored') RETURNING {MESSAGE_COLUMNS}",
            ref.shop_id,
            ref.conversation_id,
            seq,
            author.name,
            author.avatar_url,
            body,
        )
    return stored_message(row)
