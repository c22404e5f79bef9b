"""Migration bookkeeping: the advisory lock and the table of applied versions."""

from __future__ import annotations

from datetime import datetime

from zora.db import Conn, Executor


async def lock(conn: Conn, key: int) -> None:
    await conn.execute("SELECT pg_advisory_lock($1)", key)


async def unlock(conn: Conn, key: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", key)


async def applied_versions(conn: Conn) -> set[str]:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    return {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}


async def apply(conn: Conn, version: str, sql: str) -> None:
    """Run one migration and record it, in one transaction."""
    async with conn.transaction():
        await conn.execute(sql)
        await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)


async def ping(conn: Executor) -> None:
    """A round trip that proves the database answers (readiness)."""
    await conn.fetchval("SELECT 1")


def database_exists_sql(name: str) -> str:
    """For psql, before any pool exists (test and dev databases): prints 1 when `name` exists.
    `name` is Zora's own (a test module's or dev's), never input."""
    return f"SELECT 1 FROM pg_database WHERE datname = '{name}'"


def create_database_sql(name: str) -> str:
    return f'CREATE DATABASE "{name}"'


async def now(conn: Executor) -> datetime:
    """The database's clock (the one every row's timestamps come from)."""
    at: datetime = await conn.fetchval("SELECT now()")
    return at
