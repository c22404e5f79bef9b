"""Waiting until the run has settled, then checking that nothing was lost, doubled or reordered."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from bench.chaos.config import (
    WEBHOOK_CUSTOMER_BASE,
)
from bench.chaos.report import ChaosReport

if TYPE_CHECKING:
    from bench.chaos.run import Chaos


async def query(services: Any, sql: str, *args: Any) -> list[Any]:
    """A query that rides out this run's own PostgreSQL restarts."""
    for _ in range(60):
        try:
            async with services.pool.acquire() as conn:
                rows: list[Any] = await conn.fetch(sql, *args)
                return rows
        except Exception:
            await asyncio.sleep(1)
    raise RuntimeError("PostgreSQL did not answer for a minute")


async def report_progress(chaos: Chaos, services: Any) -> None:
    while True:
        await asyncio.sleep(5)
        try:
            chaos.say("chaos: " + await status(chaos, services))
        except Exception as exc:
            chaos.say(f"chaos: {chaos.elapsed():6.1f} s  (status unavailable: {type(exc).__name__})")


async def status(chaos: Chaos, services: Any) -> str:
    acked = sum(len(s.acked) for s in chaos.shoppers)
    posted = len({(c, q) for c, q, _ in chaos.slack.shopper_posts()})
    async with asyncio.timeout(5):
        rows = await query(
            services,
            "SELECT (SELECT count(*) FROM messages WHERE direction = 'agent' AND slack_ts IS NOT NULL) AS agent,"
            " (SELECT count(*) FROM shopify_webhooks WHERE status <> 'received') AS hooks",
        )
    hooks_done = int(rows[0]["hooks"])
    return (
        f"{chaos.elapsed():6.1f} s  acked {acked}/{chaos.config.shoppers * chaos.config.messages}"
        f"  in Slack {posted}  agent replies {sum(chaos.slack.replies.values())} (stored {rows[0]['agent']})"
        f"  webhooks processed {hooks_done}/{chaos.config.webhooks}"
        f"  Slack faults {sum(chaos.slack.injected.values())}  event deliveries failed {chaos.slack.events_failed}"
        f"  load {os.getloadavg()[0]:.1f}"
    )


async def settle(chaos: Chaos, services: Any, report: ChaosReport, deadline: float) -> None:
    """Until every stored shopper message is in Slack, every reply stored, every webhook done."""
    while True:
        stored = await query(services, "SELECT conversation_id, seq FROM messages WHERE direction = 'shopper'")
        posted = {(c, q) for c, q, _ in chaos.slack.shopper_posts()}
        missing = [r for r in stored if (str(r["conversation_id"]), int(r["seq"])) not in posted]
        agent = await query(
            services, "SELECT count(*) AS n FROM messages WHERE direction = 'agent' AND slack_ts IS NOT NULL"
        )
        hooks = await query(services, "SELECT count(*) AS n FROM shopify_webhooks WHERE status = 'received'")
        replies = sum(chaos.slack.replies.values())
        if not missing and int(agent[0]["n"]) >= replies and int(hooks[0]["n"]) == 0:
            return
        if time.monotonic() > deadline:
            report.problems.append(
                f"not settled: {len(missing)} shopper messages not in Slack, {agent[0]['n']} of {replies}"
                f" replies stored, {hooks[0]['n']} webhooks unprocessed"
            )
            return
        await asyncio.sleep(1)


async def verify(chaos: Chaos, services: Any, report: ChaosReport, deadline: float) -> None:
    await _verify_shopper_messages(chaos, services, report)
    await _verify_replies(chaos, report, deadline)
    await _verify_webhooks(chaos, services, report)
    report.slack_faults = dict(chaos.slack.injected)
    report.events_failed = chaos.slack.events_failed
    report.events_given_up = chaos.slack.events_given_up
    report.events_retried = dict(chaos.slack.event_outcomes)
    report.faults = [
        {
            "kind": f.kind,
            "at_s": f.at,
            "detail": f.detail,
            "recovered_after_s": f.recovered_after,
            "ended_s": f.ended,
        }
        for f in chaos.faults
    ]


async def _verify_shopper_messages(chaos: Chaos, services: Any, report: ChaosReport) -> None:
    """Shopper -> Slack: every stored or acknowledged message in Slack once, in seq order per conversation."""
    report.sent = sum(len(s.acked) for s in chaos.shoppers)
    report.resends = sum(s.resends for s in chaos.shoppers)
    report.reconnects = sum(s.reconnects for s in chaos.shoppers)
    stored = await query(
        services, "SELECT conversation_id, seq, body FROM messages WHERE direction = 'shopper' ORDER BY seq"
    )
    report.stored = len(stored)
    expected = {(str(r["conversation_id"]), int(r["seq"])) for r in stored}
    for shopper in chaos.shoppers:
        for seq in shopper.acked.values():
            expected.add((str(shopper.conversation_id), seq))
    posts = chaos.slack.shopper_posts()
    counts = Counter((c, q) for c, q, _ in posts)
    report.posted = len(set(counts) & expected)
    report.duplicates = sum(n - 1 for n in counts.values())
    report.lost = len(expected - set(counts))
    per_conversation: dict[str, list[int]] = {}
    for c, q, _ in posts:
        per_conversation.setdefault(c, []).append(q)
    report.out_of_order = sum(1 for seqs in per_conversation.values() if seqs != sorted(seqs))


