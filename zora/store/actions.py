"""Drafted actions (assistant_actions) and suggested replies (assistant_suggestions), migration 0025.

Every statement is scoped by the shop (and the conversation where there is one): an action id from a
Slack button or a tool's arguments never reaches another shop's rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from zora.db import Conn, Executor, Row
from zora.models import ConversationRef

ACTION_COLUMNS = (
    "id, shop_id, conversation_id, tool_call_id, kind, shopify_order_id, order_name, request, status,"
    " decided_by, outcome, slack_channel, slack_ts, told_seq"
)


@dataclass(frozen=True)
class CustomerOrder:
    """One of the conversation's verified customer's orders, as synced from Shopify."""

    shopify_order_id: int
    name: str
    cancelled: bool
    closed: bool
    fulfillment_status: str | None


@dataclass(frozen=True)
class ActionRow:
    id: UUID
    shop_id: int
    conversation_id: UUID
    tool_call_id: str
    kind: str
    shopify_order_id: int
    order_name: str
    request: dict[str, Any]
    status: str
    decided_by: str | None
    outcome: str | None
    slack_channel: str | None
    slack_ts: str | None
    told_seq: int | None


def _action(row: Row) -> ActionRow:
    request = row["request"]
    if isinstance(request, str):
        request = json.loads(request)
    return ActionRow(**{**dict(row), "request": dict(request or {})})


async def verified_customer(conn: Executor, shop_id: int, conversation_id: UUID) -> int | None:
    """The Shopify customer id the conversation's shopper is verified as (the app proxy's signed
    `logged_in_customer_id`, migration 0018), or None for an anonymous shopper."""
    value: int | None = await conn.fetchval(
        "SELECT cu.shopify_customer_id FROM conversations c JOIN shoppers p ON p.id = c.shopper_id"
        " JOIN customers cu ON cu.id = p.customer_id AND cu.shop_id = c.shop_id"
        " WHERE c.id = $1 AND c.shop_id = $2",
        conversation_id,
        shop_id,
    )
    return value


async def customer_order(conn: Executor, shop_id: int, shopify_customer_id: int, number: int) -> CustomerOrder | None:
    """The customer's order with this number (#1001 or 1001), never another customer's."""
    row = await conn.fetchrow(
        "SELECT shopify_order_id, name, cancelled_at IS NOT NULL AS cancelled, closed_at IS NOT NULL AS closed,"
        " fulfillment_status FROM shopify_orders WHERE shop_id = $1 AND shopify_customer_id = $2"
        " AND deleted_at IS NULL AND (order_number = $3 OR name = '#' || $3::text) LIMIT 1",
        shop_id,
        shopify_customer_id,
        number,
    )
    if row is None:
        return None
    return CustomerOrder(
        shopify_order_id=row["shopify_order_id"],
        name=row["name"],
        cancelled=row["cancelled"],
        closed=row["closed"],
        fulfillment_status=row["fulfillment_status"],
    )


async def insert_draft(
    conn: Executor,
    action_id: UUID,
    shop_id: int,
    conversation_id: UUID,
    tool_call_id: str,
    kind: str,
    order: CustomerOrder,
    request: dict[str, Any],
) -> ActionRow:
    """The draft of this tool call: new, or the one a previous try of the same call stored."""
    row = await conn.fetchrow(
        "WITH new AS (INSERT INTO assistant_actions (id, shop_id, conversation_id, tool_call_id, kind,"
        " shopify_order_id, order_name, request) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        f" ON CONFLICT (conversation_id, tool_call_id) DO NOTHING RETURNING {ACTION_COLUMNS})"
        f" SELECT {ACTION_COLUMNS} FROM new UNION ALL SELECT {ACTION_COLUMNS} FROM assistant_actions"
        " WHERE conversation_id = $3 AND tool_call_id = $4 AND shop_id = $2 LIMIT 1",
        action_id,
        shop_id,
        conversation_id,
        tool_call_id,
        kind,
        order.shopify_order_id,
        order.name,
        request,
    )
    assert row is not None
    return _action(row)


async def get(conn: Executor, action_id: UUID, shop_id: int | None = None) -> ActionRow | None:
    row = await conn.fetchrow(
        f"SELECT {ACTION_COLUMNS} FROM assistant_actions WHERE id = $1 AND ($2::bigint IS NULL OR shop_id = $2)",
        action_id,
        shop_id,
    )
    return None if row is None else _action(row)


async def set_posted(conn: Executor, action_id: UUID, channel: str, ts: str) -> None:
    await conn.execute(
        "UPDATE assistant_actions SET slack_channel = $2, slack_ts = $3 WHERE id = $1", action_id, channel, ts
    )


async def decide(conn: Executor, action_id: UUID, status: str, by: str | None) -> ActionRow | None:
    """A pending draft becomes approved, denied or expired; None when it was decided before."""
    row = await conn.fetchrow(
        f"UPDATE assistant_actions SET status = $2, decided_by = $3, decided_at = now()"
        f" WHERE id = $1 AND status = 'pending' RETURNING {ACTION_COLUMNS}",
        action_id,
        status,
        by,
    )
    return None if row is None else _action(row)


async def claim_execution(conn: Executor, action_id: UUID) -> ActionRow | None:
    """Approved → executing, once; None when another try claimed it (or it is not approved)."""
    row = await conn.fetchrow(
        f"UPDATE assistant_actions SET status = 'executing' WHERE id = $1 AND status = 'approved'"
        f" RETURNING {ACTION_COLUMNS}",
        action_id,
    )
    return None if row is None else _action(row)


async def finish(conn: Executor, action_id: UUID, status: str, outcome: str) -> None:
    await conn.execute(
        "UPDATE assistant_actions SET status = $2, outcome = $3 WHERE id = $1 AND status = 'executing'",
        action_id,
        status,
        outcome,
    )


async def tell_shopper(
    conn: Conn, action: ActionRow, author_name: str, body: str, at: datetime
) -> tuple[int, datetime] | None:
    """Store the assistant's message with the outcome in the transcript, once per action: (seq,
    created_at), or None when it was told before. Stored as the assistant's (author 'ai')."""
    async with conn.transaction():
        told = await conn.fetchrow(
            "SELECT told_seq FROM assistant_actions WHERE id = $1 AND shop_id = $2 FOR UPDATE",
            action.id,
            action.shop_id,
        )
        if told is None or told["told_seq"] is not None:
            return None
        row = await conn.fetchrow(
            "SELECT * FROM zora_store_agent_message($1, $2, 'ai', $3, NULL, $4, NULL, NULL, $5)",
            action.shop_id,
            action.conversation_id,
            author_name,
            body,
            at,
        )
        assert row is not None
        await conn.execute("UPDATE assistant_actions SET told_seq = $2 WHERE id = $1", action.id, row["o_seq"])
        return int(row["o_seq"]), row["o_created_at"]


