"""No SQL in source outside the data layer (zora/store/) and the migrations (zora/migrations/).

The packages below are read with `ast`. SQL is a string constant (or an f-string's literal parts) that
reads like a statement (SELECT ... FROM, INSERT INTO, UPDATE ... SET, DELETE FROM, WITH ... AS (...)),
a statement handed to a connection's or pool's query methods (execute, executemany, fetch, fetchrow,
fetchval), and any call of asyncpg's COPY methods.

tests/ and bench/ are not scanned: they may keep SQL (tests inspect the database a behaviour left
behind, benchmarks prepare theirs).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("zora", "bot", "widget", "webhooks", "activities", "workflows")
ALLOWED = (Path("zora/store"), Path("zora/migrations"))

# Zora writes SQL keywords in capitals, so statements are matched as such: prose saying "select a
# shop from the list" is not SQL. A string handed to a query method is SQL in any case.
_STATEMENT = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\b[\s\S]*\bSET\b|\bDELETE\s+FROM\b"
    r"|\bWITH\s+\w+\s+AS\s*\(|\bSELECT\s+(pg_\w+|\w+\s*\(|\d)",
)
_QUERY_METHODS = {"execute", "executemany", "fetch", "fetchrow", "fetchval"}
# asyncpg's COPY: any call is the database's, whatever its arguments.
_COPY_METHODS = {"copy_from_table", "copy_from_query", "copy_to_table", "copy_records_to_table"}
# What a statement handed to a query method starts with.
_LEADING_KEYWORD = re.compile(
    r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|ALTER|DROP|TRUNCATE|LOCK|COPY|SET|RESET|VACUUM|ANALYZE"
    r"|BEGIN|COMMIT|ROLLBACK|LISTEN|NOTIFY|GRANT|REVOKE|CALL|DO)\b",
    re.IGNORECASE,
)


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return " ".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


def sql_in(source: str) -> list[tuple[int, str]]:
    """(line, excerpt) of every piece of SQL in this Python source."""
    found: list[tuple[int, str]] = []
    seen: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            first = _text(node.args[0]) if node.args else None
            if name in _QUERY_METHODS and first and _LEADING_KEYWORD.match(first):
                found.append((node.lineno, f".{name}({first[:60]!r})"))
                seen.update(id(a) for a in ast.walk(node.args[0]))
            elif name in _COPY_METHODS:
                found.append((node.lineno, f".{name}(...)"))
        if id(node) in seen:
            continue
        text = _text(node)
        if text is not None and _STATEMENT.search(text):
            found.append((getattr(node, "lineno", 0), text[:60]))
            seen.update(id(a) for a in ast.walk(node))
    return found


def scan(root: Path = ROOT) -> dict[str, list[tuple[int, str]]]:
    hits: dict[str, list[tuple[int, str]]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            if any(rel.is_relative_to(allowed) for allowed in ALLOWED) or "node_modules" in rel.parts:
                continue
            found = sql_in(path.read_text(encoding="utf-8"))
            if found:
                hits[str(rel)] = found
    return hits


def test_no_sql_outside_the_store() -> None:
    hits = scan()
    report = "\n".join(f"{path}:{line}: {excerpt}" for path, found in hits.items() for line, excerpt in found)
    assert not hits, "SQL outside zora/store/ and zora/migrations/ (move it into a zora/store module):\n" + report


def test_the_checker_finds_planted_sql() -> None:
    planted = """
async def f(conn, pool, x):
    await conn.execute("UPDATE shops SET name = $2 WHERE id = $1", 1, x)
    rows = await pool.fetch("select id from messages where shop_id = $1", 1)
    q = f"DELETE FROM files WHERE id = {x}"
    await conn.fetchval("SELECT pg_advisory_lock($1)", 7)
    await conn.copy_records_to_table("t", records=[])
    return "INSERT INTO shoppers (id) VALUES ($1)", "WITH c AS (SELECT 1) SELECT * FROM c"
"""
    lines = sorted(line for line, _ in sql_in(planted))
    assert lines == [3, 4, 5, 6, 7, 8, 8]


def test_the_scan_reports_sql_outside_the_store_only(tmp_path: Path) -> None:
    statement = 'async def f(conn):\n    return await conn.fetch("SELECT id FROM shops WHERE domain = $1", "x")\n'
    for where in ("bot/planted.py", "zora/store/planted.py", "zora/migrations/planted.py", "tests/planted.py"):
        (tmp_path / where).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / where).write_text(statement)
    assert list(scan(tmp_path)) == ["bot/planted.py"]


def test_the_checker_lets_prose_and_other_calls_be() -> None:
    harmless = '''
"""Select a shop from the list, then update the settings."""
log.info("select from the menu")
await redis.execute("GET", key)
subprocess.run(["psql"])
self.copy_failed(conn, "SELECT")
text = "Deleted from Slack"
'''
    assert sql_in(harmless) == []


def test_the_scan_reads_every_package() -> None:
    # A package moved or renamed would silently leave the scan: each must still hold Python files.
    for package in PACKAGES:
        assert any((ROOT / package).rglob("*.py")), package
