"""Install: OAuth (authorization code grant), token exchange for the embedded app, the shop's row,
its reconcile schedule and the initial import.

Access tokens are credentials: they go into the shops row and into request headers, never into logs,
exceptions or reprs.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from temporalio.client import Client

from zora.db import Pool
from zora.errors import ConfigError, ZoraError
from zora.http import client_session
from zora.security import seal
from zora.settings import Settings
from zora.shopify.admin import SHOP_QUERY, AdminClient
from zora.shopify.records import gid_to_id
from zora.shopify.signing import (
    InvalidSignature,
    refuse_repeated_keys,
    valid_shop_domain,
    verify_oauth_query,
    verify_session_token,
)
from zora.store import shops as sshops
from zora.temporal import ensure_reconcile_schedule, start_import

log = logging.getLogger(__name__)

STATE_TTL_SECONDS = 600
STATE_COOKIE = "zora_shopify_state"
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"


class InstallError(ZoraError):
    pass


@dataclass(frozen=True)
class Grant:
    shop: str
    access_token: str
    scopes: list[str]

    def __repr__(self) -> str:
        return f"Grant(shop={self.shop!r}, scopes={self.scopes!r})"


def _credentials(settings: Settings) -> tuple[str, str]:
    settings.require("shopify_api_key", "shopify_api_secret")
    assert settings.shopify_api_key and settings.shopify_api_secret
    return settings.shopify_api_key, settings.shopify_api_secret.get_secret_value()


def _oauth_url(settings: Settings, shop: str, path: str) -> str:
    return f"{settings.shopify_admin_base_url.format(shop=shop)}/admin/oauth/{path}"


async def _token_request(http: aiohttp.ClientSession, settings: Settings, shop: str, form: dict[str, str]) -> Grant:
    async with http.post(
        _oauth_url(settings, shop, "access_token"), json=form, headers={"Accept": "application/json"}
    ) as resp:
        body: Any = await resp.json(content_type=None)
        if resp.status != 200 or not isinstance(body, dict) or "access_token" not in body:
            error = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
            raise InstallError(f"token request for {shop} failed: HTTP {resp.status} {error or ''}".rstrip())
    return Grant(shop=shop, access_token=str(body["access_token"]), scopes=str(body.get("scope") or "").split(","))


async def exchange_code(http: aiohttp.ClientSession, settings: Settings, shop: str, code: str) -> Grant:
    key, secret = _credentials(settings)
    return await _token_request(http, settings, shop, {"client_id": key, "client_secret": secret, "code": code})


async def exchange_session_token(http: aiohttp.ClientSession, settings: Settings, session_token: str) -> Grant:
    """Embedded app install: an App Bridge session token becomes an offline access token."""
    key, secret = _credentials(settings)
    token = verify_session_token(key, secret, session_token)
    return await _token_request(
        http,
        settings,
        token.shop,
        {
            "client_id": key,
            "client_secret": secret,
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": session_token,
            "subject_token_type": ID_TOKEN_TYPE,
            "requested_token_type": OFFLINE_TOKEN_TYPE,
        },
    )


async def install_shop(
    pool: Pool, temporal: Client, http: aiohttp.ClientSession, settings: Settings, grant: Grant
) -> int:
    """Store the grant, create the reconcile schedule, start the initial import. Safe to repeat."""
    client = AdminClient(
        http,
        shop=grant.shop,
        token=grant.access_token,
        api_version=settings.shopify_api_version,
        base_url=settings.shopify_admin_base_url,
    )
    shop_info = (await client.execute(SHOP_QUERY)).get("shop") or {}
    async with pool.acquire() as conn:
        shop_id = await sshops.install(
            conn,
            domain=grant.shop,
            name=str(shop_info.get("name") or grant.shop),
            shopify_shop_id=gid_to_id(shop_info.get("id")),
            sealed_token=seal(settings.secret(), grant.access_token),
            scopes=[s for s in grant.scopes if s],
            currency=shop_info.get("currencyCode"),
        )
    await ensure_reconcile_schedule(temporal, settings, grant.shop)
    await start_import(temporal, settings.temporal_task_queue, grant.shop)
    log.info("installed shop %s (scopes %s)", grant.shop, ",".join(grant.scopes))
    return shop_id


# HTTP: /shopify/install -> Shopify's grant screen -> /shopify/callback; /shopify/session for the embedded app.


@dataclass
class InstallDeps:
    settings: Settings
    pool: Pool
    redis: aioredis.Redis
    temporal: Client


def redirect_uri(settings: Settings) -> str:
    """Where Shopify sends the merchant back: from PUBLIC_URL only. The Host header is the client's to
    choose, and a redirect_uri built from it would send the grant's code wherever the client says."""
    if not settings.public_url:
        raise ConfigError("PUBLIC_URL is not set: Shopify's OAuth needs the address merchants come back to")
    return f"{settings.public_url.rstrip('/')}/shopify/callback"


