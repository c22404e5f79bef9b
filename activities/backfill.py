"""Agent replies Slack never delivered: written while Zora was down, or while Slack could not reach it
(after Slack's three retries it gives up on an event). The minute sweep reads open conversations'
threads with `conversations.replies` and relays what it finds through the listener's own path
(bot/listeners/events/message.py `relay_reply`), so a reply fetched here and its late event, or two
runs, still give one message: the transcript is unique on (channel, ts).

Each thread keeps how far it has been read (`slack_threads.backfilled_ts`, from its root on), not just
"after the last stored reply": a reply lost between two delivered ones is found too. What is read:
- replies by people, plain, with files, or also sent to the channel; notes (the shop's prefix) and
  alerts-only shops are skipped by `relay_reply`, as for events;
- not Zora's posts nor other bots' (`from_a_bot`), nor the thread's root, nor other subtypes;
- a reply Zora already has is left alone: an edit or delete made while Zora was down is not applied
  (its message_changed / message_deleted event was lost with it); a reply not stored yet is stored as
  it reads now, edits included, and a deleted one is simply not there.

`conversations.replies` is Slack's Tier 3 (about 50 calls a minute, shared with anything else that reads
threads): a run makes at most `calls_per_run` calls over at most `conversations_per_run` threads, those
read longest ago first. A 429 ends the run where it is; this worker's runs read nothing until Slack's
Retry-After has passed, and the next run goes on from each thread's mark.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk.errors import SlackApiError

from activities.calls import BACKFILL_REPLIES
from bot.deps import BotDeps
from bot.listeners.events.message import REPLY_SUBTYPES, relay_reply
from bot.middleware import from_a_bot
from zora.models import BackfillRequest, BackfillResult
from zora.push import Emitter
from zora.services import Services
from zora.slack_api import classify
from zora.store import slack_posts as sslack_posts
from zora.store import threads as sthreads

log = logging.getLogger(__name__)

PAGE_SIZE = 200


def ts_key(ts: str) -> tuple[int, int]:
    """A Slack ts in time order ("seconds.micros"; text order breaks when the seconds gain a digit)."""
    seconds, _, micros = ts.partition(".")
    return int(seconds), int(micros or 0)


class ReplyBackfill:
    def __init__(
        self, deps: BotDeps, *, conversations_per_run: int, calls_per_run: int, page_size: int = PAGE_SIZE
    ) -> None:
        self.deps = deps
        self.conversations_per_run = conversations_per_run
        self.calls_per_run = calls_per_run
        self.page_size = page_size
        # Monotonic time before which this worker does not call conversations.replies (Slack's Retry-After).
        self._paused_until = 0.0

    @classmethod
    def from_services(cls, services: Services, emitter: Emitter) -> ReplyBackfill:
        settings = services.settings
        return cls(
            BotDeps.from_services(services, emitter),
            conversations_per_run=settings.reply_backfill_conversations_per_run,
            calls_per_run=settings.reply_backfill_calls_per_run,
        )

    @BACKFILL_REPLIES.defn
    async def backfill_replies(self, req: BackfillRequest) -> BackfillResult:
        result = BackfillResult()
        if self.conversations_per_run == 0:
            return result
        if time.monotonic() < self._paused_until:
            result.paused = True
            return result
        async with self.deps.pool.acquire() as conn:
            threads = await sthreads.to_backfill(conn, self.conversations_per_run)
        for thread in threads:
            if result.calls >= self.calls_per_run or result.rate_limited:
                break
            result.conversations += 1
            await self._read_thread(thread, result)
        if result.replies_stored or result.rate_limited:
            log.warning(
                "reply backfill: %d reply(ies) Slack never delivered stored, from %d thread(s)%s",
                result.replies_stored,
                result.conversations,
                "; stopped by Slack's rate limit" if result.rate_limited else "",
            )
        return result

    async def _read_thread(self, thread: sthreads.BackfillThread, result: BackfillResult) -> None:
        """Read one thread from its mark on, page by page, while the run's calls last."""
        channel, thread_ts = thread.channel_id, thread.thread_ts
        since = thread.since
        cursor: str | None = None
        # The thread's own workspace answers for it (issue 11 §2: each shop its own Slack).
        slack = (await self.deps.for_team(thread.team_id, None)).slack
        while result.calls < self.calls_per_run:
            result.calls += 1
            try:
                page = await slack.conversations_replies(
                    channel=channel,
                    ts=thread_ts,
                    oldest=since,
                    inclusive=False,
                    limit=self.page_size,
                    cursor=cursor,
                )
            except SlackApiError as exc:
                failure = classify(exc)
                if failure.rate_limited:
                    retry_after = failure.wait(60)
                    self._paused_until = time.monotonic() + retry_after
                    result.rate_limited = True
                    log.warning("conversations.replies rate limited; reading threads again in %ss", retry_after)
                    return
                # thread_not_found (the root was deleted), not_in_channel, ...: this thread waits its turn
                # again; the others go on.
                log.warning("could not read thread %s in %s: %s", thread_ts, channel, exc.response.get("error"))
                await self._mark(thread, since)
                return
            messages = sorted(
                (m for m in page.get("messages") or [] if isinstance(m, dict) and m.get("ts")),
                key=lambda m: ts_key(str(m["ts"])),
            )
            since, failed = await self._relay(thread, since, messages, result)
            await self._mark(thread, since)
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if failed or not page.get("has_more") or not cursor:
                return

    async def _relay(
        self,
        thread: sthreads.BackfillThread,
        since: str,
        messages: list[dict[str, Any]],
        result: BackfillResult,
    ) -> tuple[str, bool]:
        """Relay a page's replies Zora does not have, oldest first; returns the new mark and whether a
        reply failed (the mark stays before it, so the next run tries it again)."""
        team_id, channel, thread_ts = thread.team_id, thread.channel_id, thread.thread_ts
        deps = await self.deps.for_team(team_id, None)
        async with self.deps.pool.acquire() as conn:
            known = await sslack_posts.known_in_channel(conn, thread.shop_id, channel, [str(m["ts"]) for m in messages])
        for message in messages:
            ts = str(message["ts"])
            if ts_key(ts) <= ts_key(since):
                continue  # the root (always first) and anything before the mark
            if ts not in known and not from_a_bot(message) and message.get("subtype") in REPLY_SUBTYPES:
                try:
                    if await relay_reply(deps, team_id, {**message, "channel": channel}):
                        result.replies_stored += 1
                except Exception:
                    log.exception("could not relay reply %s of thread %s; the next sweep tries again", ts, thread_ts)
                    return since, True
            since = ts
        return since, False

    async def _mark(self, thread: sthreads.BackfillThread, since: str) -> None:
        async with self.deps.pool.acquire() as conn:
            await sthreads.mark_backfilled(conn, thread, since)
