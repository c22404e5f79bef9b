"""Agent assist (issue 12 §7): the steps of SuggestReplyWorkflow around the model call.

`context` loads the transcript as the model reads it; `post` keeps the draft (so that Send can find it,
for that agent only) and shows it to the agent alone, as an ephemeral message listing the orders and
products the tools returned.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from slack_sdk.errors import SlackApiError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.calls import SUGGEST_CONTEXT_CALL, SUGGEST_POST_CALL
from activities.slack_errors import raise_if_rate_limited
from bot.assistant_actions import suggestion_blocks, used_data
from zora.assistant import ChatMessage
from zora.assistant_actions import SuggestContext, SuggestDraft, SuggestInput
from zora.db import Pool
from zora.shop_settings import parse_settings
from zora.slack_api import SlackWorkspaces
from zora.store import actions as sactions
from zora.store import conversations as sconversations
from zora.store import messages as smessages

log = logging.getLogger(__name__)

# The latest messages the model reads (a long conversation's start rarely matters to the next reply).
HISTORY_MESSAGES = 40
NO_DRAFT = "The assistant could not suggest a reply this time. Please write one yourself."


class SuggestActivities:
    def __init__(self, pool: Pool, workspaces: SlackWorkspaces) -> None:
        self.pool = pool
        self.workspaces = workspaces

    def all(self) -> list[Any]:
        return [self.context, self.post]

    @SUGGEST_CONTEXT_CALL.defn
    async def context(self, input: SuggestInput) -> SuggestContext:
        async with self.pool.acquire() as conn:
            ref = await sactions.conversation_ref(conn, input.shop_id, input.conversation_id)
            raw = await sconversations.shop_settings(conn, input.shop_id, input.conversation_id)
            if ref is None or raw is None:
                raise ApplicationError("the conversation is not this shop's", non_retryable=True)
            messages = await smessages.all_of(conn, ref)
        settings = parse_settings(raw).assistant
        history = [
            ChatMessage(role="user" if m.direction == "shopper" else "assistant", content=m.body)
            for m in messages[-HISTORY_MESSAGES:]
            if m.body.strip()
        ]
        return SuggestContext(history=history, persona_name=settings.persona_name, instructions=settings.instructions)

    @SUGGEST_POST_CALL.defn
    async def post(self, draft: SuggestDraft) -> None:
        input = draft.input
        slack = await self.workspaces.for_shop(input.shop_id)
        thread = {"thread_ts": input.thread_ts} if input.thread_ts else {}
        if draft.text is None:
            await self._ephemeral(slack, input, NO_DRAFT, None, thread)
            return
        # One suggestion per workflow: a retried post finds the row it stored.
        suggestion_id = uuid5(NAMESPACE_URL, activity.info().workflow_id or "")
        async with self.pool.acquire() as conn:
            await sactions.insert_suggestion(
                conn, suggestion_id, input.shop_id, input.conversation_id, input.agent_id, draft.text
            )
        text, blocks = suggestion_blocks(str(suggestion_id), draft.text, used_data(draft.tools))
        await self._ephemeral(slack, input, text, blocks, thread)

    async def _ephemeral(
        self, slack: Any, input: SuggestInput, text: str, blocks: list[dict[str, Any]] | None, thread: dict[str, str]
    ) -> None:
        extra: dict[str, Any] = {**thread, **({"blocks": blocks} if blocks else {})}
        try:
            await slack.chat_postEphemeral(channel=input.channel, user=input.agent_id, text=text, **extra)
        except SlackApiError as exc:
            raise_if_rate_limited(exc)
            raise
