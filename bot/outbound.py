"""Posting shopper messages into their conversation's Slack thread.

Shared by the web process's fast path (bot/relay.py) and the durable path (the `post_to_slack`
activity): both post in seq order, record each message as delivered as soon as Slack has it, and
turn Slack's answers into the same outcomes.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any
from uuid import UUID

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.card import load_card, redraw_card, render
from zora import transcript
from zora.errors import ZoraError
from zora.files import file_url, human_size
from zora.models import ConversationRef, PostResult, SlackThread, StoredMessage
from zora.push import Emitter
from zora.shopify.customers import CustomerDirectory
from zora.slack_text import escape

log = logging.getLogger(__name__)

# Errors that no retry will fix: the shop's Slack set-up needs a person. Messages stay stored.
SLACK_PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "no_channel_configured",
    }
)

# Slack will not take files from this app or workspace: the agents get a note with a link instead.
_UPLOAD_REFUSED = frozenset({"missing_scope", "file_uploads_disabled", "file_uploads_except_images_disabled"})

_THREAD_CACHE_SIZE = 50_000
# Shown on an agent's reply in Slack once the shopper has seen it.
SEEN_REACTION = "eyes"


class SlackRateLimited(ZoraError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Slack rate limit; retry after {retry_after}s")
        self.retry_after = retry_after


class SlackOutbound:
    def __init__(
        self,
        pool: Any,
        slack: AsyncWebClient,
        emitter: Emitter,
        directory: CustomerDirectory | None = None,
        public_url: str | None = None,
    ) -> None:
        self.pool = pool
        # Zora's public address, for links to files in Slack notes (PUBLIC_URL).
        self.public_url = public_url
        self.slack = slack
        self.emitter = emitter
        # Shopify customer data for the card, when the shop's data has the shopper.
        self.directory = directory
        self._team_id: str | None = None
        # conversation -> thread; a thread never moves, so the most recent ones stay cached.
        self._threads: OrderedDict[UUID, SlackThread] = OrderedDict()

    async def post(self, ref: ConversationRef, messages: list[StoredMessage]) -> PostResult:
        """Post `messages` (seq order) into the thread, starting it if needed.

        Returns which were delivered; permanent Slack errors mark the rest undelivered and record
        the error on the shop. Raises SlackRateLimited on 429 and lets other failures propagate
        (the caller decides who retries), with what was posted already recorded.
        """
        claimed = await transcript.claim(self.pool, ref.conversation_id, [m.seq for m in messages])
        skipped = [m.seq for m in messages if m.seq not in claimed]
        messages = [m for m in messages if m.seq in claimed]
        if not messages:
            return PostResult(thread=None, delivered=[], undelivered=[], skipped=skipped)
        delivered: list[int] = []
        remaining = [m.seq for m in messages]
        # The message whose chat.postMessage is under way: if this is cut off (cancelled, crashed),
        # nobody knows whether Slack has it, so its claim is kept and runs out (CLAIM_SECONDS)
        # instead of being handed to the next poster at once.
        in_flight: int | None = None
        thread: SlackThread | None = None
        try:
            thread = await self._thread(ref)
            for message in messages:
                in_flight = message.seq
                ts = await self._post_one(thread, message)
                # Slack has it: from here on it must never be posted again, whatever fails next.
                remaining.remove(message.seq)
                delivered.append(message.seq)
                in_flight = None
                await self._record_delivered(ref, thread, message.seq, ts)
                if len(delivered) == 1:
                    await self._set_health(ref.shop_id, None)
                await self._emit_status(ref, message, "delivered")
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            if exc.response.status_code == 429 or error not in SLACK_PERMANENT_ERRORS:
                await transcript.release(self.pool, ref.conversation_id, remaining)
                if exc.response.status_code == 429:
                    raise SlackRateLimited(int(exc.response.headers.get("Retry-After", "1"))) from None
                raise
            return await self._undeliverable(ref, thread, messages, remaining, delivered, error, skipped)
        except _NoChannel:
            return await self._undeliverable(
                ref, thread, messages, remaining, delivered, "no_channel_configured", skipped
            )
        except BaseException:
            # Cut off mid-way: what was not started may be taken by the next poster at once.
            untouched = [seq for seq in remaining if seq != in_flight]
            await asyncio.shield(transcript.release(self.pool, ref.conversation_id, untouched))
            raise
        return PostResult(thread=thread, delivered=delivered, undelivered=[], skipped=skipped)

    async def _post_one(self, thread: SlackThread, message: StoredMessage) -> str | None:
        """Post one shopper message; its Slack ts (None for a message that is only files)."""
        if not message.files:
            response = await self.slack.chat_postMessage(
                channel=thread.channel, thread_ts=thread.thread_ts, text=escape(message.body), unfurl_links=False
            )
            return str(response["ts"])
        # Text, then each file: every part is written down as soon as Slack has it, so a retry
        # after a failure half-way posts only what is missing.
        async with self.pool.acquire() as conn:
            ts: str | None = await conn.fetchval(
                "SELECT slack_ts FROM messages WHERE conversation_id = $1 AND seq = $2",
                message.conversation_id,
                message.seq,
            )
            uploads = await conn.fetch(
                "SELECT id, name, content_type, data FROM files WHERE conversation_id = $1 AND message_seq = $2"
                " AND slack_file_id IS NULL AND data IS NOT NULL ORDER BY created_at, id",
                message.conversation_id,
                message.seq,
            )
        if ts is None and message.body.strip():
            response = await self.slack.chat_postMessage(
                channel=thread.channel, thread_ts=thread.thread_ts, text=escape(message.body), unfurl_links=False
            )
            ts = str(response["ts"])
            async with self.pool.acquire() as conn:
                await conn.execute(
                    "UPDATE messages SET slack_channel = $3, slack_ts = $4 WHERE conversation_id = $1 AND seq = $2",
                    message.conversation_id,
                    message.seq,
                    thread.channel,
                    ts,
                )
        for upload in uploads:
            # A big file on a slow link can outlast the claim: keep it, so nobody else starts this
            # message while its files are still going up.
            await transcript.extend_claim(self.pool, message.conversation_id, message.seq)
            try:
                # files.getUploadURLExternal, the bytes to the URL it gives, files.completeUploadExternal.
                response = await self.slack.files_upload_v2(
                    channel=thread.channel,
                    thread_ts=thread.thread_ts,
                    file_uploads=[
                        {"content": bytes(upload["data"]), "filename": upload["name"], "title": upload["name"]}
                    ],
                )
                slack_file_id = str(response["files"][0]["id"])
            except SlackApiError as exc:
                if exc.response.get("error") not in _UPLOAD_REFUSED:
                    raise
                # An app installed before files were sent (no files:write): the agents still learn
                # about the file, with a link when Zora's public URL is known, instead of the
                # whole message waiting for a scope.
                slack_file_id = await self._file_fallback(thread, upload)
            async with self.pool.acquire() as conn:
                await conn.execute("UPDATE files SET slack_file_id = $2 WHERE id = $1", upload["id"], slack_file_id)
        return ts

    async def _file_fallback(self, thread: SlackThread, upload: Any) -> str:
        log.warning("Slack refused a file upload: add files:write to the app (slack/manifest.yml), allow uploads")
        size = human_size(len(upload["data"]))
        link = f" {self.public_url.rstrip('/')}{file_url(upload['id'])}" if self.public_url else ""
        # The file's name is the shopper's: escaped, and outside Zora's _italics_.
        name = escape(upload["name"], 600)
        response = await self.slack.chat_postMessage(
            channel=thread.channel,
            thread_ts=thread.thread_ts,
            text=f":paperclip: The shopper sent {name} ({size}).{escape(link)}\n_Zora cannot upload files into"
            " Slack yet: the app needs the files:write scope (see slack/manifest.yml)._",
            unfurl_links=False,
        )
        return f"message:{response['ts']}"

    async def _record_delivered(self, ref: ConversationRef, thread: SlackThread, seq: int, ts: str | None) -> None:
        """Write down that Slack has the message; retried, since failing here would mean a second post."""
        for attempt in range(3):
            try:
                await transcript.set_status(
                    self.pool, ref.conversation_id, [seq], "delivered", slack_channel=thread.channel, slack_ts=ts
                )
                return
            except Exception:
                if attempt == 2:
                    # Its claim is kept (not released): it runs out before anyone posts it again.
                    log.exception("posted to Slack but could not record it; its claim runs out first")
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))

    async def _undeliverable(
        self,
        ref: ConversationRef,
        thread: SlackThread | None,
        messages: list[StoredMessage],
        remaining: list[int],
        delivered: list[int],
        error: str,
        skipped: list[int],
    ) -> PostResult:
        log.error("slack rejected the shop's messages: %s; they stay stored until it is fixed", error)
        await self._set_health(ref.shop_id, error)
        await transcript.set_status(self.pool, ref.conversation_id, remaining, "undelivered")
        for message in messages:
            if message.seq in remaining:
                await self._emit_status(ref, message, "undelivered")
        return PostResult(thread=thread, delivered=delivered, undelivered=remaining, skipped=skipped, error=error)

    async def _emit_status(self, ref: ConversationRef, message: StoredMessage, status: str) -> None:
        await self.emitter.emit(
            "status",
            {
                "conversation_id": str(ref.conversation_id),
                "seq": message.seq,
                "client_id": message.client_id,
                "status": status,
            },
            ref.conversation_id,
        )

    async def _set_health(self, shop_id: int, error: str | None) -> None:
        async with self.pool.acquire() as conn:
            if error is None:
                await conn.execute(
                    "UPDATE shops SET slack_error = NULL, slack_error_at = NULL WHERE id = $1 AND slack_error IS NOT NULL",
                    shop_id,
                )
            else:
                await conn.execute(
                    "UPDATE shops SET slack_error = $2, slack_error_at = now() WHERE id = $1", shop_id, error
                )

    async def _channel(self, shop_id: int) -> str:
        # Read when a thread starts (once per conversation), so a change applies at once.
        async with self.pool.acquire() as conn:
            channel: str | None = await conn.fetchval("SELECT slack_channel_id FROM shops WHERE id = $1", shop_id)
        if not channel:
            raise _NoChannel
        return channel

    async def post_in_thread(self, conversation_id: UUID, text: str) -> None:
        """A note from Zora to the agents in the conversation's thread (reminders, order events).

        `text` is Slack markup: whatever in it came from outside Zora is escaped by the caller
        (zora.slack_text.escape)."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT channel_id, thread_ts FROM slack_threads WHERE conversation_id = $1", conversation_id
            )
        if row is not None:
            await self.slack.chat_postMessage(channel=row["channel_id"], thread_ts=row["thread_ts"], text=text)

    async def mark_seen(self, conversation_id: UUID, upto: int) -> None:
        """The shopper saw the agents' replies up to `upto`: an :eyes: reaction on the latest one."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "UPDATE messages SET slack_seen_at = now() WHERE id = ("
                " SELECT id FROM messages WHERE conversation_id = $1 AND direction = 'agent' AND seq <= $2"
                " AND slack_ts IS NOT NULL AND deleted_at IS NULL ORDER BY seq DESC LIMIT 1)"
                " AND slack_seen_at IS NULL RETURNING slack_channel, slack_ts",
                conversation_id,
                upto,
            )
        if row is None:
            return  # already marked, or nothing from Slack to mark
        try:
            await self.slack.reactions_add(channel=row["slack_channel"], timestamp=row["slack_ts"], name=SEEN_REACTION)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_reacted":
                log.warning("could not mark a reply as seen in Slack: %s", exc.response.get("error"))

    async def update_card(self, conversation_id: UUID) -> None:
        """Edit the thread's root post to show the conversation as it is now."""
        await redraw_card(self.pool, self.slack, conversation_id, self.directory)

    async def _thread(self, ref: ConversationRef) -> SlackThread:
        """The conversation's thread: cached, found again in PostgreSQL, or started with a root post."""
        thread = self._threads.get(ref.conversation_id)
        if thread is not None:
            self._threads.move_to_end(ref.conversation_id)
            return thread
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT team_id, channel_id, thread_ts FROM slack_threads WHERE conversation_id = $1",
                ref.conversation_id,
            )
        if row is not None:
            thread = SlackThread(team_id=row["team_id"], channel=row["channel_id"], thread_ts=row["thread_ts"])
        else:
            channel = await self._channel(ref.shop_id)
            card = await load_card(self.pool, ref.conversation_id, self.directory)
            if card is None:
                raise ZoraError(f"conversation {ref.conversation_id} is not stored")
            text, blocks = render(card)
            response = await self.slack.chat_postMessage(channel=channel, text=text, blocks=blocks)
            thread = SlackThread(
                team_id=await self._team(), channel=str(response["channel"]), thread_ts=str(response["ts"])
            )
            async with self.pool.acquire() as conn:
                await conn.execute(
                    "INSERT INTO slack_threads (team_id, channel_id, thread_ts, shop_id, conversation_id)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    thread.team_id,
                    thread.channel,
                    thread.thread_ts,
                    ref.shop_id,
                    ref.conversation_id,
                )
        self._threads[ref.conversation_id] = thread
        if len(self._threads) > _THREAD_CACHE_SIZE:
            self._threads.popitem(last=False)
        return thread

    async def _team(self) -> str:
        if self._team_id is None:
            response = await self.slack.auth_test()
            self._team_id = str(response["team_id"])
        return self._team_id


class _NoChannel(Exception):
    pass
