"""OAuth install through the real routes, token exchange for the embedded app, signatures, and the CLI."""

from __future__ import annotations

import io
import logging
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import jwt
import pytest

from tests.shopify.harness import API_KEY, API_SECRET, ShopifyZora
from zora.security import unseal
from zora.shopify.cli import run_sync, trigger
from zora.shopify.models import reconcile_schedule_id
from zora.shopify.samples import sample_payload
from zora.shopify.signing import InvalidSignature, oauth_query_hmac, verify_oauth_query, verify_session_token


@pytest.fixture(scope="module")
def sz(sz: ShopifyZora) -> ShopifyZora:
    # redirect_uri comes from PUBLIC_URL only; here that is the test server, known once it listens.
    sz.zora.settings.public_url = sz.zora.base_url
    return sz


def _domain() -> str:
    return f"i-{uuid.uuid4().hex[:10]}.myshopify.com"


async def _get(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientResponse:
    async with http.get(url, allow_redirects=False) as resp:
        await resp.read()
        return resp


async def test_oauth_install_end_to_end(sz: ShopifyZora, caplog: pytest.LogCaptureFixture) -> None:
    shop = _domain()
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        start = await _get(browser, f"{sz.zora.base_url}/shopify/install?shop={shop}")
        assert start.status == 302
        grant_url = start.headers["Location"]
        query = dict(parse_qsl(urlsplit(grant_url).query))
        assert grant_url.startswith(sz.shopify.base_url.format(shop=shop) + "/admin/oauth/authorize")
        assert query["client_id"] == API_KEY and query["scope"] == sz.zora.settings.shopify_scopes
        assert query["redirect_uri"].endswith("/shopify/callback") and query["state"]
        # Shopify's grant screen (auto-approved) redirects back with a signed query.
        granted = await _get(browser, grant_url)
        callback = granted.headers["Location"]
        done = await _get(browser, callback)
        assert (
            done.status == 302
            and done.headers["Location"] == f"{sz.shopify.base_url.format(shop=shop)}/admin/apps/{API_KEY}"
        )
        # The same callback again: the state was single-use.
        replay = await _get(browser, callback)
        assert replay.status == 400
    row = await sz.fetchrow("SELECT access_token, scopes, installed_at FROM shops WHERE domain = $1", shop)
    # The token is stored sealed: the database alone does not hold a usable token.
    assert row["access_token"].startswith("zora1:") and "shpat_" not in row["access_token"]
    assert unseal(sz.zora.settings.sealing_keys(), row["access_token"]).startswith("shpat_")
    assert "shpat_" not in caplog.text
    assert row["installed_at"] is not None
    assert "read_orders" in row["scopes"]
    await sz.zora.services.temporal.get_schedule_handle(reconcile_schedule_id(shop)).describe()
    # Access tokens never reach the logs.
    assert row["access_token"] not in caplog.text


async def test_callback_with_a_forged_hmac_or_foreign_state_is_refused(sz: ShopifyZora) -> None:
    shop = _domain()
    params = {"code": "abc", "shop": shop, "state": "made-up", "timestamp": str(int(time.time()))}
    params["hmac"] = oauth_query_hmac(API_SECRET, params)
    async with aiohttp.ClientSession() as http:
        resp = await _get(http, f"{sz.zora.base_url}/shopify/callback?{urlencode(params)}")
        assert resp.status == 400  # signed, but the state is not ours
        params["hmac"] = "0" * 64
        resp = await _get(http, f"{sz.zora.base_url}/shopify/callback?{urlencode(params)}")
        assert resp.status == 400
        resp = await _get(http, f"{sz.zora.base_url}/shopify/install?shop=evil.example.com")
        assert resp.status == 400
    assert await sz.fetchrow("SELECT 1 FROM shops WHERE domain = $1", shop) is None


async def test_token_exchange_installs_the_embedded_app(sz: ShopifyZora) -> None:
    shop = _domain()
    token = sz.shopify.session_token(shop)
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{sz.zora.base_url}/shopify/session", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 200
            assert await resp.json() == {"shop": shop, "installed": True, "newly_installed": True}
        async with http.post(
            f"{sz.zora.base_url}/shopify/session", headers={"Authorization": f"Bearer {sz.shopify.session_token(shop)}"}
        ) as resp:
            assert (await resp.json())["newly_installed"] is False
        async with http.post(f"{sz.zora.base_url}/shopify/session", headers={"Authorization": "Bearer nope"}) as resp:
            assert resp.status == 401
    assert (await sz.fetchrow("SELECT access_token FROM shops WHERE domain = $1", shop))["access_token"]


async def test_uninstall_then_reinstall(sz: ShopifyZora) -> None:
    shop = _domain()
    await sz.install(shop)
    await sz.deliver("app/uninstalled", sample_payload("app/uninstalled", shop), shop=shop)
    assert (await sz.fetchrow("SELECT access_token FROM shops WHERE domain = $1", shop))["access_token"] is None
    await sz.install(shop)
    row = await sz.fetchrow("SELECT access_token, uninstalled_at FROM shops WHERE domain = $1", shop)
    assert row["access_token"] and row["uninstalled_at"] is None
    await sz.zora.services.temporal.get_schedule_handle(reconcile_schedule_id(shop)).describe()


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "https://a.myshopify.com/admin",
        "dest": "https://a.myshopify.com",
        "aud": API_KEY,
        "sub": "1",
        "exp": now + 60,
        "nbf": now,
        "jti": "j",
        "sid": "s",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    "changes",
    [
        {"dest": "https://b.myshopify.com"},
        {"aud": "someone-else"},
        {"exp": int(time.time()) - 30},
        {"sid": None},
        {"dest": "https://example.com", "iss": "https://example.com/admin"},
    ],
)
def test_session_tokens_that_are_refused(changes: dict[str, Any]) -> None:
    token = jwt.encode(_claims(**changes), API_SECRET, algorithm="HS256")
    with pytest.raises(InvalidSignature):
        verify_session_token(API_KEY, API_SECRET, token)


