"""The worker process: runs conversation workflows, the sweep, and their activities."""

from __future__ import annotations

import gc
from uuid import UUID

from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.assistant_tools import AssistantToolActivities
from activities.backfill import ReplyBackfill
from activities.conversation import ConversationActivities
from activities.email import EmailActivities
from activities.files import FileActivities
from activities.llm import LlmActivities
from activities.shopify import ShopifyActivities
from activities.sweep import SweepActivities
from bot.outbound import SlackOutbound
from widget.emitter import ShopperEmitter, close_shopper_sockets
from workflows.assistant import AssistantTurnWorkflow
from workflows.conversation import ConversationWorkflow
from workflows.missed_replies import MissedRepliesWorkflow
from workflows.shopify import ShopifyReconcileWorkflow, ShopifyWebhookBatchWorkflow, ShopifyWebhookWorkflow
from workflows.sweeper import SweepWorkflow
from zora.mail import Mailer
from zora.sentry_temporal import SentryInterceptor
from zora.services import Services
from zora.shopify.customers import CustomerDirectory
from zora.slack_api import SlackWorkspaces
from zora.temporal import Conversations, conversation_config


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
    # The assistant's model client (no connection until a turn calls it; the process's end closes it).
    llm = LlmActivities(settings)
    # Building the worker imports every workflow module in Temporal's sandbox. On Python 3.11 a
    # garbage collection that runs a finalizer during those imports can break them (CPython bug
    # 91351: "Failed validating workflow", KeyError <thread id>; temporalio/sdk-python#585), so
    # automatic collection waits until the worker is built.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _worker(services, queue, conversations, sweep, shopify, email, files, backfill, llm)
    finally:
        if collecting:
            gc.enable()


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
            # Registered, not yet started by anything: ConversationWorkflow will start turns (issue 12).
            AssistantTurnWorkflow,
        ],
        activities=[
            *conversations.all(),
            sweep.sweep_undelivered,
            backfill.backfill_replies,
            *shopify.all(),
            *email.all(),
            *files.all(),
            *llm.all(),
            *AssistantToolActivities(services.pool).all(),
        ],
        # Activity and workflow failures to Sentry, with their conversation (when SENTRY_DSN is set).
        interceptors=[SentryInterceptor()],
        workflow_runner=SandboxedWorkflowRunner(
            # Models are pure data; importing them once outside the sandbox keeps each run cheap.
            restrictions=SandboxRestrictions.default.with_passthrough_modules(
                "zora.models", "zora.assistant", "pydantic", "opentelemetry"
            )
        ),
    )
