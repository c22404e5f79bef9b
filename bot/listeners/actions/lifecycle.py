"""Claim, Release, Resolve, Reopen: the buttons on a conversation's card.

Each is a validated update of the conversation's workflow, so two agents pressing Claim at once
get exactly one winner; the other is told who won, in a message only they see. Only the shop's
agents (bot/access.py) may press them; anyone else is told why and nothing is sent to Temporal.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.workflow import UpdateMethodMultiParam

from bot.access import AgentAccess
from bot.assistant_posts import ACTION_TAKE_OVER
from bot.card import ACTION_CLAIM, ACTION_RELEASE, ACTION_REOPEN, ACTION_RESOLVE
from bot.deps import BotDeps
from bot.listeners.events.message import thread_context
from zora.models import AgentAction, Assignment, ConversationRef
from zora.temporal import Conversations
from zora.workflow_api import ConversationApi

log = logging.getLogger(__name__)

UPDATES: dict[str, UpdateMethodMultiParam[[Any, AgentAction], Assignment]] = {
    ACTION_CLAIM: ConversationApi.assign,
    ACTION_RELEASE: ConversationApi.release,
    ACTION_RESOLVE: ConversationApi.resolve,
    ACTION_REOPEN: ConversationApi.reopen,
    # The card's Take over while the assistant answers (issue 12 §6).
    ACTION_TAKE_OVER: ConversationApi.take_over,
}
# Slack wants its answer within 3 s; past this the agent is told to try again.
UPDATE_TIMEOUT_SECONDS = 2.5


async def on_lifecycle(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    deps: BotDeps = context["deps"]
    action_id = str(body["actions"][0]["action_id"])
    user = str(body["user"]["id"])
    channel = str((body.get("channel") or {}).get("id") or body["container"]["channel_id"])
    message_ts = str(body["container"]["message_ts"])
    team_id = str((body.get("team") or {}).get("id") or context.team_id or "")

    async def tell(text: str) -> None:
        await deps.slack.chat_postEphemeral(channel=channel, user=user, text=text)

    # The conversation comes from the thread the card heads, never from the button's value.
    ctx = await thread_context(deps, team_id, channel, message_ts)
    if ctx is None:
        await tell("This is not a Zora conversation.")
        return
    ref = ctx.ref
    # Before anything reaches Temporal: someone who is not the shop's agent changes nothing.
    verdict = await AgentAccess.of(deps).check_id(team_id, user, ref.shop_id)
    if not verdict.allowed:
        log.info("refused %s by %s: not an agent of %s", action_id, user, ref.shop)
        await tell(verdict.reason)
        return
    update = UPDATES[action_id]
    try:
        try:
            await _update(deps.conversations, ref, update, user)
        except RPCError:
            # No running workflow: a conversation whose workflow is still starting, or a closed one.
            # Signal-with-start brings it up (a closed conversation reopens), then the command runs.
            await deps.conversations.opened(ref, datetime.now(UTC))
            if action_id != ACTION_REOPEN:
                await _update(deps.conversations, ref, update, user)
    except WorkflowUpdateFailedError as exc:
        await tell(str(getattr(exc.cause, "message", None) or exc.cause or exc))
    except RPCError:
        await tell("Zora could not reach this conversation right now; please try again.")
    except TimeoutError:
        await tell("Zora is busy and could not do that in time; please try again.")
    else:
        log.info("conversation %s by %s", action_id, user)


async def _update(
    conversations: Conversations,
    ref: ConversationRef,
    update: UpdateMethodMultiParam[[Any, AgentAction], Assignment],
    user: str,
) -> None:
    await asyncio.wait_for(conversations.update(ref, update, AgentAction(user_id=user)), UPDATE_TIMEOUT_SECONDS)
