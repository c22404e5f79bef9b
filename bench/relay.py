"""The relay benchmark: shopper <-> Slack latency through Zora, against a floor measured in the same run.

    .venv/bin/python -m bench.relay [--shoppers 100 --rate 1.0 --duration 20 --find-max]

Starts embedded PostgreSQL, Redis and Temporal (data in a temp dir), the Slack stand-in (answering
every thread post with a signed agent reply event), Zora's web + worker and the floor relay in this
process, and drives N python-socketio shoppers from a separate load process. Prints a table and
writes the "Relay" section of docs/benchmarks.md (see that file for what each number means).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import json
import logging
import math
import multiprocessing as mp
import os
import shlex
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench import cpu, report
from bench.gcwatch import GcWatch
from bench.load import LoadOutcome, LoadPlan, run_in_process
from bench.load import _main as load_main
from bench.profile import Profile, Sampler
from bench.profile import summarise as summarise_profile
from bench.relay_report import P99_LIMIT_MS, as_json, fmt, print_phase, summary, write_doc
from bench.stats import PhaseResult, summarise

log = logging.getLogger("bench.relay")

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "bench" / "results"
DEFAULT_STEPS = (25, 50, 100, 200, 300, 500, 700, 1000)
_PHASE_NUMBERS = itertools.count(1)
_EXTRA_ROLES: dict[int, str] = {}


@dataclass
class Options:
    shoppers: int
    rate: float
    duration: float
    warmup: float
    drain: float
    find_max: bool
    steps: tuple[int, ...]
    step_shoppers: int | None
    step_duration: float
    step_warmup: float
    max_time: float
    systems: tuple[str, ...]
    load_in_process: bool
    worker_process: bool
    web: int
    unsandboxed: bool
    profile: bool
    write_doc: bool
    snapshot: bool
    command: str


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


@dataclass
class Run:
    options: Options
    machine: dict[str, str]
    started: str
    phases: list[Phase] = field(default_factory=list)
    ladders: dict[str, list[Phase]] = field(default_factory=dict)
    seconds: float = 0.0
    source: str = ""
    # The 1-minute load average before and after the run.
    load: tuple[float, float] = (math.nan, math.nan)


class _Counter(logging.Handler):
    """Counts WARNING+ records, so a phase can say how many its server logged."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


