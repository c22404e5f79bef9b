"""Slack threads (slack_threads): one per conversation, found by its conversation or by where it is in Slack."""

from __future__ import annotations

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
