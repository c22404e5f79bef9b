"""What the assistant's lookup tools read (issue 12 §3): orders of the conversation's own shopper and
the shop's catalogue.

Whose orders may be read is decided here, in the statement itself: the conversation (by shop and id)
names its shopper, the shopper names the customer the app proxy verified, and the conversation's
identity codes name the emails the shopper proved. An order is returned only when it is the shop's and
belongs to one of those; nothing a model says can widen that.
"""

from __future__ import annotations

from uuid import UUID

from zora.db import Executor, Row

# The orders a conversation's shopper may see: the verified customer's (by customer, or placed with the
# customer's email), or those placed with an email proven in this conversation. $1 shop, $2 conversation.
_MINE = (
    " FROM conversations c"
    " JOIN shoppers sh ON sh.id = c.shopper_id AND sh.shop_id = c.shop_id"
    " LEFT JOIN customers cu ON cu.id = sh.customer_id AND cu.shop_id = c.shop_id AND cu.deleted_at IS NULL"
    " JOIN shopify_orders o ON o.shop_id = c.shop_id AND o.deleted_at IS NULL"
    " WHERE c.shop_id = $1 AND c.id = $2"
    " AND ((cu.shopify_customer_id IS NOT NULL AND o.shopify_customer_id = cu.shopify_customer_id)"
    # A guest checkout with the verified customer's own account email is theirs too.
    "  OR (cu.email IS NOT NULL AND lower(o.email) = lower(cu.email))"
    "  OR lower(o.email) IN (SELECT i.email FROM identity_codes i WHERE i.shop_id = c.shop_id"
    "   AND i.conversation_id = c.id AND i.proven_at IS NOT NULL))"
)
_ORDER_COLUMNS = (
    "o.name, o.order_number, o.financial_status, o.fulfillment_status, o.currency, o.current_total_price,"
    " o.cancelled_at, o.processed_at, o.line_items, o.fulfillments"
)


async def conversation_in_shop(conn: Executor, shop_id: int, conversation_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM conversations WHERE shop_id = $1 AND id = $2)", shop_id, conversation_id
        )
    )


async def my_order(conn: Executor, shop_id: int, conversation_id: UUID, number: int) -> Row | None:
    """The order with this number, when it is one the conversation's shopper may see."""
    return await conn.fetchrow(
        f"SELECT {_ORDER_COLUMNS} {_MINE} AND o.order_number = $3 ORDER BY o.shopify_order_id DESC LIMIT 1",
        shop_id,
        conversation_id,
        number,
    )


async def my_recent_orders(conn: Executor, shop_id: int, conversation_id: UUID, limit: int) -> list[Row]:
    return await conn.fetch(
        f"SELECT {_ORDER_COLUMNS} {_MINE} ORDER BY o.processed_at DESC NULLS LAST, o.shopify_order_id DESC LIMIT $3",
        shop_id,
        conversation_id,
        limit,
    )


async def has_orders_from(conn: Executor, shop_id: int, email: str, number: int | None) -> bool:
    """Whether the shop has an order placed with this email (the order with `number`, when given)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM shopify_orders WHERE shop_id = $1 AND deleted_at IS NULL"
            " AND lower(email) = lower($2) AND ($3::bigint IS NULL OR order_number = $3))",
            shop_id,
            email,
            number,
        )
    )


async def search_products(conn: Executor, shop_id: int, patterns: list[str], limit: int) -> list[Row]:
    """The shop's active products matching any of the LIKE `patterns` (already escaped, lower case) in
    title, type, vendor or tags, those matching the most first."""
    return await conn.fetch(
        "SELECT title, handle, status, variants FROM ("
        " SELECT p.*, (SELECT count(*) FROM unnest($2::text[]) q WHERE lower(p.title || ' '"
        "  || coalesce(p.product_type, '') || ' ' || coalesce(p.vendor, '') || ' '"
        "  || array_to_string(p.tags, ' ')) LIKE q ESCAPE '\\') AS hits"
        " FROM shopify_products p WHERE p.shop_id = $1 AND p.deleted_at IS NULL"
        " AND coalesce(p.status, 'active') = 'active') m"
        " WHERE hits > 0 ORDER BY hits DESC, title LIMIT $3",
        shop_id,
        patterns,
        limit,
    )
