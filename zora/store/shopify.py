"""Shopify records in PostgreSQL: guarded upserts, tombstones, and what the thread shows of them (the
compliance export and erasure are in compliance.py).

Deliveries arrive out of order and more than once, and reconciliation pages the same records again:
every write keeps the row with the newest Shopify `updated_at`, and a deleted record stays deleted.
Every statement is scoped by `shop_id`.
"""

from __future__ import annotations

from typing import Any

from zora.db import Conn
from zora.shopify.records import CustomerRecord, OrderRecord, ProductRecord

# A row is replaced only by data at least as new as what it holds, and never once deleted.
_GUARD = "{t}.deleted_at IS NULL AND ({t}.shopify_updated_at IS NULL OR EXCLUDED.shopify_updated_at >= {t}.shopify_updated_at)"


async def upsert_customer(conn: Conn, shop_id: int, rec: CustomerRecord) -> bool:
    """True when the row was written (new or newer); False when what we hold is newer or deleted."""
    row = await conn.fetchrow(
        "INSERT INTO customers (shop_id, shopify_customer_id, email, name, first_name, last_name, phone, tags,"
        " note, state, currency, city, country, shopify_created_at, shopify_updated_at, synced_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now())"
        " ON CONFLICT (shop_id, shopify_customer_id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name,"
        " first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name, phone = EXCLUDED.phone,"
        " tags = EXCLUDED.tags, note = EXCLUDED.note, state = EXCLUDED.state, currency = EXCLUDED.currency,"
        " city = EXCLUDED.city, country = EXCLUDED.country,"
        " shopify_created_at = coalesce(EXCLUDED.shopify_created_at, customers.shopify_created_at),"
        " shopify_updated_at = EXCLUDED.shopify_updated_at, synced_at = now()"
        f" WHERE {_GUARD.format(t='customers')} RETURNING id",
        shop_id,
        rec.shopify_id,
        rec.email,
        rec.name,
        rec.first_name,
        rec.last_name,
        rec.phone,
        rec.tags,
        rec.note,
        rec.state,
        rec.currency,
        rec.city,
        rec.country,
        rec.created_at,
        rec.updated_at,
    )
    return row is not None


async def ensure_customer(conn: Conn, shop_id: int, rec: CustomerRecord) -> None:
    """The customer embedded in an order: a partial view, so it only creates a missing row."""
    await conn.execute(
        "INSERT INTO customers (shop_id, shopify_customer_id, email, name, first_name, last_name, phone)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (shop_id, shopify_customer_id) DO NOTHING",
        shop_id,
        rec.shopify_id,
        rec.email,
        rec.name,
        rec.first_name,
        rec.last_name,
        rec.phone,
    )


async def upsert_order(conn: Conn, shop_id: int, rec: OrderRecord) -> bool:
    if rec.customer is not None:
        await ensure_customer(conn, shop_id, rec.customer)
    row = await conn.fetchrow(
        "INSERT INTO shopify_orders (shop_id, shopify_order_id, shopify_customer_id, name, order_number, email,"
        " phone, financial_status, fulfillment_status, currency, total_price, current_total_price, cancelled_at,"
        " cancel_reason, closed_at, processed_at, test, tags, line_items, fulfillments, shipping_address,"
        " shopify_created_at, shopify_updated_at, synced_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,"
        " $22, $23, now())"
        " ON CONFLICT (shop_id, shopify_order_id) DO UPDATE SET"
        " shopify_customer_id = EXCLUDED.shopify_customer_id, name = EXCLUDED.name,"
        " order_number = EXCLUDED.order_number, email = EXCLUDED.email, phone = EXCLUDED.phone,"
        " financial_status = EXCLUDED.financial_status, fulfillment_status = EXCLUDED.fulfillment_status,"
        " currency = EXCLUDED.currency, total_price = EXCLUDED.total_price,"
        " current_total_price = EXCLUDED.current_total_price, cancelled_at = EXCLUDED.cancelled_at,"
        " cancel_reason = EXCLUDED.cancel_reason, closed_at = EXCLUDED.closed_at,"
        " processed_at = EXCLUDED.processed_at, test = EXCLUDED.test, tags = EXCLUDED.tags,"
        " line_items = EXCLUDED.line_items, fulfillments = EXCLUDED.fulfillments,"
        " shipping_address = coalesce(EXCLUDED.shipping_address, shopify_orders.shipping_address),"
        " shopify_created_at = coalesce(EXCLUDED.shopify_created_at, shopify_orders.shopify_created_at),"
        " shopify_updated_at = EXCLUDED.shopify_updated_at, synced_at = now()"
        f" WHERE {_GUARD.format(t='shopify_orders')} RETURNING shopify_order_id",
        shop_id,
        rec.shopify_id,
        rec.customer_id,
        rec.name,
        rec.order_number,
        rec.email,
        rec.phone,
        rec.financial_status,
        rec.fulfillment_status,
        rec.currency,
        rec.total_price,
        rec.current_total_price,
        rec.cancelled_at,
        rec.cancel_reason,
        rec.closed_at,
        rec.processed_at,
        rec.test,
        rec.tags,
        rec.line_items,
        rec.fulfillments,
        rec.shipping_address,
        rec.created_at,
        rec.updated_at,
    )
    return row is not None


