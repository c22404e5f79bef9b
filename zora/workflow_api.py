"""The workflows as the rest of Zora calls them: names and signatures, no behaviour.

The core may not import workflows/ (DESIGN.md §2), yet clients should call a workflow, its signals,
updates and queries by reference, so that mypy checks arguments and results. So each workflow that
something starts or signals is declared here, and its implementation in workflows/ subclasses the
declaration: mypy checks that every override keeps the declared signature, and Temporal refuses (at
import) a workflow class that leaves a declared handler undecorated or names it differently. Clients
pass these methods (`ConversationApi.assign`) to zora/temporal.py, which passes them to the SDK.

The names here are the ones running workflows and the recorded histories use: never rename one.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from zora.assistant_actions import ActionInput, ActionOutcome, Decision, DecisionResult, SuggestInput
from zora.assistant_turns import DraftDecided, DraftDecision, PersonAsked, ShopperWrote
from zora.models import (
    AgentAction,
    Assignment,
    CloseRequest,
    ConversationInput,
    ConversationOutcome,
    ConversationState,
    FilesShared,
    MissedRepliesInput,
    MissedRepliesOutcome,
    Opened,
    PendingReplies,
    PostPendingToSlack,
    SettingsChanged,
    SweepRequest,
    SweepResult,
)
from zora.shopify.models import (
    ReconcileInput,
    ReconcileResult,
    WebhookBatch,
    WebhookBatchOutcome,
    WebhookOutcome,
    WebhookRef,
)


def _declared() -> NotImplementedError:
    return NotImplementedError("a declaration: the workflow in workflows/ implements it")


@workflow.defn(name="ConversationWorkflow")
class ConversationApi:
    """`conv:{shop}:{conversation}` (workflows/conversation.py)."""

    @workflow.run
    async def run(self, input: ConversationInput) -> ConversationOutcome:
        raise _declared()

    @workflow.signal
    async def opened(self, signal: Opened) -> None:
        raise _declared()

    @workflow.signal
    async def agent_replied(self, action: AgentAction) -> None:
        raise _declared()

    # Registered as "deliver" (the name running workflows and recorded histories use).
    @workflow.signal(name="deliver")
    def post_pending(self, request: PostPendingToSlack) -> None:
        raise _declared()

    @workflow.signal
    async def files_shared(self, shared: FilesShared) -> None:
        raise _declared()

    @workflow.signal
    async def settings_changed(self, change: SettingsChanged) -> None:
        raise _declared()

    @workflow.signal
    def close(self, request: CloseRequest) -> None:
        raise _declared()

    # Updates are objects, not plain methods, to mypy: `self: Any` lets the implementation's own self
    # type override them (the argument and result types are still checked).
    @workflow.update
    async def assign(self: Any, action: AgentAction) -> Assignment:
        raise _declared()

    @workflow.update
    async def release(self: Any, action: AgentAction) -> Assignment:
        raise _declared()

    @workflow.update
    async def resolve(self: Any, action: AgentAction) -> Assignment:
        raise _declared()

    @workflow.update
    async def reopen(self: Any, action: AgentAction) -> Assignment:
        raise _declared()

    @workflow.query
    def snapshot(self) -> ConversationState:
        raise _declared()

    # The assistant (issue 12 §2 §6, workflows/conversation_assistant.py).
    @workflow.signal
    async def shopper_wrote(self, wrote: ShopperWrote) -> None:
        raise _declared()

    @workflow.signal
    async def ask_for_person(self, asked: PersonAsked) -> None:
        raise _declared()

    @workflow.update
    async def take_over(self: Any, action: AgentAction) -> Assignment:
        raise _declared()

    @workflow.update
    async def decide_draft(self: Any, decision: DraftDecision) -> DraftDecided:
        raise _declared()


@workflow.defn(name="OutboundDeliveryWorkflow")
class MissedRepliesApi:
    """`deliver:{conversation}` (workflows/missed_replies.py)."""

    @workflow.run
    async def run(self, input: MissedRepliesInput) -> MissedRepliesOutcome:
        raise _declared()

    @workflow.signal
    def pending(self, signal: PendingReplies) -> None:
        raise _declared()

    @workflow.query
    def upto_seq(self) -> int:
        raise _declared()


@workflow.defn(name="SweepWorkflow")
class SweepApi:
    """Run by the sweep schedule (workflows/sweeper.py)."""

    @workflow.run
    async def run(self, request: SweepRequest) -> SweepResult:
        raise _declared()


@workflow.defn(name="ShopifyWebhookWorkflow")
class ShopifyWebhookApi:
    """`shopify:wh:{webhook id}` (workflows/shopify.py)."""

    @workflow.run
    async def run(self, ref: WebhookRef) -> WebhookOutcome:
        raise _declared()


@workflow.defn(name="ShopifyWebhookBatchWorkflow")
class ShopifyWebhookBatchApi:
    """`shopify:whb:{first webhook id}:{digest}`: several deliveries of one shop at once (workflows/shopify.py)."""

    @workflow.run
    async def run(self, batch: WebhookBatch) -> WebhookBatchOutcome:
        raise _declared()


@workflow.defn(name="ShopifyReconcileWorkflow")
class ShopifyReconcileApi:
    """Per shop, from its schedule, and once at install (workflows/shopify.py)."""

    @workflow.run
    async def run(self, input: ReconcileInput) -> ReconcileResult:
        raise _declared()


# ---------------------------------------------------------------------- drafted actions, suggestions (ai-actions)
@workflow.defn(name="ActionApprovalWorkflow")
class ActionApprovalApi:
    """`action:{id}` (workflows/actions.py): a drafted action waiting for an agent's Approve or Deny."""

    @workflow.run
    async def run(self, input: ActionInput) -> ActionOutcome:
        raise _declared()

    @workflow.update
    async def decide(self: Any, decision: Decision) -> DecisionResult:
        raise _declared()


@workflow.defn(name="SuggestReplyWorkflow")
class SuggestReplyApi:
    """`suggest:{conversation}:{nonce}` (workflows/actions.py): a reply drafted for one agent."""

    @workflow.run
    async def run(self, input: SuggestInput) -> bool:
        raise _declared()
