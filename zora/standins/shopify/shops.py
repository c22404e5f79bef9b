"""The shops the stand-in holds, their API tokens and cost buckets, the test controls, and the server's
lifecycle: what every part of the stand-in shares."""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from zora.errors import ZoraError
from zora.shopify import samples

MAX_QUERY_COST = 1000
MUTATION_COST = 10


class StandInError(ZoraError):
    pass


@dataclass
class Shop:
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


class Shops:
    """The stand-in's state, shared by the parts (the mixins beside this module) ``ShopifyStandIn`` assembles."""

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
        self.shops: dict[str, Shop] = {}
        self._tokens: dict[str, str] = {}
        self._codes: dict[str, str] = {}
        self._ids = itertools.count(1_000_001)
        self._last_stamp = datetime(2020, 1, 1, tzinfo=UTC)
        self._failures: list[tuple[int, float | None]] = []
        self._throttles = 0
        # Every GraphQL request: (shop, root field names, variables); tests assert on it.
        self.requests: list[tuple[str, list[str], dict[str, Any]]] = []
        # Every order mutation applied: (mutation, order id, arguments) (order_api.py).
        self.order_mutations: list[tuple[str, int, dict[str, Any]]] = []
        self.app = web.Application()
        self._add_routes(self.app.router)
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

    def add_shop(self, domain: str, name: str | None = None, currency: str = "USD") -> Shop:
        shop = self.shops.get(domain)
        if shop is None:
            shop = Shop(domain=domain, name=name or domain.split(".")[0], shop_id=next(self._ids), currency=currency)
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

    def _stamp(self) -> str:
        """Strictly increasing updatedAt values, so tests never see two changes at the same instant."""
        now = datetime.now(UTC).replace(microsecond=datetime.now(UTC).microsecond // 1000 * 1000)
        if now <= self._last_stamp:
            now = self._last_stamp + timedelta(milliseconds=1)
        self._last_stamp = now
        return samples.iso(now)

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        """The HTTP routes: Admin GraphQL, OAuth, the admin frame (standin.py)."""
        raise NotImplementedError
