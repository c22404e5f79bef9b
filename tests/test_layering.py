"""The layering of DESIGN.md §2 as import-linter contracts (pyproject.toml, run by `make lint`): the
contracts hold on the tree, and each one breaks when an import it forbids is planted in a copy of it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
PACKAGES = ("zora", "bot", "widget", "webhooks", "activities", "workflows")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packages' Python files and pyproject.toml, copied: a planted import never touches the project."""
    root = tmp_path_factory.mktemp("layers")
    shutil.copy(PROJECT / "pyproject.toml", root)
    for package in PACKAGES:
        for source in (PROJECT / package).rglob("*.py"):
            if "node_modules" in source.parts:
                continue
            target = root / source.relative_to(PROJECT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    return root


def test_the_contracts_hold_on_the_tree(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        ("zora/models.py", "import zora.app.web", "the core (zora/ outside zora/app/) imports neither"),
        ("zora/settings.py", "import widget.emitter", "the core (zora/ outside zora/app/) imports neither"),
        ("zora/transcript.py", "import workflows.conversation", "the core (zora/ outside zora/app/) imports neither"),
        ("bot/deps.py", "import widget.server", "bot, widget and webhooks import only the core"),
        ("webhooks/shopify.py", "import zora.app.worker", "bot, widget and webhooks import only the core"),
        ("workflows/sweeper.py", "import asyncpg", "workflows import no I/O library"),
        ("workflows/conversation.py", "import slack_sdk", "workflows import no I/O library"),
        # Through the core: the models the workflows import must not bring a database driver along.
        ("zora/models.py", "import zora.db", "workflows import no I/O library"),
    ],
)
def test_a_planted_import_breaks_its_contract(tree: Path, module: str, planted: str, contract: str) -> None:
    path = tree / module
    original = path.read_text()
    path.write_text(original + f"\n{planted}  # planted\n")
    try:
        result = _lint(tree)
    finally:
        path.write_text(original)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken.replace("\n", " "), result.stdout
    assert module.removesuffix(".py").replace("/", ".") in broken, result.stdout


def test_an_activity_reference_in_a_workflow_is_allowed(tree: Path) -> None:
    """What DESIGN.md allows workflows: a reference to an activity, whose module does I/O."""
    path = tree / "workflows" / "sweeper.py"
    original = path.read_text()
    path.write_text(original + "\nimport activities.email  # an activity reference\n")
    try:
        result = _lint(tree)
    finally:
        path.write_text(original)
    assert result.returncode == 0, result.stdout
