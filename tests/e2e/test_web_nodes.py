"""Web nodes as real processes (zora/app/cluster.py, as `zora dev --web N` runs them) on the embedded stack.

Each node is `python -m zora.app.cluster web`, on a port of its own here so the test chooses which node a
shopper and Slack talk to (behind one port the kernel would choose). They share PostgreSQL, Redis and
Temporal with the worker, which runs in this process beside the Slack stand-in. A node is killed with
SIGKILL: nothing it held in memory survives. Last, `zora dev --web 2 --workers 1` itself, killed: its
web and worker processes end with it, as its embedded servers do.
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
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.harness import AGENT, BOT_TOKEN, CHANNEL, LIFTED_LIMITS, SIGNING_SECRET, Shopper
from zora import processes
from zora.app.assembly import worker_for
from zora.app.cluster import WEB, Cluster, Node
from zora.app.dev import ensure_shop
from zora.services import Services, open_services
from zora.settings import Settings
from zora.standins.slack import SlackStandIn
from zora.watchdog import DataFolder, RunRecord

pytestmark = pytest.mark.timeout(420)

MARK = re.compile(r"\b(t\d-m\d\d)\b")


def _reply_to(message: dict[str, Any]) -> str | None:
    """The agent answers every shopper message in a thread with a reply naming it."""
    found = MARK.search(str(message.get("text", "")))
    return f"re {found.group(1)}" if found else None


class GatedStandIn(SlackStandIn):
    """The Slack stand-in, able to hold one chat.postMessage (chosen by the mark in its text) until
    released: a node can be killed while its post is on the wire. Released, the post is carried out
    although its caller is gone, as Slack would: nobody alive knows whether it landed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hold_mark: str | None = None
        self.held = asyncio.Event()
        self.gate = asyncio.Event()

    async def _chat_post_message(self, params: dict[str, Any], request: Any) -> dict[str, Any]:
        if self.hold_mark is not None and self.hold_mark in str(params.get("text", "")):
            self.hold_mark = None
            self.held.set()
            await self.gate.wait()
        return await super()._chat_post_message(params, request)


@dataclass
class TwoNodes:
    settings: Settings
    services: Services
    standin: GatedStandIn
    cluster: Cluster
    a: Node
    b: Node
    shop: str
    http: aiohttp.ClientSession

    def url(self, node: Node) -> str:
        return f"http://127.0.0.1:{node.port}"

    async def token(self) -> str:
        async with self.http.post(f"{self.url(self.a)}/widget/session", json={"shop": self.shop}) as resp:
            assert resp.status == 200, await resp.text()
            return str((await resp.json())["token"])

    async def shopper(self, token: str, node: Node) -> Shopper:
        shopper = Shopper(token)
        await shopper.connect(self.url(node))
        return shopper

    def bot_posts(self) -> list[str]:
        """The marks of the shopper messages the bot posted into threads, in the order Slack got them."""
        marks = []
        for post in self.standin.posted:
            if post.get("thread_ts") and post.get("user") != AGENT:
                found = MARK.search(str(post.get("text", "")))
                if found:
                    marks.append(found.group(1))
        return marks

    async def stored(self, conversation_id: str) -> list[tuple[int, str]]:
        async with self.services.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT seq, body FROM messages WHERE conversation_id = $1 AND direction = 'shopper' ORDER BY seq",
                uuid.UUID(conversation_id),
            )
        return [(int(r["seq"]), str(r["body"])) for r in rows]


@pytest.fixture
async def nodes(infra: Any, database_url: str) -> AsyncIterator[TwoNodes]:
    standin = GatedStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, auto_reply=_reply_to)
    standin.add_channel(CHANNEL, "support")
    standin.add_user(AGENT, "ada", "Ada Agent")
    await standin.start()
    fields: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": infra.redis.url,
        "temporal_address": infra.temporal_address,
        "temporal_task_queue": f"zora-test-{uuid.uuid4().hex[:8]}",
        "zora_secret_key": secrets.token_urlsafe(32),
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": standin.base_url,
        "log_format": "text",
        "log_level": "WARNING",
        **LIFTED_LIMITS,
    }
    settings = Settings(_env_file=None, **fields)
    shop = f"shop-{uuid.uuid4().hex[:8]}.myshopify.com"
    cluster = Cluster(run=f"test-{uuid.uuid4().hex[:8]}")
    try:
        async with open_services(settings) as services, aiohttp.ClientSession() as http:
            await ensure_shop(services.pool, shop, "Test shop", CHANNEL)
            async with worker_for(services, sweep_schedule=True) as worker:
                a, b = await asyncio.gather(cluster.start(WEB, settings), cluster.start(WEB, settings))
                async with worker:
                    yield TwoNodes(settings, services, standin, cluster, a, b, shop, http)
    finally:
        await cluster.stop()
        await standin.stop()


