"""Drafted actions (issue 12 §3, §6): the `draft_action` tool, and the steps of ActionApprovalWorkflow.

The tool takes whose order it is from the conversation (its shop, and the Shopify customer the app
proxy verified the shopper as, migration 0018), never from the model's arguments, which only say which
of that customer's orders and what to do. An anonymous shopper gets no draft: the model is told to ask
them to sign in, or to offer a person.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from pydantic import ValidationError
from slack_sdk.errors import SlackApiError
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.calls import ACTION_EXECUTE_CALL, ACTION_POST_CALL, ACTION_REPORT_CALL, DRAFT_ACTION
from activities.slack_errors import raise_if_rate_limited
from bot.assistant_actions import draft_blocks, outcome_blocks, shopper_text
from zora import temporal
from zora.assistant import ToolInput, ToolOutput
from zora.assistant_actions import ActionInput, ActionOutcome, ActionStep, DraftActionArgs, ShippingAddress
from zora.db import Pool
from zora.http import client_session
from zora.missed_replies import MissedReplies
from zora.models import Author, StoredMessage
from zora.push import Emitter, push
from zora.settings import Settings
from zora.shopify import order_actions, sync
from zora.shopify.admin import ShopifyAuthError, ShopifyError, ShopifyQueryError, ShopifyRateLimited
from zora.shopper_language import settings_or_defaults
from zora.slack_api import SlackWorkspaces
from zora.store import actions as sactions
from zora.store import conversations as sconversations
from zora.store import threads as sthreads
from zora.widget_events import NewMessage

log = logging.getLogger(__name__)


def _tool_error(text: str) -> ToolOutput:
    return ToolOutput(content=json.dumps({"error": text}))


def _validation_text(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors())[:500]


class ActionActivities:
    def __init__(
        self,
        pool: Pool,
        temporal_client: Client,
        settings: Settings,
        workspaces: SlackWorkspaces,
        emitter: Emitter,
        missed_replies: MissedReplies | None = None,
        approval_timeout: timedelta | None = None,
    ) -> None:
        self.pool = pool
        self.temporal = temporal_client
        self.settings = settings
        self.workspaces = workspaces
        self.emitter = emitter
        self.missed_replies = missed_replies
        self.approval_timeout = approval_timeout or timedelta(minutes=settings.assistant_action_timeout_minutes)

    def all(self) -> list[Any]:
        return [self.draft_action, self.post, self.execute, self.report]

    @DRAFT_ACTION.defn
    async def draft_action(self, tool: ToolInput) -> ToolOutput:
        try:
            args = DraftActionArgs.model_validate_json(tool.call.arguments or "{}")
        except ValidationError as exc:
            return _tool_error(f"invalid arguments ({_validation_text(exc)}); call draft_action again, corrected")
        async with self.pool.acquire() as conn:
            if await sconversations.shop_settings(conn, tool.shop_id, tool.conversation_id) is None:
                raise ApplicationError("the conversation is not this shop's", type="ToolScope", non_retryable=True)
            customer = await sactions.verified_customer(conn, tool.shop_id, tool.conversation_id)
            if customer is None:
                return _tool_error(
                    "the customer is not signed in to the shop: ask them to sign in to their account, or offer a person"
                )
            order = await sactions.customer_order(conn, tool.shop_id, customer, args.number)
            if order is None:
                return _tool_error(f"no order {args.order_number} among this customer's orders")
            if order.cancelled:
                return _tool_error(f"order {order.name} is already cancelled")
            action = await sactions.insert_draft(
                conn, uuid4(), tool.shop_id, tool.conversation_id, tool.call.id, args.kind, order, args.request()
            )
        await temporal.start_action_approval(
            self.temporal,
            self.settings.temporal_task_queue,
            ActionInput(
                action_id=action.id,
                shop_id=action.shop_id,
                conversation_id=action.conversation_id,
                approval_timeout_seconds=self.approval_timeout.total_seconds(),
            ),
        )
        log.info("drafted %s on %s", action.kind, action.order_name, extra={"action_id": str(action.id)})
        return ToolOutput(
            content=json.dumps(
                {
                    "status": "awaiting_approval",
                    "kind": action.kind,
                    "order": action.order_name,
                    "note": "Nothing is done yet: a person from the shop must approve it. Tell the customer the"
                    " request awaits approval and that they will be told the outcome in this chat.",
                }
            )
        )

    async def _action(self, step: ActionStep) -> sactions.ActionRow:
        async with self.pool.acquire() as conn:
            action = await sactions.get(conn, step.action_id, step.shop_id)
        if action is None:
            raise ApplicationError("no such action in this shop", type="ActionGone", non_retryable=True)
        return action

    @ACTION_POST_CALL.defn
    async def post(self, step: ActionStep) -> None:
        """The draft in the conversation's thread, with Approve / Deny (once: its ts is kept)."""
        action = await self._action(step)
        if action.slack_ts is not None:
            return
        thread = await sthreads.of_conversation(self.pool, action.conversation_id)
        if thread is None:
            raise ApplicationError("the conversation has no Slack thread yet", type="NoThread")
        text, blocks = draft_blocks(action, self.approval_timeout.total_seconds() / 60)
        slack = await self.workspaces.for_shop(action.shop_id)
        try:
            posted = await slack.chat_postMessage(
                channel=thread.channel, thread_ts=thread.thread_ts, text=text, blocks=blocks
            )
        except SlackApiError as exc:
            raise_if_rate_limited(exc)
            raise
        async with self.pool.acquire() as conn:
            await sactions.set_posted(conn, action.id, thread.channel, str(posted["ts"]))

    @ACTION_EXECUTE_CALL.defn
    async def execute(self, step: ActionStep) -> ActionOutcome:
        """The approved action in Shopify, once: the row is claimed (approved → executing) before the
        call; a retry after a failure part-way finds it executing and repeats only what is safe to
        repeat (order_actions: a cancelled order is not cancelled again)."""
        async with self.pool.acquire() as conn:
            await sactions.decide(conn, step.action_id, "approved", step.decided_by)
            claimed = await sactions.claim_execution(conn, step.action_id)
        action = claimed or await self._action(step)
        if action.status in ("done", "failed"):
            return _outcome(action)
        if action.status != "executing":
            raise ApplicationError(f"the action is {action.status}, not approved", non_retryable=True)
        try:
            await self._run_in_shopify(action)
        except (ShopifyQueryError, ShopifyAuthError, sync.NotInstalled) as exc:
            status, outcome = "failed", str(exc)
        except ShopifyRateLimited as exc:
            raise ApplicationError(str(exc), next_retry_delay=timedelta(seconds=exc.retry_after)) from None
        except ShopifyError as exc:
            raise ApplicationError(f"Shopify unavailable: {exc}", type="ShopifyUnavailable") from None
        else:
            status, outcome = "done", "done"
        async with self.pool.acquire() as conn:
            await sactions.finish(conn, action.id, status, outcome)
        return _outcome(await self._action(step))

    async def _run_in_shopify(self, action: sactions.ActionRow) -> None:
        async with self.pool.acquire() as conn:
            ref = await sactions.conversation_ref(conn, action.shop_id, action.conversation_id)
        if ref is None:
            raise sync.NotInstalled("the conversation is gone")
        _, token = await sync.shop_credentials(self.pool, self.settings, ref.shop)
        async with client_session() as http:
            client = sync.admin_client(http, self.settings, ref.shop, token)
            if action.kind == "cancel_order":
                note = f"Cancelled at the customer's request (Zora), approved by Slack user {action.decided_by}"
                await order_actions.cancel(client, action.shopify_order_id, note)
            elif action.kind == "refund_request":
                await order_actions.tag_refund_request(client, action.shopify_order_id)
            else:
                address = dict(action.request.get("address") or {})
                await order_actions.change_address(
                    client, action.shopify_order_id, ShippingAddress.model_validate(address).mailing_address()
                )

    @ACTION_REPORT_CALL.defn
    async def report(self, step: ActionStep) -> ActionOutcome:
        """The outcome in the thread (the draft's message edited) and to the shopper, from the assistant."""
        async with self.pool.acquire() as conn:
            if step.status in ("denied", "expired"):
                await sactions.decide(conn, step.action_id, step.status, step.decided_by)
            else:
                # Shopify could not be reached for all of the execute activity's tries (no-ops when
                # the execution finished).
                await sactions.decide(conn, step.action_id, "approved", step.decided_by)
                await sactions.give_up(conn, step.action_id, "Shopify could not be reached")
        action = await self._action(step)
        told = await self._tell_shopper(action)
        if action.slack_channel and action.slack_ts:
            text, blocks = outcome_blocks(action, told)
            slack = await self.workspaces.for_shop(action.shop_id)
            try:
                await slack.chat_update(channel=action.slack_channel, ts=action.slack_ts, text=text, blocks=blocks)
            except SlackApiError as exc:
                raise_if_rate_limited(exc)
                raise
        return _outcome(action)

    async def _tell_shopper(self, action: sactions.ActionRow) -> str:
        async with self.pool.acquire() as conn:
            raw, locale = await sactions.settings_and_locale(conn, action.shop_id, action.conversation_id)
            settings = settings_or_defaults(raw)
            persona = settings.assistant.persona_name
            body = shopper_text(action, settings.words_for(locale))
            stored = await sactions.tell_shopper(conn, action, persona, body, datetime.now(UTC))
            ref = await sactions.conversation_ref(conn, action.shop_id, action.conversation_id)
        if stored is None or ref is None:
            return body  # told before (a retried report)
        seq, created_at = stored
        message = StoredMessage(
            conversation_id=action.conversation_id,
            seq=seq,
            client_id=None,
            direction="agent",
            author=Author(name=persona),
            body=body,
            created_at=created_at,
            status="stored",
            assistant=True,
        )
        await push(self.emitter, NewMessage.of(message))
        if self.missed_replies is not None:
            await self.missed_replies.agent_reply(ref, seq)
        return body


def _outcome(action: sactions.ActionRow) -> ActionOutcome:
    return ActionOutcome.model_validate(
        {"status": action.status, "outcome": action.outcome or "", "decided_by": action.decided_by}
    )
