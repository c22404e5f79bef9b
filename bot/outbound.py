"""Posting shopper messages into their conversation's Slack thread.

Shared by the web process's fast path (bot/relay.py) and the durable path (the `post_to_slack`
activity): both post in seq order, record each message as delivered as soon as Slack has it, and
turn Slack's answers into the same outcomes.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from slack_sdk.errors import SlackApiError

from bot.card import load_card, redraw_card, render
from zora import metrics, transcript
from zora.db import Pool
from zora.errors import ZoraError
from zora.files import file_url, human_size
from zora.http import client_session
from zora.models import ConversationRef, PostResult, SlackThread, StoredMessage
from zora.push import Emitter, push
from zora.shopify.customers import CustomerDirectory
from zora.slack_api import SlackGateway, SlackWorkspaces, classify
from zora.slack_text import escape
from zora.store import conversations as sconversations
from zora.store import files as sfiles
from zora.store import messages as smessages
from zora.store import shops as sshops
from zora.store import threads as sthreads
from zora.widget_events import StatusChanged

log = logging.getLogger(__name__)

# Slack will not take files from this app or workspace: the agents get a note with a link instead.
_UPLOAD_REFUSED = frozenset({"missing_scope", "file_uploads_disabled", "file_uploads_except_images_disabled"})

_THREAD_CACHE_SIZE = 50_000
# Slack message metadata on Zora's posts: what a thread is searched for when a post's answer was lost.
MESSAGE_EVENT = "zora_message"
CARD_EVENT = "zora_conversation"
# Looking for lost posts: conversations.replies pages, bounded.
RECONCILE_PAGE_SIZE = 200
RECONCILE_PAGES = 10
# How far before its first try a lost card is looked for: the database's clock and Slack's may differ.
CARD_CLOCK_SLACK = timedelta(minutes=5)
# Shown on an agent's reply in Slack once the shopper has seen it.
SEEN_REACTION = "eyes"


class SlackRateLimited(ZoraError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Slack rate limit; retry after {retry_after}s")
        self.retry_after = retry_after


# The gateway of the shop a post is for, set by SlackOutbound.post for the task running it.
_SERVING: contextvars.ContextVar[SlackGateway | None] = contextvars.ContextVar("slack_serving", default=None)


class SlackOutbound:
    def __init__(
        self,
        pool: Pool,
        slack: SlackGateway,
        emitter: Emitter,
        directory: CustomerDirectory | None = None,
        public_url: str | None = None,
        workspaces: SlackWorkspaces | None = None,
    ) -> None:
        self.pool = pool
        # Zora's public address, for links to files in Slack notes (PUBLIC_URL).
        self.public_url = public_url
        # Each shop's own workspace (issue 11 §2); without `workspaces`, `slack` speaks for every shop.
        self.workspaces = workspaces or SlackWorkspaces(slack)
        self.emitter = emitter
        # Shopify customer data for the card, when the shop's data has the shopper.
        self.directory = directory
        # conversation -> thread; a thread never moves, so the most recent ones stay cached.
        self._threads: OrderedDict[UUID, SlackThread] = OrderedDict()

    @property
    def slack(self) -> SlackGateway:
        """The gateway of the shop being served now (`_serving`): every step of a post below speaks
        for the one shop, without each taking the gateway as an argument."""
        return _SERVING.get() or self.workspaces.default

    async def _serving_conversation(self, conversation_id: UUID) -> SlackGateway:
        """The gateway of the workspace a conversation's thread is in."""
        thread = await sthreads.of_conversation(self.pool, conversation_id)
        return await self.workspaces.for_team(thread.team_id if thread else None)

    async def post(self, ref: ConversationRef, messages: list[StoredMessage]) -> PostResult:
        serving = _SERVING.set(await self.workspaces.for_shop(ref.shop_id))
        try:
            return await self._post(ref, messages)
        finally:
            _SERVING.reset(serving)

    async def _post(self, ref: ConversationRef, messages: list[StoredMessage]) -> PostResult:
        """Post `messages` (seq order) into the thread, starting it if needed.

        Returns which were delivered; permanent Slack errors mark the rest undelivered and record
        the error on the shop. Raises SlackRateLimited on 429 and lets other failures propagate
        (the caller decides who retries), with what was posted already recorded.
        """
        cid = ref.conversation_id
        claim = await transcript.claim(self.pool, cid, [m.seq for m in messages])
        skipped = [m.seq for m in messages if m.seq not in claim.seqs]
        messages = [m for m in messages if m.seq in claim.seqs]
        if not messages:
            return PostResult(thread=None, delivered=[], undelivered=[], skipped=skipped)
        delivered: list[int] = []
        remaining = [m.seq for m in messages]
        # Taken before by a poster that never said how it ended: looked for in the thread before
        # anything is posted, and marked as such whenever they are given back unreconciled.
        unknown = set(claim.unknown)
        # The message whose chat.postMessage is under way: if this is cut off (cancelled, crashed),
        # nobody knows whether Slack has it, so its claim is kept and runs out (CLAIM_SECONDS)
        # instead of being handed to the next poster at once (which would look before Slack shows it).
        in_flight: int | None = None
        thread: SlackThread | None = None
        loop = asyncio.get_running_loop()
        claimed_at = loop.time()
        try:
            thread = await self._thread(ref)
            if unknown:
                messages = await self._reconcile(ref, thread, messages, unknown, remaining, delivered)
                unknown.clear()
            for message in messages:
                if loop.time() - claimed_at > transcript.CLAIM_SECONDS / 3:
                    # A long batch (Slack's pace is about a message a second) must not outlive its
                    # claim: another poster would take the rest while this one is still posting.
                    await transcript.extend_claim(self.pool, cid, remaining)
                    claimed_at = loop.time()
                in_flight = message.seq
                ts = await self._post_one(thread, message)
                # Slack has it: from here on it must never be posted again, whatever fails next.
                remaining.remove(message.seq)
                delivered.append(message.seq)
                metrics.SLACK_POSTS.inc()
                in_flight = None
                await self._record_delivered(ref, thread, message.seq, ts)
                if len(delivered) == 1:
                    await self._set_health(ref.shop_id, None)
                await self._emit_status(ref, message, "delivered")
        except SlackApiError as exc:
            failure = classify(exc)
            if not failure.needs_a_person:
                # A 429 did nothing; another error may come after Slack did part of the work (Slack
                # says so of internal_error and fatal_error), so the next poster looks first.
                if in_flight is not None and not failure.rate_limited:
                    unknown.add(in_flight)
                await transcript.release(self.pool, cid, remaining, unknown=unknown)
                if failure.rate_limited:
                    raise SlackRateLimited(int(failure.wait(1))) from None
                raise
            return await self._undeliverable(
                ref, thread, messages, remaining, delivered, failure.error, skipped, unknown
            )
        except _NoChannel:
            return await self._undeliverable(
                ref, thread, messages, remaining, delivered, "no_channel_configured", skipped, unknown
            )
        except BaseException:
            # Cut off mid-way: what was not started may be taken by the next poster at once.
            untouched = [seq for seq in remaining if seq != in_flight]
            await asyncio.shield(transcript.release(self.pool, cid, untouched, unknown=unknown))
            raise
        return PostResult(thread=thread, delivered=delivered, undelivered=[], skipped=skipped)

    async def _reconcile(
        self,
        ref: ConversationRef,
        thread: SlackThread,
        messages: list[StoredMessage],
        unknown: set[int],
        remaining: list[int],
        delivered: list[int],
    ) -> list[StoredMessage]:
        """Find in the thread what an earlier poster got into Slack without writing it down: those
        are recorded as delivered (with Slack's ts), not posted again. Returns what is left to post.

        One conversations.replies walk from the last post Zora knows of covers the whole batch: the
        lost posts can only be after it, since a conversation's messages are posted in seq order.
        """
        cid = ref.conversation_id
        since = await smessages.last_posted_before(self.pool, cid, min(unknown))
        posted, files = await self._find_in_thread(thread, cid, since)
        left: list[StoredMessage] = []
        for message in messages:
            ts = posted.get(message.seq)
            if message.seq not in unknown:
                left.append(message)
            elif message.files:
                # Text and files went up one by one: keep what Slack has, post only the rest.
                async with self.pool.acquire() as conn:
                    if ts is not None:
                        await smessages.set_found_slack_ts(conn, cid, message.seq, thread.channel, ts)
                    await sfiles.found_in_slack(conn, cid, message.seq, sorted(files))
                left.append(message)
            elif ts is not None:
                log.info(
                    "message %s was in Slack already (its poster was cut off); recorded, not posted again", message.seq
                )
                remaining.remove(message.seq)
                delivered.append(message.seq)
                await self._record_delivered(ref, thread, message.seq, ts)
                await self._emit_status(ref, message, "delivered")
            else:
                left.append(message)
        return left

    async def _find_in_thread(
        self, thread: SlackThread, cid: UUID, since: str | None
    ) -> tuple[dict[int, str], set[str]]:
        """Zora's shopper posts of this conversation in the thread from `since` on (seq -> ts, by their
        metadata), and the ids of the files in it. Bounded: a lost post sits right after `since`."""
        posted: dict[int, str] = {}
        files: set[str] = set()
        cursor: str | None = None
        for _ in range(RECONCILE_PAGES):
            response = await self.slack.conversations_replies(
                channel=thread.channel,
                ts=thread.thread_ts,
                oldest=since,
                inclusive=True if since else None,
                include_all_metadata=True,
                limit=RECONCILE_PAGE_SIZE,
                cursor=cursor,
            )
            for found in response.get("messages") or []:
                seq = _zora_seq(found.get("metadata"), cid)
                if seq is not None:
                    posted.setdefault(seq, str(found["ts"]))
                files.update(str(f["id"]) for f in found.get("files") or [] if isinstance(f, dict) and f.get("id"))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return posted, files
        log.warning(
            "the thread has more than %d messages since the last known post; looked no further",
            RECONCILE_PAGES * RECONCILE_PAGE_SIZE,
        )
        return posted, files

    async def _post_one(self, thread: SlackThread, message: StoredMessage) -> str | None:
        """Post one shopper message; its Slack ts (None for a message that is only files)."""
        if not message.files:
            response = await self.slack.chat_postMessage(
                channel=thread.channel,
                thread_ts=thread.thread_ts,
                text=escape(message.body),
                unfurl_links=False,
                metadata=_message_metadata(message),
            )
            return str(response["ts"])
        # Text, then each file: every part is written down as soon as Slack has it, so a retry
        # after a failure half-way posts only what is missing.
        async with self.pool.acquire() as conn:
            ts = await smessages.slack_ts(conn, message.conversation_id, message.seq)
            uploads = await sfiles.not_in_slack(conn, message.conversation_id, message.seq)
        if ts is None and message.body.strip():
            response = await self.slack.chat_postMessage(
                channel=thread.channel,
                thread_ts=thread.thread_ts,
                text=escape(message.body),
                unfurl_links=False,
                metadata=_message_metadata(message),
            )
            ts = str(response["ts"])
            await smessages.set_slack_ts(self.pool, message.conversation_id, message.seq, thread.channel, ts)
        for upload in uploads:
            # A big file on a slow link can outlast the claim: keep it, so nobody else starts this
            # message while its files are still going up.
            await transcript.extend_claim(self.pool, message.conversation_id, [message.seq])
            try:
                slack_file_id = await self._upload(thread, upload)
            except SlackApiError as exc:
                if exc.response.get("error") not in _UPLOAD_REFUSED:
                    raise
                # An app installed before files were sent (no files:write): the agents still learn
                # about the file, with a link when Zora's public URL is known, instead of the
                # whole message waiting for a scope.
                slack_file_id = await self._file_fallback(thread, upload)
            await sfiles.set_slack_file_id(self.pool, upload.id, slack_file_id)
        return ts

    async def _upload(self, thread: SlackThread, upload: sfiles.Upload) -> str:
        """Upload one file into the thread, step by step (what files_upload_v2 does), to write down
        the id Slack gives the file before it is shared: an upload cut off later can then be found in
        the thread by that id instead of being uploaded twice."""
        data = upload.data
        target = await self.slack.files_getUploadURLExternal(filename=upload.name, length=len(data))
        file_id = str(target["file_id"])
        await sfiles.set_slack_upload_id(self.pool, upload.id, file_id)
        async with (
            client_session() as session,
            session.post(
                str(target["upload_url"]),
                data=data,
                proxy=self.slack.proxy,
                ssl=self.slack.ssl if self.slack.ssl is not None else True,
            ) as answer,
        ):
            if answer.status != 200:
                raise ZoraError(f"Slack's file host answered {answer.status} to an upload")
        await self.slack.files_completeUploadExternal(
            files=[{"id": file_id, "title": upload.name}], channel_id=thread.channel, thread_ts=thread.thread_ts
        )
        return file_id

    async def _file_fallback(self, thread: SlackThread, upload: sfiles.Upload) -> str:
        log.warning("Slack refused a file upload: add files:write to the app (slack/manifest.yml), allow uploads")
        size = human_size(len(upload.data))
        link = f" {self.public_url.rstrip('/')}{file_url(upload.id)}" if self.public_url else ""
        # The file's name is the shopper's: escaped, and outside Zora's _italics_.
        name = escape(upload.name, 600)
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
        unknown: set[int],
    ) -> PostResult:
        log.error("slack rejected the shop's messages: %s; they stay stored until it is fixed", error)
        await self._set_health(ref.shop_id, error)
        await transcript.set_status(self.pool, ref.conversation_id, remaining, "undelivered")
        # Slack said no to these; those never looked for (an earlier poster's) stay marked.
        await transcript.release(self.pool, ref.conversation_id, remaining, unknown=unknown)
        for message in messages:
            if message.seq in remaining:
                await self._emit_status(ref, message, "undelivered")
        return PostResult(thread=thread, delivered=delivered, undelivered=remaining, skipped=skipped, error=error)

    async def _emit_status(
        self, ref: ConversationRef, message: StoredMessage, status: Literal["delivered", "undelivered"]
    ) -> None:
        await push(
            self.emitter,
            StatusChanged(
                conversation_id=ref.conversation_id, seq=message.seq, client_id=message.client_id, status=status
            ),
        )

    async def _set_health(self, shop_id: int, error: str | None) -> None:
        if error is None:
            await sshops.clear_slack_error(self.pool, shop_id)
        else:
            await sshops.set_slack_error(self.pool, shop_id, error)

    async def _channel(self, shop_id: int) -> str:
        # Read when a thread starts (once per conversation), so a change applies at once.
        channel = await sshops.slack_channel(self.pool, shop_id)
        if not channel:
            raise _NoChannel
        return channel

    async def post_in_thread(self, conversation_id: UUID, text: str) -> None:
        """A note from Zora to the agents in the conversation's thread (reminders, order events).

        `text` is Slack markup: whatever in it came from outside Zora is escaped by the caller
        (zora.slack_text.escape)."""
        thread = await sthreads.of_conversation(self.pool, conversation_id)
        if thread is None:
            log.warning("a note for a conversation with no Slack thread yet was not posted")
            return
        slack = await self.workspaces.for_team(thread.team_id)
        await slack.chat_postMessage(channel=thread.channel, thread_ts=thread.thread_ts, text=text)

    async def mark_seen(self, conversation_id: UUID, upto: int) -> None:
        """The shopper saw the agents' replies up to `upto`: an :eyes: reaction on the latest one."""
        post = await smessages.mark_seen(self.pool, conversation_id, upto)
        if post is None:
            return  # already marked, or nothing from Slack to mark
        try:
            slack = await self._serving_conversation(conversation_id)
            await slack.reactions_add(channel=post.channel, timestamp=post.ts, name=SEEN_REACTION)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_reacted":
                log.warning("could not mark a reply as seen in Slack: %s", exc.response.get("error"))

    async def update_card(self, conversation_id: UUID) -> None:
        """Edit the thread's root post to show the conversation as it is now."""
        await redraw_card(self.pool, await self._serving_conversation(conversation_id), conversation_id, self.directory)

    async def _thread(self, ref: ConversationRef) -> SlackThread:
        """The conversation's thread: cached, found again in PostgreSQL, or started with a root post."""
        thread = self._threads.get(ref.conversation_id)
        if thread is not None:
            self._threads.move_to_end(ref.conversation_id)
            return thread
        thread = await sthreads.of_conversation(self.pool, ref.conversation_id)
        if thread is None:
            channel = await self._channel(ref.shop_id)
            card = await load_card(self.pool, ref.conversation_id, self.directory)
            if card is None:
                raise ZoraError(f"conversation {ref.conversation_id} is not stored")
            text, blocks = render(card)
            tried_at = await sconversations.try_card(self.pool, ref.conversation_id)
            # A card posted before without its thread written down: a second card would be a second thread.
            root = None if tried_at is None else await self._find_card(ref.conversation_id, channel, tried_at)
            if root is None:
                try:
                    response = await self.slack.chat_postMessage(
                        channel=channel,
                        text=text,
                        blocks=blocks,
                        metadata={
                            "event_type": CARD_EVENT,
                            "event_payload": {"conversation_id": str(ref.conversation_id)},
                        },
                    )
                except SlackApiError as exc:
                    failure = classify(exc)
                    if failure.rate_limited or failure.needs_a_person:
                        # Slack did not post it: nothing to look for next time.
                        await sconversations.card_not_posted(self.pool, ref.conversation_id)
                    raise
                root = str(response["ts"])
                channel = str(response["channel"])
            thread = SlackThread(team_id=await self.slack.team_id(), channel=channel, thread_ts=root)
            await sthreads.insert(self.pool, ref, thread)
        self._threads[ref.conversation_id] = thread
        if len(self._threads) > _THREAD_CACHE_SIZE:
            self._threads.popitem(last=False)
        return thread

    async def _find_card(self, conversation_id: UUID, channel: str, tried_at: datetime) -> str | None:
        """The ts of this conversation's card if an earlier try got it into the channel (by its
        metadata), looking back from the first try (with room for clocks that disagree); bounded."""
        oldest = f"{(tried_at - CARD_CLOCK_SLACK).timestamp():.6f}"
        cursor: str | None = None
        for _ in range(RECONCILE_PAGES):
            response = await self.slack.conversations_history(
                channel=channel, oldest=oldest, include_all_metadata=True, limit=RECONCILE_PAGE_SIZE, cursor=cursor
            )
            for found in response.get("messages") or []:
                metadata = found.get("metadata")
                payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
                if (
                    isinstance(metadata, dict)
                    and metadata.get("event_type") == CARD_EVENT
                    and isinstance(payload, dict)
                    and payload.get("conversation_id") == str(conversation_id)
                ):
                    log.info("the conversation's card was in Slack already (its poster was cut off); not posted again")
                    return str(found["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        log.warning("the channel has too many messages since the card was tried; looked no further")
        return None


class _NoChannel(Exception):
    pass


def _message_metadata(message: StoredMessage) -> dict[str, Any]:
    return {
        "event_type": MESSAGE_EVENT,
        "event_payload": {"conversation_id": str(message.conversation_id), "seq": message.seq},
    }


def _zora_seq(metadata: Any, conversation_id: UUID) -> int | None:
    """The seq a Slack message's metadata names, when it is this conversation's shopper post."""
    if not isinstance(metadata, dict) or metadata.get("event_type") != MESSAGE_EVENT:
        return None
    payload = metadata.get("event_payload")
    if not isinstance(payload, dict) or payload.get("conversation_id") != str(conversation_id):
        return None
    seq = payload.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None
