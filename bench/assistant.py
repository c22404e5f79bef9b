"""Assistant benchmark (issue 12 §10): Zora's orchestration of a turn against a direct SDK loop, on the
same zero-latency model stand-in in the same run.

    .venv/bin/python -m bench.assistant [--turns 30] [--runs 5]

One command starts the embedded servers, the Slack and OpenAI stand-ins (the OpenAI one answers at
once: every millisecond measured is the caller's) and Zora's web app and worker (bench/stack.py, in
this process). Then, `--runs` times, `--turns` times each, interleaved:

- **turn**: "What is your return policy?" The demo model asks for the `store_policies` tool, then
  answers from it: two steps. Zora: `AssistantTurnWorkflow` on the dev server, its `llm_complete` and
  tool activities on Zora's worker. Direct: `AsyncOpenAI` streaming the same requests, calling the same
  tool implementation (`AssistantToolActivities`) as a plain coroutine. Per-step overhead = (Zora's
  turn - the direct turn next to it) / steps.
- **first token**: "hello" (answered at once, one step), streamed to the conversation. Zora: from
  starting the turn's first step (bench/assistant_flow.py: the step's `llm_complete` on Zora's worker
  with `stream_to`) until the first `assistant_delta` reaches a socket.io client in the conversation's
  room through the web app. Direct: from the SDK call until its first content chunk.

Each run reports p50/p95; the summary gives the median over runs and their spread (min-max), with the
machine's load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from openai import AsyncOpenAI
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.assistant_tools import AssistantToolActivities
from bench.assistant_flow import FirstStepWorkflow, NoopStepsWorkflow, noop
from bench.stack import CHANNEL, SHOP, Infra, embedded_infra, running_zora
from bench.stats import percentile
from zora.app.dev import ensure_shop
from zora.assistant import (
    TOOLS_BY_NAME,
    ChatMessage,
    LlmRequest,
    StreamTarget,
    ToolCall,
    ToolInput,
    TurnInput,
    TurnResult,
    system_prompt,
)
from zora.standins.openai import OpenAIStandIn
from zora.standins.slack import SlackStandIn

MODEL = "zora-demo"
QUESTION = "What is your return policy?"
HELLO = "hello"
WARMUP = 3


@dataclass
class Conversation:
    shop_id: int
    conversation_id: uuid.UUID
    events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)


class DirectLoop:
    """The least a turn needs: the SDK's stream, the tool implementations called in place."""

    def __init__(self, base_url: str, tools: AssistantToolActivities) -> None:
        self.client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
        self.tools = {getattr(fn, "__temporal_activity_definition").name: fn for fn in tools.all()}

    async def _step(self, messages: list[dict[str, Any]], first: list[float]) -> tuple[str, list[ToolCall]]:
        stream = await self.client.chat.completions.create(
            model=MODEL,
            messages=messages,  # type: ignore[arg-type]
            tools=[spec.wire() for spec, _ in TOOLS_BY_NAME.values()],  # type: ignore[misc]
            stream=True,
            stream_options={"include_usage": True},
        )
        text, calls = "", {}
        async with stream:
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta.content:
                        if not first:
                            first.append(time.perf_counter())
                        text += choice.delta.content
                    for piece in choice.delta.tool_calls or []:
                        call = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
                        call["id"] = piece.id or call["id"]
                        if piece.function is not None:
                            call["name"] += piece.function.name or ""
                            call["arguments"] += piece.function.arguments or ""
        return text, [ToolCall(**c) for _, c in sorted(calls.items())]

    async def turn(self, turn: TurnInput) -> tuple[float, int, float]:
        """(seconds, steps, seconds to the first content)."""
        start = time.perf_counter()
        first: list[float] = []
        messages = [ChatMessage(role="system", content=system_prompt(turn.persona_name, "")).wire()]
        messages += [m.wire() for m in turn.history]
        for step in range(1, turn.max_steps + 1):
            text, calls = await self._step(messages, first)
            if not calls:
                return time.perf_counter() - start, step, first[0] - start
            messages.append(ChatMessage(role="assistant", content=text or None, tool_calls=calls).wire())
            scope = {"shop_id": turn.shop_id, "conversation_id": turn.conversation_id}
            outputs = await asyncio.gather(
                *(self.tools[TOOLS_BY_NAME[c.name][1]](ToolInput(**scope, call=c)) for c in calls)
            )
            messages += [
                {"role": "tool", "tool_call_id": c.id, "content": o.content}
                for c, o in zip(calls, outputs, strict=True)
            ]
        raise RuntimeError("the direct loop ran out of steps")