async def _verify_replies(chaos: Chaos, report: ChaosReport, deadline: float) -> None:
    # Slack -> shopper: each reply once in its shopper's conversation, after a reload.
    reload_deadline = max(deadline, time.monotonic() + 120)
    before_reload = {s.index: {seq for seq, _ in s.agent_bodies()} for s in chaos.shoppers}
    await asyncio.gather(*(s.reload(reload_deadline) for s in chaos.shoppers))
    report.replies = sum(chaos.slack.replies.values())
    for shopper in chaos.shoppers:
        bodies = Counter(body for _, body in shopper.agent_bodies())
        mine = {text for text in chaos.slack.replies if text.startswith(f"re s{shopper.index}-")}
        for text in mine:
            if bodies[text] >= 1:
                report.replies_delivered += 1
            report.replies_duplicated += max(0, bodies[text] - chaos.slack.replies[text])
            if bodies[text] == 0:
                report.replies_lost += 1
        # Another shopper's reply (Zora's own notes to the shopper, such as a closing note, are not replies).
        report.replies_misdirected += sum(
            n for text, n in bodies.items() if text not in mine and re.fullmatch(r"re s\d+-m\d+", text)
        )
        agent_seqs = {seq for seq, _ in shopper.agent_bodies()}
        report.replies_live += len(agent_seqs & set(shopper.live))
        report.replies_on_reload_only += len(agent_seqs - before_reload[shopper.index])
    report.replies_duplicated += sum(n - 1 for n in chaos.slack.replies.values() if n > 1)


async def _verify_webhooks(chaos: Chaos, services: Any, report: ChaosReport) -> None:
    # Shopify -> Zora.
    assert chaos.webhooks is not None
    ids = [item["id"] for item in chaos.webhooks.items]
    report.webhooks = len(ids)
    report.webhook_attempts = chaos.webhooks.attempts
    rows = await query(services, "SELECT id, status FROM shopify_webhooks WHERE id = ANY($1)", ids)
    inbox = Counter(str(r["id"]) for r in rows)
    done = {str(r["id"]) for r in rows if r["status"] in ("processed", "stale")}
    report.webhooks_processed = len(done)
    report.webhooks_duplicated = sum(n - 1 for n in inbox.values())
    report.webhooks_lost = len(set(ids) - done)
    customers = {
        int(r["shopify_customer_id"]): r["email"]
        for r in await query(
            services,
            "SELECT shopify_customer_id, email FROM customers WHERE shopify_customer_id >= $1",
            WEBHOOK_CUSTOMER_BASE,
        )
    }
    report.webhooks_wrong = sum(1 for item in chaos.webhooks.items if customers.get(item["customer"]) != item["email"])
    report.webhook_runs_max = await webhook_runs(chaos, services, ids)


async def webhook_runs(chaos: Chaos, services: Any, ids: list[str]) -> int | None:
    """The most workflow runs that applied any one delivery (Temporal's visibility): its own
    ShopifyWebhookWorkflow runs plus the ShopifyWebhookBatchWorkflow runs whose outcomes hold it."""
    from zora.shopify.models import WebhookBatchOutcome, webhook_workflow_id

    wanted = {webhook_workflow_id(i): i for i in ids}
    runs: Counter[str] = Counter()
    queue = services.settings.temporal_task_queue
    try:
        async for execution in services.temporal.list_workflows(
            f"WorkflowType = 'ShopifyWebhookWorkflow' AND TaskQueue = '{queue}'"
        ):
            if execution.id in wanted:
                runs[wanted[execution.id]] += 1
        async for execution in services.temporal.list_workflows(
            f"WorkflowType = 'ShopifyWebhookBatchWorkflow' AND TaskQueue = '{queue}' AND ExecutionStatus = 'Completed'"
        ):
            handle = services.temporal.get_workflow_handle(
                execution.id, run_id=execution.run_id, result_type=WebhookBatchOutcome
            )
            for webhook_id in (await handle.result()).outcomes:
                if webhook_id in ids:
                    runs[webhook_id] += 1
    except Exception as exc:
        chaos.say(f"chaos: workflow runs not readable ({type(exc).__name__}: {exc})")
        return None
    missing = set(ids) - set(runs)
    if missing:
        chaos.say(f"chaos: {len(missing)} deliveries have no workflow run in Temporal's visibility")
    return max(runs.values(), default=0)
