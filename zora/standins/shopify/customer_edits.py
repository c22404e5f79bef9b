"""The Admin API's customer corrections in the stand-in (issue 11 §4): `customerUpdate` with name, email and
phone, `customer(id:)` with its default address, `customerAddressUpdate` and `customerAddressCreate`.

Shapes as documented for the Admin GraphQL API (2026-04): payloads carry `customer` or `address` and
`userErrors {field message}`; an email or phone another customer of the shop has is refused with
"Email has already been taken" / "Phone has already been taken"; an address id is a MailingAddress gid
with `?model_name=CustomerAddress`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from zora.shopify.records import gid, gid_to_id
from zora.standins.shopify.graphql import Field
from zora.standins.shopify.shops import Shop

MUTATIONS = ("customerUpdate", "customerAddressUpdate", "customerAddressCreate")
_address_ids = itertools.count(9_000_001)
_MAILING = {"address1": "address1", "address2": "address2", "city": "city", "provinceCode": "provinceCode",
            "zip": "zip", "countryCode": "countryCodeV2", "phone": "phone"}  # fmt: skip


def _missing() -> dict[str, Any]:
    return {"field": ["customerId"], "message": "Customer does not exist"}


def _taken(shop: Shop, node: dict[str, Any], data: dict[str, Any]) -> list[dict[str, Any]]:
    errors = []
    for key, word in (("email", "Email"), ("phone", "Phone")):
        value = data.get(key)
        if value and any(c[key] == value and c["id"] != node["id"] for c in shop.customers.values()):
            errors.append({"field": [key], "message": f"{word} has already been taken"})
    return errors


def _address_id(node: dict[str, Any]) -> str | None:
    """The default address's id (given one the first time it is asked for: the stand-in's seeded
    addresses are created without)."""
    address = node.get("defaultAddress")
    if not address:
        return None
    if not address.get("id"):
        address["id"] = f"{gid('MailingAddress', next(_address_ids))}?model_name=CustomerAddress"
    return str(address["id"])


def customer_query(shop: Shop, f: Field) -> dict[str, Any] | None:
    node = shop.customers.get(gid_to_id(f.args.get("id")) or 0)
    if node is None:
        return None
    _address_id(node)
    return {"id": node["id"], "defaultAddress": node.get("defaultAddress")}


def mutate(shop: Shop, f: Field, stamp: Callable[[], str]) -> dict[str, Any]:
    if f.name == "customerUpdate":
        data = f.args.get("input") or {}
        node = shop.customers.get(gid_to_id(data.get("id")) or 0)
        if node is None:
            return {"customer": None, "userErrors": [{"field": ["id"], "message": "Customer does not exist"}]}
        if errors := _taken(shop, node, data):
            return {"customer": None, "userErrors": errors}
        for key in ("note", "firstName", "lastName", "email", "phone"):
            if key in data:
                node[key] = data[key]
        node["updatedAt"] = stamp()
        fields = ("id", "note", "firstName", "lastName", "email", "phone", "updatedAt")
        return {"customer": {k: node.get(k) for k in fields}, "userErrors": []}
    node = shop.customers.get(gid_to_id(f.args.get("customerId")) or 0)
    if node is None:
        return {"address": None, "userErrors": [_missing()]}
    given = f.args.get("address") or {}
    if f.name == "customerAddressUpdate":
        if f.args.get("addressId") != _address_id(node):
            return {"address": None, "userErrors": [{"field": ["addressId"], "message": "Address does not exist"}]}
        address = node["defaultAddress"]
    else:
        address = {"id": f"{gid('MailingAddress', next(_address_ids))}?model_name=CustomerAddress"}
    for key, stored in _MAILING.items():
        if key in given:
            address[stored] = given[key]
    if f.args.get("setAsDefault") or not node.get("defaultAddress"):
        node["defaultAddress"] = address
    node["updatedAt"] = stamp()
    return {"address": {"id": address["id"], "city": address.get("city"),
                        "countryCodeV2": address.get("countryCodeV2")}, "userErrors": []}  # fmt: skip
