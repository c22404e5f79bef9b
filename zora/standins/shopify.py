"""A Shopify stand-in on loopback: the Admin GraphQL API Zora uses, OAuth, and signed webhook deliveries.

Zora reaches it through `SHOPIFY_ADMIN_BASE_URL` (`{base_url}` with `{shop}` in the path), so the code
under test cannot tell it from Shopify for what is modelled here:

- Admin GraphQL at `/shops/{shop}/admin/api/{version}/graphql.json`: `shop`, `customers`, `orders`,
  `products` (cursor pagination, `sortKey: UPDATED_AT`, the `updated_at:>=` search filter), the three
  `*Count` fields, and the mutations `tagsAdd`, `tagsRemove`, `customerUpdate`. Every answer carries
  `extensions.cost` with the leaky bucket's `throttleStatus` (as in Shopify's published example); a query
  costing more than the bucket holds gets Shopify's `THROTTLED` error, one over 1,000 points
  `MAX_COST_EXCEEDED`. Costs are computed from the query like Shopify does: objects 1, scalars 0,
  connections 2 + first x node cost, mutations 10.
- OAuth: `/admin/oauth/authorize` grants at once (no merchant to click) and redirects with a signed
  callback query; `/admin/oauth/access_token` answers the authorization-code grant and the token-exchange
  grant (App Bridge session token -> offline token).
- Webhooks: :meth:`ShopifyStandIn.send_webhook` POSTs a body signed with the app secret and Shopify's
  headers; data changes made through the stand-in can send the matching topic.

Not modelled: REST endpoints, bulk operations, webhook retries (tests resend explicitly), API version
differences, the 60-day limit without `read_all_orders`, and field projection (answers carry every
field Zora asks for, and a few more).
"""

from __future__ import annotations

import base64
import copy
import html
import itertools
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt
from aiohttp import web

from zora.errors import ZoraError
from zora.shopify import samples
from zora.shopify.records import gid, gid_to_id, parse_time
from zora.shopify.signing import oauth_query_hmac, webhook_hmac

log = logging.getLogger(__name__)

MAX_QUERY_COST = 1000
MUTATION_COST = 10


class StandInError(ZoraError):
    pass


# A small GraphQL reader: enough to find root fields, their arguments and selection sets.

_TOKEN = re.compile(r'\s+|,|#[^\n]*|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|\.\.\.|[A-Za-z_][A-Za-z0-9_]*|[{}()\[\]:!$=@]')


@dataclass
class Field:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    children: list[Field] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str, variables: dict[str, Any]) -> None:
        self.tokens = [t for t in _TOKEN.findall(text) if t.strip() and t != "," and not t.startswith("#")]
        self.pos = 0
        self.variables = variables

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise StandInError(f"GraphQL syntax: expected {expected!r}, got {token!r}")
        self.pos += 1
        return token

    def operation(self) -> tuple[str, list[Field]]:
        kind = "query"
        if self.peek() in ("query", "mutation"):
            kind = self.take()
            if self.peek() not in ("{", "("):
                self.take()  # operation name
            if self.peek() == "(":
                depth = 0
                while True:
                    token = self.take()
                    depth += token == "("
                    depth -= token == ")"
                    if depth == 0:
                        break
        return kind, self.selection()

    def selection(self) -> list[Field]:
        self.take("{")
        fields = []
        while self.peek() != "}":
            name = self.take()
            if self.peek() == ":":  # alias
                self.take()
                name = self.take()
            f = Field(name)
            if self.peek() == "(":
                self.take()
                while self.peek() != ")":
                    key = self.take()
                    self.take(":")
                    f.args[key] = self.value()
                self.take(")")
            if self.peek() == "{":
                f.children = self.selection()
            fields.append(f)
        self.take("}")
        return fields

    def value(self) -> Any:
        token = self.take()
        if token == "$":
            return self.variables.get(self.take())
        if token == "[":
            items = []
            while self.peek() != "]":
                items.append(self.value())
            self.take("]")
            return items
        if token == "{":
            obj = {}
            while self.peek() != "}":
                key = self.take()
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        if token.startswith('"'):
            return json.loads(token)
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        if token in ("true", "false"):
            return token == "true"
        if token == "null":
            return None
        return token  # an enum value


