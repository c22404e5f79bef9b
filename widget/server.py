"""The widget's side of the web process: identity (`/widget/session`), the socket.io namespace,
and the static files. The protocol is written down in docs/widget-protocol.md."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Protocol
from uuid import UUID

import socketio
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from widget.emitter import NAMESPACE, conversation_room
from zora import transcript
from zora.logs import conversation_id_var
from zora.models import ConversationConfig, ConversationRef, Opened, StoredMessage
from zora.push import Emitter
from zora.security import (
    InvalidToken,
    ShopperIdentity,
    issue_shopper_token,
    new_identity,
    verify_shopper_token,
)
from zora.services import Services
from zora.temporal import signal_conversation

log = logging.getLogger(__name__)

SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shop: str = Field(max_length=255)
    token: str | None = Field(default=None, max_length=4096)

    @field_validator("shop")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().lower()
        if not SHOP_DOMAIN.match(value):
            raise ValueError("must be a shop's *.myshopify.com domain")
        return value


class ResumeEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    since_seq: int = Field(default=0, ge=0)


class MessageEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    client_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    body: str = Field(min_length=1, max_length=4000)

    @field_validator("body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be only spaces")
        return value


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "payload"
    return f"{where}: {first['msg']}"


def _json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class Relay(Protocol):
    """Takes a stored shopper message on to Slack without making the shopper wait."""

    def submit(self, ref: ConversationRef, message: StoredMessage) -> None: ...

    def hold(self, conversation_id: UUID) -> None:
        """Older messages of this conversation wait for the workflow: keep the order."""


class WidgetNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, services: Services, relay: Relay, emitter: Emitter) -> None:
        super().__init__(NAMESPACE)
        self.services = services
        self.relay = relay
        self.emitter = emitter
        self.secret = services.settings.secret()
        self.config = ConversationConfig(idle_close_seconds=services.settings.idle_close_hours * 3600)
        # socket.io runs handlers concurrently; one lock per connection keeps its events in order.
        self._locks: dict[str, asyncio.Lock] = {}

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str):
            raise socketio.exceptions.ConnectionRefusedError(
                "unauthorized",
                {"code": "unauthorized", "message": "auth.token is required; get one from POST /widget/session"},
            )
        try:
            identity = verify_shopper_token(self.secret, token)
        except InvalidToken:
            raise socketio.exceptions.ConnectionRefusedError(
                "unauthorized", {"code": "unauthorized", "message": "token is invalid or expired; get a new one"}
            ) from None
        await self.save_session(sid, {"identity": identity})
        self._locks[sid] = asyncio.Lock()
        await self.enter_room(sid, conversation_room(identity.conversation_id))

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self._locks.pop(sid, None)

    async def _identity(self, sid: str) -> ShopperIdentity:
        session = await self.get_session(sid)
        identity: ShopperIdentity = session["identity"]
        conversation_id_var.set(str(identity.conversation_id))
        return identity

    async def on_resume(self, sid: str, data: Any = None, *_extra: Any) -> dict[str, Any]:
        async with self._locks.setdefault(sid, asyncio.Lock()):
            identity = await self._identity(sid)
            try:
                event = ResumeEvent.model_validate(data if data is not None else {})
            except ValidationError as exc:
                log.info("bad resume event: %s", _describe(exc))
                return _error("invalid_payload", _describe(exc))
            status, messages = await transcript.history(
                self.services.pool, identity.shop_id, identity.conversation_id, event.since_seq
            )
            return {
                "ok": True,
                "conversation_id": str(identity.conversation_id),
                "status": status,
                "messages": [transcript.wire(m) for m in messages],
            }

    async def on_message(self, sid: str, data: Any = None, *_extra: Any) -> dict[str, Any]:
        async with self._locks.setdefault(sid, asyncio.Lock()):
            identity = await self._identity(sid)
            try:
                event = MessageEvent.model_validate(data)
            except ValidationError as exc:
                log.info("bad message event: %s", _describe(exc))
                return _error("invalid_payload", _describe(exc))
            ref = ConversationRef(
                shop=identity.shop,
                shop_id=identity.shop_id,
                conversation_id=identity.conversation_id,
                shopper_id=identity.shopper_id,
            )
            try:
                stored = await transcript.store_shopper_message(
                    self.services.pool, ref, event.client_id, event.body, datetime.now(UTC)
                )
            except Exception:
                log.exception("could not store the shopper's message")
                return _error("unavailable", "the message was not accepted; please retry")
            if stored.duplicate:
                return {"ok": True, "client_id": event.client_id, "seq": stored.message.seq}
            await self.emitter.emit("message", transcript.wire(stored.message), identity.conversation_id)
            if stored.conversation_created or stored.reopened:
                try:
                    # The conversation's lifecycle owner exists before its first message goes on.
                    await signal_conversation(
                        self.services.temporal,
                        self.services.settings.temporal_task_queue,
                        ref,
                        self.config,
                        "opened",
                        Opened(at=stored.message.created_at),
                    )
                except Exception:
                    # Stored all the same: the scheduled sweep starts the workflow, which delivers it.
                    log.exception("could not start the conversation workflow; the sweep will")
                    self.relay.hold(ref.conversation_id)
                    return {"ok": True, "client_id": event.client_id, "seq": stored.message.seq}
            self.relay.submit(ref, stored.message)
            return {"ok": True, "client_id": event.client_id, "seq": stored.message.seq}

    async def trigger_event(self, event: str, *args: Any) -> Any:
        # Unknown events get an explicit error instead of silence.
        if event not in {"connect", "disconnect", "resume", "message"}:
            log.info("unknown widget event %r", event)
            return _error("unknown_event", f"unknown event {event!r}; see docs/widget-protocol.md")
        return await super().trigger_event(event, *args)


async def session_handler(request: web.Request, services: Services) -> web.Response:
    try:
        payload = await request.json()
    except ValueError:
        return _json_error(400, "invalid_request", "body must be JSON")
    try:
        req = SessionRequest.model_validate(payload)
    except ValidationError as exc:
        return _json_error(400, "invalid_request", _describe(exc))
    async with services.pool.acquire() as conn:
        shop_id = await conn.fetchval("SELECT id FROM shops WHERE domain = $1", req.shop)
    if shop_id is None:
        return _json_error(404, "unknown_shop", f"Zora is not installed on {req.shop}")
    settings = services.settings
    identity: ShopperIdentity | None = None
    if req.token:
        try:
            identity = verify_shopper_token(settings.secret(), req.token)
        except InvalidToken:
            identity = None
        if identity is not None and (identity.shop != req.shop or identity.shop_id != shop_id):
            identity = None
    if identity is None:
        identity = new_identity(req.shop, shop_id)
    ttl = settings.shopper_token_ttl_days * 86400
    token = issue_shopper_token(settings.secret(), identity, ttl)
    return web.json_response(
        {
            "token": token,
            "shopper_id": str(identity.shopper_id),
            "conversation_id": str(identity.conversation_id),
            "expires_in": ttl,
        }
    )


def static_file(name: str) -> bytes:
    return (resources.files("widget") / "static" / name).read_bytes()
