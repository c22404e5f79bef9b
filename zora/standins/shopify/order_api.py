"""Orders through the Admin GraphQL API: the `order(id:)` query and the mutations drafted actions use
(`orderCancel`, `orderUpdate` with a shipping address, `tagsAdd` on an order), in the shapes Shopify
documents: `orderCancel` answers a `job` and `orderCancelUserErrors` (codes NOT_FOUND, INVALID) and
cancels the order (here at once, Shopify in its background job); `orderUpdate` answers `order` and
`userErrors` and overwrites the whole shipping address, as Shopify's OrderInput does.

Every order mutation is counted in `order_mutations` (name, order id, arguments): tests check a mutation
ran once however often Zora retried.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from zora.shopify.records import gid, gid_to_id
from zora.standins.shopify.graphql import Field
from zora.standins.shopify.shops import Shop, Shops

ORDER_MUTATIONS = frozenset({"orderCancel", "orderUpdate"})
CANCEL_REASONS = frozenset({"CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF"})
_ADDRESS_FIELDS = frozenset(
    {"firstName", "lastName", "company", "address1", "address2", "city", "province", "provinceCode", "zip",
     "country", "countryCode", "phone"}
)  # fmt: skip


class OrderApi(Shops):
    """The order part of the Admin API (a mixin, like the others beside it)."""

    def _order_query(self, shop: Shop, f: Field) -> Any:
        node = shop.orders.get(gid_to_id(f.args.get("id")) or 0)
        return None if node is None else copy.deepcopy(node)

    def _tag_order(self, shop: Shop, f: Field) -> dict[str, Any]:
        """`tagsAdd` on an Order gid (the customer form is in admin_api.py)."""
        oid = gid_to_id(f.args.get("id")) or 0
        node = shop.orders.get(oid)
        if node is None:
            return {"node": None, "userErrors": [{"field": ["id"], "message": "Order does not exist"}]}
        node["tags"] = list(dict.fromkeys([*node["tags"], *(str(t) for t in f.args.get("tags") or [])]))
        node["updatedAt"] = self._stamp()
        self.order_mutations.append(("tagsAdd", oid, copy.deepcopy(f.args)))
        return {"node": {"id": node["id"]}, "userErrors": []}

    def _order_mutation(self, shop: Shop, f: Field) -> dict[str, Any]:
        if f.name == "orderCancel":
            return self._cancel(shop, f.args)
        data = f.args.get("input") or {}
        oid = gid_to_id(data.get("id")) or 0
        node = shop.orders.get(oid)
        if node is None:
            return {"order": None, "userErrors": [{"field": ["id"], "message": "Order does not exist"}]}
        address = data.get("shippingAddress")
        if address is not None:
            unknown = set(address) - _ADDRESS_FIELDS
            if unknown:
                field = ["shippingAddress", sorted(unknown)[0]]
                return {"order": None, "userErrors": [{"field": field, "message": "is not a valid field"}]}
            node["shippingAddress"] = {**dict.fromkeys(_ADDRESS_FIELDS), **address}
            node["shippingAddress"]["countryCodeV2"] = address.get("countryCode")
        if "note" in data:
            node["note"] = data["note"]
        node["updatedAt"] = self._stamp()
        self.order_mutations.append(("orderUpdate", oid, copy.deepcopy(data)))
        return {"order": copy.deepcopy(node), "userErrors": []}

    def _cancel(self, shop: Shop, args: dict[str, Any]) -> dict[str, Any]:
        oid = gid_to_id(args.get("orderId")) or 0
        node = shop.orders.get(oid)
        if node is None:
            return _cancel_error("orderId", "Order does not exist", "NOT_FOUND")
        if args.get("reason") not in CANCEL_REASONS:
            return _cancel_error("reason", "Reason is not a valid OrderCancelReason", "INVALID")
        if not isinstance(args.get("restock"), bool):
            return _cancel_error("restock", "Restock is required", "INVALID")
        if node.get("cancelledAt"):
            return _cancel_error("orderId", "Order has already been cancelled", "INVALID")
        refund = args.get("refundMethod") or {}
        stamp = self._stamp()
        node.update(cancelledAt=stamp, cancelReason=args["reason"], updatedAt=stamp)
        if (refund.get("originalPaymentMethodsRefund") or args.get("refund")) and node.get(
            "displayFinancialStatus"
        ) in ("PAID", "PARTIALLY_PAID"):
            node["displayFinancialStatus"] = "REFUNDED"
        self.order_mutations.append(("orderCancel", oid, copy.deepcopy(args)))
        return {"job": {"id": gid("Job", uuid.uuid4().int % 10**12), "done": False}, "orderCancelUserErrors": []}


def _cancel_error(field: str, message: str, code: str) -> dict[str, Any]:
    return {"job": None, "orderCancelUserErrors": [{"field": [field], "message": message, "code": code}]}