async def upsert_product(conn: Conn, shop_id: int, rec: ProductRecord) -> bool:
    row = await conn.fetchrow(
        "INSERT INTO shopify_products (shop_id, shopify_product_id, title, handle, vendor, product_type, status,"
        " tags, variants, shopify_created_at, shopify_updated_at, synced_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())"
        " ON CONFLICT (shop_id, shopify_product_id) DO UPDATE SET title = EXCLUDED.title,"
        " handle = EXCLUDED.handle, vendor = EXCLUDED.vendor, product_type = EXCLUDED.product_type,"
        " status = EXCLUDED.status, tags = EXCLUDED.tags, variants = EXCLUDED.variants,"
        " shopify_created_at = coalesce(EXCLUDED.shopify_created_at, shopify_products.shopify_created_at),"
        " shopify_updated_at = EXCLUDED.shopify_updated_at, synced_at = now()"
        f" WHERE {_GUARD.format(t='shopify_products')} RETURNING shopify_product_id",
        shop_id,
        rec.shopify_id,
        rec.title,
        rec.handle,
        rec.vendor,
        rec.product_type,
        rec.status,
        rec.tags,
        rec.variants,
        rec.created_at,
        rec.updated_at,
    )
    return row is not None


# Deletes leave a tombstone without personal data: a late create/update for the id is then ignored.


async def delete_order(conn: Conn, shop_id: int, order_id: int) -> None:
    await _tombstone(
        conn,
        "shopify_orders",
        "shopify_order_id",
        shop_id,
        order_id,
        blank="name",
        scrub="email = NULL, phone = NULL, shipping_address = NULL, line_items = '[]', fulfillments = '[]'",
    )


async def delete_product(conn: Conn, shop_id: int, product_id: int) -> None:
    await _tombstone(conn, "shopify_products", "shopify_product_id", shop_id, product_id, blank="title")


async def delete_customer(conn: Conn, shop_id: int, customer_id: int) -> None:
    # The row stays (shoppers may point at it) but holds nothing personal any more.
    await _tombstone(conn, "customers", "shopify_customer_id", shop_id, customer_id, scrub=CUSTOMER_PII_NULL)


async def _tombstone(
    conn: Conn, table: str, key: str, shop_id: int, record_id: int, *, blank: str | None = None, scrub: str = ""
) -> None:
    """The record's row marked deleted (inserted so when it never came), its `scrub` columns emptied.
    `table`, `key`, `blank` and `scrub` are this module's constants, never input."""
    columns, values = f"shop_id, {key}, deleted_at", "$1, $2, now()"
    if blank is not None:
        columns, values = f"{columns}, {blank}", f"{values}, ''"
    await conn.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({values}) ON CONFLICT (shop_id, {key}) DO UPDATE SET"
        f" deleted_at = coalesce({table}.deleted_at, now()){', ' + scrub if scrub else ''}",
        shop_id,
        record_id,
    )


CUSTOMER_PII_NULL = (
    "email = NULL, name = NULL, first_name = NULL, last_name = NULL, phone = NULL, tags = '{}', note = NULL,"
    " city = NULL, country = NULL"
)


async def open_thread_of_customer(conn: Conn, shop_id: int, shopify_customer_id: int) -> tuple[str, str] | None:
    """(channel, thread ts) of the customer's most recently active open conversation in the shop."""
    row = await conn.fetchrow(
        "SELECT t.channel_id, t.thread_ts FROM customers cu"
        " JOIN shoppers s ON s.customer_id = cu.id AND s.shop_id = cu.shop_id"
        " JOIN conversations c ON c.shopper_id = s.id AND c.shop_id = cu.shop_id"
        " JOIN slack_threads t ON t.conversation_id = c.id AND t.shop_id = cu.shop_id"
        " WHERE cu.shop_id = $1 AND cu.shopify_customer_id = $2 AND c.status IN ('open', 'assigned')"
        " ORDER BY c.updated_at DESC LIMIT 1",
        shop_id,
        shopify_customer_id,
    )
    return None if row is None else (row["channel_id"], row["thread_ts"])


async def order_for_notice(conn: Conn, shop_id: int, shopify_order_id: int) -> dict[str, Any] | None:
    """What an order event's line in the thread says (name, items, fulfillments, total, cancel reason)."""
    row = await conn.fetchrow(
        "SELECT name, line_items, fulfillments, total_price, currency, cancel_reason"
        " FROM shopify_orders WHERE shop_id = $1 AND shopify_order_id = $2",
        shop_id,
        shopify_order_id,
    )
    if row is None:
        return None
    return {
        "name": row["name"],
        "line_items": row["line_items"],
        "fulfillments": row["fulfillments"],
        "total_price": row["total_price"],
        "currency": row["currency"],
        "cancel_reason": row["cancel_reason"],
    }
