"""Editing a Shopify customer from Slack: the button on a /zora result opens a modal; saving it
writes the note and tags back to Shopify."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext

from bot.customers import MAX_TAGS, edit_customer_view, parse_tags, shop_for_channel
from bot.deps import BotDeps
from zora.errors import ZoraError
from zora.shopify.customers import MAX_NOTE_LENGTH, CustomerNotFound

log = logging.getLogger(__name__)


async def on_edit_customer(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    deps: BotDeps = context["deps"]
    channel = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")
    team = str((body.get("team") or {}).get("id") or context.team_id or "")
    user = str(body["user"]["id"])
    shop = await shop_for_channel(deps.pool, team, channel)
    if shop is None or deps.directory is None:
        await deps.slack.chat_postEphemeral(channel=channel, user=user, text="Use this in a shop's support channel.")
        return
    try:
        customer_id = int(body["actions"][0]["value"])
        # Scoped to the channel's shop: a customer id from elsewhere is simply not found.
        profile = await deps.directory.profile(shop[0], customer_id)
    except (ValueError, CustomerNotFound):
        await deps.slack.chat_postEphemeral(channel=channel, user=user, text="That customer is not in this shop.")
        return
    view = edit_customer_view(
        shop[0], customer_id, profile.customer.name or "Customer", profile.note, profile.customer.tags
    )
    await deps.slack.views_open(trigger_id=str(body["trigger_id"]), view=view)


async def on_edit_customer_submit(ack: AsyncAck, view: dict[str, Any], context: AsyncBoltContext) -> None:
    deps: BotDeps = context["deps"]
    meta = json.loads(view.get("private_metadata") or "{}")
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
    if errors or deps.directory is None:
        await ack(response_action="errors", errors=errors or {"note": "Customer data is not available here."})
        return
    shop_id, customer_id = int(meta["shop_id"]), int(meta["customer_id"])
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
