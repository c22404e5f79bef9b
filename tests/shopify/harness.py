"""A running Zora with the Shopify stand-in in front of it and the test shop installed."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from temporalio.service import RPCError, RPCStatusCode

from tests.harness import Zora, running_zora
from zora.shopify import install
from zora.shopify.models import WebhookBatchOutcome, WebhookOutcome, webhook_workflow_id
from zora.shopify.signing import app_proxy_signature, webhook_hmac
from zora.standins.shopify import ShopifyStandIn

API_KEY = "zora-test-api-key"
API_SECRET = "shpss_zora0test0app0secret0000000000000"


def webhook_headers(
    shop: str, topic: str, body: bytes, *, webhook_id: str | None = None, secret: str = API_SECRET, **extra: str
) -> dict[str, str]:
    """The headers of a Shopify webhook delivery of `body`, signed with `secret`; `extra` adds headers,
    named with underscores for dashes (X_Shopify_Event_Id=...)."""
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": webhook_hmac(secret, body),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        **{name.replace("_", "-"): value for name, value in extra.items()},
    }


@dataclass
class ShopifyZora:
    zora: Zora
    shopify: ShopifyStandIn

    @property
    def shop(self) -> str:
        return self.zora.shop

    @property
    def shop_id(self) -> int:
        return self.zora.shop_id

    @property
    def url(self) -> str:
        return f"{self.zora.base_url}/webhooks/shopify"

    async def post_raw(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        async with self.zora.http.post(self.url, data=body, headers=headers) as resp:
            answer: dict[str, Any] = await resp.json(content_type=None)
            return resp.status, answer

    async def send(
        self,
        topic: str,
        payload: dict[str, Any] | bytes,
        *,
        shop: str | None = None,
        webhook_id: str | None = None,
        event_id: str | None = None,
    ) -> tuple[int, dict[str, Any], str]:
        """A correctly signed delivery; returns (HTTP status, answer, webhook id)."""
        webhook_id = webhook_id or str(uuid.uuid4())
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = webhook_headers(
            shop or self.shop,
            topic,
            body,
            webhook_id=webhook_id,
            X_Shopify_API_Version="2026-04",
            X_Shopify_Event_Id=event_id or str(uuid.uuid4()),
            X_Shopify_Triggered_At="2026-01-15T10:00:00.123456789Z",
        )
        status, answer = await self.post_raw(body, headers)
        return status, answer, webhook_id

    async def outcome(self, webhook_id: str, timeout: float = 20.0) -> WebhookOutcome:  # noqa: ASYNC109
        """The workflow's result; it starts just after the 200, so it may not exist yet. A delivery that
        arrived with others of its shop is applied by their batch workflow: its outcome is in there."""
        handle = self.zora.services.temporal.get_workflow_handle(
            webhook_workflow_id(webhook_id), result_type=WebhookOutcome
        )
        async with asyncio.timeout(timeout):
            while True:
                try:
                    return await handle.result()
                except RPCError as exc:
                    if exc.status != RPCStatusCode.NOT_FOUND:
                        raise
                batched = await self.batched_outcome(webhook_id)
                if batched is not None:
                    return batched
                await asyncio.sleep(0.02)

    async def batched_outcome(self, webhook_id: str) -> WebhookOutcome | None:
        """Its outcome from the batch workflow (ShopifyWebhookBatchWorkflow) that applied it, if one did."""
        temporal = self.zora.services.temporal
        query = (
            f"WorkflowType = 'ShopifyWebhookBatchWorkflow' AND TaskQueue = '{self.zora.settings.temporal_task_queue}'"
        )
        async for execution in temporal.list_workflows(query):
            handle = temporal.get_workflow_handle(execution.id, result_type=WebhookBatchOutcome)
            result = await handle.result()
            if webhook_id in result.outcomes:
                return result.outcomes[webhook_id]
        return None

    async def deliver(self, topic: str, payload: dict[str, Any] | bytes, **options: Any) -> WebhookOutcome:
        """Send and wait until the workflow has applied it."""
        status, answer, webhook_id = await self.send(topic, payload, **options)
        assert status == 200 and answer["status"] == "accepted", answer
        return await self.outcome(webhook_id)

    async def proxy_session(self, customer: int | None, **body: Any) -> tuple[int, dict[str, Any]]:
        """What the widget asks through the shop's app proxy: Shopify signs it and names the customer."""
        query = [
            ("shop", self.shop),
            ("logged_in_customer_id", "" if customer is None else str(customer)),
            ("path_prefix", "/apps/zora"),
            ("timestamp", str(int(time.time()))),
        ]
        signed = urlencode([*query, ("signature", app_proxy_signature(API_SECRET, query))])
        async with self.zora.http.post(
            f"{self.zora.base_url}/proxy/session?{signed}", json={k: v for k, v in body.items() if v is not None}
        ) as resp:
            answer: dict[str, Any] = await resp.json()
            return resp.status, answer

    async def fetchrow(self, query: str, *args: Any) -> Any:
        async with self.zora.services.pool.acquire() as conn:
            return await conn.fetchrow(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        return await self.zora.fetch(query, *args)

    async def store_delivery(self, topic: str, payload: dict[str, Any]) -> str:
        """A delivery to the test shop stored as the route stores it, with no workflow started (as if
        the web process died after committing it); returns its webhook id."""
        webhook_id = str(uuid.uuid4())
        await self.zora.fetch(
            "INSERT INTO shopify_webhooks (id, topic, shop_domain, payload) VALUES ($1, $2, $3, $4)",
            webhook_id,
            topic,
            self.shop,
            payload,
        )
        return webhook_id

    async def install(self, shop: str | None = None) -> int:
        """Install a shop straight through token issue (the OAuth redirect dance has its own tests)."""
        domain = shop or self.shop
        token = self.shopify.issue_token(domain)
        async with aiohttp.ClientSession() as http:
            return await install.install_shop(
                self.zora.services.pool,
                self.zora.services.temporal,
                http,
                self.zora.settings,
                install.Grant(shop=domain, access_token=token, scopes=["read_customers"]),
            )


@asynccontextmanager
async def running_shopify(infra: Any, database_url: str, **overrides: Any) -> AsyncIterator[ShopifyZora]:
    shopify = ShopifyStandIn(api_key=API_KEY, api_secret=API_SECRET)
    await shopify.start()
    try:
        async with running_zora(
            infra,
            database_url,
            shopify_api_key=API_KEY,
            shopify_api_secret=API_SECRET,
            shopify_admin_base_url=shopify.base_url,
            **overrides,
        ) as zora:
            shopify.webhook_url = f"{zora.base_url}/webhooks/shopify"
            shopify.add_shop(zora.shop, "Test shop")
            yield ShopifyZora(zora=zora, shopify=shopify)
    finally:
        await shopify.stop()
