"""SweepWorkflow: run by a Temporal Schedule every minute, hands undelivered messages that a
crashed web process left behind to their conversation workflows, then fetches agent replies that
Slack never delivered (activities/backfill.py)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.calls import BACKFILL_REPLIES, SWEEP_UNDELIVERED
    from zora.workflow_api import SweepApi
from zora.models import BackfillRequest, SweepRequest, SweepResult


@workflow.defn(name="SweepWorkflow")
class SweepWorkflow(SweepApi):
    @workflow.run
    async def run(self, request: SweepRequest) -> SweepResult:
        result = await SWEEP_UNDELIVERED.run(request)
        try:
            # Not retried (see BACKFILL_REPLIES): the next run, a minute later, reads on from here.
            backfill = await BACKFILL_REPLIES.run(BackfillRequest())
        except ActivityError as exc:
            workflow.logger.warning("reply backfill failed; the next sweep tries again: %s", exc.cause or exc)
            return result
        return result.model_copy(update={"replies_backfilled": backfill.replies_stored})