# ---------------------------------------------------------------------------------------------- phases


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
    counter: _Counter,
    durable: Callable[[str, int], Awaitable[str]] | None = None,
) -> Phase:
    standin.reset()
    standin.events_url = events_url
    plan = LoadPlan(
        base_url=base_url,
        shop=_shop(),
        shoppers=shoppers,
        rate=rate,
        warmup=warmup,
        duration=duration,
        drain=drain,
        tag=f"{system[0]}{next(_PHASE_NUMBERS)}x",
    )
    print(f"  {label}: {system}, {shoppers} shoppers x {rate:g} msg/s ...", flush=True)
    proc: Any = None
    task: asyncio.Task[LoadOutcome] | None = None
    if opts.load_in_process:
        conn, child = mp.Pipe()
        task = asyncio.create_task(load_main(plan, child))
    else:
        proc, conn = run_in_process(plan)
    roles = {os.getpid(): "server process (python)", **_EXTRA_ROLES}
    if proc is not None and proc.pid:
        roles[proc.pid] = "load process (python)"
    try:
        kind, info = await _recv(conn, plan.connect_timeout + plan.open_timeout + 30.0)
        if kind == "error":
            raise RuntimeError(f"load process failed:\n{info}")
        if info["connect_errors"]:
            print(f"    {info['connect_errors']} shopper(s) could not connect", flush=True)
        sampler: Sampler | None = None
        if opts.profile:
            out = RESULTS / f"profile-{system}-{label.replace(' ', '')}.txt"
            out.unlink(missing_ok=True)
            sampler = await Sampler.start(os.getpid(), duration, out)
            if sampler is None:
                print("    py-spy is not installed: no profile", flush=True)
        conn.send(("go",))
        warnings_before = counter.count
        # The measured window starts after start_delay + warmup; sample CPU over exactly that window.
        await asyncio.sleep(plan.start_delay + warmup)
        cpu_before, threads_before, t_before = cpu.snapshot(), cpu.thread_snapshot(os.getpid()), time.monotonic()
        with GcWatch() as gc_watch:
            await asyncio.sleep(duration)
        cpu_after, threads_after, t_after = cpu.snapshot(), cpu.thread_snapshot(os.getpid()), time.monotonic()
        outcome: LoadOutcome
        if task is not None:
            outcome = await asyncio.wait_for(task, drain + 60.0)
        else:
            kind, payload = await _recv(conn, drain + 60.0)
            if kind == "error":
                raise RuntimeError(f"load process failed:\n{payload}")
            outcome = payload
        profile: Profile | None = None
        if sampler is not None and await sampler.wait():
            profile = summarise_profile(sampler.output)
    finally:
        if proc is not None:
            await asyncio.get_running_loop().run_in_executor(None, proc.join, 10.0)
            if proc.is_alive():
                proc.kill()
        conn.close()
    window_start = outcome.t0 + warmup
    _write_raw(RESULTS / f"raw-{system}-{label.replace('/', 'per')}.csv", outcome, standin.records)
    result = summarise(
        system=system,
        shoppers=shoppers,
        rate_per_shopper=rate,
        window_start=window_start,
        window_end=window_start + duration,
        clients=outcome.records,
        server=standin.records,
        connect_errors=outcome.connect_errors,
        disconnects=outcome.disconnects,
    )
    result.notes.extend(outcome.errors)
    if result.ack_errors:
        result.notes.append(f"{result.ack_errors} message(s) were refused (ack ok: false) or could not be sent")
    if result.undelivered_events:
        result.notes.append(f"{result.undelivered_events} agent reply event(s) failed (non-2xx or 3 s timeout)")
    usage = cpu.usage(cpu_before, cpu_after, t_after - t_before, roles)
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
    phase = Phase(
        label=label,
        result=result,
        cpu=usage,
        threads=cpu.thread_usage(threads_before, threads_after, t_after - t_before, threading.get_native_id()),
        warnings=counter.count - warnings_before,
        tag=plan.tag,
        profile=profile,
        gc=gc_watch.summary(),
    )
    if durable is not None:
        with contextlib.suppress(Exception):
            openings = sum(1 for r in outcome.records.values() if r.opening)
            phase.durable = await asyncio.wait_for(durable(plan.tag, result.sent + openings), 30)
    print_phase(phase)
    # Let stragglers (late replies, the stand-in's delivery tasks) finish before the next phase.
    await asyncio.sleep(2.0)
    return phase


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


async def _settle(phase: Phase, limit: float = 120.0) -> None:
    """Wait (bounded) until the machine is quiet again: a backlog left by an overloaded phase would
    otherwise be charged to the next one."""
    started = time.monotonic()
    quiet = 0
    while time.monotonic() - started < limit:
        before, t0 = cpu.snapshot(), time.monotonic()
        await asyncio.sleep(1.0)
        roles = {os.getpid(): "server", **_EXTRA_ROLES}
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


async def _zora_durable(pool: Any, tag: str, sent: int) -> str:
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


def _route_temporal_logs() -> None:
    """Temporal's core (Rust) logs to stderr by default; send its warnings to the run's log instead."""
    from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    logging_config = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"), forwarding=forwarding
    )
    with contextlib.suppress(RuntimeError):
        Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=logging_config)))


def _shop() -> str:
    from bench.stack import SHOP

    return SHOP


