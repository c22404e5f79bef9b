"""Messages: the transcript's rows, their Slack posting state and the shopper's receipts of them.

zora/transcript.py is the domain layer over this module (it shapes the results, groups statements in
transactions and keeps the posting claim's rules); every statement on `messages` is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from zora.db import Executor, Row
from zora.models import Author, ConversationRef, StoredMessage
from zora.store.conversations import refs

MESSAGE_COLUMNS = (
    "conversation_id, seq, client_id, direction, author_name, author_avatar, body, created_at, status,"
    " edited_at, deleted_at"
)


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


async def store_agent(
    conn: Executor,
    ref: ConversationRef,
    *,
    author_id: str,
    author: Author,
    body: str,
    channel: str,
    ts: str,
    at: datetime,
) -> Stored:
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


# The rows are locked first (in seq order, so two claimers take turns instead of deadlocking) and read
# as they are now: a message is taken only when nothing older in the conversation is held by another
# poster or waits outside this batch, so a conversation's messages reach Slack in seq order even when
# the fast path, the workflow and a restarted process all try at once.
_CLAIM = (
    "WITH cur AS ("
    " SELECT seq, claimed_until, slack_attempt_at FROM messages"
    " WHERE conversation_id = $1 AND direction = 'shopper' AND status <> 'delivered' ORDER BY seq FOR UPDATE),"
    " stop AS (SELECT min(seq) AS seq FROM cur WHERE claimed_until >= now() OR NOT seq = ANY($2))"
    " UPDATE messages m SET claimed_until = now() + make_interval(secs => $3), slack_attempt_at = now()"
    " FROM cur WHERE m.conversation_id = $1 AND m.seq = cur.seq AND m.seq = ANY($2)"
    " AND (cur.claimed_until IS NULL OR cur.claimed_until < now())"
    " AND m.seq < coalesce((SELECT seq FROM stop), 2147483647)"
    " RETURNING m.seq, cur.slack_attempt_at IS NOT NULL AS unknown"
)


async def claim(conn: Executor, conversation_id: UUID, seqs: list[int], seconds: int) -> list[tuple[int, bool]]:
    """(seq, tried before) of the messages taken."""
    rows = await conn.fetch(_CLAIM, conversation_id, seqs, seconds)
    return [(r["seq"], r["unknown"]) for r in rows]


async def extend_claim(conn: Executor, conversation_id: UUID, seqs: list[int], seconds: int) -> None:
    await conn.execute(
        "UPDATE messages SET claimed_until = now() + make_interval(secs => $3)"
        " WHERE conversation_id = $1 AND seq = ANY($2) AND status <> 'delivered'",
        conversation_id,
        seqs,
        seconds,
    )


async def release(conn: Executor, conversation_id: UUID, seqs: list[int], unknown: list[int]) -> None:
    await conn.execute(
        "UPDATE messages SET claimed_until = NULL,"
        " slack_attempt_at = CASE WHEN seq = ANY($3) THEN slack_attempt_at END"
        " WHERE conversation_id = $1 AND seq = ANY($2)",
        conversation_id,
        seqs,
        unknown,
    )


async def edit_agent(
    conn: Executor, shop_id: int, channel: str, ts: str, body: str, at: datetime
) -> StoredMessage | None:
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


async def last_posted_before(conn: Executor, conversation_id: UUID, seq: int) -> str | None:
    """The Slack ts of the latest shopper message before `seq` that is known to be in Slack."""
    ts: str | None = await conn.fetchval(
        "SELECT slack_ts FROM messages WHERE conversation_id = $1 AND direction = 'shopper' AND seq < $2"
        " AND slack_ts IS NOT NULL ORDER BY seq DESC LIMIT 1",
        conversation_id,
        seq,
    )
    return ts


async def slack_ts(conn: Executor, conversation_id: UUID, seq: int) -> str | None:
    ts: str | None = await conn.fetchval(
        "SELECT slack_ts FROM messages WHERE conversation_id = $1 AND seq = $2", conversation_id, seq
    )
    return ts


async def set_slack_ts(conn: Executor, conversation_id: UUID, seq: int, channel: str, ts: str) -> None:
    """Where Slack has the message's text (the post that carried it)."""
    await conn.execute(
        "UPDATE messages SET slack_channel = $3, slack_ts = $4 WHERE conversation_id = $1 AND seq = $2",
        conversation_id,
        seq,
        channel,
        ts,
    )


