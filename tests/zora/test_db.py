from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from zora import db


@pytest.fixture
async def empty_database(infra: Any, request: pytest.FixtureRequest) -> str:
    import secrets

    url: str = infra.postgres.ensure_database("t_migrate_" + secrets.token_hex(4))
    return url


async def test_migrations_apply_once_and_twice_is_a_no_op(empty_database: str) -> None:
    first = await db.migrate(empty_database)
    assert first == [v for v, _ in db.migration_files()]
    assert await db.migrate(empty_database) == []


async def test_two_processes_migrating_at_once_take_turns(empty_database: str) -> None:
    a, b = await asyncio.gather(db.migrate(empty_database), db.migrate(empty_database))
    # Exactly one of them applied everything; the other found it done.
    assert sorted([a, b], key=len) == [[], [v for v, _ in db.migration_files()]]
    conn = await asyncpg.connect(empty_database)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
    finally:
        await conn.close()
    assert versions == [v for v, _ in db.migration_files()]


async def test_shop_domain_is_checked_by_the_schema(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("INSERT INTO shops (domain, name) VALUES ('evil.com', 'x')")
    finally:
        await conn.close()
