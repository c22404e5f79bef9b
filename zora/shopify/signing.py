"""Everything Shopify signs with the app secret: webhooks, OAuth redirects, App Bridge session tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt

from zora.errors import ZoraError

_SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
# Shopify redirects carry a timestamp; an older link is a replay.
OAUTH_MAX_AGE_SECONDS = 24 * 3600
# App Bridge tokens live one minute; clocks differ a little.
SESSION_TOKEN_LEEWAY_SECONDS = 10


class InvalidSignature(ZoraError):
    """A webhook, redirect or session token that Shopify did not sign (or that is malformed)."""


class RepeatedParameter(InvalidSignature):
    """A Shopify-set query key given more than once: refused before any signature is computed."""


# Keys Shopify sets in the queries it signs (app proxy, OAuth install and callback). Shopify never repeats
# them; a second value is someone's addition, and which of the two a check reads versus which the code
# uses could differ (app proxy signatures join repeated values, dict() keeps one of them).
SHOPIFY_SET_KEYS = frozenset(
    {"shop", "signature", "hmac", "timestamp", "path_prefix", "logged_in_customer_id", "host", "code", "state"}
)


def refuse_repeated_keys(query: Iterable[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for key, _ in query:
        if key in SHOPIFY_SET_KEYS:
            if key in seen:
                raise RepeatedParameter(f"query parameter {key!r} is given more than once")
            seen.add(key)


def valid_shop_domain(shop: str) -> bool:
    return bool(_SHOP_DOMAIN.fullmatch(shop))


def webhook_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_webhook(secret: str, body: bytes, header: str | None) -> bool:
    """X-Shopify-Hmac-Sha256 is base64 HMAC-SHA256 of the raw body; compared in constant time."""
    if not header:
        return False
    return hmac.compare_digest(webhook_hmac(secret, body).encode(), header.strip().encode())


def oauth_query_hmac(secret: str, params: Mapping[str, str]) -> str:
    """Hex HMAC of the sorted `key=value` pairs joined by `&`, without `hmac` (and legacy `signature`)."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in ("hmac", "signature"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


# App proxy requests carry Shopify's timestamp; an old one is a replayed link.
APP_PROXY_MAX_AGE_SECONDS = 3600


def app_proxy_signature(secret: str, query: Sequence[tuple[str, str]]) -> str:
    """Hex HMAC-SHA256 over the decoded query without `signature`: each key once as `key=v1,v2`
    (repeated keys joined by ','), the strings sorted and concatenated with nothing between."""
    values: dict[str, list[str]] = {}
    for key, value in query:
        if key != "signature":
            values.setdefault(key, []).append(value)
    message = "".join(sorted(f"{key}={','.join(vals)}" for key, vals in values.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AppProxyRequest:
    shop: str
    # Shopify's id of the logged-in storefront customer; None for an anonymous visitor.
    customer_id: int | None


def verify_app_proxy(secret: str, query: Sequence[tuple[str, str]], *, now: float | None = None) -> AppProxyRequest:
    """Check a request Shopify forwarded through the app proxy; returns who is asking."""
    refuse_repeated_keys(query)
    given = next((v for k, v in query if k == "signature"), "")
    if not given or not hmac.compare_digest(app_proxy_signature(secret, query).encode(), given.encode()):
        raise InvalidSignature("app proxy signature does not match")
    params = dict(query)
    shop = _fresh_shop(params, now, APP_PROXY_MAX_AGE_SECONDS, "app proxy request is too old")
    customer = params.get("logged_in_customer_id") or ""
    if customer and not customer.isdigit():
        raise InvalidSignature("logged_in_customer_id is not an id")
    return AppProxyRequest(shop=shop, customer_id=int(customer) if customer else None)


def verify_oauth_query(
    secret: str, query: Mapping[str, str] | Sequence[tuple[str, str]], *, now: float | None = None
) -> str:
    """Check an install or callback redirect (give the query as pairs: repeated keys are refused); returns
    its shop domain."""
    if not isinstance(query, Mapping):
        refuse_repeated_keys(query)
    params = dict(query)
    given = params.get("hmac", "")
    if not given or not hmac.compare_digest(oauth_query_hmac(secret, params).encode(), given.encode()):
        raise InvalidSignature("hmac does not match")
    return _fresh_shop(params, now, OAUTH_MAX_AGE_SECONDS, "timestamp too old")


def _fresh_shop(params: Mapping[str, str], now: float | None, max_age: float, too_old: str) -> str:
    """The signed query's shop domain, once its shop and timestamp are checked (a stale link is a replay)."""
    shop = params.get("shop", "")
    if not valid_shop_domain(shop):
        raise InvalidSignature("shop is not a myshopify.com domain")
    try:
        stamp = int(params.get("timestamp", ""))
    except ValueError:
        raise InvalidSignature("timestamp missing") from None
    if abs((time.time() if now is None else now) - stamp) > max_age:
        raise InvalidSignature(too_old)
    return shop


@dataclass(frozen=True)
class SessionToken:
    shop: str
    user_id: str
    session_id: str
    raw: str


def verify_session_token(api_key: str, secret: str, token: str) -> SessionToken:
    """An App Bridge session token: HS256 with the app secret, aud = API key, iss host = dest host."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=api_key,
            leeway=SESSION_TOKEN_LEEWAY_SECONDS,
            options={"require": ["iss", "dest", "aud", "sub", "exp", "nbf", "jti", "sid"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidSignature(f"session token: {exc}") from None
    dest_host = urlsplit(str(claims["dest"])).hostname or ""
    iss_host = urlsplit(str(claims["iss"])).hostname or ""
    if not dest_host or dest_host != iss_host:
        raise InvalidSignature("session token: iss and dest hosts differ")
    if not valid_shop_domain(dest_host):
        raise InvalidSignature("session token: dest is not a myshopify.com domain")
    return SessionToken(shop=dest_host, user_id=str(claims["sub"]), session_id=str(claims["sid"]), raw=token)
