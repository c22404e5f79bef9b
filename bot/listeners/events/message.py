"""An agent's reply in a conversation's thread goes to the shopper."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext

from bot.deps import BotDeps
from zora.logs import conversation_id_var
from zora.models import AgentMessage, ConversationRef
from zora.temporal import send_to_conversation

log = logging.getLogger(__name__)


async def on_message(body: dict[str, Any], event: dict[str, Any], ack: AsyncAck, context: AsyncBoltContext) -> None:
    deps: BotDeps = context["deps"]
    thread_ts = event.get("thread_ts")
    # Edits, deletes, joins... have a subtype; plain replies do not. Root posts are not replies.
    if event.get("subtype") is not None or not thread_ts or thread_ts == event.get("ts"):
        await ack()
        return
    team_id = str(body.get("team_id") or context.team_id or "")
    channel = str(event.get("channel", ""))
    async with deps.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT t.conversation_id, t.shop_id, s.domain, c.shopper_id"
            " FROM slack_threads t JOIN shops s ON s.id = t.shop_id JOIN conversations c ON c.id = t.conversation_id"
            " WHERE t.team_id = $1 AND t.channel_id = $2 AND t.thread_ts = $3",
            team_id,
            channel,
            thread_ts,
        )
    if row is None:
        log.debug("reply outside a known thread ignored", extra={"channel": channel, "thread_ts": thread_ts})
        await ack()
        return
    conversation_id_var.set(str(row["conversation_id"]))
    ref = ConversationRef(
        shop=row["domain"],
        shop_id=row["shop_id"],
        conversation_id=row["conversation_id"],
        shopper_id=row["shopper_id"],
    )
    message = AgentMessage(
        team_id=team_id,
        channel=channel,
        ts=str(event["ts"]),
        thread_ts=str(thread_ts),
        user_id=str(event.get("user", "")),
        text=str(event.get("text", "")),
    )
    await send_to_conversation(deps.temporal, deps.task_queue, ref, deps.conversation_config, message)
    log.info("agent reply signalled", extra={"slack_ts": message.ts})
    await ack()