def test_session_token_allows_a_little_clock_skew() -> None:
    token = jwt.encode(_claims(nbf=int(time.time()) + 5), API_SECRET, algorithm="HS256")
    assert verify_session_token(API_KEY, API_SECRET, token).shop == "a.myshopify.com"


def test_oauth_query_must_be_fresh() -> None:
    params = {"shop": "a.myshopify.com", "timestamp": str(int(time.time()) - 2 * 86400)}
    params["hmac"] = oauth_query_hmac(API_SECRET, params)
    with pytest.raises(InvalidSignature, match="too old"):
        verify_oauth_query(API_SECRET, params)


async def test_cli_trigger_sends_a_signed_delivery(sz: ShopifyZora) -> None:
    out = io.StringIO()
    code = await trigger(sz.zora.settings, "customers/update", sz.shop, f"{sz.zora.base_url}/webhooks/shopify", out)
    assert code == 0 and '"accepted"' in out.getvalue()
    webhook_id = (
        await sz.fetchrow(
            "SELECT id FROM shopify_webhooks WHERE id LIKE 'zora-trigger-%' ORDER BY received_at DESC LIMIT 1"
        )
    )["id"]
    assert (await sz.outcome(webhook_id)).status == "processed"


async def test_cli_sync_imports_with_progress_and_summary(sz: ShopifyZora) -> None:
    shop = _domain()
    product = sz.shopify.add_product(shop, "Mug", "10.00")
    for i in range(3):
        sz.shopify.add_customer(shop, f"P{i}", "Q", f"p{i}@example.com")
    del product
    await sz.install(shop)
    out = io.StringIO()
    assert await run_sync(sz.zora.settings, shop, out) == 0
    text = out.getvalue()
    assert f"{shop} customers [" in text and "100% 3/3" in text
    assert f"{shop}: imported 1 products, 3 customers, 0 orders" in text
