"""Shopify's two shapes of the same records (REST-style webhook bodies, Admin GraphQL nodes) as one.

Money is kept in the shop's currency (`shop_money`), so sums over a customer's orders are meaningful
whatever currencies shoppers paid in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

_DIGITS = re.compile(r"\d+")


def gid_to_id(value: Any) -> int | None:
    """`gid://shopify/Customer/123` (or 123) -> 123."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    tail = str(value).rsplit("/", 1)[-1]
    try:
        return int(tail)
    except ValueError:
        return None


def gid(kind: str, value: int) -> str:
    return f"gid://shopify/{kind}/{value}"


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    # Python < 3.12 accepts at most microseconds; Shopify sends milliseconds or more.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def money(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def split_tags(value: Any) -> list[str]:
    """REST sends "a, b"; GraphQL sends ["a", "b"]."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    seen: dict[str, None] = {}
    for item in items:
        tag = str(item).strip()
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


def _shop_money(obj: Any, rest_key: str) -> tuple[Decimal, str | None]:
    """`{x}_set.shop_money` (REST) / `{x}Set.shopMoney` (GraphQL)."""
    if not isinstance(obj, dict):
        return Decimal(0), None
    for key, inner in ((f"{rest_key}_set", "shop_money"), (_camel(rest_key) + "Set", "shopMoney")):
        block = obj.get(key)
        if isinstance(block, dict) and isinstance(block.get(inner), dict):
            m = block[inner]
            return money(m.get("amount")), m.get("currency_code") or m.get("currencyCode")
    return money(obj.get(rest_key)), obj.get("currency")


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p.title() for p in rest)


def _name(first: Any, last: Any) -> str | None:
    joined = " ".join(str(p) for p in (first, last) if p)
    return joined or None


@dataclass
class CustomerRecord:
    shopify_id: int
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    tags: list[str] = field(default_factory=list)
    note: str | None = None
    state: str | None = None
    currency: str | None = None
    city: str | None = None
    country: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def name(self) -> str | None:
        return _name(self.first_name, self.last_name)


@dataclass
class OrderRecord:
    shopify_id: int
    name: str
    customer: CustomerRecord | None = None
    order_number: int | None = None
    email: str | None = None
    phone: str | None = None
    financial_status: str | None = None
    fulfillment_status: str | None = None
    currency: str | None = None
    total_price: Decimal = Decimal(0)
    current_total_price: Decimal = Decimal(0)
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    closed_at: datetime | None = None
    processed_at: datetime | None = None
    test: bool = False
    tags: list[str] = field(default_factory=list)
    line_items: list[dict[str, Any]] = field(default_factory=list)
    fulfillments: list[dict[str, Any]] = field(default_factory=list)
    shipping_address: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def customer_id(self) -> int | None:
        return self.customer.shopify_id if self.customer else None


@dataclass
class ProductRecord:
    shopify_id: int
    title: str
    handle: str | None = None
    vendor: str | None = None
    product_type: str | None = None
    status: str | None = None
    tags: list[str] = field(default_factory=list)
    variants: list[dict[str, Any]] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None


def _lower(value: Any) -> str | None:
    return str(value).lower() if value else None


# REST fulfillment_status values, in the GraphQL displayFulfillmentStatus vocabulary we store.
_REST_FULFILLMENT = {
    None: "unfulfilled",
    "partial": "partially_fulfilled",
    "fulfilled": "fulfilled",
    "restocked": "restocked",
}


def _address_bits(address: Any) -> tuple[str | None, str | None]:
    if not isinstance(address, dict):
        return None, None
    return address.get("city"), address.get("country_code") or address.get("countryCodeV2") or address.get("country")


# From webhook bodies (REST shape).


def customer_from_rest(body: dict[str, Any]) -> CustomerRecord:
    city, country = _address_bits(body.get("default_address"))
    phone = body.get("phone") or (body.get("default_address") or {}).get("phone")
    return CustomerRecord(
        shopify_id=int(body["id"]),
        email=body.get("email"),
        first_name=body.get("first_name"),
        last_name=body.get("last_name"),
        phone=phone,
        tags=split_tags(body.get("tags")),
        note=body.get("note"),
        state=body.get("state"),
        currency=body.get("currency"),
        city=city,
        country=country,
        created_at=parse_time(body.get("created_at")),
        updated_at=parse_time(body.get("updated_at")),
    )


def order_from_rest(body: dict[str, Any]) -> OrderRecord:
    total, currency = _shop_money(body, "total_price")
    current, _ = _shop_money(body, "current_total_price")
    customer = body.get("customer")
    fulfillments = []
    for f in body.get("fulfillments") or []:
        numbers = f.get("tracking_numbers") or ([f["tracking_number"]] if f.get("tracking_number") else [])
        urls = f.get("tracking_urls") or ([f["tracking_url"]] if f.get("tracking_url") else [])
        fulfillments.append(
            {
                "status": _lower(f.get("status")),
                "created_at": f.get("created_at"),
                "tracking": [
                    {"company": f.get("tracking_company"), "number": n, "url": urls[i] if i < len(urls) else None}
                    for i, n in enumerate(numbers)
                ],
            }
        )
    items = [
        {
            "title": li.get("title") or li.get("name") or "",
            "quantity": int(li.get("quantity") or 0),
            "price": str(_shop_money(li, "price")[0]),
            "sku": li.get("sku"),
            "product_id": li.get("product_id"),
        }
        for li in body.get("line_items") or []
    ]
    return OrderRecord(
        shopify_id=int(body["id"]),
        name=str(body.get("name") or f"#{body.get('order_number') or body['id']}"),
        customer=customer_from_rest(customer) if isinstance(customer, dict) and customer.get("id") else None,
        order_number=body.get("order_number") or _number_from_name(body.get("name")),
        email=body.get("email") or body.get("contact_email"),
        phone=body.get("phone"),
        financial_status=_lower(body.get("financial_status")),
        fulfillment_status=_REST_FULFILLMENT.get(
            body.get("fulfillment_status"), _lower(body.get("fulfillment_status"))
        ),
        currency=currency or body.get("currency"),
        total_price=total,
        current_total_price=current if body.get("current_total_price") is not None else total,
        cancelled_at=parse_time(body.get("cancelled_at")),
        cancel_reason=body.get("cancel_reason"),
        closed_at=parse_time(body.get("closed_at")),
        processed_at=parse_time(body.get("processed_at")) or parse_time(body.get("created_at")),
        test=bool(body.get("test")),
        tags=split_tags(body.get("tags")),
        line_items=items,
        fulfillments=fulfillments,
        shipping_address=_address(body.get("shipping_address")),
        created_at=parse_time(body.get("created_at")),
        updated_at=parse_time(body.get("updated_at")),
    )


def product_from_rest(body: dict[str, Any]) -> ProductRecord:
    return ProductRecord(
        shopify_id=int(body["id"]),
        title=str(body.get("title") or ""),
        handle=body.get("handle"),
        vendor=body.get("vendor"),
        product_type=body.get("product_type"),
        status=_lower(body.get("status")),
        tags=split_tags(body.get("tags")),
        variants=[
            {"id": v.get("id"), "title": v.get("title"), "sku": v.get("sku"), "price": v.get("price")}
            | _availability(_rest_available(v))
            for v in body.get("variants") or []
        ],
        created_at=parse_time(body.get("created_at")),
        updated_at=parse_time(body.get("updated_at")),
    )


def _rest_available(variant: dict[str, Any]) -> bool | None:
    """Whether a REST variant can be bought: sold past zero stock, or in stock; None when the body
    does not say (no inventory fields)."""
    if variant.get("inventory_policy") == "continue":
        return True
    quantity = variant.get("inventory_quantity")
    return quantity > 0 if isinstance(quantity, int) and not isinstance(quantity, bool) else None


def _availability(available: Any) -> dict[str, Any]:
    # Only when known: a variant stored without it means "not said", never "sold out".
    return {"available": available} if isinstance(available, bool) else {}


def _address(address: Any) -> dict[str, Any] | None:
    if not isinstance(address, dict):
        return None
    keep = ("name", "address1", "address2", "city", "province", "zip", "country", "country_code", "phone")
    return {k: address.get(k) for k in keep if address.get(k) is not None}


def _number_from_name(name: Any) -> int | None:
    match = _DIGITS.search(str(name or ""))
    return int(match.group()) if match else None


# From Admin GraphQL nodes.


def customer_from_graphql(node: dict[str, Any]) -> CustomerRecord:
    address = node.get("defaultAddress") or {}
    email = node.get("email")
    if email is None and isinstance(node.get("defaultEmailAddress"), dict):
        email = node["defaultEmailAddress"].get("emailAddress")
    phone = node.get("phone")
    if phone is None and isinstance(node.get("defaultPhoneNumber"), dict):
        phone = node["defaultPhoneNumber"].get("phoneNumber")
    return CustomerRecord(
        shopify_id=gid_to_id(node["id"]) or 0,
        email=email,
        first_name=node.get("firstName"),
        last_name=node.get("lastName"),
        phone=phone or address.get("phone"),
        tags=split_tags(node.get("tags")),
        note=node.get("note"),
        state=_lower(node.get("state")),
        currency=(node.get("amountSpent") or {}).get("currencyCode"),
        city=address.get("city"),
        country=address.get("countryCodeV2") or address.get("country"),
        created_at=parse_time(node.get("createdAt")),
        updated_at=parse_time(node.get("updatedAt")),
    )


def order_from_graphql(node: dict[str, Any]) -> OrderRecord:
    total, currency = _shop_money(node, "total_price")
    current, _ = _shop_money(node, "current_total_price")
    customer = node.get("customer")
    items = []
    for li in (node.get("lineItems") or {}).get("nodes", []):
        price, _ = _shop_money(li, "original_unit_price")
        items.append(
            {
                "title": li.get("title") or li.get("name") or "",
                "quantity": int(li.get("quantity") or 0),
                "price": str(price),
                "sku": li.get("sku"),
                "product_id": gid_to_id((li.get("product") or {}).get("id")),
            }
        )
    fulfillments = [
        {
            "status": _lower(f.get("status")),
            "created_at": f.get("createdAt"),
            "tracking": [
                {"company": t.get("company"), "number": t.get("number"), "url": t.get("url")}
                for t in f.get("trackingInfo") or []
            ],
        }
        for f in node.get("fulfillments") or []
    ]
    return OrderRecord(
        shopify_id=gid_to_id(node["id"]) or 0,
        name=str(node.get("name") or ""),
        customer=CustomerRecord(shopify_id=gid_to_id(customer["id"]) or 0) if isinstance(customer, dict) else None,
        order_number=_number_from_name(node.get("name")),
        email=node.get("email"),
        phone=node.get("phone"),
        financial_status=_lower(node.get("displayFinancialStatus")),
        fulfillment_status=_lower(node.get("displayFulfillmentStatus")),
        currency=currency,
        total_price=total,
        current_total_price=current if node.get("currentTotalPriceSet") else total,
        cancelled_at=parse_time(node.get("cancelledAt")),
        cancel_reason=_lower(node.get("cancelReason")),
        closed_at=parse_time(node.get("closedAt")),
        processed_at=parse_time(node.get("processedAt")) or parse_time(node.get("createdAt")),
        test=bool(node.get("test")),
        tags=split_tags(node.get("tags")),
        line_items=items,
        fulfillments=fulfillments,
        shipping_address=None,
        created_at=parse_time(node.get("createdAt")),
        updated_at=parse_time(node.get("updatedAt")),
    )


def product_from_graphql(node: dict[str, Any]) -> ProductRecord:
    return ProductRecord(
        shopify_id=gid_to_id(node["id"]) or 0,
        title=str(node.get("title") or ""),
        handle=node.get("handle"),
        vendor=node.get("vendor"),
        product_type=node.get("productType"),
        status=_lower(node.get("status")),
        tags=split_tags(node.get("tags")),
        variants=[
            {"id": gid_to_id(v.get("id")), "title": v.get("title"), "sku": v.get("sku"), "price": v.get("price")}
            | _availability(v.get("availableForSale"))
            for v in (node.get("variants") or {}).get("nodes", [])
        ],
        created_at=parse_time(node.get("createdAt")),
        updated_at=parse_time(node.get("updatedAt")),
    )
