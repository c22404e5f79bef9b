"""Idle sockets and a reconnect storm, against one web process.

    .venv/bin/python -m bench.sockets [--sockets 5000] [--storm 1000]

1. Idle sockets: N shoppers (each with a token from /widget/session) open a socket.io connection
   to the `/widget` namespace and stay idle. Reported: the web process's resident memory (RSS)
   before and with all N connected, and per socket.
2. Reconnect storm: M shoppers who each have a message waiting (stored before they connect) connect
   at the same moment and `resume`; reported: time until every one of them has its missed message.

The clients run in a separate process (so the server's numbers are its own); only loopback is used;
every wait is bounded. Targets from the issue: 5,000 idle sockets under 600 MB RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import socketio

from bench.stack import CHANNEL, SHOP, embedded_infra, running_zora
from zora import transcript
from zora.models import ConversationRef
from zora.standins.slack import SlackStandIn

CONNECT_CONCURRENCY = 200


async def _tokens(base_url: str, n: int) -> list[dict[str, Any]]:
    sem = asyncio.Semaphore(50)
    async with aiohttp.ClientSession() as http:

        async def one() -> dict[str, Any]:
            async with sem, http.post(f"{base_url}/widget/session", json={"shop": SHOP}) as resp:
                body: dict[str, Any] = await resp.json()
                return body

        return list(await asyncio.gather(*(one() for _ in range(n))))


async def _connect_all(
    base_url: str, tokens: list[str], resume: bool
) -> tuple[list[socketio.AsyncClient], list[float]]:
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    clients: list[socketio.AsyncClient] = []
    got: list[float] = []

    async def one(token: str) -> None:
        client = socketio.AsyncClient(reconnection=False)
        async with sem:
            await client.connect(
                base_url, namespaces=["/widget"], auth={"token": token}, transports=["websocket"], wait_timeout=60
            )
            clients.append(client)
            if resume:
                ack = await client.call("resume", {"since_seq": 0}, namespace="/widget", timeout=60)
                if ack.get("ok") and ack.get("messages"):
                    got.append(time.perf_counter())

    await asyncio.gather(*(one(t) for t in tokens))
    return clients, got


def _client_process(base_url: str, tokens: list[str], resume: bool, pipe: Connection) -> None:
    async def run() -> None:
        start = time.perf_counter()
        clients, got = await _connect_all(base_url, tokens, resume)
        pipe.send(
            {"connected": len(clients), "resumed": [t - start for t in got], "seconds": time.perf_counter() - start}
        )
        pipe.recv()  # hold the sockets until the parent has measured
        for client in clients:
            await client.disconnect()

    asyncio.run(run())


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


async def _settle_rss(seconds: float = 3.0) -> float:
    await asyncio.sleep(seconds)
    return _rss_mb()


async def main(sockets: int, storm: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * sockets + 1000)), hard))
    standin = SlackStandIn(bot_token="xoxb-bench-token", signing_secret="bench-signing-secret")
    standin.add_channel(CHANNEL, "support")
    await standin.start()
    ctx = multiprocessing.get_context("spawn")
    try:
        with tempfile.TemporaryDirectory(prefix="zs-") as root:
            async with embedded_infra(Path(root)) as infra, running_zora(infra, standin) as zora:
                base = zora.base_url
                # 1. idle sockets
                sessions = await _tokens(base, sockets)
                before = await _settle_rss(1.0)
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_client_process, args=(base, [s["token"] for s in sessions], False, child))
                proc.start()
                report = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, parent.recv), 600)
                during = await _settle_rss()
                parent.send("done")
                await asyncio.get_running_loop().run_in_executor(None, proc.join, 120)
                per = (during - before) * 1024 / max(1, report["connected"])
                print(f"idle sockets: {report['connected']} of {sockets} connected in {report['seconds']:.1f} s")
                print(f"web process RSS: {before:.0f} MB before, {during:.0f} MB with them ({per:.1f} KB per socket)")

                # 2. reconnect storm: each shopper has a message waiting before it connects
                storm_sessions = await _tokens(base, storm)
                for s in storm_sessions:
                    ref = ConversationRef(
                        shop=SHOP,
                        shop_id=int(await zora.services.pool.fetchval("SELECT id FROM shops WHERE domain = $1", SHOP)),
                        conversation_id=uuid.UUID(s["conversation_id"]),
                        shopper_id=uuid.UUID(s["shopper_id"]),
                    )
                    await transcript.store_shopper_message(zora.services.pool, ref, "m1", "waiting", datetime.now(UTC))
                parent, child = ctx.Pipe()
                proc = ctx.Process(
                    target=_client_process, args=(base, [s["token"] for s in storm_sessions], True, child)
                )
                proc.start()
                report = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, parent.recv), 600)
                parent.send("done")
                await asyncio.get_running_loop().run_in_executor(None, proc.join, 120)
                times = sorted(report["resumed"])
                if times:
                    print(
                        f"reconnect storm: {len(times)} of {storm} shoppers had their missed message;"
                        f" all within {times[-1]:.2f} s (median {statistics.median(times):.2f} s)"
                    )
                else:
                    print("reconnect storm: nobody got their missed message")
    finally:
        await standin.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--storm", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.sockets, args.storm))
