"""SweepWorkflow: run by a Temporal Schedule every minute, hands undelivered messages that a
crashed web process left behind to their conversation workflows, then fetches agent replies that
Slack never delivered (activities/backfill.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from zora.models import BackfillRequest, BackfillResult, SweepRequest, SweepResult


@workflow.defn(name="SweepWorkflow")
class SweepWorkflow:
    @workflow.run
    async def run(self, request: SweepRequest) -> SweepResult:
        result: SweepResult = await workflow.execute_activity(
            "sweep_undelivered", request, result_type=SweepResult, start_to_close_timeout=timedelta(minutes=2)
        )
        try:
            backfill: BackfillResult = await workflow.execute_activity(
                "backfill_replies",
                BackfillRequest(),
                result_type=BackfillResult,
                start_to_close_timeout=timedelta(minutes=2),
                # No retries: the next run, a minute later, reads on from where this one got.
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as exc:
            workflow.logger.warning("reply backfill failed; the next sweep tries again: %s", exc.cause or exc)
            return result
        return result.model_copy(update={"replies_backfilled": backfill.replies_stored})