async def run_all(opts: Options) -> Run:
    from bench.floor import FloorRelay
    from bench.stack import BOT_TOKEN, CHANNEL, SIGNING_SECRET, RecordingStandIn, embedded_infra, running_zora

    RESULTS.mkdir(parents=True, exist_ok=True)
    _route_temporal_logs()
    counter = _Counter()
    logging.getLogger().addHandler(counter)
    run = Run(options=opts, machine=report.machine(), started=report.started_now())
    load_before = report.load_average()
    t_start = time.monotonic()
    deadline = t_start + opts.max_time
    with tempfile.TemporaryDirectory(prefix="zb-") as tmp:
        print("starting embedded PostgreSQL, Redis and Temporal ...", flush=True)
        async with embedded_infra(Path(tmp)) as infra:
            _EXTRA_ROLES.update(infra.pids)
            standin = RecordingStandIn()
            await standin.start()
            floor = FloorRelay(
                slack_api_url=standin.base_url, bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, channel=CHANNEL
            )
            await floor.start()
            try:
                async with running_zora(
                    infra,
                    standin,
                    worker_process=opts.worker_process,
                    unsandboxed=opts.unsandboxed,
                    log_file=str(RESULTS / "relay-worker.log"),
                    web_nodes=opts.web,
                ) as zora:
                    if zora.worker_pid is not None:
                        _EXTRA_ROLES[zora.worker_pid] = "zora worker process (python)"
                    for pid in zora.web_pids:
                        _EXTRA_ROLES[pid] = "zora web processes (python)"
                    print(f"ready in {time.monotonic() - t_start:.1f} s", flush=True)
                    targets = {
                        "floor": (floor.base_url, f"{floor.base_url}/slack/events"),
                        "zora": (zora.base_url, f"{zora.base_url}/slack/events"),
                    }
                    durable = {"zora": functools.partial(_zora_durable, zora.services.pool), "floor": None}
                    # Each system's main phase and then its ladder; between phases, wait for the
                    # previous load's backlog to clear so it does not slow the next phase.
                    for system in opts.systems:
                        base_url, events_url = targets[system]
                        phase = await run_phase(
                            label="main",
                            system=system,
                            base_url=base_url,
                            events_url=events_url,
                            standin=standin,
                            shoppers=opts.shoppers,
                            rate=opts.rate,
                            warmup=opts.warmup,
                            duration=opts.duration,
                            drain=opts.drain,
                            opts=opts,
                            counter=counter,
                            durable=durable[system],
                        )
                        run.phases.append(phase)
                        await _settle(phase)
                        if not opts.find_max:
                            continue
                        ladder: list[Phase] = []
                        run.ladders[system] = ladder
                        shoppers = opts.step_shoppers or opts.shoppers
                        for total in opts.steps:
                            needed = (
                                max(opts.step_warmup, 2.0 * shoppers / total) + opts.step_duration + opts.drain + 30
                            )
                            if time.monotonic() + needed > deadline:
                                print(f"  stopping the ladder: --max-time {opts.max_time:.0f} s reached")
                                break
                            rate = total / shoppers
                            phase = await run_phase(
                                label=f"{total}/s",
                                system=system,
                                base_url=base_url,
                                events_url=events_url,
                                standin=standin,
                                shoppers=shoppers,
                                rate=rate,
                                # Every shopper sends at least twice before the window.
                                warmup=max(opts.step_warmup, 2.0 / rate),
                                duration=opts.step_duration,
                                drain=opts.drain,
                                opts=opts,
                                counter=counter,
                                durable=durable[system],
                            )
                            ladder.append(phase)
                            await _settle(phase)
                            if not phase.result.sustained(P99_LIMIT_MS):
                                break
                    print("stopping ...", flush=True)
            finally:
                await floor.stop()
                await standin.stop()
    logging.getLogger().removeHandler(counter)
    run.seconds = time.monotonic() - t_start
    run.load = (load_before, report.load_average())
    return run


# ---------------------------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.relay", description=__doc__.split("\n\n")[0])
    p.add_argument("--shoppers", type=int, default=100, help="shoppers (socket.io clients) in the main phase")
    p.add_argument("--rate", type=float, default=1.0, help="messages/s each shopper sends in the main phase")
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds of the main phase")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds sent before the measured window, not counted")
    p.add_argument("--drain", type=float, default=10.0, help="at most this long to wait for the last replies")
    p.add_argument("--find-max", action="store_true", help="then raise the total rate step by step")
    p.add_argument(
        "--steps",
        default=",".join(str(s) for s in DEFAULT_STEPS),
        help="total msg/s of the ladder's steps (default %(default)s)",
    )
    p.add_argument("--step-shoppers", type=int, help="shoppers in each step (default: --shoppers)")
    p.add_argument("--step-duration", type=float, default=10.0, help="measured seconds of each step")
    p.add_argument("--step-warmup", type=float, default=5.0, help="warm-up seconds of each step")
    p.add_argument("--max-time", type=float, default=900.0, help="no new phase starts after this many seconds")
    p.add_argument("--systems", default="floor,zora", help="which relays to measure, in order (default %(default)s)")
    p.add_argument(
        "--load-in-process",
        action="store_true",
        help="run the shoppers on the server's event loop instead of a separate process (for comparison)",
    )
    p.add_argument(
        "--worker-process",
        action="store_true",
        help="run Zora's Temporal worker in its own process (as `zora worker` does) instead of beside the web app",
    )
    p.add_argument(
        "--web",
        type=int,
        default=0,
        metavar="N",
        help="run Zora's web app in N processes of its own sharing one port (zora/cluster.py, as `zora dev --web N`)"
        " instead of in the benchmark's process",
    )
    p.add_argument(
        "--unsandboxed",
        action="store_true",
        help="experiment, not Zora as shipped: run the workflow with UnsandboxedWorkflowRunner",
    )
    p.add_argument("--profile", action="store_true", help="sample the server with py-spy during the main phases")
    p.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    p.add_argument(
        "--no-snapshot",
        action="store_true",
        help="import Zora from the work tree itself instead of a copy taken at start",
    )
    return p


