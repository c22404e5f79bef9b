"""The benchmark's one-step workflow: the first model call of an assistant turn, streamed to a
conversation (what AssistantTurnWorkflow's first step does once the conversation starts turns that
stream). It runs on a bench worker of its own; its `llm_complete` activity goes to Zora's task queue,
to Zora's worker and its LlmActivities, with the turn's options (timeouts, retries). And Temporal's floor:
a workflow of activities that do nothing, on the bench worker."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from activities.calls import LLM_COMPLETE_CALL
    from zora.assistant import LlmRequest, LlmResult


@workflow.defn(name="BenchFirstStepWorkflow")
class FirstStepWorkflow:
    @workflow.run
    async def run(self, request: LlmRequest, task_queue: str) -> LlmResult:
        call = LLM_COMPLETE_CALL
        result: LlmResult = await workflow.execute_activity(
            call.name,
            request,
            result_type=LlmResult,
            task_queue=task_queue,
            start_to_close_timeout=call.start_to_close_timeout,
            heartbeat_timeout=call.heartbeat_timeout,
            retry_policy=call.retry_policy,
        )
        return result


@activity.defn(name="bench_noop")
async def noop(value: int) -> int:
    return value


@workflow.defn(name="BenchNoopStepsWorkflow")
class NoopStepsWorkflow:
    """Temporal's own floor for a turn's steps: `steps` activities that do nothing, one after the other."""

    @workflow.run
    async def run(self, steps: int) -> int:
        for step in range(steps):
            await workflow.execute_activity(noop, step, start_to_close_timeout=timedelta(seconds=30))
        return steps
