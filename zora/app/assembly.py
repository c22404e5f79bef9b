"""Zora put together from its parts, one way for every runner: `zora dev` (one process, or its cluster
nodes), `zora worker`, tests/harness.py and the benchmarks (bench/stack.py, bench/webhooks.py).

The web app listens through `serving_web`; the worker comes with the emitter its activities push to
shoppers through from `worker_for`, and `run_worker` runs it until told to stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from temporalio.worker import Worker

from widget.emitter import ShopperEmitter
from zora.app.web import create_app
from zora.app.worker import build_worker, close_worker_clients
from zora.services import Services
from zora.settings import Settings
from zora.temporal import ensure_sweep_schedule

BuildWorker = Callable[[Services, ShopperEmitter], Worker]


@dataclass
class WebServer:
    app: web.Application
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@asynccontextmanager
async def serving_web(
    settings: Settings,
    services: Services | None = None,
    *,
    host: str | None = None,
    port: int = 0,
    dev: bool = False,
    reuse_port: bool = False,
    access_log: bool = True,
) -> AsyncIterator[WebServer]:
    """The web app listening on `host` (default HOST) and `port` (0: any free one) until the way out.

    With `services` the caller owns them; without, the app opens its own, as under `zora web`. `dev` adds
    the demo storefront page; `reuse_port` lets web nodes share one port (SO_REUSEPORT)."""
    options: dict[str, Any] = {} if access_log else {"access_log": None}
    runner = web.AppRunner(create_app(settings, services, dev=dev), **options)
    await runner.setup()
    try:
        await web.TCPSite(runner, host or settings.host, port, reuse_port=reuse_port).start()
        bound_host, bound_port = runner.addresses[0][:2]
        yield WebServer(runner.app, str(bound_host), int(bound_port))
    finally:
        await runner.cleanup()


@asynccontextmanager
async def worker_for(
    services: Services, *, sweep_schedule: bool = False, build: BuildWorker = build_worker
) -> AsyncIterator[Worker]:
    """The worker on `services`, built but not running, with the emitter its activities push to shoppers
    through (closed on the way out).

    `sweep_schedule`: first make sure the minute sweep of undelivered messages is scheduled, as every
    process that runs Zora's worker for real does. `build`: another worker of the same parts (a benchmark's
    experiment)."""
    emitter = ShopperEmitter.from_settings(services.settings)
    try:
        if sweep_schedule:
            await ensure_sweep_schedule(services.temporal, services.settings.temporal_task_queue)
        worker = build(services, emitter)
        try:
            yield worker
        finally:
            await close_worker_clients(worker)
    finally:
        await emitter.close()


async def run_worker(worker: Worker, stop: asyncio.Event, *, stopping: Callable[[], None] | None = None) -> None:
    """Run the worker until `stop` is set, then shut it down; a worker that crashes first raises its error
    (after `stopping`, which hears that the run is ending either way)."""
    task = asyncio.create_task(worker.run())
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if stopping is not None:
        stopping()
    if task in done:
        task.result()  # a crashed worker ends the run with its error
    await worker.shutdown()
