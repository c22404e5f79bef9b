"""Bounded memory and queries (issue 9, item 5): the relay's per-conversation memory and the
widget's per-socket locks stay bounded however many conversations and sockets a process sees, with
the same order and checks as before; the minute sweep's query reads a partial index, not the whole
messages table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import socketio
from aiohttp import web

from bot.outbound import SlackOutbound
from tests.harness import Shopper, Zora
from tests.helpers import serving
from widget.locks import SocketLocks
from widget.server import WidgetNamespace
from zora import transcript
from zora.app.relay import FastRelay
from zora.models import ConversationRef
from zora.store.messages import UNDELIVERED_SQL


class _Pushes:
    """Where the outbound's status pushes to shoppers go (nobody is connected in these tests)."""

    async def emit(self, event: str, data: dict[str, Any], conversation_id: UUID | str) -> None:
        return None


class _Relay:
    """A FastRelay of its own (small capacity), posting to the Slack stand-in, recording handoffs."""

    def __init__(self, zora: Zora, capacity: int) -> None:
        self.zora = zora
        self.handoffs: list[UUID] = []
        outbound = SlackOutbound(zora.services.pool, zora.services.slack, _Pushes())
        self.relay = FastRelay(outbound, self._handoff, self._open, clear_capacity=capacity)

    async def _handoff(self, ref: ConversationRef, retry_after: float) -> None:
        self.handoffs.append(ref.conversation_id)

    async def _open(self, ref: ConversationRef, at: datetime) -> None:
        return None

    def ref(self) -> ConversationRef:
        return ConversationRef(
            shop=self.zora.shop, shop_id=self.zora.shop_id, conversation_id=uuid.uuid4(), shopper_id=uuid.uuid4()
        )

    async def store(self, ref: ConversationRef, body: str) -> Any:
        stored = await transcript.store_shopper_message(
            self.zora.services.pool, ref, uuid.uuid4().hex, body, datetime.now(UTC)
        )
        return stored.message

    async def settled(self, refs: list[ConversationRef]) -> None:
        """Until every lane is done and no message of `refs` waits (posted or handed off)."""
        for _ in range(600):
            rows = await self.zora.fetch(
                "SELECT count(*) AS n FROM messages WHERE conversation_id = ANY($1::uuid[]) AND status = 'stored'",
                [r.conversation_id for r in refs if r.conversation_id not in self.handoffs],
            )
            if not self.relay._lanes and rows[0]["n"] == 0:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the relay never finished")


def _posted_bodies(zora: Zora, marker: str) -> list[str]:
    found = []
    for post in zora.standin.posted:
        text = json.dumps(post)
        if marker in text:
            found.append(text)
    return found


async def test_the_relays_memory_of_checked_conversations_stays_within_its_capacity(zora: Zora) -> None:
    r = _Relay(zora, capacity=5)
    refs = [r.ref() for _ in range(30)]
    for i, ref in enumerate(refs):
        # Three messages each, submitted back to back: posted in order, directly.
        for n in range(3):
            r.relay.submit(ref, await r.store(ref, f"bounds-{i}-{n}"))
    await r.settled(refs)
    assert r.handoffs == []
    assert len(r.relay._clear) == 5
    for i in range(30):
        posts = _posted_bodies(zora, f"bounds-{i}-")
        order = [n for text in posts for n in range(3) if f"bounds-{i}-{n}" in text]
        assert order == [0, 1, 2], f"conversation {i}: {order}"


async def test_a_forgotten_conversation_is_checked_again_for_older_waiting_messages(zora: Zora) -> None:
    r = _Relay(zora, capacity=2)
    first, *others = [r.ref() for _ in range(4)]
    for ref in [first, *others]:
        r.relay.submit(ref, await r.store(ref, "hello"))
    await r.settled([first, *others])
    assert first.conversation_id not in r.relay._clear  # forgotten: three newer ones since
    # A message of `first` stored and never relayed (a crashed web process), then a newer one here:
    # the newer one must not overtake it; the older one joins its batch and goes first.
    await r.store(first, "stored-by-a-process-that-crashed")
    r.relay.submit(first, await r.store(first, "newer-than-the-stored-one"))
    await r.settled([first])
    assert r.handoffs == []
    texts = [json.dumps(p) for p in zora.standin.posted]
    older = [i for i, t in enumerate(texts) if "stored-by-a-process-that-crashed" in t]
    newer = [i for i, t in enumerate(texts) if "newer-than-the-stored-one" in t]
    assert len(older) == 1 and len(newer) == 1 and older[0] < newer[0]


# --- the widget's per-socket locks ---


async def test_socket_locks_keep_order_and_leave_nothing_behind() -> None:
    locks = SocketLocks()
    order: dict[str, list[int]] = {}

    async def event(sid: str, n: int, fail: bool = False) -> None:
        async with locks.hold(sid):
            order.setdefault(sid, []).append(n)
            await asyncio.sleep(0)
            if fail:
                raise RuntimeError("a handler that fails")

    tasks = []
    for s in range(200):
        sid = f"sid-{s}"
        for n in range(5):
            tasks.append(asyncio.create_task(event(sid, n, fail=n == 2)))
    # One waiting event is cancelled (a socket torn down mid-wait): its place is freed too.
    tasks[1].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(locks) == 0
    assert order["sid-0"] == [0, 2, 3, 4]
    assert all(order[f"sid-{s}"] == [0, 1, 2, 3, 4] for s in range(1, 200))


