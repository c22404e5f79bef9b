"""One phase of the relay benchmark: start the shoppers' load, sample the measured window, and sum it up.

bench/relay.py runs the phases (the main one, then the ladder) against the floor and Zora.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import cpu
from bench.gcwatch import GcWatch
from bench.load import LoadOutcome, LoadPlan, run_in_process
from bench.load import _main as load_main
from bench.profile import Profile, Sampler
from bench.profile import summarise as summarise_profile
from bench.relay_report import fmt, print_phase
from bench.stats import PhaseResult, ServerRecord, summarise

if TYPE_CHECKING:
    from bench.relay import Options

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "bench" / "results"
_PHASE_NUMBERS = itertools.count(1)
# Processes of the run besides this one (PostgreSQL, Redis, Zora's own processes), by pid, for CPU accounting.
EXTRA_ROLES: dict[int, str] = {}


@dataclass
class Phase:
    label: str
    result: PhaseResult
    cpu: dict[str, float]
    threads: dict[str, float]
    warnings: int
    tag: str
    profile: Profile | None = None
    durable: str | None = None
    gc: str = ""

    def cpu_ms_per_msg(self) -> float:
        """CPU milliseconds per completed round trip: the server process (the floor's whole relay, or
        Zora's web and worker) plus, for Zora, PostgreSQL, Redis and Temporal."""
        if self.result.system == "floor":
            wanted: tuple[str, ...] = ("server process (python)",)
        else:
            wanted = tuple(k for k in self.cpu if not k.startswith(("load", "other")))
        cores = sum(self.cpu.get(k, 0.0) for k in wanted)
        return cores * 1000.0 / self.result.throughput if self.result.throughput > 0 else math.nan


class WarningCounter(logging.Handler):
    """Counts WARNING+ records, so a phase can say how many its server logged."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


async def _recv(conn: Connection, within: float) -> Any:
    """A message from the load side without blocking the server's event loop."""
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, conn.poll, within):
        raise TimeoutError(f"the load process said nothing for {within:.0f} s")
    return conn.recv()


async def run_phase(
    *,
    label: str,
    system: str,
    base_url: str,
    events_url: str,
    standin: Any,
    shoppers: int,
    rate: float,
    warmup: float,
    duration: float,
    drain: float,
    opts: Options,
    counter: WarningCounter,
    durable: Callable[[str, int], Awaitable[str]] | None = None,
) -> Phase:
    standin.reset()
    standin.events_url = events_url
    plan = LoadPlan(
        base_url=base_url,
        shop=shop(),
        shoppers=shoppers,
        rate=rate,
        warmup=warmup,
        duration=duration,
        drain=drain,
        tag=f"{system[0]}{next(_PHASE_NUMBERS)}x",
    )
    print(f"  {label}: {system}, {shoppers} shoppers x {rate:g} msg/s ...", flush=True)
    load = _start_load(plan, opts.load_in_process)
    try:
        window = await _measure(load, plan, system=system, label=label, profile=opts.profile, counter=counter)
    finally:
        await _stop_load(load)
    outcome = window.outcome
    _write_raw(RESULTS / f"raw-{system}-{label.replace('/', 'per')}.csv", outcome, standin.records)
    result = _result(plan, system, outcome, standin.records, window.cpu)
    phase = Phase(
        label=label,
        result=result,
        cpu=window.cpu,
        threads=window.threads,
        warnings=counter.count - window.warnings_before,
        tag=plan.tag,
        profile=window.profile,
        gc=window.gc,
    )
    if durable is not None:
        with contextlib.suppress(Exception):
            openings = sum(1 for r in outcome.records.values() if r.opening)
            phase.durable = await asyncio.wait_for(durable(plan.tag, result.sent + openings), 30)
    print_phase(phase)
    # Let stragglers (late replies, the stand-in's delivery tasks) finish before the next phase.
    await asyncio.sleep(2.0)
    return phase


