"""The chaos run's knobs and the names its shop, Slack and Shopify stand-ins share."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
BOT_TOKEN = "xoxb-chaos-token"
SIGNING_SECRET = "chaos-signing-secret"
SHOPIFY_SECRET = "shpss_chaos_webhooks_secret_0123456789"
CHANNEL = "C0CHAOS001"
AGENT = "U0AGENT001"
SHOP = "chaos.myshopify.com"
FAULT_KINDS = ("kill_web", "kill_worker", "restart_redis", "restart_postgres", "slack_flaky")
MARK = re.compile(r"\b(s(\d+)-m(\d+))\b")
# Slack retries a failed event delivery three times: nearly at once, after a minute, after five.
SLACK_EVENT_RETRIES = (1.0, 60.0, 300.0)
# Longer than Zora's Slack client waits (zora/http.py SLACK_TIMEOUT_SECONDS, 30 s).
SLACK_HANG_SECONDS = 35.0
# How a shopper client waits for an ack before it sends again (the widget's own timeout is similar).
ACK_TIMEOUT = 10.0
WEBHOOK_CUSTOMER_BASE = 900_000


@dataclass
class ChaosConfig:
    shoppers: int = 200
    messages: int = 5  # per shopper
    rate: float = 10.0  # shopper messages per second, all shoppers together
    webhooks: int = 100
    rounds: int = 2  # each round injects every kind in `kinds` once, in a random order
    kinds: tuple[str, ...] = FAULT_KINDS
    slack_failure_rate: float = 0.2
    slack_window: float = 20.0  # seconds of `slack_flaky`
    slack_hang: float = SLACK_HANG_SECONDS
    event_retries: tuple[float, ...] = SLACK_EVENT_RETRIES
    seed: int = 1
    settle_timeout: float = 900.0
    # Where the web and worker processes write their logs (None: this process's stderr).
    node_log: Path | None = None
    progress: Callable[[str], None] = print
