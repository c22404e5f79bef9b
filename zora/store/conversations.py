"""Conversations (and their shoppers): status, assignment, deadlines, Slack card state, transcripts emailed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from zora.db import Executor, Row
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


def _ref(row: Row) -> ConversationRef:
    return ConversationRef(
        shop=row["domain"], shop_id=row["shop_id"], conversation_id=row["conversation_id"], shopper_id=row["shopper_id"]
    )


def refs(rows: list[Row]) -> list[ConversationRef]:
    """Rows of (conversation_id, shop_id, domain, shopper_id) as the conversations they name."""
    return [_ref(r) for r in rows]


async def tick_snapshot(conn: Executor, ref: ConversationRef) -> Row | None:
    """What the workflow's tick decides on: the conversation, its shop's settings, the database's
    clock, when its assignee last replied and since when the shopper waits for a reply."""
    return await conn.fetchrow(
        "SELECT c.status, c.updated_at, c.reminder_level, c.reminder_for, s.settings, now() AS now,"
        " c.assignee, c.auto_assigned_at,"
        " (SELECT max(a.created_at) FROM messages a WHERE a.conversation_id = c.id AND a.direction = 'agent'"
        "   AND a.author_id = c.assignee) AS assignee_replied_at,"
        " (SELECT min(m.created_at) FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'shopper'"
        "   AND m.seq > COALESCE((SELECT max(a.seq) FROM messages a WHERE a.conversation_id = c.id"
        "   AND a.direction = 'agent' AND a.slack_ts IS NOT NULL), 0)) AS waiting_since"
        " FROM conversations c JOIN shops s ON s.id = c.shop_id WHERE c.id = $1 AND c.shop_id = $2",
        ref.conversation_id,
        ref.shop_id,
    )


async def set_reminder(conn: Executor, conversation_id: UUID, level: int, waiting_since: datetime) -> None:
    await conn.execute(
        "UPDATE conversations SET reminder_level = $2, reminder_for = $3 WHERE id = $1",
        conversation_id,
        level,
        waiting_since,
    )


async def close_idle(conn: Executor, conversation_id: UUID, last_activity: datetime) -> bool:
    """Close the conversation unless something happened since `last_activity`; True when closed."""
    closed = await conn.fetchval(
        "UPDATE conversations SET status = 'closed', closed_at = now()"
        " WHERE id = $1 AND updated_at = $2 AND status <> 'closed' RETURNING true",
        conversation_id,
        last_activity,
    )
    return bool(closed)


@dataclass(frozen=True)
class AssignmentView:
    status: str
    assignee: str | None
    settings: dict[str, Any] | None


async def assignment(conn: Executor, ref: ConversationRef) -> AssignmentView | None:
    row = await conn.fetchrow(
        "SELECT c.status, c.assignee, s.settings FROM conversations c JOIN shops s ON s.id = c.shop_id"
        " WHERE c.id = $1 AND c.shop_id = $2",
        ref.conversation_id,
        ref.shop_id,
    )
    return (
        None
        if row is None
        else AssignmentView(status=row["status"], assignee=row["assignee"], settings=row["settings"])
    )


async def assigned_load(conn: Executor, shop_id: int, agents: list[str]) -> list[Row]:
    """(assignee, n): how many conversations each of these agents has assigned in the shop."""
    return await conn.fetch(
        "SELECT assignee, count(*) AS n FROM conversations WHERE shop_id = $1 AND status = 'assigned'"
        " AND assignee = ANY($2) GROUP BY assignee",
        shop_id,
        agents,
    )


async def apply_assignment(conn: Executor, ref: ConversationRef, status: str, assignee: str | None, auto: bool) -> None:
    await conn.execute(
        "UPDATE conversations SET status = $3, assignee = $4,"
        " closed_at = CASE WHEN $3 = 'closed' THEN COALESCE(closed_at, now()) ELSE NULL END,"
        " auto_assigned_at = CASE WHEN $5 THEN now() WHEN $4::text IS NULL THEN NULL ELSE auto_assigned_at END"
        " WHERE id = $1 AND shop_id = $2",
        ref.conversation_id,
        ref.shop_id,
        status,
        assignee,
        auto,
    )


@dataclass(frozen=True)
class CardView:
    """What the thread's card shows: the conversation, its shop, its shopper and their customer."""

    id: UUID
    shop_id: int
    domain: str
    settings: dict[str, Any] | None
    status: str
    assignee: str | None
    storefront_page: str | None
    locale: str | None
    shopper_name: str | None
    shopper_email: str | None
    customer_id: int | None
    # The customers row, as stored, when the shopper is bound to one.
    customer: dict[str, Any] | None
    # The assistant: 'answering' / 'drafting' while it holds the conversation, 'off', or None.
    assistant: str | None = None


