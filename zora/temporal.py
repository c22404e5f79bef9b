"""Temporal client, and every call Zora makes on its workflows from outside them.

The one place where the web process, the Slack listeners, webhooks and activities start, signal,
update and query workflows and manage schedules. Workflows are named by the declarations in
zora/workflow_api.py (the core may not import workflows/), so every call is checked by mypy.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from temporalio import workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowHandle,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode, TLSConfig
from temporalio.types import MethodAsyncSingleParam
from temporalio.workflow import UpdateMethodMultiParam

from zora.assistant_actions import (
    ActionInput,
    Decision,
    DecisionResult,
    SuggestInput,
    action_workflow_id,
    suggest_workflow_id,
)
from zora.assistant_turns import DraftDecided, DraftDecision, PersonAsked, ShopperWrote
from zora.models import (
    SA_SHOP,
    SA_STATUS,
    AgentAction,
    Assignment,
    ConversationConfig,
    ConversationInput,
    ConversationOutcome,
    ConversationRef,
    ConversationState,
    MissedRepliesConfig,
    MissedRepliesInput,
    Opened,
    PendingReplies,
    PostPendingToSlack,
    SweepRequest,
    conversation_workflow_id,
    missed_replies_workflow_id,
)
from zora.settings import Settings
from zora.shopify.models import (
    ReconcileInput,
    WebhookBatch,
    WebhookRef,
    reconcile_schedule_id,
    reconcile_workflow_id,
    webhook_batch_workflow_id,
    webhook_workflow_id,
)
from zora.tracing import temporal_interceptors
from zora.workflow_api import (
    ActionApprovalApi,
    ConversationApi,
    MissedRepliesApi,
    ShopifyReconcileApi,
    ShopifyWebhookApi,
    ShopifyWebhookBatchApi,
    SuggestReplyApi,
    SweepApi,
)

log = logging.getLogger(__name__)

SWEEP_SCHEDULE_ID = "zora-sweep-undelivered"

ArgT = TypeVar("ArgT")


async def connect(address: str, namespace: str, *, tls: bool | TLSConfig = False, api_key: str | None = None) -> Client:
    return await Client.connect(
        address,
        namespace=namespace,
        data_converter=pydantic_data_converter,
        tls=tls,
        api_key=api_key,
        interceptors=temporal_interceptors(),
    )


def signal_name(signal: Callable[[Any, Any], object]) -> str:
    """The name Temporal registered a signal method under: `start_signal` takes a name, not the method.

    The SDK resolves method references this way itself (handle.signal); its helper is exported but
    underscored, so it is used in this one place only.
    """
    return workflow._SignalDefinition.must_name_from_fn_or_str(signal)


class Conversations:
    """Every call Zora makes on a ConversationWorkflow, from the web process, Slack listeners and activities."""

    def __init__(self, client: Client, task_queue: str, config: ConversationConfig) -> None:
        self.client = client
        self.task_queue = task_queue
        self.config = config

    @classmethod
    def from_settings(cls, client: Client, settings: Settings) -> Conversations:
        return cls(client, settings.temporal_task_queue, conversation_config(settings))

    async def signal(
        self, ref: ConversationRef, signal: Callable[[ConversationApi, ArgT], Awaitable[None] | None], arg: ArgT
    ) -> None:
        """Signal-with-start: durable once this returns; starts a run when none is open.

        A closed conversation gets a fresh run (its state lives in PostgreSQL, not in the old run).
        """
        await self.client.start_workflow(
            ConversationApi.run,
            ConversationInput(ref=ref, config=self.config),
            id=conversation_workflow_id(ref.shop, ref.conversation_id),
            task_queue=self.task_queue,
            start_signal=signal_name(signal),
            start_signal_args=[arg],
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(SA_SHOP, ref.shop), SearchAttributePair(SA_STATUS, "open")]
            ),
        )

    async def opened(self, ref: ConversationRef, at: datetime) -> None:
        """The first message was posted (or handed over): the run may assign the conversation now."""
        await self.signal(ref, ConversationApi.opened, Opened(at=at))

    async def hand_over(self, ref: ConversationRef, retry_after: float) -> None:
        """The fast path could not post to Slack: the workflow delivers with Temporal's retries."""
        await self.signal(
            ref,
            ConversationApi.post_pending,
            PostPendingToSlack(reason="fast path failed", retry_after_seconds=retry_after),
        )

    def _handle(self, shop: str, conversation_id: UUID) -> WorkflowHandle[ConversationApi, ConversationOutcome]:
        return self.client.get_workflow_handle_for(ConversationApi.run, conversation_workflow_id(shop, conversation_id))

    async def update(
        self,
        ref: ConversationRef,
        update: UpdateMethodMultiParam[[Any, AgentAction], Assignment],
        action: AgentAction,
    ) -> Assignment:
        """A command with an answer (claim, release, resolve, reopen); RPCError when no run is open."""
        return await self._handle(ref.shop, ref.conversation_id).execute_update(update, action)

    async def signal_running(
        self,
        shop: str,
        conversation_id: UUID,
        signal: Callable[[ConversationApi, ArgT], Awaitable[None] | None],
        arg: ArgT,
    ) -> None:
        """A signal for the open run only (RPCError NOT_FOUND when there is none): nothing is started."""
        await self._handle(shop, conversation_id).signal(signal, arg)

    async def snapshot(self, shop: str, conversation_id: UUID) -> ConversationState:
        return await self._handle(shop, conversation_id).query(ConversationApi.snapshot)

    # The assistant (issue 12): only shops whose assistant is on send these.
    async def shopper_wrote(self, ref: ConversationRef, seq: int) -> None:
        """A shopper message is stored: the workflow decides whether the assistant answers it."""
        await self.signal(ref, ConversationApi.shopper_wrote, ShopperWrote(seq=seq))

    async def ask_for_person(self, ref: ConversationRef, reason: str) -> None:
        await self.signal(ref, ConversationApi.ask_for_person, PersonAsked(reason=reason))

    async def decide_draft(self, ref: ConversationRef, decision: DraftDecision) -> DraftDecided:
        """Send or Discard on the assistant's draft; WorkflowUpdateFailedError when it is stale."""
        return await self._handle(ref.shop, ref.conversation_id).execute_update(ConversationApi.decide_draft, decision)