def _cookie_secure(settings: Settings, request: web.Request) -> bool:
    # Behind a TLS-terminating proxy the request itself is plain HTTP; PUBLIC_URL says what browsers see.
    return request.secure or (settings.public_url or "").startswith("https://")


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


async def begin_install(request: web.Request, deps: InstallDeps) -> web.StreamResponse:
    key, secret = _credentials(deps.settings)
    try:
        callback = redirect_uri(deps.settings)
    except ConfigError as exc:
        log.error("shopify install refused: %s", exc)
        return web.json_response({"error": "the app's public address is not configured"}, status=503)
    pairs = list(request.query.items())
    params = dict(pairs)
    try:
        if "hmac" in params:
            shop = verify_oauth_query(secret, pairs)
        else:
            # A merchant typing their shop into a form: nothing signed yet, but the domain must be valid.
            refuse_repeated_keys(pairs)
            shop = params.get("shop", "").lower()
            if not valid_shop_domain(shop):
                raise InvalidSignature("shop is not a myshopify.com domain")
    except InvalidSignature as exc:
        return web.json_response({"error": str(exc)}, status=400)
    state = secrets.token_urlsafe(24)
    await deps.redis.set(f"shopify:oauth:{state}", shop, ex=STATE_TTL_SECONDS)
    query = urlencode(
        {
            "client_id": key,
            "scope": deps.settings.shopify_scopes,
            "redirect_uri": callback,
            "state": state,
        }
    )
    response = _redirect(f"{_oauth_url(deps.settings, shop, 'authorize')}?{query}")
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=STATE_TTL_SECONDS,
        httponly=True,
        secure=_cookie_secure(deps.settings, request),
        samesite="Lax",
    )
    return response


async def finish_install(request: web.Request, deps: InstallDeps) -> web.StreamResponse:
    key, secret = _credentials(deps.settings)
    pairs = list(request.query.items())
    params = dict(pairs)
    try:
        shop = verify_oauth_query(secret, pairs)
    except InvalidSignature as exc:
        return web.json_response({"error": str(exc)}, status=400)
    state = params.get("state", "")
    # GETDEL: a state is good for one callback only.
    expected = await deps.redis.getdel(f"shopify:oauth:{state}") if state else None
    cookie = request.cookies.get(STATE_COOKIE)
    if expected is None or (expected.decode() if isinstance(expected, bytes) else expected) != shop or cookie != state:
        return web.json_response({"error": "unknown or expired state"}, status=400)
    try:
        async with client_session() as http:
            grant = await exchange_code(http, deps.settings, shop, params.get("code", ""))
            await install_shop(deps.pool, deps.temporal, http, deps.settings, grant)
    except InstallError as exc:
        log.warning("install of %s failed: %s", shop, exc)
        return web.json_response({"error": "Shopify did not grant access"}, status=502)
    # The app in the shop's admin (https://{shop}/admin/apps/{key}), beside its Admin API: a stand-in's own.
    response = _redirect(f"{deps.settings.shopify_admin_base_url.format(shop=shop)}/admin/apps/{key}")
    response.del_cookie(STATE_COOKIE)
    return response


async def session_install(request: web.Request, deps: InstallDeps) -> web.Response:
    """The embedded app's first call: `Authorization: Bearer <session token>`; installs when needed."""
    key, secret = _credentials(deps.settings)
    header = request.headers.get("Authorization", "")
    raw = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    try:
        token = verify_session_token(key, secret, raw)
    except InvalidSignature as exc:
        return web.json_response({"error": str(exc)}, status=401)
    async with deps.pool.acquire() as conn:
        installed = await sshops.is_installed(conn, token.shop)
    if not installed:
        try:
            async with client_session() as http:
                grant = await exchange_session_token(http, deps.settings, raw)
                await install_shop(deps.pool, deps.temporal, http, deps.settings, grant)
        except InstallError as exc:
            log.warning("token exchange for %s failed: %s", token.shop, exc)
            return web.json_response({"error": "Shopify did not grant access"}, status=502)
    return web.json_response({"shop": token.shop, "installed": True, "newly_installed": not installed})
