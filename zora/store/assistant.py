"""The assistant in conversations: whether it holds one, its answers, and the audit of its turns
(migration 0023). activities/assistant_turns.py is the only caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from zora.db import Conn, Executor, Row
from zora.models import ConversationRef, StoredMessage
from zora.store.messages import MESSAGE_COLUMNS, stored_message


async def is_off(conn: Executor, ref: ConversationRef) -> bool:
    off: bool | None = await conn.fetchval(
        "SELECT assistant = 'off' FROM conversations WHERE id = $1 AND shop_id = $2", ref.conversation_id, ref.shop_id
    )
    return bool(off)


async def set_state(conn: Executor, ref: ConversationRef, state: str | None) -> None:
    """Once 'off' (a person took over), it stays off: a late 'answering' (or the end of a hold, None)
    changes nothing."""
    await conn.execute(
        "UPDATE conversations SET assistant = $3 WHERE id = $1 AND shop_id = $2"
        " AND (assistant IS DISTINCT FROM 'off' OR $3 = 'off')",
        ref.conversation_id,
        ref.shop_id,
        state,
    )


async def transcript(conn: Executor, shop_id: int, conversation_id: UUID, upto_seq: int, limit: int) -> list[Row]:
    """The latest `limit` messages up to `upto_seq` (direction, author_id, author_name, body), oldest first."""
    return await conn.fetch(
        "SELECT seq, direction, author_id, author_name, body FROM ("
        " SELECT seq, direction, author_id, author_name, body FROM messages WHERE conversation_id = $1 AND shop_id = $2"
        " AND seq <= $3 AND deleted_at IS NULL AND body <> '' ORDER BY seq DESC LIMIT $4) t ORDER BY seq",
        conversation_id,
        shop_id,
        upto_seq,
        limit,
    )


async def usage_since(conn: Executor, shop_id: int, since: datetime) -> tuple[int, int]:
    """(turns, tokens) of the shop's turns that ended since `since`."""
    row = await conn.fetchrow(
        "SELECT count(*) AS turns, COALESCE(sum(prompt_tokens + completion_tokens), 0) AS tokens"
        " FROM assistant_turns WHERE shop_id = $1 AND ended_at >= $2",
        shop_id,
        since,
    )
    assert row is not None
    return int(row["turns"]), int(row["tokens"])


@dataclass(frozen=True)
class TurnRow:
    shop_id: int
    conversation_id: UUID
    seq: int
    outcome: str
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal
    started_at: datetime
    reason: str | None = None
    steps: int = 0
    answer: str | None = None
    slack_stream_ts: str | None = None


@dataclass(frozen=True)
class ToolRow:
    step: int
    name: str
    arguments: str
    content: str
    refused: bool


async def record_turn(conn: Conn, turn_id: str, turn: TurnRow, tools: list[ToolRow]) -> None:
    """Once per turn: a retried activity finds the row and writes nothing again."""
    async with conn.transaction():
        inserted = await conn.fetchval(
            "INSERT INTO assistant_turns (id, shop_id, conversation_id, seq, outcome, reason, steps, prompt_tokens,"
            " completion_tokens, cost_estimate, model, answer, slack_stream_ts, started_at)"
            " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14"
            " WHERE EXISTS (SELECT 1 FROM conversations WHERE id = $3 AND shop_id = $2)"
            " ON CONFLICT (id) DO NOTHING RETURNING true",
            turn_id,
            turn.shop_id,
            turn.conversation_id,
            turn.seq,
            turn.outcome,
            turn.reason,
            turn.steps,
            turn.prompt_tokens,
            turn.completion_tokens,
            turn.cost,
            turn.model,
            turn.answer,
            turn.slack_stream_ts,
            turn.started_at,
        )
        if inserted:
            await conn.executemany(
                "INSERT INTO assistant_tool_calls (turn_id, n, step, name, arguments, content, refused)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                [(turn_id, n, t.step, t.name, t.arguments, t.content, t.refused) for n, t in enumerate(tools)],
            )


async def turn(conn: Executor, shop_id: int, turn_id: str) -> Row | None:
    return await conn.fetchrow(
        "SELECT conversation_id, seq, outcome, answer, slack_stream_ts, draft_channel, draft_ts, message_seq"
        " FROM assistant_turns WHERE id = $1 AND shop_id = $2",
        turn_id,
        shop_id,
    )


async def tool_calls(conn: Executor, turn_id: str) -> list[Row]:
    return await conn.fetch(
        "SELECT step, name, arguments, content, refused FROM assistant_tool_calls WHERE turn_id = $1 ORDER BY n",
        turn_id,
    )


