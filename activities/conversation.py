"""Side effects of ConversationWorkflow and of the sweep: Slack posts and PostgreSQL checks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from temporalio import activity
from temporalio.client import Client

from activities.slack_errors import rate_limited
from bot.outbound import SlackOutbound, SlackRateLimited
from zora import transcript
from zora.business_hours import add_business_time
from zora.db import Pool
from zora.logs import conversation_id_var
from zora.models import (
    AgentPick,
    ApplyAssignment,
    Assignment,
    Author,
    ConversationConfig,
    ConversationRef,
    DeliverRequest,
    FilesShared,
    LoadConversation,
    PickAgent,
    PostResult,
    PostToSlack,
    SweepRequest,
    SweepResult,
    Tick,
    TickResult,
)
from zora.shop_settings import ShopSettings, parse_settings
from zora.store import conversations as sconversations
from zora.store import files as sfiles
from zora.store import messages as smessages
from zora.store import shoppers as sshoppers
from zora.store import shops as sshops
from zora.temporal import signal_conversation

log = logging.getLogger(__name__)


class ConversationActivities:
    def __init__(self, pool: Pool, outbound: SlackOutbound) -> None:
        self.pool = pool
        self.outbound = outbound

    def all(self) -> list[Any]:
        return [self.post_to_slack, self.tick, self.apply_assignment, self.load_conversation, self.pick_agent]

    @activity.defn(name="post_to_slack")
    async def post_to_slack(self, req: PostToSlack) -> PostResult:
        """Post every shopper message still waiting, oldest first."""
        conversation_id_var.set(str(req.ref.conversation_id))
        pending = await transcript.pending_shopper_messages(self.pool, req.ref)
        if not pending:
            return PostResult(thread=None, delivered=[], undelivered=[])
        try:
            return await self.outbound.post(req.ref, pending)
        except SlackRateLimited as exc:
            log.warning("slack rate limited; retrying after %ss", exc.retry_after)
            raise rate_limited(exc.retry_after) from None

    @activity.defn(name="tick")
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
        if conv["status"] == "closed":
            # Only this workflow closes; a closed row here is a reopen still being written.
            return TickResult(closed=False, next_wake=now + timedelta(seconds=1))
        idle = (
            timedelta(hours=settings.idle_close_hours)
            if settings.idle_close_hours
            else timedelta(seconds=req.idle_seconds)
        )
        idle_at: datetime = conv["updated_at"] + idle
        if now >= idle_at and await self._close_idle(ref, conv["updated_at"], settings):
            return TickResult(closed=True, next_wake=now)
        wakes = [idle_at]
        waiting_since: datetime | None = conv["waiting_since"]
        if waiting_since is not None and settings.reminder_minutes > 0:
            level = conv["reminder_level"] if conv["reminder_for"] == waiting_since else 0
            step = timedelta(minutes=settings.reminder_minutes)
            remind_at = add_business_time(waiting_since, step, settings.business_hours, settings.timezone)
            escalate_at = add_business_time(waiting_since, 2 * step, settings.business_hours, settings.timezone)
            due = 2 if now >= escalate_at else 1 if now >= remind_at else 0
            if due > level:
                await self.outbound.post_in_thread(
                    ref.conversation_id, _reminder_text(settings, due, now - waiting_since)
                )
                async with self.pool.acquire() as conn:
                    await sconversations.set_reminder(conn, ref.conversation_id, due, waiting_since)
                level = due
            if level == 0:
                wakes.append(remind_at)
            elif level == 1:
                wakes.append(escalate_at)
        auto_at: datetime | None = conv["auto_assigned_at"]
        if conv["status"] == "assigned" and auto_at is not None:
            replied = conv["assignee_replied_at"]
            if replied is None or replied < auto_at:
                answer_by = auto_at + timedelta(minutes=settings.answer_within_minutes)
                if now >= answer_by:
                    return TickResult(
                        closed=False,
                        next_wake=now,
                        unanswered_assignee=conv["assignee"],
                        auto_assign=settings.auto_assign,
                        transcript_on_resolve=settings.transcript_on_resolve,
                    )
                wakes.append(answer_by)
        if conv["status"] in ("open", "assigned"):
            # A shopper may start a new wait at any moment without waking the workflow: look again soon.
            poll = min(
                timedelta(seconds=60), max(timedelta(seconds=1), timedelta(minutes=settings.reminder_minutes) / 2)
            )
            wakes.append(now + poll)
        return TickResult(
            closed=False,
            next_wake=min(wakes),
            auto_assign=settings.auto_assign,
            transcript_on_resolve=settings.transcript_on_resolve,
        )

    async def _close_idle(self, ref: ConversationRef, last_activity: datetime, settings: ShopSettings) -> bool:
        async with self.pool.acquire() as conn:
            closed = await sconversations.close_idle(conn, ref.conversation_id, last_activity)
        if not closed:
            return False  # a message arrived meanwhile
        log.info("conversation closed after being idle")
        note = await transcript.store_system_message(
            self.pool, ref, author=Author(name=settings.brand_name or "Support"), body=settings.closing_message
        )
        await self.outbound.emitter.emit("message", transcript.wire(note), ref.conversation_id)
        return True

    @activity.defn(name="load_conversation")
    async def load_conversation(self, req: LoadConversation) -> Assignment:
        async with self.pool.acquire() as conn:
            row = await sconversations.assignment(conn, req.ref)
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
        )

    @activity.defn(name="pick_agent")
    async def pick_agent(self, req: PickAgent) -> AgentPick:
        """Round robin over the shop's agents, skipping the away and the full."""
        async with self.pool.acquire() as conn:
            shop = await sshops.assign_state(conn, req.ref.shop_id)
            settings = parse_settings(shop["settings"])
            agents = settings.assign_agents
            if not agents:
                return AgentPick(user_id=None)
            load = {r["assignee"]: r["n"] for r in await sconversations.assigned_load(conn, req.ref.shop_id, agents)}
        start = shop["assign_cursor"] % len(agents)
        order = agents[start:] + agents[:start]
        if req.skip in order:
            order.remove(req.skip)
            order.append(req.skip)  # the one who did not answer comes last
        for agent in order:
            if load.get(agent, 0) >= settings.max_open_per_agent:
                continue
            try:
                presence = await self.outbound.slack.users_getPresence(user=agent)
            except SlackApiError as exc:
                log.warning("users.getPresence failed for %s: %s", agent, exc.response.get("error"))
                continue
            if presence.get("presence") != "active":
                continue
            async with self.pool.acquire() as conn:
                await sshops.set_assign_cursor(conn, req.ref.shop_id, (agents.index(agent) + 1) % len(agents))
            return AgentPick(user_id=agent)
        log.info("no agent available for automatic assignment")
        return AgentPick(user_id=None)

    @activity.defn(name="apply_assignment")
    async def apply_assignment(self, req: ApplyAssignment) -> None:
        """Record a status change, then show it on the thread's card."""
        conversation_id_var.set(str(req.ref.conversation_id))
        async with self.pool.acquire() as conn:
            await sconversations.apply_assignment(conn, req.ref, req.status, req.assignee, req.auto)
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


