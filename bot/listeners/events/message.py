"""Messages in a conversation's thread: agent replies (with the files they share, or also sent to the
channel), their edits and deletes.

Replies reach the shopper unless they are internal notes (they start with the shop's note prefix)
or the shop runs in alerts-only mode. Edits and deletes of a relayed reply update the widget.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext
from slack_sdk.errors import SlackApiError

from bot.deps import BotDeps
from zora import metrics, tracing, transcript
from zora.files import FileRejected, check_declared, refused_note
from zora.logs import conversation_id_var
from zora.models import AgentAction, AgentPost, Author, ConversationRef, FilesShared
from zora.push import push
from zora.shop_settings import ShopSettings, parse_settings
from zora.slack_text import escape
from zora.store import threads as sthreads
from zora.widget_events import MessageDeleted, MessageFiles, MessageUpdated, NewMessage
from zora.workflow_api import ConversationApi

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThreadContext:
    ref: ConversationRef
    settings: ShopSettings
    status: str
    assignee: str | None


async def thread_context(deps: BotDeps, team_id: str, channel: str, thread_ts: str) -> ThreadContext | None:
    """The conversation behind a Slack thread, or None for threads Zora did not start."""
    async with deps.pool.acquire() as conn:
        found = await sthreads.conversation_at(conn, team_id, channel, thread_ts)
    if found is None:
        return None
    conversation_id_var.set(str(found.ref.conversation_id))
    return ThreadContext(
        ref=found.ref, settings=parse_settings(found.settings), status=found.status, assignee=found.assignee
    )


# The message subtypes that are an agent's reply: plain, sharing files, and sent with "Also send to
# #channel" (thread_broadcast, which Slack shows in the channel too but which is still a thread reply).
REPLY_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})


def is_note(text: str, settings: ShopSettings) -> bool:
    return text.lstrip().startswith(settings.note_prefix)


async def on_message(body: dict[str, Any], event: dict[str, Any], ack: AsyncAck, context: AsyncBoltContext) -> None:
    deps: BotDeps = context["deps"]
    team_id = str(body.get("team_id") or context.team_id or "")
    subtype = event.get("subtype")
    # Everything is stored before Slack gets its 200: if storing fails, Slack retries the event.
    if subtype in REPLY_SUBTYPES:
        await relay_reply(deps, team_id, event)
    elif subtype == "message_changed":
        await _changed(deps, team_id, event)
    elif subtype == "message_deleted":
        await _deleted(deps, team_id, event)
    # Joins, topic changes, ... are not part of a conversation.
    await ack()


async def relay_reply(deps: BotDeps, team_id: str, event: dict[str, Any]) -> bool:
    """Store an agent's reply and get it to the shopper; True when it was new. The one path for replies,
    whether Slack delivered the event or the sweep fetched it later (activities/backfill.py), so the two
    never double a reply: the transcript is unique on (channel, ts)."""
    thread_ts = event.get("thread_ts")
    if not thread_ts or thread_ts == event.get("ts"):
        return False  # a top-level post in the channel, not a reply to a shopper
    channel = str(event.get("channel", ""))
    ctx = await thread_context(deps, team_id, channel, str(thread_ts))
    if ctx is None:
        log.debug("reply outside a known thread ignored", extra={"channel": channel, "thread_ts": thread_ts})
        return False
    text = str(event.get("text", ""))
    if ctx.settings.alerts_only or is_note(text, ctx.settings):
        return False
    shared = [_shared_file(f, deps.file_max_bytes) for f in event.get("files") or [] if isinstance(f, dict)]
    if not text.strip() and not shared:
        return False
    user_id = str(event.get("user", ""))
    post = AgentPost(
        author_id=user_id,
        author=await _author(deps, user_id, ctx.settings),
        body=text,
        channel=channel,
        ts=str(event["ts"]),
        at=datetime.now(UTC),
    )
    stored = await transcript.store_agent_message(deps.pool, ctx.ref, post, files=shared)
    # A repeated event (Slack retries when an earlier try failed part-way) redoes the steps below that
    # can fail: each is idempotent, and one of them may be why Slack retried. The push to the widget
    # is made once (it never raises: a shopper who missed it gets the message on `resume`).
    message = stored or await transcript.agent_message_at(deps.pool, ctx.ref, channel, str(event["ts"]))
    if message is None:
        return False  # deleted in Slack meanwhile
    if stored is not None:
        await push(deps.emitter, NewMessage.of(message))
        metrics.AGENT_REPLIES.inc()
        await tracing.agent_reply(deps.redis, ctx.ref.conversation_id, message.created_at)
    log.info("agent reply stored", extra={"seq": message.seq, "slack_ts": event["ts"], "repeat": stored is None})
    if deps.missed_replies is not None:
        # One Redis read when the shopper is connected; a workflow only for shoppers who left.
        await deps.missed_replies.agent_reply(ctx.ref, message.seq)
    if ctx.status == "open" and ctx.assignee is None:
        # Only while nobody has it: one signal per conversation, not per reply.
        await deps.conversations.signal(
            ctx.ref, ConversationApi.agent_replied, AgentAction(user_id=user_id, source="reply")
        )
    if any(f.state == "pending" for f in message.files):
        # After the message went to the widget, so its `message_files` update comes second.
        await deps.conversations.signal(ctx.ref, ConversationApi.files_shared, FilesShared(seq=message.seq))
    if stored is not None and any(f.refused for f in shared):
        await _tell_refused(deps, channel, str(thread_ts), shared)
    return stored is not None


async def _tell_refused(deps: BotDeps, channel: str, thread_ts: str, shared: list[transcript.SharedFile]) -> None:
    """A note to the agent in the thread: which of their files the shopper will not get, and why."""
    # A file's name is whatever its uploader typed: escaped, it cannot notify anyone.
    refused = [f"• {escape(f.name, 300)}: {escape(f.refused)}" for f in shared if f.refused]
    try:
        await deps.slack.chat_postMessage(channel=channel, thread_ts=thread_ts, text=refused_note(refused))
    except SlackApiError as exc:
        # The reply is stored and reaches the shopper; only this hint to the agent is lost.
        log.warning("could not tell the agent about refused files: %s", exc.response.get("error"))


def _shared_file(file: dict[str, Any], max_bytes: int) -> transcript.SharedFile:
    """A file from a `file_share` event, with the reason Zora will not copy it (if any)."""
    name = str(file.get("name") or file.get("title") or "file")
    raw_size = file.get("size")
    size = raw_size if isinstance(raw_size, int) else 0
    refused: str | None = None
    content_type = str(file.get("mimetype") or "")
    url = file.get("url_private_download") or file.get("url_private")
    try:
        content_type = check_declared(content_type, size, max_bytes)
    except FileRejected as exc:
        refused = exc.message
    if refused is None and (
        file.get("is_external") or file.get("mode") in ("external", "tombstone", "hidden_by_limit")
    ):
        refused = "only files uploaded to Slack are sent, not links to other services"
    if refused is None and not url:
        refused = "Slack did not say where the file is"
    return transcript.SharedFile(
        slack_file_id=str(file["id"]) if file.get("id") else None,
        name=name,
        content_type=content_type or "application/octet-stream",
        size=size,
        url=str(url) if url else None,
        refused=refused,
    )


async def _author(deps: BotDeps, user_id: str, settings: ShopSettings) -> Author:
    if settings.anonymous_replies:
        return Author(name=settings.brand_name or "Support")
    return await deps.author(user_id)


async def _changed(deps: BotDeps, team_id: str, event: dict[str, Any]) -> None:
    message = event.get("message") or {}
    thread_ts = message.get("thread_ts")
    channel = str(event.get("channel", ""))
    if not thread_ts or not message.get("ts"):
        return
    ctx = await thread_context(deps, team_id, channel, str(thread_ts))
    if ctx is None:
        return
    text = str(message.get("text", ""))
    now = datetime.now(UTC)
    if is_note(text, ctx.settings):
        # Turned into an internal note after the fact: the shopper should no longer see it.
        removed = await transcript.delete_agent_message(deps.pool, ctx.ref.shop_id, channel, str(message["ts"]), now)
        if removed is not None:
            await _emit_deleted(deps, ctx, removed.seq)
        return
    if "files" in message or message.get("subtype") == "file_share":
        # A file deleted in Slack shows as a tombstone (or is gone) in the changed message: the
        # shopper must not keep it either.
        keep = {
            str(f["id"])
            for f in message.get("files") or []
            if isinstance(f, dict) and f.get("id") and f.get("mode") != "tombstone"
        }
        dropped = await transcript.drop_agent_files(deps.pool, ctx.ref.shop_id, channel, str(message["ts"]), keep)
        if dropped is not None:
            conversation_id, seq, left = dropped
            await push(deps.emitter, MessageFiles(conversation_id=conversation_id, seq=seq, files=left))
    edited = await transcript.edit_agent_message(deps.pool, ctx.ref.shop_id, channel, str(message["ts"]), text, now)
    if edited is not None:
        await push(
            deps.emitter,
            MessageUpdated(conversation_id=ctx.ref.conversation_id, seq=edited.seq, body=edited.body, edited_at=now),
        )


async def _deleted(deps: BotDeps, team_id: str, event: dict[str, Any]) -> None:
    previous = event.get("previous_message") or {}
    thread_ts = previous.get("thread_ts")
    deleted_ts = event.get("deleted_ts") or previous.get("ts")
    channel = str(event.get("channel", ""))
    if not thread_ts or not deleted_ts:
        return
    ctx = await thread_context(deps, team_id, channel, str(thread_ts))
    if ctx is None:
        return
    removed = await transcript.delete_agent_message(
        deps.pool, ctx.ref.shop_id, channel, str(deleted_ts), datetime.now(UTC)
    )
    if removed is not None:
        await _emit_deleted(deps, ctx, removed.seq)


async def _emit_deleted(deps: BotDeps, ctx: ThreadContext, seq: int) -> None:
    await push(deps.emitter, MessageDeleted(conversation_id=ctx.ref.conversation_id, seq=seq))
