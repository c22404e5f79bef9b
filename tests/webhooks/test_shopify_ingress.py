"""POST /webhooks/shopify: signature, inbox, duplicates, unknown topics, and one workflow per delivery."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from temporalio.service import RPCError

from tests.shopify.harness import API_SECRET, ShopifyZora, webhook_headers
from webhooks.dispatch import WorkflowStarter
from zora.shopify.models import webhook_workflow_id
from zora.shopify.samples import sample_payload
from zora.shopify.signing import webhook_hmac


@pytest.fixture(scope="module")
async def sz(sz: ShopifyZora) -> ShopifyZora:
    await sz.install()
    return sz


def _headers(shop: str, body: bytes, **overrides: str) -> dict[str, str]:
    headers = webhook_headers(shop, "customers/update", body, X_Shopify_Event_Id=str(uuid.uuid4()))
    headers.update(overrides)
    return {k: v for k, v in headers.items() if v}


async def _stored(sz: ShopifyZora, webhook_id: str) -> Any:
    return await sz.fetchrow("SELECT * FROM shopify_webhooks WHERE id = $1", webhook_id)


@pytest.mark.parametrize(
    "hmac_header",
    [
        "",  # missing
        "not-base64-at-all",
        webhook_hmac("another-apps-secret", b"{}"),
        "SIGNED-OTHER-BODY",
    ],
)
async def test_bad_or_missing_hmac_is_401_and_nothing_is_stored(sz: ShopifyZora, hmac_header: str) -> None:
    body = json.dumps(sample_payload("customers/update", sz.shop)).encode()
    if hmac_header == "SIGNED-OTHER-BODY":
        hmac_header = webhook_hmac(API_SECRET, body + b" ")
    headers = _headers(sz.shop, body, **{"X-Shopify-Hmac-Sha256": hmac_header})
    status, answer = await sz.post_raw(body, headers)
    assert status == 401 and answer["status"] == "invalid_hmac"
    assert await _stored(sz, headers["X-Shopify-Webhook-Id"]) is None
    with pytest.raises(RPCError):
        await sz.zora.services.temporal.get_workflow_handle(
            webhook_workflow_id(headers["X-Shopify-Webhook-Id"])
        ).describe()


async def test_hmac_is_over_the_raw_bytes(sz: ShopifyZora) -> None:
    # Same JSON, other bytes: Shopify signs bytes, so re-serialising before checking would break this.
    body = json.dumps(sample_payload("customers/update", sz.shop), indent=2).encode()
    status, answer, _ = await sz.send("customers/update", body)
    assert status == 200 and answer["status"] == "accepted"
    compact = json.dumps(json.loads(body)).encode()
    headers = _headers(sz.shop, body)
    status, _ = await sz.post_raw(compact, headers)
    assert status == 401


async def test_accepted_delivery_is_stored_then_processed_by_its_workflow(sz: ShopifyZora) -> None:
    status, answer, webhook_id = await sz.send("customers/update", sample_payload("customers/update", sz.shop))
    assert (status, answer["status"]) == (200, "accepted")
    outcome = await sz.outcome(webhook_id)
    assert outcome.status in ("processed", "stale")
    row = await _stored(sz, webhook_id)
    assert row["topic"] == "customers/update" and row["shop_domain"] == sz.shop
    assert row["status"] == outcome.status and row["processed_at"] is not None
    # Once applied the raw body (personal data) is not kept in the inbox.
    assert row["payload"] is None
    # Alone it has its own workflow; arriving with another delivery of the shop, their batch's (issue 13).
    if await sz.batched_outcome(webhook_id) is None:
        description = await sz.zora.services.temporal.get_workflow_handle(webhook_workflow_id(webhook_id)).describe()
        assert description.workflow_type == "ShopifyWebhookWorkflow"


async def test_duplicate_webhook_id_answers_200_and_is_not_processed_again(sz: ShopifyZora) -> None:
    payload = sample_payload("customers/update", sz.shop)
    webhook_id = str(uuid.uuid4())
    _, first, _ = await sz.send("customers/update", payload, webhook_id=webhook_id)
    await sz.outcome(webhook_id)
    status, again, _ = await sz.send("customers/update", payload, webhook_id=webhook_id)
    assert first["status"] == "accepted"
    assert (status, again["status"]) == (200, "duplicate")
    rows = await sz.fetch("SELECT id FROM shopify_webhooks WHERE id = $1", webhook_id)
    assert len(rows) == 1


async def test_same_event_under_a_new_webhook_id_is_a_duplicate(sz: ShopifyZora) -> None:
    payload = sample_payload("customers/update", sz.shop)
    event_id = str(uuid.uuid4())
    _, first, first_id = await sz.send("customers/update", payload, event_id=event_id)
    _, second, second_id = await sz.send("customers/update", payload, event_id=event_id)
    assert (first["status"], second["status"]) == ("accepted", "duplicate")
    assert await _stored(sz, second_id) is None
    with pytest.raises(RPCError):
        await sz.zora.services.temporal.get_workflow_handle(webhook_workflow_id(second_id)).describe()
    await sz.outcome(first_id)


async def test_unknown_topic_is_recorded_and_answered_explicitly(sz: ShopifyZora) -> None:
    status, answer, webhook_id = await sz.send("inventory_levels/update", {"inventory_item_id": 1})
    assert status == 200
    assert answer == {"ok": True, "status": "unsupported", "topic": "inventory_levels/update"}
    row = await _stored(sz, webhook_id)
    assert row["status"] == "unsupported" and row["payload"] == {"inventory_item_id": 1}
    with pytest.raises(RPCError):
        await sz.zora.services.temporal.get_workflow_handle(webhook_workflow_id(webhook_id)).describe()


async def test_deliberately_ignored_topic_says_so(sz: ShopifyZora) -> None:
    status, answer, webhook_id = await sz.send("orders/edited", {"order_edit": {"id": 1}})
    assert (status, answer["status"]) == (200, "ignored")
    assert (await _stored(sz, webhook_id))["status"] == "ignored"


@pytest.mark.parametrize(
    ("missing", "value"),
    [("X-Shopify-Topic", ""), ("X-Shopify-Shop-Domain", ""), ("X-Shopify-Shop-Domain", "evil.example.com")],
)
async def test_signed_but_without_required_headers_is_400(sz: ShopifyZora, missing: str, value: str) -> None:
    body = b"{}"
    headers = _headers(sz.shop, body, **{missing: value})
    if not value:
        headers.pop(missing, None)
    status, answer = await sz.post_raw(body, headers)
    assert status == 400 and answer["status"] == "bad_headers"
    assert await _stored(sz, headers["X-Shopify-Webhook-Id"]) is None


async def test_delivery_for_a_shop_zora_does_not_know_is_ignored(sz: ShopifyZora) -> None:
    outcome = await sz.deliver(
        "customers/update", sample_payload("customers/update", "stranger.myshopify.com"), shop="stranger.myshopify.com"
    )
    assert outcome.status == "ignored"
    assert await sz.fetchrow("SELECT 1 FROM shops WHERE domain = 'stranger.myshopify.com'") is None


async def test_a_stored_delivery_whose_start_was_lost_is_swept_and_processed(sz: ShopifyZora) -> None:
    # As if the web process died between committing the row (and answering 200) and starting the workflow.
    webhook_id = await sz.store_delivery("customers/update", sample_payload("customers/update", sz.shop))
    services = sz.zora.services
    starter = WorkflowStarter(services.pool, services.temporal, services.settings.temporal_task_queue, concurrency=1)
    await starter.start()
    try:
        assert await starter.sweep(grace_seconds=0) >= 1
        assert (await sz.outcome(webhook_id)).status in ("processed", "stale")
    finally:
        await starter.close()
    assert (await _stored(sz, webhook_id))["status"] in ("processed", "stale")