async def set_found_slack_ts(conn: Executor, conversation_id: UUID, seq: int, channel: str, ts: str) -> None:
    """The same, for a post found in the thread: it never replaces what was written down already."""
    await conn.execute(
        "UPDATE messages SET slack_channel = $3, slack_ts = $4"
        " WHERE conversation_id = $1 AND seq = $2 AND slack_ts IS NULL",
        conversation_id,
        seq,
        channel,
        ts,
    )


@dataclass(frozen=True)
class SlackPost:
    channel: str
    ts: str


async def mark_seen(conn: Executor, conversation_id: UUID, upto: int) -> SlackPost | None:
    """Mark the latest agent reply in Slack up to `upto` as seen by the shopper; where it is in Slack,
    or None when it was marked before (or nothing from Slack is there to mark)."""
    row = await conn.fetchrow(
        "UPDATE messages SET slack_seen_at = now() WHERE id = ("
        " SELECT id FROM messages WHERE conversation_id = $1 AND direction = 'agent' AND seq <= $2"
        " AND slack_ts IS NOT NULL AND deleted_at IS NULL ORDER BY seq DESC LIMIT 1)"
        " AND slack_seen_at IS NULL RETURNING slack_channel, slack_ts",
        conversation_id,
        upto,
    )
    return None if row is None else SlackPost(channel=row["slack_channel"], ts=row["slack_ts"])


@dataclass(frozen=True)
class ShopperMessageInSlack:
    shop_id: int
    conversation_id: UUID
    seq: int


async def shopper_message_in_slack(conn: Executor, team_id: str, channel: str, ts: str) -> ShopperMessageInSlack | None:
    """The shopper's message Zora posted as this Slack message, looked for only among the shops whose
    threads are in this Slack workspace (the thread row names the shop)."""
    row = await conn.fetchrow(
        "SELECT m.shop_id, m.conversation_id, m.seq FROM messages m"
        " JOIN slack_threads t ON t.conversation_id = m.conversation_id AND t.shop_id = m.shop_id"
        " WHERE t.team_id = $1 AND m.slack_channel = $2 AND m.slack_ts = $3 AND m.direction = 'shopper'",
        team_id,
        channel,
        ts,
    )
    if row is None:
        return None
    return ShopperMessageInSlack(shop_id=row["shop_id"], conversation_id=row["conversation_id"], seq=row["seq"])


async def delivered_shopper_upto(
    conn: Executor, shop_id: int, conversation_id: UUID, seq: int
) -> list[tuple[int, str | None]]:
    """(seq, client id) of the shopper's messages delivered to Slack up to `seq`, oldest first."""
    rows = await conn.fetch(
        "SELECT seq, client_id FROM messages WHERE conversation_id = $1 AND shop_id = $2 AND direction = 'shopper'"
        " AND seq <= $3 AND status = 'delivered' ORDER BY seq",
        conversation_id,
        shop_id,
        seq,
    )
    return [(r["seq"], r["client_id"]) for r in rows]


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


# Conversations with shopper messages still waiting for Slack ($1 seconds old, $2 at most, $3 the
# shops whose Slack works again), across all shops (the sweep). The partial index
# messages_waiting_for_sweep (migration 0014) matches its WHERE; tests/zora/test_bounds.py checks the
# plan uses it.
UNDELIVERED_SQL = (
    "SELECT DISTINCT m.conversation_id, m.shop_id, s.domain, c.shopper_id"
    " FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN shops s ON s.id = m.shop_id"
    " WHERE m.direction = 'shopper' AND (m.claimed_until IS NULL OR m.claimed_until < now())"
    " AND ((m.status = 'stored' AND m.created_at < now() - make_interval(secs => $1))"
    "   OR (m.status = 'undelivered' AND m.shop_id = ANY($3)))"
    " LIMIT $2"
)


async def waiting_for_slack(
    conn: Executor, older_than_seconds: float, limit: int, healed_shops: list[int]
) -> list[ConversationRef]:
    return refs(await conn.fetch(UNDELIVERED_SQL, older_than_seconds, limit, healed_shops))


async def known_in_channel(conn: Executor, shop_id: int, channel: str, ts: list[str]) -> set[str]:
    """Which of these Slack messages (channel, ts) the shop's transcript holds already."""
    rows = await conn.fetch(
        "SELECT slack_ts FROM messages WHERE shop_id = $1 AND slack_channel = $2 AND slack_ts = ANY($3)",
        shop_id,
        channel,
        ts,
    )
    return {r["slack_ts"] for r in rows}
