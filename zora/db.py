"""PostgreSQL: the connection pool and versioned plain-SQL migrations."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from importlib import resources
from typing import Any, Protocol

import asyncpg

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every process that migrates this database.
_MIGRATION_LOCK = 7_411_902_113


class Row(Protocol):
    """A row as asyncpg returns it (asyncpg.Record): read by column name or position."""

    def __getitem__(self, key: str | int, /) -> Any: ...
    def get(self, key: str, default: Any = None, /) -> Any: ...
    def keys(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...


class Executor(Protocol):
    """What Zora uses to run statements, on a connection or on a pool (one statement per acquire).

    asyncpg 0.32 ships no type information, so this spells out the part Zora relies on."""

    async def execute(self, query: str, *args: object) -> str: ...
    async def executemany(self, command: str, args: Any) -> None: ...
    async def fetch(self, query: str, *args: object) -> list[Row]: ...
    async def fetchrow(self, query: str, *args: object) -> Row | None: ...
    async def fetchval(self, query: str, *args: object, column: int = 0) -> Any: ...


class Conn(Executor, Protocol):
    """An asyncpg connection (asyncpg.Connection, or the proxy a pool lends)."""

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...


class Pool(Executor, Protocol):
    """An asyncpg pool (asyncpg.Pool)."""

    def acquire(self) -> AbstractAsyncContextManager[Conn]: ...
    async def close(self) -> None: ...


async def _keep_session(conn: Any) -> None:
    """What a connection goes through on its way back to the pool, after asyncpg has rolled back any
    transaction left open (it always does): nothing more.

    asyncpg's default runs a reset statement (unlock advisory locks, close cursors, unlisten, reset
    settings) on every release: one more round trip per use of the pool, holding the connection for
    it. In a burst of new conversations that doubled how long each connection was held, and the
    pool's 10 connections became the queue (docs/benchmarks.md, "the opening burst"). Zora keeps no state
    in a session: its locks, settings and temporary tables all end with their transaction, and
    tests/zora/test_db_pool.py fails on SQL that would leave session state behind."""
    return None


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> Pool:
    """A pool whose connections decode json/jsonb to Python values, and are handed back to the pool
    without a reset statement (see `_keep_session`)."""

    async def _init(conn: Any) -> None:
        import json

        for typ in ("json", "jsonb"):
            await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

    pool: Pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init, reset=_keep_session)
    return pool


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) for every migration shipped in zora/migrations, in order."""
    folder = resources.files("zora") / "migrations"
    found = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in found]


async def migrate(dsn: str) -> list[str]:
    """Apply pending migrations, each in its own transaction; returns the versions applied.

    A session advisory lock makes two processes migrating at once take turns: the second finds
    everything applied and does nothing.
    """
    from zora.store import schema

    conn = await asyncpg.connect(dsn)
    applied_now: list[str] = []
    try:
        await schema.lock(conn, _MIGRATION_LOCK)
        try:
            done = await schema.applied_versions(conn)
            for version, sql in migration_files():
                if version in done:
                    continue
                await schema.apply(conn, version, sql)
                log.info("applied migration %s", version)
                applied_now.append(version)
        finally:
            await schema.unlock(conn, _MIGRATION_LOCK)
    finally:
        await conn.close()
    return applied_now
