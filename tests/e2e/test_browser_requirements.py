"""When Playwright's driver cannot start (a minimal Debian lacks libatomic1 for its bundled Node.js),
the browser tests skip with one reason saying what to install, instead of each ending in an error."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM, driver_problem

PROJECT = Path(__file__).resolve().parents[2]
# What the dynamic loader prints when the driver's Node.js is started without libatomic1.
LOADER_ERROR = "node: error while loading shared libraries: libatomic.so.1: cannot open shared object file: No such file or directory"


def node_without_libatomic(folder: Path) -> Path:
    node = folder / "node"
    node.write_text(f"#!/bin/sh\necho '{LOADER_ERROR}' >&2\nexit 127\n")
    node.chmod(0o755)
    return node


def test_a_driver_missing_a_library_names_it_and_what_to_install(tmp_path: Path) -> None:
    reason = driver_problem(node_without_libatomic(tmp_path))
    assert reason is not None
    assert "libatomic.so.1: cannot open shared object file" in reason
    assert "apt-get install chromium libatomic1" in reason


def test_a_driver_that_is_absent_is_a_reason_too(tmp_path: Path) -> None:
    reason = driver_problem(tmp_path / "no-node")
    assert reason is not None
    assert "apt-get install chromium libatomic1" in reason


def test_a_driver_that_starts_is_no_reason() -> None:
    assert driver_problem(Path(sys.executable)) is None


def test_browser_tests_skip_with_the_reason_when_the_driver_cannot_start(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("without chromium the browser tests skip for that reason first")
    env = {**os.environ, "PLAYWRIGHT_NODEJS_PATH": str(node_without_libatomic(tmp_path))}
    browser_tests = sorted(
        str(p)
        for p in (PROJECT / "tests" / "e2e").glob("test_*.py")
        if p.name != Path(__file__).name and "playwright" in p.read_text()
    )
    assert len(browser_tests) >= 5
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", *browser_tests],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = done.stdout.strip().splitlines()[-1]
    # Every module skipped means nothing was collected: pytest's exit 5, not an error.
    assert done.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, done.stdout[-4000:] + done.stderr[-2000:]
    assert re.fullmatch(rf"{len(browser_tests)} skipped in .*", summary), summary
    skips = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skips) == len(browser_tests)
    assert all("libatomic.so.1" in line and "apt-get install chromium libatomic1" in line for line in skips), skips