async def _until(check: Any, what: str, within: float = 120.0) -> None:
    """Poll a condition (bounded): the posts and replies travel through other processes."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        if check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        await asyncio.sleep(0.05)


def _agent_marks(messages: list[dict[str, Any]]) -> list[str]:
    found = [MARK.search(str(m.get("body", ""))) for m in messages if m.get("direction") == "agent"]
    return [f.group(1) for f in found if f]


async def test_shopper_on_a_slack_on_b_and_a_dies_mid_run(nodes: TwoNodes) -> None:
    nodes.standin.events_url = f"{nodes.url(nodes.b)}/slack/events"
    token = await nodes.token()
    tab = await nodes.shopper(token, nodes.a)
    marks = [f"t1-m{i:02d}" for i in range(24)]
    acked: list[str] = []
    on_b = False
    for i, mark in enumerate(marks):
        if i == 8:
            # Replies to the first messages were emitted by node B and reached this shopper on node A.
            await _until(
                lambda on_a=tab, first=set(acked[:4]): set(_agent_marks(on_a.received)) >= first,
                "replies through Redis",
                60,
            )
            # Node A will be posting this message to Slack when it dies.
            nodes.standin.hold_mark = mark
        if i == 9:
            await asyncio.wait_for(nodes.standin.held.wait(), 60)
            os.kill(nodes.a.process.pid, signal.SIGKILL)
            await _until(lambda: nodes.a.process.poll() is not None, "node A has ended", 30)
            # Slack carries out the post node A sent before it died; the answer goes nowhere.
            nodes.standin.gate.set()
        client_id = f"c-{mark}"
        while True:
            try:
                ack = await tab.send(mark, client_id=client_id)
            except Exception:
                ack = None
            if ack is not None and ack.get("ok"):
                acked.append(mark)
                break
            assert not on_b, f"node B refused {mark}: {ack}"
            # Node A is gone: the shopper comes back on the other node (a load balancer would send it
            # there) and sends the same message again; its client id makes a second arrival harmless.
            await _until(lambda: nodes.a.process.poll() is not None, "node A has ended", 30)
            old = tab
            with contextlib.suppress(Exception):
                await old.close()
            tab = await nodes.shopper(token, nodes.b)
            tab.received[:0] = old.received
            on_b = True
    assert on_b and nodes.a.process.returncode == -signal.SIGKILL

    resumed = await tab.call("resume", {"since_seq": 0})
    assert resumed["ok"], resumed
    conversation_id = resumed["conversation_id"]
    # Every message the shopper saw acknowledged reaches Slack exactly once, in the order it was sent,
    # whether node A posted it before it died or the survivors posted what it left. The one node A was
    # posting stays claimed until its claim runs out (transcript.CLAIM_SECONDS); whoever takes it then
    # finds it in the thread instead of posting it twice, and only then posts what came after it.
    await _until(lambda: len(nodes.bot_posts()) >= len(marks), "every message in Slack", 180)
    assert nodes.bot_posts() == marks
    assert [body for _, body in await nodes.stored(conversation_id)] == marks

    # And every agent reply reaches the shopper: live on whichever node it was connected to, or, for
    # replies emitted while it was between nodes, from the transcript when it resumes.
    def replies() -> set[str]:
        return set(_agent_marks(tab.received))

    await _until(lambda: len(replies() | set(_agent_marks(resumed["messages"]))) >= len(marks), "replies", 120)
    final = await tab.call("resume", {"since_seq": 0})
    assert sorted(_agent_marks(final["messages"])) == sorted(marks)
    assert replies() | set(_agent_marks(final["messages"])) == set(marks)
    # Node B carried on alone: it answers.
    async with nodes.http.get(f"{nodes.url(nodes.b)}/readyz") as resp:
        assert resp.status == 200
    await tab.close()


async def test_two_tabs_on_two_nodes_keep_the_conversation_in_order(nodes: TwoNodes) -> None:
    nodes.standin.events_url = f"{nodes.url(nodes.a)}/slack/events"
    token = await nodes.token()
    # The first message opens the conversation, so both tabs are in the same one.
    tab_a = await nodes.shopper(token, nodes.a)
    assert (await tab_a.send("t0-m00", client_id="c-t0-m00"))["ok"]
    tab_b = await nodes.shopper(token, nodes.b)
    per_tab = 12

    async def burst(tab: Shopper, name: str) -> list[dict[str, Any]]:
        sends = [tab.send(f"{name}-m{i:02d}", client_id=f"c-{name}-m{i:02d}") for i in range(per_tab)]
        return list(await asyncio.gather(*sends))

    # Both tabs send at once, each through its own node: each node's fast path posts what it stored.
    acks = await asyncio.gather(burst(tab_a, "t1"), burst(tab_b, "t2"))
    assert all(ack["ok"] for tab_acks in acks for ack in tab_acks), acks
    resumed = await tab_a.call("resume", {"since_seq": 0})
    stored = await nodes.stored(resumed["conversation_id"])
    assert len(stored) == 1 + 2 * per_tab
    # Messages from the two tabs interleave in the transcript (the seq each got when stored).
    in_seq_order = [body for _, body in stored]

    await _until(lambda: len(nodes.bot_posts()) >= len(in_seq_order), "every message in Slack", 180)
    # Slack shows the conversation in the transcript's order, each message once, although two processes
    # posted them: the message claim in PostgreSQL orders the posts across nodes.
    assert nodes.bot_posts() == in_seq_order

    # Both tabs see every agent reply (Slack events reach node A; tab B is on node B) and each other's messages.
    everything = set(in_seq_order)
    for tab in (tab_a, tab_b):
        await _until(lambda tab=tab: set(_agent_marks(tab.received)) >= everything, "replies in both tabs", 120)
        shopper_marks = {m["body"] for m in tab.received if m.get("direction") == "shopper"}
        assert shopper_marks >= everything - {"t0-m00"}
    await tab_a.close()
    await tab_b.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listeners(port: int) -> int:
    """How many sockets listen on `port` (each web node has its own, SO_REUSEPORT)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


