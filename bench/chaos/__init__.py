"""Chaos run: shoppers, agents and Shopify keep talking to Zora while its processes and servers fail.

    .venv/bin/python -m bench.chaos [--shoppers 200] [--messages 5] [--rate 10] [--webhooks 100]
                                    [--rounds 2] [--seed 1] [--write]

Two web processes on one port (SO_REUSEPORT) and a worker process, started as `zora dev --web 2 --workers 1`
starts them (zora/app/cluster.py), on PostgreSQL and Redis servers of this run's own (so they can be
restarted) and a Temporal dev server. Each shopper is a socket.io client speaking the widget protocol
as the widget does: it re-sends a message without an answer under the same client id, and after a
reconnect it resumes from the last seq it holds. The Slack stand-in answers every shopper post with an
agent reply in the thread and delivers it as a signed event, retrying a failed delivery as Slack does.
Signed Shopify webhooks (some sent twice) arrive meanwhile, retried by the sender as Shopify does.

At random moments (seeded), one fault at a time, each kind once per round:
- `kill_web`: SIGKILL one web process, start a new one on the port a few seconds later;
- `kill_worker`: SIGKILL the worker, start a new one;
- `restart_redis` and `restart_postgres`: stop the server, start it again on the same socket;
- `slack_flaky`: for a while, 20 % of Slack Web API calls fail: 429 with Retry-After, HTTP 500 (before
  or after doing the work), no answer until the client's timeout (then done anyway), or the connection
  dropped after the work.

After the last fault, the run waits until everything has settled, then checks: every stored shopper
message is in Slack exactly once, in seq order per conversation (the `zora_message` metadata on each
post names conversation and seq); every agent reply reaches its shopper exactly once (live or by
resume, as the widget merges them by seq); every webhook delivery is stored once and processed by one
workflow run. `--write` appends the result to docs/benchmarks.md under "Chaos run".

The parts: config.py (knobs), servers.py (restartable PostgreSQL and Redis), slack.py (the Slack stand-in),
traffic.py (shoppers and webhooks), faults.py, checks.py (settling and verification), report.py, run.py.
"""

from __future__ import annotations

import os
import tempfile

# Before the servers' and clients' libraries are imported by the modules below.
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

from bench.chaos.config import FAULT_KINDS, ChaosConfig
from bench.chaos.report import ChaosReport, summary
from bench.chaos.run import run_chaos

__all__ = ["FAULT_KINDS", "ChaosConfig", "ChaosReport", "run_chaos", "summary"]
