"""The widget's side of the web process: identity (`/widget/session`), the socket.io namespace,
and the static files. The protocol is written down in docs/widget-protocol.md."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from importlib import resources
from typing import Any, Protocol
from urllib.parse import quote
from uuid import UUID

import aiohttp
import socketio
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from widget.emitter import NAMESPACE, close_shopper_sockets, conversation_room
from zora import files as zfiles
from zora import identity as zid
from zora import metrics, tracing, transcript
from zora.business_hours import is_open
from zora.files import ALLOWED_TYPES, FileRejected
from zora.limits import RateLimited
from zora.logs import conversation_id_var
from zora.mail import Mailer, confirmation_email
from zora.missed_replies import PRESENCE_REFRESH, Presence, missed_replies_config
from zora.models import ConversationRef, StoredMessage
from zora.push import Emitter, push
from zora.security import (
    InvalidToken,
    ShopperIdentity,
    issue_shopper_token,
    new_identity,
    verify_shopper_token,
)
from zora.services import Services
from zora.shop_settings import parse_settings
from zora.shopify.signing import InvalidSignature, RepeatedParameter, verify_app_proxy
from zora.store import receipts
from zora.store import shoppers as sshoppers
from zora.store import shops as sshops
from zora.temporal import start_missed_replies
from zora.widget_events import (
    MessageEvent,
    NewMessage,
    ProfileEvent,
    ReceiptChanged,
    ReceiptEvent,
    ResumeEvent,
)

log = logging.getLogger(__name__)

SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


_CODE = r"^[A-Za-z0-9_-]{20,100}$"


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shop: str = Field(max_length=255)
    token: str | None = Field(default=None, max_length=4096)
    # A code from an emailed link (`#zora-code=`), exchanged once for that conversation's token.
    code: str | None = Field(default=None, pattern=_CODE)
    # The shopper agreed to leave the conversation they have for the link's (answer to `confirm_switch`).
    switch: bool = False

    @field_validator("shop")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().lower()
        if not SHOP_DOMAIN.match(value):
            raise ValueError("must be a shop's *.myshopify.com domain")
        return value


class ProxySessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str | None = Field(default=None, max_length=4096)
    code: str | None = Field(default=None, pattern=_CODE)
    switch: bool = False


def _error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": code, "message": message}}


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "payload"
    return f"{where}: {first['msg']}"


# Uploads per conversation in a 10-minute window.


def _json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _rate_limited(exc: RateLimited) -> dict[str, Any]:
    """The socket answer over a limit: nothing was stored; send it again after `retry_after` s."""
    return {
        "ok": False,
        "error": {
            "code": "rate_limited",
            "message": f"too many requests; try again in {exc.retry_after} s",
            "retry_after": exc.retry_after,
        },
    }


def _too_many(exc: RateLimited) -> web.Response:
    return web.json_response(
        {
            "error": {
                "code": "rate_limited",
                "message": f"too many requests; try again in {exc.retry_after} s",
                "retry_after": exc.retry_after,
            }
        },
        status=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


def _request_address(request: web.Request, services: Services) -> str:
    return services.limiter.address(request.remote, request.headers.get("X-Forwarded-For"))


class Relay(Protocol):
    """Takes a stored shopper message on to Slack without making the shopper wait."""

    def submit(self, ref: ConversationRef, message: StoredMessage) -> None: ...

    def seen(self, ref: ConversationRef, upto: int) -> None:
        """The shopper has seen the agents' replies up to `upto`: let the agents know."""

    def opened(self, ref: ConversationRef, at: datetime) -> None:
        """A conversation began or was reopened: make sure its workflow runs."""


