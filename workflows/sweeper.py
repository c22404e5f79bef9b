"""SweepWorkflow: run by a Temporal Schedule every minute, hands undelivered messages that a
crashed web process left behind to their conversation workflows."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from zora.models import SweepRequest, SweepResult


@workflow.defn(name="SweepWorkflow")
class SweepWorkflow:
    @workflow.run
    async def run(self, request: SweepRequest) -> SweepResult:
        result: SweepResult = await workflow.execute_activity(
            "sweep_undelivered", request, result_type=SweepResult, start_to_close_timeout=timedelta(minutes=2)
        )
        return result
