"""Messages: the transcript's rows and their delivery status (their Slack side is slack_posts.py).

zora/transcript.py is the domain layer over this module (it shapes the results, groups statements in
transactions and keeps the posting claim's rules); every statement on `messages` is here or in
slack_posts.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from zora.db import Executor, Row
from zora.models import AgentPost, Author, ConversationRef, StoredMessage
from zora.store.conversations import refs

MESSAGE_COLUMNS = (
    "conversation_id, seq, client_id, direction, author_name, author_avatar, body, created_at, status,"
    " edited_at, deleted_at, author_id"
)
# The author id of the assistant's messages (zora.assistant_turns.AI_AUTHOR_ID).
_AI_AUTHOR = "ai"


def stored_message(row: Row) -> StoredMessage:
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
        assistant=row["direction"] == "agent" and row["author_id"] == _AI_AUTHOR,
    )


@dataclass(frozen=True)
class Stored:
    """What the store functions of migration 0003 answer for one message."""

    seq: int
    created_at: datetime
    duplicate: bool


@dataclass(frozen=True)
class StoredShopper(Stored):
    status: str
    conversation_created: bool
    reopened: bool


async def store_shopper(
    conn: Executor, ref: ConversationRef, client_id: str, body: str, author_name: str, at: datetime
) -> StoredShopper:
    """One round trip: the shopper, conversation and message rows (a retried client id stored once)."""
    row = await conn.fetchrow(
        "SELECT * FROM zora_store_shopper_message($1, $2, $3, $4, $5, $6, $7)",
        ref.shop_id,
        ref.conversation_id,
        ref.shopper_id,
        client_id,
        body,
        author_name,
        at,
    )
    assert row is not None  # the function always answers one row
    return StoredShopper(
        seq=row["o_seq"],
        created_at=row["o_created_at"],
        duplicate=row["o_duplicate"],
        status=row["o_status"],
        conversation_created=row["o_conversation_created"],
        reopened=row["o_reopened"],
    )


async def store_agent(conn: Executor, ref: ConversationRef, post: AgentPost) -> Stored:
    row = await conn.fetchrow(
        "SELECT * FROM zora_store_agent_message($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        ref.shop_id,
        ref.conversation_id,
        post.author_id,
        post.author.name,
        post.author.avatar_url,
        post.body,
        post.channel,
        post.ts,
        post.at,
    )
    assert row is not None
    return Stored(seq=row["o_seq"], created_at=row["o_created_at"], duplicate=row["o_duplicate"])


async def store_system(conn: Executor, ref: ConversationRef, seq: int, author: Author, body: str) -> StoredMessage:
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
    assert row is not None
    return stored_message(row)


async def agent_message_at(conn: Executor, ref: ConversationRef, channel: str, ts: str) -> StoredMessage | None:
    row = await conn.fetchrow(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE shop_id = $1 AND conversation_id = $2"
        " AND slack_channel = $3 AND slack_ts = $4 AND direction = 'agent' AND deleted_at IS NULL",
        ref.shop_id,
        ref.conversation_id,
        channel,
        ts,
    )
    return None if row is None else stored_message(row)


async def after(conn: Executor, shop_id: int, conversation_id: UUID, since_seq: int, limit: int) -> list[StoredMessage]:
    """The conversation's messages after `since_seq`, oldest first."""
    rows = await conn.fetch(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND shop_id = $2 AND seq > $3"
        " ORDER BY seq LIMIT $4",
        conversation_id,
        shop_id,
        since_seq,
        limit,
    )
    return [stored_message(r) for r in rows]


async def all_of(conn: Executor, ref: ConversationRef) -> list[StoredMessage]:
    """Every message not deleted, oldest first (the emailed transcript)."""
    rows = await conn.fetch(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND shop_id = $2"
        " AND deleted_at IS NULL ORDER BY seq",
        ref.conversation_id,
        ref.shop_id,
    )
    return [stored_message(r) for r in rows]


async def agent_replies_between(
    conn: Executor, ref: ConversationRef, after_seq: int, upto_seq: int
) -> list[StoredMessage]:
    """The agents' replies not deleted with after_seq < seq <= upto_seq, oldest first."""
    rows = await conn.fetch(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND shop_id = $2"
        " AND direction = 'agent' AND deleted_at IS NULL AND seq > $3 AND seq <= $4 ORDER BY seq",
        ref.conversation_id,
        ref.shop_id,
        after_seq,
        upto_seq,
    )
    return [stored_message(r) for r in rows]


async def pending_shopper(
    conn: Executor, shop_id: int, conversation_id: UUID, statuses: list[str]
) -> list[StoredMessage]:
    rows = await conn.fetch(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND shop_id = $2"
        " AND direction = 'shopper' AND status = ANY($3) ORDER BY seq",
        conversation_id,
        shop_id,
        statuses,
    )
    return [stored_message(r) for r in rows]


