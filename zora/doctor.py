"""`zora doctor`: what an operator checks first — are the services reachable, does Slack accept
Zora's token, and is every shop's Slack channel working (with messages waiting if not)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from zora.services import open_services, readiness
from zora.settings import Settings
from zora.slack_api import hint as slack_hint
from zora.slack_app import BOT_SCOPES
from zora.store import shops as sshops


async def doctor(settings: Settings, out: Any = print) -> int:
    problems = 0
    async with open_services(settings) as services:
        out("services")
        for name, result in (await readiness(services)).items():
            out(f"  {name:<10} {result}")
            problems += result != "ok"
        workers = await polling_workers(services.temporal, settings.temporal_task_queue)
        out(f"  {'workers':<10} {workers}")
        problems += not workers.startswith("ok")
        try:
            auth = await services.slack.auth_test()
            granted = {s.strip() for s in str(auth.headers.get("x-oauth-scopes", "")).split(",") if s.strip()}
            missing = [s for s in BOT_SCOPES if s not in granted]
            if missing:
                problems += 1
                out(
                    f"  {'slack':<10} the app lacks {', '.join(missing)} — update it from slack/manifest.yml and"
                    " reinstall it (without files:write, shoppers' files reach the thread as links)"
                )
            else:
                out(f"  {'slack':<10} ok (team {auth['team_id']}, bot {auth['user_id']})")
        except SlackApiError as exc:
            out(f"  {'slack':<10} error: {exc.response.get('error')} — check SLACK_BOT_TOKEN")
            problems += 1
        async with services.pool.acquire() as conn:
            shops = await sshops.health(conn)
    out("shops")
    if not shops:
        out("  none yet")
    for shop in shops:
        if shop.slack_error:
            problems += 1
            health = f"SLACK ERROR {shop.slack_error} since {shop.slack_error_at:%Y-%m-%d %H:%M} UTC"
            hint = slack_hint(shop.slack_error)
        elif not shop.slack_channel_id:
            problems += 1
            health, hint = "no Slack channel set", "set the shop's channel (SLACK_DEFAULT_CHANNEL in zora dev)"
        else:
            health, hint = "ok", ""
        out(
            f"  {shop.domain}: channel {shop.slack_channel_id or '-'}, {health};"
            f" {shop.open} open conversation(s), {shop.waiting} message(s) waiting for Slack"
        )
        if hint:
            out(f"    -> {hint}")
    out("all good" if problems == 0 else f"{problems} problem(s) found")
    return 0 if problems == 0 else 1


# Temporal lists a poller for minutes after its last poll; a live worker polls again at least every
# ~70 s (the long poll's length), so one not seen for this long is gone.
POLLER_FRESH = timedelta(minutes=2)


async def polling_workers(client: Client, task_queue: str, *, recheck_after: float = 1.0) -> str:
    """`ok (...)` when workers poll the task queue for both workflow and activity tasks, else what is
    missing. A worker that has just started may not have polled yet: asked once more after a second."""
    kinds = {"workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY}
    counts: dict[str, int] = {}
    for attempt in range(2):
        try:
            for name, kind in kinds.items():
                described = await client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
                    )
                )
                since = datetime.now(UTC) - POLLER_FRESH
                counts[name] = sum(
                    1 for poller in described.pollers if poller.last_access_time.ToDatetime(tzinfo=UTC) >= since
                )
        except Exception as exc:
            return f"error: could not describe task queue {task_queue}: {type(exc).__name__}: {exc}"[:300]
        if all(counts.values()) or attempt == 1:
            break
        await asyncio.sleep(recheck_after)
    if all(counts.values()):
        return f"ok ({counts['workflow']} worker(s) polling task queue {task_queue})"
    missing = " and ".join(name for name, count in counts.items() if not count)
    return (
        f"NO WORKER is polling task queue {task_queue} for {missing} tasks — start `zora worker` with"
        " TEMPORAL_TASK_QUEUE and TEMPORAL_NAMESPACE as the web's; until then messages wait in PostgreSQL"
    )
