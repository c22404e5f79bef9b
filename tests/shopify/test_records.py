"""Shopify's two shapes of a record (webhook REST bodies, Admin GraphQL nodes) read into one, field by
field, without servers (also what `make mutation` runs against zora/shopify/records.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from zora.shopify import records as r

T1 = datetime(2026, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
T2 = datetime(2026, 5, 2, 11, 0, tzinfo=UTC)
T0 = datetime(2026, 4, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), (123, 123), ("gid://shopify/Customer/123", 123), ("456", 456), ("gid://shopify/Customer/x", None)],
)
def test_gid_to_id(value: object, expected: int | None) -> None:
    assert r.gid_to_id(value) == expected
    assert r.gid("Order", 9) == "gid://shopify/Order/9"


def test_parse_time() -> None:
    assert r.parse_time("2026-05-01T10:00:00.123456789Z") == T1
    assert r.parse_time("2026-05-01T12:00:00.123456+02:00") == T1
    assert r.parse_time("2026-05-01T10:00:00") is None  # no zone: not a moment
    assert r.parse_time("soon") is None and r.parse_time("") is None and r.parse_time(None) is None


def test_money_of_something_that_is_not_a_record_is_zero() -> None:
    assert r._shop_money(None, "total_price") == (Decimal(0), None)


def test_money_and_tags() -> None:
    assert r.money("12.30") == Decimal("12.30") and r.money(5) == Decimal(5)
    assert r.money(None) == 0 and r.money("") == 0 and r.money("abc") == 0
    assert r.split_tags("vip, wholesale,, vip ") == ["vip", "wholesale"]
    assert r.split_tags([" a", "b", "a", ""]) == ["a", "b"] and r.split_tags(None) == []


def test_names() -> None:
    assert r.CustomerRecord(1, first_name="Ana", last_name="Lima").name == "Ana Lima"
    assert r.CustomerRecord(1, last_name="Lima").name == "Lima"
    assert r.CustomerRecord(1).name is None
    assert r.OrderRecord(1, "#1").customer_id is None
    assert r.OrderRecord(1, "#1", customer=r.CustomerRecord(5)).customer_id == 5


REST_CUSTOMER = {
    "id": 11,
    "email": "ana@example.com",
    "first_name": "Ana",
    "last_name": "Lima",
    "phone": None,
    "tags": "vip, tea",
    "note": "likes green tea",
    "state": "enabled",
    "currency": "EUR",
    "default_address": {"city": "Porto", "country_code": "PT", "phone": "+351 1"},
    "created_at": "2026-05-01T10:00:00.123456Z",
    "updated_at": "2026-05-02T11:00:00Z",
}
CUSTOMER = r.CustomerRecord(
    shopify_id=11,
    email="ana@example.com",
    first_name="Ana",
    last_name="Lima",
    phone="+351 1",
    tags=["vip", "tea"],
    note="likes green tea",
    state="enabled",
    currency="EUR",
    city="Porto",
    country="PT",
    created_at=T1,
    updated_at=T2,
)


def test_customer_from_rest() -> None:
    assert r.customer_from_rest(REST_CUSTOMER) == CUSTOMER
    assert r.customer_from_rest({**REST_CUSTOMER, "phone": "+1 2"}).phone == "+1 2"
    bare = r.customer_from_rest({"id": "12", "default_address": {"country": "Portugal"}})
    assert (bare.shopify_id, bare.country, bare.city, bare.tags) == (12, "Portugal", None, [])
    assert r.customer_from_rest({"id": 13, "default_address": None}).country is None
    assert r.customer_from_rest({"id": 14, "default_address": {"countryCodeV2": "PT"}}).country == "PT"


def test_customer_from_graphql() -> None:
    node = {
        "id": "gid://shopify/Customer/11",
        "defaultEmailAddress": {"emailAddress": "ana@example.com"},
        "firstName": "Ana",
        "lastName": "Lima",
        "defaultPhoneNumber": None,
        "tags": ["vip", "tea"],
        "note": "likes green tea",
        "state": "ENABLED",
        "amountSpent": {"currencyCode": "EUR"},
        "defaultAddress": {"city": "Porto", "countryCodeV2": "PT", "phone": "+351 1"},
        "createdAt": "2026-05-01T10:00:00.123456Z",
        "updatedAt": "2026-05-02T11:00:00Z",
    }
    assert r.customer_from_graphql(node) == CUSTOMER
    direct = r.customer_from_graphql(
        {**node, "email": "b@example.com", "phone": "+1 2", "defaultAddress": {"country": "Portugal"}}
    )
    assert (direct.email, direct.phone, direct.country) == ("b@example.com", "+1 2", "Portugal")
    numbered = r.customer_from_graphql({**node, "defaultPhoneNumber": {"phoneNumber": "+1 3"}})
    assert numbered.phone == "+1 3"
    assert r.customer_from_graphql({"id": "x"}).shopify_id == 0


REST_ORDER = {
    "id": 500,
    "name": "#R7",
    "order_number": 1001,
    "email": "ana@example.com",
    "phone": "+351 1",
    "customer": {"id": 11},
    "financial_status": "PAID",
    "fulfillment_status": "partial",
    "currency": "USD",
    "total_price_set": {"shop_money": {"amount": "30.00", "currency_code": "EUR"}},
    "current_total_price_set": {"shop_money": {"amount": "20.00", "currency_code": "EUR"}},
    "current_total_price": "20.00",
    "cancelled_at": "2026-05-02T11:00:00Z",
    "cancel_reason": "customer",
    "closed_at": "2026-05-02T11:00:00Z",
    "processed_at": "2026-05-01T10:00:00.123456Z",
    "created_at": "2026-04-30T00:00:00Z",
    "updated_at": "2026-05-02T11:00:00Z",
    "test": True,
    "tags": "gift",
    "line_items": [
        {
            "title": "Tea",
            "quantity": 2,
            "price_set": {"shop_money": {"amount": "10.00", "currency_code": "EUR"}},
            "sku": "T-1",
            "product_id": 77,
        },
        {"name": "Cup", "quantity": None, "price": "5", "sku": None, "product_id": None},
        {"quantity": 1},
    ],
    "fulfillments": [
        {
            "status": "SUCCESS",
            "created_at": "2026-05-02T09:00:00Z",
            "tracking_company": "DHL",
            "tracking_numbers": ["A1", "B2"],
            "tracking_urls": ["https://dhl.example/A1"],
        },
        {"status": None, "created_at": None, "tracking_number": "C3", "tracking_url": "https://x.example/C3"},
        {"status": "OPEN"},
    ],
    "shipping_address": {
        "name": "Ana Lima",
        "address1": "Rua 1",
        "address2": "2 esq",
        "city": "Porto",
        "province": "Porto",
        "zip": "4000",
        "country": "Portugal",
        "country_code": "PT",
        "phone": "+351 1",
        "extra": "x",
        "company": None,
    },
}


def test_order_from_rest() -> None:
    order = r.order_from_rest(REST_ORDER)
    assert order == r.OrderRecord(
        shopify_id=500,
        name="#R7",
        customer=r.CustomerRecord(shopify_id=11),
        order_number=1001,
        email="ana@example.com",
        phone="+351 1",
        financial_status="paid",
        fulfillment_status="partially_fulfilled",
        currency="EUR",
        total_price=Decimal("30.00"),
        current_total_price=Decimal("20.00"),
        cancelled_at=T2,
        cancel_reason="customer",
        closed_at=T2,
        processed_at=T1,
        test=True,
        tags=["gift"],
        line_items=[
            {"title": "Tea", "quantity": 2, "price": "10.00", "sku": "T-1", "product_id": 77},
            {"title": "Cup", "quantity": 0, "price": "5", "sku": None, "product_id": None},
            {"title": "", "quantity": 1, "price": "0", "sku": None, "product_id": None},
        ],
        fulfillments=[
            {
                "status": "success",
                "created_at": "2026-05-02T09:00:00Z",
                "tracking": [
                    {"company": "DHL", "number": "A1", "url": "https://dhl.example/A1"},
                    {"company": "DHL", "number": "B2", "url": None},
                ],
            },
            {
                "status": None,
                "created_at": None,
                "tracking": [{"company": None, "number": "C3", "url": "https://x.example/C3"}],
            },
            {"status": "open", "created_at": None, "tracking": []},
        ],
        shipping_address={
            "name": "Ana Lima",
            "address1": "Rua 1",
            "address2": "2 esq",
            "city": "Porto",
            "province": "Porto",
            "zip": "4000",
            "country": "Portugal",
            "country_code": "PT",
            "phone": "+351 1",
        },
        created_at=T0,
        updated_at=T2,
    )
    assert order.customer_id == 11


def test_a_sparse_rest_order() -> None:
    order = r.order_from_rest(
        {
            "id": 501,
            "order_number": None,
            "name": "#A-77",
            "total_price": "9.50",
            "currency": "USD",
            "created_at": "2026-05-01T10:00:00.123456Z",
            "fulfillment_status": None,
            "customer": {"id": None},
        }
    )
    assert (order.name, order.order_number, order.total_price, order.current_total_price) == (
        "#A-77",
        77,
        Decimal("9.50"),
        Decimal("9.50"),
    )
    assert (order.currency, order.processed_at, order.fulfillment_status) == ("USD", T1, "unfulfilled")
    assert order.customer is None and order.shipping_address is None and order.fulfillments == []
    assert r.order_from_rest({"id": 502, "order_number": 3}).name == "#3"
    assert r.order_from_rest({"id": 503}).name == "#503"
    assert r.order_from_rest({"id": 504, "contact_email": "c@example.com"}).email == "c@example.com"
    assert r.order_from_rest({"id": 505, "fulfillment_status": "ODD"}).fulfillment_status == "odd"
    assert r.order_from_rest({"id": 506, "test": None}).test is False


def test_order_from_graphql() -> None:
    node = {
        "id": "gid://shopify/Order/500",
        "name": "#1001",
        "email": "ana@example.com",
        "phone": "+351 1",
        "customer": {"id": "gid://shopify/Customer/11"},
        "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": "PARTIALLY_FULFILLED",
        "totalPriceSet": {"shopMoney": {"amount": "30.00", "currencyCode": "EUR"}},
        "currentTotalPriceSet": {"shopMoney": {"amount": "20.00", "currencyCode": "EUR"}},
        "cancelledAt": "2026-05-02T11:00:00Z",
        "cancelReason": "CUSTOMER",
        "closedAt": "2026-05-02T11:00:00Z",
        "processedAt": "2026-05-01T10:00:00.123456Z",
        "createdAt": "2026-04-30T00:00:00Z",
        "updatedAt": "2026-05-02T11:00:00Z",
        "test": True,
        "tags": ["gift"],
        "lineItems": {
            "nodes": [
                {
                    "title": "Tea",
                    "quantity": 2,
                    "originalUnitPriceSet": {"shopMoney": {"amount": "10.00", "currencyCode": "EUR"}},
                    "sku": "T-1",
                    "product": {"id": "gid://shopify/Product/77"},
                },
                {"name": "Cup", "quantity": None, "sku": None, "product": None},
                {"quantity": 1},
            ]
        },
        "fulfillments": [
            {
                "status": "SUCCESS",
                "createdAt": "2026-05-02T09:00:00Z",
                "trackingInfo": [{"company": "DHL", "number": "A1", "url": "https://dhl.example/A1"}],
            },
            {"status": None, "createdAt": None, "trackingInfo": None},
        ],
    }
    assert r.order_from_graphql(node) == r.OrderRecord(
        shopify_id=500,
        name="#1001",
        customer=r.CustomerRecord(shopify_id=11),
        order_number=1001,
        email="ana@example.com",
        phone="+351 1",
        financial_status="paid",
        fulfillment_status="partially_fulfilled",
        currency="EUR",
        total_price=Decimal("30.00"),
        current_total_price=Decimal("20.00"),
        cancelled_at=T2,
        cancel_reason="customer",
        closed_at=T2,
        processed_at=T1,
        test=True,
        tags=["gift"],
        line_items=[
            {"title": "Tea", "quantity": 2, "price": "10.00", "sku": "T-1", "product_id": 77},
            {"title": "Cup", "quantity": 0, "price": "0", "sku": None, "product_id": None},
            {"title": "", "quantity": 1, "price": "0", "sku": None, "product_id": None},
        ],
        fulfillments=[
            {
                "status": "success",
                "created_at": "2026-05-02T09:00:00Z",
                "tracking": [{"company": "DHL", "number": "A1", "url": "https://dhl.example/A1"}],
            },
            {"status": None, "created_at": None, "tracking": []},
        ],
        shipping_address=None,
        created_at=T0,
        updated_at=T2,
    )
    # Not processed yet: the order's creation stands in.
    assert r.order_from_graphql({**node, "processedAt": None}).processed_at == T0
    stranger = r.order_from_graphql({**node, "customer": {"id": "gid://shopify/Customer/x"}})
    assert stranger.customer == r.CustomerRecord(shopify_id=0)
    bare = r.order_from_graphql({"id": "gid://shopify/Order/x", "totalPriceSet": {"shopMoney": {"amount": "4"}}})
    assert (bare.shopify_id, bare.name, bare.order_number, bare.customer) == (0, "", None, None)
    assert (bare.total_price, bare.current_total_price, bare.line_items) == (Decimal(4), Decimal(4), [])


def test_products_from_rest_and_graphql() -> None:
    rest = r.product_from_rest(
        {
            "id": 77,
            "title": "Tea",
            "handle": "tea",
            "vendor": "Leaf",
            "product_type": "Drinks",
            "status": "ACTIVE",
            "tags": "green, loose",
            "variants": [{"id": 1, "title": "100 g", "sku": "T-1", "price": "10.00"}],
            "created_at": "2026-05-01T10:00:00.123456Z",
            "updated_at": "2026-05-02T11:00:00Z",
        }
    )
    graphql = r.product_from_graphql(
        {
            "id": "gid://shopify/Product/77",
            "title": "Tea",
            "handle": "tea",
            "vendor": "Leaf",
            "productType": "Drinks",
            "status": "ACTIVE",
            "tags": ["green", "loose"],
            "variants": {
                "nodes": [{"id": "gid://shopify/ProductVariant/1", "title": "100 g", "sku": "T-1", "price": "10.00"}]
            },
            "createdAt": "2026-05-01T10:00:00.123456Z",
            "updatedAt": "2026-05-02T11:00:00Z",
        }
    )
    expected = r.ProductRecord(
        shopify_id=77,
        title="Tea",
        handle="tea",
        vendor="Leaf",
        product_type="Drinks",
        status="active",
        tags=["green", "loose"],
        variants=[{"id": 1, "title": "100 g", "sku": "T-1", "price": "10.00"}],
        created_at=T1,
        updated_at=T2,
    )
    assert rest == expected and graphql == expected
    assert r.product_from_rest({"id": 1}).title == "" and r.product_from_graphql({"id": "x"}).shopify_id == 0
    assert r.product_from_graphql({"id": "1"}).title == ""
    assert r.product_from_rest({"id": 1}).variants == [] and r.product_from_graphql({"id": "1"}).variants == []


@pytest.mark.parametrize(
    ("rest", "graphql", "available"),
    [
        ({"inventory_policy": "deny", "inventory_quantity": 3}, {"availableForSale": True}, True),
        ({"inventory_policy": "deny", "inventory_quantity": 0}, {"availableForSale": False}, False),
        ({"inventory_policy": "continue", "inventory_quantity": 0}, {"availableForSale": True}, True),
        ({}, {}, None),
    ],
)
def test_a_variants_availability_is_kept_when_the_body_says_it(
    rest: dict[str, Any], graphql: dict[str, Any], available: bool | None
) -> None:
    variants = [
        r.product_from_rest({"id": 1, "variants": [{"id": 2, **rest}]}).variants,
        r.product_from_graphql({"id": "1", "variants": {"nodes": [{"id": "2", **graphql}]}}).variants,
    ]
    for (variant,) in variants:
        assert variant.get("available", "absent") == ("absent" if available is None else available)
