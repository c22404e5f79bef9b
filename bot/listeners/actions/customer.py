"""Editing a Shopify customer from Slack: the button on a /zora result opens a modal; saving it writes
the name, email, phone and default address, then the note and tags back to Shopify (then to Zora's copy)."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext

from bot.access import AgentAccess
from bot.customers import MAX_TAGS, edit_customer_view, parse_edit_value, parse_tags
from bot.deps import BotDeps
from bot.listeners.actions.customer_contact import contact_change, error_block
from zora.errors import ZoraError
from zora.shopify.contact import ContactChange
from zora.shopify.customers import MAX_NOTE_LENGTH, CustomerNotFound

log = logging.getLogger(__name__)


async def on_edit_customer(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    deps: BotDeps = context["deps"]
    access = AgentAccess.of(deps)
    channel = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")
    team = str((body.get("team") or {}).get("id") or context.team_id or "")
    user = str(body["user"]["id"])

    async def tell(text: str) -> None:
        await deps.slack.chat_postEphemeral(channel=channel, user=user, text=text)

    try:
        shop_id, customer_id = parse_edit_value(str(body["actions"][0]["value"]))
    except ValueError:
        await tell("That customer is not in this shop.")
        return
    if shop_id is None:
        # A button from before shops were named in it: the channel's shop, when there is exactly one.
        here = await access.shops_for_channel(team, channel)
        if len(here) != 1:
            await tell("Search again with /zora and use the new result's button.")
            return
        shop_id = here[0].id
    if deps.directory is None:
        await tell("Customer data is not available in this Zora.")
        return
    verdict = await access.check_id(team, user, shop_id)
    if not verdict.allowed:
        await tell(verdict.reason)
        return
    try:
        # Scoped to that shop: a customer id from elsewhere is simply not found.
        profile = await deps.directory.profile(shop_id, customer_id)
        contact = await deps.directory.contact(shop_id, customer_id)
    except CustomerNotFound:
        await tell("That customer is not in this shop.")
        return
    view = edit_customer_view(
        shop_id, customer_id, profile.customer.name or "Customer", profile.note, profile.customer.tags, contact
    )
    await deps.slack.views_open(trigger_id=str(body["trigger_id"]), view=view)


async def on_edit_customer_submit(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    deps: BotDeps = context["deps"]
    meta = json.loads(view.get("private_metadata") or "{}")
    team = str((body.get("team") or {}).get("id") or context.team_id or "")
    user = str(body["user"]["id"])
    # Checked again on saving: the modal may have stayed open while the person left the shop's channel.
    verdict = await AgentAccess.of(deps).check_id(team, user, int(meta.get("shop_id") or 0))
    if not verdict.allowed:
        await ack(response_action="errors", errors={"note": f"Not saved. {verdict.reason}"})
        return
    values = (view.get("state") or {}).get("values") or {}
    note = str(((values.get("note") or {}).get("value") or {}).get("value") or "")
    tags_text = str(((values.get("tags") or {}).get("value") or {}).get("value") or "")
    errors: dict[str, str] = {}
    if len(note) > MAX_NOTE_LENGTH:
        errors["note"] = f"A note is at most {MAX_NOTE_LENGTH} characters ({len(note)} now)."
    try:
        tags = parse_tags(tags_text)
    except ValueError as exc:
        errors["tags"] = str(exc).capitalize() + f" (up to {MAX_TAGS} tags)."
        tags = []
    if deps.directory is None:
        await ack(response_action="errors", errors={"note": "Customer data is not available here."})
        return
    shop_id, customer_id = int(meta["shop_id"]), int(meta["customer_id"])
    try:
        contact, contact_errors = await contact_change(deps.directory, shop_id, customer_id, values)
    except CustomerNotFound:
        contact, contact_errors = None, {"note": "This customer is no longer in the shop."}
    if errors or contact_errors:
        await ack(response_action="errors", errors={**errors, **contact_errors})
        return
    if contact is not None and not await _save_contact(ack, deps, shop_id, customer_id, contact):
        return
    try:
        profile = await deps.directory.profile(shop_id, customer_id)
        current = set(profile.customer.tags)
        added = [t for t in tags if t not in current]
        removed = [t for t in profile.customer.tags if t not in tags]
        if added:
            await deps.directory.add_tags(shop_id, customer_id, added)
        if removed:
            await deps.directory.remove_tags(shop_id, customer_id, removed)
        if note != (profile.note or ""):
            await deps.directory.set_note(shop_id, customer_id, note)
    except (ZoraError, ValueError) as exc:
        log.warning("writing the customer back to Shopify failed: %s", exc)
        await ack(response_action="errors", errors={"note": f"Shopify did not accept it: {exc}"})
        return
    await ack()


async def _save_contact(ack: AsyncAck, deps: BotDeps, shop_id: int, customer_id: int, change: ContactChange) -> bool:
    """Name, email, phone and default address to Shopify; what Shopify refused is shown next to its field."""
    assert deps.directory is not None
    try:
        await deps.directory.update_contact(shop_id, customer_id, change)
    except (ZoraError, ValueError) as exc:
        log.warning("correcting the customer in Shopify failed: %s", exc)
        await ack(response_action="errors", errors={error_block(str(exc)): f"Shopify did not accept it: {exc}"})
        return False
    return True