class _Held:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class SocketLocks:
    """One lock per socket, existing only while one of its events is handled or waiting.

    Order needs a lock only between events that overlap; an event with nothing before it finds no
    lock and makes one, the last one out removes it. So nothing is left per socket once its events
    are done, whatever the order of disconnect and late events (a handler that starts after
    `disconnect` would otherwise leave a lock behind for a socket that is gone)."""

    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}

    def __len__(self) -> int:
        return len(self._held)

    @contextlib.asynccontextmanager
    async def hold(self, sid: str) -> AsyncIterator[None]:
        held = self._held.get(sid)
        if held is None:
            held = self._held[sid] = _Held()
        # Counted before waiting: a waiter keeps the lock alive for the events queued behind it.
        held.users += 1
        try:
            async with held.lock:
                yield
        finally:
            held.users -= 1
            if held.users == 0 and self._held.get(sid) is held:
                del self._held[sid]


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
        self.mailer = Mailer(services.settings)
        # Confirmation emails in flight (a reference keeps each task alive until it ends).
        self._mailing: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._refresher = asyncio.create_task(self._refresh_presence(), name="widget-presence")

    async def close(self) -> None:
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
                    _ref(identity),
                    self.missed_replies_config,
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
                log.info("bad resume event: %s", _describe(exc))
                return _error("invalid_payload", _describe(exc))
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
                log.info("bad %s event: %s", kind, _describe(exc))
                return _error("invalid_payload", _describe(exc))
            try:
                stored = await receipts.record(
                    self.services.pool, identity.shop_id, identity.conversation_id, kind, event.upto_seq
                )
            except Exception:
                log.exception("could not store a %s receipt", kind)
                return _error("unavailable", "the receipt was not stored; please retry")
            if stored is None:
                return _error("invalid_payload", "upto_seq: no such message in this conversation")
            if kind == "seen":
                self.relay.seen(_ref(identity), stored.seen_upto)
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
                log.info("bad profile event: %s", _describe(exc))
                return _error("invalid_payload", _describe(exc))
            try:
                async with self.services.pool.acquire() as conn:
                    unconfirmed = await zid.save_profile(
                        conn, identity.shop_id, identity.shopper_id, event.name, event.email
                    )
            except Exception:
                log.exception("could not store the shopper's profile")
                return _error("unavailable", "the profile was not stored; please retry")
            if not unconfirmed or event.email is None:
                return {"ok": True}
            # No mail goes to a typed address until its owner confirms it (issue 10 item 5).
            session = await self.get_session(sid)
            confirmation = await self._ask_confirmation(identity, event.email, str(session.get("address", "unknown")))
            return {"ok": True, "confirmation": confirmation}

    async def _ask_confirmation(self, identity: ShopperIdentity, email: str, address: str) -> str:
        """One email with a single-use link that confirms the address, rate-limited per recipient and
        per client address (so Zora cannot be used to mail anyone over and over). The email goes out
        in the background; the answer says what happened: sent, limited, or unavailable."""
        settings = self.services.settings
        if not self.mailer.enabled or not settings.public_url:
            log.warning("typed address not confirmed: needs SMTP_HOST and PUBLIC_URL for the confirmation link")
            return "unavailable"
        try:
            await self.services.limiter.hit(
                ("rate_confirmation_emails_per_recipient", email.lower()),
                ("rate_confirmation_emails_per_address", address),
            )
        except RateLimited as exc:
            log.info("confirmation email not sent: %s", exc)
            return "limited"
        try:
            async with self.services.pool.acquire() as conn:
                code = await zid.issue_code(
                    conn,
                    purpose="confirm",
                    shop_id=identity.shop_id,
                    shopper_id=identity.shopper_id,
                    email=email,
                    ttl_seconds=int(settings.email_code_ttl_hours * 3600),
                )
                shop_name = await sshops.name(conn, identity.shop_id)
        except Exception:
            log.exception("could not prepare the confirmation email")
            return "unavailable"
        link = f"{settings.public_url.rstrip('/')}/widget/confirm?code={code}"
        message = confirmation_email(shop_name=shop_name or identity.shop, to_address=email, link=link)
        task = asyncio.create_task(self._send(message))
        self._mailing.add(task)
        task.add_done_callback(self._mailing.discard)
        return "sent"

    async def _send(self, message: EmailMessage) -> None:
        try:
            await self.mailer.send(message)
        except Exception:
            log.exception("could not send the confirmation email")

    @tracing.traced("zora.shopper_message")
    async def on_message(self, sid: str, data: Any = None, *_extra: Any) -> dict[str, Any]:
        metrics.SHOPPER_MESSAGES.labels("received").inc()
        async with self._locks.hold(sid):
            identity = await self._identity(sid)
            try:
                event = MessageEvent.model_validate(data)
            except ValidationError as exc:
                log.info("bad message event: %s", _describe(exc))
                return _error("invalid_payload", _describe(exc))
            ref = _ref(identity)
            session = await self.get_session(sid)
            try:
                await self._within_limits(identity, session)
            except RateLimited as exc:
                return _rate_limited(exc)
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
                return _error(
                    "invalid_payload",
                    "files: a file is not one of this conversation's uploads waiting to be sent (already sent?);"
                    " upload it with POST /widget/files first",
                )
            except Exception:
                log.exception("could not store the shopper's message")
                return _error("unavailable", "the message was not accepted; please retry")
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
            return {"ok": True, "client_id": event.client_id, "seq": stored.message.seq}

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
        await self.services.limiter.hit(*hits)

    async def trigger_event(self, event: str, *args: Any) -> Any:
        # Unknown events get an explicit error instead of silence.
        if event not in {"connect", "disconnect", "resume", "message", "delivered", "seen", "profile"}:
            log.info("unknown widget event %r", event)
            return _error("unknown_event", f"unknown event {event!r}; see docs/widget-protocol.md")
        return await super().trigger_event(event, *args)


