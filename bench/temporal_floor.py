"""Temporal's own cost of a workflow step on the embedded dev server, and what it is made of.

Starts the dev server the way Zora does (zora.embedded.start_temporal) and a worker in this process, then
times `--workflows` workflows of `--steps` sequential no-op activities (and a local-activity variant and a
workflow with no activity), printing p50/p95 per step. With `--history` it also reads one workflow's
history and prints the gaps between its events (where a step's time goes: scheduling, the activity's
start, its completion, the next workflow task). The options change one thing at a time: the dev
server's dynamic config, its database (memory or a file), the worker's pollers, eager activities."""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import statistics
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from zora.embedded import start_temporal


@activity.defn(name="floor_noop")
async def noop(value: int) -> int:
    return value


@workflow.defn(name="FloorActivitiesWorkflow")
class ActivitiesWorkflow:
    @workflow.run
    async def run(self, steps: int) -> int:
        for step in range(steps):
            await workflow.execute_activity(noop, step, start_to_close_timeout=timedelta(seconds=30))
        return steps


@workflow.defn(name="FloorLocalActivitiesWorkflow")
class LocalActivitiesWorkflow:
    @workflow.run
    async def run(self, steps: int) -> int:
        for step in range(steps):
            await workflow.execute_local_activity(noop, step, start_to_close_timeout=timedelta(seconds=30))
        return steps


@workflow.defn(name="FloorEmptyWorkflow")
class EmptyWorkflow:
    @workflow.run
    async def run(self, steps: int) -> int:
        return steps


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def history_gaps(client: Client, workflow_id: str) -> list[str]:
    lines: list[str] = []
    previous = None
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        at = event.event_time.ToDatetime()
        gap = "" if previous is None else f"+{(at - previous).total_seconds() * 1000:7.1f} ms"
        lines.append(f"{gap:>12}  {event.event_id:3d} {EventType.Name(event.event_type)}")
        previous = at
    return lines


async def metrics(port: int, pattern: str) -> str:
    # The server's Prometheus text: its histograms say which stage (history's queues, matching) holds a task.
    def read() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            return str(response.read().decode())

    text = await asyncio.to_thread(read)
    wanted = re.compile(pattern)
    return "\n".join(line for line in text.splitlines() if not line.startswith("#") and wanted.search(line))


async def measure(client: Client, queue: str, kind: str, steps: int, workflows: int) -> tuple[list[float], str]:
    per_step: list[float] = []
    last = ""
    for _ in range(workflows):
        last = f"floor-{kind}-{uuid.uuid4().hex[:8]}"
        start = time.perf_counter()
        await client.execute_workflow(kind, steps, id=last, task_queue=queue)
        per_step.append((time.perf_counter() - start) / max(steps, 1))
    return per_step, last


async def main(args: argparse.Namespace) -> None:
    extra: list[str] = []
    for value in args.dynamic_config:
        extra += ["--dynamic-config-value", value]
    extra += args.server_arg
    metrics_port = 0
    if args.metrics:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            metrics_port = probe.getsockname()[1]
        extra += ["--metrics-port", str(metrics_port)]
    with tempfile.TemporaryDirectory() as tmp:
        db_file = Path(tmp, "temporal.db") if args.db_file else None
        env = await start_temporal(db_file=db_file, extra_args=extra)
        try:
            queue = f"floor-{uuid.uuid4().hex[:6]}"
            options: dict[str, object] = {}
            if args.max_cached_workflows is not None:
                options["max_cached_workflows"] = args.max_cached_workflows
            if args.workflow_polls is not None:
                options["max_concurrent_workflow_task_polls"] = args.workflow_polls
            if args.activity_polls is not None:
                options["max_concurrent_activity_task_polls"] = args.activity_polls
            if args.nonsticky_ratio is not None:
                options["nonsticky_to_sticky_poll_ratio"] = args.nonsticky_ratio
            worker = Worker(
                env.client,
                task_queue=queue,
                workflows=[ActivitiesWorkflow, LocalActivitiesWorkflow, EmptyWorkflow],
                activities=[noop],
                workflow_runner=UnsandboxedWorkflowRunner(),
                disable_eager_activity_execution=args.no_eager,
                **options,  # type: ignore[arg-type]
            )
            async with worker:
                kinds = {
                    "activity": "FloorActivitiesWorkflow",
                    "local": "FloorLocalActivitiesWorkflow",
                    "empty": "FloorEmptyWorkflow",
                }
                await measure(env.client, queue, kinds["activity"], args.steps, 2)  # warm-up
                for name in args.kinds:
                    values, last = await measure(env.client, queue, kinds[name], args.steps, args.workflows)
                    unit = "per workflow" if name == "empty" else "per step"
                    print(
                        f"{name:9s} {unit}: p50 {pct(values, 50) * 1000:6.1f} ms  p95 {pct(values, 95) * 1000:6.1f} ms"
                        f"  mean {statistics.fmean(values) * 1000:6.1f} ms  ({args.workflows} workflows"
                        f" x {args.steps} steps)",
                        flush=True,
                    )
                    if args.history:
                        print("\n".join(await history_gaps(env.client, last)))
                if args.metrics:
                    print(await metrics(metrics_port, args.metrics))
        finally:
            await env.shutdown()


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.temporal_floor", description=__doc__)
    parser.add_argument("--steps", type=int, default=5, help="activities per workflow (default 5)")
    parser.add_argument("--workflows", type=int, default=20, help="workflows per kind (default 20)")
    parser.add_argument(
        "--kinds", nargs="+", default=["activity", "local", "empty"], choices=["activity", "local", "empty"]
    )
    parser.add_argument("--history", action="store_true", help="print the event gaps of each kind's last workflow")
    parser.add_argument("--db-file", action="store_true", help="the dev server on a SQLite file (default: memory)")
    parser.add_argument(
        "--dynamic-config", action="append", default=[], metavar="KEY=VALUE", help="dev server dynamic config"
    )
    parser.add_argument("--server-arg", action="append", default=[], help="any other `start-dev` argument")
    parser.add_argument("--metrics", metavar="REGEX", help="print the server's metric lines matching REGEX")
    parser.add_argument("--no-eager", action="store_true", help="disable_eager_activity_execution")
    parser.add_argument("--max-cached-workflows", type=int)
    parser.add_argument("--workflow-polls", type=int, help="max_concurrent_workflow_task_polls")
    parser.add_argument("--activity-polls", type=int, help="max_concurrent_activity_task_polls")
    parser.add_argument("--nonsticky-ratio", type=float, help="nonsticky_to_sticky_poll_ratio")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
