"""`POST /webhooks/shopify`: the one route for every Shopify topic.

The request does three things and answers: check the HMAC of the raw body, store the delivery in the
inbox (keyed by its webhook id, so a retry is recognised), and hand it to the starter of
ShopifyWebhookWorkflow (webhooks/dispatch.py). The work itself happens in the workflow, where a failure
is retried instead of lost after a 200.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from webhooks.dispatch import WorkflowStarter
from webhooks.topics import IGNORED_TOPICS, TOPIC_HANDLERS, shop_mismatch
from zora import metrics
from zora.limits import RateLimited
from zora.services import Services
from zora.shopify import install
from zora.shopify.models import WebhookRef
from zora.shopify.records import parse_time
from zora.shopify.signing import valid_shop_domain, verify_webhook
from zora.store import webhooks as swebhooks

log = logging.getLogger(__name__)


def _answer(status: int, outcome: str, **extra: Any) -> web.Response:
    return web.json_response({"ok": status < 400, "status": outcome, **extra}, status=status)


# How long Shopify is asked to wait when the starter's queue is full.
BUSY_RETRY_AFTER_SECONDS = 30

STARTER: web.AppKey[WorkflowStarter] = web.AppKey("shopify_workflow_starter", WorkflowStarter)


def add_routes(app: web.Application, services_key: web.AppKey[Services]) -> None:
    """Shopify's routes on the web app: webhooks, and the OAuth install flow (zora.shopify.install).

    Call after the cleanup context that opens the services: the starter needs them.
    """

    async def starter_ctx(app: web.Application) -> AsyncIterator[None]:
        svc = app[services_key]
        starter = WorkflowStarter(
            svc.pool,
            svc.temporal,
            svc.settings.temporal_task_queue,
            max_queued=svc.settings.shopify_webhook_queue_size,
        )
        await starter.start()
        app[STARTER] = starter
        yield
        await starter.close()

    app.cleanup_ctx.append(starter_ctx)

    def deps(request: web.Request) -> install.InstallDeps:
        svc = request.app[services_key]
        return install.InstallDeps(settings=svc.settings, pool=svc.pool, redis=svc.redis, temporal=svc.temporal)

    async def webhook(request: web.Request) -> web.Response:
        return await metrics.observe_webhook(receive(request, request.app[services_key], request.app[STARTER]))

    async def begin(request: web.Request) -> web.StreamResponse:
        return await install.begin_install(request, deps(request))

    async def callback(request: web.Request) -> web.StreamResponse:
        return await install.finish_install(request, deps(request))

    async def session(request: web.Request) -> web.Response:
        return await install.session_install(request, deps(request))

    app.router.add_post("/webhooks/shopify", webhook)
    app.router.add_get("/shopify/install", begin)
    app.router.add_get("/shopify/callback", callback)
    app.router.add_post("/shopify/session", session)


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it passes `limit` (a missing or false Content-Length changes nothing)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    # request.content, not request.read(): read() applies the app-wide client_max_size (1 MiB), which a
    # large order would pass; this route has its own, larger limit.
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class _Delivery:
    """A delivery Shopify signed, with the headers it needs and its JSON payload."""

    topic: str
    shop: str
    webhook_id: str
    payload: Any


async def receive(request: web.Request, services: Services, starter: WorkflowStarter) -> web.Response:
    delivery = await _verified(request, services)
    if isinstance(delivery, web.Response):
        return delivery
    topic, shop, webhook_id, payload = delivery.topic, delivery.shop, delivery.webhook_id, delivery.payload
    pool = services.pool
    known = topic in TOPIC_HANDLERS
    if known and not starter.has_room():
        # The starter is far behind (Temporal slow or down): refuse before storing, so this process holds
        # no more than the queue's worth; Shopify retries the delivery later (8 times over 4 hours).
        log.warning("shopify webhook deferred: the workflow starter's queue is full (%s for %s)", topic, shop)
        return web.json_response(
            {"ok": False, "status": "busy", "error": "too many deliveries waiting; retry later"},
            status=503,
            headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)},
        )
    status = "received" if known else ("ignored" if topic in IGNORED_TOPICS else "unsupported")
    existing: swebhooks.Stored | None = None
    async with pool.acquire() as conn:
        stored = await swebhooks.record(
            conn,
            webhook_id=webhook_id,
            event_id=request.headers.get("X-Shopify-Event-Id"),
            topic=topic,
            shop=shop,
            api_version=request.headers.get("X-Shopify-API-Version"),
            triggered_at=_triggered_at(request.headers.get("X-Shopify-Triggered-At")),
            payload=payload,
            status=status,
        )
        if not stored:
            # Only this shop's deliveries: another shop's row with the same ids is never restarted for it.
            existing = await swebhooks.stored_before(
                conn, shop, webhook_id, request.headers.get("X-Shopify-Event-Id"), topic
            )
            if existing is None or existing.status != "received":
                return _answer(200, "duplicate")
    if existing is not None:
        # Stored before but maybe never started (this process died first): make sure it is. With the queue
        # full the stored row waits for the sweep instead.
        starter.submit(WebhookRef(webhook_id=existing.id, shop=shop, topic=topic))
        return _answer(200, "duplicate")
    if not known:
        log.warning("shopify webhook topic %s from %s is %s", topic, shop, status, extra={"webhook_id": webhook_id})
        return _answer(200, status, topic=topic)
    # Durable from here: the workflow starts next to this request, and the sweep covers a crash or a queue
    # that filled up while the row was being stored.
    starter.submit(WebhookRef(webhook_id=webhook_id, shop=shop, topic=topic))
    return _answer(200, "accepted")


async def _verified(request: web.Request, services: Services) -> _Delivery | web.Response:
    """The delivery, once its size, signature, headers, rate and payload are checked; else the refusal."""
    settings = services.settings
    secret = settings.shopify_api_secret.get_secret_value() if settings.shopify_api_secret else None
    topic = request.headers.get("X-Shopify-Topic", "")
    shop = request.headers.get("X-Shopify-Shop-Domain", "").lower()
    limit = settings.shopify_webhook_max_bytes
    body = await _read_body(request, limit)
    if body is None:
        # Nothing is stored; Shopify retries and the operator learns from this line which shop and topic
        # (as the unsigned headers claim them) need a larger SHOPIFY_WEBHOOK_MAX_BYTES.
        log.error(
            "shopify webhook refused: body over SHOPIFY_WEBHOOK_MAX_BYTES (%d bytes) for shop %s, topic %s",
            limit,
            shop[:255] or "?",
            topic[:100] or "?",
        )
        return _answer(413, "too_large", error=f"body is over the limit of {limit} bytes")
    if secret is None:
        # Without the app secret nothing can be verified; Shopify retries until it is configured.
        return _answer(503, "not_configured", error="SHOPIFY_API_SECRET is not set")
    if not verify_webhook(secret, body, request.headers.get("X-Shopify-Hmac-Sha256")):
        return _answer(401, "invalid_hmac", error="X-Shopify-Hmac-Sha256 is missing or does not match")

    webhook_id = request.headers.get("X-Shopify-Webhook-Id") or request.headers.get("X-Shopify-Event-Id") or ""
    if not topic or not webhook_id or not valid_shop_domain(shop):
        return _answer(
            400, "bad_headers", error="X-Shopify-Topic, X-Shopify-Shop-Domain and X-Shopify-Webhook-Id are required"
        )
    try:
        await services.limiter.hit(("rate_webhooks_per_shop", shop))
    except RateLimited as exc:
        # Nothing stored: Shopify delivers it again later (it retries non-2xx answers for hours).
        log.warning("webhook deliveries for %s over RATE_WEBHOOKS_PER_SHOP; answered 429", shop)
        answer = _answer(429, "rate_limited", error=str(exc), retry_after=exc.retry_after)
        answer.headers["Retry-After"] = str(exc.retry_after)
        return answer
    try:
        # PostgreSQL's jsonb cannot hold a NUL character (\u0000): one in a customer's note would make
        # every redelivery fail until Shopify drops the subscription, so NULs are dropped on the way in.
        payload = _without_nul(json.loads(body))
    except ValueError:
        return _answer(400, "bad_body", error="body is not JSON")
    mismatch = shop_mismatch(topic, shop, payload)
    if mismatch is not None:
        log.warning("shopify webhook refused: %s", mismatch, extra={"webhook_id": webhook_id})
        return _answer(400, "shop_mismatch", error="the payload is not about the shop in X-Shopify-Shop-Domain")
    return _Delivery(topic=topic, shop=shop, webhook_id=webhook_id, payload=payload)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def _triggered_at(value: str | None) -> datetime | None:
    return parse_time(value) if value else None
