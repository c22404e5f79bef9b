"""The Admin GraphQL API: authentication, injected failures, the leaky bucket, and the queries and
mutations modelled (``shop``, ``customers``, ``orders``, ``products``, their counts, ``tagsAdd``,
``tagsRemove``, ``customerUpdate``; ``order``, ``orderCancel``, ``orderUpdate`` and ``tagsAdd`` on orders
in order_api.py; the customer corrections in customer_edits.py)."""

from __future__ import annotations

import base64
import copy
import json
import re
from typing import Any

from aiohttp import web

from zora.shopify.records import gid, gid_to_id, parse_time
from zora.standins.shopify import customer_edits
from zora.standins.shopify.graphql import Field, Parser, query_cost
from zora.standins.shopify.order_api import ORDER_MUTATIONS, OrderApi
from zora.standins.shopify.shops import MAX_QUERY_COST, MUTATION_COST, Shop, StandInError

_FILTER = re.compile(r"updated_at:(>=|>)'?([^' ]+)'?")


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.b64decode(str(cursor)))["offset"])
    except (ValueError, KeyError, TypeError):
        raise StandInError("Invalid cursor") from None


class AdminApi(OrderApi):
    """POST /admin/api/{version}/graphql.json."""

    async def _graphql(self, request: web.Request) -> web.Response:
        domain = request.match_info["shop"]
        token = request.headers.get("X-Shopify-Access-Token", "")
        if self._tokens.get(token) != domain:
            return web.json_response(
                {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}, status=401
            )
        shop = self.shops[domain]
        if self._failures:
            status, retry_after = self._failures.pop(0)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return web.json_response(
                {"errors": "Exceeded 2 calls per second for api client."}, status=status, headers=headers
            )
        body = await request.json()
        variables = body.get("variables") or {}
        try:
            kind, fields = Parser(str(body.get("query") or ""), variables).operation()
        except StandInError as exc:
            return web.json_response({"errors": [{"message": str(exc), "extensions": {"code": "PARSE_ERROR"}}]})
        self.requests.append((domain, [f.name for f in fields], variables))
        cost = MUTATION_COST * len(fields) if kind == "mutation" else query_cost(fields)
        refused = self._over_budget(shop, cost)
        if refused is not None:
            return refused
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        actual = 0
        for f in fields:
            try:
                data[f.name], spent = self._resolve(shop, kind, f)
                actual += spent
            except StandInError as exc:
                errors.append({"message": str(exc), "path": [f.name], "extensions": {"code": "undefinedField"}})
        actual = cost if kind == "mutation" else min(cost, actual)
        shop.available -= actual
        answer: dict[str, Any] = {"data": data, "extensions": self._cost(shop, cost, actual)}
        if errors:
            answer["errors"] = errors
        return web.json_response(answer)

    def _over_budget(self, shop: Shop, cost: int) -> web.Response | None:
        """Refill the shop's bucket for the time passed; Shopify's answer when the query costs more than a
        query may, or than the bucket holds (or a test queued a throttle)."""
        now = self.clock()
        shop.available = min(self.bucket_size, shop.available + (now - shop.at) * self.restore_rate)
        shop.at = now
        if cost > MAX_QUERY_COST:
            return web.json_response(
                {
                    "errors": [
                        {
                            "message": f"Query cost is {cost}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).",
                            "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": MAX_QUERY_COST},
                        }
                    ]
                }
            )
        if self._throttles or cost > shop.available:
            if self._throttles:
                self._throttles -= 1
                shop.available = 0.0
            return web.json_response(
                {
                    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                    "extensions": self._cost(shop, cost, 0),
                }
            )
        return None

    def _cost(self, shop: Shop, requested: int, actual: int) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": {
                    "maximumAvailable": float(self.bucket_size),
                    "currentlyAvailable": int(shop.available),
                    "restoreRate": float(self.restore_rate),
                },
            }
        }

    def _resolve(self, shop: Shop, kind: str, f: Field) -> tuple[Any, int]:
        if kind == "mutation":
            return self._mutate(shop, f), MUTATION_COST
        if f.name == "shop":
            return {
                "id": gid("Shop", shop.shop_id),
                "name": shop.name,
                "email": f"owner@{shop.domain}",
                "currencyCode": shop.currency,
                "myshopifyDomain": shop.domain,
            }, 1
        if f.name == "order":
            return self._order_query(shop, f), 1
        if f.name == "customer":
            return customer_edits.customer_query(shop, f), 1
        if f.name in ("customersCount", "ordersCount", "productsCount"):
            records = self._filtered(getattr(shop, f.name.removesuffix("Count")), f.args.get("query"))
            return {"count": len(records), "precision": "EXACT"}, 1
        if f.name in ("customers", "orders", "products"):
            records = self._filtered(getattr(shop, f.name), f.args.get("query"))
            first = int(f.args.get("first") or 0)
            if not 0 < first <= 250:
                raise StandInError("first must be between 1 and 250")
            start = _decode_cursor(f.args.get("after"))
            page = records[start : start + first]
            end = start + len(page)
            node_cost = query_cost([Field("x", {"first": 1}, f.children)]) - 2
            return {
                "nodes": [copy.deepcopy(n) for n in page],
                "pageInfo": {
                    "hasNextPage": end < len(records),
                    "hasPreviousPage": start > 0,
                    "startCursor": _encode_cursor(start) if page else None,
                    "endCursor": _encode_cursor(end) if page else None,
                },
            }, 2 + len(page) * node_cost
        raise StandInError(f"Field '{f.name}' doesn't exist on type 'QueryRoot'")

    def _filtered(self, records: dict[int, dict[str, Any]], query: Any) -> list[dict[str, Any]]:
        items = list(records.values())
        match = _FILTER.search(str(query or ""))
        if match:
            op, value = match.groups()
            since = parse_time(value)
            if since is not None:
                items = [
                    r
                    for r in items
                    if (t := parse_time(r["updatedAt"])) is not None and (t >= since if op == ">=" else t > since)
                ]
        return sorted(items, key=lambda r: (r["updatedAt"], gid_to_id(r["id"]) or 0))

    def _mutate(self, shop: Shop, f: Field) -> dict[str, Any]:
        if f.name in ORDER_MUTATIONS:
            return self._order_mutation(shop, f)
        if f.name == "tagsAdd" and str(f.args.get("id") or "").startswith("gid://shopify/Order/"):
            return self._tag_order(shop, f)
        if f.name in ("tagsAdd", "tagsRemove"):
            cid = gid_to_id(f.args.get("id"))
            node = shop.customers.get(cid or 0)
            if node is None:
                return {"node": None, "userErrors": [{"field": ["id"], "message": "Customer does not exist"}]}
            tags = [str(t) for t in f.args.get("tags") or []]
            if f.name == "tagsAdd":
                node["tags"] = list(dict.fromkeys([*node["tags"], *tags]))
            else:
                node["tags"] = [t for t in node["tags"] if t not in tags]
            node["updatedAt"] = self._stamp()
            return {"node": {"id": node["id"]}, "userErrors": []}
        if f.name in customer_edits.MUTATIONS:
            return customer_edits.mutate(shop, f, self._stamp)
        raise StandInError(f"Field '{f.name}' doesn't exist on type 'Mutation'")
