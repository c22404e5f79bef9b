"""The floor: the least a socket.io <-> Slack relay has to do, with no Temporal and no database.

A python-socketio server on aiohttp speaking the widget protocol (enough of it for the benchmark):
``POST /widget/session`` hands out a token that names a conversation, a shopper ``message`` becomes a
``chat.postMessage`` in the conversation's Slack thread (the first one opens the thread with a root
post, as Zora does), and a signed Events API ``message`` in that thread is emitted to the shopper.
State lives in dicts; nothing is durable. Messages of one connection are handled in order.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import socketio
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

NAMESPACE = "/widget"
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class _Conversation:
    id: str
    thread_ts: str | None = None
    seq: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def room(self) -> str:
        return f"conv:{self.id}"


class FloorRelay:
    def __init__(self, *, slack_api_url: str, bot_token: str, signing_secret: str, channel: str) -> None:
        self.channel = channel
        self.signing_secret = signing_secret.encode()
        self.slack = AsyncWebClient(token=bot_token, base_url=slack_api_url, retry_handlers=[])
        self.sio = socketio.AsyncServer(async_mode="aiohttp", logger=False, engineio_logger=False)
        self.app = web.Application()
        self.sio.attach(self.app, socketio_path="socket.io")
        self.app.router.add_post("/widget/session", self._session)
        self.app.router.add_post("/slack/events", self._events)
        self.sio.on("connect", self._connect, namespace=NAMESPACE)
        self.sio.on("disconnect", self._disconnect, namespace=NAMESPACE)
        self.sio.on("resume", self._resume, namespace=NAMESPACE)
        self.sio.on("message", self._message, namespace=NAMESPACE)
        self._conversations: dict[str, _Conversation] = {}
        self._by_thread: dict[str, _Conversation] = {}
        self._by_sid: dict[str, _Conversation] = {}
        self._sid_locks: dict[str, asyncio.Lock] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.event_errors = 0

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self.sio.shutdown()
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ widget side

    async def _session(self, request: web.Request) -> web.Response:
        token = uuid.uuid4().hex
        self._conversations[token] = _Conversation(id=str(uuid.uuid4()))
        return web.json_response({"token": token, "conversation_id": self._conversations[token].id})

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        conversation = self._conversations.get(str(token))
        if conversation is None:
            raise socketio.exceptions.ConnectionRefusedError({"code": "unauthorized", "message": "bad token"})
        self._by_sid[sid] = conversation
        self._sid_locks[sid] = asyncio.Lock()
        await self.sio.enter_room(sid, conversation.room, namespace=NAMESPACE)

    async def _disconnect(self, sid: str, *_args: Any) -> None:
        self._by_sid.pop(sid, None)
        self._sid_locks.pop(sid, None)

    async def _resume(self, sid: str, data: Any = None) -> dict[str, Any]:
        conversation = self._by_sid[sid]
        return {"ok": True, "conversation_id": conversation.id, "status": None, "messages": []}

    async def _message(self, sid: str, data: Any = None) -> dict[str, Any]:
        conversation = self._by_sid.get(sid)
        lock = self._sid_locks.get(sid)
        if conversation is None or lock is None:
            return {"ok": False, "error": {"code": "unauthorized", "message": "not connected"}}
        if not isinstance(data, dict):
            return {"ok": False, "error": {"code": "invalid_payload", "message": "payload: must be an object"}}
        client_id, body = data.get("client_id"), data.get("body")
        if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
            return {"ok": False, "error": {"code": "invalid_payload", "message": "client_id: invalid"}}
        if not isinstance(body, str) or not body.strip() or len(body) > 4000:
            return {"ok": False, "error": {"code": "invalid_payload", "message": "body: invalid"}}
        async with lock:
            try:
                async with conversation.lock:
                    if conversation.thread_ts is None:
                        root = await self.slack.chat_postMessage(
                            channel=self.channel, text=f"New conversation from a shopper ({conversation.id})"
                        )
                        conversation.thread_ts = str(root["ts"])
                        self._by_thread[conversation.thread_ts] = conversation
                await self.slack.chat_postMessage(
                    channel=self.channel, thread_ts=conversation.thread_ts, text=body, unfurl_links=False
                )
            except Exception as exc:
                return {"ok": False, "error": {"code": "unavailable", "message": str(exc)[:200]}}
            conversation.seq += 1
        return {"ok": True, "client_id": client_id}

    # ------------------------------------------------------------------ Slack side

    def _signed(self, request: web.Request, body: bytes) -> bool:
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        expected = "v0=" + hmac.new(self.signing_secret, f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)

    async def _events(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self._signed(request, body):
            self.event_errors += 1
            return web.Response(status=401)
        envelope = json.loads(body)
        event = envelope.get("event") or {}
        thread_ts = event.get("thread_ts")
        if event.get("type") != "message" or event.get("bot_id") or not thread_ts or thread_ts == event.get("ts"):
            return web.Response(status=200)
        conversation = self._by_thread.get(str(thread_ts))
        if conversation is None:
            return web.Response(status=200)
        conversation.seq += 1
        message = {
            "conversation_id": conversation.id,
            "seq": conversation.seq,
            "client_id": None,
            "direction": "agent",
            "author": {"name": "Agent", "avatar_url": None},
            "body": event.get("text", ""),
            "created_at": datetime.now(UTC).isoformat(),
            "status": "stored",
        }
        await self.sio.emit("message", message, room=conversation.room, namespace=NAMESPACE)
        return web.Response(status=200)
