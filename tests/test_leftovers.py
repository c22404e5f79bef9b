"""A killed run's servers are stopped by the next session; a live session's are left alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests import leftovers


def _server(marker: Path) -> subprocess.Popen[bytes]:
    # A stand-in daemon whose command line names its folder, as postgres -D /tmp/zt-…/pg does.
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", str(marker)])


def _gone_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def test_servers_of_a_dead_session_are_stopped_and_its_folder_removed(tmp_path: Path) -> None:
    dead_root, live_root = tmp_path / "zt-dead", tmp_path / "zt-live"
    dead_root.mkdir()
    live_root.mkdir()
    orphan, kept = _server(dead_root / "pg"), _server(live_root / "pg")
    try:
        (dead_root / leftovers.OWNER_FILE).write_text(
            f'{{"pytest": {_gone_pid()}, "servers": [[{orphan.pid}, "{dead_root / "pg"}"]]}}'
        )
        leftovers.record_owner(live_root, [(kept.pid, str(live_root / "pg"))])  # this very session

        assert leftovers.sweep(tmp_path) == [orphan.pid]
        assert orphan.wait(timeout=10) != 0
        assert not dead_root.exists()
        assert kept.poll() is None and live_root.exists()
    finally:
        for proc in (orphan, kept):
            proc.kill()
            proc.wait()


def test_a_recycled_pid_with_another_command_line_is_not_touched(tmp_path: Path) -> None:
    root = tmp_path / "zt-old"
    root.mkdir()
    other = _server(tmp_path / "something-else")
    try:
        (root / leftovers.OWNER_FILE).write_text(
            f'{{"pytest": {_gone_pid()}, "servers": [[{other.pid}, "{root / "pg"}"]]}}'
        )
        assert leftovers.sweep(tmp_path) == []
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
