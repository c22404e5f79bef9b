"""What the relay benchmark runs against: the embedded servers, the recording Slack stand-in, and Zora.

Zora is assembled by zora/app/assembly.py, as ``zora dev`` and tests/harness.py assemble it: web and
worker in this process, on this event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())


from bench.load import message_id, reply_body
from bench.stats import ServerRecord
from bench.worker_process import WorkerConfig, make_worker
from zora import db
from zora.app.assembly import serving_web, worker_for
from zora.app.dev import ensure_shop
from zora.embedded import TemporalOptions, embedded_servers
from zora.services import Services, open_services
from zora.settings import RATE_SETTINGS, Settings
from zora.standins.slack import SlackStandIn

BOT_TOKEN = "xoxb-bench-token"
SIGNING_SECRET = "bench-signing-secret"
CHANNEL = "C0BENCH001"
AGENT = "U0AGENT001"
SHOP = "bench.myshopify.com"


@dataclass
class Infra:
    database_url: str
    redis_url: str
    temporal_address: str
    pids: dict[int, str]  # PostgreSQL's postmaster and Redis, for CPU accounting


def renice_children(marker: str, nice: int) -> None:
    """Lower the CPU priority of this process's children whose command line contains `marker`, every
    thread of them: a niceness belongs to a thread on Linux, and a server's threads started before
    this call keep their own."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent != os.getpid() or marker not in cmdline:
            continue
        for task in (entry / "task").iterdir():
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, int(task.name), nice)


@asynccontextmanager
async def embedded_infra(root: Path, *, temporal_nice: int = 0) -> AsyncIterator[Infra]:
    """PostgreSQL, Redis and the Temporal dev server, data under ``root``, stopped on the way out;
    `temporal_nice`: the Temporal server's niceness (0: as started)."""
    # The dev server's own log lines would land in the benchmark's table; keep only its errors.
    temporal = TemporalOptions(extra_args=["--log-level", "error"])
    async with embedded_servers(postgres=root / "pg", redis=root / "redis" / "b.rdb", temporal=temporal) as servers:
        assert servers.postgres and servers.redis
        if temporal_nice:
            renice_children("start-dev", temporal_nice)
        database_url = await asyncio.to_thread(servers.postgres.ensure_database, "zora_bench")
        await db.migrate(database_url)
        pids = {
            server.pid: kind
            for server, kind in ((servers.postgres.process, "postgres"), (servers.redis.process, "redis"))
            if server.pid
        }
        yield Infra(
            database_url=database_url,
            redis_url=servers.redis.url,
            temporal_address=servers.temporal_address,
            pids=pids,
        )


class RecordingStandIn(SlackStandIn):
    """The Slack stand-in, answering every thread post with an agent reply that repeats the post's id.

    It records, per message id, when the bot's ``chat.postMessage`` reached it and when it started
    delivering the agent's reply event.
    """

    def __init__(self) -> None:
        super().__init__(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, auto_reply=self._answer)
        self.records: dict[str, ServerRecord] = {}
        self.add_channel(CHANNEL, "support")
        self.add_user(AGENT, "ada", "Ada Agent")

    def _answer(self, message: dict[str, Any]) -> str | None:
        # Called by chat.postMessage for every post into a thread, before it answers the caller.
        now = time.monotonic()
        msg_id = message_id(str(message.get("text", "")))
        if msg_id is None:
            return None
        self.records.setdefault(msg_id, ServerRecord()).posted.append(now)
        return reply_body(msg_id)

    async def deliver_event(self, event: dict[str, Any], **kwargs: Any) -> int:
        msg_id = message_id(str(event.get("text", "")))
        record = self.records.setdefault(msg_id, ServerRecord()) if msg_id else None
        if record is not None:
            record.delivered.append(time.monotonic())
        try:
            status = await super().deliver_event(event, **kwargs)
        except Exception:
            if record is not None:
                record.delivery_failures += 1
            raise
        if status >= 300 and record is not None:
            record.delivery_failures += 1
        return status

    def reset(self) -> None:
        """Forget what earlier phases posted (the stand-in would otherwise keep every message)."""
        self.records.clear()
        self.posted.clear()
        self.calls.clear()
        # Threads of earlier phases are never replied to again; dropping them keeps this process's
        # heap (and so its garbage collector's full passes) the same size for every phase.
        for messages in getattr(self, "_messages", {}).values():
            messages.clear()
        getattr(self, "_replies", {}).clear()


