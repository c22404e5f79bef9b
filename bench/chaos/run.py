"""One chaos run: its servers and processes started, the traffic driven while faults are injected, then checked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bench.chaos.checks import report_progress, settle, verify
from bench.chaos.config import (
    BOT_TOKEN,
    CHANNEL,
    SHOP,
    SHOPIFY_SECRET,
    SIGNING_SECRET,
    ChaosConfig,
)
from bench.chaos.faults import Fault, inject, plan
from bench.chaos.report import ChaosReport
from bench.chaos.servers import RestartablePostgres, RestartableRedis
from bench.chaos.slack import ChaosSlack
from bench.chaos.traffic import ShopperClient, WebhookSender, webhook_payload
from zora.app.cluster import WEB, WORKER, Cluster, Node
from zora.settings import RATE_SETTINGS, Settings


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
        self.flaky_windows = 0

    async def start_node(self, role: str, settings: Settings) -> Node:
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

    def elapsed(self) -> float:
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
            settings = self._settings(database_url, redis.url)
            async with open_services(settings) as services:
                await ensure_shop(services.pool, SHOP, "Chaos shop", CHANNEL)
                self.say("chaos: starting 2 web processes and a worker process")
                for _ in range(2):
                    await self.start_node(WEB, settings)
                await self.start_node(WORKER, settings)
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

    def _settings(self, database_url: str, redis_url: str) -> Settings:
        """The settings every node of the run gets: this run's servers, stand-ins and secrets."""
        fields: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": redis_url,
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
        return Settings(_env_file=None, **fields)

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
            await self._connect_shoppers(http, base_url, deadline)
            self.webhooks = WebhookSender(
                f"{base_url}/webhooks/shopify", [webhook_payload(i) for i in range(config.webhooks)]
            )
            total = config.shoppers * config.messages
            window = total / config.rate
            self.faults = plan(config, self.rng, window)
            self.say(
                f"chaos: {config.shoppers} shoppers x {config.messages} messages at {config.rate:g}/s"
                f" (~{window:.0f} s), {config.webhooks} webhooks, faults planned at "
                + ", ".join(f"{f.at:.0f}s {f.kind}" for f in self.faults)
            )
            self.t0 = time.monotonic()
            slots = self._slots()
            hook_times = sorted(self.rng.uniform(0, window) for _ in range(config.webhooks))
            resend = set(self.rng.sample(range(config.webhooks), config.webhooks // 10))
            progress = asyncio.create_task(report_progress(self, services))
            try:
                sending = asyncio.gather(
                    *(self._shopper_run(s, slots, deadline) for s in self.shoppers),
                    *(self._webhook_run(http, i, at, i in resend, deadline) for i, at in enumerate(hook_times)),
                )
                faults = asyncio.create_task(inject(self, settings, redis, postgres))
                await sending
                report.sending_s = round(self.elapsed(), 1)
                await faults
                last = max([report.sending_s, *(f.ended for f in self.faults)])
                self.say(
                    f"chaos: sending done at {report.sending_s:.0f} s, last fault over at {last:.0f} s;"
                    " waiting for everything to settle"
                )
                await settle(self, services, report, deadline)
                report.recovery_s = round(self.elapsed() - last, 1)
            finally:
                progress.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await progress
            await verify(self, services, report, deadline)

    async def _connect_shoppers(self, http: aiohttp.ClientSession, base_url: str, deadline: float) -> None:
        tokens = await asyncio.gather(*(self._token(http, base_url, deadline) for _ in range(self.config.shoppers)))
        self.shoppers = [ShopperClient(i, base_url, t) for i, t in enumerate(tokens)]
        # Connected a few at a time: a real storefront's shoppers do not arrive in the same millisecond.
        gate = asyncio.Semaphore(20)

        async def connect(shopper: ShopperClient) -> None:
            async with gate:
                await shopper.connect(deadline)

        await asyncio.gather(*(connect(s) for s in self.shoppers))

    def _slots(self) -> dict[tuple[int, int], float]:
        """When each (shopper, message k) is sent, in seconds from the start: message k of every shopper
        before message k+1 of any, shoppers in a random order each time."""
        config = self.config
        slots: dict[tuple[int, int], float] = {}
        for k in range(config.messages):
            order = self.rng.sample(range(config.shoppers), config.shoppers)
            for j, n in enumerate(order):
                slots[(n, k)] = (k * config.shoppers + j) / config.rate
        return slots

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


async def run_chaos(config: ChaosConfig, root: Path, temporal_address: str | None = None) -> ChaosReport:
    """One chaos run with servers under `root` (short: unix socket paths); Temporal at
    `temporal_address`, or a dev server of its own."""
    return await Chaos(config, root, temporal_address).run()
