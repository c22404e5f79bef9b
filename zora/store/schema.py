"""Migration bookkeeping: the advisory lock and the table of applied versions."""

from __future__ import annotations

from zora.db import Conn


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