# ---------------------------------------------------------------------------------------- suggestions


@dataclass(frozen=True)
class Suggestion:
    id: UUID
    shop_id: int
    conversation_id: UUID
    agent_id: str
    body: str
    sent_ts: str | None


async def insert_suggestion(
    conn: Executor, suggestion_id: UUID, shop_id: int, conversation_id: UUID, agent_id: str, body: str
) -> None:
    await conn.execute(
        "INSERT INTO assistant_suggestions (id, shop_id, conversation_id, agent_id, body)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        suggestion_id,
        shop_id,
        conversation_id,
        agent_id,
        body,
    )


async def suggestion(conn: Executor, suggestion_id: UUID) -> Suggestion | None:
    row = await conn.fetchrow(
        "SELECT id, shop_id, conversation_id, agent_id, body, sent_ts FROM assistant_suggestions WHERE id = $1",
        suggestion_id,
    )
    return None if row is None else Suggestion(**dict(row))


async def claim_suggestion(conn: Executor, suggestion_id: UUID, agent_id: str) -> bool:
    """The agent's Send, once: False when it was sent before (a double click) or is someone else's."""
    row = await conn.fetchval(
        "UPDATE assistant_suggestions SET sent_ts = 'sending' WHERE id = $1 AND agent_id = $2 AND sent_ts IS NULL"
        " RETURNING id",
        suggestion_id,
        agent_id,
    )
    return row is not None


async def suggestion_sent(conn: Executor, suggestion_id: UUID, ts: str | None) -> None:
    """The Slack post that carried it (or NULL: posting failed, the agent may press Send again)."""
    await conn.execute("UPDATE assistant_suggestions SET sent_ts = $2 WHERE id = $1", suggestion_id, ts)


async def conversation_ref(conn: Executor, shop_id: int, conversation_id: UUID) -> ConversationRef | None:
    """The conversation as the rest of Zora names it, when it is this shop's."""
    row = await conn.fetchrow(
        "SELECT c.id AS conversation_id, c.shop_id, s.domain, c.shopper_id FROM conversations c"
        " JOIN shops s ON s.id = c.shop_id WHERE c.id = $1 AND c.shop_id = $2",
        conversation_id,
        shop_id,
    )
    if row is None:
        return None
    return ConversationRef(
        shop=row["domain"], shop_id=row["shop_id"], conversation_id=row["conversation_id"], shopper_id=row["shopper_id"]
    )


async def give_up(conn: Executor, action_id: UUID, outcome: str) -> None:
    """An approved action whose execution never finished (Shopify unreachable for every try): failed."""
    await conn.execute(
        "UPDATE assistant_actions SET status = 'failed', outcome = $2 WHERE id = $1"
        " AND status IN ('approved', 'executing')",
        action_id,
        outcome,
    )


async def settings_and_locale(conn: Executor, shop_id: int, conversation_id: UUID) -> tuple[Any, str | None]:
    """The shop's stored settings and the conversation's language (the widget's, None when unknown), for
    the words the shopper is told an outcome in."""
    row = await conn.fetchrow(
        "SELECT s.settings, c.locale FROM conversations c JOIN shops s ON s.id = c.shop_id"
        " WHERE c.id = $1 AND c.shop_id = $2",
        conversation_id,
        shop_id,
    )
    return (row["settings"], row["locale"]) if row is not None else (None, None)
