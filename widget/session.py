"""`/widget/session` and `/proxy/session` (identity: a shopper token issued, renewed, bound to a signed-in
customer or exchanged for an emailed link's conversation) and `/widget/signout`."""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import socketio
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from widget.emitter import NAMESPACE, close_shopper_sockets
from widget.http import CODE, describe, json_error, request_address, too_many
from zora import identity as zid
from zora.business_hours import is_open
from zora.db import Conn
from zora.files import ALLOWED_TYPES
from zora.limits import RateLimited
from zora.security import InvalidToken, ShopperIdentity, issue_shopper_token, new_identity, verify_shopper_token
from zora.services import Services
from zora.settings import Settings
from zora.shop_settings import ShopSettings, parse_settings
from zora.shopify.signing import InvalidSignature, RepeatedParameter, verify_app_proxy
from zora.store import shoppers as sshoppers
from zora.store import shops as sshops

log = logging.getLogger(__name__)

SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shop: str = Field(max_length=255)
    token: str | None = Field(default=None, max_length=4096)
    # A code from an emailed link (`#zora-code=`), exchanged once for that conversation's token.
    code: str | None = Field(default=None, pattern=CODE)
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
    code: str | None = Field(default=None, pattern=CODE)
    switch: bool = False


async def session_handler(
    request: web.Request, services: Services, server: socketio.AsyncServer | None = None
) -> web.Response:
    try:
        payload = await request.json()
    except ValueError:
        return json_error(400, "invalid_request", "body must be JSON")
    try:
        req = SessionRequest.model_validate(payload)
    except ValidationError as exc:
        return json_error(400, "invalid_request", describe(exc))
    try:
        await services.limiter.hit(
            ("rate_sessions_per_address", request_address(request, services)), ("rate_sessions_per_shop", req.shop)
        )
    except RateLimited as exc:
        return too_many(exc)
    return await _session(services, server, req.shop, req.token, customer=None, code=req.code, switch=req.switch)


async def proxy_session_handler(
    request: web.Request, services: Services, server: socketio.AsyncServer | None = None
) -> web.Response:
    """`/proxy/session`: the widget on a storefront asks through Shopify's app proxy
    (`/apps/zora/session` on the shop's own domain), so Shopify vouches for the shop and for the
    logged-in customer; the token Zora issues is then bound to that customer."""
    secret = services.settings.shopify_api_secret
    if secret is None:
        return json_error(404, "not_configured", "the Shopify app proxy is not configured (SHOPIFY_API_SECRET)")
    try:
        proxied = verify_app_proxy(secret.get_secret_value(), list(request.query.items()))
    except RepeatedParameter as exc:
        return json_error(400, "invalid_request", str(exc))
    except InvalidSignature as exc:
        return json_error(401, "invalid_signature", f"not a request Shopify signed: {exc}")
    # Through the app proxy the peer is Shopify, not the shopper: count per shop and per customer.
    hits = [("rate_sessions_per_shop", proxied.shop)]
    if proxied.customer_id is not None:
        hits.append(("rate_proxy_sessions_per_customer", f"{proxied.shop}:{proxied.customer_id}"))
    try:
        await services.limiter.hit(*hits)
    except RateLimited as exc:
        return too_many(exc)
    req = ProxySessionRequest()
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            return json_error(400, "invalid_request", "body must be JSON")
        try:
            req = ProxySessionRequest.model_validate(body)
        except ValidationError as exc:
            return json_error(400, "invalid_request", describe(exc))
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


@dataclasses.dataclass
class _Outcome:
    """What one session request decides inside its transaction."""

    identity: ShopperIdentity | None
    # A shopper whose tokens were revoked (their open sockets are closed once the transaction is done).
    revoked: UUID | None = None
    notice: str | None = None


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
        return json_error(404, "unknown_shop", f"Zora is not installed on {domain}")
    shop_id: int = shop.id
    try:
        shop_settings = parse_settings(shop.settings)
    except ValidationError:
        log.exception("invalid settings for %s; widget defaults apply", domain)
        shop_settings = parse_settings(None)
    outcome = _Outcome(_presented(services.settings, token, domain, shop_id))
    try:
        async with services.pool.acquire() as conn, conn.transaction():
            if outcome.identity is not None:
                await _continue(conn, outcome, shop_id, customer, proxied)
            if code is not None:
                refused = await _open_link(conn, outcome, domain, shop_id, code, customer, switch)
                if refused is not None:
                    return refused
            if outcome.identity is None:
                outcome.identity = new_identity(domain, shop_id)
            if customer is not None and outcome.identity.customer != customer:
                await _bind(conn, outcome, domain, shop_id, customer)
    finally:
        if outcome.revoked is not None:
            # Also when the answer is a refused code: the revocation was committed with it. Sockets of a
            # shopper just bound are closed too (their tokens carry no binding).
            await close_sockets(services, server, outcome.revoked)
    return _issued(services.settings, shop_settings, outcome.identity, customer, outcome.notice)


