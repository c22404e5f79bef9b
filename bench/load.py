"""The load side of the relay benchmark: N shoppers as real python-socketio clients.

Runs in its own process (see :func:`run_in_process`) so that the clients' event loop does not
share a core's time slices and the GIL with the server under test. It talks to the orchestrating
process over a pipe:

    child -> ("ready", {"connected": n, "connect_errors": n})
    parent -> ("go",)
    child -> ("done", LoadOutcome)

Every timestamp is ``time.monotonic()``; on Linux that is CLOCK_MONOTONIC, one clock for every
process on the machine, so the server's timestamps and these can be subtracted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import socketio

from bench.stats import ClientRecord

NAMESPACE = "/widget"
# The id travels in the message body, and the stand-in's auto-reply repeats it: "... [id]".
ID_PATTERN = re.compile(r"\[([A-Za-z0-9_-]{1,64})\]")

log = logging.getLogger("bench.load")


def message_body(msg_id: str) -> str:
    return f"Where is my order? [{msg_id}]"


def reply_body(msg_id: str) -> str:
    return f"It ships tomorrow. [{msg_id}]"


def message_id(text: str) -> str | None:
    found = ID_PATTERN.search(text)
    return found.group(1) if found else None


@dataclass(frozen=True)
class LoadPlan:
    base_url: str
    shop: str
    shoppers: int
    rate: float  # messages/s per shopper
    warmup: float
    duration: float
    drain: float
    tag: str  # unique per phase, so ids never collide across phases of one run
    connect_concurrency: int = 25
    connect_timeout: float = 60.0
    start_delay: float = 0.5
    open_spread: float = 1.0  # seconds over which the shoppers open their conversations
    open_timeout: float = 60.0  # at most this long for every opening message's reply


@dataclass
class LoadOutcome:
    t0: float
    records: dict[str, ClientRecord]
    connected: int
    connect_errors: int
    disconnects: int
    errors: list[str] = field(default_factory=list)


class _Shopper:
    def __init__(self, index: int, http: aiohttp.ClientSession, records: dict[str, ClientRecord]) -> None:
        self.index = index
        self.records = records
        self.closing = False
        self.disconnects = 0
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False, http_session=http)
        self.sio.on("message", self._on_message, namespace=NAMESPACE)
        self.sio.on("disconnect", self._on_disconnect, namespace=NAMESPACE)

    async def _on_message(self, data: Any) -> None:
        now = time.monotonic()
        if not isinstance(data, dict) or data.get("direction") != "agent":
            return
        msg_id = message_id(str(data.get("body", "")))
        record = self.records.get(msg_id) if msg_id else None
        if record is not None:
            record.replies.append(now)

    async def _on_disconnect(self, *_args: Any) -> None:
        if not self.closing:
            self.disconnects += 1

    async def connect(self, plan: LoadPlan, http: aiohttp.ClientSession) -> None:
        async with http.post(f"{plan.base_url}/widget/session", json={"shop": plan.shop}) as resp:
            if resp.status != 200:
                raise RuntimeError(f"POST /widget/session answered {resp.status}: {(await resp.text())[:200]}")
            token = (await resp.json())["token"]
        await self.sio.connect(
            plan.base_url, namespaces=[NAMESPACE], auth={"token": token}, transports=["websocket"], wait_timeout=10
        )
        # What the widget does after every connect.
        ack = await self.sio.call("resume", {"since_seq": 0}, namespace=NAMESPACE, timeout=10)
        if not (isinstance(ack, dict) and ack.get("ok")):
            raise RuntimeError(f"resume failed: {ack!r}")

    async def open_conversation(self, plan: LoadPlan, t0: float) -> None:
        """The shopper's first message: it opens the conversation (a Slack thread; for Zora a workflow)."""
        scheduled = t0 + plan.open_spread * self.index / plan.shoppers
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await self._send(f"{plan.tag}s{self.index}open", scheduled, opening=True)

    async def _send(self, msg_id: str, scheduled: float, *, opening: bool = False) -> None:
        record = ClientRecord(scheduled=scheduled, sent=time.monotonic(), opening=opening)
        self.records[msg_id] = record

        def on_ack(*args: Any) -> None:
            record.acked = time.monotonic()
            ack = args[0] if args else None
            record.ack_ok = isinstance(ack, dict) and ack.get("ok") is True

        try:
            await self.sio.emit(
                "message", {"client_id": msg_id, "body": message_body(msg_id)}, namespace=NAMESPACE, callback=on_ack
            )
        except Exception:
            record.ack_ok = False

    async def run(self, plan: LoadPlan, t0: float) -> None:
        period = 1.0 / plan.rate
        # Shoppers are spread evenly over one period so the total rate is smooth, not bursty.
        offset = period * self.index / plan.shoppers
        end = t0 + plan.warmup + plan.duration
        k = 0
        while True:
            scheduled = t0 + offset + k * period
            if scheduled >= end:
                return
            delay = scheduled - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._send(f"{plan.tag}s{self.index}m{k}", scheduled)
            k += 1

    async def close(self) -> None:
        self.closing = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.disconnect(), 5)


