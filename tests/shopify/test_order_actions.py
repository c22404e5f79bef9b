"""The order mutations of approved drafted actions (zora/shopify/order_actions.py) against the stand-in,
and the stand-in's answers in the shapes Shopify documents for `orderCancel` (a `job`, and
`orderCancelUserErrors` with codes), `orderUpdate` (`order`, `userErrors`) and `tagsAdd`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from zora.shopify import order_actions
from zora.shopify.admin import AdminClient, ShopifyQueryError
from zora.shopify.records import gid
from zora.standins.shopify import ShopifyStandIn

SHOP = "orders-test.myshopify.com"


@pytest.fixture
async def standin() -> AsyncIterator[ShopifyStandIn]:
    st = ShopifyStandIn(api_key="k", api_secret="s")
    await st.start()
    try:
        yield st
    finally:
        await st.stop()


@pytest.fixture
async def client(standin: ShopifyStandIn) -> AsyncIterator[AdminClient]:
    async with aiohttp.ClientSession() as http:
        yield AdminClient(
            http, shop=SHOP, token=standin.issue_token(SHOP), api_version="2026-04", base_url=standin.base_url
        )


def _order(standin: ShopifyStandIn) -> tuple[int, dict[str, Any]]:
    customer = standin.add_customer(SHOP, "Maya", "L", "maya@example.com")
    product = standin.add_product(SHOP, "Shirt", "40.00")
    order = standin.add_order(SHOP, int(customer["id"].rsplit("/", 1)[1]), [(int(product["id"].rsplit("/", 1)[1]), 1)])
    return int(order["id"].rsplit("/", 1)[1]), order


def _sent(standin: ShopifyStandIn) -> list[str]:
    return [name for _, names, _ in standin.requests for name in names]


async def test_cancel_once_then_only_reads(standin: ShopifyStandIn, client: AdminClient) -> None:
    oid, order = _order(standin)
    await order_actions.cancel(client, oid, "approved in Slack")
    assert order["cancelledAt"] and order["cancelReason"] == "CUSTOMER"
    assert order["displayFinancialStatus"] == "REFUNDED"
    ((_, _, args),) = standin.order_mutations
    assert args["refundMethod"] == {"originalPaymentMethodsRefund": True} and args["restock"] is True
    # Run again (a retried activity): the order is read, found cancelled, and not cancelled again.
    await order_actions.cancel(client, oid, "approved in Slack")
    assert _sent(standin) == ["order", "orderCancel", "order"]


async def test_cancel_answers_as_shopify_documents(standin: ShopifyStandIn, client: AdminClient) -> None:
    oid, _ = _order(standin)
    variables = {"orderId": gid("Order", oid), "reason": "CUSTOMER", "restock": True}
    first = await client.execute(order_actions.ORDER_CANCEL, variables)
    assert first["orderCancel"]["orderCancelUserErrors"] == []
    assert first["orderCancel"]["job"]["id"].startswith("gid://shopify/Job/")
    again = await client.execute(order_actions.ORDER_CANCEL, variables)
    assert [e["code"] for e in again["orderCancel"]["orderCancelUserErrors"]] == ["INVALID"]
    missing = await client.execute(order_actions.ORDER_CANCEL, {**variables, "orderId": gid("Order", 1)})
    assert [e["code"] for e in missing["orderCancel"]["orderCancelUserErrors"]] == ["NOT_FOUND"]
    with pytest.raises(ShopifyQueryError):
        await order_actions.cancel(client, 1, "no such order")


async def test_address_change_and_refund_tag(standin: ShopifyStandIn, client: AdminClient) -> None:
    oid, order = _order(standin)
    address = {"address1": "Rua Augusta 1", "city": "Lisboa", "zip": "1100-048", "countryCode": "PT"}
    await order_actions.change_address(client, oid, address)
    assert order["shippingAddress"]["address1"] == "Rua Augusta 1" and order["shippingAddress"]["countryCodeV2"] == "PT"
    with pytest.raises(ShopifyQueryError, match="shippingAddress"):
        await order_actions.change_address(client, oid, {**address, "planet": "Mars"})
    await order_actions.tag_refund_request(client, oid)
    await order_actions.tag_refund_request(client, oid)
    assert order["tags"] == [order_actions.REFUND_TAG]
