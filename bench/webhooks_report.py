"""The webhook benchmark's report: its run as a docs/benchmarks.md block (bench/webhooks.py measures it)."""

from __future__ import annotations

from typing import Any

from bench import report as reports

_RESULT_HEADER = [
    "deliveries (unique + 10 % resent)",
    "ack ms p50 / p95 / p99 / max",
    "acks/s",
    "all processed after",
    "inbox processed + stale",
    "records wrong / missing",
]

_WEBHOOKS_TEXT = (
    "Signed Shopify deliveries from concurrent senders (a separate process), 10 % sent twice and the whole"
    " sequence shuffled, through `POST /webhooks/shopify` -> inbox -> ShopifyWebhookWorkflow -> guarded upserts."
    " Targets on the 2-core machine: >= 300 acks/s, p99 ack < 50 ms, 100 % processed, no wrong final row."
    " Command: `.venv/bin/python -m bench.webhooks --write` (`--help` for the knobs)."
)


def markdown(report: dict[str, Any], command: str, seconds: float) -> str:
    ack = report["ack_ms"]
    processed = report["inbox"].get("processed", 0) + report["inbox"].get("stale", 0)
    mode = f"open loop {report['rate']:g}/s" if report["rate"] else "closed loop"
    where = "worker in its own process" if report["worker_process"] else "web + worker in one process"
    if report.get("deferred"):
        where += "; processing deferred until every delivery was acked (the ack path alone)"
    if report.get("unsandboxed"):
        where += " (experiment: workflows without the sandbox)"
    if report.get("background_nice"):
        where += f"; worker and Temporal server at nice {report['background_nice']} (the web process keeps 0)"
    row = [
        f"{report['deliveries']} ({report['unique']} + {report['deliveries'] - report['unique']})",
        f"{ack[50]} / {ack[95]} / {ack[99]} / {report['ack_max_ms']}",
        str(report["acks_per_s"]),
        f"{report['processed_s']} s",
        f"{processed} of {report['unique']}",
        f"{report['records_wrong']} / {report['records_missing']} of {report['records_expected']}",
    ]
    return (
        f"\n### Run: {mode}, {report['concurrency']} in flight\n\n"
        f"{reports.run_line(reports.started_now(), command, seconds)} Machine: {reports.machine_text(reports.machine())}."
        f" Zora: {where}; senders in another process. {reports.load_text(report['load_before'], report['load_after'])}\n\n"
        f"{reports.md_table(_RESULT_HEADER, [row])}\n\n"
        f"Answers: {', '.join(f'{k}: {v}' for k, v in sorted(report['answers'].items()))}.\n"
    )


def write_section(text: str) -> None:
    """Add a run at the end of the "## Webhooks" section (created at the end of docs/benchmarks.md if missing)."""
    reports.write_block(text, heading="Webhooks", intro=_WEBHOOKS_TEXT)
