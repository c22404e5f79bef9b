"""The pool hands connections back without asyncpg's reset statement (zora/db.py `_keep_session`), which is
only safe while no statement leaves state in the session: these tests hold both halves."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import asyncpg
import pytest

from zora import db

ROOT = Path(__file__).resolve().parents[2]
# Where Zora's SQL lives (tests/test_sql_lint.py keeps it there).
STORE = ROOT / "zora" / "store"
# The migration lock is session-level on purpose: `db.migrate` takes it on a connection of its own.
SESSION_LOCK_ALLOWED = {STORE / "schema.py"}

# Statements whose effect outlives their transaction on a pooled connection.
_SESSION_STATE = (
    ("a session-level advisory lock", re.compile(r"\bpg_(try_)?advisory_lock(_shared)?\s*\(", re.I)),
    ("LISTEN", re.compile(r"(^|;)\s*LISTEN\b", re.I)),
    (
        "a session setting (SET without LOCAL)",
        re.compile(r"(^|;)\s*SET\s+(?!LOCAL\b|TRANSACTION\b|CONSTRAINTS\b)", re.I),
    ),
    ("set_config(..., false): a session setting", re.compile(r"\bset_config\s*\([^)]*,\s*false\s*\)", re.I)),
    ("a cursor WITH HOLD", re.compile(r"\bWITH\s+HOLD\b", re.I)),
    ("a prepared statement", re.compile(r"(^|;)\s*PREPARE\s+\w+", re.I)),
)
_TEMP_TABLE = re.compile(r"\bCREATE\s+(TEMP|TEMPORARY)\s+TABLE\b", re.I)


def session_state(sql: str) -> list[str]:
    """What in this SQL would stay in the session after its transaction ends."""
    found = [what for what, pattern in _SESSION_STATE if pattern.search(sql)]
    if _TEMP_TABLE.search(sql) and not re.search(r"\bON\s+COMMIT\s+DROP\b", sql, re.I):
        found.append("a temporary table without ON COMMIT DROP")
    return found


def _strings(path: Path) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # An f-string's literal parts are read together, as one statement.
    in_fstrings = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_fstrings:
            out.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            parts = [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
            out.append((node.lineno, " ".join(parts)))
    return out


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_advisory_lock($1)",
        "SELECT pg_try_advisory_lock(hashtext($1))",
        "LISTEN zora_events",
        "SET search_path TO zora",
        "SELECT 1; SET statement_timeout = 0",
        "SELECT set_config('jit', 'off', false)",
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
        "PREPARE q AS SELECT 1",
        "CREATE TEMPORARY TABLE facts AS SELECT 1",
    ],
)
def test_the_check_sees_session_state(sql: str) -> None:
    assert session_state(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        "SET LOCAL statement_timeout = '5s'",
        "SELECT set_config('zora.shop', $1, true)",
        "CREATE TEMPORARY TABLE facts ON COMMIT DROP AS SELECT 1",
        "UPDATE shops SET settings = $2 WHERE id = $1",
        "SELECT 'listen to the shopper' AS note",
    ],
)
def test_the_check_lets_transaction_scoped_sql_through(sql: str) -> None:
    assert session_state(sql) == []


def test_no_store_statement_leaves_state_in_the_session() -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in sorted(STORE.rglob("*.py"))
        if path not in SESSION_LOCK_ALLOWED
        for line, text in _strings(path)
        for what in session_state(text)
    ]
    assert offending == [], (
        "pooled connections go back without a reset (zora/db.py _keep_session): keep this state to the"
        " transaction (SET LOCAL, pg_advisory_xact_lock, ON COMMIT DROP) or reset it yourself:\n" + "\n".join(offending)
    )


async def _last_statement(database_url: str, pid: int) -> str:
    watcher = await asyncpg.connect(database_url)
    try:
        return str(await watcher.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid))
    finally:
        await watcher.close()


async def test_a_release_sends_nothing_after_the_callers_statement(database_url: str) -> None:
    pool = await db.create_pool(database_url, min_size=1, max_size=1)
    try:
        pid = await pool.fetchval("SELECT pg_backend_pid()")
        assert await pool.fetchval("SELECT 41 + 1 AS zora_probe") == 42
        # asyncpg's default reset would have been the connection's last statement.
        assert await _last_statement(database_url, pid) == "SELECT 41 + 1 AS zora_probe"
    finally:
        await pool.close()


async def test_a_transaction_left_open_is_rolled_back_before_the_next_use(database_url: str) -> None:
    pool = await db.create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            await conn.execute("CREATE TABLE zora_pool_probe (x int)")
            # released inside its transaction, as a bug or a cancelled task would
        async with pool.acquire() as conn:
            # Still inside that transaction, the table would be there.
            assert await conn.fetchval("SELECT to_regclass('zora_pool_probe')::text") is None
    finally:
        await pool.close()