def _presented(settings: Settings, token: str | None, domain: str, shop_id: int) -> ShopperIdentity | None:
    """The identity of the token the widget has, if it is valid and this shop's."""
    if not token:
        return None
    try:
        identity = verify_shopper_token(settings.secret(), token)
    except InvalidToken:
        return None
    if identity.shop != domain or identity.shop_id != shop_id:
        return None
    return identity


async def _continue(conn: Conn, outcome: _Outcome, shop_id: int, customer: int | None, proxied: bool) -> None:
    """Whether the presented token still opens its conversation for this visitor (None when not)."""
    identity = outcome.identity
    assert identity is not None
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
            outcome.revoked = identity.shopper_id
        identity = None
    outcome.identity = identity


async def _open_link(
    conn: Conn, outcome: _Outcome, domain: str, shop_id: int, code: str, customer: int | None, switch: bool
) -> web.Response | None:
    """Exchanges an emailed link's code for its conversation; the refusal to answer with, if any."""
    try:
        found = await zid.find_code(conn, code, "link", shop_id)
    except zid.CodeRefused:
        return json_error(410, "code_invalid", "this link was used already or has expired; the chat goes on without it")
    assert found.conversation_id is not None
    target = await zid.token_state(conn, shop_id, found.shopper_id)
    if target.customer is not None and target.customer != customer:
        # The link's conversation belongs to a signed-in customer: only that customer opens it.
        return json_error(403, "sign_in_required", "sign in to the shop to open this conversation")
    identity = outcome.identity
    if (
        identity is not None
        and identity.conversation_id != found.conversation_id
        and not switch
        and await zid.conversation_has_messages(conn, shop_id, identity.conversation_id)
    ):
        # Never silently drop the conversation the widget has: the shopper decides (the code stays).
        return json_error(409, "confirm_switch", "this link opens another conversation; send switch: true to open it")
    await zid.use_code(conn, found)
    outcome.identity = ShopperIdentity(
        shop=domain,
        shop_id=shop_id,
        shopper_id=found.shopper_id,
        conversation_id=found.conversation_id,
        customer=target.customer,
        version=target.version,
    )
    return None


async def _bind(conn: Conn, outcome: _Outcome, domain: str, shop_id: int, customer: int) -> None:
    """Binds the shopper to the customer Shopify vouches for."""
    identity = outcome.identity
    assert identity is not None
    if await zid.has_messages(conn, shop_id, identity.shopper_id):
        # Words written before signing in (perhaps by whoever made the link this browser
        # followed) are never bound to this customer: they get a conversation of their own.
        identity = new_identity(domain, shop_id)
        outcome.notice = "new_conversation"
    # An address typed (and confirmed) before signing in may be anyone's, not this
    # customer's: their mail goes to the customer's own address until they confirm one.
    await sshoppers.bind_customer(conn, shop_id, identity.shopper_id, customer)
    # Tokens issued to this shopper before carry no binding: from now on they open nothing,
    # and their open sockets are closed (this browser's own reconnects with the new token).
    outcome.identity = dataclasses.replace(identity, customer=customer)
    outcome.revoked = identity.shopper_id


def _issued(
    settings: Settings, shop_settings: ShopSettings, identity: ShopperIdentity, customer: int | None, notice: str | None
) -> web.Response:
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
            # The assistant answers here: the widget may offer "Talk to a person" up front (issue 12 §5).
            "offer_person_first": shop_settings.assistant.enabled and shop_settings.assistant.offer_person_first,
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
        return json_error(401, "unauthorized", "Authorization: Bearer <token from /widget/session> is required")
    async with services.pool.acquire() as conn, conn.transaction():
        if not zid.is_current(identity, await zid.token_state(conn, identity.shop_id, identity.shopper_id)):
            return json_error(401, "unauthorized", "this token was revoked already")
        await zid.revoke(conn, identity.shop_id, identity.shopper_id)
    await close_sockets(services, server, identity.shopper_id)
    return web.json_response({"ok": True})
