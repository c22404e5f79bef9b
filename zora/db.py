"""PostgreSQL: the connection pool and versioned plain-SQL migrations."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every process that migrates this database.
_MIGRATION_LOCK = 7_411_902_113


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> Any:
    """A pool whose connections decode json/jsonb to Python values."""

    async def _init(conn: Any) -> None:
        import json

        for typ in ("json", "jsonb"):
            await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")

    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init)


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
    conn = await asyncpg.connect(dsn)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for version, sql in migration_files():
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                log.info("applied migration %s", version)
                applied_now.append(version)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    finally:
        await conn.close()
    return applied_now
