"""Shopify customers as agents see them in Slack: search results and recent orders (Block Kit)."""

from __future__ import annotations

from typing import Any

from zora.shopify.models import CustomerSummary, OrderSummary

SHOWN_RESULTS = 5
SHOWN_ORDERS = 3


async def shop_for_channel(pool: Any, team_id: str, channel: str) -> tuple[int, str] | None:
    """The shop whose conversations go to this channel; in a workspace serving one shop, that one."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow("SELECT id, domain FROM shops WHERE slack_channel_id = $1 LIMIT 2", channel)
        if row is None:
            rows = await conn.fetch(
                "SELECT DISTINCT s.id, s.domain FROM shops s JOIN slack_threads t ON t.shop_id = s.id"
                " WHERE t.team_id = $1 LIMIT 2",
                team_id,
            )
            row = rows[0] if len(rows) == 1 else None
    return None if row is None else (int(row["id"]), str(row["domain"]))


def _order_line(order: OrderSummary) -> str:
    state = "cancelled" if order.cancelled else (order.fulfillment_status or "unfulfilled")
    paid = order.financial_status or "unknown payment"
    when = f"{order.processed_at:%Y-%m-%d}" if order.processed_at else "not processed"
    line = f"{order.name} · {when} · {order.total} {order.currency or ''} · {paid} · {state}"
    for t in order.tracking:
        if t.url:
            line += f" · <{t.url}|{t.company or 'tracking'} {t.number or ''}>".rstrip()
        elif t.number:
            line += f" · {t.company or 'tracking'} {t.number}"
    return line


def render_results(
    query: str, shop: str, results: list[CustomerSummary], orders: list[OrderSummary]
) -> list[dict[str, Any]]:
    if not results:
        return [{"type": "section", "text": {"type": "mrkdwn", "text": f"No customer of {shop} matches `{query}`."}}]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Customers of {shop} matching `{query}`*"}}
    ]
    for index, c in enumerate(results[:SHOWN_RESULTS]):
        contact = " · ".join(x for x in (c.email, c.phone) if x) or "no contact details"
        tags = f"\ntags: {', '.join(c.tags)}" if c.tags else ""
        matched = f" (matched on {c.matched})" if c.matched else ""
        text = f"*{c.name or 'Unnamed customer'}*{matched}\n{contact}{tags}"
        if index == 0 and orders:
            text += "\n*Recent orders*\n" + "\n".join(f"• {_order_line(o)}" for o in orders[:SHOWN_ORDERS])
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    if len(results) > SHOWN_RESULTS:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{len(results) - SHOWN_RESULTS} more…"}]}
        )
    return blocks