async def store_answer(
    conn: Conn, ref: ConversationRef, turn_id: str, author_name: str, body: str
) -> tuple[StoredMessage, bool]:
    """The answer as the assistant's message (client id = the turn id), stored once; (message, new)."""
    async with conn.transaction():
        # Locked like the transcript functions of migration 0003: one seq per message.
        await conn.execute(
            "SELECT 1 FROM conversations WHERE id = $1 AND shop_id = $2 FOR UPDATE", ref.conversation_id, ref.shop_id
        )
        row = await conn.fetchrow(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND client_id = $2",
            ref.conversation_id,
            turn_id,
        )
        if row is not None:
            return stored_message(row), False
        seq = await conn.fetchval(
            "UPDATE conversations SET last_seq = last_seq + 1, updated_at = now() WHERE id = $1 AND shop_id = $2"
            " RETURNING last_seq",
            ref.conversation_id,
            ref.shop_id,
        )
        if seq is None:
            raise LookupError("the conversation is not one of this shop's")
        row = await conn.fetchrow(
            "INSERT INTO messages (shop_id, conversation_id, seq, direction, client_id, author_id, author_name, body,"
            f" status) VALUES ($1, $2, $3, 'agent', $4, 'ai', $5, $6, 'stored') RETURNING {MESSAGE_COLUMNS}",
            ref.shop_id,
            ref.conversation_id,
            seq,
            turn_id,
            author_name,
            body,
        )
        assert row is not None
        await conn.execute("UPDATE assistant_turns SET message_seq = $2 WHERE id = $1", turn_id, seq)
        return stored_message(row), True


async def slack_ts_of(conn: Executor, conversation_id: UUID, seq: int) -> str | None:
    ts: str | None = await conn.fetchval(
        "SELECT slack_ts FROM messages WHERE conversation_id = $1 AND seq = $2", conversation_id, seq
    )
    return ts


async def set_draft_post(conn: Executor, turn_id: str, channel: str, ts: str) -> None:
    await conn.execute(
        "UPDATE assistant_turns SET draft_channel = $2, draft_ts = $3 WHERE id = $1", turn_id, channel, ts
    )


async def last_shopper_words(conn: Executor, ref: ConversationRef) -> str | None:
    body: str | None = await conn.fetchval(
        "SELECT body FROM messages WHERE conversation_id = $1 AND shop_id = $2 AND direction = 'shopper'"
        " AND deleted_at IS NULL AND body <> '' ORDER BY seq DESC LIMIT 1",
        ref.conversation_id,
        ref.shop_id,
    )
    return body


async def note_ts(conn: Executor, ref: ConversationRef) -> str | None:
    ts: str | None = await conn.fetchval(
        "SELECT assistant_note_ts FROM conversations WHERE id = $1 AND shop_id = $2", ref.conversation_id, ref.shop_id
    )
    return ts


async def set_note(conn: Executor, ref: ConversationRef, ts: str) -> None:
    await conn.execute(
        "UPDATE conversations SET assistant_note_ts = $3 WHERE id = $1 AND shop_id = $2",
        ref.conversation_id,
        ref.shop_id,
        ts,
    )


async def queue_slack_erasures(conn: Executor, shop_id: int, conversation_ids: list[Any], batch: UUID) -> None:
    """What the assistant posted in these conversations' threads (answers, drafts, the handover note):
    Zora's own posts about the shopper, deleted from Slack with the conversations (zora/store/compliance.py)."""
    await conn.execute(
        "INSERT INTO slack_erasures (batch, channel_id, ts) SELECT $3::uuid, slack_channel, slack_ts FROM messages"
        " WHERE shop_id = $1 AND conversation_id = ANY($2::uuid[]) AND direction = 'agent' AND author_id = 'ai'"
        " AND slack_ts IS NOT NULL"
        " UNION SELECT $3::uuid, draft_channel, draft_ts FROM assistant_turns"
        " WHERE shop_id = $1 AND conversation_id = ANY($2::uuid[]) AND draft_ts IS NOT NULL"
        " UNION SELECT $3::uuid, t.channel_id, c.assistant_note_ts FROM conversations c"
        " JOIN slack_threads t ON t.conversation_id = c.id"
        " WHERE c.shop_id = $1 AND c.id = ANY($2::uuid[]) AND c.assistant_note_ts IS NOT NULL",
        shop_id,
        conversation_ids,
        batch,
    )


async def erase(conn: Executor, shop_id: int, conversation_ids: list[Any]) -> None:
    """The audit's words (answers, reasons, tool arguments and results) go with the transcript; the
    counts stay (they are the shop's usage, about nobody)."""
    await conn.execute(
        "DELETE FROM assistant_tool_calls WHERE turn_id IN"
        " (SELECT id FROM assistant_turns WHERE shop_id = $1 AND conversation_id = ANY($2::uuid[]))",
        shop_id,
        conversation_ids,
    )
    await conn.execute(
        "UPDATE assistant_turns SET answer = NULL, reason = NULL WHERE shop_id = $1 AND conversation_id = ANY($2::uuid[])",
        shop_id,
        conversation_ids,
    )
