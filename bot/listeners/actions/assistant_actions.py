"""The assistant's buttons: Approve / Deny on a drafted action (issue 12 §6), Suggest reply on the card and
Send on the suggested draft (§7).

Who may press them is decided here, before anything reaches Temporal: an agent of the shop the action or
conversation belongs to (bot/access.py); anyone else is told why, in a message only they see. The
decision itself is the workflow's validated update, which refuses a second or late decision.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from slack_bolt.async_app import AsyncAck, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from bot.access import AgentAccess
from bot.assistant_actions import ACTION_APPROVE, what
from bot.deps import BotDeps
from bot.listeners.events.message import relay_reply, thread_context
from zora import temporal
from zora.assistant_actions import Decision, SuggestInput
from zora.slack_text import escape
from zora.store import actions as sactions
from zora.store import threads as sthreads

log = logging.getLogger(__name__)

# Slack wants its answer within 3 s (the ack is sent first; this bounds the agent's wait for a verdict).
UPDATE_TIMEOUT_SECONDS = 2.5

_STATUS_WORDS = {
    "approved": "approved",
    "executing": "approved",
    "done": "approved and done",
    "failed": "approved (Shopify refused it)",
    "denied": "denied",
    "expired": "expired: nobody answered in time",
}


class _Click:
    """Who pressed which button where, and a way to answer them alone."""

    def __init__(self, body: dict[str, Any], context: AsyncBoltContext) -> None:
        self.deps: BotDeps = context["deps"]
        action = body["actions"][0]
        self.action_id = str(action["action_id"])
        self.value = str(action.get("value") or "")
        self.user = str(body["user"]["id"])
        self.channel = str((body.get("channel") or {}).get("id") or body["container"]["channel_id"])
        self.message_ts = str(body["container"].get("message_ts") or "")
        self.thread_ts = body["container"].get("thread_ts")
        self.team_id = str((body.get("team") or {}).get("id") or context.team_id or "")

    async def tell(self, text: str) -> None:
        extra = {"thread_ts": self.thread_ts} if self.thread_ts else {}
        await self.deps.slack.chat_postEphemeral(channel=self.channel, user=self.user, text=text, **extra)

    async def allowed(self, shop_id: int) -> bool:
        verdict = await AgentAccess.of(self.deps).check_id(self.team_id, self.user, shop_id)
        if not verdict.allowed:
            log.info("refused %s by %s: not an agent of shop %s", self.action_id, self.user, shop_id)
            await self.tell(verdict.reason)
        return verdict.allowed


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


async def on_decide(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    click = _Click(body, context)
    action_id = _uuid(click.value)
    async with click.deps.pool.acquire() as conn:
        action = None if action_id is None else await sactions.get(conn, action_id)
    if action is None:
        await click.tell("This request is not one Zora knows.")
        return
    if not await click.allowed(action.shop_id):
        return
    if action.status != "pending":
        await click.tell(f"This request to {escape(what(action))} was already {_STATUS_WORDS[action.status]}.")
        return
    decision = Decision(user_id=click.user, approve=click.action_id == ACTION_APPROVE, shop_id=action.shop_id)
    client = click.deps.conversations.client
    try:
        await asyncio.wait_for(temporal.decide_action(client, action.id, decision), UPDATE_TIMEOUT_SECONDS)
    except WorkflowUpdateFailedError as exc:
        await click.tell(str(getattr(exc.cause, "message", None) or exc.cause or exc))
    except RPCError:
        # The workflow is over: decided (or expired) between the read above and now.
        async with click.deps.pool.acquire() as conn:
            latest = await sactions.get(conn, action.id)
        status = latest.status if latest is not None else "expired"
        await click.tell(f"This request was already {_STATUS_WORDS.get(status, status)}.")
    except TimeoutError:
        await click.tell("Zora is busy and could not record that in time; please try again.")
    else:
        log.info("action %s %s by %s", action.id, "approved" if decision.approve else "denied", click.user)


async def on_suggest(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    click = _Click(body, context)
    # The conversation comes from the thread the card heads, never from the button's value.
    ctx = await thread_context(click.deps, click.team_id, click.channel, click.message_ts)
    if ctx is None:
        await click.tell("This is not a Zora conversation.")
        return
    if not await click.allowed(ctx.ref.shop_id):
        return
    conversations = click.deps.conversations
    suggestion = SuggestInput(
        shop_id=ctx.ref.shop_id,
        conversation_id=ctx.ref.conversation_id,
        agent_id=click.user,
        channel=click.channel,
        thread_ts=click.message_ts,
    )
    try:
        await temporal.start_suggestion(
            conversations.client, conversations.task_queue, suggestion, secrets.token_hex(6)
        )
    except RPCError:
        await click.tell("Zora could not start a suggestion right now; please try again.")
        return
    await click.tell("The assistant is drafting a reply; only you will see it here.")


async def on_send(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    click = _Click(body, context)
    suggestion_id = _uuid(click.value)
    async with click.deps.pool.acquire() as conn:
        found = None if suggestion_id is None else await sactions.suggestion(conn, suggestion_id)
    if found is None or found.agent_id != click.user:
        await click.tell("This draft is not one Zora suggested to you.")
        return
    if not await click.allowed(found.shop_id):
        return
    async with click.deps.pool.acquire() as conn:
        claimed = await sactions.claim_suggestion(conn, found.id, click.user)
        thread = await sthreads.of_conversation(conn, found.conversation_id)
    if not claimed:
        await click.tell("You sent this draft already.")
        return
    if thread is None:
        await _unclaim(click, found.id, "This conversation has no Slack thread.")
        return
    try:
        posted = await click.deps.slack.chat_postMessage(
            channel=thread.channel,
            thread_ts=thread.thread_ts,
            text=escape(found.body),
            blocks=_sent_blocks(found.body, click.user),
        )
    except SlackApiError as exc:
        await _unclaim(click, found.id, f"Slack did not take the reply ({exc.response.get('error')}); try again.")
        return
    ts = str(posted["ts"])
    async with click.deps.pool.acquire() as conn:
        await sactions.suggestion_sent(conn, found.id, ts)
    # The agent's reply, as if they had typed it in the thread: stored, pushed, emailed when missed.
    event = {"channel": thread.channel, "thread_ts": thread.thread_ts, "ts": ts, "user": click.user, "text": found.body}
    await relay_reply(click.deps, thread.team_id or click.team_id, event)
    log.info("suggested reply sent", extra={"slack_ts": ts, "at": datetime.now(UTC).isoformat()})


async def _unclaim(click: _Click, suggestion_id: UUID, why: str) -> None:
    async with click.deps.pool.acquire() as conn:
        await sactions.suggestion_sent(conn, suggestion_id, None)
    await click.tell(why)


def _sent_blocks(text: str, user: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(text, 2900)}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"Sent by <@{user}> (suggested by the assistant)"}],
        },
    ]
