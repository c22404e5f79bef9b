"""Paging Shopify records into PostgreSQL: used by the Reconcile workflow's activities and `zora shopify sync`."""

from __future__ import annotations

from datetime import datetime, timedelta

import aiohttp

from zora.db import Pool
from zora.errors import ZoraError
from zora.security import seal, sealed_with, unseal
from zora.settings import Settings
from zora.shopify.admin import COUNTS_QUERY, RESOURCE_QUERIES, AdminClient, Bucket
from zora.shopify.models import RESOURCES, PageResult, ReconcilePlan, Resource
from zora.shopify.records import customer_from_graphql, order_from_graphql, product_from_graphql
from zora.shopify.samples import iso
from zora.store import shopify as store
from zora.store import shops as sshops

# Records changed a little before the watermark are paged again: clocks differ, and Shopify's search
# index lags writes by a few seconds. Guarded upserts make the overlap harmless.
WATERMARK_OVERLAP = timedelta(minutes=5)
# Each page stays well under the 1,000-point single-query limit (orders: ~80 points each).
PAGE_SIZE: dict[str, int] = {"products": 20, "customers": 100, "orders": 10}


class NotInstalled(ZoraError):
    """The shop has no offline access token (never installed, or uninstalled)."""


async def shop_credentials(pool: Pool, settings: Settings, shop: str) -> tuple[int, str]:
    """The shop's id and its offline access token, opened (zora.security.seal)."""
    async with pool.acquire() as conn:
        row = await sshops.credentials(conn, shop)
    if row is None or row.access_token is None:
        raise NotInstalled(f"{shop} is not installed")
    stored = row.access_token
    token = unseal(settings.sealing_keys(), stored)
    if not sealed_with(settings.secret(), stored):
        # Stored in the clear by an older version, or sealed with a previous key: sealed with the
        # current key now, on first use (reconciliation uses every installed shop's token hourly, so
        # after a day an old key can leave ZORA_PREVIOUS_SECRET_KEYS).
        async with pool.acquire() as conn:
            await sshops.reseal_access_token(conn, row.shop_id, stored, seal(settings.secret(), token))
    return row.shop_id, token


def admin_client(
    http: aiohttp.ClientSession, settings: Settings, shop: str, token: str, bucket: Bucket | None = None
) -> AdminClient:
    return AdminClient(
        http,
        shop=shop,
        token=token,
        api_version=settings.shopify_api_version,
        base_url=settings.shopify_admin_base_url,
        bucket=bucket,
    )


def search_filter(since: datetime | None) -> str | None:
    return f"updated_at:>='{iso(since)}'" if since else None


async def plan(pool: Pool, shop: str, *, full: bool) -> ReconcilePlan:
    async with pool.acquire() as conn:
        row = await sshops.sync_start(conn, shop)
    if row is None:
        return ReconcilePlan(started_at=datetime.now().astimezone(), since={}, installed=False)
    since: dict[str, datetime | None] = {}
    for resource in RESOURCES:
        mark = None if full else row.watermarks.get(resource)
        since[resource] = mark - WATERMARK_OVERLAP if mark else None
    return ReconcilePlan(started_at=row.now, since=since, installed=row.installed)


async def sync_page(
    pool: Pool, client: AdminClient, shop_id: int, resource: Resource, since: datetime | None, cursor: str | None
) -> PageResult:
    """One page of `resource` changed since `since`, upserted with the updated_at guard."""
    data = await client.execute(
        RESOURCE_QUERIES[resource], {"first": PAGE_SIZE[resource], "after": cursor, "query": search_filter(since)}
    )
    connection = data.get(resource) or {}
    nodes = connection.get("nodes") or []
    info = connection.get("pageInfo") or {}
    async with pool.acquire() as conn, conn.transaction():
        for node in nodes:
            if resource == "customers":
                await store.upsert_customer(conn, shop_id, customer_from_graphql(node))
            elif resource == "orders":
                await store.upsert_order(conn, shop_id, order_from_graphql(node))
            else:
                await store.upsert_product(conn, shop_id, product_from_graphql(node))
    return PageResult(count=len(nodes), cursor=info.get("endCursor"), has_next=bool(info.get("hasNextPage")))


async def counts(client: AdminClient, since: datetime | None) -> dict[str, int]:
    data = await client.execute(COUNTS_QUERY, {"query": search_filter(since)})
    return {r: int((data.get(f"{r}Count") or {}).get("count") or 0) for r in RESOURCES}


async def save_watermark(pool: Pool, shop: str, resource: Resource, watermark: datetime, count: int) -> None:
    async with pool.acquire() as conn:
        await sshops.save_watermark(conn, shop, resource, watermark, count)
