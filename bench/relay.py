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
import json
import logging
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.relay_phase import EXTRA_ROLES, RESULTS, Phase, WarningCounter, run_phase, settle, zora_durable
from bench.relay_report import P99_LIMIT_MS, as_json, summary, write_doc

log = logging.getLogger("bench.relay")

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_STEPS = (25, 50, 100, 200, 300, 500, 700, 1000)


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
    uvloop: bool = False
    # With --worker-process: the worker and the Temporal dev server run at this niceness (the web keeps 0).
    background_nice: int = 0


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


def _route_temporal_logs() -> None:
    """Temporal's core (Rust) logs to stderr by default; send its warnings to the run's log instead."""
    from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    logging_config = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"), forwarding=forwarding
    )
    with contextlib.suppress(RuntimeError):
        Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=logging_config)))


async def run_all(opts: Options) -> Run:
    from bench.floor import FloorRelay
    from bench.stack import BOT_TOKEN, CHANNEL, SIGNING_SECRET, RecordingStandIn, embedded_infra, running_zora

    RESULTS.mkdir(parents=True, exist_ok=True)
    _route_temporal_logs()
    counter = WarningCounter()
    logging.getLogger().addHandler(counter)
    run = Run(options=opts, machine=report.machine(), started=report.started_now())
    load_before = report.load_average()
    t_start = time.monotonic()
    deadline = t_start + opts.max_time
    with tempfile.TemporaryDirectory(prefix="zb-") as tmp:
        print("starting embedded PostgreSQL, Redis and Temporal ...", flush=True)
        async with embedded_infra(Path(tmp), temporal_nice=opts.background_nice) as infra:
            EXTRA_ROLES.update(infra.pids)
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
                    worker_nice=opts.background_nice,
                    log_file=str(RESULTS / "relay-worker.log"),
                    web_nodes=opts.web,
                ) as zora:
                    if zora.worker_pid is not None:
                        EXTRA_ROLES[zora.worker_pid] = "zora worker process (python)"
                    for pid in zora.web_pids:
                        EXTRA_ROLES[pid] = "zora web processes (python)"
                    print(f"ready in {time.monotonic() - t_start:.1f} s", flush=True)
                    targets = {
                        "floor": (floor.base_url, f"{floor.base_url}/slack/events"),
                        "zora": (zora.base_url, f"{zora.base_url}/slack/events"),
                    }
                    durable = {"zora": functools.partial(zora_durable, zora.services.pool), "floor": None}
                    await _measure_systems(opts, run, standin, targets, durable, counter, deadline)
                    print("stopping ...", flush=True)
            finally:
                await floor.stop()
                await standin.stop()
    logging.getLogger().removeHandler(counter)
    run.seconds = time.monotonic() - t_start
    run.load = (load_before, report.load_average())
    return run


async def _measure_systems(
    opts: Options,
    run: Run,
    standin: Any,
    targets: Mapping[str, tuple[str, str]],
    durable: Mapping[str, Callable[[str, int], Awaitable[str]] | None],
    counter: WarningCounter,
    deadline: float,
) -> None:
    """Each system's main phase and then its ladder; between phases, wait for the previous load's backlog to
    clear so it does not slow the next phase."""
    for system in opts.systems:
        base_url, events_url = targets[system]
        measure: Callable[..., Awaitable[Phase]] = functools.partial(
            run_phase,
            system=system,
            base_url=base_url,
            events_url=events_url,
            standin=standin,
            drain=opts.drain,
            opts=opts,
            counter=counter,
            durable=durable[system],
        )
        phase = await measure(
            label="main", shoppers=opts.shoppers, rate=opts.rate, warmup=opts.warmup, duration=opts.duration
        )
        run.phases.append(phase)
        await settle(phase)
        if opts.find_max:
            run.ladders[system] = []
            await _ladder(opts, measure, deadline, run.ladders[system])


async def _ladder(
    opts: Options, measure: Callable[..., Awaitable[Phase]], deadline: float, ladder: list[Phase]
) -> None:
    """Raise the total rate step by step, up to the first step that is not sustained (or --max-time)."""
    shoppers = opts.step_shoppers or opts.shoppers
    for total in opts.steps:
        needed = max(opts.step_warmup, 2.0 * shoppers / total) + opts.step_duration + opts.drain + 30
        if time.monotonic() + needed > deadline:
            print(f"  stopping the ladder: --max-time {opts.max_time:.0f} s reached")
            break
        rate = total / shoppers
        phase = await measure(
            label=f"{total}/s",
            shoppers=shoppers,
            rate=rate,
            # Every shopper sends at least twice before the window.
            warmup=max(opts.step_warmup, 2.0 / rate),
            duration=opts.step_duration,
        )
        ladder.append(phase)
        await settle(phase)
        if not phase.result.sustained(P99_LIMIT_MS):
            break


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
        help="run Zora's web app in N processes of its own sharing one port (zora/app/cluster.py, as `zora dev --web N`)"
        " instead of in the benchmark's process",
    )
    p.add_argument(
        "--unsandboxed",
        action="store_true",
        help="experiment, not Zora as shipped: run the workflow with UnsandboxedWorkflowRunner",
    )
    p.add_argument(
        "--background-nice",
        type=int,
        default=0,
        metavar="N",
        help="with --worker-process: run the worker and the Temporal dev server at niceness N, below the web process"
        " (docs/operations.md: what a single machine running all of Zora should do)",
    )
    p.add_argument("--profile", action="store_true", help="sample the server with py-spy during the main phases")
    p.add_argument("--no-doc", action="store_true", help="do not write docs/benchmarks.md")
    p.add_argument(
        "--uvloop", action="store_true", help="run the server process (Zora and the floor alike) on uvloop's event loop"
    )
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
    if not 0 <= args.background_nice <= 19:
        raise SystemExit("--background-nice takes a niceness from 0 to 19")
    if args.background_nice and not args.worker_process:
        raise SystemExit(
            "--background-nice needs --worker-process (a worker in the web process would be slowed with it)"
        )
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
        uvloop=args.uvloop,
        background_nice=args.background_nice,
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
    # Web nodes are started as `python -m zora.app.cluster` (not spawned from this interpreter): they find the
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
        if opts.uvloop:
            import uvloop

            run = uvloop.run(run_all(opts))
        else:
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
