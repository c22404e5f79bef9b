"""The minute sweep's schedule is one per namespace: a start with another task queue must move it there."""

from __future__ import annotations

from typing import Any

from temporalio.client import ScheduleActionStartWorkflow

from zora.temporal import SWEEP_SCHEDULE_ID, ensure_sweep_schedule


async def test_the_sweep_schedule_follows_a_change_of_task_queue(infra: Any) -> None:
    client = infra.temporal.client
    handle = client.get_schedule_handle(SWEEP_SCHEDULE_ID)
    try:
        await ensure_sweep_schedule(client, "zora-old-queue")
        await ensure_sweep_schedule(client, "zora-new-queue")
        action = (await handle.describe()).schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.task_queue == "zora-new-queue"
    finally:
        # Whoever needs it next creates it again for its own queue.
        await handle.delete()