def conversation_config(settings: Settings) -> ConversationConfig:
    return ConversationConfig(idle_close_seconds=settings.idle_close_hours * 3600)


async def start_missed_replies(
    client: Client, task_queue: str, ref: ConversationRef, config: MissedRepliesConfig, upto_seq: int
) -> None:
    """Signal-with-start `deliver:{conversation}`: a running wait hears of the newer reply."""
    await client.start_workflow(
        MissedRepliesApi.run,
        MissedRepliesInput(ref=ref, config=config),
        id=missed_replies_workflow_id(ref.conversation_id),
        task_queue=task_queue,
        start_signal=signal_name(MissedRepliesApi.pending),
        start_signal_args=[PendingReplies(upto_seq=upto_seq)],
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


async def start_webhook(client: Client, task_queue: str, ref: WebhookRef) -> None:
    """`shopify:wh:{webhook id}`; WorkflowAlreadyStartedError when this delivery was started before."""
    await _start_for_shop(
        client,
        ShopifyWebhookApi.run,
        ref,
        workflow_id=webhook_workflow_id(ref.webhook_id),
        task_queue=task_queue,
        shop=ref.shop,
        summary=f"{ref.topic} for {ref.shop}",
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        # A worker in this process takes the first task straight from the start's answer.
        request_eager_start=True,
    )


async def start_webhook_batch(client: Client, task_queue: str, batch: WebhookBatch) -> None:
    """Several deliveries of one shop in one workflow (`shopify:whb:{first webhook id}:{digest}`)."""
    first = batch.refs[0]
    await _start_for_shop(
        client,
        ShopifyWebhookBatchApi.run,
        batch,
        workflow_id=webhook_batch_workflow_id(batch.refs),
        task_queue=task_queue,
        shop=first.shop,
        summary=f"{len(batch.refs)} deliveries for {first.shop}",
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        request_eager_start=True,
    )


async def start_import(client: Client, task_queue: str, shop: str) -> None:
    """The full import; a second start while one runs joins it instead of doubling the work."""
    await _start_for_shop(
        client,
        ShopifyReconcileApi.run,
        ReconcileInput(shop=shop, full=True),
        workflow_id=f"shopify:import:{shop}",
        task_queue=task_queue,
        shop=shop,
        summary=f"initial import of {shop}",
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def _start_for_shop(
    client: Client,
    run: MethodAsyncSingleParam[Any, ArgT, Any],
    arg: ArgT,
    *,
    workflow_id: str,
    task_queue: str,
    shop: str,
    summary: str,
    # The SDK's defaults unless a caller says otherwise.
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    id_conflict_policy: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.UNSPECIFIED,
    request_eager_start: bool = False,
) -> None:
    """A Shopify workflow of one shop: listed under its shop (ZoraShop) and summarised in Temporal's UI."""
    await client.start_workflow(
        run,
        arg,
        id=workflow_id,
        task_queue=task_queue,
        id_reuse_policy=id_reuse_policy,
        id_conflict_policy=id_conflict_policy,
        search_attributes=TypedSearchAttributes([SearchAttributePair(SA_SHOP, shop)]),
        static_summary=summary,
        request_eager_start=request_eager_start,
    )


def reconcile_schedule(settings: Settings, shop: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ShopifyReconcileApi.run,
            ReconcileInput(shop=shop),
            id=reconcile_workflow_id(shop),
            task_queue=settings.temporal_task_queue,
            typed_search_attributes=TypedSearchAttributes([SearchAttributePair(SA_SHOP, shop)]),
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(minutes=settings.shopify_reconcile_every_minutes))],
            # Spread shops over the hour so they do not all hit Shopify and PostgreSQL at :00.
            jitter=timedelta(minutes=settings.shopify_reconcile_jitter_minutes),
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_reconcile_schedule(client: Client, settings: Settings, shop: str) -> None:
    """Created, or brought up to date with the settings (interval, jitter, task queue)."""
    await _create_or_update(client, reconcile_schedule_id(shop), reconcile_schedule(settings, shop))


async def _create_or_update(client: Client, schedule_id: str, schedule: Schedule) -> None:
    try:
        await client.create_schedule(schedule_id, schedule)
        log.info("created schedule %s", schedule_id)
    except ScheduleAlreadyRunningError:

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(update)


async def remove_reconcile_schedule(client: Client, shop: str) -> bool:
    """False when there was none."""
    try:
        await client.get_schedule_handle(reconcile_schedule_id(shop)).delete()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def ensure_sweep_schedule(client: Client, task_queue: str, every: timedelta = timedelta(minutes=1)) -> None:
    """The schedule that hands stale undelivered messages to their workflows: created, or brought up to
    date (one per namespace: after a change of task queue it must start the sweep on the new one)."""
    await _create_or_update(
        client,
        SWEEP_SCHEDULE_ID,
        Schedule(
            action=ScheduleActionStartWorkflow(SweepApi.run, SweepRequest(), id="zora-sweep", task_queue=task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        ),
    )


# ---------------------------------------------------------------------- drafted actions, suggestions (ai-actions)


async def start_action_approval(client: Client, task_queue: str, input: ActionInput) -> None:
    """`action:{id}`, once: a retried tool activity finds the draft's workflow started (or finished)."""
    # Finished already (WorkflowAlreadyStartedError): that draft was decided.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            ActionApprovalApi.run,
            input,
            id=action_workflow_id(input.action_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )


async def decide_action(client: Client, action_id: UUID, decision: Decision) -> DecisionResult:
    """The agent's Approve or Deny. WorkflowUpdateFailedError when the workflow refuses it (another
    shop's agent, decided before, expired); RPCError when the workflow is over."""
    handle = client.get_workflow_handle_for(ActionApprovalApi.run, action_workflow_id(action_id))
    return await handle.execute_update(ActionApprovalApi.decide, decision)


async def start_suggestion(client: Client, task_queue: str, input: SuggestInput, nonce: str) -> None:
    await client.start_workflow(
        SuggestReplyApi.run,
        input,
        id=suggest_workflow_id(input.conversation_id, nonce),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
