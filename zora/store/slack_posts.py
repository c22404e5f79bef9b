"""Messages in Slack: the posting claim (who may post a shopper message now), where Slack has each
message, and the marks put on them there. The rest of the statements on `messages` are in messages.py.

zora/transcript.py keeps the claim's rules over these statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from zora.db import Executor

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


async def known_in_channel(conn: Executor, shop_id: int, channel: str, ts: list[str]) -> set[str]:
    """Which of these Slack messages (channel, ts) the shop's transcript holds already."""
    rows = await conn.fetch(
        "SELECT slack_ts FROM messages WHERE shop_id = $1 AND slack_channel = $2 AND slack_ts = ANY($3)",
        shop_id,
        channel,
        ts,
    )
    return {r["slack_ts"] for r in rows}
