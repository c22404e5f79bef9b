"""Shopify customers as agents look them up (search, profile, orders) and write back (tags, note).

Every statement takes the shop's id and reads or writes that shop's rows only. `customer_id` is Zora's
`customers.id`, not Shopify's id. Upserts from Shopify's data are in zora.store.shopify.
"""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from zora.db import Executor, Row
from zora.shopify.contact import ContactChange
from zora.shopify.models import CustomerSummary

_VALID_ORDER = (
    "deleted_at IS NULL AND cancelled_at IS NULL AND NOT test"
    " AND coalesce(financial_status, '') NOT IN ('voided', 'refunded')"
)
_SUMMARY = "id, shopify_customer_id, name, email, phone, tags"


def summary(row: Row, matched: str | None = None) -> CustomerSummary:
    return CustomerSummary(
        id=row["id"],
        shopify_customer_id=row["shopify_customer_id"],
        name=row["name"],
        email=row["email"],
        phone=row["phone"],
        tags=list(row["tags"] or []),
        matched=matched,
    )


async def by_order(conn: Executor, shop_id: int, number: int, name: str, limit: int) -> list[Row]:
    """Customers of the order with this number or name (#1001)."""
    return await conn.fetch(
        f"SELECT DISTINCT {', '.join('c.' + c for c in _SUMMARY.split(', '))} FROM shopify_orders o"
        " JOIN customers c ON c.shop_id = o.shop_id AND c.shopify_customer_id = o.shopify_customer_id"
        " WHERE o.shop_id = $1 AND o.deleted_at IS NULL AND c.deleted_at IS NULL"
        " AND (o.order_number = $2 OR lower(o.name) = lower($3)) LIMIT $4",
        shop_id,
        number,
        name,
        limit,
    )


async def by_email(conn: Executor, shop_id: int, pattern: str, exact: str, limit: int) -> list[Row]:
    """Emails LIKE `pattern` (lower-cased), the exact one first."""
    return await conn.fetch(
        f"SELECT {_SUMMARY} FROM customers WHERE shop_id = $1 AND deleted_at IS NULL"
        " AND lower(coalesce(email, '')) LIKE $2 ORDER BY lower(email) = lower($3) DESC, email LIMIT $4",
        shop_id,
        pattern,
        exact,
        limit,
    )


async def by_phone(conn: Executor, shop_id: int, pattern: str, limit: int) -> list[Row]:
    """Phones whose digits are LIKE `pattern`."""
    return await conn.fetch(
        f"SELECT {_SUMMARY} FROM customers WHERE shop_id = $1 AND deleted_at IS NULL"
        " AND regexp_replace(coalesce(phone, ''), '\\D', '', 'g') LIKE $2 LIMIT $3",
        shop_id,
        pattern,
        limit,
    )


async def by_tag(conn: Executor, shop_id: int, tag: str, limit: int) -> list[Row]:
    return await conn.fetch(
        f"SELECT {_SUMMARY} FROM customers WHERE shop_id = $1 AND deleted_at IS NULL"
        " AND EXISTS (SELECT 1 FROM unnest(tags) t WHERE lower(t) = lower($2)) ORDER BY name LIMIT $3",
        shop_id,
        tag,
        limit,
    )


async def by_name(conn: Executor, shop_id: int, pattern: str, text: str, similarity: float, limit: int) -> list[Row]:
    """Names (or emails) LIKE `pattern`, or names similar to `text` (trigrams), most similar first."""
    return await conn.fetch(
        f"SELECT {_SUMMARY} FROM customers WHERE shop_id = $1 AND deleted_at IS NULL"
        " AND (lower(coalesce(name, '')) LIKE $2 OR similarity(lower(coalesce(name, '')), lower($3)) > $4"
        " OR lower(coalesce(email, '')) LIKE $2)"
        " ORDER BY similarity(lower(coalesce(name, '')), lower($3)) DESC, name LIMIT $5",
        shop_id,
        pattern,
        text,
        similarity,
        limit,
    )


async def recent_orders(conn: Executor, shop_id: int, customer_id: int, limit: int) -> list[Row]:
    """The customer's orders (shopify_orders rows), latest first."""
    return await conn.fetch(
        "SELECT o.* FROM shopify_orders o JOIN customers c ON c.shop_id = o.shop_id"
        " AND c.shopify_customer_id = o.shopify_customer_id"
        " WHERE c.shop_id = $1 AND c.id = $2 AND o.deleted_at IS NULL"
        " ORDER BY o.processed_at DESC NULLS LAST, o.shopify_order_id DESC LIMIT $3",
        shop_id,
        customer_id,
        limit,
    )


async def customer(conn: Executor, shop_id: int, customer_id: int) -> Row | None:
    """The customers row (not deleted), with its shop's `domain`."""
    return await conn.fetchrow(
        "SELECT c.*, s.domain FROM customers c JOIN shops s ON s.id = c.shop_id"
        " WHERE c.shop_id = $1 AND c.id = $2 AND c.deleted_at IS NULL",
        shop_id,
        customer_id,
    )


