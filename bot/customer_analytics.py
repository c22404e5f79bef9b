"""What Zora computes about a customer's purchases (zora/shopify/scores.py, docs/scores.md) in words for
agents: average order, purchase rhythm and top products, on the conversation's card and in `/zora`
results. Product titles are the shop's own words: escaped like everything else from Shopify."""

from __future__ import annotations

from typing import Any

from zora.shopify.models import CustomerAnalytics
from zora.slack_text import CONTEXT_TEXT_MAX, escape

SHOWN_PRODUCTS = 3
_PRODUCT_MAX = 80


def analytics_fields(a: CustomerAnalytics) -> dict[str, Any]:
    """The card's copy of the analytics (CardData.customer keys)."""
    return {
        "average_order_value": a.average_order_value if a.valid_order_count else None,
        "purchase_interval_days": a.purchase_interval_days,
        "orders_per_year": a.orders_per_year,
        "top_products": [(p.title, p.quantity) for p in a.top_products[:SHOWN_PRODUCTS]],
        "currency": a.currency,
    }


def analytics_text(customer: dict[str, Any]) -> str | None:
    """One line, escaped, or None when the customer has bought nothing yet."""
    parts = []
    if customer.get("average_order_value") is not None:
        currency = customer.get("currency") or ""
        parts.append(escape(f"average order {customer['average_order_value']} {currency}".rstrip(), 80))
    interval = customer.get("purchase_interval_days")
    if interval is not None:
        parts.append(escape(f"buys every {interval:g} days on average", 80))
    elif customer.get("average_order_value") is not None:
        parts.append("one purchase so far")
    products = customer.get("top_products") or []
    if products:
        listed = ", ".join(f"{escape(title, _PRODUCT_MAX)} x{int(quantity)}" for title, quantity in products)
        parts.append("top products: " + listed)
    text = " · ".join(parts)
    return text[:CONTEXT_TEXT_MAX] if text else None


def analytics_blocks(customer: dict[str, Any]) -> list[dict[str, Any]]:
    """The card's analytics line (a context block of its own), nothing when there is nothing to say."""
    text = analytics_text(customer)
    if text is None:
        return []
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": f":bar_chart: {text}"}]}]
