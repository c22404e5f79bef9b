"""Shopify's compliance webhooks in PostgreSQL: one customer's data export, the erasure of a customer or a
whole shop (what Zora posted in Slack for them queued to delete there), and the kept exports.

Every statement is scoped by the shop (`shop_id`, or the shop's domain for its own erasure).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from zora.db import Conn, Row
from zora.store import assistant as sassistant
from zora.store import identity_codes
from zora.store.shopify import CUSTOMER_PII_NULL

REDACTED = "[redacted]"


@dataclass(frozen=True)
class Person:
    """Whom a compliance request names: Shopify's customer, and the orders it lists."""

    customer_id: int | None
    email: str | None
    phone: str | None
    order_ids: list[int]


async def _customer_scope(conn: Conn, shop_id: int, person: Person) -> tuple[list[Row], list[Row]]:
    """The customer rows and the shoppers that are this person, in this shop only. (Not by phone:
    numbers are too often shared, households and shops, to identify a shopper on their own.)"""
    customer_id, email = person.customer_id, person.email
    customers = await conn.fetch(
        "SELECT * FROM customers WHERE shop_id = $1 AND (shopify_customer_id = $2"
        " OR ($3::text IS NOT NULL AND lower(email) = lower($3)))",
        shop_id,
        customer_id,
        email,
    )
    shoppers = await conn.fetch(
        "SELECT * FROM shoppers WHERE shop_id = $1 AND (customer_id = ANY($2::bigint[])"
        " OR ($3::text IS NOT NULL AND lower(email) = lower($3)))",
        shop_id,
        [c["id"] for c in customers],
        email,
    )
    return customers, shoppers


async def _orders_of(conn: Conn, shop_id: int, customer_ids: list[int], order_ids: list[int]) -> list[Row]:
    rows: list[Row] = await conn.fetch(
        "SELECT * FROM shopify_orders WHERE shop_id = $1 AND (shopify_customer_id = ANY($2::bigint[])"
        " OR shopify_order_id = ANY($3::bigint[])) ORDER BY processed_at NULLS LAST, shopify_order_id",
        shop_id,
        customer_ids,
        order_ids,
    )
    return rows


def _plain(row: Row, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dict(row).items():
        if key in drop:
            continue
        out[key] = json.loads(json.dumps(value, default=str)) if not isinstance(value, (str, int, bool)) else value
    return out


def _by_conversation(
    rows: list[Row], extra: Callable[[Row], dict[str, Any]] | None = None
) -> dict[Any, list[dict[str, Any]]]:
    grouped: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["conversation_id"], []).append(
            {**_plain(row, drop=("conversation_id",)), **(extra(row) if extra else {})}
        )
    return grouped


async def export_customer(conn: Conn, shop_id: int, person: Person, *, generated_at: datetime) -> dict[str, Any]:
    """Everything Zora holds on one customer of one shop: profile, orders, chats with their transcripts."""
    customers, shoppers = await _customer_scope(conn, shop_id, person)
    shopify_ids = [c["shopify_customer_id"] for c in customers if c["shopify_customer_id"] is not None]
    orders = await _orders_of(conn, shop_id, shopify_ids, person.order_ids)
    conversations = await conn.fetch(
        "SELECT id, status, assignee, created_at, updated_at, closed_at, shopper_id FROM conversations"
        " WHERE shop_id = $1 AND shopper_id = ANY($2::uuid[]) ORDER BY created_at",
        shop_id,
        [s["id"] for s in shoppers],
    )
    in_conversations = (shop_id, [c["id"] for c in conversations])
    messages = await conn.fetch(
        "SELECT conversation_id, seq, direction, author_name, body, created_at FROM messages"
        " WHERE shop_id = $1 AND conversation_id = ANY($2::uuid[]) ORDER BY conversation_id, seq",
        *in_conversations,
    )
    # Files are listed, not inlined: their bytes stay downloadable at download_path (on Zora's URL).
    files = await conn.fetch(
        "SELECT id, conversation_id, message_seq, origin, name, content_type, size, state, created_at FROM files"
        " WHERE shop_id = $1 AND conversation_id = ANY($2::uuid[]) ORDER BY created_at, id",
        *in_conversations,
    )
    by_conversation = _by_conversation(messages)
    files_by_conversation = _by_conversation(
        files, lambda f: {"download_path": f"/widget/files/{f['id']}" if f["state"] == "ready" else None}
    )
    return {
        "generated_at": generated_at.isoformat(),
        "customers": [_plain(c, drop=("shop_id",)) for c in customers],
        "orders": [_plain(o, drop=("shop_id",)) for o in orders],
        "shoppers": [_plain(s, drop=("shop_id",)) for s in shoppers],
        "conversations": [
            {**_plain(c), "messages": by_conversation.get(c["id"], []), "files": files_by_conversation.get(c["id"], [])}
            for c in conversations
        ],
    }


