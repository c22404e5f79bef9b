"""An agent's reply in a conversation's thread goes to the shopper."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext

from bot.deps import BotDeps
from zora import transcript
from zora.logs import conversation_id_var
from zora.models import ConversationRef

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
        shop=row["domain"], shop_id=row["shop_id"], conversation_id=row["conversation_id"], shopper_id=row["shopper_id"]
    )
    user_id = str(event.get("user", ""))
    # Stored before Slack gets its 200: if this fails, Slack retries the event.
    stored = await transcript.store_agent_message(
        deps.pool,
        ref,
        author_id=user_id,
        author=await deps.author(user_id),
        body=str(event.get("text", "")),
        channel=channel,
        ts=str(event["ts"]),
        at=datetime.now(UTC),
    )
    if stored is not None:
        await deps.emitter.emit("message", transcript.wire(stored), ref.conversation_id)
        log.info("agent reply stored", extra={"seq": stored.seq, "slack_ts": event["ts"]})
    await ack()