def _nodes_of(data: Path) -> list[processes.ServerProcess]:
    """Every running node started for this data folder, recorded or not."""
    pattern = re.compile(rf"zora\.app\.cluster (web|worker) \d+ {re.escape(str(data))}(?= |$)")
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (match := pattern.search(processes.cmdline(int(entry.name)))):
            found.append(processes.ServerProcess(name="node", pid=int(entry.name), marker=match.group(0)))
    return found


async def test_zora_dev_web_nodes_and_workers_end_with_a_killed_zora_dev(tmp_root: Path) -> None:
    base = tmp_root / f"nodes-{secrets.token_hex(3)}"
    base.mkdir()
    data, port = base / "data", _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "TEMPORAL_", "SLACK_", "ZORA_", "SHOPIFY_", "SMTP_", "RATE_"))
    }
    args = ["dev", "--data-dir", str(data), "--port", str(port), "--web", "2", "--workers", "1"]
    args += ["--temporal-port", str(_free_port()), "--temporal-ui-port", str(_free_port())]
    args += ["--slack-port", "0", "--shopify-port", "0", "--smtp-port", "0", "--mail-port", "0"]
    out = base / "dev.out"
    with out.open("wb") as sink:
        dev = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "zora.app.cli", *args, env=env, cwd=base, stdout=sink, stderr=sink
        )
    record: RunRecord | None = None
    try:
        await _until(lambda: "Press Ctrl-C to stop." in out.read_text(errors="replace"), "zora dev ready", 240)
        record = DataFolder(data).read_record()
        assert record is not None and record.owner == dev.pid
        nodes = [s for s in record.servers if s.name.startswith(("web ", "worker "))]
        assert sorted(s.name for s in nodes) == ["web 1", "web 2", "worker 1"]
        assert all(s.running() for s in nodes)
        assert len(_nodes_of(data)) == 3
        # Two processes serve the one port.
        assert _listeners(port) == 2
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert resp.status == 200, await resp.text()
        dev.kill()
        await dev.wait()
        # Nothing it started outlives it: embedded servers, web nodes and the worker.
        await _until(lambda: not any(s.running() for s in record.servers), "every recorded process gone", 90)
        await _until(lambda: not _nodes_of(data), "no node of this run left", 30)
        assert _listeners(port) == 0
    finally:
        if dev.returncode is None:
            dev.kill()
            await dev.wait()
        # Bounded clean-up of whatever the code under test failed to stop (a failing run).
        left = (record.servers if record is not None else []) + _nodes_of(data)
        await asyncio.to_thread(processes.stop, left, 10.0)


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--web", "0"], "must be at least 1"),
        (["--web", "two"], "not a whole number"),
        (["--workers", "-1"], "must not be negative"),
    ],
)
def test_bad_process_counts_are_refused_with_a_clear_error(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from zora.app.cli import _parser

    with pytest.raises(SystemExit):
        _parser().parse_args(["dev", *argv])
    assert error in capsys.readouterr().err


def test_process_counts_are_parsed_and_default_to_one_process() -> None:
    from zora.app.cli import _parser

    args = _parser().parse_args(["dev", "--web", "3", "--workers", "0"])
    assert (args.web, args.workers) == (3, 0)
    assert (_parser().parse_args(["dev"]).web, _parser().parse_args(["dev"]).workers) == (None, None)
