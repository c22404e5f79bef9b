"""The worker process: runs conversation workflows and their activities."""

from __future__ import annotations

from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.conversation import ConversationActivities
from widget.emitter import ShopperEmitter
from workflows.conversation import ConversationWorkflow
from zora.services import Services


def build_worker(services: Services, emitter: ShopperEmitter, *, task_queue: str | None = None) -> Worker:
    activities = ConversationActivities(services.pool, services.slack, emitter)
    return Worker(
        services.temporal,
        task_queue=task_queue or services.settings.temporal_task_queue,
        workflows=[ConversationWorkflow],
        activities=activities.all(),
        workflow_runner=SandboxedWorkflowRunner(
            # Models are pure data; importing them once outside the sandbox keeps each run cheap.
            restrictions=SandboxRestrictions.default.with_passthrough_modules("zora.models", "pydantic")
        ),
    )
