"""Admin GraphQL API client: cost-based throttling, retries on 429/5xx, cursor pagination.

Shopify meters GraphQL with a leaky bucket of cost points per app and shop. Each answer reports the
bucket in `extensions.cost.throttleStatus`; before a query we wait until the bucket holds what the
previous query of that shape cost, so we rarely hit `THROTTLED` at all. Retries here are short and
bounded; past them the error goes up, and activities turn it into a Temporal retry.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from zora import metrics
from zora.errors import ZoraError

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class ShopifyError(ZoraError):
    """Base of Admin API failures."""

    retryable = True


class ShopifyRateLimited(ShopifyError):
    """429, or THROTTLED past our retries: try again after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ShopifyUnavailable(ShopifyError):
    """5xx or a network failure past our retries."""


class ShopifyAuthError(ShopifyError):
    """401/403: the token is revoked (app uninstalled) or lacks a scope. No retry will fix it."""

    retryable = False


class ShopifyQueryError(ShopifyError):
    """GraphQL `errors` or mutation `userErrors`: the request itself is wrong."""

    retryable = False


@dataclass
class Bucket:
    """What Shopify last told us about this shop's cost bucket."""

    available: float = 1000.0
    maximum: float = 1000.0
    restore_rate: float = 50.0
    at: float = 0.0

    def available_at(self, now: float) -> float:
        return min(self.maximum, self.available + (now - self.at) * self.restore_rate)

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until `cost` points are in the bucket (0 when they already are)."""
        missing = min(cost, self.maximum) - self.available_at(now)
        if missing <= 0 or self.restore_rate <= 0:
            return 0.0
        # One point of margin: Shopify reports whole points, and a refill a hair short is THROTTLED.
        return (missing + 1.0) / self.restore_rate


def admin_url(base_template: str, shop: str, api_version: str) -> str:
    return f"{base_template.format(shop=shop)}/admin/api/{api_version}/graphql.json"


class AdminClient:
    """One shop's Admin GraphQL API. The aiohttp session belongs to the caller."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        shop: str,
        token: str,
        api_version: str,
        base_url: str = "https://{shop}",
        bucket: Bucket | None = None,
        max_attempts: int = 5,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self.http = http
        self.shop = shop
        self._token = token
        self.url = admin_url(base_url, shop, api_version)
        self.bucket = bucket or Bucket()
        self.max_attempts = max_attempts
        self._sleep = sleep
        self._clock = clock
        self._expected_cost: dict[str, float] = {}
        # Seconds slept waiting for the bucket, 429s and 5xx: tests and the CLI summary read it.
        self.waited = 0.0
        self.throttled = 0

    def __repr__(self) -> str:  # never the token
        return f"AdminClient(shop={self.shop!r}, url={self.url!r})"

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.waited += seconds
            await self._sleep(seconds)

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a query or mutation; raises ShopifyError subclasses."""
        expected = self._expected_cost.get(query, 0.0)
        last_error: ShopifyError | None = None
        for attempt in range(1, self.max_attempts + 1):
            await self._wait(self.bucket.wait_for(expected, self._clock()))
            try:
                status, headers, body = await self._post(query, variables)
                metrics.shopify_answer(status, body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                metrics.SHOPIFY_API_ERRORS.labels("unavailable").inc()
                last_error = ShopifyUnavailable(f"{type(exc).__name__}: {exc}")
                await self._wait(_backoff(attempt))
                continue
            if status == 429:
                retry_after = _retry_after(headers, default=1.0)
                self.throttled += 1
                last_error = ShopifyRateLimited("429 Too Many Requests", retry_after)
                await self._wait(retry_after)
                continue
            if status >= 500:
                last_error = ShopifyUnavailable(f"HTTP {status}")
                await self._wait(_backoff(attempt))
                continue
            if status in (401, 403):
                raise ShopifyAuthError(f"HTTP {status}: {_error_text(body)}")
            if status >= 400:
                raise ShopifyQueryError(f"HTTP {status}: {_error_text(body)}")
            cost = self._read_cost(body)
            if cost is not None:
                self._expected_cost[query] = cost
                expected = cost
            errors = body.get("errors") or []
            if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
                self.throttled += 1
                wait = self.bucket.wait_for(max(expected, 1.0), self._clock()) or 1.0
                last_error = ShopifyRateLimited("THROTTLED", wait)
                await self._wait(wait)
                continue
            if errors:
                raise ShopifyQueryError("; ".join(str(e.get("message")) for e in errors))
            data: dict[str, Any] = body.get("data") or {}
            return data
        assert last_error is not None
        raise last_error

    async def mutate(self, query: str, variables: dict[str, Any], field: str) -> dict[str, Any]:
        """A mutation's payload; its `userErrors` become ShopifyQueryError."""
        data = await self.execute(query, variables)
        payload: dict[str, Any] = data.get(field) or {}
        user_errors = payload.get("userErrors") or []
        if user_errors:
            raise ShopifyQueryError("; ".join(f"{e.get('field')}: {e.get('message')}" for e in user_errors))
        return payload

    async def paginate(
        self, query: str, variables: dict[str, Any], connection: str, *, after: str | None = None
    ) -> AsyncIterator[tuple[list[dict[str, Any]], str | None, bool]]:
        """(nodes, endCursor, hasNextPage) for each page of `data[connection]`."""
        cursor = after
        while True:
            data = await self.execute(query, {**variables, "after": cursor})
            conn = data.get(connection) or {}
            info = conn.get("pageInfo") or {}
            cursor = info.get("endCursor")
            has_next = bool(info.get("hasNextPage"))
            yield list(conn.get("nodes") or []), cursor, has_next
            if not has_next:
                return

    async def _post(self, query: str, variables: dict[str, Any] | None) -> tuple[int, Any, dict[str, Any]]:
        async with self.http.post(
            self.url,
            json={"query": query, "variables": variables or {}},
            headers={"X-Shopify-Access-Token": self._token, "Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as resp:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = {"errors": [{"message": (await resp.text())[:200]}]}
            return resp.status, resp.headers, body if isinstance(body, dict) else {}

    def _read_cost(self, body: dict[str, Any]) -> float | None:
        cost = (body.get("extensions") or {}).get("cost")
        if not isinstance(cost, dict):
            return None
        status = cost.get("throttleStatus") or {}
        if status:
            self.bucket = Bucket(
                available=float(status.get("currentlyAvailable", self.bucket.available)),
                maximum=float(status.get("maximumAvailable", self.bucket.maximum)),
                restore_rate=float(status.get("restoreRate", self.bucket.restore_rate)),
                at=self._clock(),
            )
        requested = cost.get("requestedQueryCost")
        return float(requested) if requested is not None else None


def _retry_after(headers: Any, default: float) -> float:
    try:
        return max(0.0, float(headers.get("Retry-After", default)))
    except (TypeError, ValueError):
        return default


def _backoff(attempt: int) -> float:
    return float(min(8.0, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2))


def _error_text(body: dict[str, Any]) -> str:
    errors = body.get("errors")
    if isinstance(errors, list):
        return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
    return str(errors or body)[:200]


# The queries and mutations Zora uses. The stand-in answers exactly these.

SHOP_QUERY = "query ZoraShop { shop { id name email currencyCode myshopifyDomain } }"

COUNTS_QUERY = (
    "query ZoraCounts($query: String) { productsCount(query: $query) { count }"
    " customersCount(query: $query) { count } ordersCount(query: $query) { count } }"
)

_PAGE = "pageInfo { hasNextPage endCursor }"

CUSTOMERS_QUERY = (
    "query ZoraCustomers($first: Int!, $after: String, $query: String) {"
    " customers(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { nodes {"
    " id firstName lastName email phone tags note state createdAt updatedAt amountSpent { currencyCode }"
    " defaultAddress { city countryCodeV2 phone } } " + _PAGE + " } }"
)

ORDERS_QUERY = (
    "query ZoraOrders($first: Int!, $after: String, $query: String) {"
    " orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { nodes {"
    " id name email phone createdAt updatedAt processedAt cancelledAt cancelReason closedAt test tags"
    " displayFinancialStatus displayFulfillmentStatus customer { id }"
    " totalPriceSet { shopMoney { amount currencyCode } } currentTotalPriceSet { shopMoney { amount currencyCode } }"
    " lineItems(first: 10) { nodes { title quantity sku originalUnitPriceSet { shopMoney { amount } }"
    " product { id } } }"
    " fulfillments(first: 5) { status createdAt trackingInfo(first: 3) { company number url } } } " + _PAGE + " } }"
)

PRODUCTS_QUERY = (
    "query ZoraProducts($first: Int!, $after: String, $query: String) {"
    " products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) { nodes {"
    " id title handle vendor productType status tags createdAt updatedAt"
    " variants(first: 20) { nodes { id title sku price availableForSale } } } " + _PAGE + " } }"
)

RESOURCE_QUERIES = {"customers": CUSTOMERS_QUERY, "orders": ORDERS_QUERY, "products": PRODUCTS_QUERY}

TAGS_ADD = (
    "mutation ZoraTagsAdd($id: ID!, $tags: [String!]!) {"
    " tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } } }"
)
TAGS_REMOVE = (
    "mutation ZoraTagsRemove($id: ID!, $tags: [String!]!) {"
    " tagsRemove(id: $id, tags: $tags) { node { id } userErrors { field message } } }"
)
CUSTOMER_UPDATE_NOTE = (
    "mutation ZoraCustomerNote($input: CustomerInput!) {"
    " customerUpdate(input: $input) { customer { id note updatedAt } userErrors { field message } } }"
)
