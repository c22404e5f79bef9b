"""The traffic the run sends: shoppers speaking the widget protocol, and Shopify's signed webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import socketio

from bench.chaos.config import (
    ACK_TIMEOUT,
    SHOP,
    SHOPIFY_SECRET,
    WEBHOOK_CUSTOMER_BASE,
)


@dataclass
class ShopperClient:
    """One shopper, as the widget behaves: one message at a time, re-sent under the same client id
    until acknowledged; after every (re)connect a resume from the highest seq it holds."""

    index: int
    base_url: str
    token: str
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)  # seq -> message, merged
    live: Counter[int] = field(default_factory=Counter)  # agent seqs received as live events
    acked: dict[str, int] = field(default_factory=dict)  # mark -> seq
    conversation_id: str | None = None
    sends: int = 0
    resends: int = 0
    reconnects: int = 0
    sio: socketio.AsyncClient | None = None

    async def connect(self, deadline: float) -> socketio.AsyncClient:
        while True:
            if self.sio is not None:
                with contextlib.suppress(Exception):
                    await self.sio.disconnect()
            sio = socketio.AsyncClient(reconnection=False)
            sio.on("message", self._on_message, namespace="/widget")
            try:
                await sio.connect(
                    self.base_url,
                    namespaces=["/widget"],
                    auth={"token": self.token},
                    transports=["websocket"],
                    wait_timeout=10,
                )
                self.sio = sio
                await self._resume(since=max(self.messages, default=0))
                return sio
            except Exception:
                with contextlib.suppress(Exception):
                    await sio.disconnect()
                self.sio = None
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def _on_message(self, data: dict[str, Any]) -> None:
        if isinstance(data, dict) and isinstance(data.get("seq"), int):
            if data.get("direction") == "agent":
                self.live[data["seq"]] += 1
            self.messages.setdefault(data["seq"], data)

    async def _resume(self, since: int) -> None:
        assert self.sio is not None
        answer = await self.sio.call("resume", {"since_seq": since}, namespace="/widget", timeout=ACK_TIMEOUT)
        if not isinstance(answer, dict) or not answer.get("ok"):
            raise RuntimeError(f"resume refused: {answer}")
        self.conversation_id = answer["conversation_id"]
        for message in answer["messages"]:
            self.messages[message["seq"]] = message

    async def send(self, k: int, deadline: float) -> None:
        mark = f"s{self.index}-m{k}"
        payload = {"client_id": f"chaos-{self.index}-{k}", "body": f"{mark} question {k} from shopper {self.index}"}
        first = True
        while True:
            if not first:
                self.resends += 1
            first = False
            try:
                if self.sio is None or not self.sio.connected:
                    self.reconnects += 1
                    await self.connect(deadline)
                assert self.sio is not None
                self.sends += 1
                ack = await self.sio.call("message", payload, namespace="/widget", timeout=ACK_TIMEOUT)
            except Exception:
                # No answer (node gone, Redis or PostgreSQL away): maybe stored, maybe not. Same client id again.
                if time.monotonic() > deadline:
                    raise
                with contextlib.suppress(Exception):
                    if self.sio is not None:
                        await self.sio.disconnect()
                self.sio = None
                await asyncio.sleep(0.5)
                continue
            if isinstance(ack, dict) and ack.get("ok"):
                self.acked[mark] = int(ack["seq"])
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{mark} refused: {ack}")
            await asyncio.sleep(0.5)

    async def reload(self, deadline: float) -> None:
        """A page reload at the end: a fresh connection and the whole conversation from seq 0."""
        while True:
            try:
                await self.connect(deadline)
                await self._resume(since=0)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    def agent_bodies(self) -> list[tuple[int, str]]:
        return [(seq, str(m.get("body"))) for seq, m in sorted(self.messages.items()) if m.get("direction") == "agent"]

    async def close(self) -> None:
        if self.sio is not None:
            with contextlib.suppress(Exception):
                await self.sio.disconnect()


def webhook_payload(i: int) -> dict[str, Any]:
    from zora.shopify.samples import SAMPLE_CUSTOMER, rest_customer
    from zora.shopify.signing import webhook_hmac

    node = SAMPLE_CUSTOMER | {
        "id": f"gid://shopify/Customer/{WEBHOOK_CUSTOMER_BASE + i}",
        "email": f"w{i}@chaos.example",
        "updatedAt": datetime.now(UTC).isoformat(),
    }
    body = json.dumps(rest_customer(node))
    webhook_id = str(uuid.uuid4())
    return {
        "id": webhook_id,
        "customer": WEBHOOK_CUSTOMER_BASE + i,
        "email": f"w{i}@chaos.example",
        "body": body,
        "headers": {
            "Content-Type": "application/json",
            "X-Shopify-Topic": "customers/update",
            "X-Shopify-Hmac-Sha256": webhook_hmac(SHOPIFY_SECRET, body.encode()),
            "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-API-Version": "2026-04",
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Event-Id": webhook_id,
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        },
    }


@dataclass
class WebhookSender:
    """Shopify's side: a delivery is sent until a 2xx answer (5 s timeout, backing off), and some
    deliveries come again later with the same webhook id, as Shopify's at-least-once delivery does."""

    url: str
    items: list[dict[str, Any]]
    attempts: int = 0
    acked: int = 0
    resent: int = 0

    async def send(self, http: aiohttp.ClientSession, item: dict[str, Any], deadline: float) -> None:
        delay = 0.5
        while True:
            self.attempts += 1
            try:
                async with http.post(
                    self.url,
                    data=item["body"].encode(),
                    headers=item["headers"],
                    timeout=aiohttp.ClientTimeout(total=5, connect=1),
                ) as resp:
                    await resp.read()
                    if 200 <= resp.status < 300:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"webhook {item['id']} never acknowledged")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 8.0)
