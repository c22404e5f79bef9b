"""An agent reacting to a shopper's message in the thread: the shopper sees it was read."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncBoltContext

from bot.deps import BotDeps
from zora.logs import conversation_id_var
from zora.push import push
from zora.widget_events import StatusChanged

log = logging.getLogger(__name__)


async def on_reaction_added(event: dict[str, Any], context: AsyncBoltContext) -> None:
    item = event.get("item") or {}
    if item.get("type") != "message" or not item.get("channel") or not item.get("ts"):
        return
    deps: BotDeps = context["deps"]
    async with deps.pool.acquire() as conn:
        reacted = await conn.fetchrow(
            "SELECT conversation_id, seq FROM messages WHERE slack_channel = $1 AND slack_ts = $2"
            " AND direction = 'shopper'",
            str(item["channel"]),
            str(item["ts"]),
        )
        if reacted is None:
            return  # a reaction on something other than a shopper's message
        conversation_id_var.set(str(reacted["conversation_id"]))
        rows = await conn.fetch(
            "SELECT seq, client_id FROM messages WHERE conversation_id = $1 AND direction = 'shopper'"
            " AND seq <= $2 AND status = 'delivered' ORDER BY seq",
            reacted["conversation_id"],
            reacted["seq"],
        )
    # Read up to there: the widget shows "Seen" on these (statuses only move forward there).
    for row in rows:
        await push(
            deps.emitter,
            StatusChanged(
                conversation_id=reacted["conversation_id"], seq=row["seq"], client_id=row["client_id"], status="seen"
            ),
        )
