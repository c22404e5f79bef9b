"""`zora doctor`: what an operator checks first — are the services reachable, does Slack accept
Zora's tokens (SLACK_BOT_TOKEN's and each workspace's that a shop added Zora to), and is every shop's
Slack channel working (with messages waiting if not)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from zora.security import SealError
from zora.services import Services, open_services, readiness
from zora.settings import Settings
from zora.slack_api import INSTALL_ERRORS, SlackWorkspaces, classify
from zora.slack_api import hint as slack_hint
from zora.slack_app import BOT_SCOPES
from zora.store import shops as sshops
from zora.store import slack as sslack


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
        problems += await _operator_slack(services, out)
        async with services.pool.acquire() as conn:
            connected = await sslack.connected_workspaces(conn)
            shops = await sshops.health(conn)
        problems += await _workspaces(services, connected, out)
    problems += _shops(settings, shops, out)
    out("all good" if problems == 0 else f"{problems} problem(s) found")
    return 0 if problems == 0 else 1


def _missing_scopes(auth: Any) -> list[str]:
    granted = {s.strip() for s in str(auth.headers.get("x-oauth-scopes", "")).split(",") if s.strip()}
    return [s for s in BOT_SCOPES if s not in granted]


async def _operator_slack(services: Services, out: Any) -> int:
    """SLACK_BOT_TOKEN's workspace (the single-workspace set-up), when there is one."""
    if services.settings.slack_bot_token is None:
        out(f"  {'slack':<10} no SLACK_BOT_TOKEN: Add to Slack only, each shop connects its own workspace")
        return 0
    try:
        auth = await services.slack.auth_test()
    except SlackApiError as exc:
        out(f"  {'slack':<10} error: {exc.response.get('error')} — check SLACK_BOT_TOKEN")
        return 1
    if missing := _missing_scopes(auth):
        out(
            f"  {'slack':<10} the app lacks {', '.join(missing)} — update it from slack/manifest.yml and"
            " reinstall it (without files:write, shoppers' files reach the thread as links)"
        )
        return 1
    out(f"  {'slack':<10} ok (team {auth['team_id']}, bot {auth['user_id']})")
    return 0


_ADD_AGAIN = (
    "add Zora to Slack again from the shop's settings page (Slack card); its messages wait, in order, until then"
)


async def _workspaces(services: Services, connected: list[sslack.ConnectedWorkspace], out: Any) -> int:
    """Every workspace a shop added Zora to, each asked with its own token (auth.test)."""
    if not connected and not services.settings.add_to_slack:
        return 0
    out("slack workspaces (Add to Slack)")
    if not connected:
        out("  none yet: each shop adds Zora to its workspace from its settings page (Slack card)")
    problems = 0
    workspaces = SlackWorkspaces(services.slack, services.pool, services.settings)
    for ws in connected:
        label = f"{ws.team_name or '?'} ({ws.team_id or ws.enterprise_id})"
        shops = ", ".join(ws.shops) or "no shop"
        if ws.revoked_at is not None and not ws.shops:
            # A workspace no shop uses any more (its shop moved to another, or was deleted): nothing to do.
            out(f"  {label}: removed Zora on {ws.revoked_at:%Y-%m-%d %H:%M} UTC; no shop uses it")
            continue
        if ws.revoked_at is not None:
            problems += 1
            out(f"  {label}: REMOVED Zora on {ws.revoked_at:%Y-%m-%d %H:%M} UTC; shops: {shops}")
            out(f"    -> the workspace removed Zora or revoked its token: {_ADD_AGAIN}")
            continue
        try:
            auth = await (await workspaces.for_team(ws.team_id, ws.enterprise_id)).auth_test()
        except SealError as exc:
            problems += 1
            out(f"  {label}: its token cannot be opened ({exc}); shops: {shops}")
            out("    -> set ZORA_PREVIOUS_SECRET_KEYS to the key it was sealed with, or " + _ADD_AGAIN)
            continue
        except SlackApiError as exc:
            problems += 1
            error = str(exc.response.get("error"))
            out(f"  {label}: SLACK ERROR {error}; shops: {shops}")
            revoked = classify(exc).kind == "install"
            out("    -> " + (f"the token was revoked or refused: {_ADD_AGAIN}" if revoked else slack_hint(error)))
            continue
        if missing := _missing_scopes(auth):
            problems += 1
            out(f"  {label}: the app lacks {', '.join(missing)}; shops: {shops}")
            out(f"    -> {_ADD_AGAIN} (it asks for the scopes added since)")
        else:
            out(f"  {label}: ok (bot {auth['user_id']}); shops: {shops}")
    return problems


def _shops(settings: Settings, shops: list[sshops.ShopHealth], out: Any) -> int:
    out("shops")
    if not shops:
        out("  none yet")
    problems = 0
    for shop in shops:
        own = shop.slack_team_id is not None
        if not own and settings.slack_bot_token is None:
            problems += 1
            health = "NOT CONNECTED to Slack"
            hint = "the shop adds Zora to its Slack workspace from its settings page (Slack card); until then "
            hint += "its messages wait, in order"
        elif shop.slack_error:
            problems += 1
            health = f"SLACK ERROR {shop.slack_error} since {shop.slack_error_at:%Y-%m-%d %H:%M} UTC"
            hint = _ADD_AGAIN if own and shop.slack_error in INSTALL_ERRORS else slack_hint(shop.slack_error)
        elif not shop.slack_channel_id:
            problems += 1
            health = "no Slack channel set"
            hint = "pick the channel on the shop's settings page (SLACK_DEFAULT_CHANNEL in zora dev)"
        else:
            health, hint = "ok", ""
        workspace = f"workspace {shop.slack_team_id}, " if own else ""
        out(
            f"  {shop.domain}: {workspace}channel {shop.slack_channel_id or '-'}, {health};"
            f" {shop.open} open conversation(s), {shop.waiting} message(s) waiting for Slack"
        )
        if hint:
            out(f"    -> {hint}")
    return problems


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
