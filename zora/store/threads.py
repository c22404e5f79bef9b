"""Slack threads (slack_threads): one per conversation, found by its conversation or by where it is in Slack."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from zora.db import Executor
from zora.models import ConversationRef, SlackThread


async def of_conversation(conn: Executor, conversation_id: UUID) -> SlackThread | None:
    row = await conn.fetchrow(
        "SELECT team_id, channel_id, thread_ts FROM slack_threads WHERE conversation_id = $1", conversation_id
    )
    return (
        None
        if row is None
        else SlackThread(team_id=row["team_id"], channel=row["channel_id"], thread_ts=row["thread_ts"])
    )


@dataclass(frozen=True)
class ThreadOrStart:
    """A conversation's thread when it has one; otherwise what starting it needs, with this try noted."""

    thread: SlackThread | None
    # The shop's channel (None: none set); read only when there is no thread.
    channel: str | None = None
    # Whether this try was noted (False: the conversation is not the shop's, or the shop has no channel).
    tried: bool = False
    # When the card was first tried before this (None: this is the first try).
    tried_before: datetime | None = None


async def thread_or_start(conn: Executor, ref: ConversationRef) -> ThreadOrStart:
    """The conversation's thread, or the shop's channel and the card's try noted, in one statement: a
    new conversation's first post reads all three before the shopper's message can reach Slack, so
    each round trip here is waited for by the shopper (docs/benchmarks.md, "the opening burst").

    The try is noted only when a card can be posted (no thread yet, a channel set), and keeps the
    first try's time: a card whose post was cut off is looked for from then (bot/threads.py)."""
    row = await conn.fetchrow(
        "WITH t AS (SELECT team_id, channel_id, thread_ts FROM slack_threads WHERE conversation_id = $1),"
        " s AS (SELECT nullif(slack_channel_id, '') AS channel FROM shops WHERE id = $2),"
        " o AS (SELECT slack_card_attempt_at AS at FROM conversations WHERE id = $1 AND shop_id = $2"
        "  AND NOT EXISTS (SELECT 1 FROM t) AND (SELECT channel FROM s) IS NOT NULL FOR UPDATE),"
        " u AS (UPDATE conversations c SET slack_card_attempt_at = coalesce(o.at, now()) FROM o"
        "  WHERE c.id = $1 RETURNING o.at)"
        " SELECT t.team_id, t.channel_id, t.thread_ts, (SELECT channel FROM s) AS channel,"
        " (SELECT at FROM u) AS tried_before, EXISTS (SELECT 1 FROM u) AS tried"
        " FROM (SELECT 1) AS one LEFT JOIN t ON true",
        ref.conversation_id,
        ref.shop_id,
    )
    assert row is not None  # one row whatever matched
    if row["thread_ts"] is not None:
        return ThreadOrStart(
            thread=SlackThread(team_id=row["team_id"], channel=row["channel_id"], thread_ts=row["thread_ts"])
        )
    return ThreadOrStart(thread=None, channel=row["channel"], tried=row["tried"], tried_before=row["tried_before"])


async def insert(conn: Executor, ref: ConversationRef, thread: SlackThread) -> None:
    await conn.execute(
        "INSERT INTO slack_threads (team_id, channel_id, thread_ts, shop_id, conversation_id)"
        " VALUES ($1, $2, $3, $4, $5)",
        thread.team_id,
        thread.channel,
        thread.thread_ts,
        ref.shop_id,
        ref.conversation_id,
    )


@dataclass(frozen=True)
class ThreadConversation:
    """The conversation behind a Slack thread, with its shop's settings as stored."""

    ref: ConversationRef
    settings: dict[str, Any] | None
    status: str
    assignee: str | None


async def conversation_at(conn: Executor, team_id: str, channel: str, thread_ts: str) -> ThreadConversation | None:
    row = await conn.fetchrow(
        "SELECT t.conversation_id, t.shop_id, s.domain, s.settings, c.shopper_id, c.status, c.assignee"
        " FROM slack_threads t JOIN shops s ON s.id = t.shop_id JOIN conversations c ON c.id = t.conversation_id"
        " WHERE t.team_id = $1 AND t.channel_id = $2 AND t.thread_ts = $3",
        team_id,
        channel,
        thread_ts,
    )
    if row is None:
        return None
    ref = ConversationRef(
        shop=row["domain"], shop_id=row["shop_id"], conversation_id=row["conversation_id"], shopper_id=row["shopper_id"]
    )
    return ThreadConversation(ref=ref, settings=row["settings"], status=row["status"], assignee=row["assignee"])


@dataclass(frozen=True)
class BackfillThread:
    shop_id: int
    team_id: str
    channel_id: str
    thread_ts: str
    # Replies after this ts are read (the last one read, or the root).
    since: str


async def to_backfill(conn: Executor, limit: int) -> list[BackfillThread]:
    """Threads of open conversations, in every shop (the sweep), least recently read first."""
    rows = await conn.fetch(
        "SELECT t.shop_id, t.team_id, t.channel_id, t.thread_ts, COALESCE(t.backfilled_ts, t.thread_ts) AS since"
        " FROM slack_threads t JOIN conversations c ON c.id = t.conversation_id"
        " WHERE c.status IN ('open', 'assigned')"
        " ORDER BY t.backfilled_at NULLS FIRST, t.created_at LIMIT $1",
        limit,
    )
    return [
        BackfillThread(
            shop_id=r["shop_id"],
            team_id=r["team_id"],
            channel_id=r["channel_id"],
            thread_ts=r["thread_ts"],
            since=r["since"],
        )
        for r in rows
    ]


async def mark_backfilled(conn: Executor, thread: BackfillThread, since: str) -> None:
    await conn.execute(
        "UPDATE slack_threads SET backfilled_ts = $4, backfilled_at = now()"
        " WHERE team_id = $1 AND channel_id = $2 AND thread_ts = $3",
        thread.team_id,
        thread.channel_id,
        thread.thread_ts,
        since,
    )
