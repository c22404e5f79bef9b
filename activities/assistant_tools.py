"""The assistant's tools, each an activity scoped by construction.

A tool's input carries the turn's shop and conversation (from the conversation's workflow, which took
them from a token Zora signed) and the model's call. The model's arguments may only say *what* to look
up; *whose* data is never taken from them, so a prompt injection that names another shop or customer in
the arguments changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.assistant_lookups import LookupTools
from activities.calls import STORE_POLICIES
from zora.assistant import ToolInput, ToolOutput
from zora.db import Pool
from zora.mail import Mailer
from zora.shop_settings import parse_settings
from zora.store import conversations as sconversations


class AssistantToolActivities:
    def __init__(self, pool: Pool, mailer: Mailer | None = None) -> None:
        self.pool = pool
        # The lookups and identity codes; without a mailer (or SMTP) no code can be sent.
        self.lookups = LookupTools(pool, mailer)

    def all(self) -> list[Any]:
        return [self.store_policies, *self.lookups.all()]

    @STORE_POLICIES.defn
    async def store_policies(self, tool: ToolInput) -> ToolOutput:
        # The shop is the conversation's, and the conversation must be the turn's shop's: a turn started
        # with mismatched ids reads nothing rather than another shop's text.
        async with self.pool.acquire() as conn:
            raw = await sconversations.shop_settings(conn, tool.shop_id, tool.conversation_id)
        if raw is None:
            raise ApplicationError("the conversation is not one of this shop's", type="ToolScope", non_retryable=True)
        policies = parse_settings(raw).assistant.policies.strip()
        if not policies:
            return ToolOutput(content=json.dumps({"error": "the shop has not written its policies; offer a person"}))
        return ToolOutput(content=json.dumps({"policies": policies}))