def query_cost(fields: list[Field]) -> int:
    """Shopify's calculated cost: objects 1, scalars 0, connections 2 + first x (node cost)."""
    total = 0
    for f in fields:
        if not f.children:
            continue
        first = f.args.get("first")
        if isinstance(first, int):
            nodes = [c for c in f.children if c.name in ("nodes", "edges")]
            # A connection's node cost, or (a list with `first`, like Order.fulfillments) the item's.
            per_node = sum(1 + query_cost(n.children) for n in nodes) if nodes else 1 + query_cost(f.children)
            total += 2 + first * per_node
        elif f.name != "pageInfo":
            total += 1 + query_cost(f.children)
    return total


@dataclass
class _Shop:
    domain: str
    name: str
    shop_id: int
    currency: str = "USD"
    customers: dict[int, dict[str, Any]] = field(default_factory=dict)
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    products: dict[int, dict[str, Any]] = field(default_factory=dict)
    scopes: list[str] = field(default_factory=list)
    # Bucket: points available, and when that was true.
    available: float = float(MAX_QUERY_COST)
    at: float = 0.0


_FILTER = re.compile(r"updated_at:(>=|>)'?([^' ]+)'?")


class ShopifyStandIn:
    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        webhook_url: str | None = None,
        app_url: str | None = None,
        bucket_size: float = MAX_QUERY_COST,
        restore_rate: float = 50.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.webhook_url = webhook_url
        # Zora's embedded page (application_url), which the stand-in admin frame loads.
        self.app_url = app_url
        self.bucket_size = bucket_size
        self.restore_rate = restore_rate
        self.clock = clock
        self.shops: dict[str, _Shop] = {}
        self._tokens: dict[str, str] = {}
        self._codes: dict[str, str] = {}
        self._ids = itertools.count(1_000_001)
        self._last_stamp = datetime(2020, 1, 1, tzinfo=UTC)
        self._failures: list[tuple[int, float | None]] = []
        self._throttles = 0
        # Every GraphQL request: (shop, root field names, variables); tests assert on it.
        self.requests: list[tuple[str, list[str], dict[str, Any]]] = []
        self.app = web.Application()
        self.app.router.add_post("/shops/{shop}/admin/api/{version}/graphql.json", self._graphql)
        self.app.router.add_get("/shops/{shop}/admin/oauth/authorize", self._authorize)
        self.app.router.add_post("/shops/{shop}/admin/oauth/access_token", self._access_token)
        self.app.router.add_get("/dev/shopify/admin", self._admin_frame)
        self.app.router.add_get("/dev/shopify/session-token", self._session_token)
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._http = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """The value for SHOPIFY_ADMIN_BASE_URL."""
        return f"http://127.0.0.1:{self.port}/shops/{{shop}}"

    # Shops, tokens and controls.

    def add_shop(self, domain: str, name: str | None = None, currency: str = "USD") -> _Shop:
        shop = self.shops.get(domain)
        if shop is None:
            shop = _Shop(domain=domain, name=name or domain.split(".")[0], shop_id=next(self._ids), currency=currency)
            shop.available, shop.at = float(self.bucket_size), self.clock()
            self.shops[domain] = shop
        return shop

    def issue_token(self, domain: str, scopes: list[str] | None = None) -> str:
        shop = self.add_shop(domain)
        shop.scopes = scopes or ["read_customers", "write_customers", "read_orders", "read_products"]
        token = "shpat_" + secrets.token_hex(16)
        self._tokens[token] = domain
        return token

    def revoke_tokens(self, domain: str) -> None:
        for token, owner in list(self._tokens.items()):
            if owner == domain:
                del self._tokens[token]

    def throttle_next(self, count: int = 1) -> None:
        """Answer the next `count` GraphQL queries with THROTTLED and an empty bucket."""
        self._throttles += count

    def fail_next(self, status: int, count: int = 1, retry_after: float | None = None) -> None:
        """Answer the next `count` GraphQL requests with HTTP `status` (429 carries Retry-After)."""
        self._failures.extend([(status, retry_after)] * count)

    def session_token(self, domain: str, *, user: str = "42", lifetime: int = 60) -> str:
        """An App Bridge session token as the embedded admin would send it."""
        now = int(time.time())
        claims = {
            "iss": f"https://{domain}/admin",
            "dest": f"https://{domain}",
            "aud": self.api_key,
            "sub": user,
            "exp": now + lifetime,
            "nbf": now,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "sid": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.api_secret, algorithm="HS256")

    def admin_frame_url(self, domain: str) -> str:
        return f"http://127.0.0.1:{self.port}/dev/shopify/admin?{urlencode({'shop': domain})}"

    async def _admin_frame(self, request: web.Request) -> web.Response:
        """Shopify admin's frame around an embedded app, for `zora dev` and the browser tests: it loads
        application_url with `shop` and `host` as the admin does, and answers the page's requests for a
        session token (made when App Bridge is absent: see zora/static/admin.html) by postMessage."""
        domain = request.query.get("shop", "")
        if domain not in self.shops or not self.app_url:
            raise web.HTTPNotFound(text="unknown shop, or no app_url set on the stand-in")
        host = base64.urlsafe_b64encode(f"admin.shopify.com/store/{domain.split('.')[0]}".encode()).decode()
        src = f"{self.app_url}?{urlencode({'embedded': '1', 'shop': domain, 'host': host.rstrip('=')})}"
        app_origin = "/".join(self.app_url.split("/")[:3])
        page = _ADMIN_FRAME.format(
            shop=html.escape(domain),
            src=html.escape(src, quote=True),
            token_url=json.dumps(f"/dev/shopify/session-token?{urlencode({'shop': domain})}"),
            origin=json.dumps(app_origin),
        )
        return web.Response(text=page, content_type="text/html")

    async def _session_token(self, request: web.Request) -> web.Response:
        domain = request.query.get("shop", "")
        if domain not in self.shops:
            raise web.HTTPNotFound(text="unknown shop")
        return web.json_response({"token": self.session_token(domain)}, headers={"Cache-Control": "no-store"})

    def _stamp(self) -> str:
        """Strictly increasing updatedAt values, so tests never see two changes at the same instant."""
        now = datetime.now(UTC).replace(microsecond=datetime.now(UTC).microsecond // 1000 * 1000)
        if now <= self._last_stamp:
            now = self._last_stamp + timedelta(milliseconds=1)
        self._last_stamp = now
        return samples.iso(now)

    # Data, in the Admin GraphQL shape.

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
        node = self.shops[domain].customers[customer_id]
        node.update(changes)
        node["updatedAt"] = self._stamp()
        return node

    def add_product(self, domain: str, title: str, price: str, *, tags: list[str] | None = None) -> dict[str, Any]:
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
        node = self.shops[domain].orders[order_id]
        node.update(changes)
        node["updatedAt"] = self._stamp()
        return node

    def webhook_body(self, domain: str, topic: str, record: dict[str, Any]) -> dict[str, Any]:
        """The REST-shaped webhook body for a record held here."""
        shop = self.shops[domain]
        if topic.endswith("/delete"):
            return {"id": gid_to_id(record["id"])}
        if topic.startswith("orders/"):
            customer = shop.customers.get(gid_to_id((record.get("customer") or {}).get("id")) or 0)
            return samples.rest_order(record, customer)
        if topic.startswith("customers/"):
            return samples.rest_customer(record)
        return samples.rest_product(record)

    # Webhooks.

    def signed_delivery(
        self,
        topic: str,
        domain: str,
        payload: dict[str, Any],
        *,
        webhook_id: str | None = None,
        event_id: str | None = None,
        secret: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": webhook_hmac(secret or self.api_secret, body),
            "X-Shopify-Shop-Domain": domain,
            "X-Shopify-API-Version": "2026-04",
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
            "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        }
        return body, headers

    async def send_webhook(
        self,
        topic: str,
        domain: str,
        payload: dict[str, Any] | None = None,
        **options: Any,
    ) -> tuple[int, dict[str, Any]]:
        if self.webhook_url is None or self._http is None:
            raise StandInError("no webhook_url (or not started)")
        body, headers = self.signed_delivery(topic, domain, payload or samples.sample_payload(topic, domain), **options)
        async with self._http.post(self.webhook_url, data=body, headers=headers) as resp:
            answer: dict[str, Any] = await resp.json(content_type=None)
            return resp.status, answer

    # HTTP.

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
            kind, fields = _Parser(str(body.get("query") or ""), variables).operation()
        except StandInError as exc:
            return web.json_response({"errors": [{"message": str(exc), "extensions": {"code": "PARSE_ERROR"}}]})
        self.requests.append((domain, [f.name for f in fields], variables))
        cost = MUTATION_COST * len(fields) if kind == "mutation" else query_cost(fields)
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

    def _cost(self, shop: _Shop, requested: int, actual: int) -> dict[str, Any]:
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

    def _resolve(self, shop: _Shop, kind: str, f: Field) -> tuple[Any, int]:
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

    def _mutate(self, shop: _Shop, f: Field) -> dict[str, Any]:
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
        if f.name == "customerUpdate":
            data = f.args.get("input") or {}
            node = shop.customers.get(gid_to_id(data.get("id")) or 0)
            if node is None:
                return {"customer": None, "userErrors": [{"field": ["id"], "message": "Customer does not exist"}]}
            if "note" in data:
                node["note"] = data["note"]
            node["updatedAt"] = self._stamp()
            return {
                "customer": {"id": node["id"], "note": node["note"], "updatedAt": node["updatedAt"]},
                "userErrors": [],
            }
        raise StandInError(f"Field '{f.name}' doesn't exist on type 'Mutation'")

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        domain = request.match_info["shop"]
        q = request.query
        if q.get("client_id") != self.api_key or not q.get("redirect_uri") or not q.get("state"):
            return web.Response(status=400, text="invalid_request")
        self.add_shop(domain)
        code = secrets.token_hex(16)
        self._codes[code] = domain
        params = {
            "code": code,
            "host": base64.urlsafe_b64encode(f"{domain}/admin".encode()).decode().rstrip("="),
            "shop": domain,
            "state": q["state"],
            "timestamp": str(int(time.time())),
        }
        params["hmac"] = oauth_query_hmac(self.api_secret, params)
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode(params)}")

    async def _access_token(self, request: web.Request) -> web.Response:
        domain = request.match_info["shop"]
        form: dict[str, Any] = (
            await request.json() if request.content_type == "application/json" else dict(await request.post())
        )
        if form.get("client_id") != self.api_key or form.get("client_secret") != self.api_secret:
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:token-exchange":
            try:
                claims = jwt.decode(
                    str(form.get("subject_token")),
                    self.api_secret,
                    algorithms=["HS256"],
                    audience=self.api_key,
                    leeway=10,
                )
            except jwt.PyJWTError:
                return web.json_response({"error": "invalid_subject_token"}, status=400)
            if claims.get("dest") != f"https://{domain}":
                return web.json_response({"error": "invalid_subject_token"}, status=400)
        elif self._codes.pop(str(form.get("code")), None) != domain:
            return web.json_response(
                {
                    "error": "invalid_request",
                    "error_description": "authorization code was not found or was already used",
                },
                status=400,
            )
        token = self.issue_token(domain)
        return web.json_response({"access_token": token, "scope": ",".join(self.shops[domain].scopes)})


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.b64decode(str(cursor)))["offset"])
    except (ValueError, KeyError, TypeError):
        raise StandInError("Invalid cursor") from None


_ADMIN_FRAME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{shop} · Shopify admin (stand-in)</title>
<style>body{{margin:0;font:14px sans-serif;background:#1a1a1a;color:#fff}}
header{{padding:8px 16px}}iframe{{border:0;width:100%;height:calc(100vh - 36px);background:#f1f1f1}}</style></head>
<body><header>Shopify admin stand-in · {shop} · Apps &rsaquo; Zora</header>
<iframe id="app" title="Zora" src="{src}"></iframe>
<script>
// What App Bridge does for the app in the real admin, reduced to session tokens: the page asks, this
// frame fetches a token the stand-in signs with the app secret and hands it back to that frame only.
var frame = document.getElementById("app");
window.addEventListener("message", function (event) {{
  if (event.source !== frame.contentWindow || event.origin !== {origin}) return;
  if (!event.data || event.data.type !== "zora-dev:id-token-request") return;
  fetch({token_url}).then(function (r) {{ return r.json(); }}).then(function (body) {{
    frame.contentWindow.postMessage({{type: "zora-dev:id-token", nonce: event.data.nonce, token: body.token}}, {origin});
  }});
}});
</script></body></html>
"""
