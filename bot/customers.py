"""Shopify customers as agents see them in Slack: search results and recent orders (Block Kit)."""

from __future__ import annotations

import json
from typing import Any

from bot.customer_analytics import analytics_fields, analytics_text
from zora.shopify.models import CustomerAnalytics, CustomerSummary, OrderSummary
from zora.slack_text import SECTION_TEXT_MAX, clip, escape, link

SHOWN_RESULTS = 5
ACTION_EDIT_CUSTOMER = "zora_edit_customer"
VIEW_EDIT_CUSTOMER = "zora_edit_customer"
MAX_TAGS = 50
MAX_TAG_LENGTH = 255
SHOWN_ORDERS = 3


# Room (escaped length) for what a customer record holds, so a result stays within Slack's limit.
_NAME_MAX = 300
_CONTACT_MAX = 600
_TAGS_MAX = 800
_ORDER_FIELD_MAX = 120


def _order_line(order: OrderSummary) -> str:
    """One order, escaped: names, statuses and tracking come from Shopify (and its carriers)."""
    state = "cancelled" if order.cancelled else (order.fulfillment_status or "unfulfilled")
    paid = order.financial_status or "unknown payment"
    when = f"{order.processed_at:%Y-%m-%d}" if order.processed_at else "not processed"
    line = escape(
        f"{order.name} · {when} · {order.total} {order.currency or ''} · {paid} · {state}", 2 * _ORDER_FIELD_MAX
    )
    # Up to three parcels: with its links, one order's line must still fit Slack's section limit.
    for t in order.tracking[:3]:
        label = f"{t.company or 'tracking'} {t.number or ''}".rstrip()
        if t.url:
            line += " · " + link(t.url, label, _ORDER_FIELD_MAX)
        elif t.number:
            line += " · " + escape(label, _ORDER_FIELD_MAX)
    return line


def render_results(
    query: str,
    shop: str,
    results: list[CustomerSummary],
    orders: list[OrderSummary],
    shop_id: int,
    analytics: CustomerAnalytics | None = None,
) -> list[dict[str, Any]]:
    """`orders` and `analytics` are the first result's."""
    # The agent's own query (in a code span: a backtick in it only formats the agent's own words).
    asked = escape(query, 200)
    if not results:
        return [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"No customer of {escape(shop)} matches `{asked}`."}}
        ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Customers of {escape(shop)} matching `{asked}`*"}}
    ]
    for index, c in enumerate(results[:SHOWN_RESULTS]):
        contact = escape(" · ".join(x for x in (c.email, c.phone) if x), _CONTACT_MAX) or "no contact details"
        tags = f"\ntags: {escape(', '.join(c.tags), _TAGS_MAX)}" if c.tags else ""
        matched = f" (matched on {escape(c.matched)})" if c.matched else ""
        # The customer's name stands outside Zora's *bold*, like everything a shopper typed.
        name = escape(c.name, _NAME_MAX) if c.name else "_Unnamed customer_"
        text = f":bust_in_silhouette: {name}{matched}\n{contact}{tags}"
        bought = analytics_text(analytics_fields(analytics)) if index == 0 and analytics is not None else None
        if bought:
            text += f"\n:bar_chart: {bought}"
        if index == 0 and orders:
            listed = "\n*Recent orders*"
            for o in orders[:SHOWN_ORDERS]:
                line = f"\n• {_order_line(o)}"
                if len(text) + len(listed) + len(line) > SECTION_TEXT_MAX:
                    break
                listed += line
            text += listed
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": text},
                "accessory": {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Edit customer"},
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


def edit_customer_view(
    shop_id: int,
    customer_id: int,
    name: str,
    note: str | None,
    tags: list[str],
    contact: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The "Edit customer" modal; what to write back travels in private_metadata (set by Zora)."""
    return {
        "type": "modal",
        "callback_id": VIEW_EDIT_CUSTOMER,
        "private_metadata": json.dumps({"shop_id": shop_id, "customer_id": customer_id}),
        "title": {"type": "plain_text", "text": "Edit customer"},
        "submit": {"type": "plain_text", "text": "Save to Shopify"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            # plain_text: Slack shows the name as it is (no markup to escape, none to break out of).
            {"type": "section", "text": {"type": "plain_text", "text": clip(name, 3000), "emoji": False}},
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
            *contact_blocks(contact or {}),
        ],
    }


# (block id, label, the contact key it starts from) of the name, email and phone fields.
CONTACT_FIELDS = (
    ("first_name", "First name", "first_name"),
    ("last_name", "Last name", "last_name"),
    ("email", "Email", "email"),
    ("phone", "Phone (international, like +44 20 7946 0958)", "phone"),
)
ADDRESS_FIELDS = (
    ("address1", "Address"),
    ("address2", "Apartment, suite, etc."),
    ("city", "City"),
    ("province_code", "Region code (like CA or ON)"),
    ("zip", "Postal code"),
    ("country_code", "Country code (like US or FR)"),
)


def _input(block_id: str, label: str, initial: str | None) -> dict[str, Any]:
    element = {"type": "plain_text_input", "action_id": "value", "initial_value": clip(initial or "", 3000)}
    return {
        "type": "input",
        "block_id": block_id,
        "optional": True,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }


def contact_blocks(contact: dict[str, str]) -> list[dict[str, Any]]:
    """Name, email and phone as they are now; the default address empty, replaced only when filled in
    (Zora keeps only its city and country, shown as a reminder)."""
    blocks: list[dict[str, Any]] = [{"type": "divider"}]
    blocks += [_input(block_id, label, contact.get(key)) for block_id, label, key in CONTACT_FIELDS]
    now = ", ".join(contact[k] for k in ("city", "country") if contact.get(k)) or "none known"
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "plain_text",
                    "text": clip(f"Default address (now: {now}). Fill in to replace it; empty keeps it.", 2000),
                }
            ],
        }
    )
    blocks += [_input(block_id, label, None) for block_id, label in ADDRESS_FIELDS]
    return blocks


def parse_tags(text: str) -> list[str]:
    """Tags as typed: comma separated, trimmed, duplicates dropped; raises ValueError with a reason."""
    tags = list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    for tag in tags:
        if len(tag) > MAX_TAG_LENGTH:
            raise ValueError(f"a tag is at most {MAX_TAG_LENGTH} characters: {tag[:20]}…")
    return tags
