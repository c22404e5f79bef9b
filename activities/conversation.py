"""Side effects of ConversationWorkflow: Slack posts, deadlines, assignment and PostgreSQL checks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from temporalio.exceptions import ApplicationError

from activities.calls import APPLY_ASSIGNMENT, LOAD_CONVERSATION, PICK_AGENT, POST_TO_SLACK, TICK
from activities.slack_errors import rate_limited
from bot.outbound import SlackOutbound, SlackRateLimited
from zora import transcript
from zora.db import Pool
from zora.deadlines import Reminder, TickSnapshot, plan_tick
from zora.logs import conversation_id_var
from zora.models import (
    AgentPick,
    ApplyAssignment,
    Assignment,
    Author,
    ConversationRef,
    LoadConversation,
    PickAgent,
    PostResult,
    PostToSlack,
    Tick,
    TickResult,
)
from zora.push import push
from zora.round_robin import choose_agent
from zora.shop_settings import ShopSettings, parse_settings
from zora.shopper_language import shopper_words
from zora.slack_api import SlackGateway
from zora.store import assistant as sassistant
from zora.store import conversations as sconversations
from zora.store import shops as sshops
from zora.widget_events import NewMessage

log = logging.getLogger(__name__)

# How soon a delivery whose messages wait behind another poster looks again (that poster posts about
# a message a second; its claim runs out after transcript.CLAIM_SECONDS if it died).
HELD_RETRY_DELAY = timedelta(seconds=2)


class ConversationActivities:
    def __init__(self, pool: Pool, outbound: SlackOutbound) -> None:
        self.pool = pool
        self.outbound = outbound

    def all(self) -> list[Any]:
        return [self.post_to_slack, self.tick, self.apply_assignment, self.load_conversation, self.pick_agent]

    @POST_TO_SLACK.defn
    async def post_to_slack(self, req: PostToSlack) -> PostResult:
        """Post every shopper message still waiting, oldest first."""
        conversation_id_var.set(str(req.ref.conversation_id))
        pending = await transcript.pending_shopper_messages(self.pool, req.ref)
        if not pending:
            return PostResult(thread=None, delivered=[], undelivered=[])
        try:
            result = await self.outbound.post(req.ref, pending)
        except SlackRateLimited as exc:
            log.warning("slack rate limited; retrying after %ss", exc.retry_after)
            raise rate_limited(exc.retry_after) from None
        if result.skipped:
            # Another poster (a web node's fast path) holds older messages; the ones after them were
            # handed here, and nobody else will post them once it is done: look again shortly.
            raise ApplicationError(
                f"{len(result.skipped)} message(s) wait behind another poster",
                type="HeldByAnotherPoster",
                next_retry_delay=HELD_RETRY_DELAY,
            )
        return result

    @TICK.defn
    async def tick(self, req: Tick) -> TickResult:
        """Close an idle conversation (telling the shopper), post due reminders, and say when the
        workflow should look again. Reads everything from PostgreSQL, so messages never have to wake
        the workflow."""
        ref = req.ref
        conversation_id_var.set(str(ref.conversation_id))
        async with self.pool.acquire() as conn:
            conv = await sconversations.tick_snapshot(conn, ref)
        if conv is None:
            return TickResult(closed=True, next_wake=datetime.now(UTC))
        settings = parse_settings(conv["settings"])
        now: datetime = conv["now"]
        snapshot = TickSnapshot.model_validate(dict(conv))
        plan = plan_tick(snapshot, settings, now, timedelta(seconds=req.idle_seconds))
        if plan.close_idle and await self._close_idle(ref, snapshot.updated_at, settings):
            return TickResult(closed=True, next_wake=now)
        if plan.reminder is not None:
            await self._remind(ref, plan.reminder)
        return plan.result

    async def _remind(self, ref: ConversationRef, reminder: Reminder) -> None:
        await self.outbound.post_in_thread(ref.conversation_id, reminder.text)
        async with self.pool.acquire() as conn:
            await sconversations.set_reminder(conn, ref.conversation_id, reminder.level, reminder.waiting_since)

    async def _close_idle(self, ref: ConversationRef, last_activity: datetime, settings: ShopSettings) -> bool:
        async with self.pool.acquire() as conn:
            closed = await sconversations.close_idle(conn, ref.conversation_id, last_activity)
        if not closed:
            return False  # a message arrived meanwhile
        log.info("conversation closed after being idle")
        async with self.pool.acquire() as conn:
            w = await shopper_words(conn, ref.shop_id, ref.shopper_id, ref.conversation_id)
        note = await transcript.store_system_message(
            self.pool, ref, author=Author(name=settings.brand_name or "Support"), body=w("closing")
        )
        await push(self.outbound.emitter, NewMessage.of(note))
        return True

    @LOAD_CONVERSATION.defn
    async def load_conversation(self, req: LoadConversation) -> Assignment:
        async with self.pool.acquire() as conn:
            row = await sconversations.assignment(conn, req.ref)
            assistant_off = row is not None and await sassistant.is_off(conn, req.ref)
            if row is None:
                settings = await sshops.settings(conn, req.ref.shop_id)
                shop_settings = parse_settings(settings)
                return Assignment(
                    status="open",
                    assignee=None,
                    auto_assign=shop_settings.auto_assign,
                    transcript_on_resolve=shop_settings.transcript_on_resolve,
                )
        shop_settings = parse_settings(row.settings)
        return Assignment(
            status=row.status,
            assignee=row.assignee,
            auto_assign=shop_settings.auto_assign,
            transcript_on_resolve=shop_settings.transcript_on_resolve,
            assistant_off=assistant_off,
        )

    @PICK_AGENT.defn
    async def pick_agent(self, req: PickAgent) -> AgentPick:
        """Round robin over the shop's agents, skipping the away and the full."""
        async with self.pool.acquire() as conn:
            shop = await sshops.assign_state(conn, req.ref.shop_id)
            settings = parse_settings(shop["settings"])
            agents = settings.assign_agents
            if not agents:
                return AgentPick(user_id=None)
            load = {r["assignee"]: r["n"] for r in await sconversations.assigned_load(conn, req.ref.shop_id, agents)}
        slack = await self.outbound.workspaces.for_shop(req.ref.shop_id)

        async def present(agent: str) -> bool:
            return await self._present(slack, agent)

        choice = await choose_agent(
            agents, shop["assign_cursor"], load, settings.max_open_per_agent, present, skip=req.skip
        )
        if choice is None:
            log.info("no agent available for automatic assignment")
            return AgentPick(user_id=None)
        async with self.pool.acquire() as conn:
            await sshops.set_assign_cursor(conn, req.ref.shop_id, choice.cursor)
        return AgentPick(user_id=choice.user_id)

    async def _present(self, slack: SlackGateway, agent: str) -> bool:
        """Whether the shop's Slack shows the agent active; one whose presence cannot be read is passed over."""
        try:
            presence = await slack.users_getPresence(user=agent)
        except SlackApiError as exc:
            log.warning("users.getPresence failed for %s: %s", agent, exc.response.get("error"))
            return False
        return bool(presence.get("presence") == "active")

    @APPLY_ASSIGNMENT.defn
    async def apply_assignment(self, req: ApplyAssignment) -> None:
        """Record a status change, then show it on the thread's card."""
        conversation_id_var.set(str(req.ref.conversation_id))
        async with self.pool.acquire() as conn:
            await sconversations.apply_assignment(conn, req.ref, req.status, req.assignee, req.auto)
            if req.assistant_off:
                await sassistant.set_state(conn, req.ref, "off")
        try:
            if req.note:
                await self.outbound.post_in_thread(req.ref.conversation_id, req.note)
            if req.auto:
                await self.outbound.post_in_thread(
                    req.ref.conversation_id, f"<@{req.assignee}> this conversation is yours (automatic assignment)."
                )
            await self.outbound.update_card(req.ref.conversation_id)
        except SlackApiError as exc:
            # The status is recorded; the card catches up with the next change.
            log.warning("could not update the conversation card: %s", exc.response.get("error"))
