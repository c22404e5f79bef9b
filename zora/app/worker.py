"""The worker process: runs conversation workflows, the sweep, and their activities."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.actions import ActionActivities
from activities.assistant_tools import AssistantToolActivities
from activities.assistant_turns import AssistantTurnActivities
from activities.backfill import ReplyBackfill
from activities.conversation import ConversationActivities
from activities.email import EmailActivities
from activities.files import FileActivities
from activities.llm import LlmActivities
from activities.shopify import ShopifyActivities
from activities.suggest import SuggestActivities
from activities.sweep import SweepActivities
from bot.outbound import SlackOutbound
from widget.emitter import ShopperEmitter, close_shopper_sockets
from workflows.actions import ActionApprovalWorkflow, SuggestReplyWorkflow
from workflows.assistant import AssistantTurnWorkflow
from workflows.conversation import ConversationWorkflow
from workflows.missed_replies import MissedRepliesWorkflow
from workflows.shopify import ShopifyReconcileWorkflow, ShopifyWebhookBatchWorkflow, ShopifyWebhookWorkflow
from workflows.sweeper import SweepWorkflow
from zora.mail import Mailer
from zora.missed_replies import MissedReplies
from zora.sentry_temporal import SentryInterceptor
from zora.services import Services
from zora.shopify.customers import CustomerDirectory
from zora.slack_api import SlackWorkspaces
from zora.temporal import Conversations, conversation_config

# Clients a built worker's activities hold (the model's HTTP pool), closed by close_worker_clients once
# the worker is done with: a Worker has no hook of its own for them.
_CLOSERS: weakref.WeakKeyDictionary[Worker, list[Callable[[], Awaitable[None]]]] = weakref.WeakKeyDictionary()


async def close_worker_clients(worker: Worker) -> None:
    for close in _CLOSERS.pop(worker, []):
        await close()


def build_worker(services: Services, emitter: ShopperEmitter, *, task_queue: str | None = None) -> Worker:
    settings = services.settings
    queue = task_queue or settings.temporal_task_queue
    directory = CustomerDirectory(services.pool, settings)
    workspaces = SlackWorkspaces(services.slack, services.pool, settings)
    outbound = SlackOutbound(services.pool, services.slack, emitter, directory, settings.public_url, workspaces)
    conversations = ConversationActivities(services.pool, outbound)
    sweep = SweepActivities(
        services.pool,
        Conversations(services.temporal, queue, conversation_config(settings)),
        services.slack,
        workspaces,
    )

    async def close_sockets(shopper_ids: list[UUID]) -> int:
        return await close_shopper_sockets(services.redis, emitter.disconnect, shopper_ids)

    shopify = ShopifyActivities(services.pool, services.temporal, services.slack, settings, close_sockets, workspaces)
    email = EmailActivities(services.pool, Mailer(settings), settings)
    files = FileActivities(services.pool, emitter, settings, outbound)
    backfill = ReplyBackfill.from_services(services, emitter)
    # The assistant's model client (no connection until a turn calls it; closed with the worker).
    llm = LlmActivities(settings, emitter=emitter, pool=services.pool, workspaces=workspaces)
    # The assistant in conversations (issue 12 §2 §6), drafted actions and agent assist (§6, §7).
    missed = MissedReplies.from_settings(services.redis, services.temporal, settings)
    assist = [
        *AssistantTurnActivities(services.pool, outbound, settings).all(),
        *ActionActivities(services.pool, services.temporal, settings, workspaces, emitter, missed).all(),
        *SuggestActivities(services.pool, workspaces).all(),
    ]
    # Building the worker imports every workflow module in Temporal's sandbox. On Python 3.11 a
    # garbage collection that runs a finalizer during those imports can break them (CPython bug
    # 91351: "Failed validating workflow", KeyError <thread id>; temporalio/sdk-python#585), so
    # automatic collection waits until the worker is built.
    collecting = gc.isenabled()
    gc.disable()
    try:
        worker = _worker(services, queue, conversations, sweep, shopify, email, files, backfill, llm, assist)
    finally:
        if collecting:
            gc.enable()
    _CLOSERS[worker] = [llm.close]
    return worker


def _worker(
    services: Services,
    queue: str,
    conversations: ConversationActivities,
    sweep: SweepActivities,
    shopify: ShopifyActivities,
    email: EmailActivities,
    files: FileActivities,
    backfill: ReplyBackfill,
    llm: LlmActivities,
    assist: list[Any],
) -> Worker:
    return Worker(
        services.temporal,
        task_queue=queue,
        workflows=[
            ConversationWorkflow,
            SweepWorkflow,
            ShopifyWebhookWorkflow,
            ShopifyWebhookBatchWorkflow,
            ShopifyReconcileWorkflow,
            MissedRepliesWorkflow,
            # Children of ConversationWorkflow, one per shopper message the assistant answers (issue 12).
            AssistantTurnWorkflow,
            ActionApprovalWorkflow,
            SuggestReplyWorkflow,
        ],
        activities=[
            *conversations.all(),
            sweep.sweep_undelivered,
            backfill.backfill_replies,
            *shopify.all(),
            *email.all(),
            *files.all(),
            *llm.all(),
            *AssistantToolActivities(services.pool, Mailer(services.settings)).all(),
            *assist,
        ],
        # Activity and workflow failures to Sentry, with their conversation (when SENTRY_DSN is set).
        interceptors=[SentryInterceptor()],
        workflow_runner=SandboxedWorkflowRunner(
            # Models are pure data; importing them once outside the sandbox keeps each run cheap.
            restrictions=SandboxRestrictions.default.with_passthrough_modules(
                "zora.models",
                "zora.assistant",
                "zora.assistant_actions",
                "zora.assistant_turns",
                "pydantic",
                "opentelemetry",
            )
        ),
    )