def _options(argv: list[str] | None) -> Options:
    args = _parser().parse_args(argv)
    raw = sys.argv[1:] if argv is None else argv
    steps = tuple(int(s) for s in str(args.steps).split(",") if s.strip())
    systems = tuple(s.strip() for s in str(args.systems).split(",") if s.strip())
    if not set(systems) <= {"floor", "zora"} or not systems:
        raise SystemExit("--systems takes floor and/or zora")
    if args.web < 0:
        raise SystemExit("--web must not be negative")
    for name in ("shoppers", "rate", "duration", "step_duration"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"--{name.replace('_', '-')} must be positive")
    return Options(
        shoppers=args.shoppers,
        rate=args.rate,
        duration=args.duration,
        warmup=args.warmup,
        drain=args.drain,
        find_max=args.find_max,
        steps=steps,
        step_shoppers=args.step_shoppers,
        step_duration=args.step_duration,
        step_warmup=args.step_warmup,
        max_time=args.max_time,
        systems=systems,
        load_in_process=args.load_in_process,
        worker_process=args.worker_process,
        web=args.web,
        unsandboxed=args.unsandboxed,
        profile=args.profile,
        write_doc=not args.no_doc,
        snapshot=not args.no_snapshot,
        command=" ".join([".venv/bin/python -m bench.relay", *(shlex.quote(a) for a in raw)]),
    )


_PACKAGES = ("zora", "bot", "workflows", "activities", "webhooks", "widget")


def _source_state() -> str:
    """The commit under test, and whether the work tree differs from it."""
    import subprocess

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", "-C", str(PROJECT), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = [line for line in git("status", "--porcelain", "--", *_PACKAGES).splitlines() if line.strip()]
    return f"{commit}" + (f" + uncommitted changes in {len(dirty)} file(s)" if dirty else "")


def _snapshot_sources(dest: Path) -> str:
    """Copy Zora's packages and import them from the copy for the whole run.

    The workflow sandbox re-imports workflow modules from disk for every new workflow run, so an
    edit made while the benchmark runs (others work in this tree) would otherwise change, or break,
    the code under test half-way. Spawned processes inherit sys.path, so they use the copy too.
    """
    state = _source_state()
    ignore = shutil.ignore_patterns("node_modules", "__pycache__", "*.pyc")
    for package in _PACKAGES:
        if (PROJECT / package).is_dir():
            shutil.copytree(PROJECT / package, dest / package, ignore=ignore)
    sys.path.insert(0, str(dest))
    # Web nodes are started as `python -m zora.cluster` (not spawned from this interpreter): they find the
    # copy through PYTHONPATH.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(dest), os.environ.get("PYTHONPATH")]))
    return f"{state} (snapshot taken at start)"


def main(argv: list[str] | None = None) -> int:
    opts = _options(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.WARNING,
        filename=str(RESULTS / "relay.log"),
        filemode="w",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    print(f"relay benchmark: {opts.command}  (server warnings go to {RESULTS / 'relay.log'})", flush=True)
    with tempfile.TemporaryDirectory(prefix="zb-src-") as snapshot:
        source = _snapshot_sources(Path(snapshot)) if opts.snapshot else _source_state()
        print(f"code under test: {source}", flush=True)
        run = asyncio.run(run_all(opts))
    run.source = source
    print(summary(run), flush=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"relay-{stamp}.json").write_text(json.dumps(as_json(run), indent=2, default=str), encoding="utf-8")
    if opts.write_doc:
        write_doc(run)
        print(f"wrote {report.DOC.relative_to(PROJECT)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