@asynccontextmanager
async def _widget_server(zora: Zora) -> AsyncIterator[tuple[WidgetNamespace, str]]:
    """The widget namespace on a socket.io server of its own, beside the harness's (whose
    namespace the test cannot reach), with the same services."""
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=[], logger=False, engineio_logger=False)
    app = web.Application()
    sio.attach(app, socketio_path="socket.io")
    namespace = WidgetNamespace(zora.services, _Relay(zora, capacity=10).relay, _Pushes())
    sio.register_namespace(namespace)
    async with serving(app) as url:
        yield namespace, url


async def test_an_event_handled_after_its_socket_disconnected_leaves_no_lock(zora: Zora) -> None:
    async with _widget_server(zora) as (namespace, url):
        for _ in range(20):
            shopper = Shopper((await zora.session())["token"])
            await shopper.connect(url)
            assert (await shopper.send("before leaving"))["ok"]
            sid = shopper.sio.get_sid("/widget")
            assert sid is not None
            await shopper.sio.disconnect()
            for _ in range(200):
                if sid not in namespace._present:
                    break
                await asyncio.sleep(0.02)
            # socket.io runs each event in its own task: one that arrived just before the disconnect
            # can start after the disconnect handler. Whether it still finds the session or not
            # (KeyError), it must leave nothing behind.
            with contextlib.suppress(KeyError):
                await namespace.on_message(sid, {"client_id": "late", "body": "late"})
            with contextlib.suppress(KeyError):
                await namespace.on_seen(sid, {"upto_seq": 1})
        assert len(namespace._locks) == 0


# --- the minute sweep's query ---


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += _plan_nodes(child)
    return nodes


async def test_the_sweep_query_reads_the_partial_index_among_100000_messages(zora: Zora) -> None:
    conn: asyncpg.Connection = await asyncpg.connect(zora.settings.database_url)
    try:
        shop_id = zora.shop_id
        # 1,000 conversations of 100 messages, all delivered long ago, but for a few still waiting.
        await conn.execute(
            "INSERT INTO shoppers (id, shop_id) SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid,"
            " $1 FROM generate_series(1, 1000) g",
            shop_id,
        )
        await conn.execute(
            "INSERT INTO conversations (id, shop_id, shopper_id, last_seq)"
            " SELECT ('00000000-0000-4000-9000-' || lpad(g::text, 12, '0'))::uuid, $1,"
            " ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 100 FROM generate_series(1, 1000) g",
            shop_id,
        )
        await conn.execute(
            "INSERT INTO messages (shop_id, conversation_id, seq, direction, author_name, body, status, created_at)"
            " SELECT $1, ('00000000-0000-4000-9000-' || lpad((1 + (g - 1) / 100)::text, 12, '0'))::uuid,"
            " 1 + (g - 1) % 100, CASE WHEN g % 2 = 0 THEN 'shopper' ELSE 'agent' END, 'x', 'hello',"
            " 'delivered', now() - interval '30 days' + g * interval '1 second'"
            " FROM generate_series(1, 100000) g",
            shop_id,
        )
        await conn.execute(
            "UPDATE messages SET status = CASE WHEN seq % 2 = 0 THEN 'stored' ELSE 'undelivered' END"
            " WHERE direction = 'shopper' AND seq > 96 AND conversation_id IN"
            " (SELECT id FROM conversations WHERE shop_id = $1 ORDER BY id LIMIT 10)",
            shop_id,
        )
        assert await conn.fetchval("SELECT count(*) FROM messages WHERE shop_id = $1", shop_id) >= 100_000
        await conn.execute("ANALYZE messages; ANALYZE conversations; ANALYZE shops")

        args = (60.0, 500, [shop_id])
        plan = json.loads(await conn.fetchval("EXPLAIN (FORMAT JSON) " + UNDELIVERED_SQL, *args))[0]["Plan"]
        scans = [n for n in _plan_nodes(plan) if n.get("Relation Name") == "messages" or "Index Name" in n]
        used = {(n["Node Type"], n.get("Index Name")) for n in scans}
        assert any(
            kind in ("Index Scan", "Index Only Scan", "Bitmap Index Scan") and name == "messages_waiting_for_sweep"
            for kind, name in used
        ), used
        assert not any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "messages" for n in scans), used
        # The same answer as before the index: the ten conversations with waiting messages.
        rows = await conn.fetch(UNDELIVERED_SQL, *args)
        assert len({r["conversation_id"] for r in rows}) == 10
    finally:
        await conn.execute("DELETE FROM conversations WHERE shop_id = $1 AND id::text LIKE '00000000-%'", zora.shop_id)
        await conn.execute("DELETE FROM shoppers WHERE shop_id = $1 AND id::text LIKE '00000000-%'", zora.shop_id)
        await conn.close()
