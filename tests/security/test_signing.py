"""Everything Shopify signs, checked without servers: each way a request can be refused, at the edges of
its freshness window, and what a verified one yields (also what `make mutation` runs against signing)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Any

import jwt
import pytest

from zora.shopify.signing import (
    APP_PROXY_MAX_AGE_SECONDS,
    OAUTH_MAX_AGE_SECONDS,
    InvalidSignature,
    app_proxy_signature,
    oauth_query_hmac,
    verify_app_proxy,
    verify_oauth_query,
    verify_session_token,
    verify_webhook,
    webhook_hmac,
)

SECRET = "shpss_test_secret_of_thirty_two_bytes"
API_KEY = "test-api-key"
SHOP = "a-shop.myshopify.com"
STAMP = 1_800_000_000


def _hex(message: str) -> str:
    return hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()


def proxy_query(*, signed: bool = True, **values: str) -> list[tuple[str, str]]:
    # A value "-" leaves the key out.
    merged = {"shop": SHOP, "path_prefix": "/apps/zora", "timestamp": str(STAMP), **values}
    query = [(k, v) for k, v in merged.items() if v != "-"]
    if signed:
        query.append(("signature", app_proxy_signature(SECRET, query)))
    return query


def test_app_proxy_signature_is_shopifys_documented_message() -> None:
    # Keys sorted, `key=value` with repeated values joined by ',', nothing between; `signature` left out.
    query = [("timestamp", "1"), ("extra", "2"), ("shop", SHOP), ("extra", "1"), ("signature", "ignored")]
    assert app_proxy_signature(SECRET, query) == _hex(f"extra=2,1shop={SHOP}timestamp=1")


def test_a_signed_app_proxy_request_says_who_asks() -> None:
    anonymous = verify_app_proxy(SECRET, proxy_query(logged_in_customer_id=""), now=STAMP)
    assert (anonymous.shop, anonymous.customer_id) == (SHOP, None)
    assert verify_app_proxy(SECRET, proxy_query(), now=STAMP).customer_id is None
    customer = verify_app_proxy(SECRET, proxy_query(logged_in_customer_id="42"), now=STAMP)
    assert (customer.shop, customer.customer_id) == (SHOP, 42)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (proxy_query(signed=False), "app proxy signature does not match"),
        ([*proxy_query(signed=False), ("signature", "")], "app proxy signature does not match"),
        ([*proxy_query(signed=False), ("signature", "0" * 64)], "app proxy signature does not match"),
        (proxy_query(shop="-", domain=SHOP), "shop is not a myshopify.com domain"),
        (proxy_query(shop="-", SHOP=SHOP), "shop is not a myshopify.com domain"),
        (proxy_query(timestamp="-"), "timestamp missing"),
        (proxy_query(timestamp="yesterday"), "timestamp missing"),
        (proxy_query(logged_in_customer_id="42; DROP"), "logged_in_customer_id is not an id"),
    ],
)
def test_app_proxy_requests_that_are_refused(query: list[tuple[str, str]], reason: str) -> None:
    with pytest.raises(InvalidSignature, match=f"^{re.escape(reason)}$"):
        verify_app_proxy(SECRET, query, now=STAMP)


def test_a_signature_made_with_the_signature_key_itself_is_refused() -> None:
    query = proxy_query(signed=False)
    forged = app_proxy_signature(SECRET, [*query, ("signature", "x")])
    # The checker must not take another key's value as the signature.
    with pytest.raises(InvalidSignature):
        verify_app_proxy(SECRET, [("signature", "x"), *query, ("zz", forged)], now=STAMP)


def test_an_app_proxy_request_is_fresh_for_an_hour_either_way() -> None:
    query = proxy_query()
    for now in (STAMP + APP_PROXY_MAX_AGE_SECONDS, STAMP - APP_PROXY_MAX_AGE_SECONDS):
        assert verify_app_proxy(SECRET, query, now=now).shop == SHOP
    for now in (STAMP + APP_PROXY_MAX_AGE_SECONDS + 1, STAMP - APP_PROXY_MAX_AGE_SECONDS - 1):
        with pytest.raises(InvalidSignature, match=r"^app proxy request is too old$"):
            verify_app_proxy(SECRET, query, now=now)
    # Without `now`, the clock decides.
    with pytest.raises(InvalidSignature, match="too old"):
        verify_app_proxy(SECRET, query)
    fresh = [(k, v) for k, v in query if k not in ("timestamp", "signature")] + [("timestamp", str(int(time.time())))]
    fresh.append(("signature", app_proxy_signature(SECRET, fresh)))
    assert verify_app_proxy(SECRET, fresh).shop == SHOP


def oauth_params(**values: str) -> dict[str, str]:
    params = {"shop": SHOP, "timestamp": str(STAMP), "code": "c0de", **values}
    params = {k: v for k, v in params.items() if v != "-"}
    params["hmac"] = oauth_query_hmac(SECRET, params)
    return params


def test_oauth_hmac_is_shopifys_documented_message() -> None:
    params = {"shop": SHOP, "timestamp": "1", "code": "c", "hmac": "x", "signature": "y"}
    assert oauth_query_hmac(SECRET, params) == _hex(f"code=c&shop={SHOP}&timestamp=1")


def test_a_signed_oauth_redirect_names_its_shop() -> None:
    params = oauth_params()
    assert verify_oauth_query(SECRET, params, now=STAMP) == SHOP
    assert verify_oauth_query(SECRET, list(params.items()), now=STAMP) == SHOP


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({k: v for k, v in oauth_params().items() if k != "hmac"}, "hmac does not match"),
        ({**oauth_params(), "hmac": ""}, "hmac does not match"),
        ({**oauth_params(), "code": "other"}, "hmac does not match"),
        (oauth_params(shop="evil.example.com"), "shop is not a myshopify.com domain"),
        (oauth_params(shop="-"), "shop is not a myshopify.com domain"),
        (oauth_params(timestamp="-"), "timestamp missing"),
        (oauth_params(timestamp="soon"), "timestamp missing"),
    ],
)
def test_oauth_redirects_that_are_refused(params: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidSignature, match=f"^{re.escape(reason)}$"):
        verify_oauth_query(SECRET, params, now=STAMP)


def test_an_oauth_redirect_is_fresh_for_a_day_either_way() -> None:
    params = oauth_params()
    for now in (STAMP + OAUTH_MAX_AGE_SECONDS, STAMP - OAUTH_MAX_AGE_SECONDS):
        assert verify_oauth_query(SECRET, params, now=now) == SHOP
    for now in (STAMP + OAUTH_MAX_AGE_SECONDS + 1, STAMP - OAUTH_MAX_AGE_SECONDS - 1):
        with pytest.raises(InvalidSignature, match=r"^timestamp too old$"):
            verify_oauth_query(SECRET, params, now=now)
    with pytest.raises(InvalidSignature, match="too old"):
        verify_oauth_query(SECRET, params)
    assert verify_oauth_query(SECRET, oauth_params(timestamp=str(int(time.time())))) == SHOP


def session_token(**changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": f"https://{SHOP}/admin",
        "dest": f"https://{SHOP}",
        "aud": API_KEY,
        "sub": "7",
        "exp": now + 60,
        "nbf": now,
        "jti": "j",
        "sid": "session-1",
        **changes,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, algorithm="HS256")


def test_a_session_token_yields_shop_user_and_session() -> None:
    token = session_token()
    verified = verify_session_token(API_KEY, SECRET, token)
    assert (verified.shop, verified.user_id, verified.session_id, verified.raw) == (SHOP, "7", "session-1", token)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://other.myshopify.com/admin"}, "session token: iss and dest hosts differ"),
        ({"iss": "not a url", "dest": "also not"}, "session token: iss and dest hosts differ"),
        (
            {"iss": "https://example.com/admin", "dest": "https://example.com"},
            "session token: dest is not a myshopify.com domain",
        ),
        ({"sub": None}, "session token: "),
    ],
)
def test_session_tokens_that_are_refused(changes: dict[str, Any], reason: str) -> None:
    exact = f"^{re.escape(reason)}$" if reason.endswith(("differ", "domain")) else re.escape(reason)
    with pytest.raises(InvalidSignature, match=exact):
        verify_session_token(API_KEY, SECRET, session_token(**changes))


def test_webhooks_are_signed_over_the_raw_body() -> None:
    body = b'{"id": 1}'
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert webhook_hmac(SECRET, body) == expected
    assert verify_webhook(SECRET, body, expected)
    assert verify_webhook(SECRET, body, f" {expected}\n")
    assert not verify_webhook(SECRET, body + b" ", expected)
    assert not verify_webhook(SECRET, body, expected.lower())
    assert not verify_webhook(SECRET, body, "")
    assert not verify_webhook(SECRET, body, None)
