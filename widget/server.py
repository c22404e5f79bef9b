"""The widget's socket.io namespace: a shopper's connection, resume, messages, receipts and profile. The HTTP
endpoints are beside it (session.py, uploads.py, confirm.py); the protocol is in docs/widget-protocol.md."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import socketio
from pydantic import ValidationError

from widget.confirm import AddressConfirmation
from widget.emitter import NAMESPACE, conversation_room
from widget.http import conversation_ref, describe, error, rate_limited
from widget.locks import SocketLocks
from zora import files as zfiles
from zora import identity as zid
from zora import metrics, tracing, transcript
from zora.assistant_switch import AssistantSwitch
from zora.limits import RateLimited
from zora.logs import conversation_id_var
from zora.missed_replies import PRESENCE_REFRESH, Presence, missed_replies_config, shop_config
from zora.models import ConversationRef, StoredMessage
from zora.push import Emitter, push
from zora.security import InvalidToken, ShopperIdentity, verify_shopper_token
from zora.services import Services
from zora.shop_limits import ShopSettingsCache, shop_items
from zora.store import receipts
from zora.temporal import Conversations, start_missed_replies
from zora.widget_events import (
    AskForPersonEvent,
    MessageEvent,
    NewMessage,
    ProfileEvent,
    ReceiptChanged,
    ReceiptEvent,
    ResumeEvent,
)

log = logging.getLogger(__name__)

# The events a widget may send (docs/widget-protocol.md).
EVENTS = frozenset({"connect", "disconnect", "resume", "message", "delivered", "seen", "profile", "ask_for_person"})


class Relay(Protocol):
    """Takes a stored shopper message on to Slack without making the shopper wait."""

    def submit(self, ref: ConversationRef, message: StoredMessage) -> None: ...

    def seen(self, ref: ConversationRef, upto: int) -> None:
        """The shopper has seen the agents' replies up to `upto`: let the agents know."""

    def opened(self, ref: ConversationRef, at: datetime) -> None:
        """A conversation began or was reopened: make sure its workflow runs."""


class WidgetNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, services: Services, relay: Relay, emitter: Emitter) -> None:
        super().__init__(NAMESPACE)
        self.services = services
        self.relay = relay
        self.emitter = emitter
        self.secret = services.settings.secret()
        # socket.io runs handlers concurrently; one lock per connection keeps its events in order.
        self._locks = SocketLocks()
        self.presence = Presence(services.redis)
        self.missed_replies_config = missed_replies_config(services.settings)
        # This process's sockets: sid -> conversation (presence is refreshed for them).
        self._present: dict[str, UUID] = {}
        self._refresher: asyncio.Task[None] | None = None
        self.confirmation = AddressConfirmation(services)
        # The shop's own limits, without a database round trip per message (zora/shop_limits.py).
        self.shop_settings = ShopSettingsCache(services.pool)
        # The assistant (issue 12): told of shopper messages only in shops that have it on.
        self.assistant = AssistantSwitch(services.pool)
        self.conversations = Conversations.from_settings(services.temporal, services.settings)
        self._signals: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._refresher = asyncio.create_task(self._refresh_presence(), name="widget-presence")

    async def close(self) -> None:
        # Signals to the assistant still on their way: the messages are stored and reach Slack anyway.
        for task in list(self._signals):
            task.cancel()
        for task in list(self._signals):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None

    async def _refresh_presence(self) -> None:
        while True:
            await asyncio.sleep(PRESENCE_REFRESH)
            try:
                await self.presence.refresh([(cid, sid) for sid, cid in list(self._present.items())])
            except Exception:
                log.exception("could not refresh widget presence")

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
        # Listed before the check: a revocation either sees this socket (and closes it) or comes
        # before the check (which then refuses the token).
        sockets = zid.sockets_key(identity.shopper_id)
        try:
            async with self.services.redis.pipeline(transaction=False) as pipe:
                pipe.sadd(sockets, sid)
                pipe.expire(sockets, self.services.settings.shopper_token_ttl_days * 86400)
                await pipe.execute()
        except Exception:
            log.exception("could not list the socket for revocation")
        if not await zid.check_token(self.services.pool, identity):
            with contextlib.suppress(Exception):
                await self.services.redis.srem(sockets, sid)
            raise socketio.exceptions.ConnectionRefusedError(
                "unauthorized", {"code": "unauthorized", "message": "token was revoked; get a new one"}
            )
        request = environ.get("aiohttp.request")
        address = self.services.limiter.address(
            getattr(request, "remote", None), request.headers.get("X-Forwarded-For") if request is not None else None
        )
        await self.save_session(sid, {"identity": identity, "address": address})
        await self.enter_room(sid, conversation_room(identity.conversation_id))
        self._present[sid] = identity.conversation_id
        metrics.SOCKETS_CONNECTED.inc()
        try:
            await self.presence.join(identity.conversation_id, sid)
        except Exception:
            # Counted as away: at worst an email follows for replies the shopper did see.
            log.exception("could not record widget presence")

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        conversation_id = self._present.pop(sid, None)
        if conversation_id is None:
            return
        metrics.SOCKETS_CONNECTED.dec()
        try:
            identity = await self._identity(sid)
            with contextlib.suppress(Exception):
                await self.services.redis.srem(zid.sockets_key(identity.shopper_id), sid)
            if await self.presence.leave(conversation_id, sid) > 0:
                return  # another tab is still there
            # Nobody left to see them: replies not yet seen wait for the shopper, then go by email.
            upto = await receipts.unseen_replies(self.services.pool, identity.shop_id, conversation_id)
            if upto > 0:
                await start_missed_replies(
                    self.services.temporal,
                    self.services.settings.temporal_task_queue,
                    conversation_ref(identity),
                    await shop_config(self.services.pool, identity.shop_id, self.missed_replies_config),
                    upto,
                )
        except Exception:
            log.exception("could not hand unseen replies to the missed-replies workflow")

    async def _identity(self, sid: str) -> ShopperIdentity:
        session = await self.get_session(sid)
        identity: ShopperIdentity = session["identity"]
        conversation_id_var.set(str(identity.conversation_id))
        return identity

    async def on_resume(self, sid: str, data: Any = None, *_extra: Any) -> dict[str, Any]:
        async with self._locks.hold(sid):
            identity = await self._identity(sid)
            try:
                event = ResumeEvent.model_validate(data if data is not None else {})
            except ValidationError as exc:
                log.info("bad resume event: %s", describe(exc))
                return error("invalid_payload", describe(exc))
            status, messages = await transcript.history(
                self.services.pool, identity.shop_id, identity.conversation_id, event.since_seq
            )
            # Whether a first message would open a new conversation (the new-conversation limits).
            session = await self.get_session(sid)
            session["started"] = status is not None
            wired = [transcript.wire(m) for m in messages]
            last_agent, seen_upto = await receipts.reading_state(
                self.services.pool, identity.shop_id, identity.conversation_id
            )
            for m in wired:
                # A shopper message is seen once an agent replied after it.
                if m["direction"] == "shopper" and m["seq"] < last_agent:
                    m["status"] = "seen"
            return {
                "ok": True,
                "conversation_id": str(identity.conversation_id),
                "status": status,
                "messages": wired,
                "seen_upto": seen_upto,
            }

    async def _receipt(self, sid: str, kind: receipts.Receipt, data: Any) -> dict[str, Any]:
        async with self._locks.hold(sid):
            identity = await self._identity(sid)
            try:
                event = ReceiptEvent.model_validate(data)
            except ValidationError as exc:
                log.info("bad %s event: %s", kind, describe(exc))
                return error("invalid_payload", describe(exc))
            try:
                stored = await receipts.record(
                    self.services.pool, identity.shop_id, identity.conversation_id, kind, event.upto_seq
                )
            except Exception:
                log.exception("could not store a %s receipt", kind)
                return error("unavailable", "the receipt was not stored; please retry")
            if stored is None:
                return error("invalid_payload", "upto_seq: no such message in this conversation")
            if kind == "seen":
                self.relay.seen(conversation_ref(identity), stored.seen_upto)
            await push(
                self.emitter,
                ReceiptChanged(
                    conversation_id=identity.conversation_id,
                    delivered_upto=stored.delivered_upto,
                    seen_upto=stored.seen_upto,
                ),
            )
            return {"ok": True, "delivered_upto": stored.delivered_upto, "seen_upto": stored.seen_upto}

    async def on_delivered(self, sid: str, data: Any = None, *_extra: Any) -> dict[str, Any]:
        return await self._receipt(sid, "delivered", data)

    async def on_seen(self, sid: str, data: Any = None, *_extra: Any) -> dict[str, Any]:
        return await self._receipt(sid, "seen", data)

    async def on_profile(self, sid: str, data: Any = None, *_extra: Any) -> dict[str, Any]:
        async with self._locks.hold(sid):
            identity = await self._identity(sid)
            try:
                event = ProfileEvent.model_validate(data)
            except ValidationError as exc:
                log.info("bad profile event: %s", describe(exc))
                return error("invalid_payload", describe(exc))
            try:
                async with self.services.pool.acquire() as conn:
                    unconfirmed = await zid.save_profile(
                        conn, identity.shop_id, identity.shopper_id, event.name, event.email
                    )
            except Exception:
                log.exception("could not store the shopper's profile")
                return error("unavailable", "the profile was not stored; please retry")
            if not unconfirmed or event.email is None:
                return {"ok": True}
            # No mail goes to a typed address until its owner confirms it (issue 10 item 5).
            session = await self.get_session(sid)
            confirmation = await self.confirmation.ask(
                identity, event.email, str(session.get("address", "unknown")), event.locale
            )
            return {"ok": True, "confirmation": confirmation}

    @tracing.traced("zora.shopper_message")
    async def on_message(self, sid: str, data: Any = None, *_extra: Any) -> dict[str, Any]:
        metrics.SHOPPER_MESSAGES.labels("received").inc()
        async with self._locks.hold(sid):
            identity = await self._identity(sid)
            try:
                event = MessageEvent.model_validate(data)
            except ValidationError as exc:
                log.info("bad message event: %s", describe(exc))
                return error("invalid_payload", describe(exc))
            ref = conversation_ref(identity)
            session = await self.get_session(sid)
            try:
                await self._within_limits(identity, session)
            except RateLimited as exc:
                return rate_limited(exc)
            try:
                stored = await transcript.store_shopper_message(
                    self.services.pool,
                    ref,
                    event.client_id,
                    event.body,
                    datetime.now(UTC),
                    [UUID(f) for f in event.files],
                )
            except zfiles.UnknownFiles:
                return error(
                    "invalid_payload",
                    "files: a file is not one of this conversation's uploads waiting to be sent (already sent?);"
                    " upload it with POST /widget/files first",
                )
            except Exception:
                log.exception("could not store the shopper's message")
                return error("unavailable", "the message was not accepted; please retry")
            session["started"] = True
            if stored.duplicate:
                return {"ok": True, "client_id": event.client_id, "seq": stored.message.seq}
            if stored.conversation_created and (event.page or event.locale):
                try:
                    await transcript.set_storefront_context(self.services.pool, ref, event.page, event.locale)
                except Exception:
                    # Only the card's "Storefront" line is missing; the message is stored and goes on.
                    log.exception("could not store where the conversation started")
            await push(self.emitter, NewMessage.of(stored.message))
            metrics.SHOPPER_MESSAGES.labels("stored").inc()
            await tracing.remember(self.services.redis, identity.conversation_id)
            self.relay.submit(ref, stored.message)
            if stored.conversation_created or stored.reopened:
                # Its lifecycle owner (the workflow) starts alongside, off the shopper's path.
                self.relay.opened(ref, stored.message.created_at)
            self._beside(self._tell_assistant(ref, stored.message.seq, bool(session.pop("person_asked", False))))
            return {"ok": True, "client_id": event.client_id, "seq": stored.message.seq}

    def _beside(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._signals.add(task)
        task.add_done_callback(self._signals.discard)

    async def _tell_assistant(self, ref: ConversationRef, seq: int, person_asked: bool) -> None:
        """The conversation's workflow hears of the message when the shop's assistant is on (it decides
        whether the assistant answers); a shop without it sends nothing."""
        try:
            if person_asked:
                await self.conversations.ask_for_person(ref, "")
            elif await self.assistant.enabled(ref.shop_id):
                await self.conversations.shopper_wrote(ref, seq)
        except Exception:
            # The message is stored and reaches the agents in Slack; only the assistant's answer is lost.
            log.exception("could not tell the conversation's workflow about the message")

    async def on_ask_for_person(self, sid: str, data: Any = None, *_extra: Any) -> dict[str, Any]:
        """The shopper wants a person: the assistant hands over (or never starts, before a first message)."""
        async with self._locks.hold(sid):
            identity = await self._identity(sid)
            try:
                event = AskForPersonEvent.model_validate(data if data is not None else {})
            except ValidationError as exc:
                log.info("bad ask_for_person event: %s", describe(exc))
                return error("invalid_payload", describe(exc))
            try:
                await self.services.limiter.hit(
                    ("rate_messages_per_shopper", str(identity.shopper_id)),
                    ("rate_messages_per_conversation", str(identity.conversation_id)),
                )
            except RateLimited as exc:
                return rate_limited(exc)
            session = await self.get_session(sid)
            if not session.get("started"):
                # No conversation yet: its first message goes to people, not to the assistant.
                session["person_asked"] = True
                return {"ok": True}
            try:
                await self.conversations.ask_for_person(conversation_ref(identity), event.reason)
            except Exception:
                log.exception("could not hand the conversation to a person")
                return error("unavailable", "the request was not taken; please retry")
            return {"ok": True}

    async def _within_limits(self, identity: ShopperIdentity, session: dict[str, Any]) -> None:
        """Count a message against its shopper, conversation, address and shop, and a first message
        (a new Slack thread) against the new-conversation limits; RateLimited when over."""
        address = str(session.get("address", "unknown"))
        hits = [
            ("rate_messages_per_shopper", str(identity.shopper_id)),
            ("rate_messages_per_conversation", str(identity.conversation_id)),
            ("rate_messages_per_address", address),
            ("rate_messages_per_shop", identity.shop),
        ]
        if not session.get("started"):
            # Unknown (no resume yet) counts as new: a flood never resumes.
            hits += [("rate_conversations_per_address", address), ("rate_conversations_per_shop", identity.shop)]
        shop = await self.shop_settings.get(identity.shop_id)
        await self.services.limiter.hit(*hits, shop_items=shop_items(shop.rate_limits))

    async def trigger_event(self, event: str, *args: Any) -> Any:
        # Unknown events get an explicit error instead of silence.
        if event not in EVENTS:
            log.info("unknown widget event %r", event)
            return error("unknown_event", f"unknown event {event!r}; see docs/widget-protocol.md")
        return await super().trigger_event(event, *args)
