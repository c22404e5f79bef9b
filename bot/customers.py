"""Shopify customers as agents see them in Slack: search results and recent orders (Block Kit)."""

from __future__ import annotations

import json
from typing import Any

from zora.shopify.models import CustomerSummary, OrderSummary

SHOWN_RESULTS = 5
ACTION_EDIT_CUSTOMER = "zora_edit_customer"
VIEW_EDIT_CUSTOMER = "zora_edit_customer"
MAX_TAGS = 50
MAX_TAG_LENGTH = 255
SHOWN_ORDERS = 3


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
    query: str, shop: str, results: list[CustomerSummary], orders: list[OrderSummary], shop_id: int
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
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": text},
                "accessory": {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Edit note & tags"},
                    "action_id": ACTION_EDIT_CUSTOMER,
                    # The shop travels with the customer: the press is checked against it (bot/access.py).
                    "value": edit_value(shop_id, c.id),
                },
            }
        )
    if len(results) > SHOWN_RESULTS:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{len(results) - SHOWN_RESULTS} more…"}]}
        )
    return blocks


def edit_value(shop_id: int, customer_id: int) -> str:
    return f"{shop_id}:{customer_id}"


def parse_edit_value(value: str) -> tuple[int | None, int]:
    """(shop id, customer id) from an Edit button; a button from before shops were named has no shop.
    Raises ValueError for anything else."""
    shop, sep, customer = value.partition(":")
    return (int(shop), int(customer)) if sep else (None, int(shop))


def edit_customer_view(shop_id: int, customer_id: int, name: str, note: str | None, tags: list[str]) -> dict[str, Any]:
    """The "Edit customer" modal; what to write back travels in private_metadata (set by Zora)."""
    return {
        "type": "modal",
        "callback_id": VIEW_EDIT_CUSTOMER,
        "private_metadata": json.dumps({"shop_id": shop_id, "customer_id": customer_id}),
        "title": {"type": "plain_text", "text": "Edit customer"},
        "submit": {"type": "plain_text", "text": "Save to Shopify"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{name}*"}},
            {
                "type": "input",
                "block_id": "note",
                "optional": True,
                "label": {"type": "plain_text", "text": "Note"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "initial_value": note or "",
                },
            },
            {
                "type": "input",
                "block_id": "tags",
                "optional": True,
                "label": {"type": "plain_text", "text": "Tags (comma separated)"},
                "element": {"type": "plain_text_input", "action_id": "value", "initial_value": ", ".join(tags)},
            },
        ],
    }


def parse_tags(text: str) -> list[str]:
    """Tags as typed: comma separated, trimmed, duplicates dropped; raises ValueError with a reason."""
    tags = list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    for tag in tags:
        if len(tag) > MAX_TAG_LENGTH:
            raise ValueError(f"a tag is at most {MAX_TAG_LENGTH} characters: {tag[:20]}…")
    return tags
