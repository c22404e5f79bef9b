"""Issue 9 item 5: the queue between the webhook route and the workflow starts is bounded.

When it is full the route answers 503 with Retry-After before storing anything (Shopify retries), and a
delivery stored as the queue filled is never lost: its inbox row stays `received` and the sweep starts it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.helpers import serving
from tests.shopify.harness import ShopifyZora, webhook_headers
from webhooks.dispatch import WorkflowStarter
from webhooks.shopify import receive
from zora.shopify.models import WebhookRef
from zora.shopify.samples import sample_payload


@pytest.fixture(scope="module")
async def sz(sz: ShopifyZora) -> ShopifyZora:
    await sz.install()
    return sz


def _starter(sz: ShopifyZora, max_queued: int, concurrency: int = 2) -> WorkflowStarter:
    services = sz.zora.services
    return WorkflowStarter(
        services.pool,
        services.temporal,
        services.settings.temporal_task_queue,
        concurrency=concurrency,
        max_queued=max_queued,
    )


async def _route(sz: ShopifyZora, starter: WorkflowStarter) -> AsyncIterator[str]:
    """The real route, in front of a starter the test controls (not started yet: nothing drains it)."""

    async def handler(request: web.Request) -> web.Response:
        return await receive(request, sz.zora.services, starter)

    app = web.Application()
    app.router.add_post("/webhooks/shopify", handler)
    try:
        async with serving(app) as url:
            yield f"{url}/webhooks/shopify"
    finally:
        await starter.close()


async def _post(sz: ShopifyZora, url: str, webhook_id: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    body = json.dumps(sample_payload("customers/update", sz.shop)).encode()
    headers = webhook_headers(sz.shop, "customers/update", body, webhook_id=webhook_id, X_Shopify_Event_Id=webhook_id)
    async with sz.zora.http.post(url, data=body, headers=headers) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


async def _status(sz: ShopifyZora, webhook_id: str) -> str | None:
    row = await sz.fetchrow("SELECT status FROM shopify_webhooks WHERE id = $1", webhook_id)
    return None if row is None else str(row["status"])


async def test_a_full_queue_answers_503_with_retry_after_and_shopifys_retry_is_processed(sz: ShopifyZora) -> None:
    starter = _starter(sz, max_queued=1)
    async for url in _route(sz, starter):
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        status, answer, _ = await _post(sz, url, first)
        assert status == 200 and answer["status"] == "accepted"
        # The queue holds one and nothing drains it: the next delivery is deferred, not held in memory.
        status, answer, headers = await _post(sz, url, second)
        assert status == 503 and answer["status"] == "busy"
        assert int(headers["Retry-After"]) > 0
        assert await _status(sz, second) is None
        await starter.start()
        assert (await sz.outcome(first)).status == "processed"
        # Shopify's retry of the deferred delivery.
        status, answer, _ = await _post(sz, url, second)
        assert status == 200 and answer["status"] == "accepted"
        assert (await sz.outcome(second)).status == "processed"


async def test_a_delivery_stored_as_the_queue_filled_is_started_by_the_sweep(sz: ShopifyZora) -> None:
    starter = _starter(sz, max_queued=1, concurrency=1)
    async for _ in _route(sz, starter):
        assert starter.submit(WebhookRef(webhook_id=str(uuid.uuid4()), shop=sz.shop, topic="customers/update"))
        stored = [
            await sz.store_delivery("customers/update", sample_payload("customers/update", sz.shop)) for _ in range(3)
        ]
        # The route committed a row, then found the queue full: submit refuses instead of growing.
        assert not starter.submit(WebhookRef(webhook_id=stored[0], shop=sz.shop, topic="customers/update"))
        assert await _status(sz, stored[0]) == "received"
        await starter.start()
        # Three rows for a queue of one: the sweep waits for room rather than dropping what it found.
        assert await starter.sweep(grace_seconds=0) >= 3
        for webhook_id in stored:
            assert (await sz.outcome(webhook_id)).status in ("processed", "stale")
    for webhook_id in stored:
        assert await _status(sz, webhook_id) in ("processed", "stale")
