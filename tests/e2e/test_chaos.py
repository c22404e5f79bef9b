"""The chaos run (bench/chaos/), short: a few shoppers, one fault of each kind.

Two web processes and a worker process on PostgreSQL, Redis (restarted during it) and Temporal servers
of the run's own. Each kind of fault happens once while shoppers send and agents
answer: a web process and the worker killed with SIGKILL (and started again), Redis and PostgreSQL
restarted, and a Slack window where calls fail (each of 429, 500, 500 after the work, no answer until
the client's timeout, connection lost after the work, then 20 % at random). Afterwards nothing may be
lost, doubled or out of order, on any of the three paths.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from bench.chaos import FAULT_KINDS, ChaosConfig, run_chaos, summary

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SHOPPERS = 6
MESSAGES = 5
WEBHOOKS = 6


async def test_one_fault_of_each_kind_loses_nothing_doubles_nothing_and_keeps_order(tmp_root: Path) -> None:
    # Under the session's folder: short socket paths, and PostgreSQL (another user, as root) may enter it.
    root = tmp_root / f"chaos-{secrets.token_hex(3)}"
    root.mkdir()
    config = ChaosConfig(
        shoppers=SHOPPERS,
        messages=MESSAGES,
        # A message a second: the sending outlasts the faults, so each one meets traffic.
        rate=1.0,
        webhooks=WEBHOOKS,
        rounds=1,
        slack_window=8.0,
        seed=7,
        # Generous: a bound on waiting for the system to settle, never on how fast it does.
        settle_timeout=600.0,
    )
    # A Temporal dev server of its own: the undelivered-message sweep is one schedule per namespace
    # (zora.temporal.SWEEP_SCHEDULE_ID), and in the session's server an earlier test created it for its
    # own task queue; recovering a post whose answer was lost needs that sweep.
    report = await run_chaos(config, root)
    text = summary(report)
    print(text)

    # Every fault happened, and Slack failed in each of its ways at least once.
    assert sorted(f["kind"] for f in report.faults) == sorted(FAULT_KINDS), text
    assert set(report.slack_faults) == {"429", "500", "500_after_work", "timeout", "connection_lost"}, text
    assert not report.problems, text

    total = SHOPPERS * MESSAGES
    # Shopper -> Slack: each message once, in seq order per conversation.
    assert (report.sent, report.stored, report.posted) == (total, total, total), text
    assert (report.lost, report.duplicates, report.out_of_order) == (0, 0, 0), text
    # Slack -> shopper: every agent reply in its shopper's conversation once.
    assert report.replies == total and report.replies_delivered == total, text
    assert (report.replies_lost, report.replies_duplicated, report.replies_misdirected) == (0, 0, 0), text
    # Shopify -> Zora: every delivery stored once, processed by one workflow run, its record written.
    assert report.webhooks == report.webhooks_processed == WEBHOOKS, text
    assert (report.webhooks_lost, report.webhooks_duplicated, report.webhooks_wrong) == (0, 0, 0), text
    assert report.webhook_runs_max == 1, text
    assert report.clean