async def orders_of(conn: Executor, shop_id: int, shopify_customer_id: int | None) -> list[Row]:
    """Every order of the customer (shopify_orders rows), latest first."""
    return await conn.fetch(
        "SELECT * FROM shopify_orders WHERE shop_id = $1 AND shopify_customer_id = $2 AND deleted_at IS NULL"
        " ORDER BY processed_at DESC NULLS LAST, shopify_order_id DESC",
        shop_id,
        shopify_customer_id,
    )


async def spend_rank(conn: Executor, shop_id: int, spent: Decimal) -> tuple[int, int]:
    """(buyers who spent at most `spent`, all buyers) in the shop, valid orders only."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE spent <= $2) AS at_or_below, count(*) AS buyers FROM ("
        f" SELECT sum(current_total_price) AS spent FROM shopify_orders WHERE shop_id = $1 AND {_VALID_ORDER}"
        " AND shopify_customer_id IS NOT NULL GROUP BY shopify_customer_id"
        " HAVING sum(current_total_price) > 0) s",
        shop_id,
        spent,
    )
    assert row is not None  # an aggregate answers one row
    return int(row["at_or_below"]), int(row["buyers"])


async def median_order_gap_days(conn: Executor, shop_id: int) -> float | None:
    """The median, over repeat buyers, of their mean days between orders; None without repeat buyers."""
    gap = await conn.fetchval(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) FROM ("
        " SELECT extract(epoch FROM max(processed_at) - min(processed_at)) / 86400 / (count(*) - 1) AS gap"
        f" FROM shopify_orders WHERE shop_id = $1 AND {_VALID_ORDER} AND shopify_customer_id IS NOT NULL"
        " AND processed_at IS NOT NULL GROUP BY shopify_customer_id HAVING count(*) > 1) g",
        shop_id,
    )
    return float(gap) if gap is not None else None


async def of_conversation(conn: Executor, shop_id: int, conversation_id: UUID) -> int | None:
    """The customer the conversation's shopper is bound to; None while anonymous."""
    customer_id: int | None = await conn.fetchval(
        "SELECT s.customer_id FROM conversations c JOIN shoppers s ON s.id = c.shopper_id"
        " WHERE c.shop_id = $1 AND c.id = $2",
        shop_id,
        conversation_id,
    )
    return customer_id


async def set_note(conn: Executor, shop_id: int, customer_id: int, note: str) -> None:
    await conn.execute("UPDATE customers SET note = $3 WHERE shop_id = $1 AND id = $2", shop_id, customer_id, note)


async def change_tags(conn: Executor, shop_id: int, customer_id: int, tags: list[str], *, add: bool) -> list[str]:
    """Add (or remove) these tags; the customer's tags after."""
    updated: list[str] | None = await conn.fetchval(
        "UPDATE customers SET tags = CASE WHEN $4 THEN"
        " (SELECT array_agg(DISTINCT t ORDER BY t) FROM unnest(tags || $3::text[]) t)"
        " ELSE array(SELECT t FROM unnest(tags) t WHERE NOT t = ANY($3::text[])) END"
        " WHERE shop_id = $1 AND id = $2 RETURNING tags",
        shop_id,
        customer_id,
        tags,
        add,
    )
    return list(updated or [])


async def shopify_target(conn: Executor, shop_id: int, customer_id: int) -> tuple[str, int | None] | None:
    """(shop domain, Shopify customer id) of a customer not deleted."""
    row = await conn.fetchrow(
        "SELECT s.domain, c.shopify_customer_id FROM customers c JOIN shops s ON s.id = c.shop_id"
        " WHERE c.shop_id = $1 AND c.id = $2 AND c.deleted_at IS NULL",
        shop_id,
        customer_id,
    )
    return None if row is None else (row["domain"], row["shopify_customer_id"])


async def set_contact(conn: Executor, shop_id: int, customer_id: int, change: ContactChange) -> None:
    """What an agent corrected (None: unchanged); the display name follows the name parts."""
    address = change.address
    await conn.execute(
        "UPDATE customers SET first_name = coalesce($3, first_name), last_name = coalesce($4, last_name),"
        " email = coalesce($5, email), phone = coalesce($6, phone),"
        " city = coalesce($7, city), country = coalesce($8, country),"
        " name = CASE WHEN $3::text IS NULL AND $4::text IS NULL THEN name"
        "  ELSE nullif(trim(concat_ws(' ', coalesce($3, first_name), coalesce($4, last_name))), '') END"
        " WHERE shop_id = $1 AND id = $2",
        shop_id,
        customer_id,
        change.first_name,
        change.last_name,
        change.email,
        change.phone,
        address.city if address else None,
        address.country_code if address else None,
    )
