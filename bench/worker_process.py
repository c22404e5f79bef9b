"""Zora's Temporal worker in a process of its own, as `zora worker` runs it in production.

The relay benchmark runs web and worker in one process by default (like `zora dev` and the tests);
``--worker-process`` moves the worker here so the two do not share one GIL. Pipe protocol:

    child -> ("ready", None) | ("error", traceback)
    parent -> ("stop",)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any


@dataclass(frozen=True)
class WorkerConfig:
    settings: dict[str, Any]
    unsandboxed: bool
    # Added to the worker process's niceness: lower CPU priority than the web process beside it.
    nice: int = 0


def make_worker(services: Any, emitter: Any, unsandboxed: bool) -> Any:
    """Zora's worker from zora.app.worker.build_worker; as an experiment, the same worker without the sandbox."""
    import zora.app.worker

    if not unsandboxed:
        return zora.app.worker.build_worker(services, emitter)
    from unittest import mock

    from temporalio.worker import UnsandboxedWorkflowRunner

    if not hasattr(zora.app.worker, "SandboxedWorkflowRunner"):
        raise RuntimeError("--unsandboxed: zora.app.worker no longer builds a SandboxedWorkflowRunner")
    # Everything else exactly as build_worker makes it; only the runner is swapped.
    with mock.patch.object(zora.app.worker, "SandboxedWorkflowRunner", lambda **_: UnsandboxedWorkflowRunner()):
        return zora.app.worker.build_worker(services, emitter)


async def _main(config: WorkerConfig, conn: Connection) -> None:
    from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    from zora.app.assembly import worker_for
    from zora.services import open_services
    from zora.settings import Settings

    forwarding = LogForwardingConfig(logger=logging.getLogger("temporalio.core"))
    Runtime.set_default(
        Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="WARN", other_level="ERROR"), forwarding=forwarding
                )
            )
        )
    )
    settings = Settings(_env_file=None, **config.settings)
    build = functools.partial(make_worker, unsandboxed=config.unsandboxed)
    async with open_services(settings) as services, worker_for(services, build=build) as worker, worker:
        conn.send(("ready", None))
        loop = asyncio.get_running_loop()
        # Bounded: a parent that vanished without saying stop ends this process too.
        while not await loop.run_in_executor(None, conn.poll, 1.0):
            pass
        conn.recv()


def child_main(config: WorkerConfig, conn: Connection, log_file: str) -> None:
    if config.nice:
        import os

        os.nice(config.nice)
    logging.basicConfig(level=logging.WARNING, filename=log_file, format="%(asctime)s worker %(name)s: %(message)s")
    try:
        asyncio.run(_main(config, conn))
    except (EOFError, BrokenPipeError):
        pass
    except BaseException:
        with contextlib.suppress(OSError):
            conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()
