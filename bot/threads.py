"""Each conversation's Slack thread: cached, found again in PostgreSQL, or started with the conversation's
card as its root post (looked for first when an earlier try may have posted it without writing it down)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime, timedelta
from uuid import UUID

from slack_sdk.errors import SlackApiError

from bot.card import load_card, render
from bot.reconcile import RECONCILE_PAGE_SIZE, RECONCILE_PAGES
from zora.db import Pool
from zora.errors import ZoraError
from zora.models import ConversationRef, SlackThread
from zora.shopify.customers import CustomerDirectory
from zora.slack_api import SlackGateway, classify
from zora.store import conversations as sconversations
from zora.store import threads as sthreads

log = logging.getLogger(__name__)

_THREAD_CACHE_SIZE = 50_000
# Slack message metadata on a conversation's card: what a channel is searched for when a post's answer was lost.
CARD_EVENT = "zora_conversation"
# How far before its first try a lost card is looked for: the database's clock and Slack's may differ.
CARD_CLOCK_SLACK = timedelta(minutes=5)


class NoChannel(Exception):
    """The shop has no Slack channel set: its conversations cannot start a thread."""


class Threads:
    def __init__(self, pool: Pool, directory: CustomerDirectory | None) -> None:
        self.pool = pool
        # Shopify customer data for the card, when the shop's data has the shopper.
        self.directory = directory
        # conversation -> thread; a thread never moves, so the most recent ones stay cached.
        self._threads: OrderedDict[UUID, SlackThread] = OrderedDict()

    async def of(self, ref: ConversationRef, slack: SlackGateway) -> SlackThread:
        """The conversation's thread: cached, found again in PostgreSQL, or started with a root post
        through `slack`, the shop's own workspace."""
        thread = self._threads.get(ref.conversation_id)
        if thread is not None:
            self._threads.move_to_end(ref.conversation_id)
            return thread
        found = await sthreads.thread_or_start(self.pool, ref)
        thread = found.thread
        if thread is None:
            # The shop's channel is read when a thread starts (once per conversation): a change applies at once.
            channel = found.channel
            if not channel:
                raise NoChannel
            card = await load_card(self.pool, ref.conversation_id, self.directory) if found.tried else None
            if card is None:
                raise ZoraError(f"conversation {ref.conversation_id} is not stored")
            text, blocks = render(card)
            tried_at = found.tried_before
            # A card posted before without its thread written down: a second card would be a second thread.
            root = None if tried_at is None else await _find_card(slack, ref.conversation_id, channel, tried_at)
            if root is None:
                try:
                    response = await slack.chat_postMessage(
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
            thread = SlackThread(team_id=await slack.team_id(), channel=channel, thread_ts=root)
            await sthreads.insert(self.pool, ref, thread)
        self._threads[ref.conversation_id] = thread
        if len(self._threads) > _THREAD_CACHE_SIZE:
            self._threads.popitem(last=False)
        return thread


async def _find_card(slack: SlackGateway, conversation_id: UUID, channel: str, tried_at: datetime) -> str | None:
    """The ts of this conversation's card if an earlier try got it into the channel (by its
    metadata), looking back from the first try (with room for clocks that disagree); bounded."""
    oldest = f"{(tried_at - CARD_CLOCK_SLACK).timestamp():.6f}"
    cursor: str | None = None
    for _ in range(RECONCILE_PAGES):
        response = await slack.conversations_history(
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