@dataclass
class _Load:
    """A phase's shoppers: a spawned load process or, with --load-in-process, a task on this loop; and the
    pipe to them. `roles` names this process and the load process for CPU accounting."""

    conn: Connection
    roles: dict[int, str]
    proc: Any = None
    task: asyncio.Task[LoadOutcome] | None = None


def _start_load(plan: LoadPlan, in_process: bool) -> _Load:
    proc: Any = None
    task: asyncio.Task[LoadOutcome] | None = None
    if in_process:
        conn, child = mp.Pipe()
        task = asyncio.create_task(load_main(plan, child))
    else:
        proc, conn = run_in_process(plan)
    roles = {os.getpid(): "server process (python)", **EXTRA_ROLES}
    if proc is not None and proc.pid:
        roles[proc.pid] = "load process (python)"
    return _Load(conn=conn, roles=roles, proc=proc, task=task)


async def _stop_load(load: _Load) -> None:
    if load.proc is not None:
        await asyncio.get_running_loop().run_in_executor(None, load.proc.join, 10.0)
        if load.proc.is_alive():
            load.proc.kill()
    load.conn.close()


@dataclass
class _Window:
    """What the measured window used (cores by role and by thread kind), and the load's outcome after the drain."""

    cpu: dict[str, float]
    threads: dict[str, float]
    gc: str
    warnings_before: int
    outcome: LoadOutcome
    profile: Profile | None


async def _measure(
    load: _Load, plan: LoadPlan, *, system: str, label: str, profile: bool, counter: WarningCounter
) -> _Window:
    """Wait for the shoppers to be ready, say go, sample the measured window, then wait for the load's outcome."""
    kind, info = await _recv(load.conn, plan.connect_timeout + plan.open_timeout + 30.0)
    if kind == "error":
        raise RuntimeError(f"load process failed:\n{info}")
    if info["connect_errors"]:
        print(f"    {info['connect_errors']} shopper(s) could not connect", flush=True)
    sampler: Sampler | None = None
    if profile:
        out = RESULTS / f"profile-{system}-{label.replace(' ', '')}.txt"
        out.unlink(missing_ok=True)
        sampler = await Sampler.start(os.getpid(), plan.duration, out)
        if sampler is None:
            print("    py-spy is not installed: no profile", flush=True)
    load.conn.send(("go",))
    warnings_before = counter.count
    # The measured window starts after start_delay + warmup; sample CPU over exactly that window.
    await asyncio.sleep(plan.start_delay + plan.warmup)
    cpu_before, threads_before, t_before = cpu.snapshot(), cpu.thread_snapshot(os.getpid()), time.monotonic()
    with GcWatch() as gc_watch:
        await asyncio.sleep(plan.duration)
    cpu_after, threads_after, t_after = cpu.snapshot(), cpu.thread_snapshot(os.getpid()), time.monotonic()
    outcome: LoadOutcome
    if load.task is not None:
        outcome = await asyncio.wait_for(load.task, plan.drain + 60.0)
    else:
        kind, payload = await _recv(load.conn, plan.drain + 60.0)
        if kind == "error":
            raise RuntimeError(f"load process failed:\n{payload}")
        outcome = payload
    summary: Profile | None = None
    if sampler is not None and await sampler.wait():
        summary = summarise_profile(sampler.output)
    return _Window(
        cpu=cpu.usage(cpu_before, cpu_after, t_after - t_before, load.roles),
        threads=cpu.thread_usage(threads_before, threads_after, t_after - t_before, threading.get_native_id()),
        gc=gc_watch.summary(),
        warnings_before=warnings_before,
        outcome=outcome,
        profile=summary,
    )


