"""Every activity as workflows call it: its name, argument and result types, timeouts and retries.

One `ActivityCall` per activity, written once here. The implementation takes its Temporal name from it
(`@POST_TO_SLACK.defn` instead of `@activity.defn(name="post_to_slack")`), and mypy checks that its
signature matches the declared types; a workflow calls `await POST_TO_SLACK.run(arg)` and gets the
declared result type. Workflows import this module, not the activity modules themselves: those import
I/O libraries (slack_sdk, asyncpg, openai, aiohttp), which DESIGN.md §3 keeps out of workflow code, so
this module imports only models.

The names are those the recorded histories (tests/workflows/histories) and running workflows use:
never rename one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Generic, TypeVar

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

from zora.assistant import (
    LLM_COMPLETE,
    TOOL_CHECK_VERIFICATION_CODE,
    TOOL_DRAFT_ACTION,
    TOOL_ORDER_STATUS,
    TOOL_PRODUCT_SEARCH,
    TOOL_RECENT_ORDERS,
    TOOL_SEND_VERIFICATION_CODE,
    TOOL_STORE_POLICIES,
    LlmRequest,
    LlmResult,
    ToolInput,
    ToolOutput,
)
from zora.assistant_actions import (
    ACTION_EXECUTE,
    ACTION_POST,
    ACTION_REPORT,
    SUGGEST_CONTEXT,
    SUGGEST_POST,
    ActionOutcome,
    ActionStep,
    SuggestContext,
    SuggestDraft,
    SuggestInput,
)
from zora.assistant_turns import (
    ASSISTANT_DELIVER,
    ASSISTANT_DISCARD_DRAFT,
    ASSISTANT_GATE,
    ASSISTANT_HAND_OVER,
    ASSISTANT_POST_DRAFT,
    ASSISTANT_RECORD_TURN,
    ASSISTANT_SET_STATE,
    ASSISTANT_TURN_CONTEXT,
    AssistantStateChange,
    DeliverAnswer,
    DiscardDraft,
    GateRequest,
    GateResult,
    HandOver,
    PostDraft,
    RecordTurn,
    TurnContext,
    TurnContextRequest,
)
from zora.models import (
    AgentPick,
    ApplyAssignment,
    Assignment,
    BackfillRequest,
    BackfillResult,
    CopyAgentFiles,
    DigestRequest,
    DigestResult,
    EmailTranscript,
    LoadConversation,
    PickAgent,
    PostResult,
    PostToSlack,
    SweepRequest,
    SweepResult,
    Tick,
    TickResult,
)
from zora.shopify.models import (
    ExportReady,
    OrderNotice,
    PageResult,
    ReconcileInput,
    ReconcilePlan,
    SaveWatermark,
    ShopRef,
    SlackErasure,
    SyncPage,
    WebhookBatch,
    WebhookBatchOutcome,
    WebhookOutcome,
    WebhookRef,
)

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")
SelfT = TypeVar("SelfT")


@dataclass(frozen=True)
class ActivityCall(Generic[ArgT, ResultT]):
    """One activity. `dataclasses.replace` adjusts the options of one call (a per-turn timeout)."""

    name: str
    arg_type: type[ArgT]
    result_type: type[ResultT]
    start_to_close_timeout: timedelta
    retry_policy: RetryPolicy | None = None
    heartbeat_timeout: timedelta | None = None
    # A local activity runs in the worker that runs the workflow: no task queue round trip, for short
    # database work.
    local: bool = False

    def defn(self, fn: Callable[[SelfT, ArgT], Awaitable[ResultT]]) -> Callable[[SelfT, ArgT], Awaitable[ResultT]]:
        """The implementation's decorator: registers it under this name (and types it against this call)."""
        return activity.defn(name=self.name)(fn)

    async def run(self, arg: ArgT) -> ResultT:
        """From workflow code only."""
        if self.local:
            result: ResultT = await workflow.execute_local_activity(
                self.name,
                arg,
                result_type=self.result_type,
                start_to_close_timeout=self.start_to_close_timeout,
                retry_policy=self.retry_policy,
            )
            return result
        result = await workflow.execute_activity(
            self.name,
            arg,
            result_type=self.result_type,
            start_to_close_timeout=self.start_to_close_timeout,
            heartbeat_timeout=self.heartbeat_timeout,
            retry_policy=self.retry_policy,
        )
        return result


# --------------------------------------------------------------------------- conversation (activities/conversation.py)
# Database work runs as local activities, retried quickly.
LOCAL_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=30)
)
_LOCAL_TIMEOUT = timedelta(seconds=15)
# Slack can be down or rate limiting for a long time; a 429 sets its own delay (Retry-After).
SLACK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=5)
)

