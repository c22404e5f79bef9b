"""Send and Discard on the assistant's draft (draft_only mode, issue 12 §1): a validated update of the
conversation's workflow, so a stale draft (a newer one replaced it, a person took over) or a second
click is refused and the agent told why. Only the shop's agents may press them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncBoltContext
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from bot.access import AgentAccess
from bot.assistant_posts import ACTION_DRAFT_SEND
from bot.deps import BotDeps
from bot.listeners.actions.lifecycle import UPDATE_TIMEOUT_SECONDS
from bot.listeners.events.message import thread_context
from zora.assistant_turns import DraftDecision

log = logging.getLogger(__name__)


async def on_draft(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    deps: BotDeps = context["deps"]
    action = body["actions"][0]
    user = str(body["user"]["id"])
    channel = str((body.get("channel") or {}).get("id") or body["container"]["channel_id"])
    container = body["container"]
    team_id = str((body.get("team") or {}).get("id") or context.team_id or "")

    async def tell(text: str) -> None:
        await deps.slack.chat_postEphemeral(channel=channel, user=user, text=text)

    # The conversation is the thread's the draft is in, never the button's; the button names the turn,
    # which the workflow checks against its own waiting draft.
    thread_ts = container.get("thread_ts") or (body.get("message") or {}).get("thread_ts")
    if not thread_ts:
        await tell("This is not a Zora conversation.")
        return
    ctx = await thread_context(deps, team_id, channel, str(thread_ts))
    if ctx is None:
        await tell("This is not a Zora conversation.")
        return
    verdict = await AgentAccess.of(deps).check_id(team_id, user, ctx.ref.shop_id)
    if not verdict.allowed:
        log.info("refused a draft decision by %s: not an agent of %s", user, ctx.ref.shop)
        await tell(verdict.reason)
        return
    decision = DraftDecision(
        user_id=user, turn_id=str(action.get("value", "")), send=action["action_id"] == ACTION_DRAFT_SEND
    )
    try:
        await asyncio.wait_for(deps.conversations.decide_draft(ctx.ref, decision), UPDATE_TIMEOUT_SECONDS * 4)
    except WorkflowUpdateFailedError as exc:
        await tell(str(getattr(exc.cause, "message", None) or exc.cause or exc))
    except RPCError:
        await tell("This draft is no longer waiting for a decision.")
    except TimeoutError:
        await tell("Zora is still sending this; it will appear in the thread.")
