"""Side effects of ConversationWorkflow and of the sweep: Slack posts and PostgreSQL checks."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from bot.outbound import SlackOutbound, SlackRateLimited
from zora import transcript
from zora.logs import conversation_id_var
from zora.models import (
    ApplyAssignment,
    Assignment,
    CheckIdle,
    ConversationConfig,
    ConversationRef,
    DeliverRequest,
    IdleCheck,
    LoadConversation,
    PostResult,
    PostToSlack,
    SweepRequest,
    SweepResult,
)
from zora.temporal import signal_conversation

log = logging.getLogger(__name__)


class ConversationActivities:
    def __init__(self, pool: Any, outbound: SlackOutbound) -> None:
        self.pool = pool
        self.outbound = outbound

    def all(self) -> list[Any]:
        return [self.post_to_slack, self.check_idle, self.apply_assignment, self.load_conversation]

    @activity.defn(name="post_to_slack")
    async def post_to_slack(self, req: PostToSlack) -> PostResult:
        """Post every shopper message still waiting, oldest first."""
        conversation_id_var.set(str(req.ref.conversation_id))
        pending = await transcript.pending_shopper_messages(self.pool, req.ref.conversation_id)
        if not pending:
            return PostResult(thread=None, delivered=[], undelivered=[])
        try:
            return await self.outbound.post(req.ref, pending)
        except SlackRateLimited as exc:
            log.warning("slack rate limited; retrying after %ss", exc.retry_after)
            raise ApplicationError(
                "Slack rate limit", type="SlackRateLimited", next_retry_delay=timedelta(seconds=exc.retry_after)
            ) from None

    @activity.defn(name="check_idle")
    async def check_idle(self, req: CheckIdle) -> IdleCheck:
        """Close the conversation if its last message is older than the idle time (PostgreSQL's clock)."""
        conversation_id_var.set(str(req.ref.conversation_id))
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "UPDATE conversations SET status = 'closed', closed_at = now()"
                " WHERE id = $1 AND shop_id = $2 AND status <> 'closed'"
                " AND updated_at <= now() - make_interval(secs => $3) RETURNING updated_at",
                req.ref.conversation_id,
                req.ref.shop_id,
                req.idle_seconds,
            )
            if row is not None:
                log.info("conversation closed after %.0fs idle", req.idle_seconds)
                return IdleCheck(closed=True, last_activity=row["updated_at"])
            current = await conn.fetchrow(
                "SELECT status, updated_at FROM conversations WHERE id = $1 AND shop_id = $2",
                req.ref.conversation_id,
                req.ref.shop_id,
            )
        if current is None:
            # Started for a conversation whose first message never committed: nothing to keep open.
            return IdleCheck(closed=True, last_activity=activity.info().current_attempt_scheduled_time)
        return IdleCheck(closed=current["status"] == "closed", last_activity=current["updated_at"])

    @activity.defn(name="load_conversation")
    async def load_conversation(self, req: LoadConversation) -> Assignment:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT status, assignee FROM conversations WHERE id = $1 AND shop_id = $2",
                req.ref.conversation_id,
                req.ref.shop_id,
            )
        if row is None:
            return Assignment(status="open", assignee=None)
        return Assignment(status=row["status"], assignee=row["assignee"])

    @activity.defn(name="apply_assignment")
    async def apply_assignment(self, req: ApplyAssignment) -> None:
        """Record a status change, then show it on the thread's card."""
        conversation_id_var.set(str(req.ref.conversation_id))
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE conversations SET status = $3, assignee = $4,"
                " closed_at = CASE WHEN $3 = 'closed' THEN COALESCE(closed_at, now()) ELSE NULL END"
                " WHERE id = $1 AND shop_id = $2",
                req.ref.conversation_id,
                req.ref.shop_id,
                req.status,
                req.assignee,
            )
        try:
            await self.outbound.update_card(req.ref.conversation_id)
        except SlackApiError as exc:
            # The status is recorded; the card catches up with the next change.
            log.warning("could not update the conversation card: %s", exc.response.get("error"))


class SweepActivities:
    """Finds shopper messages a crashed or cut-off web process left undelivered, and hands each
    conversation to its workflow."""

    def __init__(self, pool: Any, temporal: Client, task_queue: str, config: ConversationConfig) -> None:
        self.pool = pool
        self.temporal = temporal
        self.task_queue = task_queue
        self.config = config

    @activity.defn(name="sweep_undelivered")
    async def sweep_undelivered(self, req: SweepRequest) -> SweepResult:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT DISTINCT m.conversation_id, m.shop_id, s.domain, c.shopper_id"
                " FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN shops s ON s.id = m.shop_id"
                " WHERE m.direction = 'shopper' AND m.status = 'stored'"
                " AND (m.claimed_until IS NULL OR m.claimed_until < now())"
                " AND m.created_at < now() - make_interval(secs => $1) LIMIT $2",
                req.older_than_seconds,
                req.limit,
            )
        for row in rows:
            ref = ConversationRef(
                shop=row["domain"],
                shop_id=row["shop_id"],
                conversation_id=row["conversation_id"],
                shopper_id=row["shopper_id"],
            )
            await signal_conversation(
                self.temporal, self.task_queue, ref, self.config, "deliver", DeliverRequest(reason="sweep")
            )
        if rows:
            log.warning("handed %d conversation(s) with stale undelivered messages to their workflows", len(rows))
        return SweepResult(handed_over=len(rows))
