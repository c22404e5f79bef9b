"""Web and worker processes of their own on one machine: `zora dev --web N --workers M`, the relay
benchmark's `--web N` and the two-node test.

Each node is `python -m zora.app.cluster <role> <index> <run>`, running what `zora web` / `zora worker` run.
Web nodes bind the same port with SO_REUSEPORT and the kernel spreads connections over them; socket.io
fans out through Redis (AsyncRedisManager) and the widget is websocket-only, so no node needs to be
sticky. A node never outlives whoever started it:

- its settings arrive on stdin (secrets stay out of the command line and the environment), and stdin
  stays open: the kernel closes it when the parent ends, however it ends, and the node then stops;
- `on_start` hears of each process the moment it exists, so `zora dev` records it (pid and a marker
  its command line contains) for its watchdog and for the next start's sweep, like the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from zora import processes
from zora.errors import ConfigError
from zora.processes import ServerProcess
from zora.settings import Settings

log = logging.getLogger("zora.app.cluster")

WEB, WORKER = "web", "worker"
READY_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0


def node_marker(role: str, index: int, run: str) -> str:
    """What a node's command line contains: tells our node from any other process on a reused pid."""
    return f"zora.app.cluster {role} {index} {run}"


def settings_payload(settings: Settings) -> str:
    """Every setting with secrets revealed, as one JSON line for a node's stdin."""
    values: dict[str, Any] = {}
    for name, value in settings.model_dump().items():
        values[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return json.dumps(values, default=str)


@dataclass
class Node:
    role: str
    index: int
    process: subprocess.Popen[bytes]
    marker: str
    port: int | None = None

    @property
    def name(self) -> str:
        return f"{self.role} {self.index}"

    @property
    def server(self) -> ServerProcess:
        return ServerProcess(name=self.name, pid=self.process.pid, marker=self.marker)

    def describe(self) -> str:
        return f"{self.name} (pid {self.process.pid})"


@dataclass
class Cluster:
    """The nodes one parent started; `stop()` ends them all (SIGTERM, then SIGKILL after a while)."""

    run: str
    nodes: list[Node] = field(default_factory=list)

    def of(self, role: str) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    def alive(self, role: str | None = None) -> list[Node]:
        return [n for n in self.nodes if n.process.poll() is None and (role is None or n.role == role)]

    async def start(
        self,
        role: str,
        settings: Settings,
        *,
        port: int = 0,
        reuse_port: bool = False,
        dev: bool = False,
        on_start: Callable[[ServerProcess], None] | None = None,
        ready_within: float = READY_TIMEOUT,
    ) -> Node:
        """Start one node and wait until it serves (web: listening; worker: polling)."""
        index = len(self.of(role)) + 1
        marker = node_marker(role, index, self.run)
        read_fd, write_fd = os.pipe()
        argv = [sys.executable, "-m", "zora.app.cluster", role, str(index), self.run, "--ready-fd", str(write_fd)]
        if role == WEB:
            argv += ["--port", str(port)] + (["--reuse-port"] if reuse_port else []) + (["--dev"] if dev else [])
        process = _spawn(argv, write_fd)
        node = Node(role, index, process, marker)
        self.nodes.append(node)
        if on_start is not None:
            on_start(node.server)
        assert process.stdin is not None
        process.stdin.write(settings_payload(settings).encode() + b"\n")
        process.stdin.flush()
        line = await asyncio.to_thread(_read_ready, read_fd, ready_within)
        if not line.startswith("ready"):
            code = process.poll()
            if code is None:
                process.kill()
                process.wait(timeout=10)
            raise ConfigError(
                f"{node.describe()} did not start"
                + (f" (exit code {code})" if code is not None else f" within {ready_within:.0f} s")
                + ": see its output above"
            )
        if role == WEB:
            node.port = int(line.split()[1])
        return node

    async def start_web(
        self,
        settings: Settings,
        count: int,
        *,
        port: int,
        dev: bool = False,
        on_start: Callable[[ServerProcess], None] | None = None,
    ) -> int:
        """`count` web nodes sharing one port (0: the first node picks one); the port they serve."""
        first = await self.start(WEB, settings, port=port, reuse_port=True, dev=dev, on_start=on_start)
        assert first.port is not None
        # Started one by one: the imports of a node already keep a core busy.
        for _ in range(count - 1):
            await self.start(WEB, settings, port=first.port, reuse_port=True, dev=dev, on_start=on_start)
        return first.port

    async def stop(self, within: float = STOP_TIMEOUT) -> None:
        await asyncio.to_thread(self.stop_now, within)

    def stop_now(self, timeout: float = STOP_TIMEOUT) -> None:
        running = [n for n in self.nodes if n.process.poll() is None]
        processes.stop([n.server for n in running], timeout)
        for node in running:
            node.process.wait(timeout=10)  # stopped: collect its exit status
        for node in self.nodes:
            if node.process.stdin is not None:
                with contextlib.suppress(OSError):
                    node.process.stdin.close()


def _spawn(argv: list[str], ready_fd: int) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(argv, stdin=subprocess.PIPE, pass_fds=(ready_fd,))
    finally:
        os.close(ready_fd)  # the node holds the only write end: its exit reads as end-of-file here


def _read_ready(fd: int, timeout: float) -> str:
    """The node's one line, or "" when it ended (or said nothing within `timeout`)."""
    import select

    data = b""
    deadline = time.monotonic() + timeout
    try:
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return ""
            chunk = os.read(fd, 256)
            if not chunk:
                return ""
            data += chunk
    finally:
        os.close(fd)
    return data.decode(errors="replace").strip()


# ---------------------------------------------------------------------------------------------- the node


def _watch_parent(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Stop when stdin reaches end-of-file: the parent has ended (the kernel closed its end). Read raw on
    the loop: a thread blocked in a buffered read would abort the interpreter's shutdown."""

    def readable() -> None:
        try:
            data = os.read(0, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)
            stop.set()

    os.set_blocking(0, False)
    loop.add_reader(0, readable)


def _read_settings_line() -> bytes:
    """The one line the parent writes first (read byte-exact: nothing after it may be swallowed)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(0, 1)
        if not chunk:
            return b""
        data += chunk
    return data


def _say_ready(fd: int, text: str) -> None:
    os.write(fd, text.encode() + b"\n")
    os.close(fd)


async def _serve_web(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    from zora.app.assembly import serving_web

    # The services open inside the app (its cleanup context), exactly as under `zora web`.
    async with serving_web(settings, port=args.port, dev=args.dev, reuse_port=args.reuse_port) as served:
        _say_ready(args.ready_fd, f"ready {served.port}")
        await stop.wait()


async def _serve_worker(settings: Settings, args: argparse.Namespace, stop: asyncio.Event) -> None:
    from zora.app.assembly import run_worker, worker_for
    from zora.services import open_services

    async with open_services(settings) as services, worker_for(services, sweep_schedule=True) as worker:
        _say_ready(args.ready_fd, "ready")
        await run_worker(worker, stop)


async def _node(args: argparse.Namespace) -> None:
    from zora.logs import setup_logging, setup_sentry

    line = await asyncio.to_thread(_read_settings_line)
    if not line:
        return  # the parent ended before sending the settings
    settings = Settings(_env_file=None, **json.loads(line))
    setup_logging(settings.log_format, settings.log_level)
    setup_sentry(settings.sentry_dsn, settings.environment)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    _watch_parent(loop, stop)
    if args.role == WEB:
        await _serve_web(settings, args, stop)
    else:
        await _serve_worker(settings, args, stop)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m zora.app.cluster")
    parser.add_argument("role", choices=[WEB, WORKER])
    parser.add_argument("index", type=int)
    parser.add_argument("run", help="who started it (a data folder, a run id): part of the marker")
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reuse-port", action="store_true")
    parser.add_argument("--dev", action="store_true")
    args = parser.parse_args(argv)
    from zora.embedded_env import ensure_runtime_dir

    ensure_runtime_dir()
    asyncio.run(_node(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
