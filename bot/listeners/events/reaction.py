"""An agent reacting to a shopper's message in the thread: the shopper sees it was read."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncBoltContext

from bot.deps import BotDeps
from zora.logs import conversation_id_var
from zora.push import push
from zora.store import slack_posts as sslack_posts
from zora.widget_events import StatusChanged

log = logging.getLogger(__name__)


async def on_reaction_added(event: dict[str, Any], context: AsyncBoltContext) -> None:
    item = event.get("item") or {}
    if item.get("type") != "message" or not item.get("channel") or not item.get("ts"):
        return
    deps: BotDeps = context["deps"]
    team_id = str(context.team_id or "")
    async with deps.pool.acquire() as conn:
        # Only this workspace's shops: a channel and ts name a message in one Slack workspace only.
        reacted = await sslack_posts.shopper_message_in_slack(conn, team_id, str(item["channel"]), str(item["ts"]))
        if reacted is None:
            return  # a reaction on something other than a shopper's message
        conversation_id_var.set(str(reacted.conversation_id))
        rows = await sslack_posts.delivered_shopper_upto(conn, reacted.shop_id, reacted.conversation_id, reacted.seq)
    # Read up to there: the widget shows "Seen" on these (statuses only move forward there).
    for seq, client_id in rows:
        await push(
            deps.emitter,
            StatusChanged(conversation_id=reacted.conversation_id, seq=seq, client_id=client_id, status="seen"),
        )