class ZoraTurns:
    """Turns through Temporal and Zora's worker; first tokens at a shopper's socket."""

    def __init__(self, temporal: Client, queue: str, bench_queue: str, conversation: Conversation) -> None:
        self.temporal, self.queue, self.bench_queue = temporal, queue, bench_queue
        self.conversation = conversation
        self.seq = 0

    async def turn(self, turn: TurnInput) -> tuple[float, int]:
        self.seq += 1
        start = time.perf_counter()
        result: TurnResult = await self.temporal.execute_workflow(
            "AssistantTurnWorkflow",
            turn.model_copy(update={"seq": self.seq}),
            id=f"turn:{turn.conversation_id}:{self.seq}:{uuid.uuid4().hex[:6]}",
            task_queue=self.queue,
            result_type=TurnResult,
        )
        assert result.outcome == "answered", result
        return time.perf_counter() - start, result.steps

    async def noop_steps(self, steps: int) -> float:
        start = time.perf_counter()
        await self.temporal.execute_workflow(
            NoopStepsWorkflow.run, steps, id=f"bench-noop-{uuid.uuid4().hex}", task_queue=self.bench_queue
        )
        return time.perf_counter() - start

    async def first_token(self) -> float:
        self.seq += 1
        c = self.conversation
        turn_id = f"turn:{c.conversation_id}:{self.seq}"
        request = LlmRequest(
            turn_id=turn_id,
            messages=[ChatMessage(role="user", content=HELLO)],
            tools=[spec for spec, _ in TOOLS_BY_NAME.values()],
            stream_to=StreamTarget(shop_id=c.shop_id, conversation_id=c.conversation_id),
        )
        start = time.perf_counter()
        handle = await self.temporal.start_workflow(
            FirstStepWorkflow.run, args=[request, self.queue], id=f"bench-{turn_id}", task_queue=self.bench_queue
        )
        while True:
            event = await asyncio.wait_for(c.events.get(), 30)
            if event["turn"] == turn_id:
                first = time.perf_counter() - start
                break
        await handle.result()
        return first


@asynccontextmanager
async def shopper(base_url: str, shop_id: int) -> AsyncIterator[Conversation]:
    """A shopper whose socket is in its conversation's room, recording the assistant's deltas."""
    async with aiohttp.ClientSession() as http, http.post(f"{base_url}/widget/session", json={"shop": SHOP}) as resp:
        session = await resp.json()
    conversation = Conversation(shop_id, uuid.UUID(session["conversation_id"]))
    sio = socketio.AsyncClient(reconnection=False)

    @sio.on("assistant_delta", namespace="/widget")
    async def _delta(data: dict[str, Any]) -> None:
        conversation.events.put_nowait(data)

    await sio.connect(base_url, namespaces=["/widget"], auth={"token": session["token"]}, transports=["websocket"])
    try:
        # The conversation exists once it has a message; resume puts the socket in its room.
        await sio.call("message", {"client_id": "bench-1", "body": "hi"}, namespace="/widget", timeout=10)
        await sio.call("resume", {"since_seq": 0}, namespace="/widget", timeout=10)
        yield conversation
    finally:
        await sio.disconnect()


@dataclass
class RunResult:
    overhead_p50_ms: float
    overhead_p95_ms: float
    ratio_p50: float  # Zora's turn / the direct turn, at p50
    direct_turn_p50_ms: float
    zora_turn_p50_ms: float
    steps: int
    direct_ttft_p50_ms: float
    zora_ttft_p50_ms: float
    zora_ttft_p95_ms: float
    # A workflow of as many no-op activities as the turn has steps, per step: what Temporal alone costs.
    temporal_floor_step_p50_ms: float


async def one_run(direct: DirectLoop, zora: ZoraTurns, turn: TurnInput, turns: int) -> RunResult:
    overhead, direct_turns, zora_turns, direct_first, zora_first, floor = [], [], [], [], [], []
    steps = 0
    for _ in range(turns):
        d, steps, _first = await direct.turn(turn)
        z, zora_steps = await zora.turn(turn)
        assert zora_steps == steps, (zora_steps, steps)
        overhead.append((z - d) / steps)
        direct_turns.append(d)
        zora_turns.append(z)
        hello = turn.model_copy(update={"history": [ChatMessage(role="user", content=HELLO)]})
        direct_first.append((await direct.turn(hello))[2])
        zora_first.append(await zora.first_token())
        floor.append(await zora.noop_steps(steps) / steps)
    ms = 1000.0
    return RunResult(
        overhead_p50_ms=percentile(overhead, 50) * ms,
        overhead_p95_ms=percentile(overhead, 95) * ms,
        ratio_p50=percentile(zora_turns, 50) / percentile(direct_turns, 50),
        direct_turn_p50_ms=percentile(direct_turns, 50) * ms,
        zora_turn_p50_ms=percentile(zora_turns, 50) * ms,
        steps=steps,
        direct_ttft_p50_ms=percentile(direct_first, 50) * ms,
        zora_ttft_p50_ms=percentile(zora_first, 50) * ms,
        zora_ttft_p95_ms=percentile(zora_first, 95) * ms,
        temporal_floor_step_p50_ms=percentile(floor, 50) * ms,
    )


