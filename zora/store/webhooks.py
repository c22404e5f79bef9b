"""The Shopify webhook inbox (shopify_webhooks): a delivery is stored before it is answered, then
applied once by its workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zora.db import Executor


async def record(
    conn: Executor,
    *,
    webhook_id: str,
    event_id: str | None,
    topic: str,
    shop: str,
    api_version: str | None,
    triggered_at: datetime | None,
    payload: Any,
    status: str,
) -> bool:
    """Store a delivery; False when it was stored before (the same webhook id, or event and topic)."""
    row = await conn.fetchrow(
        "INSERT INTO shopify_webhooks (id, event_id, topic, shop_domain, api_version, triggered_at, payload,"
        " status, processed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
        " CASE WHEN $8 = 'received' THEN NULL ELSE now() END)"
        " ON CONFLICT DO NOTHING RETURNING id",
        webhook_id,
        event_id,
        topic,
        shop,
        api_version,
        triggered_at,
        payload,
        status,
    )
    return row is not None


@dataclass(frozen=True)
class Stored:
    id: str
    status: str


async def stored_before(conn: Executor, shop: str, webhook_id: str, event_id: str | None, topic: str) -> Stored | None:
    """The shop's delivery this one repeats (by webhook id, or event and topic)."""
    row = await conn.fetchrow(
        "SELECT id, status FROM shopify_webhooks WHERE shop_domain = $4"
        " AND (id = $1 OR (event_id = $2 AND topic = $3)) LIMIT 1",
        webhook_id,
        event_id,
        topic,
        shop,
    )
    return None if row is None else Stored(id=row["id"], status=row["status"])


@dataclass(frozen=True)
class Waiting:
    id: str
    shop_domain: str
    topic: str


async def not_started(conn: Executor, grace_seconds: float, limit: int) -> list[Waiting]:
    """Deliveries, in every shop (the sweep), stored this long ago and not picked up by a workflow."""
    rows = await conn.fetch(
        "SELECT id, shop_domain, topic FROM shopify_webhooks WHERE status = 'received'"
        " AND received_at < now() - make_interval(secs => $1) ORDER BY received_at LIMIT $2",
        grace_seconds,
        limit,
    )
    return [Waiting(id=r["id"], shop_domain=r["shop_domain"], topic=r["topic"]) for r in rows]


@dataclass(frozen=True)
class Delivery:
    topic: str
    shop_domain: str
    payload: dict[str, Any] | None
    status: str
    detail: str | None


async def lock(conn: Executor, webhook_id: str) -> Delivery | None:
    """The delivery, locked for this transaction (its workflow applies it once)."""
    row = await conn.fetchrow(
        "SELECT topic, shop_domain, payload, status, detail FROM shopify_webhooks WHERE id = $1 FOR UPDATE",
        webhook_id,
    )
    if row is None:
        return None
    return Delivery(
        topic=row["topic"],
        shop_domain=row["shop_domain"],
        payload=row["payload"],
        status=row["status"],
        detail=row["detail"],
    )


async def settle(conn: Executor, webhook_id: str, status: str, detail: str | None) -> None:
    """Record how the delivery ended; the raw body (personal data) goes, unless it failed."""
    await conn.execute(
        "UPDATE shopify_webhooks SET status = $2, detail = $3, processed_at = now(),"
        " payload = CASE WHEN $2 = 'failed' THEN payload ELSE NULL END WHERE id = $1",
        webhook_id,
        status,
        detail,
    )
