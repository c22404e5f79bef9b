"""`python -m bench.chaos`: one chaos run from the command line (bench/chaos/__init__.py says what it does)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from bench import chaos
from bench.chaos.config import (
    FAULT_KINDS,
    ChaosConfig,
)
from bench.chaos.report import markdown, summary, write_section
from bench.chaos.run import run_chaos


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=(chaos.__doc__ or "").split("\n\n")[0])
    parser.add_argument("--shoppers", type=int, default=200)
    parser.add_argument("--messages", type=int, default=5, help="messages per shopper")
    parser.add_argument("--rate", type=float, default=10.0, help="shopper messages per second, all together")
    parser.add_argument("--webhooks", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2, help="each round: every fault kind once")
    parser.add_argument("--kinds", default=",".join(FAULT_KINDS), help="fault kinds, comma-separated")
    parser.add_argument("--slack-failure-rate", type=float, default=0.2)
    parser.add_argument("--slack-window", type=float, default=20.0, help="seconds each slack_flaky fault lasts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--settle-timeout", type=float, default=900.0)
    parser.add_argument("--write", action="store_true", help="append the result to docs/benchmarks.md")
    args = parser.parse_args()
    kinds = tuple(k for k in args.kinds.split(",") if k)
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown:
        parser.error(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(FAULT_KINDS)}")
    if args.shoppers < 1 or args.messages < 1 or args.rate <= 0 or args.webhooks < 0:
        parser.error("--shoppers and --messages must be at least 1, --rate above 0, --webhooks not negative")
    with tempfile.TemporaryDirectory(prefix="zc-") as tmp:
        root = Path(tmp)
        node_log = Path(tempfile.gettempdir()) / "zora-chaos-nodes.log"
        node_log.unlink(missing_ok=True)
        config = ChaosConfig(
            shoppers=args.shoppers,
            messages=args.messages,
            rate=args.rate,
            webhooks=args.webhooks,
            rounds=args.rounds,
            kinds=kinds,
            slack_failure_rate=args.slack_failure_rate,
            slack_window=args.slack_window,
            seed=args.seed,
            settle_timeout=args.settle_timeout,
            node_log=node_log,
            progress=lambda line: print(line, flush=True),
        )
        print(f"chaos: the web and worker processes log to {node_log}", flush=True)
        report = asyncio.run(run_chaos(config, root))
    print(summary(report))
    print(json.dumps({k: v for k, v in vars(report).items() if k != "config"}, indent=2, default=str))
    if args.write:
        write_section(markdown(report, "python -m bench.chaos " + " ".join(sys.argv[1:])))
    sys.exit(0 if report.clean and not report.problems else 1)


if __name__ == "__main__":
    main()
