"""The contact part of the "Edit customer" modal (bot/customers.py `contact_blocks`): what the agent typed,
checked (zora/shopify/contact.py), reduced to what differs from the customer as stored."""

from __future__ import annotations

import contextlib
from typing import Any

from bot.customers import ADDRESS_FIELDS, CONTACT_FIELDS
from zora.shopify.contact import ContactChange, normal_phone, parse_change
from zora.shopify.customers import CustomerDirectory


def typed(values: dict[str, Any]) -> dict[str, str]:
    """The modal's contact fields that were submitted (a modal opened before they existed has none)."""
    blocks = [block for block, _label, _key in CONTACT_FIELDS] + [block for block, _label in ADDRESS_FIELDS]
    return {b: str(((values.get(b) or {}).get("value") or {}).get("value") or "") for b in blocks if b in values}


async def contact_change(
    directory: CustomerDirectory, shop_id: int, customer_id: int, values: dict[str, Any]
) -> tuple[ContactChange | None, dict[str, str]]:
    """(what to write, or None when nothing changed; errors per block)."""
    change, errors = parse_change(typed(values))
    if change is None:
        return None, errors
    current = await directory.contact(shop_id, customer_id)
    with contextlib.suppress(ValueError):  # a stored phone Shopify accepted in another form
        current["phone"] = normal_phone(current.get("phone", ""))
    for key in ("first_name", "last_name", "email", "phone"):
        if getattr(change, key) == current.get(key):
            setattr(change, key, None)
    if not change.customer_input() and change.address is None:
        return None, {}
    return change, {}


def error_block(message: str) -> str:
    """The modal block a Shopify userError is about (its `field` names it), else the first name's."""
    lowered = message.lower()
    for block, *_ in (*CONTACT_FIELDS, *ADDRESS_FIELDS):
        if block.replace("_", "") in lowered.replace("_", "") or block in lowered:
            return block
    if "address" in lowered:
        return "address1"
    return "first_name"
