"""The shopper's fast path to Slack, with Temporal as the durable fallback.

The web process stores a shopper's message in PostgreSQL (durable: the shopper's ack waits for that
commit), then this relay posts it to Slack at once, in seq order per conversation. Anything that
goes wrong (a 429, a timeout, an error, a crash before the post) ends with the conversation's
workflow delivering what is pending, with Temporal's retries: the relay hands over by signal, and a
scheduled sweep (workflows/sweeper.py) hands over whatever a crashed process left behind.

Measured reasons for this split are in docs/benchmarks.md: a Temporal signal and workflow task per
message costs about 40 ms of CPU on the 2-core machine, a PostgreSQL commit about 1 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from bot.outbound import SlackOutbound, SlackRateLimited
from zora import metrics, tracing, transcript
from zora.logs import conversation_id_var
from zora.models import ConversationRef, StoredMessage

log = logging.getLogger(__name__)

# (conversation, seconds to wait before the first durable try: Slack's Retry-After or 0)
Handoff = Callable[[ConversationRef, float], Awaitable[None]]
# Starts (or tells) the conversation's workflow that it began or was reopened.
Opener = Callable[[ConversationRef, datetime], Awaitable[None]]
# Waits between tries to start a workflow; Temporal is briefly busy, not gone, in the usual case.
OPEN_RETRY_DELAYS = (0.5, 2.0, 5.0, 15.0)
# Conversations remembered as checked (nothing older pending). Forgetting one costs a single query
# on its next message, so the most recently used are kept and the set never grows with every
# conversation a long-running process has seen.
CLEAR_CAPACITY = 10_000


@dataclass
class _Lane:
    """One conversation's queue: its messages are posted one batch at a time, in order."""

    ref: ConversationRef
    queue: list[StoredMessage] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    # A start (or reopen) of the conversation's workflow waiting for the message that caused it to
    # be posted: the workflow's first work (an automatic assignment's note in the thread) needs the
    # thread, which that post creates.
    opened_at: datetime | None = None


class FastRelay:
    def __init__(
        self, outbound: SlackOutbound, handoff: Handoff, opener: Opener, *, clear_capacity: int = CLEAR_CAPACITY
    ) -> None:
        self.outbound = outbound
        self.handoff = handoff
        self.opener = opener
        self._lanes: dict[UUID, _Lane] = {}
        # Conversations known to have nothing older pending, least recently used first. One not in
        # here (a failure, not yet checked since this process started, or forgotten to stay within
        # the capacity) is checked before posting directly: older pending messages join the batch.
        self._clear: OrderedDict[UUID, None] = OrderedDict()
        self._clear_capacity = clear_capacity
        self._side_tasks: set[asyncio.Task[None]] = set()

    def submit(self, ref: ConversationRef, message: StoredMessage) -> None:
        lane = self._lanes.get(ref.conversation_id)
        if lane is None:
            lane = self._lanes[ref.conversation_id] = _Lane(ref)
        lane.queue.append(message)
        if lane.task is None:
            lane.task = asyncio.create_task(self._run(lane), name=f"relay:{ref.conversation_id}")

    def opened(self, ref: ConversationRef, at: datetime) -> None:
        """Start the conversation's workflow in the background: the message is already stored and
        on its way, and a burst of new conversations must not queue shoppers behind Temporal.

        When the message that opened it is still on its way to Slack, the start waits for that post
        (or for its handover to the workflow) to end, so the workflow never works on a thread that
        does not exist yet."""
        lane = self._lanes.get(ref.conversation_id)
        if lane is not None and lane.task is not None:
            lane.opened_at = at
            return
        self._background(self._open(ref, at), f"open:{ref.conversation_id}")

    async def _open(self, ref: ConversationRef, at: datetime) -> None:
        conversation_id_var.set(str(ref.conversation_id))
        for delay in (*OPEN_RETRY_DELAYS, None):
            try:
                await self.opener(ref, at)
                return
            except Exception:
                if delay is None:
                    # Messages are safe in PostgreSQL; only reminders and idle close wait for the
                    # next signal-with-start (a reopen, a sweep, a failed post).
                    log.exception("could not start the conversation workflow")
                    return
                await asyncio.sleep(delay)

    def _background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    def seen(self, ref: ConversationRef, upto: int) -> None:
        """Show in Slack that the shopper has seen the replies up to `upto` (in the background: the
        shopper's receipt is already stored)."""
        self._background(self._mark_seen(ref, upto), f"seen:{ref.conversation_id}")

    async def _mark_seen(self, ref: ConversationRef, upto: int) -> None:
        try:
            await self.outbound.mark_seen(ref.conversation_id, upto)
        except Exception:
            log.exception("could not mark replies as seen in Slack")

    async def _run(self, lane: _Lane) -> None:
        conversation_id_var.set(str(lane.ref.conversation_id))
        try:
            while lane.queue:
                batch, lane.queue = lane.queue, []
                await self._post(lane.ref, batch)
                if lane.opened_at is not None:
                    at, lane.opened_at = lane.opened_at, None
                    self._background(self._open(lane.ref, at), f"open:{lane.ref.conversation_id}")
        finally:
            lane.task = None
            if lane.queue:  # arrived while finishing: go again
                lane.task = asyncio.create_task(self._run(lane), name=f"relay:{lane.ref.conversation_id}")
            else:
                self._lanes.pop(lane.ref.conversation_id, None)

    @tracing.traced("zora.relay")
    async def _post(self, ref: ConversationRef, batch: list[StoredMessage]) -> None:
        cid = ref.conversation_id
        try:
            if cid in self._clear:
                self._clear.move_to_end(cid)
            elif batch[0].seq == 1:
                # A new conversation's first message: nothing older can be waiting.
                self._remember_clear(cid)
            else:
                pending = await transcript.pending_shopper_messages(self.outbound.pool, ref)
                # Older messages still waiting (a crashed process's, a failure's) go first, in order:
                # the post skips them and what follows while another poster holds them, and the
                # workflow then delivers the lot.
                batch = [m for m in pending if m.seq < batch[0].seq] + batch
                self._remember_clear(cid)
            # No overall timeout around the post: cancelling a chat.postMessage that Slack may have
            # accepted would make its message look unposted (the client's own timeout still applies).
            result = await self.outbound.post(ref, batch)
            metrics.observe_relay(batch, result.delivered)
            if result.undelivered:
                self._clear.pop(cid, None)
            if result.skipped:
                # The workflow is posting older messages right now: let it finish the lot, in order.
                self._clear.pop(cid, None)
                await self.handoff(ref, 0.0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._clear.pop(cid, None)
            reason = f"rate limited ({exc.retry_after}s)" if isinstance(exc, SlackRateLimited) else repr(exc)
            log.warning("fast path to Slack failed (%s); the conversation workflow takes over", reason)
            try:
                await self.handoff(ref, float(exc.retry_after) if isinstance(exc, SlackRateLimited) else 0.0)
            except Exception:
                # Still stored in PostgreSQL: the scheduled sweep hands it to the workflow later.
                log.exception("could not hand the conversation to its workflow; the sweep will")

    def _remember_clear(self, cid: UUID) -> None:
        self._clear[cid] = None
        while len(self._clear) > self._clear_capacity:
            self._clear.popitem(last=False)

    async def close(self) -> None:
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None] + list(self._side_tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
