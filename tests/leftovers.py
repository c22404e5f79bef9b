"""Servers a killed test run left behind.

The session's PostgreSQL and redis-server are daemons (their parent is init), so a pytest run that is
killed instead of finishing leaves them running under /tmp/zt-*. Each session writes who owns its
folder and which servers it started; the next session stops the servers of owners that are gone.
Processes are matched by pid *and* by their command line (zora/processes.py), so a recycled pid is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

from zora import processes
from zora.processes import ServerProcess, alive

OWNER_FILE = "owner.json"


def record_owner(root: Path, servers: list[tuple[int, str]]) -> None:
    """`servers`: (pid, a string its command line contains) for each daemon this session started."""
    (root / OWNER_FILE).write_text(json.dumps({"pytest": os.getpid(), "servers": servers}))


def sweep(parent: Path) -> list[int]:
    """Stop the servers of /tmp/zt-* folders whose pytest is gone, and remove the folders; the pids stopped."""
    stopped: list[int] = []
    for root in parent.glob("zt-*"):
        try:
            owner = json.loads((root / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not written yet (a session starting now) or not ours
        if alive(int(owner["pytest"])):
            continue
        servers = [
            ServerProcess(name="server", pid=pid, marker=marker, stop_signal=signal.SIGKILL)
            for pid, marker in owner.get("servers", [])
        ]
        stopped += [server.pid for server in processes.stop(servers)]
        shutil.rmtree(root, ignore_errors=True)
    return stopped