UNSENT_UPLOAD_HOURS = 24


class SweepActivities:
    """Every minute (a Temporal Schedule): hands conversations whose shopper messages wait to their
    workflows — messages a crashed web process left stored, and messages Slack refused, once the
    shop's Slack works again."""

    def __init__(
        self, pool: Pool, temporal: Client, slack: AsyncWebClient, task_queue: str, config: ConversationConfig
    ) -> None:
        self.pool = pool
        self.temporal = temporal
        self.slack = slack
        self.task_queue = task_queue
        self.config = config

    @activity.defn(name="sweep_undelivered")
    async def sweep_undelivered(self, req: SweepRequest) -> SweepResult:
        healed = await self._heal_slack()
        async with self.pool.acquire() as conn:
            rows = await smessages.waiting_for_slack(conn, req.older_than_seconds, req.limit, healed)
        await self._hand_over(rows, "deliver", DeliverRequest(reason="sweep"))
        if rows:
            log.warning("handed %d conversation(s) with waiting messages to their workflows", len(rows))
        files = await self._stuck_files(req)
        async with self.pool.acquire() as conn:
            # Uploads no message ever sent (a closed tab, a lost answer): they count against the
            # conversation's limit of waiting uploads, so they do not wait forever.
            dropped = await sfiles.drop_unsent_uploads(conn, UNSENT_UPLOAD_HOURS)
            # Emailed codes (zora/identity.py) a day after they expired: kept that long only so a late
            # click is told "expired" rather than "never issued" (both answer code_invalid anyway).
            codes = await sshoppers.drop_expired_codes(conn)
        return SweepResult(
            handed_over=len(rows),
            files_handed_over=files,
            uploads_dropped=dropped,
            codes_dropped=codes,
        )

    async def _hand_over(
        self, refs: list[ConversationRef], signal: Literal["deliver", "files_shared"], arg: DeliverRequest | FilesShared
    ) -> None:
        """Signal(-with-start) each of these conversations."""
        for ref in refs:
            await signal_conversation(self.temporal, self.task_queue, ref, self.config, signal, arg)

    async def _stuck_files(self, req: SweepRequest) -> int:
        """Agents' files still pending long after they were shared: the signal to copy them was lost
        (the copy gives up and marks a file failed by itself, so this ends)."""
        async with self.pool.acquire() as conn:
            rows = await sfiles.agent_files_stuck(conn, max(req.older_than_seconds, 300), req.limit)
        await self._hand_over(rows, "files_shared", FilesShared(seq=0))
        if rows:
            log.warning("handed %d conversation(s) with files still to copy to their workflows", len(rows))
        return len(rows)

    async def _heal_slack(self) -> list[int]:
        """Shops whose Slack failed and now answers again (their channel is reachable): cleared."""
        async with self.pool.acquire() as conn:
            broken = await sshops.with_slack_error(conn)
        healed: list[int] = []
        for shop_id, channel in broken:
            if not channel:
                continue
            try:
                info = await self.slack.conversations_info(channel=channel)
            except SlackApiError:
                continue  # still broken; the error stays visible in `zora doctor`
            if info["channel"].get("is_archived") or info["channel"].get("is_member") is False:
                continue
            async with self.pool.acquire() as conn:
                await sshops.clear_slack_error(conn, shop_id)
            log.info("Slack works again for shop %s; delivering what waited", shop_id)
            healed.append(shop_id)
        return healed


def _reminder_text(settings: ShopSettings, level: int, waited: timedelta) -> str:
    minutes = max(1, round(waited.total_seconds() / 60))
    if level >= 2:
        return f":rotating_light: {settings.mention()} still no reply after {minutes} min: please answer this shopper."
    return f":hourglass_flowing_sand: {settings.mention()} this shopper has waited {minutes} min for a reply."
