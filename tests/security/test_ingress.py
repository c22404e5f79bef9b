"""Issue 10 item 6: what reaches Zora from Shopify (webhooks, app proxy, OAuth) and what Zora sends out.

A leaked webhook body replayed under another shop's header, a Shopify-signed query with a key added
twice, a body larger than the limit, a Host header chosen by the client, and a peer that never answers.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import pytest

from tests.helpers import serving
from tests.shopify.harness import API_SECRET, ShopifyZora, webhook_headers
from webhooks.dispatch import start_webhook_workflow
from zora.errors import ConfigError
from zora.http import OUTBOUND_TIMEOUT, SLACK_TIMEOUT_SECONDS, client_session
from zora.settings import Settings
from zora.shopify import install
from zora.shopify.models import WebhookRef
from zora.shopify.samples import sample_payload
from zora.shopify.signing import (
    RepeatedParameter,
    app_proxy_signature,
    oauth_query_hmac,
    verify_app_proxy,
    verify_oauth_query,
)
from zora.slack_api import SlackGateway

PROJECT = Path(__file__).resolve().parents[2]
PUBLIC_URL = "https://zora.example"


@pytest.fixture(scope="module")
def zora_options() -> dict[str, Any]:
    # As deployed behind a TLS-terminating proxy: browsers see https://zora.example, Zora sees plain HTTP.
    return {"public_url": PUBLIC_URL}


@pytest.fixture(scope="module")
async def sz(sz: ShopifyZora) -> ShopifyZora:
    await sz.install()
    return sz


def _other_shop() -> str:
    return f"other-{uuid.uuid4().hex[:8]}.myshopify.com"


async def _shop_row(sz: ShopifyZora) -> Any:
    return await sz.fetchrow("SELECT access_token, uninstalled_at FROM shops WHERE domain = $1", sz.shop)


# Destructive (and exporting) topics: the (signed) body must name the (unsigned) header's shop.

_SHOP_FIELD = {
    "app/uninstalled": "myshopify_domain",
    "shop/redact": "shop_domain",
    "customers/redact": "shop_domain",
    # Not destructive, but it exports a shop's customer data and announces it in that shop's Slack.
    "customers/data_request": "shop_domain",
}


@pytest.mark.parametrize("topic", sorted(_SHOP_FIELD))
@pytest.mark.parametrize("variant", ["another shop", "no shop"])
async def test_destructive_topic_whose_body_is_not_about_the_header_shop_is_refused(
    sz: ShopifyZora, topic: str, variant: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A body Shopify signed for another shop (or one naming none), replayed with our shop in the header.
    payload = sample_payload(topic, _other_shop())
    if variant == "no shop":
        del payload[_SHOP_FIELD[topic]]
    caplog.set_level(logging.WARNING, logger="webhooks.shopify")
    status, answer, webhook_id = await sz.send(topic, payload)
    assert status == 400 and answer["status"] == "shop_mismatch", answer
    assert await sz.fetchrow("SELECT 1 FROM shopify_webhooks WHERE id = $1", webhook_id) is None
    row = await _shop_row(sz)
    assert row["access_token"] is not None and row["uninstalled_at"] is None
    assert "shopify webhook refused" in caplog.text


async def test_a_stored_destructive_delivery_about_another_shop_fails_in_its_workflow(sz: ShopifyZora) -> None:
    # A row stored before the route checked (or by any other path): the handler checks again.
    webhook_id = await sz.store_delivery("app/uninstalled", sample_payload("app/uninstalled", _other_shop()))
    services = sz.zora.services
    ref = WebhookRef(webhook_id=webhook_id, shop=sz.shop, topic="app/uninstalled")
    assert await start_webhook_workflow(services.temporal, services.settings.temporal_task_queue, ref) == "accepted"
    outcome = await sz.outcome(webhook_id)
    assert outcome.status == "failed" and "is about" in (outcome.detail or "")
    assert (await _shop_row(sz))["access_token"] is not None


# Repeated Shopify-set keys.


def _proxy_query(shop: str, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    query = [
        ("shop", shop),
        ("logged_in_customer_id", "42"),
        ("path_prefix", "/apps/zora"),
        ("timestamp", str(int(time.time()))),
        *extra,
    ]
    # Signed as Shopify's algorithm signs any query, repeated keys included (values joined by ',').
    return [*query, ("signature", app_proxy_signature(API_SECRET, query))]


@pytest.mark.parametrize(
    "extra", [[("shop", "victim.myshopify.com")], [("logged_in_customer_id", "7")], [("timestamp", "1")]]
)
async def test_app_proxy_query_with_a_repeated_shopify_key_is_400(
    sz: ShopifyZora, extra: list[tuple[str, str]]
) -> None:
    query = _proxy_query(sz.shop, extra)
    async with sz.zora.http.post(f"{sz.zora.base_url}/proxy/session?{urlencode(query)}", json={}) as resp:
        assert resp.status == 400, await resp.text()
        assert "more than once" in (await resp.json())["error"]["message"]


def test_repeated_keys_are_refused_before_any_signature_is_computed() -> None:
    # The signature here is garbage: the refusal names the repeated key, not the signature.
    query = [("shop", "a.myshopify.com"), ("shop", "b.myshopify.com"), ("timestamp", "1"), ("signature", "00")]
    with pytest.raises(RepeatedParameter, match="'shop'"):
        verify_app_proxy("secret", query)
    with pytest.raises(RepeatedParameter, match="'hmac'"):
        verify_oauth_query("secret", [("shop", "a.myshopify.com"), ("hmac", "1"), ("hmac", "2")])
    # Keys Shopify does not set may repeat (a storefront's own query parameters).
    with pytest.raises(Exception, match="signature does not match"):
        verify_app_proxy("secret", [("shop", "a.myshopify.com"), ("tag", "x"), ("tag", "y"), ("signature", "0")])


async def test_oauth_install_with_a_repeated_shop_is_400(sz: ShopifyZora) -> None:
    params = {"shop": _other_shop(), "timestamp": str(int(time.time()))}
    params["hmac"] = oauth_query_hmac(API_SECRET, params)
    query = urlencode([*params.items(), ("shop", "victim.myshopify.com")])
    async with sz.zora.http.get(f"{sz.zora.base_url}/shopify/install?{query}", allow_redirects=False) as resp:
        assert resp.status == 400, resp.headers.get("Location")
        assert "more than once" in (await resp.json())["error"]


async def test_oauth_callback_with_a_repeated_code_is_400(sz: ShopifyZora) -> None:
    params = {"code": "a", "shop": _other_shop(), "state": "s", "timestamp": str(int(time.time()))}
    params["hmac"] = oauth_query_hmac(API_SECRET, params)
    query = urlencode([*params.items(), ("code", "b")])
    async with sz.zora.http.get(f"{sz.zora.base_url}/shopify/callback?{query}", allow_redirects=False) as resp:
        assert resp.status == 400
        assert "more than once" in (await resp.json())["error"]


# The webhook body limit.


def _big_order(shop: str, min_bytes: int) -> dict[str, Any]:
    order = sample_payload("orders/create", shop)
    template = order["line_items"][0]
    items = []
    i = 0
    while len(json.dumps(items)) < min_bytes:
        i += 1
        items.append(template | {"id": i, "title": f"Line item {i} " + "x" * 200, "quantity": 1})
    order["line_items"] = items
    return order


async def _post_large(sz: ShopifyZora, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    # A stream, not bytes: aiohttp warns (an error here) about large raw bodies blocking the loop.
    async with sz.zora.http.post(sz.url, data=io.BytesIO(body), headers=headers) as resp:
        answer: dict[str, Any] = await resp.json(content_type=None)
        return resp.status, answer


def _signed_headers(sz: ShopifyZora, topic: str, body: bytes) -> dict[str, str]:
    return webhook_headers(sz.shop, topic, body)


async def test_a_large_order_over_aiohttps_default_limit_is_accepted(sz: ShopifyZora) -> None:
    # Hundreds of line items: well over aiohttp's 1 MiB request default.
    order = _big_order(sz.shop, 2 * 1024 * 1024)
    assert len(order["line_items"]) > 500
    body = json.dumps(order).encode()
    headers = _signed_headers(sz, "orders/create", body)
    status, answer = await _post_large(sz, body, headers)
    assert status == 200 and answer["status"] == "accepted", answer
    outcome = await sz.outcome(headers["X-Shopify-Webhook-Id"])
    assert outcome.status == "processed"
    stored = await sz.fetchrow("SELECT 1 FROM shopify_orders WHERE shopify_order_id = $1", int(order["id"]))
    assert stored is not None


async def test_a_body_over_the_limit_is_413_logged_with_shop_and_topic_and_not_stored(
    sz: ShopifyZora, caplog: pytest.LogCaptureFixture
) -> None:
    limit = sz.zora.settings.shopify_webhook_max_bytes
    body = b'{"pad": "' + b"x" * limit + b'"}'
    headers = _signed_headers(sz, "orders/updated", body)
    webhook_id = headers["X-Shopify-Webhook-Id"]
    caplog.set_level(logging.ERROR, logger="webhooks.shopify")
    status, answer = await _post_large(sz, body, headers)
    assert status == 413 and answer["status"] == "too_large"
    line = next(r.getMessage() for r in caplog.records if "SHOPIFY_WEBHOOK_MAX_BYTES" in r.getMessage())
    assert sz.shop in line and "orders/updated" in line
    assert await sz.fetchrow("SELECT 1 FROM shopify_webhooks WHERE id = $1", webhook_id) is None


def test_the_default_body_limit_fits_large_orders() -> None:
    assert Settings(_env_file=None).shopify_webhook_max_bytes >= 5 * 1024 * 1024  # type: ignore[call-arg]


# OAuth behind a TLS proxy, and redirect_uri.


async def test_oauth_state_cookie_is_secure_and_redirect_uri_ignores_the_host_header(sz: ShopifyZora) -> None:
    shop = _other_shop()
    async with sz.zora.http.get(
        f"{sz.zora.base_url}/shopify/install?shop={shop}",
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
        allow_redirects=False,
    ) as resp:
        assert resp.status == 302
        query = dict(parse_qsl(urlsplit(resp.headers["Location"]).query))
        cookie = resp.headers["Set-Cookie"]
    assert query["redirect_uri"] == f"{PUBLIC_URL}/shopify/callback"
    # The request reached Zora as plain HTTP; PUBLIC_URL says the browser is on HTTPS.
    assert install.STATE_COOKIE in cookie and "Secure" in cookie and "HttpOnly" in cookie


def test_without_public_url_there_is_no_redirect_uri() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        install.redirect_uri(settings)


# Outbound timeouts.

_APP_CODE = ("zora", "bot", "widget", "webhooks", "activities", "workflows")


def _calls(name: str) -> list[str]:
    """Every call of `name` (a function or attribute) in the application code, as file:line."""
    found = []
    for folder in _APP_CODE:
        for path in (PROJECT / folder).rglob("*.py"):
            rel = path.relative_to(PROJECT)
            # The stand-ins are local fakes of Slack and Shopify (dev and tests), not Zora's outbound calls.
            if rel.parts[:2] == ("zora", "standins"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call):
                    func = node.func
                    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                    if called == name:
                        found.append(f"{rel}:{node.lineno}")
    return found


def test_every_outbound_http_session_is_made_with_the_shared_timeouts() -> None:
    assert _calls("ClientSession") == ["zora/http.py:" + _calls("ClientSession")[0].split(":")[1]]
    # Every Slack client is made in one place, the gateway (zora/metrics.py's MeteredWebClient is an AsyncWebClient).
    slack_clients = _calls("AsyncWebClient") + _calls("MeteredWebClient")
    assert [site.split(":")[0] for site in slack_clients] == ["zora/slack_api.py"]
    assert OUTBOUND_TIMEOUT.total is not None and OUTBOUND_TIMEOUT.sock_connect is not None
    assert OUTBOUND_TIMEOUT.sock_read is not None


async def test_outbound_clients_carry_the_timeouts() -> None:
    async with client_session() as http:
        assert http.timeout == OUTBOUND_TIMEOUT
    assert SlackGateway.from_settings(Settings(_env_file=None)).client.timeout == SLACK_TIMEOUT_SECONDS  # type: ignore[call-arg]


async def test_a_stalled_peer_ends_in_a_timeout_not_a_hang() -> None:
    from aiohttp import web

    never = __import__("asyncio").Event()

    async def stall(request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    app = web.Application()
    app.router.add_get("/", stall)
    async with serving(app) as url:
        try:
            # The shared timeouts, scaled down so the test does not wait 30 s: the same fields end the call.
            quick = aiohttp.ClientTimeout(total=None, sock_read=0.3)
            async with client_session(timeout=quick) as http:
                with pytest.raises(TimeoutError):
                    async with http.get(f"{url}/"):
                        pass
        finally:
            never.set()