# (channel_id, ts, file_id) of a shopper's file in Slack, from `files f` joined with `slack_threads t`:
# an upload (a Slack file id), or the note posted instead ("message:<ts>", bot/slack_files.py).
_FILE_ERASURE = (
    "CASE WHEN f.slack_file_id LIKE 'message:%' THEN t.channel_id END,"
    " CASE WHEN f.slack_file_id LIKE 'message:%' THEN substr(f.slack_file_id, 9) END,"
    " CASE WHEN f.slack_file_id LIKE 'message:%' THEN NULL ELSE f.slack_file_id END"
)


async def redact_customer(
    conn: Conn,
    shop_id: int,
    person: Person,
    *,
    erasure_batch: UUID,
    conversations_out: list[Any],
    shoppers_out: list[Any] | None = None,
) -> dict[str, int]:
    """Erase one customer's personal data in one shop: profile, orders, shoppers, chat transcripts.
    The shoppers' tokens are revoked too (their ids go to `shoppers_out`, to close their sockets)."""
    customers, shoppers = await _customer_scope(conn, shop_id, person)
    shopify_ids = [c["shopify_customer_id"] for c in customers if c["shopify_customer_id"] is not None]
    orders = await conn.execute(
        "DELETE FROM shopify_orders WHERE shop_id = $1 AND (shopify_customer_id = ANY($2::bigint[])"
        " OR shopify_order_id = ANY($3::bigint[]))",
        shop_id,
        shopify_ids,
        person.order_ids,
    )
    shopper_ids = [s["id"] for s in shoppers]
    conversation_ids = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM conversations WHERE shop_id = $1 AND shopper_id = ANY($2::uuid[])", shop_id, shopper_ids
        )
    ]
    await _queue_slack_erasures(conn, shop_id, conversation_ids, erasure_batch)
    conversations_out.extend(conversation_ids)
    if shoppers_out is not None:
        shoppers_out.extend(shopper_ids)
    messages, files = await _erase_transcripts(conn, shop_id, conversation_ids)
    await sassistant.erase(conn, shop_id, conversation_ids)
    await _erase_people(conn, shop_id, shopper_ids, [c["id"] for c in customers])
    # Emails proven to the assistant (in these conversations, or anyone's with this address).
    await identity_codes.erase(conn, shop_id, person.email, conversation_ids)
    return {
        "customers": len(customers),
        "orders": int(orders.split()[-1]),
        "shoppers": len(shopper_ids),
        "conversations": len(conversation_ids),
        "messages": messages,
        "files": files,
    }


async def _queue_slack_erasures(conn: Conn, shop_id: int, conversation_ids: list[Any], erasure_batch: UUID) -> None:
    """What Zora itself posted to Slack for these conversations (words, files), to delete there once this commits."""
    await sassistant.queue_slack_erasures(conn, shop_id, conversation_ids, erasure_batch)
    await conn.execute(
        "INSERT INTO slack_erasures (batch, channel_id, ts) SELECT $3::uuid, slack_channel, slack_ts FROM messages"
        " WHERE shop_id = $1 AND conversation_id = ANY($2::uuid[]) AND direction = 'shopper' AND slack_ts IS NOT NULL",
        shop_id,
        conversation_ids,
        erasure_batch,
    )
    await conn.execute(
        # A file uploaded into Slack is deleted as a file; one posted as a note (no files:write) as a message.
        f"INSERT INTO slack_erasures (batch, channel_id, ts, file_id) SELECT $3::uuid, {_FILE_ERASURE} FROM files f"
        " JOIN slack_threads t ON t.conversation_id = f.conversation_id"
        " WHERE f.shop_id = $1 AND f.conversation_id = ANY($2::uuid[]) AND f.origin = 'shopper'"
        " AND f.slack_file_id IS NOT NULL",
        shop_id,
        conversation_ids,
        erasure_batch,
    )


async def _erase_transcripts(conn: Conn, shop_id: int, conversation_ids: list[Any]) -> tuple[int, int]:
    """(messages, files) erased in these conversations."""
    # The shopper's words and anything an agent wrote back about them: the whole transcript goes.
    messages = await conn.execute(
        "UPDATE messages SET body = $3, author_name = CASE WHEN direction = 'shopper' THEN $3 ELSE author_name END,"
        " client_id = CASE WHEN client_id IS NULL THEN NULL ELSE 'redacted-' || seq END"
        " WHERE shop_id = $1 AND conversation_id = ANY($2::uuid[])",
        shop_id,
        conversation_ids,
        REDACTED,
    )
    # Files both ways go too (the shopper's uploads in Slack are in the erasure batch above).
    files = await conn.execute(
        "DELETE FROM files WHERE shop_id = $1 AND conversation_id = ANY($2::uuid[])", shop_id, conversation_ids
    )
    return int(messages.split()[-1]), int(files.split()[-1])


