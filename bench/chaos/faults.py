"""The faults: planned at random (seeded) moments, then injected one at a time."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.chaos.config import (
    ChaosConfig,
)
from bench.chaos.servers import RestartablePostgres, RestartableRedis
from zora.app.cluster import WEB, WORKER
from zora.settings import Settings

if TYPE_CHECKING:
    from bench.chaos.run import Chaos


@dataclass
class Fault:
    kind: str
    at: float  # seconds from the start of sending
    detail: str = ""
    recovered_after: float | None = None  # seconds until the failed part served again
    ended: float = 0.0  # seconds from the start of sending: served again (the Slack window closed)


def plan(config: ChaosConfig, rng: random.Random, window: float) -> list[Fault]:
    """Every kind once per round, in a random order, at random moments of the sending window."""
    kinds: list[str] = []
    for _ in range(config.rounds):
        kinds += rng.sample(list(config.kinds), len(config.kinds))
    times = sorted(rng.uniform(0.05 * window, 0.8 * window) for _ in kinds)
    return [Fault(kind, round(at, 1)) for kind, at in zip(kinds, times, strict=True)]


async def inject(chaos: Chaos, settings: Settings, redis: RestartableRedis, postgres: RestartablePostgres) -> None:
    flaky: list[asyncio.Task[None]] = []
    for fault in chaos.faults:
        await asyncio.sleep(max(0.0, chaos.t0 + fault.at - time.monotonic()))
        fault.at = round(chaos.elapsed(), 1)
        started = time.monotonic()
        if fault.kind in ("kill_web", "kill_worker"):
            role = WEB if fault.kind == "kill_web" else WORKER
            victim = chaos.rng.choice(chaos.cluster.alive(role))
            os.kill(victim.process.pid, signal.SIGKILL)
            await asyncio.to_thread(victim.process.wait)
            down = chaos.rng.uniform(1, 5)
            fault.detail = f"{victim.name} killed, down {down:.1f} s"
            chaos.say(f"chaos: {fault.at:6.1f} s  {fault.kind}: {fault.detail}")
            await asyncio.sleep(down)
            await chaos.start_node(role, settings)
        elif fault.kind == "restart_redis":
            down = chaos.rng.uniform(1, 3)
            fault.detail = f"down {down:.1f} s"
            chaos.say(f"chaos: {fault.at:6.1f} s  {fault.kind}: {fault.detail}")
            await redis.stop()
            await asyncio.sleep(down)
            await redis.start()
        elif fault.kind == "restart_postgres":
            down = chaos.rng.uniform(1, 3)
            fault.detail = f"down {down:.1f} s"
            chaos.say(f"chaos: {fault.at:6.1f} s  {fault.kind}: {fault.detail}")
            await postgres.stop()
            await asyncio.sleep(down)
            await postgres.start()
        elif fault.kind == "slack_flaky":
            fault.detail = (
                f"{chaos.config.slack_failure_rate:.0%} of Slack calls fail for {chaos.config.slack_window:.0f} s"
            )
            chaos.say(f"chaos: {fault.at:6.1f} s  {fault.kind}: {fault.detail}")
            # Each of Slack's ways once on the shopper path for sure, then at random.
            for kind in ("429", "500", "500_after_work", "timeout", "connection_lost"):
                chaos.slack.inject("chat.postMessage", kind)
            flaky.append(asyncio.create_task(flaky_window(chaos, fault)))
            continue
        fault.recovered_after = round(time.monotonic() - started, 1)
        chaos.say(f"chaos: {chaos.elapsed():6.1f} s  {fault.kind}: back after {fault.recovered_after:.1f} s")
        fault.ended = round(chaos.elapsed(), 1)
    for task in flaky:
        await task


async def flaky_window(chaos: Chaos, fault: Fault) -> None:
    # Windows may overlap: Slack stays flaky until the last one closes.
    chaos.flaky_windows += 1
    chaos.slack.failure_rate = chaos.config.slack_failure_rate
    try:
        await asyncio.sleep(chaos.config.slack_window)
    finally:
        chaos.flaky_windows -= 1
        if chaos.flaky_windows == 0:
            chaos.slack.failure_rate = 0.0
        # Whatever was queued and not taken yet goes: the window is over.
        chaos.slack.clear_failures("chat.postMessage")
        fault.ended = round(chaos.elapsed(), 1)
