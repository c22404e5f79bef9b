"""Posting shopper messages into their conversation's Slack thread.

Shared by the web process's fast path (zora/app/relay.py) and the durable path (the `post_to_slack`
activity): both post in seq order, record each message as delivered as soon as Slack has it, and
turn Slack's answers into the same outcomes. The thread itself is bot/threads.py, files go up through
bot/slack_files.py, and posts an earlier poster was cut off on are found by bot/reconcile.py.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from slack_sdk.errors import SlackApiError

from bot.card import redraw_card
from bot.reconcile import find_in_thread, message_metadata
from bot.slack_files import SlackFiles
from bot.threads import NoChannel, Threads
from zora import metrics, transcript
from zora.db import Pool
from zora.errors import ZoraError
from zora.identity_codes import shown_to_agents
from zora.models import ConversationRef, PostResult, SlackThread, StoredMessage
from zora.push import Emitter, push
from zora.shopify.customers import CustomerDirectory
from zora.slack_api import SlackGateway, SlackWorkspaces, classify
from zora.slack_text import escape
from zora.store import files as sfiles
from zora.store import shops as sshops
from zora.store import slack_posts as sslack_posts
from zora.store import threads as sthreads
from zora.widget_events import StatusChanged

log = logging.getLogger(__name__)

# Shown on an agent's reply in Slack once the shopper has seen it.
SEEN_REACTION = "eyes"


class SlackRateLimited(ZoraError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Slack rate limit; retry after {retry_after}s")
        self.retry_after = retry_after


@dataclass
class _Batch:
    """The messages one post() claimed, and how far it got with them."""

    ref: ConversationRef
    messages: list[StoredMessage]
    # Asked for but held by another poster: left to it (or to the workflow, which looks again).
    skipped: list[int]
    # Taken before by a poster that never said how it ended: looked for in the thread before
    # anything is posted, and marked as such whenever they are given back unreconciled.
    unknown: set[int]
    thread: SlackThread | None = None
    delivered: list[int] = field(default_factory=list)
    remaining: list[int] = field(default_factory=list)
    # The message whose chat.postMessage is under way: if this is cut off (cancelled, crashed),
    # nobody knows whether Slack has it, so its claim is kept and runs out (CLAIM_SECONDS)
    # instead of being handed to the next poster at once (which would look before Slack shows it).
    in_flight: int | None = None

    def __post_init__(self) -> None:
        self.remaining = [m.seq for m in self.messages]

    def done(self, seq: int) -> None:
        """Slack has this one."""
        self.remaining.remove(seq)
        self.delivered.append(seq)
        self.in_flight = None

    def result(self, *, undelivered: list[int] | None = None, error: str | None = None) -> PostResult:
        return PostResult(
            thread=self.thread,
            delivered=self.delivered,
            undelivered=undelivered or [],
            skipped=self.skipped,
            error=error,
        )


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
        # The single gateway (SLACK_BOT_TOKEN); each shop's own workspace (issue 11 §2) is asked of
        # `workspaces`, which without an installation store speaks for every shop through `slack`.
        self.slack = slack
        self.workspaces = workspaces or SlackWorkspaces(slack)
        self.emitter = emitter
        # Shopify customer data for the card, when the shop's data has the shopper.
        self.directory = directory
        self.threads = Threads(pool, directory)
        self.files = SlackFiles(pool, public_url)

    async def post(self, ref: ConversationRef, messages: list[StoredMessage]) -> PostResult:
        """Post `messages` (seq order) into the thread, starting it if needed.

        Returns which were delivered; permanent Slack errors mark the rest undelivered and record
        the error on the shop. Raises SlackRateLimited on 429 and lets other failures propagate
        (the caller decides who retries), with what was posted already recorded.
        """
        cid = ref.conversation_id
        claim = await transcript.claim(self.pool, cid, [m.seq for m in messages])
        batch = _Batch(
            ref,
            messages=[m for m in messages if m.seq in claim.seqs],
            skipped=[m.seq for m in messages if m.seq not in claim.seqs],
            unknown=set(claim.unknown),
        )
        if not batch.messages:
            return batch.result()
        loop = asyncio.get_running_loop()
        claimed_at = loop.time()
        try:
            # Every step of this post speaks for the one shop, in its own workspace.
            slack = await self.workspaces.for_shop(ref.shop_id)
            thread = batch.thread = await self.threads.of(ref, slack)
            if batch.unknown:
                await self._reconcile(batch, slack, thread)
            for message in list(batch.messages):
                if loop.time() - claimed_at > transcript.CLAIM_SECONDS / 3:
                    # A long batch (Slack's pace is about a message a second) must not outlive its
                    # claim: another poster would take the rest while this one is still posting.
                    await transcript.extend_claim(self.pool, cid, batch.remaining)
                    claimed_at = loop.time()
                batch.in_flight = message.seq
                ts = await self._post_one(slack, thread, message)
                # Slack has it: from here on it must never be posted again, whatever fails next.
                batch.done(message.seq)
                metrics.SLACK_POSTS.inc()
                # The batch's first post also clears the shop's Slack error, in the same statement.
                await self._record_delivered(ref, thread, message.seq, ts, heal=len(batch.delivered) == 1)
                await self._emit_status(ref, message, "delivered")
        except (SlackApiError, NoChannel) as exc:
            return await self._failed(batch, exc)
        except BaseException:
            # Cut off mid-way: what was not started may be taken by the next poster at once.
            untouched = [seq for seq in batch.remaining if seq != batch.in_flight]
            await asyncio.shield(transcript.release(self.pool, cid, untouched, unknown=batch.unknown))
            raise
        return batch.result()

    async def _failed(self, batch: _Batch, exc: SlackApiError | NoChannel) -> PostResult:
        """Slack refused (or the shop has no channel): what needs a person marks the rest undelivered,
        anything else gives them back to the next poster and raises."""
        if isinstance(exc, NoChannel):
            return await self._undeliverable(batch, "no_channel_configured")
        failure = classify(exc)
        if not failure.needs_a_person:
            # A 429 did nothing; another error may come after Slack did part of the work (Slack
            # says so of internal_error and fatal_error), so the next poster looks first.
            if batch.in_flight is not None and not failure.rate_limited:
                batch.unknown.add(batch.in_flight)
            await transcript.release(self.pool, batch.ref.conversation_id, batch.remaining, unknown=batch.unknown)
            if failure.rate_limited:
                raise SlackRateLimited(int(failure.wait(1))) from None
            raise exc
        return await self._undeliverable(batch, failure.error)

    async def _reconcile(self, batch: _Batch, slack: SlackGateway, thread: SlackThread) -> None:
        """Find in the thread what an earlier poster got into Slack without writing it down: those
        are recorded as delivered (with Slack's ts), not posted again; the batch keeps what is left.

        One conversations.replies walk from the last post Zora knows of covers the whole batch: the
        lost posts can only be after it, since a conversation's messages are posted in seq order.
        """
        ref, unknown = batch.ref, batch.unknown
        cid = ref.conversation_id
        since = await sslack_posts.last_posted_before(self.pool, cid, min(unknown))
        posted, files = await find_in_thread(slack, thread, cid, since)
        left: list[StoredMessage] = []
        for message in batch.messages:
            ts = posted.get(message.seq)
            if message.seq not in unknown:
                left.append(message)
            elif message.files:
                # Text and files went up one by one: keep what Slack has, post only the rest.
                async with self.pool.acquire() as conn:
                    if ts is not None:
                        await sslack_posts.set_found_slack_ts(conn, cid, message.seq, thread.channel, ts)
                    await sfiles.found_in_slack(conn, cid, message.seq, sorted(files))
                left.append(message)
            elif ts is not None:
                log.info(
                    "message %s was in Slack already (its poster was cut off); recorded, not posted again", message.seq
                )
                batch.done(message.seq)
                await self._record_delivered(ref, thread, message.seq, ts, heal=False)
                await self._emit_status(ref, message, "delivered")
            else:
                left.append(message)
        batch.messages = left
        unknown.clear()

    async def _post_one(self, slack: SlackGateway, thread: SlackThread, message: StoredMessage) -> str | None:
        """Post one shopper message; its Slack ts (None for a message that is only files)."""
        if not message.files:
            return await self._post_text(slack, thread, message)
        # Text, then each file: every part is written down as soon as Slack has it, so a retry
        # after a failure half-way posts only what is missing.
        async with self.pool.acquire() as conn:
            ts = await sslack_posts.slack_ts(conn, message.conversation_id, message.seq)
            uploads = await sfiles.not_in_slack(conn, message.conversation_id, message.seq)
        if ts is None and message.body.strip():
            ts = await self._post_text(slack, thread, message)
            await sslack_posts.set_slack_ts(self.pool, message.conversation_id, message.seq, thread.channel, ts)
        for upload in uploads:
            # A big file on a slow link can outlast the claim: keep it, so nobody else starts this
            # message while its files are still going up.
            await transcript.extend_claim(self.pool, message.conversation_id, [message.seq])
            slack_file_id = await self.files.send(slack, thread, upload)
            await sfiles.set_slack_file_id(self.pool, upload.id, slack_file_id)
        return ts

    async def _post_text(self, slack: SlackGateway, thread: SlackThread, message: StoredMessage) -> str:
        response = await slack.chat_postMessage(
            channel=thread.channel,
            thread_ts=thread.thread_ts,
            # A verification code the shopper typed is not shown to the team (zora/identity_codes.py).
            text=escape(await shown_to_agents(self.pool, message.conversation_id, message.body, message.created_at)),
            unfurl_links=False,
            metadata=message_metadata(message),
        )
        return str(response["ts"])

    async def _record_delivered(
        self, ref: ConversationRef, thread: SlackThread, seq: int, ts: str | None, *, heal: bool
    ) -> None:
        """Write down that Slack has the message; retried, since failing here would mean a second post.
        With `heal`, the shop's recorded Slack error is cleared with it (Slack took a post)."""
        for attempt in range(3):
            try:
                await transcript.record_delivered(
                    self.pool,
                    ref.conversation_id,
                    seq,
                    slack_channel=thread.channel,
                    slack_ts=ts,
                    heal_shop_id=ref.shop_id if heal else None,
                )
                return
            except Exception:
                if attempt == 2:
                    # Its claim is kept (not released): it runs out before anyone posts it again.
                    log.exception("posted to Slack but could not record it; its claim runs out first")
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))

    async def _undeliverable(self, batch: _Batch, error: str) -> PostResult:
        ref = batch.ref
        log.error("slack rejected the shop's messages: %s; they stay stored until it is fixed", error)
        await self._set_health(ref.shop_id, error)
        await transcript.set_status(self.pool, ref.conversation_id, batch.remaining, "undelivered")
        # Slack said no to these; those never looked for (an earlier poster's) stay marked.
        await transcript.release(self.pool, ref.conversation_id, batch.remaining, unknown=batch.unknown)
        for message in batch.messages:
            if message.seq in batch.remaining:
                await self._emit_status(ref, message, "undelivered")
        return batch.result(undelivered=batch.remaining, error=error)

    async def _emit_status(
        self, ref: ConversationRef, message: StoredMessage, status: Literal["delivered", "undelivered"]
    ) -> None:
        await push(
            self.emitter,
            StatusChanged(
                conversation_id=ref.conversation_id, seq=message.seq, client_id=message.client_id, status=status
            ),
        )

    async def _set_health(self, shop_id: int, error: str) -> None:
        await sshops.set_slack_error(self.pool, shop_id, error)

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
        post = await sslack_posts.mark_seen(self.pool, conversation_id, upto)
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

    async def _serving_conversation(self, conversation_id: UUID) -> SlackGateway:
        """The gateway of the workspace a conversation's thread is in."""
        thread = await sthreads.of_conversation(self.pool, conversation_id)
        return await self.workspaces.for_team(thread.team_id if thread else None)