async def card_view(conn: Executor, conversation_id: UUID) -> CardView | None:
    row = await conn.fetchrow(
        "SELECT c.id, c.shop_id, c.status, c.assignee, c.storefront_page, c.locale, s.domain, s.settings, p.name,"
        " p.email, p.customer_id, to_jsonb(cu) AS customer, c.assistant"
        " FROM conversations c JOIN shops s ON s.id = c.shop_id JOIN shoppers p ON p.id = c.shopper_id"
        " LEFT JOIN customers cu ON cu.id = p.customer_id WHERE c.id = $1",
        conversation_id,
    )
    if row is None:
        return None
    return CardView(
        id=row["id"],
        shop_id=row["shop_id"],
        domain=row["domain"],
        settings=row["settings"],
        status=row["status"],
        assignee=row["assignee"],
        storefront_page=row["storefront_page"],
        locale=row["locale"],
        shopper_name=row["name"],
        shopper_email=row["email"],
        customer_id=row["customer_id"],
        customer=row["customer"],
        assistant=row["assistant"],
    )


@dataclass(frozen=True)
class Listed:
    """A conversation in an agent's list."""

    shop: str
    who: str
    status: str
    assignee: str | None
    channel: str
    thread_ts: str
    updated_at: datetime


ListFilter = Literal["open", "unassigned", "mine"]

_LIST_FILTER = {
    "open": "c.status IN ('open', 'assigned')",
    "unassigned": "c.status = 'open' AND c.assignee IS NULL",
    "mine": "c.status IN ('open', 'assigned') AND c.assignee = $2",
}


async def agent_list(
    conn: Executor, team_id: str, user_id: str, which: ListFilter, shop_ids: list[int], limit: int
) -> tuple[int, list[Listed]]:
    """(how many in all, the `limit` most recently active) of these shops' conversations with a
    thread in this workspace."""
    where = _LIST_FILTER[which]
    args: list[Any] = [team_id] + ([user_id] if which == "mine" else [])
    args.append(shop_ids)
    base = (
        " FROM conversations c JOIN slack_threads t ON t.conversation_id = c.id JOIN shops s ON s.id = c.shop_id"
        " JOIN shoppers p ON p.id = c.shopper_id"
        f" WHERE t.team_id = $1 AND {where} AND c.shop_id = ANY(${len(args)}::bigint[])"
    )
    total = await conn.fetchval("SELECT count(*)" + base, *args)
    rows = await conn.fetch(
        "SELECT s.domain, COALESCE(p.name, p.email, 'a shopper') AS who, c.status, c.assignee,"
        " t.channel_id, t.thread_ts, c.updated_at" + base + f" ORDER BY c.updated_at DESC LIMIT {int(limit)}",
        *args,
    )
    return int(total), [
        Listed(r["domain"], r["who"], r["status"], r["assignee"], r["channel_id"], r["thread_ts"], r["updated_at"])
        for r in rows
    ]


async def shop_settings(conn: Executor, shop_id: int, conversation_id: UUID) -> dict[str, Any] | None:
    """The settings of the conversation's shop, when the conversation is this shop's (None otherwise)."""
    raw: dict[str, Any] | None = await conn.fetchval(
        "SELECT s.settings FROM conversations c JOIN shops s ON s.id = c.shop_id WHERE c.id = $1 AND c.shop_id = $2",
        conversation_id,
        shop_id,
    )
    return raw


async def not_closed(conn: Executor, shop_id: int) -> list[UUID]:
    """The shop's conversations whose workflow may be running."""
    rows = await conn.fetch("SELECT id FROM conversations WHERE shop_id = $1 AND status <> 'closed'", shop_id)
    return [r["id"] for r in rows]
