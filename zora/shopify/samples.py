"""Webhook bodies in the shape Shopify documents for each topic (https://shopify.dev/docs/api/webhooks),
with Zora's own example values. `zora shopify trigger` and the stand-in send these.

Records are built in the Admin GraphQL shape (what the stand-in stores) and rendered in the REST
shape that webhook bodies use.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from zora.shopify.records import gid_to_id

TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/fulfilled",
    "orders/cancelled",
    "orders/delete",
    "customers/create",
    "customers/update",
    "customers/delete",
    "products/create",
    "products/update",
    "products/delete",
    "app/uninstalled",
    "app/scopes_update",
    "customers/data_request",
    "customers/redact",
    "shop/redact",
)


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _money_set(amount: str, currency: str) -> dict[str, Any]:
    m = {"amount": amount, "currency_code": currency}
    return {"shop_money": m, "presentment_money": dict(m)}


def rest_customer(node: dict[str, Any]) -> dict[str, Any]:
    cid = gid_to_id(node["id"])
    address = node.get("defaultAddress") or {}
    body: dict[str, Any] = {
        "id": cid,
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "first_name": node.get("firstName"),
        "last_name": node.get("lastName"),
        "state": str(node.get("state") or "enabled").lower(),
        "note": node.get("note"),
        "verified_email": True,
        "multipass_identifier": None,
        "tax_exempt": False,
        "email": node.get("email"),
        "phone": node.get("phone"),
        "currency": (node.get("amountSpent") or {}).get("currencyCode", "USD"),
        "tags": ", ".join(node.get("tags") or []),
        "addresses": [],
        "tax_exemptions": [],
        "admin_graphql_api_id": node["id"],
        "default_address": None,
    }
    if address:
        body["default_address"] = {
            "id": cid,
            "customer_id": cid,
            "first_name": node.get("firstName"),
            "last_name": node.get("lastName"),
            "city": address.get("city"),
            "country_code": address.get("countryCodeV2"),
            "phone": address.get("phone"),
            "default": True,
        }
    return body


def rest_order(node: dict[str, Any], customer: dict[str, Any] | None) -> dict[str, Any]:
    oid = gid_to_id(node["id"])
    total = node["totalPriceSet"]["shopMoney"]
    current = (node.get("currentTotalPriceSet") or node["totalPriceSet"])["shopMoney"]
    currency = total["currencyCode"]
    fulfillment = str(node.get("displayFulfillmentStatus") or "UNFULFILLED").lower()
    rest_fulfillment = {"unfulfilled": None, "partially_fulfilled": "partial"}.get(fulfillment, fulfillment)
    line_items = _rest_line_items(node, oid, currency, rest_fulfillment)
    fulfillments = _rest_fulfillments(node, oid)
    name = str(node["name"])
    return {
        "id": oid,
        "admin_graphql_api_id": node["id"],
        "name": name,
        "order_number": int(name.lstrip("#")) if name.lstrip("#").isdigit() else None,
        "email": node.get("email"),
        "contact_email": node.get("email"),
        "phone": node.get("phone"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "processed_at": node.get("processedAt"),
        "cancelled_at": node.get("cancelledAt"),
        "cancel_reason": str(node["cancelReason"]).lower() if node.get("cancelReason") else None,
        "closed_at": node.get("closedAt"),
        "currency": currency,
        "presentment_currency": currency,
        "financial_status": str(node.get("displayFinancialStatus") or "PENDING").lower(),
        "fulfillment_status": rest_fulfillment,
        "total_price": total["amount"],
        "total_price_set": _money_set(total["amount"], currency),
        "current_total_price": current["amount"],
        "current_total_price_set": _money_set(current["amount"], currency),
        "test": bool(node.get("test")),
        "tags": ", ".join(node.get("tags") or []),
        "customer": rest_customer(customer) if customer else None,
        "line_items": line_items,
        "fulfillments": fulfillments,
        "refunds": [],
        "shipping_address": None,
        "billing_address": None,
    }


def _rest_line_items(
    node: dict[str, Any], oid: int | None, currency: str, rest_fulfillment: str | None
) -> list[dict[str, Any]]:
    return [
        {
            "id": (oid or 0) * 10 + i,
            "admin_graphql_api_id": f"gid://shopify/LineItem/{(oid or 0) * 10 + i}",
            "name": li["title"],
            "title": li["title"],
            "price": li["originalUnitPriceSet"]["shopMoney"]["amount"],
            "price_set": _money_set(li["originalUnitPriceSet"]["shopMoney"]["amount"], currency),
            "product_id": gid_to_id((li.get("product") or {}).get("id")),
            "quantity": li["quantity"],
            "sku": li.get("sku"),
            "fulfillment_status": rest_fulfillment,
        }
        for i, li in enumerate(node["lineItems"]["nodes"], start=1)
    ]


def _rest_fulfillments(node: dict[str, Any], oid: int | None) -> list[dict[str, Any]]:
    return [
        {
            "id": (oid or 0) * 100 + i,
            "order_id": oid,
            "status": str(f.get("status") or "success").lower(),
            "created_at": f.get("createdAt"),
            "tracking_company": (f.get("trackingInfo") or [{}])[0].get("company") if f.get("trackingInfo") else None,
            "tracking_number": (f.get("trackingInfo") or [{}])[0].get("number") if f.get("trackingInfo") else None,
            "tracking_numbers": [t.get("number") for t in f.get("trackingInfo") or []],
            "tracking_url": (f.get("trackingInfo") or [{}])[0].get("url") if f.get("trackingInfo") else None,
            "tracking_urls": [t.get("url") for t in f.get("trackingInfo") or []],
        }
        for i, f in enumerate(node.get("fulfillments") or [], start=1)
    ]


def rest_product(node: dict[str, Any]) -> dict[str, Any]:
    pid = gid_to_id(node["id"])
    return {
        "admin_graphql_api_id": node["id"],
        "id": pid,
        "title": node["title"],
        "body_html": node.get("descriptionHtml", ""),
        "handle": node.get("handle"),
        "vendor": node.get("vendor"),
        "product_type": node.get("productType"),
        "status": str(node.get("status") or "ACTIVE").lower(),
        "tags": ", ".join(node.get("tags") or []),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "published_scope": "web",
        "variants": [
            {
                "admin_graphql_api_id": v["id"],
                "id": gid_to_id(v["id"]),
                "product_id": pid,
                "title": v.get("title"),
                "sku": v.get("sku"),
                "price": v.get("price"),
                "inventory_policy": "deny",
                "inventory_quantity": v.get("inventoryQuantity"),
            }
            for v in (node.get("variants") or {}).get("nodes", [])
        ],
        "options": [],
        "images": [],
        "image": None,
    }


# Example records for `zora shopify trigger` when the shop has none of its own.

_NOW = "2026-01-15T10:00:00Z"

SAMPLE_CUSTOMER: dict[str, Any] = {
    "id": "gid://shopify/Customer/7001",
    "firstName": "Maya",
    "lastName": "Lindqvist",
    "email": "maya.lindqvist@example.com",
    "phone": "+14155550134",
    "tags": ["newsletter"],
    "note": "Prefers email.",
    "state": "ENABLED",
    "createdAt": "2025-11-02T09:12:00Z",
    "updatedAt": _NOW,
    "amountSpent": {"amount": "0.00", "currencyCode": "USD"},
    "defaultAddress": {"city": "Portland", "countryCodeV2": "US", "phone": "+14155550134"},
}

SAMPLE_PRODUCT: dict[str, Any] = {
    "id": "gid://shopify/Product/8001",
    "title": "Ceramic pour-over set",
    "handle": "ceramic-pour-over-set",
    "vendor": "Zora Demo Goods",
    "productType": "Kitchen",
    "status": "ACTIVE",
    "tags": ["coffee", "gift"],
    "createdAt": "2025-10-01T08:00:00Z",
    "updatedAt": _NOW,
    "variants": {
        "nodes": [{"id": "gid://shopify/ProductVariant/8101", "title": "White", "sku": "POUR-WHT", "price": "48.00"}]
    },
}

SAMPLE_ORDER: dict[str, Any] = {
    "id": "gid://shopify/Order/9001",
    "name": "#1001",
    "email": "maya.lindqvist@example.com",
    "phone": None,
    "createdAt": "2026-01-15T09:58:00Z",
    "updatedAt": _NOW,
    "processedAt": "2026-01-15T09:58:00Z",
    "cancelledAt": None,
    "cancelReason": None,
    "closedAt": None,
    "test": False,
    "tags": [],
    "displayFinancialStatus": "PAID",
    "displayFulfillmentStatus": "UNFULFILLED",
    "customer": {"id": SAMPLE_CUSTOMER["id"]},
    "totalPriceSet": {"shopMoney": {"amount": "96.00", "currencyCode": "USD"}},
    "currentTotalPriceSet": {"shopMoney": {"amount": "96.00", "currencyCode": "USD"}},
    "lineItems": {
        "nodes": [
            {
                "title": "Ceramic pour-over set",
                "quantity": 2,
                "sku": "POUR-WHT",
                "originalUnitPriceSet": {"shopMoney": {"amount": "48.00"}},
                "product": {"id": SAMPLE_PRODUCT["id"]},
            }
        ]
    },
    "fulfillments": [],
}


def sample_payload(topic: str, shop: str, *, updated_at: datetime | None = None) -> dict[str, Any]:
    """A body for `topic` as Shopify would send it for `shop`."""
    stamp = iso(updated_at) if updated_at else _NOW
    customer = copy.deepcopy(SAMPLE_CUSTOMER) | {"updatedAt": stamp}
    product = copy.deepcopy(SAMPLE_PRODUCT) | {"updatedAt": stamp}
    order = _sample_order(topic, stamp)
    if topic.startswith("orders/"):
        if topic == "orders/delete":
            return {"id": gid_to_id(order["id"])}
        return rest_order(order, customer)
    if topic == "customers/delete":
        return {"id": gid_to_id(customer["id"]), "tax_exemptions": [], "admin_graphql_api_id": customer["id"]}
    if topic.startswith("customers/") and topic in ("customers/create", "customers/update"):
        return rest_customer(customer)
    if topic == "products/delete":
        return {"id": gid_to_id(product["id"])}
    if topic.startswith("products/"):
        return rest_product(product)
    app = _app_payload(topic, shop, stamp)
    if app is not None:
        return app
    return _privacy_payload(topic, shop, customer, order)


def _sample_order(topic: str, stamp: str) -> dict[str, Any]:
    """The sample order as it stands after `topic` (fulfilled, cancelled, just created)."""
    order = copy.deepcopy(SAMPLE_ORDER) | {"updatedAt": stamp}
    if topic == "orders/fulfilled":
        order["displayFulfillmentStatus"] = "FULFILLED"
        order["fulfillments"] = [
            {
                "status": "SUCCESS",
                "createdAt": stamp,
                "trackingInfo": [
                    {
                        "company": "UPS",
                        "number": "1Z999AA10123456784",
                        "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
                    }
                ],
            }
        ]
    elif topic == "orders/cancelled":
        order["cancelledAt"] = stamp
        order["cancelReason"] = "CUSTOMER"
        order["displayFinancialStatus"] = "REFUNDED"
        order["currentTotalPriceSet"] = {"shopMoney": {"amount": "0.00", "currencyCode": "USD"}}
    elif topic == "orders/create":
        order["displayFinancialStatus"] = "PENDING"
    return order


def _app_payload(topic: str, shop: str, stamp: str) -> dict[str, Any] | None:
    """The app/* topics' bodies; None for any other topic."""
    shop_name = shop.split(".", 1)[0]
    if topic == "app/uninstalled":
        return {
            "id": 548380009,
            "name": shop_name,
            "email": f"owner@{shop_name}.example",
            "domain": shop,
            "myshopify_domain": shop,
            "currency": "USD",
            "plan_name": "basic",
            "updated_at": stamp,
        }
    if topic == "app/scopes_update":
        return {
            "id": 1,
            "previous": ["read_products"],
            "current": ["read_customers", "write_customers", "read_orders", "read_products"],
            "updated_at": stamp,
            "created_at": stamp,
        }
    return None


def _privacy_payload(topic: str, shop: str, customer: dict[str, Any], order: dict[str, Any]) -> dict[str, Any]:
    """The mandatory privacy topics' bodies (customers/data_request, customers/redact, shop/redact)."""
    person = {"id": gid_to_id(customer["id"]), "email": customer["email"], "phone": customer["phone"]}
    if topic == "customers/data_request":
        return {
            "shop_id": 548380009,
            "shop_domain": shop,
            "orders_requested": [gid_to_id(order["id"])],
            "customer": person,
            "data_request": {"id": 9999},
        }
    if topic == "customers/redact":
        return {
            "shop_id": 548380009,
            "shop_domain": shop,
            "customer": person,
            "orders_to_redact": [gid_to_id(order["id"])],
        }
    if topic == "shop/redact":
        return {"shop_id": 548380009, "shop_domain": shop}
    raise KeyError(topic)
