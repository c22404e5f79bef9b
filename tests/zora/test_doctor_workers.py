"""`zora doctor` says whether workers poll the task queue (Temporal's own poller list, the real server)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.harness import running_zora
from zora.doctor import doctor


async def test_doctor_sees_the_worker_and_names_a_queue_nobody_polls(infra: Any, database_url: str) -> None:
    async with running_zora(infra, database_url) as zora:
        lines: list[str] = []
        code = await doctor(zora.settings, out=lines.append)
        report = "\n".join(lines)
        assert code == 0, report
        queue = zora.settings.temporal_task_queue
        assert f"  workers    ok (1 worker(s) polling task queue {queue})" in lines

        # The same deployment pointed at a queue no worker serves (a typo in TEMPORAL_TASK_QUEUE).
        orphan = f"zora-nobody-{uuid.uuid4().hex[:8]}"
        lines.clear()
        code = await doctor(zora.settings.model_copy(update={"temporal_task_queue": orphan}), out=lines.append)
        report = "\n".join(lines)
        assert code == 1, report
        assert f"NO WORKER is polling task queue {orphan} for workflow and activity tasks" in report
        assert "start `zora worker`" in report and "1 problem(s) found" in report
