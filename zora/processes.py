"""Server processes Zora started and must not leave behind, told apart from everything else.

A process is ours only when its recorded pid is running *and* its command line still contains the marker
recorded with it (a data folder, a socket path): pids are recycled, names are shared with strangers, so
neither alone is enough. Linux /proc only, which is where the embedded servers run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from pydantic import BaseModel

log = logging.getLogger(__name__)


class ServerProcess(BaseModel):
    """One server: what it is (for messages), its pid, a string its command line contains, and the
    signal that asks it to stop cleanly (PostgreSQL: SIGINT is its "fast" shutdown)."""

    name: str
    pid: int
    marker: str
    stop_signal: int = signal.SIGTERM

    def running(self) -> bool:
        return is_running(self.pid, self.marker)

    def describe(self) -> str:
        return f"{self.name} (pid {self.pid})"


def cmdline(pid: int) -> str:
    """The command line with arguments joined by spaces; empty for a process that is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (of any user: a permission error means it does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_running(pid: int, marker: str) -> bool:
    # A zombie has an empty command line: it has stopped, only its exit status is left to collect.
    return pid > 0 and bool(marker) and marker in cmdline(pid)


def stop(
    servers: Iterable[ServerProcess],
    timeout: float = 20.0,
    *,
    ask: Callable[[ServerProcess], None] | None = None,
) -> list[ServerProcess]:
    """Ask each running server to stop, wait for them all, kill what is still there after `timeout`.

    The one stop of every server and node Zora starts. Asking is the server's stop signal, or `ask` (a
    server with a command for it). Returns the servers that were running. Only servers whose pid and
    marker still match get a signal; a process gone to a zombie has stopped (its parent reaps it)."""
    running = [s for s in servers if s.running()]
    for server in running:
        if ask is not None:
            ask(server)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, server.stop_signal)
    left = _wait_gone(running, timeout)
    for server in left:
        # Checked again just before the kill: the pid may have been reused since the polite signal.
        if server.running():
            if server.stop_signal != signal.SIGKILL:
                log.warning("%s did not stop within %.0f s: killed", server.describe(), timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, signal.SIGKILL)
    left = _wait_gone(left, 10.0)
    if left:
        raise OSError(f"could not stop {', '.join(s.describe() for s in left)}")
    return running


def _wait_gone(servers: list[ServerProcess], timeout: float) -> list[ServerProcess]:
    deadline = time.monotonic() + timeout
    left = [s for s in servers if s.running()]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [s for s in left if s.running()]
    return left


def children(parent: int, marker: str) -> list[int]:
    """Pids of `parent`'s children whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The command name in field 2 may contain spaces and parentheses: split after the last ')'.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and marker in cmdline(int(entry.name)):
            found.append(int(entry.name))
    return found


def port_holder(port: int) -> tuple[int, str] | None:
    """The process listening on a TCP port (any address), as (pid, command line), when it can be found."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN; field 9 is the socket's inode.
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{parts[9]}]")
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(entry.name), cmdline(int(entry.name))
    return None