def _ref(identity: ShopperIdentity) -> ConversationRef:
    return ConversationRef(
        shop=identity.shop,
        shop_id=identity.shop_id,
        conversation_id=identity.conversation_id,
        shopper_id=identity.shopper_id,
    )


async def session_handler(
    request: web.Request, services: Services, server: socketio.AsyncServer | None = None
) -> web.Response:
    try:
        payload = await request.json()
    except ValueError:
        return _json_error(400, "invalid_request", "body must be JSON")
    try:
        req = SessionRequest.model_validate(payload)
    except ValidationError as exc:
        return _json_error(400, "invalid_request", _describe(exc))
    try:
        await services.limiter.hit(
            ("rate_sessions_per_address", _request_address(request, services)), ("rate_sessions_per_shop", req.shop)
        )
    except RateLimited as exc:
        return _too_many(exc)
    return await _session(services, server, req.shop, req.token, customer=None, code=req.code, switch=req.switch)


async def proxy_session_handler(
    request: web.Request, services: Services, server: socketio.AsyncServer | None = None
) -> web.Response:
    """`/proxy/session`: the widget on a storefront asks through Shopify's app proxy
    (`/apps/zora/session` on the shop's own domain), so Shopify vouches for the shop and for the
    logged-in customer; the token Zora issues is then bound to that customer."""
    secret = services.settings.shopify_api_secret
    if secret is None:
        return _json_error(404, "not_configured", "the Shopify app proxy is not configured (SHOPIFY_API_SECRET)")
    try:
        proxied = verify_app_proxy(secret.get_secret_value(), list(request.query.items()))
    except RepeatedParameter as exc:
        return _json_error(400, "invalid_request", str(exc))
    except InvalidSignature as exc:
        return _json_error(401, "invalid_signature", f"not a request Shopify signed: {exc}")
    # Through the app proxy the peer is Shopify, not the shopper: count per shop and per customer.
    hits = [("rate_sessions_per_shop", proxied.shop)]
    if proxied.customer_id is not None:
        hits.append(("rate_proxy_sessions_per_customer", f"{proxied.shop}:{proxied.customer_id}"))
    try:
        await services.limiter.hit(*hits)
    except RateLimited as exc:
        return _too_many(exc)
    req = ProxySessionRequest()
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            return _json_error(400, "invalid_request", "body must be JSON")
        try:
            req = ProxySessionRequest.model_validate(body)
        except ValidationError as exc:
            return _json_error(400, "invalid_request", _describe(exc))
    return await _session(
        services,
        server,
        proxied.shop,
        req.token or None,
        customer=proxied.customer_id,
        proxied=True,
        code=req.code,
        switch=req.switch,
    )


