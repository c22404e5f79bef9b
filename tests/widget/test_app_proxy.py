"""Storefront identity through Shopify's app proxy: Shopify signs the forwarded request and names the
logged-in customer; Zora binds the shopper's token to that customer, and to nobody else."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from tests.conftest import fixtures_dir
from tests.shopify.harness import API_SECRET, ShopifyZora
from zora.shopify.signing import InvalidSignature, app_proxy_signature, verify_app_proxy


def test_documented_app_proxy_signatures_verify() -> None:
    doc = json.loads((fixtures_dir("shopify") / "app-proxy-request.json").read_text())
    secret = doc["setup"]["shared_secret"]
    forwarded = doc["forwarded_request"]["path_and_query"].replace("{shop}", "shop-name")
    anonymous = doc["forwarded_query_anonymous_customer"].replace("{shop}", "shop-name")
    for query_string, customer in ((urlsplit(forwarded).query, 1), (anonymous, None)):
        query = parse_qsl(query_string, keep_blank_values=True)
        signature = dict(query)["signature"]
        assert app_proxy_signature(secret, query) == signature
        stamp = int(dict(query)["timestamp"])
        assert verify_app_proxy(secret, query, now=stamp + 5).customer_id == customer
        with pytest.raises(InvalidSignature):
            verify_app_proxy("not-the-secret", query, now=stamp + 5)
        with pytest.raises(InvalidSignature, match="too old"):
            verify_app_proxy(secret, query, now=stamp + 7200)


def _signed(shop: str, customer: int | None, *, secret: str = API_SECRET, age: int = 0) -> str:
    query = [
        ("shop", shop),
        ("logged_in_customer_id", "" if customer is None else str(customer)),
        ("path_prefix", "/apps/zora"),
        ("timestamp", str(int(time.time()) - age)),
    ]
    return urlencode([*query, ("signature", app_proxy_signature(secret, query))])


async def _session(sz: ShopifyZora, query: str, token: str | None = None) -> tuple[int, dict[str, Any]]:
    url = f"{sz.zora.base_url}/proxy/session?{query}"
    async with sz.zora.http.post(url, json={"token": token} if token else {}) as resp:
        return resp.status, await resp.json()


async def _bound_customer(sz: ShopifyZora, shopper_id: str) -> Any:
    rows = await sz.zora.fetch(
        "SELECT cu.shopify_customer_id FROM shoppers s LEFT JOIN customers cu ON cu.id = s.customer_id"
        " WHERE s.id = $1::uuid",
        shopper_id,
    )
    return rows[0]["shopify_customer_id"] if rows else None


async def test_logged_in_customer_gets_a_bound_token_and_a_verified_card(sz: ShopifyZora) -> None:
    status, body = await _session(sz, _signed(sz.shop, 7001))
    assert status == 200 and body["verified"] is True
    assert await _bound_customer(sz, body["shopper_id"]) == 7001
    shopper = await sz.zora.shopper(body["token"])
    before = len(sz.zora.standin.posted)
    assert (await shopper.send("hi, it's me"))["ok"]
    card = (await sz.zora.standin.wait_for_posts(before + 2))[before]
    assert "verified Shopify customer" in json.dumps(card["blocks"])


async def test_signing_in_mid_conversation_keeps_it_and_someone_else_never_gets_it(sz: ShopifyZora) -> None:
    status, anonymous = await _session(sz, _signed(sz.shop, None))
    assert status == 200 and anonymous["verified"] is False
    # The same visitor signs in: same conversation, now bound to the customer.
    status, signed_in = await _session(sz, _signed(sz.shop, 7002), anonymous["token"])
    assert signed_in["conversation_id"] == anonymous["conversation_id"]
    assert await _bound_customer(sz, signed_in["shopper_id"]) == 7002
    # Another customer on that browser, or the same browser signed out: a fresh conversation.
    _, other = await _session(sz, _signed(sz.shop, 7003), signed_in["token"])
    _, signed_out = await _session(sz, _signed(sz.shop, None), signed_in["token"])
    assert other["conversation_id"] != signed_in["conversation_id"]
    assert signed_out["conversation_id"] != signed_in["conversation_id"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("shop=x.myshopify.com&timestamp=1", "invalid_signature"),
        ("", "invalid_signature"),
    ],
)
async def test_unsigned_requests_are_refused(sz: ShopifyZora, query: str, code: str) -> None:
    status, body = await _session(sz, query)
    assert status == 401 and body["error"]["code"] == code


async def test_forged_stale_or_foreign_requests_are_refused(sz: ShopifyZora) -> None:
    assert (await _session(sz, _signed(sz.shop, 7001, secret="shpss_wrong")))[0] == 401
    assert (await _session(sz, _signed(sz.shop, 7001, age=7200)))[0] == 401
    status, body = await _session(sz, _signed("not-installed.myshopify.com", 7001))
    assert status == 404 and body["error"]["code"] == "unknown_shop"
