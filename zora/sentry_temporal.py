"""Activity and workflow failures of the worker reported to Sentry, tagged with their conversation.

sentry-sdk has no Temporal integration, and the SDK logs these failures as warnings (below what Sentry's
logging integration sends), so a worker interceptor reports them. Nothing is sent unless SENTRY_DSN
initialised Sentry (zora.logs.setup_sentry); its scrubbing applies to these events like any other.

Rate limits (Slack's or Shopify's 429, retried by Temporal after Retry-After) are expected and not sent.
A workflow's failure is reported from the workflow's first execution only, never while it is replayed.
"""

from __future__ import annotations

import re
from typing import Any

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

with workflow.unsafe.imports_passed_through():
    import sentry_sdk

    from zora.logs import conversation_id_var

# Workflow ids that name a conversation: conv:{shop}:{id}, deliver:{id}, turn:{id}:{seq}.
_CONVERSATION = re.compile(r"^(?:conv:[^:]+:|deliver:|turn:)([0-9a-f-]{36})(?::|$)")


def conversation_of(workflow_id: str | None) -> str | None:
    match = _CONVERSATION.match(workflow_id or "")
    return match.group(1) if match else None


def _expected(exc: BaseException) -> bool:
    return isinstance(exc, ApplicationError) and (exc.type or "").endswith("RateLimited")


def _report(exc: BaseException, kind: str, tags: dict[str, Any]) -> None:
    if not sentry_sdk.get_client().is_active():
        return
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("temporal.kind", kind)
        for key, value in tags.items():
            if value is not None:
                scope.set_tag(key, str(value))
        sentry_sdk.capture_exception(exc)


class SentryInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _WorkflowInbound


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except Exception as exc:
            if not _expected(exc):
                info = activity.info()
                _report(
                    exc,
                    "activity",
                    {
                        # Set by the activity itself (zora.logs); else read from its workflow's id.
                        "conversation_id": conversation_id_var.get() or conversation_of(info.workflow_id),
                        "activity": info.activity_type,
                        "workflow_type": info.workflow_type,
                        "workflow_id": info.workflow_id,
                        "attempt": info.attempt,
                    },
                )
            raise


class _WorkflowInbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        try:
            return await super().execute_workflow(input)
        except Exception as exc:
            if not _expected(exc) and not workflow.unsafe.is_replaying():
                info = workflow.info()
                # Sending is I/O, which the sandbox forbids, and sentry-sdk imports modules as it goes;
                # neither changes anything the workflow sees.
                with workflow.unsafe.sandbox_unrestricted(), workflow.unsafe.imports_passed_through():
                    _report(
                        exc,
                        "workflow",
                        {
                            "conversation_id": conversation_of(info.workflow_id),
                            "workflow_type": info.workflow_type,
                            "workflow_id": info.workflow_id,
                        },
                    )
            raise