async def _session(
    services: Services,
    server: socketio.AsyncServer | None,
    domain: str,
    token: str | None,
    *,
    customer: int | None,
    proxied: bool = False,
    code: str | None = None,
    switch: bool = False,
) -> web.Response:
    """Issue (or renew) a shopper token for this shop; `customer` is a Shopify customer id that
    Shopify vouched for (app proxy), None for an anonymous visitor; `code` comes from an emailed link."""
    async with services.pool.acquire() as conn:
        shop = await sshops.by_domain(conn, domain)
    if shop is None:
        return _json_error(404, "unknown_shop", f"Zora is not installed on {domain}")
    shop_id: int = shop.id
    try:
        shop_settings = parse_settings(shop.settings)
    except ValidationError:
        log.exception("invalid settings for %s; widget defaults apply", domain)
        shop_settings = parse_settings(None)
    settings = services.settings
    identity: ShopperIdentity | None = None
    if token:
        try:
            identity = verify_shopper_token(settings.secret(), token)
        except InvalidToken:
            identity = None
        if identity is not None and (identity.shop != domain or identity.shop_id != shop_id):
            identity = None
    notice: str | None = None
    revoked: UUID | None = None
    try:
        async with services.pool.acquire() as conn, conn.transaction():
            if identity is not None:
                state = await zid.token_state(conn, shop_id, identity.shopper_id)
                if (
                    customer is not None
                    and state.customer == customer
                    and identity.version == state.version
                    and identity.customer is None
                ):
                    # Issued before tokens carried their binding, and Shopify vouches for that very customer
                    # now: the same conversation, and from now on a token that says whose it is.
                    identity = dataclasses.replace(identity, customer=customer)
                if not zid.is_current(identity, state):
                    identity = None  # revoked, or its binding to a customer changed since
                elif state.customer is not None and state.customer != customer:
                    # A conversation that belongs to a signed-in customer is never continued by someone else
                    # (another customer, or the same browser after logging out).
                    if proxied and customer is None:
                        # Shopify says nobody is signed in on this browser any more: that is a sign-out.
                        await zid.revoke(conn, shop_id, identity.shopper_id)
                        revoked = identity.shopper_id
                    identity = None
            if code is not None:
                try:
                    found = await zid.find_code(conn, code, "link", shop_id)
                except zid.CodeRefused:
                    return _json_error(
                        410, "code_invalid", "this link was used already or has expired; the chat goes on without it"
                    )
                assert found.conversation_id is not None
                target = await zid.token_state(conn, shop_id, found.shopper_id)
                if target.customer is not None and target.customer != customer:
                    # The link's conversation belongs to a signed-in customer: only that customer opens it.
                    return _json_error(403, "sign_in_required", "sign in to the shop to open this conversation")
                if (
                    identity is not None
                    and identity.conversation_id != found.conversation_id
                    and not switch
                    and await zid.conversation_has_messages(conn, shop_id, identity.conversation_id)
                ):
                    # Never silently drop the conversation the widget has: the shopper decides (the code stays).
                    return _json_error(
                        409, "confirm_switch", "this link opens another conversation; send switch: true to open it"
                    )
                await zid.use_code(conn, found)
                identity = ShopperIdentity(
                    shop=domain,
                    shop_id=shop_id,
                    shopper_id=found.shopper_id,
                    conversation_id=found.conversation_id,
                    customer=target.customer,
                    version=target.version,
                )
            if identity is None:
                identity = new_identity(domain, shop_id)
            if customer is not None and identity.customer != customer:
                if await zid.has_messages(conn, shop_id, identity.shopper_id):
                    # Words written before signing in (perhaps by whoever made the link this browser
                    # followed) are never bound to this customer: they get a conversation of their own.
                    identity = new_identity(domain, shop_id)
                    notice = "new_conversation"
                # An address typed (and confirmed) before signing in may be anyone's, not this
                # customer's: their mail goes to the customer's own address until they confirm one.
                await sshoppers.bind_customer(conn, shop_id, identity.shopper_id, customer)
                # Tokens issued to this shopper before carry no binding: from now on they open nothing,
                # and their open sockets are closed (this browser's own reconnects with the new token).
                identity = dataclasses.replace(identity, customer=customer)
                revoked = identity.shopper_id
    finally:
        if revoked is not None:
            # Also when the answer is a refused code: the revocation was committed with it. Sockets of a
            # shopper just bound are closed too (their tokens carry no binding).
            await close_sockets(services, server, revoked)
    ttl = settings.shopper_token_ttl_days * 86400
    issued = issue_shopper_token(settings.secret(), identity, ttl)
    answer: dict[str, Any] = {
        "token": issued,
        "shopper_id": str(identity.shopper_id),
        "conversation_id": str(identity.conversation_id),
        "expires_in": ttl,
        "verified": customer is not None,
        # What the merchant set for the widget (docs/widget-protocol.md).
        "widget": {
            "prechat": shop_settings.prechat,
            "greetings": shop_settings.greetings,
            # Away: nobody answers now; the widget says so and asks for an email for the reply.
            "away": not shop_settings.available
            or not is_open(datetime.now(UTC), shop_settings.business_hours, shop_settings.timezone),
            "files": {"max_bytes": settings.file_max_bytes, "types": list(ALLOWED_TYPES)},
        },
    }
    if notice is not None:
        answer["notice"] = notice
    return web.json_response(answer)