POST_TO_SLACK = ActivityCall("post_to_slack", PostToSlack, PostResult, timedelta(seconds=60), SLACK_RETRY)
TICK = ActivityCall("tick", Tick, TickResult, _LOCAL_TIMEOUT, LOCAL_RETRY, local=True)
LOAD_CONVERSATION = ActivityCall(
    "load_conversation", LoadConversation, Assignment, _LOCAL_TIMEOUT, LOCAL_RETRY, local=True
)
PICK_AGENT = ActivityCall("pick_agent", PickAgent, AgentPick, _LOCAL_TIMEOUT, LOCAL_RETRY, local=True)
APPLY_ASSIGNMENT = ActivityCall(
    "apply_assignment", ApplyAssignment, type(None), _LOCAL_TIMEOUT, LOCAL_RETRY, local=True
)
# --------------------------------------------------------------------------- sweep (activities/sweep.py, activities/backfill.py)
# Temporal's default retries: the schedule runs the sweep again a minute later anyway.
SWEEP_UNDELIVERED = ActivityCall("sweep_undelivered", SweepRequest, SweepResult, timedelta(minutes=2))
# No retries: the next sweep, a minute later, reads on from where this one got.
BACKFILL_REPLIES = ActivityCall(
    "backfill_replies", BackfillRequest, BackfillResult, timedelta(minutes=2), RetryPolicy(maximum_attempts=1)
)

# Copying a file from Slack (activities/files.py): the activity itself gives up (marks it failed) on its
# last tries.
FILE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=10,
)
COPY_AGENT_FILES = ActivityCall("copy_agent_files", CopyAgentFiles, int, timedelta(minutes=5), FILE_RETRY)

# --------------------------------------------------------------------------- mail (activities/email.py)
# A transient failure (4xx, the server unreachable) is tried again for about ten minutes, then given up;
# the activity records the outcome on its last attempt. A permanent one (5xx, a refused address) is not
# retried at all (non_retryable). Never an endless loop.
MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=8,
)
EMAIL_TRANSCRIPT = ActivityCall("email_transcript", EmailTranscript, bool, timedelta(seconds=60), MAIL_RETRY)
EMAIL_UNSEEN_REPLIES = ActivityCall(
    "email_unseen_replies", DigestRequest, DigestResult, timedelta(seconds=60), MAIL_RETRY
)

# --------------------------------------------------------------------------- Shopify (activities/shopify.py)
_DB_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30))
_SHOPIFY_SLACK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1), maximum_attempts=8
)
_SHOPIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5), maximum_attempts=12
)
_30S = timedelta(seconds=30)
# A local activity: the delivery is a few statements in one transaction, no extra round trips.
SHOPIFY_APPLY_WEBHOOK = ActivityCall("shopify_apply_webhook", WebhookRef, WebhookOutcome, _30S, _DB_RETRY, local=True)
# Several deliveries of one shop in one local activity: one workflow, not one per delivery, under load.
SHOPIFY_APPLY_WEBHOOKS = ActivityCall(
    "shopify_apply_webhooks", WebhookBatch, WebhookBatchOutcome, timedelta(seconds=60), _DB_RETRY, local=True
)
SHOPIFY_REMOVE_SCHEDULE = ActivityCall("shopify_remove_schedule", ShopRef, bool, _30S, _DB_RETRY)
SHOPIFY_ERASE_IN_SLACK = ActivityCall(
    "shopify_erase_in_slack",
    SlackErasure,
    int,
    timedelta(minutes=10),
    _SHOPIFY_SLACK_RETRY,
    heartbeat_timeout=timedelta(seconds=60),
)
SHOPIFY_ANNOUNCE_EXPORT = ActivityCall("shopify_announce_export", ExportReady, bool, _30S, _SHOPIFY_SLACK_RETRY)
SHOPIFY_POST_ORDER_NOTICE = ActivityCall("shopify_post_order_notice", OrderNotice, bool, _30S, _SHOPIFY_SLACK_RETRY)
SHOPIFY_RECONCILE_PLAN = ActivityCall("shopify_reconcile_plan", ReconcileInput, ReconcilePlan, _30S, _DB_RETRY)
SHOPIFY_SYNC_PAGE = ActivityCall("shopify_sync_page", SyncPage, PageResult, timedelta(minutes=2), _SHOPIFY_RETRY)
SHOPIFY_SAVE_WATERMARK = ActivityCall("shopify_save_watermark", SaveWatermark, type(None), _30S, _DB_RETRY)

# --------------------------------------------------------------------------- assistant (activities/llm.py, assistant_tools.py)
# Model calls: a rate limit's Retry-After replaces the interval (next_retry_delay); a few attempts, then
# the turn gives up and a person takes over (a shopper will not wait minutes for an AI answer).
LLM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=4,
)
# The turn sets both timeouts from its OPENAI_TIMEOUT_SECONDS (dataclasses.replace): the SDK's own timeout
# ends a silent call first, the start-to-close one bounds a slow stream.
LLM_COMPLETE_CALL = ActivityCall(
    LLM_COMPLETE, LlmRequest, LlmResult, timedelta(seconds=60), LLM_RETRY, heartbeat_timeout=timedelta(seconds=30)
)
# Tools read our own database: quick, and retried briefly.
TOOL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=3
)
TOOL_TIMEOUT = timedelta(seconds=20)
STORE_POLICIES = ActivityCall(TOOL_STORE_POLICIES, ToolInput, ToolOutput, TOOL_TIMEOUT, TOOL_RETRY)
# Each tool's activity by the activity name zora.assistant.TOOLS_BY_NAME gives: the model picks at run time.
TOOL_CALLS: dict[str, ActivityCall[ToolInput, ToolOutput]] = {STORE_POLICIES.name: STORE_POLICIES}