@dataclass
class ZoraHandle:
    base_url: str
    services: Services
    settings: Settings
    worker_pid: int | None  # None: the worker runs in this process
    web_pids: list[int] = field(default_factory=list)  # empty: the web app runs in this process


@asynccontextmanager
async def running_zora(
    infra: Infra,
    standin: SlackStandIn,
    *,
    worker_process: bool = False,
    unsandboxed: bool = False,
    worker_nice: int = 0,
    log_file: str = "",
    web_nodes: int = 0,
    extra: dict[str, Any] | None = None,
) -> AsyncIterator[ZoraHandle]:
    """Zora's web app and worker (in this process, or in its own); the stand-in's events go to this web app.

    With `web_nodes` > 0 the web app runs in that many processes of its own sharing one port
    (SO_REUSEPORT, zora/app/cluster.py), as `zora dev --web N` runs it."""
    fields: dict[str, Any] = {
        "database_url": infra.database_url,
        "redis_url": infra.redis_url,
        "temporal_address": infra.temporal_address,
        "temporal_task_queue": f"zora-bench-{uuid.uuid4().hex[:8]}",
        "zora_secret_key": secrets.token_urlsafe(32),
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": standin.base_url,
        "log_format": "text",
        "log_level": "WARNING",
        # Every simulated shopper comes from 127.0.0.1, all in one shop: lift the limits a flood meets.
        **{name: "100000000/minute" for name in RATE_SETTINGS},
        **(extra or {}),
    }
    settings = Settings(_env_file=None, **fields)
    async with open_services(settings) as services:
        await ensure_shop(services.pool, SHOP, "Bench shop", CHANNEL)
        await ensure_schedules(services)
        async with _web(settings, services, web_nodes) as (base_url, web_pids):
            if worker_process:
                async with _worker_in_process(WorkerConfig(fields, unsandboxed, worker_nice), log_file) as pid:
                    yield ZoraHandle(base_url, services, settings, worker_pid=pid, web_pids=web_pids)
                return
            build = functools.partial(make_worker, unsandboxed=unsandboxed)
            async with worker_for(services, build=build) as worker, worker:
                yield ZoraHandle(base_url, services, settings, worker_pid=None, web_pids=web_pids)


@asynccontextmanager
async def _web(settings: Settings, services: Services, nodes: int) -> AsyncIterator[tuple[str, list[int]]]:
    """The web app in this process (nodes 0) or in `nodes` processes on one port; its URL and their pids."""
    if nodes > 0:
        from zora.app.cluster import Cluster

        cluster = Cluster(run=f"bench-{uuid.uuid4().hex[:8]}")
        try:
            port = await cluster.start_web(settings, nodes, port=0, dev=True)
            yield f"http://127.0.0.1:{port}", [n.process.pid for n in cluster.nodes]
        finally:
            await cluster.stop()
        return
    async with serving_web(settings, services, host="127.0.0.1", dev=True) as served:
        yield served.url, []


async def ensure_schedules(services: Services) -> None:
    """What `zora dev` and `zora worker` set up before the worker starts (the undelivered sweep)."""
    import zora.temporal

    ensure = getattr(zora.temporal, "ensure_sweep_schedule", None)
    if ensure is not None:
        await ensure(services.temporal, services.settings.temporal_task_queue)


@asynccontextmanager
async def _worker_in_process(config: WorkerConfig, log_file: str) -> AsyncIterator[int]:
    import multiprocessing as mp

    from bench.worker_process import child_main

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=child_main, args=(config, child, log_file), name="bench-zora-worker", daemon=True)
    proc.start()
    child.close()
    loop = asyncio.get_running_loop()
    try:
        if not await loop.run_in_executor(None, parent.poll, 120.0):
            raise TimeoutError("Zora's worker process did not start within 120 s")
        kind, info = parent.recv()
        if kind != "ready":
            raise RuntimeError(f"Zora's worker process failed:\n{info}")
        assert proc.pid is not None
        yield proc.pid
    finally:
        with contextlib.suppress(OSError):
            parent.send(("stop",))
        await loop.run_in_executor(None, proc.join, 30.0)
        if proc.is_alive():
            proc.kill()
        parent.close()