async def close_sockets(services: Services, server: socketio.AsyncServer | None, shopper_id: UUID) -> None:
    """Disconnects every socket open with this shopper's tokens, on any web node (socket.io's Redis
    manager forwards a disconnect to the node that holds the socket)."""
    if server is None:
        return

    async def disconnect(sid: str) -> None:
        await server.disconnect(sid, namespace=NAMESPACE)

    await close_shopper_sockets(services.redis, disconnect, [shopper_id])


async def signout_handler(
    request: web.Request, services: Services, server: socketio.AsyncServer | None = None
) -> web.Response:
    """`POST /widget/signout`: revokes every token of the shopper (this one included) and closes
    their open sockets. The widget then starts over with a new anonymous identity."""
    auth = request.headers.get("Authorization", "")
    try:
        identity = verify_shopper_token(services.settings.secret(), auth.removeprefix("Bearer ").strip())
    except InvalidToken:
        return _json_error(401, "unauthorized", "Authorization: Bearer <token from /widget/session> is required")
    async with services.pool.acquire() as conn, conn.transaction():
        if not zid.is_current(identity, await zid.token_state(conn, identity.shop_id, identity.shopper_id)):
            return _json_error(401, "unauthorized", "this token was revoked already")
        await zid.revoke(conn, identity.shop_id, identity.shopper_id)
    await close_sockets(services, server, identity.shopper_id)
    return web.json_response({"ok": True})


_CONFIRM_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
    "<title>Confirm your email</title></head>"
    '<body style="font-family:system-ui,sans-serif;max-width:30em;margin:3em auto;padding:0 1em">{body}</body></html>'
)