async def measure(
    infra: Infra, *, turns: int, runs: int, warmup: int = WARMUP, worker_process: bool = True, unsandboxed: bool = False
) -> list[RunResult]:
    """The benchmark on these servers (the test runs a tiny one on the test's own). Zora's worker runs in
    a process of its own, as in production (`worker_process=False`: on this process's loop, as `zora dev`);
    `unsandboxed`: its workflows without Temporal's sandbox (an experiment, as bench.relay has)."""
    model = OpenAIStandIn()
    await model.start()
    slack = SlackStandIn(bot_token="xoxb-bench-token", signing_secret="bench-signing-secret")
    slack.add_channel(CHANNEL, "support")
    await slack.start()
    extra = {"openai_base_url": model.base_url, "openai_model": MODEL}
    try:
        async with running_zora(
            infra, slack, extra=extra, worker_process=worker_process, unsandboxed=unsandboxed
        ) as handle:
            services = handle.services
            slack.events_url = f"{handle.base_url}/slack/events"
            shop_id = await ensure_shop(services.pool, SHOP, "Bench shop", CHANNEL)
            bench_queue = f"bench-assistant-{uuid.uuid4().hex[:6]}"
            worker = Worker(
                services.temporal,
                task_queue=bench_queue,
                workflows=[FirstStepWorkflow, NoopStepsWorkflow],
                activities=[noop],
                workflow_runner=UnsandboxedWorkflowRunner(),
            )
            async with worker, shopper(handle.base_url, shop_id) as conversation:
                direct = DirectLoop(model.base_url, AssistantToolActivities(services.pool))
                zora = ZoraTurns(services.temporal, handle.settings.temporal_task_queue, bench_queue, conversation)
                turn = TurnInput(
                    shop=SHOP,
                    shop_id=shop_id,
                    conversation_id=conversation.conversation_id,
                    seq=1,
                    history=[ChatMessage(role="user", content=QUESTION)],
                    model=MODEL,
                )
                if warmup:
                    await one_run(direct, zora, turn, warmup)
                results = [await one_run(direct, zora, turn, turns) for _ in range(runs)]
                await direct.client.close()
                return results
    finally:
        await slack.stop()
        await model.stop()


def summary(results: list[RunResult]) -> dict[str, dict[str, float]]:
    """Per figure: the median over runs and the spread (min, max)."""
    out: dict[str, dict[str, float]] = {}
    for name in asdict(results[0]):
        values = [float(getattr(r, name)) for r in results]
        out[name] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return out


def report(results: list[RunResult], load: tuple[str, str]) -> str:
    s = summary(results)

    def row(label: str, key: str, unit: str = "ms") -> str:
        v = s[key]
        return f"| {label} | {v['median']:.1f} {unit} | {v['min']:.1f} - {v['max']:.1f} |"

    lines = [
        f"{len(results)} runs; load before: {load[0]}; after: {load[1]}",
        "",
        "| figure (median of runs' p50/p95) | median | spread (min - max) |",
        "|---|---|---|",
        row("direct turn, p50", "direct_turn_p50_ms"),
        row("Zora turn, p50", "zora_turn_p50_ms"),
        row("overhead per step, p50", "overhead_p50_ms"),
        row("overhead per step, p95", "overhead_p95_ms"),
        row("Zora / direct turn, p50", "ratio_p50", "x"),
        row("Temporal floor per step (no-op activities), p50", "temporal_floor_step_p50_ms"),
        row("first token, direct, p50", "direct_ttft_p50_ms"),
        row("first token at the widget socket, Zora, p50", "zora_ttft_p50_ms"),
        row("first token at the widget socket, Zora, p95", "zora_ttft_p95_ms"),
    ]
    return "\n".join(lines)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


async def main(args: argparse.Namespace) -> None:
    before = load_average()
    with tempfile.TemporaryDirectory(prefix="zora-bench-assistant-") as root:
        async with embedded_infra(Path(root)) as infra:
            results = await measure(
                infra,
                turns=args.turns,
                runs=args.runs,
                worker_process=not args.worker_in_process,
                unsandboxed=args.unsandboxed,
            )
    load = (before, load_average())
    if args.json:
        print(json.dumps({"runs": [asdict(r) for r in results], "summary": summary(results), "load": load}))
    else:
        print(report(results, load))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=30, help="turns per run (each: a 2-step turn and a first token)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker-in-process", action="store_true", help="Zora's worker on this process's loop")
    parser.add_argument("--unsandboxed", action="store_true", help="Zora's workflows without Temporal's sandbox")
    asyncio.run(main(parser.parse_args()))
