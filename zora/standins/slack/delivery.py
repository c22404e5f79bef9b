"""How the stand-in reaches Zora, as Slack does: signed ``event_callback`` posts and form-encoded
interactivity posts to ``events_url``, or envelopes over a Socket Mode connection (opened with
``apps.connections.open`` and the app-level token)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from zora.standins.slack.workspace import StandInError, Workspace

# The verification token is deprecated but still sent in every envelope.
VERIFICATION_TOKEN = "zora-standin-verification-token"


def form_payload(payload: dict[str, Any]) -> bytes:
    """An interactivity body as Slack sends it: form-encoded, the JSON under `payload`."""
    return ("payload=" + quote(json.dumps(payload, separators=(",", ":")), safe="")).encode()


class Delivery(Workspace):
    """Deliveries to Zora: events and interactivity, over HTTP or Socket Mode."""

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        ts = int(time.time()) if timestamp is None else timestamp
        base = f"v0:{ts}:".encode() + body
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}

    async def deliver_event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> int:
        """POST ``event`` in an ``event_callback`` envelope to ``events_url``; returns Zora's status.

        Passing an ``event_id`` that was delivered before reproduces Slack's retry of that event,
        ``event_time`` included.
        """
        if self.events_url is None and not self._sockets:
            raise StandInError("events_url is not set and no Socket Mode client is connected")
        if self._session is None:
            raise StandInError("the Slack stand-in is not running (start() it or run its app)")
        if event_id is None:
            self._event_counter += 1
            event_id = f"Ev{self._event_prefix}{self._event_counter:06d}"
        event_time = self._event_times.setdefault(event_id, int(time.time()))
        envelope = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": event_time,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"1-{event.get('type', 'event')}-{self.team_id}-{event.get('channel', '')}",
        }
        if self.events_url is None:
            return await self._deliver_over_socket("events_api", envelope, retry_num or 0, retry_reason)
        body = json.dumps(envelope, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            **self.sign(body),
        }
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason
        timeout = aiohttp.ClientTimeout(total=self.delivery_timeout)
        async with self._session.post(self.events_url, data=body, headers=headers, timeout=timeout) as resp:
            await resp.read()
            return resp.status

    async def _post_form(self, raw: bytes) -> tuple[int, Any]:
        """A signed form-encoded delivery (commands, interactivity) and Zora's immediate answer."""
        assert self.events_url is not None and self._session is not None
        headers = {"Content-Type": "application/x-www-form-urlencoded", **self.sign(raw)}
        timeout = aiohttp.ClientTimeout(total=self.delivery_timeout)
        async with self._session.post(self.events_url, data=raw, headers=headers, timeout=timeout) as resp:
            body = await resp.read()
            try:
                answer: Any = json.loads(body) if body else None
            except ValueError:
                answer = body.decode()
            return resp.status, answer

    def _interaction(self, kind: str, user: str) -> dict[str, Any]:
        """What every interactivity payload starts with: its type, who acted, and a fresh trigger."""
        member = self._users[user]
        return {
            "type": kind,
            "team": {"id": self.team_id, "domain": "zora-standin"},
            "user": {"id": user, "username": member.name, "name": member.name, "team_id": self.team_id},
            "api_app_id": self.app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}",
        }

    async def _apps_connections_open(self, _params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        ws_origin = str(request.url.origin()).replace("http://", "ws://", 1)
        return {"ok": True, "url": f"{ws_origin}/socket-mode?ticket={secrets.token_hex(8)}"}

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        """A Socket Mode connection: hello, then envelopes the app acknowledges by envelope_id."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len(self._sockets) + 1,
                "debug_info": {"host": "zora-standin", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        self._sockets.append(ws)
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                waiter = self._acks.pop(str(data.get("envelope_id", "")), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
        finally:
            self._sockets.remove(ws)
        return ws

    async def _deliver_over_socket(
        self, kind: str, payload: dict[str, Any], retry_attempt: int, retry_reason: str
    ) -> int:
        """Send an envelope to a connected Socket Mode client; 200 once it acks, 504 when it does not
        within Slack's 3 seconds."""
        envelope_id = str(uuid.uuid4())
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = waiter
        await self._sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "payload": payload,
                "type": kind,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": retry_attempt,
                "retry_reason": retry_reason if retry_attempt else "",
            }
        )
        try:
            await asyncio.wait_for(waiter, self.delivery_timeout)
        except TimeoutError:
            self._acks.pop(envelope_id, None)
            return 504
        return 200
