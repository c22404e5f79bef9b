"""Deliveries of one shop that arrive together are applied by one workflow (issue 13 §1: a workflow per
delivery bounded processing to a few dozen a second), each still exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from tests.shopify.harness import ShopifyZora
from webhooks.dispatch import WorkflowStarter, by_shop, start_webhook_workflows
from zora.shopify.models import WebhookBatchOutcome, WebhookRef, webhook_batch_workflow_id, webhook_workflow_id
from zora.shopify.samples import sample_payload


@pytest.fixture(scope="module")
async def sz(sz: ShopifyZora) -> ShopifyZora:
    await sz.install()
    return sz


def _customer(sz: ShopifyZora, shopify_id: int, first_name: str) -> dict[str, object]:
    payload = sample_payload("customers/update", sz.shop)
    return payload | {
        "id": shopify_id,
        "first_name": first_name,
        "admin_graphql_api_id": f"gid://shopify/Customer/{shopify_id}",
    }


async def _workflow_exists(sz: ShopifyZora, workflow_id: str) -> bool:
    try:
        await sz.zora.services.temporal.get_workflow_handle(workflow_id).describe()
    except Exception:
        return False
    return True


async def _result(handle: WorkflowHandle[Any, Any]) -> Any:
    """The batch's result; its workflow starts once the starter has taken the deliveries."""
    async with asyncio.timeout(60):
        while True:
            try:
                return await handle.result()
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
            await asyncio.sleep(0.05)


def test_a_batch_holds_each_shops_deliveries_once_in_arrival_order() -> None:
    a1, b1, a2 = (
        WebhookRef(webhook_id=i, shop=s, topic="customers/update") for i, s in (("1", "a"), ("2", "b"), ("3", "a"))
    )
    assert by_shop([a1, b1, a2, a1]) == [[a1, a2], [b1]]


async def test_deliveries_waiting_together_are_applied_by_one_workflow(sz: ShopifyZora) -> None:
    ids = [8800001 + n for n in range(5)]
    refs = [
        WebhookRef(
            webhook_id=await sz.store_delivery("customers/update", _customer(sz, cid, f"Batch{n}")),
            shop=sz.shop,
            topic="customers/update",
        )
        for n, cid in enumerate(ids)
    ]
    services = sz.zora.services
    starter = WorkflowStarter(services.pool, services.temporal, services.settings.temporal_task_queue)
    for ref in [*refs, refs[0]]:  # the first one queued twice (the route and the sweep)
        assert starter.submit(ref)
    await starter.start()
    try:
        handle = services.temporal.get_workflow_handle(webhook_batch_workflow_id(refs), result_type=WebhookBatchOutcome)
        result = await _result(handle)
    finally:
        await starter.close()

    assert list(result.outcomes) == [r.webhook_id for r in refs]
    assert all(o.status == "processed" for o in result.outcomes.values()), result
    for ref in refs:
        assert not await _workflow_exists(sz, webhook_workflow_id(ref.webhook_id))
    rows = await sz.fetch(
        "SELECT status FROM shopify_webhooks WHERE id = ANY($1::text[])", [r.webhook_id for r in refs]
    )
    assert sorted(r["status"] for r in rows) == ["processed"] * 5
    names = await sz.fetch(
        "SELECT shopify_customer_id, first_name FROM customers WHERE shopify_customer_id = ANY($1::bigint[])", ids
    )
    assert {r["shopify_customer_id"]: r["first_name"] for r in names} == {cid: f"Batch{n}" for n, cid in enumerate(ids)}


async def test_a_delivery_swept_up_again_with_a_new_one_does_not_hide_it(sz: ShopifyZora) -> None:
    """A delivery queued again (the sweep, while its first batch still ran) beside a new one: their batch
    is a new workflow, so the new delivery is applied."""
    first = [
        WebhookRef(
            webhook_id=await sz.store_delivery("customers/update", _customer(sz, 8800200 + n, f"First{n}")),
            shop=sz.shop,
            topic="customers/update",
        )
        for n in range(2)
    ]
    services = sz.zora.services
    queue = services.settings.temporal_task_queue
    assert await start_webhook_workflows(services.temporal, queue, first) == "accepted"
    await _result(services.temporal.get_workflow_handle(webhook_batch_workflow_id(first)))
    late = WebhookRef(
        webhook_id=await sz.store_delivery("customers/update", _customer(sz, 8800210, "Late")),
        shop=sz.shop,
        topic="customers/update",
    )

    assert await start_webhook_workflows(services.temporal, queue, [first[0], late]) == "accepted"
    await _result(services.temporal.get_workflow_handle(webhook_batch_workflow_id([first[0], late])))
    row = await sz.fetchrow("SELECT status FROM shopify_webhooks WHERE id = $1", late.webhook_id)
    assert row["status"] == "processed"


async def test_an_order_notice_with_nobody_to_tell_costs_no_activity(sz: ShopifyZora) -> None:
    """The customer has no open conversation: the batch drops the notice instead of running an activity
    that would find no thread."""
    refs = [
        WebhookRef(webhook_id=await sz.store_delivery(topic, sample_payload(topic, sz.shop)), shop=sz.shop, topic=topic)
        for topic in ("orders/create", "orders/paid")
    ]
    services = sz.zora.services
    starter = WorkflowStarter(services.pool, services.temporal, services.settings.temporal_task_queue)
    for ref in refs:
        assert starter.submit(ref)
    await starter.start()
    try:
        handle = services.temporal.get_workflow_handle(webhook_batch_workflow_id(refs), result_type=WebhookBatchOutcome)
        result = await _result(handle)
        activities = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            async for e in handle.fetch_history_events()
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
    finally:
        await starter.close()

    assert [o.status for o in result.outcomes.values()] == ["processed", "processed"]
    assert all(o.notice is None for o in result.outcomes.values())
    assert "shopify_post_order_notice" not in activities


async def test_one_bad_delivery_does_not_hold_up_the_rest_of_its_batch(sz: ShopifyZora) -> None:
    good = WebhookRef(
        webhook_id=await sz.store_delivery("customers/update", _customer(sz, 8800100, "Good")),
        shop=sz.shop,
        topic="customers/update",
    )
    # Its stored row says another topic: applying it fails for good (the inbox row does not match).
    bad_id = await sz.store_delivery("customers/update", _customer(sz, 8800101, "Bad"))
    bad = WebhookRef(webhook_id=bad_id, shop=sz.shop, topic="orders/create")
    services = sz.zora.services
    starter = WorkflowStarter(services.pool, services.temporal, services.settings.temporal_task_queue)
    assert starter.submit(bad) and starter.submit(good)
    await starter.start()
    try:
        handle = services.temporal.get_workflow_handle(webhook_batch_workflow_id([bad, good]))
        with pytest.raises(WorkflowFailureError):
            await _result(handle)
    finally:
        await starter.close()

    assert (await sz.fetchrow("SELECT status FROM shopify_webhooks WHERE id = $1", good.webhook_id))["status"] == (
        "processed"
    )
    assert (await sz.fetchrow("SELECT status FROM shopify_webhooks WHERE id = $1", bad_id))["status"] == "received"
