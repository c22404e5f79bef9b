"""No new long module or long function: each does one job a newcomer can read at once.

Source modules stay under MODULE_LIMIT lines (the stand-ins, which model a whole provider, aside) and
functions under FUNCTION_LIMIT lines. Today's offenders are listed by name; a new one fails here, and
one split below the limit must leave the list (the list only shrinks).
"""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PACKAGES = ("activities", "bench", "bot", "webhooks", "widget", "workflows", "zora")
MODULE_LIMIT = 400
FUNCTION_LIMIT = 60
# A stand-in speaks a whole provider's API; it is split by API family (zora/standins/slack/), not by size.
SIZE_EXEMPT = ("zora/standins/",)

# Issue 14 wave 2 splits these.
LONG_MODULES = {
    "zora/store/messages.py",
    "zora/store/shopify.py",
    "bench/chaos.py",
    "bot/outbound.py",
    "widget/server.py",
}
# Issue 14 wave 2 splits these.
LONG_FUNCTIONS = {
    "zora/store/shopify.py:redact_customer",
    "bench/chaos.py:Chaos._drive",
    "bench/chaos.py:Chaos._verify",
    "bench/chaos.py:Chaos.run",
    "activities/llm.py:LlmActivities._complete",
    "bot/listeners/events/message.py:relay_reply",
    "bot/outbound.py:SlackOutbound._post",
    "webhooks/shopify.py:receive",
    "widget/server.py:_session",
}


def _sources() -> list[tuple[str, str]]:
    found = []
    for package in PACKAGES:
        for path in sorted((PROJECT / package).rglob("*.py")):
            if "node_modules" not in path.parts:
                found.append((path.relative_to(PROJECT).as_posix(), path.read_text(encoding="utf-8")))
    return found


def long_modules(sources: list[tuple[str, str]]) -> dict[str, int]:
    return {
        name: len(text.splitlines())
        for name, text in sources
        if len(text.splitlines()) > MODULE_LIMIT and not name.startswith(SIZE_EXEMPT)
    }


def long_functions(sources: list[tuple[str, str]]) -> dict[str, int]:
    """Every function (methods and nested functions too) longer than the limit, by module:Class.name."""
    found: dict[str, int] = {}

    def visit(node: ast.AST, module: str, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (child.end_lineno or child.lineno) - child.lineno + 1
                if lines > FUNCTION_LIMIT:
                    found[f"{module}:{prefix}{child.name}"] = lines
                visit(child, module, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, module, f"{prefix}{child.name}.")
            else:
                visit(child, module, prefix)

    for name, text in sources:
        visit(ast.parse(text, filename=name), name, "")
    return found


def test_no_new_long_module() -> None:
    new = {name: n for name, n in long_modules(_sources()).items() if name not in LONG_MODULES}
    assert not new, f"modules over {MODULE_LIMIT} lines; split them by responsibility: {new}"


def test_no_new_long_function() -> None:
    new = {name: n for name, n in long_functions(_sources()).items() if name not in LONG_FUNCTIONS}
    assert not new, f"functions over {FUNCTION_LIMIT} lines; break them at their natural seams: {new}"


def test_the_lists_only_shrink() -> None:
    sources = _sources()
    gone = (LONG_MODULES - long_modules(sources).keys()) | (LONG_FUNCTIONS - long_functions(sources).keys())
    assert not gone, f"no longer too long (or gone): remove from the lists in this file: {sorted(gone)}"


def test_the_check_sees_a_long_function_and_module() -> None:
    def method(body_lines: int) -> str:
        return "    async def grown(self) -> None:\n" + "".join(f"        x = {i}\n" for i in range(body_lines))

    sources = [
        ("zora/planted.py", "class Planted:\n" + method(FUNCTION_LIMIT)),
        ("zora/fits.py", "class Planted:\n" + method(FUNCTION_LIMIT - 1)),
        ("zora/grown.py", "x = 1\n" * (MODULE_LIMIT + 1)),
        ("zora/full.py", "x = 1\n" * MODULE_LIMIT),
        ("zora/standins/big.py", "x = 1\n" * (MODULE_LIMIT + 1)),
    ]
    assert long_functions(sources) == {"zora/planted.py:Planted.grown": FUNCTION_LIMIT + 1}
    assert long_modules(sources) == {"zora/grown.py": MODULE_LIMIT + 1}
