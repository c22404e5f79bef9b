"""Sentry on the worker: initialised by `zora worker` only with a DSN, and activity and workflow failures
reported with their conversation (through the worker's interceptor, against the real Temporal server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

# This module is imported again in Temporal's sandbox for FailingWorkflow: what it needs from I/O
# libraries comes in from outside.
with workflow.unsafe.imports_passed_through():
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    import uuid

    import pytest
    import sentry_sdk
    from sentry_sdk.envelope import Envelope
    from sentry_sdk.transport import Transport
    from temporalio.client import Client, WorkflowFailureError
    from temporalio.worker import Worker

    from zora.sentry_temporal import SentryInterceptor, conversation_of


class Captured(Transport):
    events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            event = item.get_event()
            if event is not None:
                self.events.append(event)


@pytest.fixture
def sentry() -> Iterator[list[dict[str, Any]]]:
    Captured.events = []
    sentry_sdk.init(dsn="https://public@127.0.0.1:9/1", transport=Captured, environment="test")
    try:
        yield Captured.events
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # back to a disabled client for the rest of the session


@activity.defn
async def refuse(kind: str) -> None:
    if kind == "rate":
        raise ApplicationError("Slack rate limit", type="SlackRateLimited", non_retryable=True)
    raise ApplicationError("channel_not_found", type="SlackRejected", non_retryable=True)


@workflow.defn(sandboxed=True)
class FailingWorkflow:
    @workflow.run
    async def run(self, kind: str) -> None:
        await workflow.execute_activity(
            refuse, kind, start_to_close_timeout=timedelta(seconds=10), retry_policy=RetryPolicy(maximum_attempts=1)
        )


async def _run(client: Client, queue: str, workflow_id: str, kind: str) -> None:
    with pytest.raises(WorkflowFailureError):
        await client.execute_workflow(FailingWorkflow.run, kind, id=workflow_id, task_queue=queue)


async def test_failures_reach_sentry_with_their_conversation(infra: Any, sentry: list[dict[str, Any]]) -> None:
    client: Client = infra.temporal.client
    queue = f"sentry-{uuid.uuid4().hex[:8]}"
    conversation = str(uuid.uuid4())
    async with Worker(
        client, task_queue=queue, workflows=[FailingWorkflow], activities=[refuse], interceptors=[SentryInterceptor()]
    ):
        await _run(client, queue, f"conv:demo.myshopify.com:{conversation}", "reject")
        # A rate limit is Temporal's to retry, not an incident: the activity's is not sent.
        await _run(client, queue, f"deliver:{uuid.uuid4()}", "rate")
    sentry_sdk.flush()
    by_kind = {(e["tags"]["temporal.kind"], e["tags"].get("conversation_id")): e for e in sentry}
    activity_event = by_kind[("activity", conversation)]
    assert activity_event["tags"]["activity"] == "refuse"
    assert activity_event["exception"]["values"][-1]["type"] == "ApplicationError"
    assert ("workflow", conversation) in by_kind
    assert by_kind[("workflow", conversation)]["tags"]["workflow_type"] == "FailingWorkflow"
    assert [e["tags"]["temporal.kind"] for e in sentry if e["tags"].get("activity")] == ["activity"]


def test_conversation_is_read_from_the_workflow_ids_that_name_one() -> None:
    cid = str(uuid.uuid4())
    assert conversation_of(f"conv:a.myshopify.com:{cid}") == cid
    assert conversation_of(f"deliver:{cid}") == cid
    assert conversation_of(f"turn:{cid}:7") == cid
    assert conversation_of("shopify:wh:123") is None
    assert conversation_of(None) is None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker_output(env: dict[str, str], tmp_path: Path, metrics_port: int) -> tuple[str, str]:
    """Runs `zora worker` until it polls, reads its metrics endpoint, stops it: (its log, the metrics)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "TEMPORAL_", "SLACK_"))}
    log = tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zora.app.cli", "worker"],
            env={**clean, **env, "METRICS_PORT": str(metrics_port), "LOG_FORMAT": "text", "LOG_LEVEL": "INFO"},
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while "worker polling task queue" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as resp:
            scraped = resp.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return log.read_text(), scraped


def test_zora_worker_inits_sentry_only_with_a_dsn_and_serves_metrics(
    infra: Any, database_url: str, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": infra.redis.url,
        "TEMPORAL_ADDRESS": infra.temporal_address,
        "TEMPORAL_TASK_QUEUE": f"zora-worker-{uuid.uuid4().hex[:8]}",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "ZORA_SECRET_KEY": "k" * 40,
        "SENTRY_DSN": "",
    }
    log, scraped = _worker_output(env, tmp_path, _free_port())
    assert "sentry initialised" not in log
    assert "zora_slack_api_errors_total" in scraped or "# HELP zora_sockets_connected" in scraped
    # The DSN's host is a closed port: events would be dropped, but the client is initialised.
    log, _ = _worker_output({**env, "SENTRY_DSN": "https://public@127.0.0.1:9/1"}, tmp_path, _free_port())
    assert "sentry initialised" in log


async def test_zoras_own_worker_reports_a_failed_delivery_with_its_conversation(
    infra: Any, database_url: str, sentry: list[dict[str, Any]]
) -> None:
    from tests.harness import running_zora

    async with running_zora(infra, database_url) as zora:
        shopper = await zora.shopper()
        # The fast path fails, then the workflow's first try: Temporal's retry delivers.
        zora.standin.fail("chat.postMessage", "internal_error", times=2)
        ack = await shopper.send("Where is my order?")
        assert ack["ok"]
        await shopper.wait_for(lambda: any(s["status"] == "delivered" for s in shopper.statuses), timeout=60)
        rows = await zora.fetch("SELECT conversation_id FROM messages WHERE shop_id = $1", zora.shop_id)
    sentry_sdk.flush()
    conversation = str(rows[0]["conversation_id"])
    reported = [e for e in sentry if e["tags"].get("temporal.kind") == "activity"]
    assert reported, sentry
    assert {e["tags"].get("conversation_id") for e in reported} == {conversation}