async def _erase_people(conn: Conn, shop_id: int, shopper_ids: list[Any], customer_row_ids: list[Any]) -> None:
    """The shoppers' and customers' own data; the shoppers' tokens stop opening anything."""
    await conn.execute(
        "UPDATE shoppers SET name = NULL, email = NULL, email_confirmed_at = NULL, customer_id = NULL,"
        " token_version = token_version + 1 WHERE shop_id = $1 AND id = ANY($2::uuid[])",
        shop_id,
        shopper_ids,
    )
    await conn.execute(
        f"UPDATE customers SET redacted_at = now(), deleted_at = coalesce(deleted_at, now()), {CUSTOMER_PII_NULL}"
        " WHERE shop_id = $1 AND id = ANY($2::bigint[])",
        shop_id,
        customer_row_ids,
    )


async def redact_shop(conn: Conn, domain: str, erasure_batch: UUID) -> tuple[bool, int]:
    """Delete the shop and, by cascade, every row that belongs to it; then its webhook inbox.
    What Zora posted into Slack for the shop's shoppers (their messages and files, the conversation
    cards) goes into `erasure_batch`, to delete there once this commits. Returns (deleted, erasures)."""
    queued = await conn.fetchval(
        "WITH queued AS (INSERT INTO slack_erasures (batch, channel_id, ts, file_id)"
        " SELECT $2::uuid, m.slack_channel, m.slack_ts, NULL FROM messages m JOIN shops s ON s.id = m.shop_id"
        "  WHERE s.domain = $1 AND m.direction = 'shopper' AND m.slack_ts IS NOT NULL"
        " UNION ALL SELECT $2::uuid, t.channel_id, t.thread_ts, NULL FROM slack_threads t JOIN shops s ON s.id = t.shop_id"
        "  WHERE s.domain = $1"
        f" UNION ALL SELECT $2::uuid, {_FILE_ERASURE} FROM files f JOIN shops s ON s.id = f.shop_id"
        " JOIN slack_threads t ON t.conversation_id = f.conversation_id"
        "  WHERE s.domain = $1 AND f.origin = 'shopper' AND f.slack_file_id IS NOT NULL"
        " RETURNING 1) SELECT count(*) FROM queued",
        domain,
        erasure_batch,
    )
    deleted = await conn.fetchval("DELETE FROM shops WHERE domain = $1 RETURNING id", domain)
    await conn.execute("DELETE FROM shopify_webhooks WHERE shop_domain = $1 AND topic <> 'shop/redact'", domain)
    return deleted is not None, int(queued)


async def store_data_request(
    conn: Conn, shop_id: int, data_request_id: int | None, shopify_customer_id: int | None, export: dict[str, Any]
) -> int:
    """Keep a customer's data export (customers/data_request); its id for `zora shopify export`."""
    export_id: int = await conn.fetchval(
        "INSERT INTO shopify_data_requests (shop_id, data_request_id, shopify_customer_id, export)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (shop_id, data_request_id) DO UPDATE SET export = EXCLUDED.export,"
        " created_at = now() RETURNING id",
        shop_id,
        data_request_id,
        shopify_customer_id,
        export,
    )
    return export_id


@dataclass(frozen=True)
class Erasure:
    """A message or file Zora posted in Slack that a compliance redaction deletes there."""

    id: int
    channel_id: str | None
    ts: str | None
    file_id: str | None


async def erasures(conn: Conn, batch: UUID, limit: int) -> list[Erasure]:
    rows = await conn.fetch(
        "SELECT id, channel_id, ts, file_id FROM slack_erasures WHERE batch = $1 ORDER BY id LIMIT $2", batch, limit
    )
    return [Erasure(id=r["id"], channel_id=r["channel_id"], ts=r["ts"], file_id=r["file_id"]) for r in rows]


async def erased(conn: Conn, erasure_id: int) -> None:
    await conn.execute("DELETE FROM slack_erasures WHERE id = $1", erasure_id)


async def stored_export(conn: Conn, export_id: int) -> str | None:
    """A customer data export as JSON text (`zora shopify export`, the operator's command: the export's
    id, printed in the shop's Slack channel, names it in any shop)."""
    export: str | None = await conn.fetchval(
        "SELECT r.export::text FROM shopify_data_requests r JOIN shops s ON s.id = r.shop_id WHERE r.id = $1",
        export_id,
    )
    return export