def _result(
    plan: LoadPlan, system: str, outcome: LoadOutcome, server: dict[str, ServerRecord], usage: dict[str, float]
) -> PhaseResult:
    """The phase's figures, with notes on what a reader should know beside the table."""
    window_start = outcome.t0 + plan.warmup
    result = summarise(
        system=system,
        shoppers=plan.shoppers,
        rate_per_shopper=plan.rate,
        window_start=window_start,
        window_end=window_start + plan.duration,
        clients=outcome.records,
        server=server,
        connect_errors=outcome.connect_errors,
        disconnects=outcome.disconnects,
    )
    result.notes.extend(outcome.errors)
    if result.ack_errors:
        result.notes.append(f"{result.ack_errors} message(s) were refused (ack ok: false) or could not be sent")
    if result.undelivered_events:
        result.notes.append(f"{result.undelivered_events} agent reply event(s) failed (non-2xx or 3 s timeout)")
    ws, wp = result.open_to_slack, result.open_to_shopper
    if ws.count:
        result.notes.append(
            f"opening {ws.count} conversations within {plan.open_spread:g} s before the phase (not in the"
            f" table): first message shopper->Slack p50 {fmt(ws.p50)} / p99 {fmt(ws.p99)} / max {fmt(ws.max)} ms,"
            f" its reply Slack->shopper p50 {fmt(wp.p50)} / p99 {fmt(wp.p99)} / max {fmt(wp.max)} ms"
        )
    if result.max_send_lag_ms > 100:
        result.notes.append(f"load process fell behind its schedule by up to {result.max_send_lag_ms:.0f} ms")
    other = sum(v for k, v in usage.items() if k == "other")
    if other >= 0.15:
        result.notes.append(
            f"noisy: processes outside this benchmark used {other:.2f} cores of the machine during the window"
        )
    return result


def _write_raw(path: Path, outcome: LoadOutcome, server: dict[str, Any]) -> None:
    """Every message's timestamps (seconds after the load's t0), for looking at more than percentiles."""
    rows = ["id,scheduled,sent,acked,ack_ok,posted,delivered,replied,posts,replies"]
    t0 = outcome.t0

    def rel(value: float | None) -> str:
        return "" if value is None else f"{value - t0:.6f}"

    for msg_id, rec in outcome.records.items():
        srv = server.get(msg_id)
        posted = srv.posted[0] if srv and srv.posted else None
        delivered = srv.delivered[0] if srv and srv.delivered else None
        replied = rec.replies[0] if rec.replies else None
        rows.append(
            f"{msg_id},{rel(rec.scheduled)},{rel(rec.sent)},{rel(rec.acked)},{rec.ack_ok},{rel(posted)},"
            f"{rel(delivered)},{rel(replied)},{len(srv.posted) if srv else 0},{len(rec.replies)}"
        )
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


async def settle(phase: Phase, limit: float = 120.0) -> None:
    """Wait (bounded) until the machine is quiet again: a backlog left by an overloaded phase would
    otherwise be charged to the next one."""
    started = time.monotonic()
    quiet = 0
    while time.monotonic() - started < limit:
        before, t0 = cpu.snapshot(), time.monotonic()
        await asyncio.sleep(1.0)
        roles = {os.getpid(): "server", **EXTRA_ROLES}
        used = cpu.usage(before, cpu.snapshot(), time.monotonic() - t0, roles)
        busy = sum(v for k, v in used.items() if k != "other")
        quiet = quiet + 1 if busy < 0.15 else 0
        if quiet >= 2:
            break
    waited = time.monotonic() - started
    if waited > 5:
        note = f"the backlog took {waited:.0f} s to clear after the phase"
        if quiet < 2:
            note = f"the machine was still busy {waited:.0f} s after the phase (gave up waiting)"
        phase.result.notes.append(note)
        print(f"    note: {note}", flush=True)


async def zora_durable(pool: Any, tag: str, sent: int) -> str:
    """What Zora holds in PostgreSQL for a phase once the drain is over (so 'lost' can be told from 'late')."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT direction, status, count(*) AS n FROM messages"
            " WHERE (direction = 'shopper' AND client_id LIKE $1) OR (direction = 'agent' AND body LIKE $2)"
            " GROUP BY 1, 2 ORDER BY 1, 2",
            tag + "%",
            "%[" + tag + "%",
        )
    parts = [f"{r['direction']} {r['status']} {r['n']}" for r in rows]
    return f"{sent} sent (openings included); in PostgreSQL after the drain: " + (", ".join(parts) or "nothing")


def shop() -> str:
    from bench.stack import SHOP

    return SHOP
