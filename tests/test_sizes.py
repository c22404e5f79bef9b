"""No new long module or long function: each does one job a newcomer can read at once.

Source modules stay under MODULE_LIMIT lines (the stand-ins, which model a whole provider, aside) and
functions under FUNCTION_LIMIT lines; any offender fails here (there is no allow-list).
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


def test_no_long_module() -> None:
    found = long_modules(_sources())
    assert not found, f"modules over {MODULE_LIMIT} lines; split them by responsibility: {found}"


def test_no_long_function() -> None:
    found = long_functions(_sources())
    assert not found, f"functions over {FUNCTION_LIMIT} lines; break them at their natural seams: {found}"


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
