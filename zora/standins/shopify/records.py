"""The shops' data, in the Admin GraphQL shape: customers, products, orders."""

from __future__ import annotations

import copy
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from zora.shopify import samples
from zora.shopify.records import gid
from zora.standins.shopify.shops import Shop, Shops


class Records(Shops):
    """Customers, products and orders, added and changed by tests."""

    def add_customer(
        self,
        domain: str,
        first_name: str,
        last_name: str,
        email: str | None = None,
        *,
        phone: str | None = None,
        tags: list[str] | None = None,
        note: str | None = None,
        city: str | None = None,
        country: str | None = "US",
    ) -> dict[str, Any]:
        shop = self.add_shop(domain)
        cid = next(self._ids)
        stamp = self._stamp()
        node = {
            "id": gid("Customer", cid),
            "firstName": first_name,
            "lastName": last_name,
            "email": email,
            "phone": phone,
            "tags": list(tags or []),
            "note": note,
            "state": "ENABLED",
            "createdAt": stamp,
            "updatedAt": stamp,
            "amountSpent": {"amount": "0.00", "currencyCode": shop.currency},
            "defaultAddress": {"city": city, "countryCodeV2": country, "phone": phone},
        }
        shop.customers[cid] = node
        return node

    def update_customer(self, domain: str, customer_id: int, **changes: Any) -> dict[str, Any]:
        return self._changed(self.shops[domain].customers[customer_id], changes)

    def add_product(
        self, domain: str, title: str, price: str, *, tags: list[str] | None = None, stock: int = 25
    ) -> dict[str, Any]:
        shop = self.add_shop(domain)
        pid = next(self._ids)
        stamp = self._stamp()
        node = {
            "id": gid("Product", pid),
            "title": title,
            "handle": re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-"),
            "vendor": shop.name,
            "productType": "",
            "status": "ACTIVE",
            "tags": list(tags or []),
            "createdAt": stamp,
            "updatedAt": stamp,
            "variants": {
                "nodes": [
                    {
                        "id": gid("ProductVariant", next(self._ids)),
                        "title": "Default Title",
                        "sku": None,
                        "price": price,
                        "availableForSale": stock > 0,
                        "inventoryQuantity": stock,
                    }
                ]
            },
        }
        shop.products[pid] = node
        return node

    def add_order(
        self,
        domain: str,
        customer_id: int | None,
        items: list[tuple[int, int]],
        *,
        financial: str = "PAID",
        fulfillment: str = "UNFULFILLED",
        processed_at: datetime | None = None,
        tracking: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """An order of (product id, quantity) lines."""
        shop = self.add_shop(domain)
        oid = next(self._ids)
        stamp = self._stamp()
        lines, total = _order_lines(shop, items)
        customer = shop.customers.get(customer_id) if customer_id else None
        number = 1000 + len(shop.orders) + 1
        money = {"shopMoney": {"amount": f"{total:.2f}", "currencyCode": shop.currency}}
        node: dict[str, Any] = {
            "id": gid("Order", oid),
            "name": f"#{number}",
            "email": customer["email"] if customer else None,
            "phone": None,
            "createdAt": samples.iso(processed_at) if processed_at else stamp,
            "updatedAt": stamp,
            "processedAt": samples.iso(processed_at) if processed_at else stamp,
            "cancelledAt": None,
            "cancelReason": None,
            "closedAt": None,
            "test": False,
            "tags": [],
            "displayFinancialStatus": financial,
            "displayFulfillmentStatus": fulfillment,
            "customer": {"id": customer["id"]} if customer else None,
            "totalPriceSet": money,
            "currentTotalPriceSet": copy.deepcopy(money),
            "lineItems": {"nodes": lines},
            "fulfillments": [],
        }
        if tracking:
            node["fulfillments"] = [
                {
                    "status": "SUCCESS",
                    "createdAt": stamp,
                    "trackingInfo": [{"company": tracking[0], "number": tracking[1], "url": None}],
                }
            ]
        shop.orders[oid] = node
        return node

    def update_order(self, domain: str, order_id: int, **changes: Any) -> dict[str, Any]:
        return self._changed(self.shops[domain].orders[order_id], changes)

    def _changed(self, node: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        """A record edited in the admin: Shopify moves its updatedAt, which the reconcile compares."""
        node.update(changes)
        node["updatedAt"] = self._stamp()
        return node


def _order_lines(shop: Shop, items: list[tuple[int, int]]) -> tuple[list[dict[str, Any]], Decimal]:
    """An order's line items for (product id, quantity) pairs, and their total."""
    lines, total = [], Decimal(0)
    for product_id, quantity in items:
        product = shop.products[product_id]
        price = Decimal(product["variants"]["nodes"][0]["price"])
        total += price * quantity
        lines.append(
            {
                "title": product["title"],
                "quantity": quantity,
                "sku": product["variants"]["nodes"][0]["sku"],
                "originalUnitPriceSet": {"shopMoney": {"amount": str(price)}},
                "product": {"id": product["id"]},
            }
        )
    return lines, total