async def set_status(
    conn: Executor,
    conversation_id: UUID,
    seqs: list[int],
    status: str,
    slack_channel: str | None,
    slack_ts: str | None,
) -> None:
    await conn.execute(
        "UPDATE messages SET status = $3, claimed_until = NULL, slack_channel = COALESCE($4, slack_channel),"
        " slack_ts = COALESCE($5, slack_ts) WHERE conversation_id = $1 AND seq = ANY($2)",
        conversation_id,
        seqs,
        status,
        slack_channel,
        slack_ts,
    )


async def delivered_to_slack(
    conn: Executor,
    conversation_id: UUID,
    seq: int,
    slack_channel: str,
    slack_ts: str | None,
    heal_shop_id: int | None,
) -> None:
    """A shopper's message is in Slack (set_status's "delivered"); with `heal_shop_id`, that shop's
    recorded Slack error is cleared in the same statement (a post went through: Slack works again),
    one round trip for both on every post."""
    await conn.execute(
        "WITH healed AS (UPDATE shops SET slack_error = NULL, slack_error_at = NULL"
        "  WHERE id = $5 AND slack_error IS NOT NULL RETURNING id)"
        " UPDATE messages SET status = 'delivered', claimed_until = NULL, slack_channel = $3,"
        " slack_ts = COALESCE($4, slack_ts) WHERE conversation_id = $1 AND seq = $2",
        conversation_id,
        seq,
        slack_channel,
        slack_ts,
        heal_shop_id,
    )


async def edit_agent(
    conn: Executor, shop_id: int, channel: str, ts: str, body: str, at: datetime
) -> StoredMessage | None:
    # Not the assistant's: its post in Slack is Zora's own rendering (label, streaming updates), never
    # what the shopper should read instead of the answer.
    row = await conn.fetchrow(
        f"UPDATE messages SET body = $4, edited_at = $5 WHERE shop_id = $1 AND slack_channel = $2"
        f" AND slack_ts = $3 AND direction = 'agent' AND author_id IS DISTINCT FROM '{_AI_AUTHOR}'"
        f" AND deleted_at IS NULL RETURNING {MESSAGE_COLUMNS}",
        shop_id,
        channel,
        ts,
        body,
        at,
    )
    return None if row is None else stored_message(row)


async def delete_agent(conn: Executor, shop_id: int, channel: str, ts: str, at: datetime) -> StoredMessage | None:
    """Blank a deleted reply (its seq stays: no gaps)."""
    row = await conn.fetchrow(
        f"UPDATE messages SET body = '', deleted_at = $4 WHERE shop_id = $1 AND slack_channel = $2"
        f" AND slack_ts = $3 AND direction = 'agent' AND deleted_at IS NULL RETURNING {MESSAGE_COLUMNS}",
        shop_id,
        channel,
        ts,
        at,
    )
    return None if row is None else stored_message(row)


async def agent_seq_at(conn: Executor, shop_id: int, channel: str, ts: str) -> tuple[UUID, int] | None:
    """(conversation, seq) of the agent reply relayed from this Slack message."""
    row = await conn.fetchrow(
        "SELECT conversation_id, seq FROM messages WHERE shop_id = $1 AND slack_channel = $2 AND slack_ts = $3"
        " AND direction = 'agent'",
        shop_id,
        channel,
        ts,
    )
    return None if row is None else (row["conversation_id"], row["seq"])


async def agent_replies_in(conn: Executor, ref: ConversationRef, from_seq: int, to_seq: int) -> list[StoredMessage]:
    """The agents' replies not deleted with from_seq <= seq <= to_seq, oldest first."""
    rows = await conn.fetch(
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND shop_id = $2"
        " AND direction = 'agent' AND deleted_at IS NULL AND seq >= $3 AND seq <= $4 ORDER BY seq",
        ref.conversation_id,
        ref.shop_id,
        from_seq,
        to_seq,
    )
    return [stored_message(r) for r in rows]


# Conversations with shopper messages still waiting for Slack ($1 seconds old, $2 at most; refused ones
# of shops whose Slack works again: healed by this sweep, $3, or cleared by a later successful post),
# across all shops (the sweep). The partial index
# messages_waiting_for_sweep (migration 0014) matches its WHERE; tests/zora/test_bounds.py checks the
# plan uses it.
UNDELIVERED_SQL = (
    "SELECT DISTINCT m.conversation_id, m.shop_id, s.domain, c.shopper_id"
    " FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN shops s ON s.id = m.shop_id"
    " WHERE m.direction = 'shopper' AND (m.claimed_until IS NULL OR m.claimed_until < now())"
    " AND ((m.status = 'stored' AND m.created_at < now() - make_interval(secs => $1))"
    "   OR (m.status = 'undelivered' AND (m.shop_id = ANY($3) OR s.slack_error IS NULL)))"
    " LIMIT $2"
)


async def waiting_for_slack(
    conn: Executor, older_than_seconds: float, limit: int, healed_shops: list[int]
) -> list[ConversationRef]:
    return refs(await conn.fetch(UNDELIVERED_SQL, older_than_seconds, limit, healed_shops))