async def _main(plan: LoadPlan, conn: Connection) -> LoadOutcome:
    records: dict[str, ClientRecord] = {}
    errors: list[str] = []
    # limit=0: websocket connections count against a connector's limit and are never pooled.
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    shoppers = [_Shopper(i, http, records) for i in range(plan.shoppers)]
    try:
        connected = await _connect_all(plan, http, shoppers, errors)
        # Every shopper opens its conversation first, and the phase starts once all are open: the
        # phase measures conversations in progress; the openings are reported on their own.
        t_open = time.monotonic() + plan.start_delay
        await asyncio.gather(*(s.open_conversation(plan, t_open) for s in connected))
        await _all_replied(records, plan.open_timeout)
        conn.send(("ready", {"connected": len(connected), "connect_errors": len(shoppers) - len(connected)}))
        await _wait_for_go(conn)
        t0 = time.monotonic() + plan.start_delay
        await asyncio.gather(*(s.run(plan, t0) for s in connected))
        # Drain: until every message has its reply, or the drain time is up.
        await _all_replied(records, plan.drain)
        # A moment more, so a late duplicate still gets counted.
        await asyncio.sleep(0.3)
        for shopper in shoppers:
            shopper.closing = True
        await asyncio.gather(*(s.close() for s in connected))
        return LoadOutcome(
            t0=t0,
            records=records,
            connected=len(connected),
            connect_errors=len(shoppers) - len(connected),
            disconnects=sum(s.disconnects for s in shoppers),
            errors=errors,
        )
    finally:
        await http.close()


async def _connect_all(
    plan: LoadPlan, http: aiohttp.ClientSession, shoppers: list[_Shopper], errors: list[str]
) -> list[_Shopper]:
    """The shoppers that connected, at most connect_concurrency at a time; the first errors go to `errors`."""
    gate = asyncio.Semaphore(plan.connect_concurrency)

    async def connect(shopper: _Shopper) -> bool:
        async with gate:
            try:
                await shopper.connect(plan, http)
                return True
            except Exception as exc:
                if len(errors) < 10:
                    errors.append(f"connect: {type(exc).__name__}: {exc}")
                return False

    async with asyncio.timeout(plan.connect_timeout):
        results = await asyncio.gather(*(connect(s) for s in shoppers))
    return [s for s, ok in zip(shoppers, results, strict=True) if ok]


async def _all_replied(records: dict[str, ClientRecord], within: float) -> None:
    """Until every message sent so far has its reply, or `within` seconds are up."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(r.replies for r in records.values()):
            break
        await asyncio.sleep(0.05)


async def _wait_for_go(conn: Connection) -> None:
    """The parent's go (it may start a profiler first); bounded like everything else."""
    loop = asyncio.get_running_loop()
    ready = await loop.run_in_executor(None, conn.poll, 120.0)
    if not ready:
        raise TimeoutError("no 'go' from the parent within 120 s")
    conn.recv()


def child_main(plan: LoadPlan, conn: Connection) -> None:
    """Entry point of the load process."""
    logging.basicConfig(level=logging.WARNING)
    try:
        outcome = asyncio.run(_main(plan, conn))
        conn.send(("done", outcome))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def run_in_process(plan: LoadPlan) -> tuple[Any, Connection]:
    """Start the load process (spawned, so it inherits nothing from the server's event loop)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=child_main, args=(plan, child), name=f"bench-load-{plan.tag}", daemon=True)
    proc.start()
    child.close()
    return proc, parent