def _page(body: str, status: int = 200) -> web.Response:
    return web.Response(
        text=_CONFIRM_PAGE.format(body=body),
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


async def confirm_handler(request: web.Request, services: Services) -> web.Response:
    """The link in an address-confirmation email. GET only shows a button (mail scanners and link
    previews fetch links on their own), POST spends the code and confirms the address."""
    if request.method == "GET":
        code = request.query.get("code", "")
        if not re.match(_CODE, code):
            return _page("<p>This link is not complete. Open it from the email again.</p>", 400)
        return _page(
            "<p>Confirm that chat replies may be emailed to you?</p>"
            '<form method="post"><input type="hidden" name="code" value="' + code + '">'
            '<button type="submit">Confirm my email</button></form>'
        )
    form = await request.post()
    code = str(form.get("code", ""))
    if not re.match(_CODE, code):
        return _page("<p>This link is not complete. Open it from the email again.</p>", 400)
    async with services.pool.acquire() as conn, conn.transaction():
        try:
            found = await zid.find_code(conn, code, "confirm")
        except zid.CodeRefused:
            return _page("<p>This link was used already or has expired.</p>", 410)
        await zid.use_code(conn, found)
        confirmed = await zid.confirm_email(conn, found)
    if not confirmed:
        return _page("<p>This address is no longer the one given in the chat: nothing was changed.</p>", 409)
    return _page("<p>Thank you: your email is confirmed. Replies you miss in the chat will be emailed to you.</p>")


async def upload_handler(request: web.Request, services: Services) -> web.Response:
    """`POST /widget/files`: a shopper's image or PDF, kept until a message sends it."""
    auth = request.headers.get("Authorization", "")
    try:
        identity = verify_shopper_token(services.settings.secret(), auth.removeprefix("Bearer ").strip())
    except InvalidToken:
        return _json_error(401, "unauthorized", "Authorization: Bearer <token from /widget/session> is required")
    if not await zid.check_token(services.pool, identity):
        return _json_error(401, "unauthorized", "this token was revoked; get a new one from /widget/session")
    try:
        await services.limiter.hit(
            ("rate_uploads_per_conversation", str(identity.conversation_id)),
            ("rate_uploads_per_address", _request_address(request, services)),
        )
    except RateLimited as exc:
        return _too_many(exc)
    name = request.query.get("name", "")
    if not name.strip() or len(name) > zfiles.MAX_NAME:
        return _json_error(400, "invalid_request", f"name: give the file's name (1-{zfiles.MAX_NAME} characters)")
    limit = services.settings.file_max_bytes
    try:
        content_type = zfiles.check_declared(
            request.headers.get("Content-Type", ""), request.content_length or 0, limit
        )
        # What may stream in: the declared size, or the most a file may be when none is declared.
        async with services.limiter.in_flight(
            f"upload:{identity.conversation_id}",
            min(request.content_length or limit, limit),
            services.settings.upload_bytes_in_flight_per_conversation,
        ):
            data = await zfiles.read_limited(request.content, limit)
        if not data:
            return _json_error(400, "invalid_request", "the body is empty: send the file's bytes")
        zfiles.check_content(content_type, data)
        info = await zfiles.store_upload(services.pool, _ref(identity), name, content_type, data)
    except RateLimited as exc:
        return _too_many(exc)
    except FileRejected as exc:
        status = {"file_too_large": 413, "unsupported_type": 415, "too_many_files": 429}.get(exc.code, 403)
        return _json_error(status, exc.code, exc.message)
    except aiohttp.ClientPayloadError:
        return _json_error(400, "invalid_request", "the upload was cut off; send the file again")
    except Exception:
        log.exception("could not store a shopper's upload")
        return _json_error(503, "unavailable", "the file was not stored; please try again")
    log.info("shopper uploaded a file", extra={"size": info.size, "type": info.type})
    return web.json_response({"file": info.model_dump(mode="json")}, status=201)


async def download_handler(request: web.Request, services: Services) -> web.Response:
    """`GET /widget/files/{id}`: a file of a conversation, for its shopper (the id is the permission)."""
    try:
        file_id = UUID(request.match_info["file_id"])
    except ValueError:
        return _json_error(404, "not_found", "no such file")
    stored = await zfiles.read(services.pool, file_id)
    if stored is None:
        return _json_error(404, "not_found", "no such file (it may have been deleted)")
    # Images are shown in place; a PDF is downloaded (browsers do not render PDFs in a sandboxed page).
    disposition = "inline" if stored.content_type.startswith("image/") else "attachment"
    return web.Response(
        body=stored.data,
        content_type=stored.content_type,
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(stored.name, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
            # Not kept by browsers or proxies: an erased file (customers/redact) is gone at once, and a
            # shared computer keeps no copy of a shopper's ID card.
            "Cache-Control": "no-store",
            # Shown on storefronts (another origin) as <img>.
            "Cross-Origin-Resource-Policy": "cross-origin",
        },
    )


def static_file(name: str) -> bytes:
    return (resources.files("widget") / "static" / name).read_bytes()
