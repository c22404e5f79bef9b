"""What a chaos run found, as a summary and as a section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.chaos.config import (
    PROJECT,
)


@dataclass
class ChaosReport:
    config: dict[str, Any]
    sent: int = 0  # shopper messages acknowledged
    stored: int = 0
    posted: int = 0  # distinct shopper messages in Slack
    duplicates: int = 0  # extra Slack posts of a shopper message
    lost: int = 0  # stored (or acknowledged) and never in Slack
    out_of_order: int = 0  # conversations whose posts are not in seq order
    replies: int = 0  # agent replies in Slack
    replies_delivered: int = 0  # in their shopper's conversation (once)
    replies_live: int = 0  # of those, received as live events
    replies_on_reload_only: int = 0  # seen by the shopper only after the final reload (missed live, no resume)
    replies_duplicated: int = 0
    replies_lost: int = 0
    replies_misdirected: int = 0
    webhooks: int = 0
    webhooks_processed: int = 0
    webhooks_duplicated: int = 0
    webhooks_lost: int = 0
    webhooks_wrong: int = 0  # final customer record not what the delivery said
    webhook_runs_max: int | None = None  # most workflow runs for one delivery (None: not readable)
    webhook_attempts: int = 0
    resends: int = 0
    reconnects: int = 0
    slack_faults: dict[str, int] = field(default_factory=dict)
    events_failed: int = 0
    events_given_up: int = 0
    events_retried: dict[str, list[str]] = field(default_factory=dict)  # event id -> attempts' outcomes
    faults: list[dict[str, Any]] = field(default_factory=list)
    sending_s: float = 0.0
    recovery_s: float = 0.0  # from the end of the last fault (and of sending) until all checks held
    total_s: float = 0.0
    load: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.lost
            or self.duplicates
            or self.out_of_order
            or self.replies_lost
            or self.replies_duplicated
            or self.replies_misdirected
            or self.webhooks_lost
            or self.webhooks_duplicated
            or self.webhooks_wrong
            or (self.webhook_runs_max or 1) > 1
        )


def summary(report: ChaosReport) -> str:
    faults = "; ".join(
        f"{f['at_s']:.0f} s {f['kind']} ({f['detail']}"
        + (f", back after {f['recovered_after_s']:.1f} s" if f["kind"] != "slack_flaky" else "")
        + ")"
        for f in report.faults
    )
    slack = ", ".join(f"{k} {v}" for k, v in sorted(report.slack_faults.items())) or "none"
    return "\n".join(
        [
            f"shopper messages: sent (acked) {report.sent}, stored {report.stored}, posted {report.posted},"
            f" duplicates {report.duplicates}, lost {report.lost}, conversations out of order {report.out_of_order}"
            f" (re-sent by shoppers {report.resends}, reconnects {report.reconnects})",
            f"agent replies: in Slack {report.replies}, delivered {report.replies_delivered}"
            f" (live {report.replies_live}, the rest on a resume; {report.replies_on_reload_only} only after the"
            f" final reload), duplicated {report.replies_duplicated},"
            f" lost {report.replies_lost}, to the wrong shopper {report.replies_misdirected}"
            f" (event deliveries failed {report.events_failed}, given up {report.events_given_up})",
            f"webhooks: sent {report.webhooks} ({report.webhook_attempts} attempts), processed"
            f" {report.webhooks_processed}, stored twice {report.webhooks_duplicated}, lost {report.webhooks_lost},"
            f" wrong record {report.webhooks_wrong}, most workflow runs for one delivery {report.webhook_runs_max}",
            f"faults: {faults}",
            f"events retried (attempts' outcomes): {_retried(report.events_retried)}",
            f"Slack call failures injected: {slack}",
            f"sending {report.sending_s:.0f} s; recovery (last fault and sending done -> all checks hold)"
            f" {report.recovery_s:.0f} s; whole run {report.total_s:.0f} s; load average before/after"
            f" {report.load[0]} / {report.load[-1] if len(report.load) > 1 else '?'}",
        ]
        + [f"PROBLEM: {p}" for p in report.problems]
    )


def _retried(outcomes: dict[str, list[str]], shown: int = 8) -> str:
    if not outcomes:
        return "none"
    listed = "; ".join(f"{event} [{', '.join(attempts)}]" for event, attempts in list(outcomes.items())[:shown])
    return listed + (f"; and {len(outcomes) - shown} more" if len(outcomes) > shown else "")


def markdown(report: ChaosReport, command: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"nproc {os.cpu_count()}, Python {platform.python_version()}, {platform.system()} {platform.release()}"
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    lines = summary(report).splitlines()
    return (
        f"\n### Run {stamp}\n\n`{command}`. Machine: {machine}; `uptime` at the end: `{uptime}`.\n\n"
        + "\n".join(f"- {line}" for line in lines)
        + "\n"
    )


def write_section(text: str) -> None:
    """Append under "## Chaos run" (created at the end of docs/benchmarks.md if missing)."""
    path = PROJECT / "docs" / "benchmarks.md"
    doc = path.read_text() if path.exists() else "# Benchmarks\n"
    header = "\n## Chaos run\n"
    if header not in doc:
        doc = (
            doc.rstrip("\n")
            + "\n"
            + header
            + "\nTwo web processes and a worker process on the embedded stack while processes are killed, Redis and"
            " PostgreSQL restarted and Slack fails a share of its calls (`bench/chaos/`, its docstring says how)."
            " The target: nothing lost, nothing doubled, order kept. `make test` runs a short version"
            " (tests/e2e/test_chaos.py).\n"
        )
        doc += text
    else:
        start = doc.index(header) + len(header)
        nxt = doc.find("\n## ", start)
        doc = doc + text if nxt == -1 else doc[:nxt].rstrip("\n") + "\n" + text + doc[nxt:]
    path.write_text(doc)