# --------------------------------------------------------------------------- drafted actions, suggested replies (activities/actions.py, ai-actions)
DRAFT_ACTION = ActivityCall(TOOL_DRAFT_ACTION, ToolInput, ToolOutput, TOOL_TIMEOUT, TOOL_RETRY)
TOOL_CALLS[DRAFT_ACTION.name] = DRAFT_ACTION
# Slack and Shopify: a 429 sets its own delay; bounded, then the action is reported as failed.
_ACTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
)
ACTION_POST_CALL = ActivityCall(ACTION_POST, ActionStep, type(None), _30S, _ACTION_RETRY)
ACTION_EXECUTE_CALL = ActivityCall(ACTION_EXECUTE, ActionStep, ActionOutcome, timedelta(minutes=2), _ACTION_RETRY)
ACTION_REPORT_CALL = ActivityCall(ACTION_REPORT, ActionStep, ActionOutcome, _30S, _ACTION_RETRY)
SUGGEST_CONTEXT_CALL = ActivityCall(SUGGEST_CONTEXT, SuggestInput, SuggestContext, _LOCAL_TIMEOUT, LOCAL_RETRY)
SUGGEST_POST_CALL = ActivityCall(SUGGEST_POST, SuggestDraft, type(None), _30S, _ACTION_RETRY)

# The lookups and identity codes (activities/assistant_tools.py). Sending a code is not retried by
# Temporal: each attempt would send (and count) another code; the tool answers a mail failure itself.
ORDER_STATUS = ActivityCall(TOOL_ORDER_STATUS, ToolInput, ToolOutput, TOOL_TIMEOUT, TOOL_RETRY)
RECENT_ORDERS = ActivityCall(TOOL_RECENT_ORDERS, ToolInput, ToolOutput, TOOL_TIMEOUT, TOOL_RETRY)
PRODUCT_SEARCH = ActivityCall(TOOL_PRODUCT_SEARCH, ToolInput, ToolOutput, TOOL_TIMEOUT, TOOL_RETRY)
SEND_VERIFICATION_CODE = ActivityCall(
    TOOL_SEND_VERIFICATION_CODE, ToolInput, ToolOutput, timedelta(seconds=60), RetryPolicy(maximum_attempts=1)
)
CHECK_VERIFICATION_CODE = ActivityCall(TOOL_CHECK_VERIFICATION_CODE, ToolInput, ToolOutput, TOOL_TIMEOUT, TOOL_RETRY)
TOOL_CALLS.update(
    {c.name: c for c in (ORDER_STATUS, RECENT_ORDERS, PRODUCT_SEARCH, SEND_VERIFICATION_CODE, CHECK_VERIFICATION_CODE)}
)

# --------------------------------------------------------------------------- assistant in conversations (activities/assistant_turns.py)
# Database reads and writes around a turn: local, like the conversation's own.
ASSISTANT_GATE_CALL = ActivityCall(ASSISTANT_GATE, GateRequest, GateResult, _LOCAL_TIMEOUT, LOCAL_RETRY, local=True)
ASSISTANT_TURN_CONTEXT_CALL = ActivityCall(
    ASSISTANT_TURN_CONTEXT, TurnContextRequest, TurnContext, _LOCAL_TIMEOUT, LOCAL_RETRY, local=True
)
ASSISTANT_RECORD_TURN_CALL = ActivityCall(
    ASSISTANT_RECORD_TURN, RecordTurn, type(None), _LOCAL_TIMEOUT, LOCAL_RETRY, local=True
)
# These speak to Slack (the card, the thread): Slack's retries, bounded, since a shopper's answer (or a
# note) that cannot reach Slack in a few minutes is stored and shown to the shopper anyway.
ASSISTANT_SLACK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)
ASSISTANT_SET_STATE_CALL = ActivityCall(
    ASSISTANT_SET_STATE, AssistantStateChange, type(None), _30S, ASSISTANT_SLACK_RETRY
)
ASSISTANT_DELIVER_CALL = ActivityCall(ASSISTANT_DELIVER, DeliverAnswer, int, _30S, ASSISTANT_SLACK_RETRY)
ASSISTANT_POST_DRAFT_CALL = ActivityCall(ASSISTANT_POST_DRAFT, PostDraft, type(None), _30S, ASSISTANT_SLACK_RETRY)
ASSISTANT_DISCARD_DRAFT_CALL = ActivityCall(
    ASSISTANT_DISCARD_DRAFT, DiscardDraft, type(None), _30S, ASSISTANT_SLACK_RETRY
)
ASSISTANT_HAND_OVER_CALL = ActivityCall(ASSISTANT_HAND_OVER, HandOver, type(None), _30S, ASSISTANT_SLACK_RETRY)
